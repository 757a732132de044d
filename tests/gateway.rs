//! The drop-in gateway (`/v1/messages`, `/v1/chat/completions`) end to end:
//! the real binary in front of a stand-in upstream written for these tests
//! (`tests/gateway_py/upstream.py`: it implements both APIs, streaming and
//! not, with deterministic answers and usage blocks, fails or stalls when
//! told, and records what it received), driven by the official `anthropic`
//! and `openai` Python SDKs (`tests/gateway_py/sdk_test.py`, one scenario
//! per test). Without python3 or the SDKs (`scripts/test` installs them) the
//! SDK tests are skipped loudly.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::*;
use serde_json::{json, Value};

fn py_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/gateway_py")
}

fn skip(what: &str) {
    eprintln!("\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!");
    eprintln!("!!! SKIPPED: {what}");
    eprintln!("!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n");
}

/// Whether python3 can import the SDKs.
fn have_sdks() -> bool {
    Command::new("python3")
        .args(["-c", "import anthropic, openai, httpx"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The stand-in upstream, killed on drop.
struct Upstream {
    child: Child,
    url: String,
}

impl Upstream {
    fn start() -> Upstream {
        let mut child = Command::new("python3")
            .arg(py_dir().join("upstream.py"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting the stand-in upstream");
        let out = child.stdout.take().expect("piped");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if let Some(port) = line.strip_prefix("listening ") {
                    let _ = tx.send(port.trim().to_string());
                }
            }
        });
        let port = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the stand-in upstream did not start");
        Upstream {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn gateway(upstream: &str, extra: &[&str]) -> Server {
    Server::builder()
        .args([
            "--upstream-anthropic",
            upstream,
            "--upstream-openai",
            upstream,
            "--gateway-upstream-timeout-ms",
            "2000",
        ])
        .args(extra.iter().copied())
        .start()
}

/// Runs one scenario of sdk_test.py; returns its output (or `None`: skipped).
fn scenario(name: &str, server: &Server, upstream: &str) -> Option<String> {
    if !have_sdks() {
        skip(&format!(
            "python3 with the anthropic and openai packages is not available \
             (pip install anthropic openai): gateway scenario {name} was not run"
        ));
        return None;
    }
    let out = Command::new("python3")
        .arg(py_dir().join("sdk_test.py"))
        .args(["--gateway", &format!("http://{}", server.addr())])
        .args(["--upstream", upstream])
        .arg(name)
        .stdin(Stdio::null())
        .output()
        .expect("running sdk_test.py");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "scenario {name} failed: {}\nstdout:\n{stdout}\nstderr:\n{}\nserver log:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr),
        server.log()
    );
    assert!(stdout.contains(&format!("PASS {name}")), "{stdout}");
    Some(stdout)
}

fn run(name: &str, extra: &[&str]) -> Option<(Server, Upstream, String)> {
    if !have_sdks() {
        scenario(name, &Server::start(), "");
        return None;
    }
    let up = Upstream::start();
    let server = gateway(&up.url, extra);
    let out = scenario(name, &server, &up.url)?;
    Some((server, up, out))
}

#[test]
fn anthropic_sdk_miss_then_hit_with_breakpoints_and_usage() {
    let Some((server, _up, _)) = run("anthropic_basic", &[]) else {
        return;
    };
    // The provider key never reaches the log (nor the store, whose bodies
    // are the provider's answers).
    let log = server.log();
    assert!(
        !log.contains("SECRET"),
        "the provider key was logged:\n{log}"
    );
    assert!(log.contains("/v1/messages"), "{log}");
    let m = server.metrics();
    assert!(m["gateway"]["requests"].as_u64().unwrap() >= 5, "{m}");
}

#[test]
fn anthropic_sdk_streaming_conversations_and_tool_results() {
    run("anthropic_streaming", &[]);
}

#[test]
fn callers_breakpoints_and_l1_off_are_respected() {
    run("own_breakpoints", &[]);
}

#[test]
fn pass_through_rules() {
    run("pass_through", &[]);
}

#[test]
fn fresh_when_sampled_passes_sampled_requests_through() {
    run("fresh_when_sampled", &["--gateway-fresh-when-sampled"]);
}

#[test]
fn upstream_failures_are_returned_and_nothing_is_stored() {
    run("failures", &[]);
}

#[test]
fn unreachable_upstream_is_a_502_in_the_provider_shape() {
    if !have_sdks() {
        scenario("unreachable", &Server::start(), "");
        return;
    }
    // A port nothing listens on: bind one, then free it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let server = gateway(&url, &[]);
    scenario("unreachable", &server, &url);
}

#[test]
fn openai_sdk_miss_then_hit_streaming_and_not() {
    run("openai_basic", &[]);
}

#[test]
fn client_disconnect_mid_stream_leaves_no_entry() {
    run("disconnect", &[]);
}

// ------------------------------------------------ without the SDKs

/// Bodies that cannot be keyed are passed through (the upstream judges
/// them), and gateway counters appear in both metric formats.
#[test]
fn unkeyable_bodies_pass_through_and_metrics_are_exported() {
    let up = Upstream::start();
    let server = gateway(&up.url, &[]);
    let c = server.client();
    // No messages: the stand-in answers 400 in Anthropic's shape.
    let r = c.post("/v1/messages", &json!({"model": "m", "max_tokens": 1}));
    assert_eq!(r.status, 400, "{r:?}");
    assert_eq!(r.header("x-helios-cache"), Some("BYPASS"));
    assert_eq!(r.body["type"], "error");
    // Not JSON at all: also passed through.
    let r = c.post_raw("/v1/chat/completions", b"{not json");
    assert_eq!(r.status, 400, "{r:?}");
    let m = server.metrics();
    let g = &m["gateway"];
    assert_eq!(g["requests"], 2, "{m}");
    assert_eq!(g["passthrough"], 2, "{m}");
    assert_eq!(g["upstream_errors"], 2, "{m}");
    assert_eq!(g["upstream_calls"], 2, "{m}");
    let text = String::from_utf8(c.get("/metrics").raw).unwrap();
    for name in [
        "helios_cache_gateway_requests_total 2",
        "helios_cache_gateway_passthrough_total 2",
        "helios_cache_gateway_upstream_errors_total 2",
        "helios_cache_gateway_hits_total{layer=\"L2\"} 0",
        "helios_cache_gateway_upstream_duration_seconds_count 2",
    ] {
        assert!(text.contains(name), "{name} missing from:\n{text}");
    }
    let received: Value = {
        let addr: std::net::SocketAddr = up.url.trim_start_matches("http://").parse().unwrap();
        Client { addr }.get("/_received").body
    };
    assert_eq!(received.as_array().map(Vec::len), Some(2), "{received}");
}
