//! What several benchmarks share: libtest's listing (so nextest runs them as a smoke test),
//! a cheap password hash for big rosters, a free port, percentiles, an event's delay.

#![allow(dead_code)]

use argon2::password_hash::PasswordHasher;
use argon2::{Algorithm, Argon2, Params, Version};

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

/// A roster entry's password hash, cheap to verify (benchmarks log thousands of agents in).
pub fn cheap_hash(password: &str) -> String {
    let params = Params::new(8, 1, 1, None).expect("argon2 params");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password(password.as_bytes())
        .expect("hash")
        .to_string()
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
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
