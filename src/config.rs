//! Typed configuration: one TOML file plus command-line overrides, validated once at start.
//!
//! Every key is documented in `presence-gw.example.toml` at the repository root. Unknown keys and
//! bad values are errors that name the key and the line. Secrets live in [`Secret`], whose
//! `Debug` and `Display` print `***`, so a config can be logged without leaking a bind password.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::smpp::transport::{TlsClient, TlsSetupError};
use crate::smpp::{BindMode, LinkConfig};

/// A secret string (bind password, API key). Never printed; read it with [`Secret::expose`].
#[derive(Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wrap a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself: only for putting on the wire or comparing.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// A configuration problem, naming the key (and the line, for TOML syntax or type errors).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// File path.
        path: PathBuf,
        /// Underlying error.
        source: std::io::Error,
    },
    /// TOML syntax, unknown key or wrong type (the message names key, line and column).
    #[error("{path}: {message}")]
    Parse {
        /// File path.
        path: PathBuf,
        /// toml's message, with the key and position.
        message: String,
    },
    /// A value that parses but is not allowed.
    #[error("invalid value for `{key}`: {reason}")]
    Invalid {
        /// Dotted key, e.g. `smsc.password`.
        key: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A value that parses but is not allowed, given by an environment variable or a flag
    /// over the file's (the value itself is never shown: it may be a secret).
    #[error("invalid value for `{key}` (from {from}): {reason}")]
    InvalidFrom {
        /// Dotted key.
        key: &'static str,
        /// Where the value came from: `PRESENCE_GW_SMSC_PASSWORD`, `--window`.
        from: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A value in a file that parses but is not allowed, with where it is.
    #[error("{path}, line {line}: invalid value for `{key}`: {reason}")]
    InvalidAt {
        /// File path.
        path: PathBuf,
        /// 1-based line of the key.
        line: usize,
        /// Dotted key.
        key: &'static str,
        /// What is wrong.
        reason: String,
    },
}

/// Whether `s` is printable ASCII (space to `~`): what a bind's C-Octet strings can carry
/// as the carrier wrote them (a control character is a paste or line-end mistake).
fn printable_ascii(s: &str) -> bool {
    s.bytes().all(|b| (b' '..=b'~').contains(&b))
}

/// The environment variable that overrides the bind password (`[smsc] password`).
pub const SMSC_PASSWORD_ENV: &str = "PRESENCE_GW_SMSC_PASSWORD";
/// The environment variable that overrides the operator API key (`api_key`).
pub const API_KEY_ENV: &str = "PRESENCE_GW_API_KEY";

/// A value set over the file's, and where it came from, so that an error about it names that
/// source instead of the file's line for the key (see [`Config::validate_with`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Override {
    /// Dotted key, e.g. `smsc.password`.
    pub key: &'static str,
    /// The environment variable or flag that set it.
    pub source: &'static str,
}

/// toml's error as "line L, column C (`key`): message", without the source line toml would
/// quote: that line may hold the bind password or the API key (a typo in the key, unquoted
/// digits). On a line whose key names a secret, values quoted in the message are hidden too
/// (serde's "invalid type: integer `12345678`").
fn parse_message(text: &str, e: &toml::de::Error) -> String {
    let mut message = e.message().trim().to_string();
    let Some(span) = e.span() else {
        return message;
    };
    let before = &text[..span.start.min(text.len())];
    let line_no = before.matches('\n').count() + 1;
    let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    let line = text.lines().nth(line_no - 1).unwrap_or("");
    let key = line.split_once('=').map(|(k, _)| k.trim()).unwrap_or("");
    // Anywhere on the line: an inline table (`smsc = { password = 123 }`) names its secret
    // after the first `=`.
    // An unknown field's message quotes key names only (the typo and the keys it could
    // be), which an operator needs to see.
    let lower = line.to_ascii_lowercase();
    if ["pass", "key", "secret", "token"]
        .iter()
        .any(|w| lower.contains(w))
        && !message.starts_with("unknown field")
    {
        message = hide_quoted(&message);
    }
    let key = key
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '"'))
        .then_some(key)
        .filter(|k| !k.is_empty());
    match key {
        Some(k) => format!("line {line_no}, column {column} (`{k}`): {message}"),
        None => format!("line {line_no}, column {column}: {message}"),
    }
}

/// `message` with every `` `quoted` `` part replaced by `` `…` ``.
fn hide_quoted(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut inside = false;
    for c in message.chars() {
        if c == '`' {
            if inside {
                out.push('…');
            }
            inside = !inside;
            out.push(c);
        } else if !inside {
            out.push(c);
        }
    }
    out
}

/// `e` with where its value came from: an [`ConfigError::Invalid`] becomes
/// [`ConfigError::InvalidFrom`] when one of `overrides` set its key, else
/// [`ConfigError::InvalidAt`] when the key is written in `file` (the config's text and path).
fn locate(e: ConfigError, file: Option<(&str, &Path)>, overrides: &[Override]) -> ConfigError {
    match e {
        ConfigError::Invalid { key, reason } => {
            if let Some(o) = overrides.iter().find(|o| o.key == key) {
                return ConfigError::InvalidFrom {
                    key,
                    from: o.source,
                    reason,
                };
            }
            match file.and_then(|(text, path)| Some((key_line(text, key)?, path))) {
                Some((line, path)) => ConfigError::InvalidAt {
                    path: path.to_path_buf(),
                    line,
                    key,
                    reason,
                },
                None => ConfigError::Invalid { key, reason },
            }
        }
        other => other,
    }
}

/// The operator API key held in the file at `path` (`api_key_file`), surrounding whitespace
/// trimmed, or why it cannot be used, naming the file (never the key).
fn read_key_file(path: &Path) -> Result<Secret, String> {
    let shown = path.display();
    let mut f = std::fs::File::open(path).map_err(|e| format!("cannot read {shown}: {e}"))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = f
            .metadata()
            .map_err(|e| format!("cannot read {shown}: {e}"))?
            .permissions()
            .mode();
        if mode & 0o004 != 0 {
            return Err(format!(
                "{shown} is readable by every user (mode {:04o}): the key is a secret; \
                 `chmod o-r {shown}` (0640, its group the service's; deploy/README.md)",
                mode & 0o7777
            ));
        }
    }
    let mut text = String::new();
    std::io::Read::read_to_string(&mut f, &mut text)
        .map_err(|e| format!("cannot read {shown}: {e}"))?;
    let key = text.trim();
    if key.is_empty() {
        return Err(format!("{shown} is empty: write the key into it"));
    }
    if key.len() < 16
        || !key.is_ascii()
        || key
            .chars()
            .any(|c| c.is_ascii_whitespace() || c.is_ascii_control())
    {
        return Err(format!(
            "the key in {shown} is not one key of at least 16 ASCII characters, without spaces, \
             on one line"
        ));
    }
    Ok(Secret::new(key))
}

/// Largest `http_max_connections`.
const MAX_HTTP_CONNECTIONS: usize = 100_000;

/// Shortest `[delivery] validity_secs`: the submit path sends no shorter validity.
const MIN_VALIDITY_SECS: u64 = 60;
/// Longest `[delivery] validity_secs`: 99 days, the most an SMPP relative time says (§7.1.1).
const MAX_VALIDITY_SECS: u64 = 99 * 86_400;

/// A USSD code as the menu reads it (`service::ussd`): `*`, groups of digits separated by `*`,
/// `#` (`*123#`, `*123*5#`).
fn is_ussd_code(code: &str) -> bool {
    code.len() <= 20
        && code
            .strip_prefix('*')
            .and_then(|c| c.strip_suffix('#'))
            .is_some_and(|inner| {
                inner
                    .split('*')
                    .all(|g| !g.is_empty() && g.bytes().all(|b| b.is_ascii_digit()))
            })
}

/// A service number as `service_number` and `service_aliases` take one: 3 to 15 digits,
/// optionally after a `+`.
fn is_service_address(number: &str) -> bool {
    let digits = number.strip_prefix('+').unwrap_or(number);
    (3..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit())
}

/// `host:port` with a host and a port number (an IPv6 host in brackets).
fn is_host_port(address: &str) -> bool {
    address
        .rsplit_once(':')
        .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0))
}

/// The 1-based line where dotted `key` (`smsc.window`) is set in TOML `text`, if written there.
fn key_line(text: &str, key: &str) -> Option<usize> {
    let (section, leaf) = match key.rsplit_once('.') {
        Some((s, l)) => (Some(s), l),
        None => (None, key),
    };
    let mut current: Option<String> = None;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if let Some(h) = line.strip_prefix('[') {
            current = Some(h.trim_end_matches(']').trim().to_string());
            continue;
        }
        let in_section = match (section, &current) {
            (None, None) => true,
            (Some(s), Some(c)) => s == c,
            _ => false,
        };
        if !in_section {
            continue;
        }
        if let Some((k, _)) = line.split_once('=') {
            if k.trim().trim_matches('"') == leaf {
                return Some(i + 1);
            }
        }
    }
    None
}

/// The carrier SMSC to bind to. Absent from the file: the embedded simulator is started.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmscConfig {
    /// `host:port` of the SMSC.
    pub address: String,
    /// Other `host:port`s of the same SMSC service (a standby, a second site), tried in turn
    /// when `address` cannot be reached or bound.
    pub fallback_addresses: Vec<String>,
    /// While bound to a fallback, seconds between looks at whether `address` accepts
    /// connections again; when it does, the link finishes what is in flight on the fallback,
    /// unbinds and binds to `address`. 0: stay on the fallback until its session ends.
    pub return_to_primary_secs: f64,
    /// Bind system_id (1-15 printable ASCII characters).
    pub system_id: String,
    /// Bind password (1-8 printable ASCII characters). Overridden by `PRESENCE_GW_SMSC_PASSWORD`.
    pub password: Secret,
    /// Bind system_type.
    pub system_type: String,
    /// Bind `addr_ton`: type of number of the addresses this bind serves (0 unknown, 1
    /// international, 2 national, 3 network specific, 4 subscriber, 5 alphanumeric, 6
    /// abbreviated).
    pub addr_ton: u8,
    /// Bind `addr_npi`: their numbering plan (0 unknown, 1 ISDN E.164, 3 data, 4 telex, 6 land
    /// mobile, 8 national, 9 private, 10 ERMES, 14 internet, 18 WAP client id).
    pub addr_npi: u8,
    /// Bind `address_range`: the addresses (a regular expression in SMPP 3.4) whose MO the SMSC
    /// routes to this bind; empty when the SMSC routes by account.
    pub address_range: String,
    /// `source_addr_ton` of every submit (the service number's type of number, same codes as
    /// `addr_ton`; carriers often want 3 or 0 for a short code).
    pub source_ton: u8,
    /// `source_addr_npi` of every submit (same codes as `addr_npi`).
    pub source_npi: u8,
    /// `trx` (one transceiver) or `txrx` (transmitter + receiver).
    pub bind_mode: BindMode,
    /// Most requests outstanding.
    pub window: usize,
    /// Hard cap on submits per second; 0 = no cap (adaptive only).
    pub max_rate: f64,
    /// `command_status` codes the SMSC answers a submit with that mean "try again later",
    /// beside the standard ones the gateway knows (its vendor codes, e.g. `[0x401]`): the
    /// message is retried after a back-off, the attempt counted, instead of failed.
    pub temporary_statuses: Vec<u32>,
    /// Send `cancel_sm` (SMPP 3.4 §4.9) for a message the SMSC accepted and has not delivered
    /// when a newer one with its key replaces it or it is withdrawn (`delivery::cancel`). On by
    /// default: cancel_sm is a core SMPP 3.4 operation, and where a carrier lacks it (it
    /// answers `ESME_RINVCMDID` or `generic_nack`) that costs one refused request a bind (no
    /// more are sent until the next) and the messages stay as they were; turn it off for a
    /// carrier that counts or polices refused requests.
    pub cancel_superseded: bool,
    /// Hours an SMSC that answered a cancel_sm as one without the operation is remembered (by
    /// address and `system_id`, in the database): no cancel_sm goes to it meanwhile, across
    /// binds and restarts (`presence-gw smsc no-cancel --forget` forgets it sooner); 0: until
    /// the next bind only, which then spends a refused cancel_sm to learn it again.
    pub no_cancel_memory_hours: u64,
    /// Seconds to wait for any response.
    pub response_timeout_secs: f64,
    /// Microseconds to poll the socket for an answer expected soon rather than sleep, while
    /// the SMSC answers within that (`smpp::LinkConfig::busy_poll`); 0 = never.
    pub busy_poll_us: u64,
    /// Seconds without traffic before an enquire_link.
    pub enquire_link_secs: f64,
    /// Seconds to wait for an enquire_link_resp.
    pub enquire_link_timeout_secs: f64,
    /// First reconnect delay, seconds.
    pub reconnect_min_secs: f64,
    /// Largest reconnect delay, seconds.
    pub reconnect_max_secs: f64,
    /// Seconds a connection attempt may take, the TCP connect and (with `tls`) the TLS
    /// handshake together, before it is given up as failed (the look for the primary from a
    /// fallback too). Above 0.
    pub connect_timeout_secs: f64,
    /// SMPP over TLS (the SMSC's TLS port, often 3550): the SMSC's certificate must chain to
    /// `tls_ca_file` (or the host's trust store) and name the host connected to (or
    /// `tls_server_name`).
    pub tls: bool,
    /// PEM file of the CA certificates the SMSC's certificate must chain to; empty: the host's
    /// trust store. A relative path is taken from the current directory, as `db` is.
    pub tls_ca_file: String,
    /// The name the SMSC's certificate must carry; empty: the host part of each address.
    pub tls_server_name: String,
    /// The name the certificate of the SMSC at one address must carry, by the address as
    /// written in `address` or `fallback_addresses` (`{ "10.0.0.2:3550" =
    /// "smsc2.carrier.net" }`): for sites whose certificates name different hosts. An address
    /// not listed takes `tls_server_name`, else its own host.
    pub tls_server_names: BTreeMap<String, String>,
    /// PEM certificate chain the gateway shows an SMSC that asks for one (mutual TLS).
    pub tls_client_cert_file: String,
    /// PEM private key of `tls_client_cert_file`.
    pub tls_client_key_file: String,
}

impl SmscConfig {
    /// The TLS settings read and checked (`None` when `tls` is off), or the key that is wrong.
    pub fn tls_client(&self) -> Result<Option<TlsClient>, ConfigError> {
        fn set(v: &str) -> Option<&Path> {
            (!v.is_empty()).then(|| Path::new(v))
        }
        if !self.tls {
            let stray = [
                ("smsc.tls_ca_file", !self.tls_ca_file.is_empty()),
                ("smsc.tls_server_name", !self.tls_server_name.is_empty()),
                ("smsc.tls_server_names", !self.tls_server_names.is_empty()),
                (
                    "smsc.tls_client_cert_file",
                    !self.tls_client_cert_file.is_empty(),
                ),
                (
                    "smsc.tls_client_key_file",
                    !self.tls_client_key_file.is_empty(),
                ),
            ]
            .into_iter()
            .find(|(_, set)| *set);
            return match stray {
                // Set for TLS that is off: the link would go in plain text, unlike meant.
                Some((key, _)) => Err(ConfigError::Invalid {
                    key,
                    reason: "set while smsc.tls is false: add tls = true (or remove it)".into(),
                }),
                None => Ok(None),
            };
        }
        let client = match (
            set(&self.tls_client_cert_file),
            set(&self.tls_client_key_file),
        ) {
            (Some(c), Some(k)) => Some((c, k)),
            (None, None) => None,
            _ => {
                return Err(ConfigError::Invalid {
                    key: "smsc.tls_client_key_file",
                    reason: TlsSetupError::HalfClientAuth.to_string(),
                })
            }
        };
        let server_name =
            (!self.tls_server_name.is_empty()).then_some(self.tls_server_name.as_str());
        let by_address = self
            .tls_server_names
            .iter()
            .map(|(a, n)| (a.as_str(), n.as_str()));
        TlsClient::new(set(&self.tls_ca_file), server_name, by_address, client)
            .map(Some)
            .map_err(|e| ConfigError::Invalid {
                key: match &e {
                    TlsSetupError::File { what, .. } => match *what {
                        "tls_ca_file" => "smsc.tls_ca_file",
                        "tls_client_cert_file" => "smsc.tls_client_cert_file",
                        _ => "smsc.tls_client_key_file",
                    },
                    TlsSetupError::HalfClientAuth => "smsc.tls_client_key_file",
                    TlsSetupError::Name {
                        what: "tls_server_names",
                        ..
                    } => "smsc.tls_server_names",
                    TlsSetupError::Name { .. } => "smsc.tls_server_name",
                    TlsSetupError::Config(_) => "smsc.tls",
                },
                reason: e.to_string(),
            })
    }
}

impl Default for SmscConfig {
    fn default() -> Self {
        let l = LinkConfig::default();
        Self {
            address: l.smsc,
            fallback_addresses: l.fallback_smsc,
            return_to_primary_secs: l.primary_probe.map_or(0.0, |d| d.as_secs_f64()),
            system_id: l.system_id,
            // No default: a carrier bind needs the carrier's password (validation says so).
            password: Secret::new(""),
            system_type: l.system_type,
            addr_ton: l.addr_ton,
            addr_npi: l.addr_npi,
            address_range: l.address_range,
            source_ton: 0,
            source_npi: 0,
            bind_mode: l.bind_mode,
            window: l.window,
            max_rate: 0.0,
            temporary_statuses: l.temporary_statuses,
            cancel_superseded: true,
            no_cancel_memory_hours: 24,
            response_timeout_secs: l.response_timeout.as_secs_f64(),
            busy_poll_us: u64::try_from(l.busy_poll.as_micros()).unwrap_or(u64::MAX),
            enquire_link_secs: l.enquire_link_interval.as_secs_f64(),
            enquire_link_timeout_secs: l.enquire_link_timeout.as_secs_f64(),
            reconnect_min_secs: l.reconnect_min.as_secs_f64(),
            reconnect_max_secs: l.reconnect_max.as_secs_f64(),
            connect_timeout_secs: l.connect_timeout.as_secs_f64(),
            tls: false,
            tls_ca_file: String::new(),
            tls_server_name: String::new(),
            tls_server_names: BTreeMap::new(),
            tls_client_cert_file: String::new(),
            tls_client_key_file: String::new(),
        }
    }
}

/// Outbound delivery settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeliveryConfig {
    /// Ask the SMSC for delivery receipts.
    pub registered_delivery: bool,
    /// How long an outbound message may wait before it expires, seconds, counted from when it
    /// was queued (`delivery::DispatcherConfig::validity`).
    pub validity_secs: u64,
    /// Attempts before a message fails. It fails only on an attempt in which the SMSC took
    /// none of its parts: a link drop that lost the rest of a long message after some parts
    /// went through does not end it.
    pub max_attempts: u32,
    /// First retry delay, seconds.
    pub retry_min_secs: f64,
    /// Largest retry delay, seconds.
    pub retry_max_secs: f64,
    /// Use 16-bit concatenation references (else 8-bit).
    pub concat_16bit: bool,
    /// Receipt ids vs response ids: `auto` (read a receipt id in the other base, hex <->
    /// decimal, only while no receipt has matched exactly), `same`, or `other` (the SMSC
    /// always switches base).
    pub receipt_id_base: String,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        Self {
            registered_delivery: true,
            validity_secs: 48 * 3600,
            max_attempts: 20,
            retry_min_secs: 1.0,
            retry_max_secs: 300.0,
            concat_16bit: false,
            receipt_id_base: "auto".into(),
        }
    }
}

/// The status service (`[service]`): time zone, caps, quota.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServiceSection {
    /// UTC offset of `UNTIL hh:mm` and of times shown to subscribers (`+08:00`).
    pub time_zone: String,
    /// Most members in one group.
    pub max_group_members: usize,
    /// Most members over all of a subscriber's groups.
    pub max_total_members: usize,
    /// Most groups a subscriber may create.
    pub max_user_groups: usize,
    /// Status changes per owner per hour that notify at once; later ones are held back.
    pub hourly_change_quota: u32,
    /// Seconds a status update waits before it goes, from the first change of a burst, so
    /// that a contact gets one SMS with the latest status (0: at once).
    pub update_delay_secs: u64,
    /// Whether call_started / call_ended events notify contacts (INCALL).
    pub notify_incall: bool,
    /// Numbers per page of `GROUP g`.
    pub page_size: usize,
    /// Seconds a long MO message waits for its missing parts; then it is dropped and its
    /// sender asked to send it again.
    pub parts_timeout_secs: u64,
}

impl Default for ServiceSection {
    fn default() -> Self {
        let d = crate::service::ServiceConfig::default();
        Self {
            time_zone: "+08:00".into(),
            max_group_members: d.max_group_members,
            max_total_members: d.max_total_members,
            max_user_groups: d.max_user_groups,
            hourly_change_quota: d.hourly_change_quota,
            update_delay_secs: d.update_delay.as_secs(),
            notify_incall: d.notify_incall,
            page_size: d.page_size,
            parts_timeout_secs: d.parts_timeout.as_secs(),
        }
    }
}

/// The async runtime (`[runtime]`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RuntimeSection {
    /// Tokio worker threads; 0 (the default) is one per core less one, at least one, so the
    /// store writer thread keeps a core to itself (see [`crate::app::worker_threads`]).
    pub worker_threads: usize,
}

/// The SQLite store (`[store]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreSection {
    /// `"normal"` (the default): a commit survives a crash or kill -9 of the gateway, and the
    /// last commits may be lost on power loss. `"full"`: an fsync at every commit (one per group
    /// commit, not per message), so a commit also survives power loss.
    pub durability: String,
    /// How long a write waits for the database while another process (the operator's
    /// `presence-gw outbox purge`, a backup) holds it, in milliseconds.
    pub busy_timeout_ms: u64,
    /// Days finished rows are kept (delivered/failed/expired outbox rows, processed MO
    /// messages and their PDUs, the status-change log, the avatar downloads and links
    /// that say nothing any more after the owner's avatar changed or went, and the pictures
    /// no subscriber or preset shows any more, with their image bytes); the gateway deletes
    /// older ones a few at a time. 0 keeps them forever.
    pub keep_days: u32,
    /// Whether the gateway reads every page of the database at start (`PRAGMA quick_check`)
    /// and refuses a damaged one (default true): about 0.6 s per 340 MB, seconds for a
    /// multi-GB database, during which the SMSC holds the MO. See
    /// [`crate::store::StoreOptions::check_at_open`].
    pub check_at_open: bool,
}

impl Default for StoreSection {
    fn default() -> Self {
        Self {
            durability: "normal".into(),
            busy_timeout_ms: 5_000,
            keep_days: 30,
            check_at_open: true,
        }
    }
}

/// `/health` (`[health]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HealthSection {
    /// Seconds `/health` says degraded after an MO PDU could not be stored (answered with a
    /// temporary error for the SMSC to send again), 1 to 3600: at least the SMSC's redelivery
    /// interval, so the state does not flicker back to ready between two refusals.
    pub mo_deferral_window_secs: u64,
}

impl Default for HealthSection {
    fn default() -> Self {
        Self {
            mo_deferral_window_secs: crate::http::MO_DEFERRED_DEGRADED_SECS,
        }
    }
}

/// Caller avatars (`[avatar]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AvatarSection {
    /// Uploads allowed from this many call minutes (0 = this threshold is not used).
    pub min_call_minutes: u64,
    /// ... or this many messages sent.
    pub min_sms_sent: u64,
    /// ... or this many days on the network.
    pub min_tenure_days: u64,
    /// ... or this user level.
    pub min_level: u64,
    /// Minutes an upload link stays valid.
    pub upload_link_minutes: u64,
    /// Largest upload accepted, KB (before decoding).
    pub max_upload_kb: usize,
    /// Largest width or height accepted, pixels (read from the header before decoding).
    pub max_dimension: u32,
    /// Square sizes rendered for every avatar.
    pub sizes: Vec<u32>,
    /// Presets per AVATARS page.
    pub presets_per_page: usize,
    /// Folder of the default presets, loaded on first start when the catalogue is empty.
    pub presets_dir: PathBuf,
    /// Handsets that cannot take WAP Push: avatar links go to them as plain SMS. Others are
    /// learned: a WAP Push whose receipt fails is sent again as SMS, and the handset noted.
    pub sms_link_handsets: Vec<String>,
}

impl Default for AvatarSection {
    fn default() -> Self {
        let d = crate::service::avatar::AvatarConfig::default();
        let t = d.thresholds;
        Self {
            min_call_minutes: t.call_minutes.unwrap_or(0),
            min_sms_sent: t.sms_sent.unwrap_or(0),
            min_tenure_days: t.tenure_days.unwrap_or(0),
            min_level: t.level.unwrap_or(0),
            upload_link_minutes: d.upload_ttl.as_secs() / 60,
            max_upload_kb: 100,
            max_dimension: 4096,
            sizes: d.sizes,
            presets_per_page: d.presets_per_page,
            presets_dir: PathBuf::from(crate::app::DEFAULT_PRESETS_DIR),
            sms_link_handsets: Vec::new(),
        }
    }
}

/// USSD menus (`[ussd]`): the op codes and limits differ per carrier (wire-formats.md §4).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UssdSection {
    /// The code subscribers dial, shown in hints.
    pub code: String,
    /// `service_type` of our USSD submit_sm.
    pub service_type: String,
    /// `ussd_service_op` that opens a session (PSSR indication).
    pub op_begin: u8,
    /// `ussd_service_op` of the user's answer (USSR confirm).
    pub op_continue: u8,
    /// `ussd_service_op` of a menu awaiting an answer (USSR request).
    pub op_menu: u8,
    /// `ussd_service_op` of the final screen (PSSR response).
    pub op_end: u8,
    /// `ussd_service_op` values meaning the dialogue was aborted.
    pub op_abort: Vec<u8>,
    /// Seconds a session lives without input.
    pub timeout_secs: u64,
    /// Longest GSM-7 screen, characters.
    pub max_gsm7_chars: usize,
    /// Longest UCS-2 screen, characters.
    pub max_ucs2_chars: usize,
    /// `data_coding` of GSM-7 screens (0 or 15).
    pub gsm7_data_coding: u8,
}

impl Default for UssdSection {
    fn default() -> Self {
        let d = crate::service::ussd::UssdConfig::default();
        Self {
            code: d.code,
            service_type: d.service_type,
            op_begin: d.op_begin,
            op_continue: d.op_continue,
            op_menu: d.op_menu,
            op_end: d.op_end,
            op_abort: d.op_abort,
            timeout_secs: (d.timeout_ms / 1000) as u64,
            max_gsm7_chars: d.max_gsm7,
            max_ucs2_chars: d.max_ucs2,
            gsm7_data_coding: d.gsm7_data_coding,
        }
    }
}

/// The whole gateway configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The number subscribers text (source address of every MT).
    pub service_number: String,
    /// Other numbers the carrier routes to the same service (an SMSC that delivers MO with
    /// an extended code, a second short code): their MO are commands too. An MO to any other
    /// number is kept but not run.
    pub service_aliases: Vec<String>,
    /// Default country code for national numbers, digits only (e.g. `86`).
    pub country_code: String,
    /// SQLite database file.
    pub db: PathBuf,
    /// HTTP listen address.
    pub http: String,
    /// Most HTTP connections open at once ([`crate::http::serve_capped`]); more wait in the
    /// listen backlog until one closes.
    pub http_max_connections: usize,
    /// A listen address of its own for the operator's routes (`/health`, `/metrics`,
    /// `/api/v1/...`), off `http`: a management interface kept apart from the handsets'
    /// downloads, and never held up by their connection cap. Empty: they are served on
    /// `http` with the rest.
    pub operator_http: String,
    /// Public base URL of the HTTP server, used in links sent to handsets. Empty: the address
    /// the HTTP server actually listens on (`http://` + `http`).
    pub public_url: String,
    /// Bearer key of the operator API (`/api/v1`); absent (and no `api_key_file`), the API is
    /// off.
    pub api_key: Option<Secret>,
    /// A file holding the operator API key, instead of `api_key`: its content, surrounding
    /// whitespace trimmed. Read at start and again at each reload (SIGHUP), so a key written
    /// into it is rotated by `systemctl reload` with the config text unchanged. It must not
    /// be readable by every user (mode `o-r`). See [`Config::read_api_key_file`].
    pub api_key_file: Option<PathBuf>,
    /// The key [`Config::read_api_key_file`] read from `api_key_file` (never from the TOML).
    #[serde(skip)]
    pub api_key_from_file: Option<Secret>,
    /// The carrier SMSC; `None` starts the embedded simulator.
    pub smsc: Option<SmscConfig>,
    /// Outbound delivery.
    pub delivery: DeliveryConfig,
    /// The status service.
    pub service: ServiceSection,
    /// Caller avatars.
    pub avatar: AvatarSection,
    /// USSD menus.
    pub ussd: UssdSection,
    /// The async runtime.
    pub runtime: RuntimeSection,
    /// The SQLite store.
    pub store: StoreSection,
    /// `/health`.
    pub health: HealthSection,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            service_number: "10658".into(),
            service_aliases: Vec::new(),
            country_code: "86".into(),
            db: PathBuf::from("data/presence-gw.db"),
            http: "127.0.0.1:8080".into(),
            http_max_connections: crate::http::DEFAULT_MAX_CONNECTIONS,
            operator_http: String::new(),
            public_url: String::new(),
            api_key: None,
            api_key_file: None,
            api_key_from_file: None,
            smsc: None,
            delivery: DeliveryConfig::default(),
            service: ServiceSection::default(),
            avatar: AvatarSection::default(),
            ussd: UssdSection::default(),
            runtime: RuntimeSection::default(),
            store: StoreSection::default(),
            health: HealthSection::default(),
        }
    }
}

impl Config {
    /// Parse and validate TOML text; `path` only names the source in errors.
    pub fn from_toml(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let cfg = Self::parse_toml(text, path)?;
        cfg.validate_in(text, path)?;
        Ok(cfg)
    }

    /// Parse TOML text without checking the values (see [`Config::validate_in`]).
    pub fn parse_toml(text: &str, path: &Path) -> Result<Config, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: parse_message(text, &e),
        })
    }

    /// [`Config::validate`], naming the line of `text` (the file at `path`) that holds a bad
    /// key when it is there (a value given by a flag or the environment has no line).
    pub fn validate_in(&self, text: &str, path: &Path) -> Result<(), ConfigError> {
        self.validate_with(Some((text, path)), &[])
    }

    /// [`Config::validate`], naming where a bad value came from: the environment variable or
    /// flag of `overrides` that set its key ([`ConfigError::InvalidFrom`]), else its line in
    /// `file` (the text and path of the config file, [`ConfigError::InvalidAt`]), else just
    /// the key (a default, or a key the file does not write).
    pub fn validate_with(
        &self,
        file: Option<(&str, &Path)>,
        overrides: &[Override],
    ) -> Result<(), ConfigError> {
        self.validate().map_err(|e| locate(e, file, overrides))
    }

    /// Read the operator API key from `api_key_file`, when set, into
    /// [`Config::api_key_from_file`] (see [`Config::operator_api_key`]): the file's content
    /// with surrounding whitespace trimmed. An error names the file and why, at the line of
    /// `file` (the config's text and path) that sets `api_key_file`: it cannot be read, it is
    /// readable by every user (mode `& 0o004`, on unix), it is empty, or the key is not at
    /// least 16 ASCII characters on one line. Called after [`Config::validate_with`], by
    /// `serve` at start and at each reload and by `check-config`; the other commands never
    /// read it (a root-only file they need not).
    pub fn read_api_key_file(&mut self, file: Option<(&str, &Path)>) -> Result<(), ConfigError> {
        self.api_key_from_file = None;
        let Some(path) = &self.api_key_file else {
            return Ok(());
        };
        let key = read_key_file(path).map_err(|reason| {
            locate(
                ConfigError::Invalid {
                    key: "api_key_file",
                    reason,
                },
                file,
                &[],
            )
        })?;
        self.api_key_from_file = Some(key);
        Ok(())
    }

    /// The operator API key in force: `api_key` (from the file, the flag or
    /// [`API_KEY_ENV`]), else the one read from `api_key_file`; `None`: the API is off.
    pub fn operator_api_key(&self) -> Option<Secret> {
        self.api_key
            .clone()
            .or_else(|| self.api_key_from_file.clone())
    }

    /// Take the bind password from [`SMSC_PASSWORD_ENV`] (when an `[smsc]` section is
    /// configured) and the API key from [`API_KEY_ENV`], when set, over the file's, as `serve`
    /// does. Returns what they set, for [`Config::validate_with`].
    pub fn apply_env_secrets(&mut self) -> Vec<Override> {
        let mut set = Vec::new();
        if let (Some(s), Ok(pw)) = (self.smsc.as_mut(), std::env::var(SMSC_PASSWORD_ENV)) {
            s.password = Secret::new(pw);
            set.push(Override {
                key: "smsc.password",
                source: SMSC_PASSWORD_ENV,
            });
        }
        if let Ok(key) = std::env::var(API_KEY_ENV) {
            self.api_key = Some(Secret::new(key));
            set.push(Override {
                key: "api_key",
                source: API_KEY_ENV,
            });
        }
        set
    }

    /// Read a TOML file's text.
    pub fn read_text(path: &Path) -> Result<String, ConfigError> {
        std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })
    }

    /// The settings an operator checks before a start, one per line, secrets shown only as
    /// set or not (`presence-gw check-config`).
    pub fn summary(&self) -> String {
        let mut out = Vec::new();
        match &self.smsc {
            Some(s) => {
                let mut addresses = vec![s.address.clone()];
                addresses.extend(s.fallback_addresses.iter().cloned());
                let back = match s.return_to_primary_secs {
                    _ if s.fallback_addresses.is_empty() => String::new(),
                    0.0 => " (stays on a fallback until it drops)".into(),
                    t => format!(" (back to the first once it answers, looked for every {t} s)"),
                };
                out.push(format!(
                    "smsc:            {}{back}",
                    addresses.join(", then ")
                ));
                out.push(format!(
                    "bind:            {} as {:?}, system_type {:?}, password {}",
                    match s.bind_mode {
                        BindMode::Trx => "transceiver",
                        BindMode::Txrx => "transmitter + receiver",
                    },
                    s.system_id,
                    s.system_type,
                    if s.password.expose().is_empty() {
                        "not set"
                    } else {
                        "set"
                    }
                ));
                let rate = if s.max_rate > 0.0 {
                    format!("at most {} msg/s", s.max_rate)
                } else {
                    "no rate cap".into()
                };
                out.push(format!("window:          {} requests, {rate}", s.window));
                out.push(format!(
                    "connect timeout: {} s (TCP connect{}, then given up)",
                    s.connect_timeout_secs,
                    if s.tls { " and TLS handshake" } else { "" }
                ));
                out.push(match s.tls_client() {
                    Ok(None) => "tls:             off (plain TCP)".into(),
                    Ok(Some(t)) => format!(
                        "tls:             on, certificate checked against {}{}{}{}",
                        t.roots(),
                        if s.tls_server_name.is_empty() {
                            String::new()
                        } else {
                            format!(", named {:?}", s.tls_server_name)
                        },
                        s.tls_server_names
                            .iter()
                            .map(|(a, n)| format!(", {a} named {n:?}"))
                            .collect::<String>(),
                        if s.tls_client_cert_file.is_empty() {
                            ""
                        } else {
                            ", client certificate set"
                        }
                    ),
                    Err(e) => format!("tls:             unusable: {e}"),
                });
            }
            None => out.push("smsc:            none (the embedded simulator runs)".into()),
        }
        let aliases = if self.service_aliases.is_empty() {
            String::new()
        } else {
            format!("; also {}", self.service_aliases.join(", "))
        };
        out.push(format!(
            "service number:  {} (country code {}){aliases}",
            self.service_number, self.country_code
        ));
        out.push(format!(
            "time zone:       {} (UNTIL times and the times shown to subscribers)",
            self.service.time_zone
        ));
        out.push(format!("database:        {}", self.db.display()));
        out.push(format!(
            "store:           durability {}, rows kept {}, {}",
            self.store.durability,
            match self.store.keep_days {
                0 => "forever".to_string(),
                d => format!("{d} days"),
            },
            if self.store.check_at_open {
                "every page checked at start (check_at_open)"
            } else {
                "not checked at start (check_at_open = false)"
            }
        ));
        out.push(format!(
            "http:            {} (at most {} connections open)",
            self.http, self.http_max_connections
        ));
        out.push(format!(
            "operator http:   {}",
            if self.operator_http.is_empty() {
                "on http (/health, /metrics, /api/v1 with the rest)".to_string()
            } else {
                format!(
                    "{} (/health, /metrics, /api/v1; not on http)",
                    self.operator_http
                )
            }
        ));
        if !self.public_url.is_empty() {
            out.push(format!("public url:      {}", self.public_url));
        }
        out.push(format!(
            "operator api:    {}",
            match (&self.api_key, &self.api_key_file, &self.api_key_from_file) {
                (Some(_), _, _) => "key set (api_key)".to_string(),
                (None, Some(p), Some(_)) =>
                    format!("key set (read from api_key_file {})", p.display()),
                (None, Some(p), None) =>
                    format!("key from api_key_file {} (not read)", p.display()),
                (None, None, _) => "off (no api_key or api_key_file)".to_string(),
            }
        ));
        out.push(format!(
            "receipts:        {}, validity {} s, {} attempts",
            if self.delivery.registered_delivery {
                "asked for"
            } else {
                "not asked for"
            },
            self.delivery.validity_secs,
            self.delivery.max_attempts
        ));
        out.join("\n")
    }

    /// Read, parse and validate a TOML file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        Self::from_toml(&Self::read_text(path)?, path)
    }

    /// Check every value that parses but may still be wrong.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key, reason: &str| ConfigError::Invalid {
            key,
            reason: reason.to_string(),
        };
        // Subscribers text it and it is every MT's source address: a number.
        if !is_service_address(&self.service_number) {
            return Err(invalid(
                "service_number",
                "a number of 3 to 15 digits, optionally after a +, e.g. \"10658\"",
            ));
        }
        // Written as the service number is: MO to them is compared with it.
        if !self.service_aliases.iter().all(|n| is_service_address(n)) {
            return Err(invalid(
                "service_aliases",
                "a list of numbers of 3 to 15 digits, optionally after a +, e.g. [\"1065800001\"]",
            ));
        }
        let cc = &self.country_code;
        if cc.is_empty()
            || cc.len() > 3
            || !cc.bytes().all(|b| b.is_ascii_digit())
            || cc.starts_with('0')
        {
            return Err(invalid(
                "country_code",
                "1-3 digits not starting with 0, e.g. \"86\"",
            ));
        }
        if let Some(s) = &self.smsc {
            if s.system_id.is_empty() || s.system_id.len() > 15 || !printable_ascii(&s.system_id) {
                return Err(invalid(
                    "smsc.system_id",
                    "1-15 printable ASCII characters (SMPP 3.4 §4.1.1)",
                ));
            }
            // A missing password is reported after the other [smsc] errors (it is often set
            // later, from the environment, and should not hide a wrong window or address).
            // A newline in it is a multi-line TOML string or an environment file's line end,
            // never what the carrier issued: the bind would fail as a wrong password.
            let pw = s.password.expose();
            if pw.len() > 8 || !printable_ascii(pw) {
                return Err(invalid(
                    "smsc.password",
                    "1-8 printable ASCII characters (SMPP 3.4 §4.1.1; no newline, tab or \
                     other control character)",
                ));
            }
            if s.system_type.len() > 12 || !printable_ascii(&s.system_type) {
                return Err(invalid(
                    "smsc.system_type",
                    "at most 12 printable ASCII characters",
                ));
            }
            for (key, ton) in [
                ("smsc.addr_ton", s.addr_ton),
                ("smsc.source_ton", s.source_ton),
            ] {
                if ton > 6 {
                    return Err(invalid(key, "a type of number 0 to 6 (SMPP 3.4 §5.2.5)"));
                }
            }
            for (key, npi) in [
                ("smsc.addr_npi", s.addr_npi),
                ("smsc.source_npi", s.source_npi),
            ] {
                if ![0, 1, 3, 4, 6, 8, 9, 10, 14, 18].contains(&npi) {
                    return Err(invalid(
                        key,
                        "a numbering plan 0, 1, 3, 4, 6, 8, 9, 10, 14 or 18 (SMPP 3.4 §5.2.6)",
                    ));
                }
            }
            if s.address_range.len() > 40 || !s.address_range.is_ascii() {
                return Err(invalid(
                    "smsc.address_range",
                    "at most 40 ASCII characters (SMPP 3.4 §4.1.1)",
                ));
            }
            if s.window == 0 || s.window > 10_000 {
                return Err(invalid("smsc.window", "1 to 10000"));
            }
            if s.busy_poll_us > 10_000 {
                return Err(invalid(
                    "smsc.busy_poll_us",
                    "0 (never) to 10000 microseconds",
                ));
            }
            if !(s.max_rate >= 0.0 && s.max_rate.is_finite()) {
                return Err(invalid("smsc.max_rate", "0 (no cap) or a positive rate"));
            }
            if s.temporary_statuses.contains(&0) {
                return Err(invalid(
                    "smsc.temporary_statuses",
                    "command_status codes of failures (0 is ESME_ROK, a success)",
                ));
            }
            for (key, v) in [
                ("smsc.response_timeout_secs", s.response_timeout_secs),
                ("smsc.enquire_link_secs", s.enquire_link_secs),
                (
                    "smsc.enquire_link_timeout_secs",
                    s.enquire_link_timeout_secs,
                ),
                ("smsc.reconnect_min_secs", s.reconnect_min_secs),
                ("smsc.reconnect_max_secs", s.reconnect_max_secs),
                ("smsc.connect_timeout_secs", s.connect_timeout_secs),
            ] {
                if !(v > 0.0 && v.is_finite() && v < 86_400.0) {
                    return Err(invalid(key, "a positive number of seconds below one day"));
                }
            }
            if s.reconnect_min_secs > s.reconnect_max_secs {
                return Err(invalid(
                    "smsc.reconnect_min_secs",
                    "at most smsc.reconnect_max_secs",
                ));
            }
            if !is_host_port(&s.address) {
                return Err(invalid("smsc.address", "host:port, e.g. \"10.0.0.1:2775\""));
            }
            let back = s.return_to_primary_secs;
            if !(back == 0.0 || (1.0..86_400.0).contains(&back)) {
                return Err(invalid(
                    "smsc.return_to_primary_secs",
                    "0 (never) or 1 to 86399 seconds",
                ));
            }
            if s.fallback_addresses.iter().any(|a| !is_host_port(a)) {
                return Err(invalid(
                    "smsc.fallback_addresses",
                    "a list of host:port, e.g. [\"10.0.0.2:2775\"]",
                ));
            }
            // The files are read now: a missing CA file stops the start, not the first connect.
            // So is the name each address's certificate is checked by (the host of the
            // address, unless tls_server_name): one that cannot be (an IPv6 zone, a host name
            // with a space) failed every connect, at the first one.
            if let Some(tls) = s.tls_client()? {
                let addresses = std::iter::once(("smsc.address", &s.address)).chain(
                    s.fallback_addresses
                        .iter()
                        .map(|a| ("smsc.fallback_addresses", a)),
                );
                // A name for an address the link never connects to (a typo, a port changed
                // in one place only) would leave the one meant on another name, silently.
                if let Some(stray) = s
                    .tls_server_names
                    .keys()
                    .find(|a| **a != s.address && !s.fallback_addresses.contains(a))
                {
                    return Err(invalid(
                        "smsc.tls_server_names",
                        &format!(
                            "{stray:?} is neither smsc.address nor one of \
                             smsc.fallback_addresses: name an address as written there"
                        ),
                    ));
                }
                for (key, address) in addresses {
                    if let Err(why) = tls.check_address(address) {
                        return Err(invalid(key, &format!("{address}: {why}")));
                    }
                }
            }
            if pw.is_empty() {
                return Err(invalid(
                    "smsc.password",
                    "missing: set it in [smsc], with --password or PRESENCE_GW_SMSC_PASSWORD",
                ));
            }
        }
        if self.http.parse::<std::net::SocketAddr>().is_err() {
            return Err(invalid("http", "a listen address such as 127.0.0.1:8080"));
        }
        if !self.operator_http.is_empty() {
            match self.operator_http.parse::<std::net::SocketAddr>() {
                Err(_) => {
                    return Err(invalid(
                        "operator_http",
                        "a listen address such as 127.0.0.1:9090, or \"\" to serve the operator's routes on http",
                    ))
                }
                Ok(a) if a.port() != 0 && self.http.parse::<std::net::SocketAddr>().ok() == Some(a) => {
                    return Err(invalid(
                        "operator_http",
                        "another address than http's (or \"\" to serve the operator's routes there)",
                    ))
                }
                Ok(_) => {}
            }
        }
        // Each connection is a file descriptor: far more than any process may open is a typo.
        if !(1..=MAX_HTTP_CONNECTIONS).contains(&self.http_max_connections) {
            return Err(invalid("http_max_connections", "1 to 100000"));
        }
        let url = &self.public_url;
        if !(url.is_empty() || url.starts_with("http://") || url.starts_with("https://")) {
            return Err(invalid("public_url", "an http:// or https:// URL"));
        }
        if let Some(k) = &self.api_key {
            let k = k.expose();
            if k.len() < 16 || !k.is_ascii() {
                return Err(invalid("api_key", "at least 16 ASCII characters"));
            }
            // The key a request brings is read without them (a header value holds no control
            // character but a tab): such a key could never match, every call a 403.
            if k.trim() != k || k.chars().any(|c| c.is_ascii_control() && c != '\t') {
                return Err(invalid(
                    "api_key",
                    "no space or line break at either end and no control character: no \
                     request could bring such a key",
                ));
            }
        }
        if let Some(path) = &self.api_key_file {
            if path.as_os_str().is_empty() {
                return Err(invalid(
                    "api_key_file",
                    "the path of a file holding the key, e.g. \"/etc/presence-gw/api_key\"",
                ));
            }
            // Named as `api_key`, so that one given by PRESENCE_GW_API_KEY or --api-key is
            // named with where it came from.
            if self.api_key.is_some() {
                return Err(invalid(
                    "api_key",
                    "set together with api_key_file: give the key one way, api_key or \
                     api_key_file (remove the other)",
                ));
            }
        }
        let sv = &self.service;
        if crate::service::clock::Zone::parse(&sv.time_zone).is_none() {
            return Err(invalid(
                "service.time_zone",
                "a UTC offset such as +08:00, -05:30 or UTC",
            ));
        }
        if sv.max_group_members == 0 || sv.max_group_members > 10_000 {
            return Err(invalid("service.max_group_members", "1 to 10000"));
        }
        if sv.max_total_members < sv.max_group_members || sv.max_total_members > 100_000 {
            return Err(invalid(
                "service.max_total_members",
                "at least max_group_members, at most 100000",
            ));
        }
        if sv.max_user_groups > 100 {
            return Err(invalid("service.max_user_groups", "0 to 100"));
        }
        if sv.hourly_change_quota == 0 {
            return Err(invalid("service.hourly_change_quota", "at least 1"));
        }
        if sv.update_delay_secs > 3_600 {
            return Err(invalid("service.update_delay_secs", "0 to 3600"));
        }
        if sv.page_size == 0 || sv.page_size > 20 {
            return Err(invalid("service.page_size", "1 to 20"));
        }
        if !(60..=86_400).contains(&sv.parts_timeout_secs) {
            return Err(invalid("service.parts_timeout_secs", "60 to 86400"));
        }
        let av = &self.avatar;
        if av.upload_link_minutes == 0 || av.upload_link_minutes > 24 * 60 {
            return Err(invalid("avatar.upload_link_minutes", "1 to 1440"));
        }
        if av.max_upload_kb == 0 || av.max_upload_kb > 10 * 1024 {
            return Err(invalid("avatar.max_upload_kb", "1 to 10240"));
        }
        if !(16..=16_384).contains(&av.max_dimension) {
            return Err(invalid("avatar.max_dimension", "16 to 16384"));
        }
        if av.sizes.is_empty() || av.sizes.iter().any(|s| !(16..=1024).contains(s)) {
            return Err(invalid(
                "avatar.sizes",
                "one or more sizes of 16 to 1024 pixels",
            ));
        }
        if av
            .sms_link_handsets
            .iter()
            .any(|n| crate::command::Msisdn::parse(n, &self.country_code).is_err())
        {
            return Err(invalid(
                "avatar.sms_link_handsets",
                "phone numbers (5 to 15 digits)",
            ));
        }
        if av.presets_per_page == 0 || av.presets_per_page > 20 {
            return Err(invalid("avatar.presets_per_page", "1 to 20"));
        }
        let u = &self.ussd;
        if !is_ussd_code(&u.code) {
            return Err(invalid(
                "ussd.code",
                "a code to dial: *, digits (groups separated by *), then #, e.g. \"*123#\"",
            ));
        }
        if u.timeout_secs == 0 || u.timeout_secs > 3600 {
            return Err(invalid("ussd.timeout_secs", "1 to 3600"));
        }
        if !(40..=182).contains(&u.max_gsm7_chars) {
            return Err(invalid("ussd.max_gsm7_chars", "40 to 182"));
        }
        if !(20..=80).contains(&u.max_ucs2_chars) {
            return Err(invalid("ussd.max_ucs2_chars", "20 to 80"));
        }
        if u.service_type.len() > 5 || !u.service_type.is_ascii() {
            return Err(invalid("ussd.service_type", "at most 5 ASCII characters"));
        }
        if !["auto", "same", "other"].contains(&self.delivery.receipt_id_base.as_str()) {
            return Err(invalid(
                "delivery.receipt_id_base",
                "\"auto\", \"same\" or \"other\"",
            ));
        }
        // The gateway sends a validity of at least a minute (`Dispatcher::build_pdus`) and
        // expires a row once its validity has passed since it was queued: a shorter one
        // expires every message unsent. SMPP's relative time counts at most 99 days.
        if !(MIN_VALIDITY_SECS..=MAX_VALIDITY_SECS).contains(&self.delivery.validity_secs) {
            return Err(invalid(
                "delivery.validity_secs",
                "60 (a minute) to 8553600 (99 days, the longest SMPP relative validity) seconds",
            ));
        }
        if self.delivery.max_attempts == 0 {
            return Err(invalid("delivery.max_attempts", "at least 1"));
        }
        let d = &self.delivery;
        for (key, v) in [
            ("delivery.retry_min_secs", d.retry_min_secs),
            ("delivery.retry_max_secs", d.retry_max_secs),
        ] {
            if !(v > 0.0 && v.is_finite() && v <= 86_400.0) {
                return Err(invalid(
                    key,
                    "a positive number of seconds, at most one day",
                ));
            }
        }
        if d.retry_max_secs < d.retry_min_secs {
            return Err(invalid(
                "delivery.retry_max_secs",
                "at least retry_min_secs",
            ));
        }
        if !["normal", "full"].contains(&self.store.durability.as_str()) {
            return Err(invalid("store.durability", "\"normal\" or \"full\""));
        }
        if self.store.keep_days > 3650 {
            return Err(invalid("store.keep_days", "0 (keep forever) to 3650 days"));
        }
        if !(1..=600_000).contains(&self.store.busy_timeout_ms) {
            return Err(invalid(
                "store.busy_timeout_ms",
                "1 to 600000 (milliseconds)",
            ));
        }
        if !(1..=3600).contains(&self.health.mo_deferral_window_secs) {
            return Err(invalid(
                "health.mo_deferral_window_secs",
                "1 to 3600 (seconds)",
            ));
        }
        if self.runtime.worker_threads > 256 {
            return Err(invalid(
                "runtime.worker_threads",
                "0 (one per core less one) to 256",
            ));
        }
        Ok(())
    }

    /// The status service's settings (`country_code` and `[service]`).
    pub fn service_config(&self) -> crate::service::ServiceConfig {
        let sv = &self.service;
        crate::service::ServiceConfig {
            country_code: self.country_code.clone(),
            service_number: self.service_number.clone(),
            service_aliases: self.service_aliases.clone(),
            zone: crate::service::clock::Zone::parse(&sv.time_zone)
                .unwrap_or(crate::service::clock::Zone::CHINA),
            max_group_members: sv.max_group_members,
            max_total_members: sv.max_total_members,
            max_user_groups: sv.max_user_groups,
            hourly_change_quota: sv.hourly_change_quota,
            update_delay: Duration::from_secs(sv.update_delay_secs),
            notify_incall: sv.notify_incall,
            page_size: sv.page_size,
            parts_timeout: Duration::from_secs(sv.parts_timeout_secs),
            avatar: self.avatar_config(),
            ussd: crate::service::ussd::UssdConfig {
                code: self.ussd.code.clone(),
                service_type: self.ussd.service_type.clone(),
                op_begin: self.ussd.op_begin,
                op_continue: self.ussd.op_continue,
                op_menu: self.ussd.op_menu,
                op_end: self.ussd.op_end,
                op_abort: self.ussd.op_abort.clone(),
                timeout_ms: (self.ussd.timeout_secs * 1000) as i64,
                max_gsm7: self.ussd.max_gsm7_chars,
                max_ucs2: self.ussd.max_ucs2_chars,
                gsm7_data_coding: self.ussd.gsm7_data_coding,
                country_code: self.country_code.clone(),
            },
            ..crate::service::ServiceConfig::default()
        }
    }

    /// The base URL links to handsets use: `public_url`, else `http://` + the listen address.
    pub fn public_url(&self) -> String {
        if self.public_url.is_empty() {
            format!("http://{}", self.http)
        } else {
            self.public_url.clone()
        }
    }

    /// The avatar settings (`public_url` and `[avatar]`).
    pub fn avatar_config(&self) -> crate::service::avatar::AvatarConfig {
        let av = &self.avatar;
        let nonzero = |v: u64| (v > 0).then_some(v);
        let mut sizes = av.sizes.clone();
        sizes.sort_unstable();
        sizes.dedup();
        crate::service::avatar::AvatarConfig {
            public_url: self.public_url().trim_end_matches('/').to_string(),
            thresholds: crate::service::avatar::Thresholds {
                call_minutes: nonzero(av.min_call_minutes),
                sms_sent: nonzero(av.min_sms_sent),
                tenure_days: nonzero(av.min_tenure_days),
                level: nonzero(av.min_level),
            },
            upload_ttl: Duration::from_secs(av.upload_link_minutes * 60),
            presets_per_page: av.presets_per_page,
            default_size: sizes
                .iter()
                .copied()
                .find(|s| *s >= 96)
                .unwrap_or(sizes[sizes.len() - 1]),
            sizes,
            max_upload_bytes: av.max_upload_kb * 1024,
            max_dimension: av.max_dimension,
            presets_dir: Some(av.presets_dir.clone()),
            sms_link_handsets: av
                .sms_link_handsets
                .iter()
                .filter_map(|n| crate::command::Msisdn::parse(n, &self.country_code).ok())
                .map(|m| m.as_str().to_string())
                .collect(),
        }
    }

    /// How long `/health` says degraded after an MO PDU was deferred (`[health]
    /// mo_deferral_window_secs`).
    pub fn mo_deferral_window(&self) -> Duration {
        Duration::from_secs(self.health.mo_deferral_window_secs)
    }

    /// How long finished rows are kept (`[store] keep_days`; `None`: forever).
    pub fn keep(&self) -> Option<Duration> {
        (self.store.keep_days > 0)
            .then(|| Duration::from_secs(u64::from(self.store.keep_days) * 86_400))
    }

    /// The store's settings (`[store]`).
    pub fn store_options(&self) -> crate::store::StoreOptions {
        crate::store::StoreOptions {
            durability: match self.store.durability.as_str() {
                "full" => crate::store::Durability::Full,
                _ => crate::store::Durability::Normal,
            },
            busy_timeout: Duration::from_millis(self.store.busy_timeout_ms),
            check_at_open: self.store.check_at_open,
            ..crate::store::StoreOptions::default()
        }
    }

    /// Apply the `[delivery]` section, and the submit addressing of `[smsc]` when one is
    /// configured, to the outbox dispatcher's settings.
    pub fn apply_delivery(&self, d: &mut crate::delivery::DispatcherConfig) {
        if let Some(s) = &self.smsc {
            d.template.source_ton = s.source_ton;
            d.template.source_npi = s.source_npi;
            d.cancel_superseded = s.cancel_superseded;
            d.no_cancel_memory = Duration::from_secs(s.no_cancel_memory_hours.saturating_mul(3600));
        }
        let c = &self.delivery;
        d.template.registered_delivery = c.registered_delivery;
        d.template.concat = if c.concat_16bit {
            sms_wire::segment::ConcatStyle::Udh16
        } else {
            sms_wire::segment::ConcatStyle::Udh8
        };
        d.validity = Some(Duration::from_secs(c.validity_secs));
        let retries = self.retry_policy();
        d.max_attempts = retries.max_attempts;
        d.retry_min = retries.retry_min;
        d.retry_max = retries.retry_max;
        d.other_base = match c.receipt_id_base.as_str() {
            "same" => crate::store::outbox::OtherBase::Never,
            "other" => crate::store::outbox::OtherBase::Always,
            _ => crate::store::outbox::OtherBase::Auto,
        };
    }

    /// The outbox dispatcher's retry settings (`[delivery] retry_min_secs`, `retry_max_secs`,
    /// `max_attempts`): what [`Config::apply_delivery`] starts it with, and what a config
    /// reload puts in force ([`crate::delivery::Retries::set`]).
    pub fn retry_policy(&self) -> crate::delivery::RetryPolicy {
        let c = &self.delivery;
        crate::delivery::RetryPolicy {
            retry_min: Duration::from_secs_f64(c.retry_min_secs.max(0.01)),
            retry_max: Duration::from_secs_f64(c.retry_max_secs.max(c.retry_min_secs).max(0.01)),
            max_attempts: c.max_attempts,
        }
    }

    /// The link settings for [`crate::smpp::Link`], given the SMSC address actually used; an
    /// error when its TLS files cannot be used (any more: [`Config::validate`] read them).
    pub fn link_config(&self, smsc: &SmscConfig) -> Result<LinkConfig, ConfigError> {
        let secs = Duration::from_secs_f64;
        Ok(LinkConfig {
            smsc: smsc.address.clone(),
            fallback_smsc: smsc.fallback_addresses.clone(),
            primary_probe: (smsc.return_to_primary_secs > 0.0)
                .then(|| secs(smsc.return_to_primary_secs)),
            system_id: smsc.system_id.clone(),
            password: smsc.password.clone(),
            system_type: smsc.system_type.clone(),
            addr_ton: smsc.addr_ton,
            addr_npi: smsc.addr_npi,
            address_range: smsc.address_range.clone(),
            bind_mode: smsc.bind_mode,
            window: smsc.window,
            response_timeout: secs(smsc.response_timeout_secs),
            busy_poll: Duration::from_micros(smsc.busy_poll_us),
            enquire_link_interval: secs(smsc.enquire_link_secs),
            enquire_link_timeout: secs(smsc.enquire_link_timeout_secs),
            reconnect_min: secs(smsc.reconnect_min_secs),
            reconnect_max: secs(smsc.reconnect_max_secs),
            connect_timeout: secs(smsc.connect_timeout_secs),
            max_rate: (smsc.max_rate > 0.0).then_some(smsc.max_rate),
            temporary_statuses: smsc.temporary_statuses.clone(),
            tls: smsc.tls_client()?,
            ..LinkConfig::default()
        })
    }
}

/// The keys of a config file whose values differ between two versions of its text (`old`,
/// `new`), dotted (`smsc.max_rate`; those of a section added or removed too): what a
/// reload reports, sorted by key. A key written with its default and a key left out differ
/// here (the text changed); the reload judges the values. `None` when either text is not TOML.
pub fn changed_keys(old: &str, new: &str) -> Option<Vec<String>> {
    fn walk(
        prefix: &str,
        old: Option<&toml::Value>,
        new: Option<&toml::Value>,
        out: &mut Vec<String>,
    ) {
        let empty = toml::Table::new();
        fn table<'a>(
            v: Option<&'a toml::Value>,
            empty: &'a toml::Table,
        ) -> Option<&'a toml::Table> {
            match v {
                Some(toml::Value::Table(t)) => Some(t),
                None => Some(empty),
                Some(_) => None,
            }
        }
        // Tables (one may be absent: a section added or removed), key by key.
        if let (Some(a), Some(b)) = (table(old, &empty), table(new, &empty)) {
            for (k, v) in b {
                walk(&format!("{prefix}{k}."), a.get(k), Some(v), out);
            }
            for (k, v) in a.iter().filter(|(k, _)| !b.contains_key(*k)) {
                walk(&format!("{prefix}{k}."), Some(v), None, out);
            }
            return;
        }
        match (old, new) {
            (a, b) if a == b => {}
            _ => out.push(prefix.trim_end_matches('.').to_string()),
        }
    }
    let old: toml::Value = toml::from_str(old).ok()?;
    let new: toml::Value = toml::from_str(new).ok()?;
    let mut out = Vec::new();
    walk("", Some(&old), Some(&new), &mut out);
    out.sort();
    Some(out)
}

/// Of [`changed_keys`], those a running gateway applies at a reload (SIGHUP); every other
/// key takes effect at the next start. `api_key` and `api_key_file` (whose file is read again
/// at every reload, its key applied when it changed, the config text changed or not): the
/// next request is checked against the new key (none: the API off);
/// `smsc.temporary_statuses`: the next answer read is classified with the new list; the
/// `[delivery]` retry settings: every attempt that ends from then on (rows already waiting
/// keep their next try's time); `smsc.max_rate` and `smsc.window`: the link's pace at once.
pub const RELOADABLE_KEYS: [&str; 8] = [
    "api_key",
    "api_key_file",
    "delivery.max_attempts",
    "delivery.retry_max_secs",
    "delivery.retry_min_secs",
    "smsc.max_rate",
    "smsc.temporary_statuses",
    "smsc.window",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operator_http_is_an_address_of_its_own_or_empty() {
        let load = |t: &str| {
            Config::from_toml(t, Path::new("x.toml"))
                .and_then(|c| c.validate().map(|()| c))
                .map_err(|e| e.to_string())
        };
        assert!(load("").unwrap().operator_http.is_empty());
        let c = load("operator_http = \"127.0.0.1:9090\"\n").unwrap();
        assert!(c.summary().contains("operator http:   127.0.0.1:9090"));
        for bad in ["nowhere", "127.0.0.1:8080"] {
            let e = load(&format!(
                "http = \"127.0.0.1:8080\"\noperator_http = \"{bad}\"\n"
            ))
            .unwrap_err();
            assert!(e.contains("operator_http"), "{bad}: {e}");
        }
    }

    #[test]
    fn changed_keys_names_each_value_that_differs() {
        let old = "db = \"a.db\"\n[smsc]\naddress = \"h:1\"\nmax_rate = 0\nwindow = 64\n[delivery]\nmax_attempts = 5\n";
        let new = "db = \"a.db\"\n[smsc]\naddress = \"h:1\"\nmax_rate = 50\nwindow = 64\n[avatar]\nmin_level = 3\n";
        assert_eq!(
            changed_keys(old, new).unwrap(),
            ["avatar.min_level", "delivery.max_attempts", "smsc.max_rate"]
        );
        assert_eq!(changed_keys(new, new).unwrap(), Vec::<String>::new());
        // A table turned into a value and back, an array changed: the key itself.
        let arr = "[smsc]\ntemporary_statuses = [1]\n";
        let arr2 = "[smsc]\ntemporary_statuses = [1, 2]\n";
        assert_eq!(
            changed_keys(arr, arr2).unwrap(),
            ["smsc.temporary_statuses"]
        );
        assert!(changed_keys(old, "[smsc").is_none());
    }

    #[test]
    fn unknown_key_and_bad_value_are_named() {
        let e = Config::from_toml("servce_number = \"1\"\n", Path::new("x.toml")).unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("servce_number") && msg.contains("line 1"),
            "{msg}"
        );
        let e = Config::from_toml(
            "[smsc]\naddress = \"h:1\"\npassword = \"123456789\"\n",
            Path::new("x.toml"),
        )
        .unwrap_err();
        assert!(e.to_string().contains("smsc.password"), "{e}");
        // A multi-line string's newline, a tab, a NUL: refused, not sent in the bind.
        for pw in ["\"\"\"\npw12\n\"\"\"", "\"pw\\t12\"", "\"pw\\u000012\""] {
            let toml = format!("[smsc]\naddress = \"h:1\"\npassword = {pw}\n");
            let e = Config::from_toml(&toml, Path::new("x.toml")).unwrap_err();
            assert!(e.to_string().contains("smsc.password"), "{pw}: {e}");
            assert!(
                !e.to_string().contains("pw12"),
                "the password is not shown: {e}"
            );
        }
        for (key, value) in [("system_id", "\"esme\\n\""), ("system_type", "\"\\tVMA\"")] {
            let toml = format!("[smsc]\naddress = \"h:1\"\npassword = \"pw\"\n{key} = {value}\n");
            let e = Config::from_toml(&toml, Path::new("x.toml")).unwrap_err();
            assert!(e.to_string().contains(key), "{key}: {e}");
        }
        let ok = "[smsc]\naddress = \"h:1\"\npassword = \"p w~!\"\n";
        assert!(
            Config::from_toml(ok, Path::new("x.toml")).is_ok(),
            "a space is printable"
        );
        let e = Config::from_toml("[smsc]\nwindow = \"many\"\n", Path::new("x.toml")).unwrap_err();
        assert!(e.to_string().contains("window"), "{e}");
    }

    /// A carrier's own codes for "failed for now" are written as in its documents (hex)
    /// and reach the link; 0, a success, is refused.
    /// `[smsc] cancel_superseded` is on unless set off, and reaches the dispatcher's settings
    /// (which the canceller reads).
    #[test]
    fn cancel_superseded_is_on_by_default_and_can_be_turned_off() {
        let template = crate::delivery::encode::SubmitTemplate {
            source: "10658".into(),
            source_ton: 0,
            source_npi: 0,
            registered_delivery: true,
            concat: sms_wire::segment::ConcatStyle::Udh8,
        };
        for (line, want) in [("", true), ("cancel_superseded = false\n", false)] {
            let toml = format!("[smsc]\naddress = \"h:1\"\npassword = \"pw\"\n{line}");
            let c = Config::from_toml(&toml, Path::new("x.toml")).unwrap();
            c.validate().unwrap();
            let mut d = crate::delivery::DispatcherConfig::new(template.clone());
            d.cancel_superseded = !want;
            c.apply_delivery(&mut d);
            assert_eq!(d.cancel_superseded, want, "{toml}");
        }
        // How long an SMSC without cancel_sm is remembered: a day unless set.
        for (line, hours) in [("", 24), ("no_cancel_memory_hours = 0\n", 0)] {
            let toml = format!("[smsc]\naddress = \"h:1\"\npassword = \"pw\"\n{line}");
            let c = Config::from_toml(&toml, Path::new("x.toml")).unwrap();
            let mut d = crate::delivery::DispatcherConfig::new(template.clone());
            d.no_cancel_memory = Duration::from_secs(1);
            c.apply_delivery(&mut d);
            assert_eq!(
                d.no_cancel_memory,
                Duration::from_secs(hours * 3600),
                "{toml}"
            );
        }
    }

    #[test]
    fn temporary_statuses_are_read_and_reach_the_link() {
        let toml =
            "[smsc]\naddress = \"h:1\"\npassword = \"pw\"\ntemporary_statuses = [0x401, 1034]\n";
        let c = Config::from_toml(toml, Path::new("x.toml")).unwrap();
        c.validate().unwrap();
        let smsc = c.smsc.as_ref().unwrap();
        assert_eq!(smsc.temporary_statuses, [0x401, 0x40A]);
        assert_eq!(
            c.link_config(smsc).unwrap().temporary_statuses,
            [0x401, 0x40A]
        );
        let toml = "[smsc]\naddress = \"h:1\"\npassword = \"pw\"\ntemporary_statuses = [0]\n";
        let e = Config::from_toml(toml, Path::new("x.toml"))
            .and_then(|c| c.validate())
            .unwrap_err()
            .to_string();
        assert!(e.contains("smsc.temporary_statuses"), "{e}");
    }

    #[test]
    fn a_missing_password_does_not_hide_other_smsc_errors_and_backoff_bounds_agree() {
        let check = |toml: &str| {
            Config::from_toml(toml, Path::new("x.toml"))
                .and_then(|c| c.validate())
                .unwrap_err()
                .to_string()
        };
        let e = check("[smsc]\nwindow = 0\n");
        assert!(e.contains("smsc.window"), "{e}");
        let e = check("[smsc]\n");
        assert!(e.contains("smsc.password"), "{e}");
        let e =
            check("[smsc]\npassword = \"pw\"\nreconnect_min_secs = 10\nreconnect_max_secs = 1\n");
        assert!(e.contains("smsc.reconnect_min_secs"), "{e}");
    }

    #[test]
    fn busy_poll_reaches_the_link_and_is_bounded() {
        let link = |toml: &str| {
            Config::from_toml(toml, Path::new("x.toml")).and_then(|c| {
                c.validate()?;
                Ok(c.link_config(c.smsc.as_ref().unwrap())?.busy_poll)
            })
        };
        assert_eq!(
            link("[smsc]\npassword = \"pw\"\n").unwrap(),
            Duration::from_micros(crate::smpp::DEFAULT_BUSY_POLL_US)
        );
        assert_eq!(
            link("[smsc]\npassword = \"pw\"\nbusy_poll_us = 0\n").unwrap(),
            Duration::ZERO
        );
        assert_eq!(
            link("[smsc]\npassword = \"pw\"\nbusy_poll_us = 150\n").unwrap(),
            Duration::from_micros(150)
        );
        let e = link("[smsc]\npassword = \"pw\"\nbusy_poll_us = 20000\n").unwrap_err();
        assert!(e.to_string().contains("smsc.busy_poll_us"), "{e}");
    }

    #[test]
    fn defaults_validate_and_password_never_prints() {
        let c = Config::from_toml("[smsc]\npassword = \"pw12\"\n", Path::new("x.toml")).unwrap();
        c.validate().unwrap();
        assert!(!format!("{c:?}").contains("pw12"));
        let link = c.link_config(c.smsc.as_ref().unwrap()).unwrap();
        assert_eq!(link.password.expose(), "pw12");
        assert!(!format!("{link:?}").contains("pw12"));
    }

    /// An MO to another number than the service's was run as a command; the numbers the
    /// carrier routes to the service are `service_number` and `service_aliases`.
    #[test]
    fn the_service_takes_mo_to_its_number_and_aliases_only() {
        let c = Config::from_toml(
            "service_number = \"10658\"\nservice_aliases = [\"1065800001\"]\n",
            Path::new("x.toml"),
        )
        .unwrap();
        let svc = crate::service::Service::new(c.service_config());
        for to in ["10658", "+8610658", "1065800001", "861065800001", "*123#"] {
            assert!(svc.is_for_service(to, false), "{to}");
            assert!(svc.is_for_service(to, true), "{to}");
        }
        for to in ["10086", "1065800002", "13800138000", "*456#"] {
            assert!(!svc.is_for_service(to, false), "{to}");
            assert!(!svc.is_for_service(to, true), "{to}");
        }
        // A USSD unit without a destination continues its dialogue; an SMS without one is
        // for nobody.
        assert!(svc.is_for_service("", true));
        assert!(!svc.is_for_service("", false));
        assert!(c
            .summary()
            .contains("10658 (country code 86); also 1065800001"));
    }

    #[test]
    fn shipped_example_is_valid_and_complete() {
        let text = include_str!("../presence-gw.example.toml");
        let c = Config::from_toml(text, Path::new("presence-gw.example.toml")).unwrap();
        let s = c.smsc.as_ref().expect("example has an [smsc] section");
        assert_eq!(s.window, 64);
        assert_eq!(c.delivery.max_attempts, 20);
        assert_eq!(c.runtime.worker_threads, 0);
        assert_eq!(c.store.durability, "normal");
        assert_eq!(c.store.busy_timeout_ms, 5_000);
    }

    /// The keys the parser takes in `section` ("" for the top level), as its refusal of an
    /// unknown key lists them: the parser's own list, not one written again here.
    fn keys_taken(section: &str) -> Vec<String> {
        let header = if section.is_empty() {
            String::new()
        } else {
            format!("[{section}]\n")
        };
        let e = Config::parse_toml(&format!("{header}no_such_key = 1\n"), Path::new("x.toml"))
            .unwrap_err()
            .to_string();
        // serde: "expected one of `a`, `b`", or "expected `a`" for a section of one key.
        let list = e
            .split_once("expected ")
            .unwrap_or_else(|| panic!("no key list in {e}"))
            .1;
        list.split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_string)
            .collect()
    }

    /// presence-gw.example.toml says "every key is documented there" and "the values shown
    /// are the defaults": every key the parser takes is written in it (set, or commented out
    /// as `# key = ...`), and every value it sets is the one the gateway uses without it.
    #[test]
    fn shipped_example_writes_every_key_with_its_default() {
        let text = include_str!("../presence-gw.example.toml");
        let written = |section: &str, key: &str| {
            let mut current = String::new();
            text.lines().any(|raw| {
                let line = raw.trim();
                if let Some(h) = line.strip_prefix('[') {
                    current = h.trim_end_matches(']').trim().to_string();
                    return current == key && section.is_empty();
                }
                let line = line.trim_start_matches('#').trim_start();
                current == section && line.split_once('=').is_some_and(|(k, _)| k.trim() == key)
            })
        };
        let top = keys_taken("");
        let mut tables = 0;
        for section in std::iter::once("").chain(top.iter().map(String::as_str)) {
            // The top level's list holds the sections too (written as `[smsc]`); a key of
            // it that is no table lists no keys of its own.
            let keys = if section.is_empty() {
                top.clone()
            } else {
                keys_taken(section)
            };
            tables += usize::from(!keys.is_empty());
            for key in &keys {
                assert!(
                    written(section, key),
                    "`{key}` (in [{section}]) is taken by the parser but not written in \
                     presence-gw.example.toml"
                );
            }
        }
        assert!(
            tables >= 8,
            "the top level and its 7 sections: {tables} key lists read"
        );

        // The one value shown that is no default: the bind password, which has none.
        assert_eq!(SmscConfig::default().password.expose(), "");
        let password = text
            .lines()
            .find(|l| l.starts_with("password ="))
            .expect("the example's password line");
        assert!(
            password.contains("no default"),
            "the example shows a password without saying it is none of the defaults: {password}"
        );
        let c = Config::from_toml(text, Path::new("presence-gw.example.toml")).unwrap();
        let d = Config::default();
        let same = |what: &str, example: String, default: String| {
            assert_eq!(
                example, default,
                "the example's {what} are not the defaults"
            );
        };
        same(
            "[smsc] values (the password aside: it has none)",
            format!("{:?}", c.smsc.as_ref().expect("an [smsc] section")),
            format!("{:?}", SmscConfig::default()),
        );
        same(
            "[delivery] values",
            format!("{:?}", c.delivery),
            format!("{:?}", d.delivery),
        );
        same(
            "[service] values",
            format!("{:?}", c.service),
            format!("{:?}", d.service),
        );
        same(
            "[avatar] values",
            format!("{:?}", c.avatar),
            format!("{:?}", d.avatar),
        );
        same(
            "[ussd] values",
            format!("{:?}", c.ussd),
            format!("{:?}", d.ussd),
        );
        same(
            "[store] values",
            format!("{:?}", c.store),
            format!("{:?}", d.store),
        );
        same(
            "[runtime] values",
            format!("{:?}", c.runtime),
            format!("{:?}", d.runtime),
        );
        same(
            "top-level values",
            format!("{:?}", Config { smsc: None, ..c }),
            format!("{d:?}"),
        );
    }

    #[test]
    fn addressing_keys_are_checked_against_smpp_codes() {
        let base = "[smsc]\naddress = \"h:1\"\npassword = \"pw\"\n";
        for (bad, key) in [
            ("addr_ton = 7", "smsc.addr_ton"),
            ("source_ton = 9", "smsc.source_ton"),
            ("addr_npi = 2", "smsc.addr_npi"),
            ("source_npi = 5", "smsc.source_npi"),
            ("address_range = \"\u{4e2d}\"", "smsc.address_range"),
            (
                "fallback_addresses = [\"standby\"]",
                "smsc.fallback_addresses",
            ),
        ] {
            let e = Config::from_toml(&format!("{base}{bad}\n"), Path::new("x.toml")).unwrap_err();
            assert!(
                e.to_string().contains(key) && e.to_string().contains("line 4"),
                "{bad}: {e}"
            );
        }
        let c = Config::from_toml(
            &format!(
                "{base}addr_ton = 1\naddr_npi = 1\naddress_range = \"^10658\"\nsource_ton = 3\n\
                 fallback_addresses = [\"10.0.0.2:2775\", \"10.0.0.3:2775\"]\n"
            ),
            Path::new("x.toml"),
        )
        .unwrap();
        let link = c.link_config(c.smsc.as_ref().unwrap()).unwrap();
        assert_eq!(link.fallback_smsc, ["10.0.0.2:2775", "10.0.0.3:2775"]);
        assert_eq!(
            link.primary_probe,
            Some(Duration::from_secs(60)),
            "the default"
        );
        let stay = Config::from_toml(
            &format!("{base}return_to_primary_secs = 0\n"),
            Path::new("x.toml"),
        )
        .unwrap();
        assert_eq!(
            stay.link_config(stay.smsc.as_ref().unwrap())
                .unwrap()
                .primary_probe,
            None
        );
        assert_eq!((link.addr_ton, link.addr_npi), (1, 1));
        assert_eq!(link.address_range, "^10658");
        let mut d =
            crate::delivery::DispatcherConfig::new(crate::delivery::encode::SubmitTemplate {
                source: "10658".into(),
                source_ton: 0,
                source_npi: 1,
                registered_delivery: true,
                concat: sms_wire::segment::ConcatStyle::Udh8,
            });
        c.apply_delivery(&mut d);
        assert_eq!((d.template.source_ton, d.template.source_npi), (3, 0));
    }

    #[test]
    fn store_section_sets_durability_and_busy_timeout() {
        let c = Config::from_toml(
            "[store]\ndurability = \"full\"\nbusy_timeout_ms = 250\n",
            Path::new("x.toml"),
        )
        .unwrap();
        let o = c.store_options();
        assert_eq!(
            c.keep(),
            Some(Duration::from_secs(30 * 86_400)),
            "30 days by default"
        );
        assert_eq!(o.durability, crate::store::Durability::Full);
        assert_eq!(o.busy_timeout, Duration::from_millis(250));
        assert_eq!(
            Config::default().store_options().durability,
            crate::store::Durability::Normal
        );
        let forever = Config::from_toml("[store]\nkeep_days = 0\n", Path::new("x.toml")).unwrap();
        assert_eq!(forever.keep(), None);
        assert!(o.check_at_open, "the check at open is on by default");
        let unchecked =
            Config::from_toml("[store]\ncheck_at_open = false\n", Path::new("x.toml")).unwrap();
        assert!(!unchecked.store_options().check_at_open);
        for bad in [
            "durability = \"fsync\"",
            "busy_timeout_ms = 0",
            "keep_days = 4000",
        ] {
            let e =
                Config::from_toml(&format!("[store]\n{bad}\n"), Path::new("x.toml")).unwrap_err();
            let key = bad.split(' ').next().unwrap();
            assert!(
                e.to_string().contains(&format!("store.{key}")) && e.to_string().contains("line 2"),
                "{e}"
            );
        }
    }

    /// `[health] mo_deferral_window_secs` is 60 unless set, 1 to 3600, and reaches the gateway's
    /// options through [`Config::mo_deferral_window`].
    #[test]
    fn the_health_mo_deferral_window_has_a_default_and_bounds() {
        assert_eq!(
            Config::default().mo_deferral_window(),
            Duration::from_secs(60)
        );
        let c = Config::from_toml(
            "[health]\nmo_deferral_window_secs = 300\n",
            Path::new("x.toml"),
        )
        .unwrap();
        assert_eq!(c.mo_deferral_window(), Duration::from_secs(300));
        for bad in ["0", "3601"] {
            let e = Config::from_toml(
                &format!("[health]\nmo_deferral_window_secs = {bad}\n"),
                Path::new("x.toml"),
            )
            .unwrap_err()
            .to_string();
            assert!(
                e.contains("health.mo_deferral_window_secs") && e.contains("line 2"),
                "{e}"
            );
        }
        let e = Config::from_toml("[health]\nwindow = 5\n", Path::new("x.toml")).unwrap_err();
        assert!(e.to_string().contains("window"), "{e}");
    }

    /// `http_max_connections` is 1024 unless set, 1 to 100000, and shown by `check-config`.
    #[test]
    fn the_http_connection_cap_has_a_default_bounds_and_a_summary_line() {
        assert_eq!(Config::default().http_max_connections, 1024);
        let c = Config::from_toml("http_max_connections = 2\n", Path::new("x.toml")).unwrap();
        assert_eq!(c.http_max_connections, 2);
        assert!(
            c.summary()
                .contains("http:            127.0.0.1:8080 (at most 2 connections open)"),
            "{}",
            c.summary()
        );
        for bad in ["0", "100001"] {
            let e = Config::from_toml(
                &format!("country_code = \"86\"\nhttp_max_connections = {bad}\n"),
                Path::new("x.toml"),
            )
            .unwrap_err()
            .to_string();
            assert!(
                e.contains("http_max_connections") && e.contains("line 2") && e.contains("1 to"),
                "{e}"
            );
        }
    }

    #[test]
    fn a_parse_error_names_the_line_and_never_shows_a_secret() {
        for (text, key) in [
            (
                "[smsc]\naddress = \"10.0.0.1:2775\"\npassword = 12345678\n",
                "password",
            ),
            (
                "[smsc]\naddress = \"10.0.0.1:2775\"\npasword = \"12345678\"\n",
                "pasword",
            ),
            ("api_key = 12345678\n", "api_key"),
            ("api_key = \"12345678\" extra\n", "api_key"),
            (
                "smsc = { address = \"10.0.0.1:2775\", password = 12345678 }\n",
                "smsc",
            ),
        ] {
            let e = Config::from_toml(text, Path::new("x.toml"))
                .unwrap_err()
                .to_string();
            assert!(!e.contains("12345678"), "{e}");
            assert!(e.contains("line ") && e.contains(key), "{e}");
        }
        // A typo on a secret's line: the keys are named, typo and suggestions (only values
        // are hidden; from the exploratory tester).
        let e = Config::from_toml(
            "[smsc]\naddress = \"10.0.0.1:2775\"\npasswrd = \"12345678\"\n",
            Path::new("x.toml"),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("unknown field `passwrd`, expected one of `address`")
                && e.contains("`password`")
                && !e.contains('…')
                && !e.contains("12345678"),
            "{e}"
        );
        // Other values are named as toml names them.
        let e = Config::from_toml("[delivery]\nwindow = \"big\"\n", Path::new("x.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 2") && e.contains("`window`"), "{e}");
    }

    #[test]
    fn the_parts_timeout_is_configurable_and_bounded() {
        assert_eq!(
            Config::default().service_config().parts_timeout,
            Duration::from_secs(1800)
        );
        let c = Config::from_toml("[service]\nparts_timeout_secs = 600\n", Path::new("x.toml"))
            .unwrap();
        assert_eq!(c.service_config().parts_timeout, Duration::from_secs(600));
        for bad in ["parts_timeout_secs = 5", "parts_timeout_secs = 100000"] {
            let e =
                Config::from_toml(&format!("[service]\n{bad}\n"), Path::new("x.toml")).unwrap_err();
            assert!(
                e.to_string().contains("service.parts_timeout_secs")
                    && e.to_string().contains("line 2"),
                "{e}"
            );
        }
    }

    #[test]
    fn the_update_delay_is_off_by_default_and_bounded() {
        assert_eq!(
            Config::default().service_config().update_delay,
            Duration::ZERO
        );
        let c =
            Config::from_toml("[service]\nupdate_delay_secs = 30\n", Path::new("x.toml")).unwrap();
        assert_eq!(c.service_config().update_delay, Duration::from_secs(30));
        let e = Config::from_toml("[service]\nupdate_delay_secs = 3601\n", Path::new("x.toml"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("service.update_delay_secs") && e.contains("0 to 3600"),
            "{e}"
        );
    }

    #[test]
    fn worker_threads_are_bounded_and_default_to_cores_less_one() {
        let c = Config::from_toml("[runtime]\nworker_threads = 3\n", Path::new("x.toml")).unwrap();
        assert_eq!(crate::app::worker_threads(c.runtime.worker_threads), 3);
        let e = Config::from_toml("[runtime]\nworker_threads = 999\n", Path::new("x.toml"))
            .unwrap_err();
        assert!(
            e.to_string().contains("line 2") && e.to_string().contains("runtime.worker_threads"),
            "{e}"
        );
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        assert_eq!(crate::app::worker_threads(0), (cores - 1).max(1));
    }

    #[test]
    fn a_carrier_bind_needs_a_password_an_address_with_a_port_and_sane_retries() {
        let smsc = |extra: &str| format!("[smsc]\naddress = \"10.0.0.1:2775\"\n{extra}");
        let e = Config::from_toml(&smsc(""), Path::new("x.toml")).unwrap_err();
        assert!(e.to_string().contains("PRESENCE_GW_SMSC_PASSWORD"), "{e}");
        // Parsed alone, the same file is fine: the password may come from the environment.
        let mut c = Config::parse_toml(&smsc(""), Path::new("x.toml")).unwrap();
        c.smsc.as_mut().unwrap().password = Secret::new("pw");
        assert!(c.validate().is_ok());
        for (text, key) in [
            (
                "[smsc]\naddress = \"smsc.example.com\"\npassword = \"pw\"\n",
                "smsc.address",
            ),
            (
                "[smsc]\naddress = \"smsc:0\"\npassword = \"pw\"\n",
                "smsc.address",
            ),
            (
                "[delivery]\nretry_max_secs = inf\n",
                "delivery.retry_max_secs",
            ),
            (
                "[smsc]\naddress = \"h:1\"\npassword = \"pw\"\nreturn_to_primary_secs = -1\n",
                "smsc.return_to_primary_secs",
            ),
            (
                "[smsc]\naddress = \"h:1\"\npassword = \"pw\"\nreturn_to_primary_secs = 0.001\n",
                "smsc.return_to_primary_secs",
            ),
            (
                "[delivery]\nretry_min_secs = 0.0\n",
                "delivery.retry_min_secs",
            ),
            (
                "[delivery]\nretry_min_secs = 60.0\nretry_max_secs = 10.0\n",
                "delivery.retry_max_secs",
            ),
        ] {
            let e = Config::from_toml(text, Path::new("x.toml")).unwrap_err();
            assert!(e.to_string().contains(key), "{text}: {e}");
        }
        assert!(is_host_port("[::1]:2775") && is_host_port("smsc.example.com:2775"));
    }

    /// `validity_secs = 0` passed and every message then expired unsent; a service number,
    /// country code or USSD code that is no such thing passed too (from the exploratory
    /// tester). Each is refused, naming its key and line.
    #[test]
    fn validity_and_the_numbers_and_codes_are_checked() {
        for (text, key) in [
            ("[delivery]\nvalidity_secs = 0\n", "delivery.validity_secs"),
            ("[delivery]\nvalidity_secs = 59\n", "delivery.validity_secs"),
            (
                "[delivery]\nvalidity_secs = 8553601\n",
                "delivery.validity_secs",
            ),
            ("service_number = \"hello world\"\n", "service_number"),
            ("service_number = \"12\"\n", "service_number"),
            ("service_number = \"+1234567890123456\"\n", "service_number"),
            ("service_number = \"10658 \"\n", "service_number"),
            ("service_aliases = [\"12\"]\n", "service_aliases"),
            (
                "service_aliases = [\"1065800001\", \"1065 8000\"]\n",
                "service_aliases",
            ),
            ("service_aliases = [\"+\"]\n", "service_aliases"),
            ("country_code = \"0\"\n", "country_code"),
            ("country_code = \"086\"\n", "country_code"),
            ("country_code = \"1234\"\n", "country_code"),
            ("[ussd]\ncode = \"hello\"\n", "ussd.code"),
            ("[ussd]\ncode = \"*123\"\n", "ussd.code"),
            ("[ussd]\ncode = \"123#\"\n", "ussd.code"),
            ("[ussd]\ncode = \"*12**3#\"\n", "ussd.code"),
            ("[ussd]\ncode = \"*#\"\n", "ussd.code"),
        ] {
            let e = Config::from_toml(text, Path::new("x.toml")).unwrap_err();
            let line = text.lines().count();
            assert!(
                e.to_string()
                    .starts_with(&format!("x.toml, line {line}: invalid value for `{key}`")),
                "{text}: {e}"
            );
        }
        for good in [
            "service_number = \"10658\"\ncountry_code = \"1\"\n",
            "service_number = \"+8613800138000\"\ncountry_code = \"852\"\n",
            "service_number = \"123\"\n",
            "service_aliases = [\"1065800001\", \"+8610659\"]\n",
            "[delivery]\nvalidity_secs = 60\n",
            "[delivery]\nvalidity_secs = 8553600\n",
            "[ussd]\ncode = \"*123#\"\n",
            "[ussd]\ncode = \"*100*5#\"\n",
        ] {
            Config::from_toml(good, Path::new("x.toml")).unwrap_or_else(|e| panic!("{good}: {e}"));
        }
    }

    /// A bad secret from the environment was blamed on the file's line for the key (which
    /// held a good one), or on a flag never typed (from the exploratory tester): an override
    /// is named as its source, and a key it does not set keeps its line.
    #[test]
    fn a_bad_value_names_the_variable_or_flag_that_set_it() {
        let text =
            "api_key = \"0123456789abcdef\"\n[smsc]\naddress = \"h:1\"\npassword = \"okpass\"\n";
        let path = Path::new("cfg/t.toml");
        let mut c = Config::parse_toml(text, path).unwrap();
        c.smsc.as_mut().unwrap().password = Secret::new("waytoolongpassword");
        let from = |key, source| Override { key, source };
        let e = c
            .validate_with(
                Some((text, path)),
                &[from("smsc.password", SMSC_PASSWORD_ENV)],
            )
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "invalid value for `smsc.password` (from PRESENCE_GW_SMSC_PASSWORD): 1-8 printable \
             ASCII characters (SMPP 3.4 §4.1.1; no newline, tab or other control character)"
        );
        assert!(!e.contains("waytoolong"), "{e}");
        c.smsc.as_mut().unwrap().password = Secret::new("okpass");
        c.api_key = Some(Secret::new(""));
        let e = c
            .validate_with(Some((text, path)), &[from("api_key", "--api-key")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("`api_key` (from --api-key)"), "{e}");
        // The same value from the file: its line.
        let e = c.validate_in(text, path).unwrap_err().to_string();
        assert!(
            e.starts_with("cfg/t.toml, line 1: invalid value for `api_key`"),
            "{e}"
        );
    }

    /// A key file with the mode given, holding `text`, in a fresh directory.
    fn key_file(text: &str, mode: u32) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("api_key");
        std::fs::write(&path, text).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        }
        #[cfg(not(unix))]
        let _ = mode;
        (dir, path)
    }

    /// The config `text` (with `api_key_file` pointing at `path`) parsed, validated and its
    /// key file read, as `serve` does; the error as shown.
    fn with_key_file(text: &str, path: &Path) -> Result<Config, String> {
        let text = format!("{text}api_key_file = {:?}\n", path.to_str().unwrap());
        let toml = Path::new("gw.toml");
        let mut c = Config::from_toml(&text, toml).map_err(|e| e.to_string())?;
        c.read_api_key_file(Some((&text, toml)))
            .map_err(|e| e.to_string())?;
        Ok(c)
    }

    #[test]
    fn an_api_key_file_gives_the_key_trimmed_and_never_shows_it() {
        let key = "file-key-0123456789abcdef";
        let (_dir, path) = key_file(&format!("  {key}\n\n"), 0o640);
        let c = with_key_file("", &path).unwrap();
        assert_eq!(c.operator_api_key().unwrap().expose(), key);
        assert!(c.api_key.is_none());
        let summary = c.summary();
        assert!(
            summary.contains(&format!(
                "operator api:    key set (read from api_key_file {})",
                path.display()
            )),
            "{summary}"
        );
        assert!(!summary.contains(key), "{summary}");
        assert!(!format!("{c:?}").contains(key));
        // Not read (the other commands): no key, and nothing read.
        let c = Config::from_toml(
            &format!("api_key_file = {:?}\n", path.to_str().unwrap()),
            Path::new("gw.toml"),
        )
        .unwrap();
        assert!(c.operator_api_key().is_none());
        // None at all.
        let c = Config::from_toml("", Path::new("gw.toml")).unwrap();
        assert!(c
            .summary()
            .contains("operator api:    off (no api_key or api_key_file)"));
    }

    #[test]
    fn api_key_and_api_key_file_both_set_is_an_error_naming_both() {
        let (_dir, path) = key_file("file-key-0123456789abcdef\n", 0o600);
        let e = with_key_file("api_key = \"0123456789abcdef\"\n", &path).unwrap_err();
        assert!(
            e.starts_with(
                "gw.toml, line 1: invalid value for `api_key`: set together with api_key_file"
            ),
            "{e}"
        );
        // The key from the environment (or a flag) is named with where it came from.
        let text = format!("api_key_file = {:?}\n", path.to_str().unwrap());
        let mut c = Config::parse_toml(&text, Path::new("gw.toml")).unwrap();
        c.api_key = Some(Secret::new("env-key-0123456789abcdef"));
        let from_env = [Override {
            key: "api_key",
            source: API_KEY_ENV,
        }];
        let e = c
            .validate_with(Some((&text, Path::new("gw.toml"))), &from_env)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("invalid value for `api_key` (from PRESENCE_GW_API_KEY): set together with api_key_file"),
            "{e}"
        );
        assert!(!e.contains("env-key"), "{e}");
    }

    #[test]
    fn an_empty_unreadable_or_world_readable_key_file_is_refused_naming_it() {
        let shown = |p: &Path| p.display().to_string();
        // Empty, or only a newline.
        for text in ["", "\n", "  \n\t\n"] {
            let (_dir, path) = key_file(text, 0o600);
            let e = with_key_file("http = \"127.0.0.1:8080\"\n", &path).unwrap_err();
            assert_eq!(
                e,
                format!(
                    "gw.toml, line 2: invalid value for `api_key_file`: {} is empty: write the \
                     key into it",
                    shown(&path)
                )
            );
        }
        // Missing.
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nowhere");
        let e = with_key_file("", &missing).unwrap_err();
        assert!(
            e.starts_with(&format!(
                "gw.toml, line 1: invalid value for `api_key_file`: cannot read {}:",
                shown(&missing)
            )),
            "{e}"
        );
        // Too short, or two keys.
        for text in ["short\n", "key-one-0123456789\nkey-two-0123456789\n"] {
            let (_dir, path) = key_file(text, 0o600);
            let e = with_key_file("", &path).unwrap_err();
            assert!(
                e.contains(&format!("the key in {} is not one key", shown(&path))),
                "{e}"
            );
            assert!(!e.contains("short") && !e.contains("key-one"), "{e}");
        }
        #[cfg(unix)]
        {
            let key = "world-key-0123456789abcdef";
            let (_dir, path) = key_file(key, 0o644);
            let e = with_key_file("", &path).unwrap_err();
            assert_eq!(
                e,
                format!(
                    "gw.toml, line 1: invalid value for `api_key_file`: {0} is readable by every \
                     user (mode 0644): the key is a secret; `chmod o-r {0}` (0640, its group the \
                     service's; deploy/README.md)",
                    shown(&path)
                )
            );
            // Group-readable is the deployment's: fine.
            let (_dir, path) = key_file(key, 0o640);
            assert!(with_key_file("", &path).is_ok());
        }
        // An empty path.
        let e = Config::from_toml("api_key_file = \"\"\n", Path::new("gw.toml"))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("gw.toml, line 1: invalid value for `api_key_file`"),
            "{e}"
        );
    }

    #[test]
    fn secret_never_prints() {
        let s = Secret::new("hunter22");
        assert_eq!(format!("{s:?} {s}"), "*** ***");
        assert_eq!(s.expose(), "hunter22");
    }

    #[test]
    fn a_bad_value_names_its_key_and_line() {
        let text =
            "service_number = \"10658\"\n\n[smsc]\naddress = \"127.0.0.1:2775\"\npassword = \"pw\"\nwindow = 0\n";
        match Config::from_toml(text, Path::new("gw.toml")) {
            Err(
                e @ ConfigError::InvalidAt {
                    line: 6,
                    key: "smsc.window",
                    ..
                },
            ) => {
                assert!(e
                    .to_string()
                    .starts_with("gw.toml, line 6: invalid value for `smsc.window`"));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(key_line("http = \"x\"\n[a]\nhttp = 1\n", "http"), Some(1));
        assert_eq!(key_line("[a]\nb = 1\n[c]\nb = 2\n", "c.b"), Some(4));
        assert_eq!(key_line("[a]\n", "a.b"), None);
    }
}
