//! What the delivery queues (the Salesforce outbox, the CRM outbox) share: rows that are
//! `pending`, `parked` or `delivered`, counted the same way and put back the same way.

use sqlx::Row;

use super::{Store, StoreError};

/// A delivery queue's counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueStats {
    pub pending: i64,
    pub parked: i64,
    pub delivered: i64,
    /// Creation time of the oldest pending row.
    pub oldest_pending_created_at_ms: Option<i64>,
}

/// The counts of `table` (one of the queues' own table names, never user input).
pub async fn stats(store: &Store, table: &'static str) -> Result<QueueStats, StoreError> {
    let sql = format!(
        "SELECT \
           COALESCE(SUM(CASE WHEN state = 'pending' THEN 1 ELSE 0 END), 0), \
           COALESCE(SUM(CASE WHEN state = 'parked' THEN 1 ELSE 0 END), 0), \
           COALESCE(SUM(CASE WHEN state = 'delivered' THEN 1 ELSE 0 END), 0), \
           MIN(CASE WHEN state = 'pending' THEN created_at_ms END) \
         FROM {table}"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .fetch_one(store.pool())
        .await?;
    Ok(QueueStats {
        pending: row.try_get::<i64, _>(0)?,
        parked: row.try_get::<i64, _>(1)?,
        delivered: row.try_get::<i64, _>(2)?,
        oldest_pending_created_at_ms: row.try_get::<Option<i64>, _>(3)?,
    })
}

/// Puts parked row `id` of `table` back in the queue, due at `now_ms`; whether it was parked.
pub async fn requeue(store: &Store, table: &'static str, id: i64, now_ms: i64) -> Result<bool, StoreError> {
    let sql = format!(
        "UPDATE {table} SET state = 'pending', next_attempt_at_ms = $1 WHERE id = $2 AND state = 'parked'"
    );
    let done = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(now_ms)
        .bind(id)
        .execute(store.pool())
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Aborts a background task (a delivery worker's heartbeat) when its owner returns.
pub struct AbortOnDrop(pub tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Records that delivery worker `worker` is alive (`outbox_workers`, shared by the Salesforce
/// and CRM workers).
pub async fn beat(store: &Store, worker: &str, now_ms: i64) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO outbox_workers (worker, alive_ms) VALUES ($1, $2) \
         ON CONFLICT (worker) DO UPDATE SET alive_ms = excluded.alive_ms",
    )
    .bind(worker)
    .bind(now_ms)
    .execute(store.pool())
    .await?;
    Ok(())
}
