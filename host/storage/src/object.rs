//! Reading one listed object: ranges and streams pinned to the version the
//! listing saw (`If-Match` on its ETag), so an object rewritten during a
//! run fails naming it instead of mixing two versions; a short answer is a
//! truncated object, not the end of the data.

use std::ops::Range;

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use object_store::{GetOptions, GetRange, ObjectMeta, ObjectStore};

use crate::error::StorageError;
use crate::location::Location;

/// A listed object of a [`Location`].
#[derive(Clone, Debug)]
pub struct Object {
    location: Location,
    meta: ObjectMeta,
}

impl Object {
    pub(crate) fn new(location: Location, meta: ObjectMeta) -> Self {
        Self { location, meta }
    }

    /// The object's URL (or absolute path), for messages.
    pub fn url(&self) -> String {
        self.location.url_of(&self.meta.location)
    }

    /// The size the listing gave.
    pub fn size(&self) -> u64 {
        self.meta.size
    }

    fn options(&self, range: Option<Range<u64>>) -> GetOptions {
        GetOptions { if_match: self.meta.e_tag.clone(), range: range.map(GetRange::Bounded), ..Default::default() }
    }

    fn error(&self, e: object_store::Error) -> StorageError {
        // Pinned reads: a missing object was deleted after it was listed.
        self.location.error(&self.meta.location, e, Some(self.meta.e_tag.as_deref().unwrap_or("unknown")))
    }

    fn truncated(&self, got: u64) -> StorageError {
        StorageError::Truncated { url: self.url(), expected: self.meta.size, got }
    }

    /// The bytes in `range`, which must lie within the listed size.
    pub async fn get_range(&self, range: Range<u64>) -> Result<Bytes, StorageError> {
        if range.end > self.meta.size {
            return Err(self.truncated(self.meta.size));
        }
        let want = range.end - range.start;
        let store: &dyn ObjectStore = self.location.store().as_ref();
        let bytes = crate::retry::again(self.location.config(), "read", || async {
            store.get_opts(&self.meta.location, self.options(Some(range.clone()))).await?.bytes().await
        })
        .await
        .map_err(|e| self.error(e))?;
        if (bytes.len() as u64) < want {
            return Err(self.truncated(bytes.len() as u64));
        }
        Ok(bytes)
    }

    /// The bytes of several ranges; nearby ranges are fetched in one
    /// request, and a bounded number of requests are in flight.
    pub async fn get_ranges(&self, ranges: &[Range<u64>]) -> Result<Vec<Bytes>, StorageError> {
        object_store::coalesce_ranges(
            ranges,
            |range| self.get_range(range),
            object_store::OBJECT_STORE_COALESCE_DEFAULT,
        )
        .await
    }

    /// The whole object, as a stream of chunks. A body cut short by the
    /// network is resumed from where it stopped, still pinned to the
    /// listed version; an object shorter than listed is an error.
    pub fn stream(&self) -> BoxStream<'static, Result<Bytes, StorageError>> {
        struct State {
            object: Object,
            body: Option<BoxStream<'static, object_store::Result<Bytes>>>,
            offset: u64,
            resumes: usize,
        }
        let state = State { object: self.clone(), body: None, offset: 0, resumes: 0 };
        futures::stream::try_unfold(state, |mut s| async move {
            loop {
                let size = s.object.meta.size;
                if s.body.is_none() {
                    if s.offset >= size {
                        return Ok(None);
                    }
                    let options = s.object.options(Some(s.offset..size));
                    let store = s.object.location.store().clone();
                    let config = s.object.location.config();
                    let result = crate::retry::again(config, "read", || {
                        store.get_opts(&s.object.meta.location, options.clone())
                    })
                    .await
                    .map_err(|e| s.object.error(e))?;
                    s.body = Some(result.into_stream());
                }
                match s.body.as_mut().expect("set above").next().await {
                    Some(Ok(chunk)) => {
                        s.offset += chunk.len() as u64;
                        return Ok(Some((chunk, s)));
                    }
                    Some(Err(e)) if s.resumes < s.object.location.config().retries => {
                        tracing::debug!(object = %s.object.url(), offset = s.offset, "resuming a cut read: {e}");
                        s.resumes += 1;
                        s.body = None;
                    }
                    Some(Err(e)) => return Err(s.object.error(e)),
                    None if s.offset < size => return Err(s.object.truncated(s.offset)),
                    None => return Ok(None),
                }
            }
        })
        .boxed()
    }

    /// The whole object in memory: for small objects (plugins, manifests).
    pub async fn read_all(&self) -> Result<Bytes, StorageError> {
        let chunks: Vec<Bytes> = self.stream().try_collect().await?;
        Ok(match chunks.len() {
            1 => chunks.into_iter().next().expect("one"),
            _ => Bytes::from(chunks.concat()),
        })
    }
}
