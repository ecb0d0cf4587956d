//! Pieces of the OpenAPI document shared by resource modules.

use utoipa::openapi::{ContentBuilder, Ref, Response, ResponseBuilder};

/// A problem+json response of the spec, with an example.
pub(super) fn problem_doc(description: &str, example: serde_json::Value) -> Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/problem+json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Problem")))
                .example(Some(example))
                .build(),
        )
        .build()
}
