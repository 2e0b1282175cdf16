//! Schemas on the wire: a client of a Confluent-compatible schema
//! registry, and the Confluent wire format (a zero magic byte, the schema
//! id as 4 big-endian bytes, then the Avro body) decoded into Arrow record
//! batches by arrow-rs's own Avro reader.
//!
//! - [`Registry`]: schemas by id, fetched once per process and cached; a
//!   subject's latest or pinned version; basic auth and a custom CA.
//! - [`AvroDecoder`]: messages written with any registered version of a
//!   subject, resolved into one reader schema by Avro's resolution rules.
//! - [`AvroEncoder`]: rows as messages of the output's schema, registered
//!   under a subject (whose compatibility rule the registry applies).

mod avro;
mod client;
mod config;
mod encode;
mod error;

pub use avro::AvroDecoder;
pub use client::{Registered, Registry};
pub use config::RegistryConfig;
pub use encode::AvroEncoder;
pub use error::RegistryError;
