//! Several instances on one PostgreSQL database, serving as one (`[cluster] enabled = true`).
//!
//! Every instance runs a [`gateway`] on its public address: agents' browsers and load
//! balancers may reach any of them. Exactly one instance at a time runs the contact-center
//! core (engine, telephony link, dialers, timers, Salesforce delivery) on its `core_bind`
//! address: the one holding the core's PostgreSQL advisory lock. Gateways forward every request
//! and websocket to that core, whose one event hub therefore holds every agent's sockets
//! (events in order, no doubles; Logout closes them everywhere), and whose one login limiter
//! counts every instance's attempts.
//!
//! The others wait for the lock; when the active instance dies its connection (and lock) goes
//! with it, one of them takes the lock within `takeover_poll_ms`, restores the core from the
//! database (`store::core`), announces itself (`NOTIFY ctibridge_core`) and the gateways
//! switch. An active instance that loses its database stops at once rather than act on stale
//! state. The instances' table (`cluster_instances`) lists who is alive and who is active.

pub mod gateway;

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::config::Config;
use crate::store::{Backend, Store, now_millis};

/// `[cluster]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClusterConfig {
    /// Run as one of several instances on the PostgreSQL database.
    pub enabled: bool,
    /// Where this instance runs the core when it is the active one (reachable by the other
    /// instances' gateways, never by browsers).
    pub core_bind: SocketAddr,
    /// The URL the other instances reach `core_bind` at (default `http://{core_bind}`).
    pub core_url: Option<String>,
    /// How often a waiting instance tries to take the core over (milliseconds).
    pub takeover_poll_ms: u64,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            enabled: false,
            core_bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            core_url: None,
            takeover_poll_ms: 500,
        }
    }
}

/// How often the active instance checks the connection holding the core's lock, how long a
/// check may take, and so within how long an instance that lost the lock has stopped: a new
/// core waits that long after taking the lock before it acts, so two never act at once.
const LOCK_CHECK: Duration = Duration::from_millis(250);
const LOCK_CHECK_TIMEOUT: Duration = Duration::from_millis(500);
pub const STEP_DOWN_WITHIN: Duration = Duration::from_millis(1_500);

/// An instance heard from within this long is alive.
pub const ALIVE_WITHIN: Duration = Duration::from_secs(10);
/// How often an instance notes it is alive, and the active one checks its database link.
const BEAT: Duration = Duration::from_secs(1);
/// The channel the active instance announces itself on.
pub const CORE_CHANNEL: &str = "ctibridge_core";

/// One row of `cluster_instances`, as the admin endpoint lists it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Instance {
    pub id: String,
    pub gateway_url: String,
    pub core_url: Option<String>,
    pub version: String,
    pub active: bool,
    pub alive: bool,
    pub heartbeat_ms_ago: i64,
}

/// What the shared parts of the configuration must agree on between instances: the
/// Salesforce org and application, the telephony platform, the campaigns. A hash: the values
/// (which may hold secrets) never leave the instance.
pub fn fingerprint(config: &Config) -> String {
    let telephony = &config.telephony;
    let asterisk = telephony
        .asterisk
        .as_ref()
        .map(|a| format!("{}:{}:{}", a.host, a.port, a.username))
        .unwrap_or_default();
    let campaigns: Vec<String> = telephony
        .effective_campaigns()
        .iter()
        .map(|c| format!("{}={:?}/{:?}", c.id, c.kind, c.queue))
        .collect();
    let shared = format!(
        "salesforce={:?}|{:?}|driver={:?}|asterisk={asterisk}|campaigns={}",
        config.salesforce.login_url,
        config.salesforce.client_id,
        telephony.driver,
        campaigns.join(",")
    );
    let digest = Sha256::digest(shared.as_bytes());
    digest.iter().take(12).map(|b| format!("{b:02x}")).collect()
}

/// This instance's membership: its row, the active core's address as last known.
#[derive(Clone)]
pub struct Membership {
    pub id: String,
    store: Store,
    active_core: Arc<RwLock<Option<String>>>,
    is_active: Arc<std::sync::atomic::AtomicBool>,
    /// When the active core was last read from the table.
    refreshed: Arc<std::sync::Mutex<Option<std::time::Instant>>>,
}

#[derive(Debug, thiserror::Error)]
pub enum JoinError {
    #[error("[cluster] enabled needs the PostgreSQL database (database.url = \"postgres://…\")")]
    NotPostgres,
    #[error(
        "this instance (version {ours}) cannot join: the active instance {id} at {url} runs version {theirs}; \
         upgrade every instance to one version (a rolling restart goes one instance at a time with the same version)"
    )]
    Version {
        ours: String,
        theirs: String,
        id: String,
        url: String,
    },
    #[error(
        "this instance cannot join: its shared configuration (Salesforce org, telephony platform, campaigns) \
         differs from the active instance {id} at {url} (fingerprint {ours} here, {theirs} there); \
         give every instance the same [salesforce], [telephony] and campaigns"
    )]
    Configuration {
        ours: String,
        theirs: String,
        id: String,
        url: String,
    },
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

impl Membership {
    /// Registers this instance after checking it agrees with the active one (version and
    /// shared configuration), and starts its heartbeat.
    pub async fn join(store: Store, config: &Config, gateway_url: String) -> Result<Membership, JoinError> {
        if store.backend() != Backend::Postgres {
            return Err(JoinError::NotPostgres);
        }
        let version = env!("CARGO_PKG_VERSION").to_owned();
        let ours = fingerprint(config);
        let now = now_millis();
        let active = sqlx::query(
            "SELECT id, gateway_url, version, fingerprint FROM cluster_instances \
             WHERE active_since IS NOT NULL AND heartbeat_at > $1 ORDER BY active_since DESC LIMIT 1",
        )
        .bind(now - ALIVE_WITHIN.as_millis() as i64)
        .fetch_optional(store.pool())
        .await?;
        if let Some(row) = active {
            let id: String = row.try_get("id")?;
            let url: String = row.try_get("gateway_url")?;
            let theirs_version: String = row.try_get("version")?;
            let theirs: String = row.try_get("fingerprint")?;
            if theirs_version != version {
                return Err(JoinError::Version {
                    ours: version,
                    theirs: theirs_version,
                    id,
                    url,
                });
            }
            if theirs != ours {
                return Err(JoinError::Configuration {
                    ours,
                    theirs,
                    id,
                    url,
                });
            }
        }
        let id = format!("{}-{}-{:x}", hostname(), std::process::id(), now);
        sqlx::query(
            "INSERT INTO cluster_instances (id, gateway_url, core_url, version, fingerprint, started_at, heartbeat_at, active_since) \
             VALUES ($1, $2, NULL, $3, $4, $5, $5, NULL)",
        )
        .bind(&id)
        .bind(&gateway_url)
        .bind(&version)
        .bind(&ours)
        .bind(now)
        .execute(store.pool())
        .await?;
        // Rows of instances dead for a day are forgotten.
        sqlx::query("DELETE FROM cluster_instances WHERE heartbeat_at < $1")
            .bind(now - 86_400_000)
            .execute(store.pool())
            .await?;
        let membership = Membership {
            id,
            store,
            active_core: Arc::default(),
            is_active: Arc::default(),
            refreshed: Arc::default(),
        };
        membership.refresh_active().await;
        tokio::spawn(membership.clone().beat());
        tokio::spawn(membership.clone().follow_announcements());
        Ok(membership)
    }

    /// The active core's URL, if one is known.
    pub fn active_core(&self) -> Option<String> {
        self.active_core.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn is_active(&self) -> bool {
        self.is_active.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Reads the active instance's core URL from the table, at most every 200 ms whoever
    /// asks (a takeover makes every forwarded request and socket ask at once).
    pub async fn refresh_active(&self) {
        {
            let mut last = self.refreshed.lock().unwrap_or_else(|e| e.into_inner());
            let now = std::time::Instant::now();
            if last.is_some_and(|at| now.duration_since(at) < Duration::from_millis(200)) {
                return;
            }
            *last = Some(now);
        }
        let found: Result<Option<String>, sqlx::Error> = sqlx::query_scalar(
            "SELECT core_url FROM cluster_instances WHERE active_since IS NOT NULL AND core_url IS NOT NULL \
             AND heartbeat_at > $1 ORDER BY active_since DESC LIMIT 1",
        )
        .bind(now_millis() - ALIVE_WITHIN.as_millis() as i64)
        .fetch_optional(self.store.pool())
        .await;
        match found {
            Ok(url) => *self.active_core.write().unwrap_or_else(|e| e.into_inner()) = url,
            Err(e) => tracing::warn!(error = %e, "cannot read which instance runs the core"),
        }
    }

    /// This instance took the core over and serves it at `core_url`: recorded (the others'
    /// rows lose the mark) and announced.
    pub async fn became_active(&self, core_url: &str) -> Result<(), sqlx::Error> {
        let mut tx = self.store.pool().begin().await?;
        sqlx::query("UPDATE cluster_instances SET active_since = NULL, core_url = NULL WHERE id <> $1")
            .bind(&self.id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "UPDATE cluster_instances SET active_since = $2, core_url = $3, heartbeat_at = $2 WHERE id = $1",
        )
        .bind(&self.id)
        .bind(now_millis())
        .bind(core_url)
        .execute(&mut *tx)
        .await?;
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CORE_CHANNEL)
            .bind(core_url)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.is_active.store(true, std::sync::atomic::Ordering::SeqCst);
        *self.active_core.write().unwrap_or_else(|e| e.into_inner()) = Some(core_url.to_owned());
        Ok(())
    }

    /// Every instance, the living first.
    pub async fn instances(&self) -> Result<Vec<Instance>, sqlx::Error> {
        instances(&self.store).await
    }

    async fn beat(self) {
        let mut ticks = tokio::time::interval(BEAT);
        loop {
            ticks.tick().await;
            if let Err(e) = sqlx::query("UPDATE cluster_instances SET heartbeat_at = $2 WHERE id = $1")
                .bind(&self.id)
                .bind(now_millis())
                .execute(self.store.pool())
                .await
            {
                tracing::warn!(error = %e, "cluster heartbeat not saved");
            }
            if !self.is_active() {
                self.refresh_active().await;
            }
        }
    }

    /// Switches to a new active core as soon as it announces itself (polling covers a missed
    /// announcement).
    async fn follow_announcements(self) {
        loop {
            let mut listener = match sqlx::postgres::PgListener::connect(self.store.url()).await {
                Ok(listener) => listener,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen for the active instance's announcements");
                    tokio::time::sleep(Duration::from_secs(2)).await;
                    continue;
                }
            };
            if let Err(e) = listener.listen(CORE_CHANNEL).await {
                tracing::warn!(error = %e, "cannot listen for the active instance's announcements");
                tokio::time::sleep(Duration::from_secs(2)).await;
                continue;
            }
            while let Ok(notice) = listener.recv().await {
                tracing::info!(core = %notice.payload().escape_debug(), "the core is served elsewhere now");
                *self.active_core.write().unwrap_or_else(|e| e.into_inner()) =
                    Some(notice.payload().to_owned());
            }
        }
    }
}

/// Watches the connection that holds the core's lock: if the database stops answering on it,
/// this instance may no longer be the one holding the lock, and must not act. The process
/// stops (its supervisor starts it again, as a waiting instance) within [`STEP_DOWN_WITHIN`].
pub fn step_down_when_the_lock_is_lost(
    check: impl Fn() -> futures_util::future::BoxFuture<'static, bool> + Send + 'static,
) {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(LOCK_CHECK);
        let mut failures = 0;
        loop {
            ticks.tick().await;
            let alive = tokio::time::timeout(LOCK_CHECK_TIMEOUT, check())
                .await
                .unwrap_or(false);
            failures = if alive { 0 } else { failures + 1 };
            if failures >= 2 {
                tracing::error!(
                    "lost the database connection that holds the core's lock: another instance may take the core over; \
                     stopping so as not to act on stale state"
                );
                std::process::exit(3);
            }
        }
    });
}

fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "ctibridge".into())
}

/// Every instance that registered in the last day, the most recently heard first.
pub async fn instances(store: &Store) -> Result<Vec<Instance>, sqlx::Error> {
    let now = now_millis();
    let rows = sqlx::query(
        "SELECT id, gateway_url, core_url, version, heartbeat_at, active_since FROM cluster_instances \
             ORDER BY heartbeat_at DESC",
    )
    .fetch_all(store.pool())
    .await?;
    rows.iter()
        .map(|row| {
            let heartbeat: i64 = row.try_get("heartbeat_at")?;
            let active_since: Option<i64> = row.try_get("active_since")?;
            let alive = now - heartbeat < ALIVE_WITHIN.as_millis() as i64;
            Ok(Instance {
                id: row.try_get("id")?,
                gateway_url: row.try_get("gateway_url")?,
                core_url: row.try_get("core_url")?,
                version: row.try_get("version")?,
                active: active_since.is_some() && alive,
                alive,
                heartbeat_ms_ago: now - heartbeat,
            })
        })
        .collect()
}
