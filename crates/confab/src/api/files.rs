//! `POST /api/chat/rooms/{id}/files/` (multipart upload) and the signed
//! download links `GET /api/chat/files/{id}/` and `.../thumbnail/`.

use axum::body::Body;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::input::Path;
use super::{BadRequestBody, ErrorBody};
use crate::app::AppState;
use crate::auth::Developer;
use crate::chat::files as shared;
use crate::chat::types::Attachment;
use crate::error::{Error, Result};
use crate::files::links::Variant;
use crate::files::{kind, SaveError};

/// Bytes of multipart fields other than `file` that are read and ignored.
const OTHER_FIELDS_MAX: usize = 16 * 1024;

/// The multipart body of an upload.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct UploadForm {
    /// The file; its name is kept, its type read from its bytes.
    #[schema(format = Binary, content_media_type = "application/octet-stream")]
    file: String,
}

/// Upload a file to a room (members): streamed to storage, at most
/// `files_max_bytes` (25 MiB by default) and within the uploader's quota.
/// Attach it to a post with `"attachments": [id]`; unattached uploads are
/// deleted after `files_unattached_max_age`.
#[utoipa::path(post, path = "/api/chat/rooms/{id}/files/", tag = "files", params(("id" = i64, Path)),
    request_body(content = UploadForm, content_type = "multipart/form-data"), security(("jwt" = [])),
    responses(
        (status = 201, body = Attachment),
        (status = 400, description = "No file, an empty file, or an image over the pixel limit", body = BadRequestBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 413, description = "Over the size limit or the quota", body = ErrorBody),
        (status = 415, body = ErrorBody), (status = 503, description = "Too many uploads at once", body = ErrorBody),
    ))]
pub async fn upload(
    State(state): State<AppState>,
    Developer(user): Developer,
    Path(room_id): Path<i64>,
    multipart: std::result::Result<Multipart, MultipartRejection>,
) -> Result<(StatusCode, Json<Attachment>)> {
    let config = &state.config;
    let allowance = shared::allowance(
        &state.store,
        &user,
        room_id,
        config.files_max_bytes,
        config.files_quota_bytes,
    )
    .await?;
    let mut multipart = multipart
        .map_err(|_| Error::UnsupportedMediaType("Uploads are multipart/form-data with a \"file\" field.".into()))?;
    let Some(_slot) = state.files.try_begin_upload() else {
        metrics::counter!("files_refused_total", "reason" => "busy").increment(1);
        return Err(Error::Unavailable("too many uploads at once; try again shortly".into()));
    };
    let mut other_bytes = 0;
    loop {
        let field = multipart.next_field().await.map_err(|e| bad_body(&e.to_string()))?;
        let Some(mut field) = field else {
            return Err(Error::field("file", "No file was submitted."));
        };
        if field.name() != Some("file") {
            while let Some(chunk) = field.chunk().await.map_err(|e| bad_body(&e.to_string()))? {
                other_bytes += chunk.len();
                if other_bytes > OTHER_FIELDS_MAX {
                    return Err(Error::BadRequest("Only a \"file\" field is expected.".into()));
                }
            }
            continue;
        }
        let name = field.file_name().unwrap_or("file").to_owned();
        let stored = match state.files.save(&mut field, allowance.limit).await {
            Ok(stored) => stored,
            Err(error) => return Err(refused(error, &allowance, config.files_quota_bytes)),
        };
        if stored.size == 0 {
            state.files.delete(&stored.key).await;
            return Err(Error::field("file", "The submitted file is empty."));
        }
        return match shared::register(&state.store, &user, room_id, &name, &stored, config.files_quota_bytes).await {
            Ok(file) => Ok((StatusCode::CREATED, Json(file))),
            Err(error) => {
                state
                    .files
                    .delete_with_thumbnail(&stored.key, stored.thumbnail_key.as_deref())
                    .await;
                Err(error)
            }
        };
    }
}

fn bad_body(reason: &str) -> Error {
    Error::BadRequest(format!("Multipart parse error - {reason}"))
}

/// The answer to an upload that was not stored.
fn refused(error: SaveError, allowance: &shared::UploadAllowance, quota: u64) -> Error {
    match error {
        SaveError::TooLarge { .. } if allowance.by_quota => shared::quota_exceeded(quota),
        SaveError::TooLarge { limit } => {
            metrics::counter!("files_refused_total", "reason" => "too_large").increment(1);
            Error::PayloadTooLargeBecause(format!("The file is larger than {limit} bytes."))
        }
        SaveError::Image(refusal) => {
            metrics::counter!("files_refused_total", "reason" => "image_too_large").increment(1);
            Error::field("file", format!("Upload a smaller image: {refusal}."))
        }
        SaveError::Body(reason) => bad_body(&reason),
        SaveError::Storage(error) => {
            metrics::counter!("files_refused_total", "reason" => "storage").increment(1);
            Error::internal(anyhow::anyhow!("storing an upload: {error}"))
        }
    }
}

/// A signed link's query. Read as text: a link that does not parse is a bad
/// link (403), like one whose signature does not match.
#[derive(Deserialize, IntoParams)]
pub struct LinkQuery {
    /// Unix time after which the link no longer works.
    #[param(value_type = Option<i64>)]
    expires: Option<String>,
    signature: Option<String>,
}

/// A file's bytes, through the signed link of its file object (no
/// `Authorization` needed). Single byte ranges are served (206).
#[utoipa::path(get, path = "/api/chat/files/{id}/", tag = "files", params(("id" = i64, Path), LinkQuery),
    responses(
        (status = 200, description = "The bytes, with their content type"), (status = 206, description = "A byte range"),
        (status = 403, description = "The link has expired or is forged", body = ErrorBody),
        (status = 404, description = "The file is gone: its message or room deleted", body = ErrorBody),
        (status = 416, description = "A range outside the file"),
    ))]
pub async fn download(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Query(link): Query<LinkQuery>,
    headers: HeaderMap,
) -> Result<Response> {
    serve(&state, id, Variant::Original, link, &headers).await
}

/// An image's PNG thumbnail, through the signed `thumbnail_url`.
#[utoipa::path(get, path = "/api/chat/files/{id}/thumbnail/", tag = "files", params(("id" = i64, Path), LinkQuery),
    responses(
        (status = 200, description = "A PNG"),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    ))]
pub async fn thumbnail(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Query(link): Query<LinkQuery>,
    headers: HeaderMap,
) -> Result<Response> {
    serve(&state, id, Variant::Thumbnail, link, &headers).await
}

async fn serve(state: &AppState, id: i64, variant: Variant, link: LinkQuery, headers: &HeaderMap) -> Result<Response> {
    let expires = link.expires.and_then(|e| e.parse::<i64>().ok());
    let (Some(expires), Some(signature)) = (expires, link.signature) else {
        return Err(Error::Forbidden("This link has expired or is not valid.".into()));
    };
    let file = shared::open_link(&state.store, id, variant, expires, &signature).await?;
    let (key, content_type, size) = match variant {
        Variant::Original => (
            file.storage_key.clone(),
            file.content_type.clone(),
            Some(file.size as u64),
        ),
        Variant::Thumbnail => (
            file.thumbnail_key.clone().unwrap_or_default(),
            "image/png".to_owned(),
            None,
        ),
    };
    let range = match (size, headers.get(header::RANGE).and_then(|v| v.to_str().ok())) {
        (Some(size), Some(asked)) => match http_range_header::parse_range_header(asked).map(|r| r.validate(size)) {
            Ok(Ok(ranges)) if ranges.len() == 1 => Some(*ranges[0].start()..*ranges[0].end() + 1),
            Ok(Err(_)) => {
                let mut response = StatusCode::RANGE_NOT_SATISFIABLE.into_response();
                if let Ok(value) = HeaderValue::from_str(&format!("bytes */{size}")) {
                    response.headers_mut().insert(header::CONTENT_RANGE, value);
                }
                return Ok(response);
            }
            // Several ranges, or a header that is not a byte range: the whole file.
            _ => None,
        },
        _ => None,
    };
    let partial = range.is_some();
    let download = state.files.read(&key, range).await.map_err(|error| match error {
        // A row without its bytes (lost from the store): nothing to serve.
        object_store::Error::NotFound { .. } => {
            tracing::warn!(file = id, "a file's bytes are missing from the store");
            Error::NotFound
        }
        error => Error::internal(anyhow::anyhow!("reading a stored file: {error}")),
    })?;
    let mut response = Body::from_stream(download.body).into_response();
    let out = response.headers_mut();
    let inline = variant == Variant::Thumbnail || kind::is_inline(&content_type);
    let set = |out: &mut HeaderMap, name: header::HeaderName, value: String| {
        if let Ok(value) = HeaderValue::from_str(&value) {
            out.insert(name, value);
        }
    };
    set(out, header::CONTENT_TYPE, content_type);
    set(out, header::CONTENT_DISPOSITION, disposition(inline, &file.name));
    set(
        out,
        header::CONTENT_LENGTH,
        (download.range.end - download.range.start).to_string(),
    );
    out.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    // Nothing in a file may run as this site's page.
    out.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; sandbox"),
    );
    let max_age = (expires - chrono::Utc::now().timestamp()).clamp(0, 86_400);
    set(out, header::CACHE_CONTROL, format!("private, max-age={max_age}"));
    if partial {
        set(
            out,
            header::CONTENT_RANGE,
            format!(
                "bytes {}-{}/{}",
                download.range.start,
                download.range.end - 1,
                download.size
            ),
        );
        *response.status_mut() = StatusCode::PARTIAL_CONTENT;
    }
    Ok(response)
}

/// `Content-Disposition` with the file's name, in ASCII and in UTF-8 (RFC 6266).
fn disposition(inline: bool, name: &str) -> String {
    let kind = if inline { "inline" } else { "attachment" };
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut encoded = String::new();
    for byte in name.bytes() {
        if byte.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&byte) {
            encoded.push(byte as char);
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    format!("{kind}; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dispositions_name_the_file_safely() {
        assert_eq!(
            disposition(false, "报告 \"final\".pdf"),
            "attachment; filename=\"__ _final_.pdf\"; filename*=UTF-8''%E6%8A%A5%E5%91%8A%20%22final%22.pdf"
        );
        assert!(disposition(true, "a.png").starts_with("inline; "));
    }
}
