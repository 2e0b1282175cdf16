//! Hive-style partitioning: splitting a batch by the values of some columns.

use arrow::array::{RecordBatch, UInt32Array};
use arrow::compute::take_record_batch;
use arrow::datatypes::SchemaRef;
use arrow::error::ArrowError;
use arrow::util::display::{ArrayFormatter, FormatOptions};

/// The directory name Hive uses for a null partition value.
pub const NULL_PARTITION: &str = "__HIVE_DEFAULT_PARTITION__";

/// Splits `batch` into one batch per distinct combination of the values of
/// `columns`, in order of first appearance, each with its directory
/// (`a=1/b=x`) and without the partition columns.
pub fn split(
    batch: &RecordBatch,
    columns: &[usize],
    file_schema: &SchemaRef,
) -> Result<Vec<(String, RecordBatch)>, ArrowError> {
    let options = FormatOptions::default();
    let formatters = columns
        .iter()
        .map(|&i| ArrayFormatter::try_new(batch.column(i).as_ref(), &options))
        .collect::<Result<Vec<_>, _>>()?;
    let names: Vec<&str> = columns.iter().map(|&i| batch.schema_ref().field(i).name().as_str()).collect();
    let mut groups: Vec<(String, Vec<u32>)> = Vec::new();
    let mut index: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for row in 0..batch.num_rows() {
        let mut dir = String::new();
        for ((formatter, name), &col) in formatters.iter().zip(&names).zip(columns) {
            if !dir.is_empty() {
                dir.push('/');
            }
            // Hive writes nulls and empty strings to the same default partition.
            let value = match formatter.value(row).to_string() {
                text if batch.column(col).is_null(row) || text.is_empty() => {
                    let _ = text;
                    NULL_PARTITION.to_string()
                }
                text => escape(&text),
            };
            dir.push_str(&format!("{}={value}", escape(name)));
        }
        let slot = *index.entry(dir.clone()).or_insert_with(|| {
            groups.push((dir, Vec::new()));
            groups.len() - 1
        });
        groups[slot].1.push(row as u32);
    }
    let keep: Vec<usize> = (0..batch.num_columns()).filter(|i| !columns.contains(i)).collect();
    let projected = batch.project(&keep)?;
    groups
        .into_iter()
        .map(|(dir, rows)| {
            let part = take_record_batch(&projected, &UInt32Array::from(rows))?;
            Ok((dir, part.with_schema(file_schema.clone())?))
        })
        .collect()
}

/// Percent-encodes the characters Hive escapes in partition names and values.
fn escape(text: &str) -> String {
    if text == "." || text == ".." {
        return text.replace('.', "%2E");
    }
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control()
            || matches!(
                c,
                '/' | '\\' | '=' | '%' | ':' | '*' | '?' | '"' | '<' | '>' | '|' | '#' | '{' | '}' | '[' | ']' | '^'
            )
        {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{ArrayRef, Int32Array, StringArray};

    use super::*;

    #[test]
    fn splits_by_value_in_order_of_appearance_and_escapes() {
        let batch = RecordBatch::try_from_iter([
            ("country", Arc::new(StringArray::from(vec![Some("DE"), Some("a/b"), None, Some("DE")])) as ArrayRef),
            ("v", Arc::new(Int32Array::from(vec![1, 2, 3, 4])) as ArrayRef),
        ])
        .unwrap();
        let schema = Arc::new(batch.schema().project(&[1]).unwrap());
        let parts = split(&batch, &[0], &schema).unwrap();
        let dirs: Vec<&str> = parts.iter().map(|(d, _)| d.as_str()).collect();
        assert_eq!(dirs, vec!["country=DE", "country=a%2Fb", "country=__HIVE_DEFAULT_PARTITION__"]);
        assert_eq!(parts[0].1.column(0).as_ref(), &Int32Array::from(vec![1, 4]) as &dyn arrow::array::Array);
        assert_eq!(parts[0].1.num_columns(), 1);
    }
}
