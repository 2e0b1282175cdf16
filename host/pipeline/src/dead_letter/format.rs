//! The dead-letter format, in one place: what a refused row carries (its
//! original columns, why, and where it came from) and the `quiver_*`
//! columns that say so. Refusals travel as structs; they become dead-letter
//! batches only when the dead-letter output writes them.

use std::sync::Arc;

use arrow::array::{ArrayRef, BinaryArray, Int64Array, RecordBatch, StringArray, UInt32Array};
use arrow::compute::take_record_batch;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::error::ArrowError;
use quiver_runtime::Rejection;

use crate::flow::Provenance;

/// The columns the dead-letter output adds to the rows a transform received.
pub const COLUMNS: [&str; 5] = ["quiver_plugin", "quiver_transform", "quiver_reason", "quiver_source", "quiver_row"];

/// Rows refused on the way to the sink.
#[derive(Debug, Clone)]
pub enum DeadRows {
    /// Rows a stage refused, or failed on.
    Refused(Refused),
    /// Records the source could not decode.
    Undecodable(Vec<Undecodable>),
}

/// Rows one stage refused, as it received them, each with why and where it came from.
#[derive(Debug, Clone)]
pub struct Refused {
    /// Index of the stage, from 0.
    pub stage: usize,
    /// The rows, with the columns the stage received.
    pub rows: RecordBatch,
    /// Why, row by row.
    pub reasons: Vec<String>,
    /// The source file or stream they came from, when known.
    pub source: Option<Arc<str>>,
    /// Each row's index (or offset) in the source; null where unknown.
    pub source_rows: Int64Array,
}

/// A record the source could not decode, as it came.
#[derive(Debug, Clone)]
pub struct Undecodable {
    /// The record's key.
    pub key: Option<Vec<u8>>,
    /// The record's value.
    pub value: Option<Vec<u8>>,
    /// Why it could not be decoded.
    pub reason: String,
    /// Where it was: `topic/partition`.
    pub source: Arc<str>,
    /// Its offset there.
    pub offset: i64,
}

impl Refused {
    /// Rows `rejections` of `input`, whose provenance is `provenance`, refused by stage `stage`.
    pub fn of(
        stage: usize,
        input: &RecordBatch,
        provenance: &Provenance,
        rejections: &[Rejection],
    ) -> Result<Self, ArrowError> {
        let indices: Vec<u32> = rejections.iter().map(|r| r.row).collect();
        Ok(Self {
            stage,
            rows: take_record_batch(input, &UInt32Array::from(indices.clone()))?,
            reasons: rejections.iter().map(|r| r.reason.clone()).collect(),
            source: provenance.file.clone(),
            source_rows: provenance.rows_of(&indices),
        })
    }

    /// The dead-letter rows, of [`refused_schema`] of the stage's input,
    /// naming the stage's `plugin` and `transform`.
    pub fn to_batch(&self, schema: &SchemaRef, plugin: &str, transform: &str) -> Result<RecordBatch, ArrowError> {
        let n = self.reasons.len();
        let mut columns: Vec<ArrayRef> = self.rows.columns().to_vec();
        columns.push(Arc::new(StringArray::from(vec![plugin; n])));
        columns.push(Arc::new(StringArray::from(vec![transform; n])));
        columns.push(Arc::new(StringArray::from_iter_values(&self.reasons)));
        columns.push(Arc::new(StringArray::from(vec![self.source.as_deref(); n])));
        columns.push(Arc::new(self.source_rows.clone()));
        RecordBatch::try_new(schema.clone(), columns)
    }
}

impl DeadRows {
    /// The stage that refused them; `None` for the source.
    pub fn stage(&self) -> Option<usize> {
        match self {
            Self::Refused(r) => Some(r.stage),
            Self::Undecodable(_) => None,
        }
    }

    /// How many rows.
    pub fn rows(&self) -> usize {
        match self {
            Self::Refused(r) => r.reasons.len(),
            Self::Undecodable(records) => records.len(),
        }
    }

    /// The first row's place and reason, for an error message.
    pub fn example(&self) -> String {
        let (row, source, reason) = match self {
            Self::Refused(r) => (
                r.source_rows.iter().next().flatten(),
                r.source.as_deref().unwrap_or_default(),
                r.reasons.first().map_or("", String::as_str),
            ),
            Self::Undecodable(records) => match records.first() {
                Some(u) => (Some(u.offset), u.source.as_ref(), u.reason.as_str()),
                None => (None, "", ""),
            },
        };
        format!("row {} of {source}: {reason}", row.unwrap_or_default())
    }
}

/// The dead-letter schema of rows refused by a stage whose input is `input`:
/// its columns, then [`COLUMNS`].
pub fn refused_schema(input: &Schema) -> SchemaRef {
    let mut fields: Vec<Arc<Field>> = input.fields().iter().cloned().collect();
    fields.extend([
        Arc::new(Field::new(COLUMNS[0], DataType::Utf8, false)),
        Arc::new(Field::new(COLUMNS[1], DataType::Utf8, false)),
        Arc::new(Field::new(COLUMNS[2], DataType::Utf8, false)),
        Arc::new(Field::new(COLUMNS[3], DataType::Utf8, true)),
        Arc::new(Field::new(COLUMNS[4], DataType::Int64, true)),
    ]);
    Arc::new(Schema::new_with_metadata(fields, input.metadata().clone()))
}

/// The dead-letter schema of records the source could not decode: the
/// record's key and value, why, and where it was (`topic/partition`, offset).
pub fn undecodable_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("key", DataType::Binary, true),
        Field::new("value", DataType::Binary, true),
        Field::new(COLUMNS[2], DataType::Utf8, false),
        Field::new(COLUMNS[3], DataType::Utf8, true),
        Field::new(COLUMNS[4], DataType::Int64, true),
    ]))
}

/// Undecodable records as dead-letter rows of [`undecodable_schema`].
pub fn undecodable_batch(records: &[Undecodable]) -> RecordBatch {
    let columns: Vec<ArrayRef> = vec![
        Arc::new(BinaryArray::from_iter(records.iter().map(|u| u.key.as_deref()))),
        Arc::new(BinaryArray::from_iter(records.iter().map(|u| u.value.as_deref()))),
        Arc::new(StringArray::from_iter_values(records.iter().map(|u| u.reason.as_str()))),
        Arc::new(StringArray::from_iter(records.iter().map(|u| Some(u.source.as_ref())))),
        Arc::new(Int64Array::from_iter_values(records.iter().map(|u| u.offset))),
    ];
    RecordBatch::try_new(undecodable_schema(), columns).expect("the columns of the schema")
}

#[cfg(test)]
mod tests {
    use arrow::array::Array;

    use super::*;

    #[test]
    fn refused_rows_keep_their_columns_and_say_why_and_where() {
        let input = RecordBatch::try_from_iter([(
            "x",
            Arc::new(StringArray::from(vec![Some("a"), None, Some("ü")])) as ArrayRef,
        )])
        .unwrap();
        let provenance = Provenance::contiguous(Some(Arc::from("/in/x.csv")), 40);
        let rejections = [Rejection { row: 2, reason: "too long".into() }, Rejection { row: 1, reason: "null".into() }];
        let refused = Refused::of(0, &input, &provenance, &rejections).unwrap();
        let dead = DeadRows::Refused(refused.clone());
        assert_eq!((dead.stage(), dead.rows()), (Some(0), 2));
        assert_eq!(dead.example(), "row 42 of /in/x.csv: too long");
        let batch = refused.to_batch(&refused_schema(&input.schema()), "p@1.0.0", "t").unwrap();
        let schema = batch.schema();
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(names, ["x", "quiver_plugin", "quiver_transform", "quiver_reason", "quiver_source", "quiver_row"]);
        let text = |i: usize| batch.column(i).as_any().downcast_ref::<StringArray>().unwrap().clone();
        assert_eq!(text(0).iter().collect::<Vec<_>>(), [Some("ü"), None]);
        assert_eq!(text(3).value(1), "null");
        assert_eq!(text(4).value(0), "/in/x.csv");
        let rows = batch.column(5).as_any().downcast_ref::<Int64Array>().unwrap();
        assert_eq!(rows.values().to_vec(), [42, 41]);
    }

    #[test]
    fn undecodable_records_keep_their_bytes() {
        let records = [Undecodable {
            key: None,
            value: Some(b"{not json".to_vec()),
            reason: "expected value".into(),
            source: Arc::from("clicks/3"),
            offset: 17,
        }];
        let batch = undecodable_batch(&records);
        assert_eq!(batch.schema(), undecodable_schema());
        assert!(batch.column(0).is_null(0));
        assert_eq!(batch.column(1).as_any().downcast_ref::<BinaryArray>().unwrap().value(0), b"{not json");
        assert_eq!(DeadRows::Undecodable(records.to_vec()).example(), "row 17 of clicks/3: expected value");
    }
}
