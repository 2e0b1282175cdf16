//! The `[[transform]]` table: which plugin, its configuration, its limits,
//! what it is granted, and what a failure does; or, instead of a plugin,
//! `validate`: rows checked against a schema in a schema registry.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::value::ConfigValue;

use quiver_runtime::{DirGrant, Grants, Limits};

/// A `[[transform]]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransformConfig {
    /// The plugin component (`.wasm`), relative to the pipeline file; or a
    /// URL: `s3://bucket/plugins/enrich.wasm`, `gs://…`, `az://…`, `https://…`.
    /// Either this or `validate`.
    #[serde(default)]
    pub plugin: Option<String>,
    /// Instead of a plugin: each row checked against a subject's schema in
    /// a schema registry, and the rows it does not allow refused to the
    /// dead-letter output. The rows that pass go on unchanged.
    #[serde(default)]
    pub validate: Option<ValidateConfig>,
    /// The transform's name; optional when the plugin offers one.
    pub transform: Option<String>,
    /// Configuration handed to the plugin: string keys and values (numbers
    /// and booleans are passed as their text).
    #[serde(default)]
    pub config: BTreeMap<String, ConfigValue>,
    /// Instances working in parallel; default: the number of cores.
    /// Aggregates always run on one.
    pub instances: Option<usize>,
    /// What a batch the plugin fails on does.
    #[serde(default)]
    pub on_error: OnError,
    /// What one instance may consume.
    #[serde(default)]
    pub limits: LimitsConfig,
    /// What the plugin may reach; nothing by default.
    #[serde(default)]
    pub grants: GrantsConfig,
    /// When repeated failures stop the pipeline.
    #[serde(default)]
    pub circuit_breaker: BreakerConfig,
    /// How to reach object storage, when `plugin` is a URL.
    #[serde(default)]
    pub storage: quiver_storage::StorageConfig,
}

/// `validate = { format = "avro", registry = { url = "…", subject = "…" } }`:
/// rows checked against one version of a subject. A column the schema
/// requires that the input lacks, or a column of a type the schema's field
/// can never take, stops the run at start, naming the field. Each row with
/// a null where the schema requires a value, a value that is not one of its
/// enum's symbols, or a value too wide for the field's type (a `long`
/// value for an `int`) is refused with why.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValidateConfig {
    /// The schema's kind: `avro`, `protobuf` or `json-schema`.
    pub format: quiver_registry::SchemaKind,
    /// The registry: its `url`, the `subject` (required), and the
    /// `version` to check against (default: the subject's latest when the
    /// run starts); for Protobuf, the `message` (default: the file's first);
    /// `credential_env`, `ca_file` and `timeout_secs` as for a source.
    pub registry: quiver_registry::RegistryConfig,
}

/// `on_error`: what happens to a batch the plugin fails on (a trap, a
/// timeout, running out of memory or fuel, an error for the whole batch,
/// malformed output).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnError {
    /// Stop the run cleanly; nothing it wrote is kept.
    #[default]
    Fail,
    /// Find the rows that make the plugin fail by bisecting the batch, send
    /// them to the dead-letter output with the error, and carry on with the rest.
    DeadLetter,
}

/// `[transform.limits]`. The defaults are those of [`Limits::default`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Longest one call (one batch) may run, in milliseconds.
    pub timeout_ms: u64,
    /// Fuel (about one unit per WebAssembly instruction) one call may burn;
    /// unset: no fuel limit, and no fuel counting.
    pub fuel: Option<u64>,
    /// Largest linear memory of one instance, in MiB.
    pub memory_mb: u64,
    /// Most elements in one of the instance's tables.
    pub table_elements: usize,
    /// Most MiB one call may return (buffers and refusal reasons).
    pub output_mb: u64,
    /// Most rows one returned batch may have.
    pub output_rows: usize,
    /// Log messages per second per instance; more are dropped and counted.
    pub log_per_second: u32,
    /// Longest log message, in bytes; longer ones are cut.
    pub log_message_bytes: usize,
    /// Linear memory, in MiB, past which an instance is replaced by a fresh
    /// one between batches (for guests that never give memory back, such as
    /// Python's); below `memory_mb`. Default: half of `memory_mb`.
    pub recycle_memory_mb: Option<u64>,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        let l = Limits::default();
        Self {
            timeout_ms: l.call_timeout.as_millis() as u64,
            fuel: l.fuel,
            memory_mb: (l.memory_bytes >> 20) as u64,
            table_elements: l.table_elements,
            output_mb: (l.output_bytes >> 20) as u64,
            output_rows: l.output_rows,
            log_per_second: l.log_per_second,
            log_message_bytes: l.log_message_bytes,
            recycle_memory_mb: None,
        }
    }
}

impl LimitsConfig {
    /// The runtime's limits.
    pub fn to_limits(&self) -> Limits {
        Limits {
            call_timeout: Duration::from_millis(self.timeout_ms),
            fuel: self.fuel,
            memory_bytes: mib_to_bytes(self.memory_mb),
            table_elements: self.table_elements,
            output_bytes: mib_to_bytes(self.output_mb),
            output_rows: self.output_rows,
            log_per_second: self.log_per_second,
            log_message_bytes: self.log_message_bytes,
            recycle_memory_bytes: match self.recycle_memory_mb {
                Some(mb) => mib_to_bytes(mb),
                None => mib_to_bytes(self.memory_mb) / 2,
            },
        }
    }

    /// The first key set to zero, which no limit allows.
    fn zero_key(&self) -> Option<&'static str> {
        [
            ("timeout_ms", self.timeout_ms == 0),
            ("fuel", self.fuel == Some(0)),
            ("memory_mb", self.memory_mb == 0),
            ("output_mb", self.output_mb == 0),
            ("output_rows", self.output_rows == 0),
            ("log_message_bytes", self.log_message_bytes == 0),
        ]
        .into_iter()
        .find_map(|(key, zero)| zero.then_some(key))
    }
}

/// The first key of a transform's run settings that no run can use, with
/// why: shared by `[[transform]]` and the server file's plugin tables.
pub fn invalid_run_settings(
    instances: Option<usize>,
    limits: Option<&LimitsConfig>,
    grants: Option<&GrantsConfig>,
    breaker: Option<&BreakerConfig>,
) -> Option<(String, String)> {
    if instances == Some(0) {
        return Some(("instances".into(), "must be at least 1".into()));
    }
    if let Some(key) = limits.and_then(LimitsConfig::zero_key) {
        return Some((format!("limits.{key}"), "must be at least 1".into()));
    }
    if let Some(l) = limits
        && l.recycle_memory_mb.is_some_and(|mb| mb >= l.memory_mb)
    {
        let why = format!(
            "must be below limits.memory_mb ({}), or instances would fail before they are recycled",
            l.memory_mb
        );
        return Some(("limits.recycle_memory_mb".into(), why));
    }
    if let Some(invalid) = grants.and_then(GrantsConfig::invalid) {
        return Some(invalid);
    }
    if breaker.is_some_and(|b| b.failures == 0 || b.window_secs == 0) {
        return Some(("circuit_breaker".into(), "failures and window_secs must be at least 1".into()));
    }
    None
}

/// `n` MiB in bytes; a size too large for this machine is no limit.
pub fn mib_to_bytes(n: u64) -> usize {
    usize::try_from(n).ok().and_then(|n| n.checked_mul(1 << 20)).unwrap_or(usize::MAX)
}

/// `[transform.grants]`: capabilities, all denied unless listed.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GrantsConfig {
    /// Host directories the plugin may read (never write).
    pub dirs: Vec<DirConfig>,
    /// Names of environment variables passed from quiver's own environment.
    pub env: Vec<String>,
    /// Hosts (`host` or `host:port`) the plugin may send HTTP requests to.
    pub http: Vec<String>,
    /// Real clocks instead of clocks stopped at the Unix epoch.
    pub clocks: bool,
}

/// One granted directory.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirConfig {
    /// The directory on the host, relative to the pipeline file.
    pub host: PathBuf,
    /// Where the plugin sees it: an absolute path such as `/ref`.
    pub guest: String,
}

impl GrantsConfig {
    /// The runtime's grants, resolving directories against `base` and taking
    /// the values of the named variables from this process's environment.
    /// Errors name the key at fault.
    pub fn to_grants(&self, base: &Path) -> Result<Grants, (String, String)> {
        let mut dirs = Vec::new();
        for (i, dir) in self.dirs.iter().enumerate() {
            let host = base.join(&dir.host);
            if !host.is_dir() {
                return Err((format!("grants.dirs[{i}].host"), format!("{} is not a directory", host.display())));
            }
            dirs.push(DirGrant { host, guest: dir.guest.clone() });
        }
        let mut env = Vec::new();
        for name in &self.env {
            let value = std::env::var(name).map_err(|_| {
                ("grants.env".to_string(), format!("`{name}` is not set in quiver's environment; set it or remove it"))
            })?;
            env.push((name.clone(), value));
        }
        Ok(Grants { dirs, env, http: self.http.clone(), clocks: self.clocks })
    }

    /// A key whose value can never work, with why.
    fn invalid(&self) -> Option<(String, String)> {
        for (i, dir) in self.dirs.iter().enumerate() {
            if !dir.guest.starts_with('/') {
                return Some((format!("grants.dirs[{i}].guest"), "must be an absolute path such as \"/ref\"".into()));
            }
        }
        for host in &self.http {
            if host.is_empty() || host.contains('/') || host.contains('*') {
                return Some((
                    "grants.http".into(),
                    format!("`{host}` is not a host; write `example.com` or `example.com:8080`, without a scheme"),
                ));
            }
        }
        None
    }
}

/// `[transform.circuit_breaker]`: more than `failures` failed calls within
/// `window_secs` stop the pipeline.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BreakerConfig {
    /// Failed calls allowed within the window.
    pub failures: u32,
    /// The window, in seconds.
    pub window_secs: u64,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self { failures: 100, window_secs: 60 }
    }
}

impl TransformConfig {
    /// Records what no run of this transform can use, at `at`: its run
    /// settings, and a plugin file that is not there (relative to `base`).
    pub fn validate(&self, at: &super::At, base: &Path, problems: &mut super::Problems) {
        let plugin = match (&self.plugin, &self.validate) {
            (Some(plugin), None) => plugin,
            (None, Some(validate)) => return self.validate_only(validate, at, problems),
            (Some(_), Some(_)) => {
                return problems
                    .add(&at.key("validate"), "a transform is a plugin or a validation, not both: split it in two");
            }
            (None, None) => {
                return problems
                    .add(&at.key("plugin"), "name the plugin (a .wasm file or a URL), or set `validate` instead");
            }
        };
        let (limits, grants, breaker) = (Some(&self.limits), Some(&self.grants), Some(&self.circuit_breaker));
        if let Some((key, message)) = invalid_run_settings(self.instances, limits, grants, breaker) {
            problems.add(&at.key(&key), message);
        }
        problems.add_storage(at, &self.storage);
        if self.plugin_is_remote() {
            if let Err(e) = quiver_storage::resolve(base, plugin, &self.storage) {
                problems.add(&at.key("plugin"), e.to_string());
            }
            return;
        }
        let plugin = base.join(plugin);
        if !plugin.is_file() {
            problems.add(
                &at.key("plugin"),
                format!(
                    "cannot read plugin {}: there is no such file; check the path, relative to the pipeline file",
                    plugin.display()
                ),
            );
        }
    }

    /// A `validate` transform's problems: its registry's keys, and any
    /// key only a plugin has.
    fn validate_only(&self, validate: &ValidateConfig, at: &super::At, problems: &mut super::Problems) {
        let registry = &validate.registry;
        for (key, message) in registry.problems() {
            problems.add(&at.key(&format!("validate.registry.{key}")), message);
        }
        if registry.subject.is_none() {
            problems.add(&at.key("validate.registry.subject"), "name the subject whose schema the rows must follow");
        }
        if registry.follow_latest {
            problems.add(
                &at.key("validate.registry.follow_latest"),
                "is a source's key: a validation takes the subject's version when the run starts (or a segment, after the source moved to a newer one)",
            );
        }
        if registry.subject_strategy != quiver_registry::SubjectStrategy::default() {
            problems.add(&at.key("validate.registry.subject_strategy"), "is a sink's key: name the `subject` instead");
        }
        if registry.message.is_some() && validate.format != quiver_registry::SchemaKind::Protobuf {
            problems.add(
                &at.key("validate.registry.message"),
                "names a Protobuf message: remove it, or set format = \"protobuf\"",
            );
        }
        let plugin_keys = [
            ("transform", self.transform.is_some()),
            ("config", !self.config.is_empty()),
            ("instances", self.instances.is_some()),
            ("on_error", self.on_error != OnError::default()),
            ("limits", self.limits != LimitsConfig::default()),
            ("grants", self.grants != GrantsConfig::default()),
            ("circuit_breaker", self.circuit_breaker != BreakerConfig::default()),
            ("storage", self.storage != Default::default()),
        ];
        for (key, _) in plugin_keys.into_iter().filter(|(_, set)| *set) {
            problems.add(
                &at.key(key),
                "is a plugin's key, and this transform is a validation: remove it (refused rows always go to the dead-letter output)",
            );
        }
    }

    /// What the transform is, for messages: its plugin, or what it validates against.
    pub fn label(&self) -> String {
        match (&self.plugin, &self.validate) {
            (Some(plugin), _) => plugin.clone(),
            (None, Some(v)) => format!("validate: {}", v.registry.subject.as_deref().unwrap_or("no subject")),
            (None, None) => "no plugin".into(),
        }
    }

    /// Whether `plugin` is a URL into object storage rather than a local file.
    pub fn plugin_is_remote(&self) -> bool {
        self.plugin.as_deref().and_then(|p| p.split_once("://")).is_some_and(|(scheme, _)| scheme != "file")
    }

    /// The configuration as the contract's string pairs.
    pub fn config_pairs(&self) -> Vec<(String, String)> {
        self.config.iter().map(|(k, v)| (k.clone(), v.to_string())).collect()
    }
}
