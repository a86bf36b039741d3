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
use crate::contacts::directory::ContactDirectory;
use crate::crm::recorder::{CrmRecorder, Recorders};
use crate::crm::worker::CrmWorker;
use crate::crm::{CrmOutbox, CrmRegistry};
use crate::http::ApiState;
use crate::salesforce::SalesforceClient;
use crate::salesforce::auth::{TokenCache, token_source};
use crate::salesforce::flows::{CallLogger, FlowSettings, SalesforceFlows};
use crate::salesforce::outbox::Outbox;
use crate::salesforce::worker::{SystemClock, Worker, WorkerConfig};
use crate::store::Store;
use crate::store::core::{CoreStore, EventRecorder};
use crate::telephony::{EmbeddedEngine, Telephony};

pub struct Application {
    port: u16,
    server: Server,
    store: Store,
    /// Keeps the engine (and its timers) alive as long as the server.
    _engine: Arc<EmbeddedEngine>,
    /// This process runs the core on its database: no other may meanwhile.
    _core_lock: crate::store::core::CoreLock,
    /// Stops the outbox worker after the server.
    worker_stop: tokio::sync::watch::Sender<bool>,
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
        let directory = ContactDirectory::new(store.clone(), config.contacts.default_country);
        ensure_campaign_databases(&directory, &config.telephony).await?;
        let contacts: Arc<dyn ContactResolver> = Arc::new(directory);
        let outbox = Outbox::new(store.clone());
        let settings = Arc::new(FlowSettings::from_config(&config));
        // The call log and its Task writes are committed with the change that causes them.
        let logger: Arc<dyn EventRecorder> = Arc::new(CallLogger::new(outbox.clone(), settings.clone()));
        // And the CRM requests, after the call log (they read its rows).
        let crm_registry = CrmRegistry::load(store.clone(), config.telephony.effective_campaigns())
            .await
            .map_err(|e| anyhow::anyhow!("crm: {e}"))?;
        crm_registry
            .apply_config(&config.crm)
            .await
            .map_err(|e| anyhow::anyhow!("crm: {e}"))?;
        let crm_outbox = CrmOutbox::new(store.clone());
        let crm_recorder: Arc<dyn EventRecorder> =
            Arc::new(CrmRecorder::new(crm_registry.clone(), crm_outbox.clone()));
        let recorders: Arc<dyn EventRecorder> = Arc::new(Recorders(vec![logger, crm_recorder]));
        let core = Arc::new(CoreStore::new(store.clone(), Some(recorders)));
        let core_lock = core.lock_core().await?;
        let restored = core.load().await?;
        let logged_in = restored.agents.iter().filter(|a| a.session.is_some()).count();
        if logged_in > 0 || !restored.callbacks.is_empty() {
            tracing::info!(
                agents = logged_in,
                callbacks = restored.callbacks.len(),
                "telephony state restored from the database"
            );
        }
        let switch = telephony_switch(&config.telephony)?;
        let engine = EmbeddedEngine::durable(
            &config.telephony,
            contacts,
            Arc::new(crate::telephony::engine::SystemClock),
            core.clone(),
            restored,
            switch,
        )
        .await
        .map_err(|e| anyhow::anyhow!("telephony: {e}"))?;
        spawn_heartbeat(core);
        let (salesforce, worker_stop) = salesforce_write_back(&config, &store, outbox, settings).await?;
        let crm = crm_delivery(&config, crm_registry, crm_outbox, worker_stop.subscribe());
        let external = external_systems(&config, &store);
        external
            .apply_config(&config.external)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let external = web::Data::new(external);
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
        let intake_guard = config
            .telephony
            .asterisk
            .as_ref()
            .filter(|_| config.telephony.driver == crate::telephony::DriverKind::Asterisk)
            .and_then(|a| a.intake_token_hash.clone())
            .map(|phc| {
                web::Data::new(crate::http::asterisk::IntakeGuard(
                    crate::http::auth::AdminGuard::new(Some(phc), false),
                ))
            });
        let server = HttpServer::new(move || {
            App::new()
                .wrap(TracingLogger::default())
                .app_data(data_store.clone())
                .app_data(adapter_settings.clone())
                .app_data(api.clone())
                .app_data(salesforce.clone())
                .app_data(crm.clone())
                .app_data(external.clone())
                .configure(|cfg| {
                    if let Some(guard) = &intake_guard {
                        cfg.app_data(guard.clone());
                    }
                })
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
            _core_lock: core_lock,
            worker_stop,
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
        // The worker finishes its round; undelivered rows stay in the outbox for next time.
        let _ = self.worker_stop.send(true);
        tokio::time::timeout(Duration::from_secs(5), self.store.close())
            .await
            .ok();
        tracing::info!("stopped");
        result
    }
}

/// The Salesforce side: the outbox worker when credentials are configured, and the softphone
/// helpers' state. (The call log is written by the engine's commits.)
async fn salesforce_write_back(
    config: &Config,
    store: &Store,
    outbox: Outbox,
    settings: Arc<FlowSettings>,
) -> anyhow::Result<(
    web::Data<crate::http::salesforce::SalesforceState>,
    tokio::sync::watch::Sender<bool>,
)> {
    let (stop, mut stopped) = tokio::sync::watch::channel(false);
    let http = SalesforceClient::http_client();
    let source = token_source(&config.salesforce, http.clone(), store.clone())
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let (client, usage, flow) = match source {
        Some(source) => {
            let flow = source.flow();
            let client = Arc::new(SalesforceClient::new(
                http,
                TokenCache::new(source),
                &config.salesforce.api_version,
            ));
            let worker = Worker::new(
                format!("{}-{}", hostname(), std::process::id()),
                outbox.clone(),
                client.clone(),
                WorkerConfig::default(),
                Arc::new(SystemClock),
            );
            tokio::spawn(worker.run(async move {
                let _ = stopped.wait_for(|s| *s).await;
            }));
            tracing::info!(flow, "Salesforce write-back running");
            let usage = client.usage();
            (Some(client), Some(usage), Some(flow))
        }
        None => (None, None, None),
    };
    let flows = SalesforceFlows::new(outbox.clone(), settings, client);
    let state = crate::http::salesforce::SalesforceState {
        flows,
        outbox,
        usage,
        flow,
    };
    Ok((web::Data::new(state), stop))
}

/// The CRM worker (stopped with the Salesforce one) and the admin routes' state.
fn crm_delivery(
    config: &Config,
    registry: CrmRegistry,
    outbox: CrmOutbox,
    mut stopped: tokio::sync::watch::Receiver<bool>,
) -> web::Data<crate::http::crm::CrmState> {
    let worker = CrmWorker::new(
        format!("crm-{}-{}", hostname(), std::process::id()),
        outbox.clone(),
        registry.clone(),
        config.crm.delivery.clone(),
        Arc::new(SystemClock),
    );
    tokio::spawn(worker.run(async move {
        let _ = stopped.wait_for(|s| *s).await;
    }));
    web::Data::new(crate::http::crm::CrmState { registry, outbox })
}

/// External systems, over the roster's agents and the campaigns.
fn external_systems(config: &Config, store: &Store) -> crate::external::ExternalSystems {
    use crate::telephony::types::Role;
    let agents: Vec<String> = if config.telephony.agents.is_empty() {
        crate::telephony::engine::roster::DEMO_AGENTS
            .iter()
            .filter(|(_, _, role)| *role == Role::Agent)
            .map(|(user, _, _)| (*user).to_owned())
            .collect()
    } else {
        config
            .telephony
            .agents
            .iter()
            .filter(|a| a.role == Role::Agent)
            .map(|a| a.user.clone())
            .collect()
    };
    crate::external::ExternalSystems::new(store.clone(), agents, config.telephony.effective_campaigns())
}

/// Every campaign inserts unknown callers into its contact database (@IDDATABASE): create the
/// ones that do not exist yet, keyed by Clave_1 (`ctibridge contacts databases create` makes
/// others, e.g. phone-keyed ones, beforehand).
async fn ensure_campaign_databases(
    directory: &ContactDirectory,
    telephony: &crate::config::TelephonyConfig,
) -> anyhow::Result<()> {
    use crate::contacts::ContactsError;
    use crate::contacts::directory::{KeyKind, NewContactDatabase};
    let campaigns = telephony.effective_campaigns();
    for campaign in campaigns {
        if directory.database(campaign.database_id).await?.is_some() {
            continue;
        }
        let new = NewContactDatabase {
            id: campaign.database_id,
            name: format!("{} contacts", campaign.name),
            key_kind: KeyKind::Clave1,
            crm_id: campaign.crm_id,
        };
        match directory.create_database(&new).await {
            Ok(_) => tracing::info!(
                database = new.id,
                campaign = campaign.id,
                "contact database created for the campaign"
            ),
            // Another campaign or instance created it meanwhile.
            Err(ContactsError::DatabaseExists(_)) => {}
            Err(e) => anyhow::bail!(
                "cannot create contact database {} of campaign {}: {e}",
                new.id,
                campaign.id
            ),
        }
    }
    Ok(())
}

/// This machine's name, for the outbox worker's claims (tells instances apart in the table).
fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "ctibridge".into())
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

/// The telephony platform `telephony.driver` names: `None` for the simulated switch.
fn telephony_switch(
    telephony: &crate::config::TelephonyConfig,
) -> anyhow::Result<Option<Arc<dyn crate::telephony::switch::Switch>>> {
    use crate::telephony::DriverKind;
    match telephony.driver {
        DriverKind::Embedded => Ok(None),
        DriverKind::Asterisk => {
            let Some(asterisk) = &telephony.asterisk else {
                anyhow::bail!(
                    "telephony.driver = \"asterisk\" needs a [telephony.asterisk] section (host, port, \
                     username, secret)"
                );
            };
            tracing::info!(
                host = %asterisk.host,
                port = asterisk.port,
                tls = asterisk.tls,
                user = %asterisk.username,
                "telephony: Asterisk over AMI"
            );
            // The inbound campaigns' queues (a campaign's queue defaults to its id).
            let queues = telephony
                .effective_campaigns()
                .into_iter()
                .filter(|c| c.kind == crate::telephony::config::CampaignKind::Inbound)
                .map(|c| c.queue.unwrap_or_else(|| c.id.to_string()))
                .collect();
            let switch = crate::telephony::asterisk::AsteriskSwitch::start(asterisk.clone(), queues)
                .map_err(|e| anyhow::anyhow!(e))?;
            Ok(Some(switch))
        }
    }
}

/// Notes every few seconds that the process is alive: after a crash, the calls it left open
/// are closed as of the last beat.
fn spawn_heartbeat(core: Arc<CoreStore>) {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(Duration::from_secs(2));
        let mut failing = false;
        loop {
            ticks.tick().await;
            match core.heartbeat().await {
                Ok(()) => failing = false,
                Err(e) if !failing => {
                    failing = true;
                    tracing::warn!(error = %e, "cannot record that the process is alive");
                }
                Err(_) => {}
            }
        }
    });
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
