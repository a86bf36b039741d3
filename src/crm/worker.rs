//! The CRM worker: claims due rows of the CRM outbox and sends them, many at once (a CRM may
//! take its time to answer). A 2xx answer delivers the row; 5xx, 408, 429, time-outs and
//! connection failures retry it later with backoff; any other answer (4xx, a redirect) parks
//! it with the answer for an operator. Only the first bytes of an answer are read, so no
//! answer (size, encoding) can hold or break the worker. Sites with token authentication get
//! `Authorization: Bearer`, the token cached until shortly before it expires and fetched again
//! once after a 401. Tokens and passwords never reach a log line or a stored error.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use rand::Rng;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::model::{Method, Site, SiteAuth};
use super::outbox::{CrmOutbox, CrmRow};
use super::registry::CrmRegistry;
use crate::salesforce::worker::Clock;
use crate::store::StoreError;

/// How much of an answer's body is read (and kept with a parked row).
pub const ANSWER_BYTES: usize = 2048;

/// `[crm.delivery]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeliveryConfig {
    /// Requests in flight at once.
    pub concurrency: usize,
    /// Seconds a CRM gets to answer one request.
    pub timeout_secs: u64,
    /// First retry after this many milliseconds, doubling up to `backoff_max_secs`.
    pub backoff_base_ms: u64,
    pub backoff_max_secs: u64,
    /// Look for due rows at least this often (retries), in milliseconds.
    pub poll_interval_ms: u64,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        Self {
            concurrency: 64,
            timeout_secs: 10,
            backoff_base_ms: 1000,
            backoff_max_secs: 300,
            poll_interval_ms: 1000,
        }
    }
}

impl DeliveryConfig {
    pub fn validate(&self) -> Result<(), String> {
        if self.concurrency == 0
            || self.timeout_secs == 0
            || self.backoff_base_ms == 0
            || self.poll_interval_ms == 0
        {
            return Err(
                "crm.delivery.concurrency, timeout_secs, backoff_base_ms and poll_interval_ms must be at least 1".into(),
            );
        }
        Ok(())
    }
}

/// What happened to one row.
#[derive(Debug)]
enum Fate {
    Delivered(u16),
    Retry(Option<u16>, String),
    Park(Option<u16>, String),
}

/// What one round did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RoundReport {
    pub claimed: usize,
    pub delivered: usize,
    pub retried: usize,
    pub parked: usize,
}

struct CachedToken {
    value: SecretString,
    expires_at: tokio::time::Instant,
}

/// One site's token, fetched by one request at a time.
type TokenSlot = Arc<tokio::sync::Mutex<Option<CachedToken>>>;

/// Tokens per site; a site's entry is dropped when its definition changes.
#[derive(Default, Clone)]
pub struct TokenCache {
    tokens: Arc<Mutex<HashMap<String, TokenSlot>>>,
}

/// Renewed this long before it expires.
const RENEW_BEFORE: Duration = Duration::from_secs(30);

impl TokenCache {
    pub fn forget(&self, site: &str) {
        self.tokens.lock().unwrap_or_else(|e| e.into_inner()).remove(site);
    }

    fn slot(&self, site: &str) -> TokenSlot {
        self.tokens
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(site.to_owned())
            .or_default()
            .clone()
    }

    /// The site's token: the cached one unless it expires soon or `renew` (after a 401).
    async fn token(
        &self,
        http: &reqwest::Client,
        site: &str,
        auth: &SiteAuth,
        renew: bool,
    ) -> Result<SecretString, Fate> {
        let slot = self.slot(site);
        let mut cached = slot.lock().await;
        if !renew
            && let Some(token) = cached.as_ref()
            && token.expires_at > tokio::time::Instant::now() + RENEW_BEFORE
        {
            return Ok(token.value.clone());
        }
        let fetched = fetch_token(http, auth).await?;
        *cached = Some(CachedToken {
            value: fetched.0.clone(),
            expires_at: tokio::time::Instant::now() + fetched.1,
        });
        Ok(fetched.0)
    }
}

async fn fetch_token(http: &reqwest::Client, auth: &SiteAuth) -> Result<(SecretString, Duration), Fate> {
    let body = serde_json::json!({"username": auth.username, "password": auth.password.expose_secret()});
    let response = http.post(&auth.token_url).json(&body).send().await.map_err(|e| {
        Fate::Retry(
            None,
            format!("token endpoint unreachable: {}", transport_error(e)),
        )
    })?;
    let status = response.status();
    // The answer holds the token: never kept in an error.
    let bytes = read_capped(response, 64 * 1024).await;
    if !status.is_success() {
        let message = format!("token endpoint answered HTTP {}", status.as_u16());
        return Err(if transient_status(status.as_u16()) {
            Fate::Retry(Some(status.as_u16()), message)
        } else {
            Fate::Park(
                Some(status.as_u16()),
                format!("{message}: check the site's auth credentials"),
            )
        });
    }
    let json: serde_json::Value = serde_json::from_slice(&bytes).map_err(|_| {
        Fate::Retry(
            Some(status.as_u16()),
            "token endpoint answer is not JSON".to_owned(),
        )
    })?;
    let Some(token) = json.get(&auth.token_field).and_then(|t| t.as_str()) else {
        return Err(Fate::Park(
            Some(status.as_u16()),
            format!("token endpoint answer has no string field `{}`", auth.token_field),
        ));
    };
    let lifetime = json
        .get("expires_in")
        .and_then(|v| v.as_u64().or_else(|| v.as_str().and_then(|s| s.parse().ok())))
        .unwrap_or(auth.token_lifetime_secs);
    Ok((
        SecretString::from(token.to_owned()),
        Duration::from_secs(lifetime),
    ))
}

/// The first `cap` bytes of the body; the rest is never read.
async fn read_capped(response: reqwest::Response, cap: usize) -> Vec<u8> {
    let mut response = response;
    let mut out = Vec::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        let room = cap - out.len();
        out.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if out.len() >= cap {
            break;
        }
    }
    out
}

/// The start of an answer as printable text (whatever its encoding).
fn snippet(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let text: String = text.chars().take(500).collect();
    text.escape_debug().to_string()
}

fn transient_status(status: u16) -> bool {
    status >= 500 || status == 408 || status == 429
}

/// A transport error without the URL (its query may carry parameters).
fn transport_error(e: reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".to_owned()
    } else if e.is_connect() {
        "connection failed".to_owned()
    } else {
        e.without_url().to_string()
    }
}

pub struct CrmWorker {
    id: String,
    outbox: CrmOutbox,
    registry: CrmRegistry,
    http: reqwest::Client,
    tokens: TokenCache,
    config: DeliveryConfig,
    clock: Arc<dyn Clock>,
}

/// The HTTP client of the worker: no redirects followed (a redirect is an answer to look at),
/// a time-out per request.
pub fn http_client(config: &DeliveryConfig) -> reqwest::Client {
    crate::install_tls_provider();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(config.timeout_secs))
        .connect_timeout(Duration::from_secs(config.timeout_secs.min(5)))
        .user_agent(concat!("ctibridge/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_default()
}

impl CrmWorker {
    pub fn new(
        id: impl Into<String>,
        outbox: CrmOutbox,
        registry: CrmRegistry,
        config: DeliveryConfig,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let tokens = TokenCache::default();
        {
            let tokens = tokens.clone();
            registry.on_site_change(move |site| tokens.forget(site));
        }
        Self {
            id: id.into(),
            outbox,
            registry,
            http: http_client(&config),
            tokens,
            config,
            clock,
        }
    }

    /// Runs rounds until `shutdown` resolves.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        let beat = {
            let (outbox, id, clock) = (self.outbox.clone(), self.id.clone(), self.clock.clone());
            tokio::spawn(async move {
                let mut ticks = tokio::time::interval(Duration::from_secs(1));
                loop {
                    ticks.tick().await;
                    if let Err(e) = outbox.beat(&id, clock.now_ms()).await {
                        tracing::debug!(error = %e, "CRM worker heartbeat failed");
                    }
                }
            })
        };
        let _stop_beat = crate::store::delivery::AbortOnDrop(beat);
        let batch = self.batch_size();
        loop {
            let report = match self.run_once().await {
                Ok(report) => report,
                Err(e) => {
                    tracing::error!(error = %e, "CRM outbox round failed; retrying");
                    RoundReport::default()
                }
            };
            if report.claimed >= batch {
                continue;
            }
            tokio::select! {
                _ = &mut shutdown => return,
                _ = self.outbox.notified() => {}
                _ = tokio::time::sleep(Duration::from_millis(self.config.poll_interval_ms)) => {}
            }
        }
    }

    fn batch_size(&self) -> usize {
        self.config.concurrency * 4
    }

    fn lease(&self) -> Duration {
        // Long enough for the whole batch at the slowest answers, and a token fetch each.
        let rounds = self.batch_size().div_ceil(self.config.concurrency) as u64;
        Duration::from_secs(self.config.timeout_secs * 2 * rounds + 30)
    }

    /// One round: claim, send, record.
    pub async fn run_once(&self) -> Result<RoundReport, StoreError> {
        let rows = self
            .outbox
            .claim(&self.id, self.batch_size(), self.lease(), self.clock.now_ms())
            .await?;
        let mut report = RoundReport {
            claimed: rows.len(),
            ..RoundReport::default()
        };
        let mut sends = futures_util::stream::iter(rows.into_iter().map(|row| async move {
            let fate = self.deliver(&row).await;
            (row, fate)
        }))
        .buffer_unordered(self.config.concurrency);
        let mut recovered = Vec::<String>::new();
        while let Some((row, fate)) = sends.next().await {
            let now = self.clock.now_ms();
            match fate {
                Fate::Delivered(status) => {
                    report.delivered += 1;
                    if row.attempts > 0 && !recovered.contains(&row.site) {
                        recovered.push(row.site.clone());
                    }
                    self.outbox.mark_delivered(&self.id, row.id, status, now).await?;
                }
                Fate::Retry(status, error) => {
                    report.retried += 1;
                    if row.attempts == 0 {
                        tracing::warn!(outbox_id = row.id, site = %row.site, error = %error, "CRM request failed; it waits in the outbox and is retried");
                    }
                    let next = now + self.backoff(row.attempts);
                    self.outbox
                        .retry_later(&self.id, row.id, status, &error, next)
                        .await?;
                }
                Fate::Park(status, error) => {
                    report.parked += 1;
                    tracing::warn!(outbox_id = row.id, site = %row.site, error = %error, "CRM request refused; parked for an operator");
                    self.outbox.park(&self.id, row.id, status, &error).await?;
                }
            }
        }
        drop(sends);
        // A site that failed before answers again: its waiting rows go now.
        for site in recovered {
            if self.outbox.expedite_site(&site, self.clock.now_ms()).await? > 0 {
                self.outbox.notify();
            }
        }
        Ok(report)
    }

    fn backoff(&self, attempts: i64) -> i64 {
        let base = self.config.backoff_base_ms as f64;
        let max = (self.config.backoff_max_secs * 1000) as f64;
        let exp = base * 2f64.powi(attempts.clamp(0, 30) as i32);
        let jitter = rand::rng().random_range(0.8..1.2);
        (exp.min(max) * jitter) as i64
    }

    async fn deliver(&self, row: &CrmRow) -> Fate {
        let site: Option<Site> = self.registry.current().sites.get(&row.site).cloned();
        let auth = site.as_ref().and_then(|s| s.auth.as_ref());
        let token = match auth {
            Some(auth) => match self.tokens.token(&self.http, &row.site, auth, false).await {
                Ok(token) => Some(token),
                Err(fate) => return fate,
            },
            None => None,
        };
        let fate = self.send(row, token.as_ref()).await;
        match (fate, auth) {
            // The token was revoked or expired early: a new one, once.
            (Fate::Park(Some(401), _), Some(auth)) => {
                match self.tokens.token(&self.http, &row.site, auth, true).await {
                    Ok(token) => self.send(row, Some(&token)).await,
                    Err(fate) => fate,
                }
            }
            (fate, _) => fate,
        }
    }

    async fn send(&self, row: &CrmRow, token: Option<&SecretString>) -> Fate {
        let request = &row.request;
        let mut builder = match request.method {
            Method::Get => self.http.get(&request.url),
            Method::Post => self.http.post(&request.url).body(request.body.clone()),
        };
        if let Some(content_type) = &request.content_type {
            builder = builder.header(reqwest::header::CONTENT_TYPE, content_type);
        }
        if let Some(token) = token {
            builder = builder.bearer_auth(token.expose_secret());
        }
        let response = match builder.send().await {
            Ok(response) => response,
            Err(e) => return Fate::Retry(None, transport_error(e)),
        };
        let status = response.status().as_u16();
        if response.status().is_success() {
            // Drain a little so the connection can be reused; the rest is not read.
            let _ = read_capped(response, ANSWER_BYTES).await;
            return Fate::Delivered(status);
        }
        let answer = tokio::time::timeout(
            Duration::from_secs(self.config.timeout_secs),
            read_capped(response, ANSWER_BYTES),
        )
        .await
        .unwrap_or_default();
        let message = format!("HTTP {status}: {}", snippet(&answer));
        if transient_status(status) {
            Fate::Retry(Some(status), message)
        } else {
            Fate::Park(Some(status), message)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_of_any_encoding_is_kept_printable_and_short() {
        let bytes: Vec<u8> = (0..=255u8).cycle().take(5000).collect();
        let s = snippet(&bytes);
        assert!(s.chars().all(|c| !c.is_control()));
        assert!(s.len() < 4000);
    }
}
