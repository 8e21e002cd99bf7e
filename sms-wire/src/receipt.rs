//! Delivery receipts: the de facto receipt text and message-id normalisation for correlation.
//!
//! SMPP 3.4 Appendix B gives a "typical" receipt text carried in the `short_message` of a
//! `deliver_sm` with `esm_class` 0x04:
//! `id:IIIIIIIIII sub:SSS dlvrd:DDD submit date:YYMMDDhhmm done date:YYMMDDhhmm stat:DDDDDDD err:E text:...`.
//! The format is vendor specific, so [`DeliveryReceipt::parse`] is tolerant of what SMSCs send in
//! practice (missing `sub`/`dlvrd`, 4-digit `err`, 12-digit or SMPP absolute-time dates, upper-case
//! keys, `submit_date`, hex, decimal or alphanumeric ids, extra spaces; see cloudhopper-smpp #105,
//! jsmpp #62, shared/reference/anchors.md §4). [`DeliveryReceipt::format`] writes the canonical form.
//!
//! The TLV side of a receipt is `receipted_message_id` (0x001E) and `message_state` (0x0427,
//! SMPP 3.4 §5.3.2.35); [`ReceiptStatus::from_message_state`] / [`ReceiptStatus::message_state`]
//! map the latter. [`normalize_message_id`] and [`message_id_variants`] match a receipt to its
//! `submit_sm_resp` id when the two sides disagree on case, leading zeros, or hex vs decimal.

use std::fmt;

use thiserror::Error;

/// Final or intermediate state of a submitted message, as reported in a receipt.
///
/// The `stat` words are the SMPP 3.4 Appendix B abbreviations; the numeric values are the
/// `message_state` values of SMPP 3.4 §5.2.28.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReceiptStatus {
    /// `DELIVRD`, message_state 2: delivered to the destination.
    Delivered,
    /// `EXPIRED`, message_state 3: validity period expired.
    Expired,
    /// `DELETED`, message_state 4: deleted (e.g. by `cancel_sm`).
    Deleted,
    /// `UNDELIV`, message_state 5: undeliverable.
    Undeliverable,
    /// `ACCEPTD`, message_state 6: accepted (read on behalf of the subscriber, or "accepted by
    /// the SMSC" in many carriers' usage).
    Accepted,
    /// `UNKNOWN`, message_state 7: the message is in an invalid state.
    Unknown,
    /// `REJECTD`, message_state 8: rejected.
    Rejected,
    /// `ENROUTE`, message_state 1: still in transit.
    Enroute,
}

impl ReceiptStatus {
    /// Every status, in `message_state` order.
    pub const ALL: [ReceiptStatus; 8] = [
        ReceiptStatus::Enroute,
        ReceiptStatus::Delivered,
        ReceiptStatus::Expired,
        ReceiptStatus::Deleted,
        ReceiptStatus::Undeliverable,
        ReceiptStatus::Accepted,
        ReceiptStatus::Unknown,
        ReceiptStatus::Rejected,
    ];

    /// The 7-letter `stat:` word of SMPP 3.4 Appendix B (`DELIVRD`, `UNDELIV`, ...).
    pub fn as_stat(self) -> &'static str {
        match self {
            ReceiptStatus::Delivered => "DELIVRD",
            ReceiptStatus::Expired => "EXPIRED",
            ReceiptStatus::Deleted => "DELETED",
            ReceiptStatus::Undeliverable => "UNDELIV",
            ReceiptStatus::Accepted => "ACCEPTD",
            ReceiptStatus::Unknown => "UNKNOWN",
            ReceiptStatus::Rejected => "REJECTD",
            ReceiptStatus::Enroute => "ENROUTE",
        }
    }

    /// Parse a `stat:` word tolerantly: any case, surrounding spaces and NULs, the long forms
    /// (`DELIVERED`, `UNDELIVERABLE`, `REJECTED`, `ACCEPTED`, `EN_ROUTE`...) and a bare
    /// `message_state` number (`stat:2`). Returns `None` for anything else.
    pub fn from_stat(s: &str) -> Option<Self> {
        let t: String = s
            .trim_matches(|c: char| c.is_whitespace() || c == '\0')
            .chars()
            .filter(|c| !matches!(c, '_' | '-' | ' '))
            .flat_map(char::to_uppercase)
            .collect();
        if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
            return t.parse::<u8>().ok().and_then(Self::from_message_state);
        }
        Some(match t.as_str() {
            "DELIVRD" | "DELIVERED" | "DELIVRED" | "DELIVER" | "DELIVERD" => Self::Delivered,
            "EXPIRED" | "EXPIRD" => Self::Expired,
            "DELETED" | "DELETD" => Self::Deleted,
            "UNDELIV" | "UNDELIVERABLE" | "UNDELIVERED" | "UNDELIVRD" | "UNDELIVRBL" => {
                Self::Undeliverable
            }
            "ACCEPTD" | "ACCEPTED" => Self::Accepted,
            "UNKNOWN" | "UNKNWN" => Self::Unknown,
            "REJECTD" | "REJECTED" => Self::Rejected,
            "ENROUTE" => Self::Enroute,
            _ => return None,
        })
    }

    /// Map a `message_state` TLV / `query_sm_resp` value (SMPP 3.4 §5.2.28) to a status.
    /// Values outside 1..=8 (SMPP 5's SCHEDULED 0 and SKIPPED 9, reserved values) give `None`.
    pub fn from_message_state(v: u8) -> Option<Self> {
        Some(match v {
            1 => Self::Enroute,
            2 => Self::Delivered,
            3 => Self::Expired,
            4 => Self::Deleted,
            5 => Self::Undeliverable,
            6 => Self::Accepted,
            7 => Self::Unknown,
            8 => Self::Rejected,
            _ => return None,
        })
    }

    /// The `message_state` value (SMPP 3.4 §5.2.28) of this status.
    pub fn message_state(self) -> u8 {
        match self {
            Self::Enroute => 1,
            Self::Delivered => 2,
            Self::Expired => 3,
            Self::Deleted => 4,
            Self::Undeliverable => 5,
            Self::Accepted => 6,
            Self::Unknown => 7,
            Self::Rejected => 8,
        }
    }

    /// Whether no further receipt is expected after this one.
    ///
    /// `ENROUTE` is intermediate by definition. `ACCEPTD` is also treated as intermediate: SMPP 5
    /// lists it as final, but many SMSCs send it as an "accepted by the SMSC" report before the
    /// real outcome, and Kannel maps it to "buffered". Every other status is final.
    pub fn is_final(self) -> bool {
        !matches!(self, Self::Enroute | Self::Accepted)
    }

    /// Whether this status means the message reached the handset (`DELIVRD` only).
    pub fn is_success(self) -> bool {
        self == Self::Delivered
    }
}

impl fmt::Display for ReceiptStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_stat())
    }
}

/// Why a receipt text could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ReceiptError {
    /// The text has no recognisable `key:value` receipt field at all.
    #[error("not a delivery receipt (no receipt fields found in {len} characters)")]
    NotAReceipt {
        /// Length of the input in characters.
        len: usize,
    },
    /// The receipt fields were found but the mandatory `id:` is missing or empty.
    #[error("delivery receipt has no message id (fields found: {fields})")]
    MissingId {
        /// The keys that were found, comma separated.
        fields: String,
    },
}

/// A delivery receipt as carried in `deliver_sm.short_message` (SMPP 3.4 Appendix B).
///
/// Numeric fields that are absent or unparsable are `None`; dates are kept as the raw digit
/// string the SMSC sent (`YYMMDDhhmm`, `YYMMDDhhmmss`, or an SMPP absolute time).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryReceipt {
    /// `id:` message id as sent (trimmed). Correlate with [`normalize_message_id`].
    pub id: String,
    /// `sub:` number of short messages originally submitted.
    pub sub: Option<u32>,
    /// `dlvrd:` number of short messages delivered.
    pub dlvrd: Option<u32>,
    /// `submit date:` raw date digits.
    pub submit_date: Option<String>,
    /// `done date:` raw date digits.
    pub done_date: Option<String>,
    /// `stat:` parsed; `None` when absent or unrecognised (see `stat_raw`).
    pub stat: Option<ReceiptStatus>,
    /// `stat:` exactly as received (empty when absent).
    pub stat_raw: String,
    /// `err:` network error code as received (`000`, `0000`, `21b`...).
    pub err: Option<String>,
    /// `text:` the first characters of the original message: everything after `text:`.
    pub text: Option<String>,
}

/// The receipt keys we recognise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    Id,
    Sub,
    Dlvrd,
    SubmitDate,
    DoneDate,
    Stat,
    Err,
    Text,
    /// Any other `word:` at a word boundary (vendor extras); only ends the previous value.
    Other,
}

impl Key {
    fn name(self) -> &'static str {
        match self {
            Key::Id => "id",
            Key::Sub => "sub",
            Key::Dlvrd => "dlvrd",
            Key::SubmitDate => "submit date",
            Key::DoneDate => "done date",
            Key::Stat => "stat",
            Key::Err => "err",
            Key::Text => "text",
            Key::Other => "other",
        }
    }
}

/// Known keys in lower case. Two-word date keys are matched with any separator run in between.
const KNOWN: &[(&str, Key)] = &[
    ("id", Key::Id),
    ("msgid", Key::Id),
    ("message_id", Key::Id),
    ("sub", Key::Sub),
    ("dlvrd", Key::Dlvrd),
    ("dlvr", Key::Dlvrd),
    ("submitdate", Key::SubmitDate),
    ("donedate", Key::DoneDate),
    ("stat", Key::Stat),
    ("status", Key::Stat),
    ("err", Key::Err),
    ("error", Key::Err),
    ("text", Key::Text),
    ("txt", Key::Text),
];

/// Try to read a key ending in ':' at byte `i` of the lower-cased text.
/// Returns the key and the index just after the ':'.
fn key_at(lower: &[u8], i: usize) -> Option<(Key, usize)> {
    // Two-word dates: "submit date", "submit_date", "submit-date", "submitdate", "done  date".
    for (word, key) in [("submit", Key::SubmitDate), ("done", Key::DoneDate)] {
        if lower[i..].starts_with(word.as_bytes()) {
            let mut j = i + word.len();
            while j < lower.len() && matches!(lower[j], b' ' | b'_' | b'-') {
                j += 1;
            }
            if lower[j..].starts_with(b"date") {
                j += 4;
                while j < lower.len() && lower[j] == b' ' {
                    j += 1;
                }
                if j < lower.len() && lower[j] == b':' {
                    return Some((key, j + 1));
                }
            }
        }
    }
    // A single word followed (after optional spaces) by ':'.
    let mut j = i;
    while j < lower.len() && (lower[j].is_ascii_alphanumeric() || lower[j] == b'_') {
        j += 1;
    }
    if j == i || !lower[i].is_ascii_alphabetic() {
        return None;
    }
    let word = &lower[i..j];
    while j < lower.len() && lower[j] == b' ' {
        j += 1;
    }
    if j >= lower.len() || lower[j] != b':' {
        return None;
    }
    let key = KNOWN
        .iter()
        .find(|(name, _)| name.as_bytes() == word)
        .map_or(Key::Other, |&(_, k)| k);
    Some((key, j + 1))
}

/// Trim spaces, tabs, CR/LF and NULs.
fn clean(s: &str) -> &str {
    s.trim_matches(|c: char| c.is_whitespace() || c == '\0')
}

/// The first whitespace-separated token of a value, or `None` when empty.
fn first_token(s: &str) -> Option<String> {
    clean(s)
        .split(|c: char| c.is_whitespace() || c == '\0')
        .next()
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
}

impl DeliveryReceipt {
    /// A receipt with only the id and status set (the rest `None`), for building receipts.
    pub fn new(id: impl Into<String>, stat: ReceiptStatus) -> Self {
        DeliveryReceipt {
            id: id.into(),
            sub: None,
            dlvrd: None,
            submit_date: None,
            done_date: None,
            stat: Some(stat),
            stat_raw: stat.as_stat().to_owned(),
            err: None,
            text: None,
        }
    }

    /// Parse a receipt text tolerantly (SMPP 3.4 Appendix B and real-world variants).
    ///
    /// Keys are matched case-insensitively at word boundaries, in any order; `submit date`,
    /// `submit_date` and `submitdate` are the same key. A value runs to the next key; for every
    /// field except `text` its first whitespace-separated token is taken. `text:` runs to the end
    /// of the string (keys after it are part of the text). Only `id` is mandatory; numeric fields
    /// that do not parse become `None`. Never panics.
    pub fn parse(text: &str) -> Result<Self, ReceiptError> {
        // ASCII lower-casing keeps byte offsets identical to `text`.
        let lower = text.to_ascii_lowercase();
        let lb = lower.as_bytes();
        // (key, start of key, start of value)
        let mut found: Vec<(Key, usize, usize)> = Vec::new();
        let mut i = 0;
        while i < lb.len() {
            let boundary = i == 0
                || matches!(
                    lb[i - 1],
                    b' ' | b'\t' | b'\r' | b'\n' | b'\0' | b',' | b';'
                );
            if boundary {
                if let Some((key, after)) = key_at(lb, i) {
                    found.push((key, i, after));
                    if key == Key::Text {
                        break;
                    }
                    i = after;
                    continue;
                }
            }
            i += 1;
        }
        if found.iter().all(|(k, _, _)| *k == Key::Other) {
            return Err(ReceiptError::NotAReceipt {
                len: text.chars().count(),
            });
        }
        let mut r = DeliveryReceipt {
            id: String::new(),
            sub: None,
            dlvrd: None,
            submit_date: None,
            done_date: None,
            stat: None,
            stat_raw: String::new(),
            err: None,
            text: None,
        };
        for (n, &(key, _, vstart)) in found.iter().enumerate() {
            let vend = found
                .get(n + 1)
                .map_or(text.len(), |&(_, kstart, _)| kstart);
            // Offsets are at ASCII bytes of `text`, so they are char boundaries.
            let raw = text.get(vstart..vend).unwrap_or("");
            match key {
                Key::Id => r.id = first_token(raw).unwrap_or_default(),
                Key::Sub => r.sub = first_token(raw).and_then(|t| t.parse().ok()),
                Key::Dlvrd => r.dlvrd = first_token(raw).and_then(|t| t.parse().ok()),
                Key::SubmitDate => r.submit_date = first_token(raw),
                Key::DoneDate => r.done_date = first_token(raw),
                Key::Stat => {
                    r.stat_raw = first_token(raw).unwrap_or_default();
                    r.stat = ReceiptStatus::from_stat(&r.stat_raw);
                }
                Key::Err => r.err = first_token(raw),
                Key::Text => r.text = Some(clean(raw).to_owned()),
                Key::Other => {}
            }
        }
        if r.id.is_empty() {
            let fields: Vec<&str> = found
                .iter()
                .filter(|(k, _, _)| *k != Key::Other)
                .map(|(k, _, _)| k.name())
                .collect();
            return Err(ReceiptError::MissingId {
                fields: fields.join(","),
            });
        }
        Ok(r)
    }

    /// Write the canonical receipt text:
    /// `id:%s sub:%03d dlvrd:%03d submit date:%s done date:%s stat:%s err:%s text:%.20s`.
    ///
    /// Fields that are `None` are left out (an absent `stat` falls back to `stat_raw` when that is
    /// non-empty); `text` is cut to its first 20 characters, as SMPP 3.4 Appendix B shows.
    pub fn format(&self) -> String {
        let mut out = format!("id:{}", self.id);
        if let Some(sub) = self.sub {
            out.push_str(&format!(" sub:{sub:03}"));
        }
        if let Some(d) = self.dlvrd {
            out.push_str(&format!(" dlvrd:{d:03}"));
        }
        if let Some(d) = &self.submit_date {
            out.push_str(" submit date:");
            out.push_str(d);
        }
        if let Some(d) = &self.done_date {
            out.push_str(" done date:");
            out.push_str(d);
        }
        match self.stat {
            Some(s) => {
                out.push_str(" stat:");
                out.push_str(s.as_stat());
            }
            None if !self.stat_raw.is_empty() => {
                out.push_str(" stat:");
                out.push_str(&self.stat_raw);
            }
            None => {}
        }
        if let Some(e) = &self.err {
            out.push_str(" err:");
            out.push_str(e);
        }
        if let Some(t) = &self.text {
            out.push_str(" text:");
            out.extend(t.chars().take(20));
        }
        out
    }
}

/// Normalise a message id for correlation: trim, strip NULs, lowercase, strip leading zeros
/// (keeping a single `"0"` for an all-zero id). Idempotent.
pub fn normalize_message_id(id: &str) -> String {
    let s: String = id
        .chars()
        .filter(|&c| c != '\0')
        .collect::<String>()
        .trim()
        .to_lowercase();
    // Whitespace between leading zeros ("0 5") is stripped too, so the result is stable.
    let stripped = s.trim_start_matches(|c: char| c == '0' || c.is_whitespace());
    if stripped.is_empty() && !s.is_empty() {
        "0".to_owned()
    } else {
        stripped.to_owned()
    }
}

/// Every normalised form this id could match on the other side: itself, and when it parses as
/// decimal, its hex form; when it parses as hex, its decimal form (values up to `u128`; longer
/// ids give only themselves).
///
/// Used to match a receipt whose id base differs from the `submit_sm_resp` id (Kannel's
/// `msg-id-type` problem, shared/reference/anchors.md §4). Two ids may refer to the same message
/// when their variant lists intersect. The first element is always [`normalize_message_id`].
pub fn message_id_variants(id: &str) -> Vec<String> {
    let n = normalize_message_id(id);
    let mut out = vec![n.clone()];
    if n.is_empty() {
        return out;
    }
    let mut push = |v: String| {
        if !out.contains(&v) {
            out.push(v);
        }
    };
    if n.bytes().all(|b| b.is_ascii_digit()) {
        if let Ok(v) = n.parse::<u128>() {
            push(format!("{v:x}"));
        }
    }
    if n.bytes().all(|b| b.is_ascii_hexdigit()) {
        if let Ok(v) = u128::from_str_radix(&n, 16) {
            push(v.to_string());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_receipt_parses() {
        let r = DeliveryReceipt::parse(
            "id:0123456789 sub:001 dlvrd:001 submit date:2611221530 done date:2611221531 stat:DELIVRD err:000 text:Hello",
        )
        .unwrap();
        assert_eq!(r.id, "0123456789");
        assert_eq!(r.sub, Some(1));
        assert_eq!(r.dlvrd, Some(1));
        assert_eq!(r.submit_date.as_deref(), Some("2611221530"));
        assert_eq!(r.done_date.as_deref(), Some("2611221531"));
        assert_eq!(r.stat, Some(ReceiptStatus::Delivered));
        assert_eq!(r.stat_raw, "DELIVRD");
        assert_eq!(r.err.as_deref(), Some("000"));
        assert_eq!(r.text.as_deref(), Some("Hello"));
    }

    #[test]
    fn canonical_format_is_byte_exact() {
        let r = DeliveryReceipt {
            id: "0123456789".into(),
            sub: Some(1),
            dlvrd: Some(1),
            submit_date: Some("2611221530".into()),
            done_date: Some("2611221531".into()),
            stat: Some(ReceiptStatus::Delivered),
            stat_raw: "DELIVRD".into(),
            err: Some("000".into()),
            text: Some("Hello world, this is longer than twenty".into()),
        };
        assert_eq!(
            r.format(),
            "id:0123456789 sub:001 dlvrd:001 submit date:2611221530 done date:2611221531 stat:DELIVRD err:000 text:Hello world, this is"
        );
    }

    #[test]
    fn uppercase_keys_and_capitalised_text() {
        let r = DeliveryReceipt::parse(
            "ID:7F3A9B SUB:001 DLVRD:000 SUBMIT DATE:2611221530 DONE DATE:2611221531 STAT:UNDELIV ERR:001 Text:Bonjour",
        )
        .unwrap();
        assert_eq!(r.id, "7F3A9B");
        assert_eq!(r.dlvrd, Some(0));
        assert_eq!(r.stat, Some(ReceiptStatus::Undeliverable));
        assert_eq!(r.err.as_deref(), Some("001"));
        assert_eq!(r.text.as_deref(), Some("Bonjour"));
        assert_eq!(r.submit_date.as_deref(), Some("2611221530"));
    }

    #[test]
    fn missing_sub_and_dlvrd_jsmpp_62() {
        // jsmpp #62: the SMSC omits sub and dlvrd.
        let r = DeliveryReceipt::parse(
            "id:1526758174 submit date:1701240904 done date:1701240904 stat:DELIVRD err:000 text:hellow",
        )
        .unwrap();
        assert_eq!(r.id, "1526758174");
        assert_eq!(r.sub, None);
        assert_eq!(r.dlvrd, None);
        assert_eq!(r.done_date.as_deref(), Some("1701240904"));
        assert_eq!(r.text.as_deref(), Some("hellow"));
    }

    #[test]
    fn no_text_field_and_four_digit_err() {
        let r = DeliveryReceipt::parse(
            "id:117062714244798261 sub:001 dlvrd:001 submit date:1706271624 done date:1706271624 stat:DELIVRD err:0000",
        )
        .unwrap();
        assert_eq!(r.err.as_deref(), Some("0000"));
        assert_eq!(r.text, None);
        assert_eq!(r.stat, Some(ReceiptStatus::Delivered));
    }

    #[test]
    fn twelve_digit_dates_and_underscored_keys() {
        let r = DeliveryReceipt::parse(
            "id:6C7C7DE28BB3E961947700000000FE37 sub:001 dlvrd:000 submit_date:261122153012 done_date:261122153107 stat:UNDELIV err:001 text:Ceci est un test.",
        )
        .unwrap();
        assert_eq!(r.id, "6C7C7DE28BB3E961947700000000FE37");
        assert_eq!(r.submit_date.as_deref(), Some("261122153012"));
        assert_eq!(r.done_date.as_deref(), Some("261122153107"));
        assert_eq!(r.text.as_deref(), Some("Ceci est un test."));
    }

    #[test]
    fn smpp_absolute_time_dates_and_alnum_id() {
        let r = DeliveryReceipt::parse(
            "id:rdwjwxns18krxr9936ey96ymcw sub:000 dlvrd:000 submit date:180711070003912+ done date:180711070000012+ stat:UNDELIV err:000",
        )
        .unwrap();
        assert_eq!(r.id, "rdwjwxns18krxr9936ey96ymcw");
        assert_eq!(r.submit_date.as_deref(), Some("180711070003912+"));
        assert_eq!(r.stat, Some(ReceiptStatus::Undeliverable));
    }

    #[test]
    fn any_order_extra_spaces_and_vendor_fields() {
        let r = DeliveryReceipt::parse(
            "  stat: EXPIRED   err:  005 imsi:001010123456789  id:  42  done  date : 2611221531 text: Hi there \0",
        )
        .unwrap();
        assert_eq!(r.id, "42");
        assert_eq!(r.stat, Some(ReceiptStatus::Expired));
        assert_eq!(r.err.as_deref(), Some("005"));
        assert_eq!(r.done_date.as_deref(), Some("2611221531"));
        assert_eq!(r.text.as_deref(), Some("Hi there"));
    }

    #[test]
    fn text_runs_to_end_even_with_colons() {
        let r = DeliveryReceipt::parse("id:1 stat:DELIVRD text:err:999 stat:x").unwrap();
        assert_eq!(r.text.as_deref(), Some("err:999 stat:x"));
        assert_eq!(r.err, None);
        assert_eq!(r.stat, Some(ReceiptStatus::Delivered));
    }

    #[test]
    fn unknown_stat_keeps_raw() {
        let r = DeliveryReceipt::parse("id:9 stat:WEIRDO").unwrap();
        assert_eq!(r.stat, None);
        assert_eq!(r.stat_raw, "WEIRDO");
        assert_eq!(r.format(), "id:9 stat:WEIRDO");
    }

    #[test]
    fn errors() {
        assert_eq!(
            DeliveryReceipt::parse("hello world"),
            Err(ReceiptError::NotAReceipt { len: 11 })
        );
        assert_eq!(
            DeliveryReceipt::parse("sub:001 stat:DELIVRD"),
            Err(ReceiptError::MissingId {
                fields: "sub,stat".into()
            })
        );
        assert!(DeliveryReceipt::parse("").is_err());
        assert!(DeliveryReceipt::parse("id: stat:DELIVRD").is_err());
    }

    #[test]
    fn non_ascii_input_does_not_panic() {
        let r = DeliveryReceipt::parse("id:é1 stat:DELİVRD text:中文 ok").unwrap();
        assert_eq!(r.id, "é1");
        assert_eq!(r.text.as_deref(), Some("中文 ok"));
    }

    #[test]
    fn stat_words_and_states() {
        for s in ReceiptStatus::ALL {
            assert_eq!(ReceiptStatus::from_stat(s.as_stat()), Some(s));
            assert_eq!(
                ReceiptStatus::from_message_state(s.message_state()),
                Some(s)
            );
            assert_eq!(s.as_stat().len(), 7);
        }
        assert_eq!(
            ReceiptStatus::from_stat("delivered"),
            Some(ReceiptStatus::Delivered)
        );
        assert_eq!(
            ReceiptStatus::from_stat(" Undeliverable "),
            Some(ReceiptStatus::Undeliverable)
        );
        assert_eq!(
            ReceiptStatus::from_stat("REJECTED"),
            Some(ReceiptStatus::Rejected)
        );
        assert_eq!(
            ReceiptStatus::from_stat("en_route"),
            Some(ReceiptStatus::Enroute)
        );
        assert_eq!(
            ReceiptStatus::from_stat("2"),
            Some(ReceiptStatus::Delivered)
        );
        assert_eq!(ReceiptStatus::from_stat("FOO"), None);
        assert_eq!(ReceiptStatus::from_stat(""), None);
        assert_eq!(ReceiptStatus::from_message_state(0), None);
        assert_eq!(ReceiptStatus::from_message_state(9), None);
        assert_eq!(ReceiptStatus::Delivered.message_state(), 2);
        assert_eq!(ReceiptStatus::Rejected.message_state(), 8);
        assert!(ReceiptStatus::Delivered.is_final() && ReceiptStatus::Delivered.is_success());
        assert!(
            ReceiptStatus::Undeliverable.is_final() && !ReceiptStatus::Undeliverable.is_success()
        );
        assert!(!ReceiptStatus::Enroute.is_final());
        assert!(!ReceiptStatus::Accepted.is_final());
        assert!(ReceiptStatus::Expired.is_final());
    }

    #[test]
    fn normalise_ids() {
        assert_eq!(normalize_message_id("  00ABC123\0"), "abc123");
        assert_eq!(normalize_message_id("0000"), "0");
        assert_eq!(normalize_message_id("0"), "0");
        assert_eq!(normalize_message_id(""), "");
        assert_eq!(normalize_message_id("0123456789"), "123456789");
    }

    #[test]
    fn id_variants_hex_and_decimal() {
        // 0x7f3a9b == 8338075
        assert_eq!(message_id_variants("7F3A9B"), vec!["7f3a9b", "8338075"]);
        let dec = message_id_variants("8338075");
        assert_eq!(dec[0], "8338075");
        assert!(dec.contains(&"7f3a9b".to_owned()));
        // A receipt id in hex matches a decimal submit_sm_resp id and vice versa.
        let a = message_id_variants("0008338075");
        let b = message_id_variants("7f3a9b");
        assert!(a.iter().any(|x| b.contains(x)));
        // Alphanumeric non-hex ids are only themselves.
        assert_eq!(message_id_variants("rdwjwxns18"), vec!["rdwjwxns18"]);
        // Too long for u128: only itself.
        let long = "f".repeat(40);
        assert_eq!(message_id_variants(&long), vec![long.clone()]);
        assert_eq!(message_id_variants("0"), vec!["0"]);
        assert_eq!(message_id_variants(""), vec![""]);
    }
}
