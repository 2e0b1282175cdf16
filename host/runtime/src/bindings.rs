//! Host-side bindings generated from the contract in `wit/`, once per
//! version the host still loads.

/// `quiver:transform@0.1.0`: the batch crosses as buffers.
pub mod v0_1 {
    wasmtime::component::bindgen!({
        path: "wit/0.1.0/quiver-transform.wit",
        world: "plugin",
    });

    pub use self::quiver::transform::types as wit;

    /// The interface every 0.1.0 plugin exports.
    pub const TRANSFORM_INTERFACE: &str = "quiver:transform/transform@0.1.0";
}

/// `quiver:transform@0.2.0`: the batch stays in the host, and crosses as
/// column handles the plugin runs the host's kernels over.
pub mod v0_2 {
    wasmtime::component::bindgen!({
        path: "wit/0.2.0/quiver-transform.wit",
        world: "plugin",
        with: {
            "quiver:transform/compute.column": crate::compute::ColumnHandle,
        },
        // Kernels fail the whole call when it is past its deadline.
        imports: { default: trappable },
    });

    pub use self::exports::quiver::transform::transform as exported;
    pub use self::quiver::transform::compute;
    pub use self::quiver::transform::types as wit;
}

/// The newest contract version, which new plugins are built for.
pub const CONTRACT_VERSION: &str = "0.2.0";

/// Every contract version the host loads, oldest first.
pub const CONTRACT_VERSIONS: &[&str] = &["0.1.0", "0.2.0"];

/// The unversioned name of the interface every plugin exports.
pub const TRANSFORM_PACKAGE_INTERFACE: &str = "quiver:transform/transform";
