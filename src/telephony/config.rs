//! The `[telephony]` roster and campaigns as written in the configuration file.
//!
//! Passwords are argon2 PHC strings (`ctibridge hash-password`), never plain text. With no
//! `agents` the embedded engine runs the demo roster; with no `campaigns`, the demo campaigns
//! (see [`crate::telephony::engine`]).

use serde::{Deserialize, Serialize};

use super::types::{DialerKind, Role};

/// One agent or supervisor of the roster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    /// The telephony user name (USUARIO on the softphone login).
    pub user: String,
    /// The agent's usual device (DISPOSITIVO); informative, any free device may be used.
    pub device: String,
    /// argon2 PHC string (`$argon2id$v=19$…`).
    pub password_hash: String,
    #[serde(default)]
    pub role: Role,
    /// The Salesforce user the telephony user is bound to (`005…`).
    #[serde(default)]
    pub salesforce_user_id: Option<String>,
    #[serde(default)]
    pub salesforce_username: Option<String>,
}

/// Whether a campaign receives calls from a queue or places them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CampaignKind {
    Inbound,
    Outbound,
}

/// One campaign: its queue, contact database, transfer list and dispositions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CampaignConfig {
    pub id: i64,
    pub name: String,
    pub kind: CampaignKind,
    /// Outbound campaigns only: how leads are dialed.
    #[serde(default)]
    pub dialer: Option<DialerKind>,
    /// The queue calls wait in (inbound: the queue the IVR routes to). Defaults to the id.
    #[serde(default)]
    pub queue: Option<String>,
    /// @IDDATABASE: where unknown callers are inserted; the database of the dialer's leads.
    pub database_id: i64,
    /// The contact-center CRM the database belongs to.
    #[serde(default)]
    pub crm_id: i64,
    /// Transfer phone list offered on each call of the campaign.
    #[serde(default)]
    pub transfer_phones: Vec<String>,
    #[serde(default)]
    pub categories: Vec<CategoryConfig>,
    /// Seconds after hang-up before the contact is released by itself; absent = never.
    #[serde(default)]
    pub auto_release_secs: Option<u64>,
    /// Inbound campaigns: the outbound campaign that dials the callbacks scheduled here.
    #[serde(default)]
    pub callback_campaign: Option<i64>,
    /// Inbound campaigns: seconds a call may wait for an agent before it leaves the queue as
    /// missed (no agent); absent = it waits until the caller hangs up. Applies where the core
    /// routes calls; Asterisk's queues use their own `timeout`.
    #[serde(default)]
    pub max_wait_secs: Option<u64>,
    /// Inbound campaigns: opening hours, e.g. `["mon-fri 08:00-20:00", "sat 09:00-14:00"]`;
    /// a call outside them is not queued but recorded as missed. Empty = always open.
    #[serde(default)]
    pub hours: Vec<String>,
    /// The IANA time zone `hours` are read in (e.g. `Europe/Madrid`); absent = UTC.
    #[serde(default)]
    pub timezone: Option<String>,
}

/// A disposition category with its subcategories.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CategoryConfig {
    pub id: i64,
    pub name: String,
    #[serde(default)]
    pub subcategories: Vec<SubcategoryConfig>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubcategoryConfig {
    pub id: i64,
    pub name: String,
    /// True for the "schedule" disposition: categorizing with it needs a callback time.
    #[serde(default)]
    pub schedule: bool,
}

/// A custom rest state (the system ones are built in).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestStateConfig {
    pub id: u32,
    pub name: String,
}
