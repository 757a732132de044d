//! The edge: the only place that knows actix, wire JSON and error bodies.
//!
//! Requests arrive as wire types ([`api`]), become the core's validated
//! requests by `TryFrom`, go to the [`crate::cache::CacheManager`], and its
//! typed reports are serialised back. Errors leave through one mapping
//! ([`error`]). The route table ([`routes`]) is the single list of routes,
//! from which both the server and the OpenAPI document are built.

pub mod access_log;
pub mod api;
pub mod auth;
pub mod docs;
pub mod error;
pub mod extract;
pub mod gateway;
pub mod handlers;
pub mod openapi;
pub mod prom;
pub mod routes;
pub mod routing;
pub mod server;

pub use routes::{PREFIX, ROUTES};
pub use server::run;

/// What the HTTP server is configured with.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    /// Address to listen on.
    pub bind: String,
    pub workers: usize,
    /// Largest accepted request body, in bytes.
    pub body_limit: usize,
    /// Deepest accepted JSON nesting in a request body.
    pub max_json_depth: usize,
    /// Time a client gets to send a whole request.
    pub request_timeout_ms: u64,
    /// `Authorization: Bearer` key every endpoint but health and docs needs.
    pub api_key: Option<String>,
    /// Period of the flusher (durability `interval`, counters, state file).
    pub flush_interval_ms: u64,
    /// The drop-in provider gateway (`/v1/messages`, `/v1/chat/completions`).
    pub gateway: gateway::GatewaySettings,
}
