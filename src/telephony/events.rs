//! The event stream: every state change of the engine, as the agent websocket will push it.
//!
//! Each [`EventEnvelope`] names the agent it concerns (`null` for engine-wide events such as a
//! call entering a queue) and carries a sequence number that grows by one per agent (engine
//! events have their own sequence), so a client can order events and notice gaps; after a gap
//! it asks for `Position`, which is the same snapshot as the `position` event.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::types::{
    AgentId, CallId, CallView, Callback, CampaignId, ContactView, Disposition, MonitorMode, Participant,
    Position, Task, TaskParams, TransferMode, TransferTarget,
};

/// The Neotel data of a call or contact: exactly the names `externalData` and
/// `defaultNewRowData` map to Salesforce fields (`callCampaing` spelled as Neotel does).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NeotelData {
    /// Neotel call id; 0 once the call is over while the contact stays on screen.
    #[serde(rename = "callId")]
    pub call_id: u64,
    #[serde(rename = "callCampaing")]
    pub call_campaing: Option<i64>,
    /// preview | progressive | predictive | manual | inbound.
    #[serde(rename = "callDialer")]
    pub call_dialer: Option<String>,
    #[serde(rename = "callQueue")]
    pub call_queue: Option<String>,
    /// Why the contact was brought: inbound | new | callback | manual | clickToDial | transfer.
    #[serde(rename = "callReason")]
    pub call_reason: Option<String>,
    #[serde(rename = "phoneNumber")]
    pub phone_number: Option<String>,
    #[serde(rename = "contactId")]
    pub contact_id: Option<i64>,
    #[serde(rename = "contactBaseId")]
    pub contact_base_id: Option<i64>,
    #[serde(rename = "crmId")]
    pub crm_id: Option<i64>,
    #[serde(rename = "crmKey")]
    pub crm_key: Option<String>,
    #[serde(rename = "campaignCrmId")]
    pub campaign_crm_id: Option<i64>,
    #[serde(rename = "campaignBaseId")]
    pub campaign_base_id: Option<i64>,
    #[serde(rename = "userOutCampaign")]
    pub user_out_campaign: Option<i64>,
    #[serde(rename = "SearchBy")]
    pub search_by: Option<String>,
    #[serde(rename = "SearchData")]
    pub search_data: Option<String>,
    /// Channel variables the telephony platform handed over for the CRM (Asterisk: those
    /// prefixed `Omlcrm` and those named in `OMLCUSTOMDIALPLANVARS`).
    #[serde(
        rename = "crmVariables",
        default,
        skip_serializing_if = "std::collections::BTreeMap::is_empty"
    )]
    pub crm_variables: std::collections::BTreeMap<String, String>,
}

/// Why a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum EndReason {
    AgentHangup,
    CustomerHangup,
    Busy,
    NoAnswer,
    /// Handed over by a transfer (the call goes on elsewhere).
    Transferred,
    /// The customer hung up before any agent took the call.
    Abandoned,
}

/// Why an inbound call ended without any agent answering it (see [`Event::CallMissed`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum MissedReason {
    /// The caller hung up while waiting (or while an agent's phone rang).
    Abandoned,
    /// No agent took it: the campaign's `max_wait_secs` passed, or the platform's queue gave
    /// up on it (Asterisk: `Queue()` timed out, no members) before any agent's phone rang.
    NoAgent,
    /// As `noAgent`, after it rang out on at least one agent.
    RingOut,
    /// It arrived outside the campaign's opening hours and was not queued.
    OutsideHours,
}

impl MissedReason {
    pub fn as_str(self) -> &'static str {
        match self {
            MissedReason::Abandoned => "abandoned",
            MissedReason::NoAgent => "noAgent",
            MissedReason::RingOut => "ringOut",
            MissedReason::OutsideHours => "outsideHours",
        }
    }
}

/// One event, tagged by `type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum Event {
    /// The agent's full situation after a change (same shape as the Position method).
    Position(Box<Position>),
    /// A call entered a queue (engine-wide).
    CallQueued {
        call: CallView,
    },
    /// A call rings on the agent's device.
    CallOffered {
        call: CallView,
    },
    /// A dialer handed a contact to the agent before connecting (preview, progressive).
    ContactHanded {
        contact: ContactView,
    },
    /// Agent and customer are connected.
    CallConnected {
        call: CallView,
    },
    CallEnded {
        call_id: CallId,
        reason: EndReason,
    },
    /// An inbound call ended without any agent answering it (engine-wide; after its
    /// `callEnded`, if any: a call outside hours was never queued and has none).
    CallMissed {
        /// The call as it was last (number, Neotel data, the caller's record and owner).
        call: CallView,
        reason: MissedReason,
        campaign: CampaignId,
        queue: String,
        arrived_at: DateTime<Utc>,
        /// Seconds from arrival to the end.
        waited_secs: u64,
    },
    /// A dialer attempt that never reached an agent (engine-wide).
    DialerAttempt {
        campaign: CampaignId,
        call_id: CallId,
        phone: String,
        reason: EndReason,
    },
    DtmfSent {
        call_id: CallId,
        digits: String,
    },
    /// Digits the customer pressed.
    CustomerDtmf {
        call_id: CallId,
        digits: String,
    },
    TransferStarted {
        call_id: CallId,
        target: TransferTarget,
        mode: TransferMode,
    },
    /// An attended transfer's target answered the consultation.
    TransferAnswered {
        call_id: CallId,
    },
    TransferCompleted {
        call_id: CallId,
        target: TransferTarget,
    },
    /// "Fin de transferencia": back to the customer.
    TransferCancelled {
        call_id: CallId,
    },
    ConferenceStarted {
        call_id: CallId,
    },
    ParticipantJoined {
        call_id: CallId,
        participant: Participant,
    },
    ParticipantsKicked {
        call_id: CallId,
        participants: Vec<Participant>,
    },
    ConferenceEnded {
        call_id: CallId,
    },
    MonitorStarted {
        supervisor: AgentId,
        target: AgentId,
        mode: MonitorMode,
    },
    MonitorEnded {
        supervisor: AgentId,
        target: AgentId,
    },
    ContactUpdated {
        contact_id: Option<i64>,
        call_id: CallId,
        disposition: Disposition,
    },
    CallbackScheduled {
        callback: Callback,
        /// The call whose contact it was scheduled from (0: a contact handed before any call).
        #[serde(default)]
        call_id: CallId,
    },
    /// A callback's time came: it goes to its campaign's dialer.
    CallbackDue {
        callback: Callback,
    },
    TaskExecuted {
        task: Task,
        call_id: CallId,
        contact_id: Option<i64>,
        params: TaskParams,
    },
    /// The telephony platform became unavailable (its link is down: methods answer 503
    /// `telephony_unavailable`) or available again. Sent to every logged-in agent.
    TelephonyStatus {
        available: bool,
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// The contact was released (CRM_Available, automatic release or a scheduled callback).
    ContactReleased {
        call_id: CallId,
        contact_id: Option<i64>,
        automatic: bool,
    },
}

/// An event with the agent it concerns and its sequence number.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventEnvelope {
    pub agent: Option<AgentId>,
    pub seq: u64,
    pub at: DateTime<Utc>,
    #[serde(flatten)]
    pub event: Event,
}

impl EventEnvelope {
    /// The agent of an event about `call`: the one the envelope names, else the call's.
    pub fn agent_for<'a>(&'a self, call: &'a CallView) -> Option<&'a str> {
        self.agent.as_ref().or(call.agent.as_ref()).map(AgentId::as_str)
    }
}
