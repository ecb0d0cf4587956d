//! The schedule catalogue for `GET /v1/schedules`.

use serde_json::json;

use crate::catalogue::{opt, req, CatalogueEntry};

/// Every schedule this build offers, with its parameters.
pub fn catalogue() -> Vec<CatalogueEntry> {
    vec![
        CatalogueEntry {
            name: "constant",
            description: "The optimizer's lr at every step.",
            reference: "torch.optim.lr_scheduler.ConstantLR with factor 1",
            hyperparameters: vec![],
        },
        CatalogueEntry {
            name: "step",
            description: "Multiply the lr by gamma every step_size steps.",
            reference: "torch.optim.lr_scheduler.StepLR",
            hyperparameters: vec![
                req("step_size", "integer", json!(30), ">= 1", "Steps between decays."),
                opt("gamma", "number", json!(0.1), ">= 0", "Decay factor."),
            ],
        },
        CatalogueEntry {
            name: "multistep",
            description: "Multiply the lr by gamma at each milestone step.",
            reference: "torch.optim.lr_scheduler.MultiStepLR",
            hyperparameters: vec![
                req("milestones", "[integer]", json!([30, 80]), "non-decreasing", "Steps at which the lr decays."),
                opt("gamma", "number", json!(0.1), ">= 0", "Decay factor."),
            ],
        },
        CatalogueEntry {
            name: "exponential",
            description: "Multiply the lr by gamma every step.",
            reference: "torch.optim.lr_scheduler.ExponentialLR",
            hyperparameters: vec![req("gamma", "number", json!(0.99), ">= 0", "Decay factor per step.")],
        },
        CatalogueEntry {
            name: "cosine",
            description: "Cosine annealing from the lr to eta_min over t_max steps (and back).",
            reference: "torch.optim.lr_scheduler.CosineAnnealingLR; Loshchilov & Hutter, SGDR, ICLR 2017",
            hyperparameters: vec![
                req("t_max", "integer", json!(1000), ">= 1", "Half-period in steps."),
                opt("eta_min", "number", json!(0.0), ">= 0", "The lowest lr."),
            ],
        },
        CatalogueEntry {
            name: "cosine_warm_restarts",
            description: "Cosine annealing that restarts at the lr, each period t_mult times longer.",
            reference: "torch.optim.lr_scheduler.CosineAnnealingWarmRestarts; Loshchilov & Hutter, SGDR, ICLR 2017",
            hyperparameters: vec![
                req("t_0", "integer", json!(100), ">= 1", "Length of the first period."),
                opt("t_mult", "integer", json!(1), ">= 1", "Growth factor of the period."),
                opt("eta_min", "number", json!(0.0), ">= 0", "The lowest lr."),
            ],
        },
        CatalogueEntry {
            name: "linear",
            description: "Ramp the lr factor linearly from start_factor to end_factor over total_iters steps.",
            reference: "torch.optim.lr_scheduler.LinearLR",
            hyperparameters: vec![
                opt("start_factor", "number", json!(1.0 / 3.0), "(0, 1]", "Factor at step 0."),
                opt("end_factor", "number", json!(1.0), "[0, 1]", "Factor from total_iters on."),
                opt("total_iters", "integer", json!(5), ">= 1", "Length of the ramp."),
            ],
        },
        CatalogueEntry {
            name: "one_cycle",
            description: "One cycle: lr up to max_lr and down far below, momentum the other way.",
            reference: "torch.optim.lr_scheduler.OneCycleLR; Smith & Topin, Super-Convergence, 2018",
            hyperparameters: vec![
                req("max_lr", "number", json!(0.1), "> 0", "The peak lr."),
                opt("total_steps", "integer | null", json!(null), ">= 1", "Cycle length; null: epochs·steps_per_epoch or the run's max_steps."),
                opt("epochs", "integer | null", json!(null), ">= 1", "With steps_per_epoch, gives total_steps."),
                opt("steps_per_epoch", "integer | null", json!(null), ">= 1", "With epochs, gives total_steps."),
                opt("pct_start", "number", json!(0.3), "[0, 1]", "Fraction of the cycle spent increasing the lr."),
                opt("anneal_strategy", "string", json!("cos"), "cos | linear", "Annealing shape."),
                opt("cycle_momentum", "boolean", json!(true), "", "Cycle momentum / beta1 inversely to the lr."),
                opt("base_momentum", "number", json!(0.85), ">= 0", "Momentum at the peak lr."),
                opt("max_momentum", "number", json!(0.95), ">= 0", "Momentum at the lowest lr."),
                opt("div_factor", "number", json!(25.0), "> 0", "Initial lr = max_lr/div_factor."),
                opt("final_div_factor", "number", json!(1e4), "> 0", "Final lr = initial lr/final_div_factor."),
                opt("three_phase", "boolean", json!(false), "", "Use a symmetric cycle followed by a final annealing phase."),
            ],
        },
        CatalogueEntry {
            name: "cyclic",
            description: "Triangular cycles between base_lr and max_lr (replaces the optimizer's lr).",
            reference: "torch.optim.lr_scheduler.CyclicLR; Smith, Cyclical Learning Rates, WACV 2017",
            hyperparameters: vec![
                req("base_lr", "number", json!(0.001), ">= 0", "Lower lr of the cycle."),
                req("max_lr", "number", json!(0.01), ">= 0", "Upper lr of the cycle."),
                opt("step_size_up", "integer", json!(2000), ">= 1", "Steps from base_lr up to max_lr."),
                opt("step_size_down", "integer | null", json!(null), ">= 1", "Steps back down; null: step_size_up."),
                opt("mode", "string", json!("triangular"), "triangular | triangular2 | exp_range", "Amplitude policy."),
                opt("gamma", "number", json!(1.0), ">= 0", "Decay of exp_range: gamma^step."),
                opt("cycle_momentum", "boolean", json!(true), "", "Cycle momentum / beta1 inversely to the lr."),
                opt("base_momentum", "number", json!(0.8), ">= 0", "Momentum at the peak lr."),
                opt("max_momentum", "number", json!(0.9), ">= 0", "Momentum at base_lr."),
            ],
        },
        CatalogueEntry {
            name: "polynomial",
            description: "Decay the lr to 0 as (1 - k/total_iters)^power.",
            reference: "torch.optim.lr_scheduler.PolynomialLR",
            hyperparameters: vec![
                opt("total_iters", "integer", json!(5), ">= 1", "Steps until the lr reaches 0."),
                opt("power", "number", json!(1.0), ">= 0", "Power of the decay."),
            ],
        },
        CatalogueEntry {
            name: "reduce_on_plateau",
            description: "Multiply the lr by factor when the loss has not improved for patience steps.",
            reference: "torch.optim.lr_scheduler.ReduceLROnPlateau",
            hyperparameters: vec![
                opt("mode", "string", json!("min"), "min | max", "Whether improvement is a lower or higher loss."),
                opt("factor", "number", json!(0.1), "[0, 1)", "Factor applied on a plateau."),
                opt("patience", "integer", json!(10), ">= 0", "Bad steps tolerated before a cut."),
                opt("threshold", "number", json!(1e-4), ">= 0", "Least change that counts as an improvement."),
                opt("threshold_mode", "string", json!("rel"), "rel | abs", "Relative or absolute threshold."),
                opt("cooldown", "integer", json!(0), ">= 0", "Steps to wait after a cut."),
                opt("min_lr", "number", json!(0.0), ">= 0", "Lower bound of the lr."),
                opt("eps", "number", json!(1e-8), ">= 0", "Cuts smaller than this are skipped."),
            ],
        },
        CatalogueEntry {
            name: "sequential",
            description: "Run schedules one after another, switching at the milestones.",
            reference: "torch.optim.lr_scheduler.SequentialLR",
            hyperparameters: vec![
                req("schedulers", "[schedule]", json!([{"name": "linear", "start_factor": 0.1, "total_iters": 10}, {"name": "cosine", "t_max": 90}]), "at least one", "The schedules in order."),
                req("milestones", "[integer]", json!([10]), "strictly increasing, one fewer than schedulers", "Steps at which the next schedule takes over."),
            ],
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::check_entry;
    use crate::schedule::{ScheduleBase, ScheduleConfig};

    #[test]
    fn every_schedule_in_the_catalogue_matches_its_config_struct() {
        let entries = catalogue();
        for entry in &entries {
            check_entry::<ScheduleConfig>(entry);
        }
        let names: Vec<&str> = entries.iter().map(|e| e.name).collect();
        let mut unique = names.clone();
        unique.dedup();
        assert_eq!(names, unique);
        assert_eq!(names.len(), 12, "one entry per ScheduleConfig variant");
    }

    #[test]
    fn every_catalogue_example_builds_a_valid_schedule() {
        let base = ScheduleBase {
            lr: 0.01,
            total_steps: 100,
        };
        for entry in catalogue() {
            let mut request = serde_json::Map::new();
            request.insert("name".into(), entry.name.into());
            for h in entry.hyperparameters.iter().filter(|h| h.required) {
                request.insert(h.name.into(), h.example.clone().unwrap());
            }
            let config: ScheduleConfig =
                serde_json::from_value(serde_json::Value::Object(request)).unwrap();
            config.validate(base).unwrap();
            assert_eq!(config.name(), entry.name);
            assert!(config.build(base).lr().is_finite());
        }
    }
}
