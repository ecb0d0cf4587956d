//! Learning problems: linear, logistic and softmax regression and multilayer perceptrons,
//! fitted to a dataset full-batch or over seeded mini-batches.
//!
//! The parameters are one flat vector: for each dense layer, W (out × in, row-major) then b
//! (out), the `torch.nn.Linear` convention y = x·Wᵀ + b. The request's `loss` says how the
//! output layer (always linear) is read: `bce` treats it as logits of independent
//! probabilities, `cross_entropy` as logits of a softmax over classes, the others as values.
//!
//! The l2 penalty is ½·l2·Σ W² over the weight matrices only (biases are not penalized), so
//! its gradient is l2·W: the same update as torch's `weight_decay = l2` applied to weights.

mod activation;
mod log1p;
mod loss;
mod network;
mod objective;
mod shards;
mod single_output;

use ndarray::{Array2, ArrayView2, Axis};
use serde::{Deserialize, Serialize};

pub use activation::Activation;
pub use loss::Loss;
pub use network::{Network, Workspace};
pub use objective::{Metrics, ModelObjective};

use crate::data::rng::Rng;
use crate::data::{DataError, Dataset, MAX_CLASSES};
use crate::error::{check_min, InvalidConfig};
use crate::problem::Initial;

/// Stream id of the validation split in [`Rng::derived`].
const SPLIT_STREAM: u64 = 0x5350_4C54; // "SPLT"

/// The most hidden layers and the widest layer an MLP may have.
pub const MAX_HIDDEN_LAYERS: usize = 16;
/// The widest hidden layer.
pub const MAX_WIDTH: usize = 4096;
/// The most parameters a model may have (16 Mi, 128 MiB per vector).
pub const MAX_PARAMETERS: usize = 1 << 24;
/// The most float64 values the training buffers of one model may hold (1 GiB): a full batch
/// over many rows of a wide network must use `batch_size` instead.
pub const MAX_BUFFER_VALUES: usize = 1 << 27;

/// A model-fitting problem (`"kind": "model"`).
///
/// The data is given inline (`data`) or by `dataset_id`, which the service resolves (see
/// [`crate::problem::ProblemConfig::build_with`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({
    "model": {"type": "mlp", "hidden": [16, 16], "activation": "tanh"},
    "loss": "bce", "dataset_id": "moons-1", "batch_size": 32, "seed": 42,
    "validation_split": 0.2, "eval_every": 50
})))]
#[serde(deny_unknown_fields)]
pub struct ModelProblem {
    /// The model family and its shape.
    pub model: ModelSpec,
    /// How the output is compared with the targets; default by model: linear and mlp → mse,
    /// logistic → bce, softmax → cross_entropy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss: Option<Loss>,
    /// The data inline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<InlineData>,
    /// A stored dataset, instead of `data`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset_id: Option<String>,
    /// Rows per mini-batch; null or absent for full batch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_size: Option<usize>,
    /// Reshuffle the training rows every epoch (default true; mini-batches only).
    #[serde(default = "yes")]
    pub shuffle: bool,
    /// Seed of the validation split and the shuffles (default 0).
    #[serde(default)]
    pub seed: u64,
    /// Fraction of rows held out for validation, in [0, 1) (default 0).
    #[serde(default)]
    pub validation_split: f64,
    /// Coefficient of the ½·l2·‖W‖² penalty on weights (default 0).
    #[serde(default)]
    pub l2: f64,
    /// Compute full training / validation metrics every this many steps (and always at the
    /// last step).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eval_every: Option<u64>,
}

fn yes() -> bool {
    true
}

/// The model family, tagged by `type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({"type": "mlp", "hidden": [8], "activation": "tanh"})))]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ModelSpec {
    /// One dense layer with as many outputs as target columns.
    Linear {},
    /// One dense layer read as logits (loss `bce`).
    Logistic {},
    /// One dense layer with one output per class (loss `cross_entropy`).
    Softmax {},
    /// Dense layers with activations, then a linear output layer.
    Mlp(MlpSpec),
}

/// The hidden layers of an MLP.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({"hidden": [8, 8], "activation": ["relu", "tanh"]})))]
#[serde(deny_unknown_fields)]
pub struct MlpSpec {
    /// Widths of the hidden layers, input side first (e.g. [8, 8]).
    pub hidden: Vec<usize>,
    /// One activation for every hidden layer, or one per hidden layer (default relu).
    #[serde(default = "default_activation")]
    pub activation: Activations,
}

fn default_activation() -> Activations {
    Activations::Same(Activation::Relu)
}

/// `"tanh"` or `["relu", "tanh"]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(untagged)]
pub enum Activations {
    /// The same activation after every hidden layer.
    Same(Activation),
    /// One activation per hidden layer.
    PerLayer(Vec<Activation>),
}

/// Rows given inline: `features` n×d; `targets` a list of n numbers or n rows of k numbers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({"features": [[0.0, 1.0], [1.0, 0.0]], "targets": [1.0, 0.0]})))]
#[serde(deny_unknown_fields)]
pub struct InlineData {
    /// Feature rows.
    pub features: Vec<Vec<f64>>,
    /// Targets: one number per row, or one row of numbers per row.
    pub targets: Targets,
}

/// Targets of inline data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(untagged)]
pub enum Targets {
    /// One target per row.
    Column(Vec<f64>),
    /// k targets per row.
    Rows(Vec<Vec<f64>>),
}

/// How to draw x₀ for a model (`{"init": "he_normal", "seed": 1}` as `initial`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({"init": "torch_default", "seed": 0})))]
#[serde(deny_unknown_fields)]
pub struct InitSpec {
    /// The scheme.
    pub init: InitScheme,
    /// Seed of the draw (default 0).
    #[serde(default)]
    pub seed: u64,
}

/// Weight-initialization schemes, per dense layer with fan_in = in, fan_out = out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum InitScheme {
    /// W ~ U(±√(6/(fan_in + fan_out))) (Glorot & Bengio 2010, `xavier_uniform_`), b = 0.
    XavierUniform,
    /// W ~ N(0, 2/fan_in) (He et al. 2015, `kaiming_normal_` for relu), b = 0.
    HeNormal,
    /// W, b ~ U(±1/√fan_in), what `torch.nn.Linear.reset_parameters` draws.
    TorchDefault,
    /// Everything 0 (fine for convex models; an MLP then stays symmetric).
    Zeros,
}

/// Outputs of a fitted model for some rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Prediction {
    /// Per row: the predicted values (regression), the probabilities of each output (bce) or
    /// of each class (cross_entropy).
    pub outputs: Vec<Vec<f64>>,
    /// Per row, for classifiers: the predicted class (argmax for cross_entropy; p ≥ ½ for a
    /// single bce output).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub classes: Option<Vec<u64>>,
}

/// Turns a data error into a configuration error on the given request field.
fn data_error(prefix: &str, e: DataError) -> InvalidConfig {
    let field = match &e {
        DataError::Ragged { row, .. } | DataError::NonFinite { row, .. } => {
            format!("{prefix}[{}]", row - 1)
        }
        _ => prefix.to_string(),
    };
    InvalidConfig::new(field, e.to_string())
}

impl ModelProblem {
    /// The loss, after the model's default.
    pub fn loss(&self) -> Loss {
        self.loss.unwrap_or(match self.model {
            ModelSpec::Linear {} | ModelSpec::Mlp(_) => Loss::Mse,
            ModelSpec::Logistic {} => Loss::Bce,
            ModelSpec::Softmax {} => Loss::CrossEntropy,
        })
    }

    /// Checks everything that does not depend on the data, naming the field.
    pub fn validate(&self) -> Result<(), InvalidConfig> {
        self.validate_model()?;
        self.validate_training()
    }

    /// Checks the model and its loss (what `predict` needs).
    fn validate_model(&self) -> Result<(), InvalidConfig> {
        let loss = self.loss();
        match &self.model {
            ModelSpec::Logistic {} if loss != Loss::Bce => {
                return Err(InvalidConfig::new(
                    "problem.loss",
                    "a logistic model is fitted with `bce`",
                ))
            }
            ModelSpec::Softmax {} if loss != Loss::CrossEntropy => {
                return Err(InvalidConfig::new(
                    "problem.loss",
                    "a softmax model is fitted with `cross_entropy`",
                ))
            }
            ModelSpec::Mlp(mlp) => {
                if mlp.hidden.is_empty() || mlp.hidden.len() > MAX_HIDDEN_LAYERS {
                    return Err(InvalidConfig::new(
                        "problem.model.hidden",
                        format!("must list 1 to {MAX_HIDDEN_LAYERS} layer widths"),
                    ));
                }
                if let Some(i) = mlp.hidden.iter().position(|&w| w == 0 || w > MAX_WIDTH) {
                    return Err(InvalidConfig::new(
                        format!("problem.model.hidden[{i}]"),
                        format!("must be between 1 and {MAX_WIDTH}"),
                    ));
                }
                if let Activations::PerLayer(acts) = &mlp.activation {
                    if acts.len() != mlp.hidden.len() {
                        return Err(InvalidConfig::new(
                            "problem.model.activation",
                            format!(
                                "lists {} activations for {} hidden layers; give one per layer or a single name",
                                acts.len(),
                                mlp.hidden.len()
                            ),
                        ));
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Checks the data source and the training options.
    fn validate_training(&self) -> Result<(), InvalidConfig> {
        match (&self.data, &self.dataset_id) {
            (Some(_), Some(_)) => {
                return Err(InvalidConfig::new(
                    "problem.dataset_id",
                    "give either `data` or `dataset_id`, not both",
                ))
            }
            (None, None) => {
                return Err(InvalidConfig::new(
                    "problem.data",
                    "a model needs data: inline `data` or a `dataset_id`",
                ))
            }
            _ => {}
        }
        if self.batch_size == Some(0) {
            return Err(InvalidConfig::new(
                "problem.batch_size",
                "must be at least 1, or null for full batch",
            ));
        }
        if !(self.validation_split >= 0.0 && self.validation_split < 1.0) {
            return Err(InvalidConfig::new(
                "problem.validation_split",
                format!("must be in [0, 1), got {}", self.validation_split),
            ));
        }
        check_min("problem.l2", self.l2, 0.0)?;
        if self.eval_every == Some(0) {
            return Err(InvalidConfig::new(
                "problem.eval_every",
                "must be at least 1 (or absent: metrics at the last step only)",
            ));
        }
        Ok(())
    }

    /// The inline data as a validated dataset, `None` when the problem uses `dataset_id`.
    pub fn inline_dataset(&self) -> Result<Option<Dataset>, InvalidConfig> {
        let Some(data) = &self.data else {
            return Ok(None);
        };
        let targets: Vec<Vec<f64>> = match &data.targets {
            Targets::Column(ys) => ys.iter().map(|&y| vec![y]).collect(),
            Targets::Rows(rows) => rows.clone(),
        };
        Dataset::from_rows(&data.features, &targets)
            .map(Some)
            .map_err(|e| {
                let prefix = match &e {
                    // Rows are checked features first: a ragged row whose features have the
                    // first row's width has ragged targets.
                    DataError::Ragged { row, .. }
                        if data.features.get(row - 1).map(Vec::len)
                            == data.features.first().map(Vec::len) =>
                    {
                        "problem.data.targets"
                    }
                    DataError::NonFinite { column, .. } if column.starts_with('y') => {
                        "problem.data.targets"
                    }
                    DataError::RowMismatch { .. } => "problem.data.targets",
                    _ => "problem.data.features",
                };
                data_error(prefix, e)
            })
    }

    /// The network this problem fits to data with `inputs` features and `outputs` encoded
    /// target columns.
    fn network(&self, inputs: usize, outputs: usize) -> Network {
        match &self.model {
            ModelSpec::Linear {} | ModelSpec::Logistic {} | ModelSpec::Softmax {} => {
                Network::new(vec![inputs, outputs], vec![])
            }
            ModelSpec::Mlp(mlp) => {
                let mut widths = vec![inputs];
                widths.extend(&mlp.hidden);
                widths.push(outputs);
                let acts = match &mlp.activation {
                    Activations::Same(a) => vec![*a; mlp.hidden.len()],
                    Activations::PerLayer(v) => v.clone(),
                };
                Network::new(widths, acts)
            }
        }
    }

    /// Encodes the targets for the loss: cross-entropy labels become one-hot rows (one
    /// column per class, at least two); bce targets must lie in [0, 1].
    fn encode_targets(&self, data: &Dataset) -> Result<Array2<f64>, InvalidConfig> {
        let t = data.targets();
        if t.ncols() == 0 {
            return Err(InvalidConfig::new(
                "problem.data.targets",
                "the dataset has no target column",
            ));
        }
        let name = |j: usize| &data.target_names()[j];
        match self.loss() {
            Loss::Bce => {
                if let Some(((i, j), v)) = t.indexed_iter().find(|(_, v)| !(0.0..=1.0).contains(*v))
                {
                    return Err(InvalidConfig::new(
                        format!("problem.data.targets[{i}]"),
                        format!(
                            "row {}, column `{}`: bce needs targets in [0, 1], got {v}",
                            i + 1,
                            name(j)
                        ),
                    ));
                }
                Ok(t.clone())
            }
            Loss::CrossEntropy if t.ncols() == 1 => {
                let mut classes = 0usize;
                for (i, &v) in t.column(0).iter().enumerate() {
                    if v < 0.0 || v.fract() != 0.0 || v >= MAX_CLASSES as f64 {
                        return Err(InvalidConfig::new(
                            format!("problem.data.targets[{i}]"),
                            format!(
                                "row {}, column `{}`: cross_entropy needs class labels 0, 1, … below {MAX_CLASSES}, got {v}",
                                i + 1,
                                name(0)
                            ),
                        ));
                    }
                    classes = classes.max(v as usize + 1);
                }
                let classes = classes.max(2);
                let mut onehot = Array2::zeros((t.nrows(), classes));
                for (i, &v) in t.column(0).iter().enumerate() {
                    onehot[[i, v as usize]] = 1.0;
                }
                Ok(onehot)
            }
            Loss::CrossEntropy => {
                if let Some(((i, j), v)) = t.indexed_iter().find(|(_, v)| **v < 0.0) {
                    return Err(InvalidConfig::new(
                        format!("problem.data.targets[{i}]"),
                        format!(
                            "row {}, column `{}`: class probabilities must be ≥ 0, got {v}",
                            i + 1,
                            name(j)
                        ),
                    ));
                }
                Ok(t.clone())
            }
            _ => Ok(t.clone()),
        }
    }

    /// Builds the objective on `data` (the inline data or the resolved `dataset_id`) and x₀
    /// from `initial` (a vector of [`Network::dim`] numbers or an [`InitSpec`]).
    pub fn build(
        &self,
        data: &Dataset,
        initial: &Initial,
    ) -> Result<(ModelObjective, Vec<f64>), InvalidConfig> {
        self.validate()?;
        let targets = self.encode_targets(data)?;
        let net = self.network(data.features().ncols(), targets.ncols());
        if net.dim() > MAX_PARAMETERS {
            return Err(InvalidConfig::new(
                "problem.model",
                format!(
                    "this model would have {} parameters, more than the limit of {MAX_PARAMETERS}",
                    net.dim()
                ),
            ));
        }
        let batch_rows = self.batch_size.unwrap_or(data.rows()).min(data.rows());
        let per_row = net.buffer_values_per_row();
        if batch_rows.saturating_mul(per_row) > MAX_BUFFER_VALUES {
            return Err(InvalidConfig::new(
                "problem.batch_size",
                format!(
                    "batches of {batch_rows} rows need {} MiB of activations for this network, over the {} MiB limit; use a batch_size of at most {}",
                    batch_rows.saturating_mul(per_row) >> 17,
                    MAX_BUFFER_VALUES >> 17,
                    MAX_BUFFER_VALUES / per_row
                ),
            ));
        }
        let x0 = match initial {
            Initial::Vector(x0) => {
                if x0.len() != net.dim() {
                    return Err(InvalidConfig::new(
                        "initial",
                        format!(
                            "this model has {} parameters ({}), got {}",
                            net.dim(),
                            describe_layout(&net),
                            x0.len()
                        ),
                    ));
                }
                x0.clone()
            }
            Initial::Init(spec) => initialize(&net, spec),
            Initial::Named(_) => {
                return Err(InvalidConfig::new(
                    "initial",
                    "a model's parameters have no names: give the flat vector or {\"init\": …, \"seed\": …}",
                ))
            }
        };
        // Deterministic split: a seeded permutation, the last ⌊n·split⌋ rows held out.
        let n = data.rows();
        let n_val = (n as f64 * self.validation_split).floor() as usize;
        if self.validation_split > 0.0 && (n_val == 0 || n_val == n) {
            return Err(InvalidConfig::new(
                "problem.validation_split",
                format!(
                    "{} of {n} rows leaves an empty training or validation split",
                    self.validation_split
                ),
            ));
        }
        let x = data.features();
        let (train, val) = if n_val == 0 {
            ((x.clone(), targets), None)
        } else {
            let mut order: Vec<usize> = (0..n).collect();
            Rng::derived(self.seed, SPLIT_STREAM).shuffle(&mut order);
            let (tr, va) = order.split_at(n - n_val);
            (
                (x.select(Axis(0), tr), targets.select(Axis(0), tr)),
                Some((x.select(Axis(0), va), targets.select(Axis(0), va))),
            )
        };
        let objective = ModelObjective::new(
            net,
            self.loss(),
            self.l2,
            train,
            val,
            self.batch_size,
            self.shuffle,
            self.seed,
            self.eval_every,
        );
        Ok((objective, x0))
    }

    /// The network for `params` on rows of `inputs` features: its output width is inferred
    /// from the parameter count.
    pub fn network_for(&self, inputs: usize, n_params: usize) -> Result<Network, InvalidConfig> {
        self.validate_model()?;
        let last_in = match &self.model {
            ModelSpec::Mlp(mlp) => *mlp.hidden.last().expect("validated non-empty"),
            _ => inputs,
        };
        let probe = self.network(inputs, 1);
        let hidden_params = probe.dim() - (last_in + 1);
        let rest = n_params.saturating_sub(hidden_params);
        if rest == 0 || !rest.is_multiple_of(last_in + 1) {
            return Err(InvalidConfig::new(
                "features",
                format!("{n_params} parameters do not fit this model with {inputs} input features"),
            ));
        }
        Ok(self.network(inputs, rest / (last_in + 1)))
    }

    /// [`ModelProblem::predict`] on JSON-shaped rows; ragged rows are reported as
    /// `features[i]`.
    pub fn predict_rows(
        &self,
        params: &[f64],
        rows: &[Vec<f64>],
    ) -> Result<Prediction, InvalidConfig> {
        let d = rows.first().map_or(0, Vec::len);
        if d == 0 {
            return Err(InvalidConfig::new(
                "features",
                "must hold at least one row of at least one number",
            ));
        }
        if let Some(i) = rows.iter().position(|r| r.len() != d) {
            return Err(InvalidConfig::new(
                format!("features[{i}]"),
                format!("has {} numbers, the first row has {d}", rows[i].len()),
            ));
        }
        let flat: Vec<f64> = rows.iter().flatten().copied().collect();
        let x = ArrayView2::from_shape((rows.len(), d), &flat).expect("rows·d values");
        self.predict(params, x)
    }

    /// The fitted model's outputs on `features` (rows × d) at `params` (e.g. a job's final
    /// parameters): values for regression losses, probabilities and classes for classifiers.
    pub fn predict(
        &self,
        params: &[f64],
        features: ArrayView2<'_, f64>,
    ) -> Result<Prediction, InvalidConfig> {
        if let Some(((i, _), v)) = features.indexed_iter().find(|(_, v)| !v.is_finite()) {
            return Err(InvalidConfig::new(
                format!("features[{i}]"),
                format!("must be finite, got {v}"),
            ));
        }
        let net = self.network_for(features.ncols(), params.len())?;
        let loss = self.loss();
        let n = features.nrows();
        let mut ws = Workspace::new(&net, n.clamp(1, objective::EVAL_CHUNK_ROWS));
        let mut outputs = Vec::with_capacity(n);
        let mut classes = loss.is_classification().then(|| Vec::with_capacity(n));
        let mut start = 0;
        while start < n {
            let end = (start + ws.capacity()).min(n);
            net.forward(params, features.slice(ndarray::s![start..end, ..]), &mut ws);
            for z in ws.output().rows() {
                let row: Vec<f64> = match loss {
                    Loss::Bce => z.iter().map(|&v| activation::sigmoid(v)).collect(),
                    Loss::CrossEntropy => {
                        let mx = z.fold(f64::NEG_INFINITY, |a, &b| a.max(b));
                        let e: Vec<f64> = z.iter().map(|&v| (v - mx).exp()).collect();
                        let s: f64 = e.iter().sum();
                        e.into_iter().map(|v| v / s).collect()
                    }
                    _ => z.to_vec(),
                };
                if let Some(c) = classes.as_mut() {
                    let class = if loss == Loss::Bce && row.len() == 1 {
                        u64::from(row[0] >= 0.5)
                    } else {
                        loss::argmax(row.iter().copied()) as u64
                    };
                    c.push(class);
                }
                outputs.push(row);
            }
            start = end;
        }
        Ok(Prediction { outputs, classes })
    }
}

/// `W1[8,2], b1[8], …` for error messages.
fn describe_layout(net: &Network) -> String {
    net.layout()
        .iter()
        .map(|(name, shape)| {
            let dims: Vec<String> = shape.iter().map(usize::to_string).collect();
            format!("{name}[{}]", dims.join(","))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Draws x₀ for `net` by `spec`: layer by layer, W row-major then b, from one seeded stream.
pub fn initialize(net: &Network, spec: &InitSpec) -> Vec<f64> {
    let mut rng = Rng::new(spec.seed);
    let mut x = vec![0.0; net.dim()];
    for (fan_in, fan_out, w, b) in net.layer_offsets() {
        let weights = &mut x[w..w + fan_in * fan_out];
        match spec.init {
            InitScheme::XavierUniform => {
                let bound = (6.0 / (fan_in + fan_out) as f64).sqrt();
                weights
                    .iter_mut()
                    .for_each(|v| *v = rng.uniform(-bound, bound));
            }
            InitScheme::HeNormal => {
                let std = (2.0 / fan_in as f64).sqrt();
                weights.iter_mut().for_each(|v| *v = std * rng.normal());
            }
            InitScheme::TorchDefault => {
                let bound = 1.0 / (fan_in as f64).sqrt();
                weights
                    .iter_mut()
                    .for_each(|v| *v = rng.uniform(-bound, bound));
                x[b..b + fan_out]
                    .iter_mut()
                    .for_each(|v| *v = rng.uniform(-bound, bound));
            }
            InitScheme::Zeros => {}
        }
    }
    x
}
