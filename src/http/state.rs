//! What the API handlers share: the telephony driver, sessions, the event hub, the login
//! limiters, the token guards and the limits of the configuration.

use std::sync::Arc;
use std::time::Duration;

use super::auth::{DEMO_ADMIN_TOKEN, DEMO_OPERATOR_TOKEN, TokenGuard};
use super::hub::EventHub;
use super::ratelimit::FailureLimiter;
use super::session::Sessions;
use crate::config::ServerConfig;
use crate::store::Store;
use crate::telephony::{Simulation, Telephony};

/// Timings of the agent websocket.
#[derive(Debug, Clone, Copy)]
pub struct WsSettings {
    /// The first frame must authenticate within this.
    pub auth_timeout: Duration,
    pub ping_interval: Duration,
    /// No frame from the client (pong or anything) for this long: the socket is dead.
    pub pong_timeout: Duration,
    /// A send that does not complete within this: the client is stalled.
    pub send_timeout: Duration,
    pub max_frame_bytes: usize,
}

pub struct ApiState {
    pub telephony: Arc<dyn Telephony>,
    /// The embedded engine's simulation API (`/sim/…`), when it is on (see
    /// [`crate::config::Config::simulation`]).
    pub simulation: Option<Simulation>,
    pub sessions: Sessions,
    pub hub: Arc<EventHub>,
    pub login_per_user: FailureLimiter,
    pub login_per_address: FailureLimiter,
    /// The simulation API and the admin endpoints that change something.
    pub admin: TokenGuard,
    /// The read-only operator endpoints (`/metrics`, `GET /admin/…`).
    pub operator: TokenGuard,
    pub max_body_bytes: usize,
    /// A request body must arrive within this (408 after it).
    pub body_timeout: Duration,
    pub ws: WsSettings,
    /// Requests come through cluster gateways: a client's address is the `X-Forwarded-For`
    /// the gateway set (the core's listener is reachable by the instances only).
    pub behind_gateway: bool,
    /// The core itself, for what works whatever the switch (leads for the dialers).
    pub engine: Option<Arc<crate::telephony::EmbeddedEngine>>,
    /// The floor's live figures for supervisors.
    pub stats: Option<Arc<crate::telephony::stats::FloorStats>>,
    /// The figures' frames for the supervisors' dashboards.
    pub dashboards: Option<crate::http::dashboard::DashboardFeed>,
}

impl ApiState {
    /// Builds the state and starts the event hub (needs a tokio runtime).
    pub fn new(
        server: &ServerConfig,
        store: Store,
        telephony: Arc<dyn Telephony>,
        simulation: Option<Simulation>,
        demo: bool,
    ) -> ApiState {
        let window = Duration::from_secs(server.login_window_secs.max(1));
        ApiState {
            hub: EventHub::start(&telephony, server.ws_queue_events),
            telephony,
            simulation,
            sessions: Sessions::new(store, Duration::from_secs(server.session_ttl_secs)),
            login_per_user: FailureLimiter::new(server.login_failures_per_user, window),
            login_per_address: FailureLimiter::new(server.login_failures_per_address, window),
            admin: TokenGuard::new(
                "admin token",
                "server.admin_token_hash",
                server.admin_token_hash.clone(),
                demo.then_some(DEMO_ADMIN_TOKEN),
                FailureLimiter::new(server.login_failures_per_address, window),
            ),
            operator: TokenGuard::new(
                "operator token",
                "server.operator_token_hash",
                server.operator_token_hash.clone(),
                demo.then_some(DEMO_OPERATOR_TOKEN),
                FailureLimiter::new(server.login_failures_per_address, window),
            ),
            max_body_bytes: server.max_body_bytes,
            body_timeout: Duration::from_secs(server.body_timeout_secs.max(1)),
            ws: WsSettings {
                auth_timeout: Duration::from_secs(5),
                ping_interval: Duration::from_secs(server.ws_ping_interval_secs.max(1)),
                pong_timeout: Duration::from_secs(server.ws_pong_timeout_secs.max(1)),
                send_timeout: Duration::from_secs(10),
                max_frame_bytes: 16 * 1024,
            },
            behind_gateway: false,
            engine: None,
            stats: None,
            dashboards: None,
        }
    }
}
