//! Simulator configuration: typed data built once (by `main` from flags, or by a test) and passed
//! to [`crate::Simulator::start`] by value.
//!
//! Holds the listen addresses, the accounts (SMPP 3.4 §4.1 bind authentication), the window sizes,
//! the message-id style, the delivery-receipt plan (§5.2.17 `registered_delivery`), the initial
//! faults and the handset behaviour.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::faults::Faults;

/// One ESME account: `system_id` and `password` as sent in a bind PDU.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// `system_id` (at most 15 characters on the wire).
    pub system_id: String,
    /// `password` (at most 8 characters on the wire).
    pub password: String,
}

impl fmt::Debug for Account {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Account")
            .field("system_id", &self.system_id)
            .field("password", &"***")
            .finish()
    }
}

/// Error for a malformed `--account id:password` flag or receipt rule.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The account flag lacks the `:` separator, or its id or password does not fit SMPP 3.4.
    #[error("account {spec:?}: {reason}")]
    BadAccount {
        /// The flag value, password elided.
        spec: String,
        /// What is wrong with it (the separator, the id or the password, and the limit).
        reason: String,
    },
    /// A receipt rule could not be parsed.
    #[error("receipt rule {spec:?}: {reason}")]
    BadReceiptRule {
        /// The rule text.
        spec: String,
        /// Why it was refused.
        reason: String,
    },
}

impl std::str::FromStr for Account {
    type Err = ConfigError;

    /// Parse `id:password` (the password may itself contain `:`), within SMPP 3.4's sizes
    /// (§4.1.1): an ESME could never bind with a longer one.
    fn from_str(s: &str) -> Result<Self, ConfigError> {
        let bad = |reason: String| ConfigError::BadAccount {
            spec: s.split(':').next().unwrap_or_default().to_string(),
            reason,
        };
        let Some((id, pw)) = s.split_once(':') else {
            return Err(bad("not of the form id:password".into()));
        };
        if let Some(c) = id.chars().find(|c| !c.is_ascii()) {
            return Err(bad(format!(
                "the system_id holds {c:?}, which is not ASCII; SMPP 3.4 (§4.1.1) allows 1 to \
                 15 ASCII characters"
            )));
        }
        if !pw.is_ascii() {
            return Err(bad(
                "the password holds a character that is not ASCII; SMPP 3.4 (§4.1.1) allows at \
                 most 8 ASCII characters, so no ESME could bind with it"
                    .into(),
            ));
        }
        if !(1..=15).contains(&id.len()) {
            return Err(bad(format!(
                "the system_id is {} characters; SMPP 3.4 (§4.1.1) allows 1 to 15 ASCII \
                 characters",
                id.chars().count()
            )));
        }
        if pw.len() > 8 {
            return Err(bad(format!(
                "the password is {} characters; SMPP 3.4 (§4.1.1) allows at most 8 ASCII \
                 characters, so no ESME could bind with it",
                pw.chars().count()
            )));
        }
        Ok(Account {
            system_id: id.to_string(),
            password: pw.to_string(),
        })
    }
}

/// How message ids are written in `submit_sm_resp` (and in receipts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum IdStyle {
    /// Eight lowercase hex digits with leading zeros, e.g. `0000002a`.
    #[default]
    Hex,
    /// Plain decimal, e.g. `42`.
    Decimal,
}

impl IdStyle {
    /// Render the numeric id `n` in this style.
    pub fn render(self, n: u64) -> String {
        match self {
            IdStyle::Hex => format!("{n:08x}"),
            IdStyle::Decimal => n.to_string(),
        }
    }

    /// Parse an id rendered in this style back to its number.
    pub fn parse(self, s: &str) -> Option<u64> {
        match self {
            IdStyle::Hex => u64::from_str_radix(s.trim(), 16).ok(),
            IdStyle::Decimal => s.trim().parse().ok(),
        }
    }
}

impl std::str::FromStr for IdStyle {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "hex" => Ok(IdStyle::Hex),
            "decimal" | "dec" => Ok(IdStyle::Decimal),
            other => Err(format!("unknown id style {other:?} (hex|decimal)")),
        }
    }
}

/// State of a message as written in a delivery receipt's `stat:` field (SMPP 3.4 App. B):
/// every message state of §5.2.28.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "UPPERCASE")]
pub enum ReceiptStat {
    /// `DELIVRD`, message_state 2.
    #[default]
    Delivrd,
    /// `UNDELIV`, message_state 5.
    Undeliv,
    /// `EXPIRED`, message_state 3.
    Expired,
    /// `REJECTD`, message_state 8.
    Rejectd,
    /// `DELETED`, message_state 4.
    Deleted,
    /// `ENROUTE`, message_state 1 (still in transit; some SMSCs report it).
    Enroute,
    /// `ACCEPTD`, message_state 6 (accepted on the subscriber's behalf).
    Acceptd,
    /// `UNKNOWN`, message_state 7 (the message is in an invalid state).
    Unknown,
}

impl ReceiptStat {
    /// Every state, in `message_state` order (what `--receipt` and `--default-stat` take).
    pub const ALL: [ReceiptStat; 8] = [
        ReceiptStat::Enroute,
        ReceiptStat::Delivrd,
        ReceiptStat::Expired,
        ReceiptStat::Deleted,
        ReceiptStat::Undeliv,
        ReceiptStat::Acceptd,
        ReceiptStat::Unknown,
        ReceiptStat::Rejectd,
    ];

    /// The 7-letter `stat:` text.
    pub fn as_str(self) -> &'static str {
        match self {
            ReceiptStat::Delivrd => "DELIVRD",
            ReceiptStat::Undeliv => "UNDELIV",
            ReceiptStat::Expired => "EXPIRED",
            ReceiptStat::Rejectd => "REJECTD",
            ReceiptStat::Deleted => "DELETED",
            ReceiptStat::Enroute => "ENROUTE",
            ReceiptStat::Acceptd => "ACCEPTD",
            ReceiptStat::Unknown => "UNKNOWN",
        }
    }

    /// The `message_state` TLV value (SMPP 3.4 §5.2.28).
    pub fn message_state(self) -> u8 {
        match self {
            ReceiptStat::Enroute => 1,
            ReceiptStat::Delivrd => 2,
            ReceiptStat::Expired => 3,
            ReceiptStat::Deleted => 4,
            ReceiptStat::Undeliv => 5,
            ReceiptStat::Acceptd => 6,
            ReceiptStat::Unknown => 7,
            ReceiptStat::Rejectd => 8,
        }
    }

    /// The `err:` code the simulator writes with this state.
    pub fn err_code(self) -> u16 {
        match self {
            ReceiptStat::Delivrd
            | ReceiptStat::Deleted
            | ReceiptStat::Enroute
            | ReceiptStat::Acceptd => 0,
            ReceiptStat::Undeliv => 1,
            ReceiptStat::Expired => 27,
            ReceiptStat::Rejectd => 11,
            ReceiptStat::Unknown => 999,
        }
    }

    /// Whether this state is a failure, for `registered_delivery` "receipt on failure only"
    /// (SMPP 3.4 §5.2.17): not DELIVRD, ACCEPTD or ENROUTE.
    pub fn is_failure(self) -> bool {
        !matches!(
            self,
            ReceiptStat::Delivrd | ReceiptStat::Acceptd | ReceiptStat::Enroute
        )
    }
}

impl std::str::FromStr for ReceiptStat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_uppercase().as_str() {
            "DELIVRD" | "DELIVERED" => Ok(ReceiptStat::Delivrd),
            "UNDELIV" | "UNDELIVERABLE" => Ok(ReceiptStat::Undeliv),
            "EXPIRED" => Ok(ReceiptStat::Expired),
            "REJECTD" | "REJECTED" => Ok(ReceiptStat::Rejectd),
            "DELETED" => Ok(ReceiptStat::Deleted),
            "ENROUTE" | "EN_ROUTE" => Ok(ReceiptStat::Enroute),
            "ACCEPTD" | "ACCEPTED" => Ok(ReceiptStat::Acceptd),
            "UNKNOWN" => Ok(ReceiptStat::Unknown),
            other => Err(format!(
                "unknown receipt stat {other:?} (one of {})",
                ReceiptStat::ALL.map(ReceiptStat::as_str).join(", ")
            )),
        }
    }
}

/// Which destinations a [`ReceiptRule`] applies to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DestMatch {
    /// Every destination.
    Any,
    /// Destinations starting with this prefix (a leading `+` is ignored on both sides).
    Prefix(String),
    /// Exactly this number (a leading `+` is ignored on both sides).
    Number(String),
}

impl DestMatch {
    /// Whether `dest` matches on a network whose country code is `cc`, national and
    /// international forms alike ([`crate::handset::same_subscriber`],
    /// [`crate::handset::has_prefix`]): with `cc` 86, `13900*` and `8613900*` both match
    /// `13900139000` and `+8613900139000`.
    pub fn matches(&self, dest: &str, cc: &str) -> bool {
        match self {
            DestMatch::Any => true,
            DestMatch::Prefix(p) => crate::handset::has_prefix(dest, p, cc),
            DestMatch::Number(n) => crate::handset::same_subscriber(dest, n, cc),
        }
    }
}

/// One scripted receipt outcome: for matching destinations, with `probability`, answer `stat`
/// after `delay_ms`. A message to be delivered (DELIVRD) is ENROUTE for that delay and reaches
/// its handset's inbox only at its end; a cancel_sm within it deletes the message, which then
/// never reaches the handset, and one after it fails (ESME_RCANCELFAIL): it was delivered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReceiptRule {
    /// Destinations this rule applies to.
    pub dest: DestMatch,
    /// The receipt state to report.
    pub stat: ReceiptStat,
    /// Delay between the submit and the final state (the receipt, and for DELIVRD the
    /// handset getting the message), in milliseconds.
    #[serde(default)]
    pub delay_ms: u64,
    /// Chance (0.0..=1.0) that this rule fires for a matching destination; 1.0 by default.
    /// (On the command line a percentage, `%30`, as an error fault's `percent`.)
    #[serde(default = "one")]
    pub probability: f64,
    /// Only for WAP Push (port 2948): a handset that cannot take pushes but reads its SMS.
    #[serde(default)]
    pub push_only: bool,
}

fn one() -> f64 {
    1.0
}

impl std::str::FromStr for ReceiptRule {
    type Err = ConfigError;

    /// Parse `[push:]MATCH=STAT[@DELAY_MS][%PERCENT]`, where MATCH is `*`, `PREFIX*` or a
    /// number and PERCENT is 0 to 100 (as an error fault's `percent`), e.g.
    /// `8613*=UNDELIV@500%30`, `8613800138000=EXPIRED` or `push:8613800138000=UNDELIV`
    /// (that number's WAP Pushes only). The form of before, a fraction below 1 (`%0.3`), is
    /// refused with a message saying how to write it, not read as 0.3 %.
    fn from_str(s: &str) -> Result<Self, ConfigError> {
        let bad = |reason: &str| ConfigError::BadReceiptRule {
            spec: s.to_string(),
            reason: reason.to_string(),
        };
        let (push_only, rule) = match s.strip_prefix("push:") {
            Some(rest) => (true, rest),
            None => (false, s),
        };
        let (m, rest) = rule.split_once('=').ok_or_else(|| bad("missing '='"))?;
        let dest = if m == "*" {
            DestMatch::Any
        } else if let Some(p) = m.strip_suffix('*') {
            DestMatch::Prefix(p.to_string())
        } else {
            DestMatch::Number(m.to_string())
        };
        // A MATCH that is no number (empty, `13*9`, a space) would never fire: refused.
        if let DestMatch::Prefix(n) | DestMatch::Number(n) = &dest {
            if let Some(why) = crate::util::number_problem(n) {
                return Err(bad(&format!(
                    "MATCH {why} (MATCH is '*', a number or a number prefix followed by '*')"
                )));
            }
        }
        let (rest, percent) = match rest.split_once('%') {
            Some((r, p)) => (
                r,
                p.parse::<f64>()
                    .map_err(|_| bad("bad percentage (%PERCENT is 0 to 100)"))?,
            ),
            None => (rest, 100.0),
        };
        if !(0.0..=100.0).contains(&percent) {
            return Err(bad("%PERCENT must be within 0 to 100"));
        }
        if percent > 0.0 && percent < 1.0 {
            let pct = (percent * 1e8).round() / 1e6;
            return Err(bad(&format!(
                "%PERCENT is a percentage (0 to 100, as an error fault's percent), no longer a \
                 fraction: write %{} for a {}-in-100 chance (below 1 % is not taken, as the \
                 old fraction form would be misread)",
                pct, pct
            )));
        }
        let probability = percent / 100.0;
        let (stat, delay_ms) = match rest.split_once('@') {
            Some((st, d)) => (st, d.parse::<u64>().map_err(|_| bad("bad delay"))?),
            None => (rest, 0),
        };
        let stat = stat.parse::<ReceiptStat>().map_err(|e| bad(&e))?;
        Ok(ReceiptRule {
            dest,
            stat,
            delay_ms,
            probability,
            push_only,
        })
    }
}

/// The receipt plan: rules tried in order (exact-number rules before the others), first match
/// whose probability draw succeeds wins; otherwise `default_stat` after `default_delay_ms`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReceiptPlan {
    /// Rules, see [`ReceiptRule`].
    #[serde(default)]
    pub rules: Vec<ReceiptRule>,
    /// State when no rule fires.
    #[serde(default)]
    pub default_stat: ReceiptStat,
    /// Delay when no rule fires, in milliseconds.
    #[serde(default)]
    pub default_delay_ms: u64,
    /// When a cancel_sm deletes a message, send its receipt at once with `stat:DELETED`
    /// (message_state 4), if its `registered_delivery` asks for a failure receipt, as many
    /// SMSCs do; otherwise (the default) a cancelled message gets no receipt at all.
    #[serde(default)]
    pub deleted_on_cancel: bool,
}

impl Default for ReceiptPlan {
    fn default() -> Self {
        ReceiptPlan {
            rules: Vec::new(),
            default_stat: ReceiptStat::Delivrd,
            default_delay_ms: 0,
            deleted_on_cancel: false,
        }
    }
}

impl ReceiptPlan {
    /// Every message to `number` is undeliverable (a handset switched off for good, a number
    /// no longer in service); the others are delivered.
    pub fn undeliverable_to(number: &str) -> ReceiptPlan {
        ReceiptPlan {
            rules: vec![ReceiptRule {
                dest: DestMatch::Number(number.into()),
                stat: ReceiptStat::Undeliv,
                delay_ms: 0,
                probability: 1.0,
                push_only: false,
            }],
            ..ReceiptPlan::default()
        }
    }

    /// The WAP Pushes to `number` are undeliverable (a handset that cannot take them); its
    /// SMS, and everything to other numbers, are delivered.
    pub fn push_refused_by(number: &str) -> ReceiptPlan {
        let mut plan = ReceiptPlan::undeliverable_to(number);
        plan.rules[0].push_only = true;
        plan
    }

    /// Whether some receipt can go out with no delay (the default or a rule): what the
    /// `receipt_before_resp` fault acts on.
    pub fn can_be_immediate(&self) -> bool {
        self.default_delay_ms == 0 || self.rules.iter().any(|r| r.delay_ms == 0)
    }

    /// Why `faults` would do nothing with this plan, if so: `receipt_before_resp` sends only
    /// zero-delay receipts early, so with every receipt delayed it would be set and silent.
    pub fn check_faults(&self, faults: &Faults) -> Result<(), String> {
        if faults.receipt_before_resp && !self.can_be_immediate() {
            return Err(format!(
                "receipt_before_resp sends only zero-delay receipts before their response, and \
                 every receipt here is delayed (default {} ms, every rule a delay): it would do \
                 nothing; use a receipt delay of 0 (--receipt-delay-ms 0, or a rule without \
                 @DELAY)",
                self.default_delay_ms
            ));
        }
        Ok(())
    }

    /// Decide the outcome for a message to `dest` (`push`: a WAP Push) on a network whose
    /// country code is `cc` (see [`DestMatch::matches`]): (stat, delay in ms).
    pub fn decide(
        &self,
        dest: &str,
        cc: &str,
        push: bool,
        rng: &mut impl Rng,
    ) -> (ReceiptStat, u64) {
        let exact = self
            .rules
            .iter()
            .filter(|r| matches!(r.dest, DestMatch::Number(_)));
        let others = self
            .rules
            .iter()
            .filter(|r| !matches!(r.dest, DestMatch::Number(_)));
        for rule in exact.chain(others) {
            if rule.dest.matches(dest, cc)
                && (push || !rule.push_only)
                && (rule.probability >= 1.0 || rng.random::<f64>() < rule.probability)
            {
                return (rule.stat, rule.delay_ms);
            }
        }
        (self.default_stat, self.default_delay_ms)
    }
}

/// How virtual handsets behave.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HandsetConfig {
    /// Follow WAP Push hrefs over HTTP like a phone and store the fetched image.
    pub follow_push_links: bool,
    /// Timeout for one href fetch.
    pub fetch_timeout: Duration,
    /// Largest body stored from a fetch, in bytes.
    pub max_fetch_bytes: usize,
    /// How long parts of a concatenated MT wait for the rest.
    pub reassembly_timeout: Duration,
    /// Texts, pushes and USSD screens each handset keeps (each list; the oldest go first).
    pub keep: usize,
    /// The network's country code (`86`): a handset number written in national form
    /// (`13800138000`, `013800138000`) is that handset's international number (`8613800138000`),
    /// which is how the simulated network presents it in MO and how MT for it is matched (see
    /// [`crate::handset::international`]). Empty: numbers are taken as written.
    #[serde(default = "default_country_code")]
    pub country_code: String,
}

fn default_country_code() -> String {
    "86".into()
}

impl Default for HandsetConfig {
    fn default() -> Self {
        HandsetConfig {
            follow_push_links: true,
            fetch_timeout: Duration::from_secs(5),
            max_fetch_bytes: 2 * 1024 * 1024,
            reassembly_timeout: Duration::from_secs(300),
            keep: 20_000,
            country_code: default_country_code(),
        }
    }
}

/// Everything [`crate::Simulator::start`] needs.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// SMPP listen address (`127.0.0.1:0` picks a free port).
    pub smpp_addr: SocketAddr,
    /// HTTP control API address; `None` runs without HTTP.
    pub http_addr: Option<SocketAddr>,
    /// Accounts allowed to bind; empty accepts any `system_id`/`password`.
    pub accounts: Vec<Account>,
    /// `system_id` the simulator returns in bind responses.
    pub system_id: String,
    /// Most requests a bind may have received but not yet had answered; beyond it, requests get
    /// `window_status` at once.
    pub window: usize,
    /// Status for a request beyond the window (`ESME_RTHROTTLED`, 0x58, by default).
    pub window_status: u32,
    /// Most deliver_sm the simulator has in flight per bind.
    pub deliver_window: usize,
    /// How long the simulator waits for a deliver_sm_resp before retrying elsewhere.
    pub deliver_timeout: Duration,
    /// Attempts per deliver_sm before it is recorded as failed.
    pub deliver_attempts: u32,
    /// How long before a deliver_sm answered with a temporary error (see
    /// [`crate::session::is_temporary_deliver_status`]) is sent again.
    pub deliver_retry_delay: Duration,
    /// How message ids are written in submit_sm_resp / data_sm_resp and receipted_message_id.
    pub message_id_style: IdStyle,
    /// How the `id:` of the receipt text is written (`None`: as `message_id_style`).
    pub receipt_text_id_style: Option<IdStyle>,
    /// First numeric message id.
    pub message_id_start: u64,
    /// Receipt outcomes.
    pub receipts: ReceiptPlan,
    /// Faults active from the start.
    pub faults: Faults,
    /// Handset behaviour.
    pub handsets: HandsetConfig,
    /// Append every received and sent PDU as hex to this file (received ones as they came on
    /// the wire, also one the simulator had to repair to read).
    pub hex_log: Option<PathBuf>,
    /// Most MT / receipt / delivery records kept for inspection (oldest dropped first).
    pub max_records: usize,
    /// Seed for every random choice (probabilities, random delays).
    pub seed: u64,
    /// Send enquire_link to bound ESMEs at this interval (`None`: never).
    pub enquire_link_interval: Option<Duration>,
    /// Close a bind that has left this many of those enquire_links unanswered (at the next
    /// one due; 0: never).
    pub enquire_link_misses: u32,
    /// Close a connection that has not bound within this time (`None`: never).
    pub bind_timeout: Option<Duration>,
    /// The canned messages the SMSC holds, by `sm_default_msg_id` (SMPP 3.4 §5.2.20, 1 to
    /// 255): a submit_sm or submit_multi with no text of its own (sm_length 0, no
    /// message_payload) and a non-zero id sends that text (GSM-7 when it fits the alphabet,
    /// else UCS-2), and a replace_sm with one replaces the text with it; an id not here is
    /// ESME_RINVDFTMSGID (0x63), whether or not the PDU has a text. By default
    /// [`default_canned_messages`].
    pub canned_messages: BTreeMap<u8, String>,
    /// Serve SMPP over TLS with this certificate (`None`: plain TCP).
    pub tls: Option<crate::tls::SimTls>,
    /// Take cancel_sm (SMPP 3.4 §4.9; the default). Off (`serve --no-cancel`), every cancel_sm
    /// is answered `generic_nack` with ESME_RINVCMDID, as an SMSC that does not implement the
    /// operation answers it, and cancels nothing.
    pub cancel_sm: bool,
}

/// The canned messages a simulator holds unless told otherwise (`--canned`): 1 to 4.
pub fn default_canned_messages() -> BTreeMap<u8, String> {
    [
        (1, "Please call me back."),
        (2, "I am in a meeting. I will call you later."),
        (3, "请回电。"),
        (4, "我在开会，稍后回电。"),
    ]
    .into_iter()
    .map(|(id, text)| (id, text.to_string()))
    .collect()
}

/// A canned message for `--canned`: `ID=TEXT`, ID 1 to 255.
pub fn parse_canned(s: &str) -> Result<(u8, String), String> {
    let (id, text) = s
        .split_once('=')
        .ok_or_else(|| format!("{s:?}: not of the form ID=TEXT"))?;
    let id: u8 = id
        .trim()
        .parse()
        .ok()
        .filter(|id| *id != 0)
        .ok_or_else(|| format!("{s:?}: the id is 1 to 255 (0 means no canned message)"))?;
    check_canned(id, text)?;
    Ok((id, text.to_string()))
}

/// Whether canned message `text` can be id `id` and go as one short_message: not empty, and
/// at most 160 GSM-7 characters or 70 UCS-2 ones.
fn check_canned(id: u8, text: &str) -> Result<(), String> {
    let alphabet = sms_wire::text::choose(text);
    let fits = sms_wire::text::encode(text, alphabet).is_some_and(|b| {
        !b.is_empty()
            && b.len()
                <= if alphabet.data_coding() == 0 {
                    160
                } else {
                    140
                }
    });
    if id == 0 || !fits {
        return Err(format!(
            "canned message {id}: an id of 1 to 255 and a text of 1 to 160 GSM-7 or 70 UCS-2 \
             characters"
        ));
    }
    Ok(())
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            smpp_addr: SocketAddr::from(([127, 0, 0, 1], 2775)),
            http_addr: Some(SocketAddr::from(([127, 0, 0, 1], 2776))),
            accounts: Vec::new(),
            system_id: "smsc-sim".to_string(),
            window: 100,
            window_status: 0x58,
            deliver_window: 10,
            deliver_timeout: Duration::from_secs(5),
            deliver_attempts: 3,
            deliver_retry_delay: Duration::from_secs(1),
            message_id_style: IdStyle::Hex,
            receipt_text_id_style: None,
            message_id_start: 1,
            receipts: ReceiptPlan::default(),
            faults: Faults::default(),
            handsets: HandsetConfig::default(),
            hex_log: None,
            max_records: 200_000,
            seed: 0x5eed,
            enquire_link_interval: None,
            enquire_link_misses: 3,
            bind_timeout: Some(Duration::from_secs(30)),
            canned_messages: default_canned_messages(),
            tls: None,
            cancel_sm: true,
        }
    }
}

impl SimConfig {
    /// Refuse settings that make no sense: a window or deliver window of 0, no deliver
    /// attempt, a window status of 0 (ESME_ROK, answering a refused request as accepted and
    /// without its message_id), and faults [`Faults::check`] refuses.
    pub fn check(&self) -> Result<(), String> {
        if self.window == 0 {
            return Err("window 0 refuses every request".into());
        }
        if self.window_status == 0 {
            return Err("window_status 0 is ESME_ROK, not a refusal".into());
        }
        if self.deliver_window == 0 || self.deliver_attempts == 0 {
            return Err("deliver_window and deliver_attempts are at least 1".into());
        }
        for (id, text) in &self.canned_messages {
            check_canned(*id, text)?;
        }
        self.receipts.check_faults(&self.faults)?;
        self.faults.check()
    }

    /// A config for tests: SMPP and HTTP on `127.0.0.1:0`, no accounts (any bind accepted).
    pub fn local() -> Self {
        SimConfig {
            smpp_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            http_addr: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
            ..SimConfig::default()
        }
    }

    /// Add an account (builder style).
    pub fn with_account(mut self, system_id: &str, password: &str) -> Self {
        self.accounts.push(Account {
            system_id: system_id.to_string(),
            password: password.to_string(),
        });
        self
    }

    /// Set the initial faults (builder style).
    pub fn with_faults(mut self, faults: Faults) -> Self {
        self.faults = faults;
        self
    }

    /// Add a receipt rule (builder style).
    pub fn with_receipt_rule(mut self, rule: ReceiptRule) -> Self {
        self.receipts.rules.push(rule);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    /// `--canned ID=TEXT`: an id of 1 to 255 and a text one short_message can carry.
    #[test]
    fn canned_message_parsing() {
        assert_eq!(
            parse_canned("7=On my way"),
            Ok((7, "On my way".to_string()))
        );
        assert_eq!(parse_canned("255=a=b"), Ok((255, "a=b".to_string())));
        assert_eq!(parse_canned("9=请回电"), Ok((9, "请回电".to_string())));
        for bad in ["0=x", "256=x", "x=y", "7", "7="] {
            assert!(parse_canned(bad).is_err(), "{bad}");
        }
        assert!(parse_canned(&format!("1={}", "a".repeat(160))).is_ok());
        assert!(parse_canned(&format!("1={}", "a".repeat(161))).is_err());
        assert!(parse_canned(&format!("1={}", "请".repeat(71))).is_err());
        let mut cfg = SimConfig::local();
        assert_eq!(cfg.check(), Ok(()));
        cfg.canned_messages.insert(0, "x".into());
        assert!(cfg.check().is_err(), "id 0 is no canned message");
    }

    #[test]
    fn account_parsing() {
        let a: Account = "esme:se:cret".parse().unwrap();
        assert_eq!(a.system_id, "esme");
        assert_eq!(a.password, "se:cret");
        assert!("nocolon".parse::<Account>().is_err());
        assert!(":pw".parse::<Account>().is_err());
        assert!(!format!("{a:?}").contains("cret"));
        // Longer than SMPP 3.4 allows: no ESME could bind with it.
        assert!("sixteen_chars_id:pw".parse::<Account>().is_err());
        let e = "esme:ninechars".parse::<Account>().unwrap_err().to_string();
        assert!(
            e.contains("password is 9 characters") && e.contains("at most 8"),
            "{e}"
        );
        assert!(
            !e.contains("ninechars"),
            "the password is not repeated: {e}"
        );
        let e = "a:123456789".parse::<Account>().unwrap_err().to_string();
        assert!(!e.contains("not of the form"), "{e}");
        let e = "nocolon".parse::<Account>().unwrap_err().to_string();
        assert!(e.contains("id:password"), "{e}");
        let e = "sixteen_chars_id:pw"
            .parse::<Account>()
            .unwrap_err()
            .to_string();
        assert!(e.contains("system_id is 16 characters"), "{e}");
        assert!("fifteen_chars_i:eightchr".parse::<Account>().is_ok());
        // Not ASCII: said so, not "1 characters" (the count was within 1 to 15).
        let e = "é:pw".parse::<Account>().unwrap_err().to_string();
        assert!(
            e.contains("'é'") && e.contains("not ASCII") && !e.contains("1 characters"),
            "{e}"
        );
        let e = "esme:pässwö".parse::<Account>().unwrap_err().to_string();
        assert!(
            e.contains("not ASCII") && !e.contains("ä") && !e.contains("characters;"),
            "{e}"
        );
    }

    /// Every SMPP 3.4 message state is a receipt state; an unknown one lists them.
    #[test]
    fn every_message_state_is_a_receipt_state() {
        for (word, state) in [
            ("ENROUTE", 1),
            ("DELIVRD", 2),
            ("EXPIRED", 3),
            ("DELETED", 4),
            ("UNDELIV", 5),
            ("ACCEPTD", 6),
            ("UNKNOWN", 7),
            ("REJECTD", 8),
        ] {
            let r: ReceiptRule = format!("*={word}").parse().unwrap();
            assert_eq!(r.stat.as_str(), word);
            assert_eq!(r.stat.message_state(), state);
        }
        let e = "NOPE".parse::<ReceiptStat>().unwrap_err();
        assert!(e.contains("ENROUTE") && e.contains("ACCEPTD"), "{e}");
        assert!(!ReceiptStat::Acceptd.is_failure() && ReceiptStat::Unknown.is_failure());
    }

    /// `%` is a percentage as an error fault's `percent`; the old fraction form is refused
    /// with a message, not read as under 1 %.
    #[test]
    fn receipt_percent_is_a_percentage() {
        let r: ReceiptRule = "*=UNDELIV%30".parse().unwrap();
        assert!((r.probability - 0.3).abs() < 1e-9);
        let r: ReceiptRule = "*=UNDELIV%100".parse().unwrap();
        assert_eq!(r.probability, 1.0);
        let r: ReceiptRule = "*=UNDELIV%0".parse().unwrap();
        assert_eq!(r.probability, 0.0);
        let e = "*=UNDELIV%0.3"
            .parse::<ReceiptRule>()
            .unwrap_err()
            .to_string();
        assert!(e.contains("%30"), "{e}");
    }

    /// `receipt_before_resp` with every receipt delayed would do nothing: refused.
    #[test]
    fn receipt_before_resp_with_only_delayed_receipts_is_refused() {
        let mut cfg = SimConfig::local();
        cfg.faults.receipt_before_resp = true;
        assert_eq!(cfg.check(), Ok(()));
        cfg.receipts.default_delay_ms = 2000;
        let e = cfg.check().unwrap_err();
        assert!(
            e.contains("receipt_before_resp") && e.contains("2000"),
            "{e}"
        );
        // A rule with no delay gives the fault something to act on.
        cfg.receipts.rules.push("8613*=DELIVRD".parse().unwrap());
        assert_eq!(cfg.check(), Ok(()));
    }

    #[test]
    fn id_styles_round_trip() {
        assert_eq!(IdStyle::Hex.render(42), "0000002a");
        assert_eq!(IdStyle::Decimal.render(42), "42");
        assert_eq!(IdStyle::Hex.parse("0000002A"), Some(42));
        assert_eq!(IdStyle::Decimal.parse("42"), Some(42));
    }

    /// A MATCH that is no number or number prefix would never fire: it is refused, saying
    /// what MATCH takes (it used to be kept as a rule that matched nothing).
    #[test]
    fn a_receipt_rule_whose_match_is_no_number_is_refused() {
        for bad in [
            "=DELIVRD",
            "13*9=DELIVRD",
            "+86 139*=UNDELIV",
            "+*=UNDELIV",
            "abc=EXPIRED",
            "push:=UNDELIV",
        ] {
            let e = bad.parse::<ReceiptRule>().unwrap_err().to_string();
            assert!(e.contains("MATCH"), "{bad}: {e}");
        }
        for good in [
            "*=DELIVRD",
            "8613*=UNDELIV",
            "+8613*=UNDELIV",
            "13800138000=EXPIRED",
            "push:+8613800138000=UNDELIV",
        ] {
            assert!(good.parse::<ReceiptRule>().is_ok(), "{good}");
        }
    }

    #[test]
    fn receipt_rules_parse_and_decide() {
        let r: ReceiptRule = "8613*=UNDELIV@500%50".parse().unwrap();
        assert_eq!(r.dest, DestMatch::Prefix("8613".into()));
        assert_eq!(r.stat, ReceiptStat::Undeliv);
        assert_eq!(r.delay_ms, 500);
        assert_eq!(r.probability, 0.5);
        assert!("x=NOPE".parse::<ReceiptRule>().is_err());
        assert!("x=DELIVRD%150".parse::<ReceiptRule>().is_err());

        let plan = ReceiptPlan {
            rules: vec![
                "86*=UNDELIV".parse().unwrap(),
                "+8613800138000=EXPIRED@10".parse().unwrap(),
            ],
            ..ReceiptPlan::default()
        };
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        assert_eq!(
            plan.decide("8613800138000", "86", false, &mut rng),
            (ReceiptStat::Expired, 10)
        );
        assert_eq!(
            plan.decide("+8613900", "86", false, &mut rng).0,
            ReceiptStat::Undeliv
        );
        assert_eq!(
            plan.decide("4477", "86", false, &mut rng).0,
            ReceiptStat::Delivrd
        );

        // A handset that cannot take WAP Push: its pushes fail, its SMS do not.
        let r: ReceiptRule = "push:8613700137000=UNDELIV".parse().unwrap();
        assert!(r.push_only && r.dest == DestMatch::Number("8613700137000".into()));
        let refuses = ReceiptPlan::push_refused_by("8613700137000");
        assert_eq!(refuses.rules, [r]);
        assert_eq!(
            refuses.decide("8613700137000", "86", true, &mut rng).0,
            ReceiptStat::Undeliv
        );
        assert_eq!(
            refuses.decide("8613700137000", "86", false, &mut rng).0,
            ReceiptStat::Delivrd
        );

        let half = ReceiptPlan {
            rules: vec!["*=REJECTD%50".parse().unwrap()],
            ..ReceiptPlan::default()
        };
        let rejected = (0..1000)
            .filter(|_| half.decide("1", "86", false, &mut rng).0 == ReceiptStat::Rejectd)
            .count();
        assert!((350..650).contains(&rejected), "{rejected}");
    }
}
