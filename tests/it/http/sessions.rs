//! Sessions: Login, tokens stored hashed, expiry, revocation, second device, failed-login
//! limits.

use serde_json::json;

use super::*;

async fn store_of(app: &TestApp) -> ctibridge::store::Store {
    ctibridge::store::Store::connect(&app._db.url, 1).await.unwrap()
}

#[tokio::test]
async fn wrong_passwords_and_unknown_users_get_the_same_401() {
    let app = TestApp::spawn().await;
    let wrong = rpc(
        &app,
        None,
        "Login",
        json!({"device": "1001", "user": "agent1", "password": "nope"}),
    )
    .await;
    assert_eq!((wrong.status, wrong.code()), (401, "invalid_credentials"));
    let unknown = rpc(
        &app,
        None,
        "Login",
        json!({"device": "1001", "user": "mallory", "password": "demo"}),
    )
    .await;
    assert_eq!((unknown.status, unknown.code()), (401, "invalid_credentials"));
    assert_eq!(wrong.body["error"]["message"], unknown.body["error"]["message"]);
}

#[tokio::test]
async fn methods_need_a_valid_bearer_token() {
    let app = TestApp::spawn().await;
    let none = rpc(&app, None, "Position", json!({})).await;
    assert_eq!((none.status, none.code()), (401, "missing_token"));
    let garbage = rpc(&app, Some("not-a-token"), "Position", json!({})).await;
    assert_eq!((garbage.status, garbage.code()), (401, "invalid_token"));
    let response = app
        .client
        .post(app.url("/neoapi/Position"))
        .header("authorization", "Basic YWdlbnQxOmRlbW8=")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn tokens_are_stored_only_as_sha256_hashes() {
    let app = TestApp::spawn().await;
    let token = login(&app, "agent1", "1001").await;
    let store = store_of(&app).await;
    let stored: Vec<String> = sqlx::query_scalar("SELECT token_hash FROM agent_sessions")
        .fetch_all(store.pool())
        .await
        .unwrap();
    assert_eq!(stored, vec![ctibridge::http::session::hash_token(&token)]);
    assert_ne!(stored[0], token);
}

#[tokio::test]
async fn logout_revokes_the_token() {
    let app = TestApp::spawn().await;
    let token = login(&app, "agent1", "1001").await;
    rpc(&app, Some(&token), "Logout", json!({})).await.ok();
    let after = rpc(&app, Some(&token), "Position", json!({})).await;
    assert_eq!((after.status, after.code()), (401, "invalid_token"));
    // The user may log in again, on any device.
    login(&app, "agent1", "1002").await;
}

#[tokio::test]
async fn logout_during_a_call_is_refused_and_the_token_stays_valid() {
    let app = TestApp::spawn().await;
    let token = available(&app, "agent1", "1001").await;
    inbound_call(&app, "1155550100", None).await;
    sim(&app, "agents/agent1/answer", json!({})).await.ok();
    let refused = rpc(&app, Some(&token), "Logout", json!({})).await;
    assert_eq!((refused.status, refused.code()), (409, "invalid_state"));
    assert_eq!(
        rpc(&app, Some(&token), "Position", json!({})).await.ok()["state"],
        "inCall"
    );
}

#[tokio::test]
async fn expired_tokens_are_refused() {
    let app = TestApp::spawn().await;
    let token = login(&app, "agent1", "1001").await;
    let store = store_of(&app).await;
    sqlx::query("UPDATE agent_sessions SET expires_at_ms = $1")
        .bind(ctibridge::store::now_millis() - 1)
        .execute(store.pool())
        .await
        .unwrap();
    let answer = rpc(&app, Some(&token), "Position", json!({})).await;
    assert_eq!((answer.status, answer.code()), (401, "invalid_token"));
}

#[tokio::test]
async fn a_second_device_is_refused_while_the_first_keeps_its_session() {
    let app = TestApp::spawn().await;
    let first = login(&app, "agent1", "1001").await;
    let second = rpc(
        &app,
        None,
        "Login",
        json!({"device": "1002", "user": "agent1", "password": "demo"}),
    )
    .await;
    assert_eq!((second.status, second.code()), (409, "already_logged_in"));
    assert!(second.body["error"]["message"].as_str().unwrap().contains("1001"));
    assert_eq!(
        rpc(&app, Some(&first), "Position", json!({})).await.ok()["device"],
        "1001"
    );
    // A wrong password does not learn that the user is logged in.
    let wrong = rpc(
        &app,
        None,
        "Login",
        json!({"device": "1002", "user": "agent1", "password": "x"}),
    )
    .await;
    assert_eq!(wrong.status, 401);
}

#[tokio::test]
async fn logging_in_again_on_the_same_device_replaces_the_old_token() {
    let app = TestApp::spawn().await;
    let old = available(&app, "agent1", "1001").await;
    let (mut old_socket, _) = ws_connect(&app, &old).await;
    let new = login(&app, "agent1", "1001").await;
    assert_ne!(old, new);
    let (code, reason) = wait_close(&mut old_socket).await;
    assert_eq!(code, 4001, "{reason}");
    assert_eq!(reason, "session replaced by a new login");
    let stale = rpc(&app, Some(&old), "Position", json!({})).await;
    assert_eq!(stale.code(), "invalid_token");
    // The telephony state survived: still in the campaign.
    assert_eq!(
        rpc(&app, Some(&new), "Position", json!({})).await.ok()["state"],
        "available"
    );
}

#[tokio::test]
async fn failed_logins_are_limited_per_user_with_retry_after() {
    let app = TestApp::spawn_with(|c| c.server.login_failures_per_user = 2).await;
    for _ in 0..2 {
        let answer = rpc(
            &app,
            None,
            "Login",
            json!({"device": "1001", "user": "agent1", "password": "x"}),
        )
        .await;
        assert_eq!(answer.status, 401);
    }
    // Even the right password waits now.
    let limited = rpc(
        &app,
        None,
        "Login",
        json!({"device": "1001", "user": "agent1", "password": "demo"}),
    )
    .await;
    assert_eq!((limited.status, limited.code()), (429, "too_many_attempts"));
    let retry: u64 = limited.retry_after.as_deref().unwrap().parse().unwrap();
    assert!((1..=300).contains(&retry), "{retry}");
    // Other users are not affected.
    login(&app, "agent2", "1002").await;
}

#[tokio::test]
async fn failed_logins_are_limited_per_address() {
    let app = TestApp::spawn_with(|c| c.server.login_failures_per_address = 3).await;
    for user in ["agent1", "agent2", "agent3"] {
        let answer = rpc(
            &app,
            None,
            "Login",
            json!({"device": "1001", "user": user, "password": "x"}),
        )
        .await;
        assert_eq!(answer.status, 401);
    }
    let limited = rpc(
        &app,
        None,
        "Login",
        json!({"device": "1100", "user": "super1", "password": "demo"}),
    )
    .await;
    assert_eq!((limited.status, limited.code()), (429, "too_many_attempts"));
    assert!(limited.retry_after.is_some());
}

// The session table on both backends: several instances on one PostgreSQL database share it.
crate::dual_db_test!(
    sessions_are_found_by_token_until_revoked_or_expired,
    |db: crate::support::db::TestDb| async move {
        use ctibridge::http::session::Sessions;
        use ctibridge::telephony::{AgentId, Role};

        let store = db.store().await;
        let sessions = Sessions::new(store.clone(), std::time::Duration::from_secs(3600));
        let other_instance = Sessions::new(store.clone(), std::time::Duration::from_secs(3600));
        let agent = AgentId::from("super1");
        let (issued, ended) = sessions.create(&agent, "1100", Role::Supervisor).await.unwrap();
        assert!(ended.is_empty());
        let found = other_instance.find(&issued.token).await.unwrap().expect("found");
        assert_eq!(found, issued.session);
        assert_eq!(found.role, Role::Supervisor);
        assert!(other_instance.find("some other token").await.unwrap().is_none());

        other_instance.revoke(&found.token_hash).await.unwrap();
        assert!(sessions.find(&issued.token).await.unwrap().is_none());

        // A new login ends every earlier session of the user, on any device or instance.
        let (second, _) = sessions.create(&agent, "1100", Role::Supervisor).await.unwrap();
        let (third, ended) = other_instance
            .create(&agent, "1101", Role::Supervisor)
            .await
            .unwrap();
        assert_eq!(ended, vec![second.session.token_hash.clone()]);
        assert!(sessions.find(&second.token).await.unwrap().is_none());
        assert_eq!(
            sessions.find(&third.token).await.unwrap(),
            Some(third.session.clone())
        );

        let expiring = Sessions::new(store.clone(), std::time::Duration::ZERO);
        let (gone, _) = expiring.create(&agent, "1100", Role::Supervisor).await.unwrap();
        assert!(sessions.find(&gone.token).await.unwrap().is_none());
        store.close().await;
    }
);

#[tokio::test]
async fn a_login_ends_every_earlier_session_of_the_user_even_one_saved_before_a_restart() {
    let app = TestApp::spawn().await;
    let first = login(&app, "agent1", "1001").await;
    let db = app.stop().await;
    // While the server was down the telephony side forgot agent1's login (the platform was
    // reset): the session row of the first login is all that is left of it.
    let store = db.store().await;
    sqlx::query("UPDATE core_agents SET session = NULL")
        .execute(store.pool())
        .await
        .unwrap();
    store.close().await;
    let app = TestApp::spawn_on(db, |_| {}).await;
    let second = login(&app, "agent1", "1003").await;
    for (method, body) in [
        ("Pause", json!({"reason": {"kind": "system", "id": "break"}})),
        ("Logout", json!({})),
        ("Position", json!({})),
    ] {
        let stale = rpc(&app, Some(&first), method, body).await;
        assert_eq!((stale.status, stale.code()), (401, "invalid_token"), "{method}");
    }
    let position = rpc(&app, Some(&second), "Position", json!({})).await;
    assert_eq!(position.ok()["device"], "1003");
    assert_eq!(position.ok()["state"], "loggedIn");
}

#[tokio::test]
async fn parallel_wrong_passwords_count_before_they_are_checked() {
    let app = TestApp::spawn_with(|c| {
        c.server.login_failures_per_user = 5;
        c.server.login_failures_per_address = 1000;
    })
    .await;
    let guesses = (0..40).map(|i| {
        rpc(
            &app,
            None,
            "Login",
            json!({"device": "1001", "user": "agent1", "password": format!("guess{i}")}),
        )
    });
    let answers = futures_util::future::join_all(guesses).await;
    let checked = answers.iter().filter(|a| a.status == 401).count();
    let limited = answers
        .iter()
        .filter(|a| (a.status, a.code()) == (429, "too_many_attempts"))
        .count();
    assert_eq!((checked, limited), (5, 35), "only the limit's worth is checked");
}

/// Sends 40 logins of `user` with a wrong password at once; returns how many were refused
/// because every password-check slot was taken.
async fn busy_in_a_burst(app: &TestApp, user: &str) -> usize {
    let burst = (0..40).map(|_| {
        rpc(
            app,
            None,
            "Login",
            json!({"device": "1001", "user": user, "password": "wrong"}),
        )
    });
    let answers = futures_util::future::join_all(burst).await;
    assert!(
        answers
            .iter()
            .all(|a| a.code() == "invalid_credentials" || a.code() == "busy"),
        "the same answer for known and unknown users"
    );
    answers.iter().filter(|a| a.code() == "busy").count()
}

#[tokio::test]
async fn an_unknown_user_costs_a_password_check_like_a_wrong_password() {
    // No waiting room: a login finds a free check slot or is refused with 503 busy, so a burst
    // shows whether its logins take a check (timing would tell a user name apart otherwise).
    let app = TestApp::spawn_with(|c| {
        c.server.max_waiting_password_checks = 0;
        c.server.login_failures_per_user = 1000;
        c.server.login_failures_per_address = 1000;
    })
    .await;
    assert!(
        busy_in_a_burst(&app, "agent1").await > 0,
        "a wrong password takes a check"
    );
    assert!(
        busy_in_a_burst(&app, "mallory").await > 0,
        "so does an unknown user"
    );
}

#[tokio::test]
async fn password_checks_beyond_the_cores_and_the_waiting_room_are_refused_with_retry_after() {
    let app = TestApp::spawn_with(|c| {
        c.server.max_waiting_password_checks = 1;
        c.server.login_failures_per_user = 1000;
        c.server.login_failures_per_address = 1000;
    })
    .await;
    let burst = (0..40).map(|i| {
        rpc(
            &app,
            None,
            "Login",
            json!({"device": "1001", "user": format!("agent{}", i % 3 + 1), "password": "wrong"}),
        )
    });
    let answers = futures_util::future::join_all(burst).await;
    let busy: Vec<&Answer> = answers.iter().filter(|a| a.status == 503).collect();
    assert!(!busy.is_empty(), "a burst of 40 checks is bounded");
    for answer in &busy {
        assert_eq!(answer.code(), "busy");
        assert_eq!(answer.retry_after.as_deref(), Some("1"));
    }
    assert!(answers.iter().all(|a| matches!(a.status, 401 | 503)));
    // Once the burst is over, logins are checked again.
    login(&app, "agent1", "1001").await;
}

#[tokio::test]
async fn the_login_answer_carrying_the_token_is_not_stored_by_caches() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .post(app.url("/neoapi/Login"))
        .json(&json!({"device": "1001", "user": "agent1", "password": "demo"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");
}
