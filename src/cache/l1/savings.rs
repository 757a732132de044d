//! What prompt caching saves and costs: the price of a read and of a write,
//! L1's persisted savings counters, and the prediction accuracy.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use serde::{Deserialize, Serialize};

use super::L1;
use crate::cache::metrics::{ratio, Metrics};
use crate::cache::pricing::ModelSpec;
use crate::cache::report::L1Savings;
use crate::cache::request::CacheTtl;

/// Dollars a read of `tokens` saves against an uncached call.
pub fn read_saving(spec: &ModelSpec, tokens: u64) -> f64 {
    ModelSpec::dollars(tokens, (spec.input - spec.cache_read).max(0.0))
}

/// Extra dollars a write of `tokens` costs against an uncached call.
pub fn write_premium(spec: &ModelSpec, tokens: u64, ttl: CacheTtl) -> f64 {
    ModelSpec::dollars(tokens, (ttl.write_price(spec) - spec.input).max(0.0))
}

/// L1's own counters of what prompt caching saved and cost.
#[derive(Default)]
pub(super) struct Counters {
    pub(super) reads: AtomicU64,
    pub(super) writes: AtomicU64,
    pub(super) tokens_read: AtomicU64,
    pub(super) tokens_written: AtomicU64,
    pub(super) saved_nano: AtomicU64,
    pub(super) write_premium_nano: AtomicU64,
    /// Stores whose savings came from a usage block rather than a prediction.
    pub(super) from_usage: AtomicU64,
    pub(super) usage_corrections: AtomicU64,
}

#[derive(Serialize, Deserialize, Default)]
pub(super) struct CountersSnapshot {
    pub(super) reads: u64,
    pub(super) writes: u64,
    pub(super) tokens_read: u64,
    pub(super) tokens_written: u64,
    pub(super) saved_nano: u64,
    pub(super) write_premium_nano: u64,
    pub(super) from_usage: u64,
    pub(super) usage_corrections: u64,
}

impl Counters {
    pub(super) fn snapshot(&self) -> CountersSnapshot {
        CountersSnapshot {
            reads: self.reads.load(Relaxed),
            writes: self.writes.load(Relaxed),
            tokens_read: self.tokens_read.load(Relaxed),
            tokens_written: self.tokens_written.load(Relaxed),
            saved_nano: self.saved_nano.load(Relaxed),
            write_premium_nano: self.write_premium_nano.load(Relaxed),
            from_usage: self.from_usage.load(Relaxed),
            usage_corrections: self.usage_corrections.load(Relaxed),
        }
    }

    pub(super) fn restore(s: &CountersSnapshot) -> Counters {
        Counters {
            reads: AtomicU64::new(s.reads),
            writes: AtomicU64::new(s.writes),
            tokens_read: AtomicU64::new(s.tokens_read),
            tokens_written: AtomicU64::new(s.tokens_written),
            saved_nano: AtomicU64::new(s.saved_nano),
            write_premium_nano: AtomicU64::new(s.write_premium_nano),
            from_usage: AtomicU64::new(s.from_usage),
            usage_corrections: AtomicU64::new(s.usage_corrections),
        }
    }
}

impl L1 {
    /// Savings as reported in `/metrics` and `/summary`.
    pub fn savings(&self) -> L1Savings {
        let c = self.counters.snapshot();
        L1Savings {
            l1_cache_reads: c.reads,
            l1_cache_writes: c.writes,
            l1_tokens_read: c.tokens_read,
            l1_tokens_written: c.tokens_written,
            l1_cost_saved: c.saved_nano as f64 / 1e9,
            l1_cache_write_cost: c.write_premium_nano as f64 / 1e9,
            l1_net_saved: (c.saved_nano as f64 - c.write_premium_nano as f64) / 1e9,
        }
    }
}

/// `l1_prediction_accuracy`: the share of checked predictions that matched.
pub fn prediction_accuracy(metrics: &Metrics) -> f64 {
    ratio(
        metrics.l1_predictions_correct.load(Relaxed),
        metrics.l1_predictions.load(Relaxed),
    )
}
