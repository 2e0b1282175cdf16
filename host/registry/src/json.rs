//! JSON values and Arrow rows, both ways, by arrow-json: the kernels the
//! Kafka source's and sink's plain `json` format and JSON Schema share.

use std::ops::Range;

use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch};
use arrow::compute::{cast, concat_batches};
use arrow::datatypes::{DataType, Field, FieldRef, Schema, SchemaRef};
use arrow::error::ArrowError;
use arrow::json::ReaderBuilder;

/// Decodes one JSON object per value into rows of `schema`: the rows of
/// the values that decoded, in order, and the index and reason of those
/// that did not.
pub fn rows(schema: &SchemaRef, values: &[&[u8]]) -> (RecordBatch, Vec<(usize, String)>) {
    // The whole batch in one go; value by value only when that fails, to find the culprits.
    if let Ok(batch) = batch(schema, values)
        && batch.num_rows() == values.len()
    {
        return (batch, Vec::new());
    }
    let mut good = Vec::with_capacity(values.len());
    let mut failed = Vec::new();
    for (i, value) in values.iter().enumerate() {
        match batch(schema, &[value]) {
            Ok(b) if b.num_rows() == 1 => good.push(b),
            Ok(b) if b.num_rows() == 0 => failed.push((i, "the message holds no JSON object".to_string())),
            Ok(b) => failed.push((i, format!("the message holds {} JSON values, not one object", b.num_rows()))),
            Err(e) => failed.push((i, format!("invalid JSON for the declared schema: {e}"))),
        }
    }
    (concat_batches(schema, &good).expect("batches share the schema"), failed)
}

fn batch(schema: &SchemaRef, values: &[&[u8]]) -> Result<RecordBatch, ArrowError> {
    let mut decoder = ReaderBuilder::new(schema.clone()).with_batch_size(values.len().max(1) * 2).build_decoder()?;
    for value in values {
        for part in [*value, b"\n"] {
            let mut rest = part;
            while !rest.is_empty() {
                let read = decoder.decode(rest)?;
                if read == 0 {
                    return Err(ArrowError::JsonError("the decoder made no progress".into()));
                }
                rest = &rest[read..];
            }
        }
    }
    Ok(decoder.flush()?.unwrap_or_else(|| RecordBatch::new_empty(schema.clone())))
}

/// Each row of `batch` as one JSON object (nulls written as `null`, or with
/// `explicit_nulls` false, left out): the bytes, end to end, and each row's
/// range in them.
pub fn objects(batch: &RecordBatch, explicit_nulls: bool) -> Result<(Vec<u8>, Vec<Range<usize>>), ArrowError> {
    let batch = &with_offsets(batch)?;
    let mut bytes = Vec::with_capacity(batch.get_array_memory_size());
    let mut writer = arrow::json::WriterBuilder::new()
        .with_explicit_nulls(explicit_nulls)
        .build::<_, arrow::json::writer::LineDelimited>(&mut bytes);
    writer.write(batch)?;
    writer.finish()?;
    drop(writer);
    // JSON escapes newlines inside strings, so each line is one row.
    let mut ranges = Vec::with_capacity(batch.num_rows());
    let mut start = 0;
    for (end, _) in bytes.iter().enumerate().filter(|(_, b)| **b == b'\n') {
        if end > start {
            ranges.push(start..end);
        }
        start = end + 1;
    }
    Ok((bytes, ranges))
}

/// `batch` with each zoned timestamp, nested ones too, at offset `+00:00`:
/// arrow-json writes a zone name such as `UTC` only with chrono-tz, and
/// the instants are the same whatever the zone.
fn with_offsets(batch: &RecordBatch) -> Result<RecordBatch, ArrowError> {
    let fields: Vec<FieldRef> = batch.schema().fields().iter().map(offset_zones).collect();
    if fields.iter().zip(batch.schema().fields()).all(|(a, b)| a == b) {
        return Ok(batch.clone());
    }
    let columns = fields
        .iter()
        .zip(batch.columns())
        .map(|(field, column)| match column.data_type() == field.data_type() {
            true => Ok(column.clone()),
            false => cast(column, field.data_type()),
        })
        .collect::<Result<Vec<ArrayRef>, _>>()?;
    RecordBatch::try_new(Arc::new(Schema::new_with_metadata(fields, batch.schema().metadata().clone())), columns)
}

/// `field` with each zoned timestamp in it at offset `+00:00`.
fn offset_zones(field: &FieldRef) -> FieldRef {
    let data_type = match field.data_type() {
        DataType::Timestamp(unit, Some(_)) => DataType::Timestamp(*unit, Some("+00:00".into())),
        DataType::Struct(fields) => DataType::Struct(fields.iter().map(offset_zones).collect()),
        DataType::List(item) => DataType::List(offset_zones(item)),
        DataType::LargeList(item) => DataType::LargeList(offset_zones(item)),
        DataType::Map(entries, sorted) => DataType::Map(offset_zones(entries), *sorted),
        _ => return field.clone(),
    };
    Arc::new(Field::new(field.name(), data_type, field.is_nullable()).with_metadata(field.metadata().clone()))
}
