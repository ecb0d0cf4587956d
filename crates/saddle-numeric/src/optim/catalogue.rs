//! The optimizer catalogue for `GET /v1/optimizers`.

use serde_json::json;

use crate::catalogue::{opt, req, CatalogueEntry, Hyperparameter};

fn lr(default: f64) -> Hyperparameter {
    opt(
        "lr",
        "number",
        json!(default),
        ">= 0",
        "Learning rate (the schedule's base).",
    )
}

fn betas(b1: f64, b2: f64, meaning: &'static str) -> Hyperparameter {
    opt(
        "betas",
        "[number, number]",
        json!([b1, b2]),
        "each in [0, 1)",
        meaning,
    )
}

fn eps(default: f64, meaning: &'static str) -> Hyperparameter {
    opt("eps", "number", json!(default), ">= 0", meaning)
}

fn weight_decay(default: f64, meaning: &'static str) -> Hyperparameter {
    opt("weight_decay", "number", json!(default), ">= 0", meaning)
}

fn maximize() -> Hyperparameter {
    opt(
        "maximize",
        "boolean",
        json!(false),
        "",
        "Maximize the objective instead of minimizing it.",
    )
}

fn decoupled(default: bool) -> Hyperparameter {
    opt(
        "decoupled_weight_decay",
        "boolean",
        json!(default),
        "",
        "Apply weight decay as x <- x(1 - lr wd) (AdamW style) instead of adding wd x to g.",
    )
}

const COUPLED: &str = "L2 penalty added to the gradient: g <- g + wd x.";
const ADAM_BETAS: &str = "Decay rates of the running averages of g and g^2.";

/// Every optimizer this build offers, with its hyperparameters.
pub fn catalogue() -> Vec<CatalogueEntry> {
    vec![
        CatalogueEntry {
            name: "sgd",
            description: "Gradient descent with optional (Nesterov) momentum, dampening and weight decay.",
            reference: "torch.optim.SGD; Sutskever et al., ICML 2013 (momentum)",
            hyperparameters: vec![
                lr(1e-3),
                opt("momentum", "number", json!(0.0), ">= 0", "Momentum factor mu."),
                opt("dampening", "number", json!(0.0), "finite; 0 with nesterov", "Dampening of the momentum update."),
                weight_decay(0.0, COUPLED),
                opt("nesterov", "boolean", json!(false), "needs momentum > 0, dampening 0", "Use Nesterov momentum."),
                maximize(),
            ],
        },
        CatalogueEntry {
            name: "adam",
            description: "Adam: bias-corrected running averages of g and g^2; AMSGrad optional.",
            reference: "torch.optim.Adam; Kingma & Ba, ICLR 2015; Reddi et al., ICLR 2018 (AMSGrad)",
            hyperparameters: vec![
                lr(1e-3),
                betas(0.9, 0.999, ADAM_BETAS),
                eps(1e-8, "Added to the denominator after bias correction."),
                weight_decay(0.0, "L2 penalty: coupled, or decoupled with decoupled_weight_decay."),
                opt("amsgrad", "boolean", json!(false), "", "Use the maximum of past second moments."),
                maximize(),
                decoupled(false),
            ],
        },
        CatalogueEntry {
            name: "adamw",
            description: "Adam with decoupled weight decay.",
            reference: "torch.optim.AdamW; Loshchilov & Hutter, ICLR 2019",
            hyperparameters: vec![
                lr(1e-3),
                betas(0.9, 0.999, ADAM_BETAS),
                eps(1e-8, "Added to the denominator after bias correction."),
                weight_decay(1e-2, "Decoupled decay: x <- x(1 - lr wd) before the update."),
                opt("amsgrad", "boolean", json!(false), "", "Use the maximum of past second moments."),
                maximize(),
                opt(
                    "decoupled_weight_decay",
                    "boolean",
                    json!(true),
                    "true",
                    "Always true for AdamW; accepted so torch param groups carry over.",
                ),
            ],
        },
        CatalogueEntry {
            name: "adagrad",
            description: "Adagrad: per-coordinate steps scaled by the root of the summed squared gradients.",
            reference: "torch.optim.Adagrad; Duchi, Hazan & Singer, JMLR 2011",
            hyperparameters: vec![
                lr(1e-2),
                opt("lr_decay", "number", json!(0.0), ">= 0", "Step t uses lr/(1 + (t-1) lr_decay)."),
                weight_decay(0.0, COUPLED),
                opt("initial_accumulator_value", "number", json!(0.0), ">= 0", "Starting value of the sum of g^2."),
                eps(1e-10, "Added to the denominator."),
                maximize(),
            ],
        },
        CatalogueEntry {
            name: "rmsprop",
            description: "RMSprop: steps scaled by a running RMS of g; centered and momentum variants.",
            reference: "torch.optim.RMSprop; Hinton, Coursera lecture 6.5, 2012; Graves 2013 (centered)",
            hyperparameters: vec![
                lr(1e-2),
                opt("alpha", "number", json!(0.99), ">= 0", "Smoothing constant of the running g^2."),
                eps(1e-8, "Added to the denominator."),
                weight_decay(0.0, COUPLED),
                opt("momentum", "number", json!(0.0), ">= 0", "Momentum factor."),
                opt("centered", "boolean", json!(false), "", "Normalize by the estimated variance of g."),
                maximize(),
            ],
        },
        CatalogueEntry {
            name: "adadelta",
            description: "Adadelta: steps from the ratio of running RMS of updates and of gradients.",
            reference: "torch.optim.Adadelta; Zeiler 2012",
            hyperparameters: vec![
                lr(1.0),
                opt("rho", "number", json!(0.9), "[0, 1]", "Decay of the running averages."),
                eps(1e-6, "Added inside the square roots."),
                weight_decay(0.0, COUPLED),
                maximize(),
            ],
        },
        CatalogueEntry {
            name: "adamax",
            description: "Adamax: Adam with an exponentially weighted infinity norm.",
            reference: "torch.optim.Adamax; Kingma & Ba, ICLR 2015, section 7",
            hyperparameters: vec![
                lr(2e-3),
                betas(0.9, 0.999, "Decay rates of the running average of g and of the infinity norm."),
                eps(1e-8, "Added to |g| in the infinity norm."),
                weight_decay(0.0, COUPLED),
                maximize(),
            ],
        },
        CatalogueEntry {
            name: "nadam",
            description: "NAdam: Adam with Nesterov momentum and a momentum-decay schedule.",
            reference: "torch.optim.NAdam; Dozat, ICLR 2016 workshop",
            hyperparameters: vec![
                lr(2e-3),
                betas(0.9, 0.999, ADAM_BETAS),
                eps(1e-8, "Added to the denominator."),
                weight_decay(0.0, "L2 penalty: coupled, or decoupled with decoupled_weight_decay."),
                opt("momentum_decay", "number", json!(4e-3), ">= 0", "psi of mu_t = beta1 (1 - 0.5 * 0.96^(t psi))."),
                decoupled(false),
                maximize(),
            ],
        },
        CatalogueEntry {
            name: "radam",
            description: "RAdam: Adam with a rectified (variance-corrected) adaptive lr, SGD-like early on.",
            reference: "torch.optim.RAdam; Liu et al., ICLR 2020",
            hyperparameters: vec![
                lr(1e-3),
                betas(0.9, 0.999, ADAM_BETAS),
                eps(1e-8, "Added to sqrt(v) before the bias correction."),
                weight_decay(0.0, "L2 penalty: coupled, or decoupled with decoupled_weight_decay."),
                decoupled(false),
                maximize(),
            ],
        },
        CatalogueEntry {
            name: "rprop",
            description: "Rprop: per-coordinate step sizes grown or shrunk by the sign agreement of g.",
            reference: "torch.optim.Rprop; Riedmiller & Braun, ICNN 1993",
            hyperparameters: vec![
                opt("lr", "number", json!(1e-2), ">= 0", "Initial step size of every coordinate."),
                opt("etas", "[number, number]", json!([0.5, 1.2]), "0 < etaminus < 1 < etaplus", "Step-size factors on a sign change and on a kept sign."),
                opt("step_sizes", "[number, number]", json!([1e-6, 50.0]), "0 <= min <= max", "Bounds of the step sizes."),
                maximize(),
            ],
        },
        CatalogueEntry {
            name: "asgd",
            description: "Averaged SGD: SGD with a decaying step and a Polyak average of the iterates.",
            reference: "torch.optim.ASGD; Polyak & Juditsky, SIAM J. Control Optim. 1992",
            hyperparameters: vec![
                lr(1e-2),
                opt("lambd", "number", json!(1e-4), ">= 0", "Decay term lambda."),
                opt("alpha", "number", json!(0.75), ">= 0", "Power of the eta update."),
                opt("t0", "number", json!(1e6), ">= 0", "Step at which averaging starts."),
                weight_decay(0.0, COUPLED),
                maximize(),
            ],
        },
        CatalogueEntry {
            name: "lbfgs",
            description: "L-BFGS with torch's strong Wolfe line search; one step is one torch step(closure) call.",
            reference: "torch.optim.LBFGS; Liu & Nocedal, Math. Programming 1989",
            hyperparameters: vec![
                opt("lr", "number", json!(1.0), ">= 0", "Step length factor."),
                opt("max_iter", "integer", json!(20), ">= 1", "L-BFGS iterations per step."),
                opt("max_eval", "integer | null", json!(null), ">= 1", "Evaluations per step at most; null: max_iter*5//4."),
                opt("tolerance_grad", "number", json!(1e-7), ">= 0", "Stop when max|g| <= tolerance_grad."),
                opt("tolerance_change", "number", json!(1e-9), ">= 0", "Stop on smaller changes of f or x."),
                opt("history_size", "integer", json!(100), ">= 1", "Curvature pairs kept."),
                opt("line_search_fn", "string | null", json!(null), "strong_wolfe | null", "Line search; null takes fixed steps of lr."),
                maximize(),
            ],
        },
        CatalogueEntry {
            name: "lion",
            description: "Lion: the sign of an interpolated momentum, with decoupled weight decay.",
            reference: "Chen et al., Symbolic Discovery of Optimization Algorithms, NeurIPS 2023",
            hyperparameters: vec![
                lr(1e-4),
                betas(0.9, 0.99, "Interpolation for the update sign, and momentum decay."),
                weight_decay(0.0, "Decoupled decay: x <- x(1 - lr wd)."),
                maximize(),
            ],
        },
        CatalogueEntry {
            name: "adabelief",
            description: "AdaBelief: Adam whose second moment tracks (g - m)^2, the belief in g.",
            reference: "Zhuang et al., AdaBelief Optimizer, NeurIPS 2020",
            hyperparameters: vec![
                lr(1e-3),
                betas(0.9, 0.999, "Decay rates of the running averages of g and (g - m)^2."),
                eps(1e-16, "Added to s every step and to the denominator."),
                weight_decay(0.0, "L2 penalty: decoupled unless decoupled_weight_decay is false."),
                decoupled(true),
                maximize(),
            ],
        },
        CatalogueEntry {
            name: "yogi",
            description: "Yogi: Adam with an additive second-moment update that cannot blow up.",
            reference: "Zaheer et al., Adaptive Methods for Nonconvex Optimization, NeurIPS 2018",
            hyperparameters: vec![
                lr(1e-2),
                betas(0.9, 0.999, ADAM_BETAS),
                eps(1e-3, "Added to the denominator."),
                opt("initial_accumulator_value", "number", json!(1e-6), ">= 0", "Starting value v0 of the second moment."),
                weight_decay(0.0, COUPLED),
                maximize(),
            ],
        },
        CatalogueEntry {
            name: "lamb",
            description: "LAMB: Adam direction plus decay, rescaled by the trust ratio ||x||/||r||.",
            reference: "You et al., Large Batch Optimization for Deep Learning, ICLR 2020",
            hyperparameters: vec![
                lr(1e-3),
                betas(0.9, 0.999, ADAM_BETAS),
                eps(1e-6, "Added to the denominator."),
                weight_decay(0.0, "lambda of the decay term added to the direction."),
                maximize(),
            ],
        },
        CatalogueEntry {
            name: "lookahead",
            description: "Lookahead: k fast steps of an inner optimizer, then one slow step back.",
            reference: "Zhang, Lucas, Hinton & Ba, Lookahead Optimizer, NeurIPS 2019",
            hyperparameters: vec![
                opt("k", "integer", json!(5), ">= 1", "Fast steps between synchronizations."),
                opt("alpha", "number", json!(0.5), "[0, 1]", "Slow-weight step size."),
                req("inner", "optimizer", json!({"name": "adam", "lr": 0.001}), "any optimizer", "The inner optimizer; its lr is the run's lr."),
            ],
        },
        CatalogueEntry {
            name: "gd_armijo",
            description: "Gradient descent with a backtracking Armijo line search.",
            reference: "Armijo, Pacific J. Math. 1966; Nocedal & Wright, Numerical Optimization, Alg. 3.1",
            hyperparameters: vec![
                opt("lr", "number", json!(1.0), "> 0", "First trial step length of every step."),
                opt("c1", "number", json!(1e-4), "(0, 1)", "Sufficient-decrease constant."),
                opt("shrink", "number", json!(0.5), "(0, 1)", "Factor applied to the step after a rejected trial."),
                opt("max_backtracks", "integer", json!(50), ">= 1", "Trials per step at most; none accepted leaves x."),
                maximize(),
            ],
        },
        CatalogueEntry {
            name: "schedule_free_sgd",
            description: "Schedule-Free SGD: interpolates an online average with the SGD iterate, no lr schedule needed.",
            reference: "Defazio et al., The Road Less Scheduled, NeurIPS 2024 (SGDScheduleFreeReference)",
            hyperparameters: vec![
                lr(1.0),
                opt("momentum", "number", json!(0.9), "(0, 1)", "Interpolation between the average x and the iterate z."),
                weight_decay(0.0, "L2 penalty evaluated at y and added to g."),
                opt("warmup_steps", "integer", json!(0), ">= 0", "Steps of linear lr warmup."),
                opt("r", "number", json!(0.0), ">= 0", "Polynomial weighting power of the average."),
                opt("weight_lr_power", "number", json!(2.0), ">= 0", "Average weights lr_max^weight_lr_power."),
            ],
        },
        CatalogueEntry {
            name: "schedule_free_adamw",
            description: "Schedule-Free AdamW: the schedule-free average around an Adam-preconditioned iterate.",
            reference: "Defazio et al., The Road Less Scheduled, NeurIPS 2024 (AdamWScheduleFreeReference)",
            hyperparameters: vec![
                lr(0.0025),
                betas(0.9, 0.999, "beta1 interpolates y between x and z; beta2 decays g^2."),
                eps(1e-8, "Added to sqrt(v)."),
                weight_decay(0.0, "Decoupled decay applied to z."),
                opt("warmup_steps", "integer", json!(0), ">= 0", "Steps of linear lr warmup."),
                opt("r", "number", json!(0.0), ">= 0", "Polynomial weighting power of the average."),
                opt("weight_lr_power", "number", json!(2.0), ">= 0", "Average weights lr_max^weight_lr_power."),
                opt("decay_at_z", "boolean", json!(false), "", "Compute the weight decay at z instead of y."),
            ],
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::check_entry;
    use crate::optim::OptimizerConfig;

    #[test]
    fn every_optimizer_in_the_catalogue_matches_its_config_struct() {
        let entries = catalogue();
        for entry in &entries {
            check_entry::<OptimizerConfig>(entry);
        }
        let mut names: Vec<&str> = entries.iter().map(|e| e.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), 20, "one entry per OptimizerConfig variant");
    }

    #[test]
    fn every_catalogue_entry_names_an_optimizer_that_builds() {
        for entry in catalogue() {
            let mut request = serde_json::Map::new();
            request.insert("name".into(), entry.name.into());
            for h in entry.hyperparameters.iter().filter(|h| h.required) {
                request.insert(h.name.into(), h.example.clone().unwrap());
            }
            let config: OptimizerConfig = serde_json::from_value(request.into()).unwrap();
            config.validate().unwrap();
            assert_eq!(config.name(), entry.name);
        }
    }
}
