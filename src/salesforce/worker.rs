//! The outbox worker: claims due rows, batches them into sObject Collections requests (200
//! records, one API call each), records each row's fate — delivered, retried later with backoff
//! (transient errors: outages, UNABLE_TO_LOCK_ROW, REQUEST_LIMIT_EXCEEDED), or parked with the
//! error for an operator (permanent errors) — and slows down as the org's daily API allocation
//! runs low.

use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use serde_json::{Map, Value};

use super::client::{
    COLLECTION_LIMIT, COMPOSITE_COLLECTIONS_LIMIT, CollectionResult, CollectionWrite, SalesforceClient,
};
use super::error::{ApiErrorItem, SalesforceError, is_transient_item};
use super::outbox::{Outbox, OutboxRow, Write};
use crate::store::StoreError;

/// When the worker looks at the clock. Tests drive it by hand.
pub trait Clock: Send + Sync + 'static {
    fn now_ms(&self) -> i64;
}

/// The wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        crate::store::now_millis()
    }
}

#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Rows claimed per round.
    pub batch_size: usize,
    /// How long a claim lasts before another worker may take the rows again.
    pub lease: Duration,
    /// After a wake-up, wait this long so more rows join the batch.
    pub batch_window: Duration,
    /// Look for due rows at least this often (retries; other instances' rows).
    pub poll_interval: Duration,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            batch_size: 4 * COLLECTION_LIMIT,
            lease: Duration::from_secs(120),
            // A second: at low volume a round then carries a call's successive writes (end,
            // disposition) and other calls' as one request, and a Task is still complete
            // about a second after release.
            batch_window: Duration::from_secs(1),
            poll_interval: Duration::from_secs(1),
            backoff_base: Duration::from_secs(1),
            backoff_max: Duration::from_secs(60),
        }
    }
}

/// What one round did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RoundReport {
    pub claimed: usize,
    pub delivered: usize,
    pub retried: usize,
    pub parked: usize,
    /// HTTP requests sent to Salesforce.
    pub requests: usize,
}

/// A row's fate within a round.
enum Fate {
    Delivered(Option<String>),
    Retry(String),
    Park(String),
}

pub struct Worker {
    id: String,
    outbox: Outbox,
    client: Arc<SalesforceClient>,
    config: WorkerConfig,
    clock: Arc<dyn Clock>,
    /// The failing episode in progress, if any (see `follow_episode`).
    episode: std::sync::Mutex<Option<Episode>>,
}

impl Worker {
    pub fn new(
        id: impl Into<String>,
        outbox: Outbox,
        client: Arc<SalesforceClient>,
        config: WorkerConfig,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            id: id.into(),
            outbox,
            client,
            config,
            clock,
            episode: std::sync::Mutex::new(None),
        }
    }

    /// Runs rounds until `shutdown` resolves.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        // The heartbeat runs beside the rounds: a slow delivery must not look like a death.
        let beat = {
            let (outbox, id, clock) = (self.outbox.clone(), self.id.clone(), self.clock.clone());
            tokio::spawn(async move {
                let _ = outbox.forget_dead_workers(clock.now_ms()).await;
                let mut ticks = tokio::time::interval(Duration::from_secs(1));
                loop {
                    ticks.tick().await;
                    if let Err(e) = outbox.beat(&id, clock.now_ms()).await {
                        tracing::debug!(error = %e, "outbox worker heartbeat failed");
                    }
                }
            })
        };
        let _stop_beat = crate::store::delivery::AbortOnDrop(beat);
        loop {
            let report = match self.run_once().await {
                Ok(report) => report,
                Err(e) => {
                    tracing::error!(error = %e, "outbox round failed; retrying");
                    RoundReport::default()
                }
            };
            // A full batch means more may be due: go again at once.
            if report.claimed >= self.config.batch_size {
                continue;
            }
            let idle = tokio::select! {
                _ = &mut shutdown => return,
                _ = self.outbox.notified() => false,
                _ = tokio::time::sleep(self.config.poll_interval) => true,
            };
            if !idle {
                let window = self.batch_window();
                tokio::select! {
                    _ = &mut shutdown => return,
                    _ = tokio::time::sleep(window) => {}
                }
            }
        }
    }

    /// The batching window, longer as the daily API allocation runs low, so each request
    /// carries more records.
    fn batch_window(&self) -> Duration {
        batch_window(self.client.usage().fraction_used(), self.config.batch_window)
    }

    /// One round: claim, deliver, record.
    pub async fn run_once(&self) -> Result<RoundReport, StoreError> {
        let now = self.clock.now_ms();
        let rows = self
            .outbox
            .claim(&self.id, self.config.batch_size, self.config.lease, now)
            .await?;
        let mut report = RoundReport {
            claimed: rows.len(),
            ..RoundReport::default()
        };
        if rows.is_empty() {
            return Ok(report);
        }
        // Chunks hold different records (one row per record a round, its pending writes
        // coalesced at enqueue): one chunk goes alone, several go together in one Composite
        // request — a round costs one round trip and, under 25 chunks, one API call.
        let groups = group_rows(&rows);
        let chunks: Vec<&[&OutboxRow]> = groups.iter().flat_map(|g| g.chunks(COLLECTION_LIMIT)).collect();
        let delivered: Vec<(&&[&OutboxRow], Vec<Fate>)> = if chunks.len() == 1 {
            vec![(&chunks[0], self.deliver_chunk(chunks[0], &mut report).await)]
        } else {
            let fates = self.deliver_together(&chunks, &mut report).await;
            chunks.iter().zip(fates).collect()
        };
        let mut fates: Vec<(i64, i64, Fate)> = Vec::with_capacity(rows.len());
        for (chunk, results) in delivered {
            fates.extend(
                chunk
                    .iter()
                    .map(|r| (r.id, r.attempts))
                    .zip(results)
                    .map(|((id, attempts), fate)| (id, attempts, fate)),
            );
        }
        self.record(fates, &mut report).await?;
        Ok(report)
    }

    /// Sends one chunk (same operation, sObject and external-id field) as one collection
    /// request; falls back to one request per row when the whole request is refused, so a bad
    /// row parks alone.
    async fn deliver_chunk(&self, chunk: &[&OutboxRow], report: &mut RoundReport) -> Vec<Fate> {
        match self.send(chunk, true, report).await {
            Ok(results) => self.fates_of(chunk, results, report).await,
            Err(e) if e.is_transient() || chunk.len() == 1 => {
                chunk.iter().map(|_| fate_of_error(&e)).collect()
            }
            Err(e) => {
                tracing::warn!(error = %e, rows = chunk.len(), "Salesforce refused a whole batch; sending its rows one by one");
                let mut fates = Vec::with_capacity(chunk.len());
                for row in chunk {
                    fates.push(match self.send(&[row], true, report).await {
                        Ok(mut results) => fate_of(&results.remove(0)),
                        Err(e) => fate_of_error(&e),
                    });
                }
                fates
            }
        }
    }

    /// The rows' fates from their results; a record that exists already and refused the
    /// create-only fields (a redelivery) goes again without them.
    async fn fates_of(
        &self,
        chunk: &[&OutboxRow],
        results: Vec<CollectionResult>,
        report: &mut RoundReport,
    ) -> Vec<Fate> {
        let mut fates = Vec::with_capacity(chunk.len());
        let mut without_create_only = Vec::new();
        for (i, (row, result)) in chunk.iter().zip(results).enumerate() {
            let fate = fate_of(&result);
            // The record exists already (a redelivery): send again without the
            // create-only fields, which Salesforce refuses to update.
            if matches!(fate, Fate::Park(_)) && refuses_create_only(row, &result.errors) {
                without_create_only.push(i);
            }
            fates.push(fate);
        }
        if !without_create_only.is_empty() {
            let retry: Vec<&OutboxRow> = without_create_only.iter().map(|&i| chunk[i]).collect();
            match self.send(&retry, false, report).await {
                Ok(results) => {
                    for (&i, result) in without_create_only.iter().zip(results) {
                        fates[i] = fate_of(&result);
                    }
                }
                Err(e) => {
                    for &i in &without_create_only {
                        fates[i] = fate_of_error(&e);
                    }
                }
            }
        }
        fates
    }

    async fn send(
        &self,
        rows: &[&OutboxRow],
        with_create_only: bool,
        report: &mut RoundReport,
    ) -> Result<Vec<CollectionResult>, SalesforceError> {
        report.requests += 1;
        self.client
            .collection_write(&write_of(rows, with_create_only))
            .await
    }

    /// Sends the round's chunks (different sObject types or operations) as subrequests of one
    /// Composite request, 5 at a time (Salesforce's limit for collection subrequests): one API
    /// call where each chunk alone would cost one.
    /// A chunk whose subrequest is refused as a whole goes again alone (and row by row if it
    /// must), so a bad row still parks alone.
    async fn deliver_together(&self, chunks: &[&[&OutboxRow]], report: &mut RoundReport) -> Vec<Vec<Fate>> {
        let mut fates = Vec::with_capacity(chunks.len());
        for batch in chunks.chunks(COMPOSITE_COLLECTIONS_LIMIT) {
            let writes: Vec<CollectionWrite> = batch.iter().map(|chunk| write_of(chunk, true)).collect();
            report.requests += 1;
            match self.client.collections_together(&writes).await {
                Ok(answers) => {
                    for (chunk, answer) in batch.iter().zip(answers) {
                        fates.push(match answer {
                            Ok(results) => self.fates_of(chunk, results, report).await,
                            Err(e) if e.is_transient() => chunk.iter().map(|_| fate_of_error(&e)).collect(),
                            Err(_) => self.deliver_chunk(chunk, report).await,
                        });
                    }
                }
                Err(e) if e.is_transient() => {
                    fates.extend(
                        batch
                            .iter()
                            .map(|chunk| chunk.iter().map(|_| fate_of_error(&e)).collect()),
                    );
                }
                Err(e) => {
                    tracing::warn!(error = %e, chunks = batch.len(), "Salesforce refused a Composite batch; sending its chunks one by one");
                    for chunk in batch {
                        fates.push(self.deliver_chunk(chunk, report).await);
                    }
                }
            }
        }
        fates
    }

    async fn record(&self, fates: Vec<(i64, i64, Fate)>, report: &mut RoundReport) -> Result<(), StoreError> {
        let now = self.clock.now_ms();
        // Salesforce took writes again: earlier rows waiting out a backoff are due now (this
        // round's failures keep theirs).
        if fates
            .iter()
            .any(|(_, _, fate)| matches!(fate, Fate::Delivered(_)))
        {
            self.outbox.expedite_retries(now).await?;
        }
        let mut delivered = Vec::new();
        let mut first_retry_error = None;
        for (id, attempts, fate) in fates {
            match fate {
                Fate::Delivered(salesforce_id) => delivered.push((id, salesforce_id)),
                Fate::Retry(error) => {
                    report.retried += 1;
                    first_retry_error.get_or_insert_with(|| error.clone());
                    let next = now + self.backoff(attempts);
                    self.outbox.retry_later(&self.id, id, &error, next).await?;
                }
                Fate::Park(error) => {
                    report.parked += 1;
                    tracing::warn!(outbox_id = id, error = %error, "Salesforce write parked for an operator");
                    self.outbox.park(&self.id, id, &error).await?;
                }
            }
        }
        report.delivered = delivered.len();
        self.follow_episode(report, first_retry_error.as_deref(), now);
        self.outbox.mark_delivered(&self.id, &delivered, now).await
    }

    /// Logs an episode of failing writes (outage, row locks, limits) once when it starts and
    /// once when writes go through again, with what it cost: not one line per failed request.
    fn follow_episode(&self, report: &RoundReport, error: Option<&str>, now: i64) {
        let mut episode = self.episode.lock().unwrap_or_else(|e| e.into_inner());
        match (episode.as_mut(), error) {
            (None, Some(error)) => {
                tracing::warn!(
                    failed_writes = report.retried,
                    error = %error.escape_debug(),
                    "Salesforce is not taking writes; they wait in the outbox and are retried"
                );
                *episode = Some(Episode {
                    since_ms: now,
                    failed_writes: report.retried as u64,
                    failed_rounds: 1,
                });
            }
            (Some(ongoing), Some(_)) => {
                ongoing.failed_writes += report.retried as u64;
                ongoing.failed_rounds += 1;
            }
            (Some(ongoing), None) if report.delivered > 0 => {
                tracing::warn!(
                    seconds = (now - ongoing.since_ms).max(0) / 1000,
                    failed_writes = ongoing.failed_writes,
                    failed_rounds = ongoing.failed_rounds,
                    "Salesforce takes writes again; the waiting ones are being delivered"
                );
                *episode = None;
            }
            _ => {}
        }
    }

    /// Exponential backoff with jitter, capped.
    fn backoff(&self, attempts: i64) -> i64 {
        let base = self.config.backoff_base.as_millis() as f64;
        let max = self.config.backoff_max.as_millis() as f64;
        let exp = base * 2f64.powi(attempts.clamp(0, 30) as i32);
        let jitter = rand::rng().random_range(0.8..1.2);
        (exp.min(max) * jitter) as i64
    }
}

/// How long to gather rows before a round: the configured window, 5 s past 90 % of the daily
/// API allocation, 30 s past 98 % — each request then carries more records, so the org keeps
/// some allocation for its users.
pub fn batch_window(fraction_used: Option<f64>, normal: Duration) -> Duration {
    match fraction_used {
        Some(f) if f >= 0.98 => Duration::from_secs(30),
        Some(f) if f >= 0.90 => Duration::from_secs(5),
        _ => normal,
    }
}

/// Rows grouped by (operation, sObject, external-id field), each group in id order.
fn group_rows(rows: &[OutboxRow]) -> Vec<Vec<&OutboxRow>> {
    let mut groups: Vec<(String, Vec<&OutboxRow>)> = Vec::new();
    for row in rows {
        let key = match &row.write {
            Write::Upsert {
                sobject,
                external_field,
                ..
            } => format!("upsert/{sobject}/{external_field}"),
            Write::Update { sobject, .. } => format!("update/{sobject}"),
        };
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, group)) => group.push(row),
            None => groups.push((key, vec![row])),
        }
    }
    groups.into_iter().map(|(_, group)| group).collect()
}

fn describe(errors: &[ApiErrorItem]) -> String {
    errors
        .iter()
        .map(|e| format!("{}: {}", e.error_code, e.message))
        .collect::<Vec<_>>()
        .join("; ")
}

fn fate_of(result: &CollectionResult) -> Fate {
    if result.success {
        Fate::Delivered(result.id.clone())
    } else if result.errors.iter().any(is_transient_item) {
        Fate::Retry(describe(&result.errors))
    } else {
        Fate::Park(describe(&result.errors))
    }
}

fn fate_of_error(error: &SalesforceError) -> Fate {
    if error.is_transient() {
        Fate::Retry(error.to_string())
    } else {
        Fate::Park(error.to_string())
    }
}

fn refuses_create_only(row: &OutboxRow, errors: &[ApiErrorItem]) -> bool {
    let Write::Upsert { create_only, .. } = &row.write else {
        return false;
    };
    !create_only.is_empty()
        && errors.iter().any(|e| {
            e.error_code == "INVALID_FIELD_FOR_INSERT_UPDATE"
                && (e.fields.iter().any(|f| create_only.contains_key(f))
                    || create_only.keys().any(|k| e.message.contains(k.as_str())))
        })
}

/// The collection write of rows of one chunk (same operation, sObject, external-id field).
fn write_of(rows: &[&OutboxRow], with_create_only: bool) -> CollectionWrite {
    match &rows[0].write {
        Write::Upsert {
            sobject,
            external_field,
            ..
        } => CollectionWrite::Upsert {
            sobject: sobject.clone(),
            external_field: external_field.clone(),
            records: rows
                .iter()
                .filter_map(|row| match &row.write {
                    Write::Upsert {
                        external_field,
                        external_value,
                        fields,
                        create_only,
                        ..
                    } => {
                        let mut record = Map::new();
                        if with_create_only && !row.delivered_before {
                            record.extend(create_only.clone());
                        }
                        record.extend(fields.clone());
                        record.insert(external_field.clone(), Value::String(external_value.clone()));
                        Some(record)
                    }
                    Write::Update { .. } => None,
                })
                .collect(),
        },
        Write::Update { sobject, .. } => CollectionWrite::Update {
            sobject: sobject.clone(),
            records: rows
                .iter()
                .filter_map(|row| match &row.write {
                    Write::Update { id, fields, .. } => {
                        let mut record = fields.clone();
                        record.insert("Id".to_owned(), Value::String(id.clone()));
                        Some(record)
                    }
                    Write::Upsert { .. } => None,
                })
                .collect(),
        },
    }
}

/// A run of rounds whose writes failed and wait for a retry.
struct Episode {
    since_ms: i64,
    failed_writes: u64,
    failed_rounds: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_slow_down_as_the_daily_allocation_runs_low() {
        let normal = Duration::from_millis(250);
        assert_eq!(batch_window(None, normal), normal, "unknown usage");
        assert_eq!(batch_window(Some(0.5), normal), normal);
        assert_eq!(batch_window(Some(0.91), normal), Duration::from_secs(5));
        assert_eq!(batch_window(Some(0.99), normal), Duration::from_secs(30));
    }
}
