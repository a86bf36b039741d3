//! The admin API of sites and campaign parameters: create, list, change, delete, and the
//! refusals that name the field.

use reqwest::Method;
use serde_json::json;

use super::*;

#[tokio::test]
async fn sites_and_campaign_parameters_are_created_listed_changed_and_deleted() {
    let app = app().await;
    let site = json!({"url": "https://crm.example.com/calls/{idClient}", "trigger": "server",
        "auth": {"token_url": "https://crm.example.com/token", "username": "u", "password": "pw-hidden"}});
    let (status, body) = admin(&app, Method::PUT, "sites/acme", Some(site.clone())).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["name"], "acme");
    assert_eq!(body["method"], "POST");
    assert_eq!(body["format"], "json");
    assert!(!body.to_string().contains("pw-hidden"));
    let (status, _) = admin(&app, Method::PUT, "sites/acme", Some(site)).await;
    assert_eq!(status, 200, "a change");

    let binding = json!({"site": "acme", "params": [
        {"family": "contact", "source": "clave_1", "name": "idClient"}]});
    let (status, body) = admin(&app, Method::PUT, "campaigns/97", Some(binding)).await;
    assert_eq!(status, 201, "{body}");
    let (_, list) = admin(&app, Method::GET, "campaigns", None).await;
    assert_eq!(list["campaigns"][0]["campaign"], 97);
    assert_eq!(list["campaigns"][0]["params"][0]["name"], "idClient");

    // In use: the site cannot go, nor lose the parameter its holder needs.
    let (status, body) = admin(&app, Method::DELETE, "sites/acme", None).await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("campaign 97"),
        "{body}"
    );
    let (status, body) = admin(
        &app,
        Method::PUT,
        "sites/acme",
        Some(json!({"url": "https://crm.example.com/{idClient}/{lang}", "trigger": "server"})),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("{lang}"),
        "{body}"
    );

    let (status, _) = admin(&app, Method::DELETE, "campaigns/97", None).await;
    assert_eq!(status, 204);
    let (status, _) = admin(&app, Method::DELETE, "sites/acme", None).await;
    assert_eq!(status, 204);
    let (_, list) = admin(&app, Method::GET, "sites", None).await;
    assert_eq!(list["sites"], json!([]));
    let (status, _) = admin(&app, Method::DELETE, "sites/acme", None).await;
    assert_eq!(status, 404);

    // Without the admin token: nothing.
    let response = app.client.get(app.url("/admin/crm/sites")).send().await.unwrap();
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn invalid_definitions_are_refused_with_the_field_named() {
    let app = app().await;
    let refused = |site: serde_json::Value| {
        let app = &app;
        async move {
            let (status, body) = admin(app, Method::PUT, "sites/bad", Some(site)).await;
            assert_eq!(status, 422, "{body}");
            body["error"]["message"].as_str().unwrap().to_owned()
        }
    };
    let m = refused(json!({"url": "http://crm.example.com/", "trigger": "server"})).await;
    assert!(m.starts_with("sites.bad.url: must be an https URL"), "{m}");
    let m = refused(json!({"url": "https://crm.example.com/", "trigger": "sometimes"})).await;
    assert!(m.contains("trigger") || m.contains("sometimes"), "{m}");
    let m = refused(json!({"url": "https://crm.example.com/", "trigger": "server", "colour": "red"})).await;
    assert!(m.contains("colour"), "{m}");
    let m = refused(json!({"url": "https://crm.example.com/", "trigger": "agent", "format": "json"})).await;
    assert!(m.starts_with("sites.bad.format"), "{m}");
    let m = refused(json!({"url": "https://crm.example.com/", "trigger": "server",
        "auth": {"token_url": "http://crm.example.com/token", "username": "u", "password": "p"}}))
    .await;
    assert!(m.starts_with("sites.bad.auth.token_url"), "{m}");

    put_site(
        &app,
        "clean",
        json!({"url": "https://crm.example.com/{idClient}/{idCamp}", "trigger": "server"}),
    )
    .await;
    let campaign_refused = |campaign: i64, binding: serde_json::Value| {
        let app = &app;
        async move {
            let (status, body) =
                admin(app, Method::PUT, &format!("campaigns/{campaign}"), Some(binding)).await;
            assert_eq!(status, 422, "{body}");
            body["error"]["message"].as_str().unwrap().to_owned()
        }
    };
    let m = campaign_refused(
        97,
        json!({"site": "clean", "params": [{"family": "contact", "source": "clave_1", "name": "idClient"}]}),
    )
    .await;
    assert_eq!(
        m,
        "campaigns.97.params: the URL of site `clean` has the holder `{idCamp}` but no parameter is named `idCamp`"
    );
    let m = campaign_refused(4242, json!({"site": "clean", "params": []})).await;
    assert_eq!(m, "campaigns.4242.campaign: no campaign 4242 is configured");
    let m = campaign_refused(97, json!({"site": "nowhere"})).await;
    assert_eq!(m, "campaigns.97.site: no external site is named `nowhere`");
    let m = campaign_refused(
        97,
        json!({"site": "clean", "params": [{"family": "call", "source": "salary", "name": "x"}]}),
    )
    .await;
    assert!(
        m.starts_with("campaigns.97.params[0].source: `salary` is not a call parameter"),
        "{m}"
    );

    // A column the campaign's contacts do not have (once it has contacts to tell).
    let token = available(&app, "agent1", "1001").await;
    let (mut socket, _) = ws_connect(&app, &token).await;
    inbound_call(&app, "1155551001", Some("C-1")).await;
    wait_for(&mut socket, "callOffered").await;
    let m = campaign_refused(
        97,
        json!({"site": "clean", "params": [
            {"family": "contact", "source": "clave_1", "name": "idClient"},
            {"family": "contact", "source": "shoe_size", "name": "idCamp"}]}),
    )
    .await;
    assert!(
        m.starts_with("campaigns.97.params[1].source: `shoe_size` is not a column of contact database 1"),
        "{m}"
    );
}
