//! Cheap structural walks over the container formats, done before any pixel is decoded:
//! counting animation frames (GIF image descriptors, WebP `ANMF` chunks) without decompressing
//! them, and checking that a JPEG's marker segments and entropy-coded data run to the EOI marker
//! (a truncated JPEG is otherwise "decoded" into a half-grey picture by lenient decoders).
//! It also reads each format's declared picture size straight from the header bytes, so a
//! decompression bomb is refused before any decoder (and its line buffers) exists.
//! All walks are bounded by the input length and never panic.

use super::sniff::Format;

/// What a walk over a GIF's blocks found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct GifScan {
    /// Image descriptors seen (counting stops just past the limit).
    pub frames: u32,
    /// The largest right/bottom edge (left + width, top + height) of any frame seen.
    pub extent: (u32, u32),
}

/// Count the frames of a GIF (GIF89a spec §20 image descriptor `0x2C`, §23 extensions `0x21`,
/// §27 trailer `0x3B`) by skipping sub-blocks, stopping as soon as `stop_after` is exceeded,
/// and note how far the frames reach (a frame may be declared larger than the logical screen).
/// A truncated or malformed stream stops the walk where it breaks (the decoder reports the
/// damage later).
pub(crate) fn gif_scan(bytes: &[u8], stop_after: u32) -> GifScan {
    let mut scan = GifScan::default();
    // Header (6) + logical screen descriptor (7).
    if bytes.len() < 13 {
        return scan;
    }
    let mut pos = 13;
    let flags = bytes[10];
    if flags & 0x80 != 0 {
        pos += 3 * (1usize << ((flags & 0x07) + 1));
    }
    while let Some(&block) = bytes.get(pos) {
        match block {
            0x2C => {
                scan.frames += 1;
                if scan.frames > stop_after {
                    return scan;
                }
                // Separator + 9-byte descriptor (left, top, width, height as u16 LE; flags),
                // optional local colour table, LZW code size.
                let Some(&local) = bytes.get(pos + 9) else {
                    return scan;
                };
                let field = |i: usize| u32::from(u16::from_le_bytes([bytes[i], bytes[i + 1]]));
                scan.extent.0 = scan.extent.0.max(field(pos + 1) + field(pos + 5));
                scan.extent.1 = scan.extent.1.max(field(pos + 3) + field(pos + 7));
                pos += 10;
                if local & 0x80 != 0 {
                    pos += 3 * (1usize << ((local & 0x07) + 1));
                }
                pos += 1;
                pos = match skip_sub_blocks(bytes, pos) {
                    Some(p) => p,
                    None => return scan,
                };
            }
            0x21 => {
                pos = match skip_sub_blocks(bytes, pos + 2) {
                    Some(p) => p,
                    None => return scan,
                };
            }
            _ => return scan, // 0x3B trailer, or garbage.
        }
    }
    scan
}

/// Skip a chain of GIF data sub-blocks (length byte + data, ended by a zero length).
fn skip_sub_blocks(bytes: &[u8], mut pos: usize) -> Option<usize> {
    loop {
        let len = usize::from(*bytes.get(pos)?);
        pos += 1;
        if len == 0 {
            return Some(pos);
        }
        pos += len;
    }
}

/// Count the `ANMF` (animation frame) chunks of a WebP RIFF container (WebP container spec,
/// "Extended file format"), stopping past `stop_after`. A still WebP counts as 1.
pub(crate) fn webp_frames(bytes: &[u8], stop_after: u32) -> u32 {
    let mut pos = 12;
    let mut frames = 0u32;
    let mut still = false;
    while pos + 8 <= bytes.len() {
        let fourcc = &bytes[pos..pos + 4];
        let size = u32::from_le_bytes([
            bytes[pos + 4],
            bytes[pos + 5],
            bytes[pos + 6],
            bytes[pos + 7],
        ]) as usize;
        match fourcc {
            b"ANMF" => {
                frames += 1;
                if frames > stop_after {
                    return frames;
                }
            }
            b"VP8 " | b"VP8L" => still = true,
            _ => {}
        }
        // Chunks are padded to an even size.
        pos = pos
            .saturating_add(8)
            .saturating_add(size)
            .saturating_add(size & 1);
    }
    if frames == 0 && still {
        1
    } else {
        frames
    }
}

/// The picture size a file declares in its header, read without any decoder: PNG IHDR
/// (ISO/IEC 15948 §11.2.2), GIF logical screen (GIF89a §18) widened to the largest frame
/// extent, BMP DIB header, JPEG SOFn frame header (T.81 §B.2.2), WebP `VP8 `/`VP8L`/`VP8X`
/// (RFC 9649 §2.5-2.7). None when the header is too short or unrecognised (the decoder then
/// decides).
pub(crate) fn declared_dimensions(bytes: &[u8], format: Format) -> Option<(u32, u32)> {
    let be32 = |i: usize| Some(u32::from_be_bytes(bytes.get(i..i + 4)?.try_into().ok()?));
    let le32 = |i: usize| Some(u32::from_le_bytes(bytes.get(i..i + 4)?.try_into().ok()?));
    let le16 = |i: usize| {
        Some(u32::from(u16::from_le_bytes(
            bytes.get(i..i + 2)?.try_into().ok()?,
        )))
    };
    let le24 = |i: usize| {
        let b = bytes.get(i..i + 3)?;
        Some(u32::from_le_bytes([b[0], b[1], b[2], 0]))
    };
    match format {
        Format::Png => {
            if bytes.get(12..16)? != b"IHDR" {
                return None;
            }
            Some((be32(16)?, be32(20)?))
        }
        Format::Gif => {
            let screen = (le16(6)?, le16(8)?);
            let extent = gif_scan(bytes, u32::MAX).extent;
            Some((screen.0.max(extent.0), screen.1.max(extent.1)))
        }
        Format::Bmp => {
            if le32(14)? == 12 {
                Some((le16(18)?, le16(20)?))
            } else {
                let w = le32(18)? as i32;
                let h = le32(22)? as i32;
                Some((w.unsigned_abs(), h.unsigned_abs()))
            }
        }
        Format::Jpeg => jpeg_frame_size(bytes),
        Format::WebP => {
            let chunk = bytes.get(12..16)?;
            let data = 20;
            match chunk {
                b"VP8X" => Some((le24(data + 4)? + 1, le24(data + 7)? + 1)),
                b"VP8L" => {
                    let bits = le32(data + 1)?;
                    Some(((bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1))
                }
                b"VP8 " => Some((le16(data + 6)? & 0x3FFF, le16(data + 8)? & 0x3FFF)),
                _ => None,
            }
        }
    }
}

/// Width and height from the first SOFn segment (T.81 §B.2.2: P, Y, X after the length).
fn jpeg_frame_size(bytes: &[u8]) -> Option<(u32, u32)> {
    let mut pos = 2;
    loop {
        if *bytes.get(pos)? != 0xFF {
            return None;
        }
        while *bytes.get(pos)? == 0xFF {
            pos += 1;
        }
        let marker = *bytes.get(pos)?;
        pos += 1;
        if matches!(marker, 0xD0..=0xD8 | 0x01) {
            continue;
        }
        let len = usize::from(u16::from_be_bytes([*bytes.get(pos)?, *bytes.get(pos + 1)?]));
        let is_sof = matches!(marker, 0xC0..=0xCF) && !matches!(marker, 0xC4 | 0xC8 | 0xCC);
        if is_sof {
            let h = u16::from_be_bytes([*bytes.get(pos + 3)?, *bytes.get(pos + 4)?]);
            let w = u16::from_be_bytes([*bytes.get(pos + 5)?, *bytes.get(pos + 6)?]);
            return Some((u32::from(w), u32::from(h)));
        }
        if marker == 0xDA || marker == 0xD9 {
            return None;
        }
        pos += len;
    }
}

/// Check that a JPEG (ITU-T T.81 Annex B) is structurally complete: every marker segment fits,
/// every scan's entropy-coded data (with `FF 00` stuffing and `RSTn` markers, §B.1.1.5) is
/// followed by a marker, and an EOI (`FF D9`) is reached. Returns why not.
pub(crate) fn jpeg_complete(bytes: &[u8]) -> Result<(), String> {
    if !bytes.starts_with(&[0xFF, 0xD8]) {
        return Err("no start-of-image marker".into());
    }
    let mut pos = 2;
    let mut seen_scan = false;
    loop {
        if bytes.get(pos) != Some(&0xFF) {
            return Err(if pos >= bytes.len() {
                "the file ends before the end-of-image marker".into()
            } else {
                format!("expected a marker at byte {pos}")
            });
        }
        // Fill bytes: any number of FF before the marker code (§B.1.1.2).
        while bytes.get(pos) == Some(&0xFF) {
            pos += 1;
        }
        let Some(&marker) = bytes.get(pos) else {
            return Err("the file ends inside a marker".into());
        };
        pos += 1;
        match marker {
            0xD9 => {
                return if seen_scan {
                    Ok(())
                } else {
                    Err("end-of-image before any image data".into())
                };
            }
            0xD0..=0xD7 | 0x01 => continue,
            _ => {
                let (Some(&hi), Some(&lo)) = (bytes.get(pos), bytes.get(pos + 1)) else {
                    return Err("the file ends inside a segment header".into());
                };
                let len = usize::from(u16::from_be_bytes([hi, lo]));
                if len < 2 || pos + len > bytes.len() {
                    return Err(format!(
                        "segment FF{marker:02X} runs past the end of the file"
                    ));
                }
                pos += len;
                if marker == 0xDA {
                    seen_scan = true;
                    pos = end_of_entropy_data(bytes, pos)
                        .ok_or("the file ends inside the image data")?;
                }
            }
        }
    }
}

/// From the start of entropy-coded data, the offset of the next real marker (an `FF` not
/// followed by `00` stuffing or a restart marker), or None at end of input.
fn end_of_entropy_data(bytes: &[u8], mut pos: usize) -> Option<usize> {
    while pos < bytes.len() {
        if bytes[pos] == 0xFF {
            match *bytes.get(pos + 1)? {
                0x00 | 0xD0..=0xD7 => pos += 2,
                0xFF => pos += 1,
                _ => return Some(pos),
            }
        } else {
            pos += 1;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal GIF: header, 1x1 screen without colour table, `n` frames, trailer.
    fn gif_with_frames(n: usize) -> Vec<u8> {
        let mut g = b"GIF89a\x01\x00\x01\x00\x00\x00\x00".to_vec();
        for _ in 0..n {
            // Graphic control extension.
            g.extend_from_slice(&[0x21, 0xF9, 0x04, 0x00, 0x0A, 0x00, 0x00, 0x00]);
            // Image descriptor with a 2-entry local colour table, LZW code size 2, one block.
            g.extend_from_slice(&[0x2C, 0, 0, 0, 0, 1, 0, 1, 0, 0x80]);
            g.extend_from_slice(&[0, 0, 0, 255, 255, 255]);
            g.extend_from_slice(&[0x02, 0x02, 0x44, 0x01, 0x00]);
        }
        g.push(0x3B);
        g
    }

    #[test]
    fn counts_gif_frames_and_stops_early() {
        assert_eq!(gif_scan(&gif_with_frames(1), 100).frames, 1);
        assert_eq!(gif_scan(&gif_with_frames(7), 100).frames, 7);
        assert_eq!(gif_scan(&gif_with_frames(1000), 100).frames, 101);
        assert_eq!(gif_scan(&gif_with_frames(3), 100).extent, (1, 1));
        // Truncation stops the count without panicking.
        let g = gif_with_frames(5);
        for cut in 0..g.len() {
            assert!(gif_scan(&g[..cut], 100).frames <= 5);
        }
    }

    #[test]
    fn gif_frame_extent_counts_offsets() {
        let mut g = gif_with_frames(1);
        // Frame 1 descriptor starts after header (13) + GCE (8): left 300, width 60000.
        let d = 13 + 8;
        g[d + 1..d + 3].copy_from_slice(&300u16.to_le_bytes());
        g[d + 5..d + 7].copy_from_slice(&60000u16.to_le_bytes());
        assert_eq!(gif_scan(&g, 100).extent, (60300, 1));
        assert_eq!(declared_dimensions(&g, Format::Gif), Some((60300, 1)));
    }

    #[test]
    fn declared_dimensions_per_format() {
        let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
        png.extend_from_slice(&100_000u32.to_be_bytes());
        png.extend_from_slice(&7u32.to_be_bytes());
        assert_eq!(declared_dimensions(&png, Format::Png), Some((100_000, 7)));
        assert_eq!(declared_dimensions(&png[..20], Format::Png), None);

        let mut bmp = b"BM".to_vec();
        bmp.extend_from_slice(&[0; 12]);
        bmp.extend_from_slice(&40u32.to_le_bytes());
        bmp.extend_from_slice(&640i32.to_le_bytes());
        bmp.extend_from_slice(&(-480i32).to_le_bytes());
        assert_eq!(declared_dimensions(&bmp, Format::Bmp), Some((640, 480)));

        // SOI, APP0 (len 4), SOF0: len 11, P=8, Y=300, X=400, Nf=1 + component spec.
        let jpeg = [
            0xFF, 0xD8, 0xFF, 0xE0, 0, 4, 0, 0, 0xFF, 0xC0, 0, 11, 8, 0x01, 0x2C, 0x01, 0x90, 1, 1,
            0x11, 0,
        ];
        assert_eq!(declared_dimensions(&jpeg, Format::Jpeg), Some((400, 300)));

        let mut vp8x = b"RIFF\0\0\0\0WEBPVP8X\x0a\0\0\0\0\0\0\0".to_vec();
        vp8x.extend_from_slice(&[0x1F, 0x4E, 0x00, 0x0F, 0x27, 0x00]); // 19999+1, 9999+1
        assert_eq!(
            declared_dimensions(&vp8x, Format::WebP),
            Some((20_000, 10_000))
        );

        // VP8L: signature 0x2F, then (w-1) in 14 bits, (h-1) in the next 14.
        let bits: u32 = 99 | (49 << 14);
        let mut vp8l = b"RIFF\0\0\0\0WEBPVP8L\x05\0\0\0\x2f".to_vec();
        vp8l.extend_from_slice(&bits.to_le_bytes());
        assert_eq!(declared_dimensions(&vp8l, Format::WebP), Some((100, 50)));
    }

    #[test]
    fn counts_webp_animation_frames() {
        let mut w = b"RIFF\0\0\0\0WEBPVP8X\x0a\0\0\0".to_vec();
        w.extend_from_slice(&[0; 10]);
        for _ in 0..3 {
            w.extend_from_slice(b"ANMF\x03\0\0\0abc\0");
        }
        assert_eq!(webp_frames(&w, 100), 3);
        assert_eq!(webp_frames(&w, 1), 2);
        let still = b"RIFF\0\0\0\0WEBPVP8L\x02\0\0\0ab";
        assert_eq!(webp_frames(still, 100), 1);
    }

    #[test]
    fn jpeg_walk_accepts_complete_and_refuses_truncated() {
        // SOI, APP0 (len 4), SOS (len 3 + 1 byte), data with stuffing and RST, EOI.
        let good = [
            0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x04, 0xAA, 0xBB, 0xFF, 0xDA, 0x00, 0x03, 0x01, 0x12,
            0xFF, 0x00, 0x34, 0xFF, 0xD0, 0x56, 0xFF, 0xD9,
        ];
        assert_eq!(jpeg_complete(&good), Ok(()));
        for cut in 0..good.len() {
            assert!(
                jpeg_complete(&good[..cut]).is_err(),
                "cut at {cut} accepted"
            );
        }
        // EOI hidden inside a segment (an EXIF thumbnail) does not count.
        let hidden = [0xFF, 0xD8, 0xFF, 0xE1, 0x00, 0x06, 0xFF, 0xD9, 0xFF, 0xD9];
        assert!(jpeg_complete(&hidden).is_err());
    }
}
