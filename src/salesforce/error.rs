//! Salesforce errors, typed: what the REST API said (`[{"message","errorCode","fields"}]`),
//! what the token endpoint said (`{"error","error_description"}`), or what went wrong on the
//! way. [`SalesforceError::is_transient`] decides between retrying later and parking a write
//! for an operator.

use serde::{Deserialize, Serialize};

/// One entry of a REST error body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiErrorItem {
    #[serde(default)]
    pub message: String,
    #[serde(rename = "errorCode", alias = "statusCode", default)]
    pub error_code: String,
    #[serde(default)]
    pub fields: Vec<String>,
}

impl ApiErrorItem {
    /// Salesforce sometimes wraps UNABLE_TO_LOCK_ROW inside another code's message.
    pub fn mentions(&self, code: &str) -> bool {
        self.error_code == code || self.message.contains(code)
    }
}

/// Error codes worth retrying later: contention, limits, maintenance.
const TRANSIENT_CODES: &[&str] = &[
    "UNABLE_TO_LOCK_ROW",
    "REQUEST_LIMIT_EXCEEDED",
    "SERVER_UNAVAILABLE",
    "QUERY_TIMEOUT",
    "REQUEST_RUNNING_TOO_LONG",
    "INVALID_SESSION_ID",
];

/// Whether one record-level error is transient.
pub fn is_transient_item(item: &ApiErrorItem) -> bool {
    TRANSIENT_CODES.iter().any(|code| item.mentions(code))
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("Salesforce refused the token request ({status}): {error}: {description}")]
    Rejected {
        status: u16,
        error: String,
        description: String,
    },
    #[error("cannot reach the Salesforce token endpoint: {0}")]
    Transport(String),
    #[error("the Salesforce token endpoint answered {status} with an unexpected body: {detail}")]
    Malformed { status: u16, detail: String },
    #[error("cannot sign the JWT assertion: {0}")]
    Signing(String),
}

impl AuthError {
    pub fn is_transient(&self) -> bool {
        match self {
            AuthError::Transport(_) => true,
            AuthError::Rejected { status, .. } | AuthError::Malformed { status, .. } => *status >= 500,
            AuthError::Signing(_) => false,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SalesforceError {
    #[error("Salesforce credentials are not configured")]
    NotConfigured,
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error("Salesforce answered {status}: {}", summarize(.errors))]
    Api { status: u16, errors: Vec<ApiErrorItem> },
    #[error("cannot reach Salesforce: {0}")]
    Transport(String),
    #[error("Salesforce answered {status} with a body that is not what the API documents: {detail}")]
    Malformed { status: u16, detail: String },
    #[error("{what}: at most {limit} per request, got {got}")]
    TooMany {
        what: &'static str,
        limit: usize,
        got: usize,
    },
}

fn summarize(errors: &[ApiErrorItem]) -> String {
    if errors.is_empty() {
        return "no error details".to_owned();
    }
    errors
        .iter()
        .map(|e| format!("{}: {}", e.error_code, e.message))
        .collect::<Vec<_>>()
        .join("; ")
}

impl SalesforceError {
    /// Retry later (backoff) rather than park for an operator.
    pub fn is_transient(&self) -> bool {
        match self {
            SalesforceError::NotConfigured | SalesforceError::Transport(_) => true,
            SalesforceError::Auth(e) => e.is_transient(),
            SalesforceError::Api { status, errors } => {
                matches!(status, 401 | 429 | 500 | 502 | 503 | 504) || errors.iter().any(is_transient_item)
            }
            // A proxy's HTML error page during an outage is transient; a 2xx we cannot read
            // will not improve by retrying.
            SalesforceError::Malformed { status, .. } => *status >= 500,
            SalesforceError::TooMany { .. } => false,
        }
    }

    /// The first error code, if Salesforce gave one.
    pub fn error_code(&self) -> Option<&str> {
        match self {
            SalesforceError::Api { errors, .. } => errors.first().map(|e| e.error_code.as_str()),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(status: u16, code: &str, message: &str) -> SalesforceError {
        SalesforceError::Api {
            status,
            errors: vec![ApiErrorItem {
                message: message.into(),
                error_code: code.into(),
                fields: vec![],
            }],
        }
    }

    #[test]
    fn transient_and_permanent_errors() {
        assert!(api(400, "UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access").is_transient());
        assert!(
            api(
                400,
                "CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY",
                "trigger: UNABLE_TO_LOCK_ROW, unable to obtain"
            )
            .is_transient(),
            "wrapped lock errors are transient"
        );
        assert!(api(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.").is_transient());
        assert!(api(503, "SERVER_UNAVAILABLE", "down").is_transient());
        assert!(!api(400, "INVALID_FIELD", "No such column").is_transient());
        assert!(!api(400, "MALFORMED_ID", "bad id").is_transient());
        assert!(!api(400, "FIELD_CUSTOM_VALIDATION_EXCEPTION", "rule").is_transient());
        assert!(
            SalesforceError::Malformed {
                status: 502,
                detail: "<html>".into()
            }
            .is_transient()
        );
        assert!(
            !SalesforceError::Malformed {
                status: 200,
                detail: "not json".into()
            }
            .is_transient()
        );
    }

    #[test]
    fn error_bodies_parse_as_documented() {
        let body = r#"[{"message":"Session expired or invalid","errorCode":"INVALID_SESSION_ID"}]"#;
        let items: Vec<ApiErrorItem> = serde_json::from_str(body).unwrap();
        assert_eq!(items[0].error_code, "INVALID_SESSION_ID");
        assert!(items[0].fields.is_empty());
        // Collections and composite results use statusCode.
        let body = r#"[{"statusCode":"MALFORMED_ID","message":"bad","fields":["Id"]}]"#;
        let items: Vec<ApiErrorItem> = serde_json::from_str(body).unwrap();
        assert_eq!(items[0].error_code, "MALFORMED_ID");
        assert_eq!(items[0].fields, ["Id"]);
    }
}
