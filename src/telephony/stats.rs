//! The floor's live figures for supervisors, kept from the core's event stream: each agent's
//! state and how long they have been in it, calls waiting per queue and the longest wait, and
//! today's (UTC) inbound figures — offered, answered, abandoned, missed, service level
//! (answered within `service_level_secs` of entering the queue, over the calls offered that
//! were answered or ended), average handle time (connected → ended) and average wrap-up time
//! (an answered call's end → the agent's next state other than wrap-up) — per hour and for
//! the day.
//!
//! Every figure of a call counts in the hour it was queued, exactly as the history table
//! (`store::stats`) counts it, so that at start-up [`FloorStats::restore`] takes today's hours
//! back from the table and a restart does not zero the day. Following an event costs O(1):
//! it updates a counter and bumps [`FloorStats::version`]; the figures are built only when
//! asked for (the API, `/metrics`, the dashboards' feed).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, NaiveDate, Timelike, Utc};
use serde::Serialize;
use tokio::sync::Notify;
use tokio::sync::broadcast::error::RecvError;

use super::events::{EndReason, Event, EventEnvelope, MissedReason};
use super::types::{AgentId, AgentState, CallId, Direction};
use crate::store::stats::HourTotals;

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AgentFigure {
    pub user: AgentId,
    pub state: AgentState,
    pub since: DateTime<Utc>,
    pub seconds_in_state: i64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct QueueFigure {
    pub queue: String,
    pub waiting: usize,
    pub longest_wait_secs: i64,
    /// When the longest-waiting call entered the queue (pages count its wait on from it).
    pub oldest_since: DateTime<Utc>,
}

/// One hour of today's calls (the calls queued in it).
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct HourFigure {
    pub hour: u32,
    pub offered: u64,
    pub answered: u64,
    pub abandoned: u64,
    pub missed: u64,
    pub answered_in_time: u64,
    pub service_level: Option<f64>,
}

/// What the supervisors' figures are at one moment.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct FloorFigures {
    pub at: DateTime<Utc>,
    /// The UTC day the counters are of.
    pub day: NaiveDate,
    pub agents: Vec<AgentFigure>,
    pub queues: Vec<QueueFigure>,
    pub offered: u64,
    pub answered: u64,
    pub abandoned: u64,
    pub missed: u64,
    pub service_level_secs: u64,
    /// Answered within `service_level_secs`, over offered calls that were answered or ended;
    /// `null` before the first such call.
    pub service_level: Option<f64>,
    pub average_handle_secs: Option<f64>,
    pub average_wrap_up_secs: Option<f64>,
    /// Today's hours from the first with calls to the current one (UTC).
    pub hours: Vec<HourFigure>,
}

#[derive(Default)]
struct CallTrack {
    queue: Option<String>,
    queued_at: Option<DateTime<Utc>>,
    answered_at: Option<DateTime<Utc>>,
    agent: Option<AgentId>,
    /// Who has the call now (a transfer's target once it answered): only their `CallEnded`, or
    /// an engine-wide one, is the call's.
    holder: Option<AgentId>,
    /// The handle time was counted (at a transfer: the first agent's leg).
    handled: bool,
}

struct State {
    day: NaiveDate,
    hours: [HourTotals; 24],
    agents: BTreeMap<AgentId, (AgentState, DateTime<Utc>)>,
    calls: HashMap<CallId, CallTrack>,
    /// Agents in the wrap-up of an answered call: since when, and when that call was queued.
    wrapping: HashMap<AgentId, (DateTime<Utc>, DateTime<Utc>)>,
    /// When the oldest change not yet handed to the dashboards happened (the core's emit).
    pending_since: Option<DateTime<Utc>>,
}

impl State {
    /// The hour a call queued at `queued` counts in, when it is one of today's.
    fn hour_of(&mut self, queued: Option<DateTime<Utc>>) -> Option<&mut HourTotals> {
        let queued = queued?;
        if queued.date_naive() != self.day {
            return None;
        }
        self.hours.get_mut(queued.hour() as usize)
    }
}

/// Milliseconds from `from` to `to` as the history table counts them (whole milliseconds of
/// each instant), so that live and restored figures are the same to the last digit.
fn millis_between(from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
    to.timestamp_millis() - from.timestamp_millis()
}

/// The live figures; [`FloorStats::follow`] keeps them.
pub struct FloorStats {
    service_level_secs: u64,
    state: Mutex<State>,
    /// Grows with every event that changed the figures.
    version: AtomicU64,
    changed: Notify,
}

impl FloorStats {
    pub fn new(service_level_secs: u64) -> Arc<FloorStats> {
        Arc::new(FloorStats {
            service_level_secs,
            state: Mutex::new(State {
                day: Utc::now().date_naive(),
                hours: [HourTotals::default(); 24],
                agents: BTreeMap::new(),
                calls: HashMap::new(),
                wrapping: HashMap::new(),
                pending_since: None,
            }),
            version: AtomicU64::new(0),
            changed: Notify::new(),
        })
    }

    pub fn service_level_secs(&self) -> u64 {
        self.service_level_secs
    }

    /// Takes `day`'s hours back (from the history table, at start-up, before following).
    pub fn restore(&self, day: NaiveDate, hours: [HourTotals; 24]) {
        let mut state = self.lock();
        state.day = day;
        state.hours = hours;
        drop(state);
        self.bump();
    }

    /// An agent's state as the engine holds it at start-up (restored sessions): in it since
    /// `since` (the restart: the engine keeps no instant of the last change).
    pub fn seed_agent(&self, user: &AgentId, state: AgentState, since: DateTime<Utc>) {
        self.lock().agents.entry(user.clone()).or_insert((state, since));
        self.bump();
    }

    /// Applies the events of `events` until the stream ends (a task of its own).
    pub fn follow(self: &Arc<Self>, mut events: tokio::sync::broadcast::Receiver<EventEnvelope>) {
        let stats = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                match events.recv().await {
                    Ok(envelope) => match stats.upgrade() {
                        Some(stats) => stats.apply(&envelope),
                        None => return,
                    },
                    // Figures are counts: a lagged stream undercounts, it does not stop them.
                    Err(RecvError::Lagged(lost)) => {
                        tracing::warn!(lost, "supervisor figures missed events");
                    }
                    Err(RecvError::Closed) => return,
                }
            }
        });
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn bump(&self) {
        self.version.fetch_add(1, Ordering::Release);
        self.changed.notify_one();
    }

    /// Grows whenever the figures change.
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    /// Resolves once the figures changed after the last call (one waiter: the feed).
    pub async fn changed(&self) {
        self.changed.notified().await
    }

    /// Applies one event of the core.
    pub fn apply(&self, envelope: &EventEnvelope) {
        if self.apply_inner(envelope) {
            self.bump();
        }
    }

    fn apply_inner(&self, envelope: &EventEnvelope) -> bool {
        let at = envelope.at;
        let mut state = self.lock();
        let changed = self.change(&mut state, envelope);
        if changed && state.pending_since.is_none() {
            state.pending_since = Some(at);
        }
        changed
    }

    fn change(&self, state: &mut State, envelope: &EventEnvelope) -> bool {
        let at = envelope.at;
        if at.date_naive() > state.day {
            state.day = at.date_naive();
            state.hours = [HourTotals::default(); 24];
        }
        match &envelope.event {
            Event::Position(position) => {
                let user = position.user.clone();
                if position.state != AgentState::WrapUp
                    && let Some((since, queued)) = state.wrapping.remove(&user)
                    && let Some(hour) = state.hour_of(Some(queued))
                {
                    hour.wrap_up_ms += millis_between(since, at);
                    hour.wrap_ups += 1;
                }
                let previous = state.agents.get(&user).copied();
                if previous.is_none_or(|(s, _)| s != position.state) {
                    state.agents.insert(user, (position.state, at));
                    return true;
                }
                false
            }
            Event::CallQueued { call } if call.direction == Direction::Inbound => {
                let id = CallId(call.data.call_id);
                let fresh = !state.calls.contains_key(&id);
                let track = state.calls.entry(id).or_default();
                track.queue = call.data.call_queue.clone();
                if fresh {
                    track.queued_at = Some(at);
                    if let Some(hour) = state.hour_of(Some(at)) {
                        hour.offered += 1;
                    }
                }
                true
            }
            Event::CallConnected { call } => {
                let id = CallId(call.data.call_id);
                let in_time_ms = self.service_level_secs as i64 * 1000;
                let agent = envelope.agent.clone().or_else(|| call.agent.clone());
                let Some(track) = state.calls.get_mut(&id) else {
                    return false;
                };
                track.holder = agent.clone();
                if track.answered_at.is_some() {
                    return false;
                }
                track.answered_at = Some(at);
                track.agent = agent;
                let queued = track.queued_at;
                let wait = queued.map(|q| millis_between(q, at)).unwrap_or_default();
                if let Some(hour) = state.hour_of(queued) {
                    hour.answered += 1;
                    hour.wait_ms += wait;
                    hour.waits += 1;
                    if wait <= in_time_ms {
                        hour.answered_in_time += 1;
                    }
                }
                true
            }
            Event::CallEnded { call_id, reason } => {
                let Some(track) = state.calls.get_mut(call_id) else {
                    return false;
                };
                // Unanswered: a ring-out on one agent, a hand-over, or the end, which the
                // engine reports as `CallMissed` (with why): counted there.
                let Some(answered) = track.answered_at else {
                    return false;
                };
                // A consulted agent, a conference guest or a ring-out elsewhere: not the call's.
                if let (Some(leaving), Some(holder)) = (&envelope.agent, &track.holder)
                    && leaving != holder
                {
                    return false;
                }
                let (queued, agent) = (track.queued_at, track.agent.clone());
                let first_leg = !track.handled;
                track.handled = true;
                if *reason != EndReason::Transferred {
                    state.calls.remove(call_id);
                }
                if !first_leg {
                    return *reason != EndReason::Transferred;
                }
                if let Some(agent) = agent
                    && let Some(queued) = queued
                {
                    state.wrapping.insert(agent, (at, queued));
                }
                if let Some(hour) = state.hour_of(queued) {
                    hour.handle_ms += millis_between(answered, at);
                    hour.handled += 1;
                }
                true
            }
            // An inbound call that ended without any agent answering it.
            Event::CallMissed { call, reason, .. } => {
                let id = CallId(call.data.call_id);
                let queued = match state.calls.remove(&id) {
                    Some(track) if track.answered_at.is_none() => track.queued_at,
                    Some(_) => return false,
                    // Never queued (it came outside the campaign's hours): offered and missed
                    // at once.
                    None if *reason == MissedReason::OutsideHours => {
                        let Some(hour) = state.hour_of(Some(at)) else {
                            return false;
                        };
                        hour.offered += 1;
                        hour.missed += 1;
                        hour.waits += 1;
                        return true;
                    }
                    None => return false,
                };
                let Some(hour) = state.hour_of(queued) else {
                    return true;
                };
                if let Some(q) = queued {
                    hour.wait_ms += millis_between(q, at);
                    hour.waits += 1;
                }
                if *reason == MissedReason::Abandoned {
                    hour.abandoned += 1;
                } else {
                    hour.missed += 1;
                }
                true
            }
            _ => false,
        }
    }

    /// The figures now, for the dashboards' feed: with when the oldest change in them not
    /// yet handed to the feed happened (which then counts as handed).
    pub fn figures_for_feed(&self) -> (FloorFigures, Option<DateTime<Utc>>) {
        let mut state = self.lock();
        let since = state.pending_since.take();
        (self.figures_of(&state, Utc::now()), since)
    }

    /// Forgets the oldest change not handed to the feed (nobody watches: no frame will carry
    /// it, and the next one must not seem late for it).
    pub fn forget_pending(&self) {
        self.lock().pending_since = None;
    }

    /// The figures now.
    pub fn figures(&self) -> FloorFigures {
        self.figures_at(Utc::now())
    }

    /// The figures as of `now` (a day after the counters' own: a new day with nothing yet).
    pub fn figures_at(&self, now: DateTime<Utc>) -> FloorFigures {
        self.figures_of(&self.lock(), now)
    }

    fn figures_of(&self, state: &State, now: DateTime<Utc>) -> FloorFigures {
        // Midnight passed with no event since: the new day has no calls yet.
        let (day, hours) = if now.date_naive() > state.day {
            (now.date_naive(), [HourTotals::default(); 24])
        } else {
            (state.day, state.hours)
        };
        let agents = state
            .agents
            .iter()
            .filter(|(_, (s, _))| *s != AgentState::LoggedOut)
            .map(|(user, (s, since))| AgentFigure {
                user: user.clone(),
                state: *s,
                since: *since,
                seconds_in_state: (now - *since).num_seconds().max(0),
            })
            .collect();
        let mut queues: BTreeMap<String, QueueFigure> = BTreeMap::new();
        for track in state.calls.values().filter(|t| t.answered_at.is_none()) {
            let (Some(queue), Some(queued)) = (&track.queue, track.queued_at) else {
                continue;
            };
            let figure = queues.entry(queue.clone()).or_insert_with(|| QueueFigure {
                queue: queue.clone(),
                waiting: 0,
                longest_wait_secs: 0,
                oldest_since: queued,
            });
            figure.waiting += 1;
            figure.oldest_since = figure.oldest_since.min(queued);
            figure.longest_wait_secs = (now - figure.oldest_since).num_seconds().max(0);
        }
        let mut totals = HourTotals::default();
        for hour in &hours {
            totals.add(hour);
        }
        let last_hour = if now.date_naive() == day {
            now.hour() as usize
        } else {
            23
        };
        let first_hour = hours
            .iter()
            .position(|h| h.offered > 0)
            .unwrap_or(last_hour)
            .min(last_hour);
        let series = (first_hour..=last_hour)
            .map(|h| {
                let t = &hours[h];
                HourFigure {
                    hour: h as u32,
                    offered: t.offered,
                    answered: t.answered,
                    abandoned: t.abandoned,
                    missed: t.missed,
                    answered_in_time: t.answered_in_time,
                    service_level: t.service_level(),
                }
            })
            .collect();
        FloorFigures {
            at: now,
            day,
            agents,
            queues: queues.into_values().collect(),
            offered: totals.offered,
            answered: totals.answered,
            abandoned: totals.abandoned,
            missed: totals.missed,
            service_level_secs: self.service_level_secs,
            service_level: totals.service_level(),
            average_handle_secs: totals.average_handle_secs(),
            average_wrap_up_secs: totals.average_wrap_up_secs(),
            hours: series,
        }
    }
}
