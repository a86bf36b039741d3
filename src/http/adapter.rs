//! The Open CTI adapter page (`/softphone/`, the call-center XML's `reqAdapterUrl`) and, in
//! development mode, the local Lightning harness (`/dev/lightning`) that frames it.
//!
//! The files of `static/` are embedded in the binary, so the server serves them from any
//! working directory. Every page carries a Content-Security-Policy: the adapter may only be
//! framed by the configured Salesforce origins (`server.frame_ancestors`) and runs no inline
//! script; the harness exists only when `server.dev_mode` is on.

use std::hash::{DefaultHasher, Hash, Hasher};

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use include_dir::{Dir, include_dir};
use serde::Serialize;

use super::ApiError;
use crate::config::Config;

static STATIC: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/static");

/// What the adapter routes need from the configuration (app data).
#[derive(Debug, Clone)]
pub struct AdapterSettings {
    dev_mode: bool,
    /// The server writes the call's Task (Salesforce credentials configured); the adapter then
    /// never creates one with `saveLog`, which would log the call twice.
    server_logs_tasks: bool,
    frame_ancestors: Vec<String>,
    adapter_csp: String,
}

impl AdapterSettings {
    pub fn from_config(config: &Config) -> Self {
        let dev_mode = config.dev_mode();
        let frame_ancestors = config.server.frame_ancestors.clone();
        Self {
            adapter_csp: adapter_csp(&frame_ancestors, dev_mode),
            dev_mode,
            server_logs_tasks: config.salesforce.task_logger() == crate::salesforce::config::TaskLog::Server,
            frame_ancestors,
        }
    }

    pub fn dev_mode(&self) -> bool {
        self.dev_mode
    }

    /// The policy of the pages Salesforce may frame (the adapter, the dashboard).
    pub fn page_csp(&self) -> &str {
        &self.adapter_csp
    }
}

/// The adapter page's policy. Salesforce's `opencti_min.js` comes from the org's domain
/// (`*.force.com` / `*.salesforce.com`); everything else from this server. In development
/// mode the harness on this server's own origin may frame the page.
fn adapter_csp(frame_ancestors: &[String], dev_mode: bool) -> String {
    let mut ancestors: Vec<&str> = frame_ancestors.iter().map(String::as_str).collect();
    if dev_mode && !ancestors.contains(&"'self'") {
        ancestors.push("'self'");
    }
    let ancestors = if ancestors.is_empty() {
        "'none'".to_owned()
    } else {
        ancestors.join(" ")
    };
    format!(
        "default-src 'self'; script-src 'self' https://*.force.com https://*.salesforce.com; \
         style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; \
         base-uri 'none'; form-action 'none'; frame-ancestors {ancestors}"
    )
}

const HARNESS_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; frame-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; \
     frame-ancestors 'none'";

/// Registers `/softphone/…` and, when the settings say so at request time, `/dev/lightning…`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/softphone", web::get().to(softphone_redirect))
        .route("/softphone/", web::get().to(softphone_index))
        .route("/softphone/adapter-config.json", web::get().to(adapter_config))
        .route("/softphone/{file:.+}", web::get().to(softphone_file))
        .route("/dev/lightning", web::get().to(harness_index))
        .route(
            "/dev/lightning/support/api/{version}/lightning/opencti_min.js",
            web::get().to(harness_opencti),
        )
        .route("/dev/lightning/{file:.+}", web::get().to(harness_file));
}

/// `/softphone` → `/softphone/` with the query kept (Lightning appends `sfdcIframeOrigin`…).
async fn softphone_redirect(request: HttpRequest) -> HttpResponse {
    let query = request.query_string();
    let location = if query.is_empty() {
        "/softphone/".to_owned()
    } else {
        format!("/softphone/?{query}")
    };
    HttpResponse::PermanentRedirect()
        .insert_header((header::LOCATION, location))
        .finish()
}

async fn softphone_index(
    request: HttpRequest,
    settings: web::Data<AdapterSettings>,
    crm: Option<web::Data<super::crm::CrmState>>,
) -> HttpResponse {
    let origins = crm.map(|crm| crm_origins(&crm.registry)).unwrap_or_default();
    serve(
        &request,
        "softphone/index.html",
        &with_crm_origins(&settings.adapter_csp, &origins),
    )
}

/// The origins of the external sites the softphone opens (triggers automatic and agent).
fn crm_origins(registry: &crate::crm::CrmRegistry) -> Vec<String> {
    use crate::crm::model::{Trigger, fill_holders};
    let mut origins: Vec<String> = registry
        .current()
        .sites
        .values()
        .filter(|s| matches!(s.trigger, Trigger::Automatic | Trigger::Agent))
        .filter_map(|s| url::Url::parse(&fill_holders(&s.url, |_| "x".to_owned())).ok())
        .map(|u| u.origin().ascii_serialization())
        .filter(|o| o != "null")
        .collect();
    origins.sort();
    origins.dedup();
    origins
}

/// The adapter's policy letting the page frame those sites and post forms to them.
fn with_crm_origins(csp: &str, origins: &[String]) -> String {
    if origins.is_empty() {
        return csp.to_owned();
    }
    let list = origins.join(" ");
    format!(
        "{}; frame-src {list}",
        csp.replace("form-action 'none'", &format!("form-action {list}"))
    )
}

async fn softphone_file(
    request: HttpRequest,
    file: web::Path<String>,
    settings: web::Data<AdapterSettings>,
) -> HttpResponse {
    serve(&request, &format!("softphone/{file}"), &settings.adapter_csp)
}

/// What the page needs before it trusts the origin Lightning hands it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AdapterConfig<'a> {
    dev_mode: bool,
    /// `frame_ancestors`: the Salesforce origins the page may load `opencti_min.js` from.
    salesforce_origins: &'a [String],
    /// Who creates the call's Task when `saveActivityLog` is on: `server` (its outbox) or
    /// `adapter` (Open CTI `saveLog`, as the agent, when the server has no Salesforce access).
    task_log: &'static str,
}

async fn adapter_config(settings: web::Data<AdapterSettings>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(AdapterConfig {
            dev_mode: settings.dev_mode,
            salesforce_origins: &settings.frame_ancestors,
            task_log: if settings.server_logs_tasks {
                "server"
            } else {
                "adapter"
            },
        })
}

fn dev_only(settings: &AdapterSettings) -> Result<(), ApiError> {
    if settings.dev_mode {
        Ok(())
    } else {
        Err(not_found())
    }
}

async fn harness_index(
    request: HttpRequest,
    settings: web::Data<AdapterSettings>,
) -> Result<HttpResponse, ApiError> {
    dev_only(&settings)?;
    Ok(serve(&request, "dev/lightning.html", HARNESS_CSP))
}

/// The stand-in for Salesforce's `opencti_min.js`, whatever API version the page asks for.
async fn harness_opencti(
    request: HttpRequest,
    settings: web::Data<AdapterSettings>,
) -> Result<HttpResponse, ApiError> {
    dev_only(&settings)?;
    Ok(serve(&request, "dev/opencti_min.js", HARNESS_CSP))
}

async fn harness_file(
    request: HttpRequest,
    file: web::Path<String>,
    settings: web::Data<AdapterSettings>,
) -> Result<HttpResponse, ApiError> {
    dev_only(&settings)?;
    Ok(serve(&request, &format!("dev/{file}"), HARNESS_CSP))
}

fn not_found() -> ApiError {
    ApiError::new(
        actix_web::http::StatusCode::NOT_FOUND,
        "not_found",
        "no such page",
    )
}

/// One embedded file with its type, policy and a content hash as ETag (files change only with
/// the binary, so browsers revalidate cheaply and never run a stale adapter after an upgrade).
pub(super) fn serve(request: &HttpRequest, path: &str, csp: &str) -> HttpResponse {
    // `include_dir` lookups are by exact relative path: `..` or a leading `/` never match.
    let Some(file) = STATIC.get_file(path) else {
        return actix_web::ResponseError::error_response(&not_found());
    };
    let contents = file.contents();
    let etag = {
        let mut hasher = DefaultHasher::new();
        contents.hash(&mut hasher);
        format!("\"{:016x}\"", hasher.finish())
    };
    let not_modified = request
        .headers()
        .get(header::IF_NONE_MATCH)
        .is_some_and(|tag| tag.as_bytes() == etag.as_bytes());
    let mut response = if not_modified {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    response
        .insert_header((header::CONTENT_TYPE, content_type(path)))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header((header::ETAG, etag))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"));
    if let Ok(value) = HeaderValue::from_str(csp) {
        response.insert_header((header::CONTENT_SECURITY_POLICY, value));
    }
    if not_modified {
        response.finish()
    } else {
        response.body(contents)
    }
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        _ => "application/octet-stream",
    }
}
