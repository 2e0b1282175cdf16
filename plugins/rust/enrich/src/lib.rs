//! `enrich`: clickstream enrichment.
//!
//! Input: `event_id` int64, `user_id` int64, `ts` timestamp (any unit, any
//! time zone: Spark's are microseconds), `url` utf8,
//! `duration_ms` int32, `country` utf8 (`referrer` and other columns may be
//! present and are dropped). Rows with `duration_ms < 0` are refused with
//! reason `negative duration_ms`. Output, in this order: `event_id`,
//! `user_id`, `domain` (after the first `://`, up to the first `/`, `?` or
//! `#`), `path_depth` (non-empty `/` segments of the path, which runs from
//! the end of the host to the first `?` or `#`), `hour` (UTC hour of `ts`),
//! `country`. A null `url`, or one without `://`, gives null `domain` and
//! `path_depth`.

use std::sync::Arc;

use quiver_sdk::arrow_array::builder::{Int32Builder, StringBuilder};
use quiver_sdk::arrow_array::cast::AsArray;
use quiver_sdk::arrow_array::types::{
    Int32Type, TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType, TimestampSecondType,
};
use quiver_sdk::arrow_array::{Array, ArrayRef, BooleanArray, RecordBatch};
use quiver_sdk::arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use quiver_sdk::arrow_select::filter::filter;
use quiver_sdk::{Error, Output, Plugin, Rejection, Transform, TransformSpec};

/// Splits a URL into its domain and path depth, or `None` when it has no `://`.
pub fn split_url(url: &str) -> Option<(&str, i32)> {
    let after_scheme = &url[url.find("://")? + 3..];
    let host_end = after_scheme.find(['/', '?', '#']).unwrap_or(after_scheme.len());
    let rest = &after_scheme[host_end..];
    let path = &rest[..rest.find(['?', '#']).unwrap_or(rest.len())];
    let depth = path.split('/').filter(|s| !s.is_empty()).count() as i32;
    Some((&after_scheme[..host_end], depth))
}

/// UTC hour of a millisecond timestamp.
pub fn utc_hour(ts_ms: i64) -> i32 {
    hour_of(ts_ms, 3_600_000)
}

/// UTC hour of a timestamp counted in units of which an hour has `per_hour`.
fn hour_of(ticks: i64, per_hour: i64) -> i32 {
    ticks.div_euclid(per_hour).rem_euclid(24) as i32
}

/// How many of `unit` make an hour.
fn ticks_per_hour(unit: TimeUnit) -> i64 {
    match unit {
        TimeUnit::Second => 3_600,
        TimeUnit::Millisecond => 3_600_000,
        TimeUnit::Microsecond => 3_600_000_000,
        TimeUnit::Nanosecond => 3_600_000_000_000,
    }
}

const INPUTS: [(&str, DataType); 6] = [
    ("event_id", DataType::Int64),
    ("user_id", DataType::Int64),
    ("ts", DataType::Timestamp(TimeUnit::Millisecond, None)),
    ("url", DataType::Utf8),
    ("duration_ms", DataType::Int32),
    ("country", DataType::Utf8),
];

#[derive(Default)]
struct Enrich {
    /// Input column index of each entry of `INPUTS`.
    columns: Vec<usize>,
    /// The unit of `ts`.
    unit: Option<TimeUnit>,
    output: Option<SchemaRef>,
}

impl Transform for Enrich {
    fn bind(&mut self, input: &SchemaRef) -> Result<SchemaRef, Error> {
        self.columns.clear();
        for (name, expected) in &INPUTS {
            let (index, field) = input.column_with_name(name).ok_or_else(|| {
                Error::schema(format!("enrich needs input column `{name}` ({expected}), which is missing"))
            })?;
            let ok = match (expected, field.data_type()) {
                // Any unit, any time zone: the values are UTC instants either way.
                (DataType::Timestamp(..), DataType::Timestamp(unit, _)) => {
                    self.unit = Some(*unit);
                    true
                }
                (e, f) => e == f,
            };
            if !ok {
                return Err(Error::schema(format!(
                    "enrich needs input column `{name}` to be {expected}, it is {}",
                    field.data_type()
                )));
            }
            self.columns.push(index);
        }
        let field = |i: usize| input.field(self.columns[i]).clone();
        let schema = Arc::new(Schema::new(vec![
            field(0),
            field(1),
            Field::new("domain", DataType::Utf8, true),
            Field::new("path_depth", DataType::Int32, true),
            Field::new("hour", DataType::Int32, true),
            field(5),
        ]));
        self.output = Some(schema.clone());
        Ok(schema)
    }

    fn process(&mut self, batch: RecordBatch) -> Result<Output, Error> {
        let schema = self.output.clone().ok_or_else(|| Error::invalid_call("process called before bind"))?;
        let col = |i: usize| batch.column(self.columns[i]);
        let unit = self.unit.unwrap_or(TimeUnit::Millisecond);
        let ts = col(2);
        let ticks = match unit {
            TimeUnit::Second => ts.as_primitive::<TimestampSecondType>().values(),
            TimeUnit::Millisecond => ts.as_primitive::<TimestampMillisecondType>().values(),
            TimeUnit::Microsecond => ts.as_primitive::<TimestampMicrosecondType>().values(),
            TimeUnit::Nanosecond => ts.as_primitive::<TimestampNanosecondType>().values(),
        };
        let per_hour = ticks_per_hour(unit);
        let url = col(3).as_string::<i32>();
        let duration = col(4).as_primitive::<Int32Type>();

        let mut rejections = Vec::new();
        for row in 0..batch.num_rows() {
            if duration.is_valid(row) && duration.value(row) < 0 {
                rejections.push(Rejection::new(row, "negative duration_ms"));
            }
        }
        let keep = (!rejections.is_empty()).then(|| {
            let mut keep = vec![true; batch.num_rows()];
            for r in &rejections {
                keep[r.row as usize] = false;
            }
            BooleanArray::from(keep)
        });
        let kept = batch.num_rows() - rejections.len();
        let mut domain = StringBuilder::with_capacity(kept, kept * 16);
        let mut depth = Int32Builder::with_capacity(kept);
        let mut hour = Int32Builder::with_capacity(kept);
        for row in 0..batch.num_rows() {
            if keep.as_ref().is_some_and(|k| !k.value(row)) {
                continue;
            }
            match url.is_valid(row).then(|| split_url(url.value(row))).flatten() {
                Some((d, n)) => {
                    domain.append_value(d);
                    depth.append_value(n);
                }
                None => {
                    domain.append_null();
                    depth.append_null();
                }
            }
            hour.append_option(ts.is_valid(row).then(|| hour_of(ticks[row], per_hour)));
        }
        // Unchanged columns pass through without a copy unless rows were refused.
        let pass = |i: usize| -> Result<ArrayRef, Error> {
            Ok(match &keep {
                Some(keep) => filter(col(i), keep)?,
                None => col(i).clone(),
            })
        };
        let columns: Vec<ArrayRef> = vec![
            pass(0)?,
            pass(1)?,
            Arc::new(domain.finish()),
            Arc::new(depth.finish()),
            Arc::new(hour.finish()),
            pass(5)?,
        ];
        Ok(Output::new(RecordBatch::try_new(schema, columns)?).with_rejections(rejections))
    }
}

/// The plugin: one map transform, `enrich`.
pub fn plugin() -> Plugin {
    Plugin::new(
        "enrich",
        env!("CARGO_PKG_VERSION"),
        "Clickstream enrichment: domain, path depth and hour of each event",
    )
    .transform(
        TransformSpec::map("enrich", "Adds domain, path_depth and hour; refuses negative durations"),
        |_config| Ok(Enrich::default()),
    )
}

quiver_sdk::export!(plugin);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_urls() {
        assert_eq!(split_url("https://shop.example.com/a/b/c?x=1#f"), Some(("shop.example.com", 3)));
        assert_eq!(split_url("http://x.org"), Some(("x.org", 0)));
        assert_eq!(split_url("http://x.org//a//b/"), Some(("x.org", 2)));
        assert_eq!(split_url("http://x.org?q=/a/b"), Some(("x.org", 0)));
        assert_eq!(split_url("https://bücher.de/straße/ü"), Some(("bücher.de", 2)));
        assert_eq!(split_url("mailto:someone"), None);
    }

    #[test]
    fn hours_are_utc_and_handle_times_before_1970() {
        assert_eq!(utc_hour(0), 0);
        assert_eq!(utc_hour(3_600_000 * 25 + 1), 1);
        assert_eq!(utc_hour(-1), 23);
    }
}
