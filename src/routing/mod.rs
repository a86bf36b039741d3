//! Owner routing: an inbound call goes first to the agent who owns the caller's Salesforce
//! record. This module owns the `[routing]` settings and the owner lookup the core asks at
//! intake ([`OwnerLookup`]); the core decides what to do with the answer
//! (`telephony::engine`), the Salesforce search lives in [`salesforce`].
//!
//! The lookup never holds a call up:
//! - each search is bounded by `lookup_timeout_ms` (at most one second), token fetch included;
//! - answers are cached per normalized number (its digits) for `cache_secs`, and concurrent
//!   calls from one number share one search (single flight);
//! - a failed or slow search answers [`OwnerAnswer::Unknown`] (the call routes as it would
//!   without owner routing); failures are not cached, but while Salesforce is failing only one
//!   search at a time goes out (the others answer `Unknown` at once), so an outage costs the
//!   callers nothing but the first one's timeout;
//! - one warning per outage episode, and one line when searches answer again.
//!
//! [`leads`] gives callers Salesforce does not know a Lead, where a campaign asks for it.

pub mod leads;
pub mod salesforce;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;
use tokio::sync::OnceCell;
use tokio::time::Instant;

/// The longest an owner lookup may hold a call.
pub const MAX_LOOKUP_TIMEOUT_MS: u64 = 1000;

/// `[routing]`: owner routing of inbound calls. Active only with Salesforce credentials.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RoutingConfig {
    /// Seconds a call rings on its owner before it goes to the queue; 0: never.
    pub owner_first_secs: u64,
    /// Milliseconds an owner lookup may take (1–1000); past that the call routes as usual.
    pub lookup_timeout_ms: u64,
    /// Seconds an answer (found or not) is kept per caller number.
    pub cache_secs: u64,
    /// Inbound campaigns whose callers with no Salesforce record get a new Lead.
    pub create_leads: Vec<i64>,
    /// The Salesforce user (`005…`) who owns those Leads ("unprocessed leads").
    pub unprocessed_leads_owner: Option<String>,
}

impl Default for RoutingConfig {
    fn default() -> Self {
        Self {
            owner_first_secs: 15,
            lookup_timeout_ms: 800,
            cache_secs: 30,
            create_leads: Vec::new(),
            unprocessed_leads_owner: None,
        }
    }
}

impl RoutingConfig {
    /// Checks the settings; `inbound` lists the inbound campaigns' ids.
    pub fn validate_with(&self, inbound: &[i64]) -> Result<(), String> {
        self.validate()?;
        if let Some(campaign) = self.create_leads.iter().find(|c| !inbound.contains(c)) {
            return Err(format!(
                "routing.create_leads names campaign {campaign}, which is not an inbound campaign"
            ));
        }
        Ok(())
    }

    pub fn validate(&self) -> Result<(), String> {
        match &self.unprocessed_leads_owner {
            Some(owner) if !is_user_id(owner) => {
                return Err(format!(
                    "routing.unprocessed_leads_owner must be a Salesforce user id (15 or 18 letters \
                     and digits starting with 005), got `{}`",
                    owner.escape_debug()
                ));
            }
            None if !self.create_leads.is_empty() => {
                return Err(
                    "routing.create_leads needs routing.unprocessed_leads_owner (the Salesforce user \
                     who owns the new Leads)"
                        .into(),
                );
            }
            _ => {}
        }
        if !(1..=MAX_LOOKUP_TIMEOUT_MS).contains(&self.lookup_timeout_ms) {
            return Err(format!(
                "routing.lookup_timeout_ms must be between 1 and {MAX_LOOKUP_TIMEOUT_MS} (a lookup \
                 must never hold a call up), got {}",
                self.lookup_timeout_ms
            ));
        }
        if self.owner_first_secs > 300 {
            return Err(format!(
                "routing.owner_first_secs must be at most 300 (0: never), got {}",
                self.owner_first_secs
            ));
        }
        if self.cache_secs > 3600 {
            return Err(format!(
                "routing.cache_secs must be at most 3600, got {}",
                self.cache_secs
            ));
        }
        Ok(())
    }

    /// Whether callers are looked up at all: to offer calls to their owner first, or to give
    /// callers with no record a Lead.
    pub fn enabled(&self) -> bool {
        self.owner_first_secs > 0 || !self.create_leads.is_empty()
    }

    /// How long a call rings on its owner first; `None`: not at all.
    pub fn owner_first(&self) -> Option<Duration> {
        (self.owner_first_secs > 0).then(|| Duration::from_secs(self.owner_first_secs))
    }
}

/// The caller's Salesforce record and its owner, as the search found them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnerRecord {
    /// Contact, Lead, Account, … (the first match in searchTypePriority order).
    pub record_type: String,
    pub record_id: String,
    /// The record's `OwnerId` (a user, or a queue `00G…`).
    pub owner_id: Option<String>,
    /// The record's `Name`.
    pub name: Option<String>,
}

/// What an owner lookup found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OwnerAnswer {
    Found(OwnerRecord),
    /// Salesforce has no record with the caller's number.
    NoRecord,
    /// Not known: no usable number, or the search failed or took too long.
    Unknown,
}

/// The core's view of owner routing: who owns the caller's record. Never fails and returns
/// within the configured timeout.
#[async_trait]
pub trait OwnerLookup: Send + Sync {
    async fn owner_of(&self, phone: &str) -> OwnerAnswer;
}

/// Where records are searched (Salesforce; tests may script it).
#[async_trait]
pub trait OwnerSource: Send + Sync {
    /// The first record, in priority order, with `digits` in a phone field.
    async fn find(&self, digits: &str) -> Result<Option<OwnerRecord>, String>;
}

/// Owner lookups counted since start (for `/metrics`).
#[derive(Debug, Default)]
pub struct LookupCounters {
    /// A record was found.
    pub found: AtomicU64,
    /// Salesforce has no record for the number.
    pub no_record: AtomicU64,
    /// The search failed or timed out (or was skipped during an outage).
    pub failed: AtomicU64,
    /// Answered from the cache (or by joining a search under way).
    pub cached: AtomicU64,
}

/// The counters in Prometheus text format (`/metrics`).
pub fn prometheus(counters: &LookupCounters, out: &mut String) {
    use std::fmt::Write as _;
    let _ = writeln!(
        out,
        "# HELP ctibridge_owner_lookups_total Owner lookups of inbound callers since start, by result.\n\
         # TYPE ctibridge_owner_lookups_total counter"
    );
    for (result, counter) in [
        ("found", &counters.found),
        ("no_record", &counters.no_record),
        ("failed", &counters.failed),
        ("cached", &counters.cached),
    ] {
        let _ = writeln!(
            out,
            "ctibridge_owner_lookups_total{{result=\"{result}\"}} {}",
            counter.load(Ordering::Relaxed)
        );
    }
}

/// The running lookup's counters, when owner routing is on (the server's shared state).
pub struct OwnerLookups(pub Option<Arc<LookupCounters>>);

type Cell = Arc<OnceCell<(OwnerAnswer, Instant)>>;

/// [`OwnerLookup`] over an [`OwnerSource`]: timeout, per-number cache with single flight,
/// outage handling (see the module's notes).
pub struct CachedOwnerLookup {
    source: Arc<dyn OwnerSource>,
    timeout: Duration,
    ttl: Duration,
    cache: Mutex<HashMap<String, Cell>>,
    /// Salesforce failed the last search (an outage episode is under way).
    failing: AtomicBool,
    /// During an outage: a search is under way to find out whether it is over.
    probing: AtomicBool,
    pub counters: Arc<LookupCounters>,
}

/// Ends a probe's turn when dropped.
struct Probe<'a>(&'a AtomicBool);

impl Drop for Probe<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::SeqCst);
    }
}

/// Entries kept before expired ones are swept.
const SWEEP_ABOVE: usize = 4096;

/// The cache key of a number: its digits; `None` when too short to search.
pub fn normalize(phone: &str) -> Option<String> {
    let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
    (digits.len() >= 3).then_some(digits)
}

impl CachedOwnerLookup {
    pub fn new(source: Arc<dyn OwnerSource>, config: &RoutingConfig) -> Self {
        Self {
            source,
            timeout: Duration::from_millis(config.lookup_timeout_ms.clamp(1, MAX_LOOKUP_TIMEOUT_MS)),
            ttl: Duration::from_secs(config.cache_secs),
            cache: Mutex::new(HashMap::new()),
            failing: AtomicBool::new(false),
            probing: AtomicBool::new(false),
            counters: Arc::new(LookupCounters::default()),
        }
    }

    fn fresh(&self, cell: &Cell) -> bool {
        match cell.get() {
            // A search under way: join it.
            None => true,
            Some((OwnerAnswer::Unknown, _)) => false,
            Some((_, at)) => at.elapsed() < self.ttl,
        }
    }

    /// The cell for `key`: the cached or in-flight one, or a new one. True when it was there.
    fn cell(&self, key: &str) -> (Cell, bool) {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(cell) = cache.get(key)
            && self.fresh(cell)
        {
            return (cell.clone(), true);
        }
        if cache.len() >= SWEEP_ABOVE {
            cache.retain(|_, cell| self.fresh(cell));
        }
        let cell: Cell = Arc::new(OnceCell::new());
        cache.insert(key.to_owned(), cell.clone());
        (cell, false)
    }

    async fn search(&self, key: &str) -> OwnerAnswer {
        let outage = self.failing.load(Ordering::SeqCst);
        if outage && self.probing.swap(true, Ordering::SeqCst) {
            // Another search finds out whether the outage is over; do not wait for it.
            self.counters.failed.fetch_add(1, Ordering::Relaxed);
            return OwnerAnswer::Unknown;
        }
        // The probe's turn ends with this search, even one dropped half-way (a caller gone).
        let _probe = outage.then(|| Probe(&self.probing));
        let result = tokio::time::timeout(self.timeout, self.source.find(key)).await;
        let failure = match result {
            Ok(Ok(found)) => {
                if self.failing.swap(false, Ordering::SeqCst) {
                    tracing::info!("owner lookups answer again; calls go to their owners");
                }
                return match found {
                    Some(record) => {
                        self.counters.found.fetch_add(1, Ordering::Relaxed);
                        OwnerAnswer::Found(record)
                    }
                    None => {
                        self.counters.no_record.fetch_add(1, Ordering::Relaxed);
                        OwnerAnswer::NoRecord
                    }
                };
            }
            Ok(Err(e)) => e,
            Err(_) => format!("no answer within {} ms", self.timeout.as_millis()),
        };
        self.counters.failed.fetch_add(1, Ordering::Relaxed);
        if !self.failing.swap(true, Ordering::SeqCst) {
            tracing::warn!(
                error = %failure.escape_debug(),
                "owner lookup failed; calls route to their queues without it until Salesforce answers again"
            );
        }
        OwnerAnswer::Unknown
    }
}

#[async_trait]
impl OwnerLookup for CachedOwnerLookup {
    async fn owner_of(&self, phone: &str) -> OwnerAnswer {
        let Some(key) = normalize(phone) else {
            return OwnerAnswer::Unknown;
        };
        let (cell, cached) = self.cell(&key);
        if cached {
            self.counters.cached.fetch_add(1, Ordering::Relaxed);
        }
        let (answer, _) = cell
            .get_or_init(|| async { (self.search(&key).await, Instant::now()) })
            .await;
        answer.clone()
    }
}

/// A Salesforce user id: 15 or 18 letters and digits, key prefix `005`.
pub fn is_user_id(id: &str) -> bool {
    (id.len() == 15 || id.len() == 18)
        && id.starts_with("005")
        && id.chars().all(|c| c.is_ascii_alphanumeric())
}

/// Whether two Salesforce ids name the same record: the 18-character form is the
/// 15-character one (case-sensitive) plus a checksum.
pub fn same_salesforce_id(a: &str, b: &str) -> bool {
    let short = |id: &str| -> String { id.chars().take(15).collect() };
    a.len() >= 15 && b.len() >= 15 && short(a) == short(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Scripted {
        answer: Mutex<Result<Option<OwnerRecord>, String>>,
        delay: Duration,
        searches: AtomicU64,
    }

    #[async_trait]
    impl OwnerSource for Scripted {
        async fn find(&self, _: &str) -> Result<Option<OwnerRecord>, String> {
            self.searches.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(self.delay).await;
            self.answer.lock().unwrap().clone()
        }
    }

    fn record() -> OwnerRecord {
        OwnerRecord {
            record_type: "Contact".into(),
            record_id: "003000000000001AAA".into(),
            owner_id: Some("005000000000001AAA".into()),
            name: Some("Ana García".into()),
        }
    }

    fn lookup(
        answer: Result<Option<OwnerRecord>, String>,
        delay_ms: u64,
    ) -> (Arc<Scripted>, CachedOwnerLookup) {
        let source = Arc::new(Scripted {
            answer: Mutex::new(answer),
            delay: Duration::from_millis(delay_ms),
            searches: AtomicU64::new(0),
        });
        let config = RoutingConfig {
            lookup_timeout_ms: 500,
            cache_secs: 30,
            ..RoutingConfig::default()
        };
        (source.clone(), CachedOwnerLookup::new(source, &config))
    }

    #[tokio::test(start_paused = true)]
    async fn a_burst_from_one_number_costs_one_search_until_the_answer_expires() {
        let (source, lookup) = lookup(Ok(Some(record())), 100);
        let lookup = Arc::new(lookup);
        let burst: Vec<_> = (0..5)
            .map(|_| {
                let lookup = lookup.clone();
                tokio::spawn(async move { lookup.owner_of("+54 11 5555-1001").await })
            })
            .collect();
        for call in burst {
            assert_eq!(call.await.unwrap(), OwnerAnswer::Found(record()));
        }
        assert_eq!(
            lookup.owner_of("541155551001").await,
            OwnerAnswer::Found(record())
        );
        assert_eq!(source.searches.load(Ordering::SeqCst), 1);
        tokio::time::advance(Duration::from_secs(31)).await;
        lookup.owner_of("541155551001").await;
        assert_eq!(source.searches.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_search_answers_unknown_at_the_timeout_and_is_not_cached() {
        let (source, lookup) = lookup(Ok(Some(record())), 5_000);
        let started = Instant::now();
        assert_eq!(lookup.owner_of("1155551001").await, OwnerAnswer::Unknown);
        assert_eq!(started.elapsed(), Duration::from_millis(500));
        assert_eq!(lookup.counters.failed.load(Ordering::SeqCst), 1);
        // The next call tries again (a failure is not kept).
        lookup.owner_of("1155551001").await;
        assert_eq!(source.searches.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn during_an_outage_one_search_probes_and_the_others_answer_at_once() {
        let (source, lookup) = lookup(Err("503".into()), 200);
        let lookup = Arc::new(lookup);
        assert_eq!(lookup.owner_of("1155551001").await, OwnerAnswer::Unknown);
        let probe = {
            let lookup = lookup.clone();
            tokio::spawn(async move { lookup.owner_of("1155552002").await })
        };
        tokio::task::yield_now().await;
        let started = Instant::now();
        assert_eq!(lookup.owner_of("1155553003").await, OwnerAnswer::Unknown);
        assert_eq!(started.elapsed(), Duration::ZERO);
        assert_eq!(probe.await.unwrap(), OwnerAnswer::Unknown);
        assert_eq!(source.searches.load(Ordering::SeqCst), 2);
        // Salesforce is back: the next search finds the owner.
        *source.answer.lock().unwrap() = Ok(None);
        assert_eq!(lookup.owner_of("1155553003").await, OwnerAnswer::NoRecord);
        assert!(!lookup.failing.load(Ordering::SeqCst));
    }

    /// Log lines written while the test runs (this thread's subscriber).
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
        type Writer = Captured;
        fn make_writer(&'a self) -> Captured {
            self.clone()
        }
    }

    impl Captured {
        fn count(&self, text: &str) -> usize {
            String::from_utf8_lossy(&self.0.lock().unwrap())
                .matches(text)
                .count()
        }
    }

    #[tokio::test(start_paused = true)]
    async fn an_outage_is_one_warning_and_its_end_one_line_however_many_calls() {
        let logs = Captured::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(logs.clone())
            .with_ansi(false)
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);
        let (source, lookup) = lookup(Err("503 SERVER_UNAVAILABLE".into()), 10);
        for n in 0..5 {
            assert_eq!(
                lookup.owner_of(&format!("115555100{n}")).await,
                OwnerAnswer::Unknown
            );
        }
        assert_eq!(logs.count("owner lookup failed"), 1);
        *source.answer.lock().unwrap() = Ok(None);
        lookup.owner_of("1155552000").await;
        lookup.owner_of("1155552001").await;
        assert_eq!(logs.count("owner lookups answer again"), 1);
        // A new outage is a new warning.
        *source.answer.lock().unwrap() = Err("503".into());
        lookup.owner_of("1155553000").await;
        assert_eq!(logs.count("owner lookup failed"), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_probe_dropped_half_way_lets_the_next_call_probe() {
        let (source, lookup) = lookup(Err("503".into()), 200);
        lookup.owner_of("1155551001").await;
        // A caller gives up while its search probes the outage.
        let gone = tokio::time::timeout(Duration::from_millis(50), lookup.owner_of("1155552002")).await;
        assert!(gone.is_err());
        *source.answer.lock().unwrap() = Ok(None);
        assert_eq!(lookup.owner_of("1155553003").await, OwnerAnswer::NoRecord);
        assert_eq!(source.searches.load(Ordering::SeqCst), 3);
    }

    #[test]
    fn ids_compare_in_both_forms_and_numbers_need_three_digits() {
        assert!(same_salesforce_id("005000000000001", "005000000000001AAA"));
        assert!(!same_salesforce_id("005000000000001", "005000000000002AAA"));
        assert!(!same_salesforce_id("", ""));
        assert_eq!(normalize("+54 (11) 5555-1001").as_deref(), Some("541155551001"));
        assert_eq!(normalize("12"), None);
        assert_eq!(
            RoutingConfig {
                lookup_timeout_ms: 1500,
                ..RoutingConfig::default()
            }
            .validate()
            .unwrap_err(),
            "routing.lookup_timeout_ms must be between 1 and 1000 (a lookup must never hold a \
             call up), got 1500"
        );
    }
}
