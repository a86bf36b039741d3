//! Group commit of new contacts on SQLite.
//!
//! SQLite has one writer at a time, and each commit costs far more than the statement in it,
//! so inserting one contact per transaction caps new-key calls at a few thousand a second. A
//! single task takes the inserts queued by concurrent calls and writes each group in one
//! transaction, with the statements of the one-by-one path: for a key, `INSERT … ON CONFLICT
//! DO NOTHING RETURNING id`, then the existing id when the key was already there (also when
//! inserted earlier in the same group); for empty DATA, the insert and the update that makes
//! the id its key. A call waits for its group's commit, never for a timer: with one call in
//! flight a group is that one insert.
//!
//! If a group fails, every caller in it is told to insert by itself, so each sees its own
//! error and no caller is answered by a transaction that did not commit.

use sqlx::AnyPool;
use tokio::sync::{mpsc, oneshot};

use super::directory::{INSERT_KEYED, INSERT_UNKEYED, SELECT_ID, SET_OWN_KEY};

/// The most inserts one transaction takes.
const GROUP_MAX: usize = 128;

/// An insert waiting for its group.
struct Pending {
    database_id: i64,
    /// `None`: a contact keyed by its own id.
    key: Option<String>,
    phone: Option<String>,
    now: i64,
    /// `(id, created)`, or `None`: the group failed, insert by yourself.
    reply: oneshot::Sender<Option<(i64, bool)>>,
}

/// The queue in front of the writing task. Cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct GroupInserter {
    queue: mpsc::Sender<Pending>,
}

impl GroupInserter {
    /// Starts the writing task on the current tokio runtime; `None` outside one. The task
    /// ends when the last clone of the inserter is dropped.
    pub(crate) fn start(pool: AnyPool) -> Option<GroupInserter> {
        let runtime = tokio::runtime::Handle::try_current().ok()?;
        let (queue, inbox) = mpsc::channel(4 * GROUP_MAX);
        runtime.spawn(write_groups(pool, inbox));
        Some(GroupInserter { queue })
    }

    /// Inserts the contact keyed `key` unless present: `(id, created)`. `None` when the caller
    /// must insert by itself (the group failed, or the writing task is gone with its runtime).
    pub(crate) async fn insert_keyed(
        &self,
        database_id: i64,
        key: &str,
        phone: Option<&str>,
        now: i64,
    ) -> Option<(i64, bool)> {
        self.submit(database_id, Some(key.to_owned()), phone, now).await
    }

    /// Inserts a contact keyed by its own id: that id, or `None` as for
    /// [`GroupInserter::insert_keyed`].
    pub(crate) async fn insert_unkeyed(
        &self,
        database_id: i64,
        phone: Option<&str>,
        now: i64,
    ) -> Option<i64> {
        self.submit(database_id, None, phone, now).await.map(|(id, _)| id)
    }

    async fn submit(
        &self,
        database_id: i64,
        key: Option<String>,
        phone: Option<&str>,
        now: i64,
    ) -> Option<(i64, bool)> {
        let (reply, answer) = oneshot::channel();
        let pending = Pending {
            database_id,
            key,
            phone: phone.map(str::to_owned),
            now,
            reply,
        };
        self.queue.send(pending).await.ok()?;
        answer.await.ok().flatten()
    }
}

async fn write_groups(pool: AnyPool, mut inbox: mpsc::Receiver<Pending>) {
    let mut group = Vec::with_capacity(GROUP_MAX);
    while inbox.recv_many(&mut group, GROUP_MAX).await > 0 {
        match write_group(&pool, &group).await {
            Ok(results) => {
                for (pending, result) in group.drain(..).zip(results) {
                    let _ = pending.reply.send(Some(result));
                }
            }
            Err(e) => {
                tracing::debug!(error = %e, inserts = group.len(), "contact group insert failed; callers insert one by one");
                for pending in group.drain(..) {
                    let _ = pending.reply.send(None);
                }
            }
        }
    }
}

async fn write_group(pool: &AnyPool, group: &[Pending]) -> Result<Vec<(i64, bool)>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let mut results = Vec::with_capacity(group.len());
    for pending in group {
        let result = match &pending.key {
            Some(key) => {
                let inserted: Option<i64> = sqlx::query_scalar(INSERT_KEYED)
                    .bind(pending.database_id)
                    .bind(key.as_str())
                    .bind(pending.phone.as_deref())
                    .bind(pending.now)
                    .fetch_optional(&mut *tx)
                    .await?;
                match inserted {
                    Some(id) => (id, true),
                    // The transaction holds SQLite's write lock: the row in the way is
                    // committed or ours, and stays.
                    None => (
                        sqlx::query_scalar(SELECT_ID)
                            .bind(pending.database_id)
                            .bind(key.as_str())
                            .fetch_one(&mut *tx)
                            .await?,
                        false,
                    ),
                }
            }
            None => {
                let id: i64 = sqlx::query_scalar(INSERT_UNKEYED)
                    .bind(pending.database_id)
                    .bind(pending.phone.as_deref())
                    .bind(pending.now)
                    .fetch_one(&mut *tx)
                    .await?;
                sqlx::query(SET_OWN_KEY)
                    .bind(id.to_string())
                    .bind(id)
                    .bind(pending.database_id)
                    .execute(&mut *tx)
                    .await?;
                (id, true)
            }
        };
        results.push(result);
    }
    tx.commit().await?;
    Ok(results)
}
