//! Salesforce write-back: the OAuth2 token sources ([`auth`]), the REST client ([`client`]),
//! the durable outbox ([`outbox`]) and its delivery worker ([`worker`]), which together write
//! externalData, neoSyncId links and call Tasks without losing or duplicating a write.

pub mod auth;
pub mod client;
pub mod config;
pub mod error;
pub mod flows;
pub mod outbox;
pub mod worker;

pub use client::SalesforceClient;
pub use config::SalesforceConfig;
pub use error::SalesforceError;
pub use outbox::{Outbox, Write};
