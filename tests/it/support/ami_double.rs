//! An AMI test double that speaks exactly what the recorded Asterisk 22 sessions show
//! (`tests/fixtures/asterisk-ami/`): the banner, and for every action a client sends that a
//! recording also sent (same action and headers, `ActionID` aside), the blocks Asterisk sent
//! back until the recorder's next action — responses, list items and the unsolicited events of
//! that stretch — byte for byte, with the client's `ActionID` in place of the recorded one.
//! An action no recording sent gets the answer Asterisk's source documents for it (a few
//! actions the recordings lack: `Getvar` of `DEVICE_STATE`, `CancelAtxfer`, `Redirect`, …),
//! else Asterisk's answer to an unknown action.
//!
//! The test can also push raw bytes (malformed input), drop every connection, refuse new ones,
//! and read the actions received.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use ctibridge::telephony::asterisk::codec::{Decoder, Frame, Message};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::broadcast;

/// One recorded action and what Asterisk sent after it, up to the next action.
#[derive(Debug, Clone)]
struct Step {
    action: Message,
    action_id: String,
    received: Vec<Vec<u8>>,
}

/// A recording: its banner and its steps.
#[derive(Debug, Clone)]
pub struct Recording {
    banner: Vec<u8>,
    steps: Vec<Step>,
}

pub fn recordings_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/asterisk-ami")
}

impl Recording {
    /// Loads `name` (`inbound_answered`, …).
    pub fn load(name: &str) -> Recording {
        let path = recordings_dir().join(format!("{name}.txt"));
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        // Blocks follow comment lines `# +SECONDS sent|received\n`.
        let mut blocks: Vec<(bool, Vec<u8>)> = Vec::new();
        let mut rest = &bytes[..];
        while !rest.is_empty() {
            assert!(rest.starts_with(b"# +"), "{name}: expected a comment line");
            let end = rest.iter().position(|&b| b == b'\n').expect("comment line end");
            let sent = std::str::from_utf8(&rest[..end]).unwrap().ends_with("sent");
            rest = &rest[end + 1..];
            let next = find(rest, b"\n# +").map_or(rest.len(), |i| i + 1);
            blocks.push((sent, rest[..next].to_vec()));
            rest = &rest[next..];
        }
        let mut blocks = blocks.into_iter();
        let (_, banner) = blocks.next().expect("the banner");
        let mut steps: Vec<Step> = Vec::new();
        for (sent, block) in blocks {
            if sent {
                let action = parse(&block);
                let action_id = action.get("ActionID").unwrap_or_default().to_owned();
                steps.push(Step {
                    action,
                    action_id,
                    received: Vec::new(),
                });
            } else if let Some(step) = steps.last_mut() {
                step.received.push(block);
            }
        }
        Recording { banner, steps }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn parse(block: &[u8]) -> Message {
    let mut decoder = Decoder::new();
    // Not a banner: the decoder takes the first line as one only if it looks like one.
    decoder.feed(block);
    match decoder.next_frame() {
        Ok(Some(Frame::Message(m))) => m,
        other => panic!("a recorded action: {other:?}"),
    }
}

/// The variable that carries ctibridge's call id: its value differs from the recording's and
/// is replaced in what the double sends back, like the `ActionID`.
const CALL_ID_VARIABLE: &str = "CTI_CALL_ID=";

/// The headers that identify an action: all but `ActionID` and the call id's value, keys
/// case-insensitive, in any order.
fn signature(message: &Message) -> Vec<(String, String)> {
    let mut headers: Vec<(String, String)> = message
        .headers()
        .iter()
        .filter(|(k, _)| !k.eq_ignore_ascii_case("ActionID"))
        .map(|(k, v)| match v.strip_prefix(CALL_ID_VARIABLE) {
            Some(_) if k.eq_ignore_ascii_case("Variable") => {
                (k.to_ascii_lowercase(), CALL_ID_VARIABLE.to_owned())
            }
            _ => (k.to_ascii_lowercase(), v.clone()),
        })
        .collect();
    headers.sort();
    headers
}

/// The call id an action carries, if any.
fn call_id_of(message: &Message) -> Option<String> {
    message
        .get_all("Variable")
        .find_map(|v| v.strip_prefix(CALL_ID_VARIABLE))
        .map(str::to_owned)
}

/// The recordings' phones (`config/extensions.conf`, context `agents`).
const RECORDED_DEVICES: [&str; 4] = ["1001", "1002", "1003", "1100"];

/// Asterisk's answer to an action the recordings never sent, as its source writes it
/// (`main/manager.c`, `apps/app_confbridge.c`): a success where the recordings' Asterisk
/// would have succeeded. Events that would follow are for the test to push.
fn documented_answer(action: &Message, id: &str) -> Option<String> {
    let ack = |message: &str| format!("Response: Success\r\nActionID: {id}\r\nMessage: {message}\r\n\r\n");
    match action.get("Action")? {
        // Getvar of a function without a channel: `Variable:` and `Value:` after the ack.
        "Getvar" => {
            let variable = action.get("Variable")?;
            let interface = variable.strip_prefix("DEVICE_STATE(")?.strip_suffix(')')?;
            let known = RECORDED_DEVICES.iter().any(|d| {
                interface == format!("Local/{d}@agents/n") || interface == format!("Local/{d}@agents")
            });
            let state = if known { "NOT_INUSE" } else { "INVALID" };
            Some(format!(
                "Response: Success\r\nActionID: {id}\r\nVariable: {variable}\r\nValue: {state}\r\n\r\n"
            ))
        }
        // A queue the recordings' queues.conf lacks: an empty list (app_queue's status list).
        "QueueStatus" if action.get("Queue").is_some_and(|q| q != "salesforce") => Some(format!(
            "Response: Success\r\nActionID: {id}\r\nEventList: start\r\nMessage: Queue status will follow\r\n\r\n\
             Event: QueueStatusComplete\r\nActionID: {id}\r\nEventList: Complete\r\nListItems: 0\r\n\r\n"
        )),
        // An asynchronous Originate into the shipped dialplan's queues context (the
        // recordings' Asterisk had none): queued; what follows is for the test to push.
        "Originate" if action.get("Context") == Some("queues") => Some(ack("Originate successfully queued")),
        "CancelAtxfer" => Some(ack("CancelAtxfer successfully queued")),
        "BlindTransfer" => Some(ack("Transfer succeeded")),
        "Atxfer" => Some(ack("Atxfer successfully queued")),
        "Redirect" if action.get("ExtraChannel").is_some() => Some(ack("Dual Redirect successful")),
        "Redirect" => Some(ack("Redirect successful")),
        "ConfbridgeKick" => Some(ack("User kicked")),
        _ => None,
    }
}

/// Replaces every `from` by `to` in `block`.
fn replace_all(block: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(block.len());
    let mut rest = block;
    while let Some(at) = find(rest, from) {
        out.extend_from_slice(&rest[..at]);
        out.extend_from_slice(to);
        rest = &rest[at + from.len()..];
    }
    out.extend_from_slice(rest);
    out
}

struct State {
    steps: Vec<(Step, bool)>,
    received: Vec<Message>,
    /// Actions no recording sent (answered as unknown commands).
    unmatched: Vec<Message>,
    accepting: bool,
    /// Answers the test wrote for actions no recording sent (`{id}`: the ActionID).
    scripted: std::collections::HashMap<String, String>,
}

/// The running double.
#[derive(Clone)]
pub struct AmiDouble {
    pub port: u16,
    banner: Vec<u8>,
    state: Arc<Mutex<State>>,
    /// Raw bytes to push to every connection, or `None` to drop them.
    control: broadcast::Sender<Option<Vec<u8>>>,
}

impl AmiDouble {
    /// Serves the steps of `recordings`, in order (a step answers once).
    pub async fn start(recordings: &[&str]) -> AmiDouble {
        let loaded: Vec<Recording> = recordings.iter().map(|r| Recording::load(r)).collect();
        let banner = loaded[0].banner.clone();
        let steps = loaded
            .into_iter()
            .flat_map(|r| r.steps)
            .map(|s| (s, false))
            .collect();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (control, _) = broadcast::channel(64);
        let double = AmiDouble {
            port,
            banner,
            state: Arc::new(Mutex::new(State {
                steps,
                received: Vec::new(),
                unmatched: Vec::new(),
                accepting: true,
                scripted: std::collections::HashMap::new(),
            })),
            control,
        };
        let serving = double.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                if !serving.state.lock().unwrap().accepting {
                    drop(socket);
                    continue;
                }
                tokio::spawn(serving.clone().serve(socket));
            }
        });
        double
    }

    async fn serve(self, mut socket: tokio::net::TcpStream) {
        let mut control = self.control.subscribe();
        if socket.write_all(&self.banner).await.is_err() {
            return;
        }
        let mut decoder = Decoder::new();
        // The client's first line is an action, never a banner: a decoder that already took
        // its banner.
        decoder.feed(b"Asterisk Call Manager/11.0.0\r\n");
        let _ = decoder.next_frame();
        let mut buffer = vec![0u8; 16 * 1024];
        loop {
            tokio::select! {
                read = socket.read(&mut buffer) => {
                    let n = match read {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    decoder.feed(&buffer[..n]);
                    while let Ok(Some(Frame::Message(action))) = decoder.next_frame() {
                        let answer = self.answer(&action);
                        if socket.write_all(&answer).await.is_err() {
                            return;
                        }
                    }
                }
                pushed = control.recv() => match pushed {
                    Ok(Some(bytes)) => {
                        if socket.write_all(&bytes).await.is_err() {
                            return;
                        }
                    }
                    Ok(None) | Err(_) => return,
                },
            }
        }
    }

    /// The recorded answer to `action`, with its `ActionID`.
    fn answer(&self, action: &Message) -> Vec<u8> {
        let id = action.get("ActionID").unwrap_or_default().to_owned();
        let wanted = signature(action);
        let mut state = self.state.lock().unwrap();
        state.received.push(action.clone());
        // Logins are answered every time (a client logs in again after each reconnection).
        let step = state.steps.iter_mut().find(|(step, used)| {
            (!*used || step.action.get("Action") == Some("Login")) && signature(&step.action) == wanted
        });
        let Some((step, used)) = step else {
            let scripted = action
                .get("Action")
                .and_then(|name| state.scripted.get(&name.to_ascii_lowercase()));
            if let Some(answer) = scripted {
                return answer.replace("{id}", &id).into_bytes();
            }
            if let Some(answer) = documented_answer(action, &id) {
                return answer.into_bytes();
            }
            state.unmatched.push(action.clone());
            let name = action.get("Action").unwrap_or_default();
            return format!(
                "Response: Error\r\nActionID: {id}\r\nMessage: Invalid/unknown command: {name}. Use Action: ListCommands to show available commands.\r\n\r\n"
            )
            .into_bytes();
        };
        *used = true;
        let mut swaps = vec![(
            format!("ActionID: {}\r\n", step.action_id),
            format!("ActionID: {id}\r\n"),
        )];
        if let (Some(recorded), Some(ours)) = (call_id_of(&step.action), call_id_of(action)) {
            swaps.push((format!("Value: {recorded}\r\n"), format!("Value: {ours}\r\n")));
        }
        let mut out = Vec::new();
        for block in &step.received {
            let mut block = block.clone();
            for (from, to) in &swaps {
                block = replace_all(&block, from.as_bytes(), to.as_bytes());
            }
            out.extend_from_slice(&block);
        }
        out
    }

    /// Plays the next unplayed recorded step of `action` as if someone else sent it (the
    /// recorder's own actions: a customer calling in): what Asterisk sent then goes to every
    /// connected client.
    pub fn play(&self, action: &str) {
        let bytes = {
            let mut state = self.state.lock().unwrap();
            let (step, used) = state
                .steps
                .iter_mut()
                .find(|(step, used)| !*used && step.action.get("Action") == Some(action))
                .unwrap_or_else(|| panic!("no unplayed recorded {action}"));
            *used = true;
            step.received.concat()
        };
        self.push(&bytes);
    }

    /// From now on, answers `action` (when no recorded step matches) with `answer`, its
    /// `{id}` replaced by the action's ActionID: a state of Asterisk the recordings do not
    /// show, written in the shape they do.
    pub fn script(&self, action: &str, answer: &str) {
        self.state
            .lock()
            .unwrap()
            .scripted
            .insert(action.to_ascii_lowercase(), answer.to_owned());
    }

    /// Sends raw bytes to every connected client.
    pub fn push(&self, bytes: &[u8]) {
        let _ = self.control.send(Some(bytes.to_vec()));
    }

    /// Drops every connection (Asterisk restarted, the network broke).
    pub fn drop_connections(&self) {
        let _ = self.control.send(None);
    }

    /// Refuse (close at once) new connections, or take them again.
    pub fn set_accepting(&self, accepting: bool) {
        self.state.lock().unwrap().accepting = accepting;
    }

    /// The actions received so far.
    pub fn received(&self) -> Vec<Message> {
        self.state.lock().unwrap().received.clone()
    }

    /// The actions received that no recording sent (so Asterisk's answer is not known).
    pub fn unmatched(&self) -> Vec<Message> {
        self.state.lock().unwrap().unmatched.clone()
    }

    /// The names of the actions received so far.
    pub fn received_names(&self) -> Vec<String> {
        self.received()
            .iter()
            .map(|m| m.get("Action").unwrap_or_default().to_owned())
            .collect()
    }
}
