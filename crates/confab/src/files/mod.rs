//! Where uploaded files live: an object store (the `object_store` crate),
//! the local file system under `<data_dir>/files` by default (a 0700
//! directory), or any store a URL names (`s3://...`, `memory://`).
//!
//! An upload is streamed to the store as it arrives, never held whole in
//! memory, and stops at its size limit; the first bytes decide its content
//! type ([`kind`]); an image gets a thumbnail ([`thumbnails`]). Keys are
//! random: nothing of a client's choosing reaches a path. Links to the bytes
//! are signed ([`links`]).

pub mod kind;
pub mod links;
pub mod thumbnails;

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use object_store::path::Path as StorePath;
use object_store::{GetOptions, GetRange, ObjectStore, ObjectStoreExt, WriteMultipart};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use self::thumbnails::{ImageLimits, Refusal};
use crate::config::{create_private_dir, Config};

/// Thumbnails decoded at once (each may take `files_max_image_alloc`).
const THUMBNAILS_AT_ONCE: usize = 2;

/// Bytes an upload buffers before writing them out as one part: S3 needs at
/// least 5 MiB per part; the local file system takes any size, and small
/// parts keep an upload's memory small (peak RSS of a debug server over a
/// 100 MB upload: +49 MB with 5 MiB parts, +1 MB with 64 KiB ones).
const REMOTE_PART_BYTES: usize = 5 * 1024 * 1024;
const LOCAL_PART_BYTES: usize = 64 * 1024;

/// The node's file storage.
pub struct Files {
    store: Arc<dyn ObjectStore>,
    part_bytes: usize,
    uploads: Arc<Semaphore>,
    thumbnails: Arc<Semaphore>,
    image_limits: ImageLimits,
}

/// An upload, stored.
#[derive(Debug)]
pub struct Stored {
    pub key: String,
    pub thumbnail_key: Option<String>,
    pub size: u64,
    pub content_type: String,
}

/// Why an upload was not stored (nothing of it is left behind).
#[derive(Debug, thiserror::Error)]
pub enum SaveError {
    #[error("the file is larger than {limit} bytes")]
    TooLarge { limit: u64 },
    #[error(transparent)]
    Image(Refusal),
    /// The client's body broke off (or was not multipart after all).
    #[error("the upload broke off: {0}")]
    Body(String),
    #[error("the file store failed: {0}")]
    Storage(#[from] object_store::Error),
}

/// Bytes of a stored object, as a stream, with its total size.
pub struct Download {
    pub size: u64,
    pub range: Range<u64>,
    pub body: futures::stream::BoxStream<'static, object_store::Result<Bytes>>,
}

impl Files {
    pub fn open(config: &Config) -> anyhow::Result<Self> {
        let (store, part_bytes): (Arc<dyn ObjectStore>, usize) = match config.files_storage_url.as_deref() {
            None => {
                let dir = config.data_dir.join("files");
                create_private_dir(&dir)?;
                let local = object_store::local::LocalFileSystem::new_with_prefix(&dir)?;
                (Arc::new(local), LOCAL_PART_BYTES)
            }
            Some(url) => {
                let url = url::Url::parse(url).map_err(|e| anyhow::anyhow!("files_storage_url: {e}"))?;
                let options: Vec<(String, String)> = std::env::vars()
                    .filter(|(name, _)| name.starts_with("AWS_"))
                    .map(|(name, value)| (name.to_ascii_lowercase(), value))
                    .collect();
                let (store, prefix) = object_store::parse_url_opts(&url, options)?;
                let part_bytes = match url.scheme() {
                    "file" => LOCAL_PART_BYTES,
                    _ => REMOTE_PART_BYTES,
                };
                (
                    Arc::new(object_store::prefix::PrefixStore::new(store, prefix)),
                    part_bytes,
                )
            }
        };
        Ok(Self {
            store,
            part_bytes,
            uploads: Arc::new(Semaphore::new(config.files_max_concurrent_uploads)),
            thumbnails: Arc::new(Semaphore::new(THUMBNAILS_AT_ONCE)),
            image_limits: ImageLimits {
                max_pixels: config.files_max_image_pixels,
                max_alloc: config.files_max_image_alloc,
            },
        })
    }

    /// A slot for one upload, or `None` when `files_max_concurrent_uploads` are running.
    pub fn try_begin_upload(&self) -> Option<OwnedSemaphorePermit> {
        self.uploads.clone().try_acquire_owned().ok()
    }

    /// Streams `body` to a new object, refusing it past `limit` bytes; then
    /// reads its type and, for an image, makes its thumbnail.
    pub async fn save<S, E>(&self, body: S, limit: u64) -> Result<Stored, SaveError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let key = uuid::Uuid::new_v4().simple().to_string();
        let path = object_path(&key);
        let upload = self.store.put_multipart(&path).await?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, self.part_bytes);
        let mut head: Vec<u8> = Vec::with_capacity(kind::SNIFF_BYTES);
        let mut size: u64 = 0;
        let mut body = body;
        let failure = loop {
            let chunk = match body.next().await {
                None => break None,
                Some(Ok(chunk)) => chunk,
                Some(Err(error)) => break Some(SaveError::Body(error.to_string())),
            };
            size += chunk.len() as u64;
            if size > limit {
                break Some(SaveError::TooLarge { limit });
            }
            if head.len() < kind::SNIFF_BYTES {
                let take = (kind::SNIFF_BYTES - head.len()).min(chunk.len());
                head.extend_from_slice(&chunk[..take]);
            }
            // At most a couple of parts in flight: memory stays bounded.
            if let Err(error) = writer.wait_for_capacity(2).await {
                break Some(error.into());
            }
            writer.write(&chunk);
        };
        if let Some(failure) = failure {
            let _ = writer.abort().await;
            return Err(failure);
        }
        writer.finish().await?;
        let content_type = kind::content_type(&head);
        let thumbnail_key = match kind::thumbnail_format(&content_type) {
            Some(format) => match self.thumbnail(&key, format).await {
                Ok(thumbnail) => thumbnail,
                Err(error) => {
                    self.delete(&key).await;
                    return Err(error);
                }
            },
            None => None,
        };
        Ok(Stored {
            key,
            thumbnail_key,
            size,
            content_type,
        })
    }

    /// Makes and stores the thumbnail of the image at `key`: its key, `None`
    /// when the image cannot be read, an error when it is refused.
    async fn thumbnail(&self, key: &str, format: image::ImageFormat) -> Result<Option<String>, SaveError> {
        let bytes = self.store.get(&object_path(key)).await?.bytes().await?;
        let _permit = self.thumbnails.acquire().await.expect("never closed");
        let limits = self.image_limits;
        let made = tokio::task::spawn_blocking(move || thumbnails::make(&bytes, format, limits))
            .await
            .map_err(|e| SaveError::Image(Refusal::Unreadable(e.to_string())))?;
        match made {
            Ok(png) => {
                let thumbnail_key = format!("{key}-thumbnail");
                self.store.put(&object_path(&thumbnail_key), png.into()).await?;
                Ok(Some(thumbnail_key))
            }
            Err(Refusal::Unreadable(reason)) => {
                tracing::debug!(%reason, "an upload looked like an image but is not one: no thumbnail");
                Ok(None)
            }
            Err(refusal) => Err(SaveError::Image(refusal)),
        }
    }

    /// The bytes at `key`, or the part `range` asks for (its end clamped).
    pub async fn read(&self, key: &str, range: Option<Range<u64>>) -> object_store::Result<Download> {
        let options = GetOptions {
            range: range.map(GetRange::Bounded),
            ..Default::default()
        };
        let result = self.store.get_opts(&object_path(key), options).await?;
        Ok(Download {
            size: result.meta.size,
            range: result.range.clone(),
            body: result.into_stream(),
        })
    }

    /// Deletes a file's bytes and its thumbnail's, if it has one.
    pub async fn delete_with_thumbnail(&self, key: &str, thumbnail_key: Option<&str>) {
        self.delete(key).await;
        if let Some(thumbnail) = thumbnail_key {
            self.delete(thumbnail).await;
        }
    }

    /// Deletes the object at `key`; a failure is logged (the object is
    /// orphaned, never served: no row points at it).
    pub async fn delete(&self, key: &str) {
        if let Err(error) = self.store.delete(&object_path(key)).await {
            tracing::warn!(key, %error, "could not delete a stored file");
        }
    }
}

fn object_path(key: &str) -> StorePath {
    StorePath::from(format!("files/{key}"))
}
