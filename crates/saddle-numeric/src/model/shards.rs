//! Large batches evaluated in shards of rows, on as many threads as a job may use.
//!
//! A batch of at least two shards' rows is split into up to [`MAX_SHARDS`] blocks of
//! consecutive rows. Each block runs its own forward pass, loss and backward pass into its
//! own buffers, and the blocks' losses and gradients are combined in block order, weighted
//! by their share of the rows. The split depends on the batch size alone, never on the
//! number of threads, so a job computes the same numbers on one thread or several.
//! Smaller batches are evaluated in one piece, as before sharding existed.

use ndarray::{s, ArrayView2};

use super::loss::Loss;
use super::network::{Network, Workspace};

/// Rows per shard, at least: a shard's matrix products stay large enough to run at full
/// speed, and a batch is split only when the thread start-up (tens of µs) is small beside
/// its evaluation (milliseconds).
const SHARD_ROWS: usize = 1024;

/// At most this many shards (each holds a gradient-sized buffer).
const MAX_SHARDS: usize = 8;

/// The number of shards for a batch of `m` rows.
fn shard_count(m: usize) -> usize {
    (m / SHARD_ROWS).clamp(1, MAX_SHARDS)
}

/// The workspaces and per-shard gradients of a sharded evaluation; grown on first need,
/// then reused.
#[derive(Debug, Clone)]
pub struct Shards {
    work: Vec<Workspace>,
    grads: Vec<Vec<f64>>,
    threads: usize,
}

impl Shards {
    /// Buffers for batches of up to `capacity` rows of `net`, evaluated on one thread.
    pub fn new(net: &Network, capacity: usize) -> Self {
        let rows = if shard_count(capacity) == 1 {
            capacity
        } else {
            capacity.div_ceil(shard_count(capacity))
        };
        Self {
            work: vec![Workspace::new(net, rows)],
            grads: Vec::new(),
            threads: 1,
        }
    }

    /// Lets the shards of a large batch run on up to `threads` threads.
    pub fn set_threads(&mut self, threads: usize) {
        self.threads = threads.max(1);
    }

    /// The mean loss of `net` with `params` on (`x`, `t`); with `grad`, ∂loss/∂params too.
    pub fn loss_and_grad(
        &mut self,
        net: &Network,
        params: &[f64],
        (x, t): (ArrayView2<'_, f64>, ArrayView2<'_, f64>),
        loss: Loss,
        grad: Option<&mut [f64]>,
    ) -> f64 {
        let m = x.nrows();
        let count = shard_count(m);
        let rows = m.div_ceil(count);
        for k in 0..count {
            match self.work.get_mut(k) {
                Some(ws) if ws.capacity() >= rows => {}
                Some(ws) => *ws = Workspace::new(net, rows),
                None => self.work.push(Workspace::new(net, rows)),
            }
        }
        if count == 1 {
            return net.loss_and_grad(params, x, t, loss, &mut self.work[0], grad);
        }
        let with_grad = grad.is_some();
        // Grown, never shrunk: a last, smaller batch of an epoch must not make the next
        // epoch allocate again.
        if self.grads.len() < count {
            self.grads.resize_with(count, Vec::new);
        }
        for g in &mut self.grads[..count] {
            g.resize(params.len(), 0.0);
        }
        let mut losses = [0.0; MAX_SHARDS];
        let run =
            |first: usize, work: &mut [Workspace], grads: &mut [Vec<f64>], losses: &mut [f64]| {
                for (j, ((ws, g), value)) in work.iter_mut().zip(grads).zip(losses).enumerate() {
                    let k = first + j;
                    let r = k * rows..((k + 1) * rows).min(m);
                    let (xs, ts) = (x.slice(s![r.clone(), ..]), t.slice(s![r, ..]));
                    let g = with_grad.then_some(g.as_mut_slice());
                    *value = net.loss_and_grad(params, xs, ts, loss, ws, g);
                }
            };
        let per_thread = count.div_ceil(self.threads.min(count));
        let mut groups = self.work[..count]
            .chunks_mut(per_thread)
            .zip(self.grads[..count].chunks_mut(per_thread))
            .zip(losses[..count].chunks_mut(per_thread))
            .enumerate();
        std::thread::scope(|scope| {
            let mine = groups.next();
            for (i, ((work, grads), losses)) in groups {
                scope.spawn(move || run(i * per_thread, work, grads, losses));
            }
            if let Some((_, ((work, grads), losses))) = mine {
                run(0, work, grads, losses);
            }
        });
        // Weighted by each shard's share of the rows (the losses are means over the rows).
        let weight = |k: usize| (((k + 1) * rows).min(m) - k * rows) as f64 / m as f64;
        let value = (0..count).fold(0.0, |acc, k| acc + weight(k) * losses[k]);
        if let Some(grad) = grad {
            let weights: [f64; MAX_SHARDS] =
                std::array::from_fn(|k| if k < count { weight(k) } else { 0.0 });
            for (i, gi) in grad.iter_mut().enumerate() {
                *gi = (0..count).fold(0.0, |acc, k| acc + weights[k] * self.grads[k][i]);
            }
        }
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::rng::Rng;
    use crate::model::Activation;
    use ndarray::Array2;

    fn data(m: usize) -> (Array2<f64>, Array2<f64>) {
        let mut rng = Rng::new(7);
        let x = Array2::from_shape_fn((m, 5), |_| rng.normal());
        let t = Array2::from_shape_fn((m, 1), |(i, _)| f64::from(x[[i, 0]] * x[[i, 1]] > 0.0));
        (x, t)
    }

    fn network() -> (Network, Vec<f64>) {
        let net = Network::new(vec![5, 7, 3, 1], vec![Activation::Tanh, Activation::Relu]);
        let mut rng = Rng::new(11);
        let params = (0..net.dim()).map(|_| 0.5 * rng.normal()).collect();
        (net, params)
    }

    fn sharded(m: usize, threads: usize, with_grad: bool) -> (f64, Vec<f64>) {
        let (net, params) = network();
        let (x, t) = data(m);
        let mut shards = Shards::new(&net, m);
        shards.set_threads(threads);
        let mut grad = vec![f64::NAN; net.dim()];
        let g = with_grad.then_some(grad.as_mut_slice());
        let value = shards.loss_and_grad(&net, &params, (x.view(), t.view()), Loss::Bce, g);
        (value, grad)
    }

    #[test]
    fn a_large_batch_is_split_into_shards_of_about_a_thousand_rows() {
        assert_eq!(shard_count(64), 1);
        assert_eq!(shard_count(2047), 1);
        assert_eq!(shard_count(2048), 2);
        assert_eq!(shard_count(10_000), 8);
        assert_eq!(shard_count(1_000_000), MAX_SHARDS);
    }

    #[test]
    fn shards_give_the_whole_batch_loss_and_gradient_up_to_rounding() {
        let m = 5_000;
        let (net, params) = network();
        let (x, t) = data(m);
        let mut ws = Workspace::new(&net, m);
        let mut whole = vec![0.0; net.dim()];
        let want = net.loss_and_grad(
            &params,
            x.view(),
            t.view(),
            Loss::Bce,
            &mut ws,
            Some(&mut whole),
        );
        let (value, grad) = sharded(m, 1, true);
        assert!(
            (value - want).abs() <= 1e-14 * want.abs(),
            "{value} vs {want}"
        );
        for (a, b) in grad.iter().zip(&whole) {
            assert!((a - b).abs() <= 1e-13 * (1e-3 + b.abs()), "{a} vs {b}");
        }
    }

    #[test]
    fn results_do_not_depend_on_the_number_of_threads() {
        let bits = |(v, g): (f64, Vec<f64>)| {
            (
                v.to_bits(),
                g.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
            )
        };
        for m in [2_500, 10_000, 10_001] {
            let one = bits(sharded(m, 1, true));
            for threads in [2, 3, 16] {
                assert_eq!(
                    bits(sharded(m, threads, true)),
                    one,
                    "{m} rows, {threads} threads"
                );
            }
            // The loss alone is the loss that comes with the gradient.
            assert_eq!(sharded(m, 2, false).0.to_bits(), one.0, "{m} rows");
        }
    }

    #[test]
    fn batches_of_changing_sizes_reuse_the_buffers_and_match_fresh_ones() {
        let (net, params) = network();
        let (x, t) = data(4_500);
        let mut shards = Shards::new(&net, 4_500);
        shards.set_threads(2);
        // An epoch's full batches, its last smaller one, then full ones again.
        for m in [4_500, 2_100, 500, 4_500, 3_000] {
            let mut grad = vec![0.0; net.dim()];
            let (xs, ts) = (x.slice(s![..m, ..]), t.slice(s![..m, ..]));
            let value = shards.loss_and_grad(&net, &params, (xs, ts), Loss::Bce, Some(&mut grad));
            let mut fresh = Shards::new(&net, m);
            let mut want = vec![0.0; net.dim()];
            let expected = fresh.loss_and_grad(&net, &params, (xs, ts), Loss::Bce, Some(&mut want));
            assert_eq!(value.to_bits(), expected.to_bits(), "{m} rows");
            assert_eq!(grad, want, "{m} rows");
        }
        assert_eq!(shards.grads.len(), shard_count(4_500));
    }
}
