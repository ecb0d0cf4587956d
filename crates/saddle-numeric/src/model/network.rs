//! A stack of dense layers over one flat parameter vector, evaluated a whole batch at a time
//! with matrix products into preallocated buffers.
//!
//! Layer l maps inputs (m × in) to z = input·Wᵀ + b (m × out), as `torch.nn.Linear`. The flat
//! parameters hold, for each layer in order, W (out × in, row-major) and then b (out).

use ndarray::linalg::{general_mat_mul, general_mat_vec_mul};
use ndarray::{s, Array2, ArrayView1, ArrayView2, ArrayViewMut1, ArrayViewMut2};

use super::activation::Activation;
use super::loss::Loss;
use super::single_output;

/// The shape of a multilayer perceptron: widths d = n₀, n₁, …, n_L and the activations of
/// the L − 1 hidden layers (the output layer is linear).
#[derive(Debug, Clone, PartialEq)]
pub struct Network {
    widths: Vec<usize>,
    activations: Vec<Activation>,
}

/// Where one dense layer's parameters sit in the flat vector.
#[derive(Debug, Clone, Copy)]
struct Layer {
    inputs: usize,
    outputs: usize,
    weight: usize,
    bias: usize,
}

impl Network {
    /// A network with layer widths `widths` (input first, at least two entries, all positive)
    /// and one activation per hidden layer.
    pub fn new(widths: Vec<usize>, activations: Vec<Activation>) -> Self {
        assert!(widths.len() >= 2 && widths.iter().all(|&w| w > 0));
        assert_eq!(
            activations.len(),
            widths.len() - 2,
            "one activation per hidden layer"
        );
        Self {
            widths,
            activations,
        }
    }

    /// Layer widths, input first.
    pub fn widths(&self) -> &[usize] {
        &self.widths
    }

    /// Hidden-layer activations.
    pub fn activations(&self) -> &[Activation] {
        &self.activations
    }

    /// Number of dense layers L.
    pub fn layers(&self) -> usize {
        self.widths.len() - 1
    }

    /// Inputs per row, d.
    pub fn inputs(&self) -> usize {
        self.widths[0]
    }

    /// Outputs per row.
    pub fn outputs(&self) -> usize {
        *self.widths.last().expect("at least two widths")
    }

    /// The number of parameters Σ n_l·(n_{l−1} + 1).
    pub fn dim(&self) -> usize {
        self.widths.windows(2).map(|w| w[1] * (w[0] + 1)).sum()
    }

    /// float64 values a [`Workspace`] holds per row of capacity: z and ∂L/∂z for every
    /// layer, the activation for every hidden layer.
    pub fn buffer_values_per_row(&self) -> usize {
        let outs = &self.widths[1..];
        2 * outs.iter().sum::<usize>() + outs[..outs.len() - 1].iter().sum::<usize>()
    }

    /// `(name, shape)` of every parameter tensor in flat order: `W`, `b` for a single layer,
    /// `W1`, `b1`, `W2`, … otherwise (the reference cases' `param_layout`).
    pub fn layout(&self) -> Vec<(String, Vec<usize>)> {
        let single = self.layers() == 1;
        (0..self.layers())
            .flat_map(|l| {
                let suffix = if single {
                    String::new()
                } else {
                    (l + 1).to_string()
                };
                let (i, o) = (self.widths[l], self.widths[l + 1]);
                [
                    (format!("W{suffix}"), vec![o, i]),
                    (format!("b{suffix}"), vec![o]),
                ]
            })
            .collect()
    }

    /// For each layer, (fan_in, fan_out, offset of W, offset of b).
    pub fn layer_offsets(&self) -> Vec<(usize, usize, usize, usize)> {
        (0..self.layers())
            .map(|l| {
                let Layer {
                    inputs,
                    outputs,
                    weight,
                    bias,
                } = self.layer(l);
                (inputs, outputs, weight, bias)
            })
            .collect()
    }

    fn layer(&self, l: usize) -> Layer {
        let weight: usize = self.widths[..=l]
            .windows(2)
            .map(|w| w[1] * (w[0] + 1))
            .sum();
        let (inputs, outputs) = (self.widths[l], self.widths[l + 1]);
        Layer {
            inputs,
            outputs,
            weight,
            bias: weight + outputs * inputs,
        }
    }

    /// Evaluates the network on `x` (m × d, m ≤ the workspace's capacity); the outputs are
    /// then [`Workspace::output`].
    pub fn forward(&self, params: &[f64], x: ArrayView2<'_, f64>, ws: &mut Workspace) {
        let m = x.nrows();
        debug_assert!(m <= ws.capacity && x.ncols() == self.inputs());
        ws.rows = m;
        for l in 0..self.layers() {
            let layer = ws.layers[l];
            let w = weight_view(params, layer);
            let b = ArrayView1::from(&params[layer.bias..layer.bias + layer.outputs]);
            let input = if l == 0 {
                x.view()
            } else {
                ws.a[l - 1].slice(s![..m, ..])
            };
            let mut z = ws.z[l].slice_mut(s![..m, ..]);
            // z = b + input·Wᵀ, as torch's addmm.
            z.assign(&b);
            if layer.outputs == 1 {
                // A single output is a matrix-vector product: row dot products read the
                // input once, where a matrix product would first copy it into packed panels.
                general_mat_vec_mul(1.0, &input, &w.row(0), 1.0, &mut z.column_mut(0));
            } else {
                general_mat_mul(1.0, &input, &w.t(), 1.0, &mut z);
            }
            if l + 1 < self.layers() {
                self.activations[l].forward(z.view(), ws.a[l].slice_mut(s![..m, ..]));
            }
        }
    }

    /// The mean loss of the last [`Network::forward`] against `t` (m × outputs); with `grad`,
    /// back-propagates and writes ∂loss/∂params there.
    pub fn loss_and_grad(
        &self,
        params: &[f64],
        x: ArrayView2<'_, f64>,
        t: ArrayView2<'_, f64>,
        loss: Loss,
        ws: &mut Workspace,
        grad: Option<&mut [f64]>,
    ) -> f64 {
        let grad = match grad {
            Some(grad) => match self.single_output_pass(params, x, t, loss, ws, grad) {
                Ok(value) => return value,
                Err(grad) => Some(grad),
            },
            None => None,
        };
        self.forward(params, x, ws);
        let m = ws.rows;
        let last = self.layers() - 1;
        let Some(grad) = grad else {
            return loss.evaluate(ws.z[last].slice(s![..m, ..]), t, None);
        };
        let value = loss.evaluate(
            ws.z[last].slice(s![..m, ..]),
            t,
            Some(ws.dz[last].slice_mut(s![..m, ..])),
        );
        for l in (0..self.layers()).rev() {
            let layer = ws.layers[l];
            let input = if l == 0 {
                x.view()
            } else {
                ws.a[l - 1].slice(s![..m, ..])
            };
            let (g_w, g_rest) = grad[layer.weight..].split_at_mut(layer.outputs * layer.inputs);
            let mut g_w = ArrayViewMut2::from_shape((layer.outputs, layer.inputs), g_w)
                .expect("weight block has out·in entries");
            let mut g_b = ArrayViewMut1::from(&mut g_rest[..layer.outputs]);
            let (lower, upper) = ws.dz.split_at_mut(l);
            let dz = upper[0].slice(s![..m, ..]);
            // ∂L/∂W = dzᵀ·input, ∂L/∂b = the column sums of dz.
            if layer.outputs == 1 {
                // One output: accumulate dz_i·input_i row by row (contiguous, no packing).
                let mut g_row = g_w.row_mut(0);
                g_row.fill(0.0);
                for (row, &d) in input.rows().into_iter().zip(dz.column(0)) {
                    g_row.scaled_add(d, &row);
                }
            } else {
                general_mat_mul(1.0, &dz.t(), &input, 0.0, &mut g_w);
            }
            g_b.fill(0.0);
            for row in dz.rows() {
                g_b += &row;
            }
            if l > 0 {
                // ∂L/∂a_{l−1} = dz·W, then through the activation.
                let mut prev = lower[l - 1].slice_mut(s![..m, ..]);
                general_mat_mul(1.0, &dz, &weight_view(params, layer), 0.0, &mut prev);
                self.activations[l - 1].backward(
                    ws.z[l - 1].slice(s![..m, ..]),
                    ws.a[l - 1].slice(s![..m, ..]),
                    prev,
                );
            }
        }
        value
    }
}

impl Network {
    /// Value and gradient of a one-layer, one-output model (linear, logistic) with an
    /// elementwise loss in one pass over contiguous rows; hands `grad` back for any other
    /// shape, loss or layout.
    fn single_output_pass<'g>(
        &self,
        params: &[f64],
        x: ArrayView2<'_, f64>,
        t: ArrayView2<'_, f64>,
        loss: Loss,
        ws: &mut Workspace,
        grad: &'g mut [f64],
    ) -> Result<f64, &'g mut [f64]> {
        let (x_rows, t_rows) = (x.as_slice(), t.as_slice());
        let (Some(x_rows), Some(t_rows)) = (x_rows, t_rows) else {
            return Err(grad);
        };
        if self.layers() != 1 || self.outputs() != 1 || loss == Loss::CrossEntropy {
            return Err(grad);
        }
        let layer = ws.layers[0];
        let m = x.nrows();
        ws.rows = m;
        let Some(z) = ws.z[0].as_slice_mut() else {
            return Err(grad);
        };
        let (g_w, g_b) = grad[layer.weight..].split_at_mut(layer.inputs);
        let (value, bias_slope) = single_output::loss_and_grad(
            single_output::Rows {
                x: x_rows,
                t: t_rows,
                w: &params[layer.weight..layer.weight + layer.inputs],
                b: params[layer.bias],
                loss,
            },
            &mut z[..m],
            g_w,
        );
        g_b[0] = bias_slope;
        Ok(value)
    }
}

/// W of one layer as an (out × in) view of the flat parameters.
fn weight_view(params: &[f64], layer: Layer) -> ArrayView2<'_, f64> {
    ArrayView2::from_shape(
        (layer.outputs, layer.inputs),
        &params[layer.weight..layer.weight + layer.outputs * layer.inputs],
    )
    .expect("weight block has out·in entries")
}

/// Preallocated activations and gradients for batches of up to `capacity` rows, so that an
/// evaluation allocates nothing.
#[derive(Debug, Clone)]
pub struct Workspace {
    capacity: usize,
    rows: usize,
    layers: Vec<Layer>,
    /// Pre-activations z_l (capacity × n_l), the last one being the output.
    z: Vec<Array2<f64>>,
    /// Hidden activations a_l = act(z_l).
    a: Vec<Array2<f64>>,
    /// ∂loss/∂z_l.
    dz: Vec<Array2<f64>>,
}

impl Workspace {
    /// Buffers for `net` and batches of at most `capacity` rows.
    pub fn new(net: &Network, capacity: usize) -> Self {
        let outs = &net.widths[1..];
        Self {
            capacity,
            rows: 0,
            layers: (0..net.layers()).map(|l| net.layer(l)).collect(),
            z: outs.iter().map(|&n| Array2::zeros((capacity, n))).collect(),
            a: outs[..outs.len() - 1]
                .iter()
                .map(|&n| Array2::zeros((capacity, n)))
                .collect(),
            dz: outs.iter().map(|&n| Array2::zeros((capacity, n))).collect(),
        }
    }

    /// The most rows one evaluation can take.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The outputs (logits) of the last forward pass, m × outputs.
    pub fn output(&self) -> ArrayView2<'_, f64> {
        self.z
            .last()
            .expect("at least one layer")
            .slice(s![..self.rows, ..])
    }
}
