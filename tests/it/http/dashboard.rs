//! The supervisors' dashboard over the real server: the figures' frames on a supervisor's
//! websocket (and nothing of the kind for agents), the history endpoint (JSON, CSV, its
//! refusals), and the day's figures surviving a restart because every call has its row.

use futures_util::SinkExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use super::*;
use crate::support::db::TestDb;

async fn get(app: &TestApp, path: &str, token: Option<&str>) -> reqwest::Response {
    let mut request = app.client.get(app.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

async fn get_json(app: &TestApp, path: &str, token: Option<&str>) -> (u16, Value) {
    let response = get(app, path, token).await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Reads dashboard frames until one satisfies `done`.
async fn frame_when(socket: &mut Socket, done: impl Fn(&Value) -> bool) -> Value {
    loop {
        let frame = next_json(socket).await;
        if frame["type"] == "dashboard" && done(&frame["figures"]) {
            return frame;
        }
    }
}

async fn ask_dashboard(socket: &mut Socket) {
    socket
        .send(Message::text(json!({"type": "dashboard"}).to_string()))
        .await
        .unwrap();
}

/// One call answered by agent1 and released, one abandoned in the queue.
async fn two_calls(app: &TestApp, agent: &str, agent_socket: &mut Socket) {
    inbound_call(app, "1155556001", None).await;
    wait_for(agent_socket, "callOffered").await;
    sim(app, "agents/agent1/answer", json!({})).await.ok();
    wait_for(agent_socket, "callConnected").await;
    rpc(app, Some(agent), "Hangup", json!({})).await.ok();
    rpc(app, Some(agent), "CRM_Available", json!({})).await.ok();
    pause(app, agent).await;
    let second = inbound_call(app, "1155556002", None).await;
    sim(app, &format!("calls/{second}/hangup"), json!({})).await.ok();
}

#[tokio::test]
async fn the_dashboard_follows_the_floor_and_the_day_survives_a_restart() {
    let db = TestDb::sqlite();
    let app = TestApp::spawn_on(db.clone(), |c| c.telephony.dashboard_interval_ms = 100).await;
    let supervisor = login(&app, "super1", "1100").await;
    let agent = available(&app, "agent1", "1001").await;
    let (mut agent_socket, _) = ws_connect(&app, &agent).await;
    let (mut board, _) = ws_connect(&app, &supervisor).await;

    // An agent's socket may not ask for the figures.
    ask_dashboard(&mut agent_socket).await;
    let refused = wait_for(&mut agent_socket, "error").await;
    assert_eq!(refused["error"]["code"], "forbidden", "{refused}");

    // The supervisor's page gets the figures at once, then as they change.
    ask_dashboard(&mut board).await;
    let first = frame_when(&mut board, |_| true).await;
    assert_eq!(first["figures"]["offered"], 0, "{first}");
    assert!(
        first["figures"]["agents"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["user"] == "agent1" && a["state"] == "available"),
        "{first}"
    );
    two_calls(&app, &agent, &mut agent_socket).await;
    let frame = frame_when(&mut board, |f| f["abandoned"] == 1 && f["answered"] == 1).await;
    let f = &frame["figures"];
    assert_eq!(f["offered"], 2, "{frame}");
    assert_eq!(f["missed"], 0, "{frame}");
    assert_eq!(
        f["serviceLevel"], 0.5,
        "one of two judged calls answered in time: {frame}"
    );
    assert!(frame["changedAt"].is_string(), "{frame}");
    let hour = f["hours"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (&hour["offered"], &hour["answered"], &hour["abandoned"]),
        (&json!(2), &json!(1), &json!(1)),
        "{frame}"
    );
    // The agent's socket got no figures meanwhile: everything up to the answer to a ping is
    // its own events.
    agent_socket
        .send(Message::text(json!({"type": "ping"}).to_string()))
        .await
        .unwrap();
    loop {
        let frame = next_json(&mut agent_socket).await;
        assert_ne!(frame["type"], "dashboard", "{frame}");
        if frame["type"] == "pong" {
            break;
        }
    }

    // The same figures from the API, and the rows they come from.
    let (_, live) = get_json(&app, "/api/stats", Some(&supervisor)).await;
    assert_eq!(
        (live["offered"].clone(), live["answered"].clone()),
        (json!(2), json!(1))
    );
    let rows: Vec<(String, Option<String>)> =
        sqlx::query_as("SELECT outcome, agent FROM stats_calls ORDER BY call_id")
            .fetch_all(app_store(&db).await.pool())
            .await
            .unwrap();
    assert_eq!(
        rows,
        vec![
            ("answered".to_owned(), Some("agent1".to_owned())),
            ("abandoned".to_owned(), None)
        ]
    );

    // The history of today, by hour and by agent, JSON and CSV.
    let today = chrono::Utc::now().date_naive();
    let path = format!("/api/stats/history?from={today}&to={today}&by=hour");
    let (status, history) = get_json(&app, &path, Some(&supervisor)).await;
    assert_eq!(status, 200, "{history}");
    let row = &history["rows"][0];
    assert_eq!(
        (&row["offered"], &row["answered"], &row["abandoned"]),
        (&json!(2), &json!(1), &json!(1)),
        "{history}"
    );
    assert_eq!(row["serviceLevel"], 0.5, "{history}");
    let (_, by_agent) = get_json(
        &app,
        &format!("/api/stats/history?from={today}&to={today}&by=agent"),
        Some(&supervisor),
    )
    .await;
    assert_eq!(by_agent["rows"][0]["agent"], "agent1", "{by_agent}");
    assert_eq!(by_agent["rows"][0]["answered"], 1, "{by_agent}");
    assert_eq!(by_agent["rows"][1]["agent"], Value::Null, "{by_agent}");
    assert_eq!(by_agent["rows"][1]["abandoned"], 1, "{by_agent}");
    let csv = get(&app, &format!("{path}&format=csv"), Some(&supervisor)).await;
    assert_eq!(csv.status(), 200);
    assert!(
        csv.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv"),
        "{:?}",
        csv.headers()
    );
    let text = csv.text().await.unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(
        lines[0].starts_with("hour,offered,answered,answered_in_time,abandoned,missed,service_level"),
        "{text}"
    );
    assert!(lines[1].contains(",2,1,1,1,0,0.500,"), "{text}");
    // Accept: text/csv does the same.
    let accepted = app
        .client
        .get(app.url(&path))
        .bearer_auth(&supervisor)
        .header("accept", "text/csv")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(accepted, text);

    // And for Prometheus.
    let metrics = super::metrics(&app).await;
    assert!(
        metrics.contains("ctibridge_calls_answered_in_time_today 1\n"),
        "{metrics}"
    );
    assert!(metrics.contains("ctibridge_service_level 0.5\n"), "{metrics}");

    // The page closes the board: no more figures on that socket.
    board
        .send(Message::text(
            json!({"type": "dashboard", "on": false}).to_string(),
        ))
        .await
        .unwrap();
    loop {
        let frame = next_json(&mut board).await;
        if frame["type"] == "dashboard" && frame["on"] == false {
            break;
        }
    }
    let third = inbound_call(&app, "1155556003", None).await;
    sim(&app, &format!("calls/{third}/hangup"), json!({})).await.ok();
    // The figures follow the event stream: wait (bounded) for the third call to be counted.
    let deadline = std::time::Instant::now() + WAIT;
    let live_now = loop {
        let (_, now) = get_json(&app, "/api/stats", Some(&supervisor)).await;
        if now["abandoned"] == 2 {
            break now;
        }
        assert!(std::time::Instant::now() < deadline, "never counted: {now}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    board
        .send(Message::text(json!({"type": "ping"}).to_string()))
        .await
        .unwrap();
    loop {
        let frame = next_json(&mut board).await;
        assert_ne!(frame["type"], "dashboard", "{frame}");
        if frame["type"] == "pong" {
            break;
        }
    }
    let live = live_now;

    // A restart: today's figures are still there.
    drop(board);
    drop(agent_socket);
    let db = app.stop().await;
    let app = TestApp::spawn_on(db, |_| {}).await;
    let supervisor = login(&app, "super1", "1100").await;
    let (status, after) = get_json(&app, "/api/stats", Some(&supervisor)).await;
    assert_eq!(status, 200, "{after}");
    assert_eq!(
        (&after["offered"], &after["answered"], &after["abandoned"]),
        (&json!(3), &json!(1), &json!(2)),
        "{after}"
    );
    assert_eq!(after["serviceLevel"], live["serviceLevel"], "{after}");
    assert_eq!(after["averageHandleSecs"], live["averageHandleSecs"], "{after}");
    assert_eq!(after["averageWrapUpSecs"], live["averageWrapUpSecs"], "{after}");
    assert_eq!(after["hours"], live["hours"], "{after}");
    // agent1's session came back with the restart, and so does its line on the board.
    assert!(
        after["agents"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["user"] == "agent1" && a["state"] == "paused"),
        "{after}"
    );
}

async fn app_store(db: &TestDb) -> ctibridge::store::Store {
    db.store().await
}

#[tokio::test]
async fn the_history_is_for_supervisors_and_refuses_unbounded_or_malformed_ranges() {
    let app = TestApp::spawn().await;
    let supervisor = login(&app, "super1", "1100").await;
    let agent = login(&app, "agent1", "1001").await;
    let ok = "/api/stats/history?from=2026-01-01&to=2026-01-31";

    assert_eq!(get_json(&app, ok, None).await.0, 401);
    assert_eq!(get_json(&app, ok, Some(&agent)).await.0, 403);
    let (status, body) = get_json(&app, ok, Some(&supervisor)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["rows"], json!([]), "{body}");
    assert_eq!(body["by"], "hour", "{body}");

    for (query, code, says) in [
        ("from=2025-01-01&to=2025-12-31", "range_too_long", "365 days"),
        ("from=2026-01-01&to=2026-02-01", "range_too_long", "32 days"),
        ("from=2026-02-10&to=2026-02-01", "invalid_range", "after `to`"),
        (
            "from=2026-02-30&to=2026-03-01",
            "invalid_range",
            "`from` must be a day",
        ),
        (
            "from=2026-2-1&to=2026-03-01",
            "invalid_range",
            "`from` must be a day",
        ),
        ("from=yesterday&to=2026-03-01", "invalid_range", "yesterday"),
        ("to=2026-03-01", "invalid_range", "`from` is required"),
        ("from=2026-03-01", "invalid_range", "`to` is required"),
        (
            "from=2026-03-01&to=2026-03-01&by=week",
            "invalid_group",
            "`hour` or `agent`",
        ),
        (
            "from=2026-03-01&to=2026-03-01&format=xml",
            "invalid_format",
            "`json` or `csv`",
        ),
    ] {
        let (status, body) = get_json(&app, &format!("/api/stats/history?{query}"), Some(&supervisor)).await;
        assert_eq!(status, 422, "{query}: {body}");
        assert_eq!(body["error"]["code"], code, "{query}: {body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(says), "{query}: {message}");
    }
}

#[tokio::test]
async fn a_login_that_needs_the_supervisor_role_leaves_an_agents_session_alone() {
    let app = TestApp::spawn().await;
    // agent1 works on the softphone.
    let softphone = available(&app, "agent1", "1001").await;

    // The dashboard's login (role supervisor) with agent1's credentials, on the same device and
    // on another: refused after the password check, and nothing changes.
    for device in ["1001", "1009"] {
        let refused = rpc(
            &app,
            None,
            "Login",
            json!({"device": device, "user": "agent1", "password": "demo", "role": "supervisor"}),
        )
        .await;
        assert_eq!(refused.status, 403, "{:?}", refused.body);
        assert_eq!(refused.body["error"]["code"], "wrong_role", "{:?}", refused.body);
    }
    let position = rpc(&app, Some(&softphone), "Position", json!({}))
        .await
        .ok()
        .clone();
    assert_eq!(position["device"], "1001", "{position}");
    assert_eq!(position["state"], "available", "{position}");

    // A wrong password is still the usual refusal (the role says nothing about the user).
    let wrong = rpc(
        &app,
        None,
        "Login",
        json!({"device": "1001", "user": "agent1", "password": "nope", "role": "supervisor"}),
    )
    .await;
    assert_eq!(wrong.status, 401, "{:?}", wrong.body);

    // An agent not logged in stays logged out.
    let refused = rpc(
        &app,
        None,
        "Login",
        json!({"device": "1002", "user": "agent2", "password": "demo", "role": "supervisor"}),
    )
    .await;
    assert_eq!(refused.status, 403, "{:?}", refused.body);
    let store = app._db.store().await;
    let sessions: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM agent_sessions WHERE agent = $1")
        .bind("agent2")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(sessions, 0);

    // A supervisor gets in.
    let supervisor = rpc(
        &app,
        None,
        "Login",
        json!({"device": "1100", "user": "super1", "password": "demo", "role": "supervisor"}),
    )
    .await
    .ok()
    .clone();
    assert_eq!(supervisor["agent"]["role"], "supervisor", "{supervisor}");
}

#[tokio::test]
async fn a_cancelled_consultation_is_not_the_end_of_the_call_in_the_figures() {
    let app = TestApp::spawn().await;
    let supervisor = login(&app, "super1", "1100").await;
    let first = available(&app, "agent1", "1001").await;
    let (mut socket, _) = ws_connect(&app, &first).await;
    available(&app, "agent2", "1002").await;
    let call = inbound_call(&app, "1155558008", None).await;
    wait_for(&mut socket, "callOffered").await;
    sim(&app, "agents/agent1/answer", json!({})).await.ok();
    wait_for(&mut socket, "callConnected").await;

    // agent1 consults agent2, who answers; agent1 takes the customer back.
    rpc(
        &app,
        Some(&first),
        "Transfer",
        json!({"callId": call, "target": {"kind": "user", "to": "agent2"}, "mode": "attended"}),
    )
    .await
    .ok();
    sim(&app, "agents/agent2/answer", json!({})).await.ok();
    wait_for(&mut socket, "transferAnswered").await;
    rpc(&app, Some(&first), "CancelTransfer", json!({})).await.ok();
    wait_for(&mut socket, "transferCancelled").await;

    // agent2 leaving the consultation did not end the call: no handle time yet, no end.
    let store = app._db.store().await;
    let row = || async {
        sqlx::query_as::<_, (Option<i64>, Option<String>, Option<String>)>(
            "SELECT ended_at_ms, outcome, current_agent FROM stats_calls WHERE call_id = $1",
        )
        .bind(call as i64)
        .fetch_one(store.pool())
        .await
        .unwrap()
    };
    assert_eq!(row().await, (None, None, Some("agent1".to_owned())));
    let (_, figures) = get_json(&app, "/api/stats", Some(&supervisor)).await;
    assert_eq!(figures["averageHandleSecs"], Value::Null, "{figures}");

    // agent1 hangs up: now it ends, answered, with its whole handle time.
    rpc(&app, Some(&first), "Hangup", json!({})).await.ok();
    wait_for(&mut socket, "callEnded").await;
    let (ended, outcome, _) = row().await;
    assert!(ended.is_some());
    assert_eq!(outcome.as_deref(), Some("answered"));
    let (_, figures) = get_json(&app, "/api/stats", Some(&supervisor)).await;
    assert!(figures["averageHandleSecs"].is_number(), "{figures}");
    assert_eq!(figures["answered"], 1, "{figures}");
}
