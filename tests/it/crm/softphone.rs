//! What the softphone opens for sites with trigger automatic or agent: the URL with the call's
//! values, or the form to post, in a panel or a new tab; nothing goes through the server's
//! outbox for them.

use serde_json::{Value, json};

use super::*;

async fn site_for(app: &TestApp, token: Option<&str>) -> (u16, Value) {
    let mut request = app.client.get(app.url("/api/crm/site"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn the_softphone_gets_the_sites_url_or_form_for_the_agents_call() {
    let app = app().await;
    bind_acme_to_97(
        &app,
        json!({"url": "https://crm.example.com/clients/{idClient}", "trigger": "agent", "method": "GET", "target": "embedded"}),
        json!([
            {"family": "contact", "source": "clave_1", "name": "idClient"},
            {"family": "call", "source": "call_id", "name": "callId"},
            {"family": "fixed", "source": "es", "name": "lang"}]),
    )
    .await;
    let (token, mut socket, call) = answered_call(&app, "1155551001", "C 42").await;
    let (status, body) = site_for(&app, Some(&token)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["callId"], call);
    let site = &body["site"];
    assert_eq!(site["trigger"], "agent");
    assert_eq!(site["target"], "embedded");
    assert_eq!(site["method"], "GET");
    assert_eq!(
        site["url"],
        format!("https://crm.example.com/clients/C%2042?callId={call}&lang=es")
    );
    assert_eq!(site["fields"], json!([]));

    put_site(
        &app,
        "acme",
        json!({"url": "https://crm.example.com/clients/{idClient}", "trigger": "automatic", "method": "POST",
               "format": "multipart", "target": "new_tab"}),
    )
    .await;
    let (_, body) = site_for(&app, Some(&token)).await;
    let site = &body["site"];
    assert_eq!(
        (site["trigger"].as_str(), site["target"].as_str()),
        (Some("automatic"), Some("new_tab"))
    );
    assert_eq!(site["url"], "https://crm.example.com/clients/C%2042");
    assert_eq!(site["enctype"], "multipart/form-data");
    assert_eq!(
        site["fields"],
        json!([["callId", call.to_string()], ["lang", "es"]])
    );

    // The browser opens these: the server sends nothing itself.
    assert_eq!(
        outbox(&app, "pending").await["counts"],
        json!({"pending": 0, "parked": 0, "delivered": 0, "oldestPendingCreatedAtMs": null})
    );
    finish(&app, &token, &mut socket, call, 1, 11).await;
    let (status, body) = site_for(&app, Some(&token)).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("no_call")),
        "{body}"
    );
    let (status, _) = site_for(&app, None).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn a_campaign_without_a_browser_site_gets_none() {
    let app = app().await;
    put_site(
        &app,
        "acme",
        json!({"url": "https://crm.example.com/", "trigger": "server"}),
    )
    .await;
    put_campaign(&app, 97, json!({"site": "acme"})).await;
    let (token, _socket, _call) = answered_call(&app, "1155551001", "C-1").await;
    let (status, body) = site_for(&app, Some(&token)).await;
    assert_eq!(status, 200);
    assert_eq!(body["site"], Value::Null);
}

#[tokio::test]
async fn the_softphone_page_may_frame_and_post_to_its_sites_and_nothing_else() {
    let app = app().await;
    let csp = |app: &TestApp| {
        let (client, url) = (app.client.clone(), app.url("/softphone/"));
        async move {
            let response = client.get(url).send().await.unwrap();
            response.headers()["content-security-policy"]
                .to_str()
                .unwrap()
                .to_owned()
        }
    };
    let before = csp(&app).await;
    assert!(
        before.contains("form-action 'none'") && !before.contains("frame-src"),
        "{before}"
    );
    put_site(
        &app,
        "acme",
        json!({"url": "https://crm.example.com:8443/clients/{id}", "trigger": "agent", "method": "GET"}),
    )
    .await;
    put_site(
        &app,
        "server-only",
        json!({"url": "https://hidden.example.com/", "trigger": "server"}),
    )
    .await;
    let after = csp(&app).await;
    assert!(
        after.contains("frame-src https://crm.example.com:8443"),
        "{after}"
    );
    assert!(
        after.contains("form-action https://crm.example.com:8443"),
        "{after}"
    );
    assert!(!after.contains("hidden.example.com"), "{after}");
}
