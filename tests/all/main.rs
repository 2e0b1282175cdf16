//! Every end-to-end test, in one binary (wasmtime's `tests/all` pattern): the
//! real `quiver` binary, real plugins built by `build.rs`, real files, a
//! real Kafka broker and real clients. One binary links wasmtime, arrow and
//! librdkafka once instead of once per file.

mod aggregate;
mod avro;
mod avro_files;
mod azure;
mod bad_input;
mod compact;
mod docs;
mod enrich;
mod examples;
mod follow_latest;
mod formats;
mod gcd;
mod iceberg;
mod iceberg_conflict;
mod iceberg_rest;
mod ipc_input;
mod json_schema;
mod kafka;
mod kafka_to_iceberg;
mod kafka_to_s3;
mod languages;
mod object_store;
mod plugin_cli;
mod projection;
mod protobuf;
mod python;
mod registry_gate;
mod sandbox;
mod serve;
mod spark;
mod validate_schema;
