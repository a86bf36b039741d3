//! Asterisk as the core's switch. Asterisk's queues route calls: the core follows
//! `AgentCalled` (offered), `AgentConnect` (answered), `AgentRingNoAnswer`, `AgentComplete`,
//! `QueueCallerAbandon` and `QueueMemberPause` (also when a supervisor pauses a member at the
//! console), a call placed with `Originate` through its `Dial` events, and a queue caller the
//! dialplan dials on its owner's device before `Queue()` (owner routing) through the caller's
//! `DialBegin` / `DialEnd`. The core's commands
//! become actions: `QueueAdd` / `QueueRemove` / `QueuePause` for an agent's presence,
//! `Originate`, `Hangup`, `PlayDTMF`, `BlindTransfer` / `Atxfer`, a `ChanSpy` originate.
//!
//! A call is known by its `Linkedid` (every channel of one call shares it). A queue call that
//! did not come through ctibridge's intake endpoint is taken in when it is first offered
//! (caller number, the `DATA` channel variable).
//!
//! Commands are carried out one at a time, in order, by one task; events are applied one at a
//! time, in order, by another.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use tokio::sync::mpsc;

use super::AsteriskConfig;
use super::client::{AmiClient, AmiError, LinkEvent};
use super::codec::{Action, Message};
use crate::telephony::engine::InboundCall;
use crate::telephony::events::EndReason;
use crate::telephony::switch::{Switch, SwitchCommand, SwitchEvent, SwitchInput};
use crate::telephony::types::{CallId, MonitorMode, Participant, TransferMode, TransferTarget};

/// The channels of one call.
#[derive(Debug, Clone, Default)]
struct Legs {
    /// The customer's channel (the queue caller, or the dialed leg of an originate).
    customer: Option<String>,
    /// The agent's channel.
    agent: Option<String>,
    /// Invited conference participants' channels (ConfbridgeJoin of the call's room).
    guests: Vec<String>,
}

#[derive(Debug, Default)]
struct State {
    /// Linkedid → the core's call.
    calls: HashMap<String, CallId>,
    legs: HashMap<CallId, Legs>,
    /// Channel variables of interest by Uniqueid (`CTI_CALL_ID`, `CLAVESF`, `DATA`).
    vars: HashMap<String, HashMap<String, String>>,
    /// Each agent's queue presence as last sent: device → (queue, paused reason).
    members: HashMap<String, (Option<String>, Option<String>, String)>,
    /// Calls placed with Originate (they end on their channels' Hangup and answer with
    /// DialEnd), and the ActionID of each Originate (its OriginateResponse says if it failed).
    originated: std::collections::HashSet<CallId>,
    /// Queue calls that left the queue still up (redirected into a conference, transferred):
    /// app_queue says no more about them, so the customer's hangup ends them.
    off_queue: std::collections::HashSet<CallId>,
    originate_actions: HashMap<String, CallId>,
    /// The campaigns' queues Asterisk said it does not have (at the last connection).
    missing_queues: std::collections::HashSet<String>,
    /// Predictive calls still ringing the customer (their OriginateResponse says whether the
    /// customer answered); once answered they are queue calls like the others.
    predictive: std::collections::HashSet<CallId>,
    /// Transfers to a user under way: the target's device (its `DialEnd` says whether it
    /// answered).
    user_transfers: HashMap<CallId, String>,
    /// Owner routing: calls the dialplan `Dial()`s on their owner's device before `Queue()`,
    /// while it rings (the device; the caller's `DialEnd` says whether it answered).
    owner_dials: HashMap<CallId, String>,
    /// Calls the owner answered outside any queue: their channels' Hangup ends them.
    owner_calls: std::collections::HashSet<CallId>,
    /// Queue calls whose caller left the queue (`QueueCallerLeave`) before any `AgentConnect`:
    /// a timeout or no members (the dialplan goes on, to voicemail), or an answer whose
    /// `AgentConnect` follows.
    left: std::collections::HashSet<CallId>,
    /// Channels asked to hang up (`HangupRequest`, `SoftHangupRequest`) and not gone yet: a
    /// `QueueCallerAbandon` of such a caller is a hang-up; of any other, the queue giving up
    /// (`Queue()` timed out or emptied: app_queue reports those as abandoned too).
    hanging_up: std::collections::HashSet<String>,
}

/// Channel variables with this prefix go to the CRM with the call (OMniLeads' convention).
pub const CRM_VARIABLE_PREFIX: &str = "Omlcrm";
/// A channel variable listing, comma-separated, more variables for the CRM.
pub const CRM_VARIABLES_LIST: &str = "OMLCUSTOMDIALPLANVARS";

/// The variables of a channel that go to the CRM.
fn crm_variables(vars: &HashMap<String, String>) -> std::collections::BTreeMap<String, String> {
    let listed: Vec<&str> = vars
        .get(CRM_VARIABLES_LIST)
        .map(|list| list.split(',').map(str::trim).collect())
        .unwrap_or_default();
    vars.iter()
        .filter(|(name, _)| name.starts_with(CRM_VARIABLE_PREFIX) || listed.contains(&name.as_str()))
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect()
}

/// The Asterisk switch. [`AsteriskSwitch::start`] connects and keeps the link up.
pub struct AsteriskSwitch {
    settings: AsteriskConfig,
    /// The campaigns' queues, checked against Asterisk's on every connection.
    queues: Vec<String>,
    client: AmiClient,
    state: Arc<Mutex<State>>,
    up: Arc<AtomicBool>,
    input: Arc<OnceLock<SwitchInput>>,
    commands: mpsc::UnboundedSender<Work>,
    /// Asterisk events applied so far (those that changed nothing included).
    applied: std::sync::atomic::AtomicU64,
    /// Whether a resync ran already (the first one removes no member).
    resynced: AtomicBool,
}

/// What the commands task carries out, in order: the core's commands, and the resync after a
/// (re)connection — in the same line, so a logout's QueueRemove cannot be overtaken by the
/// resync's QueueAdd.
enum Work {
    Command(SwitchCommand),
    Resync,
}

impl AsteriskSwitch {
    /// Connects (in the background: a link that cannot be made is retried and reported, and
    /// methods answer "telephony unavailable" meanwhile). Must run inside a tokio runtime.
    ///
    /// `Err`: the TLS settings are unusable (named in the message).
    pub fn start(settings: AsteriskConfig, queues: Vec<String>) -> Result<Arc<AsteriskSwitch>, String> {
        let (client, link) = AmiClient::start(settings.ami_settings()?);
        let (commands, queued) = mpsc::unbounded_channel();
        let switch = Arc::new(AsteriskSwitch {
            settings,
            queues,
            client,
            state: Arc::default(),
            up: Arc::default(),
            input: Arc::default(),
            commands,
            applied: Default::default(),
            resynced: AtomicBool::new(false),
        });
        tokio::spawn(Self::carry_out(Arc::downgrade(&switch), queued));
        tokio::spawn(Self::follow(Arc::downgrade(&switch), link));
        Ok(switch)
    }

    /// How many Asterisk events the driver has applied (in order, one at a time).
    pub fn events_applied(&self) -> u64 {
        self.applied.load(Ordering::Relaxed)
    }

    /// Whether the AMI link is up.
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::SeqCst)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn report(&self, event: SwitchEvent) {
        if let Some(input) = self.input.get()
            && let Err(e) = input.send(event).await
        {
            tracing::warn!(error = %e, "Asterisk event not saved yet");
        }
    }

    // ---- commands ---------------------------------------------------------------------------

    async fn carry_out(switch: std::sync::Weak<AsteriskSwitch>, mut queued: mpsc::UnboundedReceiver<Work>) {
        while let Some(work) = queued.recv().await {
            let Some(switch) = switch.upgrade() else { return };
            let command = match work {
                Work::Command(command) => command,
                Work::Resync => {
                    switch.resync().await;
                    // Methods are taken again once the members are back.
                    switch.up.store(true, Ordering::SeqCst);
                    switch
                        .report(SwitchEvent::Availability {
                            available: true,
                            reason: None,
                        })
                        .await;
                    continue;
                }
            };
            let described = format!("{command:?}");
            // A call placed: its failure (and for a predictive call, its answer) is the core's
            // to know.
            let placing = match &command {
                SwitchCommand::Originate { call, .. } => Some(*call),
                _ => None,
            };
            for action in switch.actions_for(command) {
                let name = action.name().to_owned();
                match switch.client.send(action).await {
                    Ok(_) => {}
                    Err(AmiError::Refused { message, .. }) if message.contains("Already there") => {}
                    Err(e) => {
                        tracing::warn!(
                            action = %name,
                            command = %described.escape_debug(),
                            error = %e.to_string().escape_debug(),
                            "Asterisk did not carry out a command"
                        );
                        if let Some(call) = placing {
                            switch.unplaced(call).await;
                        }
                    }
                }
            }
        }
    }

    /// An originated call that could not be placed: the core hears it did not get through.
    async fn unplaced(&self, call: CallId) {
        {
            let mut state = self.lock();
            state.originated.remove(&call);
            state.predictive.remove(&call);
            state.originate_actions.retain(|_, c| *c != call);
            state.legs.remove(&call);
            state.calls.retain(|_, c| *c != call);
        }
        self.report(SwitchEvent::CustomerUnreached {
            call,
            reason: EndReason::NoAnswer,
        })
        .await;
    }

    /// The actions that carry out `command` (none for what Asterisk does by itself).
    fn actions_for(&self, command: SwitchCommand) -> Vec<Action> {
        let s = &self.settings;
        match command {
            SwitchCommand::AgentPresence {
                agent,
                device,
                queue,
                paused,
            } => {
                let interface = s.interface_of(&device);
                let previous = self.lock().members.insert(
                    device.clone(),
                    (queue.clone(), paused.clone(), agent.as_str().to_owned()),
                );
                let (old_queue, old_paused) = previous.map(|(q, p, _)| (q, p)).unwrap_or_default();
                let pause = |queue: &str| {
                    let mut pause = Action::new("QueuePause")
                        .header("Queue", queue.to_owned())
                        .header("Interface", interface.clone())
                        .header("Paused", if paused.is_some() { "true" } else { "false" });
                    if let Some(reason) = &paused {
                        pause = pause.header("Reason", reason.clone());
                    }
                    pause
                };
                let mut actions = Vec::new();
                if old_queue != queue {
                    if let Some(old) = &old_queue {
                        actions.push(
                            Action::new("QueueRemove")
                                .header("Queue", old.clone())
                                .header("Interface", interface.clone()),
                        );
                    }
                    if let Some(new) = &queue {
                        actions.push(queue_add(new, &interface, agent.as_str(), paused.is_some()));
                        // QueueAdd pauses without a reason: the rest state names it.
                        if paused.is_some() {
                            actions.push(pause(new));
                        }
                    }
                } else if let Some(queue) = &queue
                    && old_paused != paused
                {
                    actions.push(pause(queue));
                }
                actions
            }
            SwitchCommand::Originate {
                call,
                agent,
                device: Some(device),
                number,
                ..
            } => {
                let agent = agent.map_or_else(|| device.clone(), |a| a.as_str().to_owned());
                // Its ActionID is known before it is sent: its OriginateResponse cannot be
                // read before the driver knows whose it is.
                let action_id = format!("originate-call-{}", call.0);
                {
                    let mut state = self.lock();
                    state.legs.insert(call, Legs::default());
                    state.originated.insert(call);
                    state.originate_actions.insert(action_id.clone(), call);
                }
                vec![
                    Action::new("Originate")
                        .with_action_id(action_id)
                        .header("Channel", s.dial_channel_of(&device))
                        .header("Context", s.outbound_context.clone())
                        .header("Exten", number)
                        .header("Priority", "1")
                        .header("CallerID", format!("\"{agent}\" <{device}>"))
                        .header("Async", "true")
                        .header("Timeout", (s.originate_timeout_secs * 1000).to_string())
                        .header("Variable", format!("{}={}", s.call_id_variable, call.0)),
                ]
            }
            // Predictive: the customer's number first (a Local channel through the outbound
            // context); once they answer, the campaign's queue (the queues context) offers the
            // call to an agent, under the same call id.
            SwitchCommand::Originate {
                call,
                device: None,
                number,
                queue: Some(queue),
                ..
            } => {
                let action_id = format!("originate-call-{}", call.0);
                {
                    let mut state = self.lock();
                    state.legs.insert(call, Legs::default());
                    state.predictive.insert(call);
                    state.originate_actions.insert(action_id.clone(), call);
                }
                vec![
                    Action::new("Originate")
                        .with_action_id(action_id)
                        .header("Channel", format!("Local/{number}@{}", s.outbound_context))
                        .header("Context", s.queue_context.clone())
                        .header("Exten", queue)
                        .header("Priority", "1")
                        .header("Async", "true")
                        .header("Timeout", (s.predictive_ring_secs * 1000).to_string())
                        .header("Variable", format!("{}={}", s.call_id_variable, call.0)),
                ]
            }
            SwitchCommand::Hangup { call } => {
                let (legs, off_queue) = {
                    let state = self.lock();
                    (
                        state.legs.get(&call).cloned().unwrap_or_default(),
                        state.off_queue.contains(&call),
                    )
                };
                // The agent's channel ends a two-party call; a call that left its queue (a
                // conference) has the customer hung up too.
                let channels: Vec<String> = if off_queue {
                    legs.agent.into_iter().chain(legs.customer).collect()
                } else {
                    legs.agent.or(legs.customer).into_iter().collect()
                };
                channels
                    .into_iter()
                    .map(|channel| {
                        Action::new("Hangup")
                            .header("Channel", channel)
                            .header("Cause", "16")
                    })
                    .collect()
            }
            SwitchCommand::SendDtmf { call, digits } => {
                let customer = self.lock().legs.get(&call).and_then(|l| l.customer.clone());
                match customer {
                    Some(channel) => digits
                        .chars()
                        .map(|digit| {
                            Action::new("PlayDTMF")
                                .header("Channel", channel.clone())
                                .header("Digit", digit.to_string())
                                .header("Duration", "250")
                        })
                        .collect(),
                    None => Vec::new(),
                }
            }
            // To a user: the agents' context dials the target's device; its DialEnd tells
            // whether it answered.
            SwitchCommand::Transfer {
                call,
                target: TransferTarget::User(user),
                mode,
                device,
            } => {
                let Some(device) = device else {
                    tracing::warn!(user = %user, "transfer target's device unknown to the Asterisk driver");
                    return Vec::new();
                };
                let mut state = self.lock();
                let Some(channel) = state.legs.get(&call).and_then(|l| l.agent.clone()) else {
                    return Vec::new();
                };
                state.user_transfers.insert(call, device.clone());
                let action = match mode {
                    TransferMode::Direct => {
                        // The customer leaves the queue's bridge: its hangup ends the call.
                        state.off_queue.insert(call);
                        Action::new("BlindTransfer")
                    }
                    TransferMode::Attended => Action::new("Atxfer"),
                };
                vec![
                    action
                        .header("Channel", channel)
                        .header("Exten", device)
                        .header("Context", s.agent_context.clone()),
                ]
            }
            // Asterisk's atxferabort feature ends the consultation (features.conf).
            SwitchCommand::CancelTransfer { call } => {
                let mut state = self.lock();
                state.user_transfers.remove(&call);
                state
                    .legs
                    .get(&call)
                    .and_then(|l| l.agent.clone())
                    .map(|channel| Action::new("CancelAtxfer").header("Channel", channel))
                    .into_iter()
                    .collect()
            }
            SwitchCommand::Transfer {
                call,
                target: TransferTarget::External(number),
                mode,
                ..
            } => {
                let legs = self.lock().legs.get(&call).cloned().unwrap_or_default();
                match mode {
                    // BlindTransfer moves what is bridged to the named channel and drops that
                    // channel: naming the agent's sends the customer on.
                    TransferMode::Direct => legs
                        .agent
                        .map(|channel| {
                            Action::new("BlindTransfer")
                                .header("Channel", channel)
                                .header("Context", s.outbound_context.clone())
                                .header("Exten", number)
                        })
                        .into_iter()
                        .collect(),
                    TransferMode::Attended => legs
                        .agent
                        .map(|channel| {
                            Action::new("Atxfer")
                                .header("Channel", channel)
                                .header("Exten", number)
                                .header("Context", s.outbound_context.clone())
                        })
                        .into_iter()
                        .collect(),
                }
            }
            // Back into a queue (a campaign's is its queue): the queue offers it again, under
            // the same call.
            SwitchCommand::Transfer {
                call,
                target: TransferTarget::Queue(queue),
                mode: TransferMode::Direct,
                ..
            } => {
                let agent = self.lock().legs.get(&call).and_then(|l| l.agent.clone());
                agent
                    .map(|channel| {
                        Action::new("BlindTransfer")
                            .header("Channel", channel)
                            .header("Context", s.queue_context.clone())
                            .header("Exten", queue)
                    })
                    .into_iter()
                    .collect()
            }
            SwitchCommand::Spy {
                supervisor_device,
                target_device,
                mode,
            } => vec![
                Action::new("Originate")
                    .header("Channel", s.dial_channel_of(&supervisor_device))
                    .header("Context", s.spy_context.clone())
                    .header(
                        "Exten",
                        match mode {
                            MonitorMode::Listen => "listen",
                            MonitorMode::Assist => "whisper",
                        },
                    )
                    .header("Priority", "1")
                    .header("Async", "true")
                    // ChanSpy matches by prefix: `PJSIP/1001-` cannot catch `PJSIP/10010-…`.
                    .header(
                        "Variable",
                        format!("SPYTARGET={}-", s.dial_channel_of(&target_device)),
                    ),
            ],
            // Attended transfer (Atxfer): the transferring agent hanging up hands the customer
            // to the consulted party.
            SwitchCommand::CompleteTransfer { call } => {
                let agent = {
                    let mut state = self.lock();
                    state.user_transfers.remove(&call);
                    state.legs.get(&call).and_then(|l| l.agent.clone())
                };
                agent
                    .map(|channel| {
                        Action::new("Hangup")
                            .header("Channel", channel)
                            .header("Cause", "16")
                    })
                    .into_iter()
                    .collect()
            }
            // A conference: the customer and the agent go into the ConfBridge room named after
            // the call; participants are called into it; kicking removes the invited ones.
            SwitchCommand::ConferenceStart { call } => {
                let legs = self.lock().legs.get(&call).cloned().unwrap_or_default();
                let room = call.0.to_string();
                match (legs.customer, legs.agent) {
                    (Some(customer), Some(agent)) => vec![
                        Action::new("Redirect")
                            .header("Channel", customer)
                            .header("ExtraChannel", agent)
                            .header("Context", s.conference_context.clone())
                            .header("Exten", room.clone())
                            .header("Priority", "1")
                            .header("ExtraContext", s.conference_context.clone())
                            .header("ExtraExten", room)
                            .header("ExtraPriority", "1"),
                    ],
                    _ => Vec::new(),
                }
            }
            SwitchCommand::ConferenceInvite { call, participant } => {
                let channel = match participant {
                    Participant::External(number) => format!("Local/{number}@{}", s.outbound_context),
                    Participant::User(user) => {
                        let device = self
                            .lock()
                            .members
                            .iter()
                            .find(|(_, (_, _, agent))| agent == user.as_str())
                            .map(|(device, _)| device.clone());
                        match device {
                            Some(device) => s.dial_channel_of(&device),
                            None => {
                                tracing::warn!(user = %user, "conference guest's device unknown to the Asterisk driver");
                                return Vec::new();
                            }
                        }
                    }
                };
                vec![
                    Action::new("Originate")
                        .header("Channel", channel)
                        .header("Context", s.conference_context.clone())
                        .header("Exten", call.0.to_string())
                        .header("Priority", "1")
                        .header("Async", "true"),
                ]
            }
            SwitchCommand::ConferenceKick { call } | SwitchCommand::ConferenceEnd { call } => {
                let guests = self
                    .lock()
                    .legs
                    .get_mut(&call)
                    .map(|l| std::mem::take(&mut l.guests))
                    .unwrap_or_default();
                guests
                    .into_iter()
                    .map(|channel| {
                        Action::new("ConfbridgeKick")
                            .header("Conference", call.0.to_string())
                            .header("Channel", channel)
                    })
                    .collect()
            }
            // The supervisor's spying call is the one on their phone: hang up its channels
            // (a regular expression, as the Hangup action takes between slashes).
            SwitchCommand::EndSpy { supervisor_device } => vec![
                Action::new("Hangup")
                    .header(
                        "Channel",
                        format!("/^{}-/", regex_escape(&s.dial_channel_of(&supervisor_device))),
                    )
                    .header("Cause", "16"),
            ],
            // Asterisk's queues ring devices themselves.
            SwitchCommand::RingDevice { .. } => Vec::new(),
            other => {
                tracing::warn!(command = ?other, "the Asterisk driver does not carry this command out yet");
                Vec::new()
            }
        }
    }

    // ---- events -----------------------------------------------------------------------------

    async fn follow(switch: std::sync::Weak<AsteriskSwitch>, mut link: mpsc::Receiver<LinkEvent>) {
        while let Some(event) = link.recv().await {
            let Some(switch) = switch.upgrade() else { return };
            match event {
                LinkEvent::Up => {
                    let _ = switch.commands.send(Work::Resync);
                }
                LinkEvent::Down(e) => {
                    // Said once per outage, not at every failed reconnection.
                    if switch.up.swap(false, Ordering::SeqCst) {
                        switch
                            .report(SwitchEvent::Availability {
                                available: false,
                                reason: Some(e.to_string()),
                            })
                            .await;
                    }
                }
                LinkEvent::Event(message) => {
                    switch.apply(&message).await;
                    switch.applied.fetch_add(1, Ordering::Relaxed);
                }
                LinkEvent::Garbled(_) => {}
            }
        }
    }

    /// After a (re)connection: the campaigns' queues exist (an error naming each missing one),
    /// every logged-in agent's membership again (Asterisk may have restarted and forgotten
    /// dynamic members), and calls whose channels are gone are closed.
    async fn resync(&self) {
        // At the first connection the core may not have told the driver about its logged-in
        // agents yet: nobody is stale before that.
        let sweep = self.resynced.swap(true, Ordering::SeqCst);
        let mut paused_there: Vec<(String, Option<String>)> = Vec::new();
        // Dynamic members of the campaigns' queues, on an agent-shaped interface, that no
        // logged-in agent accounts for (an agent logged out, or ctibridge restarted, while the
        // link was down): ctibridge owns dynamic membership of its queues, so they go.
        let mut stale: Vec<(String, String)> = Vec::new();
        for queue in &self.queues {
            match self
                .client
                .send(Action::new("QueueStatus").header("Queue", queue.clone()))
                .await
            {
                Ok(status) if status.items.iter().any(|m| m.event_name() == Some("QueueParams")) => {
                    self.lock().missing_queues.remove(queue);
                    // Pauses made at the console while the link was down.
                    for member in status
                        .items
                        .iter()
                        .filter(|m| m.event_name() == Some("QueueMember"))
                    {
                        let Some(device) = member.get("Location").and_then(|l| self.settings.device_of(l))
                        else {
                            continue;
                        };
                        let ours = self
                            .lock()
                            .members
                            .get(&device)
                            .is_some_and(|(q, _, _)| q.as_deref() == Some(queue.as_str()));
                        if !ours {
                            if sweep && member.get("Membership") == Some("dynamic") {
                                stale.push((
                                    queue.clone(),
                                    member.get("Location").unwrap_or_default().to_owned(),
                                ));
                            }
                            continue;
                        }
                        let reason = (member.get("Paused") == Some("1"))
                            .then(|| member.get("PausedReason").unwrap_or_default().to_owned());
                        paused_there.push((device, reason));
                    }
                }
                Ok(_) => {
                    self.lock().missing_queues.insert(queue.clone());
                    tracing::error!(
                        queue = %queue.escape_debug(),
                        "the campaign's queue does not exist in Asterisk: add it to queues.conf; its calls cannot reach agents"
                    )
                }
                Err(e) => tracing::warn!(queue = %queue.escape_debug(), error = %e, "cannot check a queue"),
            }
        }
        for (device, reason) in paused_there {
            self.member_paused(device, reason).await;
        }
        for (queue, interface) in stale {
            tracing::info!(
                queue = %queue.escape_debug(),
                interface = %interface.escape_debug(),
                "removing a queue member no logged-in agent accounts for"
            );
            let remove = Action::new("QueueRemove")
                .header("Queue", queue)
                .header("Interface", interface);
            if let Err(e) = self.client.send(remove).await {
                tracing::warn!(error = %e, "cannot remove a stale queue member");
            }
        }
        let members: Vec<(String, Option<String>, Option<String>, String)> = self
            .lock()
            .members
            .iter()
            .map(|(device, (queue, paused, agent))| {
                (device.clone(), queue.clone(), paused.clone(), agent.clone())
            })
            .collect();
        for (device, queue, paused, agent) in members {
            let Some(queue) = queue else { continue };
            let interface = self.settings.interface_of(&device);
            match self
                .client
                .send(queue_add(&queue, &interface, &agent, paused.is_some()))
                .await
            {
                Ok(_) => {}
                Err(AmiError::Refused { message, .. }) if message.contains("Already there") => {}
                Err(e) => {
                    tracing::warn!(error = %e, device = %device.escape_debug(), "cannot restore a queue member")
                }
            }
        }
        let Ok(channels) = self.client.send(Action::new("CoreShowChannels")).await else {
            return;
        };
        let live: std::collections::HashSet<String> = channels
            .items
            .iter()
            .filter_map(|m| m.get("Linkedid").map(str::to_owned))
            .collect();
        let gone: Vec<CallId> = {
            let mut state = self.lock();
            let gone: Vec<(String, CallId)> = state
                .calls
                .iter()
                .filter(|(linkedid, _)| !live.contains(*linkedid))
                .map(|(l, c)| (l.clone(), *c))
                .collect();
            for (linkedid, call) in &gone {
                state.calls.remove(linkedid);
                state.legs.remove(call);
            }
            gone.into_iter().map(|(_, c)| c).collect()
        };
        for call in gone {
            self.report(SwitchEvent::Ended {
                call,
                reason: EndReason::CustomerHangup,
            })
            .await;
        }
    }

    fn device(&self, message: &Message) -> Option<String> {
        self.settings.device_of(message.get("Interface")?)
    }

    fn call_of(&self, message: &Message) -> Option<CallId> {
        self.lock().calls.get(message.get("Linkedid")?).copied()
    }

    async fn apply(&self, m: &Message) {
        let Some(name) = m.event_name() else { return };
        match name {
            "VarSet" => self.var_set(m),
            // A caller entered a queue: the core knows the call from now on (waiting time,
            // abandoned calls), whether or not an agent is ever offered it.
            "QueueCallerJoin" => {
                self.queue_call(m).await;
            }
            "AgentCalled" => self.agent_called(m).await,
            "AgentConnect" => {
                let (Some(call), Some(device)) = (self.call_of(m), self.device(m)) else {
                    return;
                };
                if let Some(legs) = self.lock().legs.get_mut(&call) {
                    legs.customer = m.get("Channel").map(str::to_owned);
                    legs.agent = m.get("DestChannel").map(str::to_owned);
                }
                self.lock().left.remove(&call);
                self.report(SwitchEvent::DeviceAnswered { device }).await;
            }
            "AgentRingNoAnswer" => {
                let (Some(call), Some(device)) = (self.call_of(m), self.device(m)) else {
                    return;
                };
                self.report(SwitchEvent::RingNoAnswer { call, device }).await;
            }
            "AgentComplete" => {
                // Transferred: the agent is done (the core wrapped them up), the call goes on
                // (back in a queue, to a number) under the same Linkedid.
                if m.get("Reason") == Some("transfer") {
                    if let Some(call) = self.call_of(m) {
                        self.lock().off_queue.insert(call);
                    }
                    return;
                }
                let Some(call) = self.forget(m) else { return };
                let reason = match m.get("Reason") {
                    Some("agent") => EndReason::AgentHangup,
                    _ => EndReason::CustomerHangup,
                };
                self.report(SwitchEvent::Ended { call, reason }).await;
            }
            "HangupRequest" | "SoftHangupRequest" => {
                if let Some(channel) = m.get("Channel") {
                    self.lock().hanging_up.insert(channel.to_owned());
                }
            }
            "QueueCallerAbandon" => {
                let hung_up = m
                    .get("Channel")
                    .is_some_and(|c| self.lock().hanging_up.contains(c));
                let Some(call) = self.forget(m) else { return };
                let event = if hung_up {
                    SwitchEvent::CustomerHungUp { call }
                } else {
                    SwitchEvent::LeftQueue { call, for_good: true }
                };
                self.report(event).await;
            }
            // After an abandon the call is forgotten already; after an answer, AgentConnect
            // follows (the core keeps a ringing call); otherwise no agent will take it.
            "QueueCallerLeave" => {
                let Some(call) = self.call_of(m) else { return };
                let connected = self.lock().legs.get(&call).is_some_and(|l| l.agent.is_some());
                if connected {
                    return;
                }
                self.lock().left.insert(call);
                self.report(SwitchEvent::LeftQueue {
                    call,
                    for_good: false,
                })
                .await;
            }
            "QueueMemberPause" => {
                let Some(device) = self.device(m) else { return };
                let reason = (m.get("Paused") == Some("1"))
                    .then(|| m.get("PausedReason").unwrap_or_default().to_owned());
                self.member_paused(device, reason).await;
            }
            "DialBegin" => self.owner_dial_begin(m).await,
            "DialEnd" => self.dial_end(m).await,
            // Someone else than the customer and the agent entered the call's room: a guest.
            "ConfbridgeJoin" => {
                let (Some(room), Some(channel)) = (m.get("Conference"), m.get("Channel")) else {
                    return;
                };
                let Ok(id) = room.parse::<u64>() else { return };
                if let Some(legs) = self.lock().legs.get_mut(&CallId(id))
                    && legs.customer.as_deref() != Some(channel)
                    && legs.agent.as_deref() != Some(channel)
                {
                    legs.guests.push(channel.to_owned());
                }
            }
            // An Originate that failed after it was queued (the agent's phone unreachable or
            // not answering).
            "OriginateResponse" => {
                let Some(call) = m
                    .action_id()
                    .and_then(|id| self.lock().originate_actions.remove(id))
                else {
                    return;
                };
                // An event's `Response` header (Message::response reads responses only).
                let answered = m
                    .get("Response")
                    .is_some_and(|r| r.eq_ignore_ascii_case("success"));
                let predictive = self.lock().predictive.remove(&call);
                match (predictive, answered) {
                    // The customer answered a predictive call: it goes to the queue now.
                    (true, true) => self.report(SwitchEvent::CustomerAnswered { call }).await,
                    (true, false) => {
                        {
                            let mut state = self.lock();
                            state.legs.remove(&call);
                            state.calls.retain(|_, c| *c != call);
                        }
                        // app_queue's / the channel's reasons: 5 busy, 8 congestion.
                        let reason = match m.get("Reason") {
                            Some("5" | "8") => EndReason::Busy,
                            _ => EndReason::NoAnswer,
                        };
                        self.report(SwitchEvent::CustomerUnreached { call, reason }).await;
                    }
                    // The agent's phone answered: DialEnd says about the customer.
                    (false, true) => {}
                    (false, false) => self.unplaced(call).await,
                }
            }
            "Hangup" => self.hangup(m).await,
            _ => {}
        }
    }

    /// A member of ours paused or unpaused at Asterisk (the console, or while the link was
    /// down): remembered, so the next presence command starts from it, and told to the core.
    async fn member_paused(&self, device: String, reason: Option<String>) {
        {
            let mut state = self.lock();
            let Some(member) = state.members.get_mut(&device) else {
                return;
            };
            member.1 = reason.clone();
        }
        self.report(SwitchEvent::MemberPaused { device, reason }).await;
    }

    /// Channel variables of interest, by channel (`__NAME` is inherited `NAME`).
    fn var_set(&self, m: &Message) {
        let (Some(uniqueid), Some(variable), Some(value)) =
            (m.get("Uniqueid"), m.get("Variable"), m.get("Value"))
        else {
            return;
        };
        let variable = variable.trim_start_matches('_');
        if !["CLAVESF", "DATA", CRM_VARIABLES_LIST].contains(&variable)
            && variable != self.settings.call_id_variable
            && !variable.starts_with(CRM_VARIABLE_PREFIX)
        {
            // Maybe one of those OMLCUSTOMDIALPLANVARS names, kept for the CRM.
            let listed = self
                .lock()
                .vars
                .get(uniqueid)
                .and_then(|v| v.get(CRM_VARIABLES_LIST))
                .is_some_and(|list| list.split(',').any(|name| name.trim() == variable));
            if !listed {
                return;
            }
        }
        let mut state = self.lock();
        state
            .vars
            .entry(uniqueid.to_owned())
            .or_default()
            .insert(variable.to_owned(), value.to_owned());
        // An originated call names itself in its first channel: the call is this Linkedid.
        if variable == self.settings.call_id_variable
            && let (Ok(id), Some(linkedid)) = (value.parse::<u64>(), m.get("Linkedid"))
            && (state.originated.contains(&CallId(id)) || state.predictive.contains(&CallId(id)))
        {
            state.calls.insert(linkedid.to_owned(), CallId(id));
            if let Some(legs) = state.legs.get_mut(&CallId(id)) {
                legs.agent
                    .get_or_insert_with(|| m.get("Channel").unwrap_or_default().to_owned());
            }
        }
    }

    /// The core's call for a queue caller (`QueueCallerJoin`, or `AgentCalled` when the join
    /// was missed): the one the intake endpoint minted (`CTI_CALL_ID` on the channel), or one
    /// taken in now (caller number, `DATA`).
    async fn queue_call(&self, m: &Message) -> Option<CallId> {
        let linkedid = m.get("Linkedid")?.to_owned();
        let known = self.lock().calls.get(&linkedid).copied();
        if let Some(call) = known {
            // A predictive call reaching its queue was answered, whether or not its
            // OriginateResponse came first (Asterisk may start the dialplan before sending it).
            let answered = self.lock().predictive.remove(&call);
            if answered {
                self.report(SwitchEvent::CustomerAnswered { call }).await;
            }
            let mut state = self.lock();
            if let Some(legs) = state.legs.get_mut(&call) {
                legs.customer
                    .get_or_insert_with(|| m.get("Channel").unwrap_or_default().to_owned());
            }
            return Some(call);
        }
        let vars = m
            .get("Uniqueid")
            .and_then(|u| self.lock().vars.get(u).cloned())
            .unwrap_or_default();
        let call = match vars
            .get(&self.settings.call_id_variable)
            .and_then(|v| v.parse::<u64>().ok())
        {
            Some(id) => CallId(id),
            None => {
                let input = self.input.get()?;
                let intake = InboundCall {
                    ani: m
                        .get("CallerIDNum")
                        .filter(|n| *n != "<unknown>")
                        .map(str::to_owned),
                    data: vars.get("DATA").cloned(),
                    queue: m.get("Queue").unwrap_or_default().to_owned(),
                    hang_up_after: None,
                    reference: m.get("Uniqueid").map(str::to_owned),
                    variables: crm_variables(&vars),
                };
                match input.arrived(intake).await {
                    Ok(call) => call,
                    Err(e) => {
                        tracing::warn!(error = %e, "a queue call from Asterisk could not be taken in");
                        return None;
                    }
                }
            }
        };
        let mut state = self.lock();
        state.calls.insert(linkedid, call);
        state.legs.entry(call).or_default().customer = m.get("Channel").map(str::to_owned);
        Some(call)
    }

    async fn agent_called(&self, m: &Message) {
        let Some(device) = self.device(m) else { return };
        let Some(call) = self.queue_call(m).await else {
            return;
        };
        self.report(SwitchEvent::Offered { call, device }).await;
    }

    /// The dialed leg of an originated call answered, or did not (transfers and owner dials
    /// first).
    async fn dial_end(&self, m: &Message) {
        if self.transfer_dial_end(m).await || self.owner_dial_end(m).await {
            return;
        }
        // Queue calls' DialEnds (the queue ringing members) are not a customer's answer.
        let Some(call) = self.call_of(m).filter(|c| self.lock().originated.contains(c)) else {
            return;
        };
        let agent_leg = self.lock().legs.get(&call).and_then(|l| l.agent.clone());
        // The agent's own leg (Originate calls the agent's phone first) is not the customer.
        if m.get("DestChannel").is_some() && m.get("DestChannel") == agent_leg.as_deref() {
            return;
        }
        let event = match m.get("DialStatus") {
            Some("ANSWER") => {
                if let Some(legs) = self.lock().legs.get_mut(&call) {
                    legs.customer = m.get("DestChannel").map(str::to_owned);
                }
                SwitchEvent::CustomerAnswered { call }
            }
            Some("BUSY" | "CONGESTION" | "CHANUNAVAIL") => SwitchEvent::CustomerUnreached {
                call,
                reason: EndReason::Busy,
            },
            Some(_) => SwitchEvent::CustomerUnreached {
                call,
                reason: EndReason::NoAnswer,
            },
            None => return,
        };
        self.report(event).await;
    }

    /// A `DialEnd`'s call, destination channel and status.
    fn dial_end_of<'m>(&self, m: &'m Message) -> Option<(CallId, &'m str, &'m str)> {
        Some((self.call_of(m)?, m.get("DestChannel")?, m.get("DialStatus")?))
    }

    /// A device dialed for a call answered (`status` `ANSWER`), or rang out: the core hears
    /// it as that device's answer or ring-out.
    async fn report_device_dial_end(&self, call: CallId, device: String, status: &str) {
        let event = if status == "ANSWER" {
            SwitchEvent::DeviceAnswered { device }
        } else {
            SwitchEvent::RingNoAnswer { call, device }
        };
        self.report(event).await;
    }

    /// The device a call is being transferred to answered, or did not: the core hears it as
    /// that device's answer (or ring-out). True when `m` was such a `DialEnd`.
    async fn transfer_dial_end(&self, m: &Message) -> bool {
        let Some((call, dest, status)) = self.dial_end_of(m) else {
            return false;
        };
        let device = {
            let mut state = self.lock();
            let Some(device) = state.user_transfers.get(&call).cloned() else {
                return false;
            };
            if !self.settings.is_channel_of(dest, &device) {
                return false;
            }
            if status == "ANSWER" {
                // A direct transfer's target now has the customer.
                if state.off_queue.contains(&call) {
                    state.user_transfers.remove(&call);
                    if let Some(legs) = state.legs.get_mut(&call) {
                        legs.agent = Some(dest.to_owned());
                    }
                }
            } else {
                state.user_transfers.remove(&call);
            }
            device
        };
        self.report_device_dial_end(call, device, status).await;
        true
    }

    /// A channel of an originated call hung up: which side tells why the call ended. Queue
    /// calls end with `AgentComplete` or `QueueCallerAbandon` instead.
    async fn hangup(&self, m: &Message) {
        // A channel gone: its variables are of no more use.
        if let Some(uniqueid) = m.get("Uniqueid") {
            self.lock().vars.remove(uniqueid);
        }
        if let Some(channel) = m.get("Channel") {
            self.lock().hanging_up.remove(channel);
        }
        // A caller who left the queue unconnected hangs up (after the voicemail, say).
        let left = self.call_of(m).filter(|c| self.lock().left.contains(c));
        if let Some(call) = left {
            let customer = self.lock().legs.get(&call).and_then(|l| l.customer.clone());
            if m.get("Channel").is_some() && m.get("Channel") == customer.as_deref() {
                self.forget(m);
                self.report(SwitchEvent::LeftQueue { call, for_good: true }).await;
            }
            return;
        }
        // Queue calls end with AgentComplete or QueueCallerAbandon, whatever order their
        // channels hang up in (a member's phone that rang out hangs up too).
        let Some(call) = self.call_of(m).filter(|c| {
            let state = self.lock();
            state.originated.contains(c)
                || state.off_queue.contains(c)
                || state.owner_calls.contains(c)
                || state.owner_dials.contains_key(c)
        }) else {
            return;
        };
        let channel = m.get("Channel");
        let legs = self.lock().legs.get(&call).cloned().unwrap_or_default();
        let off_queue = self.lock().off_queue.contains(&call);
        let reason = if channel.is_some() && channel == legs.customer.as_deref() {
            EndReason::CustomerHangup
        } else if channel.is_some() && channel == legs.agent.as_deref() && !off_queue {
            EndReason::AgentHangup
        } else {
            // A call that left its queue (a transfer dropped the agent's channel, or both went
            // into a conference) ends with the customer.
            return;
        };
        self.forget(m);
        self.report(SwitchEvent::Ended { call, reason }).await;
    }

    /// Forgets a call that is over; returns it.
    fn forget(&self, m: &Message) -> Option<CallId> {
        let linkedid = m.get("Linkedid")?;
        let mut state = self.lock();
        let call = state.calls.remove(linkedid)?;
        state.legs.remove(&call);
        state.originated.remove(&call);
        state.off_queue.remove(&call);
        state.predictive.remove(&call);
        state.user_transfers.remove(&call);
        state.owner_dials.remove(&call);
        state.owner_calls.remove(&call);
        state.left.remove(&call);
        state.originate_actions.retain(|_, c| *c != call);
        Some(call)
    }

    /// Owner routing: the dialplan dials the owner's device from the caller's channel before
    /// `Queue()` (`DialBegin` with the caller as `Channel`, the device's channel as
    /// `DestChannel`, as the queue's own dials look). Told to the core as an offer to that
    /// device when the call came through the intake endpoint (its call id is on the channel)
    /// and has not joined a queue yet (a queue's dials follow its `QueueCallerJoin`).
    async fn owner_dial_begin(&self, m: &Message) {
        let (Some(linkedid), Some(uniqueid), Some(channel), Some(dest)) = (
            m.get("Linkedid"),
            m.get("Uniqueid"),
            m.get("Channel"),
            m.get("DestChannel"),
        ) else {
            return;
        };
        let (call, device) = {
            let mut state = self.lock();
            if state.calls.contains_key(linkedid) {
                return;
            }
            let Some(call) = state
                .vars
                .get(uniqueid)
                .and_then(|v| v.get(&self.settings.call_id_variable))
                .and_then(|v| v.parse::<u64>().ok())
                .map(CallId)
            else {
                return;
            };
            let Some(device) = state
                .members
                .keys()
                .find(|device| self.settings.is_channel_of(dest, device))
                .cloned()
            else {
                return;
            };
            state.calls.insert(linkedid.to_owned(), call);
            state.legs.entry(call).or_default().customer = Some(channel.to_owned());
            state.owner_dials.insert(call, device.clone());
            (call, device)
        };
        self.report(SwitchEvent::Offered { call, device }).await;
    }

    /// The owner's device answered the dialplan's `Dial()` (the call stays outside the queue,
    /// its channels' Hangup ends it), or did not (the dialplan goes on to `Queue()`). True when
    /// `m` was such a `DialEnd`.
    async fn owner_dial_end(&self, m: &Message) -> bool {
        let Some((call, dest, status)) = self.dial_end_of(m) else {
            return false;
        };
        let device = {
            let mut state = self.lock();
            let Some(device) = state.owner_dials.get(&call).cloned() else {
                return false;
            };
            if !self.settings.is_channel_of(dest, &device) {
                return false;
            }
            state.owner_dials.remove(&call);
            if status == "ANSWER" {
                state.owner_calls.insert(call);
                if let Some(legs) = state.legs.get_mut(&call) {
                    legs.agent = Some(dest.to_owned());
                }
            }
            device
        };
        self.report_device_dial_end(call, device, status).await;
        true
    }
}

/// `text` as a literal in a POSIX extended regular expression.
fn regex_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if ".^$*+?()[]{}|\\".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn queue_add(queue: &str, interface: &str, member: &str, paused: bool) -> Action {
    Action::new("QueueAdd")
        .header("Queue", queue.to_owned())
        .header("Interface", interface.to_owned())
        .header("MemberName", member.to_owned())
        .header("StateInterface", interface.to_owned())
        .header("Paused", if paused { "true" } else { "false" })
}

impl Switch for AsteriskSwitch {
    fn name(&self) -> &'static str {
        "asterisk"
    }

    fn routes_calls(&self) -> bool {
        true
    }

    fn attach(&self, input: SwitchInput) {
        let _ = self.input.set(input);
    }

    fn command(&self, command: SwitchCommand) {
        let _ = self.commands.send(Work::Command(command));
    }

    /// A queue found missing at the last connection is asked about again (it may have been
    /// added since); the others cost nothing.
    fn check_queue<'a>(&'a self, queue: &'a str) -> futures_util::future::BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            if !self.lock().missing_queues.contains(queue) {
                return Ok(());
            }
            let asked = Action::new("QueueStatus").header("Queue", queue.to_owned());
            match self.client.send(asked).await {
                Ok(status) if status.items.iter().any(|m| m.event_name() == Some("QueueParams")) => {
                    self.lock().missing_queues.remove(queue);
                    Ok(())
                }
                Ok(_) => Err(format!(
                    "Asterisk has no queue `{}`: add it to queues.conf and run `queue reload all`",
                    queue.escape_debug()
                )),
                // Asterisk not answering now: the method's own availability check says so.
                Err(_) => Ok(()),
            }
        })
    }

    /// Asks Asterisk for the device state of the agent's interface: `INVALID` is a device it
    /// does not know (no such PJSIP endpoint, no such extension for a Local interface). A
    /// device that is known but unregistered (`UNAVAILABLE`) may log in: the phone may register
    /// later. Asterisk not answering does not hold the login up.
    fn check_device<'a>(
        &'a self,
        device: &'a str,
    ) -> futures_util::future::BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            if !self.is_up() {
                return Ok(());
            }
            let interface = self.settings.interface_of(device);
            let asked = Action::new("Getvar").header("Variable", format!("DEVICE_STATE({interface})"));
            match self.client.send(asked).await {
                Ok(answer) if answer.response.get("Value") == Some("INVALID") => Err(format!(
                    "Asterisk does not know the interface {interface} (device state INVALID): check the \
                     endpoint exists (pjsip show endpoint) and [telephony.asterisk] interface"
                )),
                Ok(_) => Ok(()),
                Err(e) => {
                    tracing::warn!(
                        interface = %interface.escape_debug(),
                        error = %e,
                        "cannot check a device's state in Asterisk; the login goes on"
                    );
                    Ok(())
                }
            }
        })
    }

    fn available(&self) -> Result<(), String> {
        if self.is_up() {
            Ok(())
        } else {
            Err(format!(
                "the link to Asterisk at {}:{} is down",
                self.settings.host, self.settings.port
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_names_become_literal_patterns() {
        assert_eq!(regex_escape("PJSIP/1100"), "PJSIP/1100");
        assert_eq!(regex_escape("Local/1100@agents"), "Local/1100@agents");
        assert_eq!(regex_escape("SIP/a.b+c(1)"), "SIP/a\\.b\\+c\\(1\\)");
    }

    #[test]
    fn devices_are_read_back_from_interfaces_of_the_configured_shape() {
        let config = AsteriskConfig {
            interface: "Local/{device}@agents/n".into(),
            ..AsteriskConfig::default()
        };
        assert_eq!(config.device_of("Local/1001@agents/n").as_deref(), Some("1001"));
        assert_eq!(config.device_of("PJSIP/1001"), None);
        assert_eq!(config.device_of("Local/@agents/n"), None);
        assert_eq!(
            AsteriskConfig::default().device_of("PJSIP/1001").as_deref(),
            Some("1001")
        );
        assert_eq!(AsteriskConfig::default().dial_channel_of("1001"), "PJSIP/1001");
    }
}
