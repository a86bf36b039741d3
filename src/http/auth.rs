//! Typed guards for handlers: [`AgentSession`] (any logged-in user, from
//! `Authorization: Bearer <session token>`), [`SupervisorSession`] (the supervisor role) and
//! [`AdminToken`] (the configured admin token, for `/sim/…` and admin endpoints).
//!
//! A handler that takes one of them cannot run without the authorization it names.

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;

use actix_web::http::StatusCode;
use actix_web::http::header::AUTHORIZATION;
use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use sha2::{Digest, Sha256};

use super::ApiError;
use super::session::Session;
use super::state::ApiState;
use crate::telephony::Role;

/// The admin token of the demo roster (public, like the demo password).
pub const DEMO_ADMIN_TOKEN: &str = "demo-admin";

/// The `Authorization: Bearer` token of a request, if any.
pub fn bearer(req: &HttpRequest) -> Result<&str, ApiError> {
    let header = req.headers().get(AUTHORIZATION).ok_or_else(|| {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "missing_token",
            "send `Authorization: Bearer <token>` (the token from Login)",
        )
    })?;
    let value = header.to_str().map_err(|_| invalid_token())?;
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .map(str::trim)
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

/// The admin token was presented.
#[derive(Debug, Clone, Copy)]
pub struct AdminToken;

impl FromRequest for AdminToken {
    type Error = ApiError;
    type Future = Fut<Self>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let found = state_of(req).and_then(|state| Ok((state, bearer(req)?.to_owned())));
        Box::pin(async move {
            let (state, token) = found?;
            state.admin.verify(&token).await?;
            Ok(AdminToken)
        })
    }
}

/// Which admin token is accepted.
pub enum AdminGuard {
    /// No admin token configured and a real roster: admin endpoints are off.
    Disabled,
    /// The demo roster: the public token `demo-admin`.
    Demo,
    /// The argon2 PHC hash of `server.admin_token_hash`.
    Hash {
        phc: String,
        /// SHA-256 of the last token that verified, so argon2 runs once, not per request.
        verified: Mutex<Option<[u8; 32]>>,
    },
}

impl AdminGuard {
    pub fn new(hash: Option<String>, demo: bool) -> Self {
        match (hash, demo) {
            (Some(phc), _) => AdminGuard::Hash {
                phc,
                verified: Mutex::new(None),
            },
            (None, true) => AdminGuard::Demo,
            (None, false) => AdminGuard::Disabled,
        }
    }

    pub async fn verify(&self, token: &str) -> Result<(), ApiError> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let wrong = || ApiError::new(StatusCode::UNAUTHORIZED, "invalid_token", "wrong admin token");
        match self {
            AdminGuard::Disabled => Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "admin_disabled",
                "no admin token is configured: set server.admin_token_hash (ctibridge hash-password)",
            )),
            AdminGuard::Demo => {
                let expected: [u8; 32] = Sha256::digest(DEMO_ADMIN_TOKEN.as_bytes()).into();
                if digest == expected { Ok(()) } else { Err(wrong()) }
            }
            AdminGuard::Hash { phc, verified } => {
                if *verified.lock().unwrap_or_else(|p| p.into_inner()) == Some(digest) {
                    return Ok(());
                }
                let (phc, token) = (phc.clone(), token.to_owned());
                let ok = tokio::task::spawn_blocking(move || {
                    crate::telephony::engine::roster::verify_password(&token, &phc)
                })
                .await
                .unwrap_or(false);
                if !ok {
                    return Err(wrong());
                }
                *verified.lock().unwrap_or_else(|p| p.into_inner()) = Some(digest);
                Ok(())
            }
        }
    }
}
