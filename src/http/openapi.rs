//! `GET /openapi.json`: the OpenAPI 3.1 document of every API route (the NeoApi methods, the
//! agent websocket, the softphone's Salesforce helpers, the operator and admin endpoints, the
//! simulation API, the Asterisk intake, health), with the schema of each request body, path
//! and query parameter and answer, and every status a route may answer. The telephony types
//! stay free of HTTP concerns: their JSON shapes are written out here, and a contract test
//! (tests/it/contract.rs) checks the server's answers against this document.

use std::sync::OnceLock;

use actix_web::{HttpResponse, get};
use serde_json::{Map, Value, json};

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

fn schema_ref(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

/// The schema of a method's request body.
fn body_schema(method: Method) -> Value {
    schema_ref(match method {
        Method::Login => "LoginRequest",
        Method::LoginCampaign => "CampaignArgs",
        Method::Pause => "PauseArgs",
        Method::Dial => "DialRequest",
        Method::Hangup => "CallArgs",
        Method::UpdateContact => "Disposition",
        Method::InviteParticipant => "ParticipantArgs",
        Method::ExecuteTask01 | Method::ExecuteTask02 | Method::ExecuteTask03 | Method::ExecuteTask05 => {
            "TaskArgs"
        }
        Method::SendDtmf => "DtmfArgs",
        Method::Transfer => "TransferArgs",
        Method::Monitor => "MonitorRequest",
        Method::ScheduleCallback => "ScheduleCallbackRequest",
        _ => "NoArgs",
    })
}

/// The schema of a method's answer.
fn answer_schema(method: Method) -> Value {
    schema_ref(match method {
        Method::Login => "LoginAnswer",
        Method::Dial => "CallIdAnswer",
        Method::Position => "Position",
        Method::ScheduleCallback => "Callback",
        Method::Directory => "Directory",
        _ => "Ok",
    })
}

/// What each error status means, by the route families that answer it.
fn error_description(status: u16) -> &'static str {
    match status {
        400 => {
            "malformed_json (the body is not JSON) / ambiguous_authorization (several Authorization headers)"
        }
        401 => "missing_token / invalid_token / invalid_credentials / not_logged_in",
        403 => "forbidden / not_your_call / admin_disabled",
        404 => {
            "not found: unknown_method / unknown_user / unknown_call / unknown_campaign / not_found / simulation_off / …"
        }
        408 => "request_timeout: the body did not arrive in time",
        409 => {
            "the request does not fit the current state (invalid_state, no_call, already_logged_in, \
             agent_not_logged_in, agent_not_in_campaign, not_current_call, request_in_progress, in_use, …)"
        }
        413 => "payload_too_large",
        422 => "invalid_value (JSON of the wrong shape) or a value the platform refuses",
        429 => "too_many_attempts (Retry-After)",
        502 => "salesforce_error: Salesforce refused the request",
        503 => "busy / telephony_unavailable / store_unavailable / salesforce_unavailable (Retry-After)",
        _ => "error",
    }
}

/// One operation.
struct Op {
    tag: &'static str,
    summary: String,
    security: Option<&'static str>,
    parameters: Vec<Value>,
    body: Option<(Value, Option<Value>)>,
    /// The success status, its content type and schema (`None`: no body).
    success: (u16, &'static str, Option<Value>),
    errors: &'static [u16],
}

impl Op {
    fn build(self) -> Value {
        let mut responses = Map::new();
        let (status, content_type, schema) = self.success;
        let mut ok = json!({"description": "done"});
        if let Some(schema) = schema {
            ok["content"] = json!({ content_type: {"schema": schema} });
        }
        responses.insert(status.to_string(), ok);
        for status in self.errors {
            responses.insert(
                status.to_string(),
                json!({
                    "description": error_description(*status),
                    "content": {"application/json": {"schema": schema_ref("Error")}},
                }),
            );
        }
        let mut op = json!({
            "tags": [self.tag],
            "summary": self.summary,
            "responses": responses,
        });
        if let Some(scheme) = self.security {
            op["security"] = json!([{ scheme: [] }]);
        }
        if !self.parameters.is_empty() {
            op["parameters"] = Value::Array(self.parameters);
        }
        if let Some((schema, example)) = self.body {
            let mut content = json!({"schema": schema});
            if let Some(example) = example {
                content["example"] = example;
            }
            op["requestBody"] = json!({"required": false, "content": {"application/json": content}});
        }
        op
    }
}

fn path_param(name: &str, schema: Value) -> Value {
    json!({"name": name, "in": "path", "required": true, "schema": schema})
}

fn query_param(name: &str, required: bool, schema: Value) -> Value {
    json!({"name": name, "in": "query", "required": required, "schema": schema})
}

fn string() -> Value {
    json!({"type": "string"})
}

fn id() -> Value {
    json!({"type": "integer", "format": "int64", "minimum": 0})
}

fn nullable(type_name: &str) -> Value {
    json!({"type": [type_name, "null"]})
}

fn object(properties: Value, required: &[&str]) -> Value {
    json!({"type": "object", "properties": properties, "required": required})
}

/// The error statuses of each family of routes.
const METHOD_ERRORS: &[u16] = &[400, 401, 403, 404, 408, 409, 413, 422, 503];
const LOGIN_ERRORS: &[u16] = &[400, 401, 408, 409, 413, 422, 429, 503];
const SIM_ERRORS: &[u16] = &[400, 401, 403, 404, 408, 409, 413, 422, 429, 503];
const HELPER_ERRORS: &[u16] = &[400, 401, 404, 408, 409, 413, 422, 502, 503];
const OPERATOR_ERRORS: &[u16] = &[400, 401, 403, 429, 503];

fn schemas() -> Value {
    let neotel_data = json!({
        "callId": id(), "callCampaing": nullable("integer"), "callDialer": nullable("string"),
        "callQueue": nullable("string"), "callReason": nullable("string"),
        "phoneNumber": nullable("string"), "contactId": nullable("integer"),
        "contactBaseId": nullable("integer"), "crmId": nullable("integer"),
        "crmKey": nullable("string"), "campaignCrmId": nullable("integer"),
        "campaignBaseId": nullable("integer"), "userOutCampaign": nullable("integer"),
        "SearchBy": nullable("string"), "SearchData": nullable("string"),
    });
    let mut call_view = neotel_data.clone();
    if let Some(props) = call_view.as_object_mut() {
        props.insert("clavesf".into(), nullable("string"));
        props.insert(
            "state".into(),
            json!({"type": "string", "enum": ["dialing", "queued", "ringing", "connected", "ended"]}),
        );
        props.insert(
            "direction".into(),
            json!({"type": "string", "enum": ["inbound", "outbound"]}),
        );
        props.insert("agent".into(), nullable("string"));
        props.insert("transfer".into(), nullable("object"));
        props.insert("conference".into(), nullable("array"));
    }
    let mut contact_view = neotel_data;
    if let Some(props) = contact_view.as_object_mut() {
        props.insert("clavesf".into(), nullable("string"));
        props.insert("disposition".into(), nullable("object"));
        props.insert("scheduled".into(), json!({"type": "boolean"}));
    }
    let system_rests = [
        "break",
        "lunch",
        "restroom",
        "training",
        "meeting",
        "backoffice",
        "noAnswer",
    ];
    let pause_reason = json!({"oneOf": [
        object(json!({"kind": {"const": "system"}, "id": {"type": "string", "enum": system_rests}}), &["kind", "id"]),
        object(json!({"kind": {"const": "custom"}, "id": {"type": "integer", "minimum": 0, "maximum": u32::MAX}}), &["kind", "id"]),
    ]});
    let participant = json!({"oneOf": [
        object(json!({"kind": {"const": "external"}, "who": string()}), &["kind", "who"]),
        object(json!({"kind": {"const": "user"}, "who": string()}), &["kind", "who"]),
    ]});
    let transfer_target = json!({"oneOf": [
        object(json!({"kind": {"const": "external"}, "to": string()}), &["kind", "to"]),
        object(json!({"kind": {"const": "user"}, "to": string()}), &["kind", "to"]),
        object(json!({"kind": {"const": "queue"}, "to": string()}), &["kind", "to"]),
        object(json!({"kind": {"const": "campaign"}, "to": {"type": "integer", "format": "int64"}}), &["kind", "to"]),
    ]});
    let optional_call = json!({"type": ["integer", "null"], "format": "int64", "minimum": 0});
    let position = object(
        json!({
            "user": string(),
            "device": nullable("string"),
            "role": {"type": "string", "enum": ["agent", "supervisor"]},
            "state": {"type": "string", "enum": ["loggedOut", "loggedIn", "available", "paused", "ringing", "previewing", "inCall", "wrapUp", "monitoring"]},
            "crm": {"type": "string", "enum": ["Available", "Unavailable", "GetContact", "ShowingContact"]},
            "pause": {"type": ["object", "null"], "properties": {"reason": {"$ref": "#/components/schemas/PauseReason"}, "name": string()}},
            "campaign": {"type": ["object", "null"], "properties": {"id": {"type": "integer"}, "name": string()}},
            "call": {"type": ["object", "null"], "properties": call_view.clone()},
            "contact": {"type": ["object", "null"], "properties": contact_view},
            "monitoring": {"type": ["object", "null"], "properties": {"target": string(), "mode": {"type": "string", "enum": ["listen", "assist"]}}},
            "salesforceUserId": nullable("string"),
        }),
        &[
            "user",
            "device",
            "role",
            "state",
            "crm",
            "pause",
            "campaign",
            "call",
            "contact",
            "monitoring",
            "salesforceUserId",
        ],
    );
    let record = object(
        json!({"recordId": string(), "objectType": string(), "name": string()}),
        &["recordId", "objectType"],
    );
    let mut all = Map::new();
    let parts = [
        json!({
            "Error": object(json!({"error": object(json!({"code": string(), "message": string()}), &["code", "message"])}), &["error"]),
            "Ok": object(json!({"ok": {"type": "boolean"}}), &["ok"]),
            "NoArgs": {"type": "object", "description": "no arguments: an empty body or {}"},
            "LoginRequest": object(json!({"device": string(), "user": string(), "password": string(), "role": {"type": ["string", "null"], "enum": ["agent", "supervisor", null], "description": "the role the client needs: another user is refused (403 wrong_role) before anything changes"}}), &["device", "user", "password"]),
            "LoginAnswer": object(json!({"token": string(), "expiresAt": {"type": ["string", "null"], "format": "date-time"}, "agent": schema_ref("Position")}), &["token", "expiresAt", "agent"]),
            "CampaignArgs": object(json!({"campaign": {"type": "integer", "format": "int64"}}), &["campaign"]),
            "PauseReason": pause_reason,
            "PauseArgs": object(json!({"reason": schema_ref("PauseReason")}), &["reason"]),
            "CallArgs": object(json!({"callId": optional_call.clone()}), &[]),
            "DialRequest": object(json!({
                "phone": nullable("string"),
                "clickToDial": {"type": ["object", "null"], "properties": {"crmId": {"type": "integer", "format": "int64"}, "crmKey": string()}, "required": ["crmId", "crmKey"]},
            }), &[]),
        }),
        json!({
            "CallIdAnswer": object(json!({"callId": id()}), &["callId"]),
            "Disposition": object(json!({"category": {"type": "integer", "format": "int64"}, "subcategory": {"type": "integer", "format": "int64"}, "comment": nullable("string")}), &["category", "subcategory"]),
            "Participant": participant,
            "ParticipantArgs": object(json!({"participant": schema_ref("Participant")}), &["participant"]),
            "TaskArgs": object(json!({"params": {"type": "object", "additionalProperties": string()}}), &[]),
            "DtmfArgs": object(json!({"callId": optional_call.clone(), "digits": string()}), &["digits"]),
            "TransferTarget": transfer_target,
            "TransferArgs": object(json!({"callId": optional_call, "target": schema_ref("TransferTarget"), "mode": {"type": "string", "enum": ["direct", "attended"]}}), &["target", "mode"]),
            "MonitorRequest": object(json!({"target": string(), "mode": {"type": "string", "enum": ["listen", "assist"]}}), &["target", "mode"]),
            "ScheduleCallbackRequest": object(json!({"at": {"type": "string", "format": "date-time"}, "phone": nullable("string")}), &["at"]),
            "Callback": object(json!({"id": id(), "at": {"type": "string", "format": "date-time"}, "campaign": {"type": "integer"}, "phone": string(), "contactId": nullable("integer"), "scheduledBy": string()}), &["id", "at", "campaign", "phone", "contactId", "scheduledBy"]),
            "Directory": object(json!({"campaigns": {"type": "array", "items": {"type": "object"}}, "restStates": {"type": "array", "items": {"type": "object"}}, "users": {"type": "array", "items": object(json!({"user": string(), "role": string(), "state": string()}), &["user", "role", "state"])}}), &["campaigns", "restStates", "users"]),
            "Position": position,
        }),
        json!({
            "CallView": {"type": "object", "properties": call_view, "required": ["callId", "state", "direction"]},
            "InboundCall": {"type": "object", "properties": {
                "ani": nullable("string"), "data": nullable("string"), "queue": string(),
                "hangUpAfterSecs": {"type": ["integer", "null"], "minimum": 0},
            }, "required": ["queue"], "additionalProperties": false},
            "Digits": {"type": "object", "properties": {"digits": string()}, "required": ["digits"], "additionalProperties": false},
            "Leads": {"type": "object", "properties": {"leads": {"type": "array", "items": {"type": "object", "properties": {"phone": string(), "key": nullable("string")}, "required": ["phone"], "additionalProperties": false}}}, "required": ["leads"], "additionalProperties": false},
            "Loaded": object(json!({"loaded": {"type": "integer", "minimum": 0}}), &["loaded"]),
            "MissedCalls": object(json!({"missedCalls": {"type": "array", "items": object(json!({
                "callId": {"type": "integer", "minimum": 0}, "phone": nullable("string"),
                "campaign": {"type": "integer"}, "queue": string(),
                "reason": {"type": "string", "enum": ["abandoned", "noAgent", "ringOut", "outsideHours", "serverRestart"]},
                "arrivedAt": string(), "endedAt": string(), "waitedSecs": {"type": "integer"},
                "recordType": nullable("string"), "recordId": nullable("string"), "recordName": nullable("string"),
                "ownerId": nullable("string"), "ownerAgent": nullable("string"),
                "status": {"type": "string", "enum": ["open", "closed"]},
                "closedBy": nullable("integer"), "closedByAgent": nullable("string"), "closedAt": nullable("string"),
            }), &["callId", "phone", "campaign", "queue", "reason", "arrivedAt", "endedAt", "waitedSecs", "status"])}}), &["missedCalls"]),
            "CallingBack": object(json!({
                "callId": {"type": "integer", "minimum": 0}, "missedCallId": {"type": "integer", "minimum": 0},
            }), &["callId", "missedCallId"]),
            "FloorFigures": object(json!({
                "at": string(), "day": string(),
                "agents": {"type": "array", "items": object(json!({
                    "user": string(), "state": string(), "since": string(), "secondsInState": {"type": "integer"},
                }), &["user", "state", "since", "secondsInState"])},
                "queues": {"type": "array", "items": object(json!({
                    "queue": string(), "waiting": {"type": "integer"}, "longestWaitSecs": {"type": "integer"},
                    "oldestSince": string(),
                }), &["queue", "waiting", "longestWaitSecs"])},
                "hours": {"type": "array", "items": object(json!({
                    "hour": {"type": "integer", "minimum": 0, "maximum": 23},
                    "offered": {"type": "integer"}, "answered": {"type": "integer"},
                    "abandoned": {"type": "integer"}, "missed": {"type": "integer"},
                    "answeredInTime": {"type": "integer"}, "serviceLevel": nullable("number"),
                }), &["hour", "offered", "answered", "abandoned", "missed", "answeredInTime", "serviceLevel"])},
                "offered": {"type": "integer"}, "answered": {"type": "integer"},
                "abandoned": {"type": "integer"}, "missed": {"type": "integer"},
                "serviceLevelSecs": {"type": "integer"}, "serviceLevel": nullable("number"),
                "averageHandleSecs": nullable("number"), "averageWrapUpSecs": nullable("number"),
            }), &["at", "day", "agents", "queues", "offered", "answered", "abandoned", "missed", "serviceLevelSecs", "serviceLevel", "averageHandleSecs", "averageWrapUpSecs"]),
            "StatsHistory": object(json!({
                "from": string(), "to": string(), "by": {"enum": ["hour", "agent"]},
                "serviceLevelSecs": {"type": "integer"},
                "rows": {"type": "array", "items": object(json!({
                    "hour": string(), "agent": nullable("string"),
                    "offered": {"type": "integer"}, "answered": {"type": "integer"},
                    "answeredInTime": {"type": "integer"}, "abandoned": {"type": "integer"},
                    "missed": {"type": "integer"}, "handleMs": {"type": "integer"}, "handled": {"type": "integer"},
                    "wrapUpMs": {"type": "integer"}, "wrapUps": {"type": "integer"},
                    "waitMs": {"type": "integer"}, "waits": {"type": "integer"},
                    "serviceLevel": nullable("number"), "averageWaitSecs": nullable("number"),
                    "averageHandleSecs": nullable("number"), "averageWrapUpSecs": nullable("number"),
                }), &["offered", "answered", "answeredInTime", "abandoned", "missed", "serviceLevel"])},
            }), &["from", "to", "by", "serviceLevelSecs", "rows"]),
            "Instances": object(json!({"instances": {"type": "array", "items": object(json!({
                "id": string(), "gatewayUrl": string(), "coreUrl": nullable("string"), "version": string(),
                "active": {"type": "boolean"}, "alive": {"type": "boolean"}, "heartbeatMsAgo": {"type": "integer"},
            }), &["id", "gatewayUrl", "coreUrl", "version", "active", "alive", "heartbeatMsAgo"])}}), &["instances"]),
            "CustomerScript": {"oneOf": [
                {"type": "object", "properties": {"behaviour": {"const": "answer"}, "afterSecs": {"type": "integer", "minimum": 0}, "hangUpAfterSecs": {"type": ["integer", "null"], "minimum": 0}}, "required": ["behaviour"], "additionalProperties": false},
                {"type": "object", "properties": {"behaviour": {"const": "busy"}}, "required": ["behaviour"], "additionalProperties": false},
                {"type": "object", "properties": {"behaviour": {"const": "noAnswer"}}, "required": ["behaviour"], "additionalProperties": false},
            ]},
        }),
        json!({
            "SyncIdRequest": {"type": "object", "properties": {"callId": {"type": ["integer", "null"], "minimum": 0}}, "additionalProperties": false},
            "SyncIdAnswer": object(json!({"neoSyncId": {"type": "string", "pattern": "^[0-9]+$"}}), &["neoSyncId"]),
            "PoppedRequest": {"type": "object", "properties": {"callId": {"type": ["integer", "null"], "minimum": 0}, "recordId": string(), "objectType": string()}, "required": ["recordId", "objectType"], "additionalProperties": false},
            "SyncRequest": {"type": "object", "properties": {"callId": {"type": ["integer", "null"], "minimum": 0}, "neoSyncId": {"type": ["string", "integer"]}}, "required": ["neoSyncId"], "additionalProperties": false},
            "Record": record,
            "Records": object(json!({"records": {"type": "array", "items": schema_ref("Record")}}), &["records"]),
            "AdminView": object(json!({
                "configured": {"type": "boolean"}, "flow": nullable("string"),
                "apiUsage": {"type": ["object", "null"], "properties": {"used": {"type": "integer"}, "max": {"type": "integer"}, "sentByThisProcess": {"type": "integer"}}},
                "outbox": object(json!({"pending": {"type": "integer"}, "parked": {"type": "integer"}, "delivered": {"type": "integer"}, "oldestPendingCreatedAtMs": nullable("integer")}), &["pending", "parked", "delivered"]),
                "parked": {"type": "array", "items": {"type": "object"}},
            }), &["configured", "flow", "apiUsage", "outbox", "parked"]),
            "Requeued": object(json!({"requeued": {"type": "boolean"}}), &["requeued"]),
            "Health": object(json!({"status": {"const": "ok"}}), &["status"]),
            "Ready": object(json!({"status": {"const": "ready"}, "database": {"type": "string", "enum": ["sqlite", "postgres"]}, "migrations": {"type": "integer"}}), &["status", "database", "migrations"]),
            "Empty": {"type": "object"},
        }),
    ];
    for part in parts {
        if let Value::Object(part) = part {
            all.extend(part);
        }
    }
    Value::Object(all)
}

fn build() -> Value {
    let mut paths = Map::new();
    let mut add = |path: &str, verb: &str, op: Op| {
        let item = paths.entry(path.to_owned()).or_insert_with(|| json!({}));
        item[verb] = op.build();
    };
    for method in Method::ALL {
        let (summary, example, _) = method_doc(method);
        let login = method == Method::Login;
        add(
            &format!("/neoapi/{}", method.as_str()),
            "post",
            Op {
                tag: "neoapi",
                summary: summary.to_owned(),
                security: (!login).then_some("session"),
                parameters: Vec::new(),
                body: Some((body_schema(method), Some(example))),
                success: (200, "application/json", Some(answer_schema(method))),
                errors: if login { LOGIN_ERRORS } else { METHOD_ERRORS },
            },
        );
    }
    add(
        "/neoapi/ws",
        "get",
        Op {
            tag: "neoapi",
            summary:
                "Agent websocket: first text frame {\"type\":\"auth\",\"token\":…} within 5 s (else close \
                  4001); answers {\"type\":\"snapshot\",…Position} then every event of the agent \
                  (docs/events.md); pings every 15 s; silent 45 s → close 4000; more than 256 events \
                  behind → close 4008; a frame over 16 KiB → close 1009"
                    .to_owned(),
            security: None,
            parameters: Vec::new(),
            body: None,
            success: (101, "", None),
            errors: &[400],
        },
    );

    let helper = |summary: &str, request: &str, status: u16, answer: &str| Op {
        tag: "salesforce",
        summary: summary.to_owned(),
        security: Some("session"),
        parameters: Vec::new(),
        body: Some((schema_ref(request), None)),
        success: (status, "application/json", Some(schema_ref(answer))),
        errors: HELPER_ERRORS,
    };
    add(
        "/api/salesforce/new-sync-id",
        "post",
        helper(
            "A fresh neoSyncId for the record the agent is about to create from the current call",
            "SyncIdRequest",
            200,
            "SyncIdAnswer",
        ),
    );
    add(
        "/api/salesforce/popped",
        "post",
        helper(
            "The softphone popped a record for the current call: externalData onto it, the call's Task linked",
            "PoppedRequest",
            202,
            "Empty",
        ),
    );
    add(
        "/api/salesforce/sync",
        "post",
        helper(
            "Find the record saved with a neoSyncId and link it to the current call",
            "SyncRequest",
            200,
            "Record",
        ),
    );
    add(
        "/api/salesforce/search",
        "get",
        Op {
            tag: "salesforce",
            summary: "Search Salesforce by phone or key, in searchTypePriority order".to_owned(),
            security: Some("session"),
            parameters: vec![
                query_param("phone", false, string()),
                query_param("key", false, string()),
            ],
            body: None,
            success: (200, "application/json", Some(schema_ref("Records"))),
            errors: &[400, 401, 422, 502, 503],
        },
    );
    add(
        "/api/stats",
        "get",
        Op {
            tag: "supervisor",
            summary: "The floor's live figures: agents' states, calls waiting per queue, today's offered / \
                      answered / abandoned / missed calls, service level, average handle and wrap-up time \
                      (a supervisor's session)"
                .to_owned(),
            security: Some("session"),
            parameters: Vec::new(),
            body: None,
            success: (200, "application/json", Some(schema_ref("FloorFigures"))),
            errors: &[400, 401, 403, 503],
        },
    );
    add(
        "/api/missed",
        "get",
        Op {
            tag: "softphone",
            summary: "The open missed calls the agent may see: of records the agent owns first, then of \
                      the agent's current campaign (an agent's session)"
                .to_owned(),
            security: Some("session"),
            parameters: Vec::new(),
            body: None,
            success: (200, "application/json", Some(schema_ref("MissedCalls"))),
            errors: &[400, 401, 404, 409, 429, 503],
        },
    );
    add(
        "/api/missed/{call}/callback",
        "post",
        Op {
            tag: "softphone",
            summary: "Call a missed call back: dials its number linked to it; when the call connects the \
                      missed call and its Task close (an agent's session)"
                .to_owned(),
            security: Some("session"),
            parameters: vec![path_param(
                "call",
                json!({"type": "integer", "format": "int64", "minimum": 0}),
            )],
            body: None,
            success: (200, "application/json", Some(schema_ref("CallingBack"))),
            errors: &[400, 401, 403, 404, 409, 422, 429, 503],
        },
    );
    add(
        "/api/stats/history",
        "get",
        Op {
            tag: "supervisor",
            summary: "Inbound calls per hour or per answering agent over UTC days `from`..`to` (both \
                      included, at most 31 days; a supervisor's session). JSON, or CSV with `format=csv` \
                      or `Accept: text/csv`. 422 `range_too_long`, `invalid_range`, `invalid_group`, \
                      `invalid_format`"
                .to_owned(),
            security: Some("session"),
            parameters: vec![
                query_param(
                    "from",
                    true,
                    json!({"type": "string", "format": "date", "example": "2026-03-01"}),
                ),
                query_param(
                    "to",
                    true,
                    json!({"type": "string", "format": "date", "example": "2026-03-07"}),
                ),
                query_param("by", false, json!({"enum": ["hour", "agent"]})),
                query_param("format", false, json!({"enum": ["json", "csv"]})),
            ],
            body: None,
            success: (200, "application/json", Some(schema_ref("StatsHistory"))),
            errors: &[400, 401, 403, 422, 503],
        },
    );
    add(
        "/admin/salesforce",
        "get",
        Op {
            tag: "operator",
            summary: "Salesforce API usage, outbox counts and parked writes (operator token)".to_owned(),
            security: Some("operator"),
            parameters: Vec::new(),
            body: None,
            success: (200, "application/json", Some(schema_ref("AdminView"))),
            errors: OPERATOR_ERRORS,
        },
    );
    add(
        "/admin/campaigns/{campaign}/leads",
        "post",
        Op {
            tag: "admin",
            summary:
                "Load leads into an outbound campaign's dialer, whatever the telephony platform (admin token)"
                    .to_owned(),
            security: Some("admin"),
            parameters: vec![path_param(
                "campaign",
                json!({"type": "integer", "format": "int64"}),
            )],
            body: Some((
                schema_ref("Leads"),
                Some(json!({"leads": [{"phone": "1155550100", "key": "0035e00000AbCdE"}]})),
            )),
            success: (200, "application/json", Some(schema_ref("Loaded"))),
            errors: SIM_ERRORS,
        },
    );
    add(
        "/admin/instances",
        "get",
        Op {
            tag: "admin",
            summary:
                "The cluster's instances: gateway, core (the active one), version, alive (operator token)"
                    .to_owned(),
            security: Some("operator"),
            parameters: Vec::new(),
            body: None,
            success: (200, "application/json", Some(schema_ref("Instances"))),
            errors: OPERATOR_ERRORS,
        },
    );
    add(
        "/admin/salesforce/outbox/{id}/requeue",
        "post",
        Op {
            tag: "admin",
            summary: "Put a parked Salesforce write back in the queue (admin token)".to_owned(),
            security: Some("admin"),
            parameters: vec![path_param("id", json!({"type": "integer", "format": "int64"}))],
            body: None,
            success: (200, "application/json", Some(schema_ref("Requeued"))),
            errors: &[400, 401, 403, 404, 429, 503],
        },
    );
    add(
        "/metrics",
        "get",
        Op {
            tag: "operator",
            summary: "Prometheus text format: Salesforce API usage and the outbox (operator token)"
                .to_owned(),
            security: Some("operator"),
            parameters: Vec::new(),
            body: None,
            success: (200, "text/plain", Some(string())),
            errors: OPERATOR_ERRORS,
        },
    );
    add(
        "/healthz",
        "get",
        Op {
            tag: "health",
            summary: "The process answers".to_owned(),
            security: None,
            parameters: Vec::new(),
            body: None,
            success: (200, "application/json", Some(schema_ref("Health"))),
            errors: &[],
        },
    );
    add(
        "/readyz",
        "get",
        Op {
            tag: "health",
            summary: "The database answers and every migration is applied".to_owned(),
            security: None,
            parameters: Vec::new(),
            body: None,
            success: (200, "application/json", Some(schema_ref("Ready"))),
            errors: &[503],
        },
    );
    add(
        "/openapi.json",
        "get",
        Op {
            tag: "health",
            summary: "This document".to_owned(),
            security: None,
            parameters: Vec::new(),
            body: None,
            success: (200, "application/json", Some(json!({"type": "object"}))),
            errors: &[],
        },
    );
    add(
        "/asterisk/intake",
        "get",
        Op {
            tag: "asterisk",
            summary: "CONTACTO_INSERT_SALESFORCE for Asterisk's dialplan: CLAVESF|callId as plain text \
                  (intake token; 404 intake_disabled without one)"
                .to_owned(),
            security: Some("intake"),
            parameters: vec![
                query_param("queue", true, string()),
                query_param("ani", false, string()),
                query_param("data", false, string()),
                query_param("uniqueid", false, string()),
            ],
            body: None,
            success: (200, "text/plain", Some(string())),
            errors: &[400, 401, 404, 422, 429, 503],
        },
    );

    add(
        "/asterisk/owner",
        "get",
        Op {
            tag: "asterisk",
            summary: "Owner routing for Asterisk's dialplan: the channel of the caller's record owner to \
                  Dial() before Queue() as plain text, empty when the owner is not available \
                  (intake token)"
                .to_owned(),
            security: Some("intake"),
            parameters: vec![
                query_param("queue", true, string()),
                query_param("uniqueid", true, string()),
            ],
            body: None,
            success: (200, "text/plain", Some(string())),
            errors: &[400, 401, 404, 422, 429],
        },
    );

    let user = || vec![path_param("user", string())];
    let call = || vec![path_param("call", id())];
    let campaign = || {
        vec![path_param(
            "campaign",
            json!({"type": "integer", "format": "int64"}),
        )]
    };
    // (path, verb, summary, path parameters, request body schema, answer schema)
    type SimRoute = (
        &'static str,
        &'static str,
        &'static str,
        Vec<Value>,
        Option<&'static str>,
        &'static str,
    );
    let sims: Vec<SimRoute> = vec![
        (
            "/sim/inbound",
            "post",
            "A customer calls a queue",
            Vec::new(),
            Some("InboundCall"),
            "CallIdAnswer",
        ),
        (
            "/sim/agents/{user}/answer",
            "post",
            "The agent's ringing device is picked up",
            user(),
            None,
            "Ok",
        ),
        (
            "/sim/calls/{call}",
            "get",
            "A call as the engine sees it",
            call(),
            None,
            "CallView",
        ),
        (
            "/sim/calls/{call}/answer",
            "post",
            "The customer answers an outbound call",
            call(),
            None,
            "Ok",
        ),
        (
            "/sim/calls/{call}/hangup",
            "post",
            "The customer hangs up",
            call(),
            None,
            "Ok",
        ),
        (
            "/sim/calls/{call}/dtmf",
            "post",
            "The customer presses digits",
            call(),
            Some("Digits"),
            "Ok",
        ),
        (
            "/sim/campaigns/{campaign}/leads",
            "post",
            "Load leads into an outbound campaign",
            campaign(),
            Some("Leads"),
            "Loaded",
        ),
        (
            "/sim/campaigns/{campaign}/dial",
            "post",
            "Run the campaign's dialer one step",
            campaign(),
            None,
            "Ok",
        ),
        (
            "/sim/customers/{phone}/script",
            "post",
            "How a number behaves the next time it is dialed",
            vec![path_param("phone", string())],
            Some("CustomerScript"),
            "Ok",
        ),
    ];
    for (path, verb, summary, parameters, request, answer) in sims {
        add(
            path,
            verb,
            Op {
                tag: "simulation",
                summary: format!("{summary} (development mode or server.simulation; admin token)"),
                security: Some("admin"),
                parameters,
                body: request.map(|r| (schema_ref(r), None)),
                success: (200, "application/json", Some(schema_ref(answer))),
                errors: SIM_ERRORS,
            },
        );
    }
    // CRM interaction: the operator's routes (admin token), the softphone's site for the
    // current call, and the external systems' API (a token per system).
    let text_or_int = |name: &str| path_param(name, json!({"type": ["string", "integer"]}));
    // (path, verb, summary, parameters, takes a JSON body, success status, answer, security)
    type Route<'a> = (
        &'a str,
        &'a str,
        &'a str,
        Vec<Value>,
        bool,
        u16,
        Option<&'a str>,
        &'a str,
    );
    let crm_routes: Vec<Route> = vec![
        (
            "/admin/crm/sites",
            "get",
            "External sites (no passwords)",
            vec![],
            false,
            200,
            Some("Empty"),
            "admin",
        ),
        (
            "/admin/crm/sites/{name}",
            "put",
            "Create (201) or change (200) an external site",
            vec![path_param("name", string())],
            true,
            200,
            Some("Empty"),
            "admin",
        ),
        (
            "/admin/crm/sites/{name}",
            "delete",
            "Delete a site no campaign uses (204)",
            vec![path_param("name", string())],
            false,
            204,
            None,
            "admin",
        ),
        (
            "/admin/crm/campaigns",
            "get",
            "Each campaign's site and parameters",
            vec![],
            false,
            200,
            Some("Empty"),
            "admin",
        ),
        (
            "/admin/crm/campaigns/{campaign}",
            "put",
            "Set the site a campaign invokes and its parameters",
            vec![text_or_int("campaign")],
            true,
            200,
            Some("Empty"),
            "admin",
        ),
        (
            "/admin/crm/campaigns/{campaign}",
            "delete",
            "The campaign invokes no site any more (204)",
            vec![text_or_int("campaign")],
            false,
            204,
            None,
            "admin",
        ),
        (
            "/admin/crm/outbox",
            "get",
            "CRM requests: counts and rows (?state=parked|pending|delivered&limit=N), with the CRM's last answer",
            vec![
                query_param("state", false, string()),
                query_param("limit", false, json!({"type": "integer"})),
            ],
            false,
            200,
            Some("Empty"),
            "admin",
        ),
        (
            "/admin/crm/outbox/{id}/requeue",
            "post",
            "Send a parked CRM request again",
            vec![path_param("id", json!({"type": "integer", "format": "int64"}))],
            false,
            200,
            Some("Empty"),
            "admin",
        ),
        (
            "/admin/external-systems",
            "post",
            "Create an external system; its token is in this answer only (201)",
            vec![],
            true,
            201,
            Some("Empty"),
            "admin",
        ),
        (
            "/admin/external-systems",
            "get",
            "External systems with their ids and configuration warnings",
            vec![],
            false,
            200,
            Some("Empty"),
            "admin",
        ),
        (
            "/admin/external-systems/{name}",
            "delete",
            "Delete a system and its ids (204)",
            vec![path_param("name", string())],
            false,
            204,
            None,
            "admin",
        ),
        (
            "/admin/external-systems/{name}/agents/{agent}",
            "put",
            "An agent's id in the system (unique in it)",
            vec![path_param("name", string()), path_param("agent", string())],
            true,
            200,
            Some("Empty"),
            "admin",
        ),
        (
            "/admin/external-systems/{name}/campaigns/{campaign}",
            "put",
            "Tie a campaign to the system with its id there",
            vec![path_param("name", string()), text_or_int("campaign")],
            true,
            200,
            Some("Empty"),
            "admin",
        ),
        (
            "/api/crm/site",
            "get",
            "The external site the softphone opens for the agent's current call (URL or form)",
            vec![],
            false,
            200,
            Some("Empty"),
            "session",
        ),
        (
            "/api/v1/makeCall",
            "post",
            "Make a call: the agent's softphone dials the phone (or the contact's) and has the contact. Ids are ctibridge's or, with \"externalIds\": true, the system's own; a repeated requestId answers what the first request did (header Idempotent-Replayed)",
            vec![],
            true,
            200,
            Some("Empty"),
            "externalSystem",
        ),
        (
            "/api/v1/hangup",
            "post",
            "Hang up the agent's call (ids as in makeCall)",
            vec![],
            true,
            200,
            Some("Empty"),
            "externalSystem",
        ),
        (
            "/api/v1/disposition",
            "post",
            "Categorize the contact on the agent's screen; with callbackAt, schedule the callback",
            vec![],
            true,
            200,
            Some("Empty"),
            "externalSystem",
        ),
        (
            "/api/v1/campaigns/{campaign}/dispositions",
            "get",
            "A campaign's dispositions; ?externalIds=true for the system's campaign id",
            vec![
                text_or_int("campaign"),
                query_param("externalIds", false, json!({"type": "boolean"})),
            ],
            false,
            200,
            Some("Empty"),
            "externalSystem",
        ),
    ];
    const CRM_ERRORS: &[u16] = &[400, 401, 403, 404, 408, 409, 413, 422, 429, 502, 503];
    for (path, verb, summary, parameters, body, status, answer, security) in crm_routes {
        let tag = match security {
            "admin" => "admin",
            "session" => "salesforce",
            _ => "external systems",
        };
        add(
            path,
            verb,
            Op {
                tag,
                summary: summary.to_owned(),
                security: Some(security),
                parameters,
                body: body.then(|| (json!({"type": "object"}), None)),
                success: (status, "application/json", answer.map(schema_ref)),
                errors: CRM_ERRORS,
            },
        );
    }
    // Creating a site answers 201, changing it 200.
    paths["/admin/crm/sites/{name}"]["put"]["responses"]["201"] =
        json!({"description": "created", "content": {"application/json": {"schema": schema_ref("Empty")}}});
    let bearer = json!({"type": "http", "scheme": "bearer"});
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "ctibridge API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "NeoApi-style RPC proxy, agent websocket, the softphone's Salesforce helpers, \
                            operator and admin endpoints, simulation API and Asterisk intake. Every \
                            error is {\"error\": {\"code\", \"message\"}}. See docs/api.md and docs/events.md.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas(),
            "securitySchemes": {
                "session": bearer.clone(),
                "admin": bearer.clone(),
                "operator": bearer.clone(),
                "externalSystem": bearer.clone(),
                "intake": bearer,
            },
        },
    })
}

/// The document, built once.
pub fn document_value() -> &'static Value {
    static DOCUMENT: OnceLock<Value> = OnceLock::new();
    DOCUMENT.get_or_init(build)
}

#[get("/openapi.json")]
pub async fn document() -> HttpResponse {
    HttpResponse::Ok().json(document_value())
}
