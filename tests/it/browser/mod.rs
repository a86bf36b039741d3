//! The softphone in headless Chromium, framed by the local Lightning harness against a real
//! server: login, campaign, screen pops, sync, release, transfer, reload, bad input. Each test
//! asserts an empty error log (uncaught errors and console.error of both frames) and writes
//! screenshots of its main states to `test-artifacts/screenshots/`.

mod crm;
mod dashboard;
mod driver;
mod flows;
mod missed;
mod shift;

use driver::Browser;

use crate::support::server::TestApp;

/// The harness URL with `query` (call-center options, layout, language).
fn harness(app: &TestApp, query: &str) -> String {
    app.url(&format!("/dev/lightning?lang=es&{query}"))
}

#[tokio::test]
async fn the_harness_frames_the_adapter_which_loads_open_cti_and_initializes() {
    let app = TestApp::spawn().await;
    let browser = Browser::start("harness", 1280, 900).await;
    browser.open(&harness(&app, "")).await;
    browser
        .wait_for(
            "notifyInitializationComplete",
            "return window.harness.log.some((e) => e.method === 'notifyInitializationComplete')",
        )
        .await;
    let asked = browser
        .softphone("return window.harness.log.map((e) => e.method)")
        .await;
    for method in [
        "getCallCenterSettings",
        "enableClickToDial",
        "onClickToDial",
        "onNavigationChange",
    ] {
        assert!(
            asked.as_array().unwrap().iter().any(|m| m == method),
            "{method} not called: {asked}"
        );
    }
    browser.wait_text("#login-submit", "Ingresar").await;
    browser.screenshot("harness-login").await;
    browser.screenshot_softphone("softphone-login").await;
    browser.finish().await;
}

#[tokio::test]
async fn an_origin_that_is_not_salesforce_is_refused_in_words_and_telephony_still_offered() {
    let app = TestApp::spawn_with(|c| c.server.dev_mode = Some(false)).await;
    let browser = Browser::start("unknown-origin", 800, 600).await;
    browser
        .open(&app.url("/softphone/?lang=es&sfdcIframeOrigin=https%3A%2F%2Fevil.example.com"))
        .await;
    browser
        .wait_text("#notice-text", "origen no permitido: https://evil.example.com")
        .await;
    let loaded = browser.softphone("return Boolean(window.sforce)").await;
    assert_eq!(loaded, false, "no script may be loaded from an unknown origin");
    browser.wait_text("#login-submit", "Ingresar").await;
    browser.screenshot("softphone-unknown-origin").await;

    // The own origin counts only in development mode.
    let own = app.url("/softphone/?lang=en&sfdcIframeOrigin=")
        + &app.address.replace(':', "%3A").replace('/', "%2F");
    browser.open(&own).await;
    browser.wait_text("#notice-text", "origin not allowed").await;
    browser.finish().await;
}
