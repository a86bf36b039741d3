//! Contacts: the telephony-side contact databases and the `CONTACTO_INSERT_SALESFORCE`
//! equivalent (find the contact by key or ANI, insert it into IDDATABASE when missing, return
//! CLAVESF = `idContacto-Data`).
//!
//! The telephony engine depends only on [`ContactResolver`]; [`ContactDirectory`] implements
//! it on the store. Its rules, for a call with DATA, ANI and IDDATABASE:
//!
//! - IDDATABASE must name an existing database, else [`ContactsError::UnknownDatabase`].
//! - A database keyed by **Clave_1** searches DATA (trimmed, compared exactly). Found: that
//!   contact, CLAVESF `id-DATA`. Missing: a contact with Clave_1 = DATA and phone = the ANI in
//!   E.164 is inserted, CLAVESF `id-DATA`.
//! - A database keyed by **phone** searches the ANI in E.164 (its Clave_1 is that number); when
//!   the caller is private it reads DATA as a number instead. Found / missing as above.
//! - With no key (empty DATA on a Clave_1 database; a private caller and no usable DATA on a
//!   phone database) every call inserts a new contact whose Clave_1 is its own id, and CLAVESF
//!   is `id-`: the adapter does not search, and the call can still be categorized and
//!   scheduled (the manual's private-number case).
//! - Concurrent calls for the same new key create one contact (unique index + re-select).
//!
//! [`import`] loads contact databases from CSV files; [`phone`] normalises numbers.

use std::fmt;

pub mod cli;
pub mod directory;
mod group_commit;
pub mod import;
pub mod phone;

pub use directory::{
    Contact, ContactDatabase, ContactDirectory, DatabaseListing, KeyKind, NewContactDatabase,
};
pub use phone::Region;

/// CLAVESF: `idContacto-Data`, how the contact-center contact id travels to Salesforce.
/// An empty DATA part (`idContacto-`) tells the adapter not to search: the softphone layout
/// decides (new record / search page / nothing).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Clavesf {
    pub contact_id: i64,
    pub data: String,
}

impl Clavesf {
    /// Whether the adapter should search Salesforce with this key.
    pub fn should_search(&self) -> bool {
        !self.data.is_empty()
    }
}

impl fmt::Display for Clavesf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.contact_id, self.data)
    }
}

/// The inputs of `CONTACTO_INSERT_SALESFORCE` for one inbound call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundLookup {
    /// @DATA: the key value (Clave_1), e.g. collected by the IVR; empty or absent when none.
    pub data: Option<String>,
    /// @ANI: the caller's number as signalled; `None` for anonymous / private callers.
    pub ani: Option<String>,
    /// @IDDATABASE: the database the contact is inserted into when missing.
    pub database_id: i64,
}

/// What the lookup/insert found or created.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ContactMatch {
    pub contact_id: i64,
    pub database_id: i64,
    /// The contact-center CRM the database belongs to.
    pub crm_id: i64,
    /// The value of the contact's key field (crmKey).
    pub crm_key: String,
    pub clavesf: Clavesf,
    /// True when the contact was inserted by this lookup.
    pub created: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ContactsError {
    #[error("contact database {0} does not exist")]
    UnknownDatabase(i64),
    #[error("invalid phone number `{input}`: {reason}")]
    InvalidPhone { input: String, reason: String },
    #[error("contact database {0} already exists")]
    DatabaseExists(i64),
    #[error("invalid contact database: {0}")]
    InvalidDatabase(String),
    /// The select/insert race was lost repeatedly (the winner's row vanished each time).
    #[error(
        "could not find or insert the contact keyed `{key}` in database {database_id}: the row kept changing"
    )]
    Contended { database_id: i64, key: String },
    /// A stored value this version cannot read.
    #[error("unexpected stored value: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

impl From<sqlx::Error> for ContactsError {
    fn from(e: sqlx::Error) -> Self {
        ContactsError::Store(crate::store::StoreError::Sqlx(e))
    }
}

/// The `CONTACTO_INSERT_SALESFORCE` seam the telephony engine calls before queueing an
/// inbound call.
#[async_trait::async_trait]
pub trait ContactResolver: Send + Sync + 'static {
    async fn contacto_insert_salesforce(&self, lookup: &InboundLookup)
    -> Result<ContactMatch, ContactsError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clavesf_formats_as_id_dash_data() {
        let with_key = Clavesf {
            contact_id: 42,
            data: "31987456".into(),
        };
        assert_eq!(with_key.to_string(), "42-31987456");
        assert!(with_key.should_search());
        let empty = Clavesf {
            contact_id: 43,
            data: String::new(),
        };
        assert_eq!(empty.to_string(), "43-");
        assert!(!empty.should_search());
    }
}
