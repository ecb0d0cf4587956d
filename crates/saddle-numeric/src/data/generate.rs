//! Seeded synthetic datasets, after scikit-learn's `make_*` generators but drawn from the
//! crate's own [`Rng`] so a seed gives the same rows in every version of saddle.
//!
//! Classification sets have one target column `label` holding 0, 1, …; rows are shuffled
//! after generation (as scikit-learn does by default) so that mini-batches mix classes.

use std::f64::consts::PI;

use ndarray::Array2;
use serde::{Deserialize, Serialize};

use super::rng::Rng;
use super::Dataset;
use crate::error::{check_min, InvalidConfig};

/// The most rows a generator produces.
pub const MAX_GENERATED_ROWS: usize = 1_000_000;

/// A synthetic dataset recipe, tagged by `kind`. Fields are relative to the object itself
/// (errors name them bare, e.g. `n_samples`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({"kind": "moons", "n_samples": 200, "noise": 0.1, "seed": 0})))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum GeneratorConfig {
    /// y = X·w + b + noise·N(0,1) with X ~ N(0,1): a regression set.
    Linear(LinearConfig),
    /// Two interleaving half circles (scikit-learn `make_moons`).
    Moons(MoonsConfig),
    /// A small circle inside a large one (scikit-learn `make_circles`).
    Circles(CirclesConfig),
    /// Isotropic Gaussian clusters, one class each (scikit-learn `make_blobs`).
    Blobs(BlobsConfig),
    /// Points uniform in [−1, 1]², labelled by the sign of x₁·x₂ (1 when they differ).
    Xor(XorConfig),
    /// Two interleaved Archimedean spirals.
    Spirals(SpiralsConfig),
}

/// Parameters of the `linear` generator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = LinearGeneratorConfig, example = json!({"n_samples": 100, "n_features": 3, "noise": 0.1, "seed": 0})))]
#[serde(deny_unknown_fields)]
pub struct LinearConfig {
    /// Rows.
    pub n_samples: usize,
    /// Feature columns (default 1).
    #[serde(default = "one")]
    pub n_features: usize,
    /// Standard deviation of the Gaussian noise on y (default 0.1).
    #[serde(default = "default_noise")]
    pub noise: f64,
    /// The true weights (length n_features); drawn from N(0,1) when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weights: Option<Vec<f64>>,
    /// The true intercept (default 0).
    #[serde(default)]
    pub bias: f64,
    /// Seed of the generator (default 0).
    #[serde(default)]
    pub seed: u64,
}

/// Parameters of the `moons` generator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({"n_samples": 200, "noise": 0.1, "seed": 0})))]
#[serde(deny_unknown_fields)]
pub struct MoonsConfig {
    /// Rows (half per moon).
    pub n_samples: usize,
    /// Standard deviation of Gaussian noise added to each coordinate (default 0.1).
    #[serde(default = "default_noise")]
    pub noise: f64,
    /// Seed of the generator (default 0).
    #[serde(default)]
    pub seed: u64,
}

/// Parameters of the `circles` generator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({"n_samples": 200, "noise": 0.05, "factor": 0.5, "seed": 0})))]
#[serde(deny_unknown_fields)]
pub struct CirclesConfig {
    /// Rows (half per circle).
    pub n_samples: usize,
    /// Standard deviation of Gaussian noise added to each coordinate (default 0.1).
    #[serde(default = "default_noise")]
    pub noise: f64,
    /// Radius of the inner circle relative to the outer one, in (0, 1) (default 0.5).
    #[serde(default = "default_factor")]
    pub factor: f64,
    /// Seed of the generator (default 0).
    #[serde(default)]
    pub seed: u64,
}

/// Parameters of the `blobs` generator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({"n_samples": 300, "centers": 3, "cluster_std": 1.0, "seed": 0})))]
#[serde(deny_unknown_fields)]
pub struct BlobsConfig {
    /// Rows, split as evenly as possible between the centers.
    pub n_samples: usize,
    /// Feature columns (default 2).
    #[serde(default = "two")]
    pub n_features: usize,
    /// Number of clusters, each its own class (default 3).
    #[serde(default = "three")]
    pub centers: usize,
    /// Standard deviation of each cluster (default 1).
    #[serde(default = "default_cluster_std")]
    pub cluster_std: f64,
    /// Centers are drawn uniformly from this box, per coordinate (default [−10, 10]).
    #[serde(default = "default_center_box")]
    pub center_box: [f64; 2],
    /// Seed of the generator (default 0).
    #[serde(default)]
    pub seed: u64,
}

/// Parameters of the `xor` generator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({"n_samples": 200, "noise": 0.1, "seed": 0})))]
#[serde(deny_unknown_fields)]
pub struct XorConfig {
    /// Rows.
    pub n_samples: usize,
    /// Standard deviation of Gaussian noise added to the features after labelling
    /// (default 0.1).
    #[serde(default = "default_noise")]
    pub noise: f64,
    /// Seed of the generator (default 0).
    #[serde(default)]
    pub seed: u64,
}

/// Parameters of the `spirals` generator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({"n_samples": 400, "noise": 0.05, "turns": 1.5, "seed": 0})))]
#[serde(deny_unknown_fields)]
pub struct SpiralsConfig {
    /// Rows (half per spiral).
    pub n_samples: usize,
    /// Standard deviation of Gaussian noise added to each coordinate (default 0.1).
    #[serde(default = "default_noise")]
    pub noise: f64,
    /// How many times each spiral winds around the origin (default 1.5).
    #[serde(default = "default_turns")]
    pub turns: f64,
    /// Seed of the generator (default 0).
    #[serde(default)]
    pub seed: u64,
}

fn one() -> usize {
    1
}
fn two() -> usize {
    2
}
fn three() -> usize {
    3
}
fn default_noise() -> f64 {
    0.1
}
fn default_factor() -> f64 {
    0.5
}
fn default_cluster_std() -> f64 {
    1.0
}
fn default_center_box() -> [f64; 2] {
    [-10.0, 10.0]
}
fn default_turns() -> f64 {
    1.5
}

impl GeneratorConfig {
    /// Checks sizes and coefficients, naming the field on failure.
    pub fn validate(&self) -> Result<(), InvalidConfig> {
        let (n, noise) = match self {
            GeneratorConfig::Linear(c) => (c.n_samples, c.noise),
            GeneratorConfig::Moons(c) => (c.n_samples, c.noise),
            GeneratorConfig::Circles(c) => (c.n_samples, c.noise),
            GeneratorConfig::Blobs(c) => (c.n_samples, c.cluster_std),
            GeneratorConfig::Xor(c) => (c.n_samples, c.noise),
            GeneratorConfig::Spirals(c) => (c.n_samples, c.noise),
        };
        if !(1..=MAX_GENERATED_ROWS).contains(&n) {
            return Err(InvalidConfig::new(
                "n_samples",
                format!("must be between 1 and {MAX_GENERATED_ROWS}, got {n}"),
            ));
        }
        let noise_field = if matches!(self, GeneratorConfig::Blobs(_)) {
            "cluster_std"
        } else {
            "noise"
        };
        check_min(noise_field, noise, 0.0)?;
        let features = |d: usize| -> Result<(), InvalidConfig> {
            if (1..=1000).contains(&d) && n.saturating_mul(d) <= 50_000_000 {
                Ok(())
            } else {
                Err(InvalidConfig::new(
                    "n_features",
                    format!("must be between 1 and 1000 with n_samples·n_features ≤ 5e7, got {d}"),
                ))
            }
        };
        match self {
            GeneratorConfig::Linear(c) => {
                features(c.n_features)?;
                if let Some(w) = &c.weights {
                    if w.len() != c.n_features {
                        return Err(InvalidConfig::new(
                            "weights",
                            format!(
                                "must have n_features = {} entries, got {}",
                                c.n_features,
                                w.len()
                            ),
                        ));
                    }
                    if let Some(i) = w.iter().position(|v| !v.is_finite()) {
                        return Err(InvalidConfig::new(
                            format!("weights[{i}]"),
                            "must be finite",
                        ));
                    }
                }
                if !c.bias.is_finite() {
                    return Err(InvalidConfig::new("bias", "must be finite"));
                }
            }
            GeneratorConfig::Circles(c) => {
                if !(c.factor > 0.0 && c.factor < 1.0) {
                    return Err(InvalidConfig::new(
                        "factor",
                        format!("must be in (0, 1), got {}", c.factor),
                    ));
                }
            }
            GeneratorConfig::Blobs(c) => {
                features(c.n_features)?;
                if !(1..=crate::data::MAX_CLASSES).contains(&c.centers) {
                    return Err(InvalidConfig::new(
                        "centers",
                        format!(
                            "must be between 1 and {}, got {}",
                            crate::data::MAX_CLASSES,
                            c.centers
                        ),
                    ));
                }
                let [lo, hi] = c.center_box;
                if !(lo.is_finite() && hi.is_finite() && lo < hi) {
                    return Err(InvalidConfig::new(
                        "center_box",
                        "must be [lo, hi] with lo < hi",
                    ));
                }
            }
            GeneratorConfig::Spirals(c) => {
                if !(c.turns.is_finite() && c.turns > 0.0 && c.turns <= 100.0) {
                    return Err(InvalidConfig::new(
                        "turns",
                        format!("must be in (0, 100], got {}", c.turns),
                    ));
                }
            }
            GeneratorConfig::Moons(_) | GeneratorConfig::Xor(_) => {}
        }
        Ok(())
    }
}

/// Draws the dataset a validated recipe describes. The same recipe always gives the same
/// rows, bit for bit.
pub fn generate(config: &GeneratorConfig) -> Result<Dataset, InvalidConfig> {
    config.validate()?;
    let (x, y, names) = match config {
        GeneratorConfig::Linear(c) => {
            let mut rng = Rng::new(c.seed);
            let w = match &c.weights {
                Some(w) => w.clone(),
                None => (0..c.n_features).map(|_| rng.normal()).collect(),
            };
            let mut x = Array2::zeros((c.n_samples, c.n_features));
            let mut y = Array2::zeros((c.n_samples, 1));
            for i in 0..c.n_samples {
                let mut t = c.bias;
                for j in 0..c.n_features {
                    let v = rng.normal();
                    x[[i, j]] = v;
                    t += v * w[j];
                }
                y[[i, 0]] = t + c.noise * rng.normal();
            }
            let names = (1..=c.n_features).map(|j| format!("x{j}")).collect();
            return finite_dataset(x, y, names, "y");
        }
        GeneratorConfig::Moons(c) => {
            let mut rng = Rng::new(c.seed);
            let n_out = c.n_samples / 2;
            let n_in = c.n_samples - n_out;
            let mut rows = Vec::with_capacity(c.n_samples);
            for (count, label) in [(n_out, 0.0), (n_in, 1.0)] {
                for i in 0..count {
                    let t = linspace(0.0, PI, count, i);
                    let (a, b) = if label == 0.0 {
                        (t.cos(), t.sin())
                    } else {
                        (1.0 - t.cos(), 1.0 - t.sin() - 0.5)
                    };
                    rows.push(([a, b], label));
                }
            }
            finish_2d(rows, c.noise, &mut rng)
        }
        GeneratorConfig::Circles(c) => {
            let mut rng = Rng::new(c.seed);
            let n_out = c.n_samples / 2;
            let n_in = c.n_samples - n_out;
            let mut rows = Vec::with_capacity(c.n_samples);
            for (count, radius, label) in [(n_out, 1.0, 0.0), (n_in, c.factor, 1.0)] {
                for i in 0..count {
                    // endpoint=False, as scikit-learn: the first and last points differ.
                    let t = 2.0 * PI * i as f64 / count as f64;
                    rows.push(([radius * t.cos(), radius * t.sin()], label));
                }
            }
            finish_2d(rows, c.noise, &mut rng)
        }
        GeneratorConfig::Xor(c) => {
            let mut rng = Rng::new(c.seed);
            let rows = (0..c.n_samples)
                .map(|_| {
                    let a = rng.uniform(-1.0, 1.0);
                    let b = rng.uniform(-1.0, 1.0);
                    ([a, b], if (a > 0.0) != (b > 0.0) { 1.0 } else { 0.0 })
                })
                .collect();
            finish_2d(rows, c.noise, &mut rng)
        }
        GeneratorConfig::Spirals(c) => {
            let mut rng = Rng::new(c.seed);
            let n0 = c.n_samples / 2;
            let n1 = c.n_samples - n0;
            let mut rows = Vec::with_capacity(c.n_samples);
            for (count, label) in [(n0, 0.0), (n1, 1.0)] {
                for i in 0..count {
                    // Radius grows linearly with the angle; the second spiral is the first
                    // turned by π. Start a little off the origin so the classes separate.
                    let s = 0.05 + 0.95 * linspace(0.0, 1.0, count, i);
                    let t = s * c.turns * 2.0 * PI;
                    let sign = if label == 0.0 { 1.0 } else { -1.0 };
                    rows.push(([sign * s * t.cos(), sign * s * t.sin()], label));
                }
            }
            finish_2d(rows, c.noise, &mut rng)
        }
        GeneratorConfig::Blobs(c) => {
            let mut rng = Rng::new(c.seed);
            let [lo, hi] = c.center_box;
            let centers: Vec<Vec<f64>> = (0..c.centers)
                .map(|_| (0..c.n_features).map(|_| rng.uniform(lo, hi)).collect())
                .collect();
            let mut order: Vec<usize> = (0..c.n_samples).collect();
            rng.shuffle(&mut order);
            let mut x = Array2::zeros((c.n_samples, c.n_features));
            let mut y = Array2::zeros((c.n_samples, 1));
            // Sample i (before shuffling) belongs to center i mod centers: even split.
            for (i, &row) in order.iter().enumerate() {
                let k = i % c.centers;
                for j in 0..c.n_features {
                    x[[row, j]] = centers[k][j] + c.cluster_std * rng.normal();
                }
                y[[row, 0]] = k as f64;
            }
            let names = (1..=c.n_features).map(|j| format!("x{j}")).collect();
            (x, y, names)
        }
    };
    finite_dataset(x, y, names, "label")
}

/// The drawn rows as a dataset, or an error naming the overflow: finite parameters can still
/// draw values that are not (a noise, box or weight near f64::MAX).
fn finite_dataset(
    x: Array2<f64>,
    y: Array2<f64>,
    names: Vec<String>,
    target: &str,
) -> Result<Dataset, InvalidConfig> {
    Dataset::with_names(x, y, names, vec![target.into()]).map_err(|e| {
        InvalidConfig::new(
            "generator",
            format!("these parameters draw values that are not finite ({e}); use a smaller noise, box or weights"),
        )
    })
}

/// The i-th of `count` evenly spaced points from `a` to `b` inclusive (numpy's linspace).
fn linspace(a: f64, b: f64, count: usize, i: usize) -> f64 {
    if count <= 1 {
        a
    } else {
        a + (b - a) * i as f64 / (count - 1) as f64
    }
}

/// Shuffles labelled 2-D points, adds N(0, noise²) to each coordinate and builds the arrays.
fn finish_2d(
    mut rows: Vec<([f64; 2], f64)>,
    noise: f64,
    rng: &mut Rng,
) -> (Array2<f64>, Array2<f64>, Vec<String>) {
    rng.shuffle(&mut rows);
    let n = rows.len();
    let mut x = Array2::zeros((n, 2));
    let mut y = Array2::zeros((n, 1));
    for (i, ([a, b], label)) in rows.into_iter().enumerate() {
        x[[i, 0]] = a + noise * rng.normal();
        x[[i, 1]] = b + noise * rng.normal();
        y[[i, 0]] = label;
    }
    (x, y, vec!["x1".into(), "x2".into()])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(json: serde_json::Value) -> GeneratorConfig {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn the_same_seed_gives_the_same_rows_and_another_seed_does_not() {
        for kind in ["moons", "circles", "xor", "spirals", "blobs", "linear"] {
            let a = generate(&config(
                serde_json::json!({"kind": kind, "n_samples": 50, "seed": 3}),
            ))
            .unwrap();
            let b = generate(&config(
                serde_json::json!({"kind": kind, "n_samples": 50, "seed": 3}),
            ))
            .unwrap();
            let c = generate(&config(
                serde_json::json!({"kind": kind, "n_samples": 50, "seed": 4}),
            ))
            .unwrap();
            assert_eq!(a, b, "{kind}");
            assert_ne!(a.features(), c.features(), "{kind}");
            assert_eq!(a.rows(), 50);
        }
    }

    #[test]
    fn the_rows_of_a_recipe_never_change() {
        // Frozen output of this implementation: stored datasets and histories depend on it.
        let d = generate(&config(
            serde_json::json!({"kind": "moons", "n_samples": 3, "seed": 0}),
        ))
        .unwrap();
        let x: Vec<f64> = d.features().iter().copied().collect();
        assert_eq!(
            x,
            vec![
                0.9596278902949112,
                0.1625110001275516,
                1.8978751168720507,
                0.6716873702311762,
                0.04493846424898316,
                0.4732608291172892
            ]
        );
        assert_eq!(d.targets().column(0).to_vec(), vec![0.0, 1.0, 1.0]);
    }

    #[test]
    fn classification_sets_are_balanced() {
        for kind in ["moons", "circles", "spirals"] {
            let d = generate(&config(serde_json::json!({"kind": kind, "n_samples": 101}))).unwrap();
            let counts: Vec<u64> = d.class_counts().unwrap().iter().map(|c| c.count).collect();
            assert_eq!(counts, vec![50, 51], "{kind}");
        }
        let blobs = generate(&config(
            serde_json::json!({"kind": "blobs", "n_samples": 90, "centers": 3, "n_features": 4}),
        ))
        .unwrap();
        assert_eq!(blobs.features().ncols(), 4);
        let counts: Vec<u64> = blobs
            .class_counts()
            .unwrap()
            .iter()
            .map(|c| c.count)
            .collect();
        assert_eq!(counts, vec![30, 30, 30]);
    }

    #[test]
    fn noiseless_moons_lie_on_their_half_circles() {
        let d = generate(&config(
            serde_json::json!({"kind": "moons", "n_samples": 40, "noise": 0.0}),
        ))
        .unwrap();
        for (x, y) in d.features().rows().into_iter().zip(d.targets().column(0)) {
            let (cx, cy) = if *y == 0.0 { (0.0, 0.0) } else { (1.0, 0.5) };
            let r = ((x[0] - cx).powi(2) + (x[1] - cy).powi(2)).sqrt();
            assert!((r - 1.0).abs() < 1e-12);
        }
    }

    #[test]
    fn the_linear_generator_uses_the_given_weights() {
        let d = generate(&config(serde_json::json!({
            "kind": "linear", "n_samples": 20, "n_features": 2,
            "weights": [2.0, -1.0], "bias": 0.5, "noise": 0.0
        })))
        .unwrap();
        for (x, y) in d.features().rows().into_iter().zip(d.targets().column(0)) {
            assert!((2.0 * x[0] - x[1] + 0.5 - y).abs() < 1e-12);
        }
    }

    #[test]
    fn invalid_recipes_name_the_field() {
        let bad = |json| generate(&config(json)).unwrap_err().field;
        assert_eq!(
            bad(serde_json::json!({"kind": "moons", "n_samples": 0})),
            "n_samples"
        );
        assert_eq!(
            bad(serde_json::json!({"kind": "moons", "n_samples": 5, "noise": -1.0})),
            "noise"
        );
        assert_eq!(
            bad(serde_json::json!({"kind": "circles", "n_samples": 5, "factor": 1.0})),
            "factor"
        );
        assert_eq!(
            bad(
                serde_json::json!({"kind": "linear", "n_samples": 5, "n_features": 2, "weights": [1.0]})
            ),
            "weights"
        );
    }
}
