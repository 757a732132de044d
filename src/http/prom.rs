//! `GET /metrics`: the cache's counters in the Prometheus text format.
//!
//! There is one source of truth: the core's typed [`MetricsReport`] (built
//! from the relaxed atomics of `cache::metrics`, which also feed the JSON
//! reports and survive restarts) and its latency histograms. A custom
//! [`Collector`] reads their fields at scrape time and hands them to the
//! `prometheus` crate's registry and text encoder, beside its standard
//! process collector (`process_*`: CPU, memory, file descriptors, start time).
//!
//! Metric names (label `layer` is `L1`, `L2` or `L3`):
//! - `helios_cache_layer_{lookups,hits,misses,stores,evictions,expirations,invalidations}_total{layer}`
//! - `helios_cache_layer_lookup_duration_seconds{layer}` (histogram)
//! - `helios_cache_entries{layer}`, `helios_cache_bytes{layer}` (gauges)
//! - `helios_cache_lookups_total`, `helios_cache_hits_total`, `helios_cache_stores_total`
//! - `helios_cache_lookup_duration_seconds` (histogram of whole lookups)
//! - `helios_cache_tokens_saved_total`, `helios_cache_dollars_saved_total`
//! - `helios_cache_l1_prediction_accuracy`, `helios_cache_l1_predictions_total`,
//!   `helios_cache_l1_predictions_correct_total`
//! - `helios_cache_l1_{cost_saved,cache_write_cost,net_saved}_dollars`
//! - `helios_cache_l3_{guard,verifier,feedback}_vetoes_total`,
//!   `helios_cache_l3_reported_{wrong,right}_total`
//! - `helios_cache_build_info{version}`, `helios_cache_uptime_seconds`

use std::collections::HashMap;
use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use prometheus::core::{Collector, Desc};
use prometheus::proto::{self, MetricFamily, MetricType};
use prometheus::{CounterVec, GaugeVec, Opts, Registry, TextEncoder};

use super::error::error_body;
use crate::cache::layer::LayerId;
use crate::cache::metrics::Histogram;
use crate::cache::report::{LayerReport, MetricsReport};
use crate::cache::CacheManager;

const NS: &str = "helios_cache";

/// Histogram bucket bounds: the powers of two from 2^10 ns (~1 µs) to
/// 2^34 ns (~17 s). They are bucket edges of [`Histogram`], so the
/// cumulative counts are exact.
const FIRST_OCTAVE: u32 = 10;
const LAST_OCTAVE: u32 = 34;

/// What a scrape reads: the typed metrics report and the uptime.
struct Sample {
    report: MetricsReport,
    uptime_seconds: f64,
}

/// Where a family's value comes from.
#[derive(Clone, Copy)]
enum Source {
    /// A field of one layer's report (labelled `layer`).
    Layer(fn(&LayerReport) -> f64),
    /// A field of the whole report.
    Total(fn(&Sample) -> f64),
}

/// A counter or gauge family: name (without namespace), help, source.
struct Simple {
    name: &'static str,
    help: &'static str,
    gauge: bool,
    source: Source,
}

const fn c(name: &'static str, help: &'static str, source: Source) -> Simple {
    Simple {
        name,
        help,
        gauge: false,
        source,
    }
}

const fn g(name: &'static str, help: &'static str, source: Source) -> Simple {
    Simple {
        name,
        help,
        gauge: true,
        source,
    }
}

const SIMPLE: &[Simple] = &[
    c(
        "layer_lookups_total",
        "Lookups that consulted the layer.",
        Source::Layer(|l| l.lookups as f64),
    ),
    c(
        "layer_hits_total",
        "Lookups the layer answered.",
        Source::Layer(|l| l.hits as f64),
    ),
    c(
        "layer_misses_total",
        "Lookups that consulted the layer and missed.",
        Source::Layer(|l| l.misses as f64),
    ),
    c(
        "layer_stores_total",
        "Entries written to the layer.",
        Source::Layer(|l| l.stores as f64),
    ),
    c(
        "layer_evictions_total",
        "Entries evicted to stay within the layer's bounds.",
        Source::Layer(|l| l.evictions as f64),
    ),
    c(
        "layer_expirations_total",
        "Expired entries removed by the sweeper.",
        Source::Layer(|l| l.expirations as f64),
    ),
    c(
        "layer_invalidations_total",
        "Entries removed by invalidation.",
        Source::Layer(|l| l.invalidations as f64),
    ),
    g(
        "entries",
        "Entries currently held by the layer.",
        Source::Layer(|l| l.entries as f64),
    ),
    g(
        "bytes",
        "Bytes currently held by the layer.",
        Source::Layer(|l| l.bytes as f64),
    ),
    c(
        "lookups_total",
        "Lookup requests.",
        Source::Total(|s| s.report.total_lookups as f64),
    ),
    c(
        "hits_total",
        "Lookup requests answered with a cached response (L2 or L3).",
        Source::Total(|s| s.report.total_hits as f64),
    ),
    c(
        "stores_total",
        "Store requests applied.",
        Source::Total(|s| s.report.total_stores as f64),
    ),
    c(
        "tokens_saved_total",
        "Model tokens saved by cache hits.",
        Source::Total(|s| s.report.total_tokens_saved as f64),
    ),
    c(
        "dollars_saved_total",
        "US dollars saved by cache hits.",
        Source::Total(|s| s.report.total_cost_saved),
    ),
    g(
        "l1_prediction_accuracy",
        "Share of L1 warm/cold predictions confirmed by reported usage (0..1).",
        Source::Total(|s| s.report.l1_prediction_accuracy),
    ),
    c(
        "l1_predictions_total",
        "L1 predictions checked against reported usage.",
        Source::Total(|s| s.report.l1_predictions as f64),
    ),
    c(
        "l1_predictions_correct_total",
        "L1 predictions that reported usage confirmed.",
        Source::Total(|s| s.report.l1_predictions_correct as f64),
    ),
    g(
        "l1_cost_saved_dollars",
        "Dollars saved by provider prompt-cache reads (L1).",
        Source::Total(|s| s.report.l1_savings.l1_cost_saved),
    ),
    g(
        "l1_cache_write_cost_dollars",
        "Extra dollars paid for provider prompt-cache writes (L1).",
        Source::Total(|s| s.report.l1_savings.l1_cache_write_cost),
    ),
    g(
        "l1_net_saved_dollars",
        "L1 savings net of cache-write premiums.",
        Source::Total(|s| s.report.l1_savings.l1_net_saved),
    ),
    c(
        "l3_guard_vetoes_total",
        "L3 candidates refused by the guard's rules.",
        Source::Total(|s| s.report.l3_trust.l3_guard_vetoes as f64),
    ),
    c(
        "l3_verifier_vetoes_total",
        "L3 candidates refused by the pair verifier.",
        Source::Total(|s| s.report.l3_trust.l3_verifier_vetoes as f64),
    ),
    c(
        "l3_feedback_vetoes_total",
        "L3 candidates refused because of earlier feedback.",
        Source::Total(|s| s.report.l3_trust.l3_feedback_vetoes as f64),
    ),
    c(
        "l3_reported_wrong_total",
        "Served hits reported wrong through /feedback.",
        Source::Total(|s| s.report.l3_trust.l3_reported_wrong as f64),
    ),
    c(
        "l3_reported_right_total",
        "Served hits reported right through /feedback.",
        Source::Total(|s| s.report.l3_trust.l3_reported_right as f64),
    ),
    g(
        "uptime_seconds",
        "Seconds since the server started.",
        Source::Total(|s| s.uptime_seconds),
    ),
];

const LATENCY_HELP: &str = "Time spent in the layer's lookup.";
const TOTAL_LATENCY_HELP: &str = "Time of whole lookup requests (all layers).";

/// Reads the cache's counters at scrape time.
pub struct CacheCollector {
    mgr: Arc<CacheManager>,
    descs: Vec<Desc>,
}

fn full(name: &str) -> String {
    format!("{NS}_{name}")
}

impl CacheCollector {
    pub fn new(mgr: Arc<CacheManager>) -> CacheCollector {
        let layer = || vec!["layer".to_string()];
        let mut descs: Vec<Desc> = SIMPLE
            .iter()
            .map(|s| {
                let labels = match s.source {
                    Source::Layer(_) => layer(),
                    Source::Total(_) => vec![],
                };
                Desc::new(full(s.name), s.help.into(), labels, HashMap::new())
            })
            .collect::<Result<_, _>>()
            .expect("metric descriptions are valid");
        descs.push(
            Desc::new(
                full("layer_lookup_duration_seconds"),
                LATENCY_HELP.into(),
                layer(),
                HashMap::new(),
            )
            .expect("valid"),
        );
        descs.push(
            Desc::new(
                full("lookup_duration_seconds"),
                TOTAL_LATENCY_HELP.into(),
                vec![],
                HashMap::new(),
            )
            .expect("valid"),
        );
        descs.push(
            Desc::new(
                full("build_info"),
                "Always 1; the version is a label.".into(),
                vec!["version".into()],
                HashMap::new(),
            )
            .expect("valid"),
        );
        CacheCollector { mgr, descs }
    }

    fn simple(&self, s: &Simple, sample: &Sample) -> Vec<MetricFamily> {
        let opts = Opts::new(full(s.name), s.help);
        let values: Vec<(Vec<&'static str>, f64)> = match s.source {
            Source::Layer(f) => LayerId::ALL
                .into_iter()
                .map(|id| {
                    let v = sample.report.layer(id).map(f).unwrap_or(0.0);
                    (vec![id.short_name()], v)
                })
                .collect(),
            Source::Total(f) => vec![(vec![], f(sample))],
        };
        let labels: &[&str] = match s.source {
            Source::Layer(_) => &["layer"],
            Source::Total(_) => &[],
        };
        if s.gauge {
            let v = GaugeVec::new(opts, labels).expect("valid gauge");
            for (l, x) in values {
                v.with_label_values(&l).set(x);
            }
            v.collect()
        } else {
            let v = CounterVec::new(opts, labels).expect("valid counter");
            for (l, x) in values {
                // Counters only go up; a value restored as negative is impossible.
                v.with_label_values(&l).inc_by(x.max(0.0));
            }
            v.collect()
        }
    }
}

fn label(name: &str, value: &str) -> proto::LabelPair {
    let mut l = proto::LabelPair::default();
    l.set_name(name.into());
    l.set_value(value.into());
    l
}

/// One histogram sample, from the cache's log-linear histogram.
fn histogram_metric(h: &Histogram, labels: Vec<proto::LabelPair>) -> proto::Metric {
    let raw = h.buckets();
    let mut buckets = Vec::new();
    let mut cumulative = 0u64;
    let mut octave = 0u32;
    for (i, (_, n)) in raw.iter().enumerate() {
        cumulative += n;
        // Bucket i = 4·k + 3 ends exactly at 2^(k+1) ns.
        if i % 4 == 3 {
            octave = (i / 4) as u32 + 1;
            if (FIRST_OCTAVE..=LAST_OCTAVE).contains(&octave) {
                let mut b = proto::Bucket::default();
                b.set_upper_bound(2f64.powi(octave as i32) / 1e9);
                b.set_cumulative_count(cumulative);
                buckets.push(b);
            }
        }
    }
    debug_assert!(octave >= LAST_OCTAVE);
    let mut ph = proto::Histogram::default();
    ph.set_sample_count(cumulative);
    ph.set_sample_sum(h.sum_seconds());
    ph.set_bucket(buckets);
    let mut m = proto::Metric::default();
    m.set_label(labels);
    m.set_histogram(ph);
    m
}

fn family(name: &str, help: &str, kind: MetricType, metrics: Vec<proto::Metric>) -> MetricFamily {
    let mut f = MetricFamily::default();
    f.set_name(full(name));
    f.set_help(help.into());
    f.set_field_type(kind);
    f.set_metric(metrics);
    f
}

impl Collector for CacheCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let sample = Sample {
            report: self.mgr.metrics_report(),
            uptime_seconds: self.mgr.uptime_seconds(),
        };
        let mut out: Vec<MetricFamily> = SIMPLE
            .iter()
            .flat_map(|s| self.simple(s, &sample))
            .collect();
        let m = self.mgr.metrics();
        let per_layer = LayerId::ALL
            .iter()
            .map(|&id| {
                histogram_metric(&m.layer(id).latency, vec![label("layer", id.short_name())])
            })
            .collect();
        out.push(family(
            "layer_lookup_duration_seconds",
            LATENCY_HELP,
            MetricType::HISTOGRAM,
            per_layer,
        ));
        out.push(family(
            "lookup_duration_seconds",
            TOTAL_LATENCY_HELP,
            MetricType::HISTOGRAM,
            vec![histogram_metric(&m.lookup_latency, vec![])],
        ));
        let mut info = proto::Metric::default();
        info.set_label(vec![label("version", env!("CARGO_PKG_VERSION"))]);
        let mut one = proto::Gauge::default();
        one.set_value(1.0);
        info.set_gauge(one);
        out.push(family(
            "build_info",
            "Always 1; the version is a label.",
            MetricType::GAUGE,
            vec![info],
        ));
        out
    }
}

/// The whole exposition: the cache's metrics and the process metrics.
pub fn render(mgr: Arc<CacheManager>) -> Result<String, String> {
    let registry = Registry::new();
    registry
        .register(Box::new(CacheCollector::new(mgr)))
        .map_err(|e| e.to_string())?;
    #[cfg(target_os = "linux")]
    registry
        .register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))
        .map_err(|e| e.to_string())?;
    TextEncoder::new()
        .encode_to_string(&registry.gather())
        .map_err(|e| e.to_string())
}

/// Metrics in the Prometheus text exposition format (for scraping).
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    operation_id = "prometheus_metrics",
    responses((status = 200, description = "Prometheus text format 0.0.4",
        content_type = "text/plain; version=0.0.4", body = String))
)]
pub async fn handler(mgr: web::Data<CacheManager>) -> HttpResponse {
    match render(mgr.into_inner()) {
        Ok(text) => HttpResponse::Ok()
            .content_type(prometheus::TEXT_FORMAT)
            .body(text),
        Err(e) => {
            tracing::error!("rendering Prometheus metrics failed: {e}");
            error_body(
                StatusCode::SERVICE_UNAVAILABLE,
                "metrics_unavailable",
                &format!("rendering metrics failed: {e}"),
            )
        }
    }
}
