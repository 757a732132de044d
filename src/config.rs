//! Configuration: command-line flags, `HELIOS_*` environment variables and an
//! optional TOML file, merged with the precedence flag > env > file > default.
//!
//! Every option is declared once, in [`Options`], which is both the clap
//! argument set (clap handles flag > env) and the TOML file schema. [`Settings`]
//! is the resolved, validated result: each part's own settings type (the
//! core's [`CacheSettings`] with its layers' and the store's settings, the
//! edge's [`ServerSettings`]). Nothing below imports this module.

use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use serde::Deserialize;

use crate::cache::l1::L1Settings;
use crate::cache::l2::L2Settings;
use crate::cache::l3::{Guard, L3Settings, VerifierChoice};
use crate::cache::pricing::{ModelSpec, PriceTable};
use crate::cache::request::Limits;
use crate::cache::CacheSettings;
use crate::embed::EmbeddingOptions;
use crate::http::gateway::GatewaySettings;
use crate::http::ServerSettings;
use crate::store::{Durability, StoreSettings};

/// How hard a store is pushed to disk before it is acknowledged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DurabilityArg {
    /// Flush on a short interval; a crash can lose the last interval's stores.
    Interval,
    /// Flush before every store is acknowledged.
    Sync,
}

/// Log line format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// Every server option. `None` means "not given at this level".
#[derive(Args, Deserialize, Debug, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct Options {
    /// Address to listen on (port 0 picks a free port; the log says which).
    /// [default: 127.0.0.1:8002]
    #[arg(long, env = "HELIOS_BIND")]
    pub bind: Option<String>,

    /// Directory holding all durable state (sled database, vector index, lock).
    /// [default: ./data]
    #[arg(long, env = "HELIOS_DATA_DIR")]
    pub data_dir: Option<PathBuf>,

    /// Number of HTTP worker threads. [default: number of CPUs]
    #[arg(long, env = "HELIOS_WORKERS")]
    pub workers: Option<usize>,

    /// Largest accepted request body in bytes; larger bodies get 413. [default: 4194304]
    #[arg(long, env = "HELIOS_BODY_LIMIT")]
    pub body_limit: Option<usize>,

    /// `interval`: flush to disk every --flush-interval-ms (a crash can lose
    /// stores acknowledged within that window); `sync`: every store is on disk
    /// before it is acknowledged. [default: interval]
    #[arg(long, env = "HELIOS_DURABILITY", value_enum)]
    pub durability: Option<DurabilityArg>,

    /// Flush period of the `interval` durability mode, in milliseconds. [default: 200]
    #[arg(long, env = "HELIOS_FLUSH_INTERVAL_MS")]
    pub flush_interval_ms: Option<u64>,

    /// How often the background sweeper removes expired entries, in milliseconds. [default: 1000]
    #[arg(long, env = "HELIOS_SWEEP_INTERVAL_MS")]
    pub sweep_interval_ms: Option<u64>,

    /// How often the L3 vector index is saved beside the database (only the
    /// scopes that changed), in seconds. A crash then costs at most the
    /// vectors stored since the last save, replayed from the database at the
    /// next start. [default: 300]
    #[arg(long, env = "HELIOS_INDEX_SAVE_INTERVAL_SECONDS")]
    pub index_save_interval_seconds: Option<u64>,

    /// Memory sled may use for its page cache, in MiB. [default: 256]
    #[arg(long, env = "HELIOS_SLED_CACHE_MB")]
    pub sled_cache_mb: Option<u64>,

    /// Default time-to-live of an L2 entry, in seconds. [default: 3600]
    #[arg(long, env = "HELIOS_L2_TTL_SECONDS")]
    pub l2_ttl_seconds: Option<u64>,

    /// Largest per-entry `ttl_seconds` accepted for L2; larger values are capped. [default: 604800]
    #[arg(long, env = "HELIOS_L2_MAX_TTL_SECONDS")]
    pub l2_max_ttl_seconds: Option<u64>,

    /// Maximum number of L2 entries; beyond it the entries closest to expiry are evicted. [default: 1000000]
    #[arg(long, env = "HELIOS_L2_MAX_ENTRIES")]
    pub l2_max_entries: Option<u64>,

    /// Maximum total size of L2 entries in bytes (as stored). [default: 2147483648]
    #[arg(long, env = "HELIOS_L2_MAX_BYTES")]
    pub l2_max_bytes: Option<u64>,

    /// Memory for hot L2 entries kept decoded in memory, in MiB. [default: a quarter of --l2-max-bytes (512 at its default)]
    #[arg(long, env = "HELIOS_L2_HOT_MB")]
    pub l2_hot_mb: Option<u64>,

    /// How long an L1 prefix stays warm after its last use (Anthropic's
    /// default 5-minute cache), in seconds. [default: 300]
    #[arg(long, env = "HELIOS_L1_TTL_SECONDS")]
    pub l1_ttl_seconds: Option<u64>,

    /// How long an L1 prefix stored with `cache_ttl: "1h"` stays warm, in seconds. [default: 3600]
    #[arg(long, env = "HELIOS_L1_TTL_1H_SECONDS")]
    pub l1_ttl_1h_seconds: Option<u64>,

    /// Maximum number of warm L1 prefixes tracked. [default: 100000]
    #[arg(long, env = "HELIOS_L1_MAX_ENTRIES")]
    pub l1_max_entries: Option<u64>,

    /// Maximum total size of L1 records in bytes (as stored). [default: 67108864]
    #[arg(long, env = "HELIOS_L1_MAX_BYTES")]
    pub l1_max_bytes: Option<u64>,

    /// Log format. Filter with RUST_LOG (e.g. `RUST_LOG=helios_cache=debug`). [default: text]
    #[arg(long, env = "HELIOS_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,

    /// Require `Authorization: Bearer <key>` on every endpoint except health,
    /// /docs and /openapi.json (at least 16 characters).
    /// Prefer the environment variable, which `ps` does not show.
    #[arg(long, env = "HELIOS_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,

    /// Longest accepted `input_text`, in bytes. [default: 1048576]
    #[arg(long, env = "HELIOS_MAX_INPUT_BYTES")]
    pub max_input_bytes: Option<usize>,

    /// Most messages accepted in one `messages` conversation. [default: 1000]
    #[arg(long, env = "HELIOS_MAX_MESSAGES")]
    pub max_messages: Option<usize>,

    /// Largest accepted `response_data` (as JSON text), in bytes. [default: 4194304]
    #[arg(long, env = "HELIOS_MAX_RESPONSE_BYTES")]
    pub max_response_bytes: Option<usize>,

    /// Deepest accepted JSON nesting in a request body. [default: 64]
    #[arg(long, env = "HELIOS_MAX_JSON_DEPTH")]
    pub max_json_depth: Option<usize>,

    /// Time a client gets to send a whole request (headers and body), in
    /// milliseconds; slower requests get 408 and free their worker. [default: 10000]
    #[arg(long, env = "HELIOS_REQUEST_TIMEOUT_MS")]
    pub request_timeout_ms: Option<u64>,

    /// Directory under which a running server writes backups asked for over
    /// HTTP (`helios-cache backup`, `POST /admin/backup`). [default: the data
    /// directory's parent]
    #[arg(long, env = "HELIOS_BACKUP_ROOT")]
    pub backup_root: Option<PathBuf>,

    /// Default time-to-live of an L3 entry, in seconds. [default: 86400]
    #[arg(long, env = "HELIOS_L3_TTL_SECONDS")]
    pub l3_ttl_seconds: Option<u64>,

    /// Largest per-entry `ttl_seconds` accepted for L3; larger values are capped. [default: 2592000]
    #[arg(long, env = "HELIOS_L3_MAX_TTL_SECONDS")]
    pub l3_max_ttl_seconds: Option<u64>,

    /// Maximum number of L3 entries; beyond it the entries closest to expiry are evicted. [default: 1000000]
    #[arg(long, env = "HELIOS_L3_MAX_ENTRIES")]
    pub l3_max_entries: Option<u64>,

    /// Maximum total size of L3 entries in bytes (as stored, vectors included). [default: 4294967296]
    #[arg(long, env = "HELIOS_L3_MAX_BYTES")]
    pub l3_max_bytes: Option<u64>,

    /// Cosine similarity an L3 match needs (0-1). [default: measured per embedder; 0.90 otherwise]
    #[arg(long, env = "HELIOS_L3_THRESHOLD")]
    pub l3_threshold: Option<f64>,

    /// Cosine similarity a chat lookup (`messages` with history) needs between the standalone texts (0-1). [default: 0.88]
    #[arg(long, env = "HELIOS_L3_CHAT_THRESHOLD")]
    pub l3_chat_threshold: Option<f64>,

    /// The same for chats whose standalone text has Hangul (0-1). [default: 0.98]
    #[arg(long, env = "HELIOS_L3_CHAT_THRESHOLD_HANGUL")]
    pub l3_chat_threshold_hangul: Option<f64>,

    /// Cosine similarity the final requests of two chats need (0-1). [default: 0.60]
    #[arg(long, env = "HELIOS_L3_CHAT_FINAL_THRESHOLD")]
    pub l3_chat_final_threshold: Option<f64>,

    /// False-hit guard checks: `all`, `off`, or a list of numbers,negation,antonyms,entities. [default: numbers,negation,antonyms]
    #[arg(long, env = "HELIOS_L3_GUARD")]
    pub l3_guard: Option<String>,

    /// Pair verifier that reads both texts of a semantic candidate and decides
    /// whether the cached answer fits: `bundled`, `off` or a verifier directory. [default: bundled]
    #[arg(long, env = "HELIOS_L3_VERIFIER")]
    pub l3_verifier: Option<String>,

    /// Score (0-1) the verifier must give a candidate to serve it. [default: the verifier's calibrated threshold]
    #[arg(long, env = "HELIOS_L3_VERIFIER_THRESHOLD")]
    pub l3_verifier_threshold: Option<f64>,

    /// Two-tier judging: a candidate whose cosine reaches the embedder's precise
    /// threshold is served unless the verifier scores it below this (0-1); one
    /// between the gate and that threshold needs the full verifier threshold. `off`: one tier.
    #[arg(long, env = "HELIOS_L3_VERIFIER_VETO")]
    pub l3_verifier_veto: Option<String>,

    /// Cosine (0-1) at which an English candidate the verifier refused is still
    /// served when it is a rewording, not a small edit: each text has two or more
    /// content words the other lacks, and the same names. `off`: the verifier
    /// decides alone. [default: 0.90, calibrated for the bundled embedder]
    #[arg(long, env = "HELIOS_L3_REWORDED_THRESHOLD")]
    pub l3_reworded_threshold: Option<String>,

    /// L3 entries read from disk before the server starts answering; a larger
    /// L3 is read in the background while L1 and L2 serve (L3 serves what a
    /// saved index holds and misses the rest until it is in; /health says
    /// so). [default: 20000]
    #[arg(long, env = "HELIOS_L3_LOAD_NOW_MAX")]
    pub l3_load_now_max: Option<u64>,

    /// Embedding model: a model2vec directory (config.json, model.safetensors,
    /// tokenizer.json) or a Hugging Face model id (downloaded once into the
    /// data directory, where the network allows). [default: the bundled model]
    #[arg(long, env = "HELIOS_EMBEDDING_MODEL")]
    pub embedding_model: Option<String>,

    /// Base URL of an OpenAI-compatible embeddings API (e.g.
    /// http://localhost:11434/v1); the key is read from HELIOS_EMBEDDING_API_KEY.
    #[arg(long, env = "HELIOS_EMBEDDING_URL")]
    pub embedding_url: Option<String>,

    /// Model name sent to --embedding-url. [default: text-embedding-3-small]
    #[arg(long, env = "HELIOS_EMBEDDING_API_MODEL")]
    pub embedding_api_model: Option<String>,

    /// Timeout of one call to --embedding-url, in milliseconds. [default: 5000]
    #[arg(long, env = "HELIOS_EMBEDDING_TIMEOUT_MS")]
    pub embedding_timeout_ms: Option<u64>,

    /// Model assumed when a request names none. [default: claude-sonnet-4-5]
    #[arg(long, env = "HELIOS_DEFAULT_MODEL")]
    pub default_model: Option<String>,

    /// Base URL the gateway's `POST /v1/messages` forwards misses to.
    /// [default: https://api.anthropic.com]
    #[arg(long, env = "HELIOS_UPSTREAM_ANTHROPIC")]
    pub upstream_anthropic: Option<String>,

    /// Base URL the gateway's `POST /v1/chat/completions` forwards misses to
    /// (any OpenAI-compatible server: vLLM, Ollama, LiteLLM).
    /// [default: https://api.openai.com]
    #[arg(long, env = "HELIOS_UPSTREAM_OPENAI")]
    pub upstream_openai: Option<String>,

    /// Gateway: requests with an explicit `temperature` > 0 pass through
    /// uncached (for teams that want sampled answers fresh). [default: false]
    #[arg(long, env = "HELIOS_GATEWAY_FRESH_WHEN_SAMPLED", num_args = 0..=1, default_missing_value = "true")]
    pub gateway_fresh_when_sampled: Option<bool>,

    /// Gateway: longest wait for the upstream to connect, or between two reads
    /// of its answer, in milliseconds; beyond it the client gets a 504.
    /// [default: 120000]
    #[arg(long, env = "HELIOS_GATEWAY_UPSTREAM_TIMEOUT_MS")]
    pub gateway_upstream_timeout_ms: Option<u64>,

    /// Per-model prices and prompt-cache minimums (TOML file only: `[[models]]`).
    #[arg(skip)]
    pub models: Option<Vec<ModelSpec>>,
}

/// Resolved configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    pub server: ServerSettings,
    pub cache: CacheSettings,
    pub log_format: LogFormat,
}

/// A configuration problem, reported before anything is opened.
#[derive(Debug, thiserror::Error)]
#[error("configuration error: {0}")]
pub struct ConfigError(pub String);

impl Options {
    /// Reads a TOML config file.
    pub fn from_file(path: &Path) -> Result<Options, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError(format!("cannot read {}: {e}", path.display())))?;
        toml::from_str(&text).map_err(|e| ConfigError(format!("{}: {e}", path.display())))
    }

    /// Fills every field not set here from `lower` (lower precedence).
    pub fn or(self, lower: Options) -> Options {
        macro_rules! pick {
            ($($f:ident),*) => { Options { $($f: self.$f.or(lower.$f)),* } };
        }
        pick!(
            bind,
            data_dir,
            workers,
            body_limit,
            durability,
            flush_interval_ms,
            sweep_interval_ms,
            index_save_interval_seconds,
            sled_cache_mb,
            l2_ttl_seconds,
            l2_max_ttl_seconds,
            l2_max_entries,
            l2_max_bytes,
            l2_hot_mb,
            l1_ttl_seconds,
            l1_ttl_1h_seconds,
            l1_max_entries,
            l1_max_bytes,
            log_format,
            default_model,
            api_key,
            backup_root,
            max_input_bytes,
            max_messages,
            max_response_bytes,
            max_json_depth,
            request_timeout_ms,
            l3_ttl_seconds,
            l3_max_ttl_seconds,
            l3_max_entries,
            l3_max_bytes,
            l3_threshold,
            l3_chat_threshold,
            l3_chat_threshold_hangul,
            l3_chat_final_threshold,
            l3_guard,
            l3_verifier,
            l3_verifier_threshold,
            l3_verifier_veto,
            l3_reworded_threshold,
            l3_load_now_max,
            embedding_model,
            embedding_url,
            embedding_api_model,
            embedding_timeout_ms,
            upstream_anthropic,
            upstream_openai,
            gateway_fresh_when_sampled,
            gateway_upstream_timeout_ms,
            models
        )
    }

    /// Applies defaults and checks ranges.
    pub fn resolve(self) -> Result<Settings, ConfigError> {
        let durability = match self.durability.unwrap_or(DurabilityArg::Interval) {
            DurabilityArg::Interval => Durability::Interval,
            DurabilityArg::Sync => Durability::Sync,
        };
        let workers = self.workers.unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2)
        });
        let l2_max_bytes = self.l2_max_bytes.unwrap_or(2 << 30);
        let l2 = L2Settings {
            // An unset default TTL follows a lower cap instead of clashing with it.
            ttl_seconds: self
                .l2_ttl_seconds
                .unwrap_or(3600.min(self.l2_max_ttl_seconds.unwrap_or(u64::MAX))),
            max_ttl_seconds: self.l2_max_ttl_seconds.unwrap_or(7 * 24 * 3600),
            max_entries: self.l2_max_entries.unwrap_or(1_000_000),
            max_bytes: l2_max_bytes,
            // Sized from the byte budget: hits stay in memory as L2 grows.
            hot_bytes: self.l2_hot_mb.map_or(l2_max_bytes / 4, |mb| mb << 20),
        };
        let l1 = L1Settings {
            ttl_seconds: self.l1_ttl_seconds.unwrap_or(300),
            ttl_1h_seconds: self.l1_ttl_1h_seconds.unwrap_or(3600),
            max_entries: self.l1_max_entries.unwrap_or(100_000),
            max_bytes: self.l1_max_bytes.unwrap_or(64 << 20),
        };
        let l3 = L3Settings {
            ttl_seconds: self
                .l3_ttl_seconds
                .unwrap_or(86_400.min(self.l3_max_ttl_seconds.unwrap_or(u64::MAX))),
            max_ttl_seconds: self.l3_max_ttl_seconds.unwrap_or(30 * 86_400),
            max_entries: self.l3_max_entries.unwrap_or(1_000_000),
            max_bytes: self.l3_max_bytes.unwrap_or(4 << 30),
            threshold: self.l3_threshold,
            guard: Guard::parse(
                self.l3_guard
                    .as_deref()
                    .unwrap_or("numbers,negation,antonyms"),
            )
            .map_err(ConfigError)?,
            chat: {
                let d = crate::cache::l3::ChatSettings::default();
                crate::cache::l3::ChatSettings {
                    threshold: self.l3_chat_threshold.unwrap_or(d.threshold),
                    threshold_hangul: self.l3_chat_threshold_hangul.unwrap_or(d.threshold_hangul),
                    final_threshold: self.l3_chat_final_threshold.unwrap_or(d.final_threshold),
                    ..d
                }
            },
            verifier_threshold: self.l3_verifier_threshold,
            verifier_veto: off_or_fraction("l3_verifier_veto", self.l3_verifier_veto, None)?,
            reworded_threshold: off_or_fraction(
                "l3_reworded_threshold",
                self.l3_reworded_threshold,
                Some(crate::cache::l3::REWORDED_THRESHOLD),
            )?,
            load_now_max: self
                .l3_load_now_max
                .unwrap_or(crate::cache::l3::LOAD_NOW_MAX),
            verifier: VerifierChoice::parse(self.l3_verifier.as_deref().unwrap_or("bundled"))
                .map_err(ConfigError)?,
        };
        let embedding = EmbeddingOptions {
            model: self.embedding_model,
            url: self.embedding_url,
            api_model: self
                .embedding_api_model
                .unwrap_or_else(|| "text-embedding-3-small".into()),
            timeout_ms: self.embedding_timeout_ms.unwrap_or(5000),
        };
        let limits = Limits {
            max_input_bytes: self.max_input_bytes.unwrap_or(1 << 20),
            max_response_bytes: self.max_response_bytes.unwrap_or(4 << 20),
            max_messages: self.max_messages.unwrap_or(1000),
        };
        let data_dir = self.data_dir.unwrap_or_else(|| PathBuf::from("data"));
        let backup_root = self.backup_root.unwrap_or_else(|| {
            let abs = std::path::absolute(&data_dir).unwrap_or_else(|_| data_dir.clone());
            abs.parent().map(PathBuf::from).unwrap_or(abs)
        });
        let flush_interval_ms = self.flush_interval_ms.unwrap_or(200);
        let settings = Settings {
            server: ServerSettings {
                bind: self.bind.unwrap_or_else(|| "127.0.0.1:8002".into()),
                workers,
                body_limit: self.body_limit.unwrap_or(4 << 20),
                max_json_depth: self.max_json_depth.unwrap_or(64),
                request_timeout_ms: self.request_timeout_ms.unwrap_or(10_000),
                api_key: self.api_key.filter(|k| !k.is_empty()),
                flush_interval_ms,
                gateway: GatewaySettings {
                    upstream_anthropic: self
                        .upstream_anthropic
                        .unwrap_or_else(|| "https://api.anthropic.com".into())
                        .trim_end_matches('/')
                        .to_string(),
                    upstream_openai: self
                        .upstream_openai
                        .unwrap_or_else(|| "https://api.openai.com".into())
                        .trim_end_matches('/')
                        .to_string(),
                    fresh_when_sampled: self.gateway_fresh_when_sampled.unwrap_or(false),
                    upstream_timeout_ms: self.gateway_upstream_timeout_ms.unwrap_or(120_000),
                },
            },
            cache: CacheSettings {
                store: StoreSettings {
                    data_dir,
                    durability,
                    flush_interval_ms,
                    sled_cache_bytes: self.sled_cache_mb.unwrap_or(256) << 20,
                },
                l1,
                l2,
                l3,
                embedding,
                limits,
                default_model: self
                    .default_model
                    .unwrap_or_else(|| "claude-sonnet-4-5".into()),
                prices: PriceTable::with_overrides(self.models.unwrap_or_default())
                    .map_err(ConfigError)?,
                backup_root,
                sweep_interval_ms: self.sweep_interval_ms.unwrap_or(1000),
                index_save_interval_seconds: self.index_save_interval_seconds.unwrap_or(300),
            },
            log_format: self.log_format.unwrap_or(LogFormat::Text),
        };
        settings.check()?;
        Ok(settings)
    }
}

impl Settings {
    fn check(&self) -> Result<(), ConfigError> {
        let bad = |what: &str| Err(ConfigError(what.to_string()));
        let (server, cache) = (&self.server, &self.cache);
        if server.workers == 0 || server.workers > 1024 {
            return bad("workers must be between 1 and 1024");
        }
        if server.body_limit < 1024 {
            return bad("body_limit must be at least 1024 bytes");
        }
        if server.flush_interval_ms == 0
            || cache.sweep_interval_ms == 0
            || cache.index_save_interval_seconds == 0
        {
            return bad(
                "flush_interval_ms, sweep_interval_ms and index_save_interval_seconds must be positive",
            );
        }
        if cache.l2.ttl_seconds == 0 || cache.l2.ttl_seconds > cache.l2.max_ttl_seconds {
            return bad("l2_ttl_seconds must be positive and at most l2_max_ttl_seconds");
        }
        if cache.l1.ttl_seconds == 0 || cache.l1.ttl_1h_seconds < cache.l1.ttl_seconds {
            return bad("l1_ttl_seconds must be positive and at most l1_ttl_1h_seconds");
        }
        if cache.l1.max_entries == 0 || cache.l1.max_bytes == 0 {
            return bad("l1_max_entries and l1_max_bytes must be positive");
        }
        if cache.l3.ttl_seconds == 0 || cache.l3.ttl_seconds > cache.l3.max_ttl_seconds {
            return bad("l3_ttl_seconds must be positive and at most l3_max_ttl_seconds");
        }
        if cache.l3.max_entries == 0 || cache.l3.max_bytes == 0 {
            return bad("l3_max_entries and l3_max_bytes must be positive");
        }
        if cache
            .l3
            .threshold
            .is_some_and(|t| !(0.0..=1.0).contains(&t))
        {
            return bad("l3_threshold must be between 0 and 1");
        }
        let chat = &cache.l3.chat;
        if [chat.threshold, chat.threshold_hangul, chat.final_threshold]
            .iter()
            .any(|t| !(0.0..=1.0).contains(t))
        {
            return bad("l3_chat_threshold, l3_chat_threshold_hangul and l3_chat_final_threshold must be between 0 and 1");
        }
        if cache
            .l3
            .verifier_threshold
            .is_some_and(|t| !(0.0..=1.0).contains(&t))
        {
            return bad("l3_verifier_threshold must be between 0 and 1");
        }
        if cache.limits.max_input_bytes == 0
            || cache.limits.max_messages == 0
            || cache.limits.max_response_bytes == 0
            || !(2..=128).contains(&server.max_json_depth)
            || server.request_timeout_ms == 0
        {
            return bad("max_input_bytes, max_messages and max_response_bytes must be positive, max_json_depth 2..=128, request_timeout_ms positive");
        }
        if server.api_key.as_ref().is_some_and(|k| k.len() < 16) {
            return bad("api_key must be at least 16 characters");
        }
        if cache.embedding.timeout_ms == 0 {
            return bad("embedding_timeout_ms must be positive");
        }
        if cache.l2.max_entries == 0 || cache.l2.max_bytes == 0 {
            return bad("l2_max_entries and l2_max_bytes must be positive");
        }
        server.gateway.check().map_err(ConfigError)?;
        Ok(())
    }
}

/// Parses a setting that is `off` or a fraction in 0..1; unset gives `default`.
fn off_or_fraction(
    name: &str,
    value: Option<String>,
    default: Option<f64>,
) -> Result<Option<f64>, ConfigError> {
    match value.as_deref().map(str::trim) {
        None => Ok(default),
        Some("off" | "none") => Ok(None),
        Some(v) => v
            .parse::<f64>()
            .ok()
            .filter(|x| (0.0..=1.0).contains(x))
            .map(Some)
            .ok_or_else(|| ConfigError(format!("{name} must be off or 0..1, got {v:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn higher_level_wins_field_by_field() {
        let flag = Options {
            bind: Some("127.0.0.1:1".into()),
            ..Options::default()
        };
        let file = Options {
            bind: Some("127.0.0.1:2".into()),
            l2_ttl_seconds: Some(5),
            ..Options::default()
        };
        let s = flag.or(file).resolve().unwrap();
        assert_eq!(s.server.bind, "127.0.0.1:1");
        assert_eq!(s.cache.l2.ttl_seconds, 5);
        assert_eq!(s.server.body_limit, 4 << 20);
    }

    #[test]
    fn file_rejects_unknown_keys() {
        let err = toml::from_str::<Options>("bnd = \"x\"").unwrap_err();
        assert!(err.to_string().contains("bnd"));
    }

    #[test]
    fn gateway_options_resolve() {
        let s = Options::default().resolve().unwrap();
        assert_eq!(
            s.server.gateway.upstream_anthropic,
            "https://api.anthropic.com"
        );
        assert_eq!(s.server.gateway.upstream_openai, "https://api.openai.com");
        assert!(!s.server.gateway.fresh_when_sampled);
        let o: Options = toml::from_str(
            "upstream_openai = \"http://127.0.0.1:11434/\"\ngateway_fresh_when_sampled = true",
        )
        .unwrap();
        let s = o.resolve().unwrap();
        assert_eq!(s.server.gateway.upstream_openai, "http://127.0.0.1:11434");
        assert!(s.server.gateway.fresh_when_sampled);
        let bad = Options {
            upstream_anthropic: Some("ftp://x".into()),
            ..Options::default()
        };
        assert!(bad.resolve().is_err());
    }

    #[test]
    fn bad_ranges_are_refused() {
        let o = Options {
            l2_ttl_seconds: Some(10),
            l2_max_ttl_seconds: Some(5),
            ..Options::default()
        };
        assert!(o.resolve().is_err());
    }
}
