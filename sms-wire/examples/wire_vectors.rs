//! Prints the bytes our encoders produce, for independent decoders to check
//! (`tests/interop/sms_wire.sh` feeds them to tshark, wbxml2xml and PyPI `gsm0338`).
//!
//! One record per line: `name<TAB>kind<TAB>hex<TAB>json`.
//!
//! * `pdu`: a whole `submit_sm` PDU (SMPP 3.4 §4.4.1, header included), built with rusmpp and
//!   [`sms_wire::framing::encode_command`] from the segments of [`sms_wire::segment`] /
//!   [`sms_wire::wap_push`]. The json holds the input and the values a decoder must find
//!   (`group`, `part`, `parts`, `ref`, `dc`, `esm`, `ports`, `text`, `content_type`, `xml`).
//!   Those expected values are literals written here, not read back from our own output.
//! * `wbxml`: a bare SI / SL WBXML body (WAP-167, WAP-168) with the expected decoded element.
//! * `gsm7`: our unpacked GSM 03.38 septets (3GPP TS 23.038 §6.2.1) for `json.text`.
//!
//! Run: `cargo run -q -p sms-wire --example wire_vectors`.

use std::fmt::Write as _;
use std::str::FromStr;

use sms_wire::framing::encode_command;
use sms_wire::rusmpp::pdus::SubmitSm;
use sms_wire::rusmpp::types::{COctetString, OctetString};
use sms_wire::rusmpp::values::{DataCoding, EsmClass, Npi, Ton};
use sms_wire::rusmpp::{Command, CommandStatus};
use sms_wire::segment::{segment_text, ConcatStyle, Segment};
use sms_wire::wap_push::{
    push_segments, PushContent, ServiceIndication, ServiceLoading, SiAction, SlAction, WapDate,
    WspOptions,
};

/// A JSON value, just enough for the records (no serde in sms-wire's dependencies).
#[derive(Clone)]
enum J {
    Str(String),
    Num(u64),
    List(Vec<J>),
    Obj(Vec<(&'static str, J)>),
}

impl J {
    fn s(v: &str) -> J {
        J::Str(v.to_owned())
    }

    fn write(&self, out: &mut String) {
        match self {
            J::Str(s) => {
                out.push('"');
                for c in s.chars() {
                    match c {
                        '"' => out.push_str("\\\""),
                        '\\' => out.push_str("\\\\"),
                        c if (c as u32) < 0x20 => {
                            let _ = write!(out, "\\u{:04x}", c as u32);
                        }
                        c => out.push(c),
                    }
                }
                out.push('"');
            }
            J::Num(n) => {
                let _ = write!(out, "{n}");
            }
            J::List(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    item.write(out);
                }
                out.push(']');
            }
            J::Obj(fields) => {
                out.push('{');
                for (i, (k, v)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    J::s(k).write(out);
                    out.push(':');
                    v.write(out);
                }
                out.push('}');
            }
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn record(name: &str, kind: &str, bytes: &[u8], meta: J) {
    let mut json = String::new();
    meta.write(&mut json);
    println!("{name}\t{kind}\t{}\t{json}", hex(bytes));
}

/// A whole submit_sm PDU for one segment, every field set explicitly (esm_class included:
/// rusmpp's default is 0x08, rusmpp.md §6).
fn submit_sm(seq: u32, seg: &Segment) -> Vec<u8> {
    let sm = SubmitSm::builder()
        .source_addr_ton(Ton::Alphanumeric)
        .source_addr_npi(Npi::Unknown)
        .source_addr(COctetString::from_str("PresenceGW").expect("ascii source"))
        .dest_addr_ton(Ton::International)
        .dest_addr_npi(Npi::Isdn)
        .destination_addr(COctetString::from_str("15551234567").expect("ascii destination"))
        .esm_class(EsmClass::from(seg.esm_class))
        .protocol_id(0)
        .data_coding(DataCoding::from(seg.data_coding))
        .short_message(
            OctetString::from_vec(seg.short_message.clone()).expect("segment within 255 octets"),
        )
        .build();
    encode_command(&Command::new(CommandStatus::EsmeRok, seq, sm))
}

/// Expected values for one message, written as literals.
struct Expect {
    parts: u64,
    reference: u64,
    dc: u64,
    esm: u64,
}

/// Emits every segment of `segs` as a `pdu` record of message `group`.
fn emit_parts(
    seq: &mut u32,
    group: &str,
    segs: &[Segment],
    want: &Expect,
    extra: &dyn Fn() -> Vec<(&'static str, J)>,
) {
    for (i, seg) in segs.iter().enumerate() {
        *seq += 1;
        let mut meta = vec![
            ("group", J::s(group)),
            ("part", J::Num(i as u64 + 1)),
            ("parts", J::Num(want.parts)),
            ("ref", J::Num(want.reference)),
            ("dc", J::Num(want.dc)),
            ("esm", J::Num(want.esm)),
        ];
        meta.extend(extra());
        record(
            &format!("{group}.{}", i + 1),
            "pdu",
            &submit_sm(*seq, seg),
            J::Obj(meta),
        );
    }
}

fn text_message(
    seq: &mut u32,
    group: &str,
    text: &str,
    style: ConcatStyle,
    reference: u16,
    want: Expect,
) {
    let segs = segment_text(text, style, reference).expect("text segments");
    emit_parts(seq, group, &segs, &want, &|| vec![("text", J::s(text))]);
}

fn main() {
    let mut seq = 0u32;

    // --- plain text SMS (wire-formats.md §3.8)
    let single = |dc| Expect {
        parts: 1,
        reference: 0,
        dc,
        esm: 0x00,
    };
    text_message(
        &mut seq,
        "gsm_hello",
        "Hello world",
        ConcatStyle::Udh8,
        0x2A,
        single(0x00),
    );
    text_message(
        &mut seq,
        "gsm_escape",
        "€10 [a]{b}~^|\\",
        ConcatStyle::Udh8,
        0x2A,
        single(0x00),
    );
    text_message(
        &mut seq,
        "gsm_latin",
        "Hola señor, ¿qué tal? Ü ö é à",
        ConcatStyle::Udh8,
        0x2A,
        single(0x00),
    );
    text_message(
        &mut seq,
        "ucs2_single",
        "查询余额",
        ConcatStyle::Udh8,
        0x2A,
        single(0x08),
    );
    // 150 Chinese characters: 67 + 67 + 16 UTF-16 units with an 8-bit reference.
    let chinese: String = "中文短信测试".repeat(25);
    text_message(
        &mut seq,
        "ucs2_concat8",
        &chinese,
        ConcatStyle::Udh8,
        0x2A,
        Expect {
            parts: 3,
            reference: 0x2A,
            dc: 0x08,
            esm: 0x40,
        },
    );
    // 71 x 中 with a 16-bit reference: 66 + 5 (odd UDH, 139-octet TP-UD).
    text_message(
        &mut seq,
        "ucs2_concat16",
        &"中".repeat(71),
        ConcatStyle::Udh16,
        0x1234,
        Expect {
            parts: 2,
            reference: 0x1234,
            dc: 0x08,
            esm: 0x40,
        },
    );
    // 161 GSM characters with a 16-bit reference: 152 + 9 septets.
    let digits = format!("{}X", "0123456789".repeat(16));
    text_message(
        &mut seq,
        "gsm_concat16",
        &digits,
        ConcatStyle::Udh16,
        0x1234,
        Expect {
            parts: 2,
            reference: 0x1234,
            dc: 0x00,
            esm: 0x40,
        },
    );
    // An escape pair at the 153-septet boundary moves whole to part 2.
    let boundary = format!("{}€{}", "a".repeat(152), "b".repeat(10));
    text_message(
        &mut seq,
        "gsm_escape_boundary",
        &boundary,
        ConcatStyle::Udh8,
        0x2A,
        Expect {
            parts: 2,
            reference: 0x2A,
            dc: 0x00,
            esm: 0x40,
        },
    );

    // An emoji (surrogate pair) at the 67-unit boundary moves whole to part 2: 66 + 12 units.
    // (tshark is only asked for bytes here: it shows U+FFFD for surrogates.)
    let emoji = format!("{}\u{1F600}{}", "a".repeat(66), "b".repeat(10));
    text_message(
        &mut seq,
        "ucs2_emoji_boundary",
        &emoji,
        ConcatStyle::Udh8,
        0x2A,
        Expect {
            parts: 2,
            reference: 0x2A,
            dc: 0x08,
            esm: 0x40,
        },
    );

    // --- GSM-7 septets for PyPI gsm0338 (every table row, both tables, the escape vector)
    let gsm_texts = [
        ("gsm7_hello", "Hello world"),
        ("gsm7_escape", "€10 [a]{b}~^|\\"),
        ("gsm7_latin", "Hola señor, ¿qué tal? Ü ö é à"),
        (
            "gsm7_basic_upper",
            "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./",
        ),
        (
            "gsm7_basic_lower",
            "0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà",
        ),
        ("gsm7_extension", "\u{0C}^{}\\[~]|€"),
    ];
    for (name, text) in gsm_texts {
        match sms_wire::gsm7::encode(text) {
            Some(bytes) => record(name, "gsm7", &bytes, J::Obj(vec![("text", J::s(text))])),
            None => record(
                name,
                "gsm7",
                &[],
                J::Obj(vec![
                    ("text", J::s(text)),
                    ("error", J::s("encode returned None")),
                ]),
            ),
        }
    }

    // --- WAP Push SI / SL, whole PDUs (wire-formats.md §2)
    let ports = || ("ports", J::List(vec![J::Num(2948), J::Num(9200)]));
    let push = |seq: &mut u32,
                group: &str,
                content: &PushContent,
                opts: WspOptions,
                reference: u16,
                wide: bool,
                want: Expect,
                xml: J| {
        let segs = push_segments(content, &opts, reference, wide).expect("push segments");
        let ct = content.content_type();
        // what a decoder must find for the options we asked for (WAP-230 §8.2.4.1)
        let app_id = if opts.app_id_header {
            "x-wap-application:wml.ua"
        } else {
            ""
        };
        emit_parts(seq, group, &segs, &want, &|| {
            vec![
                ports(),
                ("content_type", J::s(ct)),
                ("app_id", J::s(app_id)),
                ("tid", J::Num(u64::from(opts.tid))),
                ("xml", xml.clone()),
            ]
        });
    };
    let full_si = full_si();
    push(
        &mut seq,
        "si_single",
        &PushContent::Si(full_si.0.clone()),
        WspOptions::default(),
        0x2A,
        false,
        Expect {
            parts: 1,
            reference: 0,
            dc: 0x04,
            esm: 0x40,
        },
        full_si.1.clone(),
    );
    let long_si = long_si();
    push(
        &mut seq,
        "si_concat8",
        &PushContent::Si(long_si.0.clone()),
        WspOptions {
            tid: 7,
            app_id_header: true,
            charset_param: true,
        },
        0x2B,
        false,
        Expect {
            parts: 2,
            reference: 0x2B,
            dc: 0x04,
            esm: 0x40,
        },
        long_si.1.clone(),
    );
    push(
        &mut seq,
        "si_concat16",
        &PushContent::Si(long_si.0.clone()),
        WspOptions {
            tid: 8,
            app_id_header: false,
            charset_param: false,
        },
        0x1234,
        true,
        Expect {
            parts: 2,
            reference: 0x1234,
            dc: 0x04,
            esm: 0x40,
        },
        long_si.1.clone(),
    );
    let sl = ServiceLoading {
        href: "http://www.example.org/app.jad".into(),
        action: Some(SlAction::ExecuteLow),
    };
    push(
        &mut seq,
        "sl_single",
        &PushContent::Sl(sl),
        WspOptions::default(),
        0x2C,
        false,
        Expect {
            parts: 1,
            reference: 0,
            dc: 0x04,
            esm: 0x40,
        },
        xml(
            "sl",
            &[
                ("href", "http://www.example.org/app.jad"),
                ("action", "execute-low"),
            ],
            None,
        ),
    );

    // --- bare WBXML bodies (wire-formats.md §2.5-2.8)
    record(
        "wbxml_si_full",
        "wbxml",
        &full_si.0.to_wbxml(),
        J::Obj(vec![("xml", full_si.1)]),
    );
    record(
        "wbxml_si_long",
        "wbxml",
        &long_si.0.to_wbxml(),
        J::Obj(vec![("xml", long_si.1)]),
    );
    let minimal = ServiceIndication::new("http://www.example.com/news", "Breaking news");
    record(
        "wbxml_si_minimal",
        "wbxml",
        &minimal.to_wbxml(),
        J::Obj(vec![(
            "xml",
            xml(
                "indication",
                &[("href", "http://www.example.com/news")],
                Some("Breaking news"),
            ),
        )]),
    );
    let delete = ServiceIndication {
        href: "http://www.example.com/".into(),
        text: None,
        si_id: Some("offer-41".into()),
        created: None,
        expires: None,
        action: Some(SiAction::Delete),
    };
    record(
        "wbxml_si_delete",
        "wbxml",
        &delete.to_wbxml(),
        J::Obj(vec![(
            "xml",
            xml(
                "indication",
                &[
                    ("href", "http://www.example.com/"),
                    ("si-id", "offer-41"),
                    ("action", "delete"),
                ],
                None,
            ),
        )]),
    );
    let tokens = ServiceIndication {
        href: "https://shop.example.net/a.org/b.edu/c.com/".into(),
        text: Some("Tom & Jerry <3 \"quoted\" 'single'".into()),
        si_id: None,
        created: Some(WapDate::new(1999, 6, 25, 15, 23, 15)),
        expires: None,
        action: Some(SiAction::SignalNone),
    };
    record(
        "wbxml_si_tokens",
        "wbxml",
        &tokens.to_wbxml(),
        J::Obj(vec![(
            "xml",
            xml(
                "indication",
                &[
                    ("href", "https://shop.example.net/a.org/b.edu/c.com/"),
                    ("action", "signal-none"),
                    ("created", "1999-06-25T15:23:15Z"),
                ],
                Some("Tom & Jerry <3 \"quoted\" 'single'"),
            ),
        )]),
    );
    let ftp = ServiceIndication::new("ftp://x.org/", "not http");
    record(
        "wbxml_si_ftp",
        "wbxml",
        &ftp.to_wbxml(),
        J::Obj(vec![(
            "xml",
            xml("indication", &[("href", "ftp://x.org/")], Some("not http")),
        )]),
    );
    let sl_default = ServiceLoading::new("https://www.example.com/app.jad");
    record(
        "wbxml_sl_default",
        "wbxml",
        &sl_default.to_wbxml(),
        J::Obj(vec![(
            "xml",
            xml("sl", &[("href", "https://www.example.com/app.jad")], None),
        )]),
    );
    let sl_cache = ServiceLoading {
        href: "http://example.net/cache.wml".into(),
        action: Some(SlAction::Cache),
    };
    record(
        "wbxml_sl_cache",
        "wbxml",
        &sl_cache.to_wbxml(),
        J::Obj(vec![(
            "xml",
            xml(
                "sl",
                &[
                    ("href", "http://example.net/cache.wml"),
                    ("action", "cache"),
                ],
                None,
            ),
        )]),
    );
}

/// The expected decoded element: `{"tag", "attrs", "text"}`.
fn xml(tag: &str, attrs: &[(&'static str, &str)], text: Option<&str>) -> J {
    J::Obj(vec![
        ("tag", J::s(tag)),
        (
            "attrs",
            J::Obj(attrs.iter().map(|&(k, v)| (k, J::s(v))).collect()),
        ),
        ("text", J::s(text.unwrap_or(""))),
    ])
}

/// The full SI of wire-formats.md §2.8 (c), with its expected decoded element.
fn full_si() -> (ServiceIndication, J) {
    let si = ServiceIndication {
        href: "https://www.example.org/offers/summer?id=42".into(),
        text: Some("Summer offer: 20% off".into()),
        si_id: Some("offer-42".into()),
        created: Some(WapDate::new(2026, 1, 15, 10, 30, 0)),
        expires: Some(WapDate::new(2026, 2, 1, 0, 0, 0)),
        action: Some(SiAction::SignalHigh),
    };
    let want = xml(
        "indication",
        &[
            ("href", "https://www.example.org/offers/summer?id=42"),
            ("si-id", "offer-42"),
            ("action", "signal-high"),
            ("created", "2026-01-15T10:30:00Z"),
            ("si-expires", "2026-02-01T00:00:00Z"),
        ],
        Some("Summer offer: 20% off"),
    );
    (si, want)
}

/// An SI whose datagram (about 200 octets) needs two SMS parts; UTF-8 text with Chinese.
fn long_si() -> (ServiceIndication, J) {
    let href =
        "http://www.example.com/promotions/spring-2026/landing-page?campaign=presence&lang=zh";
    let text = "春季促销：所有套餐八折优惠，详情请点击链接。Spring sale: 20% off every plan until the end of April.";
    let si = ServiceIndication {
        href: href.into(),
        text: Some(text.into()),
        si_id: Some("spring-2026".into()),
        created: Some(WapDate::new(2026, 3, 1, 9, 0, 0)),
        expires: None,
        action: Some(SiAction::SignalMedium),
    };
    let want = xml(
        "indication",
        &[
            ("href", href),
            ("si-id", "spring-2026"),
            ("action", "signal-medium"),
            ("created", "2026-03-01T09:00:00Z"),
        ],
        Some(text),
    );
    (si, want)
}
