//! A small key/value table for state the server must keep across restarts (for example a
//! rotated Salesforce refresh token, or which demo roster was seeded).

use super::{Store, StoreError, now_millis};

/// One stored setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    pub key: String,
    pub value: String,
    pub updated_at_ms: i64,
}

impl Store {
    /// The setting `key`, if stored.
    pub async fn setting(&self, key: &str) -> Result<Option<Setting>, StoreError> {
        let row: Option<(String, String, i64)> =
            sqlx::query_as("SELECT key, value, updated_at_ms FROM settings WHERE key = $1")
                .bind(key)
                .fetch_optional(self.pool())
                .await?;
        Ok(row.map(|(key, value, updated_at_ms)| Setting {
            key,
            value,
            updated_at_ms,
        }))
    }

    /// Stores `value` under `key`, replacing any previous value.
    pub async fn put_setting(&self, key: &str, value: &str) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO settings (key, value, updated_at_ms) VALUES ($1, $2, $3) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at_ms = excluded.updated_at_ms",
        )
        .bind(key)
        .bind(value)
        .bind(now_millis())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Replaces `key`'s value only if it still equals `expected` (compare-and-set, so two
    /// instances rotating the same token cannot overwrite each other). Returns whether it did.
    pub async fn replace_setting(&self, key: &str, expected: &str, value: &str) -> Result<bool, StoreError> {
        let done =
            sqlx::query("UPDATE settings SET value = $1, updated_at_ms = $2 WHERE key = $3 AND value = $4")
                .bind(value)
                .bind(now_millis())
                .bind(key)
                .bind(expected)
                .execute(self.pool())
                .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Removes `key`; returns whether it existed.
    pub async fn delete_setting(&self, key: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM settings WHERE key = $1")
            .bind(key)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() == 1)
    }
}
