//! The NeoApi-style RPC proxy: `POST /neoapi/{Method}` with a JSON body, for every method of
//! the [`Telephony`](crate::telephony::Telephony) trait by its NeoApi name.
//!
//! Login answers a session token; every other method needs `Authorization: Bearer <token>`
//! and acts as the session's agent (a method never acts on another agent's call: the driver
//! answers 403 `not_your_call`). Errors have the one shape of [`ApiError`]; the status comes
//! from the refusal's class (`TelephonyError::class`), internals are logged, never returned.

use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpRequest, HttpResponse, post, web};
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use super::ApiError;
use super::auth::{AgentSession, SupervisorSession};
use super::state::ApiState;
use crate::telephony::{
    CallId, CampaignId, DialRequest, Disposition, ErrorClass, LoginRequest, Method, MonitorRequest,
    Participant, PauseReason, ScheduleCallbackRequest, Task, TaskParams, TelephonyError, TransferRequest,
};

/// The methods that take no arguments: an empty body or `{}`.
#[derive(Deserialize)]
struct NoArgs {}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CampaignArgs {
    campaign: CampaignId,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PauseArgs {
    reason: PauseReason,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CallArgs {
    #[serde(default)]
    call_id: Option<CallId>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ParticipantArgs {
    participant: Participant,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TaskArgs {
    #[serde(default)]
    params: TaskParams,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DtmfArgs {
    #[serde(default)]
    call_id: Option<CallId>,
    digits: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TransferArgs {
    #[serde(default)]
    call_id: Option<CallId>,
    #[serde(flatten)]
    request: TransferRequest,
}

#[post("/neoapi/{method}")]
pub async fn call(
    req: HttpRequest,
    method: web::Path<String>,
    payload: web::Payload,
    state: web::Data<ApiState>,
) -> Result<HttpResponse, ApiError> {
    let name = method.into_inner();
    let method = Method::parse(&name).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_method",
            format!("unknown method `{name}`; the methods are listed in /openapi.json"),
        )
    })?;
    if method == Method::Login {
        let body = read_body(&req, payload, &state).await?;
        return login(&req, &state, &body).await;
    }
    let session = AgentSession::extract(&req).await?.0;
    let body = read_body(&req, payload, &state).await?;
    let agent = &session.agent;
    let t = &state.telephony;
    let ok = || HttpResponse::Ok().json(json!({ "ok": true }));
    let answer = match method {
        Method::Login => unreachable_login(),
        Method::Logout => {
            parse::<NoArgs>(&body)?;
            match t.logout(agent).await {
                Ok(()) | Err(TelephonyError::NotLoggedIn(_)) => {}
                Err(e) => return Err(telephony_error(method, e)),
            }
            state
                .sessions
                .revoke(&session.token_hash)
                .await
                .map_err(store_error)?;
            state.hub.end_session(&session.token_hash);
            return Ok(ok());
        }
        Method::LoginCampaign => {
            let args: CampaignArgs = parse(&body)?;
            t.login_campaign(agent, args.campaign).await.map(|_| ok())
        }
        Method::LogoutCampaign => {
            parse::<NoArgs>(&body)?;
            t.logout_campaign(agent).await.map(|_| ok())
        }
        Method::Pause => {
            let args: PauseArgs = parse(&body)?;
            t.pause(agent, args.reason).await.map(|_| ok())
        }
        Method::Unpause => no_args(&body, t.unpause(agent)).await?,
        Method::Dial => {
            let args: DialRequest = parse(&body)?;
            t.dial(agent, args)
                .await
                .map(|id| HttpResponse::Ok().json(json!({ "callId": id })))
        }
        Method::Hangup => {
            let args: CallArgs = parse(&body)?;
            t.hangup(agent, args.call_id).await.map(|_| ok())
        }
        Method::Position => {
            parse::<NoArgs>(&body)?;
            t.position(agent).await.map(|p| HttpResponse::Ok().json(p))
        }
        Method::UpdateContact => {
            let args: Disposition = parse(&body)?;
            t.update_contact(agent, args).await.map(|_| ok())
        }
        Method::CrmUnavailable => no_args(&body, t.crm_unavailable(agent)).await?,
        Method::CrmAvailable => no_args(&body, t.crm_available(agent)).await?,
        Method::CrmShowingContact => no_args(&body, t.crm_showing_contact(agent)).await?,
        Method::JoinConference => no_args(&body, t.join_conference(agent)).await?,
        Method::InviteParticipant => {
            let args: ParticipantArgs = parse(&body)?;
            t.invite_participant(agent, args.participant).await.map(|_| ok())
        }
        Method::KickAll => no_args(&body, t.kick_all(agent)).await?,
        Method::EndConference => no_args(&body, t.end_conference(agent)).await?,
        Method::ExecuteTask01 | Method::ExecuteTask02 | Method::ExecuteTask03 | Method::ExecuteTask05 => {
            let task = match method {
                Method::ExecuteTask01 => Task::ExecuteTask01,
                Method::ExecuteTask02 => Task::ExecuteTask02,
                Method::ExecuteTask03 => Task::ExecuteTask03,
                _ => Task::ExecuteTask05,
            };
            let args: TaskArgs = parse(&body)?;
            t.execute_task(agent, task, args.params).await.map(|_| ok())
        }
        Method::SendDtmf => {
            let args: DtmfArgs = parse(&body)?;
            t.send_dtmf(agent, args.call_id, &args.digits).await.map(|_| ok())
        }
        Method::Transfer => {
            let args: TransferArgs = parse(&body)?;
            t.transfer(agent, args.call_id, args.request).await.map(|_| ok())
        }
        Method::CompleteTransfer => no_args(&body, t.complete_transfer(agent)).await?,
        Method::CancelTransfer => no_args(&body, t.cancel_transfer(agent)).await?,
        Method::Monitor => {
            let supervisor = SupervisorSession::from_session(session.clone())?;
            let args: MonitorRequest = parse(&body)?;
            t.monitor(&supervisor.0.agent, args).await.map(|_| ok())
        }
        Method::EndMonitor => {
            let supervisor = SupervisorSession::from_session(session.clone())?;
            no_args(&body, t.end_monitor(&supervisor.0.agent)).await?
        }
        Method::ScheduleCallback => {
            let args: ScheduleCallbackRequest = parse(&body)?;
            t.schedule_callback(agent, args)
                .await
                .map(|c| HttpResponse::Ok().json(c))
        }
        Method::Directory => {
            parse::<NoArgs>(&body)?;
            t.directory(agent).await.map(|d| HttpResponse::Ok().json(d))
        }
    };
    answer.map_err(|e| telephony_error(method, e))
}

/// Any other HTTP method on a NeoApi route: 405 in the error shape.
#[actix_web::route(
    "/neoapi/{method}",
    method = "GET",
    method = "PUT",
    method = "PATCH",
    method = "DELETE"
)]
pub async fn wrong_verb(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!(
            "{} is not served here: NeoApi methods are called with POST",
            req.method()
        ),
    ))
}

fn unreachable_login() -> Result<HttpResponse, TelephonyError> {
    Err(TelephonyError::Internal(
        "Login is handled before authentication".into(),
    ))
}

/// A method without arguments: checks the body, runs it, answers `{"ok": true}`.
async fn no_args(
    body: &[u8],
    run: impl std::future::Future<Output = crate::telephony::error::Result<()>>,
) -> Result<Result<HttpResponse, TelephonyError>, ApiError> {
    parse::<NoArgs>(body)?;
    Ok(run.await.map(|()| HttpResponse::Ok().json(json!({ "ok": true }))))
}

/// Login: DEVICE / USER / PASSWORD → a session token and the agent's Position.
///
/// Failed logins count per user and per client address; over the limit → 429 with
/// `Retry-After`. Each attempt counts before its password is checked and is forgiven only
/// when it did not fail, so parallel guesses cannot outrun the limit. A user already logged in
/// on another device is refused (409); the same device logging in again (a reload that lost
/// its token) gets a new token. A successful login ends every earlier session of the user.
async fn login(req: &HttpRequest, state: &ApiState, body: &[u8]) -> Result<HttpResponse, ApiError> {
    let request: LoginRequest = parse(body)?;
    let user_key = request.user.as_str().to_owned();
    let address_key = client_address(req);
    let limiters = [
        (&state.login_per_user, user_key.as_str()),
        (&state.login_per_address, address_key.as_str()),
    ];
    begin_attempt(&limiters, "too many failed logins; wait before trying again")?;
    let outcome = login_checked(state, request).await;
    match &outcome {
        Err(e) if e.code == "invalid_credentials" => {}
        Ok(_) => {
            state.login_per_user.reset(&user_key);
            state.login_per_address.forgive(&address_key);
        }
        Err(_) => forgive_attempt(&limiters),
    }
    outcome
}

/// The client's address as the limits key it: the peer's, or behind cluster gateways the one
/// they forwarded (the core's listener is reachable by the instances only).
pub fn client_address(req: &HttpRequest) -> String {
    let behind_gateway = req
        .app_data::<web::Data<ApiState>>()
        .is_some_and(|state| state.behind_gateway);
    let forwarded = behind_gateway
        .then(|| req.headers().get("x-forwarded-for"))
        .flatten()
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty());
    forwarded.unwrap_or_else(|| {
        req.peer_addr()
            .map(|a| a.ip().to_string())
            .unwrap_or_else(|| "unknown".to_owned())
    })
}

/// Counts an attempt against every limiter, or refuses it with 429 when one is used up.
pub fn begin_attempt(
    limiters: &[(&super::ratelimit::FailureLimiter, &str)],
    message: &'static str,
) -> Result<(), ApiError> {
    for (i, (limiter, key)) in limiters.iter().enumerate() {
        if let Err(retry) = limiter.begin(key) {
            forgive_attempt(&limiters[..i]);
            return Err(
                ApiError::new(StatusCode::TOO_MANY_REQUESTS, "too_many_attempts", message)
                    .with_retry_after(retry.as_secs().max(1)),
            );
        }
    }
    Ok(())
}

/// Takes an attempt back from every limiter (it succeeded or was never judged).
pub fn forgive_attempt(limiters: &[(&super::ratelimit::FailureLimiter, &str)]) {
    for (limiter, key) in limiters {
        limiter.forgive(key);
    }
}

async fn login_checked(state: &ApiState, request: LoginRequest) -> Result<HttpResponse, ApiError> {
    let device = request.device.trim().to_owned();
    let user = request.user.clone();
    let position = match state.telephony.login(request).await {
        Ok(position) => position,
        Err(TelephonyError::UnknownAgent(_) | TelephonyError::WrongPassword(_)) => {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_credentials",
                "wrong user or password",
            ));
        }
        Err(TelephonyError::AlreadyLoggedIn(_)) => {
            // The password was verified before this refusal.
            let position = state
                .telephony
                .position(&user)
                .await
                .map_err(|e| telephony_error(Method::Login, e))?;
            if position.device.as_deref() != Some(device.as_str()) {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "already_logged_in",
                    format!(
                        "user `{user}` is logged in on device {}; log out there first",
                        position.device.as_deref().unwrap_or("?")
                    ),
                ));
            }
            position
        }
        Err(e) => return Err(telephony_error(Method::Login, e)),
    };
    // The new session replaces every earlier one of the user, this login's or not.
    let (issued, ended) = state
        .sessions
        .create(&position.user, &device, position.role)
        .await
        .map_err(store_error)?;
    // Their sockets say why they close: another login took over.
    for old in ended {
        state.hub.replace_session(&old);
    }
    tracing::info!(
        agent = %position.user,
        device = %device,
        session = %&issued.session.token_hash[..12],
        "agent logged in"
    );
    Ok(HttpResponse::Ok()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(json!({
            "token": issued.token,
            "expiresAt": chrono::DateTime::from_timestamp_millis(issued.session.expires_at_ms),
            "agent": position,
        })))
}

/// Reads the body up to `limit` bytes within the state's body time-out: larger is 413
/// `payload_too_large`, slower is 408 `request_timeout` (a client trickling a body in holds a
/// connection for nothing).
pub async fn read_body(
    req: &HttpRequest,
    payload: web::Payload,
    state: &ApiState,
) -> Result<Bytes, ApiError> {
    let limit = state.max_body_bytes;
    let timeout = state.body_timeout;
    tokio::time::timeout(timeout, read_body_within(req, payload, limit))
        .await
        .unwrap_or_else(|_| {
            Err(ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "request_timeout",
                format!("the request body did not arrive within {} s", timeout.as_secs()),
            ))
        })
}

async fn read_body_within(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<Bytes, ApiError> {
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the request body is larger than {limit} bytes"),
        )
    };
    let declared = req
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > limit) {
        return Err(too_large());
    }
    let mut body = BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk =
            chunk.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "malformed_body", e.to_string()))?;
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// Parses a JSON object body (empty = `{}`): bad JSON is 400 `malformed_json`, JSON of the
/// wrong shape (not an object, missing field, wrong type, unknown value) is 422
/// `invalid_value`. The JSON is read first, so whether the body is JSON never depends on the
/// shape expected.
pub fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let body: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        body
    };
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "malformed_json", e.to_string()))?;
    if !value.is_object() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_value",
            "the body must be a JSON object",
        ));
    }
    T::deserialize(value)
        .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_value", e.to_string()))
}

/// Too many password checks at once: 503 `busy` with `Retry-After`.
pub fn busy() -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "busy",
        "too many logins are being checked at once; retry in a moment",
    )
    .with_retry_after(1)
}

pub fn store_error(e: sqlx::Error) -> ApiError {
    tracing::error!(error = %e, "session store failed");
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "store_unavailable",
        "the session store is unavailable; retry shortly",
    )
    .with_retry_after(1)
}

/// A telephony refusal as an API error: status by class, a stable code, the refusal's own
/// sentence (internal errors: logged, replaced by a generic sentence).
pub fn telephony_error(method: Method, e: TelephonyError) -> ApiError {
    use TelephonyError::*;
    let status = match e.class() {
        ErrorClass::Unauthorized => StatusCode::UNAUTHORIZED,
        ErrorClass::Forbidden => StatusCode::FORBIDDEN,
        ErrorClass::NotFound => StatusCode::NOT_FOUND,
        ErrorClass::Conflict => StatusCode::CONFLICT,
        ErrorClass::Unprocessable => StatusCode::UNPROCESSABLE_ENTITY,
        ErrorClass::Internal if matches!(e, Busy) => return busy(),
        ErrorClass::Internal if matches!(e, NotSaved(_)) => {
            tracing::error!(method = %method, error = %e, "telephony change not saved");
            return ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "not_saved",
                "the change was made but the database did not save it yet; it is saved when the \
                 database answers again: do not repeat it, check Position",
            )
            .with_retry_after(1);
        }
        ErrorClass::Internal => {
            tracing::error!(method = %method, error = %e, "telephony failed");
            return ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "telephony_unavailable",
                "the telephony platform cannot take this request right now; retry shortly",
            )
            .with_retry_after(1);
        }
    };
    let code = match &e {
        UnknownAgent(_) | WrongPassword(_) => "invalid_credentials",
        AlreadyLoggedIn(_) => "already_logged_in",
        DeviceInUse { .. } => "device_in_use",
        EmptyDevice => "empty_device",
        DeviceRefused { .. } => "device_refused",
        QueueRefused { .. } => "queue_refused",
        NotLoggedIn(_) => "not_logged_in",
        NoActiveCall => "no_active_call",
        NoContactOnScreen => "no_contact_on_screen",
        InvalidTransition { .. } => "invalid_state",
        UnknownCampaign(_) => "unknown_campaign",
        NotOutbound(_) => "not_outbound",
        UnknownQueue(_) => "unknown_queue",
        UnknownCall(_) => "unknown_call",
        UnknownDevice(_) => "unknown_device",
        UnknownUser(_) => "unknown_user",
        UserNotAvailable(_) => "user_not_available",
        UnknownRestState(_) => "unknown_rest_state",
        UnknownDisposition { .. } => "unknown_disposition",
        DispositionNeedsCallback(_) => "disposition_needs_callback",
        NotYourCall(_) => "not_your_call",
        Forbidden => "forbidden",
        WrongRole { .. } => "wrong_role",
        EmptyNumber => "empty_number",
        InvalidNumber(_) => "invalid_number",
        InvalidDtmf(_) => "invalid_dtmf",
        CallbackInPast { .. } => "callback_in_past",
        NoTransfer => "no_transfer",
        TransferInProgress => "transfer_in_progress",
        TransferNotAnswered => "transfer_not_answered",
        AttendedNotSupported => "attended_not_supported",
        NotInConference => "not_in_conference",
        InConference => "in_conference",
        NotMonitoring => "not_monitoring",
        SelfTarget(_) => "self_target",
        NoCallbackCampaign(_) => "no_callback_campaign",
        NoCampaign => "no_campaign",
        Contacts(_) | Config(_) | Internal(_) | NotSaved(_) | SwitchDown(_) => "telephony_unavailable",
        Busy => "busy",
    };
    ApiError::new(status, code, e.to_string())
}
