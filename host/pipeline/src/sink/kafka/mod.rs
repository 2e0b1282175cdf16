//! The Kafka sink: rows as messages (a JSON object each, or one Arrow IPC
//! stream per batch) through an idempotent producer; the topic and the key
//! may come from columns, headers from columns. A batch is durable once
//! every delivery report is in, or, with exactly-once delivery, once the
//! producer's transaction commits.

use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use rdkafka::consumer::ConsumerGroupMetadata;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseRecord, Producer as _};
use rdkafka::topic_partition_list::TopicPartitionList;

use super::{Shared, Sink, SinkContext, SinkError, SinkSummary, Transaction};
use crate::kafka::{BytesColumn, client_config, set_default};
use crate::source::kafka::{Offsets, offset_list};
use crate::source::{Acknowledger, Position};

mod config;
mod delivery;

use delivery::{Deliveries, Producer, Reports};

pub use config::{KafkaCompression, KafkaSinkConfig, ValueFormat};

/// A producer as one Kafka output shares it with the others of its run.
struct SharedProducer {
    producer: Arc<Producer>,
    transactional: bool,
}

enum Topic {
    Fixed(String),
    Column { index: usize, default: Option<String> },
}

enum Value {
    Json(Vec<usize>),
    Ipc,
    Column(usize),
    /// Avro, Protobuf or JSON Schema: the columns, and their encoder once the schema is registered.
    Registered(Vec<usize>, Option<Arc<quiver_registry::WireEncoder>>),
}

/// Where each part of a message comes from, in rows of one schema.
struct Layout {
    topic: Topic,
    key: Option<usize>,
    value: Value,
    value_schema: SchemaRef,
    headers: Vec<(String, usize)>,
}

impl Layout {
    /// Checks that the columns `config` names are in `schema`.
    fn of(table: &'static str, config: &KafkaSinkConfig, schema: &SchemaRef) -> Result<Self, SinkError> {
        let column = |key: &'static str, name: &str| {
            schema.index_of(name).map_err(|_| SinkError::Column {
                table,
                key,
                column: name.to_string(),
                columns: schema.fields().iter().map(|f| f.name().as_str()).collect::<Vec<_>>().join(", "),
            })
        };
        let topic = match (&config.topic, &config.topic_column) {
            (_, Some(name)) => Topic::Column { index: column("topic_column", name)?, default: config.topic.clone() },
            (Some(topic), None) => Topic::Fixed(topic.clone()),
            (None, None) => {
                return Err(SinkError::Kafka { table, reason: "give topic or topic_column".into() });
            }
        };
        let key = config.key_column.as_deref().map(|k| column("key_column", k)).transpose()?;
        let headers = config
            .header_columns
            .iter()
            .map(|h| column("header_columns", h).map(|i| (h.clone(), i)))
            .collect::<Result<Vec<_>, _>>()?;
        let value = match (&config.value_column, config.format) {
            (Some(name), _) => Value::Column(column("value_column", name)?),
            (None, ValueFormat::Ipc) => Value::Ipc,
            (None, ValueFormat::Json) if config.value_columns.is_empty() => {
                Value::Json((0..schema.fields().len()).collect())
            }
            (None, ValueFormat::Json) => Value::Json(
                config.value_columns.iter().map(|c| column("value_columns", c)).collect::<Result<Vec<_>, _>>()?,
            ),
            (None, format) if format.registered() && config.value_columns.is_empty() => {
                Value::Registered((0..schema.fields().len()).collect(), None)
            }
            (None, _) => Value::Registered(
                config.value_columns.iter().map(|c| column("value_columns", c)).collect::<Result<Vec<_>, _>>()?,
                None,
            ),
        };
        let value_schema = match &value {
            Value::Json(columns) | Value::Registered(columns, _) => {
                Arc::new(schema.project(columns).expect("indexes from the schema"))
            }
            _ => schema.clone(),
        };
        Ok(Self { topic, key, value, value_schema, headers })
    }
}

/// A producer writing one schema's rows.
pub struct KafkaSink {
    table: &'static str,
    producer: Arc<Producer>,
    transactional: bool,
    /// Writes in another sink's transaction (a dead-letter output's in an exactly-once run).
    joined: bool,
    topic: Topic,
    key: Option<usize>,
    value: Value,
    value_schema: SchemaRef,
    headers: Vec<(String, usize)>,
    /// This output's messages the brokers have yet to acknowledge.
    deliveries: Arc<Deliveries>,
    rows: u64,
    messages: u64,
    bytes: u64,
}

/// How long a producer waits on the brokers for transactional operations.
const TRANSACTION_TIMEOUT: Duration = Duration::from_secs(60);

impl KafkaSink {
    /// Checks what can be checked of `config` before the schema is known.
    pub fn check(table: &'static str, config: &KafkaSinkConfig) -> Result<(), SinkError> {
        Self::producer(table, config, None).map(drop)
    }

    /// Checks `config` against `schema` and opens the sink: on the producer
    /// `context` shares, else on a new one, transactional for exactly-once
    /// (its id is `transactional_id`, else `quiver-` and the source's reader).
    pub fn open(
        table: &'static str,
        config: &KafkaSinkConfig,
        schema: &SchemaRef,
        context: SinkContext<'_>,
    ) -> Result<Self, SinkError> {
        let shared = context.join.and_then(|shared| shared.downcast::<SharedProducer>().ok());
        let (producer, transactional) = match (shared, context.exactly_once) {
            (Some(shared), _) => {
                let mut sink =
                    Self::with_producer(table, config, schema, shared.producer.clone(), shared.transactional)?;
                // The transaction is the sink's that shared the producer: it commits and aborts it.
                sink.joined = true;
                return Ok(sink);
            }
            (None, Some(source)) => {
                let id = config.transactional_id.clone().unwrap_or_else(|| format!("quiver-{}", source.reader()));
                (Self::producer(table, config, Some(&id))?, true)
            }
            (None, None) => (Self::producer(table, config, None)?, false),
        };
        Self::with_producer(table, config, schema, producer, transactional)
    }

    /// A producer for the settings of `config`.
    fn producer(
        table: &'static str,
        config: &KafkaSinkConfig,
        transactional_id: Option<&str>,
    ) -> Result<Arc<Producer>, SinkError> {
        let kafka = |reason: String| SinkError::Kafka { table, reason };
        let mut client = client_config(table, &config.bootstrap_servers, &config.properties).map_err(kafka)?;
        client.set("enable.idempotence", "true");
        set_default(&mut client, "compression.codec", config.compression.codec());
        set_default(&mut client, "linger.ms", "5");
        if let Some(id) = transactional_id {
            client.set("transactional.id", id);
        }
        let producer: Producer =
            client.create_with_context(Reports).map_err(|e| kafka(format!("cannot create the producer: {e}")))?;
        if transactional_id.is_some() {
            tokio::task::block_in_place(|| producer.init_transactions(TRANSACTION_TIMEOUT))
                .and_then(|()| producer.begin_transaction())
                .map_err(|e| kafka(format!("cannot start a transaction: {e}")))?;
        }
        Ok(Arc::new(producer))
    }

    /// Checks `config` against `schema` and writes through `producer`
    /// (transactional when `transactional`).
    fn with_producer(
        table: &'static str,
        config: &KafkaSinkConfig,
        schema: &SchemaRef,
        producer: Arc<Producer>,
        transactional: bool,
    ) -> Result<Self, SinkError> {
        let Layout { topic, key, value, value_schema, headers } = Layout::of(table, config, schema)?;
        Ok(Self {
            table,
            producer,
            transactional,
            joined: false,
            topic,
            key,
            value,
            value_schema,
            headers,
            deliveries: Arc::default(),
            rows: 0,
            messages: 0,
            bytes: 0,
        })
    }

    /// The columns of each message's value.
    pub(super) fn value_schema(&self) -> &SchemaRef {
        &self.value_schema
    }

    /// Avro, Protobuf or JSON Schema: encodes the values with `encoder`, of the registered schema.
    pub(super) fn encode_with(&mut self, encoder: quiver_registry::WireEncoder) {
        if let Value::Registered(_, slot) = &mut self.value {
            *slot = Some(Arc::new(encoder));
        }
    }

    /// Produces a batch's messages; they are durable after [`KafkaSink::flush`].
    async fn produce(&mut self, batch: &RecordBatch) -> Result<(), SinkError> {
        // A refusal shows at the next batch, not only at the next checkpoint.
        self.delivered()?;
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let table = self.table;
        let fail = |reason: String| SinkError::Kafka { table, reason };
        let values = match &self.value {
            Value::Ipc => Payloads::whole(ipc_value(batch).map_err(|e| fail(format!("cannot encode the batch: {e}")))?),
            Value::Json(columns) => {
                let projected = batch.project(columns).expect("indexes from the schema");
                let projected = projected.with_schema(self.value_schema.clone()).map_err(|e| fail(e.to_string()))?;
                let (bytes, ranges) = tokio::task::block_in_place(|| quiver_registry::json::objects(&projected, true))
                    .map_err(|e| fail(format!("cannot encode rows as JSON: {e}")))?;
                Payloads::Encoded { bytes, ranges }
            }
            Value::Column(index) => Payloads::Column(BytesColumn::new(batch.column(*index)).map_err(fail)?),
            Value::Registered(columns, encoder) => {
                let encoder = encoder.as_ref().ok_or_else(|| fail("the output's schema is not registered".into()))?;
                let projected = batch.project(columns).expect("indexes from the schema");
                let projected = projected.with_schema(self.value_schema.clone()).map_err(|e| fail(e.to_string()))?;
                let (bytes, ranges) = tokio::task::block_in_place(|| encoder.encode(&projected))
                    .map_err(|e| fail(format!("cannot encode rows as the registered schema: {e}")))?;
                Payloads::Encoded { bytes, ranges }
            }
        };
        let per_row = !matches!(self.value, Value::Ipc);
        let key = self.key.map(|k| BytesColumn::new(batch.column(k))).transpose().map_err(fail)?;
        let headers: Vec<(&str, BytesColumn)> = self
            .headers
            .iter()
            .map(|(name, i)| BytesColumn::new(batch.column(*i)).map(|c| (name.as_str(), c)))
            .collect::<Result<_, _>>()
            .map_err(fail)?;
        let topics = match &self.topic {
            Topic::Column { index, .. } => Some(BytesColumn::new(batch.column(*index)).map_err(fail)?),
            Topic::Fixed(_) => None,
        };
        for i in 0..values.len() {
            let value = values.get(i);
            let topic = match (&self.topic, &topics) {
                (Topic::Fixed(t), _) => t.as_str(),
                (Topic::Column { default, .. }, Some(column)) => match column.get(i) {
                    Some(t) => std::str::from_utf8(t).map_err(|_| fail(format!("row {i}: the topic is not text")))?,
                    None => default
                        .as_deref()
                        .ok_or_else(|| fail(format!("row {i}: topic_column is null and no default topic is set")))?,
                },
                (Topic::Column { .. }, None) => unreachable!("topic column read above"),
            };
            let mut record = BaseRecord::<[u8], [u8], _>::with_opaque_to(topic, self.deliveries.clone());
            if let Some(value) = value {
                record = record.payload(value);
            }
            if per_row {
                if let Some(k) = key.as_ref().and_then(|k| k.get(i)) {
                    record = record.key(k);
                }
                if !headers.is_empty() {
                    let mut list = OwnedHeaders::new_with_capacity(headers.len());
                    for (name, column) in &headers {
                        list = list.insert(Header { key: name, value: column.get(i) });
                    }
                    record = record.headers(list);
                }
            }
            enqueue(&self.producer, &self.deliveries, table, record).await?;
            self.bytes += value.map_or(0, <[u8]>::len) as u64;
        }
        self.messages += values.len() as u64;
        self.rows += batch.num_rows() as u64;
        Ok(())
    }

    /// Waits for every delivery report: afterwards everything written is durable
    /// (or, in a transaction, will be once it commits).
    async fn flush(&mut self) -> Result<(), SinkError> {
        self.deliveries.settled().await;
        self.delivered()
    }

    /// Fails with the first message the brokers refused, if one was.
    fn delivered(&self) -> Result<(), SinkError> {
        match self.deliveries.failure() {
            Some(reason) => Err(SinkError::Kafka { table: self.table, reason }),
            None => Ok(()),
        }
    }

    /// Commits the transaction with the consumer's offsets in it, and starts
    /// the next. Blocks; call [`KafkaSink::flush`] first to see delivery errors.
    fn commit_transaction(&self, offsets: &TopicPartitionList, group: &ConsumerGroupMetadata) -> Result<(), SinkError> {
        debug_assert!(self.transactional);
        let fail = |step: &str, e: KafkaError| SinkError::Kafka {
            table: self.table,
            reason: format!(
                "{step} failed: {e}; the transaction is abandoned and a restart resumes from the last commit"
            ),
        };
        if offsets.count() > 0 {
            self.producer
                .send_offsets_to_transaction(offsets, group, TRANSACTION_TIMEOUT)
                .map_err(|e| fail("sending the offsets to the transaction", e))?;
        }
        self.producer.commit_transaction(TRANSACTION_TIMEOUT).map_err(|e| fail("committing the transaction", e))?;
        self.producer.begin_transaction().map_err(|e| fail("starting the next transaction", e))
    }

    /// Aborts the open transaction and starts the next: nothing produced since the last commit is visible.
    fn abort_transaction(&mut self) -> Result<(), SinkError> {
        // The purged messages' reports go to the old count, which nothing waits on.
        self.deliveries = Arc::default();
        let producer = self.producer.clone();
        tokio::task::block_in_place(|| {
            producer.abort_transaction(TRANSACTION_TIMEOUT).and_then(|()| producer.begin_transaction())
        })
        .map_err(|e| SinkError::Kafka { table: self.table, reason: format!("cannot abort the transaction: {e}") })
    }
}

#[async_trait::async_trait]
impl Sink for KafkaSink {
    async fn write(&mut self, batch: &RecordBatch, _position: Option<&Position>) -> Result<(), SinkError> {
        self.produce(batch).await
    }

    async fn checkpoint(&mut self) -> Result<(), SinkError> {
        self.flush().await
    }

    fn durable(&self) -> quiver_ops::Durable {
        // Counted as produced: a checkpoint's flush has them all delivered.
        quiver_ops::Durable { rows: self.rows, bytes: self.bytes, files: 0, messages: self.messages }
    }

    async fn finish(mut self: Box<Self>) -> Result<SinkSummary, SinkError> {
        self.flush().await?;
        Ok(SinkSummary { files: Vec::new(), rows: self.rows, bytes: self.bytes, messages: self.messages })
    }

    /// Messages already delivered outside a transaction stay: the source was
    /// not committed past them, so a restart writes them again (at-least-once).
    async fn abort(self: Box<Self>) {}

    fn transaction(&mut self) -> Option<&mut dyn Transaction> {
        if self.transactional && !self.joined { Some(self) } else { None }
    }

    fn shared(&self) -> Option<Shared> {
        Some(Arc::new(SharedProducer { producer: self.producer.clone(), transactional: self.transactional }))
    }
}

#[async_trait::async_trait]
impl Transaction for KafkaSink {
    async fn commit(
        &mut self,
        positions: &[Position],
        source: &dyn Acknowledger,
        epoch: u64,
    ) -> Result<bool, SinkError> {
        let table = self.table;
        let offsets = source.as_any().downcast_ref::<Offsets>().ok_or_else(|| SinkError::Kafka {
            table,
            reason: "exactly-once into Kafka commits the offsets of a Kafka source; this source is not one".into(),
        })?;
        self.flush().await?;
        tokio::task::block_in_place(|| {
            let group = offsets.group();
            // No revocation may slip between the check and the commit.
            let _held = group.hold();
            if group.epoch() != epoch {
                return Ok(false);
            }
            let metadata = offsets.group_metadata().ok_or_else(|| SinkError::Kafka {
                table,
                reason: "the consumer has no group metadata (not in a group?)".into(),
            })?;
            self.commit_transaction(&offset_list(positions.iter()), &metadata)?;
            Ok(true)
        })
    }

    async fn abort(&mut self) -> Result<(), SinkError> {
        self.abort_transaction()
    }
}

/// Hands a message to the producer, waiting for room when its queue is full.
async fn enqueue(
    producer: &Producer,
    deliveries: &Deliveries,
    table: &'static str,
    mut record: BaseRecord<'_, [u8], [u8], Arc<Deliveries>>,
) -> Result<(), SinkError> {
    loop {
        deliveries.sent();
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                deliveries.settle();
                record = back;
                // The queue drains as the brokers acknowledge: a moment frees room.
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            Err((e, _)) => {
                deliveries.settle();
                return Err(SinkError::Kafka { table, reason: format!("cannot produce: {e}") });
            }
        }
    }
}

/// The message values of one batch, read in place rather than copied per message.
enum Payloads {
    /// Encoded values end to end in one buffer, with each message's range.
    Encoded { bytes: Vec<u8>, ranges: Vec<Range<usize>> },
    /// A column's own bytes; a null is a tombstone.
    Column(BytesColumn),
}

impl Payloads {
    /// One message holding all of `bytes`.
    fn whole(bytes: Vec<u8>) -> Self {
        Self::Encoded { ranges: std::iter::once(0..bytes.len()).collect(), bytes }
    }

    fn len(&self) -> usize {
        match self {
            Self::Encoded { ranges, .. } => ranges.len(),
            Self::Column(column) => column.len(),
        }
    }

    /// Message `i`'s value; `None` for a tombstone.
    fn get(&self, i: usize) -> Option<&[u8]> {
        match self {
            Self::Encoded { bytes, ranges } => Some(&bytes[ranges[i].clone()]),
            Self::Column(column) => column.get(i),
        }
    }
}

fn ipc_value(batch: &RecordBatch) -> Result<Vec<u8>, arrow::error::ArrowError> {
    let mut out = Vec::new();
    let mut writer = arrow::ipc::writer::StreamWriter::try_new(&mut out, &batch.schema())?;
    writer.write(batch)?;
    writer.finish()?;
    drop(writer);
    Ok(out)
}
