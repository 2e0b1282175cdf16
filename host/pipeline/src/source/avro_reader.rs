//! Avro object container files through arrow-rs's asynchronous Avro
//! reader, over ranges of a listed [`Object`]: the header first, then the
//! blocks in turn, so memory holds a block at a time, not the file.

use std::ops::Range;

use arrow::datatypes::SchemaRef;
use arrow_avro::errors::AvroError;
use arrow_avro::reader::{AsyncAvroFileReader, AsyncFileReader};
use bytes::Bytes;
use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt, TryStreamExt};
use quiver_storage::Object;

use super::{BatchStream, SourceError};

/// Byte ranges of one object, for the Avro reader.
struct Ranges(Object);

impl AsyncFileReader for Ranges {
    fn get_bytes(&mut self, range: Range<u64>) -> BoxFuture<'_, Result<Bytes, AvroError>> {
        let object = self.0.clone();
        async move { object.get_range(range).await.map_err(|e| AvroError::External(Box::new(e))) }.boxed()
    }
}

fn file_error(object: &Object, error: impl std::fmt::Display) -> SourceError {
    SourceError::File { file: object.url(), reason: error.to_string() }
}

async fn open(object: &Object, batch_rows: usize) -> Result<AsyncAvroFileReader<Ranges>, SourceError> {
    AsyncAvroFileReader::builder(Ranges(object.clone()), object.size(), batch_rows.max(1))
        .try_build()
        .await
        .map_err(|e| file_error(object, format!("not an Avro object container file: {e}")))
}

/// The schema in the file's header, in Arrow.
pub(super) async fn schema(object: &Object) -> Result<SchemaRef, SourceError> {
    Ok(open(object, 1).await?.schema())
}

/// The file's rows, `batch_rows` at a time.
pub(super) async fn batches(object: &Object, batch_rows: usize) -> Result<BatchStream, SourceError> {
    let reader = open(object, batch_rows).await?;
    let object = object.clone();
    Ok(reader.map_err(move |e| file_error(&object, format!("broken Avro block: {e}"))).boxed())
}
