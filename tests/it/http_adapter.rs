//! The adapter page as the server serves it: Content-Security-Policy, content types, caching,
//! development-mode gating of the Lightning harness, and the origin data the page checks.
//! Also runs the unit tests of the page's pure logic under Node.js.

use ctibridge::config::Config;
use reqwest::StatusCode;
use reqwest::header::{CONTENT_SECURITY_POLICY, CONTENT_TYPE, ETAG, IF_NONE_MATCH, LOCATION};

use crate::support::server::TestApp;

fn header(response: &reqwest::Response, name: reqwest::header::HeaderName) -> String {
    response
        .headers()
        .get(&name)
        .unwrap_or_else(|| panic!("{name} header missing"))
        .to_str()
        .expect("ASCII header")
        .to_owned()
}

async fn dev_app(dev_mode: Option<bool>) -> TestApp {
    TestApp::spawn_with(|c| {
        c.server.dev_mode = dev_mode;
        c.server.frame_ancestors = vec![
            "https://*.lightning.force.com".into(),
            "https://acme.my.salesforce.com".into(),
        ];
    })
    .await
}

fn directive<'a>(csp: &'a str, name: &str) -> &'a str {
    csp.split(';')
        .map(str::trim)
        .find(|d| d.starts_with(name))
        .unwrap_or_else(|| panic!("no {name} in {csp}"))
}

#[tokio::test]
async fn the_adapter_page_may_only_be_framed_by_the_configured_salesforce_domains() {
    let app = dev_app(Some(false)).await;
    let response = app.client.get(app.url("/softphone/")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header(&response, CONTENT_TYPE), "text/html; charset=utf-8");
    let csp = header(&response, CONTENT_SECURITY_POLICY);
    assert_eq!(
        directive(&csp, "frame-ancestors"),
        "frame-ancestors https://*.lightning.force.com https://acme.my.salesforce.com"
    );
    assert_eq!(directive(&csp, "default-src"), "default-src 'self'");
    let scripts = directive(&csp, "script-src");
    assert!(scripts.contains("https://*.force.com") && scripts.contains("https://*.salesforce.com"));
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
        "{csp}"
    );
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");

    // No inline script: every <script> names a file.
    let html = response.text().await.unwrap();
    for tag in html.split("<script").skip(1) {
        let open = &tag[..tag.find('>').unwrap()];
        assert!(
            open.contains("src="),
            "inline script in the adapter page: <script{open}>"
        );
    }
}

#[tokio::test]
async fn modules_and_styles_are_served_with_their_types_and_revalidated_by_etag() {
    let app = dev_app(Some(false)).await;
    for (path, kind) in [
        ("/softphone/app.js", "text/javascript; charset=utf-8"),
        ("/softphone/logic.js", "text/javascript; charset=utf-8"),
        ("/softphone/softphone.css", "text/css; charset=utf-8"),
    ] {
        let response = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_eq!(header(&response, CONTENT_TYPE), kind, "{path}");
        assert_eq!(response.headers()["cache-control"], "no-cache");
        let etag = header(&response, ETAG);
        let again = app
            .client
            .get(app.url(path))
            .header(IF_NONE_MATCH, &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "{path}");
    }
    for missing in [
        "/softphone/nope.js",
        "/softphone/../Cargo.toml",
        "/softphone/%2e%2e/Cargo.toml",
    ] {
        let response = app.client.get(app.url(missing)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{missing}");
    }
}

#[tokio::test]
async fn the_bare_adapter_url_redirects_keeping_the_lightning_query() {
    let app = dev_app(Some(false)).await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let response = client
        .get(app.url("/softphone?sfdcIframeOrigin=https%3A%2F%2Facme.lightning.force.com&mode=Lightning"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PERMANENT_REDIRECT);
    assert_eq!(
        header(&response, LOCATION),
        "/softphone/?sfdcIframeOrigin=https%3A%2F%2Facme.lightning.force.com&mode=Lightning"
    );
}

#[tokio::test]
async fn without_dev_mode_there_is_no_harness_and_the_page_trusts_only_salesforce() {
    let app = dev_app(Some(false)).await;
    for path in [
        "/dev/lightning",
        "/dev/lightning/lightning.js",
        "/dev/lightning/support/api/62.0/lightning/opencti_min.js",
    ] {
        let response = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
    }
    let config: serde_json::Value = app
        .client
        .get(app.url("/softphone/adapter-config.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        config,
        serde_json::json!({
            "devMode": false,
            "salesforceOrigins": ["https://*.lightning.force.com", "https://acme.my.salesforce.com"],
            "taskLog": "adapter",
        })
    );
}

#[tokio::test]
async fn in_dev_mode_the_harness_frames_the_page_from_the_same_origin() {
    let app = dev_app(Some(true)).await;
    let harness = app.client.get(app.url("/dev/lightning")).send().await.unwrap();
    assert_eq!(harness.status(), StatusCode::OK);
    assert_eq!(
        directive(&header(&harness, CONTENT_SECURITY_POLICY), "frame-ancestors"),
        "frame-ancestors 'none'"
    );
    let opencti = app
        .client
        .get(app.url("/dev/lightning/support/api/62.0/lightning/opencti_min.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(opencti.status(), StatusCode::OK);
    assert_eq!(header(&opencti, CONTENT_TYPE), "text/javascript; charset=utf-8");
    assert!(opencti.text().await.unwrap().contains("sforce.opencti"));

    let page = app.client.get(app.url("/softphone/")).send().await.unwrap();
    let csp = header(&page, CONTENT_SECURITY_POLICY);
    assert!(directive(&csp, "frame-ancestors").ends_with("'self'"), "{csp}");
    let config: serde_json::Value = app
        .client
        .get(app.url("/softphone/adapter-config.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(config["devMode"], true);
}

#[test]
fn dev_mode_follows_the_demo_roster_unless_set() {
    let mut config = Config::default();
    assert!(config.dev_mode(), "demo roster active: dev mode on");
    config
        .telephony
        .agents
        .push(ctibridge::telephony::config::AgentConfig {
            user: "ana".into(),
            device: "2001".into(),
            password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA".into(),
            role: Default::default(),
            salesforce_user_id: None,
            salesforce_username: None,
        });
    assert!(!config.dev_mode(), "real roster: dev mode off");
    config.server.dev_mode = Some(true);
    assert!(config.dev_mode(), "asked for");
}

#[test]
fn frame_ancestors_that_would_break_the_header_are_refused() {
    for bad in [
        "https://a.com; script-src *",
        "ftp://x.com",
        "https://",
        "*",
        "https://x.com/path",
    ] {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(
            file.path(),
            format!("[server]\nframe_ancestors = [{}]\n", toml_string(bad)),
        )
        .unwrap();
        let error = Config::load_from(
            Some(file.path()),
            figment::providers::Env::prefixed("CTIBRIDGE_TEST_NOTHING_"),
            &Default::default(),
        )
        .expect_err(bad)
        .to_string();
        assert!(error.contains("server.frame_ancestors"), "{bad}: {error}");
    }
}

fn toml_string(s: &str) -> String {
    format!("{s:?}")
}

/// The page's pure logic (searchTypePriority, field maps, CLAVESF, origins) under Node.js.
#[test]
fn the_adapter_logic_passes_its_unit_tests() {
    let root = env!("CARGO_MANIFEST_DIR");
    let output = std::process::Command::new("node")
        .args(["--experimental-detect-module", "--test", "tests/js/"])
        .current_dir(root)
        .output()
        .unwrap_or_else(|e| panic!("cannot run node ({e}): install Node.js or run `bash tests/run.sh`"));
    assert!(
        output.status.success(),
        "node --test failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
