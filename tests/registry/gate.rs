//! A TLS and basic-auth gate in front of the test registry, as registries
//! run in production: Debian's nginx (`tests/registry/install.sh`) on
//! loopback, its certificate signed by a certificate authority made here
//! with openssl, one user in its password file. Apicurio's own auth needs
//! Keycloak; nginx checks the credentials and passes the requests on.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use crate::{free_port, start_server};

/// The user the gate lets through.
pub const USER: &str = "quiver-reader";
/// That user's password.
pub const PASSWORD: &str = "s3cr3t-pässword";

/// nginx in front of the registry.
pub struct Gate {
    dir: PathBuf,
    port: u16,
    /// Killed when the test process ends.
    _child: Mutex<Child>,
}

static GATE: OnceLock<Gate> = OnceLock::new();

/// The gate in front of the shared registry, started on first use.
pub fn gate() -> &'static Gate {
    GATE.get_or_init(|| Gate::start(super::registry().port()))
}

impl Gate {
    fn start(upstream: u16) -> Self {
        let nginx = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/toolchains/nginx/usr/sbin/nginx");
        assert!(nginx.is_file(), "{} is missing: run `bash tests/registry/install.sh`", nginx.display());
        let dir = crate::server_dir("registry-gate");
        std::fs::create_dir_all(dir.join("tmp")).unwrap();
        certificates(&dir);
        // nginx reads `{PLAIN}` passwords as they are.
        std::fs::write(dir.join("htpasswd"), format!("{USER}:{{PLAIN}}{PASSWORD}\n")).unwrap();
        let port = free_port();
        let d = dir.display();
        let temp: String = ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"]
            .iter()
            .map(|t| format!("  {t}_temp_path {d}/tmp/{t};\n"))
            .collect();
        let conf = format!(
            "daemon off;\nmaster_process off;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log info;\n\
             events {{}}\nhttp {{\n  access_log {d}/access.log;\n{temp}\
             server {{\n    listen 127.0.0.1:{port} ssl;\n    ssl_certificate {d}/server.pem;\n\
             ssl_certificate_key {d}/server.key;\n    location / {{\n      auth_basic \"schema registry\";\n\
             auth_basic_user_file {d}/htpasswd;\n      proxy_set_header Authorization \"\";\n\
             proxy_pass http://127.0.0.1:{upstream};\n    }}\n  }}\n}}\n"
        );
        std::fs::write(dir.join("nginx.conf"), conf).unwrap();
        let mut command = Command::new(&nginx);
        command.arg("-p").arg(&dir).arg("-e").arg(dir.join("error.log")).arg("-c").arg(dir.join("nginx.conf"));
        let child = start_server(command, "nginx", &dir.join("nginx.log"), port, Duration::from_secs(30));
        Self { dir, port, _child: Mutex::new(child) }
    }

    /// The registry's API through the gate: `https://127.0.0.1:PORT/apis/ccompat/v7`.
    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}/apis/ccompat/v7", self.port)
    }

    /// The PEM file of the certificate authority that signed the gate's certificate.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// What the gate logged of its requests (status and user, never the password).
    pub fn access_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("access.log")).unwrap_or_default()
    }
}

/// A certificate authority, and a certificate for `127.0.0.1` it signed, in `dir`.
fn certificates(dir: &Path) {
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl").args(args).current_dir(dir).output().expect("running openssl");
        assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=quiver tests CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
    ]);
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
    ]);
    std::fs::write(dir.join("server.ext"), "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n").unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "1",
        "-extfile",
        "server.ext",
        "-out",
        "server.pem",
    ]);
}
