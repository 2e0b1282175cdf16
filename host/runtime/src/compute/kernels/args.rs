//! A kernel's arguments: columns and scalars, and the checks every kernel
//! makes of them.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, BinaryArray, BooleanArray, Float64Array, Int64Array, StringArray, new_null_array};
use arrow::compute::{CastOptions, cast_with_options};
use arrow::datatypes::DataType;

/// A scalar argument, as the plugin gave it.
#[derive(Debug, Clone)]
pub(crate) enum Scalar {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
    Binary(Vec<u8>),
}

/// One argument.
#[derive(Debug, Clone)]
pub(crate) enum Arg {
    Column(ArrayRef),
    Scalar(Scalar),
}

/// A kernel's arguments.
pub(crate) struct Args {
    pub name: String,
    pub args: Vec<Arg>,
    /// The most bytes a result may take: a kernel that grows its input
    /// (replace, join, case) stops when its output passes this.
    pub budget: usize,
}

impl Args {
    /// The same kernel over the first `n` arguments only.
    pub fn first(&self, n: usize) -> Args {
        Args { name: self.name.clone(), args: self.args[..n].to_vec(), budget: self.budget }
    }

    /// Fails once a result under construction holds more than the budget.
    pub fn within_budget(&self, bytes: usize) -> Result<(), String> {
        if bytes > self.budget {
            return Err(format!(
                "out of memory: the result of `{}` passed the {:.1} MiB this call has left under its memory limit",
                self.name,
                self.budget as f64 / (1 << 20) as f64
            ));
        }
        Ok(())
    }

    fn get(&self, i: usize) -> Result<&Arg, String> {
        self.args.get(i).ok_or_else(|| format!("`{}` takes an argument {} that was not given", self.name, i + 1))
    }

    /// Argument `i`, which must be a column.
    pub fn column(&self, i: usize) -> Result<&ArrayRef, String> {
        match self.get(i)? {
            Arg::Column(c) => Ok(c),
            Arg::Scalar(s) => {
                Err(format!("argument {} of `{}` must be a column, not the scalar {s:?}", i + 1, self.name))
            }
        }
    }

    /// Argument `i` as a column of `rows` rows: a scalar is repeated.
    pub fn broadcast(&self, i: usize, rows: usize, like: &DataType) -> Result<ArrayRef, String> {
        match self.get(i)? {
            Arg::Column(c) => Ok(c.clone()),
            Arg::Scalar(s) => {
                let one = scalar_array(s, like).map_err(|e| format!("argument {} of `{}`: {e}", i + 1, self.name))?;
                let indices = arrow::array::UInt32Array::from(vec![0u32; rows]);
                arrow::compute::take(&one, &indices, None).map_err(super::arrow_error)
            }
        }
    }

    /// Argument `i` as a one-row array of `like` (for a scalar), or the column.
    pub fn datum(&self, i: usize, like: &DataType) -> Result<(ArrayRef, bool), String> {
        match self.get(i)? {
            Arg::Column(c) => Ok((c.clone(), false)),
            Arg::Scalar(s) => {
                let one = scalar_array(s, like).map_err(|e| format!("argument {} of `{}`: {e}", i + 1, self.name))?;
                Ok((one, true))
            }
        }
    }

    /// Argument `i`, which must be a text scalar.
    pub fn text(&self, i: usize) -> Result<&str, String> {
        match self.get(i)? {
            Arg::Scalar(Scalar::Text(t)) => Ok(t),
            other => {
                Err(format!("argument {} of `{}` must be a text scalar, not {}", i + 1, self.name, describe(other)))
            }
        }
    }

    /// Argument `i`, which must be an integer scalar, or `default` when not given.
    pub fn int_or(&self, i: usize, default: i64) -> Result<i64, String> {
        match self.args.get(i) {
            // A null stands for an optional argument left out, as pyarrow's `None`.
            None | Some(Arg::Scalar(Scalar::Null)) => Ok(default),
            Some(Arg::Scalar(Scalar::Int(n))) => Ok(*n),
            Some(other) => {
                Err(format!("argument {} of `{}` must be an integer scalar, not {}", i + 1, self.name, describe(other)))
            }
        }
    }

    /// Fails unless exactly `n` arguments were given.
    pub fn count(&self, n: usize) -> Result<(), String> {
        if self.args.len() == n {
            Ok(())
        } else {
            Err(format!("`{}` takes {n} arguments, it got {}", self.name, self.args.len()))
        }
    }

    /// Fails unless every column argument has the same length.
    pub fn same_length(&self, name: &str) -> Result<(), String> {
        let mut lengths = self.args.iter().filter_map(|a| match a {
            Arg::Column(c) => Some(c.len()),
            Arg::Scalar(_) => None,
        });
        if let Some(first) = lengths.next()
            && let Some(other) = lengths.find(|&l| l != first)
        {
            return Err(format!("`{name}` got columns of {first} and {other} rows; its columns must have one length"));
        }
        Ok(())
    }

    /// The length of the first column argument.
    pub fn rows(&self) -> Result<usize, String> {
        self.args
            .iter()
            .find_map(|a| match a {
                Arg::Column(c) => Some(c.len()),
                Arg::Scalar(_) => None,
            })
            .ok_or_else(|| format!("`{}` needs at least one column argument", self.name))
    }
}

fn describe(arg: &Arg) -> String {
    match arg {
        Arg::Column(c) => format!("a column of {}", c.data_type()),
        Arg::Scalar(s) => format!("the scalar {s:?}"),
    }
}

/// A one-row array of `s`, cast to `like` (the other operand's type) when
/// the plugin's scalar is of another type: `int(3)` beside an int32 column is
/// an int32 3.
pub(crate) fn scalar_array(s: &Scalar, like: &DataType) -> Result<ArrayRef, String> {
    let natural: ArrayRef = match s {
        Scalar::Null => return Ok(new_null_array(like, 1)),
        Scalar::Bool(b) => Arc::new(BooleanArray::from(vec![*b])),
        Scalar::Int(n) => Arc::new(Int64Array::from(vec![*n])),
        Scalar::Float(f) => Arc::new(Float64Array::from(vec![*f])),
        Scalar::Text(t) => Arc::new(StringArray::from(vec![t.as_str()])),
        Scalar::Binary(b) => Arc::new(BinaryArray::from(vec![b.as_slice()])),
    };
    if natural.data_type() == like || matches!(like, DataType::Null) {
        return Ok(natural);
    }
    let options = CastOptions { safe: false, ..CastOptions::default() };
    cast_with_options(&natural, like, &options).map_err(|e| format!("the scalar {s:?} is not a {like}: {e}"))
}
