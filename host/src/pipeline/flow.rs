//! A batch on its way through the pipeline, with where each row came from
//! and the refused rows collected so far.

use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray, UInt32Array};
use arrow::compute::{take, take_record_batch};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::error::ArrowError;

use crate::plugin::{Output, Rejection};
use crate::source::SourceBatch;
use crate::source::kafka::Position;

/// Where the rows of a batch came from.
#[derive(Debug, Clone)]
pub struct Provenance {
    /// The source file, when known.
    pub file: Option<Arc<str>>,
    /// Each row's index in that file.
    pub rows: SourceRows,
}

/// The source row index of each row of a batch.
#[derive(Debug, Clone)]
pub enum SourceRows {
    /// Rows `first..first + len`, in order.
    Contiguous { first: u64 },
    /// One index per row; null where unknown.
    Listed(Int64Array),
}

impl Provenance {
    /// `rows` rows that come from no source row in particular (an aggregate's output).
    pub fn unknown(file: Option<Arc<str>>, rows: usize) -> Self {
        Self { file, rows: SourceRows::Listed(Int64Array::new_null(rows)) }
    }

    /// Rows `first..` of `file`, in order.
    pub fn contiguous(file: Option<Arc<str>>, first: u64) -> Self {
        Self { file, rows: SourceRows::Contiguous { first } }
    }

    /// Source row indexes of the given batch rows.
    pub fn rows_of(&self, indices: &[u32]) -> Int64Array {
        match &self.rows {
            SourceRows::Contiguous { first } => {
                Int64Array::from_iter_values(indices.iter().map(|&i| (first + u64::from(i)) as i64))
            }
            SourceRows::Listed(rows) => {
                let taken = take(rows, &UInt32Array::from(indices.to_vec()), None).expect("indices were validated");
                taken.as_any().downcast_ref::<Int64Array>().expect("int64").clone()
            }
        }
    }

    /// The source row index of each of the first `num_rows` rows.
    fn row_indexes(&self, num_rows: usize) -> Int64Array {
        match &self.rows {
            SourceRows::Contiguous { first } => {
                Int64Array::from_iter_values((0..num_rows as u64).map(|i| (first + i) as i64))
            }
            SourceRows::Listed(rows) => rows.clone(),
        }
    }

    /// The provenance of rows `offset..offset + len`.
    pub fn slice(&self, offset: usize, len: usize) -> Self {
        let rows = match &self.rows {
            SourceRows::Contiguous { first } => SourceRows::Contiguous { first: first + offset as u64 },
            SourceRows::Listed(rows) => SourceRows::Listed(rows.slice(offset, len)),
        };
        Self { file: self.file.clone(), rows }
    }

    /// The provenance of batches put end to end; `parts` pairs each
    /// provenance with its batch's row count.
    pub fn concat(file: Option<Arc<str>>, parts: &[(&Provenance, usize)]) -> Self {
        let arrays: Vec<Int64Array> = parts.iter().map(|(p, rows)| p.row_indexes(*rows)).collect();
        let refs: Vec<&dyn arrow::array::Array> = arrays.iter().map(|a| a as &dyn arrow::array::Array).collect();
        let rows = match refs.as_slice() {
            [] => Int64Array::new_null(0),
            _ => arrow::compute::concat(&refs)
                .expect("int64 arrays concatenate")
                .as_any()
                .downcast_ref::<Int64Array>()
                .expect("int64")
                .clone(),
        };
        Self { file, rows: SourceRows::Listed(rows) }
    }

    /// A short description for error messages: `file rows a..b`.
    pub fn describe(&self, num_rows: usize) -> String {
        let file = self.file.as_deref().unwrap_or("(no single source file)");
        match &self.rows {
            SourceRows::Contiguous { first } => format!("{file}, rows {first}..{}", first + num_rows as u64),
            SourceRows::Listed(_) => format!("{file}, {num_rows} rows"),
        }
    }

    /// The provenance of a transform's output, given its input's.
    pub fn after(&self, output: &Output, input_rows: usize) -> Self {
        let rows = match (&output.origin, output.rejections.is_empty(), &self.rows) {
            (None, true, rows) if output.batch.num_rows() == input_rows => rows.clone(),
            (Some(origin), _, _) => SourceRows::Listed(self.rows_of(origin)),
            (None, _, _) => {
                let kept = kept_rows(input_rows, &output.rejections);
                if kept.len() != output.batch.num_rows() {
                    // A map that changed the row count without saying how.
                    return Self::unknown(self.file.clone(), output.batch.num_rows());
                }
                SourceRows::Listed(self.rows_of(&kept))
            }
        };
        Self { file: self.file.clone(), rows }
    }
}

fn kept_rows(input_rows: usize, rejections: &[Rejection]) -> Vec<u32> {
    let mut keep = vec![true; input_rows];
    for r in rejections {
        keep[r.row as usize] = false;
    }
    (0..input_rows as u32).filter(|&i| keep[i as usize]).collect()
}

/// Refused rows of one stage, or input the source could not decode,
/// ready for the dead-letter output.
#[derive(Debug, Clone)]
pub struct DeadRows {
    /// Index of the stage that refused them; `None` for the source.
    pub stage: Option<usize>,
    /// The rows as the stage received them, plus the `quiver_*` columns (for
    /// the source: see [`crate::source::kafka::source_dead_letter_schema`]).
    pub batch: RecordBatch,
}

/// A batch between stages.
#[derive(Debug, Clone)]
pub struct FlowBatch {
    /// The current rows.
    pub batch: RecordBatch,
    /// Where they came from.
    pub provenance: Provenance,
    /// Rows refused along the way.
    pub dead: Vec<DeadRows>,
    /// How many rows the source read for this batch (0 for rows emitted at the end).
    pub source_rows: usize,
    /// How far the batch takes the source once the sinks hold it (Kafka).
    pub position: Option<Position>,
}

impl FlowBatch {
    /// Rows `offset..offset + len`, with their provenance; refused rows and
    /// the source row count stay with the whole.
    pub fn slice(&self, offset: usize, len: usize) -> Self {
        Self {
            batch: self.batch.slice(offset, len),
            provenance: self.provenance.slice(offset, len),
            dead: Vec::new(),
            source_rows: 0,
            position: None,
        }
    }
}

impl From<SourceBatch> for FlowBatch {
    fn from(b: SourceBatch) -> Self {
        let provenance = match b.rows {
            Some(rows) => Provenance { file: Some(b.file), rows: SourceRows::Listed(rows) },
            None => Provenance::contiguous(Some(b.file), b.first_row),
        };
        let rejected = b.rejected.map(|batch| DeadRows { stage: None, batch });
        Self {
            source_rows: b.batch.num_rows() + rejected.as_ref().map_or(0, |d| d.batch.num_rows()),
            batch: b.batch,
            provenance,
            dead: rejected.into_iter().collect(),
            position: b.position,
        }
    }
}

/// The columns the dead-letter output adds to the rows a transform received.
pub const DEAD_LETTER_COLUMNS: [&str; 5] =
    ["quiver_plugin", "quiver_transform", "quiver_reason", "quiver_source", "quiver_row"];

/// The dead-letter schema for rows refused by a transform with input `input`.
pub fn dead_letter_schema(input: &Schema) -> SchemaRef {
    let mut fields: Vec<Arc<Field>> = input.fields().iter().cloned().collect();
    fields.extend([
        Arc::new(Field::new(DEAD_LETTER_COLUMNS[0], DataType::Utf8, false)),
        Arc::new(Field::new(DEAD_LETTER_COLUMNS[1], DataType::Utf8, false)),
        Arc::new(Field::new(DEAD_LETTER_COLUMNS[2], DataType::Utf8, false)),
        Arc::new(Field::new(DEAD_LETTER_COLUMNS[3], DataType::Utf8, true)),
        Arc::new(Field::new(DEAD_LETTER_COLUMNS[4], DataType::Int64, true)),
    ]);
    Arc::new(Schema::new_with_metadata(fields, input.metadata().clone()))
}

/// The refused rows of `input`, with their original columns and why.
pub fn dead_letter_rows(
    schema: &SchemaRef,
    input: &RecordBatch,
    provenance: &Provenance,
    rejections: &[Rejection],
    plugin: &str,
    transform: &str,
) -> Result<RecordBatch, ArrowError> {
    let indices: Vec<u32> = rejections.iter().map(|r| r.row).collect();
    let rows = take_record_batch(input, &UInt32Array::from(indices.clone()))?;
    let n = rejections.len();
    let mut columns: Vec<ArrayRef> = rows.columns().to_vec();
    columns.push(Arc::new(StringArray::from(vec![plugin; n])));
    columns.push(Arc::new(StringArray::from(vec![transform; n])));
    columns.push(Arc::new(StringArray::from_iter_values(rejections.iter().map(|r| r.reason.as_str()))));
    columns.push(Arc::new(StringArray::from(vec![provenance.file.as_deref(); n])));
    columns.push(Arc::new(provenance.rows_of(&indices)));
    RecordBatch::try_new(schema.clone(), columns)
}
