//! The [`Telephony`] trait: the NeoApi method set plus what the softphone needs (DTMF,
//! transfers, monitor, callbacks), implemented by every driver. The HTTP layer holds it as
//! `Arc<dyn Telephony>`.
//!
//! Every method but Login takes the acting agent (the authenticated user of the request); a
//! method acts on that agent's own call and contact, never on someone else's.

use std::fmt;

use async_trait::async_trait;
use tokio::sync::broadcast;

use super::error::Result;
use super::events::EventEnvelope;
use super::types::{
    AgentId, CallId, Callback, CampaignId, DialRequest, Directory, Disposition, LoginRequest, MonitorRequest,
    Participant, PauseReason, Position, ScheduleCallbackRequest, Task, TaskParams, TransferRequest,
};

/// The methods by their NeoApi names (`as_str`), for the RPC proxy and error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Method {
    Login,
    Logout,
    #[serde(rename = "Login_Campaign")]
    LoginCampaign,
    #[serde(rename = "Logout_Campaign")]
    LogoutCampaign,
    Pause,
    Unpause,
    Dial,
    Hangup,
    Position,
    UpdateContact,
    #[serde(rename = "CRM_Unavailable")]
    CrmUnavailable,
    #[serde(rename = "CRM_Available")]
    CrmAvailable,
    #[serde(rename = "CRM_ShowingContact")]
    CrmShowingContact,
    JoinConference,
    InviteParticipant,
    KickAll,
    EndConference,
    ExecuteTask01,
    ExecuteTask02,
    ExecuteTask03,
    ExecuteTask05,
    SendDtmf,
    Transfer,
    CompleteTransfer,
    CancelTransfer,
    Monitor,
    EndMonitor,
    ScheduleCallback,
    Directory,
}

impl Method {
    pub const ALL: [Method; 29] = [
        Method::Login,
        Method::Logout,
        Method::LoginCampaign,
        Method::LogoutCampaign,
        Method::Pause,
        Method::Unpause,
        Method::Dial,
        Method::Hangup,
        Method::Position,
        Method::UpdateContact,
        Method::CrmUnavailable,
        Method::CrmAvailable,
        Method::CrmShowingContact,
        Method::JoinConference,
        Method::InviteParticipant,
        Method::KickAll,
        Method::EndConference,
        Method::ExecuteTask01,
        Method::ExecuteTask02,
        Method::ExecuteTask03,
        Method::ExecuteTask05,
        Method::SendDtmf,
        Method::Transfer,
        Method::CompleteTransfer,
        Method::CancelTransfer,
        Method::Monitor,
        Method::EndMonitor,
        Method::ScheduleCallback,
        Method::Directory,
    ];

    /// The NeoApi name (`Login_Campaign`, `CRM_ShowingContact`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Login => "Login",
            Method::Logout => "Logout",
            Method::LoginCampaign => "Login_Campaign",
            Method::LogoutCampaign => "Logout_Campaign",
            Method::Pause => "Pause",
            Method::Unpause => "Unpause",
            Method::Dial => "Dial",
            Method::Hangup => "Hangup",
            Method::Position => "Position",
            Method::UpdateContact => "UpdateContact",
            Method::CrmUnavailable => "CRM_Unavailable",
            Method::CrmAvailable => "CRM_Available",
            Method::CrmShowingContact => "CRM_ShowingContact",
            Method::JoinConference => "JoinConference",
            Method::InviteParticipant => "InviteParticipant",
            Method::KickAll => "KickAll",
            Method::EndConference => "EndConference",
            Method::ExecuteTask01 => "ExecuteTask01",
            Method::ExecuteTask02 => "ExecuteTask02",
            Method::ExecuteTask03 => "ExecuteTask03",
            Method::ExecuteTask05 => "ExecuteTask05",
            Method::SendDtmf => "SendDtmf",
            Method::Transfer => "Transfer",
            Method::CompleteTransfer => "CompleteTransfer",
            Method::CancelTransfer => "CancelTransfer",
            Method::Monitor => "Monitor",
            Method::EndMonitor => "EndMonitor",
            Method::ScheduleCallback => "ScheduleCallback",
            Method::Directory => "Directory",
        }
    }

    /// Parses a NeoApi method name.
    pub fn parse(name: &str) -> Option<Method> {
        Method::ALL.into_iter().find(|m| m.as_str() == name)
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<Task> for Method {
    fn from(task: Task) -> Method {
        match task {
            Task::ExecuteTask01 => Method::ExecuteTask01,
            Task::ExecuteTask02 => Method::ExecuteTask02,
            Task::ExecuteTask03 => Method::ExecuteTask03,
            Task::ExecuteTask05 => Method::ExecuteTask05,
        }
    }
}

/// The NeoApi method set. Refusals are typed ([`super::TelephonyError`]) and leave the state
/// unchanged; every change is published on [`Telephony::subscribe`].
#[async_trait]
pub trait Telephony: Send + Sync + 'static {
    /// The event stream of every agent (filter by `EventEnvelope::agent`).
    fn subscribe(&self) -> broadcast::Receiver<EventEnvelope>;

    /// Returns once every change made so far is saved (state, call log, outbox). Methods do
    /// this before they answer; readers of the call log call it first, since the events they
    /// react to are pushed before the commit.
    async fn flush(&self) -> Result<()> {
        Ok(())
    }

    /// A call enters the platform (a PBX's dialplan asking before it queues the call): the
    /// contact lookup / insert, a call id minted once, the call queued.
    async fn intake(
        &self,
        call: crate::telephony::engine::InboundCall,
    ) -> Result<crate::telephony::engine::Arrived>;

    /// Login: DEVICE / USER / PASSWORD.
    async fn login(&self, request: LoginRequest) -> Result<Position>;
    /// Logout (leaves the campaign first).
    async fn logout(&self, agent: &AgentId) -> Result<()>;
    /// Login_Campaign: join a campaign and become available.
    async fn login_campaign(&self, agent: &AgentId, campaign: CampaignId) -> Result<()>;
    /// Logout_Campaign.
    async fn logout_campaign(&self, agent: &AgentId) -> Result<()>;
    /// Pause with a system or custom rest state (or switch rest state while paused).
    async fn pause(&self, agent: &AgentId, reason: PauseReason) -> Result<()>;
    /// Unpause.
    async fn unpause(&self, agent: &AgentId) -> Result<()>;
    /// Dial: manual dial, click-to-dial, or the previewed contact.
    async fn dial(&self, agent: &AgentId, request: DialRequest) -> Result<CallId>;
    /// Hangup: ends the call; during an attended transfer, ends the consultation only; a
    /// conference guest leaves the conference. `call`, when given, must be the agent's.
    async fn hangup(&self, agent: &AgentId, call: Option<CallId>) -> Result<()>;
    /// Position: the agent's snapshot.
    async fn position(&self, agent: &AgentId) -> Result<Position>;
    /// UpdateContact: categorize the contact on screen.
    async fn update_contact(&self, agent: &AgentId, disposition: Disposition) -> Result<()>;
    /// CRM_Unavailable: the CRM cannot take contacts; no calls are offered.
    async fn crm_unavailable(&self, agent: &AgentId) -> Result<()>;
    /// CRM_Available: release the contact (Play) or come back from CRM_Unavailable.
    async fn crm_available(&self, agent: &AgentId) -> Result<()>;
    /// CRM_ShowingContact: the CRM shows the contact of GetContact.
    async fn crm_showing_contact(&self, agent: &AgentId) -> Result<()>;
    /// JoinConference: make the current call a conference.
    async fn join_conference(&self, agent: &AgentId) -> Result<()>;
    /// InviteParticipant: an external number or a platform user.
    async fn invite_participant(&self, agent: &AgentId, participant: Participant) -> Result<()>;
    /// KickAll: remove every invited participant (the conference stays open).
    async fn kick_all(&self, agent: &AgentId) -> Result<()>;
    /// End the conference: remove the participants, back to a two-party call.
    async fn end_conference(&self, agent: &AgentId) -> Result<()>;
    /// ExecuteTask01/02/03/05: run a task hook on the current call or contact.
    async fn execute_task(&self, agent: &AgentId, task: Task, params: TaskParams) -> Result<()>;
    /// Send DTMF digits on the current call.
    async fn send_dtmf(&self, agent: &AgentId, call: Option<CallId>, digits: &str) -> Result<()>;
    /// Transfer the current call.
    async fn transfer(&self, agent: &AgentId, call: Option<CallId>, request: TransferRequest) -> Result<()>;
    /// Complete an attended transfer: hand the customer to the target.
    async fn complete_transfer(&self, agent: &AgentId) -> Result<()>;
    /// Fin de transferencia: drop the consultation, back to the customer.
    async fn cancel_transfer(&self, agent: &AgentId) -> Result<()>;
    /// Monitor an agent (supervisors only).
    async fn monitor(&self, agent: &AgentId, request: MonitorRequest) -> Result<()>;
    /// End monitoring.
    async fn end_monitor(&self, agent: &AgentId) -> Result<()>;
    /// Schedule a callback for the contact on screen: categorizes it as schedule and releases
    /// it when the call is over (no CRM_Available needed).
    async fn schedule_callback(&self, agent: &AgentId, request: ScheduleCallbackRequest) -> Result<Callback>;
    /// The softphone's lists: campaigns (transfer phones, dispositions), rest states, users.
    async fn directory(&self, agent: &AgentId) -> Result<Directory>;
}
