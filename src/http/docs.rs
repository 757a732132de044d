//! `GET /docs`: interactive API documentation that works offline.
//!
//! The page is Swagger UI pointed at `/openapi.json`. Its assets come from
//! the npm package `swagger-ui-dist` (version in `assets/docs/VERSION`),
//! committed under `assets/docs/` and compiled into the binary, so nothing is
//! fetched from a CDN at build or run time.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};

use super::error::error_body;
use super::openapi::ErrorBody;

const BUNDLE_JS: &[u8] = include_bytes!("../../assets/docs/swagger-ui-bundle.js");
const CSS: &[u8] = include_bytes!("../../assets/docs/swagger-ui.css");

const PAGE: &str = r##"<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>helios-cache API</title>
  <link rel="stylesheet" href="/docs/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/swagger-ui-bundle.js"></script>
  <script>
    window.onload = function () {
      window.ui = SwaggerUIBundle({
        url: "/openapi.json",
        dom_id: "#swagger-ui",
        deepLinking: true,
        // No online validator badge: the page must work without internet.
        validatorUrl: null,
      });
    };
  </script>
</body>
</html>
"##;

/// Interactive API documentation (Swagger UI, served from the binary).
#[utoipa::path(
    get,
    path = "/docs",
    tag = "operations",
    operation_id = "docs",
    responses((status = 200, description = "HTML page", content_type = "text/html", body = String))
)]
pub async fn page() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(PAGE)
}

/// A static asset of the interactive documentation.
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
pub async fn asset(name: web::Path<String>) -> HttpResponse {
    let (body, kind) = match name.as_str() {
        "swagger-ui-bundle.js" => (BUNDLE_JS, "text/javascript; charset=utf-8"),
        "swagger-ui.css" => (CSS, "text/css; charset=utf-8"),
        other => {
            return error_body(
                StatusCode::NOT_FOUND,
                "not_found",
                &format!("no documentation asset {other:?}"),
            )
        }
    };
    HttpResponse::Ok()
        .content_type(kind)
        .insert_header(("Cache-Control", "public, max-age=86400"))
        .body(body)
}
