//! Files shared in rooms: who may upload where and how much, attaching
//! uploads to posts (see `posting`), who may download, and the cleanup of
//! uploads never attached. The bytes are `crate::files`' business; this
//! module decides and keeps the rows.

use chrono::Utc;

use super::policy;
use super::rooms::facts;
use super::types::Attachment;
use crate::auth::CurrentUser;
use crate::error::{Error, Result};
use crate::files::links::{links, Variant};
use crate::files::{Files, Stored};
use crate::store::entities::files;
use crate::store::{self, Store};

/// Most files one message may carry.
pub const ATTACHMENTS_MAX: usize = 10;

/// The longest file name kept, in characters.
pub const NAME_MAX: usize = 255;

/// The file object of a row, with fresh signed links.
pub fn attachment(file: &files::Model) -> Attachment {
    let links = links();
    Attachment {
        id: file.id,
        name: file.name.clone(),
        size: file.size,
        content_type: file.content_type.clone(),
        url: links.url(file.id, Variant::Original),
        thumbnail_url: file
            .thumbnail_key
            .as_ref()
            .map(|_| links.url(file.id, Variant::Thumbnail)),
    }
}

/// How much `user` may still upload to `room_id`: checked before a byte is read.
pub struct UploadAllowance {
    /// Bytes this upload may have: the size limit or what is left of the quota.
    pub limit: u64,
    /// Whether the quota, not the size limit, is what binds.
    pub by_quota: bool,
}

/// May `user` upload to `room_id`, and how much? Members only; a user at
/// their quota is refused (413) before the upload is read.
pub async fn allowance(
    store: &Store,
    user: &CurrentUser,
    room_id: i64,
    max_bytes: u64,
    quota: u64,
) -> Result<UploadAllowance> {
    let db = store.reader();
    let facts = facts(db, room_id, user.id, false).await?;
    policy::upload_file(&facts.access)?;
    let used = store::files::bytes_of(db, user.id).await?.max(0) as u64;
    let left = quota.saturating_sub(used);
    if left == 0 {
        return Err(quota_exceeded(quota));
    }
    Ok(UploadAllowance {
        limit: max_bytes.min(left),
        by_quota: left < max_bytes,
    })
}

/// The refusal of an upload over its uploader's quota (counted in the metrics).
pub fn quota_exceeded(quota: u64) -> Error {
    metrics::counter!("files_refused_total", "reason" => "quota").increment(1);
    Error::PayloadTooLargeBecause(format!(
        "Your files would exceed your storage quota of {quota} bytes. Delete messages with files to make room."
    ))
}

/// A file name as kept: the last path segment of what the client sent,
/// without control characters, at most [`NAME_MAX`] characters; `file` when
/// nothing is left.
pub fn clean_name(sent: &str) -> String {
    let last = sent.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = last.chars().filter(|c| !c.is_control()).take(NAME_MAX).collect();
    let trimmed = cleaned.trim();
    if trimmed.is_empty() || trimmed == "." || trimmed == ".." {
        "file".to_owned()
    } else {
        trimmed.to_owned()
    }
}

/// Records a stored upload of `user` in `room_id` (checked again: the
/// membership may have ended while the bytes arrived) and returns its file
/// object. On refusal the caller deletes the bytes.
pub async fn register(
    store: &Store,
    user: &CurrentUser,
    room_id: i64,
    name: &str,
    stored: &Stored,
    quota: u64,
) -> Result<Attachment> {
    let txn = store.begin().await?;
    let facts = facts(&txn, room_id, user.id, false).await?;
    policy::upload_file(&facts.access)?;
    let used = store::files::bytes_of(&txn, user.id).await?.max(0) as u64;
    if used.saturating_add(stored.size) > quota {
        return Err(quota_exceeded(quota));
    }
    let file = store::files::insert(
        &txn,
        store::files::NewFile {
            room_id,
            uploader_id: user.id,
            storage_key: &stored.key,
            thumbnail_key: stored.thumbnail_key.as_deref(),
            name: &clean_name(name),
            size: stored.size as i64,
            content_type: &stored.content_type,
        },
    )
    .await?;
    txn.commit().await?;
    metrics::counter!("files_uploads_total").increment(1);
    metrics::gauge!("files_stored_bytes").increment(stored.size as f64);
    Ok(attachment(&file))
}

/// The file a download link names, if the link is good and the file still
/// visible (its room active, its message not deleted).
pub async fn open_link(
    store: &Store,
    file_id: i64,
    variant: Variant,
    expires: i64,
    signature: &str,
) -> Result<files::Model> {
    let link_valid = links().check(file_id, variant, expires, signature);
    policy::download_file(link_valid, true)?;
    let db = store.reader();
    let file = store::files::find(db, file_id).await?.ok_or(Error::NotFound)?;
    let room_active = store::rooms::find(db, file.room_id).await?.is_some_and(|r| r.is_active);
    let message_live = match file.message_id {
        Some(id) => store::messages::find(db, id).await?.is_some_and(|m| !m.is_deleted),
        None => true,
    };
    let has_variant = variant == Variant::Original || file.thumbnail_key.is_some();
    policy::download_file(link_valid, room_active && message_live && has_variant)?;
    Ok(file)
}

/// Deletes uploads older than `max_age_secs` that no message claimed: their
/// rows first (one at a time, each only if still unattached, so a post
/// attaching it meanwhile wins), then their bytes. Returns how many.
pub async fn clean_up(store: &Store, files: &Files, max_age_secs: u64) -> Result<usize> {
    const BATCH: u64 = 100;
    let cutoff = Utc::now() - chrono::Duration::seconds(max_age_secs.min(i64::MAX as u64 / 1000) as i64);
    let mut removed = 0;
    loop {
        let old = store::files::unattached_before(store.reader(), cutoff, BATCH).await?;
        let found = old.len() as u64;
        for file in old {
            let txn = store.begin().await?;
            let deleted = store::files::delete_unattached(&txn, file.id).await?;
            txn.commit().await?;
            if deleted {
                files
                    .delete_with_thumbnail(&file.storage_key, file.thumbnail_key.as_deref())
                    .await;
                metrics::gauge!("files_stored_bytes").decrement(file.size as f64);
                removed += 1;
            }
        }
        if found < BATCH {
            return Ok(removed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_keep_their_last_segment_only() {
        assert_eq!(clean_name("../../etc/passwd"), "passwd");
        assert_eq!(clean_name("C:\\Users\\me\\report.pdf"), "report.pdf");
        assert_eq!(clean_name("a\u{0}b\nc.txt"), "abc.txt");
        assert_eq!(clean_name(" .. "), "file");
        assert_eq!(clean_name(""), "file");
        assert_eq!(clean_name("数据库.png"), "数据库.png");
        assert_eq!(clean_name(&"x".repeat(300)).chars().count(), NAME_MAX);
    }
}
