//! Committing a streaming source's positions once the sinks hold the rows
//! before them: at-least-once makes the sinks durable, then commits through
//! the source; exactly-once commits the positions inside the sink's
//! transaction, so output and progress become visible together.

use std::sync::Arc;
use std::time::{Duration, Instant};

use quiver_ops::Metrics;

use crate::PipelineError;
use crate::checkpoint::Checkpoints;
use crate::config::Delivery;
use crate::dead_letter::DeadLetters;
use crate::sink::{Sink, Transaction};
use crate::source::{Acknowledger, Position};

/// Tracks delivered positions and commits them.
pub struct Committer {
    source: Arc<dyn Acknowledger>,
    delivery: Delivery,
    interval: Duration,
    checkpoints: Checkpoints,
    /// Exactly-once: the source's epoch the open transaction's batches were read in.
    epoch: u64,
    commits: u64,
    metrics: Option<Arc<Metrics>>,
}

impl Committer {
    /// Commits `source`'s positions every `interval_ms` with the `delivery` guarantee.
    /// `metrics` counts the commits and transactions and times them.
    pub fn new(
        source: Arc<dyn Acknowledger>,
        delivery: Delivery,
        interval_ms: u64,
        metrics: Option<Arc<Metrics>>,
    ) -> Self {
        let epoch = source.epoch();
        Self {
            source,
            delivery,
            interval: Duration::from_millis(interval_ms),
            checkpoints: Checkpoints::default(),
            epoch,
            commits: 0,
            metrics,
        }
    }

    /// How often to commit.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// Commits made so far.
    pub fn commits(&self) -> u64 {
        self.commits
    }

    /// Whether batch `seq`, read at `position`, may be written. Exactly-once
    /// turns away batches read before a rebalance, and abandons the open
    /// transaction: the new assignment re-reads from the committed
    /// positions, so writing them would write their rows twice.
    pub async fn admit(
        &mut self,
        seq: u64,
        position: Option<&Position>,
        sink: &mut dyn Sink,
        dead: &mut DeadLetters,
    ) -> Result<bool, PipelineError> {
        if self.delivery == Delivery::AtLeastOnce {
            return Ok(true);
        }
        let now = self.source.epoch();
        if now != self.epoch {
            self.abandon(sink, dead, now).await?;
        }
        match position {
            Some(p) if p.epoch != self.epoch => {
                self.checkpoints.delivered(seq, None);
                Ok(false)
            }
            _ => Ok(true),
        }
    }

    async fn abandon(&mut self, sink: &mut dyn Sink, dead: &mut DeadLetters, epoch: u64) -> Result<(), PipelineError> {
        tracing::info!("a rebalance happened; abandoning the open transaction, the new assignment re-reads it");
        // What the dead letters fail to hand over is abandoned all the same.
        let _ = dead.abandon().await;
        transaction(sink)?.abort().await?;
        if let Some(m) = &self.metrics {
            m.kafka_transaction("aborted");
        }
        self.checkpoints.forget();
        self.epoch = epoch;
        Ok(())
    }

    /// Batch `seq`, read at `position`, is in the sinks (not yet durable).
    pub fn delivered(&mut self, seq: u64, position: Option<Position>) {
        self.checkpoints.delivered(seq, position);
    }

    /// Makes the sinks durable and commits the positions they now hold.
    pub async fn commit(&mut self, sink: &mut dyn Sink, dead: &mut DeadLetters) -> Result<(), PipelineError> {
        let (started, commits) = (Instant::now(), self.commits);
        let result = self.commit_now(sink, dead).await;
        if let Some(m) = &self.metrics
            && self.commits > commits
        {
            m.commit(started.elapsed());
            m.kafka_commit();
            if self.delivery == Delivery::ExactlyOnce {
                m.kafka_transaction("committed");
            }
        }
        result
    }

    async fn commit_now(&mut self, sink: &mut dyn Sink, dead: &mut DeadLetters) -> Result<(), PipelineError> {
        match self.delivery {
            Delivery::AtLeastOnce => {
                if self.checkpoints.is_empty() {
                    return Ok(());
                }
                sink.checkpoint().await?;
                dead.checkpoint().await?;
                let positions = self.checkpoints.take();
                let source = self.source.clone();
                let committed = tokio::task::spawn_blocking(move || (source.commit(&positions), positions))
                    .await
                    .map_err(|e| PipelineError::Internal(e.to_string()))?;
                match committed {
                    (Ok(_), _) => self.commits += 1,
                    (Err(e), positions) => {
                        // The rows are durable; a later commit carries these positions (or newer ones).
                        tracing::warn!("cannot commit the source's positions yet ({e}); retrying at the next commit");
                        self.checkpoints.restore(positions);
                    }
                }
                Ok(())
            }
            Delivery::ExactlyOnce => {
                let positions = self.checkpoints.take();
                dead.prepare(&positions).await?;
                transaction(sink)?.prepare(&positions).await?;
                dead.checkpoint().await?;
                if transaction(sink)?.commit(&positions, self.source.as_ref(), self.epoch).await? {
                    self.commits += 1;
                } else {
                    let now = self.source.epoch();
                    self.abandon(sink, dead, now).await?;
                }
                Ok(())
            }
        }
    }
}

fn transaction(sink: &mut dyn Sink) -> Result<&mut dyn Transaction, PipelineError> {
    // The pipeline file's check refuses exactly-once into a sink without transactions.
    sink.transaction().ok_or_else(|| PipelineError::Internal("exactly-once needs a transactional sink".into()))
}
