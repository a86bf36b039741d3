//! External systems over HTTP.
//!
//! Admin (admin token):
//! - `POST /admin/external-systems {"name"}` → 201 `{"name", "token"}` (the token, shown once);
//!   `GET /admin/external-systems` → systems with their ids and configuration warnings;
//!   `DELETE /admin/external-systems/{name}`;
//! - `PUT /admin/external-systems/{name}/agents/{agent} {"externalId"}`;
//! - `PUT /admin/external-systems/{name}/campaigns/{campaign} {"externalId"}`.
//!
//! The API (`Authorization: Bearer <the system's token>`); ids are ctibridge's, or the system's
//! own with `"externalIds": true`; every change carries a `requestId` (a repeat answers what
//! the first did):
//! - `POST /api/v1/makeCall {requestId, idCampaign, idAgent, idContact?, phone?}` → `{"callId"}`:
//!   the agent's softphone dials and pops the contact;
//! - `POST /api/v1/hangup {requestId, idAgent}`;
//! - `GET /api/v1/campaigns/{idCampaign}/dispositions[?externalIds=true]`;
//! - `POST /api/v1/disposition {requestId, idAgent, callId?, category, subcategory, comment?,
//!   callbackAt?}`: categorizes the contact on the agent's screen (with `callbackAt`,
//!   schedules the callback).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, delete, get, post, put, web};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use super::ApiError;
use super::auth::AdminToken;
use super::crm::CrmState;
use super::neoapi::{read_body, telephony_error};
use super::state::ApiState;
use crate::external::{ExternalError, ExternalSystems, Replay};
use crate::telephony::types::{ClickToDial, DialRequest, Disposition, ScheduleCallbackRequest};
use crate::telephony::{AgentId, Method, TelephonyError};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(create_system)
        .service(list_systems)
        .service(delete_system)
        .service(put_agent)
        .service(put_campaign)
        .service(make_call)
        .service(hangup)
        .service(dispositions)
        .service(disposition);
}

fn external_error(e: ExternalError) -> ApiError {
    match e {
        ExternalError::Invalid(m) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_value", m),
        ExternalError::NotFound(m) => ApiError::new(StatusCode::NOT_FOUND, "not_found", m),
        ExternalError::Conflict(m) => ApiError::new(StatusCode::CONFLICT, "conflict", m),
        ExternalError::Unauthorized => {
            ApiError::new(StatusCode::UNAUTHORIZED, "invalid_token", e.to_string())
        }
        ExternalError::Store(e) => {
            tracing::error!(error = %e, "database error in the external systems routes");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "database_unavailable",
                "the database is unavailable",
            )
        }
    }
}

async fn json_body<T: serde::de::DeserializeOwned>(
    req: &HttpRequest,
    payload: web::Payload,
    api: &ApiState,
) -> Result<T, ApiError> {
    let bytes = read_body(req, payload, api).await?;
    serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_value", e.to_string()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewSystem {
    name: String,
}

#[post("/admin/external-systems")]
async fn create_system(
    _: AdminToken,
    req: HttpRequest,
    payload: web::Payload,
    api: web::Data<ApiState>,
    systems: web::Data<ExternalSystems>,
) -> Result<HttpResponse, ApiError> {
    let new: NewSystem = json_body(&req, payload, &api).await?;
    let token = systems.create(&new.name).await.map_err(external_error)?;
    Ok(HttpResponse::Created().json(json!({"name": new.name, "token": token})))
}

#[get("/admin/external-systems")]
async fn list_systems(
    _: AdminToken,
    systems: web::Data<ExternalSystems>,
    crm: web::Data<CrmState>,
) -> Result<HttpResponse, ApiError> {
    let sites = crm
        .registry
        .current()
        .campaigns
        .values()
        .map(|b| (b.campaign, b.site.clone()))
        .collect();
    let list = systems.list(&sites).await.map_err(external_error)?;
    Ok(HttpResponse::Ok().json(json!({ "systems": list })))
}

#[delete("/admin/external-systems/{name}")]
async fn delete_system(
    _: AdminToken,
    name: web::Path<String>,
    systems: web::Data<ExternalSystems>,
) -> Result<HttpResponse, ApiError> {
    systems.delete(&name).await.map_err(external_error)?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ExternalIdArgs {
    external_id: String,
}

#[put("/admin/external-systems/{name}/agents/{agent}")]
async fn put_agent(
    _: AdminToken,
    path: web::Path<(String, String)>,
    req: HttpRequest,
    payload: web::Payload,
    api: web::Data<ApiState>,
    systems: web::Data<ExternalSystems>,
) -> Result<HttpResponse, ApiError> {
    let (system, agent) = path.into_inner();
    let args: ExternalIdArgs = json_body(&req, payload, &api).await?;
    systems
        .put_agent(&system, &agent, &args.external_id)
        .await
        .map_err(external_error)?;
    Ok(HttpResponse::Ok().json(json!({"agent": agent, "externalId": args.external_id})))
}

#[put("/admin/external-systems/{name}/campaigns/{campaign}")]
async fn put_campaign(
    _: AdminToken,
    path: web::Path<(String, i64)>,
    req: HttpRequest,
    payload: web::Payload,
    api: web::Data<ApiState>,
    systems: web::Data<ExternalSystems>,
) -> Result<HttpResponse, ApiError> {
    let (system, campaign) = path.into_inner();
    let args: ExternalIdArgs = json_body(&req, payload, &api).await?;
    systems
        .put_campaign(&system, campaign, &args.external_id)
        .await
        .map_err(external_error)?;
    Ok(HttpResponse::Ok().json(json!({"campaign": campaign, "externalId": args.external_id})))
}

/// The calling system, from its token.
async fn system_of(req: &HttpRequest, systems: &ExternalSystems) -> Result<String, ApiError> {
    let token = super::auth::bearer(req)?;
    systems.authenticate(token).await.map_err(external_error)
}

/// An id given as a JSON string or number.
#[derive(Deserialize)]
#[serde(untagged)]
enum Id {
    Text(String),
    Number(i64),
}

impl Id {
    fn text(&self) -> String {
        match self {
            Id::Text(t) => t.trim().to_owned(),
            Id::Number(n) => n.to_string(),
        }
    }
}

fn call_error(e: TelephonyError) -> ApiError {
    match e {
        TelephonyError::NotLoggedIn(agent) => ApiError::new(
            StatusCode::CONFLICT,
            "agent_not_logged_in",
            format!("agent `{agent}` is not logged in"),
        ),
        other => telephony_error(Method::Dial, other),
    }
}

/// Carries out `work` once per request id; a repeat gets the first answer.
async fn once<F>(
    systems: &ExternalSystems,
    system: &str,
    request_id: &str,
    work: F,
) -> Result<HttpResponse, ApiError>
where
    F: std::future::Future<Output = Result<Value, ApiError>>,
{
    match systems.begin(system, request_id).await.map_err(external_error)? {
        Some(Replay::Answered { status, body }) => {
            return Ok(
                HttpResponse::build(StatusCode::from_u16(status).unwrap_or(StatusCode::OK))
                    .insert_header(("Idempotent-Replayed", "true"))
                    .content_type("application/json")
                    .body(body),
            );
        }
        Some(Replay::InProgress) => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "request_in_progress",
                format!("request `{request_id}` is being carried out; ask again for its answer"),
            )
            .with_retry_after(1));
        }
        None => {}
    }
    match work.await {
        Ok(body) => {
            let text = body.to_string();
            systems
                .finish(system, request_id, Some((200, &text)))
                .await
                .map_err(external_error)?;
            Ok(HttpResponse::Ok().content_type("application/json").body(text))
        }
        Err(e) => {
            systems
                .finish(system, request_id, None)
                .await
                .map_err(external_error)?;
            Err(e)
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct MakeCallArgs {
    request_id: String,
    #[serde(default)]
    external_ids: bool,
    id_campaign: Id,
    id_agent: Id,
    #[serde(default)]
    id_contact: Option<Id>,
    #[serde(default)]
    phone: Option<String>,
}

#[post("/api/v1/makeCall")]
async fn make_call(
    req: HttpRequest,
    payload: web::Payload,
    api: web::Data<ApiState>,
    systems: web::Data<ExternalSystems>,
) -> Result<HttpResponse, ApiError> {
    let system = system_of(&req, &systems).await?;
    let args: MakeCallArgs = json_body(&req, payload, &api).await?;
    let work = async {
        let campaign = systems
            .resolve_campaign(&system, &args.id_campaign.text(), args.external_ids)
            .await
            .map_err(external_error)?;
        let agent = systems
            .resolve_agent(&system, &args.id_agent.text(), args.external_ids)
            .await
            .map_err(external_error)?;
        in_campaign(&api, &agent, campaign).await?;
        let contact = match &args.id_contact {
            Some(id) => Some(
                systems
                    .resolve_contact(campaign, &id.text(), args.external_ids)
                    .await
                    .map_err(external_error)?,
            ),
            None => None,
        };
        let phone = args
            .phone
            .clone()
            .filter(|p| !p.trim().is_empty())
            .or_else(|| contact.as_ref().and_then(|c| c.2.clone()));
        let Some(phone) = phone else {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_value",
                "phone: give the number to call (the contact has none)",
            ));
        };
        let request = DialRequest {
            phone: Some(phone),
            click_to_dial: contact.map(|(crm_id, crm_key, _)| ClickToDial { crm_id, crm_key }),
            missed_call_id: None,
        };
        let call = api.telephony.dial(&agent, request).await.map_err(call_error)?;
        Ok(json!({"callId": call.0, "agent": agent.as_str(), "campaign": campaign}))
    };
    once(&systems, &system, &args.request_id, work).await
}

/// The agent is logged in and in `campaign`.
async fn in_campaign(api: &ApiState, agent: &AgentId, campaign: i64) -> Result<(), ApiError> {
    let position = api.telephony.position(agent).await.map_err(call_error)?;
    if position.state == crate::telephony::types::AgentState::LoggedOut {
        return Err(call_error(TelephonyError::NotLoggedIn(agent.clone())));
    }
    if position.campaign.as_ref().map(|c| c.id.0) != Some(campaign) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "agent_not_in_campaign",
            format!(
                "agent `{}` is not logged in to campaign {campaign}",
                agent.as_str()
            ),
        ));
    }
    Ok(())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct HangupArgs {
    request_id: String,
    #[serde(default)]
    external_ids: bool,
    id_agent: Id,
}

#[post("/api/v1/hangup")]
async fn hangup(
    req: HttpRequest,
    payload: web::Payload,
    api: web::Data<ApiState>,
    systems: web::Data<ExternalSystems>,
) -> Result<HttpResponse, ApiError> {
    let system = system_of(&req, &systems).await?;
    let args: HangupArgs = json_body(&req, payload, &api).await?;
    let work = async {
        let agent = systems
            .resolve_agent(&system, &args.id_agent.text(), args.external_ids)
            .await
            .map_err(external_error)?;
        api.telephony.hangup(&agent, None).await.map_err(call_error)?;
        Ok(json!({"ok": true}))
    };
    once(&systems, &system, &args.request_id, work).await
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct DispositionsQuery {
    #[serde(default)]
    external_ids: bool,
}

#[get("/api/v1/campaigns/{campaign}/dispositions")]
async fn dispositions(
    req: HttpRequest,
    campaign: web::Path<String>,
    query: web::Query<DispositionsQuery>,
    systems: web::Data<ExternalSystems>,
) -> Result<HttpResponse, ApiError> {
    let system = system_of(&req, &systems).await?;
    let id = systems
        .resolve_campaign(&system, &campaign, query.external_ids)
        .await
        .map_err(external_error)?;
    let config = systems
        .campaign_config(id)
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "not_found", format!("no campaign {id}")))?;
    Ok(HttpResponse::Ok().json(json!({"campaign": id, "categories": config.categories})))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct DispositionArgs {
    request_id: String,
    #[serde(default)]
    external_ids: bool,
    id_agent: Id,
    #[serde(default)]
    call_id: Option<u64>,
    category: i64,
    subcategory: i64,
    #[serde(default)]
    comment: Option<String>,
    #[serde(default)]
    callback_at: Option<DateTime<Utc>>,
}

#[post("/api/v1/disposition")]
async fn disposition(
    req: HttpRequest,
    payload: web::Payload,
    api: web::Data<ApiState>,
    systems: web::Data<ExternalSystems>,
) -> Result<HttpResponse, ApiError> {
    let system = system_of(&req, &systems).await?;
    let args: DispositionArgs = json_body(&req, payload, &api).await?;
    let work = async {
        let agent = systems
            .resolve_agent(&system, &args.id_agent.text(), args.external_ids)
            .await
            .map_err(external_error)?;
        let position = api.telephony.position(&agent).await.map_err(call_error)?;
        if position.state == crate::telephony::types::AgentState::LoggedOut {
            return Err(call_error(TelephonyError::NotLoggedIn(agent.clone())));
        }
        let on_screen = position.contact.as_ref().map(|c| c.data.call_id);
        if let Some(asked) = args.call_id
            && on_screen != Some(asked)
        {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "not_current_call",
                format!(
                    "call {asked} is not the contact on agent `{}`'s screen",
                    agent.as_str()
                ),
            ));
        }
        match args.callback_at {
            Some(at) => {
                api.telephony
                    .schedule_callback(&agent, ScheduleCallbackRequest { at, phone: None })
                    .await
                    .map_err(|e| telephony_error(Method::UpdateContact, e))?;
            }
            None => {
                api.telephony
                    .update_contact(
                        &agent,
                        Disposition {
                            category: args.category,
                            subcategory: args.subcategory,
                            comment: args.comment.clone(),
                        },
                    )
                    .await
                    .map_err(|e| telephony_error(Method::UpdateContact, e))?;
            }
        }
        Ok(json!({"ok": true, "callId": on_screen}))
    };
    once(&systems, &system, &args.request_id, work).await
}
