//! CRM interaction through the running server and a real CRM test server: a campaign's site
//! receives its request when a call connects (or on a marked disposition) in every format, by
//! GET and clean URL, with token authentication; outages, refusals, slow and huge answers; the
//! admin API and its refusals; the configuration file.

mod admin;
mod config;
mod delivery;
mod softphone;
mod storage;

use std::time::Duration;

use serde_json::{Value, json};

use crate::http::{ADMIN, Socket, available, inbound_call, rpc, sim, wait_for, ws_connect};
use crate::support::crm_server::CrmServer;
use crate::support::server::TestApp;

/// A server whose CRM worker retries quickly (tests wait on outcomes, not on time).
async fn app() -> TestApp {
    TestApp::spawn_with(|c| {
        c.crm.delivery.backoff_base_ms = 50;
        c.crm.delivery.backoff_max_secs = 1;
        c.crm.delivery.poll_interval_ms = 100;
        c.crm.delivery.timeout_secs = 2;
    })
    .await
}

/// `method /admin/crm/{path}` with the admin token; (status, JSON body).
async fn admin(app: &TestApp, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut request = app
        .client
        .request(method, app.url(&format!("/admin/crm/{path}")))
        .bearer_auth(ADMIN);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn put_site(app: &TestApp, name: &str, site: Value) {
    let (status, body) = admin(app, reqwest::Method::PUT, &format!("sites/{name}"), Some(site)).await;
    assert!(status == 200 || status == 201, "{status}: {body}");
}

/// The site `acme` as `site` says, and campaign 97 bound to it with `params`.
async fn bind_acme_to_97(app: &TestApp, site: Value, params: Value) {
    put_site(app, "acme", site).await;
    put_campaign(app, 97, json!({"site": "acme", "params": params})).await;
}

async fn put_campaign(app: &TestApp, campaign: i64, binding: Value) {
    let (status, body) = admin(
        app,
        reqwest::Method::PUT,
        &format!("campaigns/{campaign}"),
        Some(binding),
    )
    .await;
    assert!(status == 200 || status == 201, "{status}: {body}");
}

/// The CRM outbox as the operator sees it.
async fn outbox(app: &TestApp, state: &str) -> Value {
    let (status, body) = admin(app, reqwest::Method::GET, &format!("outbox?state={state}"), None).await;
    assert_eq!(status, 200, "{body}");
    body
}

/// Waits (bounded) until the outbox counts satisfy `done`, woken by the CRM's requests.
async fn outbox_until(app: &TestApp, crm: &CrmServer, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let view = outbox(app, "pending").await;
        if done(&view["counts"]) {
            return view;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}: {}",
            view["counts"]
        );
        // The rows change after the CRM answers: wait for its next request (or a moment).
        let _ =
            tokio::time::timeout(Duration::from_millis(200), crm.wait_for(crm.received().len() + 1)).await;
    }
}

/// The demo's inbound campaign: an agent answers a call from `ani` whose IVR collected `key`;
/// returns the agent's token, socket and the call id.
async fn answered_call(app: &TestApp, ani: &str, key: &str) -> (String, Socket, u64) {
    let token = available(app, "agent1", "1001").await;
    let (mut socket, _) = ws_connect(app, &token).await;
    let call = inbound_call(app, ani, Some(key)).await;
    wait_for(&mut socket, "callOffered").await;
    sim(app, "agents/agent1/answer", json!({})).await.ok();
    wait_for(&mut socket, "callConnected").await;
    (token, socket, call)
}

/// Hangs the call up and releases the contact with `category` / `subcategory`.
async fn finish(app: &TestApp, token: &str, socket: &mut Socket, call: u64, category: i64, subcategory: i64) {
    sim(app, &format!("calls/{call}/hangup"), json!({})).await.ok();
    wait_for(socket, "callEnded").await;
    rpc(
        app,
        Some(token),
        "UpdateContact",
        json!({"category": category, "subcategory": subcategory, "comment": "done"}),
    )
    .await
    .ok();
    rpc(app, Some(token), "CRM_Available", json!({})).await.ok();
}
