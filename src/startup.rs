//! Builds the server from a [`Config`]: opens the store, applies migrations, binds the listener.
//! Tests bind port 0 and read [`Application::port`].

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::{App, HttpServer, web};
use tracing_actix_web::TracingLogger;

use crate::config::Config;
use crate::contacts::ContactResolver;
use crate::contacts::memory::InMemoryContactDirectory;
use crate::http::ApiState;
use crate::store::Store;
use crate::telephony::{EmbeddedEngine, Telephony};

pub struct Application {
    port: u16,
    server: Server,
    store: Store,
    /// Keeps the engine (and its timers) alive as long as the server.
    _engine: Arc<EmbeddedEngine>,
}

impl Application {
    /// Connects to the database, applies pending migrations and binds the HTTP listener.
    pub async fn build(config: Config) -> anyhow::Result<Application> {
        let store = Store::connect_and_migrate(&config.database.url, config.database.max_connections).await?;
        tracing::info!(
            database = %crate::store::redact_url(&config.database.url),
            backend = ?store.backend(),
            "database ready"
        );
        if !config.salesforce.is_configured() {
            tracing::warn!(
                "no Salesforce credentials configured: Salesforce writes will wait in the outbox \
                 until [salesforce] is set in the configuration file or CTIBRIDGE_SALESFORCE__* variables"
            );
        }

        refuse_public_demo(&config)?;
        // Until the database-backed contact directory is wired in, contacts live in memory.
        let contacts: Arc<dyn ContactResolver> = Arc::new(InMemoryContactDirectory::new());
        let engine = EmbeddedEngine::from_config(&config.telephony, contacts)
            .await
            .map_err(|e| anyhow::anyhow!("telephony: {e}"))?;
        let simulation = engine.simulation();
        let demo = engine.is_demo();
        let telephony: Arc<dyn Telephony> = engine.clone();
        let api = web::Data::new(ApiState::new(
            &config.server,
            store.clone(),
            telephony,
            Some(simulation),
            demo,
        ));
        spawn_session_purge(api.sessions.clone());
        let listener = TcpListener::bind(config.server.bind)
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.server.bind))?;
        let port = listener.local_addr()?.port();
        let data_store = web::Data::new(store.clone());
        let adapter_settings = web::Data::new(crate::http::adapter::AdapterSettings::from_config(&config));
        let server = HttpServer::new(move || {
            App::new()
                .wrap(TracingLogger::default())
                .app_data(data_store.clone())
                .app_data(adapter_settings.clone())
                .app_data(api.clone())
                .configure(crate::http::configure)
        })
        // actix handles SIGINT / SIGTERM itself: stop accepting, let in-flight requests finish.
        .shutdown_timeout(config.server.shutdown_timeout_secs)
        .listen(listener)?
        .run();
        tracing::info!(address = %config.server.bind.ip(), port, "listening");
        Ok(Application {
            port,
            server,
            store,
            _engine: engine,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// A handle that stops the server gracefully (tests; the signal handlers do the same).
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// Runs until SIGINT / SIGTERM (or [`Application::handle`]'s stop), then closes the pool.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let result = self.server.await;
        tokio::time::timeout(Duration::from_secs(5), self.store.close())
            .await
            .ok();
        tracing::info!("stopped");
        result
    }
}

/// The demo roster's password is public: with it, the server only listens on loopback.
fn refuse_public_demo(config: &Config) -> anyhow::Result<()> {
    if config.telephony.uses_demo_roster() && !config.server.bind.ip().is_loopback() {
        anyhow::bail!(
            "refusing to listen on {}: no telephony agents are configured, so the demo roster \
             (password `demo`) is active; configure [[telephony.agents]] (hashes from \
             `ctibridge hash-password`) or bind a loopback address such as 127.0.0.1",
            config.server.bind
        );
    }
    Ok(())
}

/// Deletes long-expired and revoked sessions once an hour.
fn spawn_session_purge(sessions: crate::http::session::Sessions) {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(Duration::from_secs(3600));
        loop {
            ticks.tick().await;
            match sessions.purge().await {
                Ok(0) => {}
                Ok(n) => tracing::debug!(sessions = n, "purged old sessions"),
                Err(e) => tracing::warn!(error = %e, "cannot purge old sessions"),
            }
        }
    });
}
