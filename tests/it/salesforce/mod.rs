//! Salesforce write-back against the fake org over real HTTP: token flows, the REST client,
//! the durable outbox and its worker.

mod auth;
mod client;
mod fake_soql;
mod flows;
mod outbox;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use ctibridge::salesforce::SalesforceClient;
use ctibridge::salesforce::auth::{TokenCache, token_source};
use ctibridge::salesforce::config::{AuthFlow, SalesforceConfig};
use ctibridge::salesforce::worker::Clock;
use ctibridge::store::Store;

use crate::support::fake_salesforce::{FakeConfig, FakeSalesforce, TEST_PRIVATE_KEY};

/// The configuration a deployment would have for the fake org.
pub fn config_for(fake: &FakeSalesforce, flow: AuthFlow) -> SalesforceConfig {
    let defaults = FakeConfig::default();
    let url = url::Url::parse(&fake.url).unwrap();
    SalesforceConfig {
        task_log: Default::default(),
        flow: Some(flow),
        login_url: url.clone(),
        my_domain_url: Some(url),
        client_id: Some(defaults.client_id.clone()),
        client_secret: Some(defaults.client_secret.clone().into()),
        username: Some(defaults.username.clone()),
        private_key_path: Some(TEST_PRIVATE_KEY.into()),
        refresh_token: Some(defaults.refresh_tokens[0].clone().into()),
        api_version: "62.0".into(),
        missed_call_owner: None,
    }
}

pub async fn client_with(config: &SalesforceConfig, store: &Store) -> SalesforceClient {
    let http = SalesforceClient::http_client();
    let source = token_source(config, http.clone(), store.clone())
        .await
        .expect("token source")
        .expect("configured");
    SalesforceClient::new(http, TokenCache::new(source), &config.api_version)
}

pub async fn jwt_client(fake: &FakeSalesforce, store: &Store) -> SalesforceClient {
    client_with(&config_for(fake, AuthFlow::JwtBearer), store).await
}

/// A migrated SQLite store; keep the `TestDb` alive as long as the store.
pub async fn scratch_store() -> (crate::support::db::TestDb, Store) {
    let db = crate::support::db::TestDb::sqlite();
    let store = db.store().await;
    (db, store)
}

/// A clock the test moves by hand.
#[derive(Debug, Default)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    pub fn at(ms: i64) -> Arc<Self> {
        Arc::new(Self(AtomicI64::new(ms)))
    }

    pub fn advance_ms(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}
