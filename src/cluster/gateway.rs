//! The gateway: what every instance serves on its public address in cluster mode. It answers
//! `/healthz` and `/readyz` itself (this instance's role, and the core it forwards to) and
//! forwards everything else — NeoApi methods, the agent websocket, the adapter page, the
//! Salesforce helpers, the admin endpoints — to the instance that runs the core. While no
//! instance runs it (a takeover under way) requests answer 503 with `Retry-After: 1`. A
//! browser's websocket outlives the core's instance: the gateway opens one to the new core and
//! resumes (closing with 1012, service restart, only if no core answers within 20 s).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, web};
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio_tungstenite::tungstenite;

use super::Membership;

/// What the gateway's handlers share.
pub struct Gateway {
    pub membership: Membership,
    pub http: reqwest::Client,
}

impl Gateway {
    pub fn new(membership: Membership) -> Gateway {
        crate::install_tls_provider();
        Gateway {
            membership,
            http: reqwest::Client::builder()
                .connect_timeout(std::time::Duration::from_secs(2))
                .timeout(std::time::Duration::from_secs(30))
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap_or_else(|_| reqwest::Client::new()),
        }
    }
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.app_data(web::PayloadConfig::new(1024 * 1024))
        .service(healthz)
        .service(readyz)
        .service(websocket)
        .default_service(web::to(forward));
}

fn unavailable(message: &str) -> HttpResponse {
    HttpResponse::ServiceUnavailable()
        .insert_header(("Retry-After", "1"))
        .json(json!({"error": {"code": "telephony_unavailable", "message": message}}))
}

/// Headers that belong to one connection, not to the request.
fn hop_by_hop(name: &str) -> bool {
    matches!(
        name,
        "connection"
            | "keep-alive"
            | "proxy-authenticate"
            | "proxy-authorization"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
            | "host"
            | "content-length"
    )
}

fn client_ip(req: &HttpRequest) -> String {
    req.peer_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_else(|| "unknown".into())
}

#[get("/healthz")]
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// This instance's role and the core it forwards to; 503 while no instance runs the core.
#[get("/readyz")]
async fn readyz(gateway: web::Data<Gateway>) -> HttpResponse {
    let membership = &gateway.membership;
    let role = if membership.is_active() {
        "active"
    } else {
        "standby"
    };
    let body = json!({
        "instance": membership.id,
        "role": role,
        "core": membership.active_core(),
    });
    if membership.active_core().is_some() {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable()
            .insert_header(("Retry-After", "1"))
            .json(json!({"error": {"code": "no_active_instance", "message": "no instance runs the core right now"}, "instance": body}))
    }
}

/// Any other request: to the core, and its answer back as it is.
async fn forward(req: HttpRequest, body: web::Bytes, gateway: web::Data<Gateway>) -> HttpResponse {
    let Some(core) = gateway.membership.active_core() else {
        return unavailable(
            "no instance runs the contact-center core right now (a takeover is under way); retry",
        );
    };
    let path = req.uri().path_and_query().map_or("/", |p| p.as_str());
    let Ok(method) = reqwest::Method::from_bytes(req.method().as_str().as_bytes()) else {
        return HttpResponse::MethodNotAllowed().finish();
    };
    let mut request = gateway.http.request(method, format!("{core}{path}"));
    for (name, value) in req.headers() {
        if !hop_by_hop(name.as_str()) && !name.as_str().eq_ignore_ascii_case("x-forwarded-for") {
            request = request.header(name.as_str(), value.as_bytes());
        }
    }
    request = request.header("x-forwarded-for", client_ip(&req));
    let answer = match request.body(body).send().await {
        Ok(answer) => answer,
        Err(e) => {
            tracing::warn!(error = %e, "the core did not answer a forwarded request");
            // Perhaps it just died: look again now rather than at the next beat.
            gateway.membership.refresh_active().await;
            return unavailable("the instance running the contact-center core did not answer; retry");
        }
    };
    let status = StatusCode::from_u16(answer.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut response = HttpResponse::build(status);
    for (name, value) in answer.headers() {
        if !hop_by_hop(name.as_str()) {
            response.append_header((name.as_str(), value.as_bytes()));
        }
    }
    match answer.bytes().await {
        Ok(bytes) => response.body(bytes),
        Err(e) => {
            tracing::warn!(error = %e, "the core's answer was cut");
            unavailable("the instance running the contact-center core stopped while answering; retry")
        }
    }
}

/// The agent websocket, bridged to the core's.
#[get("/neoapi/ws")]
async fn websocket(req: HttpRequest, body: web::Payload, gateway: web::Data<Gateway>) -> HttpResponse {
    let Some(core) = gateway.membership.active_core() else {
        return unavailable("no instance runs the contact-center core right now; reconnect shortly");
    };
    let url = format!("{}/neoapi/ws", core.replacen("http", "ws", 1));
    let upstream = match tungstenite::client::IntoClientRequest::into_client_request(url.as_str()) {
        Ok(mut request) => {
            if let Ok(value) = client_ip(&req).parse() {
                request.headers_mut().insert("x-forwarded-for", value);
            }
            match tokio::time::timeout(CONNECT_WAIT, tokio_tungstenite::connect_async(request)).await {
                Ok(connected) => connected,
                Err(_) => Err(tungstenite::Error::Io(std::io::ErrorKind::TimedOut.into())),
            }
        }
        Err(e) => Err(e),
    };
    let upstream = match upstream {
        Ok((upstream, _)) => upstream,
        Err(e) => {
            tracing::warn!(error = %e, "cannot open the core's websocket");
            gateway.membership.refresh_active().await;
            return unavailable(
                "the instance running the contact-center core did not answer; reconnect shortly",
            );
        }
    };
    let (response, session, stream) = match actix_ws::handle(&req, body) {
        Ok(parts) => parts,
        Err(e) => return HttpResponse::BadRequest().body(e.to_string()),
    };
    actix_web::rt::spawn(bridge(
        gateway.clone(),
        session,
        stream.max_frame_size(64 * 1024),
        upstream,
    ));
    response
}

type Upstream = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// What the bridge remembers to open the core's socket again for the browser: the auth frame's
/// token, and the last sequence number of the agent's frames it passed on.
#[derive(Default)]
struct Resume {
    token: Option<String>,
    last_seq: Option<u64>,
}

impl Resume {
    fn note_client_frame(&mut self, text: &str) {
        if self.token.is_none()
            && let Ok(auth) = serde_json::from_str::<serde_json::Value>(text)
            && auth["type"] == "auth"
        {
            self.token = auth["token"].as_str().map(str::to_owned);
            self.last_seq = auth["lastSeq"].as_u64();
        }
    }

    fn note_core_frame(&mut self, text: &str) {
        // Only the frame's top-level fields matter; events carry their agent and number.
        #[derive(serde::Deserialize)]
        struct Probe {
            #[serde(rename = "type")]
            kind: Option<String>,
            agent: Option<String>,
            seq: Option<u64>,
        }
        if let Ok(probe) = serde_json::from_str::<Probe>(text) {
            match (probe.kind.as_deref(), probe.agent, probe.seq) {
                (Some("snapshot"), _, seq) => self.last_seq = seq,
                (_, Some(_), Some(seq)) => self.last_seq = Some(seq),
                _ => {}
            }
        }
    }
}

/// How long opening the core's websocket may take.
const CONNECT_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// How long a browser's socket is held open while the core moves to another instance.
const FAILOVER_WAIT: std::time::Duration = std::time::Duration::from_secs(20);

/// Copies frames both ways until one side closes; the core's close code reaches the browser.
/// When the core's instance dies (its socket breaks without a close frame) the browser's
/// socket stays open: the bridge opens one to the new core, authenticates with the browser's
/// token and the last sequence number it passed on, and goes on (the new core answers with a
/// snapshot, or the frames missed).
async fn bridge(
    gateway: web::Data<Gateway>,
    mut client: actix_ws::Session,
    mut from_client: actix_ws::MessageStream,
    upstream: Upstream,
) {
    use actix_ws::Message as C;
    use tungstenite::Message as U;
    let mut resume = Resume::default();
    let (mut to_core, mut from_core) = upstream.split();
    loop {
        tokio::select! {
            message = from_client.next() => {
                let forwarded = match message {
                    Some(Ok(C::Text(text))) => {
                        resume.note_client_frame(&text);
                        U::text(text.to_string())
                    }
                    Some(Ok(C::Binary(bytes))) => U::binary(bytes),
                    Some(Ok(C::Ping(bytes))) => U::Ping(bytes),
                    Some(Ok(C::Pong(bytes))) => U::Pong(bytes),
                    Some(Ok(C::Close(reason))) => {
                        let frame = reason.map(|r| tungstenite::protocol::CloseFrame {
                            code: u16::from(r.code).into(),
                            reason: r.description.unwrap_or_default().into(),
                        });
                        let _ = to_core.send(U::Close(frame)).await;
                        return;
                    }
                    Some(Ok(_)) => continue,
                    Some(Err(_)) | None => {
                        let _ = to_core.send(U::Close(None)).await;
                        return;
                    }
                };
                // A write to a dead core: the read side sees it and fails over.
                let _ = to_core.send(forwarded).await;
            }
            message = from_core.next() => {
                let sent = match message {
                    Some(Ok(U::Text(text))) => {
                        resume.note_core_frame(&text);
                        client.text(text.to_string()).await
                    }
                    Some(Ok(U::Binary(bytes))) => client.binary(bytes).await,
                    Some(Ok(U::Ping(bytes))) => client.ping(&bytes).await,
                    Some(Ok(U::Pong(bytes))) => client.pong(&bytes).await,
                    Some(Ok(U::Close(frame))) => {
                        let reason = frame.map(|f| actix_ws::CloseReason {
                            code: u16::from(f.code).into(),
                            description: Some(f.reason.to_string()).filter(|d| !d.is_empty()),
                        });
                        let _ = client.close(reason).await;
                        return;
                    }
                    Some(Ok(U::Frame(_))) => Ok(()),
                    // The core went away (its instance died): open the new core's socket.
                    Some(Err(_)) | None => {
                        let Some(token) = resume.token.clone() else {
                            let _ = client.close(Some(moved())).await;
                            return;
                        };
                        match failover(&gateway, &token, resume.last_seq).await {
                            Some(upstream) => {
                                (to_core, from_core) = upstream.split();
                                continue;
                            }
                            None => {
                                let _ = client.close(Some(moved())).await;
                                return;
                            }
                        }
                    }
                };
                if sent.is_err() {
                    let _ = to_core.send(U::Close(None)).await;
                    return;
                }
            }
        }
    }
}

/// Opens the new core's socket (once an instance runs it) and authenticates it for the
/// browser; `None` when no core answers within [`FAILOVER_WAIT`].
async fn failover(gateway: &Gateway, token: &str, last_seq: Option<u64>) -> Option<Upstream> {
    use tungstenite::Message as U;
    let deadline = tokio::time::Instant::now() + FAILOVER_WAIT;
    let mut pause = std::time::Duration::from_millis(50);
    loop {
        if tokio::time::Instant::now() > deadline {
            return None;
        }
        gateway.membership.refresh_active().await;
        if let Some(core) = gateway.membership.active_core() {
            let url = format!("{}/neoapi/ws", core.replacen("http", "ws", 1));
            if let Ok(Ok((mut upstream, _))) =
                tokio::time::timeout(CONNECT_WAIT, tokio_tungstenite::connect_async(url.as_str())).await
            {
                let mut auth = json!({"type": "auth", "token": token});
                if let Some(seq) = last_seq {
                    auth["lastSeq"] = json!(seq);
                }
                if upstream.send(U::text(auth.to_string())).await.is_ok() {
                    return Some(upstream);
                }
            }
        }
        // Spread the sockets' attempts: a few hundred ms apart, growing to a second.
        let jitter = std::time::Duration::from_millis(u64::from(rand::random::<u8>()));
        tokio::time::sleep(pause + jitter).await;
        pause = (pause * 2).min(std::time::Duration::from_secs(1));
    }
}

/// 1012 "service restart": the core moved to another instance; reconnecting is the answer.
fn moved() -> actix_ws::CloseReason {
    actix_ws::CloseReason {
        code: actix_ws::CloseCode::Restart,
        description: Some("the contact-center core moved to another instance; reconnect".into()),
    }
}
