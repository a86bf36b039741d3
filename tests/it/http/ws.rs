//! The agent websocket: authentication frame, snapshot, push in order, several tabs, reload in
//! the middle of a call, garbage frames, heartbeats.

use futures_util::SinkExt;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

use super::*;

#[tokio::test]
async fn a_reload_while_the_call_rings_gets_the_call_in_the_snapshot() {
    let app = TestApp::spawn().await;
    let token = available(&app, "agent1", "1001").await;
    let (mut socket, _) = ws_connect(&app, &token).await;
    let call_id = inbound_call(&app, "1155550100", Some("31987456")).await;
    wait_for(&mut socket, "callOffered").await;
    // The page reloads: the socket goes away, a new one comes.
    drop(socket);
    let (mut socket, snapshot) = ws_connect(&app, &token).await;
    assert_eq!(snapshot["state"], "ringing");
    assert_eq!(snapshot["campaign"]["id"], INBOUND);
    assert_eq!(snapshot["call"]["callId"], call_id);
    assert_eq!(snapshot["call"]["crmKey"], "31987456");
    let contact_id = snapshot["call"]["contactId"].as_i64().unwrap();
    assert_eq!(snapshot["call"]["clavesf"], format!("{contact_id}-31987456"));
    // And the call goes on over the new socket.
    sim(&app, "agents/agent1/answer", json!({})).await.ok();
    assert_eq!(
        wait_for(&mut socket, "callConnected").await["call"]["callId"],
        call_id
    );
}

#[tokio::test]
async fn events_arrive_in_order_on_every_tab_of_the_agent() {
    let app = TestApp::spawn().await;
    let token = available(&app, "agent1", "1001").await;
    let (mut tab1, _) = ws_connect(&app, &token).await;
    let (mut tab2, _) = ws_connect(&app, &token).await;
    inbound_call(&app, "1155550100", None).await;
    sim(&app, "agents/agent1/answer", json!({})).await.ok();
    for tab in [&mut tab1, &mut tab2] {
        let mut last_seq = 0;
        let mut kinds = Vec::new();
        while !kinds.contains(&"callConnected".to_owned()) {
            let event = next_json(tab).await;
            let seq = event["seq"].as_u64().unwrap();
            assert!(seq > last_seq, "seq {seq} after {last_seq}");
            last_seq = seq;
            assert_eq!(event["agent"], "agent1");
            kinds.push(event["type"].as_str().unwrap().to_owned());
        }
        let offered = kinds.iter().position(|k| k == "callOffered").unwrap();
        let connected = kinds.iter().position(|k| k == "callConnected").unwrap();
        assert!(offered < connected, "{kinds:?}");
    }
}

#[tokio::test]
async fn an_agent_never_sees_another_agents_events() {
    let app = TestApp::spawn().await;
    let a = available(&app, "agent1", "1001").await;
    let b = login(&app, "agent2", "1002").await;
    let (mut socket_a, _) = ws_connect(&app, &a).await;
    let (mut socket_b, _) = ws_connect(&app, &b).await;
    inbound_call(&app, "1155550100", None).await;
    wait_for(&mut socket_a, "callOffered").await;
    // agent2's next frame is its own change, not agent1's call.
    pause(&app, &b).await;
    let next = next_json(&mut socket_b).await;
    assert_eq!(
        (next["type"].as_str(), next["agent"].as_str()),
        (Some("position"), Some("agent2"))
    );
    assert_eq!(next["state"], "paused");
}

#[tokio::test]
async fn an_invalid_token_closes_with_4001() {
    let app = TestApp::spawn().await;
    let mut socket = ws_open(&app).await;
    socket
        .send(Message::text(
            json!({"type": "auth", "token": "forged"}).to_string(),
        ))
        .await
        .unwrap();
    let (code, reason) = wait_close(&mut socket).await;
    assert_eq!(code, 4001);
    assert!(reason.contains("invalid token"), "{reason}");
}

#[tokio::test]
async fn a_first_frame_that_is_not_auth_closes_with_4001() {
    let app = TestApp::spawn().await;
    for frame in [
        Message::text("hello"),
        Message::text(r#"{"type":"ping"}"#),
        Message::binary(vec![0u8, 1, 2]),
    ] {
        let mut socket = ws_open(&app).await;
        socket.send(frame).await.unwrap();
        let (code, reason) = wait_close(&mut socket).await;
        assert_eq!(code, 4001);
        assert!(reason.contains("auth"), "{reason}");
    }
}

#[tokio::test]
async fn no_auth_frame_within_five_seconds_closes_with_4001() {
    let app = TestApp::spawn().await;
    let mut socket = ws_open(&app).await;
    let (code, reason) = wait_close(&mut socket).await;
    assert_eq!(code, 4001);
    assert!(reason.contains("5 s"), "{reason}");
}

#[tokio::test]
async fn garbage_frames_get_an_error_frame_and_harm_no_one() {
    let app = TestApp::spawn().await;
    let a = available(&app, "agent1", "1001").await;
    let b = available(&app, "agent2", "1002").await;
    let (mut socket_a, _) = ws_connect(&app, &a).await;
    let (mut socket_b, _) = ws_connect(&app, &b).await;
    socket_b.send(Message::text("{{{garbage")).await.unwrap();
    let error = next_json(&mut socket_b).await;
    assert_eq!(
        (error["type"].as_str(), error["error"]["code"].as_str()),
        (Some("error"), Some("unexpected_frame"))
    );
    socket_b.send(Message::binary(vec![0xffu8; 64])).await.unwrap();
    assert_eq!(
        next_json(&mut socket_b).await["error"]["code"],
        "unexpected_frame"
    );
    socket_b.send(Message::text(r#"{"type":"ping"}"#)).await.unwrap();
    assert_eq!(next_json(&mut socket_b).await["type"], "pong");
    // An oversize frame closes that socket only.
    socket_b.send(Message::text("x".repeat(64 * 1024))).await.unwrap();
    let (code, _) = wait_close(&mut socket_b).await;
    assert_eq!(code, 1009);
    // agent1 goes on as if nothing happened.
    inbound_call(&app, "1155550100", None).await;
    let offered = wait_for(&mut socket_a, "callOffered").await;
    assert_eq!(offered["agent"], "agent1");
    assert_eq!(rpc(&app, Some(&b), "Position", json!({})).await.status, 200);
}

#[tokio::test]
async fn an_oversize_frame_before_authentication_is_closed_with_1009_like_after_it() {
    let app = TestApp::spawn().await;
    let mut socket = ws_open(&app).await;
    socket.send(Message::text("x".repeat(64 * 1024))).await.unwrap();
    let (code, reason) = wait_close(&mut socket).await;
    assert_eq!(code, 1009, "{reason}");
}

#[tokio::test]
async fn logout_closes_the_sockets_of_the_session() {
    let app = TestApp::spawn().await;
    let token = login(&app, "agent1", "1001").await;
    let (mut socket, _) = ws_connect(&app, &token).await;
    rpc(&app, Some(&token), "Logout", json!({})).await.ok();
    let (code, reason) = wait_close(&mut socket).await;
    assert_eq!(code, 4001, "{reason}");
    assert_eq!(reason, "session ended");
}

#[tokio::test]
async fn a_silent_client_is_closed_for_missing_heartbeats() {
    use tokio::io::AsyncReadExt;
    use tokio_tungstenite::MaybeTlsStream;

    let app = TestApp::spawn_with(|c| {
        c.server.ws_ping_interval_secs = 1;
        c.server.ws_pong_timeout_secs = 2;
    })
    .await;
    let token = login(&app, "agent1", "1001").await;
    let (socket, _) = ws_connect(&app, &token).await;
    // From here on the client reads raw bytes and never answers a ping.
    let MaybeTlsStream::Plain(mut tcp) = socket.into_inner() else {
        panic!("plain TCP expected");
    };
    let mut bytes = Vec::new();
    tokio::time::timeout(WAIT, tcp.read_to_end(&mut bytes))
        .await
        .expect("the server closes the silent socket")
        .ok();
    let frames = server_frames(&bytes);
    assert!(
        frames.iter().any(|(op, _)| *op == 0x9),
        "the server pinged: {frames:?}"
    );
    let (_, close) = frames.iter().find(|(op, _)| *op == 0x8).expect("a close frame");
    assert_eq!(u16::from_be_bytes([close[0], close[1]]), 4000);
}

/// Splits unmasked server frames: (opcode, payload).
fn server_frames(mut bytes: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut frames = Vec::new();
    while bytes.len() >= 2 {
        let opcode = bytes[0] & 0x0f;
        let (len, header) = match bytes[1] & 0x7f {
            126 => (u16::from_be_bytes([bytes[2], bytes[3]]) as usize, 4),
            127 => (u64::from_be_bytes(bytes[2..10].try_into().unwrap()) as usize, 10),
            n => (n as usize, 2),
        };
        if bytes.len() < header + len {
            break;
        }
        frames.push((opcode, bytes[header..header + len].to_vec()));
        bytes = &bytes[header + len..];
    }
    frames
}

#[tokio::test]
async fn a_socket_that_reconnects_with_its_last_sequence_number_gets_exactly_what_it_missed() {
    let app = TestApp::spawn().await;
    let token = available(&app, "agent1", "1001").await;
    let (mut socket, _) = ws_connect(&app, &token).await;
    pause(&app, &token).await;
    let seen = next_json(&mut socket).await["seq"].as_u64().unwrap();
    drop(socket);

    // While the socket is away: an unpause and a pause (a position event each).
    rpc(&app, Some(&token), "Unpause", json!({})).await.ok();
    rpc(
        &app,
        Some(&token),
        "Pause",
        json!({"reason": {"kind": "system", "id": "lunch"}}),
    )
    .await
    .ok();
    let mut socket = ws_open(&app).await;
    socket
        .send(Message::text(
            json!({"type": "auth", "token": token, "lastSeq": seen}).to_string(),
        ))
        .await
        .unwrap();
    let resumed = next_json(&mut socket).await;
    assert_eq!(resumed, json!({"type": "resumed", "lastSeq": seen}));
    let first = next_json(&mut socket).await;
    let second = next_json(&mut socket).await;
    assert_eq!(first["seq"], seen + 1, "{first}");
    assert_eq!(first["state"], "available", "{first}");
    assert_eq!(second["seq"], seen + 2, "{second}");
    assert_eq!(second["pause"]["reason"]["id"], "lunch", "{second}");
    // Then live events, with no gap and no double.
    rpc(&app, Some(&token), "Unpause", json!({})).await.ok();
    assert_eq!(next_json(&mut socket).await["seq"], seen + 3);

    // A number the server cannot continue from (a previous process's): a snapshot, carrying
    // the latest number to resume from next time.
    let mut socket = ws_open(&app).await;
    socket
        .send(Message::text(
            json!({"type": "auth", "token": token, "lastSeq": 1_000_000}).to_string(),
        ))
        .await
        .unwrap();
    let snapshot = next_json(&mut socket).await;
    assert_eq!(snapshot["type"], "snapshot", "{snapshot}");
    assert_eq!(snapshot["seq"], seen + 3, "{snapshot}");
}
