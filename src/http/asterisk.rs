//! `GET /asterisk/intake?queue=…&ani=…&data=…`: CONTACTO_INSERT_SALESFORCE for Asterisk's
//! dialplan, which calls it with `CURL()` before `Queue()` (as Neotel's IVR ran the stored
//! procedure). The contact is found by DATA or the caller's number in the queue's campaign
//! database, or inserted; the call gets its id. The answer is plain text for the dialplan:
//! `CLAVESF|callId` (e.g. `1234-31987456|42`), split with `CUT()`. Outside the campaign's
//! opening hours the call is not queued (it is recorded as missed) and a third field says so:
//! `CLAVESF|callId|closed`; the dialplan skips `Queue()` (voicemail, a message).
//!
//! Authorized by `Authorization: Bearer <token>` (the dialplan sets it with
//! `CURLOPT(httpheader)`), checked against `telephony.asterisk.intake_token_hash`; a token in
//! the URL would land in logs.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, web};

use super::ApiError;
use super::auth::{TokenGuard, bearer};
use super::neoapi::telephony_error;
use super::state::ApiState;
use crate::telephony::Method;
use crate::telephony::engine::InboundCall;

/// The intake token's guard (absent: the endpoint is off).
pub struct IntakeGuard(pub TokenGuard);

#[derive(Default)]
struct IntakeArgs {
    queue: String,
    ani: Option<String>,
    data: Option<String>,
    /// The caller channel's `${UNIQUEID}`: asking again for the same channel (a retry, or
    /// the driver seeing the call join the queue) gives the same call.
    uniqueid: Option<String>,
}

#[get("/asterisk/intake")]
pub async fn intake(
    req: HttpRequest,
    query: Result<web::Query<Vec<(String, String)>>, actix_web::Error>,
    api: web::Data<ApiState>,
    guard: Option<web::Data<IntakeGuard>>,
) -> Result<HttpResponse, ApiError> {
    let Some(guard) = guard else {
        return Err(dialplan_off(
            "the intake endpoint is off: set telephony.asterisk.intake_token_hash (ctibridge hash-password)",
        ));
    };
    let pairs = dialplan_query(&req, query, &guard).await?;
    let (args, variables) = intake_args(pairs)?;
    let blank = |v: Option<String>| v.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
    let arrived = api
        .telephony
        .intake(InboundCall {
            ani: blank(args.ani),
            data: blank(args.data),
            queue: args.queue,
            hang_up_after: None,
            reference: blank(args.uniqueid),
            variables,
        })
        .await
        .map_err(|e| telephony_error(Method::Position, e))?;
    // Outside the campaign's hours a third field says so; the first two stay where they were.
    let body = if arrived.closed {
        format!("{}|{}|closed", arrived.clavesf, arrived.call_id)
    } else {
        format!("{}|{}", arrived.clavesf, arrived.call_id)
    };
    Ok(HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .body(body))
}

/// A dialplan endpoint that is off (404 `intake_disabled`), and why.
fn dialplan_off(why: &'static str) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "intake_disabled", why)
}

/// The dialplan endpoints' common start: the bearer token must be the intake token; then the
/// query's pairs.
async fn dialplan_query(
    req: &HttpRequest,
    query: Result<web::Query<Vec<(String, String)>>, actix_web::Error>,
    guard: &IntakeGuard,
) -> Result<Vec<(String, String)>, ApiError> {
    let token = bearer(req)?;
    guard.0.verify(token, &super::neoapi::client_address(req)).await?;
    Ok(query
        .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_value", e.to_string()))?
        .into_inner())
}

/// The query: `queue`, `ani`, `data`, `uniqueid`, and channel variables for the CRM (named
/// `Omlcrm…`, as the dialplan passes them: `&OmlcrmLang=${OmlcrmLang}`). Anything else is refused.
fn intake_args(
    pairs: Vec<(String, String)>,
) -> Result<(IntakeArgs, std::collections::BTreeMap<String, String>), ApiError> {
    let mut args = IntakeArgs::default();
    let mut queue = None;
    let mut variables = std::collections::BTreeMap::new();
    for (name, value) in pairs {
        match name.as_str() {
            "queue" => queue = Some(value),
            "ani" => args.ani = Some(value),
            "data" => args.data = Some(value),
            "uniqueid" => args.uniqueid = Some(value),
            other if other.starts_with(crate::telephony::asterisk::driver::CRM_VARIABLE_PREFIX) => {
                variables.insert(name, value);
            }
            other => {
                return Err(ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid_value",
                    format!("unknown parameter `{other}` (queue, ani, data, uniqueid or Omlcrm… variables)"),
                ));
            }
        }
    }
    args.queue = queue.ok_or_else(|| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_value",
            "missing parameter `queue`",
        )
    })?;
    Ok((args, variables))
}

/// The Asterisk platform's settings the dialplan endpoints need (the channel to dial a device).
pub struct AsteriskDial(pub crate::telephony::asterisk::AsteriskConfig);

/// `GET /asterisk/owner?queue=…&uniqueid=…`: owner routing for Asterisk's dialplan, asked after
/// `/asterisk/intake` and before `Queue()`. The answer is plain text: the channel to `Dial()`
/// first (e.g. `PJSIP/1001`) when the owner of the caller's Salesforce record (found at
/// intake) is logged in to the queue's campaign and available, else an empty body: the
/// dialplan goes straight to `Queue()`. It only reads what intake found, so it answers at once.
/// Same token as the intake.
#[get("/asterisk/owner")]
pub async fn owner(
    req: HttpRequest,
    query: Result<web::Query<Vec<(String, String)>>, actix_web::Error>,
    api: web::Data<ApiState>,
    guard: Option<web::Data<IntakeGuard>>,
    dial: Option<web::Data<AsteriskDial>>,
) -> Result<HttpResponse, ApiError> {
    let (Some(guard), Some(dial)) = (guard, dial) else {
        return Err(dialplan_off(
            "the dialplan endpoints are off: set telephony.asterisk.intake_token_hash (ctibridge hash-password)",
        ));
    };
    let pairs = dialplan_query(&req, query, &guard).await?;
    let (mut queue, mut uniqueid) = (None, None);
    for (name, value) in pairs {
        match name.as_str() {
            "queue" => queue = Some(value),
            "uniqueid" => uniqueid = Some(value),
            other => {
                return Err(ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid_value",
                    format!("unknown parameter `{}` (queue, uniqueid)", other.escape_debug()),
                ));
            }
        }
    }
    let missing = |name: &str| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_value",
            format!("missing parameter `{name}`"),
        )
    };
    let queue = queue.ok_or_else(|| missing("queue"))?;
    let uniqueid = uniqueid
        .map(|u| u.trim().to_owned())
        .filter(|u| !u.is_empty())
        .ok_or_else(|| missing("uniqueid"))?;
    let Some(engine) = &api.engine else {
        return Err(dialplan_off("owner routing needs the contact-center core"));
    };
    let device = engine
        .owner_device(&queue, &uniqueid)
        .map_err(|e| telephony_error(Method::Position, e))?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .body(device.map(|d| dial.0.dial_channel_of(&d)).unwrap_or_default()))
}
