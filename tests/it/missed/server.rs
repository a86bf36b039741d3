//! The server end to end over HTTP, with the fake org and the database: the reasons, the
//! call back, the answered re-call, authorization and bad input, a restart.

use serde_json::{Value, json};

use super::{
    CLOSED, CLOSED_QUEUE, MISSED_OWNER, call_back, configure, eventually, missed_list, outbox_rows, rows,
    tasks_of,
};
use crate::http::{Socket, available, inbound_call, login, next_json, pause, rpc, sim, wait_for, ws_connect};
use crate::support::db::TestDb;
use crate::support::fake_salesforce::FakeSalesforce;
use crate::support::server::TestApp;

/// A customer calls and hangs up while waiting; returns the call id.
async fn abandoned(app: &TestApp, ani: &str) -> u64 {
    let call = inbound_call(app, ani, None).await;
    sim(app, &format!("calls/{call}/hangup"), json!({})).await.ok();
    call
}

/// Reads the socket until the call connected and the list-changed hint came: the hint goes
/// out once the commit closing missed calls is saved, the call's event once the core emits it,
/// so either may come first.
async fn connected_and_hinted(socket: &mut Socket) {
    let (mut connected, mut hinted) = (false, false);
    while !(connected && hinted) {
        match next_json(socket).await["type"].as_str() {
            Some("callConnected") => connected = true,
            Some("missedCallsChanged") => hinted = true,
            _ => {}
        }
    }
}

fn reason_of(list: &Value, call: u64) -> Option<String> {
    list["missedCalls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["callId"] == call)
        .map(|m| m["reason"].as_str().unwrap().to_owned())
}

#[tokio::test]
async fn each_missed_reason_is_one_row_and_one_open_task() {
    let fake = FakeSalesforce::start().await;
    let app = TestApp::spawn_with(|c| configure(c, &fake, Some(2))).await;
    // agent1 is in the inbound campaign but on a break: nobody takes calls.
    let t1 = available(&app, "agent1", "1001").await;
    pause(&app, &t1).await;
    let (mut s1, _) = ws_connect(&app, &t1).await;

    let gave_up = abandoned(&app, "1155560001").await;
    wait_for(&mut s1, "missedCallsChanged").await;
    let no_agent = inbound_call(&app, "1155560002", None).await;
    wait_for(&mut s1, "missedCallsChanged").await;
    // agent2 is ready but never answers: it rings, rings out, and the wait runs out.
    let t2 = available(&app, "agent2", "1002").await;
    let (mut s2, _) = ws_connect(&app, &t2).await;
    let rang_out = inbound_call(&app, "1155560003", None).await;
    wait_for(&mut s2, "callOffered").await;
    wait_for(&mut s1, "missedCallsChanged").await;
    // Campaign 96 is closed today: the call is not queued at all.
    let closed = sim(
        &app,
        "inbound",
        json!({"ani": "1155560004", "queue": CLOSED_QUEUE}),
    )
    .await
    .ok()["callId"]
        .as_u64()
        .unwrap();
    wait_for(&mut s1, "missedCallsChanged").await;

    // agent1 sees the inbound campaign's three, not the closed campaign's.
    let (status, list) = missed_list(&app, &t1).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["missedCalls"].as_array().unwrap().len(), 3, "{list}");
    assert_eq!(reason_of(&list, gave_up).as_deref(), Some("abandoned"));
    assert_eq!(reason_of(&list, no_agent).as_deref(), Some("noAgent"));
    assert_eq!(reason_of(&list, rang_out).as_deref(), Some("ringOut"));
    let entry = list["missedCalls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["callId"] == no_agent)
        .unwrap();
    assert_eq!(entry["phone"], "1155560002");
    assert_eq!(entry["queue"], "salesforce");
    assert_eq!(entry["status"], "open");
    assert!(entry["waitedSecs"].as_i64().unwrap() >= 2, "{entry}");

    // The database: one row each, with its reason and campaign.
    let store = app._db.store().await;
    let stored = rows(&store).await;
    assert_eq!(stored.len(), 4, "{stored:?}");
    let reasons: Vec<(i64, i64, &str)> = stored
        .iter()
        .map(|r| (r.call_id, r.campaign, r.reason.as_str()))
        .collect();
    assert_eq!(
        reasons,
        vec![
            (gave_up as i64, 97, "abandoned"),
            (no_agent as i64, 97, "noAgent"),
            (rang_out as i64, 97, "ringOut"),
            (closed as i64, CLOSED, "outsideHours"),
        ]
    );
    assert!(stored.iter().all(|r| r.status == "open"));
    assert_eq!(stored[1].phone.as_deref(), Some("1155560002"));
    assert!(stored[1].waited_secs >= 2, "{stored:?}");

    // The org: one open Task each, by the call id, owned by the configured user.
    let calls = [gave_up, no_agent, rang_out, closed];
    eventually("four missed-call Tasks", || {
        calls.iter().all(|c| tasks_of(&fake, *c).len() == 1)
    })
    .await;
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    for (call, phone) in calls
        .iter()
        .zip(["1155560001", "1155560002", "1155560003", "1155560004"])
    {
        let task = &tasks_of(&fake, *call)[0];
        assert_eq!(
            task["Subject"],
            json!(format!("Missed call from {phone}")),
            "{task:?}"
        );
        assert_eq!(task["Status"], "Not Started", "{task:?}");
        assert_eq!(task["CallType"], "Inbound");
        assert_eq!(task["TaskSubtype"], "Call");
        assert_eq!(task["CallObject"], json!(call.to_string()));
        assert_eq!(task["OwnerId"], MISSED_OWNER);
        assert_eq!(task["ActivityDate"], json!(today));
        assert!(task.get("WhoId").is_none_or(Value::is_null), "{task:?}");
        assert_eq!(outbox_rows(&store, *call).await, 1, "one write per missed call");
    }
    assert!(
        tasks_of(&fake, no_agent)[0]["Description"]
            .as_str()
            .unwrap()
            .contains("noAgent"),
    );
    assert_eq!(
        fake.records("Task").len(),
        4,
        "no other Task: {:?}",
        fake.records("Task")
    );

    // The supervisors' figures count them too: the closed campaign's call is offered and
    // missed at once, live and in the per-call table.
    let supervisor = login(&app, "super1", "1100").await;
    let figures = crate::http::get_json(&app, "/api/stats", Some(&supervisor)).await;
    assert_eq!(figures["offered"], 4, "{figures}");
    assert_eq!(figures["abandoned"], 1, "{figures}");
    assert_eq!(figures["missed"], 3, "{figures}");
    let outcomes: Vec<(i64, String)> =
        sqlx::query_as("SELECT call_id, outcome FROM stats_calls ORDER BY call_id")
            .fetch_all(store.pool())
            .await
            .unwrap();
    assert_eq!(
        outcomes,
        vec![
            (gave_up as i64, "abandoned".to_owned()),
            (no_agent as i64, "missed".to_owned()),
            (rang_out as i64, "missed".to_owned()),
            (closed as i64, "missed".to_owned()),
        ]
    );
}

crate::dual_db_test!(
    a_call_back_closes_the_missed_call_and_its_task,
    |db: TestDb| async move { call_back_closes(db).await }
);

async fn call_back_closes(db: TestDb) {
    let fake = FakeSalesforce::start().await;
    let app = TestApp::spawn_on(db, |c| configure(c, &fake, None)).await;
    let token = available(&app, "agent1", "1001").await;
    pause(&app, &token).await;
    let (mut socket, _) = ws_connect(&app, &token).await;
    let missed = abandoned(&app, "1155561001").await;
    wait_for(&mut socket, "missedCallsChanged").await;
    eventually("the open Task", || tasks_of(&fake, missed).len() == 1).await;

    let (status, answer) = call_back(&app, &token, &missed.to_string()).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["missedCallId"], missed);
    let callback = answer["callId"].as_u64().unwrap();
    let position = rpc(&app, Some(&token), "Position", json!({})).await;
    let position = position.ok();
    assert_eq!(position["call"]["callId"], callback, "{position}");
    assert_eq!(position["call"]["phoneNumber"], "1155561001", "{position}");
    assert_eq!(position["call"]["missedCallId"], missed, "{position}");
    // Not closed until the customer answers.
    assert_eq!(
        missed_list(&app, &token).await.1["missedCalls"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    sim(&app, &format!("calls/{callback}/answer"), json!({}))
        .await
        .ok();
    connected_and_hinted(&mut socket).await;
    let (_, list) = missed_list(&app, &token).await;
    assert_eq!(list["missedCalls"], json!([]), "{list}");
    let store = app._db.store().await;
    let row = rows(&store)
        .await
        .into_iter()
        .find(|r| r.call_id == missed as i64)
        .unwrap();
    assert_eq!(row.status, "closed");
    assert_eq!(row.closed_by, Some(callback as i64));
    assert_eq!(row.closed_by_agent.as_deref(), Some("agent1"));
    eventually("the Task completed", || {
        tasks_of(&fake, missed)
            .first()
            .is_some_and(|t| t.get("Status") == Some(&json!("Completed")))
    })
    .await;
    let task = &tasks_of(&fake, missed)[0];
    let description = task["Description"].as_str().unwrap();
    assert!(
        description.contains(&format!("Called back: call {callback} by agent1")),
        "{description}"
    );
    assert_eq!(tasks_of(&fake, missed).len(), 1, "the same Task, updated");

    // Calling back a closed one changes nothing.
    let (status, again) = call_back(&app, &token, &missed.to_string()).await;
    assert_eq!(status, 409, "{again}");
    assert_eq!(again["error"]["code"], "missed_call_closed");
    let row = rows(&store)
        .await
        .into_iter()
        .find(|r| r.call_id == missed as i64)
        .unwrap();
    assert_eq!(row.closed_by, Some(callback as i64));
}

crate::dual_db_test!(
    an_answered_recall_closes_the_numbers_missed_calls,
    |db: TestDb| async move { recall_closes(db).await }
);

async fn recall_closes(db: TestDb) {
    let fake = FakeSalesforce::start().await;
    let app = TestApp::spawn_on(db, |c| configure(c, &fake, None)).await;
    let token = available(&app, "agent1", "1001").await;
    pause(&app, &token).await;
    let (mut socket, _) = ws_connect(&app, &token).await;
    let first = abandoned(&app, "1155562001").await;
    let second = abandoned(&app, "1155562001").await;
    let other = abandoned(&app, "1155562999").await;

    rpc(&app, Some(&token), "Unpause", json!({})).await.ok();
    let recall = inbound_call(&app, "1155562001", None).await;
    wait_for(&mut socket, "callOffered").await;
    sim(&app, "agents/agent1/answer", json!({})).await.ok();
    connected_and_hinted(&mut socket).await;

    let (_, list) = missed_list(&app, &token).await;
    let open: Vec<u64> = list["missedCalls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["callId"].as_u64().unwrap())
        .collect();
    assert_eq!(open, vec![other], "{list}");
    let store = app._db.store().await;
    for call in [first, second] {
        let row = rows(&store)
            .await
            .into_iter()
            .find(|r| r.call_id == call as i64)
            .unwrap();
        assert_eq!(
            (row.status.as_str(), row.closed_by),
            ("closed", Some(recall as i64))
        );
    }
    // The answered call waited in the queue, and is no missed call.
    assert!(rows(&store).await.iter().all(|r| r.call_id != recall as i64));
    eventually("both Tasks completed", || {
        [first, second].iter().all(|c| {
            tasks_of(&fake, *c)
                .first()
                .is_some_and(|t| t.get("Status") == Some(&json!("Completed")))
        })
    })
    .await;
    let description = tasks_of(&fake, first)[0]["Description"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        description.contains(&format!("Answered when the caller called again: call {recall}")),
        "{description}"
    );
    eventually("the other Task", || tasks_of(&fake, other).len() == 1).await;
    assert_eq!(tasks_of(&fake, other)[0]["Status"], "Not Started");
}

#[tokio::test]
async fn agents_see_and_call_back_only_their_campaigns_missed_calls() {
    let fake = FakeSalesforce::start().await;
    let app = TestApp::spawn_with(|c| configure(c, &fake, None)).await;
    let t1 = available(&app, "agent1", "1001").await;
    pause(&app, &t1).await;
    let missed = abandoned(&app, "1155563001").await;
    // A caller with no caller id.
    let private = sim(&app, "inbound", json!({"queue": "salesforce"})).await.ok()["callId"]
        .as_u64()
        .unwrap();
    sim(&app, &format!("calls/{private}/hangup"), json!({}))
        .await
        .ok();

    // agent2 works the preview campaign: not this campaign's missed calls.
    let t2 = login(&app, "agent2", "1002").await;
    rpc(&app, Some(&t2), "Login_Campaign", json!({"campaign": 99}))
        .await
        .ok();
    let (status, list) = missed_list(&app, &t2).await;
    assert_eq!(status, 200);
    assert_eq!(list["missedCalls"], json!([]), "{list}");
    let (status, refused) = call_back(&app, &t2, &missed.to_string()).await;
    assert_eq!(status, 403, "{refused}");
    assert_eq!(refused["error"]["code"], "not_your_missed_call");
    // Logged in to no campaign: nothing either.
    let t3 = login(&app, "agent3", "1003").await;
    assert_eq!(missed_list(&app, &t3).await.1["missedCalls"], json!([]));

    // Bad input.
    let (status, bad) = call_back(&app, &t1, "abc").await;
    assert_eq!(
        (status, bad["error"]["code"].as_str()),
        (422, Some("invalid_value")),
        "{bad}"
    );
    let (status, unknown) = call_back(&app, &t1, "987654321").await;
    assert_eq!(
        (status, unknown["error"]["code"].as_str()),
        (404, Some("unknown_missed_call"))
    );
    let (status, nobody) = call_back(&app, &t1, &private.to_string()).await;
    assert_eq!(
        (status, nobody["error"]["code"].as_str()),
        (422, Some("no_number")),
        "{nobody}"
    );
    let (status, _) = missed_list(&app, "not-a-token").await;
    assert_eq!(status, 401);

    // Nothing of that changed anything.
    let store = app._db.store().await;
    assert!(rows(&store).await.iter().all(|r| r.status == "open"));
    let (_, list) = missed_list(&app, &t1).await;
    assert_eq!(list["missedCalls"].as_array().unwrap().len(), 2, "{list}");
    eventually("the private caller's Task", || {
        tasks_of(&fake, private).len() == 1
    })
    .await;
    assert_eq!(
        tasks_of(&fake, private)[0]["Subject"],
        "Missed call from a private number"
    );
}

#[tokio::test]
async fn missed_calls_survive_a_restart_with_nothing_lost_or_doubled() {
    let fake = FakeSalesforce::start().await;
    // The org is down: the Tasks wait in the outbox when the server stops.
    fake.set_unavailable(true);
    let app = TestApp::spawn_with(|c| configure(c, &fake, Some(1))).await;
    let token = available(&app, "agent1", "1001").await;
    pause(&app, &token).await;
    let (mut socket, _) = ws_connect(&app, &token).await;
    let gave_up = abandoned(&app, "1155564001").await;
    let no_agent = inbound_call(&app, "1155564002", None).await;
    wait_for(&mut socket, "missedCallsChanged").await;
    wait_for(&mut socket, "missedCallsChanged").await;
    drop(socket);
    let db = app.stop().await;
    assert!(fake.records("Task").is_empty());

    // The same database, a new server; the org is back.
    fake.set_unavailable(false);
    let app = TestApp::spawn_on(db, |c| configure(c, &fake, Some(1))).await;
    eventually("both Tasks after the restart", || {
        [gave_up, no_agent].iter().all(|c| tasks_of(&fake, *c).len() == 1)
    })
    .await;
    let store = app._db.store().await;
    let stored = rows(&store).await;
    assert_eq!(stored.len(), 2, "{stored:?}");
    assert_eq!(
        stored.iter().map(|r| r.reason.as_str()).collect::<Vec<_>>(),
        vec!["abandoned", "noAgent"]
    );
    for call in [gave_up, no_agent] {
        assert_eq!(outbox_rows(&store, call).await, 1);
    }
    // The agent's session survived: the list is there, and a call back still closes one.
    let (_, list) = missed_list(&app, &token).await;
    assert_eq!(list["missedCalls"].as_array().unwrap().len(), 2, "{list}");
    let (mut socket, _) = ws_connect(&app, &token).await;
    let (status, answer) = call_back(&app, &token, &gave_up.to_string()).await;
    assert_eq!(status, 200, "{answer}");
    let callback = answer["callId"].as_u64().unwrap();
    assert!(callback > no_agent, "call ids never repeat");
    sim(&app, &format!("calls/{callback}/answer"), json!({}))
        .await
        .ok();
    wait_for(&mut socket, "missedCallsChanged").await;
    eventually("the Task completed", || {
        tasks_of(&fake, gave_up)
            .first()
            .is_some_and(|t| t.get("Status") == Some(&json!("Completed")))
    })
    .await;
    // Two missed-call Tasks and the call back's own: nothing doubled.
    eventually("the call back's Task", || tasks_of(&fake, callback).len() == 1).await;
    assert_eq!(fake.records("Task").len(), 3, "{:?}", fake.records("Task"));
}

/// The binary killed with `kill -9` right after two misses were acknowledged and while a third
/// call waits in a queue, with the org down: started again on the same database, each missed
/// call is one row and one Task, and the call the kill cut off is missed too.
#[tokio::test]
async fn missed_calls_acknowledged_before_a_kill_9_are_all_written_once() {
    let fake = FakeSalesforce::start().await;
    fake.set_unavailable(true);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("ctibridge.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[server]
bind = "127.0.0.1:0"

[database]
url = "sqlite://{db}"

{salesforce}
missed_call_owner = "{owner}"

[[telephony.campaigns]]
id = 97
name = "SALESFORCE"
kind = "inbound"
queue = "salesforce"
database_id = 1
max_wait_secs = 1

[[telephony.campaigns]]
id = 95
name = "NO WAIT LIMIT"
kind = "inbound"
queue = "slow"
database_id = 1
"#,
            db = dir.path().join("ctibridge.db").display(),
            salesforce = fake.jwt_bearer_toml(),
            owner = MISSED_OWNER,
        ),
    )
    .unwrap();
    let app = crate::restart::Process::start(&config);
    let token = available(&app, "agent1", "1001").await;
    pause(&app, &token).await;
    let (mut socket, _) = ws_connect(&app, &token).await;
    let call = inbound_call(&app, "1155566001", None).await;
    sim(&app, &format!("calls/{call}/hangup"), json!({})).await.ok();
    let waited = inbound_call(&app, "1155566002", None).await;
    wait_for(&mut socket, "missedCallsChanged").await;
    wait_for(&mut socket, "missedCallsChanged").await;
    let (_, list) = missed_list(&app, &token).await;
    assert_eq!(list["missedCalls"].as_array().unwrap().len(), 2, "{list}");
    // Nobody takes campaign 95's calls: this one is waiting when the process dies.
    let stuck = sim(&app, "inbound", json!({"ani": "1155566003", "queue": "slow"}))
        .await
        .ok()["callId"]
        .as_u64()
        .unwrap();
    app.kill9();
    assert!(fake.records("Task").is_empty());

    fake.set_unavailable(false);
    let app = crate::restart::Process::start(&config);
    eventually("the three Tasks after the restart", || {
        [call, waited, stuck]
            .iter()
            .all(|c| tasks_of(&fake, *c).len() == 1)
    })
    .await;
    let store = ctibridge::store::Store::connect_and_migrate(
        &format!("sqlite://{}", dir.path().join("ctibridge.db").display()),
        2,
    )
    .await
    .unwrap();
    let stored = rows(&store).await;
    assert_eq!(
        stored
            .iter()
            .map(|r| (r.call_id, r.reason.as_str()))
            .collect::<Vec<_>>(),
        vec![
            (call as i64, "abandoned"),
            (waited as i64, "noAgent"),
            (stuck as i64, "serverRestart")
        ]
    );
    assert!(stored.iter().all(|r| r.status == "open"), "{stored:?}");
    for c in [call, waited, stuck] {
        assert_eq!(outbox_rows(&store, c).await, 1);
        let task = &tasks_of(&fake, c)[0];
        assert_eq!(task["Status"], "Not Started");
        assert_eq!(task["OwnerId"], MISSED_OWNER);
    }
    assert_eq!(fake.records("Task").len(), 3);
    assert_eq!(
        tasks_of(&fake, stuck)[0]["Subject"],
        "Missed call from 1155566003"
    );
    let (_, list) = missed_list(&app, &token).await;
    assert_eq!(list["missedCalls"].as_array().unwrap().len(), 2, "{list}");
    drop(app);
}

/// The wait runs out while an agent's phone rings: that ring gets its chance, and when it
/// rings out the call is not queued again but missed (`ringOut`).
#[tokio::test]
async fn a_wait_that_runs_out_while_a_phone_rings_ends_when_the_ring_does() {
    let fake = FakeSalesforce::start().await;
    let app = TestApp::spawn_with(|c| {
        configure(c, &fake, Some(1));
        c.telephony.ring_timeout_secs = 3;
    })
    .await;
    let token = available(&app, "agent1", "1001").await;
    let (mut socket, _) = ws_connect(&app, &token).await;
    let call = inbound_call(&app, "1155567001", None).await;
    wait_for(&mut socket, "callOffered").await;
    // The ring runs its 3 s although the wait (1 s) ran out; then it ends for the agent.
    let ended = wait_for(&mut socket, "callEnded").await;
    assert_eq!(ended["reason"], "noAnswer", "{ended}");
    wait_for(&mut socket, "missedCallsChanged").await;
    let store = app._db.store().await;
    let stored = rows(&store).await;
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert_eq!(
        (
            stored[0].call_id,
            stored[0].reason.as_str(),
            stored[0].status.as_str()
        ),
        (call as i64, "ringOut", "open")
    );
    assert!(stored[0].waited_secs >= 3, "the ring ran its course: {stored:?}");
    // Not offered again: agent1 was paused for not answering, and the call is gone.
    let position = rpc(&app, Some(&token), "Position", json!({})).await;
    assert!(position.ok()["call"].is_null());
}

/// Settings a server refuses to start with, saying what is wrong.
#[tokio::test]
async fn bad_hours_and_a_bad_missed_call_owner_are_refused_in_words() {
    let db = TestDb::sqlite();
    let mut config = ctibridge::config::Config::default();
    config.server.bind = "127.0.0.1:0".parse().unwrap();
    config.database.url = db.url.clone();
    let mut campaigns = ctibridge::telephony::engine::campaign::demo_campaigns();
    campaigns[0].hours = vec!["mon-fri 20:00-08:00".into()];
    config.telephony.campaigns = campaigns;
    let error = match ctibridge::startup::Application::build(config).await {
        Ok(_) => panic!("a server with backwards hours started"),
        Err(e) => format!("{e:#}"),
    };
    assert!(
        error.contains("campaign 97: hours: `20:00-08:00`: the range must end after it starts"),
        "{error}"
    );

    let salesforce = ctibridge::salesforce::config::SalesforceConfig {
        missed_call_owner: Some("Ana's queue".into()),
        ..Default::default()
    };
    let error = salesforce.validate().unwrap_err();
    assert!(
        error.contains("salesforce.missed_call_owner must be a Salesforce user id"),
        "{error}"
    );
}
