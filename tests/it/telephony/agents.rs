//! The roster, login and logout, campaigns, rest states, the CRM state, task hooks, the event
//! stream's shape and order, and the demo roster's loopback-only rule.

use ctibridge::config::{Config, TelephonyConfig};
use ctibridge::telephony::config::{AgentConfig, CampaignConfig, CampaignKind, RestStateConfig};
use ctibridge::telephony::engine::roster::hash_password;
use ctibridge::telephony::{
    AgentState, CrmState, DialerKind, Event, Method, PauseReason, Role, SystemRest, Task, TelephonyError,
};

use super::*;

#[tokio::test(start_paused = true)]
async fn the_demo_roster_is_marked_and_its_users_log_in_with_demo() {
    let h = Harness::demo().await;
    assert!(h.engine.is_demo());
    for user in ["agent1", "agent2", "agent3", "super1"] {
        let position = h
            .tel
            .login(LoginRequest::new(device_of(user), user, "demo"))
            .await
            .unwrap();
        assert_eq!(position.state, AgentState::LoggedIn);
        assert_eq!(position.device.as_deref(), Some(device_of(user)));
        assert_eq!(position.crm, CrmState::Available);
    }
    assert_eq!(h.pos(&id("super1")).await.role, Role::Supervisor);
    assert_eq!(h.pos(&id("agent1")).await.role, Role::Agent);
}

#[tokio::test(start_paused = true)]
async fn a_configured_roster_replaces_the_demo_one() {
    let config = TelephonyConfig {
        agents: vec![AgentConfig {
            user: "ana".into(),
            device: "2001".into(),
            password_hash: hash_password("correct horse").unwrap(),
            role: Role::Agent,
            salesforce_user_id: Some("005xx000001Sv6AAAS".into()),
            salesforce_username: None,
        }],
        ..TelephonyConfig::default()
    };
    let h = Harness::with_config(config).await;
    assert!(!h.engine.is_demo());
    let position = h
        .tel
        .login(LoginRequest::new("2001", "ana", "correct horse"))
        .await
        .unwrap();
    assert_eq!(position.salesforce_user_id.as_deref(), Some("005xx000001Sv6AAAS"));
    assert_eq!(
        h.tel
            .login(LoginRequest::new("1001", "agent1", "demo"))
            .await
            .unwrap_err(),
        TelephonyError::UnknownAgent(id("agent1"))
    );
}

#[tokio::test(start_paused = true)]
async fn bad_logins_are_refused_with_the_reason() {
    let h = Harness::demo().await;
    assert_eq!(
        h.tel
            .login(LoginRequest::new("1001", "nobody", "demo"))
            .await
            .unwrap_err(),
        TelephonyError::UnknownAgent(id("nobody"))
    );
    assert_eq!(
        h.tel
            .login(LoginRequest::new("1001", "agent1", "wrong"))
            .await
            .unwrap_err(),
        TelephonyError::WrongPassword(id("agent1"))
    );
    assert_eq!(
        h.tel
            .login(LoginRequest::new(" ", "agent1", "demo"))
            .await
            .unwrap_err(),
        TelephonyError::EmptyDevice
    );
    assert_eq!(h.state(&id("agent1")).await, AgentState::LoggedOut);

    h.login("agent1").await;
    assert_eq!(
        h.tel
            .login(LoginRequest::new("1001", "agent1", "demo"))
            .await
            .unwrap_err(),
        TelephonyError::AlreadyLoggedIn(id("agent1"))
    );
    assert_eq!(
        h.tel
            .login(LoginRequest::new("1001", "agent2", "demo"))
            .await
            .unwrap_err(),
        TelephonyError::DeviceInUse {
            device: "1001".into(),
            user: id("agent1")
        }
    );
    assert_eq!(h.state(&id("agent2")).await, AgentState::LoggedOut);
}

#[tokio::test(start_paused = true)]
async fn campaign_login_and_logout() {
    let h = Harness::demo().await;
    let agent = h.login("agent1").await;
    assert_eq!(
        h.tel.login_campaign(&agent, CampaignId(4242)).await.unwrap_err(),
        TelephonyError::UnknownCampaign(CampaignId(4242))
    );
    assert_eq!(h.state(&agent).await, AgentState::LoggedIn);

    h.tel.login_campaign(&agent, INBOUND).await.unwrap();
    let position = h.pos(&agent).await;
    assert_eq!(position.state, AgentState::Available);
    assert_eq!(position.campaign.unwrap().name, "SALESFORCE");
    assert_eq!(
        h.tel.login_campaign(&agent, PREDICTIVE).await.unwrap_err(),
        TelephonyError::InvalidTransition {
            from: AgentState::Available,
            action: Method::LoginCampaign
        }
    );

    h.tel.logout_campaign(&agent).await.unwrap();
    let position = h.pos(&agent).await;
    assert_eq!(position.state, AgentState::LoggedIn);
    assert!(position.campaign.is_none());
    assert_eq!(
        h.tel.logout_campaign(&agent).await.unwrap_err(),
        TelephonyError::InvalidTransition {
            from: AgentState::LoggedIn,
            action: Method::LogoutCampaign
        }
    );

    h.tel.logout(&agent).await.unwrap();
    assert_eq!(h.state(&agent).await, AgentState::LoggedOut);
    assert_eq!(
        h.tel.logout(&agent).await.unwrap_err(),
        TelephonyError::NotLoggedIn(agent)
    );
}

#[tokio::test(start_paused = true)]
async fn rest_states_system_and_custom() {
    let config = TelephonyConfig {
        rest_states: vec![RestStateConfig {
            id: 100,
            name: "Coaching".into(),
        }],
        ..TelephonyConfig::default()
    };
    let h = Harness::with_config(config).await;
    let agent = h.agent_in("agent1", INBOUND).await;
    h.tel
        .pause(&agent, PauseReason::System(SystemRest::Break))
        .await
        .unwrap();
    let position = h.pos(&agent).await;
    assert_eq!(position.state, AgentState::Paused);
    assert_eq!(position.pause.unwrap().name, "Break");

    // Switching rest state while paused.
    h.tel.pause(&agent, PauseReason::Custom(100)).await.unwrap();
    assert_eq!(h.pos(&agent).await.pause.unwrap().name, "Coaching");
    assert_eq!(
        h.tel.pause(&agent, PauseReason::Custom(7)).await.unwrap_err(),
        TelephonyError::UnknownRestState(7)
    );
    assert_eq!(h.pos(&agent).await.pause.unwrap().name, "Coaching");

    h.tel.unpause(&agent).await.unwrap();
    let position = h.pos(&agent).await;
    assert_eq!(position.state, AgentState::Available);
    assert!(position.pause.is_none());
    assert_eq!(
        h.tel.unpause(&agent).await.unwrap_err(),
        TelephonyError::InvalidTransition {
            from: AgentState::Available,
            action: Method::Unpause
        }
    );
}

#[tokio::test(start_paused = true)]
async fn crm_unavailable_keeps_calls_away_until_crm_available() {
    let mut h = Harness::demo().await;
    let agent = h.agent_in("agent1", INBOUND).await;
    h.tel.crm_unavailable(&agent).await.unwrap();
    assert_eq!(h.pos(&agent).await.crm, CrmState::Unavailable);
    let call = h.inbound("111", None).await;
    assert_eq!(h.sim.queued(INBOUND), vec![call]);
    h.tel.crm_available(&agent).await.unwrap();
    assert_eq!(h.offered(&agent).await, call);
}

#[tokio::test(start_paused = true)]
async fn task_hooks_run_on_the_current_call_with_their_parameters() {
    let mut h = Harness::demo().await;
    let agent = h.agent_in("agent1", INBOUND).await;
    assert_eq!(
        h.tel
            .execute_task(&agent, Task::ExecuteTask01, Default::default())
            .await
            .unwrap_err(),
        TelephonyError::NoActiveCall
    );
    let call = h.connected_inbound(&agent, "111").await;
    for task in [
        Task::ExecuteTask01,
        Task::ExecuteTask02,
        Task::ExecuteTask03,
        Task::ExecuteTask05,
    ] {
        let params = [("survey".to_owned(), "nps".to_owned())].into_iter().collect();
        h.tel.execute_task(&agent, task, params).await.unwrap();
        let done = h
            .wait_for(&agent, "task", |e| matches!(e, Event::TaskExecuted { .. }))
            .await;
        let Event::TaskExecuted {
            task: ran,
            call_id,
            params,
            contact_id,
        } = done.event
        else {
            unreachable!()
        };
        assert_eq!((ran, call_id), (task, call));
        assert!(contact_id.is_some());
        assert_eq!(params["survey"], "nps");
        assert_eq!(Method::from(task).as_str(), format!("{task:?}"));
    }
}

#[tokio::test(start_paused = true)]
async fn each_agent_has_its_own_gapless_sequence() {
    let h = Harness::demo().await;
    let mut events = h.tel.subscribe();
    let agent1 = h.agent_in("agent1", INBOUND).await;
    let agent2 = h.agent_in("agent2", INBOUND).await;
    h.tel
        .pause(&agent1, PauseReason::System(SystemRest::Lunch))
        .await
        .unwrap();
    h.tel.unpause(&agent2).await.unwrap_err();
    let mut seen: std::collections::HashMap<Option<AgentId>, u64> = Default::default();
    while let Ok(event) = events.try_recv() {
        let last = seen.entry(event.agent.clone()).or_insert(0);
        assert_eq!(event.seq, *last + 1, "{event:?}");
        *last = event.seq;
    }
    assert_eq!(seen[&Some(agent1)], 3, "login, campaign, pause");
    assert_eq!(seen[&Some(agent2)], 2, "login, campaign; a refusal emits nothing");
}

#[tokio::test(start_paused = true)]
async fn events_serialize_with_a_type_tag_and_the_neotel_names() {
    let mut h = Harness::demo().await;
    let contact_id = h.contacts.seed(1, "31987456");
    let agent = h.agent_in("agent1", INBOUND).await;
    h.inbound("1155551234", Some("31987456")).await;
    let offered = h
        .wait_for(&agent, "offer", |e| matches!(e, Event::CallOffered { .. }))
        .await;
    let json = serde_json::to_value(&offered).unwrap();
    assert_eq!(json["type"], "callOffered");
    assert_eq!(json["agent"], "agent1");
    assert!(json["seq"].as_u64().unwrap() > 0);
    assert_eq!(json["at"], "2026-11-21T12:00:00Z");
    let call = &json["call"];
    for key in [
        "callId",
        "callCampaing",
        "callDialer",
        "callQueue",
        "callReason",
        "phoneNumber",
        "contactId",
        "contactBaseId",
        "crmId",
        "crmKey",
        "campaignCrmId",
        "campaignBaseId",
        "userOutCampaign",
        "SearchBy",
        "SearchData",
    ] {
        assert!(call.get(key).is_some(), "missing {key} in {call}");
    }
    assert_eq!(call["contactId"], contact_id);
    assert_eq!(call["callCampaing"], 97);
    assert_eq!(call["clavesf"], format!("{contact_id}-31987456"));
    assert_eq!(call["state"], "ringing");
    // And back: the websocket client side can parse what the server pushes.
    let parsed: ctibridge::telephony::EventEnvelope = serde_json::from_value(json).unwrap();
    assert_eq!(parsed, offered);

    let position = serde_json::to_value(Event::Position(Box::new(h.pos(&agent).await))).unwrap();
    assert_eq!(position["type"], "position");
    assert_eq!(position["state"], "ringing");
    assert_eq!(position["crm"], "Available");
}

#[tokio::test(start_paused = true)]
async fn the_directory_lists_campaigns_rest_states_and_users() {
    let config = TelephonyConfig {
        rest_states: vec![RestStateConfig {
            id: 100,
            name: "Coaching".into(),
        }],
        ..TelephonyConfig::default()
    };
    let h = Harness::with_config(config).await;
    let agent = h.agent_in("agent1", INBOUND).await;
    let directory = h.tel.directory(&agent).await.unwrap();

    let inbound = directory.campaigns.iter().find(|c| c.id == INBOUND).unwrap();
    assert_eq!(inbound.name, "SALESFORCE");
    assert_eq!(inbound.queue, QUEUE);
    assert_eq!(inbound.transfer_phones, vec!["1155550100", "1155550101"]);
    assert!(
        inbound
            .categories
            .iter()
            .any(|c| c.subcategories.iter().any(|s| s.schedule))
    );
    let dialers: Vec<_> = directory.campaigns.iter().filter_map(|c| c.dialer).collect();
    assert_eq!(
        dialers,
        vec![
            DialerKind::Predictive,
            DialerKind::Preview,
            DialerKind::Progressive
        ]
    );

    let rests: Vec<&str> = directory.rest_states.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(rests.first(), Some(&"Break"));
    assert_eq!(rests.last(), Some(&"Coaching"));
    assert!(!rests.contains(&"No answer"), "set by the engine only");

    let states: Vec<(String, AgentState)> = directory
        .users
        .iter()
        .map(|u| (u.user.to_string(), u.state))
        .collect();
    assert!(states.contains(&("agent1".into(), AgentState::Available)));
    assert!(states.contains(&("super1".into(), AgentState::LoggedOut)));
}

#[test]
fn method_names_are_the_neoapi_ones() {
    assert_eq!(Method::LoginCampaign.as_str(), "Login_Campaign");
    assert_eq!(Method::LogoutCampaign.as_str(), "Logout_Campaign");
    assert_eq!(Method::CrmShowingContact.as_str(), "CRM_ShowingContact");
    assert_eq!(Method::CrmUnavailable.as_str(), "CRM_Unavailable");
    assert_eq!(Method::ExecuteTask05.as_str(), "ExecuteTask05");
    for method in Method::ALL {
        assert_eq!(Method::parse(method.as_str()), Some(method));
        assert_eq!(
            serde_json::to_value(method).unwrap(),
            serde_json::Value::String(method.as_str().to_owned())
        );
    }
    assert_eq!(Method::parse("Answer"), None);
}

#[tokio::test(start_paused = true)]
async fn bad_telephony_configuration_is_refused_with_the_reason() {
    let outbound_without_dialer = TelephonyConfig {
        campaigns: vec![CampaignConfig {
            id: 1,
            name: "Sales".into(),
            kind: CampaignKind::Outbound,
            dialer: None,
            queue: None,
            database_id: 1,
            crm_id: 1,
            transfer_phones: vec![],
            categories: vec![],
            auto_release_secs: None,
            callback_campaign: None,
            max_wait_secs: None,
            hours: Vec::new(),
            timezone: None,
        }],
        ..TelephonyConfig::default()
    };
    let err = EmbeddedEngine::from_config(
        &outbound_without_dialer,
        std::sync::Arc::new(MemoryContacts::default()),
    )
    .await
    .err()
    .unwrap();
    assert!(err.to_string().contains("campaign 1 is outbound"), "{err}");

    let mut inbound_with_dialer = outbound_without_dialer.clone();
    inbound_with_dialer.campaigns[0].kind = CampaignKind::Inbound;
    inbound_with_dialer.campaigns[0].dialer = Some(DialerKind::Predictive);
    let err = EmbeddedEngine::from_config(
        &inbound_with_dialer,
        std::sync::Arc::new(MemoryContacts::default()),
    )
    .await
    .err()
    .unwrap();
    assert!(err.to_string().contains("inbound: it takes no dialer"), "{err}");
}

#[test]
fn the_roster_and_campaigns_load_from_the_configuration_file() {
    let hash = hash_password("pw").unwrap();
    let toml = format!(
        r#"
[telephony]
ring_timeout_secs = 15
[[telephony.agents]]
user = "ana"
device = "2001"
password_hash = "{hash}"
role = "supervisor"
[[telephony.campaigns]]
id = 7
name = "Sales"
kind = "outbound"
dialer = "progressive"
database_id = 3
[[telephony.campaigns.categories]]
id = 1
name = "Contacted"
subcategories = [{{ id = 2, name = "Schedule", schedule = true }}]
"#
    );
    let config: Config = figment::Figment::new()
        .merge(<figment::providers::Toml as figment::providers::Format>::string(
            &toml,
        ))
        .extract()
        .unwrap();
    let telephony = config.telephony;
    assert!(!telephony.uses_demo_roster());
    assert_eq!(telephony.ring_timeout_secs, 15);
    assert_eq!(telephony.agents[0].role, Role::Supervisor);
    assert_eq!(telephony.campaigns[0].dialer, Some(DialerKind::Progressive));
    assert!(telephony.campaigns[0].categories[0].subcategories[0].schedule);
    assert!(TelephonyConfig::default().uses_demo_roster());
}

#[tokio::test]
async fn the_demo_roster_only_listens_on_loopback() {
    let db = crate::support::db::TestDb::sqlite();
    let mut config = Config::default();
    config.database.url = db.url.clone();
    config.server.bind = "0.0.0.0:0".parse().unwrap();
    let err = ctibridge::startup::Application::build(config)
        .await
        .err()
        .expect("a public address with the demo roster is refused");
    let message = err.to_string();
    assert!(message.contains("demo roster"), "{message}");
    assert!(message.contains("0.0.0.0:0"), "{message}");
}
