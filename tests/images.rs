//! The avatar image pipeline (`presence_gw::images`) against the shipped fixtures: every preset
//! and good sample upload becomes every size x format at the right dimensions, EXIF orientation
//! is applied, no metadata survives, output is deterministic, every hostile sample is refused
//! with the right error (the decompression bomb from its header alone), and arbitrary or
//! mutated bytes never panic.

use presence_gw::images::{
    process, sha256_hex, sniff, ErrorKind, Format, ImageError, Limits, OutputFormat, Processed,
    DEFAULT_SIZES,
};
use proptest::prelude::*;
use std::path::{Path, PathBuf};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

fn read(rel: &str) -> Vec<u8> {
    let p = fixtures().join(rel);
    std::fs::read(&p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
}

/// Picture files of a fixture directory (everything but README.md), sorted.
fn pictures(dir: &str) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(fixtures().join(dir))
        .expect("fixture dir")
        .map(|e| e.expect("dir entry").path())
        // Not pictures: the folder's README and the presets' titles (`titles.csv`).
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n != "README.md" && n != "titles.csv")
        })
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&p).expect("read fixture"))
        })
        .collect();
    out.sort();
    out
}

fn decode(bytes: &[u8]) -> image::RgbImage {
    image::load_from_memory(bytes)
        .expect("output decodes")
        .to_rgb8()
}

fn close(got: &image::Rgb<u8>, want: [u8; 3], tol: u8) -> bool {
    got.0.iter().zip(want).all(|(&g, w)| g.abs_diff(w) <= tol)
}

/// Every size x format present, square, at the promised size, in the promised format.
fn assert_complete(name: &str, out: &Processed) {
    assert_eq!(
        out.variants.len(),
        DEFAULT_SIZES.len() * OutputFormat::ALL.len(),
        "{name}"
    );
    for size in DEFAULT_SIZES {
        for format in OutputFormat::ALL {
            let v = out
                .variant(size, format)
                .unwrap_or_else(|| panic!("{name}: no {size} {format:?}"));
            let want = match format {
                OutputFormat::Jpeg => image::ImageFormat::Jpeg,
                OutputFormat::Png => image::ImageFormat::Png,
                OutputFormat::Gif => image::ImageFormat::Gif,
                OutputFormat::Wbmp => unreachable!("WBMP is not stored"),
            };
            assert_eq!(image::guess_format(&v.bytes).ok(), Some(want), "{name}");
            assert_eq!(
                decode(&v.bytes).dimensions(),
                (size, size),
                "{name} {format:?}"
            );
            assert_eq!(v.sha256, sha256_hex(&v.bytes));
        }
    }
}

// ---- Independent metadata inspection of the outputs -------------------------------------

/// JPEG marker codes up to the first SOS (all metadata segments precede the scan).
fn jpeg_markers(b: &[u8]) -> Vec<u8> {
    let mut markers = vec![];
    let mut pos = 2;
    while pos + 4 <= b.len() && b[pos] == 0xFF {
        let m = b[pos + 1];
        markers.push(m);
        if m == 0xDA {
            break;
        }
        pos += 2 + usize::from(u16::from_be_bytes([b[pos + 2], b[pos + 3]]));
    }
    markers
}

/// PNG chunk types in order.
fn png_chunks(b: &[u8]) -> Vec<String> {
    let mut chunks = vec![];
    let mut pos = 8;
    while pos + 8 <= b.len() {
        let len = u32::from_be_bytes(b[pos..pos + 4].try_into().unwrap()) as usize;
        chunks.push(String::from_utf8_lossy(&b[pos + 4..pos + 8]).into_owned());
        pos += 12 + len;
    }
    chunks
}

/// GIF extension labels (comment 0xFE, application 0xFF, plain text 0x01, control 0xF9).
fn gif_extension_labels(b: &[u8]) -> Vec<u8> {
    let mut labels = vec![];
    let mut pos = 13;
    if b[10] & 0x80 != 0 {
        pos += 3 << ((b[10] & 7) + 1);
    }
    let skip = |mut p: usize| {
        while p < b.len() && b[p] != 0 {
            p += 1 + usize::from(b[p]);
        }
        p + 1
    };
    while pos < b.len() {
        match b[pos] {
            0x21 => {
                labels.push(b[pos + 1]);
                pos = skip(pos + 2);
            }
            0x2C => {
                let packed = b[pos + 9];
                pos += 10;
                if packed & 0x80 != 0 {
                    pos += 3 << ((packed & 7) + 1);
                }
                pos = skip(pos + 1);
            }
            _ => break,
        }
    }
    labels
}

fn assert_no_metadata(name: &str, out: &Processed) {
    for v in &out.variants {
        match v.format {
            OutputFormat::Jpeg => {
                let markers = jpeg_markers(&v.bytes);
                assert_eq!(markers.last(), Some(&0xDA), "{name}: SOS reached");
                for m in markers {
                    // Only APP0 (JFIF) among APPn; no COM.
                    assert!(
                        !(0xE1..=0xEF).contains(&m) && m != 0xFE,
                        "{name}: JPEG {} has segment FF{m:02X}",
                        v.size
                    );
                }
            }
            OutputFormat::Png => {
                let chunks = png_chunks(&v.bytes);
                assert_eq!(chunks.first().map(String::as_str), Some("IHDR"));
                assert_eq!(chunks.last().map(String::as_str), Some("IEND"));
                for c in &chunks {
                    assert!(
                        matches!(c.as_str(), "IHDR" | "PLTE" | "IDAT" | "IEND"),
                        "{name}: PNG {} has chunk {c}",
                        v.size
                    );
                }
            }
            OutputFormat::Gif => {
                for label in gif_extension_labels(&v.bytes) {
                    assert!(
                        label == 0xF9,
                        "{name}: GIF {} has extension {label:02X}",
                        v.size
                    );
                }
            }
            // Pixels only, by its format: a header and the rows.
            OutputFormat::Wbmp => {}
        }
        for marker in [&b"SECRET"[..], b"Exif", b"tEXt", b"eXIf"] {
            assert!(
                !v.bytes.windows(marker.len()).any(|w| w == marker),
                "{name}: {} {:?} contains {}",
                v.size,
                v.format,
                String::from_utf8_lossy(marker)
            );
        }
    }
}

// ---- Presets -------------------------------------------------------------------------------

#[test]
fn presets_are_at_least_twelve_small_real_pictures_listed_in_the_readme() {
    let presets = pictures("presets");
    assert!(presets.len() >= 12, "only {} presets", presets.len());
    let total: usize = presets.iter().map(|(_, b)| b.len()).sum();
    assert!(total < 300 * 1024, "presets total {total} bytes");
    let readme = std::fs::read_to_string(fixtures().join("presets/README.md")).expect("README");
    let mut formats = std::collections::HashSet::new();
    for (i, (name, bytes)) in presets.iter().enumerate() {
        // `NN-title.ext`, numbered 01.. in order.
        let (id, rest) = name.split_once('-').expect("id-title.ext");
        assert_eq!(id.parse::<usize>().ok(), Some(i + 1), "{name}");
        assert!(rest.contains('.'), "{name}");
        assert!(
            readme.contains(name.as_str()),
            "README does not list {name}"
        );
        formats.insert(sniff(bytes).unwrap_or_else(|e| panic!("{name}: {e}")));
    }
    assert_eq!(formats.len(), 5, "all five input formats represented");
}

#[test]
fn every_preset_processes_into_every_size_and_format() {
    for (name, bytes) in pictures("presets") {
        let out = process(&bytes, &Limits::default(), &DEFAULT_SIZES)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_complete(&name, &out);
        assert_no_metadata(&name, &out);
        assert_eq!(out.source_sha256, sha256_hex(&bytes));
    }
}

// ---- Good uploads --------------------------------------------------------------------------

#[test]
fn every_good_upload_processes_without_metadata() {
    let good = pictures("images/good");
    assert!(good.len() >= 4);
    for (name, bytes) in good {
        let out = process(&bytes, &Limits::default(), &DEFAULT_SIZES)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_complete(&name, &out);
        assert_no_metadata(&name, &out);
    }
}

#[test]
fn exif_orientation_6_is_applied_before_cropping() {
    let bytes = read("images/good/exif-orientation-6.jpg");
    // The fixture really carries the metadata we expect to be applied and then stripped.
    assert!(bytes.windows(6).any(|w| w == b"Exif\0\0"));
    assert!(bytes.windows(18).any(|w| w == b"SECRET-EXIF-MARKER"));
    let out = process(&bytes, &Limits::default(), &DEFAULT_SIZES).unwrap();
    assert_eq!(out.source_format, Format::Jpeg);
    // Stored 240x160; upright (rotated 90 degrees clockwise) it is 160x240.
    assert_eq!((out.width, out.height), (160, 240));
    for size in DEFAULT_SIZES {
        for format in OutputFormat::ALL {
            let img = decode(&out.variant(size, format).unwrap().bytes);
            let (a, b) = (3, size - 4);
            let tol = 60;
            // Stored quadrants red|green over blue|yellow become blue|red over yellow|green.
            assert!(
                close(img.get_pixel(a, a), [20, 20, 230], tol),
                "{size} {format:?} TL"
            );
            assert!(
                close(img.get_pixel(b, a), [230, 20, 20], tol),
                "{size} {format:?} TR"
            );
            assert!(
                close(img.get_pixel(a, b), [240, 220, 20], tol),
                "{size} {format:?} BL"
            );
            assert!(
                close(img.get_pixel(b, b), [20, 200, 20], tol),
                "{size} {format:?} BR"
            );
        }
    }
}

#[test]
fn landscape_is_centre_cropped_and_its_text_chunks_dropped() {
    let bytes = read("images/good/landscape-with-text-chunks.png");
    assert!(bytes.windows(4).any(|w| w == b"tEXt"));
    assert!(bytes.windows(4).any(|w| w == b"eXIf"));
    let out = process(&bytes, &Limits::default(), &DEFAULT_SIZES).unwrap();
    assert_eq!((out.width, out.height), (320, 180));
    for size in DEFAULT_SIZES {
        let img = decode(&out.variant(size, OutputFormat::Png).unwrap().bytes);
        // The red side bands are outside the centre square: no red anywhere near the edges.
        for y in [2, size / 2, size - 3] {
            for x in [0, size - 1] {
                let p = img.get_pixel(x, y);
                assert!(!(p[0] > 150 && p[1] < 90), "{size}: red at ({x},{y}) {p:?}");
            }
        }
        assert!(close(img.get_pixel(size / 2, 2), [30, 180, 60], 30));
        assert!(close(img.get_pixel(size / 2, size - 3), [40, 60, 200], 30));
    }
}

#[test]
fn animated_gif_uses_its_first_frame() {
    let out = process(
        &read("images/good/animated-3-frames.gif"),
        &Limits::default(),
        &[96],
    )
    .unwrap();
    assert_eq!(out.source_format, Format::Gif);
    for format in OutputFormat::ALL {
        let img = decode(&out.variant(96, format).unwrap().bytes);
        assert!(
            close(img.get_pixel(48, 48), [220, 40, 200], 30),
            "{format:?}"
        );
    }
}

#[test]
fn webp_upload_keeps_its_centre() {
    let out = process(
        &read("images/good/photo-lossless.webp"),
        &Limits::default(),
        &[128],
    )
    .unwrap();
    assert_eq!(out.source_format, Format::WebP);
    assert_eq!((out.width, out.height), (200, 150));
    let img = decode(&out.variant(128, OutputFormat::Png).unwrap().bytes);
    assert!(close(img.get_pixel(64, 64), [250, 140, 30], 12));
    // The 150x150 centre square of a 200x150 picture keeps the dark frame top and bottom only.
    assert!(close(img.get_pixel(64, 2), [40, 40, 40], 20));
    assert!(close(img.get_pixel(2, 64), [150, 200, 240], 20));
}

#[test]
fn identical_input_gives_identical_digests() {
    for (name, bytes) in pictures("images/good")
        .into_iter()
        .chain(pictures("presets"))
    {
        let a = process(&bytes, &Limits::default(), &DEFAULT_SIZES).unwrap();
        let b = process(&bytes.clone(), &Limits::default(), &DEFAULT_SIZES).unwrap();
        assert_eq!(a, b, "{name}");
        assert_eq!(a.source_sha256, sha256_hex(&bytes));
    }
    // Different pictures give different digests.
    let cat = process(&read("presets/01-cat.png"), &Limits::default(), &[48]).unwrap();
    let dog = process(&read("presets/02-dog.jpg"), &Limits::default(), &[48]).unwrap();
    assert_ne!(cat.source_sha256, dog.source_sha256);
    assert_ne!(cat.variants[0].sha256, dog.variants[0].sha256);
}

// ---- Hostile uploads -------------------------------------------------------------------------

#[test]
fn decompression_bomb_is_refused_from_its_header() {
    let bytes = read("images/hostile/bomb-100000x100000.png");
    assert!(bytes.len() < 200, "the bomb is a tiny file");
    // The declared size is reported, which only the header can tell: nothing was decoded
    // (30 GB would have been needed), and the refusal is the same with a decoder allocation
    // budget of 64 KiB, so no big buffer was ever requested.
    let tight = Limits {
        max_alloc: 64 * 1024,
        ..Limits::default()
    };
    for limits in [Limits::default(), tight] {
        match process(&bytes, &limits, &DEFAULT_SIZES) {
            Err(ImageError::DimensionsTooLarge {
                width: 100_000,
                height: 100_000,
                max_width: 4096,
                max_height: 4096,
                ..
            }) => {}
            other => panic!("expected DimensionsTooLarge, got {other:?}"),
        }
    }
}

#[test]
fn each_hostile_upload_is_refused_with_the_right_error() {
    let limits = Limits::default();
    let cases: [(&str, ErrorKind); 7] = [
        ("bomb-100000x100000.png", ErrorKind::DimensionsTooLarge),
        ("truncated.jpg", ErrorKind::Corrupt),
        ("text-renamed.jpg", ErrorKind::UnsupportedFormat),
        ("drawing.svg", ErrorKind::UnsupportedFormat),
        ("too-big-200k.bmp", ErrorKind::TooLarge),
        ("empty.jpg", ErrorKind::Empty),
        ("gif-1000-frames.gif", ErrorKind::TooManyFrames),
    ];
    let listed: Vec<&str> = cases.iter().map(|(n, _)| *n).collect();
    for (name, _) in pictures("images/hostile") {
        assert!(
            listed.contains(&name.as_str()),
            "untested hostile fixture {name}"
        );
    }
    for (name, kind) in cases {
        let err = process(
            &read(&format!("images/hostile/{name}")),
            &limits,
            &DEFAULT_SIZES,
        )
        .expect_err(name);
        assert_eq!(err.kind(), kind, "{name}: {err}");
        assert!(err.kind().is_client_error());
        assert!(!err.to_string().is_empty());
    }
}

#[test]
fn hostile_errors_say_what_was_found() {
    let limits = Limits::default();
    let err = |name: &str| process(&read(&format!("images/hostile/{name}")), &limits, &[48]);
    assert_eq!(
        err("text-renamed.jpg"),
        Err(ImageError::UnsupportedFormat {
            detected: "text".into()
        })
    );
    assert_eq!(
        err("drawing.svg"),
        Err(ImageError::UnsupportedFormat {
            detected: "an SVG drawing".into()
        })
    );
    assert_eq!(
        err("too-big-200k.bmp"),
        Err(ImageError::TooLarge {
            bytes: 202_854,
            max: 100 * 1024
        })
    );
    assert_eq!(
        err("gif-1000-frames.gif"),
        Err(ImageError::TooManyFrames {
            frames: 101,
            max: 100
        })
    );
    match err("truncated.jpg") {
        Err(ImageError::Corrupt {
            format: Format::Jpeg,
            reason,
        }) => assert!(reason.contains("ends"), "{reason}"),
        other => panic!("expected Corrupt JPEG, got {other:?}"),
    }
}

#[test]
fn a_five_megabyte_upload_is_refused_before_parsing() {
    // A real PNG signature followed by 5 MB: refused on size alone.
    let mut big = b"\x89PNG\r\n\x1a\n".to_vec();
    big.resize(5 * 1024 * 1024, 0xAB);
    assert_eq!(
        process(&big, &Limits::default(), &DEFAULT_SIZES),
        Err(ImageError::TooLarge {
            bytes: 5 * 1024 * 1024,
            max: 100 * 1024
        })
    );
}

#[test]
fn every_truncation_of_a_good_jpeg_is_refused_not_half_decoded() {
    let bytes = read("presets/02-dog.jpg");
    for cut in (0..bytes.len() - 1).step_by(97) {
        let err = process(&bytes[..cut], &Limits::default(), &[48]).expect_err("truncated");
        assert!(
            matches!(
                err.kind(),
                ErrorKind::Corrupt | ErrorKind::Empty | ErrorKind::UnsupportedFormat
            ),
            "cut {cut}: {err}"
        );
    }
}

// ---- Never panics --------------------------------------------------------------------------

/// Small limits keep mutated headers from asking for big (slow in debug builds) decodes.
fn fuzz_limits() -> Limits {
    Limits {
        max_width: 512,
        max_height: 512,
        max_pixels: 512 * 512,
        max_alloc: 8 * 1024 * 1024,
        ..Limits::default()
    }
}

fn corpus() -> Vec<Vec<u8>> {
    pictures("images/good")
        .into_iter()
        .chain(pictures("presets"))
        .chain(pictures("images/hostile"))
        .map(|(_, b)| b)
        .filter(|b| !b.is_empty() && b.len() <= 100 * 1024)
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = sniff(&bytes);
        if let Ok(out) = process(&bytes, &fuzz_limits(), &[48]) {
            prop_assert_eq!(out.variants.len(), 3);
        }
    }

    #[test]
    fn mutated_fixtures_never_panic(
        pick in any::<prop::sample::Index>(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
    ) {
        let corpus = corpus();
        let mut bytes = corpus[pick.index(corpus.len())].clone();
        for (at, value) in edits {
            let i = at.index(bytes.len());
            bytes[i] = value;
        }
        if truncate {
            bytes.truncate(cut.index(bytes.len()));
        }
        match process(&bytes, &fuzz_limits(), &[48, 96]) {
            Ok(out) => {
                prop_assert_eq!(out.variants.len(), 6);
                for v in &out.variants {
                    prop_assert_eq!(image::load_from_memory(&v.bytes).unwrap().width(), v.size);
                }
            }
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
    }
}
