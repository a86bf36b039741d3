//! Token flows: JWT bearer, client credentials, refresh token with rotation; expiry; errors
//! that name what is wrong and never the secret.

use ctibridge::salesforce::SalesforceError;
use ctibridge::salesforce::auth::{REFRESH_TOKEN_SETTING, StartupError, token_source};
use ctibridge::salesforce::config::AuthFlow;
use ctibridge::salesforce::error::AuthError;

use super::scratch_store;
use super::{client_with, config_for, jwt_client};
use crate::support::db::TestDb;
use crate::support::fake_salesforce::{FakeSalesforce, UNTRUSTED_PRIVATE_KEY};

#[tokio::test]
async fn jwt_bearer_obtains_a_token_and_calls_the_instance() {
    let fake = FakeSalesforce::start().await;
    fake.insert(
        "Contact",
        serde_json::json!({"LastName": "Pérez", "Phone": "+5491155550000"}),
    );
    let (_db, store) = scratch_store().await;
    let client = jwt_client(&fake, &store).await;
    for _ in 0..5 {
        let records = client.query("SELECT Id, Name FROM Contact").await.unwrap();
        assert_eq!(records.len(), 1);
    }
    assert_eq!(fake.requests("token"), 1, "the token is cached");
    assert_eq!(fake.requests("query"), 5);
}

#[tokio::test]
async fn an_assertion_signed_with_another_key_is_refused() {
    let fake = FakeSalesforce::start().await;
    let (_db, store) = scratch_store().await;
    let mut config = config_for(&fake, AuthFlow::JwtBearer);
    config.private_key_path = Some(UNTRUSTED_PRIVATE_KEY.into());
    let client = client_with(&config, &store).await;
    let err = client.query("SELECT Id FROM Contact").await.unwrap_err();
    assert!(
        !err.is_transient(),
        "a refused assertion does not heal by retrying"
    );
    match err {
        SalesforceError::Auth(AuthError::Rejected { error, .. }) => assert_eq!(error, "invalid_grant"),
        other => panic!("expected a refused token, got {other:?}"),
    }
}

#[tokio::test]
async fn an_unknown_user_is_refused() {
    let fake = FakeSalesforce::start().await;
    let (_db, store) = scratch_store().await;
    let mut config = config_for(&fake, AuthFlow::JwtBearer);
    config.username = Some("someone-else@acme.test".into());
    let err = client_with(&config, &store)
        .await
        .query("SELECT Id FROM Contact")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("invalid_grant"), "{err}");
}

#[tokio::test]
async fn client_credentials_flow_and_a_wrong_secret() {
    let fake = FakeSalesforce::start().await;
    let (_db, store) = scratch_store().await;
    let config = config_for(&fake, AuthFlow::ClientCredentials);
    client_with(&config, &store)
        .await
        .query("SELECT Id FROM Account")
        .await
        .unwrap();

    let mut wrong = config.clone();
    wrong.client_secret = Some("not-the-secret-value".to_owned().into());
    let err = client_with(&wrong, &store)
        .await
        .query("SELECT Id FROM Account")
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("invalid_client"), "{text}");
    assert!(
        !text.contains("not-the-secret-value"),
        "secret in the error: {text}"
    );
}

#[tokio::test]
async fn a_rotated_refresh_token_is_persisted_and_survives_a_restart() {
    let fake = FakeSalesforce::start().await;
    let db = TestDb::sqlite();
    let store = db.store().await;
    let config = config_for(&fake, AuthFlow::RefreshToken);

    client_with(&config, &store)
        .await
        .query("SELECT Id FROM Lead")
        .await
        .unwrap();
    let stored = store
        .setting(REFRESH_TOKEN_SETTING)
        .await
        .unwrap()
        .expect("rotated token stored")
        .value;
    assert_eq!(
        fake.valid_refresh_tokens(),
        vec![stored.clone()],
        "the old token is invalid now"
    );

    // A restart: same database, same configuration (holding the now invalid initial token).
    let restarted = client_with(&config, &db.store().await).await;
    restarted
        .query("SELECT Id FROM Lead")
        .await
        .expect("the stored token is used");
    let again = store.setting(REFRESH_TOKEN_SETTING).await.unwrap().unwrap().value;
    assert_ne!(again, stored, "rotated once more");

    // Without the stored token the configured one no longer works.
    let (_fresh_db, fresh) = scratch_store().await;
    let err = client_with(&config, &fresh)
        .await
        .query("SELECT Id FROM Lead")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("expired access/refresh token"), "{err}");
}

#[tokio::test]
async fn an_expired_session_mints_a_new_token_and_retries_once() {
    let fake = FakeSalesforce::start().await;
    let (_db, store) = scratch_store().await;
    let client = jwt_client(&fake, &store).await;
    client.query("SELECT Id FROM Contact").await.unwrap();
    fake.expire_sessions();
    client
        .query("SELECT Id FROM Contact")
        .await
        .expect("retried with a new token");
    assert_eq!(fake.requests("token"), 2);
    assert_eq!(fake.requests("unauthorized"), 1);
}

#[tokio::test]
async fn a_token_endpoint_outage_is_transient() {
    let fake = FakeSalesforce::start().await;
    let (_db, store) = scratch_store().await;
    let client = jwt_client(&fake, &store).await;
    fake.set_token_endpoint_down(true);
    let err = client.query("SELECT Id FROM Contact").await.unwrap_err();
    assert!(err.is_transient(), "{err}");
    fake.set_token_endpoint_down(false);
    client.query("SELECT Id FROM Contact").await.unwrap();
}

#[tokio::test]
async fn key_file_problems_are_clear_start_up_errors() {
    let fake = FakeSalesforce::start().await;
    let (_db, store) = scratch_store().await;
    let http = ctibridge::salesforce::SalesforceClient::http_client();

    let mut config = config_for(&fake, AuthFlow::JwtBearer);
    config.private_key_path = Some("/nonexistent/jwt.key".into());
    let err = token_source(&config, http.clone(), store.clone())
        .await
        .err()
        .expect("refused");
    assert!(matches!(err, StartupError::PrivateKey { .. }));
    assert!(err.to_string().contains("/nonexistent/jwt.key"), "{err}");

    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(
        &garbage,
        "-----BEGIN RSA PRIVATE KEY-----\nc2VjcmV0LWJ5dGVz\n-----END RSA PRIVATE KEY-----\n",
    )
    .unwrap();
    config.private_key_path = Some(garbage);
    let err = token_source(&config, http, store).await.err().expect("refused");
    let text = err.to_string();
    assert!(text.contains("not a PEM-encoded RSA private key"), "{text}");
    assert!(!text.contains("c2VjcmV0"), "key material in the error: {text}");
}
