//! Conferences: start, invite numbers and users, kick all, end.

use ctibridge::telephony::{AgentState, Event, Method, Participant, PauseReason, SystemRest, TelephonyError};

use super::*;

#[tokio::test(start_paused = true)]
async fn a_conference_with_a_number_and_a_user_then_kick_all_and_end() {
    let mut h = Harness::demo().await;
    let agent1 = h.agent_in("agent1", INBOUND).await;
    let call = h.connected_inbound(&agent1, "111").await;
    let agent2 = h.agent_in("agent2", PREVIEW).await;
    h.tel
        .pause(&agent2, PauseReason::System(SystemRest::Training))
        .await
        .unwrap();

    h.tel.join_conference(&agent1).await.unwrap();
    h.wait_for(&agent1, "started", |e| {
        matches!(e, Event::ConferenceStarted { .. })
    })
    .await;
    h.tel
        .invite_participant(&agent1, Participant::External("1155550100".into()))
        .await
        .unwrap();
    h.tel
        .invite_participant(&agent1, Participant::User(agent2.clone()))
        .await
        .unwrap();
    h.wait_for(&agent2, "joined", |e| {
        matches!(e, Event::ParticipantJoined { .. })
    })
    .await;

    let conference = h.pos(&agent1).await.call.unwrap().conference.unwrap();
    assert_eq!(
        conference,
        vec![
            Participant::External("1155550100".into()),
            Participant::User(agent2.clone())
        ]
    );
    let guest = h.pos(&agent2).await;
    assert_eq!(guest.state, AgentState::InCall);
    assert_eq!(guest.call.unwrap().data.call_id, call.0);

    // A guest cannot run the conference.
    assert_eq!(
        h.tel.kick_all(&agent2).await.unwrap_err(),
        TelephonyError::NotYourCall(call.0)
    );

    h.tel.kick_all(&agent1).await.unwrap();
    let kicked = h
        .wait_for(&agent1, "kicked", |e| {
            matches!(e, Event::ParticipantsKicked { .. })
        })
        .await;
    assert!(
        matches!(kicked.event, Event::ParticipantsKicked { participants, .. } if participants.len() == 2)
    );
    let guest = h.pos(&agent2).await;
    assert_eq!(
        guest.state,
        AgentState::Paused,
        "back to the rest state it was in"
    );
    assert_eq!(
        guest.pause.unwrap().reason,
        PauseReason::System(SystemRest::Training)
    );
    // Still a conference after KickAll; EndConference closes it.
    assert_eq!(h.pos(&agent1).await.call.unwrap().conference, Some(vec![]));
    h.tel.end_conference(&agent1).await.unwrap();
    h.wait_for(&agent1, "ended", |e| matches!(e, Event::ConferenceEnded { .. }))
        .await;
    let position = h.pos(&agent1).await;
    assert_eq!(position.state, AgentState::InCall);
    assert_eq!(position.call.unwrap().conference, None);
}

#[tokio::test(start_paused = true)]
async fn a_guest_who_hangs_up_leaves_the_conference_only() {
    let mut h = Harness::demo().await;
    let agent1 = h.agent_in("agent1", INBOUND).await;
    let call = h.connected_inbound(&agent1, "111").await;
    let agent2 = h.login("agent2").await;
    h.tel.join_conference(&agent1).await.unwrap();
    h.tel
        .invite_participant(&agent1, Participant::User(agent2.clone()))
        .await
        .unwrap();
    h.tel.hangup(&agent2, None).await.unwrap();
    assert_eq!(h.state(&agent2).await, AgentState::LoggedIn);
    assert_eq!(h.pos(&agent1).await.call.unwrap().conference, Some(vec![]));
    assert!(h.sim.call(call).is_some());
}

#[tokio::test(start_paused = true)]
async fn the_customer_hanging_up_ends_the_conference_for_everyone() {
    let mut h = Harness::demo().await;
    let agent1 = h.agent_in("agent1", INBOUND).await;
    let call = h.connected_inbound(&agent1, "111").await;
    let agent2 = h.login("agent2").await;
    h.tel.join_conference(&agent1).await.unwrap();
    h.tel
        .invite_participant(&agent1, Participant::User(agent2.clone()))
        .await
        .unwrap();
    h.sim.customer_hangs_up(call).unwrap();
    assert_eq!(h.state(&agent1).await, AgentState::WrapUp);
    assert_eq!(h.state(&agent2).await, AgentState::LoggedIn);
}

#[tokio::test(start_paused = true)]
async fn conference_methods_refuse_the_wrong_state() {
    let mut h = Harness::demo().await;
    let agent1 = h.agent_in("agent1", INBOUND).await;
    // No call.
    assert_eq!(
        h.tel.join_conference(&agent1).await.unwrap_err(),
        TelephonyError::NoActiveCall
    );
    assert_eq!(
        h.tel.kick_all(&agent1).await.unwrap_err(),
        TelephonyError::NoActiveCall
    );

    h.connected_inbound(&agent1, "111").await;
    let before = h.pos(&agent1).await;
    assert_eq!(
        h.tel
            .invite_participant(&agent1, Participant::External("123".into()))
            .await
            .unwrap_err(),
        TelephonyError::NotInConference
    );
    assert_eq!(
        h.tel.kick_all(&agent1).await.unwrap_err(),
        TelephonyError::NotInConference
    );
    assert_eq!(
        h.tel.end_conference(&agent1).await.unwrap_err(),
        TelephonyError::NotInConference
    );
    assert_eq!(h.pos(&agent1).await, before);

    h.tel.join_conference(&agent1).await.unwrap();
    assert_eq!(
        h.tel.join_conference(&agent1).await.unwrap_err(),
        TelephonyError::InConference
    );
    let before = h.pos(&agent1).await;
    for (participant, expected) in [
        (Participant::External(" ".into()), TelephonyError::EmptyNumber),
        (
            Participant::User(id("ghost")),
            TelephonyError::UnknownUser(id("ghost")),
        ),
        (
            Participant::User(id("agent2")),
            TelephonyError::UserNotAvailable(id("agent2")),
        ),
        (
            Participant::User(agent1.clone()),
            TelephonyError::SelfTarget(Method::InviteParticipant),
        ),
    ] {
        assert_eq!(
            h.tel.invite_participant(&agent1, participant).await.unwrap_err(),
            expected
        );
    }
    assert_eq!(h.pos(&agent1).await, before);
}
