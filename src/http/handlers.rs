//! The cache endpoints. Each handler only decodes the body, converts it into
//! a validated request, calls the [`CacheManager`] (off the workers when it
//! writes) and serialises the typed report; no cache logic lives here. The
//! `#[utoipa::path]` on each is its OpenAPI operation.

use actix_web::{web, HttpResponse};

use super::api::{BackupRequest, FeedbackRequest, InvalidateRequest, LookupRequest, StoreRequest};
use super::error::ApiError;
use super::extract::{blocking, read_json};
use super::openapi::{ErrorBody, LayerName};
use super::routing::RoutingHeaders;
use super::ServerSettings;
use crate::cache::layer::LayerId;
use crate::cache::report::{FeedbackReport, InvalidateReport, LookupReport, StoreReport};
use crate::cache::request::Feedback;
use crate::cache::CacheManager;

type Mgr = web::Data<CacheManager>;
type Server = web::Data<ServerSettings>;

/// Waterfall lookup: L1 (is the system prompt's prefix warm at the
/// provider?), then L2 (exact repeat), then L3 (paraphrase).
///
/// The first response hit (L2 or L3) wins and later layers are not searched
/// (their result is `null`). An L1-only warm prefix is `hit: false` with
/// `l1_result.hit: true`. Request defaults: `task_type` "general",
/// `namespace` "default", `use_l1/l2/l3` true, `similarity_threshold` the
/// configured L3 threshold.
#[utoipa::path(
    post,
    path = "/api/v1/helios/cache/lookup",
    tag = "cache",
    operation_id = "lookup",
    request_body = LookupRequest,
    params(
        ("X-Helios-Namespace" = Option<String>, Header,
            description = "The request's namespace, for a load balancer to route on without reading the body. When the body names a namespace too they must be equal (else 400 `namespace_mismatch`); when only the header names it, it is the namespace."),
        ("X-Helios-Scope" = Option<String>, Header,
            description = "Scope key `NAMESPACE|TASK_TYPE` with the defaults applied (`default|general`). When sent it must equal the request's namespace and task type (else 400 `scope_mismatch`)."),
    ),
    responses(
        (status = 200, description = "The lookup result (hit or miss)", body = LookupReport,
            headers(
                ("X-Helios-Cache" = String, description = "HIT-L2, HIT-L3 or MISS"),
                ("X-Helios-Similarity" = String, description = "Cosine similarity of the match, on L3 hits only"),
            )),
        (status = 400, description = "Invalid request", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
    )
)]
pub async fn lookup(
    mgr: Mgr,
    server: Server,
    routing: RoutingHeaders,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let req: LookupRequest = read_json(body, &server).await?;
    let resp = mgr.lookup(&req.routed(&routing)?)?;
    let outcome = match resp.layer {
        Some(LayerId::L2) if resp.hit => "HIT-L2",
        Some(LayerId::L3) if resp.hit => "HIT-L3",
        _ => "MISS",
    };
    let mut out = HttpResponse::Ok();
    out.insert_header(("X-Helios-Cache", outcome));
    if outcome == "HIT-L3" {
        out.insert_header(("X-Helios-Similarity", format!("{:.4}", resp.confidence)));
    }
    Ok(out.json(resp))
}

/// Stores a model response in every eligible layer, all or nothing.
///
/// L1 stores only when the system prompt reaches the model's minimum
/// cacheable length; `usage` (the provider's usage block) corrects L1's
/// predictions. `ttl_seconds` overrides the layer TTL (capped by config);
/// `cache_ttl` is the L1 TTL, "5m" (default) or "1h".
#[utoipa::path(
    post,
    path = "/api/v1/helios/cache/store",
    tag = "cache",
    operation_id = "store",
    request_body = StoreRequest,
    params(
        ("X-Helios-Namespace" = Option<String>, Header,
            description = "The request's namespace, for a load balancer to route on without reading the body. When the body names a namespace too they must be equal (else 400 `namespace_mismatch`); when only the header names it, it is the namespace."),
        ("X-Helios-Scope" = Option<String>, Header,
            description = "Scope key `NAMESPACE|TASK_TYPE` with the defaults applied (`default|general`). When sent it must equal the request's namespace and task type (else 400 `scope_mismatch`)."),
    ),
    responses(
        (status = 200, description = "Stored; `layers_stored` names where", body = StoreReport),
        (status = 400, description = "Invalid request", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 503, description = "Storage unavailable", body = ErrorBody),
    )
)]
pub async fn store(
    mgr: Mgr,
    server: Server,
    routing: RoutingHeaders,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let req: StoreRequest = read_json(body, &server).await?;
    let req = req.routed(&routing)?;
    // A store that cannot wait (no L3 vector, no L1 prompt state, `interval`
    // durability, no backup running: `try_store_now`) is done here, not
    // handed to the blocking pool and back.
    let resp = match mgr.try_store_now(&req) {
        Some(result) => result.map_err(ApiError)?,
        None => blocking(move || mgr.store(&req)).await?,
    };
    Ok(HttpResponse::Ok().json(resp))
}

/// Removes entries by layer, task type, namespace or entry id; `all: true`
/// with no filter removes everything.
#[utoipa::path(
    post,
    path = "/api/v1/helios/cache/invalidate",
    tag = "cache",
    operation_id = "invalidate",
    request_body = InvalidateRequest,
    params(
        ("X-Helios-Namespace" = Option<String>, Header,
            description = "The request's namespace, for a load balancer to route on without reading the body. When the body names a namespace too they must be equal (else 400 `namespace_mismatch`); when only the header names it, it is the namespace filter."),
        ("X-Helios-Scope" = Option<String>, Header,
            description = "Scope key `NAMESPACE|TASK_TYPE` with the defaults applied (`default|general`). When sent it requires the body (or `X-Helios-Namespace`) to name exactly this namespace and task type as filters (else 400 `scope_mismatch`)."),
    ),
    responses(
        (status = 200, description = "How many entries were removed, per layer", body = InvalidateReport),
        (status = 400, description = "Invalid request", body = ErrorBody),
    )
)]
pub async fn invalidate(
    mgr: Mgr,
    server: Server,
    routing: RoutingHeaders,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let req: InvalidateRequest = read_json(body, &server).await?;
    let req = req.routed(&routing)?;
    let resp = blocking(move || mgr.invalidate(&req)).await?;
    Ok(HttpResponse::Ok().json(resp))
}

/// Reports a served hit as wrong (or right) for the request it answered.
///
/// `wrong`: the entry never answers that request again, and its own
/// similarity bar rises above the similarity it was served at (requests as
/// far from it miss too); an answer reported wrong for the very text it was
/// stored for is removed from L2 and L3. `right`: counted, and lifts a block
/// on that text. Kept in storage; counted in `l3_reported_wrong` / `_right`.
#[utoipa::path(
    post,
    path = "/api/v1/helios/cache/feedback",
    tag = "cache",
    operation_id = "feedback",
    request_body = FeedbackRequest,
    responses(
        (status = 200, description = "What the verdict changed", body = FeedbackReport),
        (status = 400, description = "Invalid request", body = ErrorBody),
        (status = 404, description = "No such entry", body = ErrorBody),
    )
)]
pub async fn feedback(
    mgr: Mgr,
    server: Server,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let req: FeedbackRequest = read_json(body, &server).await?;
    let req = Feedback::try_from(req)?;
    let resp = blocking(move || mgr.feedback(&req)).await?;
    Ok(HttpResponse::Ok().json(resp))
}

/// Aggregate counters as JSON: lookups, hits and hit rates per layer, tokens
/// and dollars saved, entries per layer, latency, L1 prediction accuracy.
/// (Prometheus scrapes `GET /metrics` instead.)
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
pub async fn metrics(mgr: Mgr) -> HttpResponse {
    HttpResponse::Ok().json(mgr.metrics_report())
}

/// Health of each layer and of storage.
#[utoipa::path(
    get,
    path = "/api/v1/helios/cache/health",
    tag = "reports",
    operation_id = "health",
    responses((status = 200, description = "Health report", body = Object))
)]
pub async fn health(mgr: Mgr) -> HttpResponse {
    HttpResponse::Ok().json(mgr.health())
}

/// Metrics (with `savings` and `storage` sections) and health in one document.
#[utoipa::path(
    get,
    path = "/api/v1/helios/cache/summary",
    tag = "reports",
    operation_id = "summary",
    responses((status = 200, description = "`{metrics, health}`", body = Object))
)]
pub async fn summary(mgr: Mgr) -> HttpResponse {
    HttpResponse::Ok().json(mgr.summary())
}

/// Detailed statistics of one layer.
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
pub async fn layer_stats(mgr: Mgr, layer: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let id = LayerId::parse(&layer)?;
    Ok(HttpResponse::Ok().json(mgr.layer_report(id)))
}

/// Places Anthropic `cache_control` breakpoints where they pay.
///
/// The body is an Anthropic Messages API request (`model`, `system`,
/// `tools`, `messages`, ...); the answer is the same body with breakpoints
/// added. What was decided is in the `X-Helios-L1-*` headers.
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
pub async fn l1_prepare(
    mgr: Mgr,
    server: Server,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    use crate::cache::l1::prepare::{prepare, PrepareRequest};
    let req: PrepareRequest = read_json(body, &server).await?;
    let s = mgr.settings();
    let p = prepare(req, &s.prices, &s.default_model)?;
    let places: Vec<&str> = p.breakpoints.iter().map(|b| b.as_str()).collect();
    Ok(HttpResponse::Ok()
        .insert_header(("X-Helios-L1-Breakpoints", places.join(",")))
        .insert_header(("X-Helios-L1-Model", p.model.clone()))
        .insert_header(("X-Helios-L1-Prefix-Tokens", p.prefix_tokens.to_string()))
        .insert_header(("X-Helios-L1-Min-Tokens", p.min_cache_tokens.to_string()))
        .json(p.body))
}

/// Writes a consistent copy of the data directory to `to` (an absolute
/// path on the server under `--backup-root`, outside the data directory,
/// absent or empty), or to `name` under `--backup-root`. Writes pause while
/// it runs; lookups go on. `helios-cache backup --to DIR` calls this on a
/// running server, `helios-cache cluster backup NAME` on every node.
#[utoipa::path(
    post,
    path = "/api/v1/helios/cache/admin/backup",
    tag = "operations",
    operation_id = "backup",
    request_body(content = BackupRequest),
    responses(
        (status = 200, description = "`{\"to\", \"records\", \"trees\"}`", body = Object),
        (status = 400, description = "Invalid target", body = ErrorBody),
        (status = 503, description = "The copy failed", body = ErrorBody),
    )
)]
pub async fn backup(
    mgr: Mgr,
    server: Server,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let req: BackupRequest = read_json(body, &server).await?;
    let to = req.target(&mgr.settings().backup_root)?;
    let report = blocking(move || mgr.backup(&to)).await?;
    Ok(HttpResponse::Ok().json(report))
}
