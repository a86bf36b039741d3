//! A web CRM for the tests: a real HTTP server on 127.0.0.1:0 that records every request it
//! receives (method, path, query, headers, body) and answers as the test scripts it — a status
//! and body, after a delay — with a token endpoint at `/token` whose tokens expire.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use tokio::sync::Notify;

/// One request as received.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub path: String,
    pub query: String,
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
    /// When it arrived (the benchmark's delays).
    #[allow(dead_code)]
    pub at: std::time::Instant,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(&name.to_ascii_lowercase()).map(String::as_str)
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }

    /// The query string's pairs, decoded.
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        url::form_urlencoded::parse(self.query.as_bytes())
            .into_owned()
            .collect()
    }
}

/// How the CRM answers.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
    pub delay: Duration,
}

impl Reply {
    pub fn status(status: u16) -> Reply {
        Reply {
            status,
            body: Vec::new(),
            delay: Duration::ZERO,
        }
    }

    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Reply {
        self.body = body.into();
        self
    }

    pub fn after(mut self, delay: Duration) -> Reply {
        self.delay = delay;
        self
    }
}

#[derive(Default)]
struct State {
    /// Requests to the CRM (not to `/token`), in arrival order.
    received: Vec<Received>,
    token_requests: Vec<serde_json::Value>,
    /// Answers for the next requests, then `default`.
    script: VecDeque<Reply>,
    default: Option<Reply>,
    /// Tokens issued and still accepted.
    tokens: Vec<String>,
    /// Requests must carry a token `/token` issued.
    require_token: bool,
    /// `expires_in` of the tokens issued.
    token_lifetime_secs: u64,
    issued: u64,
}

#[derive(Clone)]
pub struct CrmServer {
    pub address: String,
    state: Arc<Mutex<State>>,
    changed: Arc<Notify>,
}

pub const USERNAME: &str = "ctibridge";
pub const PASSWORD: &str = "crm-s3cret-pw";

impl CrmServer {
    pub async fn start() -> CrmServer {
        let state = Arc::new(Mutex::new(State {
            token_lifetime_secs: 3600,
            ..State::default()
        }));
        let changed = Arc::new(Notify::new());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let data = web::Data::new((state.clone(), changed.clone()));
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .app_data(web::PayloadConfig::new(16 * 1024 * 1024))
                .route("/token", web::post().to(token))
                .default_service(web::to(crm))
        })
        .workers(2)
        .listen(listener)
        .unwrap()
        .run();
        tokio::spawn(server);
        CrmServer {
            address: format!("http://127.0.0.1:{port}"),
            state,
            changed,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// Answers the next requests with `replies`, in order.
    pub fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        self.state.lock().unwrap().script.extend(replies);
    }

    /// Answers every request (after the scripted ones) with `reply`; `None`: 200.
    pub fn answer_always(&self, reply: Option<Reply>) {
        self.state.lock().unwrap().default = reply;
    }

    pub fn require_token(&self, lifetime_secs: u64) {
        let mut state = self.state.lock().unwrap();
        state.require_token = true;
        state.token_lifetime_secs = lifetime_secs;
    }

    /// Forgets the tokens issued so far (as if they had expired on the CRM's side).
    pub fn revoke_tokens(&self) {
        self.state.lock().unwrap().tokens.clear();
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.lock().unwrap().received.clone()
    }

    pub fn token_requests(&self) -> Vec<serde_json::Value> {
        self.state.lock().unwrap().token_requests.clone()
    }

    /// Waits (bounded) until at least `n` CRM requests arrived; returns them.
    pub async fn wait_for(&self, n: usize) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let notified = self.changed.notified();
            let received = self.received();
            if received.len() >= n {
                return received;
            }
            assert!(
                tokio::time::timeout_at(deadline, notified).await.is_ok(),
                "the CRM received {} requests, expected {n}",
                received.len()
            );
        }
    }
}

async fn token(body: web::Bytes, data: web::Data<(Arc<Mutex<State>>, Arc<Notify>)>) -> HttpResponse {
    let (state, changed) = data.get_ref();
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let reply = {
        let mut state = state.lock().unwrap();
        state.token_requests.push(json.clone());
        if json["username"] == USERNAME && json["password"] == PASSWORD {
            state.issued += 1;
            let token = format!("tok-{}", state.issued);
            state.tokens.push(token.clone());
            HttpResponse::Ok()
                .json(serde_json::json!({"token": token, "expires_in": state.token_lifetime_secs}))
        } else {
            HttpResponse::Unauthorized().json(serde_json::json!({"error": "bad credentials"}))
        }
    };
    changed.notify_waiters();
    reply
}

async fn crm(
    req: HttpRequest,
    body: web::Bytes,
    data: web::Data<(Arc<Mutex<State>>, Arc<Notify>)>,
) -> HttpResponse {
    let (state, changed) = data.get_ref();
    let received = Received {
        method: req.method().to_string(),
        path: req.uri().path().to_owned(),
        query: req.uri().query().unwrap_or_default().to_owned(),
        headers: req
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_ascii_lowercase(),
                    v.to_str().unwrap_or_default().to_owned(),
                )
            })
            .collect(),
        body: body.to_vec(),
        at: std::time::Instant::now(),
    };
    let reply = {
        let mut state = state.lock().unwrap();
        let authorized = !state.require_token
            || received
                .header("authorization")
                .and_then(|h| h.strip_prefix("Bearer "))
                .is_some_and(|t| state.tokens.iter().any(|known| known == t));
        state.received.push(received);
        if !authorized {
            Reply::status(401).with_body("token expired")
        } else {
            state
                .script
                .pop_front()
                .or_else(|| state.default.clone())
                .unwrap_or_else(|| Reply::status(200).with_body("ok"))
        }
    };
    changed.notify_waiters();
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    HttpResponse::build(actix_web::http::StatusCode::from_u16(reply.status).unwrap()).body(reply.body)
}
