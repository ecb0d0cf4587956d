use super::*;
use crate::builtin::{BuiltinProblem, BUILTIN_NAMES};
use crate::problem::{Initial, Objective, ProblemConfig};
use crate::vecmath::norm2;

/// The dimensions each function is checked at: its fixed one, or its default and 5.
fn dims(spec: &FunctionSpec) -> Vec<usize> {
    match spec.dimension {
        Dimension::Fixed(d) => vec![d],
        Dimension::Any { min, default } => vec![default.max(min), 5.max(min)],
    }
}

fn problem(spec: &FunctionSpec, n: usize) -> BuiltinProblem {
    let mut p = BuiltinProblem::named(spec.name);
    if spec.name == "quadratic" {
        // A small SPD matrix with a known solution.
        p.a = Some(
            (0..n)
                .map(|i| {
                    (0..n)
                        .map(|j| if i == j { 2.0 + i as f64 } else { 0.5 })
                        .collect()
                })
                .collect(),
        );
        p.b = Some((0..n).map(|i| 1.0 - 0.3 * i as f64).collect());
    }
    p
}

#[test]
fn the_catalogue_has_at_least_25_functions_matching_the_builtin_names() {
    let names: Vec<String> = catalogue().into_iter().map(|f| f.name).collect();
    assert!(names.len() >= 25, "{}", names.len());
    assert_eq!(names, BUILTIN_NAMES);
    let json = serde_json::to_value(catalogue()).unwrap();
    assert_eq!(json[1]["minima"][0]["x"], serde_json::json!([1.0, 1.0]));
}

#[test]
fn every_formula_compiles_and_its_start_and_domain_have_the_right_length() {
    for spec in specs() {
        for n in dims(spec) {
            let p = problem(spec, n);
            let mut f = p.build(n).unwrap_or_else(|e| panic!("{}: {e}", spec.name));
            assert_eq!(f.dim(), n);
            let start = (spec.start)(n);
            assert_eq!(start.len(), n, "{}", spec.name);
            assert_eq!((spec.domain)(n).len(), n, "{}", spec.name);
            let mut g = vec![0.0; n];
            let v = f.value_and_grad(&start, &mut g);
            assert!(
                v.is_finite() && g.iter().all(|x| x.is_finite()),
                "{} at start",
                spec.name
            );
        }
    }
}

#[test]
fn every_known_minimum_has_the_stated_value_and_a_vanishing_gradient() {
    for spec in specs() {
        for n in dims(spec) {
            let mut f = problem(spec, n).build(n).unwrap();
            for m in (spec.minima)(n) {
                let mut g = vec![0.0; n];
                let v = f.value_and_grad(&m.x, &mut g);
                assert!(
                    (v - m.f).abs() <= 1e-10 * m.f.abs().max(1.0),
                    "{} (n = {n}) at {:?}: f = {v}, f* = {}",
                    spec.name,
                    m.x,
                    m.f
                );
                if spec.smooth_minimum {
                    assert!(
                        norm2(&g) <= 1e-7,
                        "{} (n = {n}): |grad| = {}",
                        spec.name,
                        norm2(&g)
                    );
                }
            }
        }
    }
}

#[test]
fn no_listed_minimum_is_beaten_on_a_sample_of_the_domain() {
    for spec in specs().iter().filter(|s| s.bounded_below) {
        let n = spec.default_dim();
        let Some(best) = (spec.minima)(n).iter().map(|m| m.f).reduce(f64::min) else {
            continue;
        };
        let mut f = problem(spec, n).build(n).unwrap();
        let domain = (spec.domain)(n);
        // A deterministic quasi-random (additive recurrence) sample of the box.
        for k in 0..4000 {
            let x: Vec<f64> = domain
                .iter()
                .enumerate()
                .map(|(i, [lo, hi])| {
                    let u = (k as f64 * (0.618_033_988_75 + 0.414_213_562_37 * i as f64)).fract();
                    lo + u * (hi - lo)
                })
                .collect();
            let v = f.value(&x);
            assert!(
                v >= best - 1e-9 * best.abs().max(1.0),
                "{}: f({x:?}) = {v} < {best}",
                spec.name
            );
        }
    }
}

#[test]
fn hand_written_fast_paths_agree_with_their_formulas() {
    for name in ["rosenbrock", "sphere", "quadratic"] {
        let spec = lookup(name).unwrap();
        for n in [2, 3, 7] {
            let p = problem(spec, n);
            let mut fast = p.build(n).unwrap();
            let mut formula = p.expression_form(n).unwrap().compile().unwrap().objective();
            for k in 0..5 {
                let x: Vec<f64> = (0..n)
                    .map(|i| ((i * 3 + k * 5) % 7) as f64 / 3.0 - 1.0)
                    .collect();
                let v: Vec<f64> = (0..n).map(|i| ((i + k) % 3) as f64 - 1.0).collect();
                let (mut g1, mut g2) = (vec![0.0; n], vec![0.0; n]);
                let f1 = fast.value_and_grad(&x, &mut g1);
                let f2 = formula.value_and_grad(&x, &mut g2);
                assert!(
                    (f1 - f2).abs() <= 1e-12 * f1.abs().max(1.0),
                    "{name}: {f1} vs {f2}"
                );
                let (mut h1, mut h2) = (vec![0.0; n], vec![0.0; n]);
                assert!(fast.hessian_vector_product(&x, &v, &mut h1));
                assert!(formula.hessian_vector_product(&x, &v, &mut h2));
                for i in 0..n {
                    assert!(
                        (g1[i] - g2[i]).abs() <= 1e-12 * g1[i].abs().max(1.0),
                        "{name} grad"
                    );
                    assert!(
                        (h1[i] - h2[i]).abs() <= 1e-12 * h1[i].abs().max(1.0),
                        "{name} hvp"
                    );
                }
            }
        }
    }
}

#[test]
fn ill_conditioned_quadratic_has_eigenvalues_from_one_to_kappa() {
    let mut p = BuiltinProblem::named("ill_conditioned_quadratic");
    p.condition_number = Some(1e4);
    let mut f = p.build(5).unwrap();
    let mut h = vec![0.0; 25];
    assert!(f.hessian(&[0.3; 5], &mut h));
    let diag: Vec<f64> = (0..5).map(|i| h[i * 5 + i]).collect();
    for (i, d) in diag.iter().enumerate() {
        let want = 10f64.powf(i as f64);
        assert!((d - want).abs() <= 1e-9 * want, "{diag:?}");
    }
    p.condition_number = Some(0.5);
    assert_eq!(p.build(5).err().unwrap().field, "problem.condition_number");
}

#[test]
fn parameters_and_dimensions_are_validated_with_field_names() {
    let cases = [
        (
            BuiltinProblem {
                dim: Some(3),
                ..BuiltinProblem::named("rastrigin")
            },
            2,
            "problem.dim",
        ),
        (BuiltinProblem::named("beale"), 3, "initial"),
        (BuiltinProblem::named("rosenbrock"), 1, "initial"),
        (
            BuiltinProblem {
                condition_number: Some(10.0),
                ..BuiltinProblem::named("sphere")
            },
            2,
            "problem.condition_number",
        ),
        (
            BuiltinProblem {
                b: Some(vec![1.0]),
                ..BuiltinProblem::named("ackley")
            },
            1,
            "problem",
        ),
        (BuiltinProblem::named("quadratic"), 2, "problem.a"),
    ];
    for (p, n, field) in cases {
        assert_eq!(p.build(n).err().unwrap().field, field, "{}", p.name);
    }
}

#[test]
fn builtin_problems_accept_named_initial_points() {
    let config: ProblemConfig =
        serde_json::from_value(serde_json::json!({"kind": "builtin", "name": "himmelblau"}))
            .unwrap();
    let initial: Initial = serde_json::from_value(serde_json::json!({"x": 3, "y": 2})).unwrap();
    let (mut f, x0) = config.build(&initial).unwrap();
    assert_eq!((x0.clone(), f.value(&x0)), (vec![3.0, 2.0], 0.0));
    let config: ProblemConfig =
        serde_json::from_value(serde_json::json!({"kind": "builtin", "name": "levy"})).unwrap();
    let initial: Initial = serde_json::from_value(serde_json::json!({"x": [1, 1, 1]})).unwrap();
    let (f, x0) = config.build(&initial).unwrap();
    assert_eq!((f.dim(), x0.len()), (3, 3));
    let initial: Initial = serde_json::from_value(serde_json::json!({"x": 1})).unwrap();
    assert_eq!(config.build(&initial).err().unwrap().field, "initial.x");
}

#[test]
fn nearest_minimum_picks_the_closest_known_minimum() {
    let p = BuiltinProblem::named("himmelblau");
    let m = nearest_minimum(&p, &[-2.7, 3.0]).unwrap();
    assert_eq!(
        m.x_star,
        vec![-2.805_118_086_952_745, 3.131_312_518_250_573]
    );
    assert!((m.distance - (0.105_118_086_952_745f64.hypot(0.131_312_518_250_573))).abs() < 1e-12);
    assert_eq!(m.f_star, 0.0);
    assert!(nearest_minimum(&BuiltinProblem::named("saddle"), &[0.0, 0.0]).is_none());
    assert!(nearest_minimum(&BuiltinProblem::named("nope"), &[0.0]).is_none());
    let m = nearest_minimum(&BuiltinProblem::named("rosenbrock"), &[1.0, 1.0, 0.0]).unwrap();
    assert_eq!((m.distance, m.f_star), (1.0, 0.0));
}

#[test]
fn nearest_minimum_of_a_quadratic_solves_the_linear_system() {
    let mut p = BuiltinProblem::named("quadratic");
    p.a = Some(vec![vec![2.0, 0.0], vec![0.0, 4.0]]);
    p.b = Some(vec![2.0, 4.0]);
    let m = nearest_minimum(&p, &[0.0, 0.0]).unwrap();
    assert!((m.x_star[0] - 1.0).abs() < 1e-15 && (m.x_star[1] - 1.0).abs() < 1e-15);
    assert!((m.f_star + 3.0).abs() < 1e-15);
    p.a = Some(vec![vec![1.0, 0.0], vec![0.0, -1.0]]);
    assert!(nearest_minimum(&p, &[0.0, 0.0]).is_none());
}

#[test]
fn evaluate_returns_value_gradient_and_hessian() {
    let mut f = BuiltinProblem::named("rosenbrock").build(2).unwrap();
    let e = evaluate(f.as_mut(), &[1.0, 1.0], true).unwrap();
    assert_eq!(e.value, 0.0);
    assert_eq!(e.gradient, vec![0.0, 0.0]);
    assert_eq!(
        e.hessian.unwrap(),
        vec![vec![802.0, -400.0], vec![-400.0, 200.0]]
    );
    let mut g = BuiltinProblem::named("beale").build(2).unwrap();
    let e = evaluate(g.as_mut(), &[1.0, 1.5], true).unwrap();
    let h = e.hessian.unwrap();
    assert_eq!(h[0][1], h[1][0]);
    assert_eq!(
        evaluate(g.as_mut(), &[1.0], false).err().unwrap().field,
        "x"
    );
}

#[test]
fn landscape_slices_an_n_dimensional_function_on_a_bounded_grid() {
    let mut f = BuiltinProblem::named("sphere").build(3).unwrap();
    let config = LandscapeConfig {
        axes: [2, 0],
        x_range: [-1.0, 1.0],
        y_range: [0.0, 2.0],
        resolution: [3, 5],
        base: Some(vec![0.0, 10.0, 0.0]),
    };
    let l = landscape(f.as_mut(), &config).unwrap();
    assert_eq!(l.xs, vec![-1.0, 0.0, 1.0]);
    assert_eq!(l.ys, vec![0.0, 0.5, 1.0, 1.5, 2.0]);
    assert_eq!(l.values.len(), 5);
    assert_eq!(l.values[4], vec![105.0, 104.0, 105.0]);
    let too_big = LandscapeConfig {
        resolution: [1000, 1000],
        ..config.clone()
    };
    assert_eq!(
        landscape(f.as_mut(), &too_big).err().unwrap().field,
        "resolution"
    );
    let same_axes = LandscapeConfig {
        axes: [1, 1],
        ..config
    };
    assert_eq!(
        landscape(f.as_mut(), &same_axes).err().unwrap().field,
        "axes"
    );
}
