//! Hashing, which arrow-rs has no kernel for: xxHash64 (seed 0) of each
//! value's bytes, and SHA-256 in hex. Strings hash their UTF-8 bytes, fixed
//! width numbers their little-endian bytes; nulls stay null.

use std::sync::Arc;

use arrow::array::{Array, AsArray, StringBuilder, UInt64Builder};
use arrow::datatypes::DataType;
use sha2::{Digest, Sha256};
use twox_hash::XxHash64;

use super::{Args, KernelResult, arrow_error};

/// Calls `f` with each row's bytes, or `None` for a null.
fn each_value(args: &Args, mut f: impl FnMut(Option<&[u8]>)) -> Result<(), String> {
    let column = args.column(0)?;
    match column.data_type() {
        DataType::Utf8
        | DataType::LargeUtf8
        | DataType::Utf8View
        | DataType::Binary
        | DataType::LargeBinary
        | DataType::BinaryView => {
            let bytes = arrow::compute::cast(column, &DataType::LargeBinary).map_err(arrow_error)?;
            bytes.as_binary::<i64>().iter().for_each(f);
        }
        t if t.primitive_width().is_some() => {
            let width = t.primitive_width().expect("checked");
            let data = column.to_data();
            let values = &data.buffers()[0].as_slice()[data.offset() * width..];
            for row in 0..column.len() {
                f(column.is_valid(row).then(|| &values[row * width..(row + 1) * width]));
            }
        }
        other => return Err(format!("`{}` hashes strings, binaries and numbers, not {other}", args.name)),
    }
    Ok(())
}

/// xxHash64 of each value, as uint64.
pub(super) fn hash_64(args: &Args) -> KernelResult {
    args.count(1)?;
    let mut out = UInt64Builder::with_capacity(args.rows()?);
    each_value(args, |v| out.append_option(v.map(|bytes| XxHash64::oneshot(0, bytes))))?;
    Ok(Arc::new(out.finish()))
}

/// SHA-256 of each value, in lowercase hex.
pub(super) fn sha256(args: &Args) -> KernelResult {
    args.count(1)?;
    let rows = args.rows()?;
    let mut out = StringBuilder::with_capacity(rows, rows * 64);
    let mut hex = String::with_capacity(64);
    each_value(args, |v| match v {
        Some(bytes) => {
            use std::fmt::Write;
            hex.clear();
            for b in Sha256::digest(bytes) {
                let _ = write!(hex, "{b:02x}");
            }
            out.append_value(&hex);
        }
        None => out.append_null(),
    })?;
    Ok(Arc::new(out.finish()))
}
