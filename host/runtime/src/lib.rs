//! Quiver's plugin runtime: loads WebAssembly components of the
//! `quiver:transform` contract (compiled once by wasmtime and kept in a disk
//! cache), describes them, runs sandboxed instances of them under limits and
//! grants, and pools warm instances per transform. It knows nothing of
//! files, Kafka or servers: the pipeline, the sidecar and embedders build on
//! [`Runtime`], [`Plugin`] and [`Pool`].

mod bindings;
mod compute;
mod error;
mod gauges;
mod grants;
mod instance;
mod limits;
mod pool;
mod runtime;
mod sandbox;
mod stderr;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use wasmtime::Engine;

pub use bindings::{CONTRACT_VERSION, CONTRACT_VERSIONS};
pub use compute::KERNELS;
pub use error::PluginError;
pub use gauges::Gauges;
pub use grants::{DirGrant, Grants};
pub use instance::{Instance, Output, Rejection};
pub use limits::Limits;
pub use pool::{Pool, PoolOptions, PooledInstance};
pub use quiver_abi::TransformKind;
pub use runtime::{Runtime, RuntimeOptions, sha256_hex};

use instance::Pre;

/// A configuration key a transform accepts.
#[derive(Debug, Clone)]
pub struct ConfigKeyInfo {
    /// The key.
    pub name: String,
    /// What it sets.
    pub description: String,
    /// Whether `open` fails without it.
    pub required: bool,
    /// Its value when it is not given.
    pub default: Option<String>,
}

/// A transform a plugin offers.
#[derive(Debug, Clone)]
pub struct TransformInfo {
    /// The name a pipeline or a request picks it by.
    pub name: String,
    /// Scalar, map, filter or aggregate.
    pub kind: TransformKind,
    /// What it does.
    pub description: String,
    /// The configuration keys it accepts.
    pub config_keys: Vec<ConfigKeyInfo>,
}

/// What a plugin says about itself.
#[derive(Debug, Clone)]
pub struct PluginInfo {
    /// The plugin's name.
    pub name: String,
    /// Its version, as its author gave it.
    pub version: String,
    /// What it is for.
    pub description: String,
    /// The transforms it offers.
    pub transforms: Vec<TransformInfo>,
}

/// A compiled, checked and described plugin, ready to be instantiated.
pub struct Plugin {
    path: PathBuf,
    sha256: String,
    pre: Pre,
    engine: Engine,
    /// Whether the engine counts fuel.
    fuel: bool,
    /// Whether timeouts and memory limits are enforced (always, but in benchmarks).
    enforced: bool,
    info: PluginInfo,
}

/// The number of cores: the default number of instances of a transform,
/// and of calls and loads run at once.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// Longest `describe` may take when a plugin loads.
const DESCRIBE_TIMEOUT: Duration = Duration::from_secs(10);

impl Plugin {
    fn describe(path: &Path, sha256: String, pre: Pre, runtime: &Runtime) -> Result<Arc<Self>, PluginError> {
        let label: Arc<str> = path.display().to_string().into();
        let mut plugin = Self {
            path: path.to_owned(),
            sha256,
            pre,
            engine: runtime.engine().clone(),
            fuel: runtime.counts_fuel(),
            enforced: runtime.enforced(),
            info: placeholder_info(),
        };
        let limits = Limits { call_timeout: DESCRIBE_TIMEOUT, ..Limits::default() };
        let mut instance = Instance::new(&plugin, label, limits, &Grants::default(), Arc::default())?;
        plugin.info = instance.describe()?;
        Ok(Arc::new(plugin))
    }

    /// Whether the engine counts fuel, so fuel limits can be enforced.
    pub fn counts_fuel(&self) -> bool {
        self.fuel
    }

    /// The file the plugin was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The contract version the plugin was built for, e.g. `0.2.0`.
    pub fn contract(&self) -> &'static str {
        self.pre.contract()
    }

    /// The SHA-256 of the component's bytes, in hex.
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    /// The plugin's self-description.
    pub fn info(&self) -> &PluginInfo {
        &self.info
    }

    /// `name@version`, for messages.
    pub fn label(&self) -> String {
        format!("{}@{}", self.info.name, self.info.version)
    }

    /// Finds a transform by name; the name may be omitted when there is only one.
    pub fn transform(&self, name: Option<&str>) -> Result<&TransformInfo, PluginError> {
        let names = || self.info.transforms.iter().map(|t| t.name.as_str()).collect::<Vec<_>>().join(", ");
        match name {
            Some(name) => self.info.transforms.iter().find(|t| t.name == name).ok_or_else(|| PluginError::Config {
                plugin: self.label(),
                message: format!("it has no transform `{name}`; it offers: {}", names()),
            }),
            None => match self.info.transforms.as_slice() {
                [only] => Ok(only),
                _ => Err(PluginError::Config {
                    plugin: self.label(),
                    message: format!("it offers several transforms; set `transform` to one of: {}", names()),
                }),
            },
        }
    }
}

fn placeholder_info() -> PluginInfo {
    PluginInfo { name: String::new(), version: String::new(), description: String::new(), transforms: Vec::new() }
}

/// The conversion of a version's `plugin-info` into [`PluginInfo`]: the
/// record is the same in every contract version.
macro_rules! plugin_info_from {
    ($($wit:ident)::+) => {
        impl From<$($wit)::+::PluginInfo> for PluginInfo {
            fn from(info: $($wit)::+::PluginInfo) -> Self {
                use $($wit)::+ as wit;
                PluginInfo {
                    name: info.name,
                    version: info.version,
                    description: info.description,
                    transforms: info
                        .transforms
                        .into_iter()
                        .map(|t| TransformInfo {
                            name: t.name,
                            kind: match t.kind {
                                wit::TransformKind::Map => TransformKind::Map,
                                wit::TransformKind::Filter => TransformKind::Filter,
                                wit::TransformKind::Scalar => TransformKind::Scalar,
                                wit::TransformKind::Aggregate => TransformKind::Aggregate,
                            },
                            description: t.description,
                            config_keys: t
                                .config_keys
                                .into_iter()
                                .map(|k| ConfigKeyInfo {
                                    name: k.name,
                                    description: k.description,
                                    required: k.required,
                                    default: k.default_value,
                                })
                                .collect(),
                        })
                        .collect(),
                }
            }
        }
    };
}

plugin_info_from!(bindings::v0_1::wit);
plugin_info_from!(bindings::v0_2::wit);

/// The conversions of a version's `field-node` to and from the ABI's: the
/// record is the same in every contract version.
macro_rules! field_node_from {
    ($($wit:ident)::+) => {
        impl From<&quiver_abi::FieldNode> for $($wit)::+::FieldNode {
            fn from(n: &quiver_abi::FieldNode) -> Self {
                Self {
                    length: n.length,
                    null_count: n.null_count,
                    offset: n.offset,
                    null_offset: n.null_offset,
                    buffer_count: n.buffer_count,
                }
            }
        }

        impl From<&$($wit)::+::FieldNode> for quiver_abi::FieldNode {
            fn from(n: &$($wit)::+::FieldNode) -> Self {
                Self {
                    length: n.length,
                    null_count: n.null_count,
                    offset: n.offset,
                    null_offset: n.null_offset,
                    buffer_count: n.buffer_count,
                }
            }
        }
    };
}

field_node_from!(bindings::v0_1::wit);
field_node_from!(bindings::v0_2::wit);
