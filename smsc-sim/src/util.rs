//! Small helpers shared by the simulator modules: wall-clock milliseconds, SMPP receipt dates
//! (`YYMMDDhhmm`, SMPP 3.4 Appendix B), hex rendering and a serde adapter for byte fields.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch (0 if the clock is before 1970).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// (year, month, day, hour, minute, second) in UTC for `ms` since the epoch.
pub fn civil(ms: u64) -> (i64, u32, u32, u32, u32, u32) {
    let secs = (ms / 1000) as i64;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = if m <= 2 { y + 1 } else { y };
    (
        y,
        m,
        d,
        (rem / 3600) as u32,
        ((rem % 3600) / 60) as u32,
        (rem % 60) as u32,
    )
}

/// `YYMMDDhhmm` in UTC, as receipts carry it.
pub fn receipt_date(ms: u64) -> String {
    let (y, mo, d, h, mi, _) = civil(ms);
    format!("{:02}{mo:02}{d:02}{h:02}{mi:02}", y.rem_euclid(100))
}

/// SMPP absolute time `YYMMDDhhmmss000+` in UTC (SMPP 3.4 §7.1.1), for query_sm_resp.
pub fn smpp_time(ms: u64) -> String {
    let (y, mo, d, h, mi, s) = civil(ms);
    format!(
        "{:02}{mo:02}{d:02}{h:02}{mi:02}{s:02}000+",
        y.rem_euclid(100)
    )
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

/// Why `s` is no phone number or number prefix as the simulator's rules take them (digits,
/// after an optional `+`; no space, no letter), or `None` when it is one. A rule naming
/// anything else (`""`, `13*9`, `+86 139`) could never match a destination the simulator
/// takes, so it is refused rather than kept as a rule that never fires.
pub fn number_problem(s: &str) -> Option<String> {
    let d = s.strip_prefix('+').unwrap_or(s);
    if d.is_empty() {
        return Some(format!("{s:?} has no digits"));
    }
    d.chars()
        .find(|c| !c.is_ascii_digit())
        .map(|c| format!("{s:?} holds {c:?}: a number is digits, after an optional +"))
}

/// Only the digits of a phone number (drops `+`, spaces, dashes, parentheses).
pub fn digits(number: &str) -> String {
    number.chars().filter(char::is_ascii_digit).collect()
}

/// A phone number as a query string gave it: `?from=+8613800138000` written unencoded (as
/// a tester types it into curl) is form-decoded to `" 8613800138000"`, `+` being a space
/// there; a leading space before a digit can only have been a `+`, and is read as one.
/// Anything else is as given.
pub fn plus_from_query(number: String) -> String {
    match number.strip_prefix(' ') {
        Some(rest) if rest.starts_with(|c: char| c.is_ascii_digit()) => format!("+{rest}"),
        _ => number,
    }
}

/// `#[serde(deserialize_with)]` for a phone number in a query string ([`plus_from_query`]).
pub fn query_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    <String as serde::Deserialize>::deserialize(d).map(plus_from_query)
}

/// [`query_number`] for an optional parameter (give the field `#[serde(default)]` too). An
/// empty one (`?dest=`, as a script's unset variable writes it) is refused: it filtered
/// everything out, and an empty answer read as "nothing was sent".
pub fn query_number_opt<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<String>, D::Error> {
    match <Option<String> as serde::Deserialize>::deserialize(d)? {
        Some(n) if n.trim().is_empty() => Err(serde::de::Error::custom(
            "an empty number: name one, or leave the key out for every number",
        )),
        n => Ok(n.map(plus_from_query)),
    }
}

/// Whether two numbers name the same subscriber: equal digits, or one ends with the other and
/// the shorter has at least 7 digits (`13800138000` vs `+8613800138000`).
pub fn same_number(a: &str, b: &str) -> bool {
    let (a, b) = (digits(a), digits(b));
    if a.is_empty() || b.is_empty() {
        return false;
    }
    if a == b {
        return true;
    }
    let (short, long) = if a.len() < b.len() {
        (&a, &b)
    } else {
        (&b, &a)
    };
    short.len() >= 7 && long.ends_with(short.as_str())
}

/// serde adapter writing `Vec<u8>` as a hex string.
pub mod hex_bytes {
    use serde::Serializer;

    /// Serialize as lowercase hex.
    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::hex(bytes))
    }
}

/// serde adapter writing `Option<Vec<u8>>` as an optional hex string.
pub mod opt_hex_bytes {
    use serde::Serializer;

    /// Serialize as lowercase hex or null.
    pub fn serialize<S: Serializer>(bytes: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match bytes {
            Some(b) => s.serialize_some(&super::hex(b)),
            None => s.serialize_none(),
        }
    }
}

/// A command_status as SMPP writes it: `0x00000058`.
pub fn status_hex(status: u32) -> String {
    format!("0x{status:08X}")
}

pub use sms_wire::status::status_name;

/// A command_status for logs: `0x00000058 ESME_RTHROTTLED` (the code alone when unnamed).
pub fn status_text(status: u32) -> String {
    match status_name(status) {
        Some(n) => format!("{} {n}", status_hex(status)),
        None => status_hex(status),
    }
}

/// Serde adapter writing a command_status as three JSON keys: `"status": 88` (the number,
/// as before, for scripts that compare it), `"status_hex": "0x00000058"` (as SMPP writes it)
/// and `"status_name": "ESME_RTHROTTLED"` (null for a code SMPP does not name); for a field
/// marked `#[serde(flatten, serialize_with = "status_json::serialize")]`.
pub mod status_json {
    use serde::ser::{SerializeStruct, Serializer};

    /// Serialise `status` as `{"status": N, "status_hex": "0x...", "status_name": ...}`.
    pub fn serialize<S: Serializer>(status: &u32, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("CommandStatus", 3)?;
        st.serialize_field("status", status)?;
        st.serialize_field("status_hex", &super::status_hex(*status))?;
        st.serialize_field("status_name", &super::status_name(*status))?;
        st.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_leading_space_before_digits_in_a_query_number_was_a_plus() {
        let read = |s: &str| plus_from_query(s.to_string());
        assert_eq!(read(" 8613800138000"), "+8613800138000");
        assert_eq!(read("+8613800138000"), "+8613800138000");
        assert_eq!(read("13800138000"), "13800138000");
        // Not a number after the space, or more than one space: as given.
        for s in [" BANK", "  86", " ", "", "10086 "] {
            assert_eq!(read(s), s);
        }
    }

    #[test]
    fn dates() {
        // 2024-02-29 13:45:07 UTC
        let ms = 1_709_214_307_000;
        assert_eq!(civil(ms), (2024, 2, 29, 13, 45, 7));
        assert_eq!(receipt_date(ms), "2402291345");
        assert_eq!(smpp_time(ms), "240229134507000+");
        assert_eq!(civil(0), (1970, 1, 1, 0, 0, 0));
    }

    #[test]
    fn numbers() {
        assert!(same_number("+8613800138000", "13800138000"));
        assert!(same_number("8613800138000", "+86 138-0013-8000"));
        assert!(!same_number("123", "0123"));
        assert!(!same_number("", ""));
        assert_eq!(hex(&[0, 0xab]), "00ab");
    }

    #[derive(serde::Serialize)]
    struct Rec {
        #[serde(flatten, serialize_with = "status_json::serialize")]
        status: u32,
    }

    /// A status shows as its number, as SMPP writes it, and by its SMPP 3.4 name.
    #[test]
    fn statuses_show_as_smpp_writes_them() {
        let v = serde_json::to_value(Rec { status: 0x58 }).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"status": 88, "status_hex": "0x00000058",
                "status_name": "ESME_RTHROTTLED"})
        );
        let v = serde_json::to_value(Rec { status: 0x400 }).unwrap();
        assert_eq!(v["status_hex"], "0x00000400");
        assert!(v["status_name"].is_null());
        assert_eq!(status_text(0xC4), "0x000000C4 ESME_RINVOPTPARAMVAL");
    }
}
