//! The RPC proxy: the whole inbound flow over HTTP and the websocket, and the documented
//! errors for bad requests.

use serde_json::json;

use super::*;

#[tokio::test]
async fn an_inbound_call_from_login_to_crm_available() {
    let app = TestApp::spawn().await;
    let login = rpc(
        &app,
        None,
        "Login",
        json!({"device": "1001", "user": "agent1", "password": "demo"}),
    )
    .await;
    let body = login.ok();
    let token = body["token"].as_str().unwrap().to_owned();
    assert_eq!(body["agent"]["user"], "agent1");
    assert_eq!(body["agent"]["device"], "1001");
    assert_eq!(body["agent"]["role"], "agent");
    assert_eq!(body["agent"]["state"], "loggedIn");

    let (mut socket, snapshot) = ws_connect(&app, &token).await;
    assert_eq!(snapshot["state"], "loggedIn");

    rpc(&app, Some(&token), "Login_Campaign", json!({"campaign": INBOUND}))
        .await
        .ok();
    let position = wait_for(&mut socket, "position").await;
    assert_eq!(position["state"], "available");
    assert_eq!(position["campaign"]["id"], INBOUND);

    let call_id = inbound_call(&app, "1155550100", Some("31987456")).await;
    let offered = wait_for(&mut socket, "callOffered").await;
    assert_eq!(offered["agent"], "agent1");
    assert!(offered["seq"].as_u64().is_some() && offered["at"].is_string());
    let call = &offered["call"];
    assert_eq!(call["callId"], call_id);
    assert_eq!(call["phoneNumber"], "1155550100");
    assert_eq!(call["crmKey"], "31987456");
    assert_eq!(call["callQueue"], QUEUE);
    assert_eq!(call["callCampaing"], INBOUND);
    let contact_id = call["contactId"].as_i64().unwrap();
    assert_eq!(call["clavesf"], format!("{contact_id}-31987456"));

    sim(&app, "agents/agent1/answer", json!({})).await.ok();
    let connected = wait_for(&mut socket, "callConnected").await;
    assert_eq!(connected["call"]["callId"], call_id);
    rpc(&app, Some(&token), "CRM_ShowingContact", json!({}))
        .await
        .ok();

    rpc(&app, Some(&token), "Hangup", json!({})).await.ok();
    let ended = wait_for(&mut socket, "callEnded").await;
    assert_eq!(ended["callId"], call_id);
    assert_eq!(ended["reason"], "agentHangup");

    rpc(
        &app,
        Some(&token),
        "UpdateContact",
        json!({"category": 1, "subcategory": 11, "comment": "sold"}),
    )
    .await
    .ok();
    let updated = wait_for(&mut socket, "contactUpdated").await;
    assert_eq!(updated["disposition"]["subcategory"], 11);

    rpc(&app, Some(&token), "CRM_Available", json!({})).await.ok();
    wait_for(&mut socket, "contactReleased").await;
    let position = rpc(&app, Some(&token), "Position", json!({})).await;
    assert_eq!(position.ok()["state"], "available");
    assert!(position.body["contact"].is_null() && position.body["call"].is_null());
}

#[tokio::test]
async fn methods_without_arguments_take_an_empty_body() {
    let app = TestApp::spawn().await;
    let token = login(&app, "agent1", "1001").await;
    let answer = rpc_raw(&app, Some(&token), "Position", Vec::new()).await;
    assert_eq!(answer.ok()["user"], "agent1");
    let answer = rpc_raw(&app, Some(&token), "Directory", b"{}".to_vec()).await;
    assert!(answer.ok()["campaigns"].as_array().unwrap().len() >= 4);
}

#[tokio::test]
async fn unknown_methods_are_404_unknown_method() {
    let app = TestApp::spawn().await;
    let answer = rpc(&app, None, "Answer", json!({})).await;
    assert_eq!(answer.status, 404);
    assert_eq!(answer.code(), "unknown_method");
    assert!(
        answer.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Answer")
    );
}

#[tokio::test]
async fn other_http_verbs_are_405_in_the_error_shape() {
    let app = TestApp::spawn().await;
    let response = app.client.get(app.url("/neoapi/Position")).send().await.unwrap();
    assert_eq!(response.status(), 405);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "method_not_allowed");
}

#[tokio::test]
async fn malformed_json_is_400_with_serdes_message() {
    let app = TestApp::spawn().await;
    let answer = rpc_raw(&app, None, "Login", b"{\"device\": \"1001\",".to_vec()).await;
    assert_eq!(answer.status, 400);
    assert_eq!(answer.code(), "malformed_json");
    assert!(
        answer.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("line 1")
    );

    let token = login(&app, "agent1", "1001").await;
    let answer = rpc_raw(&app, Some(&token), "Dial", b"not json".to_vec()).await;
    assert_eq!(answer.status, 400);
    assert_eq!(answer.code(), "malformed_json");
}

#[tokio::test]
async fn well_formed_json_of_the_wrong_shape_is_422_invalid_value() {
    let app = TestApp::spawn().await;
    let token = login(&app, "agent1", "1001").await;
    let answer = rpc(
        &app,
        Some(&token),
        "Login_Campaign",
        json!({"campaign": "ninety-seven"}),
    )
    .await;
    assert_eq!(answer.status, 422);
    assert_eq!(answer.code(), "invalid_value");
    let answer = rpc(
        &app,
        Some(&token),
        "Pause",
        json!({"reason": {"kind": "system", "id": "nap"}}),
    )
    .await;
    assert_eq!(answer.status, 422);
    assert_eq!(answer.code(), "invalid_value");
}

#[tokio::test]
async fn valid_json_of_the_wrong_shape_is_422_for_every_method() {
    use ctibridge::telephony::Method;
    let app = TestApp::spawn().await;
    let agent = login(&app, "agent1", "1001").await;
    let supervisor = login(&app, "super1", "1100").await;
    for body in [&b"[[],{},{}]"[..], b"[]", b"42", b"\"text\"", b"null"] {
        let answer = rpc_raw(&app, None, "Login", body.to_vec()).await;
        assert_eq!((answer.status, answer.code()), (422, "invalid_value"), "Login");
        for method in Method::ALL {
            let token = match method {
                Method::Login => continue,
                Method::Monitor | Method::EndMonitor => &supervisor,
                _ => &agent,
            };
            let answer = rpc_raw(&app, Some(token), method.as_str(), body.to_vec()).await;
            assert_eq!(
                (answer.status, answer.code()),
                (422, "invalid_value"),
                "{} {}",
                method.as_str(),
                String::from_utf8_lossy(body)
            );
        }
    }
}

#[tokio::test]
async fn a_body_that_trickles_in_is_cut_off_with_408() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = TestApp::spawn_with(|c| c.server.body_timeout_secs = 1).await;
    let address = app.address.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
    let head = format!(
        "POST /neoapi/Login HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\n\
         Content-Length: 1000\r\n\r\n{{"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    // The other 999 bytes never come: the server answers and hangs up by itself.
    let mut answer = Vec::new();
    tokio::time::timeout(WAIT, stream.read_to_end(&mut answer))
        .await
        .expect("the server ends the request")
        .ok();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("request_timeout"), "{answer}");
}

#[tokio::test]
async fn api_answers_forbid_content_sniffing() {
    let app = TestApp::spawn().await;
    for path in ["/healthz", "/openapi.json", "/neoapi/Position", "/no/such/thing"] {
        let response = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(
            response
                .headers()
                .get("x-content-type-options")
                .map(|v| v.to_str().unwrap()),
            Some("nosniff"),
            "{path}"
        );
    }
}

#[tokio::test]
async fn oversize_bodies_are_413_and_the_server_keeps_serving() {
    let app = TestApp::spawn().await;
    let token = login(&app, "agent1", "1001").await;
    let huge = format!("{{\"phone\": \"{}\"}}", "1".repeat(70 * 1024));
    let answer = rpc_raw(&app, Some(&token), "Dial", huge.into_bytes()).await;
    assert_eq!(answer.status, 413);
    assert_eq!(answer.code(), "payload_too_large");
    assert_eq!(rpc(&app, Some(&token), "Position", json!({})).await.status, 200);
}

#[tokio::test]
async fn refusals_map_to_their_status_and_code() {
    let app = TestApp::spawn().await;
    let token = login(&app, "agent1", "1001").await;
    // Wrong state: hang up with no call.
    let answer = rpc(&app, Some(&token), "Hangup", json!({})).await;
    assert_eq!((answer.status, answer.code()), (409, "no_active_call"));
    // Unknown campaign.
    let answer = rpc(&app, Some(&token), "Login_Campaign", json!({"campaign": 4242})).await;
    assert_eq!((answer.status, answer.code()), (404, "unknown_campaign"));
    // Invalid value.
    let answer = rpc(&app, Some(&token), "Dial", json!({"phone": "call me"})).await;
    assert_eq!((answer.status, answer.code()), (422, "invalid_number"));
    // Supervisor-only.
    let answer = rpc(
        &app,
        Some(&token),
        "Monitor",
        json!({"target": "agent2", "mode": "listen"}),
    )
    .await;
    assert_eq!((answer.status, answer.code()), (403, "forbidden"));
}

#[tokio::test]
async fn the_openapi_document_lists_every_method() {
    let app = TestApp::spawn().await;
    let response = app.client.get(app.url("/openapi.json")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let document: serde_json::Value = response.json().await.unwrap();
    assert!(document["openapi"].as_str().unwrap().starts_with("3."));
    for method in ctibridge::telephony::Method::ALL {
        let path = format!("/neoapi/{}", method.as_str());
        assert!(document["paths"][&path]["post"].is_object(), "{path} missing");
    }
    assert!(document["paths"]["/sim/inbound"]["post"].is_object());
}

#[tokio::test]
async fn the_openapi_document_describes_every_route_with_its_schemas() {
    let app = TestApp::spawn().await;
    let document: serde_json::Value = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let paths = &document["paths"];
    for (path, verb) in [
        ("/api/salesforce/new-sync-id", "post"),
        ("/api/salesforce/popped", "post"),
        ("/api/salesforce/sync", "post"),
        ("/api/salesforce/search", "get"),
        ("/admin/salesforce", "get"),
        ("/admin/salesforce/outbox/{id}/requeue", "post"),
        ("/metrics", "get"),
        ("/healthz", "get"),
        ("/readyz", "get"),
        ("/sim/calls/{call}", "get"),
        ("/asterisk/intake", "get"),
        ("/admin/campaigns/{campaign}/leads", "post"),
        ("/admin/instances", "get"),
        ("/api/stats", "get"),
    ] {
        assert!(paths[path][verb].is_object(), "{verb} {path} missing");
    }
    for (path, item) in paths.as_object().unwrap() {
        for (verb, operation) in item.as_object().unwrap() {
            for parameter in operation["parameters"].as_array().into_iter().flatten() {
                assert!(
                    parameter["schema"].is_object(),
                    "{verb} {path}: parameter {} has no schema",
                    parameter["name"]
                );
            }
            if let Some(body) = operation.get("requestBody") {
                assert!(
                    body["content"]["application/json"]["schema"].is_object(),
                    "{verb} {path}: request body without schema"
                );
            }
            for (status, response) in operation["responses"].as_object().unwrap() {
                assert!(
                    // 101 switches protocols, 204 has no content by definition.
                    status == "101" || status == "204" || response["content"].is_object(),
                    "{verb} {path}: answer {status} without schema"
                );
            }
        }
    }
}
