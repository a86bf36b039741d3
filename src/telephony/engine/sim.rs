//! The simulated switch, the default telephony platform behind the core, and its simulation
//! API for demos and tests: what customers and devices do. Inject an inbound call, script how
//! a number behaves when dialed (answer after N s and maybe hang up after M s, busy, no
//! answer), make the customer answer, hang up or press digits, pick up an agent's ringing
//! device, load leads into an outbound campaign and run its dialer.
//!
//! [`SimulatedSwitch`] leaves routing to the core's ACD and answers the core's commands the way
//! customers would (an `Originate` follows the number's script); everything it and the
//! simulation API report goes through the same [`SwitchEvent`]s a real platform sends.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use crate::contacts::InboundLookup;
use crate::telephony::error::{Result, TelephonyError};
use crate::telephony::events::NeotelData;
use crate::telephony::types::{AgentId, CallId, CallView, Callback, CampaignId};

use super::Shared;
use super::call::{contact_data, validate_number};
use super::state::Lead;
use crate::telephony::events::EndReason;
use crate::telephony::switch::{Switch, SwitchCommand, SwitchEvent, SwitchInput};

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
    /// The platform's name for the call (Asterisk's Uniqueid): taking the same call in twice
    /// (the dialplan's request, then the driver) gives the same call.
    pub reference: Option<String>,
    /// Channel variables for the CRM (see [`NeotelData::crm_variables`]).
    pub variables: std::collections::BTreeMap<String, String>,
}

impl InboundCall {
    /// A call from `ani` with no DATA to `queue`.
    pub fn from(ani: &str, queue: &str) -> Self {
        InboundCall {
            ani: Some(ani.to_owned()),
            data: None,
            queue: queue.to_owned(),
            hang_up_after: None,
            reference: None,
            variables: Default::default(),
        }
    }
}

/// A contact for an outbound campaign to dial (as the lead-loading endpoints take it:
/// `{"phone", "key"?}`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeadInput {
    pub phone: String,
    /// The key field value (Clave_1), e.g. the Salesforce record id: the contact is looked up
    /// / inserted by it in the campaign's database.
    #[serde(default)]
    pub key: Option<String>,
}

/// The simulated telephony platform: customers follow their scripts, devices ring until the
/// simulation API answers them.
pub struct SimulatedSwitch {
    scripts: Mutex<HashMap<String, VecDeque<CustomerBehaviour>>>,
    /// A placed call nobody scripted rings this long, then ends unanswered.
    dial_timeout: Duration,
    input: OnceLock<SwitchInput>,
}

impl SimulatedSwitch {
    pub fn new(dial_timeout: Duration) -> SimulatedSwitch {
        SimulatedSwitch {
            scripts: Mutex::new(HashMap::new()),
            dial_timeout,
            input: OnceLock::new(),
        }
    }

    /// Reports `events` in the background: the first `after` from now, each later one its own
    /// wait after the one before.
    fn later(&self, after: Duration, events: Vec<(Duration, SwitchEvent)>) {
        let Some(input) = self.input.get().cloned() else {
            return;
        };
        // Deadlines from now, not from when the task first runs.
        let mut at = tokio::time::Instant::now() + after;
        let timed: Vec<_> = events
            .into_iter()
            .map(|(wait, event)| {
                at += wait;
                (at, event)
            })
            .collect();
        tokio::spawn(async move {
            for (at, event) in timed {
                tokio::time::sleep_until(at).await;
                report(&input, event).await;
            }
        });
    }

    fn customer_leg(&self, call: CallId, number: &str) {
        let behaviour = self
            .scripts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_mut(number)
            .and_then(|s| s.pop_front());
        match behaviour {
            Some(CustomerBehaviour::Answer { after, hang_up_after }) => {
                let mut events = vec![(Duration::ZERO, SwitchEvent::CustomerAnswered { call })];
                if let Some(talk) = hang_up_after {
                    events.push((talk, SwitchEvent::CustomerHungUp { call }));
                }
                self.later(after, events);
            }
            Some(CustomerBehaviour::Busy) => self.later(
                Duration::ZERO,
                vec![(
                    Duration::ZERO,
                    SwitchEvent::CustomerUnreached {
                        call,
                        reason: EndReason::Busy,
                    },
                )],
            ),
            Some(CustomerBehaviour::NoAnswer) | None => self.later(
                self.dial_timeout,
                vec![(
                    Duration::ZERO,
                    SwitchEvent::CustomerUnreached {
                        call,
                        reason: EndReason::NoAnswer,
                    },
                )],
            ),
        }
    }
}

/// Sends a scripted event; a refusal means the call moved on meanwhile (the customer hung up
/// before the scripted answer): nothing to do.
async fn report(input: &SwitchInput, event: SwitchEvent) {
    if let Err(e) = input.send(event).await {
        tracing::warn!(error = %e, "simulated switch: event not saved yet");
    }
}

impl Switch for SimulatedSwitch {
    fn name(&self) -> &'static str {
        "simulated"
    }

    fn routes_calls(&self) -> bool {
        false
    }

    fn attach(&self, input: SwitchInput) {
        let _ = self.input.set(input);
    }

    fn command(&self, command: SwitchCommand) {
        // Devices ring until the simulation API answers them; transfers, conferences, spying
        // and digits need no simulated audio.
        if let SwitchCommand::Originate { call, number, .. } = command {
            self.customer_leg(call, &number);
        }
    }
}

/// Drives the customers' and devices' side of the embedded engine.
#[derive(Clone)]
pub struct Simulation {
    pub(super) shared: Arc<Shared>,
    /// `None` when the engine runs another switch: scripts then do nothing.
    pub(super) switch: Option<Arc<SimulatedSwitch>>,
}

impl Simulation {
    /// The next time `phone` is dialed, it behaves like this (scripts queue up per number).
    pub fn script_customer(&self, phone: &str, behaviour: CustomerBehaviour) {
        if let Some(switch) = &self.switch {
            switch
                .scripts
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .entry(phone.to_owned())
                .or_default()
                .push_back(behaviour);
        }
    }

    /// A customer calls a queue: the core's intake runs CONTACTO_INSERT_SALESFORCE (find the
    /// contact by DATA or ANI, insert it when missing), then queues the call, which the ACD
    /// offers to the longest-available agent.
    pub async fn inbound_call(&self, call: InboundCall) -> Result<CallId> {
        let hang_up_after = call.hang_up_after;
        let id = super::intake(&self.shared, call).await?.call_id;
        if let (Some(after), Some(switch)) = (hang_up_after, &self.switch) {
            switch.later(
                after,
                vec![(Duration::ZERO, SwitchEvent::CustomerHungUp { call: id })],
            );
        }
        Ok(id)
    }

    /// The customer picks up an outbound call that rings.
    pub fn customer_answers(&self, call: CallId) -> Result<()> {
        self.shared
            .change(|inner| inner.switch_event(SwitchEvent::CustomerAnswered { call }))
    }

    /// The customer hangs up (in a queue: abandoned).
    pub fn customer_hangs_up(&self, call: CallId) -> Result<()> {
        self.shared
            .change(|inner| inner.switch_event(SwitchEvent::CustomerHungUp { call }))
    }

    /// The customer presses digits; the agents on the call are told.
    pub fn customer_presses(&self, call: CallId, digits: &str) -> Result<()> {
        self.shared.change(|inner| {
            inner.switch_event(SwitchEvent::CustomerDigits {
                call,
                digits: digits.to_owned(),
            })
        })
    }

    /// The agent picks up the ringing device.
    pub fn agent_answers(&self, agent: &AgentId) -> Result<()> {
        self.shared.change(|inner| {
            let device = inner.session(agent)?.device.clone();
            inner.switch_event(SwitchEvent::DeviceAnswered { device })
        })
    }

    /// Adds leads to an outbound campaign (each looked up / inserted in the campaign's
    /// database first) and runs the dialers.
    pub async fn load_leads(&self, campaign: CampaignId, leads: Vec<LeadInput>) -> Result<usize> {
        self.shared.load_leads(campaign, leads).await
    }

    /// Runs a campaign's dialer now (it also runs on every change that frees an agent).
    pub fn advance_dialer(&self, campaign: CampaignId) -> Result<()> {
        self.shared.change(|inner| {
            if !inner.campaign(campaign)?.is_outbound() {
                return Err(TelephonyError::NotOutbound(campaign));
            }
            inner.dialer_pass(campaign);
            inner.dispatch();
            Ok(())
        })
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

impl Shared {
    /// Adds leads to an outbound campaign (each looked up / inserted in the campaign's
    /// database first) and runs the dialers.
    pub(crate) async fn load_leads(&self, campaign: CampaignId, leads: Vec<LeadInput>) -> Result<usize> {
        let (database_id, dialer) = {
            let inner = self.lock();
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
        self.change(|inner| {
            inner.leads_changed(campaign);
            inner.leads.entry(campaign).or_default().extend(prepared);
            inner.run();
        });
        self.flush().await?;
        Ok(count)
    }
}
