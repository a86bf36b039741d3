//! The Neotel manual's flows end to end: the embedded engine's events → call log + outbox →
//! worker → the fake org. One Task per call with its disposition; externalData on the popped
//! record; the neoSyncId sync of a record created from the new-record screen; server-side
//! search with searchTypePriority.

use std::sync::Arc;

use ctibridge::callcenter::DeploymentConfig;
use ctibridge::config::TelephonyConfig;
use ctibridge::salesforce::SalesforceClient;
use ctibridge::salesforce::flows::{CallLogger, FlowError, FlowSettings, RecordRef, SalesforceFlows};
use ctibridge::salesforce::outbox::Outbox;
use ctibridge::salesforce::worker::{SystemClock, Worker, WorkerConfig};
use ctibridge::telephony::engine::{CustomerBehaviour, InboundCall};
use ctibridge::telephony::{AgentId, DialRequest, Disposition, Event};
use serde_json::{Map, Value, json};

use super::{jwt_client, scratch_store};
use crate::support::db::TestDb;
use crate::support::fake_salesforce::FakeSalesforce;
use crate::telephony::{Harness, INBOUND, QUEUE};

struct Rig {
    h: Harness,
    fake: FakeSalesforce,
    logger: CallLogger,
    flows: SalesforceFlows,
    worker: Worker,
    outbox: Outbox,
    _db: TestDb,
}

async fn rig_with(callcenter: DeploymentConfig) -> Rig {
    let h = Harness::demo().await;
    let fake = FakeSalesforce::start().await;
    let (db, store) = scratch_store().await;
    let client: Arc<SalesforceClient> = Arc::new(jwt_client(&fake, &store).await);
    let outbox = Outbox::new(store);
    let settings = Arc::new(FlowSettings::new(&callcenter, &TelephonyConfig::default()));
    let logger = CallLogger::new(outbox.clone(), settings.clone());
    let flows = SalesforceFlows::new(outbox.clone(), settings, Some(client.clone()));
    let worker = Worker::new(
        "w",
        outbox.clone(),
        client,
        WorkerConfig::default(),
        Arc::new(SystemClock),
    );
    Rig {
        h,
        fake,
        logger,
        flows,
        worker,
        outbox,
        _db: db,
    }
}

async fn rig() -> Rig {
    rig_with(DeploymentConfig::default()).await
}

impl Rig {
    /// Hands every event emitted so far to the call logger.
    async fn log_events(&mut self) {
        while let Ok(envelope) = self.h.events.try_recv() {
            self.logger.handle(&envelope).await.expect("call log recorded");
        }
    }

    /// Hands events to the call logger until one matches `pred` (that one included).
    async fn log_until(&mut self, what: &str, pred: impl Fn(&Event) -> bool) {
        let wait = async {
            loop {
                let envelope = self.h.events.recv().await.expect("event stream open");
                self.logger.handle(&envelope).await.expect("call log recorded");
                if pred(&envelope.event) {
                    return;
                }
            }
        };
        tokio::time::timeout(std::time::Duration::from_secs(10), wait)
            .await
            .unwrap_or_else(|_| panic!("no event: {what}"));
    }

    async fn deliver(&self) {
        loop {
            let report = self.worker.run_once().await.unwrap();
            assert_eq!(
                report.parked,
                0,
                "{:?}",
                self.outbox.entries("parked", 10).await.unwrap()
            );
            if report.claimed == 0 {
                return;
            }
        }
    }

    fn tasks(&self) -> Vec<Map<String, Value>> {
        self.fake.records("Task")
    }

    /// An inbound call with DATA answered by agent1; returns its call id.
    async fn answered_inbound(&mut self, ani: &str, data: Option<&str>) -> (AgentId, u64) {
        let agent = self.h.agent_in("agent1", INBOUND).await;
        let call = self
            .h
            .sim
            .inbound_call(InboundCall {
                ani: Some(ani.into()),
                data: data.map(Into::into),
                queue: QUEUE.into(),
                hang_up_after: None,
                reference: None,
                variables: Default::default(),
            })
            .await
            .unwrap();
        self.log_until("offered", |e| matches!(e, Event::CallOffered { .. }))
            .await;
        self.h.sim.agent_answers(&agent).unwrap();
        self.h.tel.crm_showing_contact(&agent).await.unwrap();
        (agent, call.0)
    }
}

#[tokio::test]
async fn an_inbound_call_becomes_one_task_with_its_disposition_and_externaldata() {
    let mut rig = rig().await;
    let contact = rig.fake.insert(
        "Contact",
        json!({"FirstName": "Ana", "LastName": "Gómez", "Phone": "1155551234"}),
    );
    let (agent, call) = rig.answered_inbound("1155551234", Some("31987456")).await;
    rig.log_events().await;

    // The adapter popped the single match: externalData goes onto it, the Task links to it.
    rig.flows
        .record_popped(agent.as_str(), call, &contact, "Contact")
        .await
        .unwrap();

    rig.h
        .sim
        .customer_hangs_up(ctibridge::telephony::CallId(call))
        .unwrap();
    rig.log_until("ended", |e| matches!(e, Event::CallEnded { .. }))
        .await;
    rig.h
        .tel
        .update_contact(
            &agent,
            Disposition {
                category: 1,
                subcategory: 11,
                comment: Some("Pagará con tarjeta".into()),
            },
        )
        .await
        .unwrap();
    rig.h.tel.crm_available(&agent).await.unwrap();
    rig.log_events().await;
    rig.deliver().await;

    let tasks = rig.tasks();
    assert_eq!(tasks.len(), 1, "one Task per call");
    let task = &tasks[0];
    assert_eq!(task["Subject"], "Inbound call from 1155551234");
    assert_eq!(task["TaskSubtype"], "Call");
    assert_eq!(task["CallType"], "Inbound");
    assert_eq!(task["Status"], "Completed");
    assert_eq!(task["CallDisposition"], "Contacted / Sale");
    assert_eq!(task["WhoId"], json!(contact));
    assert_eq!(task["CallObject"], task["ctiCallId__c"]);
    assert!(task["CallDurationInSeconds"].is_number());
    assert_eq!(task["Description"], "Pagará con tarjeta");
    assert!(task["ActivityDate"].as_str().unwrap().len() == 10);

    let popped = rig.fake.record("Contact", &contact).unwrap();
    assert!(popped["neoContactId__c"].is_number(), "{popped:?}");
    assert_eq!(popped["neoBaseId__c"], 1);
    assert_eq!(popped["neoCrmId__c"], 1);

    // Batched: far fewer API requests than writes (5 writes here).
    assert!(rig.fake.requests("collections") <= 5);
}

#[tokio::test]
async fn a_record_created_from_the_new_record_screen_is_found_by_neosyncid() {
    let mut rig = rig().await;
    let (agent, call) = rig.answered_inbound("1166660000", None).await;
    rig.log_events().await;

    // No match: the adapter asks for a fresh neoSyncId for the new-record defaults.
    let sync_id = rig.flows.new_sync_id(agent.as_str(), call).await.unwrap();
    assert!(sync_id >= 100_000_000_000_000);
    let other = rig.flows.new_sync_id(agent.as_str(), call).await.unwrap();
    assert_ne!(sync_id, other, "each request gets its own number");

    // The agent saves the new Lead (created through the API: not yet searchable by SOSL).
    let lead = rig.fake.insert_unchecked(
        "Lead",
        json!({"LastName": "Nuevo", "Company": "-", "Phone": "1166660000", "neoSyncId__c": other}),
    );
    let found = rig.flows.sync(agent.as_str(), call, other).await.unwrap();
    assert_eq!(
        found,
        RecordRef {
            record_id: lead.clone(),
            object_type: "Lead".into(),
            name: None
        }
    );

    rig.deliver().await;
    let task = &rig.tasks()[0];
    assert_eq!(task["WhoId"], json!(lead));
    assert!(rig.fake.record("Lead", &lead).unwrap()["neoContactId__c"].is_number());

    let missing = rig.flows.sync(agent.as_str(), call, 42).await.unwrap_err();
    assert!(
        matches!(missing, FlowError::NotFound { neo_sync_id: 42, .. }),
        "{missing}"
    );
}

#[tokio::test]
async fn a_pop_needs_a_logged_call_and_a_valid_record() {
    // Whose call it is, is the server's check against the engine (the agent's current call,
    // see tests/it/http/salesforce.rs); here: a call the log does not know, bad record ids.
    let mut rig = rig().await;
    let (_agent1, call) = rig.answered_inbound("1155550000", Some("k1")).await;
    rig.log_events().await;
    let contact = rig.fake.insert("Contact", json!({"LastName": "X"}));
    let err = rig
        .flows
        .record_popped("agent1", call + 999_999, &contact, "Contact")
        .await
        .unwrap_err();
    assert!(matches!(err, FlowError::NoCall { .. }), "{err}");
    let err = rig
        .flows
        .record_popped("agent1", call, "003'; DROP", "Contact")
        .await
        .unwrap_err();
    assert!(matches!(err, FlowError::Invalid(_)), "{err}");
    let err = rig
        .flows
        .record_popped("agent1", call, &contact, "Contact WHERE")
        .await
        .unwrap_err();
    assert!(matches!(err, FlowError::Invalid(_)), "{err}");
    assert_eq!(
        rig.outbox.stats().await.unwrap().pending,
        1,
        "only the Task of the call"
    );
}

#[tokio::test]
async fn search_applies_the_type_priority() {
    let callcenter: DeploymentConfig = figment::Figment::new()
        .merge(figment::providers::Serialized::defaults(
            json!({"search_type_priority": "Account|Contact"}),
        ))
        .extract()
        .unwrap();
    let rig = rig_with(callcenter).await;
    let contact = rig.fake.insert(
        "Contact",
        json!({"LastName": "Pérez", "Phone": "+54 11 5555-7777"}),
    );
    let account = rig
        .fake
        .insert("Account", json!({"Name": "Pérez SA", "Phone": "(11) 5555 7777"}));
    let found = rig.flows.search(None, Some("1155557777")).await.unwrap();
    let ids: Vec<&str> = found.iter().map(|r| r.record_id.as_str()).collect();
    assert_eq!(
        ids,
        [account.as_str(), contact.as_str()],
        "Account before Contact"
    );
    let by_id = rig.flows.search(Some(&contact), None).await.unwrap();
    assert_eq!(by_id[0].object_type, "Contact");
    assert!(rig.flows.search(None, Some("x")).await.is_err());
}

#[tokio::test]
async fn a_manual_dial_and_a_transfer_are_described_on_the_task() {
    let mut rig = rig().await;
    let agent = rig.h.login("agent1").await;
    rig.h.script(
        "1177778888",
        CustomerBehaviour::Answer {
            after: std::time::Duration::ZERO,
            hang_up_after: None,
        },
    );
    let call = rig
        .h
        .tel
        .dial(&agent, DialRequest::number("1177778888"))
        .await
        .unwrap();
    rig.log_until("connected", |e| matches!(e, Event::CallConnected { .. }))
        .await;
    rig.h.tel.hangup(&agent, Some(call)).await.unwrap();
    rig.log_events().await;
    rig.deliver().await;
    let task = &rig.tasks()[0];
    assert_eq!(task["CallType"], "Outbound");
    assert_eq!(task["Subject"], "Outbound call to 1177778888");
    assert_eq!(task["Description"], "Manual dial");
}

#[tokio::test]
async fn the_target_of_a_transfer_categorizes_the_calls_task() {
    use ctibridge::telephony::{Disposition, TransferMode, TransferRequest, TransferTarget};
    let mut rig = rig().await;
    let (agent1, call) = rig.answered_inbound("1155550077", Some("k7")).await;
    let agent2 = rig.h.login("agent2").await;
    rig.h
        .tel
        .transfer(
            &agent1,
            Some(ctibridge::telephony::CallId(call)),
            TransferRequest {
                target: TransferTarget::User(agent2.clone()),
                mode: TransferMode::Direct,
            },
        )
        .await
        .unwrap();
    rig.log_until("offered to agent2", |e| matches!(e, Event::CallOffered { .. }))
        .await;
    rig.h.sim.agent_answers(&agent2).unwrap();
    rig.log_until("agent2 connected", |e| matches!(e, Event::CallConnected { .. }))
        .await;
    rig.h.tel.hangup(&agent2, None).await.unwrap();
    rig.h
        .tel
        .update_contact(
            &agent2,
            Disposition {
                category: 1,
                subcategory: 11,
                comment: Some("sold after the transfer".into()),
            },
        )
        .await
        .unwrap();
    rig.log_events().await;
    rig.deliver().await;
    let tasks = rig.tasks();
    assert_eq!(tasks.len(), 1, "one Task for the call: {tasks:?}");
    assert_eq!(tasks[0]["CallDisposition"], "Contacted / Sale");
}

#[tokio::test]
async fn without_credentials_the_search_says_so_and_writes_wait() {
    let (_db, store) = scratch_store().await;
    let outbox = Outbox::new(store);
    let settings = Arc::new(FlowSettings::new(
        &DeploymentConfig::default(),
        &TelephonyConfig::default(),
    ));
    let flows = SalesforceFlows::new(outbox, settings, None);
    let err = flows.search(None, Some("1155550000")).await.unwrap_err();
    assert!(err.to_string().contains("not configured"), "{err}");
}

/// Many calls logged at once: every transaction that reads before it writes must still commit
/// (on SQLite a deferred transaction would fail with SQLITE_BUSY_SNAPSHOT).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_calls_are_all_logged() {
    use ctibridge::telephony::events::{EndReason, EventEnvelope, NeotelData};
    use ctibridge::telephony::types::{CallId, CallState, CallView, Direction};
    let (_db, store) = scratch_store().await;
    let outbox = Outbox::new(store);
    let settings = Arc::new(FlowSettings::new(
        &DeploymentConfig::default(),
        &TelephonyConfig::default(),
    ));
    let logger = Arc::new(CallLogger::new(outbox.clone(), settings));
    let envelope = |agent: &str, event: Event| EventEnvelope {
        agent: Some(AgentId::new(agent)),
        seq: 0,
        at: chrono::Utc::now(),
        event,
    };
    let tasks = (1..=40u64).map(|i| {
        let logger = logger.clone();
        let agent = format!("agent{i}");
        let call = CallView {
            data: NeotelData {
                call_id: i,
                phone_number: Some(format!("11{i:08}")),
                ..NeotelData::default()
            },
            clavesf: None,
            state: CallState::Connected,
            direction: Direction::Inbound,
            agent: Some(AgentId::new(&agent)),
            transfer: None,
            conference: None,
            owner: None,
            missed_call_id: None,
        };
        tokio::spawn(async move {
            logger
                .handle(&envelope(&agent, Event::CallConnected { call }))
                .await
                .unwrap();
            logger
                .handle(&envelope(
                    &agent,
                    Event::CallEnded {
                        call_id: CallId(i),
                        reason: EndReason::AgentHangup,
                    },
                ))
                .await
                .unwrap();
            let disposition = Disposition {
                category: 1,
                subcategory: 12,
                comment: None,
            };
            logger
                .handle(&envelope(
                    &agent,
                    Event::ContactUpdated {
                        contact_id: None,
                        call_id: CallId(i),
                        disposition,
                    },
                ))
                .await
                .unwrap();
        })
    });
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(
        outbox.stats().await.unwrap().pending,
        40,
        "each call's three Task writes wait as one"
    );
}
