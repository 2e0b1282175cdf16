//! Committing a Kafka source's offsets once the sinks hold the rows before
//! them: at-least-once commits through the consumer after the sinks are
//! made durable; exactly-once commits the offsets inside the sink's
//! producer transaction, so output and progress become visible together.

use std::time::Duration;

use super::PipelineError;
use super::checkpoint::Checkpoints;
use super::dead_letter::DeadLetters;
use crate::config::Delivery;
use crate::sink::Sink;
use crate::source::kafka::{Offsets, Position, offset_list};

/// Tracks delivered positions and commits them.
pub struct Committer {
    offsets: Offsets,
    delivery: Delivery,
    interval: Duration,
    checkpoints: Checkpoints,
    /// Exactly-once: the consumer epoch the open transaction's batches were read in.
    epoch: u64,
    commits: u64,
}

impl Committer {
    /// Commits `offsets` every `interval_ms` with the `delivery` guarantee.
    pub fn new(offsets: Offsets, delivery: Delivery, interval_ms: u64) -> Self {
        let epoch = offsets.group().epoch();
        Self {
            offsets,
            delivery,
            interval: Duration::from_millis(interval_ms),
            checkpoints: Checkpoints::default(),
            epoch,
            commits: 0,
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
    /// transaction: the new assignment re-reads from the committed offsets,
    /// so writing them would write their rows twice.
    pub async fn admit(
        &mut self,
        seq: u64,
        position: Option<&Position>,
        sink: &mut Sink,
        dead: &mut DeadLetters,
    ) -> Result<bool, PipelineError> {
        if self.delivery == Delivery::AtLeastOnce {
            return Ok(true);
        }
        let now = self.offsets.group().epoch();
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

    async fn abandon(&mut self, sink: &mut Sink, dead: &mut DeadLetters, epoch: u64) -> Result<(), PipelineError> {
        tracing::info!("kafka: a rebalance happened; abandoning the open transaction, the new assignment re-reads it");
        // Dead letters share the transaction: their pending reports end with it.
        let _ = dead.checkpoint().await;
        kafka_sink(sink).abort_transaction()?;
        self.checkpoints.forget();
        self.epoch = epoch;
        Ok(())
    }

    /// Batch `seq`, read at `position`, is in the sinks (not yet durable).
    pub fn delivered(&mut self, seq: u64, position: Option<Position>) {
        self.checkpoints.delivered(seq, position);
    }

    /// Makes the sinks durable and commits the positions they now hold.
    pub async fn commit(&mut self, sink: &mut Sink, dead: &mut DeadLetters) -> Result<(), PipelineError> {
        match self.delivery {
            Delivery::AtLeastOnce => {
                if self.checkpoints.is_empty() {
                    return Ok(());
                }
                sink.checkpoint().await?;
                dead.checkpoint().await?;
                let positions = self.checkpoints.take();
                let offsets = self.offsets.clone();
                let committed = tokio::task::spawn_blocking(move || (offsets.commit(&positions), positions))
                    .await
                    .map_err(|e| PipelineError::Internal(e.to_string()))?;
                match committed {
                    (Ok(_), _) => self.commits += 1,
                    (Err(e), positions) => {
                        // The rows are durable; a later commit carries these offsets (or newer ones).
                        tracing::warn!("kafka: cannot commit offsets yet ({e}); retrying at the next commit");
                        self.checkpoints.restore(positions);
                    }
                }
                Ok(())
            }
            Delivery::ExactlyOnce => {
                dead.checkpoint().await?;
                let kafka = kafka_sink(sink);
                kafka.flush().await?;
                let (offsets, epoch) = (&self.offsets, self.epoch);
                let positions = self.checkpoints.take();
                let outcome = tokio::task::block_in_place(|| {
                    let group = offsets.group();
                    // No revocation may slip between the check and the commit.
                    let _held = group.hold();
                    if group.epoch() != epoch {
                        return Ok(false);
                    }
                    let metadata = offsets.group_metadata().ok_or_else(|| {
                        PipelineError::Commit("the consumer has no group metadata (not in a group?)".into())
                    })?;
                    kafka.commit_transaction(&offset_list(positions.iter()), &metadata)?;
                    Ok::<_, PipelineError>(true)
                })?;
                if outcome {
                    self.commits += 1;
                } else {
                    let now = self.offsets.group().epoch();
                    self.abandon(sink, dead, now).await?;
                }
                Ok(())
            }
        }
    }
}

fn kafka_sink(sink: &mut Sink) -> &mut crate::sink::kafka::KafkaSink {
    match sink {
        Sink::Kafka(k) => k,
        // The pipeline file's check refuses exactly-once without a Kafka sink.
        Sink::Files(_) => unreachable!("exactly-once needs a kafka sink"),
    }
}
