//! ACD: calls wait in their campaign's queue and go, first come first served, to the agent of
//! the campaign who has been available the longest. An offered call rings on the agent's
//! device until the agent answers or the ring timeout sends it back to the head of the queue
//! and the agent to the "No answer" rest state. A switch with its own queues routes instead:
//! it says which device it offered a call to ([`Inner::offered_by_switch`]).

use std::time::Duration;

use super::state::{Contact, Inner, Link, Timer};
use crate::telephony::error::{Result, TelephonyError};
use crate::telephony::events::{EndReason, Event};
use crate::telephony::types::{
    AgentId, AgentState, CallId, CallState, CampaignId, CrmState, PauseReason, SystemRest,
};

impl Inner {
    /// Puts a call in its campaign's queue (at the head when it comes back from an agent).
    pub fn enqueue(&mut self, id: CallId, front: bool) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let Some(campaign) = call.campaign else {
            self.end_call(id, EndReason::NoAnswer);
            return;
        };
        // Back from an agent after its campaign's wait ran out: it leaves as missed.
        if front && call.progress.overdue {
            self.command(crate::telephony::switch::SwitchCommand::Hangup { call: id });
            self.end_call(id, EndReason::NoAnswer);
            return;
        }
        call.state = CallState::Queued;
        call.agent = None;
        let view = call.view();
        let queue = self.queues.entry(campaign).or_default();
        if front {
            queue.push_front(id);
        } else {
            queue.push_back(id);
        }
        self.emit(None, Event::CallQueued { call: view });
    }

    /// The agent of `campaign` ready the longest, if any.
    pub fn longest_available(&self, campaign: CampaignId) -> Option<AgentId> {
        self.agents
            .iter()
            .filter_map(|(user, a)| a.session.as_ref().map(|s| (user, s)))
            .filter(|(_, s)| s.ready_for(campaign))
            .min_by_key(|(_, s)| s.available_since)
            .map(|(user, _)| user.clone())
    }

    /// The switch offered call `id` to `device` (switches with their own queues).
    pub fn offered_by_switch(&mut self, id: CallId, device: &str) -> Result<()> {
        let user = self
            .agent_on(device)
            .ok_or_else(|| TelephonyError::UnknownDevice(device.to_owned()))?;
        let call = self.calls.get(&id).ok_or(TelephonyError::UnknownCall(id.0))?;
        // Only a call still looking for an agent can be offered; a device already busy with a
        // call or a contact cannot take one.
        if !matches!(call.state, CallState::Queued | CallState::Ringing) {
            return Err(TelephonyError::InvalidTransition {
                from: self.session(&user)?.state,
                action: crate::telephony::api::Method::Position,
            });
        }
        let previous = call.agent.clone().filter(|a| *a != user);
        let session = self.session(&user)?;
        if session.call.is_some() || session.contact.is_some() {
            return Err(TelephonyError::UserNotAvailable(user));
        }
        for queue in self.queues.values_mut() {
            queue.retain(|c| *c != id);
        }
        // Offered elsewhere now (a ring-all strategy, or it moved on): the earlier device stops.
        if let Some(previous) = previous
            && self
                .session(&previous)
                .is_ok_and(|s| s.call == Some((id, Link::Owner)))
        {
            self.release_ringing(&previous, id);
        }
        self.offer(id, &user, Link::Owner);
        Ok(())
    }

    /// The call rang out on `device`; the switch keeps it queued and routes it again. The agent
    /// is back to where it was (the platform decides whether to pause members that miss calls).
    pub fn rang_out_on_switch(&mut self, id: CallId, device: &str) -> Result<()> {
        let user = self
            .agent_on(device)
            .ok_or_else(|| TelephonyError::UnknownDevice(device.to_owned()))?;
        let session = self.session(&user)?;
        if session.call.is_none_or(|(c, _)| c != id) || session.state != AgentState::Ringing {
            return Err(TelephonyError::UnknownCall(id.0));
        }
        // The target of an attended transfer did not answer: the agent is back with the
        // customer.
        if session.call.is_some_and(|(_, link)| link == Link::ConsultTarget) {
            self.cancel_consultation(id);
            return Ok(());
        }
        self.release_ringing(&user, id);
        if let Some(call) = self.calls.get_mut(&id) {
            call.state = CallState::Queued;
            call.agent = None;
        }
        Ok(())
    }

    /// An agent whose device rang with `id` no longer has it (it rang out, or the switch
    /// offered it to someone else): back to where it was.
    fn release_ringing(&mut self, user: &AgentId, id: CallId) {
        if let Ok(session) = self.session_mut(user) {
            session.call = None;
            session.state = session.idle_state();
        }
        self.emit(
            Some(user),
            Event::CallEnded {
                call_id: id,
                reason: EndReason::NoAnswer,
            },
        );
        self.emit_position(user);
    }

    /// The platform paused (`Some(reason)`) or unpaused the member on `device` by itself. The
    /// reason names a rest state (system or configured) when it can; otherwise Break.
    pub fn paused_on_switch(&mut self, device: &str, reason: Option<String>) -> Result<()> {
        let user = self
            .agent_on(device)
            .ok_or_else(|| TelephonyError::UnknownDevice(device.to_owned()))?;
        let state = self.session(&user)?.state;
        match reason {
            Some(name) => {
                let reason = SystemRest::ALL
                    .into_iter()
                    .map(PauseReason::System)
                    .chain(self.rest_states.keys().map(|id| PauseReason::Custom(*id)))
                    .find(|r| {
                        self.rest_state(*r)
                            .is_some_and(|s| s.name.eq_ignore_ascii_case(name.trim()))
                    })
                    .unwrap_or(PauseReason::System(SystemRest::Break));
                let idle = matches!(
                    state,
                    AgentState::Available | AgentState::LoggedIn | AgentState::Paused
                );
                if !idle || self.session(&user)?.pause == Some(reason) {
                    return Ok(());
                }
                let session = self.session_mut(&user)?;
                session.state = AgentState::Paused;
                session.pause = Some(reason);
            }
            None => {
                if state != AgentState::Paused {
                    return Ok(());
                }
                let session = self.session_mut(&user)?;
                session.state = session.idle_state();
                session.pause = None;
                session.available_since = tokio::time::Instant::now();
            }
        }
        self.emit_position(&user);
        Ok(())
    }

    /// Hands queued calls to ready agents (unless the switch routes calls itself).
    pub fn dispatch(&mut self) {
        if self.routes_calls {
            return;
        }
        let campaigns: Vec<CampaignId> = self.queues.keys().copied().collect();
        for campaign in campaigns {
            loop {
                if self.queues.get(&campaign).is_none_or(|q| q.is_empty()) {
                    break;
                }
                let Some(agent) = self.longest_available(campaign) else {
                    break;
                };
                let Some(call) = self.queues.get_mut(&campaign).and_then(|q| q.pop_front()) else {
                    break;
                };
                self.offer(call, &agent, Link::Owner);
            }
        }
    }

    /// Rings `user`'s device with the call.
    pub fn offer(&mut self, id: CallId, user: &AgentId, link: Link) {
        self.offer_for(id, user, link, self.ring_timeout);
    }

    /// Rings `user`'s device with the call for `ring`; returns the offer's number (`None`
    /// when the call is gone).
    pub fn offer_for(&mut self, id: CallId, user: &AgentId, link: Link, ring: Duration) -> Option<u64> {
        let mut data = self.calls.get(&id)?.data.clone();
        if link == Link::Owner {
            self.agent_fields(user, &mut data);
        }
        let call = self.calls.get_mut(&id)?;
        if link == Link::Owner {
            call.data = data;
            call.state = CallState::Ringing;
            call.agent = Some(user.clone());
            call.progress.offered = true;
        }
        let view = call.view();
        let offer = self.next_id();
        let mut device = None;
        if let Ok(session) = self.session_mut(user) {
            session.state = AgentState::Ringing;
            session.call = Some((id, link));
            session.offer = offer;
            device = Some(session.device.clone());
        }
        if let Some(device) = device.filter(|_| !self.routes_calls) {
            self.command(crate::telephony::switch::SwitchCommand::RingDevice { call: id, device });
        }
        self.emit(Some(user), Event::CallOffered { call: view });
        self.emit_position(user);
        self.schedule(
            ring,
            Timer::RingTimeout {
                call: id,
                agent: user.clone(),
                offer,
            },
        );
        Some(offer)
    }

    /// The agent picked up the ringing call on the device.
    pub fn agent_answers(&mut self, user: &AgentId) -> Result<()> {
        let session = self.session(user)?;
        let (id, link) = match (session.state, session.call) {
            (AgentState::Ringing, Some(call)) => call,
            _ => return Err(TelephonyError::NoActiveCall),
        };
        let Some(call) = self.calls.get_mut(&id) else {
            return Err(TelephonyError::NoActiveCall);
        };
        if link == Link::ConsultTarget {
            if let Some(transfer) = call.transfer.as_mut() {
                transfer.answered = true;
            }
            let owner = call.agent.clone();
            self.session_mut(user)?.state = AgentState::InCall;
            for agent in [Some(user.clone()), owner].into_iter().flatten() {
                self.emit(Some(&agent), Event::TransferAnswered { call_id: id });
                self.emit_position(&agent);
            }
            return Ok(());
        }
        call.state = CallState::Connected;
        call.progress.answered = true;
        let view = call.view();
        self.owner_offers.remove(&id);
        let contact = Contact {
            data: call.data.clone(),
            clavesf: call.clavesf.clone(),
            campaign: call.campaign,
            phone: call.phone.clone(),
            disposition: None,
            scheduled: false,
        };
        let session = self.session_mut(user)?;
        session.state = AgentState::InCall;
        session.contact = Some(contact);
        session.crm = CrmState::GetContact;
        self.emit(Some(user), Event::CallConnected { call: view });
        self.emit_position(user);
        Ok(())
    }

    /// The offered call rang out on the agent.
    pub fn ring_timeout(&mut self, id: CallId, user: &AgentId, offer: u64) {
        let Ok(session) = self.session(user) else {
            return;
        };
        if session.state != AgentState::Ringing
            || session.offer != offer
            || session.call.is_none_or(|(c, _)| c != id)
        {
            return;
        }
        if session.call.is_some_and(|(_, link)| link == Link::ConsultTarget) {
            self.cancel_consultation(id);
            return;
        }
        if self.owner_offers.get(&id) == Some(&offer) {
            self.owner_first_rang_out(id, user);
            return;
        }
        if let Ok(session) = self.session_mut(user) {
            session.call = None;
            session.state = AgentState::Paused;
            session.pause = Some(PauseReason::System(SystemRest::NoAnswer));
            session.resume = None;
        }
        self.emit(
            Some(user),
            Event::CallEnded {
                call_id: id,
                reason: EndReason::NoAnswer,
            },
        );
        self.emit_position(user);
        self.enqueue(id, true);
        self.run();
    }

    /// Everything that may move after a change: queued calls to agents, dialers to dial.
    pub fn run(&mut self) {
        self.dispatch();
        let outbound: Vec<CampaignId> = self
            .campaigns
            .values()
            .filter(|c| c.is_outbound())
            .map(|c| c.id)
            .collect();
        for campaign in outbound {
            self.dialer_pass(campaign);
        }
        // A predictive call answered during the pass waits for the next change: dispatching
        // again here would recurse through the dialers.
    }
}
