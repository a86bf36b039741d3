//! The agent websocket, `GET /neoapi/ws`.
//!
//! Browsers cannot set headers on a websocket and tokens must not travel in URLs (they end up
//! in logs), so the client's first text frame authenticates: `{"type":"auth","token":"…"}`
//! within 5 s, else the socket closes with 4001. The server answers a snapshot
//! (`{"type":"snapshot", …Position}`) and then pushes each event of that agent as the
//! `EventEnvelope` JSON, in order. Every tab of an agent gets every event. Supervisors also get
//! `{"type":"userState","user","state"}` frames for the other agents (see the hub).
//!
//! The server pings every `ws_ping_interval_secs`; a client silent for `ws_pong_timeout_secs`
//! is closed (4000). A client that falls `ws_queue_events` events behind is closed with 4008
//! "too slow": it reconnects and starts again from a snapshot. Logout (on this instance), a new
//! login of the same user on the same device and the session's expiry close the sockets of the
//! session with 4001; the close reason says which ("session ended", "session replaced by a new
//! login", "session expired"), so the page can tell the agent what happened.

use std::time::Instant;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, web};
use actix_ws::{CloseCode, CloseReason, Message, MessageStream, Session as WsSession};
use serde::Deserialize;
use serde_json::json;
use tokio::time::{MissedTickBehavior, interval, timeout};

use super::ApiError;
use super::auth::authenticate;
use super::hub::{CloseCause, Start};
use super::state::ApiState;

/// Close codes of the protocol.
pub const CLOSE_UNAUTHORIZED: u16 = 4001;
/// 1013 "try again later": the server cannot check the session now (its store is down).
const CLOSE_TRY_AGAIN: u16 = 1013;
pub const CLOSE_NO_HEARTBEAT: u16 = 4000;
pub const CLOSE_TOO_SLOW: u16 = 4008;

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
enum ClientFrame {
    /// `lastSeq`: the last sequence number of the agent's frames this client saw before it
    /// lost its socket; the frames after it are given again when the server still holds them.
    Auth {
        token: String,
        #[serde(default, rename = "lastSeq")]
        last_seq: Option<u64>,
    },
    Ping,
    /// A supervisor's dashboard asks for the figures (`on: false` stops them); see
    /// [`super::dashboard`].
    Dashboard {
        #[serde(default)]
        on: Option<bool>,
    },
}

#[get("/neoapi/ws")]
pub async fn connect(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<ApiState>,
) -> Result<HttpResponse, ApiError> {
    let (response, session, stream) = actix_ws::handle(&req, body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "websocket_expected",
            format!("this endpoint speaks websocket only: {e}"),
        )
    })?;
    let stream = stream.max_frame_size(state.ws.max_frame_bytes);
    actix_web::rt::spawn(serve(state.into_inner(), session, stream));
    Ok(response)
}

fn reason(code: u16, description: &str) -> Option<CloseReason> {
    Some(CloseReason {
        code: CloseCode::Other(code),
        description: Some(description.to_owned()),
    })
}

async fn close(session: WsSession, code: u16, description: &str) {
    // A stalled client may never take the close frame: do not wait on it for long.
    let _ = timeout(
        std::time::Duration::from_secs(1),
        session.close(reason(code, description)),
    )
    .await;
}

/// Why the socket closes before authentication.
enum Refused {
    /// The client went away (or closed first).
    Gone,
    /// Close with 4001 and this reason.
    Unauthorized(&'static str),
    /// The client broke the protocol (a frame over the size limit: 1009).
    Protocol(actix_ws::ProtocolError),
}

/// Waits for the auth frame: its token and the last sequence number the client saw.
async fn read_auth(
    session: &mut WsSession,
    stream: &mut MessageStream,
) -> Result<(String, Option<u64>), Refused> {
    while let Some(message) = stream.recv().await {
        match message {
            Ok(Message::Text(text)) => {
                return match serde_json::from_str::<ClientFrame>(&text) {
                    Ok(ClientFrame::Auth { token, last_seq }) => Ok((token, last_seq)),
                    _ => Err(Refused::Unauthorized(
                        r#"the first frame must be {"type":"auth","token":"…"}"#,
                    )),
                };
            }
            Ok(Message::Ping(bytes)) => {
                let _ = session.pong(&bytes).await;
            }
            Ok(Message::Close(_)) => return Err(Refused::Gone),
            Err(e) => return Err(Refused::Protocol(e)),
            Ok(Message::Binary(_)) => {
                return Err(Refused::Unauthorized(
                    r#"the first frame must be a text frame {"type":"auth","token":"…"}"#,
                ));
            }
            Ok(_) => {}
        }
    }
    Err(Refused::Gone)
}

/// Closes the socket after a protocol error: 1009 for a frame over the size limit, 1002
/// otherwise.
async fn close_protocol_error(session: WsSession, e: actix_ws::ProtocolError) {
    let code = match e {
        actix_ws::ProtocolError::Overflow => CloseCode::Size,
        _ => CloseCode::Protocol,
    };
    let _ = timeout(
        std::time::Duration::from_secs(1),
        session.close(Some(CloseReason {
            code,
            description: Some(e.to_string()),
        })),
    )
    .await;
}

async fn serve(state: std::sync::Arc<ApiState>, mut session: WsSession, mut stream: MessageStream) {
    let (token, last_seq) = match timeout(state.ws.auth_timeout, read_auth(&mut session, &mut stream)).await {
        Ok(Ok(auth)) => auth,
        Ok(Err(Refused::Unauthorized(why))) => {
            tracing::info!(reason = why, "websocket refused");
            return close(session, CLOSE_UNAUTHORIZED, why).await;
        }
        Ok(Err(Refused::Protocol(e))) => {
            tracing::info!(error = %e, "websocket refused: protocol error before authentication");
            return close_protocol_error(session, e).await;
        }
        Ok(Err(Refused::Gone)) => return,
        Err(_) => {
            tracing::info!("websocket refused: no auth frame in time");
            return close(session, CLOSE_UNAUTHORIZED, "no auth frame within 5 s").await;
        }
    };
    let agent_session = match authenticate(&state, &token).await {
        Ok(s) => s,
        Err(e) => {
            tracing::info!(code = e.code, "websocket refused: {}", e.message);
            // A session store that cannot answer says nothing about the token: try again.
            if e.code == "store_unavailable" {
                return close(
                    session,
                    CLOSE_TRY_AGAIN,
                    "sessions cannot be checked now; reconnect",
                )
                .await;
            }
            return close(session, CLOSE_UNAUTHORIZED, "invalid token: log in again").await;
        }
    };
    let agent = agent_session.agent.clone();
    let expires_at_ms = agent_session.expires_at_ms;
    // Subscribe before reading the snapshot: nothing that happens after it is missed. An
    // event already reflected in the snapshot may follow it; applying it again is harmless.
    let (mut subscription, start) = state.hub.subscribe_from(&agent_session, last_seq);
    match start {
        // A reconnection the hub can bridge: what the socket missed, in order, then the rest.
        Start::Replay(frames) => {
            let resumed = json!({"type": "resumed", "lastSeq": last_seq}).to_string();
            if session.text(resumed).await.is_err() {
                return;
            }
            for frame in frames {
                if session.text(frame).await.is_err() {
                    return;
                }
            }
        }
        Start::Snapshot { seq } => {
            let snapshot = match state.telephony.position(&agent).await {
                Ok(position) => {
                    let mut value = serde_json::to_value(&position).unwrap_or_else(|_| json!({}));
                    if let Some(object) = value.as_object_mut() {
                        object.insert("type".into(), json!("snapshot"));
                        // Frames after this number follow; a reconnection names the last seen.
                        if let Some(seq) = seq {
                            object.insert("seq".into(), json!(seq));
                        }
                    }
                    value.to_string()
                }
                Err(e) => {
                    tracing::info!(agent = %agent, error = %e, "websocket refused: no telephony session");
                    return close(session, CLOSE_UNAUTHORIZED, "not logged in: log in again").await;
                }
            };
            if session.text(snapshot).await.is_err() {
                return;
            }
        }
    }
    tracing::debug!(agent = %agent, "websocket connected");

    let mut ticks = interval(state.ws.ping_interval);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    ticks.tick().await;
    let mut last_heard = Instant::now();
    // The figures' frames, once this (supervisor's) socket asked for them.
    let mut dashboard: Option<tokio::sync::watch::Receiver<bytestring::ByteString>> = None;
    loop {
        tokio::select! {
            changed = async { dashboard.as_mut().expect("guarded").changed().await }, if dashboard.is_some() => {
                if changed.is_err() {
                    dashboard = None;
                    continue;
                }
                let frame = dashboard.as_mut().expect("guarded").borrow_and_update().clone();
                match timeout(state.ws.send_timeout, session.text(frame)).await {
                    Ok(Ok(())) => {}
                    Ok(Err(_)) => return,
                    Err(_) => {
                        tracing::info!(agent = %agent, "websocket closed: client stalled");
                        return close(session, CLOSE_TOO_SLOW, "too slow").await;
                    }
                }
            }
            queued = subscription.rx.recv() => {
                let cause = subscription.cause();
                match (queued, cause) {
                    (_, CloseCause::TooSlow) => {
                        tracing::info!(agent = %agent, "websocket closed: client too slow");
                        return close(session, CLOSE_TOO_SLOW, "too slow").await;
                    }
                    (_, CloseCause::SessionEnded) => {
                        return close(session, CLOSE_UNAUTHORIZED, "session ended").await;
                    }
                    (_, CloseCause::SessionReplaced) => {
                        return close(session, CLOSE_UNAUTHORIZED, "session replaced by a new login").await;
                    }
                    (Some(text), CloseCause::None) => {
                        match timeout(state.ws.send_timeout, session.text(text)).await {
                            Ok(Ok(())) => {}
                            Ok(Err(_)) => return,
                            Err(_) => {
                                tracing::info!(agent = %agent, "websocket closed: client stalled");
                                return close(session, CLOSE_TOO_SLOW, "too slow").await;
                            }
                        }
                    }
                    (None, CloseCause::None) => {
                        return close(session, 1001, "server stopping").await;
                    }
                }
            }
            message = stream.recv() => {
                let Some(message) = message else { return };
                last_heard = Instant::now();
                match message {
                    Ok(Message::Ping(bytes)) => {
                        if session.pong(&bytes).await.is_err() {
                            return;
                        }
                    }
                    Ok(Message::Pong(_)) | Ok(Message::Continuation(_)) | Ok(Message::Nop) => {}
                    Ok(Message::Close(_)) => {
                        let _ = timeout(std::time::Duration::from_secs(1), session.close(None)).await;
                        return;
                    }
                    Ok(Message::Text(text)) => {
                        let answer = match serde_json::from_str::<ClientFrame>(&text) {
                            Ok(ClientFrame::Ping) => json!({"type": "pong"}),
                            Ok(ClientFrame::Dashboard { on }) => {
                                match dashboard_request(&state, &agent_session, on.unwrap_or(true)) {
                                    Ok(Some((receiver, first))) => {
                                        dashboard = Some(receiver);
                                        if session.text(first).await.is_err() {
                                            return;
                                        }
                                        continue;
                                    }
                                    Ok(None) => {
                                        dashboard = None;
                                        json!({"type": "dashboard", "on": false})
                                    }
                                    Err(frame) => frame,
                                }
                            }
                            Ok(ClientFrame::Auth { .. }) => error_frame("already_authenticated", "this socket is already authenticated"),
                            Err(_) => {
                                tracing::info!(agent = %agent, "websocket: unexpected text frame");
                                error_frame("unexpected_frame", r#"the server takes only {"type":"ping"} and {"type":"dashboard"} after authentication"#)
                            }
                        };
                        if session.text(answer.to_string()).await.is_err() {
                            return;
                        }
                    }
                    Ok(Message::Binary(_)) => {
                        tracing::info!(agent = %agent, "websocket: unexpected binary frame");
                        let answer = error_frame("unexpected_frame", "binary frames are not part of the protocol");
                        if session.text(answer.to_string()).await.is_err() {
                            return;
                        }
                    }
                    Err(e) => {
                        tracing::info!(agent = %agent, error = %e, "websocket protocol error");
                        return close_protocol_error(session, e).await;
                    }
                }
            }
            _ = ticks.tick() => {
                if crate::store::now_millis() >= expires_at_ms {
                    return close(session, CLOSE_UNAUTHORIZED, "session expired").await;
                }
                if last_heard.elapsed() >= state.ws.pong_timeout {
                    tracing::info!(agent = %agent, "websocket closed: no heartbeat");
                    return close(session, CLOSE_NO_HEARTBEAT, "no heartbeat").await;
                }
                if session.ping(b"").await.is_err() {
                    return;
                }
            }
        }
    }
}

type DashboardWatch = (
    tokio::sync::watch::Receiver<bytestring::ByteString>,
    bytestring::ByteString,
);

/// A socket asks for the dashboard's figures (`on`) or stops them: supervisors only.
fn dashboard_request(
    state: &ApiState,
    session: &super::session::Session,
    on: bool,
) -> Result<Option<DashboardWatch>, serde_json::Value> {
    if session.role != crate::telephony::Role::Supervisor {
        return Err(error_frame(
            "forbidden",
            "the dashboard's figures are for supervisors",
        ));
    }
    if !on {
        return Ok(None);
    }
    match &state.dashboards {
        Some(feed) => Ok(Some(feed.watch())),
        None => Err(error_frame(
            "telephony_unavailable",
            "this server runs no contact-center core",
        )),
    }
}

fn error_frame(code: &str, message: &str) -> serde_json::Value {
    json!({"type": "error", "error": {"code": code, "message": message}})
}
