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
        let issued = sessions.create(&agent, "1100", Role::Supervisor).await.unwrap();
        let found = other_instance.find(&issued.token).await.unwrap().expect("found");
        assert_eq!(found, issued.session);
        assert_eq!(found.role, Role::Supervisor);
        assert!(other_instance.find("some other token").await.unwrap().is_none());

        other_instance.revoke(&found.token_hash).await.unwrap();
        assert!(sessions.find(&issued.token).await.unwrap().is_none());

        let second = sessions.create(&agent, "1100", Role::Supervisor).await.unwrap();
        let third = sessions.create(&agent, "1101", Role::Supervisor).await.unwrap();
        let revoked = sessions.revoke_agent(&agent).await.unwrap();
        assert_eq!(revoked.len(), 2);
        assert!(sessions.find(&second.token).await.unwrap().is_none());
        assert!(sessions.find(&third.token).await.unwrap().is_none());

        let expiring = Sessions::new(store.clone(), std::time::Duration::ZERO);
        let gone = expiring.create(&agent, "1100", Role::Supervisor).await.unwrap();
        assert!(sessions.find(&gone.token).await.unwrap().is_none());
        store.close().await;
    }
);
