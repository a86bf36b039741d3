//! The agents' missed calls (agent session token):
//! - `GET /api/missed` → `{"missedCalls": […]}`: the open missed calls the agent may see —
//!   those whose Salesforce record the agent owns first, then those of the campaign the agent
//!   is logged in to — newest first, at most [`crate::missed::LIST_LIMIT`];
//! - `POST /api/missed/{callId}/callback` → `{"callId", "missedCallId"}`: dials the missed
//!   number (a manual call, as Dial) linked to the missed call; when it connects, the missed
//!   call and its Task close in the same commit. 404 `unknown_missed_call`, 403
//!   `not_your_missed_call` (another campaign's, not owned by the agent), 409
//!   `missed_call_closed` (closed already: nothing changes), 422 `no_number` (a private
//!   caller) or `invalid_value` (an id that is not a number); the Dial's own refusals
//!   otherwise (409 when the agent is on a call, …).
//!
//! Softphones refresh the list on the websocket's `missedCallsChanged` frame.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, get, post, web};
use serde_json::json;

use super::ApiError;
use super::auth::AgentSession;
use super::neoapi::telephony_error;
use super::state::ApiState;
use crate::missed::MissedCalls;
use crate::store::Store;
use crate::telephony::{AgentId, DialRequest, Method};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(list).service(callback);
}

fn store_error(e: crate::store::StoreError) -> ApiError {
    tracing::error!(error = %e.to_string().escape_debug(), "missed calls: database error");
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "database_unavailable",
        "the missed calls cannot be read right now; try again",
    )
}

/// The campaign the agent is logged in to, if any.
async fn campaign_of(api: &ApiState, agent: &AgentId) -> Result<Option<i64>, ApiError> {
    let position = api
        .telephony
        .position(agent)
        .await
        .map_err(|e| telephony_error(Method::Position, e))?;
    Ok(position.campaign.map(|c| c.id.0))
}

#[get("/api/missed")]
pub async fn list(
    session: AgentSession,
    api: web::Data<ApiState>,
    store: web::Data<Store>,
) -> Result<HttpResponse, ApiError> {
    let agent = session.0.agent;
    // What the engine did before this request is saved first: a list read right after a
    // `missedCallsChanged` frame shows that change.
    api.telephony
        .flush()
        .await
        .map_err(|e| telephony_error(Method::Position, e))?;
    let campaign = campaign_of(&api, &agent).await?;
    let missed = MissedCalls::new(store.get_ref().clone())
        .open_for(agent.as_str(), campaign)
        .await
        .map_err(store_error)?;
    Ok(HttpResponse::Ok().json(json!({"missedCalls": missed})))
}

#[post("/api/missed/{call}/callback")]
pub async fn callback(
    session: AgentSession,
    path: web::Path<String>,
    api: web::Data<ApiState>,
    store: web::Data<Store>,
) -> Result<HttpResponse, ApiError> {
    let agent = session.0.agent;
    let raw = path.into_inner();
    let id: u64 = raw.trim().parse().map_err(|_| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_value",
            format!(
                "`{}` is not a missed call id (a call id number)",
                raw.escape_debug()
            ),
        )
    })?;
    api.telephony
        .flush()
        .await
        .map_err(|e| telephony_error(Method::Dial, e))?;
    let missed = MissedCalls::new(store.get_ref().clone())
        .get(id)
        .await
        .map_err(store_error)?
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "unknown_missed_call",
                format!("no missed call has id {id}"),
            )
        })?;
    let campaign = campaign_of(&api, &agent).await?;
    if !MissedCalls::visible_to(&missed, agent.as_str(), campaign) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "not_your_missed_call",
            format!(
                "missed call {id} is of campaign {} and not of a record you own; log in to that campaign to call it back",
                missed.campaign
            ),
        ));
    }
    if missed.status != "open" {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "missed_call_closed",
            format!(
                "missed call {id} is closed already (by call {})",
                missed.closed_by.unwrap_or_default()
            ),
        ));
    }
    let Some(phone) = missed
        .phone
        .clone()
        .filter(|p| !p.trim().is_empty() && !crate::missed::is_private(p))
    else {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "no_number",
            format!("missed call {id} came from a private number: there is nothing to dial"),
        ));
    };
    let request = DialRequest {
        missed_call_id: Some(id),
        ..DialRequest::number(&phone)
    };
    let call = api
        .telephony
        .dial(&agent, request)
        .await
        .map_err(|e| telephony_error(Method::Dial, e))?;
    Ok(HttpResponse::Ok().json(json!({"callId": call.0, "missedCallId": id})))
}
