//! Test support: fresh databases on both backends and a real server on port 0.

pub mod db;
pub mod fake_salesforce;
pub mod server;
