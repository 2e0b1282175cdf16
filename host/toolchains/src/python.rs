//! Python plugins: projects on `quiver_sdk`, built with componentize-py.
//!
//! A project is a directory with a `pyproject.toml` (`[project] name`,
//! `dependencies`: pure-Python packages to bundle; `[tool.quiver] module`:
//! the module holding the `plugin` global) and its Python files. The SDK and
//! the WIT contract come from this binary, so a build needs only the
//! toolchain: componentize-py and pip.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use serde::Deserialize;

use crate::project::Toolchain;
use crate::toolchain::{self, pin, tool};

/// The Python SDK's sources, as the binary carries them.
const SDK: &[(&str, &str)] = &[
    ("quiver_sdk/__init__.py", include_str!("../sdk/python/quiver_sdk/__init__.py")),
    ("quiver_sdk/batch.py", include_str!("../sdk/python/quiver_sdk/batch.py")),
    ("quiver_sdk/column.py", include_str!("../sdk/python/quiver_sdk/column.py")),
    ("quiver_sdk/compute.py", include_str!("../sdk/python/quiver_sdk/compute.py")),
    ("quiver_sdk/guest.py", include_str!("../sdk/python/quiver_sdk/guest.py")),
    ("quiver_sdk/ipc.py", include_str!("../sdk/python/quiver_sdk/ipc.py")),
    ("quiver_sdk/plugin.py", include_str!("../sdk/python/quiver_sdk/plugin.py")),
    ("quiver_sdk/select.py", include_str!("../sdk/python/quiver_sdk/select.py")),
    ("quiver_sdk/testing.py", include_str!("../sdk/python/quiver_sdk/testing.py")),
    ("quiver_sdk/types.py", include_str!("../sdk/python/quiver_sdk/types.py")),
];

/// The module componentize-py starts from: it imports the author's module
/// while the component is snapshotted, so a start pays nothing for it.
const ENTRY: &str = "quiver_entry";

/// The CPython inside componentize-py, for picking pure-Python wheels.
const GUEST_PYTHON: &str = "3.14";

#[derive(Debug, Deserialize)]
struct PyProject {
    project: ProjectTable,
    #[serde(default)]
    tool: ToolTable,
}

#[derive(Debug, Deserialize)]
struct ProjectTable {
    name: String,
    #[serde(default)]
    dependencies: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
struct ToolTable {
    #[serde(default)]
    quiver: QuiverTable,
}

#[derive(Debug, Default, Deserialize)]
struct QuiverTable {
    module: Option<String>,
}

/// A Python plugin project, read from its `pyproject.toml`.
struct Project {
    dir: PathBuf,
    name: String,
    module: String,
    dependencies: Vec<String>,
}

impl Project {
    fn read(dir: &Path) -> anyhow::Result<Self> {
        let dir = &dir.canonicalize().with_context(|| format!("cannot open {}", dir.display()))?;
        let manifest = dir.join("pyproject.toml");
        let text = std::fs::read_to_string(&manifest).with_context(|| format!("reading {}", manifest.display()))?;
        let parsed: PyProject =
            toml::from_str(&text).with_context(|| format!("{} is not valid", manifest.display()))?;
        let module = parsed.tool.quiver.module.unwrap_or_else(|| parsed.project.name.replace('-', "_"));
        if module == ENTRY || module == "plugin" || module == "quiver_sdk" {
            bail!("{}: `[tool.quiver] module` cannot be `{module}`, a name the build uses", manifest.display());
        }
        if !dir.join(format!("{module}.py")).is_file() && !dir.join(&module).join("__init__.py").is_file() {
            bail!(
                "{}: the plugin module `{module}` is neither {module}.py nor {module}/__init__.py there; \
                 set `[tool.quiver] module`",
                dir.display()
            );
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            name: parsed.project.name,
            module,
            dependencies: parsed.project.dependencies,
        })
    }

    /// Where builds happen: `build/` in the project.
    fn work(&self) -> PathBuf {
        self.dir.join("build")
    }

    /// The SDK and the bundled dependencies, ready to import.
    fn prepare(&self) -> anyhow::Result<(PathBuf, PathBuf)> {
        let work = self.work();
        let sdk = work.join("sdk");
        toolchain::write_tree(&sdk, SDK)?;
        let deps = work.join("deps");
        self.install_dependencies(&deps)?;
        Ok((sdk, deps))
    }

    /// pip-installs the SDK's and the project's dependencies into `deps`,
    /// pure-Python wheels only (the guest cannot load native extensions).
    fn install_dependencies(&self, deps: &Path) -> anyhow::Result<()> {
        let mut wanted = vec![format!("flatbuffers=={}", pin("PYTHON_FLATBUFFERS_VERSION"))];
        wanted.extend(self.dependencies.iter().cloned());
        let stamp = deps.join(".quiver-requirements");
        let listed = wanted.join("\n");
        if std::fs::read_to_string(&stamp).is_ok_and(|s| s == listed) {
            return Ok(());
        }
        let _ = std::fs::remove_dir_all(deps);
        let mut pip = Command::new(tool("python/bin/python", "python3"));
        pip.args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--target"])
            .arg(deps)
            .args(["--only-binary=:all:", "--platform", "any", "--implementation", "py", "--abi", "none"])
            .args(["--python-version", GUEST_PYTHON])
            .args(&wanted);
        toolchain::run(pip, "bundle the dependencies (only pure-Python wheels can go into a plugin)")?;
        std::fs::write(&stamp, listed)?;
        Ok(())
    }

    /// A fresh copy of the project's Python sources, with the entry module.
    fn copy_app(&self, app: &Path) -> anyhow::Result<()> {
        let _ = std::fs::remove_dir_all(app);
        toolchain::copy_sources(&self.dir, app, &self.work(), &is_source)?;
        let entry = format!(
            "# Written by `quiver plugin build`.\nfrom quiver_sdk import guest\n\nguest.serve({:?})\nTransform = guest.Transform\n",
            self.module
        );
        std::fs::write(app.join(format!("{ENTRY}.py")), entry)?;
        Ok(())
    }
}

/// Whether a project entry goes into the component: Python modules and
/// packages, not tests or caches.
fn is_source(path: &Path) -> bool {
    let name = path.file_name().expect("entries have names").to_string_lossy();
    if name == "__pycache__" || name.starts_with("test_") {
        return false;
    }
    if path.is_dir() { path.join("__init__.py").is_file() } else { name.ends_with(".py") }
}

/// Builds the project at `dir`; the component goes to `out`, else `build/NAME.wasm`.
fn build(dir: &Path, out: Option<&Path>, _profile: &str) -> anyhow::Result<PathBuf> {
    let project = Project::read(dir)?;
    let (sdk, deps) = project.prepare()?;
    let work = project.work();
    toolchain::write_tree(&work.join("wit"), &[("quiver-transform.wit", toolchain::WIT_0_2)])?;
    let app = work.join("app");
    project.copy_app(&app)?;
    let out = out.map(Path::to_path_buf).unwrap_or_else(|| work.join(format!("{}.wasm", project.name)));
    let mut componentize = Command::new(tool("python/bin/componentize-py", "componentize-py"));
    componentize
        .arg("-d")
        .arg(work.join("wit"))
        .args(["-w", "plugin", "componentize", ENTRY, "-p"])
        .arg(&app)
        .arg("-p")
        .arg(&sdk)
        .arg("-p")
        .arg(&deps)
        .arg("-o")
        .arg(&out)
        // The sources are a copy: no bytecode beside them is worth keeping.
        .env("PYTHONDONTWRITEBYTECODE", "1");
    toolchain::run(componentize, &format!("build {}", dir.display()))?;
    Ok(out)
}

/// Runs the project's `test_*.py` with CPython's unittest, the SDK on the path.
fn test(dir: &Path) -> anyhow::Result<()> {
    let project = Project::read(dir)?;
    let (sdk, deps) = project.prepare()?;
    let path = std::env::join_paths([sdk.as_path(), deps.as_path(), dir])?;
    let mut python = Command::new(tool("python/bin/python", "python3"));
    python
        .current_dir(dir)
        .args(["-B", "-m", "unittest", "discover", "-s", ".", "-p", "test_*.py"])
        .env("PYTHONPATH", path);
    toolchain::run(python, &format!("run the tests of {}", dir.display()))
}

/// The files of a new Python plugin project named `name`.
fn template(name: &str) -> anyhow::Result<Vec<(String, String)>> {
    let module = name.replace('-', "_");
    let manifest = format!(
        r#"[project]
name = "{name}"
version = "0.1.0"
description = "Adds two int64 columns"
# Pure-Python packages to bundle into the plugin.
dependencies = []

[tool.quiver]
# The module that holds the `plugin` global.
module = "{module}"
"#
    );
    let source = format!(
        r#""""`{name}`: adds columns `a` and `b` (int64) into `sum`; refuses rows whose sum overflows."""

from quiver_sdk import Plugin
from quiver_sdk.types import int64

plugin = Plugin("{name}", "0.1.0", "Adds two int64 columns")

INT64 = range(-(2**63), 2**63)


@plugin.scalar(output="sum")
def add(a: int64, b: int64) -> int64:
    """The sum of a and b; an overflow refuses the row."""
    total = a + b
    if total not in INT64:
        raise ValueError(f"{{a}} + {{b}} overflows int64")
    return total
"#
    );
    let test = format!(
        r#"import unittest

from quiver_sdk import Batch, Field, Schema
from quiver_sdk.testing import Run
from quiver_sdk.types import int64

from {module} import plugin


class AddTest(unittest.TestCase):
    def test_adds_and_refuses_overflows(self):
        schema = Schema([Field("a", int64), Field("b", int64)])
        run = Run(plugin, "add", schema)
        out = run.process(Batch.from_pydict(schema, {{"a": [1, None, 2**63 - 1], "b": [2, 3, 1]}}))
        self.assertEqual(out.batch.to_pydict(), {{"a": [1, None], "b": [2, 3], "sum": [3, None]}})
        self.assertEqual([row for row, _ in out.rejections], [2])


if __name__ == "__main__":
    unittest.main()
"#
    );
    Ok(vec![
        ("pyproject.toml".into(), manifest),
        (format!("{module}.py"), source),
        (format!("test_{module}.py"), test),
        (".gitignore".into(), "build/\n__pycache__/\n".into()),
    ])
}

/// A Python project on `quiver_sdk`, built with componentize-py.
pub const TOOLCHAIN: Toolchain = Toolchain { manifest: "pyproject.toml", template, build, test };
