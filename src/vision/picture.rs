//! Image decoding for every input path: files, camera stills, enrolment photos.
//!
//! JPEG and PNG in any pixel layout (grey, RGBA, 16-bit) become 8-bit RGB; EXIF
//! orientation is applied; decoding is bounded by [`LIMITS`] and anything larger
//! than [`MAX_SIDE`] is downscaled, so a hostile or huge file costs bounded memory.

use std::io::Cursor;
use std::path::Path;

use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits, RgbImage};

use super::ImageError;

/// Largest width or height accepted from a file (pixels).
pub const MAX_DIMENSION: u32 = 12_000;
/// Longest side kept after decoding: larger images are downscaled to it.
pub const MAX_SIDE: u32 = 2_048;
/// Largest decoder allocation (bytes).
pub const MAX_ALLOC: u64 = 640 * 1024 * 1024;

/// Decoder limits.
pub fn limits() -> Limits {
    let mut l = Limits::default();
    l.max_image_width = Some(MAX_DIMENSION);
    l.max_image_height = Some(MAX_DIMENSION);
    l.max_alloc = Some(MAX_ALLOC);
    l
}

/// Reads and decodes an image file.
pub fn load(path: &Path) -> Result<RgbImage, ImageError> {
    let bytes = std::fs::read(path).map_err(|cause| ImageError::Io {
        path: path.to_path_buf(),
        cause,
    })?;
    decode(&bytes, &path.display().to_string())
}

/// Decodes JPEG or PNG bytes; `name` labels errors.
pub fn decode(bytes: &[u8], name: &str) -> Result<RgbImage, ImageError> {
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| decode_error(name, e))?;
    match reader.format() {
        Some(ImageFormat::Jpeg) if !jpeg_is_complete(bytes) => {
            return Err(decode_error(
                name,
                "truncated JPEG (no end-of-image marker)",
            ));
        }
        Some(ImageFormat::Jpeg | ImageFormat::Png) => {}
        _ => return Err(ImageError::NotAnImage(name.to_string())),
    }
    reader.limits(limits());
    let mut decoder = reader.into_decoder().map_err(|e| image_error(name, e))?;
    // A broken EXIF block is no reason to refuse the picture.
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut img = DynamicImage::from_decoder(decoder).map_err(|e| image_error(name, e))?;
    img.apply_orientation(orientation);
    let (w, h) = (img.width(), img.height());
    if w.max(h) > MAX_SIDE {
        let scale = MAX_SIDE as f32 / w.max(h) as f32;
        let nw = ((w as f32 * scale).round() as u32).max(1);
        let nh = ((h as f32 * scale).round() as u32).max(1);
        img = img.resize_exact(nw, nh, image::imageops::FilterType::Triangle);
    }
    Ok(img.into_rgb8())
}

/// Whether a JPEG's last scan is followed by an end-of-image marker. The JPEG
/// decoder fills a truncated scan with grey instead of failing; a cut-off
/// upload or a half-copied USB file must be refused, not enrolled. (Byte
/// stuffing keeps `FF D9` out of scan data, and an EXIF thumbnail's own markers
/// come before the main image's scans.)
pub fn jpeg_is_complete(bytes: &[u8]) -> bool {
    let last_scan = bytes.windows(2).rposition(|w| w == [0xFF, 0xDA]);
    let end = bytes.windows(2).rposition(|w| w == [0xFF, 0xD9]);
    matches!((last_scan, end), (Some(s), Some(e)) if e > s)
}

fn decode_error(name: &str, e: impl std::fmt::Display) -> ImageError {
    ImageError::Decode {
        name: name.to_string(),
        msg: e.to_string(),
    }
}

fn image_error(name: &str, e: image::ImageError) -> ImageError {
    match e {
        image::ImageError::Limits(l) => ImageError::TooLarge {
            name: name.to_string(),
            msg: l.to_string(),
        },
        image::ImageError::Unsupported(_) => ImageError::NotAnImage(name.to_string()),
        other => decode_error(name, other),
    }
}
