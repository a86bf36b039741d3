//! `/healthz` (the process answers) and `/readyz` (the database answers and has every
//! migration applied): for load balancers and orchestrators.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, get, web};
use serde_json::json;

use super::ApiError;
use crate::store::Store;

#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

#[get("/readyz")]
pub async fn readyz(store: web::Data<Store>) -> Result<HttpResponse, ApiError> {
    let readiness = store.readiness().await.map_err(|e| {
        tracing::warn!(error = %e, "readiness check: database unreachable");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "database_unavailable",
            e.to_string(),
        )
    })?;
    if !readiness.is_ready() {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "migrations_pending",
            format!(
                "{} of {} database migrations applied: run `ctibridge migrate`",
                readiness.applied_migrations, readiness.expected_migrations
            ),
        ));
    }
    Ok(HttpResponse::Ok().json(json!({
        "status": "ready",
        "database": readiness.backend,
        "migrations": readiness.applied_migrations,
    })))
}
