//! A real Spark standalone cluster for the tests: a master and two workers
//! of one core each, every one on its own loopback port, started once per
//! test process from the PySpark that `tests/install-clients.sh` installed
//! (its jars and `spark-class`), and killed when the process ends. Jobs
//! reach it at `spark://127.0.0.1:PORT`, never `local[*]`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use crate::{client_python, free_port, server_dir, start_server};

/// The cluster of this test process.
pub struct Cluster {
    /// `spark://127.0.0.1:PORT`.
    pub master: String,
    /// Where the workers keep their applications' files.
    pub dir: PathBuf,
    /// The master's and the workers' processes, killed with this test process.
    _processes: Vec<Child>,
}

static CLUSTER: OnceLock<Cluster> = OnceLock::new();

/// The cluster, started on first use, for one job at a time: it has two
/// cores, and an application takes both.
pub fn exclusive() -> (MutexGuard<'static, ()>, &'static Cluster) {
    static LOCK: Mutex<()> = Mutex::new(());
    let guard = LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    (guard, CLUSTER.get_or_init(Cluster::start))
}

/// `SPARK_HOME`: the `pyspark` package of the clients' Python.
pub fn spark_home() -> PathBuf {
    let python = client_python();
    let venv = python.parent().and_then(Path::parent).expect("venv/bin/python");
    let lib = std::fs::read_dir(venv.join("lib"))
        .expect("the clients' venv has lib/")
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("site-packages/pyspark"))
        .find(|p| p.join("bin/spark-class").is_file());
    lib.unwrap_or_else(|| panic!("PySpark is missing from {}: run `bash tests/install-clients.sh`", venv.display()))
}

impl Cluster {
    fn start() -> Self {
        let dir = server_dir("spark");
        let home = spark_home();
        let class = |main: &str| {
            let mut command = Command::new(home.join("bin/spark-class"));
            command
                .arg(main)
                .env("SPARK_HOME", &home)
                .env("SPARK_LOCAL_IP", "127.0.0.1")
                .env("SPARK_LOG_DIR", &dir)
                .env("SPARK_WORKER_DIR", &dir)
                // The REST submission server takes a fixed port; nothing here uses it.
                .env("SPARK_MASTER_OPTS", "-Dspark.master.rest.enabled=false")
                .current_dir(&dir);
            command
        };
        let port = free_port();
        let master = format!("spark://127.0.0.1:{port}");
        let mut command = class("org.apache.spark.deploy.master.Master");
        command.args(["--host", "127.0.0.1", "--port", &port.to_string(), "--webui-port", &free_port().to_string()]);
        let mut processes =
            vec![start_server(command, "the Spark master", &dir.join("master.log"), port, Duration::from_secs(120))];
        for worker in 1..=2 {
            let (port, work) = (free_port(), dir.join(format!("worker-{worker}")));
            std::fs::create_dir_all(&work).expect("a worker's directory");
            let mut command = class("org.apache.spark.deploy.worker.Worker");
            command
                .args(["--host", "127.0.0.1", "--port", &port.to_string(), "--webui-port", &free_port().to_string()])
                .args(["--cores", "1", "--memory", "2g", "--work-dir"])
                .arg(&work)
                .arg(&master);
            let log = dir.join(format!("worker-{worker}.log"));
            processes.push(start_server(command, "a Spark worker", &log, port, Duration::from_secs(120)));
            wait_registered(&log);
        }
        Self { master, dir, _processes: processes }
    }
}

/// Waits until a worker's log says the master took it.
fn wait_registered(log: &Path) {
    crate::wait_until("a Spark worker to register with the master", Duration::from_secs(120), || {
        std::fs::read_to_string(log).is_ok_and(|text| text.contains("Successfully registered with master"))
    });
}
