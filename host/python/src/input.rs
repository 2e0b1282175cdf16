//! Arrow data from Python: a pyarrow Table, RecordBatch or
//! RecordBatchReader, or any object with the Arrow PyCapsule interface
//! (Polars and pandas DataFrames, DuckDB relations). It crosses by the C
//! data interface: the host reads the producer's buffers where they are.

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::compute::{CastOptions, cast_with_options};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::error::ArrowError;
use arrow::ffi_stream::RecordBatchStreamReader;
use arrow::record_batch::RecordBatchReader;
use arrow_pyarrow::FromPyArrow;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;

/// What `transform` accepts, for messages.
const ACCEPTED: &str = "a pyarrow Table, RecordBatch or RecordBatchReader, or an object with the Arrow PyCapsule \
                        interface (__arrow_c_stream__ or __arrow_c_array__: a Polars or pandas DataFrame, a DuckDB \
                        relation)";

/// Batches read from a Python object, cut into slices of at most
/// `batch_rows` rows (slices share the producer's buffers). View columns
/// (`string_view`, `binary_view`, as Polars exports) become `string` and
/// `binary`: the plugin contract carries the classic layouts only.
pub struct Input {
    schema: SchemaRef,
    /// Whether some column has a view type to convert.
    convert: bool,
    source: Source,
    batch_rows: usize,
    /// The rest of a batch longer than `batch_rows`.
    pending: Option<RecordBatch>,
}

enum Source {
    One(Option<RecordBatch>),
    Stream(RecordBatchStreamReader),
}

impl Input {
    /// Takes `data`'s stream (or its one batch), or a `TypeError` naming
    /// what was given instead; `batch_rows` is at least 1 (`load` checks).
    pub fn of(data: &Bound<'_, PyAny>, batch_rows: usize) -> PyResult<Self> {
        let source = if data.hasattr("__arrow_c_stream__")? {
            Source::Stream(RecordBatchStreamReader::from_pyarrow_bound(data)?)
        } else if data.hasattr("__arrow_c_array__")? {
            Source::One(Some(RecordBatch::from_pyarrow_bound(data)?))
        } else {
            let given = data.get_type().fully_qualified_name()?;
            return Err(PyTypeError::new_err(format!("expected Arrow data: {ACCEPTED}; got {given}")));
        };
        let given = match &source {
            Source::One(batch) => batch.as_ref().expect("just read").schema(),
            Source::Stream(reader) => reader.schema(),
        };
        let schema = classic_schema(&given);
        Ok(Self { convert: schema != given, schema, source, batch_rows, pending: None })
    }

    /// The schema every batch has.
    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }
}

impl Iterator for Input {
    type Item = Result<RecordBatch, ArrowError>;

    fn next(&mut self) -> Option<Self::Item> {
        let batch = match self.pending.take() {
            Some(rest) => rest,
            None => match &mut self.source {
                Source::One(batch) => batch.take()?,
                Source::Stream(reader) => match reader.next()? {
                    Ok(batch) => batch,
                    Err(e) => return Some(Err(e)),
                },
            },
        };
        let batch = match self.convert {
            true => match classic_batch(&batch, &self.schema) {
                Ok(batch) => batch,
                Err(e) => return Some(Err(e)),
            },
            false => batch,
        };
        if batch.num_rows() <= self.batch_rows {
            return Some(Ok(batch));
        }
        self.pending = Some(batch.slice(self.batch_rows, batch.num_rows() - self.batch_rows));
        Some(Ok(batch.slice(0, self.batch_rows)))
    }
}

/// `schema` with every view type replaced by its classic layout.
fn classic_schema(schema: &SchemaRef) -> SchemaRef {
    let fields: Vec<Field> = schema.fields().iter().map(|f| classic_field(f)).collect();
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

fn classic_field(field: &Field) -> Field {
    field.clone().with_data_type(classic_type(field.data_type()))
}

fn classic_type(data_type: &DataType) -> DataType {
    let child = |f: &Arc<Field>| Arc::new(classic_field(f));
    match data_type {
        DataType::Utf8View => DataType::Utf8,
        DataType::BinaryView => DataType::Binary,
        DataType::List(f) | DataType::ListView(f) => DataType::List(child(f)),
        DataType::LargeList(f) | DataType::LargeListView(f) => DataType::LargeList(child(f)),
        DataType::FixedSizeList(f, n) => DataType::FixedSizeList(child(f), *n),
        DataType::Struct(fields) => DataType::Struct(fields.iter().map(child).collect()),
        DataType::Map(f, sorted) => DataType::Map(child(f), *sorted),
        other => other.clone(),
    }
}

/// `batch` cast to `schema`, its classic form.
fn classic_batch(batch: &RecordBatch, schema: &SchemaRef) -> Result<RecordBatch, ArrowError> {
    let options = CastOptions { safe: false, ..CastOptions::default() };
    let columns = batch
        .columns()
        .iter()
        .zip(schema.fields())
        .map(|(column, field)| match column.data_type() == field.data_type() {
            true => Ok(column.clone()),
            false => cast_with_options(column, field.data_type(), &options),
        })
        .collect::<Result<Vec<_>, _>>()?;
    RecordBatch::try_new(schema.clone(), columns)
}
