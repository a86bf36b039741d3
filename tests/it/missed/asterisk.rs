//! Missed calls on Asterisk, through the server and the AMI double: a caller who hangs up in
//! the queue is `abandoned` (the recording), one whose `Queue()` times out is `noAgent`
//! (app_queue reports it as `QueueCallerAbandon` too, but with no hang-up request of the
//! caller's channel before it, and the dialplan goes on), and the intake tells the dialplan
//! when the campaign is closed.

use ctibridge::telephony::DriverKind;
use ctibridge::telephony::engine::roster::hash_password;
use serde_json::json;

use super::{CLOSED, CLOSED_QUEUE, configure, eventually, rows, tasks_of};
use crate::http::{login, pause, rpc, wait_for, ws_connect};
use crate::support::ami_double::AmiDouble;
use crate::support::fake_salesforce::FakeSalesforce;
use crate::support::server::TestApp;

/// One AMI event block about the caller channel `channel` (`Uniqueid`/`Linkedid` `id`), in
/// the shape the recordings show.
fn caller_event(name: &str, channel: &str, id: &str, extra: &str) -> String {
    format!(
        "Event: {name}\r\nPrivilege: agent,all\r\nChannel: {channel}\r\nChannelState: 6\r\n\
         ChannelStateDesc: Up\r\nCallerIDNum: 1155557001\r\nCallerIDName: Luis Perez\r\n\
         ConnectedLineNum: 1155557001\r\nConnectedLineName: Luis Perez\r\nLanguage: en\r\n\
         AccountCode: \r\nContext: inbound\r\nExten: s\r\nPriority: 5\r\nUniqueid: {id}\r\n\
         Linkedid: {id}\r\n{extra}\r\n"
    )
}

#[tokio::test]
async fn a_queue_timeout_is_no_agent_an_abandon_is_abandoned_and_closed_hours_reach_the_dialplan() {
    let fake = FakeSalesforce::start().await;
    let double = AmiDouble::start(&["inbound_abandoned_waiting"]).await;
    let hash = hash_password("dialplan-token").unwrap();
    let mut asterisk = crate::asterisk::driver::config(double.port);
    asterisk.intake_token_hash = Some(hash);
    let org = &fake;
    let app = TestApp::spawn_with(move |c| {
        configure(c, org, None);
        c.telephony.driver = DriverKind::Asterisk;
        c.telephony.asterisk = Some(asterisk);
    })
    .await;
    // agent1 is in the queue, paused (as recorded).
    let token = login(&app, "agent1", "1001").await;
    pause(&app, &token).await;
    rpc(&app, Some(&token), "Login_Campaign", json!({"campaign": 97}))
        .await
        .ok();
    crate::asterisk::driver::until_received(&double, "QueueAdd").await;
    let (mut socket, _) = ws_connect(&app, &token).await;

    // The recorded caller hangs up after 3 s in the queue.
    double.play("Originate");
    wait_for(&mut socket, "missedCallsChanged").await;

    // Another caller's Queue() times out: abandoned by the queue, not by the caller, who
    // goes on to voicemail and hangs up later.
    let (channel, id) = ("PJSIP/trunk-00000042", "1795950000.90");
    double.push(
        caller_event(
            "QueueCallerJoin",
            channel,
            id,
            "Queue: salesforce\r\nPosition: 1\r\nCount: 1\r\n",
        )
        .as_bytes(),
    );
    double.push(
        caller_event(
            "QueueCallerAbandon",
            channel,
            id,
            "Queue: salesforce\r\nPosition: 1\r\nOriginalPosition: 1\r\nHoldTime: 30\r\n",
        )
        .as_bytes(),
    );
    double.push(
        caller_event(
            "QueueCallerLeave",
            channel,
            id,
            "Queue: salesforce\r\nPosition: 1\r\nCount: 0\r\n",
        )
        .as_bytes(),
    );
    double.push(
        caller_event(
            "VarSet",
            channel,
            id,
            "Variable: QUEUESTATUS\r\nValue: TIMEOUT\r\n",
        )
        .as_bytes(),
    );
    wait_for(&mut socket, "missedCallsChanged").await;
    double.push(
        caller_event(
            "Hangup",
            channel,
            id,
            "Cause: 16\r\nCause-txt: Normal Clearing\r\n",
        )
        .as_bytes(),
    );

    // The dialplan asks about a caller of the closed campaign: told so, the call not queued.
    let response = app
        .client
        .get(app.url(&format!(
            "/asterisk/intake?queue={CLOSED_QUEUE}&ani=1155557002&uniqueid=1795950001.91"
        )))
        .bearer_auth("dialplan-token")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body = response.text().await.unwrap();
    let fields: Vec<&str> = body.split('|').collect();
    assert_eq!(fields.len(), 3, "{body}");
    assert_eq!(fields[2], "closed", "{body}");
    let closed: i64 = fields[1].parse().unwrap();
    // An open campaign's answer keeps its two fields.
    let response = app
        .client
        .get(app.url("/asterisk/intake?queue=salesforce&ani=1155557003"))
        .bearer_auth("dialplan-token")
        .send()
        .await
        .unwrap();
    assert_eq!(response.text().await.unwrap().split('|').count(), 2);

    let store = app._db.store().await;
    let stored = rows(&store).await;
    let reasons: Vec<(&str, Option<&str>, i64)> = stored
        .iter()
        .map(|r| (r.reason.as_str(), r.phone.as_deref(), r.campaign))
        .collect();
    assert_eq!(
        reasons,
        vec![
            ("abandoned", Some("1155551001"), 97),
            ("noAgent", Some("1155557001"), 97),
            ("outsideHours", Some("1155557002"), CLOSED),
            // The open campaign's caller waits in its queue: not missed (yet).
            ("waiting", Some("1155557003"), 97),
        ],
        "{stored:?}"
    );
    assert_eq!(stored[2].call_id, closed);
    assert_eq!(stored[3].status, "waiting");
    let calls: Vec<u64> = stored[..3].iter().map(|r| r.call_id as u64).collect();
    eventually("three missed-call Tasks", || {
        calls.iter().all(|c| tasks_of(&fake, *c).len() == 1)
    })
    .await;
    assert_eq!(
        tasks_of(&fake, calls[1])[0]["Subject"],
        "Missed call from 1155557001"
    );
}
