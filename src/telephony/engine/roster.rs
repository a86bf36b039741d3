//! The roster: who may log in, with which password and role. Configured in `[telephony]`;
//! with no agents configured, the public demo roster (marked as such: the server then only
//! listens on loopback addresses).

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, phc::PasswordHash};

use crate::telephony::config::AgentConfig;
use crate::telephony::error::TelephonyError;
use crate::telephony::types::{AgentId, Role};

/// The demo roster's password.
pub const DEMO_PASSWORD: &str = "demo";

/// The demo roster: users and devices.
pub const DEMO_AGENTS: [(&str, &str, Role); 4] = [
    ("agent1", "1001", Role::Agent),
    ("agent2", "1002", Role::Agent),
    ("agent3", "1003", Role::Agent),
    ("super1", "1100", Role::Supervisor),
];

/// One roster entry.
#[derive(Debug, Clone)]
pub struct RosterEntry {
    pub user: AgentId,
    pub device: String,
    pub password_hash: String,
    pub role: Role,
    pub salesforce_user_id: Option<String>,
    pub salesforce_username: Option<String>,
}

/// Hashes a password into an argon2id PHC string (for `ctibridge hash-password`).
pub fn hash_password(password: &str) -> Result<String, TelephonyError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|e| TelephonyError::Config(format!("cannot hash the password: {e}")))
}

/// Verifies a password against a PHC string. CPU-heavy: call it off the async threads.
pub fn verify_password(password: &str, phc: &str) -> bool {
    crate::password::verify_now(password, phc)
}

/// Builds the roster from the configuration, or the demo roster when none is configured
/// (`true` in the result). Hashing the demo password is CPU-heavy: call off the async threads.
pub fn build(agents: &[AgentConfig]) -> Result<(Vec<RosterEntry>, bool), TelephonyError> {
    if agents.is_empty() {
        // One hash for the four demo users: the password is public anyway.
        let hash = hash_password(DEMO_PASSWORD)?;
        let roster = DEMO_AGENTS
            .iter()
            .map(|(user, device, role)| RosterEntry {
                user: AgentId::from(*user),
                device: (*device).to_owned(),
                password_hash: hash.clone(),
                role: *role,
                salesforce_user_id: None,
                salesforce_username: None,
            })
            .collect();
        return Ok((roster, true));
    }
    let mut roster: Vec<RosterEntry> = Vec::with_capacity(agents.len());
    for agent in agents {
        if agent.user.trim().is_empty() {
            return Err(TelephonyError::Config(
                "telephony.agents: a user name is empty".into(),
            ));
        }
        if roster.iter().any(|r| r.user.as_str() == agent.user) {
            return Err(TelephonyError::Config(format!(
                "telephony.agents: user `{}` appears twice",
                agent.user
            )));
        }
        if PasswordHash::new(&agent.password_hash).is_err() {
            return Err(TelephonyError::Config(format!(
                "telephony.agents: user `{}`: password_hash must be an argon2 PHC string \
                 ($argon2id$v=19$…); make one with `ctibridge hash-password`",
                agent.user
            )));
        }
        roster.push(RosterEntry {
            user: AgentId::new(agent.user.clone()),
            device: agent.device.clone(),
            password_hash: agent.password_hash.clone(),
            role: agent.role,
            salesforce_user_id: agent.salesforce_user_id.clone(),
            salesforce_username: agent.salesforce_username.clone(),
        });
    }
    Ok((roster, false))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_its_password_only() {
        let hash = hash_password("s3cret").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("s3cret", &hash));
        assert!(!verify_password("secret", &hash));
        assert!(!verify_password("s3cret", "not a hash"));
    }

    #[test]
    fn configured_hashes_must_be_phc_strings() {
        let agent = AgentConfig {
            user: "ana".into(),
            device: "2001".into(),
            password_hash: "plain-text".into(),
            role: Role::Agent,
            salesforce_user_id: None,
            salesforce_username: None,
        };
        let err = build(&[agent]).unwrap_err().to_string();
        assert!(err.contains("ana") && err.contains("hash-password"), "{err}");
    }
}
