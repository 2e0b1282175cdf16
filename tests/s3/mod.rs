//! A real S3-compatible server for the tests: s3s-fs (an S3 API with
//! multipart uploads over a directory), built by `tests/s3/install.sh`,
//! started once per test process on loopback with its own credentials, and
//! killed when the process ends. The independent client is pyarrow's
//! `S3FileSystem`, not Quiver's code.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use crate::{client_python, free_port, start_server};

mod proxy;
pub use proxy::{Fault, FaultProxy};

/// The server's access key.
pub const ACCESS_KEY: &str = "quiver-test";
/// The server's secret key: no output of Quiver may show it.
pub const SECRET_KEY: &str = "s3cr3t-0f-the-t3sts";

/// The server of this test process.
pub struct S3Server {
    dir: PathBuf,
    port: u16,
    child: Mutex<Child>,
}

static SERVER: OnceLock<S3Server> = OnceLock::new();
static BUCKETS: AtomicU64 = AtomicU64::new(0);

/// The shared server, started on first use.
pub fn server() -> &'static S3Server {
    SERVER.get_or_init(S3Server::start)
}

fn binary() -> PathBuf {
    let bin = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/toolchains/s3s/bin/s3s-fs");
    assert!(bin.is_file(), "{} is missing: run `bash tests/s3/install.sh`", bin.display());
    bin
}

/// pyarrow's S3 client on the server, for the scripts of [`S3Server::python`].
const PRELUDE: &str = r#"
import json, os, sys
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
s3 = pafs.S3FileSystem(
    access_key=os.environ["AWS_ACCESS_KEY_ID"], secret_key=os.environ["AWS_SECRET_ACCESS_KEY"],
    endpoint_override=os.environ["AWS_ENDPOINT_URL"], scheme="http", region="us-east-1",
    allow_bucket_creation=True,
)
def listing(prefix):
    """Every object under prefix: key -> size."""
    infos = s3.get_file_info(pafs.FileSelector(prefix, recursive=True, allow_not_found=True))
    return {i.path: i.size for i in infos if i.type == pafs.FileType.File}
"#;

impl S3Server {
    fn start() -> Self {
        let dir = crate::server_dir("s3");
        std::fs::create_dir_all(dir.join("data")).unwrap();
        let port = free_port();
        let mut command = Command::new(binary());
        command
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
            .arg(dir.join("data"));
        let child = start_server(command, "s3s-fs", &dir.join("server.log"), port, Duration::from_secs(30));
        Self { dir, port, child: Mutex::new(child) }
    }

    /// The server's port on loopback.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's URL.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The standard AWS variables that reach the server, as a user sets them.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY.into()),
            ("AWS_SECRET_ACCESS_KEY", SECRET_KEY.into()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_ENDPOINT_URL", self.endpoint()),
            ("AWS_ALLOW_HTTP", "true".into()),
        ]
    }

    /// A new, empty bucket, made by pyarrow.
    pub fn bucket(&self) -> String {
        let name = format!("b{}-{}", std::process::id(), BUCKETS.fetch_add(1, Ordering::Relaxed));
        self.python_ok(&format!("s3.create_dir({name:?})"));
        name
    }

    /// Runs a Python script with pyarrow's S3 client `s3` and `listing(prefix)` defined.
    pub fn python(&self, script: &str) -> Output {
        let mut command = Command::new(client_python());
        command.arg("-c").arg(format!("{PRELUDE}\n{script}"));
        for (key, value) in self.env() {
            command.env(key, value);
        }
        command.output().expect("running the client python")
    }

    /// [`S3Server::python`], asserting success; its standard output.
    pub fn python_ok(&self, script: &str) -> String {
        let out = self.python(script);
        assert!(out.status.success(), "python failed:\n{}\n--- server log\n{}", crate::describe(&out), self.log());
        String::from_utf8(out.stdout).unwrap()
    }

    /// Uploads local `file` to `s3://key` with pyarrow.
    pub fn upload(&self, file: &Path, key: &str) {
        self.python_ok(&format!(
            "pafs.copy_files({:?}, {key:?}, source_filesystem=pafs.LocalFileSystem(), destination_filesystem=s3)",
            file.display().to_string()
        ));
    }

    /// Every object under `prefix` (`bucket/key…`) with its size, as pyarrow lists them.
    pub fn listing(&self, prefix: &str) -> std::collections::BTreeMap<String, u64> {
        let json = self.python_ok(&format!("print(json.dumps(listing({prefix:?})))"));
        serde_json::from_str(&json).unwrap()
    }

    /// Downloads every object under `prefix` into `local`, with pyarrow.
    pub fn download(&self, prefix: &str, local: &Path) {
        std::fs::create_dir_all(local).unwrap();
        // Object by object: s3s-fs answers a HEAD of a "directory" with a 500.
        self.python_ok(&format!(
            "for key in listing({prefix:?}):\n    \
                 target = os.path.join({local:?}, os.path.relpath(key, {prefix:?}))\n    \
                 os.makedirs(os.path.dirname(target), exist_ok=True)\n    \
                 with s3.open_input_stream(key) as f, open(target, 'wb') as out:\n        out.write(f.read())",
            local = local.display().to_string()
        ));
    }

    /// The server's log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }

    /// Whether the server still runs.
    pub fn alive(&self) -> bool {
        self.child.lock().unwrap().try_wait().is_ok_and(|status| status.is_none())
    }
}
