//! Three nodes behind HAProxy on loopback (issue 13, "How it is checked"):
//! stores and lookups across many namespaces through the balancer all hit;
//! each namespace lives on exactly one node; a killed node costs only its
//! own scopes (they miss, never a 5xx) and nobody else's; its return (even at
//! another port, under the same node name) serves its entries again; and
//! `helios-cache cluster ... metrics` / `... invalidate` add up over nodes.
//!
//! The balancer config comes from deploy/haproxy/render.sh, the file the
//! reference deployment is rendered from. Skipped, loudly, when `haproxy` is
//! not installed (`apt-get install -y haproxy`; scripts/test installs it); set HELIOS_REQUIRE_HAPROXY=1
//! to make that a failure instead (CI, where scripts/test installs it).
//!
//! The second test needs no balancer: the `cluster` subcommand's failure
//! modes (bad URL, a node down, a wrong API key) and its backup.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{eventually, u, Client, Server, API};
use serde_json::{json, Value};

/// Namespaces spread over the nodes, and entries stored in each.
const NAMESPACES: usize = 45;
const ENTRIES: usize = 3;
const IO_TIMEOUT: Duration = Duration::from_secs(30);

// ------------------------------------------------------------ HTTP helper

/// A response: status, lower-case headers, body as JSON (Null when empty).
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Value,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The node that answered through the balancer.
    #[track_caller]
    fn node(&self) -> String {
        self.header("x-helios-node")
            .unwrap_or_else(|| panic!("no X-Helios-Node header: {} {}", self.status, self.body))
            .to_string()
    }
}

/// POSTs `body` with `X-Helios-Namespace: ns` (when given), as the Python
/// client does. (`common::Client` cannot send extra headers.)
#[track_caller]
fn post(addr: SocketAddr, path: &str, ns: Option<&str>, body: &Value) -> Reply {
    let body = body.to_string();
    let mut head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(ns) = ns {
        head.push_str(&format!("X-Helios-Namespace: {ns}\r\n"));
    }
    head.push_str("\r\n");
    let mut s = TcpStream::connect_timeout(&addr, IO_TIMEOUT)
        .unwrap_or_else(|e| panic!("connecting to {addr}: {e}"));
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body.as_bytes()).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)
        .unwrap_or_else(|e| panic!("reading from {addr}: {e}"));
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end: {:?}", String::from_utf8_lossy(&raw)));
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line in {head:?}"));
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut data = raw[split + 4..].to_vec();
    if headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"))
    {
        data = dechunk(&data);
    }
    let body = if data.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&data)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&data).into_owned()))
    };
    Reply {
        status,
        headers,
        body,
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = data.windows(2).position(|w| w == b"\r\n") {
        let size = std::str::from_utf8(&data[..eol])
            .ok()
            .and_then(|s| usize::from_str_radix(s.split(';').next()?.trim(), 16).ok())
            .unwrap_or(0);
        data = &data[eol + 2..];
        if size == 0 || data.len() < size {
            break;
        }
        out.extend_from_slice(&data[..size]);
        data = &data[(size + 2).min(data.len())..];
    }
    out
}

fn text(ns: &str, i: usize) -> String {
    format!("{ns}: what is the status of order {i}?")
}

fn store_body(ns: &str, i: usize) -> Value {
    json!({
        "input_text": text(ns, i), "namespace": ns, "task_type": "qa",
        "response_data": {"answer": format!("answer {ns} {i}")}, "tokens_used": 100,
        "store_in_l1": false, "store_in_l2": true, "store_in_l3": false,
    })
}

fn lookup_body(ns: &str, i: usize) -> Value {
    json!({
        "input_text": text(ns, i), "namespace": ns, "task_type": "qa",
        "use_l1": false, "use_l2": true, "use_l3": false,
    })
}

fn lookup(addr: SocketAddr, ns: &str, i: usize) -> Reply {
    post(
        addr,
        &format!("{API}/lookup"),
        Some(ns),
        &lookup_body(ns, i),
    )
}

// ---------------------------------------------------------------- balancer

/// `haproxy` on PATH or in /usr/sbin (Debian's place), or None.
fn haproxy_path() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin")])
        .map(|p| p.join("haproxy"))
        .find(|p| p.is_file())
}

fn haproxy() -> Command {
    Command::new(haproxy_path().expect("haproxy is installed"))
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// HAProxy configured by deploy/haproxy/render.sh; `reload` re-renders it
/// with another node list and replaces the process (`-sf`).
struct Balancer {
    dir: tempfile::TempDir,
    addr: SocketAddr,
    stats: SocketAddr,
    proc: Option<Child>,
    generation: u32,
}

impl Balancer {
    fn start(nodes: &[(String, SocketAddr)]) -> Balancer {
        let mut b = Balancer {
            dir: tempfile::Builder::new()
                .prefix("helios-haproxy-")
                .tempdir()
                .unwrap(),
            addr: SocketAddr::from(([127, 0, 0, 1], free_port())),
            stats: SocketAddr::from(([127, 0, 0, 1], free_port())),
            proc: None,
            generation: 0,
        };
        b.reload(nodes);
        b
    }

    #[track_caller]
    fn reload(&mut self, nodes: &[(String, SocketAddr)]) {
        self.generation += 1;
        let render = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/haproxy/render.sh");
        let mut cmd = Command::new("bash");
        cmd.arg(render)
            .args(["--bind", &self.addr.to_string()])
            .args(["--stats", &self.stats.to_string()])
            .args(["--log", "off"]);
        for (name, addr) in nodes {
            cmd.arg(format!("{name}=http://{addr}"));
        }
        let out = cmd.output().expect("running render.sh");
        assert!(
            out.status.success(),
            "render.sh: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let cfg = self
            .dir
            .path()
            .join(format!("haproxy-{}.cfg", self.generation));
        std::fs::write(&cfg, &out.stdout).unwrap();
        let check = haproxy()
            .args(["-c", "-q", "-f"])
            .arg(&cfg)
            .output()
            .unwrap();
        assert!(
            check.status.success(),
            "haproxy -c: {}",
            String::from_utf8_lossy(&check.stderr)
        );
        let mut cmd = haproxy();
        cmd.arg("-f").arg(&cfg);
        if let Some(old) = &self.proc {
            cmd.args(["-sf", &old.id().to_string()]);
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawning haproxy");
        if let Some(mut old) = self.proc.replace(child) {
            // -sf: the old process finishes its connections and exits.
            let _ = eventually(Duration::from_secs(20), "the old haproxy exits", || {
                old.try_wait().ok().flatten()
            });
        }
        let names: Vec<&str> = nodes.iter().map(|(n, _)| n.as_str()).collect();
        eventually(Duration::from_secs(20), "every node UP in haproxy", || {
            let s = self.states();
            names
                .iter()
                .all(|n| s.get(*n).map(String::as_str) == Some("UP"))
                .then_some(())
        });
    }

    /// Server name -> state ("UP", "DOWN", ...) from HAProxy's exporter.
    fn states(&self) -> BTreeMap<String, String> {
        let Ok(r) = (Client { addr: self.stats }).try_request("GET", "/metrics", None) else {
            return BTreeMap::new();
        };
        let text = String::from_utf8_lossy(&r.raw).into_owned();
        text.lines()
            .filter(|l| l.starts_with("haproxy_server_status{") && l.ends_with(" 1"))
            .filter_map(|l| {
                let labels = &l[l.find('{')? + 1..l.find('}')?];
                let get = |k: &str| {
                    labels.split(',').find_map(|kv| {
                        let (a, b) = kv.split_once('=')?;
                        (a == k).then(|| b.trim_matches('"').to_string())
                    })
                };
                Some((get("server")?, get("state")?))
            })
            .collect()
    }
}

impl Drop for Balancer {
    fn drop(&mut self) {
        if let Some(mut p) = self.proc.take() {
            let _ = p.kill();
            let _ = p.wait();
        }
    }
}

// -------------------------------------------------------------------- test

fn names() -> Vec<String> {
    (1..=3).map(|k| format!("node{k}")).collect()
}

fn node_list(nodes: &[Server]) -> Vec<(String, SocketAddr)> {
    names()
        .into_iter()
        .zip(nodes.iter().map(|n| n.addr()))
        .collect()
}

fn urls(nodes: &[Server]) -> Vec<String> {
    nodes
        .iter()
        .map(|n| format!("http://{}", n.addr()))
        .collect()
}

/// Runs `helios-cache cluster --nodes URLS ARGS...`: (exit ok, stdout JSON
/// or Null, stderr).
fn cluster_run(urls: &[String], env: &[(&str, &str)], args: &[&str]) -> (bool, Value, String) {
    let mut cmd = common::command();
    cmd.args(["cluster", "--nodes", &urls.join(",")]).args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("running helios-cache cluster");
    let stdout = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (
        out.status.success(),
        stdout,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn cluster_cmd(nodes: &[Server], args: &[&str]) -> Value {
    let out = common::command()
        .args(["cluster", "--nodes", &urls(nodes).join(",")])
        .args(args)
        .output()
        .expect("running helios-cache cluster");
    assert!(
        out.status.success(),
        "cluster {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "cluster {args:?} did not print JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

#[test]
fn three_nodes_behind_haproxy_shard_by_namespace() {
    if haproxy_path().is_none() {
        if std::env::var_os("HELIOS_REQUIRE_HAPROXY").is_some() {
            panic!("haproxy is not installed and HELIOS_REQUIRE_HAPROXY is set");
        }
        eprintln!(
            "\n*** SKIPPED three_nodes_behind_haproxy_shard_by_namespace: `haproxy` is not on \
             PATH (apt-get install -y haproxy) ***\n"
        );
        return;
    }
    // sync durability: everything acknowledged survives the SIGKILL below.
    let start = || {
        Server::builder()
            .args(["--durability", "sync"])
            .env("RUST_LOG", "warn,helios_cache=info")
            .start()
    };
    let mut nodes: Vec<Server> = (0..3).map(|_| start()).collect();
    let mut lb = Balancer::start(&node_list(&nodes));
    let names = names();
    let namespaces: Vec<String> = (0..NAMESPACES).map(|j| format!("tenant-{j:02}")).collect();

    // 1. Stores through the balancer; each namespace's stores land on one node.
    let mut owner: BTreeMap<String, String> = BTreeMap::new();
    for ns in &namespaces {
        for i in 0..ENTRIES {
            let r = post(
                lb.addr,
                &format!("{API}/store"),
                Some(ns),
                &store_body(ns, i),
            );
            assert_eq!(r.status, 200, "store {ns} {i}: {}", r.body);
            assert_eq!(r.body["success"], json!(true), "{}", r.body);
            let node = r.node();
            let prev = owner.entry(ns.clone()).or_insert_with(|| node.clone());
            assert_eq!(*prev, node, "{ns}: stores went to two nodes");
        }
    }
    let spread: BTreeSet<&String> = owner.values().collect();
    assert_eq!(
        spread.len(),
        3,
        "every node owns some namespaces: {owner:?}"
    );

    // 2. Every lookup through the balancer hits, on the owner.
    for ns in &namespaces {
        for i in 0..ENTRIES {
            let r = lookup(lb.addr, ns, i);
            assert_eq!(r.status, 200, "{}", r.body);
            assert_eq!(r.body["hit"], json!(true), "{ns} {i} missed: {}", r.body);
            assert_eq!(r.header("x-helios-cache"), Some("HIT-L2"));
            assert_eq!(r.node(), owner[ns]);
        }
    }

    // 3. Each namespace lives on exactly one node: asked directly, only the
    //    owner has it.
    for ns in &namespaces {
        for (name, node) in names.iter().zip(&nodes) {
            let r = lookup(node.addr(), ns, 0);
            assert_eq!(r.status, 200, "{}", r.body);
            assert_eq!(
                r.body["hit"] == json!(true),
                *name == owner[ns],
                "{ns} on {name} (owner {})",
                owner[ns]
            );
        }
    }

    // 4. Without the header the balancer routes by the body's namespace, so
    //    the same node answers; header and body disagreeing is a 400.
    let ns = &namespaces[7];
    let r = post(lb.addr, &format!("{API}/lookup"), None, &lookup_body(ns, 1));
    assert_eq!((r.status, r.node()), (200, owner[ns].clone()), "{}", r.body);
    assert_eq!(r.body["hit"], json!(true));
    let r = post(
        lb.addr,
        &format!("{API}/lookup"),
        Some("someone-else"),
        &lookup_body(ns, 1),
    );
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.body["error"]["code"], json!("namespace_mismatch"));

    // 5. Cluster-wide metrics are the sum of the nodes'.
    let per_node: Vec<Value> = nodes.iter().map(|n| n.metrics()).collect();
    let summed = cluster_cmd(&nodes, &["metrics"]);
    // (Reading a node's metrics is no lookup, so the sum is of the same
    // moment.)
    for field in ["total_lookups", "total_hits", "total_stores", "l2_entries"] {
        let want: u64 = per_node.iter().map(|m| u(&m[field])).sum();
        assert_eq!(u(&summed[field]), want, "cluster metrics {field}: {summed}");
    }
    assert_eq!(u(&summed["total_stores"]), (NAMESPACES * ENTRIES) as u64);
    assert_eq!(
        u(&summed["total_hits"]),
        u(&summed["total_lookups"]) - (NAMESPACES * 2) as u64
    );
    let rate = summed["overall_hit_rate"].as_f64().unwrap();
    let want = u(&summed["total_hits"]) as f64 / u(&summed["total_lookups"]) as f64;
    assert!((rate - want).abs() < 1e-9, "{summed}");
    assert_eq!(summed["nodes_answered"], json!(3));
    assert_eq!(
        u(&summed["l2_entries"]),
        (NAMESPACES * ENTRIES) as u64,
        "{summed}"
    );

    // 6. Invalidating one namespace through the balancer reaches its owner
    //    and touches nothing else.
    let gone = &namespaces[3];
    let r = post(
        lb.addr,
        &format!("{API}/invalidate"),
        Some(gone),
        &json!({"namespace": gone}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.node(), owner[gone]);
    assert_eq!(
        u(&r.body["total_invalidated"]),
        ENTRIES as u64,
        "{}",
        r.body
    );
    assert_eq!(lookup(lb.addr, gone, 0).body["hit"], json!(false));
    let live: Vec<&String> = namespaces.iter().filter(|n| *n != gone).collect();

    // 7. Kill a node: its namespaces miss (redispatched to the next node on
    //    the ring, no 5xx), everybody else's still hit. Checked at once (the
    //    health check has not noticed yet) and after it is marked DOWN.
    let victim = 1usize;
    let victim_name = names[victim].clone();
    let victim_url = format!("http://{}", nodes[victim].addr());
    let all_urls = urls(&nodes);
    nodes[victim].kill9();
    let check_outage = |when: &str| {
        for ns in &live {
            for i in 0..ENTRIES {
                let r = lookup(lb.addr, ns, i);
                assert_eq!(r.status, 200, "{when}: {ns} {i}: {} {}", r.status, r.body);
                let own = owner[*ns] == victim_name;
                assert_eq!(
                    r.body["hit"] == json!(true),
                    !own,
                    "{when}: {ns} {i} (owner {}) on {}",
                    owner[*ns],
                    r.node()
                );
                assert_ne!(r.node(), victim_name);
            }
        }
    };
    check_outage("just killed");
    eventually(
        Duration::from_secs(20),
        "the killed node marked DOWN",
        || (lb.states().get(&victim_name).map(String::as_str) == Some("DOWN")).then_some(()),
    );
    check_outage("marked down");
    // The cluster command names the dead node, prints the others' sums and
    // fails.
    let (ok, out, err) = cluster_run(&all_urls, &[], &["metrics"]);
    assert!(!ok, "a dead node must fail the command: {out}");
    assert!(
        err.contains(&victim_url),
        "stderr does not name {victim_url}: {err}"
    );
    assert_eq!(out["nodes_answered"], json!(2), "{out}");
    let others: u64 = nodes
        .iter()
        .enumerate()
        .filter(|(k, _)| *k != victim)
        .map(|(_, n)| u(&n.metrics()["l2_entries"]))
        .sum();
    assert_eq!(u(&out["l2_entries"]), others, "{out}");

    // 8. It comes back (at a new port, same name, so the same place on the
    //    ring): its entries are served again, by it.
    nodes[victim].restart();
    lb.reload(&node_list(&nodes));
    for ns in &live {
        for i in 0..ENTRIES {
            let r = lookup(lb.addr, ns, i);
            assert_eq!(r.status, 200, "{}", r.body);
            assert_eq!(
                r.body["hit"],
                json!(true),
                "after return: {ns} {i}: {}",
                r.body
            );
            assert_eq!(r.node(), owner[*ns]);
        }
    }

    // 9. Cluster-wide invalidate of everything: the count adds up over the
    //    nodes, and nothing hits afterwards.
    let entries: u64 = nodes.iter().map(|n| u(&n.metrics()["l2_entries"])).sum();
    assert_eq!(entries, ((NAMESPACES - 1) * ENTRIES) as u64);
    let health = cluster_cmd(&nodes, &["health"]);
    assert_eq!(health["status"], json!("healthy"), "{health}");
    assert_eq!(health["nodes_healthy"], json!(3), "{health}");
    // With a namespace it goes to every node (see src/cli/cluster.rs); only
    // the owner has entries of it.
    let one = live[0];
    let inv = cluster_cmd(&nodes, &["invalidate", "--namespace", one]);
    assert_eq!(u(&inv["total_invalidated"]), ENTRIES as u64, "{inv}");
    let per_node: Vec<u64> = inv["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| u(&n["report"]["total_invalidated"]))
        .collect();
    assert_eq!(per_node.iter().filter(|&&n| n > 0).count(), 1, "{inv}");
    let entries = entries - ENTRIES as u64;
    let inv = cluster_cmd(&nodes, &["invalidate", "--all"]);
    assert_eq!(u(&inv["total_invalidated"]), entries, "{inv}");
    assert_eq!(inv["nodes"].as_array().map(Vec::len), Some(3), "{inv}");
    for n in &nodes {
        assert_eq!(u(&n.metrics()["l2_entries"]), 0);
    }
    for ns in &live {
        assert_eq!(lookup(lb.addr, ns, 0).body["hit"], json!(false), "{ns}");
    }
    drop(lb);
}

/// The `cluster` subcommand without a balancer: the API key, a node that is
/// down, a bad URL, and backups by name under each node's own root.
#[test]
fn the_cluster_subcommand_names_failing_nodes_and_uses_the_api_key() {
    let key = "cluster-test-key-0123456789";
    let nodes: Vec<Server> = (0..2)
        .map(|_| Server::builder().args(["--api-key", key]).start())
        .collect();
    let auth = format!("Bearer {key}");
    for (k, n) in nodes.iter().enumerate() {
        for i in 0..=k {
            let ns = format!("ns-{k}");
            let r = n.client().post_with(
                &format!("{API}/store"),
                &store_body(&ns, i),
                &[("Authorization", &auth), ("X-Helios-Namespace", &ns)],
            );
            assert_eq!(r.status, 200, "{}", r.body);
        }
    }
    let urls = urls(&nodes);
    let env = [("HELIOS_API_KEY", key)];

    // Without the key every node answers 401, each named.
    let (ok, out, err) = cluster_run(&urls, &[], &["metrics"]);
    assert!(!ok, "{out}");
    for url in &urls {
        assert!(err.contains(&format!("node {url}: answered 401")), "{err}");
    }
    assert_eq!(out["nodes_answered"], json!(0), "{out}");

    // With it (environment or flag) the numbers add up.
    let (ok, out, err) = cluster_run(&urls, &env, &["metrics"]);
    assert!(ok, "{err}");
    assert_eq!(
        (u(&out["l2_entries"]), u(&out["total_stores"])),
        (3, 3),
        "{out}"
    );
    let flag = common::command()
        .args([
            "--api-key",
            key,
            "cluster",
            "--nodes",
            &urls.join(","),
            "health",
        ])
        .output()
        .unwrap();
    assert!(
        flag.status.success(),
        "{}",
        String::from_utf8_lossy(&flag.stderr)
    );
    let health: Value = serde_json::from_slice(&flag.stdout).unwrap();
    assert_eq!(health["status"], json!("healthy"), "{health}");

    // A node nobody runs: named, the others' results printed, non-zero.
    let dead = format!("http://127.0.0.1:{}", free_port());
    let mut with_dead = urls.clone();
    with_dead.push(dead.clone());
    let (ok, out, err) = cluster_run(&with_dead, &env, &["metrics"]);
    assert!(!ok, "{out}");
    assert!(err.contains(&format!("node {dead}: unreachable")), "{err}");
    assert_eq!(
        (u(&out["nodes_answered"]), u(&out["l2_entries"])),
        (2, 3),
        "{out}"
    );
    let (ok, out, _) = cluster_run(&with_dead, &env, &["health"]);
    assert!(!ok);
    assert_eq!(out["status"], json!("unavailable"), "{out}");

    // A malformed URL: refused before anything is sent, and named.
    for bad in ["127.0.0.1:8011", "http://127.0.0.1:8011/api"] {
        let (ok, out, err) = cluster_run(&[urls[0].clone(), bad.to_string()], &env, &["health"]);
        assert!(!ok && out.is_null(), "{out}");
        assert!(err.contains(bad), "{err}");
    }

    // Backups: every node writes NAME under its own --backup-root.
    let (ok, out, err) = cluster_run(&urls, &env, &["backup", "nightly"]);
    assert!(ok, "{err}");
    assert_eq!(out["nodes_written"], json!(2), "{out}");
    for (n, entry) in nodes.iter().zip(out["nodes"].as_array().unwrap()) {
        let want = n.root().canonicalize().unwrap().join("nightly");
        assert_eq!(
            entry["report"]["to"],
            json!(want.to_str().unwrap()),
            "{out}"
        );
        assert!(want.join("sled").is_dir());
    }
    // Invalidate everything: 3 entries over two nodes.
    let (ok, out, err) = cluster_run(&urls, &env, &["invalidate", "--all"]);
    assert!(ok, "{err}");
    assert_eq!(u(&out["total_invalidated"]), 3, "{out}");
    // No filter and no --all: every node refuses, nothing is removed.
    let (ok, out, err) = cluster_run(&urls, &env, &["invalidate"]);
    assert!(!ok && err.contains("missing_filter"), "{out} {err}");
}
