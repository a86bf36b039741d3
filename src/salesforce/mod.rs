//! Salesforce write-back: the OAuth2 token sources, the REST client and the durable outbox that
//! writes externalData, neoSyncId links and call Tasks.
//!
//! Until the outbox worker lands, only the configuration lives here.

pub mod config;

pub use config::SalesforceConfig;
