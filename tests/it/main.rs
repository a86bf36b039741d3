//! The integration suite: one test binary (link time), one module per area.

mod support;

mod apex;
mod asterisk;
mod browser;
mod callcenter;
mod cli;
mod cluster;
mod config;
mod contacts;
mod contract;
mod crm;
mod external;
mod http;
mod http_adapter;
mod missed;
mod restart;
mod routing;
mod salesforce;
mod server;
mod store;
mod telephony;
