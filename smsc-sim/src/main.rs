//! `smsc-sim` command line: `serve` runs the simulator; `send-mo`, `send-ussd`, `faults`,
//! `handset`, `mt`, `receipts`, `deliveries`, `binds`, `stats` and `reset` call the HTTP
//! control API of a running one.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use smsc_sim::{
    Account, Delay, ErrorFault, Faults, HandsetConfig, IdStyle, MoEncoding, MoStyle, ReceiptRule,
    ReceiptStat, SimConfig, Simulator,
};

/// SMPP 3.4 SMSC simulator with virtual handsets, fault injection and an HTTP control API.
///
/// Operations an ESME may send: bind_transmitter, bind_receiver, bind_transceiver,
/// submit_sm, submit_multi (SME addresses; a distribution list name is answered unsuccessful
/// with ESME_RINVDLNAME), data_sm, query_sm, cancel_sm, replace_sm, enquire_link, unbind,
/// and the responses to what the simulator sends (deliver_sm_resp, enquire_link_resp,
/// unbind_resp, generic_nack). Any other operation gets ESME_RINVCMDID.
#[derive(Debug, Parser)]
#[command(name = "smsc-sim", version, about)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Run the simulator.
    Serve(Box<Serve>),
    /// Inject an MO SMS into a running simulator (POST /mo). It goes to the receiver binds
    /// whose bind address_range (a regular expression, SMPP 3.4 §5.2.27, e.g. ^10658) matches
    /// --to; when none matches, to the binds that gave no address_range; only to one account's
    /// binds (the earliest connected), round-robin among them. While no bind is eligible it
    /// waits.
    SendMo {
        /// Control API base URL.
        #[arg(long, default_value = "http://127.0.0.1:2776", env = "SMSC_SIM_URL")]
        url: String,
        /// Handset number sending the message.
        #[arg(long)]
        from: String,
        /// Service number it is sent to.
        #[arg(long)]
        to: String,
        /// Alphabet: auto, gsm7, ucs2, latin1.
        #[arg(long, default_value = "auto")]
        encoding: MoEncoding,
        /// Segmentation of long texts: udh8, udh16, sar, payload.
        #[arg(long, default_value = "udh8")]
        style: MoStyle,
        /// Send the parts last-to-first.
        #[arg(long)]
        reverse_parts: bool,
        /// Concatenation reference of a long text (random when absent; 0 to 255 with udh8).
        #[arg(long)]
        reference: Option<u16>,
        /// A part (1-based) of a long text the network loses: never delivered, so the message
        /// stays incomplete at the ESME (repeatable).
        #[arg(long = "lost-part", value_name = "N")]
        lost_parts: Vec<u8>,
        /// The text.
        text: String,
    },
    /// Send a USSD message from a handset (POST /ussd); routed to binds by the service code
    /// --to as send-mo routes by its --to.
    SendUssd {
        /// Control API base URL.
        #[arg(long, default_value = "http://127.0.0.1:2776", env = "SMSC_SIM_URL")]
        url: String,
        /// Handset number.
        #[arg(long)]
        from: String,
        /// Service code, e.g. *123#.
        #[arg(long)]
        to: String,
        /// Open a new session even if a menu awaits an answer.
        #[arg(long)]
        new_session: bool,
        /// Send this ussd_service_op instead of the planned one (e.g. 0x81, a vendor's "user
        /// aborted", on the open session); decimal or 0x hex.
        #[arg(long, value_parser = parse_op)]
        op: Option<u8>,
        /// What the user typed.
        text: String,
    },
    /// Show (GET /faults, without JSON) or change (POST /faults) the faults of a running
    /// simulator.
    ///
    /// Without JSON it prints the faults in force, every key with its value. The keys of a
    /// JSON object replace those faults (null turns one off), the others keep theirs, e.g.
    /// '{"throttle_per_sec":50}', '{"refuse_binds":13}',
    /// '{"refuse_binds":{"status":13,"system_id":"esme1"}}', '{"outage":true}',
    /// '{"drop_now":true}' (faults kept) or '{"clear":true}'.
    ///
    /// Fault keys:
    ///   throttle_per_sec N      ESME_RTHROTTLED (0x58) above N submits per second, per
    ///                           account (system_id)
    ///   throttle_global_per_sec N  the same over all accounts together
    ///   response_delay D        delay the responses to submit_sm, submit_multi, data_sm,
    ///                           query_sm, cancel_sm, replace_sm (not binds, enquire_link):
    ///                           150, "200-400" or {"min_ms":..,"max_ms":..}
    ///   error RULE              {"status":"0x45","percent":10,"destinations":["861..."]}:
    ///                           listed destinations always fail, percent (0-100) of others
    ///   more_errors [RULE,...]  more rules; a listed destination gets its rule's status
    ///                           over any percentage
    ///   drop_after_pdus N       close each connection after N PDUs from it (at least 1)
    ///   ignore_enquire_link     never answer enquire_link
    ///   receipt_before_resp     zero-delay receipts before the submit_sm_resp
    ///   duplicate_receipts      every receipt twice
    ///   refuse_binds STATUS     answer every new bind with STATUS (13 = 0x0D ESME_RBINDFAIL);
    ///                           {"status":13,"system_id":"ID"}: only ID's new binds
    ///   refuse_cancels STATUS   answer every cancel_sm with STATUS, cancelling nothing
    ///                           (88 = 0x58 ESME_RTHROTTLED, 3 = 0x03 ESME_RINVCMDID)
    ///   outage                  close every connection now and each new one at once
    ///
    /// One-shot actions (faults kept):
    ///   clear                   start from a well-behaved SMSC before the keys given
    ///   drop_now                close connections now
    ///   send_malformed KIND     truncated_body, unknown_command or receipt_missing_nul
    ///   system_id ID            drop_now / send_malformed only on ID's connections
    #[command(verbatim_doc_comment)]
    Faults {
        /// Control API base URL.
        #[arg(long, default_value = "http://127.0.0.1:2776", env = "SMSC_SIM_URL")]
        url: String,
        /// JSON body; none: print the faults in force (GET /faults).
        json: Option<String>,
    },
    /// Show a handset (GET /handsets/{number}), or what it shows for a call with --call-from.
    Handset {
        /// Control API base URL.
        #[arg(long, default_value = "http://127.0.0.1:2776", env = "SMSC_SIM_URL")]
        url: String,
        /// Handset number.
        number: String,
        /// Show the incoming-call view for this caller.
        #[arg(long)]
        call_from: Option<String>,
    },
    /// List MT received (GET /mt).
    ///
    /// One record per submit_sm or data_sm, and one per destination of a submit_multi (`"command": "submit_multi"`, the taken ones sharing its
    /// message id, a refused one with its unsuccess_sme status); a message changed by
    /// replace_sm shows the new text, `text_before_replace` and `replaced_at_ms`.
    Mt {
        /// Control API base URL.
        #[arg(long, default_value = "http://127.0.0.1:2776", env = "SMSC_SIM_URL")]
        url: String,
        /// Only this destination.
        #[arg(long)]
        dest: Option<String>,
        /// Only records after this id.
        #[arg(long)]
        since: Option<u64>,
    },
    /// List the receipts sent, with the ESME's answer to each (GET /receipts).
    Receipts {
        /// Control API base URL.
        #[arg(long, default_value = "http://127.0.0.1:2776", env = "SMSC_SIM_URL")]
        url: String,
        #[command(flatten)]
        filter: DeliveryArgs,
    },
    /// List every deliver_sm the simulator originated (MO, USSD, receipts) with its state
    /// (GET /deliveries).
    Deliveries {
        /// Control API base URL.
        #[arg(long, default_value = "http://127.0.0.1:2776", env = "SMSC_SIM_URL")]
        url: String,
        #[command(flatten)]
        filter: DeliveryArgs,
    },
    /// List the connections: system_id, bind mode, peer and window occupancy (GET /binds).
    Binds {
        /// Control API base URL.
        #[arg(long, default_value = "http://127.0.0.1:2776", env = "SMSC_SIM_URL")]
        url: String,
    },
    /// Show stats (GET /stats).
    Stats {
        /// Control API base URL.
        #[arg(long, default_value = "http://127.0.0.1:2776", env = "SMSC_SIM_URL")]
        url: String,
    },
    /// Forget records and handsets (POST /reset), for a clean slate between test cases.
    ///
    /// Receipts and MO/USSD still pending (waiting for their receipt delay, for a receiver
    /// bind, or for the ESME's answer) are dropped and never sent, so no late receipt from
    /// one case reaches the next. Connections, faults and the receipt plan stay. Prints what
    /// was forgotten, e.g. "reset: forgot 3 MT records, 2 handsets, 1 pending receipts, 0
    /// pending MO/USSD deliveries".
    Reset {
        /// Control API base URL.
        #[arg(long, default_value = "http://127.0.0.1:2776", env = "SMSC_SIM_URL")]
        url: String,
    },
}

/// The filters of `receipts` and `deliveries`.
#[derive(Debug, clap::Args)]
struct DeliveryArgs {
    /// Only records after this id.
    #[arg(long)]
    since: Option<u64>,
    /// Only the receipts of this message id (as the submit_sm_resp gave it).
    #[arg(long)]
    message_id: Option<String>,
}

impl DeliveryArgs {
    /// The query string, `?` included (empty without filters).
    fn query(&self) -> String {
        let mut q = Vec::new();
        if let Some(s) = self.since {
            q.push(format!("since={s}"));
        }
        if let Some(m) = &self.message_id {
            q.push(format!("message_id={}", enc(m)));
        }
        if q.is_empty() {
            String::new()
        } else {
            format!("?{}", q.join("&"))
        }
    }
}

/// Options of `serve`.
#[derive(Debug, clap::Args)]
struct Serve {
    /// SMPP listen address.
    #[arg(long, default_value = "127.0.0.1:2775")]
    smpp: SocketAddr,
    /// HTTP control API listen address.
    #[arg(long, default_value = "127.0.0.1:2776")]
    http: SocketAddr,
    /// Run without the HTTP API.
    #[arg(long)]
    no_http: bool,
    /// Account allowed to bind, as id:password (repeatable). None: any bind is accepted.
    #[arg(long = "account", value_name = "ID:PASSWORD", value_parser = AccountParser)]
    accounts: Vec<Account>,
    /// system_id returned in bind responses (1-15 ASCII characters).
    #[arg(long, default_value = "smsc-sim", value_parser = parse_system_id)]
    system_id: String,
    /// Requests a bind may have unanswered before getting the window status (at least 1).
    #[arg(long, default_value_t = 100, value_parser = parse_at_least_1)]
    window: usize,
    /// Status for requests beyond the window (0x58 ESME_RTHROTTLED; 0x14 ESME_RMSGQFUL).
    #[arg(long, default_value = "0x58", value_parser = parse_error_status)]
    window_status: u32,
    /// deliver_sm in flight per bind (at least 1).
    #[arg(long, default_value_t = 10, value_parser = parse_at_least_1)]
    deliver_window: usize,
    /// deliver_sm response timeout in ms.
    #[arg(long, default_value_t = 5000)]
    deliver_timeout_ms: u64,
    /// Attempts per deliver_sm (timeouts, disconnects and temporary errors count) before it
    /// fails (at least 1).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    deliver_attempts: u32,
    /// Wait before a deliver_sm answered with a temporary error (0x64 ESME_RX_T_APPN, 0x58,
    /// 0x14, 0x08) goes again, in ms.
    #[arg(long, default_value_t = 1000)]
    deliver_retry_ms: u64,
    /// Message id style: hex or decimal.
    #[arg(long, default_value = "hex")]
    message_ids: IdStyle,
    /// Style of the receipt text's id: field (default: as --message-ids).
    #[arg(long)]
    receipt_text_ids: Option<IdStyle>,
    /// First message id.
    #[arg(long, default_value_t = 1)]
    message_id_start: u64,
    /// Receipt rule [push:]MATCH=STAT[@DELAY_MS][%PERCENT], MATCH = '*', 'PREFIX*' or a
    /// number (repeatable), e.g. '8613*=UNDELIV@500%30' (30 % of messages to 8613...).
    /// STAT: ENROUTE, DELIVRD, EXPIRED, DELETED, UNDELIV, ACCEPTD, UNKNOWN, REJECTD.
    /// PERCENT: 0 to 100 (default 100), as --error-percent; the old fraction form (%0.3) is
    /// refused with the percentage to write. 'push:' for WAP Push only (a handset that cannot
    /// take pushes). A handset shows only the messages its receipt calls DELIVRD, once the
    /// delay is over (a cancel_sm before then keeps a message off the handset).
    #[arg(long = "receipt")]
    receipts: Vec<ReceiptRule>,
    /// Receipt state when no rule fires (ENROUTE, DELIVRD, EXPIRED, DELETED, UNDELIV,
    /// ACCEPTD, UNKNOWN, REJECTD).
    #[arg(long, default_value = "DELIVRD")]
    default_stat: ReceiptStat,
    /// Receipt delay when no rule fires, in ms (the handset gets a delivered message then).
    #[arg(long, default_value_t = 0)]
    receipt_delay_ms: u64,
    /// Send a DELETED receipt at once for a message a cancel_sm deletes (when its
    /// registered_delivery asks for failure receipts), as many SMSCs do.
    #[arg(long)]
    receipt_on_cancel: bool,
    /// Act as an SMSC without cancel_sm: answer every cancel_sm with generic_nack
    /// ESME_RINVCMDID (0x03) and cancel nothing.
    #[arg(long)]
    no_cancel: bool,
    /// Fault: throttle above this many submits per second and account (system_id, all its
    /// binds together; 0: every submit). An SMSC-wide limit over all accounts is the fault
    /// key throttle_global_per_sec (`faults '{"throttle_global_per_sec":100}'`).
    #[arg(long)]
    throttle: Option<u32>,
    /// Fault: delay the responses to submit_sm, submit_multi, data_sm, query_sm, cancel_sm
    /// and replace_sm (binds and enquire_link are answered at once), MS or MIN-MAX.
    #[arg(long, value_parser = str::parse::<Delay>)]
    delay: Option<Delay>,
    /// Fault: error status for submits (e.g. 0x45), with --error-percent / --error-dest.
    #[arg(long, value_parser = parse_error_status)]
    error_status: Option<u32>,
    /// Fault: percentage (0 to 100) of submits failing with --error-status (required).
    #[arg(long, default_value_t = 0.0, requires = "error_status", value_parser = parse_percent)]
    error_percent: f64,
    /// Fault: destination always failing with --error-status (required; repeatable).
    #[arg(long, requires = "error_status")]
    error_dest: Vec<String>,
    /// Fault: close each connection after this many PDUs.
    #[arg(long)]
    drop_after: Option<u64>,
    /// Fault: never answer enquire_link.
    #[arg(long)]
    ignore_enquire_link: bool,
    /// Fault: send zero-delay receipts before the submit_sm_resp (refused when every receipt
    /// is delayed: --receipt-delay-ms above 0 and no rule without @DELAY).
    #[arg(long)]
    receipt_before_resp: bool,
    /// Fault: send every delivery receipt twice.
    #[arg(long)]
    duplicate_receipts: bool,
    /// Do not follow WAP Push hrefs.
    #[arg(long)]
    no_follow_push: bool,
    /// The network's country code: a handset number in national form (`13800138000`) is
    /// presented in MO as international (TON 1, `8613800138000`) and is the same handset; the
    /// two forms also match alike in --receipt rules, --error-dest (and the faults'
    /// destinations) and `/mt?dest=`. Empty: numbers are taken as written.
    #[arg(long, default_value = "86", value_parser = parse_country_code)]
    country_code: String,
    /// Append every PDU as hex to this file (those read, as they came on the wire).
    #[arg(long)]
    hex_log: Option<PathBuf>,
    /// Records kept for inspection.
    #[arg(long, default_value_t = 200_000)]
    max_records: usize,
    /// Seed for random choices.
    #[arg(long, default_value_t = 0x5eed)]
    seed: u64,
    /// Send enquire_link to bound ESMEs every N seconds (1 to 86400).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    enquire_link_secs: Option<u64>,
    /// Close a bind that left this many of those enquire_links unanswered (0: never).
    #[arg(long, default_value_t = 3)]
    enquire_link_misses: u32,
    /// Close a connection that has not bound within N seconds (0: never).
    #[arg(long, default_value_t = 30)]
    bind_timeout_secs: u64,
    /// A canned message the SMSC holds, ID=TEXT with ID 1 to 255 (repeatable; SMPP 3.4
    /// §5.2.20): a submit_sm or submit_multi with no text (sm_length 0) and that
    /// sm_default_msg_id sends TEXT, a replace_sm with no new text makes it the new text; an id
    /// held by none is ESME_RINVDFTMSGID (0x63). Given, these are the whole table; by default
    /// 1 "Please call me back.", 2 "I am in a meeting. I will call you later.", 3 "请回电。",
    /// 4 "我在开会，稍后回电。".
    #[arg(long = "canned", value_name = "ID=TEXT", value_parser = smsc_sim::parse_canned)]
    canned: Vec<(u8, String)>,
    /// Serve SMPP over TLS with this PEM certificate chain (with --tls-key), as an SMSC's TLS
    /// port: an ESME that does not speak TLS, or does not trust the certificate, is closed
    /// before any PDU.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// With --tls-cert: require every ESME to show a client certificate that chains to these
    /// PEM CA certificates (mutual TLS); one without is closed before any PDU.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_client_ca: Option<PathBuf>,
}

fn parse_system_id(s: &str) -> Result<String, String> {
    if (1..=15).contains(&s.len()) && s.is_ascii() {
        Ok(s.to_string())
    } else {
        Err("a system_id is 1-15 ASCII characters (SMPP 3.4 §4.1.1)".into())
    }
}

/// A `ussd_service_op`: decimal (`129`) or hex (`0x81`), 0 to 255.
fn parse_op(s: &str) -> Result<u8, String> {
    let v = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u8::from_str_radix(h, 16),
        None => s.parse::<u8>(),
    };
    v.map_err(|_| format!("{s:?} is no ussd_service_op (0 to 255, decimal or 0x hex)"))
}

fn parse_at_least_1(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(format!("{s:?}: {e}")),
    }
}

/// An error command_status: not 0 (ESME_ROK would answer a refusal as accepted, without the
/// message_id an accepted submit carries).
fn parse_error_status(s: &str) -> Result<u32, String> {
    match smsc_sim::faults::parse_status(s)? {
        0 => Err("0 is ESME_ROK, not an error status".into()),
        n => Ok(n),
    }
}

fn parse_percent(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(p) if (0.0..=100.0).contains(&p) => Ok(p),
        Ok(_) => Err(format!("{s}: a percentage is 0 to 100")),
        Err(e) => Err(format!("{s:?}: {e}")),
    }
}

/// A country code: 1 to 3 digits (ITU-T E.164), or empty for numbers taken as written.
fn parse_country_code(s: &str) -> Result<String, String> {
    let t = s.trim_start_matches('+');
    if t.is_empty() || (t.len() <= 3 && t.bytes().all(|b| b.is_ascii_digit())) {
        Ok(t.to_string())
    } else {
        Err(format!(
            "{s:?}: a country code is 1 to 3 digits (86), or empty to take numbers as written"
        ))
    }
}

impl Serve {
    /// Settings clap cannot refuse alone: `--error-status` without `--error-percent` or
    /// `--error-dest` would inject nothing.
    fn check(&self) -> Result<(), String> {
        if self.error_status.is_some() && self.error_percent == 0.0 && self.error_dest.is_empty() {
            return Err(
                "--error-status alone fails no submit: add --error-percent PERCENT \
                        and/or --error-dest NUMBER"
                    .into(),
            );
        }
        Ok(())
    }

    fn config(self) -> Result<SimConfig, String> {
        let tls = match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => Some(smsc_sim::tls::SimTls::from_pem_files(
                cert,
                key,
                self.tls_client_ca.as_deref(),
            )?),
            _ => None,
        };
        let error = self.error_status.map(|status| ErrorFault {
            status,
            percent: self.error_percent,
            destinations: self.error_dest.clone(),
        });
        Ok(SimConfig {
            smpp_addr: self.smpp,
            http_addr: (!self.no_http).then_some(self.http),
            accounts: self.accounts,
            system_id: self.system_id,
            window: self.window,
            window_status: self.window_status,
            deliver_window: self.deliver_window,
            deliver_timeout: Duration::from_millis(self.deliver_timeout_ms),
            deliver_attempts: self.deliver_attempts,
            deliver_retry_delay: Duration::from_millis(self.deliver_retry_ms),
            message_id_style: self.message_ids,
            receipt_text_id_style: self.receipt_text_ids,
            message_id_start: self.message_id_start,
            receipts: smsc_sim::ReceiptPlan {
                rules: self.receipts,
                default_stat: self.default_stat,
                default_delay_ms: self.receipt_delay_ms,
                deleted_on_cancel: self.receipt_on_cancel,
            },
            faults: Faults {
                throttle_per_sec: self.throttle,
                throttle_global_per_sec: None,
                response_delay: self.delay,
                error,
                drop_after_pdus: self.drop_after,
                ignore_enquire_link: self.ignore_enquire_link,
                receipt_before_resp: self.receipt_before_resp,
                duplicate_receipts: self.duplicate_receipts,
                more_errors: Vec::new(),
                refuse_binds: None,
                refuse_cancels: None,
                outage: false,
            },
            handsets: HandsetConfig {
                follow_push_links: !self.no_follow_push,
                country_code: self.country_code,
                ..HandsetConfig::default()
            },
            hex_log: self.hex_log,
            max_records: self.max_records,
            seed: self.seed,
            enquire_link_interval: self.enquire_link_secs.map(Duration::from_secs),
            enquire_link_misses: self.enquire_link_misses,
            bind_timeout: (self.bind_timeout_secs > 0)
                .then(|| Duration::from_secs(self.bind_timeout_secs)),
            canned_messages: if self.canned.is_empty() {
                smsc_sim::default_canned_messages()
            } else {
                self.canned.into_iter().collect()
            },
            tls,
            cancel_sm: !self.no_cancel,
        })
    }
}

/// Where the control API is looked for, for an error that cannot reach it.
const URL_HINT: &str = "is `smsc-sim serve` running there? Set its control API with --url or \
     SMSC_SIM_URL (default http://127.0.0.1:2776, as serve --http 127.0.0.1:2776)";

/// How long a control API call may take before it is given up (the API answers at once).
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// The HTTP client of every control API call: an address that does not answer fails within
/// seconds instead of hanging.
fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(CALL_TIMEOUT)
        .build()
        .unwrap_or_else(|_| reqwest::Client::new())
}

/// The innermost cause of `e` (e.g. `Connection refused (os error 111)`), the part that says
/// what went wrong.
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

/// A failed call to the control API at `url` as one line: which address, what went wrong,
/// and what to check.
fn api_error(e: &reqwest::Error, url: &str) -> anyhow::Error {
    let cause = root_cause(e);
    if e.is_builder() {
        anyhow::anyhow!(
            "{url:?} is not a control API address ({cause}): --url and SMSC_SIM_URL take \
             http://HOST:PORT, e.g. http://127.0.0.1:2776"
        )
    } else if e.is_connect() {
        anyhow::anyhow!("cannot reach the simulator's control API at {url} ({cause}): {URL_HINT}")
    } else if e.is_timeout() {
        anyhow::anyhow!(
            "the simulator's control API at {url} did not answer within {}s: {URL_HINT}",
            CALL_TIMEOUT.as_secs()
        )
    } else {
        anyhow::anyhow!(
            "calling the simulator's control API at {url} failed ({cause}); is that address \
             the control API (serve --http), not its SMPP port or another server? {URL_HINT}"
        )
    }
}

/// Send a request to the control API; an unreachable API is reported with where it was
/// looked for and how to point elsewhere.
async fn send(req: reqwest::RequestBuilder, url: &str) -> Result<reqwest::Response> {
    req.send().await.map_err(|e| api_error(&e, url))
}

/// The body of a control API answer; a failure to read it is reported as [`send`]'s are.
async fn body(resp: reqwest::Response, url: &str) -> Result<String> {
    resp.text().await.map_err(|e| api_error(&e, url))
}

/// The error of a control API answer that is not a success: the API's own `{"error": ...}`
/// text, or a hint when the address answers as no control API does (404 and no JSON).
fn answered_error(url: &str, status: reqwest::StatusCode, text: &str) -> anyhow::Error {
    match serde_json::from_str::<serde_json::Value>(text)
        .ok()
        .and_then(|v| v.get("error")?.as_str().map(str::to_string))
    {
        Some(why) => anyhow::anyhow!("{url} answered {status}: {why}"),
        None => anyhow::anyhow!(
            "{url} answered {status}, not as the simulator's control API does; is that \
             address the control API (serve --http)? {URL_HINT}"
        ),
    }
}

/// Send the request, print its JSON answer indented, and return it (`None` for a body that is
/// no JSON).
async fn call(
    method: reqwest::Method,
    url: String,
    body_json: Option<String>,
) -> Result<Option<serde_json::Value>> {
    let mut req = client().request(method, &url);
    if let Some(b) = body_json {
        req = req.header("content-type", "application/json").body(b);
    }
    let resp = send(req, &url).await?;
    let status = resp.status();
    let text = body(resp, &url).await?;
    if !status.is_success() {
        return Err(answered_error(&url, status, &text));
    }
    let value = serde_json::from_str::<serde_json::Value>(&text).ok();
    let pretty = value
        .as_ref()
        .and_then(|v| serde_json::to_string_pretty(v).ok())
        .unwrap_or(text);
    if !pretty.is_empty() {
        println!("{pretty}");
    }
    Ok(value)
}

/// After `send-mo` / `send-ussd`: say on stderr when no bind could take the injection, so a
/// tester waiting for it at the ESME knows why nothing comes.
fn note_waiting(ticket: Option<serde_json::Value>, to: &str) {
    if ticket.is_some_and(|t| t["waiting_for_bind"] == true) {
        eprintln!(
            "note: no bind takes deliveries for {to} now (a receiver or transceiver whose \
             address_range matches it, or one without an address_range): it waits for one \
             (`smsc-sim deliveries` shows it queued)"
        );
    }
}

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Reads `--account ID:PASSWORD` ([`Account`]'s own checks) without clap's usual "invalid
/// value '<the value>'" line: the value holds a bind password, which never goes to a terminal
/// or a log; the error names the account's id and what is wrong.
#[derive(Debug, Clone, Copy)]
struct AccountParser;

impl clap::builder::TypedValueParser for AccountParser {
    type Value = Account;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        _arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> std::result::Result<Account, clap::Error> {
        let refuse = |why: String| {
            clap::Error::raw(
                clap::error::ErrorKind::ValueValidation,
                format!("invalid --account (the value is not shown: it holds a password): {why}\n"),
            )
            .with_cmd(cmd)
        };
        value
            .to_str()
            .ok_or_else(|| refuse("not UTF-8".into()))?
            .parse::<Account>()
            .map_err(|e| refuse(e.to_string()))
    }
}

/// Ctrl-C (SIGINT) or, on Unix, SIGTERM (what `kill` and service managers send), as a future.
/// The SIGTERM handler is installed here, when called, not when the future is first polled:
/// called before the listening line is printed, a SIGTERM sent right after that line (a test,
/// a service manager) is caught instead of killing the process before it unbinds.
fn stop_signal() -> std::io::Result<impl std::future::Future<Output = std::io::Result<()>>> {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        Ok(async move {
            tokio::select! {
                r = tokio::signal::ctrl_c() => r,
                _ = term.recv() => Ok(()),
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(tokio::signal::ctrl_c())
    }
}

/// Errors end the process with status 1 and their message and causes on stderr, without the
/// stack trace `anyhow` adds to a returned error when `RUST_BACKTRACE` is set (as presence-gw
/// does: a refused connection is no crash).
fn main() -> std::process::ExitCode {
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("Error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match rt.block_on(run()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<()> {
    // On stderr, beside the "SMPP on" lines (stdout is the client commands' JSON), with
    // colours only on a terminal: a log written to a file or a CI log has no escape codes.
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,rusmpp=warn".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();
    use reqwest::Method;
    match cli.cmd {
        Cmd::Serve(s) => {
            s.check().map_err(anyhow::Error::msg)?;
            let tls = s.tls_cert.is_some();
            let sim = Simulator::start(s.config().map_err(anyhow::Error::msg)?).await?;
            let stop = stop_signal()?;
            eprintln!(
                "smsc-sim: SMPP{} on {}",
                if tls { " over TLS" } else { "" },
                sim.smpp_addr()
            );
            if let Some(u) = sim.http_url() {
                eprintln!("smsc-sim: control API and console on {u}");
            }
            stop.await?;
            // Bound ESMEs are told (unbind) and their unbind_resp awaited, briefly.
            sim.unbind_and_shutdown(Duration::from_secs(2)).await;
        }
        Cmd::SendMo {
            url,
            from,
            to,
            encoding,
            style,
            reverse_parts,
            reference,
            lost_parts,
            text,
        } => {
            let body = serde_json::json!({
                "from": from, "to": to, "text": text,
                "encoding": encoding, "style": style, "reverse_parts": reverse_parts,
                "reference": reference, "lost_parts": lost_parts,
            });
            let ticket = call(Method::POST, format!("{url}/mo"), Some(body.to_string())).await?;
            note_waiting(ticket, &to);
        }
        Cmd::SendUssd {
            url,
            from,
            to,
            new_session,
            op,
            text,
        } => {
            let body = serde_json::json!({
                "from": from, "to": to, "text": text, "new_session": new_session, "op": op,
            });
            let ticket = call(Method::POST, format!("{url}/ussd"), Some(body.to_string())).await?;
            note_waiting(ticket, &to);
        }
        Cmd::Faults { url, json: None } => {
            call(Method::GET, format!("{url}/faults"), None).await?;
        }
        Cmd::Faults {
            url,
            json: Some(json),
        } => {
            serde_json::from_str::<serde_json::Value>(&json).context("the faults must be JSON")?;
            call(Method::POST, format!("{url}/faults"), Some(json)).await?;
        }
        Cmd::Handset {
            url,
            number,
            call_from,
        } => {
            let u = match call_from {
                Some(f) => format!("{url}/handsets/{}/call?from={}", enc(&number), enc(&f)),
                None => format!("{url}/handsets/{}", enc(&number)),
            };
            let view = call(Method::GET, u, None).await?;
            if view.is_some_and(|v| v["known"] == false) {
                eprintln!(
                    "note: the simulator has no handset {number}: nothing has reached it (a \
                     typo? `curl {url}/handsets` lists the handsets it holds)"
                );
            }
        }
        Cmd::Mt { url, dest, since } => {
            let mut q = Vec::new();
            if let Some(d) = dest {
                q.push(format!("dest={}", enc(&d)));
            }
            if let Some(s) = since {
                q.push(format!("since={s}"));
            }
            call(Method::GET, format!("{url}/mt?{}", q.join("&")), None).await?;
        }
        Cmd::Receipts { url, filter } => {
            let u = format!("{url}/receipts{}", filter.query());
            call(Method::GET, u, None).await?;
        }
        Cmd::Deliveries { url, filter } => {
            let u = format!("{url}/deliveries{}", filter.query());
            call(Method::GET, u, None).await?;
        }
        Cmd::Binds { url } => {
            call(Method::GET, format!("{url}/binds"), None).await?;
        }
        Cmd::Stats { url } => {
            call(Method::GET, format!("{url}/stats"), None).await?;
        }
        Cmd::Reset { url } => {
            let u = format!("{url}/reset");
            let resp = send(client().post(&u), &u).await?;
            let status = resp.status();
            let text = body(resp, &u).await?;
            if !status.is_success() {
                return Err(answered_error(&u, status, &text));
            }
            match serde_json::from_str::<smsc_sim::ResetSummary>(&text) {
                Ok(s) => println!("reset: {s}"),
                Err(_) => println!("reset: done"),
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonsense_settings_are_refused_at_the_command_line() {
        let serve = |extra: &[&str]| {
            let mut args = vec!["smsc-sim", "serve"];
            args.extend_from_slice(extra);
            Cli::try_parse_from(args)
        };
        assert!(serve(&[]).is_ok());
        assert!(serve(&[
            "--error-status",
            "0x45",
            "--error-percent",
            "10",
            "--error-dest",
            "861"
        ])
        .is_ok());
        assert!(
            serve(&["--throttle", "0"]).is_ok(),
            "throttling every submit is a fault too"
        );
        for bad in [
            &["--window", "0"][..],
            &["--deliver-window", "0"],
            &["--deliver-attempts", "0"],
            &["--window-status", "0"],
            &["--delay", "500-100"],
            &["--error-status", "0"],
            &["--error-status", "0x45", "--error-percent", "150"],
            // Without a status these injected nothing (and said nothing).
            &["--error-percent", "10"],
            &["--error-dest", "861"],
            &["--country-code", "abc"],
            &["--country-code", "8613"],
        ] {
            assert!(serve(bad).is_err(), "{bad:?} accepted");
        }
        assert!(serve(&["--country-code", ""]).is_ok());
        assert!(serve(&["--country-code", "+44"]).is_ok());
        // A status alone injects nothing either: refused when serving.
        let Cmd::Serve(alone) = serve(&["--error-status", "0x45"]).unwrap().cmd else {
            panic!("not serve");
        };
        assert!(alone.check().unwrap_err().contains("--error-percent"));
        let Cmd::Serve(with) = serve(&["--error-status", "0x45", "--error-dest", "1"])
            .unwrap()
            .cmd
        else {
            panic!("not serve");
        };
        assert_eq!(with.check(), Ok(()));
    }
}
