//! Configuration: an optional TOML file < `CTIBRIDGE_…` environment variables < command-line
//! flags. With nothing given, the embedded defaults apply: SQLite file `ctibridge.db` in the
//! working directory, the embedded telephony engine, bind `127.0.0.1:8080`, no Salesforce
//! credentials.
//!
//! Environment variables name a key with its section, sections separated by a double
//! underscore: `CTIBRIDGE_SERVER__BIND=0.0.0.0:8080`, `CTIBRIDGE_DATABASE__URL=postgres://…`.
//! Errors name the key and where the bad value came from (file and line, variable or flag),
//! never the value: it may be a secret. Secrets are strings whatever they look like (an
//! all-digit client secret in the environment is not a number).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Serialized, Toml};
use figment::value::{Dict, Map};
use figment::{Figment, Metadata, Profile, Provider};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::callcenter::DeploymentConfig;
use crate::contacts::Region;
use crate::salesforce::SalesforceConfig;
use crate::telephony::DriverKind;

/// Prefix of the environment variables that set configuration keys.
pub const ENV_PREFIX: &str = "CTIBRIDGE_";

/// The keys that hold secrets: read verbatim as strings, never quoted in an error.
pub const SECRET_KEYS: [&str; 3] = [
    "salesforce.client_secret",
    "salesforce.refresh_token",
    "telephony.asterisk.secret",
];

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    pub log: LogConfig,
    pub telephony: TelephonyConfig,
    pub salesforce: SalesforceConfig,
    pub callcenter: DeploymentConfig,
    pub contacts: ContactsConfig,
    pub cluster: crate::cluster::ClusterConfig,
    /// External sites (web CRMs) the campaigns invoke on each call.
    pub crm: crate::crm::CrmConfig,
    /// External systems that drive calls through `/api/v1`.
    pub external: crate::external::ExternalConfig,
    /// Owner routing: inbound calls go first to the owner of the caller's Salesforce record.
    pub routing: crate::routing::RoutingConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address the HTTP server listens on.
    pub bind: SocketAddr,
    /// The public https base URL agents' browsers reach the server at (behind a TLS proxy).
    pub public_url: Option<Url>,
    /// Seconds in-flight requests get to finish on SIGTERM / Ctrl-C.
    pub shutdown_timeout_secs: u64,
    /// Origins allowed to frame the adapter page (CSP `frame-ancestors`); the adapter also
    /// loads `opencti_min.js` only from an origin matching one of them.
    pub frame_ancestors: Vec<String>,
    /// Serves the local Lightning harness at `/dev/lightning` and lets the adapter page accept
    /// the server's own origin as the Salesforce origin. Unset: on exactly when the demo roster
    /// is active (see [`Config::dev_mode`]).
    pub dev_mode: Option<bool>,
    /// argon2 PHC hash of the admin token that guards the simulation API (`/sim/…`) and the
    /// admin endpoints that change something. Absent: with the demo roster the admin token is
    /// `demo-admin`; otherwise they are off.
    pub admin_token_hash: Option<String>,
    /// argon2 PHC hash of the read-only operator token: `/metrics` and `GET /admin/…` (what a
    /// metrics scraper holds; it cannot reach the simulation API). Absent: with the demo roster
    /// the operator token is `demo-operator`; otherwise those endpoints are off.
    pub operator_token_hash: Option<String>,
    /// Serves the simulation API (`/sim/…`: inject calls, answer for agents). Unset: on exactly
    /// in development mode (see [`Config::dev_mode`]).
    pub simulation: Option<bool>,
    /// Password and token checks allowed to wait while one per core runs; more at once are
    /// answered 503 `busy` with `Retry-After`.
    pub max_waiting_password_checks: usize,
    /// Seconds a client gets to send a request's body (408 after it).
    pub body_timeout_secs: u64,
    /// Seconds an agent session token lives after Login (Logout revokes it earlier).
    pub session_ttl_secs: u64,
    /// Largest request body accepted (413 above it).
    pub max_body_bytes: usize,
    /// Failed logins allowed per user within `login_window_secs` before 429.
    pub login_failures_per_user: u32,
    /// Failed logins allowed per client address within `login_window_secs` before 429.
    pub login_failures_per_address: u32,
    /// The window of the failed-login limits, in seconds.
    pub login_window_secs: u64,
    /// Events queued for one websocket before the client counts as too slow (closed, 4008).
    pub ws_queue_events: usize,
    /// Seconds between the server's websocket pings.
    pub ws_ping_interval_secs: u64,
    /// Seconds without any frame from a websocket client (pongs included) before it is closed.
    pub ws_pong_timeout_secs: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: None,
            shutdown_timeout_secs: 30,
            frame_ancestors: vec![
                "https://*.lightning.force.com".to_owned(),
                "https://*.my.salesforce.com".to_owned(),
                "https://*.vf.force.com".to_owned(),
            ],
            dev_mode: None,
            admin_token_hash: None,
            operator_token_hash: None,
            simulation: None,
            max_waiting_password_checks: crate::password::DEFAULT_MAX_WAITING,
            body_timeout_secs: 10,
            session_ttl_secs: 12 * 3600,
            max_body_bytes: 64 * 1024,
            login_failures_per_user: 5,
            login_failures_per_address: 20,
            login_window_secs: 300,
            ws_queue_events: 256,
            ws_ping_interval_secs: 15,
            ws_pong_timeout_secs: 45,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `sqlite://FILE` (created when missing) or `postgres://user@host/db`.
    pub url: String,
    /// Upper bound of the connection pool.
    pub max_connections: u32,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: "sqlite://ctibridge.db".to_owned(),
            max_connections: 8,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// Readable lines for a terminal.
    #[default]
    Human,
    /// One JSON object a line, for log collectors.
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    pub format: LogFormat,
    /// A tracing filter such as `info` or `ctibridge=debug,actix_web=info`; `RUST_LOG` wins.
    pub filter: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Human,
            filter: "info".to_owned(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TelephonyConfig {
    pub driver: DriverKind,
    /// The embedded engine's roster. Empty: the demo roster (agent1–agent3, super1, password
    /// `demo`), which only listens on loopback addresses.
    pub agents: Vec<crate::telephony::config::AgentConfig>,
    /// The embedded engine's campaigns. Empty: the demo campaigns.
    pub campaigns: Vec<crate::telephony::config::CampaignConfig>,
    /// Custom rest states, offered next to the system ones.
    pub rest_states: Vec<crate::telephony::config::RestStateConfig>,
    /// Seconds an offered call rings on an agent before it goes back to the queue.
    pub ring_timeout_secs: u64,
    /// Seconds an outbound call rings on the customer before it counts as not answered.
    pub dial_timeout_secs: u64,
    /// Service level for supervisors: inbound calls answered within this many seconds of
    /// entering the queue.
    pub service_level_secs: u64,
    /// The supervisors' dashboards get the figures at most this often (milliseconds): changes
    /// in between are coalesced into the next frame.
    pub dashboard_interval_ms: u64,
    /// The Asterisk platform (`driver = "asterisk"`).
    pub asterisk: Option<crate::telephony::asterisk::AsteriskConfig>,
}

impl Default for TelephonyConfig {
    fn default() -> Self {
        Self {
            driver: DriverKind::default(),
            agents: Vec::new(),
            campaigns: Vec::new(),
            rest_states: Vec::new(),
            ring_timeout_secs: 20,
            dial_timeout_secs: 30,
            service_level_secs: 20,
            dashboard_interval_ms: 500,
            asterisk: None,
        }
    }
}

impl TelephonyConfig {
    /// The campaigns the engine runs: the configured ones, or the demo campaigns when none are
    /// configured.
    pub fn effective_campaigns(&self) -> Vec<crate::telephony::config::CampaignConfig> {
        if self.campaigns.is_empty() {
            crate::telephony::engine::campaign::demo_campaigns()
        } else {
            self.campaigns.clone()
        }
    }

    /// True when no agent is configured: the embedded engine runs the public demo roster.
    pub fn uses_demo_roster(&self) -> bool {
        self.driver == DriverKind::Embedded && self.agents.is_empty()
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ContactsConfig {
    /// Region national phone numbers (ANIs, imported contacts) are read in: an ISO 3166
    /// alpha-2 code such as `AR`; numbers with `+` keep their own country.
    pub default_country: Region,
}

/// Values given as command-line flags; `None` leaves the key to the file / environment.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FlagOverrides {
    pub server: ServerFlags,
    pub database: DatabaseFlags,
    pub log: LogFlags,
    pub telephony: TelephonyFlags,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ServerFlags {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bind: Option<SocketAddr>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct DatabaseFlags {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct LogFlags {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<LogFormat>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct TelephonyFlags {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver: Option<DriverKind>,
}

/// The flags as a figment provider named so that errors say "command-line flag".
struct Flags<'a>(&'a FlagOverrides);

impl Provider for Flags<'_> {
    fn metadata(&self) -> Metadata {
        Metadata::named("command-line flag")
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Serialized::defaults(self.0).data()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration file `{path}` not found")]
    FileNotFound { path: PathBuf },
    #[error("configuration: {0}")]
    Invalid(String),
}

impl Config {
    /// Whether development helpers are served: `server.dev_mode`, or when unset, whether the
    /// public demo roster is active (a server with real agents never shows the harness unless
    /// asked to).
    pub fn dev_mode(&self) -> bool {
        self.server
            .dev_mode
            .unwrap_or_else(|| self.telephony.uses_demo_roster())
    }

    /// Whether the simulation API is served: `server.simulation`, or when unset, development
    /// mode.
    pub fn simulation(&self) -> bool {
        self.server.simulation.unwrap_or_else(|| self.dev_mode())
    }

    /// Loads the configuration: `file` (if any) < environment < `flags`.
    pub fn load(file: Option<&Path>, flags: &FlagOverrides) -> Result<Config, ConfigError> {
        Self::load_from(file, Env::prefixed(ENV_PREFIX), flags)
    }

    /// As [`Config::load`] with an explicit environment provider (tests pass a fixed one).
    pub fn load_from(file: Option<&Path>, env: Env, flags: &FlagOverrides) -> Result<Config, ConfigError> {
        let mut figment = Figment::new();
        if let Some(path) = file {
            if !path.is_file() {
                return Err(ConfigError::FileNotFound {
                    path: path.to_owned(),
                });
            }
            check_toml_syntax(path)?;
            figment = figment.merge(Toml::file_exact(path));
        }
        // Only `SECTION__KEY` variables are keys; CTIBRIDGE_CONFIG (the file path) and others
        // are not.
        let env = env.filter(|k| k.as_str().contains("__")).split("__");
        let mut figment = figment.merge(env);
        for key in SECRET_KEYS {
            figment = figment.merge(SecretVar(key));
        }
        let figment = figment.merge(Flags(flags));
        let config: Config = figment.extract().map_err(|e| ConfigError::Invalid(describe(e)))?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let url = &self.database.url;
        if !(url.starts_with("sqlite:") || url.starts_with("postgres://") || url.starts_with("postgresql://"))
        {
            return Err(ConfigError::Invalid(format!(
                "database.url must start with `sqlite:` or `postgres://`, got `{}`",
                crate::store::redact_url(url)
            )));
        }
        if self.database.max_connections == 0 {
            return Err(ConfigError::Invalid(
                "database.max_connections must be at least 1".into(),
            ));
        }
        if let Some(url) = &self.server.public_url
            && !matches!(url.scheme(), "https" | "http")
        {
            return Err(ConfigError::Invalid(format!(
                "server.public_url must be an http(s) URL, got `{url}`"
            )));
        }
        for origin in &self.server.frame_ancestors {
            validate_frame_ancestor(origin)?;
        }
        for (key, hash) in [
            ("server.admin_token_hash", &self.server.admin_token_hash),
            ("server.operator_token_hash", &self.server.operator_token_hash),
        ] {
            if let Some(hash) = hash
                && argon2::password_hash::phc::PasswordHash::new(hash).is_err()
            {
                return Err(ConfigError::Invalid(format!(
                    "{key} must be an argon2 PHC string ($argon2id$v=19$…); make one with \
                     `ctibridge hash-password`"
                )));
            }
        }
        if self.server.session_ttl_secs == 0
            || self.server.max_body_bytes == 0
            || self.server.ws_queue_events == 0
            || self.server.body_timeout_secs == 0
        {
            return Err(ConfigError::Invalid(
                "server.session_ttl_secs, server.max_body_bytes, server.ws_queue_events and \
                 server.body_timeout_secs must be at least 1"
                    .into(),
            ));
        }
        self.salesforce.validate().map_err(ConfigError::Invalid)?;
        self.crm.validate().map_err(ConfigError::Invalid)?;
        self.external.validate().map_err(ConfigError::Invalid)?;
        let inbound: Vec<i64> = self
            .telephony
            .effective_campaigns()
            .iter()
            .filter(|c| c.kind == crate::telephony::config::CampaignKind::Inbound)
            .map(|c| c.id)
            .collect();
        self.routing
            .validate_with(&inbound)
            .map_err(ConfigError::Invalid)?;
        Ok(())
    }
}

/// A `frame-ancestors` source goes verbatim into a response header and into the adapter's
/// origin check: `'self'` or `https://host` where the host may start with `*.`, nothing else.
fn validate_frame_ancestor(origin: &str) -> Result<(), ConfigError> {
    let host = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"));
    let valid = origin == "'self'"
        || host.is_some_and(|host| {
            let host = host.strip_prefix("*.").unwrap_or(host);
            !host.is_empty()
                && host
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':'))
        });
    if valid {
        Ok(())
    } else {
        Err(ConfigError::Invalid(format!(
            "server.frame_ancestors: `{origin}` must be `'self'` or an origin such as \
             `https://*.lightning.force.com` (scheme, host with an optional leading `*.`, no path)"
        )))
    }
}

/// A TOML syntax error as "file F, line L, column C: message", without the line's text (it
/// may hold a secret).
fn check_toml_syntax(path: &Path) -> Result<(), ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::Invalid(format!("cannot read file {}: {e}", path.display())))?;
    let Err(error) = toml::from_str::<toml::Table>(&text) else {
        return Ok(());
    };
    let offset = error.span().map_or(0, |span| span.start).min(text.len());
    let before = text.get(..offset).unwrap_or("");
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    let message = error.message().lines().next().unwrap_or("invalid TOML").trim();
    Err(ConfigError::Invalid(format!(
        "file {}, line {line}, column {column}: {message}",
        path.display()
    )))
}

/// One of the [`SECRET_KEYS`] set in the environment, verbatim as a string (the environment
/// provider reads `12345` as a number).
struct SecretVar(&'static str);

impl Provider for SecretVar {
    fn metadata(&self) -> Metadata {
        Metadata::named("environment variable")
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        let variable = format!("{ENV_PREFIX}{}", self.0.replace('.', "__").to_uppercase());
        match std::env::var(&variable) {
            Ok(value) => Serialized::default(self.0, value).data(),
            Err(_) => Ok(Map::new()),
        }
    }
}

/// The line of a TOML file where `path` (`["server", "bind"]`) is set, when it is written as
/// `key = …` under its `[table]` header (the usual layout; `None` otherwise).
fn line_of_key(file: &Path, path: &[String]) -> Option<usize> {
    let (leaf, tables) = path.split_last()?;
    let table = tables.join(".");
    let text = std::fs::read_to_string(file).ok()?;
    let mut current = String::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if let Some(header) = line.strip_prefix('[') {
            current = header.trim_matches(|c| c == '[' || c == ']').trim().to_owned();
            continue;
        }
        let key = line.split('=').next().unwrap_or("").trim().trim_matches('"');
        if line.contains('=') && current == table && key == leaf {
            return Some(i + 1);
        }
    }
    None
}

/// What a figment error says, without the value it found: the key may hold a secret.
fn kind_without_value(kind: &figment::error::Kind) -> String {
    use figment::error::{Actual, Kind};
    let what = |actual: &Actual| match actual {
        Actual::Bool(_) => "a boolean",
        Actual::Unsigned(_) | Actual::Signed(_) => "an integer",
        Actual::Float(_) => "a number",
        Actual::Char(_) | Actual::Str(_) => "a string",
        Actual::Bytes(_) => "bytes",
        Actual::Seq => "a list",
        Actual::Map => "a table",
        _ => "a value of another kind",
    };
    match kind {
        Kind::InvalidType(actual, expected) => {
            format!("invalid type: found {}, expected {expected}", what(actual))
        }
        Kind::InvalidValue(actual, expected) => {
            format!("invalid value ({}), expected {expected}", what(actual))
        }
        Kind::Unsupported(actual) => format!("{} is not supported here", what(actual)),
        other => other.to_string(),
    }
}

/// Every figment error as "key `server.bind`, from environment variable
/// CTIBRIDGE_SERVER__BIND: invalid socket address syntax".
fn describe(error: figment::Error) -> String {
    error
        .into_iter()
        .map(|e| {
            // Figment paths start with the profile ("default") for extraction errors.
            let path: Vec<String> = e
                .path
                .iter()
                .skip_while(|p| p.as_str() == "default" && e.path.len() > 1)
                .map(|p| p.to_lowercase())
                .collect();
            let key = path.join(".");
            let source = match &e.metadata {
                Some(m) if m.name.contains("environment") => {
                    format!(
                        "environment variable {ENV_PREFIX}{}",
                        path.join("__").to_uppercase()
                    )
                }
                Some(m) => match &m.source {
                    Some(figment::Source::File(file)) => match line_of_key(file, &path) {
                        Some(line) => format!("file {}, line {line}", file.display()),
                        None => format!("file {}", file.display()),
                    },
                    _ => m.name.to_string(),
                },
                None => "defaults".to_owned(),
            };
            let what = if SECRET_KEYS.contains(&key.as_str()) {
                match &e.kind {
                    figment::error::Kind::InvalidType(..) | figment::error::Kind::InvalidValue(..) => {
                        kind_without_value(&e.kind)
                    }
                    _ => "invalid value (not shown: the key holds a secret)".to_owned(),
                }
            } else {
                kind_without_value(&e.kind)
            };
            if key.is_empty() {
                format!("from {source}: {what}")
            } else {
                format!("key `{key}`, from {source}: {what}")
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}
