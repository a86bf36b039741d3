//! Telephony: one trait for the NeoApi method set (Login, Dial, Hangup, Position, …) and one
//! event stream, with the drivers behind it (the embedded contact-center engine by default).
//!
//! The trait and the embedded engine arrive with the telephony issue; the configuration already
//! names the driver so deployments can pin it.

use serde::{Deserialize, Serialize};

/// Which telephony driver the server talks to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum DriverKind {
    /// The embedded contact-center engine: agents, campaigns, ACD and dialers in-process.
    #[default]
    Embedded,
}
