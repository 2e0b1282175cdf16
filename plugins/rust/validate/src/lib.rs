//! `validate`: a data-quality gate configured by the pipeline.
//!
//! Configuration (every key optional; rules on absent columns fail `bind`):
//! - `required = "a,b"`: the columns may not be null;
//! - `range.COL = "MIN..MAX"`: numeric values within the inclusive range
//!   (either bound may be left out: `"0.."`, `"..100"`);
//! - `allowed.COL = "x|y|z"`: the values (text, or integers written in
//!   decimal) must be one of these;
//! - `regex.COL = "PATTERN"`: text values must match the regular expression.
//!
//! Rules other than `required` pass null values. A failing row is refused
//! with a reason naming each column and rule it broke; passing rows go
//! through unchanged.

use std::collections::HashSet;

use quiver_sdk::arrow_array::cast::AsArray;
use quiver_sdk::arrow_array::types::*;
use quiver_sdk::arrow_array::{Array, ArrayRef, BooleanArray, RecordBatch};
use quiver_sdk::arrow_schema::{DataType, SchemaRef};
use quiver_sdk::arrow_select::filter::filter_record_batch;
use quiver_sdk::{Config, ConfigKey, Error, Output, Plugin, Rejection, Transform, TransformSpec};
use regex_lite::Regex;

enum Check {
    Required,
    Range { min: Option<f64>, max: Option<f64>, text: String },
    Allowed(HashSet<String>),
    Pattern(Regex),
}

struct Rule {
    column: String,
    check: Check,
    /// Set by `bind`.
    index: usize,
}

impl Rule {
    fn name(&self) -> String {
        match &self.check {
            Check::Required => "required".into(),
            Check::Range { text, .. } => format!("range {text}"),
            Check::Allowed(_) => "allowed values".into(),
            Check::Pattern(re) => format!("regex /{}/", re.as_str()),
        }
    }

    fn check_type(&self, data_type: &DataType) -> Result<(), Error> {
        let fits = match &self.check {
            Check::Required => true,
            Check::Range { .. } => data_type.is_numeric() || data_type.is_temporal(),
            Check::Allowed(_) => data_type.is_integer() || is_text(data_type),
            Check::Pattern(_) => is_text(data_type),
        };
        if fits {
            Ok(())
        } else {
            Err(Error::schema(format!(
                "validate: rule `{}` cannot apply to column `{}` of type {data_type}",
                self.name(),
                self.column
            )))
        }
    }

    /// Appends a failure message to `failures[row]` for each row that breaks the rule.
    fn apply(&self, column: &ArrayRef, failures: &mut [Option<String>]) {
        let mut fail = |row: usize, what: String| {
            let slot = &mut failures[row];
            let text = format!("column `{}`: {what}", self.column);
            match slot {
                Some(s) => {
                    s.push_str("; ");
                    s.push_str(&text);
                }
                None => *slot = Some(text),
            }
        };
        match &self.check {
            Check::Required => {
                for row in 0..column.len() {
                    if column.is_null(row) {
                        fail(row, "null but required".into());
                    }
                }
            }
            Check::Range { min, max, text } => {
                for (row, value) in numbers(column).into_iter().enumerate() {
                    if let Some(v) = value
                        && (min.is_some_and(|m| v < m) || max.is_some_and(|m| v > m) || v.is_nan())
                    {
                        fail(row, format!("{} outside range {text}", display(column, row)));
                    }
                }
            }
            Check::Allowed(values) => {
                for row in 0..column.len() {
                    if column.is_valid(row) {
                        let v = display(column, row);
                        if !values.contains(&v) {
                            fail(row, format!("{v:?} not among the allowed values"));
                        }
                    }
                }
            }
            Check::Pattern(re) => {
                for row in 0..column.len() {
                    if let Some(v) = text(column, row)
                        && !re.is_match(v)
                    {
                        fail(row, format!("{v:?} does not match regex /{}/", re.as_str()));
                    }
                }
            }
        }
    }
}

fn is_text(t: &DataType) -> bool {
    matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
}

fn text(column: &ArrayRef, row: usize) -> Option<&str> {
    if column.is_null(row) {
        return None;
    }
    Some(match column.data_type() {
        DataType::Utf8 => column.as_string::<i32>().value(row),
        DataType::LargeUtf8 => column.as_string::<i64>().value(row),
        DataType::Utf8View => column.as_string_view().value(row),
        _ => return None,
    })
}

fn display(column: &ArrayRef, row: usize) -> String {
    if let Some(t) = text(column, row) {
        return t.to_string();
    }
    match numbers_at(column, row) {
        Some(v) if v.fract() == 0.0 && v.abs() < 9.0e15 => format!("{}", v as i64),
        Some(v) => v.to_string(),
        None => "null".into(),
    }
}

macro_rules! numeric_columns {
    ($column:expr, $f:expr, $($dt:pat => $ty:ty),* $(,)?) => {
        match $column.data_type() {
            $($dt => $f($column.as_primitive::<$ty>().iter().map(|v| v.map(|v| v as f64)).collect::<Vec<_>>()),)*
            _ => vec![None; $column.len()],
        }
    };
}

/// The column's values as f64 (null where null or not numeric).
fn numbers(column: &ArrayRef) -> Vec<Option<f64>> {
    use quiver_sdk::arrow_schema::TimeUnit::*;
    let id = |v: Vec<Option<f64>>| v;
    numeric_columns!(column, id,
        DataType::Int8 => Int8Type, DataType::Int16 => Int16Type, DataType::Int32 => Int32Type,
        DataType::Int64 => Int64Type, DataType::UInt8 => UInt8Type, DataType::UInt16 => UInt16Type,
        DataType::UInt32 => UInt32Type, DataType::UInt64 => UInt64Type, DataType::Float32 => Float32Type,
        DataType::Float64 => Float64Type, DataType::Date32 => Date32Type, DataType::Date64 => Date64Type,
        DataType::Timestamp(Second, _) => TimestampSecondType,
        DataType::Timestamp(Millisecond, _) => TimestampMillisecondType,
        DataType::Timestamp(Microsecond, _) => TimestampMicrosecondType,
        DataType::Timestamp(Nanosecond, _) => TimestampNanosecondType,
    )
}

fn numbers_at(column: &ArrayRef, row: usize) -> Option<f64> {
    numbers(&column.slice(row, 1))[0]
}

fn parse_range(column: &str, text: &str) -> Result<Check, Error> {
    let bad = || Error::config(format!("config key `range.{column}` = {text:?}: write MIN..MAX, MIN.. or ..MAX"));
    let (lo, hi) = text.split_once("..").ok_or_else(bad)?;
    let bound = |s: &str| -> Result<Option<f64>, Error> {
        let s = s.trim();
        if s.is_empty() { Ok(None) } else { s.parse::<f64>().map(Some).map_err(|_| bad()) }
    };
    let (min, max) = (bound(lo)?, bound(hi)?);
    if min.is_none() && max.is_none() {
        return Err(bad());
    }
    Ok(Check::Range { min, max, text: text.trim().to_string() })
}

fn rules(config: &Config) -> Result<Vec<Rule>, Error> {
    let mut rules = Vec::new();
    let mut add = |column: &str, check| rules.push(Rule { column: column.to_string(), check, index: 0 });
    for column in config.get("required").unwrap_or_default().split(',').map(str::trim).filter(|c| !c.is_empty()) {
        add(column, Check::Required);
    }
    for (column, text) in config.with_prefix("range.") {
        add(column, parse_range(column, text)?);
    }
    for (column, text) in config.with_prefix("allowed.") {
        add(column, Check::Allowed(text.split('|').map(str::to_string).collect()));
    }
    for (column, text) in config.with_prefix("regex.") {
        let re = Regex::new(text).map_err(|e| Error::config(format!("config key `regex.{column}`: {e}")))?;
        add(column, Check::Pattern(re));
    }
    if rules.is_empty() {
        return Err(Error::config("validate has no rules: set `required`, `range.COL`, `allowed.COL` or `regex.COL`"));
    }
    Ok(rules)
}

struct Validate {
    rules: Vec<Rule>,
}

impl Transform for Validate {
    fn bind(&mut self, input: &SchemaRef) -> Result<SchemaRef, Error> {
        for rule in &mut self.rules {
            let (index, field) = input.column_with_name(&rule.column).ok_or_else(|| {
                Error::schema(format!(
                    "validate: rule `{}` names column `{}`, which is missing",
                    rule.name(),
                    rule.column
                ))
            })?;
            rule.check_type(field.data_type())?;
            rule.index = index;
        }
        Ok(input.clone())
    }

    fn process(&mut self, batch: RecordBatch) -> Result<Output, Error> {
        let mut failures: Vec<Option<String>> = vec![None; batch.num_rows()];
        for rule in &self.rules {
            rule.apply(batch.column(rule.index), &mut failures);
        }
        let rejections: Vec<Rejection> = failures
            .iter()
            .enumerate()
            .filter_map(|(row, f)| f.as_ref().map(|reason| Rejection::new(row, reason.clone())))
            .collect();
        if rejections.is_empty() {
            return Ok(Output::new(batch));
        }
        let keep = BooleanArray::from(failures.iter().map(|f| f.is_none()).collect::<Vec<_>>());
        Ok(Output::new(filter_record_batch(&batch, &keep)?).with_rejections(rejections))
    }
}

/// The plugin: one filter transform, `validate`.
pub fn plugin() -> Plugin {
    Plugin::new(
        "validate",
        env!("CARGO_PKG_VERSION"),
        "Data-quality gate: required columns, ranges, allowed values, regexes",
    )
    .transform(
        TransformSpec::filter("validate", "Refuses rows that break a rule, naming the column and the rule")
            .key(ConfigKey::optional("required", "comma-separated columns that may not be null"))
            .key(ConfigKey::prefixed("range.", "inclusive numeric range of column COL: MIN..MAX, MIN.. or ..MAX"))
            .key(ConfigKey::prefixed("allowed.", "allowed values of column COL, separated by |"))
            .key(ConfigKey::prefixed("regex.", "regular expression that text column COL must match")),
        |config| Ok(Validate { rules: rules(config)? }),
    )
}

quiver_sdk::export!(plugin);
