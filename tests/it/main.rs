//! The integration suite: one test binary (link time), one module per area.

mod support;

mod apex;
mod config;
mod server;
mod store;
