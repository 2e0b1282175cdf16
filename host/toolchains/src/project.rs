//! Plugin projects: which language a directory holds, and the commands on it.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::ValueEnum;

use crate::{c, go, js, python, rust};

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

/// A project's files: paths relative to its directory, and their text.
pub type Files = Vec<(String, String)>;

/// What `quiver plugin new`, `build` and `test` need of one guest language.
pub struct Toolchain {
    /// The file that marks a project of this language.
    pub manifest: &'static str,
    /// The files of a new project named by the argument, with paths relative to its directory.
    pub template: fn(&str) -> anyhow::Result<Files>,
    /// Builds the project in the directory into a component, written to the
    /// second argument when given; the third is the cargo profile of a Rust build.
    pub build: fn(&Path, Option<&Path>, &str) -> anyhow::Result<PathBuf>,
    /// Runs the project's own tests with its language's test runner.
    pub test: fn(&Path) -> anyhow::Result<()>,
}

impl Lang {
    /// This language's toolchain.
    pub fn toolchain(self) -> &'static Toolchain {
        match self {
            Self::Rust => &rust::TOOLCHAIN,
            Self::Python => &python::TOOLCHAIN,
            Self::Js => &js::TOOLCHAIN,
            Self::C => &c::TOOLCHAIN,
            Self::Go => &go::TOOLCHAIN,
        }
    }

    /// The language of the project at `path` (a directory, or a Rust
    /// crate's `Cargo.toml`), from the manifest it holds.
    fn of(path: &Path) -> anyhow::Result<Self> {
        let is = |lang: &Self| {
            let manifest = lang.toolchain().manifest;
            path.join(manifest).is_file() || path.is_file() && path.file_name().is_some_and(|n| n == manifest)
        };
        if let Some(lang) = Self::value_variants().iter().copied().find(is) {
            return Ok(lang);
        }
        let known = Self::value_variants()
            .iter()
            .filter_map(|lang| {
                Some(format!("{} (--lang {})", lang.toolchain().manifest, lang.to_possible_value()?.get_name()))
            })
            .collect::<Vec<_>>()
            .join(", ");
        bail!(
            "{} is not a plugin project: it has none of {known}; `quiver plugin new --lang LANG DIR` makes one",
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
    let files = (lang.toolchain().template)(&name)?;
    for (file, text) in files {
        let path = dir.join(file);
        std::fs::create_dir_all(path.parent().expect("template files live in the project"))?;
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// `quiver plugin build`: the component's path.
pub fn build(path: &Path, profile: &str, out: Option<&Path>) -> anyhow::Result<PathBuf> {
    (Lang::of(path)?.toolchain().build)(path, out, profile)
}

/// `quiver plugin test DIR`: the project's own tests, in its language's test runner.
pub fn test(dir: &Path) -> anyhow::Result<()> {
    (Lang::of(dir)?.toolchain().test)(dir)
}
