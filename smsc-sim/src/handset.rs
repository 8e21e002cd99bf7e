//! Virtual handsets: every MT destination number is a phone with an inbox.
//!
//! An MT goes through what a phone does: concatenated parts (UDH 8/16-bit references, SAR TLVs,
//! any order; 3GPP TS 23.040 §9.2.3.24.1) are reassembled with `sms_wire::reassembly`, text is
//! decoded by `data_coding`, port-addressed (2948) or binary payloads are decoded as WAP Push
//! (WAP-167 SI / WAP-168 SL over WSP) and, when configured, the href is fetched over HTTP and the
//! image kept per contact (a newer push replaces the older one). USSD MT (`ussd_service_op`) is
//! recorded as a menu screen and drives the handset's USSD session.
//!
//! Each handset keeps its last `HandsetConfig::keep` (20,000) texts, pushes and USSD screens
//! (a long run does not grow without end; the contacts built from them stay).
//!
//! Contact attribution (what "a call from X" looks up): a message belongs to the first phone-like
//! number (7+ digits, optional `+`) in its text, or in a push's si-id / text; otherwise to its
//! `source_addr`. Text before that number (trimmed of punctuation) is the contact's name; the
//! whole latest text is its last status.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde::Serialize;
use sha2::{Digest, Sha256};
use sms_wire::reassembly::{part_from_pdu, Insert, PartOrWhole, Reassembler};
use sms_wire::segment::SarInfo;
use sms_wire::text::Alphabet;
use sms_wire::wap_push::{decode_wsp_push, PushContent};

use crate::config::HandsetConfig;
use crate::recorder::MtRecord;
use crate::shared::Shared;
use crate::util::{digits, same_number};

/// Drop the oldest entries of `list` beyond `keep` (a batch at a time, so a full list does
/// not shift on every message).
fn keep_last<T>(list: &mut Vec<T>, keep: usize) {
    let keep = keep.max(1);
    if list.len() > keep + keep / 8 {
        let over = list.len() - keep;
        list.drain(..over);
    }
}

/// Whether an MT is addressed to the WAP Push port (2948), by its UDH or its
/// `destination_port` TLV.
pub fn to_wap_push_port(esm_class: u8, data: &[u8], dest_port: Option<u16>) -> bool {
    let ports = if esm_class & 0x40 != 0 {
        sms_wire::udh::Udh::split(data)
            .ok()
            .and_then(|(u, _)| u.ports())
    } else {
        None
    };
    ports.is_some_and(|(d, _)| d == WAP_PUSH_PORT) || dest_port == Some(WAP_PUSH_PORT)
}

/// WAP Push WDP destination port (WAP-259 §6.4).
pub const WAP_PUSH_PORT: u16 = 2948;

/// One complete text message in a handset's inbox.
#[derive(Debug, Clone, Serialize)]
pub struct InboxMessage {
    /// `source_addr` of the MT.
    pub from: String,
    /// Decoded text.
    pub text: String,
    /// `data_coding` of the (first) part.
    pub data_coding: u8,
    /// Number of parts it arrived in.
    pub parts: u8,
    /// The contact it was attributed to (see the module docs).
    pub contact: String,
    /// When it completed (ms since epoch).
    pub received_at_ms: u64,
    /// For a message addressed to the WAP Push port (2948) that did not decode as a push
    /// (and so is shown here as its raw bytes): why, e.g. `unexpected WBXML token 0x7F at
    /// offset 12 in si`.
    pub push_error: Option<String>,
}

/// Where following a push href stands.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum FetchState {
    /// Links are not followed (config) or this push has no http href.
    NotFollowed,
    /// The GET is under way.
    Pending,
    /// Fetched.
    Fetched {
        /// HTTP status.
        status: u16,
        /// `Content-Type` header.
        content_type: Option<String>,
        /// Body length.
        len: usize,
        /// Lowercase hex SHA-256 of the body.
        sha256: String,
    },
    /// The GET failed.
    Failed {
        /// Why.
        error: String,
    },
}

/// One WAP Push received.
#[derive(Debug, Clone, Serialize)]
pub struct PushRecord {
    /// Position among this handset's pushes (1, 2, ...).
    pub id: u64,
    /// `source_addr` of the MT.
    pub from: String,
    /// `si` or `sl`.
    pub kind: &'static str,
    /// The href.
    pub href: String,
    /// SI text.
    pub text: Option<String>,
    /// SI si-id.
    pub si_id: Option<String>,
    /// SI created date (ISO 8601).
    pub created: Option<String>,
    /// SI expiry date (ISO 8601).
    pub expires: Option<String>,
    /// SI/SL action.
    pub action: Option<String>,
    /// The contact it was attributed to.
    pub contact: String,
    /// When it completed (ms since epoch).
    pub received_at_ms: u64,
    /// Following the href.
    pub fetch: FetchState,
}

/// An avatar image stored for a contact.
#[derive(Debug, Clone, Serialize)]
pub struct Avatar {
    /// The push it came from.
    pub push_id: u64,
    /// si-id of that push.
    pub si_id: Option<String>,
    /// The href fetched.
    pub href: String,
    /// Lowercase hex SHA-256 of the bytes.
    pub sha256: String,
    /// `Content-Type` of the response.
    pub content_type: Option<String>,
    /// Byte length.
    pub len: usize,
    /// The bytes (not serialised).
    #[serde(skip)]
    pub bytes: Arc<Vec<u8>>,
}

/// What a handset knows about one contact.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ContactView {
    /// The contact's number as first seen.
    pub number: String,
    /// Display name, if a message named it.
    pub name: Option<String>,
    /// Latest text attributed to the contact.
    pub last_status: Option<String>,
    /// Latest push attributed to the contact (id).
    pub last_push: Option<u64>,
    /// The avatar fetched from the latest push, once fetched.
    pub avatar: Option<Avatar>,
}

/// One USSD message the handset displayed.
#[derive(Debug, Clone, Serialize)]
pub struct UssdScreen {
    /// `source_addr` (service code or the gateway's address).
    pub from: String,
    /// Decoded text (the menu).
    pub text: String,
    /// `ussd_service_op` (2 USSR request = expects a reply, 3 USSN, 17 PSSR response = end).
    pub op: Option<u8>,
    /// `its_session_info` session number.
    pub session: Option<u8>,
    /// Whether the network expects an answer.
    pub expects_reply: bool,
    /// When it arrived (ms since epoch).
    pub received_at_ms: u64,
}

/// A handset's USSD session with one service.
#[derive(Debug, Clone, Serialize)]
pub struct UssdSession {
    /// Service code / address the session is with.
    pub service: String,
    /// Session number used in its_session_info.
    pub session: u8,
    /// Last sequence number the handset sent.
    pub seq: u8,
    /// Whether the last network message expects an answer.
    pub awaiting_reply: bool,
}

/// A snapshot of one handset.
#[derive(Debug, Clone, Default, Serialize)]
pub struct HandsetView {
    /// The handset's number.
    pub number: String,
    /// Complete text messages, oldest first.
    pub inbox: Vec<InboxMessage>,
    /// WAP Pushes, oldest first.
    pub pushes: Vec<PushRecord>,
    /// Contacts by number.
    pub contacts: BTreeMap<String, ContactView>,
    /// USSD screens, oldest first.
    pub ussd: Vec<UssdScreen>,
    /// The current USSD session, if any.
    pub ussd_session: Option<UssdSession>,
    /// Parts waiting for the rest of their message (all handsets share one reassembler; this
    /// counts this handset's).
    pub pending_parts: usize,
    /// Whether the simulator holds this handset (something reached it: a message, a push, a
    /// USSD screen, a part). False: the empty view of a number it has not seen (a typo, or
    /// nothing sent to it yet), not a handset whose inbox was emptied.
    pub known: bool,
}

impl HandsetView {
    /// Texts of the inbox, oldest first.
    pub fn texts(&self) -> Vec<&str> {
        self.inbox.iter().map(|m| m.text.as_str()).collect()
    }

    /// The contact matching `number` (digits compared, country prefix tolerated).
    pub fn contact(&self, number: &str) -> Option<&ContactView> {
        self.contacts
            .values()
            .find(|c| same_number(&c.number, number))
    }
}

/// What the handset shows for an incoming call.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CallView {
    /// The handset called.
    pub number: String,
    /// The caller.
    pub from: String,
    /// Caller's display name, if known.
    pub name: Option<String>,
    /// Caller's last status text, if any.
    pub last_status: Option<String>,
    /// SHA-256 of the caller's avatar bytes.
    pub avatar_sha256: Option<String>,
    /// Content type of the caller's avatar.
    pub avatar_content_type: Option<String>,
    /// Avatar length.
    pub avatar_len: Option<usize>,
    /// The href the avatar came from.
    pub avatar_href: Option<String>,
}

/// A push href to follow.
#[derive(Debug, Clone)]
pub struct FetchJob {
    /// Handset number.
    pub number: String,
    /// Contact key.
    pub contact: String,
    /// Push id in that handset.
    pub push_id: u64,
    /// URL.
    pub href: String,
    /// si-id.
    pub si_id: Option<String>,
}

#[derive(Debug, Default)]
struct Handset {
    view: HandsetView,
    next_push: u64,
    /// Contact keys by their last 7 digits, so finding a contact does not scan them all.
    contact_index: HashMap<String, Vec<String>>,
}

/// The index key of a number: its last 7 digits (shorter numbers: all of them).
fn tail7(number: &str) -> String {
    let d = crate::util::digits(number);
    d[d.len().saturating_sub(7)..].to_string()
}

/// All handsets plus the shared reassembler.
#[derive(Debug)]
pub struct Handsets {
    phones: HashMap<String, Handset>,
    reassembler: Reassembler,
    follow: bool,
    keep: usize,
    ingests: u64,
    next_ussd_session: u8,
    /// The network's country code ([`HandsetConfig::country_code`]).
    country_code: String,
}

/// The international digits of a phone number as a handset or a test writes it, for a network
/// whose country code is `cc`: `+8613800138000`, `008613800138000` and (with `cc` 86)
/// `13800138000`, `013800138000` and `8613800138000` are all `8613800138000`. The same rule as
/// the gateway's for national numbers: one trunk `0` is dropped, and digits that already start
/// with `cc` followed by at least ten more are international without the `+`. `None` for
/// what is no phone number of a subscriber: fewer than 7 digits (short codes such as `10658`),
/// letters, USSD strings, or a national number with no `cc` to apply.
pub fn international(number: &str, cc: &str) -> Option<String> {
    let digits_only = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if let Some(rest) = number
        .strip_prefix('+')
        .or_else(|| number.strip_prefix("00"))
    {
        return (digits_only(rest) && rest.len() >= 7).then(|| rest.to_string());
    }
    if !digits_only(number) || number.len() < 7 || !digits_only(cc) {
        return None;
    }
    let national = number.strip_prefix('0').unwrap_or(number);
    if national.len() < number.len() || !number.starts_with(cc) || number.len() < cc.len() + 10 {
        Some(format!("{cc}{national}"))
    } else {
        Some(number.to_string())
    }
}

/// The one form every spelling of `number` shares on a network whose country code is `cc`:
/// its international digits when it is a subscriber's number ([`international`]:
/// `13800138000`, `+8613800138000` and `8613800138000` with `cc` 86), else as written without
/// a leading `+` (short codes, names). The handsets are keyed by it; receipt rules, error
/// destinations and the `/mt?dest=` filter compare numbers through it ([`same_subscriber`],
/// [`has_prefix`]).
pub fn number_key(number: &str, cc: &str) -> String {
    let number = number.trim();
    international(number, cc).unwrap_or_else(|| number.trim_start_matches('+').to_string())
}

/// Whether `a` and `b` name the same number on a network whose country code is `cc`: equal as
/// written (a leading `+` aside), or with the same [`number_key`] (`13900139000` is
/// `+8613900139000` with `cc` 86).
pub fn same_subscriber(a: &str, b: &str, cc: &str) -> bool {
    let plain = |s: &str| s.trim().trim_start_matches('+').to_string();
    plain(a) == plain(b) || number_key(a, cc) == number_key(b, cc)
}

/// Whether `number` starts with `prefix` on a network whose country code is `cc`, in either
/// form: as written (a leading `+` aside), or in international form, the prefix read as
/// written (`8613900`) or, unless written with `+` / `00`, as a national prefix too (`13900`
/// and `013900` cover `+8613900...`).
pub fn has_prefix(number: &str, prefix: &str, cc: &str) -> bool {
    let prefix = prefix.trim();
    let plain = number.trim().trim_start_matches('+');
    let key = number_key(number, cc);
    let (written, national) = match prefix
        .strip_prefix('+')
        .or_else(|| prefix.strip_prefix("00"))
    {
        Some(p) => (p.to_string(), None),
        None => {
            let national = (!cc.is_empty())
                .then(|| format!("{cc}{}", prefix.strip_prefix('0').unwrap_or(prefix)));
            (prefix.to_string(), national)
        }
    };
    plain.starts_with(&written)
        || key.starts_with(&written)
        || national.is_some_and(|n| key.starts_with(&n))
}

/// How the network presents `number` (an MO's source): a number in national form becomes `+`,
/// the country code and the national digits (`13800138000` -> `+8613800138000`, TON
/// international); anything else goes as written (`+3545512345` keeps its `+`, and with it
/// TON international however short it is).
pub fn presented(number: &str, cc: &str) -> String {
    match international(number, cc) {
        Some(d) if d != number.trim_start_matches('+') && !number.starts_with("00") => {
            format!("+{d}")
        }
        _ => number.to_string(),
    }
}

/// The first phone-like number (7+ digits, optional leading `+`) in `s`, and its byte offset.
pub fn find_number(s: &str) -> Option<(usize, String)> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_digit() || (b[i] == b'+' && b.get(i + 1).is_some_and(u8::is_ascii_digit)) {
            let start = i;
            i += 1;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            let n = &s[start..i];
            if digits(n).len() >= 7 {
                return Some((start, n.to_string()));
            }
        } else {
            i += 1;
        }
    }
    None
}

/// The contact a text is about, and the name it gives them. A text names its contact as
/// `Name (+number)` / `Name(+number)` (presence-gw's status updates, WHO answers, avatar links
/// and pushes), `+number:` at the start (a contact without a name), or a name of one to three
/// capitalised words right before the number (`Li Lei 13900139000 is free`). A number anywhere
/// else is not the message's subject: a reply that mentions one ("You will get updates about
/// +86... again", a usage example with a number) is the service talking, and taking it for
/// the contact's status showed that reply as the caller's status on a call.
pub fn subject_of(text: &str) -> Option<(String, Option<String>)> {
    let (at, number) = find_number(text)?;
    let before = text[..at].trim_end();
    let after = text[at + number.len()..].trim_start();
    let bracketed = (before.ends_with('(') || before.ends_with('（'))
        && (after.starts_with(')') || after.starts_with('）'));
    let leading = before.is_empty() && (after.starts_with(':') || after.starts_with('：'));
    let words: Vec<&str> = before.split_whitespace().collect();
    let named = (1..=3).contains(&words.len())
        && words.iter().all(|w| {
            w.chars().next().is_some_and(|c| c.is_ascii_uppercase())
                && w.chars().all(|c| c.is_ascii_alphabetic())
        });
    (bracketed || leading || named).then(|| (number, name_before(text, at)))
}

fn name_before(text: &str, at: usize) -> Option<String> {
    let name = text[..at]
        .trim()
        .trim_end_matches(['(', '[', ':', '-', ',', '<'])
        .trim();
    if name.is_empty() {
        None
    } else {
        Some(name.chars().take(40).collect())
    }
}

impl Handsets {
    /// Empty handsets with this behaviour.
    pub fn new(cfg: &HandsetConfig) -> Self {
        Handsets {
            phones: HashMap::new(),
            reassembler: Reassembler::new(cfg.reassembly_timeout.as_millis() as u64, 255),
            follow: cfg.follow_push_links,
            keep: cfg.keep,
            ingests: 0,
            next_ussd_session: 0,
            country_code: cfg.country_code.clone(),
        }
    }

    /// The key of `number`'s handset: its international digits when it is a phone number, so
    /// that `13800138000` and `+8613800138000` are one handset.
    fn key(&self, number: &str) -> String {
        number_key(number, &self.country_code)
    }

    /// The key of the handset `number` names when looking one up: the number as written if
    /// such a handset exists (`447700900003`, an international number written without `+`),
    /// else as [`Handsets::key`] reads it (`13800138000` finds `8613800138000`).
    fn lookup_key(&self, number: &str) -> String {
        let plain = number.trim_start_matches('+');
        if self.phones.contains_key(plain) {
            plain.to_string()
        } else {
            self.key(number)
        }
    }

    /// How the network presents `number` as an MO's source ([`presented`]).
    pub fn presented(&self, number: &str) -> String {
        presented(number, &self.country_code)
    }

    fn phone(&mut self, number: &str) -> &mut Handset {
        self.phone_as(number, number)
    }

    /// [`Handsets::phone`] for `number`, shown as `shown` if it is new (an MT's handset is
    /// found by its international number and shown as the MT addressed it).
    fn phone_as(&mut self, number: &str, shown: &str) -> &mut Handset {
        let key = self.key(number);
        self.phones.entry(key).or_insert_with(|| Handset {
            contact_index: HashMap::new(),
            view: HandsetView {
                number: shown.to_string(),
                ..HandsetView::default()
            },
            next_push: 1,
        })
    }

    /// Numbers of every handset that received something.
    pub fn numbers(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .phones
            .values()
            .map(|h| h.view.number.clone())
            .collect();
        v.sort();
        v
    }

    /// Snapshot of one handset (an empty view for an unknown number).
    pub fn view(&self, number: &str) -> HandsetView {
        let mut v = self
            .phones
            .get(&self.lookup_key(number))
            .map(|h| h.view.clone())
            .unwrap_or_else(|| HandsetView {
                number: number.to_string(),
                ..HandsetView::default()
            });
        let k = self.lookup_key(number);
        v.known = self.phones.contains_key(&k);
        v.pending_parts = self
            .reassembler
            .snapshot()
            .iter()
            .filter(|(p, _)| self.key(&p.key.destination) == k)
            .count();
        v
    }

    /// What `number` shows when `from` calls.
    pub fn call(&self, number: &str, from: &str) -> CallView {
        let v = self.phones.get(&self.lookup_key(number));
        let c = v.and_then(|h| h.view.contact(from));
        CallView {
            number: number.to_string(),
            from: from.to_string(),
            name: c.and_then(|c| c.name.clone()),
            last_status: c.and_then(|c| c.last_status.clone()),
            avatar_sha256: c.and_then(|c| c.avatar.as_ref().map(|a| a.sha256.clone())),
            avatar_content_type: c
                .and_then(|c| c.avatar.as_ref().and_then(|a| a.content_type.clone())),
            avatar_len: c.and_then(|c| c.avatar.as_ref().map(|a| a.len)),
            avatar_href: c.and_then(|c| c.avatar.as_ref().map(|a| a.href.clone())),
        }
    }

    /// Avatar bytes `number` holds for contact `from`.
    pub fn avatar(&self, number: &str, from: &str) -> Option<Avatar> {
        self.phones
            .get(&self.lookup_key(number))?
            .view
            .contact(from)?
            .avatar
            .clone()
    }

    /// Contact entry for `contact` on this handset, creating it.
    fn contact_mut<'a>(h: &'a mut Handset, contact: &str) -> &'a mut ContactView {
        let tail = tail7(contact);
        let existing = h
            .contact_index
            .get(&tail)
            .and_then(|keys| keys.iter().find(|k| same_number(k, contact)).cloned());
        let k = match existing {
            Some(k) => k,
            None => {
                let k = contact.to_string();
                h.contact_index.entry(tail).or_default().push(k.clone());
                k
            }
        };
        h.view
            .contacts
            .entry(k.clone())
            .or_insert_with(|| ContactView {
                number: k,
                ..ContactView::default()
            })
    }

    /// Feed one accepted MT; returns a fetch to start when a push href should be followed.
    pub fn ingest_mt(&mut self, rec: &MtRecord, now: u64) -> Option<FetchJob> {
        // (A message its receipt will call undeliverable never reaches the handset: the
        // caller does not hand it on.)
        self.ingests += 1;
        if self.ingests % 1024 == 0 {
            self.reassembler.expire(now);
        }
        if rec.is_ussd() {
            self.ingest_ussd(rec, now);
            return None;
        }
        let data = rec
            .message_payload
            .as_deref()
            .filter(|_| rec.short_message.is_empty())
            .unwrap_or(&rec.short_message);
        let port_push = to_wap_push_port(rec.esm_class, data, rec.dest_port);
        let sar = rec.sar.map(|(reference, total, seq)| SarInfo {
            reference,
            total,
            seq,
        });
        let classified = part_from_pdu(
            &rec.source,
            &rec.handset(),
            rec.esm_class,
            rec.data_coding,
            &rec.short_message,
            sar,
            rec.message_payload.as_deref(),
        )
        .ok()?;
        let (dc, payload, parts) = match classified {
            PartOrWhole::Whole {
                data_coding,
                payload,
            } => (data_coding, payload, 1),
            PartOrWhole::Part(p) => {
                let total = p.key.total;
                match self.reassembler.insert(p, now) {
                    Insert::Complete {
                        data_coding,
                        payload,
                        ..
                    } => (data_coding, payload, total),
                    _ => return None,
                }
            }
        };
        let binary = Alphabet::from_data_coding(dc) == Alphabet::Binary;
        let mut push_error = None;
        if port_push || binary {
            match decode_wsp_push(&payload) {
                Ok(push) => return self.store_push(rec, push, now),
                // Sent to the push port, it was meant as a push: say why it is not one.
                Err(e) if port_push => {
                    tracing::warn!(
                        dest = %rec.dest,
                        mt_id = rec.id,
                        "WAP Push (port 2948) not decoded, kept in the inbox as raw bytes: {e}"
                    );
                    push_error = Some(e.to_string());
                }
                // A binary message off the push port need not be a push at all.
                Err(_) => {}
            }
        }
        let text = sms_wire::text::decode(dc, &payload);
        // Only a text names a contact: the hex a binary payload is shown as is no text to
        // scan for numbers (its digit runs made phantom contacts), and it is no status either.
        let (contact, name) = match subject_of(&text).filter(|_| !binary) {
            Some(subject) => subject,
            None => (rec.source.clone(), None),
        };
        let keep = self.keep;
        let h = self.phone_as(&rec.handset(), &rec.dest);
        h.view.inbox.push(InboxMessage {
            from: rec.source.clone(),
            text: text.clone(),
            data_coding: dc,
            parts,
            contact: contact.clone(),
            received_at_ms: now,
            push_error,
        });
        keep_last(&mut h.view.inbox, keep);
        if binary {
            return None;
        }
        let c = Self::contact_mut(h, &contact);
        if name.is_some() {
            c.name = name;
        }
        c.last_status = Some(text);
        None
    }

    fn store_push(&mut self, rec: &MtRecord, push: PushContent, now: u64) -> Option<FetchJob> {
        let (follow, keep) = (self.follow, self.keep);
        let h = self.phone_as(&rec.handset(), &rec.dest);
        let id = h.next_push;
        h.next_push += 1;
        let mut r = PushRecord {
            id,
            from: rec.source.clone(),
            kind: "si",
            href: String::new(),
            text: None,
            si_id: None,
            created: None,
            expires: None,
            action: None,
            contact: rec.source.clone(),
            received_at_ms: now,
            fetch: FetchState::NotFollowed,
        };
        match push {
            PushContent::Si(si) => {
                r.href = si.href;
                r.text = si.text;
                r.si_id = si.si_id;
                r.created = si.created.map(|d| d.to_string());
                r.expires = si.expires.map(|d| d.to_string());
                r.action = si.action.map(|a| a.as_str().to_string());
            }
            PushContent::Sl(sl) => {
                r.kind = "sl";
                r.href = sl.href;
                r.action = sl.action.map(|a| a.as_str().to_string());
            }
        }
        if let Some((_, n)) = r
            .si_id
            .as_deref()
            .and_then(find_number)
            .or_else(|| r.text.as_deref().and_then(find_number))
        {
            r.contact = n;
        }
        let name = r
            .text
            .as_deref()
            .and_then(|t| find_number(t).and_then(|(at, _)| name_before(t, at)));
        let job = (follow && r.href.starts_with("http")).then(|| FetchJob {
            number: rec.handset(),
            contact: r.contact.clone(),
            push_id: id,
            href: r.href.clone(),
            si_id: r.si_id.clone(),
        });
        if job.is_some() {
            r.fetch = FetchState::Pending;
        }
        let contact = r.contact.clone();
        h.view.pushes.push(r);
        keep_last(&mut h.view.pushes, keep);
        let c = Self::contact_mut(h, &contact);
        c.last_push = Some(id);
        if name.is_some() && c.name.is_none() {
            c.name = name;
        }
        job
    }

    /// Record the result of a fetch; the avatar is replaced only if this push is the contact's
    /// latest.
    pub fn fetched(
        &mut self,
        job: &FetchJob,
        result: Result<(u16, Option<String>, Vec<u8>), String>,
    ) {
        let Some(h) = self.phones.get_mut(&self.key(&job.number)) else {
            return;
        };
        let state = match &result {
            Ok((status, ct, body)) => FetchState::Fetched {
                status: *status,
                content_type: ct.clone(),
                len: body.len(),
                sha256: sha256_hex(body),
            },
            Err(e) => FetchState::Failed { error: e.clone() },
        };
        if let Some(p) = h.view.pushes.iter_mut().find(|p| p.id == job.push_id) {
            p.fetch = state;
        }
        if let Ok((status, ct, body)) = result {
            if (200..300).contains(&status) {
                let c = Self::contact_mut(h, &job.contact);
                if c.last_push.is_none_or(|l| l <= job.push_id) {
                    c.avatar = Some(Avatar {
                        push_id: job.push_id,
                        si_id: job.si_id.clone(),
                        href: job.href.clone(),
                        sha256: sha256_hex(&body),
                        content_type: ct,
                        len: body.len(),
                        bytes: Arc::new(body),
                    });
                }
            }
        }
    }

    fn ingest_ussd(&mut self, rec: &MtRecord, now: u64) {
        let op = rec.ussd_service_op;
        let expects_reply = op == Some(2);
        let session = rec.its_session_info.map(|(s, _)| s);
        let keep = self.keep;
        let h = self.phone_as(&rec.handset(), &rec.dest);
        h.view.ussd.push(UssdScreen {
            from: rec.source.clone(),
            text: rec.text.clone(),
            op,
            session,
            expects_reply,
            received_at_ms: now,
        });
        keep_last(&mut h.view.ussd, keep);
        match &mut h.view.ussd_session {
            Some(s) => {
                s.awaiting_reply = expects_reply;
                if let Some(n) = session {
                    s.session = n;
                }
            }
            None if expects_reply => {
                h.view.ussd_session = Some(UssdSession {
                    service: rec.source.clone(),
                    session: session.unwrap_or(0),
                    seq: 0,
                    awaiting_reply: true,
                });
            }
            None => {}
        }
        if !expects_reply {
            h.view.ussd_session = None;
        }
    }

    /// Plan the next USSD message from `number` to `service`: (op, session, seq). Continues the
    /// open session when the network awaits a reply from that same service (op 18 USSR
    /// confirm) unless `new_session`; otherwise opens one (op 1 PSSR indication). A message to
    /// another service code opens a session with it, as dialling a new code does: it is no
    /// answer to the other service's menu.
    pub fn next_ussd(&mut self, number: &str, service: &str, new_session: bool) -> (u8, u8, u8) {
        let fresh = {
            self.next_ussd_session = self.next_ussd_session.wrapping_add(1).max(1);
            self.next_ussd_session
        };
        let h = self.phone(number);
        match &mut h.view.ussd_session {
            Some(s) if s.awaiting_reply && !new_session && same_service(&s.service, service) => {
                s.seq = s.seq.wrapping_add(1) & 0x7F;
                s.awaiting_reply = false;
                (18, s.session, s.seq)
            }
            _ => {
                h.view.ussd_session = Some(UssdSession {
                    service: service.to_string(),
                    session: fresh,
                    seq: 0,
                    awaiting_reply: false,
                });
                (1, fresh, 0)
            }
        }
    }
}

/// Whether two USSD service addresses name the same service: as dialled (`*123#`) or as the
/// network writes it in a screen's source (`123`).
fn same_service(a: &str, b: &str) -> bool {
    let code = |s: &str| {
        s.trim()
            .trim_start_matches('*')
            .trim_end_matches('#')
            .to_string()
    };
    code(a) == code(b)
}

/// Lowercase hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    crate::util::hex(&Sha256::digest(bytes))
}

/// Follow a push href in the background, like a phone would.
pub fn spawn_fetch(shared: &Arc<Shared>, job: FetchJob) {
    let client = shared.http.clone();
    let max = shared.cfg.handsets.max_fetch_bytes;
    let me = Arc::downgrade(shared);
    tokio::spawn(async move {
        let result = fetch(&client, &job.href, max).await;
        if let Some(shared) = me.upgrade() {
            shared.state().handsets.fetched(&job, result);
            shared.bump();
        }
    });
}

async fn fetch(
    client: &reqwest::Client,
    href: &str,
    max: usize,
) -> Result<(u16, Option<String>, Vec<u8>), String> {
    let mut resp = client.get(href).send().await.map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    let ct = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| e.to_string())? {
        if body.len() + chunk.len() > max {
            return Err(format!("body exceeds {max} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok((status, ct, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_national_number_is_the_handset_of_its_international_one() {
        for written in [
            "13800138000",
            "013800138000",
            "8613800138000",
            "+8613800138000",
            "008613800138000",
        ] {
            assert_eq!(
                international(written, "86").as_deref(),
                Some("8613800138000"),
                "{written}"
            );
        }
        assert_eq!(
            international("+15551234567", "86").as_deref(),
            Some("15551234567")
        );
        // Short codes, USSD strings, names and national numbers without a country code.
        for other in ["10658", "*123#", "Bank", "13800138000x"] {
            assert_eq!(international(other, "86"), None, "{other}");
        }
        assert_eq!(international("13800138000", ""), None);
        assert_eq!(presented("13800138000", "86"), "+8613800138000");
        assert_eq!(presented("8613800138000", "86"), "8613800138000");
        assert_eq!(presented("+3545512345", "86"), "+3545512345");
        assert_eq!(presented("10658", "86"), "10658");
        let mut phones = Handsets::new(&HandsetConfig::default());
        phones.phone("13800138000");
        phones.phone("+8613800138000");
        phones.phone("10658");
        assert_eq!(
            phones.numbers(),
            vec!["10658".to_string(), "13800138000".to_string()]
        );
        // An MT with TON international is for that international number, whatever the
        // network's country code (15551234567 is +1 555..., not a national 1555...).
        let mut phones = Handsets::new(&HandsetConfig::default());
        phones.ingest_mt(&mt("15551234567", 0, 0, b"hello".to_vec()), 1);
        assert_eq!(phones.view("+15551234567").texts(), vec!["hello"]);
        // Written without its +, a handset that exists is found as written.
        assert_eq!(phones.view("15551234567").texts(), vec!["hello"]);
        assert_eq!(phones.numbers(), vec!["15551234567".to_string()]);
    }

    fn mt(dest: &str, esm: u8, dc: u8, sm: Vec<u8>) -> MtRecord {
        MtRecord {
            id: 1,
            message_id: "1".into(),
            bind_id: 1,
            system_id: "e".into(),
            command: "submit_sm",
            sequence_number: 1,
            service_type: String::new(),
            source: "10086".into(),
            source_ton: 0,
            source_npi: 0,
            dest: dest.into(),
            dest_ton: 1,
            dest_npi: 1,
            esm_class: esm,
            data_coding: dc,
            registered_delivery: 0,
            text: String::new(),
            short_message: sm,
            message_payload: None,
            sar: None,
            ussd_service_op: None,
            its_session_info: None,
            dest_port: None,
            options: Default::default(),
            status: 0,
            received_at_ms: 0,
            replaced_at_ms: None,
            text_before_replace: None,
        }
    }

    /// A push to port 2948 whose WBXML does not decode lands in the inbox with the reason;
    /// a plain binary message off the push port carries none.
    #[test]
    fn an_undecodable_push_says_why() {
        let mut hs = Handsets::new(&HandsetConfig::default());
        // UDH: 16-bit ports 2948 <- 9200; then a WSP Push of SI content whose WBXML body
        // holds a token SI does not know.
        let mut sm = vec![6, 5, 4, 0x0B, 0x84, 0x23, 0xF0];
        sm.extend_from_slice(&[0x01, 0x06, 0x01, 0xAE, 0x02, 0x05, 0x6A, 0x00, 0x7F]);
        hs.ingest_mt(&mt("8613800138000", 0x40, 4, sm), 1);
        let v = hs.view("8613800138000");
        assert!(v.pushes.is_empty());
        let why = v.inbox[0].push_error.as_deref().expect("a reason");
        assert!(!why.is_empty(), "{why}");
        hs.ingest_mt(&mt("8613800138000", 0, 4, vec![0xDE, 0xAD]), 2);
        let v = hs.view("8613800138000");
        assert_eq!(v.inbox[1].push_error, None);
    }

    #[test]
    fn numbers_in_text() {
        assert_eq!(
            find_number("Alice (+8613800138000): BUSY"),
            Some((7, "+8613800138000".into()))
        );
        assert_eq!(find_number("call 123 now"), None);
        assert_eq!(name_before("Alice (+86", 7).as_deref(), Some("Alice"));
    }

    /// A reply that mentions a number is the service talking, not that contact's status:
    /// before, "You will get updates about +86... again." became the contact's status and
    /// name, and showed on the call screen.
    #[test]
    fn only_a_text_about_a_contact_sets_their_status() {
        let mut hs = Handsets::new(&HandsetConfig::default());
        let texts = [
            "Demo (+8613800138000): FREE. Reply STOP 8613800138000 to stop these updates.",
            "You will get updates about +8613800138000 again.",
            "\"123\" is not a phone number. Try: GROUP FAMILY ADD 13900139000",
            "FAMILY (2), page 1/1: +8613700137000, +8613900139000.",
        ];
        for (i, t) in texts.iter().enumerate() {
            let body = sms_wire::text::encode(t, Alphabet::Gsm7).unwrap();
            hs.ingest_mt(&mt("8613600136000", 0, 0, body), i as u64);
        }
        let v = hs.view("8613600136000");
        let demo = &v.contacts["+8613800138000"];
        assert_eq!(demo.name.as_deref(), Some("Demo"));
        assert_eq!(demo.last_status.as_deref(), Some(texts[0]));
        assert!(!v.contacts.contains_key("13900139000"), "{:?}", v.contacts);
        assert!(
            !v.contacts.contains_key("+8613700137000"),
            "{:?}",
            v.contacts
        );
        assert_eq!(v.inbox[1].contact, "10086");
        // The Chinese forms and a contact without a name.
        assert_eq!(
            subject_of("张三(+8613800138000)：“开车”至21:18。"),
            Some(("+8613800138000".into(), Some("张三".into())))
        );
        assert_eq!(
            subject_of("+8613800138000: BUSY"),
            Some(("+8613800138000".into(), None))
        );
        assert_eq!(
            subject_of("+8613900139000 does not use this service."),
            None
        );
        assert_eq!(
            subject_of("Li Lei 13900139000 is free"),
            Some(("13900139000".into(), Some("Li Lei".into())))
        );
        assert_eq!(subject_of("你将不再收到+8613800138000的状态通知。"), None);
        assert_eq!(subject_of("Call ME NOW PLEASE 13900139000"), None);
    }

    #[test]
    fn out_of_order_parts_reassemble() {
        let mut hs = Handsets::new(&HandsetConfig::default());
        let p = |seq: u8, body: &[u8]| {
            let mut v = vec![5, 0, 3, 9, 2, seq];
            v.extend_from_slice(body);
            mt("8613800138000", 0x40, 0, v)
        };
        assert!(hs.ingest_mt(&p(2, b"world"), 1).is_none());
        assert_eq!(hs.view("8613800138000").pending_parts, 1);
        hs.ingest_mt(&p(1, b"hello "), 2);
        let v = hs.view("+8613800138000");
        assert_eq!(v.texts(), vec!["hello world"]);
        assert_eq!(v.inbox[0].parts, 2);
        assert_eq!(v.pending_parts, 0);
    }

    #[test]
    fn a_handset_keeps_its_last_texts_only() {
        let mut hs = Handsets::new(&HandsetConfig {
            keep: 16,
            ..HandsetConfig::default()
        });
        for i in 0..19 {
            let body = sms_wire::text::encode(&format!("n{i}"), Alphabet::Gsm7).unwrap();
            hs.ingest_mt(&mt("8613800138000", 0, 0, body), i as u64);
        }
        let v = hs.view("8613800138000");
        // Cut back to 16 once past 16 + 16/8.
        assert_eq!(v.inbox.len(), 16);
        assert_eq!(v.texts()[0], "n3", "the oldest went first");
        assert_eq!(v.texts().last().copied(), Some("n18"));
    }

    #[test]
    fn status_text_names_contact() {
        let mut hs = Handsets::new(&HandsetConfig::default());
        let body = sms_wire::text::encode("Bob (+8613900139000): MEETING", Alphabet::Gsm7).unwrap();
        hs.ingest_mt(&mt("8613800138000", 0, 0, body), 1);
        let call = hs.call("8613800138000", "13900139000");
        assert_eq!(call.name.as_deref(), Some("Bob"));
        assert_eq!(
            call.last_status.as_deref(),
            Some("Bob (+8613900139000): MEETING")
        );
        assert!(call.avatar_sha256.is_none());
    }

    #[test]
    fn ussd_session_flow() {
        let mut hs = Handsets::new(&HandsetConfig::default());
        let (op, s, seq) = hs.next_ussd("861", "*123#", false);
        assert_eq!((op, seq), (1, 0));
        let mut menu = mt("861", 0, 0, b"1 Busy".to_vec());
        menu.ussd_service_op = Some(2);
        menu.its_session_info = Some((s, 0));
        menu.text = "1 Busy".into();
        hs.ingest_mt(&menu, 1);
        assert!(hs.view("861").ussd_session.unwrap().awaiting_reply);
        let (op, s2, seq) = hs.next_ussd("861", "*123#", false);
        assert_eq!((op, s2, seq), (18, s, 1));
        let mut end = menu.clone();
        end.ussd_service_op = Some(17);
        hs.ingest_mt(&end, 2);
        let v = hs.view("861");
        assert_eq!(v.ussd.len(), 2);
        assert!(v.ussd_session.is_none());
    }

    #[test]
    fn avatar_only_from_latest_push() {
        let mut hs = Handsets::new(&HandsetConfig::default());
        hs.phone("1");
        let job = |push_id| FetchJob {
            number: "1".into(),
            contact: "8613900139000".into(),
            push_id,
            href: "http://x/a.png".into(),
            si_id: None,
        };
        {
            let h = hs.phones.get_mut("1").unwrap();
            Handsets::contact_mut(h, "8613900139000").last_push = Some(2);
        }
        hs.fetched(&job(1), Ok((200, Some("image/png".into()), vec![1])));
        assert!(hs.avatar("1", "8613900139000").is_none());
        hs.fetched(&job(2), Ok((200, Some("image/png".into()), vec![2])));
        let a = hs.avatar("1", "+8613900139000").unwrap();
        assert_eq!(a.sha256, sha256_hex(&[2]));
        assert_eq!(a.content_type.as_deref(), Some("image/png"));
    }
}
