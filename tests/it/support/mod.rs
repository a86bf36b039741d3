//! Test support: fresh databases on both backends and a real server on port 0.

pub mod ami_double;
pub mod crm_server;
pub mod db;
pub mod fake_salesforce;
pub mod server;

/// A plain HTTP client for talking to servers under test.
pub fn http_client() -> reqwest::Client {
    ctibridge::install_tls_provider();
    reqwest::Client::new()
}

/// GET `url`.
pub async fn get(url: &str) -> reqwest::Response {
    http_client().get(url).send().await.expect("request sent")
}

/// The binary, with the test's own `CTIBRIDGE_*` and `RUST_LOG` variables removed so they do
/// not configure it.
pub fn ctibridge_command() -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_ctibridge"));
    for (key, _) in std::env::vars() {
        if key.starts_with("CTIBRIDGE_") || key == "RUST_LOG" {
            command.env_remove(key);
        }
    }
    command
}

/// The port a server's "listening … port=N" log line names (`None` for any other line).
pub fn listening_port(line: &str) -> Option<u16> {
    if !line.contains("listening") {
        return None;
    }
    line.split("port=")
        .nth(1)?
        .trim()
        .trim_end_matches(|c: char| !c.is_ascii_digit())
        .parse()
        .ok()
}
