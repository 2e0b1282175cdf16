//! The engine every plugin runs on, the on-disk cache of compiled plugins,
//! and loading a component file into a [`Plugin`].

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Config, Engine};

use super::bindings::{CONTRACT_VERSIONS, TRANSFORM_PACKAGE_INTERFACE, v0_1, v0_2};
use super::instance::Pre;
use super::sandbox::HostState;
use super::{Plugin, PluginError};

/// How often the epoch advances; call deadlines are counted in these ticks.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(1);

/// Settings of the plugin runtime.
#[derive(Debug, Clone, Default)]
pub struct RuntimeOptions {
    /// Where compiled plugins are cached; `None` disables the cache.
    pub cache_dir: Option<PathBuf>,
    /// Count fuel, so that [`Limits::fuel`](super::Limits::fuel) can be
    /// enforced. Costs some speed on every call, so it is off unless a
    /// plugin asks for a fuel limit.
    pub fuel: bool,
    /// Enforce no call timeout and no memory or table limit. Only for
    /// measuring what the limits cost; never for untrusted plugins.
    pub unlimited: bool,
}

impl RuntimeOptions {
    /// The default cache directory: `$QUIVER_CACHE_DIR`, else
    /// `$XDG_CACHE_HOME/quiver`, else `~/.cache/quiver`.
    pub fn default_cache_dir() -> Option<PathBuf> {
        if let Some(dir) = std::env::var_os("QUIVER_CACHE_DIR") {
            return Some(dir.into());
        }
        if let Some(dir) = std::env::var_os("XDG_CACHE_HOME") {
            return Some(PathBuf::from(dir).join("quiver"));
        }
        std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache").join("quiver"))
    }
}

/// The wasmtime engine, its linker and its compile cache, shared by every
/// plugin of a process.
pub struct Runtime {
    engine: Engine,
    linker: Linker<HostState>,
    cache_dir: Option<PathBuf>,
    fuel: bool,
    enforced: bool,
    stop_ticker: Arc<AtomicBool>,
}

impl Runtime {
    /// Builds the engine and starts the epoch ticker that enforces call timeouts.
    pub fn new(options: RuntimeOptions) -> Result<Self, PluginError> {
        let mut config = Config::new();
        config.wasm_component_model(true);
        config.epoch_interruption(!options.unlimited);
        config.consume_fuel(options.fuel);
        config.cranelift_opt_level(wasmtime::OptLevel::Speed);
        let engine = Engine::new(&config).map_err(|e| PluginError::Compile {
            path: PathBuf::new(),
            reason: format!("cannot create the wasmtime engine: {e}"),
        })?;
        let mut linker = Linker::new(&engine);
        let link = |e: wasmtime::Error| PluginError::Compile { path: PathBuf::new(), reason: format!("linker: {e}") };
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(link)?;
        // Linked for every plugin so that one importing it loads; requests
        // are refused unless the pipeline grants the host.
        wasmtime_wasi_http::p2::add_only_http_to_linker_sync(&mut linker).map_err(link)?;
        // Each contract version the host still loads has its own interfaces.
        v0_1::Plugin::add_to_linker::<_, HasSelf<_>>(&mut linker, |state| state).map_err(link)?;
        v0_2::Plugin::add_to_linker::<_, HasSelf<_>>(&mut linker, |state| state).map_err(link)?;

        let stop_ticker = Arc::new(AtomicBool::new(false));
        let (ticking, stop) = (engine.weak(), stop_ticker.clone());
        thread::Builder::new()
            .name("quiver-epoch".into())
            .spawn(move || {
                // Count ticks from real time: a sleep overshoots a little, and
                // over a 30 s deadline those overshoots would add up.
                let (started, mut ticks) = (Instant::now(), 0u128);
                while !stop.load(Ordering::Relaxed) {
                    thread::sleep(EPOCH_TICK);
                    let Some(engine) = ticking.upgrade() else { return };
                    let due = started.elapsed().as_nanos() / EPOCH_TICK.as_nanos();
                    while ticks < due {
                        engine.increment_epoch();
                        ticks += 1;
                    }
                }
            })
            .expect("spawning the epoch thread");
        Ok(Self {
            engine,
            linker,
            cache_dir: options.cache_dir,
            fuel: options.fuel,
            enforced: !options.unlimited,
            stop_ticker,
        })
    }

    /// Whether fuel limits can be enforced.
    pub fn counts_fuel(&self) -> bool {
        self.fuel
    }

    /// Whether call timeouts and memory limits are enforced.
    pub fn enforced(&self) -> bool {
        self.enforced
    }

    /// The wasmtime engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Loads, checks and compiles (or fetches from the cache) the component at `path`.
    pub fn load(&self, path: &Path) -> Result<Arc<Plugin>, PluginError> {
        // A file seen before, unchanged since, is neither read nor hashed
        // again: for a 19 MB Python component that is most of a cached load.
        if let Some((sha256, component)) = self.cached_unchanged(path) {
            tracing::debug!(plugin = %path.display(), "unchanged since it was cached");
            return self.prepare(path, sha256, component);
        }
        let bytes = std::fs::read(path).map_err(|source| PluginError::Read { path: path.to_owned(), source })?;
        let plugin = self.load_bytes(path, &bytes)?;
        if let (Some(dir), Some(key)) = (&self.cache_dir, file_key(path))
            && let Err(e) = write_atomically(&dir.join("files").join(key), plugin.sha256().as_bytes())
        {
            tracing::debug!(dir = %dir.display(), "cannot remember {}: {e}", path.display());
        }
        Ok(plugin)
    }

    /// The hash and compiled form of `path` when the cache has both and the
    /// file is unchanged (same device, inode, size, and modification and
    /// change times to the nanosecond) since it was hashed.
    fn cached_unchanged(&self, path: &Path) -> Option<(String, Component)> {
        let dir = self.cache_dir.as_ref()?;
        let sha256 = std::fs::read_to_string(dir.join("files").join(file_key(path)?)).ok()?;
        if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let file = self.compiled_file(dir, &sha256);
        // SAFETY: as in compile_cached.
        let component = unsafe { Component::deserialize_file(&self.engine, &file) }.ok()?;
        Some((sha256, component))
    }

    /// Like [`Runtime::load`], for a component already in memory; `path` names it in errors.
    pub fn load_bytes(&self, path: &Path, bytes: &[u8]) -> Result<Arc<Plugin>, PluginError> {
        check_component_header(path, bytes)?;
        let sha256 = sha256_hex(bytes);
        let started = Instant::now();
        let (component, cached) = self.compile_cached(path, bytes, &sha256)?;
        tracing::debug!(plugin = %path.display(), cached, elapsed_ms = started.elapsed().as_millis() as u64, "compiled");
        self.prepare(path, sha256, component)
    }

    /// Checks a compiled component against the contract and describes it.
    fn prepare(&self, path: &Path, sha256: String, component: Component) -> Result<Arc<Plugin>, PluginError> {
        let version = check_contract(path, &self.engine, &component)?;
        let failed = |e: wasmtime::Error| PluginError::Instantiate {
            plugin: path.display().to_string(),
            reason: format!("{e:#}"),
        };
        let pre = self.linker.instantiate_pre(&component).map_err(failed)?;
        let pre = match version {
            "0.1.0" => Pre::V0_1(v0_1::PluginPre::new(pre).map_err(failed)?),
            _ => Pre::V0_2(v0_2::PluginPre::new(pre).map_err(failed)?),
        };
        Plugin::describe(path, sha256, pre, self)
    }

    fn compile_cached(&self, path: &Path, bytes: &[u8], sha256: &str) -> Result<(Component, bool), PluginError> {
        let compile_error =
            |e: wasmtime::Error| PluginError::Compile { path: path.to_owned(), reason: format!("{e:#}") };
        let Some(dir) = &self.cache_dir else {
            return Ok((Component::from_binary(&self.engine, bytes).map_err(compile_error)?, false));
        };
        let file = self.compiled_file(dir, sha256);
        if file.exists() {
            // SAFETY: the file is one this runtime wrote for this engine configuration, keyed by
            // the component's hash; wasmtime still checks that it was compiled for this engine.
            match unsafe { Component::deserialize_file(&self.engine, &file) } {
                Ok(component) => return Ok((component, true)),
                Err(e) => tracing::warn!(file = %file.display(), "ignoring unreadable cache entry: {e}"),
            }
        }
        let component = Component::from_binary(&self.engine, bytes).map_err(compile_error)?;
        match component.serialize() {
            Ok(compiled) => {
                if let Err(e) = write_atomically(&file, &compiled) {
                    tracing::warn!(dir = %dir.display(), "cannot cache compiled plugin: {e}");
                }
            }
            Err(e) => tracing::warn!("cannot serialize compiled plugin: {e}"),
        }
        Ok((component, false))
    }
}

impl Runtime {
    /// The cache file of the component with hash `sha256`, compiled by this engine's configuration.
    fn compiled_file(&self, dir: &Path, sha256: &str) -> PathBuf {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        self.engine.precompile_compatibility_hash().hash(&mut hasher);
        dir.join(format!("{sha256}-{:016x}.cwasm", hasher.finish()))
    }
}

/// A name for the file at `path` as it is now: a hash of its canonical path,
/// device, inode, size, and modification and change times in nanoseconds.
/// Any write to the file changes its change time.
fn file_key(path: &Path) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let canonical = path.canonicalize().ok()?;
    let m = std::fs::metadata(&canonical).ok()?;
    let key = format!(
        "{}\0{}\0{}\0{}\0{}.{}\0{}.{}",
        canonical.display(),
        m.dev(),
        m.ino(),
        m.size(),
        m.mtime(),
        m.mtime_nsec(),
        m.ctime(),
        m.ctime_nsec()
    );
    Some(sha256_hex(key.as_bytes()))
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.stop_ticker.store(true, Ordering::Relaxed);
    }
}

fn write_atomically(file: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = file.parent().expect("cache files live in a directory");
    std::fs::create_dir_all(dir)?;
    let tmp =
        dir.join(format!(".{}.{}.tmp", file.file_name().unwrap_or_default().to_string_lossy(), std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, file)
}

/// Tells a component from a core module or something else, before wasmtime's
/// parser gives a less helpful message.
fn check_component_header(path: &Path, bytes: &[u8]) -> Result<(), PluginError> {
    let not = |reason: &str| Err(PluginError::NotAComponent { path: path.to_owned(), reason: reason.into() });
    if bytes.len() < 8 || &bytes[..4] != b"\0asm" {
        return not("it does not start with the WebAssembly magic bytes");
    }
    match &bytes[4..8] {
        [0x0d, 0x00, 0x01, 0x00] => Ok(()),
        [0x01, 0x00, 0x00, 0x00] => not(
            "it is a core WebAssembly module; build for the wasm32-wasip2 target, or wrap it with `wasm-tools component new`",
        ),
        _ => not("unknown WebAssembly version or layer"),
    }
}

/// The contract version `component` was built for, one of
/// [`CONTRACT_VERSIONS`].
fn check_contract(path: &Path, engine: &Engine, component: &Component) -> Result<&'static str, PluginError> {
    let exports: Vec<String> = component.component_type().exports(engine).map(|(name, _)| name.to_string()).collect();
    let versions = || exports.iter().filter_map(|e| e.strip_prefix(TRANSFORM_PACKAGE_INTERFACE)?.strip_prefix('@'));
    if let Some(version) = versions().find_map(|v| CONTRACT_VERSIONS.iter().find(|&&known| known == v)) {
        return Ok(version);
    }
    if let Some(other) = versions().next() {
        return Err(PluginError::ContractVersion {
            path: path.to_owned(),
            found: other.to_string(),
            supported: CONTRACT_VERSIONS.join(" and "),
        });
    }
    Err(PluginError::NotAPlugin {
        path: path.to_owned(),
        expected: format!("{TRANSFORM_PACKAGE_INTERFACE}@{}", CONTRACT_VERSIONS.join(" or @")),
        found: if exports.is_empty() { "nothing".into() } else { exports.join(", ") },
    })
}

/// The SHA-256 of `bytes`, in lowercase hex: how plugins are identified in
/// the compile cache, `quiver plugin inspect` and the sidecar's pins.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runtime(fuel: bool) -> Runtime {
        Runtime::new(RuntimeOptions { cache_dir: None, fuel, ..RuntimeOptions::default() }).unwrap()
    }

    #[test]
    fn a_compiled_plugin_is_keyed_by_its_hash_and_the_engine_s_configuration() {
        let dir = Path::new("/cache");
        let (plain, again, fuel) = (runtime(false), runtime(false), runtime(true));
        let sha = sha256_hex(b"a component");
        let key = plain.compiled_file(dir, &sha);
        assert!(key.starts_with(dir) && key.to_string_lossy().contains(&sha), "{}", key.display());
        assert_eq!(key, again.compiled_file(dir, &sha), "the same engine finds what it compiled");
        assert_ne!(key, fuel.compiled_file(dir, &sha), "code compiled to count fuel is another artifact");
        assert_ne!(key, plain.compiled_file(dir, &sha256_hex(b"another component")));
    }

    #[test]
    fn a_file_s_key_changes_with_any_write_and_only_then() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.wasm");
        std::fs::write(&path, b"one").unwrap();
        let first = file_key(&path).unwrap();
        assert_eq!(file_key(&path).unwrap(), first, "an unchanged file keeps its key");
        assert_eq!(file_key(&dir.path().join(".").join("p.wasm")).unwrap(), first, "by its canonical path");
        // Same size, same content: the change time still moves.
        std::thread::sleep(std::time::Duration::from_millis(10));
        std::fs::write(&path, b"one").unwrap();
        assert_ne!(file_key(&path).unwrap(), first, "a rewrite is seen, even with the same bytes");
        assert_eq!(file_key(&dir.path().join("missing.wasm")), None);
    }
}
