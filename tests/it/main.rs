//! The integration suite: one test binary (link time), one module per area.

mod support;

mod cli;
mod config;
mod salesforce;
mod server;
mod store;
