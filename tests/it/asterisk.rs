//! The AMI client against the test double that replays the sessions recorded from Asterisk 22:
//! login, actions answered by `ActionID`, event lists to their `…Complete`, unsolicited events,
//! wrong credentials, an unreachable host, a dropped link and reconnection, malformed input.

use std::time::Duration;

use ctibridge::telephony::asterisk::client::{AmiClient, AmiError, AmiSettings, LinkEvent};
use ctibridge::telephony::asterisk::codec::Action;
use secrecy::SecretString;
use tokio::sync::mpsc::UnboundedReceiver;

use crate::support::ami_double::AmiDouble;

const WAIT: Duration = Duration::from_secs(10);

fn settings(port: u16, secret: &str) -> AmiSettings {
    AmiSettings {
        host: "127.0.0.1".into(),
        port,
        username: "ctibridge".into(),
        secret: SecretString::from(secret.to_owned()),
        connect_timeout: Duration::from_secs(2),
        action_timeout: Duration::from_secs(2),
        backoff_first: Duration::from_millis(50),
        backoff_max: Duration::from_millis(200),
    }
}

/// The next link event matching `pred` (others are skipped).
async fn next(
    link: &mut UnboundedReceiver<LinkEvent>,
    what: &str,
    pred: impl Fn(&LinkEvent) -> bool,
) -> LinkEvent {
    tokio::time::timeout(WAIT, async {
        loop {
            let event = link.recv().await.expect("link open");
            if pred(&event) {
                return event;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no link event: {what}"))
}

fn is_event(event: &LinkEvent, name: &str) -> bool {
    matches!(event, LinkEvent::Event(m) if m.event_name() == Some(name))
}

#[tokio::test]
async fn logs_in_answers_by_action_id_and_passes_events_on() {
    let double = AmiDouble::start(&["login_and_ping"]).await;
    let (client, mut link) = AmiClient::start(settings(double.port, "ctibridge-secret"));
    assert_eq!(
        next(&mut link, "up", |e| *e == LinkEvent::Up).await,
        LinkEvent::Up
    );
    next(&mut link, "FullyBooted", |e| is_event(e, "FullyBooted")).await;

    let pong = client.send(Action::new("Ping")).await.expect("pong");
    assert_eq!(pong.response.get("Ping"), Some("Pong"));
    assert!(pong.response.action_id().unwrap().starts_with("ping-"));
    let unknown = client.send(Action::new("NoSuchAction")).await.unwrap_err();
    assert!(
        matches!(&unknown, AmiError::Refused { action, message } if action == "NoSuchAction" && message.starts_with("Invalid/unknown command")),
        "{unknown:?}"
    );
    assert_eq!(double.received_names(), vec!["Login", "Ping", "NoSuchAction"]);
}

#[tokio::test]
async fn a_list_action_is_answered_with_its_items_and_refusals_name_the_reason() {
    let double = AmiDouble::start(&["queue_member_lifecycle"]).await;
    let (client, mut link) = AmiClient::start(settings(double.port, "ctibridge-secret"));
    next(&mut link, "up", |e| *e == LinkEvent::Up).await;
    client
        .send(
            Action::new("QueueAdd")
                .header("Queue", "salesforce")
                .header("Interface", "Local/1001@agents/n")
                .header("MemberName", "agent1")
                .header("StateInterface", "Local/1001@agents/n")
                .header("Paused", "false"),
        )
        .await
        .expect("added");
    let again = client
        .send(
            Action::new("QueueAdd")
                .header("Queue", "salesforce")
                .header("Interface", "Local/1001@agents/n")
                .header("MemberName", "agent1"),
        )
        .await
        .unwrap_err();
    assert_eq!(
        again.to_string(),
        "Asterisk refused QueueAdd: Unable to add interface: Already there"
    );
    let no_queue = client
        .send(
            Action::new("QueueAdd")
                .header("Queue", "no-such-queue")
                .header("Interface", "Local/1001@agents/n"),
        )
        .await
        .unwrap_err();
    assert!(no_queue.to_string().contains("No such queue"), "{no_queue}");
    // The member was added, as the event Asterisk sent in between says.
    next(&mut link, "QueueMemberAdded", |e| is_event(e, "QueueMemberAdded")).await;

    client
        .send(
            Action::new("QueuePause")
                .header("Queue", "salesforce")
                .header("Interface", "Local/1001@agents/n")
                .header("Paused", "true")
                .header("Reason", "Descanso"),
        )
        .await
        .expect("paused");
    let paused = next(&mut link, "QueueMemberPause", |e| is_event(e, "QueueMemberPause")).await;
    let LinkEvent::Event(paused) = paused else {
        unreachable!()
    };
    assert_eq!(paused.get("PausedReason"), Some("Descanso"));
    client
        .send(
            Action::new("QueuePause")
                .header("Queue", "salesforce")
                .header("Interface", "Local/1001@agents/n")
                .header("Paused", "false"),
        )
        .await
        .expect("unpaused");
    let status = client
        .send(Action::new("QueueStatus").header("Queue", "salesforce"))
        .await
        .expect("queue status");
    let names: Vec<&str> = status.items.iter().filter_map(|m| m.event_name()).collect();
    assert_eq!(names, vec!["QueueParams", "QueueMember"]);
    assert_eq!(status.items[1].get("Name"), Some("agent1"));
}

#[tokio::test]
async fn wrong_credentials_are_a_clear_error_that_never_shows_the_secret() {
    let double = AmiDouble::start(&["login_ok_and_fail"]).await;
    let (client, mut link) = AmiClient::start(settings(double.port, "wrong-secret"));
    let down = next(&mut link, "down", |e| matches!(e, LinkEvent::Down(_))).await;
    let LinkEvent::Down(error) = down else {
        unreachable!()
    };
    let text = error.to_string();
    assert!(matches!(error, AmiError::LoginRefused { .. }), "{error:?}");
    assert!(
        text.contains("refused the manager login of user `ctibridge`"),
        "{text}"
    );
    assert!(text.contains("Authentication failed"), "{text}");
    assert!(!text.contains("wrong-secret"), "the secret leaked: {text}");
    assert!(!format!("{error:?}").contains("wrong-secret"));
    // Meanwhile actions fail at once instead of hanging.
    let refused = tokio::time::timeout(WAIT, client.send(Action::new("Ping")))
        .await
        .expect("no hang");
    assert!(matches!(refused, Err(AmiError::Down(_))), "{refused:?}");
}

#[tokio::test]
async fn an_unreachable_host_is_named_and_nothing_hangs() {
    // A port nobody listens on.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let (client, mut link) = AmiClient::start(settings(port, "x"));
    let down = next(&mut link, "down", |e| matches!(e, LinkEvent::Down(_))).await;
    let LinkEvent::Down(error) = down else {
        unreachable!()
    };
    assert!(
        error.to_string().starts_with(&format!(
            "cannot reach Asterisk's manager interface at 127.0.0.1:{port}"
        )),
        "{error}"
    );
    let refused = tokio::time::timeout(WAIT, client.send(Action::new("Ping")))
        .await
        .expect("no hang");
    assert!(refused.is_err());
}

#[tokio::test]
async fn a_dropped_link_fails_what_waits_and_comes_back_logged_in() {
    let double = AmiDouble::start(&["login_and_ping"]).await;
    let (client, mut link) = AmiClient::start(settings(double.port, "ctibridge-secret"));
    next(&mut link, "up", |e| *e == LinkEvent::Up).await;
    double.set_accepting(false);
    double.drop_connections();
    next(&mut link, "down", |e| matches!(e, LinkEvent::Down(_))).await;
    assert!(matches!(
        client.send(Action::new("Ping")).await,
        Err(AmiError::Down(_))
    ));
    double.set_accepting(true);
    next(&mut link, "up again", |e| *e == LinkEvent::Up).await;
    let pong = client
        .send(Action::new("Ping"))
        .await
        .expect("pong after reconnecting");
    assert_eq!(pong.response.get("Ping"), Some("Pong"));
    let logins = double.received_names().iter().filter(|n| *n == "Login").count();
    assert!(logins >= 2, "logged in again: {:?}", double.received_names());
}

#[tokio::test]
async fn malformed_input_is_dropped_with_one_warning_and_the_link_goes_on() {
    let double = AmiDouble::start(&["login_and_ping"]).await;
    let (client, mut link) = AmiClient::start(settings(double.port, "ctibridge-secret"));
    next(&mut link, "up", |e| *e == LinkEvent::Up).await;
    // A line of 1 MB, an unknown event, a message missing every expected key, bytes that are
    // not UTF-8, then a well-formed event.
    let mut garbage = b"Event: Huge\r\nValue: ".to_vec();
    garbage.extend(std::iter::repeat_n(b'x', 1 << 20));
    garbage.extend_from_slice(b"\r\n\r\n");
    double.push(&garbage);
    double.push(b"Event: SomethingNew\r\nWeird: \xff\xfe\r\n\r\n");
    double.push(b"Event: AgentCalled\r\n\r\n");
    double.push(b"Event: FullyBooted\r\nPrivilege: system,all\r\nStatus: Fully Booted\r\n\r\n");
    let garbled = next(&mut link, "garbled", |e| matches!(e, LinkEvent::Garbled(_))).await;
    assert!(
        matches!(&garbled, LinkEvent::Garbled(e) if e.contains("exceeds")),
        "{garbled:?}"
    );
    let unknown = next(&mut link, "unknown event", |e| is_event(e, "SomethingNew")).await;
    let LinkEvent::Event(unknown) = unknown else {
        unreachable!()
    };
    assert_eq!(unknown.get("Weird"), Some("\u{fffd}\u{fffd}"));
    next(&mut link, "keyless AgentCalled", |e| is_event(e, "AgentCalled")).await;
    next(&mut link, "well-formed event", |e| is_event(e, "FullyBooted")).await;
    let pong = client.send(Action::new("Ping")).await.expect("still answering");
    assert_eq!(pong.response.get("Ping"), Some("Pong"));
}
