//! Sites and campaign parameters from the configuration file: the example documents every key
//! and loads; bad definitions and unknown keys are refused naming the key.

use std::io::Write;

use ctibridge::config::{Config, FlagOverrides};
use ctibridge::crm::model::{Family, Format, Method, Trigger};
use figment::providers::Env;
use reqwest::Method as Http;

use super::*;

#[allow(clippy::result_large_err)] // figment::Jail's closure type, not ours
fn load(content: &str) -> Result<Config, String> {
    let mut file = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
    file.write_all(content.as_bytes()).unwrap();
    let mut result = None;
    figment::Jail::expect_with(|jail| {
        jail.clear_env();
        result = Some(
            Config::load_from(
                Some(file.path()),
                Env::prefixed(ctibridge::config::ENV_PREFIX),
                &FlagOverrides::default(),
            )
            .map_err(|e| e.to_string()),
        );
        Ok(())
    });
    result.unwrap()
}

/// The example's `[crm]` and `[external]` sections with their commented examples switched on.
fn example_crm_section() -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("ctibridge.example.toml");
    let example = std::fs::read_to_string(path).unwrap();
    let section = &example[example.find("\n[crm]\n").expect("a [crm] section")..];
    let mut out = String::new();
    let mut examples = false;
    for line in section.lines() {
        // Commented tables are examples; a real table header ends them.
        if line.starts_with("# [[") {
            examples = true;
        }
        if line.starts_with('[') {
            examples = false;
        }
        let line = if examples {
            line.strip_prefix("# ")
                .or_else(|| line.strip_prefix('#'))
                .unwrap_or(line)
        } else {
            line
        };
        out.push_str(line);
        out.push('\n');
    }
    out
}

#[test]
fn the_examples_crm_section_documents_working_definitions() {
    let config = load(&example_crm_section()).unwrap();
    let site = &config.crm.sites[0];
    assert_eq!(site.name, "acme");
    assert_eq!(site.trigger, Trigger::Server);
    assert_eq!(site.method, Method::Post);
    assert_eq!(site.format, Format::Json);
    let auth = site.auth.as_ref().unwrap();
    assert_eq!(auth.token_field, "token");
    assert_eq!(auth.token_lifetime_secs, 3600);
    let campaign = &config.crm.campaigns[0];
    assert_eq!(campaign.campaign, 97);
    assert_eq!(campaign.params[0].family, Family::Contact);
    assert_eq!(campaign.dispositions.len(), 1);
    assert_eq!(config.crm.delivery.concurrency, 64);
    let system = &config.external.systems[0];
    assert_eq!(system.name, "acme-crm");
    assert_eq!(system.agents["agent1"], "U-100");
    assert_eq!(system.campaigns["97"], "CAMP-IN");
}

#[test]
fn bad_definitions_and_unknown_keys_in_the_file_are_refused_by_name() {
    let err = load("[[crm.sites]]\nname = \"a\"\nurl = \"http://crm.example.com/\"\ntrigger = \"server\"\n")
        .unwrap_err();
    assert!(err.contains("crm.sites.a.url: must be an https URL"), "{err}");
    let err = load(
        "[[crm.sites]]\nname = \"a\"\nurl = \"https://crm.example.com/\"\ntrigger = \"server\"\ncolour = 1\n",
    )
    .unwrap_err();
    assert!(err.contains("colour"), "{err}");
    let err = load("[crm.delivery]\nretries = 3\n").unwrap_err();
    assert!(err.contains("retries"), "{err}");
    let err = load(
        "[[crm.campaigns]]\ncampaign = 97\nsite = \"a\"\nparams = [{ family = \"call\", source = \"nope\", name = \"x\" }]\n",
    )
    .unwrap_err();
    assert!(err.contains("crm.campaigns.97.params[0].source"), "{err}");
}

#[tokio::test]
async fn the_files_definitions_are_in_the_database_when_the_server_starts() {
    let crm = CrmServer::start().await;
    let url = crm.url("/calls/{idClient}");
    let app = TestApp::spawn_with(|c| {
        c.crm.sites = vec![
            serde_json::from_value(json!({"name": "acme", "url": url, "trigger": "server", "method": "GET"}))
                .unwrap(),
        ];
        c.crm.campaigns = vec![
            serde_json::from_value(json!({"campaign": 97, "site": "acme", "params": [
                {"family": "contact", "source": "clave_1", "name": "idClient"}]}))
            .unwrap(),
        ];
    })
    .await;
    let (_, sites) = admin(&app, Http::GET, "sites", None).await;
    assert_eq!(sites["sites"][0]["name"], "acme");
    let (_, campaigns) = admin(&app, Http::GET, "campaigns", None).await;
    assert_eq!(campaigns["campaigns"][0]["site"], "acme");
    let (_token, _socket, _call) = answered_call(&app, "1155551001", "K-9").await;
    let received = crm.wait_for(1).await;
    assert_eq!(received[0].path, "/calls/K-9");
}

#[tokio::test]
async fn a_file_binding_that_does_not_fit_its_campaign_stops_the_start() {
    let mut config = Config::default();
    let db = crate::support::db::TestDb::sqlite();
    config.server.bind = "127.0.0.1:0".parse().unwrap();
    config.database.url = db.url.clone();
    config.crm.sites = vec![
        serde_json::from_value(
            json!({"name": "acme", "url": "https://crm.example.com/{a}", "trigger": "server"}),
        )
        .unwrap(),
    ];
    config.crm.campaigns = vec![serde_json::from_value(json!({"campaign": 97, "site": "acme"})).unwrap()];
    let err = ctibridge::startup::Application::build(config)
        .await
        .err()
        .expect("refused")
        .to_string();
    assert!(
        err.contains("campaigns.97.params") && err.contains("{a}"),
        "{err}"
    );
}
