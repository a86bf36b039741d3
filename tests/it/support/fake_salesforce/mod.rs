//! A fake Salesforce org over real HTTP, for tests and benchmarks: the OAuth2 token endpoint
//! (JWT bearer with signature and claim checks, client credentials, refresh token with
//! rotation), SOQL query with paging, SOSL search, sObject create / read / update / upsert by
//! external id, Composite and sObject Collections — with the status codes and error bodies the
//! REST API documents (`[{"message","errorCode","fields"}]`, collections' `statusCode`), an
//! `Sforce-Limit-Info` header on every data answer, request counters, and failure switches (an
//! expired session, an outage, UNABLE_TO_LOCK_ROW, latency).

pub mod soql;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::{Map, Value, json};

use soql::{Literal, parse_soql, parse_sosl};

pub type Fields = Map<String, Value>;

/// Credentials and behaviour of the fake org.
#[derive(Debug, Clone)]
pub struct FakeConfig {
    pub client_id: String,
    pub client_secret: String,
    pub username: String,
    /// PEM public key that verifies JWT assertions.
    pub public_key_pem: Vec<u8>,
    /// Refresh tokens accepted at start.
    pub refresh_tokens: Vec<String>,
    /// Each refresh returns a new refresh token and invalidates the old one.
    pub rotate_refresh_tokens: bool,
    /// Records per query page.
    pub page_size: usize,
    /// The daily API allocation reported in `Sforce-Limit-Info`.
    pub api_max: u64,
}

impl Default for FakeConfig {
    fn default() -> Self {
        Self {
            client_id: "3MVG9fake.consumer.key".into(),
            client_secret: "fake-consumer-secret".into(),
            username: "integration@ctibridge.test".into(),
            public_key_pem: std::fs::read(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/fixtures/salesforce/test-only-rsa-key.pub.pem"
            ))
            .expect("test public key"),
            refresh_tokens: vec!["5Aep861-initial-refresh".into()],
            rotate_refresh_tokens: true,
            page_size: 2000,
            api_max: 15_000,
        }
    }
}

/// Path of the private key the fake trusts.
pub const TEST_PRIVATE_KEY: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/salesforce/test-only-rsa-key.pem"
);
/// A private key the fake does not trust.
pub const UNTRUSTED_PRIVATE_KEY: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/salesforce/other-rsa-key.pem"
);

#[derive(Debug, Default)]
struct Failures {
    /// The next data request finds every access token expired.
    expire_sessions_once: bool,
    /// Every data request answers 503 while set.
    unavailable: bool,
    /// The next N record writes fail with UNABLE_TO_LOCK_ROW.
    lock_row: usize,
    /// Writes whose field equals the value fail a validation rule.
    validation_rule: Option<(String, Value)>,
    latency: Duration,
    /// Token requests answer 503 while set.
    token_endpoint_down: bool,
    /// The next data request answers 200 with a body that is not JSON.
    garbage_once: bool,
}

#[derive(Default)]
struct State {
    objects: BTreeMap<String, Vec<Fields>>,
    access_tokens: HashSet<String>,
    refresh_tokens: HashSet<String>,
    counters: HashMap<String, u64>,
    api_used: u64,
    failures: Failures,
    /// Created or changed through the API and not yet in the search index.
    unindexed: HashSet<String>,
    next_id: u64,
    query_cursors: HashMap<String, Vec<Fields>>,
}

struct Shared {
    config: FakeConfig,
    url: String,
    state: Mutex<State>,
}

/// A running fake org. Dropping it stops the server.
pub struct FakeSalesforce {
    pub url: String,
    shared: Arc<Shared>,
    handle: actix_web::dev::ServerHandle,
}

impl Drop for FakeSalesforce {
    fn drop(&mut self) {
        let handle = self.handle.clone();
        // Stop without waiting: drop may run outside a runtime.
        drop(handle.stop(false));
    }
}

/// Schema of the fake org: writable fields per sObject, external-id fields, key prefixes.
fn schema(sobject: &str) -> Option<(&'static str, &'static [&'static str], &'static [&'static str])> {
    const NEO: [&str; 4] = ["neoSyncId__c", "neoContactId__c", "neoBaseId__c", "neoCrmId__c"];
    let _ = NEO;
    Some(match sobject {
        "Task" => (
            "00T",
            &[
                "Subject",
                "Status",
                "Priority",
                "TaskSubtype",
                "CallType",
                "CallDisposition",
                "CallDurationInSeconds",
                "CallObject",
                "Description",
                "WhoId",
                "WhatId",
                "ActivityDate",
                "OwnerId",
                "ctiCallId__c",
            ],
            &["ctiCallId__c"],
        ),
        "Contact" => (
            "003",
            &[
                "FirstName",
                "LastName",
                "Phone",
                "MobilePhone",
                "Email",
                "AccountId",
                "neoSyncId__c",
                "neoContactId__c",
                "neoBaseId__c",
                "neoCrmId__c",
                "OwnerId",
            ],
            &["neoSyncId__c"],
        ),
        "Account" => (
            "001",
            &[
                "Name",
                "Phone",
                "neoSyncId__c",
                "neoContactId__c",
                "neoBaseId__c",
                "neoCrmId__c",
                "OwnerId",
            ],
            &["neoSyncId__c"],
        ),
        "Lead" => (
            "00Q",
            &[
                "FirstName",
                "LastName",
                "Company",
                "Phone",
                "MobilePhone",
                "neoSyncId__c",
                "neoContactId__c",
                "neoBaseId__c",
                "neoCrmId__c",
                "OwnerId",
            ],
            &["neoSyncId__c"],
        ),
        "Opportunity" => (
            "006",
            &[
                "Name",
                "AccountId",
                "StageName",
                "CloseDate",
                "neoSyncId__c",
                "neoContactId__c",
                "neoBaseId__c",
                "neoCrmId__c",
                "OwnerId",
            ],
            &["neoSyncId__c"],
        ),
        _ => return None,
    })
}

const PHONE_FIELDS: &[&str] = &["Phone", "MobilePhone"];
const READ_ONLY: &[&str] = &["Id", "Name", "CreatedDate", "LastModifiedDate"];

/// An error item, REST style.
fn item(code: &str, message: impl Into<String>, fields: &[&str]) -> Value {
    json!({ "message": message.into(), "errorCode": code, "fields": fields })
}

/// An HTTP error answer with one item.
struct Refusal {
    status: StatusCode,
    items: Vec<Value>,
}

impl Refusal {
    fn new(status: u16, code: &str, message: impl Into<String>, fields: &[&str]) -> Self {
        Self {
            status: StatusCode::from_u16(status).unwrap(),
            items: vec![item(code, message, fields)],
        }
    }

    /// The collections / composite form: `statusCode` instead of `errorCode`.
    fn collection_errors(&self) -> Vec<Value> {
        self.items
            .iter()
            .map(|i| json!({ "statusCode": i["errorCode"], "message": i["message"], "fields": i["fields"] }))
            .collect()
    }
}

impl State {
    fn count(&mut self, what: &str) {
        *self.counters.entry(what.to_owned()).or_default() += 1;
    }

    fn new_id(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        // 18 characters like a real Id: 3-character key prefix, pod "5g0", sequence.
        format!("{prefix}5g0{:012}", self.next_id)
    }

    fn find(&self, sobject: &str, id: &str) -> Option<usize> {
        let id = id18(id);
        self.objects
            .get(sobject)?
            .iter()
            .position(|r| r.get("Id").and_then(Value::as_str) == Some(id.as_str()))
    }

    /// Checks field names and values of a write; `creating` allows create-only fields.
    fn check_fields(&mut self, sobject: &str, fields: &Fields, creating: bool) -> Result<(), Refusal> {
        let (_, writable, _) = schema(sobject)
            .ok_or_else(|| Refusal::new(404, "NOT_FOUND", "The requested resource does not exist", &[]))?;
        for (name, value) in fields {
            if name == "attributes" {
                continue;
            }
            if READ_ONLY.contains(&name.as_str()) && !writable.contains(&name.as_str()) {
                return Err(Refusal::new(
                    400,
                    "INVALID_FIELD_FOR_INSERT_UPDATE",
                    format!(
                        "Unable to create/update fields: {name}. Please check the security settings of this field and verify that it is read/write for your profile or permission set."
                    ),
                    &[name],
                ));
            }
            if !writable.contains(&name.as_str()) {
                return Err(Refusal::new(
                    400,
                    "INVALID_FIELD",
                    format!("No such column '{name}' on sobject of type {sobject}"),
                    &[],
                ));
            }
            if sobject == "Task" && name == "TaskSubtype" && !creating {
                return Err(Refusal::new(
                    400,
                    "INVALID_FIELD_FOR_INSERT_UPDATE",
                    "Unable to create/update fields: TaskSubtype. Please check the security settings of this field and verify that it is read/write for your profile or permission set.",
                    &["TaskSubtype"],
                ));
            }
            if sobject == "Task" && name == "CallType" {
                let ok =
                    matches!(value.as_str(), Some("Inbound" | "Outbound" | "Internal")) || value.is_null();
                if !ok {
                    return Err(Refusal::new(
                        400,
                        "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                        format!(
                            "Call Type: bad value for restricted picklist field: {}",
                            value.as_str().unwrap_or(&value.to_string())
                        ),
                        &["CallType"],
                    ));
                }
            }
            if let Some(text) = value.as_str()
                && text.chars().count() > 255
                && matches!(name.as_str(), "CallDisposition" | "CallObject" | "Subject")
            {
                return Err(Refusal::new(
                    400,
                    "STRING_TOO_LONG",
                    format!("{name}: data value too large: {text}"),
                    &[name],
                ));
            }
            if matches!(name.as_str(), "WhoId" | "WhatId" | "AccountId" | "OwnerId")
                && let Some(text) = value.as_str()
                && !looks_like_id(text)
            {
                return Err(Refusal::new(
                    400,
                    "MALFORMED_ID",
                    format!("{name}: id value of incorrect type: {text}"),
                    &[name],
                ));
            }
        }
        if let Some((field, bad)) = &self.failures.validation_rule
            && fields.get(field) == Some(bad)
        {
            return Err(Refusal::new(
                400,
                "FIELD_CUSTOM_VALIDATION_EXCEPTION",
                format!("{field} is not allowed to be {bad}"),
                &[field],
            ));
        }
        if self.failures.lock_row > 0 {
            self.failures.lock_row -= 1;
            return Err(Refusal::new(
                400,
                "UNABLE_TO_LOCK_ROW",
                "unable to obtain exclusive access to this record or 1 records",
                &[],
            ));
        }
        Ok(())
    }

    fn create(&mut self, sobject: &str, fields: &Fields) -> Result<String, Refusal> {
        self.check_fields(sobject, fields, true)?;
        let (prefix, _, external) = schema(sobject).expect("checked");
        for ext in external {
            if let Some(value) = fields.get(*ext).filter(|v| !v.is_null())
                && !self.matches_external(sobject, ext, value).is_empty()
            {
                return Err(Refusal::new(
                    400,
                    "DUPLICATE_VALUE",
                    format!(
                        "duplicate value found: {ext} duplicates value on record with id: {}",
                        self.matches_external(sobject, ext, value)[0]
                    ),
                    &[ext],
                ));
            }
        }
        let id = self.new_id(prefix);
        let mut record = Fields::new();
        record.insert("Id".into(), json!(id));
        for (k, v) in fields {
            if k != "attributes" {
                record.insert(k.clone(), v.clone());
            }
        }
        refresh_name(sobject, &mut record);
        self.objects.entry(sobject.to_owned()).or_default().push(record);
        self.unindexed.insert(id.clone());
        Ok(id)
    }

    fn update(&mut self, sobject: &str, id: &str, fields: &Fields) -> Result<(), Refusal> {
        if schema(sobject).is_none() {
            return Err(Refusal::new(
                404,
                "NOT_FOUND",
                "The requested resource does not exist",
                &[],
            ));
        }
        let prefix = schema(sobject).unwrap().0;
        if !looks_like_id(id) || !id.starts_with(prefix) {
            return Err(Refusal::new(
                400,
                "MALFORMED_ID",
                format!("{sobject} ID: id value of incorrect type: {id}"),
                &["Id"],
            ));
        }
        let index = self
            .find(sobject, id)
            .ok_or_else(|| Refusal::new(404, "ENTITY_IS_DELETED", "entity is deleted", &[]))?;
        self.check_fields(sobject, fields, false)?;
        let record = &mut self.objects.get_mut(sobject).unwrap()[index];
        for (k, v) in fields {
            if k != "attributes" && k != "Id" {
                record.insert(k.clone(), v.clone());
            }
        }
        refresh_name(sobject, record);
        let id = record["Id"].as_str().unwrap().to_owned();
        self.unindexed.insert(id);
        Ok(())
    }

    fn matches_external(&self, sobject: &str, field: &str, value: &Value) -> Vec<String> {
        self.objects
            .get(sobject)
            .map(|records| {
                records
                    .iter()
                    .filter(|r| r.get(field).is_some_and(|v| same_value(v, value)))
                    .map(|r| r["Id"].as_str().unwrap().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Upsert: (status, id, created).
    fn upsert(
        &mut self,
        sobject: &str,
        field: &str,
        value: &str,
        fields: &Fields,
    ) -> Result<(u16, String, bool), Refusal> {
        let Some((_, _, external)) = schema(sobject) else {
            return Err(Refusal::new(
                404,
                "NOT_FOUND",
                "The requested resource does not exist",
                &[],
            ));
        };
        if !external.contains(&field) && field != "Id" {
            return Err(Refusal::new(
                404,
                "NOT_FOUND",
                format!("Provided external ID field does not exist or is not accessible: {field}"),
                &[],
            ));
        }
        if let Some(body_value) = fields.get(field)
            && !same_value(body_value, &Value::String(value.to_owned()))
        {
            return Err(Refusal::new(
                400,
                "INVALID_FIELD",
                format!("{field}: external id in the body does not match the URL"),
                &[field],
            ));
        }
        let matches = self.matches_external(sobject, field, &Value::String(value.to_owned()));
        match matches.len() {
            0 => {
                let mut with_key = fields.clone();
                with_key.insert(field.to_owned(), Value::String(value.to_owned()));
                let id = self.create(sobject, &with_key)?;
                Ok((201, id, true))
            }
            1 => {
                let mut without_key = fields.clone();
                without_key.remove(field);
                self.update(sobject, &matches[0], &without_key)?;
                Ok((200, matches[0].clone(), false))
            }
            _ => Err(Refusal {
                status: StatusCode::MULTIPLE_CHOICES,
                items: matches
                    .iter()
                    .map(|id| json!(format!("/services/data/v62.0/sobjects/{sobject}/{id}")))
                    .collect(),
            }),
        }
    }
}

fn refresh_name(sobject: &str, record: &mut Fields) {
    if matches!(sobject, "Contact" | "Lead") {
        let first = record
            .get("FirstName")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let last = record
            .get("LastName")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        record.insert("Name".into(), json!(format!("{first} {last}").trim().to_owned()));
    }
}

/// External ids compare as text: `123` and `"123"` are the same key.
fn same_value(a: &Value, b: &Value) -> bool {
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n
            .as_f64()
            .map(|f| {
                if f.fract() == 0.0 {
                    format!("{}", f as i64)
                } else {
                    f.to_string()
                }
            })
            .unwrap_or_default(),
        other => other.to_string(),
    };
    !a.is_null() && !b.is_null() && text(a) == text(b)
}

fn looks_like_id(id: &str) -> bool {
    (id.len() == 15 || id.len() == 18) && id.chars().all(|c| c.is_ascii_alphanumeric())
}

fn id18(id: &str) -> String {
    id.to_owned()
}

fn digits(s: &str) -> String {
    s.chars().filter(char::is_ascii_digit).collect()
}

impl FakeSalesforce {
    /// The `[salesforce]` table of a server's configuration file on this org: the JWT bearer
    /// flow with the default credentials and the key the fake trusts (more keys may follow).
    pub fn jwt_bearer_toml(&self) -> String {
        let defaults = FakeConfig::default();
        format!(
            r#"[salesforce]
flow = "jwt_bearer"
login_url = "{url}"
my_domain_url = "{url}"
client_id = "{client_id}"
username = "{username}"
private_key_path = "{key}""#,
            url = self.url,
            client_id = defaults.client_id,
            username = defaults.username,
            key = TEST_PRIVATE_KEY,
        )
    }

    pub async fn start() -> FakeSalesforce {
        Self::start_with(FakeConfig::default()).await
    }

    pub async fn start_with(config: FakeConfig) -> FakeSalesforce {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let state = State {
            refresh_tokens: config.refresh_tokens.iter().cloned().collect(),
            ..State::default()
        };
        let shared = Arc::new(Shared {
            config,
            url: url.clone(),
            state: Mutex::new(state),
        });
        let data = web::Data::from(shared.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .app_data(web::PayloadConfig::new(16 * 1024 * 1024))
                .route("/services/oauth2/token", web::post().to(token))
                .default_service(web::to(data_api))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .unwrap()
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        FakeSalesforce { url, shared, handle }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.shared.state.lock().unwrap()
    }

    /// Adds a record directly (as if typed in the org; searchable at once). Returns its Id.
    pub fn insert(&self, sobject: &str, fields: Value) -> String {
        let mut state = self.state();
        let fields = fields.as_object().cloned().unwrap_or_default();
        let id = state
            .create(sobject, &fields)
            .unwrap_or_else(|r| panic!("fixture record refused: {:?}", r.items));
        state.unindexed.remove(&id);
        id
    }

    /// Every record of `sobject`.
    pub fn records(&self, sobject: &str) -> Vec<Fields> {
        self.state().objects.get(sobject).cloned().unwrap_or_default()
    }

    pub fn record(&self, sobject: &str, id: &str) -> Option<Fields> {
        let state = self.state();
        state.find(sobject, id).map(|i| state.objects[sobject][i].clone())
    }

    /// Requests served per kind: "token", "query", "search", "sobjects", "composite",
    /// "collections".
    pub fn requests(&self, kind: &str) -> u64 {
        self.state().counters.get(kind).copied().unwrap_or(0)
    }

    /// API calls counted against the daily allocation (the token endpoint does not count).
    pub fn api_calls(&self) -> u64 {
        self.state().api_used
    }

    pub fn set_api_used(&self, used: u64) {
        self.state().api_used = used;
    }

    /// The next data request finds every access token expired (401 INVALID_SESSION_ID).
    pub fn expire_sessions(&self) {
        self.state().failures.expire_sessions_once = true;
    }

    /// While `down`, every data request answers 503.
    pub fn set_unavailable(&self, down: bool) {
        self.state().failures.unavailable = down;
    }

    pub fn set_token_endpoint_down(&self, down: bool) {
        self.state().failures.token_endpoint_down = down;
    }

    /// The next `n` record writes fail with UNABLE_TO_LOCK_ROW.
    pub fn lock_rows(&self, n: usize) {
        self.state().failures.lock_row = n;
    }

    /// Writes setting `field` to `value` fail a validation rule (a permanent error).
    pub fn reject_writes_where(&self, field: &str, value: Value) {
        self.state().failures.validation_rule = Some((field.to_owned(), value));
    }

    pub fn set_latency(&self, latency: Duration) {
        self.state().failures.latency = latency;
    }

    /// The next data request answers 200 with an HTML body.
    pub fn answer_garbage_once(&self) {
        self.state().failures.garbage_once = true;
    }

    /// Adds a record without any check (to build states the API would refuse, such as two
    /// records sharing an external id).
    pub fn insert_unchecked(&self, sobject: &str, fields: Value) -> String {
        let mut state = self.state();
        let prefix = schema(sobject).map(|s| s.0).unwrap_or("a00");
        let id = state.new_id(prefix);
        let mut record = fields.as_object().cloned().unwrap_or_default();
        record.insert("Id".into(), json!(id));
        state.objects.entry(sobject.to_owned()).or_default().push(record);
        id
    }

    /// Puts every record into the SOSL index (Salesforce does this after a delay).
    pub fn index_now(&self) {
        self.state().unindexed.clear();
    }

    /// Refresh tokens currently valid.
    pub fn valid_refresh_tokens(&self) -> Vec<String> {
        self.state().refresh_tokens.iter().cloned().collect()
    }
}

fn json_answer(status: StatusCode, body: Value, api_used: Option<(u64, u64)>) -> HttpResponse {
    let mut response = HttpResponse::build(status);
    if let Some((used, max)) = api_used {
        response.insert_header(("Sforce-Limit-Info", format!("api-usage={used}/{max}")));
    }
    response.json(body)
}

async fn token(shared: web::Data<Shared>, form: web::Form<HashMap<String, String>>) -> HttpResponse {
    let refuse = |error: &str, description: &str| {
        HttpResponse::BadRequest().json(json!({ "error": error, "error_description": description }))
    };
    let latency = shared.state.lock().unwrap().failures.latency;
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let mut state = shared.state.lock().unwrap();
    state.count("token");
    if state.failures.token_endpoint_down {
        return HttpResponse::ServiceUnavailable().body("<html><body>Service Unavailable</body></html>");
    }
    let config = &shared.config;
    let mut new_refresh = None;
    match form.get("grant_type").map(String::as_str) {
        Some("urn:ietf:params:oauth:grant-type:jwt-bearer") => {
            let Some(assertion) = form.get("assertion") else {
                return refuse("invalid_request", "assertion missing");
            };
            let Ok(key) = jsonwebtoken::DecodingKey::from_rsa_pem(&config.public_key_pem) else {
                return refuse("invalid_client", "no certificate");
            };
            let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
            validation.set_audience(&[
                shared.url.as_str(),
                "https://login.salesforce.com",
                "https://test.salesforce.com",
            ]);
            validation.set_issuer(&[config.client_id.as_str()]);
            validation.set_required_spec_claims(&["exp", "aud", "iss", "sub"]);
            let claims = match jsonwebtoken::decode::<Value>(assertion, &key, &validation) {
                Ok(data) => data.claims,
                Err(e) => {
                    use jsonwebtoken::errors::ErrorKind;
                    return match e.kind() {
                        ErrorKind::InvalidIssuer => refuse("invalid_client_id", "client identifier invalid"),
                        ErrorKind::ExpiredSignature => refuse("invalid_grant", "expired authorization code"),
                        ErrorKind::InvalidAudience => refuse("invalid_grant", "audience is invalid"),
                        _ => refuse("invalid_grant", "invalid assertion"),
                    };
                }
            };
            if claims["aud"] != json!(shared.url) {
                return refuse("invalid_grant", "audience is invalid");
            }
            if claims["sub"] != json!(config.username) {
                return refuse("invalid_grant", "user hasn't approved this consumer");
            }
        }
        Some("client_credentials") => {
            if form.get("client_id") != Some(&config.client_id)
                || form.get("client_secret") != Some(&config.client_secret)
            {
                return refuse("invalid_client", "invalid client credentials");
            }
        }
        Some("refresh_token") => {
            let given = form.get("refresh_token").cloned().unwrap_or_default();
            if form.get("client_id") != Some(&config.client_id) {
                return refuse("invalid_client_id", "client identifier invalid");
            }
            if !state.refresh_tokens.contains(&given) {
                return refuse("invalid_grant", "expired access/refresh token");
            }
            if config.rotate_refresh_tokens {
                state.refresh_tokens.remove(&given);
                let rotated = format!("5Aep861-rotated-{}", rand::random::<u64>());
                state.refresh_tokens.insert(rotated.clone());
                new_refresh = Some(rotated);
            }
        }
        Some(other) => {
            return refuse(
                "unsupported_grant_type",
                &format!("grant type not supported: {other}"),
            );
        }
        None => return refuse("invalid_request", "grant_type missing"),
    }
    let access = format!("00D5g0000000001!AQ{}", rand::random::<u64>());
    state.access_tokens.insert(access.clone());
    let mut answer = json!({
        "access_token": access,
        "instance_url": shared.url,
        "id": format!("{}/id/00D5g0000000001EAA/0055g0000000001AAA", shared.url),
        "token_type": "Bearer",
        "issued_at": chrono::Utc::now().timestamp_millis().to_string(),
        "signature": "c2lnbmF0dXJlLW9mLXRoZS1mYWtlLW9yZw==",
        "scope": "api",
    });
    if let Some(rotated) = new_refresh {
        answer["refresh_token"] = json!(rotated);
    }
    HttpResponse::Ok().json(answer)
}

/// Every `/services/data/…` request.
async fn data_api(shared: web::Data<Shared>, request: HttpRequest, body: web::Bytes) -> HttpResponse {
    let latency = shared.state.lock().unwrap().failures.latency;
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let mut state = shared.state.lock().unwrap();
    let max = shared.config.api_max;
    let path = request.path().to_owned();
    let Some(rest) = path
        .strip_prefix("/services/data/")
        .and_then(|r| r.split_once('/'))
        .map(|(_, rest)| format!("/{rest}"))
    else {
        return json_answer(
            StatusCode::NOT_FOUND,
            json!([item("NOT_FOUND", "The requested resource does not exist", &[])]),
            None,
        );
    };
    if state.failures.expire_sessions_once {
        state.failures.expire_sessions_once = false;
        state.access_tokens.clear();
    }
    let token = request
        .headers()
        .get("Authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default()
        .to_owned();
    if !state.access_tokens.contains(&token) {
        state.count("unauthorized");
        return json_answer(
            StatusCode::UNAUTHORIZED,
            json!([item("INVALID_SESSION_ID", "Session expired or invalid", &[])]),
            None,
        );
    }
    if state.failures.unavailable {
        state.count("unavailable");
        return json_answer(
            StatusCode::SERVICE_UNAVAILABLE,
            json!([item(
                "SERVER_UNAVAILABLE",
                "Server temporarily unavailable. Please try again later.",
                &[]
            )]),
            None,
        );
    }
    state.api_used += 1;
    let used = Some((state.api_used, max));
    if state.failures.garbage_once {
        state.failures.garbage_once = false;
        return HttpResponse::Ok()
            .content_type("text/html")
            .body("<html><body>Maintenance</body></html>");
    }
    let query: HashMap<String, String> = url::form_urlencoded::parse(request.query_string().as_bytes())
        .into_owned()
        .collect();
    let body_json: Option<Value> = if body.is_empty() {
        None
    } else {
        match serde_json::from_slice(&body) {
            Ok(v) => Some(v),
            Err(e) => {
                return json_answer(
                    StatusCode::BAD_REQUEST,
                    json!([item(
                        "JSON_PARSER_ERROR",
                        format!("Unexpected character: {e}"),
                        &[]
                    )]),
                    used,
                );
            }
        }
    };
    let method = request.method().as_str().to_owned();
    let segments: Vec<&str> = rest
        .trim_start_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let (status, answer) = match (method.as_str(), segments.as_slice()) {
        ("GET", ["query"]) => {
            state.count("query");
            run_query(
                &mut state,
                &shared,
                query.get("q").map(String::as_str).unwrap_or_default(),
            )
        }
        ("GET", ["query", locator]) => {
            state.count("query");
            next_page(&mut state, &shared, locator)
        }
        ("GET", ["search"]) => {
            state.count("search");
            run_search(&state, query.get("q").map(String::as_str).unwrap_or_default())
        }
        ("POST", ["composite"]) => {
            state.count("composite");
            composite(&mut state, &shared, body_json)
        }
        ("POST" | "PATCH", ["composite", "sobjects", rest @ ..]) => {
            state.count("collections");
            collections(&mut state, &method, rest, body_json)
        }
        (_, ["sobjects", ..]) => {
            state.count("sobjects");
            let (status, answer) = sobject_request(&mut state, &method, &segments[1..], body_json);
            (status, answer)
        }
        _ => (
            StatusCode::NOT_FOUND,
            json!([item("NOT_FOUND", "The requested resource does not exist", &[])]),
        ),
    };
    if status == StatusCode::NO_CONTENT {
        let mut response = HttpResponse::NoContent();
        response.insert_header(("Sforce-Limit-Info", format!("api-usage={}/{max}", state.api_used)));
        return response.finish();
    }
    json_answer(status, answer, used)
}

fn refusal_answer(r: Refusal) -> (StatusCode, Value) {
    (r.status, Value::Array(r.items))
}

/// `/sobjects/{type}[/{id} | /{field}/{value}]`.
fn sobject_request(
    state: &mut State,
    method: &str,
    segments: &[&str],
    body: Option<Value>,
) -> (StatusCode, Value) {
    let fields = body.and_then(|b| b.as_object().cloned()).unwrap_or_default();
    let decode = |s: &str| percent_decode(s);
    match (method, segments) {
        ("POST", [sobject]) => match state.create(sobject, &fields) {
            Ok(id) => (
                StatusCode::CREATED,
                json!({ "id": id, "success": true, "errors": [] }),
            ),
            Err(r) => refusal_answer(r),
        },
        ("GET", [sobject, id]) => match state.find(sobject, id) {
            Some(i) => {
                let mut record = state.objects[*sobject][i].clone();
                record.insert("attributes".into(), json!({ "type": sobject, "url": format!("/services/data/v62.0/sobjects/{sobject}/{id}") }));
                (StatusCode::OK, Value::Object(record))
            }
            None => (
                StatusCode::NOT_FOUND,
                json!([item("NOT_FOUND", "The requested resource does not exist", &[])]),
            ),
        },
        ("PATCH", [sobject, id]) => match state.update(sobject, &decode(id), &fields) {
            Ok(()) => (StatusCode::NO_CONTENT, Value::Null),
            Err(r) => refusal_answer(r),
        },
        ("PATCH", [sobject, field, value]) => match state.upsert(sobject, field, &decode(value), &fields) {
            Ok((status, id, created)) => (
                StatusCode::from_u16(status).unwrap(),
                json!({ "id": id, "success": true, "errors": [], "created": created }),
            ),
            Err(r) => refusal_answer(r),
        },
        _ => (
            StatusCode::METHOD_NOT_ALLOWED,
            json!([item(
                "METHOD_NOT_ALLOWED",
                format!("HTTP Method '{method}' not allowed"),
                &[]
            )]),
        ),
    }
}

fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("v={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

fn run_query(state: &mut State, shared: &Shared, q: &str) -> (StatusCode, Value) {
    let soql = match parse_soql(q) {
        Ok(s) => s,
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                json!([item("MALFORMED_QUERY", format!("unexpected token: {e}"), &[])]),
            );
        }
    };
    let Some((_, writable, _)) = schema(&soql.sobject) else {
        return (
            StatusCode::BAD_REQUEST,
            json!([item(
                "INVALID_TYPE",
                format!("sObject type '{}' is not supported.", soql.sobject),
                &[]
            )]),
        );
    };
    let known = |f: &str| writable.contains(&f) || READ_ONLY.contains(&f);
    for field in soql
        .fields
        .iter()
        .chain(soql.filter.iter().flatten().map(|c| &c.field))
    {
        if !known(field) {
            return (
                StatusCode::BAD_REQUEST,
                json!([item(
                    "INVALID_FIELD",
                    format!("No such column '{field}' on entity '{}'.", soql.sobject),
                    &[]
                )]),
            );
        }
    }
    let records = state.objects.get(&soql.sobject).cloned().unwrap_or_default();
    let mut found: Vec<Fields> = records
        .into_iter()
        .filter(|r| {
            soql.filter.is_empty()
                || soql.filter.iter().any(|all| {
                    all.iter().all(|c| {
                        c.values.iter().any(|lit| {
                            let actual = r.get(&c.field).cloned().unwrap_or(Value::Null);
                            match lit {
                                Literal::Null => actual.is_null(),
                                Literal::Text(t) => same_value(&actual, &json!(t)),
                                Literal::Number(n) => same_value(&actual, &json!(n)),
                            }
                        })
                    })
                })
        })
        .map(|r| {
            let mut out = Fields::new();
            let id = r["Id"].as_str().unwrap_or_default().to_owned();
            out.insert("attributes".into(), json!({ "type": soql.sobject, "url": format!("/services/data/v62.0/sobjects/{}/{id}", soql.sobject) }));
            for f in &soql.fields {
                out.insert(f.clone(), r.get(f).cloned().unwrap_or(Value::Null));
            }
            out
        })
        .collect();
    if let Some(limit) = soql.limit {
        found.truncate(limit);
    }
    page(state, shared, found)
}

fn page(state: &mut State, shared: &Shared, mut records: Vec<Fields>) -> (StatusCode, Value) {
    let total = records.len();
    let size = shared.config.page_size.max(1);
    if records.len() <= size {
        return (
            StatusCode::OK,
            json!({ "totalSize": total, "done": true, "records": records }),
        );
    }
    let rest = records.split_off(size);
    let locator = format!("01g5g00000{:08}-{size}", state.next_id);
    state.next_id += 1;
    state.query_cursors.insert(locator.clone(), rest);
    (
        StatusCode::OK,
        json!({
            "totalSize": total,
            "done": false,
            "nextRecordsUrl": format!("/services/data/v62.0/query/{locator}"),
            "records": records,
        }),
    )
}

fn next_page(state: &mut State, shared: &Shared, locator: &str) -> (StatusCode, Value) {
    match state.query_cursors.remove(locator) {
        Some(records) => {
            let (status, mut answer) = page(state, shared, records);
            answer["totalSize"] = json!(answer["records"].as_array().map(Vec::len).unwrap_or(0));
            (status, answer)
        }
        None => (
            StatusCode::BAD_REQUEST,
            json!([item("INVALID_QUERY_LOCATOR", "invalid query locator", &[])]),
        ),
    }
}

fn run_search(state: &State, q: &str) -> (StatusCode, Value) {
    let sosl = match parse_sosl(q) {
        Ok(s) => s,
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                json!([item(
                    "MALFORMED_SEARCH",
                    format!("No search term found. {e}"),
                    &[]
                )]),
            );
        }
    };
    let term = digits(&sosl.term);
    if term.len() < 2 {
        return (
            StatusCode::BAD_REQUEST,
            json!([item(
                "INVALID_SEARCH",
                "search term must be longer than one character",
                &[]
            )]),
        );
    }
    let mut found = Vec::new();
    for (sobject, fields) in &sosl.returning {
        for record in state.objects.get(sobject).into_iter().flatten() {
            let id = record["Id"].as_str().unwrap_or_default();
            if state.unindexed.contains(id) {
                continue;
            }
            let hit = PHONE_FIELDS
                .iter()
                .filter_map(|f| record.get(*f).and_then(Value::as_str))
                .any(|phone| {
                    let phone = digits(phone);
                    !phone.is_empty() && (phone.ends_with(&term) || term.ends_with(&phone))
                });
            if hit {
                let mut out = Fields::new();
                out.insert("attributes".into(), json!({ "type": sobject, "url": format!("/services/data/v62.0/sobjects/{sobject}/{id}") }));
                for f in fields {
                    out.insert(f.clone(), record.get(f).cloned().unwrap_or(Value::Null));
                }
                found.push(Value::Object(out));
            }
        }
    }
    (StatusCode::OK, json!({ "searchRecords": found }))
}

fn composite(state: &mut State, _shared: &Shared, body: Option<Value>) -> (StatusCode, Value) {
    let body = body.unwrap_or_default();
    let all_or_none = body["allOrNone"].as_bool().unwrap_or(false);
    let Some(requests) = body["compositeRequest"].as_array().cloned() else {
        return (
            StatusCode::BAD_REQUEST,
            json!([item("JSON_PARSER_ERROR", "compositeRequest is required", &[])]),
        );
    };
    if requests.len() > 25 {
        return (
            StatusCode::BAD_REQUEST,
            json!([item(
                "LIMIT_EXCEEDED",
                format!(
                    "Composite request limit exceeded: {} subrequests, maximum 25",
                    requests.len()
                ),
                &[]
            )]),
        );
    }
    let collection_requests = requests
        .iter()
        .filter(|r| {
            r["url"]
                .as_str()
                .unwrap_or_default()
                .contains("/composite/sobjects")
        })
        .count();
    if collection_requests > 5 {
        return (
            StatusCode::BAD_REQUEST,
            json!([item(
                "LIMIT_EXCEEDED",
                format!(
                    "Composite request limit exceeded: {collection_requests} sObject Collections subrequests, maximum 5"
                ),
                &[]
            )]),
        );
    }
    let snapshot = state.objects.clone();
    let mut responses = Vec::new();
    let mut failed = false;
    for request in &requests {
        let method = request["method"].as_str().unwrap_or("GET").to_owned();
        let url = request["url"].as_str().unwrap_or_default().to_owned();
        let reference = request["referenceId"].clone();
        let rest = url
            .strip_prefix("/services/data/")
            .and_then(|r| r.split_once('/'))
            .map(|(_, r)| r.to_owned())
            .unwrap_or_default();
        let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
        let (status, answer) = match segments.as_slice() {
            ["sobjects", tail @ ..] => sobject_request(state, &method, tail, request.get("body").cloned()),
            // sObject Collections as a subrequest: the worker sends a round's chunks together.
            ["composite", "sobjects", tail @ ..] if matches!(method.as_str(), "POST" | "PATCH") => {
                state.count("composite_sobjects");
                collections(state, &method, tail, request.get("body").cloned())
            }
            _ => (
                StatusCode::NOT_FOUND,
                json!([item("NOT_FOUND", "The requested resource does not exist", &[])]),
            ),
        };
        failed |= status.as_u16() >= 400;
        responses.push(json!({ "body": if answer.is_null() { Value::Null } else { answer }, "httpHeaders": {}, "httpStatusCode": status.as_u16(), "referenceId": reference }));
    }
    if all_or_none && failed {
        state.objects = snapshot;
        for response in &mut responses {
            if response["httpStatusCode"].as_u64().unwrap_or(0) < 400 {
                response["httpStatusCode"] = json!(400);
                response["body"] = json!([item(
                    "PROCESSING_HALTED",
                    "The transaction was rolled back since another operation in the same transaction failed.",
                    &[]
                )]);
            }
        }
    }
    (StatusCode::OK, json!({ "compositeResponse": responses }))
}

fn collections(state: &mut State, method: &str, rest: &[&str], body: Option<Value>) -> (StatusCode, Value) {
    let body = body.unwrap_or_default();
    let Some(records) = body["records"].as_array().cloned() else {
        return (
            StatusCode::BAD_REQUEST,
            json!([item("JSON_PARSER_ERROR", "records is required", &[])]),
        );
    };
    if records.len() > 200 {
        return (
            StatusCode::BAD_REQUEST,
            json!([item(
                "EXCEEDED_ID_LIMIT",
                "record limit reached. cannot submit more than 200 records into this call",
                &[]
            )]),
        );
    }
    let all_or_none = body["allOrNone"].as_bool().unwrap_or(false);
    let snapshot = state.objects.clone();
    let mut results = Vec::new();
    let mut failed = false;
    for record in &records {
        let mut fields = record.as_object().cloned().unwrap_or_default();
        let sobject = fields
            .get("attributes")
            .and_then(|a| a["type"].as_str())
            .unwrap_or_default()
            .to_owned();
        fields.remove("attributes");
        let outcome: Result<(String, Option<bool>), Refusal> = match (method, rest) {
            ("POST", []) => state.create(&sobject, &fields).map(|id| (id, None)),
            ("PATCH", []) => {
                let id = fields
                    .remove("Id")
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default();
                state.update(&sobject, &id, &fields).map(|()| (id, None))
            }
            ("PATCH", [url_type, field]) => {
                if *url_type != sobject {
                    Err(Refusal::new(
                        400,
                        "INVALID_TYPE",
                        format!("record type {sobject} does not match {url_type}"),
                        &[],
                    ))
                } else {
                    let value = fields.get(*field).map(|v| match v {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    });
                    match value {
                        None => Err(Refusal::new(
                            400,
                            "MISSING_ARGUMENT",
                            format!("{field} not specified"),
                            &[],
                        )),
                        Some(value) => state
                            .upsert(&sobject, field, &value, &fields)
                            .map(|(_, id, created)| (id, Some(created))),
                    }
                }
            }
            _ => Err(Refusal::new(405, "METHOD_NOT_ALLOWED", "method not allowed", &[])),
        };
        match outcome {
            Ok((id, created)) => {
                let mut result = json!({ "id": id, "success": true, "errors": [] });
                if let Some(created) = created {
                    result["created"] = json!(created);
                }
                results.push(result);
            }
            Err(refusal) => {
                failed = true;
                results.push(json!({ "success": false, "errors": refusal.collection_errors() }));
            }
        }
    }
    if all_or_none && failed {
        state.objects = snapshot;
    }
    (StatusCode::OK, Value::Array(results))
}
