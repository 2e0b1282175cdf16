//! Rows checked against a subject's schema in the registry: the pipeline's
//! `validate` transform. The schema is read as the Kafka source would read
//! it (the same Arrow form: nullability, enum symbols, types); the input's
//! columns are matched to its fields by name when the run starts, and each
//! row whose values the schema does not allow is refused with the first
//! reason found.
//!
//! - **Types** are checked once, at start: a column whose type can never
//!   hold the field's values (text for a number, a struct for a list) is
//!   refused before any row moves. A column of a wider type (`long` for
//!   `int`, a timestamp in nanoseconds for one in microseconds, a decimal of
//!   more digits) is checked row by row: each value must fit the field's
//!   type, as Arrow's safe cast decides.
//! - **Required fields**: a column the schema requires that the input
//!   lacks is refused at start; a null in a field the schema does not let
//!   be null (at any depth: struct members, list items, map values) refuses
//!   its row.
//! - **Enum symbols**: a value that is not one of the field's symbols
//!   refuses its row.
//! - **JSON Schema's other keywords** (`pattern`, `minimum`, `maxLength`,
//!   `format`, …): each row that passed the checks above is written as a
//!   JSON object of the schema's columns (nulls left out, as absent
//!   properties) and checked by the jsonschema crate against the schema.
//!
//! Input columns the schema does not name pass through unchecked.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, UInt32Array};
use arrow::compute::{CastOptions, cast, cast_with_options, take_record_batch};
use arrow::datatypes::{DataType, Field, SchemaRef};
use arrow::util::display::{ArrayFormatter, FormatOptions};

use crate::ENUM_SYMBOLS;
use crate::client::{Registered, Registry};
use crate::error::RegistryError;
use crate::wire::{SchemaKind, WireDecoder};

/// Longest value quoted in a reason, in characters.
const QUOTED: usize = 64;

/// A check of rows against one version of a subject, bound to an input schema.
#[derive(Debug)]
pub struct Validator {
    reader: Registered,
    /// The schema's fields, each with the input column it checks.
    fields: Vec<(Arc<Field>, usize)>,
    /// A JSON Schema, compiled: what the columns' shape does not say.
    keywords: Option<Arc<jsonschema::Validator>>,
}

impl Validator {
    /// Asks `registry` for `subject`'s `version` (its latest if `None`; for
    /// Protobuf, `message` or the file's first message) and matches `input`'s
    /// columns to its fields. A missing required column or a column of a
    /// type the field can never take fails here, naming the field.
    pub async fn open(
        registry: Arc<Registry>,
        kind: SchemaKind,
        subject: &str,
        version: Option<u32>,
        message: Option<&str>,
        input: &SchemaRef,
    ) -> Result<Self, RegistryError> {
        let decoder = WireDecoder::open(kind, registry, subject, version, message).await?;
        let reader = decoder.reader().expect("a registered schema has a version").clone();
        let keywords = match &decoder {
            WireDecoder::JsonSchema(d) => Some(d.reader_validator()),
            _ => None,
        };
        let unfit = |reason: String| RegistryError::Schema {
            subject: subject.into(),
            reason: format!("version {}: {reason}", reader.version),
        };
        let mut fields = Vec::new();
        for field in decoder.schema().fields() {
            match input.index_of(field.name()) {
                Ok(column) => {
                    let path = field.name().to_string();
                    if let Err(why) = compatible(input.field(column).data_type(), field, &path) {
                        return Err(unfit(why));
                    }
                    fields.push((field.clone(), column));
                }
                Err(_) if field.is_nullable() => {}
                Err(_) => {
                    return Err(unfit(format!(
                        "it requires field `{}`, and the input has no such column (it has {})",
                        field.name(),
                        names(input)
                    )));
                }
            }
        }
        Ok(Self { reader, fields, keywords })
    }

    /// The subject's version the rows are checked against.
    pub fn reader(&self) -> &Registered {
        &self.reader
    }

    /// The rows of `batch` the schema does not allow, each with why, in order.
    pub fn check(&self, batch: &RecordBatch) -> Vec<(usize, String)> {
        let mut refused = BTreeMap::new();
        let rows: Vec<u32> = (0..batch.num_rows() as u32).collect();
        let at = Versioned { subject: &self.reader.subject, version: self.reader.version };
        for (field, column) in &self.fields {
            check(batch.column(*column), field, field.name(), &rows, &at, &mut refused);
        }
        if let Some(keywords) = &self.keywords {
            self.check_keywords(keywords, batch, &at, &mut refused);
        }
        refused.into_iter().map(|(row, why)| (row as usize, why)).collect()
    }

    /// Refuses the rows not refused yet whose JSON object `keywords` does not allow.
    fn check_keywords(
        &self,
        keywords: &jsonschema::Validator,
        batch: &RecordBatch,
        at: &Versioned,
        refused: &mut BTreeMap<u32, String>,
    ) {
        let columns: Vec<usize> = self.fields.iter().map(|(_, column)| *column).collect();
        // Only the rows still standing are written as JSON.
        let rows: Vec<u32> = (0..batch.num_rows() as u32).filter(|row| !refused.contains_key(row)).collect();
        if rows.is_empty() {
            return;
        }
        let objects = batch
            .project(&columns)
            .and_then(|projected| match rows.len() == batch.num_rows() {
                // Nothing refused yet, the common case: no copy of the rows.
                true => Ok(projected),
                false => take_record_batch(&projected, &UInt32Array::from(rows.clone())),
            })
            .map_err(|e| e.to_string())
            .and_then(|standing| {
                crate::json::objects(&standing, false).map_err(|e| format!("writing the rows as JSON: {e}"))
            });
        let (bytes, ranges) = match objects {
            Ok(objects) => objects,
            Err(why) => {
                for row in rows {
                    refuse(refused, row, format!("{at}: {why}"));
                }
                return;
            }
        };
        for (row, range) in rows.into_iter().zip(ranges) {
            let error = match serde_json::from_slice::<serde_json::Value>(&bytes[range]) {
                Ok(document) => keywords.iter_errors(&document).next().map(|error| {
                    let path = error.instance_path().to_string();
                    let path = path.trim_start_matches('/').replace('/', ".");
                    let path = if path.is_empty() { "the row".to_string() } else { format!("`{path}`") };
                    format!("{path} breaks {at}: {}", error.masked())
                }),
                Err(e) => Some(format!("the row as JSON does not parse: {e}")),
            };
            if let Some(why) = error {
                refuse(refused, row, why);
            }
        }
    }
}

/// The subject and version a reason names.
struct Versioned<'a> {
    subject: &'a str,
    version: u32,
}

impl std::fmt::Display for Versioned<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "`{}` version {}", self.subject, self.version)
    }
}

/// An element no row owns: under a null struct, list or map.
const NONE: u32 = u32::MAX;

/// Refuses, into `refused`, the rows (`rows[i]` owns element `i`) whose
/// element of `array` the schema's `field` does not allow.
fn check(
    array: &ArrayRef,
    field: &Field,
    path: &str,
    rows: &[u32],
    at: &Versioned,
    refused: &mut BTreeMap<u32, String>,
) {
    let nulls = array.logical_nulls();
    let is_null = |i: usize| nulls.as_ref().is_some_and(|n| n.is_null(i));
    if !field.is_nullable() {
        for (i, &row) in rows.iter().enumerate() {
            if row != NONE && is_null(i) {
                refuse(refused, row, format!("`{path}` is null, and {at} requires it"));
            }
        }
    }
    // The rows of the elements below: none under a null.
    let live = |i: usize| if is_null(i) { NONE } else { rows[i] };
    match (array.data_type(), field.data_type()) {
        (DataType::Struct(_), DataType::Struct(members)) => {
            let array = array.as_struct();
            let below: Vec<u32> = (0..array.len()).map(live).collect();
            for member in members {
                if let Some(child) = array.column_by_name(member.name()) {
                    check(child, member, &format!("{path}.{}", member.name()), &below, at, refused);
                } else if !member.is_nullable() {
                    for &row in below.iter().filter(|&&r| r != NONE) {
                        refuse(refused, row, format!("`{path}.{}` is missing, and {at} requires it", member.name()));
                    }
                }
            }
        }
        (_, DataType::List(item) | DataType::LargeList(item)) => {
            let (values, offsets) = list_parts(array);
            let mut below = vec![NONE; values.len()];
            for (i, range) in offsets.iter().enumerate() {
                below[range.clone()].fill(live(i));
            }
            check(&values, item, &format!("{path}[]"), &below, at, refused);
        }
        (DataType::Map(_, _), DataType::Map(entries, _)) => {
            let array = array.as_map();
            let mut below = vec![NONE; array.entries().len()];
            let offsets = array.value_offsets();
            for i in 0..array.len() {
                below[offsets[i] as usize..offsets[i + 1] as usize].fill(live(i));
            }
            let entries_array: ArrayRef = Arc::new(array.entries().clone());
            check(&entries_array, entries, &format!("{path}{{}}"), &below, at, refused);
        }
        _ => check_values(array, field, path, rows, at, refused),
    }
}

/// Refuses `row` for `why`, unless an earlier reason refused it already.
fn refuse(refused: &mut BTreeMap<u32, String>, row: u32, why: String) {
    refused.entry(row).or_insert(why);
}

/// A list array's values and each row's range in them, whatever the list's kind.
fn list_parts(array: &ArrayRef) -> (ArrayRef, Vec<std::ops::Range<usize>>) {
    let ranges = |offsets: Vec<usize>| offsets.windows(2).map(|w| w[0]..w[1]).collect();
    match array.data_type() {
        DataType::List(_) => {
            let list = array.as_list::<i32>();
            (list.values().clone(), ranges(list.value_offsets().iter().map(|&o| o as usize).collect()))
        }
        DataType::LargeList(_) => {
            let list = array.as_list::<i64>();
            (list.values().clone(), ranges(list.value_offsets().iter().map(|&o| o as usize).collect()))
        }
        DataType::FixedSizeList(_, size) => {
            let list = array.as_fixed_size_list();
            let size = *size as usize;
            let start = list.offset() * size;
            (list.values().clone(), (0..list.len()).map(|i| start + i * size..start + (i + 1) * size).collect())
        }
        other => unreachable!("compatible() lets only lists stand for a list, not {other}"),
    }
}

/// The checks of a leaf: its enum's symbols, and that each value fits the field's type.
fn check_values(
    array: &ArrayRef,
    field: &Field,
    path: &str,
    rows: &[u32],
    at: &Versioned,
    refused: &mut BTreeMap<u32, String>,
) {
    let present = |i: usize| rows[i] != NONE && array.is_valid(i);
    if let Some(symbols) = field.metadata().get(ENUM_SYMBOLS)
        && let Ok(symbols) = serde_json::from_str::<Vec<String>>(symbols)
        && let Ok(text) = cast(array, &DataType::Utf8)
    {
        for (i, value) in text.as_string::<i32>().iter().enumerate() {
            if let Some(value) = value
                && present(i)
                && !symbols.iter().any(|s| s == value)
            {
                let why = format!(
                    "`{path}` is `{}`, which is not a symbol of its enum in {at} ({})",
                    quoted(value),
                    symbols.join(", ")
                );
                refuse(refused, rows[i], why);
            }
        }
        return;
    }
    let target = field.data_type();
    if text_like(array.data_type()) || array.data_type() == target || matches!(target, DataType::Null) {
        return;
    }
    let Ok(fitted) = cast_with_options(array, target, &CastOptions { safe: true, ..Default::default() }) else {
        return;
    };
    let shown = ArrayFormatter::try_new(array.as_ref(), &FormatOptions::default()).ok();
    for i in (0..array.len()).filter(|&i| present(i) && fitted.is_null(i)) {
        let value = shown.as_ref().map_or_else(String::new, |s| s.value(i).to_string());
        refuse(
            refused,
            rows[i],
            format!("`{path}` is {}, which does not fit its type {target} in {at}", quoted(&value)),
        );
    }
}

/// `value`, cut to [`QUOTED`] characters.
fn quoted(value: &str) -> String {
    match value.char_indices().nth(QUOTED) {
        Some((end, _)) => format!("{}…", &value[..end]),
        None => value.to_string(),
    }
}

/// The input's column names, for an error.
fn names(schema: &SchemaRef) -> String {
    let names: Vec<String> = schema.fields().iter().map(|f| format!("`{}`", f.name())).collect();
    if names.is_empty() { "none".into() } else { names.join(", ") }
}

fn text_like(t: &DataType) -> bool {
    match t {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => true,
        DataType::Dictionary(_, value) => text_like(value),
        _ => false,
    }
}

/// What kind of value a type holds, for deciding which types can stand
/// for which: within a kind, values are checked row by row.
#[derive(PartialEq, Eq, Debug)]
enum Kind {
    Bool,
    Integer,
    Float,
    /// With its scale: a decimal of another scale means other numbers.
    Decimal(i8),
    Text,
    Bytes,
    Date,
    Time,
    /// Whether it is an instant (with a zone) or a local date and time.
    Timestamp(bool),
    Duration,
    Struct,
    List,
    Map,
    Other,
}

fn kind(t: &DataType) -> Kind {
    use DataType::*;
    match t {
        Boolean => Kind::Bool,
        Int8 | Int16 | Int32 | Int64 | UInt8 | UInt16 | UInt32 | UInt64 => Kind::Integer,
        Float16 | Float32 | Float64 => Kind::Float,
        Decimal32(_, s) | Decimal64(_, s) | Decimal128(_, s) | Decimal256(_, s) => Kind::Decimal(*s),
        Utf8 | LargeUtf8 | Utf8View => Kind::Text,
        Binary | LargeBinary | BinaryView | FixedSizeBinary(_) => Kind::Bytes,
        Date32 | Date64 => Kind::Date,
        Time32(_) | Time64(_) => Kind::Time,
        Timestamp(_, zone) => Kind::Timestamp(zone.is_some()),
        Duration(_) => Kind::Duration,
        Struct(_) => Kind::Struct,
        List(_) | LargeList(_) | FixedSizeList(_, _) => Kind::List,
        Map(_, _) => Kind::Map,
        Dictionary(_, value) => kind(value),
        _ => Kind::Other,
    }
}

/// Whether a column of type `actual` can hold `field`'s values (at `path`),
/// and if not, why.
fn compatible(actual: &DataType, field: &Field, path: &str) -> Result<(), String> {
    let target = field.data_type();
    let (have, want) = (kind(actual), kind(target));
    let fits = actual == target
        || *actual == DataType::Null
        || (have == want && want != Kind::Other)
        || (have == Kind::Integer && want == Kind::Float);
    if !fits {
        let zone = |k: &Kind| match k {
            Kind::Timestamp(true) => " (an instant, with a time zone)",
            Kind::Timestamp(false) => " (a local date and time, with no zone)",
            _ => "",
        };
        return Err(format!(
            "column `{path}` is {actual}{}, and the schema types it as {target}{}",
            zone(&have),
            zone(&want)
        ));
    }
    match (actual, target) {
        (DataType::Struct(have), DataType::Struct(want)) => {
            for member in want {
                let inner = format!("{path}.{}", member.name());
                match have.iter().find(|h| h.name() == member.name()) {
                    Some(h) => compatible(h.data_type(), member, &inner)?,
                    None if member.is_nullable() => {}
                    None => {
                        return Err(format!("it requires field `{inner}`, and the input's struct has no such member"));
                    }
                }
            }
        }
        (
            DataType::List(h) | DataType::LargeList(h) | DataType::FixedSizeList(h, _),
            DataType::List(w) | DataType::LargeList(w),
        ) => compatible(h.data_type(), w, &format!("{path}[]"))?,
        (_, DataType::FixedSizeList(_, _)) if actual != target => {
            return Err(format!("column `{path}` is {actual}, and the schema types it as {target}"));
        }
        (DataType::Map(h, _), DataType::Map(w, _)) => compatible(h.data_type(), w, &format!("{path}{{}}"))?,
        _ => {}
    }
    Ok(())
}
