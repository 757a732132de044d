//! The route table: one list of (method, path, handler) from which come the
//! routes the server registers, [`ROUTES`], and the operations of the
//! OpenAPI document, so the three cannot disagree. Every GET route also
//! answers HEAD (load balancers health-check with HEAD). Unknown paths get a
//! 404 and known paths with another method a 405 with `Allow`, both with
//! the usual error body.

use std::sync::OnceLock;

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use utoipa::OpenApi;

use super::error::error_body;
use super::openapi::Frame;
use super::{docs, handlers, prom};

/// Route prefix of the cache API.
pub const PREFIX: &str = "/api/v1/helios/cache";

macro_rules! route_table {
    ($( $method:ident $path:literal => $module:ident :: $handler:ident ),* $(,)?) => {
        /// Every route the server has, as (method, path). HEAD is also
        /// answered wherever GET is.
        pub const ROUTES: &[(&str, &str)] = &[ $( (route_table!(@name $method), $path) ),* ];

        /// Registers every route and the fallbacks.
        pub fn configure(cfg: &mut web::ServiceConfig) {
            $( cfg.service(route_table!(@route $method, $path, $module::$handler)); )*
            cfg.default_service(web::to(not_found));
        }

        /// The operations, from the handlers' `#[utoipa::path]`.
        #[derive(OpenApi)]
        #[openapi(paths( $( $module::$handler ),* ))]
        struct Operations;
    };
    (@name get) => { "GET" };
    (@name post) => { "POST" };
    (@route get, $path:literal, $h:path) => {
        resource($path).route(web::get().to($h)).route(web::head().to($h))
    };
    (@route post, $path:literal, $h:path) => {
        resource($path).route(web::post().to($h))
    };
}

route_table! {
    post "/api/v1/helios/cache/lookup" => handlers::lookup,
    post "/api/v1/helios/cache/store" => handlers::store,
    get "/api/v1/helios/cache/metrics" => handlers::metrics,
    post "/api/v1/helios/cache/invalidate" => handlers::invalidate,
    post "/api/v1/helios/cache/feedback" => handlers::feedback,
    get "/api/v1/helios/cache/health" => handlers::health,
    get "/api/v1/helios/cache/summary" => handlers::summary,
    get "/api/v1/helios/cache/stats/layer/{layer}" => handlers::layer_stats,
    post "/api/v1/helios/cache/l1/prepare" => handlers::l1_prepare,
    post "/api/v1/helios/cache/admin/backup" => handlers::backup,
    get "/metrics" => prom::handler,
    get "/openapi.json" => self::openapi_json,
    get "/docs" => docs::page,
    get "/docs/{asset}" => docs::asset,
}

/// The OpenAPI document: the frame plus every operation of the table.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = Frame::openapi();
    doc.merge(Operations::openapi());
    doc
}

/// The document as pretty JSON, built once.
pub fn openapi_text() -> &'static str {
    static JSON: OnceLock<String> = OnceLock::new();
    JSON.get_or_init(|| {
        openapi()
            .to_pretty_json()
            .expect("the OpenAPI document serialises")
    })
}

/// This document.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "operations",
    operation_id = "openapi",
    responses((status = 200, description = "The OpenAPI 3 description of the API", body = Object))
)]
pub async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(openapi_text())
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
    let mut allow: Vec<&str> = Vec::new();
    for (m, _) in ROUTES.iter().filter(|(_, p)| *p == pattern) {
        allow.push(m);
        if *m == "GET" {
            allow.push("HEAD");
        }
    }
    if let Ok(v) = header::HeaderValue::from_str(&allow.join(", ")) {
        r.headers_mut().insert(header::ALLOW, v);
    }
    r
}

fn resource(path: &str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(method_not_allowed))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every route of the server is described, and nothing else.
    #[test]
    fn every_route_is_documented() {
        let doc: serde_json::Value = serde_json::from_str(openapi_text()).unwrap();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
        let mut documented = Vec::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                if ["get", "post", "put", "delete", "patch"].contains(&method.as_str()) {
                    documented.push((method.to_uppercase(), path.clone()));
                }
            }
        }
        let mut routes: Vec<(String, String)> = ROUTES
            .iter()
            .map(|(m, p)| (m.to_string(), p.to_string()))
            .collect();
        documented.sort();
        routes.sort();
        assert_eq!(documented, routes);
        assert!(ROUTES.iter().any(|(_, p)| p.starts_with(PREFIX)));
    }

    /// Every property of the request bodies has a description (the `///`
    /// docs of the wire types reach the document).
    #[test]
    fn request_fields_are_described() {
        let doc: serde_json::Value = serde_json::from_str(openapi_text()).unwrap();
        for schema in ["LookupRequest", "StoreRequest", "InvalidateRequest"] {
            let props = doc["components"]["schemas"][schema]["properties"]
                .as_object()
                .unwrap_or_else(|| panic!("{schema} missing"));
            for (name, prop) in props {
                // An optional reference carries it on its `$ref` member.
                let described = |p: &serde_json::Value| {
                    p["description"].as_str().is_some_and(|d| !d.is_empty())
                };
                let members = prop["oneOf"].as_array().cloned().unwrap_or_default();
                assert!(
                    described(prop) || members.iter().any(described),
                    "{schema}.{name} has no description: {prop}"
                );
            }
        }
    }
}
