//! The simulation API: customers and devices of the embedded engine, over HTTP.

use serde_json::json;

use super::*;

#[tokio::test]
async fn an_inbound_call_without_data_offers_a_new_contact_keyed_by_its_own_id() {
    let app = TestApp::spawn().await;
    let token = available(&app, "agent1", "1001").await;
    let (mut socket, _) = ws_connect(&app, &token).await;
    let call_id = inbound_call(&app, "1155550100", None).await;
    let offered = wait_for(&mut socket, "callOffered").await;
    let contact_id = offered["call"]["contactId"].as_i64().unwrap();
    assert_eq!(offered["call"]["callId"], call_id);
    assert_eq!(offered["call"]["clavesf"], format!("{contact_id}-"));
    assert_eq!(offered["call"]["crmKey"], contact_id.to_string());
    let view = app
        .client
        .get(app.url(&format!("/sim/calls/{call_id}")))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(view.status(), 200);
    let view: serde_json::Value = view.json().await.unwrap();
    assert_eq!(view["state"], "ringing");
}

#[tokio::test]
async fn the_customer_presses_digits_and_hangs_up() {
    let app = TestApp::spawn().await;
    let token = available(&app, "agent1", "1001").await;
    let (mut socket, _) = ws_connect(&app, &token).await;
    let call_id = inbound_call(&app, "1155550100", Some("31987456")).await;
    sim(&app, "agents/agent1/answer", json!({})).await.ok();
    wait_for(&mut socket, "callConnected").await;
    sim(&app, &format!("calls/{call_id}/dtmf"), json!({"digits": "42#"}))
        .await
        .ok();
    let dtmf = wait_for(&mut socket, "customerDtmf").await;
    assert_eq!(dtmf["digits"], "42#");
    sim(&app, &format!("calls/{call_id}/hangup"), json!({}))
        .await
        .ok();
    let ended = wait_for(&mut socket, "callEnded").await;
    assert_eq!(ended["reason"], "customerHangup");
    assert_eq!(
        rpc(&app, Some(&token), "Position", json!({})).await.ok()["state"],
        "wrapUp"
    );
}

#[tokio::test]
async fn a_preview_dialer_step_hands_a_lead_to_the_agent() {
    let app = TestApp::spawn().await;
    let token = login(&app, "agent1", "1001").await;
    let (mut socket, _) = ws_connect(&app, &token).await;
    let loaded = sim(
        &app,
        "campaigns/99/leads",
        json!({"leads": [{"phone": "1155550123", "key": "0035e00000AbCdE"}]}),
    )
    .await;
    assert_eq!(loaded.ok()["loaded"], 1);
    rpc(&app, Some(&token), "Login_Campaign", json!({"campaign": 99}))
        .await
        .ok();
    sim(&app, "campaigns/99/dial", json!({})).await.ok();
    let handed = wait_for(&mut socket, "contactHanded").await;
    assert_eq!(handed["contact"]["phoneNumber"], "1155550123");
    assert_eq!(handed["contact"]["crmKey"], "0035e00000AbCdE");
    // The agent dials it; the scripted customer answers at once.
    sim(
        &app,
        "customers/1155550123/script",
        json!({"behaviour": "answer", "afterSecs": 0}),
    )
    .await
    .ok();
    rpc(&app, Some(&token), "Dial", json!({})).await.ok();
    wait_for(&mut socket, "callConnected").await;
}

#[tokio::test]
async fn simulation_errors_have_the_error_shape() {
    let app = TestApp::spawn().await;
    let unknown_queue = sim(&app, "inbound", json!({"ani": "1155550100", "queue": "nowhere"})).await;
    assert_eq!(
        (unknown_queue.status, unknown_queue.code()),
        (404, "unknown_queue")
    );
    let missing = sim(&app, "inbound", json!({"ani": "1155550100"})).await;
    assert_eq!((missing.status, missing.code()), (422, "invalid_value"));
    let not_ringing = sim(&app, "agents/agent1/answer", json!({})).await;
    assert!(matches!(not_ringing.status, 401 | 409), "{}", not_ringing.body);
    let bad_path = sim(&app, "calls/not-a-number/hangup", json!({})).await;
    assert_eq!((bad_path.status, bad_path.code()), (404, "not_found"));
}

#[tokio::test]
async fn an_unknown_agent_is_404_not_a_failed_login() {
    let app = TestApp::spawn().await;
    let unknown = sim(&app, "agents/nobody/answer", json!({})).await;
    assert_eq!((unknown.status, unknown.code()), (404, "unknown_user"));
    let logged_out = sim(&app, "agents/agent1/answer", json!({})).await;
    assert_eq!((logged_out.status, logged_out.code()), (409, "not_logged_in"));
}
