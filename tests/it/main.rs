//! The integration suite: one test binary (link time), one module per area.

mod support;

mod apex;
mod callcenter;
mod cli;
mod config;
mod http;
mod salesforce;
mod server;
mod store;
mod telephony;
