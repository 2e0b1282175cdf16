//! Schemas on the wire: a client of a Confluent-compatible schema
//! registry, and the Confluent wire format (a zero magic byte, the schema
//! id as 4 big-endian bytes, then the body) decoded into Arrow record
//! batches: Avro by arrow-rs's own Avro reader, Protobuf by prost-reflect,
//! JSON Schema by the jsonschema crate's validator and arrow-json.
//!
//! - [`Registry`]: schemas by id, fetched once per process and cached; a
//!   subject's latest or pinned version; basic auth and a custom CA.
//! - [`AvroDecoder`]: messages written with any registered version of a
//!   subject, resolved into one reader schema by Avro's resolution rules.
//! - [`AvroDatumDecoder`]: plain Avro, bare datums of one schema given in
//!   the pipeline file, with no registry.
//! - [`AvroEncoder`]: rows as messages of the output's schema, registered
//!   under a subject (whose compatibility rule the registry applies).
//! - [`ProtobufDecoder`]: messages of any registered version of a subject,
//!   read as one message of the reader's version by field numbers.
//! - [`ProtobufEncoder`]: rows as messages of the output's schema written
//!   as one Protobuf message, registered under a subject.
//! - [`JsonSchemaDecoder`]: JSON messages checked against their writer's
//!   JSON Schema and read into the columns of the reader's version.
//! - [`JsonSchemaEncoder`]: rows as JSON objects, the output's schema
//!   described as a JSON Schema and registered under a subject.
//! - [`Follower`]: the first message written with a version of its subject
//!   newer than the reader's, for a source that follows the latest.
//! - [`Validator`]: rows checked against a subject's schema (types,
//!   required fields, enum symbols), each row it does not allow refused.
//! - [`json`]: the JSON kernels, values to rows and rows to values.
//! - [`WireDecoder`], [`WireEncoder`]: either codec, as a source or a sink holds it.

mod avro;
mod avro_datum;
mod client;
mod config;
mod encode;
mod error;
mod follow;
mod frame;
pub mod json;
mod json_schema;
mod protobuf;
mod validate;
mod wire;

pub use avro::AvroDecoder;
pub use avro_datum::AvroDatumDecoder;
pub use client::{Registered, Registry};
pub use config::{RegistryConfig, SubjectStrategy};
pub use encode::AvroEncoder;
pub use error::RegistryError;
pub use follow::Follower;
pub use frame::TOMBSTONE;
pub use json_schema::{JsonSchemaDecoder, JsonSchemaEncoder};
pub use protobuf::{ProtobufDecoder, ProtobufEncoder};
pub use validate::Validator;

/// The field metadata key of an enum column's symbols (a JSON list): the
/// key arrow-avro reads and writes, which the JSON Schema and Protobuf
/// readers set too, so that an enum stays an enum downstream.
pub(crate) const ENUM_SYMBOLS: &str = "avro.enum.symbols";
pub use wire::{SchemaKind, WireDecoder, WireEncoder};
