//! What several benchmarks share: libtest's listing (so nextest runs them as a smoke test),
//! settings from the environment, a cheap password hash and agents for big rosters, a free
//! port, the server as a child process, its agents' logins and websockets, percentiles, an
//! event's delay.

#![allow(dead_code)]

use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use argon2::password_hash::PasswordHasher;
use argon2::{Algorithm, Argon2, Params, Version};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::Message;

/// Speaks just enough of libtest's protocol for nextest: `--list` names one test, `smoke`.
/// Returns true when the run was a listing (the benchmark then stops).
pub fn listed(args: &[String]) -> bool {
    if !args.iter().any(|a| a == "--list") {
        return false;
    }
    if !args.iter().any(|a| a == "--ignored") {
        println!("smoke: test");
    }
    true
}

/// How this run goes: `None` when nextest only lists the tests (nothing to run), else
/// whether it is the full benchmark (`--bench`) rather than the smoke test.
pub fn full_run() -> Option<bool> {
    let args: Vec<String> = std::env::args().collect();
    if listed(&args) {
        return None;
    }
    Some(args.iter().any(|a| a == "--bench"))
}

/// The number in the environment variable `name`, else `default`.
pub fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A roster entry's password hash, cheap to verify (benchmarks log thousands of agents in).
pub fn cheap_hash(password: &str) -> String {
    let params = Params::new(8, 1, 1, None).expect("argon2 params");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password(password.as_bytes())
        .expect("hash")
        .to_string()
}

/// The roster's entries for agents `a0`…`a{n-1}` on devices 10000…, password hash `hash`.
pub fn agents_toml(n: usize, hash: &str) -> String {
    let mut roster = String::new();
    for i in 0..n {
        roster.push_str(&format!(
            "[[telephony.agents]]\nuser = \"a{i}\"\ndevice = \"{}\"\npassword_hash = \"{hash}\"\n",
            10_000 + i
        ));
    }
    roster
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// `ctibridge --config <config_path> serve` as a child process, killed when dropped; its log
/// shown only in a full run.
pub fn spawn_server(config_path: &std::path::Path, full: bool) -> tokio::process::Child {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_ctibridge"))
        .arg("--config")
        .arg(config_path)
        .arg("serve")
        .stdout(Stdio::null())
        .stderr(if full { Stdio::inherit() } else { Stdio::null() })
        .kill_on_drop(true)
        .spawn()
        .expect("start the server")
}

/// Waits (a minute at the most) until the server at `base` answers.
pub async fn wait_healthy(client: &reqwest::Client, base: &str) {
    let started = Instant::now();
    while client.get(format!("{base}/healthz")).send().await.is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the server did not start"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Logs `user` in on `device` (password `pw`); returns the session's token.
pub async fn login(client: &reqwest::Client, base: &str, user: &str, device: usize) -> String {
    let answer: Value = client
        .post(format!("{base}/neoapi/Login"))
        .json(&json!({"device": device.to_string(), "user": user, "password": "pw"}))
        .send()
        .await
        .expect("login sent")
        .json()
        .await
        .expect("login answer");
    answer["token"].as_str().expect("a token").to_owned()
}

/// Logs agents `a0`…`a{n-1}` in (devices 10000…, 64 at a time), agent `i` through
/// `bases[i % bases.len()]`; returns their tokens in that order.
pub async fn login_all(client: &reqwest::Client, bases: &[String], n: usize) -> Vec<String> {
    let gate = Arc::new(Semaphore::new(64));
    let mut logins = Vec::with_capacity(n);
    for i in 0..n {
        let (client, base, gate) = (client.clone(), bases[i % bases.len()].clone(), gate.clone());
        logins.push(tokio::spawn(async move {
            let _permit = gate.acquire().await.unwrap();
            login(&client, &base, &format!("a{i}"), 10_000 + i).await
        }));
    }
    let mut tokens = Vec::with_capacity(n);
    for login in logins {
        tokens.push(login.await.unwrap());
    }
    tokens
}

pub type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A websocket at `url`, authenticated with `token`, its snapshot read.
pub async fn open_socket(url: &str, token: &str) -> Socket {
    let (mut socket, _) = tokio_tungstenite::connect_async(url).await.expect("websocket");
    socket
        .send(Message::text(json!({"type": "auth", "token": token}).to_string()))
        .await
        .unwrap();
    let snapshot = socket.next().await.expect("snapshot").expect("snapshot frame");
    assert!(snapshot.to_text().unwrap().contains("\"snapshot\""));
    socket
}

/// The `p`-th percentile (0–100) of sorted samples; 0 for none.
pub fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * (sorted.len() as f64 - 1.0)).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// Microseconds from an event frame's `at` (when the core emitted it) to now; `None` for a
/// frame that is not a timed event.
pub fn delay_since_emit(text: &str) -> Option<u64> {
    let now = chrono::Utc::now();
    let event: serde_json::Value = serde_json::from_str(text).ok()?;
    let at = chrono::DateTime::parse_from_rfc3339(event["at"].as_str()?).ok()?;
    Some(
        (now - at.with_timezone(&chrono::Utc))
            .num_microseconds()
            .unwrap_or(i64::MAX)
            .max(0) as u64,
    )
}
