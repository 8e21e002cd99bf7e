//! GSM 03.38 default alphabet and its extension table (3GPP TS 23.038 §6.2.1 / §6.2.1.1),
//! **unpacked**: one septet per octet, most significant bit zero, as SMPP 3.4 carries it with
//! `data_coding` 0x00 (see `shared/reference/wire-formats.md` §3.2-§3.3).
//!
//! Extension characters (`^ { } \ [ ~ ] | €` and form feed) are written as the escape septet
//! 0x1B followed by their extension code, so they cost two septets. National language shift
//! tables are out of scope.
//!
//! Decoding is total (never panics) and lossy only where the input is invalid:
//!
//! * an octet above 0x7F (not a septet) decodes to U+FFFD;
//! * `1B xx` where `xx` is not in the extension table decodes to the base-table character for
//!   `xx` (the TS 23.038 §6.2.1.1 receiver fallback);
//! * `1B 1B` (reserved for a further extension table) decodes to a space, as TS 23.038 asks;
//! * a lone trailing `1B` (a truncated escape pair) decodes to U+FFFD.
//!
//! [`pack`] and [`unpack`] convert to and from the packed 7-bit form used in TP-UD on the air
//! (TS 23.038 §6.1.2.1), including the fill bits that follow a User Data Header
//! (TS 23.040 §9.2.3.24).

/// The escape septet that introduces an extension-table character (TS 23.038 §6.2.1.1).
pub const ESC: u8 = 0x1B;

/// The Unicode replacement character emitted for undecodable input.
const REPLACEMENT: char = '\u{FFFD}';

/// Base table (TS 23.038 §6.2.1), indexed by septet. Slot 0x1B (ESC) holds U+FFFD and is never
/// produced by encoding a character.
const BASE: [char; 128] = [
    '@',
    '£',
    '$',
    '¥',
    'è',
    'é',
    'ù',
    'ì',
    'ò',
    'Ç',
    '\n',
    'Ø',
    'ø',
    '\r',
    'Å',
    'å', //
    'Δ',
    '_',
    'Φ',
    'Γ',
    'Λ',
    'Ω',
    'Π',
    'Ψ',
    'Σ',
    'Θ',
    'Ξ',
    REPLACEMENT,
    'Æ',
    'æ',
    'ß',
    'É', //
    ' ',
    '!',
    '"',
    '#',
    '¤',
    '%',
    '&',
    '\'',
    '(',
    ')',
    '*',
    '+',
    ',',
    '-',
    '.',
    '/', //
    '0',
    '1',
    '2',
    '3',
    '4',
    '5',
    '6',
    '7',
    '8',
    '9',
    ':',
    ';',
    '<',
    '=',
    '>',
    '?', //
    '¡',
    'A',
    'B',
    'C',
    'D',
    'E',
    'F',
    'G',
    'H',
    'I',
    'J',
    'K',
    'L',
    'M',
    'N',
    'O', //
    'P',
    'Q',
    'R',
    'S',
    'T',
    'U',
    'V',
    'W',
    'X',
    'Y',
    'Z',
    'Ä',
    'Ö',
    'Ñ',
    'Ü',
    '§', //
    '¿',
    'a',
    'b',
    'c',
    'd',
    'e',
    'f',
    'g',
    'h',
    'i',
    'j',
    'k',
    'l',
    'm',
    'n',
    'o', //
    'p',
    'q',
    'r',
    's',
    't',
    'u',
    'v',
    'w',
    'x',
    'y',
    'z',
    'ä',
    'ö',
    'ñ',
    'ü',
    'à', //
];

/// Extension table (TS 23.038 §6.2.1.1): (code after ESC, character).
const EXTENSION: [(u8, char); 10] = [
    (0x0A, '\u{000C}'),
    (0x14, '^'),
    (0x28, '{'),
    (0x29, '}'),
    (0x2F, '\\'),
    (0x3C, '['),
    (0x3D, '~'),
    (0x3E, ']'),
    (0x40, '|'),
    (0x65, '€'),
];

/// Marker for "no septet" in the reverse tables.
const NONE: u8 = 0xFF;

/// Reverse of [`BASE`] for U+0000..=U+00FF (the Latin-1 range), built at compile time.
const LATIN_TO_SEPTET: [u8; 256] = build_latin_reverse();

/// Reverse of [`EXTENSION`] for U+0000..=U+007F; '€' is handled separately.
const ASCII_TO_EXTENSION: [u8; 128] = build_ext_reverse();

/// Extension table lookup by code after ESC, built at compile time (U+FFFD = not defined).
const EXTENSION_BY_CODE: [char; 128] = build_ext_forward();

const fn build_latin_reverse() -> [u8; 256] {
    let mut table = [NONE; 256];
    let mut i = 0;
    while i < 128 {
        let c = BASE[i] as u32;
        if i != ESC as usize && c < 256 {
            table[c as usize] = i as u8;
        }
        i += 1;
    }
    table
}

const fn build_ext_reverse() -> [u8; 128] {
    let mut table = [NONE; 128];
    let mut i = 0;
    while i < EXTENSION.len() {
        let c = EXTENSION[i].1 as u32;
        if c < 128 {
            table[c as usize] = EXTENSION[i].0;
        }
        i += 1;
    }
    table
}

const fn build_ext_forward() -> [char; 128] {
    let mut table = [REPLACEMENT; 128];
    let mut i = 0;
    while i < EXTENSION.len() {
        table[EXTENSION[i].0 as usize] = EXTENSION[i].1;
        i += 1;
    }
    table
}

/// Septet of `c` in the base table, if it is there.
fn base_septet(c: char) -> Option<u8> {
    let cp = c as u32;
    if cp < 256 {
        let s = LATIN_TO_SEPTET[cp as usize];
        return (s != NONE).then_some(s);
    }
    // Greek capitals of the base table (column 0x10).
    let s = match c {
        'Δ' => 0x10,
        'Φ' => 0x12,
        'Γ' => 0x13,
        'Λ' => 0x14,
        'Ω' => 0x15,
        'Π' => 0x16,
        'Ψ' => 0x17,
        'Σ' => 0x18,
        'Θ' => 0x19,
        'Ξ' => 0x1A,
        _ => return None,
    };
    Some(s)
}

/// Extension code (the septet after ESC) of `c`, if it is in the extension table.
fn extension_code(c: char) -> Option<u8> {
    if c == '€' {
        return Some(0x65);
    }
    let cp = c as u32;
    if cp < 128 {
        let s = ASCII_TO_EXTENSION[cp as usize];
        return (s != NONE).then_some(s);
    }
    None
}

/// How many septets `c` costs: 1 (base table), 2 (extension table, `1B xx`), or `None` when the
/// character is not in the GSM 03.38 default alphabet.
pub fn char_septets(c: char) -> Option<usize> {
    if base_septet(c).is_some() {
        Some(1)
    } else if extension_code(c).is_some() {
        Some(2)
    } else {
        None
    }
}

/// Whether every character of `text` is in the default alphabet or its extension table.
pub fn is_representable(text: &str) -> bool {
    text.chars().all(|c| char_septets(c).is_some())
}

/// Total septets `text` needs (escape pairs count 2), or `None` if it is not representable.
pub fn septet_len(text: &str) -> Option<usize> {
    text.chars().map(char_septets).sum()
}

/// Appends the septets for `c` to `out`; returns `false` if `c` is not representable.
pub fn encode_char(c: char, out: &mut Vec<u8>) -> bool {
    if let Some(s) = base_septet(c) {
        out.push(s);
        true
    } else if let Some(x) = extension_code(c) {
        out.push(ESC);
        out.push(x);
        true
    } else {
        false
    }
}

/// Encodes `text` as unpacked septets (one per octet). `None` if any character is not in the
/// default alphabet or its extension table (the caller then falls back to UCS-2).
///
/// Vector (wire-formats.md §3.8 T2): `€10 [a]{b}~^|\` →
/// `1b653130201b3c611b3e1b28621b291b3d1b141b401b2f`.
pub fn encode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len());
    for c in text.chars() {
        if !encode_char(c, &mut out) {
            return None;
        }
    }
    Some(out)
}

/// Decodes unpacked septets. Never panics; see the module documentation for how invalid input
/// (octets above 0x7F, unknown escapes, `1B 1B`, a lone trailing ESC) is rendered.
pub fn decode(septets: &[u8]) -> String {
    let mut out = String::with_capacity(septets.len());
    let mut i = 0;
    while i < septets.len() {
        let b = septets[i];
        if b > 0x7F {
            out.push(REPLACEMENT);
            i += 1;
            continue;
        }
        if b != ESC {
            out.push(BASE[b as usize]);
            i += 1;
            continue;
        }
        match septets.get(i + 1) {
            None => out.push(REPLACEMENT),
            Some(&x) if x > 0x7F => out.push(REPLACEMENT),
            Some(&ESC) => out.push(' '),
            Some(&x) => {
                let ext = EXTENSION_BY_CODE[x as usize];
                out.push(if ext == REPLACEMENT {
                    BASE[x as usize]
                } else {
                    ext
                });
            }
        }
        i += 2;
    }
    out
}

/// Length in octets of the indivisible unit starting at `index` in an unpacked septet string:
/// 2 for an escape pair (`1B xx`), otherwise 1. Used by the segmenter so that it never splits an
/// escape pair (TS 23.040 §9.2.3.24.1).
pub fn unit_len_at(septets: &[u8], index: usize) -> usize {
    if septets.get(index) == Some(&ESC) && index + 1 < septets.len() {
        2
    } else {
        1
    }
}

/// Number of fill bits after a User Data Header of `udh_octets` octets (including UDHL) so
/// that the first septet starts on a septet boundary (TS 23.040 §9.2.3.24):
/// `(7 - (udh_octets * 8) % 7) % 7`. A 6-octet UDH gives 1, a 7-octet UDH gives 0.
pub fn fill_bits(udh_octets: usize) -> u8 {
    ((7 - (udh_octets * 8) % 7) % 7) as u8
}

/// Number of septets a UDH of `udh_octets` octets occupies in TP-UDL, fill bits included:
/// `ceil(udh_octets * 8 / 7)` (6 octets → 7 septets, 7 octets → 8 septets).
pub fn udh_septets(udh_octets: usize) -> usize {
    (udh_octets * 8).div_ceil(7)
}

/// Packs septets into the 7-bit air format (TS 23.038 §6.1.2.1), preceded by `fill_bits` zero
/// bits (0..=6; larger values are reduced modulo 7). Only the low 7 bits of each input octet are
/// used. The output does not include the UDH itself; prepend it separately.
///
/// Vector: "Hello world" with no fill → `C8 32 9B FD 06 DD DF 72 36 19`.
pub fn pack(septets: &[u8], fill_bits: u8) -> Vec<u8> {
    let fill = usize::from(fill_bits % 7);
    let total_bits = fill + septets.len() * 7;
    let mut out = vec![0u8; total_bits.div_ceil(8)];
    for (i, &s) in septets.iter().enumerate() {
        let bit = fill + i * 7;
        let (byte, shift) = (bit / 8, bit % 8);
        let v = u16::from(s & 0x7F) << shift;
        out[byte] |= (v & 0xFF) as u8;
        if shift > 1 {
            out[byte + 1] |= (v >> 8) as u8;
        }
    }
    out
}

/// Unpacks up to `count` septets from the 7-bit air format, skipping `fill_bits` leading bits
/// (reduced modulo 7). Stops early, without error, when `packed` runs out. Never panics.
pub fn unpack(packed: &[u8], fill_bits: u8, count: usize) -> Vec<u8> {
    let fill = usize::from(fill_bits % 7);
    let available = (packed.len() * 8).saturating_sub(fill) / 7;
    let n = count.min(available);
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let bit = fill + i * 7;
        let (byte, shift) = (bit / 8, bit % 8);
        let lo = u16::from(packed[byte]);
        let hi = packed.get(byte + 1).copied().map_or(0, u16::from);
        out.push((((lo | (hi << 8)) >> shift) & 0x7F) as u8);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn escape_vector_t2() {
        let bytes = encode("€10 [a]{b}~^|\\").expect("representable");
        assert_eq!(
            hex(&bytes),
            "1b653130201b3c611b3e1b28621b291b3d1b141b401b2f"
        );
        assert_eq!(bytes.len(), 23);
        assert_eq!(septet_len("€10 [a]{b}~^|\\"), Some(23));
        assert_eq!(decode(&bytes), "€10 [a]{b}~^|\\");
    }

    #[test]
    fn hello_world_t1_and_t3() {
        assert_eq!(
            hex(&encode("Hello world").unwrap()),
            "48656c6c6f20776f726c64"
        );
        let t3 = "Hola señor, ¿qué tal? Ü ö é à";
        let bytes = encode(t3).unwrap();
        assert_eq!(
            hex(&bytes),
            "486f6c612073657d6f722c20607175052074616c3f205e207c2005207f"
        );
        assert_eq!(decode(&bytes), t3);
    }

    #[test]
    fn not_in_alphabet() {
        for c in ['ç', 'á', 'í', 'ó', 'ú', 'ï', '`', '中', '😀', '\t'] {
            assert_eq!(char_septets(c), None, "{c:?}");
        }
        assert_eq!(encode("Hola señor, ¿qué tal? Ünïcödé"), None);
        assert!(!is_representable("ï"));
        assert!(is_representable("Ç"));
        assert_eq!(encode("Ç"), Some(vec![0x09]));
    }

    #[test]
    fn every_base_and_extension_char_round_trips() {
        for (i, &c) in BASE.iter().enumerate() {
            if i == ESC as usize {
                continue;
            }
            assert_eq!(encode(&c.to_string()), Some(vec![i as u8]), "{c:?}");
            assert_eq!(char_septets(c), Some(1));
        }
        for &(code, c) in &EXTENSION {
            assert_eq!(encode(&c.to_string()), Some(vec![ESC, code]), "{c:?}");
            assert_eq!(char_septets(c), Some(2));
            assert_eq!(decode(&[ESC, code]), c.to_string());
        }
    }

    #[test]
    fn invalid_input_decodes_leniently() {
        assert_eq!(decode(&[0x41, 0x80, 0x42]), "A\u{FFFD}B");
        // unknown escape: base-table fallback ('A')
        assert_eq!(decode(&[ESC, 0x41]), "A");
        assert_eq!(decode(&[ESC, ESC, 0x41]), " A");
        assert_eq!(decode(&[0x41, ESC]), "A\u{FFFD}");
        assert_eq!(decode(&[ESC, 0xFF]), "\u{FFFD}");
        assert_eq!(decode(&[]), "");
    }

    #[test]
    fn unit_len_marks_escape_pairs() {
        let s = encode("a€b").unwrap();
        assert_eq!(unit_len_at(&s, 0), 1);
        assert_eq!(unit_len_at(&s, 1), 2);
        assert_eq!(unit_len_at(&s, 3), 1);
        assert_eq!(unit_len_at(&[ESC], 0), 1);
    }

    #[test]
    fn fill_bits_and_udh_septets() {
        assert_eq!(fill_bits(6), 1);
        assert_eq!(fill_bits(7), 0);
        assert_eq!(fill_bits(0), 0);
        assert_eq!(udh_septets(6), 7);
        assert_eq!(udh_septets(7), 8);
        assert_eq!(udh_septets(12), 14);
    }

    #[test]
    fn pack_hello_world() {
        let packed = pack(&encode("Hello world").unwrap(), 0);
        assert_eq!(hex(&packed), "c8329bfd06dddf723619");
        assert_eq!(decode(&unpack(&packed, 0, 11)), "Hello world");
    }

    #[test]
    fn pack_after_udh_with_fill_bit() {
        // wire-formats.md §3.3: first part of the 161-char vector, TP-UD after the 6-octet UDH
        // starts 60 31 D9 8C 56 B3 DD 70 ...
        let text: String = "0123456789".repeat(16);
        let septets = encode(&text[..153]).unwrap();
        let packed = pack(&septets, fill_bits(6));
        assert_eq!(hex(&packed[..8]), "6031d98c56b3dd70");
        // 7 UDH septets + 153 = 160 septets = 140 octets including the 6 UDH octets.
        assert_eq!(6 + packed.len(), 140);
        assert_eq!(unpack(&packed, 1, 153), septets);
        // §6.4 python-messaging vector: second part "3456789X".
        let p2 = pack(&encode("3456789X").unwrap(), 1);
        assert_eq!(hex(&p2), "66b49aed86cb6101");
        assert_eq!(decode(&unpack(&p2, 1, 8)), "3456789X");
    }

    #[test]
    fn unpack_is_bounded() {
        assert_eq!(unpack(&[], 3, 10), Vec::<u8>::new());
        assert_eq!(unpack(&[0xFF], 6, 10), Vec::<u8>::new());
        assert_eq!(unpack(&[0xFF], 0, 10), vec![0x7F]);
    }
}
