//! Decoded Protobuf messages into Arrow columns, a field at a time: each
//! field's values across the rows are gathered and built into one array,
//! nested messages as structs, repeated fields as lists, maps as maps.

use std::borrow::Cow;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BinaryArray, BooleanArray, DurationMicrosecondArray, Float32Array, Float64Array, Int32Array, Int64Array,
    ListArray, MapArray, NullBufferBuilder, StringArray, StructArray, TimestampMicrosecondArray, UInt32Array,
    UInt64Array,
};
use arrow::buffer::OffsetBuffer;
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Fields};
use prost_reflect::{DynamicMessage, FieldDescriptor, Kind, MapKey, MessageDescriptor, Value};

use super::schema::well_known;

/// The columns of `fields` (the Arrow fields of `message`) for `rows`; a
/// `None` row is a null parent, whose children hold defaults.
pub(crate) fn columns(
    message: &MessageDescriptor,
    fields: &Fields,
    rows: &[Option<&DynamicMessage>],
) -> Result<Vec<ArrayRef>, String> {
    message.fields().zip(fields.iter()).map(|(descriptor, field)| column(&descriptor, field, rows)).collect()
}

/// One field's column: its value in each row, null where it has presence and is unset.
fn column(descriptor: &FieldDescriptor, field: &Field, rows: &[Option<&DynamicMessage>]) -> Result<ArrayRef, String> {
    let present = descriptor.supports_presence() && !descriptor.is_list() && !descriptor.is_map();
    let values: Vec<Option<Cow<'_, Value>>> = rows
        .iter()
        .map(|row| match row {
            Some(m) if present && !m.has_field(descriptor) => None,
            Some(m) => Some(m.get_field(descriptor)),
            None if present => None,
            None => Some(Cow::Owned(Value::default_value_for_field(descriptor))),
        })
        .collect();
    let values: Vec<Option<&Value>> = values.iter().map(Option::as_deref).collect();
    let at = |e: String| format!("field `{}`: {e}", descriptor.name());
    if descriptor.is_map() {
        let Kind::Message(entry) = descriptor.kind() else { unreachable!("a map field's kind is its entry message") };
        map(&entry, field.data_type(), &values).map_err(at)
    } else if descriptor.is_list() {
        let DataType::List(item) = field.data_type() else { unreachable!("repeated fields are lists") };
        let mut offsets = Vec::with_capacity(values.len() + 1);
        offsets.push(0i32);
        let mut items: Vec<Option<&Value>> = Vec::new();
        for value in &values {
            if let Some(list) = value.and_then(|v| v.as_list()) {
                items.extend(list.iter().map(Some));
            }
            offsets.push(i32::try_from(items.len()).map_err(|_| at("more than 2^31 list items".into()))?);
        }
        let items = array(&descriptor.kind(), item.data_type(), &items).map_err(at)?;
        let list = ListArray::try_new(item.clone(), OffsetBuffer::new(offsets.into()), items, None);
        Ok(Arc::new(list.map_err(|e| at(e.to_string()))?))
    } else {
        array(&descriptor.kind(), field.data_type(), &values).map_err(at)
    }
}

/// The array of single values of `kind`, as `data_type`.
fn array(kind: &Kind, data_type: &DataType, values: &[Option<&Value>]) -> Result<ArrayRef, String> {
    macro_rules! primitive {
        ($array:ty, $as:ident) => {
            Arc::new(values.iter().map(|v| v.and_then(|v| v.$as())).collect::<$array>()) as ArrayRef
        };
    }
    Ok(match kind {
        Kind::Double => primitive!(Float64Array, as_f64),
        Kind::Float => primitive!(Float32Array, as_f32),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => primitive!(Int32Array, as_i32),
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => primitive!(Int64Array, as_i64),
        Kind::Uint32 | Kind::Fixed32 => primitive!(UInt32Array, as_u32),
        Kind::Uint64 | Kind::Fixed64 => primitive!(UInt64Array, as_u64),
        Kind::Bool => primitive!(BooleanArray, as_bool),
        Kind::String => Arc::new(values.iter().map(|v| v.and_then(|v| v.as_str())).collect::<StringArray>()),
        Kind::Bytes => {
            Arc::new(values.iter().map(|v| v.and_then(|v| v.as_bytes()).map(|b| b.as_ref())).collect::<BinaryArray>())
        }
        Kind::Enum(e) => {
            let names: StringArray = values
                .iter()
                .map(|v| {
                    v.and_then(|v| v.as_enum_number()).map(|n| match e.get_value(n) {
                        Some(symbol) => symbol.name().to_string(),
                        // Proto3 enums are open: a number the schema does not name is kept as the number.
                        None => n.to_string(),
                    })
                })
                .collect();
            cast(&names, data_type).map_err(|e| e.to_string())?
        }
        Kind::Message(message) => {
            let messages: Vec<Option<&DynamicMessage>> =
                values.iter().map(|v| v.and_then(|v| v.as_message())).collect();
            match well_known(message) {
                Some(_) => wrapped(message, data_type, &messages)?,
                None => {
                    let DataType::Struct(fields) = data_type else { unreachable!("messages are structs") };
                    let children = columns(message, fields, &messages)?;
                    let mut nulls = NullBufferBuilder::new(messages.len());
                    messages.iter().for_each(|m| nulls.append(m.is_some()));
                    Arc::new(StructArray::try_new(fields.clone(), children, nulls.finish()).map_err(|e| e.to_string())?)
                }
            }
        }
    })
}

/// A well-known message's values: a timestamp or duration in microseconds, or a wrapper's value.
fn wrapped(
    message: &MessageDescriptor,
    data_type: &DataType,
    rows: &[Option<&DynamicMessage>],
) -> Result<ArrayRef, String> {
    let get = |m: &DynamicMessage, name: &str| m.get_field_by_name(name).map(Cow::into_owned);
    match message.full_name() {
        "google.protobuf.Timestamp" | "google.protobuf.Duration" => {
            let micros = rows.iter().map(|m| {
                m.map(|m| {
                    let seconds = get(m, "seconds").and_then(|v| v.as_i64()).unwrap_or_default();
                    let nanos = get(m, "nanos").and_then(|v| v.as_i32()).unwrap_or_default();
                    seconds.saturating_mul(1_000_000).saturating_add(i64::from(nanos) / 1_000)
                })
            });
            Ok(match message.full_name() {
                "google.protobuf.Timestamp" => {
                    Arc::new(micros.collect::<TimestampMicrosecondArray>().with_timezone("UTC"))
                }
                _ => Arc::new(micros.collect::<DurationMicrosecondArray>()),
            })
        }
        _ => {
            let value = message.get_field_by_name("value").expect("a wrapper has a value field");
            let inner: Vec<Option<Value>> = rows.iter().map(|m| m.map(|m| m.get_field(&value).into_owned())).collect();
            let inner: Vec<Option<&Value>> = inner.iter().map(Option::as_ref).collect();
            array(&value.kind(), data_type, &inner)
        }
    }
}

/// A map field's column, its entries in key order.
fn map(entry: &MessageDescriptor, data_type: &DataType, values: &[Option<&Value>]) -> Result<ArrayRef, String> {
    let DataType::Map(entries, sorted) = data_type else { unreachable!("map fields are maps") };
    let DataType::Struct(fields) = entries.data_type() else { unreachable!("map entries are structs") };
    let (key, value) = (entry.map_entry_key_field(), entry.map_entry_value_field());
    let mut offsets = Vec::with_capacity(values.len() + 1);
    offsets.push(0i32);
    let mut keys: Vec<Value> = Vec::new();
    let mut items: Vec<&Value> = Vec::new();
    for v in values {
        if let Some(map) = v.and_then(|v| v.as_map()) {
            let mut pairs: Vec<(&MapKey, &Value)> = map.iter().collect();
            pairs.sort_by(|a, b| a.0.cmp(b.0));
            for (k, v) in pairs {
                keys.push(Value::from(k.clone()));
                items.push(v);
            }
        }
        offsets.push(i32::try_from(keys.len()).map_err(|_| "more than 2^31 map entries".to_string())?);
    }
    let keys: Vec<Option<&Value>> = keys.iter().map(Some).collect();
    let items: Vec<Option<&Value>> = items.into_iter().map(Some).collect();
    let keys = array(&key.kind(), fields[0].data_type(), &keys)?;
    let items = array(&value.kind(), fields[1].data_type(), &items)?;
    let entries_array = StructArray::try_new(fields.clone(), vec![keys, items], None).map_err(|e| e.to_string())?;
    let map = MapArray::try_new(entries.clone(), OffsetBuffer::new(offsets.into()), entries_array, None, *sorted);
    Ok(Arc::new(map.map_err(|e| e.to_string())?))
}
