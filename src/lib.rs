//! ctibridge — a Salesforce Open CTI connector backend.
//!
//! The crate is organised along the seams of `DESIGN.md`:
//! - [`callcenter`]: the call-center definition XML (parse, validate, render);
//! - [`telephony`]: the NeoApi method set and the drivers behind it;
//! - [`contacts`]: the telephony-side contact databases and `CONTACTO_INSERT_SALESFORCE`;
//! - [`crm`]: external sites (any web CRM) invoked on each call, durably;
//! - [`external`]: external systems that drive calls through `/api/v1`, by their own ids;
//! - [`missed`]: missed and abandoned calls, their Salesforce Tasks and call backs;
//! - [`salesforce`]: OAuth2, the REST client and the durable outbox;
//! - [`http`]: the actix-web routes (adapter page, RPC proxy, websocket, health);
//! - [`password`]: argon2 checks of passwords and tokens, bounded process-wide;
//! - [`store`]: the sqlx pool and migrations (SQLite by default, PostgreSQL by URL);
//! - [`cluster`]: several instances on one PostgreSQL database, one of them running the core;
//! - [`routing`]: owner routing (inbound calls offered first to the caller's record owner).
//!
//! [`config`], [`telemetry`] and [`startup`] wire them into one server; `main.rs` only parses
//! the command line.

pub mod callcenter;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod contacts;
pub mod crm;
pub mod external;
pub mod http;
pub mod missed;
pub mod password;
pub mod routing;
pub mod salesforce;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod telephony;

/// Installs the process-wide TLS crypto provider (ring, the one compiled in) that every HTTPS
/// client needs. Safe to call any number of times.
pub fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
