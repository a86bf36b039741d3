//! Administration that works whatever the telephony platform: loading leads into an outbound
//! campaign's dialer (`POST /admin/campaigns/{campaign}/leads`), listing the cluster's
//! instances (`GET /admin/instances`, operator token). Admin token for the leads.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, post, web};
use serde::Deserialize;
use serde_json::json;

use super::ApiError;
use super::auth::AdminToken;
use super::neoapi::{parse, read_body, telephony_error};
use super::state::ApiState;
use crate::telephony::engine::LeadInput;
use crate::telephony::{CampaignId, Method};

/// The body of both lead-loading endpoints (this one and the simulation's).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Leads {
    pub leads: Vec<LeadInput>,
}

/// Adds leads to an outbound campaign's dialer: `{"leads": [{"phone", "key"?}]}` →
/// `{"loaded": n}`, answered once they are saved. All or nothing: one invalid phone number
/// refuses the whole list (422, naming it).
#[post("/admin/campaigns/{campaign}/leads")]
pub async fn load_leads(
    _: AdminToken,
    req: HttpRequest,
    campaign: web::Path<i64>,
    payload: web::Payload,
    state: web::Data<ApiState>,
) -> Result<HttpResponse, ApiError> {
    let body = read_body(&req, payload, &state).await?;
    let args: Leads = parse(&body)?;
    let engine = state.engine.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "telephony_unavailable",
            "this server runs no contact-center core",
        )
    })?;
    let loaded = engine
        .load_leads(CampaignId(campaign.into_inner()), args.leads)
        .await
        .map_err(|e| telephony_error(Method::Position, e))?;
    Ok(HttpResponse::Ok().json(json!({ "loaded": loaded })))
}

/// The cluster's instances (`[cluster] enabled`): each one's gateway and, for the active one,
/// its core; whether it is alive (heard from within 10 s). An empty list outside cluster mode.
/// Read-only: the operator token.
#[actix_web::get("/admin/instances")]
pub async fn instances(
    _: super::auth::OperatorToken,
    store: web::Data<crate::store::Store>,
) -> Result<HttpResponse, ApiError> {
    if store.backend() != crate::store::Backend::Postgres {
        return Ok(HttpResponse::Ok().json(json!({ "instances": [] })));
    }
    let instances = crate::cluster::instances(&store).await.map_err(|e| {
        tracing::error!(error = %e, "cannot list the cluster's instances");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
            "the database cannot answer now",
        )
    })?;
    Ok(HttpResponse::Ok().json(json!({ "instances": instances })))
}
