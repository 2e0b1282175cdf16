//! Protobuf schemas as the registry holds them (`.proto` text, or a
//! base64 `FileDescriptorProto` as confluent-kafka's Python client
//! registers them) compiled by protox, and their messages as Arrow types.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Fields, TimeUnit};
use base64::Engine;
use prost::Message;
use prost_reflect::{FieldDescriptor, FileDescriptor, Kind, MessageDescriptor};
use protox::file::{ChainFileResolver, DescriptorSetFileResolver, File, FileResolver, GoogleFileResolver};

/// The name a schema's `.proto` text is compiled under.
const TEXT_NAME: &str = "registered.proto";

/// Compiles a registered schema: its file, with the well-known types it imports.
pub(crate) fn compile(schema: &str) -> Result<FileDescriptor, String> {
    let mut chain = ChainFileResolver::new();
    let name = match descriptor(schema) {
        Some(file) => {
            let name = file.name().to_string();
            chain.add(DescriptorSetFileResolver::new(prost_types::FileDescriptorSet { file: vec![file] }));
            name
        }
        None => {
            let file =
                File::from_source(TEXT_NAME, schema).map_err(|e| format!("the .proto text does not parse: {e}"))?;
            chain.add(Text(file));
            TEXT_NAME.to_string()
        }
    };
    chain.add(GoogleFileResolver::new());
    let mut compiler = protox::Compiler::with_file_resolver(chain);
    compiler.include_imports(true);
    compiler.open_file(&name).map_err(|e| match e.is_file_not_found() {
        true => format!("{e}: it imports a file other than the well-known types, and schema references are not read"),
        false => e.to_string(),
    })?;
    compiler.descriptor_pool().get_file_by_name(&name).ok_or_else(|| format!("{name} is not in the compiled schema"))
}

/// The schema as a base64 `FileDescriptorProto`, if it is one.
fn descriptor(schema: &str) -> Option<prost_types::FileDescriptorProto> {
    if schema.contains(char::is_whitespace) {
        return None;
    }
    let bytes = base64::engine::general_purpose::STANDARD.decode(schema.trim()).ok()?;
    let file = prost_types::FileDescriptorProto::decode(bytes.as_slice()).ok()?;
    (!file.message_type.is_empty()).then_some(file)
}

/// The one `.proto` file given as text.
struct Text(File);

impl FileResolver for Text {
    fn open_file(&self, name: &str) -> Result<File, protox::Error> {
        match name == TEXT_NAME {
            true => Ok(self.0.clone()),
            false => Err(protox::Error::file_not_found(name)),
        }
    }
}

/// The message of `file` that `indexes` points at: a top-level message,
/// then a nested one at each further index (the Confluent framing).
pub(crate) fn message_at(file: &FileDescriptor, indexes: &[i64]) -> Option<MessageDescriptor> {
    let (&first, rest) = indexes.split_first()?;
    let mut message = file.messages().nth(usize::try_from(first).ok()?)?;
    for &index in rest {
        let child = message.child_messages().nth(usize::try_from(index).ok()?)?;
        message = child;
    }
    Some(message)
}

/// The well-known wrapper and time messages read as one Arrow value.
pub(crate) fn well_known(message: &MessageDescriptor) -> Option<DataType> {
    Some(match message.full_name() {
        "google.protobuf.Timestamp" => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        "google.protobuf.Duration" => DataType::Duration(TimeUnit::Microsecond),
        "google.protobuf.DoubleValue" => DataType::Float64,
        "google.protobuf.FloatValue" => DataType::Float32,
        "google.protobuf.Int64Value" => DataType::Int64,
        "google.protobuf.UInt64Value" => DataType::UInt64,
        "google.protobuf.Int32Value" => DataType::Int32,
        "google.protobuf.UInt32Value" => DataType::UInt32,
        "google.protobuf.BoolValue" => DataType::Boolean,
        "google.protobuf.StringValue" => DataType::Utf8,
        "google.protobuf.BytesValue" => DataType::Binary,
        _ => return None,
    })
}

/// The Arrow fields of `message`'s fields, in field order; a message that
/// contains itself is refused, since an Arrow type is finite.
pub(crate) fn fields(message: &MessageDescriptor) -> Result<Fields, String> {
    let mut within = vec![message.full_name().to_string()];
    struct_fields(message, &mut within)
}

fn struct_fields(message: &MessageDescriptor, within: &mut Vec<String>) -> Result<Fields, String> {
    message.fields().map(|f| field(&f, within).map(Arc::new)).collect::<Result<Vec<_>, _>>().map(Fields::from)
}

/// A field as Arrow holds it: repeated fields as non-null lists, maps as
/// maps, fields with presence (messages, `optional`, `oneof` members) nullable.
fn field(field: &FieldDescriptor, within: &mut Vec<String>) -> Result<Field, String> {
    let data_type = if field.is_map() {
        let Kind::Message(entry) = field.kind() else { unreachable!("a map field's kind is its entry message") };
        let key = Field::new("key", kind(&entry.map_entry_key_field(), within)?, false);
        let value = Field::new("value", kind(&entry.map_entry_value_field(), within)?, true);
        let entries = Field::new("entries", DataType::Struct(vec![key, value].into()), false);
        DataType::Map(Arc::new(entries), false)
    } else if field.is_list() {
        let item = Field::new("item", kind(field, within)?, element_nullable(field));
        DataType::List(Arc::new(with_symbols(item, field)))
    } else {
        kind(field, within)?
    };
    let nullable = !field.is_list() && !field.is_map() && field.supports_presence();
    let arrow = Field::new(field.name(), data_type, nullable);
    Ok(if field.is_list() { arrow } else { with_symbols(arrow, field) })
}

/// `arrow` with the symbols of `field`'s enum, if it is one, in the
/// metadata key arrow-avro gives an Avro enum's: validation checks them,
/// and an Avro sink writes the column as that enum.
fn with_symbols(arrow: Field, field: &FieldDescriptor) -> Field {
    let Kind::Enum(e) = field.kind() else { return arrow };
    let symbols: Vec<String> = e.values().map(|v| v.name().to_string()).collect();
    let symbols = serde_json::to_string(&symbols).expect("names serialize");
    arrow.with_metadata([(crate::ENUM_SYMBOLS.to_string(), symbols)])
}

/// Whether a repeated field's elements may be null: wrapped values may.
fn element_nullable(field: &FieldDescriptor) -> bool {
    matches!(field.kind(), Kind::Message(m) if well_known(&m).is_some())
}

/// The Arrow type of one value of `field`.
fn kind(field: &FieldDescriptor, within: &mut Vec<String>) -> Result<DataType, String> {
    Ok(match field.kind() {
        Kind::Double => DataType::Float64,
        Kind::Float => DataType::Float32,
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => DataType::Int32,
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => DataType::Int64,
        Kind::Uint32 | Kind::Fixed32 => DataType::UInt32,
        Kind::Uint64 | Kind::Fixed64 => DataType::UInt64,
        Kind::Bool => DataType::Boolean,
        Kind::String => DataType::Utf8,
        Kind::Bytes => DataType::Binary,
        Kind::Enum(_) => DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
        Kind::Message(message) => match well_known(&message) {
            Some(data_type) => data_type,
            None => {
                let name = message.full_name().to_string();
                if within.contains(&name) {
                    return Err(format!(
                        "field `{}` holds message {name}, which contains itself: Arrow cannot hold a recursive type",
                        field.full_name()
                    ));
                }
                within.push(name);
                let fields = struct_fields(&message, within)?;
                within.pop();
                DataType::Struct(fields)
            }
        },
    })
}
