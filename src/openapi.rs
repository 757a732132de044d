//! The OpenAPI 3 description of the REST API, served at `GET /openapi.json`.
//!
//! Request and response schemas are derived from the real serde types in
//! [`crate::api`] (`utoipa::ToSchema`), so they follow the code. The
//! operations are declared here on documentation-only functions, one per
//! route; a test compares the described paths and methods against
//! [`crate::http::ROUTES`], so a route added without documentation fails.

use std::sync::OnceLock;

use actix_web::{web, HttpResponse};
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::RefOr;
use utoipa::OpenApi;

use crate::api::{InvalidateRequest, LookupRequest, LookupResponse, StoreRequest, StoreResponse};
use crate::layer::LayerId;

impl utoipa::PartialSchema for LayerId {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(
                "A cache layer by its wire name. Requests also accept L1, L2, L3 in any case.",
            ))
            .enum_values(Some(LayerId::ALL.map(LayerId::wire_name)))
            .into()
    }
}

impl utoipa::ToSchema for LayerId {}

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

/// Waterfall lookup: L1 (is the system prompt's prefix warm at the
/// provider?), then L2 (exact repeat), then L3 (paraphrase).
///
/// The first response hit (L2 or L3) wins and later layers are not searched
/// (their result is `null`). An L1-only warm prefix is `hit: false` with
/// `l1_result.hit: true`. Request defaults: `task_type` "general",
/// `namespace` "default", `use_l1/l2/l3` true, `similarity_threshold` the
/// configured L3 threshold.
#[allow(dead_code)]
#[utoipa::path(
    post,
    path = "/api/v1/helios/cache/lookup",
    tag = "cache",
    operation_id = "lookup",
    request_body = LookupRequest,
    responses(
        (status = 200, description = "The lookup result (hit or miss)", body = LookupResponse,
            headers(
                ("X-Helios-Cache" = String, description = "HIT-L2, HIT-L3 or MISS"),
                ("X-Helios-Similarity" = String, description = "Cosine similarity of the match, on L3 hits only"),
            )),
        (status = 400, description = "Invalid request", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
    )
)]
fn lookup() {}

/// Stores a model response in every eligible layer, all or nothing.
///
/// L1 stores only when the system prompt reaches the model's minimum
/// cacheable length; `usage` (the provider's usage block) corrects L1's
/// predictions. `ttl_seconds` overrides the layer TTL (capped by config);
/// `cache_ttl` is the L1 TTL, "5m" (default) or "1h".
#[allow(dead_code)]
#[utoipa::path(
    post,
    path = "/api/v1/helios/cache/store",
    tag = "cache",
    operation_id = "store",
    request_body = StoreRequest,
    responses(
        (status = 200, description = "Stored; `layers_stored` names where", body = StoreResponse),
        (status = 400, description = "Invalid request", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 503, description = "Storage unavailable", body = ErrorBody),
    )
)]
fn store() {}

/// Aggregate counters as JSON: lookups, hits and hit rates per layer, tokens
/// and dollars saved, entries per layer, latency, L1 prediction accuracy.
/// (Prometheus scrapes `GET /metrics` instead.)
#[allow(dead_code)]
#[utoipa::path(
    get,
    path = "/api/v1/helios/cache/metrics",
    tag = "reports",
    operation_id = "metrics",
    responses((status = 200, description = "Aggregate metrics", body = Object,
        example = json!({"total_lookups": 10, "total_hits": 4, "overall_hit_rate": 0.4,
            "l1_hit_rate": 0.0, "l2_hit_rate": 0.3, "l3_hit_rate": 0.1,
            "total_tokens_saved": 600, "total_cost_saved": 0.009,
            "l1_entries": 0, "l2_entries": 5, "l3_entries": 5})))
)]
fn metrics_json() {}

/// Removes entries by layer, task type, namespace or entry id; `all: true`
/// with no filter removes everything.
#[allow(dead_code)]
#[utoipa::path(
    post,
    path = "/api/v1/helios/cache/invalidate",
    tag = "cache",
    operation_id = "invalidate",
    request_body = InvalidateRequest,
    responses(
        (status = 200, description = "How many entries were removed, per layer", body = Object),
        (status = 400, description = "Invalid request", body = ErrorBody),
    )
)]
fn invalidate() {}

/// Health of each layer and of storage.
#[allow(dead_code)]
#[utoipa::path(
    get,
    path = "/api/v1/helios/cache/health",
    tag = "reports",
    operation_id = "health",
    responses((status = 200, description = "Health report", body = Object))
)]
fn health() {}

/// Metrics (with `savings` and `storage` sections) and health in one document.
#[allow(dead_code)]
#[utoipa::path(
    get,
    path = "/api/v1/helios/cache/summary",
    tag = "reports",
    operation_id = "summary",
    responses((status = 200, description = "`{metrics, health}`", body = Object))
)]
fn summary() {}

/// A layer as named in paths and requests: the wire name or the short form.
#[derive(utoipa::ToSchema)]
#[allow(dead_code, non_camel_case_types, clippy::upper_case_acronyms)]
enum LayerName {
    L1_CLAUDE_NATIVE,
    L2_REDIS_EXACT,
    L3_SEMANTIC_RAG,
    L1,
    L2,
    L3,
}

/// Detailed statistics of one layer.
#[allow(dead_code)]
#[utoipa::path(
    get,
    path = "/api/v1/helios/cache/stats/layer/{layer}",
    tag = "reports",
    operation_id = "layer_stats",
    params(("layer" = LayerName, Path,
        description = "L1_CLAUDE_NATIVE, L2_REDIS_EXACT, L3_SEMANTIC_RAG, or L1, L2, L3 (any letter case)")),
    responses(
        (status = 200, description = "Counters, size and details of the layer", body = Object),
        (status = 400, description = "Unknown layer", body = ErrorBody),
    )
)]
fn layer_stats() {}

/// Places Anthropic `cache_control` breakpoints where they pay.
///
/// The body is an Anthropic Messages API request (`model`, `system`,
/// `tools`, `messages`, ...); the answer is the same body with breakpoints
/// added. What was decided is in the `X-Helios-L1-*` headers.
#[allow(dead_code)]
#[utoipa::path(
    post,
    path = "/api/v1/helios/cache/l1/prepare",
    tag = "cache",
    operation_id = "l1_prepare",
    request_body(content = Object, description = "An Anthropic Messages API request body"),
    responses(
        (status = 200, description = "The body with cache_control breakpoints", body = Object,
            headers(
                ("X-Helios-L1-Breakpoints" = String, description = "Where breakpoints were placed, comma-separated"),
                ("X-Helios-L1-Model" = String, description = "The model whose limits were used"),
                ("X-Helios-L1-Prefix-Tokens" = String, description = "Estimated tokens of the cacheable prefix"),
                ("X-Helios-L1-Min-Tokens" = String, description = "The model's minimum cacheable length"),
            )),
        (status = 400, description = "Invalid request", body = ErrorBody),
    )
)]
fn l1_prepare() {}

/// Writes a consistent copy of the data directory to `to` (an absolute
/// path on the server, absent or empty). Writes pause while it runs; lookups
/// go on. `helios-cache backup --to DIR` calls this on a running server.
#[allow(dead_code)]
#[utoipa::path(
    post,
    path = "/api/v1/helios/cache/admin/backup",
    tag = "operations",
    operation_id = "backup",
    request_body(content = crate::http::BackupRequest),
    responses(
        (status = 200, description = "`{\"to\", \"records\", \"trees\"}`", body = Object),
        (status = 400, description = "Invalid target", body = ErrorBody),
        (status = 503, description = "The copy failed", body = ErrorBody),
    )
)]
fn backup() {}

/// Metrics in the Prometheus text exposition format (for scraping).
#[allow(dead_code)]
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    operation_id = "prometheus_metrics",
    responses((status = 200, description = "Prometheus text format 0.0.4",
        content_type = "text/plain; version=0.0.4", body = String))
)]
fn prometheus_metrics() {}

/// This document.
#[allow(dead_code)]
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "operations",
    operation_id = "openapi",
    responses((status = 200, description = "The OpenAPI 3 description of the API", body = Object))
)]
fn openapi_json() {}

/// Interactive API documentation (Swagger UI, served from the binary).
#[allow(dead_code)]
#[utoipa::path(
    get,
    path = "/docs",
    tag = "operations",
    operation_id = "docs",
    responses((status = 200, description = "HTML page", content_type = "text/html", body = String))
)]
fn docs_page() {}

/// A static asset of the interactive documentation.
#[allow(dead_code)]
#[utoipa::path(
    get,
    path = "/docs/{asset}",
    tag = "operations",
    operation_id = "docs_asset",
    params(("asset" = String, Path, description = "swagger-ui-bundle.js or swagger-ui.css")),
    responses(
        (status = 200, description = "The asset", body = String),
        (status = 404, description = "No such asset", body = ErrorBody),
    )
)]
fn docs_asset() {}

/// Field descriptions of the request and response schemas, as
/// (schema, property, description). The unit test checks that every named
/// property exists, so a renamed field cannot leave a stale description.
const FIELD_DOCS: &[(&str, &str, &str)] = &[
    (
        "LookupRequest",
        "input_text",
        "The user input to look up (required, non-empty).",
    ),
    (
        "LookupRequest",
        "task_type",
        "Part of the scope. Default \"general\".",
    ),
    (
        "LookupRequest",
        "system_prompt",
        "Part of the scope (by fingerprint); L1 checks whether its prefix is warm at the provider.",
    ),
    (
        "LookupRequest",
        "model",
        "Model for L1's limits and prices. Default: the configured model.",
    ),
    (
        "LookupRequest",
        "namespace",
        "Tenant; part of the scope. Default \"default\".",
    ),
    ("LookupRequest", "use_l1", "Consult L1. Default true."),
    (
        "LookupRequest",
        "use_l2",
        "Consult L2 (exact match). Default true.",
    ),
    (
        "LookupRequest",
        "use_l3",
        "Consult L3 (semantic match). Default true.",
    ),
    (
        "LookupRequest",
        "similarity_threshold",
        "L3 cosine similarity needed for a hit, 0..1. Default: the configured threshold.",
    ),
    (
        "StoreRequest",
        "input_text",
        "The user input the response answers (required, non-empty).",
    ),
    (
        "StoreRequest",
        "task_type",
        "Part of the scope. Default \"general\".",
    ),
    (
        "StoreRequest",
        "model_used",
        "Model that produced the response (prices savings, L1 limits).",
    ),
    (
        "StoreRequest",
        "system_prompt",
        "Part of the scope; L1 tracks its prefix when long enough to cache.",
    ),
    (
        "StoreRequest",
        "tokens_used",
        "Tokens of the model call, when no usage block is given.",
    ),
    ("StoreRequest", "store_in_l1", "Default true."),
    ("StoreRequest", "store_in_l2", "Default true."),
    ("StoreRequest", "store_in_l3", "Default true."),
    (
        "StoreRequest",
        "namespace",
        "Tenant; part of the scope. Default \"default\".",
    ),
    (
        "StoreRequest",
        "ttl_seconds",
        "Per-entry TTL override, capped by the layer's maximum.",
    ),
    (
        "StoreRequest",
        "cache_ttl",
        "L1 TTL at the provider: \"5m\" (default) or \"1h\".",
    ),
    (
        "StoreRequest",
        "system_prompt_tokens",
        "Exact token count of the system prompt, if the caller has one.",
    ),
    (
        "StoreRequest",
        "usage",
        "The provider's usage block; L1 uses it as ground truth.",
    ),
    (
        "InvalidateRequest",
        "layer",
        "Only this layer (wire name or L1/L2/L3).",
    ),
    (
        "InvalidateRequest",
        "task_type",
        "Only entries of this task type.",
    ),
    (
        "InvalidateRequest",
        "namespace",
        "Only entries of this namespace.",
    ),
    ("InvalidateRequest", "entry_id", "Only this entry."),
    (
        "InvalidateRequest",
        "all",
        "Must be true to remove everything when no filter is given.",
    ),
    (
        "LookupResponse",
        "hit",
        "Whether a stored response was found (L2 or L3). L1 never holds responses.",
    ),
    (
        "LookupResponse",
        "layer",
        "The layer that answered, on a hit.",
    ),
    (
        "LookupResponse",
        "cached_response",
        "The stored `response_data`, on a hit.",
    ),
    (
        "LookupResponse",
        "confidence",
        "1.0 for L2; the cosine similarity for L3.",
    ),
    (
        "LookupResponse",
        "l1_result",
        "L1: whether the system prompt's prefix is warm, its tokens, the predicted saving.",
    ),
    (
        "LookupResponse",
        "l2_result",
        "L2's answer; null when not searched.",
    ),
    (
        "LookupResponse",
        "l3_result",
        "L3's answer; null when not searched.",
    ),
    ("LookupResponse", "tokens_saved", "Tokens the hit saves."),
    ("LookupResponse", "cost_saved", "Dollars the hit saves."),
    ("StoreResponse", "layers_stored", "The layers written."),
];

/// Adds [`FIELD_DOCS`] to the schemas.
struct FieldDocs;

impl utoipa::Modify for FieldDocs {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::schema::Schema;
        let Some(components) = doc.components.as_mut() else {
            return;
        };
        for (schema, field, text) in FIELD_DOCS {
            let Some(RefOr::T(Schema::Object(obj))) = components.schemas.get_mut(*schema) else {
                continue;
            };
            match obj.properties.get_mut(*field) {
                Some(RefOr::T(Schema::Object(p))) => p.description = Some(text.to_string()),
                Some(RefOr::T(Schema::OneOf(p))) => p.description = Some(text.to_string()),
                Some(RefOr::T(Schema::AllOf(p))) => p.description = Some(text.to_string()),
                Some(RefOr::T(Schema::Array(p))) => p.description = Some(text.to_string()),
                Some(RefOr::Ref(r)) => r.description = text.to_string(),
                _ => {}
            }
        }
    }
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
    paths(
        lookup,
        store,
        metrics_json,
        invalidate,
        health,
        summary,
        layer_stats,
        l1_prepare,
        backup,
        prometheus_metrics,
        openapi_json,
        docs_page,
        docs_asset
    ),
    components(schemas(ErrorBody, ErrorDetail, LayerName, crate::api::Usage)),
    modifiers(&FieldDocs),
    tags(
        (name = "cache", description = "Lookup, store, invalidate"),
        (name = "reports", description = "Metrics, health and statistics as JSON"),
        (name = "operations", description = "Prometheus metrics and API documentation"),
    )
)]
pub struct ApiDoc;

/// The description as pretty JSON, built once.
pub fn json() -> &'static str {
    static JSON: OnceLock<String> = OnceLock::new();
    JSON.get_or_init(|| {
        ApiDoc::openapi()
            .to_pretty_json()
            .expect("the OpenAPI document serialises")
    })
}

async fn openapi_handler() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(json())
}

/// Registers `GET /openapi.json`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(crate::http::resource("/openapi.json").route(web::get().to(openapi_handler)));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every route of the server is described, and nothing else.
    #[test]
    fn every_route_is_documented() {
        let doc: serde_json::Value = serde_json::from_str(json()).unwrap();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
        let mut documented = Vec::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                if ["get", "post", "put", "delete", "patch"].contains(&method.as_str()) {
                    documented.push((method.to_uppercase(), path.clone()));
                }
            }
        }
        let mut routes: Vec<(String, String)> = crate::http::ROUTES
            .iter()
            .map(|(m, p)| (m.to_string(), p.to_string()))
            .collect();
        documented.sort();
        routes.sort();
        assert_eq!(documented, routes);
    }

    /// Every field description names a property that exists, and lands.
    #[test]
    fn field_docs_name_real_properties() {
        let doc: serde_json::Value = serde_json::from_str(json()).unwrap();
        for (schema, field, text) in FIELD_DOCS {
            let prop = &doc["components"]["schemas"][schema]["properties"][field];
            assert!(prop.is_object(), "{schema}.{field} does not exist");
            assert_eq!(prop["description"], *text, "{schema}.{field}: {prop}");
        }
    }
}
