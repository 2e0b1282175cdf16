//! Helpers for the end-to-end tests: the built plugins, the `quiver` binary,
//! and reading and writing data files with the Arrow and Parquet crates
//! directly (not through Quiver's code).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use arrow::array::{ArrayRef, Int32Array, Int64Array, RecordBatch, StringArray, TimestampMillisecondArray};
use arrow::compute::concat_batches;
use arrow::datatypes::SchemaRef;
use quiver_runtime::{Limits, Pool, PoolOptions, Runtime};

pub mod azure;
pub mod iceberg;
pub mod kafka;
pub mod registry;
pub mod s3;
pub mod spark;

/// Paths of the plugins under test.
pub mod plugins {
    include!(concat!(env!("OUT_DIR"), "/plugins.rs"));
}

/// The `quiver` binary of this build. `cargo test --workspace` builds it
/// next to the test executables (the host crate has integration tests).
pub fn quiver_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe.parent().and_then(Path::parent).expect("target/<profile>/deps/<test>");
    let bin = dir.join(format!("quiver{}", std::env::consts::EXE_SUFFIX));
    assert!(bin.is_file(), "{} is missing: run the tests with `cargo test --workspace`", bin.display());
    bin
}

/// Runs `quiver` with `args` in `dir`, with its own compile cache.
pub fn quiver(dir: &Path, args: &[&str]) -> Output {
    quiver_command(dir, args).output().expect("running quiver")
}

/// The command [`quiver`] runs, to add to before running it.
pub fn quiver_command(dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(quiver_bin());
    command.args(args).current_dir(dir).env("QUIVER_CACHE_DIR", dir.join(".quiver-cache")).env("QUIVER_LOG", "warn");
    command
}

/// [`quiver_command`] with the guest toolchains `sdk/install-toolchains.sh`
/// installed in `target/toolchains`, for `quiver plugin new | build | test`.
pub fn plugin_command(dir: &Path, args: &[&str]) -> Command {
    let toolchains = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/toolchains");
    let mut command = quiver_command(dir, args);
    command.env("QUIVER_TOOLCHAINS", toolchains);
    command
}

/// Standard output and error of a run, for assertion messages.
pub fn describe(output: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Writes `batch` to a Parquet file.
pub fn write_parquet(path: &Path, batch: &RecordBatch) {
    std::fs::create_dir_all(path.parent().expect("file in a directory")).unwrap();
    let file = std::fs::File::create(path).unwrap();
    let mut writer = parquet::arrow::ArrowWriter::try_new(file, batch.schema(), None).unwrap();
    writer.write(batch).unwrap();
    writer.close().unwrap();
}

/// Writes `rows` rows of the demo clickstream to a Parquet file, in row
/// groups of `chunk` rows: the benchmarks' input.
pub fn write_clickstream(
    path: &Path,
    rows: usize,
    chunk: usize,
    properties: parquet::file::properties::WriterProperties,
) {
    std::fs::create_dir_all(path.parent().expect("file in a directory")).unwrap();
    let first = quiver_pipeline::demo::clickstream(0, 1);
    let file = std::fs::File::create(path).unwrap();
    let mut writer = parquet::arrow::ArrowWriter::try_new(file, first.schema(), Some(properties)).unwrap();
    for start in (0..rows).step_by(chunk) {
        writer.write(&quiver_pipeline::demo::clickstream(start as u64, chunk)).unwrap();
        writer.flush().unwrap();
    }
    writer.close().unwrap();
}

/// The data files of a directory, recursively, sorted; markers and hidden files left out.
pub fn data_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for entry in entries {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            if name.starts_with('_') || name.starts_with('.') {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// Every row of the JSON Lines files under `dir` (dead letters, say).
pub fn read_jsonl_rows(dir: &Path) -> Vec<serde_json::Value> {
    data_files(dir)
        .iter()
        .flat_map(|f| {
            let text = std::fs::read_to_string(f).unwrap();
            text.lines().map(|l| serde_json::from_str(l).unwrap()).collect::<Vec<_>>()
        })
        .collect()
}

/// Reads every Parquet file of a directory into one batch.
pub fn read_parquet_dir(dir: &Path) -> RecordBatch {
    let files = data_files(dir);
    assert!(!files.is_empty(), "no files in {}", dir.display());
    let mut batches = Vec::new();
    let mut schema: Option<SchemaRef> = None;
    for file in files {
        let reader =
            parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&file).unwrap())
                .unwrap()
                .build()
                .unwrap();
        for batch in reader {
            let batch = batch.unwrap();
            schema.get_or_insert_with(|| batch.schema());
            batches.push(batch);
        }
    }
    concat_batches(&schema.expect("at least one batch"), &batches).unwrap()
}

/// A Parquet `[sink]` in `out/enriched/` with a Parquet `[dead_letter]` in `out/dead/`.
pub const PARQUET_SINKS: &str = r#"
[sink]
format = "parquet"
path = "out/enriched/"

[dead_letter]
format = "parquet"
path = "out/dead/"
"#;

/// The `schema` key of a `[source]` reading the demo clickstream (and the
/// tests' clicks) from JSON.
pub const CLICKSTREAM_SCHEMA: &str = r#"schema = [
  { name = "event_id", type = "Int64", nullable = false },
  { name = "user_id", type = "Int64", nullable = false },
  { name = "ts", type = "Timestamp(ms)" },
  { name = "url", type = "Utf8" },
  { name = "referrer", type = "Utf8" },
  { name = "duration_ms", type = "Int32" },
  { name = "country", type = "Utf8" },
]"#;

/// `quiver run PIPELINE` in the background, its output in `LOG.out` and `LOG.err` in `dir`.
pub fn spawn_run(dir: &Path, pipeline: &Path, log: &str) -> std::process::Child {
    quiver_command(dir, &["run", "--no-progress", pipeline.to_str().expect("a UTF-8 path")])
        .env("QUIVER_LOG", "info")
        .stdout(std::fs::File::create(dir.join(format!("{log}.out"))).expect("creating the run's stdout"))
        .stderr(std::fs::File::create(dir.join(format!("{log}.err"))).expect("creating the run's stderr"))
        .spawn()
        .expect("starting quiver run")
}

/// Sends `signal` (`-TERM`, `-KILL`) to `child`.
pub fn signal(child: &std::process::Child, signal: &str) {
    let status = Command::new("kill").args([signal, &child.id().to_string()]).status().expect("running kill");
    assert!(status.success(), "kill {signal} failed");
}

/// Waits until `done`, checking every 200 ms; fails naming `what` after `timeout`.
pub fn wait_until(what: &str, timeout: std::time::Duration, mut done: impl FnMut() -> bool) {
    let started = std::time::Instant::now();
    while !done() {
        assert!(started.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

/// A pipeline file's text, with `{dir}` standing for the test directory.
pub fn write_pipeline(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("pipeline.toml");
    std::fs::write(&path, text.replace("{dir}", &dir.display().to_string())).unwrap();
    path
}

/// A shared schema reference.
pub fn schema_of(batch: &RecordBatch) -> SchemaRef {
    Arc::clone(batch.schema_ref())
}

/// Two int32 columns `a` and `b` for `gcd`, different for every `seed`.
pub fn int_pairs(seed: i32, rows: usize) -> RecordBatch {
    let a = Int32Array::from_iter_values((0..rows as i32).map(|i| i.wrapping_mul(7919).wrapping_add(seed) % 1_000_000));
    let b = Int32Array::from_iter_values(
        (0..rows as i32).map(|i| i.wrapping_mul(104_729).wrapping_add(seed * 31) % 999_983),
    );
    RecordBatch::try_from_iter([("a", Arc::new(a) as ArrayRef), ("b", Arc::new(b) as ArrayRef)]).unwrap()
}

const URLS: &[Option<&str>] = &[
    Some("https://shop.example.com/a/b/c?x=1#frag"),
    Some("http://bücher.de/straße/ü/"),
    Some("https://例え.jp"),
    Some("https://x.org?q=/not/path"),
    Some("https://x.org#/also/not"),
    Some("http://x.org//double//slash//"),
    Some("mailto:nobody@example.com"),
    None,
    Some(""),
];

/// Clickstream rows for `enrich` from event `first` on: unicode, schemeless,
/// null, empty and 40 KB URLs, timestamps before 1970, negative durations
/// (refused), and a `referrer` column the plugin drops.
pub fn clicks(first: i64, rows: usize) -> RecordBatch {
    let idx = |i: usize| first as usize + i;
    let event_id: Int64Array = (0..rows).map(|i| idx(i) as i64).collect();
    let user_id: Int64Array = (0..rows).map(|i| (idx(i) % 97) as i64).collect();
    // Around 1970 and in 2024, so hours wrap and timestamps before the epoch count.
    let ts = TimestampMillisecondArray::from_iter_values((0..rows).map(|i| {
        if idx(i) % 11 == 0 { -(idx(i) as i64) * 1_234_567 } else { 1_704_067_200_000 + idx(i) as i64 * 997_003 }
    }));
    let long = format!("https://long.example/{}", "segment/".repeat(5000));
    let url: StringArray = (0..rows)
        .map(|i| if idx(i) % 500 == 7 { Some(long.clone()) } else { URLS[idx(i) % URLS.len()].map(str::to_string) })
        .collect();
    let referrer: StringArray = (0..rows).map(|i| (idx(i) % 3 == 0).then_some("https://ref.example/")).collect();
    let duration: Int32Array =
        (0..rows).map(|i| if idx(i) % 13 == 5 { -(idx(i) as i32) } else { (idx(i) * 7) as i32 }).collect();
    let country: StringArray = (0..rows).map(|i| Some(["DE", "FR", "US", "ZZ", "JP"][idx(i) % 5])).collect();
    RecordBatch::try_from_iter([
        ("event_id", Arc::new(event_id) as ArrayRef),
        ("user_id", Arc::new(user_id) as ArrayRef),
        ("ts", Arc::new(ts) as ArrayRef),
        ("url", Arc::new(url) as ArrayRef),
        ("referrer", Arc::new(referrer) as ArrayRef),
        ("duration_ms", Arc::new(duration) as ArrayRef),
        ("country", Arc::new(country) as ArrayRef),
    ])
    .unwrap()
}

/// The plugin project `plugins/LANG/NAME` built by `quiver plugin build`
/// (once per test process) with the toolchains `sdk/install-toolchains.sh`
/// installed in `target/toolchains`.
pub fn guest_plugin(lang: &str, name: &str) -> PathBuf {
    static BUILT: std::sync::Mutex<Vec<(String, PathBuf)>> = std::sync::Mutex::new(Vec::new());
    let key = format!("{lang}/{name}");
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, path)) = built.iter().find(|(k, _)| *k == key) {
        return path.clone();
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ is in the workspace").to_path_buf();
    let out_dir = root.join("target/plugins/guests").join(lang);
    std::fs::create_dir_all(&out_dir).unwrap();
    let out = out_dir.join(format!("{name}.wasm"));
    // Build from a copy: the build leaves `build/` in the project, which must
    // not change `plugins/` (watched by this crate's build script).
    let project = root.join("target/plugins/guests/src").join(lang).join(name);
    let _ = std::fs::remove_dir_all(&project);
    copy_tree(&root.join("plugins").join(lang).join(name), &project);
    let output = plugin_command(&root, &["plugin", "build", project.to_str().unwrap(), "--out", out.to_str().unwrap()])
        .output()
        .expect("running quiver plugin build");
    assert!(output.status.success(), "building {key}: {}", describe(&output));
    built.push((key, out.clone()));
    out
}

/// Copies a directory, leaving out `build/` and `__pycache__/`.
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap();
        if path.is_dir() {
            if name != "build" && name != "__pycache__" {
                copy_tree(&path, &to.join(name));
            }
        } else {
            std::fs::copy(&path, to.join(name)).unwrap();
        }
    }
}

/// A pool of one instance of the plugin `wasm`, for calling it directly
/// through the library (benchmarks, tests below the command line).
pub fn one_instance_pool(
    runtime: &Runtime,
    wasm: &str,
    transform: Option<&str>,
    input: &RecordBatch,
    limits: Limits,
) -> Pool {
    let plugin = runtime.load(Path::new(wasm)).unwrap();
    let options = PoolOptions { limits, max_instances: 1, ..PoolOptions::default() };
    Pool::new(plugin, transform, Vec::new(), input.schema(), options).unwrap()
}

/// A `quiver serve` process on loopback with free ports, killed when dropped.
pub struct Sidecar {
    child: std::process::Child,
    /// Environment of the Python clients: with TLS, requests trusts the server's certificate.
    client_env: Vec<(String, String)>,
    /// `grpc://127.0.0.1:PORT`
    pub flight: String,
    /// `http://127.0.0.1:PORT`
    pub http: String,
    stderr: PathBuf,
}

impl Sidecar {
    /// Starts `quiver serve ARGS` in `dir`, with a compile cache shared by
    /// the tests, and waits until it is ready.
    pub fn start(dir: &Path, args: &[&str]) -> Self {
        Self::start_with_env(dir, args, &[])
    }

    /// [`Sidecar::start`] with extra environment variables. With
    /// `--tls-cert-file CERT` in `args`, the clients trust CERT.
    pub fn start_with_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Self {
        use std::io::BufRead;
        let stderr = dir.join("quiver-serve.log");
        let cache = std::env::temp_dir().join("quiver-tests-serve-cache");
        let mut command = Command::new(quiver_bin());
        command
            .arg("serve")
            .args(["--flight-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0"])
            .args(args)
            .current_dir(dir)
            .env("QUIVER_CACHE_DIR", cache)
            .env("QUIVER_LOG", "info")
            .envs(env.iter().copied())
            .stdout(std::process::Stdio::piped())
            .stderr(std::fs::File::create(&stderr).expect("creating the server log"));
        let mut child = command.spawn().expect("starting quiver serve");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().expect("piped")).read_line(&mut line).expect("reading stdout");
        let address = |scheme: &str| {
            line.split_whitespace().find_map(|w| w.strip_prefix(&format!("{scheme}="))).map(str::to_owned)
        };
        let (Some(flight), Some(http)) = (address("flight"), address("http")) else {
            let _ = child.kill();
            panic!("quiver serve did not start: {line:?}\n{}", std::fs::read_to_string(&stderr).unwrap_or_default());
        };
        let client_env = args
            .windows(2)
            .find(|pair| pair[0] == "--tls-cert-file")
            .map(|pair| vec![("REQUESTS_CA_BUNDLE".to_string(), pair[1].to_string())])
            .unwrap_or_default();
        let sidecar = Self { child, client_env, flight, http, stderr };
        sidecar.wait_ready();
        sidecar
    }

    fn wait_ready(&self) {
        let started = std::time::Instant::now();
        while started.elapsed() < std::time::Duration::from_secs(120) {
            let check =
                format!("import requests,sys; sys.exit(requests.get('{}/readyz').status_code != 200)", self.http);
            if self.python(&["-c", &check]).status.success() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!("quiver serve was not ready within 120 s:\n{}", self.log());
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// Runs `tests/clients/sidecar.py SCENARIO ARGS` against this server; the
    /// script asserts and exits non-zero on failure. Returns its stdout.
    pub fn client(&self, scenario: &str, args: &[&str]) -> String {
        let output = self.scenario(scenario, args).output().expect("running a client");
        assert!(
            output.status.success(),
            "client scenario `{scenario}` failed:\n{}\n--- server log\n{}",
            describe(&output),
            self.log()
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Starts `tests/clients/sidecar.py SCENARIO ARGS` against this server
    /// in the background, for scenarios that run while the test acts.
    pub fn spawn_client(&self, scenario: &str, args: &[&str]) -> std::process::Child {
        self.scenario(scenario, args).stdout(std::process::Stdio::piped()).spawn().expect("starting a client")
    }

    fn scenario(&self, scenario: &str, args: &[&str]) -> Command {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("clients").join("sidecar.py");
        let mut command = self.python_command();
        command.arg(script).args([scenario, &self.flight, &self.http]).args(args);
        command
    }

    /// Runs the clients' Python with `args`.
    pub fn python(&self, args: &[&str]) -> Output {
        self.python_command().args(args).output().expect("running the client's python")
    }

    fn python_command(&self) -> Command {
        let mut command = Command::new(client_python());
        command.envs(self.client_env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        command
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM and waits for the exit.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let status = Command::new("kill").args(["-TERM", &pid]).status().expect("running kill");
        assert!(status.success(), "kill -TERM {pid} failed");
        self.child.wait().expect("waiting for quiver serve")
    }
}

impl Drop for Sidecar {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free TCP port on loopback.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("binding a free port").local_addr().unwrap().port()
}

/// Makes sure process `pid` (a server the tests started) dies with this
/// test process, even when the tests are killed: a watchdog shell polls both.
pub fn kill_with_this_process(pid: u32) {
    // The watch also ends when the server does, so a reused pid is never killed.
    after_this_process(&format!("kill -0 {pid} 2>/dev/null"), &format!("kill -9 {pid} 2>/dev/null"), "a server's");
}

/// Runs the shell command `then` once this process has ended, unless the
/// shell condition `watching` turns false first; `what` names the watchdog in its error.
fn after_this_process(watching: &str, then: &str, what: &str) {
    // The watchdog outlives this process on purpose, so it is never waited for.
    #[allow(clippy::zombie_processes)]
    Command::new("sh")
        .args([
            "-c",
            &format!("while kill -0 {} 2>/dev/null && {watching}; do sleep 1; done; {then}", std::process::id()),
        ])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {what} watchdog: {e}"));
}

/// A fresh directory `quiver-NAME-PID` under the temporary directory for a
/// server of the tests, removed a few seconds after this process ends (once
/// the watchdogs have killed the servers), so runs leave no broker logs or
/// object stores behind.
pub fn server_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("quiver-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
    after_this_process("true", &format!("sleep 3; rm -rf '{}'", dir.display()), "a server directory's");
    dir
}

/// Starts `command` as a server of the tests, its output in `log`, killed
/// when this process ends; waits until it listens on loopback `port`,
/// failing after `within`, naming `what`.
pub fn start_server(
    mut command: Command,
    what: &str,
    log: &Path,
    port: u16,
    within: std::time::Duration,
) -> std::process::Child {
    let log = std::fs::File::create(log).expect("creating a server's log");
    let child = command
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone().expect("the log"))
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("starting {what}: {e}"));
    kill_with_this_process(child.id());
    let started = std::time::Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(started.elapsed() < within, "{what} did not listen within {} s", within.as_secs());
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    child
}

/// Runs `pipeline` in `dir` with `quiver run`, which must fail, saying
/// each of `wanted` on stderr, with nothing written to `dir/out`.
pub fn assert_refused(dir: &Path, pipeline: &str, wanted: &[&str]) {
    let file = write_pipeline(dir, pipeline);
    let out = quiver(dir, &["run", "--no-progress", file.to_str().unwrap()]);
    assert!(!out.status.success(), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    for w in wanted {
        assert!(stderr.contains(w), "wanted {w:?} in:\n{stderr}");
    }
    assert!(!dir.join("out").exists(), "nothing is written");
}

/// A directory to put on `PYTHONPATH` for `import quiver`: the package's
/// Python sources (`host/python/python/quiver`) beside the native module
/// this build compiled (`deps/lib_native.so`, a dependency of these tests),
/// where `pip install ./host/python` puts its `_native.abi3.so`. Built by
/// cargo rather than maturin, it links libpython, which the interpreter
/// (a shared build) has loaded already.
pub fn python_package() -> PathBuf {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        // Test and bench executables live in target/<profile>/deps, beside it.
        let exe = std::env::current_exe().expect("test executable path");
        let native = exe.with_file_name(format!("lib_native{}", std::env::consts::DLL_SUFFIX));
        assert!(native.is_file(), "{} is missing: run the tests with `cargo test --workspace`", native.display());
        let sources = Path::new(env!("CARGO_MANIFEST_DIR")).join("../host/python/python/quiver");
        let dir = std::env::temp_dir().join(format!("quiver-python-{}", std::process::id()));
        let package = dir.join("quiver");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&package).expect("creating the package directory");
        for entry in std::fs::read_dir(&sources).expect("reading the package's sources") {
            let path = entry.expect("an entry").path();
            if path.extension().is_some_and(|e| e == "py" || e == "pyi" || e == "typed") {
                std::fs::copy(&path, package.join(path.file_name().unwrap())).expect("copying a source");
            }
        }
        std::os::unix::fs::symlink(&native, package.join("_native.abi3.so")).expect("linking the native module");
        after_this_process("true", &format!("rm -rf '{}'", dir.display()), "the Python package's");
        dir
    })
    .clone()
}

/// The Python of the test clients, installed by `tests/install-clients.sh`.
pub fn client_python() -> PathBuf {
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/toolchains/clients/bin/python");
    assert!(python.is_file(), "{} is missing: run `bash tests/install-clients.sh`", python.display());
    python
}
