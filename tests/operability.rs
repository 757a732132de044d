//! Operability: OpenAPI description and offline docs, Prometheus metrics,
//! access logs, cache headers, and the Python client example, all against
//! the real binary.

mod common;

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use serde_json::{json, Value};

fn have(cmd: &str, arg: &str) -> bool {
    Command::new(cmd)
        .arg(arg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn skip(what: &str) {
    eprintln!("\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!");
    eprintln!("!!! SKIPPED: {what}");
    eprintln!("!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n");
}

// ---------------------------------------------------------------- OpenAPI

#[test]
fn openapi_is_valid_and_documents_every_route() {
    let server = Server::start();
    let r = server.get("/openapi.json");
    let doc = r.ok().clone();
    assert!(r
        .header("content-type")
        .is_some_and(|c| c.starts_with("application/json")));

    // Structure of an OpenAPI 3 document.
    let version = doc["openapi"].as_str().expect("openapi version");
    assert!(version.starts_with("3."), "not OpenAPI 3: {version}");
    assert!(doc["info"]["title"].is_string());
    assert!(doc["info"]["version"].is_string());
    let paths = doc["paths"].as_object().expect("paths");

    // Paths and methods are exactly the server's routes.
    let mut documented = BTreeSet::new();
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            if ["get", "post", "put", "delete", "patch", "head", "options"]
                .contains(&method.as_str())
            {
                assert!(
                    op["responses"].as_object().is_some_and(|r| !r.is_empty()),
                    "{method} {path} documents no response"
                );
                documented.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    let routes: BTreeSet<(String, String)> = helios_cache::http::ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    let undocumented: Vec<_> = routes.difference(&documented).collect();
    let unknown: Vec<_> = documented.difference(&routes).collect();
    assert!(
        undocumented.is_empty() && unknown.is_empty(),
        "routes without documentation: {undocumented:?}; documented but not routed: {unknown:?}"
    );

    // Every documented route is really served (not a 404 from the router).
    for (method, path) in &routes {
        let concrete = path
            .replace("{layer}", "L2")
            .replace("{asset}", "swagger-ui.css");
        let resp = if method == "GET" {
            server.get(&concrete)
        } else {
            server.post(&concrete, &json!({}))
        };
        assert!(
            resp.status != 404 && resp.status != 405,
            "{method} {concrete} is documented but answers {}",
            resp.status
        );
    }

    // Request and response schemas come from the code.
    let schemas = &doc["components"]["schemas"];
    for name in [
        "LookupRequest",
        "LookupResponse",
        "StoreRequest",
        "StoreResponse",
        "ErrorBody",
    ] {
        assert!(schemas[name].is_object(), "schema {name} missing");
    }
    let lookup_req = &schemas["LookupRequest"];
    // input_text or messages: neither is required on its own.
    assert!(lookup_req["required"].is_null(), "{lookup_req}");
    assert!(lookup_req["properties"]["input_text"].is_object());
    assert!(lookup_req["properties"]["messages"].is_object());
    assert!(schemas["ChatMessage"]["properties"]["role"].is_object());
    assert!(lookup_req["properties"]["similarity_threshold"].is_object());
    assert!(schemas["StoreRequest"]["properties"]["usage"].is_object());
    assert!(schemas["LayerId"]["enum"]
        .as_array()
        .unwrap()
        .contains(&json!("L3_SEMANTIC_RAG")));

    // The reference validator, when this machine has it.
    let have_validator = Command::new("python3")
        .args(["-c", "import openapi_spec_validator"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !have_validator {
        skip("python3 openapi-spec-validator is not installed (pip install openapi-spec-validator); structural checks only");
        return;
    }
    let file = server.root().join("openapi.json");
    std::fs::write(&file, &r.raw).unwrap();
    let out = Command::new("python3")
        .args([
            "-c",
            "import json,sys; from openapi_spec_validator import validate; \
             validate(json.load(open(sys.argv[1]))); print('valid')",
        ])
        .arg(&file)
        .output()
        .expect("running python3");
    assert!(
        out.status.success(),
        "openapi-spec-validator rejects /openapi.json: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

// ------------------------------------------------------------- /docs page

#[test]
fn docs_are_served_from_the_binary() {
    let server = Server::start();
    let page = server.get("/docs");
    assert_eq!(page.status, 200);
    assert!(page
        .header("content-type")
        .unwrap()
        .starts_with("text/html"));
    let html = String::from_utf8_lossy(&page.raw).into_owned();
    assert!(html.contains("/openapi.json"));
    // Nothing is loaded from elsewhere.
    for line in html.lines() {
        let l = line.to_ascii_lowercase();
        assert!(
            !(l.contains("src=\"http") || l.contains("href=\"http") || l.contains("//cdn")),
            "the docs page loads a remote asset: {line}"
        );
    }
    let js = server.get("/docs/swagger-ui-bundle.js");
    assert_eq!(js.status, 200);
    assert!(js.header("content-type").unwrap().contains("javascript"));
    assert!(js.raw.len() > 100_000);
    let css = server.get("/docs/swagger-ui.css");
    assert_eq!(css.status, 200);
    assert!(css.header("content-type").unwrap().starts_with("text/css"));
    assert_eq!(server.get("/docs/nope.js").error(404), "not_found");
}

fn chromium() -> Option<&'static str> {
    ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|c| have(c, "--version"))
}

#[test]
fn docs_render_in_headless_chromium() {
    let Some(browser) = chromium() else {
        skip("chromium is not installed (apt-get install -y chromium): /docs was not rendered");
        return;
    };
    let server = Server::start();
    let profile = tempfile::tempdir().unwrap();
    let url = format!("http://{}/docs", server.addr());
    let mut cmd = Command::new(browser);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--virtual-time-budget=10000",
        "--dump-dom",
    ])
    .arg(format!("--user-data-dir={}", profile.path().display()))
    .arg(&url)
    .stdin(Stdio::null());
    let out = run_with_timeout(cmd, Duration::from_secs(90));
    let dom = String::from_utf8_lossy(&out.stdout);
    let ok = |needle: &str| dom.contains(needle);
    assert!(
        ok("swagger-ui") && ok("opblock"),
        "Swagger UI did not render; stderr:\n{}\nDOM:\n{}",
        String::from_utf8_lossy(&out.stderr),
        &dom[..dom.len().min(4000)]
    );
    for op in [
        "/api/v1/helios/cache/lookup",
        "/api/v1/helios/cache/store",
        "/metrics",
    ] {
        assert!(
            dom.contains(&format!("data-path=\"{op}\"")),
            "operation {op} is not listed in the rendered docs"
        );
    }
    assert!(dom.contains("helios-cache"), "title missing");
}

fn run_with_timeout(mut cmd: Command, timeout: Duration) -> std::process::Output {
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning");
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(timeout) {
        Ok(out) => out.expect("waiting"),
        Err(_) => {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            panic!("{cmd:?} did not finish within {timeout:?}");
        }
    }
}

// ------------------------------------------------------------- Prometheus

type Samples = HashMap<String, f64>;

/// Scrapes `/metrics` and parses it with a real parser; keys are
/// `name{label=value,...}` with labels sorted.
fn scrape(server: &Server) -> Samples {
    let r = server.get("/metrics");
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.header("content-type").unwrap().starts_with("text/plain"));
    let text = String::from_utf8(r.raw.clone()).unwrap();
    let lines = text.lines().map(|l| Ok(l.to_string()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("Prometheus text parses");
    let mut out = Samples::new();
    for s in scrape.samples {
        let mut labels: Vec<String> = s.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        labels.sort();
        let value = match s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            prometheus_parse::Value::Histogram(h) => {
                let le = h.iter().map(|b| b.count).fold(0.0, f64::max);
                out.insert(format!("{}_count{{{}}}", s.metric, labels.join(",")), le);
                continue;
            }
            prometheus_parse::Value::Summary(_) => continue,
        };
        out.insert(format!("{}{{{}}}", s.metric, labels.join(",")), value);
    }
    out
}

#[track_caller]
fn get(s: &Samples, key: &str) -> f64 {
    *s.get(key).unwrap_or_else(|| {
        let mut keys: Vec<_> = s.keys().collect();
        keys.sort();
        panic!("no sample {key}; have {keys:#?}")
    })
}

#[test]
fn prometheus_metrics_parse_and_move_with_traffic() {
    let server = Server::start();
    let before = scrape(&server);
    for key in [
        "helios_cache_layer_hits_total{layer=L2}",
        "helios_cache_layer_misses_total{layer=L3}",
        "helios_cache_layer_stores_total{layer=L1}",
        "helios_cache_layer_evictions_total{layer=L2}",
        "helios_cache_layer_expirations_total{layer=L3}",
        "helios_cache_entries{layer=L2}",
        "helios_cache_bytes{layer=L3}",
        "helios_cache_tokens_saved_total{}",
        "helios_cache_dollars_saved_total{}",
        "helios_cache_l1_prediction_accuracy{}",
        "helios_cache_lookups_total{}",
        "helios_cache_build_info{version=0.1.0}",
    ] {
        get(&before, key);
    }
    // Process metrics from the standard collector.
    assert!(get(&before, "process_resident_memory_bytes{}") > 0.0);
    assert!(get(&before, "process_start_time_seconds{}") > 0.0);

    let input = "What is the capital of France?";
    server
        .store(&json!({
            "input_text": input,
            "response_data": {"answer": "Paris"},
            "tokens_used": 120,
            "store_in_l1": false,
        }))
        .ok();
    server.lookup(&json!({"input_text": input})).ok();
    server
        .lookup(&json!({"input_text": "Something never stored here", "use_l1": false}))
        .ok();
    let after = scrape(&server);
    let delta = |k: &str| get(&after, k) - get(&before, k);
    assert_eq!(delta("helios_cache_layer_stores_total{layer=L2}"), 1.0);
    assert_eq!(delta("helios_cache_layer_stores_total{layer=L3}"), 1.0);
    assert_eq!(delta("helios_cache_layer_hits_total{layer=L2}"), 1.0);
    assert!(delta("helios_cache_layer_misses_total{layer=L2}") >= 1.0);
    assert!(delta("helios_cache_layer_misses_total{layer=L3}") >= 1.0);
    assert_eq!(delta("helios_cache_lookups_total{}"), 2.0);
    assert_eq!(delta("helios_cache_hits_total{}"), 1.0);
    assert_eq!(delta("helios_cache_stores_total{}"), 1.0);
    assert_eq!(delta("helios_cache_entries{layer=L2}"), 1.0);
    assert!(delta("helios_cache_bytes{layer=L2}") > 0.0);
    assert_eq!(delta("helios_cache_tokens_saved_total{}"), 120.0);
    assert!(delta("helios_cache_dollars_saved_total{}") > 0.0);
    assert_eq!(delta("helios_cache_lookup_duration_seconds_count{}"), 2.0);
    assert!(delta("helios_cache_layer_lookup_duration_seconds_count{layer=L2}") >= 2.0);

    // The scrape agrees with the JSON report (one source of truth).
    let m = server.metrics();
    assert_eq!(
        get(&after, "helios_cache_lookups_total{}") as u64,
        u(&m["total_lookups"])
    );
}

// ---------------------------------------------------------- cache headers

#[test]
fn lookup_responses_carry_cache_headers() {
    let server = Server::start();
    let miss = server.lookup(&json!({"input_text": "How do I reset my password?"}));
    miss.ok();
    assert_eq!(miss.header("x-helios-cache"), Some("MISS"));
    assert_eq!(miss.header("x-helios-similarity"), None);

    server
        .store(&json!({
            "input_text": "How do I reset my password?",
            "response_data": {"answer": "Settings > Security > Reset password."},
            "store_in_l1": false,
        }))
        .ok();

    let l2 = server.lookup(&json!({"input_text": "How do I reset my password?"}));
    assert_eq!(l2.ok()["layer"], "L2_REDIS_EXACT");
    assert_eq!(l2.header("x-helios-cache"), Some("HIT-L2"));
    assert_eq!(l2.header("x-helios-similarity"), None);

    let l3 = server.lookup(&json!({"input_text": "How can I reset my password?", "use_l2": true}));
    let body = l3.ok();
    assert_eq!(body["layer"], "L3_SEMANTIC_RAG", "{body}");
    assert_eq!(l3.header("x-helios-cache"), Some("HIT-L3"));
    let sim: f64 = l3
        .header("x-helios-similarity")
        .expect("similarity header on an L3 hit")
        .parse()
        .unwrap();
    assert!(
        (sim - f(&body["confidence"])).abs() < 1e-3,
        "{sim} vs {body}"
    );
    assert!(sim > 0.8 && sim <= 1.0);

    // Errors are not lookups with an outcome.
    let bad = server.lookup(&json!({"input_text": ""}));
    bad.error(400);
}

// ------------------------------------------------------------------ logs

const SECRET: &str = "zebra-quartz-secret-prompt-7731";

fn access_lines(log: &str) -> Vec<Value> {
    log.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["target"] == "helios_cache::access")
        .collect()
}

#[test]
fn json_logs_have_one_line_per_request_without_prompts() {
    let server = Server::builder().args(["--log-format", "json"]).start();
    server
        .store(&json!({"input_text": SECRET, "response_data": {"answer": "RESPONSE-SECRET-42"}, "store_in_l1": false}))
        .ok();
    server.lookup(&json!({"input_text": SECRET})).ok();
    server
        .lookup(&json!({"input_text": format!("{SECRET} again"), "use_l3": false}))
        .ok();
    server.lookup(&json!({"input_text": ""})).error(400);
    server.get("/metrics");
    let log = eventually(Duration::from_secs(5), "five access lines", || {
        let log = server.log();
        (access_lines(&log).len() >= 5).then_some(log)
    });

    // Every line is JSON.
    for line in log.lines().filter(|l| !l.trim().is_empty()) {
        let v: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("log line is not JSON ({e}): {line}"));
        assert!(
            v["level"].is_string() && v["timestamp"].is_string(),
            "{line}"
        );
    }
    let lines = access_lines(&log);
    let field = |v: &Value, k: &str| {
        let f = &v["fields"];
        if f.is_object() {
            f[k].clone()
        } else {
            v[k].clone()
        }
    };
    for v in &lines {
        assert_eq!(v["level"], "INFO");
        for k in ["method", "path", "status", "latency_ms", "cache"] {
            assert!(!field(v, k).is_null(), "access line lacks {k}: {v}");
        }
        assert!(field(v, "latency_ms").as_f64().unwrap() >= 0.0);
    }
    let find = |path: &str, cache: &str| {
        lines.iter().any(|v| {
            field(v, "path") == path && field(v, "cache") == cache && field(v, "status") == 200
        })
    };
    let lookup = format!("{API}/lookup");
    assert!(find(&format!("{API}/store"), "-"), "store line: {lines:#?}");
    assert!(find(&lookup, "HIT-L2"), "hit line: {lines:#?}");
    assert!(find(&lookup, "MISS"), "miss line: {lines:#?}");
    assert!(find("/metrics", "-"));
    assert!(lines
        .iter()
        .any(|v| field(v, "status") == 400 && field(v, "method") == "POST"));
    // Neither the prompt nor the response ever reaches the log.
    assert!(
        !log.contains(SECRET),
        "the prompt leaked into the log:\n{log}"
    );
    assert!(
        !log.contains("RESPONSE-SECRET-42"),
        "the response leaked:\n{log}"
    );
}

#[test]
fn text_logs_are_the_default() {
    let server = Server::start();
    server.lookup(&json!({"input_text": SECRET})).ok();
    let line = eventually(Duration::from_secs(5), "an access line", || {
        server
            .log()
            .lines()
            .find(|l| l.contains("helios_cache::access"))
            .map(String::from)
    });
    assert!(serde_json::from_str::<Value>(&line).is_err(), "{line}");
    for part in [
        "INFO",
        "method=POST",
        "path=/api/v1/helios/cache/lookup",
        "status=200",
        "latency_ms=",
        "cache=MISS",
    ] {
        assert!(line.contains(part), "{part} missing in {line}");
    }
    assert!(!server.log().contains(SECRET));
}

// --------------------------------------------------------- Python client

#[test]
fn python_client_example_runs() {
    if !have("python3", "--version") {
        skip("python3 is not installed: examples/client.py was not run");
        return;
    }
    let server = Server::start();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/client.py");
    let mut cmd = Command::new("python3");
    cmd.arg(&script)
        .args(["--url", &format!("http://{}", server.addr())])
        .stdin(Stdio::null());
    let out = run_with_timeout(cmd, Duration::from_secs(60));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "client.py failed: {}\nstdout:\n{stdout}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("MISS"), "{stdout}");
    assert!(stdout.contains("HIT-L2"), "{stdout}");
    assert!(stdout.contains("HIT-L3"), "{stdout}");
    // The flow really went through the server.
    let m = server.metrics();
    assert!(u(&m["total_stores"]) >= 1);
    assert!(u(&m["total_hits"]) >= 2);
}

// -------------------------------------------------------------- dashboard

/// Every metric the Grafana dashboard queries is one the server exports.
#[test]
fn grafana_dashboard_uses_exported_metrics() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("dashboards/helios-cache.json");
    let dash: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap())
        .expect("the dashboard is JSON");
    let server = Server::start();
    let text = String::from_utf8(server.get("/metrics").raw).unwrap();
    let families: BTreeSet<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    let mut exprs = Vec::new();
    for panel in dash["panels"].as_array().unwrap() {
        for t in panel["targets"].as_array().into_iter().flatten() {
            exprs.push(t["expr"].as_str().unwrap().to_string());
        }
    }
    assert!(exprs.len() >= 10, "{exprs:?}");
    let mut used = 0;
    for e in &exprs {
        for word in e.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
            if !(word.starts_with("helios_cache_") || word.starts_with("process_")) {
                continue;
            }
            let base = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| word.strip_suffix(s).filter(|b| families.contains(b)))
                .unwrap_or(word);
            assert!(
                families.contains(base),
                "the dashboard queries {word}, which is not exported"
            );
            used += 1;
        }
    }
    assert!(used >= exprs.len());
}
