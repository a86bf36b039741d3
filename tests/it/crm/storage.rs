//! The CRM outbox on both backends: one row per key, claims that exclude each other and
//! expire, retries, parking and requeueing.

use std::time::Duration;

use ctibridge::crm::model::Method;
use ctibridge::crm::outbox::{CrmOutbox, NewRequest, enqueue};
use ctibridge::crm::render::Rendered;

use crate::dual_db_test;

fn request(n: u32) -> NewRequest<'static> {
    NewRequest {
        dedup_key: format!("server/{n}/acme"),
        site: "acme",
        campaign: Some(97),
        call_id: Some(n.to_string()),
        request: Rendered {
            method: Method::Post,
            url: format!("https://crm.example.com/calls?n={n}"),
            content_type: Some("application/json".into()),
            body: format!("{{\"n\":\"{n}\\u0000\"}}\0"),
        },
    }
}

async fn add(outbox: &CrmOutbox, n: u32, now: i64) -> Option<i64> {
    let mut tx = outbox.store().begin_write().await.unwrap();
    let id = enqueue(&mut tx, &request(n), now).await.unwrap();
    tx.commit().await.unwrap();
    id
}

dual_db_test!(
    rows_are_claimed_once_retried_parked_and_requeued,
    |db: crate::support::db::TestDb| async move {
        let outbox = CrmOutbox::new(db.store().await);
        let lease = Duration::from_secs(60);
        let first = add(&outbox, 1, 1_000).await.expect("a new row");
        assert_eq!(add(&outbox, 1, 1_001).await, None, "one row per key");
        add(&outbox, 2, 1_000).await.expect("a new row");

        let claimed = outbox.claim("w1", 10, lease, 2_000).await.unwrap();
        assert_eq!(claimed.len(), 2);
        assert_eq!(claimed[0].id, first);
        assert_eq!(claimed[0].request.url, "https://crm.example.com/calls?n=1");
        assert!(!claimed[0].request.body.contains('\0'), "NUL is dropped");
        assert!(
            outbox.claim("w2", 10, lease, 2_001).await.unwrap().is_empty(),
            "held by w1"
        );

        outbox
            .retry_later("w1", first, Some(503), "HTTP 503: busy", 5_000)
            .await
            .unwrap();
        outbox
            .park("w1", claimed[1].id, Some(404), "HTTP 404: no such page")
            .await
            .unwrap();
        assert!(
            outbox.claim("w2", 10, lease, 4_999).await.unwrap().is_empty(),
            "backing off"
        );
        let again = outbox.claim("w2", 10, lease, 5_000).await.unwrap();
        assert_eq!((again.len(), again[0].attempts), (1, 1));
        // A claim whose lease ran out is free.
        let taken = outbox.claim("w3", 10, lease, 5_000 + 61_000).await.unwrap();
        assert_eq!(taken.len(), 1);
        outbox.mark_delivered("w2", first, 200, 70_000).await.unwrap();
        assert_eq!(
            outbox.stats().await.unwrap().delivered,
            0,
            "w2 lost the row to w3"
        );
        outbox.mark_delivered("w3", first, 200, 70_000).await.unwrap();

        let stats = outbox.stats().await.unwrap();
        assert_eq!((stats.pending, stats.parked, stats.delivered), (0, 1, 1));
        let parked = outbox.entries("parked", 10).await.unwrap();
        assert_eq!(parked[0].last_status, Some(404));
        assert_eq!(parked[0].last_error.as_deref(), Some("HTTP 404: no such page"));
        assert!(outbox.requeue(parked[0].id, 80_000).await.unwrap());
        assert!(!outbox.requeue(parked[0].id, 80_000).await.unwrap());
        assert_eq!(outbox.claim("w3", 10, lease, 80_000).await.unwrap().len(), 1);
    }
);

dual_db_test!(
    a_recovered_site_gets_its_waiting_rows_at_once,
    |db: crate::support::db::TestDb| async move {
        let outbox = CrmOutbox::new(db.store().await);
        let id = add(&outbox, 1, 0).await.unwrap();
        outbox.claim("w", 1, Duration::from_secs(60), 0).await.unwrap();
        outbox
            .retry_later("w", id, None, "connection failed", 1_000_000)
            .await
            .unwrap();
        assert_eq!(outbox.expedite_site("other", 10).await.unwrap(), 0);
        assert_eq!(outbox.expedite_site("acme", 10).await.unwrap(), 1);
        assert_eq!(
            outbox
                .claim("w", 1, Duration::from_secs(60), 10)
                .await
                .unwrap()
                .len(),
            1
        );
    }
);

/// Writes a CRM outbox row for each event, then fails as `fail` says.
struct Writes {
    key: &'static str,
    fail: Option<bool>,
}

#[async_trait::async_trait]
impl ctibridge::store::core::EventRecorder for Writes {
    async fn record(
        &self,
        conn: &mut sqlx::AnyConnection,
        _event: &ctibridge::telephony::events::EventEnvelope,
    ) -> Result<(), ctibridge::store::core::RecordError> {
        let mut new = request(1);
        new.dedup_key = self.key.to_owned();
        enqueue(conn, &new, 0).await.unwrap();
        match self.fail {
            None => Ok(()),
            Some(transient) => Err(ctibridge::store::core::RecordError {
                transient,
                message: "refused".into(),
            }),
        }
    }

    async fn recover(&self, _: &mut sqlx::AnyConnection, _: i64) -> Result<u64, String> {
        Ok(0)
    }

    fn committed(&self) {}
}

dual_db_test!(
    a_recorder_that_refuses_an_event_loses_only_its_own_rows,
    |db: crate::support::db::TestDb| async move {
        use std::sync::Arc;

        use ctibridge::crm::recorder::Recorders;
        use ctibridge::store::core::EventRecorder;

        let outbox = CrmOutbox::new(db.store().await);
        let recorders = Recorders(vec![
            Arc::new(Writes {
                key: "first",
                fail: None,
            }),
            Arc::new(Writes {
                key: "refused",
                fail: Some(false),
            }),
            Arc::new(Writes {
                key: "third",
                fail: None,
            }),
        ]);
        let event = ctibridge::telephony::events::EventEnvelope {
            agent: None,
            seq: 0,
            at: chrono::Utc::now(),
            event: ctibridge::telephony::events::Event::CallEnded {
                call_id: ctibridge::telephony::CallId(1),
                reason: ctibridge::telephony::events::EndReason::AgentHangup,
            },
        };
        let mut tx = outbox.store().begin_write().await.unwrap();
        recorders.record(&mut tx, &event).await.unwrap();
        tx.commit().await.unwrap();
        let kept: Vec<String> = sqlx::query_scalar("SELECT dedup_key FROM crm_outbox ORDER BY id")
            .fetch_all(outbox.store().pool())
            .await
            .unwrap();
        assert_eq!(kept, ["first", "third"]);

        // A transient refusal fails the whole event (the core retries it).
        let transient = Recorders(vec![
            Arc::new(Writes { key: "a", fail: None }),
            Arc::new(Writes {
                key: "b",
                fail: Some(true),
            }),
        ]);
        let mut tx = outbox.store().begin_write().await.unwrap();
        assert!(transient.record(&mut tx, &event).await.is_err());
    }
);

dual_db_test!(
    a_request_id_answers_once_and_an_abandoned_one_is_taken_over,
    |db: crate::support::db::TestDb| async move {
        use ctibridge::external::{ExternalSystems, Replay};

        let store = db.store().await;
        let systems = ExternalSystems::new(store.clone(), vec!["agent1".into()], Vec::new());
        assert_eq!(systems.begin("crm", "r-1").await.unwrap(), None, "new");
        assert_eq!(
            systems.begin("crm", "r-1").await.unwrap(),
            Some(Replay::InProgress)
        );
        systems
            .finish("crm", "r-1", Some((200, "{\"callId\":7}")))
            .await
            .unwrap();
        assert_eq!(
            systems.begin("crm", "r-1").await.unwrap(),
            Some(Replay::Answered {
                status: 200,
                body: "{\"callId\":7}".into()
            })
        );
        assert_eq!(
            systems.begin("other", "r-1").await.unwrap(),
            None,
            "ids are per system"
        );
        // A failure frees the id.
        assert_eq!(systems.begin("crm", "r-2").await.unwrap(), None);
        systems.finish("crm", "r-2", None).await.unwrap();
        assert_eq!(systems.begin("crm", "r-2").await.unwrap(), None);
        // Never finished, a minute ago: taken over.
        sqlx::query(
            "UPDATE external_requests SET created_at_ms = created_at_ms - 61000 WHERE request_id = 'r-2'",
        )
        .execute(store.pool())
        .await
        .unwrap();
        assert_eq!(systems.begin("crm", "r-2").await.unwrap(), None);
        assert_eq!(
            systems.begin("crm", "r-2").await.unwrap(),
            Some(Replay::InProgress)
        );
    }
);
