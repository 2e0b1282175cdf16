//! The Arrow Flight service. `DoExchange` streams batches through a plugin
//! transform: the descriptor is a command whose bytes are the JSON of a
//! [`TransformRequest`]. The answer is the output schema, then exactly one
//! batch per input batch, in order, each with app metadata
//! `{"rows_in": N, "rejections": [{"row": i, "reason": "..."}]}` where `row`
//! indexes the input batch. `ListFlights` lists the served plugins.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::ipc::writer::{DictionaryTracker, IpcDataGenerator, IpcWriteContext, IpcWriteOptions};
use arrow_flight::decode::{DecodedPayload, FlightDataDecoder};
use arrow_flight::error::FlightError;
use arrow_flight::flight_descriptor::DescriptorType;
use arrow_flight::flight_service_server::{FlightService, FlightServiceServer};
use arrow_flight::{
    Action, ActionType, Criteria, Empty, FlightData, FlightDescriptor, FlightInfo, HandshakeRequest, HandshakeResponse,
    PollInfo, PutResult, SchemaAsIpc, SchemaResult, Ticket,
};
use futures::{Stream, StreamExt, TryStreamExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_stream::wrappers::{ReceiverStream, TcpListenerStream};
use tonic::{Request, Response, Status, Streaming};

use super::connections::ConnectionLimit;
use super::service::{Processed, TransformRequest};
use super::{ServeError, Shared, TlsFiles};
use tonic::transport::{Identity, ServerTlsConfig};

type Boxed<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

/// Room for the IPC header around a batch's body in one Flight message.
const MESSAGE_OVERHEAD: usize = 1 << 20;

/// Serves Flight on `listener` (with TLS when given) until `shutdown` resolves.
pub async fn serve(
    shared: Arc<Shared>,
    listener: TcpListener,
    tls: Option<TlsFiles>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let limit = shared.max_request_bytes().saturating_add(MESSAGE_OVERHEAD);
    let connections = ConnectionLimit::new(shared.config.max_connections_per_client);
    let service = FlightServiceServer::new(Flight { shared }).max_decoding_message_size(limit);
    let mut builder = tonic::transport::Server::builder();
    if let Some(tls) = tls {
        let config = ServerTlsConfig::new().identity(Identity::from_pem(tls.cert, tls.key));
        builder = match builder.tls_config(config) {
            Ok(builder) => builder,
            Err(e) => {
                tracing::error!("Flight server: TLS: {e}");
                return;
            }
        };
    }
    // Each connection is counted against its client, and gets TCP_NODELAY:
    // without it a reply's last small frame waits for the client's delayed
    // ACK, a 40 ms stall on some round trips (the old p99 of 44 ms).
    let incoming = TcpListenerStream::new(listener).filter_map(move |accepted| {
        futures::future::ready(match accepted {
            Ok(stream) => connections.admit(stream, "flight").ok().map(Ok),
            Err(e) => Some(Err(e)),
        })
    });
    let result = builder.add_service(service).serve_with_incoming_shutdown(incoming, shutdown).await;
    if let Err(e) = result {
        tracing::error!("Flight server: {e}");
    }
}

struct Flight {
    shared: Arc<Shared>,
}

impl From<ServeError> for Status {
    fn from(e: ServeError) -> Self {
        use super::registry::RegistryError as R;
        let message = e.to_string();
        match e {
            ServeError::BadRequest(_) => Status::invalid_argument(message),
            ServeError::Registry(R::UnknownPlugin { .. } | R::UnknownVersion { .. }) => Status::not_found(message),
            ServeError::Registry(_) => Status::failed_precondition(message),
            ServeError::Busy { .. } | ServeError::TooLarge(_) => Status::resource_exhausted(message),
            ServeError::Plugin { .. } | ServeError::Internal(_) => Status::internal(message),
            ServeError::Unauthorized(_) => Status::unauthenticated(message),
            ServeError::Forbidden(_) => Status::permission_denied(message),
            ServeError::Draining => Status::unavailable(message),
        }
    }
}

impl Flight {
    fn check_data<T>(&self, request: &Request<T>) -> Result<(), Status> {
        let authorization = request.metadata().get("authorization").and_then(|v| v.to_str().ok());
        Ok(self.shared.tokens.check_data(authorization)?)
    }
}

#[tonic::async_trait]
impl FlightService for Flight {
    type HandshakeStream = Boxed<HandshakeResponse>;
    type ListFlightsStream = Boxed<FlightInfo>;
    type DoGetStream = Boxed<FlightData>;
    type DoPutStream = Boxed<PutResult>;
    type DoExchangeStream = Boxed<FlightData>;
    type DoActionStream = Boxed<arrow_flight::Result>;
    type ListActionsStream = Boxed<ActionType>;

    async fn do_exchange(
        &self,
        request: Request<Streaming<FlightData>>,
    ) -> Result<Response<Self::DoExchangeStream>, Status> {
        self.check_data(&request)?;
        let mut input = request.into_inner();
        let first = input
            .message()
            .await
            .map_err(input_error)?
            .ok_or_else(|| Status::invalid_argument("the exchange ended before its first message"))?;
        let request = transform_request(first.flight_descriptor.as_ref())?;
        // A client may send the descriptor alone, and any message may carry
        // only app metadata: the decoder wants IPC messages.
        let messages = futures::stream::once(async move { Ok(first) })
            .chain(input.map_err(|status| FlightError::Tonic(Box::new(input_error(status)))))
            .try_filter(|data| futures::future::ready(!data.data_header.is_empty()));
        let decoder = FlightDataDecoder::new(messages);
        let (tx, rx) = mpsc::channel(2);
        tokio::spawn(exchange(self.shared.clone(), request, decoder, tx));
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn list_flights(&self, request: Request<Criteria>) -> Result<Response<Self::ListFlightsStream>, Status> {
        self.check_data(&request)?;
        let infos: Vec<Result<FlightInfo, Status>> = self
            .shared
            .service
            .registry
            .list()
            .into_iter()
            .map(|plugin| {
                let command = serde_json::json!({ "plugin": plugin.name }).to_string();
                let metadata = serde_json::to_vec(&plugin).expect("serializable");
                Ok(FlightInfo::new()
                    .with_descriptor(FlightDescriptor::new_cmd(command))
                    .with_app_metadata(metadata)
                    .with_total_records(-1)
                    .with_total_bytes(-1))
            })
            .collect();
        Ok(Response::new(Box::pin(futures::stream::iter(infos))))
    }

    async fn handshake(
        &self,
        _: Request<Streaming<HandshakeRequest>>,
    ) -> Result<Response<Self::HandshakeStream>, Status> {
        Err(Status::unimplemented("no handshake: send `authorization: Bearer <token>` with each call"))
    }

    async fn get_flight_info(&self, _: Request<FlightDescriptor>) -> Result<Response<FlightInfo>, Status> {
        Err(Status::unimplemented("use DoExchange with a command descriptor naming the plugin"))
    }

    async fn poll_flight_info(&self, _: Request<FlightDescriptor>) -> Result<Response<PollInfo>, Status> {
        Err(Status::unimplemented("use DoExchange with a command descriptor naming the plugin"))
    }

    async fn get_schema(&self, _: Request<FlightDescriptor>) -> Result<Response<SchemaResult>, Status> {
        Err(Status::unimplemented("the output schema depends on the input: use DoExchange"))
    }

    async fn do_get(&self, _: Request<Ticket>) -> Result<Response<Self::DoGetStream>, Status> {
        Err(Status::unimplemented("use DoExchange"))
    }

    async fn do_put(&self, _: Request<Streaming<FlightData>>) -> Result<Response<Self::DoPutStream>, Status> {
        Err(Status::unimplemented("use DoExchange"))
    }

    async fn do_action(&self, _: Request<Action>) -> Result<Response<Self::DoActionStream>, Status> {
        Err(Status::unimplemented("no actions: the admin API is HTTP"))
    }

    async fn list_actions(&self, _: Request<Empty>) -> Result<Response<Self::ListActionsStream>, Status> {
        Ok(Response::new(Box::pin(futures::stream::empty())))
    }
}

/// The client's stream failed: a message over the size limit gets a clear answer.
fn input_error(status: Status) -> Status {
    if status.code() == tonic::Code::OutOfRange && status.message().contains("too large") {
        return Status::resource_exhausted(format!(
            "request too large: a message is over max_request_mb; send smaller batches ({})",
            status.message()
        ));
    }
    status
}

fn transform_request(descriptor: Option<&FlightDescriptor>) -> Result<TransformRequest, Status> {
    let descriptor = descriptor.ok_or_else(|| {
        Status::invalid_argument("the first message must carry a command descriptor: {\"plugin\": NAME, ...}")
    })?;
    if descriptor.r#type != DescriptorType::Cmd as i32 {
        return Err(Status::invalid_argument("the descriptor must be a command (CMD), not a path"));
    }
    serde_json::from_slice(&descriptor.cmd).map_err(|e| {
        Status::invalid_argument(format!(
            "the command descriptor is not {{\"plugin\": NAME, \"version\"?, \"transform\"?, \"config\"?}}: {e}"
        ))
    })
}

/// Runs one exchange, sending results to `tx` until the input ends, a
/// call fails or the client goes away.
async fn exchange(
    shared: Arc<Shared>,
    request: TransformRequest,
    mut decoder: FlightDataDecoder,
    tx: mpsc::Sender<Result<FlightData, Status>>,
) {
    if let Err(status) = run_exchange(&shared, &request, &mut decoder, &tx).await {
        let _ = tx.send(Err(status)).await;
    }
}

async fn run_exchange(
    shared: &Arc<Shared>,
    request: &TransformRequest,
    decoder: &mut FlightDataDecoder,
    tx: &mpsc::Sender<Result<FlightData, Status>>,
) -> Result<(), Status> {
    let mut session = None;
    let mut encoder = Encoder::default();
    while let Some(message) = decoder.next().await {
        let message = message.map_err(flight_status)?;
        match message.payload {
            DecodedPayload::None => {}
            DecodedPayload::Schema(schema) => {
                if session.is_some() {
                    return Err(Status::invalid_argument("the exchange sent a second schema; open a new exchange"));
                }
                let opened = shared.service.open(request, schema).await?;
                let schema = SchemaAsIpc::new(opened.output_schema(), &encoder.options).into();
                if tx.send(Ok(schema)).await.is_err() {
                    return Ok(());
                }
                session = Some(opened);
            }
            DecodedPayload::RecordBatch(batch) => {
                let session =
                    session.as_ref().ok_or_else(|| Status::invalid_argument("a batch came before the schema"))?;
                let rows_in = batch.num_rows();
                let processed = shared.service.call(session, batch).await?;
                for data in encoder.encode(processed, rows_in)? {
                    if tx.send(Ok(data)).await.is_err() {
                        // The client went away; its session ends here.
                        return Ok(());
                    }
                }
            }
        }
    }
    Ok(())
}

fn flight_status(error: FlightError) -> Status {
    match error {
        FlightError::Tonic(status) => *status,
        other => Status::invalid_argument(format!("cannot decode the exchange: {other}")),
    }
}

/// Encodes result batches, one Flight message each (after any dictionaries).
struct Encoder {
    generator: IpcDataGenerator,
    tracker: DictionaryTracker,
    context: IpcWriteContext,
    options: IpcWriteOptions,
}

impl Default for Encoder {
    fn default() -> Self {
        Self {
            generator: IpcDataGenerator::default(),
            tracker: DictionaryTracker::new(false),
            context: IpcWriteContext::default(),
            options: IpcWriteOptions::default(),
        }
    }
}

impl Encoder {
    fn encode(&mut self, processed: Processed, rows_in: usize) -> Result<Vec<FlightData>, Status> {
        let Processed { batch, rejections } = processed;
        let metadata = serde_json::json!({ "rows_in": rows_in, "rejections": rejections }).to_string();
        let (dictionaries, encoded) = self.encode_batch(&batch)?;
        let mut messages: Vec<FlightData> = dictionaries.into_iter().map(FlightData::from).collect();
        messages.push(FlightData::from(encoded).with_app_metadata(metadata));
        Ok(messages)
    }

    fn encode_batch(
        &mut self,
        batch: &RecordBatch,
    ) -> Result<(Vec<arrow::ipc::writer::EncodedData>, arrow::ipc::writer::EncodedData), Status> {
        self.generator
            .encode(batch, &mut self.tracker, &self.options, &mut self.context)
            .map_err(|e| Status::internal(format!("encoding a result batch: {e}")))
    }
}
