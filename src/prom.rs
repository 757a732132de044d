//! `GET /metrics`: the cache's counters in the Prometheus text format.
//!
//! There is one source of truth: the relaxed atomics of [`crate::metrics`]
//! (which also feed the JSON reports and survive restarts). A custom
//! [`Collector`] reads them at scrape time and hands them to the `prometheus`
//! crate's registry and text encoder, beside its standard process collector
//! (`process_*`: CPU, memory, file descriptors, start time).
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
//! - `helios_cache_build_info{version}`, `helios_cache_uptime_seconds`

use std::collections::HashMap;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use actix_web::{web, HttpResponse};
use prometheus::core::{Collector, Desc};
use prometheus::proto::{self, MetricFamily, MetricType};
use prometheus::{CounterVec, GaugeVec, Opts, Registry, TextEncoder};
use serde_json::Value;

use crate::layer::LayerId;
use crate::manager::CacheManager;
use crate::metrics::Histogram;

const NS: &str = "helios_cache";

/// Histogram bucket bounds: the powers of two from 2^10 ns (~1 µs) to
/// 2^34 ns (~17 s). They are bucket edges of [`Histogram`], so the
/// cumulative counts are exact.
const FIRST_OCTAVE: u32 = 10;
const LAST_OCTAVE: u32 = 34;

/// A counter or gauge family: name (without namespace), help, labelled?
struct Simple {
    name: &'static str,
    help: &'static str,
    gauge: bool,
    by_layer: bool,
}

const fn c(name: &'static str, help: &'static str, by_layer: bool) -> Simple {
    Simple {
        name,
        help,
        gauge: false,
        by_layer,
    }
}

const fn g(name: &'static str, help: &'static str, by_layer: bool) -> Simple {
    Simple {
        name,
        help,
        gauge: true,
        by_layer,
    }
}

const SIMPLE: &[Simple] = &[
    c(
        "layer_lookups_total",
        "Lookups that consulted the layer.",
        true,
    ),
    c("layer_hits_total", "Lookups the layer answered.", true),
    c(
        "layer_misses_total",
        "Lookups that consulted the layer and missed.",
        true,
    ),
    c("layer_stores_total", "Entries written to the layer.", true),
    c(
        "layer_evictions_total",
        "Entries evicted to stay within the layer's bounds.",
        true,
    ),
    c(
        "layer_expirations_total",
        "Expired entries removed by the sweeper.",
        true,
    ),
    c(
        "layer_invalidations_total",
        "Entries removed by invalidation.",
        true,
    ),
    g("entries", "Entries currently held by the layer.", true),
    g("bytes", "Bytes currently held by the layer.", true),
    c("lookups_total", "Lookup requests.", false),
    c(
        "hits_total",
        "Lookup requests answered with a cached response (L2 or L3).",
        false,
    ),
    c("stores_total", "Store requests applied.", false),
    c(
        "tokens_saved_total",
        "Model tokens saved by cache hits.",
        false,
    ),
    c(
        "dollars_saved_total",
        "US dollars saved by cache hits.",
        false,
    ),
    g(
        "l1_prediction_accuracy",
        "Share of L1 warm/cold predictions confirmed by reported usage (0..1).",
        false,
    ),
    c(
        "l1_predictions_total",
        "L1 predictions checked against reported usage.",
        false,
    ),
    c(
        "l1_predictions_correct_total",
        "L1 predictions that reported usage confirmed.",
        false,
    ),
    g(
        "l1_cost_saved_dollars",
        "Dollars saved by provider prompt-cache reads (L1).",
        false,
    ),
    g(
        "l1_cache_write_cost_dollars",
        "Extra dollars paid for provider prompt-cache writes (L1).",
        false,
    ),
    g(
        "l1_net_saved_dollars",
        "L1 savings net of cache-write premiums.",
        false,
    ),
    g("uptime_seconds", "Seconds since the server started.", false),
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
                let labels = if s.by_layer { layer() } else { vec![] };
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

    /// The value of a simple family for one layer (or overall).
    fn value(&self, name: &str, id: Option<LayerId>, json: &Value) -> f64 {
        let m = self.mgr.metrics();
        let num = |v: &Value| v.as_f64().unwrap_or(0.0);
        if let Some(id) = id {
            let l = m.layer(id);
            let layer_json = &json["layers"][id.wire_name()];
            return match name {
                "layer_lookups_total" => l.lookups.load(Relaxed) as f64,
                "layer_hits_total" => l.hits.load(Relaxed) as f64,
                "layer_misses_total" => l.misses() as f64,
                "layer_stores_total" => l.stores.load(Relaxed) as f64,
                "layer_evictions_total" => l.evictions.load(Relaxed) as f64,
                "layer_expirations_total" => l.expirations.load(Relaxed) as f64,
                "layer_invalidations_total" => l.invalidations.load(Relaxed) as f64,
                "entries" => num(&layer_json["entries"]),
                "bytes" => num(&layer_json["bytes"]),
                _ => 0.0,
            };
        }
        match name {
            "lookups_total" => m.total_lookups.load(Relaxed) as f64,
            "hits_total" => m.total_hits.load(Relaxed) as f64,
            "stores_total" => m.total_stores.load(Relaxed) as f64,
            "tokens_saved_total" => m.tokens_saved.load(Relaxed) as f64,
            "dollars_saved_total" => m.cost_saved_nano.load(Relaxed) as f64 / 1e9,
            "l1_predictions_total" => m.l1_predictions.load(Relaxed) as f64,
            "l1_predictions_correct_total" => m.l1_predictions_correct.load(Relaxed) as f64,
            "l1_prediction_accuracy" => num(&json["l1_prediction_accuracy"]),
            "l1_cost_saved_dollars" => num(&json["l1_cost_saved"]),
            "l1_cache_write_cost_dollars" => num(&json["l1_cache_write_cost"]),
            "l1_net_saved_dollars" => num(&json["l1_net_saved"]),
            "uptime_seconds" => num(&self.mgr.health()["uptime_seconds"]),
            _ => 0.0,
        }
    }

    fn simple(&self, s: &Simple, json: &Value) -> Vec<MetricFamily> {
        let opts = Opts::new(full(s.name), s.help);
        let labels: &[&str] = if s.by_layer { &["layer"] } else { &[] };
        let ids: Vec<Option<LayerId>> = if s.by_layer {
            LayerId::ALL.into_iter().map(Some).collect()
        } else {
            vec![None]
        };
        let label_values = |id: Option<LayerId>| -> Vec<&'static str> {
            id.map(|l| vec![l.short_name()]).unwrap_or_default()
        };
        if s.gauge {
            let v = GaugeVec::new(opts, labels).expect("valid gauge");
            for id in ids {
                v.with_label_values(&label_values(id))
                    .set(self.value(s.name, id, json));
            }
            v.collect()
        } else {
            let v = CounterVec::new(opts, labels).expect("valid counter");
            for id in ids {
                let x = self.value(s.name, id, json);
                // Counters only go up; a value restored as negative is impossible.
                v.with_label_values(&label_values(id)).inc_by(x.max(0.0));
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
        let json = self.mgr.metrics_json();
        let mut out: Vec<MetricFamily> =
            SIMPLE.iter().flat_map(|s| self.simple(s, &json)).collect();
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

async fn handler(mgr: web::Data<CacheManager>) -> HttpResponse {
    match render(mgr.into_inner()) {
        Ok(text) => HttpResponse::Ok()
            .content_type(prometheus::TEXT_FORMAT)
            .body(text),
        Err(e) => {
            tracing::error!("rendering Prometheus metrics failed: {e}");
            HttpResponse::ServiceUnavailable().json(serde_json::json!({"error": {
                "code": "metrics_unavailable",
                "message": format!("rendering metrics failed: {e}"),
            }}))
        }
    }
}

/// Registers `GET /metrics`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(crate::http::resource("/metrics").route(web::get().to(handler)));
}
