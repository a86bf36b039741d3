//! The Salesforce REST client: SOQL query (with paging), SOSL search, sObject update, upsert
//! by external id, Composite (≤ 25 subrequests, one API call) and sObject Collections (≤ 200
//! records). Every answer's `Sforce-Limit-Info` feeds [`ApiUsage`]; a 401 INVALID_SESSION_ID
//! mints a new token and retries once.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use reqwest::Method;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::auth::{TokenCache, snippet, transport_error};
use super::error::{ApiErrorItem, SalesforceError};

/// Composite: at most 25 subrequests, counted as one API call.
pub const COMPOSITE_LIMIT: usize = 25;
/// sObject Collections (and query) subrequests one Composite request may carry.
pub const COMPOSITE_COLLECTIONS_LIMIT: usize = 5;
/// sObject Collections: at most 200 records a request.
pub const COLLECTION_LIMIT: usize = 200;

/// The org's daily API allocation as last reported by `Sforce-Limit-Info: api-usage=used/max`.
#[derive(Debug, Default)]
pub struct ApiUsage {
    used: AtomicU64,
    max: AtomicU64,
    /// Requests this process sent (every HTTP request to the data API, retries included).
    sent: AtomicU64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiUsageSnapshot {
    pub used: u64,
    pub max: u64,
    pub sent_by_this_process: u64,
}

impl ApiUsage {
    pub fn snapshot(&self) -> ApiUsageSnapshot {
        ApiUsageSnapshot {
            used: self.used.load(Ordering::Relaxed),
            max: self.max.load(Ordering::Relaxed),
            sent_by_this_process: self.sent.load(Ordering::Relaxed),
        }
    }

    /// Fraction of the daily allocation used, when known.
    pub fn fraction_used(&self) -> Option<f64> {
        let s = self.snapshot();
        (s.max > 0).then(|| s.used as f64 / s.max as f64)
    }

    fn record(&self, header: Option<&str>) {
        if let Some((used, max)) = header.and_then(parse_limit_info) {
            self.used.store(used, Ordering::Relaxed);
            self.max.store(max, Ordering::Relaxed);
        }
    }
}

/// Parses `api-usage=25/15000` (other `name=value` parts may be present, comma-separated).
pub fn parse_limit_info(header: &str) -> Option<(u64, u64)> {
    header.split(',').find_map(|part| {
        let value = part.trim().strip_prefix("api-usage=")?;
        let (used, max) = value.split_once('/')?;
        Some((used.trim().parse().ok()?, max.trim().parse().ok()?))
    })
}

/// A record as the API returns it: `attributes` plus fields.
pub type Record = Map<String, Value>;

/// The outcome of an upsert by external id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpsertOutcome {
    Created(String),
    Updated(String),
    /// 300: the external id matched several records; their URLs.
    MultipleMatches(Vec<String>),
}

/// One record's result in an sObject Collections answer.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct CollectionResult {
    #[serde(default)]
    pub id: Option<String>,
    pub success: bool,
    #[serde(default)]
    pub errors: Vec<ApiErrorItem>,
    #[serde(default)]
    pub created: Option<bool>,
}

/// One Composite subrequest.
#[derive(Debug, Clone, Serialize)]
pub struct Subrequest {
    pub method: String,
    /// Relative to the instance, e.g. `/services/data/v62.0/sobjects/Task/ctiCallId__c/42`.
    pub url: String,
    #[serde(rename = "referenceId")]
    pub reference_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
}

/// One Composite subresponse.
#[derive(Debug, Clone, Deserialize)]
pub struct Subresponse {
    #[serde(default)]
    pub body: Value,
    #[serde(rename = "httpStatusCode")]
    pub status: u16,
    #[serde(rename = "referenceId")]
    pub reference_id: String,
}

impl Subresponse {
    /// The subrequest's error items, if it failed.
    pub fn errors(&self) -> Vec<ApiErrorItem> {
        if self.status < 300 {
            return Vec::new();
        }
        serde_json::from_value(self.body.clone()).unwrap_or_else(|_| {
            vec![ApiErrorItem {
                message: self.body.to_string(),
                error_code: String::new(),
                fields: vec![],
            }]
        })
    }
}

pub struct SalesforceClient {
    http: reqwest::Client,
    tokens: TokenCache,
    api_version: String,
    usage: Arc<ApiUsage>,
}

/// An answer read in full.
struct Answer {
    status: u16,
    body: bytes::Bytes,
}

impl SalesforceClient {
    pub fn new(http: reqwest::Client, tokens: TokenCache, api_version: &str) -> Self {
        Self {
            http,
            tokens,
            api_version: api_version.to_owned(),
            usage: Arc::new(ApiUsage::default()),
        }
    }

    /// Obtains an access token now, so the first request that must be quick (an owner
    /// lookup) does not pay for it.
    pub async fn warm_up(&self) -> Result<(), SalesforceError> {
        self.tokens.get().await?;
        Ok(())
    }

    /// The HTTP client every Salesforce request uses: timeouts, TLS with the system roots.
    pub fn http_client() -> reqwest::Client {
        crate::install_tls_provider();
        reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60))
            .pool_idle_timeout(Duration::from_secs(60))
            .user_agent(concat!("ctibridge/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("HTTP client configuration is static")
    }

    pub fn usage(&self) -> Arc<ApiUsage> {
        self.usage.clone()
    }

    pub fn api_version(&self) -> &str {
        &self.api_version
    }

    /// `/services/data/vNN.0` + `rest`.
    pub fn data_path(&self, rest: &str) -> String {
        format!("/services/data/v{}{rest}", self.api_version)
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<Answer, SalesforceError> {
        let mut retried = false;
        loop {
            let token = self.tokens.get().await?;
            let url = token
                .instance_url
                .join(path)
                .map_err(|e| SalesforceError::Malformed {
                    status: 0,
                    detail: format!("cannot join `{path}` to the instance URL: {e}"),
                })?;
            let mut request = self
                .http
                .request(method.clone(), url)
                .bearer_auth(token.token.expose_secret())
                .header(reqwest::header::ACCEPT, "application/json");
            if !query.is_empty() {
                request = request.query(query);
            }
            if let Some(body) = body {
                request = request.json(body);
            }
            self.usage.sent.fetch_add(1, Ordering::Relaxed);
            let response = request
                .send()
                .await
                .map_err(|e| SalesforceError::Transport(transport_error(e)))?;
            let status = response.status().as_u16();
            self.usage.record(
                response
                    .headers()
                    .get("Sforce-Limit-Info")
                    .and_then(|v| v.to_str().ok()),
            );
            let body = response
                .bytes()
                .await
                .map_err(|e| SalesforceError::Transport(transport_error(e)))?;
            if status == 401 && !retried {
                // Expired or revoked session: mint a new token once.
                let errors: Vec<ApiErrorItem> = serde_json::from_slice(&body).unwrap_or_default();
                if errors.is_empty() || errors.iter().any(|e| e.error_code == "INVALID_SESSION_ID") {
                    tracing::info!(
                        flow = self.tokens.flow(),
                        "Salesforce session expired; obtaining a new token"
                    );
                    self.tokens.invalidate(&token).await;
                    retried = true;
                    continue;
                }
            }
            return Ok(Answer { status, body });
        }
    }

    /// Sends and turns a non-2xx answer into [`SalesforceError::Api`] (or `Malformed`).
    async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<Answer, SalesforceError> {
        let answer = self.send(method, path, query, body).await?;
        if (200..300).contains(&answer.status) || answer.status == 300 {
            return Ok(answer);
        }
        Err(api_error(answer.status, &answer.body))
    }

    fn json<T: serde::de::DeserializeOwned>(answer: &Answer) -> Result<T, SalesforceError> {
        serde_json::from_slice(&answer.body).map_err(|e| SalesforceError::Malformed {
            status: answer.status,
            detail: format!("{e}; body starts: {}", snippet(&answer.body)),
        })
    }

    /// SOQL, following `nextRecordsUrl` until `done`.
    pub async fn query(&self, soql: &str) -> Result<Vec<Record>, SalesforceError> {
        #[derive(Deserialize)]
        struct Page {
            done: bool,
            #[serde(rename = "nextRecordsUrl", default)]
            next: Option<String>,
            records: Vec<Record>,
        }
        let first = self
            .call(Method::GET, &self.data_path("/query"), &[("q", soql)], None)
            .await?;
        let mut page: Page = Self::json(&first)?;
        let mut records = std::mem::take(&mut page.records);
        while !page.done {
            let Some(next) = page.next.take() else {
                return Err(SalesforceError::Malformed {
                    status: 200,
                    detail: "query page has done=false but no nextRecordsUrl".to_owned(),
                });
            };
            let answer = self.call(Method::GET, &next, &[], None).await?;
            page = Self::json(&answer)?;
            records.append(&mut page.records);
        }
        Ok(records)
    }

    /// SOSL; the `searchRecords` of the answer.
    pub async fn search(&self, sosl: &str) -> Result<Vec<Record>, SalesforceError> {
        #[derive(Deserialize)]
        struct Found {
            #[serde(rename = "searchRecords")]
            search_records: Vec<Record>,
        }
        let answer = self
            .call(Method::GET, &self.data_path("/search"), &[("q", sosl)], None)
            .await?;
        Ok(Self::json::<Found>(&answer)?.search_records)
    }

    /// `PATCH /sobjects/{type}/{id}` → 204.
    pub async fn update(
        &self,
        sobject: &str,
        id: &str,
        fields: &Map<String, Value>,
    ) -> Result<(), SalesforceError> {
        let path = self.data_path(&format!("/sobjects/{}/{}", segment(sobject), segment(id)));
        self.call(Method::PATCH, &path, &[], Some(&Value::Object(fields.clone())))
            .await?;
        Ok(())
    }

    /// `PATCH /sobjects/{type}/{field}/{value}`: 201 created, 200 updated, 300 several matches.
    pub async fn upsert(
        &self,
        sobject: &str,
        external_field: &str,
        value: &str,
        fields: &Map<String, Value>,
    ) -> Result<UpsertOutcome, SalesforceError> {
        let path = self.data_path(&format!(
            "/sobjects/{}/{}/{}",
            segment(sobject),
            segment(external_field),
            segment(value)
        ));
        let answer = self
            .call(Method::PATCH, &path, &[], Some(&Value::Object(fields.clone())))
            .await?;
        match answer.status {
            300 => Ok(UpsertOutcome::MultipleMatches(Self::json(&answer)?)),
            201 => Ok(UpsertOutcome::Created(
                Self::json::<CollectionResult>(&answer)?.id.unwrap_or_default(),
            )),
            _ => {
                // v46+: 200 with a body; older versions: 204 without one.
                if answer.body.is_empty() {
                    Ok(UpsertOutcome::Updated(String::new()))
                } else {
                    let result: CollectionResult = Self::json(&answer)?;
                    Ok(UpsertOutcome::Updated(result.id.unwrap_or_default()))
                }
            }
        }
    }

    /// Composite: up to 25 subrequests in one API call. The top-level status is 200 whatever
    /// the subrequests did: look at each [`Subresponse`].
    pub async fn composite(
        &self,
        all_or_none: bool,
        requests: &[Subrequest],
    ) -> Result<Vec<Subresponse>, SalesforceError> {
        if requests.len() > COMPOSITE_LIMIT {
            return Err(SalesforceError::TooMany {
                what: "Composite subrequests",
                limit: COMPOSITE_LIMIT,
                got: requests.len(),
            });
        }
        #[derive(Deserialize)]
        struct Answered {
            #[serde(rename = "compositeResponse")]
            composite_response: Vec<Subresponse>,
        }
        let body = serde_json::json!({ "allOrNone": all_or_none, "compositeRequest": requests });
        let answer = self
            .call(Method::POST, &self.data_path("/composite"), &[], Some(&body))
            .await?;
        Ok(Self::json::<Answered>(&answer)?.composite_response)
    }

    /// sObject Collections upsert by external id: up to 200 records of one type, one result
    /// per record in order. `allOrNone` is false: one bad record does not fail the others.
    pub async fn upsert_collection(
        &self,
        sobject: &str,
        external_field: &str,
        records: &[Map<String, Value>],
    ) -> Result<Vec<CollectionResult>, SalesforceError> {
        self.collection(
            Method::PATCH,
            &format!(
                "/composite/sobjects/{}/{}",
                segment(sobject),
                segment(external_field)
            ),
            sobject,
            records,
        )
        .await
    }

    /// sObject Collections update: up to 200 records (each with its `Id`) of one type.
    pub async fn update_collection(
        &self,
        sobject: &str,
        records: &[Map<String, Value>],
    ) -> Result<Vec<CollectionResult>, SalesforceError> {
        self.collection(Method::PATCH, "/composite/sobjects", sobject, records)
            .await
    }

    async fn collection(
        &self,
        method: Method,
        rest: &str,
        sobject: &str,
        records: &[Map<String, Value>],
    ) -> Result<Vec<CollectionResult>, SalesforceError> {
        let body = collection_body(sobject, records)?;
        let answer = self.call(method, &self.data_path(rest), &[], Some(&body)).await?;
        let results: Vec<CollectionResult> = Self::json(&answer)?;
        check_results(answer.status, &results, records.len())?;
        Ok(results)
    }

    /// Several sObject Collections writes in one Composite request (one API call, one round
    /// trip): each becomes a subrequest, and each gets its own answer — its results, or the
    /// error its subrequest met. At most [`COMPOSITE_COLLECTIONS_LIMIT`] writes.
    pub async fn collections_together(
        &self,
        writes: &[CollectionWrite],
    ) -> Result<Vec<Result<Vec<CollectionResult>, SalesforceError>>, SalesforceError> {
        if writes.len() > COMPOSITE_COLLECTIONS_LIMIT {
            return Err(SalesforceError::TooMany {
                what: "sObject Collections subrequests in one Composite request",
                limit: COMPOSITE_COLLECTIONS_LIMIT,
                got: writes.len(),
            });
        }
        let mut requests = Vec::with_capacity(writes.len());
        for (i, write) in writes.iter().enumerate() {
            let (rest, sobject, records) = match write {
                CollectionWrite::Upsert {
                    sobject,
                    external_field,
                    records,
                } => (
                    format!(
                        "/composite/sobjects/{}/{}",
                        segment(sobject),
                        segment(external_field)
                    ),
                    sobject,
                    records,
                ),
                CollectionWrite::Update { sobject, records } => {
                    ("/composite/sobjects".to_owned(), sobject, records)
                }
            };
            requests.push(Subrequest {
                method: "PATCH".into(),
                url: self.data_path(&rest),
                reference_id: format!("w{i}"),
                body: Some(collection_body(sobject, records)?),
            });
        }
        let responses = self.composite(false, &requests).await?;
        if responses.len() != writes.len() {
            return Err(SalesforceError::Malformed {
                status: 200,
                detail: format!(
                    "{} subresponses for {} subrequests",
                    responses.len(),
                    writes.len()
                ),
            });
        }
        Ok(responses
            .into_iter()
            .zip(writes)
            .map(|(response, write)| {
                if response.status >= 300 {
                    return Err(SalesforceError::Api {
                        status: response.status,
                        errors: response.errors(),
                    });
                }
                let results: Vec<CollectionResult> =
                    serde_json::from_value(response.body).map_err(|e| SalesforceError::Malformed {
                        status: response.status,
                        detail: format!("collection results: {e}"),
                    })?;
                check_results(response.status, &results, write.len())?;
                Ok(results)
            })
            .collect())
    }
}

/// An sObject Collections write, to send alone or with others ([`SalesforceClient::collections_together`]).
#[derive(Debug, Clone)]
pub enum CollectionWrite {
    Upsert {
        sobject: String,
        external_field: String,
        records: Vec<Map<String, Value>>,
    },
    Update {
        sobject: String,
        records: Vec<Map<String, Value>>,
    },
}

impl CollectionWrite {
    pub fn len(&self) -> usize {
        match self {
            CollectionWrite::Upsert { records, .. } | CollectionWrite::Update { records, .. } => {
                records.len()
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The body of an sObject Collections write: `allOrNone` false, each record typed.
fn collection_body(sobject: &str, records: &[Map<String, Value>]) -> Result<Value, SalesforceError> {
    if records.len() > COLLECTION_LIMIT {
        return Err(SalesforceError::TooMany {
            what: "sObject Collections records",
            limit: COLLECTION_LIMIT,
            got: records.len(),
        });
    }
    let records: Vec<Value> = records
        .iter()
        .map(|fields| {
            let mut record = Map::new();
            record.insert("attributes".to_owned(), serde_json::json!({ "type": sobject }));
            record.extend(fields.clone());
            Value::Object(record)
        })
        .collect();
    Ok(serde_json::json!({ "allOrNone": false, "records": records }))
}

fn check_results(status: u16, results: &[CollectionResult], records: usize) -> Result<(), SalesforceError> {
    if results.len() != records {
        return Err(SalesforceError::Malformed {
            status,
            detail: format!("{} results for {records} records", results.len()),
        });
    }
    Ok(())
}

impl SalesforceClient {
    /// Sends one collection write alone.
    pub async fn collection_write(
        &self,
        write: &CollectionWrite,
    ) -> Result<Vec<CollectionResult>, SalesforceError> {
        match write {
            CollectionWrite::Upsert {
                sobject,
                external_field,
                records,
            } => self.upsert_collection(sobject, external_field, records).await,
            CollectionWrite::Update { sobject, records } => self.update_collection(sobject, records).await,
        }
    }
}

fn api_error(status: u16, body: &[u8]) -> SalesforceError {
    match serde_json::from_slice::<Vec<ApiErrorItem>>(body) {
        Ok(errors) => SalesforceError::Api { status, errors },
        Err(_) => SalesforceError::Malformed {
            status,
            detail: snippet(body),
        },
    }
}

/// A path segment, percent-encoded (external id values may contain anything).
fn segment(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_info_parses() {
        assert_eq!(parse_limit_info("api-usage=25/15000"), Some((25, 15000)));
        assert_eq!(
            parse_limit_info("per-app-api-usage=1/100(appName=x), api-usage=7/100"),
            Some((7, 100))
        );
        assert_eq!(parse_limit_info("garbage"), None);
    }

    #[test]
    fn segments_are_encoded() {
        assert_eq!(segment("a b/c"), "a%20b%2Fc");
        assert_eq!(segment("CA-123"), "CA-123");
    }
}
