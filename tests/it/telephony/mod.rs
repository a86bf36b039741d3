//! The embedded telephony engine, driven through the `Telephony` trait and the simulation API
//! on a paused tokio clock: no test sleeps, each waits on the event it expects.

mod agents;
mod callbacks;
mod conference;
mod durable;
mod inbound;
mod monitor;
mod outbound;
mod refusals;
mod stats_day;
mod switch;
mod transfers;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use ctibridge::config::TelephonyConfig;
use ctibridge::contacts::{Clavesf, ContactMatch, ContactResolver, ContactsError, InboundLookup};
use ctibridge::telephony::engine::{CustomerBehaviour, InboundCall, LeadInput, TokioClock};
use ctibridge::telephony::{
    AgentId, AgentState, CallId, CampaignId, EmbeddedEngine, Event, EventEnvelope, LoginRequest, Position,
    Simulation, Telephony,
};
use tokio::sync::broadcast;

/// The demo campaigns.
pub const INBOUND: CampaignId = CampaignId(97);
pub const PREDICTIVE: CampaignId = CampaignId(98);
pub const PREVIEW: CampaignId = CampaignId(99);
pub const PROGRESSIVE: CampaignId = CampaignId(100);
pub const QUEUE: &str = "salesforce";

/// The wall-clock time the test engines start at.
pub fn start_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 21, 12, 0, 0).unwrap()
}

/// An in-memory CONTACTO_INSERT_SALESFORCE with the stored procedure's rules: find the contact
/// by DATA (the key field) in the database; insert it when missing; with empty DATA insert a
/// new contact whose key is its own id and return CLAVESF `id-`.
#[derive(Default)]
pub struct MemoryContacts {
    rows: Mutex<Vec<Row>>,
}

#[derive(Clone)]
struct Row {
    id: i64,
    database_id: i64,
    key: String,
}

/// The CRM every test database belongs to.
pub const CRM_ID: i64 = 1;

impl MemoryContacts {
    /// Adds a contact; returns its id.
    pub fn seed(&self, database_id: i64, key: &str) -> i64 {
        let mut rows = self.rows.lock().unwrap();
        let id = 1000 + rows.len() as i64;
        rows.push(Row {
            id,
            database_id,
            key: key.to_owned(),
        });
        id
    }

    pub fn count(&self) -> usize {
        self.rows.lock().unwrap().len()
    }
}

#[async_trait::async_trait]
impl ContactResolver for MemoryContacts {
    async fn contacto_insert_salesforce(
        &self,
        lookup: &InboundLookup,
    ) -> Result<ContactMatch, ContactsError> {
        let mut rows = self.rows.lock().unwrap();
        let data = lookup.data.clone().filter(|d| !d.trim().is_empty());
        if let Some(key) = &data
            && let Some(row) = rows
                .iter()
                .find(|r| r.database_id == lookup.database_id && r.key == *key)
        {
            return Ok(ContactMatch {
                contact_id: row.id,
                database_id: row.database_id,
                crm_id: CRM_ID,
                crm_key: row.key.clone(),
                clavesf: Clavesf {
                    contact_id: row.id,
                    data: key.clone(),
                },
                created: false,
            });
        }
        let id = 1000 + rows.len() as i64;
        let key = data.clone().unwrap_or_else(|| id.to_string());
        rows.push(Row {
            id,
            database_id: lookup.database_id,
            key: key.clone(),
        });
        Ok(ContactMatch {
            contact_id: id,
            database_id: lookup.database_id,
            crm_id: CRM_ID,
            crm_key: key,
            clavesf: Clavesf {
                contact_id: id,
                data: data.unwrap_or_default(),
            },
            created: true,
        })
    }
}

/// An engine with its event stream, simulation and contacts.
pub struct Harness {
    pub engine: Arc<EmbeddedEngine>,
    pub tel: Arc<dyn Telephony>,
    pub sim: Simulation,
    pub contacts: Arc<MemoryContacts>,
    pub events: broadcast::Receiver<EventEnvelope>,
}

/// The demo roster's devices.
pub fn device_of(user: &str) -> &'static str {
    match user {
        "agent1" => "1001",
        "agent2" => "1002",
        "agent3" => "1003",
        "super1" => "1100",
        _ => "1999",
    }
}

pub fn id(user: &str) -> AgentId {
    AgentId::from(user)
}

impl Harness {
    /// The demo roster and demo campaigns.
    pub async fn demo() -> Harness {
        Harness::with_config(TelephonyConfig::default()).await
    }

    pub async fn with_config(config: TelephonyConfig) -> Harness {
        let contacts = Arc::new(MemoryContacts::default());
        let engine = EmbeddedEngine::with_clock(
            &config,
            contacts.clone(),
            Arc::new(TokioClock::starting_at(start_time())),
        )
        .await
        .expect("engine builds");
        let events = engine.subscribe();
        Harness {
            tel: engine.clone(),
            sim: engine.simulation(),
            engine,
            contacts,
            events,
        }
    }

    /// Logs a demo user in (password `demo`, their own device).
    pub async fn login(&self, user: &str) -> AgentId {
        self.tel
            .login(LoginRequest::new(device_of(user), user, "demo"))
            .await
            .expect("login");
        id(user)
    }

    /// Logs a demo user in and into a campaign.
    pub async fn agent_in(&self, user: &str, campaign: CampaignId) -> AgentId {
        let agent = self.login(user).await;
        self.tel
            .login_campaign(&agent, campaign)
            .await
            .expect("campaign login");
        agent
    }

    pub async fn pos(&self, agent: &AgentId) -> Position {
        self.tel.position(agent).await.expect("position")
    }

    pub async fn state(&self, agent: &AgentId) -> AgentState {
        self.pos(agent).await.state
    }

    /// Waits (on the paused clock) for the next event matching `pred`, skipping others.
    pub async fn wait(&mut self, what: &str, pred: impl Fn(&EventEnvelope) -> bool) -> EventEnvelope {
        let events = &mut self.events;
        let found = tokio::time::timeout(Duration::from_secs(24 * 3600), async {
            loop {
                match events.recv().await {
                    Ok(event) if pred(&event) => return event,
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => panic!("event stream closed"),
                }
            }
        })
        .await;
        found.unwrap_or_else(|_| panic!("no event: {what}"))
    }

    /// Waits for an event of `agent` matching `pred`.
    pub async fn wait_for(
        &mut self,
        agent: &AgentId,
        what: &str,
        pred: impl Fn(&Event) -> bool,
    ) -> EventEnvelope {
        let agent = agent.clone();
        self.wait(what, move |e| e.agent.as_ref() == Some(&agent) && pred(&e.event))
            .await
    }

    /// Waits until the call is offered to `agent`; returns its id.
    pub async fn offered(&mut self, agent: &AgentId) -> CallId {
        let event = self
            .wait_for(agent, "call offered", |e| matches!(e, Event::CallOffered { .. }))
            .await;
        match event.event {
            Event::CallOffered { call } => CallId(call.data.call_id),
            _ => unreachable!(),
        }
    }

    /// An inbound call to the demo queue; returns its id.
    pub async fn inbound(&self, ani: &str, data: Option<&str>) -> CallId {
        self.sim
            .inbound_call(InboundCall {
                ani: Some(ani.to_owned()),
                data: data.map(str::to_owned),
                queue: QUEUE.to_owned(),
                hang_up_after: None,
                reference: None,
                variables: Default::default(),
            })
            .await
            .expect("inbound call")
    }

    /// An inbound call offered to and answered by `agent` (who must be the one it goes to).
    pub async fn connected_inbound(&mut self, agent: &AgentId, ani: &str) -> CallId {
        let call = self.inbound(ani, None).await;
        assert_eq!(self.offered(agent).await, call);
        self.sim.agent_answers(agent).expect("agent answers");
        call
    }

    pub async fn leads(&self, campaign: CampaignId, phones: &[(&str, Option<&str>)]) {
        let leads = phones
            .iter()
            .map(|(phone, key)| LeadInput {
                phone: (*phone).to_owned(),
                key: key.map(str::to_owned),
            })
            .collect();
        self.sim.load_leads(campaign, leads).await.expect("leads load");
    }

    pub fn script(&self, phone: &str, behaviour: CustomerBehaviour) {
        self.sim.script_customer(phone, behaviour);
    }
}
