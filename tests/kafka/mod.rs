//! A real Apache Kafka broker for the tests: one KRaft node on loopback
//! with a fresh log directory, started once per test process from the jars
//! `tests/kafka/install.sh` fetched, and killed when the process ends. The
//! clients here are librdkafka's, through the rdkafka crate, not Quiver's code.

use std::collections::BTreeMap;
use std::net::TcpStream;
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock, RwLock, RwLockReadGuard};
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, Headers, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::topic_partition_list::TopicPartitionList;
use rdkafka::{Message, Offset};

use crate::free_port;

/// The broker of this test process.
pub struct Broker {
    dir: PathBuf,
    port: u16,
    controller_port: u16,
    child: Mutex<Option<Child>>,
}

/// A message as read back.
#[derive(Debug, Clone)]
pub struct Record {
    /// Its partition.
    pub partition: i32,
    /// Its offset.
    pub offset: i64,
    /// Its key.
    pub key: Option<Vec<u8>>,
    /// Its value.
    pub value: Option<Vec<u8>>,
    /// Its headers, as text.
    pub headers: BTreeMap<String, String>,
    /// Its timestamp (create time, ms since the epoch).
    pub timestamp: Option<i64>,
}

/// A message to produce: key, value (`None` for a tombstone) and headers.
pub type Outgoing = (Option<Vec<u8>>, Option<Vec<u8>>, Vec<(&'static str, &'static str)>);

static BROKER: OnceLock<Broker> = OnceLock::new();

/// Numbers the readers' groups: the broker is fresh for every test process.
static READERS: AtomicU64 = AtomicU64::new(0);

/// Read-held by every test while it needs the broker up, so that the test
/// which restarts it waits for them instead of failing them mid-read.
static UP: RwLock<()> = RwLock::new(());

/// The shared broker, started on first use, kept up while this lives.
pub struct Up {
    _up: RwLockReadGuard<'static, ()>,
    broker: &'static Broker,
}

impl Deref for Up {
    type Target = Broker;

    fn deref(&self) -> &Broker {
        self.broker
    }
}

/// The shared broker, held up until the returned guard is dropped. Take it
/// once per test: a second hold on the same thread can deadlock behind a
/// waiting restart.
pub fn broker() -> Up {
    let up = UP.read().unwrap_or_else(|e| e.into_inner());
    Up { _up: up, broker: instance() }
}

/// The shared broker without holding it up: for the tests serialized with
/// the one that restarts it, which must not read-hold it, and the benches,
/// which never restart it.
pub fn instance() -> &'static Broker {
    BROKER.get_or_init(Broker::start)
}

/// The broker's `127.0.0.1:PORT`, which a restart keeps.
pub fn bootstrap() -> String {
    instance().bootstrap()
}

fn libs() -> PathBuf {
    let libs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/toolchains/kafka/libs");
    assert!(
        libs.join("kafka-clients-4.3.1.jar").is_file(),
        "{} is missing: run `bash tests/kafka/install.sh`",
        libs.display()
    );
    libs
}

impl Broker {
    fn start() -> Self {
        let dir = crate::server_dir("kafka");
        let broker = Self { dir, port: free_port(), controller_port: free_port(), child: Mutex::new(None) };
        std::fs::write(broker.dir.join("server.properties"), broker.properties()).unwrap();
        std::fs::write(
            broker.dir.join("log4j2.yaml"),
            "Configuration:\n  Appenders:\n    Console:\n      name: OUT\n      PatternLayout:\n        pattern: \"[%d] %p %m (%c)%n\"\n  Loggers:\n    Root:\n      level: WARN\n      AppenderRef:\n        - ref: OUT\n",
        )
        .unwrap();
        let format = broker
            .java()
            .args(["kafka.tools.StorageTool", "format", "--standalone", "-t", "ax48WgAAQACAAAAAAAC-7w", "-c"])
            .arg(broker.dir.join("server.properties"))
            .output()
            .expect("running java: the Kafka tests need a JDK 17 or newer");
        assert!(
            format.status.success(),
            "formatting the Kafka log directory failed: {}",
            String::from_utf8_lossy(&format.stderr)
        );
        broker.launch();
        broker
    }

    fn properties(&self) -> String {
        format!(
            "process.roles=broker,controller\nnode.id=1\n\
             controller.quorum.bootstrap.servers=127.0.0.1:{c}\n\
             listeners=PLAINTEXT://127.0.0.1:{p},CONTROLLER://127.0.0.1:{c}\n\
             advertised.listeners=PLAINTEXT://127.0.0.1:{p}\n\
             controller.listener.names=CONTROLLER\ninter.broker.listener.name=PLAINTEXT\n\
             listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT\n\
             log.dirs={dir}/data\nnum.partitions=1\nauto.create.topics.enable=false\n\
             offsets.topic.replication.factor=1\noffsets.topic.num.partitions=4\n\
             transaction.state.log.replication.factor=1\ntransaction.state.log.min.isr=1\n\
             transaction.state.log.num.partitions=4\ngroup.initial.rebalance.delay.ms=0\n\
             transaction.max.timeout.ms=60000\n",
            c = self.controller_port,
            p = self.port,
            dir = self.dir.display()
        )
    }

    fn java(&self) -> Command {
        let mut command = Command::new("java");
        command
            .arg("-Xmx768m")
            .arg(format!("-Dlog4j2.configurationFile={}", self.dir.join("log4j2.yaml").display()))
            .arg("-cp")
            .arg(format!("{}/*", libs().display()));
        command
    }

    fn launch(&self) {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.dir.join("broker.log")).unwrap();
        let child = self
            .java()
            .arg("kafka.Kafka")
            .arg(self.dir.join("server.properties"))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("starting the Kafka broker");
        crate::kill_with_this_process(child.id());
        *self.child.lock().unwrap() = Some(child);
        self.wait_ready();
    }

    fn wait_ready(&self) {
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(90) {
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                let admin = self.admin();
                if admin.inner().fetch_metadata(None, Duration::from_secs(5)).is_ok_and(|m| !m.brokers().is_empty()) {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!("the Kafka broker did not start within 90 s:\n{}", self.log());
    }

    /// The broker's log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("broker.log")).unwrap_or_default()
    }

    /// `127.0.0.1:PORT`.
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Kills the broker (SIGKILL, as a crash) and starts it again on the same log directory.
    pub fn restart(&self, down_for: Duration) {
        let _down = UP.write().unwrap_or_else(|e| e.into_inner());
        if let Some(mut child) = self.child.lock().unwrap().take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        std::thread::sleep(down_for);
        self.launch();
    }

    fn client(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", self.bootstrap());
        config
    }

    fn admin(&self) -> AdminClient<DefaultClientContext> {
        self.client().create().expect("admin client")
    }

    /// Creates a topic with `partitions` partitions.
    pub fn create_topic(&self, name: &str, partitions: i32) {
        self.create_topic_with(name, partitions, &[]);
    }

    /// Creates a topic with `partitions` partitions and the topic settings `config`.
    pub fn create_topic_with(&self, name: &str, partitions: i32, config: &[(&str, &str)]) {
        let admin = self.admin();
        let topic =
            config.iter().fold(NewTopic::new(name, partitions, TopicReplication::Fixed(1)), |topic, (key, value)| {
                topic.set(key, value)
            });
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let results = runtime
            .block_on(
                admin.create_topics([&topic], &AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)))),
            )
            .expect("creating a topic");
        for r in results {
            r.unwrap_or_else(|(t, e)| panic!("creating topic {t}: {e}"));
        }
    }

    /// A producer for test input (idempotent, acks=all) that waits up to
    /// `linger_ms` to fill a batch.
    pub fn producer(&self, linger_ms: u32) -> ThreadedProducer<DefaultProducerContext> {
        self.client()
            .set("enable.idempotence", "true")
            .set("linger.ms", linger_ms.to_string())
            .set("queue.buffering.max.messages", "1000000")
            .create()
            .expect("test producer")
    }

    /// Produces `(key, value, headers)` messages to `topic`, spread over its
    /// partitions by key (or round robin without one), and waits for them all.
    pub fn produce(&self, topic: &str, messages: impl IntoIterator<Item = Outgoing>) {
        let producer = self.producer(20);
        for (key, value, headers) in messages {
            let mut record = BaseRecord::<Vec<u8>, Vec<u8>>::to(topic);
            if let Some(k) = key.as_ref() {
                record = record.key(k);
            }
            if let Some(v) = value.as_ref() {
                record = record.payload(v);
            }
            if !headers.is_empty() {
                let mut list = OwnedHeaders::new();
                for (k, v) in &headers {
                    list = list.insert(Header { key: k, value: Some(v.as_bytes()) });
                }
                record = record.headers(list);
            }
            let mut record = record;
            loop {
                match producer.send(record) {
                    Ok(()) => break,
                    Err((KafkaError::MessageProduction(rdkafka::types::RDKafkaErrorCode::QueueFull), back)) => {
                        record = back;
                        std::thread::sleep(Duration::from_millis(10));
                    }
                    Err((e, _)) => panic!("producing to {topic}: {e}"),
                }
            }
        }
        producer.flush(Duration::from_secs(60)).expect("flushing the test producer");
    }

    /// Every message of `topic`, from the start to its current end, partition
    /// by partition in offset order. `committed_only` reads as
    /// `isolation.level=read_committed`.
    pub fn read_all(&self, topic: &str, committed_only: bool) -> Vec<Record> {
        let consumer: BaseConsumer = self
            .client()
            .set("group.id", format!("quiver-tests-reader-{}", READERS.fetch_add(1, Ordering::Relaxed)))
            .set("enable.auto.commit", "false")
            .set("enable.partition.eof", "true")
            .set("isolation.level", if committed_only { "read_committed" } else { "read_uncommitted" })
            .create()
            .expect("test consumer");
        let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(10)).expect("topic metadata");
        let partitions = metadata.topics()[0].partitions().len() as i32;
        let mut list = TopicPartitionList::new();
        for p in 0..partitions {
            list.add_partition_offset(topic, p, Offset::Beginning).unwrap();
        }
        consumer.assign(&list).unwrap();
        let mut ended = std::collections::BTreeSet::new();
        let mut records = Vec::new();
        let started = Instant::now();
        while (ended.len() as i32) < partitions {
            assert!(started.elapsed() < Duration::from_secs(120), "reading {topic} took over 120 s");
            match consumer.poll(Duration::from_millis(500)) {
                Some(Ok(m)) => {
                    ended.remove(&m.partition());
                    let headers = m
                        .headers()
                        .map(|h| {
                            h.iter()
                                .map(|h| {
                                    (
                                        h.key.to_string(),
                                        String::from_utf8_lossy(h.value.unwrap_or_default()).into_owned(),
                                    )
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    records.push(Record {
                        partition: m.partition(),
                        offset: m.offset(),
                        key: m.key().map(<[u8]>::to_vec),
                        value: m.payload().map(<[u8]>::to_vec),
                        headers,
                        timestamp: m.timestamp().to_millis(),
                    });
                }
                Some(Err(KafkaError::PartitionEOF(p))) => {
                    ended.insert(p);
                }
                // librdkafka reconnects on its own: on a machine this loaded, a
                // connection of the reader's sometimes drops mid-read.
                Some(Err(KafkaError::MessageConsumption(
                    rdkafka::types::RDKafkaErrorCode::AllBrokersDown
                    | rdkafka::types::RDKafkaErrorCode::BrokerTransportFailure,
                ))) => {}
                Some(Err(e)) => panic!("reading {topic}: {e}"),
                None => {}
            }
        }
        records.sort_by_key(|r| (r.partition, r.offset));
        records
    }

    /// The end offset of each partition of `topic`.
    pub fn end_offsets(&self, topic: &str) -> Vec<i64> {
        let consumer: BaseConsumer = self.client().create().expect("test consumer");
        let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(10)).expect("topic metadata");
        (0..metadata.topics()[0].partitions().len() as i32)
            .map(|p| consumer.fetch_watermarks(topic, p, Duration::from_secs(10)).expect("watermarks").1)
            .collect()
    }

    /// The offsets `group` has committed on each partition of `topic` (-1 where none).
    pub fn committed(&self, group: &str, topic: &str) -> Vec<i64> {
        let consumer: BaseConsumer = self.client().set("group.id", group).create().expect("test consumer");
        let partitions = self.end_offsets(topic).len() as i32;
        let mut list = TopicPartitionList::new();
        for p in 0..partitions {
            list.add_partition(topic, p);
        }
        let committed = consumer.committed_offsets(list, Duration::from_secs(10)).expect("committed offsets");
        committed
            .elements()
            .iter()
            .map(|e| match e.offset() {
                Offset::Offset(o) => o,
                _ => -1,
            })
            .collect()
    }

    /// Commits `offset` for `group` on `topic`'s `partition`, as a tool
    /// resetting a group's offsets does; waits (up to 60 s) for the group to
    /// have no live member, since the broker refuses commits from outside
    /// a group that has one.
    pub fn commit(&self, group: &str, topic: &str, partition: i32, offset: i64) {
        let consumer: BaseConsumer = self.client().set("group.id", group).create().expect("test consumer");
        let mut list = TopicPartitionList::new();
        list.add_partition_offset(topic, partition, Offset::Offset(offset)).expect("a new entry");
        let started = Instant::now();
        loop {
            match consumer.commit(&list, rdkafka::consumer::CommitMode::Sync) {
                Ok(()) => return,
                Err(_) if started.elapsed() < Duration::from_secs(60) => {
                    std::thread::sleep(Duration::from_millis(500));
                }
                Err(e) => panic!("committing {topic}/{partition} at {offset} for {group}: {e}"),
            }
        }
    }
}
