//! An external system drives calls from outside through `/api/v1` with its own token and ids:
//! make a call (the agent's softphone dials and has the contact), hang up, list dispositions,
//! categorize; repeats by request id answer once; clear refusals; configuration warnings.

use reqwest::Method;
use serde_json::{Value, json};

use crate::http::{ADMIN, login, rpc, sim, wait_for, ws_connect};
use crate::support::server::TestApp;

async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value, bool) {
    let mut request = app.client.request(method, app.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let replayed = response.headers().contains_key("idempotent-replayed");
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::Null),
        replayed,
    )
}

async fn admin(app: &TestApp, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let (status, body, _) = call(app, method, path, Some(ADMIN), body).await;
    (status, body)
}

/// POSTs `body` to `/api/v1/{method}` with the system's `token`.
async fn api_post(app: &TestApp, token: &str, method: &str, body: Value) -> (u16, Value, bool) {
    call(
        app,
        Method::POST,
        &format!("/api/v1/{method}"),
        Some(token),
        Some(body),
    )
    .await
}

/// GETs `path` with `token` (none: without one); the status, the body and whether it was replayed.
async fn api_get(app: &TestApp, token: Option<&str>, path: &str) -> (u16, Value, bool) {
    call(app, Method::GET, path, token, None).await
}

async fn admin_put(app: &TestApp, path: &str, body: Value) -> (u16, Value) {
    admin(app, Method::PUT, path, Some(body)).await
}

async fn admin_post(app: &TestApp, path: &str, body: Value) -> (u16, Value) {
    admin(app, Method::POST, path, Some(body)).await
}

/// A system with agent1 as `U-100` and campaign 97 as `CAMP-IN`; returns its token.
async fn system(app: &TestApp) -> String {
    let (status, body) = admin_post(app, "/admin/external-systems", json!({"name": "acme-crm"})).await;
    assert_eq!(status, 201, "{body}");
    let token = body["token"].as_str().unwrap().to_owned();
    let (status, body) = admin_put(
        app,
        "/admin/external-systems/acme-crm/agents/agent1",
        json!({"externalId": "U-100"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = admin_put(
        app,
        "/admin/external-systems/acme-crm/campaigns/97",
        json!({"externalId": "CAMP-IN"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    token
}

/// A contact keyed `key` in the inbound campaign's database (a caller who hung up in the queue).
async fn contact(app: &TestApp, ani: &str, key: &str) {
    let id = crate::http::inbound_call(app, ani, Some(key)).await;
    sim(app, &format!("calls/{id}/hangup"), json!({})).await.ok();
}

#[tokio::test]
async fn a_system_makes_a_call_by_its_own_ids_and_the_agents_softphone_dials_the_contact() {
    let app = TestApp::spawn().await;
    let token = system(&app).await;
    contact(&app, "1155557001", "EXT-7").await;
    let make = json!({"requestId": "r-1", "externalIds": true, "idCampaign": "CAMP-IN",
        "idAgent": "U-100", "idContact": "EXT-7"});

    // Not logged in, then not in the campaign: refused, and the request id stays usable.
    let (status, body, _) = api_post(&app, &token, "makeCall", make.clone()).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("agent_not_logged_in")),
        "{body}"
    );
    let agent = login(&app, "agent1", "1001").await;
    let (status, body, _) = api_post(&app, &token, "makeCall", make.clone()).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("agent_not_in_campaign")),
        "{body}"
    );
    rpc(&app, Some(&agent), "Login_Campaign", json!({"campaign": 97}))
        .await
        .ok();
    let (mut socket, _) = ws_connect(&app, &agent).await;

    let (status, made, replayed) = api_post(&app, &token, "makeCall", make.clone()).await;
    assert_eq!(status, 200, "{made}");
    assert!(!replayed);
    let call_id = made["callId"].as_u64().unwrap();
    assert_eq!(made["agent"], "agent1");
    // The softphone learns of the call with the contact to pop.
    let position = loop {
        let event = wait_for(&mut socket, "position").await;
        if event["call"]["callId"] == call_id {
            break event;
        }
    };
    assert_eq!(position["call"]["crmKey"], "EXT-7", "{position}");
    assert!(
        position["call"]["phoneNumber"]
            .as_str()
            .unwrap()
            .ends_with("1155557001"),
        "{position}"
    );

    // The same request again: the first answer, no second call.
    let (status, again, replayed) = api_post(&app, &token, "makeCall", make).await;
    assert_eq!((status, replayed), (200, true));
    assert_eq!(again, made);
    let p = rpc(&app, Some(&agent), "Position", json!({})).await;
    assert_eq!(p.ok()["call"]["callId"], call_id);

    // The campaign's dispositions by its external id; hang up; categorize.
    let (status, list, _) = api_get(
        &app,
        Some(&token),
        "/api/v1/campaigns/CAMP-IN/dispositions?externalIds=true",
    )
    .await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["categories"][0]["name"], "Contacted");
    assert_eq!(list["categories"][0]["subcategories"][0]["name"], "Sale");
    let (status, body, _) = api_post(
        &app,
        &token,
        "hangup",
        json!({"requestId": "r-2", "externalIds": true, "idAgent": "U-100"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, body, _) = api_post(
        &app,
        &token,
        "disposition",
        json!({"requestId": "r-3", "idAgent": "agent1", "callId": call_id,
                    "category": 1, "subcategory": 11, "comment": "sold from the CRM"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let p = rpc(&app, Some(&agent), "Position", json!({})).await;
    assert_eq!(p.ok()["contact"]["disposition"]["subcategory"], 11, "{}", p.body);
}

#[tokio::test]
async fn unknown_ids_wrong_tokens_and_taken_ids_are_refused_clearly() {
    let app = TestApp::spawn().await;
    let token = system(&app).await;
    let (status, body, _) = api_post(&app, &token, "makeCall", json!({"requestId": "r-1", "externalIds": true, "idCampaign": "CAMP-IN", "idAgent": "U-999", "phone": "1155550100"})).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(
        body["error"]["message"],
        "idAgent: no agent has external id `U-999` in system `acme-crm`"
    );
    let (status, body, _) = api_post(
        &app,
        &token,
        "makeCall",
        json!({"requestId": "r-1", "idCampaign": 4242, "idAgent": "agent1", "phone": "1155550100"}),
    )
    .await;
    assert_eq!(status, 404, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("idCampaign"),
        "{body}"
    );

    for bad in ["acme-crm.0000", "nobody.1234", "garbage", ADMIN] {
        let (status, _, _) = api_get(&app, Some(bad), "/api/v1/campaigns/97/dispositions").await;
        assert_eq!(status, 401, "{bad}");
    }
    let (status, _, _) = api_get(&app, None, "/api/v1/campaigns/97/dispositions").await;
    assert_eq!(status, 401);

    // An external id is one agent's per system.
    let (status, body) = admin_put(
        &app,
        "/admin/external-systems/acme-crm/agents/agent2",
        json!({"externalId": "U-100"}),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    let (status, _) = admin_post(&app, "/admin/external-systems", json!({"name": "acme-crm"})).await;
    assert_eq!(status, 409);
    let (status, _) = admin_post(&app, "/admin/external-systems", json!({"name": "a b"})).await;
    assert_eq!(status, 422);

    // Deleted: its token stops working.
    let (status, _) = admin(&app, Method::DELETE, "/admin/external-systems/acme-crm", None).await;
    assert_eq!(status, 204);
    let (status, _, _) = api_get(&app, Some(&token), "/api/v1/campaigns/97/dispositions").await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn the_operator_is_warned_of_agents_without_ids_and_sites_shared_across_systems() {
    let app = TestApp::spawn().await;
    system(&app).await;
    let (status, _) = admin_post(&app, "/admin/external-systems", json!({"name": "other"})).await;
    assert_eq!(status, 201);
    admin_put(
        &app,
        "/admin/external-systems/other/campaigns/98",
        json!({"externalId": "CAMP-OUT"}),
    )
    .await;
    let (status, body) = admin_put(
        &app,
        "/admin/crm/sites/shared",
        json!({"url": "https://crm.example.com/", "trigger": "server"}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    for campaign in [97, 98] {
        let (status, body) = admin_put(
            &app,
            &format!("/admin/crm/campaigns/{campaign}"),
            json!({"site": "shared"}),
        )
        .await;
        assert_eq!(status, 201, "{body}");
    }
    let (status, list) = admin(&app, Method::GET, "/admin/external-systems", None).await;
    assert_eq!(status, 200);
    let acme = list["systems"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "acme-crm")
        .unwrap();
    assert_eq!(
        acme["agents"],
        json!([{"agent": "agent1", "externalId": "U-100"}])
    );
    let warnings: Vec<&str> = acme["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap())
        .collect();
    assert!(
        warnings.contains(&"campaign 97: agent `agent2` has no external id in system `acme-crm`"),
        "{warnings:?}"
    );
    assert!(
        warnings
            .contains(&"campaign 97: external site `shared` is also used by campaign 98 of system `other`"),
        "{warnings:?}"
    );
    assert!(!warnings.iter().any(|w| w.contains("`agent1`")), "{warnings:?}");
    assert!(!list.to_string().contains("token"), "no token in the listing");
}

#[tokio::test]
async fn the_openapi_document_describes_the_api_and_its_token() {
    let app = TestApp::spawn().await;
    let (status, document, _) = api_get(&app, None, "/openapi.json").await;
    assert_eq!(status, 200);
    for (path, method) in [
        ("/api/v1/makeCall", "post"),
        ("/api/v1/hangup", "post"),
        ("/api/v1/disposition", "post"),
        ("/api/v1/campaigns/{campaign}/dispositions", "get"),
    ] {
        let op = &document["paths"][path][method];
        assert_eq!(op["security"][0], json!({"externalSystem": []}), "{path}");
        assert!(
            op["responses"]["409"]["description"]
                .as_str()
                .unwrap()
                .contains("agent_not_logged_in")
        );
    }
    assert_eq!(
        document["paths"]["/admin/crm/sites/{name}"]["put"]["parameters"][0]["name"],
        "name"
    );
    assert!(document["paths"]["/admin/crm/sites/{name}"]["delete"].is_object());
    assert_eq!(
        document["components"]["securitySchemes"]["externalSystem"]["scheme"],
        "bearer"
    );
}

#[tokio::test]
async fn systems_and_their_ids_come_from_the_configuration_file_too() {
    let token = "files-crm.s3cret-from-the-file";
    let hash = ctibridge::telephony::engine::roster::hash_password(token).unwrap();
    let app = TestApp::spawn_with(|c| {
        c.external.systems = vec![ctibridge::external::SystemConfig {
            name: "files-crm".into(),
            token_hash: hash,
            agents: [("agent2".to_owned(), "U-2".to_owned())].into(),
            campaigns: [("97".to_owned(), "IN".to_owned())].into(),
        }];
    })
    .await;
    let (status, body, _) = api_get(
        &app,
        Some(token),
        "/api/v1/campaigns/IN/dispositions?externalIds=true",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["campaign"], 97);
    let (_, list) = admin(&app, Method::GET, "/admin/external-systems", None).await;
    assert_eq!(
        list["systems"][0]["agents"],
        json!([{"agent": "agent2", "externalId": "U-2"}])
    );
}

#[test]
fn a_file_system_with_a_bad_hash_or_campaign_is_refused_by_name() {
    let mut external = ctibridge::external::ExternalConfig::default();
    external.systems.push(ctibridge::external::SystemConfig {
        name: "x".into(),
        token_hash: "plain".into(),
        agents: Default::default(),
        campaigns: Default::default(),
    });
    let err = external.validate().unwrap_err();
    assert!(err.starts_with("external.systems[0].token_hash"), "{err}");
    external.systems[0].token_hash = ctibridge::telephony::engine::roster::hash_password("x.y").unwrap();
    external.systems[0].campaigns.insert("ninety".into(), "N".into());
    let err = external.validate().unwrap_err();
    assert!(err.contains("`ninety` is not a campaign id"), "{err}");
}
