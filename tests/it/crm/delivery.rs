//! Requests the server sends: what the CRM receives in each format, by GET and clean URL, with
//! a token; at least once through outages, refusals, slow and huge answers.

use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};

use super::*;
use crate::support::crm_server::{CrmServer, PASSWORD, Reply, USERNAME};

fn every_family() -> Value {
    json!([
        {"family": "campaign", "source": "id", "name": "idCamp"},
        {"family": "campaign", "source": "nombre", "name": "campaignName"},
        {"family": "campaign", "source": "tipo", "name": "campaignType"},
        {"family": "call", "source": "call_id", "name": "callId"},
        {"family": "call", "source": "agent_username", "name": "agent"},
        {"family": "call", "source": "telefono", "name": "phone"},
        {"family": "call", "source": "id_contacto", "name": "contactId"},
        {"family": "call", "source": "datetime", "name": "when"},
        {"family": "contact", "source": "clave_1", "name": "idClient"},
        {"family": "fixed", "source": "es", "name": "lang"},
    ])
}

/// The site `acme` as `site` says, bound to campaign 97 with a parameter of every family.
async fn acme_for_97(app: &TestApp, site: Value) {
    bind_acme_to_97(app, site, every_family()).await;
}

/// A site on `crm` that needs a token from its `/token`.
fn with_token(crm: &CrmServer) -> Value {
    json!({"url": crm.url("/calls"), "trigger": "server", "auth": {
        "token_url": crm.url("/token"), "username": USERNAME, "password": PASSWORD}})
}

/// A call of `1155551001` (key `C-1`) answered by agent1; once `meanwhile` is done, it is
/// dispositioned and agent1 logs out. Returns the call's id.
async fn finished_call<F: std::future::Future>(app: &TestApp, meanwhile: impl FnOnce() -> F) -> u64 {
    let (token, mut socket, call) = answered_call(app, "1155551001", "C-1").await;
    meanwhile().await;
    finish(app, &token, &mut socket, call, 1, 11).await;
    rpc(app, Some(&token), "Logout", json!({})).await;
    call
}

#[tokio::test]
async fn a_connected_call_posts_its_values_to_the_campaigns_site_once() {
    let crm = CrmServer::start().await;
    let app = app().await;
    acme_for_97(
        &app,
        json!({"url": crm.url("/calls"), "trigger": "server", "method": "POST", "format": "json"}),
    )
    .await;

    let (token, mut socket, call) = answered_call(&app, "1155551001", "C-42").await;
    let received = crm.wait_for(1).await;
    let request = &received[0];
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/calls");
    assert_eq!(request.header("content-type"), Some("application/json"));
    let body = request.json();
    assert_eq!(body["idCamp"], "97");
    assert_eq!(body["campaignName"], "SALESFORCE");
    assert_eq!(body["campaignType"], "inbound");
    assert_eq!(body["callId"], call.to_string());
    assert_eq!(body["agent"], "agent1");
    assert_eq!(body["idClient"], "C-42");
    assert_eq!(body["lang"], "es");
    assert!(body["phone"].as_str().unwrap().ends_with("1155551001"), "{body}");
    assert!(
        body["contactId"].as_str().unwrap().parse::<i64>().unwrap() > 0,
        "{body}"
    );
    let when = body["when"].as_str().unwrap();
    assert!(
        chrono::NaiveDateTime::parse_from_str(when, "%Y-%m-%d %H:%M:%S").is_ok(),
        "{when}"
    );

    // The row is delivered; hanging up and releasing sends nothing more.
    let view = outbox_until(&app, &crm, "the delivery", |c| c["delivered"] == 1).await;
    assert_eq!(view["counts"]["pending"], 0);
    finish(&app, &token, &mut socket, call, 1, 11).await;
    let delivered = outbox(&app, "delivered").await;
    assert_eq!(delivered["entries"].as_array().unwrap().len(), 1, "{delivered}");
    assert_eq!(delivered["entries"][0]["callId"], call.to_string());
    assert_eq!(delivered["entries"][0]["lastStatus"], 200);
    assert_eq!(crm.received().len(), 1);
}

#[tokio::test]
async fn every_post_format_get_and_clean_urls_reach_the_crm_as_configured() {
    let crm = CrmServer::start().await;
    let app = app().await;
    let params = json!([
        {"family": "contact", "source": "clave_1", "name": "idClient"},
        {"family": "campaign", "source": "id", "name": "idCamp"},
        {"family": "fixed", "source": "es y más/otros", "name": "lang"},
        {"family": "fixed", "source": "prev-115-20190604-2-4149014-1559667982.424.wav", "name": "recordingFile"},
    ]);
    let cases = [
        json!({"url": crm.url("/form"), "trigger": "server", "method": "POST", "format": "multipart"}),
        json!({"url": crm.url("/form"), "trigger": "server", "method": "POST", "format": "form-urlencoded"}),
        json!({"url": crm.url("/form"), "trigger": "server", "method": "POST", "format": "text"}),
        json!({"url": crm.url("/form"), "trigger": "server", "method": "POST", "format": "json"}),
        json!({"url": crm.url("/query?fixed=1"), "trigger": "server", "method": "GET"}),
        json!({"url": crm.url("/{idClient}/{idCamp}/{lang}/{recordingFile}"), "trigger": "server", "method": "GET"}),
    ];
    for (i, site) in cases.iter().enumerate() {
        put_site(&app, "acme", site.clone()).await;
        if i == 0 {
            put_campaign(&app, 97, json!({"site": "acme", "params": params})).await;
        }
        let (token, mut socket, call) = answered_call(&app, "1155551001", "C 42/x").await;
        crm.wait_for(i + 1).await;
        finish(&app, &token, &mut socket, call, 1, 11).await;
        rpc(&app, Some(&token), "Logout", json!({})).await;
    }
    let received = crm.received();
    let expected = [
        ("idClient", "C 42/x"),
        ("idCamp", "97"),
        ("lang", "es y más/otros"),
        ("recordingFile", "prev-115-20190604-2-4149014-1559667982.424.wav"),
    ];

    let multipart = &received[0];
    let content_type = multipart.header("content-type").unwrap();
    let boundary = content_type
        .strip_prefix("multipart/form-data; boundary=")
        .expect(content_type);
    let text = multipart.text();
    for (name, value) in expected {
        assert!(
            text.contains(&format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )),
            "{name} in {text}"
        );
    }
    assert!(text.ends_with(&format!("--{boundary}--\r\n")));

    let form = &received[1];
    assert_eq!(
        form.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(&form.body).into_owned().collect();
    assert_eq!(pairs, expected.map(|(n, v)| (n.to_owned(), v.to_owned())));

    let text = &received[2];
    assert_eq!(text.header("content-type"), Some("text/plain; charset=utf-8"));
    assert_eq!(
        text.text(),
        "idClient=C 42/x\r\nidCamp=97\r\nlang=es y más/otros\r\nrecordingFile=prev-115-20190604-2-4149014-1559667982.424.wav\r\n"
    );

    let json = received[3].json();
    for (name, value) in expected {
        assert_eq!(json[name], value);
    }

    let get = &received[4];
    assert_eq!((get.method.as_str(), get.path.as_str()), ("GET", "/query"));
    let mut pairs = vec![("fixed".to_owned(), "1".to_owned())];
    pairs.extend(expected.map(|(n, v)| (n.to_owned(), v.to_owned())));
    assert_eq!(get.query_pairs(), pairs);
    assert!(get.body.is_empty());

    let clean = &received[5];
    assert_eq!(clean.method, "GET");
    assert_eq!(
        clean.path,
        "/C%2042%2Fx/97/es%20y%20m%C3%A1s%2Fotros/prev-115-20190604-2-4149014-1559667982.424.wav"
    );
    assert_eq!(clean.query, "");
}

#[tokio::test]
async fn a_token_is_fetched_once_cached_renewed_after_a_401_and_never_shown() {
    let crm = CrmServer::start().await;
    crm.require_token(3600);
    let app = app().await;
    acme_for_97(&app, with_token(&crm)).await;

    let mut calls = Vec::new();
    for n in 1..=2 {
        calls.push(finished_call(&app, || crm.wait_for(n)).await);
    }
    let received = crm.received();
    assert!(
        received
            .iter()
            .all(|r| r.header("authorization") == Some("Bearer tok-1"))
    );
    assert_eq!(crm.token_requests().len(), 1, "the token is cached");
    assert_eq!(
        crm.token_requests()[0],
        json!({"username": USERNAME, "password": PASSWORD})
    );

    // The CRM forgets the token: a 401, a new token, the request again.
    crm.revoke_tokens();
    let (_token, _socket, call) = answered_call(&app, "1155551001", "C-1").await;
    let received = crm.wait_for(4).await;
    assert_eq!(received[2].header("authorization"), Some("Bearer tok-1"));
    assert_eq!(received[3].header("authorization"), Some("Bearer tok-2"));
    assert_eq!(received[3].json()["callId"], call.to_string());
    outbox_until(&app, &crm, "three deliveries", |c| c["delivered"] == 3).await;

    // Nowhere to be seen by the operator.
    let (_, sites) = admin(&app, reqwest::Method::GET, "sites", None).await;
    assert_eq!(sites["sites"][0]["auth"]["username"], USERNAME);
    for view in [sites, outbox(&app, "delivered").await] {
        let text = view.to_string();
        assert!(!text.contains(PASSWORD) && !text.contains("tok-"), "{text}");
    }
}

#[tokio::test]
async fn a_token_that_expires_soon_is_renewed_before_it_is_used() {
    let crm = CrmServer::start().await;
    // Shorter than the renewal margin: each request needs a fresh token.
    crm.require_token(5);
    let app = app().await;
    acme_for_97(&app, with_token(&crm)).await;
    for n in 1..=2 {
        finished_call(&app, || crm.wait_for(n)).await;
    }
    let received = crm.received();
    assert_eq!(received.len(), 2, "no 401 on the way");
    assert_eq!(received[0].header("authorization"), Some("Bearer tok-1"));
    assert_eq!(received[1].header("authorization"), Some("Bearer tok-2"));
}

#[tokio::test]
async fn an_outage_delays_the_requests_and_loses_none() {
    let crm = CrmServer::start().await;
    crm.answer_always(Some(Reply::status(503).with_body("down for maintenance")));
    let app = app().await;
    acme_for_97(&app, json!({"url": crm.url("/calls"), "trigger": "server"})).await;

    let mut calls = Vec::new();
    for _ in 0..3 {
        calls.push(finished_call(&app, || async {}).await.to_string());
    }
    // Each is tried, fails and waits: the operator sees why.
    let view = outbox_until(&app, &crm, "three failed attempts", |c| c["pending"] == 3).await;
    crm.wait_for(6).await;
    let pending = outbox(&app, "pending").await;
    assert_eq!(view["counts"]["delivered"], 0);
    for entry in pending["entries"].as_array().unwrap() {
        if entry["attempts"].as_i64().unwrap() > 0 {
            assert_eq!(entry["lastStatus"], 503, "{entry}");
            assert_eq!(entry["lastError"], "HTTP 503: down for maintenance", "{entry}");
        }
    }

    crm.answer_always(None);
    outbox_until(&app, &crm, "the backlog delivered", |c| {
        c["delivered"] == 3 && c["pending"] == 0
    })
    .await;
    let mut delivered: Vec<String> = crm
        .received()
        .iter()
        .map(|r| r.json()["callId"].as_str().unwrap().to_owned())
        .collect();
    delivered.dedup();
    let mut unique = delivered.clone();
    unique.sort();
    unique.dedup();
    calls.sort();
    assert_eq!(unique, calls, "every call reached the CRM");
}

#[tokio::test]
async fn a_refusal_is_parked_with_its_answer_and_a_huge_binary_answer_breaks_nothing() {
    let crm = CrmServer::start().await;
    let huge: Vec<u8> = (0..=255u8).cycle().take(8 * 1024 * 1024).collect();
    crm.script([Reply::status(422).with_body(huge)]);
    let app = app().await;
    acme_for_97(&app, json!({"url": crm.url("/calls"), "trigger": "server"})).await;

    let (token, mut socket, call) = answered_call(&app, "1155551001", "C-1").await;
    let parked = outbox_until(&app, &crm, "the refusal parked", |c| c["parked"] == 1).await;
    assert_eq!(parked["counts"]["pending"], 0, "a 4xx is not retried");
    let parked = outbox(&app, "parked").await;
    let entry = &parked["entries"][0];
    assert_eq!(entry["lastStatus"], 422);
    let error = entry["lastError"].as_str().unwrap();
    assert!(error.starts_with("HTTP 422: "), "{error}");
    assert!(error.len() < 4096, "only the start of the answer is kept");
    assert_eq!(entry["callId"], call.to_string());
    finish(&app, &token, &mut socket, call, 1, 11).await;
    rpc(&app, Some(&token), "Logout", json!({})).await;

    // The worker goes on: the next call is delivered, and so is the parked one once requeued.
    let (_token, _socket, _call) = answered_call(&app, "1155551002", "C-2").await;
    outbox_until(&app, &crm, "the next call", |c| c["delivered"] == 1).await;
    let id = entry["id"].as_i64().unwrap();
    let (status, body) = admin(&app, reqwest::Method::POST, &format!("outbox/{id}/requeue"), None).await;
    assert_eq!(status, 200, "{body}");
    outbox_until(&app, &crm, "the requeued row", |c| {
        c["delivered"] == 2 && c["parked"] == 0
    })
    .await;
    let (status, _) = admin(&app, reqwest::Method::POST, &format!("outbox/{id}/requeue"), None).await;
    assert_eq!(status, 404, "nothing parked to requeue");
}

#[tokio::test]
async fn a_crm_that_does_not_answer_in_time_gets_the_request_again() {
    let crm = CrmServer::start().await;
    crm.script([Reply::status(200).after(Duration::from_secs(4))]);
    let app = app().await;
    acme_for_97(&app, json!({"url": crm.url("/calls"), "trigger": "server"})).await;
    let (_token, _socket, call) = answered_call(&app, "1155551001", "C-1").await;
    outbox_until(&app, &crm, "the second attempt", |c| c["delivered"] == 1).await;
    let received = crm.received();
    assert_eq!(received.len(), 2);
    let expected = call.to_string();
    assert!(received.iter().all(|r| r.json()["callId"] == expected.as_str()));
    let delivered = outbox(&app, "delivered").await;
    assert_eq!(delivered["entries"][0]["attempts"], 2);
}

#[tokio::test]
async fn a_marked_disposition_sends_the_disposition_and_others_send_nothing() {
    let crm = CrmServer::start().await;
    let app = app().await;
    put_site(
        &app,
        "acme",
        json!({"url": crm.url("/dispositions"), "trigger": "disposition", "method": "POST", "format": "form-urlencoded"}),
    )
    .await;
    put_campaign(
        &app,
        97,
        json!({"site": "acme", "dispositions": [{"category": 1, "subcategory": 11}], "params": [
            {"family": "call", "source": "call_id", "name": "callId"},
            {"family": "disposition", "source": "name", "name": "result"},
            {"family": "disposition", "source": "id", "name": "resultId"},
            {"family": "disposition", "source": "form", "name": "form"},
        ]}),
    )
    .await;

    // Connecting sends nothing (the site is for dispositions).
    let (token, mut socket, call) = answered_call(&app, "1155551001", "C-1").await;
    assert_eq!(outbox(&app, "pending").await["counts"]["pending"], 0);
    finish(&app, &token, &mut socket, call, 1, 11).await;
    let received = crm.wait_for(1).await;
    let pairs: std::collections::HashMap<String, String> = url::form_urlencoded::parse(&received[0].body)
        .into_owned()
        .collect();
    assert_eq!(pairs["callId"], call.to_string());
    assert_eq!(pairs["result"], "Contacted / Sale");
    assert_eq!(pairs["resultId"], "1-11");
    let form: Value = serde_json::from_slice(
        &base64::engine::general_purpose::STANDARD
            .decode(&pairs["form"])
            .unwrap(),
    )
    .unwrap();
    assert_eq!(form, json!({"category": 1, "subcategory": 11, "comment": "done"}));
    rpc(&app, Some(&token), "Logout", json!({})).await;

    // An unmarked disposition: UpdateContact answers once its effects are saved, and there is
    // no request among them.
    let (token, mut socket, call) = answered_call(&app, "1155551001", "C-1").await;
    finish(&app, &token, &mut socket, call, 1, 12).await;
    let counts = &outbox(&app, "pending").await["counts"];
    assert_eq!(
        counts["pending"].as_i64().unwrap() + counts["delivered"].as_i64().unwrap(),
        1
    );
}

#[tokio::test]
async fn dialplan_variables_handed_over_with_the_call_reach_the_crm() {
    let crm = CrmServer::start().await;
    let app = app().await;
    bind_acme_to_97(
        &app,
        json!({"url": crm.url("/calls"), "trigger": "server", "method": "GET"}),
        json!([
            {"family": "dialplan", "source": "OmlcrmLang", "name": "lang"},
            {"family": "dialplan", "source": "ORDER_REF", "name": "order"},
            {"family": "dialplan", "source": "OmlcrmMissing", "name": "missing"},
        ]),
    )
    .await;
    let token = available(&app, "agent1", "1001").await;
    let (mut socket, _) = ws_connect(&app, &token).await;
    sim(
        &app,
        "inbound",
        json!({"ani": "1155551001", "queue": crate::http::QUEUE,
               "variables": {"OmlcrmLang": "es", "ORDER_REF": "A 77"}}),
    )
    .await
    .ok();
    wait_for(&mut socket, "callOffered").await;
    sim(&app, "agents/agent1/answer", json!({})).await.ok();
    let received = crm.wait_for(1).await;
    assert_eq!(
        received[0].query_pairs(),
        [("lang", "es"), ("order", "A 77"), ("missing", "")].map(|(n, v)| (n.to_owned(), v.to_owned()))
    );
}
