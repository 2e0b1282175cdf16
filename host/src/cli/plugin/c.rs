//! C plugins: sources on the C SDK (`quiver.h`) and nanoarrow, compiled for
//! wasm32-wasi with zig's clang and made a component with wasm-tools and
//! the WASI preview1 adapter matching the host's wasmtime.
//!
//! A project is a directory with a `quiver.toml` (`name`, `sources`, and
//! optional `cflags`) and its C files. The SDK, the WIT contract and the
//! adapter come from this binary; wit-bindgen, zig, wasm-tools and a
//! wasm32-wasi nanoarrow from the installed toolchains.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use serde::Deserialize;

use super::toolchain::{self, tool};

/// The C SDK's sources, as the binary carries them.
const SDK: &[(&str, &str)] = &[
    ("quiver.h", include_str!("../../../../sdk/c/quiver.h")),
    ("quiver_internal.h", include_str!("../../../../sdk/c/quiver_internal.h")),
    ("quiver.c", include_str!("../../../../sdk/c/quiver.c")),
    ("guest.c", include_str!("../../../../sdk/c/guest.c")),
];

/// The manifest of a C plugin project.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Manifest {
    /// The plugin's name: the component is `build/NAME.wasm`.
    name: String,
    /// The C files to compile, relative to the project.
    sources: Vec<String>,
    /// Extra compiler flags.
    #[serde(default)]
    cflags: Vec<String>,
}

struct Project {
    dir: PathBuf,
    manifest: Manifest,
}

impl Project {
    fn read(dir: &Path) -> anyhow::Result<Self> {
        let dir = dir.canonicalize().with_context(|| format!("cannot open {}", dir.display()))?;
        let path = dir.join("quiver.toml");
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        let manifest: Manifest = toml::from_str(&text).with_context(|| format!("{} is not valid", path.display()))?;
        if manifest.sources.is_empty() {
            bail!("{}: `sources` lists no C file", path.display());
        }
        for source in &manifest.sources {
            if !dir.join(source).is_file() {
                bail!("{}: source `{source}` is not a file in {}", path.display(), dir.display());
            }
        }
        Ok(Self { dir, manifest })
    }
}

/// Builds the project at `dir`; the component goes to `out`, else `build/NAME.wasm`.
pub fn build(dir: &Path, out: Option<&Path>) -> anyhow::Result<PathBuf> {
    let project = Project::read(dir)?;
    let work = project.dir.join("build");
    let sdk = work.join("sdk");
    toolchain::write_tree(&sdk, SDK)?;
    toolchain::write_tree(&work.join("wit"), &[("quiver-transform.wit", toolchain::WIT)])?;
    let bindings = work.join("bindings");
    let mut wit_bindgen = Command::new(tool("cargo/bin/wit-bindgen", "wit-bindgen"));
    wit_bindgen.arg("c").arg(work.join("wit")).args(["--world", "plugin", "--out-dir"]).arg(&bindings);
    wit_bindgen.stdout(std::process::Stdio::null());
    toolchain::run(wit_bindgen, "generate the contract's C bindings")?;

    // nanoarrow built for wasm32-wasi: `lib/libnanoarrow.a` and `include/` beside `lib/`.
    let library = toolchain::installed("c/wasm32-wasi/lib/libnanoarrow.a", "C plugins")?;
    let include = library.parent().and_then(Path::parent).expect("inside the toolchains").join("include");
    let core = work.join("core.wasm");
    let mut cc = Command::new(tool("python/bin/python", "python3"));
    cc.args(["-m", "ziglang", "cc", "--target=wasm32-wasi", "-O2", "-mexec-model=reactor"])
        // Strip while linking: stripping the component later drops its type section.
        .arg("-Wl,--strip-all")
        .arg("-I")
        .arg(&bindings)
        .arg("-I")
        .arg(&sdk)
        .arg("-I")
        .arg(&include)
        .args(&project.manifest.cflags)
        .args(project.manifest.sources.iter().map(|s| project.dir.join(s)))
        .arg(sdk.join("quiver.c"))
        .arg(sdk.join("guest.c"))
        .arg(bindings.join("plugin.c"))
        .arg(bindings.join("plugin_component_type.o"))
        .arg(&library)
        .arg("-o")
        .arg(&core);
    toolchain::run(cc, &format!("compile {}", dir.display()))?;

    let adapter = work.join("wasi_snapshot_preview1.reactor.wasm");
    std::fs::write(&adapter, wasi_preview1_component_adapter_provider::WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER)?;
    let out = out.map(Path::to_path_buf).unwrap_or_else(|| work.join(format!("{}.wasm", project.manifest.name)));
    let mut component = Command::new(tool("python/bin/wasm-tools", "wasm-tools"));
    component
        .args(["component", "new"])
        .arg(&core)
        .arg("--adapt")
        .arg(format!("wasi_snapshot_preview1={}", adapter.display()))
        .arg("-o")
        .arg(&out);
    toolchain::run(component, &format!("make {} a component", core.display()))?;
    Ok(out)
}

/// `quiver plugin test DIR` for C: not there yet, said plainly.
pub fn test(dir: &Path) -> anyhow::Result<()> {
    Project::read(dir)?;
    bail!(
        "C projects have no test runner yet: build with `quiver plugin build {0}` and run the component on data \
         with `quiver plugin test {0}/build/NAME.wasm --input FILE`",
        dir.display()
    )
}

/// The files of a new C plugin project named `name`.
pub fn template(name: &str) -> Vec<(String, String)> {
    let file = name.replace('-', "_");
    let manifest = format!(
        "# A C plugin for Quiver: `quiver plugin build` compiles these sources with the\n\
         # C SDK and nanoarrow for wasm32-wasi and makes the component.\n\
         name = \"{name}\"\nsources = [\"{file}.c\"]\n"
    );
    let source = format!(
        r#"/* `{name}`: adds columns `a` and `b` (int64) into `sum`; refuses rows whose sum overflows. */
#include "quiver.h"

static QuiverScalarResult add(const QuiverValue* args, QuiverValue* result, const char** reason) {{
  if (__builtin_add_overflow(args[0].i, args[1].i, &result->i)) {{
    *reason = "the sum overflows int64";
    return QUIVER_REJECT;
  }}
  return QUIVER_VALUE;
}}

static const char* const PARAMS[] = {{"a", "b"}};
static const enum ArrowType TYPES[] = {{NANOARROW_TYPE_INT64, NANOARROW_TYPE_INT64}};
static const QuiverScalar ADD = {{PARAMS, TYPES, 2, "sum", NANOARROW_TYPE_INT64, add}};
static const QuiverTransform TRANSFORMS[] = {{
    {{.name = "add", .kind = QUIVER_SCALAR, .description = "The sum of a and b", .scalar = &ADD}},
}};
static const QuiverPlugin PLUGIN = {{"{name}", "0.1.0", "Adds two int64 columns", TRANSFORMS, 1}};

const QuiverPlugin* quiver_plugin(void) {{ return &PLUGIN; }}
"#
    );
    vec![("quiver.toml".into(), manifest), (format!("{file}.c"), source), (".gitignore".into(), "build/\n".into())]
}
