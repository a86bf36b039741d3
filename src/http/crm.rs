//! The operator's CRM interaction routes (admin token):
//! - `GET /admin/crm/sites`, `PUT /admin/crm/sites/{name}` (create or change; 201 / 200),
//!   `DELETE /admin/crm/sites/{name}` (409 while a campaign uses it): external sites; the token
//!   endpoint's password is never shown;
//! - `GET /admin/crm/campaigns`, `PUT /admin/crm/campaigns/{campaign}`,
//!   `DELETE /admin/crm/campaigns/{campaign}`: the site each campaign invokes and its parameters;
//! - `GET /admin/crm/outbox?state=parked|pending|delivered&limit=N`: counts and rows (failures:
//!   parked rows with the CRM's answer, pending rows with their last error);
//!   `POST /admin/crm/outbox/{id}/requeue` puts a parked request back.
//!
//! The softphone (agent session): `GET /api/crm/site` → `{"callId", "site": null | {"name",
//! "trigger", "target", "method", "url", "enctype", "fields"}}`: what to open for the agent's
//! current call when its campaign invokes a site with trigger automatic (open it at once) or
//! agent (a button opens it), in a panel (`embedded`) or a new tab.
//!
//! An invalid definition answers 422 `invalid_definition` with a message naming the field.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, delete, get, post, put, web};
use serde::Deserialize;
use serde_json::{Value, json};

use super::ApiError;
use super::auth::{AdminToken, AgentSession};
use super::neoapi::read_body;
use super::state::ApiState;
use crate::crm::model::{CampaignCrm, Site};
use crate::crm::registry::RegistryError;
use crate::crm::{CrmOutbox, CrmRegistry};

/// What these routes need, in app data.
pub struct CrmState {
    pub registry: CrmRegistry,
    pub outbox: CrmOutbox,
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(list_sites)
        .service(put_site)
        .service(delete_site)
        .service(list_campaigns)
        .service(put_campaign)
        .service(delete_campaign)
        .service(outbox)
        .service(requeue)
        .service(softphone_site);
}

fn registry_error(e: RegistryError) -> ApiError {
    match e {
        RegistryError::Invalid(e) => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_definition",
            e.to_string(),
        ),
        RegistryError::NotFound(m) => ApiError::new(StatusCode::NOT_FOUND, "not_found", m),
        RegistryError::InUse(m) => ApiError::new(StatusCode::CONFLICT, "in_use", m),
        RegistryError::Store(e) => store_error(e),
    }
}

fn store_error(e: crate::store::StoreError) -> ApiError {
    tracing::error!(error = %e, "database error in the CRM admin routes");
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "database_unavailable",
        "the database is unavailable",
    )
}

/// The body as a JSON object, with `key` set to the path's value (or refused if it differs).
async fn body_with(
    req: &HttpRequest,
    payload: web::Payload,
    api: &ApiState,
    key: &str,
    value: Value,
) -> Result<Value, ApiError> {
    let bytes = read_body(req, payload, api).await?;
    let mut body: Value = serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            format!("the body is not JSON: {e}"),
        )
    })?;
    let Some(object) = body.as_object_mut() else {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            "the body must be a JSON object",
        ));
    };
    match object.get(key) {
        Some(given) if *given != value => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_definition",
                format!("{key}: the body says {given}, the path {value}"),
            ));
        }
        _ => {
            object.insert(key.to_owned(), value);
        }
    }
    Ok(body)
}

fn definition<T: serde::de::DeserializeOwned>(body: Value) -> Result<T, ApiError> {
    serde_json::from_value(body).map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_definition",
            e.to_string(),
        )
    })
}

fn created_or_changed(created: bool, body: Value) -> HttpResponse {
    if created {
        HttpResponse::Created().json(body)
    } else {
        HttpResponse::Ok().json(body)
    }
}

#[get("/admin/crm/sites")]
async fn list_sites(_: AdminToken, crm: web::Data<CrmState>) -> HttpResponse {
    let sites: Vec<Value> = crm.registry.current().sites.values().map(Site::view).collect();
    HttpResponse::Ok().json(json!({ "sites": sites }))
}

#[put("/admin/crm/sites/{name}")]
async fn put_site(
    _: AdminToken,
    name: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
    api: web::Data<ApiState>,
    crm: web::Data<CrmState>,
) -> Result<HttpResponse, ApiError> {
    let body = body_with(&req, payload, &api, "name", json!(name.into_inner())).await?;
    let site: Site = definition(body)?;
    let view = site.view();
    let created = crm.registry.put_site(site).await.map_err(registry_error)?;
    Ok(created_or_changed(created, view))
}

#[delete("/admin/crm/sites/{name}")]
async fn delete_site(
    _: AdminToken,
    name: web::Path<String>,
    crm: web::Data<CrmState>,
) -> Result<HttpResponse, ApiError> {
    crm.registry.delete_site(&name).await.map_err(registry_error)?;
    Ok(HttpResponse::NoContent().finish())
}

#[get("/admin/crm/campaigns")]
async fn list_campaigns(_: AdminToken, crm: web::Data<CrmState>) -> HttpResponse {
    let campaigns: Vec<CampaignCrm> = crm.registry.current().campaigns.values().cloned().collect();
    HttpResponse::Ok().json(json!({ "campaigns": campaigns }))
}

#[put("/admin/crm/campaigns/{campaign}")]
async fn put_campaign(
    _: AdminToken,
    campaign: web::Path<i64>,
    req: HttpRequest,
    payload: web::Payload,
    api: web::Data<ApiState>,
    crm: web::Data<CrmState>,
) -> Result<HttpResponse, ApiError> {
    let body = body_with(&req, payload, &api, "campaign", json!(campaign.into_inner())).await?;
    let binding: CampaignCrm = definition(body)?;
    let view = json!(binding);
    let created = crm.registry.put_campaign(binding).await.map_err(registry_error)?;
    Ok(created_or_changed(created, view))
}

#[delete("/admin/crm/campaigns/{campaign}")]
async fn delete_campaign(
    _: AdminToken,
    campaign: web::Path<i64>,
    crm: web::Data<CrmState>,
) -> Result<HttpResponse, ApiError> {
    crm.registry
        .delete_campaign(campaign.into_inner())
        .await
        .map_err(registry_error)?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OutboxQuery {
    state: Option<String>,
    limit: Option<i64>,
}

#[get("/admin/crm/outbox")]
async fn outbox(
    _: AdminToken,
    query: web::Query<OutboxQuery>,
    crm: web::Data<CrmState>,
) -> Result<HttpResponse, ApiError> {
    let state = query.state.as_deref().unwrap_or("parked");
    if !matches!(state, "parked" | "pending" | "delivered") {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_value",
            format!("state must be parked, pending or delivered, got `{state}`"),
        ));
    }
    let limit = query.limit.unwrap_or(100).clamp(1, 1000);
    let stats = crm.outbox.stats().await.map_err(store_error)?;
    let entries = crm.outbox.entries(state, limit).await.map_err(store_error)?;
    Ok(HttpResponse::Ok().json(json!({ "counts": stats, "state": state, "entries": entries })))
}

#[post("/admin/crm/outbox/{id}/requeue")]
async fn requeue(
    _: AdminToken,
    id: web::Path<i64>,
    crm: web::Data<CrmState>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    if crm
        .outbox
        .requeue(id, crate::store::now_millis())
        .await
        .map_err(store_error)?
    {
        Ok(HttpResponse::Ok().json(json!({ "requeued": true })))
    } else {
        Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no parked CRM request {id}"),
        ))
    }
}

#[get("/api/crm/site")]
async fn softphone_site(
    session: AgentSession,
    api: web::Data<ApiState>,
    crm: web::Data<CrmState>,
) -> Result<HttpResponse, ApiError> {
    let agent = &session.0.agent;
    let position = api
        .telephony
        .position(agent)
        .await
        .map_err(|e| super::neoapi::telephony_error(crate::telephony::Method::Position, e))?;
    let data = position
        .call
        .as_ref()
        .filter(|c| c.agent.as_ref() == Some(agent))
        .map(|c| c.data.clone())
        .or_else(|| position.contact.as_ref().map(|c| c.data.clone()));
    let Some(data) = data.filter(|d| d.call_id != 0) else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "no_call",
            format!("agent {} has no call", agent.as_str()),
        ));
    };
    let mut conn = crm
        .outbox
        .store()
        .pool()
        .acquire()
        .await
        .map_err(|e| store_error(e.into()))?;
    let found = crate::crm::recorder::browser_request(&crm.registry, &mut conn, &data, agent.as_str())
        .await
        .map_err(|e| store_error(e.into()))?;
    let site = found.map(|(site, request)| {
        json!({
            "name": site.name,
            "trigger": site.trigger,
            "target": site.target,
            "method": request.method,
            "url": request.url,
            "enctype": request.enctype,
            "fields": request.fields,
        })
    });
    Ok(HttpResponse::Ok().json(json!({ "callId": data.call_id, "site": site })))
}
