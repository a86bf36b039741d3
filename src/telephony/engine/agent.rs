//! Agent sessions: login, campaigns, rest states, the CRM state and the release of the contact.

use tokio::time::Instant;

use super::state::{Inner, Resume, Session};
use crate::telephony::api::Method;
use crate::telephony::error::{Result, TelephonyError};
use crate::telephony::events::Event;
use crate::telephony::switch::SwitchCommand;
use crate::telephony::types::{
    AgentId, AgentState, CampaignId, CrmState, Disposition, PauseReason, Position, Task, TaskParams,
};

use AgentState::*;

impl Inner {
    /// Opens the session once the password has been verified.
    pub fn login(&mut self, user: &AgentId, device: &str) -> Result<Position> {
        let agent = self.agent(user)?;
        if agent.session.is_some() {
            return Err(TelephonyError::AlreadyLoggedIn(user.clone()));
        }
        if let Some((other, _)) = self
            .agents
            .iter()
            .find(|(_, a)| a.session.as_ref().is_some_and(|s| s.device == device))
        {
            return Err(TelephonyError::DeviceInUse {
                device: device.to_owned(),
                user: other.clone(),
            });
        }
        if let Some(agent) = self.agents.get_mut(user) {
            agent.session = Some(Session {
                device: device.to_owned(),
                state: LoggedIn,
                pause: None,
                crm: CrmState::Available,
                campaign: None,
                available_since: Instant::now(),
                call: None,
                contact: None,
                monitoring: None,
                resume: None,
                offer: 0,
            });
        }
        self.emit_position(user);
        self.position(user)
    }

    pub fn logout(&mut self, user: &AgentId) -> Result<()> {
        self.require(user, Method::Logout, &[LoggedIn, Available, Paused])?;
        if let Some(device) = self.device_of(user) {
            self.command(SwitchCommand::AgentPresence {
                agent: user.clone(),
                device,
                queue: None,
                paused: None,
            });
        }
        if let Some(agent) = self.agents.get_mut(user) {
            agent.session = None;
        }
        self.end_monitors_of(user);
        self.emit_position(user);
        Ok(())
    }

    pub fn login_campaign(&mut self, user: &AgentId, campaign: CampaignId) -> Result<()> {
        let session = self.require(user, Method::LoginCampaign, &[LoggedIn, Paused])?;
        if session.campaign.is_some() {
            return Err(TelephonyError::InvalidTransition {
                from: session.state,
                action: Method::LoginCampaign,
            });
        }
        self.campaign(campaign)?;
        let session = self.session_mut(user)?;
        session.campaign = Some(campaign);
        if session.state == LoggedIn {
            session.state = Available;
            session.available_since = Instant::now();
        }
        self.emit_position(user);
        self.presence_changed(user);
        self.run();
        Ok(())
    }

    pub fn logout_campaign(&mut self, user: &AgentId) -> Result<()> {
        let session = self.require(user, Method::LogoutCampaign, &[Available, Paused, Previewing])?;
        if session.campaign.is_none() {
            return Err(TelephonyError::InvalidTransition {
                from: session.state,
                action: Method::LogoutCampaign,
            });
        }
        self.return_preview(user);
        let session = self.session_mut(user)?;
        session.campaign = None;
        if session.state == Available {
            session.state = LoggedIn;
        }
        self.emit_position(user);
        self.presence_changed(user);
        self.run();
        Ok(())
    }

    pub fn pause(&mut self, user: &AgentId, reason: PauseReason) -> Result<()> {
        self.require(user, Method::Pause, &[LoggedIn, Available, Paused, Previewing])?;
        if let PauseReason::Custom(id) = reason
            && !self.rest_states.contains_key(&id)
        {
            return Err(TelephonyError::UnknownRestState(id));
        }
        self.return_preview(user);
        let session = self.session_mut(user)?;
        session.state = Paused;
        session.pause = Some(reason);
        self.emit_position(user);
        self.presence_changed(user);
        self.run();
        Ok(())
    }

    pub fn unpause(&mut self, user: &AgentId) -> Result<()> {
        self.require(user, Method::Unpause, &[Paused])?;
        let session = self.session_mut(user)?;
        session.state = session.idle_state();
        session.pause = None;
        session.available_since = Instant::now();
        self.emit_position(user);
        self.presence_changed(user);
        self.run();
        Ok(())
    }

    pub fn crm_unavailable(&mut self, user: &AgentId) -> Result<()> {
        let session = self.require(user, Method::CrmUnavailable, &[LoggedIn, Available, Paused])?;
        if session.crm == CrmState::Unavailable {
            return Ok(());
        }
        self.session_mut(user)?.crm = CrmState::Unavailable;
        self.emit_position(user);
        Ok(())
    }

    pub fn crm_available(&mut self, user: &AgentId) -> Result<()> {
        let session = self.session(user)?;
        if session.contact.is_some() {
            self.require(user, Method::CrmAvailable, &[WrapUp, Previewing])?;
            self.release(user, false);
            return Ok(());
        }
        if matches!(session.state, Ringing | InCall) {
            return Err(TelephonyError::InvalidTransition {
                from: session.state,
                action: Method::CrmAvailable,
            });
        }
        if session.crm == CrmState::Unavailable {
            let session = self.session_mut(user)?;
            session.crm = CrmState::Available;
            session.available_since = Instant::now();
            self.emit_position(user);
            self.run();
        }
        Ok(())
    }

    pub fn crm_showing_contact(&mut self, user: &AgentId) -> Result<()> {
        let session = self.session(user)?;
        if session.contact.is_none() {
            return Err(TelephonyError::NoContactOnScreen);
        }
        if session.crm == CrmState::GetContact {
            self.session_mut(user)?.crm = CrmState::ShowingContact;
            self.emit_position(user);
        }
        Ok(())
    }

    pub fn update_contact(&mut self, user: &AgentId, disposition: Disposition) -> Result<()> {
        let session = self.session(user)?;
        let contact = session
            .contact
            .as_ref()
            .ok_or(TelephonyError::NoContactOnScreen)?;
        let unknown = || TelephonyError::UnknownDisposition {
            category: disposition.category,
            subcategory: disposition.subcategory,
        };
        let campaign = contact
            .campaign
            .and_then(|id| self.campaigns.get(&id))
            .ok_or_else(unknown)?;
        let subcategory = campaign.subcategory(&disposition).ok_or_else(unknown)?;
        if subcategory.schedule {
            return Err(TelephonyError::DispositionNeedsCallback(subcategory.id));
        }
        let session = self.session_mut(user)?;
        let Some(contact) = session.contact.as_mut() else {
            return Err(TelephonyError::NoContactOnScreen);
        };
        contact.disposition = Some(disposition.clone());
        let (contact_id, call_id) = (contact.data.contact_id, contact.data.call_id);
        self.emit(
            Some(user),
            Event::ContactUpdated {
                contact_id,
                call_id: crate::telephony::types::CallId(call_id),
                disposition,
            },
        );
        self.emit_position(user);
        Ok(())
    }

    /// Releases the contact on screen: the agent is ready for the next one.
    pub fn release(&mut self, user: &AgentId, automatic: bool) {
        let Ok(session) = self.session_mut(user) else {
            return;
        };
        let Some(contact) = session.contact.take() else {
            return;
        };
        session.crm = CrmState::Available;
        match session.resume.take() {
            Some(Resume { state, pause }) => {
                session.state = state;
                session.pause = pause;
            }
            None => session.state = session.idle_state(),
        }
        session.available_since = Instant::now();
        self.emit(
            Some(user),
            Event::ContactReleased {
                call_id: crate::telephony::types::CallId(contact.data.call_id),
                contact_id: contact.data.contact_id,
                automatic,
            },
        );
        self.emit_position(user);
        self.run();
    }

    pub fn execute_task(&mut self, user: &AgentId, task: Task, params: TaskParams) -> Result<()> {
        let session = self.session(user)?;
        let (call_id, contact_id) = match (&session.call, &session.contact) {
            (Some((id, _)), contact) => (*id, contact.as_ref().and_then(|c| c.data.contact_id)),
            (None, Some(contact)) => (
                crate::telephony::types::CallId(contact.data.call_id),
                contact.data.contact_id,
            ),
            (None, None) => return Err(TelephonyError::NoActiveCall),
        };
        self.emit(
            Some(user),
            Event::TaskExecuted {
                task,
                call_id,
                contact_id,
                params,
            },
        );
        Ok(())
    }
}
