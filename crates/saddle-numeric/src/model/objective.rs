//! The learning objective: a network, a loss and a dataset, evaluated full-batch or over
//! seeded mini-batches, with held-out validation metrics.

use ndarray::{s, Array2, ArrayView2};
use serde::{Deserialize, Serialize};

use super::loss::Loss;
use super::network::{Network, Workspace};
use super::shards::Shards;
use crate::data::rng::Rng;
use crate::error::InvalidConfig;
use crate::problem::Objective;

/// Rows per chunk when evaluating metrics or predictions over a whole split, bounding the
/// memory of the evaluation buffers.
pub(crate) const EVAL_CHUNK_ROWS: usize = 4096;

/// Stream id of the per-epoch shuffle in [`Rng::derived`] (the validation split uses another).
const SHUFFLE_STREAM: u64 = 0x5348_5546; // "SHUF"

/// Evaluation metrics of a model at one point: losses exclude the l2 penalty.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Metrics {
    /// Mean loss over the whole training split.
    pub train_loss: f64,
    /// Fraction of correct training predictions (classifiers only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub train_accuracy: Option<f64>,
    /// Mean loss over the validation split, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub val_loss: Option<f64>,
    /// Fraction of correct validation predictions (classifiers with a validation split).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub val_accuracy: Option<f64>,
}

/// Which rows the next evaluation uses: a cursor over per-epoch permutations of the training
/// rows. Epoch e's order is the identity shuffled by Fisher–Yates with
/// `Rng::derived(seed, SHUFFLE_STREAM + e)` (or left as is without `shuffle`), so the whole
/// state is (epoch, position).
#[derive(Debug, Clone)]
struct Batches {
    size: usize,
    shuffle: bool,
    seed: u64,
    epoch: u64,
    position: usize,
    order: Vec<usize>,
    x: Array2<f64>,
    t: Array2<f64>,
    rows: usize,
}

/// The checkpointable position of the batch sampler.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct SamplerState {
    epoch: u64,
    /// Index into the epoch's order of the current batch's first row (0 for full batch).
    position: usize,
}

impl Batches {
    fn new(
        size: usize,
        shuffle: bool,
        seed: u64,
        train_x: &Array2<f64>,
        train_t: &Array2<f64>,
    ) -> Self {
        let n = train_x.nrows();
        let size = size.min(n);
        let mut batches = Self {
            size,
            shuffle,
            seed,
            epoch: 0,
            position: 0,
            order: (0..n).collect(),
            x: Array2::zeros((size, train_x.ncols())),
            t: Array2::zeros((size, train_t.ncols())),
            rows: 0,
        };
        batches.start_epoch();
        batches.gather(train_x, train_t);
        batches
    }

    fn start_epoch(&mut self) {
        for (i, o) in self.order.iter_mut().enumerate() {
            *o = i;
        }
        if self.shuffle {
            Rng::derived(self.seed, SHUFFLE_STREAM.wrapping_add(self.epoch))
                .shuffle(&mut self.order);
        }
    }

    /// Copies the current batch's rows into the batch buffers.
    fn gather(&mut self, train_x: &Array2<f64>, train_t: &Array2<f64>) {
        let end = (self.position + self.size).min(self.order.len());
        self.rows = end - self.position;
        for (r, &i) in self.order[self.position..end].iter().enumerate() {
            self.x.row_mut(r).assign(&train_x.row(i));
            self.t.row_mut(r).assign(&train_t.row(i));
        }
    }

    fn advance(&mut self, train_x: &Array2<f64>, train_t: &Array2<f64>) {
        self.position += self.size;
        if self.position >= self.order.len() {
            self.position = 0;
            self.epoch += 1;
            self.start_epoch();
        }
        self.gather(train_x, train_t);
    }
}

/// A model-fitting objective: the mean loss of a network on (a batch of) the training rows,
/// plus ½·l2·‖W‖² over the weight matrices (biases are not penalized).
#[derive(Debug, Clone)]
pub struct ModelObjective {
    net: Network,
    loss: Loss,
    l2: f64,
    train_x: Array2<f64>,
    train_t: Array2<f64>,
    val: Option<(Array2<f64>, Array2<f64>)>,
    batches: Option<Batches>,
    full_batch_epoch: u64,
    work: Shards,
    eval_work: Option<Workspace>,
    eval_every: Option<u64>,
    /// Index ranges of the weight matrices in the flat vector (the l2 penalty's support).
    weight_blocks: Vec<std::ops::Range<usize>>,
}

impl ModelObjective {
    /// Assembles the objective from prepared splits (targets already encoded for the loss:
    /// one-hot rows for cross-entropy). `batch_size` None means full batch.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        net: Network,
        loss: Loss,
        l2: f64,
        train: (Array2<f64>, Array2<f64>),
        val: Option<(Array2<f64>, Array2<f64>)>,
        batch_size: Option<usize>,
        shuffle: bool,
        seed: u64,
        eval_every: Option<u64>,
    ) -> Self {
        let (train_x, train_t) = train;
        let batches = batch_size.map(|b| Batches::new(b, shuffle, seed, &train_x, &train_t));
        let capacity = batches.as_ref().map_or(train_x.nrows(), |b| b.size);
        let work = Shards::new(&net, capacity);
        let weight_blocks = net
            .layer_offsets()
            .into_iter()
            .map(|(inputs, outputs, w, _)| w..w + inputs * outputs)
            .collect();
        Self {
            weight_blocks,
            net,
            loss,
            l2,
            train_x,
            train_t,
            val,
            batches,
            full_batch_epoch: 0,
            work,
            eval_work: None,
            eval_every,
        }
    }

    /// The network's shape.
    pub fn network(&self) -> &Network {
        &self.net
    }

    /// The loss.
    pub fn loss(&self) -> Loss {
        self.loss
    }

    /// Rows in the training and validation splits.
    pub fn split_sizes(&self) -> (usize, usize) {
        (
            self.train_x.nrows(),
            self.val.as_ref().map_or(0, |v| v.0.nrows()),
        )
    }

    fn evaluate(&mut self, x: &[f64], mut grad: Option<&mut [f64]>) -> f64 {
        let (bx, bt) = match &self.batches {
            Some(b) => (b.x.slice(s![..b.rows, ..]), b.t.slice(s![..b.rows, ..])),
            None => (self.train_x.view(), self.train_t.view()),
        };
        let mut value =
            (self.work).loss_and_grad(&self.net, x, (bx, bt), self.loss, grad.as_deref_mut());
        if self.l2 > 0.0 {
            let mut penalty = 0.0;
            for block in &self.weight_blocks {
                let w = &x[block.clone()];
                penalty += w.iter().map(|v| v * v).sum::<f64>();
                if let Some(g) = grad.as_deref_mut() {
                    for (gi, wi) in g[block.clone()].iter_mut().zip(w) {
                        *gi += self.l2 * wi;
                    }
                }
            }
            value += 0.5 * self.l2 * penalty;
        }
        value
    }

    /// Mean loss and accuracy counts over a whole split, in chunks of rows.
    fn split_metrics(
        net: &Network,
        loss: Loss,
        ws: &mut Workspace,
        params: &[f64],
        x: ArrayView2<'_, f64>,
        t: ArrayView2<'_, f64>,
    ) -> (f64, Option<f64>) {
        let n = x.nrows();
        let (mut total, mut hits, mut judged) = (0.0, 0usize, 0usize);
        let mut classified = false;
        let mut start = 0;
        while start < n {
            let end = (start + ws.capacity()).min(n);
            let (cx, ct) = (x.slice(s![start..end, ..]), t.slice(s![start..end, ..]));
            let mean = net.loss_and_grad(params, cx, ct, loss, ws, None);
            // Weight by what the mean averaged over: rows for cross-entropy, elements else.
            let weight = if loss == Loss::CrossEntropy {
                end - start
            } else {
                (end - start) * ct.ncols()
            };
            total += mean * weight as f64;
            if let Some((h, j)) = loss.correct(ws.output(), ct) {
                classified = true;
                hits += h;
                judged += j;
            }
            start = end;
        }
        let count = if loss == Loss::CrossEntropy {
            n
        } else {
            n * t.ncols()
        };
        (
            total / count as f64,
            classified.then(|| hits as f64 / judged as f64),
        )
    }
}

impl Objective for ModelObjective {
    fn dim(&self) -> usize {
        self.net.dim()
    }

    fn value_and_grad(&mut self, x: &[f64], grad: &mut [f64]) -> f64 {
        self.evaluate(x, Some(grad))
    }

    fn value(&mut self, x: &[f64]) -> f64 {
        self.evaluate(x, None)
    }

    fn advance(&mut self) {
        match &mut self.batches {
            Some(b) => b.advance(&self.train_x, &self.train_t),
            None => self.full_batch_epoch += 1,
        }
    }

    fn state(&self) -> serde_json::Value {
        let state = match &self.batches {
            Some(b) => SamplerState {
                epoch: b.epoch,
                position: b.position,
            },
            None => SamplerState {
                epoch: self.full_batch_epoch,
                position: 0,
            },
        };
        serde_json::to_value(state).expect("plain data")
    }

    fn load_state(&mut self, state: &serde_json::Value) -> Result<(), InvalidConfig> {
        let s: SamplerState = serde_json::from_value(state.clone()).map_err(|e| {
            InvalidConfig::new("state", format!("not a state of a model objective: {e}"))
        })?;
        match &mut self.batches {
            Some(b) => {
                if s.position >= b.order.len() || !s.position.is_multiple_of(b.size) {
                    return Err(InvalidConfig::new(
                        "state.position",
                        format!("{} is not the start of a batch of {}", s.position, b.size),
                    ));
                }
                b.epoch = s.epoch;
                b.position = s.position;
                b.start_epoch();
                b.gather(&self.train_x, &self.train_t);
            }
            None => self.full_batch_epoch = s.epoch,
        }
        Ok(())
    }

    fn set_threads(&mut self, threads: usize) {
        self.work.set_threads(threads);
    }

    fn epoch(&self) -> Option<u64> {
        Some(
            self.batches
                .as_ref()
                .map_or(self.full_batch_epoch, |b| b.epoch),
        )
    }

    fn eval_every(&self) -> Option<u64> {
        self.eval_every
    }

    fn metrics(&mut self, x: &[f64]) -> Option<Metrics> {
        let (n_train, n_val) = self.split_sizes();
        let ws = self.eval_work.get_or_insert_with(|| {
            Workspace::new(&self.net, n_train.max(n_val).min(EVAL_CHUNK_ROWS))
        });
        let (train_loss, train_accuracy) = Self::split_metrics(
            &self.net,
            self.loss,
            ws,
            x,
            self.train_x.view(),
            self.train_t.view(),
        );
        let (val_loss, val_accuracy) = match &self.val {
            Some((vx, vt)) => {
                let (l, a) = Self::split_metrics(&self.net, self.loss, ws, x, vx.view(), vt.view());
                (Some(l), a)
            }
            None => (None, None),
        };
        Some(Metrics {
            train_loss,
            train_accuracy,
            val_loss,
            val_accuracy,
        })
    }
}
