//! Third-party PDUs through our decoder: every PDU in `fixtures/pdus/` (sent by Kannel,
//! node-smpp and smpplib as ESMEs, and encoded by node-smpp as an SMSC) must decode whole
//! through [`decode_pdu`], encode back to the same bytes, and read as Wireshark's SMPP
//! dissector reads it: every field tshark reported is compared (header, addresses, esm_class,
//! registered_delivery, data_coding, the text after any UDH, the UDH concatenation numbers,
//! message ids, system ids and each TLV's value).

mod common;

use std::collections::BTreeMap;

use common::captured::{self, Captured};
use rusmpp::encode::{Encode, Length};
use rusmpp::tlvs::Tlv;
use rusmpp::{Command, Pdu};
use sms_wire::framing::{decode_pdu, encode_command, esm_class, Frame};
use sms_wire::text;
use sms_wire::udh::Udh;

/// The fields a submit_sm and a deliver_sm share, as our decoder read them.
struct Message {
    service_type: String,
    source: (u8, u8, String),
    dest: (u8, u8, String),
    esm_class: u8,
    registered_delivery: u8,
    data_coding: u8,
    short_message: Vec<u8>,
    tlvs: Vec<Tlv>,
}

macro_rules! message {
    ($m:expr) => {{
        let m = $m;
        Message {
            service_type: m.service_type.value().as_str().to_string(),
            source: (
                u8::from(m.source_addr_ton),
                u8::from(m.source_addr_npi),
                m.source_addr.as_str().to_string(),
            ),
            dest: (
                u8::from(m.dest_addr_ton),
                u8::from(m.dest_addr_npi),
                m.destination_addr.as_str().to_string(),
            ),
            esm_class: u8::from(m.esm_class),
            registered_delivery: u8::from(m.registered_delivery),
            data_coding: u8::from(m.data_coding),
            short_message: m.short_message().as_ref().to_vec(),
            tlvs: m.tlvs().to_vec(),
        }
    }};
}

/// The tshark fields of one PDU, taken off as each is compared; what is left at the end was
/// not compared.
struct Expect<'a> {
    name: &'a str,
    left: BTreeMap<String, String>,
}

impl Expect<'_> {
    fn take(&mut self, field: &str) -> Option<String> {
        self.left.remove(&format!("smpp.{field}"))
    }

    /// A number as tshark writes it: decimal or `0x` hex.
    fn num(&mut self, field: &str) -> Option<u64> {
        let v = self.take(field)?;
        let n = match v.strip_prefix("0x") {
            Some(h) => u64::from_str_radix(h, 16),
            None => v.parse(),
        };
        Some(n.unwrap_or_else(|e| panic!("{}: tshark {field} {v:?}: {e}", self.name)))
    }

    fn eq_num(&mut self, field: &str, ours: u64) {
        if let Some(theirs) = self.num(field) {
            assert_eq!(ours, theirs, "{}: {field}", self.name);
        }
    }

    fn eq_str(&mut self, field: &str, ours: &str) {
        if let Some(theirs) = self.take(field) {
            assert_eq!(ours, theirs, "{}: {field}", self.name);
        }
    }
}

/// tshark's `aa:bb:cc` byte strings.
fn colon_hex(v: &str) -> Vec<u8> {
    v.split(':')
        .filter(|s| !s.is_empty())
        .map(|b| u8::from_str_radix(b, 16).expect("tshark hex byte"))
        .collect()
}

/// The value bytes of a TLV as our decoder holds it (encoded again, tag and length cut off).
fn tlv_value(t: &Tlv) -> Vec<u8> {
    let mut buf = vec![0u8; t.length()];
    let n = t.encode(&mut buf);
    buf.truncate(n);
    buf.split_off(4)
}

/// Each TLV tshark names: its tag, and how tshark writes its value.
enum Shown {
    COctet,
    Number(usize),
    Bytes,
}
const TLVS: [(u16, &str, Shown); 7] = [
    (0x001E, "receipted_message_id", Shown::COctet),
    (0x0427, "message_state", Shown::Number(1)),
    (0x0501, "ussd_service_op", Shown::Number(1)),
    (0x020C, "sar_msg_ref_num", Shown::Number(2)),
    (0x020E, "sar_total_segments", Shown::Number(1)),
    (0x020F, "sar_segment_seqnum", Shown::Number(1)),
    (0x0424, "message_payload", Shown::Bytes),
];
const MORE_MESSAGES_TO_SEND: (u16, &str) = (0x0426, "more_messages_to_send");

fn check_message(m: &Message, e: &mut Expect<'_>) {
    e.eq_str("service_type", &m.service_type);
    e.eq_num("source_addr_ton", m.source.0.into());
    e.eq_num("source_addr_npi", m.source.1.into());
    e.eq_str("source_addr", &m.source.2);
    e.eq_num("dest_addr_ton", m.dest.0.into());
    e.eq_num("dest_addr_npi", m.dest.1.into());
    e.eq_str("destination_addr", &m.dest.2);
    // tshark splits esm_class into its mode (bits 0-1), type (2-5) and features (6-7).
    e.eq_num("esm.submit.msg_mode", u64::from(m.esm_class & 0x03));
    e.eq_num(
        "esm.submit.msg_type",
        u64::from((m.esm_class & esm_class::TYPE_MASK) >> 2),
    );
    e.eq_num("esm.submit.features", u64::from(m.esm_class >> 6));
    e.eq_num("regdel.receipt", u64::from(m.registered_delivery & 0x03));
    e.eq_num("data_coding", m.data_coding.into());
    e.eq_num("sm_length", m.short_message.len() as u64);

    // The UDH, when esm_class says there is one, and the text after it.
    let mut body: &[u8] = &m.short_message;
    if m.esm_class & esm_class::UDHI != 0 {
        let (udh, rest) = Udh::split(body).unwrap_or_else(|err| panic!("{}: UDH: {err:?}", e.name));
        body = rest;
        let concat = udh.concat();
        for (field, ours) in [
            ("msg_id", concat.map(|c| u64::from(c.reference))),
            ("msg_parts", concat.map(|c| u64::from(c.total))),
            ("msg_part", concat.map(|c| u64::from(c.seq))),
        ] {
            if let Some(theirs) = e.left.remove(&format!("gsm_sms.udh.mm.{field}")) {
                assert_eq!(ours, theirs.parse().ok(), "{}: UDH {field}", e.name);
            }
        }
    }
    let payload = m.tlvs.iter().find(|t| u16::from(t.tag()) == 0x0424);
    let text_bytes = match payload {
        Some(p) if body.is_empty() => tlv_value(p),
        _ => body.to_vec(),
    };
    if let Some(theirs) = e.take("message_text") {
        assert_eq!(
            text::decode(m.data_coding, &text_bytes),
            theirs,
            "{}: text",
            e.name
        );
    }

    // Each TLV: tshark's reading against the value bytes our decoder holds.
    for t in &m.tlvs {
        let tag = u16::from(t.tag());
        let ours = tlv_value(t);
        if tag == MORE_MESSAGES_TO_SEND.0 {
            e.eq_num(MORE_MESSAGES_TO_SEND.1, u64::from(ours[0]));
            continue;
        }
        let Some((_, field, shown)) = TLVS.iter().find(|(t, _, _)| *t == tag) else {
            panic!("{}: TLV 0x{tag:04x} has no tshark field in TLVS", e.name);
        };
        let theirs = e
            .take(field)
            .unwrap_or_else(|| panic!("{}: tshark did not read TLV {field}", e.name));
        match shown {
            Shown::COctet => {
                assert_eq!(ours.last(), Some(&0), "{}: {field} NUL", e.name);
                assert_eq!(
                    &ours[..ours.len() - 1],
                    theirs.as_bytes(),
                    "{}: {field}",
                    e.name
                );
            }
            Shown::Number(width) => {
                assert_eq!(ours.len(), *width, "{}: {field} width", e.name);
                let n = ours.iter().fold(0u64, |a, b| a << 8 | u64::from(*b));
                assert_eq!(n.to_string(), theirs, "{}: {field}", e.name);
            }
            Shown::Bytes => assert_eq!(ours, colon_hex(&theirs), "{}: {field}", e.name),
        }
    }
}

fn check(rec: &Captured) {
    let name = rec.name.as_str();
    let cmd: Command = match decode_pdu(&rec.bytes) {
        Frame::Pdu(c) => c,
        Frame::Invalid(bad) => panic!("{name}: not decoded: {}", bad.error),
    };
    assert_eq!(
        encode_command(&cmd),
        rec.bytes,
        "{name}: encoded again differs"
    );

    let mut e = Expect {
        name,
        left: rec.tshark.clone(),
    };
    e.eq_num("command_length", rec.bytes.len() as u64);
    e.eq_num("command_id", u64::from(u32::from(cmd.id())));
    e.eq_num("command_status", u64::from(u32::from(cmd.status())));
    e.eq_num("sequence_number", u64::from(cmd.sequence_number()));
    match cmd.pdu() {
        Some(Pdu::SubmitSm(m)) => check_message(&message!(m), &mut e),
        Some(Pdu::DeliverSm(m)) => check_message(&message!(m), &mut e),
        Some(Pdu::BindTransceiver(b)) => {
            e.eq_str("system_id", b.system_id.as_str());
            e.eq_num("interface_version", u8::from(b.interface_version).into());
        }
        Some(Pdu::BindTransceiverResp(b)) => e.eq_str("system_id", b.system_id.as_str()),
        Some(Pdu::SubmitSmResp(r)) => e.eq_str("message_id", &r.message_id().to_string()),
        Some(Pdu::DeliverSmResp(r)) => e.eq_str("message_id", &r.message_id().to_string()),
        _ => {}
    }
    let left: Vec<&String> = e.left.keys().collect();
    assert!(
        left.is_empty(),
        "{name}: tshark fields not compared: {left:?}"
    );
}

#[test]
fn every_captured_pdu_decodes_reencodes_and_reads_as_wireshark_reads_it() {
    let all = captured::load_all();
    assert!(all.len() >= 30, "{} captured PDUs", all.len());
    for rec in &all {
        check(rec);
    }
}

#[test]
fn the_captures_cover_what_the_gateway_meets() {
    // A fixture set that lost its receipts, UCS-2, UDH, SAR, payload or USSD examples (a
    // capture run gone wrong) would leave those paths untested: name each.
    let all = captured::load_all();
    let has = |what: &str, f: &dyn Fn(&Captured) -> bool| {
        assert!(all.iter().any(f), "no captured PDU with {what}");
    };
    let field = |k: &'static str| move |r: &Captured| r.tshark.contains_key(k);
    has(
        "a receipt's receipted_message_id",
        &field("smpp.receipted_message_id"),
    );
    has("a UDH concatenation", &field("gsm_sms.udh.mm.msg_id"));
    has("SAR TLVs", &field("smpp.sar_msg_ref_num"));
    has("message_payload", &field("smpp.message_payload"));
    has("ussd_service_op", &field("smpp.ussd_service_op"));
    has("UCS-2 text", &|r| {
        r.tshark.get("smpp.data_coding").map(String::as_str) == Some("0x08")
    });
    for f in captured::ESME_FILES {
        assert!(
            captured::load(f).iter().any(|r| r.command_id() == 0x04),
            "{f}: no submit_sm"
        );
    }
}
