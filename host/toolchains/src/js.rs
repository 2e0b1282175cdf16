//! JavaScript plugins: projects on `quiver-sdk` (JS), bundled with esbuild
//! and built into components with componentize-js.
//!
//! A project is a directory with a `package.json` (`name`; `main`: the module
//! that exports `plugin`; `dependencies`: npm packages to bundle) and its
//! modules. The SDK and the WIT contract come from this binary; apache-arrow,
//! esbuild and componentize-js from the installed toolchains.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use serde::Deserialize;

use crate::project::Toolchain;
use crate::toolchain::{self, tool};

/// The JavaScript SDK's sources, as the binary carries them.
const SDK: &[(&str, &str)] = &[
    ("package.json", include_str!("../sdk/js/quiver-sdk/package.json")),
    ("errors.js", include_str!("../sdk/js/quiver-sdk/errors.js")),
    ("guest.js", include_str!("../sdk/js/quiver-sdk/guest.js")),
    ("index.js", include_str!("../sdk/js/quiver-sdk/index.js")),
    ("kernels.js", include_str!("../sdk/js/quiver-sdk/kernels.js")),
    ("log.js", include_str!("../sdk/js/quiver-sdk/log.js")),
    ("plugin.js", include_str!("../sdk/js/quiver-sdk/plugin.js")),
    ("testing.js", include_str!("../sdk/js/quiver-sdk/testing.js")),
    ("types.js", include_str!("../sdk/js/quiver-sdk/types.js")),
    ("compute.js", include_str!("../sdk/js/quiver-sdk/compute.js")),
    ("select.js", include_str!("../sdk/js/quiver-sdk/select.js")),
    ("wire.js", include_str!("../sdk/js/quiver-sdk/wire.js")),
];

/// The module componentize-js starts from; it exports the contract's `transform`.
const ENTRY: &str = "quiver-entry.js";

#[derive(Debug, Deserialize)]
struct PackageJson {
    name: String,
    main: Option<String>,
    #[serde(default)]
    dependencies: BTreeMap<String, String>,
}

/// A JavaScript plugin project, read from its `package.json`.
struct Project {
    dir: PathBuf,
    name: String,
    main: String,
    dependencies: BTreeMap<String, String>,
}

impl Project {
    fn read(dir: &Path) -> anyhow::Result<Self> {
        let dir = &dir.canonicalize().with_context(|| format!("cannot open {}", dir.display()))?;
        let manifest = dir.join("package.json");
        let text = std::fs::read_to_string(&manifest).with_context(|| format!("reading {}", manifest.display()))?;
        let parsed: PackageJson =
            serde_json::from_str(&text).with_context(|| format!("{} is not valid", manifest.display()))?;
        let main = parsed.main.unwrap_or_else(|| "index.js".into());
        if !dir.join(&main).is_file() {
            bail!("{}: `main` is {main}, which is not a file there", manifest.display());
        }
        Ok(Self { dir: dir.to_path_buf(), name: parsed.name, main, dependencies: parsed.dependencies })
    }

    /// Where builds happen: `build/` in the project.
    fn work(&self) -> PathBuf {
        self.dir.join("build")
    }

    /// `build/node_modules` with the project's dependencies, the SDK and
    /// apache-arrow, and `build/app` with a copy of the project's modules.
    fn prepare(&self) -> anyhow::Result<PathBuf> {
        let work = self.work();
        let modules = work.join("node_modules");
        self.install_dependencies(&work)?;
        toolchain::write_tree(&modules.join("quiver-sdk"), SDK)?;
        let arrow = toolchain::installed("js/node_modules/apache-arrow", "JavaScript plugins")?;
        let link = modules.join("apache-arrow");
        if std::fs::read_link(&link).ok().as_deref() != Some(arrow.as_path()) {
            let _ = std::fs::remove_file(&link);
            let _ = std::fs::remove_dir_all(&link);
            std::os::unix::fs::symlink(&arrow, &link)
                .with_context(|| format!("linking {} to {}", link.display(), arrow.display()))?;
        }
        let app = work.join("app");
        let _ = std::fs::remove_dir_all(&app);
        toolchain::copy_sources(&self.dir, &app, &work, &|p| !p.ends_with("node_modules"))?;
        Ok(app)
    }

    /// npm-installs the project's dependencies into `build/node_modules`
    /// (once per change of the list).
    fn install_dependencies(&self, work: &Path) -> anyhow::Result<()> {
        let listed = serde_json::to_string_pretty(&serde_json::json!({
            "private": true,
            "dependencies": self.dependencies,
        }))?;
        let manifest = work.join("package.json");
        if std::fs::read_to_string(&manifest).is_ok_and(|s| s == listed) {
            return Ok(());
        }
        std::fs::create_dir_all(work)?;
        std::fs::write(&manifest, &listed)?;
        if self.dependencies.is_empty() {
            return Ok(());
        }
        let mut npm = Command::new("npm");
        npm.current_dir(work).args(["install", "--omit=dev", "--no-audit", "--no-fund", "--ignore-scripts"]);
        toolchain::run(npm, "install the plugin's dependencies").inspect_err(|_| {
            let _ = std::fs::remove_file(&manifest);
        })
    }
}

/// Builds the project at `dir`; the component goes to `out`, else `build/NAME.wasm`.
fn build(dir: &Path, out: Option<&Path>, _profile: &str) -> anyhow::Result<PathBuf> {
    let project = Project::read(dir)?;
    let app = project.prepare()?;
    let work = project.work();
    let entry = format!(
        "// Written by `quiver plugin build`.\nimport {{ serve }} from 'quiver-sdk/guest';\n\
         import {{ plugin }} from './{}';\n\nexport const transform = serve(plugin);\n",
        project.main
    );
    std::fs::write(app.join(ENTRY), entry)?;
    let bundle = work.join("bundle.js");
    let mut esbuild = Command::new(tool("js/node_modules/.bin/esbuild", "esbuild"));
    esbuild
        .arg(app.join(ENTRY))
        .args(["--bundle", "--format=esm", "--platform=browser", "--minify", "--keep-names", "--log-level=warning"])
        // The contract's imports are the component's, not modules to bundle.
        .arg("--external:quiver:*")
        .arg(format!("--outfile={}", bundle.display()));
    toolchain::run(esbuild, &format!("bundle {}", dir.display()))?;
    toolchain::write_tree(&work.join("wit"), &[("quiver-transform.wit", toolchain::WIT_0_2)])?;
    let out = out.map(Path::to_path_buf).unwrap_or_else(|| work.join(format!("{}.wasm", project.name)));
    let mut componentize = Command::new(tool("js/node_modules/.bin/componentize-js", "componentize-js"));
    componentize
        .arg(&bundle)
        .arg("--wit")
        .arg(work.join("wit"))
        .args(["--world-name", "plugin"])
        // Without these the component imports wasi:http, which the host does not grant.
        .args(["-d", "http", "-d", "fetch-event"])
        .arg("-o")
        .arg(&out);
    toolchain::run(componentize, &format!("build {}", dir.display()))?;
    Ok(out)
}

/// Runs the project's tests (`*.test.js` and the like) with `node --test`, the SDK resolvable.
fn test(dir: &Path) -> anyhow::Result<()> {
    let project = Project::read(dir)?;
    let app = project.prepare()?;
    let mut node = Command::new("node");
    node.current_dir(&app).arg("--test");
    toolchain::run(node, &format!("run the tests of {}", dir.display()))
}

/// The files of a new JavaScript plugin project named `name`.
fn template(name: &str) -> anyhow::Result<Vec<(String, String)>> {
    let manifest = format!(
        r#"{{
  "name": "{name}",
  "version": "0.1.0",
  "description": "Adds two int64 columns",
  "type": "module",
  "main": "{name}.js",
  "dependencies": {{}}
}}
"#
    );
    let source = format!(
        r#"/** `{name}`: adds columns `a` and `b` (int64) into `sum`; refuses rows whose sum overflows. */
import {{ Plugin, types }} from 'quiver-sdk';

export const plugin = new Plugin('{name}', '0.1.0', 'Adds two int64 columns');

const MAX = 2n ** 63n - 1n;
const MIN = -(2n ** 63n);

/** The sum of a and b (BigInts, as Arrow JS gives int64); an overflow refuses the row. */
export function add(a, b) {{
  const sum = a + b;
  if (sum > MAX || sum < MIN) throw new Error(`${{a}} + ${{b}} overflows int64`);
  return sum;
}}

plugin.scalar('add', {{ args: {{ a: types.int64, b: types.int64 }}, output: ['sum', types.int64] }}, add);
"#
    );
    let test = format!(
        r#"import assert from 'node:assert/strict';
import test from 'node:test';
import {{ arrow, types }} from 'quiver-sdk';
import {{ Run, batchFrom, toColumns }} from 'quiver-sdk/testing';
import {{ plugin }} from './{name}.js';

test('adds, and refuses overflows', () => {{
  const schema = new arrow.Schema([new arrow.Field('a', types.int64, true), new arrow.Field('b', types.int64, true)]);
  const run = new Run(plugin, 'add', schema);
  const out = run.process(batchFrom(schema, {{ a: [1n, null, 2n ** 63n - 1n], b: [2n, 3n, 1n] }}));
  assert.deepEqual(toColumns(out.batch), {{ a: [1n, null], b: [2n, 3n], sum: [3n, null] }});
  assert.deepEqual(out.rejections.map(([row]) => row), [2]);
}});
"#
    );
    Ok(vec![
        ("package.json".into(), manifest),
        (format!("{name}.js"), source),
        (format!("{name}.test.js"), test),
        (".gitignore".into(), "build/\nnode_modules/\n".into()),
    ])
}

/// A JavaScript project on `quiver-sdk`, bundled by esbuild and built with componentize-js.
pub const TOOLCHAIN: Toolchain = Toolchain { manifest: "package.json", template, build, test };
