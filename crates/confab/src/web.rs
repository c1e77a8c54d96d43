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
use rust_embed::RustEmbed;

use crate::error::Error;

#[derive(RustEmbed)]
#[folder = "../../web/"]
struct Assets;

/// The page can only load its own files and talk to its own origin (CSP 3's
/// `'self'` covers `ws:`/`wss:` to the same host), so even a rendering
/// mistake could not pull in foreign script or reach another host.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

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
    if path.ends_with(".html") {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        );
        headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    }
    response
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
