//! HTTP: the actix-web routes. Handlers stay thin: parse, authorize, call a domain function.
//!
//! Every error answer has one shape: `{"error": {"code": "…", "message": "…"}}`.

pub mod adapter;
pub mod error;
pub mod health;

use actix_web::web;

pub use error::ApiError;

/// Registers every route of the server.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(health::healthz).service(health::readyz);
    cfg.configure(adapter::configure);
}
