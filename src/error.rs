//! The API's error type: every 4xx/5xx leaves as RFC 9457 `application/problem+json`.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use saddle_numeric::expr::ExprError;
use saddle_numeric::InvalidConfig;

use crate::jobs::JobsError;
use crate::store::StoreError;

/// The `Retry-After` of a submission over the active-jobs quota: how long a job typically
/// takes is unknown, so a short, fixed wait that does not hammer the server.
const ACTIVE_JOBS_RETRY_SECONDS: u64 = 5;

/// One offending field of a request and what to do about it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({"field": "problem.expression", "message": "expected `)`, found the end of the expression at column 9",
                          "column": 9, "excerpt": "(1 - x^2\n        ^"}))]
pub struct FieldError {
    /// Dotted path of the field in the request (`optimizer.betas[1]`, `initial`, `page_token`).
    pub field: String,
    /// What is wrong and what would be accepted.
    pub message: String,
    /// For errors in an expression: the 1-based column (in characters) of the fault.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
    /// For errors in an expression: the text around the fault and a caret line under it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub excerpt: Option<String>,
}

impl FieldError {
    /// An error about `field`, not located in its text.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
            column: None,
            excerpt: None,
        }
    }
}

/// An RFC 9457 problem document.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({
    "type": "urn:saddle:problem:validation",
    "title": "The request is not valid",
    "status": 422,
    "detail": "optimizer.lr: must be a finite number >= 0, got -0.1",
    "errors": [{"field": "optimizer.lr", "message": "must be a finite number >= 0, got -0.1"}]
}))]
pub struct Problem {
    /// A URI naming the kind of problem.
    #[serde(rename = "type")]
    pub kind: String,
    /// A short summary of the kind of problem.
    pub title: String,
    /// The HTTP status code.
    #[schema(minimum = 400, maximum = 599)]
    pub status: u16,
    /// What went wrong in this case, and how to fix it.
    pub detail: String,
    /// For validation failures: every offending field.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// For a request over a limit (429): the limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
}

/// Everything a handler can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The body is not valid JSON or does not fit the schema (400).
    #[error("{0}")]
    MalformedBody(String),
    /// A well-formed request with invalid values (422).
    #[error("invalid request")]
    Validation(Vec<FieldError>),
    /// A query parameter or header is unusable (400).
    #[error("{message}")]
    BadParameter {
        /// The parameter's name.
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// No such resource (404).
    #[error("{0}")]
    NotFound(String),
    /// The resource is in a state that forbids the operation (409).
    #[error("{0}")]
    Conflict(String),
    /// The request asks for a representation the server cannot produce (406).
    #[error("{0}")]
    NotAcceptable(String),
    /// The body is over the configured limit (413).
    #[error("{0}")]
    PayloadTooLarge(String),
    /// No valid credentials: a missing, unknown or revoked API key (401, with
    /// `WWW-Authenticate: Bearer`).
    #[error("{0}")]
    Unauthorized(String),
    /// The operation is switched off on this server (403).
    #[error("{0}")]
    Forbidden(String),
    /// Over a rate or a quota; worth retrying after `retry_after` (429, with `Retry-After`
    /// in whole seconds, at least 1).
    #[error("{detail}")]
    TooManyRequests {
        /// What is over which limit, and what to do.
        detail: String,
        /// The limit, when it is a count (the body's `limit`).
        limit: Option<u64>,
        /// When a retry can succeed.
        retry_after: std::time::Duration,
    },
    /// Anything that is the server's fault; logged, never shown to the client (500).
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// A 422 for one field.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::Validation(vec![FieldError::new(field, message)])
    }

    /// A 400 for one query parameter.
    pub fn bad_parameter(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::BadParameter {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The HTTP status this error maps to.
    pub fn status_code(&self) -> StatusCode {
        match self {
            ApiError::MalformedBody(_) | ApiError::BadParameter { .. } => StatusCode::BAD_REQUEST,
            ApiError::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::NotAcceptable(_) => StatusCode::NOT_ACCEPTABLE,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn to_problem(&self) -> Problem {
        let status = self.status_code().as_u16();
        let (kind, title, detail, errors) = match self {
            ApiError::MalformedBody(detail) => (
                "malformed-body",
                "The request body could not be read",
                detail.clone(),
                Vec::new(),
            ),
            ApiError::Validation(errors) => (
                "validation",
                "The request is not valid",
                errors
                    .iter()
                    .map(|e| format!("{}: {}", e.field, e.message))
                    .collect::<Vec<_>>()
                    .join("; "),
                errors.clone(),
            ),
            ApiError::BadParameter { field, message } => (
                "bad-parameter",
                "A parameter of the request is not valid",
                format!("{field}: {message}"),
                vec![FieldError::new(field.clone(), message.clone())],
            ),
            ApiError::NotFound(detail) => {
                ("not-found", "No such resource", detail.clone(), Vec::new())
            }
            ApiError::Conflict(detail) => (
                "conflict",
                "The resource's state does not allow this",
                detail.clone(),
                Vec::new(),
            ),
            ApiError::NotAcceptable(detail) => (
                "not-acceptable",
                "No acceptable representation",
                detail.clone(),
                Vec::new(),
            ),
            ApiError::PayloadTooLarge(detail) => (
                "payload-too-large",
                "The request is too large",
                detail.clone(),
                Vec::new(),
            ),
            ApiError::Unauthorized(detail) => (
                "unauthorized",
                "Authentication required",
                detail.clone(),
                Vec::new(),
            ),
            ApiError::Forbidden(detail) => (
                "forbidden",
                "Not allowed on this server",
                detail.clone(),
                Vec::new(),
            ),
            ApiError::TooManyRequests { detail, .. } => (
                "too-many-requests",
                "Too many requests",
                detail.clone(),
                Vec::new(),
            ),
            ApiError::Internal(_) => (
                "internal",
                "Internal server error",
                "The server failed to handle the request; it has been logged.".to_string(),
                Vec::new(),
            ),
        };
        Problem {
            kind: format!("urn:saddle:problem:{kind}"),
            title: title.to_string(),
            status,
            detail,
            errors,
            limit: match self {
                ApiError::TooManyRequests { limit, .. } => *limit,
                _ => None,
            },
        }
    }
}

/// Builds a problem+json response from a status and a problem document.
pub fn problem_response(status: StatusCode, problem: &Problem) -> Response {
    let body = serde_json::to_vec(problem).unwrap_or_default();
    let mut response = (status, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    response
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(message) = &self {
            tracing::error!(error = %message, "request failed");
        }
        let mut response = problem_response(self.status_code(), &self.to_problem());
        match &self {
            ApiError::Unauthorized(_) => {
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            ApiError::TooManyRequests { retry_after, .. } => {
                let seconds = retry_after.as_secs_f64().ceil().max(1.0) as u64;
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
            }
            _ => {}
        }
        response
    }
}

impl From<InvalidConfig> for ApiError {
    fn from(e: InvalidConfig) -> Self {
        ApiError::Validation(vec![FieldError {
            field: e.field,
            message: e.message,
            column: e.column,
            excerpt: e.excerpt,
        }])
    }
}

impl From<ExprError> for ApiError {
    fn from(e: ExprError) -> Self {
        InvalidConfig::from(e).into()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => ApiError::NotFound(what),
            StoreError::TooManyActiveJobs { limit } => ApiError::TooManyRequests {
                detail: format!(
                    "this tenant already has {limit} queued or running jobs, its limit; \
                     wait for some to finish (or cancel some) and submit again"
                ),
                limit: Some(limit),
                retry_after: std::time::Duration::from_secs(ACTIVE_JOBS_RETRY_SECONDS),
            },
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<JobsError> for ApiError {
    fn from(e: JobsError) -> Self {
        match e {
            JobsError::Invalid(e) => e.into(),
            JobsError::NotFound(id) => ApiError::NotFound(format!("no job with id `{id}`")),
            JobsError::Conflict(msg) => ApiError::Conflict(msg),
            JobsError::Store(e) => e.into(),
        }
    }
}
