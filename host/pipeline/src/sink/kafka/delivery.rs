//! Delivery reports, counted per output rather than awaited one future per
//! message: at hundreds of thousands of messages a second, a future, a
//! channel and a wake for each cost more than producing the message.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use rdkafka::ClientContext;
use rdkafka::Message as _;
use rdkafka::producer::{DeliveryResult, ProducerContext, ThreadedProducer};
use tokio::sync::Notify;

/// The producer an output writes through; one may serve several outputs of a run.
pub(super) type Producer = ThreadedProducer<Reports>;

/// The producer's context: hands each delivery report to the output its message came from.
pub(super) struct Reports;

impl ClientContext for Reports {}

impl ProducerContext for Reports {
    type DeliveryOpaque = Arc<Deliveries>;

    fn delivery(&self, result: &DeliveryResult<'_>, deliveries: Arc<Deliveries>) {
        if let Err((e, message)) = result {
            deliveries.fail(format!("a message to {} was not delivered: {e}", message.topic()));
        }
        deliveries.settle();
    }
}

/// The messages of one output that the brokers have not yet acknowledged,
/// and the first that they refused.
#[derive(Default)]
pub(super) struct Deliveries {
    outstanding: AtomicUsize,
    failure: Mutex<Option<String>>,
    settled: Notify,
}

impl Deliveries {
    /// Counts a message about to be handed to the producer.
    pub(super) fn sent(&self) {
        self.outstanding.fetch_add(1, Ordering::AcqRel);
    }

    /// A message acknowledged or refused (or never taken by the producer).
    pub(super) fn settle(&self) {
        if self.outstanding.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.settled.notify_waiters();
        }
    }

    fn fail(&self, reason: String) {
        let mut failure = self.failure.lock().unwrap_or_else(|e| e.into_inner());
        failure.get_or_insert(reason);
    }

    /// The first message refused so far, if one was.
    pub(super) fn failure(&self) -> Option<String> {
        self.failure.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Waits for every counted message to be acknowledged or refused
    /// (librdkafka reports each within `message.timeout.ms`).
    pub(super) async fn settled(&self) {
        loop {
            let settled = self.settled.notified();
            tokio::pin!(settled);
            // Registered before the count is read, so a report in between still wakes it.
            settled.as_mut().enable();
            if self.outstanding.load(Ordering::Acquire) == 0 {
                return;
            }
            settled.await;
        }
    }
}
