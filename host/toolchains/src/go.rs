//! Go plugins: main packages on the Go SDK (`quiver.dev/quiver`), compiled
//! by Go's own `GOOS=wasip1` port as a reactor and made a component with
//! wasm-tools and the WASI preview1 adapter matching the host's wasmtime.
//!
//! A project is a Go module (`go.mod` requiring `quiver.dev/quiver`) whose
//! main package serves its plugin from `init`. The SDK, with its bindings
//! of the contract, comes from this binary and is joined to the project by
//! a Go workspace in `build/`; Go and wasm-tools come from the installed
//! toolchains, Go modules from the Go module proxy.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

use crate::project::Toolchain;
use crate::toolchain::{self, tool};

/// The Go SDK's module, as the binary carries it.
const SDK: &[(&str, &str)] = &[
    ("go.mod", include_str!("../sdk/go/go.mod")),
    ("go.sum", include_str!("../sdk/go/go.sum")),
    ("README.md", include_str!("../sdk/go/README.md")),
    ("doc.go", include_str!("../sdk/go/doc.go")),
    ("errors.go", include_str!("../sdk/go/errors.go")),
    ("instance.go", include_str!("../sdk/go/instance.go")),
    ("kernels.go", include_str!("../sdk/go/kernels.go")),
    ("log.go", include_str!("../sdk/go/log.go")),
    ("log_native.go", include_str!("../sdk/go/log_native.go")),
    ("log_wasip1.go", include_str!("../sdk/go/log_wasip1.go")),
    ("plugin.go", include_str!("../sdk/go/plugin.go")),
    ("scalar.go", include_str!("../sdk/go/scalar.go")),
    ("values.go", include_str!("../sdk/go/values.go")),
    ("wire.go", include_str!("../sdk/go/wire.go")),
    ("guest/doc.go", include_str!("../sdk/go/guest/doc.go")),
    ("guest/guest.go", include_str!("../sdk/go/guest/guest.go")),
    ("quivertest/run.go", include_str!("../sdk/go/quivertest/run.go")),
    ("quivertest/values.go", include_str!("../sdk/go/quivertest/values.go")),
    (
        "internal/wit/exports/export_quiver_transform_transform/transform.go",
        include_str!("../sdk/go/internal/wit/exports/export_quiver_transform_transform/transform.go"),
    ),
    (
        "internal/wit/exports/wit_exports/wit_exports.go",
        include_str!("../sdk/go/internal/wit/exports/wit_exports/wit_exports.go"),
    ),
    (
        "internal/wit/imports/quiver_transform_host/wit_bindings.go",
        include_str!("../sdk/go/internal/wit/imports/quiver_transform_host/wit_bindings.go"),
    ),
    (
        "internal/wit/imports/quiver_transform_host/empty.s",
        include_str!("../sdk/go/internal/wit/imports/quiver_transform_host/empty.s"),
    ),
    (
        "internal/wit/imports/quiver_transform_transform/wit_bindings.go",
        include_str!("../sdk/go/internal/wit/imports/quiver_transform_transform/wit_bindings.go"),
    ),
    (
        "internal/wit/imports/quiver_transform_transform/empty.s",
        include_str!("../sdk/go/internal/wit/imports/quiver_transform_transform/empty.s"),
    ),
    (
        "internal/wit/imports/quiver_transform_types/wit_bindings.go",
        include_str!("../sdk/go/internal/wit/imports/quiver_transform_types/wit_bindings.go"),
    ),
    (
        "internal/wit/imports/quiver_transform_types/empty.s",
        include_str!("../sdk/go/internal/wit/imports/quiver_transform_types/empty.s"),
    ),
];

/// The SDK's module path, which projects require.
const SDK_MODULE: &str = "quiver.dev/quiver";

/// Added to the build's copy of the project: links the contract's exports in.
const GUEST: &str = "//go:build wasip1\n\npackage main\n\nimport _ \"quiver.dev/quiver/guest\"\n";

/// A Go plugin project.
struct Project {
    dir: PathBuf,
    /// The last element of the module path: the component is `build/NAME.wasm`.
    name: String,
    /// The version at which go.mod requires the SDK.
    sdk_version: String,
}

impl Project {
    fn read(dir: &Path) -> anyhow::Result<Self> {
        let dir = dir.canonicalize().with_context(|| format!("cannot open {}", dir.display()))?;
        let manifest = dir.join("go.mod");
        let text = std::fs::read_to_string(&manifest).with_context(|| format!("reading {}", manifest.display()))?;
        let module = text
            .lines()
            .find_map(|l| l.trim().strip_prefix("module "))
            .map(|m| m.trim().trim_matches('"').to_string())
            .with_context(|| format!("{} has no `module` line", manifest.display()))?;
        if !text.contains(SDK_MODULE) {
            bail!("{}: the module does not require {SDK_MODULE}, the Go SDK", manifest.display());
        }
        let name = module.rsplit('/').next().unwrap_or(&module).to_string();
        Ok(Self { dir, name, sdk_version: required_version(&text) })
    }

    /// `build/` with the SDK, a copy of the project in `app/` and a
    /// workspace joining them; the copy's path.
    fn prepare(&self) -> anyhow::Result<PathBuf> {
        let work = self.dir.join("build");
        toolchain::write_tree(&work.join("sdk"), SDK)?;
        let app = work.join("app");
        // A fresh copy: a file deleted from the project must not linger in the package.
        if app.exists() {
            std::fs::remove_dir_all(&app).with_context(|| format!("clearing {}", app.display()))?;
        }
        toolchain::copy_sources(&self.dir, &app, &work, &|_| true)?;
        std::fs::write(app.join("zz_quiver_guest.go"), GUEST)?;
        // The replace makes the requirement on the SDK resolve to the copy
        // here, at whatever version the project names, with no download.
        let workspace = format!(
            "go {}\n\nuse (\n\t./app\n\t./sdk\n)\n\nreplace {SDK_MODULE} {} => ./sdk\n",
            toolchain::pin("GO_LANGUAGE_VERSION"),
            self.sdk_version
        );
        toolchain::write_tree(&work, &[("go.work", &workspace)])?;
        Ok(app)
    }

    /// `go` in `app`, with the pinned Go and the build's workspace.
    fn go(&self, app: &Path) -> Command {
        let mut go = Command::new("go");
        go.current_dir(app)
            .env("GOWORK", self.dir.join("build/go.work"))
            .env("GOTOOLCHAIN", format!("go{}", toolchain::pin("GO_VERSION")))
            // The module proxy serves the bindings' runtime module, but the
            // checksum database it relays does not know it; go.sum pins it.
            .env("GONOSUMDB", "go.bytecodealliance.org")
            .env("GOFLAGS", "-trimpath");
        go
    }
}

/// The version at which a go.mod requires the SDK.
fn required_version(go_mod: &str) -> String {
    go_mod.split_whitespace().skip_while(|w| *w != SDK_MODULE).nth(1).unwrap_or("v0.1.0").to_string()
}

/// Builds the project at `dir`; the component goes to `out`, else `build/NAME.wasm`.
fn build(dir: &Path, out: Option<&Path>, _profile: &str) -> anyhow::Result<PathBuf> {
    let project = Project::read(dir)?;
    let app = project.prepare()?;
    let work = project.dir.join("build");
    let core = work.join("core.wasm");
    let mut go = project.go(&app);
    go.env("GOOS", "wasip1")
        .env("GOARCH", "wasm")
        .args(["build", "-buildmode=c-shared"])
        // The bindings' runtime reaches runtime.sbrk by linkname, for
        // allocations made before the Go runtime has started.
        .arg("-ldflags=-s -w -checklinkname=0")
        .arg("-o")
        .arg(&core)
        .arg(".");
    toolchain::run(go, &format!("compile {}", dir.display()))?;

    let wit = work.join("wit");
    toolchain::write_tree(&wit, &[("quiver-transform.wit", toolchain::WIT_0_1)])?;
    let embedded = work.join("embedded.wasm");
    let mut embed = Command::new(tool("python/bin/wasm-tools", "wasm-tools"));
    embed.args(["component", "embed", "--world", "plugin"]).arg(&wit).arg(&core).arg("-o").arg(&embedded);
    toolchain::run(embed, "embed the contract's types")?;

    let out = out.map(Path::to_path_buf).unwrap_or_else(|| work.join(format!("{}.wasm", project.name)));
    // Without `--realloc-via-memory-grow`, unlike what is often advised for
    // Go: Go's runtime takes memory it grows to be its own, past the end it
    // last knew, so pages the adapter grew itself would be overwritten. The
    // bindings' `cabi_realloc` serves the adapter from Go's own break until
    // the runtime is up.
    toolchain::componentize(&embedded, &work, &out)?;
    Ok(out)
}

/// `quiver plugin test DIR` for Go: `go test ./...`, natively.
fn test(dir: &Path) -> anyhow::Result<()> {
    let project = Project::read(dir)?;
    let app = project.prepare()?;
    let mut go = project.go(&app);
    go.args(["test", "./..."]);
    toolchain::run(go, &format!("run the tests of {}", dir.display()))
}

/// The files of a new Go plugin project named `name`.
fn template(name: &str) -> anyhow::Result<Vec<(String, String)>> {
    let file = name.replace('-', "_");
    let manifest =
        format!("module {name}\n\ngo {}\n\nrequire {SDK_MODULE} v0.1.0\n", toolchain::pin("GO_LANGUAGE_VERSION"));
    let source = format!(
        r#"// Command {name} is a Quiver plugin: it adds columns `a` and `b` (int64)
// into `sum` and refuses rows whose sum overflows.
package main

import (
	"errors"

	"{SDK_MODULE}"
)

var plugin = quiver.NewPlugin("{name}", "0.1.0", "Adds two int64 columns")

func init() {{
	plugin.Scalar(quiver.ScalarSpec{{Name: "add", Description: "The sum of a and b", Args: []string{{"a", "b"}}, Output: "sum"}},
		quiver.Func2(add))
	// Go's wasip1 components run init functions, not main.
	quiver.Serve(plugin)
}}

func add(a, b int64) (int64, error) {{
	sum := a + b
	if (sum > a) != (b > 0) {{
		return 0, errors.New("the sum overflows int64")
	}}
	return sum, nil
}}

func main() {{}}
"#
    );
    let test = format!(
        r#"package main

import (
	"math"
	"reflect"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"{SDK_MODULE}"
	"{SDK_MODULE}/quivertest"
)

func TestAdd(t *testing.T) {{
	schema := arrow.NewSchema([]arrow.Field{{
		{{Name: "a", Type: arrow.PrimitiveTypes.Int64, Nullable: true}},
		{{Name: "b", Type: arrow.PrimitiveTypes.Int64, Nullable: true}},
	}}, nil)
	run, err := quivertest.Open(plugin, "add", nil, schema)
	if err != nil {{
		t.Fatal(err)
	}}
	batch, err := quivertest.Batch(schema, map[string][]any{{"a": {{1, nil, int64(math.MaxInt64)}}, "b": {{2, 3, 1}}}})
	if err != nil {{
		t.Fatal(err)
	}}
	out, err := run.Process(batch)
	if err != nil {{
		t.Fatal(err)
	}}
	if got, want := quivertest.Columns(out.Batch)["sum"], []any{{int64(3), nil}}; !reflect.DeepEqual(got, want) {{
		t.Errorf("sum = %v, want %v", got, want)
	}}
	want := []quiver.Rejection{{{{Row: 2, Reason: "the sum overflows int64"}}}}
	if !reflect.DeepEqual(out.Rejections, want) {{
		t.Errorf("rejections = %v, want %v", out.Rejections, want)
	}}
}}
"#
    );
    Ok(vec![
        ("go.mod".into(), manifest),
        (format!("{file}.go"), source),
        (format!("{file}_test.go"), test),
        (".gitignore".into(), "build/\n".into()),
    ])
}

/// A Go module on the Go SDK and arrow-go, built by Go's wasip1 port and wasm-tools.
pub const TOOLCHAIN: Toolchain = Toolchain { manifest: "go.mod", template, build, test };

#[cfg(test)]
mod tests {
    use super::*;

    /// A file added to the SDK but not to `SDK` would be missing from
    /// every build made by an installed binary.
    #[test]
    fn every_sdk_file_is_embedded() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("sdk/go");
        let mut files = Vec::new();
        let mut dirs = vec![root.clone()];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                } else {
                    files.push(path.strip_prefix(&root).unwrap().to_string_lossy().into_owned());
                }
            }
        }
        files.sort();
        let mut embedded: Vec<String> = SDK.iter().map(|(name, _)| name.to_string()).collect();
        embedded.sort();
        assert_eq!(files, embedded);
    }

    #[test]
    fn the_required_version_is_read_from_go_mod() {
        assert_eq!(required_version("module x\n\nrequire quiver.dev/quiver v0.1.0\n"), "v0.1.0");
        assert_eq!(required_version("module x\nrequire (\n\tquiver.dev/quiver v0.2.0\n)\n"), "v0.2.0");
    }
}
