//! AMI decoding throughput with the event mix of the sessions recorded from Asterisk 22
//! (`tests/fixtures/asterisk-ami/`): every byte Asterisk sent in them, fed to the decoder in
//! 16 KiB reads as a socket would deliver it, over and over, on one core. Prints messages
//! decoded per second (a busy 1,000-agent PBX sends a few hundred a second).
//!
//! `cargo bench --bench ami`; without `--bench` (cargo test, nextest) a one-pass smoke run.

#[path = "support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use ctibridge::telephony::asterisk::codec::{Decoder, Frame};

/// What Asterisk sent in one recording: the blocks after `# … received` comment lines.
fn received(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut receiving = false;
    for line in text.split_inclusive(|&b| b == b'\n') {
        if line.starts_with(b"# +") {
            receiving = line.ends_with(b"received\n");
            continue;
        }
        if receiving {
            out.extend_from_slice(line);
        }
    }
    out
}

fn main() {
    let Some(full) = support::full_run() else {
        return;
    };
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/asterisk-ami");
    let mut streams = Vec::new();
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .expect("the recordings")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .collect();
    names.sort();
    for path in names {
        streams.push(received(&std::fs::read(path).expect("a recording")));
    }
    let bytes: usize = streams.iter().map(Vec::len).sum();
    let budget = if full {
        Duration::from_secs(10)
    } else {
        Duration::from_millis(200)
    };
    let started = Instant::now();
    let (mut messages, mut passes) = (0u64, 0u64);
    while started.elapsed() < budget {
        for stream in &streams {
            let mut decoder = Decoder::new();
            for chunk in stream.chunks(16 * 1024) {
                decoder.feed(chunk);
                while let Ok(Some(frame)) = decoder.next_frame() {
                    if let Frame::Message(m) = frame {
                        // What the driver looks at first.
                        std::hint::black_box((m.event_name(), m.get("Linkedid")));
                        messages += 1;
                    }
                }
            }
        }
        passes += 1;
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "== AMI decoding ({} mode) ==",
        if full { "bench" } else { "smoke" }
    );
    println!(
        "recordings          {} ({} KiB received per pass)",
        streams.len(),
        bytes / 1024
    );
    println!("passes              {passes} in {secs:.1} s");
    println!("messages decoded    {:.0}/s", messages as f64 / secs);
    println!(
        "bytes decoded       {:.1} MiB/s",
        (passes as f64 * bytes as f64) / secs / 1_048_576.0
    );
    assert!(messages > 0, "decoded nothing");
}
