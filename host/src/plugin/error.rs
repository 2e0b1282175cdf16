//! Errors of the plugin runtime. Every one names the plugin at fault.

use std::path::PathBuf;

/// What went wrong with a plugin.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    #[error("cannot read plugin {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path} is not a WebAssembly component: {reason}")]
    NotAComponent { path: PathBuf, reason: String },
    #[error(
        "{path} is not a Quiver plugin: it does not export `{expected}` (it exports: {found}). \
         Build it against the `quiver:transform` WIT package, e.g. with the quiver-sdk crate"
    )]
    NotAPlugin { path: PathBuf, expected: String, found: String },
    #[error(
        "{path} implements contract quiver:transform@{found}, this quiver implements @{supported}; \
         rebuild the plugin with a matching SDK"
    )]
    ContractVersion { path: PathBuf, found: String, supported: String },
    #[error("cannot compile plugin {path}: {reason}")]
    Compile { path: PathBuf, reason: String },
    #[error("plugin `{plugin}` failed to start: {reason}")]
    Instantiate { plugin: String, reason: String },
    #[error("plugin `{plugin}` refused its configuration: {message}")]
    Config { plugin: String, message: String },
    #[error("plugin `{plugin}` cannot accept the input schema: {message}")]
    Schema { plugin: String, message: String },
    #[error("plugin `{plugin}` failed in `{call}`: {message}")]
    Failed { plugin: String, call: &'static str, message: String },
    #[error("plugin `{plugin}` trapped in `{call}`: {cause}")]
    Trap {
        plugin: String,
        call: &'static str,
        /// `timeout`, `fuel`, `memory`, `output_limit`, or `trap` for anything else.
        kind: &'static str,
        cause: String,
    },
    #[error("plugin `{plugin}` returned malformed output from `{call}`: {reason}")]
    Malformed { plugin: String, call: &'static str, reason: String },
}

impl PluginError {
    /// A short, stable name for what kind of failure this is, for metrics:
    /// `timeout`, `fuel`, `memory`, `output_limit`, `trap`, `failed`,
    /// `malformed`, `config`, `schema`, `instantiate` or `load`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Trap { kind, .. } => kind,
            Self::Failed { .. } => "failed",
            Self::Malformed { .. } => "malformed",
            Self::Config { .. } => "config",
            Self::Schema { .. } => "schema",
            Self::Instantiate { .. } => "instantiate",
            Self::Read { .. }
            | Self::NotAComponent { .. }
            | Self::NotAPlugin { .. }
            | Self::ContractVersion { .. }
            | Self::Compile { .. } => "load",
        }
    }
}
