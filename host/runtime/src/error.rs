//! Errors of the plugin runtime. Every one names the plugin at fault.

use std::path::PathBuf;

/// What went wrong with a plugin.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    #[error("cannot read plugin {path}: {source}")]
    /// The component file cannot be read.
    Read {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    #[error("{path} is not a WebAssembly component: {reason}")]
    /// The file is not a WebAssembly component.
    NotAComponent {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    #[error(
        "{path} is not a Quiver plugin: it does not export `{expected}` (it exports: {found}). \
         Build it against the `quiver:transform` WIT package, e.g. with the quiver-sdk crate"
    )]
    /// The component does not export the contract.
    NotAPlugin {
        /// The file.
        path: PathBuf,
        /// What a plugin must export.
        expected: String,
        /// What it has.
        found: String,
    },
    #[error(
        "{path} implements contract quiver:transform@{found}, this quiver loads {supported}; \
         rebuild the plugin with a matching SDK"
    )]
    /// The component implements another version of the contract.
    ContractVersion {
        /// The file.
        path: PathBuf,
        /// What it has.
        found: String,
        /// The version this quiver implements.
        supported: String,
    },
    #[error("cannot compile plugin {path}: {reason}")]
    /// wasmtime cannot compile the component.
    Compile {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    #[error("plugin `{plugin}` failed to start: {reason}")]
    /// An instance cannot be made (imports, memory, start).
    Instantiate {
        /// The plugin, as `name@version`.
        plugin: String,
        /// Why.
        reason: String,
    },
    #[error("plugin `{plugin}` refused its configuration: {message}")]
    /// The plugin refused its configuration in `open`.
    Config {
        /// The plugin, as `name@version`.
        plugin: String,
        /// What is wrong.
        message: String,
    },
    #[error("plugin `{plugin}` cannot accept the input schema: {message}")]
    /// The plugin refused the input schema in `bind`.
    Schema {
        /// The plugin, as `name@version`.
        plugin: String,
        /// What is wrong.
        message: String,
    },
    #[error("plugin `{plugin}` failed in `{call}`: {message}")]
    /// The plugin returned an error for the whole call.
    Failed {
        /// The plugin, as `name@version`.
        plugin: String,
        /// The contract function called.
        call: &'static str,
        /// What is wrong.
        message: String,
    },
    #[error("plugin `{plugin}` trapped in `{call}`: {cause}")]
    /// The call trapped, or a limit stopped it.
    Trap {
        /// The plugin, as `name@version`.
        plugin: String,
        /// The contract function called.
        call: &'static str,
        /// `timeout`, `fuel`, `memory`, `output_limit`, or `trap` for anything else.
        kind: &'static str,
        /// What stopped it, with the plugin's backtrace and standard error.
        cause: String,
    },
    #[error("plugin `{plugin}` returned malformed output from `{call}`: {reason}")]
    /// The plugin returned output that breaks the contract.
    Malformed {
        /// The plugin, as `name@version`.
        plugin: String,
        /// The contract function called.
        call: &'static str,
        /// Why.
        reason: String,
    },
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
