//! Outbound calls: the predictive dialer (customer first, then the agent), preview and
//! progressive (contact first, then the call), manual dial and click-to-dial.

use std::time::Duration;

use ctibridge::telephony::engine::CustomerBehaviour;
use ctibridge::telephony::{
    AgentState, CallState, ClickToDial, CrmState, DialRequest, Direction, EndReason, Event, Method,
    TelephonyError,
};

use super::*;

#[tokio::test(start_paused = true)]
async fn a_full_predictive_call_connects_the_customer_first_then_the_agent() {
    let mut h = Harness::demo().await;
    let contact_id = h.contacts.seed(98, "003SF0000001");
    let agent = h.agent_in("agent1", PREDICTIVE).await;
    h.script("1160000001", CustomerBehaviour::answers_after(4));
    h.leads(PREDICTIVE, &[("1160000001", Some("003SF0000001"))]).await;

    // The dialer dials at once; the agent is not involved while the customer's phone rings.
    assert_eq!(h.sim.pending_leads(PREDICTIVE), 0);
    assert_eq!(h.state(&agent).await, AgentState::Available);
    assert!(
        h.pos(&agent).await.contact.is_none(),
        "no pop before the customer answers"
    );

    // The customer answers after 4 s: the call is queued for the campaign's agents…
    let queued = h
        .wait("customer answered", |e| {
            matches!(e.event, Event::CallQueued { .. })
        })
        .await;
    let Event::CallQueued { call: queued } = queued.event else {
        unreachable!()
    };
    assert_eq!(queued.data.call_dialer.as_deref(), Some("predictive"));
    assert_eq!(queued.direction, Direction::Outbound);

    // …and offered to the agent, who gets the contact on answer.
    let call = h.offered(&agent).await;
    assert_eq!(call.0, queued.data.call_id);
    h.sim.agent_answers(&agent).unwrap();
    let position = h.pos(&agent).await;
    assert_eq!(position.state, AgentState::InCall);
    assert_eq!(position.crm, CrmState::GetContact);
    let contact = position.contact.unwrap();
    assert_eq!(contact.data.contact_id, Some(contact_id));
    assert_eq!(contact.data.crm_key.as_deref(), Some("003SF0000001"));
    assert_eq!(contact.data.call_campaing, Some(98));
    assert_eq!(contact.data.user_out_campaign, Some(98));
    assert_eq!(contact.data.campaign_base_id, Some(98));
    assert_eq!(contact.data.call_reason.as_deref(), Some("new"));
    h.tel.crm_showing_contact(&agent).await.unwrap();

    // The agent hangs up, categorizes and releases; the empty dialer places nothing more.
    h.tel.hangup(&agent, Some(call)).await.unwrap();
    assert_eq!(h.state(&agent).await, AgentState::WrapUp);
    h.tel
        .update_contact(
            &agent,
            ctibridge::telephony::Disposition {
                category: 1,
                subcategory: 12,
                comment: None,
            },
        )
        .await
        .unwrap();
    h.tel.crm_available(&agent).await.unwrap();
    assert_eq!(h.state(&agent).await, AgentState::Available);
    assert!(h.sim.call(call).is_none());
}

#[tokio::test(start_paused = true)]
async fn predictive_dials_one_lead_per_ready_agent_and_reports_unreached_customers() {
    let mut h = Harness::demo().await;
    let agent = h.agent_in("agent1", PREDICTIVE).await;
    h.script("1160000001", CustomerBehaviour::Busy);
    h.leads(PREDICTIVE, &[("1160000001", None), ("1160000002", None)])
        .await;
    assert_eq!(
        h.sim.pending_leads(PREDICTIVE),
        1,
        "one ready agent, one call at a time"
    );

    h.wait(
        "busy",
        |e| matches!(&e.event, Event::DialerAttempt { reason: EndReason::Busy, phone, .. } if phone == "1160000001"),
    )
    .await;
    // The busy line freed the slot: the next lead rings (unscripted: until the dial timeout).
    assert_eq!(h.sim.pending_leads(PREDICTIVE), 0);
    h.wait(
        "no answer",
        |e| matches!(&e.event, Event::DialerAttempt { reason: EndReason::NoAnswer, phone, .. } if phone == "1160000002"),
    )
    .await;
    assert_eq!(
        h.state(&agent).await,
        AgentState::Available,
        "the agent never saw either"
    );
}

#[tokio::test(start_paused = true)]
async fn a_customer_who_answers_a_predictive_call_and_hangs_up_after_talking_ends_the_call() {
    let mut h = Harness::demo().await;
    let agent = h.agent_in("agent1", PREDICTIVE).await;
    h.script("1160000001", CustomerBehaviour::answers_then_hangs_up(1, 60));
    h.leads(PREDICTIVE, &[("1160000001", None)]).await;
    let call = h.offered(&agent).await;
    h.sim.agent_answers(&agent).unwrap();
    let ended = h
        .wait_for(&agent, "hang-up", |e| matches!(e, Event::CallEnded { .. }))
        .await;
    assert_eq!(
        ended.event,
        Event::CallEnded {
            call_id: call,
            reason: EndReason::CustomerHangup
        }
    );
    assert_eq!(h.state(&agent).await, AgentState::WrapUp);
}

#[tokio::test(start_paused = true)]
async fn preview_hands_the_contact_before_the_agent_dials() {
    let mut h = Harness::demo().await;
    let agent = h.agent_in("agent1", PREVIEW).await;
    h.leads(PREVIEW, &[("1160000003", Some("00QSF0000009"))]).await;

    let handed = h
        .wait_for(&agent, "contact handed", |e| {
            matches!(e, Event::ContactHanded { .. })
        })
        .await;
    let Event::ContactHanded { contact } = handed.event else {
        unreachable!()
    };
    assert_eq!(contact.data.crm_key.as_deref(), Some("00QSF0000009"));
    assert_eq!(contact.data.call_id, 0, "no call yet");
    let position = h.pos(&agent).await;
    assert_eq!(position.state, AgentState::Previewing);
    assert_eq!(position.crm, CrmState::GetContact);
    assert!(position.call.is_none());

    h.tel.crm_showing_contact(&agent).await.unwrap();
    h.script("1160000003", CustomerBehaviour::answers_after(3));
    let call = h.tel.dial(&agent, DialRequest::default()).await.unwrap();
    let position = h.pos(&agent).await;
    assert_eq!(position.state, AgentState::InCall);
    assert_eq!(position.call.as_ref().unwrap().state, CallState::Dialing);
    assert_eq!(
        position.crm,
        CrmState::ShowingContact,
        "the contact was already on screen"
    );
    assert_eq!(position.contact.unwrap().data.call_id, call.0);

    let connected = h
        .wait_for(&agent, "connected", |e| matches!(e, Event::CallConnected { .. }))
        .await;
    assert!(matches!(connected.event, Event::CallConnected { call: c } if c.state == CallState::Connected));
}

#[tokio::test(start_paused = true)]
async fn a_previewed_contact_can_be_released_without_dialing() {
    let mut h = Harness::demo().await;
    let agent = h.agent_in("agent1", PREVIEW).await;
    h.leads(PREVIEW, &[("1160000003", None), ("1160000004", None)])
        .await;
    h.wait_for(&agent, "first", |e| matches!(e, Event::ContactHanded { .. }))
        .await;
    h.tel.crm_available(&agent).await.unwrap();
    // Released: the next lead comes at once.
    let next = h
        .wait_for(&agent, "second", |e| matches!(e, Event::ContactHanded { .. }))
        .await;
    assert!(
        matches!(next.event, Event::ContactHanded { contact } if contact.data.phone_number.as_deref() == Some("1160000004"))
    );
}

#[tokio::test(start_paused = true)]
async fn a_previewing_agent_who_pauses_or_leaves_gives_the_contact_back() {
    let mut h = Harness::demo().await;
    let agent1 = h.agent_in("agent1", PREVIEW).await;
    h.leads(PREVIEW, &[("1160000003", None)]).await;
    h.wait_for(&agent1, "handed", |e| matches!(e, Event::ContactHanded { .. }))
        .await;
    assert_eq!(h.sim.pending_leads(PREVIEW), 0);

    h.tel
        .pause(
            &agent1,
            ctibridge::telephony::PauseReason::System(ctibridge::telephony::SystemRest::Break),
        )
        .await
        .unwrap();
    let position = h.pos(&agent1).await;
    assert_eq!(position.state, AgentState::Paused);
    assert!(position.contact.is_none());
    assert_eq!(h.sim.pending_leads(PREVIEW), 1, "back at the head of the leads");

    // The next ready agent gets it; leaving the campaign gives it back again.
    let agent2 = h.agent_in("agent2", PREVIEW).await;
    h.wait_for(&agent2, "handed again", |e| {
        matches!(e, Event::ContactHanded { .. })
    })
    .await;
    h.tel.logout_campaign(&agent2).await.unwrap();
    assert_eq!(h.state(&agent2).await, AgentState::LoggedIn);
    assert_eq!(h.sim.pending_leads(PREVIEW), 1);
}

#[tokio::test(start_paused = true)]
async fn progressive_hands_the_contact_and_dials_at_once() {
    let mut h = Harness::demo().await;
    let agent = h.agent_in("agent1", PROGRESSIVE).await;
    h.script("1160000005", CustomerBehaviour::answers_after(2));
    h.leads(PROGRESSIVE, &[("1160000005", None)]).await;

    h.wait_for(&agent, "handed", |e| matches!(e, Event::ContactHanded { .. }))
        .await;
    let position = h.pos(&agent).await;
    assert_eq!(position.state, AgentState::InCall);
    assert_eq!(position.call.unwrap().state, CallState::Dialing);
    h.wait_for(&agent, "connected", |e| matches!(e, Event::CallConnected { .. }))
        .await;
}

#[tokio::test(start_paused = true)]
async fn a_manual_call_nobody_answers_ends_in_wrap_up() {
    let mut h = Harness::demo().await;
    let agent = h.login("agent1").await;
    let call = h
        .tel
        .dial(&agent, DialRequest::number("+5491155550000"))
        .await
        .unwrap();
    let position = h.pos(&agent).await;
    assert_eq!(position.state, AgentState::InCall);
    let data = &position.call.as_ref().unwrap().data;
    assert_eq!(data.call_dialer.as_deref(), Some("manual"));
    assert_eq!(data.search_by.as_deref(), Some("phoneNumber"));
    assert_eq!(data.search_data.as_deref(), Some("+5491155550000"));

    let ended = h
        .wait_for(&agent, "no answer", |e| matches!(e, Event::CallEnded { .. }))
        .await;
    assert_eq!(
        ended.event,
        Event::CallEnded {
            call_id: call,
            reason: EndReason::NoAnswer
        }
    );
    assert_eq!(h.state(&agent).await, AgentState::WrapUp);
    h.tel.crm_available(&agent).await.unwrap();
    assert_eq!(
        h.state(&agent).await,
        AgentState::LoggedIn,
        "no campaign: back to logged in"
    );
}

#[tokio::test(start_paused = true)]
async fn a_manual_call_from_a_rest_state_returns_to_it() {
    let mut h = Harness::demo().await;
    let agent = h.agent_in("agent1", INBOUND).await;
    h.tel
        .pause(
            &agent,
            ctibridge::telephony::PauseReason::System(ctibridge::telephony::SystemRest::Backoffice),
        )
        .await
        .unwrap();
    h.script("1155550000", CustomerBehaviour::Busy);
    h.tel
        .dial(&agent, DialRequest::number("1155550000"))
        .await
        .unwrap();
    h.wait_for(&agent, "busy", |e| {
        matches!(
            e,
            Event::CallEnded {
                reason: EndReason::Busy,
                ..
            }
        )
    })
    .await;
    h.tel.crm_available(&agent).await.unwrap();
    assert_eq!(h.state(&agent).await, AgentState::Paused);
}

#[tokio::test(start_paused = true)]
async fn click_to_dial_looks_the_record_up_by_its_key() {
    let h = Harness::demo().await;
    let contact_id = h.contacts.seed(98, "003SF0000042");
    let agent = h.agent_in("agent1", PREDICTIVE).await;
    h.tel
        .dial(
            &agent,
            DialRequest {
                phone: Some("1155550042".into()),
                click_to_dial: Some(ClickToDial {
                    crm_id: 1,
                    crm_key: "003SF0000042".into(),
                }),
                missed_call_id: None,
            },
        )
        .await
        .unwrap();
    let contact = h.pos(&agent).await.contact.unwrap();
    assert_eq!(contact.data.contact_id, Some(contact_id));
    assert_eq!(contact.data.call_reason.as_deref(), Some("clickToDial"));
    assert_eq!(contact.clavesf, Some(format!("{contact_id}-003SF0000042")));
}

#[tokio::test(start_paused = true)]
async fn click_to_dial_needs_a_campaign_to_look_the_record_up_in() {
    let h = Harness::demo().await;
    let agent = h.login("agent1").await;
    let request = DialRequest {
        phone: Some("1155550042".into()),
        click_to_dial: Some(ClickToDial {
            crm_id: 1,
            crm_key: "003SF0000042".into(),
        }),
        missed_call_id: None,
    };
    assert_eq!(
        h.tel.dial(&agent, request).await.unwrap_err(),
        TelephonyError::NoCampaign
    );
    assert_eq!(h.contacts.count(), 0, "refused before the lookup");
    assert_eq!(h.state(&agent).await, AgentState::LoggedIn);
}

#[tokio::test(start_paused = true)]
async fn dial_refuses_bad_numbers_and_busy_agents() {
    let mut h = Harness::demo().await;
    let agent = h.login("agent1").await;
    let before = h.pos(&agent).await;
    assert_eq!(
        h.tel.dial(&agent, DialRequest::number("  ")).await.unwrap_err(),
        TelephonyError::EmptyNumber
    );
    assert_eq!(
        h.tel.dial(&agent, DialRequest::default()).await.unwrap_err(),
        TelephonyError::EmptyNumber,
        "no number and no contact on screen"
    );
    assert_eq!(
        h.tel
            .dial(&agent, DialRequest::number("11-5555"))
            .await
            .unwrap_err(),
        TelephonyError::InvalidNumber("11-5555".into())
    );
    assert_eq!(h.pos(&agent).await, before);

    let agent2 = h.agent_in("agent2", INBOUND).await;
    h.inbound("111", None).await;
    h.offered(&agent2).await;
    let ringing = h.pos(&agent2).await;
    assert_eq!(
        h.tel.dial(&agent2, DialRequest::number("123")).await.unwrap_err(),
        TelephonyError::InvalidTransition {
            from: AgentState::Ringing,
            action: Method::Dial
        }
    );
    assert_eq!(h.pos(&agent2).await, ringing);
    tokio::time::advance(Duration::from_secs(1)).await;
}

#[tokio::test(start_paused = true)]
async fn leads_go_only_to_outbound_campaigns() {
    let h = Harness::demo().await;
    let err = h
        .sim
        .load_leads(
            INBOUND,
            vec![ctibridge::telephony::engine::LeadInput {
                phone: "111".into(),
                key: None,
            }],
        )
        .await
        .unwrap_err();
    assert_eq!(err, TelephonyError::NotOutbound(INBOUND));
    assert_eq!(
        h.sim.advance_dialer(CampaignId(12345)).unwrap_err(),
        TelephonyError::UnknownCampaign(CampaignId(12345))
    );
}
