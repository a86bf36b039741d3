//! Every method in the wrong state: a typed refusal, and the agent's Position unchanged.

use chrono::Duration as Wall;
use ctibridge::telephony::{
    AgentState, DialRequest, Disposition, Method, MonitorMode, MonitorRequest, Participant, PauseReason,
    ScheduleCallbackRequest, SystemRest, Task, TelephonyError, TransferMode, TransferRequest, TransferTarget,
};

use super::*;

/// Calls `method` for `agent` with plausible arguments.
async fn invoke(h: &Harness, agent: &AgentId, method: Method) -> Result<(), TelephonyError> {
    let tel = &h.tel;
    match method {
        Method::Login => tel
            .login(LoginRequest::new(
                device_of(agent.as_str()),
                agent.as_str(),
                "demo",
            ))
            .await
            .map(drop),
        Method::Logout => tel.logout(agent).await,
        Method::LoginCampaign => tel.login_campaign(agent, PREDICTIVE).await,
        Method::LogoutCampaign => tel.logout_campaign(agent).await,
        Method::Pause => tel.pause(agent, PauseReason::System(SystemRest::Break)).await,
        Method::Unpause => tel.unpause(agent).await,
        Method::Dial => tel.dial(agent, DialRequest::number("1155550000")).await.map(drop),
        Method::Hangup => tel.hangup(agent, None).await,
        Method::Position => tel.position(agent).await.map(drop),
        Method::UpdateContact => {
            tel.update_contact(
                agent,
                Disposition {
                    category: 1,
                    subcategory: 11,
                    comment: None,
                },
            )
            .await
        }
        Method::CrmUnavailable => tel.crm_unavailable(agent).await,
        Method::CrmAvailable => tel.crm_available(agent).await,
        Method::CrmShowingContact => tel.crm_showing_contact(agent).await,
        Method::JoinConference => tel.join_conference(agent).await,
        Method::InviteParticipant => {
            tel.invite_participant(agent, Participant::External("1155550100".into()))
                .await
        }
        Method::KickAll => tel.kick_all(agent).await,
        Method::EndConference => tel.end_conference(agent).await,
        Method::ExecuteTask01 => {
            tel.execute_task(agent, Task::ExecuteTask01, Default::default())
                .await
        }
        Method::ExecuteTask02 => {
            tel.execute_task(agent, Task::ExecuteTask02, Default::default())
                .await
        }
        Method::ExecuteTask03 => {
            tel.execute_task(agent, Task::ExecuteTask03, Default::default())
                .await
        }
        Method::ExecuteTask05 => {
            tel.execute_task(agent, Task::ExecuteTask05, Default::default())
                .await
        }
        Method::SendDtmf => tel.send_dtmf(agent, None, "1").await,
        Method::Transfer => {
            tel.transfer(
                agent,
                None,
                TransferRequest {
                    target: TransferTarget::External("1155550100".into()),
                    mode: TransferMode::Direct,
                },
            )
            .await
        }
        Method::CompleteTransfer => tel.complete_transfer(agent).await,
        Method::CancelTransfer => tel.cancel_transfer(agent).await,
        Method::Monitor => {
            tel.monitor(
                agent,
                MonitorRequest {
                    target: id("agent3"),
                    mode: MonitorMode::Listen,
                },
            )
            .await
        }
        Method::EndMonitor => tel.end_monitor(agent).await,
        Method::Directory => tel.directory(agent).await.map(drop),
        Method::ScheduleCallback => tel
            .schedule_callback(
                agent,
                ScheduleCallbackRequest {
                    at: start_time() + Wall::hours(1),
                    phone: None,
                },
            )
            .await
            .map(drop),
    }
}

/// Checks each (method, expected refusal) and that Position did not move.
async fn refuses(h: &Harness, agent: &AgentId, cases: &[(Method, TelephonyError)]) {
    for (method, expected) in cases {
        let before = h.pos(agent).await;
        let got = invoke(h, agent, *method).await;
        assert_eq!(got, Err(expected.clone()), "{method} while {}", before.state);
        assert_eq!(h.pos(agent).await, before, "{method} changed the state");
    }
}

fn wrong(from: AgentState, action: Method) -> TelephonyError {
    TelephonyError::InvalidTransition { from, action }
}

#[tokio::test(start_paused = true)]
async fn a_logged_out_agent_can_only_log_in_and_ask_its_position() {
    let h = Harness::demo().await;
    let agent = id("agent1");
    let cases: Vec<(Method, TelephonyError)> = Method::ALL
        .into_iter()
        .filter(|m| !matches!(m, Method::Login | Method::Position))
        .map(|m| (m, TelephonyError::NotLoggedIn(agent.clone())))
        .collect();
    refuses(&h, &agent, &cases).await;
    assert_eq!(h.state(&agent).await, AgentState::LoggedOut);
    assert_eq!(
        invoke(&h, &id("ghost"), Method::Logout).await,
        Err(TelephonyError::UnknownAgent(id("ghost")))
    );
}

#[tokio::test(start_paused = true)]
async fn an_available_agent_without_a_call_refuses_call_methods() {
    let h = Harness::demo().await;
    let agent = h.agent_in("agent1", INBOUND).await;
    use Method::*;
    use TelephonyError::*;
    refuses(
        &h,
        &agent,
        &[
            (Login, AlreadyLoggedIn(agent.clone())),
            (LoginCampaign, wrong(AgentState::Available, LoginCampaign)),
            (Unpause, wrong(AgentState::Available, Unpause)),
            (Hangup, NoActiveCall),
            (UpdateContact, NoContactOnScreen),
            (CrmShowingContact, NoContactOnScreen),
            (JoinConference, NoActiveCall),
            (InviteParticipant, NoActiveCall),
            (KickAll, NoActiveCall),
            (EndConference, NoActiveCall),
            (ExecuteTask01, NoActiveCall),
            (ExecuteTask02, NoActiveCall),
            (ExecuteTask03, NoActiveCall),
            (ExecuteTask05, NoActiveCall),
            (SendDtmf, NoActiveCall),
            (Transfer, NoActiveCall),
            (CompleteTransfer, NoActiveCall),
            (CancelTransfer, NoActiveCall),
            (Monitor, Forbidden),
            (EndMonitor, NotMonitoring),
            (ScheduleCallback, NoContactOnScreen),
        ],
    )
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_ringing_agent_refuses_what_needs_an_answered_call() {
    let mut h = Harness::demo().await;
    let agent = h.agent_in("agent1", INBOUND).await;
    h.inbound("111", None).await;
    h.offered(&agent).await;
    use Method::*;
    use TelephonyError::*;
    let ringing = AgentState::Ringing;
    refuses(
        &h,
        &agent,
        &[
            (Logout, wrong(ringing, Logout)),
            (LogoutCampaign, wrong(ringing, LogoutCampaign)),
            (Pause, wrong(ringing, Pause)),
            (Dial, wrong(ringing, Dial)),
            (Hangup, wrong(ringing, Hangup)),
            (CrmAvailable, wrong(ringing, CrmAvailable)),
            (CrmUnavailable, wrong(ringing, CrmUnavailable)),
            (Transfer, wrong(ringing, Transfer)),
            (JoinConference, wrong(ringing, JoinConference)),
            (SendDtmf, NoActiveCall),
            (UpdateContact, NoContactOnScreen),
        ],
    )
    .await;
}

#[tokio::test(start_paused = true)]
async fn an_agent_in_a_call_refuses_state_changes() {
    let mut h = Harness::demo().await;
    let agent = h.agent_in("agent1", INBOUND).await;
    h.connected_inbound(&agent, "111").await;
    use Method::*;
    use TelephonyError::*;
    let in_call = AgentState::InCall;
    refuses(
        &h,
        &agent,
        &[
            (Login, AlreadyLoggedIn(agent.clone())),
            (Logout, wrong(in_call, Logout)),
            (LoginCampaign, wrong(in_call, LoginCampaign)),
            (LogoutCampaign, wrong(in_call, LogoutCampaign)),
            (Pause, wrong(in_call, Pause)),
            (Unpause, wrong(in_call, Unpause)),
            (Dial, wrong(in_call, Dial)),
            (CrmUnavailable, wrong(in_call, CrmUnavailable)),
            (CrmAvailable, wrong(in_call, CrmAvailable)),
            (CompleteTransfer, NoTransfer),
            (CancelTransfer, NoTransfer),
            (InviteParticipant, NotInConference),
            (KickAll, NotInConference),
            (EndConference, NotInConference),
            (Monitor, Forbidden),
            (EndMonitor, NotMonitoring),
        ],
    )
    .await;
    let bad = Disposition {
        category: 9,
        subcategory: 99,
        comment: None,
    };
    assert_eq!(
        h.tel.update_contact(&agent, bad).await,
        Err(UnknownDisposition {
            category: 9,
            subcategory: 99
        })
    );
}

#[tokio::test(start_paused = true)]
async fn an_agent_in_wrap_up_must_release_first() {
    let mut h = Harness::demo().await;
    let agent = h.agent_in("agent1", INBOUND).await;
    let call = h.connected_inbound(&agent, "111").await;
    h.sim.customer_hangs_up(call).unwrap();
    use Method::*;
    use TelephonyError::*;
    let wrap_up = AgentState::WrapUp;
    refuses(
        &h,
        &agent,
        &[
            (Logout, wrong(wrap_up, Logout)),
            (LogoutCampaign, wrong(wrap_up, LogoutCampaign)),
            (Pause, wrong(wrap_up, Pause)),
            (CrmUnavailable, wrong(wrap_up, CrmUnavailable)),
            (Hangup, NoActiveCall),
            (SendDtmf, NoActiveCall),
            (Transfer, NoActiveCall),
            (JoinConference, NoActiveCall),
        ],
    )
    .await;
}

#[tokio::test(start_paused = true)]
async fn nobody_acts_on_another_agents_call() {
    let mut h = Harness::demo().await;
    let agent1 = h.agent_in("agent1", INBOUND).await;
    let call1 = h.connected_inbound(&agent1, "111").await;
    let agent2 = h.agent_in("agent2", INBOUND).await;
    let call2 = h.connected_inbound(&agent2, "222").await;
    let before = h.pos(&agent1).await;
    assert_eq!(
        h.tel.hangup(&agent2, Some(call1)).await,
        Err(TelephonyError::NotYourCall(call1.0))
    );
    assert_eq!(
        h.tel.send_dtmf(&agent2, Some(call1), "1").await,
        Err(TelephonyError::NotYourCall(call1.0))
    );
    assert_eq!(
        h.tel
            .transfer(
                &agent2,
                Some(call1),
                TransferRequest {
                    target: TransferTarget::External("123".into()),
                    mode: TransferMode::Direct
                }
            )
            .await,
        Err(TelephonyError::NotYourCall(call1.0))
    );
    assert_eq!(h.pos(&agent1).await, before);
    // Naming one's own call works.
    h.tel.hangup(&agent2, Some(call2)).await.unwrap();
}

#[test]
fn refusals_map_to_http_classes() {
    use ctibridge::telephony::ErrorClass;
    assert_eq!(
        TelephonyError::WrongPassword(id("a")).class(),
        ErrorClass::Unauthorized
    );
    assert_eq!(TelephonyError::Forbidden.class(), ErrorClass::Forbidden);
    assert_eq!(TelephonyError::NotYourCall(1).class(), ErrorClass::Forbidden);
    assert_eq!(
        TelephonyError::UnknownQueue("q".into()).class(),
        ErrorClass::NotFound
    );
    assert_eq!(
        wrong(AgentState::InCall, Method::Pause).class(),
        ErrorClass::Conflict
    );
    assert_eq!(
        TelephonyError::InvalidDtmf("x".into()).class(),
        ErrorClass::Unprocessable
    );
    assert_eq!(
        wrong(AgentState::InCall, Method::LoginCampaign).to_string(),
        "cannot Login_Campaign while in a call"
    );
}
