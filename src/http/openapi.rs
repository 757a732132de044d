//! The frame of the OpenAPI 3 description: title, shared schemas (the
//! error body) and tags. The operations come from the `#[utoipa::path]` on
//! the real handlers, gathered by the route table ([`super::routes`]), and
//! the field descriptions from the `///` docs of the wire types, so the
//! document follows the code.

use utoipa::OpenApi;

/// The body of every error response.
#[allow(dead_code)]
#[derive(utoipa::ToSchema)]
pub struct ErrorBody {
    error: ErrorDetail,
}

/// What went wrong: a stable machine-readable `code` and a message for people.
#[allow(dead_code)]
#[derive(utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable identifier, e.g. `empty_input`, `invalid_threshold`, `unknown_layer`.
    code: String,
    message: String,
}

/// A layer as named in paths and requests: the wire name or the short form.
#[derive(utoipa::ToSchema)]
#[allow(dead_code, non_camel_case_types, clippy::upper_case_acronyms)]
pub enum LayerName {
    L1_CLAUDE_NATIVE,
    L2_REDIS_EXACT,
    L3_SEMANTIC_RAG,
    L1,
    L2,
    L3,
}

/// The whole description.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "helios-cache",
        description = "A single-binary LLM response cache: L1 tracks Anthropic prompt caching, \
L2 matches exact repeats, L3 matches paraphrases. Every error is \
`{\"error\": {\"code\", \"message\"}}` with a 4xx status.",
        license(name = "Apache-2.0"),
    ),
    components(schemas(
        ErrorBody,
        ErrorDetail,
        LayerName,
        super::api::Usage,
        super::api::ChatMessage
    )),
    tags(
        (name = "cache", description = "Lookup, store, invalidate"),
        (name = "reports", description = "Metrics, health and statistics as JSON"),
        (name = "operations", description = "Prometheus metrics and API documentation"),
        (name = "gateway", description = "Drop-in provider gateway: point the Anthropic or OpenAI SDK here"),
    )
)]
pub struct Frame;
