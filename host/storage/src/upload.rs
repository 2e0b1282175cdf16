//! Writing one object so that it appears whole or not at all, with bounded
//! memory: the bytes go up as multipart parts of `part_bytes`, at most
//! `parallel_parts` at once, and the object becomes visible only at
//! [`Upload::commit`]. Until then a remote upload is recorded by a marker
//! under `_quiver/uploads/`, so that [`crate::collect_garbage`] can abort
//! what a killed process left open. A local upload stages into a hidden
//! `name#N` file beside the target and is renamed at commit.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use object_store::multipart::{MultipartStore, PartId};
use object_store::path::Path as ObjectPath;
use object_store::{MultipartUpload, ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};
use tokio::task::JoinSet;

use crate::error::StorageError;
use crate::location::Location;

/// The directory, below a sink's root, of the markers of open uploads.
pub const UPLOADS_DIR: &str = "_quiver/uploads";

/// What a marker of an open upload records.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Marker {
    /// The key of the object being uploaded.
    pub path: String,
    /// The store's id of the multipart upload.
    pub upload_id: String,
    /// When the upload started, in seconds since the Unix epoch.
    pub started: u64,
}

enum Parts {
    Remote {
        store: Arc<dyn MultipartStore>,
        id: String,
        marker: ObjectPath,
        markers: Box<Location>,
        done: Vec<Option<PartId>>,
        inflight: JoinSet<(usize, object_store::Result<PartId>)>,
    },
    Local {
        upload: Box<dyn MultipartUpload>,
        inflight: JoinSet<object_store::Result<()>>,
    },
}

/// An object being written. Drop it only after [`commit`](Upload::commit)
/// or [`abort`](Upload::abort).
pub struct Upload {
    location: Location,
    path: ObjectPath,
    parts: Parts,
    buffer: BytesMut,
    next_part: usize,
    bytes: u64,
    finished: bool,
}

impl Upload {
    pub(crate) async fn start(
        location: Location,
        multipart: Option<Arc<dyn MultipartStore>>,
        path: ObjectPath,
        markers: &Location,
    ) -> Result<Self, StorageError> {
        location.check_writable()?;
        let parts = match multipart {
            Some(store) => {
                let id = crate::retry::again(location.config(), "start an upload", || store.create_multipart(&path))
                    .await
                    .map_err(|e| location.error(&path, e, None))?;
                let name = path.filename().unwrap_or("object");
                let marker =
                    markers.child(UPLOADS_DIR)?.path().clone().join(format!("{name}.{:016x}.json", fastrand::u64(..)));
                let started = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs())
                    .unwrap_or_default();
                let record = Marker { path: path.to_string(), upload_id: id.clone(), started };
                let json = serde_json::to_vec(&record).expect("a marker serializes");
                if let Err(e) = markers.put(&marker, Bytes::from(json)).await {
                    let _ = store.abort_multipart(&path, &id).await;
                    return Err(e);
                }
                Parts::Remote {
                    store,
                    id,
                    marker,
                    markers: Box::new(markers.clone()),
                    done: Vec::new(),
                    inflight: JoinSet::new(),
                }
            }
            None => {
                let upload = location.store().put_multipart(&path).await.map_err(|e| location.error(&path, e, None))?;
                Parts::Local { upload, inflight: JoinSet::new() }
            }
        };
        Ok(Self { location, path, parts, buffer: BytesMut::new(), next_part: 0, bytes: 0, finished: false })
    }

    /// The object's URL (or absolute path), for messages.
    pub fn url(&self) -> String {
        self.location.url_of(&self.path)
    }

    /// The object's key.
    pub fn path(&self) -> &ObjectPath {
        &self.path
    }

    /// Bytes written so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    fn part_bytes(&self) -> usize {
        self.location.config().part_bytes as usize
    }

    /// Appends bytes; sends full parts, waiting while `parallel_parts` are in flight.
    pub async fn write(&mut self, bytes: &[u8]) -> Result<(), StorageError> {
        self.buffer.extend_from_slice(bytes);
        self.bytes += bytes.len() as u64;
        while self.buffer.len() >= self.part_bytes() {
            let part = self.buffer.split_to(self.part_bytes()).freeze();
            self.send(part).await?;
        }
        Ok(())
    }

    async fn send(&mut self, part: Bytes) -> Result<(), StorageError> {
        let limit = self.location.config().parallel_parts;
        let index = self.next_part;
        self.next_part += 1;
        match &mut self.parts {
            Parts::Remote { store, id, inflight, .. } => {
                let (store, id, path) = (store.clone(), id.clone(), self.path.clone());
                let config = self.location.config().clone();
                inflight.spawn(async move {
                    let put = || store.put_part(&path, &id, index, PutPayload::from(part.clone()));
                    (index, crate::retry::again(&config, "upload a part", put).await)
                });
            }
            Parts::Local { upload, inflight } => {
                inflight.spawn(upload.put_part(PutPayload::from(part)));
            }
        }
        while self.in_flight() >= limit {
            self.settle_one().await?;
        }
        Ok(())
    }

    fn in_flight(&self) -> usize {
        match &self.parts {
            Parts::Remote { inflight, .. } => inflight.len(),
            Parts::Local { inflight, .. } => inflight.len(),
        }
    }

    /// Waits for one part in flight, if any.
    async fn settle_one(&mut self) -> Result<(), StorageError> {
        let result = match &mut self.parts {
            Parts::Remote { done, inflight, .. } => match inflight.join_next().await {
                Some(Ok((index, Ok(part)))) => {
                    if done.len() <= index {
                        done.resize(index + 1, None);
                    }
                    done[index] = Some(part);
                    Ok(())
                }
                Some(Ok((_, Err(e)))) => Err(Ok(e)),
                Some(Err(e)) => Err(Err(e)),
                None => Ok(()),
            },
            Parts::Local { inflight, .. } => match inflight.join_next().await {
                Some(Ok(Ok(()))) | None => Ok(()),
                Some(Ok(Err(e))) => Err(Ok(e)),
                Some(Err(e)) => Err(Err(e)),
            },
        };
        result.map_err(|e| match e {
            Ok(e) => self.location.error(&self.path, e, None),
            Err(joined) => StorageError::Request { url: self.url(), reason: joined.to_string() },
        })
    }

    /// Sends what is buffered and waits for every part: the bytes are all
    /// in the store, not yet visible. Idempotent.
    pub async fn finish(&mut self) -> Result<(), StorageError> {
        if self.finished {
            return Ok(());
        }
        // A multipart upload needs one part at least, even an empty one.
        if !self.buffer.is_empty() || self.next_part == 0 {
            let last = self.buffer.split().freeze();
            self.send(last).await?;
        }
        while self.in_flight() > 0 {
            self.settle_one().await?;
        }
        self.finished = true;
        Ok(())
    }

    /// Makes the object visible, whole, and returns its size. Finishes first if needed.
    pub async fn commit(mut self) -> Result<u64, StorageError> {
        self.finish().await?;
        let failed = |e: object_store::Error| self.location.error(&self.path, e, None);
        match &mut self.parts {
            Parts::Remote { store, id, marker, markers, done, .. } => {
                let parts = done.drain(..).collect::<Option<Vec<_>>>().ok_or_else(|| StorageError::Request {
                    url: self.location.url_of(&self.path),
                    reason: "a part of the upload is missing".into(),
                })?;
                let complete = || store.complete_multipart(&self.path, id, parts.clone());
                match crate::retry::again(self.location.config(), "complete an upload", complete).await {
                    Ok(_) => {}
                    // A retry after a completion whose answer was lost finds the upload
                    // gone (servers say so differently): the object is there, whole, if
                    // it has every byte. Its name is this run's alone.
                    Err(_) if self.location.head(&self.path).await.is_ok_and(|m| m.size == self.bytes) => {}
                    Err(e) => return Err(failed(e)),
                }
                if let Err(e) = markers.delete(marker).await {
                    tracing::warn!(marker = %markers.url_of(marker), "cannot remove the marker of a completed upload: {e}");
                }
            }
            Parts::Local { upload, .. } => {
                upload.complete().await.map_err(failed)?;
            }
        }
        Ok(self.bytes)
    }

    /// Abandons the upload: nothing becomes visible, and the parts are freed.
    pub async fn abort(mut self) {
        let url = self.url();
        let result = match &mut self.parts {
            Parts::Remote { store, id, marker, markers, inflight, .. } => {
                inflight.abort_all();
                let result = store.abort_multipart(&self.path, id).await;
                if result.is_ok()
                    && let Err(e) = markers.delete(marker).await
                {
                    tracing::warn!(marker = %markers.url_of(marker), "cannot remove the marker of an aborted upload: {e}");
                }
                result
            }
            Parts::Local { upload, inflight } => {
                inflight.abort_all();
                upload.abort().await
            }
        };
        if let Err(e) = result {
            tracing::warn!(object = %url, "cannot abort the upload; `quiver storage gc` will: {e}");
        }
    }
}
