//! helios-cache: a single-binary LLM response cache.
//!
//! Three layers answer "do I need to call the model?": L1 tracks Anthropic
//! prompt caching, L2 matches exact repeats, L3 matches paraphrases.
//!
//! # Layout
//!
//! Dependencies point one way: **edge → core → storage**. Nothing imports
//! upward.
//!
//! - [`http`] — the edge: server start, the route table, handlers, wire types
//!   and their conversion into domain requests, OpenAPI, `/docs`, Prometheus,
//!   auth, access log. The only place that knows actix or builds error bodies.
//! - [`cache`] — the core: the [`cache::CacheManager`] (waterfall lookup,
//!   one-batch store, invalidation), the layer contract, validated requests
//!   ([`cache::request`]) and typed reports ([`cache::report`]), and the
//!   layers `l1/`, `l2` (with its in-memory [`cache::hot`] set), `l3/`. Knows
//!   no HTTP and names no sled type.
//! - [`embed`] — embedders behind one trait (bundled static models, model2vec
//!   directories, OpenAI-compatible APIs); used by the core.
//! - [`store`] — the only module that names sled: open, lock and state file,
//!   the `WriteBatch` layers stage into, accessors, backup copies.
//! - [`cli`] — subcommands other than `serve` that talk to a data directory or
//!   a running server (`backup`).
//! - [`config`] resolves flags, `HELIOS_*` variables and TOML into each part's
//!   own settings type; [`error`] is the error vocabulary; [`clock`] the
//!   wall clock every expiry uses.

pub mod cache;
pub mod cli;
pub mod clock;
pub mod config;
pub mod embed;
pub mod error;
pub mod http;
pub mod store;
