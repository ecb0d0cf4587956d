//! The observer that turns step records into batches for the history writer.
//!
//! It runs on the optimization thread: it copies each kept record into a columnar batch and
//! hands full (or ≥ 250 ms old) batches to a bounded channel, so the optimizer never waits
//! for a database round trip, only — when the writer falls far behind — for channel space.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use saddle_numeric::diagnosis::{EpisodeConfig, EpisodeDetector, EpisodeFindings};
use saddle_numeric::executor::{Checkpoint, Observer, StepRecord};
use saddle_numeric::model::Metrics;

use crate::store::StepBatch;

/// Rows per batch handed to the writer (stored in one transaction).
pub const BATCH_ROWS: usize = 4000;
/// Steps counted locally before they are added to the shared counter (one atomic add per
/// this many steps, not per step).
const STEPS_PER_COUNT: u64 = 1024;
/// The longest a kept record waits before it is handed to the writer.
const FLUSH_INTERVAL: Duration = Duration::from_millis(250);

/// What the run hands its history writer, in order.
pub enum HistoryMessage {
    /// Records to store.
    Batch(StepBatch),
    /// The records up to a checkpoint's step (possibly none) and the checkpoint itself, to
    /// store in one transaction: a stored checkpoint never points past the stored history.
    Checkpoint {
        /// The records not yet handed over, up to and including the checkpoint's step.
        batch: StepBatch,
        /// The checkpoint's step.
        step: u64,
        /// The checkpoint as JSON.
        state: String,
    },
}

/// Collects kept records and ships them in batches.
pub struct Recorder {
    tx: mpsc::Sender<HistoryMessage>,
    batch: StepBatch,
    every: u64,
    dim: usize,
    last_flush: Instant,
    /// The latest record not kept by `every`, so the final one can always be stored.
    pending: Option<PendingRecord>,
    pending_params: Vec<f64>,
    closed: bool,
    /// Plateau and saddle-escape episodes, detected as the records go by.
    episodes: EpisodeDetector,
    /// The process's count of steps executed, and the steps of this run not yet added to it.
    /// A run reports one record more than it makes updates (the record where it stops), so
    /// the first record is not counted.
    steps_counter: Arc<AtomicU64>,
    uncounted_steps: u64,
    first_record_seen: bool,
}

#[derive(Clone, Copy)]
struct PendingRecord {
    step: u64,
    loss: f64,
    grad_norm: f64,
    lr: f64,
    momentum: Option<f64>,
    evaluations: u64,
    epoch: Option<u64>,
    metrics: Option<Metrics>,
}

impl Recorder {
    /// Records every `every`-th step (and the last), with params when `dim > 0`; episodes
    /// are detected with saddle passages over `passage_dim` parameters (0: none).
    pub fn new(
        tx: mpsc::Sender<HistoryMessage>,
        steps_counter: Arc<AtomicU64>,
        every: u64,
        dim: usize,
        episodes: EpisodeConfig,
        passage_dim: usize,
    ) -> Self {
        Self {
            tx,
            batch: StepBatch::with_capacity(BATCH_ROWS, dim),
            every: every.max(1),
            dim,
            last_flush: Instant::now(),
            pending: None,
            pending_params: vec![0.0; dim],
            closed: false,
            episodes: EpisodeDetector::new(episodes).with_passages(passage_dim),
            steps_counter,
            uncounted_steps: 0,
            first_record_seen: false,
        }
    }

    fn count_steps(&mut self) {
        self.steps_counter
            .fetch_add(std::mem::take(&mut self.uncounted_steps), Ordering::Relaxed);
    }

    fn flush(&mut self) {
        if self.batch.is_empty() || self.closed {
            return;
        }
        let full = self.take_batch();
        self.send(HistoryMessage::Batch(full));
    }

    fn take_batch(&mut self) -> StepBatch {
        std::mem::replace(
            &mut self.batch,
            StepBatch::with_capacity(BATCH_ROWS, self.dim),
        )
    }

    fn send(&mut self, message: HistoryMessage) {
        if self.tx.blocking_send(message).is_err() {
            self.closed = true;
        }
        self.last_flush = Instant::now();
    }

    /// Stores the last record if `every` skipped it and hands over what is left. Returns
    /// whether the whole history reached the writer, and the episodes of the run.
    pub fn finish(mut self) -> (bool, EpisodeFindings) {
        if let Some(p) = self.pending.take() {
            self.batch.push(&StepRecord {
                step: p.step,
                loss: p.loss,
                grad_norm: p.grad_norm,
                lr: p.lr,
                momentum: p.momentum,
                params: &self.pending_params,
                evaluations: p.evaluations,
                epoch: p.epoch,
                metrics: p.metrics,
            });
        }
        self.flush();
        self.count_steps();
        (!self.closed, self.episodes.finish())
    }
}

impl Observer for Recorder {
    fn on_checkpoint(&mut self, checkpoint: Checkpoint) {
        if self.closed {
            return;
        }
        let state = serde_json::to_string(&checkpoint).expect("a checkpoint serializes");
        let batch = self.take_batch();
        self.send(HistoryMessage::Checkpoint {
            batch,
            step: checkpoint.step,
            state,
        });
    }

    fn on_step(&mut self, r: &StepRecord<'_>) -> bool {
        self.episodes.observe(r.step, r.loss, r.grad_norm, r.params);
        self.uncounted_steps += u64::from(self.first_record_seen);
        self.first_record_seen = true;
        if self.uncounted_steps >= STEPS_PER_COUNT {
            self.count_steps();
        }
        // Records that carry evaluation metrics are kept whatever `every` says.
        if r.step.is_multiple_of(self.every) || r.metrics.is_some() {
            self.batch.push(r);
            self.pending = None;
            if self.batch.len() >= BATCH_ROWS || self.last_flush.elapsed() >= FLUSH_INTERVAL {
                self.flush();
            }
        } else {
            self.pending = Some(PendingRecord {
                step: r.step,
                loss: r.loss,
                grad_norm: r.grad_norm,
                lr: r.lr,
                momentum: r.momentum,
                evaluations: r.evaluations,
                epoch: r.epoch,
                metrics: r.metrics,
            });
            if self.dim > 0 {
                self.pending_params.copy_from_slice(r.params);
            }
            if r.step.is_multiple_of(1024) && self.last_flush.elapsed() >= FLUSH_INTERVAL {
                self.flush();
            }
        }
        !self.closed
    }
}
