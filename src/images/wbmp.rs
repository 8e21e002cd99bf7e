//! WBMP, the 1-bit picture format of WAP 1.x handsets, which show no JPEG, PNG or GIF
//! (WAP-237 Wireless Application Environment Defined Media Type, "WBMP"; first in WAP-190).
//! The `image` crate reads none and writes none, so this writes type 0, the only type
//! defined: octet `00` (type 0, black and white, uncompressed), octet `00` (fixed header:
//! no extension headers), width and height as multi-byte integers (7 bits per octet, most
//! significant first, the top bit set on every octet but the last; the WBXML `mb_u_int32`),
//! then the rows top to bottom, each padded to a whole octet, the leftmost pixel in the most
//! significant bit; a set bit is white, a clear one black.
//!
//! Avatars are not stored as WBMP: [`from_png`] makes one from a stored PNG variant when a
//! handset asks for it (`crate::service::avatar::variant`).

use image::{ImageFormat, RgbImage};
use sms_wire::wap_push::push_mb_u32;

use super::{from_image_error, Format, ImageError};

/// The MIME type (`image/vnd.wap.wbmp`).
pub const CONTENT_TYPE: &str = "image/vnd.wap.wbmp";

/// A type 0 WBMP of `width` x `height` pixels, `white(x, y)` saying which are white.
pub fn encode(width: u32, height: u32, white: impl Fn(u32, u32) -> bool) -> Vec<u8> {
    let row = width.div_ceil(8) as usize;
    let mut out = Vec::with_capacity(12 + row * height as usize);
    out.extend_from_slice(&[0x00, 0x00]);
    push_mb_u32(&mut out, width);
    push_mb_u32(&mut out, height);
    for y in 0..height {
        let start = out.len();
        out.resize(start + row, 0);
        for x in (0..width).filter(|&x| white(x, y)) {
            out[start + (x / 8) as usize] |= 0x80 >> (x % 8);
        }
    }
    out
}

/// `img` dithered to black and white and written as a WBMP: each pixel's luma (ITU-R BT.601
/// weights) is white from the middle grey up, and what that rounding loses is spread to the
/// pixels not yet written (Floyd-Steinberg: 7/16 right, 3/16 below left, 5/16 below, 1/16
/// below right), so greys come out as patterns of the right density rather than as a hard
/// threshold. Deterministic (integer arithmetic), as every variant is.
pub fn from_rgb(img: &RgbImage) -> Vec<u8> {
    let (w, h) = img.dimensions();
    let (wu, hu) = (w as usize, h as usize);
    // Luma in 1/16 steps, so the error fractions stay whole numbers.
    let mut luma: Vec<i32> = img
        .pixels()
        .map(|p| {
            let [r, g, b] = p.0.map(i32::from);
            (299 * r + 587 * g + 114 * b) * 16 / 1000
        })
        .collect();
    let mut white = vec![false; luma.len()];
    for y in 0..hu {
        for x in 0..wu {
            let i = y * wu + x;
            let old = luma[i];
            let on = old >= 128 * 16;
            white[i] = on;
            let err = old - if on { 255 * 16 } else { 0 };
            if x + 1 < wu {
                luma[i + 1] += err * 7 / 16;
            }
            if y + 1 < hu {
                if x > 0 {
                    luma[i + wu - 1] += err * 3 / 16;
                }
                luma[i + wu] += err * 5 / 16;
                if x + 1 < wu {
                    luma[i + wu + 1] += err / 16;
                }
            }
        }
    }
    encode(w, h, |x, y| white[y as usize * wu + x as usize])
}

/// The WBMP of a PNG (a stored variant): decoded, flattened to RGB, then [`from_rgb`].
pub fn from_png(png: &[u8]) -> Result<Vec<u8>, ImageError> {
    let img = image::load_from_memory_with_format(png, ImageFormat::Png)
        .map_err(|e| from_image_error(Format::Png, e))?;
    Ok(from_rgb(&img.to_rgb8()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;

    #[test]
    fn the_header_is_type_0_then_width_and_height_as_multi_byte_integers() {
        // 3 x 2, all black: `00 00 03 02`, then one octet per row.
        assert_eq!(encode(3, 2, |_, _| false), [0, 0, 3, 2, 0, 0]);
        // 127 fits one octet; 128 takes two (`81 00`), 200 is `81 48`, 300 is `82 2C`.
        let header = |w, h| encode(w, h, |_, _| false)[..].to_vec();
        assert_eq!(header(127, 1)[..3], [0, 0, 0x7F]);
        assert_eq!(header(128, 1)[..5], [0, 0, 0x81, 0x00, 0x01]);
        assert_eq!(header(1, 200)[..5], [0, 0, 0x01, 0x81, 0x48]);
        assert_eq!(header(300, 1)[..5], [0, 0, 0x82, 0x2C, 0x01]);
        // 128 wide: 16 octets a row; 300: 38 (37.5 rounded up).
        assert_eq!(header(128, 1).len(), 5 + 16);
        assert_eq!(header(300, 1).len(), 5 + 38);
    }

    #[test]
    fn rows_are_padded_to_an_octet_leftmost_pixel_first_and_a_set_bit_is_white() {
        // 10 x 2: row 0 white at x = 0, 7, 8, 9; row 1 white at x = 1 only.
        let white = |x: u32, y: u32| match y {
            0 => [0, 7, 8, 9].contains(&x),
            _ => x == 1,
        };
        assert_eq!(
            encode(10, 2, white),
            [
                0x00,
                0x00,
                10,
                2,
                0b1000_0001,
                0b1100_0000,
                0b0100_0000,
                0b0000_0000
            ]
        );
        // All white: the padding bits stay clear.
        assert_eq!(encode(3, 1, |_, _| true), [0, 0, 3, 1, 0b1110_0000]);
    }

    #[test]
    fn black_and_white_stay_so_and_a_grey_is_dithered_to_its_density() {
        let solid = |c: u8| RgbImage::from_pixel(16, 16, Rgb([c, c, c]));
        let body = |w: Vec<u8>| w[4..].to_vec();
        assert_eq!(body(from_rgb(&solid(255))), vec![0xFF; 32]);
        assert_eq!(body(from_rgb(&solid(0))), vec![0x00; 32]);
        // Middle grey: about half the pixels white, neither all nor none in any row.
        let grey = body(from_rgb(&solid(128)));
        let ones: u32 = grey.iter().map(|b| b.count_ones()).sum();
        assert!((112..=144).contains(&ones), "{ones} of 256 white");
        for row in grey.chunks(2) {
            assert!(row != [0, 0] && row != [0xFF, 0xFF], "{row:?}");
        }
        // Light grey is mostly white, dark grey mostly black.
        let count = |c| -> u32 {
            body(from_rgb(&solid(c)))
                .iter()
                .map(|b| b.count_ones())
                .sum()
        };
        assert!(
            count(200) > 180 && count(55) < 76,
            "{} {}",
            count(200),
            count(55)
        );
    }

    #[test]
    fn a_png_becomes_a_wbmp_of_its_size() {
        let mut img = RgbImage::from_pixel(48, 48, Rgb([255, 255, 255]));
        for x in 0..24 {
            for y in 0..48 {
                img.put_pixel(x, y, Rgb([0, 0, 0]));
            }
        }
        let mut png = Vec::new();
        image::DynamicImage::ImageRgb8(img)
            .write_to(&mut std::io::Cursor::new(&mut png), ImageFormat::Png)
            .unwrap();
        let w = from_png(&png).unwrap();
        assert_eq!(w[..4], [0, 0, 48, 48]);
        assert_eq!(w.len(), 4 + 6 * 48);
        // Left half black, right half white, every row.
        for row in w[4..].chunks(6) {
            assert_eq!(row, [0, 0, 0, 0xFF, 0xFF, 0xFF]);
        }
        assert!(from_png(b"not a png").is_err());
    }
}
