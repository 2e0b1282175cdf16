//! The server file of `quiver serve`: where it listens, which plugins it
//! serves, how it protects itself, and per-plugin limits and pins. Every
//! key can also be given as a flag; flags win.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use quiver_storage::StorageConfig;
use serde::Deserialize;

use quiver_pipeline::config::{
    At, BreakerConfig, ConfigError, GrantsConfig, LimitsConfig, OnError, Problems, invalid_run_settings,
};

/// A whole server file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Directory of plugins loaded at start and watched: `DIR/NAME.wasm`
    /// is served as plugin `NAME`. A local directory, relative to the
    /// server file, or an object-storage URL (`s3://bucket/plugins/`,
    /// `gs://…`, `az://…`), whose listing is polled.
    pub plugins_dir: Option<String>,
    /// How to reach a `plugins_dir` in object storage: endpoint, region,
    /// retries, timeouts (the `storage` table of a pipeline file).
    pub plugins_storage: StorageConfig,
    /// How often the plugins directory is checked for new or changed
    /// components, in milliseconds; 0 turns watching off.
    pub watch_interval_ms: u64,
    /// Address of the Arrow Flight service (`host:port`; port 0 picks one).
    pub flight_addr: String,
    /// Address of the HTTP API (`host:port`; port 0 picks one).
    pub http_addr: String,
    /// File holding the bearer token of the admin endpoints; else the
    /// variable `QUIVER_ADMIN_TOKEN`. Without either, the admin API is off.
    pub admin_token_file: Option<PathBuf>,
    /// File holding the bearer token the data endpoints require; else the
    /// variable `QUIVER_DATA_TOKEN`. Without either, they are open.
    pub data_token_file: Option<PathBuf>,
    /// PEM certificate chain: with `tls_key_file`, both Flight and HTTP
    /// use TLS (rustls). Relative to the server file.
    pub tls_cert_file: Option<PathBuf>,
    /// PEM private key of `tls_cert_file`.
    pub tls_key_file: Option<PathBuf>,
    /// Largest request body (HTTP) or message (Flight), in MiB.
    pub max_request_mb: u64,
    /// Calls running at once per plugin; default: the number of cores.
    pub max_concurrent_calls: Option<usize>,
    /// Calls waiting per plugin beyond those running; more are answered busy.
    pub max_queued_calls: usize,
    /// Open connections one client address may hold on each listener; its
    /// next one is closed at once.
    pub max_connections_per_client: usize,
    /// On SIGTERM, how long in-flight calls get to finish, in seconds.
    pub drain_secs: u64,
    /// Settings every plugin gets unless its `[plugin.NAME]` table says otherwise.
    pub defaults: PluginSettings,
    /// Per-plugin settings, by served name (`[plugin.NAME]`).
    #[serde(rename = "plugin")]
    pub plugins: BTreeMap<String, PluginSettings>,
    /// The server file's directory, against which granted directories are
    /// resolved; `.` without a file.
    #[serde(skip)]
    pub base: PathBuf,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            plugins_dir: None,
            plugins_storage: StorageConfig::default(),
            watch_interval_ms: 1000,
            flight_addr: "127.0.0.1:50051".into(),
            http_addr: "127.0.0.1:8080".into(),
            admin_token_file: None,
            data_token_file: None,
            tls_cert_file: None,
            tls_key_file: None,
            max_request_mb: 256,
            max_concurrent_calls: None,
            max_queued_calls: 64,
            max_connections_per_client: 128,
            drain_secs: 30,
            defaults: PluginSettings::default(),
            plugins: BTreeMap::new(),
            base: PathBuf::from("."),
        }
    }
}

/// `[defaults]` and `[plugin.NAME]`: how a served plugin runs. Unset keys
/// of a `[plugin.NAME]` table take the `[defaults]` value.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PluginSettings {
    /// The component must have this SHA-256 (hex); any other is refused,
    /// whether it comes from the directory or an upload.
    pub sha256: Option<String>,
    /// Warm instances per transform and configuration; default: the number of cores.
    pub instances: Option<usize>,
    /// What a failing batch does: `fail` answers the client with the error,
    /// `dead-letter` isolates the failing rows and returns them as rejected.
    pub on_error: Option<OnError>,
    /// What one instance may consume.
    pub limits: Option<LimitsConfig>,
    /// What the plugin may reach; nothing by default.
    pub grants: Option<GrantsConfig>,
    /// When repeated failures refuse calls for a while.
    pub circuit_breaker: Option<BreakerConfig>,
}

impl PluginSettings {
    /// These settings with unset keys taken from `defaults`.
    pub fn or(&self, defaults: &PluginSettings) -> PluginSettings {
        PluginSettings {
            sha256: self.sha256.clone(),
            instances: self.instances.or(defaults.instances),
            on_error: self.on_error.or(defaults.on_error),
            limits: self.limits.clone().or_else(|| defaults.limits.clone()),
            grants: self.grants.clone().or_else(|| defaults.grants.clone()),
            circuit_breaker: self.circuit_breaker.clone().or_else(|| defaults.circuit_breaker.clone()),
        }
    }
}

impl ServerConfig {
    /// Reads and checks a server file; relative paths in it are resolved
    /// against its directory.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
        let mut config: Self =
            toml::from_str(&text).map_err(|e| ConfigError::Parse { path: path.to_owned(), message: e.to_string() })?;
        let base = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        config.base = base.to_owned();
        if let Some(dir) = &mut config.plugins_dir
            && !dir.contains("://")
        {
            *dir = base.join(&*dir).to_string_lossy().into_owned();
        }
        for file in [
            &mut config.admin_token_file,
            &mut config.data_token_file,
            &mut config.tls_cert_file,
            &mut config.tls_key_file,
        ]
        .into_iter()
        .flatten()
        {
            *file = base.join(&*file);
        }
        let mut problems = Problems::default();
        config.validate(&mut problems);
        ConfigError::check(path, Some(&text), problems)?;
        Ok(config)
    }

    /// Checks values no server can run with, reporting every problem at
    /// once; `path` names the file in errors.
    pub fn check(&self, path: &Path) -> Result<(), ConfigError> {
        let text = std::fs::read_to_string(path).ok();
        let mut problems = Problems::default();
        self.validate(&mut problems);
        ConfigError::check(path, text.as_deref(), problems)
    }

    /// Records every setting no server can run with.
    pub fn validate(&self, problems: &mut Problems) {
        if self.max_request_mb == 0 {
            problems.add(&At::top("max_request_mb"), "must be at least 1");
        }
        if self.tls_cert_file.is_some() != self.tls_key_file.is_some() {
            problems.add(&At::top("tls_cert_file"), "TLS needs both tls_cert_file and tls_key_file");
        }
        for (key, message) in self.plugins_storage.problems() {
            problems.add(&At::top(&format!("plugins_storage.{key}")), message);
        }
        if self.max_concurrent_calls == Some(0) {
            problems.add(&At::top("max_concurrent_calls"), "must be at least 1");
        }
        if self.max_connections_per_client == 0 {
            problems.add(&At::top("max_connections_per_client"), "must be at least 1");
        }
        let tables = std::iter::once((At::table("defaults"), &self.defaults))
            .chain(self.plugins.iter().map(|(name, s)| (At::table(&format!("plugin.{name}")), s)));
        for (table, settings) in tables {
            if let Some((key, message)) = invalid_run_settings(
                settings.instances,
                settings.limits.as_ref(),
                settings.grants.as_ref(),
                settings.circuit_breaker.as_ref(),
            ) {
                problems.add(&table.key(&key), message);
            }
            if let Some(sha) = &settings.sha256
                && (sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()))
            {
                problems.add(&table.key("sha256"), "must be 64 hexadecimal digits");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plugin_tables_fall_back_to_defaults() {
        let text = r#"
plugins_dir = "plugins"
[defaults]
instances = 2
limits = { timeout_ms = 500 }
[plugin.gcd]
on_error = "dead-letter"
"#;
        let config: ServerConfig = toml::from_str(text).unwrap();
        config.check(Path::new("s.toml")).unwrap();
        let gcd = config.plugins["gcd"].or(&config.defaults);
        assert_eq!(gcd.instances, Some(2));
        assert_eq!(gcd.on_error, Some(OnError::DeadLetter));
        assert_eq!(gcd.limits.unwrap().timeout_ms, 500);
    }

    #[test]
    fn paths_are_relative_to_the_server_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("server.toml");
        std::fs::write(&file, "plugins_dir = \"p\"\ntls_cert_file = \"c.pem\"\ntls_key_file = \"k.pem\"\n").unwrap();
        let config = ServerConfig::load(&file).unwrap();
        assert_eq!(config.plugins_dir, Some(dir.path().join("p").to_string_lossy().into_owned()));
        assert_eq!(config.tls_cert_file, Some(dir.path().join("c.pem")));
        assert_eq!(config.tls_key_file, Some(dir.path().join("k.pem")));
        assert_eq!(config.base, dir.path());
    }

    #[test]
    fn bad_values_name_their_key() {
        let config: ServerConfig = toml::from_str("[plugin.x]\nsha256 = \"abc\"").unwrap();
        let e = config.check(Path::new("s.toml")).unwrap_err().to_string();
        assert!(e.contains("[plugin.x] sha256"), "{e}");
        let config: ServerConfig = toml::from_str("[defaults]\ncircuit_breaker = { failures = 0 }").unwrap();
        let e = config.check(Path::new("s.toml")).unwrap_err().to_string();
        assert!(e.contains("[defaults] circuit_breaker"), "{e}");
        let e = toml::from_str::<ServerConfig>("http_adr = \"x\"").unwrap_err().to_string();
        assert!(e.contains("http_adr"), "{e}");
    }
}
