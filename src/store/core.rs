//! The contact-center core's tables (`core_*`): the [`CoreStore`] commits each change of the
//! engine — its events turned into call-log and outbox rows by an [`EventRecorder`], the
//! agents, callbacks and lead queues it changed, the next block of call ids — in one
//! transaction, and loads what the last process left when the server starts.

use std::sync::Arc;

use async_trait::async_trait;
use sqlx::{AnyConnection, Row};

use super::{Store, StoreError, now_millis};
use crate::telephony::engine::durable::{
    Commit, CommitSink, Committed, ID_BLOCK, RestoredState, STATE_VERSION, StoredAgent, StoredCallback,
    StoredSession,
};
use crate::telephony::events::EventEnvelope;
use crate::telephony::types::CampaignId;

/// Why an event could not be recorded.
#[derive(Debug, Clone)]
pub struct RecordError {
    /// The database may take it on a retry (a lock, a lost connection); otherwise the event
    /// itself is refused (a value the database will never take) and retrying cannot help.
    pub transient: bool,
    pub message: String,
}

impl RecordError {
    /// Classifies a database error: deadlocks, serialization failures, busy / locked
    /// databases and connection trouble are transient.
    pub fn from_sqlx(e: &sqlx::Error) -> RecordError {
        let transient = match e {
            sqlx::Error::Database(db) => matches!(
                db.code().as_deref(),
                Some("40P01" | "40001" | "55P03" | "57014" | "5" | "6" | "261" | "262" | "517")
            ),
            _ => true,
        };
        RecordError {
            transient,
            message: e.to_string(),
        }
    }
}

/// What turns the core's events into rows of its own inside the committing transaction (the
/// call log and its Salesforce writes).
#[async_trait]
pub trait EventRecorder: Send + Sync + 'static {
    async fn record(&self, conn: &mut AnyConnection, event: &EventEnvelope) -> Result<(), RecordError>;
    /// After a restart, before the engine starts: close what the last process left open,
    /// as of `last_alive_ms`. Returns how many calls were closed.
    async fn recover(&self, conn: &mut AnyConnection, last_alive_ms: i64) -> Result<u64, String>;
    /// After each commit (wakes whoever delivers the rows).
    fn committed(&self);
}

#[derive(Debug, thiserror::Error)]
pub enum CoreStoreError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(
        "the database holds telephony state written by a newer version of ctibridge (state version \
         {found}, this binary reads up to {supported}); run that version or a newer one"
    )]
    NewerState { found: i64, supported: i64 },
    #[error("stored telephony state is unreadable ({what}): {detail}")]
    Corrupt { what: String, detail: String },
    #[error("cannot close the calls the last process left open: {0}")]
    Recover(String),
    #[error(
        "another ctibridge instance runs the telephony core on this database (it holds PostgreSQL \
         advisory lock {CORE_LOCK}); one instance per database until several instances are \
         supported: stop the other one or give this one its own database"
    )]
    AnotherInstance,
}

/// The PostgreSQL advisory lock the instance running the core holds for its whole life.
pub const CORE_LOCK: i64 = 0x6374_6962_0001;

/// Held for the process's life: the connection that holds the core's lock (PostgreSQL).
pub struct CoreLock {
    _connection: Option<AnyConnection>,
}

impl CoreLock {
    /// Whether the connection holding the lock still answers (SQLite: always).
    pub async fn still_held(&mut self) -> bool {
        match &mut self._connection {
            None => true,
            Some(connection) => sqlx::query("SELECT 1").execute(connection).await.is_ok(),
        }
    }

    /// Lets go of the lock and closes its connection, so another instance may start as soon
    /// as this returns (dropping the lock closes the connection in the background).
    pub async fn release(mut self) {
        use sqlx::Connection;
        if let Some(mut connection) = self._connection.take() {
            let _ = sqlx::query("SELECT pg_advisory_unlock($1)")
                .bind(CORE_LOCK)
                .execute(&mut connection)
                .await;
            let _ = connection.close().await;
        }
    }
}

impl From<sqlx::Error> for CoreStoreError {
    fn from(e: sqlx::Error) -> Self {
        CoreStoreError::Store(StoreError::Sqlx(e))
    }
}

/// The engine's [`CommitSink`] over the database.
pub struct CoreStore {
    store: Store,
    recorder: Option<Arc<dyn EventRecorder>>,
}

impl CoreStore {
    pub fn new(store: Store, recorder: Option<Arc<dyn EventRecorder>>) -> CoreStore {
        CoreStore { store, recorder }
    }

    /// Makes sure no other process runs the core on this database: two would close each
    /// other's calls and overwrite each other's agents. On PostgreSQL an advisory lock, held
    /// by a connection kept for the process's life (a crashed process's lock goes with its
    /// connection); SQLite is one host's file, served by one process.
    pub async fn lock_core(&self) -> Result<CoreLock, CoreStoreError> {
        if self.store.backend() != super::Backend::Postgres {
            return Ok(CoreLock { _connection: None });
        }
        let mut connection = self
            .store
            .pool()
            .acquire()
            .await
            .map_err(StoreError::Sqlx)?
            .detach();
        let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(CORE_LOCK)
            .fetch_one(&mut connection)
            .await?;
        if !locked {
            return Err(CoreStoreError::AnotherInstance);
        }
        Ok(CoreLock {
            _connection: Some(connection),
        })
    }

    /// Loads the last process's state: checks the stored state's version, closes the calls it
    /// left open (as of the last moment it was alive), reserves this process's first block of
    /// ids. Run once at start-up, before the engine is built.
    pub async fn load(&self) -> Result<RestoredState, CoreStoreError> {
        let mut tx = self.store.begin_write().await?;
        let version: Option<i64> =
            sqlx::query_scalar("SELECT value FROM core_meta WHERE name = 'state_version'")
                .fetch_optional(&mut *tx)
                .await?;
        match version {
            Some(found) if found > STATE_VERSION => {
                return Err(CoreStoreError::NewerState {
                    found,
                    supported: STATE_VERSION,
                });
            }
            Some(_) => {}
            None => {
                sqlx::query("INSERT INTO core_meta (name, value) VALUES ('state_version', $1)")
                    .bind(STATE_VERSION)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        let alive: Option<i64> = sqlx::query_scalar("SELECT value FROM core_meta WHERE name = 'alive_ms'")
            .fetch_optional(&mut *tx)
            .await?;
        if let Some(recorder) = &self.recorder {
            let closed = recorder
                .recover(&mut tx, alive.unwrap_or_else(now_millis))
                .await
                .map_err(CoreStoreError::Recover)?;
            if closed > 0 {
                tracing::warn!(
                    calls = closed,
                    "closed the calls the last process left open (ended by a server restart)"
                );
            }
        }
        let mut agents = Vec::new();
        for row in sqlx::query("SELECT agent, seq, session FROM core_agents")
            .fetch_all(&mut *tx)
            .await?
        {
            let user: String = row.try_get(0)?;
            let seq: i64 = row.try_get(1)?;
            let session: Option<String> = row.try_get(2)?;
            let session = match session {
                Some(text) => Some(serde_json::from_str::<StoredSession>(&text).map_err(|e| {
                    CoreStoreError::Corrupt {
                        what: format!("session of `{}`", user.escape_debug()),
                        detail: e.to_string(),
                    }
                })?),
                None => None,
            };
            agents.push(StoredAgent {
                user: crate::telephony::types::AgentId::new(&user),
                seq: seq.max(0) as u64,
                session,
            });
        }
        let mut callbacks = Vec::new();
        for row in sqlx::query("SELECT id, body FROM core_callbacks ORDER BY due_at_ms")
            .fetch_all(&mut *tx)
            .await?
        {
            let id: i64 = row.try_get(0)?;
            let body: String = row.try_get(1)?;
            callbacks.push(serde_json::from_str::<StoredCallback>(&body).map_err(|e| {
                CoreStoreError::Corrupt {
                    what: format!("callback {id}"),
                    detail: e.to_string(),
                }
            })?);
        }
        let mut leads = Vec::new();
        for row in sqlx::query("SELECT campaign, leads FROM core_leads")
            .fetch_all(&mut *tx)
            .await?
        {
            let campaign: i64 = row.try_get(0)?;
            let body: String = row.try_get(1)?;
            leads.push((
                CampaignId(campaign),
                serde_json::from_str(&body).map_err(|e| CoreStoreError::Corrupt {
                    what: format!("leads of campaign {campaign}"),
                    detail: e.to_string(),
                })?,
            ));
        }
        let ids = reserve_ids(&mut tx).await?;
        touch_alive(&mut tx).await?;
        tx.commit().await?;
        Ok(RestoredState {
            agents,
            callbacks,
            leads,
            ids,
        })
    }

    /// Records that the process is alive (calls it leaves open at a crash end here).
    pub async fn heartbeat(&self) -> Result<(), StoreError> {
        let mut conn = self.store.pool().acquire().await?;
        touch_alive(&mut conn).await
    }

    async fn write(&self, commit: &Commit) -> Result<Committed, String> {
        let mut tx = self.store.begin_write().await.map_err(|e| e.to_string())?;
        let conn: &mut AnyConnection = &mut tx;
        let db = |e: sqlx::Error| e.to_string();
        if let Some(recorder) = &self.recorder {
            // Each event behind a savepoint: one the database refuses for good (a value it will
            // never store) is skipped and logged, so it cannot hold every later change back.
            for event in &commit.events {
                sqlx::query("SAVEPOINT core_event")
                    .execute(&mut *conn)
                    .await
                    .map_err(db)?;
                match recorder.record(conn, event).await {
                    Ok(()) => {}
                    Err(e) if e.transient => return Err(e.message),
                    Err(e) => {
                        sqlx::query("ROLLBACK TO SAVEPOINT core_event")
                            .execute(&mut *conn)
                            .await
                            .map_err(db)?;
                        tracing::error!(
                            error = %e.message.escape_debug(),
                            event = %format!("{:?}", event.event).escape_debug(),
                            "the call log refused an event; it is skipped so that the rest is saved"
                        );
                    }
                }
                sqlx::query("RELEASE SAVEPOINT core_event")
                    .execute(&mut *conn)
                    .await
                    .map_err(db)?;
            }
        }
        let now = now_millis();
        for agent in &commit.agents {
            let session = match &agent.session {
                Some(s) => Some(serde_json::to_string(s).map_err(|e| e.to_string())?),
                None => None,
            };
            sqlx::query(
                "INSERT INTO core_agents (agent, seq, session, updated_at_ms) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (agent) DO UPDATE SET seq = excluded.seq, session = excluded.session, \
                 updated_at_ms = excluded.updated_at_ms",
            )
            .bind(agent.user.as_str())
            .bind(agent.seq as i64)
            .bind(session)
            .bind(now)
            .execute(&mut *conn)
            .await
            .map_err(db)?;
        }
        for callback in &commit.callbacks_saved {
            let body = serde_json::to_string(callback).map_err(|e| e.to_string())?;
            sqlx::query(
                "INSERT INTO core_callbacks (id, body, due_at_ms) VALUES ($1, $2, $3) \
                 ON CONFLICT (id) DO UPDATE SET body = excluded.body, due_at_ms = excluded.due_at_ms",
            )
            .bind(callback.callback.id.0 as i64)
            .bind(body)
            .bind(callback.callback.at.timestamp_millis())
            .execute(&mut *conn)
            .await
            .map_err(db)?;
        }
        for id in &commit.callbacks_removed {
            sqlx::query("DELETE FROM core_callbacks WHERE id = $1")
                .bind(id.0 as i64)
                .execute(&mut *conn)
                .await
                .map_err(db)?;
        }
        for (campaign, leads) in &commit.leads {
            let body = serde_json::to_string(leads).map_err(|e| e.to_string())?;
            sqlx::query(
                "INSERT INTO core_leads (campaign, leads) VALUES ($1, $2) \
                 ON CONFLICT (campaign) DO UPDATE SET leads = excluded.leads",
            )
            .bind(campaign.0)
            .bind(body)
            .execute(&mut *conn)
            .await
            .map_err(db)?;
        }
        let ids = if commit.reserve_ids {
            Some(reserve_ids(conn).await.map_err(|e| e.to_string())?)
        } else {
            None
        };
        touch_alive(conn).await.map_err(|e| e.to_string())?;
        tx.commit().await.map_err(db)?;
        if let Some(recorder) = &self.recorder {
            recorder.committed();
        }
        Ok(Committed { ids })
    }
}

#[async_trait]
impl CommitSink for CoreStore {
    async fn commit(&self, commit: &Commit) -> Result<Committed, String> {
        self.write(commit).await
    }
}

/// Reserves the next block of call / callback ids: `[first, end)`.
async fn reserve_ids(conn: &mut AnyConnection) -> Result<(u64, u64), StoreError> {
    let end: i64 =
        sqlx::query_scalar("UPDATE core_meta SET value = value + $1 WHERE name = 'next_id' RETURNING value")
            .bind(ID_BLOCK as i64)
            .fetch_one(&mut *conn)
            .await?;
    let end = end.max(ID_BLOCK as i64 + 1) as u64;
    Ok((end - ID_BLOCK, end))
}

async fn touch_alive(conn: &mut AnyConnection) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO core_meta (name, value) VALUES ('alive_ms', $1) \
         ON CONFLICT (name) DO UPDATE SET value = excluded.value",
    )
    .bind(now_millis())
    .execute(&mut *conn)
    .await?;
    Ok(())
}
