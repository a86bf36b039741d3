//! CRM interaction with any web CRM, in the manner of OMniLeads' external sites: a campaign
//! invokes its site on each call — the server sends the request when the call connects
//! (trigger `server`) or when the agent categorizes with a marked disposition (`disposition`),
//! the softphone opens it (`automatic`, `agent`) — with parameters of six families placed in
//! the query string, the body or the `{holder}` places of a clean URL.
//!
//! - [`model`]: sites, campaign parameters and their validation;
//! - [`render`]: a site's request for one call's values;
//! - [`registry`]: the definitions in the database (admin API, configuration file);
//! - [`recorder`]: calls → requests, in the transaction of the call's state change;
//! - [`outbox`] and [`worker`]: durable, at-least-once delivery with retries and backoff.

pub mod model;
pub mod outbox;
pub mod recorder;
pub mod registry;
pub mod render;
pub mod worker;

use serde::Deserialize;

pub use model::{CampaignCrm, Site};
pub use outbox::CrmOutbox;
pub use registry::CrmRegistry;

/// `[crm]`: definitions loaded at start-up (written over the stored ones of the same names)
/// and the delivery settings.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CrmConfig {
    pub sites: Vec<Site>,
    pub campaigns: Vec<CampaignCrm>,
    pub delivery: worker::DeliveryConfig,
}

impl CrmConfig {
    /// What can be checked without the database: each site, each campaign's parameters, and
    /// that every campaign names a site defined here or stored.
    pub fn validate(&self) -> Result<(), String> {
        let mut names = std::collections::BTreeSet::new();
        for site in &self.sites {
            site.validate().map_err(|e| format!("crm.{e}"))?;
            if !names.insert(site.name.as_str()) {
                return Err(format!("crm.sites.{}: defined twice", site.name));
            }
        }
        let mut campaigns = std::collections::BTreeSet::new();
        for binding in &self.campaigns {
            binding.validate_params().map_err(|e| format!("crm.{e}"))?;
            if !campaigns.insert(binding.campaign) {
                return Err(format!("crm.campaigns.{}: defined twice", binding.campaign));
            }
        }
        self.delivery.validate()
    }
}
