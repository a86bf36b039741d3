//! The event hub between the telephony event stream and the agent websockets.
//!
//! One dispatcher task reads the engine's broadcast channel, serialises each event once and
//! hands it to the sockets of the agent it concerns (engine-wide events go to supervisors; a
//! callback coming due also to the agent who scheduled it). Supervisors also get a small
//! `{"type":"userState","user","state"}` frame for every other agent's state change, so their
//! lists (who can be monitored) follow the contact center without each agent's full Position.
//! Every socket has a bounded queue: a socket whose queue is full is dropped from the hub and
//! told to close as too slow, so one stalled browser never grows memory or delays others. The
//! hub's lock is a plain mutex held only while queueing (never across an await).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use bytestring::ByteString;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;

use super::session::Session;
use crate::telephony::{AgentId, Event, EventEnvelope, Role, Telephony};

/// Why the hub let go of a socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum CloseCause {
    /// Still subscribed (or the server is stopping).
    None = 0,
    /// Its queue overflowed, or the dispatcher itself fell behind the engine.
    TooSlow = 1,
    /// Its session was revoked by Logout.
    SessionEnded = 2,
    /// Its session was revoked by a new login of the same user on the same device.
    SessionReplaced = 3,
}

struct Subscriber {
    id: u64,
    session: String,
    tx: mpsc::Sender<ByteString>,
    cause: Arc<AtomicU8>,
}

#[derive(Default)]
struct Table {
    by_agent: HashMap<AgentId, Vec<Subscriber>>,
    supervisors: HashSet<AgentId>,
    /// Each agent's latest frames, for a socket that reconnects with the last sequence number
    /// it saw (at most [`RECENT_FRAMES`], none older than [`RECENT_AGE`]).
    recent: HashMap<AgentId, Recent>,
    /// When frames past their age were last swept from every agent (an agent with no new
    /// frames keeps none for long).
    swept: Option<std::time::Instant>,
}

/// How many of an agent's latest frames a reconnecting socket can be given again.
const RECENT_FRAMES: usize = 64;
/// How old a frame may be and still be given again.
const RECENT_AGE: std::time::Duration = std::time::Duration::from_secs(120);

#[derive(Default)]
struct Recent {
    frames: std::collections::VecDeque<(u64, std::time::Instant, ByteString)>,
    latest: u64,
}

/// How a socket starts: with the frames it missed (it reconnected with a sequence number the
/// hub still holds frames after), or with a snapshot (`seq`: the agent's latest sequence
/// number, when the hub has seen one).
#[derive(Debug, PartialEq, Eq)]
pub enum Start {
    Replay(Vec<ByteString>),
    Snapshot { seq: Option<u64> },
}

pub struct EventHub {
    table: Mutex<Table>,
    queue: usize,
    next_id: AtomicU64,
}

/// One socket's place in the hub; leaving it (drop) unsubscribes.
pub struct Subscription {
    pub rx: mpsc::Receiver<ByteString>,
    cause: Arc<AtomicU8>,
    id: u64,
    agent: AgentId,
    hub: Weak<EventHub>,
}

impl Subscription {
    /// Set once the hub dropped this socket.
    pub fn cause(&self) -> CloseCause {
        match self.cause.load(Ordering::Acquire) {
            1 => CloseCause::TooSlow,
            2 => CloseCause::SessionEnded,
            3 => CloseCause::SessionReplaced,
            _ => CloseCause::None,
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if let Some(hub) = self.hub.upgrade() {
            hub.unsubscribe(&self.agent, self.id);
        }
    }
}

impl EventHub {
    /// Starts the dispatcher on the current tokio runtime. `queue`: events per socket.
    pub fn start(telephony: &Arc<dyn Telephony>, queue: usize) -> Arc<EventHub> {
        let hub = EventHub::new(queue);
        let events = telephony.subscribe();
        tokio::spawn(dispatch(Arc::downgrade(&hub), events));
        hub
    }

    /// A hub without a dispatcher (events are handed to [`EventHub::deliver`]).
    fn new(queue: usize) -> Arc<EventHub> {
        Arc::new(EventHub {
            table: Mutex::new(Table::default()),
            queue: queue.max(1),
            next_id: AtomicU64::new(1),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a socket of `session`'s agent.
    pub fn subscribe(self: &Arc<Self>, session: &Session) -> Subscription {
        self.subscribe_from(session, None).0
    }

    /// Registers a socket of `session`'s agent that saw the agent's frames up to `last_seq`
    /// (a reconnection): the frames after it when the hub still holds every one of them, in
    /// the same step as the registration, so none is missed or given twice.
    pub fn subscribe_from(
        self: &Arc<Self>,
        session: &Session,
        last_seq: Option<u64>,
    ) -> (Subscription, Start) {
        let mut table = self.lock();
        let subscription = self.register(&mut table, session);
        let recent = table.recent.get(&session.agent);
        let start = match (last_seq, recent) {
            (Some(seen), Some(recent)) if recent.latest == seen => Start::Replay(Vec::new()),
            (Some(seen), Some(recent))
                if recent.latest > seen
                    && recent
                        .frames
                        .front()
                        .is_some_and(|(first, _, _)| *first <= seen + 1) =>
            {
                Start::Replay(
                    recent
                        .frames
                        .iter()
                        .filter(|(seq, _, _)| *seq > seen)
                        .map(|(_, _, frame)| frame.clone())
                        .collect(),
                )
            }
            _ => Start::Snapshot {
                seq: recent.map(|r| r.latest),
            },
        };
        drop(table);
        (subscription, start)
    }

    fn register(self: &Arc<Self>, table: &mut Table, session: &Session) -> Subscription {
        let (tx, rx) = mpsc::channel(self.queue);
        let cause = Arc::new(AtomicU8::new(CloseCause::None as u8));
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        if session.role == Role::Supervisor {
            table.supervisors.insert(session.agent.clone());
        }
        table
            .by_agent
            .entry(session.agent.clone())
            .or_default()
            .push(Subscriber {
                id,
                session: session.token_hash.clone(),
                tx,
                cause: cause.clone(),
            });
        Subscription {
            rx,
            cause,
            id,
            agent: session.agent.clone(),
            hub: Arc::downgrade(self),
        }
    }

    fn unsubscribe(&self, agent: &AgentId, id: u64) {
        let mut table = self.lock();
        if let Some(list) = table.by_agent.get_mut(agent) {
            list.retain(|s| s.id != id);
            if list.is_empty() {
                table.by_agent.remove(agent);
                table.supervisors.remove(agent);
            }
        }
    }

    /// Closes every socket opened with this session (Logout).
    pub fn end_session(&self, token_hash: &str) {
        self.close_session(token_hash, CloseCause::SessionEnded);
    }

    /// Closes every socket opened with this session because a new login replaced it.
    pub fn replace_session(&self, token_hash: &str) {
        self.close_session(token_hash, CloseCause::SessionReplaced);
    }

    fn close_session(&self, token_hash: &str, cause: CloseCause) {
        let mut table = self.lock();
        for list in table.by_agent.values_mut() {
            list.retain(|s| {
                let ended = s.session == token_hash;
                if ended {
                    s.cause.store(cause as u8, Ordering::Release);
                }
                !ended
            });
        }
        table.by_agent.retain(|_, list| !list.is_empty());
    }

    /// Sockets currently subscribed (all agents).
    /// Sends a frame that is not an event (no `seq`) to every socket: the missed calls
    /// changed, say.
    pub fn to_everyone(&self, frame: &'static str) {
        let frame = ByteString::from_static(frame);
        self.lock().by_agent.retain(|_, list| {
            offer(list, &frame);
            !list.is_empty()
        });
    }

    pub fn sockets(&self) -> usize {
        self.lock().by_agent.values().map(Vec::len).sum()
    }

    fn deliver(&self, envelope: &EventEnvelope) {
        let text = match serde_json::to_string(envelope) {
            Ok(text) => ByteString::from(text),
            Err(e) => {
                tracing::error!(error = %e, "cannot serialise a telephony event");
                return;
            }
        };
        let mut table = self.lock();
        match &envelope.agent {
            Some(agent) => {
                let now = std::time::Instant::now();
                if table
                    .swept
                    .is_none_or(|at| now.duration_since(at) > RECENT_AGE / 4)
                {
                    table.swept = Some(now);
                    table.recent.retain(|_, r| {
                        r.frames
                            .retain(|(_, at, _)| now.duration_since(*at) <= RECENT_AGE);
                        !r.frames.is_empty()
                    });
                }
                let recent = table.recent.entry(agent.clone()).or_default();
                recent.frames.push_back((envelope.seq, now, text.clone()));
                recent.latest = envelope.seq;
                while recent.frames.len() > RECENT_FRAMES
                    || recent
                        .frames
                        .front()
                        .is_some_and(|(_, at, _)| now.duration_since(*at) > RECENT_AGE)
                {
                    recent.frames.pop_front();
                }
                if let Some(list) = table.by_agent.get_mut(agent) {
                    offer(list, &text);
                    if list.is_empty() {
                        table.by_agent.remove(agent);
                    }
                }
                if let Event::Position(position) = &envelope.event {
                    let presence = ByteString::from(
                        serde_json::json!({"type": "userState", "user": agent, "state": position.state})
                            .to_string(),
                    );
                    let Table {
                        by_agent,
                        supervisors,
                        ..
                    } = &mut *table;
                    for supervisor in supervisors.iter().filter(|s| *s != agent) {
                        if let Some(list) = by_agent.get_mut(supervisor) {
                            offer(list, &presence);
                        }
                    }
                }
            }
            None => {
                let Table {
                    by_agent,
                    supervisors,
                    ..
                } = &mut *table;
                for supervisor in supervisors.iter() {
                    if let Some(list) = by_agent.get_mut(supervisor) {
                        offer(list, &text);
                    }
                }
                // A callback that comes due also goes to the agent who scheduled it.
                if let Event::CallbackDue { callback } = &envelope.event
                    && !supervisors.contains(&callback.scheduled_by)
                    && let Some(list) = by_agent.get_mut(&callback.scheduled_by)
                {
                    offer(list, &text);
                }
            }
        }
    }

    /// The dispatcher lost events: nobody's stream is complete any more; every socket
    /// reconnects and starts again from a snapshot.
    fn drop_everyone(&self) {
        let mut table = self.lock();
        for list in table.by_agent.values() {
            for s in list {
                s.cause.store(CloseCause::TooSlow as u8, Ordering::Release);
            }
        }
        table.by_agent.clear();
        table.supervisors.clear();
        // Frames were lost: what is held is no longer every frame after a sequence number.
        table.recent.clear();
    }
}

/// Queues `text` on each socket; a full queue drops the socket as too slow.
fn offer(list: &mut Vec<Subscriber>, text: &ByteString) {
    list.retain(|s| match s.tx.try_send(text.clone()) {
        Ok(()) => true,
        Err(mpsc::error::TrySendError::Full(_)) => {
            s.cause.store(CloseCause::TooSlow as u8, Ordering::Release);
            false
        }
        Err(mpsc::error::TrySendError::Closed(_)) => false,
    });
}

async fn dispatch(hub: Weak<EventHub>, mut events: tokio::sync::broadcast::Receiver<EventEnvelope>) {
    loop {
        let received = events.recv().await;
        let Some(hub) = hub.upgrade() else {
            return;
        };
        match received {
            Ok(envelope) => hub.deliver(&envelope),
            Err(RecvError::Lagged(missed)) => {
                tracing::warn!(
                    missed,
                    "event dispatcher fell behind the engine: every websocket reconnects"
                );
                hub.drop_everyone();
            }
            Err(RecvError::Closed) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;
    use crate::telephony::{CallId, EndReason};

    fn session(user: &str, token_hash: &str, role: Role) -> Session {
        Session {
            token_hash: token_hash.into(),
            agent: AgentId::from(user),
            device: "1001".into(),
            role,
            expires_at_ms: i64::MAX,
        }
    }

    fn event(agent: Option<&str>, seq: u64) -> EventEnvelope {
        EventEnvelope {
            agent: agent.map(AgentId::from),
            seq,
            at: Utc::now(),
            event: Event::CallEnded {
                call_id: CallId(seq),
                reason: EndReason::CustomerHangup,
            },
        }
    }

    #[test]
    fn a_full_queue_drops_that_socket_only_as_too_slow() {
        let hub = EventHub::new(2);
        let mut slow = hub.subscribe(&session("agent1", "a", Role::Agent));
        let mut fast = hub.subscribe(&session("agent1", "b", Role::Agent));
        for seq in 1..=2 {
            hub.deliver(&event(Some("agent1"), seq));
            assert!(fast.rx.try_recv().is_ok());
        }
        hub.deliver(&event(Some("agent1"), 3));
        assert_eq!(slow.cause(), CloseCause::TooSlow);
        assert_eq!(fast.cause(), CloseCause::None);
        assert!(fast.rx.try_recv().is_ok(), "the reading socket still gets events");
        // The slow socket keeps only what was queued before it was dropped.
        assert!(slow.rx.try_recv().is_ok() && slow.rx.try_recv().is_ok());
        assert!(slow.rx.try_recv().is_err());
        assert_eq!(hub.sockets(), 1);
    }

    #[test]
    fn events_go_to_their_agent_and_engine_wide_ones_to_supervisors() {
        let hub = EventHub::new(8);
        let mut agent1 = hub.subscribe(&session("agent1", "a", Role::Agent));
        let mut agent2 = hub.subscribe(&session("agent2", "b", Role::Agent));
        let mut super1 = hub.subscribe(&session("super1", "c", Role::Supervisor));
        hub.deliver(&event(Some("agent1"), 1));
        hub.deliver(&event(None, 1));
        assert!(agent1.rx.try_recv().unwrap().contains("\"agent\":\"agent1\""));
        assert!(agent1.rx.try_recv().is_err());
        assert!(agent2.rx.try_recv().is_err());
        assert!(super1.rx.try_recv().unwrap().contains("\"agent\":null"));
    }

    #[test]
    fn ending_a_session_drops_its_sockets_and_leaving_unsubscribes() {
        let hub = EventHub::new(8);
        let old = hub.subscribe(&session("agent1", "old", Role::Agent));
        let other = hub.subscribe(&session("agent1", "new", Role::Agent));
        hub.end_session("old");
        assert_eq!(old.cause(), CloseCause::SessionEnded);
        assert_eq!(other.cause(), CloseCause::None);
        assert_eq!(hub.sockets(), 1);
        drop(other);
        assert_eq!(hub.sockets(), 0);
    }

    #[test]
    fn supervisors_hear_of_other_agents_state_changes_and_agents_do_not() {
        let hub = EventHub::new(8);
        let mut agent1 = hub.subscribe(&session("agent1", "a", Role::Agent));
        let mut agent2 = hub.subscribe(&session("agent2", "b", Role::Agent));
        let mut super1 = hub.subscribe(&session("super1", "c", Role::Supervisor));
        let position = crate::telephony::Position {
            user: AgentId::from("agent1"),
            device: Some("1001".into()),
            role: Role::Agent,
            state: crate::telephony::AgentState::InCall,
            crm: crate::telephony::CrmState::Available,
            pause: None,
            campaign: None,
            call: None,
            contact: None,
            monitoring: None,
            salesforce_user_id: None,
        };
        hub.deliver(&EventEnvelope {
            agent: Some(AgentId::from("agent1")),
            seq: 1,
            at: Utc::now(),
            event: Event::Position(Box::new(position)),
        });
        assert!(agent1.rx.try_recv().unwrap().contains("\"type\":\"position\""));
        assert!(agent2.rx.try_recv().is_err());
        let presence: serde_json::Value = serde_json::from_str(&super1.rx.try_recv().unwrap()).unwrap();
        assert_eq!(
            presence,
            serde_json::json!({"type": "userState", "user": "agent1", "state": "inCall"})
        );
    }

    #[test]
    fn a_session_replaced_by_a_new_login_says_so() {
        let hub = EventHub::new(8);
        let old = hub.subscribe(&session("agent1", "old", Role::Agent));
        let new = hub.subscribe(&session("agent1", "new", Role::Agent));
        hub.replace_session("old");
        assert_eq!(old.cause(), CloseCause::SessionReplaced);
        assert_eq!(new.cause(), CloseCause::None);
        assert_eq!(hub.sockets(), 1);
    }
}
