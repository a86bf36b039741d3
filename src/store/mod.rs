//! Storage: one sqlx pool over SQLite (the embedded default) or PostgreSQL (several instances),
//! chosen by the database URL, plus the migrations in `migrations/`.
//!
//! Queries go through sqlx's `Any` driver so one query text serves both databases: placeholders
//! are `$1, $2, …` (SQLite accepts them too), and since `Any` has no chrono types, instants are
//! stored as `BIGINT` Unix milliseconds. Where the dialects differ (`FOR UPDATE SKIP LOCKED`,
//! identity columns) code branches on [`Backend`], and each backend has its own migration set.

pub mod core;
pub mod delivery;
mod settings;
pub mod stats;

use std::str::FromStr;
use std::sync::Once;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, ConnectOptions, Connection, Executor};

pub use settings::Setting;

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");

/// The database behind the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// The backend a database URL selects.
    pub fn from_url(url: &str) -> Result<Backend, StoreError> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else {
            Err(StoreError::UnsupportedUrl(redact_url(url)))
        }
    }

    fn migrator(self) -> &'static Migrator {
        match self {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database URL `{0}` is not supported: use sqlite://FILE or postgres://…")]
    UnsupportedUrl(String),
    #[error("cannot connect to the database at `{url}`: {source}")]
    Connect {
        url: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error(
        "the database was written by a newer version of ctibridge (its migration {0} is unknown \
         to this binary); run that version or a newer one"
    )]
    NewerSchema(i64),
    #[error("database error: {0}")]
    Sqlx(#[from] sqlx::Error),
}

/// What `/readyz` reports about the database.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Readiness {
    pub backend: Backend,
    /// Versions of the migrations this binary ships.
    pub expected_migrations: usize,
    /// Of those, how many the database has applied successfully.
    pub applied_migrations: usize,
}

impl Readiness {
    pub fn is_ready(&self) -> bool {
        self.applied_migrations == self.expected_migrations
    }
}

/// The pool and the backend it talks to. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// The connection URL (may hold a password: never logged; see [`redact_url`]).
    url: std::sync::Arc<str>,
}

/// The URL with any password replaced, fit for logs and error messages.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("*****"));
            parsed.to_string()
        }
        Ok(_) => url.to_owned(),
        Err(_) => "<unparsable URL>".to_owned(),
    }
}

impl Store {
    /// Connects (creating the SQLite file when missing) without migrating.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Store, StoreError> {
        static DRIVERS: Once = Once::new();
        DRIVERS.call_once(sqlx::any::install_default_drivers);

        let backend = Backend::from_url(url)?;
        let url = match backend {
            Backend::Sqlite => sqlite_url_with_create(url),
            Backend::Postgres => url.to_owned(),
        };
        let connect_err = |source| StoreError::Connect {
            url: redact_url(&url),
            source,
        };
        let mut options = AnyConnectOptions::from_str(&url).map_err(connect_err)?;
        options = options.log_slow_statements(tracing::log::LevelFilter::Warn, Duration::from_secs(1));
        options = options.log_statements(tracing::log::LevelFilter::Trace);

        // One direct connection first: an unreachable server fails now, with its own error,
        // instead of the pool retrying until its acquire timeout.
        let mut conn = options.connect().await.map_err(connect_err)?;
        if backend == Backend::Sqlite {
            // WAL is a property of the file; set it once, before the pool opens other
            // connections (switching needs an exclusive lock).
            conn.execute("PRAGMA journal_mode = WAL")
                .await
                .map_err(connect_err)?;
        }
        conn.close().await.map_err(connect_err)?;

        let pool = AnyPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // WAL + NORMAL: durable across process crashes, one fsync per checkpoint.
                        conn.execute(
                            "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;",
                        )
                        .await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await
            .map_err(connect_err)?;
        Ok(Store {
            pool,
            backend,
            url: url.into(),
        })
    }

    /// Connects and applies every pending migration.
    pub async fn connect_and_migrate(url: &str, max_connections: u32) -> Result<Store, StoreError> {
        let store = Store::connect(url, max_connections).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// Applies pending migrations; a no-op when all are applied. Concurrent callers on
    /// PostgreSQL serialise on sqlx's advisory lock.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        match self.backend.migrator().run(&self.pool).await {
            Ok(()) => Ok(()),
            Err(sqlx::migrate::MigrateError::VersionMissing(version)) => {
                Err(StoreError::NewerSchema(version))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Whether the database answers and has every migration of this binary applied.
    pub async fn readiness(&self) -> Result<Readiness, StoreError> {
        let migrator = self.backend.migrator();
        let expected: Vec<i64> = migrator
            .iter()
            .filter(|m| m.migration_type.is_up_migration())
            .map(|m| m.version)
            .collect();
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        let has_table: bool = match self.backend {
            Backend::Sqlite => sqlx::query_scalar::<_, i64>(
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
            )
            .fetch_one(&self.pool)
            .await?
                > 0,
            Backend::Postgres => {
                sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM pg_catalog.pg_tables WHERE tablename = '_sqlx_migrations' AND schemaname = current_schema()")
                    .fetch_one(&self.pool)
                    .await?
                    > 0
            }
        };
        let applied: Vec<i64> = if has_table {
            sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success = TRUE")
                .fetch_all(&self.pool)
                .await?
        } else {
            Vec::new()
        };
        Ok(Readiness {
            backend: self.backend,
            expected_migrations: expected.len(),
            applied_migrations: expected.iter().filter(|v| applied.contains(v)).count(),
        })
    }

    /// A transaction that will write. On SQLite it takes the write lock at BEGIN (`BEGIN
    /// IMMEDIATE`): a deferred transaction that reads first and writes later fails with
    /// SQLITE_BUSY_SNAPSHOT when another connection committed in between, and busy_timeout
    /// cannot help it.
    pub async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>, StoreError> {
        Ok(match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        })
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The connection URL (for a dedicated connection such as a `LISTEN`; never log it).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Closes every connection (graceful shutdown; tests that drop databases).
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Adds `mode=rwc` (create when missing) to a SQLite URL that names no mode.
fn sqlite_url_with_create(url: &str) -> String {
    if url.contains("mode=") || url.contains(":memory:") {
        url.to_owned()
    } else if url.contains('?') {
        format!("{url}&mode=rwc")
    } else {
        format!("{url}?mode=rwc")
    }
}

/// Milliseconds since the Unix epoch: how the store keeps instants on both backends.
pub fn now_millis() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_follows_the_url_scheme() {
        assert_eq!(Backend::from_url("sqlite://x.db").unwrap(), Backend::Sqlite);
        assert_eq!(Backend::from_url("postgres://u@h/db").unwrap(), Backend::Postgres);
        assert!(
            matches!(Backend::from_url("mysql://u:secret@h/db"), Err(StoreError::UnsupportedUrl(u)) if !u.contains("secret"))
        );
    }

    #[test]
    fn sqlite_urls_create_the_file_unless_told_otherwise() {
        assert_eq!(sqlite_url_with_create("sqlite://a.db"), "sqlite://a.db?mode=rwc");
        assert_eq!(
            sqlite_url_with_create("sqlite://a.db?cache=shared"),
            "sqlite://a.db?cache=shared&mode=rwc"
        );
        assert_eq!(
            sqlite_url_with_create("sqlite://a.db?mode=ro"),
            "sqlite://a.db?mode=ro"
        );
    }

    #[test]
    fn redaction_hides_passwords_only() {
        assert_eq!(redact_url("postgres://u:pw@h/db"), "postgres://u:*****@h/db");
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
    }
}
