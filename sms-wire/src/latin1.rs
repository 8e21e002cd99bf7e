//! ISO-8859-1 (Latin-1), SMPP 3.4 `data_coding` 0x03 (§5.2.19). Every octet is a code point
//! U+0000..=U+00FF, so decoding is total and exact.

/// Decodes Latin-1 octets; each octet maps to the code point of the same value. Never panics.
pub fn decode(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| char::from(b)).collect()
}

/// Encodes `text` as Latin-1, or `None` if a character is above U+00FF.
pub fn encode(text: &str) -> Option<Vec<u8>> {
    text.chars().map(|c| u8::try_from(c).ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_limits() {
        let text = "Crème brûlée à 5€";
        assert_eq!(encode(text), None, "the euro sign is not in Latin-1");
        let text = "Crème brûlée, ça coûte 5 ¤ ÿ";
        let bytes = encode(text).unwrap();
        assert_eq!(bytes.len(), text.chars().count());
        assert_eq!(bytes[2], 0xE8);
        assert_eq!(decode(&bytes), text);
        assert_eq!(decode(&[0x00, 0x7F, 0x80, 0xFF]), "\u{0}\u{7F}\u{80}\u{FF}");
    }
}
