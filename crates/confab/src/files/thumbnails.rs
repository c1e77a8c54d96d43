//! Thumbnails of uploaded images, made on the blocking pool (decoding is
//! CPU work that must not hold up the async runtime), at most a few at once,
//! under explicit limits: the image's size is read from its header first, and
//! one whose width x height is over the limit is refused before anything is
//! decoded; the decoder's own allocation limit catches what the header hides.

use std::io::Cursor;

use image::{ImageFormat, ImageReader, Limits};

/// The longest side of a thumbnail, in pixels.
pub const THUMBNAIL_SIDE: u32 = 320;

/// Why no thumbnail was made.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// Over the pixel or memory limit: the upload is refused.
    #[error("the image is {width}x{height} pixels; at most {max_pixels} pixels are accepted")]
    TooLarge { width: u32, height: u32, max_pixels: u64 },
    #[error("decoding the image would take more memory than allowed")]
    TooMuchMemory,
    /// Not a readable image after all: kept as a file, without a thumbnail.
    #[error("not a readable image: {0}")]
    Unreadable(String),
}

/// The limits one decode runs under.
#[derive(Clone, Copy, Debug)]
pub struct ImageLimits {
    pub max_pixels: u64,
    pub max_alloc: u64,
}

/// A PNG thumbnail of `bytes` (an image of `format`), at most
/// [`THUMBNAIL_SIDE`] on its longest side. Blocking: call on the blocking pool.
pub fn make(bytes: &[u8], format: ImageFormat, limits: ImageLimits) -> Result<Vec<u8>, Refusal> {
    let reader = || ImageReader::with_format(Cursor::new(bytes), format);
    let (width, height) = reader()
        .into_dimensions()
        .map_err(|e| Refusal::Unreadable(e.to_string()))?;
    if u64::from(width) * u64::from(height) > limits.max_pixels {
        return Err(Refusal::TooLarge {
            width,
            height,
            max_pixels: limits.max_pixels,
        });
    }
    let mut decoder_limits = Limits::default();
    decoder_limits.max_image_width = Some(width);
    decoder_limits.max_image_height = Some(height);
    decoder_limits.max_alloc = Some(limits.max_alloc);
    let mut reader = reader();
    reader.limits(decoder_limits);
    let image = reader.decode().map_err(|e| match e {
        image::ImageError::Limits(_) => Refusal::TooMuchMemory,
        other => Refusal::Unreadable(other.to_string()),
    })?;
    let thumbnail = image.thumbnail(THUMBNAIL_SIDE, THUMBNAIL_SIDE);
    let mut png = Vec::new();
    thumbnail
        .write_to(&mut Cursor::new(&mut png), ImageFormat::Png)
        .map_err(|e| Refusal::Unreadable(e.to_string()))?;
    Ok(png)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: u32, height: u32) -> Vec<u8> {
        let image = image::RgbImage::from_pixel(width, height, image::Rgb([200, 30, 30]));
        let mut bytes = Vec::new();
        image.write_to(&mut Cursor::new(&mut bytes), ImageFormat::Png).unwrap();
        bytes
    }

    const LIMITS: ImageLimits = ImageLimits {
        max_pixels: 1_000_000,
        max_alloc: 64 * 1024 * 1024,
    };

    #[test]
    fn a_thumbnail_keeps_the_aspect_within_the_side() {
        let thumbnail = make(&png(800, 400), ImageFormat::Png, LIMITS).unwrap();
        let decoded = image::load_from_memory(&thumbnail).unwrap();
        assert_eq!((decoded.width(), decoded.height()), (320, 160));
    }

    #[test]
    fn too_many_pixels_are_refused_before_decoding() {
        let refused = make(&png(2000, 1000), ImageFormat::Png, LIMITS).unwrap_err();
        assert!(
            matches!(
                refused,
                Refusal::TooLarge {
                    width: 2000,
                    height: 1000,
                    ..
                }
            ),
            "{refused}"
        );
        let garbage = make(b"\x89PNG\r\n\x1a\nnot really", ImageFormat::Png, LIMITS).unwrap_err();
        assert!(matches!(garbage, Refusal::Unreadable(_)), "{garbage}");
    }
}
