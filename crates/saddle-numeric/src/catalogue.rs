//! Self-descriptions of the optimizers and schedules for `GET /v1/optimizers` and
//! `GET /v1/schedules`: what each is, where it comes from and every hyperparameter.
//!
//! The entries are checked against the configuration structs by tests (every field listed,
//! every default equal to what serde fills in), so the catalogue cannot drift from the code.

use serde::Serialize;
use serde_json::Value;

/// One optimizer or schedule as the API lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({"name": "step", "description": "Multiply the lr by gamma every step_size steps.", "reference": "torch.optim.lr_scheduler.StepLR", "hyperparameters": [{"name": "step_size", "type": "integer", "default": null, "required": true, "range": ">= 1", "description": "Steps between decays.", "example": 30}]})))]
pub struct CatalogueEntry {
    /// The `name` to put in a request.
    pub name: &'static str,
    /// One line on what it does.
    pub description: &'static str,
    /// The paper or torch documentation it follows.
    pub reference: &'static str,
    /// Every parameter the configuration accepts.
    pub hyperparameters: Vec<Hyperparameter>,
}

/// One hyperparameter of an optimizer or schedule.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({"name": "lr", "type": "number", "default": 0.001, "required": false, "range": ">= 0", "description": "Learning rate (the schedule's base)."})))]
pub struct Hyperparameter {
    /// The field name in the request (torch's name, lower-cased).
    pub name: &'static str,
    /// JSON type: `number`, `integer`, `boolean`, `string`, `[number, number]`, …
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The value used when the field is omitted (null when required or when null is the
    /// default).
    pub default: Value,
    /// Whether a request must give it.
    pub required: bool,
    /// The accepted values, e.g. `>= 0` or `[0, 1)`.
    pub range: &'static str,
    /// What it means.
    pub description: &'static str,
    /// A typical value, for required parameters.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub example: Option<Value>,
}

/// An optional hyperparameter with its default.
pub(crate) fn opt(
    name: &'static str,
    kind: &'static str,
    default: Value,
    range: &'static str,
    description: &'static str,
) -> Hyperparameter {
    Hyperparameter {
        name,
        kind,
        default,
        required: false,
        range,
        description,
        example: None,
    }
}

/// A required hyperparameter with a typical value.
pub(crate) fn req(
    name: &'static str,
    kind: &'static str,
    example: Value,
    range: &'static str,
    description: &'static str,
) -> Hyperparameter {
    Hyperparameter {
        name,
        kind,
        default: Value::Null,
        required: true,
        range,
        description,
        example: Some(example),
    }
}

/// Checks an entry against its configuration type: a request built from the entry's
/// defaults and examples must deserialize, and serializing it back must give exactly the
/// listed fields with the listed defaults. Used by the catalogue tests.
#[cfg(test)]
pub(crate) fn check_entry<T>(entry: &CatalogueEntry)
where
    T: serde::de::DeserializeOwned + Serialize,
{
    let mut request = serde_json::Map::new();
    request.insert("name".into(), Value::from(entry.name));
    for h in &entry.hyperparameters {
        let v = if h.required {
            h.example
                .clone()
                .expect("required parameters have an example")
        } else {
            h.default.clone()
        };
        request.insert(h.name.into(), v);
    }
    let parsed: T = serde_json::from_value(Value::Object(request.clone()))
        .unwrap_or_else(|e| panic!("{}: catalogue defaults do not parse: {e}", entry.name));
    let back = serde_json::to_value(&parsed).unwrap();
    let back = back.as_object().unwrap();
    for (k, v) in back {
        if k == "name" {
            continue;
        }
        let h = entry
            .hyperparameters
            .iter()
            .find(|h| h.name == k)
            .unwrap_or_else(|| panic!("{}: field `{k}` is missing from the catalogue", entry.name));
        if !h.required {
            assert_eq!(&h.default, v, "{}: default of `{k}` differs", entry.name);
        }
    }
    // Omitting every optional field must give the same defaults.
    let mut minimal = serde_json::Map::new();
    minimal.insert("name".into(), Value::from(entry.name));
    for h in entry.hyperparameters.iter().filter(|h| h.required) {
        minimal.insert(h.name.into(), h.example.clone().unwrap());
    }
    let parsed: T = serde_json::from_value(Value::Object(minimal))
        .unwrap_or_else(|e| panic!("{}: only the required fields do not parse: {e}", entry.name));
    let defaults = serde_json::to_value(&parsed).unwrap();
    for h in entry.hyperparameters.iter().filter(|h| !h.required) {
        let got = defaults.get(h.name).cloned().unwrap_or(Value::Null);
        assert_eq!(
            got, h.default,
            "{}: serde default of `{}` differs",
            entry.name, h.name
        );
    }
}

#[cfg(all(test, feature = "openapi"))]
mod openapi_tests {
    use utoipa::{PartialSchema, ToSchema};

    #[test]
    fn the_recursive_configs_and_catalogue_types_produce_openapi_schemas() {
        let mut schemas = Vec::new();
        crate::optim::OptimizerConfig::schemas(&mut schemas);
        crate::schedule::ScheduleConfig::schemas(&mut schemas);
        let optimizer = serde_json::to_value(crate::optim::OptimizerConfig::schema()).unwrap();
        assert!(optimizer.to_string().contains("lookahead"));
        let schedule = serde_json::to_value(crate::schedule::ScheduleConfig::schema()).unwrap();
        assert!(schedule.to_string().contains("reduce_on_plateau"));
        let entry = serde_json::to_value(super::CatalogueEntry::schema()).unwrap();
        assert!(entry.to_string().contains("hyperparameters"));
    }
}
