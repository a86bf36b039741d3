//! The floor's live figures for supervisors, kept from the core's event stream: each agent's
//! state and how long they have been in it, calls waiting per queue and the longest wait, and
//! today's (UTC) inbound figures — offered, answered, abandoned, missed, service level
//! (answered within `service_level_secs` of entering the queue, over the calls offered that
//! were answered or ended), average handle time (connected → ended) and average wrap-up time.
//!
//! The figures follow the events (one task reads them), so they cost nothing per request; a
//! restart starts the day's counters again from the events after it.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use tokio::sync::broadcast::error::RecvError;

use super::events::{EndReason, Event, EventEnvelope};
use super::types::{AgentId, AgentState, CallId, Direction};

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
}

#[derive(Default)]
struct CallTrack {
    queue: Option<String>,
    queued_at: Option<DateTime<Utc>>,
    answered_at: Option<DateTime<Utc>>,
    offered_counted: bool,
    ended: bool,
}

#[derive(Default)]
struct Day {
    offered: u64,
    answered: u64,
    answered_in_time: u64,
    abandoned: u64,
    missed: u64,
    handle_secs: f64,
    handled: u64,
    wrap_up_secs: f64,
    wrap_ups: u64,
}

struct State {
    day: NaiveDate,
    counters: Day,
    agents: BTreeMap<AgentId, (AgentState, DateTime<Utc>)>,
    calls: HashMap<CallId, CallTrack>,
}

/// The live figures; [`FloorStats::follow`] keeps them.
pub struct FloorStats {
    service_level_secs: u64,
    state: Mutex<State>,
}

impl FloorStats {
    pub fn new(service_level_secs: u64) -> Arc<FloorStats> {
        Arc::new(FloorStats {
            service_level_secs,
            state: Mutex::new(State {
                day: Utc::now().date_naive(),
                counters: Day::default(),
                agents: BTreeMap::new(),
                calls: HashMap::new(),
            }),
        })
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

    /// Applies one event of the core.
    pub fn apply(&self, envelope: &EventEnvelope) {
        let at = envelope.at;
        let mut state = self.lock();
        if at.date_naive() != state.day {
            state.day = at.date_naive();
            state.counters = Day::default();
        }
        match &envelope.event {
            Event::Position(position) => {
                let user = position.user.clone();
                let previous = state.agents.get(&user).copied();
                if previous.is_none_or(|(s, _)| s != position.state) {
                    if let Some((AgentState::WrapUp, since)) = previous {
                        state.counters.wrap_up_secs += (at - since).num_milliseconds() as f64 / 1000.0;
                        state.counters.wrap_ups += 1;
                    }
                    state.agents.insert(user, (position.state, at));
                }
            }
            Event::CallQueued { call } if call.direction == Direction::Inbound => {
                let id = CallId(call.data.call_id);
                let track = state.calls.entry(id).or_default();
                track.queue = call.data.call_queue.clone();
                if track.queued_at.is_none() {
                    track.queued_at = Some(at);
                }
                let first = !track.offered_counted;
                track.offered_counted = true;
                if first {
                    state.counters.offered += 1;
                }
            }
            Event::CallConnected { call } => {
                let id = CallId(call.data.call_id);
                let service_level = self.service_level_secs as i64;
                let Some(track) = state.calls.get_mut(&id) else {
                    return;
                };
                if track.answered_at.is_some() {
                    return;
                }
                track.answered_at = Some(at);
                let in_time = track
                    .queued_at
                    .is_some_and(|queued| (at - queued).num_seconds() <= service_level);
                state.counters.answered += 1;
                if in_time {
                    state.counters.answered_in_time += 1;
                }
            }
            Event::CallEnded { call_id, reason } => {
                let Some(track) = state.calls.get_mut(call_id) else {
                    return;
                };
                if track.ended {
                    return;
                }
                track.ended = true;
                let answered_at = track.answered_at;
                state.calls.remove(call_id);
                match answered_at {
                    Some(answered) => {
                        state.counters.handle_secs += (at - answered).num_milliseconds() as f64 / 1000.0;
                        state.counters.handled += 1;
                    }
                    None if *reason == EndReason::Abandoned => state.counters.abandoned += 1,
                    // Transferred back to a queue: the call goes on.
                    None if *reason == EndReason::Transferred => {}
                    None => state.counters.missed += 1,
                }
            }
            _ => {}
        }
    }

    /// The figures now.
    pub fn figures(&self) -> FloorFigures {
        let now = Utc::now();
        let state = self.lock();
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
        for track in state
            .calls
            .values()
            .filter(|t| t.answered_at.is_none() && !t.ended)
        {
            let (Some(queue), Some(queued)) = (&track.queue, track.queued_at) else {
                continue;
            };
            let figure = queues.entry(queue.clone()).or_insert_with(|| QueueFigure {
                queue: queue.clone(),
                waiting: 0,
                longest_wait_secs: 0,
            });
            figure.waiting += 1;
            figure.longest_wait_secs = figure.longest_wait_secs.max((now - queued).num_seconds().max(0));
        }
        let c = &state.counters;
        let judged = c.answered + c.abandoned + c.missed;
        FloorFigures {
            at: now,
            day: state.day,
            agents,
            queues: queues.into_values().collect(),
            offered: c.offered,
            answered: c.answered,
            abandoned: c.abandoned,
            missed: c.missed,
            service_level_secs: self.service_level_secs,
            service_level: (judged > 0).then(|| c.answered_in_time as f64 / judged as f64),
            average_handle_secs: (c.handled > 0).then(|| c.handle_secs / c.handled as f64),
            average_wrap_up_secs: (c.wrap_ups > 0).then(|| c.wrap_up_secs / c.wrap_ups as f64),
        }
    }
}
