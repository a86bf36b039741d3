//! The Asterisk Manager Interface (AMI) wire codec: an incremental decoder of the banner and of
//! `Key: value` messages, action encoding that refuses line injection, and event-list collection.
//!
//! The protocol as Asterisk 22 speaks it (see the recordings in `tests/fixtures/asterisk-ami/`):
//! - the connection opens with one banner line, `Asterisk Call Manager/11.0.0\r\n`, with no blank
//!   line after it;
//! - every later line is `Key: value\r\n` and a blank line ends a message; keys repeat
//!   (`Variable`, `ChanVariable`), so a [`Message`] keeps ordered pairs, not a map;
//! - the first header tells the kind: `Response:` answers an action (correlated by `ActionID`),
//!   `Event:` is an event; `OriginateResponse` is an *event* that also carries `Response:`;
//! - `Command` output arrives as repeated `Output:` headers since Asterisk 14; the old
//!   `Response: Follows` block of raw lines ending in `--END COMMAND--` is gone, so a line
//!   without a colon is a protocol error here ([`CodecError::MalformedLine`]), never a
//!   continuation;
//! - list actions answer `Response: Success` + `EventList: start`, then item events carrying the
//!   same `ActionID`, then an event with `EventList: Complete` and `ListItems: n`, whose name
//!   does not always follow the action's (`Hangup` ends with `ChannelsHungupListComplete`):
//!   [`EventListCollector`] gathers them by `ActionID`.

use std::collections::HashMap;
use std::fmt;

/// The product name that starts the banner line.
const BANNER_PREFIX: &str = "Asterisk Call Manager/";

/// Errors of the incoming byte stream. After every error but [`CodecError::Truncated`] the
/// decoder has already dropped the offending message and resumes at the next blank line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// A line (without its line end) is longer than [`DecoderLimits::max_line_len`]; `len` is
    /// how much of it had arrived when it was refused, so at least `limit + 1`.
    #[error("AMI line of at least {len} bytes exceeds the {limit}-byte limit; message dropped")]
    LineTooLong { len: usize, limit: usize },
    /// A message has more than [`DecoderLimits::max_headers`] headers.
    #[error("AMI message has more than {limit} headers; message dropped")]
    TooManyHeaders { limit: usize },
    /// A line with no colon, or with nothing before it: Asterisk 22 never sends one.
    #[error("AMI line is not `Key: value`: {line:?}; message dropped")]
    MalformedLine { line: String },
    /// The stream ended inside a message: the headers that had arrived and the length of an
    /// unterminated last line.
    #[error(
        "AMI connection closed mid-message after {} headers and {unterminated_bytes} bytes of an \
         unterminated line",
        partial.len()
    )]
    Truncated {
        partial: Message,
        unterminated_bytes: usize,
    },
}

/// Where an outgoing header is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderPart {
    Key,
    Value,
}

impl fmt::Display for HeaderPart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HeaderPart::Key => "key",
            HeaderPart::Value => "value",
        })
    }
}

/// Refusals of [`Action::encode`] and [`Message::encode`]; nothing is written when one occurs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// A CR or LF would end the line early and let the rest pass as headers of its own
    /// (injection of e.g. `Action: Originate`).
    #[error("AMI header {key:?}: its {part} contains a line break ({byte:?})")]
    LineBreak {
        key: String,
        part: HeaderPart,
        byte: char,
    },
    /// An empty key, or one with a colon, would not read back as the same header.
    #[error("AMI header key {key:?} is empty or contains a colon")]
    InvalidKey { key: String },
    /// `Action` and `ActionID` are set by [`Action::new`] and [`Action::with_action_id`]; a second
    /// copy would be ignored by Asterisk, which reads the first.
    #[error("AMI header {key:?} is reserved; set it through Action::new or Action::with_action_id")]
    ReservedKey { key: String },
    #[error("AMI action name is empty")]
    EmptyActionName,
}

/// An AMI message: ordered `(key, value)` headers; keys compare case-insensitively on lookup,
/// as Asterisk's own `astman_get_header` does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Message {
    headers: Vec<(String, String)>,
}

/// What a message is, from its first header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    Response,
    Event,
    Action,
    Other,
}

/// The `EventList:` header of a list's opening response or closing event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListMarker {
    Start,
    Complete,
    Cancelled,
}

impl Message {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn from_headers(headers: Vec<(String, String)>) -> Self {
        Self { headers }
    }

    /// Builder form of [`Message::push`].
    pub fn with(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.push(key, value);
        self
    }

    pub fn push(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.headers.push((key.into(), value.into()));
    }

    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    pub fn into_headers(self) -> Vec<(String, String)> {
        self.headers
    }

    pub fn len(&self) -> usize {
        self.headers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.headers.is_empty()
    }

    /// The value of the first header named `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }

    /// The values of every header named `key`, in wire order.
    pub fn get_all<'a, 'k>(&'a self, key: &'k str) -> impl Iterator<Item = &'a str> + use<'a, 'k> {
        self.headers
            .iter()
            .filter(move |(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }

    /// The `NAME=value` entries of a repeated header such as `ChanVariable`, `DestChanVariable`
    /// or `Variable`, split at the first `=`; an entry without one has an empty value.
    pub fn variables<'a, 'k>(
        &'a self,
        key: &'k str,
    ) -> impl Iterator<Item = (&'a str, &'a str)> + use<'a, 'k> {
        self.get_all(key)
            .map(|entry| entry.split_once('=').unwrap_or((entry, "")))
    }

    /// The kind named by the first header. `OriginateResponse` is an [`MessageKind::Event`]
    /// although it also carries `Response: Success|Failure`.
    pub fn kind(&self) -> MessageKind {
        match self.headers.first() {
            Some((k, _)) if k.eq_ignore_ascii_case("Response") => MessageKind::Response,
            Some((k, _)) if k.eq_ignore_ascii_case("Event") => MessageKind::Event,
            Some((k, _)) if k.eq_ignore_ascii_case("Action") => MessageKind::Action,
            _ => MessageKind::Other,
        }
    }

    pub fn action_id(&self) -> Option<&str> {
        self.get("ActionID")
    }

    /// The `Event:` value of an event (see [`Message::kind`]).
    pub fn event_name(&self) -> Option<&str> {
        match self.kind() {
            MessageKind::Event => self.get("Event"),
            _ => None,
        }
    }

    /// The `Response:` value of a response (`Success`, `Error`, `Goodbye`); `None` for events,
    /// including `OriginateResponse` (read its `Response` header with [`Message::get`]).
    pub fn response(&self) -> Option<&str> {
        match self.kind() {
            MessageKind::Response => self.get("Response"),
            _ => None,
        }
    }

    /// The `EventList:` marker; Asterisk writes `start`, `Complete` and `cancelled`.
    pub fn list_marker(&self) -> Option<ListMarker> {
        let value = self.get("EventList")?;
        if value.eq_ignore_ascii_case("start") {
            Some(ListMarker::Start)
        } else if value.eq_ignore_ascii_case("Complete") {
            Some(ListMarker::Complete)
        } else if value.eq_ignore_ascii_case("cancelled") {
            Some(ListMarker::Cancelled)
        } else {
            None
        }
    }

    /// Encodes as Asterisk does: `Key: value\r\n` lines and a blank line (for a test double).
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::new();
        self.encode_into(&mut out)?;
        Ok(out)
    }

    /// Appends the encoding to `out`; on a refusal `out` is left unchanged.
    pub fn encode_into(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        for (key, value) in &self.headers {
            check_header(key, value)?;
        }
        write_message(out, self.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        Ok(())
    }
}

/// An action to send: `Action:` first, then `ActionID:`, then the headers in the order given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Action {
    name: String,
    action_id: Option<String>,
    headers: Vec<(String, String)>,
}

impl Action {
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            action_id: None,
            headers: Vec::new(),
        }
    }

    pub fn with_action_id(mut self, action_id: impl Into<String>) -> Self {
        self.action_id = Some(action_id.into());
        self
    }

    /// Adds a header; repeat a key (e.g. `Variable`) to send it several times.
    pub fn header(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((key.into(), value.into()));
        self
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn action_id(&self) -> Option<&str> {
        self.action_id.as_deref()
    }

    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// Checks every header without encoding.
    pub fn validate(&self) -> Result<(), EncodeError> {
        if self.name.is_empty() {
            return Err(EncodeError::EmptyActionName);
        }
        check_header("Action", &self.name)?;
        if let Some(id) = &self.action_id {
            check_header("ActionID", id)?;
        }
        for (key, value) in &self.headers {
            if key.eq_ignore_ascii_case("Action") || key.eq_ignore_ascii_case("ActionID") {
                return Err(EncodeError::ReservedKey { key: key.clone() });
            }
            check_header(key, value)?;
        }
        Ok(())
    }

    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::new();
        self.encode_into(&mut out)?;
        Ok(out)
    }

    /// Appends the encoding to `out`; on a refusal `out` is left unchanged.
    pub fn encode_into(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        self.validate()?;
        let first = std::iter::once(("Action", self.name.as_str()));
        let id = self.action_id.as_deref().map(|id| ("ActionID", id));
        let rest = self.headers.iter().map(|(k, v)| (k.as_str(), v.as_str()));
        write_message(out, first.chain(id).chain(rest));
        Ok(())
    }

    /// The action as a [`Message`], as Asterisk would read it.
    pub fn to_message(&self) -> Message {
        let mut message = Message::new().with("Action", self.name.clone());
        if let Some(id) = &self.action_id {
            message.push("ActionID", id.clone());
        }
        for (key, value) in &self.headers {
            message.push(key.clone(), value.clone());
        }
        message
    }
}

fn check_header(key: &str, value: &str) -> Result<(), EncodeError> {
    if let Some(byte) = key.chars().find(|c| matches!(c, '\r' | '\n')) {
        return Err(EncodeError::LineBreak {
            key: key.to_owned(),
            part: HeaderPart::Key,
            byte,
        });
    }
    if key.is_empty() || key.contains(':') {
        return Err(EncodeError::InvalidKey { key: key.to_owned() });
    }
    if let Some(byte) = value.chars().find(|c| matches!(c, '\r' | '\n')) {
        return Err(EncodeError::LineBreak {
            key: key.to_owned(),
            part: HeaderPart::Value,
            byte,
        });
    }
    Ok(())
}

fn write_message<'a>(out: &mut Vec<u8>, headers: impl Iterator<Item = (&'a str, &'a str)>) {
    for (key, value) in headers {
        out.extend_from_slice(key.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// The manager protocol version of the banner, e.g. `11.0.0` for Asterisk 22 (not Asterisk's
/// own version). A missing part reads as 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AmiVersion {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl fmt::Display for AmiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// The banner line, `Asterisk Call Manager/11.0.0`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Banner {
    /// The whole line without its line end.
    pub line: String,
    /// `None` when the part after `/` is not `x`, `x.y` or `x.y.z` of decimal numbers.
    pub version: Option<AmiVersion>,
}

impl Banner {
    fn parse(line: String) -> Self {
        let version = line.strip_prefix(BANNER_PREFIX).and_then(parse_version);
        Self { line, version }
    }
}

fn parse_version(text: &str) -> Option<AmiVersion> {
    let mut parts = text.split('.');
    let mut next = |required: bool| match parts.next() {
        Some(part) => part.parse::<u32>().ok(),
        None if required => None,
        None => Some(0),
    };
    let version = AmiVersion {
        major: next(true)?,
        minor: next(false)?,
        patch: next(false)?,
    };
    parts.next().is_none().then_some(version)
}

/// One unit of the incoming stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    Banner(Banner),
    Message(Message),
}

/// Bounds on what the decoder keeps: at most about `max_line_len × max_headers` bytes for the
/// message being read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecoderLimits {
    /// Longest line accepted, without its line end.
    pub max_line_len: usize,
    /// Most headers accepted in one message (the recorded events carry at most 36).
    pub max_headers: usize,
}

impl Default for DecoderLimits {
    fn default() -> Self {
        Self {
            max_line_len: 64 * 1024,
            max_headers: 1024,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before the first line of the connection, which may be the banner.
    Start,
    /// Reading headers (none yet when between messages).
    Headers,
    /// Dropping the rest of a refused message up to its blank line; `mid_line` when the bytes
    /// of an unfinished line were already dropped, so the next line end does not end a blank
    /// line.
    Skipping { mid_line: bool },
}

/// An incremental AMI decoder for one connection: [`Decoder::feed`] bytes as they arrive, in
/// chunks split anywhere, then call [`Decoder::next_frame`] until it returns `Ok(None)`.
///
/// Lines end in `\r\n` (what Asterisk sends) or a bare `\n`. Bytes that are not UTF-8 are
/// replaced with U+FFFD. A value is what follows the first colon and one space, if any.
/// At the end of the connection, [`Decoder::finish`] tells whether it stopped mid-message.
#[derive(Debug)]
pub struct Decoder {
    limits: DecoderLimits,
    buf: Vec<u8>,
    /// Bytes of `buf` before this offset are consumed.
    start: usize,
    /// Bytes from `start` known to hold no `\n`, so a line fed byte by byte is scanned once.
    scanned: usize,
    state: State,
    headers: Vec<(String, String)>,
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Decoder {
    pub fn new() -> Self {
        Self::with_limits(DecoderLimits::default())
    }

    pub fn with_limits(limits: DecoderLimits) -> Self {
        Self {
            limits,
            buf: Vec::new(),
            start: 0,
            scanned: 0,
            state: State::Start,
            headers: Vec::new(),
        }
    }

    pub fn limits(&self) -> DecoderLimits {
        self.limits
    }

    pub fn feed(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes fed but not yet consumed.
    pub fn buffered_len(&self) -> usize {
        self.buf.len() - self.start
    }

    /// The next complete frame, `Ok(None)` when more bytes are needed, or an error for a
    /// refused message, after which decoding may simply continue.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, CodecError> {
        loop {
            let pending = &self.buf[self.start..];
            let Some(newline) = pending[self.scanned..].iter().position(|&b| b == b'\n') else {
                return self.await_more();
            };
            let end = self.scanned + newline;
            let line_start = self.start;
            self.start += end + 1;
            self.scanned = 0;
            let raw = &self.buf[line_start..line_start + end];
            let line = raw.strip_suffix(b"\r").unwrap_or(raw);

            if let State::Skipping { mid_line } = self.state {
                if line.is_empty() && !mid_line {
                    self.state = State::Headers;
                } else {
                    self.state = State::Skipping { mid_line: false };
                }
                continue;
            }
            if line.len() > self.limits.max_line_len {
                let len = line.len();
                return Err(self.refuse(CodecError::LineTooLong {
                    len,
                    limit: self.limits.max_line_len,
                }));
            }
            if self.state == State::Start {
                self.state = State::Headers;
                if line.starts_with(BANNER_PREFIX.as_bytes()) {
                    let banner = Banner::parse(String::from_utf8_lossy(line).into_owned());
                    self.compact();
                    return Ok(Some(Frame::Banner(banner)));
                }
            }
            if line.is_empty() {
                // A stray blank line between messages is harmless; skip it.
                if self.headers.is_empty() {
                    continue;
                }
                let message = Message::from_headers(std::mem::take(&mut self.headers));
                self.compact();
                return Ok(Some(Frame::Message(message)));
            }
            let header = match line.iter().position(|&b| b == b':') {
                Some(colon) if colon > 0 => {
                    // Asterisk writes exactly one space; more belong to the value (`Output:`
                    // lines of CLI tables).
                    let value = &line[colon + 1..];
                    let value = value.strip_prefix(b" ").unwrap_or(value);
                    Some((
                        String::from_utf8_lossy(&line[..colon]).into_owned(),
                        String::from_utf8_lossy(value).into_owned(),
                    ))
                }
                _ => None,
            };
            let Some(header) = header else {
                let line = String::from_utf8_lossy(line).into_owned();
                return Err(self.refuse(CodecError::MalformedLine { line }));
            };
            if self.headers.len() >= self.limits.max_headers {
                return Err(self.refuse(CodecError::TooManyHeaders {
                    limit: self.limits.max_headers,
                }));
            }
            self.headers.push(header);
        }
    }

    /// Ends the connection: `Err(Truncated)` if it stopped inside a message. Call it once
    /// [`Decoder::next_frame`] has returned `Ok(None)`. The decoder is then ready for a new
    /// connection, banner first.
    pub fn finish(&mut self) -> Result<(), CodecError> {
        let unterminated_bytes = self.buffered_len();
        let in_message = !self.headers.is_empty() || unterminated_bytes > 0;
        let skipping = matches!(self.state, State::Skipping { .. });
        let partial = Message::from_headers(std::mem::take(&mut self.headers));
        self.buf.clear();
        self.start = 0;
        self.scanned = 0;
        self.state = State::Start;
        // A message already refused was reported when it was refused.
        if in_message && !skipping {
            return Err(CodecError::Truncated {
                partial,
                unterminated_bytes,
            });
        }
        Ok(())
    }

    /// No line end in the buffer: wait for more bytes, refusing a line that is already too long
    /// so that memory stays bounded.
    fn await_more(&mut self) -> Result<Option<Frame>, CodecError> {
        if matches!(self.state, State::Skipping { .. }) {
            self.drop_unfinished_line();
            return Ok(None);
        }
        let pending = self.buf.len() - self.start;
        self.scanned = pending;
        // A trailing `\r` may begin the line end, so it does not count yet.
        let content = pending - usize::from(pending > 0 && self.buf.last() == Some(&b'\r'));
        if content > self.limits.max_line_len {
            let error = CodecError::LineTooLong {
                len: content,
                limit: self.limits.max_line_len,
            };
            self.headers.clear();
            self.state = State::Skipping { mid_line: false };
            self.drop_unfinished_line();
            return Err(error);
        }
        self.compact();
        Ok(None)
    }

    /// While skipping, drops the unfinished line at the end of the buffer, but keeps a last
    /// `\r` that may begin the `\r\n` of the blank line being looked for.
    fn drop_unfinished_line(&mut self) {
        let pending = self.buf.len() - self.start;
        let keep = usize::from(pending > 0 && self.buf.last() == Some(&b'\r'));
        let dropped = pending - keep;
        self.start += dropped;
        self.scanned = keep;
        if dropped > 0 {
            self.state = State::Skipping { mid_line: true };
        }
        self.compact();
    }

    /// Drops the message being read and skips to its blank line.
    fn refuse(&mut self, error: CodecError) -> CodecError {
        self.headers.clear();
        self.state = State::Skipping { mid_line: false };
        self.compact();
        error
    }

    fn compact(&mut self) {
        // Moving the unconsumed tail costs at most one line, so doing it often is cheap enough.
        if self.start > 0 && (self.start == self.buf.len() || self.start >= self.buf.len() / 2) {
            self.buf.drain(..self.start);
            self.start = 0;
        }
    }
}

/// A finished event list: the opening response, the item events, and the closing event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventList {
    pub action_id: String,
    /// `Response: Success` with `EventList: start` and a `Message:` such as `Queue status will
    /// follow`.
    pub response: Message,
    /// The events in between, in order; they may be of several names (`QueueParams`,
    /// `QueueMember`, `QueueEntry` for `QueueStatus`).
    pub items: Vec<Message>,
    /// The event with `EventList: Complete` (or `cancelled`) and `ListItems:`.
    pub end: Message,
}

impl EventList {
    /// Whether the list ended with `EventList: cancelled` rather than `Complete`.
    pub fn is_cancelled(&self) -> bool {
        self.end.list_marker() == Some(ListMarker::Cancelled)
    }

    /// The closing event's `ListItems:` count, which counts every item event.
    pub fn declared_items(&self) -> Option<usize> {
        self.end.get("ListItems")?.trim().parse().ok()
    }
}

/// What [`EventListCollector::offer`] did with a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Collected {
    /// It opened a list or was an item of one; nothing to do yet.
    Consumed,
    /// It closed a list.
    Finished(EventList),
    /// It belongs to no open list: handle it as usual (unsolicited events interleave with
    /// list items, and carry no `ActionID`).
    Passed(Message),
}

#[derive(Debug, Clone)]
struct OpenList {
    response: Message,
    items: Vec<Message>,
}

/// Gathers event lists by `ActionID`: a message with `EventList: start` opens one, messages
/// with its `ActionID` are its items, and one with `EventList: Complete` or `cancelled` closes it.
/// Lists whose actions were sent without an `ActionID` cannot be told apart and pass through.
#[derive(Debug, Clone, Default)]
pub struct EventListCollector {
    open: HashMap<String, OpenList>,
}

impl EventListCollector {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn offer(&mut self, message: Message) -> Collected {
        let Some(action_id) = message.action_id().filter(|id| !id.is_empty()).map(str::to_owned) else {
            return Collected::Passed(message);
        };
        match message.list_marker() {
            // A reused ActionID replaces a list that never ended.
            Some(ListMarker::Start) => {
                self.open.insert(
                    action_id,
                    OpenList {
                        response: message,
                        items: Vec::new(),
                    },
                );
                Collected::Consumed
            }
            Some(ListMarker::Complete | ListMarker::Cancelled) => match self.open.remove(&action_id) {
                Some(list) => Collected::Finished(EventList {
                    action_id,
                    response: list.response,
                    items: list.items,
                    end: message,
                }),
                None => Collected::Passed(message),
            },
            None => match self.open.get_mut(&action_id) {
                Some(list) => {
                    list.items.push(message);
                    Collected::Consumed
                }
                None => Collected::Passed(message),
            },
        }
    }

    pub fn is_open(&self, action_id: &str) -> bool {
        self.open.contains_key(action_id)
    }

    pub fn open_count(&self) -> usize {
        self.open.len()
    }

    /// Gives up on a list (timeout, reconnection), returning its response and items so far.
    pub fn abandon(&mut self, action_id: &str) -> Option<(Message, Vec<Message>)> {
        self.open
            .remove(action_id)
            .map(|list| (list.response, list.items))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    // ---- The recordings in `tests/fixtures/asterisk-ami/` -----------------------------------

    /// The recorded sessions, kept with the test fixtures (`tests/fixtures/asterisk-ami/`): the
    /// codec's ground truth.
    fn recordings_dir() -> PathBuf {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/asterisk-ami");
        assert!(
            dir.join("README.md").is_file(),
            "the AMI recordings are missing: expected {}",
            dir.display()
        );
        dir
    }

    fn recording_names() -> Vec<String> {
        let entries = std::fs::read_dir(recordings_dir()).expect("read the recordings directory");
        let mut names: Vec<String> = entries
            .map(|entry| {
                entry
                    .expect("list the recordings")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .filter(|name| name.ends_with(".txt"))
            .collect();
        names.sort();
        assert!(names.len() >= 12, "expected the 12 recordings, found {names:?}");
        names
    }

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Direction {
        Sent,
        Received,
    }

    /// One recorded conversation, split into its blocks as the README describes: each block
    /// follows a `# +SECONDS sent|received` line that ends in a bare `\n`, unlike the wire's
    /// `\r\n` lines.
    struct Recording {
        name: String,
        blocks: Vec<(Direction, Vec<u8>)>,
    }

    impl Recording {
        fn load(name: &str) -> Self {
            let path = recordings_dir().join(name);
            let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
            let mut blocks: Vec<(Direction, Vec<u8>)> = Vec::new();
            for line in bytes.split_inclusive(|&b| b == b'\n') {
                let comment = line.starts_with(b"# +") && !line.ends_with(b"\r\n");
                if comment {
                    let direction = if line.ends_with(b" sent\n") {
                        Direction::Sent
                    } else if line.ends_with(b" received\n") {
                        Direction::Received
                    } else {
                        panic!(
                            "{name}: unexpected comment line {:?}",
                            String::from_utf8_lossy(line)
                        );
                    };
                    blocks.push((direction, Vec::new()));
                } else {
                    let (_, block) = blocks
                        .last_mut()
                        .unwrap_or_else(|| panic!("{name}: data before a comment"));
                    block.extend_from_slice(line);
                }
            }
            Self {
                name: name.to_owned(),
                blocks,
            }
        }

        fn bytes(&self, direction: Direction) -> Vec<u8> {
            self.blocks
                .iter()
                .filter(|(d, _)| *d == direction)
                .flat_map(|(_, b)| b.clone())
                .collect()
        }

        fn received(&self) -> Vec<u8> {
            self.bytes(Direction::Received)
        }

        /// The banner and messages Asterisk sent, asserting the stream decodes without error.
        fn decode_received(&self) -> (Banner, Vec<Message>) {
            let mut frames = decode_ok(&self.received(), &self.name).into_iter();
            let Some(Frame::Banner(banner)) = frames.next() else {
                panic!("{}: the first frame is not the banner", self.name);
            };
            let messages = frames
                .map(|frame| match frame {
                    Frame::Message(message) => message,
                    Frame::Banner(_) => panic!("{}: a second banner", self.name),
                })
                .collect();
            (banner, messages)
        }

        fn sent_actions(&self) -> Vec<Message> {
            decode_ok(&self.bytes(Direction::Sent), &self.name)
                .into_iter()
                .map(|frame| match frame {
                    Frame::Message(message) => message,
                    Frame::Banner(_) => panic!("{}: a banner among the sent bytes", self.name),
                })
                .collect()
        }
    }

    /// Every result of decoding `chunks` in order, then of `finish`.
    fn decode_chunks<'a>(
        decoder: &mut Decoder,
        chunks: impl IntoIterator<Item = &'a [u8]>,
    ) -> Vec<Result<Frame, CodecError>> {
        let mut results = Vec::new();
        for chunk in chunks {
            decoder.feed(chunk);
            loop {
                match decoder.next_frame() {
                    Ok(Some(frame)) => results.push(Ok(frame)),
                    Ok(None) => break,
                    Err(error) => results.push(Err(error)),
                }
            }
        }
        if let Err(error) = decoder.finish() {
            results.push(Err(error));
        }
        results
    }

    fn decode(bytes: &[u8]) -> Vec<Result<Frame, CodecError>> {
        decode_chunks(&mut Decoder::new(), [bytes])
    }

    fn decode_ok(bytes: &[u8], context: &str) -> Vec<Frame> {
        decode(bytes)
            .into_iter()
            .map(|result| result.unwrap_or_else(|e| panic!("{context}: {e}")))
            .collect()
    }

    fn messages(bytes: &[u8]) -> Vec<Message> {
        decode_ok(bytes, "input")
            .into_iter()
            .filter_map(|frame| match frame {
                Frame::Message(message) => Some(message),
                Frame::Banner(_) => None,
            })
            .collect()
    }

    fn events<'a>(messages: &'a [Message], name: &'a str) -> impl Iterator<Item = &'a Message> {
        messages.iter().filter(move |m| m.event_name() == Some(name))
    }

    fn by_action_id<'a>(messages: &'a [Message], id: &str) -> Vec<&'a Message> {
        messages.iter().filter(|m| m.action_id() == Some(id)).collect()
    }

    const ASTERISK_22: AmiVersion = AmiVersion {
        major: 11,
        minor: 0,
        patch: 0,
    };

    #[test]
    fn every_recording_decodes_in_full_and_reencodes_byte_for_byte() {
        let expected_messages = [
            ("chanspy_listen_and_whisper.txt", 228),
            ("confbridge.txt", 85),
            ("hangup_action.txt", 38),
            ("inbound_abandoned_waiting.txt", 87),
            ("inbound_answered.txt", 172),
            ("inbound_ring_no_answer.txt", 142),
            ("inbound_then_attended_transfer.txt", 198),
            ("inbound_then_blind_transfer_and_dtmf.txt", 187),
            ("login_and_ping.txt", 5),
            ("login_ok_and_fail.txt", 1),
            ("originate_outbound.txt", 45),
            ("queue_member_lifecycle.txt", 26),
        ];
        let names = recording_names();
        for (name, _) in expected_messages {
            assert!(names.iter().any(|n| n == name), "recording {name} is missing");
        }
        for name in &names {
            let recording = Recording::load(name);
            let (banner, messages) = recording.decode_received();
            assert_eq!(banner.line, "Asterisk Call Manager/11.0.0", "{name}");
            assert_eq!(banner.version, Some(ASTERISK_22), "{name}");
            if let Some((_, count)) = expected_messages.iter().find(|(n, _)| n == name) {
                assert_eq!(messages.len(), *count, "{name}: messages");
            }
            // Every message is a response or an event, never a colon-less line or an action.
            for message in &messages {
                assert!(
                    matches!(message.kind(), MessageKind::Response | MessageKind::Event),
                    "{message:?}"
                );
            }
            // Nothing lost or altered: the frames re-encode to the very bytes received.
            let mut reencoded = format!("{}\r\n", banner.line).into_bytes();
            for message in &messages {
                message
                    .encode_into(&mut reencoded)
                    .expect("re-encode a received message");
            }
            assert!(reencoded == recording.received(), "{name}: re-encoding differs");
        }
    }

    #[test]
    fn recorded_actions_are_what_the_action_builder_encodes() {
        for name in recording_names() {
            let recording = Recording::load(&name);
            let sent: Vec<&Vec<u8>> = recording
                .blocks
                .iter()
                .filter(|(d, _)| *d == Direction::Sent)
                .map(|(_, b)| b)
                .collect();
            let actions = recording.sent_actions();
            assert_eq!(actions.len(), sent.len(), "{name}: one action per sent block");
            for (message, bytes) in actions.iter().zip(sent) {
                assert_eq!(message.kind(), MessageKind::Action, "{name}");
                let mut headers = message.headers().iter();
                let (_, action_name) = headers.next().expect("the Action header");
                let (id_key, id) = headers.next().expect("the ActionID header");
                assert_eq!(id_key, "ActionID", "{name}: the recorder sends ActionID second");
                let action = headers.fold(Action::new(action_name).with_action_id(id), |action, (k, v)| {
                    action.header(k, v)
                });
                assert_eq!(action.to_message(), *message, "{name}");
                let encoded = action.encode().expect("encode a recorded action");
                assert!(
                    encoded == *bytes,
                    "{name}: {:?} != {:?}",
                    String::from_utf8_lossy(&encoded),
                    String::from_utf8_lossy(bytes)
                );
            }
        }
    }

    #[test]
    fn every_action_gets_exactly_one_response_with_its_action_id() {
        let mut pairs = 0;
        for name in recording_names() {
            let recording = Recording::load(&name);
            let (_, received) = recording.decode_received();
            let sent = recording.sent_actions();
            let ids: Vec<&str> = sent.iter().map(|m| m.action_id().expect("an ActionID")).collect();
            for id in &ids {
                let responses: Vec<&Message> = by_action_id(&received, id)
                    .into_iter()
                    .filter(|m| m.kind() == MessageKind::Response)
                    .collect();
                assert_eq!(responses.len(), 1, "{name}: responses to {id}");
                pairs += 1;
            }
            for response in received.iter().filter(|m| m.kind() == MessageKind::Response) {
                let id = response
                    .action_id()
                    .expect("a response to an action with an ActionID has it");
                assert!(ids.contains(&id), "{name}: response to an unsent {id}");
                assert!(
                    matches!(response.response(), Some("Success" | "Error" | "Goodbye")),
                    "{response:?}"
                );
            }
        }
        assert!(pairs >= 90, "only {pairs} action/response pairs");
    }

    #[test]
    fn login_ping_unknown_action_and_logoff() {
        let (_, m) = Recording::load("login_and_ping.txt").decode_received();
        let login = by_action_id(&m, "login-1");
        assert_eq!(login[0].response(), Some("Success"));
        assert_eq!(login[0].get("Message"), Some("Authentication accepted"));
        let booted = events(&m, "FullyBooted").next().expect("FullyBooted");
        assert_eq!(booted.get("Status"), Some("Fully Booted"));
        assert_eq!(booted.action_id(), None);
        let ping = by_action_id(&m, "ping-2");
        assert_eq!(ping[0].get("Ping"), Some("Pong"));
        assert_eq!(ping[0].get("timestamp"), Some("1795949098.654781"));
        let unknown = by_action_id(&m, "nosuchaction-3");
        assert_eq!(unknown[0].response(), Some("Error"));
        assert_eq!(
            unknown[0].get("Message"),
            Some(
                "Invalid/unknown command: NoSuchAction. Use Action: ListCommands to show available commands."
            )
        );
        let logoff = by_action_id(&m, "logoff-4");
        assert_eq!(logoff[0].response(), Some("Goodbye"));
        assert_eq!(logoff[0].get("Message"), Some("Thanks for all the fish."));

        let (_, m) = Recording::load("login_ok_and_fail.txt").decode_received();
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].response(), Some("Error"));
        assert_eq!(m[0].get("Message"), Some("Authentication failed"));
    }

    #[test]
    fn event_counts_per_recording() {
        let expected: &[(&str, &[(&str, usize)])] = &[
            (
                "inbound_answered.txt",
                &[
                    ("AgentCalled", 1),
                    ("AgentConnect", 1),
                    ("AgentComplete", 1),
                    ("QueueCallerJoin", 1),
                    ("QueueCallerLeave", 1),
                    ("VarSet", 88),
                    ("Newchannel", 4),
                    ("Hangup", 4),
                    ("BridgeEnter", 2),
                ],
            ),
            (
                "inbound_ring_no_answer.txt",
                &[
                    ("AgentCalled", 2),
                    ("AgentRingNoAnswer", 1),
                    ("QueueCallerAbandon", 1),
                    ("DialEnd", 5),
                ],
            ),
            (
                "inbound_abandoned_waiting.txt",
                &[("QueueCallerAbandon", 1), ("AgentCalled", 0)],
            ),
            (
                "originate_outbound.txt",
                &[
                    ("OriginateResponse", 1),
                    ("DialBegin", 1),
                    ("DialEnd", 1),
                    ("CoreShowChannel", 2),
                ],
            ),
            (
                "inbound_then_blind_transfer_and_dtmf.txt",
                &[("DTMFBegin", 3), ("DTMFEnd", 3), ("BlindTransfer", 1)],
            ),
            (
                "inbound_then_attended_transfer.txt",
                &[("DTMFEnd", 12), ("DTMFBegin", 0), ("CoreShowChannel", 8)],
            ),
            (
                "chanspy_listen_and_whisper.txt",
                &[("ChanSpyStart", 2), ("ChanSpyStop", 2), ("OriginateResponse", 3)],
            ),
            (
                "confbridge.txt",
                &[
                    ("ConfbridgeStart", 1),
                    ("ConfbridgeJoin", 2),
                    ("ConfbridgeList", 2),
                    ("ConfbridgeLeave", 2),
                    ("ConfbridgeEnd", 1),
                ],
            ),
            (
                "queue_member_lifecycle.txt",
                &[
                    ("QueueMemberAdded", 1),
                    ("QueueMemberPause", 2),
                    ("QueueMemberRemoved", 1),
                ],
            ),
        ];
        for (name, counts) in expected {
            let (_, m) = Recording::load(name).decode_received();
            for (event, count) in *counts {
                assert_eq!(events(&m, event).count(), *count, "{name}: {event}");
            }
        }
    }

    #[test]
    fn agent_called_names_the_queue_member_and_both_channels() {
        let (_, m) = Recording::load("inbound_answered.txt").decode_received();
        let called = events(&m, "AgentCalled").next().expect("AgentCalled");
        assert_eq!(called.get("Privilege"), Some("agent,all"));
        assert_eq!(called.get("Queue"), Some("salesforce"));
        assert_eq!(called.get("Interface"), Some("Local/1001@agents/n"));
        assert_eq!(called.get("MemberName"), Some("agent1"));
        assert_eq!(called.get("Channel"), Some("Local/s@customer-00000013;1"));
        assert_eq!(called.get("DestChannel"), Some("Local/1001@agents-00000014;1"));
        assert_eq!(called.get("CallerIDNum"), Some("1155551001"));
        assert_eq!(called.get("CallerIDName"), Some("Ana Garcia"));
        assert_eq!(called.get("Uniqueid"), Some("1795949106.38"));
        assert_eq!(called.get("DestUniqueid"), Some("1795949106.40"));
        assert_eq!(
            called.get("AccountCode"),
            Some(""),
            "an empty value is `Key: ` on the wire"
        );
        // manager.conf sets no `channelvars`, so the dialplan's variables travel only in VarSet
        // events, not as ChanVariable headers.
        assert_eq!(called.get_all("ChanVariable").count(), 0);
        assert_eq!(called.get_all("DestChanVariable").count(), 0);
        let clavesf: Vec<&Message> = events(&m, "VarSet")
            .filter(|e| e.get("Variable") == Some("__CLAVESF"))
            .collect();
        assert_eq!(clavesf.len(), 3);
        assert!(clavesf.iter().all(|e| e.get("Value") == Some("1234-31987456")));
        assert_eq!(clavesf[0].get("Channel"), Some("Local/s@customer-00000013;1"));

        let connect = events(&m, "AgentConnect").next().expect("AgentConnect");
        assert_eq!(
            (connect.get("HoldTime"), connect.get("RingTime")),
            (Some("1"), Some("1"))
        );
        let complete = events(&m, "AgentComplete").next().expect("AgentComplete");
        assert_eq!(
            (complete.get("TalkTime"), complete.get("Reason")),
            (Some("6"), Some("agent"))
        );

        // RingNoAnswer's RingTime is in milliseconds, AgentConnect's in seconds.
        let (_, m) = Recording::load("inbound_ring_no_answer.txt").decode_received();
        let no_answer = events(&m, "AgentRingNoAnswer").next().expect("AgentRingNoAnswer");
        assert_eq!(no_answer.get("Interface"), Some("Local/1002@agents/n"));
        assert_eq!(no_answer.get("RingTime"), Some("8000"));
        let abandon = events(&m, "QueueCallerAbandon")
            .next()
            .expect("QueueCallerAbandon");
        assert_eq!(abandon.get("HoldTime"), Some("12"));
    }

    #[test]
    fn originate_is_acknowledged_then_reported_by_an_event_with_the_same_action_id() {
        let (_, m) = Recording::load("originate_outbound.txt").decode_received();
        let related = by_action_id(&m, "originate-2");
        assert_eq!(related.len(), 2);
        assert_eq!(related[0].kind(), MessageKind::Response);
        assert_eq!(related[0].get("Message"), Some("Originate successfully queued"));
        // The outcome comes later as an event that also carries `Response:`.
        let outcome = related[1];
        assert_eq!(outcome.kind(), MessageKind::Event);
        assert_eq!(outcome.event_name(), Some("OriginateResponse"));
        assert_eq!(outcome.response(), None);
        assert_eq!(outcome.get("Response"), Some("Success"));
        assert_eq!(outcome.get("Reason"), Some("4"));
        assert_eq!(outcome.get("Channel"), Some("Local/1003@agents-00000019;1"));
        assert_eq!(outcome.get("Uniqueid"), Some("1795949150.50"));
        let response_at = m.iter().position(|x| x == related[0]).expect("the response");
        let dial_end_at = m
            .iter()
            .position(|x| x.event_name() == Some("DialEnd"))
            .expect("DialEnd");
        let outcome_at = m.iter().position(|x| x == outcome).expect("the event");
        assert!(response_at < dial_end_at && dial_end_at < outcome_at);
        // A bad destination is refused at once, and no OriginateResponse follows.
        let refused = by_action_id(&m, "originate-4");
        assert_eq!(refused.len(), 1);
        assert_eq!(refused[0].response(), Some("Error"));
        assert_eq!(refused[0].get("Message"), Some("Extension does not exist."));
    }

    #[test]
    fn queue_status_list_is_collected_to_its_complete_event() {
        let (_, m) = Recording::load("queue_member_lifecycle.txt").decode_received();
        let mut collector = EventListCollector::new();
        let mut lists = Vec::new();
        let mut passed = 0;
        for message in m {
            match collector.offer(message) {
                Collected::Consumed => {}
                Collected::Finished(list) => lists.push(list),
                Collected::Passed(_) => passed += 1,
            }
        }
        assert_eq!(collector.open_count(), 0);
        assert_eq!(passed, 26 - 3 - 2 * 2);
        let status = &lists[0];
        assert_eq!(status.action_id, "queuestatus-6");
        assert_eq!(status.response.get("Message"), Some("Queue status will follow"));
        let names: Vec<_> = status.items.iter().filter_map(Message::event_name).collect();
        assert_eq!(names, ["QueueParams", "QueueMember"]);
        assert_eq!(status.items[0].get("Strategy"), Some("leastrecent"));
        assert_eq!(status.items[1].get("Location"), Some("Local/1001@agents/n"));
        assert_eq!(status.items[1].get("PausedReason"), Some("Descanso"));
        assert_eq!(status.end.event_name(), Some("QueueStatusComplete"));
        assert_eq!(status.declared_items(), Some(2));
        assert!(!status.is_cancelled());
        let summary = &lists[1];
        assert_eq!(summary.action_id, "queuesummary-8");
        assert_eq!(summary.items.len(), 1);
        assert_eq!(summary.items[0].get("LoggedIn"), Some("1"));
        assert_eq!(summary.end.event_name(), Some("QueueSummaryComplete"));
        assert_eq!(lists.len(), 2);
    }

    #[test]
    fn every_recorded_list_ends_with_its_declared_item_count() {
        let mut ends = Vec::new();
        for name in recording_names() {
            let (_, m) = Recording::load(&name).decode_received();
            let mut collector = EventListCollector::new();
            for message in m {
                if let Collected::Finished(list) = collector.offer(message) {
                    assert_eq!(
                        list.declared_items(),
                        Some(list.items.len()),
                        "{name}: {}",
                        list.action_id
                    );
                    assert!(
                        list.items
                            .iter()
                            .all(|i| i.kind() == MessageKind::Event && i.list_marker().is_none())
                    );
                    ends.push(format!(
                        "{}:{}",
                        list.end.event_name().unwrap_or("?"),
                        list.items.len()
                    ));
                }
            }
            assert_eq!(collector.open_count(), 0, "{name}: a list never ended");
        }
        ends.sort();
        let count = |prefix: &str| ends.iter().filter(|e| e.starts_with(prefix)).count();
        assert_eq!(count("CoreShowChannelsComplete:"), 5);
        assert_eq!(
            count("ChannelsHungupListComplete:"),
            9,
            "Hangup of /.*/ answers with a list"
        );
        assert!(ends.contains(&"ConfbridgeListComplete:2".to_owned()));
        assert!(ends.contains(&"ConfbridgeListRoomsComplete:1".to_owned()));
        assert!(ends.contains(&"CoreShowChannelsComplete:4".to_owned()));
    }

    #[test]
    fn collector_passes_interleaved_unsolicited_events_and_unrelated_messages() {
        let mut collector = EventListCollector::new();
        let start = Message::new()
            .with("Response", "Success")
            .with("ActionID", "c-1")
            .with("EventList", "start");
        assert_eq!(collector.offer(start), Collected::Consumed);
        assert!(collector.is_open("c-1"));
        let unsolicited = Message::new()
            .with("Event", "Newstate")
            .with("Channel", "PJSIP/1001-0000000a");
        assert_eq!(
            collector.offer(unsolicited.clone()),
            Collected::Passed(unsolicited)
        );
        let other = Message::new()
            .with("Response", "Success")
            .with("ActionID", "ping-9");
        assert_eq!(collector.offer(other.clone()), Collected::Passed(other));
        let item = Message::new()
            .with("Event", "CoreShowChannel")
            .with("ActionID", "c-1");
        assert_eq!(collector.offer(item.clone()), Collected::Consumed);
        let stray_end = Message::new()
            .with("Event", "XComplete")
            .with("ActionID", "c-2")
            .with("EventList", "Complete");
        assert_eq!(collector.offer(stray_end.clone()), Collected::Passed(stray_end));
        let end = Message::new()
            .with("Event", "CoreShowChannelsComplete")
            .with("ActionID", "c-1")
            .with("EventList", "cancelled");
        let Collected::Finished(list) = collector.offer(end) else {
            panic!("the list should end")
        };
        assert!(list.is_cancelled());
        assert_eq!(list.items, [item]);
        assert_eq!(list.declared_items(), None);
        assert_eq!(collector.open_count(), 0);

        let start = Message::new()
            .with("Response", "Success")
            .with("ActionID", "q")
            .with("EventList", "start");
        collector.offer(start.clone());
        assert_eq!(collector.abandon("q"), Some((start, Vec::new())));
        assert_eq!(collector.abandon("q"), None);
    }

    // ---- Chunking, line ends, limits, recovery -------------------------------------------

    #[test]
    fn every_split_point_of_a_recording_gives_the_same_frames() {
        let bytes = Recording::load("queue_member_lifecycle.txt").received();
        let whole = decode(&bytes);
        assert_eq!(whole.len(), 27);
        for split in 0..=bytes.len() {
            let (a, b) = bytes.split_at(split);
            assert!(
                decode_chunks(&mut Decoder::new(), [a, b]) == whole,
                "split at {split}"
            );
        }
    }

    #[test]
    fn byte_by_byte_feeding_gives_the_same_frames() {
        let bytes = Recording::load("inbound_answered.txt").received();
        let whole = decode(&bytes);
        assert_eq!(decode_chunks(&mut Decoder::new(), bytes.chunks(1)), whole);
        assert_eq!(decode_chunks(&mut Decoder::new(), bytes.chunks(7)), whole);
    }

    #[test]
    fn bare_lf_line_ends_are_accepted() {
        let bytes = Recording::load("originate_outbound.txt").received();
        let lf: Vec<u8> = bytes.iter().copied().filter(|&b| b != b'\r').collect();
        assert_eq!(decode(&lf), decode(&bytes));
        let mixed = b"Event: A\nKey: 1\r\n\nEvent: B\r\n\r\n";
        let m = messages(mixed);
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].get("Key"), Some("1"));
    }

    #[test]
    fn a_megabyte_line_is_refused_once_and_the_next_message_decodes() {
        let mut input = b"Event: Big\r\nData: ".to_vec();
        input.extend(std::iter::repeat_n(b'x', 1 << 20));
        input.extend_from_slice(b"\r\nMore: junk\r\n\r\nEvent: Next\r\nActionID: n-1\r\n\r\n");
        for chunk in [input.len(), 4096, 1000, 3] {
            let mut decoder = Decoder::new();
            let results = decode_chunks(&mut decoder, input.chunks(chunk));
            assert_eq!(
                results.len(),
                2,
                "chunks of {chunk}: {:?}",
                results.iter().map(|r| r.is_ok()).collect::<Vec<_>>()
            );
            let Err(CodecError::LineTooLong { len, limit }) = &results[0] else {
                panic!("chunks of {chunk}: {:?}", results[0]);
            };
            assert_eq!(*limit, 64 * 1024);
            assert!(*len > *limit);
            let Ok(Frame::Message(next)) = &results[1] else {
                panic!("{:?}", results[1])
            };
            assert_eq!((next.event_name(), next.action_id()), (Some("Next"), Some("n-1")));
        }
    }

    #[test]
    fn an_unfinished_long_line_is_refused_before_its_end_arrives() {
        let limits = DecoderLimits {
            max_line_len: 100,
            ..DecoderLimits::default()
        };
        let mut decoder = Decoder::with_limits(limits);
        decoder.feed(b"Event: X\r\nData: ");
        for _ in 0..1000 {
            decoder.feed(&[b'y'; 50]);
            match decoder.next_frame() {
                Ok(None) | Err(CodecError::LineTooLong { .. }) => {}
                other => panic!("{other:?}"),
            }
            assert!(
                decoder.buffered_len() <= 150,
                "memory stays bounded: {}",
                decoder.buffered_len()
            );
        }
        // The end of the long line is not taken for the blank line that ends the message.
        decoder.feed(b"\r\n\r\nEvent: After\r\n\r\n");
        let frame = decoder.next_frame();
        assert!(
            matches!(&frame, Ok(Some(Frame::Message(m))) if m.event_name() == Some("After")),
            "{frame:?}"
        );
        assert_eq!(decoder.next_frame(), Ok(None));
        assert_eq!(decoder.finish(), Ok(()));
    }

    #[test]
    fn a_dropped_line_ending_in_cr_is_not_taken_for_a_blank_line() {
        let limits = DecoderLimits {
            max_line_len: 4,
            ..DecoderLimits::default()
        };
        let mut decoder = Decoder::with_limits(limits);
        decoder.feed(b"Event: Long\r");
        assert_eq!(
            decoder.next_frame(),
            Err(CodecError::LineTooLong { len: 11, limit: 4 })
        );
        for chunk in [&b"\n"[..], b"A: 1\r", b"\n", b"\r", b"\n", b"E: 2\r\n\r\n"] {
            decoder.feed(chunk);
            if let Some(frame) = decoder.next_frame().expect("no second error") {
                assert_eq!(frame, Frame::Message(Message::new().with("E", "2")));
                return;
            }
        }
        panic!("the message after the blank line was not decoded");
    }

    #[test]
    fn too_many_headers_drops_that_message_only() {
        let limits = DecoderLimits {
            max_headers: 3,
            ..DecoderLimits::default()
        };
        let input = b"Event: A\r\nB: 1\r\nC: 2\r\n\r\n\
                      Event: Z\r\nB: 1\r\nC: 2\r\nD: 3\r\nE: 4\r\n\r\n\
                      Event: Ok\r\n\r\n";
        let results = decode_chunks(&mut Decoder::with_limits(limits), [&input[..]]);
        assert_eq!(results.len(), 3);
        assert!(matches!(&results[0], Ok(Frame::Message(m)) if m.len() == 3));
        assert_eq!(results[1], Err(CodecError::TooManyHeaders { limit: 3 }));
        assert!(matches!(&results[2], Ok(Frame::Message(m)) if m.event_name() == Some("Ok")));
    }

    #[test]
    fn a_line_without_a_colon_is_an_error_and_drops_its_message() {
        // What a pre-14 `Response: Follows` block looked like: raw lines, then `--END COMMAND--`.
        let input = b"Response: Follows\r\nPrivilege: Command\r\nNo such command\n--END COMMAND--\r\n\r\n\
                      : no key\r\n\r\nResponse: Success\r\nActionID: 2\r\n\r\n";
        let results = decode(input);
        assert_eq!(
            results,
            [
                Err(CodecError::MalformedLine {
                    line: "No such command".into()
                }),
                Err(CodecError::MalformedLine {
                    line: ": no key".into()
                }),
                Ok(Frame::Message(
                    Message::new().with("Response", "Success").with("ActionID", "2")
                )),
            ]
        );
    }

    #[test]
    fn command_output_arrives_as_repeated_output_headers() {
        // Asterisk 14+ `Command` (refused under the recorded permissions): `Output:` lines.
        let input = b"Response: Success\r\nActionID: cmd-1\r\nMessage: Command output follows\r\n\
                      Output: Name/username   Host\r\nOutput:   1 sip peers: x\r\nOutput: \r\n\r\n";
        let m = messages(input);
        let output: Vec<&str> = m[0].get_all("output").collect();
        assert_eq!(output, ["Name/username   Host", "  1 sip peers: x", ""]);
    }

    #[test]
    fn a_connection_cut_mid_message_is_reported_by_finish() {
        let bytes = Recording::load("login_and_ping.txt").received();
        let cut = bytes.windows(9).position(|w| w == b"Uptime: 1").expect("Uptime") + 9;
        let results = decode(&bytes[..cut]);
        assert_eq!(results.len(), 3);
        assert!(matches!(results[0], Ok(Frame::Banner(_))));
        let Err(CodecError::Truncated {
            partial,
            unterminated_bytes,
        }) = &results[2]
        else {
            panic!("{:?}", results[2]);
        };
        assert_eq!(partial.event_name(), Some("FullyBooted"));
        assert_eq!(partial.len(), 2);
        assert_eq!(*unterminated_bytes, 9);

        // Cut after the last header but before the blank line: still truncated.
        let results = decode(b"Event: A\r\nB: 1\r\n");
        assert_eq!(
            results,
            [Err(CodecError::Truncated {
                partial: Message::new().with("Event", "A").with("B", "1"),
                unterminated_bytes: 0
            })]
        );
        // Cut between messages: clean.
        let mut decoder = Decoder::new();
        assert_eq!(decode_chunks(&mut decoder, [&bytes[..]]).len(), 6);
        // After finish the decoder expects a new connection's banner.
        assert!(matches!(
            decode_chunks(&mut decoder, [&bytes[..]])[0],
            Ok(Frame::Banner(_))
        ));
    }

    #[test]
    fn the_banner_is_only_the_first_line() {
        let m = decode(b"Asterisk Call Manager/1.1\r\nAsterisk Call Manager/2.0.0\r\n\r\n");
        let Ok(Frame::Banner(banner)) = &m[0] else {
            panic!("{m:?}")
        };
        assert_eq!(
            banner.version,
            Some(AmiVersion {
                major: 1,
                minor: 1,
                patch: 0
            })
        );
        assert_eq!(banner.version.map(|v| v.to_string()), Some("1.1.0".to_owned()));
        assert!(matches!(&m[1], Err(CodecError::MalformedLine { .. })));
        // A stream without a banner (a test double, a proxy) starts with a message.
        let m = messages(b"Event: X\r\n\r\n");
        assert_eq!(m[0].event_name(), Some("X"));
        let odd = decode(b"Asterisk Call Manager/11.x\n");
        assert_eq!(
            odd,
            [Ok(Frame::Banner(Banner {
                line: "Asterisk Call Manager/11.x".into(),
                version: None
            }))]
        );
        assert_eq!(parse_version("11.0.0.1"), None);
        assert_eq!(
            parse_version("13"),
            Some(AmiVersion {
                major: 13,
                minor: 0,
                patch: 0
            })
        );
    }

    #[test]
    fn stray_blank_lines_and_value_spacing() {
        let m = messages(
            b"\r\n\r\nEvent: A\r\nKey:value\r\nSpaced:  two\r\nTrailing: t \r\nColons: a: b\r\n\r\n\n",
        );
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].get("Key"), Some("value"));
        assert_eq!(m[0].get("Spaced"), Some(" two"));
        assert_eq!(m[0].get("Trailing"), Some("t "));
        assert_eq!(m[0].get("Colons"), Some("a: b"));
    }

    #[test]
    fn unknown_events_pass_through_as_messages() {
        let input = b"Event: SomethingNew2030\r\nPrivilege: call,all\r\nFoo: bar\r\n\r\n";
        let m = messages(input);
        assert_eq!(m[0].kind(), MessageKind::Event);
        assert_eq!(m[0].event_name(), Some("SomethingNew2030"));
        assert_eq!(m[0].get("FOO"), Some("bar"));
        assert_eq!(
            EventListCollector::new().offer(m[0].clone()),
            Collected::Passed(m[0].clone())
        );
        let other = messages(b"Unusual: 1\r\n\r\n");
        assert_eq!(other[0].kind(), MessageKind::Other);
        assert_eq!(other[0].event_name(), None);
    }

    #[test]
    fn non_utf8_bytes_are_replaced_never_fatal() {
        let input = b"Event: VarSet\r\nValue: caf\xe9 \xff\xfe\r\n\xc3\x28: x\r\n\r\n";
        let m = messages(input);
        assert_eq!(m[0].get("Value"), Some("caf\u{fffd} \u{fffd}\u{fffd}"));
        assert_eq!(m[0].headers()[2].0, "\u{fffd}(");
        // A UTF-8 character split across two chunks is decoded whole.
        let name = "CallerIDName: Ana García\r\n\r\n".as_bytes();
        let split = name.iter().position(|&b| b == 0xc3).expect("the í") + 1;
        let frames = decode_chunks(&mut Decoder::new(), [&name[..split], &name[split..]]);
        assert_eq!(
            frames,
            [Ok(Frame::Message(
                Message::new().with("CallerIDName", "Ana García")
            ))]
        );
    }

    // ---- Messages and actions -----------------------------------------------------------

    #[test]
    fn repeated_headers_keep_their_order_and_split_as_variables() {
        // What AgentCalled carries once manager.conf lists `channelvars = CLAVESF,DATA`.
        let called = Message::new()
            .with("Event", "AgentCalled")
            .with("Channel", "PJSIP/trunk-0000000b")
            .with("ChanVariable", "CLAVESF=1234-31987456")
            .with("ChanVariable", "DATA=a=b")
            .with("DestChannel", "PJSIP/1001-0000000c")
            .with("DestChanVariable", "CLAVESF=1234-31987456")
            .with("Queue", "salesforce");
        assert_eq!(
            called.get_all("chanvariable").collect::<Vec<_>>(),
            ["CLAVESF=1234-31987456", "DATA=a=b"]
        );
        assert_eq!(
            called.variables("ChanVariable").collect::<Vec<_>>(),
            [("CLAVESF", "1234-31987456"), ("DATA", "a=b")]
        );
        assert_eq!(called.variables("DestChanVariable").count(), 1);
        assert_eq!(called.get("CHANNEL"), Some("PJSIP/trunk-0000000b"));
        assert_eq!(called.get("Missing"), None);
        let action = Message::new().with("Variable", "NOEQUALS");
        assert_eq!(
            action.variables("Variable").collect::<Vec<_>>(),
            [("NOEQUALS", "")]
        );
    }

    #[test]
    fn action_encoding_matches_the_wire_format() {
        let action = Action::new("Originate")
            .with_action_id("originate-2")
            .header("Channel", "PJSIP/1003")
            .header("Variable", "CTI_CALL_ID=out-1")
            .header("Variable", "CLAVESF=1234");
        assert_eq!(action.name(), "Originate");
        assert_eq!(action.action_id(), Some("originate-2"));
        assert_eq!(action.headers().len(), 3);
        assert_eq!(
            action.encode(),
            Ok(
                b"Action: Originate\r\nActionID: originate-2\r\nChannel: PJSIP/1003\r\n\
                 Variable: CTI_CALL_ID=out-1\r\nVariable: CLAVESF=1234\r\n\r\n"
                    .to_vec()
            )
        );
        assert_eq!(Action::new("Ping").encode(), Ok(b"Action: Ping\r\n\r\n".to_vec()));
        assert_eq!(
            messages(&action.encode().unwrap_or_default()),
            [action.to_message()]
        );
        assert_eq!(action.to_message().kind(), MessageKind::Action);
    }

    #[test]
    fn line_breaks_and_bad_keys_are_refused_naming_the_key() {
        let injected = Action::new("QueueAdd")
            .with_action_id("q-1")
            .header("Queue", "salesforce")
            .header("Interface", "PJSIP/1001\r\nAction: Originate");
        assert_eq!(
            injected.encode(),
            Err(EncodeError::LineBreak {
                key: "Interface".into(),
                part: HeaderPart::Value,
                byte: '\r'
            })
        );
        let message = injected.encode().err().map(|e| e.to_string()).unwrap_or_default();
        assert!(
            message.contains("\"Interface\"") && message.contains("value"),
            "{message}"
        );
        let mut out = b"kept".to_vec();
        assert!(injected.encode_into(&mut out).is_err());
        assert_eq!(out, b"kept", "nothing is written on a refusal");

        let cases = [
            (
                Action::new("Ping").header("Bad\nKey", "v"),
                EncodeError::LineBreak {
                    key: "Bad\nKey".into(),
                    part: HeaderPart::Key,
                    byte: '\n',
                },
            ),
            (
                Action::new("Ping").header("Reason", "lunch\n"),
                EncodeError::LineBreak {
                    key: "Reason".into(),
                    part: HeaderPart::Value,
                    byte: '\n',
                },
            ),
            (
                Action::new("Ping\r\nAction: Logoff"),
                EncodeError::LineBreak {
                    key: "Action".into(),
                    part: HeaderPart::Value,
                    byte: '\r',
                },
            ),
            (
                Action::new("Ping").with_action_id("x\ny"),
                EncodeError::LineBreak {
                    key: "ActionID".into(),
                    part: HeaderPart::Value,
                    byte: '\n',
                },
            ),
            (
                Action::new("Ping").header("", "v"),
                EncodeError::InvalidKey { key: String::new() },
            ),
            (
                Action::new("Ping").header("A:B", "v"),
                EncodeError::InvalidKey { key: "A:B".into() },
            ),
            (
                Action::new("Ping").header("actionid", "2"),
                EncodeError::ReservedKey {
                    key: "actionid".into(),
                },
            ),
            (
                Action::new("Ping").header("Action", "Logoff"),
                EncodeError::ReservedKey { key: "Action".into() },
            ),
            (Action::new(""), EncodeError::EmptyActionName),
        ];
        for (action, error) in cases {
            assert_eq!(action.encode(), Err(error), "{action:?}");
        }
        let reply = Message::new().with("Response", "Success").with("Message", "a\rb");
        assert_eq!(
            reply.encode(),
            Err(EncodeError::LineBreak {
                key: "Message".into(),
                part: HeaderPart::Value,
                byte: '\r'
            })
        );
    }

    #[test]
    fn kinds_and_accessors() {
        let response = Message::new()
            .with("Response", "Error")
            .with("ActionID", "h-5")
            .with("Message", "No such channel");
        assert_eq!(response.kind(), MessageKind::Response);
        assert_eq!(
            (response.response(), response.action_id(), response.event_name()),
            (Some("Error"), Some("h-5"), None)
        );
        let list = Message::new()
            .with("Event", "QueueStatusComplete")
            .with("EventList", "Complete");
        assert_eq!(list.list_marker(), Some(ListMarker::Complete));
        assert_eq!(
            Message::new().with("EventList", "START").list_marker(),
            Some(ListMarker::Start)
        );
        assert_eq!(Message::new().with("EventList", "other").list_marker(), None);
        assert_eq!(Message::new().kind(), MessageKind::Other);
        assert!(Message::new().is_empty());
        let headers = vec![("Event".to_owned(), "X".to_owned())];
        assert_eq!(Message::from_headers(headers.clone()).into_headers(), headers);
        assert_eq!(
            Decoder::default().limits(),
            DecoderLimits {
                max_line_len: 65536,
                max_headers: 1024
            }
        );
    }
}
