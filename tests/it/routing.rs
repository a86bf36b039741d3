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
    ADMIN, OPERATOR, Socket, available, inbound_call, metrics, next_json, pause, rpc, sim, wait_for,
    ws_connect,
};
use crate::support::fake_salesforce::FakeSalesforce;
use crate::support::server::TestApp;

/// The Salesforce users agent1–agent3 are bound to.
const OWNER: [&str; 3] = ["005000000000001AAA", "005000000000002AAA", "005000000000003AAA"];

/// agent1 to agent`n` (devices 1001…, password `demo`), bound to [`OWNER`] in order.
fn owner_agents(n: usize) -> Vec<ctibridge::telephony::config::AgentConfig> {
    let demo = hash_password("demo").unwrap();
    (1..=n)
        .map(|n| ctibridge::telephony::config::AgentConfig {
            user: format!("agent{n}"),
            device: format!("100{n}"),
            password_hash: demo.clone(),
            role: ctibridge::telephony::Role::Agent,
            salesforce_user_id: Some(OWNER[n - 1].into()),
            salesforce_username: None,
        })
        .collect()
}

/// agent1–agent3 (devices 1001–1003, password `demo`) bound to [`OWNER`], the demo tokens,
/// the simulation API, Salesforce at `fake`.
fn owner_roster(c: &mut Config, fake: &FakeSalesforce) {
    c.telephony.agents = owner_agents(3);
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

/// Waits until the call's log row names `agent` (the socket hears of an offer as the core
/// makes it; the row is written by the commit that follows).
async fn assert_logged_agent(app: &TestApp, call: u64, agent: &str) {
    let store = app._db.store().await;
    let deadline = Instant::now() + crate::http::WAIT;
    loop {
        let logged: Option<Option<String>> =
            sqlx::query_scalar("SELECT agent FROM call_log WHERE external_id = $1")
                .bind(call.to_string())
                .fetch_optional(store.pool())
                .await
                .unwrap();
        if logged.flatten().as_deref() == Some(agent) {
            return;
        }
        assert!(Instant::now() < deadline, "call {call}'s row never named {agent}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The metrics count `count` owner lookups with `result`.
async fn assert_lookups(app: &TestApp, result: &str, count: u64) {
    let text = metrics(app).await;
    assert!(
        text.contains(&format!(
            "ctibridge_owner_lookups_total{{result=\"{result}\"}} {count}"
        )),
        "{text}"
    );
}

/// A Contact with `phone`, owned by the Salesforce user `owner`; its id.
/// The fake org with a contact `last_name` on `phone` owned by `owner`, and a server on it
/// (configured by `tweak`); returns the org, the contact's id and the server.
async fn owner_and_app(
    last_name: &str,
    phone: &str,
    owner: &str,
    tweak: impl FnOnce(&mut Config),
) -> (FakeSalesforce, String, TestApp) {
    let fake = FakeSalesforce::start().await;
    let contact = owned_contact(&fake, last_name, phone, owner);
    let app = app(&fake, tweak).await;
    (fake, contact, app)
}

fn owned_contact(fake: &FakeSalesforce, last_name: &str, phone: &str, owner: &str) -> String {
    fake.insert(
        "Contact",
        json!({"LastName": last_name, "Phone": phone, "OwnerId": owner}),
    )
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
    let (_fake, contact, app) = owner_and_app("García", "1155551001", OWNER[1], |_| {}).await;
    // agent1 has waited longest: without owner routing the call would be theirs.
    let (_, mut first) = ready(&app, "agent1", "1001").await;
    let (_, mut owner) = ready(&app, "agent2", "1002").await;

    let call = inbound_call(&app, "1155551001", None).await;
    assert_eq!(offered(&mut owner).await, call);
    let view = call_view(&app, call).await;
    assert_eq!(view["agent"], "agent2", "{view}");
    assert_eq!(
        view["owner"],
        json!({"recordType": "Contact", "recordId": contact, "ownerId": OWNER[1], "agent": "agent2", "name": "García"})
    );
    assert_logged_agent(&app, call, "agent2").await;
    sim(&app, "agents/agent2/answer", json!({})).await.ok();
    wait_for(&mut owner, "callConnected").await;
    no_offer(&mut first, Duration::from_millis(200)).await;
    assert_lookups(&app, "found", 1).await;
}

#[tokio::test]
async fn a_busy_owners_caller_goes_to_the_queue() {
    let (_fake, _contact, app) = owner_and_app("Busy", "1155552002", OWNER[0], |_| {}).await;
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
    assert_logged_agent(&app, busy, "agent2").await;
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
    assert_lookups(&app, "no_record", 1).await;
    assert_lookups(&app, "found", 1).await;
}

#[tokio::test]
async fn an_owner_who_lets_it_ring_out_stays_ready_and_the_call_goes_to_another_agent() {
    let (_fake, _contact, app) =
        owner_and_app("Ring", "1155555005", OWNER[1], |c| c.routing.owner_first_secs = 1).await;
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
    assert_logged_agent(&app, call, "agent1").await;
    sim(&app, "agents/agent1/answer", json!({})).await.ok();
    let connected = wait_for(&mut first, "callConnected").await;
    assert_eq!(connected["call"]["callId"], call);
}

#[tokio::test]
async fn a_call_back_from_its_owner_keeps_its_place_ahead_of_later_callers() {
    let (_fake, _contact, app) = owner_and_app("Place", "1155555015", OWNER[1], |c| {
        c.routing.owner_first_secs = 1
    })
    .await;
    let (_, mut owner) = ready(&app, "agent2", "1002").await;
    let first = inbound_call(&app, "1155555015", None).await;
    assert_eq!(offered(&mut owner).await, first);
    // A later caller waits: nobody else is ready.
    let later = inbound_call(&app, "1155559015", None).await;
    assert_eq!(call_view(&app, later).await["state"], "queued");
    // The owner-first ring ends; the first caller is still ahead of the later one, so the
    // queue offers it first (to the owner, the only ready agent).
    let ended = wait_for(&mut owner, "callEnded").await;
    assert_eq!(ended["callId"], first, "{ended}");
    assert_eq!(offered(&mut owner).await, first);
    assert_eq!(call_view(&app, later).await["state"], "queued");
}

#[tokio::test]
async fn when_salesforce_fails_or_is_slow_the_call_is_queued_within_a_second() {
    let (fake, _contact, app) = owner_and_app("Down", "1155556006", OWNER[1], |c| {
        c.routing.lookup_timeout_ms = 500
    })
    .await;
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
    assert_lookups(&app, "failed", 2).await;

    // Salesforce is back: the next call's owner is found again.
    fake.set_latency(Duration::ZERO);
    let back = inbound_call(&app, "1155556006", None).await;
    assert_eq!(call_view(&app, back).await["owner"]["agent"], "agent2");
}

#[tokio::test]
async fn a_burst_of_calls_from_one_number_costs_one_search() {
    let (fake, _contact, app) = owner_and_app("Burst", "1155557007", OWNER[0], |_| {}).await;
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
    assert_lookups(&app, "cached", 4).await;
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

/// The Lead rows the outbox holds (any state).
async fn lead_rows(app: &TestApp) -> Vec<(String, String)> {
    let store = app._db.store().await;
    sqlx::query_as("SELECT ext_id_value, fields FROM salesforce_outbox WHERE sobject = 'Lead'")
        .fetch_all(store.pool())
        .await
        .unwrap()
}

#[tokio::test]
async fn a_caller_with_no_record_gets_one_lead_where_the_campaign_says_so() {
    const UNPROCESSED: &str = "005000000000009AAA";
    let fake = FakeSalesforce::start().await;
    let app = app(&fake, |c| {
        // Leads need no owner-first ring: callers are looked up all the same.
        c.routing.owner_first_secs = 0;
        c.routing.create_leads = vec![97];
        c.routing.unprocessed_leads_owner = Some(UNPROCESSED.into());
    })
    .await;
    let (_, mut first) = ready(&app, "agent1", "1001").await;
    // Two calls from an unknown number (the second before Salesforce's index shows the Lead).
    let call = inbound_call(&app, "+54 11 5555-0999", None).await;
    assert_eq!(offered(&mut first).await, call, "routed as today");
    // Saved before the call was acknowledged.
    let rows = lead_rows(&app).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].0, "541155550999");
    inbound_call(&app, "+54 11 5555-0999", None).await;
    let deadline = Instant::now() + crate::http::WAIT;
    while fake.records("Lead").is_empty() || !lead_rows_delivered(&app).await {
        assert!(Instant::now() < deadline, "the Lead was not delivered");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let leads = fake.records("Lead");
    assert_eq!(leads.len(), 1, "{leads:?}");
    assert_eq!(leads[0]["OwnerId"], UNPROCESSED);
    assert_eq!(leads[0]["Phone"], "+54 11 5555-0999");
    assert_eq!(leads[0]["neoSyncId__c"], "541155550999", "{:?}", leads[0]);
    // A caller with a record, and a failed lookup, create none.
    owned_contact(&fake, "Known", "1155550888", OWNER[2]);
    inbound_call(&app, "1155550888", None).await;
    fake.set_unavailable(true);
    inbound_call(&app, "1155550777", None).await;
    assert!(lead_rows(&app).await.iter().all(|(key, _)| key == "541155550999"));
}

/// Every Lead row of the outbox was delivered.
async fn lead_rows_delivered(app: &TestApp) -> bool {
    let store = app._db.store().await;
    let pending: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM salesforce_outbox WHERE sobject = 'Lead' AND state <> 'delivered'",
    )
    .fetch_one(store.pool())
    .await
    .unwrap();
    pending == 0
}

#[tokio::test]
async fn without_create_leads_a_caller_with_no_record_gets_no_lead() {
    let fake = FakeSalesforce::start().await;
    let app = app(&fake, |_| {}).await;
    inbound_call(&app, "1155550666", None).await;
    assert!(lead_rows(&app).await.is_empty());
    assert_lookups(&app, "no_record", 1).await;
}

#[tokio::test]
async fn a_missed_call_from_an_owned_record_is_the_owners_open_task() {
    let (fake, contact, app) = owner_and_app("Pérez", "1155557007", OWNER[1], |_| {}).await;
    // The owner is in the campaign but on a break: nobody takes the call.
    let (owner_token, mut owner) = ready(&app, "agent2", "1002").await;
    pause(&app, &owner_token).await;
    let call = inbound_call(&app, "1155557007", None).await;
    sim(&app, &format!("calls/{call}/hangup"), json!({})).await.ok();
    wait_for(&mut owner, "missedCallsChanged").await;

    // The owner sees it, with the caller's record.
    let (status, list) = crate::missed::missed_list(&app, &owner_token).await;
    assert_eq!(status, 200, "{list}");
    let entry = list["missedCalls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["callId"] == call)
        .cloned()
        .unwrap_or_else(|| panic!("call {call} missing: {list}"));
    assert_eq!(entry["reason"], "abandoned");
    assert_eq!(entry["recordId"], json!(contact));
    assert_eq!(entry["ownerAgent"], "agent2");
    assert_eq!(entry["recordName"], "Pérez", "{entry}");

    // The org: one open Task on the contact, owned by the record's owner.
    crate::missed::eventually("the missed call's Task", || {
        crate::missed::tasks_of(&fake, call).len() == 1
    })
    .await;
    let task = &crate::missed::tasks_of(&fake, call)[0];
    assert_eq!(task["Status"], "Not Started", "{task:?}");
    assert_eq!(task["OwnerId"], OWNER[1], "{task:?}");
    assert_eq!(task["WhoId"], json!(contact), "{task:?}");
    assert_eq!(task["Subject"], "Missed call from 1155557007");
}

/// Asterisk: the dialplan asks `GET /asterisk/owner` after the intake and `Dial()`s the answer
/// before `Queue()`; the driver follows that dial on the caller's channel.
mod asterisk {
    use ctibridge::telephony::DriverKind;
    use ctibridge::telephony::asterisk::AsteriskConfig;
    use ctibridge::telephony::engine::roster::hash_password;
    use secrecy::SecretString;
    use serde_json::json;

    use super::{FakeSalesforce, OWNER, Socket, TestApp, assert_logged_agent, offered, owned_contact};
    use crate::http::{login, rpc, wait_for, ws_connect};
    use crate::support::ami_double::AmiDouble;

    const TOKEN: &str = "dialplan-token";
    /// The recorded caller's channel.
    const UNIQUEID: &str = "1795949106.38";

    /// The recorded caller's channel fields (`inbound_answered`), at dialplan `priority`.
    fn caller(priority: u32) -> String {
        format!(
            "Channel: Local/s@customer-00000013;1\r\nChannelState: 6\r\nChannelStateDesc: Up\r\n\
             CallerIDNum: 1155551001\r\nCallerIDName: Ana Garcia\r\nConnectedLineNum: 1155551001\r\n\
             ConnectedLineName: Ana Garcia\r\nLanguage: en\r\nAccountCode: \r\nContext: inbound\r\n\
             Exten: s\r\nPriority: {priority}\r\nUniqueid: {UNIQUEID}\r\nLinkedid: {UNIQUEID}\r\n"
        )
    }

    /// The dialed agent's channel fields, as the recording's DialBegin / DialEnd show them.
    fn dest(up: bool) -> String {
        let (state, desc) = if up { (6, "Up") } else { (0, "Down") };
        format!(
            "DestChannel: Local/1001@agents-00000014;1\r\nDestChannelState: {state}\r\n\
             DestChannelStateDesc: {desc}\r\nDestCallerIDNum: 1155551001\r\nDestCallerIDName: Ana Garcia\r\n\
             DestConnectedLineNum: <unknown>\r\nDestConnectedLineName: <unknown>\r\nDestLanguage: en\r\n\
             DestAccountCode: \r\nDestContext: agents\r\nDestExten: 1001\r\nDestPriority: 1\r\n\
             DestUniqueid: 1795949106.40\r\nDestLinkedid: {UNIQUEID}\r\n"
        )
    }

    /// What Asterisk sends while the dialplan sets the call id and dials the owner.
    fn owner_dialed(call: u64) -> String {
        format!(
            "Event: VarSet\r\nPrivilege: dialplan,all\r\n{}Variable: __CTI_CALL_ID\r\nValue: {call}\r\n\r\n\
             Event: DialBegin\r\nPrivilege: call,all\r\n{}{}DialString: Local/1001@agents\r\n\r\n",
            caller(4),
            caller(7),
            dest(false)
        )
    }

    fn dial_end(status: &str) -> String {
        format!(
            "Event: DialEnd\r\nPrivilege: call,all\r\n{}{}DialStatus: {status}\r\n\r\n",
            caller(7),
            dest(status == "ANSWER")
        )
    }

    async fn app(double: &AmiDouble, fake: &FakeSalesforce) -> TestApp {
        let hash = hash_password(TOKEN).unwrap();
        let port = double.port;
        super::app(fake, move |c| {
            c.telephony.driver = DriverKind::Asterisk;
            c.telephony.asterisk = Some(AsteriskConfig {
                port,
                secret: SecretString::from("ctibridge-secret".to_owned()),
                interface: "Local/{device}@agents/n".into(),
                dial_channel: Some("Local/{device}@agents".into()),
                intake_token_hash: Some(hash),
                ..AsteriskConfig::default()
            });
        })
        .await
    }

    async fn get(app: &TestApp, token: Option<&str>, path: &str) -> (u16, String, String) {
        let mut request = app.client.get(app.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        let kind = response
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        (response.status().as_u16(), kind, response.text().await.unwrap())
    }

    async fn owner(app: &TestApp) -> String {
        let (status, kind, body) = get(
            app,
            Some(TOKEN),
            &format!("/asterisk/owner?queue=salesforce&uniqueid={UNIQUEID}"),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert!(kind.starts_with("text/plain"), "{kind}");
        body
    }

    /// The recorded caller (whose Contact agent1 owns) taken in by the dialplan; agent1 logged
    /// in to the queue's campaign. Returns the call id and agent1's socket.
    async fn owner_ready(double: &AmiDouble, fake: &FakeSalesforce, app: &TestApp) -> (u64, String, Socket) {
        owned_contact(fake, "García", "1155551001", OWNER[0]);
        let (status, _, body) = get(
            app,
            Some(TOKEN),
            &format!("/asterisk/intake?queue=salesforce&ani=1155551001&uniqueid={UNIQUEID}"),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let call: u64 = body.split_once('|').unwrap().1.parse().unwrap();
        // Not logged in yet: nothing to dial, straight to the queue.
        assert_eq!(owner(app).await, "");
        let token = login(app, "agent1", "1001").await;
        rpc(app, Some(&token), "Login_Campaign", json!({"campaign": 97}))
            .await
            .ok();
        let deadline = std::time::Instant::now() + crate::http::WAIT;
        while !double.received_names().iter().any(|n| n == "QueueAdd") {
            assert!(std::time::Instant::now() < deadline, "no QueueAdd sent");
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        let (socket, _) = ws_connect(app, &token).await;
        assert_eq!(owner(app).await, "Local/1001@agents");
        (call, token, socket)
    }

    /// [`owner_ready`], then the dialplan dials agent1: the call is offered to them.
    async fn owner_offered(
        double: &AmiDouble,
        fake: &FakeSalesforce,
        app: &TestApp,
    ) -> (u64, String, Socket) {
        let (call, token, mut socket) = owner_ready(double, fake, app).await;
        double.push(owner_dialed(call).as_bytes());
        assert_eq!(offered(&mut socket).await, call);
        (call, token, socket)
    }

    /// The AMI double replaying `inbound_answered`, the fake org, and the server on both.
    async fn start() -> (AmiDouble, FakeSalesforce, TestApp) {
        let double = AmiDouble::start(&["inbound_answered"]).await;
        let fake = FakeSalesforce::start().await;
        let app = app(&double, &fake).await;
        (double, fake, app)
    }

    #[tokio::test]
    async fn the_owner_endpoint_needs_the_token_and_names_queues_it_knows() {
        let (_double, _fake, app) = start().await;
        let path = format!("/asterisk/owner?queue=salesforce&uniqueid={UNIQUEID}");
        assert_eq!(get(&app, None, &path).await.0, 401);
        assert_eq!(get(&app, Some("wrong"), &path).await.0, 401);
        let (status, _, body) = get(&app, Some(TOKEN), "/asterisk/owner?queue=nope&uniqueid=1.2").await;
        assert_eq!(status, 404, "{body}");
        assert!(
            body.contains("unknown_queue") && body.contains("`nope`"),
            "{body}"
        );
        let (status, _, body) = get(&app, Some(TOKEN), "/asterisk/owner?queue=salesforce").await;
        assert_eq!(status, 422, "{body}");
        assert!(body.contains("missing parameter `uniqueid`"), "{body}");
        let (status, _, body) = get(&app, Some(TOKEN), &format!("{path}&colour=red")).await;
        assert_eq!(status, 422, "{body}");
        assert!(body.contains("unknown parameter `colour`"), "{body}");
        // A channel the intake never saw: nothing to dial.
        let (status, _, body) = get(&app, Some(TOKEN), "/asterisk/owner?queue=salesforce&uniqueid=9.9").await;
        assert_eq!((status, body.as_str()), (200, ""));
    }

    #[tokio::test]
    async fn the_owner_dialed_by_the_dialplan_is_offered_the_call_and_a_ring_out_leaves_them_ready() {
        let (double, fake, app) = start().await;
        let (call, token, mut socket) = owner_offered(&double, &fake, &app).await;
        assert_logged_agent(&app, call, "agent1").await;
        // Ringing: the owner is no longer available for another call.
        assert_eq!(owner(&app).await, "");

        double.push(dial_end("NOANSWER").as_bytes());
        let ended = wait_for(&mut socket, "callEnded").await;
        assert_eq!(ended["callId"], call, "{ended}");
        let position = rpc(&app, Some(&token), "Position", json!({})).await;
        assert_eq!(position.ok()["state"], "available", "{}", position.body);
    }

    #[tokio::test]
    async fn an_owner_who_answers_the_dialplans_dial_talks_until_the_caller_hangs_up() {
        let (double, fake, app) = start().await;
        let (call, _token, mut socket) = owner_offered(&double, &fake, &app).await;
        double.push(dial_end("ANSWER").as_bytes());
        let connected = wait_for(&mut socket, "callConnected").await;
        assert_eq!(connected["call"]["callId"], call);
        double.push(
            format!(
                "Event: Hangup\r\nPrivilege: call,all\r\n{}Cause: 16\r\nCause-txt: Normal Clearing\r\n\r\n",
                caller(8)
            )
            .as_bytes(),
        );
        let ended = wait_for(&mut socket, "callEnded").await;
        assert_eq!(ended["callId"], call, "{ended}");
        assert_eq!(ended["reason"], "customerHangup", "{ended}");
    }
}

/// The core on a paused clock with a scripted Salesforce behind the real cached lookup: the
/// owner-first window and the lookup's timeout to the millisecond.
mod engine {
    use std::sync::Arc;
    use std::time::Duration;

    use async_trait::async_trait;
    use ctibridge::config::TelephonyConfig;
    use ctibridge::routing::{CachedOwnerLookup, OwnerRecord, OwnerSource, RoutingConfig};
    use ctibridge::telephony::engine::InboundCall;
    use ctibridge::telephony::{AgentState, Event};
    use tokio::time::Instant;

    use super::{OWNER, owner_agents};
    use crate::telephony::{Harness, INBOUND, QUEUE};

    /// Every number is agent2's customer, after `delay`.
    struct Scripted {
        delay: Duration,
    }

    #[async_trait]
    impl OwnerSource for Scripted {
        async fn find(&self, _: &str) -> Result<Option<OwnerRecord>, String> {
            tokio::time::sleep(self.delay).await;
            Ok(Some(OwnerRecord {
                record_type: "Contact".into(),
                record_id: "003000000000001AAA".into(),
                owner_id: Some(OWNER[1].into()),
                name: None,
            }))
        }
    }

    async fn harness(delay_ms: u64) -> Harness {
        let config = TelephonyConfig {
            agents: owner_agents(2),
            ..TelephonyConfig::default()
        };
        let h = Harness::with_config(config).await;
        let routing = RoutingConfig {
            owner_first_secs: 10,
            lookup_timeout_ms: 800,
            ..RoutingConfig::default()
        };
        let source = Arc::new(Scripted {
            delay: Duration::from_millis(delay_ms),
        });
        h.engine.route_to_owners(
            Arc::new(CachedOwnerLookup::new(source, &routing)),
            routing.owner_first(),
            None,
        );
        h
    }

    #[tokio::test(start_paused = true)]
    async fn the_owner_rings_for_the_owner_first_window_then_the_queue_offers_the_call() {
        let mut h = harness(50).await;
        let first = h.agent_in("agent1", INBOUND).await;
        let owner = h.agent_in("agent2", INBOUND).await;
        let started = Instant::now();
        let call = h
            .sim
            .inbound_call(InboundCall::from("1155551001", QUEUE))
            .await
            .unwrap();
        h.wait_for(&owner, "the owner-first offer", |e| {
            matches!(e, Event::CallOffered { .. })
        })
        .await;
        assert_eq!(started.elapsed(), Duration::from_millis(50));
        h.wait_for(&first, "the queue's offer", |e| {
            matches!(e, Event::CallOffered { .. })
        })
        .await;
        assert_eq!(started.elapsed(), Duration::from_millis(10_050));
        assert_eq!(h.state(&owner).await, AgentState::Available);
        assert_eq!(h.sim.call(call).unwrap().agent, Some(first));
    }

    #[tokio::test(start_paused = true)]
    async fn a_lookup_slower_than_its_timeout_sends_the_call_to_the_queue_at_the_timeout() {
        let mut h = harness(5_000).await;
        let first = h.agent_in("agent1", INBOUND).await;
        h.agent_in("agent2", INBOUND).await;
        let started = Instant::now();
        let call = h
            .sim
            .inbound_call(InboundCall::from("1155551001", QUEUE))
            .await
            .unwrap();
        assert_eq!(started.elapsed(), Duration::from_millis(800));
        h.wait_for(&first, "the queue's offer", |e| {
            matches!(e, Event::CallOffered { .. })
        })
        .await;
        assert_eq!(h.sim.call(call).unwrap().owner, None);
    }
}
