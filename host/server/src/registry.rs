//! The plugins a server serves. Each served name has versions and an
//! [`Alias`] naming the one calls get, with its canary and pin.
//!
//! A call resolves its version once, when it starts, and keeps that
//! `Arc<Version>` to the end: swapping the alias never touches calls
//! already running, and every result comes from exactly one version.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use arrow::datatypes::SchemaRef;
use serde::Serialize;

use crate::alias::{Alias, Canary, Deploy};
use crate::config::{PluginSettings, ServerConfig};
use quiver_pipeline::{PipelineError, Stage, StageOptions};
use quiver_runtime::{Plugin, PluginError, Runtime, sha256_hex};

/// Distinct (transform, configuration, input schema) stages kept warm per version.
const STAGES_PER_VERSION: usize = 16;

/// What went wrong with a registry operation. Each names the plugin.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("no plugin `{name}` is loaded (loaded: {known})")]
    UnknownPlugin { name: String, known: String },
    #[error("plugin `{name}` has no version `{version}` (versions: {known})")]
    UnknownVersion { name: String, version: String, known: String },
    #[error("plugin `{name}`: the component's sha256 is {found}, but {expected} is required; refusing it")]
    HashMismatch { name: String, expected: String, found: String },
    #[error("plugin `{name}`: nothing to roll back to; it has only been deployed once")]
    NoHistory { name: String },
    #[error("plugin `{name}`: version {version} is {role}; deploy another version first")]
    InUse { name: String, version: String, role: &'static str },
    #[error("plugin `{name}`: {message}")]
    Invalid { name: String, message: String },
    #[error(transparent)]
    Load(#[from] PluginError),
}

/// One loaded component of a served plugin.
pub struct Version {
    name: String,
    key: String,
    plugin: Arc<Plugin>,
    origin: String,
    loaded_at: u64,
    options: StageOptions,
    stages: Mutex<Vec<(StageKey, Arc<Stage>)>>,
}

#[derive(PartialEq)]
struct StageKey {
    transform: Option<String>,
    config: Vec<(String, String)>,
    schema: SchemaRef,
}

impl Version {
    /// The served name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The version as served: the plugin's own, or `version+sha` when
    /// another component already claimed that version.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The stage for `transform` with `config` on `schema`, opened and bound
    /// on first use and kept warm. Blocks: it may instantiate the plugin.
    pub fn stage(
        &self,
        transform: Option<&str>,
        mut config: Vec<(String, String)>,
        schema: &SchemaRef,
    ) -> Result<Arc<Stage>, PipelineError> {
        config.sort();
        let key = StageKey { transform: transform.map(str::to_owned), config, schema: schema.clone() };
        if let Some((_, stage)) = self.stages.lock().expect("stages lock").iter().find(|(k, _)| *k == key) {
            return Ok(stage.clone());
        }
        let stage = Arc::new(Stage::new(
            0,
            self.plugin.clone(),
            transform,
            key.config.clone(),
            schema.clone(),
            self.options.clone(),
        )?);
        let mut stages = self.stages.lock().expect("stages lock");
        // Another call may have built the same stage meanwhile: keep one.
        if let Some((_, first)) = stages.iter().find(|(k, _)| *k == key) {
            return Ok(first.clone());
        }
        if stages.len() >= STAGES_PER_VERSION {
            // Calls holding the evicted stage keep it alive until they end.
            stages.remove(0);
        }
        stages.push((key, stage.clone()));
        Ok(stage)
    }

    /// The warm stages, for metrics.
    pub fn stages(&self) -> Vec<Arc<Stage>> {
        self.stages.lock().expect("stages lock").iter().map(|(_, s)| s.clone()).collect()
    }
}

struct Entry {
    versions: BTreeMap<String, Arc<Version>>,
    alias: Alias,
}

/// One plugin as the admin API lists it.
#[derive(Debug, Clone, Serialize)]
pub struct PluginStatus {
    pub name: String,
    /// The version calls get.
    pub current: String,
    pub pinned: bool,
    pub canary: Option<Canary>,
    /// Earlier alias targets, most recent last; rollback goes to the last.
    pub history: Vec<String>,
    pub versions: Vec<VersionStatus>,
}

/// One loaded version as the admin API lists it.
#[derive(Debug, Clone, Serialize)]
pub struct VersionStatus {
    pub version: String,
    /// The plugin's own name and version, from `describe`.
    pub plugin: String,
    pub sha256: String,
    /// Where it came from: a file path or `upload`.
    pub origin: String,
    /// Unix seconds.
    pub loaded_at: u64,
    pub transforms: Vec<TransformStatus>,
}

/// A transform of a version.
#[derive(Debug, Clone, Serialize)]
pub struct TransformStatus {
    pub name: String,
    pub kind: String,
    pub description: String,
}

/// What a load did.
#[derive(Debug, Clone, Serialize)]
pub struct Loaded {
    pub name: String,
    pub version: String,
    pub sha256: String,
    /// Whether the alias now points to it.
    pub deployed: bool,
    /// Whether this exact component was already loaded.
    pub unchanged: bool,
}

/// The served plugins.
pub struct Registry {
    runtime: Arc<Runtime>,
    config: Arc<ServerConfig>,
    plugins: RwLock<BTreeMap<String, Entry>>,
}

impl Registry {
    /// An empty registry compiling with `runtime`, with per-plugin settings from `config`.
    pub fn new(runtime: Arc<Runtime>, config: Arc<ServerConfig>) -> Self {
        Self { runtime, config, plugins: RwLock::default() }
    }

    fn settings(&self, name: &str) -> PluginSettings {
        match self.config.plugins.get(name) {
            Some(s) => s.or(&self.config.defaults),
            None => self.config.defaults.clone(),
        }
    }

    /// Checks, compiles and adds a component as a version of `name`.
    /// Blocks while compiling (milliseconds when the compile cache has it).
    /// `expected` is a sha256 the caller requires, on top of any pin in the
    /// server file.
    pub fn load(
        &self,
        name: &str,
        bytes: &[u8],
        origin: &str,
        expected: Option<&str>,
        deploy: Deploy,
    ) -> Result<Loaded, RegistryError> {
        check_name(name)?;
        let sha256 = sha256_hex(bytes);
        let settings = self.settings(name);
        for required in [settings.sha256.as_deref(), expected].into_iter().flatten() {
            if !required.eq_ignore_ascii_case(&sha256) {
                return Err(RegistryError::HashMismatch {
                    name: name.into(),
                    expected: required.to_ascii_lowercase(),
                    found: sha256,
                });
            }
        }
        if let Some(version) = self.version_with_hash(name, &sha256) {
            let deployed = self.deploy_loaded(name, &version, deploy);
            return Ok(Loaded { name: name.into(), version, sha256, deployed, unchanged: true });
        }
        let plugin = self.runtime.load_bytes(Path::new(origin), bytes)?;
        let options = stage_options(&settings, name, &self.config.base)?;
        let mut plugins = self.plugins.write().expect("registry lock");
        let taken = plugins.get(name).is_some_and(|e| e.versions.contains_key(&plugin.info().version));
        let key = match taken {
            false => plugin.info().version.clone(),
            true => format!("{}+{}", plugin.info().version, &sha256[..12]),
        };
        let version = Arc::new(Version {
            name: name.into(),
            key: key.clone(),
            plugin,
            origin: origin.into(),
            loaded_at: SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()),
            options,
            stages: Mutex::default(),
        });
        let deployed = match plugins.get_mut(name) {
            None => {
                plugins.insert(
                    name.into(),
                    Entry { versions: BTreeMap::from([(key.clone(), version)]), alias: Alias::new(&key) },
                );
                true
            }
            Some(entry) => {
                entry.versions.insert(key.clone(), version);
                entry.alias.deploy(&key, deploy)
            }
        };
        tracing::info!(plugin = name, version = %key, sha256 = %sha256, deployed, "plugin loaded");
        Ok(Loaded { name: name.into(), version: key, sha256, deployed, unchanged: false })
    }

    fn version_with_hash(&self, name: &str, sha256: &str) -> Option<String> {
        let plugins = self.plugins.read().expect("registry lock");
        let entry = plugins.get(name)?;
        entry.versions.values().find(|v| v.plugin.sha256() == sha256).map(|v| v.key.clone())
    }

    fn deploy_loaded(&self, name: &str, version: &str, deploy: Deploy) -> bool {
        let mut plugins = self.plugins.write().expect("registry lock");
        plugins.get_mut(name).is_some_and(|entry| entry.alias.deploy(version, deploy))
    }

    /// The version a call gets: `version` if named, else the canary's share
    /// or the alias.
    pub fn resolve(&self, name: &str, version: Option<&str>) -> Result<Arc<Version>, RegistryError> {
        let plugins = self.plugins.read().expect("registry lock");
        let entry = self.entry(&plugins, name)?;
        let key = match version {
            Some(v) => v,
            None => entry.alias.pick(fastrand::u8(0..100)),
        };
        entry.versions.get(key).cloned().ok_or_else(|| unknown_version(name, key, entry))
    }

    fn entry<'a>(&self, plugins: &'a BTreeMap<String, Entry>, name: &str) -> Result<&'a Entry, RegistryError> {
        plugins.get(name).ok_or_else(|| RegistryError::UnknownPlugin {
            name: name.into(),
            known: if plugins.is_empty() {
                "none".into()
            } else {
                plugins.keys().cloned().collect::<Vec<_>>().join(", ")
            },
        })
    }

    fn with_entry<R>(
        &self,
        name: &str,
        f: impl FnOnce(&mut Entry) -> Result<R, RegistryError>,
    ) -> Result<R, RegistryError> {
        let mut plugins = self.plugins.write().expect("registry lock");
        self.entry(&plugins, name)?;
        f(plugins.get_mut(name).expect("checked"))
    }

    /// Points the alias at `version`, or, with `canary_percent`, sends that
    /// share of calls to it while the alias stays.
    pub fn deploy(&self, name: &str, version: &str, canary_percent: Option<u8>) -> Result<(), RegistryError> {
        self.with_entry(name, |entry| {
            if !entry.versions.contains_key(version) {
                return Err(unknown_version(name, version, entry));
            }
            match canary_percent {
                Some(percent) => entry
                    .alias
                    .start_canary(version, percent)
                    .map_err(|message| RegistryError::Invalid { name: name.into(), message: message.into() }),
                None => {
                    entry.alias.deploy(version, Deploy::Always);
                    Ok(())
                }
            }
        })?;
        tracing::info!(plugin = name, version, ?canary_percent, "plugin deployed");
        Ok(())
    }

    /// Points the alias back where it was before the last deploy; ends any canary.
    pub fn rollback(&self, name: &str) -> Result<String, RegistryError> {
        let version = self.with_entry(name, |entry| {
            entry.alias.rollback().map(str::to_owned).ok_or_else(|| RegistryError::NoHistory { name: name.into() })
        })?;
        tracing::info!(plugin = name, version = %version, "plugin rolled back");
        Ok(version)
    }

    /// Deploys `version` and keeps the directory watcher from moving the alias.
    pub fn pin(&self, name: &str, version: &str) -> Result<(), RegistryError> {
        // One lock: the watcher must not move the alias between the deploy and the pin.
        self.with_entry(name, |entry| {
            if !entry.versions.contains_key(version) {
                return Err(unknown_version(name, version, entry));
            }
            entry.alias.pin(version);
            Ok(())
        })?;
        tracing::info!(plugin = name, version, "plugin pinned");
        Ok(())
    }

    /// Lets the directory watcher move the alias again.
    pub fn unpin(&self, name: &str) -> Result<(), RegistryError> {
        self.with_entry(name, |entry| {
            entry.alias.unpin();
            Ok(())
        })
    }

    /// Removes a plugin with all its versions; running calls finish.
    pub fn unload(&self, name: &str) -> Result<(), RegistryError> {
        let mut plugins = self.plugins.write().expect("registry lock");
        self.entry(&plugins, name)?;
        plugins.remove(name);
        tracing::info!(plugin = name, "plugin unloaded");
        Ok(())
    }

    /// Removes one version that neither the alias nor a canary points to.
    pub fn unload_version(&self, name: &str, version: &str) -> Result<(), RegistryError> {
        self.with_entry(name, |entry| {
            if !entry.versions.contains_key(version) {
                return Err(unknown_version(name, version, entry));
            }
            if let Some(role) = entry.alias.role_of(version) {
                return Err(RegistryError::InUse { name: name.into(), version: version.into(), role });
            }
            entry.versions.remove(version);
            entry.alias.forget(version);
            Ok(())
        })
    }

    /// Every plugin with its versions.
    pub fn list(&self) -> Vec<PluginStatus> {
        let plugins = self.plugins.read().expect("registry lock");
        plugins
            .iter()
            .map(|(name, entry)| PluginStatus {
                name: name.clone(),
                current: entry.alias.current().into(),
                pinned: entry.alias.pinned(),
                canary: entry.alias.canary().cloned(),
                history: entry.alias.history().to_vec(),
                versions: entry.versions.values().map(|v| version_status(v)).collect(),
            })
            .collect()
    }

    /// Every loaded version, for metrics.
    pub fn versions(&self) -> Vec<Arc<Version>> {
        let plugins = self.plugins.read().expect("registry lock");
        plugins.values().flat_map(|e| e.versions.values().cloned()).collect()
    }

    /// The served name of `path` in a plugins directory: `DIR/NAME.wasm` is `NAME`.
    pub fn name_of(path: &Path) -> Option<String> {
        (path.extension()? == "wasm").then(|| path.file_stem()?.to_str().map(str::to_owned)).flatten()
    }
}

fn unknown_version(name: &str, version: &str, entry: &Entry) -> RegistryError {
    RegistryError::UnknownVersion {
        name: name.into(),
        version: version.into(),
        known: entry.versions.keys().cloned().collect::<Vec<_>>().join(", "),
    }
}

fn version_status(v: &Version) -> VersionStatus {
    VersionStatus {
        version: v.key.clone(),
        plugin: v.plugin.label(),
        sha256: v.plugin.sha256().into(),
        origin: v.origin.clone(),
        loaded_at: v.loaded_at,
        transforms: v
            .plugin
            .info()
            .transforms
            .iter()
            .map(|t| TransformStatus {
                name: t.name.clone(),
                kind: format!("{:?}", t.kind).to_lowercase(),
                description: t.description.clone(),
            })
            .collect(),
    }
}

/// A served name is a path segment and a metric label: keep it plain.
fn check_name(name: &str) -> Result<(), RegistryError> {
    let plain = !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
    match plain {
        true => Ok(()),
        false => Err(RegistryError::Invalid {
            name: name.into(),
            message: "a plugin name is 1 to 64 letters, digits, `-`, `_` or `.`".into(),
        }),
    }
}

fn stage_options(settings: &PluginSettings, name: &str, base: &Path) -> Result<StageOptions, RegistryError> {
    let s = settings;
    let (limits, grants, breaker) = (s.limits.clone(), s.grants.clone(), s.circuit_breaker.clone());
    let (limits, grants, breaker) =
        (limits.unwrap_or_default(), grants.unwrap_or_default(), breaker.unwrap_or_default());
    StageOptions::of(s.instances, s.on_error.unwrap_or_default(), &limits, &grants, &breaker, base).map_err(
        |(key, message)| RegistryError::Invalid {
            name: name.into(),
            message: format!("[plugin.{name}] {key}: {message}"),
        },
    )
}
