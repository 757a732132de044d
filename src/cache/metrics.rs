//! Counters and latency histograms, per layer and overall, that survive a
//! restart.
//!
//! Everything is a relaxed atomic so that counting never contends with the
//! lookup path. A snapshot is written to sled's `meta` tree on every flush
//! tick and at shutdown, and loaded at start; a crash loses at most the
//! counts of one flush interval.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use serde::{Deserialize, Serialize};

use super::layer::LayerId;

/// Buckets per doubling of latency; 4 gives at most ~19% bucket error.
const SUB_BUCKETS: u32 = 4;
/// Covers 1 ns .. 2^40 ns (18 minutes).
const BUCKETS: usize = 40 * SUB_BUCKETS as usize;

/// A log-linear latency histogram in nanoseconds.
pub struct Histogram {
    buckets: Vec<AtomicU64>,
    sum_ns: AtomicU64,
    count: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            sum_ns: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }
    }
}

fn bucket_of(ns: u64) -> usize {
    let ns = ns.max(1);
    let log2 = 63 - ns.leading_zeros();
    // Position inside the octave, from the bits below the top one.
    let frac = if log2 >= 2 {
        (ns >> (log2 - 2)) & 3
    } else {
        (ns << (2 - log2)) & 3
    };
    ((log2 * SUB_BUCKETS) as usize + frac as usize).min(BUCKETS - 1)
}

/// Upper bound (ns) of bucket `i`.
fn bucket_upper(i: usize) -> f64 {
    let octave = (i / SUB_BUCKETS as usize) as i32;
    let frac = (i % SUB_BUCKETS as usize) as f64;
    2f64.powi(octave) * (1.0 + (frac + 1.0) / SUB_BUCKETS as f64)
}

impl Histogram {
    pub fn record(&self, ns: u64) {
        self.buckets[bucket_of(ns)].fetch_add(1, Relaxed);
        self.sum_ns.fetch_add(ns, Relaxed);
        self.count.fetch_add(1, Relaxed);
    }

    pub fn count(&self) -> u64 {
        self.count.load(Relaxed)
    }

    pub fn mean_ms(&self) -> f64 {
        let n = self.count();
        if n == 0 {
            return 0.0;
        }
        self.sum_ns.load(Relaxed) as f64 / n as f64 / 1e6
    }

    /// The `q` quantile (0..1) in milliseconds, from bucket upper bounds.
    pub fn quantile_ms(&self, q: f64) -> f64 {
        let n = self.count();
        if n == 0 {
            return 0.0;
        }
        let target = ((n as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, b) in self.buckets.iter().enumerate() {
            seen += b.load(Relaxed);
            if seen >= target {
                return bucket_upper(i) / 1e6;
            }
        }
        bucket_upper(BUCKETS - 1) / 1e6
    }

    /// Bucket counts with their upper bounds in seconds (for exporters).
    pub fn buckets(&self) -> Vec<(f64, u64)> {
        self.buckets
            .iter()
            .enumerate()
            .map(|(i, b)| (bucket_upper(i) / 1e9, b.load(Relaxed)))
            .collect()
    }

    pub fn sum_seconds(&self) -> f64 {
        self.sum_ns.load(Relaxed) as f64 / 1e9
    }

    fn snapshot(&self) -> HistogramSnapshot {
        HistogramSnapshot {
            buckets: self.buckets.iter().map(|b| b.load(Relaxed)).collect(),
            sum_ns: self.sum_ns.load(Relaxed),
        }
    }

    fn restore(&self, s: &HistogramSnapshot) {
        for (b, v) in self.buckets.iter().zip(&s.buckets) {
            b.store(*v, Relaxed);
        }
        self.sum_ns.store(s.sum_ns, Relaxed);
        self.count.store(s.buckets.iter().sum(), Relaxed);
    }
}

/// Counters of one layer.
#[derive(Default)]
pub struct LayerMetrics {
    pub lookups: AtomicU64,
    pub hits: AtomicU64,
    pub stores: AtomicU64,
    pub evictions: AtomicU64,
    pub expirations: AtomicU64,
    pub invalidations: AtomicU64,
    /// Sum of hit similarities × 1e6 (L3).
    pub similarity_sum_micro: AtomicU64,
    pub latency: Histogram,
}

impl LayerMetrics {
    pub fn hit_rate(&self) -> f64 {
        ratio(self.hits.load(Relaxed), self.lookups.load(Relaxed))
    }

    pub fn misses(&self) -> u64 {
        self.lookups
            .load(Relaxed)
            .saturating_sub(self.hits.load(Relaxed))
    }
}

/// `a / b`, or 0 when `b` is 0.
pub fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

/// Counters of the drop-in provider gateway (`/v1/messages`,
/// `/v1/chat/completions`). Kept for the life of the process, not persisted:
/// the saved snapshot format stays as it was.
#[derive(Default)]
pub struct GatewayMetrics {
    /// Requests received, whatever became of them.
    pub requests: AtomicU64,
    pub hits_l2: AtomicU64,
    pub hits_l3: AtomicU64,
    /// Requests forwarded after a lookup found nothing (or was skipped by
    /// `no-cache`).
    pub misses: AtomicU64,
    /// Requests forwarded without lookup or store (`no-store`, sampled with
    /// fresh-when-sampled, or not keyable).
    pub passthrough: AtomicU64,
    /// Upstream answers stored.
    pub stores: AtomicU64,
    /// Upstream calls that failed: unreachable, timed out, or a non-2xx status.
    pub upstream_errors: AtomicU64,
    /// Streams abandoned because the client went away (nothing stored).
    pub client_disconnects: AtomicU64,
    /// Time from sending a request upstream to its response head.
    pub upstream_latency: Histogram,
    /// Tokens and dollars (nano) of the upstream calls that hits avoided.
    pub tokens_saved: AtomicU64,
    pub cost_saved_nano: AtomicU64,
    /// Prompt-cache reads reported by the provider on forwarded calls.
    pub prompt_cache_read_tokens: AtomicU64,
    pub prompt_cache_write_tokens: AtomicU64,
    /// `cache_control` breakpoints the gateway placed on forwarded requests.
    pub breakpoints_placed: AtomicU64,
}

/// All counters.
#[derive(Default)]
pub struct Metrics {
    /// The gateway's counters (not persisted).
    pub gateway: GatewayMetrics,
    layers: [LayerMetrics; 3],
    pub total_lookups: AtomicU64,
    pub total_hits: AtomicU64,
    pub total_stores: AtomicU64,
    pub tokens_saved: AtomicU64,
    pub cost_saved_nano: AtomicU64,
    /// L1: predictions checked against reported usage, and how many matched.
    pub l1_predictions: AtomicU64,
    pub l1_predictions_correct: AtomicU64,
    pub lookup_latency: Histogram,
}

#[derive(Serialize, Deserialize, Default)]
struct HistogramSnapshot {
    buckets: Vec<u64>,
    sum_ns: u64,
}

#[derive(Serialize, Deserialize, Default)]
struct LayerSnapshot {
    lookups: u64,
    hits: u64,
    stores: u64,
    evictions: u64,
    expirations: u64,
    invalidations: u64,
    similarity_sum_micro: u64,
    latency: HistogramSnapshot,
}

/// The persisted form of [`Metrics`].
#[derive(Serialize, Deserialize, Default)]
struct Snapshot {
    layers: Vec<LayerSnapshot>,
    total_lookups: u64,
    total_hits: u64,
    total_stores: u64,
    tokens_saved: u64,
    cost_saved_nano: u64,
    l1_predictions: u64,
    l1_predictions_correct: u64,
    lookup_latency: HistogramSnapshot,
}

impl Metrics {
    pub fn layer(&self, id: LayerId) -> &LayerMetrics {
        &self.layers[id as usize]
    }

    /// Serialises every counter.
    pub fn to_bytes(&self) -> Vec<u8> {
        let l = |m: &LayerMetrics| LayerSnapshot {
            lookups: m.lookups.load(Relaxed),
            hits: m.hits.load(Relaxed),
            stores: m.stores.load(Relaxed),
            evictions: m.evictions.load(Relaxed),
            expirations: m.expirations.load(Relaxed),
            invalidations: m.invalidations.load(Relaxed),
            similarity_sum_micro: m.similarity_sum_micro.load(Relaxed),
            latency: m.latency.snapshot(),
        };
        let s = Snapshot {
            layers: self.layers.iter().map(l).collect(),
            total_lookups: self.total_lookups.load(Relaxed),
            total_hits: self.total_hits.load(Relaxed),
            total_stores: self.total_stores.load(Relaxed),
            tokens_saved: self.tokens_saved.load(Relaxed),
            cost_saved_nano: self.cost_saved_nano.load(Relaxed),
            l1_predictions: self.l1_predictions.load(Relaxed),
            l1_predictions_correct: self.l1_predictions_correct.load(Relaxed),
            lookup_latency: self.lookup_latency.snapshot(),
        };
        crate::store::encode(&s)
    }

    /// Restores counters saved by [`Metrics::to_bytes`]; unreadable bytes
    /// (another version) leave the counters at zero.
    pub fn from_bytes(bytes: &[u8]) -> Metrics {
        let m = Metrics::default();
        let Some(s) = crate::store::decode::<Snapshot>(bytes) else {
            tracing::warn!("saved counters are unreadable; starting from zero");
            return m;
        };
        for (lm, ls) in m.layers.iter().zip(&s.layers) {
            lm.lookups.store(ls.lookups, Relaxed);
            lm.hits.store(ls.hits, Relaxed);
            lm.stores.store(ls.stores, Relaxed);
            lm.evictions.store(ls.evictions, Relaxed);
            lm.expirations.store(ls.expirations, Relaxed);
            lm.invalidations.store(ls.invalidations, Relaxed);
            lm.similarity_sum_micro
                .store(ls.similarity_sum_micro, Relaxed);
            lm.latency.restore(&ls.latency);
        }
        m.total_lookups.store(s.total_lookups, Relaxed);
        m.total_hits.store(s.total_hits, Relaxed);
        m.total_stores.store(s.total_stores, Relaxed);
        m.tokens_saved.store(s.tokens_saved, Relaxed);
        m.cost_saved_nano.store(s.cost_saved_nano, Relaxed);
        m.l1_predictions.store(s.l1_predictions, Relaxed);
        m.l1_predictions_correct
            .store(s.l1_predictions_correct, Relaxed);
        m.lookup_latency.restore(&s.lookup_latency);
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_monotonic_and_bound_their_values() {
        let mut last = 0;
        for ns in [1u64, 2, 3, 5, 8, 100, 1000, 1_500, 10_000, 1 << 30] {
            let b = bucket_of(ns);
            assert!(b >= last, "bucket order at {ns}");
            assert!(bucket_upper(b) >= ns as f64, "upper bound at {ns}");
            last = b;
        }
    }

    #[test]
    fn quantiles_track_the_distribution() {
        let h = Histogram::default();
        for _ in 0..99 {
            h.record(1_000);
        }
        h.record(1_000_000);
        assert!(h.quantile_ms(0.5) < 0.0013);
        assert!(h.quantile_ms(0.999) >= 1.0);
        assert!((h.mean_ms() - 0.01099).abs() < 1e-4);
    }

    #[test]
    fn counters_round_trip_through_bytes() {
        let m = Metrics::default();
        m.layer(LayerId::L2).hits.store(7, Relaxed);
        m.layer(LayerId::L3).latency.record(5_000);
        m.cost_saved_nano.store(42, Relaxed);
        let r = Metrics::from_bytes(&m.to_bytes());
        assert_eq!(r.layer(LayerId::L2).hits.load(Relaxed), 7);
        assert_eq!(r.layer(LayerId::L3).latency.count(), 1);
        assert_eq!(r.cost_saved_nano.load(Relaxed), 42);
        assert_eq!(Metrics::from_bytes(b"junk").total_hits.load(Relaxed), 0);
    }
}
