//! The durable engine on SQLite and PostgreSQL, in-process: what one engine committed, the next
//! one (a restart on the same database) takes back; ids reserved by two engines at once never
//! collide; the call log rows are written by the commit itself.

use std::sync::Arc;

use ctibridge::config::TelephonyConfig;
use ctibridge::salesforce::flows::{CallLogger, FlowSettings};
use ctibridge::salesforce::outbox::Outbox;
use ctibridge::store::Store;
use ctibridge::store::core::{CoreStore, EventRecorder};
use ctibridge::telephony::engine::durable::ID_BLOCK;
use ctibridge::telephony::engine::{CustomerBehaviour, TokioClock};
use ctibridge::telephony::{AgentState, DialRequest, EmbeddedEngine, PauseReason, SystemRest, Telephony};

use super::*;
use crate::dual_db_test;
use crate::support::db::TestDb;

async fn durable_engine(store: &Store) -> (Arc<EmbeddedEngine>, Arc<MemoryContacts>) {
    let outbox = Outbox::new(store.clone());
    let settings = Arc::new(FlowSettings::new(
        &Default::default(),
        &TelephonyConfig::default(),
    ));
    let logger: Arc<dyn EventRecorder> = Arc::new(CallLogger::new(outbox, settings));
    let core = Arc::new(CoreStore::new(store.clone(), Some(logger)));
    let restored = core.load().await.expect("state loads");
    let contacts = Arc::new(MemoryContacts::default());
    let engine = EmbeddedEngine::durable(
        &TelephonyConfig::default(),
        contacts.clone(),
        Arc::new(TokioClock::starting_at(start_time())),
        core,
        restored,
        None,
    )
    .await
    .expect("engine builds");
    (engine, contacts)
}

dual_db_test!(
    a_restarted_engine_takes_back_agents_contacts_leads_and_the_open_call,
    |db: TestDb| async move {
        let store = db.store().await;
        let (engine, _contacts) = durable_engine(&store).await;
        let sim = engine.simulation();
        let tel: Arc<dyn Telephony> = engine.clone();

        // agent1 talks to a customer (dialed, answered); agent2 rests; agent3 previews a lead
        // of campaign 99 with another waiting behind it.
        let agent1 = id("agent1");
        tel.login(LoginRequest::new("1001", "agent1", "demo"))
            .await
            .unwrap();
        tel.login_campaign(&agent1, INBOUND).await.unwrap();
        sim.script_customer("1155550100", CustomerBehaviour::answers_after(0));
        let call = tel
            .dial(&agent1, DialRequest::number("1155550100"))
            .await
            .unwrap();
        sim.customer_answers(call).ok();
        sim.flush().await.unwrap();
        let agent2 = id("agent2");
        tel.login(LoginRequest::new("1002", "agent2", "demo"))
            .await
            .unwrap();
        tel.pause(&agent2, PauseReason::System(SystemRest::Lunch))
            .await
            .unwrap();
        let agent3 = id("agent3");
        tel.login(LoginRequest::new("1003", "agent3", "demo"))
            .await
            .unwrap();
        tel.login_campaign(&agent3, PREVIEW).await.unwrap();
        sim.load_leads(
            PREVIEW,
            vec![
                LeadInput {
                    phone: "1155550201".into(),
                    key: None,
                },
                LeadInput {
                    phone: "1155550202".into(),
                    key: None,
                },
            ],
        )
        .await
        .unwrap();
        assert_eq!(tel.position(&agent1).await.unwrap().state, AgentState::InCall);
        assert_eq!(tel.position(&agent3).await.unwrap().state, AgentState::Previewing);
        drop((tel, sim, engine));

        // The restart: a new engine on the same database.
        let (engine, _contacts) = durable_engine(&store).await;
        let p1 = engine.position(&agent1).await.unwrap();
        assert_eq!(p1.state, AgentState::WrapUp, "{p1:?}");
        assert_eq!(p1.contact.as_ref().unwrap().data.call_id, call.0);
        let p2 = engine.position(&agent2).await.unwrap();
        assert_eq!(p2.state, AgentState::Paused);
        assert_eq!(p2.pause.unwrap().reason, PauseReason::System(SystemRest::Lunch));
        let p3 = engine.position(&agent3).await.unwrap();
        assert_eq!(p3.state, AgentState::Previewing);
        assert_eq!(
            p3.contact.unwrap().data.phone_number.as_deref(),
            Some("1155550201")
        );
        assert_eq!(
            engine.simulation().pending_leads(PREVIEW),
            1,
            "the lead behind it waits"
        );

        // The call's log row was closed as ended by the restart.
        let (ended, reason): (Option<i64>, Option<String>) =
            sqlx::query_as("SELECT ended_at_ms, end_reason FROM call_log WHERE external_id = $1")
                .bind(call.0.to_string())
                .fetch_one(store.pool())
                .await
                .unwrap();
        assert!(ended.is_some());
        assert_eq!(reason.as_deref(), Some("ServerRestart"));

        // New calls get new ids.
        engine.crm_available(&agent1).await.unwrap();
        let next = engine
            .dial(&agent1, DialRequest::number("1155550300"))
            .await
            .unwrap();
        assert!(next.0 > call.0, "{next} after {call}");
    }
);

dual_db_test!(
    two_engines_on_one_database_never_mint_the_same_call_id,
    |db: TestDb| async move {
        let store = db.store().await;
        let first = CoreStore::new(store.clone(), None).load().await.unwrap();
        let second = CoreStore::new(store.clone(), None).load().await.unwrap();
        let (a, b) = (first.ids, second.ids);
        assert_eq!(a.1 - a.0, ID_BLOCK);
        assert!(a.1 <= b.0 || b.1 <= a.0, "blocks overlap: {a:?} {b:?}");
    }
);
