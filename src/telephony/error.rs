//! Typed refusals of the telephony API. A refused method leaves the state unchanged.
//!
//! [`TelephonyError::status`] gives the HTTP status class the RPC proxy maps each one to.

use super::api::Method;
use super::types::{AgentId, AgentState, CampaignId};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TelephonyError {
    #[error("unknown user `{0}`")]
    UnknownAgent(AgentId),
    #[error("wrong password for user `{0}`")]
    WrongPassword(AgentId),
    #[error("user `{0}` is already logged in")]
    AlreadyLoggedIn(AgentId),
    #[error("device `{device}` is in use by `{user}`")]
    DeviceInUse { device: String, user: AgentId },
    #[error("device `{device}` cannot take calls: {reason}")]
    DeviceRefused { device: String, reason: String },
    #[error("the campaign's queue `{queue}` cannot take agents: {reason}")]
    QueueRefused { queue: String, reason: String },
    #[error("the device must not be empty")]
    EmptyDevice,
    #[error("user `{0}` is not logged in")]
    NotLoggedIn(AgentId),
    #[error("no active call")]
    NoActiveCall,
    #[error("no contact on screen")]
    NoContactOnScreen,
    #[error("cannot {action} while {from}")]
    InvalidTransition { from: AgentState, action: Method },
    #[error("unknown campaign {0}")]
    UnknownCampaign(CampaignId),
    #[error("campaign {0} is not an outbound campaign")]
    NotOutbound(CampaignId),
    #[error("the switch named call {0}, which the core does not know")]
    UnknownCall(u64),
    #[error("the switch named device `{0}`, where no agent is logged in")]
    UnknownDevice(String),
    #[error("unknown queue `{0}`")]
    UnknownQueue(String),
    #[error("unknown user `{0}`")]
    UnknownUser(AgentId),
    #[error("user `{0}` is not available")]
    UserNotAvailable(AgentId),
    #[error("unknown rest state {0}")]
    UnknownRestState(u32),
    #[error("unknown disposition: category {category}, subcategory {subcategory}")]
    UnknownDisposition { category: i64, subcategory: i64 },
    #[error("disposition {0} schedules a callback: use ScheduleCallback with a time")]
    DispositionNeedsCallback(i64),
    #[error("call {0} is not yours")]
    NotYourCall(u64),
    #[error("this needs the supervisor role")]
    Forbidden,
    #[error("user `{user}` does not have the {required:?} role this login asks for")]
    WrongRole {
        user: AgentId,
        required: super::types::Role,
    },
    #[error("the number to dial or transfer to is empty")]
    EmptyNumber,
    #[error("invalid phone number `{0}`: use digits, optionally with a leading +")]
    InvalidNumber(String),
    #[error("invalid DTMF `{0}`: only 0-9, *, #, A, B, C and D")]
    InvalidDtmf(String),
    #[error("a callback must be in the future (asked for {at}, now {now})")]
    CallbackInPast { at: String, now: String },
    #[error("no transfer in progress")]
    NoTransfer,
    #[error("a transfer is already in progress")]
    TransferInProgress,
    #[error("the transfer target has not answered yet")]
    TransferNotAnswered,
    #[error("an attended transfer goes to a number or a user; queues and campaigns take direct transfers")]
    AttendedNotSupported,
    #[error("the call is not a conference")]
    NotInConference,
    #[error("the call is a conference; end it first")]
    InConference,
    #[error("not monitoring anyone")]
    NotMonitoring,
    #[error("cannot {0} yourself")]
    SelfTarget(Method),
    #[error("campaign {0} has no callback campaign to dial its callbacks")]
    NoCallbackCampaign(CampaignId),
    #[error("no campaign: log in to a campaign to schedule callbacks or click-to-dial a record")]
    NoCampaign,
    #[error("contact lookup failed: {0}")]
    Contacts(String),
    #[error("telephony configuration: {0}")]
    Config(String),
    #[error("internal telephony error: {0}")]
    Internal(String),
    #[error("the telephony platform is unavailable: {0}")]
    SwitchDown(String),
    /// The change was made but its commit failed: it stays queued and is saved once the
    /// database answers again; the method is not acknowledged.
    #[error("the database did not save the change yet ({0}); it is kept and retried")]
    NotSaved(String),
    /// Too many password checks at once (see [`crate::password`]): retry in a moment.
    #[error("too many logins at once; retry in a moment")]
    Busy,
}

/// The HTTP status class of a refusal, for the RPC proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    Unauthorized,
    Forbidden,
    NotFound,
    Conflict,
    Unprocessable,
    Internal,
}

impl TelephonyError {
    pub fn class(&self) -> ErrorClass {
        use TelephonyError::*;
        match self {
            UnknownAgent(_) | WrongPassword(_) | NotLoggedIn(_) => ErrorClass::Unauthorized,
            Forbidden | WrongRole { .. } | NotYourCall(_) => ErrorClass::Forbidden,
            UnknownCampaign(_)
            | UnknownCall(_)
            | UnknownDevice(_)
            | UnknownQueue(_)
            | UnknownUser(_)
            | UnknownRestState(_)
            | UnknownDisposition { .. } => ErrorClass::NotFound,
            AlreadyLoggedIn(_)
            | DeviceInUse { .. }
            | NoActiveCall
            | NoContactOnScreen
            | InvalidTransition { .. }
            | UserNotAvailable(_)
            | NoTransfer
            | TransferInProgress
            | TransferNotAnswered
            | NotInConference
            | InConference
            | NotMonitoring => ErrorClass::Conflict,
            EmptyDevice
            | DeviceRefused { .. }
            | QueueRefused { .. }
            | NotOutbound(_)
            | DispositionNeedsCallback(_)
            | EmptyNumber
            | InvalidNumber(_)
            | InvalidDtmf(_)
            | CallbackInPast { .. }
            | AttendedNotSupported
            | SelfTarget(_)
            | NoCallbackCampaign(_)
            | NoCampaign => ErrorClass::Unprocessable,
            Contacts(_) | Config(_) | Internal(_) | NotSaved(_) | SwitchDown(_) | Busy => {
                ErrorClass::Internal
            }
        }
    }
}

pub type Result<T, E = TelephonyError> = std::result::Result<T, E>;
