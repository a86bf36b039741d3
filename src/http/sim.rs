//! The simulation API of the embedded engine, `/sim/…`, for demos and tests: what customers
//! and devices do (NeoApi has no Answer method: the agent's device answers here). It is served
//! in development mode or with `server.simulation = true` (else every route answers 404
//! `simulation_off`), and every route needs the admin token (`Authorization: Bearer <admin
//! token>`; `demo-admin` with the demo roster).

use std::time::Duration;

use actix_web::http::StatusCode;
use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, HttpResponse, get, post, web};
use serde::Deserialize;
use serde_json::json;

use super::ApiError;
use super::auth::{AdminToken, state_of};
use super::neoapi::{parse, read_body, telephony_error};
use super::state::ApiState;
use crate::telephony::engine::{CustomerBehaviour, InboundCall};
use crate::telephony::{AgentId, CallId, CampaignId, Method, Simulation, TelephonyError};

/// The simulation API, when it is on, and the admin token presented.
pub struct SimulationApi(Simulation);

impl FromRequest for SimulationApi {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let simulation = state_of(req).and_then(|state| {
            state.simulation.clone().ok_or_else(|| {
                ApiError::new(
                    StatusCode::NOT_FOUND,
                    "simulation_off",
                    "the simulation API is off: it runs in development mode or with \
                     server.simulation = true",
                )
            })
        });
        let admin = AdminToken::from_request(req, payload);
        Box::pin(async move {
            let simulation = simulation?;
            admin.await?;
            Ok(SimulationApi(simulation))
        })
    }
}

/// A refusal of the simulation as an API error. The admin is authenticated: an agent the
/// simulation names is a resource (404 when unknown, 409 when not logged in), not a login.
fn sim_error(e: TelephonyError) -> ApiError {
    match e {
        TelephonyError::UnknownAgent(user) => ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_user",
            format!("unknown user `{user}`"),
        ),
        TelephonyError::NotLoggedIn(user) => ApiError::new(
            StatusCode::CONFLICT,
            "not_logged_in",
            format!("user `{user}` is not logged in"),
        ),
        // The method name only matters for logging internal failures.
        e => telephony_error(Method::Position, e),
    }
}

fn ok() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "ok": true }))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct InboundArgs {
    /// The caller's number; absent or empty: a private number.
    #[serde(default)]
    ani: Option<String>,
    /// DATA collected by the IVR (the key field value).
    #[serde(default)]
    data: Option<String>,
    queue: String,
    /// Scripted: the customer hangs up this many seconds after calling.
    #[serde(default)]
    hang_up_after_secs: Option<u64>,
    /// Channel variables the platform hands over for the CRM (the dialplan family).
    #[serde(default)]
    variables: std::collections::BTreeMap<String, String>,
}

/// A customer calls a queue: `{"ani", "data"?, "queue", "variables"?}` → `{"callId"}`.
#[post("/sim/inbound")]
pub async fn inbound(
    sim: SimulationApi,
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<ApiState>,
) -> Result<HttpResponse, ApiError> {
    let body = read_body(&req, payload, &state).await?;
    let args: InboundArgs = parse(&body)?;
    let id = sim
        .0
        .inbound_call(InboundCall {
            ani: args.ani,
            data: args.data,
            queue: args.queue,
            hang_up_after: args.hang_up_after_secs.map(Duration::from_secs),
            reference: None,
            variables: args.variables,
        })
        .await
        .map_err(sim_error)?;
    Ok(HttpResponse::Ok().json(json!({ "callId": id })))
}

/// The customer answers an outbound call that rings.
#[post("/sim/calls/{call}/answer")]
pub async fn customer_answers(
    sim: SimulationApi,
    call: web::Path<u64>,
    state: web::Data<ApiState>,
) -> Result<HttpResponse, ApiError> {
    sim.0
        .customer_answers(CallId(call.into_inner()))
        .map_err(sim_error)?;
    saved(&state).await
}

/// Answers once what the simulation changed is saved, like a method.
async fn saved(state: &ApiState) -> Result<HttpResponse, ApiError> {
    state.telephony.flush().await.map_err(sim_error)?;
    Ok(ok())
}

/// The customer hangs up (waiting in a queue: abandoned).
#[post("/sim/calls/{call}/hangup")]
pub async fn customer_hangs_up(
    sim: SimulationApi,
    call: web::Path<u64>,
    state: web::Data<ApiState>,
) -> Result<HttpResponse, ApiError> {
    sim.0
        .customer_hangs_up(CallId(call.into_inner()))
        .map_err(sim_error)?;
    saved(&state).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DtmfArgs {
    digits: String,
}

/// The customer presses digits: `{"digits": "12#"}`.
#[post("/sim/calls/{call}/dtmf")]
pub async fn customer_presses(
    sim: SimulationApi,
    req: HttpRequest,
    call: web::Path<u64>,
    payload: web::Payload,
    state: web::Data<ApiState>,
) -> Result<HttpResponse, ApiError> {
    let body = read_body(&req, payload, &state).await?;
    let args: DtmfArgs = parse(&body)?;
    sim.0
        .customer_presses(CallId(call.into_inner()), &args.digits)
        .map_err(sim_error)?;
    saved(&state).await
}

/// A call as the engine sees it.
#[get("/sim/calls/{call}")]
pub async fn call_view(sim: SimulationApi, call: web::Path<u64>) -> Result<HttpResponse, ApiError> {
    let id = call.into_inner();
    match sim.0.call(CallId(id)) {
        Some(view) => Ok(HttpResponse::Ok().json(view)),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_call",
            format!("no call {id}"),
        )),
    }
}

/// The agent's ringing device is picked up.
#[post("/sim/agents/{user}/answer")]
pub async fn agent_answers(
    sim: SimulationApi,
    user: web::Path<String>,
    state: web::Data<ApiState>,
) -> Result<HttpResponse, ApiError> {
    sim.0
        .agent_answers(&AgentId::new(user.into_inner()))
        .map_err(sim_error)?;
    saved(&state).await
}

/// Loads leads into an outbound campaign: `{"leads": [{"phone", "key"?}]}` → `{"loaded"}`.
#[post("/sim/campaigns/{campaign}/leads")]
pub async fn load_leads(
    sim: SimulationApi,
    req: HttpRequest,
    campaign: web::Path<i64>,
    payload: web::Payload,
    state: web::Data<ApiState>,
) -> Result<HttpResponse, ApiError> {
    let body = read_body(&req, payload, &state).await?;
    let args: super::campaigns::Leads = parse(&body)?;
    let loaded = sim
        .0
        .load_leads(CampaignId(campaign.into_inner()), args.leads)
        .await
        .map_err(sim_error)?;
    Ok(HttpResponse::Ok().json(json!({ "loaded": loaded })))
}

/// Runs a campaign's dialer one step now.
#[post("/sim/campaigns/{campaign}/dial")]
pub async fn dialer_step(
    sim: SimulationApi,
    campaign: web::Path<i64>,
    state: web::Data<ApiState>,
) -> Result<HttpResponse, ApiError> {
    sim.0
        .advance_dialer(CampaignId(campaign.into_inner()))
        .map_err(sim_error)?;
    saved(&state).await
}

#[derive(Deserialize)]
#[serde(
    tag = "behaviour",
    rename_all = "camelCase",
    rename_all_fields = "camelCase",
    deny_unknown_fields
)]
enum ScriptArgs {
    Answer {
        #[serde(default)]
        after_secs: u64,
        #[serde(default)]
        hang_up_after_secs: Option<u64>,
    },
    Busy,
    NoAnswer,
}

/// How `phone` behaves the next time it is dialed:
/// `{"behaviour": "answer", "afterSecs": 2, "hangUpAfterSecs": 30}` | `{"behaviour": "busy"}` |
/// `{"behaviour": "noAnswer"}`.
#[post("/sim/customers/{phone}/script")]
pub async fn script_customer(
    sim: SimulationApi,
    req: HttpRequest,
    phone: web::Path<String>,
    payload: web::Payload,
    state: web::Data<ApiState>,
) -> Result<HttpResponse, ApiError> {
    let body = read_body(&req, payload, &state).await?;
    let behaviour = match parse::<ScriptArgs>(&body)? {
        ScriptArgs::Answer {
            after_secs,
            hang_up_after_secs,
        } => CustomerBehaviour::Answer {
            after: Duration::from_secs(after_secs),
            hang_up_after: hang_up_after_secs.map(Duration::from_secs),
        },
        ScriptArgs::Busy => CustomerBehaviour::Busy,
        ScriptArgs::NoAnswer => CustomerBehaviour::NoAnswer,
    };
    sim.0.script_customer(&phone.into_inner(), behaviour);
    Ok(ok())
}
