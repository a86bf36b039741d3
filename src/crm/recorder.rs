//! Calls → CRM requests, inside the transaction that commits the call's state change: when a
//! call connects to an agent, the campaign's site with trigger `server` gets its request; when
//! the agent categorizes with a disposition the campaign marked, the site with trigger
//! `disposition` gets its own. Each is rendered with the call's values and written to the CRM
//! outbox in that transaction.

use base64::Engine as _;
use chrono::{DateTime, Utc};
use sqlx::{AnyConnection, Row};

use super::model::{CampaignCrm, Family, Site, Trigger};
use super::outbox::{CrmOutbox, NewRequest, enqueue};
use super::registry::CrmRegistry;
use super::render::{new_boundary, render};
use crate::store::core::{EventRecorder, RecordError};
use crate::store::now_millis;
use crate::telephony::config::{CampaignConfig, CampaignKind};
use crate::telephony::events::{Event, EventEnvelope, NeotelData};
use crate::telephony::types::Disposition;

/// What the parameters of one request are read from.
pub struct CallFacts<'a> {
    pub data: &'a NeotelData,
    pub agent: Option<&'a str>,
    pub at: DateTime<Utc>,
    pub campaign: Option<&'a CampaignConfig>,
    pub disposition: Option<&'a Disposition>,
    /// Channel variables handed over by the telephony platform.
    pub variables: &'a std::collections::BTreeMap<String, String>,
}

/// The value of a parameter whose family needs no database (`None` for contact columns).
pub fn plain_value(family: Family, source: &str, facts: &CallFacts<'_>) -> Option<String> {
    let text = |v: Option<String>| Some(v.unwrap_or_default());
    match family {
        Family::Fixed => Some(source.to_owned()),
        Family::Campaign => {
            let c = facts.campaign;
            match source {
                "id" => text(
                    c.map(|c| c.id.to_string())
                        .or(facts.data.call_campaing.map(|id| id.to_string())),
                ),
                "nombre" => text(c.map(|c| c.name.clone())),
                "tipo" => text(c.map(|c| match (c.kind, c.dialer) {
                    (CampaignKind::Inbound, _) => "inbound".to_owned(),
                    (CampaignKind::Outbound, Some(d)) => d.as_str().to_owned(),
                    (CampaignKind::Outbound, None) => "outbound".to_owned(),
                })),
                _ => text(None),
            }
        }
        Family::Call => match source {
            "call_id" => text((facts.data.call_id != 0).then(|| facts.data.call_id.to_string())),
            // Agents are known by their telephony user name; it is also their name here.
            "agent_id" | "agent_username" | "agent_name" => text(facts.agent.map(str::to_owned)),
            "datetime" => text(Some(facts.at.format("%Y-%m-%d %H:%M:%S").to_string())),
            "telefono" => text(facts.data.phone_number.clone()),
            "id_contacto" => text(facts.data.contact_id.map(|id| id.to_string())),
            // Recordings are the platform's; their file name is not handed over (yet).
            _ => text(None),
        },
        Family::Dialplan => text(facts.variables.get(source).cloned()),
        Family::Disposition => {
            let d = facts.disposition;
            match source {
                "id" => text(d.map(|d| format!("{}-{}", d.category, d.subcategory))),
                "name" => text(d.map(|d| disposition_name(facts.campaign, d))),
                "form" => text(d.map(|d| {
                    let form = serde_json::json!({
                        "category": d.category,
                        "subcategory": d.subcategory,
                        "comment": d.comment,
                    });
                    base64::engine::general_purpose::STANDARD.encode(form.to_string())
                })),
                _ => text(None),
            }
        }
        Family::Contact => None,
    }
}

/// "Category / Subcategory" by the campaign's names (ids when unknown).
pub fn disposition_name(campaign: Option<&CampaignConfig>, d: &Disposition) -> String {
    let category = campaign.and_then(|c| c.categories.iter().find(|x| x.id == d.category));
    let sub = category.and_then(|c| c.subcategories.iter().find(|s| s.id == d.subcategory));
    match (category, sub) {
        (Some(c), Some(s)) => format!("{} / {}", c.name, s.name),
        _ => format!("{} / {}", d.category, d.subcategory),
    }
}

/// A contact's column (`id`, `clave_1`, `phone`, `name` or an imported one); empty when the
/// call has no contact or the contact lacks it.
async fn contact_value(
    conn: &mut AnyConnection,
    contact_id: Option<i64>,
    column: &str,
) -> Result<String, sqlx::Error> {
    let Some(id) = contact_id else {
        return Ok(String::new());
    };
    if column == "id" {
        return Ok(id.to_string());
    }
    let row = sqlx::query("SELECT clave_1, phone, name, extra FROM contacts WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    let Some(row) = row else { return Ok(String::new()) };
    let value: Option<String> = match column {
        "clave_1" => row.try_get(0)?,
        "phone" => row.try_get(1)?,
        "name" => row.try_get(2)?,
        other => {
            let extra: Option<String> = row.try_get(3)?;
            extra
                .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
                .and_then(|v| match v.get(other) {
                    Some(serde_json::Value::String(s)) => Some(s.clone()),
                    Some(serde_json::Value::Null) | None => None,
                    Some(v) => Some(v.to_string()),
                })
        }
    };
    Ok(value.unwrap_or_default())
}

/// The parameters' values for one call, in the binding's order.
pub async fn values(
    conn: &mut AnyConnection,
    binding: &CampaignCrm,
    facts: &CallFacts<'_>,
) -> Result<Vec<(String, String)>, sqlx::Error> {
    let mut values = Vec::with_capacity(binding.params.len());
    for param in &binding.params {
        let value = match plain_value(param.family, &param.source, facts) {
            Some(v) => v,
            None => contact_value(conn, facts.data.contact_id, &param.source).await?,
        };
        values.push((param.name.clone(), value));
    }
    Ok(values)
}

/// What the softphone opens for the agent's call `data` (triggers automatic and agent);
/// `None` when the call's campaign invokes no such site.
pub async fn browser_request(
    registry: &CrmRegistry,
    conn: &mut AnyConnection,
    data: &NeotelData,
    agent: &str,
) -> Result<Option<(Site, super::render::BrowserRequest)>, sqlx::Error> {
    let definitions = registry.current();
    let Some(binding) = data.call_campaing.and_then(|c| definitions.campaigns.get(&c)) else {
        return Ok(None);
    };
    let Some(site) = definitions
        .sites
        .get(&binding.site)
        .filter(|s| matches!(s.trigger, Trigger::Automatic | Trigger::Agent))
    else {
        return Ok(None);
    };
    let facts = CallFacts {
        data,
        agent: Some(agent),
        at: Utc::now(),
        campaign: registry.campaign_config(binding.campaign),
        disposition: None,
        variables: &data.crm_variables,
    };
    let values = values(conn, binding, &facts).await?;
    match super::render::for_browser(site, &values) {
        Ok(request) => Ok(Some((site.clone(), request))),
        Err(e) => {
            tracing::error!(site = %site.name, error = %e, "CRM request not rendered");
            Ok(None)
        }
    }
}

/// The [`EventRecorder`] that writes CRM requests.
pub struct CrmRecorder {
    registry: CrmRegistry,
    outbox: CrmOutbox,
}

impl CrmRecorder {
    pub fn new(registry: CrmRegistry, outbox: CrmOutbox) -> Self {
        Self { registry, outbox }
    }

    /// The binding of `campaign` and its site, when the site's trigger is `trigger`.
    fn binding(&self, campaign: Option<i64>, trigger: Trigger) -> Option<(CampaignCrm, Site)> {
        let definitions = self.registry.current();
        let binding = definitions.campaigns.get(&campaign?)?;
        let site = definitions.sites.get(&binding.site)?;
        (site.trigger == trigger).then(|| (binding.clone(), site.clone()))
    }

    #[allow(clippy::too_many_arguments)]
    async fn write(
        &self,
        conn: &mut AnyConnection,
        binding: &CampaignCrm,
        site: &Site,
        key: String,
        facts: &CallFacts<'_>,
    ) -> Result<(), RecordError> {
        let values = values(conn, binding, facts)
            .await
            .map_err(|e| RecordError::from_sqlx(&e))?;
        let request = match render(site, &values, &new_boundary()) {
            Ok(request) => request,
            Err(e) => {
                // Checked when defined; a value cannot make the URL invalid (it is escaped).
                tracing::error!(site = %site.name, error = %e, "CRM request not rendered");
                return Ok(());
            }
        };
        let call_id = (facts.data.call_id != 0).then(|| facts.data.call_id.to_string());
        enqueue(
            conn,
            &NewRequest {
                dedup_key: key,
                site: &site.name,
                campaign: Some(binding.campaign),
                call_id,
                request,
            },
            now_millis(),
        )
        .await
        .map_err(|e| match e {
            crate::store::StoreError::Sqlx(e) => RecordError::from_sqlx(&e),
            other => RecordError {
                transient: true,
                message: other.to_string(),
            },
        })?;
        Ok(())
    }

    async fn connected(
        &self,
        conn: &mut AnyConnection,
        envelope: &EventEnvelope,
        data: &NeotelData,
        agent: Option<&str>,
    ) -> Result<(), RecordError> {
        let Some((binding, site)) = self.binding(data.call_campaing, Trigger::Server) else {
            return Ok(());
        };
        let facts = CallFacts {
            data,
            agent,
            at: envelope.at,
            campaign: self.registry.campaign_config(binding.campaign),
            disposition: None,
            variables: &data.crm_variables,
        };
        let key = format!("server/{}/{}", data.call_id, site.name);
        self.write(conn, &binding, &site, key, &facts).await
    }

    async fn categorized(
        &self,
        conn: &mut AnyConnection,
        envelope: &EventEnvelope,
        call_id: u64,
        disposition: &Disposition,
    ) -> Result<(), RecordError> {
        if call_id == 0 {
            return Ok(());
        }
        let row = sqlx::query("SELECT data, agent FROM call_log WHERE external_id = $1")
            .bind(crate::salesforce::flows::call_external_id(call_id))
            .fetch_optional(&mut *conn)
            .await
            .map_err(|e| RecordError::from_sqlx(&e))?;
        let Some(row) = row else { return Ok(()) };
        let (data, agent): (String, Option<String>) = (
            row.try_get(0).map_err(|e| RecordError::from_sqlx(&e))?,
            row.try_get(1).map_err(|e| RecordError::from_sqlx(&e))?,
        );
        let Ok(data) = serde_json::from_str::<NeotelData>(&data) else {
            return Ok(());
        };
        let Some((binding, site)) = self.binding(data.call_campaing, Trigger::Disposition) else {
            return Ok(());
        };
        let marked = binding
            .dispositions
            .iter()
            .any(|d| d.category == disposition.category && d.subcategory == disposition.subcategory);
        if !marked {
            return Ok(());
        }
        let agent = envelope.agent.as_ref().map(|a| a.as_str().to_owned()).or(agent);
        let facts = CallFacts {
            data: &data,
            agent: agent.as_deref(),
            at: envelope.at,
            campaign: self.registry.campaign_config(binding.campaign),
            disposition: Some(disposition),
            variables: &data.crm_variables,
        };
        let key = format!("disposition/{call_id}/{}", site.name);
        self.write(conn, &binding, &site, key, &facts).await
    }
}

#[async_trait::async_trait]
impl EventRecorder for CrmRecorder {
    async fn record(&self, conn: &mut AnyConnection, envelope: &EventEnvelope) -> Result<(), RecordError> {
        match &envelope.event {
            Event::CallConnected { call } => {
                let agent = envelope.agent_for(call);
                self.connected(conn, envelope, &call.data, agent).await
            }
            Event::ContactUpdated {
                call_id, disposition, ..
            } => self.categorized(conn, envelope, call_id.0, disposition).await,
            _ => Ok(()),
        }
    }

    async fn recover(&self, _conn: &mut AnyConnection, _last_alive_ms: i64) -> Result<u64, String> {
        Ok(0)
    }

    fn committed(&self) {
        self.outbox.notify();
    }
}

/// Several recorders in one commit, in order (the call log first: the CRM reads its rows).
/// Each behind a savepoint of its own: one that refuses an event for good (a value its tables
/// will never take) loses only its own rows, never the others'.
pub struct Recorders(pub Vec<std::sync::Arc<dyn EventRecorder>>);

#[async_trait::async_trait]
impl EventRecorder for Recorders {
    async fn record(&self, conn: &mut AnyConnection, event: &EventEnvelope) -> Result<(), RecordError> {
        let db = |e: sqlx::Error| RecordError::from_sqlx(&e);
        for (i, recorder) in self.0.iter().enumerate() {
            if i == 0 {
                // The first one's refusal is the whole event's (the core's own savepoint).
                recorder.record(conn, event).await?;
                continue;
            }
            sqlx::query("SAVEPOINT core_recorder")
                .execute(&mut *conn)
                .await
                .map_err(db)?;
            match recorder.record(conn, event).await {
                Ok(()) => {}
                Err(e) if e.transient => return Err(e),
                Err(e) => {
                    sqlx::query("ROLLBACK TO SAVEPOINT core_recorder")
                        .execute(&mut *conn)
                        .await
                        .map_err(db)?;
                    tracing::error!(
                        error = %e.message.escape_debug(),
                        "a recorder refused an event for good; its rows are skipped, the rest of the change is saved"
                    );
                }
            }
            sqlx::query("RELEASE SAVEPOINT core_recorder")
                .execute(&mut *conn)
                .await
                .map_err(db)?;
        }
        Ok(())
    }

    async fn recover(&self, conn: &mut AnyConnection, last_alive_ms: i64) -> Result<u64, String> {
        let mut closed = 0;
        for recorder in &self.0 {
            closed += recorder.recover(conn, last_alive_ms).await?;
        }
        Ok(closed)
    }

    fn committed(&self) {
        for recorder in &self.0 {
            recorder.committed();
        }
    }
}
