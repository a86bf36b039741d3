//! Missed calls: "no missed call is forgotten". Owns the `missed_calls` table and the
//! Salesforce Task of each missed call.
//!
//! - [`MissedCallRecorder`] (an [`EventRecorder`], run inside the engine's commit): each
//!   inbound call that enters its queue is a `waiting` row (no list shows it; its answer deletes
//!   it), and at the next start those the last process left waiting become missed
//!   (`serverRestart`); each [`Event::CallMissed`] becomes one open row and, in the same
//!   transaction, the outbox upsert of an open Task (Subject "Missed call from …", CallType
//!   Inbound, Status Not Started, ActivityDate, WhoId/WhatId of the caller's record, OwnerId =
//!   the record's owner, else `[salesforce] missed_call_owner`, else the integration user). The
//!   Task's external id (`ctiCallId__c`) and CallObject are the call id, so a replay upserts,
//!   never doubles.
//! - Closing, in the commit of the call that closes it: a call back (`POST
//!   /api/missed/{id}/callback`, the dial carries the missed call's id) that connects closes
//!   that missed call and every other open one of the same number; an inbound call from the
//!   same number that an agent answers (any campaign) closes them too. The Task then gets
//!   Status Completed and a Description line naming the closing call. Closing is idempotent.
//! - [`MissedCalls`]: what the agents' API reads: the open missed calls an agent may see (those
//!   whose record the agent owns, first, then those of the agent's current campaign).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{DateTime, TimeZone, Utc};
use serde::Serialize;
use serde_json::{Map, json};
use sqlx::{AnyConnection, Row};
use tokio::sync::Notify;

use crate::salesforce::flows::{call_external_id, link_field, task_write};
use crate::salesforce::outbox::{Outbox, enqueue};
use crate::store::core::{EventRecorder, RecordError};
use crate::store::{Store, StoreError};
use crate::telephony::events::{Event, EventEnvelope, MissedReason};
use crate::telephony::types::{CallView, CampaignId, Direction};

/// What the missed-call log needs from the configuration.
#[derive(Debug, Clone, Default)]
pub struct MissedSettings {
    /// Whether the server writes Tasks (`[salesforce] task_log` resolves to the server).
    pub write_tasks: bool,
    /// OwnerId of a missed call whose caller has no known owner; `None`: the integration user.
    pub default_owner: Option<String>,
    /// Telephony user → Salesforce user id (an owner known only by its agent).
    pub owners: HashMap<String, String>,
}

impl MissedSettings {
    pub fn from_config(config: &crate::config::Config) -> Self {
        MissedSettings {
            write_tasks: config.salesforce.task_logger() == crate::salesforce::config::TaskLog::Server,
            default_owner: config.salesforce.missed_call_owner.clone(),
            owners: config
                .telephony
                .agents
                .iter()
                .filter_map(|a| a.salesforce_user_id.clone().map(|id| (a.user.clone(), id)))
                .collect(),
        }
    }
}

/// The Task Subject of a missed call.
pub fn subject(phone: Option<&str>) -> String {
    match phone.map(str::trim).filter(|p| !p.is_empty() && !is_private(p)) {
        Some(phone) => format!("Missed call from {phone}"),
        None => "Missed call from a private number".to_owned(),
    }
}

/// Caller ids that name nobody (nothing to dial back).
pub fn is_private(phone: &str) -> bool {
    ["anonymous", "private", "unknown", "restricted", "<unknown>"]
        .iter()
        .any(|p| phone.eq_ignore_ascii_case(p))
}

fn reason_text(reason: &str) -> &'static str {
    match reason {
        "abandoned" => "the caller hung up while waiting",
        "noAgent" => "no agent took it",
        "ringOut" => "it rang out on every agent offered",
        "outsideHours" => "it arrived outside the opening hours",
        "serverRestart" => "it was waiting when the server stopped",
        _ => "unanswered",
    }
}

fn at_text(ms: i64) -> String {
    Utc.timestamp_millis_opt(ms)
        .single()
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_default()
}

/// The Task Description of a missed call (the closing line is added when it closes).
fn description(reason: &str, queue: &str, arrived_at_ms: i64, waited_secs: i64) -> String {
    format!(
        "Missed call ({reason}: {}) in queue {queue}, arrived {}, waited {waited_secs} s",
        reason_text(reason),
        at_text(arrived_at_ms),
    )
}

/// One missed call as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MissedCall {
    pub call_id: u64,
    pub phone: Option<String>,
    pub campaign: i64,
    pub queue: String,
    pub reason: String,
    pub arrived_at: DateTime<Utc>,
    pub ended_at: DateTime<Utc>,
    pub waited_secs: i64,
    pub record_type: Option<String>,
    pub record_id: Option<String>,
    /// The caller's record's name, when the owner lookup found it.
    pub record_name: Option<String>,
    pub owner_id: Option<String>,
    pub owner_agent: Option<String>,
    pub status: String,
    pub closed_by: Option<u64>,
    pub closed_by_agent: Option<String>,
    pub closed_at: Option<DateTime<Utc>>,
}

macro_rules! columns {
    () => {
        "call_id, phone, campaign, queue, reason, arrived_at_ms, ended_at_ms, waited_secs, record_type, \
         record_id, owner_id, owner_agent, status, closed_by, closed_by_agent, closed_at_ms, record_name"
    };
}

macro_rules! close_where {
    ($filter:literal) => {
        concat!(
            "UPDATE missed_calls SET status = 'closed', closed_by = $1, closed_by_agent = $2, closed_at_ms = $3 \
             WHERE status = 'open' AND call_id <> $4 AND ",
            $filter,
            " RETURNING call_id, reason, queue, arrived_at_ms, waited_secs"
        )
    };
}

/// The caller's number, if the call has one (blank is none).
fn caller_phone(call: &CallView) -> Option<&str> {
    call.data
        .phone_number
        .as_deref()
        .map(str::trim)
        .filter(|p| !p.is_empty())
}

fn time(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

fn from_row(row: &sqlx::any::AnyRow) -> Result<MissedCall, sqlx::Error> {
    Ok(MissedCall {
        call_id: row.try_get::<i64, _>(0)? as u64,
        phone: row.try_get(1)?,
        campaign: row.try_get(2)?,
        queue: row.try_get(3)?,
        reason: row.try_get(4)?,
        arrived_at: time(row.try_get(5)?),
        ended_at: time(row.try_get(6)?),
        waited_secs: row.try_get(7)?,
        record_type: row.try_get(8)?,
        record_id: row.try_get(9)?,
        record_name: row.try_get(16)?,
        owner_id: row.try_get(10)?,
        owner_agent: row.try_get(11)?,
        status: row.try_get(12)?,
        closed_by: row.try_get::<Option<i64>, _>(13)?.map(|c| c as u64),
        closed_by_agent: row.try_get(14)?,
        closed_at: row.try_get::<Option<i64>, _>(15)?.map(time),
    })
}

/// Turns [`Event::CallMissed`] into rows and Tasks, and closes them when a call back or a new
/// call from the number connects; inside the engine's commit.
pub struct MissedCallRecorder {
    outbox: Outbox,
    settings: MissedSettings,
    /// A missed call was recorded or closed since the last commit.
    changed: AtomicBool,
    /// Told after a commit that changed missed calls (the softphones are then told).
    on_change: Option<Arc<Notify>>,
}

impl MissedCallRecorder {
    pub fn new(outbox: Outbox, settings: MissedSettings) -> Self {
        MissedCallRecorder {
            outbox,
            settings,
            changed: AtomicBool::new(false),
            on_change: None,
        }
    }

    /// Notifies `on_change` after each commit that recorded or closed a missed call.
    pub fn notifying(mut self, on_change: Arc<Notify>) -> Self {
        self.on_change = Some(on_change);
        self
    }

    /// Records one event on `conn` (the committing transaction).
    pub async fn record(&self, conn: &mut AnyConnection, envelope: &EventEnvelope) -> Result<(), StoreError> {
        match &envelope.event {
            Event::CallMissed {
                call,
                reason,
                campaign,
                queue,
                arrived_at,
                waited_secs,
            } => {
                self.missed(
                    conn,
                    call,
                    *reason,
                    *campaign,
                    queue,
                    *arrived_at,
                    *waited_secs,
                    envelope.at,
                )
                .await
            }
            Event::CallQueued { call } => self.waiting(conn, call, envelope.at).await,
            Event::CallConnected { call } => {
                let agent = envelope.agent.as_ref().map(|a| a.as_str());
                self.connected(conn, call, agent, envelope.at).await
            }
            _ => Ok(()),
        }
    }

    /// An inbound call entered its queue: a `waiting` row (no list shows it) that the answer
    /// deletes and the miss turns into an open one, so that a call still waiting when the
    /// process dies is recorded as missed when the next one starts ([`Self::recover`]).
    async fn waiting(
        &self,
        conn: &mut AnyConnection,
        call: &CallView,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        // Transferred calls were answered before; dialer calls are outbound.
        if call.direction != Direction::Inbound || call.data.call_reason.as_deref() != Some("inbound") {
            return Ok(());
        }
        let owner = call.owner.as_ref();
        sqlx::query(
            "INSERT INTO missed_calls (call_id, phone, campaign, queue, reason, arrived_at_ms, ended_at_ms, \
             waited_secs, record_type, record_id, owner_id, owner_agent, data, status, record_name) \
             VALUES ($1, $2, $3, $4, 'waiting', $5, $5, 0, $6, $7, $8, $9, $10, 'waiting', $11) \
             ON CONFLICT (call_id) DO NOTHING",
        )
        .bind(call.data.call_id as i64)
        .bind(caller_phone(call))
        .bind(call.data.call_campaing.unwrap_or_default())
        .bind(call.data.call_queue.as_deref().unwrap_or_default())
        .bind(at.timestamp_millis())
        .bind(owner.map(|o| o.record_type.as_str()))
        .bind(owner.map(|o| o.record_id.as_str()))
        .bind(owner.and_then(|o| o.owner_id.as_deref()))
        .bind(owner.and_then(|o| o.agent.as_ref()).map(|a| a.as_str()))
        .bind(serde_json::to_string(&call.data).unwrap_or_else(|_| "{}".into()))
        .bind(owner.and_then(|o| o.name.as_deref()))
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    /// After a restart: the calls that were waiting in a queue when the last process stopped
    /// (their callers were cut off, or the platform still holds them unknown to the new
    /// process) are missed calls (`serverRestart`) as of its last moment alive, with their
    /// Tasks. Returns how many.
    pub async fn missed_by_restart(
        &self,
        conn: &mut AnyConnection,
        last_alive_ms: i64,
    ) -> Result<u64, StoreError> {
        let stranded = sqlx::query(
            "UPDATE missed_calls SET status = 'open', reason = 'serverRestart', \
             ended_at_ms = CASE WHEN arrived_at_ms > $1 THEN arrived_at_ms ELSE $1 END, \
             waited_secs = (CASE WHEN arrived_at_ms > $1 THEN arrived_at_ms ELSE $1 END - arrived_at_ms) / 1000 \
             WHERE status = 'waiting' \
             RETURNING call_id, phone, queue, arrived_at_ms, waited_secs, owner_id, record_type, record_id, ended_at_ms",
        )
        .bind(last_alive_ms)
        .fetch_all(&mut *conn)
        .await?;
        if !self.settings.write_tasks {
            return Ok(stranded.len() as u64);
        }
        for row in &stranded {
            let call_id: i64 = row.try_get(0)?;
            let phone: Option<String> = row.try_get(1)?;
            let queue: String = row.try_get(2)?;
            let arrived: i64 = row.try_get(3)?;
            let waited: i64 = row.try_get(4)?;
            let owner_id: Option<String> = row.try_get(5)?;
            let record_type: Option<String> = row.try_get(6)?;
            let record_id: Option<String> = row.try_get(7)?;
            let ended: i64 = row.try_get(8)?;
            let task = NewTask {
                call_id: call_id as u64,
                phone: phone.as_deref(),
                reason: "serverRestart",
                queue: &queue,
                arrived_at: time(arrived),
                waited_secs: waited,
                owner_id,
                record: record_type.zip(record_id),
            };
            enqueue(conn, &self.task(&task), ended).await?;
        }
        Ok(stranded.len() as u64)
    }

    /// The open Task of a missed call.
    fn task(&self, t: &NewTask<'_>) -> crate::salesforce::outbox::Write {
        let external_id = call_external_id(t.call_id);
        let mut fields = Map::new();
        fields.insert("Subject".into(), json!(subject(t.phone)));
        fields.insert("Status".into(), json!("Not Started"));
        fields.insert("CallType".into(), json!("Inbound"));
        fields.insert("CallObject".into(), json!(external_id));
        fields.insert(
            "ActivityDate".into(),
            json!(t.arrived_at.format("%Y-%m-%d").to_string()),
        );
        fields.insert("CallDisposition".into(), json!(format!("Missed: {}", t.reason)));
        fields.insert(
            "Description".into(),
            json!(description(
                t.reason,
                t.queue,
                t.arrived_at.timestamp_millis(),
                t.waited_secs
            )),
        );
        if let Some(owner) = t.owner_id.clone().or_else(|| self.settings.default_owner.clone()) {
            fields.insert("OwnerId".into(), json!(owner));
        }
        if let Some((record_type, record_id)) = &t.record {
            fields.insert(link_field(record_type).into(), json!(record_id));
        }
        task_write(&external_id, fields)
    }

    #[allow(clippy::too_many_arguments)]
    async fn missed(
        &self,
        conn: &mut AnyConnection,
        call: &CallView,
        reason: MissedReason,
        campaign: CampaignId,
        queue: &str,
        arrived_at: DateTime<Utc>,
        waited_secs: u64,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let call_id = call.data.call_id;
        let phone = caller_phone(call);
        let owner = call.owner.as_ref();
        let owner_id = owner.and_then(|o| {
            o.owner_id.clone().or_else(|| {
                o.agent
                    .as_ref()
                    .and_then(|a| self.settings.owners.get(a.as_str()).cloned())
            })
        });
        let inserted = sqlx::query(
            "INSERT INTO missed_calls (call_id, phone, campaign, queue, reason, arrived_at_ms, ended_at_ms, \
             waited_secs, record_type, record_id, owner_id, owner_agent, data, record_name) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
             ON CONFLICT (call_id) DO UPDATE SET reason = excluded.reason, ended_at_ms = excluded.ended_at_ms, \
             waited_secs = excluded.waited_secs, record_type = excluded.record_type, record_id = excluded.record_id, \
             record_name = excluded.record_name, \
             owner_id = excluded.owner_id, owner_agent = excluded.owner_agent, data = excluded.data, status = 'open' \
             WHERE missed_calls.status = 'waiting' RETURNING call_id",
        )
        .bind(call_id as i64)
        .bind(phone)
        .bind(campaign.0)
        .bind(queue)
        .bind(reason.as_str())
        .bind(arrived_at.timestamp_millis())
        .bind(at.timestamp_millis())
        .bind(waited_secs as i64)
        .bind(owner.map(|o| o.record_type.as_str()))
        .bind(owner.map(|o| o.record_id.as_str()))
        .bind(owner_id.as_deref())
        .bind(owner.and_then(|o| o.agent.as_ref()).map(|a| a.as_str()))
        .bind(serde_json::to_string(&call.data).unwrap_or_else(|_| "{}".into()))
        .bind(owner.and_then(|o| o.name.as_deref()))
        .fetch_optional(&mut *conn)
        .await?;
        // Recorded already (the same event replayed): its Task is on its way.
        if inserted.is_none() {
            return Ok(());
        }
        self.changed.store(true, Ordering::SeqCst);
        if !self.settings.write_tasks {
            return Ok(());
        }
        let task = NewTask {
            call_id,
            phone,
            reason: reason.as_str(),
            queue,
            arrived_at,
            waited_secs: waited_secs as i64,
            owner_id,
            record: owner.map(|o| (o.record_type.clone(), o.record_id.clone())),
        };
        enqueue(conn, &self.task(&task), at.timestamp_millis()).await?;
        Ok(())
    }

    /// A call connected: a call back closes its missed call and the number's other open ones;
    /// an answered inbound call closes its number's.
    async fn connected(
        &self,
        conn: &mut AnyConnection,
        call: &CallView,
        agent: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let closing = call.data.call_id;
        // Answered: it was never missed.
        sqlx::query("DELETE FROM missed_calls WHERE call_id = $1 AND status = 'waiting'")
            .bind(closing as i64)
            .execute(&mut *conn)
            .await?;
        let phone = caller_phone(call);
        let how = match (call.missed_call_id, call.direction) {
            (Some(missed), _) => {
                let which = Which::Call(missed as i64);
                self.close(conn, which, closing, agent, at, "Called back").await?;
                "Called back"
            }
            (None, Direction::Inbound) => "Answered when the caller called again",
            (None, Direction::Outbound) => return Ok(()),
        };
        let Some(phone) = phone.filter(|p| !is_private(p)) else {
            return Ok(());
        };
        self.close(conn, Which::Number(phone), closing, agent, at, how)
            .await
    }

    /// Closes the open missed calls `which` selects as closed by call `closing`, and completes
    /// their Tasks.
    async fn close(
        &self,
        conn: &mut AnyConnection,
        which: Which<'_>,
        closing: u64,
        agent: Option<&str>,
        at: DateTime<Utc>,
        how: &str,
    ) -> Result<(), StoreError> {
        let sql = match which {
            Which::Call(_) => close_where!("call_id = $5"),
            Which::Number(_) => close_where!("phone = $5"),
        };
        let query = sqlx::query(sql)
            .bind(closing as i64)
            .bind(agent)
            .bind(at.timestamp_millis())
            .bind(closing as i64);
        let query = match which {
            Which::Call(id) => query.bind(id),
            Which::Number(phone) => query.bind(phone),
        };
        let closed = query.fetch_all(&mut *conn).await?;
        if !closed.is_empty() {
            self.changed.store(true, Ordering::SeqCst);
        }
        if !self.settings.write_tasks {
            return Ok(());
        }
        for row in closed {
            let missed: i64 = row.try_get(0)?;
            let reason: String = row.try_get(1)?;
            let queue: String = row.try_get(2)?;
            let arrived: i64 = row.try_get(3)?;
            let waited: i64 = row.try_get(4)?;
            let by = match agent {
                Some(agent) => format!(
                    "{how}: call {closing} by {agent}, {}",
                    at_text(at.timestamp_millis())
                ),
                None => format!("{how}: call {closing}, {}", at_text(at.timestamp_millis())),
            };
            let mut fields = Map::new();
            fields.insert("Status".into(), json!("Completed"));
            fields.insert(
                "Description".into(),
                json!(format!("{}\n{by}", description(&reason, &queue, arrived, waited))),
            );
            enqueue(
                conn,
                &task_write(&call_external_id(missed as u64), fields),
                at.timestamp_millis(),
            )
            .await?;
        }
        Ok(())
    }
}

/// What the open Task of a missed call is made of.
struct NewTask<'a> {
    call_id: u64,
    phone: Option<&'a str>,
    reason: &'a str,
    queue: &'a str,
    arrived_at: DateTime<Utc>,
    waited_secs: i64,
    owner_id: Option<String>,
    /// The caller's record: type and id.
    record: Option<(String, String)>,
}

/// Which open missed calls a connected call closes.
#[derive(Clone, Copy)]
enum Which<'a> {
    /// The one a call back names.
    Call(i64),
    /// Every one from this number.
    Number(&'a str),
}

/// A database error the next attempt may not meet is transient (see [`RecordError::from_sqlx`]);
/// anything else refuses the event for good.
fn record_error(e: &StoreError) -> RecordError {
    match e {
        StoreError::Sqlx(e) => RecordError::from_sqlx(e),
        other => RecordError {
            transient: false,
            message: other.to_string(),
        },
    }
}

#[async_trait::async_trait]
impl EventRecorder for MissedCallRecorder {
    async fn record(&self, conn: &mut AnyConnection, event: &EventEnvelope) -> Result<(), RecordError> {
        MissedCallRecorder::record(self, conn, event)
            .await
            .map_err(|e| record_error(&e))
    }

    /// Calls still waiting in a queue when the last process stopped become missed calls. They
    /// are logged here, not counted: the call log counts the calls it closes.
    async fn recover(&self, conn: &mut AnyConnection, last_alive_ms: i64) -> Result<u64, String> {
        let stranded = self
            .missed_by_restart(conn, last_alive_ms)
            .await
            .map_err(|e| e.to_string())?;
        if stranded > 0 {
            tracing::warn!(
                calls = stranded,
                "calls that were waiting in a queue when the last process stopped are recorded as missed"
            );
        }
        Ok(0)
    }

    fn committed(&self) {
        self.outbox.notify();
        if self.changed.swap(false, Ordering::SeqCst)
            && let Some(on_change) = &self.on_change
        {
            on_change.notify_one();
        }
    }
}

/// The websocket frame that tells softphones to read `GET /api/missed` again (sent once a
/// commit recorded or closed a missed call).
pub const LIST_CHANGED_FRAME: &str = r#"{"type":"missedCallsChanged"}"#;

/// Reads of the missed-call log for the agents' API.
#[derive(Clone)]
pub struct MissedCalls {
    store: Store,
}

/// At most this many missed calls are listed.
pub const LIST_LIMIT: i64 = 200;

impl MissedCalls {
    pub fn new(store: Store) -> Self {
        MissedCalls { store }
    }

    /// The open missed calls `agent` may see: those whose record the agent owns (first), then
    /// those of `campaign` (the agent's current campaign), newest first.
    pub async fn open_for(&self, agent: &str, campaign: Option<i64>) -> Result<Vec<MissedCall>, StoreError> {
        let sql = concat!(
            "SELECT ",
            columns!(),
            " FROM missed_calls WHERE status = 'open' AND (owner_agent = $1 OR campaign = $2) \
             ORDER BY CASE WHEN owner_agent = $1 THEN 0 ELSE 1 END, ended_at_ms DESC, call_id DESC LIMIT $3"
        );
        let rows = sqlx::query(sql)
            .bind(agent)
            .bind(campaign.unwrap_or(i64::MIN))
            .bind(LIST_LIMIT)
            .fetch_all(self.store.pool())
            .await?;
        Ok(rows.iter().map(from_row).collect::<Result<_, _>>()?)
    }

    /// One missed call by its call id.
    pub async fn get(&self, call_id: u64) -> Result<Option<MissedCall>, StoreError> {
        let sql = concat!(
            "SELECT ",
            columns!(),
            " FROM missed_calls WHERE call_id = $1 AND status <> 'waiting'"
        );
        let row = sqlx::query(sql)
            .bind(call_id as i64)
            .fetch_optional(self.store.pool())
            .await?;
        Ok(row.as_ref().map(from_row).transpose()?)
    }

    /// Whether `agent` (in `campaign`) may see and call back `missed`.
    pub fn visible_to(missed: &MissedCall, agent: &str, campaign: Option<i64>) -> bool {
        missed.owner_agent.as_deref() == Some(agent) || Some(missed.campaign) == campaign
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_name_the_number_or_say_it_is_private() {
        assert_eq!(subject(Some("1155550123")), "Missed call from 1155550123");
        assert_eq!(subject(None), "Missed call from a private number");
        assert_eq!(subject(Some("anonymous")), "Missed call from a private number");
        assert_eq!(subject(Some("  ")), "Missed call from a private number");
    }
}
