//! The table of classic test functions. Sources: Surjanovic & Bingham, *Virtual Library of
//! Simulation Experiments* (sfu.ca/~ssurjano, "VLSE"), and Jamil & Yang, "A literature survey
//! of benchmark functions for global optimisation problems", IJMMNO 4(2), 2013.
//!
//! Each formula is the implementation: it is compiled by the expression engine (except for
//! the hand-written fast paths of `rosenbrock`, `sphere` and `quadratic`).

use super::{Dimension, FunctionSpec, KnownMinimum};

fn cube(lo: f64, hi: f64, n: usize) -> Vec<[f64; 2]> {
    vec![[lo, hi]; n]
}

fn alternating(a: f64, b: f64, n: usize) -> Vec<f64> {
    (0..n).map(|i| if i % 2 == 0 { a } else { b }).collect()
}

fn at(x: Vec<f64>, f: f64) -> Vec<KnownMinimum> {
    vec![KnownMinimum { x, f }]
}

fn origin(n: usize) -> Vec<KnownMinimum> {
    at(vec![0.0; n], 0.0)
}

fn points2(points: &[[f64; 2]], f: f64) -> Vec<KnownMinimum> {
    points
        .iter()
        .map(|p| KnownMinimum { x: p.to_vec(), f })
        .collect()
}

const TWO_D: Dimension = Dimension::Fixed(2);

/// Dixon–Price minimizers x_i = 2^(−(2^i − 2)/2^i) (1-based i); the last coordinate may
/// also be negative (every earlier one must be positive, as x_{i+1}² = x_i/2).
fn dixon_price_minima(n: usize) -> Vec<KnownMinimum> {
    let x: Vec<f64> = (1..=n as i32)
        .map(|i| {
            let p = 2f64.powi(i);
            2f64.powf(-(p - 2.0) / p)
        })
        .collect();
    let mut minima = at(x.clone(), 0.0);
    if n >= 2 {
        let mut flipped = x;
        flipped[n - 1] = -flipped[n - 1];
        minima.push(KnownMinimum { x: flipped, f: 0.0 });
    }
    minima
}

/// The functions, in catalogue order.
pub static FUNCTIONS: &[FunctionSpec] = &[
    FunctionSpec {
        name: "sphere",
        title: "Sphere (De Jong F1)",
        formula: "sum(i=0..n-1, x[i]^2)",
        dimension: Dimension::Any { min: 1, default: 2 },
        parameters: &[],
        domain: |n| cube(-5.12, 5.12, n),
        start: |n| alternating(2.0, -1.0, n),
        minima: origin,
        bounded_below: true,
        smooth_minimum: true,
        note: "convex; the easiest test",
    },
    FunctionSpec {
        name: "rosenbrock",
        title: "Rosenbrock (banana valley)",
        formula: "sum(i=0..n-2, 100*(x[i+1] - x[i]^2)^2 + (1 - x[i])^2)",
        dimension: Dimension::Any { min: 2, default: 2 },
        parameters: &[],
        domain: |n| cube(-5.0, 10.0, n),
        start: |n| alternating(-1.5, 2.0, n),
        minima: |n| at(vec![1.0; n], 0.0),
        bounded_below: true,
        smooth_minimum: true,
        note: "narrow curved valley; for n ≥ 4 also a local minimum near (−1, 1, …, 1)",
    },
    FunctionSpec {
        name: "rastrigin",
        title: "Rastrigin",
        formula: "10*n + sum(i=0..n-1, x[i]^2 - 10*cos(2*pi*x[i]))",
        dimension: Dimension::Any { min: 1, default: 2 },
        parameters: &[],
        domain: |n| cube(-5.12, 5.12, n),
        start: |n| vec![2.5; n],
        minima: origin,
        bounded_below: true,
        smooth_minimum: true,
        note: "highly multimodal: a regular lattice of local minima",
    },
    FunctionSpec {
        name: "ackley",
        title: "Ackley",
        formula: "-20*exp(-0.2*sqrt(sum(i=0..n-1, x[i]^2)/n)) - exp(sum(i=0..n-1, cos(2*pi*x[i]))/n) + 20 + e",
        dimension: Dimension::Any { min: 1, default: 2 },
        parameters: &[],
        domain: |n| cube(-32.768, 32.768, n),
        start: |n| alternating(1.5, -2.5, n),
        minima: origin,
        bounded_below: true,
        smooth_minimum: false,
        note: "nearly flat outer region, a cone-shaped hole at the origin (not differentiable there: the gradient of sqrt at 0 is NaN, as in torch)",
    },
    FunctionSpec {
        name: "griewank",
        title: "Griewank",
        formula: "1 + sum(i=0..n-1, x[i]^2)/4000 - prod(i=0..n-1, cos(x[i]/sqrt(i+1)))",
        dimension: Dimension::Any { min: 1, default: 2 },
        parameters: &[],
        domain: |n| cube(-600.0, 600.0, n),
        start: |n| alternating(4.0, -3.0, n),
        minima: origin,
        bounded_below: true,
        smooth_minimum: true,
        note: "many regularly spaced, shallow local minima",
    },
    FunctionSpec {
        name: "styblinski_tang",
        title: "Styblinski–Tang",
        formula: "sum(i=0..n-1, x[i]^4 - 16*x[i]^2 + 5*x[i])/2",
        dimension: Dimension::Any { min: 1, default: 2 },
        parameters: &[],
        domain: |n| cube(-5.0, 5.0, n),
        start: |n| alternating(0.0, 0.5, n),
        minima: |n| {
            at(
                vec![-2.903_534_027_771_177; n],
                -39.166_165_703_771_42 * n as f64,
            )
        },
        bounded_below: true,
        smooth_minimum: true,
        note: "f* = −39.16616570377142·n",
    },
    FunctionSpec {
        name: "levy",
        title: "Levy",
        formula: "sin(pi*(1 + (x[0] - 1)/4))^2 + sum(i=0..n-2, ((x[i] - 1)/4)^2*(1 + 10*sin(pi*(1 + (x[i] - 1)/4) + 1)^2)) + ((x[n-1] - 1)/4)^2*(1 + sin(2*pi*(1 + (x[n-1] - 1)/4))^2)",
        dimension: Dimension::Any { min: 1, default: 2 },
        parameters: &[],
        domain: |n| cube(-10.0, 10.0, n),
        start: |n| alternating(-4.0, 3.0, n),
        minima: |n| at(vec![1.0; n], 0.0),
        bounded_below: true,
        smooth_minimum: true,
        note: "w_i = 1 + (x_i − 1)/4 written out inline",
    },
    FunctionSpec {
        name: "zakharov",
        title: "Zakharov",
        formula: "sum(i=0..n-1, x[i]^2) + sum(i=0..n-1, 0.5*(i+1)*x[i])^2 + sum(i=0..n-1, 0.5*(i+1)*x[i])^4",
        dimension: Dimension::Any { min: 1, default: 2 },
        parameters: &[],
        domain: |n| cube(-5.0, 10.0, n),
        start: |n| vec![1.0; n],
        minima: origin,
        bounded_below: true,
        smooth_minimum: true,
        note: "plate-shaped, unimodal",
    },
    FunctionSpec {
        name: "dixon_price",
        title: "Dixon–Price",
        formula: "(x[0] - 1)^2 + sum(i=1..n-1, (i+1)*(2*x[i]^2 - x[i-1])^2)",
        dimension: Dimension::Any { min: 1, default: 2 },
        parameters: &[],
        domain: |n| cube(-10.0, 10.0, n),
        start: |n| vec![2.0; n],
        minima: dixon_price_minima,
        bounded_below: true,
        smooth_minimum: true,
        note: "valley-shaped; minimizers x_i = 2^(−(2^i−2)/2^i), the last one of either sign",
    },
    FunctionSpec {
        name: "beale",
        title: "Beale",
        formula: "(1.5 - x + x*y)^2 + (2.25 - x + x*y^2)^2 + (2.625 - x + x*y^3)^2",
        dimension: TWO_D,
        parameters: &[],
        domain: |_| cube(-4.5, 4.5, 2),
        start: |_| vec![1.0, 1.5],
        minima: |_| at(vec![3.0, 0.5], 0.0),
        bounded_below: true,
        smooth_minimum: true,
        note: "sharp peaks at the corners of the domain",
    },
    FunctionSpec {
        name: "booth",
        title: "Booth",
        formula: "(x + 2*y - 7)^2 + (2*x + y - 5)^2",
        dimension: TWO_D,
        parameters: &[],
        domain: |_| cube(-10.0, 10.0, 2),
        start: |_| vec![0.0, 0.0],
        minima: |_| at(vec![1.0, 3.0], 0.0),
        bounded_below: true,
        smooth_minimum: true,
        note: "a convex quadratic",
    },
    FunctionSpec {
        name: "matyas",
        title: "Matyas",
        formula: "0.26*(x^2 + y^2) - 0.48*x*y",
        dimension: TWO_D,
        parameters: &[],
        domain: |_| cube(-10.0, 10.0, 2),
        start: |_| vec![5.0, -3.0],
        minima: |_| at(vec![0.0, 0.0], 0.0),
        bounded_below: true,
        smooth_minimum: true,
        note: "flat, plate-shaped quadratic",
    },
    FunctionSpec {
        name: "himmelblau",
        title: "Himmelblau",
        formula: "(x^2 + y - 11)^2 + (x + y^2 - 7)^2",
        dimension: TWO_D,
        parameters: &[],
        domain: |_| cube(-5.0, 5.0, 2),
        start: |_| vec![0.0, 0.0],
        minima: |_| {
            points2(
                &[
                    [3.0, 2.0],
                    [-2.805_118_086_952_745, 3.131_312_518_250_573],
                    [-3.779_310_253_377_747, -3.283_185_991_286_17],
                    [3.584_428_340_330_492, -1.848_126_526_964_404],
                ],
                0.0,
            )
        },
        bounded_below: true,
        smooth_minimum: true,
        note: "four global minima",
    },
    FunctionSpec {
        name: "three_hump_camel",
        title: "Three-hump camel",
        formula: "2*x^2 - 1.05*x^4 + x^6/6 + x*y + y^2",
        dimension: TWO_D,
        parameters: &[],
        domain: |_| cube(-5.0, 5.0, 2),
        start: |_| vec![2.0, 1.5],
        minima: |_| at(vec![0.0, 0.0], 0.0),
        bounded_below: true,
        smooth_minimum: true,
        note: "three local minima",
    },
    FunctionSpec {
        name: "six_hump_camel",
        title: "Six-hump camel",
        formula: "(4 - 2.1*x^2 + x^4/3)*x^2 + x*y + (-4 + 4*y^2)*y^2",
        dimension: TWO_D,
        parameters: &[],
        domain: |_| vec![[-3.0, 3.0], [-2.0, 2.0]],
        start: |_| vec![-1.5, 1.0],
        minima: |_| {
            points2(
                &[
                    [0.089_842_013_100_318_06, -0.712_656_403_020_739_6],
                    [-0.089_842_013_100_318_06, 0.712_656_403_020_739_6],
                ],
                -1.031_628_453_489_877_4,
            )
        },
        bounded_below: true,
        smooth_minimum: true,
        note: "six local minima, two of them global",
    },
    FunctionSpec {
        name: "goldstein_price",
        title: "Goldstein–Price",
        formula: "(1 + (x + y + 1)^2*(19 - 14*x + 3*x^2 - 14*y + 6*x*y + 3*y^2))*(30 + (2*x - 3*y)^2*(18 - 32*x + 12*x^2 + 48*y - 36*x*y + 27*y^2))",
        dimension: TWO_D,
        parameters: &[],
        domain: |_| cube(-2.0, 2.0, 2),
        start: |_| vec![-0.5, 0.5],
        minima: |_| at(vec![0.0, -1.0], 3.0),
        bounded_below: true,
        smooth_minimum: true,
        note: "several local minima; values span six orders of magnitude",
    },
    FunctionSpec {
        name: "easom",
        title: "Easom",
        formula: "-cos(x)*cos(y)*exp(-((x - pi)^2 + (y - pi)^2))",
        dimension: TWO_D,
        parameters: &[],
        domain: |_| cube(-100.0, 100.0, 2),
        start: |_| vec![2.0, 2.0],
        minima: |_| {
            at(
                vec![std::f64::consts::PI, std::f64::consts::PI],
                -1.0,
            )
        },
        bounded_below: true,
        smooth_minimum: true,
        note: "a needle: the gradient vanishes almost everywhere outside a small disc",
    },
    FunctionSpec {
        name: "mccormick",
        title: "McCormick",
        formula: "sin(x + y) + (x - y)^2 - 1.5*x + 2.5*y + 1",
        dimension: TWO_D,
        parameters: &[],
        domain: |_| vec![[-1.5, 4.0], [-3.0, 4.0]],
        start: |_| vec![2.0, 2.0],
        minima: |_| {
            at(
                vec![-0.547_197_551_196_597_7, -1.547_197_551_196_597_7],
                -1.913_222_954_981_036_4,
            )
        },
        bounded_below: false,
        smooth_minimum: true,
        note: "the listed minimum is global within the domain; unbounded below outside it",
    },
    FunctionSpec {
        name: "bukin6",
        title: "Bukin N.6",
        formula: "100*sqrt(abs(y - 0.01*x^2)) + 0.01*abs(x + 10)",
        dimension: TWO_D,
        parameters: &[],
        domain: |_| vec![[-15.0, -5.0], [-3.0, 3.0]],
        start: |_| vec![-7.0, 0.0],
        minima: |_| at(vec![-10.0, 1.0], 0.0),
        bounded_below: true,
        smooth_minimum: false,
        note: "a non-differentiable ridge: the gradient is NaN on y = x²/100, as in torch",
    },
    FunctionSpec {
        name: "eggholder",
        title: "Eggholder",
        formula: "-(y + 47)*sin(sqrt(abs(x/2 + y + 47))) - x*sin(sqrt(abs(x - (y + 47))))",
        dimension: TWO_D,
        parameters: &[],
        domain: |_| cube(-512.0, 512.0, 2),
        start: |_| vec![400.0, 400.0],
        minima: |_| at(vec![512.0, 404.231_805_113_757_8], -959.640_662_720_850_8),
        bounded_below: false,
        smooth_minimum: false,
        note: "the global minimum lies on the domain's boundary x = 512, so ∇f ≠ 0 there",
    },
    FunctionSpec {
        name: "saddle",
        title: "Saddle x² − y²",
        formula: "x^2 - y^2",
        dimension: TWO_D,
        parameters: &[],
        domain: |_| cube(-2.0, 2.0, 2),
        start: |_| vec![1.0, 1e-3],
        minima: |_| Vec::new(),
        bounded_below: false,
        smooth_minimum: true,
        note: "unbounded below; a saddle point at the origin to escape from",
    },
    FunctionSpec {
        name: "monkey_saddle",
        title: "Monkey saddle x³ − 3xy²",
        formula: "x^3 - 3*x*y^2",
        dimension: TWO_D,
        parameters: &[],
        domain: |_| cube(-2.0, 2.0, 2),
        start: |_| vec![0.3, 0.2],
        minima: |_| Vec::new(),
        bounded_below: false,
        smooth_minimum: true,
        note: "unbounded below; a degenerate saddle (zero Hessian) at the origin",
    },
    FunctionSpec {
        name: "plateau",
        title: "Plateau 1 − exp(−‖x‖²)",
        formula: "1 - exp(-sum(i=0..n-1, x[i]^2))",
        dimension: Dimension::Any { min: 1, default: 2 },
        parameters: &[],
        domain: |n| cube(-5.0, 5.0, n),
        start: |n| vec![3.0; n],
        minima: origin,
        bounded_below: true,
        smooth_minimum: true,
        note: "a vanishing gradient far from the origin (≈ 9e-8 at (3, 3))",
    },
    FunctionSpec {
        name: "ill_conditioned_quadratic",
        title: "Ill-conditioned quadratic ½Σ κ^(i/(n−1)) x_i²",
        formula: "0.5*sum(i=0..n-1, condition_number^(i/(n-1))*x[i]^2)",
        dimension: Dimension::Any { min: 2, default: 10 },
        parameters: &["condition_number"],
        domain: |n| cube(-10.0, 10.0, n),
        start: |n| vec![1.0; n],
        minima: origin,
        bounded_below: true,
        smooth_minimum: true,
        note: "eigenvalues log-spaced from 1 to condition_number (default 1000)",
    },
    FunctionSpec {
        name: "quadratic",
        title: "Quadratic ½xᵀAx − bᵀx",
        formula: "0.5*sum(i=0..n-1, x[i]*sum(j=0..n-1, A[i, j]*x[j])) - sum(i=0..n-1, b[i]*x[i])",
        dimension: Dimension::Any { min: 1, default: 2 },
        parameters: &["a", "b"],
        domain: |n| cube(-10.0, 10.0, n),
        start: |n| vec![0.0; n],
        minima: |_| Vec::new(),
        bounded_below: true,
        smooth_minimum: true,
        note: "A symmetric, given with b; minimum −½bᵀA⁻¹b at A⁻¹b when A is positive definite",
    },
    FunctionSpec {
        name: "schwefel",
        title: "Schwefel",
        formula: "418.9828872724337*n - sum(i=0..n-1, x[i]*sin(sqrt(abs(x[i]))))",
        dimension: Dimension::Any { min: 1, default: 2 },
        parameters: &[],
        domain: |n| cube(-500.0, 500.0, n),
        start: |n| alternating(100.0, -100.0, n),
        minima: |n| at(vec![420.968_746_359_982; n], 0.0),
        bounded_below: false,
        smooth_minimum: true,
        note: "deceptive: the best local minima are far apart; the constant is the exact max of x·sin√x (VLSE rounds it to 418.9829)",
    },
    FunctionSpec {
        name: "rotated_hyper_ellipsoid",
        title: "Rotated hyper-ellipsoid",
        formula: "sum(i=0..n-1, sum(j=0..i, x[j]^2))",
        dimension: Dimension::Any { min: 1, default: 2 },
        parameters: &[],
        domain: |n| cube(-65.536, 65.536, n),
        start: |n| vec![1.0; n],
        minima: origin,
        bounded_below: true,
        smooth_minimum: true,
        note: "convex, unimodal",
    },
    FunctionSpec {
        name: "trid",
        title: "Trid",
        formula: "sum(i=0..n-1, (x[i] - 1)^2) - sum(i=1..n-1, x[i]*x[i-1])",
        dimension: Dimension::Any { min: 2, default: 2 },
        parameters: &[],
        domain: |n| {
            let r = (n * n) as f64;
            cube(-r, r, n)
        },
        start: |n| vec![0.0; n],
        minima: |n| {
            let m = n as f64;
            at(
                (1..=n).map(|i| (i * (n + 1 - i)) as f64).collect(),
                -m * (m + 4.0) * (m - 1.0) / 6.0,
            )
        },
        bounded_below: true,
        smooth_minimum: true,
        note: "convex; minimizer x_i = i(n + 1 − i)",
    },
    FunctionSpec {
        name: "sum_squares",
        title: "Sum of squares Σ i·x_i²",
        formula: "sum(i=0..n-1, (i+1)*x[i]^2)",
        dimension: Dimension::Any { min: 1, default: 2 },
        parameters: &[],
        domain: |n| cube(-10.0, 10.0, n),
        start: |n| vec![1.0; n],
        minima: origin,
        bounded_below: true,
        smooth_minimum: true,
        note: "axis-parallel hyper-ellipsoid",
    },
    FunctionSpec {
        name: "sum_of_different_powers",
        title: "Sum of different powers",
        formula: "sum(i=0..n-1, abs(x[i])^(i+2))",
        dimension: Dimension::Any { min: 1, default: 2 },
        parameters: &[],
        domain: |n| cube(-1.0, 1.0, n),
        start: |n| vec![0.5; n],
        minima: origin,
        bounded_below: true,
        smooth_minimum: true,
        note: "increasingly flat along later coordinates",
    },
    FunctionSpec {
        name: "branin",
        title: "Branin–Hoo",
        formula: "(y - 5.1/(4*pi^2)*x^2 + 5/pi*x - 6)^2 + 10*(1 - 1/(8*pi))*cos(x) + 10",
        dimension: TWO_D,
        parameters: &[],
        domain: |_| vec![[-5.0, 10.0], [0.0, 15.0]],
        start: |_| vec![5.0, 10.0],
        minima: |_| {
            points2(
                &[
                    [-std::f64::consts::PI, 12.275],
                    [std::f64::consts::PI, 2.275],
                    [9.424_777_960_769_38, 2.475],
                ],
                0.397_887_357_729_738_2,
            )
        },
        bounded_below: true,
        smooth_minimum: true,
        note: "three global minima",
    },
    FunctionSpec {
        name: "bohachevsky1",
        title: "Bohachevsky N.1",
        formula: "x^2 + 2*y^2 - 0.3*cos(3*pi*x) - 0.4*cos(4*pi*y) + 0.7",
        dimension: TWO_D,
        parameters: &[],
        domain: |_| cube(-100.0, 100.0, 2),
        start: |_| vec![10.0, -7.0],
        minima: |_| at(vec![0.0, 0.0], 0.0),
        bounded_below: true,
        smooth_minimum: true,
        note: "bowl-shaped with ripples",
    },
];
