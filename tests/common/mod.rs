//! Test harness: runs the real `helios-cache` binary on an ephemeral port with
//! a temporary data directory, and talks to it with a tiny blocking HTTP/1.1
//! client (one connection per request, `Connection: close`).
//!
//! Every test gets its own process, port and directory, so tests can run in
//! parallel (cargo-nextest runs each in its own process anyway).

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tempfile::TempDir;

/// Path prefix of the cache API.
pub const API: &str = "/api/v1/helios/cache";

/// How long the server may take to say where it listens.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a graceful stop may take.
const STOP_TIMEOUT: Duration = Duration::from_secs(40);
/// Socket read/write timeout of the client.
const IO_TIMEOUT: Duration = Duration::from_secs(30);

pub const BIN: &str = env!("CARGO_BIN_EXE_helios-cache");

/// An HTTP response.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    /// Header names in lower case, in the order received.
    pub headers: Vec<(String, String)>,
    /// The body parsed as JSON; `Value::Null` when empty, a JSON string
    /// holding the text when it is not JSON.
    pub body: Value,
    pub raw: Vec<u8>,
}

impl Response {
    /// The first header named `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Asserts a 200 and returns the body.
    #[track_caller]
    pub fn ok(&self) -> &Value {
        assert_eq!(self.status, 200, "expected 200, got {self:?}");
        &self.body
    }

    /// Asserts the SPEC error shape `{"error": {"code", "message"}}` with
    /// this status, and returns the code.
    #[track_caller]
    pub fn error(&self, status: u16) -> String {
        assert_eq!(self.status, status, "unexpected status: {self:?}");
        let err = &self.body["error"];
        let code = err["code"]
            .as_str()
            .unwrap_or_else(|| panic!("error.code missing: {self:?}"));
        let message = err["message"]
            .as_str()
            .unwrap_or_else(|| panic!("error.message missing: {self:?}"));
        assert!(!code.is_empty(), "empty error code: {self:?}");
        assert!(!message.is_empty(), "empty error message: {self:?}");
        assert!(
            self.header("content-type")
                .is_some_and(|c| c.starts_with("application/json")),
            "error is not JSON: {self:?}"
        );
        code.to_string()
    }
}

/// A client of one server address. `Copy`, so threads can each take one.
#[derive(Debug, Clone, Copy)]
pub struct Client {
    pub addr: SocketAddr,
}

impl Client {
    /// Sends one request; `Err` only on I/O failure.
    pub fn try_request(
        &self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
    ) -> std::io::Result<Response> {
        self.try_request_with(method, path, body, &[])
    }

    /// Sends one request with extra headers; `Err` only on I/O failure.
    pub fn try_request_with(
        &self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
        headers: &[(&str, &str)],
    ) -> std::io::Result<Response> {
        let mut stream = TcpStream::connect_timeout(&self.addr, IO_TIMEOUT)?;
        stream.set_read_timeout(Some(IO_TIMEOUT))?;
        stream.set_write_timeout(Some(IO_TIMEOUT))?;
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nAccept: application/json\r\n",
            self.addr
        );
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        if let Some(b) = body {
            head.push_str("Content-Type: application/json\r\n");
            head.push_str(&format!("Content-Length: {}\r\n", b.len()));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes())?;
        if let Some(b) = body {
            // A server refusing a large body may answer and close before
            // reading it all; a failed write is then not the result: the
            // response is.
            let mut sent = 0;
            while sent < b.len() {
                let end = (sent + 64 * 1024).min(b.len());
                if stream.write_all(&b[sent..end]).is_err() {
                    break;
                }
                sent = end;
            }
        }
        let _ = stream.flush();
        let mut raw = Vec::new();
        let read = stream.read_to_end(&mut raw);
        if raw.is_empty() {
            read?;
        }
        parse_response(&raw)
    }

    /// Sends one request and panics on I/O failure.
    #[track_caller]
    pub fn request(&self, method: &str, path: &str, body: Option<&[u8]>) -> Response {
        match self.try_request(method, path, body) {
            Ok(r) => r,
            Err(e) => panic!("{method} {path} to {} failed: {e}", self.addr),
        }
    }

    #[track_caller]
    pub fn get(&self, path: &str) -> Response {
        self.request("GET", path, None)
    }

    #[track_caller]
    pub fn post(&self, path: &str, body: &Value) -> Response {
        self.request("POST", path, Some(body.to_string().as_bytes()))
    }

    /// POSTs JSON with extra headers (e.g. `X-Helios-Namespace`).
    #[track_caller]
    pub fn post_with(&self, path: &str, body: &Value, headers: &[(&str, &str)]) -> Response {
        let bytes = body.to_string();
        match self.try_request_with("POST", path, Some(bytes.as_bytes()), headers) {
            Ok(r) => r,
            Err(e) => panic!("POST {path} to {} failed: {e}", self.addr),
        }
    }

    #[track_caller]
    pub fn post_raw(&self, path: &str, body: &[u8]) -> Response {
        self.request("POST", path, Some(body))
    }

    #[track_caller]
    pub fn lookup(&self, body: &Value) -> Response {
        self.post(&format!("{API}/lookup"), body)
    }

    #[track_caller]
    pub fn store(&self, body: &Value) -> Response {
        self.post(&format!("{API}/store"), body)
    }

    #[track_caller]
    pub fn invalidate(&self, body: &Value) -> Response {
        self.post(&format!("{API}/invalidate"), body)
    }

    /// `GET /metrics`, asserting 200.
    #[track_caller]
    pub fn metrics(&self) -> Value {
        self.get(&format!("{API}/metrics")).ok().clone()
    }

    /// `GET /stats/layer/{layer}`.
    #[track_caller]
    pub fn layer_stats(&self, layer: &str) -> Response {
        self.get(&format!("{API}/stats/layer/{layer}"))
    }

    /// Whether the server answers `/health` at all.
    pub fn is_serving(&self) -> bool {
        self.try_request("GET", &format!("{API}/health"), None)
            .is_ok_and(|r| r.status == 200)
    }
}

fn bad(msg: impl Into<String>) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, msg.into())
}

fn parse_response(raw: &[u8]) -> std::io::Result<Response> {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| {
            bad(format!(
                "no header end in {:?}",
                String::from_utf8_lossy(raw)
            ))
        })?;
    let head = std::str::from_utf8(&raw[..split]).map_err(|e| bad(e.to_string()))?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad(format!("bad status line {status_line:?}")))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    if chunked {
        body = dechunk(&body)?;
    } else if let Some((_, len)) = headers.iter().find(|(k, _)| k == "content-length") {
        let len: usize = len.parse().map_err(|_| bad("bad content-length"))?;
        if body.len() < len {
            return Err(bad(format!("body cut short: {} of {len}", body.len())));
        }
        body.truncate(len);
    }
    let value = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()))
    };
    Ok(Response {
        status,
        headers,
        body: value,
        raw: body,
    })
}

fn dechunk(mut data: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let eol = data
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or_else(|| bad("bad chunk"))?;
        let size_text = std::str::from_utf8(&data[..eol]).map_err(|_| bad("bad chunk"))?;
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| bad("bad chunk size"))?;
        data = &data[eol + 2..];
        if size == 0 {
            return Ok(out);
        }
        if data.len() < size + 2 {
            return Err(bad("chunk cut short"));
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

/// How to start a server.
#[derive(Debug, Clone, Default)]
pub struct Builder {
    args: Vec<String>,
    env: Vec<(String, String)>,
    config: Option<String>,
}

impl Builder {
    pub fn arg(mut self, a: impl Into<String>) -> Builder {
        self.args.push(a.into());
        self
    }

    pub fn args<I: IntoIterator<Item = S>, S: Into<String>>(mut self, args: I) -> Builder {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    pub fn env(mut self, k: impl Into<String>, v: impl Into<String>) -> Builder {
        self.env.push((k.into(), v.into()));
        self
    }

    /// Writes `toml` to a file beside the data directory and passes `--config`.
    pub fn config_file(mut self, toml: impl Into<String>) -> Builder {
        self.config = Some(toml.into());
        self
    }

    /// Starts the server and waits until it listens.
    #[track_caller]
    pub fn start(self) -> Server {
        let root = tempfile::Builder::new()
            .prefix("helios-test-")
            .tempdir()
            .expect("creating a temporary directory");
        let mut server = Server {
            root,
            builder: self,
            proc: None,
        };
        server.launch();
        server
    }
}

/// A running (or stopped) server process and its data directory.
pub struct Server {
    root: TempDir,
    builder: Builder,
    proc: Option<Proc>,
}

struct Proc {
    child: Child,
    client: Client,
    log: Arc<Mutex<String>>,
}

/// A command for the binary with a clean environment: no inherited
/// `HELIOS_*` settings and info-level logs (the listen line is info).
pub fn command() -> Command {
    let mut cmd = Command::new(BIN);
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("HELIOS_") {
            cmd.env_remove(&k);
        }
    }
    cmd.env("RUST_LOG", "info");
    cmd.env("NO_COLOR", "1");
    cmd.stdin(Stdio::null());
    cmd
}

impl Server {
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// A server with default settings.
    #[track_caller]
    pub fn start() -> Server {
        Builder::default().start()
    }

    /// The temporary directory holding the data directory and config file.
    pub fn root(&self) -> &Path {
        self.root.path()
    }

    pub fn data_dir(&self) -> PathBuf {
        self.root.path().join("data")
    }

    fn command(&self) -> Command {
        let mut cmd = command();
        cmd.arg("--bind")
            .arg("127.0.0.1:0")
            .arg("--data-dir")
            .arg(self.data_dir());
        if let Some(toml) = &self.builder.config {
            let path = self.root.path().join("helios.toml");
            std::fs::write(&path, toml).expect("writing the config file");
            cmd.arg("--config").arg(path);
        }
        cmd.args(&self.builder.args);
        for (k, v) in &self.builder.env {
            cmd.env(k, v);
        }
        cmd
    }

    #[track_caller]
    fn launch(&mut self) {
        assert!(self.proc.is_none(), "the server is already running");
        let mut child = self
            .command()
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawning helios-cache");
        let stderr = child.stderr.take().expect("stderr is piped");
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel::<SocketAddr>();
        {
            let log = log.clone();
            // Reads stderr for the whole life of the process, so the pipe
            // never fills, and reports the listen address once.
            thread::spawn(move || {
                let mut tx = Some(tx);
                for line in BufReader::new(stderr).lines() {
                    let Ok(line) = line else { break };
                    if let Some(addr) = listen_addr(&line) {
                        if let Some(tx) = tx.take() {
                            let _ = tx.send(addr);
                        }
                    }
                    let mut l = log.lock().unwrap();
                    l.push_str(&line);
                    l.push('\n');
                }
            });
        }
        match rx.recv_timeout(START_TIMEOUT) {
            Ok(addr) => {
                self.proc = Some(Proc {
                    child,
                    client: Client { addr },
                    log,
                });
            }
            Err(e) => {
                let _ = child.kill();
                let status = child.wait();
                thread::sleep(Duration::from_millis(100));
                panic!(
                    "server did not report its address ({e:?}); exit: {status:?}; log:\n{}",
                    log.lock().unwrap()
                );
            }
        }
    }

    fn proc(&self) -> &Proc {
        self.proc.as_ref().expect("the server is not running")
    }

    /// A client of the running server.
    pub fn client(&self) -> Client {
        self.proc().client
    }

    pub fn addr(&self) -> SocketAddr {
        self.proc().client.addr
    }

    pub fn pid(&self) -> u32 {
        self.proc().child.id()
    }

    /// What the server has logged so far.
    pub fn log(&self) -> String {
        self.proc
            .as_ref()
            .map(|p| p.log.lock().unwrap().clone())
            .unwrap_or_default()
    }

    /// Sends SIGTERM and waits for the process to exit.
    #[track_caller]
    pub fn stop(&mut self) -> ExitStatus {
        let mut p = self.proc.take().expect("the server is not running");
        let pid = p.child.id().to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("running kill");
        assert!(sent.success(), "kill -TERM {pid} failed");
        let deadline = Instant::now() + STOP_TIMEOUT;
        loop {
            if let Some(status) = p.child.try_wait().expect("waiting for the server") {
                return status;
            }
            if Instant::now() > deadline {
                let _ = p.child.kill();
                let _ = p.child.wait();
                panic!(
                    "server did not exit within {STOP_TIMEOUT:?} of SIGTERM; log:\n{}",
                    p.log.lock().unwrap()
                );
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the process with SIGKILL (a crash) and waits for it.
    pub fn kill9(&mut self) {
        let mut p = self.proc.take().expect("the server is not running");
        p.child.kill().expect("SIGKILL");
        p.child.wait().expect("waiting for the killed server");
    }

    /// Starts the server again on the same data directory with the same
    /// settings (the port changes).
    #[track_caller]
    pub fn restart(&mut self) {
        self.launch();
    }

    /// Runs another process of the binary on the same data directory with the
    /// same settings, expecting it to exit by itself; returns its exit status
    /// and stderr.
    #[track_caller]
    pub fn run_second(&self) -> (ExitStatus, String) {
        let cmd = self.command();
        run_to_exit(cmd, Duration::from_secs(60))
    }

    // Delegations to the client, for brevity in tests.

    #[track_caller]
    pub fn get(&self, path: &str) -> Response {
        self.client().get(path)
    }

    #[track_caller]
    pub fn post(&self, path: &str, body: &Value) -> Response {
        self.client().post(path, body)
    }

    #[track_caller]
    pub fn post_raw(&self, path: &str, body: &[u8]) -> Response {
        self.client().post_raw(path, body)
    }

    #[track_caller]
    pub fn lookup(&self, body: &Value) -> Response {
        self.client().lookup(body)
    }

    #[track_caller]
    pub fn store(&self, body: &Value) -> Response {
        self.client().store(body)
    }

    #[track_caller]
    pub fn invalidate(&self, body: &Value) -> Response {
        self.client().invalidate(body)
    }

    #[track_caller]
    pub fn metrics(&self) -> Value {
        self.client().metrics()
    }

    #[track_caller]
    pub fn layer_stats(&self, layer: &str) -> Response {
        self.client().layer_stats(layer)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut p) = self.proc.take() {
            let _ = p.child.kill();
            let _ = p.child.wait();
        }
    }
}

/// Runs `cmd` until it exits (killing it after `timeout`, which fails the
/// test); returns its status and stderr.
#[track_caller]
pub fn run_to_exit(mut cmd: Command, timeout: Duration) -> (ExitStatus, String) {
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning helios-cache");
    let mut stderr = child.stderr.take().expect("stderr is piped");
    let reader = thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(s) = child.try_wait().expect("waiting for the process") {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            let log = reader.join().unwrap_or_default();
            panic!("process did not exit within {timeout:?}; stderr:\n{log}");
        }
        thread::sleep(Duration::from_millis(20));
    };
    (status, reader.join().unwrap_or_default())
}

/// The address in a `listening on http://ADDR` log line.
fn listen_addr(line: &str) -> Option<SocketAddr> {
    let rest = &line[line.find("listening on http://")? + "listening on http://".len()..];
    let token: String = rest
        .chars()
        .take_while(|c| !c.is_whitespace() && *c != '"' && *c != '\u{1b}')
        .collect();
    token.trim_end_matches('/').parse().ok()
}

/// Polls `f` until it returns `Some`, or panics with `what` after `timeout`.
#[track_caller]
pub fn eventually<T>(timeout: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        if Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for: {what}");
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// The L2 counters in a `/metrics` document.
pub fn l2(metrics: &Value) -> &Value {
    &metrics["layers"]["L2_REDIS_EXACT"]
}

/// Reads a JSON number as u64, panicking with context.
#[track_caller]
pub fn u(v: &Value) -> u64 {
    v.as_u64()
        .unwrap_or_else(|| panic!("expected an unsigned integer, got {v}"))
}

/// Reads a JSON number as f64, panicking with context.
#[track_caller]
pub fn f(v: &Value) -> f64 {
    v.as_f64()
        .unwrap_or_else(|| panic!("expected a number, got {v}"))
}

/// A store request for L2 only (the other layers are not involved), so
/// tests of L2 behaviour do not depend on L1/L3.
pub fn l2_store(input: &str, response: Value) -> Value {
    json!({
        "input_text": input,
        "response_data": response,
        "store_in_l1": false,
        "store_in_l2": true,
        "store_in_l3": false,
    })
}

/// A lookup request that only consults L2.
pub fn l2_lookup(input: &str) -> Value {
    json!({"input_text": input, "use_l1": false, "use_l2": true, "use_l3": false})
}

/// Merges the fields of `extra` (an object) into `base` (an object).
pub fn with(mut base: Value, extra: Value) -> Value {
    let (Value::Object(b), Value::Object(e)) = (&mut base, extra) else {
        panic!("with() takes two objects");
    };
    b.extend(e);
    base
}
