//! A small in-process limiter of failed attempts per key (a user name, a client address):
//! at most `max` failures within a sliding `window`; more are refused until the oldest one
//! leaves the window. Each instance counts its own failures.
//!
//! An attempt counts as a failure from the moment it starts ([`FailureLimiter::begin`]) and is
//! forgiven only once it succeeded ([`FailureLimiter::forgive`]): attempts made in parallel
//! cannot all pass the check before any of them is counted.
//!
//! Memory is bounded: keys whose failures all left the window are dropped when the table grows.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Keys kept before stale ones are swept.
const SWEEP_ABOVE: usize = 10_000;

pub struct FailureLimiter {
    max: u32,
    window: Duration,
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl FailureLimiter {
    pub fn new(max: u32, window: Duration) -> Self {
        FailureLimiter {
            max,
            window,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// Starts an attempt of `key`: refused (`Err(retry_after)`) when `key` has used up its
    /// failures, else counted as a failure at once, in the same step as the check.
    pub fn begin(&self, key: &str) -> Result<(), Duration> {
        self.begin_at(key, Instant::now())
    }

    /// Takes back the last attempt of `key` (it succeeded, or was never judged).
    pub fn forgive(&self, key: &str) {
        let mut table = self.lock();
        if let Some(times) = table.get_mut(key) {
            times.pop_back();
            if times.is_empty() {
                table.remove(key);
            }
        }
    }

    /// Forgets `key`'s failures (a successful login).
    pub fn reset(&self, key: &str) {
        self.lock().remove(key);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, VecDeque<Instant>>> {
        self.failures.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn begin_at(&self, key: &str, now: Instant) -> Result<(), Duration> {
        let mut table = self.lock();
        if let Some(times) = table.get_mut(key) {
            prune(times, now, self.window);
            if times.len() >= self.max as usize {
                let oldest = times.front().copied().unwrap_or(now);
                return Err((oldest + self.window)
                    .saturating_duration_since(now)
                    .max(Duration::from_secs(1)));
            }
        }
        self.push(&mut table, key, now);
        Ok(())
    }

    fn push(&self, table: &mut HashMap<String, VecDeque<Instant>>, key: &str, now: Instant) {
        if table.len() >= SWEEP_ABOVE && !table.contains_key(key) {
            let window = self.window;
            table.retain(|_, times| {
                prune(times, now, window);
                !times.is_empty()
            });
        }
        let times = table.entry(key.to_owned()).or_default();
        prune(times, now, self.window);
        times.push_back(now);
        // Never keep more than the limit needs.
        while times.len() > self.max.max(1) as usize {
            times.pop_front();
        }
    }
}

fn prune(times: &mut VecDeque<Instant>, now: Instant, window: Duration) {
    while times
        .front()
        .is_some_and(|t| now.saturating_duration_since(*t) >= window)
    {
        times.pop_front();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_after_max_failures_until_the_window_passes() {
        let limiter = FailureLimiter::new(2, Duration::from_secs(60));
        let t0 = Instant::now();
        assert!(limiter.begin_at("ana", t0).is_ok());
        assert!(limiter.begin_at("ana", t0 + Duration::from_secs(10)).is_ok());
        let retry = limiter.begin_at("ana", t0 + Duration::from_secs(20)).unwrap_err();
        assert_eq!(retry, Duration::from_secs(40));
        assert!(limiter.begin_at("bob", t0).is_ok(), "other keys are unaffected");
        assert!(limiter.begin_at("ana", t0 + Duration::from_secs(60)).is_ok());
    }

    #[test]
    fn an_attempt_counts_from_its_start_until_forgiven() {
        let limiter = FailureLimiter::new(2, Duration::from_secs(60));
        let t0 = Instant::now();
        assert!(limiter.begin_at("ana", t0).is_ok());
        assert!(limiter.begin_at("ana", t0).is_ok());
        assert!(
            limiter.begin_at("ana", t0).is_err(),
            "two attempts in flight use the limit"
        );
        limiter.forgive("ana");
        assert!(limiter.begin_at("ana", t0).is_ok());
        assert!(limiter.begin_at("ana", t0 + Duration::from_secs(60)).is_ok());
    }

    #[test]
    fn a_success_resets_the_key() {
        let limiter = FailureLimiter::new(1, Duration::from_secs(60));
        assert!(limiter.begin("ana").is_ok());
        assert!(limiter.begin("ana").is_err());
        limiter.reset("ana");
        assert!(limiter.begin("ana").is_ok());
    }
}
