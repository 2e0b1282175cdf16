//! Write Quiver transform plugins in Rust.
//!
//! A plugin is a WebAssembly component implementing the `quiver:transform`
//! contract (`wit/` at the root of the repository). This crate hides the
//! bindings and the batch layout: you write transforms over Arrow
//! [`RecordBatch`](arrow_array::RecordBatch)es, or plain Rust functions.
//!
//! Two levels:
//! - [`Transform`]: a whole-batch transform returning an [`Output`] (a batch
//!   plus the rows it refuses);
//! - [`scalar`]: an attribute that turns `fn gcd(a: i32, b: i32) -> i32` into
//!   a vectorised column function with null handling and, with a `Result`
//!   return type, per-row rejection.
//!
//! ```ignore
//! use quiver_sdk::{Plugin, scalar};
//!
//! /// Greatest common divisor.
//! #[scalar]
//! fn gcd(a: i32, b: i32) -> i32 { /* ... */ a }
//!
//! fn plugin() -> Plugin {
//!     Plugin::new("gcd", env!("CARGO_PKG_VERSION"), "gcd of two columns").scalar(gcd_scalar(), "c")
//! }
//! quiver_sdk::export!(plugin);
//! ```
//!
//! Build with `cargo build --target wasm32-wasip2 --release` (crate type
//! `cdylib`) or `quiver plugin build PATH`.

mod config;
mod error;
pub mod log;
pub mod scalar;
mod transform;

#[cfg(target_arch = "wasm32")]
mod guest;

#[cfg(target_arch = "wasm32")]
#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit/0.1.0",
        world: "plugin",
        pub_export_macro: true,
        export_macro_name: "__export_plugin",
        default_bindings_module: "quiver_sdk::bindings",
    });
}

pub use config::{Config, ConfigKey};
pub use error::{Error, ErrorKind};
pub use quiver_sdk_macros::scalar;
pub use scalar::{ScalarColumn, ScalarFunction};
pub use transform::{Output, Plugin, Rejection, Transform, TransformKind, TransformSpec};

// The Arrow crates plugins are written against, so their versions always match the SDK's.
pub use arrow_array;
pub use arrow_buffer;
pub use arrow_schema;
pub use arrow_select;

/// The version of the `quiver:transform` contract this SDK implements.
pub const CONTRACT_VERSION: &str = "0.1.0";

/// Builds the plugin a crate exports; implemented by [`export!`].
pub trait PluginFactory {
    /// The plugin, with its transforms.
    fn plugin() -> Plugin;
}

/// Exports a plugin from a `cdylib` crate: `quiver_sdk::export!(plugin)`
/// where `fn plugin() -> quiver_sdk::Plugin`. Natively it only defines
/// `QuiverPlugin`, so the same crate links into tests and benchmarks.
#[macro_export]
macro_rules! export {
    ($plugin:path) => {
        /// The plugin this crate exports.
        pub struct QuiverPlugin;

        impl $crate::PluginFactory for QuiverPlugin {
            fn plugin() -> $crate::Plugin {
                $plugin()
            }
        }

        #[cfg(target_arch = "wasm32")]
        $crate::bindings::__export_plugin!(QuiverPlugin with_types_in $crate::bindings);
    };
}
