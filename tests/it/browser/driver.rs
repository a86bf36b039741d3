//! Headless Chromium driven through chromedriver (WebDriver) with fantoccini: one browser per
//! test, started here with the flags this machine needs, killed with its process group when the
//! test ends. Missing Chromium fails the test (never skips) and says how to install it.

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder};
use serde_json::{Value, json};
use tempfile::TempDir;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// How long a condition may take to come true in the page.
const WAIT: Duration = Duration::from_secs(10);

pub struct Browser {
    client: Client,
    driver: Child,
    test: String,
    _profile: TempDir,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

pub fn screenshot_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("test-artifacts/screenshots")
}

impl Browser {
    /// Starts chromedriver and a headless Chromium `width`×`height` pixels big.
    pub async fn start(test: &str, width: u32, height: u32) -> Browser {
        for binary in [CHROMIUM, CHROMEDRIVER] {
            assert!(
                Path::new(binary).exists(),
                "{binary} is missing: the browser tests need Debian's chromium and chromium-driver; \
                 run the suite with `bash tests/run.sh`, which installs them"
            );
        }
        let port = free_port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own process group, so the Chromium it starts dies with it.
            .process_group(0)
            .spawn()
            .expect("start chromedriver");
        let profile = tempfile::tempdir().expect("profile directory");
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": CHROMIUM,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage", "--lang=es",
                    format!("--window-size={width},{height}"),
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            }),
        );
        let url = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        let client = loop {
            match ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
                .capabilities(capabilities.clone())
                .connect(&url)
                .await
            {
                Ok(client) => break client,
                Err(e) if started.elapsed() < Duration::from_secs(15) => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("cannot start Chromium through chromedriver: {e}"),
            }
        };
        Browser {
            client,
            driver,
            test: test.to_owned(),
            _profile: profile,
        }
    }

    pub async fn open(&self, url: &str) {
        self.client.goto(url).await.expect("navigate");
    }

    /// Resizes the browser window (a layout at another screen or panel size).
    pub async fn resize(&self, width: u32, height: u32) {
        self.client
            .set_window_size(width, height)
            .await
            .expect("resize the window");
    }

    /// Runs `body` (a function body; `return` gives the value) in the top page.
    pub async fn run(&self, body: &str) -> Value {
        self.client
            .execute(body, Vec::new())
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}\n{body}"))
    }

    /// Runs `body` with `sp` = the softphone frame's document and `$` = its querySelector.
    pub async fn softphone(&self, body: &str) -> Value {
        self.run(&format!(
            "const frame = document.getElementById('softphone'); \
             const sp = frame ? frame.contentDocument : document; \
             const $ = (s) => sp.querySelector(s); {body}"
        ))
        .await
    }

    /// Polls `body` (softphone helpers available) until it returns something truthy.
    pub async fn wait_for(&self, what: &str, body: &str) -> Value {
        let started = Instant::now();
        loop {
            let value = self
                .softphone(&format!("try {{ {body} }} catch (e) {{ return null; }}"))
                .await;
            let truthy = match &value {
                Value::Null => false,
                Value::Bool(b) => *b,
                Value::String(s) => !s.is_empty(),
                Value::Array(a) => !a.is_empty(),
                _ => true,
            };
            if truthy {
                return value;
            }
            if started.elapsed() > WAIT {
                self.screenshot(&format!("{}-timeout", self.test)).await;
                let state = self
                    .softphone(
                        "return { state: $('#agent-state')?.textContent, notice: $('#notice')?.hidden ? '' : $('#notice-text')?.textContent, \
                         log: (window.harness?.log || []).map((e) => e.method + ' ' + JSON.stringify(e.args)), errors: window.__ctibridgeErrors }",
                    )
                    .await;
                panic!("timed out waiting for {what}; page: {state}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Clicks the softphone element `selector` once it exists and is enabled.
    pub async fn click(&self, selector: &str) {
        let s = serde_json::to_string(selector).unwrap();
        self.wait_for(
            &format!("{selector} to be clickable"),
            &format!("const el = $({s}); if (!el || el.disabled || el.closest('[hidden]')) return false; el.click(); return true;"),
        )
        .await;
    }

    /// Sets the softphone input / select `selector` as typing would.
    pub async fn fill(&self, selector: &str, value: &str) {
        let s = serde_json::to_string(selector).unwrap();
        let v = serde_json::to_string(value).unwrap();
        self.wait_for(
            &format!("{selector} to be fillable"),
            &format!(
                "const el = $({s}); if (!el || el.closest('[hidden]')) return false; \
                 if (el.tagName === 'SELECT' && ![...el.options].some((o) => o.value === {v})) return false; \
                 el.value = {v}; el.dispatchEvent(new Event('input', {{bubbles: true}})); \
                 el.dispatchEvent(new Event('change', {{bubbles: true}})); return true;"
            ),
        )
        .await;
    }

    /// Waits until the softphone element's text contains `text`.
    pub async fn wait_text(&self, selector: &str, text: &str) {
        let s = serde_json::to_string(selector).unwrap();
        let t = serde_json::to_string(text).unwrap();
        self.wait_for(
            &format!("{selector} to say {text:?}"),
            &format!("const el = $({s}); return Boolean(el && !el.closest('[hidden]') && el.textContent.includes({t}));"),
        )
        .await;
    }

    /// Writes `test-artifacts/screenshots/NAME.png`.
    pub async fn screenshot(&self, name: &str) {
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).expect("screenshot directory");
        if let Ok(png) = self.client.screenshot().await {
            std::fs::write(dir.join(format!("{name}.png")), png).expect("write screenshot");
        }
    }

    /// Writes `test-artifacts/screenshots/NAME.png` of the softphone panel alone (the harness's
    /// 320 px iframe).
    pub async fn screenshot_softphone(&self, name: &str) {
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).expect("screenshot directory");
        let Ok(frame) = self.client.find(fantoccini::Locator::Css("#softphone")).await else {
            return self.screenshot(name).await;
        };
        if let Ok(png) = frame.screenshot().await {
            std::fs::write(dir.join(format!("{name}.png")), png).expect("write screenshot");
        }
    }

    /// Uncaught errors and console.error calls of the harness and the softphone frame.
    pub async fn errors(&self) -> Vec<String> {
        let value = self
            .run(
                "const frame = document.getElementById('softphone'); \
                 const inner = frame && frame.contentWindow ? (frame.contentWindow.__ctibridgeErrors || []) : []; \
                 return [...(window.__ctibridgeErrors || []), ...inner];",
            )
            .await;
        serde_json::from_value(value).unwrap_or_default()
    }

    pub async fn assert_no_errors(&self) {
        let errors = self.errors().await;
        assert!(errors.is_empty(), "the browser logged errors: {errors:#?}");
    }

    /// Asserts a clean console and closes the browser.
    pub async fn finish(self) {
        self.assert_no_errors().await;
        let _ = self.client.clone().close().await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // The whole group: chromedriver and the Chromium processes it started.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.driver.id())])
            .status();
        let _ = self.driver.wait();
    }
}
