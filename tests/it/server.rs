//! Server basics: health, readiness, error shape.

use crate::support::server::TestApp;

#[tokio::test]
async fn healthz_answers_ok() {
    let app = TestApp::spawn().await;
    let response = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body, serde_json::json!({"status": "ok"}));
}

#[tokio::test]
async fn readyz_reports_database_and_migrations() {
    let app = TestApp::spawn().await;
    let response = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ready");
    assert_eq!(body["database"], "sqlite");
    assert!(body["migrations"].as_u64().unwrap() >= 1);
}

#[tokio::test]
async fn readyz_is_503_with_the_error_shape_when_the_database_is_gone() {
    let db = crate::support::db::TestDb::sqlite();
    let mut config = ctibridge::config::Config::default();
    config.server.bind = "127.0.0.1:0".parse().unwrap();
    config.database.url = db.url.clone();
    let server = ctibridge::startup::Application::build(config).await.unwrap();
    let port = server.port();
    // The pool closes under the running server: the database no longer answers.
    server.store().close().await;
    tokio::spawn(server.run_until_stopped());
    let response = crate::support::get(&format!("http://127.0.0.1:{port}/readyz")).await;
    assert_eq!(response.status(), 503);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "database_unavailable");
    assert!(!body["error"]["message"].as_str().unwrap().is_empty());
}

#[tokio::test]
async fn unknown_paths_are_404_in_the_error_shape() {
    let app = TestApp::spawn().await;
    for path in ["/no/such/thing", "/sim/agents//answer"] {
        let response = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 404);
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "not_found", "{path}");
    }
}

#[tokio::test]
async fn graceful_stop_ends_the_server() {
    let app = TestApp::spawn().await;
    assert_eq!(
        app.client.get(app.url("/healthz")).send().await.unwrap().status(),
        200
    );
    app.handle.stop(true).await;
    assert!(
        app.client.get(app.url("/healthz")).send().await.is_err(),
        "server still answering after stop"
    );
}
