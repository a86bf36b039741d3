//! The owner search in Salesforce: one SOSL query on phone fields over the entity types in
//! searchTypePriority order (as the softphone's search), returning each record's `OwnerId`;
//! the first record in that order wins.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;

use super::{OwnerRecord, OwnerSource};
use crate::salesforce::SalesforceClient;

pub struct SalesforceOwners {
    client: Arc<SalesforceClient>,
    /// Entity types in priority order (`FlowSettings::entity_types`).
    entity_types: Vec<String>,
}

impl SalesforceOwners {
    pub fn new(client: Arc<SalesforceClient>, entity_types: Vec<String>) -> Self {
        Self { client, entity_types }
    }

    /// `FIND {digits} IN PHONE FIELDS RETURNING Contact(Id, OwnerId, Name), …`.
    pub fn sosl(&self, digits: &str) -> String {
        let returning = self
            .entity_types
            .iter()
            .map(|t| format!("{t}(Id, OwnerId, Name)"))
            .collect::<Vec<_>>()
            .join(", ");
        format!("FIND {{{digits}}} IN PHONE FIELDS RETURNING {returning}")
    }
}

#[async_trait]
impl OwnerSource for SalesforceOwners {
    async fn find(&self, digits: &str) -> Result<Option<OwnerRecord>, String> {
        let digits: String = digits.chars().filter(char::is_ascii_digit).collect();
        let found = self
            .client
            .search(&self.sosl(&digits))
            .await
            .map_err(|e| e.to_string())?;
        let rank = |r: &serde_json::Map<String, Value>| {
            let kind = r["attributes"]["type"].as_str().unwrap_or_default();
            self.entity_types
                .iter()
                .position(|t| t == kind)
                .unwrap_or(usize::MAX)
        };
        Ok(found
            .iter()
            .filter(|r| r.get("Id").and_then(Value::as_str).is_some())
            .min_by_key(|r| rank(r))
            .map(|r| OwnerRecord {
                record_type: r["attributes"]["type"].as_str().unwrap_or_default().to_owned(),
                record_id: r["Id"].as_str().unwrap_or_default().to_owned(),
                owner_id: r.get("OwnerId").and_then(Value::as_str).map(str::to_owned),
                name: r.get("Name").and_then(Value::as_str).map(str::to_owned),
            }))
    }
}
