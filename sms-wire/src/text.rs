//! Choosing a text alphabet and decoding by `data_coding`.
//!
//! Outbound (MT): [`choose`] picks GSM-7 when every character is in the GSM 03.38 default
//! alphabet or its extension table, otherwise UCS-2 (wire-formats.md §3.1). Inbound (MO):
//! [`decode`] maps an SMPP `data_coding` (SMPP 3.4 §5.2.19, and the 3GPP TS 23.038 §4 coding
//! groups that SMSCs pass through) to an [`Alphabet`] and decodes without ever failing.

use crate::{gsm7, latin1, ucs2};

/// The alphabets we encode and decode. Everything else is treated as [`Alphabet::Binary`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Alphabet {
    /// GSM 03.38 default alphabet + extension table, unpacked septets (`data_coding` 0x00).
    Gsm7,
    /// UCS-2 / UTF-16BE with surrogate pairs (`data_coding` 0x08).
    Ucs2,
    /// ISO-8859-1 (`data_coding` 0x03).
    Latin1,
    /// 8-bit data, octet unspecified (`data_coding` 0x04), or a character set we do not decode.
    Binary,
}

impl Alphabet {
    /// The SMPP `data_coding` we send for this alphabet: 0x00, 0x08, 0x03 or 0x04.
    pub fn data_coding(self) -> u8 {
        match self {
            Alphabet::Gsm7 => 0x00,
            Alphabet::Ucs2 => 0x08,
            Alphabet::Latin1 => 0x03,
            Alphabet::Binary => 0x04,
        }
    }

    /// The alphabet a received `data_coding` denotes. Total over all 256 values:
    ///
    /// | value | alphabet | source |
    /// |---|---|---|
    /// | 0x00 | Gsm7 | SMPP 3.4 §5.2.19 SMSC default alphabet |
    /// | 0x01 | Gsm7 | IA5/ASCII. npm `smpp` labels GSM 03.38 bytes 0x01 (wire-formats.md §6.5), and the two agree on letters, digits and most punctuation, so we decode as GSM-7 |
    /// | 0x02, 0x04 | Binary | octet unspecified |
    /// | 0x03 | Latin1 | |
    /// | 0x05-0x07, 0x09-0x0E | Binary | JIS, Cyrillic, Hebrew, pictogram, ISO-2022-JP, reserved, kanji, KS C 5601: not decoded here, so callers see the raw octets |
    /// | 0x08 | Ucs2 | |
    /// | 0x0F | Gsm7 | the air DCS "language unspecified" that USSD binds pass through (wire-formats.md §4.4) |
    /// | 0x10-0x7F | by bits | TS 23.038 §4 general data coding (00xx xxxx) and automatic deletion (01xx xxxx) groups: bit 5 set (compressed) → Binary; bits 3-2: 00 Gsm7, 01 Binary, 10 Ucs2, 11 (reserved) Gsm7 |
    /// | 0x80-0xBF | Gsm7 | reserved coding groups; TS 23.038 §4: "assumed to be the GSM 7 bit default alphabet" |
    /// | 0xC0-0xDF | Gsm7 | message waiting indication, discard / store, GSM-7 |
    /// | 0xE0-0xEF | Ucs2 | message waiting indication, store, UCS-2 |
    /// | 0xF0-0xFF | by bit 2 | data coding / message class: bit 2 clear Gsm7, set Binary (8-bit) |
    pub fn from_data_coding(dcs: u8) -> Alphabet {
        match dcs {
            0x00 | 0x01 | 0x0F => Alphabet::Gsm7,
            0x03 => Alphabet::Latin1,
            0x08 => Alphabet::Ucs2,
            0x02 | 0x04..=0x07 | 0x09..=0x0E => Alphabet::Binary,
            0x10..=0x7F => {
                if dcs & 0x20 != 0 {
                    Alphabet::Binary
                } else {
                    match (dcs >> 2) & 0x03 {
                        0b01 => Alphabet::Binary,
                        0b10 => Alphabet::Ucs2,
                        _ => Alphabet::Gsm7,
                    }
                }
            }
            0x80..=0xDF => Alphabet::Gsm7,
            0xE0..=0xEF => Alphabet::Ucs2,
            0xF0..=0xFF => {
                if dcs & 0x04 != 0 {
                    Alphabet::Binary
                } else {
                    Alphabet::Gsm7
                }
            }
        }
    }
}

/// GSM-7 if every character of `text` fits the default alphabet + extension table, else UCS-2.
pub fn choose(text: &str) -> Alphabet {
    if gsm7::is_representable(text) {
        Alphabet::Gsm7
    } else {
        Alphabet::Ucs2
    }
}

/// Encodes `text` in `alphabet`. `None` when a character is not representable (GSM-7, Latin-1).
/// UCS-2 always succeeds. [`Alphabet::Binary`] yields the UTF-8 octets of `text` (note that
/// [`decode`] renders binary as hex, so this one does not round-trip through `decode`).
pub fn encode(text: &str, alphabet: Alphabet) -> Option<Vec<u8>> {
    match alphabet {
        Alphabet::Gsm7 => gsm7::encode(text),
        Alphabet::Ucs2 => Some(ucs2::encode(text)),
        Alphabet::Latin1 => latin1::encode(text),
        Alphabet::Binary => Some(text.as_bytes().to_vec()),
    }
}

/// Decodes `bytes` received with `data_coding` (see [`Alphabet::from_data_coding`]). Never
/// panics and never fails: invalid text becomes U+FFFD. Binary data (and character sets we do
/// not decode) is rendered as lowercase hex of the raw octets, so nothing is lost for logging.
pub fn decode(data_coding: u8, bytes: &[u8]) -> String {
    match Alphabet::from_data_coding(data_coding) {
        Alphabet::Gsm7 => gsm7::decode(bytes),
        Alphabet::Ucs2 => ucs2::decode(bytes),
        Alphabet::Latin1 => latin1::decode(bytes),
        Alphabet::Binary => to_hex(bytes),
    }
}

/// Lowercase hex of `bytes`, two digits per octet.
pub fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0F)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choose_per_wire_formats() {
        assert_eq!(choose("Hello world"), Alphabet::Gsm7);
        assert_eq!(choose("€10 [a]{b}~^|\\"), Alphabet::Gsm7);
        assert_eq!(choose("Hola señor, ¿qué tal? Ü ö é à"), Alphabet::Gsm7);
        assert_eq!(choose("Hola señor, ¿qué tal? Ünïcödé"), Alphabet::Ucs2);
        assert_eq!(choose("查询余额"), Alphabet::Ucs2);
        assert_eq!(choose("ok 😀"), Alphabet::Ucs2);
        assert_eq!(choose(""), Alphabet::Gsm7);
    }

    #[test]
    fn data_coding_round_trips() {
        for a in [
            Alphabet::Gsm7,
            Alphabet::Ucs2,
            Alphabet::Latin1,
            Alphabet::Binary,
        ] {
            assert_eq!(Alphabet::from_data_coding(a.data_coding()), a);
        }
    }

    #[test]
    fn data_coding_groups() {
        use Alphabet::*;
        let cases = [
            (0x01, Gsm7),
            (0x02, Binary),
            (0x06, Binary),
            (0x0F, Gsm7),
            (0x10, Gsm7),
            (0x11, Gsm7),
            (0x14, Binary),
            (0x18, Ucs2),
            (0x1C, Gsm7),
            (0x24, Binary), // compressed
            (0x48, Ucs2),
            (0x44, Binary),
            (0x90, Gsm7),
            (0xC8, Gsm7),
            (0xE8, Ucs2),
            (0xF0, Gsm7),
            (0xF5, Binary),
            (0xF6, Binary),
            (0xF3, Gsm7),
        ];
        for (dcs, want) in cases {
            assert_eq!(Alphabet::from_data_coding(dcs), want, "dcs {dcs:#04x}");
        }
    }

    #[test]
    fn decode_by_data_coding() {
        assert_eq!(decode(0x00, &[0x48, 0x69, 0x1B, 0x65]), "Hi€");
        assert_eq!(decode(0x08, &[0x67, 0xE5, 0x8B, 0xE2]), "查询");
        assert_eq!(decode(0x18, &[0x00, 0x41]), "A");
        assert_eq!(decode(0x03, &[0xE9]), "é");
        assert_eq!(decode(0x04, &[0x0B, 0x84, 0xAF]), "0b84af");
        assert_eq!(decode(0xF5, &[]), "");
    }

    #[test]
    fn encode_per_alphabet() {
        assert_eq!(encode("a€", Alphabet::Gsm7), Some(vec![0x61, 0x1B, 0x65]));
        assert_eq!(encode("中", Alphabet::Gsm7), None);
        assert_eq!(encode("中", Alphabet::Ucs2), Some(vec![0x4E, 0x2D]));
        assert_eq!(encode("é", Alphabet::Latin1), Some(vec![0xE9]));
        assert_eq!(encode("é", Alphabet::Binary), Some(vec![0xC3, 0xA9]));
    }
}
