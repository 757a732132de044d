//! One log line per request, at info level: method, path, status, latency
//! and the cache outcome (the `X-Helios-Cache` response header, `-` when the
//! route has none). Bodies are never logged, so neither prompts nor
//! responses reach the log.
//!
//! The target is `helios_cache::access`, so `RUST_LOG=info,helios_cache::access=off`
//! silences it alone.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::Error;

/// Longest path logged, in bytes; longer ones are cut (paths never hold
/// prompts, but a client could send anything).
const MAX_PATH: usize = 200;

fn short(path: &str) -> &str {
    if path.len() <= MAX_PATH {
        return path;
    }
    let mut end = MAX_PATH;
    while !path.is_char_boundary(end) {
        end -= 1;
    }
    &path[..end]
}

/// The middleware: `App::new().wrap(actix_web::middleware::from_fn(access_log))`.
pub async fn access_log(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let start = Instant::now();
    let method = req.method().to_string();
    let path = short(req.path()).to_string();
    let res = next.call(req).await;
    let latency_ms = start.elapsed().as_secs_f64() * 1e3;
    let (status, cache) = match &res {
        Ok(r) => (
            r.status().as_u16(),
            r.headers()
                .get("x-helios-cache")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-")
                .to_string(),
        ),
        Err(e) => (
            e.as_response_error().status_code().as_u16(),
            "-".to_string(),
        ),
    };
    tracing::info!(
        target: "helios_cache::access",
        method = %method,
        path = %path,
        status,
        latency_ms = (latency_ms * 1000.0).round() / 1000.0,
        cache = %cache,
        "request"
    );
    res
}
