//! Unit tests of the pipeline on pictures built in memory (fixture files are exercised by
//! `tests/images.rs`).

use super::*;
use image::{ImageFormat, Rgba, RgbaImage};

fn encode_as(img: &RgbaImage, format: ImageFormat) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    DynamicImage::ImageRgba8(img.clone())
        .write_to(&mut out, format)
        .expect("encode test picture");
    out.into_inner()
}

/// Left half `left`, right half `right`.
fn halves(w: u32, h: u32, left: [u8; 4], right: [u8; 4]) -> RgbaImage {
    RgbaImage::from_fn(w, h, |x, _| Rgba(if x < w / 2 { left } else { right }))
}

fn decode_rgb(bytes: &[u8]) -> RgbImage {
    image::load_from_memory(bytes)
        .expect("output decodes")
        .to_rgb8()
}

fn close(a: Rgb<u8>, b: [u8; 3], tol: u8) -> bool {
    a.0.iter().zip(b).all(|(&x, y)| x.abs_diff(y) <= tol)
}

#[test]
fn sha256_hex_matches_fips_180_vector() {
    // FIPS 180-2 appendix B.1 ("abc").
    assert_eq!(
        sha256_hex(b"abc"),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    assert_eq!(sha256_hex(b"").len(), 64);
}

#[test]
fn every_size_and_format_is_produced_square() {
    let png = encode_as(
        &halves(300, 200, [255, 0, 0, 255], [0, 0, 255, 255]),
        ImageFormat::Png,
    );
    let out = process(&png, &Limits::default(), &DEFAULT_SIZES).expect("processes");
    assert_eq!(out.source_format, Format::Png);
    assert_eq!((out.width, out.height), (300, 200));
    assert_eq!(out.variants.len(), DEFAULT_SIZES.len() * 3);
    for size in DEFAULT_SIZES {
        for format in OutputFormat::ALL {
            let v = out.variant(size, format).expect("variant present");
            assert_eq!(v.content_type, format.content_type());
            assert_eq!(v.sha256, sha256_hex(&v.bytes));
            let guessed = image::guess_format(&v.bytes).expect("known format");
            let expected = match format {
                OutputFormat::Jpeg => ImageFormat::Jpeg,
                OutputFormat::Png => ImageFormat::Png,
                OutputFormat::Gif => ImageFormat::Gif,
                OutputFormat::Wbmp => unreachable!("not stored"),
            };
            assert_eq!(guessed, expected);
            let img = decode_rgb(&v.bytes);
            assert_eq!(img.dimensions(), (size, size));
            // Centre crop of a red|blue split keeps the split in the middle.
            assert!(
                close(*img.get_pixel(1, size / 2), [255, 0, 0], 40),
                "{format:?} {size}"
            );
            assert!(close(*img.get_pixel(size - 2, size / 2), [0, 0, 255], 40));
        }
    }
}

#[test]
fn transparency_is_flattened_onto_white() {
    let img = RgbaImage::from_fn(64, 64, |x, _| {
        Rgba(if x < 32 {
            [0, 0, 0, 0]
        } else {
            [0, 128, 0, 255]
        })
    });
    let out = process(
        &encode_as(&img, ImageFormat::Png),
        &Limits::default(),
        &[48],
    )
    .unwrap();
    for format in OutputFormat::ALL {
        let got = decode_rgb(&out.variant(48, format).unwrap().bytes);
        assert!(
            close(*got.get_pixel(2, 24), [255, 255, 255], 12),
            "{format:?}"
        );
        assert!(close(*got.get_pixel(45, 24), [0, 128, 0], 30), "{format:?}");
    }
}

#[test]
fn sizes_are_deduplicated_and_validated() {
    let png = encode_as(
        &halves(40, 40, [9, 9, 9, 255], [200, 9, 9, 255]),
        ImageFormat::Png,
    );
    let out = process(&png, &Limits::default(), &[96, 48, 96]).unwrap();
    let sizes: Vec<u32> = out.variants.iter().map(|v| v.size).collect();
    assert_eq!(sizes, [96, 96, 96, 48, 48, 48]);
    for bad in [0, MAX_OUTPUT_SIZE + 1] {
        let err = process(&png, &Limits::default(), &[48, bad]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidSize);
        assert!(!err.kind().is_client_error());
    }
}

#[test]
fn size_is_checked_before_the_format() {
    let text = vec![b'a'; 2000];
    let limits = Limits {
        max_bytes: 1000,
        ..Limits::default()
    };
    assert_eq!(
        process(&text, &limits, &[48]),
        Err(ImageError::TooLarge {
            bytes: 2000,
            max: 1000
        })
    );
    assert_eq!(process(&[], &limits, &[48]), Err(ImageError::Empty));
}

#[test]
fn pixel_count_limit_applies_even_within_width_and_height() {
    let png = encode_as(
        &halves(100, 100, [1, 2, 3, 255], [4, 5, 6, 255]),
        ImageFormat::Png,
    );
    let limits = Limits {
        max_pixels: 9_999,
        ..Limits::default()
    };
    match process(&png, &limits, &[48]) {
        Err(ImageError::DimensionsTooLarge {
            width: 100,
            height: 100,
            max_pixels: 9_999,
            ..
        }) => {}
        other => panic!("expected DimensionsTooLarge, got {other:?}"),
    }
    let narrow = Limits {
        max_width: 99,
        ..Limits::default()
    };
    assert_eq!(
        process(&png, &narrow, &[48]).unwrap_err().kind(),
        ErrorKind::DimensionsTooLarge
    );
}

#[test]
fn allocation_limit_is_reported_as_resource_limit() {
    let png = encode_as(
        &halves(100, 100, [1, 2, 3, 255], [4, 5, 6, 255]),
        ImageFormat::Png,
    );
    let limits = Limits {
        max_alloc: 1000,
        ..Limits::default()
    };
    assert_eq!(
        process(&png, &limits, &[48]).unwrap_err().kind(),
        ErrorKind::ResourceLimit
    );
}

#[test]
fn large_sources_are_reduced_and_still_exact_size() {
    let png = encode_as(
        &halves(1000, 700, [250, 250, 0, 255], [0, 250, 250, 255]),
        ImageFormat::Png,
    );
    let out = process(&png, &Limits::default(), &[48, 176]).unwrap();
    for v in &out.variants {
        assert_eq!(decode_rgb(&v.bytes).dimensions(), (v.size, v.size));
    }
}

#[test]
fn output_formats_parse_and_name() {
    for f in OutputFormat::ALL {
        assert_eq!(OutputFormat::parse(f.as_str()), Some(f));
    }
    assert_eq!(OutputFormat::parse("JPG"), Some(OutputFormat::Jpeg));
    assert_eq!(OutputFormat::parse("WBMP"), Some(OutputFormat::Wbmp));
    assert_eq!(OutputFormat::Wbmp.content_type(), "image/vnd.wap.wbmp");
    assert_eq!(OutputFormat::parse("webp"), None);
}

#[test]
fn error_messages_carry_their_figures() {
    let e = ImageError::TooLarge {
        bytes: 204_800,
        max: 102_400,
    };
    assert_eq!(
        e.to_string(),
        "the file is 204800 bytes; the limit is 102400 bytes"
    );
    assert_eq!(e.kind().as_str(), "too_large");
    let e = ImageError::UnsupportedFormat {
        detected: "an SVG drawing".into(),
    };
    assert!(e
        .to_string()
        .starts_with("this file looks like an SVG drawing"));
    assert!(e.kind().is_client_error());
}
