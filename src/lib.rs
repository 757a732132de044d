//! helios-cache: a single-binary LLM response cache.
//!
//! Three layers answer "do I need to call the model?": L1 tracks Anthropic
//! prompt caching, L2 matches exact repeats, L3 matches paraphrases. The
//! [`manager::CacheManager`] runs the waterfall; [`http`] exposes it as REST.

pub mod access_log;
pub mod api;
pub mod auth;
pub mod backup;
pub mod clock;
pub mod config;
pub mod docs;
pub mod embed;
pub mod error;
pub mod eval;
pub mod http;
pub mod l1;
pub mod l2;
pub mod l3;
pub mod layer;
pub mod manager;
pub mod metrics;
pub mod openapi;
pub mod prepare;
pub mod pricing;
pub mod prom;
pub mod records;
pub mod scope;
pub mod server;
pub mod storage;
pub mod tokens;
