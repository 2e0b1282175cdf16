//! Quiver's storage: where sources read, sinks write and plugins are
//! loaded from. A location is a local path or an `s3://`, `gs://`,
//! `az://`/`abfs://` or `https://` URL, resolved with `object_store`'s
//! builders and each cloud's standard credential chain.
//!
//! - Reads are pinned to the version a listing saw ([`Object`]).
//! - Writes become visible only when committed ([`Upload`]), and a run's
//!   output is complete when its [`Manifest`] is there.
//! - Errors name the URL at fault and never a credential ([`StorageError`]).

mod config;
mod error;
mod gc;
mod location;
mod manifest;
mod object;
mod profile;
mod remote;
mod retry;
mod secret;
mod upload;

pub use config::{MIN_PART_BYTES, StorageConfig};
pub use error::StorageError;
pub use gc::{Collected, collect_garbage};
pub use location::{Location, is_data_object, resolve};
pub use manifest::{MANIFEST, Manifest, ManifestFile};
pub use object::Object;
pub use object_store::ObjectMeta;
pub use object_store::path::Path as ObjectPath;
pub use remote::{Cloud, install_crypto};
pub use secret::redact;
pub use upload::{UPLOADS_DIR, Upload};
