//! HTTP: the actix-web routes. Handlers stay thin: parse, authorize, call a domain function.
//!
//! Every error answer has one shape: `{"error": {"code": "…", "message": "…"}}`.
//!
//! - [`neoapi`]: `POST /neoapi/{Method}`, the NeoApi-style RPC proxy;
//! - [`ws`]: `GET /neoapi/ws`, the agent websocket fed by the [`hub`];
//! - [`session`], [`auth`], [`ratelimit`]: session tokens, typed guards, failed-login limits;
//! - [`sim`]: the embedded engine's simulation API under `/sim/…` (admin token);
//! - [`salesforce`]: the softphone's Salesforce helpers and `/admin/salesforce`;
//! - [`crm`]: `/admin/crm/…`, external sites, campaign parameters, the CRM outbox;
//! - [`external`]: `/admin/external-systems/…` and the external systems' API `/api/v1/…`;
//! - [`campaigns`]: `/admin/campaigns/{campaign}/leads` (leads for the dialers) and
//!   `/admin/instances` (the cluster's instances);
//! - [`missed`]: `GET /api/missed`, `POST /api/missed/{callId}/callback` (agents);
//! - [`stats`]: `GET /api/stats`, the floor's live figures for supervisors;
//! - [`history`]: `GET /api/stats/history`, the hourly / per-agent reports (JSON, CSV);
//! - [`dashboard`]: the supervisors' page `/dashboard/` and its figures over the websocket;
//! - [`openapi`]: `GET /openapi.json`;
//! - [`health`]: `/healthz`, `/readyz`.

pub mod adapter;
pub mod asterisk;
pub mod auth;
pub mod campaigns;
pub mod crm;
pub mod dashboard;
pub mod error;
pub mod external;
pub mod health;
pub mod history;
pub mod hub;
pub mod missed;
pub mod neoapi;
pub mod openapi;
pub mod ratelimit;
pub mod salesforce;
pub mod session;
pub mod sim;
pub mod state;
pub mod stats;
pub mod ws;

use actix_web::http::StatusCode;
use actix_web::web;

pub use error::ApiError;
pub use state::ApiState;

/// What answers a request no route matches: 404 in the error shape.
pub async fn no_route(req: actix_web::HttpRequest) -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("nothing is served at {}", req.path()),
    ))
}

/// Registers every route of the server. The API routes need an [`ApiState`] in app data.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.app_data(
        web::PathConfig::default()
            .error_handler(|e, _| ApiError::new(StatusCode::NOT_FOUND, "not_found", e.to_string()).into()),
    )
    .app_data(
        web::QueryConfig::default().error_handler(|e, _| {
            ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", e.to_string()).into()
        }),
    )
    .service(health::healthz)
    .service(health::readyz)
    .service(openapi::document)
    .service(ws::connect)
    .service(neoapi::call)
    .service(neoapi::wrong_verb)
    .service(sim::inbound)
    .service(sim::customer_answers)
    .service(sim::customer_hangs_up)
    .service(sim::customer_presses)
    .service(sim::call_view)
    .service(sim::agent_answers)
    .service(sim::load_leads)
    .service(sim::dialer_step)
    .service(sim::script_customer)
    .service(campaigns::load_leads)
    .service(campaigns::instances)
    .service(history::report)
    .service(stats::floor)
    .service(asterisk::intake)
    .service(asterisk::owner);
    cfg.configure(adapter::configure);
    cfg.configure(dashboard::configure);
    cfg.configure(salesforce::configure);
    cfg.configure(crm::configure);
    cfg.configure(external::configure);
    cfg.configure(missed::configure);
}
