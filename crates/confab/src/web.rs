//! The browser client: the files of `web/`, embedded in the binary and served
//! at `/` (`/index.html`, `/app.js`, `/confab-client.js`, ...).
//!
//! Release builds carry the files inside the executable, so `confab serve`
//! needs nothing beside it. Debug builds read them from `web/` on each
//! request (rust-embed's behaviour), so editing the client needs no rebuild.
//!
//! File names carry no content hash (there is no build step), so every file
//! is served with `Cache-Control: no-cache` and a strong `ETag`: browsers keep
//! their copy and revalidate it with a cheap 304.

use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use rust_embed::RustEmbed;
use sha2::{Digest, Sha256};

use crate::error::Error;

#[derive(RustEmbed)]
#[folder = "../../web/"]
struct Assets;

/// The page can only load its own files and talk to its own origin (CSP 3's
/// `'self'` covers `ws:`/`wss:` to the same host), so even a rendering
/// mistake could not pull in foreign script or reach another host. The one
/// inline script a page may have is its import map (browsers only read
/// import maps inline), allowed by the hash of its text and nothing else.
fn content_security_policy(html: &[u8]) -> String {
    let import_map = import_map_text(html)
        .map(|text| format!(" 'sha256-{}'", BASE64.encode(Sha256::digest(text))))
        .unwrap_or_default();
    format!(
        "default-src 'self'; script-src 'self'{import_map}; style-src 'self'; img-src 'self' data:; \
         connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
}

/// The text of the page's `<script type="importmap">`, exactly as the browser hashes it.
fn import_map_text(html: &[u8]) -> Option<&[u8]> {
    const OPEN: &[u8] = b"<script type=\"importmap\">";
    let start = html.windows(OPEN.len()).position(|w| w == OPEN)? + OPEN.len();
    let length = html[start..].windows(9).position(|w| w == b"</script>")?;
    Some(&html[start..start + length])
}

/// The router's fallback: an embedded file for `GET`/`HEAD`, otherwise the
/// API's usual 404 (or 405), so unknown API paths keep their JSON errors.
pub async fn serve(method: Method, uri: Uri, headers: HeaderMap) -> Response {
    if method != Method::GET && method != Method::HEAD {
        return Error::NotFound.into_response();
    }
    let path = match uri.path().trim_start_matches('/') {
        "" => "index.html",
        path => path,
    };
    match Assets::get(path) {
        Some(file) => respond(path, file, &headers),
        None => Error::NotFound.into_response(),
    }
}

fn respond(path: &str, file: rust_embed::EmbeddedFile, request: &HeaderMap) -> Response {
    let etag = format!("\"{}\"", hex(&file.metadata.sha256_hash()[..16]));
    let policy = path.ends_with(".html").then(|| content_security_policy(&file.data));
    let mut response = if request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| tags.split(',').any(|tag| tag.trim() == etag))
    {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut response = file.data.into_owned().into_response();
        let mime = file.metadata.mimetype();
        if let Ok(value) = HeaderValue::from_str(mime) {
            response.headers_mut().insert(header::CONTENT_TYPE, value);
        }
        response
    };
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, value);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if let Some(policy) = policy {
        if let Ok(value) = HeaderValue::from_str(&policy) {
            headers.insert(header::CONTENT_SECURITY_POLICY, value);
        }
        headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    }
    response
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_allows_the_pages_import_map_by_its_hash_only() {
        let page = b"<head><script type=\"importmap\">{\"imports\":{}}</script></head>";
        let policy = content_security_policy(page);
        // echo -n '{"imports":{}}' | openssl sha256 -binary | base64
        assert!(
            policy.contains("script-src 'self' 'sha256-URrTy+Il/Nz0lHojVUx275hWqAWhkSF0VsHbUM4/6Hw=';"),
            "{policy}"
        );
        assert!(!policy.contains("unsafe"));
        let plain = content_security_policy(b"<p>no scripts</p>");
        assert!(plain.contains("script-src 'self';"), "{plain}");
    }

    #[test]
    fn the_shipped_page_has_an_import_map() {
        let page = Assets::get("index.html").expect("index.html is embedded");
        assert!(import_map_text(&page.data).is_some());
    }
}
