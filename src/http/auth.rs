//! Typed guards for handlers: [`AgentSession`] (any logged-in user, from
//! `Authorization: Bearer <session token>`), [`SupervisorSession`] (the supervisor role),
//! [`AdminToken`] (the admin token: the simulation API and admin endpoints that change
//! something) and [`OperatorToken`] (the read-only operator token: `/metrics`, `GET /admin/…`).
//!
//! A handler that takes one of them cannot run without the authorization it names.

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;

use actix_web::http::StatusCode;
use actix_web::http::header::AUTHORIZATION;
use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use secrecy::SecretString;
use sha2::{Digest, Sha256};

use super::ApiError;
use super::ratelimit::FailureLimiter;
use super::session::Session;
use super::state::ApiState;
use crate::telephony::Role;

/// The admin token of the demo roster (public, like the demo password).
pub const DEMO_ADMIN_TOKEN: &str = "demo-admin";

/// The operator token of the demo roster (public, like the demo password).
pub const DEMO_OPERATOR_TOKEN: &str = "demo-operator";

/// The `Authorization: Bearer` token of a request (the scheme in any case, RFC 9110). Two
/// `Authorization` headers are refused (400): which one to believe is not ours to guess.
pub fn bearer(req: &HttpRequest) -> Result<&str, ApiError> {
    let mut headers = req.headers().get_all(AUTHORIZATION);
    let header = headers.next().ok_or_else(|| {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "missing_token",
            "send `Authorization: Bearer <token>` (the token from Login)",
        )
    })?;
    if headers.next().is_some() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "ambiguous_authorization",
            "send one Authorization header, not several",
        ));
    }
    let value = header.to_str().map_err(|_| invalid_token())?;
    let token = value
        .trim()
        .split_once([' ', '\t'])
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "missing_token",
                "the Authorization header must be `Bearer <token>`",
            )
        })?;
    Ok(token)
}

pub fn invalid_token() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "invalid_token",
        "the session token is unknown, expired or revoked: log in again",
    )
}

pub fn state_of(req: &HttpRequest) -> Result<web::Data<ApiState>, ApiError> {
    req.app_data::<web::Data<ApiState>>().cloned().ok_or_else(|| {
        tracing::error!("the HTTP API state is not registered");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "the server is not ready",
        )
    })
}

/// Looks a session token up; the errors are the API's.
pub async fn authenticate(state: &ApiState, token: &str) -> Result<Session, ApiError> {
    match state.sessions.find(token).await {
        Ok(Some(session)) => Ok(session),
        Ok(None) => Err(invalid_token()),
        Err(e) => {
            tracing::error!(error = %e, "session lookup failed");
            Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "store_unavailable",
                "sessions cannot be checked right now; retry shortly",
            ))
        }
    }
}

type Fut<T> = Pin<Box<dyn Future<Output = Result<T, ApiError>>>>;

/// A logged-in agent or supervisor (the session of the bearer token).
#[derive(Debug, Clone)]
pub struct AgentSession(pub Session);

impl FromRequest for AgentSession {
    type Error = ApiError;
    type Future = Fut<Self>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let found = state_of(req).and_then(|state| Ok((state, bearer(req)?.to_owned())));
        Box::pin(async move {
            let (state, token) = found?;
            Ok(AgentSession(authenticate(&state, &token).await?))
        })
    }
}

/// A logged-in supervisor: monitor, assist, list agents.
#[derive(Debug, Clone)]
pub struct SupervisorSession(pub Session);

impl SupervisorSession {
    pub fn from_session(session: Session) -> Result<Self, ApiError> {
        if session.role == Role::Supervisor {
            Ok(SupervisorSession(session))
        } else {
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "this needs the supervisor role",
            ))
        }
    }
}

impl FromRequest for SupervisorSession {
    type Error = ApiError;
    type Future = Fut<Self>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let agent = AgentSession::from_request(req, payload);
        Box::pin(async move { SupervisorSession::from_session(agent.await?.0) })
    }
}

/// The admin token was presented: the simulation API and the admin endpoints that change
/// something.
#[derive(Debug, Clone, Copy)]
pub struct AdminToken;

impl FromRequest for AdminToken {
    type Error = ApiError;
    type Future = Fut<Self>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let found = state_of(req).and_then(|state| Ok((state, bearer(req)?.to_owned())));
        let address = super::neoapi::client_address(req);
        Box::pin(async move {
            let (state, token) = found?;
            state.admin.verify(&token, &address).await?;
            Ok(AdminToken)
        })
    }
}

/// The operator token was presented: read-only endpoints (`/metrics`, `GET /admin/…`).
#[derive(Debug, Clone, Copy)]
pub struct OperatorToken;

impl FromRequest for OperatorToken {
    type Error = ApiError;
    type Future = Fut<Self>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let found = state_of(req).and_then(|state| Ok((state, bearer(req)?.to_owned())));
        let address = super::neoapi::client_address(req);
        Box::pin(async move {
            let (state, token) = found?;
            state.operator.verify(&token, &address).await?;
            Ok(OperatorToken)
        })
    }
}

/// Which token a guard accepts.
enum Accepted {
    /// None configured: the endpoints are off.
    Disabled,
    /// The demo roster's public token.
    Demo(&'static str),
    /// The argon2 PHC hash of the configured token.
    Hash {
        phc: String,
        /// SHA-256 of the last token that verified, so argon2 runs once, not per request.
        verified: Mutex<Option<[u8; 32]>>,
    },
}

/// A guard of a configured token (admin, operator, intake): failed attempts are limited per
/// client address like logins, and counted before the token is checked.
pub struct TokenGuard {
    /// What the token is called in messages ("admin token").
    name: &'static str,
    /// The configuration key that sets it, for the message when none is configured.
    key: &'static str,
    accepted: Accepted,
    failures: FailureLimiter,
}

impl TokenGuard {
    /// `hash` when configured; else `demo` (the demo roster's public token) or nothing.
    pub fn new(
        name: &'static str,
        key: &'static str,
        hash: Option<String>,
        demo: Option<&'static str>,
        failures: FailureLimiter,
    ) -> Self {
        let accepted = match (hash, demo) {
            (Some(phc), _) => Accepted::Hash {
                phc,
                verified: Mutex::new(None),
            },
            (None, Some(token)) => Accepted::Demo(token),
            (None, None) => Accepted::Disabled,
        };
        TokenGuard {
            name,
            key,
            accepted,
            failures,
        }
    }

    /// Checks `token`, presented from `address`.
    pub async fn verify(&self, token: &str, address: &str) -> Result<(), ApiError> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Accepted::Hash { verified, .. } = &self.accepted
            && *verified.lock().unwrap_or_else(|p| p.into_inner()) == Some(digest)
        {
            return Ok(());
        }
        if matches!(self.accepted, Accepted::Disabled) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "admin_disabled",
                format!(
                    "no {} is configured: set {} (ctibridge hash-password)",
                    self.name, self.key
                ),
            ));
        }
        let limiter = [(&self.failures, address)];
        super::neoapi::begin_attempt(
            &limiter,
            "too many wrong tokens from this address; wait before trying again",
        )?;
        let ok = match &self.accepted {
            Accepted::Disabled => false,
            Accepted::Demo(expected) => {
                let expected: [u8; 32] = Sha256::digest(expected.as_bytes()).into();
                digest == expected
            }
            Accepted::Hash { phc, verified } => {
                let checked =
                    crate::password::verify(SecretString::from(token.to_owned()), phc.clone()).await;
                match checked {
                    Ok(true) => {
                        *verified.lock().unwrap_or_else(|p| p.into_inner()) = Some(digest);
                        true
                    }
                    Ok(false) => false,
                    Err(crate::password::Busy) => {
                        super::neoapi::forgive_attempt(&limiter);
                        return Err(super::neoapi::busy());
                    }
                }
            }
        };
        if ok {
            super::neoapi::forgive_attempt(&limiter);
            Ok(())
        } else {
            Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                format!("wrong {}", self.name),
            ))
        }
    }
}
