//! The Kafka source: a consumer group member that reads topics into Arrow
//! micro-batches, one topic-partition per batch, cut by rows, bytes or
//! time (linger). Offsets are never committed here: the pipeline commits
//! them once the sinks hold every row up to them.

mod config;
mod decode;
mod group;
mod key;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::Int64Array;
use arrow::datatypes::SchemaRef;
use futures::FutureExt as _;
use rdkafka::Message as _;
use rdkafka::Offset;
use rdkafka::consumer::{CommitMode, Consumer, ConsumerGroupMetadata, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Headers as _};
use rdkafka::topic_partition_list::TopicPartitionList;
use tokio::sync::watch;

pub use config::{KafkaSourceConfig, StartFrom};
pub use decode::{DEBEZIUM_COLUMNS, Message, MessageDecoder, MessageFormat, raw_schema};
pub use group::{Group, Partition};
pub use key::{KeyConfig, KeyFormat};

use super::{Acknowledger, BatchSender, Ended, Position, Source, SourceBatch, SourceError, declared_columns};
use crate::dead_letter::Undecodable;
use crate::kafka::{client_config, set_default};

type GroupConsumer = StreamConsumer<Group>;

/// A subscribed consumer with its batch schema settled.
pub struct KafkaSource {
    config: KafkaSourceConfig,
    consumer: Arc<GroupConsumer>,
    decoder: MessageDecoder,
    /// Messages read while inferring the schema, to be batched first.
    backlog: Vec<(Partition, Message, u64)>,
    eof: Vec<Partition>,
    /// With `follow_latest`: watches for a newer version of the values' subject.
    follower: Option<quiver_registry::Follower>,
}

/// The decoder of the subject `registry` names (`<topic>-PART` of the
/// only topic by default, PART being `value` or `key`), and with
/// `follow_latest` what watches that subject for a newer version.
async fn open_wire(
    format: MessageFormat,
    registry: &quiver_registry::RegistryConfig,
    topics: &[String],
    part: &str,
) -> Result<(quiver_registry::WireDecoder, Option<quiver_registry::Follower>), SourceError> {
    let subject = match (&registry.subject, topics) {
        (Some(subject), _) => subject.clone(),
        (None, [topic]) => format!("{topic}-{part}"),
        (None, _) => return Err(config_error("registry", "name the subject whose schema the rows take")),
    };
    let client = Arc::new(quiver_registry::Registry::new(registry)?);
    let (version, message) = (registry.version, registry.message.as_deref());
    let kind = match format {
        MessageFormat::Protobuf => quiver_registry::SchemaKind::Protobuf,
        MessageFormat::JsonSchema => quiver_registry::SchemaKind::JsonSchema,
        _ => quiver_registry::SchemaKind::Avro,
    };
    let decoder = quiver_registry::WireDecoder::open(kind, client.clone(), &subject, version, message).await?;
    let reader = decoder.reader().cloned();
    if let Some(reader) = &reader {
        tracing::info!(
            subject = reader.subject,
            version = reader.version,
            id = reader.id,
            follow_latest = registry.follow_latest,
            "kafka: {part}s take the registry's schema"
        );
    }
    let follower = reader.filter(|_| registry.follow_latest).map(|r| quiver_registry::Follower::new(client, r));
    Ok((decoder, follower))
}

/// The decoder of `key`'s format, asking `registry` for the keys' subject.
async fn open_key(
    key: &KeyConfig,
    registry: Option<&quiver_registry::RegistryConfig>,
    topics: &[String],
) -> Result<key::KeyDecoder, SourceError> {
    let Some(format) = key.format.registered() else { return Ok(key::KeyDecoder::Text) };
    let Some(registry) = registry else {
        return Err(config_error("key.format", "registered keys read their schemas from [source.registry]: add it"));
    };
    let keys = quiver_registry::RegistryConfig {
        subject: key.subject.clone(),
        version: key.version,
        message: key.message.clone(),
        follow_latest: false,
        ..registry.clone()
    };
    Ok(key::KeyDecoder::Wire(Arc::new(open_wire(format, &keys, topics, "key").await?.0)))
}

fn config_error(key: &'static str, reason: impl Into<String>) -> SourceError {
    SourceError::Config { key, reason: reason.into() }
}

impl KafkaSource {
    /// Checks the table, joins the group and settles the schema (reading the
    /// first messages if it must be inferred), before any data moves.
    /// `config` is checked already ([`KafkaSourceConfig::validate`]).
    /// `base` is the pipeline file's directory, which plain Avro's schema file is relative to.
    pub async fn open(config: &KafkaSourceConfig, base: &Path) -> Result<Self, SourceError> {
        let topics = match &config.topic_pattern {
            // librdkafka takes a subscription starting with `^` as a pattern.
            Some(p) => vec![if p.starts_with('^') { p.clone() } else { format!("^{p}") }],
            None => config.topics.clone(),
        };
        let declared = declared_columns(&config.schema)?;
        // The registry first: a missing subject or an unreadable schema fails before the group is joined.
        let (wire, follower) = match (&config.registry, config.format) {
            (Some(registry), format) if format.registered() => {
                let (decoder, follower) = open_wire(format, registry, &config.topics, "value").await?;
                (Some(Arc::new(decoder)), follower)
            }
            (None, MessageFormat::Avro) => {
                (Some(Arc::new(quiver_registry::WireDecoder::AvroDatum(config.plain_avro(base)?))), None)
            }
            _ => (None, None),
        };
        let key = match &config.key {
            Some(key) => Some((open_key(key, config.registry.as_ref(), &config.topics).await?, key.column.as_str())),
            None => None,
        };
        let mut client = client_config("source", &config.bootstrap_servers, &config.properties)
            .map_err(|reason| SourceError::Kafka { reason })?;
        client
            .set("group.id", &config.group_id)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("enable.partition.eof", "true");
        set_default(&mut client, "isolation.level", "read_committed");
        // librdkafka stops fetching a partition whose queue holds
        // `queued.min.messages`, for a whole second by default. The source
        // drains a queue far faster than that, so it then sat idle most of the
        // second: 125k messages/s instead of 400k+ on the bench's topics.
        set_default(&mut client, "fetch.queue.backoff.ms", "10");
        let start = match config.start {
            StartFrom::Earliest => "earliest",
            StartFrom::Latest => "latest",
        };
        set_default(&mut client, "auto.offset.reset", start);
        let consumer: GroupConsumer = client
            .create_with_context(Group::default())
            .map_err(|e| SourceError::Kafka { reason: format!("cannot create the consumer: {e}") })?;
        let names: Vec<&str> = topics.iter().map(String::as_str).collect();
        consumer
            .subscribe(&names)
            .map_err(|e| SourceError::Kafka { reason: format!("cannot subscribe to {}: {e}", names.join(", ")) })?;
        let mut source = Self {
            config: config.clone(),
            consumer: Arc::new(consumer),
            decoder: MessageDecoder::new(MessageFormat::Raw, raw_schema()),
            backlog: Vec::new(),
            eof: Vec::new(),
            follower,
        };
        let decoder = match wire {
            Some(wire) => MessageDecoder::wire(config.format, wire),
            None => {
                let schema = match (config.format, declared) {
                    (MessageFormat::Raw, _) => raw_schema(),
                    (_, Some(schema)) => schema,
                    (format, None) => source.infer(format).await?,
                };
                MessageDecoder::new(config.format, schema)
            }
        };
        source.decoder = match key {
            Some((key, column)) => {
                decoder.with_key(key, column).map_err(|reason| config_error("key.column", reason))?
            }
            None => decoder,
        };
        Ok(source)
    }

    /// Reads the first messages to learn the schema; they are kept for the run.
    async fn infer(&mut self, format: MessageFormat) -> Result<SchemaRef, SourceError> {
        let wanted = if format == MessageFormat::Ipc { 1 } else { self.config.infer_messages.max(1) };
        tracing::info!("kafka: reading {wanted} messages to infer the schema (declare [source] schema to skip this)");
        loop {
            let found = self.backlog.iter().filter(|(_, m, _)| m.value.is_some()).count();
            if found >= wanted || (found > 0 && self.at_end()) {
                break;
            }
            if self.config.stop_at_end && self.at_end() {
                break;
            }
            match self.consumer.recv().await {
                Ok(m) => {
                    let (partition, message) = detach(&m);
                    self.eof.retain(|p| p != &partition);
                    self.backlog.push((partition, message, self.consumer.context().epoch()));
                }
                Err(KafkaError::PartitionEOF(p)) => self.mark_eof(p),
                Err(e) => tracing::warn!("kafka: while reading messages to infer the schema: {e}"),
            }
        }
        let values = self.backlog.iter().filter_map(|(_, m, _)| m.value.as_deref());
        match format {
            MessageFormat::Ipc => {
                let Some(value) = values.into_iter().next() else {
                    return Err(SourceError::Kafka {
                        reason: "the topics are empty, so the IPC schema cannot be read".into(),
                    });
                };
                let reader =
                    arrow::ipc::reader::StreamReader::try_new(std::io::Cursor::new(value), None).map_err(|e| {
                        SourceError::Kafka { reason: format!("the first message is not an IPC stream: {e}") }
                    })?;
                Ok(reader.schema())
            }
            _ => {
                let parsed: Vec<serde_json::Value> = values.filter_map(|v| serde_json::from_slice(v).ok()).collect();
                if parsed.is_empty() {
                    return Err(config_error(
                        "schema",
                        "no JSON message to infer the columns from (the topics are empty or unreadable): declare them",
                    ));
                }
                let schema = arrow::json::reader::infer_json_schema_from_iterator(parsed.iter().map(Ok))
                    .map_err(|e| config_error("schema", format!("cannot infer it from the first messages: {e}")))?;
                tracing::info!(
                    "kafka: inferred schema {:?}",
                    schema.fields().iter().map(|f| f.to_string()).collect::<Vec<_>>()
                );
                Ok(Arc::new(schema))
            }
        }
    }

    fn mark_eof(&mut self, partition: i32) {
        // The end-of-partition event carries no topic: mark that partition of every assigned topic.
        for p in self.consumer.context().assigned().into_iter().filter(|(_, n)| *n == partition) {
            if !self.eof.contains(&p) {
                self.eof.push(p);
            }
        }
    }

    /// Whether every assigned partition has been read to its end.
    fn at_end(&mut self) -> bool {
        let assigned = self.consumer.context().assigned();
        if assigned.is_empty() || !assigned.iter().all(|p| self.eof.contains(p)) {
            return false;
        }
        // Confirm against the brokers, since an end-of-partition event does not say which topic.
        let positions = match self.consumer.position() {
            Ok(p) => p,
            Err(_) => return false,
        };
        for e in positions.elements() {
            let Offset::Offset(at) = e.offset() else { continue };
            let high = tokio::task::block_in_place(|| {
                self.consumer.fetch_watermarks(e.topic(), e.partition(), Duration::from_secs(10))
            });
            if matches!(high, Ok((_, high)) if at < high) {
                self.eof.retain(|(t, p)| !(t.as_ref() == e.topic() && *p == e.partition()));
                return false;
            }
        }
        true
    }

    /// Reads and batches messages until `stop` turns true (or, with
    /// `stop_at_end`, every partition is read, or, with `follow_latest`, a
    /// message of a newer version of the subject arrives), then hands on what it holds.
    async fn read(mut self, tx: BatchSender, mut stop: watch::Receiver<bool>) -> Ended {
        let linger = Duration::from_millis(self.config.linger_ms);
        let mut buffers: HashMap<Partition, Buffer> = HashMap::new();
        let epoch = self.consumer.context().epoch();
        // Messages read while the schema was inferred keep the epoch they
        // were read in: after a rebalance during inference, their batches
        // are the old assignment's, which exactly-once drops.
        for (partition, message, read_in) in std::mem::take(&mut self.backlog) {
            if !self.emit(&tx, &mut buffers, |p, b| p == &partition && b.epoch != read_in).await {
                return Ended::Done;
            }
            let buffer = buffers.entry(partition.clone()).or_insert_with(|| Buffer::new(read_in));
            buffer.push(message);
            if buffer.full(&self.config) && !self.emit(&tx, &mut buffers, |p, _| p == &partition).await {
                return Ended::Done;
            }
        }
        if !self.emit(&tx, &mut buffers, |_, b| b.epoch != epoch).await {
            return Ended::Done;
        }
        let mut epoch = epoch;
        'read: loop {
            let deadline = buffers.values().map(|b| b.since + linger).min();
            let sleep = tokio::time::sleep_until(deadline.unwrap_or_else(far_future).into());
            tokio::select! {
                _ = stopped(&mut stop) => break,
                _ = sleep => {
                    let now = Instant::now();
                    if !self.emit(&tx, &mut buffers, |_, b| b.since + linger <= now).await {
                        return Ended::Done;
                    }
                }
                received = self.consumer.recv() => {
                    // What librdkafka already holds is taken without a timer
                    // and a select for each message, which cost more than the message.
                    let mut received = Some(received.map(|m| detach(&m)));
                    let mut taken = 0;
                    while let Some(r) = received.take() {
                        match self.receive(r, &tx, &mut buffers, &mut epoch).await {
                            Next::Read => {}
                            Next::AtEnd => break 'read,
                            Next::Return(ended) => return ended,
                        }
                        taken += 1;
                        if taken < DRAIN {
                            received = self.consumer.recv().now_or_never().map(|r| r.map(|m| detach(&m)));
                        }
                    }
                }
            }
        }
        self.emit(&tx, &mut buffers, |_, _| true).await;
        Ended::Done
    }

    /// Batches one received message, or acts on the event received instead.
    async fn receive(
        &mut self,
        received: Result<(Partition, Message), KafkaError>,
        tx: &BatchSender,
        buffers: &mut HashMap<Partition, Buffer>,
        epoch: &mut u64,
    ) -> Next {
        let (partition, message) = match received {
            Ok(m) => m,
            Err(KafkaError::PartitionEOF(p)) => {
                self.mark_eof(p);
                return if self.config.stop_at_end && self.at_end() { Next::AtEnd } else { Next::Read };
            }
            // librdkafka retries on its own (a broker restarting, say); say so and go on.
            Err(e) => {
                tracing::warn!("kafka source: {e}");
                return Next::Read;
            }
        };
        if let Some(reason) = self.consumer.context().take_failure() {
            let _ = tx.send(Err(SourceError::Kafka { reason })).await;
            return Next::Return(Ended::Done);
        }
        let now_epoch = self.consumer.context().epoch();
        if let Some(newer) = self.newer_version(&message).await {
            // The message is not batched: the next segment reads it again from the commit.
            self.emit(tx, buffers, |_, _| true).await;
            let at = format!("{}/{}@{}", partition.0, partition.1, message.offset);
            tracing::info!(
                subject = newer.subject,
                version = newer.version,
                "kafka: {at} is the first message with its schema id, and the subject has a newer version than the \
                 reader's: the batches are cut before it"
            );
            return Next::Return(Ended::NewVersion { subject: newer.subject, version: newer.version, at });
        }
        if now_epoch != *epoch {
            // Batches never mix messages read before and after a rebalance.
            if !self.emit(tx, buffers, |_, _| true).await {
                return Next::Return(Ended::Done);
            }
            *epoch = now_epoch;
        }
        self.eof.retain(|p| p != &partition);
        let buffer = buffers.entry(partition.clone()).or_insert_with(|| Buffer::new(*epoch));
        buffer.push(message);
        if buffer.full(&self.config) && !self.emit(tx, buffers, |p, _| p == &partition).await {
            return Next::Return(Ended::Done);
        }
        Next::Read
    }

    /// With `follow_latest`, the subject's newer version `message` is the first of.
    async fn newer_version(&mut self, message: &Message) -> Option<quiver_registry::Registered> {
        self.follower.as_mut()?.newer(message.value.as_deref()).await
    }

    /// Decodes and sends the buffers `pick` selects. False when the pipeline is gone.
    async fn emit(
        &self,
        tx: &BatchSender,
        buffers: &mut HashMap<Partition, Buffer>,
        pick: impl Fn(&Partition, &Buffer) -> bool,
    ) -> bool {
        let chosen: Vec<Partition> = buffers.iter().filter(|(p, b)| pick(p, b)).map(|(p, _)| p.clone()).collect();
        for partition in chosen {
            let buffer = buffers.remove(&partition).expect("chosen from the map");
            let batch = tokio::task::block_in_place(|| self.batch(&partition, buffer));
            if tx.send(Ok(batch)).await.is_err() {
                return false;
            }
        }
        true
    }

    fn batch(&self, (topic, partition): &Partition, buffer: Buffer) -> SourceBatch {
        let decoded = self.decoder.decode(topic, *partition, &buffer.messages);
        let label: Arc<str> = format!("{topic}/{partition}").into();
        let undecodable = decoded
            .failed
            .iter()
            .map(|(i, reason)| {
                let message = &buffer.messages[*i];
                Undecodable {
                    key: message.key.clone(),
                    value: message.value.clone(),
                    reason: reason.clone(),
                    source: label.clone(),
                    offset: message.offset,
                }
            })
            .collect();
        let first = buffer.messages.first().expect("a buffer holds a message").offset;
        let last = buffer.messages.last().expect("a buffer holds a message").offset;
        SourceBatch {
            batch: decoded.batch,
            file: label,
            first_row: 0,
            rows: Some(Int64Array::from(decoded.offsets)),
            undecodable,
            position: Some(Position {
                stream: topic.clone(),
                partition: *partition,
                first_offset: first,
                next_offset: last + 1,
                epoch: buffer.epoch,
            }),
        }
    }
}

/// Returns once `stop` turns true; never, if its sender is gone.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    if stop.wait_for(|s| *s).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Most messages taken from librdkafka's queue at once, between looks at the stop signal and the linger timer.
const DRAIN: usize = 1024;

/// What [`KafkaSource::receive`] tells the read loop.
enum Next {
    /// Read on.
    Read,
    /// Every partition is read to its end (`stop_at_end`): hand on what is held.
    AtEnd,
    /// Stop now, having handed on what must be.
    Return(Ended),
}

fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(3600)
}

struct Buffer {
    messages: Vec<Message>,
    bytes: usize,
    since: Instant,
    epoch: u64,
}

impl Buffer {
    fn new(epoch: u64) -> Self {
        Self { messages: Vec::new(), bytes: 0, since: Instant::now(), epoch }
    }

    fn push(&mut self, message: Message) {
        self.bytes += message.value.as_ref().map_or(0, Vec::len);
        self.messages.push(message);
    }

    fn full(&self, config: &KafkaSourceConfig) -> bool {
        self.messages.len() >= config.batch_rows || self.bytes >= config.batch_bytes
    }
}

fn detach(m: &BorrowedMessage<'_>) -> (Partition, Message) {
    let headers = m
        .headers()
        .map(|h| h.iter().map(|h| (h.key.to_string(), h.value.map(<[u8]>::to_vec))).collect())
        .unwrap_or_default();
    let message = Message {
        key: m.key().map(<[u8]>::to_vec),
        value: m.payload().map(<[u8]>::to_vec),
        headers,
        offset: m.offset(),
        timestamp: m.timestamp().to_millis(),
    };
    ((Arc::from(m.topic()), m.partition()), message)
}

impl Source for KafkaSource {
    fn schema(&self) -> &SchemaRef {
        self.decoder.schema()
    }

    fn acknowledger(&self) -> Option<Arc<dyn Acknowledger>> {
        Some(Arc::new(Offsets { consumer: self.consumer.clone(), group_id: self.config.group_id.clone() }))
    }

    fn run(
        self: Box<Self>,
        tx: BatchSender,
        stop: watch::Receiver<bool>,
    ) -> futures::future::BoxFuture<'static, Ended> {
        Box::pin(self.read(tx, stop))
    }
}

/// Commits a consumer's offsets, for the pipeline.
#[derive(Clone)]
pub struct Offsets {
    consumer: Arc<GroupConsumer>,
    group_id: String,
}

impl Acknowledger for Offsets {
    fn reader(&self) -> &str {
        &self.group_id
    }

    fn epoch(&self) -> u64 {
        self.group().epoch()
    }

    fn commit(&self, positions: &[Position]) -> Result<usize, String> {
        Offsets::commit(self, positions).map_err(|e| e.to_string())
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn resume_from(&self, store: Arc<dyn crate::source::PositionStore>) -> bool {
        self.group().resume_from(store)
    }
}

impl Offsets {
    /// The group's state, for the consumer side of a transaction.
    pub fn group(&self) -> &Group {
        self.consumer.context()
    }

    /// The group metadata a producer's transaction commits offsets with.
    pub fn group_metadata(&self) -> Option<ConsumerGroupMetadata> {
        self.consumer.group_metadata()
    }

    /// Commits `positions`, but only for partitions this consumer still
    /// holds (another member now owns the rest and resumes from the last
    /// commit, so at worst rows are read twice, never skipped). Blocks.
    pub fn commit(&self, positions: &[Position]) -> Result<usize, KafkaError> {
        let _held = self.group().hold();
        let assigned = self.group().assigned();
        let list = offset_list(positions.iter().filter(|p| assigned.contains(&p.partition())));
        if list.count() == 0 {
            return Ok(0);
        }
        self.consumer.commit(&list, CommitMode::Sync)?;
        Ok(list.count())
    }
}

/// A topic-partition list of the offsets to resume from.
pub fn offset_list<'a>(positions: impl Iterator<Item = &'a Position>) -> TopicPartitionList {
    let mut list = TopicPartitionList::new();
    for p in positions {
        list.add_partition_offset(&p.stream, p.partition, Offset::Offset(p.next_offset))
            .expect("a fresh offset for a new entry");
    }
    list
}
