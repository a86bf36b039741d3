//! Inbound calls: CONTACTO_INSERT_SALESFORCE, the queue, the longest-available agent, the CRM
//! states and the release.

use std::time::Duration;

use ctibridge::config::TelephonyConfig;
use ctibridge::telephony::config::{CampaignConfig, CampaignKind};
use ctibridge::telephony::engine::InboundCall;
use ctibridge::telephony::{
    AgentState, CallState, CrmState, Disposition, EndReason, Event, PauseReason, SystemRest, TelephonyError,
};

use super::*;

#[tokio::test(start_paused = true)]
async fn a_full_inbound_call_from_queue_to_release() {
    let mut h = Harness::demo().await;
    let contact_id = h.contacts.seed(1, "31987456");
    // agent2 has waited longer than agent1.
    let agent2 = h.agent_in("agent2", INBOUND).await;
    tokio::time::advance(Duration::from_secs(5)).await;
    let agent1 = h.agent_in("agent1", INBOUND).await;

    // The caller keyed in their DNI in the IVR: DATA is found, no contact is inserted.
    let call = h.inbound("1155551234", Some("31987456")).await;
    assert_eq!(h.contacts.count(), 1, "the contact existed");

    // Offered to the longest-available agent, with the Neotel data of the contact.
    let offered = h
        .wait_for(&agent2, "offer", |e| matches!(e, Event::CallOffered { .. }))
        .await;
    let Event::CallOffered { call: view } = offered.event else {
        unreachable!()
    };
    assert_eq!(view.data.call_id, call.0);
    assert_eq!(view.data.contact_id, Some(contact_id));
    assert_eq!(view.data.contact_base_id, Some(1));
    assert_eq!(view.data.crm_id, Some(CRM_ID));
    assert_eq!(view.data.crm_key.as_deref(), Some("31987456"));
    assert_eq!(view.data.call_campaing, Some(97));
    assert_eq!(view.data.call_queue.as_deref(), Some(QUEUE));
    assert_eq!(view.data.phone_number.as_deref(), Some("1155551234"));
    assert_eq!(view.data.search_by.as_deref(), Some("crmKey"));
    assert_eq!(view.data.search_data.as_deref(), Some("31987456"));
    assert_eq!(view.clavesf, Some(format!("{contact_id}-31987456")));
    assert_eq!(h.state(&agent2).await, AgentState::Ringing);
    assert_eq!(
        h.state(&agent1).await,
        AgentState::Available,
        "the other agent keeps waiting"
    );

    // The agent picks up: the CRM is asked to show the contact.
    h.sim.agent_answers(&agent2).unwrap();
    let position = h.pos(&agent2).await;
    assert_eq!(position.state, AgentState::InCall);
    assert_eq!(position.crm, CrmState::GetContact);
    assert_eq!(position.call.as_ref().unwrap().state, CallState::Connected);
    assert_eq!(
        position.contact.as_ref().unwrap().data.contact_id,
        Some(contact_id)
    );

    h.tel.crm_showing_contact(&agent2).await.unwrap();
    assert_eq!(h.pos(&agent2).await.crm, CrmState::ShowingContact);

    // The customer hangs up: wrap-up, the contact stays on screen with callId 0.
    h.sim.customer_hangs_up(call).unwrap();
    let ended = h
        .wait_for(&agent2, "call ended", |e| matches!(e, Event::CallEnded { .. }))
        .await;
    assert!(matches!(
        ended.event,
        Event::CallEnded {
            reason: EndReason::CustomerHangup,
            ..
        }
    ));
    let position = h.pos(&agent2).await;
    assert_eq!(position.state, AgentState::WrapUp);
    assert!(position.call.is_none());
    let contact = position.contact.unwrap();
    assert_eq!(
        contact.data.call_id, call.0,
        "wrap-up still names the call its Task belongs to"
    );
    assert_eq!(contact.data.contact_id, Some(contact_id));

    // Categorize, then Play.
    let sale = Disposition {
        category: 1,
        subcategory: 11,
        comment: Some("sold the premium plan".into()),
    };
    h.tel.update_contact(&agent2, sale.clone()).await.unwrap();
    let updated = h
        .wait_for(&agent2, "contact updated", |e| {
            matches!(e, Event::ContactUpdated { .. })
        })
        .await;
    assert!(
        matches!(updated.event, Event::ContactUpdated { disposition, contact_id: Some(c), .. } if disposition == sale && c == contact_id)
    );
    assert_eq!(
        h.state(&agent2).await,
        AgentState::WrapUp,
        "categorizing does not release"
    );

    h.tel.crm_available(&agent2).await.unwrap();
    let position = h.pos(&agent2).await;
    assert_eq!(position.state, AgentState::Available);
    assert_eq!(position.crm, CrmState::Available);
    assert!(position.contact.is_none());
}

#[tokio::test(start_paused = true)]
async fn a_private_caller_without_data_gets_a_new_contact_and_no_search() {
    let mut h = Harness::demo().await;
    let agent = h.agent_in("agent1", INBOUND).await;
    h.sim
        .inbound_call(InboundCall {
            ani: None,
            data: None,
            queue: QUEUE.into(),
            hang_up_after: None,
            reference: None,
            variables: Default::default(),
        })
        .await
        .unwrap();
    let offered = h
        .wait_for(&agent, "offer", |e| matches!(e, Event::CallOffered { .. }))
        .await;
    let Event::CallOffered { call } = offered.event else {
        unreachable!()
    };
    let contact_id = call.data.contact_id.expect("a contact was inserted");
    assert_eq!(h.contacts.count(), 1);
    assert_eq!(call.clavesf, Some(format!("{contact_id}-")));
    assert_eq!(call.data.crm_key, Some(contact_id.to_string()));
    assert_eq!(
        call.data.search_by, None,
        "CLAVESF `id-`: the adapter does not search"
    );
    assert_eq!(call.data.phone_number, None);
}

#[tokio::test(start_paused = true)]
async fn calls_go_to_agents_in_order_of_waiting_time() {
    let mut h = Harness::demo().await;
    let agent1 = h.agent_in("agent1", INBOUND).await;
    tokio::time::advance(Duration::from_secs(1)).await;
    let agent2 = h.agent_in("agent2", INBOUND).await;
    tokio::time::advance(Duration::from_secs(1)).await;
    let agent3 = h.agent_in("agent3", INBOUND).await;

    let first = h.inbound("111", None).await;
    let second = h.inbound("222", None).await;
    assert_eq!(h.offered(&agent1).await, first);
    assert_eq!(h.offered(&agent2).await, second);
    assert_eq!(h.state(&agent3).await, AgentState::Available);
}

#[tokio::test(start_paused = true)]
async fn a_call_waits_in_the_queue_until_an_agent_is_free() {
    let mut h = Harness::demo().await;
    let agent = h.agent_in("agent1", INBOUND).await;
    h.tel
        .pause(&agent, PauseReason::System(SystemRest::Lunch))
        .await
        .unwrap();
    let call = h.inbound("111", None).await;
    h.wait(
        "queued",
        |e| matches!(&e.event, Event::CallQueued { call: c } if c.data.call_id == call.0),
    )
    .await;
    assert_eq!(h.sim.queued(INBOUND), vec![call]);
    h.tel.unpause(&agent).await.unwrap();
    assert_eq!(h.offered(&agent).await, call);
    assert!(h.sim.queued(INBOUND).is_empty());
}

#[tokio::test(start_paused = true)]
async fn an_unanswered_offer_goes_back_to_the_queue_and_pauses_the_agent() {
    let mut h = Harness::demo().await;
    let agent1 = h.agent_in("agent1", INBOUND).await;
    let call = h.inbound("111", None).await;
    assert_eq!(h.offered(&agent1).await, call);
    let agent2 = h.agent_in("agent2", INBOUND).await;

    // Nobody picks up on agent1's device: after the ring timeout the call goes to agent2.
    assert_eq!(h.offered(&agent2).await, call);
    let position = h.pos(&agent1).await;
    assert_eq!(position.state, AgentState::Paused);
    assert_eq!(
        position.pause.unwrap().reason,
        PauseReason::System(SystemRest::NoAnswer)
    );
}

#[tokio::test(start_paused = true)]
async fn a_caller_who_hangs_up_in_the_queue_is_abandoned() {
    let mut h = Harness::demo().await;
    let call = h.inbound("111", None).await;
    h.sim.customer_hangs_up(call).unwrap();
    h.wait(
        "abandoned",
        |e| matches!(e.event, Event::CallEnded { reason: EndReason::Abandoned, call_id } if call_id == call),
    )
    .await;
    assert!(h.sim.queued(INBOUND).is_empty());
    assert!(h.sim.call(call).is_none());
}

#[tokio::test(start_paused = true)]
async fn a_call_to_an_unknown_queue_is_refused_before_the_lookup() {
    let h = Harness::demo().await;
    let err = h
        .sim
        .inbound_call(InboundCall {
            ani: Some("111".into()),
            data: None,
            queue: "nowhere".into(),
            hang_up_after: None,
            reference: None,
            variables: Default::default(),
        })
        .await
        .unwrap_err();
    assert_eq!(err, TelephonyError::UnknownQueue("nowhere".into()));
    assert_eq!(h.contacts.count(), 0);
}

#[tokio::test(start_paused = true)]
async fn digits_travel_both_ways_on_a_connected_call() {
    let mut h = Harness::demo().await;
    let agent = h.agent_in("agent1", INBOUND).await;
    let call = h.connected_inbound(&agent, "111").await;

    h.tel.send_dtmf(&agent, Some(call), "12*#AD").await.unwrap();
    h.wait_for(
        &agent,
        "dtmf sent",
        |e| matches!(e, Event::DtmfSent { digits, .. } if digits == "12*#AD"),
    )
    .await;
    h.sim.customer_presses(call, "9").unwrap();
    h.wait_for(
        &agent,
        "customer dtmf",
        |e| matches!(e, Event::CustomerDtmf { digits, .. } if digits == "9"),
    )
    .await;

    for bad in ["", "12x", "e", " 1"] {
        assert_eq!(
            h.tel.send_dtmf(&agent, None, bad).await.unwrap_err(),
            TelephonyError::InvalidDtmf(bad.into())
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_campaign_with_automatic_release_frees_the_agent_after_the_wrap_up_time() {
    let config = TelephonyConfig {
        campaigns: vec![CampaignConfig {
            id: 5,
            name: "Support".into(),
            kind: CampaignKind::Inbound,
            dialer: None,
            queue: Some(QUEUE.into()),
            database_id: 1,
            crm_id: 1,
            transfer_phones: vec![],
            categories: vec![],
            auto_release_secs: Some(30),
            callback_campaign: None,
            max_wait_secs: None,
            hours: Vec::new(),
            timezone: None,
        }],
        ..TelephonyConfig::default()
    };
    let mut h = Harness::with_config(config).await;
    let agent = h.agent_in("agent1", CampaignId(5)).await;
    let call = h.connected_inbound(&agent, "111").await;
    h.sim.customer_hangs_up(call).unwrap();
    h.wait_for(&agent, "ended", |e| matches!(e, Event::CallEnded { .. }))
        .await;
    assert_eq!(h.state(&agent).await, AgentState::WrapUp);

    tokio::time::advance(Duration::from_secs(29)).await;
    assert_eq!(h.state(&agent).await, AgentState::WrapUp);
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
async fn a_scripted_caller_gives_up_after_waiting() {
    let mut h = Harness::demo().await;
    let call = h
        .sim
        .inbound_call(InboundCall {
            hang_up_after: Some(Duration::from_secs(45)),
            ..InboundCall::from("111", QUEUE)
        })
        .await
        .unwrap();
    tokio::time::advance(Duration::from_secs(44)).await;
    assert_eq!(h.sim.queued(INBOUND), vec![call]);
    let ended = h
        .wait("abandoned", |e| matches!(e.event, Event::CallEnded { .. }))
        .await;
    assert_eq!(
        ended.event,
        Event::CallEnded {
            call_id: call,
            reason: EndReason::Abandoned
        }
    );
    assert_eq!(ended.at, start_time() + chrono::Duration::seconds(45));
}
