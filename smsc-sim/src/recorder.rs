//! The recorder: every MT received, every deliver_sm the simulator originated (MO, USSD,
//! receipts) with its outcome, the message store behind query_sm / cancel_sm / replace_sm,
//! and PDU counters.
//!
//! Records are plain serialisable values; the HTTP API and the Rust API return clones of them.
//! Lists are bounded by [`crate::SimConfig::max_records`] (oldest dropped first).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use crate::config::ReceiptStat;
use crate::util::{hex_bytes, opt_hex_bytes};

/// One MT as the simulator received it: a submit_sm or data_sm, or one destination of a
/// submit_multi (one record per destination, each with `command` `submit_multi`, the
/// accepted ones sharing the PDU's message id).
#[derive(Debug, Clone, Serialize)]
pub struct MtRecord {
    /// Position in the MT log (1, 2, ...): use it with `since`.
    pub id: u64,
    /// The message id returned in the response (empty when refused).
    pub message_id: String,
    /// Connection id of the bind it came in on.
    pub bind_id: u64,
    /// `system_id` of that bind.
    pub system_id: String,
    /// `submit_sm`, `data_sm` or `submit_multi`.
    pub command: &'static str,
    /// `sequence_number` of the request.
    pub sequence_number: u32,
    /// `service_type` (e.g. `USSD`).
    pub service_type: String,
    /// `source_addr`.
    pub source: String,
    /// `source_addr_ton`.
    pub source_ton: u8,
    /// `source_addr_npi`.
    pub source_npi: u8,
    /// `destination_addr`.
    pub dest: String,
    /// `dest_addr_ton` (1: the digits are an international number).
    #[serde(default)]
    pub dest_ton: u8,
    /// `dest_addr_npi`.
    #[serde(default)]
    pub dest_npi: u8,
    /// `esm_class` byte.
    pub esm_class: u8,
    /// `data_coding` byte.
    pub data_coding: u8,
    /// `registered_delivery` byte.
    pub registered_delivery: u8,
    /// `short_message` bytes (hex in JSON).
    #[serde(with = "hex_bytes")]
    pub short_message: Vec<u8>,
    /// `message_payload` TLV bytes, if present (hex in JSON).
    #[serde(serialize_with = "opt_hex_bytes::serialize")]
    pub message_payload: Option<Vec<u8>>,
    /// SAR TLVs (reference, total, seq), if present.
    pub sar: Option<(u16, u8, u8)>,
    /// `ussd_service_op` TLV, if present.
    pub ussd_service_op: Option<u8>,
    /// `its_session_info` TLV (session number, sequence byte), if present.
    pub its_session_info: Option<(u8, u8)>,
    /// `destination_port` TLV or UDH port, if present.
    pub dest_port: Option<u16>,
    /// Scheduling, validity, priority and the other submit_sm options (flattened in JSON).
    #[serde(flatten)]
    pub options: SubmitOptions,
    /// This PDU's own text, decoded by `data_coding` (UDH stripped); a part of a long message
    /// holds only its part. Binary payloads decode to nothing useful.
    pub text: String,
    /// The `command_status` answered; in JSON also as SMPP writes it and by name:
    /// `"status": 88, "status_hex": "0x00000058", "status_name": "ESME_RTHROTTLED"`. For a
    /// destination of a submit_multi, that destination's status (its `unsuccess_sme` entry's
    /// `error_status_code`, or 0).
    #[serde(flatten, serialize_with = "crate::util::status_json::serialize")]
    pub status: u32,
    /// When it arrived (ms since the epoch).
    pub received_at_ms: u64,
    /// When a replace_sm last changed it (ms since the epoch); `None`: never replaced. Its
    /// `short_message`, `message_payload`, `text`, `registered_delivery` and times are then
    /// the replacement's.
    pub replaced_at_ms: Option<u64>,
    /// The text as first submitted, once a replace_sm has changed it.
    pub text_before_replace: Option<String>,
}

/// The submit_sm fields about how and when to deliver (SMPP 3.4 §4.4.1), as received; a
/// data_sm has none of them (all zero, empty).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SubmitOptions {
    /// `protocol_id`.
    pub protocol_id: u8,
    /// `priority_flag` (0-3).
    pub priority_flag: u8,
    /// `replace_if_present_flag`.
    pub replace_if_present_flag: u8,
    /// `schedule_delivery_time` as sent (empty: at once).
    pub schedule_delivery_time: String,
    /// `validity_period` as sent (empty: the SMSC's default).
    pub validity_period: String,
    /// `sm_default_msg_id` as sent (SMPP 3.4 §5.2.20): the canned message the SMSC sends
    /// when the submit has no text of its own (0: none; [`crate::SimConfig::canned_messages`]).
    pub sm_default_msg_id: u8,
    /// When the message was (or is) to be delivered, if scheduled (ms since the epoch).
    pub scheduled_at_ms: Option<u64>,
    /// When its validity ends, if given (ms since the epoch).
    pub expires_at_ms: Option<u64>,
}

impl MtRecord {
    /// The handset this MT is for, as the network numbers it: with TON international the
    /// digits are a whole international number (`15551234567` is `+1 555...`, not a national
    /// number to put the country code before).
    pub fn handset(&self) -> String {
        if self.dest_ton == 1 && !self.dest.starts_with('+') {
            format!("+{}", self.dest)
        } else {
            self.dest.clone()
        }
    }

    /// Whether it is a USSD message (a `ussd_service_op` TLV or service type `USSD`): a
    /// screen of a session, shown at once, never stored and forwarded.
    pub fn is_ussd(&self) -> bool {
        self.ussd_service_op.is_some() || self.service_type.eq_ignore_ascii_case("USSD")
    }

    /// Whether the simulator accepted it (status 0).
    pub fn accepted(&self) -> bool {
        self.status == 0
    }
}

/// Filter for [`crate::SimHandle::mt_messages`] (`GET /mt`'s query string: a key it does not
/// know is refused, not ignored).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MtFilter {
    /// Only this destination (leading `+` ignored; from a query string, an unencoded `+` is
    /// read as one, [`crate::util::plus_from_query`]).
    #[serde(default, deserialize_with = "crate::util::query_number_opt")]
    pub dest: Option<String>,
    /// Only records with `id` greater than this.
    pub since: Option<u64>,
    /// Only accepted messages (status 0).
    #[serde(default)]
    pub accepted_only: bool,
}

impl MtFilter {
    /// Everything.
    pub fn all() -> Self {
        MtFilter::default()
    }

    /// Accepted messages to `dest`.
    pub fn to(dest: &str) -> Self {
        MtFilter {
            dest: Some(dest.to_string()),
            since: None,
            accepted_only: true,
        }
    }

    /// Whether `r` passes, on a network whose country code is `cc` (national and
    /// international forms of the destination alike, as its handset is numbered:
    /// [`crate::handset::same_subscriber`]).
    pub fn matches(&self, r: &MtRecord, cc: &str) -> bool {
        if let Some(d) = &self.dest {
            // By digits (`+86...`, `86...` and a national form alike). A filter without
            // digits (an alphanumeric address) compares as written.
            let want = crate::util::digits(d);
            let same = if want.is_empty() {
                d.trim() == r.dest
            } else {
                want == crate::util::digits(&r.dest)
                    || crate::handset::same_subscriber(d, &r.handset(), cc)
            };
            if !same {
                return false;
            }
        }
        if let Some(s) = self.since {
            if r.id <= s {
                return false;
            }
        }
        !self.accepted_only || r.accepted()
    }
}

/// Filter for [`crate::SimHandle::deliveries_matching`] (`GET /deliveries` and
/// `GET /receipts`' query string: a key it does not know is refused, not ignored).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryFilter {
    /// Only records with `id` greater than this.
    pub since: Option<u64>,
    /// Only receipts of this message id (as the `submit_sm_resp` gave it).
    pub message_id: Option<String>,
}

impl DeliveryFilter {
    /// Whether `d` passes.
    pub fn matches(&self, d: &DeliveryRecord) -> bool {
        if self.since.is_some_and(|s| d.id <= s) {
            return false;
        }
        match &self.message_id {
            Some(m) => d.message_id.as_deref() == Some(m.as_str()),
            None => true,
        }
    }
}

/// What a simulator-originated deliver_sm carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryKind {
    /// A mobile-originated SMS (one part).
    Mo,
    /// A delivery receipt.
    Receipt,
    /// A USSD message.
    Ussd,
}

/// Where a simulator-originated deliver_sm stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "state", content = "detail")]
pub enum DeliveryState {
    /// Waiting for a receiver-capable bind or for window room.
    Queued,
    /// Written to a bind, response pending.
    Sent,
    /// Answered with this `command_status` (0 = accepted).
    Answered(u32),
    /// Gave up (timeouts, disconnects or cancelled).
    Failed(String),
}

/// One deliver_sm the simulator originated.
#[derive(Debug, Clone, Serialize)]
pub struct DeliveryRecord {
    /// Position in the delivery log (1, 2, ...).
    pub id: u64,
    /// MO, receipt or USSD.
    pub kind: DeliveryKind,
    /// `source_addr` (the handset for MO/USSD/receipts).
    pub from: String,
    /// `destination_addr`.
    pub to: String,
    /// For receipts: the message id receipted.
    pub message_id: Option<String>,
    /// For receipts: the state reported.
    pub stat: Option<ReceiptStat>,
    /// For receipts and MO: the short_message text.
    pub text: String,
    /// Bind it was last written to.
    pub bind_id: Option<u64>,
    /// How many times it was written.
    pub attempts: u32,
    /// Current state.
    pub state: DeliveryState,
    /// When it was created (ms since the epoch).
    pub created_at_ms: u64,
}

/// Lifecycle of a stored MT, for query_sm / cancel_sm / replace_sm (SMPP 3.4 §4.8-4.10).
#[derive(Debug, Clone)]
pub struct StoredMessage {
    /// `system_id` of the account that submitted it: only that account may query, cancel or
    /// replace it.
    pub system_id: String,
    /// `service_type` as submitted (a cancel_sm of a group may name it, SMPP 3.4 §4.9.1).
    pub service_type: String,
    /// `source_addr` as submitted.
    pub source: String,
    /// Its destinations: one for a submit_sm or data_sm, one per accepted destination of a
    /// submit_multi.
    pub dests: Vec<StoredDest>,
    /// Submitted at (ms since epoch).
    pub submitted_at_ms: u64,
    /// The number its message id renders (the receipt text's `id:` is rendered from it).
    pub numeric_id: u64,
    /// Cancelled by cancel_sm before reaching its final state.
    pub cancelled: bool,
    /// How many times replace_sm changed it: a handset delivery or receipt planned for an
    /// earlier revision is dropped when its time comes.
    pub revision: u32,
}

/// One destination of a [`StoredMessage`].
#[derive(Debug, Clone)]
pub struct StoredDest {
    /// `destination_addr` as submitted.
    pub dest: String,
    /// What the receipt plan decided for it at submission (state, delay in ms), before
    /// scheduling and validity: a replace_sm with new times plans again from it.
    pub plan: (ReceiptStat, u64),
    /// The planned final state.
    pub planned: ReceiptStat,
    /// When the final state is reached (ms since epoch).
    pub final_at_ms: u64,
    /// Its record in the MT log (`MtRecord::id`).
    pub mt_id: u64,
}

impl StoredDest {
    /// `message_state` of this destination at `now_ms`: ENROUTE (1) until final, then the
    /// planned state.
    pub fn state_at(&self, now_ms: u64) -> u8 {
        if now_ms >= self.final_at_ms {
            self.planned.message_state()
        } else {
            1
        }
    }
}

impl StoredMessage {
    /// `message_state` at `now_ms`: DELETED (4) once cancelled; ENROUTE (1) while a
    /// destination is not final; then DELIVERED (2) when every destination was delivered,
    /// else the state of the first destination that was not.
    pub fn state_at(&self, now_ms: u64) -> u8 {
        if self.cancelled {
            return 4;
        }
        if self.dests.iter().any(|d| now_ms < d.final_at_ms) {
            return 1;
        }
        self.dests
            .iter()
            .map(|d| d.planned.message_state())
            .find(|&s| s != 2)
            .unwrap_or(2)
    }

    /// When its last destination reaches its final state (ms since epoch).
    pub fn final_at_ms(&self) -> u64 {
        self.dests.iter().map(|d| d.final_at_ms).max().unwrap_or(0)
    }

    /// Whether `dest` is one of its destinations (a leading `+` aside).
    pub fn is_to(&self, dest: &str) -> bool {
        self.dests
            .iter()
            .any(|d| crate::shared::same_address(&d.dest, dest))
    }

    /// Whether a replace_sm may still change it: not cancelled and every destination still
    /// ENROUTE (no handset has it yet and no final receipt went out).
    pub fn replaceable_at(&self, now_ms: u64) -> bool {
        !self.cancelled && self.dests.iter().all(|d| d.state_at(now_ms) == 1)
    }
}

/// A record with a log id.
pub trait Identified {
    /// The record's id in its log.
    fn id(&self) -> u64;
}

impl Identified for MtRecord {
    fn id(&self) -> u64 {
        self.id
    }
}

impl Identified for DeliveryRecord {
    fn id(&self) -> u64 {
        self.id
    }
}

impl<T: Identified> Log<T> {
    /// The record with this id, if still held.
    pub fn get(&self, id: u64) -> Option<&T> {
        let first = self.items.front()?.id();
        let idx = usize::try_from(id.checked_sub(first)?).ok()?;
        let item = self.items.get(idx)?;
        (item.id() == id).then_some(item)
    }

    /// The record with this id, if still held (ids are contiguous, so this is O(1)).
    pub fn get_mut(&mut self, id: u64) -> Option<&mut T> {
        let first = self.items.front()?.id();
        let idx = usize::try_from(id.checked_sub(first)?).ok()?;
        let item = self.items.get_mut(idx)?;
        (item.id() == id).then_some(item)
    }
}

/// Bounded list with monotonically increasing ids.
#[derive(Debug)]
pub struct Log<T> {
    items: VecDeque<T>,
    next_id: u64,
    cap: usize,
}

impl<T> Log<T> {
    /// An empty log keeping at most `cap` items.
    pub fn new(cap: usize) -> Self {
        Log {
            items: VecDeque::new(),
            next_id: 1,
            cap: cap.max(1),
        }
    }

    /// Allocate the next id.
    pub fn next_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// Append (dropping the oldest when full).
    pub fn push(&mut self, item: T) {
        if self.items.len() >= self.cap {
            self.items.pop_front();
        }
        self.items.push_back(item);
    }

    /// Iterate oldest first.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &T> {
        self.items.iter()
    }

    /// Mutable iteration, newest first.
    pub fn iter_mut_rev(&mut self) -> impl Iterator<Item = &mut T> {
        self.items.iter_mut().rev()
    }

    /// Number of records held.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether no records are held.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Drop every record (ids keep increasing).
    pub fn clear(&mut self) {
        self.items.clear();
    }
}

/// Message store keyed by message id, bounded (oldest evicted).
#[derive(Debug)]
pub struct MessageStore {
    map: HashMap<String, StoredMessage>,
    order: VecDeque<String>,
    cap: usize,
}

impl MessageStore {
    /// A store holding at most `cap` messages.
    pub fn new(cap: usize) -> Self {
        MessageStore {
            map: HashMap::new(),
            order: VecDeque::new(),
            cap: cap.max(1),
        }
    }

    /// Insert a message.
    pub fn insert(&mut self, id: String, m: StoredMessage) {
        if self.order.len() >= self.cap {
            if let Some(old) = self.order.pop_front() {
                self.map.remove(&old);
            }
        }
        self.order.push_back(id.clone());
        self.map.insert(id, m);
    }

    /// Look a message up.
    pub fn get(&self, id: &str) -> Option<&StoredMessage> {
        self.map.get(id)
    }

    /// Look a message up for change.
    pub fn get_mut(&mut self, id: &str) -> Option<&mut StoredMessage> {
        self.map.get_mut(id)
    }

    /// Every message held with its id, the last inserted first.
    pub fn newest_first(&self) -> impl Iterator<Item = (&str, &StoredMessage)> {
        self.order
            .iter()
            .rev()
            .filter_map(|id| self.map.get(id).map(|m| (id.as_str(), m)))
    }

    /// Every message held with its id, for change (in no particular order).
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&String, &mut StoredMessage)> {
        self.map.iter_mut()
    }

    /// Drop everything.
    pub fn clear(&mut self) {
        self.map.clear();
        self.order.clear();
    }
}

/// The SMPP 3.4 PDUs the counters name (command_id, name); anything else counts as `other`.
const PDU_IDS: [(u32, &str); 26] = [
    (0x0000_0001, "bind_receiver"),
    (0x8000_0001, "bind_receiver_resp"),
    (0x0000_0002, "bind_transmitter"),
    (0x8000_0002, "bind_transmitter_resp"),
    (0x0000_0009, "bind_transceiver"),
    (0x8000_0009, "bind_transceiver_resp"),
    (0x0000_0004, "submit_sm"),
    (0x8000_0004, "submit_sm_resp"),
    (0x0000_0103, "data_sm"),
    (0x8000_0103, "data_sm_resp"),
    (0x0000_0003, "query_sm"),
    (0x8000_0003, "query_sm_resp"),
    (0x0000_0008, "cancel_sm"),
    (0x8000_0008, "cancel_sm_resp"),
    (0x0000_0007, "replace_sm"),
    (0x8000_0007, "replace_sm_resp"),
    (0x0000_0015, "enquire_link"),
    (0x8000_0015, "enquire_link_resp"),
    (0x0000_0006, "unbind"),
    (0x8000_0006, "unbind_resp"),
    (0x0000_0005, "deliver_sm"),
    (0x8000_0005, "deliver_sm_resp"),
    (0x0000_0021, "submit_multi"),
    (0x8000_0021, "submit_multi_resp"),
    (0x0000_0102, "alert_notification"),
    (0x8000_0000, "generic_nack"),
];

/// Counters: one per named PDU, then `other`.
const PDU_COUNTERS: usize = PDU_IDS.len() + 1;

/// Counter index for a command id.
pub fn pdu_index(id: u32) -> usize {
    PDU_IDS
        .iter()
        .position(|(i, _)| *i == id)
        .unwrap_or(PDU_IDS.len())
}

/// The counter name of index `i`.
fn pdu_name(i: usize) -> &'static str {
    PDU_IDS.get(i).map_or("other", |(_, n)| n)
}

/// Lock-free PDU counters, one per direction.
#[derive(Debug, Default)]
pub struct PduCounters {
    counts: [AtomicU64; PDU_COUNTERS],
}

impl PduCounters {
    /// Count one PDU with this command id.
    pub fn bump(&self, command_id: u32) {
        self.counts[pdu_index(command_id)].fetch_add(1, Ordering::Relaxed);
    }

    /// Non-zero counters by PDU name.
    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        self.counts
            .iter()
            .enumerate()
            .map(|(i, c)| (pdu_name(i).to_string(), c.load(Ordering::Relaxed)))
            .filter(|(_, c)| *c > 0)
            .collect()
    }

    /// Reset to zero.
    pub fn reset(&self) {
        for c in &self.counts {
            c.store(0, Ordering::Relaxed);
        }
    }
}

/// What an ESME said about itself in its bind, besides its credentials.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BindFields {
    /// `system_type`.
    pub system_type: String,
    /// `interface_version` (0x34 for SMPP 3.4).
    pub interface_version: u8,
    /// `addr_ton`.
    pub addr_ton: u8,
    /// `addr_npi`.
    pub addr_npi: u8,
    /// `address_range`.
    pub address_range: String,
}

/// One bound (or still opening) connection, as `/binds` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct BindView {
    /// Connection id.
    pub id: u64,
    /// Peer address.
    pub peer: String,
    /// `system_id`, once bound.
    pub system_id: Option<String>,
    /// `transmitter`, `receiver`, `transceiver`, or `open` before a bind.
    pub mode: &'static str,
    /// The bind's other fields, once bound.
    pub bind: Option<BindFields>,
    /// When the connection was accepted (ms since epoch).
    pub connected_at_ms: u64,
    /// PDUs received on it.
    pub pdus_received: u64,
    /// Requests received and not yet answered.
    pub outstanding: usize,
    /// The inbound window.
    pub window: usize,
    /// deliver_sm in flight towards the ESME.
    pub deliver_inflight: usize,
    /// The outbound deliver_sm window.
    pub deliver_window: usize,
}

/// Totals and rates, as `/stats` shows them.
#[derive(Debug, Clone, Serialize)]
pub struct Stats {
    /// Time since start (ms).
    pub uptime_ms: u64,
    /// PDUs received, by name.
    pub received: BTreeMap<String, u64>,
    /// PDUs sent, by name (each response under its own: `submit_sm_resp`...).
    pub sent: BTreeMap<String, u64>,
    /// submit_sm + data_sm in the last complete second.
    pub submits_last_second: u32,
    /// MT records held.
    pub mt_records: usize,
    /// MT accepted since start/reset.
    pub mt_accepted: u64,
    /// MT refused since start/reset.
    pub mt_refused: u64,
    /// Receipts answered by the ESME since start/reset.
    pub receipts_acked: u64,
    /// Connections currently open.
    pub connections: usize,
    /// Window occupancy per connection.
    pub window_occupancy: Vec<WindowOccupancy>,
}

/// How full one connection's windows are (an entry of [`Stats::window_occupancy`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct WindowOccupancy {
    /// The connection (`id` in `/binds`).
    pub bind_id: u64,
    /// Requests from the ESME not yet answered (of `window`).
    pub outstanding: usize,
    /// deliver_sm sent and not yet answered (of `deliver_window`).
    pub deliver_inflight: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_is_bounded_and_ids_increase() {
        let mut log = Log::new(2);
        for _ in 0..3 {
            let id = log.next_id();
            log.push(id);
        }
        assert_eq!(log.iter().copied().collect::<Vec<_>>(), vec![2, 3]);
        log.clear();
        assert!(log.is_empty());
        assert_eq!(log.next_id(), 4);
    }

    #[test]
    fn store_evicts_and_states() {
        let mut s = MessageStore::new(1);
        let dest = |planned, final_at_ms| StoredDest {
            dest: "b".into(),
            plan: (planned, final_at_ms),
            planned,
            final_at_ms,
            mt_id: 1,
        };
        let m = StoredMessage {
            system_id: "esme".into(),
            service_type: String::new(),
            source: "a".into(),
            dests: vec![dest(ReceiptStat::Undeliv, 100)],
            submitted_at_ms: 0,
            numeric_id: 1,
            cancelled: false,
            revision: 0,
        };
        s.insert("1".into(), m.clone());
        s.insert("2".into(), m);
        assert!(s.get("1").is_none());
        let m = s.get_mut("2").unwrap();
        assert_eq!(m.state_at(50), 1);
        assert_eq!(m.state_at(100), 5);
        assert!(m.replaceable_at(50));
        assert!(!m.replaceable_at(100));
        m.cancelled = true;
        assert_eq!(m.state_at(100), 4);
        assert!(!m.replaceable_at(50));
        // Several destinations (submit_multi): en route while any is; then delivered only
        // when every one was, else the first other state; replaceable only while none is
        // final.
        let mut multi = m.clone();
        multi.cancelled = false;
        multi.dests = vec![
            dest(ReceiptStat::Delivrd, 10),
            dest(ReceiptStat::Undeliv, 20),
            dest(ReceiptStat::Delivrd, 30),
        ];
        assert_eq!(multi.state_at(5), 1);
        assert!(multi.replaceable_at(5));
        assert_eq!(multi.state_at(25), 1);
        assert!(!multi.replaceable_at(15));
        assert_eq!(multi.state_at(30), 5);
        assert_eq!(multi.final_at_ms(), 30);
        multi.dests.remove(1);
        assert_eq!(multi.state_at(30), 2);
        assert!(multi.is_to("+b") && !multi.is_to("c"));
    }

    #[test]
    fn counters() {
        let c = PduCounters::default();
        c.bump(4);
        c.bump(4);
        c.bump(0x1234);
        let s = c.snapshot();
        assert_eq!(s["submit_sm"], 2);
        assert_eq!(s["other"], 1);
        c.reset();
        assert!(c.snapshot().is_empty());
    }
}
