//! The integration suite: one test binary (link time), one module per area.

mod support;

mod config;
mod contacts;
mod server;
mod store;
