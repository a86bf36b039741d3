//! The supervisors' figures against a scripted afternoon of calls: the real engine on a paused
//! clock (12:00 onwards) answers, loses and abandons calls at chosen moments; the test writes
//! down each call's times as it scripts them and computes the expected figures from those
//! alone. The engine's events then feed the live figures (`FloorStats`) and the statistics
//! recorder (on SQLite and PostgreSQL, every event recorded twice: idempotent), and the
//! live figures, today's hours taken back from the table (a restart), and the hourly and
//! per-agent history must all be those figures.

use std::collections::BTreeMap;

use chrono::Timelike;
use ctibridge::store::core::EventRecorder;
use ctibridge::store::stats::{GroupBy, HourTotals, StatsRecorder, history, load_day};
use ctibridge::telephony::stats::FloorStats;
use ctibridge::telephony::{EndReason, PauseReason, SystemRest};

use super::*;
use crate::dual_db_test;
use crate::support::db::TestDb;

const SERVICE_LEVEL_SECS: u64 = 20;

/// One call as the script played it (milliseconds since the epoch).
struct Played {
    queued: i64,
    answered: Option<(i64, &'static str)>,
    ended: i64,
    wrap_ms: Option<i64>,
    abandoned: bool,
}

impl Played {
    /// A call the caller gave up on, unanswered.
    fn abandoned(queued: i64, ended: i64) -> Self {
        Played {
            queued,
            answered: None,
            ended,
            wrap_ms: None,
            abandoned: true,
        }
    }
}

/// What the script expects: per hour of the day, and per answering agent.
#[derive(Default)]
struct Expected {
    hours: BTreeMap<u32, HourTotals>,
    agents: BTreeMap<Option<&'static str>, HourTotals>,
}

impl Expected {
    fn add(&mut self, call: &Played) {
        let hour = chrono::DateTime::from_timestamp_millis(call.queued)
            .unwrap()
            .hour();
        let agent = call.answered.map(|(_, a)| a);
        for totals in [
            self.hours.entry(hour).or_default(),
            self.agents.entry(agent).or_default(),
        ] {
            totals.offered += 1;
            match call.answered {
                Some((at, _)) => {
                    let wait = at - call.queued;
                    totals.answered += 1;
                    totals.answered_in_time += u64::from(wait <= SERVICE_LEVEL_SECS as i64 * 1000);
                    totals.wait_ms += wait;
                    totals.waits += 1;
                    totals.handle_ms += call.ended - at;
                    totals.handled += 1;
                    if let Some(wrap) = call.wrap_ms {
                        totals.wrap_up_ms += wrap;
                        totals.wrap_ups += 1;
                    }
                }
                None => {
                    totals.wait_ms += call.ended - call.queued;
                    totals.waits += 1;
                    if call.abandoned {
                        totals.abandoned += 1;
                    } else {
                        totals.missed += 1;
                    }
                }
            }
        }
    }

    fn day(&self) -> HourTotals {
        let mut day = HourTotals::default();
        for hour in self.hours.values() {
            day.add(hour);
        }
        day
    }
}

/// The engine's clock: the start time plus what the paused tokio clock advanced since it was
/// built.
fn now_ms(origin: tokio::time::Instant) -> i64 {
    start_time().timestamp_millis() + origin.elapsed().as_millis() as i64
}

async fn advance(secs: u64) {
    tokio::time::advance(Duration::from_secs(secs)).await;
}

/// Plays the afternoon on the engine; returns its events and what the script expects.
async fn play_the_afternoon() -> (Vec<EventEnvelope>, Expected) {
    let origin = tokio::time::Instant::now();
    let mut h = Harness::demo().await;
    let mut events = h.engine.subscribe();
    let mut played = Vec::new();
    let agent1 = h.agent_in("agent1", INBOUND).await;
    let agent2 = h.agent_in("agent2", INBOUND).await;
    let rest = || PauseReason::System(SystemRest::Break);
    h.tel.pause(&agent1, rest()).await.unwrap();
    h.tel.pause(&agent2, rest()).await.unwrap();

    // (agent, seconds in the queue, seconds ringing, handle seconds, wrap-up seconds, gap after)
    let answered: [(&str, u64, u64, u64, u64, u64); 6] = [
        ("agent1", 0, 5, 120, 30, 300),
        ("agent2", 7, 5, 200, 10, 200),
        ("agent1", 25, 4, 90, 45, 400),
        ("agent2", 0, 2, 60, 0, 1800),
        ("agent1", 15, 6, 300, 20, 4800),
        // Queued at 14:21, ends at 15:01: counts in its queuing hour.
        ("agent2", 3, 3, 2400, 15, 0),
    ];
    for (i, (user, queue_secs, ring_secs, handle_secs, wrap_secs, gap)) in answered.into_iter().enumerate() {
        let agent = id(user);
        let queued = now_ms(origin);
        let call = h.inbound(&format!("11555510{i:02}"), None).await;
        advance(queue_secs).await;
        h.tel.unpause(&agent).await.unwrap();
        assert_eq!(h.offered(&agent).await, call);
        advance(ring_secs).await;
        let answered_at = now_ms(origin);
        h.sim.agent_answers(&agent).unwrap();
        advance(handle_secs).await;
        let ended = now_ms(origin);
        h.tel.hangup(&agent, Some(call)).await.unwrap();
        assert_eq!(h.state(&agent).await, AgentState::WrapUp);
        advance(wrap_secs).await;
        h.tel.crm_available(&agent).await.unwrap();
        let wrap_ms = now_ms(origin) - ended;
        h.tel.pause(&agent, rest()).await.unwrap();
        played.push(Played {
            queued,
            answered: Some((answered_at, user)),
            ended,
            wrap_ms: Some(wrap_ms),
            abandoned: false,
        });
        advance(gap).await;
        // The abandoned ones between them: in the queue (nobody available) and while ringing.
        if i == 1 || i == 3 {
            let queued = now_ms(origin);
            let call = h.inbound(&format!("11555520{i:02}"), None).await;
            advance(40).await;
            let ended = now_ms(origin);
            h.sim.customer_hangs_up(call).unwrap();
            played.push(Played::abandoned(queued, ended));
        }
        if i == 2 {
            let queued = now_ms(origin);
            let call = h.inbound("1155553000", None).await;
            h.tel.unpause(&agent1).await.unwrap();
            assert_eq!(h.offered(&agent1).await, call);
            advance(8).await;
            let ended = now_ms(origin);
            h.sim.customer_hangs_up(call).unwrap();
            h.tel.pause(&agent1, rest()).await.unwrap();
            played.push(Played::abandoned(queued, ended));
        }
    }
    h.sim.flush().await.unwrap();
    let mut all = Vec::new();
    while let Ok(event) = events.try_recv() {
        all.push(event);
    }
    // A call the platform gave up on unanswered (its queue timed out): missed. Written as the
    // engine reports it, `CallEnded` then `CallMissed`.
    let template = all
        .iter()
        .find(|e| matches!(e.event, Event::CallQueued { .. }))
        .cloned()
        .unwrap();
    let Event::CallQueued { mut call } = template.event.clone() else {
        unreachable!()
    };
    call.data.call_id = 999_999;
    let queued = start_time() + chrono::Duration::hours(3) + chrono::Duration::minutes(5);
    let ended = queued + chrono::Duration::seconds(33);
    all.push(EventEnvelope {
        agent: None,
        seq: 0,
        at: queued,
        event: Event::CallQueued { call: call.clone() },
    });
    all.push(EventEnvelope {
        agent: None,
        seq: 0,
        at: ended,
        event: Event::CallEnded {
            call_id: CallId(999_999),
            reason: EndReason::NoAnswer,
        },
    });
    all.push(EventEnvelope {
        agent: None,
        seq: 0,
        at: ended,
        event: Event::CallMissed {
            campaign: ctibridge::telephony::CampaignId(call.data.call_campaing.unwrap_or(97)),
            queue: call.data.call_queue.clone().unwrap_or_default(),
            call,
            reason: ctibridge::telephony::events::MissedReason::NoAgent,
            arrived_at: queued,
            waited_secs: 33,
        },
    });
    played.push(Played {
        queued: queued.timestamp_millis(),
        answered: None,
        ended: ended.timestamp_millis(),
        wrap_ms: None,
        abandoned: false,
    });
    let mut expected = Expected::default();
    for call in &played {
        expected.add(call);
    }
    (all, expected)
}

/// The script on a paused runtime of its own (the database part runs on a normal one).
fn afternoon() -> (Vec<EventEnvelope>, Expected) {
    std::thread::spawn(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .unwrap()
            .block_on(play_the_afternoon())
    })
    .join()
    .unwrap()
}

/// The scripted day's last minute: the figures are read as of then.
fn evening() -> chrono::DateTime<chrono::Utc> {
    start_time()
        .date_naive()
        .and_hms_opt(23, 59, 0)
        .unwrap()
        .and_utc()
}

#[track_caller]
fn close(actual: Option<f64>, expected: Option<f64>, what: &str) {
    match (actual, expected) {
        (Some(a), Some(e)) => assert!((a - e).abs() < 1e-9, "{what}: {a} != {e}"),
        (a, e) => assert_eq!(a, e, "{what}"),
    }
}

fn assert_figures(figures: &ctibridge::telephony::stats::FloorFigures, expected: &Expected, what: &str) {
    let day = expected.day();
    assert_eq!(figures.day, start_time().date_naive(), "{what}");
    assert_eq!(
        (
            figures.offered,
            figures.answered,
            figures.abandoned,
            figures.missed
        ),
        (day.offered, day.answered, day.abandoned, day.missed),
        "{what}"
    );
    // Independently: 10 offered, 6 answered (4 within 20 s), 3 abandoned, 1 missed.
    assert_eq!(
        (
            day.offered,
            day.answered,
            day.answered_in_time,
            day.abandoned,
            day.missed
        ),
        (10, 6, 4, 3, 1)
    );
    close(figures.service_level, Some(4.0 / 10.0), what);
    close(figures.average_handle_secs, day.average_handle_secs(), what);
    close(figures.average_wrap_up_secs, day.average_wrap_up_secs(), what);
    // The hours from the first with calls to the end of that (past) day.
    assert_eq!(figures.hours.first().map(|h| h.hour), Some(12), "{what}");
    assert_eq!(figures.hours.last().map(|h| h.hour), Some(23), "{what}");
    for hour in &figures.hours {
        let e = expected.hours.get(&hour.hour).copied().unwrap_or_default();
        assert_eq!(
            (
                hour.offered,
                hour.answered,
                hour.answered_in_time,
                hour.abandoned,
                hour.missed
            ),
            (e.offered, e.answered, e.answered_in_time, e.abandoned, e.missed),
            "{what}: hour {}",
            hour.hour
        );
        close(hour.service_level, e.service_level(), what);
    }
}

dual_db_test!(
    a_scripted_afternoon_gives_the_same_figures_live_after_a_restart_and_in_the_history,
    |db: TestDb| async move {
        let (events, expected) = afternoon();
        let day = start_time().date_naive();

        // Live, from the events.
        let live = FloorStats::new(SERVICE_LEVEL_SECS);
        live.restore(day, Default::default());
        for event in &events {
            live.apply(event);
        }
        assert_figures(&live.figures_at(evening()), &expected, "live");
        // Past midnight, before any event of the new day: a new day with nothing yet.
        let after_midnight = live.figures_at(evening() + chrono::Duration::minutes(2));
        assert_eq!(after_midnight.day, day.succ_opt().unwrap());
        assert_eq!((after_midnight.offered, after_midnight.service_level), (0, None));
        assert_eq!(after_midnight.hours.len(), 1, "only 00:00");

        // Recorded (twice over: a replayed commit changes nothing).
        let store = db.store().await;
        let mut conn = store.pool().acquire().await.unwrap();
        for event in events.iter().chain(events.iter()) {
            StatsRecorder.record(&mut conn, event).await.unwrap();
        }
        drop(conn);
        let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM stats_calls")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(rows, 10, "one row per call");

        // A restart: the day's hours back from the table.
        let hours = load_day(&store, day, SERVICE_LEVEL_SECS).await.unwrap();
        for (hour, totals) in hours.iter().enumerate() {
            let e = expected.hours.get(&(hour as u32)).copied().unwrap_or_default();
            assert_eq!(*totals, e, "hour {hour} from the table");
        }
        let restarted = FloorStats::new(SERVICE_LEVEL_SECS);
        restarted.restore(day, hours);
        assert_figures(&restarted.figures_at(evening()), &expected, "restored");

        // The history by hour: only the hours with calls, in order.
        let by_hour = history(&store, day, day, GroupBy::Hour, SERVICE_LEVEL_SECS)
            .await
            .unwrap();
        let got: Vec<u32> = by_hour.iter().map(|r| r.hour.unwrap().hour()).collect();
        assert_eq!(got, expected.hours.keys().copied().collect::<Vec<_>>());
        for row in &by_hour {
            let e = expected.hours[&row.hour.unwrap().hour()];
            assert_eq!(row.totals, e);
            close(row.service_level, e.service_level(), "history");
            close(row.average_wait_secs, e.average_wait_secs(), "history wait");
            close(
                row.average_wrap_up_secs,
                e.average_wrap_up_secs(),
                "history wrap-up",
            );
        }
        // By agent: agent1, agent2, then the calls nobody answered.
        let by_agent = history(&store, day, day, GroupBy::Agent, SERVICE_LEVEL_SECS)
            .await
            .unwrap();
        let got: Vec<Option<String>> = by_agent.iter().map(|r| r.agent.clone().unwrap()).collect();
        assert_eq!(
            got,
            vec![Some("agent1".to_owned()), Some("agent2".to_owned()), None]
        );
        for row in &by_agent {
            let agent = row.agent.clone().unwrap();
            let e = expected
                .agents
                .iter()
                .find(|(a, _)| a.map(str::to_owned) == agent)
                .map(|(_, t)| *t)
                .unwrap();
            assert_eq!(row.totals, e, "{agent:?}");
        }
        // Another day holds nothing.
        let next = day.succ_opt().unwrap();
        assert!(
            history(&store, next, next, GroupBy::Hour, SERVICE_LEVEL_SECS)
                .await
                .unwrap()
                .is_empty()
        );
    }
);

dual_db_test!(
    calls_a_stopped_process_left_open_end_when_it_was_last_alive,
    |db: TestDb| async move {
        let (events, _) = afternoon();
        let store = db.store().await;
        let mut conn = store.pool().acquire().await.unwrap();
        // Only up to the first answer: that call is open, in conversation.
        let answered = events
            .iter()
            .position(|e| matches!(e.event, Event::CallConnected { .. }))
            .unwrap();
        for event in &events[..=answered] {
            StatsRecorder.record(&mut conn, event).await.unwrap();
        }
        let answered_at = events[answered].at.timestamp_millis();
        StatsRecorder
            .recover(&mut conn, answered_at + 61_000)
            .await
            .unwrap();
        let row: (String, i64, Option<i64>) =
            sqlx::query_as("SELECT outcome, handle_ms, wrap_up_ms FROM stats_calls")
                .fetch_one(&mut *conn)
                .await
                .unwrap();
        assert_eq!(row, ("answered".to_owned(), 61_000, None));
    }
);
