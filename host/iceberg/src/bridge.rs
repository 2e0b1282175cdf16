//! Crossing between the workspace's arrow (60) and the arrow iceberg-rust
//! is built on (58) through the Arrow C data interface: the buffers are
//! handed over, never copied, and the release callback goes with them.
//!
//! Both crates define the interface's structs `#[repr(C)]` after the same
//! specification, so one version's struct is the other's.

use arrow::array::{Array, RecordBatch, StructArray};
use arrow::datatypes::Schema;

use arrow_array_58 as arrow58;
use arrow_schema_58 as schema58;

/// A batch of the workspace's arrow as a batch of iceberg-rust's.
pub fn batch_to_58(batch: &RecordBatch) -> Result<arrow58::RecordBatch, String> {
    let data = StructArray::from(batch.clone()).into_data();
    let (array, schema) = arrow::ffi::to_ffi(&data).map_err(|e| e.to_string())?;
    // SAFETY: the same C struct in two versions of the crate (see the module's documentation).
    let (array, schema) = unsafe {
        (
            std::mem::transmute::<arrow::ffi::FFI_ArrowArray, arrow58::ffi::FFI_ArrowArray>(array),
            std::mem::transmute::<arrow::ffi::FFI_ArrowSchema, schema58::ffi::FFI_ArrowSchema>(schema),
        )
    };
    // SAFETY: `array` and `schema` were exported together just above.
    let data = unsafe { arrow58::ffi::from_ffi(array, &schema) }.map_err(|e| e.to_string())?;
    let crossed = arrow58::StructArray::from(data);
    let schema = schema_to_58(batch.schema().as_ref())?;
    arrow58::RecordBatch::try_new(std::sync::Arc::new(schema), crossed.columns().to_vec()).map_err(|e| e.to_string())
}

/// A batch of iceberg-rust's arrow (as its reader returns them) as a batch
/// of the workspace's.
pub fn batch_from_58(batch: &arrow58::RecordBatch) -> Result<RecordBatch, String> {
    let data = arrow58::Array::into_data(arrow58::StructArray::from(batch.clone()));
    let (array, schema) = arrow58::ffi::to_ffi(&data).map_err(|e| e.to_string())?;
    // SAFETY: the same C struct in two versions of the crate (see the module's documentation).
    let (array, schema) = unsafe {
        (
            std::mem::transmute::<arrow58::ffi::FFI_ArrowArray, arrow::ffi::FFI_ArrowArray>(array),
            std::mem::transmute::<schema58::ffi::FFI_ArrowSchema, arrow::ffi::FFI_ArrowSchema>(schema),
        )
    };
    // SAFETY: `array` and `schema` were exported together just above.
    let data = unsafe { arrow::ffi::from_ffi(array, &schema) }.map_err(|e| e.to_string())?;
    let crossed = StructArray::from(data);
    let schema = schema_from_58(batch.schema().as_ref())?;
    RecordBatch::try_new(std::sync::Arc::new(schema), crossed.columns().to_vec()).map_err(|e| e.to_string())
}

/// A schema of the workspace's arrow as one of iceberg-rust's, field
/// metadata included.
pub fn schema_to_58(schema: &Schema) -> Result<schema58::Schema, String> {
    let ffi = arrow::ffi::FFI_ArrowSchema::try_from(schema).map_err(|e| e.to_string())?;
    // SAFETY: the same C struct in two versions of the crate.
    let ffi = unsafe { std::mem::transmute::<arrow::ffi::FFI_ArrowSchema, schema58::ffi::FFI_ArrowSchema>(ffi) };
    schema58::Schema::try_from(&ffi).map_err(|e| e.to_string())
}

/// A schema of iceberg-rust's arrow as one of the workspace's.
pub fn schema_from_58(schema: &schema58::Schema) -> Result<Schema, String> {
    let ffi = schema58::ffi::FFI_ArrowSchema::try_from(schema).map_err(|e| e.to_string())?;
    // SAFETY: the same C struct in two versions of the crate.
    let ffi = unsafe { std::mem::transmute::<schema58::ffi::FFI_ArrowSchema, arrow::ffi::FFI_ArrowSchema>(ffi) };
    Schema::try_from(&ffi).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field};
    use arrow58::Array as _;

    use super::*;

    #[test]
    fn a_batch_crosses_without_copying_its_buffers() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("name", DataType::Utf8, true)
                .with_metadata(std::collections::HashMap::from([("PARQUET:field_id".to_string(), "2".to_string())])),
        ]));
        let names = StringArray::from(vec![Some("größe"), None, Some("")]);
        let values = names.values().as_ptr();
        let batch =
            RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(vec![1, 2, 3])), Arc::new(names)]).unwrap();
        let crossed = batch_to_58(&batch).unwrap();
        assert_eq!(crossed.num_rows(), 3);
        assert_eq!(crossed.schema().field(1).metadata()["PARQUET:field_id"], "2");
        let names = crossed.column(1).as_any().downcast_ref::<arrow58::StringArray>().unwrap();
        assert_eq!(names.value(0), "größe");
        assert!(names.is_null(1));
        assert_eq!(names.values().as_ptr(), values);
        let back = schema_from_58(crossed.schema().as_ref()).unwrap();
        assert_eq!(&back, batch.schema().as_ref());
    }
}
