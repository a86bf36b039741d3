//! An in-memory `CONTACTO_INSERT_SALESFORCE`, for the server until the database-backed
//! directory is wired in: the same rules, nothing kept across restarts.
//!
//! Rules (the stored procedure's): find the contact by DATA (the key field) in the database;
//! insert it when missing; with empty DATA insert a new contact whose key is its own id and
//! answer CLAVESF `id-` (the adapter then does not search).

use std::sync::Mutex;

use super::{Clavesf, ContactMatch, ContactResolver, ContactsError, InboundLookup};

/// The CRM every in-memory database belongs to.
const CRM_ID: i64 = 1;
/// Contact ids start here, like a fresh contact table.
const FIRST_ID: i64 = 1;

#[derive(Debug, Default)]
pub struct InMemoryContactDirectory {
    rows: Mutex<Vec<Row>>,
}

#[derive(Debug, Clone)]
struct Row {
    id: i64,
    database_id: i64,
    key: String,
}

impl InMemoryContactDirectory {
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait::async_trait]
impl ContactResolver for InMemoryContactDirectory {
    async fn contacto_insert_salesforce(
        &self,
        lookup: &InboundLookup,
    ) -> Result<ContactMatch, ContactsError> {
        let mut rows = self.rows.lock().unwrap_or_else(|p| p.into_inner());
        let data = lookup
            .data
            .as_deref()
            .map(str::trim)
            .filter(|d| !d.is_empty())
            .map(str::to_owned);
        if let Some(key) = &data
            && let Some(row) = rows
                .iter()
                .find(|r| r.database_id == lookup.database_id && r.key == *key)
        {
            return Ok(ContactMatch {
                contact_id: row.id,
                database_id: row.database_id,
                crm_id: CRM_ID,
                crm_key: row.key.clone(),
                clavesf: Clavesf {
                    contact_id: row.id,
                    data: key.clone(),
                },
                created: false,
            });
        }
        let id = FIRST_ID + rows.len() as i64;
        let key = data.clone().unwrap_or_else(|| id.to_string());
        rows.push(Row {
            id,
            database_id: lookup.database_id,
            key: key.clone(),
        });
        Ok(ContactMatch {
            contact_id: id,
            database_id: lookup.database_id,
            crm_id: CRM_ID,
            crm_key: key,
            clavesf: Clavesf {
                contact_id: id,
                data: data.unwrap_or_default(),
            },
            created: true,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(data: Option<&str>) -> InboundLookup {
        InboundLookup {
            data: data.map(str::to_owned),
            ani: Some("1155550100".into()),
            database_id: 1,
        }
    }

    #[tokio::test]
    async fn finds_by_key_inserts_when_missing_and_keys_empty_data_by_its_own_id() {
        let dir = InMemoryContactDirectory::new();
        let first = dir
            .contacto_insert_salesforce(&lookup(Some("31987456")))
            .await
            .unwrap();
        assert!(first.created);
        assert_eq!(
            first.clavesf.to_string(),
            format!("{}-31987456", first.contact_id)
        );
        let again = dir
            .contacto_insert_salesforce(&lookup(Some("31987456")))
            .await
            .unwrap();
        assert!(!again.created);
        assert_eq!(again.contact_id, first.contact_id);
        let anonymous = dir.contacto_insert_salesforce(&lookup(Some("  "))).await.unwrap();
        assert!(anonymous.created);
        assert_eq!(anonymous.crm_key, anonymous.contact_id.to_string());
        assert_eq!(
            anonymous.clavesf.to_string(),
            format!("{}-", anonymous.contact_id)
        );
    }
}
