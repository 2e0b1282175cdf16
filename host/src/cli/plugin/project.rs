//! Plugin projects: which language a directory holds, and the commands on it.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::ValueEnum;

use super::{c, go, js, python, rust};

/// A guest language `quiver plugin new` and `build` know.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Lang {
    /// A Rust crate on `quiver-sdk`, built for wasm32-wasip2.
    Rust,
    /// A Python project on `quiver_sdk`, built with componentize-py.
    Python,
    /// A JavaScript project on `quiver-sdk`, bundled with esbuild, built with componentize-js.
    Js,
    /// C sources on the C SDK and nanoarrow, built with zig's clang and wasm-tools.
    C,
    /// A Go module on the Go SDK and arrow-go, built by Go's wasip1 port and wasm-tools.
    Go,
}

impl Lang {
    /// The language of the project at `path`, from the manifest it holds.
    fn of(path: &Path) -> anyhow::Result<Self> {
        if path.is_file() && path.file_name().is_some_and(|n| n == "Cargo.toml") || path.join("Cargo.toml").is_file() {
            return Ok(Self::Rust);
        }
        if path.join("pyproject.toml").is_file() {
            return Ok(Self::Python);
        }
        if path.join("package.json").is_file() {
            return Ok(Self::Js);
        }
        if path.join("quiver.toml").is_file() {
            return Ok(Self::C);
        }
        if path.join("go.mod").is_file() {
            return Ok(Self::Go);
        }
        bail!(
            "{} is not a plugin project: it has no Cargo.toml (Rust), pyproject.toml (Python), \
             package.json (JavaScript), quiver.toml (C) or go.mod (Go); \
             `quiver plugin new --lang LANG DIR` makes one",
            path.display()
        )
    }
}

/// The plugin's name from the project directory's last component, checked
/// to be usable as a crate, module and component name.
pub fn plugin_name(dir: &Path) -> anyhow::Result<String> {
    let name = dir
        .file_name()
        .and_then(|n| n.to_str())
        .with_context(|| format!("{} does not end in a name for the plugin", dir.display()))?;
    let ok = name.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if !ok || name == "plugin" {
        bail!(
            "`{name}` cannot name a plugin: use lowercase letters, digits, `-` and `_`, starting with a letter (and not `plugin`)"
        );
    }
    Ok(name.to_string())
}

/// `quiver plugin new`.
pub fn create(lang: Lang, dir: &Path) -> anyhow::Result<()> {
    let name = plugin_name(dir)?;
    if dir.exists() {
        bail!("{} exists already; pick a new directory", dir.display());
    }
    let files = match lang {
        Lang::Rust => rust::template(&name)?,
        Lang::Python => python::template(&name),
        Lang::Js => js::template(&name),
        Lang::C => c::template(&name),
        Lang::Go => go::template(&name),
    };
    for (file, text) in files {
        let path = dir.join(file);
        std::fs::create_dir_all(path.parent().expect("template files live in the project"))?;
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// `quiver plugin build`: the component's path.
pub fn build(path: &Path, profile: &str, out: Option<&Path>) -> anyhow::Result<PathBuf> {
    let built = match Lang::of(path)? {
        Lang::Rust => rust::build(path, profile)?,
        Lang::Python => return python::build(path, out),
        Lang::Js => return js::build(path, out),
        Lang::C => return c::build(path, out),
        Lang::Go => return go::build(path, out),
    };
    match out {
        Some(out) => {
            std::fs::copy(&built, out).with_context(|| format!("copying the component to {}", out.display()))?;
            Ok(out.to_path_buf())
        }
        None => Ok(built),
    }
}

/// `quiver plugin test DIR`: the project's own tests, in its language's test runner.
pub fn test(dir: &Path) -> anyhow::Result<()> {
    match Lang::of(dir)? {
        Lang::Rust => rust::test(dir),
        Lang::Python => python::test(dir),
        Lang::Js => js::test(dir),
        Lang::C => c::test(dir),
        Lang::Go => go::test(dir),
    }
}
