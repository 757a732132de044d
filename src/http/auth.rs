//! Optional API-key access control: with `--api-key` set, every endpoint
//! except health needs `Authorization: Bearer <key>` or `X-Helios-Api-Key:
//! <key>` (the gateway's clients need the latter: their `Authorization`
//! carries the provider's key, which is forwarded upstream).
//!
//! The comparison takes the same time whatever the key's content, so the key
//! cannot be guessed byte by byte from response times.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::{web, Error};

use super::error::error_body;
use super::ServerSettings;

/// Paths that never need the key: health (load balancers probe it) and the
/// API description (a browser cannot send the header; it holds no data).
const OPEN_PATHS: &[&str] = &["/api/v1/helios/cache/health", "/openapi.json", "/docs"];

/// Equal in time proportional to `expected`'s length only.
pub fn constant_time_eq(given: &[u8], expected: &[u8]) -> bool {
    let mut diff = (given.len() != expected.len()) as u8;
    for (i, e) in expected.iter().enumerate() {
        diff |= e ^ given.get(i).copied().unwrap_or(0);
    }
    diff == 0
}

fn authorized(req: &ServiceRequest, key: &str) -> bool {
    let header = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let given = header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))
        .unwrap_or("");
    let helios = req
        .headers()
        .get("x-helios-api-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    // Both are compared, so the time does not tell which one was sent.
    let by_bearer = constant_time_eq(given.trim().as_bytes(), key.as_bytes());
    let by_header = constant_time_eq(helios.trim().as_bytes(), key.as_bytes());
    by_bearer | by_header
}

/// The middleware: `App::new().wrap(from_fn(require_api_key))`.
pub async fn require_api_key(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    let key = req
        .app_data::<web::Data<ServerSettings>>()
        .and_then(|s| s.api_key.clone());
    let open = OPEN_PATHS.contains(&req.path()) || req.path().starts_with("/docs/");
    match key {
        Some(key) if !open && !authorized(&req, &key) => {
            let mut resp = error_body(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "this server requires an API key: send `Authorization: Bearer <key>`",
            );
            resp.headers_mut().insert(
                actix_web::http::header::WWW_AUTHENTICATE,
                actix_web::http::header::HeaderValue::from_static("Bearer"),
            );
            Ok(req.into_response(resp).map_into_right_body())
        }
        _ => Ok(next.call(req).await?.map_into_left_body()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compares_whole_keys() {
        assert!(constant_time_eq(b"secret-key-123456", b"secret-key-123456"));
        assert!(!constant_time_eq(b"secret-key-12345", b"secret-key-123456"));
        assert!(!constant_time_eq(
            b"secret-key-1234567",
            b"secret-key-123456"
        ));
        assert!(!constant_time_eq(b"", b"secret-key-123456"));
        assert!(!constant_time_eq(
            b"Secret-key-123456",
            b"secret-key-123456"
        ));
    }
}
