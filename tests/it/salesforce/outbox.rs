//! The durable outbox on both databases: same-transaction enqueue, batching, order per record,
//! redelivery after a crash without duplicates, outages, parking, concurrent workers.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use ctibridge::salesforce::outbox::{Outbox, Write, enqueue};
use ctibridge::salesforce::worker::{Worker, WorkerConfig};
use serde_json::{Map, Value, json};

use super::{ManualClock, jwt_client};
use crate::dual_db_test;
use crate::support::db::TestDb;
use crate::support::fake_salesforce::FakeSalesforce;

const T0: i64 = 1_800_000_000_000;

fn task(call: &str, fields: Value) -> Write {
    let mut create_only = Map::new();
    create_only.insert("TaskSubtype".into(), json!("Call"));
    Write::Upsert {
        sobject: "Task".into(),
        external_field: "ctiCallId__c".into(),
        external_value: call.into(),
        fields: fields.as_object().cloned().unwrap(),
        create_only,
    }
}

struct Rig {
    fake: FakeSalesforce,
    outbox: Outbox,
    clock: Arc<ManualClock>,
    worker: Worker,
}

async fn rig(db: &TestDb) -> Rig {
    let fake = FakeSalesforce::start().await;
    let store = db.store().await;
    let client = Arc::new(jwt_client(&fake, &store).await);
    let outbox = Outbox::new(store);
    let clock = ManualClock::at(T0);
    let worker = Worker::new(
        "worker-1",
        outbox.clone(),
        client,
        WorkerConfig::default(),
        clock.clone(),
    );
    Rig {
        fake,
        outbox,
        clock,
        worker,
    }
}

impl Rig {
    /// Runs rounds until nothing is claimable now.
    async fn drain(&self) -> usize {
        let mut rounds = 0;
        loop {
            let report = self.worker.run_once().await.unwrap();
            if report.claimed == 0 {
                return rounds;
            }
            rounds += 1;
            assert!(rounds < 100, "outbox does not drain");
        }
    }

    fn task_by_call(&self, call: &str) -> Vec<Map<String, Value>> {
        self.fake
            .records("Task")
            .into_iter()
            .filter(|t| t["ctiCallId__c"] == call)
            .collect()
    }
}

dual_db_test!(
    a_rolled_back_transaction_writes_nothing,
    |db: TestDb| async move {
        let rig = rig(&db).await;
        let mut tx = rig.outbox.store().pool().begin().await.unwrap();
        enqueue(&mut tx, &task("rolled-back", json!({"Subject": "Call"})), T0)
            .await
            .unwrap();
        tx.rollback().await.unwrap();
        let mut tx = rig.outbox.store().pool().begin().await.unwrap();
        enqueue(&mut tx, &task("committed", json!({"Subject": "Call"})), T0)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        rig.drain().await;
        assert_eq!(rig.fake.records("Task").len(), 1);
        assert_eq!(rig.task_by_call("committed").len(), 1);
    }
);

dual_db_test!(rows_of_many_calls_share_one_request, |db: TestDb| async move {
    let rig = rig(&db).await;
    for i in 0..150 {
        rig.outbox
            .enqueue(
                &task(
                    &format!("call-{i}"),
                    json!({"Subject": "Inbound call", "CallType": "Inbound"}),
                ),
                T0,
            )
            .await
            .unwrap();
    }
    let contact = rig.fake.insert("Contact", json!({"LastName": "Díaz"}));
    rig.outbox
        .enqueue(
            &Write::Update {
                sobject: "Contact".into(),
                id: contact.clone(),
                fields: json!({"neoContactId__c": "9"}).as_object().cloned().unwrap(),
            },
            T0,
        )
        .await
        .unwrap();
    let report = rig.worker.run_once().await.unwrap();
    assert_eq!(report.delivered, 151);
    // One collection per sObject kind, both in one Composite request: one API call.
    assert_eq!(report.requests, 1);
    assert_eq!(rig.fake.requests("composite"), 1);
    assert_eq!(rig.fake.requests("composite_sobjects"), 2);
    assert_eq!(rig.fake.requests("collections"), 0);
    assert_eq!(rig.fake.api_calls(), 1, "one API call for 151 writes");
    let tasks = rig.fake.records("Task");
    assert_eq!(tasks.len(), 150);
    assert!(
        tasks.iter().all(|t| t["TaskSubtype"] == "Call"),
        "created as calls"
    );
    assert_eq!(
        rig.fake.record("Contact", &contact).unwrap()["neoContactId__c"],
        "9"
    );
    let stats = rig.outbox.stats().await.unwrap();
    assert_eq!((stats.pending, stats.delivered, stats.parked), (0, 151, 0));
});

dual_db_test!(writes_to_one_record_arrive_in_order, |db: TestDb| async move {
    let rig = rig(&db).await;
    rig.outbox
        .enqueue(
            &task("c1", json!({"Subject": "Call", "Status": "In Progress"})),
            T0,
        )
        .await
        .unwrap();
    rig.outbox
        .enqueue(
            &task("c1", json!({"Status": "Completed", "CallDurationInSeconds": 42})),
            T0,
        )
        .await
        .unwrap();
    rig.outbox
        .enqueue(&task("c1", json!({"CallDisposition": "Venta / Contado"})), T0)
        .await
        .unwrap();
    // Not claimed yet: the three writes are one row, one record of one request, later
    // fields over earlier ones.
    assert_eq!(rig.outbox.stats().await.unwrap().pending, 1);
    let first = rig.worker.run_once().await.unwrap();
    assert_eq!((first.claimed, first.requests), (1, 1));
    assert_eq!(rig.drain().await, 0);
    let tasks = rig.task_by_call("c1");
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0]["Status"], "Completed");
    assert_eq!(tasks[0]["CallDurationInSeconds"], 42);
    assert_eq!(tasks[0]["CallDisposition"], "Venta / Contado");
    assert_eq!(
        tasks[0]["TaskSubtype"], "Call",
        "set at creation, then left alone"
    );
});

dual_db_test!(
    a_crash_after_sending_redelivers_without_a_second_task,
    |db: TestDb| async move {
        let rig = rig(&db).await;
        rig.outbox
            .enqueue(
                &task("crash", json!({"Subject": "Call", "CallType": "Outbound"})),
                T0,
            )
            .await
            .unwrap();

        // A worker claims the row, Salesforce receives the write, and the process dies before it
        // records the success.
        let claimed = rig
            .outbox
            .claim("doomed-worker", 10, Duration::from_secs(120), T0)
            .await
            .unwrap();
        assert_eq!(claimed.len(), 1);
        let client = jwt_client(&rig.fake, rig.outbox.store()).await;
        let mut record = Map::new();
        record.insert("TaskSubtype".into(), json!("Call"));
        record.insert("Subject".into(), json!("Call"));
        record.insert("CallType".into(), json!("Outbound"));
        record.insert("ctiCallId__c".into(), json!("crash"));
        let sent = client
            .upsert_collection("Task", "ctiCallId__c", &[record])
            .await
            .unwrap();
        assert!(sent[0].success);

        // While the lease holds, nobody else takes the row.
        assert_eq!(rig.worker.run_once().await.unwrap().claimed, 0);
        rig.clock.advance_ms(121_000);
        let report = rig.worker.run_once().await.unwrap();
        assert_eq!(report.delivered, 1, "{report:?}");
        assert_eq!(
            rig.task_by_call("crash").len(),
            1,
            "the redelivery updated the Task, it did not insert another"
        );
        assert_eq!(rig.outbox.stats().await.unwrap().delivered, 1);
    }
);

dual_db_test!(
    an_outage_delays_every_write_and_loses_none,
    |db: TestDb| async move {
        let rig = rig(&db).await;
        rig.fake.set_unavailable(true);
        for i in 0..25 {
            rig.outbox
                .enqueue(
                    &task(
                        &format!("o{i}"),
                        json!({"Subject": "Call", "Status": "In Progress"}),
                    ),
                    T0,
                )
                .await
                .unwrap();
            rig.outbox
                .enqueue(&task(&format!("o{i}"), json!({"Status": "Completed"})), T0)
                .await
                .unwrap();
        }
        for _ in 0..3 {
            let report = rig.worker.run_once().await.unwrap();
            assert_eq!(report.delivered, 0);
            rig.clock.advance_ms(5_000);
        }
        assert_eq!(
            rig.outbox.stats().await.unwrap().pending,
            25,
            "each call's two writes wait as one"
        );
        rig.fake.set_unavailable(false);
        rig.clock.advance_ms(120_000);
        rig.drain().await;
        let tasks = rig.fake.records("Task");
        assert_eq!(tasks.len(), 25, "each call's Task exactly once");
        assert!(
            tasks.iter().all(|t| t["Status"] == "Completed"),
            "in order: the last write wins"
        );
        let stats = rig.outbox.stats().await.unwrap();
        assert_eq!((stats.pending, stats.parked, stats.delivered), (0, 0, 25));
    }
);

dual_db_test!(lock_contention_is_retried, |db: TestDb| async move {
    let rig = rig(&db).await;
    rig.fake.lock_rows(2);
    for i in 0..3 {
        rig.outbox
            .enqueue(&task(&format!("l{i}"), json!({"Subject": "Call"})), T0)
            .await
            .unwrap();
    }
    let report = rig.worker.run_once().await.unwrap();
    assert_eq!((report.delivered, report.retried), (1, 2));
    rig.clock.advance_ms(60_000);
    rig.drain().await;
    assert_eq!(rig.fake.records("Task").len(), 3);
    let delivered = rig.outbox.entries("delivered", 10).await.unwrap();
    assert!(delivered.iter().any(|e| e.attempts == 2), "{delivered:?}");
});

dual_db_test!(
    a_permanent_error_parks_one_row_and_blocks_nothing,
    |db: TestDb| async move {
        let rig = rig(&db).await;
        rig.fake
            .reject_writes_where("CallDisposition", json!("forbidden"));
        rig.outbox
            .enqueue(
                &task("p1", json!({"Subject": "Call", "CallDisposition": "forbidden"})),
                T0,
            )
            .await
            .unwrap();
        let first = rig.worker.run_once().await.unwrap();
        assert_eq!(first.parked, 1);
        // A parked write is not pending: the next write to the record is a row of its own.
        rig.outbox
            .enqueue(
                &task("p1", json!({"Subject": "Call", "CallDisposition": "Venta"})),
                T0,
            )
            .await
            .unwrap();
        rig.outbox
            .enqueue(&task("p2", json!({"Subject": "Call"})), T0)
            .await
            .unwrap();
        rig.outbox
            .enqueue(
                &task("p3", json!({"Subject": "Call", "CallType": "Sideways"})),
                T0,
            )
            .await
            .unwrap();
        rig.drain().await;
        let parked = rig.outbox.entries("parked", 10).await.unwrap();
        assert_eq!(parked.len(), 2, "{parked:?}");
        assert!(
            parked[0]
                .last_error
                .as_deref()
                .unwrap()
                .contains("FIELD_CUSTOM_VALIDATION_EXCEPTION")
        );
        assert!(
            parked[1]
                .last_error
                .as_deref()
                .unwrap()
                .contains("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST")
        );
        assert_eq!(
            rig.task_by_call("p1")[0]["CallDisposition"],
            "Venta",
            "the next write of the record went through"
        );
        assert_eq!(rig.task_by_call("p2").len(), 1);

        // An operator fixes the cause and requeues.
        rig.fake
            .reject_writes_where("CallDisposition", json!("nothing-matches-this"));
        assert!(rig.outbox.requeue(parked[0].id, T0).await.unwrap());
        rig.drain().await;
        assert_eq!(rig.outbox.stats().await.unwrap().parked, 1);
    }
);

dual_db_test!(
    a_malformed_answer_parks_and_the_worker_goes_on,
    |db: TestDb| async move {
        let rig = rig(&db).await;
        rig.outbox
            .enqueue(&task("g1", json!({"Subject": "Call"})), T0)
            .await
            .unwrap();
        rig.fake.answer_garbage_once();
        let report = rig.worker.run_once().await.unwrap();
        assert_eq!(report.parked, 1);
        rig.outbox
            .enqueue(&task("g2", json!({"Subject": "Call"})), T0)
            .await
            .unwrap();
        rig.drain().await;
        assert_eq!(rig.task_by_call("g2").len(), 1);
    }
);

dual_db_test!(
    concurrent_workers_never_hold_the_same_row,
    |db: TestDb| async move {
        let store = db.store().await;
        let outbox = Outbox::new(store);
        for i in 0..300 {
            outbox
                .enqueue(&task(&format!("w{i}"), json!({"Subject": "Call"})), T0)
                .await
                .unwrap();
        }
        let claims = (0..6).map(|w| {
            let outbox = outbox.clone();
            tokio::spawn(async move {
                let mut mine = Vec::new();
                loop {
                    let batch = outbox
                        .claim(&format!("w{w}"), 20, Duration::from_secs(60), T0)
                        .await
                        .unwrap();
                    if batch.is_empty() {
                        return mine;
                    }
                    mine.extend(batch.into_iter().map(|r| r.id));
                }
            })
        });
        let mut seen = HashSet::new();
        let mut total = 0;
        for claim in claims {
            for id in claim.await.unwrap() {
                total += 1;
                assert!(seen.insert(id), "row {id} claimed twice");
            }
        }
        assert_eq!(total, 300);
    }
);

dual_db_test!(
    the_backlog_drains_as_soon_as_the_org_answers_again,
    |db: TestDb| async move {
        let rig = rig(&db).await;
        rig.fake.set_unavailable(true);
        for i in 0..10 {
            rig.outbox
                .enqueue(&task(&format!("b{i}"), json!({"Subject": "Call"})), T0)
                .await
                .unwrap();
        }
        assert_eq!(rig.worker.run_once().await.unwrap().retried, 10);
        rig.fake.set_unavailable(false);
        // The backlog waits out its backoff; a new write is due now and goes through...
        rig.outbox
            .enqueue(&task("fresh", json!({"Subject": "Call"})), T0)
            .await
            .unwrap();
        let first = rig.worker.run_once().await.unwrap();
        assert_eq!((first.claimed, first.delivered), (1, 1));
        // ...which tells the worker the org is back: the backlog is due at once, no clock change.
        let second = rig.worker.run_once().await.unwrap();
        assert_eq!(second.delivered, 10, "{second:?}");
        assert_eq!(rig.fake.records("Task").len(), 11);
    }
);

dual_db_test!(
    claims_of_a_worker_that_stopped_beating_are_taken_at_once,
    |db: TestDb| async move {
        let store = db.store().await;
        let outbox = Outbox::new(store);
        outbox
            .enqueue(&task("dead-1", json!({"Status": "In Progress"})), T0)
            .await
            .unwrap();
        outbox
            .enqueue(&task("alive-1", json!({"Status": "In Progress"})), T0)
            .await
            .unwrap();
        let lease = Duration::from_secs(120);
        // "dead" claimed one row and beat for the last time at T0 (its process was killed);
        // "busy" claimed the other and is still beating.
        outbox.beat("dead", T0).await.unwrap();
        outbox.beat("busy", T0).await.unwrap();
        let dead = outbox.claim("dead", 1, lease, T0).await.unwrap();
        let busy = outbox.claim("busy", 1, lease, T0).await.unwrap();
        assert_eq!((dead.len(), busy.len()), (1, 1));

        // 4 s later nobody may take either; 6 s later the dead worker's row is free, long
        // before its 120 s lease ends, and the busy worker's is not.
        outbox.beat("busy", T0 + 6_000).await.unwrap();
        assert!(
            outbox
                .claim("next", 10, lease, T0 + 4_000)
                .await
                .unwrap()
                .is_empty()
        );
        let taken = outbox.claim("next", 10, lease, T0 + 6_000).await.unwrap();
        assert_eq!(taken.iter().map(|r| r.id).collect::<Vec<_>>(), vec![dead[0].id]);
    }
);

dual_db_test!(
    a_write_arriving_while_its_record_is_in_flight_waits_its_turn,
    |db: TestDb| async move {
        let rig = rig(&db).await;
        rig.outbox
            .enqueue(
                &task("f1", json!({"Subject": "Call", "Status": "In Progress"})),
                T0,
            )
            .await
            .unwrap();
        // Another worker is delivering that row: the next write cannot join it.
        let in_flight = rig
            .outbox
            .claim("elsewhere", 10, Duration::from_secs(120), T0)
            .await
            .unwrap();
        assert_eq!(in_flight.len(), 1);
        rig.outbox
            .enqueue(&task("f1", json!({"Status": "Completed"})), T0)
            .await
            .unwrap();
        assert_eq!(rig.outbox.stats().await.unwrap().pending, 2);
        assert_eq!(
            rig.worker.run_once().await.unwrap().claimed,
            0,
            "not before the first"
        );
        rig.outbox
            .mark_delivered("elsewhere", &[(in_flight[0].id, None)], T0)
            .await
            .unwrap();
        assert_eq!(rig.drain().await, 1);
        assert_eq!(rig.task_by_call("f1")[0]["Status"], "Completed");
    }
);

dual_db_test!(
    a_round_of_several_sobjects_goes_as_one_composite_and_fails_row_by_row,
    |db: TestDb| async move {
        let rig = rig(&db).await;
        let contact = rig.fake.insert("Contact", json!({"LastName": "Ruiz"}));
        let update = |id: &str, value: &str| Write::Update {
            sobject: "Contact".into(),
            id: id.into(),
            fields: json!({"neoContactId__c": value}).as_object().cloned().unwrap(),
        };
        rig.outbox
            .enqueue(&task("k1", json!({"Subject": "Call"})), T0)
            .await
            .unwrap();
        rig.outbox.enqueue(&update(&contact, "7"), T0).await.unwrap();
        rig.outbox
            .enqueue(&update("003000000000099ZZZ", "8"), T0)
            .await
            .unwrap();

        // The org is down: the whole round waits, nothing is parked.
        rig.fake.set_unavailable(true);
        let down = rig.worker.run_once().await.unwrap();
        assert_eq!((down.requests, down.retried, down.parked), (1, 3, 0));
        rig.fake.set_unavailable(false);
        rig.clock.advance_ms(120_000);

        // Back: one Composite request; the Task and the existing contact are written, the
        // write to a record that does not exist parks alone.
        let up = rig.worker.run_once().await.unwrap();
        assert_eq!((up.requests, up.delivered, up.parked), (1, 2, 1));
        assert_eq!(rig.task_by_call("k1").len(), 1);
        assert_eq!(
            rig.fake.record("Contact", &contact).unwrap()["neoContactId__c"],
            "7"
        );
        let parked = rig.outbox.entries("parked", 10).await.unwrap();
        assert_eq!(parked.len(), 1, "{parked:?}");
        assert!(parked[0].record_key.contains("003000000000099ZZZ"), "{parked:?}");
    }
);
