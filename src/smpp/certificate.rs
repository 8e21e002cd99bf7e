//! The one field of an SMSC's X.509 certificate the gateway reads itself: its end of validity
//! (`notAfter`), for the log at each TLS bind and `presence_gw_smpp_tls_cert_expiry_seconds`.
//!
//! rustls and webpki check the certificate (chain, name, validity) but expose no field of it,
//! and no X.509 parser is among the dependencies; a general one (x509-parser and its ASN.1
//! crates) for one date was more than this walk over the first elements of the DER
//! (RFC 5280 §4.1): `Certificate ::= SEQUENCE { tbsCertificate SEQUENCE { [0] version
//! OPTIONAL, serialNumber INTEGER, signature AlgorithmIdentifier, issuer Name, validity
//! SEQUENCE { notBefore Time, notAfter Time }, ... }, ... }`. It reads certificates the
//! handshake has just verified; anything it does not expect gives `None`, never a panic.

/// One DER element at the start of `der`: its tag, its contents and what follows it.
fn element(der: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = der.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        // Long form: the low bits count the length's bytes (at most 4 here: a certificate
        // is far below 4 GiB).
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let (bytes, rest) = rest.split_at_checked(n)?;
        let len = bytes
            .iter()
            .fold(0usize, |len, &b| (len << 8) | usize::from(b));
        (len, rest)
    };
    let (contents, rest) = rest.split_at_checked(len)?;
    Some((tag, contents, rest))
}

/// The element at the start of `der` if it has tag `want`: its contents and what follows.
fn expect(der: &[u8], want: u8) -> Option<(&[u8], &[u8])> {
    let (tag, contents, rest) = element(der)?;
    (tag == want).then_some((contents, rest))
}

const SEQUENCE: u8 = 0x30;
const INTEGER: u8 = 0x02;
const VERSION: u8 = 0xA0;
const UTC_TIME: u8 = 0x17;
const GENERALIZED_TIME: u8 = 0x18;

/// The `notAfter` of the DER certificate `cert`, in Unix seconds; `None` when it cannot be
/// read.
pub(crate) fn not_after(cert: &[u8]) -> Option<i64> {
    let (certificate, _) = expect(cert, SEQUENCE)?;
    let (tbs, _) = expect(certificate, SEQUENCE)?;
    let mut rest = tbs;
    if let Some((_, after_version)) = expect(rest, VERSION) {
        rest = after_version;
    }
    for want in [INTEGER, SEQUENCE, SEQUENCE] {
        // serialNumber, signature, issuer
        rest = expect(rest, want)?.1;
    }
    let (validity, _) = expect(rest, SEQUENCE)?;
    let (_, _, after_not_before) = element(validity)?;
    let (tag, time, _) = element(after_not_before)?;
    time_seconds(tag, time)
}

/// A certificate `Time` (RFC 5280 §4.1.2.5) in Unix seconds: a UTCTime `YYMMDDHHMMSSZ`
/// (years 1950 to 2049) or a GeneralizedTime `YYYYMMDDHHMMSSZ`.
fn time_seconds(tag: u8, text: &[u8]) -> Option<i64> {
    let digits = text.strip_suffix(b"Z")?;
    if !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let number = |d: &[u8]| d.iter().fold(0i64, |n, &b| n * 10 + i64::from(b - b'0'));
    let (year, rest) = match (tag, digits.len()) {
        (UTC_TIME, 12) => {
            let yy = number(&digits[..2]);
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, &digits[2..])
        }
        (GENERALIZED_TIME, 14) => (number(&digits[..4]), &digits[4..]),
        _ => return None,
    };
    let field = |i: usize| number(&rest[i..i + 2]);
    let (month, day, hour, minute, second) = (field(0), field(2), field(4), field(6), field(8));
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    if second > 60 {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + hour * 3_600 + minute * 60 + second)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`, the
/// inverse of `service::clock`'s `civil_from_days`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A self-signed certificate valid until the start of day `y-m-d` (UTC), DER.
    fn certificate(y: i32, m: u8, d: u8) -> Vec<u8> {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut p = rcgen::CertificateParams::new(vec!["smsc.example.net".to_string()]).unwrap();
        p.not_after = rcgen::date_time_ymd(y, m, d);
        p.self_signed(&key).unwrap().der().to_vec()
    }

    #[test]
    fn not_after_is_read_from_a_certificate_in_either_time_form() {
        // Before 2050 a UTCTime, from 2050 a GeneralizedTime (RFC 5280 §4.1.2.5).
        for (y, m, d, unix) in [
            (2027, 1, 15, 1_799_971_200),
            (2049, 12, 31, 2_524_521_600),
            (2050, 1, 1, 2_524_608_000),
            (2100, 3, 1, 4_107_542_400),
        ] {
            let der = certificate(y, m, d);
            assert_eq!(not_after(&der), Some(unix), "{y}-{m}-{d}");
        }
    }

    #[test]
    fn times_are_read_to_the_second_and_bad_ones_refused() {
        assert_eq!(
            time_seconds(UTC_TIME, b"270115103005Z"),
            Some(1_800_009_005)
        );
        assert_eq!(time_seconds(UTC_TIME, b"700101000000Z"), Some(0));
        assert_eq!(time_seconds(UTC_TIME, b"991231235959Z"), Some(946_684_799));
        assert_eq!(
            time_seconds(GENERALIZED_TIME, b"20270115103005Z"),
            Some(1_800_009_005)
        );
        for (tag, bad) in [
            (UTC_TIME, &b"270115103005"[..]),         // no Z
            (UTC_TIME, b"2701151030Z"),               // no seconds
            (UTC_TIME, b"271315103005Z"),             // month 13
            (UTC_TIME, b"27011510300+Z"),             // not a digit
            (GENERALIZED_TIME, b"270115103005Z"),     // a UTCTime's length
            (INTEGER, b"270115103005Z"),              // not a time
            (GENERALIZED_TIME, b"20270115103005.5Z"), // fractions: not DER for a certificate
        ] {
            assert_eq!(
                time_seconds(tag, bad),
                None,
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn anything_but_a_certificate_gives_none() {
        let der = certificate(2030, 6, 1);
        for cut in [0, 1, 2, 10, der.len() / 2] {
            assert_eq!(not_after(&der[..cut]), None, "cut at {cut}");
        }
        assert_eq!(not_after(b"not DER at all"), None);
        assert_eq!(not_after(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]), None);
        assert_eq!(not_after(&[0x30, 0x85, 0, 0, 0, 0, 1]), None);
    }
}
