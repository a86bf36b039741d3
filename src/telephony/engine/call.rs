//! Calls: dialing, what the switch reports of the customer's side (answer, busy, no answer,
//! hang-up, digits), DTMF, hang-up by the agent, the end of a call and the wrap-up that follows.

use crate::contacts::ContactMatch;

use super::state::{Call, Contact, Inner, Link, Resume, Timer};
use crate::telephony::api::Method;
use crate::telephony::error::{Result, TelephonyError};
use crate::telephony::events::{EndReason, Event, NeotelData};
use crate::telephony::switch::SwitchCommand;
use crate::telephony::types::{
    AgentId, AgentState, CallId, CallState, CrmState, DialRequest, Direction, Participant, TransferMode,
};

use AgentState::*;

/// A number to dial or transfer to: digits with an optional leading `+`.
pub fn validate_number(raw: &str) -> Result<String> {
    let number = raw.trim();
    if number.is_empty() {
        return Err(TelephonyError::EmptyNumber);
    }
    let digits = number.strip_prefix('+').unwrap_or(number);
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
        return Err(TelephonyError::InvalidNumber(number.to_owned()));
    }
    Ok(number.to_owned())
}

/// DTMF digits: 0-9, *, #, A-D; at least one.
pub fn validate_dtmf(digits: &str) -> Result<()> {
    if digits.is_empty()
        || !digits
            .chars()
            .all(|c| matches!(c, '0'..='9' | '*' | '#' | 'A'..='D'))
    {
        return Err(TelephonyError::InvalidDtmf(digits.to_owned()));
    }
    Ok(())
}

/// Neotel data of a contact found or created by the contact lookup.
pub fn contact_data(data: &mut NeotelData, found: &ContactMatch) {
    data.contact_id = Some(found.contact_id);
    data.contact_base_id = Some(found.database_id);
    data.crm_id = Some(found.crm_id);
    data.crm_key = Some(found.crm_key.clone());
    if found.clavesf.should_search() {
        data.search_by = Some("crmKey".to_owned());
        data.search_data = Some(found.clavesf.data.clone());
    }
}

const DIAL_STATES: [AgentState; 5] = [LoggedIn, Available, Paused, Previewing, WrapUp];

impl Inner {
    /// Checks a Dial before the click-to-dial lookup runs; returns the contact database to
    /// look the record up in (0 when there is no campaign: only manual dial then).
    pub fn check_dial(&self, user: &AgentId, request: &DialRequest) -> Result<i64> {
        let session = self.require(user, Method::Dial, &DIAL_STATES)?;
        if request.click_to_dial.is_some() && session.contact.is_some() {
            return Err(TelephonyError::InvalidTransition {
                from: session.state,
                action: Method::Dial,
            });
        }
        if let Some(phone) = &request.phone {
            validate_number(phone)?;
        } else if session.contact.is_none() {
            return Err(TelephonyError::EmptyNumber);
        }
        let database = session
            .campaign
            .and_then(|id| self.campaigns.get(&id))
            .map(|c| c.database_id);
        match database {
            Some(database) => Ok(database),
            // Click-to-dial looks the record up in the campaign's contact database.
            None if request.click_to_dial.is_some() => Err(TelephonyError::NoCampaign),
            None => Ok(0),
        }
    }

    /// Dial: a manual or click-to-dial call, or the contact on screen (preview, re-dial).
    pub fn dial(
        &mut self,
        user: &AgentId,
        request: DialRequest,
        found: Option<ContactMatch>,
    ) -> Result<CallId> {
        self.check_dial(user, &request)?;
        let id = self.new_call_id()?;
        let session = self.session(user)?;
        let (phone, contact, campaign) = match &session.contact {
            Some(existing) => {
                let phone = match &request.phone {
                    Some(p) => validate_number(p)?,
                    None => existing.phone.clone(),
                };
                let mut contact = existing.clone();
                contact.data.call_id = id.0;
                contact.data.phone_number = Some(phone.clone());
                (phone, contact, existing.campaign)
            }
            None => {
                let phone = validate_number(request.phone.as_deref().unwrap_or_default())?;
                let campaign = session.campaign;
                let mut data = NeotelData {
                    call_id: id.0,
                    call_campaing: campaign.map(|c| c.0),
                    call_dialer: Some("manual".to_owned()),
                    call_reason: Some(if found.is_some() { "clickToDial" } else { "manual" }.to_owned()),
                    phone_number: Some(phone.clone()),
                    ..NeotelData::default()
                };
                match &found {
                    Some(found) => contact_data(&mut data, found),
                    None => {
                        data.search_by = Some("phoneNumber".to_owned());
                        data.search_data = Some(phone.clone());
                    }
                }
                self.agent_fields(user, &mut data);
                let contact = Contact {
                    data,
                    clavesf: found.as_ref().map(|f| f.clavesf.to_string()),
                    campaign,
                    phone: phone.clone(),
                    disposition: None,
                    scheduled: false,
                };
                (phone, contact, campaign)
            }
        };
        self.calls.insert(
            id,
            Call {
                direction: Direction::Outbound,
                campaign,
                phone: phone.clone(),
                data: contact.data.clone(),
                clavesf: contact.clavesf.clone(),
                state: CallState::Dialing,
                agent: Some(user.clone()),
                predictive: false,
                transfer: None,
                conference: None,
                reference: None,
                owner: None,
                progress: super::state::Progress {
                    missed_call_id: request.missed_call_id,
                    ..Default::default()
                },
            },
        );
        let session = self.session_mut(user)?;
        if session.state == Paused {
            session.resume = Some(Resume {
                state: Paused,
                pause: session.pause,
            });
        }
        if session.contact.is_none() {
            session.crm = CrmState::GetContact;
        }
        session.state = InCall;
        session.pause = None;
        session.call = Some((id, Link::Owner));
        session.contact = Some(contact);
        let device = session.device.clone();
        self.emit_position(user);
        self.command(SwitchCommand::Originate {
            call: id,
            agent: Some(user.clone()),
            device: Some(device),
            number: phone,
            queue: None,
        });
        Ok(id)
    }

    /// The customer picked up an outbound call.
    pub fn customer_answers(&mut self, id: CallId) -> Result<()> {
        let call = self.calls.get_mut(&id).ok_or(TelephonyError::NoActiveCall)?;
        if call.state != CallState::Dialing {
            return Err(TelephonyError::NoActiveCall);
        }
        if call.predictive {
            // Predictive: the customer is on the line first; now find an agent.
            self.enqueue(id, false);
            self.run();
            return Ok(());
        }
        call.state = CallState::Connected;
        let view = call.view();
        if let Some(agent) = call.agent.clone() {
            self.emit(Some(&agent), Event::CallConnected { call: view });
            self.emit_position(&agent);
        }
        Ok(())
    }

    /// Busy or no answer on an outbound call still ringing.
    pub fn customer_unreached(&mut self, id: CallId, reason: EndReason) {
        if self.calls.get(&id).is_some_and(|c| c.state == CallState::Dialing) {
            self.end_call(id, reason);
        }
    }

    /// The customer hung up, whatever the call's stage.
    pub fn customer_hangs_up(&mut self, id: CallId) -> Result<()> {
        let call = self.calls.get(&id).ok_or(TelephonyError::NoActiveCall)?;
        let reason = match call.state {
            CallState::Dialing => EndReason::NoAnswer,
            CallState::Queued | CallState::Ringing => EndReason::Abandoned,
            CallState::Connected | CallState::Ended => EndReason::CustomerHangup,
        };
        self.end_call(id, reason);
        Ok(())
    }

    pub fn customer_presses(&mut self, id: CallId, digits: &str) -> Result<()> {
        validate_dtmf(digits)?;
        let call = self.calls.get(&id).ok_or(TelephonyError::NoActiveCall)?;
        if call.state != CallState::Connected {
            return Err(TelephonyError::NoActiveCall);
        }
        for agent in self.call_agents(id) {
            self.emit(
                Some(&agent),
                Event::CustomerDtmf {
                    call_id: id,
                    digits: digits.to_owned(),
                },
            );
        }
        Ok(())
    }

    pub fn send_dtmf(&mut self, user: &AgentId, call: Option<CallId>, digits: &str) -> Result<()> {
        self.session(user)?;
        let id = self.own_call(user, call)?;
        validate_dtmf(digits)?;
        if self
            .calls
            .get(&id)
            .is_none_or(|c| c.state != CallState::Connected)
        {
            return Err(TelephonyError::NoActiveCall);
        }
        self.command(SwitchCommand::SendDtmf {
            call: id,
            digits: digits.to_owned(),
        });
        self.emit(
            Some(user),
            Event::DtmfSent {
                call_id: id,
                digits: digits.to_owned(),
            },
        );
        Ok(())
    }

    /// Hangup: ends the agent's call; during an attended transfer it ends the consultation
    /// only; a conference guest leaves the conference.
    pub fn hangup(&mut self, user: &AgentId, call: Option<CallId>) -> Result<()> {
        let session = self.session(user)?;
        match session.call {
            Some((id, link @ (Link::Guest | Link::ConsultTarget))) => {
                if call.is_some_and(|asked| asked != id) {
                    return Err(TelephonyError::NotYourCall(call.map_or(0, |c| c.0)));
                }
                if link == Link::Guest {
                    self.leave_conference(user, id);
                } else {
                    self.cancel_consultation(id);
                }
                Ok(())
            }
            _ => {
                let id = self.own_call(user, call)?;
                self.require(user, Method::Hangup, &[InCall])?;
                let attended = self
                    .calls
                    .get(&id)
                    .and_then(|c| c.transfer.as_ref())
                    .is_some_and(|t| t.mode == TransferMode::Attended);
                if attended {
                    self.cancel_consultation(id);
                } else {
                    self.command(SwitchCommand::Hangup { call: id });
                    self.end_call(id, EndReason::AgentHangup);
                }
                Ok(())
            }
        }
    }

    /// A conference guest leaves.
    pub fn leave_conference(&mut self, user: &AgentId, id: CallId) {
        if let Some(conference) = self.calls.get_mut(&id).and_then(|c| c.conference.as_mut()) {
            conference.retain(|p| *p != Participant::User(user.clone()));
        }
        self.detach(user, id, EndReason::AgentHangup);
        if let Some(owner) = self.calls.get(&id).and_then(|c| c.agent.clone()) {
            self.emit_position(&owner);
        }
    }

    /// An agent leaves a call that is not (or no longer) theirs: back to where they were.
    pub fn detach(&mut self, user: &AgentId, id: CallId, reason: EndReason) {
        let Ok(session) = self.session_mut(user) else {
            return;
        };
        if session.call.is_none_or(|(c, _)| c != id) {
            return;
        }
        session.call = None;
        match session.resume.take() {
            Some(Resume { state, pause }) => {
                session.state = state;
                session.pause = pause;
            }
            None => session.state = session.idle_state(),
        }
        self.emit(Some(user), Event::CallEnded { call_id: id, reason });
        self.emit_position(user);
    }

    /// The owner is done with the call (it ended, or went on elsewhere): wrap-up with the
    /// contact still on screen, still naming the call (its Task is the one to categorize).
    pub fn wrap_up(&mut self, user: &AgentId, id: CallId, reason: EndReason) {
        let call_data = self
            .calls
            .get(&id)
            .map(|c| (c.data.clone(), c.clavesf.clone(), c.campaign, c.phone.clone()));
        if self
            .session(user)
            .map_or(true, |s| s.call != Some((id, Link::Owner)))
        {
            return;
        }
        let Ok(session) = self.session_mut(user) else {
            return;
        };
        session.call = None;
        session.state = WrapUp;
        if session.contact.is_none()
            && let Some((data, clavesf, campaign, phone)) = call_data
        {
            session.contact = Some(Contact {
                data,
                clavesf,
                campaign,
                phone,
                disposition: None,
                scheduled: false,
            });
            session.crm = CrmState::GetContact;
        }
        let (scheduled, campaign) = match session.contact.as_mut() {
            Some(contact) => {
                contact.data.call_id = id.0;
                (contact.scheduled, contact.campaign)
            }
            None => (false, None),
        };
        self.emit(Some(user), Event::CallEnded { call_id: id, reason });
        self.emit_position(user);
        if scheduled {
            self.release(user, true);
        } else if let Some(after) = campaign
            .and_then(|c| self.campaigns.get(&c))
            .and_then(|c| c.auto_release)
        {
            self.schedule(
                after,
                Timer::AutoRelease {
                    agent: user.clone(),
                    call: id,
                },
            );
        }
    }

    /// The automatic release timer: releases when the agent still has that call's contact.
    pub fn auto_release(&mut self, user: &AgentId, id: CallId) {
        let due = self.session(user).is_ok_and(|s| {
            s.state == WrapUp
                && s.contact.as_ref().is_some_and(|c| c.data.call_id == id.0)
                && s.call.is_none()
        });
        if due {
            self.release(user, true);
        }
    }

    /// Ends a call for everyone on it.
    pub fn end_call(&mut self, id: CallId, reason: EndReason) {
        for queue in self.queues.values_mut() {
            queue.retain(|c| *c != id);
        }
        self.owner_offers.remove(&id);
        let agents = self.call_agents(id);
        for user in &agents {
            let link = self.session(user).ok().and_then(|s| s.call).map(|(_, l)| l);
            let state = self.session(user).map(|s| s.state).ok();
            match (link, state) {
                (Some(Link::Owner), Some(InCall)) => self.wrap_up(user, id, reason),
                _ => self.detach(user, id, reason),
            }
        }
        if let Some(mut call) = self.calls.remove(&id) {
            if let Some(reference) = call.reference.take() {
                self.references.remove(&reference);
            }
            call.state = CallState::Ended;
            if agents.is_empty() {
                match (call.predictive, call.campaign) {
                    (true, Some(campaign)) if matches!(reason, EndReason::Busy | EndReason::NoAnswer) => {
                        self.emit(
                            None,
                            Event::DialerAttempt {
                                campaign,
                                call_id: id,
                                phone: call.phone.clone(),
                                reason,
                            },
                        );
                    }
                    _ => self.emit(None, Event::CallEnded { call_id: id, reason }),
                }
            }
            self.report_missed(id, &call, reason);
        }
        self.run();
    }
}
