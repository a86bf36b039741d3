//! `GET /api/stats/history?from=YYYY-MM-DD&to=YYYY-MM-DD&by=hour|agent[&format=csv]`: the
//! inbound calls' figures per hour or per answering agent over a range of UTC days (both
//! included, at most [`MAX_DAYS`]), for supervisors (their session token). JSON by default;
//! CSV with `format=csv` or `Accept: text/csv`. The database aggregates over its index on the
//! queuing time, so the answer is bounded by the range, never a scan of everything.

use std::collections::HashMap;

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, get, web};
use chrono::NaiveDate;
use serde_json::json;

use super::ApiError;
use super::auth::SupervisorSession;
use super::state::ApiState;
use crate::store::Store;
use crate::store::stats::{GroupBy, HistoryRow, history};

/// The longest range one request may ask for, in days.
pub const MAX_DAYS: i64 = 31;

fn invalid(code: &'static str, message: String) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
}

/// What the query asks for, checked.
#[derive(Debug)]
struct Range {
    from: NaiveDate,
    to: NaiveDate,
    by: GroupBy,
    csv: bool,
}

fn date(query: &HashMap<String, String>, name: &str) -> Result<NaiveDate, ApiError> {
    let Some(text) = query.get(name) else {
        return Err(invalid(
            "invalid_range",
            format!("`{name}` is required: a UTC day as YYYY-MM-DD"),
        ));
    };
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .filter(|_| text.len() == 10)
        .ok_or_else(|| {
            invalid(
                "invalid_range",
                format!(
                    "`{name}` must be a day as YYYY-MM-DD, got `{}`",
                    text.chars().take(40).collect::<String>().escape_debug()
                ),
            )
        })
}

fn parse(query: &HashMap<String, String>, request: &HttpRequest) -> Result<Range, ApiError> {
    let from = date(query, "from")?;
    let to = date(query, "to")?;
    if from > to {
        return Err(invalid(
            "invalid_range",
            format!("`from` ({from}) is after `to` ({to})"),
        ));
    }
    let days = (to - from).num_days() + 1;
    if days > MAX_DAYS {
        return Err(invalid(
            "range_too_long",
            format!("the range covers {days} days; at most {MAX_DAYS} per request (ask for several ranges)"),
        ));
    }
    let by = match query.get("by").map(String::as_str) {
        None | Some("hour") => GroupBy::Hour,
        Some("agent") => GroupBy::Agent,
        Some(other) => {
            return Err(invalid(
                "invalid_group",
                format!(
                    "`by` must be `hour` or `agent`, got `{}`",
                    other.chars().take(40).collect::<String>().escape_debug()
                ),
            ));
        }
    };
    let csv = match query.get("format").map(String::as_str) {
        Some("csv") => true,
        Some("json") => false,
        Some(other) => {
            return Err(invalid(
                "invalid_format",
                format!(
                    "`format` must be `json` or `csv`, got `{}`",
                    other.chars().take(40).collect::<String>().escape_debug()
                ),
            ));
        }
        None => request
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|accept| accept.contains("text/csv")),
    };
    Ok(Range { from, to, by, csv })
}

#[get("/api/stats/history")]
pub async fn report(
    _: SupervisorSession,
    request: HttpRequest,
    query: web::Query<HashMap<String, String>>,
    state: web::Data<ApiState>,
    store: web::Data<Store>,
) -> Result<HttpResponse, ApiError> {
    let range = parse(&query, &request)?;
    let service_level_secs = state.stats.as_ref().map(|s| s.service_level_secs()).unwrap_or(20);
    let rows = history(&store, range.from, range.to, range.by, service_level_secs)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "cannot read the calls' history");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "store_unavailable",
                "the history cannot be read now; try again",
            )
        })?;
    if range.csv {
        let name = format!(
            "calls-by-{}-{}-{}.csv",
            match range.by {
                GroupBy::Hour => "hour",
                GroupBy::Agent => "agent",
            },
            range.from,
            range.to
        );
        return Ok(HttpResponse::Ok()
            .insert_header((header::CONTENT_TYPE, "text/csv; charset=utf-8"))
            .insert_header((
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .body(to_csv(range.by, &rows)));
    }
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(json!({
            "from": range.from,
            "to": range.to,
            "by": range.by,
            "serviceLevelSecs": service_level_secs,
            "rows": rows,
        })))
}

/// A text cell a spreadsheet will not run: one starting with `=`, `+`, `-`, `@`, a tab or a
/// carriage return gets a leading apostrophe.
pub fn safe_cell(text: &str) -> String {
    match text.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{text}"),
        _ => text.to_owned(),
    }
}

fn number(value: Option<f64>) -> String {
    value.map(|v| format!("{v:.3}")).unwrap_or_default()
}

/// The report as CSV (RFC 4180 quoting by the `csv` crate; a header line first).
pub fn to_csv(by: GroupBy, rows: &[HistoryRow]) -> String {
    let mut out = csv::Writer::from_writer(Vec::new());
    let first = match by {
        GroupBy::Hour => "hour",
        GroupBy::Agent => "agent",
    };
    let _ = out.write_record([
        first,
        "offered",
        "answered",
        "answered_in_time",
        "abandoned",
        "missed",
        "service_level",
        "average_wait_secs",
        "average_handle_secs",
        "average_wrap_up_secs",
    ]);
    for row in rows {
        let key = match by {
            GroupBy::Hour => row
                .hour
                .map(|h| h.format("%Y-%m-%dT%H:%M:%SZ").to_string())
                .unwrap_or_default(),
            GroupBy::Agent => safe_cell(row.agent.clone().flatten().as_deref().unwrap_or("")),
        };
        let t = &row.totals;
        let _ = out.write_record([
            key,
            t.offered.to_string(),
            t.answered.to_string(),
            t.answered_in_time.to_string(),
            t.abandoned.to_string(),
            t.missed.to_string(),
            number(row.service_level),
            number(row.average_wait_secs),
            number(row.average_handle_secs),
            number(row.average_wrap_up_secs),
        ]);
    }
    String::from_utf8(out.into_inner().unwrap_or_default()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::stats::HourTotals;

    #[test]
    fn agent_cells_are_quoted_and_never_formulas() {
        let row = |agent: &str| HistoryRow {
            hour: None,
            agent: Some(Some(agent.to_owned())),
            totals: HourTotals {
                offered: 1,
                ..Default::default()
            },
            service_level: None,
            average_wait_secs: None,
            average_handle_secs: None,
            average_wrap_up_secs: None,
        };
        let text = to_csv(
            GroupBy::Agent,
            &[
                row("=HYPERLINK(\"x\")"),
                row("+1"),
                row("-2"),
                row("@sum"),
                row("ana, \"la\"\njefa"),
            ],
        );
        let mut lines = text.lines();
        assert!(lines.next().unwrap().starts_with("agent,offered,"));
        assert_eq!(lines.next().unwrap(), "\"'=HYPERLINK(\"\"x\"\")\",1,0,0,0,0,,,,");
        assert_eq!(lines.next().unwrap(), "'+1,1,0,0,0,0,,,,");
        assert_eq!(lines.next().unwrap(), "'-2,1,0,0,0,0,,,,");
        assert_eq!(lines.next().unwrap(), "'@sum,1,0,0,0,0,,,,");
        assert!(text.contains("\"ana, \"\"la\"\"\njefa\",1,"), "{text}");
    }
}
