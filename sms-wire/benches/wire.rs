//! Criterion benchmarks of sms-wire's hot paths, reported in messages per second
//! (`Throughput::Elements`, shown by criterion as `thrpt: ... elem/s`).
//!
//! * `encode_segment`: text -> alphabet choice -> encoded, UDH-concatenated parts
//!   (a 300-character GSM-7 text = 2 parts, a 150-character Chinese text = 3 UCS-2 parts);
//! * `decode_reassemble`: the same parts in shuffled order -> `part_from_pdu` -> `Reassembler`
//!   -> decoded text;
//! * `smpp_decode`: `SmppCodec` cutting and decoding a stream of `submit_sm` PDUs;
//! * `wap_push`: SI -> WBXML -> WSP -> port-addressed parts, and the reverse;
//! * `receipt`: delivery receipt parse and format.
//!
//! Run: `cargo bench -p sms-wire --bench wire`. Every setup asserts its round trip first, so a
//! broken codec fails the bench instead of timing garbage.

use std::hint::black_box;
use std::str::FromStr;

use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sms_wire::framing::{encode_command, Frame, SmppCodec};
use sms_wire::reassembly::{part_from_pdu, Insert, PartOrWhole, Reassembler};
use sms_wire::receipt::DeliveryReceipt;
use sms_wire::rusmpp::pdus::SubmitSm;
use sms_wire::rusmpp::types::{COctetString, OctetString};
use sms_wire::rusmpp::values::{DataCoding, EsmClass, Npi, Ton};
use sms_wire::rusmpp::{Command, CommandStatus};
use sms_wire::segment::{segment_text, ConcatStyle, Segment};
use sms_wire::text;
use sms_wire::wap_push::{
    decode_wsp_push, push_segments, PushContent, ServiceIndication, SiAction, WapDate, WspOptions,
};
use tokio_util::codec::Decoder;

/// A 300-character GSM-7 text (with extension-table characters, so escapes are exercised).
fn gsm_text() -> String {
    let base = "Your balance is 12.50 EUR [€]. Top up at shop {A|B} or dial *100#. ";
    base.chars().cycle().take(300).collect()
}

/// A 150-character Chinese text (UCS-2).
fn chinese_text() -> String {
    "查询余额请回复一您的账户余额为十二元五角谢谢使用本服务"
        .chars()
        .cycle()
        .take(150)
        .collect()
}

/// Deterministic shuffle (xorshift), so every run reassembles the same order.
fn shuffled<T: Clone>(items: &[T], seed: u64) -> Vec<T> {
    let mut v = items.to_vec();
    let mut x = seed | 1;
    for i in (1..v.len()).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.swap(i, (x % (i as u64 + 1)) as usize);
    }
    v
}

/// Reassemble shuffled parts and decode the text; `None` if the message did not complete.
fn reassemble(parts: &[Segment]) -> Option<String> {
    let mut r = Reassembler::new(60_000, 16);
    for seg in parts {
        match part_from_pdu(
            "15551234567",
            "10658",
            seg.esm_class,
            seg.data_coding,
            &seg.short_message,
            seg.sar.clone(),
            seg.message_payload.as_deref(),
        )
        .ok()?
        {
            PartOrWhole::Whole {
                data_coding,
                payload,
            } => return Some(text::decode(data_coding, &payload)),
            PartOrWhole::Part(p) => {
                if let Insert::Complete {
                    data_coding,
                    payload,
                    ..
                } = r.insert(p, 0)
                {
                    return Some(text::decode(data_coding, &payload));
                }
            }
        }
    }
    None
}

fn bench_text(c: &mut Criterion) {
    // Expected part counts worked out independently of the segmenter: GSM-7 extension-table
    // characters take two septets; 153 septets (GSM-7) or 67 UTF-16 units (UCS-2) per part.
    let gsm = gsm_text();
    let septets: usize = gsm
        .chars()
        .map(|c| if "^{}\\[~]|€".contains(c) { 2 } else { 1 })
        .sum();
    let chinese = chinese_text();
    let units = chinese.encode_utf16().count();
    let cases = [
        ("gsm7_300", gsm, septets.div_ceil(153)),
        ("ucs2_150_chinese", chinese, units.div_ceil(67)),
    ];

    let mut g = c.benchmark_group("encode_segment");
    g.throughput(Throughput::Elements(1));
    for (name, msg, parts) in &cases {
        let segs = segment_text(msg, ConcatStyle::Udh8, 0x2A).expect("segments");
        assert_eq!(segs.len(), *parts, "{name}");
        g.bench_function(*name, |b| {
            b.iter(|| segment_text(black_box(msg), ConcatStyle::Udh8, 0x2A))
        });
    }
    g.finish();

    let mut g = c.benchmark_group("decode_reassemble");
    g.throughput(Throughput::Elements(1));
    for (name, msg, _) in &cases {
        let segs = segment_text(msg, ConcatStyle::Udh8, 0x2A).expect("segments");
        let mixed = shuffled(&segs, 0x5EED);
        assert_eq!(reassemble(&mixed).as_deref(), Some(msg.as_str()), "{name}");
        g.bench_function(*name, |b| b.iter(|| reassemble(black_box(&mixed))));
    }
    g.finish();
}

/// One `submit_sm` PDU (SMPP 3.4 §4.4.1) carrying `seg`.
fn submit_pdu(seg: &Segment, seq: u32) -> Vec<u8> {
    let sm = SubmitSm::builder()
        .source_addr_ton(Ton::Alphanumeric)
        .source_addr_npi(Npi::Unknown)
        .source_addr(COctetString::from_str("PresenceGW").expect("ascii"))
        .dest_addr_ton(Ton::International)
        .dest_addr_npi(Npi::Isdn)
        .destination_addr(COctetString::from_str("15551234567").expect("ascii"))
        .esm_class(EsmClass::from(seg.esm_class))
        .protocol_id(0)
        .data_coding(DataCoding::from(seg.data_coding))
        .short_message(OctetString::from_vec(seg.short_message.clone()).expect("<= 255 octets"))
        .build();
    encode_command(&Command::new(CommandStatus::EsmeRok, seq, sm))
}

/// Cut and decode every PDU in `stream`; returns how many decoded as `Frame::Pdu`.
fn decode_stream(stream: &BytesMut) -> usize {
    let mut buf = stream.clone();
    let mut codec = SmppCodec::new();
    let mut ok = 0;
    while let Ok(Some(frame)) = codec.decode(&mut buf) {
        if matches!(frame, Frame::Pdu(_)) {
            ok += 1;
        }
    }
    ok
}

fn bench_smpp(c: &mut Criterion) {
    const N: usize = 1000;
    let mut segs = segment_text(&gsm_text(), ConcatStyle::Udh8, 7).expect("segments");
    segs.extend(segment_text(&chinese_text(), ConcatStyle::Udh16, 8).expect("segments"));
    let mut stream = BytesMut::new();
    for i in 0..N {
        stream.extend_from_slice(&submit_pdu(&segs[i % segs.len()], i as u32 + 1));
    }
    assert_eq!(decode_stream(&stream), N);

    let mut g = c.benchmark_group("smpp_decode");
    g.throughput(Throughput::Elements(N as u64));
    g.bench_function("submit_sm_stream_1000", |b| {
        b.iter(|| decode_stream(black_box(&stream)))
    });
    g.finish();
}

fn bench_wap(c: &mut Criterion) {
    let si = PushContent::Si(ServiceIndication {
        href: "https://www.example.org/offers/summer?id=42".into(),
        text: Some("Summer offer: 20% off".into()),
        si_id: Some("offer-42".into()),
        created: Some(WapDate::new(2026, 1, 15, 10, 30, 0)),
        expires: Some(WapDate::new(2026, 2, 1, 0, 0, 0)),
        action: Some(SiAction::SignalHigh),
    });
    let opts = WspOptions::default();
    let segs = push_segments(&si, &opts, 1, false).expect("segments");
    assert_eq!(segs.len(), 1);
    let datagram = segs[0].short_message[7..].to_vec();
    assert_eq!(decode_wsp_push(&datagram).as_ref(), Ok(&si));

    let mut g = c.benchmark_group("wap_push");
    g.throughput(Throughput::Elements(1));
    g.bench_function("si_encode_segment", |b| {
        b.iter(|| push_segments(black_box(&si), &opts, 1, false))
    });
    g.bench_function("si_decode", |b| {
        b.iter(|| decode_wsp_push(black_box(&datagram)))
    });
    g.finish();
}

fn bench_receipt(c: &mut Criterion) {
    let text = "id:0123456789 sub:001 dlvrd:001 submit date:2611221530 done date:2611221531 stat:DELIVRD err:000 text:Hello";
    let r = DeliveryReceipt::parse(text).expect("receipt");
    assert_eq!(r.format(), text);

    let mut g = c.benchmark_group("receipt");
    g.throughput(Throughput::Elements(1));
    g.bench_function("parse", |b| {
        b.iter(|| DeliveryReceipt::parse(black_box(text)))
    });
    g.bench_function("format", |b| b.iter(|| black_box(&r).format()));
    g.finish();
}

criterion_group!(benches, bench_text, bench_smpp, bench_wap, bench_receipt);
criterion_main!(benches);
