//! Several instances on one PostgreSQL database, as operators run them (real binaries):
//! any instance serves any agent, one runs the core, the survivor takes it over after a
//! `kill -9` or when the active one loses its database, and an instance that disagrees with
//! the active one on the shared configuration refuses to join.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::http::{available, inbound_call, rpc, sim, wait_for, ws_connect};
use crate::restart::Process;
use crate::support::db::TestDb;
use crate::support::fake_salesforce::FakeSalesforce;
use crate::support::server::Api;

/// A cluster member's configuration on `db`; `extra` is appended (a campaign that differs).
fn write_config(dir: &Path, name: &str, db: &TestDb, fake: &FakeSalesforce, extra: &str) -> PathBuf {
    let path = dir.join(format!("{name}.toml"));
    let text = format!(
        r#"
{head}
[cluster]
enabled = true
core_bind = "127.0.0.1:0"
takeover_poll_ms = 200

{salesforce}
api_version = "62.0"
{extra}
"#,
        head = crate::restart::head_toml(&db.url),
        salesforce = fake.jwt_bearer_toml(),
    );
    std::fs::write(&path, text).unwrap();
    path
}

async fn readyz(app: &Process) -> (u16, Value) {
    let answer = app.client().get(app.url("/readyz")).send().await.unwrap();
    let status = answer.status().as_u16();
    (status, answer.json().await.unwrap_or(Value::Null))
}

/// Waits (bounded) until `app`'s role is `role`.
async fn role_becomes(app: &Process, role: &str, limit: Duration) -> Value {
    let deadline = Instant::now() + limit;
    loop {
        let (status, body) = readyz(app).await;
        if status == 200 && body["role"] == role {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "not {role} in time: {status} {body}\n{}",
            app.log()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn tasks_of(fake: &FakeSalesforce, call: u64) -> usize {
    fake.records("Task")
        .into_iter()
        .filter(|t| t.get("ctiCallId__c") == Some(&json!(call.to_string())))
        .count()
}

#[tokio::test]
async fn three_instances_serve_as_one_and_a_survivor_takes_the_core_over_after_a_kill_9() {
    let fake = FakeSalesforce::start().await;
    let db = TestDb::postgres().await;
    let dir = tempfile::tempdir().unwrap();
    let a = Process::start(&write_config(dir.path(), "a", &db, &fake, ""));
    role_becomes(&a, "active", Duration::from_secs(20)).await;
    let b = Process::start(&write_config(dir.path(), "b", &db, &fake, ""));
    let standby = role_becomes(&b, "standby", Duration::from_secs(20)).await;
    let c = Process::start(&write_config(dir.path(), "c", &db, &fake, ""));
    role_becomes(&c, "standby", Duration::from_secs(20)).await;
    let (_, active) = readyz(&a).await;
    assert_eq!(standby["core"], active["core"], "B forwards to A's core");

    // agent1 logs in through B and joins through A; its socket is on B; the call comes in
    // through A: the same agent, the same state, every event on B's socket.
    let token = crate::http::login(&b, "agent1", "1001").await;
    rpc(&a, Some(&token), "Login_Campaign", json!({"campaign": 97}))
        .await
        .ok();
    let (mut socket, snapshot) = ws_connect(&b, &token).await;
    assert_eq!(snapshot["state"], "available", "{snapshot}");
    let call = inbound_call(&a, "1155553001", None).await;
    let offered = wait_for(&mut socket, "callOffered").await;
    assert_eq!(offered["call"]["callId"], json!(call), "{offered}");
    sim(&b, "agents/agent1/answer", json!({})).await.ok();
    wait_for(&mut socket, "callConnected").await;

    // Both instances are listed; one is active.
    let listed = crate::http::get_json(&b, "/admin/instances", Some("demo-operator")).await;
    let instances = listed["instances"]
        .as_array()
        .unwrap_or_else(|| panic!("{listed}"));
    assert_eq!(instances.len(), 3, "{listed}");
    assert_eq!(
        instances.iter().filter(|i| i["active"] == true).count(),
        1,
        "{listed}"
    );

    // The active instance dies mid-call.
    let killed = Instant::now();
    let log = a.kill9();
    // One of the two survivors takes the core; the other forwards to it.
    let deadline = Instant::now() + Duration::from_secs(10);
    let (new_active, other) = loop {
        if readyz(&b).await.1["role"] == "active" {
            break (&b, &c);
        }
        if readyz(&c).await.1["role"] == "active" {
            break (&c, &b);
        }
        assert!(Instant::now() < deadline, "no takeover\n{log}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let takeover = killed.elapsed();
    assert!(
        takeover < Duration::from_secs(5),
        "takeover took {takeover:?}\n{log}"
    );
    let (_, now_active) = readyz(new_active).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (_, follows) = readyz(other).await;
        if follows["role"] == "standby" && follows["core"] == now_active["core"] {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the other survivor follows: {follows} vs {now_active}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // B's socket was bridged to A's core: it stays open, the gateway opens one to the new core
    // for it, which sends the state it restored (the call the crash ended, in wrap-up).
    let resumed = wait_for(&mut socket, "snapshot").await;
    assert_eq!(resumed["state"], "wrapUp", "{resumed}\n{}", b.log());
    // And it goes on: the next change reaches it.
    rpc(&b, Some(&token), "CRM_Available", json!({})).await.ok();
    let position = wait_for(&mut socket, "position").await;
    assert_ne!(position["state"], "wrapUp", "{position}");

    // The call is logged exactly once.
    let deadline = Instant::now() + Duration::from_secs(20);
    while tasks_of(&fake, call) == 0 {
        assert!(Instant::now() < deadline, "no Task for the call\n{}", b.log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A second writer would show within the worker's next rounds.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(tasks_of(&fake, call), 1, "one Task for the call");
    eprintln!("takeover after kill -9: {} ms", takeover.as_millis());
}

#[tokio::test]
async fn an_active_instance_that_loses_its_database_steps_down_and_another_takes_over() {
    let fake = FakeSalesforce::start().await;
    let db = TestDb::postgres().await;
    let dir = tempfile::tempdir().unwrap();
    let mut a = Process::start(&write_config(dir.path(), "a", &db, &fake, ""));
    role_becomes(&a, "active", Duration::from_secs(20)).await;
    let b = Process::start(&write_config(dir.path(), "b", &db, &fake, ""));
    role_becomes(&b, "standby", Duration::from_secs(20)).await;
    let token = available(&b, "agent2", "1002").await;

    // The connection holding the core's lock is cut (as a network cut would).
    let store = db.store().await;
    let cut: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND granted \
         AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
         AND ((classid::int8 << 32) | objid::int8) = $1",
    )
    .bind(ctibridge::store::core::CORE_LOCK)
    .fetch_all(store.pool())
    .await
    .unwrap();
    assert_eq!(cut, vec![true], "one connection held the lock, and it was cut");

    role_becomes(&b, "active", Duration::from_secs(10)).await;
    let status = a.wait_exit(Duration::from_secs(10));
    assert_eq!(
        status,
        Some(3),
        "A stopped rather than act without its lock\n{}",
        a.log()
    );
    assert!(
        a.log().contains("stopping so as not to act on stale state"),
        "{}",
        a.log()
    );
    // The agent's session and state survived: the new core answers for them.
    let position = rpc(&b, Some(&token), "Position", json!({})).await.ok().clone();
    assert_eq!(position["state"], "available", "{position}");
}

#[tokio::test]
async fn an_instance_whose_shared_configuration_differs_refuses_to_join() {
    let fake = FakeSalesforce::start().await;
    let db = TestDb::postgres().await;
    let dir = tempfile::tempdir().unwrap();
    let a = Process::start(&write_config(dir.path(), "a", &db, &fake, ""));
    role_becomes(&a, "active", Duration::from_secs(20)).await;
    let other = write_config(
        dir.path(),
        "c",
        &db,
        &fake,
        "[telephony]\ndriver = \"asterisk\"\n[telephony.asterisk]\nsecret = \"x\"\n",
    );
    let (code, log) = Process::run_to_exit(&other, Duration::from_secs(20));
    assert_eq!(code, Some(1), "{log}");
    assert!(log.contains("cannot join"), "{log}");
    assert!(log.contains("differs from the active instance"), "{log}");
    assert!(!log.contains("secret = "), "{log}");
}
