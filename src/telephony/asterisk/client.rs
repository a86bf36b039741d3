//! One AMI connection kept up: connect, read the banner, log in, send actions and match their
//! answers by `ActionID` (event lists collected to their `…Complete`), hand every other event
//! on; when the link drops, fail what was waiting, say so, and reconnect with backoff.
//!
//! The secret is sent in the `Login` action only: it never appears in a log line or an error.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::codec::{
    Action, CodecError, Collected, Decoder, EncodeError, EventListCollector, Frame, Message, MessageKind,
};

/// Where and how to log in.
#[derive(Debug, Clone)]
pub struct AmiSettings {
    pub host: String,
    pub port: u16,
    pub username: String,
    pub secret: SecretString,
    /// Connecting, the banner and the login each get this long.
    pub connect_timeout: Duration,
    /// An action unanswered this long fails (the link is probably dead).
    pub action_timeout: Duration,
    /// Reconnection backoff: first wait, doubled up to the maximum.
    pub backoff_first: Duration,
    pub backoff_max: Duration,
    /// The manager interface over TLS (Asterisk's `tlsenable`), or plain TCP.
    pub tls: Option<AmiTls>,
}

/// TLS for the manager link: whom to trust, and the name the certificate must carry.
#[derive(Clone)]
pub struct AmiTls {
    pub connector: tokio_rustls::TlsConnector,
    pub server_name: rustls_pki_types::ServerName<'static>,
}

impl std::fmt::Debug for AmiTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AmiTls")
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

/// The connection, plain or TLS.
trait Stream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Stream for T {}

impl AmiSettings {
    pub fn address(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmiError {
    #[error("cannot reach Asterisk's manager interface at {address}: {reason}")]
    Unreachable { address: String, reason: String },
    #[error("{address} is not an Asterisk manager interface (it greeted with {greeting:?})")]
    NotAmi { address: String, greeting: String },
    #[error("Asterisk at {address} refused the manager login of user `{user}`: {message}")]
    LoginRefused {
        address: String,
        user: String,
        message: String,
    },
    #[error("the link to Asterisk is down ({0})")]
    Down(String),
    #[error("Asterisk did not answer {action} within {seconds} s")]
    Timeout { action: String, seconds: u64 },
    #[error("Asterisk refused {action}: {message}")]
    Refused { action: String, message: String },
    #[error("cannot send {action}: {reason}")]
    Invalid { action: String, reason: String },
}

/// An answered action: its response and, for list actions, the list's items.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub response: Message,
    pub items: Vec<Message>,
}

/// What the connection reports, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkEvent {
    /// Logged in (first time or again): resynchronise.
    Up,
    /// The link dropped or could not be made; reconnection follows.
    Down(AmiError),
    /// An event that answers no pending action.
    Event(Message),
    /// The stream carried something the codec refused (logged; the message is dropped).
    Garbled(String),
}

struct Pending {
    action: Action,
    answer: oneshot::Sender<Result<Answer, AmiError>>,
}

/// The handle: send actions; the connection task runs until every handle is dropped.
#[derive(Clone)]
pub struct AmiClient {
    requests: mpsc::Sender<Pending>,
    next_id: Arc<AtomicU64>,
    /// How long an action may wait in all (queued behind others included).
    action_timeout: Duration,
}

impl AmiClient {
    /// Starts the connection task; link events arrive on the returned receiver.
    pub fn start(settings: AmiSettings) -> (AmiClient, mpsc::Receiver<LinkEvent>) {
        let (requests, incoming) = mpsc::channel(1024);
        // Bounded: when the core falls behind, reading stops rather than events piling up in
        // memory (Asterisk waits on the socket up to manager.conf's writetimeout, then may drop
        // the session: the reconnection's resync recovers).
        let (events, link) = mpsc::channel(EVENTS_QUEUED);
        let action_timeout = settings.action_timeout;
        tokio::spawn(run(settings, incoming, events));
        (
            AmiClient {
                requests,
                next_id: Arc::new(AtomicU64::new(1)),
                action_timeout,
            },
            link,
        )
    }

    /// Sends `action` (an `ActionID` is added) and waits for its answer. `Response: Error`
    /// is [`AmiError::Refused`] with Asterisk's message.
    pub async fn send(&self, action: Action) -> Result<Answer, AmiError> {
        let name = action.name().to_owned();
        // An ActionID the caller chose is kept (it may be waiting for the action's events).
        let action = match action.action_id() {
            Some(_) => action,
            None => {
                let id = format!(
                    "{}-{}",
                    name.to_ascii_lowercase(),
                    self.next_id.fetch_add(1, Ordering::Relaxed)
                );
                action.with_action_id(id)
            }
        };
        action.validate().map_err(|e| invalid(&name, &e))?;
        let (answer, answered) = oneshot::channel();
        // Bounded as a whole: a session loop held up (the driver falling behind on events)
        // must not hold a method's answer up for ever.
        let waited = async {
            self.requests
                .send(Pending { action, answer })
                .await
                .map_err(|_| AmiError::Down("the AMI client stopped".into()))?;
            answered
                .await
                .map_err(|_| AmiError::Down("the AMI client stopped".into()))?
        };
        let answer = tokio::time::timeout(self.action_timeout + Duration::from_secs(1), waited)
            .await
            .map_err(|_| AmiError::Timeout {
                action: name.clone(),
                seconds: self.action_timeout.as_secs(),
            })??;
        if answer
            .response
            .response()
            .is_some_and(|r| r.eq_ignore_ascii_case("error"))
        {
            return Err(AmiError::Refused {
                action: name,
                message: answer
                    .response
                    .get("Message")
                    .unwrap_or("no reason given")
                    .to_owned(),
            });
        }
        Ok(answer)
    }
}

fn invalid(action: &str, e: &EncodeError) -> AmiError {
    AmiError::Invalid {
        action: action.to_owned(),
        reason: e.to_string(),
    }
}

/// Why a session ended.
enum End {
    /// Every handle is gone.
    Stopped,
    Lost(AmiError),
}

/// Events read but not yet applied by the driver, at most.
const EVENTS_QUEUED: usize = 16_384;

async fn run(settings: AmiSettings, mut requests: mpsc::Receiver<Pending>, events: mpsc::Sender<LinkEvent>) {
    let mut backoff = settings.backoff_first;
    loop {
        let started = Instant::now();
        match session(&settings, &mut requests, &events).await {
            End::Stopped => return,
            End::Lost(e) => {
                // A refused login will be refused again: say it loudly, retry slowly.
                match &e {
                    AmiError::LoginRefused { .. } => {
                        tracing::error!(error = %e, "Asterisk manager login refused")
                    }
                    _ => tracing::warn!(error = %e, "Asterisk manager link down; reconnecting"),
                }
                if events.send(LinkEvent::Down(e)).await.is_err() {
                    return;
                }
            }
        }
        // A session that lasted resets the backoff.
        if started.elapsed() > Duration::from_secs(30) {
            backoff = settings.backoff_first;
        }
        let resume = Instant::now() + backoff;
        backoff = (backoff * 2).min(settings.backoff_max);
        // While down, actions fail at once: agents see "telephony unavailable", not a hang.
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(resume) => break,
                request = requests.recv() => match request {
                    None => return,
                    Some(p) => {
                        let _ = p.answer.send(Err(AmiError::Down("reconnecting".into())));
                    }
                },
            }
        }
    }
}

async fn session(
    settings: &AmiSettings,
    requests: &mut mpsc::Receiver<Pending>,
    events: &mpsc::Sender<LinkEvent>,
) -> End {
    let address = settings.address();
    let unreachable = |reason: String| {
        End::Lost(AmiError::Unreachable {
            address: address.clone(),
            reason,
        })
    };
    let stream = match tokio::time::timeout(settings.connect_timeout, TcpStream::connect(&address)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => return unreachable(e.to_string()),
        Err(_) => {
            return unreachable(format!(
                "no answer within {} s",
                settings.connect_timeout.as_secs()
            ));
        }
    };
    let _ = stream.set_nodelay(true);
    let mut stream: Box<dyn Stream> = match &settings.tls {
        None => Box::new(stream),
        Some(tls) => {
            let handshake = tls.connector.connect(tls.server_name.clone(), stream);
            match tokio::time::timeout(settings.connect_timeout, handshake).await {
                Ok(Ok(stream)) => Box::new(stream),
                Ok(Err(e)) => return unreachable(format!("TLS handshake failed: {e}")),
                Err(_) => {
                    return unreachable(format!(
                        "no TLS handshake within {} s",
                        settings.connect_timeout.as_secs()
                    ));
                }
            }
        }
    };
    let mut decoder = Decoder::new();
    let mut buffer = vec![0u8; 64 * 1024];
    let deadline = Instant::now() + settings.connect_timeout;

    // The banner, then the login's answer (events before it are dropped: nothing to resync yet).
    match next_frame(&mut stream, &mut decoder, &mut buffer, deadline).await {
        Ok(Frame::Banner(_)) => {}
        Ok(Frame::Message(m)) => {
            return End::Lost(AmiError::NotAmi {
                address,
                greeting: format!("{:?}", m.headers().first()),
            });
        }
        Err(e) => return End::Lost(e.at(&address)),
    }
    let login = Action::new("Login")
        .with_action_id("login")
        .header("Username", settings.username.clone())
        .header("Secret", settings.secret.expose_secret().to_owned());
    let bytes = match login.encode() {
        Ok(bytes) => bytes,
        Err(_) => {
            return End::Lost(AmiError::LoginRefused {
                address,
                user: settings.username.escape_debug().to_string(),
                message: "the user name or secret holds a line break".into(),
            });
        }
    };
    if let Err(e) = stream.write_all(&bytes).await {
        return unreachable(e.to_string());
    }
    loop {
        match next_frame(&mut stream, &mut decoder, &mut buffer, deadline).await {
            Ok(Frame::Message(m)) if m.kind() == MessageKind::Response && m.action_id() == Some("login") => {
                if m.response().is_some_and(|r| r.eq_ignore_ascii_case("success")) {
                    break;
                }
                return End::Lost(AmiError::LoginRefused {
                    address,
                    user: settings.username.escape_debug().to_string(),
                    message: m.get("Message").unwrap_or("no reason given").to_owned(),
                });
            }
            Ok(_) => continue,
            Err(e) => return End::Lost(e.at(&address)),
        }
    }
    tracing::info!(address = %address, "Asterisk manager link up");
    if events.send(LinkEvent::Up).await.is_err() {
        return End::Stopped;
    }

    let mut pending: HashMap<String, (Pending, Instant)> = HashMap::new();
    let mut lists = EventListCollector::new();
    // What arrived with the login's answer (FullyBooted, …).
    drain(&mut decoder, &mut pending, &mut lists, events).await;
    let mut ticks = tokio::time::interval(Duration::from_millis(250));
    // Writing has a task of its own: while Asterisk is busy sending us a burst of events it may
    // stop reading, and a write in this loop would then stop our reading too.
    let (mut reader, mut writer) = tokio::io::split(stream);
    let (writes, mut to_write) = mpsc::channel::<Vec<u8>>(1024);
    let mut writing = tokio::spawn(async move {
        while let Some(bytes) = to_write.recv().await {
            writer.write_all(&bytes).await?;
        }
        Ok::<(), std::io::Error>(())
    });
    let end = loop {
        tokio::select! {
            request = requests.recv() => {
                let Some(p) = request else { break End::Stopped };
                let id = p.action.action_id().unwrap_or_default().to_owned();
                match p.action.encode() {
                    Ok(bytes) => {
                        if writes.send(bytes).await.is_err() {
                            let _ = p.answer.send(Err(AmiError::Down("the connection is closing".into())));
                            break End::Lost(AmiError::Down("write failed".into()));
                        }
                        pending.insert(id, (p, Instant::now() + settings.action_timeout));
                    }
                    Err(e) => {
                        let name = p.action.name().to_owned();
                        let _ = p.answer.send(Err(invalid(&name, &e)));
                    }
                }
            }
            written = &mut writing => {
                let reason = match written {
                    Ok(Err(e)) => format!("write failed: {e}"),
                    _ => "the writer stopped".to_owned(),
                };
                break End::Lost(AmiError::Down(reason));
            }
            read = reader.read(&mut buffer) => {
                let n = match read {
                    Ok(0) => break End::Lost(AmiError::Down("Asterisk closed the connection".into())),
                    Ok(n) => n,
                    Err(e) => break End::Lost(AmiError::Down(e.to_string())),
                };
                decoder.feed(&buffer[..n]);
                drain(&mut decoder, &mut pending, &mut lists, events).await;
            }
            _ = ticks.tick() => {
                let now = Instant::now();
                let expired: Vec<String> = pending
                    .iter()
                    .filter(|(_, (_, deadline))| *deadline <= now)
                    .map(|(id, _)| id.clone())
                    .collect();
                for id in expired {
                    lists.abandon(&id);
                    if let Some((p, _)) = pending.remove(&id) {
                        let _ = p.answer.send(Err(AmiError::Timeout {
                            action: p.action.name().to_owned(),
                            seconds: settings.action_timeout.as_secs(),
                        }));
                    }
                }
            }
        }
    };
    writing.abort();
    for (_, (p, _)) in pending.drain() {
        let _ = p.answer.send(Err(AmiError::Down("the link dropped".into())));
    }
    end
}

/// Routes every complete frame the decoder holds.
async fn drain(
    decoder: &mut Decoder,
    pending: &mut HashMap<String, (Pending, Instant)>,
    lists: &mut EventListCollector,
    events: &mpsc::Sender<LinkEvent>,
) {
    loop {
        match decoder.next_frame() {
            Ok(None) => return,
            Ok(Some(Frame::Message(m))) => route(m, pending, lists, events).await,
            // A banner mid-stream cannot happen: the decoder only takes one first.
            Ok(Some(Frame::Banner(_))) => {}
            Err(e) => {
                tracing::warn!(error = %e, "unreadable AMI input dropped");
                let _ = events.send(LinkEvent::Garbled(e.to_string())).await;
            }
        }
    }
}

/// Answers the pending action a message belongs to; passes everything else on.
async fn route(
    message: Message,
    pending: &mut HashMap<String, (Pending, Instant)>,
    lists: &mut EventListCollector,
    events: &mpsc::Sender<LinkEvent>,
) {
    let waiting = message.action_id().is_some_and(|id| pending.contains_key(id));
    if !waiting {
        let _ = events.send(LinkEvent::Event(message)).await;
        return;
    }
    match lists.offer(message) {
        Collected::Consumed => {}
        Collected::Finished(list) => {
            if let Some((p, _)) = pending.remove(&list.action_id) {
                let _ = p.answer.send(Ok(Answer {
                    response: list.response,
                    items: list.items,
                }));
            }
        }
        Collected::Passed(message) if message.kind() == MessageKind::Response => {
            let id = message.action_id().unwrap_or_default().to_owned();
            if let Some((p, _)) = pending.remove(&id) {
                let _ = p.answer.send(Ok(Answer {
                    response: message,
                    items: Vec::new(),
                }));
            }
        }
        // An event carrying a pending action's id outside any list (OriginateResponse after
        // its Response): an event like the others.
        Collected::Passed(message) => {
            let _ = events.send(LinkEvent::Event(message)).await;
        }
    }
}

/// A failure before the session is up.
enum Early {
    Codec(CodecError),
    Io(String),
    Timeout,
    Closed,
}

impl Early {
    fn at(self, address: &str) -> AmiError {
        let reason = match self {
            Early::Codec(e) => e.to_string(),
            Early::Io(e) => e,
            Early::Timeout => "no greeting or login answer in time".into(),
            Early::Closed => "closed the connection".into(),
        };
        AmiError::Unreachable {
            address: address.to_owned(),
            reason,
        }
    }
}

async fn next_frame(
    stream: &mut (impl tokio::io::AsyncRead + Unpin),
    decoder: &mut Decoder,
    buffer: &mut [u8],
    deadline: Instant,
) -> Result<Frame, Early> {
    loop {
        if let Some(frame) = decoder.next_frame().map_err(Early::Codec)? {
            return Ok(frame);
        }
        let n = tokio::time::timeout_at(deadline, stream.read(buffer))
            .await
            .map_err(|_| Early::Timeout)?
            .map_err(|e| Early::Io(e.to_string()))?;
        if n == 0 {
            return Err(Early::Closed);
        }
        decoder.feed(&buffer[..n]);
    }
}
