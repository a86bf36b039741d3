//! The integration suite: one test binary (link time), one module per area.

mod support;

mod callcenter;
mod cli;
mod config;
mod server;
mod store;
