//! Authorization: an agent acts only on its own calls and state; supervisors monitor; the
//! admin token guards the simulation API.

use serde_json::{Value, json};

use super::*;

/// agent1 talks to a customer; agent2 is logged in elsewhere. Returns (agent1, agent2, call).
async fn agent1_on_a_call(app: &TestApp) -> (String, String, u64) {
    let a = available(app, "agent1", "1001").await;
    let b = login(app, "agent2", "1002").await;
    let call = inbound_call(app, "1155550100", Some("31987456")).await;
    sim(app, "agents/agent1/answer", json!({})).await.ok();
    (a, b, call)
}

async fn position(app: &TestApp, token: &str) -> Value {
    rpc(app, Some(token), "Position", json!({})).await.ok().clone()
}

#[tokio::test]
async fn another_agents_call_is_403_for_every_method_that_names_a_call_and_nothing_changes() {
    let app = TestApp::spawn().await;
    let (a, b, call) = agent1_on_a_call(&app).await;
    let before = position(&app, &a).await;
    assert_eq!(before["state"], "inCall");
    let attempts = [
        ("Hangup", json!({"callId": call})),
        ("SendDtmf", json!({"callId": call, "digits": "1"})),
        (
            "Transfer",
            json!({"callId": call, "target": {"kind": "external", "to": "1155550199"}, "mode": "direct"}),
        ),
        (
            "Transfer",
            json!({"callId": call, "target": {"kind": "user", "to": "agent3"}, "mode": "attended"}),
        ),
    ];
    for (method, body) in attempts {
        let answer = rpc(&app, Some(&b), method, body.clone()).await;
        assert_eq!(
            (answer.status, answer.code()),
            (403, "not_your_call"),
            "{method} {body}"
        );
        assert_eq!(
            position(&app, &a).await,
            before,
            "{method} changed agent1's state"
        );
    }
}

#[tokio::test]
async fn call_methods_act_only_on_the_callers_own_call() {
    let app = TestApp::spawn().await;
    let (a, b, _) = agent1_on_a_call(&app).await;
    let before = position(&app, &a).await;
    let own_call_methods = [
        ("Hangup", json!({})),
        ("SendDtmf", json!({"digits": "1"})),
        (
            "Transfer",
            json!({"target": {"kind": "external", "to": "1155550199"}, "mode": "direct"}),
        ),
        ("CompleteTransfer", json!({})),
        ("CancelTransfer", json!({})),
        ("JoinConference", json!({})),
        (
            "InviteParticipant",
            json!({"participant": {"kind": "external", "who": "1155550199"}}),
        ),
        ("KickAll", json!({})),
        ("EndConference", json!({})),
        ("UpdateContact", json!({"category": 1, "subcategory": 11})),
        ("CRM_ShowingContact", json!({})),
        ("ExecuteTask01", json!({})),
        ("ScheduleCallback", json!({"at": "2099-01-01T00:00:00Z"})),
    ];
    for (method, body) in own_call_methods {
        let answer = rpc(&app, Some(&b), method, body).await;
        assert!(
            matches!(answer.status, 409 | 422),
            "{method}: agent2 has no call, got {} {}",
            answer.status,
            answer.body
        );
        assert_eq!(
            position(&app, &a).await,
            before,
            "{method} changed agent1's state"
        );
    }
}

#[tokio::test]
async fn only_supervisors_monitor_and_they_cannot_act_on_the_agents_call() {
    let app = TestApp::spawn().await;
    let (a, b, call) = agent1_on_a_call(&app).await;
    let refused = rpc(
        &app,
        Some(&b),
        "Monitor",
        json!({"target": "agent1", "mode": "listen"}),
    )
    .await;
    assert_eq!((refused.status, refused.code()), (403, "forbidden"));
    let refused = rpc(&app, Some(&b), "EndMonitor", json!({})).await;
    assert_eq!((refused.status, refused.code()), (403, "forbidden"));

    let s = login(&app, "super1", "1100").await;
    rpc(
        &app,
        Some(&s),
        "Monitor",
        json!({"target": "agent1", "mode": "assist"}),
    )
    .await
    .ok();
    assert_eq!(position(&app, &s).await["monitoring"]["target"], "agent1");
    let users = rpc(&app, Some(&s), "Directory", json!({})).await;
    assert!(
        users.ok()["users"]
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u["user"] == "agent1")
    );
    // Monitoring is not owning: the supervisor cannot hang up the agent's call.
    let answer = rpc(&app, Some(&s), "Hangup", json!({"callId": call})).await;
    assert_eq!(answer.status, 403);
    assert_eq!(position(&app, &a).await["state"], "inCall");
    rpc(&app, Some(&s), "EndMonitor", json!({})).await.ok();
}

#[tokio::test]
async fn the_simulation_api_needs_the_admin_token() {
    let app = TestApp::spawn().await;
    let agent = login(&app, "agent1", "1001").await;
    let body = json!({"ani": "1155550100", "queue": QUEUE});
    let none = app
        .client
        .post(app.url("/sim/inbound"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(none.status(), 401);
    for token in [agent.as_str(), "demo-admin-not"] {
        let answer = app
            .client
            .post(app.url("/sim/inbound"))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 401);
        let error: Value = answer.json().await.unwrap();
        assert_eq!(error["error"]["code"], "invalid_token");
    }
    sim(&app, "inbound", body).await.ok();
}

#[tokio::test]
async fn a_configured_admin_hash_replaces_the_demo_token() {
    let hash = ctibridge::telephony::engine::roster::hash_password("s3cret-admin").unwrap();
    let app = TestApp::spawn_with(|c| c.server.admin_token_hash = Some(hash)).await;
    let body = json!({"ani": "1155550100", "queue": QUEUE});
    let demo = sim(&app, "inbound", body.clone()).await;
    assert_eq!(demo.status, 401);
    for _ in 0..2 {
        let response = app
            .client
            .post(app.url("/sim/inbound"))
            .bearer_auth("s3cret-admin")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
}

fn real_roster(c: &mut ctibridge::config::Config) {
    let hash = ctibridge::telephony::engine::roster::hash_password("pw").unwrap();
    c.telephony.agents = vec![ctibridge::telephony::config::AgentConfig {
        user: "ana".into(),
        device: "2001".into(),
        password_hash: hash,
        role: ctibridge::telephony::Role::Agent,
        salesforce_user_id: None,
        salesforce_username: None,
    }];
}

#[tokio::test]
async fn outside_development_mode_the_simulation_api_is_off_even_with_the_admin_token() {
    let hash = ctibridge::telephony::engine::roster::hash_password("s3cret-admin").unwrap();
    let app = TestApp::spawn_with(|c| {
        real_roster(c);
        c.server.admin_token_hash = Some(hash);
    })
    .await;
    let response = app
        .client
        .post(app.url("/sim/inbound"))
        .bearer_auth("s3cret-admin")
        .json(&json!({"ani": "1155550100", "queue": QUEUE}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"]["code"], "simulation_off");
}

#[tokio::test]
async fn the_simulation_api_runs_outside_development_mode_only_when_enabled() {
    let hash = ctibridge::telephony::engine::roster::hash_password("s3cret-admin").unwrap();
    let app = TestApp::spawn_with(|c| {
        real_roster(c);
        c.server.admin_token_hash = Some(hash);
        c.server.simulation = Some(true);
    })
    .await;
    let response = app
        .client
        .post(app.url("/sim/inbound"))
        .bearer_auth("s3cret-admin")
        .json(&json!({"ani": "1155550100", "queue": QUEUE}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn the_operator_token_reads_metrics_and_cannot_reach_the_simulation_api() {
    let admin = ctibridge::telephony::engine::roster::hash_password("s3cret-admin").unwrap();
    let operator = ctibridge::telephony::engine::roster::hash_password("scraper").unwrap();
    let app = TestApp::spawn_with(|c| {
        c.server.admin_token_hash = Some(admin);
        c.server.operator_token_hash = Some(operator);
    })
    .await;
    let get = |path: &str, token: &str| app.client.get(app.url(path)).bearer_auth(token).send();
    assert_eq!(get("/metrics", "scraper").await.unwrap().status(), 200);
    assert_eq!(get("/admin/salesforce", "scraper").await.unwrap().status(), 200);
    for (path, token) in [
        ("/metrics", "s3cret-admin"),
        ("/admin/salesforce", "s3cret-admin"),
    ] {
        assert_eq!(
            get(path, token).await.unwrap().status(),
            401,
            "{path}: admin token"
        );
    }
    let body = json!({"ani": "1155550100", "queue": QUEUE});
    let injected = app
        .client
        .post(app.url("/sim/inbound"))
        .bearer_auth("scraper")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(injected.status(), 401, "the operator token injects no call");
    let requeue = app
        .client
        .post(app.url("/admin/salesforce/outbox/1/requeue"))
        .bearer_auth("scraper")
        .send()
        .await
        .unwrap();
    assert_eq!(requeue.status(), 401, "nor changes the outbox");
}

#[tokio::test]
async fn wrong_admin_tokens_are_limited_per_address_before_they_are_checked() {
    let hash = ctibridge::telephony::engine::roster::hash_password("s3cret-admin").unwrap();
    let app = TestApp::spawn_with(|c| {
        c.server.admin_token_hash = Some(hash);
        c.server.login_failures_per_address = 3;
    })
    .await;
    let guesses = (0..20).map(|i| {
        app.client
            .post(app.url("/sim/inbound"))
            .bearer_auth(format!("guess{i}"))
            .json(&json!({"ani": "1155550100", "queue": QUEUE}))
            .send()
    });
    let statuses: Vec<u16> = futures_util::future::join_all(guesses)
        .await
        .into_iter()
        .map(|r| r.unwrap().status().as_u16())
        .collect();
    assert_eq!(statuses.iter().filter(|s| **s == 401).count(), 3, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 17, "{statuses:?}");
    // Even the right token waits now.
    let right = app
        .client
        .post(app.url("/sim/inbound"))
        .bearer_auth("s3cret-admin")
        .json(&json!({"ani": "1155550100", "queue": QUEUE}))
        .send()
        .await
        .unwrap();
    assert_eq!(right.status(), 429);
    assert!(right.headers().contains_key("retry-after"));
}

#[tokio::test]
async fn the_bearer_scheme_is_read_in_any_case() {
    let app = TestApp::spawn().await;
    let token = login(&app, "agent1", "1001").await;
    for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
        let response = app
            .client
            .post(app.url("/neoapi/Position"))
            .header("authorization", format!("{scheme} {token}"))
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{scheme}");
    }
}

#[tokio::test]
async fn two_authorization_headers_are_refused_not_guessed_between() {
    let app = TestApp::spawn().await;
    let token = login(&app, "agent1", "1001").await;
    for (first, second) in [(token.as_str(), "other"), ("other", token.as_str())] {
        let answer = super::answer(
            app.client
                .post(app.url("/neoapi/Position"))
                .header("authorization", format!("Bearer {first}"))
                .header("authorization", format!("Bearer {second}"))
                .json(&json!({}))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!((answer.status, answer.code()), (400, "ambiguous_authorization"));
    }
}
