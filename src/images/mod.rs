//! The avatar image pipeline (issue #6, "Upload" and "Pipeline"): turns an uploaded or preset
//! picture into the small square JPEG/PNG/GIF variants every colour handset can show; a WAP
//! 1.x handset's black-and-white WBMP is made from the smallest PNG when one asks ([`wbmp`]).
//!
//! Pure and synchronous: bytes in, encoded variants out, no I/O. It is CPU-bound (tens of
//! milliseconds for a typical upload), so async callers run it with
//! `tokio::task::spawn_blocking`.
//!
//! Order of checks, cheapest first, so hostile input costs almost nothing:
//! 1. byte size against [`Limits::max_bytes`] (before anything is parsed);
//! 2. format by magic bytes ([`sniff()`]), never by file name or declared content type;
//! 3. container structure without decompressing: animation frame count (GIF, WebP) against
//!    [`Limits::max_frames`]; JPEG marker walk to the EOI marker (a truncated JPEG is refused
//!    rather than decoded into a half-grey picture);
//! 4. declared dimensions read from the header bytes by our own parser (PNG IHDR, GIF screen
//!    and frame extents, BMP DIB header, JPEG SOFn, WebP VP8/VP8L/VP8X), against the
//!    width/height/pixel limits: a decompression bomb is refused here, before any decoder or
//!    pixel buffer exists; the decoder's reported size is checked again;
//! 5. decode with the `image` crate's allocation limit ([`Limits::max_alloc`]); animations
//!    contribute their first frame.
//!
//! Then: apply the EXIF orientation (JPEG APP1, PNG `eXIf`, WebP `EXIF`), centre-crop to a
//! square, flatten any transparency onto white, resize (Lanczos3) to every requested size and
//! encode each as JPEG (quality 85), PNG and GIF (256 colours, NeuQuant). Outputs are
//! re-encoded from pixels only, so no metadata of the upload survives (no EXIF/XMP/ICC/comment
//! segments, no PNG text chunks). Output bytes are deterministic, so identical uploads give
//! identical SHA-256 digests and the store keeps them once (content addressing).
//!
//! Peak memory is about the decoded source (bounded by `max_alloc`) plus one copy for a 90/270
//! degree rotation, plus the small square working copies.

mod error;
mod sniff;
mod structure;
pub mod wbmp;

pub use error::{ErrorKind, ImageError};
pub use sniff::{sniff, Format};

use image::codecs::gif::GifEncoder;
use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::{CompressionType, FilterType as PngFilter, PngEncoder};
use image::imageops::{self, FilterType};
use image::metadata::Orientation;
use image::{
    DynamicImage, ExtendedColorType, GenericImageView, ImageDecoder, ImageEncoder, ImageReader,
    Rgb, RgbImage,
};
use sha2::{Digest, Sha256};
use std::io::Cursor;

/// The default output sizes (square, pixels).
pub const DEFAULT_SIZES: [u32; 4] = [48, 96, 128, 176];

/// The largest output size [`process`] accepts.
pub const MAX_OUTPUT_SIZE: u32 = 1024;

/// JPEG output quality (1-100).
pub const JPEG_QUALITY: u8 = 85;

/// NeuQuant sampling factor for GIF quantisation (1 = best, 30 = fastest).
const GIF_SPEED: i32 = 10;

/// What an upload may cost before it is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest accepted file, in bytes (default 100 KiB, as in the patent).
    pub max_bytes: usize,
    /// Largest declared width in pixels (default 4096).
    pub max_width: u32,
    /// Largest declared height in pixels (default 4096).
    pub max_height: u32,
    /// Largest declared width x height (default 16 Mi pixels).
    pub max_pixels: u64,
    /// Largest decoder allocation in bytes (default 128 MiB), enforced by the `image` crate.
    pub max_alloc: u64,
    /// Most animation frames accepted in a GIF or WebP (default 100; only the first is used).
    pub max_frames: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bytes: 100 * 1024,
            max_width: 4096,
            max_height: 4096,
            max_pixels: 16 * 1024 * 1024,
            max_alloc: 128 * 1024 * 1024,
            max_frames: 100,
        }
    }
}

/// An output format: the three every colour handset shows, stored for every size, and the
/// WBMP of WAP 1.x handsets, made when asked for ([`wbmp`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OutputFormat {
    /// Baseline JPEG, quality [`JPEG_QUALITY`].
    Jpeg,
    /// 8-bit RGB PNG.
    Png,
    /// Single-frame GIF with a 256-colour palette.
    Gif,
    /// Type 0 WBMP (1 bit, dithered), not stored: made from the smallest PNG variant.
    Wbmp,
}

impl OutputFormat {
    /// Every stored output format, in the order variants are produced (not [`Self::Wbmp`]).
    pub const ALL: [OutputFormat; 3] = [OutputFormat::Jpeg, OutputFormat::Png, OutputFormat::Gif];

    /// Lower-case short name (`jpeg`, `png`, `gif`, `wbmp`), as stored in
    /// `avatar_variant.format` (WBMP never is) and used in `?f=`.
    pub fn as_str(self) -> &'static str {
        match self {
            OutputFormat::Jpeg => "jpeg",
            OutputFormat::Png => "png",
            OutputFormat::Gif => "gif",
            OutputFormat::Wbmp => "wbmp",
        }
    }

    /// The MIME type.
    pub fn content_type(self) -> &'static str {
        match self {
            OutputFormat::Jpeg => "image/jpeg",
            OutputFormat::Png => "image/png",
            OutputFormat::Gif => "image/gif",
            OutputFormat::Wbmp => wbmp::CONTENT_TYPE,
        }
    }

    /// Parse a short name (`jpeg`/`jpg`, `png`, `gif`, `wbmp`; case-insensitive).
    pub fn parse(name: &str) -> Option<OutputFormat> {
        match name.to_ascii_lowercase().as_str() {
            "jpeg" | "jpg" => Some(OutputFormat::Jpeg),
            "png" => Some(OutputFormat::Png),
            "gif" => Some(OutputFormat::Gif),
            "wbmp" => Some(OutputFormat::Wbmp),
            _ => None,
        }
    }
}

/// One encoded output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variant {
    /// Width and height in pixels (always square).
    pub size: u32,
    /// Encoding.
    pub format: OutputFormat,
    /// MIME type (`format.content_type()`).
    pub content_type: &'static str,
    /// The encoded file.
    pub bytes: Vec<u8>,
    /// SHA-256 of `bytes`, lower-case hex (the storage key and strong ETag).
    pub sha256: String,
}

/// The result of [`process`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Processed {
    /// SHA-256 of the uploaded bytes, lower-case hex.
    pub source_sha256: String,
    /// The detected input format.
    pub source_format: Format,
    /// Source width after applying the EXIF orientation, before cropping.
    pub width: u32,
    /// Source height after applying the EXIF orientation, before cropping.
    pub height: u32,
    /// For each requested size (in the order given, duplicates removed), one variant per
    /// [`OutputFormat::ALL`].
    pub variants: Vec<Variant>,
}

impl Processed {
    /// The variant of exactly this size and format, if produced.
    pub fn variant(&self, size: u32, format: OutputFormat) -> Option<&Variant> {
        self.variants
            .iter()
            .find(|v| v.size == size && v.format == format)
    }
}

/// SHA-256 of `bytes` as 64 lower-case hex digits.
pub fn sha256_hex(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

/// Run the whole pipeline (see the module docs) on an uploaded or preset picture, producing
/// every size in `sizes` as JPEG, PNG and GIF. Never panics on hostile input; every refusal is
/// an [`ImageError`] whose [`kind`](ImageError::kind) the caller maps to a reply.
pub fn process(bytes: &[u8], limits: &Limits, sizes: &[u32]) -> Result<Processed, ImageError> {
    let mut wanted: Vec<u32> = Vec::with_capacity(sizes.len());
    for &size in sizes {
        if size == 0 || size > MAX_OUTPUT_SIZE {
            return Err(ImageError::InvalidSize {
                size,
                max: MAX_OUTPUT_SIZE,
            });
        }
        if !wanted.contains(&size) {
            wanted.push(size);
        }
    }
    let (source_format, img) = decode(bytes, limits)?;
    let (width, height) = img.dimensions();
    let square = centre_square(&img);
    drop(img);

    // One cheap reduction to twice the largest output, then a Lanczos3 pass per size from it.
    let largest = wanted.iter().copied().max().unwrap_or(1);
    let base = if square.width() > 2 * largest {
        imageops::resize(&square, 2 * largest, 2 * largest, FilterType::Triangle)
    } else {
        square
    };

    let mut variants = Vec::with_capacity(wanted.len() * OutputFormat::ALL.len());
    for &size in &wanted {
        let scaled = if base.width() == size {
            base.clone()
        } else {
            imageops::resize(&base, size, size, FilterType::Lanczos3)
        };
        for format in OutputFormat::ALL {
            let bytes = encode(&scaled, format)?;
            variants.push(Variant {
                size,
                format,
                content_type: format.content_type(),
                sha256: sha256_hex(&bytes),
                bytes,
            });
        }
    }
    Ok(Processed {
        source_sha256: sha256_hex(bytes),
        source_format,
        width,
        height,
        variants,
    })
}

/// Steps 1-5 of the module docs plus EXIF orientation: the upright source picture.
fn decode(bytes: &[u8], limits: &Limits) -> Result<(Format, DynamicImage), ImageError> {
    if bytes.is_empty() {
        return Err(ImageError::Empty);
    }
    if bytes.len() > limits.max_bytes {
        return Err(ImageError::TooLarge {
            bytes: bytes.len(),
            max: limits.max_bytes,
        });
    }
    let format = sniff(bytes)?;
    check_structure(bytes, format, limits)?;
    // The bomb check proper: the declared size, straight from the header bytes, before any
    // decoder (some allocate line buffers while reading their header) is created.
    if let Some((width, height)) = structure::declared_dimensions(bytes, format) {
        check_dimensions(width, height, limits, format)?;
    }

    // The decoder enforces the same bounds again (strictly) and the allocation budget.
    let mut decoder_limits = image::Limits::default();
    decoder_limits.max_image_width = Some(limits.max_width);
    decoder_limits.max_image_height = Some(limits.max_height);
    decoder_limits.max_alloc = Some(limits.max_alloc);
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format.to_image_format());
    reader.limits(decoder_limits.clone());
    let mut decoder = reader
        .into_decoder()
        .map_err(|e| from_image_error(format, e))?;

    let (width, height) = decoder.dimensions();
    check_dimensions(width, height, limits, format)?;

    // A damaged EXIF block is not worth refusing the picture for: treat it as upright.
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);

    decoder_limits
        .reserve(decoder.total_bytes())
        .map_err(|e| from_image_error(format, e))?;
    decoder
        .set_limits(decoder_limits)
        .map_err(|e| from_image_error(format, e))?;
    let mut img = DynamicImage::from_decoder(decoder).map_err(|e| from_image_error(format, e))?;
    img.apply_orientation(orientation);
    Ok((format, img))
}

/// Step 3: frame counts and JPEG completeness, from the container structure alone.
fn check_structure(bytes: &[u8], format: Format, limits: &Limits) -> Result<(), ImageError> {
    let frames = match format {
        Format::Gif => structure::gif_scan(bytes, limits.max_frames).frames,
        Format::WebP => structure::webp_frames(bytes, limits.max_frames),
        Format::Jpeg => {
            structure::jpeg_complete(bytes)
                .map_err(|reason| ImageError::Corrupt { format, reason })?;
            1
        }
        Format::Png | Format::Bmp => 1,
    };
    if frames > limits.max_frames {
        return Err(ImageError::TooManyFrames {
            frames,
            max: limits.max_frames,
        });
    }
    Ok(())
}

/// Step 4: declared dimensions against the limits.
fn check_dimensions(
    width: u32,
    height: u32,
    limits: &Limits,
    format: Format,
) -> Result<(), ImageError> {
    let pixels = u64::from(width) * u64::from(height);
    if width > limits.max_width || height > limits.max_height || pixels > limits.max_pixels {
        return Err(ImageError::DimensionsTooLarge {
            width,
            height,
            max_width: limits.max_width,
            max_height: limits.max_height,
            max_pixels: limits.max_pixels,
        });
    }
    if width == 0 || height == 0 {
        return Err(ImageError::Corrupt {
            format,
            reason: format!("declares an empty {width}x{height} picture"),
        });
    }
    Ok(())
}

/// The largest centred square (offsets rounded down), flattened onto white as 8-bit RGB.
fn centre_square(img: &DynamicImage) -> RgbImage {
    let (w, h) = img.dimensions();
    let side = w.min(h);
    let (x0, y0) = ((w - side) / 2, (h - side) / 2);
    let view = imageops::crop_imm(img, x0, y0, side, side);
    RgbImage::from_fn(side, side, |x, y| {
        let [r, g, b, a] = view.get_pixel(x, y).0;
        let over_white = |c: u8| {
            let (c, a) = (u32::from(c), u32::from(a));
            ((c * a + 255 * (255 - a) + 127) / 255) as u8
        };
        Rgb([over_white(r), over_white(g), over_white(b)])
    })
}

/// Encode one square picture; only pixels are written, never metadata.
fn encode(img: &RgbImage, format: OutputFormat) -> Result<Vec<u8>, ImageError> {
    let (w, h) = img.dimensions();
    let mut out = Vec::new();
    let result = match format {
        OutputFormat::Jpeg => JpegEncoder::new_with_quality(&mut out, JPEG_QUALITY).encode(
            img.as_raw(),
            w,
            h,
            ExtendedColorType::Rgb8,
        ),
        OutputFormat::Png => {
            PngEncoder::new_with_quality(&mut out, CompressionType::Best, PngFilter::Adaptive)
                .write_image(img.as_raw(), w, h, ExtendedColorType::Rgb8)
        }
        OutputFormat::Gif => {
            // The GIF trailer is written when the encoder is dropped, so scope it.
            let mut encoder = GifEncoder::new_with_speed(&mut out, GIF_SPEED);
            encoder.encode(img.as_raw(), w, h, ExtendedColorType::Rgb8)
        }
        OutputFormat::Wbmp => return Ok(wbmp::from_rgb(img)),
    };
    result.map_err(|e| ImageError::Encode {
        format: format.as_str(),
        reason: e.to_string(),
    })?;
    Ok(out)
}

/// Map an `image` crate error met while reading a `format` file.
fn from_image_error(format: Format, e: image::ImageError) -> ImageError {
    match e {
        image::ImageError::Limits(l) => ImageError::ResourceLimit {
            reason: l.to_string(),
        },
        image::ImageError::Unsupported(u) => ImageError::UnsupportedFormat {
            detected: format!("a kind of {format} this server cannot read ({u})"),
        },
        other => ImageError::Corrupt {
            format,
            reason: other.to_string(),
        },
    }
}

#[cfg(test)]
mod tests;
