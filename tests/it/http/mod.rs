//! The agent-facing server over real HTTP and websockets: the NeoApi proxy, sessions,
//! authorization, the websocket push and the simulation API. Each test starts its own server
//! on port 0 with the demo roster (agent1–agent3 on 1001–1003, super1 on 1100, password
//! `demo`, admin token `demo-admin`, operator token `demo-operator`) and waits on events,
//! never on time.

mod authz;
mod dashboard;
mod neoapi;
mod salesforce;
mod sessions;
mod sim;
mod stats;
mod ws;

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::support::server::{Api, TestApp};

pub const ADMIN: &str = "demo-admin";
pub const OPERATOR: &str = "demo-operator";
pub const INBOUND: i64 = 97;
pub const QUEUE: &str = "salesforce";

/// How long a test waits for something that should happen at once.
pub const WAIT: Duration = Duration::from_secs(10);

/// An answer: status and JSON body (`Value::Null` when the body is not JSON).
pub struct Answer {
    pub status: u16,
    pub body: Value,
    pub retry_after: Option<String>,
}

impl Answer {
    /// The error code of an error answer.
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("<no error code>")
    }

    #[track_caller]
    pub fn ok(&self) -> &Value {
        assert_eq!(
            self.status, 200,
            "expected 200, got {}: {}",
            self.status, self.body
        );
        &self.body
    }
}

async fn answer(response: reqwest::Response) -> Answer {
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    let text = response.text().await.unwrap();
    Answer {
        status,
        body: serde_json::from_str(&text).unwrap_or(Value::Null),
        retry_after,
    }
}

/// `POST /neoapi/{method}` with a JSON body and an optional bearer token.
pub async fn rpc(app: &impl Api, token: Option<&str>, method: &str, body: Value) -> Answer {
    let mut request = app
        .client()
        .post(app.url(&format!("/neoapi/{method}")))
        .json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    answer(request.send().await.unwrap()).await
}

/// `POST /neoapi/{method}` with raw bytes as the body.
pub async fn rpc_raw(app: &impl Api, token: Option<&str>, method: &str, body: Vec<u8>) -> Answer {
    let mut request = app
        .client()
        .post(app.url(&format!("/neoapi/{method}")))
        .header("content-type", "application/json")
        .body(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    answer(request.send().await.unwrap()).await
}

/// `POST /sim/{path}` with the admin token.
pub async fn sim(app: &impl Api, path: &str, body: Value) -> Answer {
    let request = app
        .client()
        .post(app.url(&format!("/sim/{path}")))
        .bearer_auth(ADMIN)
        .json(&body);
    answer(request.send().await.unwrap()).await
}

/// Logs a demo user in; returns the session token.
pub async fn login(app: &impl Api, user: &str, device: &str) -> String {
    let answer = rpc(
        app,
        None,
        "Login",
        json!({"device": device, "user": user, "password": "demo"}),
    )
    .await;
    answer.ok()["token"].as_str().expect("a token").to_owned()
}

/// Logs a demo agent in and into the inbound campaign.
pub async fn available(app: &impl Api, user: &str, device: &str) -> String {
    let token = login(app, user, device).await;
    rpc(app, Some(&token), "Login_Campaign", json!({"campaign": INBOUND}))
        .await
        .ok();
    token
}

/// `GET path` (with `token` as bearer if any): the JSON body, whatever the status.
pub async fn get_json(app: &impl Api, path: &str, token: Option<&str>) -> Value {
    let mut request = app.client().get(app.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap().json().await.unwrap()
}

/// `GET /metrics` with the operator token: the Prometheus text.
pub async fn metrics(app: &impl Api) -> String {
    app.client()
        .get(app.url("/metrics"))
        .bearer_auth(OPERATOR)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// The session's agent goes on a break (a system pause).
pub async fn pause(app: &impl Api, token: &str) {
    rpc(
        app,
        Some(token),
        "Pause",
        json!({"reason": {"kind": "system", "id": "break"}}),
    )
    .await
    .ok();
}

/// A customer calls the inbound queue; returns the call id.
pub async fn inbound_call(app: &impl Api, ani: &str, data: Option<&str>) -> u64 {
    let mut body = json!({"ani": ani, "queue": QUEUE});
    if let Some(data) = data {
        body["data"] = json!(data);
    }
    sim(app, "inbound", body).await.ok()["callId"].as_u64().unwrap()
}

pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Opens the agent websocket without authenticating.
pub async fn ws_open(app: &impl Api) -> Socket {
    let url = app.url("/neoapi/ws").replacen("http", "ws", 1);
    let (socket, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("websocket connects");
    socket
}

/// Opens the agent websocket and authenticates; returns it with the snapshot.
pub async fn ws_connect(app: &impl Api, token: &str) -> (Socket, Value) {
    let mut socket = ws_open(app).await;
    socket
        .send(Message::text(json!({"type": "auth", "token": token}).to_string()))
        .await
        .unwrap();
    let snapshot = next_json(&mut socket).await;
    assert_eq!(snapshot["type"], "snapshot", "first frame: {snapshot}");
    (socket, snapshot)
}

/// The next JSON text frame (pings are skipped).
pub async fn next_json(socket: &mut Socket) -> Value {
    loop {
        let frame = tokio::time::timeout(WAIT, socket.next())
            .await
            .expect("a frame within the wait")
            .expect("the socket is open")
            .expect("a valid frame");
        match frame {
            Message::Text(text) => return serde_json::from_str(&text).expect("JSON frame"),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("unexpected frame {other:?}"),
        }
    }
}

/// Reads events until one of `kind` arrives; returns it.
pub async fn wait_for(socket: &mut Socket, kind: &str) -> Value {
    loop {
        let event = next_json(socket).await;
        if event["type"] == kind {
            return event;
        }
    }
}

/// Reads until the server closes the socket; returns the close code and reason.
pub async fn wait_close(socket: &mut Socket) -> (u16, String) {
    loop {
        let frame = tokio::time::timeout(WAIT, socket.next())
            .await
            .expect("the close within the wait");
        match frame {
            Some(Ok(Message::Close(Some(frame)))) => {
                return (u16::from(frame.code), frame.reason.to_string());
            }
            Some(Ok(Message::Close(None))) | None => return (1005, String::new()),
            Some(Ok(_)) => continue,
            Some(Err(e)) => panic!("socket error before close: {e}"),
        }
    }
}
