//! The one field of an SMSC's X.509 certificate the gateway reads itself: its end of validity
//! (`notAfter`, RFC 5280 §4.1.2.5), for the log at each TLS bind and
//! `presence_gw_smpp_tls_cert_expiry_seconds`.
//!
//! rustls and webpki check the certificate (chain, name, validity) but expose no field of it;
//! x509-parser reads it. It reads certificates the handshake has just verified; anything it
//! cannot parse gives `None`, never a panic.

/// The `notAfter` of the DER certificate `cert`, in Unix seconds; `None` when it cannot be
/// read.
pub(crate) fn not_after(cert: &[u8]) -> Option<i64> {
    let (_, parsed) = x509_parser::parse_x509_certificate(cert).ok()?;
    Some(parsed.validity().not_after.timestamp())
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
