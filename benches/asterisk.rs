//! The Asterisk driver under load, through the real server: `ctibridge serve` with
//! `telephony.driver = "asterisk"` against a scripted AMI peer on loopback (banner, login,
//! every action answered `Success`). BENCH_AGENTS agents log in, join the inbound campaign (a
//! QueueAdd each) and hold a websocket. Then, for each offer, the peer sends the events Asterisk
//! sends for a queue call (QueueCallerJoin, the caller's VarSets, AgentCalled) and, once the
//! agent's socket has the `callOffered` frame, AgentRingNoAnswer (the agent is free again).
//!
//! Prints: AgentCalled written by the peer → `callOffered` frame on the agent's socket (p50,
//! p99, max), and AMI events applied per second with the recordings' mix (mostly VarSet and
//! Newexten the core ignores, one call's worth of queue events per offer).
//!
//! `cargo bench --bench asterisk`; without `--bench` (cargo test, nextest) a smoke run.
//!
//! Measured on the 2-core development machine (peer, server and 200 sockets on the same
//! cores): AgentCalled → socket p50 0.72 ms, p99 3.83 ms; 38,700 events/s one offer at a time,
//! 40,200 events/s in bursts of 200 offers. Each offer costs two commits (the intake with its
//! contact lookup / insert, then the offer); the events the core ignores cost nothing like it.
//! With the recordings' mix (159 recorded events around each offer, as Asterisk sends around a
//! queue call) the same run applies 107,900 events/s against 31,500/s for the 33-event mix
//! (a run while other builds shared the cores: p99 4.92 ms).

#[path = "support/mod.rs"]
mod support;

use support::{cheap_hash, free_port, percentile, spawn_server, wait_healthy};

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::{Mutex, mpsc};
use tokio_tungstenite::tungstenite::Message;

/// Events the core does not act on, as Asterisk sends them around each queue call (the
/// recordings carry about 30 per call).
const FILLER: usize = 30;

/// The events of one offer to `device`: filler, the caller joining, AgentCalled.
fn offer_events(n: u64, device: usize) -> Vec<u8> {
    let linkedid = format!("1800000000.{n}");
    let mut out = String::new();
    for i in 0..FILLER {
        out.push_str(&format!(
            "Event: VarSet\r\nPrivilege: dialplan,all\r\nChannel: PJSIP/trunk-{n:08x}\r\nUniqueid: {linkedid}\r\nLinkedid: {linkedid}\r\nVariable: QUEUESTAT{i}\r\nValue: 0\r\n\r\n"
        ));
    }
    out.push_str(&format!(
        "Event: QueueCallerJoin\r\nPrivilege: agent,all\r\nChannel: PJSIP/trunk-{n:08x}\r\nCallerIDNum: 1155{n:06}\r\nUniqueid: {linkedid}\r\nLinkedid: {linkedid}\r\nQueue: salesforce\r\nPosition: 1\r\nCount: 1\r\n\r\n"
    ));
    out.push_str(&format!(
        "Event: AgentCalled\r\nPrivilege: agent,all\r\nChannel: PJSIP/trunk-{n:08x}\r\nCallerIDNum: 1155{n:06}\r\nUniqueid: {linkedid}\r\nLinkedid: {linkedid}\r\nDestChannel: PJSIP/{device}-{n:08x}\r\nQueue: salesforce\r\nInterface: PJSIP/{device}\r\nMemberName: a{device}\r\n\r\n",
        device = 10_000 + device
    ));
    out.into_bytes()
}

/// The events of a recorded queue call (`inbound_answered`) that the bench does not play
/// itself: everything Asterisk sent around one call but the queue events the core acts on
/// (the bench sends its own, for its agents). Their channels are the recording's, so they
/// cost the driver what they cost on a real PBX: parsed, looked at, not acted on.
fn recorded_call_events() -> Vec<u8> {
    const PLAYED: [&str; 7] = [
        "QueueCallerJoin",
        "AgentCalled",
        "AgentConnect",
        "AgentComplete",
        "AgentRingNoAnswer",
        "QueueCallerAbandon",
        "QueueMemberPause",
    ];
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/asterisk-ami/inbound_answered.txt");
    let text = std::fs::read_to_string(&path).expect("the recording");
    let mut out = String::new();
    // Each block follows a comment line `# +SECONDS received` (see the recordings' README).
    for block in text.split("# +") {
        let Some((_, body)) = block.split_once('\n') else {
            continue;
        };
        let Some(name) = body.strip_prefix("Event: ").and_then(|b| b.split("\r\n").next()) else {
            continue;
        };
        // Only the call's events: not the list items of actions the recorder sent.
        if PLAYED.contains(&name) || body.contains("ActionID: ") {
            continue;
        }
        out.push_str(body);
    }
    out.into_bytes()
}

fn ring_no_answer(n: u64, device: usize) -> Vec<u8> {
    let linkedid = format!("1800000000.{n}");
    format!(
        "Event: AgentRingNoAnswer\r\nPrivilege: agent,all\r\nChannel: PJSIP/trunk-{n:08x}\r\nUniqueid: {linkedid}\r\nLinkedid: {linkedid}\r\nQueue: salesforce\r\nInterface: PJSIP/{device}\r\nMemberName: a{device}\r\nRingTime: 1000\r\n\r\n",
        device = 10_000 + device
    )
    .into_bytes()
}

/// The scripted AMI peer: banner, login, `Success` to every action; writes what it is sent on
/// `outgoing` to the connected client.
async fn ami_peer(listener: TcpListener, mut outgoing: mpsc::UnboundedReceiver<Vec<u8>>) {
    let (socket, _) = listener.accept().await.expect("ctibridge connects");
    let (mut read, write) = socket.into_split();
    let write = Arc::new(Mutex::new(write));
    write
        .lock()
        .await
        .write_all(b"Asterisk Call Manager/11.0.0\r\n")
        .await
        .unwrap();
    let answering = write.clone();
    tokio::spawn(async move {
        let mut buffer = Vec::new();
        let mut chunk = vec![0u8; 16 * 1024];
        loop {
            let n = match read.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            buffer.extend_from_slice(&chunk[..n]);
            while let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                let action = String::from_utf8_lossy(&buffer[..end]).to_string();
                buffer.drain(..end + 4);
                let id = action
                    .lines()
                    .find_map(|l| l.strip_prefix("ActionID: "))
                    .unwrap_or_default()
                    .to_owned();
                let answer = if action.starts_with("Action: QueueStatus") {
                    format!(
                        "Response: Success\r\nActionID: {id}\r\nEventList: start\r\nMessage: Queue status will follow\r\n\r\n\
                         Event: QueueParams\r\nQueue: salesforce\r\nActionID: {id}\r\n\r\n\
                         Event: QueueStatusComplete\r\nActionID: {id}\r\nEventList: Complete\r\nListItems: 1\r\n\r\n"
                    )
                } else if action.starts_with("Action: CoreShowChannels") {
                    format!(
                        "Response: Success\r\nActionID: {id}\r\nEventList: start\r\nMessage: Channels will follow\r\n\r\n\
                         Event: CoreShowChannelsComplete\r\nActionID: {id}\r\nEventList: Complete\r\nListItems: 0\r\n\r\n"
                    )
                } else {
                    format!("Response: Success\r\nActionID: {id}\r\nMessage: ok\r\n\r\n")
                };
                if answering.lock().await.write_all(answer.as_bytes()).await.is_err() {
                    return;
                }
            }
        }
    });
    while let Some(bytes) = outgoing.recv().await {
        if write.lock().await.write_all(&bytes).await.is_err() {
            return;
        }
    }
}

/// `rounds` rounds of one offer per agent at once (call numbers from `first`), each offer with
/// `around` before it; each round waits for every socket's `callOffered`, then rings them all
/// out. Returns the seconds it took.
async fn bursts<S>(
    to_ami: &mpsc::UnboundedSender<Vec<u8>>,
    sockets: &mut [S],
    first: u64,
    rounds: u64,
    around: &[u8],
) -> f64
where
    S: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    let agents = sockets.len() as u64;
    let t = Instant::now();
    for round in 0..rounds {
        let call = |agent: usize| first + round * agents + agent as u64;
        let mut burst = Vec::new();
        for agent in 0..sockets.len() {
            burst.extend_from_slice(around);
            burst.extend(offer_events(call(agent), agent));
        }
        to_ami.send(burst).unwrap();
        for socket in sockets.iter_mut() {
            loop {
                let frame = tokio::time::timeout(Duration::from_secs(30), socket.next())
                    .await
                    .expect("a frame in time")
                    .expect("open")
                    .expect("a frame");
                if let Message::Text(text) = frame
                    && text.contains("\"callOffered\"")
                {
                    break;
                }
            }
        }
        let mut rang_out = Vec::new();
        for agent in 0..sockets.len() {
            rang_out.extend(ring_no_answer(call(agent), agent));
        }
        to_ami.send(rang_out).unwrap();
    }
    t.elapsed().as_secs_f64()
}

fn main() {
    let Some(full) = support::full_run() else {
        return;
    };
    let env = |name: &str, default: u64| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let (agents, offers) = if full {
        (env("BENCH_AGENTS", 200) as usize, env("BENCH_OFFERS", 4_000))
    } else {
        (5, 50)
    };
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(run(agents, offers, full));
}

async fn run(agents: usize, offers: u64, full: bool) {
    ctibridge::install_tls_provider();
    let dir = tempfile::tempdir().expect("temporary directory");
    let ami = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let ami_port = ami.local_addr().unwrap().port();
    let (to_ami, outgoing) = mpsc::unbounded_channel();
    tokio::spawn(ami_peer(ami, outgoing));

    let port = free_port();
    let hash = cheap_hash("pw");
    let mut config = format!(
        "[server]\nbind = \"127.0.0.1:{port}\"\nlogin_failures_per_address = 1000000\n\
         [database]\nurl = \"sqlite://{}\"\n[log]\nfilter = \"warn\"\n\
         [telephony]\ndriver = \"asterisk\"\n\
         [telephony.asterisk]\nport = {ami_port}\nsecret = \"s\"\n",
        dir.path().join("bench.db").display()
    );
    config.push_str(&support::agents_toml(agents, &hash));
    let config_path = dir.path().join("bench.toml");
    std::fs::write(&config_path, config).unwrap();
    let _server = spawn_server(&config_path, full);
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let started = Instant::now();
    wait_healthy(&client, &base).await;

    // Log in, join the campaign (retried until the AMI link is up), open the sockets.
    let mut sockets = Vec::with_capacity(agents);
    for i in 0..agents {
        let token = loop {
            let answer: Value = client
                .post(format!("{base}/neoapi/Login"))
                .json(&json!({"device": (10_000 + i).to_string(), "user": format!("a{i}"), "password": "pw"}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if let Some(token) = answer["token"].as_str() {
                break token.to_owned();
            }
            // Refused while the AMI link is not up yet.
            assert!(started.elapsed() < Duration::from_secs(60), "{answer}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        loop {
            let joined = client
                .post(format!("{base}/neoapi/Login_Campaign"))
                .bearer_auth(&token)
                .json(&json!({"campaign": 97}))
                .send()
                .await
                .unwrap();
            if joined.status().is_success() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let (mut socket, _) = tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}/neoapi/ws"))
            .await
            .unwrap();
        socket
            .send(Message::text(json!({"type": "auth", "token": token}).to_string()))
            .await
            .unwrap();
        socket.next().await.expect("snapshot").unwrap();
        sockets.push(socket);
    }

    // Offers round-robin over the agents; each waits for its frame, then rings out.
    let mut delays = Vec::with_capacity(offers as usize);
    let events_per_offer = FILLER as u64 + 3;
    let t = Instant::now();
    for n in 0..offers {
        let agent = (n as usize) % agents;
        let sent = Instant::now();
        to_ami.send(offer_events(n, agent)).unwrap();
        let socket = &mut sockets[agent];
        loop {
            let frame = tokio::time::timeout(Duration::from_secs(10), socket.next())
                .await
                .expect("a frame in time")
                .expect("open")
                .expect("a frame");
            if let Message::Text(text) = frame
                && text.contains("\"callOffered\"")
            {
                delays.push(sent.elapsed().as_micros() as u64);
                break;
            }
        }
        to_ami.send(ring_no_answer(n, agent)).unwrap();
    }
    let secs = t.elapsed().as_secs_f64();
    delays.sort_unstable();

    // Throughput: every agent offered a call at once, round after round; then the same with
    // the recordings' mix (around each offer, the events Asterisk sent around a recorded queue
    // call).
    let rounds = (offers / agents as u64).max(1);
    let burst_secs = bursts(&to_ami, &mut sockets, offers, rounds, &[]).await;
    let recorded = recorded_call_events();
    let recorded_count = recorded.windows(7).filter(|w| w == b"Event: ").count() as u64;
    let first = offers + rounds * agents as u64;
    let mix_secs = bursts(&to_ami, &mut sockets, first, rounds, &recorded).await;
    let mix_events = rounds * agents as u64 * (recorded_count + events_per_offer + 1);
    let burst_events = rounds * agents as u64 * (events_per_offer + 1);
    let ms = |us: u64| us as f64 / 1000.0;
    println!(
        "== Asterisk driver ({} mode) ==",
        if full { "bench" } else { "smoke" }
    );
    println!("agents                  {agents}, offers {offers}");
    println!(
        "AgentCalled -> socket   p50 {:.2} ms   p99 {:.2} ms   max {:.2} ms",
        ms(percentile(&delays, 50.0)),
        ms(percentile(&delays, 99.0)),
        ms(delays.last().copied().unwrap_or(0))
    );
    println!(
        "events applied          {:.0}/s ({} per offer, one offer at a time, each waited for)",
        (offers * events_per_offer) as f64 / secs,
        events_per_offer
    );
    println!(
        "events applied, bursts  {:.0}/s ({rounds} rounds of {agents} offers at once)",
        burst_events as f64 / burst_secs
    );
    println!(
        "events applied, mix     {:.0}/s (the recordings' mix: {} recorded events around each offer)",
        mix_events as f64 / mix_secs,
        recorded_count
    );
    assert_eq!(delays.len() as u64, offers, "every offer reached its socket");
}
