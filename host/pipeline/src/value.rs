//! The pieces the tables of a pipeline file are read with, whatever they
//! configure: tables whose `type` key picks their kind, and values handed
//! on as text (plugin configuration, client properties).

use serde::Deserialize;

/// A plugin configuration value as written in TOML.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum ConfigValue {
    /// A string.
    Text(String),
    /// An integer, handed on as its decimal text.
    Integer(i64),
    /// A float, handed on as its text.
    Float(f64),
    /// A boolean: `true` or `false`.
    Bool(bool),
}

impl std::fmt::Display for ConfigValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Text(s) => f.write_str(s),
            Self::Integer(i) => write!(f, "{i}"),
            Self::Float(x) => write!(f, "{x}"),
            Self::Bool(b) => write!(f, "{b}"),
        }
    }
}

/// Reads a table whose `type` key names its kind (the first of `kinds`
/// when absent). Returns the kind and the rest of the table.
pub(crate) fn typed_table<'de, D: serde::Deserializer<'de>>(
    d: D,
    kinds: &[&'static str],
) -> Result<(&'static str, toml::Value), D::Error> {
    use serde::de::Error;
    let mut table = toml::Table::deserialize(d)?;
    let kind = match table.remove("type") {
        None => kinds[0],
        Some(toml::Value::String(name)) => kinds.iter().copied().find(|k| *k == name).ok_or_else(|| {
            D::Error::custom(format!("type: unknown type `{name}`, expected one of: {}", kinds.join(", ")))
        })?,
        Some(other) => return Err(D::Error::custom(format!("type: expected a string, found {}", other.type_str()))),
    };
    Ok((kind, toml::Value::Table(table)))
}

/// A `type` this build leaves out, as a parse error.
#[cfg_attr(all(feature = "kafka", feature = "iceberg"), allow(dead_code))]
pub(crate) fn not_built(kind: &str) -> toml::de::Error {
    serde::de::Error::custom(format!(
        "type: this quiver is built without `{kind}`; build it with the cargo feature `{kind}` (on by default)"
    ))
}
