//! Builds the server from a [`Config`]: opens the store, applies migrations, binds the listener.
//! Tests bind port 0 and read [`Application::port`].

use std::net::TcpListener;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::{App, HttpServer, web};
use tracing_actix_web::TracingLogger;

use crate::config::Config;
use crate::store::Store;

pub struct Application {
    port: u16,
    server: Server,
    store: Store,
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
                .configure(crate::http::configure)
        })
        // actix handles SIGINT / SIGTERM itself: stop accepting, let in-flight requests finish.
        .shutdown_timeout(config.server.shutdown_timeout_secs)
        .listen(listener)?
        .run();
        tracing::info!(address = %config.server.bind.ip(), port, "listening");
        Ok(Application { port, server, store })
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
