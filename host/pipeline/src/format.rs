//! The file formats sources read and sinks write.

use serde::Deserialize;

/// A file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Apache Parquet.
    Parquet,
    /// Arrow IPC: the file format (`.arrow`) or, when reading, the stream format.
    Ipc,
    /// Comma-separated values with a header line.
    Csv,
    /// JSON Lines: one JSON object per line.
    Jsonl,
    /// Avro object container files, with their schema in the header.
    Avro,
}

impl Format {
    /// The file extension the sink gives its files.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Parquet => "parquet",
            Self::Ipc => "arrow",
            Self::Csv => "csv",
            Self::Jsonl => "jsonl",
            Self::Avro => "avro",
        }
    }
}
