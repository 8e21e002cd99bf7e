//! State shared by every session, the delivery dispatcher, the HTTP API and [`crate::SimHandle`]:
//! the recorder, the handsets, the faults, the connection registry and the MT acceptance logic
//! (SMPP 3.4 §4.4 submit_sm, §4.5 submit_multi, §4.7 data_sm, §4.8 query_sm, §4.9 cancel_sm,
//! §4.10 replace_sm).
//!
//! Locks are `std::sync` and held only for short, non-async sections; never two at once.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{LineWriter, Write};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::SeedableRng;
use rusmpp::pdus::DeliverSm;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::config::{ReceiptPlan, ReceiptStat, SimConfig};
use crate::faults::{Faults, MalformedKind, ThrottleWindow};
use crate::handset::{FetchJob, Handsets};
use crate::pdus;
use crate::recorder::{
    BindView, DeliveryKind, DeliveryRecord, DeliveryState, Log, MessageStore, MtRecord,
    PduCounters, Stats, StoredDest, StoredMessage, SubmitOptions,
};
use crate::util::{hex, now_ms};

/// Bind mode of a session (SMPP 3.4 §2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindMode {
    /// bind_transmitter: may submit, receives nothing.
    Transmitter,
    /// bind_receiver: receives deliver_sm, may not submit.
    Receiver,
    /// bind_transceiver: both.
    Transceiver,
}

impl BindMode {
    /// Whether deliver_sm may be sent to this bind.
    pub fn can_receive(self) -> bool {
        !matches!(self, BindMode::Transmitter)
    }

    /// Whether this bind may submit.
    pub fn can_transmit(self) -> bool {
        !matches!(self, BindMode::Receiver)
    }

    /// Lowercase name.
    pub fn name(self) -> &'static str {
        match self {
            BindMode::Transmitter => "transmitter",
            BindMode::Receiver => "receiver",
            BindMode::Transceiver => "transceiver",
        }
    }
}

/// One deliver_sm waiting to be written to a receiver-capable bind.
#[derive(Debug, Clone)]
pub struct DeliveryJob {
    /// Id of its [`DeliveryRecord`].
    pub record_id: u64,
    /// Only binds of this `system_id` may take it (receipts go back to the submitting account).
    pub system_id: Option<String>,
    /// The PDU body.
    pub pdu: Box<DeliverSm>,
    /// Times written so far.
    pub attempts: u32,
    /// Reset generation it belongs to (dropped after a reset).
    pub generation: u64,
    /// For a receipt the simulator planned for a stored message: the message's revision it
    /// was planned for ([`StoredMessage::revision`]); a replace_sm since then makes it void.
    /// `None` for anything else (MO, USSD, an injected receipt).
    pub revision: Option<u32>,
}

/// A command from the handle to one session.
#[derive(Debug, Clone, Copy)]
pub enum Control {
    /// Close the TCP connection now, without unbind.
    Drop,
    /// Send an unbind and close after unbind_resp.
    Unbind,
    /// Write one malformed PDU.
    Malformed(MalformedKind),
    /// Read nothing more from the connection (what the ESME writes stays in the socket
    /// buffers), while still writing; until it closes.
    StopReading,
}

/// Per-connection counters the session publishes for `/binds` and `/stats`.
#[derive(Debug, Default)]
pub struct ConnCounters {
    /// PDUs received.
    pub pdus: AtomicU64,
    /// Requests received and not yet answered.
    pub outstanding: AtomicUsize,
    /// deliver_sm in flight.
    pub inflight: AtomicUsize,
}

/// Registry entry for one connection.
#[derive(Debug)]
pub struct ConnEntry {
    /// Peer address.
    pub peer: String,
    /// Accepted at (ms since epoch).
    pub connected_at_ms: u64,
    /// Set once bound.
    pub bound: Option<(String, BindMode)>,
    /// The bind's other fields, once bound.
    pub bind: Option<crate::recorder::BindFields>,
    /// Queue of deliver_sm for this session.
    pub deliver_tx: mpsc::Sender<DeliveryJob>,
    /// Control commands for this session.
    pub ctrl_tx: mpsc::Sender<Control>,
    /// Published counters.
    pub counters: Arc<ConnCounters>,
    /// The simulator sent it an unbind: nothing more is routed to it.
    pub unbinding: bool,
    /// The bind's `address_range` as routing reads it ([`address_range_regex`]); `None`: the
    /// bind gave none (it takes what no bind's range claims).
    pub address_range: Option<regex::Regex>,
}

/// A bind's `address_range` as the simulator routes deliver_sm by it (SMPP 3.4 §4.1.1,
/// §5.2.27: a regular expression of the ESME addresses the bind serves, e.g. `^10658`),
/// matched anywhere in the destination_addr as written (anchor it with `^` / `$`). `None` for
/// an empty range; a range that is no valid regular expression is matched as literal text.
pub fn address_range_regex(range: &str) -> Option<regex::Regex> {
    if range.is_empty() {
        return None;
    }
    regex::Regex::new(range)
        .or_else(|_| regex::Regex::new(&regex::escape(range)))
        .ok()
}

/// Mutable records.
#[derive(Debug)]
pub struct State {
    /// MT log.
    pub mt: Log<MtRecord>,
    /// Simulator-originated deliver_sm log.
    pub deliveries: Log<DeliveryRecord>,
    /// Message store for query/cancel.
    pub store: MessageStore,
    /// Virtual handsets.
    pub handsets: Handsets,
}

impl State {
    /// Log the receipt `pdu` (`stat`, for `message_id` of MT `rec`) as a queued delivery;
    /// returns its record id.
    fn log_receipt(
        &mut self,
        rec: &MtRecord,
        message_id: &str,
        stat: ReceiptStat,
        pdu: &DeliverSm,
        now: u64,
    ) -> u64 {
        let rid = self.deliveries.next_id();
        self.deliveries.push(DeliveryRecord {
            id: rid,
            kind: DeliveryKind::Receipt,
            from: rec.dest.clone(),
            to: rec.source.clone(),
            message_id: Some(message_id.to_string()),
            stat: Some(stat),
            text: pdus::short_message_text(pdu),
            bind_id: None,
            attempts: 0,
            state: DeliveryState::Queued,
            created_at_ms: now,
        });
        rid
    }
}

/// What a session needs to know to accept an MT.
#[derive(Debug, Clone)]
pub struct MtInput {
    /// `submit_sm`, `data_sm` or `submit_multi`.
    pub command: &'static str,
    /// Sequence number.
    pub sequence_number: u32,
    /// service_type text.
    pub service_type: String,
    /// source_addr.
    pub source: String,
    /// source_addr_ton.
    pub source_ton: u8,
    /// source_addr_npi.
    pub source_npi: u8,
    /// destination_addr (for a submit_multi, each destination's in turn).
    pub dest: String,
    /// dest_addr_ton.
    pub dest_ton: u8,
    /// dest_addr_npi.
    pub dest_npi: u8,
    /// esm_class.
    pub esm_class: u8,
    /// data_coding.
    pub data_coding: u8,
    /// registered_delivery.
    pub registered_delivery: u8,
    /// short_message bytes.
    pub short_message: Vec<u8>,
    /// message_payload TLV.
    pub message_payload: Option<Vec<u8>>,
    /// SAR TLVs.
    pub sar: Option<(u16, u8, u8)>,
    /// ussd_service_op TLV.
    pub ussd_service_op: Option<u8>,
    /// its_session_info TLV.
    pub its_session_info: Option<(u8, u8)>,
    /// destination_port TLV.
    pub dest_port: Option<u16>,
    /// protocol_id, priority, replace_if_present and the time fields as sent (the resolved
    /// times are filled in when the MT is accepted).
    pub options: SubmitOptions,
}

/// The outcome of accepting an MT.
#[derive(Debug)]
pub struct MtOutcome {
    /// Status to answer.
    pub status: u32,
    /// Message id (empty when refused).
    pub message_id: String,
    /// A receipt to send, with its delay in ms.
    pub receipt: Option<(DeliveryJob, u64)>,
}

/// One destination of an MT: an SME address (submit_sm, data_sm and submit_multi) or a
/// distribution list name (submit_multi only, SMPP 3.4 §4.5.1.1 `dest_flag` 2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MtDest {
    /// An SME address.
    Sme {
        /// dest_addr_ton.
        ton: u8,
        /// dest_addr_npi.
        npi: u8,
        /// destination_addr.
        addr: String,
    },
    /// A distribution list name. The simulator holds no lists: every name is unsuccessful
    /// with ESME_RINVDLNAME (0x34).
    List(String),
}

/// A destination a submit_multi could not take (an `unsuccess_sme` of its response, SMPP 3.4
/// §4.5.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsuccess {
    /// dest_addr_ton (0 for a distribution list).
    pub ton: u8,
    /// dest_addr_npi (0 for a distribution list).
    pub npi: u8,
    /// The address or distribution list name.
    pub addr: String,
    /// Why: its error_status_code.
    pub status: u32,
}

/// The outcome of accepting a submit_multi.
#[derive(Debug)]
pub struct MultiOutcome {
    /// Status of the response: 0 unless the PDU as a whole was refused (throttled, no
    /// destination, a field every destination shares is wrong); then the response has no body.
    pub status: u32,
    /// The one message id of every destination taken (empty when none was).
    pub message_id: String,
    /// The destinations not taken, in the order given.
    pub unsuccess: Vec<Unsuccess>,
    /// Receipts to send (one per destination taken that asked for one), with their delays.
    pub receipts: Vec<(DeliveryJob, u64)>,
}

/// What a replace_sm asks (SMPP 3.4 §4.10.1).
#[derive(Debug, Clone, Default)]
pub struct ReplaceInput {
    /// message_id of the message to replace.
    pub message_id: String,
    /// source_addr: must be the original's.
    pub source: String,
    /// New schedule_delivery_time; empty keeps the original.
    pub schedule_delivery_time: String,
    /// New validity_period; empty keeps the original.
    pub validity_period: String,
    /// New registered_delivery.
    pub registered_delivery: u8,
    /// sm_default_msg_id: with no new text, the canned message of that id is the new text
    /// ([`SimConfig::canned_messages`](crate::SimConfig::canned_messages)); an id the
    /// simulator does not hold is ESME_RINVDFTMSGID.
    pub sm_default_msg_id: u8,
    /// New short_message.
    pub short_message: Vec<u8>,
    /// New message_payload TLV (SMPP 5.0 allows it in replace_sm).
    pub message_payload: Option<Vec<u8>>,
    /// A submit_sm whose `replace_if_present_flag` replaces the message (SMPP 3.4 §5.2.18):
    /// then every content field is its own (esm_class, data_coding, SAR, options and times
    /// as sent, empty times meaning at once / the default as for any submit), not the
    /// original's, and the fields above are not read but `message_id`. `None` for a
    /// replace_sm.
    pub submit: Option<MtInput>,
}

/// What accepting or replacing MT planned while the records were locked, carried out once
/// they are not.
#[derive(Default)]
struct Effects {
    fetches: Vec<FetchJob>,
    later: Vec<Later>,
    receipts: Vec<(DeliveryJob, u64)>,
}

/// A delivered MT that reaches its handset when its receipt delay is over.
struct Later {
    rec: MtRecord,
    message_id: String,
    /// Its destination in [`StoredMessage::dests`].
    index: usize,
    /// The message's revision it was planned for.
    revision: u32,
    delay: u64,
}

/// How one destination of a stored message goes on: its final state, when, and what its
/// receipt says.
struct Planned<'a> {
    index: usize,
    stat: ReceiptStat,
    delay: u64,
    submitted_at: u64,
    message_id: &'a str,
    numeric_id: u64,
    revision: u32,
    system_id: &'a str,
}

/// Everything shared.
pub struct Shared {
    /// Immutable configuration.
    pub cfg: SimConfig,
    /// Active faults.
    pub faults: RwLock<Faults>,
    /// Receipt plan (changeable at run time).
    pub receipts: RwLock<ReceiptPlan>,
    /// Records.
    pub state: Mutex<State>,
    /// PDUs received.
    pub rx: PduCounters,
    /// PDUs sent.
    pub tx: PduCounters,
    next_msg_id: AtomicU64,
    next_conn_id: AtomicU64,
    /// Seeded randomness.
    pub rng: Mutex<StdRng>,
    /// Submits over all accounts (for `/stats` and `throttle_global_per_sec`).
    throttle: Mutex<ThrottleWindow>,
    /// Submits per account (`throttle_per_sec`).
    account_throttle: Mutex<HashMap<String, ThrottleWindow>>,
    /// Start instant.
    pub started: Instant,
    /// Queue into the delivery dispatcher.
    pub delivery_tx: mpsc::Sender<DeliveryJob>,
    /// Connections by id.
    pub conns: Mutex<BTreeMap<u64, ConnEntry>>,
    rr: AtomicUsize,
    /// Bumped on every record change (MT, delivery, handset, bind); wait helpers watch it.
    pub changed: watch::Sender<u64>,
    hexlog: Option<Mutex<LineWriter<File>>>,
    /// Cancelled on shutdown.
    pub shutdown: CancellationToken,
    /// HTTP client handsets use to follow WAP Push links.
    pub http: reqwest::Client,
    /// Reset generation.
    pub generation: AtomicU64,
    mt_accepted: AtomicU64,
    mt_refused: AtomicU64,
    /// Receipts the ESME acknowledged with status 0.
    pub receipts_acked: AtomicU64,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").finish_non_exhaustive()
    }
}

/// Statuses used below (SMPP 3.4 §5.1.3).
pub mod status {
    /// ESME_RINVMSGLEN.
    pub const INVMSGLEN: u32 = 0x01;
    /// ESME_RINVSRCADR.
    pub const INVSRCADR: u32 = 0x0A;
    /// ESME_RINVDSTADR.
    pub const INVDSTADR: u32 = 0x0B;
    /// ESME_RINVESMCLASS.
    pub const INVESMCLASS: u32 = 0x43;
    /// ESME_RTHROTTLED.
    pub const THROTTLED: u32 = 0x58;
    /// ESME_RINVDCS (SMPP 5.0; no 3.4 equivalent).
    pub const INVDCS: u32 = 0x104;
    /// ESME_RQUERYFAIL.
    pub const QUERYFAIL: u32 = 0x67;
    /// ESME_RCANCELFAIL.
    pub const CANCELFAIL: u32 = 0x11;
    /// ESME_RINVMSGID.
    pub const INVMSGID: u32 = 0x0C;
    /// ESME_RINVPRTFLG: a `priority_flag` past 3.
    pub const INVPRTFLG: u32 = 0x06;
    /// ESME_RINVREGDLVFLG: `registered_delivery` with reserved bits or receipt value 3.
    pub const INVREGDLVFLG: u32 = 0x07;
    /// ESME_RINVSRCTON.
    pub const INVSRCTON: u32 = 0x48;
    /// ESME_RINVSRCNPI.
    pub const INVSRCNPI: u32 = 0x49;
    /// ESME_RINVDSTTON.
    pub const INVDSTTON: u32 = 0x50;
    /// ESME_RINVDSTNPI.
    pub const INVDSTNPI: u32 = 0x51;
    /// ESME_RINVSCHED: a malformed `schedule_delivery_time`.
    pub const INVSCHED: u32 = 0x61;
    /// ESME_RINVEXPIRY: a malformed `validity_period`.
    pub const INVEXPIRY: u32 = 0x62;
    /// ESME_RINVOPTPARAMVAL: an optional parameter (TLV) with a value it cannot take.
    pub const INVOPTPARAMVAL: u32 = 0xC4;
    /// ESME_RREPLACEFAIL: replace_sm of a message that is final, cancelled or not the
    /// source's.
    pub const REPLACEFAIL: u32 = 0x13;
    /// ESME_RINVNUMDESTS: a submit_multi with no destination.
    pub const INVNUMDESTS: u32 = 0x33;
    /// ESME_RINVDLNAME: a distribution list name (the simulator holds none).
    pub const INVDLNAME: u32 = 0x34;
    /// ESME_RINVDFTMSGID: an sm_default_msg_id of no canned message the simulator holds.
    pub const INVDFTMSGID: u32 = 0x63;
}

/// Whether `op` is a `ussd_service_op` value SMPP 3.4 §5.3.2.44 reserves: 4-15 and 20-31.
/// It defines 0-3 (PSSD, PSSR, USSR, USSN indication) and 16-19 (their responses), and leaves
/// 32-255 to vendors (6D Technologies' 0x81 "user aborted", for one): those pass, so a
/// carrier's own operations can be simulated.
pub fn is_reserved_ussd_op(op: u8) -> bool {
    matches!(op, 4..=15 | 20..=31)
}

/// The destination port of an MT's UDH (application port addressing, 3GPP TS 23.040
/// §9.2.3.24.3-4: IE 0x05 16-bit or IE 0x04 8-bit, widened), when `esm_class` says there is a
/// UDH and it holds one.
pub fn udh_dest_port(esm_class: u8, data: &[u8]) -> Option<u16> {
    if esm_class & 0x40 == 0 {
        return None;
    }
    sms_wire::udh::Udh::split(data)
        .ok()
        .and_then(|(u, _)| u.ports())
        .map(|(dest, _)| dest)
}

/// Whether an address in a query_sm / cancel_sm / replace_sm names the one of a stored
/// message: as written, a leading `+` aside (an empty one matches a message submitted with an
/// empty source_addr, SMPP 3.4 §4.8.1).
pub fn same_address(stored: &str, given: &str) -> bool {
    stored.trim_start_matches('+') == given.trim_start_matches('+')
}

/// The NPI values of SMPP 3.4 §5.2.6.
const NPIS: [u8; 10] = [0, 1, 3, 4, 6, 8, 9, 10, 14, 18];

/// Check the addressing and content fields of an MT; `Err(status)` when refused.
pub fn validate_mt(m: &MtInput) -> Result<(), u32> {
    validate_content(m)?;
    validate_dest(m.dest_ton, m.dest_npi, &m.dest)
}

/// Check one destination address: TON 0-6 (SMPP 3.4 §5.2.5), an NPI of §5.2.6, and 1 to 20
/// digits with an optional leading `+` (§5.2.9; ISDN numbers).
pub fn validate_dest(ton: u8, npi: u8, dest: &str) -> Result<(), u32> {
    if ton > 6 {
        return Err(status::INVDSTTON);
    }
    if !NPIS.contains(&npi) {
        return Err(status::INVDSTNPI);
    }
    let d = dest.strip_prefix('+').unwrap_or(dest);
    if d.is_empty() || d.len() > 20 || !d.bytes().all(|b| b.is_ascii_digit()) {
        return Err(status::INVDSTADR);
    }
    Ok(())
}

/// Check the fields of an MT other than its destination (those every destination of a
/// submit_multi shares); `Err(status)` when refused.
pub fn validate_content(m: &MtInput) -> Result<(), u32> {
    // SMPP 3.4 §7.1.1 times (§5.1.3: ESME_RINVSCHED, ESME_RINVEXPIRY).
    crate::smpp_time::parse(&m.options.schedule_delivery_time).map_err(|_| status::INVSCHED)?;
    crate::smpp_time::parse(&m.options.validity_period).map_err(|_| status::INVEXPIRY)?;
    // TON 0-6 (§5.2.5) and the NPI values of §5.2.6.
    if m.source_ton > 6 {
        return Err(status::INVSRCTON);
    }
    if !NPIS.contains(&m.source_npi) {
        return Err(status::INVSRCNPI);
    }
    // Message type (§5.2.12, bits 5-2) from an ESME: a default message (0x00) or an ESME
    // delivery / manual acknowledgement (0x08, 0x10); a delivery receipt (0x04) and the rest
    // go only from the SMSC to an ESME.
    if !matches!(m.esm_class & 0x3C, 0x00 | 0x08 | 0x10) {
        return Err(status::INVESMCLASS);
    }
    // registered_delivery (§5.2.17): bits 7-5 reserved, receipt value 3 reserved.
    if m.registered_delivery & 0xE0 != 0 || m.registered_delivery & 0x03 == 0x03 {
        return Err(status::INVREGDLVFLG);
    }
    // priority_flag 0-3 (§5.2.14).
    if m.options.priority_flag > 3 {
        return Err(status::INVPRTFLG);
    }
    // ussd_service_op (§5.3.2.44): not a value the standard reserves.
    if let Some(op) = m.ussd_service_op.filter(|op| is_reserved_ussd_op(*op)) {
        // A submit_multi's destinations are its own (`m.dest` is empty): its `/mt` records
        // name each, refused with this status.
        let dest = if m.command == "submit_multi" {
            "every destination of the submit_multi"
        } else {
            m.dest.as_str()
        };
        tracing::warn!(
            ussd_service_op = op,
            command = m.command,
            dest,
            "MT refused with ESME_RINVOPTPARAMVAL (0x000000C4): ussd_service_op {op} is \
             reserved (SMPP 3.4 §5.3.2.44: 0-3 PSSD/PSSR/USSR/USSN indication, 16-19 \
             responses, 32-255 vendor specific)"
        );
        return Err(status::INVOPTPARAMVAL);
    }
    // Source: alphanumeric (TON 5) up to 11 characters, otherwise digits (may be empty); a
    // USSD reply may come from its service code (`*123#`) whatever the TON, as the
    // simulator's own USSD MO is addressed.
    let service_code = m.ussd_service_op.is_some()
        && (1..=21).contains(&m.source.len())
        && m.source
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b'*' || b == b'#');
    if m.source_ton == 5 {
        if m.source.is_empty() || m.source.chars().count() > 11 {
            return Err(status::INVSRCADR);
        }
    } else if !service_code {
        let s = m.source.strip_prefix('+').unwrap_or(&m.source);
        if !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(status::INVSRCADR);
        }
    }
    // data_coding: the SMPP 3.4 §5.2.19 values and the TS 23.038 coding groups SMSCs pass
    // (0x0F is group 0000's "GSM 7-bit, language unspecified", the usual USSD coding).
    let dc = m.data_coding;
    let known = matches!(dc, 0x00..=0x1F | 0xF0..=0xFF);
    if !known {
        return Err(status::INVDCS);
    }
    // short_message and message_payload are exclusive (SMPP 3.4 §5.3.2.32).
    if m.message_payload.is_some() && !m.short_message.is_empty() {
        return Err(status::INVMSGLEN);
    }
    let data: &[u8] = m
        .message_payload
        .as_deref()
        .unwrap_or(m.short_message.as_slice());
    if m.message_payload.is_none() {
        // A USSD string is 160 octets (3GPP TS 24.080 and 23.038): 182 GSM-7 characters,
        // sent unpacked, or 80 UCS-2 ones. An SMS holds 160 GSM-7 characters or 140 octets.
        // A USSD screen of 71 to 80 Chinese characters was refused as if it were an SMS.
        let limit = match (dc, m.ussd_service_op.is_some()) {
            (0x00 | 0x01 | 0x0F, true) => 182,
            (_, true) => 160,
            (0x00 | 0x01 | 0x0F, false) => 160,
            (_, false) => 140,
        };
        if data.len() > limit {
            return Err(status::INVMSGLEN);
        }
    }
    if m.esm_class & 0x40 != 0 && sms_wire::udh::Udh::split(data).is_err() {
        return Err(status::INVESMCLASS);
    }
    if dc == 0x08 {
        let body = if m.esm_class & 0x40 != 0 {
            sms_wire::udh::Udh::split(data)
                .map(|(_, r)| r)
                .unwrap_or(data)
        } else {
            data
        };
        if body.len() % 2 != 0 {
            return Err(status::INVMSGLEN);
        }
    }
    Ok(())
}

pub use sms_wire::framing::mask_password;

/// The longest a scheduled message is held, in milliseconds (a year; its record keeps the
/// time asked for): a timer that far out is as good as never.
pub const MAX_HOLD_MS: u64 = 365 * 86_400_000;

/// The final state and its delay for an accepted MT whose receipt plan said `planned`, given
/// its `schedule_delivery_time` and `validity_period` (resolved into `o` at `now`): a
/// scheduled message is held until its time and the plan's delay counts from then; one whose
/// validity ends before it would be delivered (already ended, or before its schedule) is
/// EXPIRED when its validity ends, and never reaches the handset.
pub fn hold_and_expire(
    planned: (ReceiptStat, u64),
    o: &mut SubmitOptions,
    now: u64,
) -> (ReceiptStat, u64) {
    o.scheduled_at_ms = resolve_time(&o.schedule_delivery_time, now);
    o.expires_at_ms = resolve_time(&o.validity_period, now);
    let (stat, at) = final_state(planned, now, o, now);
    (stat, at - now)
}

/// An SMPP time field (absolute, or relative to `now`) as ms since the epoch; `None` for an
/// empty or unreadable one.
fn resolve_time(s: &str, now: u64) -> Option<u64> {
    crate::smpp_time::parse(s)
        .ok()
        .flatten()
        .map(|t| t.resolve(now))
}

/// The final state of a message submitted at `submitted_at` whose receipt plan said
/// `planned`, under the resolved times of `o`, and when it is reached (ms since the epoch, not
/// before `now`): held until its schedule, then the plan's delay; EXPIRED when its validity
/// ends first.
pub fn final_state(
    planned: (ReceiptStat, u64),
    submitted_at: u64,
    o: &SubmitOptions,
    now: u64,
) -> (ReceiptStat, u64) {
    let hold = o
        .scheduled_at_ms
        .map_or(0, |t| t.saturating_sub(submitted_at))
        .min(MAX_HOLD_MS);
    let (stat, delay) = planned;
    let delay = delay.min(crate::faults::MAX_DELAY_MS);
    let due = (submitted_at + hold + delay).max(now);
    match o.expires_at_ms {
        Some(end) if end <= due => (ReceiptStat::Expired, end.max(now)),
        _ => (stat, due),
    }
}

/// Whether `registered_delivery` asks for a receipt for this final state (SMPP 3.4 §5.2.17).
pub fn wants_receipt(registered_delivery: u8, stat: ReceiptStat) -> bool {
    match registered_delivery & 0x03 {
        0x01 => true,
        0x02 => stat.is_failure(),
        _ => false,
    }
}

impl Shared {
    /// Build the shared state.
    pub fn new(cfg: SimConfig, delivery_tx: mpsc::Sender<DeliveryJob>) -> std::io::Result<Self> {
        let hexlog = match &cfg.hex_log {
            Some(p) => Some(Mutex::new(LineWriter::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(p)?,
            ))),
            None => None,
        };
        let http = reqwest::Client::builder()
            .timeout(cfg.handsets.fetch_timeout)
            .build()
            .unwrap_or_default();
        let cap = cfg.max_records;
        Ok(Shared {
            faults: RwLock::new(cfg.faults.clone()),
            receipts: RwLock::new(cfg.receipts.clone()),
            state: Mutex::new(State {
                mt: Log::new(cap),
                deliveries: Log::new(cap),
                store: MessageStore::new(cap.max(1000)),
                handsets: Handsets::new(&cfg.handsets),
            }),
            rx: PduCounters::default(),
            tx: PduCounters::default(),
            next_msg_id: AtomicU64::new(cfg.message_id_start),
            next_conn_id: AtomicU64::new(1),
            rng: Mutex::new(StdRng::seed_from_u64(cfg.seed)),
            throttle: Mutex::new(ThrottleWindow::default()),
            account_throttle: Mutex::new(HashMap::new()),
            started: Instant::now(),
            delivery_tx,
            conns: Mutex::new(BTreeMap::new()),
            rr: AtomicUsize::new(0),
            changed: watch::channel(0).0,
            hexlog,
            shutdown: CancellationToken::new(),
            http,
            generation: AtomicU64::new(0),
            mt_accepted: AtomicU64::new(0),
            mt_refused: AtomicU64::new(0),
            receipts_acked: AtomicU64::new(0),
            cfg,
        })
    }

    /// Lock the records (a poisoned lock is recovered: records stay usable).
    pub fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Current faults.
    pub fn faults(&self) -> Faults {
        self.faults
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Run `f` with the seeded rng.
    pub fn with_rng<T>(&self, f: impl FnOnce(&mut StdRng) -> T) -> T {
        f(&mut self.rng.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Signal that records changed.
    pub fn bump(&self) {
        self.changed.send_modify(|v| *v = v.wrapping_add(1));
    }

    /// Allocate a connection id.
    pub fn conn_id(&self) -> u64 {
        self.next_conn_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Append one PDU to the hex log, if enabled; a bind's or outbind's password is written
    /// as `*` bytes ([`mask_password`]): passwords never go into logs.
    pub fn log_hex(&self, conn: u64, dir: &str, bytes: &[u8]) {
        if let Some(l) = &self.hexlog {
            let masked = mask_password(bytes);
            let mut w = l.lock().unwrap_or_else(|e| e.into_inner());
            let _ = writeln!(w, "{} {conn} {dir} {}", now_ms(), hex(&masked));
        }
    }

    /// Whether hex logging is on.
    pub fn hex_logging(&self) -> bool {
        self.hexlog.is_some()
    }

    /// Render a receipt's `id:` text for a numeric id.
    fn receipt_text_id(&self, n: u64) -> String {
        self.cfg
            .receipt_text_id_style
            .unwrap_or(self.cfg.message_id_style)
            .render(n)
    }

    /// Accept (or refuse) an MT from bind `bind_id`; records it and plans its receipt.
    pub fn accept_mt(self: &Arc<Self>, bind_id: u64, system_id: &str, m: MtInput) -> MtOutcome {
        let dest = MtDest::Sme {
            ton: m.dest_ton,
            npi: m.dest_npi,
            addr: m.dest.clone(),
        };
        let o = self.accept_to(bind_id, system_id, m, vec![dest]);
        MtOutcome {
            status: o.unsuccess.first().map_or(o.status, |u| u.status),
            message_id: o.message_id,
            receipt: o.receipts.into_iter().next(),
        }
    }

    /// Accept (or refuse) a submit_multi (SMPP 3.4 §4.5) from bind `bind_id`: `m` holds the
    /// fields its destinations share, `dests` its destinations. It counts as one submit for
    /// the throttles. Each destination is refused as a submit_sm to it would be (an invalid
    /// address, the `error` faults naming it or drawing it) and listed in the outcome's
    /// `unsuccess`; a distribution list name with ESME_RINVDLNAME (the simulator holds
    /// none); no destination at all is ESME_RINVNUMDESTS. The others share one message id
    /// and each is recorded, delivered to its handset and receipted like a submit_sm.
    pub fn accept_multi(
        self: &Arc<Self>,
        bind_id: u64,
        system_id: &str,
        m: MtInput,
        dests: Vec<MtDest>,
    ) -> MultiOutcome {
        self.accept_to(bind_id, system_id, m, dests)
    }

    /// The canned message `id` (SMPP 3.4 §5.2.20) made `m`'s text when `m` has none of its
    /// own (no short_message, no message_payload): its bytes in GSM-7 when the text fits that
    /// alphabet, else UCS-2, with that data_coding, and no UDH. Nothing for id 0 or a message
    /// with a text; ESME_RINVDFTMSGID for an id the simulator does not hold
    /// ([`SimConfig::canned_messages`](crate::SimConfig::canned_messages)).
    fn use_canned(&self, id: u8, m: &mut MtInput) -> Result<(), u32> {
        if id == 0 {
            return Ok(());
        }
        let text = self
            .cfg
            .canned_messages
            .get(&id)
            .ok_or(status::INVDFTMSGID)?;
        if !m.short_message.is_empty() || m.message_payload.is_some() {
            return Ok(());
        }
        let alphabet = sms_wire::text::choose(text);
        m.short_message = sms_wire::text::encode(text, alphabet).ok_or(status::INVDFTMSGID)?;
        m.data_coding = alphabet.data_coding();
        m.esm_class &= !0x40;
        Ok(())
    }

    /// Submit fields every destination shares, to each of `dests` (see
    /// [`Shared::accept_multi`]); records one MT per destination.
    fn accept_to(
        self: &Arc<Self>,
        bind_id: u64,
        system_id: &str,
        mut m: MtInput,
        dests: Vec<MtDest>,
    ) -> MultiOutcome {
        let now = now_ms();
        // A submit without a text of its own that names a canned message sends that.
        let canned = self.use_canned(m.options.sm_default_msg_id, &mut m);
        // A push addressed in its UDH (IE 0x05 / 0x04) has its port there, not in a TLV.
        m.dest_port = m.dest_port.or_else(|| {
            udh_dest_port(
                m.esm_class,
                m.message_payload.as_deref().unwrap_or(&m.short_message),
            )
        });
        let faults = self.faults.read().unwrap_or_else(|e| e.into_inner());
        // Each submit counts in both windows, its account's and the SMSC's.
        let admitted_global = self
            .throttle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .admit(now, faults.throttle_global_per_sec);
        let admitted_account = self
            .account_throttle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(system_id.to_string())
            .or_default()
            .admit(now, faults.throttle_per_sec);
        // What refuses the PDU as a whole, for every destination.
        let whole = if !(admitted_global && admitted_account) {
            status::THROTTLED
        } else if dests.is_empty() {
            status::INVNUMDESTS
        } else if let Err(s) = canned {
            s
        } else {
            validate_content(&m).err().unwrap_or(0)
        };
        let cc = &self.cfg.handsets.country_code;
        let faulty = faults.error.is_some() || !faults.more_errors.is_empty();
        let statuses: Vec<u32> = dests
            .iter()
            .map(|d| match d {
                _ if whole != 0 => whole,
                MtDest::List(_) => status::INVDLNAME,
                MtDest::Sme { ton, npi, addr } => match validate_dest(*ton, *npi, addr) {
                    Err(s) => s,
                    Ok(()) if faulty => self
                        .with_rng(|r| faults.error_for(addr, cc, r))
                        .unwrap_or(0),
                    Ok(()) => 0,
                },
            })
            .collect();
        drop(faults);
        // A submit_sm taken that asks to replace a message still pending does (§5.2.18).
        if let ([MtDest::Sme { addr, .. }], [0]) = (dests.as_slice(), statuses.as_slice()) {
            if m.command == "submit_sm" && m.options.replace_if_present_flag == 1 {
                if let Some(out) = self.replace_if_present(system_id, &m, addr) {
                    return out;
                }
            }
        }
        let taken = statuses.iter().filter(|s| **s == 0).count();
        let (numeric_id, message_id) = if taken > 0 {
            let n = self.next_msg_id.fetch_add(1, Ordering::Relaxed);
            (n, self.cfg.message_id_style.render(n))
        } else {
            (0, String::new())
        };
        // What the receipt plan says for each destination taken.
        let plans: Vec<Option<(ReceiptStat, u64)>> = {
            let receipts = self.receipts.read().unwrap_or_else(|e| e.into_inner());
            let data = m.message_payload.as_deref().unwrap_or(&m.short_message);
            let push = crate::handset::to_wap_push_port(m.esm_class, data, m.dest_port);
            dests
                .iter()
                .zip(&statuses)
                .map(|(d, s)| match d {
                    MtDest::Sme { addr, .. } if *s == 0 => {
                        Some(self.with_rng(|r| receipts.decide(addr, cc, push, r)))
                    }
                    _ => None,
                })
                .collect()
        };
        let text = pdus::decode_body(
            m.esm_class,
            m.data_coding,
            m.message_payload.as_deref().unwrap_or(&m.short_message),
        );
        let mut fx = Effects::default();
        let mut unsuccess = Vec::new();
        {
            let mut st = self.state();
            let mut stored = Vec::with_capacity(taken);
            for ((dest, status), plan) in dests.into_iter().zip(statuses).zip(plans) {
                let (dest_ton, dest_npi, dest) = match dest {
                    MtDest::Sme { ton, npi, addr } => (ton, npi, addr),
                    MtDest::List(name) => (0, 0, name),
                };
                let mut options = m.options.clone();
                let fin = plan.map(|p| (p, hold_and_expire(p, &mut options, now)));
                let id = st.mt.next_id();
                let rec = MtRecord {
                    id,
                    message_id: if status == 0 {
                        message_id.clone()
                    } else {
                        String::new()
                    },
                    bind_id,
                    system_id: system_id.to_string(),
                    command: m.command,
                    sequence_number: m.sequence_number,
                    service_type: m.service_type.clone(),
                    source: m.source.clone(),
                    source_ton: m.source_ton,
                    source_npi: m.source_npi,
                    dest,
                    dest_ton,
                    dest_npi,
                    esm_class: m.esm_class,
                    data_coding: m.data_coding,
                    registered_delivery: m.registered_delivery,
                    short_message: m.short_message.clone(),
                    message_payload: m.message_payload.clone(),
                    sar: m.sar,
                    ussd_service_op: m.ussd_service_op,
                    its_session_info: m.its_session_info,
                    dest_port: m.dest_port,
                    options,
                    text: text.clone(),
                    status,
                    received_at_ms: now,
                    replaced_at_ms: None,
                    text_before_replace: None,
                };
                if status != 0 {
                    unsuccess.push(Unsuccess {
                        ton: rec.dest_ton,
                        npi: rec.dest_npi,
                        addr: rec.dest.clone(),
                        status,
                    });
                }
                if let Some((plan, (stat, delay))) = fin {
                    stored.push(StoredDest {
                        dest: rec.dest.clone(),
                        plan,
                        planned: stat,
                        final_at_ms: now + delay,
                        mt_id: id,
                    });
                    let p = Planned {
                        index: stored.len() - 1,
                        stat,
                        delay,
                        submitted_at: now,
                        message_id: &message_id,
                        numeric_id,
                        revision: 0,
                        system_id,
                    };
                    self.schedule(&mut st, &rec, &p, now, &mut fx);
                }
                st.mt.push(rec);
            }
            if !stored.is_empty() {
                st.store.insert(
                    message_id.clone(),
                    StoredMessage {
                        system_id: system_id.to_string(),
                        service_type: m.service_type,
                        source: m.source,
                        dests: stored,
                        submitted_at_ms: now,
                        numeric_id,
                        cancelled: false,
                        revision: 0,
                    },
                );
            }
        }
        self.mt_accepted.fetch_add(taken as u64, Ordering::Relaxed);
        self.mt_refused
            .fetch_add(unsuccess.len() as u64, Ordering::Relaxed);
        let receipts = self.carry_out(fx);
        self.bump();
        MultiOutcome {
            status: whole,
            message_id,
            unsuccess,
            receipts,
        }
    }

    /// Plan how destination `p.index` of a stored message goes on (records locked as `st`):
    /// the handset shows only what its receipt will call delivered, and only once it is
    /// (query_sm says ENROUTE until then, and cancel_sm or replace_sm may still change it): at
    /// once without a receipt delay, else when the delay is over. A USSD screen belongs to a
    /// live session and is shown at once. Its receipt, when `registered_delivery` asks for
    /// one, goes into `fx` with its delay.
    fn schedule(
        &self,
        st: &mut State,
        rec: &MtRecord,
        p: &Planned<'_>,
        now: u64,
        fx: &mut Effects,
    ) {
        if p.stat == ReceiptStat::Delivrd {
            if p.delay == 0 || rec.is_ussd() {
                if let Some(f) = st.handsets.ingest_mt(rec, now) {
                    fx.fetches.push(f);
                }
            } else {
                fx.later.push(Later {
                    rec: rec.clone(),
                    message_id: p.message_id.to_string(),
                    index: p.index,
                    revision: p.revision,
                    delay: p.delay,
                });
            }
        }
        if wants_receipt(rec.registered_delivery, p.stat) {
            let text_id = self.receipt_text_id(p.numeric_id);
            let pdu = pdus::receipt(
                rec,
                p.message_id,
                &text_id,
                p.stat,
                p.submitted_at,
                now + p.delay,
            );
            let rid = st.log_receipt(rec, p.message_id, p.stat, &pdu, now);
            fx.receipts.push((
                DeliveryJob {
                    record_id: rid,
                    system_id: Some(p.system_id.to_string()),
                    pdu: Box::new(pdu),
                    attempts: 0,
                    generation: self.generation.load(Ordering::Relaxed),
                    revision: Some(p.revision),
                },
                p.delay,
            ));
        }
    }

    /// The receipts of stored message `message_id`, which a cancel_sm has just deleted
    /// (records locked as `st`), when the receipt plan sends them
    /// ([`ReceiptPlan::deleted_on_cancel`]): `stat:DELETED`, one per destination whose
    /// `registered_delivery` asks for a failure receipt, for the caller to send at once.
    pub fn deleted_receipts(&self, st: &mut State, message_id: &str, now: u64) -> Vec<DeliveryJob> {
        if !self.cfg.receipts.deleted_on_cancel {
            return Vec::new();
        }
        let Some(m) = st.store.get(message_id).cloned() else {
            return Vec::new();
        };
        let text_id = self.receipt_text_id(m.numeric_id);
        let mut jobs = Vec::new();
        for d in &m.dests {
            let Some(rec) = st.mt.get(d.mt_id).cloned() else {
                continue;
            };
            if !wants_receipt(rec.registered_delivery, ReceiptStat::Deleted) {
                continue;
            }
            let pdu = pdus::receipt(
                &rec,
                message_id,
                &text_id,
                ReceiptStat::Deleted,
                m.submitted_at_ms,
                now,
            );
            let rid = st.log_receipt(&rec, message_id, ReceiptStat::Deleted, &pdu, now);
            jobs.push(DeliveryJob {
                record_id: rid,
                system_id: Some(m.system_id.clone()),
                pdu: Box::new(pdu),
                attempts: 0,
                generation: self.generation.load(Ordering::Relaxed),
                revision: None,
            });
        }
        jobs
    }

    /// Start what `fx` planned (handset fetches, deliveries to handsets later); its receipts
    /// are returned for the session to send after its response.
    fn carry_out(self: &Arc<Self>, fx: Effects) -> Vec<(DeliveryJob, u64)> {
        for f in fx.fetches {
            crate::handset::spawn_fetch(self, f);
        }
        for l in fx.later {
            self.deliver_to_handset_after(l);
        }
        fx.receipts
    }

    /// replace_sm (SMPP 3.4 §4.10) from account `system_id`: the message `r.message_id`
    /// submitted by that account (else ESME_RINVMSGID) from `r.source` (else
    /// ESME_RREPLACEFAIL), still ENROUTE to every destination (else ESME_RREPLACEFAIL: a
    /// handset has it, it is final or cancelled; a USSD screen is shown at once, so it never
    /// is) gets the new short_message (or message_payload), registered_delivery and, when
    /// given, schedule_delivery_time and validity_period; with no new text, a non-zero
    /// sm_default_msg_id makes the canned message of that id the new text, and one the
    /// simulator does not hold is ESME_RINVDFTMSGID ([`Shared::use_canned`]); a new text its
    /// data_coding cannot carry gets the status a submit_sm would get. Its MT records show the new text (and the text
    /// before), its handsets will get it, its receipts are planned again under the same
    /// message id (the ones planned before and not yet sent are dropped); they are returned
    /// with their delays. With `r.submit` (a submit_sm's `replace_if_present_flag`,
    /// [`Shared::replace_if_present`]) the new content is that submit's, every field of it.
    pub fn replace_mt(
        self: &Arc<Self>,
        system_id: &str,
        r: ReplaceInput,
    ) -> Result<Vec<(DeliveryJob, u64)>, u32> {
        let now = now_ms();
        let mut fx = Effects::default();
        {
            let mut st = self.state();
            let m = st
                .store
                .get(&r.message_id)
                .filter(|m| !r.message_id.is_empty() && m.system_id == system_id)
                .ok_or(status::INVMSGID)?
                .clone();
            if !same_address(&m.source, &r.source) || !m.replaceable_at(now) {
                return Err(status::REPLACEFAIL);
            }
            // Its records hold what the network delivers; one dropped from the bounded log
            // leaves nothing to replace.
            let recs: Vec<MtRecord> = m
                .dests
                .iter()
                .map(|d| st.mt.get(d.mt_id).cloned())
                .collect::<Option<_>>()
                .ok_or(status::REPLACEFAIL)?;
            let Some(first) = recs.first() else {
                return Err(status::REPLACEFAIL);
            };
            if first.is_ussd() {
                return Err(status::REPLACEFAIL);
            }
            // What the message is to carry from now on: a replacing submit_sm's own fields,
            // or the replace_sm's over the original's.
            let content = match &r.submit {
                Some(sub) => {
                    let mut c = sub.clone();
                    c.options.scheduled_at_ms =
                        resolve_time(&c.options.schedule_delivery_time, now);
                    c.options.expires_at_ms = resolve_time(&c.options.validity_period, now);
                    c
                }
                None => {
                    let mut options = first.options.clone();
                    if !r.schedule_delivery_time.is_empty() {
                        options.schedule_delivery_time = r.schedule_delivery_time.clone();
                        options.scheduled_at_ms = resolve_time(&r.schedule_delivery_time, now);
                    }
                    if !r.validity_period.is_empty() {
                        options.validity_period = r.validity_period.clone();
                        options.expires_at_ms = resolve_time(&r.validity_period, now);
                    }
                    options.sm_default_msg_id = r.sm_default_msg_id;
                    let mut content = MtInput {
                        command: first.command,
                        sequence_number: first.sequence_number,
                        service_type: first.service_type.clone(),
                        source: first.source.clone(),
                        source_ton: first.source_ton,
                        source_npi: first.source_npi,
                        dest: first.dest.clone(),
                        dest_ton: first.dest_ton,
                        dest_npi: first.dest_npi,
                        esm_class: first.esm_class,
                        data_coding: first.data_coding,
                        registered_delivery: r.registered_delivery,
                        short_message: r.short_message.clone(),
                        message_payload: r.message_payload.clone(),
                        sar: first.sar,
                        ussd_service_op: first.ussd_service_op,
                        its_session_info: first.its_session_info,
                        dest_port: first.dest_port,
                        options,
                    };
                    // No new text: the canned message, when the replace_sm names one.
                    self.use_canned(r.sm_default_msg_id, &mut content)?;
                    content
                }
            };
            // The replacement must be what a submit_sm with those fields could carry.
            validate_content(&content)?;
            let text = pdus::decode_body(
                content.esm_class,
                content.data_coding,
                content
                    .message_payload
                    .as_deref()
                    .unwrap_or(&content.short_message),
            );
            // The receipts planned before are void (records newest first: those older than
            // the message cannot be its).
            for d in st.deliveries.iter_mut_rev() {
                if d.created_at_ms < m.submitted_at_ms {
                    break;
                }
                if d.kind == DeliveryKind::Receipt
                    && d.state == DeliveryState::Queued
                    && d.message_id.as_deref() == Some(r.message_id.as_str())
                {
                    d.state = DeliveryState::Failed("replaced by replace_sm".into());
                }
            }
            let revision = m.revision.wrapping_add(1);
            let mut dests = m.dests.clone();
            for (i, mut rec) in recs.into_iter().enumerate() {
                let (stat, at) =
                    final_state(m.dests[i].plan, m.submitted_at_ms, &content.options, now);
                if rec.text_before_replace.is_none() {
                    rec.text_before_replace = Some(std::mem::take(&mut rec.text));
                }
                rec.text = text.clone();
                rec.esm_class = content.esm_class;
                rec.data_coding = content.data_coding;
                rec.short_message = content.short_message.clone();
                rec.message_payload = content.message_payload.clone();
                rec.registered_delivery = content.registered_delivery;
                rec.sar = content.sar;
                rec.dest_port = content.dest_port;
                rec.options = content.options.clone();
                rec.replaced_at_ms = Some(now);
                if let Some(slot) = st.mt.get_mut(rec.id) {
                    *slot = rec.clone();
                }
                dests[i].planned = stat;
                dests[i].final_at_ms = at;
                let p = Planned {
                    index: i,
                    stat,
                    delay: at - now,
                    submitted_at: m.submitted_at_ms,
                    message_id: &r.message_id,
                    numeric_id: m.numeric_id,
                    revision,
                    system_id,
                };
                self.schedule(&mut st, &rec, &p, now, &mut fx);
            }
            if let Some(stored) = st.store.get_mut(&r.message_id) {
                stored.dests = dests;
                stored.revision = revision;
            }
        }
        let receipts = self.carry_out(fx);
        self.bump();
        Ok(receipts)
    }

    /// A submit_sm with `replace_if_present_flag` 1 (SMPP 3.4 §5.2.18), taken (not throttled,
    /// valid, no error fault): the newest message of account `system_id` still pending
    /// (ENROUTE: no handset has it, no final receipt went out) with the same source address,
    /// the one destination `dest` (a leading `+` aside) and the same service_type is replaced
    /// by it through [`Shared::replace_mt`] (the handset gets only the new text, receipts
    /// planned before are dropped, the MT record shows the new text and
    /// `text_before_replace`), and the answer carries that message's id, as most SMSCs
    /// answer. `None` when there is none (or it is a USSD screen, shown at once, never
    /// pending): the submit is then a new message.
    fn replace_if_present(
        self: &Arc<Self>,
        system_id: &str,
        m: &MtInput,
        dest: &str,
    ) -> Option<MultiOutcome> {
        if m.ussd_service_op.is_some() || m.service_type.eq_ignore_ascii_case("USSD") {
            return None;
        }
        let now = now_ms();
        let message_id = self
            .state()
            .store
            .newest_first()
            .find(|(_, s)| {
                s.system_id == system_id
                    && s.service_type == m.service_type
                    && same_address(&s.source, &m.source)
                    && matches!(s.dests.as_slice(), [d] if same_address(&d.dest, dest))
                    && s.replaceable_at(now)
            })
            .map(|(id, _)| id.to_string())?;
        let receipts = self
            .replace_mt(
                system_id,
                ReplaceInput {
                    message_id: message_id.clone(),
                    source: m.source.clone(),
                    submit: Some(m.clone()),
                    ..ReplaceInput::default()
                },
            )
            .ok()?;
        self.mt_accepted.fetch_add(1, Ordering::Relaxed);
        Some(MultiOutcome {
            status: 0,
            message_id,
            unsuccess: Vec::new(),
            receipts,
        })
    }

    /// Hand accepted MT `l.rec` (destination `l.index` of the message stored as
    /// `l.message_id`) to its handset `l.delay` ms from now, when it reaches its final state
    /// (DELIVRD, as its receipt will say), unless a cancel_sm deleted it first, a replace_sm
    /// changed it (a new delivery is planned then) or a reset came between: an SMSC cannot
    /// deliver a message it no longer holds. Once handed over it is delivered, so a later
    /// cancel_sm or replace_sm fails even if the wall clock lags the timer.
    fn deliver_to_handset_after(self: &Arc<Self>, l: Later) {
        let me = Arc::clone(self);
        let generation = self.generation.load(Ordering::Relaxed);
        tokio::spawn(async move {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(l.delay)) => {}
                _ = me.shutdown.cancelled() => return,
            }
            if generation != me.generation.load(Ordering::Relaxed) {
                return;
            }
            let fetch = {
                let now = now_ms();
                let mut st = me.state();
                match st.store.get_mut(&l.message_id) {
                    Some(m) if !m.cancelled && m.revision == l.revision => {
                        if let Some(d) = m.dests.get_mut(l.index) {
                            d.final_at_ms = d.final_at_ms.min(now);
                        }
                    }
                    _ => return,
                }
                st.handsets.ingest_mt(&l.rec, now)
            };
            if let Some(f) = fetch {
                crate::handset::spawn_fetch(&me, f);
            }
            me.bump();
        });
    }

    /// Queue a delivery job now, or after `delay_ms` (a task sleeps; receipts of messages
    /// cancelled or replaced meanwhile and jobs from before a reset are dropped).
    pub fn dispatch(self: &Arc<Self>, job: DeliveryJob, delay_ms: u64) {
        if delay_ms == 0 {
            match self.delivery_tx.try_send(job) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(job)) => {
                    let tx = self.delivery_tx.clone();
                    tokio::spawn(async move {
                        let _ = tx.send(job).await;
                    });
                }
                Err(mpsc::error::TrySendError::Closed(_)) => {}
            }
            return;
        }
        let me = Arc::clone(self);
        tokio::spawn(async move {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(delay_ms)) => {}
                _ = me.shutdown.cancelled() => return,
            }
            if job.generation != me.generation.load(Ordering::Relaxed) {
                return;
            }
            // A receipt of a message cancelled meanwhile, or planned before a replace_sm
            // changed it, is not sent.
            let void = pdus::receipted_id(&job.pdu).and_then(|id| {
                let st = me.state();
                let m = st.store.get(&id)?;
                if m.cancelled {
                    Some("cancelled")
                } else if job.revision.is_some_and(|r| r != m.revision) {
                    Some("replaced by replace_sm")
                } else {
                    None
                }
            });
            if let Some(why) = void {
                me.set_delivery_state(job.record_id, DeliveryState::Failed(why.into()), None);
                return;
            }
            let _ = me.delivery_tx.send(job).await;
        });
    }

    /// A second copy of receipt `job` under its own delivery record (the `duplicate_receipts`
    /// fault: a carrier resending a receipt whose deliver_sm_resp it did not see).
    pub fn duplicate_delivery(&self, job: &DeliveryJob) -> DeliveryJob {
        let mut copy = job.clone();
        copy.attempts = 0;
        {
            let mut st = self.state();
            let id = st.deliveries.next_id();
            let record = st
                .deliveries
                .get_mut(job.record_id)
                .map(|r| DeliveryRecord {
                    id,
                    attempts: 0,
                    bind_id: None,
                    state: DeliveryState::Queued,
                    ..r.clone()
                });
            if let Some(r) = record {
                st.deliveries.push(r);
            }
            copy.record_id = id;
        }
        copy
    }

    /// Update a delivery record.
    pub fn set_delivery_state(&self, record_id: u64, state: DeliveryState, bind: Option<u64>) {
        {
            let mut st = self.state();
            if let Some(r) = st.deliveries.get_mut(record_id) {
                if matches!(state, DeliveryState::Sent) {
                    r.attempts += 1;
                }
                if bind.is_some() {
                    r.bind_id = bind;
                }
                if r.kind == DeliveryKind::Receipt && state == DeliveryState::Answered(0) {
                    self.receipts_acked.fetch_add(1, Ordering::Relaxed);
                }
                r.state = state;
            }
        }
        self.bump();
    }

    /// Try to hand `job` to one of the binds that may take it ([`Shared::eligible`]),
    /// round-robin among them; gives it back when none can take it right now.
    pub fn route(&self, job: DeliveryJob) -> Result<(), DeliveryJob> {
        let candidates = self.eligible(&job);
        if candidates.is_empty() {
            return Err(job);
        }
        let start = self.rr.fetch_add(1, Ordering::Relaxed);
        let mut job = job;
        for i in 0..candidates.len() {
            match candidates[(start + i) % candidates.len()].try_send(job) {
                Ok(()) => return Ok(()),
                Err(mpsc::error::TrySendError::Full(j))
                | Err(mpsc::error::TrySendError::Closed(j)) => job = j,
            }
        }
        Err(job)
    }

    /// The delivery queues of the binds that may take `job`: for a receipt of a submit, the
    /// receiver-capable binds of the submitting account; for anything else (MO, USSD, an
    /// injected receipt) those [`Shared::receivers_for_address`] picks for its
    /// destination_addr.
    pub fn eligible(&self, job: &DeliveryJob) -> Vec<mpsc::Sender<DeliveryJob>> {
        match &job.system_id {
            Some(sys) => self.receivers(Some(sys)),
            None => self.receivers_for_address(job.pdu.destination_addr.as_str()),
        }
    }

    /// The delivery queues of the receiver-capable binds of `system_id` (any account: `None`).
    pub fn receivers(&self, system_id: Option<&str>) -> Vec<mpsc::Sender<DeliveryJob>> {
        let conns = self.conns.lock().unwrap_or_else(|e| e.into_inner());
        conns
            .values()
            .filter(|c| match &c.bound {
                Some((sys, mode)) => {
                    !c.unbinding && mode.can_receive() && system_id.is_none_or(|want| want == sys)
                }
                None => false,
            })
            .map(|c| c.deliver_tx.clone())
            .collect()
    }

    /// The delivery queues of the receiver-capable binds that serve the ESME address `dest`
    /// (an MO's service number, a USSD service code): those whose `address_range` matches it
    /// ([`address_range_regex`]); when no bind's range does, those that gave no range. Of these,
    /// only the binds of one account: that of the earliest connection among them. So an MO
    /// never reaches another account's ESME while a bind claims its number, and the parts of
    /// one message stay with one account. Empty: nobody takes it now (it waits).
    pub fn receivers_for_address(&self, dest: &str) -> Vec<mpsc::Sender<DeliveryJob>> {
        let conns = self.conns.lock().unwrap_or_else(|e| e.into_inner());
        let open: Vec<(&str, &ConnEntry)> = conns
            .values()
            .filter(|c| !c.unbinding)
            .filter_map(|c| match &c.bound {
                Some((sys, mode)) if mode.can_receive() => Some((sys.as_str(), c)),
                _ => None,
            })
            .collect();
        let claimed: Vec<(&str, &ConnEntry)> = open
            .iter()
            .copied()
            .filter(|(_, c)| c.address_range.as_ref().is_some_and(|r| r.is_match(dest)))
            .collect();
        let eligible = if claimed.is_empty() {
            open.into_iter()
                .filter(|(_, c)| c.address_range.is_none())
                .collect()
        } else {
            claimed
        };
        let Some(account) = eligible.first().map(|(sys, _)| *sys) else {
            return Vec::new();
        };
        eligible
            .iter()
            .filter(|(sys, _)| *sys == account)
            .map(|(_, c)| c.deliver_tx.clone())
            .collect()
    }

    /// Current binds.
    pub fn binds(&self) -> Vec<BindView> {
        let conns = self.conns.lock().unwrap_or_else(|e| e.into_inner());
        conns
            .iter()
            .map(|(id, c)| BindView {
                id: *id,
                peer: c.peer.clone(),
                system_id: c.bound.as_ref().map(|(s, _)| s.clone()),
                mode: c.bound.as_ref().map_or("open", |(_, m)| m.name()),
                bind: c.bind.clone(),
                connected_at_ms: c.connected_at_ms,
                pdus_received: c.counters.pdus.load(Ordering::Relaxed),
                outstanding: c.counters.outstanding.load(Ordering::Relaxed),
                window: self.cfg.window,
                deliver_inflight: c.counters.inflight.load(Ordering::Relaxed),
                deliver_window: self.cfg.deliver_window,
            })
            .collect()
    }

    /// Totals and rates.
    pub fn stats(&self) -> Stats {
        let binds = self.binds();
        Stats {
            uptime_ms: self.started.elapsed().as_millis() as u64,
            received: self.rx.snapshot(),
            sent: self.tx.snapshot(),
            submits_last_second: self
                .throttle
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .last_second(),
            mt_records: self.state().mt.len(),
            mt_accepted: self.mt_accepted.load(Ordering::Relaxed),
            mt_refused: self.mt_refused.load(Ordering::Relaxed),
            receipts_acked: self.receipts_acked.load(Ordering::Relaxed),
            connections: binds.len(),
            window_occupancy: binds
                .iter()
                .map(|b| crate::recorder::WindowOccupancy {
                    bind_id: b.id,
                    outstanding: b.outstanding,
                    deliver_inflight: b.deliver_inflight,
                })
                .collect(),
        }
    }

    /// Forget every record, handset and counter (connections stay up; receipts and MO still
    /// pending from before the reset are dropped); returns what was forgotten.
    pub fn reset(&self) -> crate::sim::ResetSummary {
        self.generation.fetch_add(1, Ordering::Relaxed);
        let summary = {
            let mut st = self.state();
            let pending = |kind: fn(&DeliveryKind) -> bool| {
                st.deliveries
                    .iter()
                    .filter(|d| {
                        kind(&d.kind)
                            && matches!(d.state, DeliveryState::Queued | DeliveryState::Sent)
                    })
                    .count()
            };
            let summary = crate::sim::ResetSummary {
                mt_records: st.mt.len(),
                handsets: st.handsets.numbers().len(),
                pending_receipts: pending(|k| *k == DeliveryKind::Receipt),
                pending_deliveries: pending(|k| *k != DeliveryKind::Receipt),
            };
            st.mt.clear();
            st.deliveries.clear();
            st.store.clear();
            st.handsets = Handsets::new(&self.cfg.handsets);
            summary
        };
        self.rx.reset();
        self.tx.reset();
        self.mt_accepted.store(0, Ordering::Relaxed);
        self.mt_refused.store(0, Ordering::Relaxed);
        self.receipts_acked.store(0, Ordering::Relaxed);
        self.bump();
        summary
    }

    /// Send a control command to every connection (or those of `system_id`).
    pub fn control_all(&self, system_id: Option<&str>, c: Control) -> usize {
        let conns = self.conns.lock().unwrap_or_else(|e| e.into_inner());
        conns
            .values()
            .filter(|e| system_id.is_none_or(|s| e.bound.as_ref().is_some_and(|(sys, _)| sys == s)))
            .filter(|e| e.ctrl_tx.try_send(c).is_ok())
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mt(dest: &str, dc: u8, sm: &[u8]) -> MtInput {
        MtInput {
            command: "submit_sm",
            sequence_number: 1,
            service_type: String::new(),
            source: "1234".into(),
            source_ton: 1,
            source_npi: 1,
            dest: dest.into(),
            dest_ton: 1,
            dest_npi: 1,
            esm_class: 0,
            data_coding: dc,
            registered_delivery: 0,
            short_message: sm.to_vec(),
            message_payload: None,
            sar: None,
            ussd_service_op: None,
            its_session_info: None,
            dest_port: None,
            options: Default::default(),
        }
    }

    #[test]
    fn validation_codes() {
        assert_eq!(validate_mt(&mt("8613800138000", 0, b"hi")), Ok(()));
        assert_eq!(validate_mt(&mt("+8613800138000", 0, b"hi")), Ok(()));
        assert_eq!(validate_mt(&mt("8613800138000", 0x0F, b"hi")), Ok(()));
        assert_eq!(validate_mt(&mt("", 0, b"hi")), Err(status::INVDSTADR));
        assert_eq!(validate_mt(&mt("12ab", 0, b"hi")), Err(status::INVDSTADR));
        assert_eq!(
            validate_mt(&mt("123456789012345678901", 0, b"hi")),
            Err(status::INVDSTADR)
        );
        assert_eq!(
            validate_mt(&mt("1", 0xC0 - 0x40, b"hi")),
            Err(status::INVDCS)
        );
        assert_eq!(validate_mt(&mt("1", 0x08, b"abc")), Err(status::INVMSGLEN));
        // A USSD string holds 80 UCS-2 characters (160 octets) or 182 GSM-7 ones; an SMS
        // 70 and 160.
        let ussd = |dc: u8, len: usize| MtInput {
            ussd_service_op: Some(2),
            ..mt("1", dc, &vec![0x20; len])
        };
        assert_eq!(validate_mt(&ussd(0x08, 160)), Ok(()));
        assert_eq!(validate_mt(&ussd(0x08, 162)), Err(status::INVMSGLEN));
        assert_eq!(validate_mt(&ussd(0x00, 182)), Ok(()));
        assert_eq!(validate_mt(&ussd(0x0F, 183)), Err(status::INVMSGLEN));
        assert_eq!(
            validate_mt(&mt("1", 0x08, &[0x20; 142])),
            Err(status::INVMSGLEN)
        );
        assert_eq!(
            validate_mt(&mt("1", 0x00, &[0x20; 161])),
            Err(status::INVMSGLEN)
        );
        assert_eq!(
            validate_mt(&mt("1", 0x04, &[0; 141])),
            Err(status::INVMSGLEN)
        );
        let mut both = mt("1", 0, b"x");
        both.message_payload = Some(b"y".to_vec());
        assert_eq!(validate_mt(&both), Err(status::INVMSGLEN));
        let mut bad_udh = mt("1", 0, &[9, 0, 3]);
        bad_udh.esm_class = 0x40;
        assert_eq!(validate_mt(&bad_udh), Err(status::INVESMCLASS));
        let mut alpha = mt("1", 0, b"x");
        alpha.source_ton = 5;
        alpha.source = "MyBrandNameIsLong".into();
        assert_eq!(validate_mt(&alpha), Err(status::INVSRCADR));
        // A USSD reply from its service code, TON 0: taken; an SMS from it: refused.
        let mut ussd = mt("1", 0x0F, b"1. Status");
        ussd.source = "*123#".into();
        assert_eq!(validate_mt(&ussd), Err(status::INVSRCADR));
        ussd.ussd_service_op = Some(2);
        assert_eq!(validate_mt(&ussd), Ok(()));
    }

    /// The destination port comes from the UDH's 16-bit (IE 0x05) or 8-bit (IE 0x04) port
    /// addressing; none without a UDH indicator or a port IE.
    #[test]
    fn udh_ports_are_read() {
        let p16 = [6, 5, 4, 0x0B, 0x84, 0x23, 0xF0, b'x'];
        assert_eq!(udh_dest_port(0x40, &p16), Some(2948));
        let p8 = [4, 4, 2, 0xF5, 0xF6, b'x'];
        assert_eq!(udh_dest_port(0x40, &p8), Some(0xF5));
        assert_eq!(udh_dest_port(0, &p16), None, "no UDHI: no UDH");
        let concat = [5, 0, 3, 9, 2, 1, b'x'];
        assert_eq!(udh_dest_port(0x40, &concat), None);
    }

    /// Only the `ussd_service_op` values SMPP 3.4 defines are taken (0-3, 16-19); any other
    /// (99, a vendor 0x81 in an MT) is refused with ESME_RINVOPTPARAMVAL.
    #[test]
    fn reserved_ussd_service_ops_are_refused_and_vendor_ones_pass() {
        let mut ussd = mt("8613800138000", 0x0F, b"1. Status");
        for op in [0, 1, 2, 3, 16, 17, 18, 19, 32, 99, 0x81, 255] {
            ussd.ussd_service_op = Some(op);
            assert_eq!(validate_mt(&ussd), Ok(()), "op {op}");
        }
        for op in [4, 15, 20, 23, 31] {
            ussd.ussd_service_op = Some(op);
            assert_eq!(validate_mt(&ussd), Err(0xC4), "op {op}");
        }
    }

    #[test]
    fn receipt_requests() {
        assert!(wants_receipt(1, ReceiptStat::Delivrd));
        assert!(!wants_receipt(0, ReceiptStat::Undeliv));
        assert!(!wants_receipt(2, ReceiptStat::Delivrd));
        assert!(wants_receipt(2, ReceiptStat::Expired));
        assert!(!wants_receipt(2, ReceiptStat::Acceptd));
        assert!(wants_receipt(2, ReceiptStat::Unknown));
    }
}
