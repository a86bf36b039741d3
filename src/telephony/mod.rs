//! Telephony: one trait for the NeoApi method set (Login, Dial, Hangup, Position, …) and one
//! event stream, with the drivers behind it.
//!
//! - [`api`]: the [`Telephony`] trait and the [`Method`] names;
//! - [`asterisk`]: the Asterisk Manager Interface codec (the Asterisk driver builds on it);
//! - [`types`]: identifiers, states, requests and the [`Position`] snapshot;
//! - [`events`]: the [`Event`] stream and the [`NeotelData`] vocabulary;
//! - [`error`]: [`TelephonyError`], typed refusals;
//! - [`config`]: the roster and campaigns of the configuration file;
//! - [`hours`]: campaigns' opening hours;
//! - [`engine`]: the embedded contact-center engine, the default driver, with its simulation
//!   API for demos and tests.

pub mod api;
pub mod asterisk;
pub mod config;
pub mod engine;
pub mod error;
pub mod events;
pub mod hours;
pub mod stats;
pub mod switch;
pub mod types;

use serde::{Deserialize, Serialize};

pub use api::{Method, Telephony};
pub use engine::{EmbeddedEngine, Simulation};
pub use error::{ErrorClass, TelephonyError};
pub use events::{EndReason, Event, EventEnvelope, NeotelData};
pub use types::*;

/// Which telephony driver the server talks to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum DriverKind {
    /// The contact-center core with the simulated switch: agents, campaigns, ACD and dialers
    /// in-process, customers and devices driven by the simulation API.
    #[default]
    Embedded,
    /// The core in front of Asterisk over AMI, with Asterisk's own queues
    /// (`[telephony.asterisk]`).
    Asterisk,
}
