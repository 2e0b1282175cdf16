//! Rows into Protobuf messages in the Confluent wire format: the output's
//! Arrow schema written as a `.proto` file (one message, nested messages
//! for structs), registered under the subject (the registry checks its
//! compatibility rule there, before any message moves), compiled back by
//! protox, and each row encoded by prost-reflect with the registered id
//! and the message index `[0]` in front.

use std::fmt::Write as _;
use std::ops::Range;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Fields, SchemaRef, TimeUnit};
use prost::Message as _;
use prost_reflect::{DynamicMessage, MapKey, MessageDescriptor, Value};

use crate::client::Registry;
use crate::error::RegistryError;

/// Encodes batches of one schema as Confluent-framed Protobuf, one message a row.
pub struct ProtobufEncoder {
    subject: String,
    id: u32,
    proto: String,
    message: MessageDescriptor,
}

impl std::fmt::Debug for ProtobufEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProtobufEncoder").field("subject", &self.subject).field("id", &self.id).finish_non_exhaustive()
    }
}

impl ProtobufEncoder {
    /// Registers `schema` as the Protobuf message `message` (`pkg.Name`)
    /// under `subject`, and makes the encoder of its rows.
    pub async fn register(
        registry: &Registry,
        subject: &str,
        schema: &SchemaRef,
        message: &str,
    ) -> Result<Self, RegistryError> {
        let unfit = |e: String| RegistryError::Schema {
            subject: subject.into(),
            reason: format!("the output's schema cannot be written as Protobuf: {e}"),
        };
        let proto = proto_file(schema.fields(), message).map_err(unfit)?;
        let file = super::schema::compile(&proto).map_err(unfit)?;
        let descriptor = file.messages().next().ok_or_else(|| unfit("no message was written".into()))?;
        let id = registry.register(subject, &proto, "PROTOBUF").await?;
        tracing::info!(subject, id, "kafka: the output's Protobuf schema is registered");
        Ok(Self { subject: subject.into(), id, proto, message: descriptor })
    }

    /// The registered schema's id.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// The `.proto` text registered.
    pub fn proto(&self) -> &str {
        &self.proto
    }

    /// The rows of `batch` as messages: the bytes, and each message's range in them.
    pub fn encode(&self, batch: &RecordBatch) -> Result<(Vec<u8>, Vec<Range<usize>>), String> {
        let mut bytes = Vec::new();
        let mut ranges = Vec::with_capacity(batch.num_rows());
        let columns: Vec<ArrayRef> = batch.columns().iter().map(readable).collect::<Result<_, _>>()?;
        for row in 0..batch.num_rows() {
            let message = message(&self.message, batch.schema().fields(), &columns, row)
                .map_err(|e| format!("row {row}: {e}"))?;
            let start = bytes.len();
            bytes.extend_from_slice(&crate::frame::header(self.id));
            // The message indexes of the file's first message: the single 0.
            bytes.push(0);
            message.encode(&mut bytes).map_err(|e| format!("row {row}: {e}"))?;
            ranges.push(start..bytes.len());
        }
        Ok((bytes, ranges))
    }
}

/// The `.proto` file of a message named `name` (`pkg.Name`) with `fields`.
fn proto_file(fields: &Fields, name: &str) -> Result<String, String> {
    let (package, name) = name.rsplit_once('.').map_or((None, name), |(p, n)| (Some(p), n));
    let mut body = String::new();
    let mut imports = Vec::new();
    write_message(&mut body, name, fields, 0, &mut imports)?;
    let mut file = String::from("syntax = \"proto3\";\n");
    if let Some(package) = package {
        writeln!(file, "package {package};").expect("writing to a string");
    }
    imports.sort();
    imports.dedup();
    for import in imports {
        writeln!(file, "import \"{import}\";").expect("writing to a string");
    }
    file.push('\n');
    file.push_str(&body);
    Ok(file)
}

fn write_message(
    out: &mut String,
    name: &str,
    fields: &Fields,
    depth: usize,
    imports: &mut Vec<&'static str>,
) -> Result<(), String> {
    let indent = "  ".repeat(depth);
    writeln!(out, "{indent}message {name} {{").expect("writing to a string");
    for (number, field) in fields.iter().enumerate() {
        let at = |e: String| format!("column `{}`: {e}", field.name());
        if !is_identifier(field.name()) {
            return Err(at("not a Protobuf field name (letters, digits and _, not first a digit)".into()));
        }
        let nested = camel(field.name());
        let (label, type_name) = match field.data_type() {
            DataType::List(item) | DataType::LargeList(item) => {
                if matches!(item.data_type(), DataType::List(_) | DataType::LargeList(_) | DataType::Map(_, _)) {
                    return Err(at("a list of lists or maps has no Protobuf type".into()));
                }
                ("repeated ", element(item, &nested, out, depth, imports).map_err(at)?)
            }
            DataType::Map(entries, _) => {
                let DataType::Struct(kv) = entries.data_type() else { unreachable!("map entries are structs") };
                let key = scalar(kv[0].data_type(), imports)
                    .filter(|k| {
                        !matches!(
                            k.as_str(),
                            "double" | "float" | "bytes" | "google.protobuf.Timestamp" | "google.protobuf.Duration"
                        )
                    })
                    .ok_or_else(|| at(format!("a map key of type {} has no Protobuf type", kv[0].data_type())))?;
                if matches!(kv[1].data_type(), DataType::List(_) | DataType::LargeList(_) | DataType::Map(_, _)) {
                    return Err(at("a map of lists or maps has no Protobuf type".into()));
                }
                let value = element(&kv[1], &nested, out, depth, imports).map_err(at)?;
                ("", format!("map<{key}, {value}>"))
            }
            DataType::Struct(_) => ("", element(field, &nested, out, depth, imports).map_err(at)?),
            data_type => {
                let type_name =
                    scalar(data_type, imports).ok_or_else(|| at(format!("type {data_type} has no Protobuf type")))?;
                let label = if field.is_nullable() && !type_name.starts_with("google.") { "optional " } else { "" };
                (label, type_name)
            }
        };
        writeln!(out, "{indent}  {label}{type_name} {} = {};", field.name(), number + 1).expect("writing to a string");
    }
    writeln!(out, "{indent}}}").expect("writing to a string");
    Ok(())
}

/// The type of a list's items, a map's values or a struct field: a nested
/// message named `nested` for a struct (written into `out`), else a scalar.
fn element(
    field: &Field,
    nested: &str,
    out: &mut String,
    depth: usize,
    imports: &mut Vec<&'static str>,
) -> Result<String, String> {
    match field.data_type() {
        DataType::Struct(fields) => {
            write_message(out, nested, fields, depth + 1, imports)?;
            Ok(nested.to_string())
        }
        data_type => scalar(data_type, imports).ok_or_else(|| format!("type {data_type} has no Protobuf type")),
    }
}

/// The Protobuf type of a scalar Arrow type.
fn scalar(data_type: &DataType, imports: &mut Vec<&'static str>) -> Option<String> {
    Some(
        match data_type {
            DataType::Boolean => "bool",
            DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Date32 => "int32",
            DataType::Int64 => "int64",
            DataType::UInt8 | DataType::UInt16 | DataType::UInt32 => "uint32",
            DataType::UInt64 => "uint64",
            DataType::Float16 | DataType::Float32 => "float",
            DataType::Float64 => "double",
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Decimal128(_, _) => "string",
            DataType::Dictionary(_, value) if matches!(value.as_ref(), DataType::Utf8 | DataType::LargeUtf8) => {
                "string"
            }
            DataType::Binary | DataType::LargeBinary | DataType::BinaryView | DataType::FixedSizeBinary(_) => "bytes",
            DataType::Timestamp(_, _) => {
                imports.push("google/protobuf/timestamp.proto");
                "google.protobuf.Timestamp"
            }
            DataType::Duration(_) => {
                imports.push("google/protobuf/duration.proto");
                "google.protobuf.Duration"
            }
            _ => return None,
        }
        .to_string(),
    )
}

fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `page_views` as `PageViews`, the name of a struct column's message.
fn camel(name: &str) -> String {
    name.split('_')
        .filter(|part| !part.is_empty())
        .map(|part| {
            let mut chars = part.chars();
            chars.next().map(|c| c.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
        })
        .collect()
}

/// A column as the encoder reads it: text dictionaries and decimals as
/// text, timestamps and durations in microseconds, small ints widened.
fn readable(column: &ArrayRef) -> Result<ArrayRef, String> {
    let target = match column.data_type() {
        DataType::Dictionary(_, _) | DataType::LargeUtf8 | DataType::Utf8View | DataType::Decimal128(_, _) => {
            Some(DataType::Utf8)
        }
        DataType::Timestamp(unit, zone) if *unit != TimeUnit::Microsecond => {
            Some(DataType::Timestamp(TimeUnit::Microsecond, zone.clone()))
        }
        DataType::Duration(unit) if *unit != TimeUnit::Microsecond => Some(DataType::Duration(TimeUnit::Microsecond)),
        DataType::Int8 | DataType::Int16 | DataType::Date32 => Some(DataType::Int32),
        DataType::UInt8 | DataType::UInt16 => Some(DataType::UInt32),
        DataType::Float16 => Some(DataType::Float32),
        DataType::LargeBinary | DataType::BinaryView | DataType::FixedSizeBinary(_) => Some(DataType::Binary),
        _ => None,
    };
    match target {
        Some(target) => cast(column, &target).map_err(|e| e.to_string()),
        None => Ok(column.clone()),
    }
}

/// Row `row` of `columns` as a message of `descriptor`.
fn message(
    descriptor: &MessageDescriptor,
    fields: &Fields,
    columns: &[ArrayRef],
    row: usize,
) -> Result<DynamicMessage, String> {
    let mut message = DynamicMessage::new(descriptor.clone());
    for ((field, column), proto) in fields.iter().zip(columns).zip(descriptor.fields()) {
        if column.is_null(row) {
            continue;
        }
        let value = match proto.kind().as_message() {
            _ if proto.is_map() => {
                let map = column.as_map().value(row);
                let keys = readable(map.column(0))?;
                let values = readable(map.column(1))?;
                let entry = proto.kind().as_message().expect("a map's kind is its entry").clone();
                let value_field = entry.map_entry_value_field();
                let mut out = std::collections::HashMap::new();
                for i in 0..map.len() {
                    let key = value_of(&keys, i, None)?
                        .and_then(map_key)
                        .ok_or_else(|| format!("column `{}`: a map key is null", field.name()))?;
                    let value = value_of(&values, i, value_field.kind().as_message())?
                        .ok_or_else(|| format!("column `{}`: a map value is null", field.name()))?;
                    out.insert(key, value);
                }
                Value::Map(out)
            }
            nested if proto.is_list() => {
                let items = match column.data_type() {
                    DataType::LargeList(_) => column.as_list::<i64>().value(row),
                    _ => column.as_list::<i32>().value(row),
                };
                let items = readable(&items)?;
                let values = (0..items.len())
                    .map(|i| {
                        value_of(&items, i, nested)?.ok_or_else(|| {
                            format!("column `{}`: item {i} is null, and a repeated field has no nulls", field.name())
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                Value::List(values)
            }
            nested => match value_of(column, row, nested)? {
                Some(value) => value,
                None => continue,
            },
        };
        message.set_field(&proto, value);
    }
    Ok(message)
}

/// A map key of a key column's value.
fn map_key(value: Value) -> Option<MapKey> {
    Some(match value {
        Value::Bool(v) => MapKey::Bool(v),
        Value::I32(v) => MapKey::I32(v),
        Value::I64(v) => MapKey::I64(v),
        Value::U32(v) => MapKey::U32(v),
        Value::U64(v) => MapKey::U64(v),
        Value::String(v) => MapKey::String(v),
        _ => return None,
    })
}

/// The value at `i` of `array` (as [`readable`] made it), a message
/// of `nested` for a struct; `None` when null.
fn value_of(array: &ArrayRef, i: usize, nested: Option<&MessageDescriptor>) -> Result<Option<Value>, String> {
    if array.is_null(i) {
        return Ok(None);
    }
    use arrow::datatypes as t;
    Ok(Some(match array.data_type() {
        DataType::Boolean => Value::Bool(array.as_boolean().value(i)),
        DataType::Int32 => Value::I32(array.as_primitive::<t::Int32Type>().value(i)),
        DataType::Int64 => Value::I64(array.as_primitive::<t::Int64Type>().value(i)),
        DataType::UInt32 => Value::U32(array.as_primitive::<t::UInt32Type>().value(i)),
        DataType::UInt64 => Value::U64(array.as_primitive::<t::UInt64Type>().value(i)),
        DataType::Float32 => Value::F32(array.as_primitive::<t::Float32Type>().value(i)),
        DataType::Float64 => Value::F64(array.as_primitive::<t::Float64Type>().value(i)),
        DataType::Utf8 => Value::String(array.as_string::<i32>().value(i).to_string()),
        DataType::Binary => Value::Bytes(array.as_binary::<i32>().value(i).to_vec().into()),
        DataType::Timestamp(_, _) | DataType::Duration(_) => {
            let micros = match array.data_type() {
                DataType::Timestamp(_, _) => array.as_primitive::<t::TimestampMicrosecondType>().value(i),
                _ => array.as_primitive::<t::DurationMicrosecondType>().value(i),
            };
            let descriptor = nested.ok_or("a time value needs its well-known message")?;
            let mut message = DynamicMessage::new(descriptor.clone());
            message.set_field_by_name("seconds", Value::I64(micros.div_euclid(1_000_000)));
            message.set_field_by_name("nanos", Value::I32((micros.rem_euclid(1_000_000) * 1_000) as i32));
            Value::Message(message)
        }
        DataType::Struct(fields) => {
            let descriptor = nested.ok_or("a struct needs its message")?;
            let columns = array.as_struct().columns().to_vec();
            let columns = columns.iter().map(readable).collect::<Result<Vec<_>, _>>()?;
            Value::Message(message(descriptor, fields, &columns, i)?)
        }
        other => return Err(format!("type {other} has no Protobuf value")),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_schema_with_nesting_and_time_writes_a_proto_file_protox_compiles() {
        let page = Field::new("page", DataType::Struct(vec![Field::new("path", DataType::Utf8, false)].into()), true);
        let fields: Fields = vec![
            Field::new("event_id", DataType::Int64, false),
            Field::new("url", DataType::Utf8, true),
            Field::new("ts", DataType::Timestamp(TimeUnit::Millisecond, None), false),
            page,
            Field::new_list("tags", Field::new("item", DataType::Utf8, false), false),
        ]
        .into();
        let proto = proto_file(&fields, "quiver.tests.Out").unwrap();
        let file = super::super::schema::compile(&proto).unwrap();
        let message = file.messages().next().unwrap();
        assert_eq!(message.full_name(), "quiver.tests.Out");
        assert_eq!(message.get_field_by_name("page").unwrap().kind().as_message().unwrap().name(), "Page");
        assert!(message.get_field_by_name("url").unwrap().supports_presence());
        assert!(message.get_field_by_name("tags").unwrap().is_list());
        let bad: Fields = vec![Field::new("user-id", DataType::Int64, false)].into();
        assert!(proto_file(&bad, "Out").unwrap_err().contains("user-id"));
    }
}
