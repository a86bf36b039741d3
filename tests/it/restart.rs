//! The binary as operators run it, killed with `kill -9` and started again on the same
//! database: agents keep their sessions and states, calls that were up are closed as ended by
//! the restart with their Task completed, what was acknowledged before the kill is in the org,
//! a callback scheduled before the crash fires at its time, call ids never repeat; and a
//! Salesforce outage shows in its log once, with what it cost.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::http::{Answer, available, inbound_call, login, rpc, sim, wait_for, ws_connect};
use crate::support::fake_salesforce::FakeSalesforce;
use crate::support::server::Api;

/// A `ctibridge serve` process on port 0 with a configuration file; killed when dropped.
pub(crate) struct Process {
    child: Child,
    address: String,
    client: reqwest::Client,
    log: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Api for Process {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    fn client(&self) -> &reqwest::Client {
        &self.client
    }
}

/// `ctibridge serve` on `config`, its log (stderr) piped.
fn spawn_serve(config: &Path) -> (std::process::Child, std::process::ChildStderr) {
    let mut child = crate::support::ctibridge_command()
        .args(["--config", config.to_str().unwrap(), "serve"])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("the binary starts");
    let stderr = child.stderr.take().unwrap();
    (child, stderr)
}

impl Process {
    pub(crate) fn start(config: &Path) -> Process {
        let (child, stderr) = spawn_serve(config);
        let mut lines = BufReader::new(stderr).lines();
        let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let port: u16 = loop {
            let line = lines
                .next()
                .unwrap_or_else(|| panic!("server exited before listening:\n{}", log.lock().unwrap()))
                .unwrap();
            log.lock().unwrap().push_str(&format!("{line}\n"));
            if let Some(port) = crate::support::listening_port(&line) {
                break port;
            }
        };
        // Keep reading the log so the pipe never fills; tests look at it.
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                sink.lock().unwrap().push_str(&format!("{line}\n"));
            }
        });
        Process {
            child,
            address: format!("http://127.0.0.1:{port}"),
            client: crate::support::http_client(),
            log,
        }
    }

    /// SIGKILL: no shutdown code runs.
    pub(crate) fn kill9(mut self) -> String {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        self.log.lock().unwrap().clone()
    }

    /// Waits (bounded) for the process to end by itself; its exit code.
    pub(crate) fn wait_exit(&mut self, limit: Duration) -> Option<i32> {
        let deadline = std::time::Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            assert!(
                std::time::Instant::now() < deadline,
                "still running:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Runs `ctibridge serve` with `config` expecting it to stop by itself (bounded): its exit
    /// code and its log.
    pub(crate) fn run_to_exit(config: &Path, limit: Duration) -> (Option<i32>, String) {
        let (mut child, stderr) = spawn_serve(config);
        let reader = std::thread::spawn(move || {
            let mut log = String::new();
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                log.push_str(&line);
                log.push('\n');
            }
            log
        });
        let deadline = std::time::Instant::now() + limit;
        let code = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status.code();
            }
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        (code, reader.join().unwrap_or_default())
    }

    pub(crate) fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The `[server]` (any free port), `[database]` (`db_url`) and `[log]` tables of a
/// configuration file.
pub(crate) fn head_toml(db_url: &str) -> String {
    format!(
        r#"[server]
bind = "127.0.0.1:0"

[database]
url = "{db_url}"

[log]
filter = "info"
"#
    )
}

/// A configuration on the embedded defaults with a SQLite file in `dir` and the fake org.
fn write_config(dir: &Path, fake: &FakeSalesforce) -> PathBuf {
    let path = dir.join("ctibridge.toml");
    let text = format!(
        r#"
{head}
{salesforce}
api_version = "62.0"
"#,
        head = head_toml(&format!("sqlite://{}", dir.join("ctibridge.db").display())),
        salesforce = fake.jwt_bearer_toml(),
    );
    std::fs::write(&path, text).unwrap();
    path
}

async fn position(app: &Process, token: &str) -> Value {
    rpc(app, Some(token), "Position", json!({})).await.ok().clone()
}

/// Waits (bounded) until `done` holds.
async fn eventually(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + limit;
    while !done() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

fn tasks_of(fake: &FakeSalesforce, call: u64) -> Vec<serde_json::Map<String, Value>> {
    fake.records("Task")
        .into_iter()
        .filter(|t| t.get("ctiCallId__c") == Some(&json!(call.to_string())))
        .collect()
}

#[tokio::test]
async fn a_kill_9_mid_call_loses_nothing_and_logs_nothing_twice() {
    let fake = FakeSalesforce::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &fake);
    let app = Process::start(&config);

    // agent1 and agent2 are talking to customers; agent3 finished a call, categorized it and
    // was told 200 — the kill comes right after that answer.
    let t1 = available(&app, "agent1", "1001").await;
    let (mut s1, _) = ws_connect(&app, &t1).await;
    let c1 = inbound_call(&app, "1155552001", None).await;
    wait_for(&mut s1, "callOffered").await;
    sim(&app, "agents/agent1/answer", json!({})).await.ok();
    wait_for(&mut s1, "callConnected").await;

    let t2 = available(&app, "agent2", "1002").await;
    let (mut s2, _) = ws_connect(&app, &t2).await;
    let c2 = inbound_call(&app, "1155552002", None).await;
    wait_for(&mut s2, "callOffered").await;
    sim(&app, "agents/agent2/answer", json!({})).await.ok();
    wait_for(&mut s2, "callConnected").await;

    let t3 = available(&app, "agent3", "1003").await;
    let (mut s3, _) = ws_connect(&app, &t3).await;
    let c3 = inbound_call(&app, "1155552003", None).await;
    wait_for(&mut s3, "callOffered").await;
    sim(&app, "agents/agent3/answer", json!({})).await.ok();
    wait_for(&mut s3, "callConnected").await;
    rpc(&app, Some(&t3), "Hangup", json!({})).await.ok();
    let categorized: Answer = rpc(
        &app,
        Some(&t3),
        "UpdateContact",
        json!({"category": 1, "subcategory": 11, "comment": "sold"}),
    )
    .await;
    categorized.ok();
    let log = app.kill9();
    assert_eq!(c1 + 1, c2, "{log}");

    // The same database, a new process.
    let app = Process::start(&config);
    for (token, user) in [(&t1, "agent1"), (&t2, "agent2"), (&t3, "agent3")] {
        let p = position(&app, token).await;
        assert_eq!(p["user"], user);
        assert_eq!(
            p["state"], "wrapUp",
            "{user} wraps up the call the crash ended: {p}"
        );
        assert_eq!(p["campaign"]["id"], 97, "{p}");
        assert!(p["call"].is_null(), "{p}");
        assert!(p["contact"].is_object(), "{p}");
    }
    let p3 = position(&app, &t3).await;
    assert_eq!(p3["contact"]["disposition"]["subcategory"], 11, "{p3}");
    let p1 = position(&app, &t1).await;
    assert_eq!(p1["contact"]["callId"], c1, "{p1}");

    // The softphone reconnects to the same snapshot.
    let (_s1, snapshot) = ws_connect(&app, &t1).await;
    assert_eq!(snapshot["state"], "wrapUp", "{snapshot}");

    // Every connected call has exactly one Task, completed; agent3's has its disposition.
    eventually("three completed Tasks", Duration::from_secs(15), || {
        [c1, c2, c3].iter().all(|c| {
            let tasks = tasks_of(&fake, *c);
            tasks.len() == 1 && tasks[0].get("Status") == Some(&json!("Completed"))
        })
    })
    .await;
    eventually("agent3's disposition", Duration::from_secs(15), || {
        tasks_of(&fake, c3)
            .first()
            .is_some_and(|t| t.get("CallDisposition") == Some(&json!("Contacted / Sale")))
    })
    .await;
    assert_eq!(fake.records("Task").len(), 3, "{:?}", fake.records("Task"));
    for call in [c1, c2] {
        let task = &tasks_of(&fake, call)[0];
        assert!(task["CallDurationInSeconds"].as_i64().is_some(), "{task:?}");
        assert_eq!(task["CallObject"], json!(call.to_string()));
    }

    // The agent goes on working; the next call's id is new.
    rpc(&app, Some(&t1), "CRM_Available", json!({})).await.ok();
    let c4 = inbound_call(&app, "1155552004", None).await;
    assert!(c4 > c3, "call ids never repeat: {c4} after {c3}");
    assert!(
        app.log().contains("ended by a server restart"),
        "the restart says what it closed:\n{}",
        app.log()
    );
}

#[tokio::test]
async fn a_callback_scheduled_before_a_crash_fires_after_the_restart() {
    let fake = FakeSalesforce::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &fake);
    let app = Process::start(&config);

    // agent1 previews a lead of campaign 99 and schedules a callback for it in 3 s.
    let token = login(&app, "agent1", "1001").await;
    rpc(&app, Some(&token), "Login_Campaign", json!({"campaign": 99}))
        .await
        .ok();
    sim(
        &app,
        "campaigns/99/leads",
        json!({"leads": [{"phone": "1155553001"}]}),
    )
    .await
    .ok();
    let p = position(&app, &token).await;
    assert_eq!(p["state"], "previewing", "{p}");
    let at = chrono::Utc::now() + chrono::Duration::seconds(3);
    rpc(
        &app,
        Some(&token),
        "ScheduleCallback",
        json!({"at": at.to_rfc3339(), "phone": "1155553009"}),
    )
    .await
    .ok();
    let p = position(&app, &token).await;
    assert_eq!(p["state"], "available", "released after scheduling: {p}");
    app.kill9();

    let app = Process::start(&config);
    let p = position(&app, &token).await;
    assert_eq!(p["state"], "available", "{p}");
    // At its time the callback becomes the campaign's next lead and is handed to agent1.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let p = position(&app, &token).await;
        if p["state"] == "previewing" {
            assert_eq!(p["contact"]["phoneNumber"], "1155553009", "{p}");
            assert_eq!(p["contact"]["callReason"], "callback", "{p}");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the callback never fired: {p}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_salesforce_outage_is_logged_once_with_its_cost() {
    let fake = FakeSalesforce::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &fake);
    let app = Process::start(&config);
    let token = available(&app, "agent1", "1001").await;
    let (mut socket, _) = ws_connect(&app, &token).await;

    fake.set_unavailable(true);
    let mut calls = Vec::new();
    for i in 0..3 {
        let call = inbound_call(&app, &format!("115555400{i}"), None).await;
        wait_for(&mut socket, "callOffered").await;
        sim(&app, "agents/agent1/answer", json!({})).await.ok();
        wait_for(&mut socket, "callConnected").await;
        rpc(&app, Some(&token), "Hangup", json!({})).await.ok();
        rpc(&app, Some(&token), "CRM_Available", json!({})).await.ok();
        calls.push(call);
    }
    eventually("the outage in the log", Duration::from_secs(10), || {
        app.log().contains("Salesforce is not taking writes")
    })
    .await;
    // Let the worker fail a few more rounds before the org comes back.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    fake.set_unavailable(false);
    eventually("every Task completed", Duration::from_secs(30), || {
        calls.iter().all(|c| {
            tasks_of(&fake, *c)
                .first()
                .is_some_and(|t| t.get("Status") == Some(&json!("Completed")))
        })
    })
    .await;
    eventually("the recovery in the log", Duration::from_secs(10), || {
        app.log().contains("Salesforce takes writes again")
    })
    .await;
    let log = app.log();
    assert_eq!(log.matches("Salesforce is not taking writes").count(), 1, "{log}");
    assert_eq!(log.matches("Salesforce takes writes again").count(), 1, "{log}");
    let recovery = log.lines().find(|l| l.contains("takes writes again")).unwrap();
    assert!(recovery.contains("failed_writes="), "{recovery}");
    assert_eq!(fake.records("Task").len(), 3);
}

/// CRM requests in flight when the process is killed are sent again by the next process,
/// with a fresh token; nothing of the credentials reaches the log.
#[tokio::test]
async fn crm_requests_in_flight_at_a_kill_9_reach_the_crm_after_the_restart() {
    use crate::support::crm_server::{CrmServer, PASSWORD, Reply, USERNAME};

    let crm = CrmServer::start().await;
    crm.require_token(3600);
    // The CRM holds the requests: they are claimed and unanswered when the kill comes.
    crm.answer_always(Some(Reply::status(200).after(Duration::from_secs(120))));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ctibridge.toml");
    let config = format!(
        r#"
{head}
[crm.delivery]
backoff_base_ms = 50
backoff_max_secs = 1
poll_interval_ms = 100

[[crm.sites]]
name = "acme"
url = "{url}"
trigger = "server"
format = "form-urlencoded"

[crm.sites.auth]
token_url = "{token_url}"
username = "{USERNAME}"
password = "{PASSWORD}"

[[crm.campaigns]]
campaign = 97
site = "acme"
params = [{{ family = "call", source = "call_id", name = "callId" }}]
"#,
        head = head_toml(&format!("sqlite://{}", dir.path().join("ctibridge.db").display())),
        url = crm.url("/calls/new"),
        token_url = crm.url("/token"),
    );
    std::fs::write(&path, config).unwrap();
    let app = Process::start(&path);
    let mut calls = Vec::new();
    for (user, device, ani) in [("agent1", "1001", "1155553001"), ("agent2", "1002", "1155553002")] {
        let token = available(&app, user, device).await;
        let (mut socket, _) = ws_connect(&app, &token).await;
        calls.push(inbound_call(&app, ani, None).await.to_string());
        wait_for(&mut socket, "callOffered").await;
        sim(&app, &format!("agents/{user}/answer"), json!({})).await.ok();
        wait_for(&mut socket, "callConnected").await;
    }
    crm.wait_for(2).await;
    let first_log = app.kill9();

    crm.answer_always(None);
    let app = Process::start(&path);
    let received = crm.wait_for(4).await;
    let mut resent: Vec<String> = received[2..]
        .iter()
        .map(|r| {
            let pairs: std::collections::HashMap<String, String> =
                url::form_urlencoded::parse(&r.body).into_owned().collect();
            pairs["callId"].clone()
        })
        .collect();
    resent.sort();
    calls.sort();
    assert_eq!(resent, calls, "each call's request, again");
    assert_eq!(
        received[3].header("authorization"),
        Some("Bearer tok-2"),
        "the new process's token"
    );
    for log in [first_log, app.log()] {
        assert!(!log.contains(PASSWORD) && !log.contains("tok-"), "{log}");
    }
}
