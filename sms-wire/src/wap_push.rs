//! WAP Push over SMS: Service Indication and Service Loading, encoded and decoded.
//!
//! Layers (shared/reference/wire-formats.md §2):
//! * WBXML 1.2 documents (WAP-192-WBXML) with the SI token tables of WAP-167-ServiceInd and the
//!   SL token tables of WAP-168-ServiceLoad: [`ServiceIndication::to_wbxml`],
//!   [`ServiceLoading::to_wbxml`], [`decode_wbxml`];
//! * the WSP connectionless Push PDU (WAP-230-WSP §8.2.4.1, assigned numbers appendix A):
//!   [`wsp_push`], [`decode_wsp_push`];
//! * WDP over GSM SMS (WAP-259-WDP): UDH port addressing 2948 <- 9200 (3GPP TS 23.040
//!   §9.2.3.24.4) in every part, plus a concatenation IE (§9.2.3.24.1 / .8) when the datagram
//!   does not fit one SMS: [`push_segments`].
//!
//! The encoder follows §2.7 of the reference: the longest href prefix token, every `.com/`,
//! `.edu/`, `.net/`, `.org/` tokenised, never an empty inline string, dates as BCD octets with
//! trailing zero octets dropped. The decoders accept any byte string and return errors, never
//! panic; they also accept what other encoders emit (string tables, entities, string dates,
//! general-form content types, extra WSP headers, info elements).

use std::fmt;

use thiserror::Error;

use crate::segment::Segment;
use crate::udh::{InformationElement, Udh};

/// UDH destination port of connectionless WAP Push (WAP-259-WDP, IANA): 2948 = 0x0B84.
pub const WAP_PUSH_PORT: u16 = 2948;
/// UDH source port of connectionless WSP (WAP-259-WDP, IANA): 9200 = 0x23F0.
pub const WSP_PORT: u16 = 9200;
/// `data_coding` we send WAP Push with: 0x04, 8-bit octet data (SMPP 3.4 §5.2.19).
pub const WAP_PUSH_DATA_CODING: u8 = 0x04;
/// `esm_class` for a UDH-carrying message: UDHI, 0x40 (SMPP 3.4 §5.2.12).
pub const WAP_PUSH_ESM_CLASS: u8 = 0x40;
/// WSP+WBXML octets that fit one SMS after `06 05 04 0B 84 23 F0`.
pub const SINGLE_PAYLOAD: usize = 133;
/// Per-part payload with port IE + 8-bit concat IE (UDH 12 octets).
pub const CONCAT8_PAYLOAD: usize = 128;
/// Per-part payload with port IE + 16-bit concat IE (UDH 13 octets).
pub const CONCAT16_PAYLOAD: usize = 127;

/// WSP Push PDU type (WAP-230 appendix A, table 34).
const PDU_PUSH: u8 = 0x06;
/// WSP ConfirmedPush PDU type; accepted by the decoder.
const PDU_CONFIRMED_PUSH: u8 = 0x07;
/// Well-known content type `application/vnd.wap.sic` (0x2E), encoded as a short integer.
const CT_SIC: u8 = 0x2E;
/// Well-known content type `application/vnd.wap.slc` (0x30), encoded as a short integer.
const CT_SLC: u8 = 0x30;
/// WSP header X-Wap-Application-Id (0x2F) as a short integer.
const HDR_APP_ID: u8 = 0xAF;
/// Application id `x-wap-application:wml.ua` (0x02) as a short integer.
const APP_WML_UA: u8 = 0x82;

/// WBXML version 1.2.
const WBXML_VERSION: u8 = 0x02;
/// Public id of "-//WAPFORUM//DTD SI 1.0//EN".
const PUBLIC_ID_SI: u32 = 0x05;
/// Public id of "-//WAPFORUM//DTD SL 1.0//EN".
const PUBLIC_ID_SL: u32 = 0x06;
/// IANA MIBenum of UTF-8.
const CHARSET_UTF8: u32 = 106;
/// IANA MIBenum of ISO-8859-1.
const CHARSET_LATIN1: u32 = 4;

// WBXML global tokens (WAP-192-WBXML §7.1).
const SWITCH_PAGE: u8 = 0x00;
const END: u8 = 0x01;
const ENTITY: u8 = 0x02;
const STR_I: u8 = 0x03;
const LITERAL: u8 = 0x04;
const EXT_I_0: u8 = 0x40;
const EXT_I_2: u8 = 0x42;
const PI: u8 = 0x43;
const LITERAL_C: u8 = 0x44;
const EXT_T_0: u8 = 0x80;
const EXT_T_2: u8 = 0x82;
const STR_T: u8 = 0x83;
const LITERAL_A: u8 = 0x84;
const EXT_0: u8 = 0xC0;
const EXT_2: u8 = 0xC2;
const OPAQUE: u8 = 0xC3;
const LITERAL_AC: u8 = 0xC4;

/// Tag flag: the element has content.
const HAS_CONTENT: u8 = 0x40;
/// Tag flag: the element has attributes.
const HAS_ATTRS: u8 = 0x80;

// SI tags (WAP-167 §8.3.1) and attribute start tokens (§8.3.2).
const SI_TAG_SI: u8 = 0x05;
const SI_TAG_INDICATION: u8 = 0x06;
const SI_ATTR_CREATED: u8 = 0x0A;
const SI_ATTR_EXPIRES: u8 = 0x10;
const SI_ATTR_SI_ID: u8 = 0x11;
/// SI href prefix tokens, longest prefix first.
const SI_HREF: &[(&str, u8)] = &[
    ("https://www.", 0x0F),
    ("https://", 0x0E),
    ("http://www.", 0x0D),
    ("http://", 0x0C),
    ("", 0x0B),
];
// SL tag (WAP-168 §9.3.1) and attribute start tokens (§9.3.2).
const SL_TAG_SL: u8 = 0x05;
/// SL href prefix tokens, longest prefix first.
const SL_HREF: &[(&str, u8)] = &[
    ("https://www.", 0x0C),
    ("https://", 0x0B),
    ("http://www.", 0x0A),
    ("http://", 0x09),
    ("", 0x08),
];
/// Attribute value tokens shared by SI and SL (WAP-167 §8.3.3, WAP-168 §9.3.3).
const VALUE_TOKENS: &[(&str, u8)] = &[
    (".com/", 0x85),
    (".edu/", 0x86),
    (".net/", 0x87),
    (".org/", 0x88),
];

/// Deepest element nesting the decoder follows before giving up.
const MAX_DEPTH: usize = 32;

/// Errors from building or decoding WAP Push.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum WapError {
    /// The input ended while reading `what`.
    #[error("truncated WAP push: input ends at offset {offset} while reading {what}")]
    Truncated {
        /// What was being read.
        what: &'static str,
        /// Offset at which more input was needed.
        offset: usize,
    },
    /// A uintvar / mb_u_int32 longer than 5 octets or above `u32::MAX`.
    #[error("integer overflow in {what} at offset {offset}")]
    Overflow {
        /// What was being read.
        what: &'static str,
        /// Offset of the integer.
        offset: usize,
    },
    /// The WSP PDU type is not Push (0x06) or ConfirmedPush (0x07).
    #[error("not a WSP push PDU: PDU type 0x{pdu_type:02X}")]
    NotPush {
        /// The PDU type octet found.
        pdu_type: u8,
    },
    /// The push content type is neither `application/vnd.wap.sic` nor `application/vnd.wap.slc`.
    #[error("unsupported push content type {content_type}")]
    UnsupportedContentType {
        /// The content type, textual or as `0xNN` for a well-known code.
        content_type: String,
    },
    /// A WBXML token that is not allowed where it was found.
    #[error("unexpected WBXML token 0x{token:02X} at offset {offset} in {context}")]
    UnexpectedToken {
        /// The token.
        token: u8,
        /// Its offset in the WBXML document.
        offset: usize,
        /// Where it was found (tag, attribute, content).
        context: &'static str,
    },
    /// A string-table reference outside the string table.
    #[error("string table index {index} out of range (table is {len} octets)")]
    StringTableIndex {
        /// The index referenced.
        index: u32,
        /// String table length.
        len: usize,
    },
    /// Elements nested deeper than the decoder follows.
    #[error("WBXML elements nested deeper than {max} at offset {offset}")]
    TooDeep {
        /// The depth limit.
        max: usize,
        /// Offset of the element that exceeded it.
        offset: usize,
    },
    /// The document's root or a required child element is not the expected one.
    #[error("expected element <{expected}>, found {found}")]
    UnexpectedElement {
        /// The element required.
        expected: &'static str,
        /// What was found instead.
        found: String,
    },
    /// A required attribute is absent.
    #[error("<{element}> has no {attribute} attribute")]
    MissingAttribute {
        /// The element.
        element: &'static str,
        /// The attribute.
        attribute: &'static str,
    },
    /// An attribute value that cannot be represented (e.g. OPAQUE in an href, a bad date).
    #[error("invalid value for attribute {attribute}: {detail}")]
    InvalidAttribute {
        /// The attribute.
        attribute: &'static str,
        /// What is wrong.
        detail: String,
    },
    /// The push needs more than 255 SMS parts.
    #[error("WAP push datagram of {len} octets needs {parts} parts, more than 255")]
    TooLong {
        /// Datagram length in octets.
        len: usize,
        /// Parts it would need.
        parts: usize,
    },
}

/// A WAP date (`YYYY-MM-DDThh:mm:ssZ`, UTC), as carried by SI `created` and `si-expires`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WapDate {
    /// Year, 0..=9999.
    pub year: u16,
    /// Month, 1..=12.
    pub month: u8,
    /// Day of month, 1..=31.
    pub day: u8,
    /// Hour, 0..=23.
    pub hour: u8,
    /// Minute, 0..=59.
    pub minute: u8,
    /// Second, 0..=59.
    pub second: u8,
}

impl WapDate {
    /// A date from its parts (no validation; see [`WapDate::is_valid`]).
    pub fn new(year: u16, month: u8, day: u8, hour: u8, minute: u8, second: u8) -> Self {
        WapDate {
            year,
            month,
            day,
            hour,
            minute,
            second,
        }
    }

    /// Whether every field is within its calendar range (days per month not checked).
    pub fn is_valid(&self) -> bool {
        self.year <= 9999
            && (1..=12).contains(&self.month)
            && (1..=31).contains(&self.day)
            && self.hour <= 23
            && self.minute <= 59
            && self.second <= 59
    }

    /// Parse `YYYY-MM-DDThh:mm:ssZ` (the `Z` may be absent). Returns `None` on any other shape
    /// or an out-of-range field.
    pub fn parse_iso(s: &str) -> Option<Self> {
        let b = s.trim().as_bytes();
        let b = b.strip_suffix(b"Z").unwrap_or(b);
        if b.len() != 19
            || b[4] != b'-'
            || b[7] != b'-'
            || !matches!(b[10], b'T' | b't' | b' ')
            || b[13] != b':'
            || b[16] != b':'
        {
            return None;
        }
        let num = |r: std::ops::Range<usize>| -> Option<u16> {
            b[r].iter().try_fold(0u16, |acc, &c| {
                c.is_ascii_digit().then(|| acc * 10 + u16::from(c - b'0'))
            })
        };
        let small = |r| num(r).and_then(|v| u8::try_from(v).ok());
        let d = WapDate::new(
            num(0..4)?,
            small(5..7)?,
            small(8..10)?,
            small(11..13)?,
            small(14..16)?,
            small(17..19)?,
        );
        d.is_valid().then_some(d)
    }

    /// The OPAQUE date octets (WAP-167 §8.2.2): two decimal digits per octet, trailing zero
    /// octets dropped. Fields beyond their digit count are taken modulo 10000 / 100.
    pub fn to_opaque(&self) -> Vec<u8> {
        let bcd = |v: u16| -> u8 { ((((v / 10) % 10) as u8) << 4) | (v % 10) as u8 };
        let y = self.year % 10000;
        let mut out = vec![
            bcd(y / 100),
            bcd(y % 100),
            bcd(u16::from(self.month)),
            bcd(u16::from(self.day)),
            bcd(u16::from(self.hour)),
            bcd(u16::from(self.minute)),
            bcd(u16::from(self.second)),
        ];
        while out.last() == Some(&0) {
            out.pop();
        }
        out
    }

    /// Decode OPAQUE date octets: up to 7 BCD octets, missing trailing octets are zero.
    pub fn from_opaque(bytes: &[u8]) -> Result<Self, WapError> {
        if bytes.len() > 7 {
            return Err(WapError::InvalidAttribute {
                attribute: "date",
                detail: format!("{} octets, at most 7", bytes.len()),
            });
        }
        let mut d = [0u8; 7];
        for (i, &b) in bytes.iter().enumerate() {
            let (hi, lo) = (b >> 4, b & 0x0F);
            if hi > 9 || lo > 9 {
                return Err(WapError::InvalidAttribute {
                    attribute: "date",
                    detail: format!("octet 0x{b:02X} is not two decimal digits"),
                });
            }
            d[i] = hi * 10 + lo;
        }
        Ok(WapDate::new(
            u16::from(d[0]) * 100 + u16::from(d[1]),
            d[2],
            d[3],
            d[4],
            d[5],
            d[6],
        ))
    }
}

impl fmt::Display for WapDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }
}

/// SI `action` attribute (WAP-167 §5.2.1). Absent means `signal-medium`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SiAction {
    /// `signal-none`: store silently.
    SignalNone,
    /// `signal-low`.
    SignalLow,
    /// `signal-medium` (the default).
    #[default]
    SignalMedium,
    /// `signal-high`.
    SignalHigh,
    /// `delete`: remove the stored SI with the same si-id.
    Delete,
}

impl SiAction {
    /// Every action, in token order.
    pub const ALL: [SiAction; 5] = [
        SiAction::SignalNone,
        SiAction::SignalLow,
        SiAction::SignalMedium,
        SiAction::SignalHigh,
        SiAction::Delete,
    ];

    /// The XML attribute value (`signal-high`...).
    pub fn as_str(self) -> &'static str {
        match self {
            SiAction::SignalNone => "signal-none",
            SiAction::SignalLow => "signal-low",
            SiAction::SignalMedium => "signal-medium",
            SiAction::SignalHigh => "signal-high",
            SiAction::Delete => "delete",
        }
    }

    /// Parse the XML attribute value.
    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }

    /// WBXML attribute start token (WAP-167 §8.3.2): 0x05..=0x09.
    fn token(self) -> u8 {
        match self {
            SiAction::SignalNone => 0x05,
            SiAction::SignalLow => 0x06,
            SiAction::SignalMedium => 0x07,
            SiAction::SignalHigh => 0x08,
            SiAction::Delete => 0x09,
        }
    }
}

/// A Service Indication (WAP-167): a URL plus a message shown to the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceIndication {
    /// The URL (`href`).
    pub href: String,
    /// The text content of `<indication>` shown to the user.
    pub text: Option<String>,
    /// `si-id`, for replacing or deleting an earlier SI.
    pub si_id: Option<String>,
    /// `created`.
    pub created: Option<WapDate>,
    /// `si-expires`.
    pub expires: Option<WapDate>,
    /// `action`; `None` means the default, signal-medium.
    pub action: Option<SiAction>,
}

/// SL `action` attribute (WAP-168 §5.2.1). Absent means `execute-low`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SlAction {
    /// `execute-low` (the default).
    #[default]
    ExecuteLow,
    /// `execute-high`.
    ExecuteHigh,
    /// `cache`.
    Cache,
}

impl SlAction {
    /// Every action, in token order.
    pub const ALL: [SlAction; 3] = [SlAction::ExecuteLow, SlAction::ExecuteHigh, SlAction::Cache];

    /// The XML attribute value (`execute-low`...).
    pub fn as_str(self) -> &'static str {
        match self {
            SlAction::ExecuteLow => "execute-low",
            SlAction::ExecuteHigh => "execute-high",
            SlAction::Cache => "cache",
        }
    }

    /// Parse the XML attribute value.
    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }

    /// WBXML attribute start token (WAP-168 §9.3.2): 0x05..=0x07.
    fn token(self) -> u8 {
        match self {
            SlAction::ExecuteLow => 0x05,
            SlAction::ExecuteHigh => 0x06,
            SlAction::Cache => 0x07,
        }
    }
}

/// A Service Loading (WAP-168): a URL the handset loads (and may execute) without asking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceLoading {
    /// The URL (`href`).
    pub href: String,
    /// `action`; `None` means the default, execute-low.
    pub action: Option<SlAction>,
}

/// The content of a WAP Push we speak.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushContent {
    /// A Service Indication, content type `application/vnd.wap.sic`.
    Si(ServiceIndication),
    /// A Service Loading, content type `application/vnd.wap.slc`.
    Sl(ServiceLoading),
}

impl PushContent {
    /// The WBXML body of this content.
    pub fn to_wbxml(&self) -> Vec<u8> {
        match self {
            PushContent::Si(si) => si.to_wbxml(),
            PushContent::Sl(sl) => sl.to_wbxml(),
        }
    }

    /// Whether this is a Service Loading.
    pub fn is_sl(&self) -> bool {
        matches!(self, PushContent::Sl(_))
    }

    /// The textual content type.
    pub fn content_type(&self) -> &'static str {
        match self {
            PushContent::Si(_) => "application/vnd.wap.sic",
            PushContent::Sl(_) => "application/vnd.wap.slc",
        }
    }
}

/// Append an inline string (`03 ... 00`); NULs are dropped and an empty string emits nothing.
fn push_str_i(out: &mut Vec<u8>, s: &str) {
    if s.bytes().all(|b| b == 0) {
        return;
    }
    out.push(STR_I);
    out.extend(s.bytes().filter(|&b| b != 0));
    out.push(0);
}

/// Append an attribute value, tokenising every `.com/ .edu/ .net/ .org/` (§2.7).
fn push_value(out: &mut Vec<u8>, mut s: &str) {
    loop {
        let next = VALUE_TOKENS
            .iter()
            .filter_map(|&(pat, tok)| s.find(pat).map(|i| (i, pat.len(), tok)))
            .min_by_key(|&(i, _, _)| i);
        match next {
            Some((i, len, tok)) => {
                push_str_i(out, &s[..i]);
                out.push(tok);
                s = &s[i + len..];
            }
            None => {
                push_str_i(out, s);
                return;
            }
        }
    }
}

/// Append an href attribute with the longest matching prefix token.
fn push_href(out: &mut Vec<u8>, href: &str, table: &[(&str, u8)]) {
    let href: String = href.chars().filter(|&c| c != '\0').collect();
    // The table ends with ("", plain href token), so a match always exists.
    let (prefix, tok) = table
        .iter()
        .find(|(p, _)| href.starts_with(p))
        .copied()
        .unwrap_or(("", table[table.len() - 1].1));
    out.push(tok);
    push_value(out, &href[prefix.len()..]);
}

/// Append an OPAQUE date.
fn push_date(out: &mut Vec<u8>, d: &WapDate) {
    let o = d.to_opaque();
    out.push(OPAQUE);
    push_mb_u32(out, o.len() as u32);
    out.extend_from_slice(&o);
}

/// Append a WBXML mb_u_int32 (also the WSP uintvar, and the WBMP header's multi-byte
/// integer, WAP-190 §6): 7 bits per octet, most significant first, MSB = more follows.
pub fn push_mb_u32(out: &mut Vec<u8>, mut v: u32) {
    let mut tmp = [0u8; 5];
    let mut n = 0;
    loop {
        tmp[n] = (v & 0x7F) as u8;
        n += 1;
        v >>= 7;
        if v == 0 {
            break;
        }
    }
    for i in (0..n).rev() {
        out.push(if i == 0 { tmp[i] } else { tmp[i] | 0x80 });
    }
}

impl ServiceIndication {
    /// An SI with just an href and a text.
    pub fn new(href: impl Into<String>, text: impl Into<String>) -> Self {
        ServiceIndication {
            href: href.into(),
            text: Some(text.into()),
            si_id: None,
            created: None,
            expires: None,
            action: None,
        }
    }

    /// The WBXML 1.2 body (`02 05 6A 00 45 C6 ...`), attributes in the order href, si-id,
    /// action, created, si-expires, as Kannel and libwbxml emit them (wire-formats.md §2.8).
    /// NUL characters in strings are dropped (an inline string cannot hold them).
    pub fn to_wbxml(&self) -> Vec<u8> {
        let mut out = vec![WBXML_VERSION, PUBLIC_ID_SI as u8, CHARSET_UTF8 as u8, 0x00];
        out.push(SI_TAG_SI | HAS_CONTENT);
        let content = if self.text.is_some() { HAS_CONTENT } else { 0 };
        out.push(SI_TAG_INDICATION | HAS_ATTRS | content);
        push_href(&mut out, &self.href, SI_HREF);
        if let Some(id) = &self.si_id {
            out.push(SI_ATTR_SI_ID);
            push_str_i(&mut out, id);
        }
        if let Some(a) = self.action {
            out.push(a.token());
        }
        if let Some(d) = &self.created {
            out.push(SI_ATTR_CREATED);
            push_date(&mut out, d);
        }
        if let Some(d) = &self.expires {
            out.push(SI_ATTR_EXPIRES);
            push_date(&mut out, d);
        }
        out.push(END); // attributes of <indication>
        if let Some(text) = &self.text {
            push_str_i(&mut out, text);
            out.push(END); // </indication>
        }
        out.push(END); // </si>
        out
    }
}

impl ServiceLoading {
    /// An SL with the default action.
    pub fn new(href: impl Into<String>) -> Self {
        ServiceLoading {
            href: href.into(),
            action: None,
        }
    }

    /// The WBXML 1.2 body (`02 06 6A 00 85 <href> [action] 01`, wire-formats.md §2.6).
    pub fn to_wbxml(&self) -> Vec<u8> {
        let mut out = vec![WBXML_VERSION, PUBLIC_ID_SL as u8, CHARSET_UTF8 as u8, 0x00];
        out.push(SL_TAG_SL | HAS_ATTRS);
        push_href(&mut out, &self.href, SL_HREF);
        if let Some(a) = self.action {
            out.push(a.token());
        }
        out.push(END);
        out
    }
}

/// Options for the WSP Push PDU header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WspOptions {
    /// Transaction id (any value; connectionless push).
    pub tid: u8,
    /// Send `X-Wap-Application-Id: x-wap-application:wml.ua` (`AF 82`). Default true.
    pub app_id_header: bool,
    /// Send the content type in general form with `charset=utf-8` (`03 AE 81 EA`). Default false.
    pub charset_param: bool,
}

impl Default for WspOptions {
    fn default() -> Self {
        WspOptions {
            tid: 0,
            app_id_header: true,
            charset_param: false,
        }
    }
}

/// The WSP connectionless Push PDU (WAP-230 §8.2.4.1): `TID 06 <headersLen uintvar>
/// <content type> [AF 82] <WBXML>`, content type `AE` (SI) or `B0` (SL), or `03 AE 81 EA` /
/// `03 B0 81 EA` with the charset parameter.
pub fn wsp_push(content: &PushContent, opts: &WspOptions) -> Vec<u8> {
    let ct = 0x80 | if content.is_sl() { CT_SLC } else { CT_SIC };
    let mut headers = Vec::with_capacity(6);
    if opts.charset_param {
        // Value-length 3, media AE/B0, well-known parameter Charset (0x81) = UTF-8 (0xEA = 106).
        headers.extend_from_slice(&[0x03, ct, 0x81, 0xEA]);
    } else {
        headers.push(ct);
    }
    if opts.app_id_header {
        headers.extend_from_slice(&[HDR_APP_ID, APP_WML_UA]);
    }
    let body = content.to_wbxml();
    let mut out = Vec::with_capacity(3 + headers.len() + body.len());
    out.push(opts.tid);
    out.push(PDU_PUSH);
    push_mb_u32(&mut out, headers.len() as u32);
    out.extend_from_slice(&headers);
    out.extend_from_slice(&body);
    out
}

/// Wrap a push into SMS parts (WAP-259-WDP over GSM SMS): every part starts with a UDH holding
/// the 16-bit port IE `05 04 0B 84 23 F0`. A datagram of at most 133 octets is one part with no
/// concatenation IE; a longer one is cut into 128-octet (8-bit reference, `00 03`) or 127-octet
/// (`wide_ref`, 16-bit reference, `08 04`) chunks with the port IE first, as Kannel does.
/// Parts have `data_coding` 0x04 and `esm_class` 0x40. With 8-bit references only the low
/// octet of `reference` is used.
pub fn push_segments(
    content: &PushContent,
    opts: &WspOptions,
    reference: u16,
    wide_ref: bool,
) -> Result<Vec<Segment>, WapError> {
    let datagram = wsp_push(content, opts);
    datagram_segments(&datagram, reference, wide_ref)
}

/// Cut an already built WSP datagram into port-addressed parts (see [`push_segments`]).
pub fn datagram_segments(
    datagram: &[u8],
    reference: u16,
    wide_ref: bool,
) -> Result<Vec<Segment>, WapError> {
    let port = InformationElement::Port16 {
        dest: WAP_PUSH_PORT,
        src: WSP_PORT,
    };
    let part = |ies: Vec<InformationElement>, chunk: &[u8]| {
        let mut sm = Udh::new(ies).encode();
        sm.extend_from_slice(chunk);
        make_segment(sm)
    };
    if datagram.len() <= SINGLE_PAYLOAD {
        return Ok(vec![part(vec![port], datagram)]);
    }
    let size = if wide_ref {
        CONCAT16_PAYLOAD
    } else {
        CONCAT8_PAYLOAD
    };
    let parts = datagram.len().div_ceil(size);
    let total = u8::try_from(parts).map_err(|_| WapError::TooLong {
        len: datagram.len(),
        parts,
    })?;
    Ok(datagram
        .chunks(size)
        .zip(1..=total)
        .map(|(chunk, seq)| {
            let concat = if wide_ref {
                InformationElement::Concat16 {
                    reference,
                    total,
                    seq,
                }
            } else {
                InformationElement::Concat8 {
                    reference: (reference & 0xFF) as u8,
                    total,
                    seq,
                }
            };
            part(vec![port.clone(), concat], chunk)
        })
        .collect())
}

/// A UDH-carrying 8-bit segment in `short_message`.
fn make_segment(short_message: Vec<u8>) -> Segment {
    Segment {
        esm_class: WAP_PUSH_ESM_CLASS,
        data_coding: WAP_PUSH_DATA_CODING,
        short_message,
        sar: None,
        message_payload: None,
    }
}

/// A bounds-checked reader over a byte slice.
struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Cursor { buf, pos: 0 }
    }

    fn peek(&self) -> Option<u8> {
        self.buf.get(self.pos).copied()
    }

    fn u8(&mut self, what: &'static str) -> Result<u8, WapError> {
        let b = self.peek().ok_or(WapError::Truncated {
            what,
            offset: self.pos,
        })?;
        self.pos += 1;
        Ok(b)
    }

    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], WapError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len());
        let end = end.ok_or(WapError::Truncated {
            what,
            offset: self.buf.len(),
        })?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    /// mb_u_int32 (WBXML §5.1) = uintvar (WSP §8.1.2): at most 5 octets, value fits u32.
    fn mb_u32(&mut self, what: &'static str) -> Result<u32, WapError> {
        let start = self.pos;
        let mut v: u64 = 0;
        for _ in 0..5 {
            let b = self.u8(what)?;
            v = (v << 7) | u64::from(b & 0x7F);
            if b & 0x80 == 0 {
                return u32::try_from(v).map_err(|_| WapError::Overflow {
                    what,
                    offset: start,
                });
            }
        }
        Err(WapError::Overflow {
            what,
            offset: start,
        })
    }

    /// A NUL-terminated string; the NUL is consumed but not returned.
    fn cstr(&mut self, what: &'static str) -> Result<&'a [u8], WapError> {
        let rest = &self.buf[self.pos..];
        let n = rest
            .iter()
            .position(|&b| b == 0)
            .ok_or(WapError::Truncated {
                what,
                offset: self.buf.len(),
            })?;
        self.pos += n + 1;
        Ok(&rest[..n])
    }
}

/// Decode a WSP connectionless Push PDU (`TID 06 headersLen contentType headers body`) and the
/// SI or SL WBXML body it carries. Accepts the short content-type form (`AE`/`B0`), the general
/// form with parameters (`03 AE 81 EA`), textual content types, and any further headers.
pub fn decode_wsp_push(datagram: &[u8]) -> Result<PushContent, WapError> {
    let mut c = Cursor::new(datagram);
    let _tid = c.u8("TID")?;
    let pdu_type = c.u8("PDU type")?;
    if pdu_type != PDU_PUSH && pdu_type != PDU_CONFIRMED_PUSH {
        return Err(WapError::NotPush { pdu_type });
    }
    let hlen = c.mb_u32("headers length")? as usize;
    let headers = c.take(hlen, "headers")?;
    let is_sl = content_type_is_sl(headers)?;
    decode_wbxml(is_sl, &datagram[c.pos..])
}

/// Read the Content-Type value at the start of the WSP headers (WAP-230 §8.4.2.24): true for
/// SL, false for SI, an error for anything else.
fn content_type_is_sl(headers: &[u8]) -> Result<bool, WapError> {
    let mut c = Cursor::new(headers);
    let first = c.u8("content type")?;
    let media: &[u8] = match first {
        0x80..=0xFF => return known_content_type(first & 0x7F),
        0x20..=0x7F => {
            c.pos -= 1;
            c.cstr("content type")?
        }
        // Content-general-form: Value-length (short-length or 0x1F + uintvar) then media.
        _ => {
            let len = if first == 0x1F {
                c.mb_u32("content type length")? as usize
            } else {
                usize::from(first)
            };
            let mut v = Cursor::new(c.take(len, "content type")?);
            match v.u8("media type")? {
                b @ 0x80..=0xFF => return known_content_type(b & 0x7F),
                // Long-integer media code: short-length octet then big-endian octets.
                n @ 0x01..=0x1E => {
                    let code = v
                        .take(usize::from(n), "media type")?
                        .iter()
                        .fold(0u64, |acc, &b| {
                            acc.saturating_mul(256).saturating_add(u64::from(b))
                        });
                    return match u8::try_from(code) {
                        Ok(code) if code < 0x80 => known_content_type(code),
                        _ => Err(WapError::UnsupportedContentType {
                            content_type: format!("0x{code:X}"),
                        }),
                    };
                }
                _ => {
                    v.pos -= 1;
                    v.cstr("media type")?
                }
            }
        }
    };
    let name = String::from_utf8_lossy(media);
    match name.to_ascii_lowercase().as_str() {
        "application/vnd.wap.sic" => Ok(false),
        "application/vnd.wap.slc" => Ok(true),
        _ => Err(WapError::UnsupportedContentType {
            content_type: name.into_owned(),
        }),
    }
}

/// Map a well-known content-type code (WAP-230 appendix A table 40).
fn known_content_type(code: u8) -> Result<bool, WapError> {
    match code {
        CT_SIC => Ok(false),
        CT_SLC => Ok(true),
        _ => Err(WapError::UnsupportedContentType {
            content_type: format!("0x{code:02X}"),
        }),
    }
}

/// One piece of an attribute value.
#[derive(Debug, Clone, PartialEq, Eq)]
enum ValuePart {
    /// Inline or table string, or an entity.
    Text(String),
    /// An attribute value token (0x80..=0xFF) of the attribute code page.
    Token(u8),
    /// OPAQUE data.
    Opaque(Vec<u8>),
}

/// An attribute as read: start token (`None` for a LITERAL name) and its value parts.
#[derive(Debug, Clone, PartialEq, Eq)]
struct RawAttr {
    start: Option<u8>,
    page: u8,
    value: Vec<ValuePart>,
}

/// A child of an element's content.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Child {
    Text(String),
    Elem(Node),
}

/// A decoded element: tag (`None` for a LITERAL tag), attributes, content (`None` without the
/// content flag).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Node {
    tag: Option<u8>,
    page: u8,
    attrs: Vec<RawAttr>,
    content: Option<Vec<Child>>,
}

/// WBXML document reader: string table, charset and code-page state.
struct Doc<'a> {
    c: Cursor<'a>,
    strtbl: &'a [u8],
    charset: u32,
    tag_page: u8,
    attr_page: u8,
}

impl<'a> Doc<'a> {
    fn text(&self, bytes: &[u8]) -> String {
        if self.charset == CHARSET_LATIN1 {
            bytes.iter().map(|&b| char::from(b)).collect()
        } else {
            String::from_utf8_lossy(bytes).into_owned()
        }
    }

    fn table_str(&self, index: u32) -> Result<String, WapError> {
        let err = WapError::StringTableIndex {
            index,
            len: self.strtbl.len(),
        };
        let rest = self.strtbl.get(index as usize..).ok_or(err.clone())?;
        let n = rest.iter().position(|&b| b == 0).ok_or(err)?;
        Ok(self.text(&rest[..n]))
    }

    fn inline_str(&mut self) -> Result<String, WapError> {
        let s = self.c.cstr("inline string")?;
        Ok(self.text(s))
    }

    fn entity(&mut self) -> Result<String, WapError> {
        let v = self.c.mb_u32("entity")?;
        // NUL cannot be re-encoded in an inline string; it becomes U+FFFD like any invalid code.
        let c = char::from_u32(v).filter(|&c| c != '\0');
        Ok(c.unwrap_or('\u{FFFD}').to_string())
    }

    /// Skip the operand of an extension token.
    fn skip_ext(&mut self, tok: u8) -> Result<(), WapError> {
        match tok {
            EXT_I_0..=EXT_I_2 => {
                self.c.cstr("extension string")?;
            }
            EXT_T_0..=EXT_T_2 => {
                self.c.mb_u32("extension index")?;
            }
            _ => {}
        }
        Ok(())
    }

    /// Skip a processing instruction (the PI token already read): attribute start, values, END.
    fn skip_pi(&mut self) -> Result<(), WapError> {
        self.attributes(true)?;
        Ok(())
    }

    /// Read attributes up to and including END. With `single`, reads one attribute (a PI).
    fn attributes(&mut self, single: bool) -> Result<Vec<RawAttr>, WapError> {
        let mut attrs: Vec<RawAttr> = Vec::new();
        loop {
            let off = self.c.pos;
            let tok = self.c.u8("attribute")?;
            let value_part = match tok {
                SWITCH_PAGE => {
                    self.attr_page = self.c.u8("code page")?;
                    continue;
                }
                END => return Ok(attrs),
                LITERAL => {
                    let idx = self.c.mb_u32("literal attribute")?;
                    self.table_str(idx)?;
                    if single && !attrs.is_empty() {
                        return Err(WapError::UnexpectedToken {
                            token: tok,
                            offset: off,
                            context: "processing instruction",
                        });
                    }
                    attrs.push(RawAttr {
                        start: None,
                        page: self.attr_page,
                        value: Vec::new(),
                    });
                    continue;
                }
                ENTITY => ValuePart::Text(self.entity()?),
                STR_I => ValuePart::Text(self.inline_str()?),
                STR_T => {
                    let idx = self.c.mb_u32("string table index")?;
                    ValuePart::Text(self.table_str(idx)?)
                }
                OPAQUE => {
                    let n = self.c.mb_u32("opaque length")? as usize;
                    ValuePart::Opaque(self.c.take(n, "opaque data")?.to_vec())
                }
                EXT_I_0..=EXT_I_2 | EXT_T_0..=EXT_T_2 | EXT_0..=EXT_2 => {
                    self.skip_ext(tok)?;
                    continue;
                }
                PI | LITERAL_C | LITERAL_A | LITERAL_AC => {
                    return Err(WapError::UnexpectedToken {
                        token: tok,
                        offset: off,
                        context: "attributes",
                    })
                }
                0x05..=0x7F => {
                    if single && !attrs.is_empty() {
                        return Err(WapError::UnexpectedToken {
                            token: tok,
                            offset: off,
                            context: "processing instruction",
                        });
                    }
                    attrs.push(RawAttr {
                        start: Some(tok),
                        page: self.attr_page,
                        value: Vec::new(),
                    });
                    continue;
                }
                _ => ValuePart::Token(tok),
            };
            match attrs.last_mut() {
                Some(a) => a.value.push(value_part),
                None => {
                    return Err(WapError::UnexpectedToken {
                        token: tok,
                        offset: off,
                        context: "attribute value before any attribute start",
                    })
                }
            }
        }
    }

    /// Read one element (its tag token is next; PIs before it are skipped).
    fn element(&mut self, depth: usize) -> Result<Node, WapError> {
        if depth > MAX_DEPTH {
            return Err(WapError::TooDeep {
                max: MAX_DEPTH,
                offset: self.c.pos,
            });
        }
        loop {
            let off = self.c.pos;
            let tok = self.c.u8("element")?;
            match tok {
                SWITCH_PAGE => self.tag_page = self.c.u8("code page")?,
                PI => self.skip_pi()?,
                LITERAL | LITERAL_C | LITERAL_A | LITERAL_AC => {
                    let idx = self.c.mb_u32("literal tag")?;
                    self.table_str(idx)?;
                    return self.element_body(None, tok, depth);
                }
                0x05..=0x3F | 0x45..=0x7F | 0x85..=0xBF | 0xC5..=0xFF => {
                    return self.element_body(Some(tok & 0x3F), tok, depth);
                }
                _ => {
                    return Err(WapError::UnexpectedToken {
                        token: tok,
                        offset: off,
                        context: "element start",
                    })
                }
            }
        }
    }

    fn element_body(&mut self, tag: Option<u8>, tok: u8, depth: usize) -> Result<Node, WapError> {
        let page = self.tag_page;
        let attrs = if tok & HAS_ATTRS != 0 {
            self.attributes(false)?
        } else {
            Vec::new()
        };
        let content = if tok & HAS_CONTENT != 0 {
            Some(self.content(depth)?)
        } else {
            None
        };
        Ok(Node {
            tag,
            page,
            attrs,
            content,
        })
    }

    /// Read content up to and including END.
    fn content(&mut self, depth: usize) -> Result<Vec<Child>, WapError> {
        let mut out = Vec::new();
        loop {
            let off = self.c.pos;
            let tok = self.c.peek().ok_or(WapError::Truncated {
                what: "content",
                offset: off,
            })?;
            match tok {
                END => {
                    self.c.pos += 1;
                    return Ok(out);
                }
                SWITCH_PAGE => {
                    self.c.pos += 1;
                    self.tag_page = self.c.u8("code page")?;
                }
                ENTITY => {
                    self.c.pos += 1;
                    out.push(Child::Text(self.entity()?));
                }
                STR_I => {
                    self.c.pos += 1;
                    out.push(Child::Text(self.inline_str()?));
                }
                STR_T => {
                    self.c.pos += 1;
                    let idx = self.c.mb_u32("string table index")?;
                    out.push(Child::Text(self.table_str(idx)?));
                }
                OPAQUE => {
                    self.c.pos += 1;
                    let n = self.c.mb_u32("opaque length")? as usize;
                    self.c.take(n, "opaque data")?;
                }
                PI => {
                    self.c.pos += 1;
                    self.skip_pi()?;
                }
                EXT_I_0..=EXT_I_2 | EXT_T_0..=EXT_T_2 | EXT_0..=EXT_2 => {
                    self.c.pos += 1;
                    self.skip_ext(tok)?;
                }
                _ => out.push(Child::Elem(self.element(depth + 1)?)),
            }
        }
    }
}

/// Which token tables apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lang {
    Si,
    Sl,
}

/// Attribute name and value prefix of an attribute start token on code page 0.
fn attr_start(lang: Lang, tok: u8) -> Option<(&'static str, &'static str)> {
    let table: &[(u8, &str, &str)] = match lang {
        Lang::Si => &[
            (0x05, "action", "signal-none"),
            (0x06, "action", "signal-low"),
            (0x07, "action", "signal-medium"),
            (0x08, "action", "signal-high"),
            (0x09, "action", "delete"),
            (0x0A, "created", ""),
            (0x0B, "href", ""),
            (0x0C, "href", "http://"),
            (0x0D, "href", "http://www."),
            (0x0E, "href", "https://"),
            (0x0F, "href", "https://www."),
            (0x10, "si-expires", ""),
            (0x11, "si-id", ""),
            (0x12, "class", ""),
        ],
        Lang::Sl => &[
            (0x05, "action", "execute-low"),
            (0x06, "action", "execute-high"),
            (0x07, "action", "cache"),
            (0x08, "href", ""),
            (0x09, "href", "http://"),
            (0x0A, "href", "http://www."),
            (0x0B, "href", "https://"),
            (0x0C, "href", "https://www."),
        ],
    };
    table
        .iter()
        .find(|(t, _, _)| *t == tok)
        .map(|&(_, name, prefix)| (name, prefix))
}

/// Interpreted attributes: (name, value) for string values, (name, parts) kept for dates.
struct Attrs {
    list: Vec<(&'static str, String, Vec<ValuePart>)>,
}

impl Attrs {
    /// Resolve raw attributes with the language's tables; unknown attributes are ignored.
    fn resolve(lang: Lang, raw: &[RawAttr]) -> Self {
        let list = raw
            .iter()
            .filter(|a| a.page == 0)
            .filter_map(|a| {
                let (name, prefix) = attr_start(lang, a.start?)?;
                Some((name, prefix.to_owned(), a.value.clone()))
            })
            .collect();
        Attrs { list }
    }

    /// The last occurrence of an attribute.
    fn get(&self, name: &str) -> Option<(&str, &[ValuePart])> {
        self.list
            .iter()
            .rev()
            .find(|(n, _, _)| *n == name)
            .map(|(_, p, v)| (p.as_str(), v.as_slice()))
    }

    /// A string-valued attribute: prefix + strings + value tokens.
    fn string(&self, name: &'static str) -> Result<Option<String>, WapError> {
        let Some((prefix, parts)) = self.get(name) else {
            return Ok(None);
        };
        let mut s = prefix.to_owned();
        for p in parts {
            match p {
                ValuePart::Text(t) => s.push_str(t),
                ValuePart::Token(tok) => {
                    let v = VALUE_TOKENS.iter().find(|(_, t)| t == tok).ok_or_else(|| {
                        WapError::InvalidAttribute {
                            attribute: name,
                            detail: format!("unknown attribute value token 0x{tok:02X}"),
                        }
                    })?;
                    s.push_str(v.0);
                }
                ValuePart::Opaque(_) => {
                    return Err(WapError::InvalidAttribute {
                        attribute: name,
                        detail: "OPAQUE data in a string attribute".into(),
                    })
                }
            }
        }
        Ok(Some(s))
    }

    /// A date attribute: one OPAQUE (WAP-167 §8.2.2) or a textual `YYYY-MM-DDThh:mm:ssZ`.
    fn date(&self, name: &'static str) -> Result<Option<WapDate>, WapError> {
        let Some((_, parts)) = self.get(name) else {
            return Ok(None);
        };
        match parts {
            [ValuePart::Opaque(o)] => WapDate::from_opaque(o).map(Some).map_err(|e| match e {
                WapError::InvalidAttribute { detail, .. } => WapError::InvalidAttribute {
                    attribute: name,
                    detail,
                },
                other => other,
            }),
            _ => {
                let text = self.string(name)?.unwrap_or_default();
                WapDate::parse_iso(&text)
                    .map(Some)
                    .ok_or_else(|| WapError::InvalidAttribute {
                        attribute: name,
                        detail: format!("not a date: {text:?}"),
                    })
            }
        }
    }
}

fn describe(node: &Node) -> String {
    match node.tag {
        Some(t) => format!("tag 0x{t:02X} on code page {}", node.page),
        None => "a literal tag".into(),
    }
}

/// Decode a WBXML SI or SL document. The public id in the WBXML header (0x05 SI, 0x06 SL) picks
/// the token tables; `content_type_sl` (from the WSP content type) decides when the public id is
/// unknown or a string-table reference. Handles string tables (STR_T), entities, PIs, code-page
/// switches, extension tokens, `<info>` elements, OPAQUE or textual dates. Never panics.
pub fn decode_wbxml(content_type_sl: bool, wbxml: &[u8]) -> Result<PushContent, WapError> {
    let mut c = Cursor::new(wbxml);
    let _version = c.u8("WBXML version")?;
    let public_id = c.mb_u32("public id")?;
    if public_id == 0 {
        c.mb_u32("public id string index")?;
    }
    let charset = c.mb_u32("charset")?;
    let tlen = c.mb_u32("string table length")? as usize;
    let strtbl = c.take(tlen, "string table")?;
    let lang = match public_id {
        PUBLIC_ID_SI => Lang::Si,
        PUBLIC_ID_SL => Lang::Sl,
        _ if content_type_sl => Lang::Sl,
        _ => Lang::Si,
    };
    let mut doc = Doc {
        c,
        strtbl,
        charset,
        tag_page: 0,
        attr_page: 0,
    };
    let root = doc.element(0)?;
    match lang {
        Lang::Si => decode_si(&root).map(PushContent::Si),
        Lang::Sl => decode_sl(&root).map(PushContent::Sl),
    }
}

fn decode_si(root: &Node) -> Result<ServiceIndication, WapError> {
    if root.tag != Some(SI_TAG_SI) || root.page != 0 {
        return Err(WapError::UnexpectedElement {
            expected: "si",
            found: describe(root),
        });
    }
    let children = root.content.as_deref().unwrap_or(&[]);
    let ind = children
        .iter()
        .find_map(|ch| match ch {
            Child::Elem(n) if n.tag == Some(SI_TAG_INDICATION) && n.page == 0 => Some(n),
            _ => None,
        })
        .ok_or_else(|| WapError::UnexpectedElement {
            expected: "indication",
            found: format!("{} children of <si> without it", children.len()),
        })?;
    let attrs = Attrs::resolve(Lang::Si, &ind.attrs);
    let href = attrs.string("href")?.ok_or(WapError::MissingAttribute {
        element: "indication",
        attribute: "href",
    })?;
    let action = match attrs.string("action")? {
        Some(a) => Some(
            SiAction::from_name(&a).ok_or_else(|| WapError::InvalidAttribute {
                attribute: "action",
                detail: format!("{a:?}"),
            })?,
        ),
        None => None,
    };
    let text = ind.content.as_ref().map(|content| {
        content
            .iter()
            .filter_map(|ch| match ch {
                Child::Text(t) => Some(t.as_str()),
                Child::Elem(_) => None,
            })
            .collect::<String>()
    });
    Ok(ServiceIndication {
        href,
        text,
        si_id: attrs.string("si-id")?,
        created: attrs.date("created")?,
        expires: attrs.date("si-expires")?,
        action,
    })
}

fn decode_sl(root: &Node) -> Result<ServiceLoading, WapError> {
    if root.tag != Some(SL_TAG_SL) || root.page != 0 {
        return Err(WapError::UnexpectedElement {
            expected: "sl",
            found: describe(root),
        });
    }
    let attrs = Attrs::resolve(Lang::Sl, &root.attrs);
    let href = attrs.string("href")?.ok_or(WapError::MissingAttribute {
        element: "sl",
        attribute: "href",
    })?;
    let action = match attrs.string("action")? {
        Some(a) => Some(
            SlAction::from_name(&a).ok_or_else(|| WapError::InvalidAttribute {
                attribute: "action",
                detail: format!("{a:?}"),
            })?,
        ),
        None => None,
    };
    Ok(ServiceLoading { href, action })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// Build bytes from hex chunks and quoted ASCII strings.
    fn bytes(parts: &[&str]) -> Vec<u8> {
        let mut out = Vec::new();
        for p in parts {
            if let Some(s) = p.strip_prefix('"') {
                out.extend_from_slice(s.trim_end_matches('"').as_bytes());
            } else {
                out.extend(hex(p));
            }
        }
        out
    }

    fn gni_si() -> ServiceIndication {
        ServiceIndication {
            href: "http://www.gni.ch".into(),
            text: Some("You have 4 new emails".into()),
            si_id: Some("1@gni.ch".into()),
            created: Some(WapDate::new(1999, 6, 25, 15, 23, 15)),
            expires: Some(WapDate::new(2005, 6, 30, 0, 0, 0)),
            action: Some(SiAction::SignalHigh),
        }
    }

    #[test]
    fn wap167_sample_si_is_byte_exact() {
        // wire-formats.md §2.8 (a): Kannel test_si and libwbxml agree on these 70 octets.
        let want = bytes(&[
            "02 05 6A 00 45 C6 0D 03",
            "\"gni.ch\"",
            "00 11 03",
            "\"1@gni.ch\"",
            "00 08 0A C3 07 19 99 06 25 15 23 15 10 C3 04 20 05 06 30 01 03",
            "\"You have 4 new emails\"",
            "00 01 01",
        ]);
        let got = gni_si().to_wbxml();
        assert_eq!(got.len(), 70);
        assert_eq!(got, want);
        assert_eq!(
            decode_wbxml(false, &got).unwrap(),
            PushContent::Si(gni_si())
        );
    }

    #[test]
    fn minimal_si_one_sms_is_byte_exact() {
        // wire-formats.md §2.8 (b).
        let si = ServiceIndication::new("http://www.example.com/news", "Breaking news");
        let content = PushContent::Si(si);
        let opts = WspOptions {
            tid: 1,
            app_id_header: false,
            charset_param: false,
        };
        let segs = push_segments(&content, &opts, 0, false).unwrap();
        assert_eq!(segs.len(), 1);
        let want = hex("06 05 04 0B 84 23 F0  01 06 01 AE
             02 05 6A 00 45 C6 0D 03 65 78 61 6D 70 6C 65 00 85 03 6E 65 77 73 00 01
             03 42 72 65 61 6B 69 6E 67 20 6E 65 77 73 00 01 01");
        assert_eq!(segs[0].short_message, want);
        assert_eq!(segs[0].short_message.len(), 52);
        assert_eq!(segs[0].esm_class, 0x40);
        assert_eq!(segs[0].data_coding, 0x04);
        assert_eq!(decode_wsp_push(&want[7..]).unwrap(), content);
    }

    #[test]
    fn full_si_with_charset_and_app_id_is_byte_exact() {
        // wire-formats.md §2.8 (c).
        let si = ServiceIndication {
            href: "https://www.example.org/offers/summer?id=42".into(),
            text: Some("Summer offer: 20% off".into()),
            si_id: Some("offer-42".into()),
            created: Some(WapDate::new(2026, 1, 15, 10, 30, 0)),
            expires: Some(WapDate::new(2026, 2, 1, 0, 0, 0)),
            action: Some(SiAction::SignalHigh),
        };
        let content = PushContent::Si(si);
        let opts = WspOptions {
            tid: 2,
            app_id_header: true,
            charset_param: true,
        };
        let want_wbxml = hex(
            "02056a0045c60f036578616d706c650088036f66666572732f73756d6d65723f69643d3432
             0011036f666665722d343200080ac30620260115103010c30420260201
             010353756d6d6572206f666665723a20323025206f6666000101",
        );
        let mut want = hex("02 06 06 03 AE 81 EA AF 82");
        want.extend_from_slice(&want_wbxml);
        let got = wsp_push(&content, &opts);
        assert_eq!(got, want);
        assert_eq!(decode_wsp_push(&got).unwrap(), content);
    }

    #[test]
    fn sl_app_jad_is_byte_exact() {
        // wire-formats.md §2.8 (d).
        let content = PushContent::Sl(ServiceLoading {
            href: "http://www.example.org/app.jad".into(),
            action: Some(SlAction::ExecuteLow),
        });
        let opts = WspOptions {
            tid: 3,
            ..WspOptions::default()
        };
        let segs = push_segments(&content, &opts, 7, true).unwrap();
        assert_eq!(segs.len(), 1);
        let want = bytes(&[
            "06 05 04 0B 84 23 F0 03 06 03 B0 AF 82 02 06 6A 00 85 0A 03",
            "\"example\"",
            "00 88 03",
            "\"app.jad\"",
            "00 05 01",
        ]);
        assert_eq!(segs[0].short_message, want);
        assert_eq!(decode_wsp_push(&want[7..]).unwrap(), content);
    }

    #[test]
    fn wsp_header_variants() {
        let sl = PushContent::Sl(ServiceLoading::new("http://a.b/"));
        let si = PushContent::Si(ServiceIndication::new("http://a.b/", "x"));
        let minimal = WspOptions {
            tid: 1,
            app_id_header: false,
            charset_param: false,
        };
        assert_eq!(wsp_push(&si, &minimal)[..4], hex("01 06 01 AE")[..]);
        assert_eq!(wsp_push(&sl, &minimal)[..4], hex("01 06 01 B0")[..]);
        let def = WspOptions::default();
        assert_eq!(wsp_push(&si, &def)[..6], hex("00 06 03 AE AF 82")[..]);
        let cs = WspOptions {
            app_id_header: false,
            charset_param: true,
            ..def
        };
        assert_eq!(wsp_push(&si, &cs)[..7], hex("00 06 04 03 AE 81 EA")[..]);
    }

    #[test]
    fn decodes_third_party_wsp_headers() {
        let body =
            ServiceIndication::new("http://www.example.com/news", "Breaking news").to_wbxml();
        let expect = decode_wbxml(false, &body).unwrap();
        // Kannel PPG (SI): Content-Length and Encoding-Version headers after the content type.
        for header in [
            "00 06 05 AE 8D C6 C3 93",
            "DC 06 01 AE",
            "0B 06 04 03 AE 81 EA",
            "01 07 01 AE",
        ] {
            let mut d = hex(header);
            d.extend_from_slice(&body);
            assert_eq!(decode_wsp_push(&d).unwrap(), expect, "header {header}");
        }
        // Textual content type and general form with a textual media type.
        let mut d = vec![0x05, 0x06, 24];
        d.extend_from_slice(b"application/vnd.wap.sic\0");
        d.extend_from_slice(&body);
        assert_eq!(decode_wsp_push(&d).unwrap(), expect);
        let mut d = vec![0x05, 0x06, 27, 26];
        d.extend_from_slice(b"application/vnd.wap.sic\0\x81\xEA");
        d.extend_from_slice(&body);
        assert_eq!(decode_wsp_push(&d).unwrap(), expect);
        // Unsupported content types and PDU types are errors, not panics.
        assert_eq!(
            decode_wsp_push(&hex("01 06 01 BE 00")),
            Err(WapError::UnsupportedContentType {
                content_type: "0x3E".into()
            })
        );
        assert_eq!(
            decode_wsp_push(&hex("01 04 01 AE")),
            Err(WapError::NotPush { pdu_type: 0x04 })
        );
        assert!(matches!(
            decode_wsp_push(&hex("01 06 05 AE")),
            Err(WapError::Truncated { .. })
        ));
    }

    #[test]
    fn date_vectors() {
        let cases = [
            (
                WapDate::new(1999, 6, 25, 15, 23, 15),
                "19 99 06 25 15 23 15",
            ),
            (WapDate::new(2026, 1, 15, 10, 30, 0), "20 26 01 15 10 30"),
            (WapDate::new(2026, 2, 1, 0, 0, 0), "20 26 02 01"),
            (WapDate::new(2005, 6, 30, 0, 0, 0), "20 05 06 30"),
        ];
        for (d, want) in cases {
            assert_eq!(d.to_opaque(), hex(want), "{d}");
            assert_eq!(WapDate::from_opaque(&hex(want)).unwrap(), d);
            assert_eq!(WapDate::parse_iso(&d.to_string()), Some(d));
        }
        assert_eq!(
            WapDate::new(1999, 6, 25, 15, 23, 15).to_string(),
            "1999-06-25T15:23:15Z"
        );
        assert!(WapDate::from_opaque(&hex("1A")).is_err());
        assert!(WapDate::from_opaque(&hex("20 26 01 01 00 00 00 00")).is_err());
        assert_eq!(WapDate::parse_iso("2026-13-01T00:00:00Z"), None);
        assert_eq!(WapDate::parse_iso("2026-1-01T00:00:00Z"), None);
    }

    #[test]
    fn href_tokenisation_rules() {
        // §2.7: longest prefix, every .com/ .edu/ .net/ .org/, never an empty STR_I.
        let si = |href: &str| ServiceIndication {
            href: href.into(),
            text: None,
            si_id: None,
            created: None,
            expires: None,
            action: None,
        };
        let attrs = |href: &str| {
            let w = si(href).to_wbxml();
            assert_eq!(&w[..6], &hex("02 05 6A 00 45 86")[..]);
            assert_eq!(&w[w.len() - 2..], &[0x01, 0x01]);
            w[6..w.len() - 2].to_vec()
        };
        assert_eq!(
            attrs("http://www.example.com/"),
            bytes(&["0D 03", "\"example\"", "00 85"])
        );
        assert_eq!(
            attrs("https://shop.example.net/a.org/b"),
            bytes(&["0E 03", "\"shop.example\"", "00 87 03 61 00 88 03 62 00"])
        );
        assert_eq!(
            attrs("http://www.nokia.com"),
            bytes(&["0D 03", "\"nokia.com\"", "00"])
        );
        assert_eq!(
            attrs("ftp://x.org/"),
            bytes(&["0B 03", "\"ftp://x\"", "00 88"])
        );
        assert_eq!(attrs("http://www."), hex("0D"));
        assert_eq!(attrs(".edu/.com/"), hex("0B 86 85"));
        // Round trips including the degenerate ones.
        for h in [
            "http://www.example.com/",
            "ftp://x.org/",
            "http://www.",
            "",
            ".edu/.com/",
        ] {
            assert_eq!(
                decode_wbxml(false, &si(h).to_wbxml()).unwrap(),
                PushContent::Si(si(h))
            );
        }
    }

    #[test]
    fn si_without_text_and_with_empty_values() {
        let s = ServiceIndication {
            href: "http://x.net/".into(),
            text: Some(String::new()),
            si_id: Some(String::new()),
            created: None,
            expires: None,
            action: Some(SiAction::Delete),
        };
        let w = s.to_wbxml();
        assert_eq!(
            w,
            bytes(&["02 05 6A 00 45 C6 0C 03", "\"x\"", "00 87 11 09 01 01 01"])
        );
        assert_eq!(decode_wbxml(false, &w).unwrap(), PushContent::Si(s));
    }

    #[test]
    fn decoder_accepts_string_table_entities_and_info() {
        // <si><indication href=STR_T "http://" ...> built by hand with a string table,
        // an entity in the text, a string date, and an <info><item/></info> sibling.
        let mut w = hex("02 05 6A");
        let table = b"example\0";
        w.push(table.len() as u8);
        w.extend_from_slice(table);
        w.extend(hex("45 C6 0C 83 00 85")); // href="http://" + table[0] + ".com/"
        w.extend(hex("0A 03")); // created= as a string
        w.extend_from_slice(b"2026-01-15T10:30:00Z\0");
        w.extend(hex("12 03 61 00")); // class="a" (ignored)
        w.extend(hex("01 03 48 69 00 02 81 69 01")); // "Hi" + entity U+00E9, </indication>
        w.extend(hex("47 08 01 01")); // <info><item/></info>, </si>
        let got = decode_wbxml(false, &w).unwrap();
        let PushContent::Si(si) = got else {
            panic!("expected SI")
        };
        assert_eq!(si.href, "http://example.com/");
        assert_eq!(si.text.as_deref(), Some("Hié"));
        assert_eq!(si.created, Some(WapDate::new(2026, 1, 15, 10, 30, 0)));
        assert_eq!(si.action, None);
    }

    #[test]
    fn decoder_errors() {
        assert!(matches!(
            decode_wbxml(false, &[]),
            Err(WapError::Truncated { .. })
        ));
        // Missing href.
        assert_eq!(
            decode_wbxml(false, &hex("02 05 6A 00 45 C6 08 01 01 01")),
            Err(WapError::MissingAttribute {
                element: "indication",
                attribute: "href"
            })
        );
        // SL root expected, tag 0x06 found (public id says SL).
        assert!(matches!(
            decode_wbxml(true, &hex("02 06 6A 00 86 0D 01")),
            Err(WapError::UnexpectedElement { .. })
        ));
        // Unknown value token in href.
        assert!(matches!(
            decode_wbxml(false, &hex("02 05 6A 00 45 86 0D 99 01 01")),
            Err(WapError::InvalidAttribute { .. })
        ));
        // STR_T outside the table.
        assert!(matches!(
            decode_wbxml(false, &hex("02 05 6A 00 45 86 0D 83 05 01 01")),
            Err(WapError::StringTableIndex { .. })
        ));
        // Over-long mb_u_int32.
        assert!(matches!(
            decode_wbxml(false, &hex("02 FF FF FF FF FF 05")),
            Err(WapError::Overflow { .. })
        ));
        // Deep nesting stops with an error, not a stack overflow.
        let mut deep = hex("02 05 6A 00");
        deep.extend(std::iter::repeat_n(0x45, 10_000));
        assert!(matches!(
            decode_wbxml(false, &deep),
            Err(WapError::TooDeep { .. })
        ));
    }

    #[test]
    fn segmentation_133_128_127() {
        // A text length giving a datagram of exactly `n` octets with default WSP options.
        let with_len = |n: usize| {
            let base = ServiceIndication::new("http://a.b/", "");
            let overhead = wsp_push(&PushContent::Si(base), &WspOptions::default()).len();
            // Text adds len + 2 (STR_I and NUL) over the empty-text document.
            let si = ServiceIndication::new("http://a.b/", "x".repeat(n - overhead - 2));
            let c = PushContent::Si(si);
            assert_eq!(wsp_push(&c, &WspOptions::default()).len(), n);
            c
        };
        let opts = WspOptions::default();
        let one = push_segments(&with_len(133), &opts, 0x1234, false).unwrap();
        assert_eq!(one.len(), 1);
        assert_eq!(&one[0].short_message[..7], &hex("06 05 04 0B 84 23 F0")[..]);
        assert_eq!(one[0].short_message.len(), 140);

        let c = with_len(134);
        let two = push_segments(&c, &opts, 0x1234, false).unwrap();
        assert_eq!(two.len(), 2);
        assert_eq!(
            &two[0].short_message[..12],
            &hex("0B 05 04 0B 84 23 F0 00 03 34 02 01")[..]
        );
        assert_eq!(
            &two[1].short_message[..12],
            &hex("0B 05 04 0B 84 23 F0 00 03 34 02 02")[..]
        );
        assert_eq!(two[0].short_message.len(), 12 + 128);
        assert_eq!(two[1].short_message.len(), 12 + 6);

        let wide = push_segments(&c, &opts, 0x1234, true).unwrap();
        assert_eq!(wide.len(), 2);
        assert_eq!(
            &wide[0].short_message[..13],
            &hex("0C 05 04 0B 84 23 F0 08 04 12 34 02 01")[..]
        );
        assert_eq!(wide[0].short_message.len(), 13 + 127);
        assert_eq!(wide[1].short_message.len(), 13 + 7);

        // Re-joining the chunks gives the datagram back.
        for (segs, udh) in [(&two, 12), (&wide, 13)] {
            let joined: Vec<u8> = segs
                .iter()
                .flat_map(|s| s.short_message[udh..].to_vec())
                .collect();
            assert_eq!(decode_wsp_push(&joined).unwrap(), c);
            assert!(segs.iter().all(|s| s.short_message.len() <= 140));
        }

        // 128 * 3 octets: exactly three 8-bit parts; 127 * 3 + 1: four 16-bit parts.
        assert_eq!(
            push_segments(&with_len(384), &opts, 1, false)
                .unwrap()
                .len(),
            3
        );
        assert_eq!(
            push_segments(&with_len(385), &opts, 1, false)
                .unwrap()
                .len(),
            4
        );
        assert_eq!(
            push_segments(&with_len(381), &opts, 1, true).unwrap().len(),
            3
        );
        assert_eq!(
            push_segments(&with_len(382), &opts, 1, true).unwrap().len(),
            4
        );
    }

    #[test]
    fn too_many_parts_is_an_error() {
        let big = vec![0u8; 128 * 255 + 1];
        assert_eq!(
            datagram_segments(&big, 1, false).unwrap_err(),
            WapError::TooLong {
                len: big.len(),
                parts: 256
            }
        );
        assert_eq!(
            datagram_segments(&big[..128 * 255], 1, false)
                .unwrap()
                .len(),
            255
        );
    }

    #[test]
    fn nul_characters_are_dropped_not_emitted() {
        let si = ServiceIndication::new("http://a\0.b/", "x\0y");
        let w = si.to_wbxml();
        let PushContent::Si(back) = decode_wbxml(false, &w).unwrap() else {
            panic!("expected SI")
        };
        assert_eq!(back.href, "http://a.b/");
        assert_eq!(back.text.as_deref(), Some("xy"));
    }
}
