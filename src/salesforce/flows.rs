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
use sqlx::{AnyConnection, Row};

use super::client::{Record, SalesforceClient};
use super::error::SalesforceError;
use super::outbox::{Outbox, Write, enqueue};
use crate::callcenter::DeploymentConfig;
use crate::callcenter::values::{FieldMappings, NeotelData as NeotelName, SearchEntity};
use crate::store::{StoreError, now_millis};
use crate::telephony::events::{EndReason, Event, EventEnvelope, NeotelData};
use crate::telephony::types::{AgentId, CallState, CallView, Direction, Disposition, TransferTarget};

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

/// A call's external id (`ctiCallId__c`, CallObject): the engine's call id, which never
/// repeats across restarts and instances.
pub fn call_external_id(call_id: u64) -> String {
    call_id.to_string()
}

/// Turns telephony events into call-log rows and Task writes, inside the transaction that
/// commits the change that produced them (see [`crate::store::core`]).
pub struct CallLogger {
    outbox: Outbox,
    settings: Arc<FlowSettings>,
}

#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("no call of agent {agent} to link")]
    NoCall { agent: String },
    #[error("call {call_id} is not the current call of agent {agent}")]
    NotCurrentCall { agent: String, call_id: u64 },
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

/// The Task's Subject for a call.
fn task_subject(direction: Direction, phone: Option<&str>) -> String {
    match (direction, phone) {
        (Direction::Inbound, Some(phone)) => format!("Inbound call from {phone}"),
        (Direction::Outbound, Some(phone)) => format!("Outbound call to {phone}"),
        (Direction::Inbound, None) => "Inbound call".to_owned(),
        (Direction::Outbound, None) => "Outbound call".to_owned(),
    }
}

fn direction_name(direction: Direction) -> &'static str {
    match direction {
        Direction::Inbound => "Inbound",
        Direction::Outbound => "Outbound",
    }
}

impl CallLogger {
    pub fn new(outbox: Outbox, settings: Arc<FlowSettings>) -> Self {
        Self { outbox, settings }
    }

    /// Records one event in a transaction of its own (tests, benchmarks; the server records
    /// inside the engine's commit).
    pub async fn handle(&self, envelope: &EventEnvelope) -> Result<(), FlowError> {
        let mut tx = self.outbox.store().begin_write().await?;
        self.record(&mut tx, envelope).await?;
        tx.commit().await?;
        self.outbox.notify();
        Ok(())
    }

    /// Records one event on `conn` (the committing transaction). Events that concern no call
    /// log are ignored.
    pub async fn record(&self, conn: &mut AnyConnection, envelope: &EventEnvelope) -> Result<(), FlowError> {
        let agent = envelope.agent.as_ref().map(AgentId::as_str);
        let at = envelope.at.timestamp_millis();
        match &envelope.event {
            // The call rings on its owner's device, or the owner dials it: the softphone may
            // pop the record from now on, so the row must exist.
            Event::CallOffered { call }
                if agent.is_some() && call.agent.as_ref().map(AgentId::as_str) == agent =>
            {
                self.opened(conn, agent, call, at).await
            }
            Event::Position(position)
                if position.call.as_ref().is_some_and(|c| {
                    c.state == CallState::Dialing && c.agent.as_ref() == Some(&position.user)
                }) =>
            {
                match &position.call {
                    Some(call) => self.opened(conn, agent, call, at).await,
                    None => Ok(()),
                }
            }
            Event::CallConnected { call } => self.connected(conn, agent, call, envelope.at).await,
            Event::CallEnded { call_id, reason } => self.ended(conn, agent, call_id.0, *reason, at).await,
            Event::ContactUpdated {
                call_id, disposition, ..
            } => self.categorized(conn, call_id.0, disposition).await,
            Event::TransferCompleted { call_id, target } => {
                self.note(
                    conn,
                    call_id.0,
                    &format!("Transferred to {}", describe_target(target)),
                )
                .await
            }
            Event::CallbackScheduled { callback, call_id } => {
                let line = format!(
                    "Callback scheduled for {} to {}",
                    callback.at.format("%Y-%m-%d %H:%M UTC"),
                    callback.phone
                );
                self.note(conn, call_id.0, &line).await
            }
            _ => Ok(()),
        }
    }

    /// The call's row exists from the first ring or dial; before it connects, a new offer
    /// (the first agent let it ring out) moves it to the new agent, and drops what the first
    /// agent popped (the new agent's softphone pops again).
    async fn opened(
        &self,
        conn: &mut AnyConnection,
        agent: Option<&str>,
        call: &CallView,
        at_ms: i64,
    ) -> Result<(), FlowError> {
        let external_id = call_external_id(call.data.call_id);
        let manual = matches!(call.data.call_reason.as_deref(), Some("manual" | "clickToDial"));
        let notes = if manual { "Manual dial" } else { "" };
        sqlx::query(
            "INSERT INTO call_log (external_id, agent, direction, phone, data, clavesf, notes, created_at_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (external_id) DO UPDATE SET agent = excluded.agent, data = excluded.data, \
             record_type = CASE WHEN call_log.agent = excluded.agent THEN call_log.record_type END, \
             record_id = CASE WHEN call_log.agent = excluded.agent THEN call_log.record_id END \
             WHERE call_log.connected_at_ms IS NULL AND call_log.ended_at_ms IS NULL",
        )
        .bind(&external_id)
        .bind(agent.or(call.agent.as_ref().map(AgentId::as_str)))
        .bind(direction_name(call.direction))
        .bind(call.data.phone_number.as_deref())
        .bind(serde_json::to_string(&call.data).unwrap_or_else(|_| "{}".into()))
        .bind(call.clavesf.as_deref())
        .bind(notes)
        .bind(at_ms)
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    async fn connected(
        &self,
        conn: &mut AnyConnection,
        agent: Option<&str>,
        call: &CallView,
        at: DateTime<Utc>,
    ) -> Result<(), FlowError> {
        let at_ms = at.timestamp_millis();
        self.opened(conn, agent, call, at_ms).await?;
        let external_id = call_external_id(call.data.call_id);
        // A transferred or re-offered call connects again: the Task exists already.
        let first = sqlx::query(
            "UPDATE call_log SET connected_at_ms = $1 WHERE external_id = $2 AND connected_at_ms IS NULL \
             RETURNING notes, record_type, record_id",
        )
        .bind(at_ms)
        .bind(&external_id)
        .fetch_optional(&mut *conn)
        .await?;
        let Some(row) = first else { return Ok(()) };
        if !self.settings.save_activity_log {
            return Ok(());
        }
        let notes: String = row.try_get(0)?;
        let record_type: Option<String> = row.try_get(1)?;
        let record_id: Option<String> = row.try_get(2)?;
        let direction = direction_name(call.direction);
        let mut fields = Map::new();
        fields.insert(
            "Subject".into(),
            json!(task_subject(call.direction, call.data.phone_number.as_deref())),
        );
        fields.insert("Status".into(), json!("In Progress"));
        fields.insert("CallType".into(), json!(direction));
        fields.insert("CallObject".into(), json!(external_id));
        fields.insert("ActivityDate".into(), json!(at.format("%Y-%m-%d").to_string()));
        let owner_agent = agent.or(call.agent.as_ref().map(AgentId::as_str));
        if let Some(owner) = owner_agent.and_then(|a| self.settings.owners.get(a)) {
            fields.insert("OwnerId".into(), json!(owner));
        }
        if self.settings.use_task_description && !notes.is_empty() {
            fields.insert("Description".into(), json!(notes));
        }
        // Popped while ringing or dialing: the Task is born linked.
        if let (Some(object), Some(id)) = (record_type, record_id) {
            fields.insert(link_field(&object).into(), json!(id));
        }
        enqueue(conn, &task_write(&external_id, fields), at_ms).await?;
        Ok(())
    }

    /// Closes the row when the call is over for its owner: not when it rang out on an agent
    /// (it goes back to the queue), nor when a guest or consulted agent leaves it.
    async fn ended(
        &self,
        conn: &mut AnyConnection,
        agent: Option<&str>,
        call_id: u64,
        reason: EndReason,
        at_ms: i64,
    ) -> Result<(), FlowError> {
        if agent.is_some() && reason == EndReason::NoAnswer {
            return Ok(());
        }
        let external_id = call_external_id(call_id);
        // An agent's CallEnded closes only that agent's call; an engine-wide one any.
        let sql = if agent.is_some() {
            "UPDATE call_log SET ended_at_ms = $1, end_reason = $2 \
             WHERE external_id = $3 AND ended_at_ms IS NULL AND agent = $4 RETURNING connected_at_ms"
        } else {
            "UPDATE call_log SET ended_at_ms = $1, end_reason = $2 \
             WHERE external_id = $3 AND ended_at_ms IS NULL RETURNING connected_at_ms"
        };
        let mut query = sqlx::query(sql)
            .bind(at_ms)
            .bind(format!("{reason:?}"))
            .bind(&external_id);
        if let Some(agent) = agent {
            query = query.bind(agent);
        }
        let closed = query.fetch_optional(&mut *conn).await?;
        let Some(row) = closed else { return Ok(()) };
        let connected: Option<i64> = row.try_get(0)?;
        if let Some(connected) = connected {
            self.complete_task(conn, &external_id, connected, at_ms).await?;
        }
        Ok(())
    }

    async fn complete_task(
        &self,
        conn: &mut AnyConnection,
        external_id: &str,
        connected_ms: i64,
        at_ms: i64,
    ) -> Result<(), FlowError> {
        if !self.settings.save_activity_log {
            return Ok(());
        }
        let duration = ((at_ms - connected_ms).max(0) + 500) / 1000;
        let mut fields = Map::new();
        fields.insert("Status".into(), json!("Completed"));
        fields.insert("CallDurationInSeconds".into(), json!(duration));
        enqueue(conn, &task_write(external_id, fields), at_ms).await?;
        Ok(())
    }

    /// After a restart: calls the last process left open are closed as ended by the restart,
    /// at the last moment it was known alive; those that connected get their Task completed.
    /// Returns how many were closed.
    pub async fn close_open_calls(
        &self,
        conn: &mut AnyConnection,
        last_alive_ms: i64,
    ) -> Result<u64, FlowError> {
        let open = sqlx::query(
            "UPDATE call_log SET ended_at_ms = CASE WHEN created_at_ms > $1 THEN created_at_ms ELSE $1 END, \
             end_reason = 'ServerRestart' WHERE ended_at_ms IS NULL RETURNING external_id, connected_at_ms, ended_at_ms",
        )
        .bind(last_alive_ms)
        .fetch_all(&mut *conn)
        .await?;
        for row in &open {
            let external_id: String = row.try_get(0)?;
            let connected: Option<i64> = row.try_get(1)?;
            let ended: i64 = row.try_get(2)?;
            if let Some(connected) = connected {
                self.complete_task(conn, &external_id, connected, ended.max(connected))
                    .await?;
            }
        }
        Ok(open.len() as u64)
    }

    /// The row of call `call_id`: its external id, notes and data. Call 0 is no call (a
    /// contact handed before any call). The engine only reports an agent's own contact, and
    /// after a transfer the contact is the target's, so the row's first agent is not checked.
    async fn row_of(
        &self,
        conn: &mut AnyConnection,
        call_id: u64,
    ) -> Result<Option<(String, String, String)>, FlowError> {
        if call_id == 0 {
            return Ok(None);
        }
        let row = sqlx::query("SELECT external_id, notes, data FROM call_log WHERE external_id = $1")
            .bind(call_external_id(call_id))
            .fetch_optional(&mut *conn)
            .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?)))
    }

    async fn categorized(
        &self,
        conn: &mut AnyConnection,
        call_id: u64,
        disposition: &Disposition,
    ) -> Result<(), FlowError> {
        let Some((external_id, notes, data)) = self.row_of(conn, call_id).await? else {
            return Ok(());
        };
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
        // Control characters (NUL above all, which PostgreSQL text refuses) are dropped.
        let comment: Option<String> = disposition
            .comment
            .as_deref()
            .map(|c| {
                c.chars()
                    .filter(|ch| !ch.is_control() || *ch == '\n')
                    .collect::<String>()
            })
            .map(|c| c.trim().to_owned())
            .filter(|c| !c.is_empty());
        let notes = match comment {
            Some(comment) => append_line(&notes, &comment),
            None => notes,
        };
        sqlx::query("UPDATE call_log SET disposition = $1, notes = $2 WHERE external_id = $3")
            .bind(&text)
            .bind(&notes)
            .bind(&external_id)
            .execute(&mut *conn)
            .await?;
        if self.settings.save_activity_log {
            let mut fields = Map::new();
            fields.insert("CallDisposition".into(), json!(text));
            if self.settings.use_task_description && !notes.is_empty() {
                fields.insert("Description".into(), json!(notes));
            }
            enqueue(conn, &task_write(&external_id, fields), now_millis()).await?;
        }
        Ok(())
    }

    async fn note(&self, conn: &mut AnyConnection, call_id: u64, line: &str) -> Result<(), FlowError> {
        let Some((external_id, notes, _)) = self.row_of(conn, call_id).await? else {
            return Ok(());
        };
        let notes = append_line(&notes, line);
        sqlx::query("UPDATE call_log SET notes = $1 WHERE external_id = $2")
            .bind(&notes)
            .bind(&external_id)
            .execute(&mut *conn)
            .await?;
        if self.settings.save_activity_log && self.settings.use_task_description {
            let mut fields = Map::new();
            fields.insert("Description".into(), json!(notes));
            enqueue(conn, &task_write(&external_id, fields), now_millis()).await?;
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl crate::store::core::EventRecorder for CallLogger {
    async fn record(
        &self,
        conn: &mut AnyConnection,
        event: &EventEnvelope,
    ) -> Result<(), crate::store::core::RecordError> {
        CallLogger::record(self, conn, event).await.map_err(|e| match &e {
            FlowError::Store(StoreError::Sqlx(inner)) => crate::store::core::RecordError::from_sqlx(inner),
            _ => crate::store::core::RecordError {
                transient: false,
                message: e.to_string(),
            },
        })
    }

    async fn recover(&self, conn: &mut AnyConnection, last_alive_ms: i64) -> Result<u64, String> {
        self.close_open_calls(conn, last_alive_ms)
            .await
            .map_err(|e| e.to_string())
    }

    fn committed(&self) {
        self.outbox.notify();
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
    pub fn new(outbox: Outbox, settings: Arc<FlowSettings>, client: Option<Arc<SalesforceClient>>) -> Self {
        Self {
            outbox,
            settings,
            client,
        }
    }

    /// The call `call_id`'s external id and data. The caller has checked it is the agent's
    /// current call (the engine's word: after a transfer it is the target's, though the row
    /// names the first agent).
    async fn call_of(
        &self,
        conn: &mut sqlx::AnyConnection,
        agent: &str,
        call_id: u64,
    ) -> Result<(String, NeotelData), FlowError> {
        let row = sqlx::query("SELECT external_id, data FROM call_log WHERE external_id = $1")
            .bind(call_external_id(call_id))
            .fetch_optional(&mut *conn)
            .await?;
        let Some(row) = row else {
            return Err(FlowError::NoCall {
                agent: agent.to_owned(),
            });
        };
        let data: String = row.try_get(1)?;
        Ok((row.try_get(0)?, serde_json::from_str(&data).unwrap_or_default()))
    }

    /// A fresh `neoSyncId__c` (Number(18,0)) for the new-record screen of the agent's call.
    pub async fn new_sync_id(&self, agent: &str, call_id: u64) -> Result<i64, FlowError> {
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
    /// The caller has checked that `call_id` is the agent's current call.
    pub async fn record_popped(
        &self,
        agent: &str,
        call_id: u64,
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
        // Linked before the call connected: the Task is created linked when it connects.
        let connected: Option<i64> = sqlx::query_scalar(
            "UPDATE call_log SET record_type = $1, record_id = $2 WHERE external_id = $3 RETURNING connected_at_ms",
        )
        .bind(object_type)
        .bind(record_id)
        .bind(&external_id)
        .fetch_one(&mut *tx)
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
        if self.settings.save_activity_log && connected.is_some() {
            let mut fields = Map::new();
            fields.insert(link_field(object_type).into(), json!(record_id));
            enqueue(&mut tx, &task_write(&external_id, fields), now).await?;
        }
        tx.commit().await?;
        self.outbox.notify();
        Ok(())
    }

    /// The REST client, when credentials are configured (owner routing searches with it).
    pub fn shared_client(&self) -> Option<Arc<SalesforceClient>> {
        self.client.clone()
    }

    /// The entity types searched, in priority order.
    pub fn entity_types(&self) -> &[String] {
        &self.settings.entity_types
    }

    fn client(&self) -> Result<&SalesforceClient, FlowError> {
        self.client
            .as_deref()
            .ok_or(FlowError::Salesforce(SalesforceError::NotConfigured))
    }

    /// Finds the record created with `neo_sync_id` (SOQL by `neoSyncId__c` over the entity
    /// types in priority order) and links it to the call as a pop would.
    pub async fn sync(&self, agent: &str, call_id: u64, neo_sync_id: i64) -> Result<RecordRef, FlowError> {
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
