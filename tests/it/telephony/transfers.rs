//! Transfers: direct and attended, to a number, a user, a queue or a campaign; the end of an
//! attended transfer.

use ctibridge::telephony::{
    AgentState, EndReason, Event, Method, TelephonyError, TransferMode, TransferRequest, TransferTarget,
};

use super::*;

fn to(target: TransferTarget, mode: TransferMode) -> TransferRequest {
    TransferRequest { target, mode }
}

#[tokio::test(start_paused = true)]
async fn a_direct_transfer_to_a_number_hands_the_call_over_and_wraps_up() {
    let mut h = Harness::demo().await;
    let agent = h.agent_in("agent1", INBOUND).await;
    let call = h.connected_inbound(&agent, "111").await;
    h.tel
        .transfer(
            &agent,
            Some(call),
            to(
                TransferTarget::External("1155550100".into()),
                TransferMode::Direct,
            ),
        )
        .await
        .unwrap();
    h.wait_for(&agent, "completed", |e| {
        matches!(e, Event::TransferCompleted { .. })
    })
    .await;
    let ended = h
        .wait_for(&agent, "ended", |e| matches!(e, Event::CallEnded { .. }))
        .await;
    assert_eq!(
        ended.event,
        Event::CallEnded {
            call_id: call,
            reason: EndReason::Transferred
        }
    );
    let position = h.pos(&agent).await;
    assert_eq!(position.state, AgentState::WrapUp);
    assert!(
        position.contact.is_some(),
        "the agent still categorizes the contact"
    );
    assert!(h.sim.call(call).is_none());
}

#[tokio::test(start_paused = true)]
async fn a_direct_transfer_to_a_user_rings_them_with_the_contact() {
    let mut h = Harness::demo().await;
    let agent1 = h.agent_in("agent1", INBOUND).await;
    let call = h.connected_inbound(&agent1, "111").await;
    let agent2 = h.login("agent2").await;
    h.tel
        .transfer(
            &agent1,
            None,
            to(TransferTarget::User(agent2.clone()), TransferMode::Direct),
        )
        .await
        .unwrap();
    assert_eq!(h.state(&agent1).await, AgentState::WrapUp);
    assert_eq!(h.offered(&agent2).await, call);
    h.sim.agent_answers(&agent2).unwrap();
    let position = h.pos(&agent2).await;
    assert_eq!(position.state, AgentState::InCall);
    let contact = position.contact.unwrap();
    assert_eq!(contact.data.call_id, call.0);
    assert_eq!(contact.data.call_reason.as_deref(), Some("transfer"));
    assert_eq!(h.sim.call(call).unwrap().agent, Some(agent2));
}

#[tokio::test(start_paused = true)]
async fn a_direct_transfer_to_a_queue_or_campaign_requeues_the_call() {
    let mut h = Harness::demo().await;
    let agent1 = h.agent_in("agent1", INBOUND).await;
    let call = h.connected_inbound(&agent1, "111").await;
    let agent2 = h.agent_in("agent2", PREVIEW).await;
    h.tel
        .transfer(
            &agent1,
            None,
            to(TransferTarget::Queue("99".into()), TransferMode::Direct),
        )
        .await
        .unwrap();
    assert_eq!(h.offered(&agent2).await, call);
    let view = h.sim.call(call).unwrap();
    assert_eq!(view.data.call_campaing, Some(99));
    assert_eq!(view.data.call_queue.as_deref(), Some("99"));

    // Same through the campaign id, back to the inbound campaign.
    h.sim.agent_answers(&agent2).unwrap();
    h.tel.crm_available(&agent1).await.unwrap();
    h.tel
        .transfer(
            &agent2,
            None,
            to(TransferTarget::Campaign(INBOUND), TransferMode::Direct),
        )
        .await
        .unwrap();
    assert_eq!(h.offered(&agent1).await, call);
}

#[tokio::test(start_paused = true)]
async fn an_attended_transfer_to_a_user_completes_once_they_answer() {
    let mut h = Harness::demo().await;
    let agent1 = h.agent_in("agent1", INBOUND).await;
    let call = h.connected_inbound(&agent1, "111").await;
    let agent2 = h.login("agent2").await;
    h.tel
        .transfer(
            &agent1,
            None,
            to(TransferTarget::User(agent2.clone()), TransferMode::Attended),
        )
        .await
        .unwrap();
    // The consultation rings on agent2; agent1 stays on the call.
    assert_eq!(h.offered(&agent2).await, call);
    assert_eq!(h.state(&agent1).await, AgentState::InCall);
    assert_eq!(
        h.tel.complete_transfer(&agent1).await.unwrap_err(),
        TelephonyError::TransferNotAnswered
    );

    h.sim.agent_answers(&agent2).unwrap();
    h.wait_for(&agent1, "answered", |e| {
        matches!(e, Event::TransferAnswered { .. })
    })
    .await;
    assert!(h.pos(&agent1).await.call.unwrap().transfer.unwrap().answered);
    assert_eq!(
        h.tel
            .hangup(&agent2, Some(CallId(call.0 + 1000)))
            .await
            .unwrap_err(),
        TelephonyError::NotYourCall(call.0 + 1000)
    );

    h.tel.complete_transfer(&agent1).await.unwrap();
    assert_eq!(h.state(&agent1).await, AgentState::WrapUp);
    let position = h.pos(&agent2).await;
    assert_eq!(position.state, AgentState::InCall);
    assert_eq!(position.call.unwrap().agent, Some(agent2.clone()));
    assert_eq!(position.contact.unwrap().data.call_id, call.0);
}

#[tokio::test(start_paused = true)]
async fn ending_an_attended_transfer_returns_to_the_customer() {
    let mut h = Harness::demo().await;
    let agent1 = h.agent_in("agent1", INBOUND).await;
    let call = h.connected_inbound(&agent1, "111").await;
    let agent2 = h.agent_in("agent2", PREVIEW).await;

    // Fin de transferencia with CancelTransfer…
    h.tel
        .transfer(
            &agent1,
            None,
            to(TransferTarget::User(agent2.clone()), TransferMode::Attended),
        )
        .await
        .unwrap();
    h.offered(&agent2).await;
    h.sim.agent_answers(&agent2).unwrap();
    h.tel.cancel_transfer(&agent1).await.unwrap();
    h.wait_for(&agent1, "cancelled", |e| {
        matches!(e, Event::TransferCancelled { .. })
    })
    .await;
    assert_eq!(h.state(&agent2).await, AgentState::Available);
    let position = h.pos(&agent1).await;
    assert_eq!(position.state, AgentState::InCall);
    assert!(position.call.unwrap().transfer.is_none());

    // …or with Hangup during the consultation (to a number): the customer stays.
    h.tel
        .transfer(
            &agent1,
            None,
            to(
                TransferTarget::External("1155550100".into()),
                TransferMode::Attended,
            ),
        )
        .await
        .unwrap();
    h.tel.hangup(&agent1, None).await.unwrap();
    let position = h.pos(&agent1).await;
    assert_eq!(position.state, AgentState::InCall);
    assert_eq!(position.call.unwrap().data.call_id, call.0);
    assert!(h.sim.call(call).is_some());
}

#[tokio::test(start_paused = true)]
async fn an_attended_transfer_to_a_number_completes_at_once() {
    let mut h = Harness::demo().await;
    let agent = h.agent_in("agent1", INBOUND).await;
    let call = h.connected_inbound(&agent, "111").await;
    h.tel
        .transfer(
            &agent,
            None,
            to(
                TransferTarget::External("1155550101".into()),
                TransferMode::Attended,
            ),
        )
        .await
        .unwrap();
    h.tel.complete_transfer(&agent).await.unwrap();
    assert_eq!(h.state(&agent).await, AgentState::WrapUp);
    assert!(h.sim.call(call).is_none());
}

#[tokio::test(start_paused = true)]
async fn bad_transfers_are_refused_and_change_nothing() {
    let mut h = Harness::demo().await;
    let agent = h.agent_in("agent1", INBOUND).await;
    h.connected_inbound(&agent, "111").await;
    let agent3 = h.agent_in("agent3", INBOUND).await;
    h.tel
        .pause(
            &agent3,
            ctibridge::telephony::PauseReason::System(ctibridge::telephony::SystemRest::Break),
        )
        .await
        .unwrap();
    let before = h.pos(&agent).await;
    let cases = [
        (
            to(TransferTarget::External("".into()), TransferMode::Direct),
            TelephonyError::EmptyNumber,
        ),
        (
            to(TransferTarget::External("abc".into()), TransferMode::Direct),
            TelephonyError::InvalidNumber("abc".into()),
        ),
        (
            to(TransferTarget::User(id("nobody")), TransferMode::Direct),
            TelephonyError::UnknownUser(id("nobody")),
        ),
        (
            to(TransferTarget::User(id("agent2")), TransferMode::Direct),
            TelephonyError::UserNotAvailable(id("agent2")),
        ),
        (
            to(TransferTarget::User(agent3.clone()), TransferMode::Direct),
            TelephonyError::UserNotAvailable(agent3.clone()),
        ),
        (
            to(TransferTarget::User(agent.clone()), TransferMode::Direct),
            TelephonyError::SelfTarget(Method::Transfer),
        ),
        (
            to(TransferTarget::Queue("nowhere".into()), TransferMode::Direct),
            TelephonyError::UnknownQueue("nowhere".into()),
        ),
        (
            to(TransferTarget::Campaign(CampaignId(4242)), TransferMode::Direct),
            TelephonyError::UnknownCampaign(CampaignId(4242)),
        ),
        (
            to(TransferTarget::Queue(QUEUE.into()), TransferMode::Attended),
            TelephonyError::AttendedNotSupported,
        ),
    ];
    for (request, expected) in cases {
        assert_eq!(h.tel.transfer(&agent, None, request).await.unwrap_err(), expected);
        assert_eq!(h.pos(&agent).await, before);
    }
    assert_eq!(
        h.tel.complete_transfer(&agent).await.unwrap_err(),
        TelephonyError::NoTransfer
    );
    assert_eq!(
        h.tel.cancel_transfer(&agent).await.unwrap_err(),
        TelephonyError::NoTransfer
    );

    // A second transfer while one is in progress.
    h.tel
        .transfer(
            &agent,
            None,
            to(TransferTarget::External("123".into()), TransferMode::Attended),
        )
        .await
        .unwrap();
    assert_eq!(
        h.tel
            .transfer(
                &agent,
                None,
                to(TransferTarget::External("456".into()), TransferMode::Direct)
            )
            .await
            .unwrap_err(),
        TelephonyError::TransferInProgress
    );

    // Nothing to transfer without a call.
    let idle = h.login("agent2").await;
    assert_eq!(
        h.tel
            .transfer(
                &idle,
                None,
                to(TransferTarget::External("123".into()), TransferMode::Direct)
            )
            .await
            .unwrap_err(),
        TelephonyError::NoActiveCall
    );
}
