//! The `[salesforce]` configuration section: which org, which OAuth2 flow, which credentials.
//!
//! Secrets are `SecretString`s: they print as `[REDACTED]` in `Debug` output and logs.

use std::path::PathBuf;

use secrecy::SecretString;
use serde::Deserialize;
use url::Url;

/// How the server obtains its Salesforce access token. The username-password flow is retired by
/// Salesforce and deliberately not offered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthFlow {
    /// OAuth 2.0 JWT bearer: an RS256 assertion signed with `private_key_path`.
    JwtBearer,
    /// OAuth 2.0 client credentials against the org's My Domain host.
    ClientCredentials,
    /// OAuth 2.0 refresh token (rotated tokens are persisted in the database).
    RefreshToken,
}

/// Who writes the call's Task. Exactly one of the two does, so no call is logged twice.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskLog {
    /// The server when it has Salesforce credentials, else the adapter.
    #[default]
    Auto,
    /// The server, through its outbox (idempotent, survives outages and reloads).
    Server,
    /// The adapter page, with Open CTI `saveLog` as the agent (orgs that give the server no
    /// API access); the server then writes no Task.
    Adapter,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SalesforceConfig {
    /// Who writes the call's Task when `saveActivityLog` is on.
    pub task_log: TaskLog,
    /// The OAuth2 flow. Absent: no credentials, writes wait in the outbox.
    pub flow: Option<AuthFlow>,
    /// Token host for the JWT bearer and refresh-token flows (`https://login.salesforce.com`,
    /// or `https://test.salesforce.com` for sandboxes).
    pub login_url: Url,
    /// The org's My Domain URL (`https://acme.my.salesforce.com`); required by the client
    /// credentials flow, and used as the `frame-ancestors` origin of the adapter page.
    pub my_domain_url: Option<Url>,
    /// Consumer key of the external client app.
    pub client_id: Option<String>,
    /// Consumer secret (client credentials, refresh token).
    pub client_secret: Option<SecretString>,
    /// The integration user (JWT `sub`).
    pub username: Option<String>,
    /// PEM file with the RSA private key that signs JWT assertions.
    pub private_key_path: Option<PathBuf>,
    /// The initial refresh token (refresh-token flow).
    pub refresh_token: Option<SecretString>,
    /// REST API version, e.g. `62.0`.
    pub api_version: String,
    /// OwnerId of the Task of a missed call whose caller has no known owner (a Salesforce
    /// user or queue id, `005…`/`00G…`); absent: the integration user owns it.
    pub missed_call_owner: Option<String>,
}

impl Default for SalesforceConfig {
    fn default() -> Self {
        Self {
            task_log: TaskLog::Auto,
            flow: None,
            login_url: Url::parse("https://login.salesforce.com").expect("static URL"),
            my_domain_url: None,
            client_id: None,
            client_secret: None,
            username: None,
            private_key_path: None,
            refresh_token: None,
            api_version: "62.0".to_owned(),
            missed_call_owner: None,
        }
    }
}

impl SalesforceConfig {
    /// Who writes Tasks in this deployment (`auto` resolved).
    pub fn task_logger(&self) -> TaskLog {
        match self.task_log {
            TaskLog::Auto if self.is_configured() => TaskLog::Server,
            TaskLog::Auto => TaskLog::Adapter,
            chosen => chosen,
        }
    }

    /// Whether credentials are configured at all.
    pub fn is_configured(&self) -> bool {
        self.flow.is_some()
    }

    /// Checks that the chosen flow has what it needs; names the missing key, never a value.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(owner) = &self.missed_call_owner
            && !crate::salesforce::flows::valid_record_id(owner)
        {
            return Err(format!(
                "salesforce.missed_call_owner must be a Salesforce user id (15 or 18 letters and digits, 005…), got `{}`",
                owner.escape_debug()
            ));
        }
        let Some(flow) = self.flow else { return Ok(()) };
        let need = |present: bool, key: &str| {
            if present {
                Ok(())
            } else {
                Err(format!(
                    "salesforce.{key} is required when salesforce.flow = {flow:?}"
                ))
            }
        };
        need(self.client_id.is_some(), "client_id")?;
        match flow {
            AuthFlow::JwtBearer => {
                need(self.username.is_some(), "username")?;
                need(self.private_key_path.is_some(), "private_key_path")?;
            }
            AuthFlow::ClientCredentials => {
                need(self.client_secret.is_some(), "client_secret")?;
                need(self.my_domain_url.is_some(), "my_domain_url")?;
            }
            AuthFlow::RefreshToken => {
                need(self.refresh_token.is_some(), "refresh_token")?;
            }
        }
        for (key, url) in [
            ("login_url", Some(&self.login_url)),
            ("my_domain_url", self.my_domain_url.as_ref()),
        ] {
            if let Some(url) = url
                && url.scheme() != "https"
                && !is_loopback(url)
            {
                return Err(format!("salesforce.{key} must be an https URL, got `{url}`"));
            }
        }
        Ok(())
    }
}

/// Plain http is accepted only for a server on this machine (a local test double).
fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}
