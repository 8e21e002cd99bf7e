//! Why an uploaded picture was refused: one error type for the whole `images` pipeline, with a
//! stable [`ErrorKind`] code per variant so the HTTP/SMS layer can map each one to its own
//! subscriber-facing wording (EN/ZH) without matching on message text.

use super::sniff::Format;

/// Everything the avatar pipeline can refuse or fail on. Every variant carries the figures a
/// reply page needs (what was found, what the limit is); the `Display` text is plain English a
/// subscriber can read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImageError {
    /// The upload was empty (zero bytes).
    #[error("the file is empty")]
    Empty,
    /// The upload is bigger than the byte limit (checked before anything is decoded).
    #[error("the file is {bytes} bytes; the limit is {max} bytes")]
    TooLarge {
        /// Size of the upload in bytes.
        bytes: usize,
        /// The configured limit in bytes.
        max: usize,
    },
    /// The bytes are not one of the accepted picture formats (JPEG, PNG, GIF, BMP, WebP).
    #[error("this file looks like {detected}, not a JPEG, PNG, GIF, BMP or WebP picture")]
    UnsupportedFormat {
        /// A short human description of what the bytes look like (`"an SVG drawing"`, `"text"`...).
        detected: String,
    },
    /// The header declares a picture larger than allowed (refused before decoding, so a
    /// "decompression bomb" costs nothing).
    #[error(
        "the picture is {width}x{height} pixels; the limit is {max_width}x{max_height} \
         and {max_pixels} pixels in total"
    )]
    DimensionsTooLarge {
        /// Declared width in pixels.
        width: u32,
        /// Declared height in pixels.
        height: u32,
        /// Allowed width.
        max_width: u32,
        /// Allowed height.
        max_height: u32,
        /// Allowed width x height.
        max_pixels: u64,
    },
    /// An animation with more frames than allowed.
    #[error("the animation has {frames} frames or more; the limit is {max}")]
    TooManyFrames {
        /// Frames counted (counting stops just past the limit).
        frames: u32,
        /// The configured limit.
        max: u32,
    },
    /// The file claims to be a supported format but is damaged or incomplete.
    #[error("the {format} file is damaged or incomplete: {reason}")]
    Corrupt {
        /// The format the file claims to be.
        format: Format,
        /// What is wrong, for logs (may be technical).
        reason: String,
    },
    /// Decoding would need more memory than allowed (`Limits::max_alloc`).
    #[error("the picture needs more memory to open than allowed: {reason}")]
    ResourceLimit {
        /// The decoder's explanation.
        reason: String,
    },
    /// A requested output size is unusable (a configuration error, not the subscriber's fault).
    #[error("output size {size} is not between 1 and {max}")]
    InvalidSize {
        /// The requested square size.
        size: u32,
        /// The largest size accepted.
        max: u32,
    },
    /// Encoding an output failed (should not happen; a bug or resource problem on our side).
    #[error("could not produce the {format} version: {reason}")]
    Encode {
        /// Output format (`jpeg`, `png`, `gif`).
        format: &'static str,
        /// The encoder's explanation.
        reason: String,
    },
}

/// A stable, copyable code for each [`ImageError`] variant, for mapping to reply texts and
/// metrics labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// [`ImageError::Empty`].
    Empty,
    /// [`ImageError::TooLarge`].
    TooLarge,
    /// [`ImageError::UnsupportedFormat`].
    UnsupportedFormat,
    /// [`ImageError::DimensionsTooLarge`].
    DimensionsTooLarge,
    /// [`ImageError::TooManyFrames`].
    TooManyFrames,
    /// [`ImageError::Corrupt`].
    Corrupt,
    /// [`ImageError::ResourceLimit`].
    ResourceLimit,
    /// [`ImageError::InvalidSize`].
    InvalidSize,
    /// [`ImageError::Encode`].
    Encode,
}

impl ErrorKind {
    /// A snake_case code (`too_large`, `unsupported_format`...) for logs and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Empty => "empty",
            ErrorKind::TooLarge => "too_large",
            ErrorKind::UnsupportedFormat => "unsupported_format",
            ErrorKind::DimensionsTooLarge => "dimensions_too_large",
            ErrorKind::TooManyFrames => "too_many_frames",
            ErrorKind::Corrupt => "corrupt",
            ErrorKind::ResourceLimit => "resource_limit",
            ErrorKind::InvalidSize => "invalid_size",
            ErrorKind::Encode => "encode",
        }
    }

    /// True when the subscriber's file is at fault (show them why); false for our own
    /// configuration or encoder failures (log them, show a generic apology).
    pub fn is_client_error(self) -> bool {
        !matches!(self, ErrorKind::InvalidSize | ErrorKind::Encode)
    }
}

impl ImageError {
    /// The variant's [`ErrorKind`].
    pub fn kind(&self) -> ErrorKind {
        match self {
            ImageError::Empty => ErrorKind::Empty,
            ImageError::TooLarge { .. } => ErrorKind::TooLarge,
            ImageError::UnsupportedFormat { .. } => ErrorKind::UnsupportedFormat,
            ImageError::DimensionsTooLarge { .. } => ErrorKind::DimensionsTooLarge,
            ImageError::TooManyFrames { .. } => ErrorKind::TooManyFrames,
            ImageError::Corrupt { .. } => ErrorKind::Corrupt,
            ImageError::ResourceLimit { .. } => ErrorKind::ResourceLimit,
            ImageError::InvalidSize { .. } => ErrorKind::InvalidSize,
            ImageError::Encode { .. } => ErrorKind::Encode,
        }
    }
}
