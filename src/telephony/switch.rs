//! The switch interface: what the contact-center core asks of a telephony platform
//! ([`SwitchCommand`]) and what the platform tells the core ([`SwitchEvent`]). The core keeps
//! agents, contacts, campaigns, dispositions and the call log; a switch only moves audio:
//! rings devices, places and bridges calls, transfers, conferences, spies, sends digits.
//!
//! A switch either routes calls itself (a PBX with its own queues offers a call to an agent's
//! device and says so with [`SwitchEvent::Offered`]) or leaves routing to the core's ACD, which
//! then sends [`SwitchCommand::RingDevice`] (the simulated switch). [`Switch::routes_calls`]
//! tells which.

use std::sync::Weak;

use crate::telephony::events::EndReason;
use crate::telephony::types::{AgentId, CallId, MonitorMode, Participant, TransferMode, TransferTarget};

/// What the core asks the switch to do. Sent after the change that caused it is made; a
/// switch answers with [`SwitchEvent`]s (a customer answering, a device picking up), never by
/// return value, so a slow platform never holds the core.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SwitchCommand {
    /// Ring an agent's device with a call the core routed (core ACD only).
    RingDevice {
        call: CallId,
        device: String,
    },
    /// Place a call to `number`: the agent's `device` first when given (manual, click-to-dial,
    /// preview and progressive dialers), the customer alone otherwise (predictive).
    Originate {
        call: CallId,
        /// The agent placing the call, on `device` (none for a predictive call).
        agent: Option<AgentId>,
        device: Option<String>,
        number: String,
        /// Predictive: the campaign's queue, where the customer waits for an agent once they
        /// answer (switches that route calls).
        queue: Option<String>,
    },
    /// Hang the call up for everyone on it.
    Hangup {
        call: CallId,
    },
    /// Send DTMF digits on the call, towards the customer.
    SendDtmf {
        call: CallId,
        digits: String,
    },
    /// Transfer the call, blind (direct) or attended (a consultation first).
    Transfer {
        call: CallId,
        target: TransferTarget,
        mode: TransferMode,
        /// The target user's device (transfers to a user).
        device: Option<String>,
    },
    /// Attended transfer: hand the customer to the consulted party.
    CompleteTransfer {
        call: CallId,
    },
    /// Attended transfer: drop the consultation, back to the customer.
    CancelTransfer {
        call: CallId,
    },
    /// Make the call a conference.
    ConferenceStart {
        call: CallId,
    },
    ConferenceInvite {
        call: CallId,
        participant: Participant,
    },
    /// Remove every invited participant.
    ConferenceKick {
        call: CallId,
    },
    /// Back to a two-party call.
    ConferenceEnd {
        call: CallId,
    },
    /// A supervisor's device listens to (or whispers to) an agent's call.
    Spy {
        supervisor_device: String,
        target_device: String,
        mode: MonitorMode,
    },
    EndSpy {
        supervisor_device: String,
    },
    /// An agent's presence in a campaign's queue: member or not, paused with a reason or not
    /// (a PBX with its own queues adds, removes and pauses the member).
    AgentPresence {
        agent: AgentId,
        device: String,
        queue: Option<String>,
        paused: Option<String>,
    },
}

/// What the switch tells the core.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SwitchEvent {
    /// The switch offered a queued call to a device (switches that route calls).
    Offered { call: CallId, device: String },
    /// An agent's device picked up the call ringing on it.
    DeviceAnswered { device: String },
    /// The customer picked up a call placed to them.
    CustomerAnswered { call: CallId },
    /// A call placed to a customer ended before they answered.
    CustomerUnreached { call: CallId, reason: EndReason },
    /// The customer hung up (waiting in a queue: abandoned).
    CustomerHungUp { call: CallId },
    /// The customer pressed digits.
    CustomerDigits { call: CallId, digits: String },
    /// The offered call rang out on the device; the switch keeps it queued (switches that
    /// route calls; the core's ACD has its own ring timeout).
    RingNoAnswer { call: CallId, device: String },
    /// The call ended, for this reason (an agent hanging up on their phone, say).
    Ended { call: CallId, reason: EndReason },
    /// The caller left the platform's queue alive without being connected (Asterisk:
    /// `Queue()` timed out or the queue emptied, or `QueueCallerLeave` came with no
    /// `AgentConnect`), and the dialplan goes on (voicemail). Unless an agent's phone still
    /// rings with it (its answer may be on the way), no agent will take it: it ends as missed.
    /// `for_good`: the platform is done with it (the queue gave up, or the caller hung up
    /// later), so even a ringing call is over.
    LeftQueue { call: CallId, for_good: bool },
    /// The device's queue membership was paused (with the platform's reason) or unpaused
    /// outside ctibridge (a supervisor at the PBX console, say).
    MemberPaused { device: String, reason: Option<String> },
    /// The platform's link went down (`reason`) or came back: every logged-in agent is told.
    Availability { available: bool, reason: Option<String> },
}

/// A telephony platform behind the core.
pub trait Switch: Send + Sync + 'static {
    /// A short name for logs (`simulated`, `asterisk`, …).
    fn name(&self) -> &'static str;
    /// True when the platform offers calls to devices itself (its own queues).
    fn routes_calls(&self) -> bool;
    /// Called once, when the core starts: where to send events.
    fn attach(&self, input: SwitchInput);
    /// Carries out a command. Must not block: queue it and answer with events.
    fn command(&self, command: SwitchCommand);
    /// Whether the platform can take commands now; `Err` says why not (the link is down).
    /// Methods are refused meanwhile rather than silently lost.
    fn available(&self) -> Result<(), String> {
        Ok(())
    }
    /// Whether the platform has `queue` (a campaign's), asked before an agent joins the
    /// campaign; `Err` says why not.
    fn check_queue<'a>(&'a self, queue: &'a str) -> futures_util::future::BoxFuture<'a, Result<(), String>> {
        let _ = queue;
        Box::pin(std::future::ready(Ok(())))
    }
    /// Whether the platform knows `device`, asked before an agent logs in with it; `Err` says
    /// why not (a phone the PBX has never heard of takes no calls).
    fn check_device<'a>(
        &'a self,
        device: &'a str,
    ) -> futures_util::future::BoxFuture<'a, Result<(), String>> {
        let _ = device;
        Box::pin(std::future::ready(Ok(())))
    }
}

/// Where a switch sends its events: the core that attached it.
#[derive(Clone)]
pub struct SwitchInput {
    pub(crate) shared: Weak<crate::telephony::engine::Shared>,
}

impl SwitchInput {
    /// Applies an event and saves what it changed. An event about a call or device the core
    /// does not know is logged and ignored (state unchanged); `Err` only when the change could
    /// not be saved (it is kept and retried).
    pub async fn send(&self, event: SwitchEvent) -> crate::telephony::error::Result<()> {
        let Some(shared) = self.shared.upgrade() else {
            return Ok(());
        };
        shared.switch_event(event).await
    }

    /// A call entered the platform: the core's intake (contact lookup, a call id minted once)
    /// runs and queues it; the switch then routes it (no owner lookup: too late for it).
    pub async fn arrived(
        &self,
        call: crate::telephony::engine::InboundCall,
    ) -> crate::telephony::error::Result<CallId> {
        let Some(shared) = self.shared.upgrade() else {
            return Err(crate::telephony::error::TelephonyError::Internal(
                "the core stopped".into(),
            ));
        };
        // In the platform's queue already: taken in whatever the campaign's hours.
        Ok(crate::telephony::engine::intake_with(&shared, call, false)
            .await?
            .call_id)
    }
}
