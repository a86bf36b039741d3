//! The softphone's Salesforce helpers and the operator's view of the write-back:
//! - `POST /api/salesforce/new-sync-id {callId?}` → `{"neoSyncId": "…"}` (a string: 18 digits
//!   do not fit a JavaScript number);
//! - `POST /api/salesforce/popped {callId?, recordId, objectType}` → 202: externalData onto the
//!   record, the call's Task linked to it (through the outbox);
//! - `POST /api/salesforce/sync {callId?, neoSyncId}` → `{"recordId", "objectType", "name"}`
//!   or 404 `not_found`: the record saved from the new-record screen;
//! - `GET /api/salesforce/search?phone=…|key=…` → `{"records": […]}` in searchTypePriority order;
//! - `GET /admin/salesforce` (operator token): API usage (`Sforce-Limit-Info`), outbox counts
//!   and parked writes; `POST /admin/salesforce/outbox/{id}/requeue` (admin token) puts a
//!   parked write back; `GET /metrics` (operator token) gives the same figures to Prometheus.
//!
//! These act on the agent's current call: the one ringing, dialing or connected on the agent's
//! device, or whose contact is on screen in wrap-up. `callId`, when given (not 0), must name
//! it (409 `not_current_call` otherwise); with no current call they answer 409 `no_call`. An
//! agent never reaches another call's Task.

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use serde::Deserialize;
use serde_json::json;

use super::ApiError;
use super::auth::{AdminToken, AgentSession, OperatorToken};
use super::neoapi::{parse, read_body, telephony_error};
use super::state::ApiState;
use crate::salesforce::SalesforceError;
use crate::salesforce::client::ApiUsage;
use crate::salesforce::flows::{FlowError, SalesforceFlows};
use crate::salesforce::outbox::Outbox;
use crate::telephony::{AgentId, Method};

/// What these routes need, in app data.
pub struct SalesforceState {
    pub flows: SalesforceFlows,
    pub outbox: Outbox,
    /// `None` without credentials.
    pub usage: Option<Arc<ApiUsage>>,
    pub flow: Option<&'static str>,
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(new_sync_id)
        .service(popped)
        .service(sync)
        .service(search)
        .service(admin)
        .service(requeue)
        .service(metrics);
}

/// The call a softphone request is about: the agent's current call, which `asked` may name
/// (0 names nothing). Returns once the call's row is saved, so a pop that follows the ring
/// event at once finds it.
async fn current_call(api: &ApiState, agent: &AgentId, asked: Option<u64>) -> Result<u64, ApiError> {
    let position = api
        .telephony
        .position(agent)
        .await
        .map_err(|e| telephony_error(Method::Position, e))?;
    let current = position
        .call
        .as_ref()
        .filter(|c| c.agent.as_ref() == Some(agent))
        .map(|c| c.data.call_id)
        .or_else(|| position.contact.as_ref().map(|c| c.data.call_id))
        .filter(|id| *id != 0);
    let call_id = match (asked.filter(|id| *id != 0), current) {
        (Some(asked), Some(current)) if asked == current => current,
        (None, Some(current)) => current,
        (Some(asked), _) => {
            return Err(flow_error(FlowError::NotCurrentCall {
                agent: agent.as_str().to_owned(),
                call_id: asked,
            }));
        }
        (None, None) => {
            return Err(flow_error(FlowError::NoCall {
                agent: agent.as_str().to_owned(),
            }));
        }
    };
    api.telephony
        .flush()
        .await
        .map_err(|e| telephony_error(Method::Position, e))?;
    Ok(call_id)
}

fn flow_error(e: FlowError) -> ApiError {
    match e {
        FlowError::NoCall { .. } => ApiError::new(StatusCode::CONFLICT, "no_call", e.to_string()),
        FlowError::NotCurrentCall { .. } => {
            ApiError::new(StatusCode::CONFLICT, "not_current_call", e.to_string())
        }
        FlowError::Invalid(message) => {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_value", message)
        }
        FlowError::NotFound { .. } => ApiError::new(StatusCode::NOT_FOUND, "not_found", e.to_string()),
        FlowError::Salesforce(SalesforceError::NotConfigured) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "salesforce_not_configured",
            "the server has no Salesforce credentials ([salesforce] in its configuration)",
        ),
        FlowError::Salesforce(e) if e.is_transient() => {
            tracing::warn!(error = %e, "Salesforce unavailable for a softphone request");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "salesforce_unavailable",
                e.to_string(),
            )
        }
        FlowError::Salesforce(e) => {
            tracing::warn!(error = %e, "Salesforce refused a softphone request");
            ApiError::new(StatusCode::BAD_GATEWAY, "salesforce_error", e.to_string())
        }
        FlowError::Store(e) => {
            tracing::error!(error = %e, "database error in a Salesforce helper");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "database_unavailable",
                "the database is unavailable",
            )
        }
    }
}

/// `neoSyncId` arrives as a string (from JavaScript) or a number.
#[derive(Deserialize)]
#[serde(untagged)]
enum SyncIdValue {
    Text(String),
    Number(i64),
}

impl SyncIdValue {
    fn value(&self) -> Result<i64, ApiError> {
        match self {
            SyncIdValue::Number(n) if *n > 0 => Ok(*n),
            SyncIdValue::Text(t) => t.trim().parse::<i64>().ok().filter(|n| *n > 0).ok_or_else(|| {
                invalid(format!(
                    "neoSyncId `{t}` is not a positive whole number of at most 18 digits"
                ))
            }),
            SyncIdValue::Number(n) => Err(invalid(format!("neoSyncId {n} is not positive"))),
        }
    }
}

fn invalid(message: String) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_value", message)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CallArgs {
    #[serde(default)]
    call_id: Option<u64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PoppedArgs {
    #[serde(default)]
    call_id: Option<u64>,
    record_id: String,
    object_type: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SyncArgs {
    #[serde(default)]
    call_id: Option<u64>,
    neo_sync_id: SyncIdValue,
}

async fn body<T: serde::de::DeserializeOwned>(
    req: &HttpRequest,
    payload: web::Payload,
    api: &ApiState,
) -> Result<T, ApiError> {
    let bytes = read_body(req, payload, api).await?;
    parse(&bytes)
}

#[post("/api/salesforce/new-sync-id")]
async fn new_sync_id(
    session: AgentSession,
    req: HttpRequest,
    payload: web::Payload,
    api: web::Data<ApiState>,
    sf: web::Data<SalesforceState>,
) -> Result<HttpResponse, ApiError> {
    let args: CallArgs = body(&req, payload, &api).await?;
    let call_id = current_call(&api, &session.0.agent, args.call_id).await?;
    let id = sf
        .flows
        .new_sync_id(session.0.agent.as_str(), call_id)
        .await
        .map_err(flow_error)?;
    Ok(HttpResponse::Ok().json(json!({ "neoSyncId": id.to_string() })))
}

#[post("/api/salesforce/popped")]
async fn popped(
    session: AgentSession,
    req: HttpRequest,
    payload: web::Payload,
    api: web::Data<ApiState>,
    sf: web::Data<SalesforceState>,
) -> Result<HttpResponse, ApiError> {
    let args: PoppedArgs = body(&req, payload, &api).await?;
    let call_id = current_call(&api, &session.0.agent, args.call_id).await?;
    sf.flows
        .record_popped(
            session.0.agent.as_str(),
            call_id,
            &args.record_id,
            &args.object_type,
        )
        .await
        .map_err(flow_error)?;
    Ok(HttpResponse::Accepted().json(json!({})))
}

#[post("/api/salesforce/sync")]
async fn sync(
    session: AgentSession,
    req: HttpRequest,
    payload: web::Payload,
    api: web::Data<ApiState>,
    sf: web::Data<SalesforceState>,
) -> Result<HttpResponse, ApiError> {
    let args: SyncArgs = body(&req, payload, &api).await?;
    let neo_sync_id = args.neo_sync_id.value()?;
    let call_id = current_call(&api, &session.0.agent, args.call_id).await?;
    let found = sf
        .flows
        .sync(session.0.agent.as_str(), call_id, neo_sync_id)
        .await
        .map_err(flow_error)?;
    Ok(HttpResponse::Ok().json(found))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SearchArgs {
    #[serde(default)]
    phone: Option<String>,
    #[serde(default)]
    key: Option<String>,
}

#[get("/api/salesforce/search")]
async fn search(
    _session: AgentSession,
    query: Result<web::Query<SearchArgs>, actix_web::Error>,
    sf: web::Data<SalesforceState>,
) -> Result<HttpResponse, ApiError> {
    let query = query.map_err(|e| invalid(e.to_string()))?;
    let records = sf
        .flows
        .search(query.key.as_deref(), query.phone.as_deref())
        .await
        .map_err(flow_error)?;
    Ok(HttpResponse::Ok().json(json!({ "records": records })))
}

#[get("/admin/salesforce")]
async fn admin(_: OperatorToken, sf: web::Data<SalesforceState>) -> Result<HttpResponse, ApiError> {
    let store_error = |e: crate::store::StoreError| flow_error(FlowError::Store(e));
    let stats = sf.outbox.stats().await.map_err(store_error)?;
    let parked = sf.outbox.entries("parked", 100).await.map_err(store_error)?;
    Ok(HttpResponse::Ok().json(json!({
        "configured": sf.usage.is_some(),
        "flow": sf.flow,
        "apiUsage": sf.usage.as_ref().map(|u| u.snapshot()),
        "outbox": stats,
        "parked": parked,
    })))
}

#[post("/admin/salesforce/outbox/{id}/requeue")]
async fn requeue(
    _: AdminToken,
    id: web::Path<i64>,
    sf: web::Data<SalesforceState>,
) -> Result<HttpResponse, ApiError> {
    let done = sf
        .outbox
        .requeue(id.into_inner(), crate::store::now_millis())
        .await
        .map_err(|e| flow_error(FlowError::Store(e)))?;
    if done {
        Ok(HttpResponse::Ok().json(json!({ "requeued": true })))
    } else {
        Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "no parked outbox row with that id",
        ))
    }
}

/// Prometheus text format: the org's API allocation as last reported by `Sforce-Limit-Info`,
/// the requests this process sent, and the outbox (operator token; Prometheus sends it as a
/// bearer token).
#[get("/metrics")]
async fn metrics(
    _: OperatorToken,
    sf: web::Data<SalesforceState>,
    api: web::Data<ApiState>,
    owners: Option<web::Data<crate::routing::OwnerLookups>>,
) -> Result<HttpResponse, ApiError> {
    use std::fmt::Write as _;
    let stats = sf
        .outbox
        .stats()
        .await
        .map_err(|e| flow_error(FlowError::Store(e)))?;
    let mut out = String::new();
    let mut gauge = |name: &str, help: &str, value: f64| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}");
    };
    if let Some(usage) = &sf.usage {
        let u = usage.snapshot();
        gauge(
            "ctibridge_salesforce_api_used",
            "Daily API requests used by the org (Sforce-Limit-Info).",
            u.used as f64,
        );
        gauge(
            "ctibridge_salesforce_api_max",
            "Daily API request allocation of the org (Sforce-Limit-Info).",
            u.max as f64,
        );
        gauge(
            "ctibridge_salesforce_requests_sent",
            "Salesforce API requests this process sent since it started.",
            u.sent_by_this_process as f64,
        );
    }
    gauge(
        "ctibridge_outbox_pending",
        "Salesforce writes waiting for delivery.",
        stats.pending as f64,
    );
    gauge(
        "ctibridge_outbox_parked",
        "Salesforce writes parked after a permanent error.",
        stats.parked as f64,
    );
    gauge(
        "ctibridge_outbox_delivered",
        "Salesforce writes delivered.",
        stats.delivered as f64,
    );
    let oldest = stats
        .oldest_pending_created_at_ms
        .map(|created| ((crate::store::now_millis() - created).max(0) as f64) / 1000.0)
        .unwrap_or(0.0);
    gauge(
        "ctibridge_outbox_oldest_pending_seconds",
        "Age of the oldest waiting Salesforce write.",
        oldest,
    );
    if let Some(floor) = &api.stats {
        super::stats::prometheus(&floor.figures(), &mut out);
    }
    if let Some(counters) = owners.as_ref().and_then(|o| o.0.as_ref()) {
        crate::routing::prometheus(counters, &mut out);
    }
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(out))
}
