//! A real Iceberg REST catalog for the tests: Apache Iceberg's own
//! (`RESTCatalogAdapter` and `RESTCatalogServlet` over a JDBC catalog on
//! SQLite), fetched by `tests/iceberg/install.sh` and run by
//! `tests/iceberg/RestCatalog.java` on loopback, one per test, killed when
//! it is dropped. The independent client is pyiceberg's REST catalog.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use crate::{free_port, start_server};

/// A running REST catalog, whose warehouse is a local directory.
pub struct RestCatalog {
    dir: PathBuf,
    port: u16,
    child: Child,
}

impl RestCatalog {
    /// Starts a catalog over `warehouse`. With `token`, every request must
    /// carry it as a bearer token, or is refused with a 401.
    pub fn start(warehouse: &Path, token: Option<&str>) -> Self {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let libs = root.join("../target/toolchains/iceberg-rest/libs");
        assert!(libs.is_dir(), "{} is missing: run `bash tests/iceberg/install.sh`", libs.display());
        let dir = tempfile::Builder::new().prefix("quiver-rest-").tempdir().unwrap().keep();
        let port = free_port();
        let mut command = Command::new("java");
        command
            .arg("-cp")
            .arg(format!("{}/*", libs.display()))
            .arg(root.join("iceberg/RestCatalog.java"))
            .arg(warehouse)
            .arg(port.to_string())
            .env_remove("QUIVER_REST_TOKEN");
        if let Some(token) = token {
            command.env("QUIVER_REST_TOKEN", token);
        }
        let child =
            start_server(command, "the Iceberg REST catalog", &dir.join("server.log"), port, Duration::from_secs(90));
        Self { dir, port, child }
    }

    /// The catalog's base URL, as a `[sink.catalog]` takes it.
    pub fn uri(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The catalog's log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }
}

impl Drop for RestCatalog {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
