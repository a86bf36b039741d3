//! The binary as an operator runs it: `serve` on the embedded defaults, `migrate`, exit codes,
//! graceful stop on SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

fn ctibridge() -> Command {
    crate::support::ctibridge_command()
}

/// A server process that is killed if the test ends early (a failed assertion must not leave
/// it running).
struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

impl std::ops::Deref for Server {
    type Target = std::process::Child;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl std::ops::DerefMut for Server {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

#[test]
fn serve_on_the_embedded_defaults_answers_readyz_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Server(
        ctibridge()
            .args(["serve", "--bind", "127.0.0.1:0"])
            .current_dir(dir.path())
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );

    // The log line "listening … port=N" tells where it bound.
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let mut log = String::new();
    let port: u16 = loop {
        let line = lines.next().expect("server exited before listening").unwrap();
        log.push_str(&line);
        log.push('\n');
        if let Some(port) = crate::support::listening_port(&line) {
            break port;
        }
    };
    assert!(log.contains("no Salesforce credentials configured"), "{log}");
    assert!(
        dir.path().join("ctibridge.db").exists(),
        "SQLite file in the working directory"
    );

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let body: serde_json::Value = runtime.block_on(async {
        let response = crate::support::get(&format!("http://127.0.0.1:{port}/readyz")).await;
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    });
    assert_eq!(body["status"], "ready");

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = wait_with_timeout(&mut child, Duration::from_secs(20)).expect("server stops after SIGTERM");
    assert!(exit.success(), "graceful stop exits 0, got {exit:?}");
}

#[test]
fn json_logs_are_one_object_per_line() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Server(
        ctibridge()
            .args(["serve", "--bind", "127.0.0.1:0", "--log-format", "json"])
            .current_dir(dir.path())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let parsed: serde_json::Value = serde_json::from_str(&first).expect("a JSON log line");
    assert!(parsed.get("level").is_some(), "{first}");
    child.kill().unwrap();
    child.wait().unwrap();
}

/// Starts `serve` on port 0 in `dir` with the human log; returns the process, its port and
/// its log lines as they come.
fn serve_with_log(dir: &std::path::Path) -> (Server, u16, std::sync::mpsc::Receiver<String>) {
    let mut child = Server(
        ctibridge()
            .args(["serve", "--bind", "127.0.0.1:0", "--log-format", "human"])
            .current_dir(dir)
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let port = loop {
        let line = lines.next().expect("server exited before listening").unwrap();
        if let Some(port) = crate::support::listening_port(&line) {
            break port;
        }
    };
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    (child, port, receiver)
}

/// The log lines up to and including the first that contains `marker`.
fn log_until(log: &std::sync::mpsc::Receiver<String>, marker: &str) -> Vec<String> {
    let mut seen = Vec::new();
    loop {
        let line = log
            .recv_timeout(Duration::from_secs(10))
            .unwrap_or_else(|_| panic!("no log line with {marker:?} in:\n{}", seen.join("\n")));
        let found = line.contains(marker);
        seen.push(line);
        if found {
            return seen;
        }
    }
}

#[test]
fn a_path_with_a_newline_and_an_escape_character_forges_no_log_line() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, port, log) = serve_with_log(dir.path());
    let forged = "X%0A2026-01-01T00:00:00.000000Z%20%20INFO%20ctibridge:%20forged%1B%5B31m";
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let body: serde_json::Value = runtime.block_on(async {
        let response = crate::support::http_client()
            .post(format!("http://127.0.0.1:{port}/neoapi/{forged}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404);
        response.json().await.unwrap()
    });
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        !message.contains('\n') && !message.contains('\u{1b}'),
        "{message:?}"
    );
    assert!(message.contains("X\\n2026"), "{message:?}");
    let lines = log_until(&log, "unknown_method");
    for line in &lines {
        assert!(!line.starts_with("2026-01-01T00:00:00"), "forged line: {line:?}");
        assert!(!line.contains('\u{1b}'), "escape character logged: {line:?}");
    }
}

#[test]
fn query_string_values_are_redacted_in_the_request_log() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, port, log) = serve_with_log(dir.path());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let response = crate::support::http_client()
            .get(format!(
                "http://127.0.0.1:{port}/api/salesforce/search?phone=1155550100&token=s3cret-in-url"
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401);
    });
    let lines = log_until(&log, "/api/salesforce/search");
    let logged = lines.last().unwrap();
    assert!(
        logged.contains("/api/salesforce/search?phone=REDACTED&token=REDACTED"),
        "{logged}"
    );
    assert!(
        lines
            .iter()
            .all(|l| !l.contains("s3cret-in-url") && !l.contains("1155550100")),
        "{lines:#?}"
    );
}

#[test]
fn migrate_applies_the_migrations_and_reports_them() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("m.db").display());
    let output = ctibridge()
        .args(["migrate", "--database-url", &url])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("SQLite"), "{stdout}");
    assert!(stdout.contains("migrations applied"), "{stdout}");
}

#[test]
fn a_bad_configuration_exits_2_naming_the_key_and_source() {
    let output = ctibridge()
        .args(["serve"])
        .env("CTIBRIDGE_SERVER__BIND", "everywhere")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("server.bind"), "{stderr}");
    assert!(stderr.contains("CTIBRIDGE_SERVER__BIND"), "{stderr}");
}

#[test]
fn a_missing_configuration_file_exits_2() {
    let output = ctibridge()
        .args(["--config", "/nonexistent.toml", "serve"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("/nonexistent.toml"));
}

#[test]
fn a_port_in_use_is_a_clear_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let output = ctibridge()
        .args(["serve", "--bind", &address])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("cannot listen on {address}")),
        "{stderr}"
    );
}

#[test]
fn every_command_explains_itself() {
    for args in [
        vec!["--help"],
        vec!["serve", "--help"],
        vec!["migrate", "--help"],
        vec!["callcenter", "--help"],
        vec!["callcenter", "validate", "--help"],
        vec!["callcenter", "render", "--help"],
    ] {
        let output = ctibridge().args(&args).output().unwrap();
        assert!(output.status.success(), "{args:?}");
        let text = String::from_utf8_lossy(&output.stdout);
        assert!(text.contains("Usage:"), "{args:?}: {text}");
    }
}

fn wait_with_timeout(child: &mut std::process::Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let deadline = std::time::Instant::now() + limit;
    while std::time::Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().ok();
    None
}
