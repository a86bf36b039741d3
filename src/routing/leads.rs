//! New Leads for callers Salesforce does not know: where a campaign asks for it
//! (`routing.create_leads`), a caller whose number the owner lookup found on no record gets a
//! Lead owned by the "unprocessed leads" user (`routing.unprocessed_leads_owner`).
//!
//! The Lead is an upsert through the durable Salesforce outbox, keyed by the caller's number
//! (its digits in `neoSyncId__c`, the integration's external id): saved before the call is
//! acknowledged, delivered by the worker, and however many calls come from the number before
//! Salesforce's search index shows the Lead, one Lead. A lookup that failed or timed out
//! creates nothing (the caller may well have a record).

use std::collections::BTreeSet;

use async_trait::async_trait;
use serde_json::{Map, json};

use crate::salesforce::flows::SYNC_ID_FIELD;
use crate::salesforce::{Outbox, Write};

/// Where the core asks for a Lead for a caller with no record.
#[async_trait]
pub trait LeadSink: Send + Sync {
    /// Whether calls of `campaign` create Leads.
    fn wants(&self, campaign: i64) -> bool;
    /// Saves the Lead for the caller `phone` (durably, before the call is acknowledged).
    async fn no_record(&self, phone: &str) -> Result<(), String>;
}

/// [`LeadSink`] on the Salesforce outbox.
pub struct OutboxLeads {
    outbox: Outbox,
    owner: String,
    campaigns: BTreeSet<i64>,
}

impl OutboxLeads {
    pub fn new(outbox: Outbox, owner: String, campaigns: impl IntoIterator<Item = i64>) -> Self {
        Self {
            outbox,
            owner,
            campaigns: campaigns.into_iter().collect(),
        }
    }

    /// The outbox write for `phone`; `None` when it has too few digits to key a Lead.
    pub fn write(&self, phone: &str) -> Option<Write> {
        let digits = super::normalize(phone)?;
        // neoSyncId__c is Number(18,0): a number of at most 18 digits.
        if digits.len() > 18 {
            return None;
        }
        let key = digits.trim_start_matches('0');
        let mut fields = Map::new();
        fields.insert("LastName".into(), json!(phone.trim()));
        fields.insert("Company".into(), json!("Inbound caller"));
        fields.insert("Phone".into(), json!(phone.trim()));
        fields.insert("OwnerId".into(), json!(self.owner));
        Some(Write::Upsert {
            sobject: "Lead".into(),
            external_field: SYNC_ID_FIELD.into(),
            external_value: if key.is_empty() {
                "0".into()
            } else {
                key.to_owned()
            },
            fields,
            create_only: Map::new(),
        })
    }
}

#[async_trait]
impl LeadSink for OutboxLeads {
    fn wants(&self, campaign: i64) -> bool {
        self.campaigns.contains(&campaign)
    }

    async fn no_record(&self, phone: &str) -> Result<(), String> {
        let Some(write) = self.write(phone) else {
            return Ok(());
        };
        self.outbox
            .enqueue(&write, crate::store::now_millis())
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}
