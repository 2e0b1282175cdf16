//! What the Kafka source and sink share: the client settings built from a
//! pipeline table, and reading a column as message bytes.

use std::collections::BTreeMap;

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::compute::cast;
use arrow::datatypes::DataType;
use rdkafka::ClientConfig;

use crate::value::ConfigValue;

/// librdkafka settings that Quiver sets itself: a pipeline may not override
/// them through `properties`, because the delivery guarantees rest on them.
const OWNED: &[&str] = &[
    "bootstrap.servers",
    "group.id",
    "enable.auto.commit",
    "enable.auto.offset.store",
    "transactional.id",
    "enable.idempotence",
];

/// A client configuration: `bootstrap_servers`, then the table's
/// `properties` passed through (security settings among them). `table`
/// names the pipeline file's table in errors.
pub fn client_config(
    table: &str,
    bootstrap_servers: &str,
    properties: &BTreeMap<String, ConfigValue>,
) -> Result<ClientConfig, String> {
    if bootstrap_servers.trim().is_empty() {
        return Err(format!("[{table}] bootstrap_servers: must name at least one broker (host:port)"));
    }
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", bootstrap_servers);
    for (key, value) in properties {
        if OWNED.contains(&key.as_str()) {
            return Err(format!(
                "[{table}] properties: `{key}` is set by Quiver (use the table's own keys: bootstrap_servers, \
                 group_id, delivery, transactional_id)"
            ));
        }
        config.set(key, value.to_string());
    }
    Ok(config)
}

/// Sets `key` unless the table's `properties` set it already.
pub fn set_default(config: &mut ClientConfig, key: &str, value: &str) {
    if config.get(key).is_none() {
        config.set(key, value);
    }
}

/// A column read as one byte string per row, for message keys, values and
/// headers: binary and text as they are, any other type as its text form
/// (`42`, `true`, dates in ISO 8601).
pub struct BytesColumn(ArrayRef);

impl BytesColumn {
    /// Reads `column`, converting it to text when it is neither binary nor text.
    pub fn new(column: &ArrayRef) -> Result<Self, String> {
        let column = match column.data_type() {
            DataType::Binary | DataType::LargeBinary | DataType::Utf8 | DataType::LargeUtf8 => column.clone(),
            DataType::BinaryView => cast(column, &DataType::Binary).map_err(|e| e.to_string())?,
            other => cast(column, &DataType::Utf8).map_err(|e| format!("cannot turn {other} into text: {e}"))?,
        };
        Ok(Self(column))
    }

    /// The number of rows.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Row `row`'s bytes; `None` when it is null.
    pub fn get(&self, row: usize) -> Option<&[u8]> {
        if self.0.is_null(row) {
            return None;
        }
        Some(match self.0.data_type() {
            DataType::Binary => self.0.as_binary::<i32>().value(row),
            DataType::LargeBinary => self.0.as_binary::<i64>().value(row),
            DataType::LargeUtf8 => self.0.as_string::<i64>().value(row).as_bytes(),
            _ => self.0.as_string::<i32>().value(row).as_bytes(),
        })
    }
}
