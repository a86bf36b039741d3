//! Three instances on one PostgreSQL database (`[cluster] enabled`), as operators run them.
//!
//! `cargo bench --bench cluster` (with `CTIBRIDGE_TEST_POSTGRES_URL` pointing at a PostgreSQL
//! server; `bash benches/run-cluster.sh` starts a throwaway one) starts three `ctibridge serve`
//! processes on a fresh database, logs BENCH_SOCKETS agents in and opens one websocket per
//! agent spread over the three instances, then injects BENCH_RATE events per second for
//! BENCH_SECS seconds (Pause / Unpause through the instances in turn) and reports the delay
//! from the core's emit (the event's `at`) to the client's receive: p50, p99, max. Then
//! `kill -9` of the instance running the core: the time until another one runs it (its
//! `/readyz` says `active`), and until every agent has a snapshot again (sockets on the
//! survivors are kept by their gateway; those on the dead instance reconnect to a survivor).
//! PostgreSQL `NOTIFY` traffic: one per takeover, none per event (every socket ends at the
//! core's event hub; gateways only forward).
//!
//! Without `--bench` (cargo test, nextest) a smoke run: 30 sockets, 100 events/s, 1 s.
//!
//! Measured on the 2-core development machine (three instances, PostgreSQL and the client all
//! on the same two cores), 10,000 sockets, 1,000 events/s for 10 s: event → socket p50 0.29 ms,
//! p99 1.83 ms, max 6.1 ms; takeover after `kill -9` 2.8 s (1.5 s of it the wait that keeps two
//! cores from acting at once), every socket's snapshot again after 8.2 s. (Before the gateways
//! limited their reads of the active core and timed out their connects: p99 4.90 ms, takeover
//! 4.8 s without the wait, every snapshot after 10.7 s.) With 2,000 sockets: p99 0.99 ms, takeover 0.37 s, every snapshot after 2.7 s. Runs
//! while other builds shared the cores were far worse (p99 105–193 ms, takeover 10–19 s):
//! the one core carries every socket, and on two cores the reconnection storm of the dead
//! instance's sockets delays the new core's start.

#[path = "support/mod.rs"]
mod support;

use support::{cheap_hash, env_or, free_port, login_all, percentile, spawn_server};

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use sqlx::Connection;
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::Message;

const INSTANCES: usize = 3;

fn main() {
    let Some(full) = support::full_run() else {
        return;
    };
    let (sockets, rate, secs) = if full {
        (
            env_or("BENCH_SOCKETS", 10_000) as usize,
            env_or("BENCH_RATE", 1_000),
            env_or("BENCH_SECS", 10),
        )
    } else {
        (30, 100, 1)
    };
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(run(sockets, rate, secs, full));
}

/// A fresh database on the PostgreSQL server of `CTIBRIDGE_TEST_POSTGRES_URL`.
async fn fresh_database() -> String {
    let admin = std::env::var("CTIBRIDGE_TEST_POSTGRES_URL").expect(
        "CTIBRIDGE_TEST_POSTGRES_URL is not set: run `bash benches/run-cluster.sh` (or the test suite, \
         `bash tests/run.sh`), which start a PostgreSQL server",
    );
    let name = format!("ctib_bench_{}", std::process::id());
    let mut connection = sqlx::PgConnection::connect(&admin).await.expect("PostgreSQL");
    // `name` is made of a fixed prefix and a number.
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name}")))
        .execute(&mut connection)
        .await
        .expect("drop an old database");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut connection)
        .await
        .expect("create the database");
    let (base, query) = admin.split_once('?').unwrap_or((admin.as_str(), ""));
    let server = base.rsplit_once('/').map_or(base, |(server, _)| server);
    if query.is_empty() {
        format!("{server}/{name}")
    } else {
        format!("{server}/{name}?{query}")
    }
}

fn write_config(
    dir: &std::path::Path,
    n: usize,
    port: u16,
    database: &str,
    agents: usize,
) -> std::path::PathBuf {
    let hash = cheap_hash("pw");
    let mut config = format!(
        "[server]\nbind = \"127.0.0.1:{port}\"\nadmin_token_hash = \"{hash}\"\n\
         login_failures_per_address = 1000000\nsession_ttl_secs = 86400\n\
         [database]\nurl = \"{database}\"\nmax_connections = 16\n[log]\nfilter = \"warn\"\n\
         [cluster]\nenabled = true\ncore_bind = \"127.0.0.1:0\"\ntakeover_poll_ms = 200\n[telephony]\n"
    );
    config.push_str(&support::agents_toml(agents, &hash));
    let path = dir.join(format!("instance{n}.toml"));
    std::fs::write(&path, config).expect("write the configuration");
    path
}

async fn role(client: &reqwest::Client, base: &str) -> Option<String> {
    let answer: Value = client
        .get(format!("{base}/readyz"))
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    answer["role"].as_str().map(str::to_owned)
}

async fn wait_role(client: &reqwest::Client, base: &str, want: &str) {
    let started = Instant::now();
    while role(client, base).await.as_deref() != Some(want) {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{base} never became {want}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn run(sockets: usize, rate: u64, secs: u64, full: bool) {
    ctibridge::install_tls_provider();
    let dir = tempfile::tempdir().expect("temporary directory");
    let database = fresh_database().await;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()
        .expect("HTTP client");
    let mut servers = Vec::new();
    let mut bases = Vec::new();
    for n in 0..INSTANCES {
        let port = free_port();
        let config = write_config(dir.path(), n, port, &database, sockets);
        servers.push(Some(spawn_server(&config, full)));
        let base = format!("http://127.0.0.1:{port}");
        // The first one takes the core; the others wait for it.
        wait_role(&client, &base, if n == 0 { "active" } else { "standby" }).await;
        bases.push(base);
    }

    // Log everyone in (through the instances in turn) and open each agent's socket on one of
    // them.
    let tokens = login_all(&client, &bases, sockets).await;
    let latencies = Arc::new(Mutex::new(Vec::<u64>::new()));
    let received = Arc::new(AtomicU64::new(0));
    let snapshots = Arc::new(AtomicU64::new(0));
    let gate = Arc::new(Semaphore::new(200));
    let mut opens = Vec::new();
    let t = Instant::now();
    for (i, token) in tokens.iter().enumerate() {
        let urls: Vec<String> = bases
            .iter()
            .map(|b| format!("{}/neoapi/ws", b.replacen("http", "ws", 1)))
            .collect();
        let (token, gate) = (token.clone(), gate.clone());
        let (latencies, received, snapshots) = (latencies.clone(), received.clone(), snapshots.clone());
        opens.push(tokio::spawn(async move {
            let permit = gate.acquire().await.unwrap();
            let mut which = i % INSTANCES;
            let mut first = true;
            let mut permit = Some(permit);
            let mut attempt = 0u32;
            // Reconnects (to the next instance) when the socket closes, as the softphone does:
            // after 0.5 s doubling to 15 s, ±10 % (so 10,000 browsers do not come back at once).
            let backoff = |attempt: u32| {
                let base = (500u64 << attempt.min(5)).min(15_000);
                let jitter = (i as u64 * 7919 + attempt as u64 * 104_729) % 200;
                Duration::from_millis(base * (900 + jitter) / 1000)
            };
            loop {
                if attempt > 0 {
                    tokio::time::sleep(backoff(attempt - 1)).await;
                }
                attempt += 1;
                let Ok((mut socket, _)) = tokio_tungstenite::connect_async(urls[which].as_str()).await else {
                    which = (which + 1) % INSTANCES;
                    continue;
                };
                if socket
                    .send(Message::text(json!({"type": "auth", "token": token}).to_string()))
                    .await
                    .is_err()
                {
                    continue;
                }
                match socket.next().await {
                    Some(Ok(Message::Text(text))) if text.contains("\"snapshot\"") => {
                        snapshots.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => {
                        which = (which + 1) % INSTANCES;
                        continue;
                    }
                }
                if first {
                    first = false;
                    drop(permit.take());
                }
                while let Some(Ok(frame)) = socket.next().await {
                    if let Message::Text(text) = frame {
                        // After a takeover a surviving gateway keeps the socket and passes the
                        // new core's snapshot on.
                        if text.contains("\"snapshot\"") {
                            snapshots.fetch_add(1, Ordering::Relaxed);
                            continue;
                        }
                        if let Some(micros) = support::delay_since_emit(&text) {
                            latencies.lock().unwrap().push(micros);
                            received.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                which = (which + 1) % INSTANCES;
                attempt = 1;
            }
        }));
    }
    while snapshots.load(Ordering::Relaxed) < sockets as u64 {
        assert!(t.elapsed() < Duration::from_secs(300), "sockets did not open");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!(
        "opened {sockets} websockets over {INSTANCES} instances in {:.1} s",
        t.elapsed().as_secs_f64()
    );

    // Events: Pause / Unpause of the agents in turn, through the instances in turn.
    let total = rate * secs;
    let mut ticks = tokio::time::interval(Duration::from_nanos(1_000_000_000 / rate.max(1)));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let gate = Arc::new(Semaphore::new(512));
    let failures = Arc::new(AtomicU64::new(0));
    let mut sent = Vec::new();
    for n in 0..total {
        ticks.tick().await;
        let agent = (n as usize) % sockets;
        let pause = ((n as usize) / sockets).is_multiple_of(2);
        let (method, body) = if pause {
            ("Pause", json!({"reason": {"kind": "system", "id": "break"}}))
        } else {
            ("Unpause", json!({}))
        };
        let (client, base, token, failures) = (
            client.clone(),
            bases[(n as usize) % INSTANCES].clone(),
            tokens[agent].clone(),
            failures.clone(),
        );
        let permit = gate.clone().acquire_owned().await.unwrap();
        sent.push(tokio::spawn(async move {
            let ok = client
                .post(format!("{base}/neoapi/{method}"))
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .map(|r| r.status().is_success())
                .unwrap_or(false);
            if !ok {
                failures.fetch_add(1, Ordering::Relaxed);
            }
            drop(permit);
        }));
    }
    for request in sent {
        request.await.unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while received.load(Ordering::Relaxed) < total && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut delays = std::mem::take(&mut *latencies.lock().unwrap());
    delays.sort_unstable();
    let ms = |us: u64| us as f64 / 1000.0;

    // kill -9 of the instance running the core; the survivors' sockets reconnect.
    let before = snapshots.load(Ordering::Relaxed);
    let killed = Instant::now();
    if let Some(mut active) = servers[0].take() {
        active.start_kill().expect("kill -9");
        let _ = active.wait().await;
    }
    let new_active = loop {
        let mut found = None;
        for base in &bases[1..] {
            if role(&client, base).await.as_deref() == Some("active") {
                found = Some(base.clone());
            }
        }
        if let Some(base) = found {
            break base;
        }
        assert!(killed.elapsed() < Duration::from_secs(60), "no takeover");
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let takeover = killed.elapsed();
    while snapshots.load(Ordering::Relaxed) < before + sockets as u64 {
        assert!(
            killed.elapsed() < Duration::from_secs(300),
            "sockets did not come back"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let resumed = killed.elapsed();

    println!("== cluster ({} mode) ==", if full { "bench" } else { "smoke" });
    println!("instances               {INSTANCES} on one PostgreSQL database, {sockets} sockets");
    println!(
        "event -> socket         p50 {:.2} ms   p99 {:.2} ms   max {:.2} ms ({} of {total} events received, {} refused)",
        ms(percentile(&delays, 50.0)),
        ms(percentile(&delays, 99.0)),
        ms(delays.last().copied().unwrap_or(0)),
        delays.len(),
        failures.load(Ordering::Relaxed)
    );
    println!(
        "takeover after kill -9  {} ms (the core now at {new_active}); every socket's snapshot again after {} ms",
        takeover.as_millis(),
        resumed.as_millis()
    );
    println!("NOTIFY per event        0 (one NOTIFY per takeover)");
    assert_eq!(failures.load(Ordering::Relaxed), 0, "every method answered 200");
    for opened in opens {
        opened.abort();
    }
}
