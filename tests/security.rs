//! Access control and limits on hostile input, against the real binary.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{command, run_to_exit, u, Server, API};
use serde_json::json;

const KEY: &str = "test-key-0123456789abcdef";

fn with_auth(
    s: &Server,
    method: &str,
    path: &str,
    auth: Option<&str>,
    body: Option<&str>,
) -> (u16, serde_json::Value) {
    let mut stream = TcpStream::connect(s.addr()).unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n");
    if let Some(a) = auth {
        req.push_str(&format!("Authorization: {a}\r\n"));
    }
    let body = body.unwrap_or("");
    req.push_str(&format!(
        "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    ));
    stream.write_all(req.as_bytes()).unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).unwrap();
    let status: u16 = raw[9..12].parse().unwrap();
    let body = raw.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    (
        status,
        serde_json::from_str(body).unwrap_or(serde_json::Value::Null),
    )
}

#[test]
fn with_an_api_key_every_endpoint_but_health_and_docs_needs_it() {
    let s = Server::builder().env("HELIOS_API_KEY", KEY).start();
    let lookup = r#"{"input_text": "hello"}"#;
    let bearer = format!("Bearer {KEY}");
    for (method, path, body) in [
        ("POST", format!("{API}/lookup"), Some(lookup)),
        (
            "POST",
            format!("{API}/store"),
            Some(r#"{"input_text": "a", "response_data": 1}"#),
        ),
        ("GET", format!("{API}/metrics"), None),
        ("GET", format!("{API}/summary"), None),
        ("GET", format!("{API}/stats/layer/L2"), None),
        (
            "POST",
            format!("{API}/invalidate"),
            Some(r#"{"all": true}"#),
        ),
        ("GET", "/metrics".to_string(), None),
    ] {
        for auth in [
            None,
            Some("Bearer wrong-key-0123456789abc"),
            Some(KEY),
            Some("Basic abc"),
        ] {
            let (status, err) = with_auth(&s, method, &path, auth, body);
            assert_eq!(status, 401, "{method} {path} with {auth:?}");
            assert_eq!(err["error"]["code"], "unauthorized");
        }
        let (status, _) = with_auth(&s, method, &path, Some(&bearer), body);
        assert_eq!(status, 200, "{method} {path} with the key");
    }
    for open in [
        format!("{API}/health"),
        "/openapi.json".into(),
        "/docs".into(),
    ] {
        let (status, _) = with_auth(&s, "GET", &open, None, None);
        assert_eq!(status, 200, "{open} is open");
    }
    // Nothing was stored by the refused requests.
    let (_, m) = with_auth(&s, "GET", &format!("{API}/metrics"), Some(&bearer), None);
    assert_eq!(u(&m["total_stores"]), 1);
}

#[test]
fn a_short_api_key_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = command();
    cmd.args([
        "--bind",
        "127.0.0.1:0",
        "--data-dir",
        dir.path().to_str().unwrap(),
    ])
    .env("HELIOS_API_KEY", "short");
    let (status, log) = run_to_exit(cmd, Duration::from_secs(30));
    assert!(!status.success());
    assert!(log.contains("at least 16"), "{log}");
}

/// The log lines of a server started with `args`, up to its listen line.
fn startup_log(args: &[&str]) -> String {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = command();
    cmd.args(["--data-dir", dir.path().to_str().unwrap()])
        .args(args);
    let mut child = cmd
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut log = String::new();
    for line in std::io::BufReader::new(child.stderr.take().unwrap()).lines() {
        let line = line.unwrap();
        log.push_str(&line);
        log.push('\n');
        if line.contains("listening on") {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    log
}

#[test]
fn a_public_bind_without_a_key_warns_loudly() {
    let public = startup_log(&["--bind", "0.0.0.0:0"]);
    assert!(public.contains("WITHOUT an API key"), "{public}");
    let loopback = startup_log(&["--bind", "127.0.0.1:0"]);
    assert!(
        loopback.contains("listening on") && !loopback.contains("WITHOUT"),
        "{loopback}"
    );
    let keyed = startup_log(&["--bind", "0.0.0.0:0", "--api-key", KEY]);
    assert!(
        keyed.contains("listening on") && !keyed.contains("WITHOUT"),
        "{keyed}"
    );
}

#[test]
fn every_limit_gives_a_clear_4xx_and_stores_nothing() {
    let s = Server::builder()
        .args([
            "--max-input-bytes",
            "100",
            "--max-response-bytes",
            "200",
            "--max-json-depth",
            "8",
        ])
        .start();
    let cases = [
        (
            json!({"input_text": "x".repeat(101), "response_data": 1}),
            "input_too_long",
        ),
        (
            json!({"input_text": "ok", "response_data": "y".repeat(300)}),
            "response_too_large",
        ),
        (
            json!({"input_text": "ok", "response_data": [[[[[[[[[1]]]]]]]]]}),
            "too_deep",
        ),
        (
            json!({"input_text": "ok", "response_data": 1, "namespace": "n".repeat(129)}),
            "invalid_name",
        ),
        (
            json!({"input_text": "ok", "response_data": 1, "task_type": "bad type!"}),
            "invalid_name",
        ),
    ];
    for (body, code) in cases {
        assert_eq!(s.store(&body).error(400), code, "{body}");
    }
    assert_eq!(
        s.lookup(&json!({"input_text": "x".repeat(101)})).error(400),
        "input_too_long"
    );
    let m = s.metrics();
    assert_eq!(u(&m["total_stores"]), 0);
    assert_eq!(u(&m["l2_entries"]) + u(&m["l3_entries"]), 0);
    // Within every limit works.
    s.store(&json!({"input_text": "x".repeat(100), "response_data": [[[[[[[1]]]]]]]}))
        .ok();
}

#[test]
fn a_deep_json_bomb_is_refused_cheaply() {
    let s = Server::start();
    let bomb = format!(
        r#"{{"input_text": "a", "response_data": {}{}}}"#,
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    assert_eq!(
        s.post_raw(&format!("{API}/store"), bomb.as_bytes())
            .error(400),
        "too_deep"
    );
}

#[test]
fn slow_and_half_sent_requests_time_out_without_blocking_others() {
    let s = Server::builder()
        .args(["--request-timeout-ms", "800", "--workers", "1"])
        .start();
    // Headers promise a body that never fully arrives.
    let mut slow = TcpStream::connect(s.addr()).unwrap();
    let head = format!("POST {API}/lookup HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 50\r\n\r\n{{\"input");
    slow.write_all(head.as_bytes()).unwrap();
    // Half-sent headers.
    let mut half = TcpStream::connect(s.addr()).unwrap();
    half.write_all(b"POST /api/v1/helios/cache/lookup HTTP/1.1\r\nHost:")
        .unwrap();

    // The single worker still serves others meanwhile.
    let t = Instant::now();
    s.get(&format!("{API}/health")).ok();
    assert!(t.elapsed() < Duration::from_secs(5));

    slow.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut answer = String::new();
    let _ = slow.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("request_timeout"), "{answer}");

    half.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut rest = Vec::new();
    let _ = half.read_to_end(&mut rest);
    let text = String::from_utf8_lossy(&rest);
    assert!(
        text.is_empty() || text.starts_with("HTTP/1.1 408"),
        "{text}"
    );
}
