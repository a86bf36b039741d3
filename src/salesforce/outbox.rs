//! The durable outbox. Every Salesforce write is a row of `salesforce_outbox`, inserted with
//! [`enqueue`] in the same database transaction as the state change that causes it (call
//! connected, ended, released, record created). A [`Worker`](super::worker::Worker) claims due
//! rows and delivers them at least once; delivery is idempotent (Task upserts by the call's
//! external id, record updates by Id), so a redelivery after a crash updates instead of
//! inserting twice.
//!
//! Ordering: rows with the same `record_key` are delivered one at a time in id order — a row
//! is claimable only when no earlier row of its key is still pending. Claims are leases: a
//! worker that dies leaves its rows to be claimed again when the lease expires. On PostgreSQL
//! several workers claim with `FOR UPDATE SKIP LOCKED` and never hold the same row at once.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};
use sqlx::{AnyConnection, Row};
use tokio::sync::Notify;

use crate::store::{Backend, Store, StoreError};

/// One write to Salesforce.
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    /// Create or update the record whose `external_field` equals `external_value`.
    Upsert {
        sobject: String,
        external_field: String,
        external_value: String,
        fields: Map<String, Value>,
        /// Sent only if the record does not exist yet (e.g. `TaskSubtype`).
        create_only: Map<String, Value>,
    },
    /// Update the record `id`.
    Update {
        sobject: String,
        id: String,
        fields: Map<String, Value>,
    },
}

impl Write {
    /// The ordering unit: writes to one record are delivered in order.
    pub fn record_key(&self) -> String {
        match self {
            Write::Upsert {
                sobject,
                external_field,
                external_value,
                ..
            } => {
                format!("{sobject}/{external_field}/{external_value}")
            }
            Write::Update { sobject, id, .. } => format!("{sobject}/Id/{id}"),
        }
    }
}

/// A claimed row.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxRow {
    pub id: i64,
    pub record_key: String,
    pub write: Write,
    /// Deliveries tried before this one.
    pub attempts: i64,
    /// An earlier write to the same record was delivered: the record exists, so create-only
    /// fields are left out.
    pub delivered_before: bool,
}

/// A row as an operator sees it (`/admin/salesforce`, tests).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OutboxEntry {
    pub id: i64,
    pub record_key: String,
    pub state: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub salesforce_id: Option<String>,
    pub created_at_ms: i64,
    pub delivered_at_ms: Option<i64>,
}

pub use crate::store::delivery::QueueStats as OutboxStats;

/// Inserts `write` on `conn` — pass the transaction of the state change that causes it. Call
/// [`Outbox::notify`] after committing to wake the worker.
pub async fn enqueue(conn: &mut AnyConnection, write: &Write, now_ms: i64) -> Result<i64, StoreError> {
    let (operation, sobject, ext_field, ext_value, record_id, fields, create_only) = match write {
        Write::Upsert {
            sobject,
            external_field,
            external_value,
            fields,
            create_only,
        } => (
            "upsert",
            sobject,
            Some(external_field.as_str()),
            Some(external_value.as_str()),
            None,
            fields,
            create_only.clone(),
        ),
        Write::Update { sobject, id, fields } => (
            "update",
            sobject,
            None,
            None,
            Some(id.as_str()),
            fields,
            Map::new(),
        ),
    };
    if let Some(id) = merge_into_pending(conn, write, operation, fields, &create_only).await? {
        return Ok(id);
    }
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO salesforce_outbox (record_key, operation, sobject, ext_id_field, ext_id_value, record_id, \
         fields, create_only_fields, next_attempt_at_ms, created_at_ms) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) RETURNING id",
    )
    .bind(write.record_key())
    .bind(operation)
    .bind(sobject.as_str())
    .bind(ext_field)
    .bind(ext_value)
    .bind(record_id)
    .bind(Value::Object(fields.clone()).to_string())
    .bind(Value::Object(create_only).to_string())
    .bind(now_ms)
    .fetch_one(&mut *conn)
    .await?;
    Ok(id)
}

/// Coalesces: when the record's last pending write is not claimed yet, `write` joins it (its
/// fields over the older ones), so the two go out as one record of one request. Returns the
/// row's id, or `None` when a new row is needed (nothing pending, or it is being delivered).
async fn merge_into_pending(
    conn: &mut AnyConnection,
    write: &Write,
    operation: &str,
    fields: &Map<String, Value>,
    create_only: &Map<String, Value>,
) -> Result<Option<i64>, StoreError> {
    // On PostgreSQL the row is locked until commit, so two merges never overwrite each other
    // and a worker's claim (SKIP LOCKED) passes it by meanwhile; SQLite's write lock is taken
    // at BEGIN already. Only an unclaimed row is locked (a claimed one is a worker's, whose
    // delivery must not wait on us); when the record's oldest row is claimed, the others wait
    // behind it anyway, so the last unclaimed row is the record's last row.
    let lock = if conn.backend_name().eq_ignore_ascii_case("postgresql") {
        " FOR UPDATE"
    } else {
        ""
    };
    let sql = format!(
        "SELECT id, operation, fields, create_only_fields, claimed_by FROM salesforce_outbox \
         WHERE record_key = $1 AND state = 'pending' AND claimed_by IS NULL ORDER BY id DESC LIMIT 1{lock}"
    );
    let Some(row) = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(write.record_key())
        .fetch_optional(&mut *conn)
        .await?
    else {
        return Ok(None);
    };
    let id: i64 = row.try_get(0)?;
    let pending_operation: String = row.try_get(1)?;
    let claimed_by: Option<String> = row.try_get(4)?;
    if claimed_by.is_some() || pending_operation != operation {
        return Ok(None);
    }
    let parse = |text: String| match serde_json::from_str::<Value>(&text) {
        Ok(Value::Object(map)) => Some(map),
        _ => None,
    };
    let (Some(mut merged), Some(mut merged_create_only)) = (parse(row.try_get(2)?), parse(row.try_get(3)?))
    else {
        return Ok(None);
    };
    merged.extend(fields.clone());
    merged_create_only.extend(create_only.clone());
    let updated = sqlx::query(
        "UPDATE salesforce_outbox SET fields = $1, create_only_fields = $2 \
         WHERE id = $3 AND state = 'pending' AND claimed_by IS NULL",
    )
    .bind(Value::Object(merged).to_string())
    .bind(Value::Object(merged_create_only).to_string())
    .bind(id)
    .execute(&mut *conn)
    .await?;
    Ok((updated.rows_affected() == 1).then_some(id))
}

/// The outbox table plus the in-process wake-up of the worker.
#[derive(Debug, Clone)]
pub struct Outbox {
    store: Store,
    notify: Arc<Notify>,
}

/// A worker that has not beaten for this long is dead: its claims are free.
pub const WORKER_DEAD_AFTER_MS: i64 = 5_000;

/// A claim is free once its lease ran out or its worker stopped beating (`$3` is now).
fn claim_free(alias: &str) -> String {
    format!(
        "({alias}claim_expires_at_ms IS NULL OR {alias}claim_expires_at_ms <= $3 \
         OR {alias}claimed_by IN (SELECT worker FROM outbox_workers WHERE alive_ms <= $3 - {WORKER_DEAD_AFTER_MS}))"
    )
}

/// Due rows, at most one per record key (the oldest pending one).
fn claim_candidates() -> String {
    format!(
        "SELECT o.id FROM salesforce_outbox o \
         WHERE o.state = 'pending' AND o.next_attempt_at_ms <= $3 AND {} \
           AND NOT EXISTS (SELECT 1 FROM salesforce_outbox p \
                           WHERE p.record_key = o.record_key AND p.state = 'pending' AND p.id < o.id) \
         ORDER BY o.id LIMIT $4",
        claim_free("o.")
    )
}

const ROW_COLUMNS: &str = "id, record_key, operation, sobject, ext_id_field, ext_id_value, record_id, fields, create_only_fields, attempts";

impl Outbox {
    pub fn new(store: Store) -> Self {
        Self {
            store,
            notify: Arc::new(Notify::new()),
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Enqueues `write` in a transaction of its own and wakes the worker.
    pub async fn enqueue(&self, write: &Write, now_ms: i64) -> Result<i64, StoreError> {
        let mut tx = self.store.begin_write().await?;
        let id = enqueue(&mut tx, write, now_ms).await?;
        tx.commit().await?;
        self.notify();
        Ok(id)
    }

    /// Records that `worker` is alive (see [`WORKER_DEAD_AFTER_MS`]).
    pub async fn beat(&self, worker: &str, now_ms: i64) -> Result<(), StoreError> {
        crate::store::delivery::beat(&self.store, worker, now_ms).await
    }

    /// Forgets workers dead for a day (their names are per process).
    pub async fn forget_dead_workers(&self, now_ms: i64) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM outbox_workers WHERE alive_ms < $1")
            .bind(now_ms - 86_400_000)
            .execute(self.store.pool())
            .await?;
        Ok(())
    }

    /// Wakes the worker (after a transaction that enqueued has committed).
    pub fn notify(&self) {
        self.notify.notify_one();
    }

    /// Resolves when [`Outbox::notify`] is called.
    pub async fn notified(&self) {
        self.notify.notified().await;
    }

    /// Claims up to `limit` due rows — at most one per record key, the oldest — for `worker`
    /// until `now_ms + lease`.
    pub async fn claim(
        &self,
        worker: &str,
        limit: usize,
        lease: Duration,
        now_ms: i64,
    ) -> Result<Vec<OutboxRow>, StoreError> {
        let candidates = match self.store.backend() {
            Backend::Sqlite => claim_candidates(),
            // Concurrent workers skip each other's locked rows instead of waiting or
            // claiming them twice.
            Backend::Postgres => format!("{} FOR UPDATE SKIP LOCKED", claim_candidates()),
        };
        let sql = format!(
            "UPDATE salesforce_outbox SET claimed_by = $1, claim_expires_at_ms = $2 \
             WHERE id IN ({candidates}) AND {} \
             RETURNING {ROW_COLUMNS}",
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
        let mut claimed = rows.iter().map(row_from).collect::<Result<Vec<_>, _>>()?;
        claimed.sort_by_key(|r| r.id);
        self.mark_known_records(&mut claimed).await?;
        Ok(claimed)
    }

    /// Sets `delivered_before` on rows whose record already received a write.
    async fn mark_known_records(&self, rows: &mut [OutboxRow]) -> Result<(), StoreError> {
        let keys: Vec<&str> = rows
            .iter()
            .filter(|r| matches!(&r.write, Write::Upsert { create_only, .. } if !create_only.is_empty()))
            .map(|r| r.record_key.as_str())
            .collect();
        if keys.is_empty() {
            return Ok(());
        }
        let mut known = std::collections::HashSet::new();
        for chunk in keys.chunks(500) {
            let placeholders = (1..=chunk.len())
                .map(|i| format!("${i}"))
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!(
                "SELECT DISTINCT record_key FROM salesforce_outbox WHERE state = 'delivered' AND record_key IN ({placeholders})"
            );
            let mut query = sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql));
            for key in chunk {
                query = query.bind(*key);
            }
            known.extend(query.fetch_all(self.store.pool()).await?);
        }
        for row in rows {
            row.delivered_before = known.contains(&row.record_key);
        }
        Ok(())
    }

    /// Marks rows delivered (only those `worker` still holds).
    pub async fn mark_delivered(
        &self,
        worker: &str,
        delivered: &[(i64, Option<String>)],
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.store.begin_write().await?;
        for (id, salesforce_id) in delivered {
            sqlx::query(
                "UPDATE salesforce_outbox SET state = 'delivered', delivered_at_ms = $1, salesforce_id = $2, \
                 attempts = attempts + 1, claimed_by = NULL, claim_expires_at_ms = NULL, last_error = NULL \
                 WHERE id = $3 AND claimed_by = $4 AND state = 'pending'",
            )
            .bind(now_ms)
            .bind(salesforce_id.as_deref())
            .bind(id)
            .bind(worker)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Releases a row for another attempt at `next_attempt_at_ms`.
    pub async fn retry_later(
        &self,
        worker: &str,
        id: i64,
        error: &str,
        next_attempt_at_ms: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE salesforce_outbox SET attempts = attempts + 1, next_attempt_at_ms = $1, last_error = $2, \
             claimed_by = NULL, claim_expires_at_ms = NULL WHERE id = $3 AND claimed_by = $4 AND state = 'pending'",
        )
        .bind(next_attempt_at_ms)
        .bind(error)
        .bind(id)
        .bind(worker)
        .execute(self.store.pool())
        .await?;
        Ok(())
    }

    /// Parks a row after a permanent error: it waits for an operator and blocks nothing.
    pub async fn park(&self, worker: &str, id: i64, error: &str) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE salesforce_outbox SET state = 'parked', attempts = attempts + 1, last_error = $1, \
             claimed_by = NULL, claim_expires_at_ms = NULL WHERE id = $2 AND claimed_by = $3 AND state = 'pending'",
        )
        .bind(error)
        .bind(id)
        .bind(worker)
        .execute(self.store.pool())
        .await?;
        Ok(())
    }

    /// Salesforce answered again: rows waiting out a backoff become due now, so an outage's
    /// backlog drains as soon as the org is back instead of at each row's next attempt.
    pub async fn expedite_retries(&self, now_ms: i64) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "UPDATE salesforce_outbox SET next_attempt_at_ms = $1 \
             WHERE state = 'pending' AND claimed_by IS NULL AND attempts > 0 AND next_attempt_at_ms > $1",
        )
        .bind(now_ms)
        .execute(self.store.pool())
        .await?;
        Ok(done.rows_affected())
    }

    /// Puts a parked row back in the queue (after an operator fixed the cause).
    pub async fn requeue(&self, id: i64, now_ms: i64) -> Result<bool, StoreError> {
        let requeued = crate::store::delivery::requeue(&self.store, "salesforce_outbox", id, now_ms).await?;
        if requeued {
            self.notify();
        }
        Ok(requeued)
    }

    pub async fn stats(&self) -> Result<OutboxStats, StoreError> {
        crate::store::delivery::stats(&self.store, "salesforce_outbox").await
    }

    /// Rows in `state` ('pending', 'parked', 'delivered'), oldest first.
    pub async fn entries(&self, state: &str, limit: i64) -> Result<Vec<OutboxEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, record_key, state, attempts, last_error, salesforce_id, created_at_ms, delivered_at_ms \
             FROM salesforce_outbox WHERE state = $1 ORDER BY id LIMIT $2",
        )
        .bind(state)
        .bind(limit)
        .fetch_all(self.store.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(OutboxEntry {
                    id: r.try_get(0)?,
                    record_key: r.try_get(1)?,
                    state: r.try_get(2)?,
                    attempts: r.try_get(3)?,
                    last_error: r.try_get(4)?,
                    salesforce_id: r.try_get(5)?,
                    created_at_ms: r.try_get(6)?,
                    delivered_at_ms: r.try_get(7)?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }
}

fn row_from(row: &sqlx::any::AnyRow) -> Result<OutboxRow, StoreError> {
    let json = |column: &str| -> Result<Map<String, Value>, StoreError> {
        let text: String = row.try_get(column)?;
        match serde_json::from_str(&text) {
            Ok(Value::Object(map)) => Ok(map),
            _ => Err(StoreError::Sqlx(sqlx::Error::Decode(
                format!("outbox column {column} is not a JSON object").into(),
            ))),
        }
    };
    let operation: String = row.try_get("operation")?;
    let sobject: String = row.try_get("sobject")?;
    let write = if operation == "upsert" {
        Write::Upsert {
            sobject,
            external_field: row
                .try_get::<Option<String>, _>("ext_id_field")?
                .unwrap_or_default(),
            external_value: row
                .try_get::<Option<String>, _>("ext_id_value")?
                .unwrap_or_default(),
            fields: json("fields")?,
            create_only: json("create_only_fields")?,
        }
    } else {
        Write::Update {
            sobject,
            id: row.try_get::<Option<String>, _>("record_id")?.unwrap_or_default(),
            fields: json("fields")?,
        }
    };
    Ok(OutboxRow {
        id: row.try_get("id")?,
        record_key: row.try_get("record_key")?,
        write,
        attempts: row.try_get("attempts")?,
        delivered_before: false,
    })
}
