//! `GET /openapi.json`: the OpenAPI 3.1 document of the agent-facing API, built with utoipa's
//! builders from the method table below (the telephony types stay free of HTTP concerns; the
//! bodies are described by examples, their fields in `docs/api.md`).

use std::sync::OnceLock;

use actix_web::{HttpResponse, get};
use serde_json::{Value, json};
use utoipa::openapi::path::{HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn, PathItem};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{
    ComponentsBuilder, ContentBuilder, InfoBuilder, ObjectBuilder, OpenApi, OpenApiBuilder, PathsBuilder,
    Ref, Required, ResponseBuilder, Type,
};

use crate::telephony::Method;

const OK: &str = r#"{"ok": true}"#;

/// One NeoApi method: summary, example body, example answer.
fn method_doc(method: Method) -> (&'static str, Value, Value) {
    let ok: Value = serde_json::from_str(OK).unwrap_or(Value::Null);
    let position = json!({"user": "agent1", "device": "1001", "role": "agent", "state": "available",
        "crm": "Available", "pause": null, "campaign": {"id": 97, "name": "SALESFORCE"}, "call": null,
        "contact": null, "monitoring": null, "salesforceUserId": null});
    match method {
        Method::Login => (
            "Log in with DEVICE / USER / PASSWORD; answers a session token (no Authorization needed)",
            json!({"device": "1001", "user": "agent1", "password": "demo"}),
            json!({"token": "…", "expiresAt": "2026-11-22T00:00:00Z", "agent": position}),
        ),
        Method::Logout => ("Log out and revoke the token", json!({}), ok),
        Method::LoginCampaign => (
            "Join a campaign and become available",
            json!({"campaign": 97}),
            ok,
        ),
        Method::LogoutCampaign => ("Leave the campaign", json!({}), ok),
        Method::Pause => (
            "Pause with a system or custom rest state",
            json!({"reason": {"kind": "system", "id": "break"}}),
            ok,
        ),
        Method::Unpause => ("Come back from a pause", json!({}), ok),
        Method::Dial => (
            "Manual dial, click-to-dial, or dial the previewed contact",
            json!({"phone": "1155550100"}),
            json!({"callId": 17}),
        ),
        Method::Hangup => (
            "End the agent's call (callId optional)",
            json!({"callId": 17}),
            ok,
        ),
        Method::Position => ("The agent's snapshot", json!({}), position),
        Method::UpdateContact => (
            "Categorize the contact on screen",
            json!({"category": 1, "subcategory": 11, "comment": "sold"}),
            ok,
        ),
        Method::CrmUnavailable => ("The CRM cannot take contacts", json!({}), ok),
        Method::CrmAvailable => (
            "Release the contact (Play) or come back from CRM_Unavailable",
            json!({}),
            ok,
        ),
        Method::CrmShowingContact => ("The CRM shows the contact", json!({}), ok),
        Method::JoinConference => ("Make the current call a conference", json!({}), ok),
        Method::InviteParticipant => (
            "Invite an external number or a user to the conference",
            json!({"participant": {"kind": "external", "who": "1155550199"}}),
            ok,
        ),
        Method::KickAll => ("Remove every invited participant", json!({}), ok),
        Method::EndConference => ("End the conference, back to a two-party call", json!({}), ok),
        Method::ExecuteTask01 | Method::ExecuteTask02 | Method::ExecuteTask03 | Method::ExecuteTask05 => (
            "Run a task hook on the current call or contact",
            json!({"params": {"key": "value"}}),
            ok,
        ),
        Method::SendDtmf => ("Send DTMF digits on the call", json!({"digits": "12#"}), ok),
        Method::Transfer => (
            "Transfer the call (direct or attended) to a number, user, queue or campaign",
            json!({"target": {"kind": "user", "to": "agent2"}, "mode": "attended"}),
            ok,
        ),
        Method::CompleteTransfer => (
            "Hand the customer to the attended transfer's target",
            json!({}),
            ok,
        ),
        Method::CancelTransfer => ("Fin de transferencia: back to the customer", json!({}), ok),
        Method::Monitor => (
            "Supervisors: listen to or assist an agent",
            json!({"target": "agent1", "mode": "listen"}),
            ok,
        ),
        Method::EndMonitor => ("Supervisors: end monitoring", json!({}), ok),
        Method::ScheduleCallback => (
            "Schedule a callback for the contact on screen",
            json!({"at": "2026-11-21T15:00:00Z"}),
            json!({"id": 3, "at": "2026-11-21T15:00:00Z", "campaign": 98, "phone": "1155550100",
                   "contactId": 1, "scheduledBy": "agent1"}),
        ),
        Method::Directory => (
            "Campaigns, rest states and users for the softphone's lists",
            json!({}),
            json!({"campaigns": [], "restStates": [], "users": [{"user": "agent2", "role": "agent", "state": "available"}]}),
        ),
    }
}

fn error_response(description: &str) -> ResponseBuilder {
    ResponseBuilder::new().description(description).content(
        "application/json",
        ContentBuilder::new()
            .schema(Some(Ref::from_schema_name("Error")))
            .build(),
    )
}

fn json_body(example: Value) -> RequestBodyBuilder {
    RequestBodyBuilder::new().content(
        "application/json",
        ContentBuilder::new().example(Some(example)).build(),
    )
}

fn json_answer(description: &str, example: Value) -> ResponseBuilder {
    ResponseBuilder::new().description(description).content(
        "application/json",
        ContentBuilder::new().example(Some(example)).build(),
    )
}

fn post(
    tag: &str,
    summary: &str,
    body: Option<Value>,
    answer: Value,
    security: Option<&str>,
    errors: &[(&str, &str)],
) -> PathItem {
    operation(HttpMethod::Post, tag, summary, body, answer, security, errors)
}

/// An operation whose `{name}` path segments are declared as path parameters.
#[allow(clippy::too_many_arguments)]
fn operation_at(
    path: &str,
    method: HttpMethod,
    tag: &str,
    summary: &str,
    body: Option<Value>,
    answer: Value,
    security: Option<&str>,
    errors: &[(&str, &str)],
) -> PathItem {
    let mut item = operation(method, tag, summary, body, answer, security, errors);
    let names = crate::crm::model::holders(path);
    for op in [&mut item.get, &mut item.post, &mut item.put, &mut item.delete]
        .into_iter()
        .flatten()
    {
        for name in &names {
            op.parameters.get_or_insert_with(Vec::new).push(
                ParameterBuilder::new()
                    .name(name)
                    .parameter_in(ParameterIn::Path)
                    .required(Required::True)
                    .build()
                    .into(),
            );
        }
    }
    item
}

fn operation(
    method: HttpMethod,
    tag: &str,
    summary: &str,
    body: Option<Value>,
    answer: Value,
    security: Option<&str>,
    errors: &[(&str, &str)],
) -> PathItem {
    let mut op = OperationBuilder::new()
        .tag(tag)
        .summary(Some(summary))
        .response("200", json_answer("done", answer));
    if let Some(body) = body {
        op = op.request_body(Some(json_body(body).build()));
    }
    if let Some(scheme) = security {
        op = op.security(SecurityRequirement::new(scheme, Vec::<String>::new()));
    }
    for (status, why) in errors {
        op = op.response(*status, error_response(why));
    }
    PathItem::new(method, op)
}

fn build() -> OpenApi {
    let common: &[(&str, &str)] = &[
        ("400", "malformed_json: the body is not JSON"),
        ("401", "missing_token / invalid_token / not_logged_in"),
        ("403", "forbidden / not_your_call"),
        ("404", "unknown_method / unknown_campaign / unknown_user / …"),
        (
            "409",
            "the method does not fit the agent's state (invalid_state, no_active_call, …)",
        ),
        ("413", "payload_too_large"),
        (
            "422",
            "invalid_value (wrong shape) or a value the platform refuses",
        ),
        ("503", "telephony_unavailable / store_unavailable"),
    ];
    let mut paths = PathsBuilder::new();
    for method in Method::ALL {
        let (summary, body, answer) = method_doc(method);
        let item = if method == Method::Login {
            post(
                "neoapi",
                summary,
                Some(body),
                answer,
                None,
                &[
                    ("400", "malformed_json"),
                    ("401", "invalid_credentials"),
                    ("409", "already_logged_in (another device) / device_in_use"),
                    ("413", "payload_too_large"),
                    (
                        "422",
                        "invalid_value / empty_device / device_refused (the telephony platform does not know the device)",
                    ),
                    ("429", "too_many_attempts (Retry-After)"),
                ],
            )
        } else {
            post("neoapi", summary, Some(body), answer, Some("session"), common)
        };
        paths = paths.path(format!("/neoapi/{}", method.as_str()), item);
    }
    let ws = OperationBuilder::new()
        .tag("neoapi")
        .summary(Some(
            "Agent websocket: first text frame {\"type\":\"auth\",\"token\":…} within 5 s (else close 4001); \
             answers {\"type\":\"snapshot\",…Position} then every event of the agent (docs/events.md); \
             pings every 15 s; silent 45 s → close 4000; more than 256 events behind → close 4008",
        ))
        .response(
            "101",
            ResponseBuilder::new().description("switching to websocket"),
        )
        .response("400", error_response("websocket_expected"));
    paths = paths.path("/neoapi/ws", PathItem::new(HttpMethod::Get, ws));

    let sim_errors: &[(&str, &str)] = &[
        ("401", "missing_token / invalid_token (admin token)"),
        ("403", "admin_disabled"),
        ("404", "unknown_queue / unknown call / …"),
        ("409", "the call is not in a state for this"),
        ("422", "invalid_value"),
    ];
    let ok = json!({"ok": true});
    let sims: Vec<(&str, &str, Option<Value>, Value)> = vec![
        (
            "/sim/inbound",
            "A customer calls a queue",
            Some(json!({"ani": "1155550100", "data": "31987456", "queue": "salesforce"})),
            json!({"callId": 17}),
        ),
        (
            "/sim/agents/{user}/answer",
            "The agent's ringing device is picked up",
            None,
            ok.clone(),
        ),
        (
            "/sim/calls/{call}/answer",
            "The customer answers an outbound call",
            None,
            ok.clone(),
        ),
        (
            "/sim/calls/{call}/hangup",
            "The customer hangs up",
            None,
            ok.clone(),
        ),
        (
            "/sim/calls/{call}/dtmf",
            "The customer presses digits",
            Some(json!({"digits": "4"})),
            ok.clone(),
        ),
        (
            "/sim/campaigns/{campaign}/leads",
            "Load leads into an outbound campaign",
            Some(json!({"leads": [{"phone": "1155550100", "key": "0035e00000AbCdE"}]})),
            json!({"loaded": 1}),
        ),
        (
            "/sim/campaigns/{campaign}/dial",
            "Run the campaign's dialer one step",
            None,
            ok.clone(),
        ),
        (
            "/sim/customers/{phone}/script",
            "How a number behaves the next time it is dialed",
            Some(json!({"behaviour": "answer", "afterSecs": 2, "hangUpAfterSecs": 30})),
            ok.clone(),
        ),
    ];
    for (path, summary, body, answer) in sims {
        let mut item = post("simulation", summary, body, answer, Some("admin"), sim_errors);
        for name in ["user", "call", "campaign", "phone"] {
            if path.contains(&format!("{{{name}}}"))
                && let Some(op) = item.post.as_mut()
            {
                op.parameters.get_or_insert_with(Vec::new).push(
                    ParameterBuilder::new()
                        .name(name)
                        .parameter_in(ParameterIn::Path)
                        .required(Required::True)
                        .build()
                        .into(),
                );
            }
        }
        paths = paths.path(path, item);
    }
    let mut leads = post(
        "admin",
        "Load leads into an outbound campaign's dialer (any telephony platform)",
        Some(json!({"leads": [{"phone": "1155550100", "key": "0035e00000AbCdE"}]})),
        json!({"loaded": 1}),
        Some("admin"),
        sim_errors,
    );
    if let Some(op) = leads.post.as_mut() {
        op.parameters.get_or_insert_with(Vec::new).push(
            ParameterBuilder::new()
                .name("campaign")
                .parameter_in(ParameterIn::Path)
                .required(Required::True)
                .build()
                .into(),
        );
    }
    paths = paths.path("/admin/campaigns/{campaign}/leads", leads);
    paths = external_api(paths);
    paths = crm_admin(paths);
    let error_schema = ObjectBuilder::new()
        .property(
            "error",
            ObjectBuilder::new()
                .property("code", ObjectBuilder::new().schema_type(Type::String))
                .property("message", ObjectBuilder::new().schema_type(Type::String))
                .required("code")
                .required("message"),
        )
        .required("error");
    let components = ComponentsBuilder::new()
        .schema("Error", error_schema)
        .security_scheme("session", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)))
        .security_scheme("admin", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)))
        .security_scheme(
            "externalSystem",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        )
        .build();
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("ctibridge agent API")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "NeoApi-style RPC proxy, agent websocket, simulation API, the external systems' \
                     API (/api/v1, a token per system) and the CRM interaction admin routes. Every \
                     error is {\"error\": {\"code\", \"message\"}}. See docs/api.md and docs/events.md.",
                )),
        )
        .paths(paths)
        .components(Some(components))
        .build()
}

/// The external systems' API: `Authorization: Bearer <the system's token>`.
fn external_api(mut paths: PathsBuilder) -> PathsBuilder {
    let errors: &[(&str, &str)] = &[
        ("401", "missing_token / invalid_token (the system's token)"),
        (
            "404",
            "not_found: an unknown id (the message names the field: idAgent, idCampaign, idContact)",
        ),
        (
            "409",
            "agent_not_logged_in / agent_not_in_campaign / not_current_call / request_in_progress / \
             the agent's state does not allow it",
        ),
        ("422", "invalid_value (wrong shape, no phone to call)"),
        ("503", "telephony_unavailable / database_unavailable"),
    ];
    let ids = "Ids are ctibridge's (agent user, campaign id, contact id) or, with \"externalIds\": \
               true, the system's own (a contact's external id is its key, Clave_1). A repeated \
               requestId answers what the first request did (header Idempotent-Replayed).";
    paths = paths.path(
        "/api/v1/makeCall",
        post(
            "external systems",
            &format!("Make a call: the agent's softphone dials the phone (or the contact's) and has the contact. {ids}"),
            Some(json!({"requestId": "crm-8812", "externalIds": true, "idCampaign": "CAMP-IN",
                "idAgent": "U-100", "idContact": "EXT-7", "phone": "1155550100"})),
            json!({"callId": 100017, "agent": "agent1", "campaign": 97}),
            Some("externalSystem"),
            errors,
        ),
    );
    paths = paths.path(
        "/api/v1/hangup",
        post(
            "external systems",
            &format!("Hang up the agent's call. {ids}"),
            Some(json!({"requestId": "crm-8813", "externalIds": true, "idAgent": "U-100"})),
            json!({"ok": true}),
            Some("externalSystem"),
            errors,
        ),
    );
    paths = paths.path(
        "/api/v1/disposition",
        post(
            "external systems",
            &format!(
                "Categorize the contact on the agent's screen (callId, when given, must name it); with \
                 callbackAt, schedule the callback. {ids}"
            ),
            Some(
                json!({"requestId": "crm-8814", "idAgent": "agent1", "callId": 100017, "category": 1,
                "subcategory": 11, "comment": "sold", "callbackAt": null}),
            ),
            json!({"ok": true, "callId": 100017}),
            Some("externalSystem"),
            errors,
        ),
    );
    paths.path(
        "/api/v1/campaigns/{campaign}/dispositions",
        operation_at(
            "/api/v1/campaigns/{campaign}/dispositions",
            HttpMethod::Get,
            "external systems",
            "A campaign's dispositions (categories and subcategories); ?externalIds=true for the system's campaign id",
            None,
            json!({"campaign": 97, "categories": [{"id": 1, "name": "Contacted", "subcategories": [
                {"id": 11, "name": "Sale", "schedule": false}]}]}),
            Some("externalSystem"),
            errors,
        ),
    )
}

/// The operator's CRM interaction and external systems routes (admin token).
fn crm_admin(mut paths: PathsBuilder) -> PathsBuilder {
    let errors: &[(&str, &str)] = &[
        ("401", "missing_token / invalid_token (admin token)"),
        ("403", "admin_disabled"),
        ("404", "not_found"),
        ("409", "in_use / conflict (an external id taken in the system)"),
        ("422", "invalid_definition: the message names the field"),
    ];
    let site = json!({"url": "https://crm.example.com/calls/{idClient}", "trigger": "server",
        "method": "POST", "format": "json", "target": "embedded",
        "auth": {"token_url": "https://crm.example.com/token", "username": "ctibridge", "password": "…"}});
    let binding = json!({"site": "acme", "params": [
        {"family": "contact", "source": "clave_1", "name": "idClient"},
        {"family": "call", "source": "call_id", "name": "callId"}], "dispositions": []});
    let routes: Vec<(&str, HttpMethod, &str, Option<Value>, Value)> = vec![
        (
            "/admin/crm/sites",
            HttpMethod::Get,
            "External sites (no passwords)",
            None,
            json!({"sites": []}),
        ),
        (
            "/admin/crm/sites/{name}",
            HttpMethod::Put,
            "Create (201) or change (200) an external site",
            Some(site),
            json!({"name": "acme"}),
        ),
        (
            "/admin/crm/sites/{name}",
            HttpMethod::Delete,
            "Delete a site no campaign uses (204)",
            None,
            Value::Null,
        ),
        (
            "/admin/crm/campaigns",
            HttpMethod::Get,
            "Each campaign's site and parameters",
            None,
            json!({"campaigns": []}),
        ),
        (
            "/admin/crm/campaigns/{campaign}",
            HttpMethod::Put,
            "Set the site a campaign invokes and its parameters",
            Some(binding.clone()),
            binding,
        ),
        (
            "/admin/crm/campaigns/{campaign}",
            HttpMethod::Delete,
            "The campaign invokes no site any more (204)",
            None,
            Value::Null,
        ),
        (
            "/admin/crm/outbox",
            HttpMethod::Get,
            "CRM requests: counts and rows (?state=parked|pending|delivered&limit=N), with the CRM's last answer",
            None,
            json!({"counts": {"pending": 0, "parked": 1, "delivered": 10}, "state": "parked", "entries": []}),
        ),
        (
            "/admin/crm/outbox/{id}/requeue",
            HttpMethod::Post,
            "Send a parked request again",
            None,
            json!({"requeued": true}),
        ),
        (
            "/admin/external-systems",
            HttpMethod::Post,
            "Create an external system; its token is in this answer only (201)",
            Some(json!({"name": "acme-crm"})),
            json!({"name": "acme-crm", "token": "acme-crm.…"}),
        ),
        (
            "/admin/external-systems",
            HttpMethod::Get,
            "External systems with their ids and configuration warnings",
            None,
            json!({"systems": []}),
        ),
        (
            "/admin/external-systems/{name}",
            HttpMethod::Delete,
            "Delete a system and its ids (204)",
            None,
            Value::Null,
        ),
        (
            "/admin/external-systems/{name}/agents/{agent}",
            HttpMethod::Put,
            "An agent's id in the system (unique in it)",
            Some(json!({"externalId": "U-100"})),
            json!({"agent": "agent1", "externalId": "U-100"}),
        ),
        (
            "/admin/external-systems/{name}/campaigns/{campaign}",
            HttpMethod::Put,
            "Tie a campaign to the system with its id there",
            Some(json!({"externalId": "CAMP-IN"})),
            json!({"campaign": 97, "externalId": "CAMP-IN"}),
        ),
    ];
    for (path, method, summary, body, answer) in routes {
        paths = paths.path(
            path,
            operation_at(
                path,
                method,
                "admin",
                summary,
                body,
                answer,
                Some("admin"),
                errors,
            ),
        );
    }
    paths
}

#[get("/openapi.json")]
pub async fn document() -> HttpResponse {
    static DOCUMENT: OnceLock<String> = OnceLock::new();
    let text = DOCUMENT.get_or_init(|| build().to_json().unwrap_or_else(|_| "{}".to_owned()));
    HttpResponse::Ok()
        .content_type("application/json")
        .body(text.clone())
}
