//! The engine's durable side: what one change must persist ([`Commit`]: the events it produced,
//! the agents, callbacks and lead queues it left changed, fresh call ids), the [`CommitSink`]
//! that writes it in one transaction, and how a restarted engine takes back what the last
//! process saved ([`RestoredState`]).
//!
//! The engine stays free of I/O: it records every change in a journal while it holds its lock,
//! and whoever acknowledges the change (a method, the timer task, the simulation's flusher)
//! hands the journal to the sink and waits for the commit before answering.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::state::{Contact, Inner, Lead, Link, Resume, Session};
use crate::telephony::events::{EventEnvelope, NeotelData};
use crate::telephony::types::{
    AgentId, AgentState, CallId, CallState, Callback, CallbackId, CampaignId, CrmState, Disposition,
    MonitorView, PauseReason,
};

/// The version of the stored state's shape. A database written by a newer version is refused
/// at start-up rather than read wrongly.
pub const STATE_VERSION: i64 = 1;

/// Call and callback ids are reserved from the database in blocks of this size, so an id never
/// repeats across restarts and instances; a new block is reserved when half of one is left.
pub const ID_BLOCK: u64 = 100_000;

/// A range of reserved ids `[next, end)`, and the block after it once reserved.
#[derive(Debug, Clone)]
pub struct IdBlock {
    pub next: u64,
    pub end: u64,
    pub reserve: Option<(u64, u64)>,
}

impl IdBlock {
    /// Ids from 1 without end: an engine that persists nothing (unit tests, benchmarks).
    pub fn unbounded() -> IdBlock {
        IdBlock {
            next: 1,
            end: u64::MAX,
            reserve: None,
        }
    }

    /// The next id; `None` when the block is spent and the next one is not reserved yet (half
    /// a block between two commits: only while the database does not answer). Never an id
    /// that may repeat.
    pub fn take(&mut self) -> Option<u64> {
        if self.next >= self.end
            && let Some((next, end)) = self.reserve.take()
        {
            self.next = next;
            self.end = end;
        }
        if self.next >= self.end {
            return None;
        }
        let id = self.next;
        self.next += 1;
        Some(id)
    }

    /// True when the next block should be reserved.
    pub fn running_low(&self) -> bool {
        self.reserve.is_none() && self.end != u64::MAX && self.end.saturating_sub(self.next) < ID_BLOCK / 2
    }
}

/// An agent's session as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredSession {
    pub device: String,
    pub state: AgentState,
    pub pause: Option<PauseReason>,
    pub crm: CrmState,
    pub campaign: Option<CampaignId>,
    pub call: Option<StoredCallLink>,
    pub contact: Option<StoredContact>,
    pub monitoring: Option<MonitorView>,
    pub resume: Option<StoredResume>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredCallLink {
    pub id: CallId,
    /// `owner`, `consultTarget` or `guest`.
    pub link: String,
    pub state: CallState,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredContact {
    pub data: NeotelData,
    pub clavesf: Option<String>,
    pub campaign: Option<CampaignId>,
    pub phone: String,
    pub disposition: Option<Disposition>,
    pub scheduled: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredResume {
    pub state: AgentState,
    pub pause: Option<PauseReason>,
}

/// One agent's row: its event sequence number and its session (`None`: logged out).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredAgent {
    pub user: AgentId,
    pub seq: u64,
    pub session: Option<StoredSession>,
}

/// A scheduled callback and the lead it becomes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredCallback {
    pub callback: Callback,
    pub lead: Lead,
}

/// What one acknowledged change must persist, in one transaction.
#[derive(Debug, Default)]
pub struct Commit {
    pub events: Vec<EventEnvelope>,
    pub agents: Vec<StoredAgent>,
    pub callbacks_saved: Vec<StoredCallback>,
    pub callbacks_removed: Vec<CallbackId>,
    /// Campaigns whose lead queue changed, with the whole queue.
    pub leads: Vec<(CampaignId, Vec<Lead>)>,
    /// Reserve the next block of ids in the same transaction.
    pub reserve_ids: bool,
}

impl Commit {
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
            && self.agents.is_empty()
            && self.callbacks_saved.is_empty()
            && self.callbacks_removed.is_empty()
            && self.leads.is_empty()
            && !self.reserve_ids
    }
}

/// What the sink answers: the next id block when one was asked for.
#[derive(Debug, Default)]
pub struct Committed {
    pub ids: Option<(u64, u64)>,
}

/// Writes a [`Commit`] in one database transaction (state, call log and outbox rows).
#[async_trait]
pub trait CommitSink: Send + Sync + 'static {
    async fn commit(&self, commit: &Commit) -> Result<Committed, String>;
}

/// What the last process left: the starting point of a restarted engine.
#[derive(Debug, Clone)]
pub struct RestoredState {
    pub agents: Vec<StoredAgent>,
    pub callbacks: Vec<StoredCallback>,
    pub leads: Vec<(CampaignId, Vec<Lead>)>,
    /// The first block of ids of this process.
    pub ids: (u64, u64),
}

/// What changed since the last commit.
#[derive(Debug, Default)]
pub struct Journal {
    pub events: Vec<EventEnvelope>,
    pub agents: BTreeSet<AgentId>,
    pub callbacks: BTreeSet<CallbackId>,
    pub leads: BTreeSet<CampaignId>,
}

fn link_name(link: Link) -> &'static str {
    match link {
        Link::Owner => "owner",
        Link::ConsultTarget => "consultTarget",
        Link::Guest => "guest",
    }
}

impl Contact {
    fn stored(&self) -> StoredContact {
        StoredContact {
            data: self.data.clone(),
            clavesf: self.clavesf.clone(),
            campaign: self.campaign,
            phone: self.phone.clone(),
            disposition: self.disposition.clone(),
            scheduled: self.scheduled,
        }
    }

    fn from_stored(stored: StoredContact) -> Contact {
        Contact {
            data: stored.data,
            clavesf: stored.clavesf,
            campaign: stored.campaign,
            phone: stored.phone,
            disposition: stored.disposition,
            scheduled: stored.scheduled,
        }
    }
}

impl Inner {
    /// Takes what changed since the last commit (nothing when the engine persists nothing).
    pub fn take_commit(&mut self) -> Commit {
        let Some(journal) = self.journal.as_mut().map(std::mem::take) else {
            return Commit::default();
        };
        let agents = journal
            .agents
            .iter()
            .filter_map(|user| self.agents.get(user).map(|a| (user, a)))
            .map(|(user, agent)| StoredAgent {
                user: user.clone(),
                seq: agent.seq,
                session: agent.session.as_ref().map(|s| self.stored_session(s)),
            })
            .collect();
        let mut callbacks_saved = Vec::new();
        let mut callbacks_removed = Vec::new();
        for id in journal.callbacks {
            match self.callbacks.get(&id) {
                Some((callback, lead)) => callbacks_saved.push(StoredCallback {
                    callback: callback.clone(),
                    lead: lead.clone(),
                }),
                None => callbacks_removed.push(id),
            }
        }
        let leads = journal
            .leads
            .iter()
            .map(|c| {
                (
                    *c,
                    self.leads
                        .get(c)
                        .map(|q| q.iter().cloned().collect())
                        .unwrap_or_default(),
                )
            })
            .collect();
        Commit {
            events: journal.events,
            agents,
            callbacks_saved,
            callbacks_removed,
            leads,
            reserve_ids: self.ids.running_low(),
        }
    }

    /// Sends the switch every logged-in agent's queue presence (after a restart, or when the
    /// switch's link comes back).
    pub fn resync_presence(&mut self) {
        let users: Vec<AgentId> = self
            .agents
            .iter()
            .filter(|(_, a)| a.session.is_some())
            .map(|(user, _)| user.clone())
            .collect();
        for user in users {
            self.presence_changed(&user);
        }
    }

    /// Puts back a commit the sink could not write, in front of what changed since.
    pub fn restore_commit(&mut self, commit: Commit) {
        let Some(journal) = self.journal.as_mut() else {
            return;
        };
        let mut events = commit.events;
        events.append(&mut journal.events);
        journal.events = events;
        journal.agents.extend(commit.agents.into_iter().map(|a| a.user));
        journal
            .callbacks
            .extend(commit.callbacks_saved.iter().map(|c| c.callback.id));
        journal.callbacks.extend(commit.callbacks_removed);
        journal.leads.extend(commit.leads.into_iter().map(|(c, _)| c));
    }

    pub fn committed(&mut self, committed: Committed) {
        if let Some(block) = committed.ids {
            self.ids.reserve = Some(block);
        }
    }

    fn stored_session(&self, s: &Session) -> StoredSession {
        StoredSession {
            device: s.device.clone(),
            state: s.state,
            pause: s.pause,
            crm: s.crm,
            campaign: s.campaign,
            call: s.call.map(|(id, link)| StoredCallLink {
                id,
                link: link_name(link).to_owned(),
                state: self.calls.get(&id).map_or(CallState::Ended, |c| c.state),
            }),
            contact: s.contact.as_ref().map(Contact::stored),
            monitoring: s.monitoring.clone(),
            resume: s.resume.map(|r| StoredResume {
                state: r.state,
                pause: r.pause,
            }),
        }
    }

    /// Takes back the last process's state. Calls do not survive a restart (the switch's
    /// legs died with the process): an agent who owned a connected call goes to wrap-up with
    /// its contact (the call log closes the call), one whose call rang or dialed goes back to
    /// where it was; monitoring ends. Callbacks are scheduled again for their time.
    pub fn restore(&mut self, state: RestoredState) {
        self.ids = IdBlock {
            next: state.ids.0,
            end: state.ids.1,
            reserve: None,
        };
        let now = self.clock.now();
        for stored in state.agents {
            let Some(agent) = self.agents.get_mut(&stored.user) else {
                tracing::warn!(
                    user = %stored.user.as_str().escape_debug(),
                    "a stored session names a user no longer in the roster; ignored"
                );
                continue;
            };
            agent.seq = stored.seq;
            let Some(s) = stored.session else { continue };
            let mut session = Session {
                device: s.device,
                state: s.state,
                pause: s.pause,
                crm: s.crm,
                campaign: s.campaign.filter(|c| self.campaigns.contains_key(c)),
                available_since: Instant::now(),
                call: None,
                contact: s.contact.map(Contact::from_stored),
                monitoring: None,
                resume: s.resume.map(|r| Resume {
                    state: r.state,
                    pause: r.pause,
                }),
                offer: 0,
            };
            let owned = s.call.as_ref().is_some_and(|c| c.link == "owner");
            if owned && session.contact.is_some() {
                // The agent's own call (connected, dialing a previewed lead or a redial from
                // wrap-up): the contact stays on screen, in wrap-up, for the agent to
                // categorize or release — a lead is never dropped.
                session.state = AgentState::WrapUp;
                session.resume = None;
                if session.crm == CrmState::Available {
                    session.crm = CrmState::GetContact;
                }
            } else if s.call.is_some() || s.monitoring.is_some() || session.state == AgentState::Ringing {
                // A call that only rang, or someone else's (consulted, a conference guest), or
                // monitoring: back to where the agent was.
                match session.resume.take() {
                    Some(Resume { state, pause }) => {
                        session.state = state;
                        session.pause = pause;
                    }
                    None if session.contact.is_some() => session.state = AgentState::WrapUp,
                    None => session.state = session.idle_state(),
                }
            } else if session.state == AgentState::InCall {
                session.state = if session.contact.is_some() {
                    AgentState::WrapUp
                } else {
                    session.idle_state()
                };
            }
            if session.campaign.is_none() && session.state == AgentState::Available {
                session.state = AgentState::LoggedIn;
            }
            agent.session = Some(session);
        }
        for stored in state.callbacks {
            let id = stored.callback.id;
            let wait = (stored.callback.at - now).to_std().unwrap_or_default();
            self.callbacks.insert(id, (stored.callback, stored.lead));
            self.schedule(wait, super::state::Timer::CallbackDue(id));
        }
        self.leads = state
            .leads
            .into_iter()
            .filter(|(c, _)| self.campaigns.contains_key(c))
            .map(|(c, leads)| (c, leads.into_iter().collect::<VecDeque<_>>()))
            .collect::<BTreeMap<_, _>>();
        // Wrap-ups with an automatic release get their timer back.
        let wrapped: Vec<(AgentId, CallId, std::time::Duration)> = self
            .agents
            .iter()
            .filter_map(|(user, a)| {
                let s = a.session.as_ref()?;
                let contact = s.contact.as_ref()?;
                if s.state != AgentState::WrapUp || contact.data.call_id == 0 {
                    return None;
                }
                let after = contact
                    .campaign
                    .and_then(|c| self.campaigns.get(&c))?
                    .auto_release?;
                Some((user.clone(), CallId(contact.data.call_id), after))
            })
            .collect();
        for (agent, call, after) in wrapped {
            self.schedule(after, super::state::Timer::AutoRelease { agent, call });
        }
    }
}
