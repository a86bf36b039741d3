//! The engine's state: agents and their sessions, calls, queues, leads, callbacks and timers,
//! all behind one mutex ([`super::EmbeddedEngine`]). Every change goes through `emit`, which
//! stamps the event with the agent's next sequence number.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, broadcast};
use tokio::time::Instant;

use super::campaign::Campaign;
use super::clock::Clock;
use super::durable::{IdBlock, Journal};
use super::roster::RosterEntry;
use crate::telephony::api::Method;
use crate::telephony::error::{Result, TelephonyError};
use crate::telephony::events::{Event, EventEnvelope, NeotelData};
use crate::telephony::switch::SwitchCommand;
use crate::telephony::types::{
    AgentId, AgentState, CallId, CallState, CallView, Callback, CallbackId, CampaignId, CampaignInfo,
    CampaignRef, ContactView, CrmState, Direction, Directory, Disposition, MonitorView, Participant,
    PauseReason, Position, RestState, SystemRest, TransferMode, TransferTarget, TransferView, UserInfo,
};

/// How a logged-in agent is attached to a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// The call is the agent's (offered, dialing or connected).
    Owner,
    /// The agent is the target of an attended transfer of someone else's call.
    ConsultTarget,
    /// The agent was invited to someone else's conference.
    Guest,
}

/// Where an agent goes back to after a temporary state (a conference invitation, monitoring,
/// a manual call placed while paused).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resume {
    pub state: AgentState,
    pub pause: Option<PauseReason>,
}

/// The contact on an agent's screen.
#[derive(Debug, Clone)]
pub struct Contact {
    pub data: NeotelData,
    pub clavesf: Option<String>,
    pub campaign: Option<CampaignId>,
    pub phone: String,
    pub disposition: Option<Disposition>,
    pub scheduled: bool,
}

impl Contact {
    pub fn view(&self) -> ContactView {
        ContactView {
            data: self.data.clone(),
            clavesf: self.clavesf.clone(),
            disposition: self.disposition.clone(),
            scheduled: self.scheduled,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Session {
    pub device: String,
    pub state: AgentState,
    pub pause: Option<PauseReason>,
    pub crm: CrmState,
    pub campaign: Option<CampaignId>,
    /// Since when the agent waits for a call: the ACD picks the longest-waiting agent.
    pub available_since: Instant,
    pub call: Option<(CallId, Link)>,
    pub contact: Option<Contact>,
    pub monitoring: Option<MonitorView>,
    pub resume: Option<Resume>,
    /// Which offer rings now: a ring timeout of an earlier offer of the same call is stale.
    pub offer: u64,
}

impl Session {
    /// The state an agent rests in when nothing is going on.
    pub fn idle_state(&self) -> AgentState {
        if self.campaign.is_some() {
            AgentState::Available
        } else {
            AgentState::LoggedIn
        }
    }

    /// Ready for the ACD or a dialer of `campaign`.
    pub fn ready_for(&self, campaign: CampaignId) -> bool {
        self.campaign == Some(campaign)
            && self.state == AgentState::Available
            && self.crm == CrmState::Available
            && self.call.is_none()
            && self.contact.is_none()
    }
}

#[derive(Debug)]
pub struct Agent {
    pub entry: RosterEntry,
    pub seq: u64,
    pub session: Option<Session>,
}

#[derive(Debug, Clone)]
pub struct Transfer {
    pub target: TransferTarget,
    pub mode: TransferMode,
    pub answered: bool,
}

#[derive(Debug, Clone)]
pub struct Call {
    pub direction: Direction,
    pub campaign: Option<CampaignId>,
    pub phone: String,
    pub data: NeotelData,
    pub clavesf: Option<String>,
    pub state: CallState,
    pub agent: Option<AgentId>,
    /// A predictive dialer call: no agent until the customer answers.
    pub predictive: bool,
    pub transfer: Option<Transfer>,
    pub conference: Option<Vec<Participant>>,
    /// The platform's name for the call, when it gave one at intake.
    pub reference: Option<String>,
    /// Inbound: the caller's Salesforce record and its owner (owner routing).
    pub owner: Option<crate::telephony::types::OwnerMatch>,
    /// What the missed-call record needs to know of the call's life.
    pub progress: Progress,
}

/// How far a call got: an inbound call that ends unanswered is missed ([`super::missed`]).
#[derive(Debug, Clone, Default)]
pub struct Progress {
    /// When it arrived (inbound intake).
    pub arrived_at: Option<chrono::DateTime<chrono::Utc>>,
    /// An agent's phone rang with it at least once.
    pub offered: bool,
    /// An agent answered it.
    pub answered: bool,
    /// Its campaign's `max_wait_secs` passed while an agent's phone rang: it is not queued
    /// again when that ring ends unanswered.
    pub overdue: bool,
    /// The missed call this call calls back.
    pub missed_call_id: Option<u64>,
}

impl Call {
    pub fn view(&self) -> CallView {
        CallView {
            data: self.data.clone(),
            clavesf: self.clavesf.clone(),
            state: self.state,
            direction: self.direction,
            agent: self.agent.clone(),
            transfer: self.transfer.as_ref().map(|t| TransferView {
                target: t.target.clone(),
                mode: t.mode,
                answered: t.answered,
            }),
            conference: self.conference.clone(),
            owner: self.owner.clone(),
            missed_call_id: self.progress.missed_call_id,
        }
    }
}

/// A contact an outbound campaign will dial.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Lead {
    pub phone: String,
    pub data: NeotelData,
    pub clavesf: Option<String>,
}

/// Something that happens at a given time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Timer {
    RingTimeout {
        call: CallId,
        agent: AgentId,
        offer: u64,
    },
    AutoRelease {
        agent: AgentId,
        call: CallId,
    },
    CallbackDue(CallbackId),
    /// An inbound call's campaign `max_wait_secs` passed.
    MaxWait(CallId),
}

pub struct Inner {
    pub agents: BTreeMap<AgentId, Agent>,
    pub campaigns: BTreeMap<CampaignId, Campaign>,
    pub rest_states: BTreeMap<u32, String>,
    pub calls: HashMap<CallId, Call>,
    /// Live calls by the platform's name for them (see `InboundCall::reference`).
    pub references: HashMap<String, CallId>,
    pub queues: BTreeMap<CampaignId, VecDeque<CallId>>,
    pub leads: BTreeMap<CampaignId, VecDeque<Lead>>,
    pub callbacks: BTreeMap<CallbackId, (Callback, Lead)>,
    pub timers: BTreeMap<(Instant, u64), Timer>,
    pub ring_timeout: Duration,
    /// Commands for the switch, sent once the lock is released.
    pub commands: Vec<SwitchCommand>,
    /// The switch offers calls itself: the core's ACD does not ring devices.
    pub routes_calls: bool,
    /// Owner routing: how long a call rings on its owner first (`None`: off).
    pub owner_first: Option<Duration>,
    /// Owner-first offers ringing now: call → offer number.
    pub owner_offers: HashMap<CallId, u64>,
    pub clock: Arc<dyn Clock>,
    pub events: broadcast::Sender<EventEnvelope>,
    pub wake: Arc<Notify>,
    /// What changed since the last commit; `None` when the engine persists nothing.
    pub journal: Option<Journal>,
    /// Call and callback ids: reserved from the database, never repeated.
    pub ids: IdBlock,
    next_id: u64,
    engine_seq: u64,
}

impl Inner {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        roster: Vec<RosterEntry>,
        campaigns: Vec<Campaign>,
        rest_states: BTreeMap<u32, String>,
        ring_timeout: Duration,
        clock: Arc<dyn Clock>,
        events: broadcast::Sender<EventEnvelope>,
        wake: Arc<Notify>,
    ) -> Inner {
        Inner {
            agents: roster
                .into_iter()
                .map(|entry| {
                    (
                        entry.user.clone(),
                        Agent {
                            entry,
                            seq: 0,
                            session: None,
                        },
                    )
                })
                .collect(),
            campaigns: campaigns.into_iter().map(|c| (c.id, c)).collect(),
            rest_states,
            calls: HashMap::new(),
            references: HashMap::new(),
            queues: BTreeMap::new(),
            leads: BTreeMap::new(),
            callbacks: BTreeMap::new(),
            timers: BTreeMap::new(),
            ring_timeout,
            commands: Vec::new(),
            routes_calls: false,
            owner_first: None,
            owner_offers: HashMap::new(),
            clock,
            events,
            wake,
            journal: None,
            ids: IdBlock::unbounded(),
            next_id: 0,
            engine_seq: 0,
        }
    }

    /// Asks the switch to do something (sent once the change is made).
    pub fn command(&mut self, command: SwitchCommand) {
        self.commands.push(command);
    }

    /// The device a logged-in agent works on.
    pub fn device_of(&self, user: &AgentId) -> Option<String> {
        self.session(user).ok().map(|s| s.device.clone())
    }

    /// The logged-in agent on `device`.
    pub fn agent_on(&self, device: &str) -> Option<AgentId> {
        self.agents
            .iter()
            .find(|(_, a)| a.session.as_ref().is_some_and(|s| s.device == device))
            .map(|(user, _)| user.clone())
    }

    /// Tells a switch with its own queues where the agent is: the campaign's queue, paused or
    /// not (sent on campaign login / logout, pause / unpause, logout).
    pub fn presence_changed(&mut self, user: &AgentId) {
        let Some(agent) = self.agents.get(user) else {
            return;
        };
        let command = match &agent.session {
            Some(s) => SwitchCommand::AgentPresence {
                agent: user.clone(),
                device: s.device.clone(),
                queue: s
                    .campaign
                    .and_then(|c| self.campaigns.get(&c))
                    .map(|c| c.queue.clone()),
                paused: s.pause.and_then(|p| self.rest_state(p)).map(|r| r.name),
            },
            None => return,
        };
        self.command(command);
    }

    /// A process-local id (offers, timers).
    pub fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// A call id: minted once at intake, never repeated across restarts and instances.
    pub fn new_call_id(&mut self) -> Result<CallId> {
        self.ids.take().map(CallId).ok_or_else(ids_spent)
    }

    pub fn new_callback_id(&mut self) -> Result<CallbackId> {
        let id = CallbackId(self.ids.take().ok_or_else(ids_spent)?);
        self.callback_changed(id);
        Ok(id)
    }

    /// Notes a callback to save (or delete) with the next commit.
    pub fn callback_changed(&mut self, id: CallbackId) {
        if let Some(journal) = self.journal.as_mut() {
            journal.callbacks.insert(id);
        }
    }

    /// Notes a campaign's lead queue to save with the next commit.
    pub fn leads_changed(&mut self, campaign: CampaignId) {
        if let Some(journal) = self.journal.as_mut() {
            journal.leads.insert(campaign);
        }
    }

    /// Publishes an event about `agent` (or engine-wide with `None`).
    pub fn emit(&mut self, agent: Option<&AgentId>, event: Event) {
        let seq = match agent.and_then(|a| self.agents.get_mut(a)) {
            Some(a) => {
                a.seq += 1;
                a.seq
            }
            None => {
                self.engine_seq += 1;
                self.engine_seq
            }
        };
        let envelope = EventEnvelope {
            agent: agent.cloned(),
            seq,
            at: self.clock.now(),
            event,
        };
        tracing::debug!(agent = ?envelope.agent, seq, event = ?envelope.event, "telephony event");
        if let Some(journal) = self.journal.as_mut() {
            if let Some(agent) = &envelope.agent {
                journal.agents.insert(agent.clone());
            }
            journal.events.push(envelope.clone());
            self.wake.notify_one();
        }
        // No subscriber is not an error: nobody is watching yet.
        let _ = self.events.send(envelope);
    }

    /// Publishes the agent's Position after a change.
    pub fn emit_position(&mut self, agent: &AgentId) {
        if let Ok(position) = self.position(agent) {
            self.emit(Some(agent), Event::Position(Box::new(position)));
        }
    }

    pub fn schedule(&mut self, after: Duration, timer: Timer) {
        let id = self.next_id();
        // A time beyond what the clock can represent is as good as never; keep a year.
        let now = Instant::now();
        let at = now
            .checked_add(after)
            .unwrap_or_else(|| now + Duration::from_secs(365 * 24 * 3600));
        self.timers.insert((at, id), timer);
        self.wake.notify_one();
    }

    pub fn agent(&self, user: &AgentId) -> Result<&Agent> {
        self.agents
            .get(user)
            .ok_or_else(|| TelephonyError::UnknownAgent(user.clone()))
    }

    pub fn session(&self, user: &AgentId) -> Result<&Session> {
        self.agent(user)?
            .session
            .as_ref()
            .ok_or_else(|| TelephonyError::NotLoggedIn(user.clone()))
    }

    pub fn session_mut(&mut self, user: &AgentId) -> Result<&mut Session> {
        self.agents
            .get_mut(user)
            .ok_or_else(|| TelephonyError::UnknownAgent(user.clone()))?
            .session
            .as_mut()
            .ok_or_else(|| TelephonyError::NotLoggedIn(user.clone()))
    }

    /// Checks the agent is logged in and in one of `allowed`; else `InvalidTransition`.
    pub fn require(&self, user: &AgentId, action: Method, allowed: &[AgentState]) -> Result<&Session> {
        let session = self.session(user)?;
        if allowed.contains(&session.state) {
            Ok(session)
        } else {
            Err(TelephonyError::InvalidTransition {
                from: session.state,
                action,
            })
        }
    }

    /// The agent's own call (as owner), checking `call` when the client named one.
    pub fn own_call(&self, user: &AgentId, call: Option<CallId>) -> Result<CallId> {
        let session = self.session(user)?;
        let current = match session.call {
            Some((id, Link::Owner)) => Some(id),
            Some((id, _)) => return Err(TelephonyError::NotYourCall(id.0)),
            None => None,
        };
        match (call, current) {
            (Some(asked), Some(id)) if asked == id => Ok(id),
            (Some(asked), _) if self.calls.contains_key(&asked) => Err(TelephonyError::NotYourCall(asked.0)),
            (_, None) | (Some(_), Some(_)) => Err(TelephonyError::NoActiveCall),
            (None, Some(id)) => Ok(id),
        }
    }

    pub fn campaign(&self, id: CampaignId) -> Result<&Campaign> {
        self.campaigns.get(&id).ok_or(TelephonyError::UnknownCampaign(id))
    }

    pub fn rest_state(&self, reason: PauseReason) -> Option<RestState> {
        let name = match reason {
            PauseReason::System(s) => s.name().to_owned(),
            PauseReason::Custom(id) => self.rest_states.get(&id)?.clone(),
        };
        Some(RestState { reason, name })
    }

    /// The agent's snapshot.
    pub fn position(&self, user: &AgentId) -> Result<Position> {
        let agent = self.agent(user)?;
        let Some(session) = &agent.session else {
            return Ok(Position {
                user: user.clone(),
                device: None,
                role: agent.entry.role,
                state: AgentState::LoggedOut,
                crm: CrmState::Available,
                pause: None,
                campaign: None,
                call: None,
                contact: None,
                monitoring: None,
                salesforce_user_id: agent.entry.salesforce_user_id.clone(),
            });
        };
        Ok(Position {
            user: user.clone(),
            device: Some(session.device.clone()),
            role: agent.entry.role,
            state: session.state,
            crm: session.crm,
            pause: session.pause.and_then(|p| self.rest_state(p)),
            campaign: session.campaign.and_then(|id| {
                self.campaigns.get(&id).map(|c| CampaignRef {
                    id,
                    name: c.name.clone(),
                })
            }),
            call: session
                .call
                .and_then(|(id, _)| self.calls.get(&id))
                .map(Call::view),
            contact: session.contact.as_ref().map(Contact::view),
            monitoring: session.monitoring.clone(),
            salesforce_user_id: agent.entry.salesforce_user_id.clone(),
        })
    }

    /// The softphone's lists (needs a session).
    pub fn directory(&self, user: &AgentId) -> Result<Directory> {
        self.session(user)?;
        let campaigns = self
            .campaigns
            .values()
            .map(|c| CampaignInfo {
                id: c.id,
                name: c.name.clone(),
                kind: c.kind,
                dialer: c.dialer,
                queue: c.queue.clone(),
                transfer_phones: c.transfer_phones.clone(),
                categories: c.categories.clone(),
                auto_release_secs: c.auto_release.map(|d| d.as_secs()),
            })
            .collect();
        let rest_states = SystemRest::ALL
            .into_iter()
            .filter(|r| *r != SystemRest::NoAnswer)
            .map(PauseReason::System)
            .chain(self.rest_states.keys().map(|id| PauseReason::Custom(*id)))
            .filter_map(|reason| self.rest_state(reason))
            .collect();
        let users = self
            .agents
            .iter()
            .map(|(id, a)| UserInfo {
                user: id.clone(),
                role: a.entry.role,
                state: a.session.as_ref().map_or(AgentState::LoggedOut, |s| s.state),
            })
            .collect();
        Ok(Directory {
            campaigns,
            rest_states,
            users,
        })
    }

    /// Fills the agent-side Neotel fields (userOutCampaign, campaignCrmId, campaignBaseId).
    pub fn agent_fields(&self, user: &AgentId, data: &mut NeotelData) {
        let campaign = self
            .session(user)
            .ok()
            .and_then(|s| s.campaign)
            .and_then(|id| self.campaigns.get(&id));
        if let Some(c) = campaign.filter(|c| c.is_outbound()) {
            data.user_out_campaign = Some(c.id.0);
            data.campaign_crm_id = Some(c.crm_id);
            data.campaign_base_id = Some(c.database_id);
        }
    }

    /// Who may be notified about a call: its owner, consult target and guests.
    pub fn call_agents(&self, call: CallId) -> Vec<AgentId> {
        self.agents
            .iter()
            .filter(|(_, a)| {
                a.session
                    .as_ref()
                    .is_some_and(|s| s.call.is_some_and(|(id, _)| id == call))
            })
            .map(|(user, _)| user.clone())
            .collect()
    }
}

fn ids_spent() -> TelephonyError {
    TelephonyError::NotSaved("no call id left until the database reserves the next block".into())
}
