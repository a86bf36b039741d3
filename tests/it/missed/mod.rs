//! Missed calls: every inbound call no agent answered is one row and one open Salesforce Task
//! (abandoned, no agent, rang out, outside hours), nothing lost or doubled across a restart;
//! a call back or an answered re-call closes it and its Task; agents see and call back only
//! their campaign's (or their records') missed calls.

mod asterisk;
mod recorder;
mod server;

use std::time::Duration;

use chrono::Datelike;
use ctibridge::config::Config;
use ctibridge::store::Store;
use ctibridge::telephony::config::{CampaignConfig, CampaignKind};
use serde_json::{Map, Value, json};
use sqlx::Row;

use crate::support::fake_salesforce::FakeSalesforce;
use crate::support::server::Api;

/// The user the Tasks of callers with no known owner go to.
pub const MISSED_OWNER: &str = "005000000000099AAA";
/// An inbound campaign that is closed today (the intake does not queue its calls).
pub const CLOSED: i64 = 96;
pub const CLOSED_QUEUE: &str = "closed";

/// Opening hours that exclude today and tomorrow (UTC).
pub fn closed_now() -> Vec<String> {
    const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    let today = chrono::Utc::now().weekday().num_days_from_monday() as usize;
    vec![format!("{} 00:00-24:00", DAYS[(today + 3) % 7])]
}

/// The demo configuration with the fake org, a missed-call owner, 1 s ring timeouts, the
/// inbound campaign 97 giving up after `max_wait` seconds, and campaign 96 closed today.
pub fn configure(config: &mut Config, fake: &FakeSalesforce, max_wait: Option<u64>) {
    config.salesforce =
        crate::salesforce::config_for(fake, ctibridge::salesforce::config::AuthFlow::JwtBearer);
    config.salesforce.missed_call_owner = Some(MISSED_OWNER.into());
    config.telephony.ring_timeout_secs = 1;
    let mut campaigns = ctibridge::telephony::engine::campaign::demo_campaigns();
    for c in &mut campaigns {
        if c.id == 97 {
            c.max_wait_secs = max_wait;
        }
    }
    campaigns.push(CampaignConfig {
        id: CLOSED,
        name: "AFTER HOURS".into(),
        kind: CampaignKind::Inbound,
        dialer: None,
        queue: Some(CLOSED_QUEUE.into()),
        database_id: 1,
        crm_id: 1,
        transfer_phones: vec![],
        categories: vec![],
        auto_release_secs: None,
        callback_campaign: None,
        max_wait_secs: None,
        hours: closed_now(),
        timezone: Some("Europe/Madrid".into()),
    });
    config.telephony.campaigns = campaigns;
}

/// One `missed_calls` row as the database holds it.
#[derive(Debug, Clone)]
pub struct MissedRow {
    pub call_id: i64,
    pub phone: Option<String>,
    pub campaign: i64,
    pub reason: String,
    pub waited_secs: i64,
    pub status: String,
    pub closed_by: Option<i64>,
    pub closed_by_agent: Option<String>,
}

pub async fn rows(store: &Store) -> Vec<MissedRow> {
    sqlx::query(
        "SELECT call_id, phone, campaign, reason, waited_secs, status, closed_by, closed_by_agent \
         FROM missed_calls ORDER BY call_id",
    )
    .fetch_all(store.pool())
    .await
    .unwrap()
    .iter()
    .map(|r| MissedRow {
        call_id: r.get(0),
        phone: r.get(1),
        campaign: r.get(2),
        reason: r.get(3),
        waited_secs: r.get(4),
        status: r.get(5),
        closed_by: r.get(6),
        closed_by_agent: r.get(7),
    })
    .collect()
}

/// How many outbox rows were ever written for the Task of call `call`.
pub async fn outbox_rows(store: &Store, call: u64) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM salesforce_outbox WHERE sobject = 'Task' AND ext_id_value = $1")
        .bind(call.to_string())
        .fetch_one(store.pool())
        .await
        .unwrap()
}

/// The fake org's Tasks of call `call`.
pub fn tasks_of(fake: &FakeSalesforce, call: u64) -> Vec<Map<String, Value>> {
    fake.records("Task")
        .into_iter()
        .filter(|t| t.get("ctiCallId__c") == Some(&json!(call.to_string())))
        .collect()
}

/// Waits (bounded) until the fake org shows what `done` wants (the outbox worker delivers on
/// its own schedule; there is no event to wait on from here).
pub async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while !done() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// `GET /api/missed` as the agent of `token`: status and body.
pub async fn missed_list(app: &impl Api, token: &str) -> (u16, Value) {
    status_and_body(app.client().get(app.url("/api/missed")), token).await
}

/// `POST /api/missed/{id}/callback` as the agent of `token`.
pub async fn call_back(app: &impl Api, token: &str, id: &str) -> (u16, Value) {
    status_and_body(
        app.client().post(app.url(&format!("/api/missed/{id}/callback"))),
        token,
    )
    .await
}

/// `request` with the bearer `token`: the answer's status and JSON body (`Null` if none).
async fn status_and_body(request: reqwest::RequestBuilder, token: &str) -> (u16, Value) {
    let response = request.bearer_auth(token).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}
