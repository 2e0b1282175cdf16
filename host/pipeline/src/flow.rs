//! A batch on its way through the pipeline, with where each row came from
//! and the refused rows collected so far.

use std::sync::Arc;

use arrow::array::{Int64Array, RecordBatch, UInt32Array};
use arrow::compute::take;
use quiver_runtime::{Output, Rejection};

use crate::dead_letter::DeadRows;
use crate::source::{Position, SourceBatch};

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
        let undecodable = b.undecodable.len();
        Self {
            source_rows: b.batch.num_rows() + undecodable,
            batch: b.batch,
            provenance,
            dead: (undecodable > 0).then(|| DeadRows::Undecodable(b.undecodable)).into_iter().collect(),
            position: b.position,
        }
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::ArrayRef;

    use super::*;

    fn file() -> Option<Arc<str>> {
        Some(Arc::from("/in/x.parquet"))
    }

    /// An output of `rows` rows of one int column, with `rejections` and `origin`.
    fn output(rows: usize, rejected: &[u32], origin: Option<Vec<u32>>) -> Output {
        let column = Arc::new(Int64Array::from_iter_values(0..rows as i64)) as ArrayRef;
        Output {
            batch: RecordBatch::try_from_iter([("x", column)]).unwrap(),
            rejections: rejected.iter().map(|&row| Rejection { row, reason: "no".into() }).collect(),
            origin,
        }
    }

    fn rows(p: &Provenance, n: usize) -> Vec<Option<i64>> {
        p.row_indexes(n).iter().collect()
    }

    #[test]
    fn a_map_keeps_its_input_rows() {
        let input = Provenance::contiguous(file(), 100);
        let after = input.after(&output(4, &[], None), 4);
        assert!(matches!(after.rows, SourceRows::Contiguous { first: 100 }), "no copy of the row numbers");
        assert_eq!(after.describe(4), "/in/x.parquet, rows 100..104");
    }

    #[test]
    fn a_filter_keeps_the_rows_it_did_not_refuse() {
        let input = Provenance::contiguous(file(), 10);
        let after = input.after(&output(3, &[1, 3], None), 5);
        assert_eq!(rows(&after, 3), vec![Some(10), Some(12), Some(14)]);
    }

    #[test]
    fn an_origin_names_each_output_row_s_input_row() {
        let listed = Provenance { file: file(), rows: SourceRows::Listed(Int64Array::from(vec![7, 9, 11])) };
        let after = listed.after(&output(4, &[], Some(vec![2, 2, 0, 1])), 3);
        assert_eq!(rows(&after, 4), vec![Some(11), Some(11), Some(7), Some(9)]);
    }

    #[test]
    fn a_changed_row_count_without_an_origin_is_unknown() {
        let input = Provenance::contiguous(file(), 0);
        let after = input.after(&output(2, &[], None), 5);
        assert_eq!(rows(&after, 2), vec![None, None]);
        assert_eq!(after.file, file(), "the file is still known");
    }

    #[test]
    fn concat_puts_the_parts_end_to_end() {
        let whole = Provenance::contiguous(file(), 1000);
        let (a, b) = (whole.slice(0, 2), whole.slice(5, 3));
        let listed = Provenance { file: file(), rows: SourceRows::Listed(Int64Array::from(vec![Some(3), None])) };
        let joined = Provenance::concat(file(), &[(&a, 2), (&b, 3), (&listed, 2), (&a, 0)]);
        let expected = [1000, 1001, 1005, 1006, 1007].map(Some).into_iter().chain([Some(3), None]).collect::<Vec<_>>();
        assert_eq!(rows(&joined, 7), expected);
        assert_eq!(rows(&Provenance::concat(None, &[]), 0), vec![]);
    }
}
