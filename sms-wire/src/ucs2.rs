//! UCS-2 as SMPP carries it with `data_coding` 0x08 (SMPP 3.4 §5.2.19): UTF-16 big-endian in
//! practice, with surrogate pairs for characters outside the BMP (emoji), as modern handsets
//! accept (see `shared/reference/wire-formats.md` §3.6).
//!
//! Decoding is total: an odd trailing octet and unpaired surrogates each become U+FFFD, so a
//! message is never dropped for its text. Reassemble concatenated parts as octets first, then
//! decode once, so a surrogate pair split across parts by a sloppy sender still decodes.

/// Encodes `text` as UTF-16BE. Every `&str` is encodable; non-BMP characters take 4 octets.
///
/// Vector (wire-formats.md §3.8 T12): `ok 😀` → `00 6F 00 6B 00 20 D8 3D DE 00`.
pub fn encode(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() * 2);
    for unit in text.encode_utf16() {
        out.extend_from_slice(&unit.to_be_bytes());
    }
    out
}

/// Decodes UTF-16BE leniently: unpaired surrogates and an odd trailing octet become U+FFFD.
/// Never panics.
pub fn decode(bytes: &[u8]) -> String {
    let units = bytes
        .chunks_exact(2)
        .map(|pair| u16::from_be_bytes([pair[0], pair[1]]));
    let mut out: String = char::decode_utf16(units)
        .map(|r| r.unwrap_or(char::REPLACEMENT_CHARACTER))
        .collect();
    if bytes.len() % 2 == 1 {
        out.push(char::REPLACEMENT_CHARACTER);
    }
    out
}

/// Number of UTF-16 code units `text` needs (a non-BMP character counts 2).
pub fn unit_len(text: &str) -> usize {
    text.chars().map(char::len_utf16).sum()
}

/// Whether the 16-bit unit at octet offset `index` of UTF-16BE `bytes` is a high surrogate.
fn is_high_surrogate_at(bytes: &[u8], index: usize) -> bool {
    matches!(bytes.get(index), Some(b) if (0xD8..=0xDB).contains(b))
}

/// Length in octets of the indivisible unit starting at octet offset `index` of UTF-16BE
/// `bytes`: 4 for a complete surrogate pair, otherwise 2 (or 1 for an odd trailing octet). Used
/// by the segmenter so that it never splits a surrogate pair (TS 23.040 §9.2.3.24.1).
pub fn unit_len_at(bytes: &[u8], index: usize) -> usize {
    let remaining = bytes.len().saturating_sub(index);
    if remaining < 2 {
        return remaining.max(1);
    }
    if is_high_surrogate_at(bytes, index)
        && remaining >= 4
        && (0xDC..=0xDF).contains(&bytes[index + 2])
    {
        4
    } else {
        2
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn chinese_t8() {
        let bytes = encode("查询余额");
        assert_eq!(hex(&bytes), "67e58be24f59989d");
        assert_eq!(decode(&bytes), "查询余额");
        assert_eq!(unit_len("查询余额"), 4);
    }

    #[test]
    fn emoji_t12() {
        let bytes = encode("ok 😀");
        assert_eq!(hex(&bytes), "006f006b0020d83dde00");
        assert_eq!(decode(&bytes), "ok 😀");
        assert_eq!(unit_len("ok 😀"), 5);
        assert_eq!(unit_len_at(&bytes, 6), 4);
        assert_eq!(unit_len_at(&bytes, 4), 2);
    }

    #[test]
    fn t4_forces_ucs2_bytes() {
        let bytes = encode("Hola señor, ¿qué tal? Ünïcödé");
        assert_eq!(bytes.len(), 58);
        assert!(hex(&bytes).ends_with("00dc006e00ef006300f6006400e9"));
    }

    #[test]
    fn lenient_decoding() {
        // lone high surrogate, lone low surrogate, odd trailing octet
        assert_eq!(decode(&[0xD8, 0x3D, 0x00, 0x41]), "\u{FFFD}A");
        assert_eq!(decode(&[0xDE, 0x00]), "\u{FFFD}");
        assert_eq!(decode(&[0x00, 0x41, 0x42]), "A\u{FFFD}");
        assert_eq!(decode(&[]), "");
        assert_eq!(unit_len_at(&[0x00], 0), 1);
        assert_eq!(unit_len_at(&[0xD8, 0x3D, 0x00, 0x41], 0), 2);
    }
}
