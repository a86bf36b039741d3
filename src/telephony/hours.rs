//! A campaign's opening hours: `hours = ["mon-fri 08:00-20:00", "sat 09:00-14:00"]` read in
//! the campaign's `timezone` (an IANA name such as `Europe/Madrid`; UTC when absent). A call
//! that arrives outside them is not queued: it is recorded as missed (`outsideHours`) and the
//! platform is told so (Asterisk's intake answer), so the caller can be sent to voicemail.
//! No `hours` at all: always open.

use chrono::{DateTime, Datelike, NaiveTime, Timelike, Utc};
use chrono_tz::Tz;

/// One line: the weekdays it covers and the time range `[from, to)` on those days.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Span {
    /// Bit `n` set: weekday `n` (Monday = 0) is covered.
    days: u8,
    /// Minutes since midnight.
    from: u32,
    /// Minutes since midnight, up to 24:00 (1440).
    to: u32,
}

/// When a campaign takes calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpeningHours {
    spans: Vec<Span>,
    timezone: Tz,
}

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

fn day(name: &str) -> Result<u32, String> {
    DAYS.iter()
        .position(|d| name.eq_ignore_ascii_case(d))
        .map(|n| n as u32)
        .ok_or_else(|| format!("`{name}` is not a weekday (mon, tue, wed, thu, fri, sat, sun)"))
}

fn minutes(text: &str) -> Result<u32, String> {
    if text == "24:00" {
        return Ok(24 * 60);
    }
    let time = NaiveTime::parse_from_str(text, "%H:%M")
        .map_err(|_| format!("`{text}` is not a time of day (HH:MM, 00:00 to 24:00)"))?;
    Ok(time.hour() * 60 + time.minute())
}

fn span(line: &str) -> Result<Span, String> {
    let mut parts = line.split_whitespace();
    let (Some(days), Some(times), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(format!(
            "`{line}` is not `DAYS HH:MM-HH:MM` (e.g. `mon-fri 08:00-20:00`)"
        ));
    };
    let mut mask = 0u8;
    for range in days.split(',') {
        let (first, last) = match range.split_once('-') {
            Some((a, b)) => (day(a)?, day(b)?),
            None => (day(range)?, day(range)?),
        };
        if last < first {
            return Err(format!("`{range}`: the days run from Monday to Sunday"));
        }
        for d in first..=last {
            mask |= 1 << d;
        }
    }
    let (from, to) = times
        .split_once('-')
        .ok_or_else(|| format!("`{times}` is not a time range (HH:MM-HH:MM)"))?;
    let (from, to) = (minutes(from)?, minutes(to)?);
    if from >= to {
        return Err(format!(
            "`{times}`: the range must end after it starts on the same day"
        ));
    }
    Ok(Span { days: mask, from, to })
}

impl OpeningHours {
    /// Parses the configured lines; `None` when there are none (always open).
    pub fn parse(lines: &[String], timezone: Option<&str>) -> Result<Option<OpeningHours>, String> {
        let timezone = match timezone.map(str::trim).filter(|t| !t.is_empty()) {
            Some(name) => name.parse::<Tz>().map_err(|_| {
                format!("timezone `{name}` is not an IANA time zone name (e.g. Europe/Madrid)")
            })?,
            None => Tz::UTC,
        };
        if lines.is_empty() {
            return Ok(None);
        }
        let spans = lines
            .iter()
            .map(|l| span(l.trim()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Some(OpeningHours { spans, timezone }))
    }

    /// Whether `at` falls inside the hours.
    pub fn is_open(&self, at: DateTime<Utc>) -> bool {
        let local = at.with_timezone(&self.timezone);
        let weekday = local.weekday().num_days_from_monday();
        let minute = local.hour() * 60 + local.minute();
        self.spans
            .iter()
            .any(|s| s.days & (1 << weekday) != 0 && s.from <= minute && minute < s.to)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn hours(lines: &[&str], tz: Option<&str>) -> OpeningHours {
        OpeningHours::parse(&lines.iter().map(|l| l.to_string()).collect::<Vec<_>>(), tz)
            .unwrap()
            .unwrap()
    }

    #[test]
    fn weekdays_in_the_campaign_timezone() {
        let h = hours(&["mon-fri 08:00-20:00", "sat 09:00-14:00"], Some("Europe/Madrid"));
        // Monday 2026-11-30 07:30 UTC = 08:30 in Madrid (CET).
        assert!(h.is_open(Utc.with_ymd_and_hms(2026, 11, 30, 7, 30, 0).unwrap()));
        // 06:59 UTC = 07:59 Madrid: closed.
        assert!(!h.is_open(Utc.with_ymd_and_hms(2026, 11, 30, 6, 59, 0).unwrap()));
        // 19:00 UTC = 20:00 Madrid: closed (the end is excluded).
        assert!(!h.is_open(Utc.with_ymd_and_hms(2026, 11, 30, 19, 0, 0).unwrap()));
        // Sunday closed, Saturday morning open.
        assert!(!h.is_open(Utc.with_ymd_and_hms(2026, 11, 29, 10, 0, 0).unwrap()));
        assert!(h.is_open(Utc.with_ymd_and_hms(2026, 11, 28, 10, 0, 0).unwrap()));
    }

    #[test]
    fn lists_and_midnight() {
        let h = hours(&["mon,wed 00:00-24:00"], None);
        assert!(h.is_open(Utc.with_ymd_and_hms(2026, 12, 2, 23, 59, 0).unwrap()));
        assert!(!h.is_open(Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap()));
    }

    #[test]
    fn bad_lines_say_what_is_wrong() {
        let err = |lines: &[&str], tz: Option<&str>| {
            OpeningHours::parse(&lines.iter().map(|l| l.to_string()).collect::<Vec<_>>(), tz).unwrap_err()
        };
        assert!(err(&["mon-fri"], None).contains("DAYS HH:MM-HH:MM"));
        assert!(err(&["fri-mon 08:00-20:00"], None).contains("Monday to Sunday"));
        assert!(err(&["mon 20:00-08:00"], None).contains("end after it starts"));
        assert!(err(&["lun 08:00-20:00"], None).contains("not a weekday"));
        assert!(err(&["mon 8h-20h"], None).contains("not a time of day"));
        assert!(err(&["mon 08:00-20:00"], Some("Mars/Olympus")).contains("IANA"));
        assert_eq!(OpeningHours::parse(&[], None).unwrap(), None);
    }
}
