//! The typed vocabulary of the telephony API: identifiers, states, requests and results.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use super::events::NeotelData;

/// A telephony user name (USUARIO), agent or supervisor.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AgentId(String);

impl AgentId {
    pub fn new(user: impl Into<String>) -> Self {
        AgentId(user.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<&str> for AgentId {
    fn from(user: &str) -> Self {
        AgentId(user.to_owned())
    }
}

impl fmt::Display for AgentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A call id (callId): minted once at intake, never repeated across restarts and instances;
/// 0 is never a call (a contact handed by a preview dialer before it is dialed).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CallId(pub u64);

impl fmt::Display for CallId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A campaign id (callCampaing / userOutCampaign).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CampaignId(pub i64);

impl fmt::Display for CampaignId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A scheduled callback's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CallbackId(pub u64);

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    #[default]
    Agent,
    Supervisor,
}

/// How an outbound campaign dials its leads (callDialer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DialerKind {
    /// The agent sees the contact and decides when to dial.
    Preview,
    /// The contact is handed to the agent and dialed at once.
    Progressive,
    /// Customers are dialed first; the answered ones go to the longest-available agent.
    Predictive,
}

impl DialerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DialerKind::Preview => "preview",
            DialerKind::Progressive => "progressive",
            DialerKind::Predictive => "predictive",
        }
    }
}

/// The agent's telephony state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum AgentState {
    LoggedOut,
    /// Logged in, not in a campaign: may dial by hand, receives nothing.
    LoggedIn,
    /// In a campaign, ready for the next call.
    Available,
    /// In a rest state (see the position's `pause`).
    Paused,
    /// A call is offered and rings on the agent's device.
    Ringing,
    /// A preview dialer handed a contact; the agent dials it or releases it.
    Previewing,
    /// On a call (dialing, talking, consulting, in a conference).
    InCall,
    /// The call is over; the contact is still on screen until it is released.
    WrapUp,
    /// A supervisor listening to or assisting an agent.
    Monitoring,
}

impl fmt::Display for AgentState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AgentState::LoggedOut => "logged out",
            AgentState::LoggedIn => "logged in without a campaign",
            AgentState::Available => "available",
            AgentState::Paused => "paused",
            AgentState::Ringing => "ringing",
            AgentState::Previewing => "previewing a contact",
            AgentState::InCall => "in a call",
            AgentState::WrapUp => "in wrap-up",
            AgentState::Monitoring => "monitoring",
        })
    }
}

/// What Neotel's `Position` calls the CRM state: whether the CRM has a contact to show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CrmState {
    /// Ready for the next contact.
    Available,
    /// The CRM told the platform it cannot take contacts (CRM_Unavailable).
    Unavailable,
    /// A contact is waiting to be shown: the CRM shows it and calls CRM_ShowingContact.
    GetContact,
    /// The contact is on screen.
    ShowingContact,
}

/// The built-in rest states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum SystemRest {
    Break,
    Lunch,
    Restroom,
    Training,
    Meeting,
    Backoffice,
    /// Set by the engine when the agent let an offered call ring out.
    NoAnswer,
}

impl SystemRest {
    pub const ALL: [SystemRest; 7] = [
        SystemRest::Break,
        SystemRest::Lunch,
        SystemRest::Restroom,
        SystemRest::Training,
        SystemRest::Meeting,
        SystemRest::Backoffice,
        SystemRest::NoAnswer,
    ];

    pub fn id(self) -> u32 {
        match self {
            SystemRest::Break => 1,
            SystemRest::Lunch => 2,
            SystemRest::Restroom => 3,
            SystemRest::Training => 4,
            SystemRest::Meeting => 5,
            SystemRest::Backoffice => 6,
            SystemRest::NoAnswer => 7,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            SystemRest::Break => "Break",
            SystemRest::Lunch => "Lunch",
            SystemRest::Restroom => "Restroom",
            SystemRest::Training => "Training",
            SystemRest::Meeting => "Meeting",
            SystemRest::Backoffice => "Backoffice",
            SystemRest::NoAnswer => "No answer",
        }
    }
}

/// The reason given to Pause: a system rest state or a configured custom one (by id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "camelCase")]
pub enum PauseReason {
    System(SystemRest),
    Custom(u32),
}

/// A rest state as shown to the agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RestState {
    pub reason: PauseReason,
    pub name: String,
}

/// Where a call is transferred to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "to", rename_all = "camelCase")]
pub enum TransferTarget {
    External(String),
    User(AgentId),
    Queue(String),
    Campaign(CampaignId),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum TransferMode {
    /// The agent hands the call over and leaves.
    Direct,
    /// The customer waits while the agent talks to the target; CompleteTransfer hands over,
    /// CancelTransfer ("fin de transferencia") returns to the customer.
    Attended,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TransferRequest {
    pub target: TransferTarget,
    pub mode: TransferMode,
}

/// Someone invited to a conference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "who", rename_all = "camelCase")]
pub enum Participant {
    External(String),
    User(AgentId),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum MonitorMode {
    /// Hear the call; nobody hears the supervisor.
    Listen,
    /// Whisper: the agent hears the supervisor, the customer does not.
    Assist,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MonitorRequest {
    pub target: AgentId,
    pub mode: MonitorMode,
}

/// The softphone login: DISPOSITIVO, USUARIO, PASSWORD.
#[derive(Debug, Clone, Deserialize)]
pub struct LoginRequest {
    pub device: String,
    pub user: AgentId,
    pub password: SecretString,
    /// The role the client needs (the supervisors' dashboard: `supervisor`): a user of another
    /// role is refused once the password is checked, before anything changes (the user's
    /// sessions and telephony login stay as they were).
    #[serde(default)]
    pub role: Option<Role>,
}

impl LoginRequest {
    pub fn new(device: &str, user: &str, password: &str) -> Self {
        LoginRequest {
            device: device.to_owned(),
            user: AgentId::from(user),
            password: SecretString::from(password.to_owned()),
            role: None,
        }
    }
}

/// A record taken from Salesforce for click-to-dial (needs IdCrm and crmData on the record).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClickToDial {
    pub crm_id: i64,
    pub crm_key: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DialRequest {
    /// The number to dial; absent = the contact on screen (preview dialer).
    pub phone: Option<String>,
    /// Click-to-dial from a Salesforce record: the contact is looked up by its key.
    pub click_to_dial: Option<ClickToDial>,
    /// Calling back a missed call (`POST /api/missed/{id}/callback`): when this call connects
    /// the missed call is closed. Set by that endpoint after its checks, never read from a
    /// client's Dial.
    #[serde(skip)]
    pub missed_call_id: Option<u64>,
}

impl DialRequest {
    pub fn number(phone: &str) -> Self {
        DialRequest {
            phone: Some(phone.to_owned()),
            click_to_dial: None,
            missed_call_id: None,
        }
    }
}

/// A categorization: category and subcategory ids of the contact's campaign.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Disposition {
    pub category: i64,
    pub subcategory: i64,
    #[serde(default)]
    pub comment: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleCallbackRequest {
    pub at: DateTime<Utc>,
    /// The number to call back; absent = the contact's number.
    #[serde(default)]
    pub phone: Option<String>,
}

/// A scheduled callback.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Callback {
    pub id: CallbackId,
    pub at: DateTime<Utc>,
    pub campaign: CampaignId,
    pub phone: String,
    pub contact_id: Option<i64>,
    pub scheduled_by: AgentId,
}

/// The generic task hooks of NeoApi (ExecuteTask01/02/03/05).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Task {
    ExecuteTask01,
    ExecuteTask02,
    ExecuteTask03,
    ExecuteTask05,
}

/// Parameters of a task execution, recorded in the event as given.
pub type TaskParams = BTreeMap<String, String>;

/// Where a call is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum CallState {
    /// The customer's phone rings (outbound).
    Dialing,
    /// Waiting in a queue for an agent.
    Queued,
    /// Offered to an agent whose device rings.
    Ringing,
    Connected,
    Ended,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Direction {
    Inbound,
    Outbound,
}

/// A call as agents see it: the Neotel data plus where it stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallView {
    #[serde(flatten)]
    pub data: NeotelData,
    /// CLAVESF (`idContacto-Data`) when the contact lookup ran.
    pub clavesf: Option<String>,
    pub state: CallState,
    pub direction: Direction,
    /// The agent the call belongs to.
    pub agent: Option<AgentId>,
    pub transfer: Option<TransferView>,
    /// Present while the call is a conference: who was invited.
    pub conference: Option<Vec<Participant>>,
    /// The caller's Salesforce record and its owner, when owner routing found them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<OwnerMatch>,
    /// A call back of this missed call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub missed_call_id: Option<u64>,
}

/// An inbound caller's Salesforce record and who owns it (owner routing).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OwnerMatch {
    /// Contact, Lead, Account, … (the first match in searchTypePriority order).
    pub record_type: String,
    pub record_id: String,
    /// The record's `OwnerId` (a Salesforce user id), when it has one.
    pub owner_id: Option<String>,
    /// The agent whose `salesforce_user_id` is `owner_id`, when there is one.
    pub agent: Option<AgentId>,
    /// The record's `Name`, when it has one (what the missed-call list shows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TransferView {
    pub target: TransferTarget,
    pub mode: TransferMode,
    /// Attended: whether the target has answered the consultation.
    pub answered: bool,
}

/// The contact on the agent's screen (it outlives the call until released).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContactView {
    #[serde(flatten)]
    pub data: NeotelData,
    pub clavesf: Option<String>,
    pub disposition: Option<Disposition>,
    /// A callback was scheduled: no CRM_Available needed after the call.
    pub scheduled: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CampaignRef {
    pub id: CampaignId,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MonitorView {
    pub target: AgentId,
    pub mode: MonitorMode,
}

/// Position: the agent's whole situation. Returned by the Position method and pushed on every
/// change (and on websocket reconnect).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Position {
    pub user: AgentId,
    pub device: Option<String>,
    pub role: Role,
    pub state: AgentState,
    pub crm: CrmState,
    pub pause: Option<RestState>,
    pub campaign: Option<CampaignRef>,
    pub call: Option<CallView>,
    pub contact: Option<ContactView>,
    pub monitoring: Option<MonitorView>,
    /// The Salesforce user the telephony user is bound to, when configured.
    pub salesforce_user_id: Option<String>,
}

/// A campaign as the softphone lists it (campaign login, transfer phones, categorization).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CampaignInfo {
    pub id: CampaignId,
    pub name: String,
    pub kind: crate::telephony::config::CampaignKind,
    pub dialer: Option<DialerKind>,
    pub queue: String,
    pub transfer_phones: Vec<String>,
    pub categories: Vec<crate::telephony::config::CategoryConfig>,
    pub auto_release_secs: Option<u64>,
}

/// A platform user as the softphone lists it (transfer, conference and monitoring targets).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserInfo {
    pub user: AgentId,
    pub role: Role,
    pub state: AgentState,
}

/// The lists behind the softphone's screens: campaigns, rest states and users.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Directory {
    pub campaigns: Vec<CampaignInfo>,
    /// The rest states an agent may pick: the system ones, then the custom ones.
    pub rest_states: Vec<RestState>,
    pub users: Vec<UserInfo>,
}
