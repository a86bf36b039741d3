//! What an operator defines: external sites and the parameters each campaign sends to its site,
//! and their validation. Errors name the field, e.g. `sites.acme.url: …`.

use std::collections::BTreeSet;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use url::Url;

/// When the site is invoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// The server sends the request when a call connects to an agent.
    Server,
    /// The softphone invokes the URL as the call reaches the agent.
    Automatic,
    /// The softphone shows a button; the agent invokes the URL.
    Agent,
    /// The server sends the request when the agent categorizes with a disposition the campaign
    /// marked for CRM interaction.
    Disposition,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Server => "server",
            Trigger::Automatic => "automatic",
            Trigger::Agent => "agent",
            Trigger::Disposition => "disposition",
        }
    }

    /// The server sends these requests itself (through the outbox).
    pub fn is_server_side(self) -> bool {
        matches!(self, Trigger::Server | Trigger::Disposition)
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Method {
    Get,
    #[default]
    Post,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
        }
    }
}

/// How a POST carries its parameters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// `multipart/form-data`.
    Multipart,
    /// `application/x-www-form-urlencoded`.
    FormUrlencoded,
    /// `text/plain`: one `name=value` line each.
    Text,
    /// `application/json`: an object of strings.
    #[default]
    Json,
}

/// Where the softphone shows the site (triggers automatic and agent).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// An iframe panel of the softphone.
    #[default]
    Embedded,
    /// A new browser tab.
    NewTab,
}

fn default_token_field() -> String {
    "token".to_owned()
}

fn default_token_lifetime() -> u64 {
    3600
}

/// A token endpoint: `POST {username, password}` as JSON; the answer's `token_field` is sent
/// as `Authorization: Bearer …` until it expires (`expires_in` of the answer, else
/// `token_lifetime_secs`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteAuth {
    pub token_url: String,
    pub username: String,
    pub password: SecretString,
    #[serde(default = "default_token_field")]
    pub token_field: String,
    #[serde(default = "default_token_lifetime")]
    pub token_lifetime_secs: u64,
}

impl PartialEq for SiteAuth {
    fn eq(&self, other: &Self) -> bool {
        self.token_url == other.token_url
            && self.username == other.username
            && self.password.expose_secret() == other.password.expose_secret()
            && self.token_field == other.token_field
            && self.token_lifetime_secs == other.token_lifetime_secs
    }
}

/// An external site (a web CRM). The name is its key.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Site {
    pub name: String,
    /// May hold `{holder}` places in its path (clean URLs), filled by the parameters of that
    /// name.
    pub url: String,
    pub trigger: Trigger,
    #[serde(default)]
    pub method: Method,
    /// POST only.
    #[serde(default)]
    pub format: Format,
    /// Triggers automatic and agent only.
    #[serde(default)]
    pub target: Target,
    #[serde(default)]
    pub auth: Option<SiteAuth>,
}

/// A parameter's family: where its value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Family {
    /// `id`, `nombre`, `tipo`.
    Campaign,
    /// `call_id`, `agent_id`, `agent_username`, `agent_name`, `datetime`, `telefono`,
    /// `id_contacto`, `rec_filename`.
    Call,
    /// A column of the campaign's contact database.
    Contact,
    /// The source itself is the value.
    Fixed,
    /// A channel variable handed over by the telephony platform.
    Dialplan,
    /// `id`, `name`, `form` (the disposition's data, base64).
    Disposition,
}

pub const CAMPAIGN_SOURCES: &[&str] = &["id", "nombre", "tipo"];
pub const CALL_SOURCES: &[&str] = &[
    "call_id",
    "agent_id",
    "agent_username",
    "agent_name",
    "datetime",
    "telefono",
    "id_contacto",
    "rec_filename",
];
pub const DISPOSITION_SOURCES: &[&str] = &["id", "name", "form"];
/// Columns every contact has; the others are those of the imported file.
pub const CONTACT_FIXED_COLUMNS: &[&str] = &["id", "clave_1", "phone", "name"];

/// One parameter: (family, source, the name the CRM expects).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Param {
    pub family: Family,
    pub source: String,
    pub name: String,
}

/// A disposition (category / subcategory of the campaign).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DispositionRef {
    pub category: i64,
    pub subcategory: i64,
}

/// The site a campaign invokes and what it sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CampaignCrm {
    pub campaign: i64,
    pub site: String,
    #[serde(default)]
    pub params: Vec<Param>,
    /// Trigger `disposition`: the dispositions marked "CRM interaction".
    #[serde(default)]
    pub dispositions: Vec<DispositionRef>,
}

/// An invalid definition: which field and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct DefinitionError {
    pub field: String,
    pub message: String,
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> DefinitionError {
    DefinitionError {
        field: field.into(),
        message: message.into(),
    }
}

/// The `{holder}` names of a URL, in order.
pub fn holders(url: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = url;
    while let Some(start) = rest.find('{') {
        let after = &rest[start + 1..];
        match after.find('}') {
            Some(end) => {
                found.push(after[..end].to_owned());
                rest = &after[end + 1..];
            }
            None => break,
        }
    }
    found
}

/// Only https, except on loopback (a CRM on the same host, tests).
fn check_url(field: &str, raw: &str) -> Result<Url, DefinitionError> {
    let url = Url::parse(raw).map_err(|e| invalid(field, format!("`{raw}` is not a URL ({e})")))?;
    let loopback = match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        scheme => {
            return Err(invalid(
                field,
                format!("must be an https URL (http only on a loopback address), got a {scheme} URL"),
            ));
        }
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid(
            field,
            "must not carry credentials; use the site's auth section",
        ));
    }
    Ok(url)
}

fn check_name(field: &str, name: &str) -> Result<(), DefinitionError> {
    if name.trim().is_empty() || name.len() > 100 || name.chars().any(char::is_control) {
        return Err(invalid(
            field,
            "must be 1 to 100 characters without control characters",
        ));
    }
    Ok(())
}

impl Site {
    /// The site on its own (not the campaigns that use it).
    pub fn validate(&self) -> Result<(), DefinitionError> {
        check_name("name", &self.name)?;
        let field = |f: &str| format!("sites.{}.{f}", self.name);
        let holders = holders(&self.url);
        let mut seen = BTreeSet::new();
        for holder in &holders {
            if holder.is_empty()
                || !holder
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                return Err(invalid(
                    field("url"),
                    format!("the holder `{{{holder}}}` must be letters, digits, `_` or `-`"),
                ));
            }
            if !seen.insert(holder.as_str()) {
                return Err(invalid(
                    field("url"),
                    format!("the holder `{{{holder}}}` appears twice"),
                ));
            }
        }
        // Holders go in the path only: the scheme and host are checked with them filled in.
        let filled = fill_holders(&self.url, |_| "x".to_owned());
        check_url(&field("url"), &filled)?;
        if let Some(authority_end) = self.url.find("://").map(|i| i + 3)
            && self.url[authority_end..]
                .split(['/', '?', '#'])
                .next()
                .is_some_and(|host| host.contains('{'))
        {
            return Err(invalid(
                field("url"),
                "holders belong in the path, not in the host",
            ));
        }
        if self
            .url
            .split_once('?')
            .is_some_and(|(_, query)| query.contains('{'))
        {
            return Err(invalid(
                field("url"),
                "holders belong in the path, not in the query",
            ));
        }
        if self.method == Method::Post
            && self.format == Format::Json
            && matches!(self.trigger, Trigger::Automatic | Trigger::Agent)
        {
            return Err(invalid(
                field("format"),
                "a browser cannot open a JSON POST: use another format, or trigger server or disposition",
            ));
        }
        if let Some(auth) = &self.auth {
            check_url(&field("auth.token_url"), &auth.token_url)?;
            if auth.username.is_empty() {
                return Err(invalid(field("auth.username"), "must not be empty"));
            }
            if auth.token_field.is_empty() {
                return Err(invalid(field("auth.token_field"), "must not be empty"));
            }
            if auth.token_lifetime_secs == 0 {
                return Err(invalid(field("auth.token_lifetime_secs"), "must be at least 1"));
            }
            if !self.trigger.is_server_side() {
                return Err(invalid(
                    field("auth"),
                    "token authentication is for requests the server sends (trigger server or \
                     disposition); the agent's browser cannot hold the site's credentials",
                ));
            }
        }
        Ok(())
    }

    /// As stored in the database (the password included).
    pub fn to_stored(&self) -> Value {
        let mut value = self.view();
        if let Some(auth) = &self.auth {
            value["auth"]["password"] = json!(auth.password.expose_secret());
        }
        value
    }

    /// As an operator sees it: everything but the password.
    pub fn view(&self) -> Value {
        let mut value = json!({
            "name": self.name,
            "url": self.url,
            "trigger": self.trigger,
            "method": self.method,
            "format": self.format,
            "target": self.target,
        });
        if let Some(auth) = &self.auth {
            value["auth"] = json!({
                "token_url": auth.token_url,
                "username": auth.username,
                "token_field": auth.token_field,
                "token_lifetime_secs": auth.token_lifetime_secs,
            });
        }
        value
    }
}

/// `url` with each `{holder}` replaced by `value(holder)`.
pub fn fill_holders(url: &str, mut value: impl FnMut(&str) -> String) -> String {
    let mut out = String::with_capacity(url.len());
    let mut rest = url;
    while let Some(start) = rest.find('{') {
        let after = &rest[start + 1..];
        let Some(end) = after.find('}') else { break };
        out.push_str(&rest[..start]);
        out.push_str(&value(&after[..end]));
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

/// What a campaign binding is checked against.
pub struct CampaignFacts<'a> {
    /// `None`: no such campaign.
    pub campaign: Option<&'a crate::telephony::config::CampaignConfig>,
    pub site: Option<&'a Site>,
    /// The columns of the campaign's contact database; `None` when it has no contacts yet
    /// (nothing to check against).
    pub columns: Option<BTreeSet<String>>,
}

impl CampaignCrm {
    /// Checks the binding against its campaign, site and contact database.
    pub fn validate(&self, facts: &CampaignFacts<'_>) -> Result<(), DefinitionError> {
        let field = |f: &str| format!("campaigns.{}.{f}", self.campaign);
        let Some(campaign) = facts.campaign else {
            return Err(invalid(
                field("campaign"),
                format!("no campaign {} is configured", self.campaign),
            ));
        };
        let Some(site) = facts.site else {
            return Err(invalid(
                field("site"),
                format!("no external site is named `{}`", self.site),
            ));
        };
        self.validate_params()?;
        for (i, param) in self.params.iter().enumerate() {
            if param.family == Family::Contact
                && let Some(columns) = &facts.columns
                && !CONTACT_FIXED_COLUMNS.contains(&param.source.as_str())
                && !columns.contains(&param.source)
            {
                let known: Vec<&str> = CONTACT_FIXED_COLUMNS
                    .iter()
                    .copied()
                    .chain(columns.iter().map(String::as_str))
                    .collect();
                return Err(invalid(
                    field(&format!("params[{i}].source")),
                    format!(
                        "`{}` is not a column of contact database {} (its columns: {})",
                        param.source,
                        campaign.database_id,
                        known.join(", ")
                    ),
                ));
            }
        }
        for holder in holders(&site.url) {
            if !self.params.iter().any(|p| p.name == holder) {
                return Err(invalid(
                    field("params"),
                    format!(
                        "the URL of site `{}` has the holder `{{{holder}}}` but no parameter is named `{holder}`",
                        site.name
                    ),
                ));
            }
        }
        for (i, d) in self.dispositions.iter().enumerate() {
            let known = campaign
                .categories
                .iter()
                .find(|c| c.id == d.category)
                .is_some_and(|c| c.subcategories.iter().any(|s| s.id == d.subcategory));
            if !known {
                return Err(invalid(
                    field(&format!("dispositions[{i}]")),
                    format!(
                        "campaign {} has no disposition {} / {}",
                        self.campaign, d.category, d.subcategory
                    ),
                ));
            }
        }
        if site.trigger == Trigger::Disposition && self.dispositions.is_empty() {
            return Err(invalid(
                field("dispositions"),
                format!(
                    "site `{}` is invoked on disposition: mark at least one disposition",
                    site.name
                ),
            ));
        }
        Ok(())
    }

    /// The parameters on their own: known families and sources, unique names.
    pub fn validate_params(&self) -> Result<(), DefinitionError> {
        let mut names = BTreeSet::new();
        for (i, param) in self.params.iter().enumerate() {
            let field = |f: &str| format!("campaigns.{}.params[{i}].{f}", self.campaign);
            check_name(&field("name"), &param.name)?;
            if !names.insert(param.name.as_str()) {
                return Err(invalid(field("name"), format!("`{}` is sent twice", param.name)));
            }
            let allowed: Option<&[&str]> = match param.family {
                Family::Campaign => Some(CAMPAIGN_SOURCES),
                Family::Call => Some(CALL_SOURCES),
                Family::Disposition => Some(DISPOSITION_SOURCES),
                Family::Contact | Family::Fixed | Family::Dialplan => None,
            };
            if let Some(allowed) = allowed
                && !allowed.contains(&param.source.as_str())
            {
                return Err(invalid(
                    field("source"),
                    format!(
                        "`{}` is not a {} parameter (one of: {})",
                        param.source,
                        serde_json::to_value(param.family)
                            .ok()
                            .and_then(|v| v.as_str().map(str::to_owned))
                            .unwrap_or_default(),
                        allowed.join(", ")
                    ),
                ));
            }
            match param.family {
                Family::Contact | Family::Dialplan if param.source.trim().is_empty() => {
                    return Err(invalid(field("source"), "must name a column or a variable"));
                }
                Family::Dialplan
                    if !param
                        .source
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_') =>
                {
                    return Err(invalid(
                        field("source"),
                        "a channel variable's name is letters, digits and `_`",
                    ));
                }
                _ => {}
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site(url: &str, trigger: Trigger) -> Site {
        Site {
            name: "acme".into(),
            url: url.into(),
            trigger,
            method: Method::Get,
            format: Format::Json,
            target: Target::Embedded,
            auth: None,
        }
    }

    #[test]
    fn holders_are_found_in_order() {
        assert_eq!(
            holders("https://crm.example.com/{idClient}/{idCamp}/{lang}/{recordingFile}"),
            ["idClient", "idCamp", "lang", "recordingFile"]
        );
        assert!(holders("https://crm.example.com/x").is_empty());
    }

    #[test]
    fn a_site_must_use_https_outside_loopback() {
        let e = site("http://crm.example.com/x", Trigger::Server)
            .validate()
            .unwrap_err();
        assert_eq!(e.field, "sites.acme.url");
        assert!(e.message.contains("https"), "{e}");
        site("http://127.0.0.1:9/x", Trigger::Server).validate().unwrap();
        site("http://localhost/x", Trigger::Server).validate().unwrap();
        site("https://crm.example.com/{a}/b", Trigger::Server)
            .validate()
            .unwrap();
        let e = site("https://{a}.example.com/", Trigger::Server)
            .validate()
            .unwrap_err();
        assert!(e.message.contains("path"), "{e}");
        let e = site("https://crm.example.com/{a}/{a}", Trigger::Server)
            .validate()
            .unwrap_err();
        assert!(e.message.contains("twice"), "{e}");
    }

    #[test]
    fn a_browser_trigger_cannot_post_json_nor_hold_credentials() {
        let mut s = site("https://crm.example.com/", Trigger::Agent);
        s.method = Method::Post;
        assert_eq!(s.validate().unwrap_err().field, "sites.acme.format");
        s.format = Format::FormUrlencoded;
        s.validate().unwrap();
        s.auth = Some(SiteAuth {
            token_url: "https://crm.example.com/token".into(),
            username: "u".into(),
            password: "p".to_owned().into(),
            token_field: "token".into(),
            token_lifetime_secs: 60,
        });
        assert_eq!(s.validate().unwrap_err().field, "sites.acme.auth");
    }

    #[test]
    fn the_password_is_never_in_the_view() {
        let mut s = site("https://crm.example.com/", Trigger::Server);
        s.auth = Some(SiteAuth {
            token_url: "https://crm.example.com/token".into(),
            username: "u".into(),
            password: "s3cret".to_owned().into(),
            token_field: "token".into(),
            token_lifetime_secs: 60,
        });
        assert!(!s.view().to_string().contains("s3cret"));
        assert!(!format!("{s:?}").contains("s3cret"));
        assert!(s.to_stored().to_string().contains("s3cret"));
        let back: Site = serde_json::from_value(s.to_stored()).unwrap();
        assert_eq!(back, s);
    }
}
