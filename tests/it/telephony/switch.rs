//! The core in front of a switch that is not the simulation: a scripted switch that routes calls
//! itself (as a PBX with its own queues does), records every command the core sends and
//! reports what its devices and customers do through the switch interface.

use std::sync::{Arc, Mutex};

use ctibridge::config::TelephonyConfig;
use ctibridge::telephony::engine::{InboundCall, TokioClock};
use ctibridge::telephony::switch::{Switch, SwitchCommand, SwitchEvent, SwitchInput};
use ctibridge::telephony::{
    AgentState, CallState, DialRequest, EmbeddedEngine, EndReason, Event, LoginRequest, MonitorMode,
    MonitorRequest, PauseReason, SystemRest, Telephony,
};

use super::*;

/// Records commands; events are sent by the test through `input`.
#[derive(Default)]
struct ScriptedSwitch {
    commands: Mutex<Vec<SwitchCommand>>,
    input: Mutex<Option<SwitchInput>>,
}

impl Switch for ScriptedSwitch {
    fn name(&self) -> &'static str {
        "scripted"
    }

    fn routes_calls(&self) -> bool {
        true
    }

    fn attach(&self, input: SwitchInput) {
        *self.input.lock().unwrap() = Some(input);
    }

    fn command(&self, command: SwitchCommand) {
        self.commands.lock().unwrap().push(command);
    }
}

impl ScriptedSwitch {
    /// The commands sent since the last call.
    fn take(&self) -> Vec<SwitchCommand> {
        std::mem::take(&mut *self.commands.lock().unwrap())
    }

    /// The switch offers `call` to `device`.
    async fn offer(&self, call: CallId, device: &str) {
        self.report(SwitchEvent::Offered {
            call,
            device: device.into(),
        })
        .await;
    }

    async fn report(&self, event: SwitchEvent) {
        let input = self.input.lock().unwrap().clone().expect("attached");
        input.send(event).await.expect("saved");
    }
}

struct Rig {
    h: Harness,
    switch: Arc<ScriptedSwitch>,
}

async fn rig() -> Rig {
    let switch = Arc::new(ScriptedSwitch::default());
    let contacts = Arc::new(MemoryContacts::default());
    let engine = EmbeddedEngine::with_switch(
        &TelephonyConfig::default(),
        contacts.clone(),
        Arc::new(TokioClock::starting_at(start_time())),
        switch.clone(),
    )
    .await
    .expect("engine builds");
    let events = engine.subscribe();
    Rig {
        h: Harness {
            tel: engine.clone(),
            sim: engine.simulation(),
            engine,
            contacts,
            events,
        },
        switch,
    }
}

fn presence(agent: &str, device: &str, queue: Option<&str>, paused: Option<&str>) -> SwitchCommand {
    SwitchCommand::AgentPresence {
        agent: id(agent),
        device: device.to_owned(),
        queue: queue.map(str::to_owned),
        paused: paused.map(str::to_owned),
    }
}

#[tokio::test(start_paused = true)]
async fn a_switch_with_its_own_queues_drives_an_inbound_call_through_the_core() {
    let Rig { mut h, switch } = rig().await;
    let agent = h.agent_in("agent1", INBOUND).await;
    assert_eq!(switch.take(), vec![presence("agent1", "1001", Some(QUEUE), None)]);
    h.tel
        .pause(&agent, PauseReason::System(SystemRest::Break))
        .await
        .unwrap();
    h.tel.unpause(&agent).await.unwrap();
    assert_eq!(
        switch.take(),
        vec![
            presence("agent1", "1001", Some(QUEUE), Some("Break")),
            presence("agent1", "1001", Some(QUEUE), None),
        ]
    );

    // The call arrives: the core takes it in (contact lookup, call id) and leaves routing to
    // the switch — no device rings until the switch offers it.
    let call = h
        .engine
        .call_arrived(InboundCall::from("1155550001", QUEUE))
        .await
        .unwrap();
    assert_eq!(h.sim.queued(INBOUND), vec![call]);
    assert_eq!(h.state(&agent).await, AgentState::Available);
    assert!(switch.take().is_empty(), "the core rings nothing itself");

    switch.offer(call, "1001").await;
    assert_eq!(h.offered(&agent).await, call);
    assert!(h.sim.queued(INBOUND).is_empty());
    switch
        .report(SwitchEvent::DeviceAnswered {
            device: "1001".into(),
        })
        .await;
    h.wait_for(&agent, "connected", |e| matches!(e, Event::CallConnected { .. }))
        .await;
    let p = h.pos(&agent).await;
    assert_eq!(p.state, AgentState::InCall);
    assert_eq!(p.call.unwrap().state, CallState::Connected);

    h.tel.send_dtmf(&agent, None, "12#").await.unwrap();
    switch
        .report(SwitchEvent::CustomerDigits {
            call,
            digits: "9".into(),
        })
        .await;
    h.wait_for(&agent, "customer digits", |e| {
        matches!(e, Event::CustomerDtmf { .. })
    })
    .await;
    h.tel.hangup(&agent, Some(call)).await.unwrap();
    assert_eq!(
        switch.take(),
        vec![
            SwitchCommand::SendDtmf {
                call,
                digits: "12#".into()
            },
            SwitchCommand::Hangup { call },
        ]
    );
    assert_eq!(h.state(&agent).await, AgentState::WrapUp);
}

#[tokio::test(start_paused = true)]
async fn a_dial_originates_on_the_switch_and_its_answers_drive_the_call() {
    let Rig { mut h, switch } = rig().await;
    let agent = h.login("agent2").await;
    switch.take();
    let call = h
        .tel
        .dial(&agent, DialRequest::number("1155559999"))
        .await
        .unwrap();
    assert_eq!(
        switch.take(),
        vec![SwitchCommand::Originate {
            call,
            agent: Some(id("agent2")),
            device: Some("1002".into()),
            number: "1155559999".into(),
            queue: None,
        }]
    );
    switch.report(SwitchEvent::CustomerAnswered { call }).await;
    h.wait_for(&agent, "connected", |e| matches!(e, Event::CallConnected { .. }))
        .await;
    switch.report(SwitchEvent::CustomerHungUp { call }).await;
    let ended = h
        .wait_for(&agent, "ended", |e| matches!(e, Event::CallEnded { .. }))
        .await;
    assert_eq!(
        ended.event,
        Event::CallEnded {
            call_id: call,
            reason: EndReason::CustomerHangup
        }
    );

    // A supervisor listens to another agent: the switch is asked to spy.
    let supervisor = h.login("super1").await;
    h.login("agent3").await;
    switch.take();
    h.tel
        .monitor(
            &supervisor,
            MonitorRequest {
                target: id("agent3"),
                mode: MonitorMode::Listen,
            },
        )
        .await
        .unwrap();
    h.tel.end_monitor(&supervisor).await.unwrap();
    assert_eq!(
        switch.take(),
        vec![
            SwitchCommand::Spy {
                supervisor_device: "1100".into(),
                target_device: "1003".into(),
                mode: MonitorMode::Listen,
            },
            SwitchCommand::EndSpy {
                supervisor_device: "1100".into()
            },
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn events_about_unknown_calls_or_devices_are_ignored_and_change_nothing() {
    let Rig { mut h, switch } = rig().await;
    let agent = h.agent_in("agent1", INBOUND).await;
    let before = h.pos(&agent).await;
    while h.events.try_recv().is_ok() {}
    for event in [
        SwitchEvent::Offered {
            call: ctibridge::telephony::CallId(987_654),
            device: "1001".into(),
        },
        SwitchEvent::DeviceAnswered {
            device: "7777".into(),
        },
        SwitchEvent::CustomerAnswered {
            call: ctibridge::telephony::CallId(987_654),
        },
        SwitchEvent::CustomerHungUp {
            call: ctibridge::telephony::CallId(987_654),
        },
        SwitchEvent::CustomerUnreached {
            call: ctibridge::telephony::CallId(987_654),
            reason: EndReason::Busy,
        },
    ] {
        switch.report(event).await;
    }
    assert_eq!(h.pos(&agent).await, before);
    assert!(
        h.events.try_recv().is_err(),
        "no event for what the core does not know"
    );
    // A device nobody is logged in on cannot be offered a call either.
    let call = h
        .engine
        .call_arrived(InboundCall::from("1155550002", QUEUE))
        .await
        .unwrap();
    switch.offer(call, "1003").await;
    assert_eq!(h.sim.queued(INBOUND), vec![call], "still waiting for an agent");
    // Once someone logs in there, the switch's offer reaches them.
    h.tel
        .login(LoginRequest::new("1003", "agent3", "demo"))
        .await
        .unwrap();
    switch.offer(call, "1003").await;
    assert_eq!(h.offered(&id("agent3")).await, call);
}

#[tokio::test(start_paused = true)]
async fn a_transfer_to_a_campaign_asks_the_switch_for_its_queue_and_waits_for_its_offer() {
    use ctibridge::telephony::{TransferMode, TransferRequest, TransferTarget};
    let Rig { mut h, switch } = rig().await;
    let agent1 = h.agent_in("agent1", INBOUND).await;
    let agent2 = h.agent_in("agent2", INBOUND).await;
    let call = h
        .engine
        .call_arrived(InboundCall::from("1155550003", QUEUE))
        .await
        .unwrap();
    switch.offer(call, "1001").await;
    switch
        .report(SwitchEvent::DeviceAnswered {
            device: "1001".into(),
        })
        .await;
    h.wait_for(&agent1, "connected", |e| matches!(e, Event::CallConnected { .. }))
        .await;
    switch.take();
    h.tel
        .transfer(
            &agent1,
            Some(call),
            TransferRequest {
                target: TransferTarget::Campaign(INBOUND),
                mode: TransferMode::Direct,
            },
        )
        .await
        .unwrap();
    assert_eq!(
        switch.take(),
        vec![SwitchCommand::Transfer {
            call,
            target: TransferTarget::Queue(QUEUE.into()),
            mode: TransferMode::Direct,
            device: None,
        }]
    );
    assert_eq!(h.state(&agent1).await, AgentState::WrapUp);
    assert_eq!(
        h.sim.queued(INBOUND),
        vec![call],
        "back in the queue, the same call"
    );
    // The switch's queue offers it to agent2.
    switch.offer(call, "1002").await;
    assert_eq!(h.offered(&agent2).await, call);
}
