//! JSON Schema and Arrow types, both ways: the columns a subject's schema
//! describes, and the schema that describes an output's columns.
//!
//! Reading, from the keywords Confluent's and Apicurio's serializers emit:
//! - `object` with `properties` → struct (a property is nullable unless it
//!   is `required` and its type excludes `null`); `object` with only
//!   `additionalProperties: {schema}` → map of text keys;
//! - `array` with `items` → list;
//! - `integer` → int64 (`connect.type` `int8`, `int16`, `int32` narrow it),
//!   `number` → float64 (`float32` narrows it), `boolean` → boolean;
//! - `string` → text; `format` `date-time` → timestamp µs UTC, `date` →
//!   date, `time` → time µs; `enum` of strings → dictionary text, its
//!   symbols in the field's metadata;
//! - `type: [T, "null"]`, and `oneOf`/`anyOf` of one schema and
//!   `{"type": "null"}` → nullable T;
//! - `$ref` to `#/definitions/…` or `#/$defs/…` → the schema it points to.
//!
//! Refused, naming the property: other unions, tuples, objects with no
//! declared properties, recursive `$ref`s, and references to other
//! documents (schema references).

use std::collections::HashMap;
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Fields, TimeUnit};
use serde_json::{Map, Value, json};

use crate::ENUM_SYMBOLS;

/// The columns of `root`, an object schema.
pub(crate) fn fields(root: &Value) -> Result<Fields, String> {
    let mut reading = Reading { root, stack: Vec::new() };
    match reading.data_type(root, "")? {
        (DataType::Struct(fields), _, _) => Ok(fields),
        (other, _, _) => Err(format!("the schema describes {other}, not an object with properties")),
    }
}

/// The schema being read, and the `$ref`s being followed (to refuse a cycle).
struct Reading<'a> {
    root: &'a Value,
    stack: Vec<String>,
}

/// A property's type, whether it may be null, and its field metadata.
type Typed = (DataType, bool, HashMap<String, String>);

impl<'a> Reading<'a> {
    fn data_type(&mut self, schema: &'a Value, at: &str) -> Result<Typed, String> {
        let fault = |reason: String| format!("{}: {reason}", if at.is_empty() { "the root" } else { at });
        let Some(object) = schema.as_object() else {
            return match schema {
                Value::Bool(true) => Err(fault("any value at all (`true`) has no Arrow type".into())),
                _ => Err(fault("not a schema object".into())),
            };
        };
        if let Some(reference) = object.get("$ref").and_then(Value::as_str) {
            return self.reference(reference, at);
        }
        for key in ["oneOf", "anyOf"] {
            if let Some(members) = object.get(key).and_then(Value::as_array) {
                let (nulls, others): (Vec<&Value>, Vec<&Value>) = members.iter().partition(|m| is_null(m));
                return match others.as_slice() {
                    [only] => {
                        let (data_type, nullable, metadata) = self.data_type(only, at)?;
                        Ok((data_type, nullable || !nulls.is_empty(), metadata))
                    }
                    _ => Err(fault(format!(
                        "`{key}` of {} schemas besides null: Arrow holds one type a column; make it one schema",
                        others.len()
                    ))),
                };
            }
        }
        if let Some(members) = object.get("allOf").and_then(Value::as_array) {
            return match members.as_slice() {
                [only] => self.data_type(only, at),
                _ => Err(fault("`allOf` of several schemas is not read; merge them into one".into())),
            };
        }
        let (kind, nullable) = kind(object).map_err(fault)?;
        let connect = object.get("connect.type").and_then(Value::as_str);
        let mut metadata = HashMap::new();
        let data_type = match kind.as_str() {
            "integer" => match connect {
                Some("int8") => DataType::Int8,
                Some("int16") => DataType::Int16,
                Some("int32") => DataType::Int32,
                _ => DataType::Int64,
            },
            "number" => match connect {
                Some("float32") => DataType::Float32,
                _ => DataType::Float64,
            },
            "boolean" => DataType::Boolean,
            "string" => match (object.get("enum"), object.get("format").and_then(Value::as_str)) {
                (Some(symbols), _) => {
                    let symbols: Vec<&str> = symbols
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter(|s| !s.is_null())
                        .map(|s| s.as_str().ok_or_else(|| fault("an `enum` of strings must hold only strings".into())))
                        .collect::<Result<_, _>>()?;
                    metadata.insert(ENUM_SYMBOLS.to_string(), serde_json::to_string(&symbols).expect("strings"));
                    DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
                }
                (None, Some("date-time")) => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                (None, Some("date")) => DataType::Date32,
                (None, Some("time")) => DataType::Time64(TimeUnit::Microsecond),
                (None, _) => DataType::Utf8,
            },
            "array" => match object.get("items") {
                Some(items) if items.is_object() => {
                    let (item, item_nullable, item_metadata) = self.data_type(items, &format!("{at}[]"))?;
                    let item = Field::new("item", item, item_nullable).with_metadata(item_metadata);
                    DataType::List(Arc::new(item))
                }
                _ => return Err(fault("an array needs one `items` schema (tuples are not read)".into())),
            },
            "object" => self.object(object, at)?,
            other => return Err(fault(format!("type `{other}` has no Arrow type"))),
        };
        Ok((data_type, nullable, metadata))
    }

    fn object(&mut self, object: &'a Map<String, Value>, at: &str) -> Result<DataType, String> {
        let required: Vec<&str> =
            object.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect();
        if let Some(properties) = object.get("properties").and_then(Value::as_object) {
            let fields = properties
                .iter()
                .map(|(name, property)| {
                    let path = if at.is_empty() { name.clone() } else { format!("{at}.{name}") };
                    let (data_type, nullable, metadata) = self.data_type(property, &path)?;
                    let nullable = nullable || !required.contains(&name.as_str());
                    Ok(Field::new(name, data_type, nullable).with_metadata(metadata))
                })
                .collect::<Result<Vec<Field>, String>>()?;
            return Ok(DataType::Struct(fields.into()));
        }
        match object.get("additionalProperties") {
            Some(values) if values.is_object() => {
                let (value, value_nullable, metadata) = self.data_type(values, &format!("{at}{{}}"))?;
                let entries = Fields::from(vec![
                    Field::new("key", DataType::Utf8, false),
                    Field::new("value", value, value_nullable).with_metadata(metadata),
                ]);
                Ok(DataType::Map(Arc::new(Field::new("entries", DataType::Struct(entries), false)), false))
            }
            _ => Err(format!(
                "{}: an object with no `properties` (nor an `additionalProperties` schema) has no Arrow type; declare its properties",
                if at.is_empty() { "the root" } else { at }
            )),
        }
    }

    fn reference(&mut self, reference: &str, at: &str) -> Result<Typed, String> {
        let fault = |reason: String| format!("{}: {reason}", if at.is_empty() { "the root" } else { at });
        let Some(pointer) = reference.strip_prefix('#') else {
            return Err(fault(format!(
                "`$ref` to `{reference}`, another document: schema references are not read; inline the schema"
            )));
        };
        if self.stack.iter().any(|r| r == reference) {
            return Err(fault(format!("`$ref` to `{reference}` is recursive, and Arrow types are finite")));
        }
        let root = self.root;
        let target =
            root.pointer(pointer).ok_or_else(|| fault(format!("`$ref` to `{reference}`: nothing is there")))?;
        self.stack.push(reference.to_string());
        let typed = self.data_type(target, at);
        self.stack.pop();
        typed
    }
}

fn is_null(schema: &Value) -> bool {
    schema.get("type").and_then(Value::as_str) == Some("null")
}

/// The one type a schema object names (`null` set apart), inferred from
/// its keywords when it has no `type`.
fn kind(object: &Map<String, Value>) -> Result<(String, bool), String> {
    let types: Vec<&str> = match object.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).collect(),
        Some(other) => return Err(format!("`type` must be a string or a list of strings, not {other}")),
        None if object.contains_key("properties") || object.contains_key("additionalProperties") => vec!["object"],
        None if object.contains_key("items") => vec!["array"],
        None if object
            .get("enum")
            .and_then(Value::as_array)
            .is_some_and(|e| e.iter().all(|s| s.is_string() || s.is_null())) =>
        {
            vec!["string"]
        }
        None if object.get("const").is_some_and(Value::is_string) => vec!["string"],
        None => return Err("no `type`, and no keyword to tell it by".into()),
    };
    let nullable = types.contains(&"null");
    let others: Vec<&str> = types.into_iter().filter(|t| *t != "null").collect();
    match others.as_slice() {
        [one] => Ok((one.to_string(), nullable)),
        ["integer", "number"] | ["number", "integer"] => Ok(("number".into(), nullable)),
        [] => Err("only `null` is allowed, which has no Arrow type".into()),
        many => Err(format!("a union of types {many:?}: Arrow holds one type a column")),
    }
}

/// The JSON Schema (draft 7) of rows of `fields`, titled `title`, as
/// arrow-json writes them: what the sink registers.
pub(crate) fn describe(fields: &Fields, title: &str) -> Result<Value, String> {
    let mut root = object_schema(fields, "")?;
    let object = root.as_object_mut().expect("an object schema");
    object.insert("$schema".into(), json!("http://json-schema.org/draft-07/schema#"));
    object.insert("title".into(), json!(title));
    Ok(root)
}

fn object_schema(fields: &Fields, at: &str) -> Result<Value, String> {
    let mut properties = Map::new();
    let mut required = Vec::new();
    for field in fields {
        let path = if at.is_empty() { field.name().clone() } else { format!("{at}.{}", field.name()) };
        properties.insert(field.name().clone(), field_schema(field, &path)?);
        if !field.is_nullable() {
            required.push(json!(field.name()));
        }
    }
    Ok(json!({ "type": "object", "properties": properties, "required": required }))
}

fn field_schema(field: &Field, at: &str) -> Result<Value, String> {
    let mut schema = type_schema(field.data_type(), at)?;
    if let Some(symbols) = field.metadata().get(ENUM_SYMBOLS)
        && let Ok(symbols) = serde_json::from_str::<Vec<String>>(symbols)
        && matches!(field.data_type(), DataType::Dictionary(_, _))
    {
        schema["enum"] = json!(symbols);
    }
    if field.is_nullable() {
        let named = schema["type"].take();
        schema["type"] = json!([named, "null"]);
        if let Some(symbols) = schema.get_mut("enum").and_then(Value::as_array_mut) {
            symbols.push(Value::Null);
        }
    }
    Ok(schema)
}

fn type_schema(data_type: &DataType, at: &str) -> Result<Value, String> {
    Ok(match data_type {
        DataType::Int8 => json!({"type": "integer", "connect.type": "int8"}),
        DataType::Int16 => json!({"type": "integer", "connect.type": "int16"}),
        DataType::Int32 => json!({"type": "integer", "connect.type": "int32"}),
        DataType::Int64 | DataType::UInt8 | DataType::UInt16 | DataType::UInt32 | DataType::UInt64 => {
            json!({"type": "integer"})
        }
        DataType::Float32 => json!({"type": "number", "connect.type": "float32"}),
        DataType::Float16 | DataType::Float64 => json!({"type": "number"}),
        DataType::Decimal32(..) | DataType::Decimal64(..) | DataType::Decimal128(..) | DataType::Decimal256(..) => {
            json!({"type": "number"})
        }
        DataType::Boolean => json!({"type": "boolean"}),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => json!({"type": "string"}),
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView | DataType::FixedSizeBinary(_) => {
            json!({"type": "string", "contentEncoding": "base16"})
        }
        DataType::Timestamp(_, Some(_)) => json!({"type": "string", "format": "date-time"}),
        DataType::Timestamp(_, None) => json!({"type": "string"}),
        DataType::Date32 | DataType::Date64 => json!({"type": "string", "format": "date"}),
        DataType::Time32(_) | DataType::Time64(_) => json!({"type": "string", "format": "time"}),
        DataType::Dictionary(_, value) if value.is_string() => json!({"type": "string"}),
        DataType::List(item) | DataType::LargeList(item) | DataType::FixedSizeList(item, _) => {
            json!({"type": "array", "items": field_schema(item, &format!("{at}[]"))?})
        }
        DataType::Struct(fields) => object_schema(fields, at)?,
        DataType::Map(entries, _) => match entries.data_type() {
            DataType::Struct(kv) if kv.len() == 2 && kv[0].data_type().is_string() => {
                json!({"type": "object", "additionalProperties": field_schema(&kv[1], &format!("{at}{{}}"))?})
            }
            _ => return Err(format!("column `{at}`: a map whose keys are not text cannot be a JSON object")),
        },
        other => return Err(format!("column `{at}`: {other} has no JSON Schema type")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_keywords_serializers_emit_become_columns() {
        let schema = json!({
            "type": "object",
            "definitions": {"Address": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}},
            "properties": {
                "id": {"type": "integer"},
                "small": {"type": "integer", "connect.type": "int32"},
                "name": {"type": ["string", "null"]},
                "at": {"type": "string", "format": "date-time"},
                "day": {"type": "string", "format": "date"},
                "level": {"enum": ["LOW", "HIGH"]},
                "tags": {"type": "array", "items": {"type": "string"}},
                "attrs": {"type": "object", "additionalProperties": {"type": "number"}},
                "home": {"oneOf": [{"type": "null"}, {"$ref": "#/definitions/Address"}]}
            },
            "required": ["id", "small", "name", "level"]
        });
        let fields = fields(&schema).unwrap();
        let by = |name: &str| fields.find(name).unwrap().1.clone();
        assert_eq!(by("id").data_type(), &DataType::Int64);
        assert!(!by("id").is_nullable());
        assert_eq!(by("small").data_type(), &DataType::Int32);
        assert!(by("name").is_nullable(), "required, but its type allows null");
        assert_eq!(by("at").data_type(), &DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())));
        assert!(by("at").is_nullable(), "not required");
        assert_eq!(by("day").data_type(), &DataType::Date32);
        assert!(matches!(by("level").data_type(), DataType::Dictionary(_, _)));
        assert_eq!(by("level").metadata()[ENUM_SYMBOLS], r#"["LOW","HIGH"]"#);
        assert!(matches!(by("tags").data_type(), DataType::List(_)));
        assert!(matches!(by("attrs").data_type(), DataType::Map(_, _)));
        let DataType::Struct(home) = by("home").data_type().clone() else { panic!() };
        assert!(by("home").is_nullable());
        assert!(!home[0].is_nullable());
    }

    #[test]
    fn what_arrow_cannot_hold_is_refused_naming_the_property() {
        for (schema, says) in [
            (json!({"type": "object", "properties": {"a": {"type": ["string", "integer"]}}}), "a: a union"),
            (json!({"type": "object", "properties": {"a": {"type": "object"}}}), "a: an object with no"),
            (json!({"type": "object", "properties": {"a": {"$ref": "other.json"}}}), "a: `$ref` to `other.json`"),
            (
                json!({"type": "object", "definitions": {"N": {"type": "object", "properties": {"next": {"$ref": "#/definitions/N"}}}},
                       "properties": {"n": {"$ref": "#/definitions/N"}}}),
                "n.next: `$ref` to `#/definitions/N` is recursive",
            ),
            (
                json!({"type": "object", "properties": {"t": {"type": "array", "items": [{"type": "string"}]}}}),
                "t: an array",
            ),
            (
                json!({"type": "object", "properties": {"u": {"oneOf": [{"type": "string"}, {"type": "integer"}]}}}),
                "u: `oneOf` of 2",
            ),
        ] {
            let error = fields(&schema).unwrap_err();
            assert!(error.starts_with(says), "{error}");
        }
    }

    #[test]
    fn an_output_is_described_as_it_is_written() {
        let fields = fields(&json!({
            "type": "object",
            "properties": {"id": {"type": "integer"}, "level": {"enum": ["LOW", "HIGH"]}, "tags": {"type": "array", "items": {"type": "string"}}},
            "required": ["id"]
        }))
        .unwrap();
        let described = describe(&fields, "t.Click").unwrap();
        assert_eq!(described["required"], json!(["id"]));
        assert_eq!(described["properties"]["level"]["enum"], json!(["LOW", "HIGH", null]));
        assert_eq!(described["properties"]["tags"]["type"], json!(["array", "null"]));
        assert_eq!(self::fields(&described).unwrap(), fields, "read back, the same columns");
    }
}
