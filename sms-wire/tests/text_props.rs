//! Property tests for the text codecs, UDH, segmentation and reassembly, plus the
//! arbitrary-bytes "fuzz" properties: no decoder may panic on any input.
//!
//! Capacities checked are those of 3GPP TS 23.040 §9.2.3.24.1 as laid out in
//! `shared/reference/wire-formats.md` §3.4: unpacked GSM-7 `short_message` = UDH octets + septets,
//! with `septets <= 160 - ceil(udh_octets * 8 / 7)`; otherwise `short_message <= 140` octets.

use proptest::prelude::*;
use sms_wire::reassembly::{part_from_pdu, Insert, PartOrWhole, Reassembler};
use sms_wire::segment::{segment_binary, segment_text, ConcatStyle, SarInfo, Segment};
use sms_wire::text::{self, Alphabet};
use sms_wire::udh::{InformationElement, Udh};
use sms_wire::{gsm7, latin1, ucs2};

/// Every character of the GSM 03.38 default alphabet and extension table.
fn gsm_chars() -> Vec<char> {
    (0u32..0x400)
        .filter_map(char::from_u32)
        .chain(['€'])
        .filter(|&c| gsm7::char_septets(c).is_some())
        .collect()
}

/// Strings of GSM-7 characters, weighted towards extension characters and plain letters.
fn gsm_string(max: usize) -> impl Strategy<Value = String> {
    let chars = prop_oneof![
        3 => prop::sample::select(gsm_chars()),
        2 => prop::sample::select(vec!['€', '[', ']', '{', '}', '~', '^', '|', '\\', '\u{C}']),
        2 => prop::sample::select(vec!['a', 'b', '0', ' ']),
    ];
    prop::collection::vec(chars, 0..max).prop_map(|v| v.into_iter().collect())
}

/// Strings that force UCS-2: CJK, emoji (surrogate pairs), anything, plus GSM characters.
fn mixed_string(max: usize) -> impl Strategy<Value = String> {
    let chars = prop_oneof![
        2 => prop::sample::select(gsm_chars()),
        2 => prop::char::range('\u{4E00}', '\u{9FFF}'),
        2 => prop::char::range('\u{1F600}', '\u{1F64F}'),
        1 => any::<char>(),
    ];
    prop::collection::vec(chars, 0..max).prop_map(|v| v.into_iter().collect())
}

fn any_style() -> impl Strategy<Value = ConcatStyle> {
    prop::sample::select(vec![
        ConcatStyle::Udh8,
        ConcatStyle::Udh16,
        ConcatStyle::Sar,
        ConcatStyle::Payload,
    ])
}

/// Deterministic Fisher-Yates shuffle driven by a seed (xorshift64*).
fn shuffle<T>(items: &mut [T], seed: u64) {
    let mut state = seed | 1;
    for i in (1..items.len()).rev() {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        let r = state.wrapping_mul(0x2545_F491_4F6C_DD1D);
        items.swap(i, (r % (i as u64 + 1)) as usize);
    }
}

/// Header length (incl. UDHL, 0 if none) and user data of a segment's `short_message`.
fn split_segment(s: &Segment) -> (usize, &[u8]) {
    if s.esm_class & 0x40 != 0 {
        let (udh, used) = Udh::parse(&s.short_message).expect("our UDH parses");
        assert!(udh.concat().is_some() || udh.ports().is_some());
        (used, &s.short_message[used..])
    } else {
        (0, &s.short_message)
    }
}

/// Asserts every segment is within the radio capacity and holds whole characters.
fn check_capacity(segments: &[Segment], style: ConcatStyle) -> Result<(), TestCaseError> {
    for s in segments {
        if style == ConcatStyle::Payload {
            prop_assert!(s.short_message.is_empty());
            prop_assert!(s.message_payload.is_some());
            continue;
        }
        let (udh_len, ud) = split_segment(s);
        if segments.len() > 1 && style != ConcatStyle::Sar {
            prop_assert_eq!(s.esm_class, 0x40);
            prop_assert!(udh_len == 6 || udh_len == 7);
        }
        match s.data_coding {
            0x00 => {
                let cap = if udh_len == 0 {
                    if segments.len() > 1 {
                        152 // SAR parts are sized for a 16-bit reference UDH
                    } else {
                        160
                    }
                } else {
                    160 - (udh_len * 8).div_ceil(7)
                };
                prop_assert!(ud.len() <= cap, "{} septets > {}", ud.len(), cap);
                prop_assert!(s.short_message.len() <= 160);
                prop_assert!(ud.iter().all(|&b| b <= 0x7F));
                // No split escape pair: the septets decode on their own without U+FFFD.
                prop_assert!(!gsm7::decode(ud).contains(char::REPLACEMENT_CHARACTER));
            }
            0x08 => {
                prop_assert!(s.short_message.len() <= 140);
                prop_assert!(udh_len + ud.len() <= 140);
                prop_assert_eq!(ud.len() % 2, 0);
                if segments.len() > 1 && udh_len == 0 {
                    prop_assert!(ud.len() <= 132);
                }
                // No split surrogate pair: each part is strict UTF-16 on its own.
                let units: Vec<u16> = ud
                    .chunks(2)
                    .map(|p| u16::from_be_bytes([p[0], p[1]]))
                    .collect();
                prop_assert!(String::from_utf16(&units).is_ok());
            }
            other => prop_assert!(false, "unexpected data_coding {other:#04x}"),
        }
        if segments.len() == 1 {
            prop_assert_eq!(s.sar.as_ref(), None);
        }
    }
    Ok(())
}

/// Feeds segments (shuffled) through `part_from_pdu` and a reassembler; returns the decoded text.
fn reassemble(segments: &[Segment], seed: u64) -> Result<String, TestCaseError> {
    let mut order: Vec<&Segment> = segments.iter().collect();
    shuffle(&mut order, seed);
    let mut r = Reassembler::new(60_000, 255);
    let mut result = None;
    for (i, s) in order.iter().enumerate() {
        let pw = part_from_pdu(
            "447700900001",
            "1234",
            s.esm_class,
            s.data_coding,
            &s.short_message,
            s.sar.clone(),
            s.message_payload.as_deref(),
        )
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
        match pw {
            PartOrWhole::Whole {
                data_coding,
                payload,
            } => {
                prop_assert_eq!(segments.len(), 1);
                result = Some(text::decode(data_coding, &payload));
            }
            PartOrWhole::Part(p) => match r.insert(p, i as u64) {
                Insert::Complete {
                    data_coding,
                    payload,
                    ..
                } => {
                    prop_assert_eq!(i + 1, segments.len());
                    result = Some(text::decode(data_coding, &payload));
                }
                Insert::Pending { have, total } => {
                    prop_assert_eq!(usize::from(have), i + 1);
                    prop_assert_eq!(usize::from(total), segments.len());
                }
                other => prop_assert!(false, "unexpected {other:?}"),
            },
        }
    }
    prop_assert_eq!(r.pending(), 0);
    result.ok_or_else(|| TestCaseError::fail("never completed"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn gsm7_round_trip(text in gsm_string(300)) {
        let septets = gsm7::encode(&text).expect("representable");
        prop_assert_eq!(Some(septets.len()), gsm7::septet_len(&text));
        prop_assert_eq!(gsm7::decode(&septets), text);
    }

    #[test]
    fn ucs2_round_trip(text in any::<String>()) {
        let bytes = ucs2::encode(&text);
        prop_assert_eq!(bytes.len(), 2 * ucs2::unit_len(&text));
        prop_assert_eq!(ucs2::decode(&bytes), text);
    }

    #[test]
    fn text_round_trip_via_choose(text in prop_oneof![gsm_string(200), mixed_string(200)]) {
        let alphabet = text::choose(&text);
        prop_assert_eq!(alphabet == Alphabet::Gsm7, gsm7::is_representable(&text));
        let bytes = text::encode(&text, alphabet).expect("chosen alphabet encodes");
        prop_assert_eq!(text::decode(alphabet.data_coding(), &bytes), text);
    }

    #[test]
    fn latin1_round_trip(text in "[\\x00-\\u{FF}]{0,200}") {
        let bytes = latin1::encode(&text).expect("latin-1 text");
        prop_assert_eq!(latin1::decode(&bytes), text);
    }

    #[test]
    fn pack_unpack_round_trip(septets in prop::collection::vec(0u8..0x80, 0..200), fill in 0u8..7) {
        let packed = gsm7::pack(&septets, fill);
        prop_assert_eq!(packed.len(), (usize::from(fill) + 7 * septets.len()).div_ceil(8));
        prop_assert_eq!(gsm7::unpack(&packed, fill, septets.len()), septets);
    }

    #[test]
    fn gsm_segments_within_capacity_and_reassemble(
        text in gsm_string(700),
        style in any_style(),
        reference in any::<u16>(),
        seed in any::<u64>(),
    ) {
        let segments = segment_text(&text, style, reference).expect("segmentable");
        check_capacity(&segments, style)?;
        let septets = gsm7::septet_len(&text).unwrap();
        if style != ConcatStyle::Payload {
            prop_assert_eq!(segments.len() == 1, septets <= 160);
        }
        prop_assert_eq!(reassemble(&segments, seed)?, text);
    }

    #[test]
    fn ucs2_segments_within_capacity_and_reassemble(
        text in mixed_string(300),
        style in any_style(),
        reference in any::<u16>(),
        seed in any::<u64>(),
    ) {
        let segments = segment_text(&text, style, reference).expect("segmentable");
        check_capacity(&segments, style)?;
        if style != ConcatStyle::Payload {
            let fits = match gsm7::septet_len(&text) {
                Some(septets) => septets <= 160,
                None => ucs2::unit_len(&text) <= 70,
            };
            prop_assert_eq!(segments.len() == 1, fits);
        }
        prop_assert_eq!(reassemble(&segments, seed)?, text);
    }

    #[test]
    fn binary_with_ports_within_capacity_and_reassembles(
        payload in prop::collection::vec(any::<u8>(), 0..1200),
        style in prop::sample::select(vec![ConcatStyle::Udh8, ConcatStyle::Udh16, ConcatStyle::Sar]),
        reference in any::<u16>(),
        seed in any::<u64>(),
    ) {
        let port = [InformationElement::Port16 { dest: 2948, src: 9200 }];
        let mut segments = segment_binary(&payload, &port, style, reference, 0x04).unwrap();
        let per_part = match (segments.len(), style) {
            (1, _) => 133,
            (_, ConcatStyle::Udh8) => 128,
            _ => 127,
        };
        prop_assert_eq!(segments.len(), if payload.len() <= 133 { 1 } else { payload.len().div_ceil(per_part) });
        for s in &segments {
            prop_assert!(s.short_message.len() <= 140);
            let (udh, rest) = Udh::split(&s.short_message).unwrap();
            prop_assert_eq!(udh.ports(), Some((2948, 9200)));
            prop_assert!(rest.len() <= per_part);
        }
        shuffle(&mut segments, seed);
        let mut r = Reassembler::new(1_000, 255);
        let mut joined = None;
        for s in &segments {
            match part_from_pdu("a", "b", s.esm_class, s.data_coding, &s.short_message, s.sar.clone(), None).unwrap() {
                PartOrWhole::Whole { payload, .. } => joined = Some(payload),
                PartOrWhole::Part(p) => {
                    if let Insert::Complete { payload, .. } = r.insert(p, 0) {
                        joined = Some(payload);
                    }
                }
            }
        }
        prop_assert_eq!(joined, Some(payload));
    }

    #[test]
    fn udh_encode_parse_round_trip(
        elements in prop::collection::vec(
            prop_oneof![
                (any::<u8>(), any::<u8>(), any::<u8>())
                    .prop_map(|(reference, total, seq)| InformationElement::Concat8 { reference, total, seq }),
                (any::<u16>(), any::<u8>(), any::<u8>())
                    .prop_map(|(reference, total, seq)| InformationElement::Concat16 { reference, total, seq }),
                (any::<u8>(), any::<u8>()).prop_map(|(dest, src)| InformationElement::Port8 { dest, src }),
                (any::<u16>(), any::<u16>()).prop_map(|(dest, src)| InformationElement::Port16 { dest, src }),
                (any::<u8>().prop_filter("unknown IEI", |i| ![0, 4, 5, 8].contains(i)),
                 prop::collection::vec(any::<u8>(), 0..20))
                    .prop_map(|(iei, data)| InformationElement::Other { iei, data }),
            ],
            0..10,
        ),
        tail in prop::collection::vec(any::<u8>(), 0..20),
    ) {
        let udh = Udh { elements };
        let bytes = udh.try_encode().expect("small header");
        prop_assert_eq!(bytes.len(), udh.len());
        let sm = [bytes.clone(), tail.clone()].concat();
        let (parsed, rest) = Udh::split(&sm).unwrap();
        prop_assert_eq!(rest, tail.as_slice());
        prop_assert_eq!(parsed, udh);
    }
}

proptest! {
    // Fuzz targets: arbitrary bytes into every decoder. Must never panic.
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn decoders_never_panic(
        bytes in prop::collection::vec(any::<u8>(), 0..400),
        dcs in any::<u8>(),
        fill in any::<u8>(),
        count in 0usize..500,
    ) {
        let g = gsm7::decode(&bytes);
        prop_assert!(g.chars().count() <= bytes.len());
        let u = ucs2::decode(&bytes);
        prop_assert!(u.chars().count() <= bytes.len().div_ceil(2));
        prop_assert_eq!(latin1::decode(&bytes).chars().count(), bytes.len());
        let _ = text::decode(dcs, &bytes);
        let _ = Alphabet::from_data_coding(dcs);
        let unpacked = gsm7::unpack(&bytes, fill, count);
        prop_assert!(unpacked.len() <= count && unpacked.iter().all(|&s| s < 0x80));
        if let Ok((udh, used)) = Udh::parse(&bytes) {
            prop_assert!(used <= bytes.len());
            prop_assert_eq!(used, udh.len());
            prop_assert_eq!(udh.encode(), bytes[..used].to_vec());
            let _ = udh.concat();
            let _ = udh.ports();
        }
    }

    #[test]
    fn part_from_pdu_and_reassembler_never_panic(
        pdus in prop::collection::vec(
            (
                prop::sample::select(vec![0x00u8, 0x40, 0x43, 0xFF]),
                any::<u8>(),
                prop::collection::vec(any::<u8>(), 0..60),
                prop::option::of((any::<u16>(), 0u8..4, 0u8..4)),
                prop::option::of(prop::collection::vec(any::<u8>(), 0..60)),
            ),
            1..8,
        ),
        udh_prefix in prop::sample::select(vec![
            vec![],
            vec![0x05, 0x00, 0x03, 0x01],
            vec![0x06, 0x08, 0x04, 0x00, 0x01],
        ]),
    ) {
        let mut r = Reassembler::new(10, 3).with_max_pending(2);
        for (i, (esm, dcs, sm, sar, payload)) in pdus.into_iter().enumerate() {
            let sm = [udh_prefix.clone(), sm].concat();
            let sar = sar.map(|(reference, total, seq)| SarInfo { reference, total, seq });
            if let Ok(PartOrWhole::Part(p)) =
                part_from_pdu("a", "b", esm, dcs, &sm, sar, payload.as_deref())
            {
                prop_assert!(p.seq >= 1 && p.seq <= p.key.total && p.key.total >= 2);
                let _ = r.insert(p, i as u64 * 4);
                prop_assert!(r.pending() <= 2);
            }
        }
        let _ = r.expire(1_000);
        prop_assert_eq!(r.pending(), 0);
    }
}
