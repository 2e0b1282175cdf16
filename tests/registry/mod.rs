//! A real Confluent-compatible schema registry for the tests: Apicurio
//! Registry (Apache-2.0, its Confluent API under `/apis/ccompat/v7`, in
//! memory), fetched by `tests/registry/install.sh`, started once per test
//! process on loopback, and killed when the process ends. The independent
//! clients are confluent-kafka's serializers for Python, not Quiver's code.

pub mod gate;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use crate::{client_python, free_port, start_server};

/// The registry of this test process.
pub struct Registry {
    dir: PathBuf,
    port: u16,
    child: Mutex<Child>,
}

static REGISTRY: OnceLock<Registry> = OnceLock::new();
static SUBJECTS: AtomicU64 = AtomicU64::new(0);

/// The shared registry, started on first use.
pub fn registry() -> &'static Registry {
    REGISTRY.get_or_init(Registry::start)
}

impl Registry {
    fn start() -> Self {
        let jar = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../target/toolchains/apicurio/apicurio-registry-app-3.0.9-runner.jar");
        assert!(jar.is_file(), "{} is missing: run `bash tests/registry/install.sh`", jar.display());
        let dir = crate::server_dir("registry");
        let port = free_port();
        let mut command = Command::new("java");
        command
            .arg("-Xmx512m")
            .arg("-Dquarkus.http.host=127.0.0.1")
            .arg(format!("-Dquarkus.http.port={port}"))
            .arg("-jar")
            .arg(&jar)
            .current_dir(&dir);
        let child = start_server(command, "apicurio registry", &dir.join("server.log"), port, Duration::from_secs(120));
        let registry = Self { dir, port, child: Mutex::new(child) };
        // The port opens before the API answers.
        crate::wait_until("the registry's API", Duration::from_secs(60), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
                && registry.python("import urllib.request; urllib.request.urlopen(URL + '/subjects')").status.success()
        });
        registry
    }

    /// The port it listens on, on loopback.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The Confluent-compatible API's base URL, as a `[source.registry]` takes it.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/apis/ccompat/v7", self.port)
    }

    /// A subject name no other test uses, `PREFIX-N-value`.
    pub fn subject(&self, prefix: &str) -> String {
        format!("{prefix}-{}-value", SUBJECTS.fetch_add(1, Ordering::Relaxed))
    }

    /// Runs a Python script with `URL` (the registry's) defined.
    pub fn python(&self, script: &str) -> Output {
        Command::new(client_python())
            .arg("-c")
            .arg(format!("URL = {:?}\n{script}", self.url()))
            .output()
            .expect("running the client python")
    }

    /// The registry's log.
    pub fn log(&self) -> String {
        let alive = self.child.lock().unwrap().try_wait().is_ok_and(|status| status.is_none());
        let log = std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default();
        format!("(registry {}) {log}", if alive { "running" } else { "exited" })
    }

    /// Produces rows `first..first + count` of schema `version` to `topic`
    /// with the confluent-kafka client `tests/clients/SCRIPT`
    /// (`avro_produce.py`, `protobuf_produce.py`), `extra` after its arguments.
    pub fn produce(&self, script: &str, topic: &str, (first, count): (usize, usize), version: u32, extra: &[&str]) {
        let out = Command::new(client_python())
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("clients").join(script))
            .args([crate::kafka::bootstrap(), self.url(), topic.to_string()])
            .args([first.to_string(), count.to_string(), version.to_string()])
            .args(extra)
            .output()
            .expect("running the client python");
        assert!(out.status.success(), "{}\n--- registry\n{}", crate::describe(&out), self.log());
    }

    /// Registers `schema` of `kind` (`AVRO`, `PROTOBUF`, `JSON`) under `subject`
    /// with confluent-kafka's registry client; with `backward`, then sets
    /// the subject's compatibility rule to BACKWARD.
    pub fn register(&self, subject: &str, schema: &str, kind: &str, backward: bool) {
        let rule = match backward {
            true => format!("c.set_compatibility(subject_name={subject:?}, level='BACKWARD')"),
            false => String::new(),
        };
        let out = self.python(&format!(
            "from confluent_kafka.schema_registry import Schema, SchemaRegistryClient\n\
             c = SchemaRegistryClient({{'url': URL}})\n\
             c.register_schema({subject:?}, Schema({schema:?}, {kind:?}))\n{rule}"
        ));
        assert!(out.status.success(), "{}", crate::describe(&out));
    }

    /// The id of `subject`'s latest version, as confluent-kafka's client reads it.
    pub fn latest_id(&self, subject: &str) -> u32 {
        let out = self.python(&format!(
            "from confluent_kafka.schema_registry import SchemaRegistryClient\n\
             print(SchemaRegistryClient({{'url': URL}}).get_latest_version({subject:?}).schema_id)"
        ));
        assert!(out.status.success(), "{subject}: {}", crate::describe(&out));
        String::from_utf8_lossy(&out.stdout).trim().parse().expect("an id")
    }

    /// Relays 1,200 rows from `input` to `output` in `format`: rows
    /// `0..600` written by `produce` with version 1, the rest with 2, read
    /// by `source`, a pipeline whose Parquet sink becomes a Kafka sink
    /// (records `quiver.tests.Relayed`, keyed by `event_id`), then read
    /// back by `consume[0]` (with `consume[1..]` before the counts), which
    /// must succeed, all on `kafka`. The relay's pipeline text, and what
    /// the consumer said.
    pub fn relay(
        &self,
        kafka: &crate::kafka::Broker,
        dir: &Path,
        (input, output): (&str, &str),
        format: &str,
        source: &str,
        (produce, consume): (&str, &[&str]),
    ) -> (String, String) {
        kafka.create_topic(input, 2);
        kafka.create_topic(output, 2);
        self.produce(produce, input, (0, 600), 1, &[]);
        self.produce(produce, input, (600, 600), 2, &[]);
        let sink = format!(
            "[sink]\ntype = \"kafka\"\nbootstrap_servers = \"{}\"\ntopic = \"{output}\"\nformat = \"{format}\"\n\
             key_column = \"event_id\"\nrecord_name = \"quiver.tests.Relayed\"\n\n[sink.registry]\nurl = \"{}\"\n",
            kafka.bootstrap(),
            self.url()
        );
        let text = source.replace("[sink]\nformat = \"parquet\"\npath = \"out/\"\n", &sink);
        let file = crate::write_pipeline(dir, &text);
        let out = crate::quiver(dir, &["run", "--no-progress", file.to_str().unwrap()]);
        assert!(out.status.success(), "{}\n--- registry\n{}", crate::describe(&out), self.log());
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("clients").join(consume[0]);
        let read = Command::new(client_python())
            .arg(script)
            .args([kafka.bootstrap(), self.url(), output.to_string()])
            .args(&consume[1..])
            .args(["1200", "600"])
            .output()
            .unwrap();
        assert!(read.status.success(), "{}", crate::describe(&read));
        (text, String::from_utf8_lossy(&read.stdout).into_owned())
    }

    /// Runs `relay` (the text [`Registry::relay`] gave, which wrote to
    /// `output`) into a fresh topic whose subject (`PREFIX-N-value`)
    /// already holds `old` of `kind` under BACKWARD, which the output cannot
    /// follow: the run must fail naming the subject, with no message moved.
    pub fn refuses_output(
        &self,
        kafka: &crate::kafka::Broker,
        dir: &Path,
        (relay, output): (&str, &str),
        prefix: &str,
        (old, kind): (&str, &str),
    ) {
        let subject = self.subject(prefix);
        let topic = subject.trim_end_matches("-value").to_string();
        kafka.create_topic(&topic, 1);
        self.register(&subject, old, kind, true);
        let refused = relay
            .replace(&format!("topic = \"{output}\""), &format!("topic = \"{topic}\""))
            .replace("group_id = \"g-", "group_id = \"g2-");
        crate::assert_refused(dir, &refused, &[&subject, "refused the output's schema"]);
        assert!(kafka.read_all(&topic, false).is_empty(), "no message moved to {topic}");
    }

    /// Runs `pipeline` in `dir` (Parquet rows into `out/`, JSON Lines dead
    /// letters into `dead/`), which must succeed: what it left.
    pub fn run(&self, dir: &Path, pipeline: &str) -> Ran {
        let file = crate::write_pipeline(dir, pipeline);
        let out = crate::quiver_command(dir, &["run", "--no-progress", file.to_str().unwrap()])
            .env("QUIVER_LOG", "info")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}\n--- registry\n{}", crate::describe(&out), self.log());
        let rows = crate::read_parquet_dir(&dir.join("out"));
        let order = arrow::compute::sort_to_indices(rows.column_by_name("event_id").unwrap(), None, None).unwrap();
        let rows = arrow::compute::take_record_batch(&rows, &order).unwrap();
        let reasons = crate::read_jsonl_rows(&dir.join("dead"))
            .iter()
            .map(|r| r["quiver_reason"].as_str().unwrap().to_string())
            .collect();
        Ran { log: String::from_utf8_lossy(&out.stderr).into_owned(), rows, reasons }
    }
}

/// What a run of [`Registry::run`] left.
pub struct Ran {
    /// Its log, at info level.
    pub log: String,
    /// The rows it wrote, by `event_id`.
    pub rows: arrow::array::RecordBatch,
    /// The reason of each dead letter.
    pub reasons: Vec<String>,
}

/// The poison every wire format's test sends, made from `valid`, one
/// well-framed message: a value that is not framed, `valid` under an
/// unknown schema id and under id 0, `valid` with its last `cut` bytes
/// gone, and a tombstone. [`Ran::assert_poisoned`] checks what they leave.
pub fn framing_poison(valid: &[u8], cut: usize) -> Vec<crate::kafka::Outgoing> {
    let with_id = |id: u32| {
        let mut out = valid.to_vec();
        out[1..5].copy_from_slice(&id.to_be_bytes());
        out
    };
    vec![
        (Some(b"not-framed".to_vec()), Some(br#"{"event_id": 1}"#.to_vec()), vec![]),
        (Some(b"unknown-id".to_vec()), Some(with_id(987_654)), vec![]),
        (Some(b"id-0".to_vec()), Some(with_id(0)), vec![]),
        (Some(b"cut".to_vec()), Some(valid[..valid.len() - cut].to_vec()), vec![]),
        (Some(b"tombstone".to_vec()), None, vec![]),
    ]
}

impl Ran {
    /// Asserts what a run over rows `0..count` (those below `split`
    /// written with version 1, the rest with 2) and [`framing_poison`]
    /// left: 4 registry requests (the latest version, then each id met
    /// once: v1's and the two that are not there), every row passed to
    /// `check(rows, r, event_id, version)`, and one dead letter each for
    /// the poison, `cut` being the reason given to the shortened message.
    pub fn assert_poisoned(
        &self,
        count: usize,
        split: usize,
        check: impl Fn(&arrow::array::RecordBatch, usize, i64, u32),
        cut: &str,
    ) {
        assert!(self.log.contains("4 requests to the schema registry for 4 schema ids"), "{}", self.log);
        assert_eq!(self.rows.num_rows(), count, "{:?}", self.rows.schema());
        for r in 0..count {
            check(&self.rows, r, r as i64, if r < split { 1 } else { 2 });
        }
        for what in [
            "Confluent wire format",
            "schema id 987654 is not in the schema registry",
            "schema id 0 is not in the schema registry",
            cut,
            "tombstone",
        ] {
            assert_eq!(self.has(what), 1, "{what}: {:#?}", self.reasons);
        }
    }

    /// How many dead-letter reasons contain `what`.
    pub fn has(&self, what: &str) -> usize {
        self.reasons.iter().filter(|r| r.contains(what)).count()
    }
}
