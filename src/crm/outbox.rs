//! The CRM outbox: each request the server sends to an external site (triggers server and
//! disposition) is a row of `crm_outbox`, inserted already rendered by [`enqueue`] in the
//! transaction that commits the call's state change, so a crash never loses one. The
//! [`CrmWorker`](super::worker::CrmWorker) claims due rows (leases, as the Salesforce outbox;
//! `FOR UPDATE SKIP LOCKED` on PostgreSQL) and delivers them at least once.

use std::sync::Arc;
use std::time::Duration;

use sqlx::{AnyConnection, Row};
use tokio::sync::Notify;

use super::model::Method;
use super::render::Rendered;
use crate::salesforce::outbox::WORKER_DEAD_AFTER_MS;
use crate::store::{Backend, Store, StoreError};

/// What a row is for.
#[derive(Debug, Clone)]
pub struct NewRequest<'a> {
    /// One request per key: a call that connects twice (a transfer) sends once.
    pub dedup_key: String,
    pub site: &'a str,
    pub campaign: Option<i64>,
    pub call_id: Option<String>,
    pub request: Rendered,
}

/// A claimed row.
#[derive(Debug, Clone, PartialEq)]
pub struct CrmRow {
    pub id: i64,
    pub site: String,
    pub request: Rendered,
    pub attempts: i64,
}

/// A row as an operator sees it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CrmEntry {
    pub id: i64,
    pub site: String,
    pub campaign: Option<i64>,
    pub call_id: Option<String>,
    pub method: String,
    pub url: String,
    pub state: String,
    pub attempts: i64,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub created_at_ms: i64,
    pub delivered_at_ms: Option<i64>,
}

pub use crate::store::delivery::QueueStats as CrmStats;

/// PostgreSQL refuses NUL in text.
fn clean(text: &str) -> String {
    text.replace('\0', "")
}

/// Inserts the request on `conn` (the committing transaction); `None` when its key was
/// enqueued before.
pub async fn enqueue(
    conn: &mut AnyConnection,
    new: &NewRequest<'_>,
    now_ms: i64,
) -> Result<Option<i64>, StoreError> {
    let id: Option<i64> = sqlx::query_scalar(
        "INSERT INTO crm_outbox (dedup_key, site, campaign, call_id, method, url, content_type, body, \
         next_attempt_at_ms, created_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) \
         ON CONFLICT (dedup_key) DO NOTHING RETURNING id",
    )
    .bind(clean(&new.dedup_key))
    .bind(new.site)
    .bind(new.campaign)
    .bind(new.call_id.as_deref())
    .bind(new.request.method.as_str())
    .bind(clean(&new.request.url))
    .bind(new.request.content_type.as_deref())
    .bind(clean(&new.request.body))
    .bind(now_ms)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(id)
}

/// The table and the worker's wake-up.
#[derive(Debug, Clone)]
pub struct CrmOutbox {
    store: Store,
    notify: Arc<Notify>,
}

fn claim_free(alias: &str) -> String {
    format!(
        "({alias}claim_expires_at_ms IS NULL OR {alias}claim_expires_at_ms <= $3 \
         OR {alias}claimed_by IN (SELECT worker FROM outbox_workers WHERE alive_ms <= $3 - {WORKER_DEAD_AFTER_MS}))"
    )
}

impl CrmOutbox {
    pub fn new(store: Store) -> Self {
        Self {
            store,
            notify: Arc::new(Notify::new()),
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn notify(&self) {
        self.notify.notify_one();
    }

    pub async fn notified(&self) {
        self.notify.notified().await;
    }

    /// Records that `worker` is alive (the table the Salesforce workers beat in).
    pub async fn beat(&self, worker: &str, now_ms: i64) -> Result<(), StoreError> {
        crate::store::delivery::beat(&self.store, worker, now_ms).await
    }

    /// Claims up to `limit` due rows for `worker` until `now_ms + lease`.
    pub async fn claim(
        &self,
        worker: &str,
        limit: usize,
        lease: Duration,
        now_ms: i64,
    ) -> Result<Vec<CrmRow>, StoreError> {
        let mut candidates = format!(
            "SELECT o.id FROM crm_outbox o WHERE o.state = 'pending' AND o.next_attempt_at_ms <= $3 AND {} \
             ORDER BY o.id LIMIT $4",
            claim_free("o.")
        );
        if self.store.backend() == Backend::Postgres {
            candidates.push_str(" FOR UPDATE SKIP LOCKED");
        }
        let sql = format!(
            "UPDATE crm_outbox SET claimed_by = $1, claim_expires_at_ms = $2 WHERE id IN ({candidates}) AND {} \
             RETURNING id, site, method, url, content_type, body, attempts",
            claim_free("")
        );
        let lease_ms = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX / 2);
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(worker)
            .bind(now_ms + lease_ms)
            .bind(now_ms)
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(self.store.pool())
            .await?;
        let mut claimed = rows
            .iter()
            .map(|row| -> Result<CrmRow, sqlx::Error> {
                let method: String = row.try_get("method")?;
                Ok(CrmRow {
                    id: row.try_get("id")?,
                    site: row.try_get("site")?,
                    request: Rendered {
                        method: if method == "GET" {
                            Method::Get
                        } else {
                            Method::Post
                        },
                        url: row.try_get("url")?,
                        content_type: row.try_get("content_type")?,
                        body: row.try_get("body")?,
                    },
                    attempts: row.try_get("attempts")?,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        claimed.sort_by_key(|r| r.id);
        Ok(claimed)
    }

    pub async fn mark_delivered(
        &self,
        worker: &str,
        id: i64,
        status: u16,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE crm_outbox SET state = 'delivered', delivered_at_ms = $1, last_status = $2, last_error = NULL, \
             attempts = attempts + 1, claimed_by = NULL, claim_expires_at_ms = NULL \
             WHERE id = $3 AND claimed_by = $4 AND state = 'pending'",
        )
        .bind(now_ms)
        .bind(i64::from(status))
        .bind(id)
        .bind(worker)
        .execute(self.store.pool())
        .await?;
        Ok(())
    }

    pub async fn retry_later(
        &self,
        worker: &str,
        id: i64,
        status: Option<u16>,
        error: &str,
        next_attempt_at_ms: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE crm_outbox SET attempts = attempts + 1, next_attempt_at_ms = $1, last_status = $2, last_error = $3, \
             claimed_by = NULL, claim_expires_at_ms = NULL WHERE id = $4 AND claimed_by = $5 AND state = 'pending'",
        )
        .bind(next_attempt_at_ms)
        .bind(status.map(i64::from))
        .bind(clean(error))
        .bind(id)
        .bind(worker)
        .execute(self.store.pool())
        .await?;
        Ok(())
    }

    /// Parks a row the CRM refused: it waits for an operator, never retried by itself.
    pub async fn park(
        &self,
        worker: &str,
        id: i64,
        status: Option<u16>,
        error: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE crm_outbox SET state = 'parked', attempts = attempts + 1, last_status = $1, last_error = $2, \
             claimed_by = NULL, claim_expires_at_ms = NULL WHERE id = $3 AND claimed_by = $4 AND state = 'pending'",
        )
        .bind(status.map(i64::from))
        .bind(clean(error))
        .bind(id)
        .bind(worker)
        .execute(self.store.pool())
        .await?;
        Ok(())
    }

    /// The site answered again: its rows waiting out a backoff are due now.
    pub async fn expedite_site(&self, site: &str, now_ms: i64) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "UPDATE crm_outbox SET next_attempt_at_ms = $1 \
             WHERE site = $2 AND state = 'pending' AND claimed_by IS NULL AND attempts > 0 AND next_attempt_at_ms > $1",
        )
        .bind(now_ms)
        .bind(site)
        .execute(self.store.pool())
        .await?;
        Ok(done.rows_affected())
    }

    /// Puts a parked row back in the queue.
    pub async fn requeue(&self, id: i64, now_ms: i64) -> Result<bool, StoreError> {
        let requeued = crate::store::delivery::requeue(&self.store, "crm_outbox", id, now_ms).await?;
        if requeued {
            self.notify();
        }
        Ok(requeued)
    }

    pub async fn stats(&self) -> Result<CrmStats, StoreError> {
        crate::store::delivery::stats(&self.store, "crm_outbox").await
    }

    /// Rows in `state`, oldest first.
    pub async fn entries(&self, state: &str, limit: i64) -> Result<Vec<CrmEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, site, campaign, call_id, method, url, state, attempts, last_status, last_error, \
             created_at_ms, delivered_at_ms FROM crm_outbox WHERE state = $1 ORDER BY id LIMIT $2",
        )
        .bind(state)
        .bind(limit)
        .fetch_all(self.store.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(CrmEntry {
                    id: r.try_get(0)?,
                    site: r.try_get(1)?,
                    campaign: r.try_get(2)?,
                    call_id: r.try_get(3)?,
                    method: r.try_get(4)?,
                    url: r.try_get(5)?,
                    state: r.try_get(6)?,
                    attempts: r.try_get(7)?,
                    last_status: r.try_get(8)?,
                    last_error: r.try_get(9)?,
                    created_at_ms: r.try_get(10)?,
                    delivered_at_ms: r.try_get(11)?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }
}
