//! Owner routing through the running server and the fake org over real HTTP: an inbound call
//! rings first on the agent who owns the caller's Salesforce record when that agent is ready
//! for the call's campaign; otherwise, or when Salesforce fails or is slow, the call goes to the
//! queue as it would without owner routing. The Asterisk dialplan's owner endpoint.

use std::time::{Duration, Instant};

use ctibridge::config::Config;
use ctibridge::salesforce::config::AuthFlow;
use ctibridge::telephony::engine::roster::hash_password;
use serde_json::{Value, json};

use crate::http::{
    ADMIN, OPERATOR, Socket, available, inbound_call, next_json, rpc, sim, wait_for, ws_connect,
};
use crate::support::fake_salesforce::FakeSalesforce;
use crate::support::server::TestApp;

/// The Salesforce users agent1–agent3 are bound to.
const OWNER: [&str; 3] = ["005000000000001AAA", "005000000000002AAA", "005000000000003AAA"];

/// agent1–agent3 (devices 1001–1003, password `demo`) bound to [`OWNER`], the demo tokens,
/// the simulation API, Salesforce at `fake`.
fn owner_roster(c: &mut Config, fake: &FakeSalesforce) {
    let demo = hash_password("demo").unwrap();
    c.telephony.agents = (1..=3)
        .map(|n| ctibridge::telephony::config::AgentConfig {
            user: format!("agent{n}"),
            device: format!("100{n}"),
            password_hash: demo.clone(),
            role: ctibridge::telephony::Role::Agent,
            salesforce_user_id: Some(OWNER[n - 1].into()),
            salesforce_username: None,
        })
        .collect();
    c.server.simulation = Some(true);
    c.server.admin_token_hash = Some(hash_password(ADMIN).unwrap());
    c.server.operator_token_hash = Some(hash_password(OPERATOR).unwrap());
    c.salesforce = crate::salesforce::config_for(fake, AuthFlow::JwtBearer);
}

/// The server with owner routing on; returns once it holds a Salesforce token (it gets one
/// at start so that no lookup waits for it).
async fn app(fake: &FakeSalesforce, tweak: impl FnOnce(&mut Config)) -> TestApp {
    let fake_config = |c: &mut Config| owner_roster(c, fake);
    let mut configured = false;
    let app = TestApp::spawn_with(|c| {
        fake_config(c);
        tweak(c);
        configured = c.salesforce.is_configured();
    })
    .await;
    let deadline = Instant::now() + crate::http::WAIT;
    while configured && fake.requests("token") == 0 {
        assert!(Instant::now() < deadline, "no token requested at start");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    app
}

/// A ready agent with its websocket.
async fn ready(app: &TestApp, user: &str, device: &str) -> (String, Socket) {
    let token = available(app, user, device).await;
    let (socket, _) = ws_connect(app, &token).await;
    (token, socket)
}

/// The call as the engine sees it.
async fn call_view(app: &TestApp, call: u64) -> Value {
    app.client
        .get(app.url(&format!("/sim/calls/{call}")))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// The agent the call's log row names.
async fn logged_agent(app: &TestApp, call: u64) -> Option<String> {
    let store = app._db.store().await;
    sqlx::query_scalar("SELECT agent FROM call_log WHERE external_id = $1")
        .bind(call.to_string())
        .fetch_one(store.pool())
        .await
        .expect("the call's row")
}

async fn metrics(app: &TestApp) -> String {
    app.client
        .get(app.url("/metrics"))
        .bearer_auth(OPERATOR)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// The next `callOffered` on the socket; its call id.
async fn offered(socket: &mut Socket) -> u64 {
    wait_for(socket, "callOffered").await["call"]["callId"]
        .as_u64()
        .unwrap()
}

/// Nothing but position updates arrives on the socket for `quiet` (the agent is not offered
/// anything).
async fn no_offer(socket: &mut Socket, quiet: Duration) {
    let deadline = tokio::time::Instant::now() + quiet;
    while let Ok(event) = tokio::time::timeout_at(deadline, next_json(socket)).await {
        assert_ne!(event["type"], "callOffered", "unexpected offer: {event}");
    }
}

#[tokio::test]
async fn a_call_rings_first_on_the_owner_of_the_callers_record() {
    let fake = FakeSalesforce::start().await;
    let contact = fake.insert(
        "Contact",
        json!({"LastName": "García", "Phone": "1155551001", "OwnerId": OWNER[1]}),
    );
    let app = app(&fake, |_| {}).await;
    // agent1 has waited longest: without owner routing the call would be theirs.
    let (_, mut first) = ready(&app, "agent1", "1001").await;
    let (_, mut owner) = ready(&app, "agent2", "1002").await;

    let call = inbound_call(&app, "1155551001", None).await;
    assert_eq!(offered(&mut owner).await, call);
    let view = call_view(&app, call).await;
    assert_eq!(view["agent"], "agent2", "{view}");
    assert_eq!(
        view["owner"],
        json!({"recordType": "Contact", "recordId": contact, "ownerId": OWNER[1], "agent": "agent2"})
    );
    assert_eq!(logged_agent(&app, call).await.as_deref(), Some("agent2"));
    sim(&app, "agents/agent2/answer", json!({})).await.ok();
    wait_for(&mut owner, "callConnected").await;
    no_offer(&mut first, Duration::from_millis(200)).await;
    let text = metrics(&app).await;
    assert!(
        text.contains("ctibridge_owner_lookups_total{result=\"found\"} 1"),
        "{text}"
    );
}

#[tokio::test]
async fn a_busy_owners_caller_goes_to_the_queue() {
    let fake = FakeSalesforce::start().await;
    fake.insert(
        "Contact",
        json!({"LastName": "Busy", "Phone": "1155552002", "OwnerId": OWNER[0]}),
    );
    let app = app(&fake, |_| {}).await;
    let (_, mut owner) = ready(&app, "agent1", "1001").await;
    let (_, mut other) = ready(&app, "agent2", "1002").await;
    // agent1 is on a call from a caller without a record.
    let first = inbound_call(&app, "1155559999", None).await;
    assert_eq!(offered(&mut owner).await, first);
    sim(&app, "agents/agent1/answer", json!({})).await.ok();
    wait_for(&mut owner, "callConnected").await;

    let busy = inbound_call(&app, "1155552002", None).await;
    assert_eq!(
        offered(&mut other).await,
        busy,
        "the busy owner's caller goes to the queue"
    );
    let view = call_view(&app, busy).await;
    assert_eq!(view["owner"]["agent"], "agent1", "{view}");
    assert_eq!(logged_agent(&app, busy).await.as_deref(), Some("agent2"));
}

#[tokio::test]
async fn a_caller_with_no_record_or_an_owner_not_logged_in_is_queued_as_today() {
    let fake = FakeSalesforce::start().await;
    fake.insert(
        "Lead",
        json!({"LastName": "Away", "Company": "X", "Phone": "1155553003", "OwnerId": OWNER[2]}),
    );
    let app = app(&fake, |_| {}).await;
    let (_, mut first) = ready(&app, "agent1", "1001").await;
    let (_, mut second) = ready(&app, "agent2", "1002").await;

    let unknown = inbound_call(&app, "1155554004", None).await;
    assert_eq!(offered(&mut first).await, unknown);
    assert_eq!(call_view(&app, unknown).await.get("owner"), None);

    // agent3 owns the Lead but is not logged in: the queue decides (agent2 is next).
    let away = inbound_call(&app, "1155553003", None).await;
    assert_eq!(offered(&mut second).await, away);
    let view = call_view(&app, away).await;
    assert_eq!(view["owner"]["recordType"], "Lead", "{view}");
    assert_eq!(view["owner"]["agent"], "agent3", "{view}");
    let text = metrics(&app).await;
    assert!(
        text.contains("ctibridge_owner_lookups_total{result=\"no_record\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("ctibridge_owner_lookups_total{result=\"found\"} 1"),
        "{text}"
    );
}

#[tokio::test]
async fn an_owner_who_lets_it_ring_out_stays_ready_and_the_call_goes_to_another_agent() {
    let fake = FakeSalesforce::start().await;
    fake.insert(
        "Contact",
        json!({"LastName": "Ring", "Phone": "1155555005", "OwnerId": OWNER[1]}),
    );
    let app = app(&fake, |c| c.routing.owner_first_secs = 1).await;
    let (_, mut first) = ready(&app, "agent1", "1001").await;
    let (owner_token, mut owner) = ready(&app, "agent2", "1002").await;

    let started = Instant::now();
    let call = inbound_call(&app, "1155555005", None).await;
    assert_eq!(offered(&mut owner).await, call);
    assert_eq!(
        offered(&mut first).await,
        call,
        "after the owner-first ring, the queue"
    );
    assert!(started.elapsed() >= Duration::from_secs(1));
    let ended = wait_for(&mut owner, "callEnded").await;
    assert_eq!(ended["reason"], "noAnswer", "{ended}");
    // The owner is not paused: still available, just behind the others.
    let position = rpc(&app, Some(&owner_token), "Position", json!({})).await;
    assert_eq!(position.ok()["state"], "available", "{}", position.body);
    assert_eq!(logged_agent(&app, call).await.as_deref(), Some("agent1"));
    sim(&app, "agents/agent1/answer", json!({})).await.ok();
    let connected = wait_for(&mut first, "callConnected").await;
    assert_eq!(connected["call"]["callId"], call);
}

#[tokio::test]
async fn when_salesforce_fails_or_is_slow_the_call_is_queued_within_a_second() {
    let fake = FakeSalesforce::start().await;
    fake.insert(
        "Contact",
        json!({"LastName": "Down", "Phone": "1155556006", "OwnerId": OWNER[1]}),
    );
    let app = app(&fake, |c| c.routing.lookup_timeout_ms = 500).await;
    let (_, mut first) = ready(&app, "agent1", "1001").await;
    let (_, mut owner) = ready(&app, "agent2", "1002").await;

    fake.set_unavailable(true);
    let started = Instant::now();
    let call = inbound_call(&app, "1155556006", None).await;
    // Queued: the longest-ready agent, not the owner.
    assert_eq!(offered(&mut first).await, call);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(call_view(&app, call).await.get("owner"), None);
    sim(&app, "agents/agent1/answer", json!({})).await.ok();
    wait_for(&mut first, "callConnected").await;

    fake.set_unavailable(false);
    fake.set_latency(Duration::from_secs(3));
    let started = Instant::now();
    let slow = inbound_call(&app, "1155556006", None).await;
    assert!(
        started.elapsed() < Duration::from_millis(1200),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(offered(&mut owner).await, slow);
    assert_eq!(
        call_view(&app, slow).await.get("owner"),
        None,
        "routed without the lookup"
    );
    let text = metrics(&app).await;
    assert!(
        text.contains("ctibridge_owner_lookups_total{result=\"failed\"} 2"),
        "{text}"
    );

    // Salesforce is back: the next call's owner is found again.
    fake.set_latency(Duration::ZERO);
    let back = inbound_call(&app, "1155556006", None).await;
    assert_eq!(call_view(&app, back).await["owner"]["agent"], "agent2");
}

#[tokio::test]
async fn a_burst_of_calls_from_one_number_costs_one_search() {
    let fake = FakeSalesforce::start().await;
    fake.insert(
        "Contact",
        json!({"LastName": "Burst", "Phone": "1155557007", "OwnerId": OWNER[0]}),
    );
    let app = app(&fake, |_| {}).await;
    let calls =
        futures_util::future::join_all((0..5).map(|_| inbound_call(&app, "+54 11 5555-7007", None))).await;
    assert_eq!(calls.len(), 5);
    for call in calls {
        let view = call_view(&app, call).await;
        assert_eq!(
            view["owner"]["agent"],
            "agent1",
            "{view}\n{}",
            metrics(&app).await
        );
    }
    assert_eq!(fake.requests("search"), 1);
    let text = metrics(&app).await;
    assert!(
        text.contains("ctibridge_owner_lookups_total{result=\"cached\"} 4"),
        "{text}"
    );
}

#[tokio::test]
async fn without_salesforce_credentials_calls_route_as_before() {
    let fake = FakeSalesforce::start().await;
    let app = app(&fake, |c| c.salesforce = Default::default()).await;
    let (_, mut first) = ready(&app, "agent1", "1001").await;
    let call = inbound_call(&app, "1155558008", None).await;
    assert_eq!(offered(&mut first).await, call);
    assert_eq!(fake.requests("search"), 0);
    assert!(!metrics(&app).await.contains("ctibridge_owner_lookups_total"));
}
