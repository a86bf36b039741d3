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
    /// What lives as long as the server: the engine (and its timers), the core's lock (this
    /// process runs the core on its database: no other may meanwhile).
    _core: Option<(Arc<EmbeddedEngine>, crate::store::core::CoreLock)>,
    /// Stops the outbox worker after the server.
    worker_stop: Option<tokio::sync::watch::Sender<bool>>,
}

/// The contact-center core, served on its listener.
struct Core {
    server: Server,
    port: u16,
    engine: Arc<EmbeddedEngine>,
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
        crate::password::configure(config.server.max_waiting_password_checks);
        if config.cluster.enabled {
            return Self::build_cluster_member(config, store).await;
        }
        let core_lock = CoreStore::new(store.clone(), None).lock_core().await?;
        let listener = TcpListener::bind(config.server.bind)
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.server.bind))?;
        let core = start_core(&config, &store, listener, false).await?;
        tracing::info!(address = %config.server.bind.ip(), port = core.port, "listening");
        Ok(Application {
            port: core.port,
            server: core.server,
            store,
            _core: Some((core.engine, core_lock)),
            worker_stop: Some(core.worker_stop),
        })
    }

    /// One of several instances: the gateway on the public address now; the core when this
    /// instance takes it (at once if no other runs it).
    async fn build_cluster_member(config: Config, store: Store) -> anyhow::Result<Application> {
        let listener = TcpListener::bind(config.server.bind)
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.server.bind))?;
        let port = listener.local_addr()?.port();
        let gateway_url = format!("http://{}:{port}", config.server.bind.ip());
        let membership = crate::cluster::Membership::join(store.clone(), &config, gateway_url)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        tracing::info!(instance = %membership.id, "joined the cluster");
        let gateway = web::Data::new(crate::cluster::gateway::Gateway::new(membership.clone()));
        let server = HttpServer::new(move || {
            App::new()
                .wrap(no_sniffing())
                .wrap(TracingLogger::<crate::telemetry::RequestSpan>::new())
                .app_data(gateway.clone())
                .configure(crate::cluster::gateway::configure)
        })
        .shutdown_timeout(config.server.shutdown_timeout_secs)
        .listen(listener)?
        .run();
        tracing::info!(address = %config.server.bind.ip(), port, "gateway listening");
        tokio::spawn(take_the_core_when_free(config, store.clone(), membership));
        Ok(Application {
            port,
            server,
            store,
            _core: None,
            worker_stop: None,
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
        if let Some(stop) = &self.worker_stop {
            let _ = stop.send(true);
        }
        // Another instance may take the core over once this returns.
        if let Some((_, lock)) = self._core {
            tokio::time::timeout(Duration::from_secs(5), lock.release())
                .await
                .ok();
        }
        tokio::time::timeout(Duration::from_secs(5), self.store.close())
            .await
            .ok();
        tracing::info!("stopped");
        result
    }
}

/// The contact-center core and the full API on `listener`: restores the core's state, starts
/// the telephony switch, the Salesforce worker and the HTTP server. The caller holds the
/// core's lock. `behind_gateway`: requests come through cluster gateways (the client's address
/// is their `X-Forwarded-For`).
async fn start_core(
    config: &Config,
    store: &Store,
    listener: TcpListener,
    behind_gateway: bool,
) -> anyhow::Result<Core> {
    let directory = ContactDirectory::new(store.clone(), config.contacts.default_country);
    ensure_campaign_databases(&directory, &config.telephony).await?;
    let contacts: Arc<dyn ContactResolver> = Arc::new(directory);
    let outbox = Outbox::new(store.clone());
    let settings = Arc::new(FlowSettings::from_config(config));
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
    // And the missed calls with their Tasks (softphones hear when they changed).
    let missed_changed = Arc::new(tokio::sync::Notify::new());
    let missed_recorder: Arc<dyn EventRecorder> = Arc::new(
        crate::missed::MissedCallRecorder::new(
            outbox.clone(),
            crate::missed::MissedSettings::from_config(config),
        )
        .notifying(missed_changed.clone()),
    );
    // And each inbound call's row for the supervisors' figures and reports.
    let stats_recorder: Arc<dyn EventRecorder> = Arc::new(crate::store::stats::StatsRecorder);
    let recorders: Arc<dyn EventRecorder> = Arc::new(Recorders(vec![
        logger,
        crm_recorder,
        missed_recorder,
        stats_recorder,
    ]));
    let core = Arc::new(CoreStore::new(store.clone(), Some(recorders)));
    let restored = core.load().await?;
    let logged_in = restored.agents.iter().filter(|a| a.session.is_some()).count();
    if logged_in > 0 || !restored.callbacks.is_empty() {
        tracing::info!(
            agents = logged_in,
            callbacks = restored.callbacks.len(),
            "telephony state restored from the database"
        );
    }
    let restored_users: Vec<_> = restored
        .agents
        .iter()
        .filter(|a| a.session.is_some())
        .map(|a| a.user.clone())
        .collect();
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
    let (salesforce, worker_stop) = salesforce_write_back(config, store, outbox, settings).await?;
    let owner_lookups = owner_routing(config, &salesforce.flows, &salesforce.outbox, &engine);
    let crm = crm_delivery(config, crm_registry, crm_outbox, worker_stop.subscribe());
    let external = external_systems(config, store);
    external
        .apply_config(&config.external)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let external = web::Data::new(external);
    // The simulation API injects calls and answers for agents: development mode only, unless
    // asked for.
    let simulation = config.simulation().then(|| engine.simulation());
    let demo = engine.is_demo();
    let telephony: Arc<dyn Telephony> = engine.clone();
    let mut api = ApiState::new(&config.server, store.clone(), telephony, simulation, demo);
    api.behind_gateway = behind_gateway;
    api.engine = Some(engine.clone());
    let stats = crate::telephony::stats::FloorStats::new(config.telephony.service_level_secs);
    // Today's figures so far (a restart does not zero the day), then the events after them.
    let events = engine.subscribe();
    let today = chrono::Utc::now().date_naive();
    stats.restore(
        today,
        crate::store::stats::load_day(store, today, config.telephony.service_level_secs).await?,
    );
    for user in &restored_users {
        if let Ok(position) = crate::telephony::Telephony::position(engine.as_ref(), user).await {
            stats.seed_agent(user, position.state, chrono::Utc::now());
        }
    }
    stats.follow(events);
    api.dashboards = Some(crate::http::dashboard::DashboardFeed::start(
        stats.clone(),
        Duration::from_millis(config.telephony.dashboard_interval_ms.max(50)),
    ));
    api.stats = Some(stats);
    let api = web::Data::new(api);
    spawn_session_purge(api.sessions.clone());
    spawn_missed_hints(missed_changed, Arc::downgrade(&api.hub));
    let port = listener.local_addr()?.port();
    let data_store = web::Data::new(store.clone());
    let adapter_settings = web::Data::new(crate::http::adapter::AdapterSettings::from_config(config));
    let intake_guard = config
        .telephony
        .asterisk
        .as_ref()
        .filter(|_| config.telephony.driver == crate::telephony::DriverKind::Asterisk)
        .and_then(|a| a.intake_token_hash.clone())
        .map(|phc| {
            web::Data::new(crate::http::asterisk::IntakeGuard(
                crate::http::auth::TokenGuard::new(
                    "intake token",
                    "telephony.asterisk.intake_token_hash",
                    Some(phc),
                    None,
                    crate::http::ratelimit::FailureLimiter::new(
                        config.server.login_failures_per_address,
                        Duration::from_secs(config.server.login_window_secs.max(1)),
                    ),
                ),
            ))
        });
    let asterisk_dial = config
        .telephony
        .asterisk
        .clone()
        .filter(|_| config.telephony.driver == crate::telephony::DriverKind::Asterisk)
        .map(|a| web::Data::new(crate::http::asterisk::AsteriskDial(a)));
    let server = HttpServer::new(move || {
        App::new()
            .wrap(no_sniffing())
            .wrap(TracingLogger::<crate::telemetry::RequestSpan>::new())
            .app_data(data_store.clone())
            .app_data(adapter_settings.clone())
            .app_data(api.clone())
            .app_data(salesforce.clone())
            .app_data(crm.clone())
            .app_data(external.clone())
            .app_data(owner_lookups.clone())
            .configure(|cfg| {
                if let Some(guard) = &intake_guard {
                    cfg.app_data(guard.clone());
                }
                if let Some(dial) = &asterisk_dial {
                    cfg.app_data(dial.clone());
                }
            })
            .configure(crate::http::configure)
            .default_service(web::to(crate::http::no_route))
    })
    // actix handles SIGINT / SIGTERM itself: stop accepting, let in-flight requests finish.
    .shutdown_timeout(config.server.shutdown_timeout_secs)
    .listen(listener)?
    .run();
    Ok(Core {
        server,
        port,
        engine,
        worker_stop,
    })
}

/// Waits for the core's lock (the active instance holds it for its life), then runs the core,
/// announces it and keeps watch: losing the lock's connection stops the process.
async fn take_the_core_when_free(config: Config, store: Store, membership: crate::cluster::Membership) {
    let poll = Duration::from_millis(config.cluster.takeover_poll_ms.max(50));
    let lock = loop {
        match CoreStore::new(store.clone(), None).lock_core().await {
            Ok(lock) => break lock,
            Err(crate::store::core::CoreStoreError::AnotherInstance) => {}
            Err(e) => tracing::warn!(error = %e, "cannot try the core's lock"),
        }
        tokio::time::sleep(poll).await;
    };
    let started = std::time::Instant::now();
    // Watch the lock from now on, and let an instance that lost it (and may not know yet)
    // stop before this one acts.
    let lock = Arc::new(tokio::sync::Mutex::new(lock));
    let watched = lock.clone();
    crate::cluster::step_down_when_the_lock_is_lost(move || {
        let lock = watched.clone();
        Box::pin(async move { lock.lock().await.still_held().await })
    });
    tokio::time::sleep(crate::cluster::STEP_DOWN_WITHIN).await;
    let listener = match TcpListener::bind(config.cluster.core_bind) {
        Ok(listener) => listener,
        Err(e) => {
            tracing::error!(address = %config.cluster.core_bind, error = %e, "cannot listen for the core; stopping");
            std::process::exit(1);
        }
    };
    let port = listener.local_addr().map(|a| a.port()).unwrap_or_default();
    let core_url = config
        .cluster
        .core_url
        .clone()
        .unwrap_or_else(|| format!("http://{}:{port}", config.cluster.core_bind.ip()));
    let core = match start_core(&config, &store, listener, true).await {
        Ok(core) => core,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the core; stopping");
            std::process::exit(1);
        }
    };
    if let Err(e) = membership.became_active(&core_url).await {
        tracing::error!(error = %e, "cannot announce the core; stopping");
        std::process::exit(1);
    }
    tracing::info!(
        instance = %membership.id,
        core = %core_url,
        took_ms = started.elapsed().as_millis() as u64,
        "this instance runs the contact-center core"
    );
    let Core {
        server,
        engine,
        worker_stop,
        ..
    } = core;
    let _ = server.await;
    let _ = worker_stop.send(true);
    drop(engine);
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

/// Owner routing (`[routing]`): on when Salesforce credentials are configured and
/// `owner_first_secs` is not 0 or a campaign creates Leads. Returns the lookups' counters for
/// `/metrics`.
fn owner_routing(
    config: &Config,
    flows: &SalesforceFlows,
    outbox: &Outbox,
    engine: &EmbeddedEngine,
) -> web::Data<crate::routing::OwnerLookups> {
    use crate::routing::{CachedOwnerLookup, OwnerLookups, salesforce::SalesforceOwners};
    let client = flows.shared_client().filter(|_| config.routing.enabled());
    let Some(client) = client else {
        return web::Data::new(OwnerLookups(None));
    };
    // A lookup must answer within a second: the token is obtained before the first call.
    let warm = client.clone();
    tokio::spawn(async move {
        if let Err(e) = warm.warm_up().await {
            tracing::warn!(error = %e, "cannot obtain a Salesforce token for owner lookups yet");
        }
    });
    let source = Arc::new(SalesforceOwners::new(client, flows.entity_types().to_vec()));
    let lookup = Arc::new(CachedOwnerLookup::new(source, &config.routing));
    let counters = lookup.counters.clone();
    let leads = config
        .routing
        .unprocessed_leads_owner
        .clone()
        .filter(|_| !config.routing.create_leads.is_empty())
        .map(|owner| {
            Arc::new(crate::routing::leads::OutboxLeads::new(
                outbox.clone(),
                owner,
                config.routing.create_leads.iter().copied(),
            )) as Arc<dyn crate::routing::leads::LeadSink>
        });
    engine.route_to_owners(lookup, config.routing.owner_first(), leads);
    tracing::info!(
        owner_first_secs = config.routing.owner_first_secs,
        lookup_timeout_ms = config.routing.lookup_timeout_ms,
        lead_campaigns = ?config.routing.create_leads,
        "owner routing on: inbound callers are looked up in Salesforce"
    );
    web::Data::new(OwnerLookups(Some(counters)))
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

/// Tells every softphone to read its missed calls again after each commit that recorded or
/// closed one (until the hub is gone).
fn spawn_missed_hints(changed: Arc<tokio::sync::Notify>, hub: std::sync::Weak<crate::http::hub::EventHub>) {
    tokio::spawn(async move {
        loop {
            changed.notified().await;
            match hub.upgrade() {
                Some(hub) => hub.to_everyone(crate::missed::LIST_CHANGED_FRAME),
                None => return,
            }
        }
    });
}

/// Every answer is what its Content-Type says: browsers must not guess (`nosniff`), on the
/// gateway's answers and the core's alike.
fn no_sniffing() -> actix_web::middleware::DefaultHeaders {
    actix_web::middleware::DefaultHeaders::new()
        .add((actix_web::http::header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
}
