//! `helios-cache cluster --nodes URL,URL,... <metrics|health|invalidate|backup>`:
//! operations on every node of a sharded deployment (deploy/README.md).
//!
//! Nodes shard by namespace behind a load balancer and know nothing of each
//! other, so what concerns all of them is done here: the command sends the
//! request to every node at once (one thread per node, over `ureq`), then
//! adds the answers up. It owns the node list parsing, the fan-out and the
//! aggregation rules:
//!
//! - **metrics**: counters are summed; rates are recomputed from the sums
//!   (never averaged); the mean latency is weighted by lookups and the
//!   per-node p99s give `p99_max`, an upper bound of the cluster's p99
//!   (percentiles do not add).
//! - **health**: each node's status; overall `healthy` when every node is,
//!   `degraded` when all answered but one is degraded, `unavailable` when a
//!   node did not answer.
//! - **invalidate**: the same filter to every node, counts summed. Also with
//!   a namespace: the namespace's owner is decided by the balancer's hash
//!   ring, and entries of it can also sit on a node that stood in during an
//!   outage or owned it before a reshard, so every node is asked.
//! - **backup**: every node writes a backup named NAME under its own
//!   `--backup-root`.
//!
//! A node that is unreachable or answers an error is reported by URL in its
//! `nodes` entry and on stderr; the others' results are still printed, and
//! the command exits non-zero.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::cache::layer::LayerId;

const API: &str = "/api/v1/helios/cache";

/// `helios-cache cluster`.
#[derive(Debug, clap::Args)]
pub struct ClusterArgs {
    /// The nodes' base URLs, comma-separated: http://HOST:PORT,...
    /// (each node directly, not the balancer).
    #[arg(
        long,
        env = "HELIOS_CLUSTER_NODES",
        value_delimiter = ',',
        required = true
    )]
    pub nodes: Vec<String>,
    /// How long to wait for each node, in seconds.
    #[arg(long, default_value_t = 60)]
    pub timeout_secs: u64,
    #[command(subcommand)]
    pub op: ClusterOp,
}

/// What to do on every node.
#[derive(Debug, clap::Subcommand)]
pub enum ClusterOp {
    /// Metrics summed over the nodes (rates recomputed from the sums).
    Metrics,
    /// Each node's health and an overall status.
    Health,
    /// Remove entries on every node (the filters of POST /invalidate).
    Invalidate(InvalidateArgs),
    /// Every node writes a backup named NAME under its own --backup-root.
    Backup {
        /// Directory name (one path component, e.g. 2026-11-30).
        name: String,
    },
}

/// The filters of `cluster invalidate`, sent as the body of `POST /invalidate`.
#[derive(Debug, Clone, Default, clap::Args, Serialize)]
pub struct InvalidateArgs {
    /// Only this layer (L1, L2, L3 or a wire name).
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layer: Option<String>,
    /// Only entries of this namespace.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Only entries of this task type.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_type: Option<String>,
    /// Only this entry.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entry_id: Option<String>,
    /// Remove everything (needed when no filter is given).
    #[arg(long)]
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub all: bool,
}

/// A node's base URL, checked: `http(s)://HOST:PORT` without a path.
pub fn parse_nodes(list: &[String]) -> Result<Vec<String>, String> {
    let mut nodes: Vec<String> = Vec::new();
    for raw in list {
        let url = raw.trim().trim_end_matches('/');
        if url.is_empty() {
            continue;
        }
        let rest = url
            .strip_prefix("http://")
            .or_else(|| url.strip_prefix("https://"))
            .ok_or_else(|| format!("node {raw:?}: expected http://HOST:PORT"))?;
        let port_ok = rest
            .rsplit_once(':')
            .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
        if !port_ok || rest.contains(['/', '?', '#', '@', ' ']) {
            return Err(format!("node {raw:?}: expected http://HOST:PORT (no path)"));
        }
        if nodes.iter().any(|n| n == url) {
            return Err(format!(
                "node {url} is listed twice; its numbers would count twice"
            ));
        }
        nodes.push(url.to_string());
    }
    if nodes.is_empty() {
        return Err("--nodes names no node".into());
    }
    Ok(nodes)
}

/// One node's answer: its report, or why there is none.
#[derive(Debug, Clone, Serialize)]
pub struct NodeResult<T> {
    pub node: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<T>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl<T> NodeResult<T> {
    fn new(node: &str, r: Result<T, String>) -> NodeResult<T> {
        let (report, error) = match r {
            Ok(t) => (Some(t), None),
            Err(e) => (None, Some(e)),
        };
        NodeResult {
            node: node.to_string(),
            report,
            error,
        }
    }
}

// ------------------------------------------------------------ node reports

/// The latency block of a node's metrics.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Latency {
    pub mean: f64,
    pub p50: f64,
    pub p99: f64,
}

/// One layer's counters in a node's metrics.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct LayerCounts {
    pub lookups: u64,
    pub hits: u64,
    pub misses: u64,
    pub stores: u64,
    pub evictions: u64,
    pub expirations: u64,
    pub invalidations: u64,
    pub entries: u64,
    pub bytes: u64,
    pub average_hit_similarity: f64,
}

/// The additive part of `GET /metrics` of one node.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct NodeMetrics {
    pub total_lookups: u64,
    pub total_hits: u64,
    pub total_stores: u64,
    pub total_tokens_saved: u64,
    pub total_cost_saved: f64,
    pub l1_entries: u64,
    pub l2_entries: u64,
    pub l3_entries: u64,
    pub l1_predictions: u64,
    pub l1_predictions_correct: u64,
    pub l1_cache_reads: u64,
    pub l1_cache_writes: u64,
    pub l1_tokens_read: u64,
    pub l1_tokens_written: u64,
    pub l1_cost_saved: f64,
    pub l1_cache_write_cost: f64,
    pub l1_net_saved: f64,
    pub lookup_latency_ms: Latency,
    pub layers: BTreeMap<String, LayerCounts>,
}

/// The cluster's latency: exact mean, bound on the p99.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ClusterLatency {
    /// Mean over every lookup of every node (node means weighted by lookups).
    pub mean: f64,
    /// The largest node p99: no more than 1% of the cluster's lookups are slower.
    pub p99_max: f64,
}

/// A layer summed over nodes.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ClusterLayer {
    #[serde(flatten)]
    pub counts: LayerCounts,
    pub hit_rate: f64,
}

/// `cluster metrics`: the nodes' metrics added up.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ClusterMetrics {
    pub nodes_total: usize,
    pub nodes_answered: usize,
    pub total_lookups: u64,
    pub total_hits: u64,
    pub total_stores: u64,
    pub overall_hit_rate: f64,
    pub l1_hit_rate: f64,
    pub l2_hit_rate: f64,
    pub l3_hit_rate: f64,
    pub total_tokens_saved: u64,
    pub total_cost_saved: f64,
    pub l1_entries: u64,
    pub l2_entries: u64,
    pub l3_entries: u64,
    pub l1_prediction_accuracy: f64,
    pub l1_predictions: u64,
    pub l1_predictions_correct: u64,
    pub l1_cache_reads: u64,
    pub l1_cache_writes: u64,
    pub l1_tokens_read: u64,
    pub l1_tokens_written: u64,
    pub l1_cost_saved: f64,
    pub l1_cache_write_cost: f64,
    pub l1_net_saved: f64,
    pub lookup_latency_ms: ClusterLatency,
    pub layers: BTreeMap<String, ClusterLayer>,
    pub nodes: Vec<NodeResult<NodeMetrics>>,
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

/// Adds the answering nodes' metrics up; rates come from the sums.
pub fn sum_metrics(nodes: Vec<NodeResult<NodeMetrics>>) -> ClusterMetrics {
    let mut c = ClusterMetrics {
        nodes_total: nodes.len(),
        ..ClusterMetrics::default()
    };
    let (mut latency_weighted, mut similarity_weighted) = (0.0, BTreeMap::<String, f64>::new());
    for m in nodes.iter().filter_map(|n| n.report.as_ref()) {
        c.nodes_answered += 1;
        c.total_lookups += m.total_lookups;
        c.total_hits += m.total_hits;
        c.total_stores += m.total_stores;
        c.total_tokens_saved += m.total_tokens_saved;
        c.total_cost_saved += m.total_cost_saved;
        c.l1_entries += m.l1_entries;
        c.l2_entries += m.l2_entries;
        c.l3_entries += m.l3_entries;
        c.l1_predictions += m.l1_predictions;
        c.l1_predictions_correct += m.l1_predictions_correct;
        c.l1_cache_reads += m.l1_cache_reads;
        c.l1_cache_writes += m.l1_cache_writes;
        c.l1_tokens_read += m.l1_tokens_read;
        c.l1_tokens_written += m.l1_tokens_written;
        c.l1_cost_saved += m.l1_cost_saved;
        c.l1_cache_write_cost += m.l1_cache_write_cost;
        c.l1_net_saved += m.l1_net_saved;
        latency_weighted += m.lookup_latency_ms.mean * m.total_lookups as f64;
        c.lookup_latency_ms.p99_max = c.lookup_latency_ms.p99_max.max(m.lookup_latency_ms.p99);
        for (name, l) in &m.layers {
            let s = &mut c.layers.entry(name.clone()).or_default().counts;
            s.lookups += l.lookups;
            s.hits += l.hits;
            s.misses += l.misses;
            s.stores += l.stores;
            s.evictions += l.evictions;
            s.expirations += l.expirations;
            s.invalidations += l.invalidations;
            s.entries += l.entries;
            s.bytes += l.bytes;
            *similarity_weighted.entry(name.clone()).or_default() +=
                l.average_hit_similarity * l.hits as f64;
        }
    }
    c.overall_hit_rate = ratio(c.total_hits, c.total_lookups);
    c.l1_prediction_accuracy = ratio(c.l1_predictions_correct, c.l1_predictions);
    if c.total_lookups > 0 {
        c.lookup_latency_ms.mean = latency_weighted / c.total_lookups as f64;
    }
    for (name, layer) in &mut c.layers {
        layer.hit_rate = ratio(layer.counts.hits, layer.counts.lookups);
        if layer.counts.hits > 0 {
            layer.counts.average_hit_similarity =
                similarity_weighted[name] / layer.counts.hits as f64;
        }
    }
    let layer_hits = |id: LayerId| c.layers.get(id.wire_name()).map_or(0, |l| l.counts.hits);
    c.l1_hit_rate = ratio(layer_hits(LayerId::L1), c.total_lookups);
    c.l2_hit_rate = ratio(layer_hits(LayerId::L2), c.total_lookups);
    c.l3_hit_rate = ratio(layer_hits(LayerId::L3), c.total_lookups);
    c.nodes = nodes;
    c
}

/// The part of a node's `/health` the overall status comes from.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct NodeHealth {
    pub status: String,
    pub version: String,
    pub uptime_seconds: f64,
    pub storage: StorageStatus,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct StorageStatus {
    pub status: String,
}

/// `cluster health`.
#[derive(Debug, Clone, Serialize)]
pub struct ClusterHealth {
    /// `healthy`, `degraded` (every node answered, one is not healthy) or
    /// `unavailable` (a node did not answer).
    pub status: &'static str,
    pub nodes_total: usize,
    pub nodes_healthy: usize,
    pub nodes: Vec<NodeResult<NodeHealth>>,
}

pub fn sum_health(nodes: Vec<NodeResult<NodeHealth>>) -> ClusterHealth {
    let answered = nodes.iter().filter(|n| n.report.is_some()).count();
    let healthy = nodes
        .iter()
        .filter(|n| n.report.as_ref().is_some_and(|h| h.status == "healthy"))
        .count();
    let status = if answered < nodes.len() {
        "unavailable"
    } else if healthy < nodes.len() {
        "degraded"
    } else {
        "healthy"
    };
    ClusterHealth {
        status,
        nodes_total: nodes.len(),
        nodes_healthy: healthy,
        nodes,
    }
}

/// A node's `POST /invalidate` answer.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct NodeInvalidate {
    pub invalidated: BTreeMap<String, u64>,
    pub total_invalidated: u64,
}

/// `cluster invalidate`: removed entries summed over nodes.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ClusterInvalidate {
    pub nodes_total: usize,
    pub nodes_answered: usize,
    pub invalidated: BTreeMap<String, u64>,
    pub total_invalidated: u64,
    pub nodes: Vec<NodeResult<NodeInvalidate>>,
}

pub fn sum_invalidate(nodes: Vec<NodeResult<NodeInvalidate>>) -> ClusterInvalidate {
    let mut c = ClusterInvalidate {
        nodes_total: nodes.len(),
        ..ClusterInvalidate::default()
    };
    for r in nodes.iter().filter_map(|n| n.report.as_ref()) {
        c.nodes_answered += 1;
        c.total_invalidated += r.total_invalidated;
        for (layer, n) in &r.invalidated {
            *c.invalidated.entry(layer.clone()).or_default() += n;
        }
    }
    c.nodes = nodes;
    c
}

/// A node's `POST /admin/backup` answer.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct NodeBackup {
    pub to: String,
    pub records: u64,
    pub trees: u64,
}

/// `cluster backup`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ClusterBackup {
    pub nodes_total: usize,
    pub nodes_written: usize,
    pub records: u64,
    pub nodes: Vec<NodeResult<NodeBackup>>,
}

pub fn sum_backup(nodes: Vec<NodeResult<NodeBackup>>) -> ClusterBackup {
    let written: Vec<&NodeBackup> = nodes.iter().filter_map(|n| n.report.as_ref()).collect();
    ClusterBackup {
        nodes_total: nodes.len(),
        nodes_written: written.len(),
        records: written.iter().map(|b| b.records).sum(),
        nodes,
    }
}

// ----------------------------------------------------------------- fan-out

/// What `cluster` prints (JSON on stdout) and the nodes that failed.
pub struct Outcome {
    pub report: serde_json::Value,
    /// `node URL: what went wrong`, one per failed node.
    pub failures: Vec<String>,
}

/// Sends one request to a node and decodes its 200 answer.
fn call<T: DeserializeOwned>(
    agent: &ureq::Agent,
    api_key: Option<&str>,
    node: &str,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> Result<T, String> {
    let url = format!("{node}{API}{path}");
    let resp = match (method, body) {
        ("GET", _) => {
            let mut req = agent.get(&url);
            if let Some(key) = api_key {
                req = req.header("Authorization", &format!("Bearer {key}"));
            }
            req.call()
        }
        (_, body) => {
            let mut req = agent.post(&url).header("Content-Type", "application/json");
            if let Some(key) = api_key {
                req = req.header("Authorization", &format!("Bearer {key}"));
            }
            req.send(body.unwrap_or("{}"))
        }
    };
    let mut resp = resp.map_err(|e| format!("unreachable: {e}"))?;
    let status = resp.status().as_u16();
    let text = resp
        .body_mut()
        .read_to_string()
        .map_err(|e| format!("reading the answer: {e}"))?;
    if status != 200 {
        #[derive(Deserialize)]
        struct Detail {
            code: String,
            message: String,
        }
        #[derive(Deserialize)]
        struct Error {
            error: Detail,
        }
        let why = serde_json::from_str::<Error>(&text)
            .map(|e| format!("{}: {}", e.error.code, e.error.message))
            .unwrap_or_else(|_| text.chars().take(200).collect());
        return Err(format!("answered {status}: {why}"));
    }
    serde_json::from_str(&text).map_err(|e| format!("answered 200 but not its report: {e}"))
}

/// The same request to every node at once; results in node order.
fn fan_out<T: DeserializeOwned + Send>(
    nodes: &[String],
    timeout: Duration,
    api_key: Option<&str>,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> Vec<NodeResult<T>> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(timeout))
        .build()
        .into();
    std::thread::scope(|s| {
        let handles: Vec<_> = nodes
            .iter()
            .map(|node| {
                let agent = agent.clone();
                s.spawn(move || {
                    NodeResult::new(node, call(&agent, api_key, node, method, path, body))
                })
            })
            .collect();
        handles
            .into_iter()
            .zip(nodes)
            .map(|(h, node)| {
                h.join()
                    .unwrap_or_else(|_| NodeResult::new(node, Err("the request panicked".into())))
            })
            .collect()
    })
}

fn failures<T>(nodes: &[NodeResult<T>]) -> Vec<String> {
    nodes
        .iter()
        .filter_map(|n| n.error.as_ref().map(|e| format!("node {}: {e}", n.node)))
        .collect()
}

fn outcome<T, S: Serialize>(
    results: Vec<NodeResult<T>>,
    sum: impl FnOnce(Vec<NodeResult<T>>) -> S,
) -> Result<Outcome, String> {
    let failures = failures(&results);
    let report = serde_json::to_value(sum(results)).map_err(|e| e.to_string())?;
    Ok(Outcome { report, failures })
}

/// Runs the operation on every node. `Err` only when nothing was asked
/// (bad arguments); node failures are in [`Outcome::failures`].
pub fn run(args: &ClusterArgs, api_key: Option<&str>) -> Result<Outcome, String> {
    let nodes = parse_nodes(&args.nodes)?;
    if args.timeout_secs == 0 {
        return Err("--timeout-secs must be at least 1".into());
    }
    let t = Duration::from_secs(args.timeout_secs);
    match &args.op {
        ClusterOp::Metrics => outcome(
            fan_out(&nodes, t, api_key, "GET", "/metrics", None),
            sum_metrics,
        ),
        ClusterOp::Health => outcome(
            fan_out(&nodes, t, api_key, "GET", "/health", None),
            sum_health,
        ),
        ClusterOp::Invalidate(filter) => {
            let body = serde_json::to_string(filter).map_err(|e| e.to_string())?;
            outcome(
                fan_out(&nodes, t, api_key, "POST", "/invalidate", Some(&body)),
                sum_invalidate,
            )
        }
        ClusterOp::Backup { name } => {
            #[derive(Serialize)]
            struct Body<'a> {
                name: &'a str,
            }
            let body = serde_json::to_string(&Body { name }).map_err(|e| e.to_string())?;
            outcome(
                fan_out(&nodes, t, api_key, "POST", "/admin/backup", Some(&body)),
                sum_backup,
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok<T>(node: &str, t: T) -> NodeResult<T> {
        NodeResult::new(node, Ok(t))
    }

    fn down<T>(node: &str) -> NodeResult<T> {
        NodeResult::new(node, Err("unreachable: connection refused".into()))
    }

    #[test]
    fn node_urls_are_checked() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(
            parse_nodes(&s(&["http://127.0.0.1:8011/", " http://h:8012", ""])).unwrap(),
            vec!["http://127.0.0.1:8011", "http://h:8012"]
        );
        for bad in [
            "127.0.0.1:8011",
            "http://h",
            "http://h:x",
            "http://h:1/api",
            "ftp://h:1",
            "http://:80",
        ] {
            let e = parse_nodes(&s(&[bad])).unwrap_err();
            assert!(e.contains(bad), "{e}");
        }
        assert!(parse_nodes(&s(&["http://h:1", "http://h:1/"]))
            .unwrap_err()
            .contains("twice"));
        assert!(parse_nodes(&s(&[])).is_err());
    }

    fn metrics(lookups: u64, l2_hits: u64, l3_hits: u64, mean: f64, p99: f64) -> NodeMetrics {
        let layer = |hits: u64, sim: f64| LayerCounts {
            lookups,
            hits,
            misses: lookups - hits,
            entries: 10,
            average_hit_similarity: sim,
            ..LayerCounts::default()
        };
        NodeMetrics {
            total_lookups: lookups,
            total_hits: l2_hits + l3_hits,
            total_stores: 5,
            total_cost_saved: 0.5,
            l2_entries: 10,
            l1_predictions: 4,
            l1_predictions_correct: 3,
            lookup_latency_ms: Latency {
                mean,
                p50: mean,
                p99,
            },
            layers: [
                ("L2_REDIS_EXACT".to_string(), layer(l2_hits, 1.0)),
                (
                    "L3_SEMANTIC_RAG".to_string(),
                    layer(l3_hits, if l3_hits > 0 { 0.9 } else { 0.0 }),
                ),
            ]
            .into(),
            ..NodeMetrics::default()
        }
    }

    #[test]
    fn metrics_add_up_and_rates_come_from_the_sums() {
        let c = sum_metrics(vec![
            ok("a", metrics(100, 50, 10, 2.0, 5.0)),
            ok("b", metrics(300, 30, 30, 4.0, 9.0)),
            down("c"),
        ]);
        assert_eq!((c.nodes_total, c.nodes_answered), (3, 2));
        assert_eq!(
            (c.total_lookups, c.total_hits, c.total_stores),
            (400, 120, 10)
        );
        assert_eq!(c.l2_entries, 20);
        assert!((c.total_cost_saved - 1.0).abs() < 1e-12);
        // 120/400, not the mean of 0.6 and 0.2.
        assert!((c.overall_hit_rate - 0.3).abs() < 1e-12);
        assert!((c.l2_hit_rate - 0.2).abs() < 1e-12);
        assert!((c.l3_hit_rate - 0.1).abs() < 1e-12);
        assert_eq!(c.l1_hit_rate, 0.0);
        assert!((c.l1_prediction_accuracy - 0.75).abs() < 1e-12);
        // (2*100 + 4*300) / 400
        assert!((c.lookup_latency_ms.mean - 3.5).abs() < 1e-12);
        assert_eq!(c.lookup_latency_ms.p99_max, 9.0);
        let l3 = &c.layers["L3_SEMANTIC_RAG"];
        assert_eq!(
            (l3.counts.lookups, l3.counts.hits, l3.counts.misses),
            (400, 40, 360)
        );
        assert!((l3.hit_rate - 0.1).abs() < 1e-12);
        assert!((l3.counts.average_hit_similarity - 0.9).abs() < 1e-12);
        assert_eq!(c.nodes.len(), 3);
        assert!(c.nodes[2].error.is_some() && c.nodes[2].report.is_none());
        assert_eq!(
            failures(&c.nodes),
            vec!["node c: unreachable: connection refused"]
        );
    }

    #[test]
    fn no_node_answering_gives_zeros_not_nan() {
        let c = sum_metrics(vec![down("a")]);
        assert_eq!((c.total_lookups, c.nodes_answered), (0, 0));
        assert_eq!(c.overall_hit_rate, 0.0);
        assert_eq!(c.lookup_latency_ms.mean, 0.0);
    }

    #[test]
    fn node_metrics_decode_from_a_real_report_shape() {
        let m: NodeMetrics = serde_json::from_value(serde_json::json!({
            "total_lookups": 3, "total_hits": 1, "overall_hit_rate": 0.33,
            "lookup_latency_ms": {"mean": 1.0, "p50": 1.0, "p99": 2.0},
            "layers": {"L2_REDIS_EXACT": {"layer": "L2_REDIS_EXACT", "available": true,
                "lookups": 3, "hits": 1, "latency_ms": {"mean": 0.1}, "details": {"x": 1}}},
            "l1_cost_saved": 0.25, "something_new": [1, 2]
        }))
        .unwrap();
        assert_eq!((m.total_lookups, m.layers["L2_REDIS_EXACT"].hits), (3, 1));
        assert_eq!(m.l1_cost_saved, 0.25);
    }

    #[test]
    fn health_is_healthy_only_when_every_node_is() {
        let h = |s: &str| NodeHealth {
            status: s.into(),
            ..NodeHealth::default()
        };
        assert_eq!(
            sum_health(vec![ok("a", h("healthy")), ok("b", h("healthy"))]).status,
            "healthy"
        );
        let d = sum_health(vec![ok("a", h("healthy")), ok("b", h("degraded"))]);
        assert_eq!((d.status, d.nodes_healthy), ("degraded", 1));
        assert_eq!(
            sum_health(vec![ok("a", h("healthy")), down("b")]).status,
            "unavailable"
        );
    }

    #[test]
    fn invalidations_and_backups_add_up() {
        let inv = |l2: u64, l3: u64| NodeInvalidate {
            invalidated: [
                ("L2_REDIS_EXACT".into(), l2),
                ("L3_SEMANTIC_RAG".into(), l3),
            ]
            .into(),
            total_invalidated: l2 + l3,
        };
        let c = sum_invalidate(vec![ok("a", inv(3, 1)), ok("b", inv(2, 0)), down("c")]);
        assert_eq!((c.total_invalidated, c.nodes_answered), (6, 2));
        assert_eq!(c.invalidated["L2_REDIS_EXACT"], 5);
        let b = |records| NodeBackup {
            to: "/x".into(),
            records,
            trees: 4,
        };
        let c = sum_backup(vec![ok("a", b(7)), ok("b", b(5)), down("c")]);
        assert_eq!((c.records, c.nodes_written), (12, 2));
    }

    #[test]
    fn invalidate_flags_become_the_node_body() {
        let body = |a: InvalidateArgs| serde_json::to_value(a).unwrap();
        assert_eq!(
            body(InvalidateArgs {
                all: true,
                ..Default::default()
            }),
            serde_json::json!({"all": true})
        );
        assert_eq!(
            body(InvalidateArgs {
                namespace: Some("team-a".into()),
                layer: Some("L2".into()),
                ..Default::default()
            }),
            serde_json::json!({"namespace": "team-a", "layer": "L2"})
        );
    }

    #[test]
    fn unreachable_nodes_are_named() {
        // A port nobody listens on: bind, take the port, close.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let node = format!("http://127.0.0.1:{port}");
        let args = ClusterArgs {
            nodes: vec![node.clone()],
            timeout_secs: 5,
            op: ClusterOp::Health,
        };
        let out = run(&args, None).unwrap();
        assert_eq!(out.report["status"], "unavailable");
        assert_eq!(out.failures.len(), 1);
        assert!(
            out.failures[0].starts_with(&format!("node {node}: unreachable")),
            "{:?}",
            out.failures
        );
    }
}
