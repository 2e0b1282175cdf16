//! The guest toolchains `quiver plugin` drives, and the contract and SDK
//! sources built into the binary so a plugin builds without the repository.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

/// The pinned toolchain versions, `KEY=VALUE` lines (`sdk/toolchains.env`).
const PINS: &str = include_str!("../sdk/toolchains.env");

/// The plugin contract at 0.1.0, which the C, Go, JavaScript and Rust SDKs
/// build against.
pub const WIT_0_1: &str = include_str!("../wit/0.1.0/quiver-transform.wit");

/// The plugin contract at 0.2.0, with the host's kernels, which the Python
/// SDK builds against.
pub const WIT_0_2: &str = include_str!("../wit/0.2.0/quiver-transform.wit");

/// The pinned version `key` of `sdk/toolchains.env`.
pub fn pin(key: &str) -> &'static str {
    PINS.lines()
        .filter_map(|line| line.split_once('='))
        .find(|(k, _)| k.trim() == key)
        .map(|(_, v)| v.trim())
        .unwrap_or_else(|| panic!("sdk/toolchains.env pins no {key}"))
}

/// A tool of the installed toolchains (`$QUIVER_TOOLCHAINS/<sub>`, as
/// `sdk/install-toolchains.sh DIR` lays them out), else `name` on `PATH`.
pub fn tool(sub: &str, name: &str) -> PathBuf {
    if let Some(dir) = std::env::var_os("QUIVER_TOOLCHAINS") {
        let installed = Path::new(&dir).join(sub);
        if installed.is_file() {
            return installed;
        }
    }
    PathBuf::from(name)
}

/// A path of the installed toolchains (`$QUIVER_TOOLCHAINS/<sub>`) that
/// must exist, for what has no fallback on `PATH` (`what` needs it).
pub fn installed(sub: &str, what: &str) -> anyhow::Result<PathBuf> {
    match std::env::var_os("QUIVER_TOOLCHAINS").map(|d| Path::new(&d).join(sub)) {
        Some(path) if path.exists() => Ok(path),
        _ => bail!(
            "{what} need the toolchains' {sub}: install them with `bash sdk/install-toolchains.sh DIR` \
             and set QUIVER_TOOLCHAINS=DIR"
        ),
    }
}

/// Runs `command`, failing with `what` and the way to install `tool` when it cannot start or fails.
pub fn run(mut command: Command, what: &str) -> anyhow::Result<()> {
    let program = command.get_program().to_string_lossy().into_owned();
    let status = command.status().with_context(|| {
        format!(
            "cannot run {program} to {what}: install the guest toolchains with `bash sdk/install-toolchains.sh DIR` \
             and set QUIVER_TOOLCHAINS=DIR"
        )
    })?;
    if !status.success() {
        bail!("{program} failed to {what} ({status})");
    }
    Ok(())
}

/// Writes `files` (name, text) under `dir`, leaving files with the same text untouched.
pub fn write_tree(dir: &Path, files: &[(&str, &str)]) -> anyhow::Result<()> {
    for (name, text) in files {
        let path = dir.join(name);
        if std::fs::read_to_string(&path).is_ok_and(|old| old == *text) {
            continue;
        }
        std::fs::create_dir_all(path.parent().expect("inside dir"))?;
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// Copies the project tree `from` to `to`, leaving out `skip` (the build
/// directory), hidden entries, and the entries `keep` refuses.
pub fn copy_sources(from: &Path, to: &Path, skip: &Path, keep: &dyn Fn(&Path) -> bool) -> anyhow::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let path = entry?.path();
        let name = path.file_name().expect("entries have names").to_string_lossy().into_owned();
        if path == skip || name.starts_with('.') || !keep(&path) {
            continue;
        }
        if path.is_dir() {
            copy_sources(&path, &to.join(&name), skip, keep)?;
        } else {
            std::fs::copy(&path, to.join(&name))?;
        }
    }
    Ok(())
}

/// Makes the core module `core` (a wasm32-wasi reactor) the component `out`
/// with wasm-tools and the WASI preview1 adapter of the host's wasmtime,
/// written to `work` from this binary.
pub fn componentize(core: &Path, work: &Path, out: &Path) -> anyhow::Result<()> {
    let adapter = work.join("wasi_snapshot_preview1.reactor.wasm");
    std::fs::write(&adapter, wasi_preview1_component_adapter_provider::WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER)?;
    let mut component = Command::new(tool("python/bin/wasm-tools", "wasm-tools"));
    component
        .args(["component", "new"])
        .arg(core)
        .arg("--adapt")
        .arg(format!("wasi_snapshot_preview1={}", adapter.display()))
        .arg("-o")
        .arg(out);
    run(component, &format!("make {} a component", core.display()))
}
