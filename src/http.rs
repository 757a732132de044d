//! The HTTP layer: routes, body decoding and error mapping. Handlers only
//! parse, call the [`CacheManager`], and turn its answer or error into a
//! response; no cache logic lives here.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::api::{InvalidateRequest, LookupRequest, StoreRequest};
use crate::error::CacheError;
use crate::layer::LayerId;
use crate::manager::CacheManager;

/// Route prefix of the cache API.
pub const PREFIX: &str = "/api/v1/helios/cache";

/// Every route the server has, as (method, path). The OpenAPI test compares
/// the documentation against this list.
pub const ROUTES: &[(&str, &str)] = &[
    ("POST", "/api/v1/helios/cache/lookup"),
    ("POST", "/api/v1/helios/cache/store"),
    ("GET", "/api/v1/helios/cache/metrics"),
    ("POST", "/api/v1/helios/cache/invalidate"),
    ("GET", "/api/v1/helios/cache/health"),
    ("GET", "/api/v1/helios/cache/summary"),
    ("GET", "/api/v1/helios/cache/stats/layer/{layer}"),
    ("POST", "/api/v1/helios/cache/l1/prepare"),
    ("POST", "/api/v1/helios/cache/admin/backup"),
    ("GET", "/metrics"),
    ("GET", "/openapi.json"),
    ("GET", "/docs"),
    ("GET", "/docs/{asset}"),
];

/// A [`CacheError`] on its way out as a JSON response.
#[derive(Debug)]
pub struct ApiError(pub CacheError);

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl From<CacheError> for ApiError {
    fn from(e: CacheError) -> ApiError {
        ApiError(e)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self.0 {
            CacheError::Invalid { .. } => StatusCode::BAD_REQUEST,
            CacheError::NotFound(_) => StatusCode::NOT_FOUND,
            CacheError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            CacheError::Timeout(_) => StatusCode::REQUEST_TIMEOUT,
            CacheError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        error_body(self.status_code(), self.0.code(), &self.0.to_string())
    }
}

fn error_body(status: StatusCode, code: &str, message: &str) -> HttpResponse {
    HttpResponse::build(status).json(json!({"error": {"code": code, "message": message}}))
}

/// Reads the whole body, refusing more than `limit` bytes, and decodes it.
async fn read_json<T: DeserializeOwned>(
    payload: web::Payload,
    settings: &crate::config::Settings,
) -> Result<T, ApiError> {
    let limit = settings.body_limit;
    let timeout = std::time::Duration::from_millis(settings.limits.request_timeout_ms);
    // A slow or half-sent body must not hold a worker forever.
    let read = actix_web::rt::time::timeout(timeout, payload.to_bytes_limited(limit));
    let bytes = match read.await {
        Err(_) => {
            return Err(CacheError::Timeout(format!(
                "the request body did not arrive within {} ms",
                timeout.as_millis()
            ))
            .into())
        }
        Ok(Ok(Ok(b))) => b,
        // The outer error is the limit; the inner one a broken stream.
        Ok(Err(_)) => {
            return Err(CacheError::TooLarge(format!(
                "request body is larger than the {limit}-byte limit"
            ))
            .into())
        }
        Ok(Ok(Err(e))) => {
            return Err(CacheError::invalid("bad_body", format!("cannot read body: {e}")).into())
        }
    };
    let depth = crate::api::json_depth(&bytes);
    if depth > settings.limits.max_json_depth {
        return Err(CacheError::invalid(
            "too_deep",
            format!(
                "JSON nesting depth {depth} exceeds the limit of {}",
                settings.limits.max_json_depth
            ),
        )
        .into());
    }
    decode(&bytes).map_err(ApiError)
}

/// Decodes a JSON object body into `T`, classifying what is wrong with it.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CacheError> {
    use serde_json::error::Category;
    serde_json::from_slice(bytes).map_err(|e| match e.classify() {
        Category::Syntax | Category::Eof | Category::Io => {
            CacheError::invalid("malformed_json", format!("body is not valid JSON: {e}"))
        }
        Category::Data => {
            let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
            if first != Some(&b'{') {
                CacheError::invalid("not_an_object", "body must be a JSON object")
            } else {
                CacheError::invalid("invalid_request", e.to_string())
            }
        }
    })
}

type Mgr = web::Data<CacheManager>;

async fn lookup(mgr: Mgr, body: web::Payload) -> Result<HttpResponse, ApiError> {
    let req: LookupRequest = read_json(body, mgr.settings()).await?;
    let resp = mgr.lookup(&req)?;
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

/// Runs blocking cache work (disk writes, index updates) off the workers.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, CacheError> + Send + 'static,
) -> Result<T, ApiError> {
    match web::block(f).await {
        Ok(r) => r.map_err(ApiError),
        Err(_) => Err(CacheError::Unavailable("the server is shutting down".into()).into()),
    }
}

async fn store(mgr: Mgr, body: web::Payload) -> Result<HttpResponse, ApiError> {
    let req: StoreRequest = read_json(body, mgr.settings()).await?;
    let resp = blocking(move || mgr.store(&req)).await?;
    Ok(HttpResponse::Ok().json(resp))
}

async fn invalidate(mgr: Mgr, body: web::Payload) -> Result<HttpResponse, ApiError> {
    let req: InvalidateRequest = read_json(body, mgr.settings()).await?;
    let resp = blocking(move || mgr.invalidate(&req)).await?;
    Ok(HttpResponse::Ok().json(resp))
}

async fn metrics(mgr: Mgr) -> HttpResponse {
    HttpResponse::Ok().json(mgr.metrics_json())
}

async fn health(mgr: Mgr) -> HttpResponse {
    HttpResponse::Ok().json(mgr.health())
}

async fn summary(mgr: Mgr) -> HttpResponse {
    HttpResponse::Ok().json(mgr.summary())
}

async fn layer_stats(mgr: Mgr, layer: web::Path<String>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(mgr.layer_stats(&layer)?))
}

/// `POST /l1/prepare`: the body is exactly the Messages API fields; what was
/// decided goes in `X-Helios-L1-*` headers.
async fn l1_prepare(mgr: Mgr, body: web::Payload) -> Result<HttpResponse, ApiError> {
    let req: crate::prepare::PrepareRequest = read_json(body, mgr.settings()).await?;
    let s = mgr.settings();
    let p = crate::prepare::prepare(req, &s.prices, &s.default_model)?;
    let places: Vec<&str> = p.breakpoints.iter().map(|b| b.as_str()).collect();
    Ok(HttpResponse::Ok()
        .insert_header(("X-Helios-L1-Breakpoints", places.join(",")))
        .insert_header(("X-Helios-L1-Model", p.model.clone()))
        .insert_header(("X-Helios-L1-Prefix-Tokens", p.prefix_tokens.to_string()))
        .insert_header(("X-Helios-L1-Min-Tokens", p.min_cache_tokens.to_string()))
        .json(p.body))
}

/// `POST /admin/backup` `{"to": "/absolute/dir"}`: a consistent copy of the
/// data directory, written by this server (writes pause meanwhile).
async fn backup(mgr: Mgr, body: web::Payload) -> Result<HttpResponse, ApiError> {
    let req: BackupRequest = read_json(body, mgr.settings()).await?;
    let report = blocking(move || mgr.backup(std::path::Path::new(&req.to))).await?;
    Ok(HttpResponse::Ok().json(report))
}

/// Body of `POST /admin/backup`.
#[derive(serde::Deserialize, utoipa::ToSchema)]
pub struct BackupRequest {
    /// Absolute path of an absent or empty directory under `--backup-root`.
    #[schema(pattern = "^/")]
    pub to: String,
}

async fn not_found(req: HttpRequest) -> HttpResponse {
    error_body(
        StatusCode::NOT_FOUND,
        "not_found",
        &format!("no route for {} {}", req.method(), req.path()),
    )
}

async fn method_not_allowed(req: HttpRequest) -> HttpResponse {
    let mut r = error_body(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        &format!("{} is not allowed on {}", req.method(), req.path()),
    );
    // Exactly the methods of this resource (RFC 9110), from the route table.
    let pattern = req.match_pattern().unwrap_or_default();
    let allow: Vec<&str> = ROUTES
        .iter()
        .filter(|(_, p)| *p == pattern)
        .map(|(m, _)| *m)
        .collect();
    if let Ok(v) = header::HeaderValue::from_str(&allow.join(", ")) {
        r.headers_mut().insert(header::ALLOW, v);
    }
    r
}

pub(crate) fn resource(path: &str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(method_not_allowed))
}

/// Registers every route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    crate::prom::configure(cfg);
    crate::openapi::configure(cfg);
    crate::docs::configure(cfg);
    cfg.service(
        web::scope(PREFIX)
            .service(resource("/lookup").route(web::post().to(lookup)))
            .service(resource("/store").route(web::post().to(store)))
            .service(resource("/metrics").route(web::get().to(metrics)))
            .service(resource("/invalidate").route(web::post().to(invalidate)))
            .service(resource("/health").route(web::get().to(health)))
            .service(resource("/summary").route(web::get().to(summary)))
            .service(resource("/stats/layer/{layer}").route(web::get().to(layer_stats)))
            .service(resource("/l1/prepare").route(web::post().to(l1_prepare)))
            .service(resource("/admin/backup").route(web::post().to(backup))),
    )
    .default_service(web::to(not_found));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_classifies_errors() {
        let code = |b: &[u8]| decode::<LookupRequest>(b).unwrap_err().code();
        assert_eq!(code(b"{not json"), "malformed_json");
        assert_eq!(code(b""), "malformed_json");
        assert_eq!(code(b"[1,2]"), "not_an_object");
        assert_eq!(code(b"\"text\""), "not_an_object");
        assert_eq!(code(b"{}"), "invalid_request");
        assert_eq!(code(br#"{"input_text": 5}"#), "invalid_request");
        assert!(decode::<LookupRequest>(br#"{"input_text": "hi"}"#).is_ok());
    }
}
