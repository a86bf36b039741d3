//! The recorder on its own, fed events as the engine commits them: the caller's record and
//! owner (owner routing fills them at intake) become WhoId/WhatId and OwnerId; a replayed event
//! writes nothing twice; a call back closes once.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::Utc;
use ctibridge::missed::{MissedCallRecorder, MissedSettings};
use ctibridge::salesforce::outbox::Outbox;
use ctibridge::salesforce::worker::{SystemClock, Worker, WorkerConfig};
use ctibridge::store::Store;
use ctibridge::telephony::events::{EventEnvelope, MissedReason};
use ctibridge::telephony::{
    AgentId, CallState, CallView, CampaignId, Direction, Event, NeotelData, OwnerMatch,
};
use serde_json::json;

use super::{MISSED_OWNER, outbox_rows, rows, tasks_of};
use crate::salesforce::jwt_client;
use crate::support::db::TestDb;
use crate::support::fake_salesforce::FakeSalesforce;

const CONTACT: &str = "003000000000001AAA";
const ACCOUNT: &str = "001000000000001AAA";
const OWNER: &str = "005000000000001AAA";
const AGENT2_USER: &str = "005000000000002AAA";

fn view(call_id: u64, phone: &str, owner: Option<OwnerMatch>, direction: Direction) -> CallView {
    CallView {
        data: NeotelData {
            call_id,
            call_campaing: Some(97),
            phone_number: Some(phone.into()),
            ..NeotelData::default()
        },
        clavesf: None,
        state: CallState::Ended,
        direction,
        agent: None,
        transfer: None,
        conference: None,
        owner,
        missed_call_id: None,
    }
}

fn missed(call: CallView) -> EventEnvelope {
    let at = Utc::now();
    EventEnvelope {
        agent: None,
        seq: 1,
        at,
        event: Event::CallMissed {
            call,
            reason: MissedReason::Abandoned,
            campaign: CampaignId(97),
            queue: "salesforce".into(),
            arrived_at: at - chrono::Duration::seconds(30),
            waited_secs: 30,
        },
    }
}

async fn record(recorder: &MissedCallRecorder, store: &Store, event: &EventEnvelope) {
    let mut tx = store.begin_write().await.unwrap();
    recorder.record(&mut tx, event).await.unwrap();
    tx.commit().await.unwrap();
}

crate::dual_db_test!(
    the_callers_record_and_owner_go_on_the_task_and_replays_write_nothing_twice,
    |db: TestDb| async move { owner_and_replays(db).await }
);

async fn owner_and_replays(db: TestDb) {
    let fake = FakeSalesforce::start().await;
    let store = db.store().await;
    let client = Arc::new(jwt_client(&fake, &store).await);
    let outbox = Outbox::new(store.clone());
    let recorder = MissedCallRecorder::new(
        outbox.clone(),
        MissedSettings {
            write_tasks: true,
            default_owner: Some(MISSED_OWNER.into()),
            owners: HashMap::from([("agent2".to_owned(), AGENT2_USER.to_owned())]),
        },
    );
    let worker = Worker::new(
        "w",
        outbox.clone(),
        client,
        WorkerConfig::default(),
        Arc::new(SystemClock),
    );

    // A Contact with an owner; an Account whose owner is known by its agent only; a caller
    // nobody knows.
    let contact = missed(view(
        101,
        "1155565001",
        Some(OwnerMatch {
            record_type: "Contact".into(),
            record_id: CONTACT.into(),
            owner_id: Some(OWNER.into()),
            agent: Some(AgentId::new("agent1")),
            name: Some("Ana García".into()),
        }),
        Direction::Inbound,
    ));
    let account = missed(view(
        102,
        "1155565002",
        Some(OwnerMatch {
            record_type: "Account".into(),
            record_id: ACCOUNT.into(),
            owner_id: None,
            agent: Some(AgentId::new("agent2")),
            name: None,
        }),
        Direction::Inbound,
    ));
    let stranger = missed(view(103, "1155565003", None, Direction::Inbound));
    for event in [&contact, &account, &stranger, &contact] {
        record(&recorder, &store, event).await;
    }
    // Replayed: still one row and one write.
    assert_eq!(rows(&store).await.len(), 3);
    assert_eq!(outbox_rows(&store, 101).await, 1);
    while worker.run_once().await.unwrap().claimed > 0 {}

    let contact_task = &tasks_of(&fake, 101)[0];
    assert_eq!(contact_task["WhoId"], CONTACT);
    assert_eq!(contact_task["OwnerId"], OWNER);
    let account_task = &tasks_of(&fake, 102)[0];
    assert_eq!(account_task["WhatId"], ACCOUNT);
    assert_eq!(account_task["OwnerId"], AGENT2_USER);
    let stranger_task = &tasks_of(&fake, 103)[0];
    assert_eq!(stranger_task["OwnerId"], MISSED_OWNER);
    assert_eq!(fake.records("Task").len(), 3);

    // agent1 owns the Contact's caller: it is first in agent1's list, whatever the campaign.
    let listed = ctibridge::missed::MissedCalls::new(store.clone())
        .open_for("agent1", None)
        .await
        .unwrap();
    assert_eq!(listed.iter().map(|m| m.call_id).collect::<Vec<_>>(), vec![101]);
    assert_eq!(listed[0].record_type.as_deref(), Some("Contact"));

    // A call back of 101 connects (twice: a transfer connects again): closed once.
    let mut back = view(200, "1155565001", None, Direction::Outbound);
    back.missed_call_id = Some(101);
    back.state = CallState::Connected;
    let connected = EventEnvelope {
        agent: Some(AgentId::new("agent1")),
        seq: 9,
        at: Utc::now(),
        event: Event::CallConnected { call: back },
    };
    record(&recorder, &store, &connected).await;
    record(&recorder, &store, &connected).await;
    let row = rows(&store).await.into_iter().find(|r| r.call_id == 101).unwrap();
    assert_eq!((row.status.as_str(), row.closed_by), ("closed", Some(200)));
    assert_eq!(
        outbox_rows(&store, 101).await,
        2,
        "the open Task and its one completion"
    );
    while worker.run_once().await.unwrap().claimed > 0 {}
    assert_eq!(tasks_of(&fake, 101)[0]["Status"], json!("Completed"));
    assert_eq!(fake.records("Task").len(), 3);
    assert!(rows(&store).await.iter().filter(|r| r.status == "open").count() == 2);
}
