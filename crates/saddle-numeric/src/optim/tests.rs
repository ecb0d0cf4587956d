//! Trajectory tests of the optimizers beyond torch.optim against independent plain-Python
//! re-implementations of each paper's update rule. The numbers below are printed by
//! `python3 src/optim/testdata/beyond_torch.py` (no numpy or torch needed): five steps on
//! the 2-D Rosenbrock function from (−1.5, 2), with the hyperparameters given in each test
//! and in that script.

use super::*;
use crate::builtin::Rosenbrock;
use crate::executor::{Executor, StepRecord, StopRule};
use crate::schedule::Constant;

/// Runs five steps from (−1.5, 2) and returns x₁..x₅ and the evaluations of each step.
fn trajectory(config: OptimizerConfig) -> (Vec<[f64; 2]>, Vec<u64>) {
    config.validate().unwrap();
    let mut exec = Executor::new(
        Box::new(Rosenbrock { dim: 2 }),
        config.build(2),
        Box::new(Constant::new(config.lr())),
        StopRule {
            max_steps: 5,
            ..Default::default()
        },
    );
    let mut xs = Vec::new();
    let outcome = exec.run(&[-1.5, 2.0], &mut |r: &StepRecord<'_>| {
        if r.step > 0 {
            xs.push([r.params[0], r.params[1]]);
        }
        true
    });
    (xs, vec![outcome.evaluations])
}

fn assert_trajectory(config: OptimizerConfig, want: &[[f64; 2]]) {
    let name = config.name();
    let (got, _) = trajectory(config);
    assert_eq!(got.len(), want.len());
    for (k, (g, w)) in got.iter().zip(want).enumerate() {
        for i in 0..2 {
            assert!(
                (g[i] - w[i]).abs() <= 1e-13 * w[i].abs().max(1.0),
                "{name}: x[{k}][{i}] = {} but the reference gives {}",
                g[i],
                w[i]
            );
        }
    }
}

fn parse(json: serde_json::Value) -> OptimizerConfig {
    serde_json::from_value(json).unwrap()
}

#[test]
fn lion_matches_the_papers_update_rule_on_rosenbrock() {
    assert_trajectory(
        parse(
            serde_json::json!({"name": "lion", "lr": 0.01, "betas": [0.9, 0.99], "weight_decay": 0.1}),
        ),
        &[
            [-1.4885, 2.008],
            [-1.4770115, 2.015992],
            [-1.4655344885, 2.0239760079999995],
            [-1.4540689540115, 2.0319520319919993],
            [-1.4426148850574885, 2.039920079960007],
        ],
    );
}

#[test]
fn adabelief_matches_the_papers_update_rule_on_rosenbrock() {
    assert_trajectory(
        parse(serde_json::json!({"name": "adabelief", "lr": 0.01})),
        &[
            [-1.488888888888889, 2.011111111111111],
            [-1.4773410915338574, 2.022659300958054],
            [-1.4655463997373142, 2.0344496917911004],
            [-1.4538237789658726, 2.0461461218220856],
            [-1.442632419321964, 2.057252473616648],
        ],
    );
}

#[test]
fn yogi_matches_the_papers_update_rule_on_rosenbrock() {
    assert_trajectory(
        parse(serde_json::json!({"name": "yogi", "lr": 0.01})),
        &[
            [-1.4683836743530971, 2.0316027829262384],
            [-1.4287457717137768, 2.0711557987529283],
            [-1.3953757966154836, 2.103194586150026],
            [-1.3817553669533793, 2.1130451456660597],
            [-1.3865190624829629, 2.103604152017062],
        ],
    );
}

#[test]
fn lamb_matches_the_papers_update_rule_on_rosenbrock() {
    assert_trajectory(
        parse(serde_json::json!({"name": "lamb", "lr": 0.01, "weight_decay": 0.01})),
        &[
            [-1.4820149633626352, 2.017364862716205],
            [-1.4639991092613684, 2.034744216418145],
            [-1.445923260424086, 2.0521111801892893],
            [-1.427702854316536, 2.0693797133744005],
            [-1.4091049214277356, 2.086296677525766],
        ],
    );
}

#[test]
fn lookahead_around_sgd_pulls_back_to_the_slow_weights_every_k_steps() {
    assert_trajectory(
        parse(serde_json::json!({
            "name": "lookahead", "k": 2, "alpha": 0.5, "inner": {"name": "sgd", "lr": 0.001}
        })),
        &[
            [-1.345, 2.05],
            [-1.4849772749999999, 2.0009025],
            [-1.3586817028117595, 2.041753501453285],
            [-1.4726598078316888, 2.0017542475368604],
            [-1.3693569168435173, 2.035148779950062],
        ],
    );
}

#[test]
fn gd_armijo_backtracks_to_the_first_sufficient_decrease() {
    let config = parse(serde_json::json!({"name": "gd_armijo", "lr": 1.0}));
    let (_, evals) = trajectory(config.clone());
    // 11 + 11 + 11 + 11 + 5 trial evaluations, plus the executor's six at x₀..x₅.
    assert_eq!(evals, vec![49 + 6]);
    assert_trajectory(
        config,
        &[
            [-1.3486328125, 2.048828125],
            [-1.4652211728243856, 2.0039028003811836],
            [-1.3785769562613166, 2.031826684152997],
            [-1.4446653600726544, 2.006171945907239],
            [1.7822499151370228, 3.0172476544899096],
        ],
    );
}

#[test]
fn schedule_free_sgd_matches_the_reference_implementation_on_rosenbrock() {
    assert_trajectory(
        parse(serde_json::json!({
            "name": "schedule_free_sgd", "lr": 0.001, "momentum": 0.9,
            "weight_decay": 0.01, "warmup_steps": 2
        })),
        &[
            [-1.4224925, 2.02499],
            [-1.4192101878584897, 2.024726560741225],
            [-1.4194635835107157, 2.023633835375332],
            [-1.4195617568583534, 2.0226278667625928],
            [-1.4194171410493057, 2.0217168625422777],
        ],
    );
}

#[test]
fn schedule_free_adamw_matches_the_reference_implementation_on_rosenbrock() {
    assert_trajectory(
        parse(serde_json::json!({
            "name": "schedule_free_adamw", "lr": 0.05, "weight_decay": 0.01, "warmup_steps": 2
        })),
        &[
            [-1.4749881415097787, 2.024984188453585],
            [-1.442005847236124, 2.0577850560959177],
            [-1.4348176113042008, 2.0637598714145886],
            [-1.4322041359943998, 2.0646148608553316],
            [-1.431750599498926, 2.0629332095716717],
        ],
    );
}

#[test]
fn lookahead_names_inner_fields_in_its_errors() {
    let config = parse(serde_json::json!({
        "name": "lookahead", "inner": {"name": "adam", "betas": [0.9, 1.0]}
    }));
    assert_eq!(
        config.validate().unwrap_err().field,
        "optimizer.inner.betas[1]"
    );
}

#[test]
fn torch_rejections_name_the_offending_field() {
    let cases = [
        (
            serde_json::json!({"name": "adam", "lr": -1.0}),
            "optimizer.lr",
        ),
        (
            serde_json::json!({"name": "adamw", "betas": [1.0, 0.999]}),
            "optimizer.betas[0]",
        ),
        (
            serde_json::json!({"name": "nadam", "eps": -1e-8}),
            "optimizer.eps",
        ),
        (
            serde_json::json!({"name": "sgd", "nesterov": true}),
            "optimizer.nesterov",
        ),
        (
            serde_json::json!({"name": "rprop", "etas": [1.5, 1.2]}),
            "optimizer.etas[0]",
        ),
        (
            serde_json::json!({"name": "adadelta", "rho": 1.5}),
            "optimizer.rho",
        ),
        (
            serde_json::json!({"name": "lbfgs", "history_size": 0}),
            "optimizer.history_size",
        ),
        (
            serde_json::json!({"name": "rmsprop", "alpha": -0.1}),
            "optimizer.alpha",
        ),
    ];
    for (json, field) in cases {
        let config = parse(json.clone());
        assert_eq!(config.validate().unwrap_err().field, field, "{json}");
    }
}

#[test]
fn unknown_hyperparameters_are_rejected() {
    let err =
        serde_json::from_value::<OptimizerConfig>(serde_json::json!({"name": "adam", "beta": 0.9}))
            .unwrap_err();
    assert!(err.to_string().contains("beta"), "{err}");
}

#[test]
fn every_optimizer_state_round_trips_through_json() {
    for entry in catalogue() {
        let mut request = serde_json::Map::new();
        request.insert("name".into(), entry.name.into());
        for h in entry.hyperparameters.iter().filter(|h| h.required) {
            request.insert(h.name.into(), h.example.clone().unwrap());
        }
        let config: OptimizerConfig = serde_json::from_value(request.into()).unwrap();
        let mut a = config.build(2);
        let mut objective = Rosenbrock { dim: 2 };
        let mut x = [-1.5, 2.0];
        let mut g = [0.0; 2];
        let loss = objective.value_and_grad(&x, &mut g);
        a.step(
            &mut x,
            StepContext {
                loss,
                grad: &g,
                lr: 1e-3,
                objective: &mut objective,
            },
        );
        let mut b = config.build(2);
        b.load_state(&a.state())
            .unwrap_or_else(|e| panic!("{}: {e}", entry.name));
        assert_eq!(a.state(), b.state(), "{}", entry.name);
    }
}

#[test]
fn lbfgs_with_torch_defaults_and_strong_wolfe_solves_rosenbrock_in_a_few_steps() {
    let config = parse(serde_json::json!({"name": "lbfgs", "line_search_fn": "strong_wolfe"}));
    config.validate().unwrap();
    let mut exec = Executor::new(
        Box::new(Rosenbrock { dim: 2 }),
        config.build(2),
        Box::new(Constant::new(1.0)),
        StopRule {
            max_steps: 10,
            grad_tol: Some(1e-7),
            ..Default::default()
        },
    );
    let outcome = exec.run(&[-1.5, 2.0], &mut |_: &StepRecord<'_>| true);
    // torch stops a step once f changes by less than tolerance_change = 1e-9.
    assert!(
        outcome.final_loss < 1e-8,
        "final loss {}",
        outcome.final_loss
    );
    // Each step may use max_eval = max_iter·5/4 = 25 evaluations beyond the caller's.
    assert!(outcome.evaluations <= 1 + 10 * 25);
}

#[test]
fn lbfgs_without_line_search_takes_fixed_steps_and_counts_its_evaluations() {
    // On f = ½‖x‖² the first direction is −g with t = min(1, 1/‖g‖₁)·lr; with max_iter 3 the
    // step re-evaluates after the first two iterations only (torch skips the last one).
    let config = parse(serde_json::json!({"name": "lbfgs", "max_iter": 3, "lr": 0.5}));
    let half_sq = crate::problem::FnObjective::new(2, |x: &[f64], g: &mut [f64]| {
        g.copy_from_slice(x);
        0.5 * (x[0] * x[0] + x[1] * x[1])
    });
    let mut exec = Executor::new(
        Box::new(half_sq),
        config.build(2),
        Box::new(Constant::new(0.5)),
        StopRule {
            max_steps: 1,
            ..Default::default()
        },
    );
    let outcome = exec.run(&[0.25, 0.25], &mut |_: &StepRecord<'_>| true);
    // x0 evaluation + 2 re-evaluations inside the step + the final record's evaluation.
    assert_eq!(outcome.evaluations, 4);
    assert!(outcome.final_loss < 0.5 * 2.0 * 0.0625);
}

#[test]
fn maximize_climbs_instead_of_descending() {
    let bump = |x: &[f64], g: &mut [f64]| {
        g[0] = -2.0 * x[0];
        -x[0] * x[0]
    };
    for json in [
        serde_json::json!({"name": "sgd", "lr": 0.1, "maximize": true}),
        serde_json::json!({"name": "adam", "lr": 0.1, "maximize": true}),
        serde_json::json!({"name": "lbfgs", "maximize": true, "line_search_fn": "strong_wolfe"}),
        serde_json::json!({"name": "gd_armijo", "maximize": true}),
        serde_json::json!({"name": "lion", "lr": 0.1, "maximize": true}),
    ] {
        let config = parse(json.clone());
        let mut exec = Executor::new(
            Box::new(crate::problem::FnObjective::new(1, bump)),
            config.build(1),
            Box::new(Constant::new(config.lr())),
            StopRule {
                max_steps: 30,
                ..Default::default()
            },
        );
        let outcome = exec.run(&[1.0], &mut |_: &StepRecord<'_>| true);
        assert!(
            outcome.final_loss > -0.5,
            "{json}: final {}",
            outcome.final_loss
        );
    }
}
