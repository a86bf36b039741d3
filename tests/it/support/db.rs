//! Fresh databases for tests: a SQLite file in a temporary directory, or a new database on the
//! PostgreSQL server that `tests/run.sh` starts (URL in `CTIBRIDGE_TEST_POSTGRES_URL`).
//!
//! A PostgreSQL test never skips: without a server it fails and says how to get one.

use std::sync::Arc;

use ctibridge::store::Store;
use sqlx::Connection;
use tempfile::TempDir;

/// Environment variable with the admin URL of the test PostgreSQL server.
pub const POSTGRES_URL_VAR: &str = "CTIBRIDGE_TEST_POSTGRES_URL";

/// A database the test owns; dropped with the test (SQLite) or left for the throwaway server.
/// Clones share the directory, which lives until the last clone is dropped.
#[derive(Clone)]
pub struct TestDb {
    pub url: String,
    _dir: Option<Arc<TempDir>>,
}

impl TestDb {
    /// An empty SQLite database file.
    pub fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("temporary directory");
        let url = format!("sqlite://{}", dir.path().join("ctibridge.db").display());
        TestDb {
            url,
            _dir: Some(Arc::new(dir)),
        }
    }

    /// An empty database on the test PostgreSQL server.
    pub async fn postgres() -> TestDb {
        let admin_url = std::env::var(POSTGRES_URL_VAR).unwrap_or_else(|_| {
            panic!(
                "{POSTGRES_URL_VAR} is not set: run the suite with `bash tests/run.sh`, which starts \
                 a PostgreSQL server, or point the variable at one (postgres://USER@HOST/postgres)"
            )
        });
        let name = format!("ctib_{}", uuid_like());
        let mut conn = sqlx::PgConnection::connect(&admin_url)
            .await
            .expect("connect to the test PostgreSQL server");
        // `name` is generated above from a-z only.
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .expect("create test database");
        conn.close().await.ok();
        let url = replace_database(&admin_url, &name);
        TestDb { url, _dir: None }
    }

    /// A connected, migrated store on this database.
    pub async fn store(&self) -> Store {
        Store::connect_and_migrate(&self.url, 4)
            .await
            .expect("connect and migrate")
    }
}

fn uuid_like() -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    (0..16)
        .map(|_| char::from(b'a' + rng.random_range(0..26)))
        .collect()
}

/// `postgres://u@h/postgres?host=/tmp/x` with the database path replaced by `name`.
fn replace_database(url: &str, name: &str) -> String {
    let mut parsed = url::Url::parse(url).expect("valid PostgreSQL URL");
    parsed.set_path(&format!("/{name}"));
    parsed.to_string()
}

/// Runs the same test body on SQLite and on PostgreSQL: `dual_db_test!(name, |db| async move { … })`
/// defines `name::sqlite` and `name::postgres`.
#[macro_export]
macro_rules! dual_db_test {
    ($name:ident, $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[tokio::test]
            async fn sqlite() {
                let db = $crate::support::db::TestDb::sqlite();
                // The body may capture only `db.url`; this clone keeps the file's directory.
                ($body)(db.clone()).await;
                drop(db);
            }

            #[tokio::test]
            async fn postgres() {
                let db = $crate::support::db::TestDb::postgres().await;
                ($body)(db.clone()).await;
                drop(db);
            }
        }
    };
}
