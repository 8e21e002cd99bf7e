//! Splitting text or binary data into SMPP `submit_sm` parts: UDH concatenation (IEI 0x00
//! 8-bit or 0x08 16-bit reference), SAR TLVs, or one `message_payload` TLV (SMPP 3.4 §5.3.2.22,
//! §5.3.2.23, §5.3.2.24, §5.3.2.32).
//!
//! Capacities (3GPP TS 23.040 §9.2.3.24.1, wire-formats.md §3.4), in units of user data after
//! the UDH:
//!
//! | alphabet | single | 8-bit ref (UDH 6) | 16-bit ref (UDH 7) |
//! |---|---|---|---|
//! | GSM-7 | 160 septets | 153 | 152 |
//! | UCS-2 | 70 code units | 67 | 66 (odd UDH: 139-octet TP-UD) |
//! | 8-bit / Latin-1 | 140 octets | 134 | 133 |
//!
//! With extra IEs (e.g. WAP Push port addressing) the budget shrinks by their size: 133 single,
//! 128 / 127 per part for 8-bit data.
//!
//! **GSM-7 layout.** SMPP carries GSM-7 unpacked, so a part's `short_message` is the UDH octets
//! (UDHL included) followed by one septet per octet, exactly as Kannel sends it
//! (wire-formats.md §3.3 and §3.8 T6). On the air the SMSC packs it: the UDH occupies
//! `ceil(udh_octets * 8 / 7)` septets (fill bits included) of the 160, hence
//! `septets <= 160 - ceil(udh_octets * 8 / 7)` and `sm_length = udh_octets + septets`
//! (6 + 153 = 159, 7 + 152 = 159, 160 without UDH).
//!
//! Rules (wire-formats.md §3.5): an escape pair (`1B xx`) and a surrogate pair are indivisible,
//! so a part may hold one unit less than the capacity; the same reference goes in every part;
//! at most 255 parts; no concatenation when the message fits one SMS. `esm_class` is always
//! explicit: 0x00, or 0x40 (UDHI, SMPP 3.4 §5.2.12) when `short_message` starts with a UDH.
//! SAR parts carry no UDH and are sized as if a 16-bit reference UDH were present (the SAR
//! reference is 16 bits and the SMSC adds the header when it delivers).

use crate::gsm7;
use crate::text::{self, Alphabet};
use crate::ucs2;
use crate::udh::{InformationElement, Udh, UdhError};

/// Most parts a concatenated message can have (the total is one octet).
pub const MAX_PARTS: usize = 255;
/// Largest `message_payload` TLV value (its length field is 16 bits).
pub const MAX_MESSAGE_PAYLOAD: usize = 0xFFFF;
/// `esm_class` for a message without UDH (SMPP 3.4 §5.2.12).
pub const ESM_CLASS_DEFAULT: u8 = 0x00;
/// `esm_class` with the UDHI bit set: `short_message` starts with a UDH.
pub const ESM_CLASS_UDHI: u8 = 0x40;
/// Radio limit for TP-UD, in octets (TS 23.040 §9.2.3.24).
pub const MAX_TP_UD_OCTETS: usize = 140;
/// Radio limit for TP-UD in septets when the alphabet is GSM-7.
pub const MAX_TP_UD_SEPTETS: usize = 160;

/// How a long message is concatenated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConcatStyle {
    /// UDH with IEI 0x00 (8-bit reference; the low 8 bits of the reference are used).
    Udh8,
    /// UDH with IEI 0x08 (16-bit reference).
    Udh16,
    /// SAR TLVs `sar_msg_ref_num` / `sar_total_segments` / `sar_segment_seqnum`, no UDH.
    Sar,
    /// One `message_payload` TLV with an empty `short_message`; the SMSC segments.
    Payload,
}

/// The SAR TLV values of one part (SMPP 3.4 §5.3.2.22-24).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SarInfo {
    /// `sar_msg_ref_num` (0x020C).
    pub reference: u16,
    /// `sar_total_segments` (0x020E).
    pub total: u8,
    /// `sar_segment_seqnum` (0x020F), 1-based.
    pub seq: u8,
}

/// One `submit_sm` worth of message fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// `esm_class`: 0x00, or 0x40 when `short_message` (or `message_payload`) starts with a UDH.
    pub esm_class: u8,
    /// `data_coding`.
    pub data_coding: u8,
    /// `short_message`: UDH (if any) followed by user data. Empty for [`ConcatStyle::Payload`].
    pub short_message: Vec<u8>,
    /// SAR TLVs, for [`ConcatStyle::Sar`] parts of a multi-part message.
    pub sar: Option<SarInfo>,
    /// `message_payload` TLV value, for [`ConcatStyle::Payload`].
    pub message_payload: Option<Vec<u8>>,
}

impl Segment {
    /// The user data of this segment with any UDH removed (from `short_message`, or from
    /// `message_payload` when `short_message` is empty).
    pub fn user_data(&self) -> &[u8] {
        let data = match &self.message_payload {
            Some(p) if self.short_message.is_empty() => p.as_slice(),
            _ => self.short_message.as_slice(),
        };
        if self.esm_class & ESM_CLASS_UDHI != 0 {
            if let Ok((_, rest)) = Udh::split(data) {
                return rest;
            }
        }
        data
    }
}

/// Why a message could not be segmented.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SegmentError {
    /// A character is not representable in the requested alphabet.
    #[error("character {character:?} at index {index} is not representable in {alphabet:?}")]
    Unrepresentable {
        /// The requested alphabet.
        alphabet: Alphabet,
        /// The first offending character.
        character: char,
        /// Its index in characters.
        index: usize,
    },
    /// The message needs more than 255 parts.
    #[error("message needs {parts} parts, more than the maximum of {max}")]
    TooManyParts {
        /// Parts needed.
        parts: usize,
        /// The limit (255).
        max: usize,
    },
    /// `message_payload` would exceed its 16-bit length.
    #[error("message_payload of {len} octets exceeds {max}")]
    PayloadTooLong {
        /// Octets needed (UDH included).
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The extra IEs leave no room for even one unit of user data.
    #[error("a {udh_len}-octet UDH leaves {capacity} octets, too few for the next unit")]
    NoRoom {
        /// UDH length including UDHL.
        udh_len: usize,
        /// Remaining user data capacity in octets.
        capacity: usize,
    },
    /// The extra IEs do not encode.
    #[error("extra information elements: {0}")]
    Udh(#[from] UdhError),
}

/// How the octets of user data group into indivisible units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Units {
    /// Unpacked GSM-7: escape pairs are one unit.
    Septets,
    /// UTF-16BE: surrogate pairs are one unit.
    Utf16,
    /// Any octet may end a part.
    Octets,
    /// UTF-8 text sent as 8-bit data: never split a character.
    Utf8,
}

impl Units {
    fn unit_len_at(self, bytes: &[u8], index: usize) -> usize {
        match self {
            Units::Septets => gsm7::unit_len_at(bytes, index),
            Units::Utf16 => ucs2::unit_len_at(bytes, index),
            Units::Octets => 1,
            Units::Utf8 => {
                let n = match bytes[index] {
                    0xF0..=0xF7 => 4,
                    0xE0..=0xEF => 3,
                    0xC0..=0xDF => 2,
                    _ => 1,
                };
                n.min(bytes.len() - index)
            }
        }
    }

    fn capacity(self, udh_len: usize) -> usize {
        match self {
            Units::Septets if udh_len == 0 => MAX_TP_UD_SEPTETS,
            Units::Septets => MAX_TP_UD_SEPTETS.saturating_sub(gsm7::udh_septets(udh_len)),
            Units::Utf16 => MAX_TP_UD_OCTETS.saturating_sub(udh_len) & !1,
            Units::Octets | Units::Utf8 => MAX_TP_UD_OCTETS.saturating_sub(udh_len),
        }
    }
}

/// Octets of user data that fit after a UDH of `udh_len` octets (UDHL included; 0 = no UDH)
/// for `alphabet`. For GSM-7 one octet is one septet (unpacked). Examples: GSM-7 160/153/152,
/// UCS-2 140/134/132 (70/67/66 units), 8-bit 140/134/133.
pub fn user_data_capacity(alphabet: Alphabet, udh_len: usize) -> usize {
    units_for(alphabet).capacity(udh_len)
}

fn units_for(alphabet: Alphabet) -> Units {
    match alphabet {
        Alphabet::Gsm7 => Units::Septets,
        Alphabet::Ucs2 => Units::Utf16,
        Alphabet::Latin1 => Units::Octets,
        Alphabet::Binary => Units::Utf8,
    }
}

/// Segments `text` in the alphabet [`text::choose`] picks (GSM-7, else UCS-2).
pub fn segment_text(
    text: &str,
    style: ConcatStyle,
    reference: u16,
) -> Result<Vec<Segment>, SegmentError> {
    segment_encoded(text::choose(text), text, style, reference)
}

/// Segments `text` encoded in `alphabet`, with `data_coding` = `alphabet.data_coding()`.
/// [`Alphabet::Binary`] sends the UTF-8 octets of `text` (never splitting a character).
pub fn segment_encoded(
    alphabet: Alphabet,
    text: &str,
    style: ConcatStyle,
    reference: u16,
) -> Result<Vec<Segment>, SegmentError> {
    let bytes = text::encode(text, alphabet).ok_or_else(|| {
        let (index, character) = text
            .chars()
            .enumerate()
            .find(|(_, c)| text::encode(&c.to_string(), alphabet).is_none())
            .unwrap_or((0, '\u{FFFD}'));
        SegmentError::Unrepresentable {
            alphabet,
            character,
            index,
        }
    })?;
    split(
        units_for(alphabet),
        &bytes,
        &[],
        style,
        reference,
        alphabet.data_coding(),
    )
}

/// Segments 8-bit data, putting the `extra` IEs (e.g. `Port16 { dest: 2948, src: 9200 }` for
/// WAP Push) in every part's UDH before the concatenation IE, as Kannel does. A payload that fits
/// `140 - UDH` octets is sent as one part without a concatenation IE (wire-formats.md §2.2).
/// For [`ConcatStyle::Sar`] the extra IEs form the UDH of each part; for
/// [`ConcatStyle::Payload`] they prefix the `message_payload` (with `esm_class` 0x40).
pub fn segment_binary(
    payload: &[u8],
    extra: &[InformationElement],
    style: ConcatStyle,
    reference: u16,
    data_coding: u8,
) -> Result<Vec<Segment>, SegmentError> {
    split(Units::Octets, payload, extra, style, reference, data_coding)
}

/// Cuts `bytes` into chunks of at most `cap` octets without splitting a unit.
fn chunk(
    units: Units,
    bytes: &[u8],
    cap: usize,
    udh_len: usize,
) -> Result<Vec<&[u8]>, SegmentError> {
    let mut chunks = Vec::new();
    let mut start = 0;
    while start < bytes.len() {
        let mut end = start;
        while end < bytes.len() {
            let u = units.unit_len_at(bytes, end);
            if end + u - start > cap {
                break;
            }
            end += u;
        }
        if end == start {
            return Err(SegmentError::NoRoom {
                udh_len,
                capacity: cap,
            });
        }
        chunks.push(&bytes[start..end]);
        start = end;
    }
    Ok(chunks)
}

fn split(
    units: Units,
    bytes: &[u8],
    extra: &[InformationElement],
    style: ConcatStyle,
    reference: u16,
    data_coding: u8,
) -> Result<Vec<Segment>, SegmentError> {
    let extra_udh = Udh::new(extra.to_vec());
    let extra_bytes = if extra.is_empty() {
        Vec::new()
    } else {
        extra_udh.try_encode()?
    };
    let esm_single = if extra.is_empty() {
        ESM_CLASS_DEFAULT
    } else {
        ESM_CLASS_UDHI
    };

    if style == ConcatStyle::Payload {
        let len = extra_bytes.len() + bytes.len();
        if len > MAX_MESSAGE_PAYLOAD {
            return Err(SegmentError::PayloadTooLong {
                len,
                max: MAX_MESSAGE_PAYLOAD,
            });
        }
        return Ok(vec![Segment {
            esm_class: esm_single,
            data_coding,
            short_message: Vec::new(),
            sar: None,
            message_payload: Some([extra_bytes.as_slice(), bytes].concat()),
        }]);
    }

    let single_cap = units.capacity(extra_bytes.len());
    if bytes.len() <= single_cap {
        return Ok(vec![Segment {
            esm_class: esm_single,
            data_coding,
            short_message: [extra_bytes.as_slice(), bytes].concat(),
            sar: None,
            message_payload: None,
        }]);
    }

    // Size of the concatenation IE (IEI + IEDL + data) each part adds or reserves.
    let concat_ie = match style {
        ConcatStyle::Udh8 => 5,
        _ => 6,
    };
    let part_udh_len = extra_udh.len() + concat_ie;
    let cap = units.capacity(part_udh_len);
    let chunks = chunk(units, bytes, cap, part_udh_len)?;
    if chunks.len() > MAX_PARTS {
        return Err(SegmentError::TooManyParts {
            parts: chunks.len(),
            max: MAX_PARTS,
        });
    }
    let total = chunks.len() as u8;
    let segments = chunks
        .into_iter()
        .enumerate()
        .map(|(i, data)| {
            let seq = (i + 1) as u8;
            let concat = match style {
                ConcatStyle::Udh8 => Some(InformationElement::Concat8 {
                    reference: (reference & 0xFF) as u8,
                    total,
                    seq,
                }),
                ConcatStyle::Udh16 => Some(InformationElement::Concat16 {
                    reference,
                    total,
                    seq,
                }),
                ConcatStyle::Sar | ConcatStyle::Payload => None,
            };
            match concat {
                Some(ie) => {
                    let mut elements = extra.to_vec();
                    elements.push(ie);
                    let mut short_message = Udh::new(elements).encode();
                    short_message.extend_from_slice(data);
                    Segment {
                        esm_class: ESM_CLASS_UDHI,
                        data_coding,
                        short_message,
                        sar: None,
                        message_payload: None,
                    }
                }
                None => Segment {
                    esm_class: esm_single,
                    data_coding,
                    short_message: [extra_bytes.as_slice(), data].concat(),
                    sar: Some(SarInfo {
                        reference,
                        total,
                        seq,
                    }),
                    message_payload: None,
                },
            }
        })
        .collect();
    Ok(segments)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    fn digits(n: usize) -> String {
        "0123456789".chars().cycle().take(n).collect()
    }

    /// wire-formats.md §3.8 T6: `0123456789` x 16 + `X` (161 characters).
    fn t6_text() -> String {
        digits(160) + "X"
    }

    #[test]
    fn t1_single_gsm() {
        let s = segment_text("Hello world", ConcatStyle::Udh8, 0x2A).unwrap();
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].esm_class, 0x00);
        assert_eq!(s[0].data_coding, 0x00);
        assert_eq!(hex(&s[0].short_message), "48656c6c6f20776f726c64");
        assert_eq!(s[0].sar, None);
    }

    #[test]
    fn t5_160_digits_is_one_part() {
        for style in [ConcatStyle::Udh8, ConcatStyle::Udh16, ConcatStyle::Sar] {
            let s = segment_text(&digits(160), style, 0x2A).unwrap();
            assert_eq!(s.len(), 1);
            assert_eq!(s[0].short_message.len(), 160);
            assert_eq!(s[0].esm_class, 0);
            assert_eq!(s[0].sar, None);
        }
    }

    #[test]
    fn t6_161_digits_udh8() {
        let s = segment_text(&t6_text(), ConcatStyle::Udh8, 0x2A).unwrap();
        assert_eq!(s.len(), 2);
        assert!(s.iter().all(|p| p.esm_class == 0x40 && p.data_coding == 0));
        assert_eq!(hex(&s[0].short_message[..6]), "0500032a0201");
        assert_eq!(s[0].short_message.len(), 6 + 153);
        assert_eq!(s[0].short_message[6..], *digits(153).as_bytes());
        assert_eq!(hex(&s[1].short_message), "0500032a02023334353637383958");
    }

    #[test]
    fn t6b_161_digits_udh16() {
        let s = segment_text(&t6_text(), ConcatStyle::Udh16, 0x1234).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(hex(&s[0].short_message[..7]), "06080412340201");
        assert_eq!(s[0].short_message.len(), 7 + 152);
        assert_eq!(hex(&s[1].short_message), "06080412340202323334353637383958");
    }

    #[test]
    fn t7_escape_pair_not_split() {
        let text = format!("{}€{}", "a".repeat(152), "b".repeat(10));
        let s = segment_text(&text, ConcatStyle::Udh8, 0x2A).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].short_message.len(), 158);
        assert_eq!(s[0].short_message[6..], [0x61; 152]);
        assert_eq!(
            hex(&s[1].short_message),
            format!("0500032a02021b65{}", "62".repeat(10))
        );
    }

    #[test]
    fn t8_t9_single_ucs2() {
        let s = segment_text("查询余额", ConcatStyle::Udh8, 0x2A).unwrap();
        assert_eq!(s.len(), 1);
        assert_eq!((s[0].esm_class, s[0].data_coding), (0x00, 0x08));
        assert_eq!(hex(&s[0].short_message), "67e58be24f59989d");
        let s = segment_text(&"中".repeat(70), ConcatStyle::Udh8, 0x2A).unwrap();
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].short_message.len(), 140);
    }

    #[test]
    fn t10_71_chinese() {
        let s = segment_text(&"中".repeat(71), ConcatStyle::Udh8, 0x2A).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(
            hex(&s[0].short_message),
            format!("0500032a0201{}", "4e2d".repeat(67))
        );
        assert_eq!(
            hex(&s[1].short_message),
            format!("0500032a0202{}", "4e2d".repeat(4))
        );
        assert!(s
            .iter()
            .all(|p| p.esm_class == 0x40 && p.data_coding == 0x08));
    }

    #[test]
    fn t10b_71_chinese_16bit_ref() {
        let s = segment_text(&"中".repeat(71), ConcatStyle::Udh16, 0x1234).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].short_message.len(), 139);
        assert_eq!(
            hex(&s[0].short_message),
            format!("06080412340201{}", "4e2d".repeat(66))
        );
        assert_eq!(
            hex(&s[1].short_message),
            format!("06080412340202{}", "4e2d".repeat(5))
        );
    }

    #[test]
    fn t11_emoji_not_split() {
        let text = format!("{}😀{}", "a".repeat(66), "b".repeat(10));
        let s = segment_text(&text, ConcatStyle::Udh8, 0x2A).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].short_message.len(), 138);
        assert_eq!(
            hex(&s[0].short_message),
            format!("0500032a0201{}", "0061".repeat(66))
        );
        assert_eq!(
            hex(&s[1].short_message),
            format!("0500032a0202d83dde00{}", "0062".repeat(10))
        );
    }

    #[test]
    fn t12_single_emoji() {
        let s = segment_text("ok 😀", ConcatStyle::Udh8, 0x2A).unwrap();
        assert_eq!(hex(&s[0].short_message), "006f006b0020d83dde00");
    }

    #[test]
    fn sar_parts_have_no_udh() {
        let s = segment_text(&t6_text(), ConcatStyle::Sar, 0x1234).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].esm_class, 0);
        assert_eq!(s[0].short_message, digits(152).as_bytes());
        assert_eq!(
            s[1].sar,
            Some(SarInfo {
                reference: 0x1234,
                total: 2,
                seq: 2
            })
        );
        assert_eq!(s[1].short_message, &t6_text().as_bytes()[152..]);
    }

    #[test]
    fn payload_is_one_segment() {
        let text = "中".repeat(200);
        let s = segment_text(&text, ConcatStyle::Payload, 7).unwrap();
        assert_eq!(s.len(), 1);
        assert!(s[0].short_message.is_empty());
        assert_eq!(s[0].esm_class, 0);
        assert_eq!(
            s[0].message_payload.as_deref(),
            Some(ucs2::encode(&text).as_slice())
        );
        assert_eq!(s[0].user_data(), ucs2::encode(&text).as_slice());
        let huge = vec![0u8; MAX_MESSAGE_PAYLOAD + 1];
        assert!(matches!(
            segment_binary(&huge, &[], ConcatStyle::Payload, 0, 4),
            Err(SegmentError::PayloadTooLong { .. })
        ));
    }

    #[test]
    fn too_many_parts() {
        let ok = segment_text(&"x".repeat(153 * 255), ConcatStyle::Udh8, 1).unwrap();
        assert_eq!(ok.len(), 255);
        let err = segment_text(&"x".repeat(153 * 255 + 1), ConcatStyle::Udh8, 1).unwrap_err();
        assert_eq!(
            err,
            SegmentError::TooManyParts {
                parts: 256,
                max: 255
            }
        );
    }

    #[test]
    fn unrepresentable_in_requested_alphabet() {
        let err = segment_encoded(Alphabet::Gsm7, "abç", ConcatStyle::Udh8, 1).unwrap_err();
        assert_eq!(
            err,
            SegmentError::Unrepresentable {
                alphabet: Alphabet::Gsm7,
                character: 'ç',
                index: 2
            }
        );
        let s = segment_encoded(Alphabet::Latin1, "abç", ConcatStyle::Udh8, 1).unwrap();
        assert_eq!(
            (s[0].data_coding, s[0].short_message.clone()),
            (3, vec![0x61, 0x62, 0xE7])
        );
    }

    #[test]
    fn wap_push_capacities() {
        let port = [InformationElement::Port16 {
            dest: 2948,
            src: 9200,
        }];
        let s = segment_binary(&[0xAB; 133], &port, ConcatStyle::Udh8, 0x2A, 0x04).unwrap();
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].esm_class, 0x40);
        assert_eq!(hex(&s[0].short_message[..7]), "0605040b8423f0");
        assert_eq!(s[0].short_message.len(), 140);

        let s = segment_binary(&[0xAB; 134], &port, ConcatStyle::Udh8, 0x2A, 0x04).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(
            hex(&s[0].short_message[..12]),
            "0b05040b8423f00003 2a0201".replace(' ', "")
        );
        assert_eq!(s[0].short_message.len(), 12 + 128);
        assert_eq!(s[1].short_message.len(), 12 + 6);

        let s = segment_binary(&[0xAB; 254], &port, ConcatStyle::Udh16, 0x1234, 0x04).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(
            hex(&s[0].short_message[..13]),
            "0c05040b8423f008041234020 1".replace(' ', "")
        );
        assert_eq!(s[0].short_message.len(), 13 + 127);
        assert_eq!(s[1].short_message.len(), 13 + 127);

        let s = segment_binary(&[0xAB; 200], &port, ConcatStyle::Sar, 9, 0x04).unwrap();
        assert!(s
            .iter()
            .all(|p| p.esm_class == 0x40 && p.short_message.len() <= 7 + 127));
        assert_eq!(s[0].sar.as_ref().map(|x| x.total), Some(2));

        let s = segment_binary(&[1, 2], &port, ConcatStyle::Payload, 9, 0x04).unwrap();
        assert_eq!(s[0].esm_class, 0x40);
        assert_eq!(
            hex(s[0].message_payload.as_deref().unwrap()),
            "0605040b8423f00102"
        );
        assert_eq!(s[0].user_data(), &[1, 2]);
    }

    #[test]
    fn binary_capacities_without_extra() {
        let s = segment_binary(&[0; 140], &[], ConcatStyle::Udh8, 1, 4).unwrap();
        assert_eq!(s.len(), 1);
        let s = segment_binary(&[0; 141], &[], ConcatStyle::Udh8, 1, 4).unwrap();
        assert_eq!(s[0].short_message.len(), 140);
        assert_eq!(s[0].user_data().len(), 134);
        let s = segment_binary(&[0; 141], &[], ConcatStyle::Udh16, 1, 4).unwrap();
        assert_eq!(s[0].user_data().len(), 133);
    }

    #[test]
    fn capacity_table() {
        assert_eq!(user_data_capacity(Alphabet::Gsm7, 0), 160);
        assert_eq!(user_data_capacity(Alphabet::Gsm7, 6), 153);
        assert_eq!(user_data_capacity(Alphabet::Gsm7, 7), 152);
        assert_eq!(user_data_capacity(Alphabet::Ucs2, 0), 140);
        assert_eq!(user_data_capacity(Alphabet::Ucs2, 6), 134);
        assert_eq!(user_data_capacity(Alphabet::Ucs2, 7), 132);
        assert_eq!(user_data_capacity(Alphabet::Latin1, 7), 133);
        assert_eq!(user_data_capacity(Alphabet::Binary, 6), 134);
    }

    #[test]
    fn no_room_for_extra_ies() {
        let big = [InformationElement::Other {
            iei: 0x70,
            data: vec![0; 140],
        }];
        assert!(matches!(
            segment_binary(&[1, 2, 3], &big, ConcatStyle::Udh8, 1, 4),
            Err(SegmentError::NoRoom { .. })
        ));
    }

    #[test]
    fn empty_text_is_one_empty_part() {
        let s = segment_text("", ConcatStyle::Udh16, 1).unwrap();
        assert_eq!(s.len(), 1);
        assert!(s[0].short_message.is_empty());
    }
}
