//! External sites opened by the softphone: trigger `agent` shows a button, `automatic` opens
//! the site as the call connects; in the softphone's panel (the CRM test server receives what
//! the frame loads or posts) or in a new tab.

use serde_json::json;

use super::driver::Browser;
use super::flows::{agent_answers, available_agent, inbound};
use crate::support::crm_server::CrmServer;
use crate::support::server::TestApp;

async fn admin_put(app: &TestApp, path: &str, body: serde_json::Value) {
    let response = app
        .client
        .put(app.url(path))
        .bearer_auth("demo-admin")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{path}: {}", response.status());
}

async fn site(app: &TestApp, site: serde_json::Value) {
    admin_put(app, "/admin/crm/sites/acme", site).await;
    admin_put(
        app,
        "/admin/crm/campaigns/97",
        json!({"site": "acme", "params": [
            {"family": "contact", "source": "clave_1", "name": "idClient"},
            {"family": "call", "source": "call_id", "name": "callId"},
            {"family": "fixed", "source": "es", "name": "lang"}]}),
    )
    .await;
}

#[tokio::test]
async fn an_agent_site_opens_in_the_panel_from_its_button() {
    let crm = CrmServer::start().await;
    let app = TestApp::spawn().await;
    site(
        &app,
        json!({"url": crm.url("/clients/{idClient}"), "trigger": "agent", "method": "GET", "target": "embedded"}),
    )
    .await;
    let browser = Browser::start("crm-agent-embedded", 1280, 900).await;
    available_agent(&browser, &app, "").await;
    let call = inbound(&app, "1155551001").await;
    agent_answers(&app).await;
    browser.wait_text("#btn-crm", "Abrir CRM").await;
    assert!(crm.received().is_empty(), "nothing opens before the agent asks");
    browser.click("#btn-crm").await;
    let received = crm.wait_for(1).await;
    assert_eq!(received[0].method, "GET");
    assert_eq!(received[0].path, "/clients/1155551001");
    assert_eq!(
        received[0].query_pairs(),
        [("callId", call.to_string()), ("lang", "es".to_owned())].map(|(n, v)| (n.to_owned(), v))
    );
    browser
        .wait_for(
            "the panel",
            "return !$('#crm-panel').hidden && $('#crm-name').textContent === 'acme'",
        )
        .await;
    browser.screenshot_softphone("softphone-crm-panel").await;
    browser.click("#btn-crm-close").await;
    browser
        .wait_for("the panel closed", "return $('#crm-panel').hidden")
        .await;
    browser.finish().await;
}

#[tokio::test]
async fn an_automatic_site_posts_its_form_into_the_panel_as_the_call_connects() {
    let crm = CrmServer::start().await;
    let app = TestApp::spawn().await;
    site(
        &app,
        json!({"url": crm.url("/clients/{idClient}/form"), "trigger": "automatic", "method": "POST",
               "format": "form-urlencoded", "target": "embedded"}),
    )
    .await;
    let browser = Browser::start("crm-automatic-embedded", 1280, 900).await;
    available_agent(&browser, &app, "").await;
    let call = inbound(&app, "1155551002").await;
    agent_answers(&app).await;
    let received = crm.wait_for(1).await;
    assert_eq!(received[0].method, "POST");
    assert_eq!(received[0].path, "/clients/1155551002/form");
    assert_eq!(
        received[0].header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(&received[0].body)
        .into_owned()
        .collect();
    assert_eq!(
        pairs,
        [("callId", call.to_string()), ("lang", "es".to_owned())].map(|(n, v)| (n.to_owned(), v))
    );
    browser
        .wait_for("the panel", "return !$('#crm-panel').hidden")
        .await;
    let button = browser.softphone("return $('#btn-crm').hidden").await;
    assert_eq!(button, json!(true), "no button for an automatic site");
    browser.finish().await;
}

#[tokio::test]
async fn an_automatic_new_tab_site_opens_a_tab_as_the_call_connects() {
    let crm = CrmServer::start().await;
    let app = TestApp::spawn().await;
    site(
        &app,
        json!({"url": crm.url("/clients/{idClient}"), "trigger": "automatic", "method": "GET", "target": "new_tab"}),
    )
    .await;
    let browser = Browser::start("crm-new-tab", 1280, 900).await;
    available_agent(&browser, &app, "").await;
    // The tabs the softphone opens, as it asks for them.
    browser
        .softphone("const w = sp.defaultView; w.__opened = []; w.open = (...args) => { w.__opened.push(args); return null; }; return true;")
        .await;
    let call = inbound(&app, "1155551003").await;
    agent_answers(&app).await;
    let opened = browser
        .wait_for("a new tab", "return sp.defaultView.__opened[0] || null")
        .await;
    assert_eq!(
        opened,
        json!([
            crm.url(&format!("/clients/1155551003?callId={call}&lang=es")),
            "_blank",
            "noopener"
        ])
    );
    let panel = browser.softphone("return $('#crm-panel').hidden").await;
    assert_eq!(panel, json!(true), "a new tab, not the panel");
    browser.finish().await;
}

#[tokio::test]
async fn an_agent_new_tab_site_posts_its_form_to_a_new_tab_from_the_button() {
    let crm = CrmServer::start().await;
    let app = TestApp::spawn().await;
    site(
        &app,
        json!({"url": crm.url("/clients/{idClient}"), "trigger": "agent", "method": "POST",
               "format": "multipart", "target": "new_tab"}),
    )
    .await;
    let browser = Browser::start("crm-agent-new-tab", 1280, 900).await;
    available_agent(&browser, &app, "").await;
    let call = inbound(&app, "1155551004").await;
    agent_answers(&app).await;
    browser.wait_text("#btn-crm", "Abrir CRM").await;
    browser.click("#btn-crm").await;
    let received = crm.wait_for(1).await;
    assert_eq!(
        (received[0].method.as_str(), received[0].path.as_str()),
        ("POST", "/clients/1155551004")
    );
    let content_type = received[0].header("content-type").unwrap();
    assert!(
        content_type.starts_with("multipart/form-data; boundary="),
        "{content_type}"
    );
    let body = received[0].text();
    assert!(
        body.contains("name=\"callId\"\r\n\r\n") && body.contains(&call.to_string()),
        "{body}"
    );
    let panel = browser.softphone("return $('#crm-panel').hidden").await;
    assert_eq!(panel, json!(true), "a new tab, not the panel");
    browser.finish().await;
}
