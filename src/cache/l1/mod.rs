//! L1, the prompt-cache layer: which long system prompts are warm in
//! Anthropic's prompt cache, and what that saves.
//!
//! L1 holds no responses. It tracks, per (namespace, model family, system
//! prompt), when the provider last used the cached prefix, so that a lookup
//! can say "the next call will read this prefix from the cache" and price it.
//!
//! * **Warmth.** A store that carries a system prompt long enough to cache
//!   marks the prefix used *now*; it stays warm for the TTL (5 minutes, or 1
//!   hour when the store says `cache_ttl: "1h"`) from its last use. A warm
//!   prefix keeps the longer of its current TTL and the requested one, as
//!   the provider refreshes an entry with its own TTL. The record lives in
//!   sled with a wall-clock expiry, so a restart keeps it.
//! * **Lookups do not refresh.** Anthropic refreshes an entry when a model
//!   call *reads* it; a lookup is not a model call (the caller may decide not
//!   to call, or call later), so only a store — which reports a call that
//!   happened — moves the expiry.
//! * **Token counts.** Eligibility compares the prefix's token count with the
//!   model's `min_cache_tokens`. The count is, best first: what the provider
//!   reported in `usage` for this prefix, the caller's `system_prompt_tokens`,
//!   or the estimate of [`tokens`]. Known counts are remembered per
//!   (model family, prompt) in memory and in the warm record.
//! * **Ground truth.** A store with `usage` says what really happened:
//!   `cache_read_input_tokens > 0` means the prefix was warm (a read),
//!   otherwise `cache_creation_input_tokens > 0` means it was written, and
//!   neither means nothing was cached. L1's prediction for that call (read /
//!   write / nothing, from its state just before the store) is compared with
//!   it and counted; the state is then set from the truth (a read or write
//!   makes it warm, nothing makes it cold), and the reported count replaces
//!   the estimate.
//! * **Savings.** A read saves `tokens × (input − cache_read)`; a write costs
//!   `tokens × (cache_write − input)` extra. With `usage` the reported tokens
//!   are priced, otherwise the predicted action and count.

pub mod plan;
pub mod prepare;
pub mod savings;
pub mod tokens;

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use moka::sync::Cache;
use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_128;

use super::layer::{InvalidateFilter, Layer, LayerHealth, LayerId, LayerSize};
use super::metrics::Metrics;
use super::pricing::{normalize_model_id, ModelSpec, PriceTable};
use super::records::{KeyLocks, Records};
use super::report::{L1Details, L1PromptResult, L1Result, LayerDetails};
use super::request::{CacheTtl, Usage};
use super::scope::{prompt_fingerprint, push_field};
use crate::error::CacheError;
use crate::store::{decode, encode, Storage};
use savings::{read_saving, write_premium, Counters, CountersSnapshot};
use tokens::estimate_tokens;

pub use plan::{L1Plan, L1Staged};
pub use savings::prediction_accuracy;

const PREFIX: u8 = b'1';
/// Key of L1's savings counters in the `meta` tree.
const COUNTERS_KEY: &str = "l1_counters";

/// L1 TTLs and limits.
#[derive(Debug, Clone)]
pub struct L1Settings {
    /// Warmth after a use with the default (5-minute) TTL.
    pub ttl_seconds: u64,
    /// Warmth after a use with `cache_ttl: "1h"`.
    pub ttl_1h_seconds: u64,
    pub max_entries: u64,
    pub max_bytes: u64,
}

impl CacheTtl {
    /// Price per MTok of a cache write with this TTL.
    pub fn write_price(self, spec: &ModelSpec) -> f64 {
        match self {
            CacheTtl::FiveMinutes => spec.cache_write_5m,
            CacheTtl::OneHour => spec.cache_write_1h,
        }
    }
}

/// Where a token count came from, worst to best.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum TokenSource {
    Estimate,
    Caller,
    Usage,
}

impl TokenSource {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenSource::Estimate => "estimate",
            TokenSource::Caller => "caller",
            TokenSource::Usage => "usage",
        }
    }
}

/// A token count and its provenance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenCount {
    pub tokens: u64,
    pub source: TokenSource,
}

/// What the provider does with the prefix on a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheAction {
    /// The prefix is warm: it is read from the cache.
    Read,
    /// The prefix is cold but long enough: it is written.
    Write,
    /// Too short (or no breakpoint): nothing is cached.
    None,
}

impl CacheAction {
    pub fn as_str(self) -> &'static str {
        match self {
            CacheAction::Read => "read",
            CacheAction::Write => "write",
            CacheAction::None => "none",
        }
    }

    /// What really happened, from a usage block.
    pub fn from_usage(u: &Usage) -> CacheAction {
        if u.cache_read_input_tokens > 0 {
            CacheAction::Read
        } else if u.cache_creation_input_tokens > 0 {
            CacheAction::Write
        } else {
            CacheAction::None
        }
    }
}

/// The persisted warm state of one prefix.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct L1Record {
    pub namespace: String,
    /// Model family (`claude-sonnet-4-5`), or the normalised id if unknown.
    pub model: String,
    pub prompt_fp: u128,
    pub tokens: u64,
    pub source: TokenSource,
    pub ttl: CacheTtl,
    /// When this warm streak began (the write).
    pub warm_since_ms: u64,
    pub last_used_ms: u64,
    pub expires_ms: u64,
    /// Uses (stores) since the streak began.
    pub uses: u64,
}

/// The model family a request's model id belongs to, and its spec.
pub fn model_family<'a>(prices: &'a PriceTable, model: &str) -> (String, &'a ModelSpec) {
    match prices.find(model) {
        Some(spec) => (spec.name.clone(), spec),
        None => (normalize_model_id(model), prices.fallback()),
    }
}

/// Record key of (namespace, model family, prompt fingerprint).
pub fn prefix_key(namespace: &str, family: &str, prompt_fp: u128) -> u128 {
    let mut buf = Vec::with_capacity(48 + namespace.len() + family.len());
    push_field(&mut buf, namespace.as_bytes());
    push_field(&mut buf, family.as_bytes());
    buf.extend_from_slice(&prompt_fp.to_le_bytes());
    xxh3_128(&buf)
}

/// Key of the token-count memo: (model family, prompt fingerprint). Counts
/// do not depend on the namespace.
pub(crate) fn count_key(family: &str, prompt_fp: u128) -> u128 {
    let mut buf = Vec::with_capacity(32 + family.len());
    push_field(&mut buf, family.as_bytes());
    buf.extend_from_slice(&prompt_fp.to_le_bytes());
    xxh3_128(&buf)
}

/// The answer of [`L1::lookup`].
#[derive(Debug, Clone)]
pub struct L1Lookup {
    pub model: String,
    pub warm: bool,
    pub eligible: bool,
    pub count: TokenCount,
    pub min_cache_tokens: u64,
    pub ttl: Option<CacheTtl>,
    pub ttl_remaining_ms: u64,
    /// What the next call would do with the prefix.
    pub action: CacheAction,
    /// Dollars the next call saves (negative: the extra cost of a write).
    pub predicted_saving: f64,
    /// Dollars each later read saves once the prefix is cached.
    pub saving_per_read: f64,
    /// Extra dollars of writing the prefix (5 minutes / 1 hour).
    pub write_premium_5m: f64,
    pub write_premium_1h: f64,
}

impl L1Lookup {
    /// As reported in `l1_result`.
    pub fn report(&self, lookup_time_ms: f64) -> L1PromptResult {
        L1PromptResult {
            hit: self.warm,
            warm: self.warm,
            eligible: self.eligible,
            model: self.model.clone(),
            tokens: self.count.tokens,
            token_source: self.count.source.as_str(),
            min_cache_tokens: self.min_cache_tokens,
            cache_ttl: self.ttl.map(CacheTtl::as_str),
            ttl_remaining_seconds: self.ttl_remaining_ms as f64 / 1e3,
            predicted_action: self.action.as_str(),
            predicted_saving: self.predicted_saving,
            saving_per_read: self.saving_per_read,
            write_premium_5m: self.write_premium_5m,
            write_premium_1h: self.write_premium_1h,
            lookup_time_ms,
        }
    }
}

/// The prompt-cache layer.
pub struct L1 {
    storage: Arc<Storage>,
    /// Warm prefixes, under L1's own lock stripes: a store takes its entry
    /// lock first and then the L1 prefix lock; nothing takes them the other
    /// way round.
    records: Records,
    settings: L1Settings,
    prices: PriceTable,
    /// Best known token count per (model family, prompt).
    counts: Cache<u128, TokenCount>,
    counters: Counters,
}

impl L1 {
    /// Opens the layer, counting what sled already holds.
    pub fn open(storage: Arc<Storage>, settings: L1Settings, prices: PriceTable) -> L1 {
        let locks = Arc::new(KeyLocks::default());
        let records = Records::open(storage.clone(), locks, PREFIX);
        let counters = match storage.meta_get(COUNTERS_KEY) {
            Ok(Some(b)) => decode::<CountersSnapshot>(&b)
                .map(|s| Counters::restore(&s))
                .unwrap_or_default(),
            _ => Counters::default(),
        };
        let counts = Cache::builder()
            .max_capacity(settings.max_entries.max(1024))
            .time_to_idle(Duration::from_secs(24 * 3600))
            .build();
        L1 {
            storage,
            records,
            settings,
            prices,
            counts,
            counters,
        }
    }

    pub fn settings(&self) -> &L1Settings {
        &self.settings
    }

    fn ttl_ms(&self, ttl: CacheTtl) -> u64 {
        let s = match ttl {
            CacheTtl::FiveMinutes => self.settings.ttl_seconds,
            CacheTtl::OneHour => self.settings.ttl_1h_seconds,
        };
        s.saturating_mul(1000)
    }

    /// The live record of `key`, if it is really this prefix.
    fn live_record(
        &self,
        key: u128,
        namespace: &str,
        family: &str,
        fp: u128,
        now: u64,
    ) -> Option<(L1Record, u64)> {
        let (rec, size) = match self.stored(key) {
            Ok(r) => r?,
            Err(e) => {
                tracing::warn!("L1 read failed, treating the prefix as cold: {e}");
                return None;
            }
        };
        let same = rec.prompt_fp == fp && rec.model == family && rec.namespace == namespace;
        (same && rec.expires_ms > now).then_some((rec, size))
    }

    /// The best count known for a prompt, estimating (and memoising) if
    /// nothing better is known.
    fn known_count(&self, ckey: u128, prompt: &str, record: Option<&L1Record>) -> TokenCount {
        let memo = self.counts.get(&ckey);
        let from_record = record.map(|r| TokenCount {
            tokens: r.tokens,
            source: r.source,
        });
        let best = match (memo, from_record) {
            (Some(m), Some(r)) if r.source > m.source => Some(r),
            (Some(m), _) => Some(m),
            (None, r) => r,
        };
        match best {
            Some(c) => {
                if memo != Some(c) {
                    self.counts.insert(ckey, c);
                }
                c
            }
            None => {
                let c = TokenCount {
                    tokens: estimate_tokens(prompt),
                    source: TokenSource::Estimate,
                };
                self.counts.insert(ckey, c);
                c
            }
        }
    }

    /// Whether the system prompt of this request is warm, eligible, and what
    /// the next call saves. `None` when there is no system prompt.
    pub fn lookup(
        &self,
        namespace: &str,
        model: &str,
        system_prompt: Option<&str>,
        now: u64,
    ) -> Option<L1Lookup> {
        let prompt = system_prompt.filter(|p| !p.is_empty())?;
        let fp = prompt_fingerprint(Some(prompt));
        let (family, spec) = model_family(&self.prices, model);
        let key = prefix_key(namespace, &family, fp);
        let record = self.live_record(key, namespace, &family, fp, now);
        let count = self.known_count(
            count_key(&family, fp),
            prompt,
            record.as_ref().map(|r| &r.0),
        );
        let eligible = count.tokens >= spec.min_cache_tokens;
        let warm = record.is_some();
        let action = if warm {
            CacheAction::Read
        } else if eligible {
            CacheAction::Write
        } else {
            CacheAction::None
        };
        let saving_per_read = read_saving(spec, count.tokens);
        let premium_5m = write_premium(spec, count.tokens, CacheTtl::FiveMinutes);
        let predicted_saving = match action {
            CacheAction::Read => saving_per_read,
            CacheAction::Write => -premium_5m,
            CacheAction::None => 0.0,
        };
        Some(L1Lookup {
            model: family,
            warm,
            eligible,
            count,
            min_cache_tokens: spec.min_cache_tokens,
            ttl: record.as_ref().map(|r| r.0.ttl),
            ttl_remaining_ms: record
                .as_ref()
                .map(|r| r.0.expires_ms.saturating_sub(now))
                .unwrap_or(0),
            action,
            predicted_saving,
            saving_per_read,
            write_premium_5m: premium_5m,
            write_premium_1h: write_premium(spec, count.tokens, CacheTtl::OneHour),
        })
    }

    /// A lookup as reported in `l1_result`, counted in `metrics`.
    pub fn lookup_report(
        &self,
        metrics: &Metrics,
        namespace: &str,
        model: &str,
        system_prompt: Option<&str>,
    ) -> L1Result {
        let t = Instant::now();
        let found = self.lookup(namespace, model, system_prompt, crate::clock::now_ms());
        let elapsed = t.elapsed();
        let ms = elapsed.as_secs_f64() * 1e3;
        let m = metrics.layer(LayerId::L1);
        m.lookups.fetch_add(1, Relaxed);
        m.latency.record(elapsed.as_nanos() as u64);
        match found {
            Some(r) => {
                if r.warm {
                    m.hits.fetch_add(1, Relaxed);
                }
                L1Result::Prompt(r.report(ms))
            }
            None => L1Result::NoPrompt {
                hit: false,
                warm: false,
                eligible: false,
                reason: "no system_prompt",
                lookup_time_ms: ms,
            },
        }
    }

    /// Evicts the prefixes closest to expiry until the layer is within its
    /// bounds; returns how many. Call without holding any lock.
    pub fn enforce_bounds(&self) -> Result<u64, CacheError> {
        self.records.evict_over(
            self.settings.max_entries,
            self.settings.max_bytes,
            |_, _| {},
        )
    }
}

impl Layer for L1 {
    fn id(&self) -> LayerId {
        LayerId::L1
    }

    /// L1 prefixes belong to a namespace but to no task type and have no
    /// `entry_id`: a filter naming either selects none of them.
    fn invalidate(&self, filter: &InvalidateFilter) -> Result<u64, CacheError> {
        if filter.task_type.is_some() || filter.entry_key.is_some() {
            return Ok(0);
        }
        // Unreadable records are removed by any namespace filter.
        let names = |p: &[u8]| decode::<L1Record>(p).map(|r| (r.namespace, String::new()));
        self.records.invalidate(filter, names, |_| {})
    }

    fn sweep(&self, now: u64) -> Result<u64, CacheError> {
        self.records.sweep(now, |_, _| {})
    }

    fn size(&self) -> LayerSize {
        self.records.size()
    }

    fn health(&self) -> LayerHealth {
        LayerHealth {
            status: "healthy",
            available: true,
            detail: "Anthropic prompt-cache tracking: warm prefixes in sled".into(),
        }
    }

    fn details(&self) -> LayerDetails {
        let c = self.counters.snapshot();
        LayerDetails::L1(L1Details {
            ttl_seconds: self.settings.ttl_seconds,
            ttl_1h_seconds: self.settings.ttl_1h_seconds,
            max_entries: self.settings.max_entries,
            max_bytes: self.settings.max_bytes,
            known_token_counts: self.counts.entry_count(),
            predictions_from_usage: c.from_usage,
            usage_corrections: c.usage_corrections,
            lookups_refresh_warmth: false,
            token_estimator: "character classes (see README, L1: Token counts)",
            savings: self.savings(),
        })
    }

    fn persist(&self) -> Result<(), CacheError> {
        self.storage
            .meta_put(COUNTERS_KEY, encode(&self.counters.snapshot()))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Options;
    use crate::store::WriteBatch;

    struct Fixture {
        _dir: tempfile::TempDir,
        l1: L1,
        metrics: Metrics,
    }

    fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let settings = Options {
            data_dir: Some(dir.path().to_path_buf()),
            ..Options::default()
        }
        .resolve()
        .unwrap();
        let c = &settings.cache;
        let storage = Arc::new(Storage::open(&c.store).unwrap());
        let l1 = L1::open(storage, c.l1.clone(), c.prices.clone());
        Fixture {
            _dir: dir,
            l1,
            metrics: Metrics::default(),
        }
    }

    /// A prompt of exactly `n` estimated tokens: words of five letters
    /// (1.32 tokens each) would not divide evenly, so use `n` one-letter
    /// words.
    fn prompt_of(n: u64) -> String {
        "a ".repeat(n as usize)
    }

    fn usage(read: u64, written: u64, input: u64) -> Usage {
        Usage {
            input_tokens: input,
            output_tokens: 10,
            cache_creation_input_tokens: written,
            cache_read_input_tokens: read,
        }
    }

    impl Fixture {
        fn store(&self, model: &str, prompt: &str, ttl: Option<&str>, u: Option<Usage>) -> bool {
            self.store_at(model, prompt, ttl, u, crate::clock::now_ms())
        }

        fn store_at(
            &self,
            model: &str,
            prompt: &str,
            ttl: Option<&str>,
            u: Option<Usage>,
            now: u64,
        ) -> bool {
            let ttl = CacheTtl::parse("cache_ttl", ttl).unwrap();
            let plan = self
                .l1
                .plan(true, "ns", model, Some(prompt), ttl, None, u.as_ref())
                .unwrap();
            let _g = self.l1.lock(&plan);
            let mut batch = WriteBatch::default();
            let s = self.l1.stage(&plan, now, &mut batch).unwrap();
            self.l1.storage.apply(batch).unwrap();
            self.l1.commit(s, &self.metrics)
        }

        fn lookup(&self, model: &str, prompt: &str) -> L1Lookup {
            self.l1
                .lookup("ns", model, Some(prompt), crate::clock::now_ms())
                .unwrap()
        }
    }

    #[test]
    fn prompt_of_has_the_estimated_size() {
        assert_eq!(estimate_tokens(&prompt_of(1024)), 1024);
    }

    #[test]
    fn threshold_below_at_and_above_each_minimum() {
        let f = fixture();
        for (model, min) in [
            ("claude-sonnet-4-5-20250929", 1024),
            ("claude-sonnet-4-6", 2048),
            ("claude-haiku-3-5", 2048),
            ("claude-opus-4-5", 4096),
            ("claude-haiku-4-5", 4096),
            ("claude-opus-4-1", 1024),
            ("some-unknown-model", 1024),
        ] {
            for (n, eligible) in [(min - 1, false), (min, true), (min + 1, true)] {
                let r = f.lookup(model, &prompt_of(n));
                assert_eq!(r.eligible, eligible, "{model} at {n}");
                assert_eq!(r.min_cache_tokens, min);
                assert_eq!(r.count.tokens, n);
                assert!(!r.warm);
                let expected = if eligible {
                    CacheAction::Write
                } else {
                    CacheAction::None
                };
                assert_eq!(r.action, expected);
                // Only an eligible prefix is marked warm by a store.
                assert_eq!(f.store(model, &prompt_of(n), None, None), eligible);
                assert_eq!(f.lookup(model, &prompt_of(n)).warm, eligible);
            }
        }
    }

    #[test]
    fn store_then_lookup_is_warm_and_prices_the_read() {
        let f = fixture();
        let p = prompt_of(10_000);
        assert!(f.store("claude-sonnet-4-5", &p, None, None));
        let r = f.lookup("claude-sonnet-4-5-20250929", &p);
        assert!(r.warm && r.eligible);
        assert_eq!(r.action, CacheAction::Read);
        // 10k tokens × ($3 − $0.30) / MTok.
        assert!((r.predicted_saving - 0.027).abs() < 1e-12);
        assert!(r.ttl_remaining_ms > 299_000 && r.ttl_remaining_ms <= 300_000);
        assert_eq!(r.ttl, Some(CacheTtl::FiveMinutes));
        // Other namespace, other model family: cold.
        assert!(
            !f.l1
                .lookup(
                    "other",
                    "claude-sonnet-4-5",
                    Some(&p),
                    crate::clock::now_ms()
                )
                .unwrap()
                .warm
        );
        assert!(!f.lookup("claude-opus-4-1", &p).warm);
        // Cold and eligible: the next call pays the write premium.
        let cold = f.lookup("claude-opus-4-1", &p);
        assert!((cold.predicted_saving + 0.0375).abs() < 1e-12);
    }

    #[test]
    fn expiry_and_refresh_follow_the_last_use() {
        let f = fixture();
        let p = prompt_of(2000);
        let now = crate::clock::now_ms();
        // Used 290 s ago: 10 s left.
        f.store_at("claude-sonnet-4-5", &p, None, None, now - 290_000);
        let r = f.lookup("claude-sonnet-4-5", &p);
        assert!(r.warm && r.ttl_remaining_ms <= 10_000);
        // Used 301 s ago: expired, even before the sweeper runs.
        f.store_at("claude-sonnet-4-5", &p, None, None, now - 301_000);
        assert!(!f.lookup("claude-sonnet-4-5", &p).warm);
        assert_eq!(f.l1.sweep(now).unwrap(), 1);
        assert_eq!(f.l1.size().entries, 0);
        // Refresh: a second use moves the expiry.
        f.store_at("claude-sonnet-4-5", &p, None, None, now - 200_000);
        f.store_at("claude-sonnet-4-5", &p, None, None, now);
        assert!(f.lookup("claude-sonnet-4-5", &p).ttl_remaining_ms > 290_000);
        assert_eq!(f.l1.size().entries, 1);
    }

    #[test]
    fn one_hour_ttl_sticks_while_warm() {
        let f = fixture();
        let p = prompt_of(2000);
        f.store("claude-sonnet-4-5", &p, Some("1h"), None);
        let r = f.lookup("claude-sonnet-4-5", &p);
        assert_eq!(r.ttl, Some(CacheTtl::OneHour));
        assert!(r.ttl_remaining_ms > 3_590_000);
        // A 5-minute use of a 1-hour entry refreshes it for an hour.
        f.store("claude-sonnet-4-5", &p, Some("5m"), None);
        assert!(f.lookup("claude-sonnet-4-5", &p).ttl_remaining_ms > 3_590_000);
        assert_eq!(
            CacheTtl::parse("cache_ttl", Some("2h")).unwrap_err().code(),
            "invalid_cache_ttl"
        );
    }

    #[test]
    fn usage_corrects_a_wrong_prediction_and_is_counted() {
        let f = fixture();
        // Estimated 1000 < 1024: predicted nothing cached.
        let p = prompt_of(1000);
        assert!(!f.lookup("claude-sonnet-4-5", &p).eligible);
        // The provider wrote 1100 tokens: the estimate was low.
        assert!(f.store("claude-sonnet-4-5", &p, None, Some(usage(0, 1100, 20))));
        assert_eq!(f.metrics.l1_predictions.load(Relaxed), 1);
        assert_eq!(f.metrics.l1_predictions_correct.load(Relaxed), 0);
        let r = f.lookup("claude-sonnet-4-5", &p);
        assert!(r.warm && r.eligible);
        assert_eq!(r.count.tokens, 1100);
        assert_eq!(r.count.source, TokenSource::Usage);
        // Next call reads it, as predicted.
        assert!(f.store("claude-sonnet-4-5", &p, None, Some(usage(1100, 0, 20))));
        assert_eq!(f.metrics.l1_predictions.load(Relaxed), 2);
        assert_eq!(f.metrics.l1_predictions_correct.load(Relaxed), 1);
        assert!((prediction_accuracy(&f.metrics) - 0.5).abs() < 1e-12);
        // Predicted a read, but nothing was read or written: now cold.
        assert!(!f.store("claude-sonnet-4-5", &p, None, Some(usage(0, 0, 1500))));
        assert!(!f.lookup("claude-sonnet-4-5", &p).warm);
        assert_eq!(f.metrics.l1_predictions_correct.load(Relaxed), 1);
        assert_eq!(f.l1.size().entries, 0);
        // Savings use the reported numbers: one read of 1100 tokens and one
        // 5-minute write of 1100 tokens.
        let s = f.l1.savings();
        assert_eq!(s.l1_tokens_read, 1100);
        assert_eq!(s.l1_tokens_written, 1100);
        assert!((s.l1_cost_saved - 1100.0 * 2.7e-6).abs() < 1e-9);
        assert!((s.l1_cache_write_cost - 1100.0 * 0.75e-6).abs() < 1e-9);
    }

    #[test]
    fn usage_below_the_minimum_lowers_an_estimate() {
        let f = fixture();
        let p = prompt_of(1100);
        assert!(f.lookup("claude-sonnet-4-5", &p).eligible);
        // Nothing cached and only 900 input tokens: the prefix is < 1024.
        assert!(!f.store("claude-sonnet-4-5", &p, None, Some(usage(0, 0, 900))));
        let r = f.lookup("claude-sonnet-4-5", &p);
        assert!(!r.eligible);
        assert_eq!(r.count.tokens, 900);
        assert_eq!(f.metrics.l1_predictions_correct.load(Relaxed), 0);
    }

    #[test]
    fn caller_count_overrides_the_estimate() {
        let f = fixture();
        let p = prompt_of(100);
        let plan =
            f.l1.plan(
                true,
                "ns",
                "claude-sonnet-4-5",
                Some(&p),
                CacheTtl::FiveMinutes,
                Some(5000),
                None,
            )
            .unwrap();
        let _g = f.l1.lock(&plan);
        let mut b = WriteBatch::default();
        let s = f.l1.stage(&plan, crate::clock::now_ms(), &mut b).unwrap();
        f.l1.storage.apply(b).unwrap();
        assert!(f.l1.commit(s, &f.metrics));
        drop(_g);
        let r = f.lookup("claude-sonnet-4-5", &p);
        assert_eq!(
            (r.count.tokens, r.count.source),
            (5000, TokenSource::Caller)
        );
        assert!(r.warm);
    }

    #[test]
    fn invalidate_by_namespace_and_bad_fields() {
        let f = fixture();
        let p = prompt_of(2000);
        f.store("claude-sonnet-4-5", &p, None, None);
        let other = InvalidateFilter {
            namespace: Some("x".into()),
            ..Default::default()
        };
        assert_eq!(f.l1.invalidate(&other).unwrap(), 0);
        let by_task = InvalidateFilter {
            task_type: Some("general".into()),
            ..Default::default()
        };
        assert_eq!(f.l1.invalidate(&by_task).unwrap(), 0);
        let ns = InvalidateFilter {
            namespace: Some("ns".into()),
            ..Default::default()
        };
        assert_eq!(f.l1.invalidate(&ns).unwrap(), 1);
        assert!(!f.lookup("claude-sonnet-4-5", &p).warm);
        assert_eq!(f.l1.size().entries, 0);
        let bad = crate::cache::request::model("model_used", Some(String::new()));
        assert_eq!(bad.unwrap_err().code(), "invalid_model");
        let bad = CacheTtl::parse("cache_ttl", Some("10m"));
        assert_eq!(bad.unwrap_err().code(), "invalid_cache_ttl");
    }

    #[test]
    fn counters_survive_persist() {
        let f = fixture();
        f.store(
            "claude-sonnet-4-5",
            &prompt_of(2000),
            None,
            Some(usage(2000, 0, 5)),
        );
        f.l1.persist().unwrap();
        let again = L1::open(
            f.l1.storage.clone(),
            f.l1.settings.clone(),
            f.l1.prices.clone(),
        );
        assert_eq!(again.savings().l1_tokens_read, 2000);
        assert_eq!(again.size().entries, 1);
    }
}
