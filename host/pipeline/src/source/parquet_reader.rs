//! Parquet's asynchronous reader interface over a listed [`Object`]: the
//! reader fetches the footer in one request (64 KiB), then only the column
//! chunks it needs, and while one row group decodes the next one's column
//! chunks are already on their way, so the transforms do not wait on the
//! network. At most one row group is held ahead.

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use futures::FutureExt;
use futures::future::BoxFuture;
use parquet::arrow::arrow_reader::ArrowReaderOptions;
use parquet::arrow::async_reader::AsyncFileReader;
use parquet::errors::{ParquetError, Result};
use parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader};
use quiver_storage::{Object, StorageError};
use tokio::task::JoinHandle;

/// The footer's length and the metadata before it are usually within this.
const FOOTER_PREFETCH: usize = 64 << 10;

type Ahead = (Vec<Range<u64>>, JoinHandle<Result<Vec<Bytes>, StorageError>>);

/// Reads one Parquet object.
pub(super) struct ObjectReader {
    object: Object,
    metadata: Option<Arc<ParquetMetaData>>,
    ahead: Option<Ahead>,
}

impl ObjectReader {
    /// A reader of `object`; `metadata` when its footer was read already.
    pub(super) fn new(object: Object, metadata: Option<Arc<ParquetMetaData>>) -> Self {
        Self { object, metadata, ahead: None }
    }

    /// Starts fetching the column chunks of the row group after the one
    /// holding byte `offset`, if there is one.
    fn read_ahead(&mut self, offset: u64) {
        let Some(metadata) = &self.metadata else { return };
        let groups = metadata.row_groups();
        let chunk_ranges = |group: usize| -> Vec<Range<u64>> {
            groups[group]
                .columns()
                .iter()
                .map(|c| {
                    let (start, len) = c.byte_range();
                    start..start + len
                })
                .collect()
        };
        let Some(current) = (0..groups.len()).find(|&g| chunk_ranges(g).iter().any(|r| r.contains(&offset))) else {
            return;
        };
        if current + 1 >= groups.len() {
            return;
        }
        let ranges = chunk_ranges(current + 1);
        let object = self.object.clone();
        let fetch = ranges.clone();
        self.ahead = Some((ranges, tokio::spawn(async move { object.get_ranges(&fetch).await })));
    }
}

impl Drop for ObjectReader {
    fn drop(&mut self) {
        if let Some((_, handle)) = self.ahead.take() {
            handle.abort();
        }
    }
}

fn external(e: StorageError) -> ParquetError {
    ParquetError::External(Box::new(e))
}

/// The bytes of `wanted` cut out of fetched `ranges`, if they hold all of it.
fn cut(ranges: &[Range<u64>], bytes: &[Bytes], wanted: &[Range<u64>]) -> Option<Vec<Bytes>> {
    wanted
        .iter()
        .map(|w| {
            let (i, r) = ranges.iter().enumerate().find(|(_, r)| r.start <= w.start && w.end <= r.end)?;
            Some(bytes[i].slice((w.start - r.start) as usize..(w.end - r.start) as usize))
        })
        .collect()
}

impl AsyncFileReader for ObjectReader {
    fn get_bytes(&mut self, range: Range<u64>) -> BoxFuture<'_, Result<Bytes>> {
        async move { self.object.get_range(range).await.map_err(external) }.boxed()
    }

    fn get_byte_ranges(&mut self, ranges: Vec<Range<u64>>) -> BoxFuture<'_, Result<Vec<Bytes>>> {
        async move {
            let ahead = match self.ahead.take() {
                Some((fetched, handle)) => {
                    let covers = ranges.iter().all(|w| fetched.iter().any(|r| r.start <= w.start && w.end <= r.end));
                    if covers {
                        let bytes = handle.await.map_err(|e| ParquetError::External(Box::new(e)))?.map_err(external)?;
                        cut(&fetched, &bytes, &ranges)
                    } else {
                        handle.abort();
                        None
                    }
                }
                None => None,
            };
            let bytes = match ahead {
                Some(bytes) => bytes,
                None => self.object.get_ranges(&ranges).await.map_err(external)?,
            };
            if let Some(first) = ranges.first() {
                self.read_ahead(first.start);
            }
            Ok(bytes)
        }
        .boxed()
    }

    fn get_metadata<'a>(
        &'a mut self,
        options: Option<&'a ArrowReaderOptions>,
    ) -> BoxFuture<'a, Result<Arc<ParquetMetaData>>> {
        async move {
            if let Some(metadata) = &self.metadata {
                return Ok(metadata.clone());
            }
            let size = self.object.size();
            let metadata = ParquetMetaDataReader::new()
                .with_prefetch_hint(Some(FOOTER_PREFETCH))
                .with_arrow_reader_options(options)
                .load_and_finish(&mut *self, size)
                .await?;
            let metadata = Arc::new(metadata);
            self.metadata = Some(metadata.clone());
            Ok(metadata)
        }
        .boxed()
    }
}
