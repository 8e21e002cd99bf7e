//! Outbox row -> `submit_sm` PDUs (pure). Text goes as GSM-7 when every character fits, else
//! UCS-2, concatenated with a UDH; a WAP Push goes as 8-bit data with the WDP port IE in every
//! part. `esm_class` is always set explicitly (rusmpp's default is wrong, rusmpp.md §6).

use std::str::FromStr;

use rusmpp::pdus::SubmitSm;
use rusmpp::tlvs::MessageSubmissionRequestTlvValue as Tlv;
use rusmpp::types::{AnyOctetString, COctetString, EmptyOrFullCOctetString, OctetString};
use rusmpp::values::{
    DataCoding, EsmClass, MessagePayload, Npi, PriorityFlag, RegisteredDelivery,
    ReplaceIfPresentFlag, ServiceType, Ton,
};
use sms_wire::segment::{segment_text, ConcatStyle, Segment};
use sms_wire::wap_push::datagram_segments;

/// What one outbox row carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    /// Text for the handset to show.
    Text(String),
    /// A complete WSP push datagram (WAP Push SI/SL), sent to port 2948.
    WapPush(Vec<u8>),
}

/// Fields shared by every submit_sm from this gateway.
#[derive(Debug, Clone)]
pub struct SubmitTemplate {
    /// Source address (the service number).
    pub source: String,
    /// Source TON (0 unknown, 1 international, 3 network specific, 5 alphanumeric...).
    pub source_ton: u8,
    /// Source NPI.
    pub source_npi: u8,
    /// Ask for a final delivery receipt (registered_delivery = 1).
    pub registered_delivery: bool,
    /// Concatenation style for long text.
    pub concat: ConcatStyle,
}

/// Why a row could not be turned into PDUs (a permanent failure for that row).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// The destination is not a usable SMPP address.
    #[error("invalid destination address {0:?}")]
    Destination(String),
    /// The source is not a usable SMPP address.
    #[error("invalid source address {0:?}")]
    Source(String),
    /// Segmentation failed (too long, unrepresentable).
    #[error("cannot segment: {0}")]
    Segment(String),
}

/// Destination address fields: `+8613800138000` -> TON 1 (international), NPI 1, digits only.
pub fn destination_fields(dest: &str) -> Result<(Ton, Npi, COctetString<1, 21>), EncodeError> {
    let digits = dest.strip_prefix('+').unwrap_or(dest);
    if digits.is_empty() || digits.len() > 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(EncodeError::Destination(dest.to_string()));
    }
    let addr =
        COctetString::from_str(digits).map_err(|_| EncodeError::Destination(dest.to_string()))?;
    if dest.starts_with('+') {
        Ok((Ton::International, Npi::Isdn, addr))
    } else {
        Ok((Ton::Unknown, Npi::Isdn, addr))
    }
}

/// SMPP relative time (SMPP 3.4 §7.1.1): `YYMMDDhhmmss000R` for a validity of `secs`.
pub fn relative_time(secs: u64) -> String {
    let days = (secs / 86_400).min(99);
    let rem = secs % 86_400;
    format!(
        "0000{:02}{:02}{:02}{:02}000R",
        days,
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// The segments of one payload, before they become PDUs.
pub fn segments(
    payload: &Payload,
    concat: ConcatStyle,
    reference: u16,
) -> Result<Vec<Segment>, EncodeError> {
    match payload {
        Payload::Text(t) => {
            segment_text(t, concat, reference).map_err(|e| EncodeError::Segment(e.to_string()))
        }
        Payload::WapPush(d) => {
            datagram_segments(d, reference, matches!(concat, ConcatStyle::Udh16))
                .map_err(|e| EncodeError::Segment(e.to_string()))
        }
    }
}

/// Build the submit_sm PDUs for one row. `reference` is the concatenation reference (stable per
/// row, so a retried part is recognised as a duplicate by the handset); `validity_secs` is the
/// time the SMSC may keep trying.
pub fn build_submits(
    t: &SubmitTemplate,
    destination: &str,
    payload: &Payload,
    reference: u16,
    validity_secs: Option<u64>,
) -> Result<Vec<SubmitSm>, EncodeError> {
    build_submits_as(
        t,
        &t.source,
        t.concat,
        destination,
        payload,
        reference,
        validity_secs,
    )
}

/// [`build_submits`] from `source` with `concat` instead of the template's own (a row with a
/// source of its own; a WAP Push, which needs a UDH), without copying the template per row.
pub fn build_submits_as(
    t: &SubmitTemplate,
    source: &str,
    concat: ConcatStyle,
    destination: &str,
    payload: &Payload,
    reference: u16,
    validity_secs: Option<u64>,
) -> Result<Vec<SubmitSm>, EncodeError> {
    let (dest_ton, dest_npi, dest) = destination_fields(destination)?;
    let source =
        COctetString::from_str(source).map_err(|_| EncodeError::Source(source.to_string()))?;
    let validity = match validity_secs {
        Some(s) => EmptyOrFullCOctetString::from_str(&relative_time(s))
            .map_err(|e| EncodeError::Segment(e.to_string()))?,
        None => EmptyOrFullCOctetString::empty(),
    };
    let registered_delivery = RegisteredDelivery::from(u8::from(t.registered_delivery));
    let parts = segments(payload, concat, reference)?;
    parts
        .into_iter()
        .map(|seg| {
            let mut tlvs = Vec::new();
            if let Some(sar) = &seg.sar {
                tlvs.push(Tlv::SarMsgRefNum(sar.reference));
                tlvs.push(Tlv::SarTotalSegments(sar.total));
                tlvs.push(Tlv::SarSegmentSeqnum(sar.seq));
            }
            if let Some(p) = seg.message_payload {
                tlvs.push(Tlv::MessagePayload(MessagePayload::new(
                    AnyOctetString::from_vec(p),
                )));
            }
            // One constructor call with every field: the builder moves the whole PDU through
            // each of its setters (a copy per field, per message).
            Ok(SubmitSm::new(
                ServiceType::default(),
                Ton::from(t.source_ton),
                Npi::from(t.source_npi),
                source.clone(),
                dest_ton,
                dest_npi,
                dest.clone(),
                EsmClass::from(seg.esm_class),
                0,
                PriorityFlag::default(),
                EmptyOrFullCOctetString::empty(),
                validity.clone(),
                registered_delivery,
                ReplaceIfPresentFlag::default(),
                DataCoding::from(seg.data_coding),
                0,
                OctetString::from_vec(seg.short_message)
                    .map_err(|e| EncodeError::Segment(e.to_string()))?,
                tlvs,
            ))
        })
        .collect()
}

/// One USSD dialogue unit to send (wire-formats.md §4): never segmented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UssdSubmit {
    /// The service code or address the session runs on (the MO's destination, `*123#`).
    pub source: String,
    /// The subscriber.
    pub destination: String,
    /// The screen text (at most 182 GSM-7 or 80 UCS-2 characters; the caller checks).
    pub text: String,
    /// `ussd_service_op`: 2 USSR request (menu, expects an answer), 17 PSSR response (final).
    pub op: u8,
    /// `its_session_info` to send (the received one, end-of-session bit set when closing).
    pub session: Option<[u8; 2]>,
    /// `service_type` the carrier expects (`USSD` mostly).
    pub service_type: String,
    /// `data_coding` for GSM-7 text (0x00 by default; some carriers want 0x0F).
    pub gsm7_data_coding: u8,
}

/// The `submit_sm` of a USSD dialogue unit: service_type, `ussd_service_op` and
/// `its_session_info` TLVs (SMPP 3.4 §5.3.2.44, §5.3.2.43), no receipt, one PDU.
pub fn build_ussd(u: &UssdSubmit) -> Result<SubmitSm, EncodeError> {
    use rusmpp::values::{ItsSessionInfo, UssdServiceOp};
    use sms_wire::text::{self, Alphabet};
    let (dest_ton, dest_npi, dest) = destination_fields(&u.destination)?;
    let source =
        COctetString::from_str(&u.source).map_err(|_| EncodeError::Source(u.source.clone()))?;
    let alphabet = text::choose(&u.text);
    let bytes = text::encode(&u.text, alphabet)
        .ok_or_else(|| EncodeError::Segment("unrepresentable USSD text".into()))?;
    let dcs = match alphabet {
        Alphabet::Gsm7 => u.gsm7_data_coding,
        other => other.data_coding(),
    };
    let service_type = ServiceType::new(
        COctetString::from_str(&u.service_type)
            .map_err(|_| EncodeError::Source(u.service_type.clone()))?,
    );
    let mut sm = SubmitSm::builder()
        .service_type(service_type)
        .source_addr_ton(Ton::Unknown)
        .source_addr_npi(Npi::Isdn)
        .source_addr(source)
        .dest_addr_ton(dest_ton)
        .dest_addr_npi(dest_npi)
        .destination_addr(dest)
        .esm_class(EsmClass::from(0))
        .protocol_id(0)
        .registered_delivery(RegisteredDelivery::from(0))
        .data_coding(DataCoding::from(dcs))
        .short_message(
            OctetString::from_vec(bytes).map_err(|e| EncodeError::Segment(e.to_string()))?,
        )
        .build();
    sm.push_tlv(Tlv::UssdServiceOp(UssdServiceOp::from(u.op)));
    if let Some([session, seq]) = u.session {
        sm.push_tlv(Tlv::ItsSessionInfo(ItsSessionInfo::new(session, seq)));
    }
    Ok(sm)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusmpp::{Command, CommandStatus};
    use sms_wire::framing::{decode_pdu, encode_command, Frame};

    fn template(concat: ConcatStyle) -> SubmitTemplate {
        SubmitTemplate {
            source: "10658".into(),
            source_ton: 0,
            source_npi: 0,
            registered_delivery: true,
            concat,
        }
    }

    fn roundtrip(sm: SubmitSm) -> SubmitSm {
        let bytes = encode_command(&Command::new(CommandStatus::EsmeRok, 1, sm));
        match decode_pdu(&bytes) {
            Frame::Pdu(c) => match c.pdu() {
                Some(rusmpp::Pdu::SubmitSm(s)) => s.clone(),
                other => panic!("{other:?}"),
            },
            Frame::Invalid(i) => panic!("{i:?}"),
        }
    }

    #[test]
    fn short_gsm_text_is_one_part_with_explicit_esm_class() {
        let sms = build_submits(
            &template(ConcatStyle::Udh8),
            "+8613800138000",
            &Payload::Text("FAMILY now sees FREE".into()),
            7,
            Some(3600),
        )
        .unwrap();
        assert_eq!(sms.len(), 1);
        let sm = roundtrip(sms[0].clone());
        assert_eq!(u8::from(sm.esm_class), 0x00);
        assert_eq!(u8::from(sm.data_coding), 0x00);
        assert_eq!(sm.destination_addr.to_string(), "8613800138000");
        assert_eq!(sm.dest_addr_ton, Ton::International);
        assert_eq!(u8::from(sm.registered_delivery), 1);
        assert_eq!(sm.validity_period.to_string(), "000000010000000R");
        assert_eq!(sm.short_message().as_ref(), b"FAMILY now sees FREE");
    }

    #[test]
    fn long_chinese_text_is_ucs2_with_udh() {
        let text = "中".repeat(71);
        let sms = build_submits(
            &template(ConcatStyle::Udh8),
            "+8613800138000",
            &Payload::Text(text),
            0x42,
            None,
        )
        .unwrap();
        assert_eq!(sms.len(), 2);
        for (i, sm) in sms.into_iter().enumerate() {
            let sm = roundtrip(sm);
            assert_eq!(u8::from(sm.esm_class), 0x40);
            assert_eq!(u8::from(sm.data_coding), 0x08);
            let b = sm.short_message().as_ref();
            assert_eq!(&b[..6], &[5, 0, 3, 0x42, 2, i as u8 + 1]);
        }
    }

    #[test]
    fn wap_push_carries_port_udh() {
        use sms_wire::wap_push::{wsp_push, PushContent, ServiceIndication, WspOptions};
        let si = PushContent::Si(ServiceIndication::new(
            "http://gw.example.com/a/xyz",
            "Zhang San has a new photo",
        ));
        let datagram = wsp_push(&si, &WspOptions::default());
        let sms = build_submits(
            &template(ConcatStyle::Udh8),
            "+8613800138000",
            &Payload::WapPush(datagram),
            1,
            None,
        )
        .unwrap();
        assert_eq!(sms.len(), 1);
        let sm = roundtrip(sms[0].clone());
        assert_eq!(u8::from(sm.esm_class), 0x40);
        assert_eq!(u8::from(sm.data_coding), 0x04);
        assert_eq!(
            &sm.short_message().as_ref()[..7],
            &[6, 5, 4, 0x0B, 0x84, 0x23, 0xF0]
        );
    }

    #[test]
    fn sar_parts_carry_their_tlvs_and_no_udh() {
        use rusmpp::tlvs::TlvTag;
        let text = "x".repeat(200);
        let sms = build_submits(
            &template(ConcatStyle::Sar),
            "+8613800138000",
            &Payload::Text(text),
            0x0102,
            None,
        )
        .unwrap();
        assert_eq!(sms.len(), 2);
        for sm in sms {
            let sm = roundtrip(sm);
            assert_eq!(u8::from(sm.esm_class), 0x00);
            let tags: Vec<TlvTag> = sm.tlvs().iter().map(|t| t.tag()).collect();
            assert_eq!(
                tags,
                [
                    TlvTag::SarMsgRefNum,
                    TlvTag::SarTotalSegments,
                    TlvTag::SarSegmentSeqnum
                ]
            );
        }
    }

    #[test]
    fn payload_style_sends_one_pdu_with_message_payload() {
        use rusmpp::tlvs::TlvTag;
        let text = "y".repeat(300);
        let sms = build_submits(
            &template(ConcatStyle::Payload),
            "+8613800138000",
            &Payload::Text(text),
            1,
            None,
        )
        .unwrap();
        assert_eq!(sms.len(), 1);
        let sm = roundtrip(sms[0].clone());
        assert!(sm.short_message().as_ref().is_empty());
        let tlv = &sm.tlvs()[0];
        assert_eq!(tlv.tag(), TlvTag::MessagePayload);
        assert_eq!(tlv.value_length(), 300);
    }

    #[test]
    fn a_row_source_and_concat_override_the_template() {
        let sms = build_submits_as(
            &template(ConcatStyle::Sar),
            "95555",
            ConcatStyle::Udh8,
            "+8613800138000",
            &Payload::Text("z".repeat(200)),
            9,
            None,
        )
        .unwrap();
        assert_eq!(sms.len(), 2);
        let sm = roundtrip(sms[1].clone());
        assert_eq!(sm.source_addr.to_string(), "95555");
        assert_eq!(u8::from(sm.esm_class), 0x40);
        assert!(sm.tlvs().is_empty());
        assert_eq!(&sm.short_message().as_ref()[..6], &[5, 0, 3, 9, 2, 2]);
    }

    #[test]
    fn bad_destination_is_a_permanent_error() {
        let e = build_submits(
            &template(ConcatStyle::Udh8),
            "+86abc",
            &Payload::Text("x".into()),
            1,
            None,
        )
        .unwrap_err();
        assert!(matches!(e, EncodeError::Destination(_)));
        assert_eq!(relative_time(2 * 86_400 + 3661), "000002010101000R");
    }

    #[test]
    fn ussd_final_screen_matches_the_wire_formats_vector() {
        // wire-formats.md §4.3 step 4: PSSR response, its_session_info 1A 05.
        let sm = build_ussd(&UssdSubmit {
            source: "123".into(),
            destination: "+15551234567".into(),
            text: "Balance: 12.50 EUR".into(),
            op: 17,
            session: Some([0x1A, 0x05]),
            service_type: "USSD".into(),
            gsm7_data_coding: 0,
        })
        .unwrap();
        let bytes = encode_command(&Command::new(CommandStatus::EsmeRok, 7, sm));
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        // service_type "USSD", then (after the addresses) the text and both TLVs.
        assert_eq!(&hex[32..42], "5553534400", "{hex}");
        let tail = "0000".to_string()
            + "12"
            + "42616c616e63653a2031322e3530204555 52"
                .replace(' ', "")
                .as_str()
            + "0501000111"
            + "138300021a05";
        assert!(hex.ends_with(&tail), "{hex}\n{tail}");
    }
}
