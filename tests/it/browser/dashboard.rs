//! The supervisors' dashboard in Chromium against a real server: an agent's login is refused
//! with a clear message, the supervisor's page follows a call as it is offered and answered
//! (checked against the server's own figures), switches to English, and fits a 1280×720
//! screen and a utility-bar panel (400×600, also inside the Lightning harness) without
//! horizontal scrolling.

use serde_json::json;

use super::driver::Browser;
use super::flows::{agent_answers, agent_via_api, inbound_without_data};
use crate::support::server::TestApp;

async fn log_in(browser: &Browser, device: &str, user: &str) {
    browser.fill("#login-device", device).await;
    browser.fill("#login-user", user).await;
    browser.fill("#login-password", "demo").await;
    browser.click("#login-submit").await;
}

/// Every element of `selectors` is shown, and the page needs no horizontal scrolling.
async fn assert_fits(browser: &Browser, selectors: &[&str], what: &str) {
    let list = serde_json::to_string(selectors).unwrap();
    let layout = browser
        .run(&format!(
            "const hidden = {list}.filter((s) => {{ const el = document.querySelector(s); \
               if (!el || el.closest('[hidden]')) return true; const r = el.getBoundingClientRect(); \
               return r.width === 0 || r.left < 0 || r.right > window.innerWidth + 0.5; }}); \
             return {{ hidden, scrollWidth: document.documentElement.scrollWidth, width: window.innerWidth }};"
        ))
        .await;
    assert_eq!(layout["hidden"], json!([]), "{what}: {layout}");
    assert!(
        layout["scrollWidth"].as_f64() <= layout["width"].as_f64(),
        "{what}: horizontal scrolling {layout}"
    );
}

const BOARD: &[&str] = &[
    "#t-offered",
    "#t-answered",
    "#t-sl",
    "#t-wrap",
    "#agents",
    "#queues",
    "#chart-hours svg",
    "#chart-sl svg",
];

#[tokio::test]
async fn a_supervisor_watches_a_call_arrive_and_be_answered_in_spanish_then_english() {
    let app = TestApp::spawn_with(|c| c.telephony.dashboard_interval_ms = 200).await;
    let browser = Browser::start("dashboard", 1280, 720).await;
    browser.open(&app.url("/dashboard/?lang=es")).await;

    // An agent is told the page is for supervisors.
    log_in(&browser, "1002", "agent2").await;
    browser.wait_text("#notice", "solo para supervisores").await;
    assert_eq!(
        browser.run("return window.__dashboard.refused").await,
        "not_supervisor"
    );
    assert_eq!(
        browser
            .run("return document.getElementById('view-board').hidden")
            .await,
        true
    );

    // The supervisor gets the board, with agent1 available.
    agent_via_api(&app, "agent1", "1001").await;
    log_in(&browser, "1100", "super1").await;
    browser
        .wait_for(
            "agent1 available on the board",
            "return document.querySelector('#agents tr[data-user=agent1] .state')?.textContent === 'Disponible'",
        )
        .await;
    browser.wait_text("#t-offered", "0").await;

    // A call comes in and rings on agent1; agent1 answers.
    inbound_without_data(&app, "1155557001").await;
    browser.wait_text("#t-offered", "1").await;
    agent_answers(&app).await;
    browser
        .wait_for(
            "agent1 in call on the board",
            "return document.querySelector('#agents tr[data-user=agent1] .state')?.textContent === 'En llamada'",
        )
        .await;
    browser.wait_text("#t-answered", "1").await;
    browser.wait_text("#t-sl", "100%").await;
    // The server says the same (its metrics: logging in again would replace the page's session).
    let metrics = crate::http::metrics(&app).await;
    assert!(metrics.contains("ctibridge_calls_offered_today 1\n"), "{metrics}");
    assert!(
        metrics.contains("ctibridge_calls_answered_today 1\n"),
        "{metrics}"
    );
    let page = browser.run("return window.__dashboard.figures").await;
    assert_eq!(
        (&page["offered"], &page["answered"]),
        (&json!(1), &json!(1)),
        "{page}"
    );
    assert_eq!(page["serviceLevel"].as_f64(), Some(1.0), "{page}");
    // One bar group for this hour in the chart, one point on the service-level line.
    let bars = browser
        .run("return document.querySelectorAll('#chart-hours rect.answered').length")
        .await;
    assert!(bars.as_u64().unwrap() >= 1, "{bars}");
    assert_eq!(
        browser
            .run("return document.querySelectorAll('#chart-sl circle').length")
            .await,
        1
    );
    // The time in state runs on the page between frames.
    let before = browser
        .run("return document.querySelector('#agents tr[data-user=agent1] .clock').textContent")
        .await;
    browser
        .wait_for(
            "the clock to tick",
            &format!("return document.querySelector('#agents tr[data-user=agent1] .clock').textContent !== {before}"),
        )
        .await;

    assert_fits(&browser, BOARD, "1280×720").await;
    browser.screenshot("dashboard-1280x720-es").await;

    // English.
    browser.click("#btn-lang").await;
    browser.wait_text("#view-board", "Answered").await;
    browser.wait_text("#agents", "In call").await;
    assert_eq!(browser.run("return document.documentElement.lang").await, "en");
    browser.screenshot("dashboard-1280x720-en").await;

    // A utility-bar panel.
    browser.resize(400, 600).await;
    browser
        .wait_for("the narrow layout", "return window.innerWidth <= 420")
        .await;
    assert_fits(&browser, BOARD, "400×600").await;
    browser.screenshot("dashboard-utility-400x600-en").await;

    // In the Lightning harness's utility panel, 400×600.
    browser.resize(1280, 900).await;
    browser
        .open(&app.url("/dev/lightning?panel=dashboard&lang=es&width=400&height=600"))
        .await;
    // The session is kept for the browser tab: no second login.
    browser.wait_text("#t-answered", "1").await;
    browser.wait_text("#agents", "En llamada").await;
    let panel = browser
        .softphone("return { width: frame.contentWindow.innerWidth, scroll: sp.documentElement.scrollWidth }")
        .await;
    assert!(panel["width"].as_u64().unwrap() <= 400, "{panel}");
    assert!(panel["scroll"].as_u64() <= panel["width"].as_u64(), "{panel}");
    browser
        .screenshot_softphone("dashboard-harness-utility-400x600-es")
        .await;
    browser.finish().await;
}
