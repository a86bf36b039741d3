//! Scheduled callbacks: categorized as schedule, released without Play, dialed at their time.

use std::time::Duration;

use chrono::Duration as Wall;
use ctibridge::telephony::engine::CustomerBehaviour;
use ctibridge::telephony::{
    AgentState, CrmState, Disposition, Event, ScheduleCallbackRequest, TelephonyError,
};

use super::*;

#[tokio::test(start_paused = true)]
async fn a_callback_scheduled_during_a_call_releases_at_hang_up_and_is_dialed_at_its_time() {
    let mut h = Harness::demo().await;
    let contact_id = h.contacts.seed(98, "003SF0000077");
    let agent = h.agent_in("agent1", PREDICTIVE).await;
    h.script("1160000077", CustomerBehaviour::answers_after(1));
    h.leads(PREDICTIVE, &[("1160000077", Some("003SF0000077"))]).await;
    let call = h.offered(&agent).await;
    h.sim.agent_answers(&agent).unwrap();

    let at = start_time() + Wall::hours(2);
    let callback = h
        .tel
        .schedule_callback(&agent, ScheduleCallbackRequest { at, phone: None })
        .await
        .unwrap();
    assert_eq!(callback.campaign, PREDICTIVE);
    assert_eq!(callback.phone, "1160000077");
    assert_eq!(callback.contact_id, Some(contact_id));
    let contact = h.pos(&agent).await.contact.unwrap();
    assert!(contact.scheduled);
    assert_eq!(
        contact.disposition,
        Some(Disposition {
            category: 1,
            subcategory: 13,
            comment: None
        }),
        "categorized with the campaign's schedule disposition"
    );

    // Hang-up: no CRM_Available needed.
    h.tel.hangup(&agent, Some(call)).await.unwrap();
    let position = h.pos(&agent).await;
    assert_eq!(position.state, AgentState::Available);
    assert_eq!(position.crm, CrmState::Available);
    assert_eq!(h.sim.callbacks(), vec![callback.clone()]);

    // Two hours later the predictive dialer calls the customer back.
    h.script("1160000077", CustomerBehaviour::answers_after(1));
    let due = h
        .wait("callback due", |e| matches!(e.event, Event::CallbackDue { .. }))
        .await;
    assert_eq!(due.at, at);
    let again = h.offered(&agent).await;
    assert_ne!(again, call);
    let view = h.sim.call(again).unwrap();
    assert_eq!(view.data.call_reason.as_deref(), Some("callback"));
    assert_eq!(view.data.contact_id, Some(contact_id));
    assert!(h.sim.callbacks().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_callback_from_wrap_up_releases_at_once_and_goes_to_the_callback_campaign() {
    let mut h = Harness::demo().await;
    let agent = h.agent_in("agent1", INBOUND).await;
    let call = h.connected_inbound(&agent, "1155551234").await;
    h.sim.customer_hangs_up(call).unwrap();
    assert_eq!(h.state(&agent).await, AgentState::WrapUp);

    let callback = h
        .tel
        .schedule_callback(
            &agent,
            ScheduleCallbackRequest {
                at: start_time() + Wall::minutes(30),
                phone: Some("1155559999".into()),
            },
        )
        .await
        .unwrap();
    assert_eq!(callback.campaign, PREDICTIVE, "97's callbacks are dialed by 98");
    assert_eq!(callback.phone, "1155559999");
    let released = h
        .wait_for(&agent, "released", |e| matches!(e, Event::ContactReleased { .. }))
        .await;
    assert!(matches!(
        released.event,
        Event::ContactReleased { automatic: true, .. }
    ));
    assert_eq!(h.state(&agent).await, AgentState::Available);
}

#[tokio::test(start_paused = true)]
async fn callbacks_in_the_past_or_without_a_contact_are_refused() {
    let mut h = Harness::demo().await;
    let agent = h.agent_in("agent1", INBOUND).await;
    let request = |at| ScheduleCallbackRequest { at, phone: None };
    assert_eq!(
        h.tel
            .schedule_callback(&agent, request(start_time() + Wall::hours(1)))
            .await
            .unwrap_err(),
        TelephonyError::NoContactOnScreen
    );

    h.connected_inbound(&agent, "111").await;
    tokio::time::advance(Duration::from_secs(60)).await;
    let before = h.pos(&agent).await;
    let err = h
        .tel
        .schedule_callback(&agent, request(start_time() + Wall::seconds(30)))
        .await
        .unwrap_err();
    assert!(matches!(err, TelephonyError::CallbackInPast { .. }), "{err}");
    assert!(err.to_string().contains("must be in the future"), "{err}");
    assert_eq!(
        h.tel
            .schedule_callback(
                &agent,
                ScheduleCallbackRequest {
                    at: start_time() + Wall::hours(1),
                    phone: Some("".into())
                }
            )
            .await
            .unwrap_err(),
        TelephonyError::EmptyNumber
    );
    assert_eq!(h.pos(&agent).await, before);
    assert!(h.sim.callbacks().is_empty());

    // The schedule disposition itself goes through ScheduleCallback.
    assert_eq!(
        h.tel
            .update_contact(
                &agent,
                Disposition {
                    category: 1,
                    subcategory: 13,
                    comment: None
                }
            )
            .await
            .unwrap_err(),
        TelephonyError::DispositionNeedsCallback(13)
    );
}

#[tokio::test(start_paused = true)]
async fn a_manual_call_outside_any_campaign_cannot_schedule() {
    let h = Harness::demo().await;
    let agent = h.login("agent1").await;
    h.tel
        .dial(&agent, ctibridge::telephony::DialRequest::number("123"))
        .await
        .unwrap();
    assert_eq!(
        h.tel
            .schedule_callback(
                &agent,
                ScheduleCallbackRequest {
                    at: start_time() + Wall::hours(1),
                    phone: None
                }
            )
            .await
            .unwrap_err(),
        TelephonyError::NoCampaign
    );
}
