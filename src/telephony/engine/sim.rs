//! The simulation API, for demos and tests: what customers and devices do. Inject an inbound
//! call, script how a number behaves when dialed (answer after N s and maybe hang up after M s,
//! busy, no answer), make the customer answer, hang up or press digits, pick up an agent's
//! ringing device, load leads into an outbound campaign and run its dialer.

use std::sync::Arc;
use std::time::Duration;

use crate::contacts::{ContactResolver, InboundLookup};
use crate::telephony::error::{Result, TelephonyError};
use crate::telephony::events::NeotelData;
use crate::telephony::types::{AgentId, CallId, CallState, CallView, Callback, CampaignId, Direction};

use super::Shared;
use super::call::{contact_data, validate_number};
use super::state::{Call, Lead};

/// What a dialed number does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CustomerBehaviour {
    /// Answers after `after`; hangs up `hang_up_after` later when given.
    Answer {
        after: Duration,
        hang_up_after: Option<Duration>,
    },
    Busy,
    /// Rings until the dial timeout.
    NoAnswer,
}

impl CustomerBehaviour {
    pub fn answers_after(secs: u64) -> Self {
        CustomerBehaviour::Answer {
            after: Duration::from_secs(secs),
            hang_up_after: None,
        }
    }

    pub fn answers_then_hangs_up(after_secs: u64, talk_secs: u64) -> Self {
        CustomerBehaviour::Answer {
            after: Duration::from_secs(after_secs),
            hang_up_after: Some(Duration::from_secs(talk_secs)),
        }
    }
}

/// A call arriving from the network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundCall {
    /// The caller's number; `None` for a private number.
    pub ani: Option<String>,
    /// DATA collected by the IVR (the key field value), if any.
    pub data: Option<String>,
    /// The queue the call is routed to.
    pub queue: String,
    /// Scripted: the customer hangs up this long after calling, whatever the call's stage
    /// (waiting in the queue: abandoned).
    pub hang_up_after: Option<Duration>,
}

impl InboundCall {
    /// A call from `ani` with no DATA to `queue`.
    pub fn from(ani: &str, queue: &str) -> Self {
        InboundCall {
            ani: Some(ani.to_owned()),
            data: None,
            queue: queue.to_owned(),
            hang_up_after: None,
        }
    }
}

/// A contact for an outbound campaign to dial.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeadInput {
    pub phone: String,
    /// The key field value (Clave_1), e.g. the Salesforce record id.
    pub key: Option<String>,
}

/// Drives the customers' and devices' side of the embedded engine.
#[derive(Clone)]
pub struct Simulation {
    pub(super) shared: Arc<Shared>,
    pub(super) resolver: Arc<dyn ContactResolver>,
}

impl Simulation {
    /// The next time `phone` is dialed, it behaves like this (scripts queue up per number).
    pub fn script_customer(&self, phone: &str, behaviour: CustomerBehaviour) {
        self.shared
            .lock()
            .scripts
            .entry(phone.to_owned())
            .or_default()
            .push_back(behaviour);
    }

    /// A customer calls a queue: CONTACTO_INSERT_SALESFORCE runs first (find the contact by
    /// DATA or ANI, insert it into the campaign's database when missing), then the call is
    /// queued and offered to the longest-available agent.
    pub async fn inbound_call(&self, call: InboundCall) -> Result<CallId> {
        let (campaign, database_id) = {
            let inner = self.shared.lock();
            let campaign = inner
                .campaigns
                .values()
                .find(|c| c.queue == call.queue)
                .ok_or_else(|| TelephonyError::UnknownQueue(call.queue.clone()))?;
            (campaign.id, campaign.database_id)
        };
        let ani = call.ani.map(|a| a.trim().to_owned()).filter(|a| !a.is_empty());
        let lookup = InboundLookup {
            data: call.data.clone(),
            ani: ani.clone(),
            database_id,
        };
        let found = self
            .resolver
            .contacto_insert_salesforce(&lookup)
            .await
            .map_err(|e| TelephonyError::Contacts(e.to_string()))?;
        let id = {
            let mut inner = self.shared.lock();
            let id = inner.new_call_id();
            let mut data = NeotelData {
                call_id: id.0,
                call_campaing: Some(campaign.0),
                call_dialer: Some("inbound".to_owned()),
                call_queue: Some(call.queue.clone()),
                call_reason: Some("inbound".to_owned()),
                phone_number: ani.clone(),
                ..NeotelData::default()
            };
            contact_data(&mut data, &found);
            inner.calls.insert(
                id,
                Call {
                    direction: Direction::Inbound,
                    campaign: Some(campaign),
                    phone: ani.unwrap_or_default(),
                    data,
                    clavesf: Some(found.clavesf.to_string()),
                    state: CallState::Queued,
                    agent: None,
                    predictive: false,
                    transfer: None,
                    conference: None,
                    hang_up_after: None,
                },
            );
            if let Some(after) = call.hang_up_after {
                inner.schedule(after, super::state::Timer::CustomerHangsUp(id));
            }
            inner.enqueue(id, false);
            inner.run();
            id
        };
        self.shared.flush().await?;
        Ok(id)
    }

    /// The customer picks up an outbound call that rings.
    pub fn customer_answers(&self, call: CallId) -> Result<()> {
        self.shared.lock().customer_answers(call)
    }

    /// The customer hangs up (in a queue: abandoned).
    pub fn customer_hangs_up(&self, call: CallId) -> Result<()> {
        self.shared.lock().customer_hangs_up(call)
    }

    /// The customer presses digits; the agents on the call are told.
    pub fn customer_presses(&self, call: CallId, digits: &str) -> Result<()> {
        self.shared.lock().customer_presses(call, digits)
    }

    /// The agent picks up the ringing device.
    pub fn agent_answers(&self, agent: &AgentId) -> Result<()> {
        self.shared.lock().agent_answers(agent)
    }

    /// Adds leads to an outbound campaign (each looked up / inserted in the campaign's
    /// database first) and runs the dialers.
    pub async fn load_leads(&self, campaign: CampaignId, leads: Vec<LeadInput>) -> Result<usize> {
        let (database_id, dialer) = {
            let inner = self.shared.lock();
            let c = inner.campaign(campaign)?;
            if !c.is_outbound() {
                return Err(TelephonyError::NotOutbound(campaign));
            }
            (c.database_id, c.dialer)
        };
        let mut prepared = Vec::with_capacity(leads.len());
        for lead in leads {
            let phone = validate_number(&lead.phone)?;
            let found = self
                .resolver
                .contacto_insert_salesforce(&InboundLookup {
                    data: lead.key.clone(),
                    ani: Some(phone.clone()),
                    database_id,
                })
                .await
                .map_err(|e| TelephonyError::Contacts(e.to_string()))?;
            let mut data = NeotelData {
                call_campaing: Some(campaign.0),
                call_dialer: dialer.map(|d| d.as_str().to_owned()),
                call_reason: Some("new".to_owned()),
                phone_number: Some(phone.clone()),
                ..NeotelData::default()
            };
            contact_data(&mut data, &found);
            prepared.push(Lead {
                phone,
                data,
                clavesf: Some(found.clavesf.to_string()),
            });
        }
        let count = prepared.len();
        {
            let mut inner = self.shared.lock();
            inner.leads_changed(campaign);
            inner.leads.entry(campaign).or_default().extend(prepared);
            inner.run();
        }
        self.shared.flush().await?;
        Ok(count)
    }

    /// Runs a campaign's dialer now (it also runs on every change that frees an agent).
    pub fn advance_dialer(&self, campaign: CampaignId) -> Result<()> {
        let mut inner = self.shared.lock();
        if !inner.campaign(campaign)?.is_outbound() {
            return Err(TelephonyError::NotOutbound(campaign));
        }
        inner.dialer_pass(campaign);
        inner.dispatch();
        Ok(())
    }

    /// A call as the engine sees it.
    pub fn call(&self, call: CallId) -> Option<CallView> {
        self.shared.lock().calls.get(&call).map(|c| c.view())
    }

    /// The calls waiting in a campaign's queue.
    pub fn queued(&self, campaign: CampaignId) -> Vec<CallId> {
        self.shared
            .lock()
            .queues
            .get(&campaign)
            .map(|q| q.iter().copied().collect())
            .unwrap_or_default()
    }

    /// Leads not dialed yet.
    pub fn pending_leads(&self, campaign: CampaignId) -> usize {
        self.shared.lock().pending_leads(campaign)
    }

    /// Returns once every change made so far is saved (the simulation's own changes are
    /// saved by the engine's background task otherwise).
    pub async fn flush(&self) -> Result<()> {
        self.shared.flush().await
    }

    /// Callbacks waiting for their time.
    pub fn callbacks(&self) -> Vec<Callback> {
        self.shared
            .lock()
            .callbacks
            .values()
            .map(|(c, _)| c.clone())
            .collect()
    }
}
