//! Password and token checks (argon2). One check takes about 19 MiB and tens of milliseconds
//! of a core, so the process runs at most one per core at a time and lets a bounded number wait
//! for their turn; past that a check is refused at once with [`Busy`] (the API answers 503 with
//! `Retry-After`), so a burst of logins or token guesses cannot take the memory or make real
//! logins wait for seconds.
//!
//! The bound is process-wide: logins, the admin and operator tokens and the intake token share
//! it. [`configure`] sets how many may wait (`server.max_waiting_password_checks`); the first
//! call wins.

use std::sync::{Arc, OnceLock};

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Semaphore;

/// Checks allowed to wait for a core when nothing is configured.
pub const DEFAULT_MAX_WAITING: usize = 64;

/// Too many checks are running and waiting: retry in a moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too many password checks at once; retry in a moment")]
pub struct Busy;

struct Gate {
    /// Checks admitted: running plus waiting.
    admitted: Arc<Semaphore>,
    /// Checks running: one per core.
    running: Arc<Semaphore>,
}

static GATE: OnceLock<Gate> = OnceLock::new();

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn gate_with(max_waiting: usize) -> Gate {
    let cores = cores();
    Gate {
        admitted: Arc::new(Semaphore::new(cores + max_waiting)),
        running: Arc::new(Semaphore::new(cores)),
    }
}

/// Sets how many checks may wait for a core. Only the first call (or first check) counts.
pub fn configure(max_waiting: usize) {
    let _ = GATE.set(gate_with(max_waiting));
}

fn gate() -> &'static Gate {
    GATE.get_or_init(|| gate_with(DEFAULT_MAX_WAITING))
}

/// Verifies `secret` against a PHC string on a blocking thread, within the process-wide bound.
/// A malformed PHC string verifies nothing.
pub async fn verify(secret: SecretString, phc: String) -> Result<bool, Busy> {
    let gate = gate();
    let _admitted = gate.admitted.clone().try_acquire_owned().map_err(|_| Busy)?;
    let _running = gate.running.clone().acquire_owned().await.map_err(|_| Busy)?;
    tokio::task::spawn_blocking(move || verify_now(secret.expose_secret(), &phc))
        .await
        .map_err(|_| Busy)
}

/// Verifies a secret against a PHC string, on this thread (CPU-heavy).
pub fn verify_now(secret: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(hash) => Argon2::default()
            .verify_password(secret.as_bytes(), &hash)
            .is_ok(),
        Err(_) => false,
    }
}

/// A hash of a random secret with the same algorithm and parameters as `like` (Argon2's
/// defaults when `like` is not a PHC string): verifying anything against it costs what a
/// real check costs and never succeeds. Unknown users are checked against it, so they cannot
/// be told from known ones by the time the answer takes. CPU-heavy.
pub fn decoy_like(like: &str) -> String {
    use rand::RngCore;
    let mut secret = [0u8; 32];
    rand::rng().fill_bytes(&mut secret);
    let hasher = PasswordHash::new(like)
        .ok()
        .and_then(|hash| {
            let algorithm = argon2::Algorithm::try_from(hash.algorithm.as_str()).ok()?;
            let version = match hash.version {
                Some(v) => argon2::Version::try_from(v).ok()?,
                None => argon2::Version::default(),
            };
            let params = argon2::Params::try_from(&hash).ok()?;
            Some(Argon2::new(algorithm, version, params))
        })
        .unwrap_or_default();
    hasher
        .hash_password(&secret)
        .map(|hash| hash.to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_decoy_has_the_parameters_of_its_model_and_verifies_nothing() {
        let cheap = Argon2::new(
            argon2::Algorithm::Argon2id,
            argon2::Version::V0x13,
            argon2::Params::new(8, 1, 1, None).unwrap(),
        )
        .hash_password(b"pw")
        .unwrap()
        .to_string();
        let decoy = decoy_like(&cheap);
        assert!(decoy.starts_with("$argon2id$v=19$m=8,t=1,p=1$"), "{decoy}");
        assert!(!verify_now("pw", &decoy));
        assert!(!verify_now("", &decoy));
        let default = decoy_like("not a hash");
        assert!(
            default.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{default}"
        );
    }

    #[tokio::test]
    async fn checks_beyond_the_cores_and_the_waiting_room_are_refused_at_once() {
        let gate = gate_with(1);
        let cores = cores();
        let held: Vec<_> = (0..cores + 1)
            .map(|_| gate.admitted.clone().try_acquire_owned().unwrap())
            .collect();
        assert!(gate.admitted.clone().try_acquire_owned().is_err());
        drop(held);
        assert!(gate.admitted.clone().try_acquire_owned().is_ok());
    }
}
