//! Asterisk over the Manager Interface (AMI): the wire [`codec`] (banner, `Key: value`
//! messages, actions, event lists), the [`client`] that keeps one AMI connection up, and the
//! [`driver`] that makes Asterisk the core's switch — its queues route the calls. Tested
//! against sessions recorded from a real Asterisk 22 (`tests/fixtures/asterisk-ami/`).

pub mod client;
pub mod codec;
pub mod driver;

use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;

pub use driver::AsteriskSwitch;

/// `[telephony.asterisk]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AsteriskConfig {
    pub host: String,
    pub port: u16,
    /// The `manager.conf` user.
    pub username: String,
    /// Its secret (never logged).
    pub secret: SecretString,
    /// An agent's device as a queue member and state interface; `{device}` is the device the
    /// agent logged in with.
    pub interface: String,
    /// The channel an agent's phone is called on for a dial or a spy (default: the interface).
    pub dial_channel: Option<String>,
    /// The dialplan context of outbound numbers (Originate, blind and attended transfers).
    pub outbound_context: String,
    /// The context with `listen` and `whisper` extensions running ChanSpy on `${SPYTARGET}`.
    pub spy_context: String,
    /// The context where a queue's name as extension runs `Queue()` (transfers to a queue or
    /// a campaign).
    pub queue_context: String,
    /// The context where an agent's device as extension dials the agent's phone (transfers to
    /// a user).
    pub agent_context: String,
    /// The context where a room number as extension runs `ConfBridge()` (conferences: the
    /// room is the call's id).
    pub conference_context: String,
    /// The channel variable carrying ctibridge's call id.
    pub call_id_variable: String,
    /// Seconds an originated call rings on the agent's phone.
    pub originate_timeout_secs: u64,
    /// Seconds a predictive call rings the customer before it counts as not answered.
    pub predictive_ring_secs: u64,
    /// The manager interface over TLS (manager.conf `tlsenable`, usually port 5039).
    pub tls: bool,
    /// PEM file of the certificate authority (or Asterisk's self-signed certificate) to trust;
    /// absent: the system's trusted roots.
    pub tls_ca_file: Option<std::path::PathBuf>,
    /// The name Asterisk's certificate must carry (default: `host`).
    pub tls_server_name: Option<String>,
    /// The argon2 hash (`ctibridge hash-password`) of the token the dialplan presents to
    /// `GET /asterisk/intake`; absent: the endpoint is off.
    pub intake_token_hash: Option<String>,
}

impl Default for AsteriskConfig {
    fn default() -> Self {
        AsteriskConfig {
            host: "127.0.0.1".into(),
            port: 5038,
            username: "ctibridge".into(),
            secret: SecretString::from(String::new()),
            interface: "PJSIP/{device}".into(),
            dial_channel: None,
            outbound_context: "outbound".into(),
            spy_context: "spy".into(),
            queue_context: "queues".into(),
            agent_context: "agents".into(),
            conference_context: "conference".into(),
            call_id_variable: "CTI_CALL_ID".into(),
            originate_timeout_secs: 15,
            predictive_ring_secs: 30,
            tls: false,
            tls_ca_file: None,
            tls_server_name: None,
            intake_token_hash: None,
        }
    }
}

impl AsteriskConfig {
    /// The queue member interface of `device`.
    pub fn interface_of(&self, device: &str) -> String {
        self.interface.replace("{device}", device)
    }

    /// The channel to call `device` on.
    pub fn dial_channel_of(&self, device: &str) -> String {
        self.dial_channel
            .as_deref()
            .unwrap_or(&self.interface)
            .replace("{device}", device)
    }

    /// Whether `channel` (`PJSIP/1001-0000000a`, `Local/1001@agents-0000001d;2`) is a
    /// channel of `device`'s phone.
    pub fn is_channel_of(&self, channel: &str, device: &str) -> bool {
        let dial = self.dial_channel_of(device);
        // Options after the resource (`Local/1001@agents/n`) are not part of channel names.
        let base = match dial.split_once('/') {
            Some((tech, resource)) => match resource.split_once('/') {
                Some((resource, _)) => format!("{tech}/{resource}"),
                None => dial.clone(),
            },
            None => dial.clone(),
        };
        channel
            .strip_prefix(base.as_str())
            .is_some_and(|rest| rest.starts_with('-'))
    }

    /// The device of a queue member interface, if it has the configured shape.
    pub fn device_of(&self, interface: &str) -> Option<String> {
        let (prefix, suffix) = self.interface.split_once("{device}")?;
        let device = interface.strip_prefix(prefix)?.strip_suffix(suffix)?;
        (!device.is_empty()).then(|| device.to_owned())
    }

    /// The link's settings; `Err` names what is wrong with the TLS settings (an unreadable
    /// CA file, a server name that is not one).
    pub fn ami_settings(&self) -> Result<client::AmiSettings, String> {
        Ok(client::AmiSettings {
            host: self.host.clone(),
            port: self.port,
            username: self.username.clone(),
            secret: self.secret.clone(),
            connect_timeout: Duration::from_secs(5),
            action_timeout: Duration::from_secs(10),
            backoff_first: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
            tls: self.tls_settings()?,
        })
    }

    fn tls_settings(&self) -> Result<Option<client::AmiTls>, String> {
        if !self.tls {
            return Ok(None);
        }
        let mut roots = rustls::RootCertStore::empty();
        match &self.tls_ca_file {
            Some(path) => {
                use rustls_pki_types::pem::PemObject;
                let what = || format!("telephony.asterisk.tls_ca_file `{}`", path.display());
                let certificates = rustls_pki_types::CertificateDer::pem_file_iter(path)
                    .map_err(|e| format!("{}: {e}", what()))?
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| format!("{}: {e}", what()))?;
                if certificates.is_empty() {
                    return Err(format!("{}: no PEM certificate in it", what()));
                }
                for certificate in certificates {
                    roots.add(certificate).map_err(|e| format!("{}: {e}", what()))?;
                }
            }
            None => {
                let found = rustls_native_certs::load_native_certs();
                for certificate in found.certs {
                    let _ = roots.add(certificate);
                }
                if roots.is_empty() {
                    return Err(
                        "telephony.asterisk.tls: the system has no trusted certificates; set tls_ca_file"
                            .into(),
                    );
                }
            }
        }
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("telephony.asterisk.tls: {e}"))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let name = self.tls_server_name.clone().unwrap_or_else(|| self.host.clone());
        let server_name = rustls_pki_types::ServerName::try_from(name.clone()).map_err(|_| {
            format!(
                "telephony.asterisk.tls_server_name `{}` is not a host name or address",
                name.escape_debug()
            )
        })?;
        Ok(Some(client::AmiTls {
            connector: tokio_rustls::TlsConnector::from(std::sync::Arc::new(config)),
            server_name,
        }))
    }
}
