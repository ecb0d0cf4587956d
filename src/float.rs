//! JSON encoding of floats that may be NaN or infinite.
//!
//! JSON has no literal for them, so saddle writes finite numbers as numbers and the three
//! special values as the strings `"NaN"`, `"Infinity"` and `"-Infinity"` (the protobuf JSON
//! mapping's convention); it reads both forms back.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, Type};
use utoipa::openapi::RefOr;

/// An f64 that survives JSON even when it is NaN or ±∞.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Default)]
pub struct Float(pub f64);

impl From<f64> for Float {
    fn from(v: f64) -> Self {
        Float(v)
    }
}

impl Serialize for Float {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let v = self.0;
        if v.is_finite() {
            s.serialize_f64(v)
        } else if v.is_nan() {
            s.serialize_str("NaN")
        } else if v > 0.0 {
            s.serialize_str("Infinity")
        } else {
            s.serialize_str("-Infinity")
        }
    }
}

impl<'de> Deserialize<'de> for Float {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Repr {
            Number(f64),
            Text(String),
        }
        match Repr::deserialize(d)? {
            Repr::Number(v) => Ok(Float(v)),
            Repr::Text(t) => match t.as_str() {
                "NaN" => Ok(Float(f64::NAN)),
                "Infinity" => Ok(Float(f64::INFINITY)),
                "-Infinity" => Ok(Float(f64::NEG_INFINITY)),
                other => Err(serde::de::Error::custom(format!(
                    "expected a number, \"NaN\", \"Infinity\" or \"-Infinity\", got \"{other}\""
                ))),
            },
        }
    }
}

impl utoipa::PartialSchema for Float {
    fn schema() -> RefOr<Schema> {
        OneOfBuilder::new()
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::Number)
                    .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                        utoipa::openapi::KnownFormat::Double,
                    ))),
            )
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some(["NaN", "Infinity", "-Infinity"])),
            )
            .description(Some(
                "A float64; NaN and ±∞ are written as the strings \"NaN\", \"Infinity\", \"-Infinity\".",
            ))
            .examples([serde_json::json!(0.5)])
            .into()
    }
}

impl utoipa::ToSchema for Float {}

/// Converts a slice of f64 into `Float`s for serialization.
pub fn floats(v: &[f64]) -> Vec<Float> {
    v.iter().copied().map(Float).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_values_round_trip_through_json_as_strings() {
        let values = [
            Float(1.5),
            Float(f64::NAN),
            Float(f64::INFINITY),
            Float(f64::NEG_INFINITY),
        ];
        let text = serde_json::to_string(&values).unwrap();
        assert_eq!(text, r#"[1.5,"NaN","Infinity","-Infinity"]"#);
        let back: Vec<Float> = serde_json::from_str(&text).unwrap();
        assert_eq!(back[0].0, 1.5);
        assert!(back[1].0.is_nan());
        assert_eq!(back[2].0, f64::INFINITY);
        assert_eq!(back[3].0, f64::NEG_INFINITY);
    }
}
