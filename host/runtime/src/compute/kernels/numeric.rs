//! Arithmetic, comparisons and casts: arrow-arith's numeric kernels,
//! arrow-ord's comparisons and arrow-cast, with scalars cast to the type of
//! the column beside them.

use std::str::FromStr;
use std::sync::Arc;

use arrow::array::Datum;
use arrow::array::{Array, ArrayRef, BooleanArray, Scalar};
use arrow::compute::kernels::{cmp, numeric};
use arrow::compute::{CastOptions, cast_with_options};
use arrow::datatypes::{DataType, TimeUnit};
use arrow::error::ArrowError;

use super::{Args, KernelResult, arrow_error};

type Binary<R> = fn(&dyn Datum, &dyn Datum) -> Result<R, ArrowError>;

/// Runs a binary kernel on two arguments, either of which may be a scalar.
fn binary<R>(args: &Args, kernel: Binary<R>) -> Result<R, String> {
    args.count(2)?;
    let like = match (&args.args[0], &args.args[1]) {
        (super::Arg::Column(c), _) | (_, super::Arg::Column(c)) => c.data_type().clone(),
        _ => return Err(format!("`{}` needs at least one column argument", args.name)),
    };
    let (left, left_scalar) = args.datum(0, &like)?;
    let (right, right_scalar) = args.datum(1, &like)?;
    let result = match (left_scalar, right_scalar) {
        (false, false) => kernel(&left, &right),
        (true, false) => kernel(&Scalar::new(left), &right),
        (false, true) => kernel(&left, &Scalar::new(right)),
        (true, true) => unreachable!("one argument is a column"),
    };
    result.map_err(arrow_error)
}

/// `add`, `subtract`, `multiply` (wrapping on overflow, as pyarrow's), their
/// `_checked` forms (an error on overflow), `divide` and `remainder`.
pub(super) fn arithmetic(name: &str, args: &Args) -> KernelResult {
    let kernel: Binary<ArrayRef> = match name {
        "add" => numeric::add_wrapping,
        "add_checked" => numeric::add,
        "subtract" => numeric::sub_wrapping,
        "subtract_checked" => numeric::sub,
        "multiply" => numeric::mul_wrapping,
        "multiply_checked" => numeric::mul,
        "divide" => numeric::div,
        "remainder" => numeric::rem,
        _ => unreachable!("dispatched by name"),
    };
    binary(args, kernel)
}

/// The negation of a numeric column.
pub(super) fn negate(args: &Args) -> KernelResult {
    args.count(1)?;
    numeric::neg_wrapping(args.column(0)?).map_err(arrow_error)
}

/// The absolute value: the negation where the value is below zero.
pub(super) fn abs(args: &Args) -> KernelResult {
    args.count(1)?;
    let column = args.column(0)?;
    let zero = super::args::scalar_array(&super::Scalar::Int(0), column.data_type())?;
    let below = cmp::lt(column, &Scalar::new(zero)).map_err(arrow_error)?;
    let negated = numeric::neg_wrapping(column).map_err(arrow_error)?;
    arrow::compute::kernels::zip::zip(&below, &negated, column).map_err(arrow_error)
}

/// `equal`, `not_equal`, `less`, `less_equal`, `greater`, `greater_equal`.
pub(super) fn compare(name: &str, args: &Args) -> KernelResult {
    let kernel: Binary<BooleanArray> = match name {
        "equal" => cmp::eq,
        "not_equal" => cmp::neq,
        "less" => cmp::lt,
        "less_equal" => cmp::lt_eq,
        "greater" => cmp::gt,
        "greater_equal" => cmp::gt_eq,
        _ => unreachable!("dispatched by name"),
    };
    Ok(Arc::new(binary(args, kernel)?))
}

/// The smaller (or larger) of two columns row by row; a null loses to a value.
pub(super) fn extreme(name: &str, args: &Args) -> KernelResult {
    args.count(2)?;
    let (a, b) = (args.column(0)?, args.column(1)?);
    let pick_a = if name == "min_element_wise" { cmp::lt(a, b) } else { cmp::gt(a, b) }.map_err(arrow_error)?;
    let picked = arrow::compute::kernels::zip::zip(&pick_a, a, b).map_err(arrow_error)?;
    // Where a comparison met a null, keep whichever side has a value.
    let b_or_a = arrow::compute::kernels::zip::zip(&arrow::compute::is_not_null(b).map_err(arrow_error)?, b, a)
        .map_err(arrow_error)?;
    let compared = arrow::compute::is_not_null(&pick_a).map_err(arrow_error)?;
    arrow::compute::kernels::zip::zip(&compared, &picked, &b_or_a).map_err(arrow_error)
}

/// Casts a column to the type named by argument 2: arrow's own names
/// (`Int32`, `Timestamp(ms, "UTC")`) or pyarrow's (`int32`, `string`,
/// `timestamp[ms]`). A value the type cannot hold is an error, not a null.
pub(super) fn cast(args: &Args) -> KernelResult {
    args.count(2)?;
    let to = parse_type(args.text(1)?)?;
    let column = args.column(0)?;
    // Zone-less instants labelled UTC are the same values: no conversion of
    // each through chrono-tz, as arrow-rs's cast does for any zone.
    if let (DataType::Timestamp(from, None), DataType::Timestamp(unit, Some(tz))) = (column.data_type(), &to)
        && from == unit
        && super::temporal::is_utc(tz)
    {
        let data = column.to_data().into_builder().data_type(to.clone()).build().map_err(arrow_error)?;
        return Ok(arrow::array::make_array(data));
    }
    let options = CastOptions { safe: false, ..CastOptions::default() };
    cast_with_options(column, &to, &options).map_err(arrow_error)
}

/// A data type from its arrow-rs or pyarrow name.
pub(crate) fn parse_type(name: &str) -> Result<DataType, String> {
    let unit = |u: &str| match u {
        "s" => Some(TimeUnit::Second),
        "ms" => Some(TimeUnit::Millisecond),
        "us" => Some(TimeUnit::Microsecond),
        "ns" => Some(TimeUnit::Nanosecond),
        _ => None,
    };
    let pyarrow = match name {
        "bool" | "boolean" => Some(DataType::Boolean),
        "int8" => Some(DataType::Int8),
        "int16" => Some(DataType::Int16),
        "int32" => Some(DataType::Int32),
        "int64" => Some(DataType::Int64),
        "uint8" => Some(DataType::UInt8),
        "uint16" => Some(DataType::UInt16),
        "uint32" => Some(DataType::UInt32),
        "uint64" => Some(DataType::UInt64),
        "float16" | "halffloat" => Some(DataType::Float16),
        "float32" | "float" => Some(DataType::Float32),
        "float64" | "double" => Some(DataType::Float64),
        "string" | "utf8" => Some(DataType::Utf8),
        "large_string" | "large_utf8" => Some(DataType::LargeUtf8),
        "binary" => Some(DataType::Binary),
        "large_binary" => Some(DataType::LargeBinary),
        "date32" | "date32[day]" => Some(DataType::Date32),
        "date64" | "date64[ms]" => Some(DataType::Date64),
        _ => None,
    };
    if let Some(t) = pyarrow {
        return Ok(t);
    }
    if let Some(inner) = name.strip_prefix("timestamp[").and_then(|s| s.strip_suffix(']')) {
        let (u, tz) = match inner.split_once(',') {
            // pyarrow prints `timestamp[ms, tz=UTC]`, the Python SDK `timestamp[ms, UTC]`.
            Some((u, tz)) => {
                let tz = tz.trim();
                (u.trim(), Some(Arc::from(tz.strip_prefix("tz=").unwrap_or(tz).trim())))
            }
            None => (inner.trim(), None),
        };
        if let Some(u) = unit(u) {
            return Ok(DataType::Timestamp(u, tz));
        }
    }
    DataType::from_str(name).map_err(|e| format!("`{name}` names no Arrow type: {e}"))
}
