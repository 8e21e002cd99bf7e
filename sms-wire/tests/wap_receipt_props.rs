//! Property tests and fuzz targets for WAP Push (SI/SL, WSP, WDP segments) and delivery receipts.
//!
//! * SI and SL survive WBXML, WSP and segmentation round trips for arbitrary hrefs, texts and
//!   dates, and every part stays within 140 octets with the 2948/9200 port IE;
//! * `decode_wbxml`, `decode_wsp_push` and `DeliveryReceipt::parse` never panic on arbitrary
//!   input, nor on mutations of valid input (these are the crate's fuzz targets, run in CI);
//! * receipts survive `format` -> `parse`; hex and decimal forms of an id always correlate.

use proptest::prelude::*;
use sms_wire::receipt::{
    message_id_variants, normalize_message_id, DeliveryReceipt, ReceiptStatus,
};
use sms_wire::segment::{segment_binary, ConcatStyle};
use sms_wire::udh::{InformationElement, Udh};
use sms_wire::wap_push::{
    decode_wbxml, decode_wsp_push, push_segments, wsp_push, PushContent, ServiceIndication,
    ServiceLoading, SiAction, SlAction, WapDate, WspOptions,
};

/// Hrefs built from the pieces the tokeniser cares about, plus arbitrary text (no NUL).
fn href() -> impl Strategy<Value = String> {
    let prefix = prop::sample::select(vec![
        "",
        "http://",
        "http://www.",
        "https://",
        "https://www.",
        "ftp://",
        "HTTP://",
    ]);
    let piece = prop_oneof![
        "[a-z0-9?=&%/.-]{0,12}",
        Just(".com/".to_string()),
        Just(".edu/".to_string()),
        Just(".net/".to_string()),
        Just(".org/".to_string()),
        "[^\u{0}]{0,6}",
    ];
    (prefix, prop::collection::vec(piece, 0..6)).prop_map(|(p, v)| format!("{p}{}", v.concat()))
}

/// Any string without NUL (an inline WBXML string cannot carry one).
fn no_nul(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(any::<char>().prop_filter("no NUL", |&c| c != '\0'), 0..max)
        .prop_map(|v| v.into_iter().collect())
}

/// Any date whose fields fit their BCD digits (the OPAQUE form round-trips these exactly).
fn date() -> impl Strategy<Value = WapDate> {
    (
        0u16..=9999,
        0u8..=99,
        0u8..=99,
        0u8..=99,
        0u8..=99,
        0u8..=99,
    )
        .prop_map(|(y, mo, d, h, mi, s)| WapDate::new(y, mo, d, h, mi, s))
}

fn si() -> impl Strategy<Value = ServiceIndication> {
    (
        href(),
        prop::option::of(no_nul(40)),
        prop::option::of(no_nul(12)),
        prop::option::of(date()),
        prop::option::of(date()),
        prop::option::of(prop::sample::select(SiAction::ALL.to_vec())),
    )
        .prop_map(
            |(href, text, si_id, created, expires, action)| ServiceIndication {
                href,
                text,
                si_id,
                created,
                expires,
                action,
            },
        )
}

fn sl() -> impl Strategy<Value = ServiceLoading> {
    (
        href(),
        prop::option::of(prop::sample::select(SlAction::ALL.to_vec())),
    )
        .prop_map(|(href, action)| ServiceLoading { href, action })
}

fn content() -> impl Strategy<Value = PushContent> {
    prop_oneof![
        si().prop_map(PushContent::Si),
        sl().prop_map(PushContent::Sl)
    ]
}

fn opts() -> impl Strategy<Value = WspOptions> {
    (any::<u8>(), any::<bool>(), any::<bool>()).prop_map(|(tid, app_id_header, charset_param)| {
        WspOptions {
            tid,
            app_id_header,
            charset_param,
        }
    })
}

/// A valid encoding, then a few byte-level mutations (flip, insert, delete, truncate).
fn mutated(valid: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
    let len = valid.len().max(1);
    prop::collection::vec((0..4u8, 0..len, any::<u8>()), 0..4).prop_map(move |muts| {
        let mut v = valid.clone();
        for (kind, pos, byte) in muts {
            let pos = pos.min(v.len());
            match kind {
                0 if pos < v.len() => v[pos] ^= byte | 1,
                1 => v.insert(pos, byte),
                2 if pos < v.len() => {
                    v.remove(pos);
                }
                _ => v.truncate(pos),
            }
        }
        v
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn si_wbxml_roundtrip(si in si()) {
        let w = si.to_wbxml();
        prop_assert_eq!(&w[..4], &[0x02, 0x05, 0x6A, 0x00][..]);
        prop_assert_eq!(decode_wbxml(false, &w), Ok(PushContent::Si(si.clone())));
        // The public id decides, whatever the content type claims.
        prop_assert_eq!(decode_wbxml(true, &w), Ok(PushContent::Si(si)));
    }

    #[test]
    fn sl_wbxml_roundtrip(sl in sl()) {
        let w = sl.to_wbxml();
        prop_assert_eq!(&w[..5], &[0x02, 0x06, 0x6A, 0x00, 0x85][..]);
        prop_assert_eq!(decode_wbxml(true, &w), Ok(PushContent::Sl(sl)));
    }

    #[test]
    fn encoder_never_emits_an_empty_inline_string(c in content()) {
        let w = c.to_wbxml();
        // STR_I (0x03) directly followed by its NUL terminator would be an empty string. Only
        // check positions where 0x03 is a token: walk the WBXML with the decoder's view is
        // overkill, so use the fact that inline strings hold no 0x03 0x00 pair of their own
        // unless the text contains U+0003, which we exclude here.
        let has_ctrl3 = match &c {
            PushContent::Si(si) => si.href.contains('\u{3}')
                || si.text.as_deref().is_some_and(|t| t.contains('\u{3}'))
                || si.si_id.as_deref().is_some_and(|t| t.contains('\u{3}')),
            PushContent::Sl(sl) => sl.href.contains('\u{3}'),
        };
        prop_assume!(!has_ctrl3);
        // OPAQUE dates may hold 03 00 octets legitimately.
        if let PushContent::Si(si) = &c {
            prop_assume!(si.created.is_none() && si.expires.is_none());
        }
        prop_assert!(!w.windows(2).any(|p| p == [0x03, 0x00]), "empty STR_I in {:02X?}", w);
    }

    #[test]
    fn wsp_push_roundtrip(c in content(), o in opts()) {
        let d = wsp_push(&c, &o);
        prop_assert_eq!(d[0], o.tid);
        prop_assert_eq!(d[1], 0x06);
        prop_assert_eq!(decode_wsp_push(&d), Ok(c));
    }

    #[test]
    fn segments_roundtrip_and_fit(c in content(), o in opts(), reference in any::<u16>(), wide in any::<bool>()) {
        let datagram = wsp_push(&c, &o);
        let segs = push_segments(&c, &o, reference, wide).unwrap();
        let total = segs.len();
        let mut joined = Vec::new();
        for (i, s) in segs.iter().enumerate() {
            prop_assert!(s.short_message.len() <= 140);
            prop_assert_eq!(s.esm_class, 0x40);
            prop_assert_eq!(s.data_coding, 0x04);
            let (udh, rest) = Udh::split(&s.short_message).unwrap();
            prop_assert_eq!(
                udh.elements.first(),
                Some(&InformationElement::Port16 { dest: 2948, src: 9200 })
            );
            if total == 1 {
                prop_assert_eq!(udh.elements.len(), 1);
                prop_assert!(datagram.len() <= 133);
            } else {
                let ci = udh.concat().unwrap();
                prop_assert_eq!(usize::from(ci.total), total);
                prop_assert_eq!(usize::from(ci.seq), i + 1);
                prop_assert_eq!(ci.wide, wide);
                let want_ref = if wide { reference } else { reference & 0xFF };
                prop_assert_eq!(ci.reference, want_ref);
                // Every part but the last is full.
                if i + 1 < total {
                    prop_assert_eq!(rest.len(), if wide { 127 } else { 128 });
                }
            }
            joined.extend_from_slice(rest);
        }
        prop_assert_eq!(&joined, &datagram);
        prop_assert_eq!(decode_wsp_push(&joined), Ok(c));
    }

    #[test]
    fn push_segments_agree_with_the_generic_binary_segmenter(
        c in content(), o in opts(), reference in any::<u16>(), wide in any::<bool>(), pad in 0usize..300,
    ) {
        // Two independent implementations of WDP-over-SMS cutting must give identical parts.
        let mut c = c;
        if let PushContent::Si(si) = &mut c {
            si.text = Some("x".repeat(pad));
        }
        let port = InformationElement::Port16 { dest: 2948, src: 9200 };
        let style = if wide { ConcatStyle::Udh16 } else { ConcatStyle::Udh8 };
        let generic = segment_binary(&wsp_push(&c, &o), &[port], style, reference, 0x04).unwrap();
        prop_assert_eq!(push_segments(&c, &o, reference, wide).unwrap(), generic);
    }

    #[test]
    fn date_opaque_and_iso_roundtrip(d in date()) {
        let o = d.to_opaque();
        prop_assert!(o.len() <= 7);
        prop_assert_ne!(o.last(), Some(&0));
        prop_assert_eq!(WapDate::from_opaque(&o), Ok(d));
        if d.is_valid() {
            prop_assert_eq!(WapDate::parse_iso(&d.to_string()), Some(d));
        }
    }
}

proptest! {
    // Fuzz targets: arbitrary and mutated input must give a value or an error, never a panic.
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn fuzz_decode_wbxml_arbitrary(sl in any::<bool>(), bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = decode_wbxml(sl, &bytes);
    }

    #[test]
    fn fuzz_decode_wbxml_structured(
        sl in any::<bool>(),
        body in prop::collection::vec(
            prop_oneof![
                prop::sample::select(vec![0x00u8, 0x01, 0x02, 0x03, 0x04, 0x40, 0x43, 0x44, 0x80, 0x83, 0x84, 0xC3, 0xC4]),
                0x05u8..=0x12,
                0x45u8..=0x48,
                0x85u8..=0x88,
                0xC5u8..=0xC8,
                any::<u8>(),
            ],
            0..120,
        ),
    ) {
        // A plausible header, so the fuzzing reaches the element and attribute parsers.
        let mut w = vec![0x02, if sl { 0x06 } else { 0x05 }, 0x6A, 0x04, b'a', b'b', 0, 0];
        w.extend_from_slice(&body);
        let _ = decode_wbxml(sl, &w);
    }

    #[test]
    fn fuzz_decode_wsp_push_arbitrary(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = decode_wsp_push(&bytes);
    }

    #[test]
    fn fuzz_decode_wsp_push_mutated(
        bytes in (content(), opts()).prop_flat_map(|(c, o)| mutated(wsp_push(&c, &o)))
    ) {
        if let Ok(c) = decode_wsp_push(&bytes) {
            // Whatever decodes must encode again and decode to the same content.
            let again = wsp_push(&c, &WspOptions::default());
            prop_assert_eq!(decode_wsp_push(&again), Ok(c));
        }
    }

    #[test]
    fn fuzz_receipt_parse_arbitrary(s in any::<String>()) {
        if let Ok(r) = DeliveryReceipt::parse(&s) {
            prop_assert!(!r.id.is_empty());
            prop_assert!(!r.id.chars().any(char::is_whitespace));
        }
    }

    #[test]
    fn fuzz_receipt_parse_receiptish(
        parts in prop::collection::vec(
            prop_oneof![
                prop::sample::select(vec![
                    "id:", "ID:", "sub:", "dlvrd:", "submit date:", "done date:", "submit_date:",
                    "stat:", "err:", "text:", "Text:", " ", "  ", ":", "\0", "DELIVRD", "é", "中",
                ]).prop_map(str::to_owned),
                "[0-9a-fA-F]{0,12}",
            ],
            0..16,
        )
    ) {
        let s = parts.concat();
        if let Ok(r) = DeliveryReceipt::parse(&s) {
            prop_assert!(!r.id.is_empty());
            // Re-parsing the canonical form keeps the id and status.
            let again = DeliveryReceipt::parse(&r.format()).unwrap();
            prop_assert_eq!(&again.id, &r.id);
            prop_assert_eq!(again.stat, r.stat);
        }
    }
}

fn status() -> impl Strategy<Value = ReceiptStatus> {
    prop::sample::select(ReceiptStatus::ALL.to_vec())
}

fn receipt() -> impl Strategy<Value = DeliveryReceipt> {
    (
        "[0-9A-Za-z-]{1,24}",
        prop::option::of(0u32..100_000),
        prop::option::of(0u32..100_000),
        prop::option::of("[0-9]{10}|[0-9]{12}"),
        prop::option::of("[0-9]{10}|[0-9]{12}"),
        prop::option::of(status()),
        prop::option::of("[0-9]{3,4}|[0-9a-f]{3}"),
        // Canonical text: at most 20 characters, no whitespace or NUL at either end.
        prop::option::of("([!-~é中]([ -~é中]{0,18}[!-~é中])?)?"),
    )
        .prop_map(
            |(id, sub, dlvrd, submit_date, done_date, stat, err, text)| DeliveryReceipt {
                id,
                sub,
                dlvrd,
                submit_date,
                done_date,
                stat,
                stat_raw: stat.map(|s| s.as_stat().to_owned()).unwrap_or_default(),
                err,
                text,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn receipt_format_parse_roundtrip(r in receipt()) {
        let text = r.format();
        prop_assert!(text.starts_with("id:"));
        prop_assert_eq!(DeliveryReceipt::parse(&text), Ok(r.clone()));
        // Upper-cased keys parse to the same receipt (values other than text unchanged).
        // Only the keys before `text:` are touched, never the text itself.
        let cut = text.find(" text:").unwrap_or(text.len());
        let (head, tail) = text.split_at(cut);
        let upper = format!(
            "{}{}",
            head.replacen("id:", "ID:", 1).replacen(" stat:", " STAT:", 1),
            tail.replacen(" text:", " Text:", 1)
        );
        prop_assert_eq!(DeliveryReceipt::parse(&upper), Ok(r));
    }

    #[test]
    fn stat_words_roundtrip(s in status(), lower in any::<bool>()) {
        let w = if lower { s.as_stat().to_lowercase() } else { s.as_stat().to_owned() };
        prop_assert_eq!(ReceiptStatus::from_stat(&w), Some(s));
        prop_assert_eq!(ReceiptStatus::from_message_state(s.message_state()), Some(s));
    }

    #[test]
    fn hex_and_decimal_ids_correlate(n in any::<u64>(), zeros in 0usize..4, upper in any::<bool>()) {
        let dec = format!("{}{n}", "0".repeat(zeros));
        let hex = if upper { format!("{n:X}") } else { format!("{n:x}") };
        let a = message_id_variants(&dec);
        let b = message_id_variants(&hex);
        prop_assert!(a.iter().any(|x| b.contains(x)), "{:?} vs {:?}", a, b);
        prop_assert_eq!(&a[0], &normalize_message_id(&dec));
        prop_assert_eq!(normalize_message_id(&dec), n.to_string());
    }

    #[test]
    fn normalisation_is_idempotent(s in any::<String>()) {
        let n = normalize_message_id(&s);
        prop_assert_eq!(normalize_message_id(&n), n.clone());
        prop_assert!(message_id_variants(&s).contains(&n));
    }
}
