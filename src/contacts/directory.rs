//! The database-backed contact directory: contact databases, their contacts, and the
//! `CONTACTO_INSERT_SALESFORCE` lookup/insert the telephony engine calls for each inbound call.
//!
//! Concurrency: a unique index on `(database_id, clave_1)` makes the key the arbiter. A lookup
//! selects; when nothing is there it inserts with `ON CONFLICT DO NOTHING RETURNING id`; when
//! that returns nothing another call won the race and a second select finds its contact. No
//! transaction spans the select and the insert. On SQLite the inserts of concurrent calls are
//! committed in groups (see `group_commit`), since its single writer makes a commit per call
//! the bottleneck.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use sqlx::Row;

use super::group_commit::GroupInserter;
use super::phone::{Caller, Region};
use super::{Clavesf, ContactMatch, ContactResolver, ContactsError, InboundLookup};
use crate::store::{Backend, Store, now_millis};

/// How a database finds its contacts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, clap::ValueEnum)]
pub enum KeyKind {
    /// By Clave_1, the DATA of the call (an IVR-collected customer number, …).
    #[serde(rename = "clave_1")]
    #[value(name = "clave_1")]
    Clave1,
    /// By the caller's number in E.164 (the ANI), which is also stored as Clave_1.
    #[serde(rename = "phone")]
    #[value(name = "phone")]
    Phone,
}

impl KeyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyKind::Clave1 => "clave_1",
            KeyKind::Phone => "phone",
        }
    }

    fn from_column(s: &str) -> Result<KeyKind, ContactsError> {
        match s {
            "clave_1" => Ok(KeyKind::Clave1),
            "phone" => Ok(KeyKind::Phone),
            other => Err(ContactsError::Corrupt(format!(
                "contact_databases.key_kind `{other}`"
            ))),
        }
    }
}

impl std::fmt::Display for KeyKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A contact database (IDDATABASE).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ContactDatabase {
    pub id: i64,
    pub name: String,
    pub key_kind: KeyKind,
    /// The contact-center CRM the database belongs to (crmId).
    pub crm_id: i64,
    pub created_at_ms: i64,
}

/// What an administrator gives to create a contact database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewContactDatabase {
    /// The IDDATABASE the telephony configuration uses; must be positive and unused.
    pub id: i64,
    pub name: String,
    pub key_kind: KeyKind,
    pub crm_id: i64,
}

/// A database and how many contacts it holds.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DatabaseListing {
    #[serde(flatten)]
    pub database: ContactDatabase,
    pub contacts: i64,
}

/// One contact.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Contact {
    pub id: i64,
    pub database_id: i64,
    /// The key field; for a contact created with empty DATA, its own id.
    pub clave_1: Option<String>,
    /// E.164.
    pub phone: Option<String>,
    pub name: Option<String>,
    /// Other columns of the CSV file it was imported from.
    pub extra: serde_json::Map<String, serde_json::Value>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

/// The contact databases and their contacts, in the store.
#[derive(Debug, Clone)]
pub struct ContactDirectory {
    store: Store,
    default_country: Region,
    /// Databases are immutable once created, so a found one stays valid; a missing one is
    /// looked up again next time (another process may create it).
    databases: Arc<RwLock<HashMap<i64, Arc<ContactDatabase>>>>,
    /// SQLite: new contacts are inserted in groups, one commit per group.
    group_inserter: Option<GroupInserter>,
}

/// How many times a lookup re-runs select/insert when it loses a race and then cannot see the
/// winner's row (only if the row is deleted in between).
const RACE_RETRIES: usize = 3;

/// The id of the contact keyed `$2` in database `$1`.
pub(super) const SELECT_ID: &str = "SELECT id FROM contacts WHERE database_id = $1 AND clave_1 = $2";
/// Inserts a contact keyed `$2` unless the key is taken; returns its id only when inserted.
pub(super) const INSERT_KEYED: &str = "INSERT INTO contacts (database_id, clave_1, phone, created_at_ms, updated_at_ms) \
     VALUES ($1, $2, $3, $4, $4) ON CONFLICT (database_id, clave_1) DO NOTHING RETURNING id";
/// Inserts a contact with no key yet (see [`SET_OWN_KEY`]); returns its id.
pub(super) const INSERT_UNKEYED: &str = "INSERT INTO contacts (database_id, clave_1, phone, created_at_ms, updated_at_ms) \
     VALUES ($1, NULL, $2, $3, $3) RETURNING id";
/// Makes contact `$2`'s id (`$1`, as text) its Clave_1. An imported contact may already use
/// that number as its Clave_1; then this contact keeps none rather than take the other's key,
/// and CLAVESF carries its id anyway.
pub(super) const SET_OWN_KEY: &str = "UPDATE contacts SET clave_1 = $1 WHERE id = $2 AND NOT EXISTS \
     (SELECT 1 FROM contacts WHERE database_id = $3 AND clave_1 = $1)";

const CONTACT_COLUMNS: &str = "id, database_id, clave_1, phone, name, extra, created_at_ms, updated_at_ms";

impl ContactDirectory {
    pub fn new(store: Store, default_country: Region) -> ContactDirectory {
        let group_inserter = match store.backend() {
            Backend::Sqlite => GroupInserter::start(store.pool().clone()),
            // PostgreSQL commits concurrent transactions in parallel.
            Backend::Postgres => None,
        };
        ContactDirectory {
            store,
            default_country,
            databases: Arc::default(),
            group_inserter,
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The region national numbers are read in.
    pub fn default_country(&self) -> Region {
        self.default_country
    }

    /// Creates a contact database.
    pub async fn create_database(&self, new: &NewContactDatabase) -> Result<ContactDatabase, ContactsError> {
        if new.id <= 0 {
            return Err(ContactsError::InvalidDatabase(format!(
                "the database id must be a positive number, got {}",
                new.id
            )));
        }
        let name = new.name.trim();
        if name.is_empty() {
            return Err(ContactsError::InvalidDatabase(
                "the database name must not be empty".into(),
            ));
        }
        let created_at_ms = now_millis();
        let inserted = sqlx::query(
            "INSERT INTO contact_databases (id, name, key_kind, crm_id, created_at_ms) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING",
        )
        .bind(new.id)
        .bind(name)
        .bind(new.key_kind.as_str())
        .bind(new.crm_id)
        .bind(created_at_ms)
        .execute(self.store.pool())
        .await?;
        if inserted.rows_affected() == 0 {
            return Err(ContactsError::DatabaseExists(new.id));
        }
        Ok(ContactDatabase {
            id: new.id,
            name: name.to_owned(),
            key_kind: new.key_kind,
            crm_id: new.crm_id,
            created_at_ms,
        })
    }

    /// Every contact database with its number of contacts, by id.
    pub async fn list_databases(&self) -> Result<Vec<DatabaseListing>, ContactsError> {
        let rows = sqlx::query(
            "SELECT d.id, d.name, d.key_kind, d.crm_id, d.created_at_ms, \
                    (SELECT COUNT(*) FROM contacts c WHERE c.database_id = d.id) AS contacts \
             FROM contact_databases d ORDER BY d.id",
        )
        .fetch_all(self.store.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(DatabaseListing {
                    database: database_from_row(row)?,
                    contacts: row.try_get("contacts")?,
                })
            })
            .collect()
    }

    /// The database `id`, if it exists.
    pub async fn database(&self, id: i64) -> Result<Option<Arc<ContactDatabase>>, ContactsError> {
        if let Some(found) = self.cached(id) {
            return Ok(Some(found));
        }
        let row = sqlx::query(
            "SELECT id, name, key_kind, crm_id, created_at_ms FROM contact_databases WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(self.store.pool())
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let database = Arc::new(database_from_row(&row)?);
        self.databases
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert(id, Arc::clone(&database));
        Ok(Some(database))
    }

    fn cached(&self, id: i64) -> Option<Arc<ContactDatabase>> {
        self.databases
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(&id)
            .cloned()
    }

    /// The database `id`, or [`ContactsError::UnknownDatabase`].
    pub async fn require_database(&self, id: i64) -> Result<Arc<ContactDatabase>, ContactsError> {
        self.database(id).await?.ok_or(ContactsError::UnknownDatabase(id))
    }

    /// The contact `id`, if it exists.
    pub async fn contact(&self, id: i64) -> Result<Option<Contact>, ContactsError> {
        let sql = format!("SELECT {CONTACT_COLUMNS} FROM contacts WHERE id = $1");
        // The SQL is a constant column list and a placeholder.
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(self.store.pool())
            .await?;
        row.as_ref().map(contact_from_row).transpose()
    }

    /// The contact whose Clave_1 is `clave_1` in database `database_id`, if any.
    pub async fn contact_by_key(
        &self,
        database_id: i64,
        clave_1: &str,
    ) -> Result<Option<Contact>, ContactsError> {
        let sql = format!("SELECT {CONTACT_COLUMNS} FROM contacts WHERE database_id = $1 AND clave_1 = $2");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(database_id)
            .bind(clave_1)
            .fetch_optional(self.store.pool())
            .await?;
        row.as_ref().map(contact_from_row).transpose()
    }

    /// How many contacts database `database_id` holds.
    pub async fn count_contacts(&self, database_id: i64) -> Result<i64, ContactsError> {
        Ok(
            sqlx::query_scalar("SELECT COUNT(*) FROM contacts WHERE database_id = $1")
                .bind(database_id)
                .fetch_one(self.store.pool())
                .await?,
        )
    }

    /// Finds the contact keyed `key`, inserting it when missing with the caller's number (from
    /// `caller`, or parsed from `ani` only when needed).
    async fn find_or_insert(
        &self,
        database: &ContactDatabase,
        key: String,
        caller: Option<&Caller>,
        ani: Option<&str>,
    ) -> Result<ContactMatch, ContactsError> {
        let pool = self.store.pool();
        let mut phone: Option<Option<String>> = None;
        for _ in 0..RACE_RETRIES {
            let found: Option<i64> = sqlx::query_scalar(SELECT_ID)
                .bind(database.id)
                .bind(key.as_str())
                .fetch_optional(pool)
                .await?;
            if let Some(id) = found {
                return Ok(matched(database, id, key, false));
            }
            let phone = phone.get_or_insert_with(|| match caller {
                Some(caller) => caller.e164().map(str::to_owned),
                None => Caller::from_ani(ani, self.default_country)
                    .e164()
                    .map(str::to_owned),
            });
            let now = now_millis();
            if let Some(inserter) = &self.group_inserter
                && let Some((id, created)) = inserter
                    .insert_keyed(database.id, &key, phone.as_deref(), now)
                    .await
            {
                return Ok(matched(database, id, key, created));
            }
            let inserted: Option<i64> = sqlx::query_scalar(INSERT_KEYED)
                .bind(database.id)
                .bind(key.as_str())
                .bind(phone.as_deref())
                .bind(now)
                .fetch_optional(pool)
                .await?;
            if let Some(id) = inserted {
                return Ok(matched(database, id, key, true));
            }
            // Another call inserted the same key between our select and insert: the next
            // select sees its committed row.
        }
        Err(ContactsError::Contended {
            database_id: database.id,
            key,
        })
    }

    /// Creates a contact whose DATA is its own id (empty DATA, or a private caller of a phone
    /// database): CLAVESF `id-`, so the adapter does not search.
    async fn insert_self_keyed(
        &self,
        database: &ContactDatabase,
        phone: Option<&str>,
    ) -> Result<ContactMatch, ContactsError> {
        let now = now_millis();
        let grouped = match &self.group_inserter {
            Some(inserter) => inserter.insert_unkeyed(database.id, phone, now).await,
            None => None,
        };
        let id = match grouped {
            Some(id) => id,
            None => self.insert_unkeyed_alone(database.id, phone, now).await?,
        };
        let own_key = id.to_string();
        Ok(ContactMatch {
            contact_id: id,
            database_id: database.id,
            crm_id: database.crm_id,
            crm_key: own_key,
            clavesf: Clavesf {
                contact_id: id,
                data: String::new(),
            },
            created: true,
        })
    }

    /// [`INSERT_UNKEYED`] and [`SET_OWN_KEY`] in a transaction of their own.
    async fn insert_unkeyed_alone(
        &self,
        database_id: i64,
        phone: Option<&str>,
        now: i64,
    ) -> Result<i64, ContactsError> {
        let mut tx = self.store.pool().begin().await?;
        let id: i64 = sqlx::query_scalar(INSERT_UNKEYED)
            .bind(database_id)
            .bind(phone)
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;
        sqlx::query(SET_OWN_KEY)
            .bind(id.to_string())
            .bind(id)
            .bind(database_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(id)
    }
}

fn matched(database: &ContactDatabase, id: i64, key: String, created: bool) -> ContactMatch {
    ContactMatch {
        contact_id: id,
        database_id: database.id,
        crm_id: database.crm_id,
        clavesf: Clavesf {
            contact_id: id,
            data: key.clone(),
        },
        crm_key: key,
        created,
    }
}

#[async_trait::async_trait]
impl ContactResolver for ContactDirectory {
    /// `CONTACTO_INSERT_SALESFORCE`: see the module documentation of [`crate::contacts`].
    async fn contacto_insert_salesforce(
        &self,
        lookup: &InboundLookup,
    ) -> Result<ContactMatch, ContactsError> {
        let database = self.require_database(lookup.database_id).await?;
        let data = lookup.data.as_deref().map(str::trim).filter(|d| !d.is_empty());
        match (database.key_kind, data) {
            // The common case first: the ANI is parsed only if a contact is inserted.
            (KeyKind::Clave1, Some(key)) => {
                self.find_or_insert(&database, key.to_owned(), None, lookup.ani.as_deref())
                    .await
            }
            (KeyKind::Clave1, None) => {
                let caller = Caller::from_ani(lookup.ani.as_deref(), self.default_country);
                self.insert_self_keyed(&database, caller.e164()).await
            }
            (KeyKind::Phone, _) => {
                let caller = Caller::from_ani(lookup.ani.as_deref(), self.default_country);
                let key = caller
                    .e164()
                    .map(str::to_owned)
                    .or_else(|| data.and_then(|d| super::phone::normalize(d, self.default_country).ok()));
                match key {
                    Some(key) => self.find_or_insert(&database, key, Some(&caller), None).await,
                    None => self.insert_self_keyed(&database, None).await,
                }
            }
        }
    }
}

fn database_from_row(row: &sqlx::any::AnyRow) -> Result<ContactDatabase, ContactsError> {
    let kind: String = row.try_get("key_kind")?;
    Ok(ContactDatabase {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        key_kind: KeyKind::from_column(&kind)?,
        crm_id: row.try_get("crm_id")?,
        created_at_ms: row.try_get("created_at_ms")?,
    })
}

fn contact_from_row(row: &sqlx::any::AnyRow) -> Result<Contact, ContactsError> {
    let extra: Option<String> = row.try_get("extra")?;
    let extra = match extra {
        None => serde_json::Map::new(),
        Some(text) => serde_json::from_str(&text)
            .map_err(|e| ContactsError::Corrupt(format!("contacts.extra is not a JSON object: {e}")))?,
    };
    Ok(Contact {
        id: row.try_get("id")?,
        database_id: row.try_get("database_id")?,
        clave_1: row.try_get("clave_1")?,
        phone: row.try_get("phone")?,
        name: row.try_get("name")?,
        extra,
        created_at_ms: row.try_get("created_at_ms")?,
        updated_at_ms: row.try_get("updated_at_ms")?,
    })
}
