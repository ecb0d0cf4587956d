//! Extractors whose rejections are problem+json like every other error, naming the field.

use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use axum::http::StatusCode;
use bytes::Bytes;
use serde::de::DeserializeOwned;

use crate::error::{ApiError, FieldError};

/// A JSON body. Syntax errors are 400s with the line and column; well-formed JSON that does not
/// fit the schema is a 422 naming the field (`optimizer.lr`).
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|mime| {
                let mime = mime.trim().to_ascii_lowercase();
                mime == "application/json" || mime.ends_with("+json")
            })
            .unwrap_or(false);
        if !is_json {
            return Err(ApiError::MalformedBody(
                "send the body as JSON with the header `Content-Type: application/json`".into(),
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(body_error)?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// The members that tag the API's unions (`optimizer.name`, `problem.kind`, …).
const TAG_MEMBERS: [&str; 2] = ["name", "kind"];

/// serde reads an integer tag as the index of a variant (`{"name": 0}` would be the first
/// optimizer): refuse integer tags before the typed parse. A byte scan finds bodies that may
/// hold one; only those are parsed a second time, to name the member.
fn reject_integer_tags(bytes: &[u8]) -> Result<(), ApiError> {
    let may_hold_one = TAG_MEMBERS.iter().any(|member| {
        let quoted = format!("\"{member}\"");
        bytes
            .windows(quoted.len())
            .enumerate()
            .filter(|(_, w)| *w == quoted.as_bytes())
            .any(|(at, _)| {
                let rest = bytes[at + quoted.len()..].trim_ascii_start();
                rest.strip_prefix(b":")
                    .map(|v| v.trim_ascii_start())
                    .and_then(|v| v.first())
                    .is_some_and(|b| b.is_ascii_digit() || *b == b'-')
            })
    });
    if !may_hold_one {
        return Ok(());
    }
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(bytes) else {
        return Ok(()); // the typed parse reports the syntax error
    };
    match integer_tag(&value, "") {
        Some(field) => Err(ApiError::invalid(
            field,
            "must be a string naming a variant (see /openapi.json), not a number",
        )),
        None => Ok(()),
    }
}

/// The path of the first tag member holding a number, if any.
fn integer_tag(value: &serde_json::Value, path: &str) -> Option<String> {
    let join = |key: &str| {
        if path.is_empty() {
            key.to_string()
        } else {
            format!("{path}.{key}")
        }
    };
    match value {
        serde_json::Value::Object(members) => members.iter().find_map(|(key, v)| {
            if TAG_MEMBERS.contains(&key.as_str()) && v.is_number() {
                Some(join(key))
            } else {
                integer_tag(v, &join(key))
            }
        }),
        serde_json::Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, v)| integer_tag(v, &format!("{path}[{i}]"))),
        _ => None,
    }
}

/// Deserializes `bytes`, reporting where it failed.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    reject_integer_tags(bytes)?;
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let parsed: Result<T, _> = serde_path_to_error::deserialize(&mut de);
    let value = parsed.map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            ApiError::MalformedBody(format!("the body is not valid JSON: {inner}"))
        } else {
            let field = if path == "." {
                "body".to_string()
            } else {
                path
            };
            ApiError::Validation(vec![FieldError::new(
                field,
                strip_position(&inner.to_string()),
            )])
        }
    })?;
    de.end().map_err(|e| {
        ApiError::MalformedBody(format!(
            "the body has trailing characters after the JSON value: {e}"
        ))
    })?;
    Ok(value)
}

/// serde_json appends " at line L column C" to data errors; the field path says more.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

fn body_error(rejection: BytesRejection) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::PayloadTooLarge(format!(
            "the request body is over this server's limit ({})",
            rejection.body_text()
        ))
    } else {
        ApiError::MalformedBody(rejection.body_text())
    }
}

/// Query parameters; an unusable one is a 400 that names it.
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(de)
            .map(ApiQuery)
            .map_err(|e| {
                let field = e.path().to_string();
                let message = e.into_inner().to_string();
                ApiError::bad_parameter(if field == "." { "query".into() } else { field }, message)
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_integer_tag_is_refused_with_its_path() {
        let body = br#"{"optimizer": {"name": "lookahead", "inner": {"name" : -0}}, "name": "x"}"#;
        match reject_integer_tags(body) {
            Err(ApiError::Validation(errors)) => {
                assert_eq!(errors[0].field, "optimizer.inner.name")
            }
            other => panic!("{other:?}"),
        }
        assert!(reject_integer_tags(br#"{"items": [{"kind": 3}]}"#).is_err());
        assert!(reject_integer_tags(br#"{"name": "adam", "lr": 0}"#).is_ok());
        // A number inside a string is not a tag.
        assert!(reject_integer_tags(br#"{"expression": "\"name\": 0"}"#).is_ok());
    }
}
