//! The REST client: query paging, search, update, upsert semantics, Composite, Collections,
//! error bodies, `Sforce-Limit-Info`.

use ctibridge::salesforce::SalesforceError;
use ctibridge::salesforce::client::{Subrequest, UpsertOutcome};
use serde_json::{Map, Value, json};

use super::jwt_client;
use super::scratch_store;
use crate::support::fake_salesforce::{FakeConfig, FakeSalesforce};

fn fields(value: Value) -> Map<String, Value> {
    value.as_object().cloned().unwrap()
}

#[tokio::test]
async fn query_follows_next_records_url() {
    let fake = FakeSalesforce::start_with(FakeConfig {
        page_size: 2,
        ..FakeConfig::default()
    })
    .await;
    for i in 0..5 {
        fake.insert(
            "Contact",
            json!({"LastName": format!("Contact {i}"), "neoSyncId__c": 100 + i}),
        );
    }
    let (_db, store) = scratch_store().await;
    let client = jwt_client(&fake, &store).await;
    let records = client
        .query("SELECT Id, Name, neoSyncId__c FROM Contact")
        .await
        .unwrap();
    assert_eq!(records.len(), 5);
    assert_eq!(fake.requests("query"), 3, "three pages of two");
    let one = client
        .query("SELECT Id FROM Contact WHERE neoSyncId__c = 103")
        .await
        .unwrap();
    assert_eq!(one.len(), 1);
    assert_eq!(one[0]["attributes"]["type"], "Contact");
}

#[tokio::test]
async fn query_errors_are_typed_and_permanent() {
    let fake = FakeSalesforce::start().await;
    let (_db, store) = scratch_store().await;
    let client = jwt_client(&fake, &store).await;
    let err = client.query("SELECT Nope__c FROM Contact").await.unwrap_err();
    assert_eq!(err.error_code(), Some("INVALID_FIELD"));
    assert!(!err.is_transient());
    let err = client.query("SELEC Id FROM Contact").await.unwrap_err();
    assert_eq!(err.error_code(), Some("MALFORMED_QUERY"));
}

#[tokio::test]
async fn search_finds_phones_once_indexed() {
    let fake = FakeSalesforce::start().await;
    fake.insert(
        "Contact",
        json!({"LastName": "Gómez", "Phone": "(011) 5555-1234"}),
    );
    fake.insert("Account", json!({"Name": "Acme", "Phone": "+54 11 5555 1234"}));
    fake.insert(
        "Lead",
        json!({"LastName": "Other", "Company": "X", "Phone": "+54 11 4444 0000"}),
    );
    let (_db, store) = scratch_store().await;
    let client = jwt_client(&fake, &store).await;
    let found = client
        .search("FIND {1155551234} IN PHONE FIELDS RETURNING Contact(Id, Name), Account(Id, Name), Lead(Id, Name)")
        .await
        .unwrap();
    let types: Vec<&str> = found
        .iter()
        .map(|r| r["attributes"]["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        ["Contact", "Account"],
        "formats differ, digits match; results in RETURNING order"
    );

    // A record created through the API is not searchable yet (SOSL indexes with a delay).
    let created = client
        .upsert(
            "Contact",
            "neoSyncId__c",
            "777",
            &fields(json!({"LastName": "New", "Phone": "1133330000"})),
        )
        .await
        .unwrap();
    assert!(matches!(created, UpsertOutcome::Created(_)));
    let sosl = "FIND {1133330000} IN PHONE FIELDS RETURNING Contact(Id)";
    assert!(client.search(sosl).await.unwrap().is_empty());
    fake.index_now();
    assert_eq!(client.search(sosl).await.unwrap().len(), 1);
}

#[tokio::test]
async fn update_answers_204_and_refuses_bad_input() {
    let fake = FakeSalesforce::start().await;
    let id = fake.insert("Contact", json!({"LastName": "Ruiz"}));
    let (_db, store) = scratch_store().await;
    let client = jwt_client(&fake, &store).await;
    client
        .update("Contact", &id, &fields(json!({"neoContactId__c": "42"})))
        .await
        .unwrap();
    assert_eq!(fake.record("Contact", &id).unwrap()["neoContactId__c"], "42");

    let err = client
        .update("Contact", "not-an-id", &fields(json!({"Phone": "1"})))
        .await
        .unwrap_err();
    assert_eq!(err.error_code(), Some("MALFORMED_ID"));
    let err = client
        .update("Contact", &id, &fields(json!({"Nope__c": "1"})))
        .await
        .unwrap_err();
    assert_eq!(err.error_code(), Some("INVALID_FIELD"));
    assert!(matches!(err, SalesforceError::Api { status: 400, .. }));
}

#[tokio::test]
async fn upsert_creates_then_updates_and_reports_several_matches() {
    let fake = FakeSalesforce::start().await;
    let (_db, store) = scratch_store().await;
    let client = jwt_client(&fake, &store).await;
    let task = fields(json!({"Subject": "Call", "CallType": "Inbound", "TaskSubtype": "Call"}));
    let created = client
        .upsert("Task", "ctiCallId__c", "call-1", &task)
        .await
        .unwrap();
    let UpsertOutcome::Created(id) = created else {
        panic!("expected created, got {created:?}")
    };
    let updated = client
        .upsert(
            "Task",
            "ctiCallId__c",
            "call-1",
            &fields(json!({"Status": "Completed"})),
        )
        .await
        .unwrap();
    assert_eq!(updated, UpsertOutcome::Updated(id.clone()));
    assert_eq!(fake.records("Task").len(), 1);
    assert_eq!(fake.record("Task", &id).unwrap()["Status"], "Completed");

    fake.insert_unchecked("Contact", json!({"LastName": "A", "neoSyncId__c": 5}));
    fake.insert_unchecked("Contact", json!({"LastName": "B", "neoSyncId__c": 5}));
    let several = client
        .upsert("Contact", "neoSyncId__c", "5", &fields(json!({"Phone": "1"})))
        .await
        .unwrap();
    assert!(
        matches!(several, UpsertOutcome::MultipleMatches(ref urls) if urls.len() == 2),
        "{several:?}"
    );

    let err = client
        .upsert(
            "Task",
            "ctiCallId__c",
            "call-2",
            &fields(json!({"CallType": "Sideways"})),
        )
        .await
        .unwrap_err();
    assert_eq!(err.error_code(), Some("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"));
}

#[tokio::test]
async fn composite_is_one_api_call_and_limits_are_enforced() {
    let fake = FakeSalesforce::start().await;
    let (_db, store) = scratch_store().await;
    let client = jwt_client(&fake, &store).await;
    let requests: Vec<Subrequest> = (0..3)
        .map(|i| Subrequest {
            method: "PATCH".into(),
            url: client.data_path(&format!("/sobjects/Task/ctiCallId__c/c{i}")),
            reference_id: format!("task{i}"),
            body: Some(json!({"Subject": format!("Call {i}"), "CallType": "Outbound"})),
        })
        .collect();
    let before = fake.api_calls();
    let answers = client.composite(false, &requests).await.unwrap();
    assert_eq!(fake.api_calls() - before, 1);
    assert!(answers.iter().all(|a| a.status == 201), "{answers:?}");
    assert_eq!(fake.records("Task").len(), 3);

    let too_many: Vec<Subrequest> = (0..26)
        .map(|i| Subrequest {
            reference_id: format!("r{i}"),
            ..requests[0].clone()
        })
        .collect();
    let err = client.composite(false, &too_many).await.unwrap_err();
    assert!(matches!(
        err,
        SalesforceError::TooMany {
            limit: 25,
            got: 26,
            ..
        }
    ));
    assert_eq!(fake.api_calls() - before, 1, "refused before sending");
}

#[tokio::test]
async fn collections_report_each_record_and_limits_are_enforced() {
    let fake = FakeSalesforce::start().await;
    let (_db, store) = scratch_store().await;
    let client = jwt_client(&fake, &store).await;
    let records: Vec<Map<String, Value>> = (0..200)
        .map(|i| fields(json!({"ctiCallId__c": format!("c{i}"), "Subject": "Call", "CallType": if i == 7 { "Bogus" } else { "Inbound" }})))
        .collect();
    let results = client
        .upsert_collection("Task", "ctiCallId__c", &records)
        .await
        .unwrap();
    assert_eq!(results.len(), 200);
    assert_eq!(results.iter().filter(|r| r.success).count(), 199);
    assert_eq!(
        results[7].errors[0].error_code,
        "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    );
    assert_eq!(results[0].created, Some(true));
    assert_eq!(fake.requests("collections"), 1);

    let mut too_many = records.clone();
    too_many.push(records[0].clone());
    assert!(matches!(
        client.upsert_collection("Task", "ctiCallId__c", &too_many).await,
        Err(SalesforceError::TooMany {
            limit: 200,
            got: 201,
            ..
        })
    ));
}

#[tokio::test]
async fn limit_info_is_read_on_every_answer() {
    let fake = FakeSalesforce::start().await;
    fake.set_api_used(14_000);
    let (_db, store) = scratch_store().await;
    let client = jwt_client(&fake, &store).await;
    client.query("SELECT Id FROM Contact").await.unwrap();
    let usage = client.usage().snapshot();
    assert_eq!((usage.used, usage.max), (14_001, 15_000));
    assert!(client.usage().fraction_used().unwrap() > 0.93);
}

#[tokio::test]
async fn outages_lock_errors_and_garbage_are_typed() {
    let fake = FakeSalesforce::start().await;
    let (_db, store) = scratch_store().await;
    let client = jwt_client(&fake, &store).await;
    fake.set_unavailable(true);
    let err = client.query("SELECT Id FROM Contact").await.unwrap_err();
    assert!(matches!(err, SalesforceError::Api { status: 503, .. }));
    assert!(err.is_transient());
    fake.set_unavailable(false);

    fake.lock_rows(1);
    let err = client
        .upsert("Task", "ctiCallId__c", "x", &fields(json!({"Subject": "s"})))
        .await
        .unwrap_err();
    assert_eq!(err.error_code(), Some("UNABLE_TO_LOCK_ROW"));
    assert!(err.is_transient());

    fake.answer_garbage_once();
    let err = client.query("SELECT Id FROM Contact").await.unwrap_err();
    assert!(
        matches!(err, SalesforceError::Malformed { status: 200, .. }),
        "{err:?}"
    );
    assert!(!err.is_transient());
}

#[tokio::test]
async fn a_slow_org_is_waited_for() {
    let fake = FakeSalesforce::start().await;
    let (_db, store) = scratch_store().await;
    let client = jwt_client(&fake, &store).await;
    client.query("SELECT Id FROM Contact").await.unwrap();
    fake.set_latency(std::time::Duration::from_millis(50));
    let started = std::time::Instant::now();
    client.query("SELECT Id FROM Contact").await.unwrap();
    assert!(started.elapsed() >= std::time::Duration::from_millis(50));
}
