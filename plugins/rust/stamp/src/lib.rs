//! `stamp`: a test plugin whose output tells which build of it ran. It adds
//! `major × 1,000,000,000` to int64 column `x` as column `y`, where `major`
//! is its version's major number, set at build time by
//! `QUIVER_STAMP_VERSION`. The sidecar tests build it twice (1.0.0 and
//! 2.0.0) to swap versions under load and check that every result comes
//! from exactly one of them.

use quiver_sdk::{Plugin, scalar};

/// The plugin's version.
const VERSION: &str = match option_env!("QUIVER_STAMP_VERSION") {
    Some(v) => v,
    None => env!("CARGO_PKG_VERSION"),
};

/// The major number of [`VERSION`].
fn major() -> i64 {
    VERSION.split('.').next().and_then(|m| m.parse().ok()).unwrap_or(0)
}

/// `x` stamped with the major version.
#[scalar]
pub fn stamp(x: i64) -> i64 {
    x + major() * 1_000_000_000
}

/// The plugin: one scalar transform, `stamp`, writing column `y`.
pub fn plugin() -> Plugin {
    Plugin::new("stamp", VERSION, "Adds major-version × 10^9 to int64 column x (a test plugin)")
        .scalar(stamp_scalar(), "y")
}

quiver_sdk::export!(plugin);
