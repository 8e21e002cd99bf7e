//! Format detection by magic bytes, never by file name or declared content type: the accepted
//! upload formats (JPEG, PNG, GIF, BMP, WebP) and, for everything else, a short description of
//! what the bytes look like so the refusal can say "this looks like an SVG drawing".

use super::error::ImageError;
use std::fmt;

/// An accepted input format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// JPEG / JFIF / Exif (ITU-T T.81), starts `FF D8 FF`.
    Jpeg,
    /// PNG (ISO/IEC 15948), starts with the 8-byte signature `89 50 4E 47 0D 0A 1A 0A`.
    Png,
    /// GIF 87a/89a, starts `GIF87a` or `GIF89a`.
    Gif,
    /// Windows bitmap, starts `BM` followed by a known DIB header size at offset 14.
    Bmp,
    /// WebP, a RIFF container: `RIFF` size `WEBP`.
    WebP,
}

impl Format {
    /// Every format an upload (or a preset picture) may be in, in the order texts name them.
    pub const ALL: [Format; 5] = [
        Format::Jpeg,
        Format::Png,
        Format::Gif,
        Format::Bmp,
        Format::WebP,
    ];

    /// Lower-case short name (`jpeg`, `png`, `gif`, `bmp`, `webp`).
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Jpeg => "jpeg",
            Format::Png => "png",
            Format::Gif => "gif",
            Format::Bmp => "bmp",
            Format::WebP => "webp",
        }
    }

    /// The MIME type.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Jpeg => "image/jpeg",
            Format::Png => "image/png",
            Format::Gif => "image/gif",
            Format::Bmp => "image/bmp",
            Format::WebP => "image/webp",
        }
    }

    /// The `image` crate's name for it.
    pub(crate) fn to_image_format(self) -> image::ImageFormat {
        match self {
            Format::Jpeg => image::ImageFormat::Jpeg,
            Format::Png => image::ImageFormat::Png,
            Format::Gif => image::ImageFormat::Gif,
            Format::Bmp => image::ImageFormat::Bmp,
            Format::WebP => image::ImageFormat::WebP,
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Jpeg => "JPEG",
            Format::Png => "PNG",
            Format::Gif => "GIF",
            Format::Bmp => "BMP",
            Format::WebP => "WebP",
        })
    }
}

/// Detect the format from the first bytes. Anything that is not an accepted format is
/// [`ImageError::UnsupportedFormat`] with a description of what it looks like; zero bytes is
/// [`ImageError::Empty`].
pub fn sniff(bytes: &[u8]) -> Result<Format, ImageError> {
    if bytes.is_empty() {
        return Err(ImageError::Empty);
    }
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return Ok(Format::Jpeg);
    }
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        return Ok(Format::Png);
    }
    if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        return Ok(Format::Gif);
    }
    if bytes.len() >= 12 && &bytes[0..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        return Ok(Format::WebP);
    }
    if is_bmp(bytes) {
        return Ok(Format::Bmp);
    }
    Err(ImageError::UnsupportedFormat {
        detected: describe(bytes).to_string(),
    })
}

/// `BM`, then the DIB header size (u32 LE at offset 14) must be one of the sizes the BMP
/// family defines (BITMAPCOREHEADER 12 ... BITMAPV5HEADER 124), so a text starting "BM" is not
/// mistaken for a bitmap.
fn is_bmp(bytes: &[u8]) -> bool {
    if bytes.len() < 18 || &bytes[0..2] != b"BM" {
        return false;
    }
    let dib = u32::from_le_bytes([bytes[14], bytes[15], bytes[16], bytes[17]]);
    matches!(dib, 12 | 16 | 40 | 52 | 56 | 64 | 108 | 124)
}

/// What a refused file looks like, as an indefinite noun phrase ("an SVG drawing").
fn describe(bytes: &[u8]) -> &'static str {
    let head = &bytes[..bytes.len().min(1024)];
    let trimmed = trim_text_start(head);
    let lower: Vec<u8> = trimmed
        .iter()
        .take(256)
        .map(u8::to_ascii_lowercase)
        .collect();
    let contains = |needle: &[u8]| lower.windows(needle.len()).any(|w| w == needle);

    if lower.starts_with(b"<svg") || (lower.starts_with(b"<") && contains(b"<svg")) {
        return "an SVG drawing";
    }
    if lower.starts_with(b"<!doctype html") || lower.starts_with(b"<html") {
        return "a web page (HTML)";
    }
    if lower.starts_with(b"<?xml") {
        return "an XML document";
    }
    if head.starts_with(b"%PDF") {
        return "a PDF document";
    }
    if head.starts_with(b"II*\0") || head.starts_with(b"MM\0*") {
        return "a TIFF picture";
    }
    if head.len() >= 12 && &head[4..8] == b"ftyp" {
        return match &head[8..12] {
            b"heic" | b"heix" | b"hevc" | b"heim" | b"heis" | b"mif1" | b"msf1" => "a HEIC photo",
            b"avif" | b"avis" => "an AVIF picture",
            _ => "a video (MP4/MOV)",
        };
    }
    if head.starts_with(b"RIFF") {
        return "a RIFF audio or video file";
    }
    if head.starts_with(&[0, 0, 1, 0]) || head.starts_with(&[0, 0, 2, 0]) {
        return "an icon (ICO/CUR)";
    }
    if head.starts_with(b"8BPS") {
        return "a Photoshop document";
    }
    if head.starts_with(b"PK\x03\x04") {
        return "a ZIP archive";
    }
    if head.starts_with(&[0x1F, 0x8B]) {
        return "a compressed (gzip) file";
    }
    if head.starts_with(&[0xFF, 0xD8]) {
        return "a damaged JPEG picture";
    }
    if head.starts_with(b"\x89PNG") || head.starts_with(b"GIF8") {
        return "a damaged picture";
    }
    if looks_like_text(head) {
        return "text";
    }
    if head.starts_with(b"BM") {
        return "a damaged picture";
    }
    "an unknown kind of file"
}

/// Skip a UTF-8 byte-order mark and leading ASCII whitespace.
fn trim_text_start(head: &[u8]) -> &[u8] {
    let head = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    let start = head
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(head.len());
    &head[start..]
}

/// Valid UTF-8 (allowing a character cut at the end of the sample) without control characters
/// other than tab, CR and LF.
fn looks_like_text(head: &[u8]) -> bool {
    let valid = match std::str::from_utf8(head) {
        Ok(s) => s,
        Err(e) if head.len() - e.valid_up_to() < 4 && e.error_len().is_none() => {
            // Only a truncated multi-byte character at the end of the sample.
            match std::str::from_utf8(&head[..e.valid_up_to()]) {
                Ok(s) => s,
                Err(_) => return false,
            }
        }
        Err(_) => return false,
    };
    !valid.is_empty()
        && valid
            .chars()
            .all(|c| !c.is_control() || matches!(c, '\t' | '\n' | '\r'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detected(bytes: &[u8]) -> String {
        match sniff(bytes) {
            Err(ImageError::UnsupportedFormat { detected }) => detected,
            other => panic!("expected UnsupportedFormat, got {other:?}"),
        }
    }

    #[test]
    fn accepted_magics() {
        assert_eq!(sniff(&[0xFF, 0xD8, 0xFF, 0xE0]), Ok(Format::Jpeg));
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR"), Ok(Format::Png));
        assert_eq!(sniff(b"GIF89a\x01\0\x01\0"), Ok(Format::Gif));
        assert_eq!(sniff(b"GIF87a"), Ok(Format::Gif));
        assert_eq!(sniff(b"RIFF\x10\0\0\0WEBPVP8L"), Ok(Format::WebP));
        let mut bmp = b"BM".to_vec();
        bmp.extend_from_slice(&[0; 12]);
        bmp.extend_from_slice(&40u32.to_le_bytes());
        assert_eq!(sniff(&bmp), Ok(Format::Bmp));
    }

    #[test]
    fn empty_is_its_own_error() {
        assert_eq!(sniff(b""), Err(ImageError::Empty));
    }

    #[test]
    fn describes_what_others_look_like() {
        assert_eq!(
            detected(b"<svg xmlns='http://www.w3.org/2000/svg'/>"),
            "an SVG drawing"
        );
        assert_eq!(
            detected(b"\xEF\xBB\xBF  <?xml version=\"1.0\"?>\n<svg width=\"10\"/>"),
            "an SVG drawing"
        );
        assert_eq!(detected(b"<?xml version=\"1.0\"?><a/>"), "an XML document");
        assert_eq!(detected(b"<!DOCTYPE html><html>"), "a web page (HTML)");
        assert_eq!(detected(b"%PDF-1.7"), "a PDF document");
        assert_eq!(detected(b"II*\0\x08\0\0\0"), "a TIFF picture");
        assert_eq!(detected(b"\0\0\0\x18ftypheic\0\0\0\0"), "a HEIC photo");
        assert_eq!(detected(b"\0\0\0\x18ftypavif\0\0\0\0"), "an AVIF picture");
        assert_eq!(detected(b"\0\0\0\x18ftypisom\0\0\0\0"), "a video (MP4/MOV)");
        assert_eq!(detected(b"PK\x03\x04rest"), "a ZIP archive");
        assert_eq!(detected(b"hello, this is not a picture\n"), "text");
        assert_eq!(detected("头像 avatar".as_bytes()), "text");
        assert_eq!(
            detected(b"BM\x10\0\0\0\0\0\0\0\x99\0\0\0\x07\0\0\0"),
            "a damaged picture"
        );
        assert_eq!(detected(b"BMW owners club newsletter"), "text");
        assert_eq!(
            detected(&[0x00, 0x01, 0x02, 0x03, 0xFE]),
            "an unknown kind of file"
        );
    }

    #[test]
    fn text_starting_bm_is_not_a_bitmap() {
        assert!(sniff(b"BMW owners club newsletter").is_err());
    }
}
