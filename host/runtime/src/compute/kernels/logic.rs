//! Boolean logic, nulls, choice and selection: arrow-arith's boolean
//! kernels, arrow-select's `zip`, `nullif`, `filter` and `take`.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray};
use arrow::compute::kernels::{boolean, zip::zip};
use arrow::datatypes::DataType;

use super::{Args, KernelResult, arrow_error};

fn booleans(args: &Args, i: usize) -> Result<BooleanArray, String> {
    let column = args.column(i)?;
    match column.data_type() {
        DataType::Boolean => Ok(column.as_boolean().clone()),
        other => Err(format!("argument {} of `{}` must be a boolean column, not {other}", i + 1, args.name)),
    }
}

/// `and`, `or` (null if either is null), their Kleene forms, and `xor`.
pub(super) fn boolean(name: &str, args: &Args) -> KernelResult {
    args.count(2)?;
    let (a, b) = (booleans(args, 0)?, booleans(args, 1)?);
    let result = match name {
        "and" => boolean::and(&a, &b),
        "or" => boolean::or(&a, &b),
        "and_kleene" => boolean::and_kleene(&a, &b),
        "or_kleene" => boolean::or_kleene(&a, &b),
        // a xor b = (a or b) and not (a and b), nulls propagating.
        "xor" => boolean::or(&a, &b)
            .and_then(|either| boolean::and(&a, &b).and_then(|both| boolean::and_not(&either, &both))),
        _ => unreachable!("dispatched by name"),
    };
    Ok(Arc::new(result.map_err(arrow_error)?))
}

/// Logical not.
pub(super) fn invert(args: &Args) -> KernelResult {
    args.count(1)?;
    Ok(Arc::new(boolean::not(&booleans(args, 0)?).map_err(arrow_error)?))
}

/// Whether each value is null (or, with `valid`, is not).
pub(super) fn is_null(args: &Args, valid: bool) -> KernelResult {
    args.count(1)?;
    let column = args.column(0)?;
    let result = if valid { boolean::is_not_null(column) } else { boolean::is_null(column) };
    Ok(Arc::new(result.map_err(arrow_error)?))
}

/// The first argument that is not null, row by row; scalars take the type of
/// the first column.
pub(super) fn coalesce(args: &Args) -> KernelResult {
    let first = args.column(0)?.clone();
    let (rows, like) = (first.len(), first.data_type().clone());
    let mut result = first;
    for i in 1..args.args.len() {
        let next = args.broadcast(i, rows, &like)?;
        let valid = boolean::is_not_null(&result).map_err(arrow_error)?;
        result = zip(&valid, &result, &next).map_err(arrow_error)?;
    }
    Ok(result)
}

/// Argument 2 where the condition holds, argument 3 where it does not, and
/// null where the condition is null (pyarrow's `if_else`).
pub(super) fn if_else(args: &Args) -> KernelResult {
    args.count(3)?;
    let condition = booleans(args, 0)?;
    let rows = condition.len();
    let like = match (&args.args[1], &args.args[2]) {
        (super::Arg::Column(c), _) | (_, super::Arg::Column(c)) => c.data_type().clone(),
        _ => return Err(format!("`{}` needs a column as its second or third argument", args.name)),
    };
    let (yes, no) = (args.broadcast(1, rows, &like)?, args.broadcast(2, rows, &like)?);
    let chosen = zip(&condition, &yes, &no).map_err(arrow_error)?;
    if condition.null_count() == 0 {
        return Ok(chosen);
    }
    let unknown = boolean::is_null(&condition).map_err(arrow_error)?;
    arrow::compute::nullif(&chosen, &unknown).map_err(arrow_error)
}

/// The rows where the mask is true.
pub(super) fn filter(args: &Args) -> KernelResult {
    args.count(2)?;
    arrow::compute::filter(args.column(0)?, &booleans(args, 1)?).map_err(arrow_error)
}

/// The rows at the indices of argument 2, an integer column of any length;
/// an index out of range is an error.
pub(super) fn take(args: &Args) -> KernelResult {
    args.count(2)?;
    let (values, indices): (&ArrayRef, &ArrayRef) = (args.column(0)?, args.column(1)?);
    if !indices.data_type().is_integer() {
        return Err(format!("the indices of `take` must be integers, not {}", indices.data_type()));
    }
    let options = arrow::compute::TakeOptions { check_bounds: true };
    arrow::compute::take(values, indices, Some(options)).map_err(arrow_error)
}
