//! Conferences: JoinConference turns the agent's call into a conference; InviteParticipant adds
//! external numbers (connected at once: the embedded engine has no trunk) and platform users
//! (free ones: they join on invitation); KickAll removes every guest; EndConference also
//! closes the conference, back to a two-party call.

use super::state::{Inner, Link, Resume};
use crate::telephony::api::Method;
use crate::telephony::error::{Result, TelephonyError};
use crate::telephony::events::{EndReason, Event};
use crate::telephony::switch::SwitchCommand;
use crate::telephony::types::{AgentId, AgentState, CallId, CallState, Participant};

use super::call::validate_number;

impl Inner {
    /// The agent's connected call, as owner.
    fn connected_call(&self, user: &AgentId, action: Method) -> Result<CallId> {
        self.session(user)?;
        let id = self.own_call(user, None)?;
        self.require(user, action, &[AgentState::InCall])?;
        if self
            .calls
            .get(&id)
            .is_none_or(|c| c.state != CallState::Connected)
        {
            return Err(TelephonyError::NoActiveCall);
        }
        Ok(id)
    }

    pub fn join_conference(&mut self, user: &AgentId) -> Result<()> {
        let id = self.connected_call(user, Method::JoinConference)?;
        let call = self.calls.get_mut(&id).ok_or(TelephonyError::NoActiveCall)?;
        if call.transfer.is_some() {
            return Err(TelephonyError::TransferInProgress);
        }
        if call.conference.is_some() {
            return Err(TelephonyError::InConference);
        }
        call.conference = Some(Vec::new());
        self.command(SwitchCommand::ConferenceStart { call: id });
        self.emit(Some(user), Event::ConferenceStarted { call_id: id });
        self.emit_position(user);
        Ok(())
    }

    pub fn invite_participant(&mut self, user: &AgentId, participant: Participant) -> Result<()> {
        let id = self.connected_call(user, Method::InviteParticipant)?;
        if self.calls.get(&id).is_none_or(|c| c.conference.is_none()) {
            return Err(TelephonyError::NotInConference);
        }
        let participant = match participant {
            Participant::External(number) => Participant::External(validate_number(&number)?),
            Participant::User(guest) => {
                if guest == *user {
                    return Err(TelephonyError::SelfTarget(Method::InviteParticipant));
                }
                let agent = self
                    .agents
                    .get(&guest)
                    .ok_or_else(|| TelephonyError::UnknownUser(guest.clone()))?;
                let Some(session) = agent.session.as_ref().filter(|s| {
                    matches!(
                        s.state,
                        AgentState::Available | AgentState::LoggedIn | AgentState::Paused
                    ) && s.call.is_none()
                        && s.contact.is_none()
                }) else {
                    return Err(TelephonyError::UserNotAvailable(guest));
                };
                let resume = Resume {
                    state: session.state,
                    pause: session.pause,
                };
                let view = self.calls.get(&id).map(|c| c.view());
                let session = self.session_mut(&guest)?;
                session.resume = Some(resume);
                session.state = AgentState::InCall;
                session.pause = None;
                session.call = Some((id, Link::Guest));
                if let Some(call) = view {
                    self.emit(Some(&guest), Event::CallConnected { call });
                }
                Participant::User(guest)
            }
        };
        if let Some(conference) = self.calls.get_mut(&id).and_then(|c| c.conference.as_mut()) {
            conference.push(participant.clone());
        }
        self.command(SwitchCommand::ConferenceInvite {
            call: id,
            participant: participant.clone(),
        });
        for agent in self.call_agents(id) {
            self.emit(
                Some(&agent),
                Event::ParticipantJoined {
                    call_id: id,
                    participant: participant.clone(),
                },
            );
            self.emit_position(&agent);
        }
        Ok(())
    }

    pub fn kick_all(&mut self, user: &AgentId) -> Result<()> {
        let id = self.connected_call(user, Method::KickAll)?;
        if self.calls.get(&id).is_none_or(|c| c.conference.is_none()) {
            return Err(TelephonyError::NotInConference);
        }
        self.command(SwitchCommand::ConferenceKick { call: id });
        self.kick(user, id);
        self.emit_position(user);
        Ok(())
    }

    pub fn end_conference(&mut self, user: &AgentId) -> Result<()> {
        let id = self.connected_call(user, Method::EndConference)?;
        if self.calls.get(&id).is_none_or(|c| c.conference.is_none()) {
            return Err(TelephonyError::NotInConference);
        }
        self.command(SwitchCommand::ConferenceEnd { call: id });
        self.kick(user, id);
        if let Some(call) = self.calls.get_mut(&id) {
            call.conference = None;
        }
        self.emit(Some(user), Event::ConferenceEnded { call_id: id });
        self.emit_position(user);
        Ok(())
    }

    fn kick(&mut self, user: &AgentId, id: CallId) {
        let participants = self
            .calls
            .get_mut(&id)
            .and_then(|c| c.conference.as_mut())
            .map(std::mem::take)
            .unwrap_or_default();
        for participant in &participants {
            if let Participant::User(guest) = participant {
                self.detach(guest, id, EndReason::AgentHangup);
            }
        }
        self.emit(
            Some(user),
            Event::ParticipantsKicked {
                call_id: id,
                participants,
            },
        );
    }
}
