//! External systems: a CRM that drives calls through `/api/v1` (make a call, hang up, list a
//! campaign's dispositions, categorize), authenticated by a token of its own (stored as an
//! argon2 hash), naming agents and campaigns by ctibridge's ids or by its own external ids
//! (unique per system). A contact's external id is its key in the campaign's contact database
//! (Clave_1, unique per database). Requests carry a request id: a repeat gets the first answer.
//! The configuration warnings of OMniLeads are computed on demand.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use rand::Rng;
use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::store::{Store, StoreError, now_millis};
use crate::telephony::config::CampaignConfig;
use crate::telephony::types::AgentId;

/// `[external]`: systems loaded at start-up (written over the stored ones of the same names).
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExternalConfig {
    pub systems: Vec<SystemConfig>,
}

/// One system: its token's argon2 hash (the token is `name.anything`), agents' and
/// campaigns' ids.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SystemConfig {
    pub name: String,
    pub token_hash: String,
    /// Agent user → its id in the system.
    #[serde(default)]
    pub agents: std::collections::BTreeMap<String, String>,
    /// Campaign id → its id in the system.
    #[serde(default)]
    pub campaigns: std::collections::BTreeMap<String, String>,
}

impl ExternalConfig {
    pub fn validate(&self) -> Result<(), String> {
        for (i, system) in self.systems.iter().enumerate() {
            let field = format!("external.systems[{i}]");
            check_system_name(&system.name).map_err(|e| format!("{field}.{e}"))?;
            if argon2::password_hash::phc::PasswordHash::new(&system.token_hash).is_err() {
                return Err(format!(
                    "{field}.token_hash must be an argon2 PHC string of the token `{}.…`; make one with \
                     `ctibridge hash-password`",
                    system.name
                ));
            }
            for (agent, id) in &system.agents {
                check_external_id(id).map_err(|e| format!("{field}.agents.{agent}: {e}"))?;
            }
            for (campaign, id) in &system.campaigns {
                if campaign.parse::<i64>().is_err() {
                    return Err(format!("{field}.campaigns: `{campaign}` is not a campaign id"));
                }
                check_external_id(id).map_err(|e| format!("{field}.campaigns.{campaign}: {e}"))?;
            }
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ExternalError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("invalid or unknown external system token")]
    Unauthorized,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for ExternalError {
    fn from(e: sqlx::Error) -> Self {
        ExternalError::Store(StoreError::Sqlx(e))
    }
}

/// True for a unique-constraint violation (both backends).
fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if matches!(db.code().as_deref(), Some("23505" | "2067" | "1555")))
}

/// A system as the operator sees it.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SystemView {
    pub name: String,
    pub agents: Vec<ExternalAgent>,
    pub campaigns: Vec<ExternalCampaign>,
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExternalAgent {
    pub agent: String,
    pub external_id: String,
}

#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExternalCampaign {
    pub campaign: i64,
    pub external_id: String,
}

/// The first answer of a request id, or that it is still being carried out.
#[derive(Debug, Clone, PartialEq)]
pub enum Replay {
    Answered { status: u16, body: String },
    InProgress,
}

/// A request id whose first attempt has not answered for this long may be carried out again.
pub const ABANDONED_AFTER_MS: i64 = 60_000;

#[derive(Clone)]
pub struct ExternalSystems {
    store: Store,
    /// Agent users of the roster (role agent).
    agents: Arc<Vec<String>>,
    campaigns: Arc<Vec<CampaignConfig>>,
    /// SHA-256 of tokens that verified, by system: argon2 runs once per token.
    verified: Arc<Mutex<HashMap<String, [u8; 32]>>>,
}

fn check_system_name(name: &str) -> Result<(), ExternalError> {
    if name.is_empty()
        || name.len() > 64
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(ExternalError::Invalid(
            "name: an external system's name is 1 to 64 letters, digits, `-` or `_`".into(),
        ));
    }
    Ok(())
}

fn check_external_id(id: &str) -> Result<(), ExternalError> {
    if id.trim().is_empty() || id.len() > 200 || id.chars().any(char::is_control) {
        return Err(ExternalError::Invalid(
            "externalId: 1 to 200 characters without control characters".into(),
        ));
    }
    Ok(())
}

impl ExternalSystems {
    pub fn new(store: Store, agents: Vec<String>, campaigns: Vec<CampaignConfig>) -> Self {
        Self {
            store,
            agents: Arc::new(agents),
            campaigns: Arc::new(campaigns),
            verified: Arc::default(),
        }
    }

    pub fn campaign_config(&self, id: i64) -> Option<&CampaignConfig> {
        self.campaigns.iter().find(|c| c.id == id)
    }

    /// Creates a system; returns its token (`name.secret`), shown this once.
    pub async fn create(&self, name: &str) -> Result<String, ExternalError> {
        check_system_name(name)?;
        let secret: [u8; 24] = rand::rng().random();
        let token = format!(
            "{name}.{}",
            secret.iter().map(|b| format!("{b:02x}")).collect::<String>()
        );
        let to_hash = token.clone();
        let hash =
            tokio::task::spawn_blocking(move || crate::telephony::engine::roster::hash_password(&to_hash))
                .await
                .map_err(|e| ExternalError::Invalid(e.to_string()))?
                .map_err(|e| ExternalError::Invalid(e.to_string()))?;
        let done =
            sqlx::query("INSERT INTO external_systems (name, token_hash, created_at_ms) VALUES ($1, $2, $3)")
                .bind(name)
                .bind(hash)
                .bind(now_millis())
                .execute(self.store.pool())
                .await;
        match done {
            Ok(_) => Ok(token),
            Err(e) if is_unique_violation(&e) => Err(ExternalError::Conflict(format!(
                "an external system is already named `{name}`"
            ))),
            Err(e) => Err(e.into()),
        }
    }

    /// Writes the configuration file's systems and ids over the stored ones.
    pub async fn apply_config(&self, config: &ExternalConfig) -> Result<(), ExternalError> {
        for system in &config.systems {
            sqlx::query(
                "INSERT INTO external_systems (name, token_hash, created_at_ms) VALUES ($1, $2, $3) \
                 ON CONFLICT (name) DO UPDATE SET token_hash = excluded.token_hash",
            )
            .bind(&system.name)
            .bind(&system.token_hash)
            .bind(now_millis())
            .execute(self.store.pool())
            .await?;
            self.verified
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&system.name);
            let field = |e: ExternalError, what: String| match e {
                ExternalError::Store(e) => ExternalError::Store(e),
                other => ExternalError::Invalid(format!("external.systems.{}.{what}: {other}", system.name)),
            };
            for (agent, id) in &system.agents {
                self.put_agent(&system.name, agent, id)
                    .await
                    .map_err(|e| field(e, format!("agents.{agent}")))?;
            }
            for (campaign, id) in &system.campaigns {
                let number = campaign.parse::<i64>().unwrap_or_default();
                self.put_campaign(&system.name, number, id)
                    .await
                    .map_err(|e| field(e, format!("campaigns.{campaign}")))?;
            }
        }
        Ok(())
    }

    /// Deletes a system with its identifiers.
    pub async fn delete(&self, name: &str) -> Result<(), ExternalError> {
        let mut tx = self.store.begin_write().await?;
        for table in ["external_agents", "external_campaigns", "external_requests"] {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DELETE FROM {table} WHERE system = $1"
            )))
            .bind(name)
            .execute(&mut *tx)
            .await?;
        }
        let done = sqlx::query("DELETE FROM external_systems WHERE name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(ExternalError::NotFound(format!(
                "no external system is named `{name}`"
            )));
        }
        tx.commit().await?;
        self.verified
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(name);
        Ok(())
    }

    async fn require(&self, name: &str) -> Result<(), ExternalError> {
        let found: Option<String> = sqlx::query_scalar("SELECT name FROM external_systems WHERE name = $1")
            .bind(name)
            .fetch_optional(self.store.pool())
            .await?;
        found
            .map(|_| ())
            .ok_or_else(|| ExternalError::NotFound(format!("no external system is named `{name}`")))
    }

    /// The system a token belongs to.
    pub async fn authenticate(&self, token: &str) -> Result<String, ExternalError> {
        let name = token
            .split_once('.')
            .map(|(n, _)| n)
            .ok_or(ExternalError::Unauthorized)?;
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if self.verified.lock().unwrap_or_else(|e| e.into_inner()).get(name) == Some(&digest) {
            return Ok(name.to_owned());
        }
        let hash: Option<String> =
            sqlx::query_scalar("SELECT token_hash FROM external_systems WHERE name = $1")
                .bind(name)
                .fetch_optional(self.store.pool())
                .await?;
        let Some(hash) = hash else {
            return Err(ExternalError::Unauthorized);
        };
        let candidate = token.to_owned();
        let ok = tokio::task::spawn_blocking(move || {
            crate::telephony::engine::roster::verify_password(&candidate, &hash)
        })
        .await
        .unwrap_or(false);
        if !ok {
            return Err(ExternalError::Unauthorized);
        }
        self.verified
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name.to_owned(), digest);
        Ok(name.to_owned())
    }

    /// Sets an agent's id in a system.
    pub async fn put_agent(&self, system: &str, agent: &str, external_id: &str) -> Result<(), ExternalError> {
        self.require(system).await?;
        check_external_id(external_id)?;
        if !self.agents.iter().any(|a| a == agent) {
            return Err(ExternalError::NotFound(format!(
                "no agent `{agent}` in the roster"
            )));
        }
        let done = sqlx::query(
            "INSERT INTO external_agents (system, agent, external_id) VALUES ($1, $2, $3) \
             ON CONFLICT (system, agent) DO UPDATE SET external_id = excluded.external_id",
        )
        .bind(system)
        .bind(agent)
        .bind(external_id)
        .execute(self.store.pool())
        .await;
        id_saved(done, "agent", system, external_id)
    }

    /// Ties a campaign to a system with its id there.
    pub async fn put_campaign(
        &self,
        system: &str,
        campaign: i64,
        external_id: &str,
    ) -> Result<(), ExternalError> {
        self.require(system).await?;
        check_external_id(external_id)?;
        if self.campaign_config(campaign).is_none() {
            return Err(ExternalError::NotFound(format!(
                "no campaign {campaign} is configured"
            )));
        }
        let done = sqlx::query(
            "INSERT INTO external_campaigns (campaign, system, external_id) VALUES ($1, $2, $3) \
             ON CONFLICT (campaign) DO UPDATE SET system = excluded.system, external_id = excluded.external_id",
        )
        .bind(campaign)
        .bind(system)
        .bind(external_id)
        .execute(self.store.pool())
        .await;
        id_saved(done, "campaign", system, external_id)
    }

    /// Every system with its identifiers and warnings (`sites`: campaign → CRM site).
    pub async fn list(&self, sites: &HashMap<i64, String>) -> Result<Vec<SystemView>, ExternalError> {
        let names: Vec<String> = sqlx::query_scalar("SELECT name FROM external_systems ORDER BY name")
            .fetch_all(self.store.pool())
            .await?;
        let agents = sqlx::query("SELECT system, agent, external_id FROM external_agents ORDER BY agent")
            .fetch_all(self.store.pool())
            .await?;
        let campaigns =
            sqlx::query("SELECT system, campaign, external_id FROM external_campaigns ORDER BY campaign")
                .fetch_all(self.store.pool())
                .await?;
        let mut views: Vec<SystemView> = names
            .into_iter()
            .map(|name| SystemView {
                name,
                agents: Vec::new(),
                campaigns: Vec::new(),
                warnings: Vec::new(),
            })
            .collect();
        for row in &agents {
            let system: String = row.try_get(0)?;
            if let Some(view) = views.iter_mut().find(|v| v.name == system) {
                view.agents.push(ExternalAgent {
                    agent: row.try_get(1)?,
                    external_id: row.try_get(2)?,
                });
            }
        }
        let mut owner: HashMap<i64, String> = HashMap::new();
        for row in &campaigns {
            let system: String = row.try_get(0)?;
            let campaign: i64 = row.try_get(1)?;
            owner.insert(campaign, system.clone());
            if let Some(view) = views.iter_mut().find(|v| v.name == system) {
                view.campaigns.push(ExternalCampaign {
                    campaign,
                    external_id: row.try_get(2)?,
                });
            }
        }
        for view in &mut views {
            view.warnings = self.warnings(view, &owner, sites);
        }
        Ok(views)
    }

    /// OMniLeads' configuration warnings for one system. Any roster agent may log in to any
    /// campaign, so every agent counts as an agent of the system's campaigns.
    fn warnings(
        &self,
        view: &SystemView,
        owner: &HashMap<i64, String>,
        sites: &HashMap<i64, String>,
    ) -> Vec<String> {
        let mut warnings = Vec::new();
        for campaign in &view.campaigns {
            for agent in self.agents.iter() {
                if !view.agents.iter().any(|a| &a.agent == agent) {
                    warnings.push(format!(
                        "campaign {}: agent `{agent}` has no external id in system `{}`",
                        campaign.campaign, view.name
                    ));
                }
            }
            let Some(config) = self.campaign_config(campaign.campaign) else {
                continue;
            };
            for other in self.campaigns.iter().filter(|c| c.id != config.id) {
                let Some(other_system) = owner.get(&other.id).filter(|s| **s != view.name) else {
                    continue;
                };
                if other.database_id == config.database_id {
                    warnings.push(format!(
                        "campaign {}: contact database {} is also used by campaign {} of system `{other_system}`",
                        config.id, config.database_id, other.id
                    ));
                }
                if let (Some(site), Some(other_site)) = (sites.get(&config.id), sites.get(&other.id))
                    && site == other_site
                {
                    warnings.push(format!(
                        "campaign {}: external site `{site}` is also used by campaign {} of system `{other_system}`",
                        config.id, other.id
                    ));
                }
            }
        }
        warnings
    }

    /// The agent an API request names: a roster user, or the system's external id.
    pub async fn resolve_agent(
        &self,
        system: &str,
        id: &str,
        external: bool,
    ) -> Result<AgentId, ExternalError> {
        if !external {
            return if self.agents.iter().any(|a| a == id) {
                Ok(AgentId::new(id))
            } else {
                Err(ExternalError::NotFound(format!("idAgent: no agent `{id}`")))
            };
        }
        let agent: Option<String> =
            sqlx::query_scalar("SELECT agent FROM external_agents WHERE system = $1 AND external_id = $2")
                .bind(system)
                .bind(id)
                .fetch_optional(self.store.pool())
                .await?;
        agent.map(AgentId::new).ok_or_else(|| {
            ExternalError::NotFound(format!(
                "idAgent: no agent has external id `{id}` in system `{system}`"
            ))
        })
    }

    /// The campaign an API request names: a ctibridge id, or the system's external id.
    pub async fn resolve_campaign(
        &self,
        system: &str,
        id: &str,
        external: bool,
    ) -> Result<i64, ExternalError> {
        if !external {
            return id
                .parse::<i64>()
                .ok()
                .filter(|c| self.campaign_config(*c).is_some())
                .ok_or_else(|| ExternalError::NotFound(format!("idCampaign: no campaign `{id}`")));
        }
        let campaign: Option<i64> = sqlx::query_scalar(
            "SELECT campaign FROM external_campaigns WHERE system = $1 AND external_id = $2",
        )
        .bind(system)
        .bind(id)
        .fetch_optional(self.store.pool())
        .await?;
        campaign.ok_or_else(|| {
            ExternalError::NotFound(format!(
                "idCampaign: no campaign has external id `{id}` in system `{system}`"
            ))
        })
    }

    /// The contact an API request names in `campaign`'s database: its ctibridge id, or its key
    /// (Clave_1, the database's external id). Returns (database's CRM id, key, phone).
    pub async fn resolve_contact(
        &self,
        campaign: i64,
        id: &str,
        external: bool,
    ) -> Result<(i64, String, Option<String>), ExternalError> {
        let config = self
            .campaign_config(campaign)
            .ok_or_else(|| ExternalError::NotFound(format!("idCampaign: no campaign {campaign}")))?;
        let row = if external {
            sqlx::query(
                "SELECT c.clave_1, c.phone, d.crm_id FROM contacts c JOIN contact_databases d ON d.id = c.database_id \
                 WHERE c.database_id = $1 AND c.clave_1 = $2",
            )
            .bind(config.database_id)
            .bind(id)
            .fetch_optional(self.store.pool())
            .await?
        } else {
            let Ok(numeric) = id.parse::<i64>() else {
                return Err(ExternalError::NotFound(format!("idContact: no contact `{id}`")));
            };
            sqlx::query(
                "SELECT c.clave_1, c.phone, d.crm_id FROM contacts c JOIN contact_databases d ON d.id = c.database_id \
                 WHERE c.database_id = $1 AND c.id = $2",
            )
            .bind(config.database_id)
            .bind(numeric)
            .fetch_optional(self.store.pool())
            .await?
        };
        let Some(row) = row else {
            return Err(ExternalError::NotFound(format!(
                "idContact: no contact `{id}` in contact database {} of campaign {campaign}",
                config.database_id
            )));
        };
        let key: Option<String> = row.try_get(0)?;
        Ok((row.try_get(2)?, key.unwrap_or_default(), row.try_get(1)?))
    }

    /// Starts a request id: `None` when it is new (carry it out, then [`Self::finish`]), else
    /// the first one's answer.
    pub async fn begin(&self, system: &str, request_id: &str) -> Result<Option<Replay>, ExternalError> {
        if request_id.is_empty() || request_id.len() > 200 {
            return Err(ExternalError::Invalid("requestId: 1 to 200 characters".into()));
        }
        let inserted = sqlx::query(
            "INSERT INTO external_requests (system, request_id, created_at_ms) VALUES ($1, $2, $3) \
             ON CONFLICT (system, request_id) DO NOTHING",
        )
        .bind(system)
        .bind(request_id)
        .bind(now_millis())
        .execute(self.store.pool())
        .await?;
        if inserted.rows_affected() == 1 {
            return Ok(None);
        }
        // A first attempt that never finished (its client went away and the server dropped the
        // work, or the process died) is taken over after a minute.
        let now = now_millis();
        let taken = sqlx::query(
            "UPDATE external_requests SET created_at_ms = $1 \
             WHERE system = $2 AND request_id = $3 AND status IS NULL AND created_at_ms < $4",
        )
        .bind(now)
        .bind(system)
        .bind(request_id)
        .bind(now - ABANDONED_AFTER_MS)
        .execute(self.store.pool())
        .await?;
        if taken.rows_affected() == 1 {
            return Ok(None);
        }
        let row =
            sqlx::query("SELECT status, body FROM external_requests WHERE system = $1 AND request_id = $2")
                .bind(system)
                .bind(request_id)
                .fetch_one(self.store.pool())
                .await?;
        let status: Option<i64> = row.try_get(0)?;
        Ok(Some(match status {
            Some(status) => Replay::Answered {
                status: u16::try_from(status).unwrap_or(200),
                body: row.try_get::<Option<String>, _>(1)?.unwrap_or_default(),
            },
            None => Replay::InProgress,
        }))
    }

    /// Records a request's answer (`None`: it failed; the id may be used again).
    pub async fn finish(
        &self,
        system: &str,
        request_id: &str,
        answer: Option<(u16, &str)>,
    ) -> Result<(), ExternalError> {
        match answer {
            Some((status, body)) => {
                sqlx::query("UPDATE external_requests SET status = $1, body = $2 WHERE system = $3 AND request_id = $4")
                    .bind(i64::from(status))
                    .bind(body)
                    .bind(system)
                    .bind(request_id)
                    .execute(self.store.pool())
                    .await?;
            }
            None => {
                sqlx::query(
                    "DELETE FROM external_requests WHERE system = $1 AND request_id = $2 AND status IS NULL",
                )
                .bind(system)
                .bind(request_id)
                .execute(self.store.pool())
                .await?;
            }
        }
        Ok(())
    }
}

/// The outcome of saving an external id: a unique violation means the id names another
/// `what` (agent, campaign) in that system already.
fn id_saved<T>(
    done: Result<T, sqlx::Error>,
    what: &str,
    system: &str,
    external_id: &str,
) -> Result<(), ExternalError> {
    match done {
        Ok(_) => Ok(()),
        Err(e) if is_unique_violation(&e) => Err(ExternalError::Conflict(format!(
            "externalId: `{external_id}` is another {what}'s id in system `{system}`"
        ))),
        Err(e) => Err(e.into()),
    }
}
