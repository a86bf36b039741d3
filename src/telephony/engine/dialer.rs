//! Dialers and callbacks.
//!
//! - predictive: dials one lead per ready agent of the campaign (not counting the calls
//!   already ringing or waiting); a customer who answers is queued and connected to the
//!   longest-available agent, who gets the contact on answer;
//! - preview: hands the next lead to the longest-available agent (CRM GetContact), who dials
//!   it (Dial with no number) or releases it;
//! - progressive: as preview, and dials at once.
//!
//! A scheduled callback becomes the next lead of its campaign when its time comes.

use chrono::{DateTime, Utc};

use super::state::{Call, Contact, Inner, Lead, Timer};
use crate::telephony::error::{Result, TelephonyError};
use crate::telephony::events::Event;
use crate::telephony::types::{
    AgentId, AgentState, CallId, CallState, Callback, CallbackId, CampaignId, CrmState, DialRequest,
    DialerKind, Direction, ScheduleCallbackRequest,
};

use super::call::validate_number;

impl Inner {
    /// One pass of a campaign's dialer: places what the ready agents can take.
    pub fn dialer_pass(&mut self, campaign: CampaignId) {
        let Some(dialer) = self.campaigns.get(&campaign).and_then(|c| c.dialer) else {
            return;
        };
        match dialer {
            DialerKind::Predictive => {
                let ready = self
                    .agents
                    .values()
                    .filter_map(|a| a.session.as_ref())
                    .filter(|s| s.ready_for(campaign))
                    .count();
                let in_flight = self
                    .calls
                    .values()
                    .filter(|c| {
                        c.campaign == Some(campaign)
                            && c.predictive
                            && matches!(c.state, CallState::Dialing | CallState::Queued)
                    })
                    .count();
                for _ in in_flight..ready {
                    let Some(lead) = self.next_lead(campaign) else {
                        break;
                    };
                    self.place_predictive(campaign, lead);
                }
            }
            DialerKind::Preview | DialerKind::Progressive => {
                while let Some(agent) = self.longest_available(campaign) {
                    let Some(lead) = self.next_lead(campaign) else {
                        break;
                    };
                    self.hand_lead(&agent, campaign, lead);
                    if dialer == DialerKind::Progressive
                        && let Err(e) = self.dial(&agent, DialRequest::default(), None)
                    {
                        tracing::warn!(%agent, "progressive dialer could not dial the handed contact: {e}");
                    }
                }
            }
        }
    }

    /// Takes the campaign's next lead (the change is saved with the next commit).
    fn next_lead(&mut self, campaign: CampaignId) -> Option<Lead> {
        let lead = self.leads.get_mut(&campaign)?.pop_front()?;
        self.leads_changed(campaign);
        Some(lead)
    }

    fn place_predictive(&mut self, campaign: CampaignId, lead: Lead) {
        let Ok(id) = self.new_call_id() else {
            // No id until the database answers: the lead waits at the head of the queue.
            self.leads_changed(campaign);
            self.leads.entry(campaign).or_default().push_front(lead);
            return;
        };
        let mut data = lead.data;
        data.call_id = id.0;
        self.calls.insert(
            id,
            Call {
                direction: Direction::Outbound,
                campaign: Some(campaign),
                phone: lead.phone.clone(),
                data,
                clavesf: lead.clavesf,
                state: CallState::Dialing,
                agent: None,
                predictive: true,
                transfer: None,
                conference: None,
                reference: None,
                owner: None,
                progress: Default::default(),
            },
        );
        // Predictive: the customer first; an agent once they answer.
        let queue = self.campaigns.get(&campaign).map(|c| c.queue.clone());
        self.command(crate::telephony::switch::SwitchCommand::Originate {
            call: id,
            agent: None,
            device: None,
            number: lead.phone,
            queue,
        });
    }

    /// Preview / progressive: the agent gets the contact before any call.
    fn hand_lead(&mut self, user: &AgentId, campaign: CampaignId, lead: Lead) {
        let mut data = lead.data;
        self.agent_fields(user, &mut data);
        let contact = Contact {
            data,
            clavesf: lead.clavesf,
            campaign: Some(campaign),
            phone: lead.phone,
            disposition: None,
            scheduled: false,
        };
        let view = contact.view();
        if let Ok(session) = self.session_mut(user) {
            session.state = AgentState::Previewing;
            session.crm = CrmState::GetContact;
            session.contact = Some(contact);
        }
        self.emit(Some(user), Event::ContactHanded { contact: view });
        self.emit_position(user);
    }

    /// A previewing agent pauses or leaves the campaign: the contact goes back to the head of
    /// the campaign's leads, undialed.
    pub fn return_preview(&mut self, user: &AgentId) {
        let Ok(session) = self.session_mut(user) else {
            return;
        };
        if session.state != AgentState::Previewing || session.call.is_some() {
            return;
        }
        let Some(contact) = session.contact.take() else {
            return;
        };
        session.crm = CrmState::Available;
        session.state = session.idle_state();
        if let Some(campaign) = contact.campaign {
            let mut data = contact.data;
            data.user_out_campaign = None;
            data.campaign_crm_id = None;
            data.campaign_base_id = None;
            self.leads_changed(campaign);
            self.leads.entry(campaign).or_default().push_front(Lead {
                phone: contact.phone,
                data,
                clavesf: contact.clavesf,
            });
        }
    }

    /// Schedules a callback for the contact on the agent's screen; categorizes it as
    /// schedule; releases it now in wrap-up or preview, or when the call ends.
    pub fn schedule_callback(
        &mut self,
        user: &AgentId,
        request: ScheduleCallbackRequest,
    ) -> Result<Callback> {
        let callback_id = self.new_callback_id()?;
        let session = self.session(user)?;
        let contact = session
            .contact
            .as_ref()
            .ok_or(TelephonyError::NoContactOnScreen)?;
        let now = self.clock.now();
        if request.at <= now {
            return Err(TelephonyError::CallbackInPast {
                at: request.at.to_rfc3339(),
                now: now.to_rfc3339(),
            });
        }
        let phone = match &request.phone {
            Some(p) => validate_number(p)?,
            None => validate_number(&contact.phone)?,
        };
        let origin = contact
            .campaign
            .and_then(|id| self.campaigns.get(&id))
            .ok_or(TelephonyError::NoCampaign)?;
        let target = if origin.is_outbound() {
            origin.id
        } else {
            origin
                .callback_campaign
                .ok_or(TelephonyError::NoCallbackCampaign(origin.id))?
        };
        let dialer = self.campaign(target)?.dialer;
        let disposition = origin.schedule_disposition();
        let mut data = contact.data.clone();
        data.call_id = 0;
        data.call_campaing = Some(target.0);
        data.call_dialer = dialer.map(|d| d.as_str().to_owned());
        data.call_reason = Some("callback".to_owned());
        data.phone_number = Some(phone.clone());
        data.call_queue = None;
        data.user_out_campaign = None;
        data.campaign_crm_id = None;
        data.campaign_base_id = None;
        let lead = Lead {
            phone: phone.clone(),
            data,
            clavesf: contact.clavesf.clone(),
        };
        let callback = Callback {
            id: callback_id,
            at: request.at,
            campaign: target,
            phone,
            contact_id: contact.data.contact_id,
            scheduled_by: user.clone(),
        };
        let state = session.state;
        let call_id = CallId(contact.data.call_id);
        let session = self.session_mut(user)?;
        if let Some(contact) = session.contact.as_mut() {
            contact.scheduled = true;
            if disposition.is_some() {
                contact.disposition = disposition;
            }
        }
        self.callbacks.insert(callback.id, (callback.clone(), lead));
        self.schedule(until(request.at, now), Timer::CallbackDue(callback.id));
        self.emit(
            Some(user),
            Event::CallbackScheduled {
                callback: callback.clone(),
                call_id,
            },
        );
        self.emit_position(user);
        if matches!(state, AgentState::WrapUp | AgentState::Previewing) {
            self.release(user, true);
        }
        Ok(callback)
    }

    /// A callback's time came: it is the campaign's next lead.
    pub fn callback_due(&mut self, id: CallbackId) {
        let Some((callback, lead)) = self.callbacks.remove(&id) else {
            return;
        };
        self.callback_changed(id);
        self.leads_changed(callback.campaign);
        self.leads.entry(callback.campaign).or_default().push_front(lead);
        self.emit(None, Event::CallbackDue { callback });
        self.run();
    }

    /// The leads waiting in a campaign (for the simulation).
    pub fn pending_leads(&self, campaign: CampaignId) -> usize {
        self.leads.get(&campaign).map_or(0, |l| l.len())
    }
}

/// The tokio duration until a wall-clock time.
fn until(at: DateTime<Utc>, now: DateTime<Utc>) -> std::time::Duration {
    (at - now).to_std().unwrap_or_default()
}
