//! Loading a contact database from a CSV file (`ctibridge contacts import`).
//!
//! The file must start with a header row. Recognised columns (case-insensitive):
//! `clave_1` (also `clave1`, `clave`), `phone` (also `telefono`, `teléfono`), `name` (also
//! `nombre`). Every other column is kept, by its header name, in the contact's `extra` JSON
//! object (empty cells left out). A database keyed by Clave_1 needs a `clave_1` column (phone
//! optional); one keyed by phone needs a `phone` column and must not have a `clave_1` column,
//! since its Clave_1 is the phone number in E.164.
//!
//! Problems with the file as a whole (unreadable, no header, a missing or repeated column,
//! unknown database) import nothing. Problems with a row (empty key, invalid phone, wrong
//! number of fields, a key repeated in the file, bad UTF-8) reject that row with its line
//! number and, by default, the other rows are imported: a contact list exported from another
//! system usually has a few bad rows, and re-importing the fixed rows later is safe because a
//! key already present updates its contact instead of duplicating it. With
//! [`ImportOptions::all_or_nothing`] one rejected row imports nothing.
//!
//! Rows are written in transactions of [`BATCH_ROWS`] (one for the whole file when all or
//! nothing), so SQLite's write lock is never held long while calls are being answered.

use std::collections::HashMap;
use std::fmt;
use std::io::Read;

use indicatif::ProgressBar;

use super::ContactsError;
use super::directory::{ContactDirectory, KeyKind};
use super::phone;
use crate::store::now_millis;

/// Rows written per transaction.
pub const BATCH_ROWS: usize = 500;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportOptions {
    /// Import nothing when any row is rejected.
    pub all_or_nothing: bool,
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    pub database_id: i64,
    /// Contacts inserted.
    pub imported: u64,
    /// Contacts whose key was already in the database: phone, name and extra replaced.
    pub updated: u64,
    /// Rows not imported, in file order.
    pub rejected: Vec<Rejection>,
    /// False when nothing was written because of [`ImportOptions::all_or_nothing`].
    pub applied: bool,
}

/// A row that was not imported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// The row's line in the file (1 is the header).
    pub line: u64,
    pub problem: RowProblem,
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.problem)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RowProblem {
    #[error("empty {column}")]
    MissingKey { column: &'static str },
    #[error("invalid phone \"{input}\": {reason}")]
    InvalidPhone { input: String, reason: String },
    #[error("{found} fields, the header has {expected}")]
    FieldCount { expected: usize, found: usize },
    #[error("duplicate key \"{key}\" (first on line {first_line})")]
    DuplicateKey { key: String, first_line: u64 },
    #[error("column {column} is not valid UTF-8")]
    NotUtf8 { column: usize },
    #[error("malformed CSV: {0}")]
    Malformed(String),
    #[error(
        "a quote opened on this line is never closed: the {swallowed} line(s) after it would be \
         read as one field; close the quote (a quote inside a quoted field is written twice: \"\")"
    )]
    UnclosedQuote { swallowed: u64 },
    #[error("column {column} contains a control character (such as NUL)")]
    ControlCharacter { column: usize },
    #[error("column {column} is {length} characters long, at most {MAX_FIELD_CHARS} are accepted")]
    TooLong { column: usize, length: usize },
}

/// The longest field accepted, in characters: keys, names and other columns alike.
pub const MAX_FIELD_CHARS: usize = 1_000;

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The header row is missing or does not fit the database.
    #[error("{0}")]
    Header(String),
    #[error("cannot read the file: {0}")]
    Read(String),
    #[error(transparent)]
    Contacts(#[from] ContactsError),
}

impl From<sqlx::Error> for ImportError {
    fn from(e: sqlx::Error) -> Self {
        ImportError::Contacts(e.into())
    }
}

impl ImportError {
    /// Whether the input (file, database id) is at fault rather than the system.
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            ImportError::Header(_)
                | ImportError::Read(_)
                | ImportError::Contacts(ContactsError::UnknownDatabase(_))
        )
    }
}

/// Where each known column is.
#[derive(Debug)]
struct Columns {
    count: usize,
    clave_1: Option<usize>,
    phone: Option<usize>,
    name: Option<usize>,
    extra: Vec<(usize, String)>,
}

impl Columns {
    fn from_header(
        header: &csv::StringRecord,
        database_id: i64,
        kind: KeyKind,
    ) -> Result<Columns, ImportError> {
        let mut columns = Columns {
            count: header.len(),
            clave_1: None,
            phone: None,
            name: None,
            extra: Vec::new(),
        };
        let mut seen: HashMap<String, usize> = HashMap::new();
        for (i, raw) in header.iter().enumerate() {
            let title = raw.trim_start_matches('\u{feff}').trim();
            if title.is_empty() {
                return Err(ImportError::Header(format!(
                    "column {} of the header row has no name",
                    i + 1
                )));
            }
            let lowered = title.to_lowercase();
            let canonical = match lowered.as_str() {
                "clave_1" | "clave1" | "clave" => "clave_1",
                "phone" | "telefono" | "teléfono" => "phone",
                "name" | "nombre" => "name",
                other => other,
            };
            if let Some(first) = seen.insert(canonical.to_owned(), i) {
                return Err(ImportError::Header(format!(
                    "column `{canonical}` appears twice in the header row (columns {} and {})",
                    first + 1,
                    i + 1
                )));
            }
            match canonical {
                "clave_1" => columns.clave_1 = Some(i),
                "phone" => columns.phone = Some(i),
                "name" => columns.name = Some(i),
                _ => columns.extra.push((i, title.to_owned())),
            }
        }
        let found = || {
            header
                .iter()
                .map(|h| h.trim_start_matches('\u{feff}').trim())
                .collect::<Vec<_>>()
                .join(", ")
        };
        match kind {
            KeyKind::Clave1 if columns.clave_1.is_none() => Err(ImportError::Header(format!(
                "the header row has no `clave_1` column, which database {database_id} (keyed by \
                 Clave_1) needs; found: {}. The first line must name the columns, e.g. \
                 clave_1,phone,name",
                found()
            ))),
            KeyKind::Phone if columns.phone.is_none() => Err(ImportError::Header(format!(
                "the header row has no `phone` column, which database {database_id} (keyed by \
                 phone) needs; found: {}. The first line must name the columns, e.g. phone,name",
                found()
            ))),
            KeyKind::Phone if columns.clave_1.is_some() => Err(ImportError::Header(format!(
                "database {database_id} is keyed by phone: its Clave_1 is the phone number in \
                 E.164, so the file must not have a `clave_1` column"
            ))),
            _ => Ok(columns),
        }
    }
}

/// A row ready to write.
#[derive(Debug)]
struct ContactRow {
    clave_1: String,
    phone: Option<String>,
    name: Option<String>,
    extra: Option<String>,
}

/// Reads one data row, or says why it is rejected.
fn read_row(
    record: &csv::ByteRecord,
    columns: &Columns,
    kind: KeyKind,
    region: phone::Region,
) -> Result<ContactRow, RowProblem> {
    if record.len() != columns.count {
        return Err(RowProblem::FieldCount {
            expected: columns.count,
            found: record.len(),
        });
    }
    let field = |i: usize| -> Result<&str, RowProblem> {
        let text = std::str::from_utf8(&record[i])
            .map(str::trim)
            .map_err(|_| RowProblem::NotUtf8 { column: i + 1 })?;
        // Line breaks inside a quoted field (a name over two lines) and tabs are text; other
        // control characters are not.
        if text
            .chars()
            .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
        {
            return Err(RowProblem::ControlCharacter { column: i + 1 });
        }
        let length = text.chars().count();
        if length > MAX_FIELD_CHARS {
            return Err(RowProblem::TooLong {
                column: i + 1,
                length,
            });
        }
        Ok(text)
    };
    let optional = |i: Option<usize>| -> Result<Option<&str>, RowProblem> {
        match i {
            Some(i) => field(i).map(|v| Some(v).filter(|v| !v.is_empty())),
            None => Ok(None),
        }
    };
    let normalize = |input: &str| {
        phone::normalize(input, region).map_err(|e| RowProblem::InvalidPhone {
            input: e.input,
            reason: e.reason,
        })
    };
    let raw_phone = optional(columns.phone)?;
    let (clave_1, phone) = match kind {
        KeyKind::Clave1 => {
            let key = optional(columns.clave_1)?.ok_or(RowProblem::MissingKey { column: "clave_1" })?;
            (key.to_owned(), raw_phone.map(normalize).transpose()?)
        }
        KeyKind::Phone => {
            let e164 = normalize(raw_phone.ok_or(RowProblem::MissingKey { column: "phone" })?)?;
            (e164.clone(), Some(e164))
        }
    };
    let name = optional(columns.name)?.map(str::to_owned);
    let mut extra = serde_json::Map::new();
    for (i, title) in &columns.extra {
        let value = field(*i)?;
        if !value.is_empty() {
            extra.insert(title.clone(), serde_json::Value::String(value.to_owned()));
        }
    }
    let extra = (!extra.is_empty()).then(|| serde_json::Value::Object(extra).to_string());
    Ok(ContactRow {
        clave_1,
        phone,
        name,
        extra,
    })
}

/// Where the input's line feeds are, as far as the CSV reader has read: the reader's own line
/// count is the line after the previous record (off by one after a blank line, and for every
/// row of a CRLF file), so a rejected row's line is worked out from its end instead.
#[derive(Clone, Default)]
struct NewlineIndex {
    inner: std::sync::Arc<std::sync::Mutex<NewlineState>>,
}

#[derive(Default)]
struct NewlineState {
    /// Offsets of line feeds read ahead and not yet behind a record.
    pending: std::collections::VecDeque<u64>,
    /// Line feeds before the last record's end.
    counted: u64,
    /// Line feeds read so far.
    lines: u64,
    /// Bytes read so far, and whether the input has ended.
    read: u64,
    ended: bool,
    /// Where the CSV quoting stands after the bytes read (the csv crate's dialect: a quote
    /// opens a field only at its start; `""` inside a quoted field is a quote).
    quoting: Quoting,
    /// The line of the quote that opened the quoted field being read.
    open_quote_line: u64,
}

#[derive(Default, Clone, Copy, PartialEq, Eq)]
enum Quoting {
    #[default]
    FieldStart,
    Unquoted,
    Quoted,
    QuoteInQuoted,
}

impl NewlineState {
    fn advance(&mut self, byte: u8) {
        use Quoting::*;
        self.quoting = match (self.quoting, byte) {
            (FieldStart, b'"') => {
                self.open_quote_line = self.lines + 1;
                Quoted
            }
            (FieldStart | Unquoted | QuoteInQuoted, b',' | b'\n' | b'\r') => FieldStart,
            (FieldStart | Unquoted, _) => Unquoted,
            (Quoted, b'"') => QuoteInQuoted,
            (Quoted, _) => Quoted,
            (QuoteInQuoted, b'"') => Quoted,
            (QuoteInQuoted, _) => Unquoted,
        };
        if byte == b'\n' {
            self.lines += 1;
        }
    }
}

impl NewlineIndex {
    /// The line a record starts on, given the byte offset just past it (its terminator
    /// included for LF, the CR only for CRLF).
    fn first_line_of(&self, record: &csv::ByteRecord, end: u64) -> u64 {
        let mut state = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        // A line feed at `end - 1` terminates the record: its last line is the one before.
        while state.pending.front().is_some_and(|&at| at + 1 < end) {
            state.pending.pop_front();
            state.counted += 1;
        }
        let last_line = state.counted + 1;
        let inside = record.iter().flatten().filter(|&&b| b == b'\n').count() as u64;
        last_line.saturating_sub(inside).max(1)
    }

    /// When the record ending at `end` is the input's last and a quote left open runs to the
    /// end of the input: the line of that quote and how many lines follow it.
    fn unclosed_quote(&self, end: u64) -> Option<(u64, u64)> {
        let state = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let open = state.ended && end >= state.read && state.quoting == Quoting::Quoted;
        open.then(|| {
            let last_line = state.lines + 1;
            (
                state.open_quote_line,
                last_line.saturating_sub(state.open_quote_line),
            )
        })
    }
}

/// Passes the input through, noting where its line feeds are.
struct CountingReader<R> {
    inner: R,
    offset: u64,
    newlines: NewlineIndex,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut state = self.newlines.inner.lock().unwrap_or_else(|e| e.into_inner());
        for (i, &byte) in buf[..n].iter().enumerate() {
            if byte == b'\n' {
                state.pending.push_back(self.offset + i as u64);
            }
            state.advance(byte);
        }
        self.offset += n as u64;
        state.read = self.offset;
        if n == 0 && !buf.is_empty() {
            state.ended = true;
        }
        Ok(n)
    }
}

/// Imports the CSV `input` into database `database_id`. `progress` is advanced by the bytes
/// read (set its length to the file size for a percentage).
pub async fn import_csv<R: Read>(
    directory: &ContactDirectory,
    database_id: i64,
    input: R,
    options: ImportOptions,
    progress: &ProgressBar,
) -> Result<ImportReport, ImportError> {
    let database = directory.require_database(database_id).await?;
    let region = directory.default_country();
    let newlines = NewlineIndex::default();
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(CountingReader {
            inner: input,
            offset: 0,
            newlines: newlines.clone(),
        });
    let header = reader
        .headers()
        .map_err(|e| ImportError::Read(e.to_string()))?
        .clone();
    if header.is_empty() || (header.len() == 1 && header[0].trim().is_empty()) {
        return Err(ImportError::Header(
            "the file is empty: its first line must be a header row naming the columns, e.g. \
             clave_1,phone,name"
                .into(),
        ));
    }
    let columns = Columns::from_header(&header, database_id, database.key_kind)?;

    let mut report = ImportReport {
        database_id,
        applied: true,
        ..ImportReport::default()
    };
    let mut first_line_of: HashMap<String, u64> = HashMap::new();
    let mut batch: Vec<ContactRow> = Vec::with_capacity(BATCH_ROWS);
    let mut whole = if options.all_or_nothing {
        Some(directory.store().pool().begin().await?)
    } else {
        None
    };
    let now = now_millis();
    let mut record = csv::ByteRecord::new();
    let mut rows_read: u64 = 0;
    loop {
        let line = reader.position().line();
        match reader.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                if let csv::ErrorKind::Io(io) = e.kind() {
                    return Err(ImportError::Read(format!("line {line}: {io}")));
                }
                report.rejected.push(Rejection {
                    line,
                    problem: RowProblem::Malformed(e.to_string()),
                });
                continue;
            }
        }
        rows_read += 1;
        if rows_read.is_multiple_of(256) {
            progress.set_position(reader.position().byte());
        }
        let line = newlines.first_line_of(&record, reader.position().byte());
        if let Some((quote_line, swallowed)) = newlines.unclosed_quote(reader.position().byte()) {
            report.rejected.push(Rejection {
                line: quote_line,
                problem: RowProblem::UnclosedQuote { swallowed },
            });
            continue;
        }
        let row = match read_row(&record, &columns, database.key_kind, region) {
            Ok(row) => row,
            Err(problem) => {
                report.rejected.push(Rejection { line, problem });
                continue;
            }
        };
        if let Some(&first_line) = first_line_of.get(&row.clave_1) {
            report.rejected.push(Rejection {
                line,
                problem: RowProblem::DuplicateKey {
                    key: row.clave_1,
                    first_line,
                },
            });
            continue;
        }
        first_line_of.insert(row.clave_1.clone(), line);
        batch.push(row);
        if batch.len() == BATCH_ROWS {
            write_batch(directory, whole.as_mut(), database_id, &batch, now, &mut report).await?;
            batch.clear();
        }
    }
    if !batch.is_empty() {
        write_batch(directory, whole.as_mut(), database_id, &batch, now, &mut report).await?;
    }
    progress.set_position(reader.position().byte());
    if let Some(tx) = whole {
        if report.rejected.is_empty() {
            tx.commit().await?;
        } else {
            tx.rollback().await?;
            report.applied = false;
            report.imported = 0;
            report.updated = 0;
        }
    }
    Ok(report)
}

/// Writes `rows` in `whole` (all-or-nothing) or in a transaction of their own.
async fn write_batch(
    directory: &ContactDirectory,
    whole: Option<&mut sqlx::Transaction<'static, sqlx::Any>>,
    database_id: i64,
    rows: &[ContactRow],
    now: i64,
    report: &mut ImportReport,
) -> Result<(), ImportError> {
    match whole {
        Some(tx) => write_rows(tx, database_id, rows, now, report).await,
        None => {
            let mut tx = directory.store().pool().begin().await?;
            let mut counts = ImportReport::default();
            write_rows(&mut tx, database_id, rows, now, &mut counts).await?;
            tx.commit().await?;
            // Counted only once committed.
            report.imported += counts.imported;
            report.updated += counts.updated;
            Ok(())
        }
    }
}

async fn write_rows(
    conn: &mut sqlx::AnyConnection,
    database_id: i64,
    rows: &[ContactRow],
    now: i64,
    report: &mut ImportReport,
) -> Result<(), ImportError> {
    for row in rows {
        let inserted: Option<i64> = sqlx::query_scalar(
            "INSERT INTO contacts (database_id, clave_1, phone, name, extra, created_at_ms, updated_at_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $6) \
             ON CONFLICT (database_id, clave_1) DO NOTHING RETURNING id",
        )
        .bind(database_id)
        .bind(row.clave_1.as_str())
        .bind(row.phone.as_deref())
        .bind(row.name.as_deref())
        .bind(row.extra.as_deref())
        .bind(now)
        .fetch_optional(&mut *conn)
        .await?;
        if inserted.is_some() {
            report.imported += 1;
        } else {
            sqlx::query(
                "UPDATE contacts SET phone = $3, name = $4, extra = $5, updated_at_ms = $6 \
                 WHERE database_id = $1 AND clave_1 = $2",
            )
            .bind(database_id)
            .bind(row.clave_1.as_str())
            .bind(row.phone.as_deref())
            .bind(row.name.as_deref())
            .bind(row.extra.as_deref())
            .bind(now)
            .execute(&mut *conn)
            .await?;
            report.updated += 1;
        }
    }
    Ok(())
}
