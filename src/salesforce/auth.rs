//! OAuth2 token sources and the token cache.
//!
//! Three flows, chosen by `salesforce.flow`: JWT bearer (an RS256 assertion signed with
//! `jsonwebtoken`; the `oauth2` crate has no JWT grant), client credentials (against the org's
//! My Domain host; login/test hosts refuse it) and refresh token (with rotation: a new refresh
//! token in the answer replaces the old one, and is persisted so a restart uses it). Salesforce
//! gives no `expires_in`: a token is used until an API call answers 401 INVALID_SESSION_ID, then
//! [`TokenCache::invalidate`] drops it and the next call mints a new one.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tokio::sync::{Mutex, RwLock};
use url::Url;

use super::config::{AuthFlow, SalesforceConfig};
use super::error::AuthError;
use crate::store::Store;

/// The settings key under which a rotated refresh token is kept.
pub const REFRESH_TOKEN_SETTING: &str = "salesforce.refresh_token";

/// A usable access token and the instance it is valid for.
#[derive(Debug, Clone)]
pub struct AccessToken {
    pub token: SecretString,
    /// API calls go here (`instance_url` of the token answer), never to the login host.
    pub instance_url: Url,
    /// `issued_at` of the answer (ms since the epoch), when given.
    pub issued_at_ms: Option<i64>,
}

/// What the token endpoint answers on success.
#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    instance_url: String,
    #[serde(default)]
    issued_at: Option<String>,
    #[serde(default)]
    refresh_token: Option<String>,
}

#[derive(Deserialize)]
struct TokenErrorAnswer {
    error: String,
    #[serde(default)]
    error_description: String,
}

/// One way of obtaining an access token.
#[async_trait::async_trait]
pub trait TokenSource: Send + Sync + 'static {
    async fn fetch(&self) -> Result<AccessToken, AuthError>;
    /// The flow's name for logs (never a secret).
    fn flow(&self) -> &'static str;
}

/// Builds the configured token source. `Ok(None)` when no flow is configured. Errors name the
/// key or file at fault, never a secret.
pub async fn token_source(
    config: &SalesforceConfig,
    http: reqwest::Client,
    store: Store,
) -> Result<Option<Arc<dyn TokenSource>>, StartupError> {
    let Some(flow) = config.flow else { return Ok(None) };
    config.validate().map_err(StartupError::Config)?;
    let client_id = config.client_id.clone().unwrap_or_default();
    let token_url = |base: &Url| -> Result<Url, StartupError> {
        base.join("/services/oauth2/token")
            .map_err(|e| StartupError::Config(format!("cannot build the token URL from `{base}`: {e}")))
    };
    Ok(Some(match flow {
        AuthFlow::JwtBearer => {
            let path = config.private_key_path.clone().unwrap_or_default();
            let key = load_private_key(&path)?;
            Arc::new(JwtBearer {
                http,
                token_url: token_url(&config.login_url)?,
                audience: jwt_audience(&config.login_url),
                client_id,
                username: config.username.clone().unwrap_or_default(),
                key,
            })
        }
        AuthFlow::ClientCredentials => {
            let my_domain = config.my_domain_url.clone().expect("validated: my_domain_url");
            Arc::new(ClientCredentials {
                http,
                token_url: token_url(&my_domain)?,
                client_id,
                client_secret: config.client_secret.clone().expect("validated: client_secret"),
            })
        }
        AuthFlow::RefreshToken => {
            // A token rotated by an earlier run supersedes the configured one, which Salesforce
            // has invalidated since.
            let persisted = store
                .setting(REFRESH_TOKEN_SETTING)
                .await
                .map_err(|e| StartupError::Config(format!("cannot read the stored refresh token: {e}")))?;
            let current = match persisted {
                Some(setting) => SecretString::from(setting.value),
                None => config.refresh_token.clone().expect("validated: refresh_token"),
            };
            Arc::new(RefreshToken {
                http,
                token_url: token_url(&config.login_url)?,
                client_id,
                client_secret: config.client_secret.clone(),
                current: Mutex::new(current),
                store,
            })
        }
    }))
}

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("salesforce configuration: {0}")]
    Config(String),
    #[error("salesforce.private_key_path `{path}`: {reason}")]
    PrivateKey { path: String, reason: String },
}

fn load_private_key(path: &Path) -> Result<jsonwebtoken::EncodingKey, StartupError> {
    let fail = |reason: String| StartupError::PrivateKey {
        path: path.display().to_string(),
        reason,
    };
    let pem = std::fs::read(path).map_err(|e| fail(format!("cannot read the file: {e}")))?;
    jsonwebtoken::EncodingKey::from_rsa_pem(&pem)
        .map_err(|_| fail("not a PEM-encoded RSA private key (PKCS#1 or PKCS#8)".to_owned()))
}

/// The JWT `aud`: the login host for production, the test host for sandboxes (including
/// `*.sandbox.my.salesforce.com`), and the URL itself for a non-Salesforce host (a test double).
pub fn jwt_audience(login_url: &Url) -> String {
    let host = login_url.host_str().unwrap_or_default();
    if host == "test.salesforce.com" || host.ends_with(".sandbox.my.salesforce.com") {
        "https://test.salesforce.com".to_owned()
    } else if host == "salesforce.com" || host.ends_with(".salesforce.com") {
        "https://login.salesforce.com".to_owned()
    } else {
        login_url.origin().ascii_serialization()
    }
}

async fn post_token_form(
    http: &reqwest::Client,
    url: &Url,
    form: &[(&str, &str)],
) -> Result<TokenAnswer, AuthError> {
    let response = http
        .post(url.clone())
        .form(form)
        .send()
        .await
        .map_err(|e| AuthError::Transport(transport_error(e)))?;
    let status = response.status().as_u16();
    let body = response
        .bytes()
        .await
        .map_err(|e| AuthError::Transport(transport_error(e)))?;
    if (200..300).contains(&status) {
        serde_json::from_slice::<TokenAnswer>(&body).map_err(|e| AuthError::Malformed {
            status,
            detail: format!("{e}"),
        })
    } else {
        match serde_json::from_slice::<TokenErrorAnswer>(&body) {
            Ok(answer) => Err(AuthError::Rejected {
                status,
                error: answer.error,
                description: answer.error_description,
            }),
            Err(_) => Err(AuthError::Malformed {
                status,
                detail: snippet(&body),
            }),
        }
    }
}

/// A reqwest error's text with its causes, without the URL (query strings may carry data).
pub(crate) fn transport_error(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The first bytes of a body, for error messages.
pub(crate) fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut cut: String = text.chars().take(200).collect();
    if text.chars().count() > 200 {
        cut.push('…');
    }
    cut
}

fn into_token(answer: TokenAnswer) -> Result<AccessToken, AuthError> {
    let instance_url = Url::parse(&answer.instance_url).map_err(|e| AuthError::Malformed {
        status: 200,
        detail: format!("instance_url `{}` is not a URL: {e}", answer.instance_url),
    })?;
    Ok(AccessToken {
        token: SecretString::from(answer.access_token),
        instance_url,
        issued_at_ms: answer.issued_at.and_then(|s| s.parse().ok()),
    })
}

struct JwtBearer {
    http: reqwest::Client,
    token_url: Url,
    audience: String,
    client_id: String,
    username: String,
    key: jsonwebtoken::EncodingKey,
}

#[derive(serde::Serialize)]
struct Claims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    exp: i64,
}

#[async_trait::async_trait]
impl TokenSource for JwtBearer {
    async fn fetch(&self) -> Result<AccessToken, AuthError> {
        // Salesforce accepts assertions that expire within 3 minutes.
        let exp = chrono::Utc::now().timestamp() + 180;
        let claims = Claims {
            iss: &self.client_id,
            sub: &self.username,
            aud: &self.audience,
            exp,
        };
        let assertion = jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
            &claims,
            &self.key,
        )
        .map_err(|e| AuthError::Signing(e.to_string()))?;
        let answer = post_token_form(
            &self.http,
            &self.token_url,
            &[
                ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
                ("assertion", &assertion),
            ],
        )
        .await?;
        into_token(answer)
    }

    fn flow(&self) -> &'static str {
        "jwt_bearer"
    }
}

struct ClientCredentials {
    http: reqwest::Client,
    token_url: Url,
    client_id: String,
    client_secret: SecretString,
}

#[async_trait::async_trait]
impl TokenSource for ClientCredentials {
    async fn fetch(&self) -> Result<AccessToken, AuthError> {
        let answer = post_token_form(
            &self.http,
            &self.token_url,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &self.client_id),
                ("client_secret", self.client_secret.expose_secret()),
            ],
        )
        .await?;
        into_token(answer)
    }

    fn flow(&self) -> &'static str {
        "client_credentials"
    }
}

struct RefreshToken {
    http: reqwest::Client,
    token_url: Url,
    client_id: String,
    client_secret: Option<SecretString>,
    /// Held across the request: with rotation, two concurrent refreshes would invalidate each
    /// other's token.
    current: Mutex<SecretString>,
    store: Store,
}

#[async_trait::async_trait]
impl TokenSource for RefreshToken {
    async fn fetch(&self) -> Result<AccessToken, AuthError> {
        let mut current = self.current.lock().await;
        let mut form = vec![
            ("grant_type", "refresh_token"),
            ("client_id", self.client_id.as_str()),
            ("refresh_token", current.expose_secret()),
        ];
        if let Some(secret) = &self.client_secret {
            form.push(("client_secret", secret.expose_secret()));
        }
        let mut answer = post_token_form(&self.http, &self.token_url, &form).await?;
        if let Some(rotated) = answer.refresh_token.take() {
            // Persist first: if the process dies now, the next run must use the new token.
            if let Err(e) = self.store.put_setting(REFRESH_TOKEN_SETTING, &rotated).await {
                tracing::error!(error = %e, "cannot persist the rotated Salesforce refresh token");
            }
            *current = SecretString::from(rotated);
            tracing::info!("Salesforce refresh token rotated and stored");
        }
        into_token(answer)
    }

    fn flow(&self) -> &'static str {
        "refresh_token"
    }
}

/// Caches the current token; one fetch at a time however many callers need a token.
pub struct TokenCache {
    source: Arc<dyn TokenSource>,
    current: RwLock<Option<Arc<AccessToken>>>,
    fetching: Mutex<()>,
}

impl TokenCache {
    pub fn new(source: Arc<dyn TokenSource>) -> Self {
        Self {
            source,
            current: RwLock::new(None),
            fetching: Mutex::new(()),
        }
    }

    /// The cached token, or a freshly fetched one.
    pub async fn get(&self) -> Result<Arc<AccessToken>, AuthError> {
        if let Some(token) = self.current.read().await.clone() {
            return Ok(token);
        }
        let _one_at_a_time = self.fetching.lock().await;
        // Another caller may have fetched while this one waited.
        if let Some(token) = self.current.read().await.clone() {
            return Ok(token);
        }
        let token = Arc::new(
            tokio::time::timeout(Duration::from_secs(30), self.source.fetch())
                .await
                .map_err(|_| AuthError::Transport("token request timed out".to_owned()))??,
        );
        tracing::debug!(flow = self.source.flow(), instance = %token.instance_url, "Salesforce access token obtained");
        *self.current.write().await = Some(token.clone());
        Ok(token)
    }

    /// Drops `stale` if it is still the cached token (a 401 INVALID_SESSION_ID answered it).
    pub async fn invalidate(&self, stale: &AccessToken) {
        let mut current = self.current.write().await;
        if current
            .as_ref()
            .is_some_and(|t| t.token.expose_secret() == stale.token.expose_secret())
        {
            *current = None;
        }
    }

    pub fn flow(&self) -> &'static str {
        self.source.flow()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audience_follows_the_login_host() {
        let aud = |u: &str| jwt_audience(&Url::parse(u).unwrap());
        assert_eq!(
            aud("https://login.salesforce.com"),
            "https://login.salesforce.com"
        );
        assert_eq!(aud("https://test.salesforce.com"), "https://test.salesforce.com");
        assert_eq!(
            aud("https://acme--uat.sandbox.my.salesforce.com"),
            "https://test.salesforce.com"
        );
        assert_eq!(
            aud("https://acme.my.salesforce.com"),
            "https://login.salesforce.com"
        );
        assert_eq!(aud("http://127.0.0.1:4321"), "http://127.0.0.1:4321");
    }
}
