//! Host-side bindings generated from the contract in `wit/`.

wasmtime::component::bindgen!({
    path: "wit",
    world: "plugin",
});

pub use self::quiver::transform::types as wit;

/// The contract package's version, as in the WIT file.
pub const CONTRACT_VERSION: &str = "0.1.0";

/// The name of the interface every plugin exports.
pub const TRANSFORM_INTERFACE: &str = "quiver:transform/transform@0.1.0";
