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

use crate::project::Toolchain;
use crate::toolchain::{self, tool};

/// The C SDK's sources, as the binary carries them.
const SDK: &[(&str, &str)] = &[
    ("quiver.h", include_str!("../sdk/c/quiver.h")),
    ("quiver_internal.h", include_str!("../sdk/c/quiver_internal.h")),
    ("quiver.c", include_str!("../sdk/c/quiver.c")),
    ("guest.c", include_str!("../sdk/c/guest.c")),
    ("quiver_testing.h", include_str!("../sdk/c/quiver_testing.h")),
    ("testing.c", include_str!("../sdk/c/testing.c")),
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
    /// Test programs, relative to the project: each has its own `main` on
    /// `quiver_testing.h` and is linked with `sources` for `quiver plugin test`.
    #[serde(default)]
    tests: Vec<String>,
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
        for source in manifest.sources.iter().chain(&manifest.tests) {
            if !dir.join(source).is_file() {
                bail!("{}: `{source}` is not a file in {}", path.display(), dir.display());
            }
        }
        Ok(Self { dir, manifest })
    }
}

/// Builds the project at `dir`; the component goes to `out`, else `build/NAME.wasm`.
fn build(dir: &Path, out: Option<&Path>, _profile: &str) -> anyhow::Result<PathBuf> {
    let project = Project::read(dir)?;
    let work = project.dir.join("build");
    let sdk = work.join("sdk");
    toolchain::write_tree(&sdk, SDK)?;
    toolchain::write_tree(&work.join("wit"), &[("quiver-transform.wit", toolchain::WIT_0_1)])?;
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

    let out = out.map(Path::to_path_buf).unwrap_or_else(|| work.join(format!("{}.wasm", project.manifest.name)));
    toolchain::componentize(&core, &work, &out)?;
    Ok(out)
}

/// `quiver plugin test DIR` for C: each test program of the manifest,
/// compiled natively with the plugin's sources, the SDK, its test harness
/// and nanoarrow (zig's clang, with its undefined-behaviour checks), and run.
fn test(dir: &Path) -> anyhow::Result<()> {
    let project = Project::read(dir)?;
    if project.manifest.tests.is_empty() {
        bail!("{}: `tests` lists no test program", project.dir.join("quiver.toml").display());
    }
    let work = project.dir.join("build");
    let sdk = work.join("sdk");
    toolchain::write_tree(&sdk, SDK)?;
    let library = toolchain::installed("c/native/lib/libnanoarrow.a", "C plugin tests")?;
    let include = library.parent().and_then(Path::parent).expect("inside the toolchains").join("include");
    let mut failed = Vec::new();
    for test in &project.manifest.tests {
        let stem = Path::new(test).file_stem().expect("a test is a file").to_string_lossy().into_owned();
        let program = work.join("tests").join(&stem);
        std::fs::create_dir_all(program.parent().expect("in build/tests"))?;
        let mut cc = Command::new(tool("python/bin/python", "python3"));
        cc.args(["-m", "ziglang", "cc", "-g"])
            .arg("-I")
            .arg(&sdk)
            .arg("-I")
            .arg(&include)
            .args(&project.manifest.cflags)
            .args(project.manifest.sources.iter().chain([test]).map(|s| project.dir.join(s)))
            .arg(sdk.join("quiver.c"))
            .arg(sdk.join("testing.c"))
            .arg(&library)
            .arg("-o")
            .arg(&program);
        toolchain::run(cc, &format!("compile the test {test}"))?;
        println!("running {test}");
        let status = Command::new(&program).current_dir(&project.dir).status()?;
        if !status.success() {
            failed.push(format!("{test} ({status})"));
        }
    }
    if !failed.is_empty() {
        bail!("FAILED: {}", failed.join(", "));
    }
    Ok(())
}

/// The files of a new C plugin project named `name`.
fn template(name: &str) -> anyhow::Result<Vec<(String, String)>> {
    let file = name.replace('-', "_");
    let manifest = format!(
        "# A C plugin for Quiver: `quiver plugin build` compiles these sources with the\n\
         # C SDK and nanoarrow for wasm32-wasi and makes the component.\n\
         name = \"{name}\"\nsources = [\"{file}.c\"]\ntests = [\"test_{file}.c\"]\n"
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
    let test = format!(
        r#"/* Tests of `{name}`, run natively by `quiver plugin test`. */
#include <stdint.h>
#include <string.h>

#include "quiver_testing.h"

int main(void) {{
  static const char* const NAMES[] = {{"a", "b"}};
  static const enum ArrowType TYPES[] = {{NANOARROW_TYPE_INT64, NANOARROW_TYPE_INT64}};
  struct ArrowSchema schema;
  struct ArrowArray batch;
  QUIVER_CHECK(quiver_test_batch(&schema, &batch, 2, NAMES, TYPES) == 0, "the input batch is made");
  /* a: 1, null, INT64_MAX; b: 2, 3, 1 */
  ArrowArrayAppendInt(batch.children[0], 1);
  ArrowArrayAppendNull(batch.children[0], 1);
  ArrowArrayAppendInt(batch.children[0], INT64_MAX);
  ArrowArrayAppendInt(batch.children[1], 2);
  ArrowArrayAppendInt(batch.children[1], 3);
  ArrowArrayAppendInt(batch.children[1], 1);
  QUIVER_CHECK(quiver_test_finish(&batch, 3) == 0, "the input batch is finished");

  QuiverError error = {{0}};
  QuiverRun* run = quiver_run_open("add", NULL, 0, &schema, &error);
  QUIVER_CHECK(run != NULL, error.message);
  QuiverRunOutput* out = run ? quiver_run_process(run, &batch, &error) : NULL;
  QUIVER_CHECK(out != NULL, error.message);
  if (out) {{
    const struct ArrowArrayView* sum = quiver_run_output_column(out, "sum");
    QUIVER_CHECK(quiver_run_output_rows(out) == 2, "the overflowing row is refused, two remain");
    QUIVER_CHECK(sum && ArrowArrayViewGetIntUnsafe(sum, 0) == 3, "1 + 2 = 3");
    QUIVER_CHECK(sum && ArrowArrayViewIsNull(sum, 1), "a null argument gives a null sum");
    QUIVER_CHECK(quiver_run_output_rejections(out) == 1 && quiver_run_output_rejected_row(out, 0) == 2,
                 "row 2 is refused");
    QUIVER_CHECK(quiver_run_output_rejections(out) == 1 &&
                     strcmp(quiver_run_output_reason(out, 0), "the sum overflows int64") == 0,
                 "the refusal says why");
  }}
  quiver_run_output_free(out);
  quiver_run_close(run);
  batch.release(&batch);
  schema.release(&schema);
  return quiver_test_done();
}}
"#
    );
    Ok(vec![
        ("quiver.toml".into(), manifest),
        (format!("{file}.c"), source),
        (format!("test_{file}.c"), test),
        (".gitignore".into(), "build/\n".into()),
    ])
}

/// C sources on the C SDK and nanoarrow, built with zig's clang and wasm-tools.
pub const TOOLCHAIN: Toolchain = Toolchain { manifest: "quiver.toml", template, build, test };
