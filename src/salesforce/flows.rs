//! The Neotel manual's Salesforce flows, server side:
//! - [`CallLogger`]: telephony events → the `call_log` row of the call and, in the same
//!   transaction, the outbox writes of its Task (`saveActivityLog`): created when the call
//!   connects (Subject, Status, TaskSubtype Call, CallType, CallObject, ActivityDate, OwnerId),
//!   completed when it ends (CallDurationInSeconds), categorized on release (CallDisposition =
//!   category / subcategory), with the management information in Description
//!   (`useTaskDescriptionField`: manual dial, transfer, scheduled callback, notes).
//! - [`SalesforceFlows`]: what the softphone asks of the server — a record popped (write
//!   `externalData` onto it and link the Task: WhoId for Contact/Lead, WhatId otherwise), a fresh
//!   `neoSyncId__c` for the new-record screen, the neoSyncId sync (SOQL over the entity types,
//!   since SOSL does not see new records for minutes), and the server-side search (SOSL on
//!   phone fields, or by Id when the key is a Salesforce Id) ordered by `searchTypePriority`.
//!
//! Every Salesforce write goes through the outbox: an outage delays it, never loses it.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};
use sqlx::Row;

use super::client::{Record, SalesforceClient};
use super::error::SalesforceError;
use super::outbox::{Outbox, Write, enqueue};
use crate::callcenter::DeploymentConfig;
use crate::callcenter::values::{FieldMappings, NeotelData as NeotelName, SearchEntity};
use crate::store::{StoreError, now_millis};
use crate::telephony::events::{EndReason, Event, EventEnvelope, NeotelData};
use crate::telephony::types::{AgentId, CallView, Direction, Disposition, TransferTarget};

/// The Task field holding the call's external id (External ID, Unique, on Activity).
pub const TASK_CALL_ID_FIELD: &str = "ctiCallId__c";
/// The field every entity used by the integration carries for the new-record sync.
pub const SYNC_ID_FIELD: &str = "neoSyncId__c";

/// What the flows need from the configuration.
#[derive(Debug, Clone)]
pub struct FlowSettings {
    pub save_activity_log: bool,
    pub use_task_description: bool,
    pub external_data: FieldMappings,
    /// Entity types searched, in priority order.
    pub entity_types: Vec<String>,
    /// Telephony user → Salesforce user id (Task OwnerId).
    pub owners: HashMap<String, String>,
    /// (campaign, category, subcategory) → "Category / Subcategory".
    pub dispositions: HashMap<(i64, i64, i64), String>,
}

impl FlowSettings {
    /// From the whole configuration: as [`FlowSettings::new`], and no Task writes when the
    /// adapter logs calls itself (`salesforce.task_log`, by default: no credentials).
    pub fn from_config(config: &crate::config::Config) -> Self {
        let mut settings = Self::new(&config.callcenter, &config.telephony);
        settings.save_activity_log &= config.salesforce.task_logger() == super::config::TaskLog::Server;
        settings
    }

    /// From `[callcenter]` and `[telephony]` (the demo campaigns when none are configured, as
    /// the engine does).
    pub fn new(callcenter: &DeploymentConfig, telephony: &crate::config::TelephonyConfig) -> Self {
        let campaigns = telephony.effective_campaigns();
        let mut entity_types: Vec<String> = callcenter
            .search_type_priority
            .order()
            .iter()
            .filter(|e| **e != SearchEntity::Company)
            .map(|e| e.as_str().to_owned())
            .collect();
        for default in ["Contact", "Account", "Lead", "Opportunity"] {
            if !entity_types.iter().any(|t| t == default) {
                entity_types.push(default.to_owned());
            }
        }
        let mut dispositions = HashMap::new();
        for campaign in &campaigns {
            for category in &campaign.categories {
                for sub in &category.subcategories {
                    dispositions.insert(
                        (campaign.id, category.id, sub.id),
                        format!("{} / {}", category.name, sub.name),
                    );
                }
            }
        }
        Self {
            save_activity_log: callcenter.save_activity_log,
            use_task_description: callcenter.use_task_description_field,
            external_data: callcenter.external_data.clone(),
            entity_types,
            owners: telephony
                .agents
                .iter()
                .filter_map(|a| a.salesforce_user_id.clone().map(|id| (a.user.clone(), id)))
                .collect(),
            dispositions,
        }
    }
}

/// The value of one Neotel name in a call's data.
pub fn neotel_value(data: &NeotelData, name: NeotelName) -> Option<Value> {
    let number = |n: Option<i64>| n.map(Value::from);
    let text = |s: &Option<String>| s.clone().map(Value::from);
    match name {
        NeotelName::CallCampaign => number(data.call_campaing),
        NeotelName::CallDialer => text(&data.call_dialer),
        NeotelName::CallId => (data.call_id != 0).then(|| Value::from(data.call_id)),
        NeotelName::CallQueue => text(&data.call_queue),
        NeotelName::CallReason => text(&data.call_reason),
        NeotelName::PhoneNumber => text(&data.phone_number),
        NeotelName::ContactBaseId => number(data.contact_base_id),
        NeotelName::CampaignCrmId => number(data.campaign_crm_id),
        NeotelName::CampaignBaseId => number(data.campaign_base_id),
        NeotelName::UserOutCampaign => number(data.user_out_campaign),
        NeotelName::CrmId => number(data.crm_id),
        NeotelName::ContactId => number(data.contact_id),
        NeotelName::CrmKey => text(&data.crm_key),
        NeotelName::SearchBy => text(&data.search_by),
        NeotelName::SearchData => text(&data.search_data),
    }
}

/// The `externalData` fields for a call's data (names without a value are left out).
pub fn external_data_fields(mappings: &FieldMappings, data: &NeotelData) -> Map<String, Value> {
    mappings
        .mappings
        .iter()
        .filter_map(|m| neotel_value(data, m.data).map(|v| (m.field.as_str().to_owned(), v)))
        .collect()
}

/// WhoId for people (Contact, Lead), WhatId for everything else.
pub fn link_field(object_type: &str) -> &'static str {
    if matches!(object_type, "Contact" | "Lead") {
        "WhoId"
    } else {
        "WhatId"
    }
}

/// A call's external id (`ctiCallId__c`, CallObject): engine call ids restart with the process,
/// so the process's run id goes in front. The logger and the softphone helpers must agree on it.
fn call_external_id(run_id: &str, call_id: u64) -> String {
    format!("{run_id}-{call_id}")
}

/// Turns telephony events into call-log rows and Task writes.
pub struct CallLogger {
    outbox: Outbox,
    settings: Arc<FlowSettings>,
    /// Engine call ids restart with the process: this prefix makes external ids unique.
    run_id: String,
}

#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("no call of agent {agent} to link")]
    NoCall { agent: String },
    #[error("{0}")]
    Invalid(String),
    #[error("no {object} record has neoSyncId__c = {neo_sync_id}")]
    NotFound { object: String, neo_sync_id: i64 },
    #[error(transparent)]
    Salesforce(#[from] SalesforceError),
}

impl From<sqlx::Error> for FlowError {
    fn from(e: sqlx::Error) -> Self {
        FlowError::Store(StoreError::Sqlx(e))
    }
}

impl CallLogger {
    pub fn new(outbox: Outbox, settings: Arc<FlowSettings>, run_id: impl Into<String>) -> Self {
        Self {
            outbox,
            settings,
            run_id: run_id.into(),
        }
    }

    /// A run id for this process: start time and randomness, short.
    pub fn new_run_id() -> String {
        format!("{:x}{:04x}", now_millis(), rand::random::<u16>())
    }

    pub fn external_id(&self, call_id: u64) -> String {
        call_external_id(&self.run_id, call_id)
    }

    /// Follows the engine's event stream until it closes.
    pub async fn run(self, mut events: tokio::sync::broadcast::Receiver<EventEnvelope>) {
        use tokio::sync::broadcast::error::RecvError;
        loop {
            match events.recv().await {
                Ok(envelope) => {
                    if let Err(e) = self.handle(&envelope).await {
                        tracing::error!(error = %e, "cannot record the call log for an event");
                    }
                }
                Err(RecvError::Lagged(missed)) => {
                    tracing::error!(
                        missed,
                        "call logger fell behind the telephony events; some call logs are incomplete"
                    );
                }
                Err(RecvError::Closed) => return,
            }
        }
    }

    /// Records one event. Events that concern no call log are ignored.
    pub async fn handle(&self, envelope: &EventEnvelope) -> Result<(), FlowError> {
        let agent = envelope.agent.as_ref().map(AgentId::as_str);
        let at = envelope.at.timestamp_millis();
        match &envelope.event {
            Event::CallConnected { call } => self.connected(agent, call, envelope.at).await,
            Event::CallEnded { call_id, reason } => self.ended(call_id.0, *reason, at).await,
            Event::ContactUpdated {
                call_id, disposition, ..
            } => self.categorized(agent, call_id.0, disposition).await,
            Event::TransferCompleted { call_id, target } => {
                self.note(
                    agent,
                    call_id.0,
                    &format!("Transferred to {}", describe_target(target)),
                )
                .await
            }
            Event::CallbackScheduled { callback } => {
                let agent = callback.scheduled_by.as_str();
                self.note(
                    Some(agent),
                    0,
                    &format!(
                        "Callback scheduled for {} to {}",
                        callback.at.format("%Y-%m-%d %H:%M UTC"),
                        callback.phone
                    ),
                )
                .await
            }
            _ => Ok(()),
        }
    }

    async fn connected(
        &self,
        agent: Option<&str>,
        call: &CallView,
        at: DateTime<Utc>,
    ) -> Result<(), FlowError> {
        let external_id = self.external_id(call.data.call_id);
        let manual = matches!(call.data.call_reason.as_deref(), Some("manual" | "clickToDial"));
        let direction = match call.direction {
            Direction::Inbound => "Inbound",
            Direction::Outbound => "Outbound",
        };
        let notes = if manual {
            "Manual dial".to_owned()
        } else {
            String::new()
        };
        let mut tx = self.outbox.store().begin_write().await?;
        let inserted = sqlx::query(
            "INSERT INTO call_log (external_id, agent, direction, phone, data, clavesf, connected_at_ms, notes, created_at_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $7) ON CONFLICT (external_id) DO NOTHING",
        )
        .bind(&external_id)
        .bind(agent.or(call.agent.as_ref().map(AgentId::as_str)))
        .bind(direction)
        .bind(call.data.phone_number.as_deref())
        .bind(serde_json::to_string(&call.data).unwrap_or_else(|_| "{}".into()))
        .bind(call.clavesf.as_deref())
        .bind(at.timestamp_millis())
        .bind(&notes)
        .execute(&mut *tx)
        .await?;
        // A transferred or re-offered call connects again: the Task exists already.
        if inserted.rows_affected() == 1 && self.settings.save_activity_log {
            let mut fields = Map::new();
            let subject = match (call.direction, call.data.phone_number.as_deref()) {
                (Direction::Inbound, Some(phone)) => format!("Inbound call from {phone}"),
                (Direction::Outbound, Some(phone)) => format!("Outbound call to {phone}"),
                (Direction::Inbound, None) => "Inbound call".to_owned(),
                (Direction::Outbound, None) => "Outbound call".to_owned(),
            };
            fields.insert("Subject".into(), json!(subject));
            fields.insert("Status".into(), json!("In Progress"));
            fields.insert("CallType".into(), json!(direction));
            fields.insert("CallObject".into(), json!(external_id));
            fields.insert("ActivityDate".into(), json!(at.format("%Y-%m-%d").to_string()));
            if let Some(owner) = agent.and_then(|a| self.settings.owners.get(a)) {
                fields.insert("OwnerId".into(), json!(owner));
            }
            if self.settings.use_task_description && !notes.is_empty() {
                fields.insert("Description".into(), json!(notes));
            }
            enqueue(&mut tx, &task_write(&external_id, fields), at.timestamp_millis()).await?;
        }
        tx.commit().await?;
        self.outbox.notify();
        Ok(())
    }

    async fn ended(&self, call_id: u64, reason: EndReason, at_ms: i64) -> Result<(), FlowError> {
        let external_id = self.external_id(call_id);
        let mut tx = self.outbox.store().begin_write().await?;
        let row = sqlx::query("SELECT connected_at_ms, ended_at_ms FROM call_log WHERE external_id = $1")
            .bind(&external_id)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(row) = row else { return Ok(()) };
        let connected: Option<i64> = row.try_get(0)?;
        let already_ended: Option<i64> = row.try_get(1)?;
        if already_ended.is_some() {
            return Ok(());
        }
        sqlx::query("UPDATE call_log SET ended_at_ms = $1, end_reason = $2 WHERE external_id = $3")
            .bind(at_ms)
            .bind(format!("{reason:?}"))
            .bind(&external_id)
            .execute(&mut *tx)
            .await?;
        if self.settings.save_activity_log {
            let duration = connected.map(|c| ((at_ms - c).max(0) + 500) / 1000).unwrap_or(0);
            let mut fields = Map::new();
            fields.insert("Status".into(), json!("Completed"));
            fields.insert("CallDurationInSeconds".into(), json!(duration));
            enqueue(&mut tx, &task_write(&external_id, fields), at_ms).await?;
        }
        tx.commit().await?;
        self.outbox.notify();
        Ok(())
    }

    /// The call a contact-level event refers to: its own id, or (0 once the call is over) the
    /// agent's latest call.
    async fn resolve(
        &self,
        conn: &mut sqlx::AnyConnection,
        agent: Option<&str>,
        call_id: u64,
    ) -> Result<Option<(String, String)>, FlowError> {
        let row = if call_id != 0 {
            sqlx::query("SELECT external_id, notes FROM call_log WHERE external_id = $1")
                .bind(self.external_id(call_id))
                .fetch_optional(&mut *conn)
                .await?
        } else if let Some(agent) = agent {
            sqlx::query("SELECT external_id, notes FROM call_log WHERE agent = $1 ORDER BY id DESC LIMIT 1")
                .bind(agent)
                .fetch_optional(&mut *conn)
                .await?
        } else {
            None
        };
        Ok(match row {
            Some(row) => Some((row.try_get(0)?, row.try_get(1)?)),
            None => None,
        })
    }

    async fn categorized(
        &self,
        agent: Option<&str>,
        call_id: u64,
        disposition: &Disposition,
    ) -> Result<(), FlowError> {
        let mut tx = self.outbox.store().begin_write().await?;
        let Some((external_id, notes)) = self.resolve(&mut tx, agent, call_id).await? else {
            return Ok(());
        };
        let data: String = sqlx::query_scalar("SELECT data FROM call_log WHERE external_id = $1")
            .bind(&external_id)
            .fetch_one(&mut *tx)
            .await?;
        let campaign = serde_json::from_str::<NeotelData>(&data)
            .ok()
            .and_then(|d| d.call_campaing)
            .unwrap_or_default();
        let text = self
            .settings
            .dispositions
            .get(&(campaign, disposition.category, disposition.subcategory))
            .cloned()
            .unwrap_or_else(|| format!("{} / {}", disposition.category, disposition.subcategory));
        let text: String = text.chars().take(255).collect();
        let notes = match disposition
            .comment
            .as_deref()
            .map(str::trim)
            .filter(|c| !c.is_empty())
        {
            Some(comment) => append_line(&notes, comment),
            None => notes,
        };
        sqlx::query("UPDATE call_log SET disposition = $1, notes = $2 WHERE external_id = $3")
            .bind(&text)
            .bind(&notes)
            .bind(&external_id)
            .execute(&mut *tx)
            .await?;
        if self.settings.save_activity_log {
            let mut fields = Map::new();
            fields.insert("CallDisposition".into(), json!(text));
            if self.settings.use_task_description && !notes.is_empty() {
                fields.insert("Description".into(), json!(notes));
            }
            enqueue(&mut tx, &task_write(&external_id, fields), now_millis()).await?;
        }
        tx.commit().await?;
        self.outbox.notify();
        Ok(())
    }

    async fn note(&self, agent: Option<&str>, call_id: u64, line: &str) -> Result<(), FlowError> {
        let mut tx = self.outbox.store().begin_write().await?;
        let Some((external_id, notes)) = self.resolve(&mut tx, agent, call_id).await? else {
            return Ok(());
        };
        let notes = append_line(&notes, line);
        sqlx::query("UPDATE call_log SET notes = $1 WHERE external_id = $2")
            .bind(&notes)
            .bind(&external_id)
            .execute(&mut *tx)
            .await?;
        if self.settings.save_activity_log && self.settings.use_task_description {
            let mut fields = Map::new();
            fields.insert("Description".into(), json!(notes));
            enqueue(&mut tx, &task_write(&external_id, fields), now_millis()).await?;
        }
        tx.commit().await?;
        self.outbox.notify();
        Ok(())
    }
}

fn append_line(notes: &str, line: &str) -> String {
    if notes.is_empty() {
        line.to_owned()
    } else {
        format!("{notes}\n{line}")
    }
}

fn describe_target(target: &TransferTarget) -> String {
    match target {
        TransferTarget::External(number) => format!("number {number}"),
        TransferTarget::User(user) => format!("user {}", user.as_str()),
        TransferTarget::Queue(queue) => format!("queue {queue}"),
        TransferTarget::Campaign(campaign) => format!("campaign {}", campaign.0),
    }
}

/// The Task upsert of a call.
pub fn task_write(external_id: &str, fields: Map<String, Value>) -> Write {
    let mut create_only = Map::new();
    create_only.insert("TaskSubtype".into(), json!("Call"));
    Write::Upsert {
        sobject: "Task".into(),
        external_field: TASK_CALL_ID_FIELD.into(),
        external_value: external_id.into(),
        fields,
        create_only,
    }
}

/// A Salesforce record as the softphone names it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordRef {
    pub record_id: String,
    pub object_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// What the softphone asks of the server about Salesforce records.
pub struct SalesforceFlows {
    outbox: Outbox,
    settings: Arc<FlowSettings>,
    client: Option<Arc<SalesforceClient>>,
    logger_run: String,
}

/// sObject API names: letters, digits and underscores, starting with a letter.
fn valid_object_type(name: &str) -> bool {
    name.len() <= 80
        && name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A 15- or 18-character Salesforce record id.
pub fn valid_record_id(id: &str) -> bool {
    (id.len() == 15 || id.len() == 18) && id.chars().all(|c| c.is_ascii_alphanumeric())
}

impl SalesforceFlows {
    pub fn new(
        outbox: Outbox,
        settings: Arc<FlowSettings>,
        client: Option<Arc<SalesforceClient>>,
        run_id: impl Into<String>,
    ) -> Self {
        Self {
            outbox,
            settings,
            client,
            logger_run: run_id.into(),
        }
    }

    fn external_id(&self, call_id: u64) -> String {
        call_external_id(&self.logger_run, call_id)
    }

    /// The agent's call `call_id` (absent or 0: the agent's latest): its external id and data.
    /// Another agent's call is not found.
    async fn call_of(
        &self,
        conn: &mut sqlx::AnyConnection,
        agent: &str,
        call_id: Option<u64>,
    ) -> Result<(String, NeotelData), FlowError> {
        let row = match call_id.filter(|id| *id != 0) {
            Some(id) => sqlx::query("SELECT external_id, data, agent FROM call_log WHERE external_id = $1")
                .bind(self.external_id(id))
                .fetch_optional(&mut *conn)
                .await?
                .filter(|r| r.try_get::<Option<String>, _>(2).ok().flatten().as_deref() == Some(agent)),
            None => {
                sqlx::query(
                    "SELECT external_id, data, agent FROM call_log WHERE agent = $1 ORDER BY id DESC LIMIT 1",
                )
                .bind(agent)
                .fetch_optional(&mut *conn)
                .await?
            }
        };
        let Some(row) = row else {
            return Err(FlowError::NoCall {
                agent: agent.to_owned(),
            });
        };
        let data: String = row.try_get(1)?;
        Ok((row.try_get(0)?, serde_json::from_str(&data).unwrap_or_default()))
    }

    /// A fresh `neoSyncId__c` (Number(18,0)) for the new-record screen of the agent's call.
    pub async fn new_sync_id(&self, agent: &str, call_id: Option<u64>) -> Result<i64, FlowError> {
        for _ in 0..8 {
            let candidate: i64 = rand::random_range(100_000_000_000_000..999_999_999_999_999_999);
            let mut tx = self.outbox.store().begin_write().await?;
            let (external_id, _) = self.call_of(&mut tx, agent, call_id).await?;
            let updated = sqlx::query("UPDATE call_log SET neo_sync_id = $1 WHERE external_id = $2")
                .bind(candidate)
                .bind(&external_id)
                .execute(&mut *tx)
                .await;
            match updated {
                Ok(_) => {
                    tx.commit().await?;
                    return Ok(candidate);
                }
                // Another call holds this number (astronomically unlikely): draw again.
                Err(sqlx::Error::Database(e)) if e.is_unique_violation() => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(FlowError::Invalid("cannot allocate a unique neoSyncId".into()))
    }

    /// The agent popped `record_id`: write `externalData` onto it and link the call's Task.
    pub async fn record_popped(
        &self,
        agent: &str,
        call_id: Option<u64>,
        record_id: &str,
        object_type: &str,
    ) -> Result<(), FlowError> {
        if !valid_record_id(record_id) {
            return Err(FlowError::Invalid(format!(
                "recordId `{record_id}` is not a Salesforce record id"
            )));
        }
        if !valid_object_type(object_type) {
            return Err(FlowError::Invalid(format!(
                "objectType `{object_type}` is not an sObject API name"
            )));
        }
        let now = now_millis();
        let mut tx = self.outbox.store().begin_write().await?;
        let (external_id, data) = self.call_of(&mut tx, agent, call_id).await?;
        sqlx::query("UPDATE call_log SET record_type = $1, record_id = $2 WHERE external_id = $3")
            .bind(object_type)
            .bind(record_id)
            .bind(&external_id)
            .execute(&mut *tx)
            .await?;
        let external = external_data_fields(&self.settings.external_data, &data);
        if !external.is_empty() {
            enqueue(
                &mut tx,
                &Write::Update {
                    sobject: object_type.to_owned(),
                    id: record_id.to_owned(),
                    fields: external,
                },
                now,
            )
            .await?;
        }
        if self.settings.save_activity_log {
            let mut fields = Map::new();
            fields.insert(link_field(object_type).into(), json!(record_id));
            enqueue(&mut tx, &task_write(&external_id, fields), now).await?;
        }
        tx.commit().await?;
        self.outbox.notify();
        Ok(())
    }

    fn client(&self) -> Result<&SalesforceClient, FlowError> {
        self.client
            .as_deref()
            .ok_or(FlowError::Salesforce(SalesforceError::NotConfigured))
    }

    /// Finds the record created with `neo_sync_id` (SOQL by `neoSyncId__c` over the entity
    /// types in priority order) and links it to the call as a pop would.
    pub async fn sync(
        &self,
        agent: &str,
        call_id: Option<u64>,
        neo_sync_id: i64,
    ) -> Result<RecordRef, FlowError> {
        let client = self.client()?;
        for object in &self.settings.entity_types {
            let soql = format!("SELECT Id, Name FROM {object} WHERE {SYNC_ID_FIELD} = {neo_sync_id} LIMIT 1");
            let found = client.query(&soql).await?;
            if let Some(record) = found.first() {
                let found = record_ref(record, object);
                self.record_popped(agent, call_id, &found.record_id, &found.object_type)
                    .await?;
                return Ok(found);
            }
        }
        Err(FlowError::NotFound {
            object: self.settings.entity_types.join("/"),
            neo_sync_id,
        })
    }

    /// Server-side search: by Id when `key` is a Salesforce record id, else SOSL on phone
    /// fields; results ordered by the entity priority.
    pub async fn search(&self, key: Option<&str>, phone: Option<&str>) -> Result<Vec<RecordRef>, FlowError> {
        let client = self.client()?;
        if let Some(key) = key.map(str::trim).filter(|k| valid_record_id(k)) {
            for object in &self.settings.entity_types {
                let soql = format!("SELECT Id, Name FROM {object} WHERE Id = '{key}' LIMIT 1");
                match client.query(&soql).await {
                    Ok(found) if !found.is_empty() => return Ok(vec![record_ref(&found[0], object)]),
                    Ok(_) => {}
                    // An id of another type is refused by some types: keep looking.
                    Err(e) if e.error_code() == Some("INVALID_QUERY_FILTER_OPERATOR") => {}
                    Err(e) if e.error_code() == Some("MALFORMED_ID") => {}
                    Err(e) => return Err(e.into()),
                }
            }
            return Ok(Vec::new());
        }
        let digits: String = phone
            .unwrap_or_default()
            .chars()
            .filter(char::is_ascii_digit)
            .collect();
        if digits.len() < 3 {
            return Err(FlowError::Invalid(
                "search needs a Salesforce record id or a phone number of at least 3 digits".into(),
            ));
        }
        let returning = self
            .settings
            .entity_types
            .iter()
            .map(|t| format!("{t}(Id, Name)"))
            .collect::<Vec<_>>()
            .join(", ");
        let found = client
            .search(&format!(
                "FIND {{{digits}}} IN PHONE FIELDS RETURNING {returning}"
            ))
            .await?;
        let mut records: Vec<RecordRef> = found
            .iter()
            .map(|r| record_ref(r, r["attributes"]["type"].as_str().unwrap_or_default()))
            .collect();
        records.sort_by_key(|r| {
            self.settings
                .entity_types
                .iter()
                .position(|t| *t == r.object_type)
                .unwrap_or(usize::MAX)
        });
        Ok(records)
    }
}

fn record_ref(record: &Record, object: &str) -> RecordRef {
    RecordRef {
        record_id: record
            .get("Id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        object_type: object.to_owned(),
        name: record.get("Name").and_then(Value::as_str).map(str::to_owned),
    }
}
