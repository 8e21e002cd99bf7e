//! Building the PDUs the simulator originates: delivery receipts (SMPP 3.4 §5.2.12 esm_class 0x04,
//! Appendix B text, §5.3.2.12 `receipted_message_id`, §5.3.2.35 `message_state`), MO parts
//! (UDH 8/16-bit, SAR TLVs §5.3.2.22-24, `message_payload` §5.3.2.32), USSD messages
//! (§5.3.2.44 `ussd_service_op`, §5.3.2.43 `its_session_info`, service_type `USSD`) and the
//! deliberately malformed PDUs of fault injection. Also reads fields back out of PDUs.

use rusmpp::pdus::DeliverSm;
use rusmpp::tlvs::{MessageDeliveryRequestTlvValue as Tlv, TlvTag, TlvValue};
use rusmpp::types::{AnyOctetString, COctetString, OctetString};
use rusmpp::values::{
    DataCoding, EsmClass, ItsSessionInfo, MessagePayload, MessageState, Npi, RegisteredDelivery,
    ServiceType, Ton, UssdServiceOp,
};
use serde::{Deserialize, Serialize};
use sms_wire::framing::find_tlv;
use sms_wire::receipt::{DeliveryReceipt, ReceiptStatus};
use sms_wire::segment::{self, ConcatStyle, Segment};
use sms_wire::text::Alphabet;

use crate::config::ReceiptStat;
use crate::recorder::MtRecord;
use crate::util::receipt_date;

/// Errors building simulator-originated PDUs.
#[derive(Debug, thiserror::Error)]
pub enum PduError {
    /// The text cannot be encoded or segmented.
    #[error("cannot segment the MO text: {0}")]
    Segment(#[from] segment::SegmentError),
    /// An MO without a sender or a destination (`from` / `to`).
    #[error("an MO needs a {0} address")]
    Missing(&'static str),
    /// An address is not a valid SMPP address (ASCII, at most 20 characters).
    #[error("address {addr:?} is not ASCII of at most 20 characters")]
    Address {
        /// The address given.
        addr: String,
    },
    /// A concatenation reference above 255 for the 8-bit UDH style.
    #[error("reference {0} does not fit an 8-bit UDH reference (0 to 255); use style udh16 or sar for a 16-bit one")]
    Reference(u16),
    /// `lost_parts` that make no sense for the message (it is not concatenated, or a part
    /// past its last).
    #[error("lost_parts: {0}")]
    LostParts(String),
    /// A field exceeded its SMPP limit.
    #[error("{field} is too long ({len} bytes)")]
    TooLong {
        /// Which field.
        field: &'static str,
        /// Its length.
        len: usize,
    },
}

/// How a long MO is split (see `sms_wire::segment::ConcatStyle`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum MoStyle {
    /// UDH concatenation with an 8-bit reference (IEI 0x00).
    #[default]
    Udh8,
    /// UDH concatenation with a 16-bit reference (IEI 0x08).
    Udh16,
    /// SAR TLVs.
    Sar,
    /// One deliver_sm with a `message_payload` TLV.
    Payload,
}

impl From<MoStyle> for ConcatStyle {
    fn from(s: MoStyle) -> Self {
        match s {
            MoStyle::Udh8 => ConcatStyle::Udh8,
            MoStyle::Udh16 => ConcatStyle::Udh16,
            MoStyle::Sar => ConcatStyle::Sar,
            MoStyle::Payload => ConcatStyle::Payload,
        }
    }
}

impl std::str::FromStr for MoStyle {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "udh8" => Ok(MoStyle::Udh8),
            "udh16" => Ok(MoStyle::Udh16),
            "sar" => Ok(MoStyle::Sar),
            "payload" => Ok(MoStyle::Payload),
            o => Err(format!("unknown style {o:?} (udh8|udh16|sar|payload)")),
        }
    }
}

/// Which alphabet an MO uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum MoEncoding {
    /// GSM-7 when every character fits, else UCS-2.
    #[default]
    Auto,
    /// GSM 03.38 (data_coding 0x00).
    Gsm7,
    /// UCS-2 / UTF-16BE (data_coding 0x08).
    Ucs2,
    /// ISO-8859-1 (data_coding 0x03).
    Latin1,
}

impl std::str::FromStr for MoEncoding {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Ok(MoEncoding::Auto),
            "gsm7" | "gsm" => Ok(MoEncoding::Gsm7),
            "ucs2" => Ok(MoEncoding::Ucs2),
            "latin1" => Ok(MoEncoding::Latin1),
            o => Err(format!("unknown encoding {o:?} (auto|gsm7|ucs2|latin1)")),
        }
    }
}

/// A C-octet string address, or an error naming it.
pub fn addr(a: &str) -> Result<COctetString<1, 21>, PduError> {
    if !a.is_ascii() || a.len() > 20 {
        return Err(PduError::Address { addr: a.into() });
    }
    COctetString::from_string(a.to_string()).map_err(|_| PduError::Address { addr: a.into() })
}

/// An address for a field we build from data the ESME sent (already validated); falls back to
/// the empty address instead of failing.
fn addr_lossy(a: &str) -> COctetString<1, 21> {
    addr(a).unwrap_or_else(|_| COctetString::empty())
}

/// The TON of an address: international with a `+` or past ten digits (a national number
/// is presented in international form first, [`crate::handset::presented`]).
fn ton_for(a: &str) -> Ton {
    if a.starts_with('+') || a.len() > 10 {
        Ton::International
    } else if a.bytes().all(|b| b.is_ascii_digit()) {
        Ton::Unknown
    } else {
        Ton::Alphanumeric
    }
}

/// An address as the wire carries it, with its TON and NPI: `+` and digits is TON
/// international with the digits alone (the `+` is no digit of an ISDN number: TON 1 says it);
/// anything else goes as written, typed by [`ton_for`] and [`npi_for`].
fn on_wire(a: &str) -> (Ton, Npi, &str) {
    match a.strip_prefix('+') {
        Some(d) if !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()) => {
            (Ton::International, Npi::Isdn, d)
        }
        _ => (ton_for(a), npi_for(a), a),
    }
}

fn npi_for(a: &str) -> Npi {
    if a.bytes().all(|b| b.is_ascii_digit() || b == b'+') {
        Npi::Isdn
    } else {
        Npi::Unknown
    }
}

fn base(from: &str, to: &str) -> Result<rusmpp::pdus::builders::DeliverSmBuilder, PduError> {
    let (from_ton, from_npi, from) = on_wire(from);
    let (to_ton, to_npi, to) = on_wire(to);
    Ok(DeliverSm::builder()
        .source_addr_ton(from_ton)
        .source_addr_npi(from_npi)
        .source_addr(addr(from)?)
        .dest_addr_ton(to_ton)
        .dest_addr_npi(to_npi)
        .destination_addr(addr(to)?)
        .registered_delivery(RegisteredDelivery::from(0))
        .esm_class(EsmClass::from(0x00)))
}

fn octets(field: &'static str, v: Vec<u8>) -> Result<OctetString<0, 255>, PduError> {
    let len = v.len();
    OctetString::from_vec(v).map_err(|_| PduError::TooLong { field, len })
}

fn receipt_status(s: ReceiptStat) -> ReceiptStatus {
    match s {
        ReceiptStat::Delivrd => ReceiptStatus::Delivered,
        ReceiptStat::Undeliv => ReceiptStatus::Undeliverable,
        ReceiptStat::Expired => ReceiptStatus::Expired,
        ReceiptStat::Rejectd => ReceiptStatus::Rejected,
        ReceiptStat::Deleted => ReceiptStatus::Deleted,
        ReceiptStat::Enroute => ReceiptStatus::Enroute,
        ReceiptStat::Acceptd => ReceiptStatus::Accepted,
        ReceiptStat::Unknown => ReceiptStatus::Unknown,
    }
}

/// The delivery receipt for MT `rec` (SMPP 3.4 Appendix B): from the handset back to the ESME's
/// source address, with `receipted_message_id` = `message_id` and the text's `id:` = `text_id`.
/// Its addresses keep the submit's types: the source the TON/NPI of the submit's destination
/// (a national number stays national), the destination those of the submit's source.
pub fn receipt(
    rec: &MtRecord,
    message_id: &str,
    text_id: &str,
    stat: ReceiptStat,
    submit_ms: u64,
    done_ms: u64,
) -> DeliverSm {
    let mut d = receipt_between(
        &rec.dest,
        &rec.source,
        &rec.text,
        message_id,
        text_id,
        stat,
        submit_ms,
        done_ms,
    );
    d.source_addr = addr_lossy(&rec.dest);
    d.destination_addr = addr_lossy(&rec.source);
    d.source_addr_ton = Ton::from(rec.dest_ton);
    d.source_addr_npi = Npi::from(rec.dest_npi);
    d.dest_addr_ton = Ton::from(rec.source_ton);
    d.dest_addr_npi = Npi::from(rec.source_npi);
    d
}

/// A delivery receipt from handset `from` to ESME address `to` about `message_id` (TLV) /
/// `text_id` (the `id:` text), quoting the first 20 characters of `original` (SMPP 3.4
/// Appendix B). [`receipt`] uses it for accepted MT; tests use it for ids never issued.
#[allow(clippy::too_many_arguments)]
pub fn receipt_between(
    from: &str,
    to: &str,
    original: &str,
    message_id: &str,
    text_id: &str,
    stat: ReceiptStat,
    submit_ms: u64,
    done_ms: u64,
) -> DeliverSm {
    let mut r = DeliveryReceipt::new(text_id, receipt_status(stat));
    r.sub = Some(1);
    r.dlvrd = Some(u32::from(stat == ReceiptStat::Delivrd));
    r.submit_date = Some(receipt_date(submit_ms));
    r.done_date = Some(receipt_date(done_ms));
    r.err = Some(format!("{:03}", stat.err_code()));
    // The quote keeps what its data_coding can carry: ASCII text goes as before (dcs 0);
    // other text as Latin-1 (dcs 3), a character outside it as '?' (one per character, so
    // the quote keeps its length).
    let original: String = original
        .chars()
        .take(20)
        .map(|c| if u32::from(c) < 0x100 { c } else { '?' })
        .collect();
    let dcs = if original.is_ascii() { 0x00 } else { 0x03 };
    r.text = Some(original);
    // Within Latin-1 by the mapping above (the rest of the receipt is ASCII).
    let text = r.format();
    let text = sms_wire::latin1::encode(&text).unwrap_or_else(|| text.into_bytes());
    let (from_ton, from_npi, from) = on_wire(from);
    let (to_ton, to_npi, to) = on_wire(to);
    let mut b = DeliverSm::builder()
        .source_addr_ton(from_ton)
        .source_addr_npi(from_npi)
        .source_addr(addr_lossy(from))
        .dest_addr_ton(to_ton)
        .dest_addr_npi(to_npi)
        .destination_addr(addr_lossy(to))
        .esm_class(EsmClass::from(
            sms_wire::framing::esm_class::DELIVERY_RECEIPT,
        ))
        .registered_delivery(RegisteredDelivery::from(0))
        .data_coding(DataCoding::from(dcs))
        .short_message(OctetString::from_vec(text).unwrap_or_default());
    if let Ok(id) = COctetString::<1, 65>::from_string(message_id.to_string()) {
        b = b.push_tlv(Tlv::ReceiptedMessageId(id));
    }
    b.push_tlv(Tlv::MessageState(MessageState::from(stat.message_state())))
        .build()
}

/// The deliver_sm parts of one MO text.
pub fn mo_parts(
    from: &str,
    to: &str,
    text: &str,
    encoding: MoEncoding,
    style: MoStyle,
    reference: u16,
) -> Result<Vec<DeliverSm>, PduError> {
    for (field, a) in [("from", from), ("to", to)] {
        if a.trim().is_empty() {
            return Err(PduError::Missing(field));
        }
    }
    let segments = match encoding {
        MoEncoding::Auto => segment::segment_text(text, style.into(), reference)?,
        MoEncoding::Gsm7 => {
            segment::segment_encoded(Alphabet::Gsm7, text, style.into(), reference)?
        }
        MoEncoding::Ucs2 => {
            segment::segment_encoded(Alphabet::Ucs2, text, style.into(), reference)?
        }
        MoEncoding::Latin1 => {
            segment::segment_encoded(Alphabet::Latin1, text, style.into(), reference)?
        }
    };
    segments
        .into_iter()
        .map(|s| segment_pdu(from, to, s))
        .collect()
}

/// One deliver_sm carrying a segment.
pub fn segment_pdu(from: &str, to: &str, s: Segment) -> Result<DeliverSm, PduError> {
    let mut b = base(from, to)?
        .esm_class(EsmClass::from(s.esm_class))
        .data_coding(DataCoding::from(s.data_coding))
        .short_message(octets("short_message", s.short_message)?);
    if let Some(sar) = s.sar {
        b = b
            .push_tlv(Tlv::SarMsgRefNum(sar.reference))
            .push_tlv(Tlv::SarTotalSegments(sar.total))
            .push_tlv(Tlv::SarSegmentSeqnum(sar.seq));
    }
    if let Some(p) = s.message_payload {
        b = b.push_tlv(Tlv::MessagePayload(MessagePayload::new(
            AnyOctetString::from_vec(p),
        )));
    }
    Ok(b.build())
}

/// A USSD deliver_sm (service_type `USSD`): `op` is the `ussd_service_op` value (1 PSSR
/// indication opens a session, 18 USSR confirm answers a menu, 16 PSSD indication), the
/// session's `its_session_info` is `(session, seq << 1 | end)` per SMPP 3.4 §5.3.2.43.
pub fn ussd(
    from: &str,
    to: &str,
    text: &str,
    op: u8,
    session: u8,
    seq: u8,
    end: bool,
) -> Result<DeliverSm, PduError> {
    let (dc, bytes) = match sms_wire::text::choose(text) {
        Alphabet::Gsm7 => (0x0F, sms_wire::text::encode(text, Alphabet::Gsm7)),
        a => (a.data_coding(), sms_wire::text::encode(text, a)),
    };
    let bytes = bytes.unwrap_or_else(|| text.as_bytes().to_vec());
    let service = ServiceType::new(
        COctetString::from_string("USSD".to_string()).unwrap_or_else(|_| COctetString::empty()),
    );
    Ok(base(from, to)?
        .service_type(service)
        .data_coding(DataCoding::from(dc))
        .short_message(octets("short_message", bytes)?)
        .push_tlv(Tlv::UssdServiceOp(UssdServiceOp::from(op)))
        .push_tlv(Tlv::ItsSessionInfo(ItsSessionInfo::new(
            session,
            (seq << 1) | u8::from(end),
        )))
        .build())
}

/// Raw bytes of a malformed PDU with sequence number `seq`.
pub fn malformed(kind: crate::faults::MalformedKind, seq: u32) -> Vec<u8> {
    use crate::faults::MalformedKind;
    let mut out = Vec::new();
    let mut header = |len: u32, id: u32| {
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&id.to_be_bytes());
        out.extend_from_slice(&0u32.to_be_bytes());
        out.extend_from_slice(&seq.to_be_bytes());
    };
    match kind {
        MalformedKind::UnknownCommand => {
            header(16, 0x0000_00FF);
        }
        MalformedKind::TruncatedBody => {
            // deliver_sm whose body is only "service_type NUL, ton, npi" and then ends.
            let body = [0u8, 1, 1];
            header(16 + body.len() as u32, 0x0000_0005);
            out.extend_from_slice(&body);
        }
        MalformedKind::ReceiptMissingNul => {
            let mut body = Vec::new();
            body.push(0); // service_type
            body.extend_from_slice(&[1, 1]);
            body.extend_from_slice(b"1\0");
            body.extend_from_slice(&[1, 1]);
            body.extend_from_slice(b"2\0");
            body.extend_from_slice(&[0x04, 0, 0]); // esm_class receipt, protocol_id, priority
            body.extend_from_slice(&[0, 0]); // schedule, validity
            body.extend_from_slice(&[0, 0, 0, 0]); // registered, replace, dcs, default msg id
            let text = b"id:1 stat:DELIVRD err:000";
            body.push(text.len() as u8);
            body.extend_from_slice(text);
            // receipted_message_id 0x001E, length 1, "1" with no NUL.
            body.extend_from_slice(&[0x00, 0x1E, 0x00, 0x01, b'1']);
            header(16 + body.len() as u32, 0x0000_0005);
            out.extend_from_slice(&body);
        }
    }
    out
}

/// The `short_message` of a deliver_sm as lossy text (for receipts and logs).
pub fn short_message_text(d: &DeliverSm) -> String {
    let bytes = d.short_message().as_ref();
    if u8::from(d.data_coding) == 0x03 {
        bytes.iter().map(|&b| char::from(b)).collect()
    } else {
        String::from_utf8_lossy(bytes).into_owned()
    }
}

/// The `receipted_message_id` TLV of a deliver_sm.
pub fn receipted_id(d: &DeliverSm) -> Option<String> {
    match find_tlv(d.tlvs(), TlvTag::ReceiptedMessageId) {
        Some(TlvValue::ReceiptedMessageId(s)) => Some(s.as_str().to_string()),
        _ => None,
    }
}

/// Decode one PDU's own user data to text (UDH removed when `esm_class` has UDHI).
pub fn decode_body(esm_class: u8, data_coding: u8, data: &[u8]) -> String {
    let body = if esm_class & 0x40 != 0 {
        sms_wire::udh::Udh::split(data)
            .map(|(_, r)| r)
            .unwrap_or(data)
    } else {
        data
    };
    sms_wire::text::decode(data_coding, body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusmpp::{Command, CommandStatus};
    use sms_wire::framing::{decode_pdu, encode_command, Frame};

    fn record() -> MtRecord {
        MtRecord {
            id: 1,
            message_id: "0000002a".into(),
            bind_id: 1,
            system_id: "esme".into(),
            command: "submit_sm",
            sequence_number: 1,
            service_type: String::new(),
            source: "1234".into(),
            source_ton: 0,
            source_npi: 0,
            dest: "8613800138000".into(),
            dest_ton: 1,
            dest_npi: 1,
            esm_class: 0,
            data_coding: 0,
            registered_delivery: 1,
            short_message: b"hello".to_vec(),
            message_payload: None,
            sar: None,
            ussd_service_op: None,
            its_session_info: None,
            dest_port: None,
            options: Default::default(),
            text: "hello".into(),
            status: 0,
            received_at_ms: 0,
            replaced_at_ms: None,
            text_before_replace: None,
        }
    }

    #[test]
    fn receipt_fields() {
        let d = receipt(&record(), "0000002a", "42", ReceiptStat::Undeliv, 0, 60_000);
        assert_eq!(u8::from(d.esm_class), 0x04);
        assert_eq!(d.source_addr.as_str(), "8613800138000");
        assert_eq!(d.destination_addr.as_str(), "1234");
        assert_eq!(receipted_id(&d).as_deref(), Some("0000002a"));
        let text = short_message_text(&d);
        let parsed = DeliveryReceipt::parse(&text).unwrap();
        assert_eq!(parsed.id, "42");
        assert_eq!(parsed.stat, Some(ReceiptStatus::Undeliverable));
        assert_eq!(parsed.done_date.as_deref(), Some("7001010001"));
        assert_eq!(parsed.text.as_deref(), Some("hello"));
    }

    /// The quote keeps what the receipt's data_coding carries: Latin-1 (dcs 3) for "Héllo",
    /// '?' in place of a character Latin-1 lacks, not dropped; ASCII stays dcs 0. What the
    /// gateway parses (id, stat, err) is unchanged.
    #[test]
    fn receipt_text_keeps_non_ascii_as_far_as_its_coding_allows() {
        let mut rec = record();
        rec.text = "Héllo…中 from node".into();
        let d = receipt(&rec, "0000002a", "42", ReceiptStat::Delivrd, 0, 0);
        assert_eq!(u8::from(d.data_coding), 0x03);
        let text = short_message_text(&d);
        let parsed = DeliveryReceipt::parse(&text).unwrap();
        assert_eq!(parsed.text.as_deref(), Some("Héllo?? from node"), "{text}");
        assert!(d.short_message().as_ref().contains(&0xE9));
        // As presence-gw reads it (UTF-8, lossy): id and stat intact.
        let lossy = String::from_utf8_lossy(d.short_message().as_ref()).into_owned();
        let parsed = DeliveryReceipt::parse(&lossy).unwrap();
        assert_eq!(parsed.id, "42");
        assert_eq!(parsed.stat, Some(ReceiptStatus::Delivered));
        assert_eq!(parsed.err.as_deref(), Some("000"));
        let ascii = receipt(&record(), "0000002a", "42", ReceiptStat::Delivrd, 0, 0);
        assert_eq!(u8::from(ascii.data_coding), 0x00);
    }

    #[test]
    fn mo_styles_produce_parts() {
        let long = "x".repeat(200);
        let udh = mo_parts(
            "8613800138000",
            "10086",
            &long,
            MoEncoding::Auto,
            MoStyle::Udh8,
            7,
        )
        .unwrap();
        assert_eq!(udh.len(), 2);
        assert_eq!(u8::from(udh[0].esm_class), 0x40);
        let sar = mo_parts("1", "2", &long, MoEncoding::Auto, MoStyle::Sar, 7).unwrap();
        assert_eq!(sar.len(), 2);
        assert!(find_tlv(sar[1].tlvs(), TlvTag::SarSegmentSeqnum).is_some());
        let pl = mo_parts("1", "2", &long, MoEncoding::Ucs2, MoStyle::Payload, 7).unwrap();
        assert_eq!(pl.len(), 1);
        assert!(pl[0].short_message().as_ref().is_empty());
        // Past 20 digits (the `+` is not sent: TON 1 says it).
        assert!(mo_parts(
            "+123456789012345678901",
            "2",
            "a",
            MoEncoding::Auto,
            MoStyle::Udh8,
            1
        )
        .is_err());
    }

    #[test]
    fn ussd_pdu_round_trips() {
        let d = ussd("8613800138000", "*123#", "1", 1, 5, 1, false).unwrap();
        let bytes = encode_command(&Command::new(CommandStatus::EsmeRok, 3, d));
        let Frame::Pdu(c) = decode_pdu(&bytes) else {
            panic!("did not decode")
        };
        let Some(rusmpp::Pdu::DeliverSm(d)) = c.pdu() else {
            panic!("not deliver_sm")
        };
        assert_eq!(d.service_type.value().as_str(), "USSD");
        assert!(matches!(
            find_tlv(d.tlvs(), TlvTag::ItsSessionInfo),
            Some(TlvValue::ItsSessionInfo(i)) if i.session_number == 5 && i.sequence_number == 2
        ));
    }

    #[test]
    fn malformed_pdus_are_well_framed_but_invalid() {
        use crate::faults::MalformedKind::*;
        for k in [TruncatedBody, UnknownCommand, ReceiptMissingNul] {
            let b = malformed(k, 9);
            assert_eq!(
                u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize,
                b.len()
            );
            match decode_pdu(&b) {
                Frame::Invalid(i) => assert_eq!(i.sequence_number, 9),
                // sms-wire repairs the missing NUL (rusmpp alone refuses the PDU).
                Frame::Pdu(c) if k == ReceiptMissingNul => {
                    assert_eq!(c.id(), rusmpp::CommandId::DeliverSm)
                }
                Frame::Pdu(c) => assert!(
                    matches!(c.id(), rusmpp::CommandId::Other(0xFF)),
                    "{k:?} decoded: {c:?}"
                ),
            }
        }
    }
}
