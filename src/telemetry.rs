//! Logging: tracing with a human format by default or JSON lines by configuration. `RUST_LOG`,
//! when set, overrides the configured filter.
//!
//! Log lines quote what clients send (paths, headers, user names). In the human format every
//! field's control characters are escaped (a newline cannot start a forged line, an escape
//! sequence cannot repaint the terminal); JSON lines escape them by nature. The request log
//! ([`RequestSpan`]) writes query strings with their values redacted: a token or a phone
//! number sent in a URL does not land in the log.

use std::fmt;
use std::io::IsTerminal;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use tracing::Span;
use tracing_actix_web::{DefaultRootSpanBuilder, RootSpanBuilder};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::{FmtSpan, Writer};

use crate::config::{LogConfig, LogFormat};

/// Installs the global subscriber. Returns an error if one is already installed.
pub fn init(config: &LogConfig) -> anyhow::Result<()> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(value) if !value.is_empty() => EnvFilter::try_new(&value)
            .map_err(|e| anyhow::anyhow!("RUST_LOG `{value}` is not a valid filter: {e}"))?,
        _ => EnvFilter::try_new(&config.filter)
            .map_err(|e| anyhow::anyhow!("log.filter `{}` is not a valid filter: {e}", config.filter))?,
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colours only for a terminal; pipes and files get plain text.
        .with_ansi(std::io::stderr().is_terminal())
        // Request spans (tracing-actix-web) are reported once, when the request completes.
        .with_span_events(FmtSpan::CLOSE);
    let installed = match config.format {
        LogFormat::Human => builder.fmt_fields(EscapedFields).try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    installed.map_err(|e| anyhow::anyhow!("cannot install the log subscriber: {e}"))
}

/// The human format's fields (tracing-subscriber's own rendering, without colours) with
/// control characters escaped.
struct EscapedFields;

impl<'w> tracing_subscriber::fmt::FormatFields<'w> for EscapedFields {
    fn format_fields<R: tracing_subscriber::field::RecordFields>(
        &self,
        mut writer: Writer<'w>,
        fields: R,
    ) -> fmt::Result {
        let mut rendered = String::new();
        tracing_subscriber::fmt::format::DefaultFields::new()
            .format_fields(Writer::new(&mut rendered), fields)?;
        writer.write_str(&crate::http::error::escape_controls(rendered))
    }
}

/// The request log's span: tracing-actix-web's fields, with the target's query values
/// redacted.
pub struct RequestSpan;

impl RootSpanBuilder for RequestSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        let route = request.match_pattern().unwrap_or_else(|| "default".to_owned());
        let user_agent = request
            .headers()
            .get(actix_web::http::header::USER_AGENT)
            .map(|h| String::from_utf8_lossy(h.as_bytes()).into_owned())
            .unwrap_or_default();
        let client_ip = request
            .connection_info()
            .realip_remote_addr()
            .unwrap_or("")
            .to_owned();
        // The target tracing-actix-web's own span has, so log filters keep working.
        tracing::info_span!(
            target: "tracing_actix_web::root_span_builder",
            "HTTP request",
            http.method = %request.method(),
            http.route = %route,
            http.client_ip = %client_ip,
            http.user_agent = %user_agent,
            http.target = %redacted_target(request.uri()),
            http.status_code = tracing::field::Empty,
            otel.kind = "server",
            otel.status_code = tracing::field::Empty,
            request_id = %request_id(request),
            exception.message = tracing::field::Empty,
            exception.details = tracing::field::Empty,
        )
    }

    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, actix_web::Error>) {
        DefaultRootSpanBuilder::on_request_end(span, outcome);
    }
}

/// The id the middleware gave the request (empty if none).
fn request_id(request: &ServiceRequest) -> String {
    use actix_web::HttpMessage;
    request
        .extensions()
        .get::<tracing_actix_web::RequestId>()
        .map(|id| id.to_string())
        .unwrap_or_default()
}

/// The path and query of `uri` with every query value replaced by `REDACTED`.
pub fn redacted_target(uri: &actix_web::http::Uri) -> String {
    let path = uri.path();
    match uri.query() {
        None => path.to_owned(),
        Some(query) => {
            let redacted: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((name, _)) => format!("{name}=REDACTED"),
                    None => pair.to_owned(),
                })
                .collect();
            format!("{path}?{}", redacted.join("&"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_redacted_names_kept() {
        let uri: actix_web::http::Uri = "/asterisk/intake?queue=97&token=s3cret&flag".parse().unwrap();
        assert_eq!(
            redacted_target(&uri),
            "/asterisk/intake?queue=REDACTED&token=REDACTED&flag"
        );
        let plain: actix_web::http::Uri = "/healthz".parse().unwrap();
        assert_eq!(redacted_target(&plain), "/healthz");
    }
}
