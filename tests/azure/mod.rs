//! A real Azure Blob Storage server for the tests: Azurite (Microsoft's
//! emulator, MIT), installed by `tests/azure/install.sh`, started once per
//! test process on loopback with a fresh directory, and killed when the
//! process ends. It checks shared keys and SAS signatures and permissions
//! as Azure does. The independent client is Microsoft's `azure-storage-blob`
//! for Python, not Quiver's code.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use crate::{client_python, free_port, start_server};

/// The emulator's account, as every Azure tool knows it.
pub const ACCOUNT: &str = "devstoreaccount1";
/// The emulator's well-known account key (public: it is in Azure's documentation).
const ACCOUNT_KEY: &str = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// The server of this test process.
pub struct AzureServer {
    dir: PathBuf,
    port: u16,
    child: Mutex<Child>,
}

static SERVER: OnceLock<AzureServer> = OnceLock::new();
static CONTAINERS: AtomicU64 = AtomicU64::new(0);

/// The shared server, started on first use.
pub fn server() -> &'static AzureServer {
    SERVER.get_or_init(AzureServer::start)
}

/// The SDK's client on the server, for the scripts of [`AzureServer::python`].
const PRELUDE: &str = r#"
import datetime, json, os, sys
from azure.storage.blob import BlobServiceClient, ContainerSasPermissions, generate_container_sas
service = BlobServiceClient.from_connection_string(os.environ["QUIVER_TEST_AZURE_CONNECTION"])
def listing(container, prefix):
    """Every blob under prefix: name -> size."""
    return {b.name: b.size for b in service.get_container_client(container).list_blobs(name_starts_with=prefix)}
"#;

impl AzureServer {
    fn start() -> Self {
        let bin =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/toolchains/azurite/node_modules/.bin/azurite-blob");
        assert!(bin.is_file(), "{} is missing: run `bash tests/azure/install.sh`", bin.display());
        let dir = crate::server_dir("azurite");
        std::fs::create_dir_all(dir.join("data")).unwrap();
        let port = free_port();
        let mut command = Command::new(bin);
        command
            .args(["--blobHost", "127.0.0.1", "--blobPort", &port.to_string(), "--skipApiVersionCheck"])
            .arg("--location")
            .arg(dir.join("data"));
        let child = start_server(command, "azurite", &dir.join("server.log"), port, Duration::from_secs(60));
        Self { dir, port, child: Mutex::new(child) }
    }

    fn blob_endpoint(&self) -> String {
        format!("http://127.0.0.1:{}/{ACCOUNT}", self.port)
    }

    /// The variables a user sets for object_store's Azure chain to reach
    /// the emulator: its URL, and the account key (or `sas`, a SAS token).
    pub fn env(&self, sas: Option<&str>) -> Vec<(&'static str, String)> {
        let mut env = vec![
            ("AZURE_STORAGE_USE_EMULATOR", "true".to_string()),
            ("AZURITE_BLOB_STORAGE_URL", format!("http://127.0.0.1:{}", self.port)),
        ];
        match sas {
            Some(sas) => env.push(("AZURE_STORAGE_SAS_TOKEN", sas.to_string())),
            None => env.push(("AZURE_STORAGE_ACCOUNT_KEY", ACCOUNT_KEY.to_string())),
        }
        env
    }

    /// A new, empty container, made by the SDK.
    pub fn container(&self) -> String {
        let name = format!("c{}-{}", std::process::id(), CONTAINERS.fetch_add(1, Ordering::Relaxed));
        self.python_ok(&format!("service.create_container({name:?})"));
        name
    }

    /// A SAS token for `container` with the SDK's `permissions` (`"rl"`: read and list).
    pub fn sas(&self, container: &str, permissions: &str) -> String {
        self.python_ok(&format!(
            "print(generate_container_sas({ACCOUNT:?}, {container:?}, account_key={ACCOUNT_KEY:?}, \
             permission=ContainerSasPermissions.from_string({permissions:?}), \
             expiry=datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)))"
        ))
        .trim()
        .to_string()
    }

    /// Runs a Python script with the SDK's `service` client and `listing(container, prefix)` defined.
    pub fn python(&self, script: &str) -> Output {
        let connection = format!(
            "DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};BlobEndpoint={};",
            self.blob_endpoint()
        );
        Command::new(client_python())
            .arg("-c")
            .arg(format!("{PRELUDE}\n{script}"))
            .env("QUIVER_TEST_AZURE_CONNECTION", connection)
            .output()
            .expect("running the client python")
    }

    /// [`AzureServer::python`], asserting success; its standard output.
    pub fn python_ok(&self, script: &str) -> String {
        let out = self.python(script);
        assert!(out.status.success(), "python failed:\n{}\n--- server log\n{}", crate::describe(&out), self.log());
        String::from_utf8(out.stdout).unwrap()
    }

    /// Uploads local `file` as blob `name` of `container`.
    pub fn upload(&self, file: &Path, container: &str, name: &str) {
        self.python_ok(&format!(
            "with open({:?}, 'rb') as f:\n    service.get_blob_client({container:?}, {name:?}).upload_blob(f, overwrite=True)",
            file.display().to_string()
        ));
    }

    /// Every blob under `prefix` of `container`, with its size.
    pub fn listing(&self, container: &str, prefix: &str) -> std::collections::BTreeMap<String, u64> {
        let json = self.python_ok(&format!("print(json.dumps(listing({container:?}, {prefix:?})))"));
        serde_json::from_str(&json).unwrap()
    }

    /// Downloads every blob under `prefix` of `container` into `local`.
    pub fn download(&self, container: &str, prefix: &str, local: &Path) {
        std::fs::create_dir_all(local).unwrap();
        self.python_ok(&format!(
            "client = service.get_container_client({container:?})\n\
             for name in listing({container:?}, {prefix:?}):\n    \
                 target = os.path.join({local:?}, os.path.relpath(name, {prefix:?}))\n    \
                 os.makedirs(os.path.dirname(target), exist_ok=True)\n    \
                 with open(target, 'wb') as out:\n        out.write(client.download_blob(name).readall())",
            local = local.display().to_string()
        ));
    }

    /// The server's log.
    pub fn log(&self) -> String {
        let alive = self.child.lock().unwrap().try_wait().is_ok_and(|status| status.is_none());
        let log = std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default();
        format!("(azurite {}) {log}", if alive { "running" } else { "exited" })
    }
}
