//! The supervisors' live figures against a scripted stretch of the day whose figures are
//! counted here independently: one call answered, handled and wrapped up, one abandoned while
//! ringing, one abandoned after waiting in the queue with nobody available.

use serde_json::{Value, json};

use super::*;

async fn figures(app: &TestApp, token: &str) -> (u16, Value) {
    let answer = app
        .client
        .get(app.url("/api/stats"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = answer.status().as_u16();
    (status, answer.json().await.unwrap_or(Value::Null))
}

/// Waits (bounded) until the figures satisfy `done` (they follow the event stream).
async fn figures_when(app: &TestApp, token: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) = figures(app, token).await;
        assert_eq!(status, 200, "{body}");
        if done(&body) {
            return body;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "figures never became right: {body}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn supervisors_see_the_floor_as_the_calls_went() {
    let app = TestApp::spawn().await;
    let supervisor = login(&app, "super1", "1100").await;
    let agent = available(&app, "agent1", "1001").await;
    let (mut socket, _) = ws_connect(&app, &agent).await;

    // Only supervisors read the figures.
    assert_eq!(figures(&app, &agent).await.0, 403);

    // 1. Answered, handled, categorized and released.
    let first = inbound_call(&app, "1155554001", None).await;
    wait_for(&mut socket, "callOffered").await;
    sim(&app, "agents/agent1/answer", json!({})).await.ok();
    wait_for(&mut socket, "callConnected").await;
    rpc(&app, Some(&agent), "Hangup", json!({})).await.ok();
    rpc(
        &app,
        Some(&agent),
        "UpdateContact",
        json!({"category": 1, "subcategory": 11}),
    )
    .await
    .ok();
    rpc(&app, Some(&agent), "CRM_Available", json!({})).await.ok();

    // 2. Abandoned while it rang on agent1.
    let second = inbound_call(&app, "1155554002", None).await;
    wait_for(&mut socket, "callOffered").await;
    sim(&app, &format!("calls/{second}/hangup"), json!({})).await.ok();

    // 3. Nobody available: it waits in the queue, then the caller gives up.
    pause(&app, &agent).await;
    let third = inbound_call(&app, "1155554003", None).await;
    let waiting = figures_when(&app, &supervisor, |f| f["queues"][0]["waiting"] == 1).await;
    assert_eq!(waiting["queues"][0]["queue"], "salesforce", "{waiting}");
    sim(&app, &format!("calls/{third}/hangup"), json!({})).await.ok();

    let f = figures_when(&app, &supervisor, |f| f["abandoned"] == 2).await;
    assert_eq!(f["offered"], 3, "{f}");
    assert_eq!(f["answered"], 1, "{f}");
    assert_eq!(f["missed"], 0, "{f}");
    assert_eq!(f["serviceLevelSecs"], 20, "{f}");
    // One of three judged calls answered within 20 s.
    let level = f["serviceLevel"].as_f64().unwrap();
    assert!((level - 1.0 / 3.0).abs() < 1e-9, "{f}");
    assert!(f["averageHandleSecs"].as_f64().unwrap() >= 0.0, "{f}");
    assert!(f["averageWrapUpSecs"].as_f64().is_some(), "one wrap-up: {f}");
    assert_eq!(f["queues"], json!([]), "nobody waits any more: {f}");
    let agent1 = f["agents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["user"] == "agent1")
        .unwrap();
    assert_eq!(agent1["state"], "paused", "{f}");
    assert!(first < second && second < third);

    // The same figures for Prometheus.
    let metrics = super::metrics(&app).await;
    assert!(metrics.contains("ctibridge_calls_offered_today 3"), "{metrics}");
    assert!(metrics.contains("ctibridge_calls_abandoned_today 2"), "{metrics}");
    assert!(
        metrics.contains("ctibridge_agents{state=\"paused\"} 1"),
        "{metrics}"
    );
}
