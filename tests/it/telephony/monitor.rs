//! Supervisor monitoring: listen, assist (whisper), end.

use ctibridge::telephony::{AgentState, Event, Method, MonitorMode, MonitorRequest, TelephonyError};

use super::*;

fn watch(target: &AgentId, mode: MonitorMode) -> MonitorRequest {
    MonitorRequest {
        target: target.clone(),
        mode,
    }
}

#[tokio::test(start_paused = true)]
async fn a_supervisor_listens_then_assists_then_ends() {
    let mut h = Harness::demo().await;
    let agent = h.agent_in("agent1", INBOUND).await;
    h.connected_inbound(&agent, "111").await;
    let supervisor = h.login("super1").await;

    h.tel
        .monitor(&supervisor, watch(&agent, MonitorMode::Listen))
        .await
        .unwrap();
    let started = h
        .wait_for(&supervisor, "started", |e| {
            matches!(e, Event::MonitorStarted { .. })
        })
        .await;
    assert_eq!(
        started.event,
        Event::MonitorStarted {
            supervisor: supervisor.clone(),
            target: agent.clone(),
            mode: MonitorMode::Listen
        }
    );
    let position = h.pos(&supervisor).await;
    assert_eq!(position.state, AgentState::Monitoring);
    assert_eq!(position.monitoring.unwrap().mode, MonitorMode::Listen);

    // Switch to assist (whisper) without ending.
    h.tel
        .monitor(&supervisor, watch(&agent, MonitorMode::Assist))
        .await
        .unwrap();
    assert_eq!(
        h.pos(&supervisor).await.monitoring.unwrap().mode,
        MonitorMode::Assist
    );
    assert_eq!(
        h.state(&agent).await,
        AgentState::InCall,
        "the agent's call is untouched"
    );

    h.tel.end_monitor(&supervisor).await.unwrap();
    h.wait_for(&supervisor, "ended", |e| matches!(e, Event::MonitorEnded { .. }))
        .await;
    let position = h.pos(&supervisor).await;
    assert_eq!(position.state, AgentState::LoggedIn);
    assert!(position.monitoring.is_none());
}

#[tokio::test(start_paused = true)]
async fn monitoring_ends_when_the_agent_logs_out() {
    let mut h = Harness::demo().await;
    let agent = h.login("agent1").await;
    let supervisor = h.login("super1").await;
    h.tel
        .monitor(&supervisor, watch(&agent, MonitorMode::Listen))
        .await
        .unwrap();
    h.tel.logout(&agent).await.unwrap();
    h.wait_for(&supervisor, "ended", |e| matches!(e, Event::MonitorEnded { .. }))
        .await;
    assert_eq!(h.state(&supervisor).await, AgentState::LoggedIn);
}

#[tokio::test(start_paused = true)]
async fn monitoring_needs_a_supervisor_and_a_logged_in_target() {
    let h = Harness::demo().await;
    let agent1 = h.login("agent1").await;
    let agent2 = h.login("agent2").await;
    let supervisor = h.login("super1").await;

    let before = h.pos(&agent1).await;
    assert_eq!(
        h.tel
            .monitor(&agent1, watch(&agent2, MonitorMode::Listen))
            .await
            .unwrap_err(),
        TelephonyError::Forbidden
    );
    assert_eq!(h.pos(&agent1).await, before);

    let before = h.pos(&supervisor).await;
    for (target, expected) in [
        (id("ghost"), TelephonyError::UnknownUser(id("ghost"))),
        (id("agent3"), TelephonyError::UserNotAvailable(id("agent3"))),
        (supervisor.clone(), TelephonyError::SelfTarget(Method::Monitor)),
    ] {
        assert_eq!(
            h.tel
                .monitor(&supervisor, watch(&target, MonitorMode::Assist))
                .await
                .unwrap_err(),
            expected
        );
    }
    assert_eq!(
        h.tel.end_monitor(&supervisor).await.unwrap_err(),
        TelephonyError::NotMonitoring
    );
    assert_eq!(h.pos(&supervisor).await, before);

    // A monitoring supervisor cannot log out without ending first.
    h.tel
        .monitor(&supervisor, watch(&agent1, MonitorMode::Listen))
        .await
        .unwrap();
    assert_eq!(
        h.tel.logout(&supervisor).await.unwrap_err(),
        TelephonyError::InvalidTransition {
            from: AgentState::Monitoring,
            action: Method::Logout
        }
    );
}
