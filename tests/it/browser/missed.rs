//! Missed calls in the softphone: the list shows the agent's campaign's missed call, its Call
//! back button dials the number linked to it, and when the call back connects the list
//! empties — checked on the page, on what the server answered and on the database and org.

use serde_json::json;

use super::driver::Browser;
use super::flows::{available_agent, customer_hangs_up, inbound_without_data, sim};
use crate::missed::{configure, eventually, rows, tasks_of};
use crate::support::fake_salesforce::FakeSalesforce;
use crate::support::server::TestApp;

#[tokio::test]
async fn the_missed_list_calls_back_and_empties_when_the_call_back_connects() {
    let fake = FakeSalesforce::start().await;
    // The caller is a contact in the org: the owner lookup finds it, the list names it.
    let contact = fake.insert(
        "Contact",
        json!({"FirstName": "Lucía", "LastName": "Pérez", "Phone": "1155569001"}),
    );
    let app = TestApp::spawn_with(|c| configure(c, &fake, None)).await;
    let browser = Browser::start("missed", 1000, 760).await;
    available_agent(&browser, &app, "").await;

    // A caller hangs up while agent1's phone rings: missed, abandoned.
    let missed = inbound_without_data(&app, "1155569001").await;
    browser
        .wait_for(
            "the call rings",
            "return frame.contentWindow.ctibridgeSoftphone.position()?.state === 'ringing'",
        )
        .await;
    customer_hangs_up(&app, missed).await;

    browser.wait_text("[data-tab=missed]", "Perdidas (1)").await;
    browser.click("[data-tab=missed]").await;
    browser.wait_text("#missed-list", "1155569001").await;
    browser.wait_text("#missed-list", "colgó esperando").await;
    browser.wait_text("#missed-list", "Lucía Pérez (Contact)").await;
    let shown = browser
        .softphone(
            "return [...sp.querySelectorAll('#missed-list li')].map((li) => Number(li.dataset.callId))",
        )
        .await;
    assert_eq!(shown, json!([missed]));
    let store = app._db.store().await;
    let row = rows(&store).await.pop().expect("the missed call's row");
    assert_eq!((row.call_id, row.status.as_str()), (missed as i64, "open"));
    eventually("the missed call's Task on the contact", || {
        tasks_of(&fake, missed)
            .first()
            .is_some_and(|t| t.get("WhoId") == Some(&json!(contact)))
    })
    .await;
    browser.screenshot("missed-list").await;
    browser.screenshot_softphone("softphone-missed-list").await;

    // Call back: the server dials the number, linked to the missed call.
    browser.click(".missed-callback").await;
    let callback = browser
        .wait_for(
            "the call back dialing",
            &format!(
                "const c = frame.contentWindow.ctibridgeSoftphone.position()?.call; \
                 return c && c.missedCallId === {missed} ? c.callId : null"
            ),
        )
        .await
        .as_u64()
        .expect("the call back's id");
    browser.wait_text("#contact-phone", "1155569001").await;
    // What the server answered the page: the list, then the call back with the call's id.
    let listed = browser
        .softphone(
            "return (frame.contentWindow.__ctibridgeApi || []).filter((a) => a.path === '/api/missed' && a.status === 200).map((a) => a.answer)",
        )
        .await;
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["missedCalls"][0]["callId"] == missed && a["missedCalls"][0]["reason"] == "abandoned"),
        "{listed}"
    );
    let path = serde_json::to_string(&format!("/api/missed/{missed}/callback")).unwrap();
    let called = browser
        .softphone(&format!(
            "return (frame.contentWindow.__ctibridgeApi || []).find((a) => a.path === {path})"
        ))
        .await;
    assert_eq!(called["status"], 200, "{called}");
    assert_eq!(
        called["answer"],
        json!({"callId": callback, "missedCallId": missed})
    );

    // The customer answers: the missed call closes, the list empties.
    sim(&app, &format!("/sim/calls/{callback}/answer"), json!({})).await;
    browser.click("[data-tab=missed]").await;
    browser
        .wait_text("#missed-empty", "No hay llamadas perdidas")
        .await;
    browser.wait_text("[data-tab=missed]", "Perdidas").await;
    let left = browser
        .softphone("return sp.querySelectorAll('#missed-list li').length")
        .await;
    assert_eq!(left, json!(0));
    let row = rows(&store).await.pop().unwrap();
    assert_eq!(row.status, "closed");
    assert_eq!(row.closed_by, Some(callback as i64));
    assert_eq!(row.closed_by_agent.as_deref(), Some("agent1"));
    eventually("the missed call's Task completed", || {
        tasks_of(&fake, missed)
            .first()
            .is_some_and(|t| t.get("Status") == Some(&json!("Completed")))
    })
    .await;
    browser.screenshot_softphone("softphone-missed-called-back").await;
    browser.finish().await;
}
