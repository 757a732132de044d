//! `GET /docs`: interactive API documentation that works offline.
//!
//! The page is Swagger UI pointed at `/openapi.json`. Its assets come from
//! the npm package `swagger-ui-dist` (version in `assets/docs/VERSION`),
//! committed under `assets/docs/` and compiled into the binary, so nothing is
//! fetched from a CDN at build or run time.

use actix_web::{web, HttpResponse};

const BUNDLE_JS: &[u8] = include_bytes!("../assets/docs/swagger-ui-bundle.js");
const CSS: &[u8] = include_bytes!("../assets/docs/swagger-ui.css");

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

async fn page() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(PAGE)
}

async fn asset(name: web::Path<String>) -> HttpResponse {
    let (body, kind) = match name.as_str() {
        "swagger-ui-bundle.js" => (BUNDLE_JS, "text/javascript; charset=utf-8"),
        "swagger-ui.css" => (CSS, "text/css; charset=utf-8"),
        other => {
            return HttpResponse::NotFound().json(serde_json::json!({"error": {
                "code": "not_found",
                "message": format!("no documentation asset {other:?}"),
            }}))
        }
    };
    HttpResponse::Ok()
        .content_type(kind)
        .insert_header(("Cache-Control", "public, max-age=86400"))
        .body(body)
}

/// Registers `GET /docs` and `GET /docs/{asset}`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    use crate::http::resource;
    cfg.service(resource("/docs").route(web::get().to(page)))
        .service(resource("/docs/{asset}").route(web::get().to(asset)));
}
