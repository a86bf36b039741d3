//! Transfers: to an external number, a user, a queue or a campaign; direct (the agent hands the
//! call over and leaves) or attended (the customer waits while the agent consults the target;
//! CompleteTransfer hands over, CancelTransfer — "fin de transferencia" — returns to the
//! customer).
//!
//! The embedded engine has no trunk: an external number answers a consultation at once.
//! Attended transfers go to numbers and users; queues and campaigns take direct transfers.

use super::state::{Inner, Link, Transfer};
use crate::telephony::api::Method;
use crate::telephony::error::{Result, TelephonyError};
use crate::telephony::events::{EndReason, Event};
use crate::telephony::switch::SwitchCommand;
use crate::telephony::types::{
    AgentId, AgentState, CallId, CallState, CampaignId, TransferMode, TransferRequest, TransferTarget,
};

use super::call::validate_number;

impl Inner {
    pub fn transfer(&mut self, user: &AgentId, call: Option<CallId>, request: TransferRequest) -> Result<()> {
        self.session(user)?;
        let id = self.own_call(user, call)?;
        self.require(user, Method::Transfer, &[AgentState::InCall])?;
        let current = self.calls.get(&id).ok_or(TelephonyError::NoActiveCall)?;
        if current.state != CallState::Connected {
            return Err(TelephonyError::NoActiveCall);
        }
        if current.transfer.is_some() {
            return Err(TelephonyError::TransferInProgress);
        }
        if current.conference.is_some() {
            return Err(TelephonyError::InConference);
        }
        // Validate the target.
        let target = match request.target {
            TransferTarget::External(number) => TransferTarget::External(validate_number(&number)?),
            TransferTarget::User(target) => {
                if target == *user {
                    return Err(TelephonyError::SelfTarget(Method::Transfer));
                }
                let agent = self
                    .agents
                    .get(&target)
                    .ok_or_else(|| TelephonyError::UnknownUser(target.clone()))?;
                let free = agent.session.as_ref().is_some_and(|s| {
                    matches!(s.state, AgentState::Available | AgentState::LoggedIn)
                        && s.call.is_none()
                        && s.contact.is_none()
                });
                if !free {
                    return Err(TelephonyError::UserNotAvailable(target));
                }
                TransferTarget::User(target)
            }
            TransferTarget::Queue(queue) => {
                if !self.campaigns.values().any(|c| c.queue == queue) {
                    return Err(TelephonyError::UnknownQueue(queue));
                }
                TransferTarget::Queue(queue)
            }
            TransferTarget::Campaign(campaign) => {
                self.campaign(campaign)?;
                TransferTarget::Campaign(campaign)
            }
        };
        if request.mode == TransferMode::Attended
            && matches!(target, TransferTarget::Queue(_) | TransferTarget::Campaign(_))
        {
            return Err(TelephonyError::AttendedNotSupported);
        }
        // A switch knows queues, not campaigns: a campaign is its queue.
        let switch_target = match &target {
            TransferTarget::Campaign(c) => self
                .campaigns
                .get(c)
                .map_or_else(|| target.clone(), |c| TransferTarget::Queue(c.queue.clone())),
            other => other.clone(),
        };
        let device = match &target {
            TransferTarget::User(target) => self.session(target).ok().map(|s| s.device.clone()),
            _ => None,
        };
        self.command(SwitchCommand::Transfer {
            call: id,
            target: switch_target,
            mode: request.mode,
            device,
        });
        self.emit(
            Some(user),
            Event::TransferStarted {
                call_id: id,
                target: target.clone(),
                mode: request.mode,
            },
        );
        match request.mode {
            TransferMode::Direct => self.hand_over(user, id, target),
            TransferMode::Attended => {
                let external = matches!(target, TransferTarget::External(_));
                if let Some(call) = self.calls.get_mut(&id) {
                    call.transfer = Some(Transfer {
                        target: target.clone(),
                        mode: TransferMode::Attended,
                        answered: external,
                    });
                }
                match target {
                    TransferTarget::User(target) => self.offer(id, &target, Link::ConsultTarget),
                    _ => self.emit(Some(user), Event::TransferAnswered { call_id: id }),
                }
                self.emit_position(user);
            }
        }
        Ok(())
    }

    pub fn complete_transfer(&mut self, user: &AgentId) -> Result<()> {
        self.session(user)?;
        let id = self.own_call(user, None)?;
        let transfer = self
            .calls
            .get(&id)
            .and_then(|c| c.transfer.clone())
            .ok_or(TelephonyError::NoTransfer)?;
        if !transfer.answered {
            return Err(TelephonyError::TransferNotAnswered);
        }
        self.command(SwitchCommand::CompleteTransfer { call: id });
        self.hand_over(user, id, transfer.target);
        Ok(())
    }

    pub fn cancel_transfer(&mut self, user: &AgentId) -> Result<()> {
        self.session(user)?;
        let id = self.own_call(user, None)?;
        if self.calls.get(&id).is_none_or(|c| c.transfer.is_none()) {
            return Err(TelephonyError::NoTransfer);
        }
        self.cancel_consultation(id);
        Ok(())
    }

    /// Ends an attended transfer's consultation: the target (if a user) goes back, the agent
    /// is with the customer again.
    pub fn cancel_consultation(&mut self, id: CallId) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let Some(transfer) = call.transfer.take() else {
            return;
        };
        let owner = call.agent.clone();
        self.command(SwitchCommand::CancelTransfer { call: id });
        if let TransferTarget::User(target) = &transfer.target {
            self.detach(target, id, EndReason::AgentHangup);
        }
        if let Some(owner) = owner {
            self.emit(Some(&owner), Event::TransferCancelled { call_id: id });
            self.emit_position(&owner);
        }
    }

    /// The agent leaves; the call goes on with the target.
    fn hand_over(&mut self, user: &AgentId, id: CallId, target: TransferTarget) {
        if let Some(call) = self.calls.get_mut(&id) {
            call.transfer = None;
        }
        self.emit(
            Some(user),
            Event::TransferCompleted {
                call_id: id,
                target: target.clone(),
            },
        );
        match target {
            TransferTarget::External(_) => {
                // The customer now talks to someone outside the platform.
                self.end_call(id, EndReason::Transferred);
            }
            TransferTarget::User(target) => {
                self.wrap_up(user, id, EndReason::Transferred);
                let consulted = self
                    .session(&target)
                    .is_ok_and(|s| s.call == Some((id, Link::ConsultTarget)));
                if let Some(call) = self.calls.get_mut(&id) {
                    call.data.call_reason = Some("transfer".to_owned());
                    call.agent = Some(target.clone());
                }
                if consulted {
                    // The target already talks to the agent: it takes the customer now.
                    if let Ok(session) = self.session_mut(&target) {
                        session.call = Some((id, Link::Owner));
                        session.state = AgentState::Ringing;
                    }
                    if let Err(e) = self.agent_answers(&target) {
                        tracing::warn!(%target, "transfer target could not take the call: {e}");
                    }
                } else {
                    self.offer(id, &target, Link::Owner);
                }
            }
            TransferTarget::Queue(queue) => {
                let campaign = self.campaigns.values().find(|c| c.queue == queue).map(|c| c.id);
                self.requeue_to(user, id, campaign);
            }
            TransferTarget::Campaign(campaign) => self.requeue_to(user, id, Some(campaign)),
        }
    }

    fn requeue_to(&mut self, user: &AgentId, id: CallId, campaign: Option<CampaignId>) {
        self.wrap_up(user, id, EndReason::Transferred);
        let queue = campaign
            .and_then(|c| self.campaigns.get(&c))
            .map(|c| c.queue.clone());
        if let Some(call) = self.calls.get_mut(&id) {
            call.campaign = campaign;
            call.data.call_campaing = campaign.map(|c| c.0);
            call.data.call_queue = queue;
            call.data.call_reason = Some("transfer".to_owned());
            call.data.user_out_campaign = None;
            call.data.campaign_crm_id = None;
            call.data.campaign_base_id = None;
        }
        self.enqueue(id, false);
        self.run();
    }
}
