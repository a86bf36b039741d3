//! Agent sessions: the bearer tokens handed out by Login.
//!
//! A token is 32 random bytes, base64url without padding. Only its SHA-256 is stored (table
//! `agent_sessions`), so every instance on a shared PostgreSQL database accepts it and a
//! database leak hands out no session. A session expires `session_ttl_secs` after Login and is
//! revoked by Logout.
//!
//! A token is bound to the login it came from: table `agent_logins` names each user's current
//! login, a successful Login replaces it (revoking every earlier session of the user, in one
//! transaction), and only the current login's token authenticates.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::store::{Store, now_millis};
use crate::telephony::{AgentId, Role};

/// One live session, as found by its token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// SHA-256 of the token (hex): the session's id, safe to log.
    pub token_hash: String,
    pub agent: AgentId,
    pub device: String,
    pub role: Role,
    pub expires_at_ms: i64,
}

/// A freshly issued token: shown once to the client, never stored.
pub struct IssuedToken {
    pub token: String,
    pub session: Session,
}

/// The session table.
#[derive(Clone)]
pub struct Sessions {
    store: Store,
    ttl: Duration,
}

/// SHA-256 of a token, hex: what the table keeps.
pub fn hash_token(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    let mut hex = String::with_capacity(64);
    for byte in digest {
        hex.push_str(&format!("{byte:02x}"));
    }
    hex
}

fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::Agent => "agent",
        Role::Supervisor => "supervisor",
    }
}

impl Sessions {
    pub fn new(store: Store, ttl: Duration) -> Self {
        Sessions { store, ttl }
    }

    /// Issues a new token for an agent that has just logged in, ending every earlier session
    /// of the agent: returns the token and the hashes of the sessions it ended.
    pub async fn create(
        &self,
        agent: &AgentId,
        device: &str,
        role: Role,
    ) -> Result<(IssuedToken, Vec<String>), sqlx::Error> {
        let token = new_token();
        let token_hash = hash_token(&token);
        let now = now_millis();
        let ttl_ms = i64::try_from(self.ttl.as_millis()).unwrap_or(i64::MAX);
        let expires_at_ms = now.saturating_add(ttl_ms);
        let mut tx = self.store.begin_write().await.map_err(|e| match e {
            crate::store::StoreError::Sqlx(e) => e,
            other => sqlx::Error::Protocol(other.to_string()),
        })?;
        // First the user's login row: on PostgreSQL a concurrent login of the same user waits
        // here for this one to commit, then ends its session too.
        sqlx::query(
            "INSERT INTO agent_logins (agent, token_hash, updated_at_ms) VALUES ($1, $2, $3) \
             ON CONFLICT (agent) DO UPDATE SET token_hash = excluded.token_hash, \
             updated_at_ms = excluded.updated_at_ms",
        )
        .bind(agent.as_str())
        .bind(&token_hash)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let ended: Vec<String> = sqlx::query_scalar(
            "SELECT token_hash FROM agent_sessions WHERE agent = $1 AND revoked_at_ms IS NULL",
        )
        .bind(agent.as_str())
        .fetch_all(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE agent_sessions SET revoked_at_ms = $1 WHERE agent = $2 AND revoked_at_ms IS NULL",
        )
        .bind(now)
        .bind(agent.as_str())
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO agent_sessions (token_hash, agent, device, role, created_at_ms, expires_at_ms) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&token_hash)
        .bind(agent.as_str())
        .bind(device)
        .bind(role_name(role))
        .bind(now)
        .bind(expires_at_ms)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        let issued = IssuedToken {
            token,
            session: Session {
                token_hash,
                agent: agent.clone(),
                device: device.to_owned(),
                role,
                expires_at_ms,
            },
        };
        Ok((issued, ended))
    }

    /// The live session of a token: the current login of its user, not expired, not revoked.
    pub async fn find(&self, token: &str) -> Result<Option<Session>, sqlx::Error> {
        let token_hash = hash_token(token);
        let row = sqlx::query(
            "SELECT s.agent, s.device, s.role, s.expires_at_ms FROM agent_sessions s \
             JOIN agent_logins l ON l.agent = s.agent AND l.token_hash = s.token_hash \
             WHERE s.token_hash = $1 AND s.revoked_at_ms IS NULL AND s.expires_at_ms > $2",
        )
        .bind(&token_hash)
        .bind(now_millis())
        .fetch_optional(self.store.pool())
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let role = match row.try_get::<String, _>(2)?.as_str() {
            "supervisor" => Role::Supervisor,
            _ => Role::Agent,
        };
        Ok(Some(Session {
            token_hash,
            agent: AgentId::new(row.try_get::<String, _>(0)?),
            device: row.try_get(1)?,
            role,
            expires_at_ms: row.try_get(3)?,
        }))
    }

    /// Revokes one session (Logout).
    pub async fn revoke(&self, token_hash: &str) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE agent_sessions SET revoked_at_ms = $1 WHERE token_hash = $2 AND revoked_at_ms IS NULL",
        )
        .bind(now_millis())
        .bind(token_hash)
        .execute(self.store.pool())
        .await?;
        Ok(())
    }

    /// Deletes sessions that expired or were revoked more than a day ago.
    pub async fn purge(&self) -> Result<u64, sqlx::Error> {
        let cutoff = now_millis() - 24 * 3600 * 1000;
        let done = sqlx::query(
            "DELETE FROM agent_sessions WHERE expires_at_ms < $1 OR (revoked_at_ms IS NOT NULL AND revoked_at_ms < $1)",
        )
        .bind(cutoff)
        .execute(self.store.pool())
        .await?;
        Ok(done.rows_affected())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_32_random_bytes_in_base64url() {
        let a = new_token();
        let b = new_token();
        assert_ne!(a, b);
        assert_eq!(URL_SAFE_NO_PAD.decode(&a).unwrap().len(), 32);
        assert_eq!(hash_token(&a).len(), 64);
        assert_eq!(hash_token(&a), hash_token(&a));
    }
}
