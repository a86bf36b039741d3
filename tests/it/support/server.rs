//! A real server on port 0 with a fresh SQLite database, as a user would run it.

use ctibridge::config::Config;
use ctibridge::startup::Application;

use super::db::TestDb;

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub handle: actix_web::dev::ServerHandle,
    /// Fires once the server has stopped and closed its database.
    stopped: Option<tokio::sync::oneshot::Receiver<()>>,
    /// Kept so the database file outlives the server.
    pub _db: TestDb,
}

impl TestApp {
    /// Starts the server on 127.0.0.1:0 with the embedded defaults and a fresh SQLite file;
    /// `tweak` adjusts the configuration first.
    pub async fn spawn_with(tweak: impl FnOnce(&mut Config)) -> TestApp {
        Self::spawn_on(TestDb::sqlite(), tweak).await
    }

    /// As [`TestApp::spawn_with`] on an existing database (a restart).
    pub async fn spawn_on(db: TestDb, tweak: impl FnOnce(&mut Config)) -> TestApp {
        let mut config = Config::default();
        config.server.bind = "127.0.0.1:0".parse().unwrap();
        config.database.url = db.url.clone();
        tweak(&mut config);
        let app = Application::build(config).await.expect("server builds");
        let address = format!("http://127.0.0.1:{}", app.port());
        let handle = app.handle();
        let (stopped, stopped_rx) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            let _ = app.run_until_stopped().await;
            let _ = stopped.send(());
        });
        TestApp {
            address,
            client: crate::support::http_client(),
            handle,
            stopped: Some(stopped_rx),
            _db: db,
        }
    }

    /// Stops the server gracefully and waits until it has let go of the database; returns
    /// the database for the next server.
    pub async fn stop(mut self) -> TestDb {
        self.handle.stop(true).await;
        if let Some(stopped) = self.stopped.take() {
            let _ = stopped.await;
        }
        self._db.clone()
    }

    pub async fn spawn() -> TestApp {
        Self::spawn_with(|_| {}).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }
}

/// A server the tests talk to over HTTP: in-process ([`TestApp`]) or a real process.
pub trait Api {
    fn url(&self, path: &str) -> String;
    fn client(&self) -> &reqwest::Client;
}

impl Api for TestApp {
    fn url(&self, path: &str) -> String {
        TestApp::url(self, path)
    }

    fn client(&self) -> &reqwest::Client {
        &self.client
    }
}
