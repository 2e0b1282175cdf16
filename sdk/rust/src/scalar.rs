//! Typed scalar functions, turned into vectorised column transforms by
//! [`#[scalar]`](crate::scalar).

use std::sync::Arc;

use arrow_array::builder::{BooleanBuilder, PrimitiveBuilder, StringBuilder};
use arrow_array::types::*;
use arrow_array::{Array, ArrayRef, BooleanArray, PrimitiveArray, RecordBatch, StringArray};
use arrow_buffer::NullBuffer;
use arrow_schema::{DataType, Field, Schema, SchemaRef};

use crate::{ConfigKey, Error, Output, Plugin, Rejection, Transform, TransformKind, TransformSpec};

/// The result of running a scalar function over whole columns.
pub struct ScalarColumn {
    /// One value per input row; null where an input was null or the row was refused.
    pub values: ArrayRef,
    /// The rows the function refused.
    pub rejections: Vec<Rejection>,
}

/// A scalar function made by `#[scalar]`: its signature and its vectorised body.
#[derive(Clone, Copy)]
pub struct ScalarFunction {
    /// The function's name.
    pub name: &'static str,
    /// The function's doc comment, first line.
    pub description: &'static str,
    /// Parameter names: the default input columns.
    pub arg_names: &'static [&'static str],
    /// Arrow types of the parameters.
    pub arg_types: fn() -> Vec<DataType>,
    /// Arrow type of the result.
    pub return_type: fn() -> DataType,
    /// Runs the function over columns of the parameter types.
    pub invoke: fn(&[ArrayRef]) -> Result<ScalarColumn, Error>,
}

/// A Rust type a scalar function can take: how to read it from an Arrow column.
pub trait ScalarArg<'a>: Sized {
    /// The Arrow array holding values of this type.
    type Array: Array + 'static;
    /// True when a null input makes the output null without calling the function.
    const NULL_IN_NULL_OUT: bool = true;
    /// The Arrow type of the column.
    fn data_type() -> DataType;
    /// Reads row `i`, which is valid unless `NULL_IN_NULL_OUT` is false.
    fn value(array: &'a Self::Array, i: usize) -> Self;
}

/// Downcasts column `name` to the array type of `T`.
pub fn downcast_arg<'a, T: ScalarArg<'a>>(column: &'a ArrayRef, name: &str) -> Result<&'a T::Array, Error> {
    column.as_any().downcast_ref::<T::Array>().ok_or_else(|| {
        Error::invalid_call(format!("argument `{name}` should be {}, got {}", T::data_type(), column.data_type()))
    })
}

/// The rows where some argument with null-in-null-out semantics is null.
pub fn combined_nulls(args: &[(&ArrayRef, bool)]) -> Option<NullBuffer> {
    args.iter()
        .filter(|(_, propagates)| *propagates)
        .fold(None, |acc, (column, _)| NullBuffer::union(acc.as_ref(), column.logical_nulls().as_ref()))
}

macro_rules! primitive_arg {
    ($($native:ty => $arrow:ty),* $(,)?) => {$(
        impl<'a> ScalarArg<'a> for $native {
            type Array = PrimitiveArray<$arrow>;
            fn data_type() -> DataType { <$arrow as ArrowPrimitiveType>::DATA_TYPE }
            #[inline]
            fn value(array: &'a Self::Array, i: usize) -> Self { array.values()[i] }
        }
    )*};
}

primitive_arg!(
    i8 => Int8Type, i16 => Int16Type, i32 => Int32Type, i64 => Int64Type,
    u8 => UInt8Type, u16 => UInt16Type, u32 => UInt32Type, u64 => UInt64Type,
    f32 => Float32Type, f64 => Float64Type,
);

impl<'a> ScalarArg<'a> for bool {
    type Array = BooleanArray;
    fn data_type() -> DataType {
        DataType::Boolean
    }
    fn value(array: &'a Self::Array, i: usize) -> Self {
        array.value(i)
    }
}

impl<'a> ScalarArg<'a> for &'a str {
    type Array = StringArray;
    fn data_type() -> DataType {
        DataType::Utf8
    }
    fn value(array: &'a Self::Array, i: usize) -> Self {
        array.value(i)
    }
}

impl<'a, T: ScalarArg<'a>> ScalarArg<'a> for Option<T> {
    type Array = T::Array;
    const NULL_IN_NULL_OUT: bool = false;
    fn data_type() -> DataType {
        T::data_type()
    }
    fn value(array: &'a Self::Array, i: usize) -> Self {
        array.is_valid(i).then(|| T::value(array, i))
    }
}

/// A Rust type a scalar function can return: how to build an Arrow column of it.
pub trait ScalarReturn: Sized {
    /// The builder of the output column.
    type Builder: ScalarBuilder<Self>;
    /// The Arrow type of the output column.
    fn data_type() -> DataType;
}

/// Builds an output column one value at a time.
pub trait ScalarBuilder<T> {
    /// A builder for `rows` values.
    fn with_capacity(rows: usize) -> Self;
    /// Appends a value.
    fn push(&mut self, value: T);
    /// Appends a null.
    fn push_null(&mut self);
    /// The finished column.
    fn finish_column(self) -> ArrayRef;
}

macro_rules! primitive_return {
    ($($native:ty => $arrow:ty),* $(,)?) => {$(
        impl ScalarReturn for $native {
            type Builder = PrimitiveBuilder<$arrow>;
            fn data_type() -> DataType { <$arrow as ArrowPrimitiveType>::DATA_TYPE }
        }
        impl ScalarBuilder<$native> for PrimitiveBuilder<$arrow> {
            fn with_capacity(rows: usize) -> Self { PrimitiveBuilder::<$arrow>::with_capacity(rows) }
            #[inline]
            fn push(&mut self, value: $native) { self.append_value(value) }
            #[inline]
            fn push_null(&mut self) { self.append_null() }
            fn finish_column(mut self) -> ArrayRef { Arc::new(self.finish()) }
        }
    )*};
}

primitive_return!(
    i8 => Int8Type, i16 => Int16Type, i32 => Int32Type, i64 => Int64Type,
    u8 => UInt8Type, u16 => UInt16Type, u32 => UInt32Type, u64 => UInt64Type,
    f32 => Float32Type, f64 => Float64Type,
);

impl ScalarReturn for bool {
    type Builder = BooleanBuilder;
    fn data_type() -> DataType {
        DataType::Boolean
    }
}

impl ScalarBuilder<bool> for BooleanBuilder {
    fn with_capacity(rows: usize) -> Self {
        BooleanBuilder::with_capacity(rows)
    }
    fn push(&mut self, value: bool) {
        self.append_value(value)
    }
    fn push_null(&mut self) {
        self.append_null()
    }
    fn finish_column(mut self) -> ArrayRef {
        Arc::new(self.finish())
    }
}

impl ScalarReturn for String {
    type Builder = StringBuilder;
    fn data_type() -> DataType {
        DataType::Utf8
    }
}

impl ScalarBuilder<String> for StringBuilder {
    fn with_capacity(rows: usize) -> Self {
        StringBuilder::with_capacity(rows, rows * 8)
    }
    fn push(&mut self, value: String) {
        self.append_value(value)
    }
    fn push_null(&mut self) {
        self.append_null()
    }
    fn finish_column(mut self) -> ArrayRef {
        Arc::new(self.finish())
    }
}

/// What a scalar function body may return: a value, `Option` (None is null),
/// or `Result` (an error refuses the row, with the error as the reason).
pub trait ScalarResult {
    /// The value type of the output column.
    type Value: ScalarReturn;
    /// The value, null, or the reason to refuse the row.
    fn into_result(self) -> Result<Option<Self::Value>, String>;
}

macro_rules! scalar_results {
    ($($t:ty),* $(,)?) => {$(
        impl ScalarResult for $t {
            type Value = $t;
            #[inline]
            fn into_result(self) -> Result<Option<$t>, String> { Ok(Some(self)) }
        }
        impl ScalarResult for Option<$t> {
            type Value = $t;
            #[inline]
            fn into_result(self) -> Result<Option<$t>, String> { Ok(self) }
        }
        impl<E: std::fmt::Display> ScalarResult for Result<$t, E> {
            type Value = $t;
            #[inline]
            fn into_result(self) -> Result<Option<$t>, String> { self.map(Some).map_err(|e| e.to_string()) }
        }
        impl<E: std::fmt::Display> ScalarResult for Result<Option<$t>, E> {
            type Value = $t;
            #[inline]
            fn into_result(self) -> Result<Option<$t>, String> { self.map_err(|e| e.to_string()) }
        }
    )*};
}

scalar_results!(i8, i16, i32, i64, u8, u16, u32, u64, f32, f64, bool, String);

/// Offers a scalar function as a transform that appends (or replaces) one column.
impl Plugin {
    /// Offers `function` as a scalar transform named after it. Its input
    /// columns default to the parameter names (config key `args`), its output
    /// column to `output` (config key `output`).
    pub fn scalar(self, function: ScalarFunction, output: &str) -> Self {
        let spec = TransformSpec::new(function.name, TransformKind::Scalar, function.description)
            .key(ConfigKey::with_default(
                "args",
                "comma-separated input columns, one per parameter",
                &function.arg_names.join(","),
            ))
            .key(ConfigKey::with_default("output", "the output column (replaced if present)", output));
        self.transform(spec, move |config| {
            let args: Vec<String> =
                config.get("args").unwrap_or_default().split(',').map(|s| s.trim().to_string()).collect();
            if args.len() != function.arg_names.len() {
                return Err(Error::config(format!(
                    "config key `args` names {} columns, `{}` takes {} ({})",
                    args.len(),
                    function.name,
                    function.arg_names.len(),
                    function.arg_names.join(", ")
                )));
            }
            let output = config.get("output").unwrap_or_default().to_string();
            if output.is_empty() {
                return Err(Error::config("config key `output` must name a column"));
            }
            Ok(ScalarTransform { function, args, output, bound: None })
        })
    }
}

struct Bound {
    arg_indices: Vec<usize>,
    output_schema: SchemaRef,
    replace: Option<usize>,
}

struct ScalarTransform {
    function: ScalarFunction,
    args: Vec<String>,
    output: String,
    bound: Option<Bound>,
}

impl Transform for ScalarTransform {
    fn bind(&mut self, input: &SchemaRef) -> Result<SchemaRef, Error> {
        let types = (self.function.arg_types)();
        let mut arg_indices = Vec::with_capacity(self.args.len());
        for (name, expected) in self.args.iter().zip(&types) {
            let (index, field) = input.column_with_name(name).ok_or_else(|| {
                Error::schema(format!(
                    "`{}` needs input column `{name}` ({expected}), which is missing",
                    self.function.name
                ))
            })?;
            if field.data_type() != expected {
                return Err(Error::schema(format!(
                    "`{}` needs input column `{name}` to be {expected}, it is {}",
                    self.function.name,
                    field.data_type()
                )));
            }
            arg_indices.push(index);
        }
        let out_field = Arc::new(Field::new(&self.output, (self.function.return_type)(), true));
        let mut fields: Vec<_> = input.fields().iter().cloned().collect();
        let replace = input.index_of(&self.output).ok();
        match replace {
            Some(i) => fields[i] = out_field,
            None => fields.push(out_field),
        }
        let output_schema = Arc::new(Schema::new_with_metadata(fields, input.metadata().clone()));
        self.bound = Some(Bound { arg_indices, output_schema: output_schema.clone(), replace });
        Ok(output_schema)
    }

    fn process(&mut self, batch: RecordBatch) -> Result<Output, Error> {
        let bound = self.bound.as_ref().ok_or_else(|| Error::invalid_call("process called before bind"))?;
        let args: Vec<ArrayRef> = bound.arg_indices.iter().map(|&i| batch.column(i).clone()).collect();
        let ScalarColumn { values, rejections } = (self.function.invoke)(&args)?;
        let mut columns = batch.columns().to_vec();
        match bound.replace {
            Some(i) => columns[i] = values,
            None => columns.push(values),
        }
        let mut out = RecordBatch::try_new(bound.output_schema.clone(), columns)?;
        if !rejections.is_empty() {
            let mut keep = vec![true; out.num_rows()];
            for r in &rejections {
                keep[r.row as usize] = false;
            }
            out = arrow_select::filter::filter_record_batch(&out, &BooleanArray::from(keep))?;
        }
        Ok(Output::new(out).with_rejections(rejections))
    }
}
