//! Where the definitions live: the `crm_sites` and `crm_campaigns` tables (written by the
//! admin API, seeded from the configuration file at start-up), read through an in-memory copy
//! that each change replaces, so the call path never waits on a query for them.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, RwLock};

use sqlx::Row;

use super::model::{CampaignCrm, CampaignFacts, DefinitionError, Site};
use crate::store::{Store, StoreError, now_millis};
use crate::telephony::config::CampaignConfig;

/// Every definition, as of the last change.
#[derive(Debug, Default, Clone)]
pub struct Definitions {
    pub sites: BTreeMap<String, Site>,
    pub campaigns: BTreeMap<i64, CampaignCrm>,
}

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error(transparent)]
    Invalid(#[from] DefinitionError),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    InUse(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for RegistryError {
    fn from(e: sqlx::Error) -> Self {
        RegistryError::Store(StoreError::Sqlx(e))
    }
}

/// Told the name of a site that changed.
type SiteListener = Box<dyn Fn(&str) + Send + Sync>;

/// The definitions, their tables and the campaigns they are checked against.
#[derive(Clone)]
pub struct CrmRegistry {
    store: Store,
    campaigns: Arc<Vec<CampaignConfig>>,
    current: Arc<RwLock<Arc<Definitions>>>,
    /// Called with a site's name when it changes (its cached token is dropped).
    on_site_change: Arc<RwLock<Vec<SiteListener>>>,
}

impl CrmRegistry {
    /// Loads the stored definitions.
    pub async fn load(store: Store, campaigns: Vec<CampaignConfig>) -> Result<CrmRegistry, RegistryError> {
        let registry = CrmRegistry {
            store,
            campaigns: Arc::new(campaigns),
            current: Arc::default(),
            on_site_change: Arc::default(),
        };
        registry.reload().await?;
        Ok(registry)
    }

    /// The definitions now.
    pub fn current(&self) -> Arc<Definitions> {
        self.current.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn campaign_config(&self, id: i64) -> Option<&CampaignConfig> {
        self.campaigns.iter().find(|c| c.id == id)
    }

    pub fn on_site_change(&self, f: impl Fn(&str) + Send + Sync + 'static) {
        self.on_site_change
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .push(Box::new(f));
    }

    fn site_changed(&self, name: &str) {
        for f in self
            .on_site_change
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            f(name);
        }
    }

    async fn reload(&self) -> Result<(), RegistryError> {
        let mut definitions = Definitions::default();
        for row in sqlx::query("SELECT name, definition FROM crm_sites")
            .fetch_all(self.store.pool())
            .await?
        {
            let name: String = row.try_get(0)?;
            let text: String = row.try_get(1)?;
            let site: Site = serde_json::from_str(&text).map_err(|e| DefinitionError {
                field: format!("sites.{name}"),
                message: format!("the stored definition is unreadable: {e}"),
            })?;
            definitions.sites.insert(name, site);
        }
        for row in sqlx::query("SELECT campaign, definition FROM crm_campaigns")
            .fetch_all(self.store.pool())
            .await?
        {
            let campaign: i64 = row.try_get(0)?;
            let text: String = row.try_get(1)?;
            let binding: CampaignCrm = serde_json::from_str(&text).map_err(|e| DefinitionError {
                field: format!("campaigns.{campaign}"),
                message: format!("the stored definition is unreadable: {e}"),
            })?;
            definitions.campaigns.insert(campaign, binding);
        }
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(definitions);
        Ok(())
    }

    /// The columns of a contact database: those of its contacts' imported files (`None` when
    /// it has no contacts, so nothing to check against).
    pub async fn columns(&self, database_id: i64) -> Result<Option<BTreeSet<String>>, RegistryError> {
        let rows = sqlx::query("SELECT extra FROM contacts WHERE database_id = $1 ORDER BY id LIMIT 500")
            .bind(database_id)
            .fetch_all(self.store.pool())
            .await?;
        if rows.is_empty() {
            return Ok(None);
        }
        let mut columns = BTreeSet::new();
        for row in rows {
            let extra: Option<String> = row.try_get(0)?;
            if let Some(serde_json::Value::Object(map)) =
                extra.as_deref().and_then(|t| serde_json::from_str(t).ok())
            {
                columns.extend(map.keys().cloned());
            }
        }
        Ok(Some(columns))
    }

    async fn check_binding(
        &self,
        binding: &CampaignCrm,
        sites: &BTreeMap<String, Site>,
    ) -> Result<(), RegistryError> {
        let campaign = self.campaign_config(binding.campaign);
        let columns = match campaign {
            Some(c) => self.columns(c.database_id).await?,
            None => None,
        };
        binding.validate(&CampaignFacts {
            campaign,
            site: sites.get(&binding.site),
            columns,
        })?;
        Ok(())
    }

    /// Creates or replaces a site; `Ok(true)` when it is new. A site some campaign uses must
    /// still suit it (its URL holders).
    pub async fn put_site(&self, site: Site) -> Result<bool, RegistryError> {
        site.validate()?;
        let current = self.current();
        let mut sites = current.sites.clone();
        sites.insert(site.name.clone(), site.clone());
        for binding in current.campaigns.values().filter(|b| b.site == site.name) {
            self.check_binding(binding, &sites).await?;
        }
        let created = !current.sites.contains_key(&site.name);
        sqlx::query(
            "INSERT INTO crm_sites (name, definition, updated_at_ms) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET definition = excluded.definition, updated_at_ms = excluded.updated_at_ms",
        )
        .bind(&site.name)
        .bind(site.to_stored().to_string())
        .bind(now_millis())
        .execute(self.store.pool())
        .await?;
        self.reload().await?;
        self.site_changed(&site.name);
        Ok(created)
    }

    /// Deletes a site no campaign uses.
    pub async fn delete_site(&self, name: &str) -> Result<(), RegistryError> {
        let current = self.current();
        if let Some(binding) = current.campaigns.values().find(|b| b.site == name) {
            return Err(RegistryError::InUse(format!(
                "campaign {} invokes site `{name}`: change or delete its CRM parameters first",
                binding.campaign
            )));
        }
        let done = sqlx::query("DELETE FROM crm_sites WHERE name = $1")
            .bind(name)
            .execute(self.store.pool())
            .await?;
        if done.rows_affected() == 0 {
            return Err(RegistryError::NotFound(format!(
                "no external site is named `{name}`"
            )));
        }
        self.reload().await?;
        self.site_changed(name);
        Ok(())
    }

    /// Creates or replaces a campaign's binding; `Ok(true)` when it is new.
    pub async fn put_campaign(&self, binding: CampaignCrm) -> Result<bool, RegistryError> {
        let current = self.current();
        self.check_binding(&binding, &current.sites).await?;
        let created = !current.campaigns.contains_key(&binding.campaign);
        let text = serde_json::to_string(&binding).map_err(|e| DefinitionError {
            field: format!("campaigns.{}", binding.campaign),
            message: e.to_string(),
        })?;
        sqlx::query(
            "INSERT INTO crm_campaigns (campaign, definition, updated_at_ms) VALUES ($1, $2, $3) \
             ON CONFLICT (campaign) DO UPDATE SET definition = excluded.definition, updated_at_ms = excluded.updated_at_ms",
        )
        .bind(binding.campaign)
        .bind(text)
        .bind(now_millis())
        .execute(self.store.pool())
        .await?;
        self.reload().await?;
        Ok(created)
    }

    pub async fn delete_campaign(&self, campaign: i64) -> Result<(), RegistryError> {
        let done = sqlx::query("DELETE FROM crm_campaigns WHERE campaign = $1")
            .bind(campaign)
            .execute(self.store.pool())
            .await?;
        if done.rows_affected() == 0 {
            return Err(RegistryError::NotFound(format!(
                "campaign {campaign} invokes no external site"
            )));
        }
        self.reload().await?;
        Ok(())
    }

    /// Writes the configuration file's definitions over the stored ones of the same names
    /// (sites first, so bindings find them).
    pub async fn apply_config(&self, config: &super::CrmConfig) -> Result<(), RegistryError> {
        for site in &config.sites {
            self.put_site(site.clone()).await?;
        }
        for binding in &config.campaigns {
            self.put_campaign(binding.clone()).await?;
        }
        Ok(())
    }
}
