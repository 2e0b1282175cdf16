//! The output's schema against the table's: what evolution the table needs
//! (columns to add, types to widen), what cannot be written (a changed
//! type, a narrowing, a new required column), and the kernel that shapes
//! each batch as the table's columns before it is written.

use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, new_null_array};
use arrow::datatypes::{DataType, Field, FieldRef, Schema as ArrowSchema, SchemaRef, TimeUnit};
use iceberg::spec::{NestedField, PrimitiveType, Schema, Type};
use serde::Deserialize;

use crate::bridge;
use crate::error::IcebergError;

/// Whether a table's schema follows the output's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SchemaEvolution {
    /// New output columns are added to the table as optional columns, and
    /// `int → long`, `float → double` and decimal precision widenings applied.
    #[default]
    AddColumns,
    /// The table's schema never changes: an output that does not fit it is refused.
    None,
}

/// What the table needs before the output can be written into it.
#[derive(Debug, Default)]
pub struct Evolution {
    /// Output columns the table lacks, with their Iceberg types.
    pub add: Vec<(String, Type)>,
    /// Table columns whose type widens: name, from, to.
    pub widen: Vec<(String, PrimitiveType, PrimitiveType)>,
}

impl Evolution {
    /// Whether the table can take the output as it is.
    pub fn is_empty(&self) -> bool {
        self.add.is_empty() && self.widen.is_empty()
    }
}

/// The output's schema as an Iceberg schema, with ids assigned in order;
/// a type Iceberg has no counterpart for is refused, naming its column.
pub fn iceberg_schema(table: &str, output: &ArrowSchema) -> Result<Schema, IcebergError> {
    for field in output.fields() {
        let single = ArrowSchema::new(vec![field.as_ref().clone()]);
        convert(&single).map_err(|reason| IcebergError::Schema {
            table: table.to_string(),
            column: field.name().clone(),
            reason: format!("{} has no Iceberg type: {reason}", field.data_type()),
        })?;
    }
    convert(output).map_err(|reason| IcebergError::Table { table: table.to_string(), reason })
}

fn convert(schema: &ArrowSchema) -> Result<Schema, String> {
    let fields: Vec<Field> = schema.fields().iter().map(in_micros).collect();
    let schema = ArrowSchema::new_with_metadata(fields, schema.metadata().clone());
    let crossed = bridge::schema_to_58(&schema)?;
    iceberg::arrow::arrow_schema_to_schema_auto_assign_ids(&crossed).map_err(|e| e.message().to_string())
}

/// `field` with its seconds and milliseconds (timestamps, times of day)
/// in microseconds, at any depth: Iceberg keeps only microseconds (and
/// nanoseconds), and Avro's `timestamp-millis` is common. The widening is
/// lossless, and [`conform`] casts each batch to it.
fn in_micros(field: &FieldRef) -> Field {
    let micros = |data_type: &DataType| match data_type {
        DataType::Timestamp(TimeUnit::Second | TimeUnit::Millisecond, zone) => {
            Some(DataType::Timestamp(TimeUnit::Microsecond, zone.clone()))
        }
        DataType::Time32(_) => Some(DataType::Time64(TimeUnit::Microsecond)),
        DataType::List(item) => Some(DataType::List(Arc::new(in_micros(item)))),
        DataType::LargeList(item) => Some(DataType::LargeList(Arc::new(in_micros(item)))),
        DataType::Struct(fields) => Some(DataType::Struct(fields.iter().map(in_micros).collect())),
        DataType::Map(entries, sorted) => Some(DataType::Map(Arc::new(in_micros(entries)), *sorted)),
        _ => None,
    };
    match micros(field.data_type()) {
        Some(data_type) => field.as_ref().clone().with_data_type(data_type),
        None => field.as_ref().clone(),
    }
}

/// Compares the output with the table's current schema: the evolution it
/// needs, or why it cannot be written (naming the column) under `mode`.
pub fn plan(
    table: &str,
    current: &Schema,
    output: &ArrowSchema,
    mode: SchemaEvolution,
) -> Result<Evolution, IcebergError> {
    let wanted = iceberg_schema(table, output)?;
    let refuse = |column: &str, reason: String| IcebergError::Schema {
        table: table.to_string(),
        column: column.to_string(),
        reason,
    };
    let mut evolution = Evolution::default();
    for field in wanted.as_struct().fields() {
        let Some(existing) = current.field_by_name(&field.name) else {
            if field.required {
                return Err(refuse(
                    &field.name,
                    "the output adds it as a required (non-nullable) column, which rows already in the table \
                     cannot have; make the plugin's field nullable"
                        .into(),
                ));
            }
            if mode == SchemaEvolution::None {
                return Err(refuse(
                    &field.name,
                    "the output has it and the table does not; set schema_evolution = \"add-columns\" to add it".into(),
                ));
            }
            evolution.add.push((field.name.clone(), (*field.field_type).clone()));
            continue;
        };
        if existing.required && !field.required {
            return Err(refuse(
                &field.name,
                "the table requires it, but the output's field is nullable; make the plugin's field non-nullable"
                    .into(),
            ));
        }
        match compare(&existing.field_type, &field.field_type) {
            Fit::Same | Fit::Lossless => {}
            Fit::Widen(from, to) if mode == SchemaEvolution::AddColumns => {
                evolution.widen.push((field.name.clone(), from, to))
            }
            Fit::Widen(from, to) => {
                return Err(refuse(
                    &field.name,
                    format!(
                        "the output is {to} where the table is {from}: writing it would narrow its values; \
                         set schema_evolution = \"add-columns\" to widen the column"
                    ),
                ));
            }
            Fit::Changed => {
                return Err(refuse(
                    &field.name,
                    format!(
                        "the table has it as {}, the output as {}: Iceberg cannot change a column's type this way; \
                         write to a new column or a new table",
                        existing.field_type, field.field_type
                    ),
                ));
            }
        }
    }
    for existing in current.as_struct().fields() {
        if existing.required && wanted.field_by_name(&existing.name).is_none() {
            return Err(refuse(&existing.name, "the table requires it, and the output does not have it".into()));
        }
    }
    Ok(evolution)
}

/// How a table column's type takes an output column's.
enum Fit {
    Same,
    /// The output's type is narrower: its values are written widened.
    Lossless,
    /// The table's type must widen from the first to the second.
    Widen(PrimitiveType, PrimitiveType),
    Changed,
}

fn compare(table: &Type, output: &Type) -> Fit {
    use PrimitiveType::*;
    if table == output {
        return Fit::Same;
    }
    let (Type::Primitive(t), Type::Primitive(o)) = (table, output) else {
        return if same_shape(table, output) { Fit::Same } else { Fit::Changed };
    };
    match (t, o) {
        (Long, Int) | (Double, Float) => Fit::Lossless,
        (Int, Long) | (Float, Double) => Fit::Widen(t.clone(), o.clone()),
        (Decimal { precision: tp, scale: ts }, Decimal { precision: op, scale: os }) if ts == os => {
            if op <= tp {
                Fit::Lossless
            } else {
                Fit::Widen(t.clone(), o.clone())
            }
        }
        _ => Fit::Changed,
    }
}

/// Nested types compared without their field ids (the output's are
/// assigned afresh): same names, types and optionality.
fn same_shape(a: &Type, b: &Type) -> bool {
    match (a, b) {
        (Type::Primitive(x), Type::Primitive(y)) => x == y,
        (Type::Struct(x), Type::Struct(y)) => {
            x.fields().len() == y.fields().len() && x.fields().iter().zip(y.fields()).all(|(f, g)| same_field(f, g))
        }
        (Type::List(x), Type::List(y)) => same_field(&x.element_field, &y.element_field),
        (Type::Map(x), Type::Map(y)) => {
            same_field(&x.key_field, &y.key_field) && same_field(&x.value_field, &y.value_field)
        }
        _ => false,
    }
}

fn same_field(a: &NestedField, b: &NestedField) -> bool {
    a.name == b.name && a.required == b.required && same_shape(&a.field_type, &b.field_type)
}

/// The table's schema as the workspace's arrow schema, with the field ids
/// the Parquet writer names columns by.
pub fn arrow_schema(table: &str, schema: &Schema) -> Result<SchemaRef, IcebergError> {
    let crossed = iceberg::arrow::schema_to_arrow_schema(schema).map_err(|e| IcebergError::table(&table, e))?;
    bridge::schema_from_58(&crossed).map(Arc::new).map_err(|reason| IcebergError::Table { table: table.into(), reason })
}

/// `batch` shaped as `target`: columns in the table's order, each cast to
/// the table's type when it differs (a lossless widening), and nulls for
/// the table's columns the output lacks. Columns whose type matches are
/// shared, not copied.
pub fn conform(batch: &RecordBatch, target: &SchemaRef) -> Result<RecordBatch, String> {
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(target.fields().len());
    for field in target.fields() {
        let column = match batch.schema().index_of(field.name()) {
            Ok(i) => {
                let column = batch.column(i);
                if column.data_type() == field.data_type() {
                    column.clone()
                } else {
                    arrow::compute::cast(column, field.data_type())
                        .map_err(|e| format!("column `{}`: {e}", field.name()))?
                }
            }
            Err(_) => new_null_array(field.data_type(), batch.num_rows()),
        };
        columns.push(column);
    }
    RecordBatch::try_new(target.clone(), columns).map_err(|e| e.to_string())
}
