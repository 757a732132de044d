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

/// Sub-buckets per doubling of latency (log-linear): bucket `SUB_BUCKETS·k + j`
/// holds `[2^k·(1 + j/32), 2^k·(1 + (j+1)/32))` ns, so a bucket is at most
/// 1/32 of its lower edge wide and a value interpolated inside it is off by
/// at most ~3.1%. The last bucket of each octave ends exactly at a power of
/// two (the Prometheus exporter's bucket edges).
pub const SUB_BUCKETS: usize = 32;
const SUB_BITS: u32 = SUB_BUCKETS.trailing_zeros();
/// Octaves covered: 1 ns .. 2^40 ns (18 minutes); longer goes in the last bucket.
pub const OCTAVES: usize = 40;
const BUCKETS: usize = OCTAVES * SUB_BUCKETS;
/// Sub-buckets per octave of the layout before issue 15 (saved snapshots of
/// it are re-binned on load).
const OLD_SUB_BUCKETS: usize = 4;

/// A log-linear latency histogram in nanoseconds: quantiles within ~3.1% of
/// the true sample quantile (see [`SUB_BUCKETS`]).
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
    let mask = SUB_BUCKETS as u64 - 1;
    let frac = if log2 >= SUB_BITS {
        (ns >> (log2 - SUB_BITS)) & mask
    } else {
        (ns << (SUB_BITS - log2)) & mask
    };
    (log2 as usize * SUB_BUCKETS + frac as usize).min(BUCKETS - 1)
}

/// Lower bound (ns) of bucket `i`.
fn bucket_lower(i: usize) -> f64 {
    let octave = (i / SUB_BUCKETS) as i32;
    let frac = (i % SUB_BUCKETS) as f64;
    2f64.powi(octave) * (1.0 + frac / SUB_BUCKETS as f64)
}

/// Upper bound (ns) of bucket `i`.
fn bucket_upper(i: usize) -> f64 {
    bucket_lower(i + 1)
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

    /// The `q` quantile (0..1) in milliseconds: the bucket holding the
    /// sample of rank `q·n`, linearly interpolated inside it (samples are
    /// taken as spread evenly over the bucket).
    pub fn quantile_ms(&self, q: f64) -> f64 {
        let counts: Vec<u64> = self.buckets.iter().map(|b| b.load(Relaxed)).collect();
        let n: u64 = counts.iter().sum();
        if n == 0 {
            return 0.0;
        }
        let rank = (n as f64 * q.clamp(0.0, 1.0)).max(f64::MIN_POSITIVE);
        let mut seen = 0u64;
        for (i, &c) in counts.iter().enumerate() {
            if c > 0 && (seen + c) as f64 >= rank {
                let within = ((rank - seen as f64) / c as f64).clamp(0.0, 1.0);
                let (lo, hi) = (bucket_lower(i), bucket_upper(i));
                return (lo + (hi - lo) * within) / 1e6;
            }
            seen += c;
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

    /// Loads a snapshot. One of the old layout (4 sub-buckets per octave)
    /// is re-binned: each old bucket's count goes to the new bucket ending
    /// where it ended, so its quantiles read as before. Any other layout is
    /// dropped (the histogram starts empty; the counters are separate).
    fn restore(&self, s: &HistogramSnapshot) {
        let len = s.buckets.len();
        if len == BUCKETS {
            for (b, v) in self.buckets.iter().zip(&s.buckets) {
                b.store(*v, Relaxed);
            }
        } else if len == OCTAVES * OLD_SUB_BUCKETS {
            let per = SUB_BUCKETS / OLD_SUB_BUCKETS;
            for (i, v) in s.buckets.iter().enumerate() {
                let (octave, frac) = (i / OLD_SUB_BUCKETS, i % OLD_SUB_BUCKETS);
                let j = octave * SUB_BUCKETS + frac * per + per - 1;
                self.buckets[j].fetch_add(*v, Relaxed);
            }
        } else {
            if s.buckets.iter().any(|&v| v > 0) {
                tracing::warn!(
                    "saved latency histogram has {len} buckets, not {BUCKETS}; starting it from zero"
                );
            }
            return;
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

    /// Issue 15: p50 and p99 came out equal (both 0.196608 ms) for samples
    /// spread over 150–250 µs.
    #[test]
    fn p50_and_p99_differ_within_the_error_bound() {
        let h = Histogram::default();
        let mut samples: Vec<u64> = (0..1000u64).map(|i| 150_000 + i * 100).collect();
        for &s in &samples {
            h.record(s);
        }
        samples.sort_unstable();
        for q in [0.5, 0.9, 0.99] {
            let exact = samples[(q * samples.len() as f64) as usize - 1] as f64 / 1e6;
            let got = h.quantile_ms(q);
            let err = (got - exact).abs() / exact;
            assert!(err <= 1.0 / SUB_BUCKETS as f64, "q{q}: {got} vs {exact}");
        }
        // Apart by far more than the error bound.
        assert!(h.quantile_ms(0.99) > h.quantile_ms(0.5) * 1.2);
        // One value: every quantile within the bound of it.
        let one = Histogram::default();
        for _ in 0..10 {
            one.record(196_000);
        }
        for q in [0.01, 0.5, 1.0] {
            let err = (one.quantile_ms(q) - 0.196).abs() / 0.196;
            assert!(err <= 1.0 / SUB_BUCKETS as f64, "q{q}");
        }
    }

    #[test]
    fn every_value_lies_in_its_bucket_and_octaves_end_at_powers_of_two() {
        for ns in (1u64..5000).chain([1 << 20, (1 << 20) + 1, 3 << 30, (1 << 40) - 1]) {
            let b = bucket_of(ns);
            assert!(
                bucket_lower(b) <= ns as f64 && (ns as f64) < bucket_upper(b),
                "{ns}"
            );
            assert!(bucket_upper(b) - bucket_lower(b) <= bucket_lower(b) / SUB_BUCKETS as f64);
        }
        for k in 0..OCTAVES {
            assert_eq!(
                bucket_upper(k * SUB_BUCKETS + SUB_BUCKETS - 1),
                2f64.powi(k as i32 + 1)
            );
        }
    }

    #[test]
    fn old_snapshots_are_rebinned_and_other_layouts_dropped() {
        // The old layout: 4 buckets per octave; bucket 4·17+1 ended at
        // 2^17·1.5 ns = 0.196608 ms.
        let mut old = vec![0u64; OCTAVES * OLD_SUB_BUCKETS];
        old[4 * 17 + 1] = 5;
        let h = Histogram::default();
        h.restore(&HistogramSnapshot {
            buckets: old,
            sum_ns: 5 * 180_000,
        });
        assert_eq!(h.count(), 5);
        let p = h.quantile_ms(1.0);
        assert!((p - 0.196608).abs() < 1e-9, "{p}");
        assert!((h.mean_ms() - 0.18).abs() < 1e-9);

        let m = Metrics::default();
        m.layer(LayerId::L2).hits.store(9, Relaxed);
        let mut snap: Snapshot = crate::store::decode(&m.to_bytes()).unwrap();
        snap.layers[1].latency.buckets = vec![3; 7];
        snap.lookup_latency.buckets = vec![1; 7];
        let r = Metrics::from_bytes(&crate::store::encode(&snap));
        assert_eq!(r.layer(LayerId::L2).hits.load(Relaxed), 9);
        assert_eq!(r.layer(LayerId::L2).latency.count(), 0);
        assert_eq!(r.lookup_latency.count(), 0);
        assert_eq!(r.lookup_latency.mean_ms(), 0.0);
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
