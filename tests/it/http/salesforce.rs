//! The write-back through the running server: a call handled over the API becomes one Task in
//! the (fake) org, with its disposition and the popped record; the softphone's Salesforce
//! helpers refuse bad input and other agents' calls; the operator's view.

use std::time::Duration;

use ctibridge::salesforce::config::AuthFlow;
use serde_json::{Value, json};

use super::*;
use crate::support::fake_salesforce::FakeSalesforce;

/// `POST /api/salesforce/{name}`.
async fn helper(app: &TestApp, token: Option<&str>, name: &str, body: Value) -> Answer {
    let mut request = app
        .client
        .post(app.url(&format!("/api/salesforce/{name}")))
        .json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    answer(request.send().await.unwrap()).await
}

async fn admin_view(app: &TestApp) -> Value {
    let response = app
        .client
        .get(app.url("/admin/salesforce"))
        .bearer_auth(OPERATOR)
        .send()
        .await
        .unwrap();
    answer(response).await.ok().clone()
}

/// Waits (bounded) until the fake org satisfies `done`: the worker delivers in the background.
async fn eventually(what: &str, done: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !done() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// An inbound call answered by agent1; returns (token, socket, call id).
async fn answered_call(app: &TestApp, ani: &str) -> (String, Socket, u64) {
    let token = available(app, "agent1", "1001").await;
    let (mut socket, _) = ws_connect(app, &token).await;
    let call = inbound_call(app, ani, Some(ani)).await;
    wait_for(&mut socket, "callOffered").await;
    sim(app, "agents/agent1/answer", json!({})).await.ok();
    wait_for(&mut socket, "callConnected").await;
    (token, socket, call)
}

#[tokio::test]
async fn a_call_handled_over_the_api_becomes_one_task_with_its_disposition() {
    let fake = FakeSalesforce::start().await;
    let contact = fake.insert("Contact", json!({"LastName": "García", "Phone": "1155551001"}));
    let app =
        TestApp::spawn_with(|c| c.salesforce = crate::salesforce::config_for(&fake, AuthFlow::JwtBearer))
            .await;

    let (token, mut socket, call) = answered_call(&app, "1155551001").await;
    let popped = helper(
        &app,
        Some(&token),
        "popped",
        json!({"callId": call, "recordId": contact, "objectType": "Contact"}),
    )
    .await;
    assert_eq!(popped.status, 202, "{}", popped.body);

    sim(&app, &format!("calls/{call}/hangup"), json!({})).await.ok();
    wait_for(&mut socket, "callEnded").await;
    rpc(
        &app,
        Some(&token),
        "UpdateContact",
        json!({"category": 1, "subcategory": 11, "comment": "ok"}),
    )
    .await
    .ok();
    rpc(&app, Some(&token), "CRM_Available", json!({})).await.ok();

    eventually("the categorized Task", || {
        fake.records("Task")
            .first()
            .is_some_and(|t| t.get("CallDisposition").is_some() && t["Status"] == "Completed")
    })
    .await;
    let tasks = fake.records("Task");
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0]["CallDisposition"], "Contacted / Sale");
    assert_eq!(tasks[0]["WhoId"], json!(contact));
    assert_eq!(tasks[0]["CallType"], "Inbound");
    eventually("externalData on the contact", || {
        fake.record("Contact", &contact)
            .unwrap()
            .contains_key("neoContactId__c")
    })
    .await;

    let view = admin_view(&app).await;
    assert_eq!(view["configured"], true);
    assert_eq!(view["flow"], "jwt_bearer");
    assert!(view["apiUsage"]["used"].as_u64().unwrap() > 0, "{view}");
    assert_eq!(view["outbox"]["parked"], 0);
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .bearer_auth(OPERATOR)
        .send()
        .await
        .unwrap();
    assert_eq!(metrics.status(), 200);
    let text = metrics.text().await.unwrap();
    assert!(text.contains("ctibridge_salesforce_api_max 15000"), "{text}");
    assert!(text.contains("ctibridge_outbox_parked 0"), "{text}");
    let anonymous = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);

    // The adapter is told the server writes the Task (so it does not saveLog a second one).
    let config = crate::http::get_json(&app, "/softphone/adapter-config.json", None).await;
    assert_eq!(config["taskLog"], "server");
}

#[tokio::test]
async fn a_pop_while_the_call_rings_links_that_call_and_no_other() {
    let fake = FakeSalesforce::start().await;
    let ana = fake.insert("Contact", json!({"LastName": "García", "Phone": "1155551001"}));
    let luis = fake.insert("Contact", json!({"LastName": "Pérez", "Phone": "1155551002"}));
    let app =
        TestApp::spawn_with(|c| c.salesforce = crate::salesforce::config_for(&fake, AuthFlow::JwtBearer))
            .await;
    let token = available(&app, "agent1", "1001").await;
    let (mut socket, _) = ws_connect(&app, &token).await;

    // The first call: popped at once on the ring event, before anyone answers, naming no call.
    let first = inbound_call(&app, "1155551001", None).await;
    wait_for(&mut socket, "callOffered").await;
    let popped = helper(
        &app,
        Some(&token),
        "popped",
        json!({"recordId": ana, "objectType": "Contact"}),
    )
    .await;
    assert_eq!(
        popped.status, 202,
        "a pop while ringing is taken: {}",
        popped.body
    );
    let sync_id = helper(&app, Some(&token), "new-sync-id", json!({"callId": first})).await;
    sync_id.ok();
    sim(&app, "agents/agent1/answer", json!({})).await.ok();
    wait_for(&mut socket, "callConnected").await;
    rpc(&app, Some(&token), "Hangup", json!({})).await.ok();
    // In wrap-up the contact still names the call: a pop now is that call's too.
    let p = rpc(&app, Some(&token), "Position", json!({})).await;
    assert_eq!(p.ok()["contact"]["callId"], json!(first));
    rpc(
        &app,
        Some(&token),
        "UpdateContact",
        json!({"category": 1, "subcategory": 11}),
    )
    .await
    .ok();
    rpc(&app, Some(&token), "CRM_Available", json!({})).await.ok();

    // The second call rings: naming the first (the previous call) or 0 never touches the
    // first call's Task; 0 means "no call named" and links the ringing one.
    let second = inbound_call(&app, "1155551002", None).await;
    wait_for(&mut socket, "callOffered").await;
    let stale = helper(
        &app,
        Some(&token),
        "popped",
        json!({"callId": first, "recordId": luis, "objectType": "Contact"}),
    )
    .await;
    assert_eq!(
        (stale.status, stale.code()),
        (409, "not_current_call"),
        "{}",
        stale.body
    );
    let zero = helper(
        &app,
        Some(&token),
        "popped",
        json!({"callId": 0, "recordId": luis, "objectType": "Contact"}),
    )
    .await;
    assert_eq!(zero.status, 202, "{}", zero.body);
    sim(&app, "agents/agent1/answer", json!({})).await.ok();
    wait_for(&mut socket, "callConnected").await;
    sim(&app, &format!("calls/{second}/hangup"), json!({})).await.ok();
    wait_for(&mut socket, "callEnded").await;

    let task_of = |call: u64| {
        fake.records("Task")
            .into_iter()
            .find(|t| t.get("ctiCallId__c") == Some(&json!(call.to_string())))
    };
    eventually("both Tasks completed and linked", || {
        task_of(first).is_some_and(|t| t.get("CallDisposition").is_some())
            && task_of(second).is_some_and(|t| t.get("Status") == Some(&json!("Completed")))
    })
    .await;
    let first_task = task_of(first).unwrap();
    assert_eq!(
        first_task["WhoId"],
        json!(ana),
        "born linked to the record popped while ringing"
    );
    assert_eq!(first_task["CallObject"], json!(first.to_string()));
    assert_eq!(task_of(second).unwrap()["WhoId"], json!(luis));
    assert_eq!(fake.records("Task").len(), 2);
    eventually("externalData on both records", || {
        fake.record("Contact", &ana)
            .unwrap()
            .contains_key("neoContactId__c")
            && fake
                .record("Contact", &luis)
                .unwrap()
                .contains_key("neoContactId__c")
    })
    .await;
}

#[tokio::test]
async fn the_new_record_sync_finds_the_saved_record() {
    let fake = FakeSalesforce::start().await;
    let app =
        TestApp::spawn_with(|c| c.salesforce = crate::salesforce::config_for(&fake, AuthFlow::JwtBearer))
            .await;
    let (token, _socket, call) = answered_call(&app, "1177770000").await;

    let fresh = helper(&app, Some(&token), "new-sync-id", json!({"callId": call})).await;
    let sync_id = fresh.ok()["neoSyncId"]
        .as_str()
        .expect("a string: 18 digits exceed JavaScript numbers")
        .to_owned();
    assert!(
        sync_id.len() >= 15 && sync_id.chars().all(|c| c.is_ascii_digit()),
        "{sync_id}"
    );

    let not_yet = helper(
        &app,
        Some(&token),
        "sync",
        json!({"callId": call, "neoSyncId": sync_id}),
    )
    .await;
    assert_eq!((not_yet.status, not_yet.code()), (404, "not_found"));

    let lead = fake.insert_unchecked(
        "Lead",
        json!({"LastName": "Nueva", "Company": "-", "neoSyncId__c": sync_id.parse::<i64>().unwrap()}),
    );
    let found = helper(
        &app,
        Some(&token),
        "sync",
        json!({"callId": call, "neoSyncId": sync_id}),
    )
    .await;
    assert_eq!(found.ok()["recordId"], json!(lead));
    assert_eq!(found.body["objectType"], "Lead");
    eventually("the Task linked to the lead", || {
        fake.records("Task")
            .first()
            .is_some_and(|t| t.get("WhoId") == Some(&json!(lead)))
    })
    .await;
}

#[tokio::test]
async fn the_helpers_refuse_bad_input_and_other_agents_calls() {
    let app = TestApp::spawn().await;
    let (token, _socket, call) = answered_call(&app, "1155552222").await;
    let other = available(&app, "agent2", "1002").await;
    let record = "003000000000001AAA";

    let none = helper(
        &app,
        None,
        "popped",
        json!({"callId": call, "recordId": record, "objectType": "Contact"}),
    )
    .await;
    assert_eq!(none.status, 401);
    let theirs = helper(
        &app,
        Some(&other),
        "popped",
        json!({"callId": call, "recordId": record, "objectType": "Contact"}),
    )
    .await;
    // agent2 has no call of its own: naming agent1's is refused, never linked.
    assert_eq!((theirs.status, theirs.code()), (409, "not_current_call"));
    let bad_id = helper(
        &app,
        Some(&token),
        "popped",
        json!({"callId": call, "recordId": "x'; --", "objectType": "Contact"}),
    )
    .await;
    assert_eq!((bad_id.status, bad_id.code()), (422, "invalid_value"));
    let bad_type = helper(
        &app,
        Some(&token),
        "popped",
        json!({"callId": call, "recordId": record, "objectType": "Contact WHERE"}),
    )
    .await;
    assert_eq!(bad_type.status, 422);
    let unknown_field = helper(
        &app,
        Some(&token),
        "popped",
        json!({"callId": call, "recordId": record, "objectType": "Contact", "x": 1}),
    )
    .await;
    assert_eq!(unknown_field.status, 422);
    let malformed = app
        .client
        .post(app.url("/api/salesforce/popped"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), 400);

    // Without credentials: writes wait in the outbox, searches say why they cannot run.
    let ok = helper(
        &app,
        Some(&token),
        "popped",
        json!({"callId": call, "recordId": record, "objectType": "Contact"}),
    )
    .await;
    assert_eq!(ok.status, 202);
    let sync = helper(
        &app,
        Some(&token),
        "sync",
        json!({"callId": call, "neoSyncId": "123"}),
    )
    .await;
    assert_eq!((sync.status, sync.code()), (503, "salesforce_not_configured"));
    let bad_sync = helper(
        &app,
        Some(&token),
        "sync",
        json!({"callId": call, "neoSyncId": "12a"}),
    )
    .await;
    assert_eq!(bad_sync.status, 422);
    let view = admin_view(&app).await;
    assert_eq!(view["configured"], false);
    assert!(view["outbox"]["pending"].as_i64().unwrap() >= 1, "{view}");
    let config = crate::http::get_json(&app, "/softphone/adapter-config.json", None).await;
    assert_eq!(
        config["taskLog"], "adapter",
        "no credentials: the adapter logs the call"
    );
}
