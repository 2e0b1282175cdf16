//! `count`: a stateful aggregate. Counts rows per value of a utf8 `key`
//! column and sums an integer `value` column, emitting one row per key, in
//! key order (null key first), at the end of the stream.

use std::collections::BTreeMap;
use std::sync::Arc;

use quiver_sdk::arrow_array::builder::{Int64Builder, StringBuilder};
use quiver_sdk::arrow_array::cast::AsArray;
use quiver_sdk::arrow_array::types::{Int32Type, Int64Type};
use quiver_sdk::arrow_array::{Array, ArrayRef, RecordBatch};
use quiver_sdk::arrow_schema::{DataType, Field, Schema, SchemaRef};
use quiver_sdk::{ConfigKey, Error, Output, Plugin, Transform, TransformSpec};

#[derive(Default)]
struct Totals {
    count: i64,
    sum: i64,
}

struct Count {
    key: String,
    value: String,
    columns: Option<(usize, usize, SchemaRef)>,
    totals: BTreeMap<Option<String>, Totals>,
}

impl Transform for Count {
    fn bind(&mut self, input: &SchemaRef) -> Result<SchemaRef, Error> {
        let column = |name: &str, ok: &[DataType]| {
            let (i, f) =
                input.column_with_name(name).ok_or_else(|| Error::schema(format!("count needs column `{name}`")))?;
            if !ok.contains(f.data_type()) {
                return Err(Error::schema(format!(
                    "count: column `{name}` is {}, expected one of {ok:?}",
                    f.data_type()
                )));
            }
            Ok(i)
        };
        let key = column(&self.key, &[DataType::Utf8])?;
        let value = column(&self.value, &[DataType::Int32, DataType::Int64])?;
        let schema = Arc::new(Schema::new(vec![
            Field::new(&self.key, DataType::Utf8, true),
            Field::new("count", DataType::Int64, false),
            Field::new("sum", DataType::Int64, false),
        ]));
        self.columns = Some((key, value, schema.clone()));
        Ok(schema)
    }

    fn process(&mut self, batch: RecordBatch) -> Result<Output, Error> {
        let (key, value, schema) = self.columns.clone().ok_or_else(|| Error::invalid_call("process before bind"))?;
        let keys = batch.column(key).as_string::<i32>();
        let values = batch.column(value);
        for row in 0..batch.num_rows() {
            let v = match values.data_type() {
                _ if values.is_null(row) => 0,
                DataType::Int32 => i64::from(values.as_primitive::<Int32Type>().value(row)),
                _ => values.as_primitive::<Int64Type>().value(row),
            };
            let totals = self.totals.entry(keys.is_valid(row).then(|| keys.value(row).to_string())).or_default();
            totals.count += 1;
            totals.sum = totals.sum.checked_add(v).ok_or_else(|| Error::failed("sum overflows int64"))?;
        }
        Ok(Output::new(RecordBatch::new_empty(schema)))
    }

    fn finish(&mut self) -> Result<Option<Output>, Error> {
        let (_, _, schema) = self.columns.clone().ok_or_else(|| Error::invalid_call("finish before bind"))?;
        let (mut keys, mut counts, mut sums) = (StringBuilder::new(), Int64Builder::new(), Int64Builder::new());
        for (key, totals) in std::mem::take(&mut self.totals) {
            keys.append_option(key);
            counts.append_value(totals.count);
            sums.append_value(totals.sum);
        }
        let columns: Vec<ArrayRef> = vec![Arc::new(keys.finish()), Arc::new(counts.finish()), Arc::new(sums.finish())];
        Ok(Some(Output::new(RecordBatch::try_new(schema, columns)?)))
    }
}

/// The plugin: one aggregate, `count`.
pub fn plugin() -> Plugin {
    Plugin::new("count", env!("CARGO_PKG_VERSION"), "Per-key row count and sum, emitted at the end of the stream")
        .transform(
            TransformSpec::aggregate("count", "Counts rows and sums `value` per `key`")
                .key(ConfigKey::required("key", "the utf8 column to group by"))
                .key(ConfigKey::required("value", "the int32 or int64 column to sum (nulls count as 0)")),
            |config| {
                Ok(Count {
                    key: config.get("key").unwrap_or_default().to_string(),
                    value: config.get("value").unwrap_or_default().to_string(),
                    columns: None,
                    totals: BTreeMap::new(),
                })
            },
        )
}

quiver_sdk::export!(plugin);
