//! What a file is, read from its first bytes (never from the client), and
//! whether a browser may show it in place.

/// Bytes read before deciding.
pub const SNIFF_BYTES: usize = 8192;

/// The content type of a file that starts with `head`: what its magic
/// bytes say; else UTF-8 text without NULs is `text/plain`; else
/// `application/octet-stream`.
pub fn content_type(head: &[u8]) -> String {
    if let Some(kind) = infer::get(head) {
        return kind.mime_type().to_owned();
    }
    // A multi-byte character may be cut at the end of the sample.
    let text = match std::str::from_utf8(head) {
        Ok(_) => true,
        Err(error) => error.error_len().is_none() && head.len() - error.valid_up_to() < 4,
    };
    if text && !head.contains(&0) {
        "text/plain; charset=utf-8".to_owned()
    } else {
        "application/octet-stream".to_owned()
    }
}

/// Types a browser renders without running anything: shown in place.
/// Everything else (HTML, SVG, PDF, text...) is downloaded
/// (`Content-Disposition: attachment`).
pub fn is_inline(content_type: &str) -> bool {
    matches!(
        content_type,
        "image/png"
            | "image/jpeg"
            | "image/gif"
            | "image/webp"
            | "image/avif"
            | "video/mp4"
            | "video/webm"
            | "video/ogg"
            | "audio/mpeg"
            | "audio/ogg"
            | "audio/wav"
            | "audio/x-wav"
            | "audio/webm"
            | "audio/flac"
            | "audio/x-flac"
            | "audio/aac"
            | "audio/mp4"
            | "audio/m4a"
            | "audio/x-m4a"
    )
}

/// Images that get a thumbnail: the formats the `image` crate is built with here.
pub fn thumbnail_format(content_type: &str) -> Option<image::ImageFormat> {
    match content_type {
        "image/png" => Some(image::ImageFormat::Png),
        "image/jpeg" => Some(image::ImageFormat::Jpeg),
        "image/gif" => Some(image::ImageFormat::Gif),
        "image/webp" => Some(image::ImageFormat::WebP),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bytes_decide_not_the_name() {
        let png = [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 0x0D];
        assert_eq!(content_type(&png), "image/png");
        assert!(
            !is_inline(&content_type(b"<html><script>alert(1)</script>")),
            "never shown in place"
        );
        assert_eq!(content_type("数据库".as_bytes()), "text/plain; charset=utf-8");
        assert_eq!(
            content_type(&"数据库".as_bytes()[..4]),
            "text/plain; charset=utf-8",
            "cut mid-character"
        );
        assert_eq!(content_type(&[0, 1, 2, 255]), "application/octet-stream");
        assert!(is_inline("image/png"));
        assert!(!is_inline("text/plain; charset=utf-8"));
        assert!(!is_inline("image/svg+xml"));
        assert!(!is_inline("application/pdf"));
    }
}
