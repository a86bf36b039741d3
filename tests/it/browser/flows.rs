//! The agent's flows end to end: the harness frames the softphone, the simulation API plays the
//! customers and the agent's device, the harness's fake org answers the searches.

use serde_json::{Value, json};

use super::driver::Browser;
use super::harness;
use crate::support::server::TestApp;

const SIM: &str = "Bearer demo-admin";

pub(super) async fn sim(app: &TestApp, path: &str, body: Value) -> Value {
    let response = app
        .client
        .post(app.url(path))
        .header("Authorization", SIM)
        .json(&body)
        .send()
        .await
        .expect("simulation request");
    assert!(response.status().is_success(), "{path}: {}", response.status());
    response.json().await.unwrap_or(Value::Null)
}

/// A call whose IVR keyed the caller by number (Clave_1 = ANI): DATA is the ANI, so CLAVESF is
/// `idContacto-ANI` and the adapter searches Salesforce with it.
pub(super) async fn inbound(app: &TestApp, ani: &str) -> u64 {
    let answer = sim(
        app,
        "/sim/inbound",
        json!({"ani": ani, "data": ani, "queue": "salesforce"}),
    )
    .await;
    answer["callId"].as_u64().expect("callId")
}

/// A call with empty DATA: the contact is inserted and CLAVESF is `idContacto-` (no search).
pub(super) async fn inbound_without_data(app: &TestApp, ani: &str) -> u64 {
    let answer = sim(app, "/sim/inbound", json!({"ani": ani, "queue": "salesforce"})).await;
    answer["callId"].as_u64().expect("callId")
}

/// Logs `user` in and into campaign 97 through the API (another agent than the browser's).
pub(super) async fn agent_via_api(app: &TestApp, user: &str, device: &str) {
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
    let joined = app
        .client
        .post(app.url("/neoapi/Login_Campaign"))
        .bearer_auth(&token)
        .json(&json!({"campaign": 97}))
        .send()
        .await
        .unwrap();
    assert!(joined.status().is_success(), "{user} joins campaign 97");
}

pub(super) async fn agent_answers(app: &TestApp) {
    sim(app, "/sim/agents/agent1/answer", json!({})).await;
}

pub(super) async fn customer_hangs_up(app: &TestApp, call: u64) {
    sim(app, &format!("/sim/calls/{call}/hangup"), json!({})).await;
}

/// Opens the harness and logs agent1 in to the softphone, then into campaign 97.
pub(super) async fn available_agent(browser: &Browser, app: &TestApp, query: &str) {
    agent_in_campaign(browser, app, query, "97").await;
}

/// Opens the harness (with `query`) and logs agent1 in, then into `campaign`.
pub(super) async fn agent_in_campaign(browser: &Browser, app: &TestApp, query: &str, campaign: &str) {
    browser.open(&harness(app, query)).await;
    browser
        .wait_for(
            "Open CTI initialised",
            "return window.harness.log.some((e) => e.method === 'notifyInitializationComplete')",
        )
        .await;
    browser.fill("#login-device", "1001").await;
    browser.fill("#login-user", "agent1").await;
    browser.fill("#login-password", "demo").await;
    browser.click("#login-submit").await;
    browser.wait_text("#agent-state", "Conectado sin campaña").await;
    browser.click("[data-tab=campaign]").await;
    browser.fill("#campaign-select", campaign).await;
    browser.click("#btn-campaign-login").await;
    browser.wait_text("#agent-state", "Disponible").await;
    browser.click("[data-tab=call]").await;
}

/// The screen pops the harness received, as `type:recordId-or-search`.
pub(super) async fn wait_pop(browser: &Browser, what: &str) {
    let w = serde_json::to_string(what).unwrap();
    browser
        .wait_for(
            &format!("pop {what}"),
            &format!(
                "return window.harness.pops.some((p) => `${{p.type}}:${{p.params.recordId || p.params.searchString || p.params.entityName}}` === {w})"
            ),
        )
        .await;
}

#[tokio::test]
async fn login_campaign_login_and_an_inbound_call_pops_the_single_match() {
    let app = TestApp::spawn().await;
    let browser = Browser::start("inbound-single-match", 1280, 900).await;
    available_agent(&browser, &app, "").await;
    browser.screenshot_softphone("softphone-available").await;

    // As a newcomer would: the harness's own buttons.
    browser
        .run("document.getElementById('sim-ani').value = '1155551001'; document.getElementById('sim-inject').click();")
        .await;
    wait_pop(&browser, "sobject:003000000000001AAA").await;
    browser.wait_text("#contact-name", "Ana García").await;
    browser.wait_text("#agent-state", "Sonando").await;
    // The server took the adapter's own pop while the call still rang, and saved the link.
    let popped = browser
        .wait_for(
            "the server's answer to popped",
            "const w = document.getElementById('softphone').contentWindow; \
             return (w.__ctibridgeApi || []).find((a) => a.path === '/api/salesforce/popped')",
        )
        .await;
    assert_eq!(popped["status"], 202, "{popped}");
    let state = browser.softphone("return $('#agent-state').textContent").await;
    assert!(
        state.as_str().is_some_and(|s| s.starts_with("Sonando")),
        "still ringing when the pop was answered: {state}"
    );
    let store = app._db.store().await;
    let linked: Option<String> =
        sqlx::query_scalar("SELECT record_id FROM call_log WHERE phone = '1155551001'")
            .fetch_one(store.pool())
            .await
            .unwrap();
    assert_eq!(linked.as_deref(), Some("003000000000001AAA"));
    let search = browser
        .softphone("return window.harness.log.find((e) => e.method === 'searchAndScreenPop').args")
        .await;
    assert_eq!(search["searchParams"], "1155551001", "searched by crmKey");
    assert_eq!(search["deferred"], true);
    assert_eq!(search["callType"], "inbound");

    browser
        .run("document.getElementById('sim-answer').click();")
        .await;
    browser.wait_text("#agent-state", "En llamada").await;
    browser.click("#btn-info").await;
    browser
        .wait_text("#info-record", "Contact 003000000000001AAA")
        .await;
    browser.wait_text("#info-search-key", "1155551001").await;
    browser.screenshot_softphone("softphone-in-call-info").await;
    browser.click("#btn-info-close").await;
    // One pop for the call: answering does not pop again.
    let pops = browser.softphone("return window.harness.pops.length").await;
    assert_eq!(pops, 1);
    // The walk-through shows no error banner, and every helper request was taken.
    let notice = browser
        .softphone("const n = $('#notice'); return n.hidden ? null : n.textContent")
        .await;
    assert!(notice.is_null(), "no notice expected, got {notice}");
    let refused = browser
        .softphone("return frame.contentWindow.__ctibridgeApi.filter((a) => a.status >= 400)")
        .await;
    assert_eq!(refused, serde_json::json!([]), "helper requests refused");
    browser.finish().await;
}

#[tokio::test]
async fn several_matches_follow_search_type_priority_or_the_layout() {
    let app = TestApp::spawn().await;
    let browser = Browser::start("several-matches", 1280, 900).await;
    available_agent(&browser, &app, "searchTypePriority=Account%7CContact").await;

    // A contact and an account share the number: Account comes first.
    let call = inbound(&app, "1155551002").await;
    wait_pop(&browser, "sobject:001000000000002AAA").await;
    browser.wait_text("#contact-name", "Díaz Hnos. SA").await;
    agent_answers(&app).await;
    browser.wait_text("#agent-state", "En llamada").await;
    customer_hangs_up(&app, call).await;
    browser.wait_text("#agent-state", "Gestión").await;
    browser.click("#btn-release").await;
    browser.wait_text("#agent-state", "Disponible").await;

    // Two contacts: the priority type has several records, the layout opens the search page.
    inbound(&app, "1155551004").await;
    wait_pop(&browser, "search:1155551004").await;
    browser.screenshot("harness-search-page").await;
    browser.finish().await;
}

#[tokio::test]
async fn no_match_opens_a_new_record_with_defaults_and_sync_links_it() {
    let app = TestApp::spawn().await;
    let browser = Browser::start("no-match-new-record", 1280, 900).await;
    available_agent(&browser, &app, "").await;

    // CLAVESF `idContacto-`: no search, the softphone layout's no-match setting decides.
    inbound_without_data(&app, "1155559999").await;
    wait_pop(&browser, "newRecord:Contact").await;
    let searched = browser
        .softphone("return window.harness.log.some((e) => e.method === 'searchAndScreenPop')")
        .await;
    assert_eq!(searched, false, "CLAVESF `id-` must not search");
    let defaults = browser.softphone("return window.harness.newRecordDefaults").await;
    assert_eq!(defaults["entity"], "Contact");
    assert_eq!(defaults["Phone"], "1155559999");
    assert!(
        defaults["neoContactId__c"]
            .as_str()
            .is_some_and(|v| !v.is_empty()),
        "{defaults}"
    );
    let sync_id = defaults["neoSyncId__c"]
        .as_str()
        .expect("neoSyncId__c")
        .to_owned();
    assert!(
        !sync_id.is_empty() && sync_id.len() <= 18 && sync_id.chars().all(|c| c.is_ascii_digit()),
        "neoSyncId__c must be a Number(18,0): {sync_id}"
    );
    browser
        .wait_for(
            "the new-record warning",
            "return !$('#new-record-warning').hidden",
        )
        .await;
    browser.screenshot("harness-new-record").await;

    // The sync icon before the record is saved: nothing to link yet, said in words.
    agent_answers(&app).await;
    browser.click("#btn-sync").await;
    browser
        .wait_text("#notice-text", "Todavía no hay un registro guardado")
        .await;

    // Saving the record navigates to it: the softphone links it.
    browser
        .run("document.getElementById('ws-new-name').value = 'Nuevo Cliente'; document.getElementById('ws-new-save').click();")
        .await;
    browser.wait_text("#contact-name", "Nuevo Cliente").await;
    browser.wait_text("#notice-text", "Registro sincronizado").await;
    browser
        .wait_for("the warning to go", "return $('#new-record-warning').hidden")
        .await;
    let saved = browser
        .softphone("return window.harness.org.find((r) => r.Name === 'Nuevo Cliente')")
        .await;
    assert_eq!(saved["neoSyncId__c"], sync_id.as_str());
    assert_eq!(saved["Phone"], "1155559999");
    browser.screenshot_softphone("softphone-synced").await;
    browser.finish().await;
}

#[tokio::test]
async fn release_with_categorization_logs_the_disposition() {
    let app = TestApp::spawn().await;
    let browser = Browser::start("release-categorized", 1280, 900).await;
    available_agent(&browser, &app, "").await;

    let call = inbound(&app, "1155551003").await;
    wait_pop(&browser, "sobject:00Q000000000003AAA").await;
    agent_answers(&app).await;
    browser.wait_text("#agent-state", "En llamada").await;
    browser.fill("#dtmf-digits", "12#").await;
    browser.click("#btn-dtmf").await;
    // Sent one digit at a time; the field empties when all are sent.
    browser
        .wait_for("the digits to be sent", "return $('#dtmf-digits').value === ''")
        .await;
    customer_hangs_up(&app, call).await;
    browser.wait_text("#agent-state", "Gestión").await;
    // Information: the last call id is 0 once the call is over, the contact is still there.
    browser.click("#btn-info").await;
    browser.wait_text("#info-call-id", "0").await;
    browser.wait_text("#info-record", "Lead 00Q000000000003AAA").await;
    browser.click("#btn-info-close").await;

    browser.fill("#release-category", "1").await;
    browser.fill("#release-subcategory", "11").await;
    browser.screenshot_softphone("softphone-release").await;
    browser.click("#btn-release-categorized").await;
    browser.wait_text("#agent-state", "Disponible").await;
    let task = browser
        .wait_for("the call's Task", "return window.harness.tasks[0]")
        .await;
    assert_eq!(task["CallDisposition"], "Contacted / Sale");
    assert_eq!(task["WhoId"], "00Q000000000003AAA");
    assert_eq!(task["CallType"], "Inbound");
    assert_eq!(task["TaskSubtype"], "Call");
    assert_eq!(task["CallObject"], call.to_string());

    // The same caller again: the same telephony contact, popped again.
    inbound(&app, "1155551003").await;
    browser
        .wait_for("a second pop", "return window.harness.pops.length === 2")
        .await;
    browser.finish().await;
}

#[tokio::test]
async fn transfers_attended_then_ended_then_direct() {
    let app = TestApp::spawn().await;
    let browser = Browser::start("transfer", 1280, 900).await;
    available_agent(&browser, &app, "").await;

    inbound(&app, "1155551001").await;
    wait_pop(&browser, "sobject:003000000000001AAA").await;
    agent_answers(&app).await;
    browser.wait_text("#agent-state", "En llamada").await;
    browser.click("[data-tab=transfer]").await;
    browser.fill("#transfer-phone", "1155550101").await;
    browser.click("#btn-transfer-attended").await;
    browser
        .wait_for(
            "the attended transfer",
            "return !$('#btn-transfer-cancel').disabled",
        )
        .await;
    browser.screenshot_softphone("softphone-transfer").await;
    browser.click("#btn-transfer-cancel").await;
    browser
        .wait_for(
            "back to the customer",
            "return !$('#btn-transfer-direct').disabled",
        )
        .await;
    browser.click("#btn-transfer-direct").await;
    browser.wait_text("#agent-state", "Gestión").await;
    browser.finish().await;
}

#[tokio::test]
async fn a_reload_while_the_call_rings_keeps_the_session_and_pops_again() {
    let app = TestApp::spawn().await;
    let browser = Browser::start("reload-mid-ring", 1280, 900).await;
    available_agent(&browser, &app, "").await;

    inbound(&app, "1155551001").await;
    wait_pop(&browser, "sobject:003000000000001AAA").await;
    browser.open(&harness(&app, "")).await;
    // No new login: the token survived in session storage; the snapshot says it still rings.
    browser.wait_text("#agent-state", "Sonando").await;
    wait_pop(&browser, "sobject:003000000000001AAA").await;
    agent_answers(&app).await;
    browser.wait_text("#agent-state", "En llamada").await;
    browser.finish().await;
}

#[tokio::test]
async fn an_expired_session_and_an_unreachable_server_are_said_and_survived() {
    let app = TestApp::spawn().await;
    let browser = Browser::start("bad-input", 1280, 900).await;
    available_agent(&browser, &app, "").await;

    // A token the server no longer knows: the websocket is refused, back to the login.
    browser
        .softphone(
            "frame.contentWindow.sessionStorage.setItem('ctibridge.session', \
             JSON.stringify({token: 'expired-or-forged', agent: {user: 'agent1', device: '1001'}}));",
        )
        .await;
    browser.open(&harness(&app, "")).await;
    browser.wait_text("#notice-text", "La sesión expiró").await;
    browser.wait_text("#login-submit", "Ingresar").await;

    // Wrong password: words, not a stack trace.
    browser.fill("#login-device", "1001").await;
    browser.fill("#login-user", "agent1").await;
    browser.fill("#login-password", "wrong").await;
    browser.click("#login-submit").await;
    browser.wait_text("#notice-text", "incorrectos").await;

    // The server goes away: the socket says it reconnects, actions say the server is unreachable.
    browser.fill("#login-password", "demo").await;
    browser.click("#login-submit").await;
    // The telephony login outlived the web session: back where the agent was.
    browser.wait_text("#agent-state", "Disponible").await;
    app.handle.stop(false).await;
    browser.wait_text("#agent-state", "Reconectando").await;
    browser.fill("#dial-number", "1155550199").await;
    browser.click("#btn-dial").await;
    browser
        .wait_text("#notice-text", "No se puede contactar al servidor")
        .await;
    browser.screenshot_softphone("softphone-server-unreachable").await;
    browser.finish().await;
}

#[tokio::test]
async fn click_to_dial_dials_then_the_contact_is_released_automatically_and_logout_is_clean() {
    let app = TestApp::spawn().await;
    let browser = Browser::start("click-to-dial", 1280, 900).await;
    available_agent(&browser, &app, "automaticContactRelease=1").await;
    sim(
        &app,
        "/sim/customers/1155551002/script",
        json!({"behaviour": "answer", "afterSecs": 0}),
    )
    .await;

    // Bruno Díaz has no IdCrm: no telephony-CRM search, the number is dialed.
    browser
        .run("document.querySelector('[data-click-to-dial=\"003000000000002AAA\"]').click();")
        .await;
    browser.wait_text("#agent-state", "En llamada").await;
    browser.click("#btn-hangup").await;
    browser.wait_text("#auto-release", "Liberación automática").await;
    browser.wait_text("#agent-state", "Disponible").await;

    browser.click("[data-tab=campaign]").await;
    browser.click("#btn-campaign-logout").await;
    browser.wait_text("#agent-state", "Conectado sin campaña").await;
    browser.click("#btn-logout").await;
    browser.wait_text("#login-submit", "Ingresar").await;
    let notice = browser.softphone("return $('#notice').hidden").await;
    assert_eq!(notice, true, "an asked-for logout is not an error");
    browser.finish().await;
}

#[tokio::test]
async fn a_conference_invites_a_number_and_a_user_kicks_all_and_ends() {
    let app = TestApp::spawn().await;
    let browser = Browser::start("conference", 1280, 900).await;
    available_agent(&browser, &app, "").await;
    inbound(&app, "1155551001").await;
    wait_pop(&browser, "sobject:003000000000001AAA").await;
    agent_answers(&app).await;
    browser.wait_text("#agent-state", "En llamada").await;

    // agent2 becomes available once agent1 has the call.
    agent_via_api(&app, "agent2", "1002").await;
    browser.click("[data-tab=conference]").await;
    browser.click("#btn-conf-start").await;
    browser.fill("#conf-number", "1155550123").await;
    browser.click("#btn-conf-invite-number").await;
    browser.wait_text("#conf-participants", "1155550123").await;
    browser.fill("#conf-user", "agent2").await;
    browser.click("#btn-conf-invite-user").await;
    browser.wait_text("#conf-participants", "agent2").await;
    browser.screenshot_softphone("softphone-conference").await;
    browser.click("#btn-conf-kick").await;
    browser.wait_text("#conf-participants", "—").await;
    browser.click("#btn-conf-end").await;
    browser
        .wait_for("the conference to end", "return !$('#btn-conf-start').disabled")
        .await;
    browser.finish().await;
}

#[tokio::test]
async fn a_supervisor_listens_to_then_assists_an_agent_and_ends() {
    let app = TestApp::spawn().await;
    // agent1 on a call, through the API.
    agent_via_api(&app, "agent1", "1001").await;
    inbound(&app, "1155551001").await;
    agent_answers(&app).await;

    let browser = Browser::start("supervisor", 1280, 900).await;
    browser.open(&harness(&app, "")).await;
    browser.fill("#login-device", "1100").await;
    browser.fill("#login-user", "super1").await;
    browser.fill("#login-password", "demo").await;
    browser.click("#login-submit").await;
    browser.wait_text("#agent-state", "Conectado sin campaña").await;
    browser.click("[data-tab=monitor]").await;
    // Only an agent in a call can be listened to.
    let offered = browser
        .softphone("return [...$('#monitor-user').options].filter((o) => o.value && !o.disabled).map((o) => o.value)")
        .await;
    assert_eq!(offered, json!(["agent1"]));
    // The list follows the agents: agent2 logs in meanwhile.
    agent_via_api(&app, "agent2", "1002").await;
    browser
        .wait_for(
            "agent2's state in the monitor list",
            "return $('#monitor-user').textContent.includes('agent2 (Disponible)')",
        )
        .await;
    browser.fill("#monitor-user", "agent1").await;
    browser.click("#btn-monitor-listen").await;
    browser
        .wait_text("#monitor-status", "Monitoreando a agent1 (Escuchar)")
        .await;
    browser.click("#btn-monitor-end").await;
    browser
        .wait_for(
            "monitoring to end",
            "return $('#monitor-status').textContent === ''",
        )
        .await;
    browser.click("#btn-monitor-assist").await;
    browser
        .wait_text("#monitor-status", "Monitoreando a agent1 (Asistir)")
        .await;
    browser.screenshot_softphone("softphone-supervisor").await;
    browser.click("#btn-monitor-end").await;
    browser
        .wait_for(
            "monitoring to end",
            "return $('#monitor-status').textContent === ''",
        )
        .await;
    browser.finish().await;
}

#[tokio::test]
async fn rest_states_play_and_a_scheduled_callback_that_needs_no_play() {
    let app = TestApp::spawn().await;
    let browser = Browser::start("rest-and-schedule", 1280, 900).await;
    available_agent(&browser, &app, "").await;

    // CONFIGURACIÓN: the panel's size goes to Lightning, the choice is kept.
    browser.click("#btn-settings").await;
    browser.fill("#pref-width", "400").await;
    browser.fill("#pref-height", "600").await;
    browser.click("#btn-settings-apply").await;
    let size = browser
        .wait_for(
            "the panel to be resized",
            "const p = document.getElementById('softphone-panel'); \
             return p.style.width === '400px' && p.style.height === '600px' && p.style.width",
        )
        .await;
    assert_eq!(size, "400px");

    browser.click("[data-tab=rest]").await;
    browser.click("#rest-system button").await;
    browser.wait_text("#agent-state", "En descanso").await;
    browser.screenshot_softphone("softphone-rest").await;
    browser.click("#btn-unpause").await;
    browser.wait_text("#agent-state", "Disponible").await;

    browser.click("[data-tab=call]").await;
    let call = inbound(&app, "1155551001").await;
    wait_pop(&browser, "sobject:003000000000001AAA").await;
    agent_answers(&app).await;
    browser.wait_text("#agent-state", "En llamada").await;
    browser.click("#btn-schedule").await;
    // Tomorrow at 10:30, in the picker's local time.
    browser
        .softphone(
            "const d = new Date(Date.now() + 86400000); const p = (n) => String(n).padStart(2, '0'); \
             $('#schedule-at').value = `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T10:30`;",
        )
        .await;
    browser.click("#btn-schedule-confirm").await;
    browser.wait_text("#notice-text", "Agenda registrada").await;
    customer_hangs_up(&app, call).await;
    // Scheduled: released by itself when the call ends, no Play needed.
    browser.wait_text("#agent-state", "Disponible").await;
    browser.finish().await;
}

#[tokio::test]
async fn a_preview_dialer_contact_pops_before_the_agent_dials_it() {
    let app = TestApp::spawn().await;
    let browser = Browser::start("preview-dialer", 1280, 900).await;
    agent_in_campaign(&browser, &app, "", "99").await;
    sim(
        &app,
        "/sim/campaigns/99/leads",
        json!({"leads": [{"phone": "1155551003", "key": "00Q000000000003AAA"}]}),
    )
    .await;
    sim(&app, "/sim/campaigns/99/dial", json!({})).await;

    // The key is the Salesforce id: the lead pops while the agent previews, before any call.
    wait_pop(&browser, "sobject:00Q000000000003AAA").await;
    browser.wait_text("#agent-state", "Vista previa").await;
    browser.wait_text("#contact-name", "Carla Ruiz").await;
    let search = browser
        .softphone("return window.harness.log.find((e) => e.method === 'searchAndScreenPop').args")
        .await;
    assert_eq!(search["callType"], "outbound");
    browser.click("#btn-dial").await;
    browser.wait_text("#agent-state", "En llamada").await;
    browser.finish().await;
}
