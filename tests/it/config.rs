//! Configuration precedence (file < environment < flags) and error messages that name the key
//! and its source.

use std::io::Write;

use ctibridge::config::{Config, DatabaseFlags, FlagOverrides, LogFormat, ServerFlags};
use figment::providers::Env;

/// An environment provider that sees only the variables the test sets (through figment's jail,
/// so tests never touch the real process environment).
#[allow(clippy::result_large_err)] // figment::Jail's closure type, not ours
fn with_env<T>(vars: &[(&str, &str)], f: impl FnOnce() -> T) -> T {
    let mut result = None;
    figment::Jail::expect_with(|jail| {
        jail.clear_env();
        for (k, v) in vars {
            jail.set_env(k, v);
        }
        result = Some(f());
        Ok(())
    });
    result.unwrap()
}

fn load(file: Option<&std::path::Path>, flags: &FlagOverrides) -> Result<Config, String> {
    Config::load_from(file, Env::prefixed(ctibridge::config::ENV_PREFIX), flags).map_err(|e| e.to_string())
}

fn toml_file(content: &str) -> tempfile::NamedTempFile {
    let mut file = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
    file.write_all(content.as_bytes()).unwrap();
    file
}

#[test]
fn nothing_configured_gives_the_embedded_defaults() {
    let config = with_env(&[], || load(None, &FlagOverrides::default())).unwrap();
    assert_eq!(config.server.bind.to_string(), "127.0.0.1:8080");
    assert_eq!(config.database.url, "sqlite://ctibridge.db");
    assert_eq!(config.log.format, LogFormat::Human);
    assert_eq!(
        config.telephony.driver,
        ctibridge::telephony::DriverKind::Embedded
    );
    assert!(!config.salesforce.is_configured());
    assert!(
        config
            .server
            .frame_ancestors
            .iter()
            .any(|o| o == "https://*.lightning.force.com")
    );
}

#[test]
fn file_then_environment_then_flags() {
    let file = toml_file(
        "[server]\nbind = \"127.0.0.1:9000\"\n[database]\nurl = \"sqlite://from-file.db\"\n[log]\nformat = \"json\"\n",
    );
    // File only.
    let config = with_env(&[], || load(Some(file.path()), &FlagOverrides::default())).unwrap();
    assert_eq!(config.server.bind.port(), 9000);
    assert_eq!(config.database.url, "sqlite://from-file.db");
    assert_eq!(config.log.format, LogFormat::Json);

    // Environment beats the file.
    let env = [
        ("CTIBRIDGE_SERVER__BIND", "127.0.0.1:9100"),
        ("CTIBRIDGE_DATABASE__URL", "sqlite://from-env.db"),
    ];
    let config = with_env(&env, || load(Some(file.path()), &FlagOverrides::default())).unwrap();
    assert_eq!(config.server.bind.port(), 9100);
    assert_eq!(config.database.url, "sqlite://from-env.db");
    assert_eq!(
        config.log.format,
        LogFormat::Json,
        "untouched keys keep the file's value"
    );

    // Flags beat both.
    let flags = FlagOverrides {
        server: ServerFlags {
            bind: Some("127.0.0.1:9200".parse().unwrap()),
        },
        database: DatabaseFlags {
            url: Some("sqlite://from-flag.db".into()),
        },
        ..FlagOverrides::default()
    };
    let config = with_env(&env, || load(Some(file.path()), &flags)).unwrap();
    assert_eq!(config.server.bind.port(), 9200);
    assert_eq!(config.database.url, "sqlite://from-flag.db");
}

#[test]
fn variables_without_a_section_are_not_keys() {
    // CTIBRIDGE_CONFIG names the file; test variables share the prefix. Neither is a key.
    let env = [
        ("CTIBRIDGE_CONFIG", "x.toml"),
        ("CTIBRIDGE_TEST_POSTGRES_URL", "postgres://x"),
    ];
    assert!(with_env(&env, || load(None, &FlagOverrides::default())).is_ok());
}

#[test]
fn a_bad_value_names_the_key_and_the_environment_variable() {
    let err = with_env(&[("CTIBRIDGE_SERVER__BIND", "not-an-address")], || {
        load(None, &FlagOverrides::default())
    })
    .unwrap_err();
    assert!(err.contains("server.bind"), "{err}");
    assert!(err.contains("CTIBRIDGE_SERVER__BIND"), "{err}");
}

#[test]
fn a_bad_value_names_the_key_and_the_file() {
    let file = toml_file("[server]\nshutdown_timeout_secs = \"soon\"\n");
    let err = with_env(&[], || load(Some(file.path()), &FlagOverrides::default())).unwrap_err();
    assert!(err.contains("server.shutdown_timeout_secs"), "{err}");
    assert!(err.contains(&file.path().display().to_string()), "{err}");
}

#[test]
fn unknown_keys_are_refused_not_ignored() {
    let file = toml_file("[server]\nbnd = \"127.0.0.1:1\"\n");
    let err = with_env(&[], || load(Some(file.path()), &FlagOverrides::default())).unwrap_err();
    assert!(err.contains("bnd"), "{err}");
}

#[test]
fn a_missing_file_is_an_error() {
    let err = with_env(&[], || {
        load(
            Some(std::path::Path::new("/nonexistent/ctibridge.toml")),
            &FlagOverrides::default(),
        )
    })
    .unwrap_err();
    assert!(err.contains("/nonexistent/ctibridge.toml"), "{err}");
}

#[test]
fn unsupported_database_urls_are_refused_without_printing_passwords() {
    let err = with_env(
        &[("CTIBRIDGE_DATABASE__URL", "mysql://root:hunter2@db/x")],
        || load(None, &FlagOverrides::default()),
    )
    .unwrap_err();
    assert!(err.contains("database.url"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
}

#[test]
fn salesforce_flows_need_their_keys_and_secrets_stay_hidden() {
    let env = [
        ("CTIBRIDGE_SALESFORCE__FLOW", "client_credentials"),
        ("CTIBRIDGE_SALESFORCE__CLIENT_ID", "3MVG9-consumer"),
        ("CTIBRIDGE_SALESFORCE__CLIENT_SECRET", "s3cr3t-value"),
    ];
    let err = with_env(&env, || load(None, &FlagOverrides::default())).unwrap_err();
    assert!(err.contains("salesforce.my_domain_url"), "{err}");
    assert!(!err.contains("s3cr3t-value"), "{err}");

    let env = [
        ("CTIBRIDGE_SALESFORCE__FLOW", "client_credentials"),
        ("CTIBRIDGE_SALESFORCE__CLIENT_ID", "3MVG9-consumer"),
        ("CTIBRIDGE_SALESFORCE__CLIENT_SECRET", "s3cr3t-value"),
        (
            "CTIBRIDGE_SALESFORCE__MY_DOMAIN_URL",
            "https://acme.my.salesforce.com",
        ),
    ];
    let config = with_env(&env, || load(None, &FlagOverrides::default())).unwrap();
    assert!(config.salesforce.is_configured());
    let printed = format!("{config:?}");
    assert!(!printed.contains("s3cr3t-value"), "secret in Debug output");
}

#[test]
fn the_username_password_flow_is_not_offered() {
    let err = with_env(&[("CTIBRIDGE_SALESFORCE__FLOW", "password")], || {
        load(None, &FlagOverrides::default())
    })
    .unwrap_err();
    assert!(err.contains("salesforce.flow"), "{err}");
}

#[test]
fn the_example_configuration_file_loads() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("ctibridge.example.toml");
    let config = with_env(&[], || load(Some(&path), &FlagOverrides::default())).unwrap();
    assert_eq!(config.server.bind.to_string(), "127.0.0.1:8080");
}

#[test]
fn a_syntax_error_names_the_file_line_and_column_never_the_line() {
    let file =
        toml_file("[salesforce]\nflow = \"client_credentials\"\nclient_secret = \"0123-s3cr3t-value\n");
    let err = with_env(&[], || load(Some(file.path()), &FlagOverrides::default())).unwrap_err();
    assert!(err.contains(&file.path().display().to_string()), "{err}");
    assert!(err.contains("line 3"), "{err}");
    assert!(err.contains("column"), "{err}");
    assert!(!err.contains("s3cr3t"), "{err}");
}

#[test]
fn an_all_digit_secret_in_the_environment_is_a_string() {
    let env = [
        ("CTIBRIDGE_SALESFORCE__FLOW", "client_credentials"),
        ("CTIBRIDGE_SALESFORCE__CLIENT_ID", "3MVG9-consumer"),
        ("CTIBRIDGE_SALESFORCE__CLIENT_SECRET", "00123456789"),
        (
            "CTIBRIDGE_SALESFORCE__MY_DOMAIN_URL",
            "https://acme.my.salesforce.com",
        ),
    ];
    let config = with_env(&env, || load(None, &FlagOverrides::default())).unwrap();
    use secrecy::ExposeSecret;
    let secret = config.salesforce.client_secret.as_ref().expect("a secret");
    assert_eq!(
        secret.expose_secret(),
        "00123456789",
        "verbatim, leading zeros kept"
    );
}

#[test]
fn a_secret_of_the_wrong_type_is_refused_without_its_value() {
    let file = toml_file("[server]\nbind = \"127.0.0.1:1\"\n\n[salesforce]\nclient_secret = 987654321\n");
    let err = with_env(&[], || load(Some(file.path()), &FlagOverrides::default())).unwrap_err();
    assert!(err.contains("salesforce.client_secret"), "{err}");
    assert!(err.contains("line 5"), "{err}");
    assert!(!err.contains("987654321"), "{err}");
}

#[test]
fn routing_settings_are_checked_at_start() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("ctibridge.example.toml");
    let config = with_env(&[], || load(Some(&path), &FlagOverrides::default())).unwrap();
    assert_eq!(config.routing.owner_first_secs, 15);
    assert_eq!(config.routing.lookup_timeout_ms, 800);
    let file = toml_file("[routing]\nlookup_timeout_ms = 5000\n");
    let err = with_env(&[], || load(Some(file.path()), &FlagOverrides::default())).unwrap_err();
    assert!(
        err.contains("routing.lookup_timeout_ms must be between 1 and 1000"),
        "{err}"
    );
    let file = toml_file("[routing]\nowner_first_secs = 900\n");
    let err = with_env(&[], || load(Some(file.path()), &FlagOverrides::default())).unwrap_err();
    assert!(
        err.contains("routing.owner_first_secs must be at most 300"),
        "{err}"
    );
    for (toml, expected) in [
        (
            "[routing]\ncreate_leads = [97]\n",
            "routing.create_leads needs routing.unprocessed_leads_owner",
        ),
        (
            "[routing]\ncreate_leads = [98]\nunprocessed_leads_owner = \"005000000000009AAA\"\n",
            "routing.create_leads names campaign 98, which is not an inbound campaign",
        ),
        (
            "[routing]\nunprocessed_leads_owner = \"00Q000000000009\"\n",
            "routing.unprocessed_leads_owner must be a Salesforce user id",
        ),
    ] {
        let file = toml_file(toml);
        let err = with_env(&[], || load(Some(file.path()), &FlagOverrides::default())).unwrap_err();
        assert!(err.contains(expected), "{err}");
    }
    let file = toml_file("[routing]\nowner_first = 10\n");
    let err = with_env(&[], || load(Some(file.path()), &FlagOverrides::default())).unwrap_err();
    assert!(err.contains("owner_first"), "{err}");
}
