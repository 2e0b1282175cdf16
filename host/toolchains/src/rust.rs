//! Rust plugins: crates on `quiver-sdk`, built by cargo for wasm32-wasip2.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, bail};

use crate::project::Toolchain;
use crate::toolchain;

/// Builds the plugin crate at `path` for wasm32-wasip2 and returns the component's path.
pub fn build(path: &Path, profile: &str) -> anyhow::Result<PathBuf> {
    let manifest = if path.is_dir() { path.join("Cargo.toml") } else { path.to_path_buf() };
    if !manifest.is_file() {
        bail!("{} is not a plugin crate: no Cargo.toml there", path.display());
    }
    let manifest = manifest.canonicalize()?;
    let crate_dir = manifest.parent().expect("a manifest lives in a directory");
    // Run where the crate lives, so its own .cargo/config.toml applies, as it would for its author.
    let mut child = cargo()
        .current_dir(crate_dir)
        .args(["build", "--target", "wasm32-wasip2", "--profile", profile, "--message-format=json-render-diagnostics"])
        .arg("--manifest-path")
        .arg(&manifest)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("cannot run cargo: is the Rust toolchain installed?")?;
    let mut component = None;
    for line in BufReader::new(child.stdout.take().expect("piped")).lines() {
        let message: serde_json::Value = match serde_json::from_str(&line?) {
            Ok(v) => v,
            Err(_) => continue,
        };
        let ours = message["manifest_path"].as_str().is_some_and(|p| Path::new(p) == manifest);
        if message["reason"] == "compiler-artifact" && ours {
            let wasm = message["filenames"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|f| f.as_str())
                .find(|f| f.ends_with(".wasm"));
            if let Some(wasm) = wasm {
                component = Some(PathBuf::from(wasm));
            }
        }
    }
    let status = child.wait()?;
    if !status.success() {
        bail!(
            "cargo could not build {}; if it says the wasm32-wasip2 target is missing, run `rustup target add wasm32-wasip2`",
            manifest.display()
        );
    }
    component.with_context(|| {
        format!("{} built no .wasm: set `crate-type = [\"cdylib\"]` in its [lib] section", manifest.display())
    })
}

/// `cargo test` in the crate: its own tests, run natively.
fn test(dir: &Path) -> anyhow::Result<()> {
    let mut command = cargo();
    command.current_dir(dir).arg("test");
    toolchain::run(command, "run the crate's tests")
}

/// The cargo that runs this build (`$CARGO`), else the one on `PATH`.
fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

/// Where the Rust SDK is: `$QUIVER_SDK_DIR/rust`, else the repository this binary was built from.
fn sdk_dir() -> anyhow::Result<PathBuf> {
    let dir = match std::env::var_os("QUIVER_SDK_DIR") {
        Some(dir) => PathBuf::from(dir).join("rust"),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sdk/rust"),
    };
    dir.canonicalize().with_context(|| {
        format!("the Rust SDK is not at {}: set QUIVER_SDK_DIR to the repository's sdk/ directory", dir.display())
    })
}

/// The files of a new Rust plugin crate named `name`.
fn template(name: &str) -> anyhow::Result<Vec<(String, String)>> {
    let sdk = sdk_dir()?;
    let manifest = format!(
        r#"[package]
name = "{name}"
version = "0.1.0"
edition = "2024"
publish = false

[lib]
# cdylib: the component; rlib: the same code for native tests.
crate-type = ["cdylib", "rlib"]

[dependencies]
quiver-sdk = {{ path = {sdk:?} }}

[profile.release]
lto = true
codegen-units = 1
strip = "debuginfo"
panic = "abort"

# A project of its own, even inside another workspace.
[workspace]
"#,
        sdk = sdk.display().to_string()
    );
    let lib = format!(
        r#"//! `{name}`: adds columns `a` and `b` (int64) into `sum`; refuses rows whose sum overflows.

use quiver_sdk::{{Plugin, scalar}};

/// The sum of a and b; an overflow refuses the row.
#[scalar]
pub fn add(a: i64, b: i64) -> Result<i64, String> {{
    a.checked_add(b).ok_or_else(|| format!("{{a}} + {{b}} overflows int64"))
}}

/// The plugin: one scalar transform, `add`, writing column `sum`.
pub fn plugin() -> Plugin {{
    Plugin::new("{name}", env!("CARGO_PKG_VERSION"), "Adds two int64 columns").scalar(add_scalar(), "sum")
}}

quiver_sdk::export!(plugin);

#[cfg(test)]
mod tests {{
    use super::*;

    #[test]
    fn adds_and_refuses_overflows() {{
        assert_eq!(add(2, 3), Ok(5));
        assert!(add(i64::MAX, 1).is_err());
    }}
}}
"#
    );
    Ok(vec![("Cargo.toml".into(), manifest), ("src/lib.rs".into(), lib), (".gitignore".into(), "/target\n".into())])
}

/// A Rust crate on `quiver-sdk`, built by cargo for wasm32-wasip2.
pub const TOOLCHAIN: Toolchain = Toolchain { manifest: "Cargo.toml", template, build: build_to, test };

/// [`build`], with the component copied to `out` when given.
fn build_to(dir: &Path, out: Option<&Path>, profile: &str) -> anyhow::Result<PathBuf> {
    let built = build(dir, profile)?;
    match out {
        Some(out) => {
            std::fs::copy(&built, out).with_context(|| format!("copying the component to {}", out.display()))?;
            Ok(out.to_path_buf())
        }
        None => Ok(built),
    }
}
