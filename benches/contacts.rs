//! Inbound-call throughput of `CONTACTO_INSERT_SALESFORCE` (calls per second) on SQLite and,
//! when `CTIBRIDGE_TEST_POSTGRES_URL` names a server, on PostgreSQL.
//!
//!     cargo bench --bench contacts                 # SQLite only
//!     bash benches/run-contacts.sh                 # also starts a throwaway PostgreSQL
//!
//! Scenarios, each with `TASKS` concurrent callers on one pool of `POOL` connections:
//! - Clave_1 hit: DATA names an existing contact (one indexed SELECT);
//! - Clave_1 insert: DATA is new (SELECT, INSERT … ON CONFLICT DO NOTHING RETURNING, ANI parsed);
//! - phone insert / phone hit: a database keyed by the caller's number (ANI parsed every call);
//! - empty DATA: a new contact keyed by its own id (a two-statement transaction).
//!
//! It also times the same SELECT through the `Any` pool and through a plain `SqlitePool`, and
//! one E.164 normalisation, to show where the time goes.
//!
//! Environment: CONTACTS_BENCH_TASKS (32), CONTACTS_BENCH_POOL (8), CONTACTS_BENCH_CALLS
//! (200000 for hits, a fifth of it for inserts), CONTACTS_BENCH_PRELOAD (100000 contacts).

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ctibridge::contacts::import::{ImportOptions, import_csv};
use ctibridge::contacts::phone::normalize;
use ctibridge::contacts::{
    ContactDirectory, ContactResolver, InboundLookup, KeyKind, NewContactDatabase, Region,
};
use ctibridge::store::Store;
use sqlx::Connection;

const CLAVE_DB: i64 = 1;
const PHONE_DB: i64 = 2;

#[derive(Debug, Clone, Copy)]
struct Settings {
    tasks: usize,
    pool: u32,
    hits: usize,
    inserts: usize,
    preload: usize,
}

impl Settings {
    fn from_env() -> Settings {
        fn var(name: &str, default: usize) -> usize {
            std::env::var(name)
                .ok()
                .and_then(|v| v.parse().ok())
                .filter(|&v| v > 0)
                .unwrap_or(default)
        }
        let calls = var("CONTACTS_BENCH_CALLS", 200_000);
        Settings {
            tasks: var("CONTACTS_BENCH_TASKS", 32),
            pool: var("CONTACTS_BENCH_POOL", 8) as u32,
            hits: calls,
            inserts: (calls / 5).max(1),
            preload: var("CONTACTS_BENCH_PRELOAD", 100_000),
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    // Test runners list a target's tests first (nextest: `--list`); this target has none.
    if args.iter().any(|a| a == "--list") {
        return;
    }
    // `cargo bench` passes `--bench`; `cargo test --all-targets` runs the target without it:
    // then only check that every scenario works, with tiny sizes.
    let settings = if args.iter().any(|a| a == "--bench") {
        Settings::from_env()
    } else {
        Settings {
            tasks: 4,
            pool: 2,
            hits: 200,
            inserts: 40,
            preload: 100,
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(run(settings));
}

async fn run(settings: Settings) {
    println!(
        "contacts benchmark: {} CPU(s), {} concurrent callers, pool of {} connections, {} contacts preloaded",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        settings.tasks,
        settings.pool,
        settings.preload
    );
    phone_cost();

    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("bench.db");
    let sqlite_url = format!("sqlite://{}", path.display());
    bench_backend("SQLite", &sqlite_url, settings).await;
    driver_overhead(&sqlite_url, settings).await;

    match std::env::var("CTIBRIDGE_TEST_POSTGRES_URL") {
        Ok(admin_url) => {
            let (url, name) = create_pg_database(&admin_url).await;
            bench_backend("PostgreSQL", &url, settings).await;
            drop_pg_database(&admin_url, &name).await;
        }
        Err(_) => println!(
            "\nPostgreSQL: not measured (set CTIBRIDGE_TEST_POSTGRES_URL, or run benches/run-contacts.sh)"
        ),
    }
}

/// One normalisation, single-threaded: the CPU an insert or a phone-keyed call spends parsing.
fn phone_cost() {
    let region: Region = "AR".parse().unwrap();
    normalize("+5491155550000", region).unwrap(); // loads the metadata
    let n = 20_000;
    let start = Instant::now();
    for i in 0..n {
        normalize(&format!("011 4{:03}-{:04}", i % 1000, i % 10_000), region).unwrap();
    }
    let per_call = start.elapsed() / n;
    println!("E.164 normalisation: {per_call:?} per number (single thread)");
}

async fn bench_backend(label: &str, url: &str, s: Settings) {
    println!("\n{label}");
    let store = Store::connect_and_migrate(url, s.pool).await.expect("store");
    let directory = Arc::new(ContactDirectory::new(store.clone(), "AR".parse().unwrap()));
    for (id, kind) in [(CLAVE_DB, KeyKind::Clave1), (PHONE_DB, KeyKind::Phone)] {
        directory
            .create_database(&NewContactDatabase {
                id,
                name: format!("bench {kind}"),
                key_kind: kind,
                crm_id: 1,
            })
            .await
            .expect("create database");
    }

    // Preload with the importer (also its throughput).
    let mut csv = String::from("clave_1,phone,name\n");
    for i in 0..s.preload {
        csv.push_str(&format!("K{i:08},+549115{i:07},Contact {i}\n"));
    }
    let start = Instant::now();
    let report = import_csv(
        &directory,
        CLAVE_DB,
        csv.as_bytes(),
        ImportOptions::default(),
        &indicatif::ProgressBar::hidden(),
    )
    .await
    .expect("import");
    assert_eq!(
        report.imported as usize,
        s.preload,
        "{:?}",
        report.rejected.first()
    );
    let elapsed = start.elapsed();
    println!(
        "  {:<34} {:>9} rows  {:>10.0} rows/s",
        "CSV import (batches of 500)",
        s.preload,
        s.preload as f64 / elapsed.as_secs_f64()
    );
    println!(
        "  {:<34} {:>9} {:>15} {:>9} {:>9}",
        "scenario", "calls", "calls/s", "p50 µs", "p99 µs"
    );

    let preload = s.preload;
    measure(&directory, s, "Clave_1 hit", s.hits, move |i| InboundLookup {
        data: Some(format!("K{:08}", (i * 7919) % preload)),
        ani: Some("+5491155550000".into()),
        database_id: CLAVE_DB,
    })
    .await;
    measure(&directory, s, "Clave_1 insert (new DATA)", s.inserts, |i| {
        InboundLookup {
            data: Some(format!("N{i:08}")),
            ani: Some(format!("011 4{:03}-{:04}", i / 10_000 % 1000, i % 10_000)),
            database_id: CLAVE_DB,
        }
    })
    .await;
    let phone = |i: usize| format!("+54 9 11 6{:03}-{:04}", i / 10_000 % 1000, i % 10_000);
    measure(&directory, s, "phone insert (new ANI)", s.inserts, move |i| {
        InboundLookup {
            data: None,
            ani: Some(phone(i)),
            database_id: PHONE_DB,
        }
    })
    .await;
    let inserted = s.inserts;
    measure(&directory, s, "phone hit (ANI parsed)", s.hits, move |i| {
        InboundLookup {
            data: None,
            ani: Some(phone((i * 7919) % inserted)),
            database_id: PHONE_DB,
        }
    })
    .await;
    measure(&directory, s, "empty DATA (id- contact)", s.inserts, |_| {
        InboundLookup {
            data: None,
            ani: Some("anonymous".into()),
            database_id: CLAVE_DB,
        }
    })
    .await;

    let expected = (s.preload + 2 * s.inserts) as i64;
    assert_eq!(directory.count_contacts(CLAVE_DB).await.unwrap(), expected);
    assert_eq!(
        directory.count_contacts(PHONE_DB).await.unwrap(),
        s.inserts as i64
    );
    store.close().await;
}

/// Runs `calls` lookups from `s.tasks` concurrent tasks; prints calls/s and latency.
async fn measure(
    directory: &Arc<ContactDirectory>,
    s: Settings,
    label: &str,
    calls: usize,
    make: impl Fn(usize) -> InboundLookup + Send + Sync + 'static,
) {
    let make = Arc::new(make);
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let tasks: Vec<_> = (0..s.tasks)
        .map(|_| {
            let directory = Arc::clone(directory);
            let make = Arc::clone(&make);
            let next = Arc::clone(&next);
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= calls {
                        break latencies;
                    }
                    let lookup = make(i);
                    let t = Instant::now();
                    directory
                        .contacto_insert_salesforce(&lookup)
                        .await
                        .expect("lookup");
                    latencies.push(t.elapsed());
                }
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(calls);
    for task in tasks {
        latencies.extend(task.await.expect("task"));
    }
    report(label, calls, start.elapsed(), &mut latencies);
}

fn report(label: &str, calls: usize, elapsed: Duration, latencies: &mut [Duration]) {
    latencies.sort_unstable();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    println!(
        "  {:<34} {:>9} {:>15.0} {:>9} {:>9}",
        label,
        calls,
        calls as f64 / elapsed.as_secs_f64(),
        pct(0.50).as_micros(),
        pct(0.99).as_micros()
    );
}

/// The hit path's SELECT alone, through the `Any` pool the store uses and through a plain
/// `SqlitePool` with the same settings: the price of one query text for both backends.
async fn driver_overhead(url: &str, s: Settings) {
    use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

    println!(
        "\nSQLite driver overhead: the hit SELECT alone ({} calls)",
        s.hits
    );
    let store = Store::connect(url, s.pool).await.expect("store");
    let any = store.pool().clone();
    let preload = s.preload;
    let key = move |i: usize| format!("K{:08}", (i * 7919) % preload);
    let elapsed = run_raw(s, move |i| {
        let any = any.clone();
        let key = key(i);
        async move {
            sqlx::query_scalar::<_, i64>("SELECT id FROM contacts WHERE database_id = $1 AND clave_1 = $2")
                .bind(CLAVE_DB)
                .bind(key)
                .fetch_optional(&any)
                .await
                .unwrap()
                .expect("found");
        }
    })
    .await;
    println!(
        "  {:<34} {:>15.0} calls/s",
        "sqlx Any pool",
        s.hits as f64 / elapsed.as_secs_f64()
    );

    // Inserts alone: SQLite's ceiling for this table, and what the in-process writer queue of
    // ContactDirectory changes compared with waiting in SQLite's busy handler.
    let inserts = s.inserts;
    for (label, queue) in [
        ("INSERT alone, busy handler", None),
        (
            "INSERT alone, one writer at a time",
            Some(Arc::new(tokio::sync::Mutex::new(()))),
        ),
    ] {
        let any = store.pool().clone();
        let prefix = if queue.is_some() { "Q" } else { "R" };
        let s2 = Settings { hits: inserts, ..s };
        let elapsed = run_raw(s2, move |i| {
            let any = any.clone();
            let queue = queue.clone();
            async move {
                let _turn = match &queue {
                    Some(q) => Some(q.lock().await),
                    None => None,
                };
                sqlx::query(
                    "INSERT INTO contacts (database_id, clave_1, phone, created_at_ms, updated_at_ms) \
                     VALUES ($1, $2, NULL, 0, 0) ON CONFLICT (database_id, clave_1) DO NOTHING",
                )
                .bind(CLAVE_DB)
                .bind(format!("{prefix}{i:08}"))
                .execute(&any)
                .await
                .unwrap();
            }
        })
        .await;
        println!(
            "  {:<34} {:>15.0} calls/s",
            label,
            inserts as f64 / elapsed.as_secs_f64()
        );
    }
    store.close().await;

    let options = SqliteConnectOptions::from_str(url)
        .unwrap()
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal);
    let sqlite = SqlitePoolOptions::new()
        .max_connections(s.pool)
        .connect_with(options)
        .await
        .unwrap();
    let pool = sqlite.clone();
    let elapsed = run_raw(s, move |i| {
        let pool = pool.clone();
        let key = key(i);
        async move {
            sqlx::query_scalar::<_, i64>("SELECT id FROM contacts WHERE database_id = $1 AND clave_1 = $2")
                .bind(CLAVE_DB)
                .bind(key)
                .fetch_optional(&pool)
                .await
                .unwrap()
                .expect("found");
        }
    })
    .await;
    println!(
        "  {:<34} {:>15.0} calls/s",
        "sqlx SqlitePool (no Any)",
        s.hits as f64 / elapsed.as_secs_f64()
    );
    sqlite.close().await;
}

async fn run_raw<F, Fut>(s: Settings, call: F) -> Duration
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let call = Arc::new(call);
    let next = Arc::new(AtomicUsize::new(0));
    let calls = s.hits;
    let start = Instant::now();
    let tasks: Vec<_> = (0..s.tasks)
        .map(|_| {
            let call = Arc::clone(&call);
            let next = Arc::clone(&next);
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= calls {
                        break;
                    }
                    call(i).await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("task");
    }
    start.elapsed()
}

async fn create_pg_database(admin_url: &str) -> (String, String) {
    let name = format!("ctib_bench_{}", std::process::id());
    let mut conn = sqlx::PgConnection::connect(admin_url)
        .await
        .expect("connect to PostgreSQL");
    // `name` is built from a fixed prefix and a number.
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name}")))
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .expect("create the benchmark database");
    conn.close().await.ok();
    let mut url = url::Url::parse(admin_url).expect("PostgreSQL URL");
    url.set_path(&format!("/{name}"));
    (url.to_string(), name)
}

async fn drop_pg_database(admin_url: &str, name: &str) {
    if let Ok(mut conn) = sqlx::PgConnection::connect(admin_url).await {
        let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
        )))
        .execute(&mut conn)
        .await;
        conn.close().await.ok();
    }
}
