//! String kernels. Predicates, slicing, byte length and joining are
//! arrow-string's; arrow-rs has no case, trim, find, count, split or replace
//! kernel, so those run over its builders here, one pass per column.

use std::sync::Arc;

use arrow::array::Datum;
use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Int32Builder, ListBuilder, StringArray, StringBuilder};
use arrow::compute::kernels::substring::substring_by_char;
use arrow::datatypes::DataType;
use arrow::error::ArrowError;

use super::{Args, KernelResult, arrow_error};

/// Argument `i` as a Utf8 array: LargeUtf8 and Utf8View columns are cast.
pub(super) fn utf8(args: &Args, i: usize) -> Result<StringArray, String> {
    let column = args.column(i)?;
    match column.data_type() {
        DataType::Utf8 => Ok(column.as_string::<i32>().clone()),
        DataType::LargeUtf8 | DataType::Utf8View => {
            let cast = arrow::compute::cast(column, &DataType::Utf8).map_err(arrow_error)?;
            Ok(cast.as_string::<i32>().clone())
        }
        other => Err(format!("argument {} of `{}` must be a string column, not {other}", i + 1, args.name)),
    }
}

/// A string column from `f` applied to each value, nulls kept.
pub(super) fn map_str(args: &Args, f: impl Fn(&str, &mut String)) -> KernelResult {
    args.count(1)?;
    let input = utf8(args, 0)?;
    let mut out = StringBuilder::with_capacity(input.len(), input.value_data().len());
    let mut scratch = String::new();
    for value in input.iter() {
        match value {
            Some(s) => {
                scratch.clear();
                f(s, &mut scratch);
                out.append_value(&scratch);
                args.within_budget(out.values_slice().len())?;
            }
            None => out.append_null(),
        }
    }
    Ok(Arc::new(out.finish()))
}

/// An int32 column from `f` applied to each value, nulls kept.
fn map_int(input: &StringArray, f: impl Fn(&str) -> i32) -> KernelResult {
    let mut out = Int32Builder::with_capacity(input.len());
    for value in input.iter() {
        out.append_option(value.map(&f));
    }
    Ok(Arc::new(out.finish()))
}

/// Characters per value.
pub(super) fn utf8_length(args: &Args) -> KernelResult {
    args.count(1)?;
    map_int(&utf8(args, 0)?, |s| s.chars().count() as i32)
}

/// Bytes per value (arrow-string's `length`).
pub(super) fn binary_length(args: &Args) -> KernelResult {
    args.count(1)?;
    arrow::compute::kernels::length::length(args.column(0)?).map_err(arrow_error)
}

/// Trims the characters of argument 2 from both ends.
pub(super) fn trim(args: &Args) -> KernelResult {
    args.count(2)?;
    let characters: Vec<char> = args.text(1)?.chars().collect();
    map_str(&args.first(1), |s, out| out.push_str(s.trim_matches(characters.as_slice())))
}

/// An arrow-string predicate of a column and a pattern (a scalar or a column).
pub(super) fn predicate(
    args: &Args,
    kernel: fn(&dyn Datum, &dyn Datum) -> Result<BooleanArray, ArrowError>,
) -> KernelResult {
    args.count(2)?;
    let left = utf8(args, 0)?;
    let (right, scalar) = args.datum(1, &DataType::Utf8)?;
    let right = arrow::compute::cast(&right, &DataType::Utf8).map_err(arrow_error)?;
    let result = if scalar { kernel(&left, &arrow::array::Scalar::new(right)) } else { kernel(&left, &right) };
    Ok(Arc::new(result.map_err(arrow_error)?))
}

/// The character index of the first occurrence of a substring, -1 if none.
pub(super) fn find(args: &Args) -> KernelResult {
    args.count(2)?;
    let pattern = args.text(1)?;
    map_int(&utf8(args, 0)?, |s| s.find(pattern).map_or(-1, |at| at as i32))
}

/// Each character's simple lowercase mapping (one character for one, as
/// pyarrow's utf8proc): `İ` gives `i`, not `i` and a combining dot.
pub(super) fn lower(s: &str, out: &mut String) {
    if s.is_ascii() {
        out.push_str(&s.to_ascii_lowercase());
        return;
    }
    out.extend(s.chars().map(|c| c.to_lowercase().next().unwrap_or(c)));
}

/// Each character's simple uppercase mapping (one character for one, as
/// pyarrow's utf8proc): `ŉ`, whose uppercase is two characters, stays as it
/// is, and `ß` gives utf8proc's `ẞ`.
pub(super) fn upper(s: &str, out: &mut String) {
    if s.is_ascii() {
        out.push_str(&s.to_ascii_uppercase());
        return;
    }
    out.extend(s.chars().map(|c| {
        let mut mapped = c.to_uppercase();
        match (mapped.next(), mapped.next()) {
            (Some(one), None) => one,
            _ if c == 'ß' => 'ẞ',
            _ => c,
        }
    }));
}

/// Non-overlapping occurrences of a substring.
pub(super) fn count(args: &Args) -> KernelResult {
    args.count(2)?;
    let pattern = args.text(1)?;
    if pattern.is_empty() {
        return map_int(&utf8(args, 0)?, |s| s.chars().count() as i32 + 1);
    }
    map_int(&utf8(args, 0)?, |s| s.matches(pattern).count() as i32)
}

/// Characters `start..stop` (arrow-string's `substring_by_char`); a negative
/// start counts from the end, a missing stop runs to the end.
pub(super) fn slice(args: &Args) -> KernelResult {
    if !(2..=3).contains(&args.args.len()) {
        return Err(format!("`{}` takes a column, a start and an optional stop", args.name));
    }
    let input = utf8(args, 0)?;
    let start = args.int_or(1, 0)?;
    let stop = args.int_or(2, i64::MAX)?;
    if start >= 0 && stop >= 0 {
        let length = (stop.saturating_sub(start)).max(0) as u64;
        let length = if stop == i64::MAX { None } else { Some(length) };
        return Ok(Arc::new(substring_by_char(&input, start, length).map_err(arrow_error)?));
    }
    // Mixed signs depend on each value's length.
    map_str(&args.first(1), |s, out| {
        let chars = s.chars().count() as i64;
        let at = |i: i64| if i < 0 { (chars + i).max(0) } else { i.min(chars) };
        let (from, to) = (at(start), at(stop));
        if from < to {
            out.extend(s.chars().skip(from as usize).take((to - from) as usize));
        }
    })
}

/// Splits each value on a separator into a list of strings.
pub(super) fn split(args: &Args) -> KernelResult {
    args.count(2)?;
    let input = utf8(args, 0)?;
    let separator = args.text(1)?;
    if separator.is_empty() {
        return Err(format!("`{}` needs a non-empty separator", args.name));
    }
    Ok(lists_of_parts(&input, |s| s.split(separator)))
}

/// A list column of the parts `split` cuts each string into; null for null.
pub(super) fn lists_of_parts<'s, P: Iterator<Item = &'s str>>(
    input: &'s StringArray,
    split: impl Fn(&'s str) -> P,
) -> ArrayRef {
    let mut out = ListBuilder::new(StringBuilder::new());
    for value in input.iter() {
        match value {
            Some(s) => {
                for part in split(s) {
                    out.values().append_value(part);
                }
                out.append(true);
            }
            None => out.append(false),
        }
    }
    Arc::new(out.finish())
}

/// Replaces every occurrence of a substring.
pub(super) fn replace(args: &Args) -> KernelResult {
    args.count(3)?;
    let (pattern, replacement) = (args.text(1)?.to_owned(), args.text(2)?.to_owned());
    if pattern.is_empty() {
        return Err(format!("`{}` needs a non-empty pattern", args.name));
    }
    map_str(&args.first(1), |s, out| out.push_str(&s.replace(&pattern, &replacement)))
}

/// Joins the string arguments row by row with the last argument, a separator;
/// a null in any gives null (pyarrow's `binary_join_element_wise`).
pub(super) fn join(args: &Args) -> KernelResult {
    if args.args.len() < 2 {
        return Err(format!("`{}` takes one or more strings and a separator", args.name));
    }
    let separator = args.text(args.args.len() - 1)?;
    let rows = args.rows()?;
    let parts: Vec<ArrayRef> =
        (0..args.args.len() - 1).map(|i| args.broadcast(i, rows, &DataType::Utf8)).collect::<Result<_, _>>()?;
    let parts: Vec<StringArray> = parts
        .iter()
        .map(|p| arrow::compute::cast(p, &DataType::Utf8).map(|c| c.as_string::<i32>().clone()))
        .collect::<Result<_, _>>()
        .map_err(arrow_error)?;
    if separator.is_empty() {
        let refs: Vec<&StringArray> = parts.iter().collect();
        return Ok(Arc::new(
            arrow::compute::kernels::concat_elements::concat_elements_utf8_many(&refs).map_err(arrow_error)?,
        ));
    }
    let mut out = StringBuilder::new();
    let mut row = String::new();
    for i in 0..rows {
        if parts.iter().any(|p| p.is_null(i)) {
            out.append_null();
            continue;
        }
        row.clear();
        for (n, p) in parts.iter().enumerate() {
            if n > 0 {
                row.push_str(separator);
            }
            row.push_str(p.value(i));
        }
        out.append_value(&row);
        args.within_budget(out.values_slice().len())?;
    }
    Ok(Arc::new(out.finish()))
}
