//! An agent's shift, checked on what the server answered the page (its Salesforce helper
//! requests) and on what was written (the harness's fake org, the call log), not only on what
//! the page shows: links retried until confirmed, the sync that links only this call's record,
//! a pick from the search page, manual and click-to-dial calls, the screen at the call-center
//! XML's 620×420, one language, two tabs, DTMF.

use serde_json::{Value, json};

use super::driver::Browser;
use super::flows::{
    agent_answers, available_agent, customer_hangs_up, inbound, inbound_without_data, sim, wait_pop,
};
use super::harness;
use crate::support::server::TestApp;

/// The page's requests to `/api/salesforce/{name}` with the server's answers, oldest first.
async fn helper_requests(browser: &Browser, name: &str) -> Vec<Value> {
    let path = serde_json::to_string(&format!("/api/salesforce/{name}")).unwrap();
    let value = browser
        .softphone(&format!(
            "return (frame.contentWindow.__ctibridgeApi || []).filter((a) => a.path === {path})"
        ))
        .await;
    value.as_array().cloned().unwrap_or_default()
}

/// Waits for an answer of the server to `/api/salesforce/{name}` with `status`.
async fn wait_helper(browser: &Browser, name: &str, status: u16) -> Value {
    let path = serde_json::to_string(&format!("/api/salesforce/{name}")).unwrap();
    browser
        .wait_for(
            &format!("{name} answered {status}"),
            &format!(
                "return (frame.contentWindow.__ctibridgeApi || []).find((a) => a.path === {path} && a.status === {status})"
            ),
        )
        .await
}

/// The record and neoSyncId the server saved for the call.
async fn call_log(app: &TestApp, call: u64) -> (Option<String>, Option<i64>) {
    let store = app._db.store().await;
    let row: (Option<String>, Option<i64>) =
        sqlx::query_as("SELECT record_id, neo_sync_id FROM call_log WHERE external_id = $1")
            .bind(call.to_string())
            .fetch_one(store.pool())
            .await
            .expect("the call's row");
    row
}

/// The softphone's current call id, as the page knows it.
async fn current_call(browser: &Browser) -> u64 {
    browser
        .wait_for(
            "a call on the softphone",
            "return frame.contentWindow.ctibridgeSoftphone.position()?.call?.callId",
        )
        .await
        .as_u64()
        .expect("call id")
}

async fn notice(browser: &Browser) -> Option<String> {
    let value = browser
        .softphone("return $('#notice').hidden ? null : $('#notice-text').textContent")
        .await;
    value.as_str().map(str::to_owned)
}

/// Every softphone element of `selectors` is shown and lies inside the panel's viewport.
async fn assert_in_view(browser: &Browser, selectors: &[&str]) {
    let list = serde_json::to_string(selectors).unwrap();
    let outside = browser
        .softphone(&format!(
            "const w = frame.contentWindow; \
             return {list}.filter((s) => {{ const el = $(s); if (!el || el.closest('[hidden]')) return true; \
               const r = el.getBoundingClientRect(); \
               return r.width === 0 || r.top < 0 || r.left < 0 || r.bottom > w.innerHeight || r.right > w.innerWidth; }})"
        ))
        .await;
    assert_eq!(outside, json!([]), "outside the 620×420 panel (or hidden)");
}

/// Makes the softphone's `popped` requests fail as an unreachable server would, while
/// `frame.contentWindow.__failPopped` is true.
async fn break_popped(browser: &Browser) {
    browser
        .softphone(
            "const w = frame.contentWindow; const real = w.fetch.bind(w); w.__failPopped = true; \
             w.fetch = (url, options) => (w.__failPopped && String(url).includes('/api/salesforce/popped')) \
               ? Promise.reject(new TypeError('Failed to fetch')) : real(url, options);",
        )
        .await;
}

/// Logs `user` in and into campaign 97 through the API; returns the session token.
async fn agent_token(app: &TestApp, user: &str, device: &str) -> String {
    let login: Value = app
        .client
        .post(app.url("/neoapi/Login"))
        .json(&json!({"device": device, "user": user, "password": "demo"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["token"].as_str().expect("token").to_owned();
    rpc(app, &token, "Login_Campaign", json!({"campaign": 97})).await;
    token
}

/// A NeoApi method as the agent of `token`; it must succeed.
async fn rpc(app: &TestApp, token: &str, method: &str, body: Value) {
    let answer = app
        .client
        .post(app.url(&format!("/neoapi/{method}")))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(answer.status().is_success(), "{method}: {}", answer.status());
}

async fn release(browser: &Browser) {
    browser.wait_text("#agent-state", "Gestión").await;
    browser.click("#btn-release").await;
    browser.wait_text("#agent-state", "Disponible").await;
}

#[tokio::test]
async fn a_link_the_server_did_not_take_is_retried_until_confirmed_and_shown_pending() {
    let app = TestApp::spawn().await;
    let browser = Browser::start("link-retried", 1280, 900).await;
    available_agent(&browser, &app, "").await;

    // The server is unreachable for `popped`: the link waits, said as pending, not as an error.
    break_popped(&browser).await;
    let first = inbound(&app, "1155551001").await;
    wait_pop(&browser, "sobject:003000000000001AAA").await;
    browser.wait_text("#link-status", "Vinculando el registro").await;
    assert_eq!(notice(&browser).await, None, "a pending link is not an error");
    assert_eq!(call_log(&app, first).await.0, None);
    // Retried with backoff until the server takes it.
    browser
        .wait_for(
            "a second attempt",
            "return frame.contentWindow.__ctibridgeApi.filter((a) => a.path === '/api/salesforce/popped').length >= 2",
        )
        .await;
    browser
        .softphone("frame.contentWindow.__failPopped = false;")
        .await;
    let confirmed = wait_helper(&browser, "popped", 202).await;
    assert_eq!(confirmed["request"]["recordId"], "003000000000001AAA");
    assert_eq!(confirmed["request"]["callId"], first);
    browser
        .wait_for("the pending line to go", "return $('#link-status').hidden")
        .await;
    assert_eq!(
        call_log(&app, first).await.0.as_deref(),
        Some("003000000000001AAA")
    );
    agent_answers(&app).await;
    browser.wait_text("#agent-state", "En llamada").await;
    customer_hangs_up(&app, first).await;
    release(&browser).await;

    // Never confirmed before a reload: the reloaded page links it.
    break_popped(&browser).await;
    let second = inbound(&app, "1155551003").await;
    wait_pop(&browser, "sobject:00Q000000000003AAA").await;
    browser.wait_text("#link-status", "Vinculando el registro").await;
    assert_eq!(call_log(&app, second).await.0, None);
    browser.open(&harness(&app, "")).await;
    browser.wait_text("#agent-state", "Sonando").await;
    let confirmed = wait_helper(&browser, "popped", 202).await;
    assert_eq!(confirmed["request"]["callId"], second);
    assert_eq!(
        call_log(&app, second).await.0.as_deref(),
        Some("00Q000000000003AAA")
    );
    // The harness's log panel lists the helper requests with the server's answers.
    let logged = browser
        .run("return window.harness.api.map((a) => `${a.path} ${a.status}`)")
        .await;
    assert!(
        logged
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l == "/api/salesforce/popped 202"),
        "{logged}"
    );
    browser
        .wait_for(
            "the log panel to list popped",
            "return document.getElementById('log').textContent.includes('/api/salesforce/popped')",
        )
        .await;
    browser.finish().await;
}

#[tokio::test]
async fn sync_links_only_the_record_created_with_this_calls_sync_id() {
    let app = TestApp::spawn().await;
    let browser = Browser::start("sync-only-this-call", 1280, 900).await;
    available_agent(&browser, &app, "").await;

    // The previous caller: Ana, popped and linked.
    let first = inbound(&app, "1155551001").await;
    wait_pop(&browser, "sobject:003000000000001AAA").await;
    wait_helper(&browser, "popped", 202).await;
    agent_answers(&app).await;
    browser.wait_text("#agent-state", "En llamada").await;
    customer_hangs_up(&app, first).await;
    release(&browser).await;

    // An unknown caller: the new-record screen, its neoSyncId from the server while it rings.
    let second = inbound_without_data(&app, "1155559999").await;
    wait_pop(&browser, "newRecord:Contact").await;
    let issued = wait_helper(&browser, "new-sync-id", 200).await;
    assert_eq!(issued["request"]["callId"], second);
    let sync_id = issued["answer"]["neoSyncId"]
        .as_str()
        .expect("neoSyncId")
        .to_owned();
    let state = browser.softphone("return $('#agent-state').textContent").await;
    assert!(
        state.as_str().unwrap().starts_with("Sonando"),
        "issued while ringing: {state}"
    );
    let defaults = browser.softphone("return window.harness.newRecordDefaults").await;
    assert_eq!(defaults["neoSyncId__c"], sync_id.as_str());
    assert_eq!(
        call_log(&app, second).await.1.map(|n| n.to_string()),
        Some(sync_id.clone()),
        "the server keeps the id with the call"
    );

    // The agent cancels the new record: the harness shows Ana's record again.
    browser
        .run("document.getElementById('ws-new-cancel').click();")
        .await;
    let back = browser
        .run("return !document.getElementById('ws-record').hidden && document.getElementById('ws-record-name').textContent")
        .await;
    assert_eq!(back, "Ana García");
    agent_answers(&app).await;
    browser.wait_text("#agent-state", "En llamada").await;

    // Sync with Ana on screen: she does not carry this call's neoSyncId, nothing is linked.
    browser.click("#btn-sync").await;
    browser
        .wait_text("#notice-text", "Todavía no hay un registro guardado")
        .await;
    let name = browser.softphone("return $('#contact-name').textContent").await;
    assert_eq!(name, "1155559999");
    let popped: Vec<Value> = helper_requests(&browser, "popped").await;
    assert!(
        popped.iter().all(|p| p["request"]["callId"] == first),
        "only the first call was linked: {popped:?}"
    );
    assert_eq!(call_log(&app, second).await.0, None);
    let ana = browser
        .softphone("return window.harness.org.find((r) => r.Id === '003000000000001AAA')")
        .await;
    assert!(ana.get("neoSyncId__c").is_none(), "{ana}");
    browser.finish().await;
}

#[tokio::test]
async fn a_record_picked_from_the_search_page_is_linked_named_and_on_the_task() {
    let app = TestApp::spawn().await;
    let browser = Browser::start("search-page-pick", 1280, 900).await;
    available_agent(&browser, &app, "").await;

    let call = inbound(&app, "1155551004").await;
    wait_pop(&browser, "search:1155551004").await;
    // The agent opens the second Diego from the search results.
    browser
        .run(
            "[...document.querySelectorAll('#ws-search-results button')] \
             .find((b) => b.textContent === 'Contact: Diego Sosa (2)').click();",
        )
        .await;
    let linked = wait_helper(&browser, "popped", 202).await;
    assert_eq!(linked["request"]["recordId"], "003000000000005AAA");
    assert_eq!(linked["request"]["objectType"], "Contact");
    browser.wait_text("#contact-name", "Diego Sosa (2)").await;
    assert_eq!(
        call_log(&app, call).await.0.as_deref(),
        Some("003000000000005AAA")
    );
    agent_answers(&app).await;
    browser.wait_text("#agent-state", "En llamada").await;
    customer_hangs_up(&app, call).await;
    release(&browser).await;
    let task = browser
        .wait_for("the call's Task", "return window.harness.tasks[0]")
        .await;
    assert_eq!(task["WhoId"], "003000000000005AAA");
    assert_eq!(task["CallObject"], call.to_string());
    browser.finish().await;
}

#[tokio::test]
async fn a_manual_dial_to_an_unknown_number_opens_one_new_contact_and_keeps_its_call_id() {
    let app = TestApp::spawn().await;
    let browser = Browser::start("manual-dial-unknown", 1280, 900).await;
    available_agent(&browser, &app, "").await;

    browser.fill("#dial-number", "1155557777").await;
    browser.click("#btn-dial").await;
    let call = current_call(&browser).await;
    wait_pop(&browser, "newRecord:Contact").await;
    // The harness plays the customer picking up.
    browser
        .run("document.getElementById('sim-customer-answers').click();")
        .await;
    browser.wait_text("#agent-state", "En llamada").await;
    let said = serde_json::to_string(&format!("customer answered call {call}")).unwrap();
    browser
        .wait_for(
            "the harness to say the customer answered",
            &format!("return document.getElementById('sim-result').textContent === {said}"),
        )
        .await;
    customer_hangs_up(&app, call).await;
    release(&browser).await;

    let new_records = browser
        .softphone("return window.harness.pops.filter((p) => p.type === 'newRecord').length")
        .await;
    assert_eq!(new_records, 1, "one New Contact screen");
    let issued = helper_requests(&browser, "new-sync-id").await;
    assert_eq!(issued.len(), 1, "one neoSyncId: {issued:?}");
    assert_eq!(issued[0]["status"], 200);
    assert_eq!(issued[0]["request"]["callId"], call);
    let task = browser
        .wait_for("the call's Task", "return window.harness.tasks[0]")
        .await;
    assert_eq!(task["CallObject"], call.to_string());
    assert_eq!(task["CallType"], "Outbound");
    assert!(
        task["Description"]
            .as_str()
            .unwrap()
            .contains(&format!("callId: {call}")),
        "{task}"
    );
    browser.finish().await;
}

#[tokio::test]
async fn click_to_dial_on_a_record_with_an_idcrm_dials_the_clicked_number_and_clears_the_search_notice() {
    let app = TestApp::spawn().await;
    let browser = Browser::start("click-to-dial-idcrm", 1280, 900).await;
    available_agent(&browser, &app, "").await;

    // Ana García carries neoCrmId__c: the telephony contact is looked up, her number dialled.
    browser
        .run("document.querySelector('[data-click-to-dial=\"003000000000001AAA\"]').click();")
        .await;
    let call = current_call(&browser).await;
    let dialled = browser
        .softphone("return frame.contentWindow.ctibridgeSoftphone.position().call")
        .await;
    assert_eq!(dialled["phoneNumber"], "1155551001");
    assert_eq!(dialled["callReason"], "clickToDial");
    let apex = browser
        .softphone(
            "return window.harness.log.filter((e) => e.method === 'runApex').map((e) => e.args.methodName)",
        )
        .await;
    assert_eq!(apex, json!(["getContactById"]));
    browser
        .wait_for("the search notice to clear", "return $('#notice').hidden")
        .await;
    browser.wait_text("#contact-phone", "1155551001").await;
    sim(&app, &format!("/sim/calls/{call}/answer"), json!({})).await;
    browser.wait_text("#agent-state", "En llamada").await;
    browser.click("#btn-hangup").await;
    release(&browser).await;
    assert_eq!(notice(&browser).await, None);
    browser.finish().await;
}

#[tokio::test]
async fn at_620_by_420_each_state_shows_the_buttons_it_needs_with_reasons_for_the_others() {
    let app = TestApp::spawn().await;
    let browser = Browser::start("panel-620x420", 1280, 900).await;
    available_agent(&browser, &app, "width=620&height=420").await;
    let size = browser
        .softphone("return [frame.contentWindow.innerWidth, frame.contentWindow.innerHeight]")
        .await;
    assert_eq!(size, json!([620, 420]));
    assert_in_view(&browser, &["#btn-dial", "#dial-number"]).await;
    browser.screenshot_softphone("panel-620x420-available").await;

    // Ringing while the agent looks at another tab: Llamada comes forward, with a timer.
    browser.click("[data-tab=rest]").await;
    let call = inbound(&app, "1155551001").await;
    browser.wait_text("#agent-state", "Sonando").await;
    browser
        .wait_for(
            "the call tab forward",
            "return $('[data-tab=call]').getAttribute('aria-selected') === 'true'",
        )
        .await;
    browser.wait_text("#call-timer", "Sonando 0:0").await;
    assert_in_view(&browser, &["#btn-hangup", "#call-timer"]).await;
    browser.screenshot_softphone("panel-620x420-ringing").await;

    agent_answers(&app).await;
    browser.wait_text("#call-timer", "Conversación 0:0").await;
    // agent2 joins once agent1 has the call (else the call could have gone to agent2).
    let agent2 = agent_token(&app, "agent2", "1002").await;
    // What cannot work now is disabled and says why.
    let dial_title = browser
        .softphone("return $('#btn-dial').disabled && $('#btn-dial').title")
        .await;
    assert_eq!(dial_title, "No disponible durante una llamada.");
    browser.click("[data-tab=rest]").await;
    let rest = browser
        .softphone("return [...sp.querySelectorAll('#rest-system button')].map((b) => b.disabled && b.title)")
        .await;
    assert!(
        rest.as_array()
            .unwrap()
            .iter()
            .all(|t| t == "No disponible durante una llamada."),
        "{rest}"
    );

    // Transfer: every button in view; no target chosen says so; completing waits for the target.
    browser.click("[data-tab=transfer]").await;
    assert_in_view(
        &browser,
        &[
            "#transfer-phone",
            "#transfer-user",
            "#btn-transfer-direct",
            "#btn-transfer-attended",
            "#btn-transfer-complete",
            "#btn-transfer-cancel",
        ],
    )
    .await;
    let direct = browser
        .softphone("return $('#btn-transfer-direct').disabled && $('#btn-transfer-direct').title")
        .await;
    assert_eq!(direct, "Elija a quién transferir.");
    browser.fill("#transfer-user", "agent2").await;
    browser.click("#btn-transfer-attended").await;
    browser
        .wait_for(
            "the consultation",
            "return $('#btn-transfer-complete').title === 'El destino todavía no atendió.' && $('#btn-transfer-complete').disabled",
        )
        .await;
    browser.screenshot_softphone("panel-620x420-transfer").await;
    browser.click("#btn-transfer-cancel").await;
    browser
        .wait_for(
            "back to the customer",
            "return $('#btn-transfer-complete').disabled && $('#btn-transfer-complete').title === 'No hay una transferencia atendida en curso.'",
        )
        .await;

    // Wrap-up: the release buttons in view; Play says to use them.
    customer_hangs_up(&app, call).await;
    browser.wait_text("#agent-state", "Gestión").await;
    browser.click("[data-tab=call]").await;
    browser.wait_text("#call-timer", "Gestión 0:0").await;
    assert_in_view(
        &browser,
        &[
            "#btn-release-categorized",
            "#btn-release",
            "#release-category",
            "#btn-schedule",
        ],
    )
    .await;
    let play = browser
        .softphone("return $('#btn-play').disabled && $('#btn-play').title")
        .await;
    assert_eq!(play, "Use Liberar o Categorizar y liberar.");
    let dial = browser
        .softphone("return $('#btn-dial').disabled && $('#btn-dial').title")
        .await;
    assert!(dial.as_str().unwrap().starts_with("Libere el contacto"), "{dial}");
    // The width is used: the release box stands beside the dial pad, not below it.
    let beside = browser
        .softphone("return $('#release-box').getBoundingClientRect().left > $('#btn-dial').getBoundingClientRect().right")
        .await;
    assert_eq!(beside, true);
    browser.screenshot_softphone("panel-620x420-wrap-up").await;
    browser.fill("#release-category", "1").await;
    browser.fill("#release-subcategory", "11").await;
    browser.click("#btn-release-categorized").await;
    browser.wait_text("#notice-text", "Contacto categorizado").await;
    browser.wait_text("#agent-state", "Disponible").await;
    rpc(&app, &agent2, "Logout_Campaign", json!({})).await;

    // The next call starts clean: no transfer target, no old notice.
    let second = inbound(&app, "1155551002").await;
    browser.wait_text("#agent-state", "Sonando").await;
    assert_eq!(notice(&browser).await, None, "the last call's notice is gone");
    agent_answers(&app).await;
    browser.wait_text("#agent-state", "En llamada").await;
    let target = browser
        .softphone("return ['#transfer-phone', '#transfer-number', '#transfer-user', '#transfer-queue', '#transfer-campaign'].map((s) => $(s).value)")
        .await;
    assert_eq!(target, json!(["", "", "", "", ""]));
    customer_hangs_up(&app, second).await;
    release(&browser).await;

    // Resting: Play in view.
    browser.click("[data-tab=rest]").await;
    browser.click("#rest-system button").await;
    browser.wait_text("#agent-state", "En descanso: Descanso").await;
    assert_in_view(&browser, &["#btn-unpause"]).await;
    browser.screenshot_softphone("panel-620x420-rest").await;
    browser.click("#btn-unpause").await;
    browser.wait_text("#agent-state", "Disponible").await;
    browser.finish().await;
}

#[tokio::test]
async fn custom_rest_states_and_user_states_show_in_the_chosen_language_with_server_errors_in_words() {
    let app = TestApp::spawn_with(|c| {
        c.telephony.rest_states = vec![ctibridge::telephony::config::RestStateConfig {
            id: 100,
            name: "Coaching".into(),
        }];
    })
    .await;
    let browser = Browser::start("one-language", 1280, 900).await;
    browser.open(&app.url("/dev/lightning?lang=en")).await;
    browser.fill("#login-device", "1001").await;
    browser.fill("#login-user", "agent1").await;
    browser.fill("#login-password", "demo").await;
    browser.click("#login-submit").await;
    browser.wait_text("#agent-state", "Logged in, no campaign").await;
    browser.click("[data-tab=campaign]").await;
    browser.fill("#campaign-select", "97").await;
    browser.click("#btn-campaign-login").await;
    browser.wait_text("#agent-state", "Available").await;

    browser.click("[data-tab=rest]").await;
    browser.wait_text("#rest-custom", "Coaching").await;
    browser.click("#rest-custom button").await;
    browser.wait_text("#agent-state", "Resting: Coaching").await;
    browser.click("#btn-unpause").await;
    browser.wait_text("#agent-state", "Available").await;

    // Users' states in words, and following them.
    let agent2 = agent_token(&app, "agent2", "1002").await;
    browser.click("[data-tab=transfer]").await;
    browser.wait_text("#transfer-user", "agent2 (Available)").await;
    rpc(&app, &agent2, "Logout_Campaign", json!({})).await;

    // Spanish from the settings: every text follows, the server's refusals too.
    browser.click("#btn-settings").await;
    browser.fill("#pref-language", "es").await;
    browser.click("#btn-settings-apply").await;
    browser.click("[data-tab=rest]").await;
    browser.wait_text("#rest-system", "Almuerzo").await;
    browser.wait_text("#agent-state", "Disponible").await;
    let call = inbound(&app, "1155551001").await;
    browser.wait_text("#agent-state", "Sonando").await;
    agent_answers(&app).await;
    browser.wait_text("#agent-state", "En llamada").await;
    // The agent's own change reloaded the list: agent2 left the campaign meanwhile.
    browser
        .wait_for(
            "agent2's new state in the list",
            "return $('#transfer-user').textContent.includes('agent2 (Conectado sin campaña)')",
        )
        .await;
    let disabled = browser
        .softphone("return [...$('#transfer-user').options].find((o) => o.value === 'agent2').disabled")
        .await;
    assert_eq!(disabled, true, "only an available user can take a transfer");
    // Logout during a call: the server refuses (409 invalid_state), said in Spanish.
    browser.click("#btn-logout").await;
    browser
        .wait_text("#notice-text", "No se puede hacer en el estado actual.")
        .await;
    let text = notice(&browser).await.unwrap();
    assert!(!text.contains("Logout"), "no server English: {text}");
    customer_hangs_up(&app, call).await;
    release(&browser).await;
    browser.finish().await;
}

#[tokio::test]
async fn a_second_tab_says_what_happened_to_the_first_session() {
    let app = TestApp::spawn().await;
    let first = Browser::start("two-tabs-first", 900, 700).await;
    available_agent(&first, &app, "").await;

    // A fresh tab logs the same agent in: the first says so, not "expired".
    let second = Browser::start("two-tabs-second", 900, 700).await;
    second.open(&harness(&app, "")).await;
    second.fill("#login-device", "1001").await;
    second.fill("#login-user", "agent1").await;
    second.fill("#login-password", "demo").await;
    second.click("#login-submit").await;
    second.wait_text("#agent-state", "Disponible").await;
    first
        .wait_text("#notice-text", "Sesión iniciada en otra pestaña")
        .await;
    first.wait_text("#login-submit", "Ingresar").await;

    // A tab sharing the second's session (a duplicated tab) logs out: "Sesión cerrada".
    let token = second
        .softphone("return frame.contentWindow.sessionStorage.getItem('ctibridge.session')")
        .await;
    let token = serde_json::to_string(token.as_str().unwrap()).unwrap();
    first
        .softphone(&format!(
            "frame.contentWindow.sessionStorage.setItem('ctibridge.session', {token});"
        ))
        .await;
    first.open(&harness(&app, "")).await;
    first.wait_text("#agent-state", "Disponible").await;
    first.click("#btn-logout").await;
    first.wait_text("#login-submit", "Ingresar").await;
    second.wait_text("#notice-text", "Sesión cerrada").await;
    let expired = second.softphone("return $('#notice-text').textContent").await;
    assert!(!expired.as_str().unwrap().contains("expiró"), "{expired}");
    first.finish().await;
    second.finish().await;
}

#[tokio::test]
async fn dtmf_says_which_digits_were_sent_and_accepts_a_to_d() {
    let app = TestApp::spawn().await;
    let browser = Browser::start("dtmf", 1280, 900).await;
    available_agent(&browser, &app, "").await;
    let call = inbound(&app, "1155551001").await;
    wait_pop(&browser, "sobject:003000000000001AAA").await;
    agent_answers(&app).await;
    browser.wait_text("#agent-state", "En llamada").await;

    browser.fill("#dtmf-digits", "1a#").await;
    browser.click("#btn-dtmf").await;
    browser.wait_text("#dtmf-status", "Tonos enviados: 1A#").await;
    browser.fill("#dtmf-digits", "12x").await;
    browser.click("#btn-dtmf").await;
    browser
        .wait_text("#notice-text", "Dígitos DTMF inválidos (0-9, *, #, A-D).")
        .await;
    customer_hangs_up(&app, call).await;
    release(&browser).await;
    browser.finish().await;
}

#[tokio::test]
async fn the_harness_keeps_its_injected_call_across_a_reload() {
    let app = TestApp::spawn().await;
    let browser = Browser::start("harness-reload", 1280, 900).await;
    available_agent(&browser, &app, "").await;
    // Resting: the injected call waits in the queue, the softphone has no call.
    browser.click("[data-tab=rest]").await;
    browser.click("#rest-system button").await;
    browser.wait_text("#agent-state", "En descanso").await;
    browser
        .run("document.getElementById('sim-ani').value = '1155551003'; document.getElementById('sim-inject').click();")
        .await;
    let said = browser
        .wait_for(
            "the injected call",
            "const t = document.getElementById('sim-result').textContent; return /^call \\d+ injected$/.test(t) && t",
        )
        .await;
    let call: u64 = said.as_str().unwrap().split(' ').nth(1).unwrap().parse().unwrap();

    browser.open(&harness(&app, "")).await;
    browser.wait_text("#agent-state", "En descanso").await;
    browser
        .run("document.getElementById('sim-hangup').click();")
        .await;
    browser
        .wait_for(
            "the customer to hang up",
            "return document.getElementById('sim-result').textContent === 'customer hung up'",
        )
        .await;
    let ended = app
        .client
        .get(app.url(&format!("/sim/calls/{call}")))
        .header("Authorization", "Bearer demo-admin")
        .send()
        .await
        .unwrap();
    // Over: the simulation forgets it, or still shows it ended.
    if ended.status() != 404 {
        let view: Value = ended.json().await.unwrap();
        assert_eq!(view["state"], "ended", "{view}");
    }
    browser.finish().await;
}

/// Waits (bounded) until the server's fake org satisfies `done`: the outbox delivers in the
/// background.
async fn in_the_org(what: &str, done: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while !done() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
}

#[tokio::test]
async fn with_salesforce_on_the_server_sync_asks_it_a_404_links_nothing_and_a_find_is_written() {
    use crate::support::fake_salesforce::FakeSalesforce;
    let fake = FakeSalesforce::start().await;
    let app = TestApp::spawn_with(|c| {
        c.salesforce =
            crate::salesforce::config_for(&fake, ctibridge::salesforce::config::AuthFlow::JwtBearer)
    })
    .await;
    let browser = Browser::start("sync-server", 1280, 900).await;
    available_agent(&browser, &app, "").await;

    let call = inbound_without_data(&app, "1155559999").await;
    wait_pop(&browser, "newRecord:Contact").await;
    let issued = wait_helper(&browser, "new-sync-id", 200).await;
    let sync_id = issued["answer"]["neoSyncId"].as_str().unwrap().to_owned();
    agent_answers(&app).await;
    browser.wait_text("#agent-state", "En llamada").await;

    // Cancelled, and the agent opens another record: the server finds nothing with this call's
    // neoSyncId (404), so nothing is linked, whatever is on screen.
    browser
        .run("document.getElementById('ws-new-cancel').click(); \
              [...document.querySelectorAll('#org-records button')].find((b) => b.textContent === 'Ana García').click();")
        .await;
    browser.click("#btn-sync").await;
    browser
        .wait_text("#notice-text", "Todavía no hay un registro guardado")
        .await;
    let asked = helper_requests(&browser, "sync").await;
    assert!(!asked.is_empty());
    assert!(
        asked
            .iter()
            .all(|a| a["status"] == 404 && a["code"] == "not_found"),
        "{asked:?}"
    );
    assert!(helper_requests(&browser, "popped").await.is_empty());
    assert_eq!(call_log(&app, call).await.0, None);

    // Saved in the org with the call's neoSyncId: the next sync finds it and the server links it.
    let saved = fake.insert(
        "Contact",
        json!({"LastName": "Nuevo", "Phone": "1155559999", "neoSyncId__c": sync_id.parse::<i64>().unwrap()}),
    );
    browser.click("#btn-sync").await;
    let found = wait_helper(&browser, "sync", 200).await;
    assert_eq!(found["answer"]["recordId"], saved.as_str());
    browser.wait_text("#notice-text", "Registro sincronizado").await;
    assert_eq!(call_log(&app, call).await.0.as_deref(), Some(saved.as_str()));
    customer_hangs_up(&app, call).await;
    release(&browser).await;
    // The call's Task, written by the server's outbox, names the synced record.
    in_the_org("the call's Task linked to the synced contact", || {
        fake.records("Task").iter().any(|t| {
            t.get("CallObject") == Some(&json!(call.to_string())) && t.get("WhoId") == Some(&json!(saved))
        })
    })
    .await;
    browser.finish().await;
}
