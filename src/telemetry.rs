//! Logging: tracing with a human format by default or JSON lines by configuration. `RUST_LOG`,
//! when set, overrides the configured filter.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::FmtSpan;

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
        LogFormat::Human => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    installed.map_err(|e| anyhow::anyhow!("cannot install the log subscriber: {e}"))
}
