//! The one mapping from the error vocabulary to HTTP: each [`CacheError`]
//! kind gets its status here, and every error body of the server is built by
//! [`error_body`], so all errors look alike: `{"error": {"code", "message"}}`.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};

use crate::error::CacheError;

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

/// The status of each kind of error.
pub fn status_of(e: &CacheError) -> StatusCode {
    match e {
        CacheError::Invalid { .. } => StatusCode::BAD_REQUEST,
        CacheError::NotFound(_) => StatusCode::NOT_FOUND,
        CacheError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
        CacheError::Timeout(_) => StatusCode::REQUEST_TIMEOUT,
        CacheError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        status_of(&self.0)
    }

    fn error_response(&self) -> HttpResponse {
        error_body(self.status_code(), self.0.code(), &self.0.to_string())
    }
}

/// The error body every error response of the server carries.
pub fn error_body(status: StatusCode, code: &str, message: &str) -> HttpResponse {
    #[derive(serde::Serialize)]
    struct Detail<'a> {
        code: &'a str,
        message: &'a str,
    }
    #[derive(serde::Serialize)]
    struct Body<'a> {
        error: Detail<'a>,
    }
    HttpResponse::build(status).json(Body {
        error: Detail { code, message },
    })
}
