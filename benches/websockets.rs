//! Load generator for the agent websocket and the polling alternative.
//!
//! `cargo bench --bench websockets` starts the real server (`ctibridge serve`, a child process
//! with a fresh SQLite database and a roster of BENCH_SOCKETS agents), logs every agent in,
//! opens one authenticated websocket per agent, measures the server's resident memory before
//! and after (from `/proc/<pid>/status`), then injects events at BENCH_RATE per second for
//! BENCH_SECS seconds (Pause / Unpause of agents in turn, one `position` event each) and
//! reports the delay from the engine's emit (the event's `at`) to the client's receive: p50,
//! p99, max. Last, the polling alternative: how many `Position` requests per second the
//! server answers with BENCH_POLLERS concurrent clients.
//!
//! Defaults: 10,000 sockets, 1,000 events/s, 20 s, 64 pollers. Needs two file descriptors per
//! socket in all (one in each process): `ulimit -n` of at least BENCH_SOCKETS + 1,000.
//!
//! Last, a restart: BENCH_RESTART_AGENTS agents (1,000) logged in with a websocket each and
//! BENCH_RESTART_CALLS calls (200) connected, `kill -9`, the server started again on the same
//! database, every agent reconnecting at once: the time from the kill to each snapshot, and
//! whether the agents whose call died are in wrap-up.
//!
//! Run without `--bench` (as `cargo test` and nextest do) it is a smoke test: 20 sockets,
//! 1 second, a restart with 20 agents and 5 calls.
//!
//! Measured on the 2-core development machine (client and server on the same cores), 10,000
//! sockets, 1,000 events/s for 20 s, every Pause / Unpause committed to SQLite before its
//! answer: emit → receive p50 0.15 ms, p99 0.66 ms, max 4.5 ms; 20.6 KiB of server RSS per idle
//! socket; 22,974 `Position` requests/s with 64 pollers. Restart: every one of 1,000 agents had
//! its snapshot 0.14 s after the `kill -9` (p50 0.11 s), the 200 whose call died in wrap-up.

#[path = "support/mod.rs"]
mod support;

use support::{
    cheap_hash, env_or, free_port, login_all, open_socket, percentile, spawn_server, wait_healthy,
};

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::Message;

struct Settings {
    sockets: usize,
    rate: u64,
    secs: u64,
    pollers: usize,
    poll_secs: u64,
}

fn main() {
    let Some(full) = support::full_run() else {
        return;
    };
    let settings = if full {
        Settings {
            sockets: env_or("BENCH_SOCKETS", 10_000) as usize,
            rate: env_or("BENCH_RATE", 1_000),
            secs: env_or("BENCH_SECS", 20),
            pollers: env_or("BENCH_POLLERS", 64) as usize,
            poll_secs: env_or("BENCH_POLL_SECS", 10),
        }
    } else {
        Settings {
            sockets: 20,
            rate: 100,
            secs: 1,
            pollers: 4,
            poll_secs: 1,
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(run(settings, full));
    let (agents, calls) = if full {
        (
            env_or("BENCH_RESTART_AGENTS", 1_000) as usize,
            env_or("BENCH_RESTART_CALLS", 200) as usize,
        )
    } else {
        (20, 5)
    };
    runtime.block_on(restart(agents, calls, full));
}

/// `kill -9` with `agents` logged in (one websocket each) and `calls` calls connected, then a
/// restart on the same database: how long until every agent's websocket has its snapshot
/// again, and whether the snapshots are right (the agents whose call died wrap it up).
async fn restart(agents: usize, calls: usize, full: bool) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let port = free_port();
    let config_path = write_config(dir.path(), agents, port);
    let mut server = spawn_server(&config_path, full);
    let base = format!("http://127.0.0.1:{port}");
    let ws_url = format!("ws://127.0.0.1:{port}/neoapi/ws");
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()
        .expect("HTTP client");
    wait_healthy(&client, &base).await;
    let tokens = login_all(&client, std::slice::from_ref(&base), agents).await;
    let post = |path: String, token: String, body: Value| {
        let client = client.clone();
        async move {
            let answer = client
                .post(path)
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .expect("request sent");
            assert!(
                answer.status().is_success(),
                "{}",
                answer.text().await.unwrap_or_default()
            );
        }
    };
    // `calls` agents join the inbound campaign one at a time; each gets a call and answers.
    for (i, token) in tokens.iter().take(calls).enumerate() {
        post(
            format!("{base}/neoapi/Login_Campaign"),
            token.clone(),
            json!({"campaign": 97}),
        )
        .await;
        post(
            format!("{base}/sim/inbound"),
            "pw".into(),
            json!({"ani": format!("11{:08}", i), "queue": "salesforce"}),
        )
        .await;
        post(format!("{base}/sim/agents/a{i}/answer"), "pw".into(), json!({})).await;
    }
    let mut sockets = Vec::with_capacity(agents);
    for token in &tokens {
        sockets.push(
            snapshot_of(&ws_url, token)
                .await
                .expect("a snapshot before the kill"),
        );
    }
    let in_call = sockets.iter().filter(|s| s["state"] == "inCall").count();
    assert_eq!(in_call, calls, "calls up before the kill");

    server.start_kill().expect("kill -9");
    server.wait().await.expect("the server exits");
    let killed = Instant::now();
    let _server = spawn_server(&config_path, full);
    // Every agent reconnects at once, retrying until the server answers.
    let gate = Arc::new(Semaphore::new(200));
    let mut reconnects = Vec::with_capacity(agents);
    for token in tokens {
        let (url, gate) = (ws_url.clone(), gate.clone());
        reconnects.push(tokio::spawn(async move {
            let _permit = gate.acquire().await.unwrap();
            loop {
                if let Some(snapshot) = snapshot_of(&url, &token).await {
                    return (killed.elapsed(), snapshot);
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }));
    }
    let mut times = Vec::with_capacity(agents);
    let mut wrapping_up = 0;
    for reconnect in reconnects {
        let (elapsed, snapshot) = reconnect.await.unwrap();
        assert_eq!(snapshot["type"], "snapshot", "{snapshot}");
        assert_ne!(snapshot["state"], "loggedOut", "still logged in: {snapshot}");
        if snapshot["state"] == "wrapUp" {
            wrapping_up += 1;
        }
        times.push(elapsed.as_micros() as u64);
    }
    times.sort_unstable();
    println!();
    println!("== restart after kill -9 ==");
    println!("agents logged in        {agents} (one websocket each), {calls} calls connected");
    println!(
        "kill -9 -> snapshot     first {:.2} s   p50 {:.2} s   last {:.2} s",
        times[0] as f64 / 1e6,
        percentile(&times, 50.0) as f64 / 1e6,
        times[times.len() - 1] as f64 / 1e6
    );
    println!("in wrap-up after it     {wrapping_up} (the agents whose call the crash ended)");
    assert_eq!(wrapping_up, calls, "every agent whose call died wraps it up");
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// A configuration with `agents` agents (`a0`, `a1`, … on devices 10000, 10001, …, password
/// `pw`; the admin token is `pw` too) and a SQLite database in `dir`.
fn write_config(dir: &std::path::Path, agents: usize, port: u16) -> std::path::PathBuf {
    let hash = cheap_hash("pw");
    let mut config = format!(
        "[server]\nbind = \"127.0.0.1:{port}\"\nadmin_token_hash = \"{hash}\"\nsimulation = true\n\
         login_failures_per_address = 1000000\nsession_ttl_secs = 86400\n\
         [database]\nurl = \"sqlite://{}\"\n[log]\nfilter = \"warn\"\n[telephony]\n",
        dir.join("bench.db").display()
    );
    config.push_str(&support::agents_toml(agents, &hash));
    let config_path = dir.join("bench.toml");
    std::fs::write(&config_path, config).expect("write the configuration");
    config_path
}

/// Opens an agent's websocket and reads its snapshot; `None` while the server is not there.
async fn snapshot_of(url: &str, token: &str) -> Option<Value> {
    let (mut socket, _) = tokio_tungstenite::connect_async(url).await.ok()?;
    socket
        .send(Message::text(json!({"type": "auth", "token": token}).to_string()))
        .await
        .ok()?;
    let frame = socket.next().await?.ok()?;
    serde_json::from_str(frame.to_text().ok()?).ok()
}

async fn run(s: Settings, full: bool) {
    ctibridge::install_tls_provider();
    let dir = tempfile::tempdir().expect("temporary directory");
    let port = free_port();
    let config_path = write_config(dir.path(), s.sockets, port);
    let mut server = spawn_server(&config_path, full);
    let pid = server.id().expect("server pid");
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()
        .expect("HTTP client");
    wait_healthy(&client, &base).await;

    // Log everyone in.
    let t = Instant::now();
    let tokens = login_all(&client, std::slice::from_ref(&base), s.sockets).await;
    println!(
        "logged in {} agents in {:.1} s",
        s.sockets,
        t.elapsed().as_secs_f64()
    );

    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_before = rss_kib(pid);

    // One websocket per agent; each reader records emit→receive delays.
    let latencies = Arc::new(Mutex::new(Vec::<u64>::with_capacity(
        (s.rate * s.secs) as usize + 1024,
    )));
    let received = Arc::new(AtomicU64::new(0));
    let t = Instant::now();
    let gate = Arc::new(Semaphore::new(200));
    let mut opens = Vec::with_capacity(s.sockets);
    let ws_url = format!("ws://127.0.0.1:{port}/neoapi/ws");
    for token in &tokens {
        let (token, url, gate) = (token.clone(), ws_url.clone(), gate.clone());
        let (latencies, received) = (latencies.clone(), received.clone());
        opens.push(tokio::spawn(async move {
            let permit = gate.acquire().await.unwrap();
            let mut socket = open_socket(&url, &token).await;
            drop(permit);
            tokio::spawn(async move {
                while let Some(Ok(frame)) = socket.next().await {
                    if let Message::Text(text) = frame
                        && let Some(micros) = support::delay_since_emit(&text)
                    {
                        latencies.lock().unwrap().push(micros);
                        received.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }));
    }
    for open in opens {
        open.await.unwrap();
    }
    println!(
        "opened {} websockets in {:.1} s",
        s.sockets,
        t.elapsed().as_secs_f64()
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_idle = rss_kib(pid);
    let per_socket = (rss_idle.saturating_sub(rss_before)) as f64 * 1024.0 / s.sockets as f64;

    // Inject events at the rate: Pause / Unpause of the agents in turn.
    let total = s.rate * s.secs;
    let period = Duration::from_nanos(1_000_000_000 / s.rate.max(1));
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let gate = Arc::new(Semaphore::new(512));
    let failures = Arc::new(AtomicU64::new(0));
    let t = Instant::now();
    let mut sent = Vec::with_capacity(total as usize);
    for n in 0..total {
        ticks.tick().await;
        let agent = (n as usize) % s.sockets;
        let round = (n as usize) / s.sockets;
        let method = if round.is_multiple_of(2) {
            "Pause"
        } else {
            "Unpause"
        };
        let body = if method == "Pause" {
            json!({"reason": {"kind": "system", "id": "break"}})
        } else {
            json!({})
        };
        let (client, base, token, gate, failures) = (
            client.clone(),
            base.clone(),
            tokens[agent].clone(),
            gate.clone(),
            failures.clone(),
        );
        let permit = gate.acquire_owned().await.unwrap();
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
    let inject_secs = t.elapsed().as_secs_f64();
    // Let the last events arrive.
    let wait = Instant::now();
    while received.load(Ordering::Relaxed) < total - failures.load(Ordering::Relaxed)
        && wait.elapsed() < Duration::from_secs(10)
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let rss_loaded = rss_kib(pid);
    let mut samples = latencies.lock().unwrap().clone();
    samples.sort_unstable();
    let ms = |us: u64| us as f64 / 1000.0;

    // The polling alternative.
    let deadline = Instant::now() + Duration::from_secs(s.poll_secs);
    let polled = Arc::new(AtomicU64::new(0));
    let mut pollers = Vec::new();
    for token in tokens.iter().take(s.pollers) {
        let (client, base, token, polled) = (client.clone(), base.clone(), token.clone(), polled.clone());
        pollers.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                let response = client
                    .post(format!("{base}/neoapi/Position"))
                    .bearer_auth(&token)
                    .send()
                    .await;
                if let Ok(r) = response
                    && r.status().is_success()
                    && r.bytes().await.is_ok()
                {
                    polled.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for poller in pollers {
        poller.await.unwrap();
    }
    let polls_per_sec = polled.load(Ordering::Relaxed) as f64 / s.poll_secs as f64;

    println!();
    println!(
        "== ctibridge websocket load ({} mode) ==",
        if full { "bench" } else { "smoke" }
    );
    println!("sockets                 {}", s.sockets);
    println!(
        "events injected         {total} in {inject_secs:.1} s ({:.0}/s), {} refused",
        total as f64 / inject_secs,
        failures.load(Ordering::Relaxed)
    );
    println!("events received         {}", received.load(Ordering::Relaxed));
    println!(
        "emit -> receive         p50 {:.2} ms   p99 {:.2} ms   max {:.2} ms",
        ms(percentile(&samples, 50.0)),
        ms(percentile(&samples, 99.0)),
        ms(samples.last().copied().unwrap_or(0))
    );
    println!(
        "server RSS              {} KiB before sockets, {} KiB with idle sockets, {} KiB after the load",
        rss_before, rss_idle, rss_loaded
    );
    println!("RSS per idle socket     {:.1} KiB", per_socket / 1024.0);
    println!(
        "Position polling        {polls_per_sec:.0} requests/s ({} concurrent clients)",
        s.pollers
    );
    let _ = server.start_kill();
    let _ = server.wait().await;
    assert_eq!(
        received.load(Ordering::Relaxed),
        total - failures.load(Ordering::Relaxed),
        "every accepted event reached its socket"
    );
    assert_eq!(
        failures.load(Ordering::Relaxed),
        0,
        "every injected request was accepted"
    );
}
