//! The AMI client against the test double that replays the sessions recorded from Asterisk 22:
//! login, actions answered by `ActionID`, event lists to their `…Complete`, unsolicited events,
//! wrong credentials, an unreachable host, a dropped link and reconnection, malformed input.

use std::time::Duration;

use ctibridge::telephony::asterisk::client::{AmiClient, AmiError, AmiSettings, LinkEvent};
use ctibridge::telephony::asterisk::codec::Action;
use secrecy::SecretString;
use tokio::sync::mpsc::Receiver;

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
        tls: None,
    }
}

/// The next link event matching `pred` (others are skipped).
async fn next(link: &mut Receiver<LinkEvent>, what: &str, pred: impl Fn(&LinkEvent) -> bool) -> LinkEvent {
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

/// A TLS front on `double` (as Asterisk's `tlsenable` listener), with the test certificate
/// for `localhost` / 127.0.0.1.
async fn tls_front(double: &AmiDouble) -> u16 {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};

    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tls");
    let chain = vec![CertificateDer::from_pem_file(dir.join("asterisk.pem")).unwrap()];
    let key = PrivateKeyDer::from_pem_file(dir.join("asterisk.key")).unwrap();
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let plain = double.port;
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(socket).await else {
                    return;
                };
                let Ok(mut inner) = tokio::net::TcpStream::connect(("127.0.0.1", plain)).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut inner).await;
            });
        }
    });
    port
}

fn tls_config(port: u16, ca: &str) -> ctibridge::telephony::asterisk::AsteriskConfig {
    ctibridge::telephony::asterisk::AsteriskConfig {
        port,
        username: "ctibridge".into(),
        secret: SecretString::from("ctibridge-secret".to_owned()),
        tls: true,
        tls_ca_file: Some(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(ca)),
        tls_server_name: Some("localhost".into()),
        ..Default::default()
    }
}

#[tokio::test]
async fn over_tls_the_link_logs_in_and_answers_as_over_tcp() {
    let double = AmiDouble::start(&["login_and_ping"]).await;
    let port = tls_front(&double).await;
    let mut settings = tls_config(port, "tests/fixtures/tls/ca.pem")
        .ami_settings()
        .unwrap();
    settings.backoff_first = Duration::from_millis(50);
    let (client, mut link) = AmiClient::start(settings);
    next(&mut link, "up over TLS", |e| *e == LinkEvent::Up).await;
    let pong = client.send(Action::new("Ping")).await.expect("pong");
    assert_eq!(pong.response.get("Ping"), Some("Pong"));
}

#[tokio::test]
async fn an_asterisk_certificate_we_do_not_trust_is_refused_with_the_reason() {
    let double = AmiDouble::start(&["login_and_ping"]).await;
    let port = tls_front(&double).await;
    // The server's own certificate is not a CA: trusting it alone does not make the chain.
    let (_client, mut link) = AmiClient::start(
        tls_config(port, "tests/fixtures/tls/asterisk.pem")
            .ami_settings()
            .unwrap(),
    );
    let down = next(&mut link, "refused", |e| matches!(e, LinkEvent::Down(_))).await;
    let LinkEvent::Down(AmiError::Unreachable { address, reason }) = down else {
        panic!("{down:?}")
    };
    assert_eq!(address, format!("127.0.0.1:{port}"));
    assert!(reason.contains("TLS handshake failed"), "{reason}");
    assert!(
        !double.received_names().iter().any(|n| n == "Login"),
        "the secret never went to an untrusted peer"
    );

    // Settings that cannot work are refused before any connection, naming the key.
    let unreadable = tls_config(port, "tests/fixtures/tls/missing.pem")
        .ami_settings()
        .unwrap_err();
    assert!(
        unreadable.contains("telephony.asterisk.tls_ca_file"),
        "{unreadable}"
    );
    let not_pem = tls_config(port, "tests/fixtures/tls/README.md")
        .ami_settings()
        .unwrap_err();
    assert!(not_pem.contains("no PEM certificate"), "{not_pem}");
}

#[tokio::test]
async fn a_core_that_falls_behind_holds_asterisk_back_and_loses_no_event() {
    let double = AmiDouble::start(&["login_and_ping"]).await;
    let (_client, mut link) = AmiClient::start(settings(double.port, "ctibridge-secret"));
    next(&mut link, "up", |e| *e == LinkEvent::Up).await;
    // More events than the client queues, while nobody takes them.
    const SENT: usize = 40_000;
    let mut burst = Vec::new();
    for n in 0..SENT {
        burst.extend_from_slice(
            format!("Event: VarSet\r\nPrivilege: dialplan,all\r\nVariable: N\r\nValue: {n}\r\n\r\n")
                .as_bytes(),
        );
    }
    double.push(&burst);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    // Then the core catches up: every event, in order.
    for n in 0..SENT {
        let event = next(&mut link, "the next event", |e| is_event(e, "VarSet")).await;
        let LinkEvent::Event(event) = event else {
            unreachable!()
        };
        assert_eq!(event.get("Value"), Some(n.to_string().as_str()));
    }
}

// ---- the driver: Asterisk as the core's switch ------------------------------------------------

pub(crate) mod driver {
    use std::sync::Arc;
    use std::time::Duration;

    use ctibridge::config::TelephonyConfig;
    use ctibridge::telephony::asterisk::{AsteriskConfig, AsteriskSwitch};
    use ctibridge::telephony::engine::SystemClock;
    use ctibridge::telephony::{
        AgentId, AgentState, CampaignId, DialRequest, EmbeddedEngine, EndReason, Event, EventEnvelope,
        LoginRequest, Telephony,
    };
    use secrecy::SecretString;
    use tokio::sync::broadcast;

    use crate::support::ami_double::AmiDouble;
    use crate::telephony::{INBOUND, MemoryContacts, id};

    /// The recordings' setup: agents' phones are `Local` channels of the `agents` context.
    pub fn config(port: u16) -> AsteriskConfig {
        AsteriskConfig {
            port,
            secret: SecretString::from("ctibridge-secret".to_owned()),
            interface: "Local/{device}@agents/n".into(),
            dial_channel: Some("Local/{device}@agents".into()),
            ..AsteriskConfig::default()
        }
    }

    pub async fn engine(
        double: &AmiDouble,
    ) -> (Arc<EmbeddedEngine>, Arc<AsteriskSwitch>, Arc<MemoryContacts>) {
        let switch = AsteriskSwitch::start(config(double.port), Vec::new()).unwrap();
        let contacts = Arc::new(MemoryContacts::default());
        let engine = EmbeddedEngine::with_switch(
            &TelephonyConfig::default(),
            contacts.clone(),
            Arc::new(SystemClock),
            switch.clone(),
        )
        .await
        .unwrap();
        eventually("the AMI link comes up", || switch.is_up()).await;
        (engine, switch, contacts)
    }

    pub async fn wait(
        events: &mut broadcast::Receiver<EventEnvelope>,
        agent: &str,
        what: &str,
        pred: impl Fn(&Event) -> bool,
    ) -> EventEnvelope {
        let agent = id(agent);
        tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                match events.recv().await {
                    Ok(e) if e.agent.as_ref() == Some(&agent) && pred(&e.event) => return e,
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(e) => panic!("{e}"),
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("no event: {what}"))
    }

    /// `user` logs in on `device` (the demo password).
    pub async fn log_in(engine: &EmbeddedEngine, user: &str, device: &str) {
        engine
            .login(LoginRequest::new(device, user, "demo"))
            .await
            .unwrap();
    }

    /// An engine on `double`, its events heard from before `user` logs in on `device`.
    pub async fn logged_in(
        double: &AmiDouble,
        user: &str,
        device: &str,
    ) -> (
        Arc<EmbeddedEngine>,
        broadcast::Receiver<EventEnvelope>,
        Arc<AsteriskSwitch>,
        Arc<MemoryContacts>,
    ) {
        let (engine, switch, contacts) = engine(double).await;
        let events = engine.subscribe();
        log_in(&engine, user, device).await;
        (engine, events, switch, contacts)
    }

    /// `agent` joins `campaign`: returns once Asterisk has the QueueAdd.
    pub async fn join(engine: &EmbeddedEngine, double: &AmiDouble, agent: &AgentId, campaign: CampaignId) {
        engine.login_campaign(agent, campaign).await.unwrap();
        until_received(double, "QueueAdd").await;
    }

    /// The first action named `name` the double received.
    pub fn first_sent(double: &AmiDouble, name: &str) -> ctibridge::telephony::asterisk::codec::Message {
        double
            .received()
            .into_iter()
            .find(|m| m.get("Action") == Some(name))
            .unwrap_or_else(|| panic!("no {name} received"))
    }

    /// `user` on `device` joins the inbound campaign and the recording's customer call
    /// (the recorder's Originate into `[inbound]`) is offered and connected to them.
    pub async fn agent_talking(
        double: &AmiDouble,
        user: &str,
        device: &str,
    ) -> (
        Arc<EmbeddedEngine>,
        ctibridge::telephony::CallView,
        Arc<AsteriskSwitch>,
    ) {
        let (engine, mut events, switch, _contacts) = logged_in(double, user, device).await;
        join(&engine, double, &id(user), INBOUND).await;
        double.play("Originate");
        let event = wait(&mut events, user, "connected", |e| {
            matches!(e, Event::CallConnected { .. })
        })
        .await;
        let Event::CallConnected { call } = event.event else {
            unreachable!()
        };
        (engine, call, switch)
    }

    /// Waits (bounded) until `done` holds.
    pub async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !done() {
            assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    pub async fn until_received(double: &AmiDouble, action: &str) {
        eventually(&format!("{action} sent"), || {
            double.received_names().iter().any(|n| n == action)
        })
        .await;
    }

    #[tokio::test]
    async fn a_queue_call_is_offered_answered_and_ended_as_asterisk_reports_it() {
        let double = AmiDouble::start(&["inbound_answered"]).await;
        let (engine, mut events, _switch, contacts) = logged_in(&double, "agent1", "1001").await;
        let agent = id("agent1");
        // Campaign login = QueueAdd of the agent's interface, exactly as recorded.
        join(&engine, &double, &agent, INBOUND).await;

        // A customer calls (the recorder's Originate into [inbound]): Asterisk's queue offers
        // the call to agent1, agent1 answers, agent1 hangs up.
        double.play("Originate");
        let offered = wait(&mut events, "agent1", "offered", |e| {
            matches!(e, Event::CallOffered { .. })
        })
        .await;
        let Event::CallOffered { call } = offered.event else {
            unreachable!()
        };
        assert_eq!(call.data.phone_number.as_deref(), Some("1155551001"));
        assert_eq!(
            call.data.crm_key.as_deref(),
            Some("31987456"),
            "DATA from the channel variable"
        );
        assert_eq!(
            contacts.count(),
            1,
            "the call went through the contact lookup once"
        );
        wait(&mut events, "agent1", "connected", |e| {
            matches!(e, Event::CallConnected { .. })
        })
        .await;
        let ended = wait(&mut events, "agent1", "ended", |e| {
            matches!(e, Event::CallEnded { .. })
        })
        .await;
        assert_eq!(
            ended.event,
            Event::CallEnded {
                call_id: ctibridge::telephony::CallId(call.data.call_id),
                reason: EndReason::AgentHangup
            }
        );
        let p = engine.position(&agent).await.unwrap();
        assert_eq!(p.state, AgentState::WrapUp);
        assert_eq!(p.contact.unwrap().data.call_id, call.data.call_id);

        // Campaign logout = QueueRemove.
        engine.crm_available(&agent).await.unwrap();
        engine.logout_campaign(&agent).await.unwrap();
        until_received(&double, "QueueRemove").await;
        let sent = double.received();
        let add = sent.iter().find(|m| m.get("Action") == Some("QueueAdd")).unwrap();
        assert_eq!(add.get("Interface"), Some("Local/1001@agents/n"));
        assert_eq!(add.get("MemberName"), Some("agent1"));
    }

    #[tokio::test]
    async fn the_callers_omlcrm_and_listed_variables_travel_with_the_call_for_the_crm() {
        let double = AmiDouble::start(&["inbound_answered"]).await;
        let (engine, mut events, _switch, _contacts) = logged_in(&double, "agent1", "1001").await;
        let agent = id("agent1");
        join(&engine, &double, &agent, INBOUND).await;
        // The dialplan sets them on the caller's channel before Queue().
        let var_set = |variable: &str, value: &str| {
            format!(
                "Event: VarSet\r\nPrivilege: dialplan,all\r\nChannel: PJSIP/trunk-00000001\r\n\
                 Uniqueid: 1795949106.38\r\nLinkedid: 1795949106.38\r\nVariable: {variable}\r\nValue: {value}\r\n\r\n"
            )
        };
        for (variable, value) in [
            ("OMLCUSTOMDIALPLANVARS", "ORDER_REF,TICKET"),
            ("__OmlcrmLang", "es"),
            ("ORDER_REF", "A-77"),
            ("UNRELATED", "no"),
        ] {
            double.push(var_set(variable, value).as_bytes());
        }
        double.play("Originate");
        let event = wait(&mut events, "agent1", "connected", |e| {
            matches!(e, Event::CallConnected { .. })
        })
        .await;
        let Event::CallConnected { call } = event.event else {
            unreachable!()
        };
        let expected: std::collections::BTreeMap<String, String> =
            [("OmlcrmLang", "es"), ("ORDER_REF", "A-77")]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect();
        assert_eq!(call.data.crm_variables, expected);
    }

    #[tokio::test]
    async fn a_dial_is_an_originate_of_the_agents_phone_carrying_the_call_id() {
        let double = AmiDouble::start(&["originate_outbound"]).await;
        let (engine, mut events, _switch, _contacts) = logged_in(&double, "agent3", "1003").await;
        let agent = id("agent3");
        let call = engine
            .dial(&agent, DialRequest::number("1155550100"))
            .await
            .unwrap();
        until_received(&double, "Originate").await;
        let originate = first_sent(&double, "Originate");
        // The recorded Originate, header for header, with this call's id.
        let headers: Vec<(String, String)> = originate
            .headers()
            .iter()
            .filter(|(k, _)| k != "ActionID")
            .cloned()
            .collect();
        let expected: Vec<(String, String)> = [
            ("Action", "Originate".to_owned()),
            ("Channel", "Local/1003@agents".to_owned()),
            ("Context", "outbound".to_owned()),
            ("Exten", "1155550100".to_owned()),
            ("Priority", "1".to_owned()),
            ("CallerID", "\"agent3\" <1003>".to_owned()),
            ("Async", "true".to_owned()),
            ("Timeout", "15000".to_owned()),
            ("Variable", format!("CTI_CALL_ID={}", call.0)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        assert_eq!(headers, expected);

        // Asterisk names the call's channel (CTI_CALL_ID comes back on it); hanging up from
        // the softphone hangs that channel up.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            engine.hangup(&agent, Some(call)).await.ok();
            if double.received_names().iter().any(|n| n == "Hangup") {
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "no Hangup sent");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let hangup = first_sent(&double, "Hangup");
        assert_eq!(hangup.get("Channel"), Some("Local/1003@agents-00000019;1"));
        wait(&mut events, "agent3", "ended", |e| {
            matches!(e, Event::CallEnded { .. })
        })
        .await;
    }

    #[tokio::test]
    async fn an_originate_asterisk_refuses_ends_the_call_as_not_answered() {
        // login_and_ping recorded no Originate: the double answers it as Asterisk answers an
        // action it refuses.
        let double = AmiDouble::start(&["login_and_ping"]).await;
        let (engine, mut events, _switch, _contacts) = logged_in(&double, "agent3", "1003").await;
        let agent = id("agent3");
        let call = engine
            .dial(&agent, DialRequest::number("1155550100"))
            .await
            .unwrap();
        let ended = wait(&mut events, "agent3", "ended", |e| {
            matches!(e, Event::CallEnded { .. })
        })
        .await;
        assert_eq!(
            ended.event,
            Event::CallEnded {
                call_id: call,
                reason: EndReason::NoAnswer
            }
        );
        assert_eq!(engine.position(&agent).await.unwrap().state, AgentState::WrapUp);
    }

    #[tokio::test]
    async fn while_the_link_is_down_methods_say_telephony_is_unavailable() {
        let double = AmiDouble::start(&["login_and_ping"]).await;
        let (engine, mut events, switch, _contacts) = logged_in(&double, "agent1", "1001").await;
        double.set_accepting(false);
        double.drop_connections();
        // The agent's socket hears it, once.
        let down = wait(&mut events, "agent1", "telephony down", |e| {
            matches!(e, Event::TelephonyStatus { available: false, .. })
        })
        .await;
        let Event::TelephonyStatus { reason, .. } = down.event else {
            unreachable!()
        };
        assert!(
            reason
                .unwrap_or_default()
                .contains("the link to Asterisk is down")
        );
        eventually("the link goes down", || !switch.is_up()).await;
        let refused = engine.login_campaign(&id("agent1"), INBOUND).await.unwrap_err();
        assert!(
            refused
                .to_string()
                .contains("the telephony platform is unavailable"),
            "{refused}"
        );
        assert_eq!(
            engine.position(&id("agent1")).await.unwrap().state,
            AgentState::LoggedIn,
            "nothing changed"
        );
        double.set_accepting(true);
        eventually("the link comes back", || switch.is_up()).await;
        wait(&mut events, "agent1", "telephony back", |e| {
            matches!(e, Event::TelephonyStatus { available: true, .. })
        })
        .await;
        engine
            .login_campaign(&id("agent1"), INBOUND)
            .await
            .expect("accepted again");
    }
}

mod resync {
    use std::sync::Arc;
    use std::time::Duration;

    use ctibridge::config::TelephonyConfig;
    use ctibridge::telephony::asterisk::AsteriskSwitch;
    use ctibridge::telephony::engine::SystemClock;
    use ctibridge::telephony::{AgentState, EmbeddedEngine, EndReason, Event, Telephony};

    use super::driver::{config, eventually, join, log_in};
    use crate::support::ami_double::AmiDouble;
    use crate::telephony::{INBOUND, MemoryContacts, id};

    /// Asterisk's QueueStatus list for `salesforce` after the link came back, in the recorded
    /// shape: agent3 (ours), a dynamic member no agent accounts for, a static member.
    const QUEUE_STATUS: &str = "Response: Success\r\nActionID: {id}\r\nEventList: start\r\nMessage: Queue status will follow\r\n\r\n\
        Event: QueueParams\r\nQueue: salesforce\r\nMax: 0\r\nStrategy: leastrecent\r\nCalls: 0\r\nHoldtime: 0\r\nTalkTime: 0\r\nCompleted: 1\r\nAbandoned: 0\r\nServiceLevel: 0\r\nServicelevelPerf: 0.0\r\nServicelevelPerf2: 0.0\r\nWeight: 0\r\nActionID: {id}\r\n\r\n\
        Event: QueueMember\r\nQueue: salesforce\r\nName: agent3\r\nLocation: Local/1003@agents/n\r\nStateInterface: Local/1003@agents/n\r\nMembership: dynamic\r\nPenalty: 0\r\nCallsTaken: 1\r\nLastCall: 0\r\nLastPause: 0\r\nLoginTime: 0\r\nInCall: 0\r\nStatus: 1\r\nPaused: 0\r\nPausedReason: \r\nWrapuptime: 0\r\nActionID: {id}\r\n\r\n\
        Event: QueueMember\r\nQueue: salesforce\r\nName: agent9\r\nLocation: Local/1009@agents/n\r\nStateInterface: Local/1009@agents/n\r\nMembership: dynamic\r\nPenalty: 0\r\nCallsTaken: 0\r\nLastCall: 0\r\nLastPause: 0\r\nLoginTime: 0\r\nInCall: 0\r\nStatus: 1\r\nPaused: 0\r\nPausedReason: \r\nWrapuptime: 0\r\nActionID: {id}\r\n\r\n\
        Event: QueueMember\r\nQueue: salesforce\r\nName: Local/1010@agents/n\r\nLocation: Local/1010@agents/n\r\nStateInterface: Local/1010@agents/n\r\nMembership: static\r\nPenalty: 0\r\nCallsTaken: 0\r\nLastCall: 0\r\nLastPause: 0\r\nLoginTime: 0\r\nInCall: 0\r\nStatus: 1\r\nPaused: 0\r\nPausedReason: \r\nWrapuptime: 0\r\nActionID: {id}\r\n\r\n\
        Event: QueueStatusComplete\r\nActionID: {id}\r\nEventList: Complete\r\nListItems: 4\r\n\r\n";

    /// No channel is up any more.
    const NO_CHANNELS: &str = "Response: Success\r\nActionID: {id}\r\nEventList: start\r\nMessage: Channels will follow\r\n\r\n\
        Event: CoreShowChannelsComplete\r\nActionID: {id}\r\nEventList: Complete\r\nListItems: 0\r\n\r\n";

    #[tokio::test]
    async fn after_a_reconnection_a_call_that_ended_meanwhile_is_closed_once_and_stale_members_go() {
        let double = AmiDouble::start(&["chanspy_listen_and_whisper"]).await;
        let switch = AsteriskSwitch::start(config(double.port), vec!["salesforce".into()]).unwrap();
        let engine = EmbeddedEngine::with_switch(
            &TelephonyConfig::default(),
            Arc::new(MemoryContacts::default()),
            Arc::new(SystemClock),
            switch.clone(),
        )
        .await
        .unwrap();
        eventually("the AMI link comes up", || switch.is_up()).await;
        let mut events = engine.subscribe();
        let agent = id("agent3");
        log_in(&engine, "agent3", "1003").await;
        join(&engine, &double, &agent, INBOUND).await;
        double.play("Originate");
        eventually(
            "agent3 talks",
            || matches!(events.try_recv(), Ok(e) if matches!(e.event, Event::CallConnected { .. })),
        )
        .await;

        // The link drops; meanwhile the customer hung up and someone left a member behind.
        double.script("QueueStatus", QUEUE_STATUS);
        double.script("CoreShowChannels", NO_CHANNELS);
        let removes_before = double
            .received_names()
            .iter()
            .filter(|n| *n == "QueueRemove")
            .count();
        double.drop_connections();
        eventually("the link comes back", || {
            double.received_names().iter().filter(|n| *n == "Login").count() >= 2 && switch.is_up()
        })
        .await;

        // The call is closed, once; agent3 keeps their login and campaign (wrap-up).
        let mut ended = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while engine.position(&agent).await.unwrap().state != AgentState::WrapUp {
            assert!(tokio::time::Instant::now() < deadline, "the call was not closed");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        while let Ok(e) = events.try_recv() {
            if let Event::CallEnded { reason, .. } = e.event {
                ended.push(reason);
            }
        }
        assert_eq!(ended, vec![EndReason::CustomerHangup]);
        let position = engine.position(&agent).await.unwrap();
        assert_eq!(position.campaign.map(|c| c.id), Some(INBOUND));

        // Only the dynamic member no agent accounts for was removed.
        let removed: Vec<Option<String>> = double
            .received()
            .into_iter()
            .filter(|m| m.get("Action") == Some("QueueRemove"))
            .skip(removes_before)
            .map(|m| m.get("Interface").map(str::to_owned))
            .collect();
        assert_eq!(removed, vec![Some("Local/1009@agents/n".to_owned())]);
    }
}

// ---- the dialplan's intake endpoint -------------------------------------------------------------

mod intake {
    use ctibridge::telephony::DriverKind;
    use ctibridge::telephony::asterisk::AsteriskConfig;
    use ctibridge::telephony::engine::roster::hash_password;
    use secrecy::SecretString;

    use crate::support::ami_double::AmiDouble;
    use crate::support::server::TestApp;

    async fn app(double: &AmiDouble) -> TestApp {
        let hash = hash_password("dialplan-token").unwrap();
        let port = double.port;
        TestApp::spawn_with(move |c| {
            c.telephony.driver = DriverKind::Asterisk;
            c.telephony.asterisk = Some(AsteriskConfig {
                port,
                secret: SecretString::from("ctibridge-secret".to_owned()),
                intake_token_hash: Some(hash),
                ..AsteriskConfig::default()
            });
        })
        .await
    }

    async fn get(app: &TestApp, token: Option<&str>, query: &str) -> (u16, String) {
        let mut request = app.client.get(app.url(&format!("/asterisk/intake?{query}")));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    }

    #[tokio::test]
    async fn the_dialplan_gets_clavesf_and_the_call_id_as_plain_text() {
        let double = AmiDouble::start(&["login_and_ping"]).await;
        let app = app(&double).await;
        // A caller with DATA: CLAVESF is `idContacto-Data`.
        let (status, body) = get(
            &app,
            Some("dialplan-token"),
            "queue=salesforce&ani=1155551001&data=31987456",
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let (clavesf, call) = body.split_once('|').expect("CLAVESF|callId");
        assert!(clavesf.ends_with("-31987456"), "{body}");
        let call: u64 = call.parse().expect("a call id");
        // Without DATA: `idContacto-` (the adapter will not search); a new call id.
        let (status, body) = get(&app, Some("dialplan-token"), "queue=salesforce&ani=1155559999").await;
        assert_eq!(status, 200, "{body}");
        let (clavesf, next) = body.split_once('|').unwrap();
        assert!(clavesf.ends_with('-'), "{body}");
        assert!(next.parse::<u64>().unwrap() > call);
        // The same channel asking twice (a retry after a slow answer): the same call.
        let query = "queue=salesforce&ani=1155558888&uniqueid=1795949106.38";
        let (_, first) = get(&app, Some("dialplan-token"), query).await;
        let (_, again) = get(&app, Some("dialplan-token"), query).await;
        assert_eq!(first, again);

        let (status, _) = get(&app, Some("wrong"), "queue=salesforce&ani=1").await;
        assert_eq!(status, 401);
        let (status, _) = get(&app, None, "queue=salesforce&ani=1").await;
        assert_eq!(status, 401);
        let (status, body) = get(&app, Some("dialplan-token"), "queue=nope&ani=1").await;
        assert_eq!(status, 404, "{body}");
        assert!(body.contains("unknown queue `nope`"), "{body}");
        let (status, _) = get(&app, Some("dialplan-token"), "ani=1").await;
        assert_eq!(status, 422);
        let (status, body) = get(&app, Some("dialplan-token"), "queue=salesforce&colour=red").await;
        assert_eq!(status, 422);
        assert!(body.contains("unknown parameter `colour`"), "{body}");
    }

    #[tokio::test]
    async fn omlcrm_variables_the_dialplan_passes_travel_with_the_call() {
        use serde_json::json;

        use crate::http::{login, rpc, wait_for, ws_connect};

        let double = AmiDouble::start(&["inbound_answered"]).await;
        let hash = hash_password("dialplan-token").unwrap();
        let mut asterisk = super::driver::config(double.port);
        asterisk.intake_token_hash = Some(hash);
        let app = TestApp::spawn_with(move |c| {
            c.telephony.driver = DriverKind::Asterisk;
            c.telephony.asterisk = Some(asterisk);
        })
        .await;
        // The recorded caller's channel, as the dialplan asks before Queue().
        let (status, body) = get(
            &app,
            Some("dialplan-token"),
            "queue=salesforce&ani=1155551001&data=31987456&uniqueid=1795949106.38&OmlcrmLang=es&OmlcrmOrder=A%2077",
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let call: u64 = body.split_once('|').unwrap().1.parse().unwrap();
        let token = login(&app, "agent1", "1001").await;
        rpc(&app, Some(&token), "Login_Campaign", json!({"campaign": 97}))
            .await
            .ok();
        super::driver::until_received(&double, "QueueAdd").await;
        let (mut socket, _) = ws_connect(&app, &token).await;
        double.play("Originate");
        let offered = wait_for(&mut socket, "callOffered").await;
        assert_eq!(offered["call"]["callId"], call, "{offered}");
        assert_eq!(
            offered["call"]["crmVariables"],
            json!({"OmlcrmLang": "es", "OmlcrmOrder": "A 77"}),
            "{offered}"
        );
    }
}

mod queue_outcomes {
    use std::time::Duration;

    use ctibridge::telephony::{AgentState, EndReason, Event, PauseReason, SystemRest, Telephony};
    use tokio::sync::broadcast;

    use super::driver::{first_sent, join, logged_in};
    use crate::support::ami_double::AmiDouble;
    use crate::telephony::{INBOUND, id};

    #[tokio::test]
    async fn a_call_that_rings_out_is_offered_again_then_abandoned() {
        let double = AmiDouble::start(&["inbound_ring_no_answer"]).await;
        let (engine, mut events, _switch, _contacts) = logged_in(&double, "agent2", "1002").await;
        let agent = id("agent2");
        join(&engine, &double, &agent, INBOUND).await;
        double.play("Originate");
        let mut seen = Vec::new();
        let abandoned = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                match events.recv().await {
                    Ok(e) => {
                        let kind = match &e.event {
                            Event::CallOffered { .. } => "offered",
                            Event::CallEnded {
                                reason: EndReason::NoAnswer,
                                ..
                            } => "rang out",
                            Event::CallEnded {
                                reason: EndReason::Abandoned,
                                ..
                            } => "abandoned",
                            _ => continue,
                        };
                        if e.agent.as_ref() == Some(&agent) {
                            seen.push(kind);
                        }
                        if kind == "abandoned" {
                            return;
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(e) => panic!("{e}"),
                }
            }
        })
        .await;
        assert!(abandoned.is_ok(), "no abandoned call: {seen:?}");
        assert_eq!(seen, vec!["offered", "rang out", "offered", "abandoned"]);
        assert_eq!(
            engine.position(&agent).await.unwrap().state,
            AgentState::Available
        );
    }

    #[tokio::test]
    async fn a_caller_who_gives_up_in_the_queue_is_an_abandoned_call_of_the_core() {
        let double = AmiDouble::start(&["inbound_abandoned_waiting"]).await;
        let (engine, mut events, _switch, contacts) = logged_in(&double, "agent1", "1001").await;
        let agent = id("agent1");
        engine
            .pause(&agent, PauseReason::System(SystemRest::Break))
            .await
            .unwrap();
        // Joining the campaign paused = QueueAdd with Paused: true, as recorded.
        join(&engine, &double, &agent, INBOUND).await;
        let add = first_sent(&double, "QueueAdd");
        assert_eq!(add.get("Paused"), Some("true"));
        double.play("Originate");
        let ended = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                if let Ok(e) = events.recv().await
                    && let Event::CallEnded { reason, .. } = e.event
                {
                    return (e.agent, reason);
                }
            }
        })
        .await
        .expect("the abandoned call ends in the core");
        assert_eq!(ended, (None, EndReason::Abandoned));
        assert_eq!(
            contacts.count(),
            1,
            "taken in (contact lookup) when it joined the queue"
        );
    }
}

mod supervisor {
    use std::time::Duration;

    use ctibridge::telephony::{MonitorMode, MonitorRequest, Telephony};

    use super::driver::{agent_talking, log_in};
    use crate::support::ami_double::AmiDouble;
    use crate::telephony::id;

    #[tokio::test]
    async fn listen_then_whisper_originate_the_supervisors_phone_into_chanspy_as_recorded() {
        let double = AmiDouble::start(&["chanspy_listen_and_whisper"]).await;
        let (engine, _call, _switch) = agent_talking(&double, "agent3", "1003").await;
        let agent = id("agent3");

        let supervisor = id("super1");
        log_in(&engine, "super1", "1100").await;
        for mode in [MonitorMode::Listen, MonitorMode::Assist] {
            engine
                .monitor(
                    &supervisor,
                    MonitorRequest {
                        target: agent.clone(),
                        mode,
                    },
                )
                .await
                .unwrap();
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while double
            .received_names()
            .iter()
            .filter(|n| *n == "Originate")
            .count()
            < 2
        {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{:?}",
                double.received_names()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let spies: Vec<(Option<String>, Option<String>)> = double
            .received()
            .into_iter()
            .filter(|m| m.get("Action") == Some("Originate"))
            .map(|m| {
                (
                    m.get("Exten").map(str::to_owned),
                    m.get("Variable").map(str::to_owned),
                )
            })
            .collect();
        assert_eq!(
            spies,
            // The recorded target without its trailing dash would also catch
            // `Local/10030@agents-…` (ChanSpy matches by prefix).
            vec![
                (Some("listen".into()), Some("SPYTARGET=Local/1003@agents-".into())),
                (
                    Some("whisper".into()),
                    Some("SPYTARGET=Local/1003@agents-".into())
                ),
            ]
        );
        // Every other action the driver sent is one the recorded Asterisk answered (but the
        // CoreShowChannels of the resync at connection, which this recording did not send).
        let unmatched: Vec<_> = double
            .unmatched()
            .into_iter()
            .filter(|m| !matches!(m.get("Action"), Some("CoreShowChannels" | "Originate")))
            .collect();
        assert!(unmatched.is_empty(), "{unmatched:?}");
    }
}

mod console {
    use std::time::Duration;

    use ctibridge::telephony::{AgentState, PauseReason, SystemRest, Telephony};

    use super::driver::{engine, join, log_in};
    use crate::support::ami_double::AmiDouble;
    use crate::telephony::{INBOUND, id};

    pub(super) async fn state_becomes(
        engine: &ctibridge::telephony::EmbeddedEngine,
        user: &str,
        want: AgentState,
    ) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let state = engine.position(&id(user)).await.unwrap().state;
            if state == want {
                return;
            }
            assert!(tokio::time::Instant::now() < deadline, "{user} stayed {state:?}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    #[tokio::test]
    async fn a_pause_made_at_the_asterisk_console_shows_in_the_softphone() {
        let double = AmiDouble::start(&["queue_member_lifecycle"]).await;
        let (engine, _switch, _contacts) = engine(&double).await;
        let agent = id("agent1");
        log_in(&engine, "agent1", "1001").await;
        join(&engine, &double, &agent, INBOUND).await;
        // A supervisor pauses agent1 at the console with the reason "Descanso" (not a rest
        // state of this configuration: Break), then unpauses them.
        double.play("QueuePause");
        state_becomes(&engine, "agent1", AgentState::Paused).await;
        let p = engine.position(&agent).await.unwrap();
        assert_eq!(p.pause.unwrap().reason, PauseReason::System(SystemRest::Break));
        double.play("QueuePause");
        state_becomes(&engine, "agent1", AgentState::Available).await;
    }
}

mod conference {

    use ctibridge::telephony::{Participant, Telephony};

    use super::driver::{agent_talking, eventually};
    use crate::support::ami_double::AmiDouble;
    use crate::telephony::id;

    /// What the recordings do not show (a Redirect into ConfBridge): the actions the driver
    /// sends, and its reading of ConfbridgeJoin.
    #[tokio::test]
    async fn a_conference_redirects_both_legs_into_the_calls_room_and_kicks_only_guests() {
        let double = AmiDouble::start(&["chanspy_listen_and_whisper"]).await;
        let (engine, connected, switch) = agent_talking(&double, "agent3", "1003").await;
        let agent = id("agent3");
        let room = connected.data.call_id.to_string();

        engine.join_conference(&agent).await.unwrap();
        engine
            .invite_participant(&agent, Participant::External("1155550401".into()))
            .await
            .unwrap();
        eventually("the redirect and the invitation", || {
            let names = double.received_names();
            names.iter().any(|n| n == "Redirect") && names.iter().filter(|n| *n == "Originate").count() >= 1
        })
        .await;
        let sent = double.received();
        let redirect = sent.iter().find(|m| m.get("Action") == Some("Redirect")).unwrap();
        assert!(
            redirect.get("Channel").unwrap().starts_with("Local/s@customer-"),
            "{redirect:?}"
        );
        assert!(
            redirect
                .get("ExtraChannel")
                .unwrap()
                .starts_with("Local/1003@agents-"),
            "{redirect:?}"
        );
        assert_eq!(redirect.get("Context"), Some("conference"));
        assert_eq!(redirect.get("Exten"), Some(room.as_str()));
        assert_eq!(redirect.get("ExtraExten"), Some(room.as_str()));
        let invite = sent
            .iter()
            .find(|m| m.get("Action") == Some("Originate"))
            .unwrap();
        assert_eq!(invite.get("Channel"), Some("Local/1155550401@outbound"));
        assert_eq!(invite.get("Exten"), Some(room.as_str()));

        // The room reports who joined: the agent (not a guest) and the invited number.
        let agent_channel = redirect.get("ExtraChannel").unwrap().to_owned();
        for channel in [agent_channel.as_str(), "Local/1155550401@outbound-000000aa;1"] {
            double.push(
                format!(
                    "Event: ConfbridgeJoin\r\nPrivilege: call,all\r\nConference: {room}\r\nChannel: {channel}\r\n\r\n"
                )
                .as_bytes(),
            );
        }
        // The joins change nothing the core shows: wait until the driver applied them.
        let before = switch.events_applied();
        eventually("the joins applied", || switch.events_applied() >= before + 2).await;
        engine.kick_all(&agent).await.unwrap();
        eventually("the kick", || {
            double.received_names().iter().any(|n| n == "ConfbridgeKick")
        })
        .await;
        let kicks: Vec<(Option<String>, Option<String>)> = double
            .received()
            .into_iter()
            .filter(|m| m.get("Action") == Some("ConfbridgeKick"))
            .map(|m| {
                (
                    m.get("Conference").map(str::to_owned),
                    m.get("Channel").map(str::to_owned),
                )
            })
            .collect();
        assert_eq!(
            kicks,
            vec![(
                Some(room.clone()),
                Some("Local/1155550401@outbound-000000aa;1".to_owned())
            )]
        );
    }
}

mod transfers {
    use ctibridge::telephony::{
        AgentState, CallId, Event, LoginRequest, Telephony, TelephonyError, TransferMode, TransferRequest,
        TransferTarget,
    };

    use super::driver::{agent_talking, eventually, log_in, until_received, wait};
    use crate::support::ami_double::AmiDouble;
    use crate::telephony::id;

    /// The recording's customer channel and call (`chanspy_listen_and_whisper`: agent3 on 1003
    /// talks to the customer).
    const CUSTOMER: &str = "Local/s@customer-0000001e;1";
    const LINKEDID: &str = "1795949190.60";

    /// The `DialEnd` of the customer's channel dialing `dest`, shaped as the recorded one.
    fn dial_end(dest: &str, status: &str) -> Vec<u8> {
        format!(
            "Event: DialEnd\r\nPrivilege: call,all\r\nChannel: {CUSTOMER}\r\nChannelState: 6\r\n\
             ChannelStateDesc: Up\r\nCallerIDNum: 1155551001\r\nCallerIDName: Ana Garcia\r\n\
             Context: agents\r\nExten: 1001\r\nPriority: 1\r\nUniqueid: {LINKEDID}\r\n\
             Linkedid: {LINKEDID}\r\nDestChannel: {dest}\r\nDestChannelState: 6\r\n\
             DestChannelStateDesc: Up\r\nDestContext: agents\r\nDestExten: 1001\r\nDestPriority: 1\r\n\
             DestUniqueid: 1795949190.90\r\nDestLinkedid: {LINKEDID}\r\nDialStatus: {status}\r\n\r\n"
        )
        .into_bytes()
    }

    fn hangup(channel: &str) -> Vec<u8> {
        format!(
            "Event: Hangup\r\nPrivilege: call,all\r\nChannel: {channel}\r\nUniqueid: {LINKEDID}\r\n\
             Linkedid: {LINKEDID}\r\nCause: 16\r\nCause-txt: Normal Clearing\r\n\r\n"
        )
        .into_bytes()
    }

    /// The last action named `name` the double received.
    fn last(double: &AmiDouble, name: &str) -> ctibridge::telephony::asterisk::codec::Message {
        double
            .received()
            .into_iter()
            .rev()
            .find(|m| m.get("Action") == Some(name))
            .unwrap_or_else(|| panic!("no {name} received"))
    }

    /// agent3 talks to the recording's customer; agent1 has logged in since (their events heard).
    async fn agent3_talking_agent1_free(
        double: &AmiDouble,
    ) -> (
        std::sync::Arc<ctibridge::telephony::EmbeddedEngine>,
        CallId,
        tokio::sync::broadcast::Receiver<ctibridge::telephony::EventEnvelope>,
    ) {
        let (engine, connected, _switch) = agent_talking(double, "agent3", "1003").await;
        let events = engine.subscribe();
        log_in(&engine, "agent1", "1001").await;
        (engine, CallId(connected.data.call_id), events)
    }

    fn to_agent1(mode: TransferMode) -> TransferRequest {
        TransferRequest {
            target: TransferTarget::User(id("agent1")),
            mode,
        }
    }

    #[tokio::test]
    async fn a_login_on_a_device_asterisk_does_not_know_is_refused_naming_its_interface() {
        let double = AmiDouble::start(&["chanspy_listen_and_whisper"]).await;
        let (engine, _switch, _contacts) = super::driver::engine(&double).await;
        let refused = engine
            .login(LoginRequest::new("1009", "agent1", "demo"))
            .await
            .unwrap_err();
        assert!(
            matches!(&refused, TelephonyError::DeviceRefused { device, .. } if device == "1009"),
            "{refused:?}"
        );
        assert!(refused.to_string().contains("Local/1009@agents/n"), "{refused}");
        assert_eq!(
            engine.position(&id("agent1")).await.unwrap().state,
            AgentState::LoggedOut,
            "nothing of the login was kept"
        );
        // A device Asterisk knows logs in; the check was Asterisk's device state.
        log_in(&engine, "agent1", "1001").await;
        let asked = last(&double, "Getvar");
        assert_eq!(asked.get("Variable"), Some("DEVICE_STATE(Local/1001@agents/n)"));
    }

    #[tokio::test]
    async fn joining_a_campaign_whose_queue_asterisk_lacks_is_refused_naming_the_queue() {
        use std::sync::Arc;

        use ctibridge::config::TelephonyConfig;
        use ctibridge::telephony::EmbeddedEngine;
        use ctibridge::telephony::asterisk::AsteriskSwitch;
        use ctibridge::telephony::engine::SystemClock;

        let double = AmiDouble::start(&["login_and_ping"]).await;
        let mut telephony = TelephonyConfig::default();
        telephony.campaigns = telephony.effective_campaigns();
        telephony.campaigns[0].queue = Some("ventas".into());
        let switch =
            AsteriskSwitch::start(super::driver::config(double.port), vec!["ventas".into()]).unwrap();
        let engine = EmbeddedEngine::with_switch(
            &telephony,
            Arc::new(crate::telephony::MemoryContacts::default()),
            Arc::new(SystemClock),
            switch.clone(),
        )
        .await
        .unwrap();
        eventually("the link is up and the queue checked", || switch.is_up()).await;
        log_in(&engine, "agent1", "1001").await;
        let refused = engine
            .login_campaign(&id("agent1"), crate::telephony::INBOUND)
            .await
            .unwrap_err();
        assert!(
            matches!(&refused, TelephonyError::QueueRefused { queue, .. } if queue == "ventas"),
            "{refused:?}"
        );
        assert!(refused.to_string().contains("queues.conf"), "{refused}");
        assert_eq!(
            engine.position(&id("agent1")).await.unwrap().state,
            AgentState::LoggedIn
        );
        assert!(
            !double.received_names().iter().any(|n| n == "QueueAdd"),
            "no member added to a queue that is not there"
        );
    }

    #[tokio::test]
    async fn a_direct_transfer_to_a_user_dials_their_device_and_they_keep_the_customer() {
        let double = AmiDouble::start(&["chanspy_listen_and_whisper"]).await;
        let (engine, call, mut events) = agent3_talking_agent1_free(&double).await;

        engine
            .transfer(&id("agent3"), Some(call), to_agent1(TransferMode::Direct))
            .await
            .unwrap();
        until_received(&double, "BlindTransfer").await;
        let sent = last(&double, "BlindTransfer");
        assert!(
            sent.get("Channel").unwrap().starts_with("Local/1003@agents-"),
            "the transferring agent's channel: {sent:?}"
        );
        assert_eq!(sent.get("Context"), Some("agents"));
        assert_eq!(sent.get("Exten"), Some("1001"));
        assert_eq!(
            engine.position(&id("agent3")).await.unwrap().state,
            AgentState::WrapUp
        );
        wait(&mut events, "agent1", "offered", |e| {
            matches!(e, Event::CallOffered { .. })
        })
        .await;

        // agent1's phone answers: the call is agent1's, under the same id.
        let agent1_channel = "Local/1001@agents-000000b0;1";
        double.push(&dial_end(agent1_channel, "ANSWER"));
        wait(
            &mut events,
            "agent1",
            "connected",
            |e| matches!(e, Event::CallConnected { call: c } if c.data.call_id == call.0),
        )
        .await;
        // The customer hangs up: the call ends for agent1.
        double.push(&hangup(CUSTOMER));
        wait(
            &mut events,
            "agent1",
            "ended",
            |e| matches!(e, Event::CallEnded { call_id, .. } if *call_id == call),
        )
        .await;
        assert_eq!(
            engine.position(&id("agent1")).await.unwrap().state,
            AgentState::WrapUp
        );
    }

    #[tokio::test]
    async fn an_attended_transfer_to_a_user_consults_then_hands_over_or_cancels() {
        let double = AmiDouble::start(&["chanspy_listen_and_whisper"]).await;
        let (engine, call, mut events) = agent3_talking_agent1_free(&double).await;
        let agent3 = id("agent3");

        // First consultation: agent1 does not answer; agent3 is back with the customer.
        engine
            .transfer(&agent3, Some(call), to_agent1(TransferMode::Attended))
            .await
            .unwrap();
        until_received(&double, "Atxfer").await;
        let atxfer = last(&double, "Atxfer");
        assert!(atxfer.get("Channel").unwrap().starts_with("Local/1003@agents-"));
        assert_eq!(
            (atxfer.get("Context"), atxfer.get("Exten")),
            (Some("agents"), Some("1001"))
        );
        double.push(&dial_end("Local/1001@agents-000000b1;1", "NOANSWER"));
        wait(
            &mut events,
            "agent3",
            "cancelled",
            |e| matches!(e, Event::TransferCancelled { call_id } if *call_id == call),
        )
        .await;
        assert_eq!(engine.position(&agent3).await.unwrap().state, AgentState::InCall);
        assert_eq!(
            engine.position(&id("agent1")).await.unwrap().state,
            AgentState::LoggedIn
        );

        // Second: agent3 cancels the consultation itself ("fin de transferencia").
        engine
            .transfer(&agent3, Some(call), to_agent1(TransferMode::Attended))
            .await
            .unwrap();
        engine.cancel_transfer(&agent3).await.unwrap();
        eventually("the CancelAtxfer", || {
            double
                .received_names()
                .iter()
                .filter(|n| *n == "CancelAtxfer")
                .count()
                == 2
        })
        .await;
        assert!(
            last(&double, "CancelAtxfer")
                .get("Channel")
                .unwrap()
                .starts_with("Local/1003@agents-")
        );

        // Third: agent1 answers, agent3 completes: agent1 has the customer.
        engine
            .transfer(&agent3, Some(call), to_agent1(TransferMode::Attended))
            .await
            .unwrap();
        double.push(&dial_end("Local/1001@agents-000000b2;1", "ANSWER"));
        wait(
            &mut events,
            "agent3",
            "answered",
            |e| matches!(e, Event::TransferAnswered { call_id } if *call_id == call),
        )
        .await;
        engine.complete_transfer(&agent3).await.unwrap();
        wait(
            &mut events,
            "agent1",
            "connected",
            |e| matches!(e, Event::CallConnected { call: c } if c.data.call_id == call.0),
        )
        .await;
        eventually("the transferring agent's leg hung up", || {
            double.received().iter().any(|m| {
                m.get("Action") == Some("Hangup")
                    && m.get("Channel")
                        .is_some_and(|c| c.starts_with("Local/1003@agents-"))
            })
        })
        .await;
        assert_eq!(engine.position(&agent3).await.unwrap().state, AgentState::WrapUp);
    }
}

mod predictive {
    use std::time::Duration;

    use ctibridge::telephony::engine::LeadInput;
    use ctibridge::telephony::{AgentState, CampaignId, EndReason, Event, Telephony};

    use super::console::state_becomes;
    use super::driver::{eventually, first_sent, logged_in, until_received};
    use crate::support::ami_double::AmiDouble;
    use crate::telephony::id;

    const PREDICTIVE: CampaignId = CampaignId(98);

    /// The events Asterisk sends for the predictive call `call` (its Local channel towards the
    /// number, `linkedid`), shaped as the recorded ones: `what` names the stage.
    fn asterisk_says(what: &str, call: u64, action_id: &str) -> Vec<u8> {
        let channel = "Local/1160000001@outbound-000000c0;1";
        let linkedid = "1795949300.10";
        let head = format!(
            "Privilege: agent,all\r\nChannel: {channel}\r\nChannelState: 6\r\nChannelStateDesc: Up\r\n\
             CallerIDNum: 1160000001\r\nCallerIDName: <unknown>\r\nContext: queues\r\nExten: 98\r\n\
             Priority: 1\r\nUniqueid: {linkedid}\r\nLinkedid: {linkedid}\r\n"
        );
        let member = "Queue: 98\r\nInterface: Local/1003@agents/n\r\nMemberName: agent3\r\n";
        match what {
            "answered" => format!(
                "Event: VarSet\r\n{head}Variable: CTI_CALL_ID\r\nValue: {call}\r\n\r\n\
                 Event: OriginateResponse\r\nPrivilege: call,all\r\nActionID: {action_id}\r\n\
                 Response: Success\r\nChannel: {channel}\r\nContext: queues\r\nExten: 98\r\nReason: 4\r\n\
                 Uniqueid: {linkedid}\r\nCallerIDNum: <unknown>\r\nCallerIDName: <unknown>\r\n\r\n\
                 Event: QueueCallerJoin\r\n{head}Queue: 98\r\nPosition: 1\r\nCount: 1\r\n\r\n\
                 Event: AgentCalled\r\n{head}DestChannel: Local/1003@agents-000000c2;1\r\n{member}\r\n"
            ),
            "connected" => format!(
                "Event: AgentConnect\r\n{head}DestChannel: Local/1003@agents-000000c2;1\r\n{member}\
                 HoldTime: 1\r\nRingTime: 1\r\n\r\n"
            ),
            "completed" => format!(
                "Event: AgentComplete\r\n{head}DestChannel: Local/1003@agents-000000c2;1\r\n{member}\
                 HoldTime: 1\r\nTalkTime: 5\r\nReason: caller\r\n\r\n"
            ),
            "unreached" => format!(
                "Event: OriginateResponse\r\nPrivilege: call,all\r\nActionID: {action_id}\r\n\
                 Response: Failure\r\nChannel: Local/1160000002@outbound\r\nContext: queues\r\nExten: 98\r\n\
                 Reason: 5\r\nUniqueid: <null>\r\nCallerIDNum: <unknown>\r\nCallerIDName: <unknown>\r\n\r\n"
            ),
            _ => unreachable!(),
        }
        .into_bytes()
    }

    /// The call id the Originate carries in its `CTI_CALL_ID` channel variable.
    fn call_id_of(originate: &ctibridge::telephony::asterisk::codec::Message) -> u64 {
        originate
            .get("Variable")
            .and_then(|v| v.strip_prefix("CTI_CALL_ID="))
            .and_then(|v| v.parse().ok())
            .expect("the call id in a channel variable")
    }

    /// The predictive campaign gets one lead to call, on `phone`.
    async fn one_lead(engine: &ctibridge::telephony::EmbeddedEngine, phone: &str) {
        engine
            .load_leads(
                PREDICTIVE,
                vec![LeadInput {
                    phone: phone.into(),
                    key: None,
                }],
            )
            .await
            .unwrap();
    }

    fn originates(double: &AmiDouble) -> Vec<ctibridge::telephony::asterisk::codec::Message> {
        double
            .received()
            .into_iter()
            .filter(|m| m.get("Action") == Some("Originate"))
            .collect()
    }

    #[tokio::test]
    async fn a_predictive_call_rings_the_customer_then_the_campaigns_queue_offers_it() {
        let double = AmiDouble::start(&["login_and_ping"]).await;
        let (engine, mut events, _switch, _contacts) = logged_in(&double, "agent3", "1003").await;
        let agent = id("agent3");
        engine.login_campaign(&agent, PREDICTIVE).await.unwrap();
        until_received(&double, "QueueAdd").await;
        let add = first_sent(&double, "QueueAdd");
        assert_eq!(add.get("Queue"), Some("98"), "the campaign's queue");

        // One ready agent: the dialer calls one lead, the customer's number first.
        one_lead(&engine, "1160000001").await;
        eventually("the predictive Originate", || !originates(&double).is_empty()).await;
        let originate = originates(&double).remove(0);
        assert_eq!(originate.get("Channel"), Some("Local/1160000001@outbound"));
        assert_eq!(
            (originate.get("Context"), originate.get("Exten")),
            (Some("queues"), Some("98"))
        );
        let call: u64 = call_id_of(&originate);
        let action_id = originate.get("ActionID").unwrap().to_owned();
        assert_eq!(
            engine.position(&agent).await.unwrap().state,
            AgentState::Available
        );

        // The customer answers; the queue offers the call to agent3, who answers.
        double.push(&asterisk_says("answered", call, &action_id));
        let offered = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                if let Ok(e) = events.recv().await
                    && let Event::CallOffered { call: c } = e.event
                {
                    return c;
                }
            }
        })
        .await
        .expect("offered");
        assert_eq!(
            offered.data.call_id, call,
            "one call id from the dialer to the agent"
        );
        assert_eq!(offered.data.call_dialer.as_deref(), Some("predictive"));
        double.push(&asterisk_says("connected", call, &action_id));
        state_becomes(&engine, "agent3", AgentState::InCall).await;
        double.push(&asterisk_says("completed", call, &action_id));
        state_becomes(&engine, "agent3", AgentState::WrapUp).await;
    }

    #[tokio::test]
    async fn a_busy_customer_ends_the_predictive_call_unreached() {
        let double = AmiDouble::start(&["login_and_ping"]).await;
        let (engine, mut events, _switch, _contacts) = logged_in(&double, "agent3", "1003").await;
        let agent = id("agent3");
        engine.login_campaign(&agent, PREDICTIVE).await.unwrap();
        one_lead(&engine, "1160000002").await;
        eventually("the predictive Originate", || !originates(&double).is_empty()).await;
        let originate = originates(&double).remove(0);
        let call: u64 = call_id_of(&originate);
        double.push(&asterisk_says(
            "unreached",
            call,
            originate.get("ActionID").unwrap(),
        ));
        let ended = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                if let Ok(e) = events.recv().await
                    && let Event::DialerAttempt { call_id, reason, .. } = e.event
                    && call_id.0 == call
                {
                    return reason;
                }
            }
        })
        .await;
        assert_eq!(
            ended.ok(),
            Some(EndReason::Busy),
            "the dialer's attempt ended busy (Reason 5)"
        );
        eventually_call_gone(&engine, call).await;
        assert_eq!(
            engine.position(&agent).await.unwrap().state,
            AgentState::Available
        );
    }

    async fn eventually_call_gone(engine: &ctibridge::telephony::EmbeddedEngine, call: u64) {
        let simulation = engine.simulation();
        eventually("the call ended", || {
            simulation
                .call(ctibridge::telephony::CallId(call))
                .is_none_or(|c| c.state == ctibridge::telephony::CallState::Ended)
        })
        .await;
    }
}
