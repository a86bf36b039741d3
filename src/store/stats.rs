//! The inbound calls' history (`stats_calls`, one row per call): written by the
//! [`StatsRecorder`] inside the engine's commit, read back at start-up for today's figures
//! ([`load_day`]) and by the historical reports ([`history`]).
//!
//! Every figure of a call counts in the UTC hour it was queued (offered): a call queued at
//! 10:59 and answered at 11:01 is one of 10:00's answered calls. Outcomes: `answered`,
//! `abandoned` (the caller hung up before any agent took it) and `missed` (it ended unanswered
//! for any other reason; a transfer is not an end). The wrap-up of an answered call runs from
//! its end until the answering agent's next state other than wrap-up.

use async_trait::async_trait;
use chrono::{NaiveDate, NaiveTime};
use serde::Serialize;
use sqlx::{AnyConnection, Row};

use super::core::{EventRecorder, RecordError};
use super::{Store, StoreError};
use crate::telephony::events::{EndReason, Event, EventEnvelope, MissedReason};
use crate::telephony::types::{AgentState, Direction};

/// What the statistics keep of one hour: counts and sums, so that hours and days add up.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HourTotals {
    pub offered: u64,
    pub answered: u64,
    /// Answered within the service level's seconds of being queued.
    pub answered_in_time: u64,
    pub abandoned: u64,
    pub missed: u64,
    /// Sum and count of the handle times (answered → ended), in milliseconds.
    pub handle_ms: i64,
    pub handled: u64,
    pub wrap_up_ms: i64,
    pub wrap_ups: u64,
    /// Sum of the waits (queued → answered or ended) of the calls that were answered or ended.
    pub wait_ms: i64,
    pub waits: u64,
}

impl HourTotals {
    pub fn add(&mut self, other: &HourTotals) {
        self.offered += other.offered;
        self.answered += other.answered;
        self.answered_in_time += other.answered_in_time;
        self.abandoned += other.abandoned;
        self.missed += other.missed;
        self.handle_ms += other.handle_ms;
        self.handled += other.handled;
        self.wrap_up_ms += other.wrap_up_ms;
        self.wrap_ups += other.wrap_ups;
        self.wait_ms += other.wait_ms;
        self.waits += other.waits;
    }

    /// Answered within the service level over the calls judged (answered, abandoned, missed).
    pub fn service_level(&self) -> Option<f64> {
        let judged = self.answered + self.abandoned + self.missed;
        (judged > 0).then(|| self.answered_in_time as f64 / judged as f64)
    }

    pub fn average_handle_secs(&self) -> Option<f64> {
        (self.handled > 0).then(|| self.handle_ms as f64 / 1000.0 / self.handled as f64)
    }

    pub fn average_wrap_up_secs(&self) -> Option<f64> {
        (self.wrap_ups > 0).then(|| self.wrap_up_ms as f64 / 1000.0 / self.wrap_ups as f64)
    }

    pub fn average_wait_secs(&self) -> Option<f64> {
        (self.waits > 0).then(|| self.wait_ms as f64 / 1000.0 / self.waits as f64)
    }
}

const HOUR_MS: i64 = 3_600_000;

/// The aggregate columns of [`HourTotals`], in its order (both dialects: sums cast to BIGINT,
/// which PostgreSQL would otherwise make NUMERIC).
const TOTALS_COLUMNS: &str = "COUNT(*), \
     CAST(COALESCE(SUM(CASE WHEN outcome = 'answered' THEN 1 ELSE 0 END), 0) AS BIGINT), \
     CAST(COALESCE(SUM(CASE WHEN outcome = 'answered' AND wait_ms <= $3 THEN 1 ELSE 0 END), 0) AS BIGINT), \
     CAST(COALESCE(SUM(CASE WHEN outcome = 'abandoned' THEN 1 ELSE 0 END), 0) AS BIGINT), \
     CAST(COALESCE(SUM(CASE WHEN outcome = 'missed' THEN 1 ELSE 0 END), 0) AS BIGINT), \
     CAST(COALESCE(SUM(handle_ms), 0) AS BIGINT), COUNT(handle_ms), \
     CAST(COALESCE(SUM(wrap_up_ms), 0) AS BIGINT), COUNT(wrap_up_ms), \
     CAST(COALESCE(SUM(CASE WHEN outcome IS NOT NULL THEN wait_ms END), 0) AS BIGINT), \
     COUNT(CASE WHEN outcome IS NOT NULL THEN wait_ms END)";

fn totals_from(row: &sqlx::any::AnyRow, first: usize) -> Result<HourTotals, sqlx::Error> {
    let n = |i: usize| -> Result<i64, sqlx::Error> { row.try_get::<i64, _>(first + i) };
    Ok(HourTotals {
        offered: n(0)?.max(0) as u64,
        answered: n(1)?.max(0) as u64,
        answered_in_time: n(2)?.max(0) as u64,
        abandoned: n(3)?.max(0) as u64,
        missed: n(4)?.max(0) as u64,
        handle_ms: n(5)?,
        handled: n(6)?.max(0) as u64,
        wrap_up_ms: n(7)?,
        wrap_ups: n(8)?.max(0) as u64,
        wait_ms: n(9)?,
        waits: n(10)?.max(0) as u64,
    })
}

fn day_start_ms(day: NaiveDate) -> i64 {
    day.and_time(NaiveTime::MIN).and_utc().timestamp_millis()
}

/// The hours of `day` (UTC) as the table holds them: index 0 is 00:00–01:00.
pub async fn load_day(
    store: &Store,
    day: NaiveDate,
    service_level_secs: u64,
) -> Result<[HourTotals; 24], StoreError> {
    let start = day_start_ms(day);
    let rows = grouped(
        store,
        &format!("(queued_at_ms - $1) / {HOUR_MS}"),
        start,
        start + 24 * HOUR_MS,
        service_level_secs as i64 * 1000,
    )
    .await?;
    let mut hours = [HourTotals::default(); 24];
    for row in rows {
        let hour: i64 = row.try_get(0)?;
        if let Some(slot) = usize::try_from(hour).ok().and_then(|h| hours.get_mut(h)) {
            *slot = totals_from(&row, 1)?;
        }
    }
    Ok(hours)
}

/// How a historical report groups the calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GroupBy {
    Hour,
    Agent,
}

/// One line of a historical report.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryRow {
    /// `by=hour`: the hour's start (UTC, RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hour: Option<chrono::DateTime<chrono::Utc>>,
    /// `by=agent`: the agent who answered (`null`: the calls nobody answered).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent: Option<Option<String>>,
    #[serde(flatten)]
    pub totals: HourTotals,
    pub service_level: Option<f64>,
    pub average_wait_secs: Option<f64>,
    pub average_handle_secs: Option<f64>,
    pub average_wrap_up_secs: Option<f64>,
}

impl HistoryRow {
    fn new(
        hour: Option<chrono::DateTime<chrono::Utc>>,
        agent: Option<Option<String>>,
        totals: HourTotals,
    ) -> Self {
        HistoryRow {
            hour,
            agent,
            service_level: totals.service_level(),
            average_wait_secs: totals.average_wait_secs(),
            average_handle_secs: totals.average_handle_secs(),
            average_wrap_up_secs: totals.average_wrap_up_secs(),
            totals,
        }
    }
}

/// The calls queued from `from` to `to` (UTC days, both included), grouped by hour (only the
/// hours with calls) or by answering agent. Aggregated by the database over the
/// `queued_at_ms` index: the answer's size is bounded by the range (hours) or the roster
/// (agents), never by the number of calls.
pub async fn history(
    store: &Store,
    from: NaiveDate,
    to: NaiveDate,
    by: GroupBy,
    service_level_secs: u64,
) -> Result<Vec<HistoryRow>, StoreError> {
    let start = day_start_ms(from);
    let end = day_start_ms(to) + 24 * HOUR_MS;
    let sla = service_level_secs as i64 * 1000;
    let mut rows = Vec::new();
    match by {
        GroupBy::Hour => {
            for row in grouped(store, &format!("queued_at_ms / {HOUR_MS}"), start, end, sla).await? {
                let hour: i64 = row.try_get(0)?;
                let at = chrono::DateTime::from_timestamp_millis(hour * HOUR_MS);
                rows.push(HistoryRow::new(at, None, totals_from(&row, 1)?));
            }
        }
        GroupBy::Agent => {
            for row in grouped(store, "agent", start, end, sla).await? {
                let agent: Option<String> = row.try_get(0)?;
                rows.push(HistoryRow::new(None, Some(agent), totals_from(&row, 1)?));
            }
            // The calls nobody answered last.
            rows.sort_by(|a, b| {
                (a.agent.as_ref().map(|a| a.is_none()), &a.agent)
                    .cmp(&(b.agent.as_ref().map(|b| b.is_none()), &b.agent))
            });
        }
    }
    Ok(rows)
}

/// The totals of the calls queued from `start` to `end` (ms), grouped by `key` (an SQL
/// expression, the rows' first column), in its order.
async fn grouped(
    store: &Store,
    key: &str,
    start: i64,
    end: i64,
    sla: i64,
) -> Result<Vec<sqlx::any::AnyRow>, sqlx::Error> {
    let sql = format!(
        "SELECT {key}, {TOTALS_COLUMNS} FROM stats_calls \
         WHERE queued_at_ms >= $1 AND queued_at_ms < $2 GROUP BY 1 ORDER BY 1"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
        .bind(start)
        .bind(end)
        .bind(sla)
        .fetch_all(store.pool())
        .await
}

/// The condition an agent's `CallEnded` adds: it is about the call only when that agent has it
/// (`$3`: [`holder_of`]).
macro_rules! holder {
    () => {
        " AND ($3 = '' OR current_agent IS NULL OR current_agent = $3)"
    };
}

/// The agent `holder!()` checks: the event's, or `''` for an engine-wide event.
fn holder_of(envelope: &EventEnvelope) -> &str {
    envelope.agent.as_ref().map_or("", |a| a.as_str())
}

/// The [`EventRecorder`] of `stats_calls`: each inbound call's row, written with the change
/// that causes it (so a restart neither loses nor doubles a call). Idempotent: every write is
/// guarded by what the row already holds.
pub struct StatsRecorder;

impl StatsRecorder {
    async fn write(&self, conn: &mut AnyConnection, envelope: &EventEnvelope) -> Result<(), sqlx::Error> {
        let at = envelope.at.timestamp_millis();
        match &envelope.event {
            Event::CallQueued { call } if call.direction == Direction::Inbound => {
                sqlx::query(
                    "INSERT INTO stats_calls (call_id, campaign, queue, queued_at_ms) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (call_id) DO NOTHING",
                )
                .bind(call.data.call_id as i64)
                .bind(call.data.call_campaing)
                .bind(call.data.call_queue.as_deref())
                .bind(at)
                .execute(&mut *conn)
                .await?;
            }
            // The first answer is the call's; every answer (a transfer's target too) says who
            // has the call now.
            Event::CallConnected { call } => {
                let agent = envelope.agent_for(call);
                sqlx::query(
                    "UPDATE stats_calls SET current_agent = $2, \
                     agent = CASE WHEN answered_at_ms IS NULL THEN $2 ELSE agent END, \
                     wait_ms = CASE WHEN answered_at_ms IS NULL THEN $1 - queued_at_ms ELSE wait_ms END, \
                     answered_at_ms = COALESCE(answered_at_ms, $1) \
                     WHERE call_id = $3 AND ended_at_ms IS NULL",
                )
                .bind(at)
                .bind(agent)
                .bind(call.data.call_id as i64)
                .execute(&mut *conn)
                .await?;
            }
            // Handed over: the first agent's handle time ends, their wrap-up starts; the call
            // goes on (or waits in a queue again).
            Event::CallEnded {
                call_id,
                reason: EndReason::Transferred,
            } => {
                sqlx::query(concat!(
                    "UPDATE stats_calls SET handle_ms = $1 - answered_at_ms, wrap_started_at_ms = $1 \
                     WHERE call_id = $2 AND answered_at_ms IS NOT NULL AND handle_ms IS NULL \
                     AND ended_at_ms IS NULL",
                    holder!()
                ))
                .bind(at)
                .bind(call_id.0 as i64)
                .bind(holder_of(envelope))
                .execute(&mut *conn)
                .await?;
            }
            // An answered call's end: an engine-wide `CallEnded`, or the one of the agent who has
            // the call (a consulted agent or a conference guest leaving is not the end).
            // Unanswered calls end with `CallMissed`, which says why (an agent's `CallEnded` of
            // an unanswered call may be a ring-out of one offer only).
            Event::CallEnded { call_id, .. } => {
                sqlx::query(concat!(
                    "UPDATE stats_calls SET ended_at_ms = $1, outcome = 'answered', \
                     handle_ms = COALESCE(handle_ms, $1 - answered_at_ms), \
                     wrap_started_at_ms = COALESCE(wrap_started_at_ms, $1) \
                     WHERE call_id = $2 AND ended_at_ms IS NULL AND answered_at_ms IS NOT NULL",
                    holder!()
                ))
                .bind(at)
                .bind(call_id.0 as i64)
                .bind(holder_of(envelope))
                .execute(&mut *conn)
                .await?;
            }
            // Never queued (it came outside the campaign's hours): offered and missed at once.
            Event::CallMissed {
                call,
                reason: MissedReason::OutsideHours,
                campaign,
                queue,
                ..
            } => {
                sqlx::query(
                    "INSERT INTO stats_calls (call_id, campaign, queue, queued_at_ms, ended_at_ms, outcome, wait_ms) \
                     VALUES ($1, $2, $3, $4, $4, 'missed', 0) ON CONFLICT (call_id) DO NOTHING",
                )
                .bind(call.data.call_id as i64)
                .bind(campaign.0)
                .bind(queue.as_str())
                .bind(at)
                .execute(&mut *conn)
                .await?;
            }
            Event::CallMissed { call, reason, .. } => {
                let outcome = if *reason == MissedReason::Abandoned {
                    "abandoned"
                } else {
                    "missed"
                };
                sqlx::query(
                    "UPDATE stats_calls SET ended_at_ms = $1, outcome = $2, \
                     wait_ms = COALESCE(wait_ms, $1 - queued_at_ms) \
                     WHERE call_id = $3 AND ended_at_ms IS NULL AND answered_at_ms IS NULL",
                )
                .bind(at)
                .bind(outcome)
                .bind(call.data.call_id as i64)
                .execute(&mut *conn)
                .await?;
            }
            Event::Position(position) if position.state != AgentState::WrapUp => {
                // Served by the partial index of open wrap-ups: O(1) per state change.
                sqlx::query(
                    "UPDATE stats_calls SET wrap_up_ms = $1 - wrap_started_at_ms \
                     WHERE agent = $2 AND wrap_started_at_ms IS NOT NULL AND wrap_up_ms IS NULL",
                )
                .bind(at)
                .bind(position.user.as_str())
                .execute(&mut *conn)
                .await?;
            }
            _ => {}
        }
        Ok(())
    }
}

#[async_trait]
impl EventRecorder for StatsRecorder {
    async fn record(&self, conn: &mut AnyConnection, event: &EventEnvelope) -> Result<(), RecordError> {
        self.write(conn, event)
            .await
            .map_err(|e| RecordError::from_sqlx(&e))
    }

    /// The calls the last process left open end when it was last alive (answered ones as
    /// answered, the others as missed), and so do the wrap-ups. Counted by the call log's
    /// recovery already: returns 0.
    async fn recover(&self, conn: &mut AnyConnection, last_alive_ms: i64) -> Result<u64, String> {
        let db = |e: sqlx::Error| e.to_string();
        // The end is never before the answer (or the queuing): a clock step back cannot
        // make a negative time.
        let end = "(CASE WHEN $1 > COALESCE(answered_at_ms, queued_at_ms) THEN $1 \
                   ELSE COALESCE(answered_at_ms, queued_at_ms) END)";
        let sql = format!(
            "UPDATE stats_calls SET ended_at_ms = {end}, \
             outcome = CASE WHEN answered_at_ms IS NOT NULL THEN 'answered' ELSE 'missed' END, \
             wait_ms = COALESCE(wait_ms, {end} - queued_at_ms), \
             handle_ms = CASE WHEN answered_at_ms IS NOT NULL THEN COALESCE(handle_ms, {end} - answered_at_ms) END \
             WHERE ended_at_ms IS NULL"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(last_alive_ms)
            .execute(&mut *conn)
            .await
            .map_err(db)?;
        sqlx::query(
            "UPDATE stats_calls SET wrap_up_ms = CASE WHEN $1 > wrap_started_at_ms THEN $1 - wrap_started_at_ms ELSE 0 END \
             WHERE wrap_started_at_ms IS NOT NULL AND wrap_up_ms IS NULL",
        )
        .bind(last_alive_ms)
        .execute(&mut *conn)
        .await
        .map_err(db)?;
        Ok(0)
    }

    fn committed(&self) {}
}
