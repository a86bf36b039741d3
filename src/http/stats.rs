//! `GET /api/stats`: the floor's live figures for supervisors (their session token): agents'
//! states and time in them, calls waiting per queue, today's offered / answered / abandoned /
//! missed calls, service level, average handle and wrap-up time. The same figures are gauges
//! on `/metrics`.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, get, web};

use super::ApiError;
use super::auth::SupervisorSession;
use super::state::ApiState;
use crate::telephony::stats::FloorFigures;

#[get("/api/stats")]
pub async fn floor(_: SupervisorSession, state: web::Data<ApiState>) -> Result<HttpResponse, ApiError> {
    let stats = state.stats.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "telephony_unavailable",
            "this server runs no contact-center core",
        )
    })?;
    Ok(HttpResponse::Ok().json(stats.figures()))
}

/// The figures as Prometheus gauges.
pub fn prometheus(figures: &FloorFigures, out: &mut String) {
    use std::fmt::Write as _;
    let mut gauge = |name: &str, help: &str, labels: &str, value: f64| {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} gauge\n{name}{labels} {value}"
        );
    };
    gauge(
        "ctibridge_calls_offered_today",
        "Inbound calls offered today (UTC).",
        "",
        figures.offered as f64,
    );
    gauge(
        "ctibridge_calls_answered_today",
        "Inbound calls answered today (UTC).",
        "",
        figures.answered as f64,
    );
    gauge(
        "ctibridge_calls_abandoned_today",
        "Inbound calls abandoned in the queue today (UTC).",
        "",
        figures.abandoned as f64,
    );
    gauge(
        "ctibridge_calls_missed_today",
        "Inbound calls that ended unanswered, not abandoned, today (UTC).",
        "",
        figures.missed as f64,
    );
    gauge(
        "ctibridge_calls_answered_in_time_today",
        "Inbound calls answered today within telephony.service_level_secs of being queued.",
        "",
        figures.hours.iter().map(|h| h.answered_in_time).sum::<u64>() as f64,
    );
    if let Some(level) = figures.service_level {
        gauge(
            "ctibridge_service_level",
            "Share of today's judged inbound calls answered within telephony.service_level_secs.",
            "",
            level,
        );
    }
    if let Some(secs) = figures.average_handle_secs {
        gauge(
            "ctibridge_average_handle_seconds",
            "Average handle time today (connected to ended).",
            "",
            secs,
        );
    }
    if let Some(secs) = figures.average_wrap_up_secs {
        gauge(
            "ctibridge_average_wrap_up_seconds",
            "Average wrap-up time today.",
            "",
            secs,
        );
    }
    for queue in &figures.queues {
        let labels = format!("{{queue=\"{}\"}}", queue.queue.escape_default());
        gauge(
            "ctibridge_queue_waiting",
            "Calls waiting in the queue now.",
            &labels,
            queue.waiting as f64,
        );
        gauge(
            "ctibridge_queue_longest_wait_seconds",
            "The longest wait in the queue now.",
            &labels,
            queue.longest_wait_secs as f64,
        );
    }
    let mut by_state: std::collections::BTreeMap<String, u64> = std::collections::BTreeMap::new();
    for agent in &figures.agents {
        let state = serde_json::to_value(agent.state)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        *by_state.entry(state).or_default() += 1;
    }
    for (state, count) in by_state {
        gauge(
            "ctibridge_agents",
            "Logged-in agents by state.",
            &format!("{{state=\"{state}\"}}"),
            count as f64,
        );
    }
}
