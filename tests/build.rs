//! Builds the plugins under test to `wasm32-wasip2` components with a nested
//! cargo, and hands their paths to the tests as constants (the pattern of
//! wasmtime's test-programs artifacts).
//!
//! The nested build uses its own target directory, `target/plugins`, so it
//! never waits on the outer build's lock, and clippy and test share it.

use std::env;
use std::fmt::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

const PLUGINS: &[&str] = &["gcd", "enrich", "validate", "misbehave", "count", "hostile"];

/// The versions the `stamp` plugin is built as.
const STAMP_VERSIONS: &[&str] = &["1.0.0", "2.0.0"];

/// Python plugins on the raw bindings: (name, directory, module, contract
/// version). `hostile-py` stays on 0.1.0, which it proves still loads.
const PYTHON_PLUGINS: &[(&str, &str, &str, &str)] = &[
    ("hostile-py", "plugins/hostile/python", "hostile_py", "0.1.0"),
    ("hostile-compute", "plugins/hostile/python-compute", "hostile_compute", "0.2.0"),
];

/// Builds a Python plugin with the componentize-py that
/// `sdk/install-toolchains.sh` installed (or one on `PATH`).
fn build_python(root: &Path, target_dir: &Path, dir: &str, module: &str, contract: &str) -> PathBuf {
    let installed = root.join("target/toolchains/python/bin/componentize-py");
    let tool = if installed.is_file() { installed } else { PathBuf::from("componentize-py") };
    let out = target_dir.join("python").join(format!("{module}.wasm"));
    // componentize-py imports the sources and leaves `__pycache__` beside
    // them, ignoring PYTHONDONTWRITEBYTECODE: build from a copy, or the
    // watched `plugins/` would change on every build and rerun this script.
    let sources = target_dir.join("python").join(module);
    let _ = std::fs::remove_dir_all(&sources);
    copy_sources(&root.join(dir), &sources);
    let status = Command::new(&tool)
        .arg("-d")
        .arg(root.join("wit").join(contract))
        .args(["-w", "plugin", "componentize", module, "-p"])
        .arg(&sources)
        .arg("-o")
        .arg(&out)
        .status()
        .unwrap_or_else(|e| {
            panic!("running {}: {e}; install it with `bash sdk/install-toolchains.sh`", tool.display())
        });
    assert!(status.success(), "building the Python plugin in {dir} failed");
    out
}

/// Copies a directory of sources, leaving out `__pycache__`.
fn copy_sources(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("creating the source copy");
    for entry in std::fs::read_dir(from).expect("reading plugin sources") {
        let path = entry.expect("a directory entry").path();
        let name = path.file_name().expect("entries have names");
        if path.is_dir() {
            if name != "__pycache__" {
                copy_sources(&path, &to.join(name));
            }
        } else {
            std::fs::copy(&path, to.join(name)).expect("copying a plugin source");
        }
    }
}

/// Appends `pub const NAME: &str = "path";` with its doc line.
fn constant(constants: &mut String, name: &str, doc: &str, file: &Path) {
    writeln!(
        constants,
        "/// {doc}\npub const {}: &str = {:?};",
        name.to_uppercase().replace('-', "_"),
        file.display().to_string()
    )
    .expect("writing to a string");
}

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let root = manifest_dir.parent().expect("tests/ is inside the workspace").to_path_buf();
    let target_dir = root.join("target").join("plugins");
    for watched in ["wit", "sdk", "plugins", ".cargo/config.toml", "Cargo.toml"] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }

    let mut build = nested_build(&root, &target_dir);
    for plugin in PLUGINS {
        build.args(["-p", &format!("quiver-plugin-{plugin}")]);
    }
    let status = build.status().expect("running the nested cargo build of the plugins");
    assert!(
        status.success(),
        "building the plugins failed; is the wasm32-wasip2 target installed? (rustup target add wasm32-wasip2)"
    );

    let mut constants = String::new();
    for plugin in PLUGINS {
        let file = plugin_file(&target_dir, plugin);
        assert!(file.is_file(), "expected {} after the build", file.display());
        constant(&mut constants, plugin, &format!("The `{plugin}` plugin, built for wasm32-wasip2."), &file);
    }
    for (name, dir, module, contract) in PYTHON_PLUGINS {
        let file = build_python(&root, &target_dir, dir, module, contract);
        constant(&mut constants, name, &format!("The `{name}` plugin (Python), built with componentize-py."), &file);
    }
    // The `stamp` plugin, once per version, to swap versions in the sidecar tests.
    for version in STAMP_VERSIONS {
        let status = nested_build(&root, &target_dir)
            .args(["-p", "quiver-plugin-stamp"])
            .env("QUIVER_STAMP_VERSION", version)
            .status()
            .expect("running the nested cargo build of the stamp plugin");
        assert!(status.success(), "building the stamp plugin {version} failed");
        let file = target_dir.join(format!("stamp-{version}.wasm"));
        std::fs::copy(plugin_file(&target_dir, "stamp"), &file).expect("copying the stamp plugin");
        let name = format!("stamp-v{}", version.split('.').next().expect("a major number"));
        constant(&mut constants, &name, &format!("The `stamp` plugin, version {version}."), &file);
    }
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("set by cargo")).join("plugins.rs");
    std::fs::write(out, constants).expect("writing plugins.rs");
}

/// Where the nested build leaves `quiver-plugin-NAME`.
fn plugin_file(target_dir: &Path, plugin: &str) -> PathBuf {
    target_dir.join("wasm32-wasip2").join("plugin").join(format!("quiver_plugin_{}.wasm", plugin.replace('-', "_")))
}

/// A `cargo build` of plugins for `wasm32-wasip2` into `target_dir`.
fn nested_build(root: &Path, target_dir: &Path) -> Command {
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut build = Command::new(cargo);
    build
        .current_dir(root)
        .args(["build", "--target", "wasm32-wasip2", "--profile", "plugin", "--locked"])
        .arg("--target-dir")
        .arg(target_dir);
    // The outer build's settings are for the host target (and for clippy): keep them out.
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_BUILD_TARGET",
        "CARGO_TARGET_DIR",
        "CARGO_MAKEFLAGS",
        "MAKEFLAGS",
        "MFLAGS",
    ] {
        build.env_remove(var);
    }
    build
}
