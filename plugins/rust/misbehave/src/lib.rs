//! `misbehave`: a plugin that breaks the contract on purpose, for the host's
//! tests. Each transform passes `bind` and then returns something the host
//! must refuse.

use std::sync::Arc;

use quiver_sdk::arrow_array::{ArrayRef, RecordBatch, StringArray};
use quiver_sdk::arrow_schema::{DataType, Field, Schema, SchemaRef};
use quiver_sdk::{Error, Output, Plugin, Rejection, Transform, TransformSpec};

/// Declares one int32 column `x`, returns a utf8 column instead.
struct WrongSchema;

impl Transform for WrongSchema {
    fn bind(&mut self, _input: &SchemaRef) -> Result<SchemaRef, Error> {
        Ok(Arc::new(Schema::new(vec![Field::new("x", DataType::Int32, true)])))
    }

    fn process(&mut self, batch: RecordBatch) -> Result<Output, Error> {
        let text: ArrayRef = Arc::new(StringArray::from(vec!["not an int"; batch.num_rows()]));
        let lie = RecordBatch::try_from_iter([("x", text)])?;
        Ok(Output::new(lie))
    }
}

/// Refuses a row that does not exist.
struct BadRow;

impl Transform for BadRow {
    fn bind(&mut self, input: &SchemaRef) -> Result<SchemaRef, Error> {
        Ok(input.clone())
    }

    fn process(&mut self, batch: RecordBatch) -> Result<Output, Error> {
        let rows = batch.num_rows();
        Ok(Output::new(batch).with_rejections(vec![Rejection::new(rows, "no such row")]))
    }
}

/// An aggregate that refuses a row from `finish`, where no input row exists.
#[derive(Default)]
struct RefuseAtEnd {
    schema: Option<SchemaRef>,
}

impl Transform for RefuseAtEnd {
    fn bind(&mut self, input: &SchemaRef) -> Result<SchemaRef, Error> {
        self.schema = Some(input.clone());
        Ok(input.clone())
    }

    fn process(&mut self, batch: RecordBatch) -> Result<Output, Error> {
        Ok(Output::new(batch.slice(0, 0)).with_origin(Vec::new()))
    }

    fn finish(&mut self) -> Result<Option<Output>, Error> {
        let schema = self.schema.clone().ok_or_else(|| Error::invalid_call("finish before bind"))?;
        Ok(Some(Output::new(RecordBatch::new_empty(schema)).with_rejections(vec![Rejection::new(0, "at the end")])))
    }
}

/// The plugin.
pub fn plugin() -> Plugin {
    Plugin::new("misbehave", env!("CARGO_PKG_VERSION"), "Breaks the contract on purpose (host tests)")
        .transform(TransformSpec::map("wrong-schema", "declares int32 x, returns utf8"), |_| Ok(WrongSchema))
        .transform(TransformSpec::filter("bad-row", "refuses a row past the end of the batch"), |_| Ok(BadRow))
        .transform(TransformSpec::aggregate("refuse-at-end", "refuses a row from finish"), |_| {
            Ok(RefuseAtEnd::default())
        })
}

quiver_sdk::export!(plugin);
