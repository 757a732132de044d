//! Concurrency soak (issue 5, item 6): many clients storing, looking up,
//! invalidating (by entry id, namespace, task type) and expiring the same
//! small key set. No 5xx, no hang, nothing served across scopes, and once the
//! traffic stops and the sweeper has run, the entry counts in /metrics equal
//! what sled holds (a restart recounts them from sled).
//!
//! CI runs it for a few seconds; `scripts/soak SECONDS` runs it long
//! (`HELIOS_SOAK_SECS`).

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::{eventually, u, Client, Server, API};
use serde_json::{json, Value};

/// A request slower than this counts as a hang.
const HANG: Duration = Duration::from_secs(10);

const TEXTS: &[&str] = &[
    "how do I reset my password",
    "what is the capital of france",
    "summarise the quarterly report",
    "translate good morning to german",
    "list three prime numbers",
    "explain photosynthesis briefly",
    "who wrote the iliad",
    "convert ten miles to kilometres",
    "recommend a sci-fi novel",
    "what time zone is tokyo in",
    "describe a rainbow to a child",
    "give me a haiku about rain",
];
const NAMESPACES: &[&str] = &["soak-a", "soak-b"];
const TASKS: &[&str] = &["qa", "chat"];

struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64;
        Rng((t ^ seed.wrapping_mul(0x9E37_79B9_7F4A_7C15)) | 1)
    }

    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n as u64) as usize
    }

    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len())]
    }
}

/// Sends one request, failing on a transport error, a 5xx, a non-200 or a
/// hang.
fn call(client: Client, path: &str, body: &Value) -> Value {
    let t = Instant::now();
    let r = client
        .try_request(
            "POST",
            &format!("{API}{path}"),
            Some(body.to_string().as_bytes()),
        )
        .unwrap_or_else(|e| panic!("{path} failed: {e}"));
    let took = t.elapsed();
    assert!(took < HANG, "{path} took {took:?}: {body}");
    assert!(r.status < 500, "{path} answered {}: {:?}", r.status, r.body);
    assert_eq!(
        r.status, 200,
        "{path} refused a valid request: {:?} for {body}",
        r.body
    );
    r.body
}

fn soak_secs() -> u64 {
    std::env::var("HELIOS_SOAK_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(12)
}

#[test]
fn concurrent_store_lookup_invalidate_expire_keeps_counts_equal_to_sled() {
    let mut s = Server::builder()
        .args(["--sweep-interval-ms", "200", "--flush-interval-ms", "100"])
        .start();
    let client = s.client();
    let stop = Arc::new(AtomicBool::new(false));
    let ids: Arc<Mutex<Vec<String>>> = Arc::default();
    let counts: Arc<[AtomicU64; 4]> = Arc::default();
    let mut handles = Vec::new();
    for t in 0..8u64 {
        let (stop, ids, counts) = (stop.clone(), ids.clone(), counts.clone());
        handles.push(thread::spawn(move || {
            let mut rng = Rng::new(t);
            let mut v = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let (ns, task, text) = (rng.pick(NAMESPACES), rng.pick(TASKS), rng.pick(TEXTS));
                let role = match t {
                    0..=2 => 0,
                    3..=5 => 1,
                    _ => 2 + rng.below(2) * (rng.below(4) / 3),
                };
                match role {
                    0 => {
                        v += 1;
                        let mut body = json!({
                            "input_text": text,
                            "namespace": ns,
                            "task_type": task,
                            "response_data": {"text": text, "ns": ns, "task": task, "v": v},
                            "store_in_l3": rng.below(2) == 0,
                        });
                        if rng.below(2) == 0 {
                            body["ttl_seconds"] = json!(1);
                        }
                        let b = call(client, "/store", &body);
                        let id = b["entry_id"].as_str().expect("entry_id").to_string();
                        let mut ids = ids.lock().unwrap();
                        if ids.len() > 64 {
                            ids.remove(0);
                        }
                        ids.push(id);
                    }
                    1 => {
                        let body = json!({
                            "input_text": text,
                            "namespace": ns,
                            "task_type": task,
                            "use_l3": rng.below(2) == 0,
                        });
                        let b = call(client, "/lookup", &body);
                        if b["hit"] == json!(true) {
                            let got = &b["cached_response"];
                            assert_eq!(got["ns"], json!(ns), "served across namespaces: {b}");
                            assert_eq!(got["task"], json!(task), "served across task types: {b}");
                            if b["layer"] == json!("L2_REDIS_EXACT") {
                                assert_eq!(got["text"], json!(text), "wrong L2 answer: {b}");
                            }
                        }
                    }
                    2 => {
                        let id = {
                            let ids = ids.lock().unwrap();
                            (!ids.is_empty()).then(|| ids[rng.below(ids.len())].clone())
                        };
                        if let Some(id) = id {
                            call(client, "/invalidate", &json!({"entry_id": id}));
                        }
                    }
                    _ => {
                        let body = if rng.below(2) == 0 {
                            json!({"namespace": ns})
                        } else {
                            json!({"task_type": task, "layer": "L2"})
                        };
                        call(client, "/invalidate", &body);
                        // Bulk invalidations are rarer than the rest.
                        thread::sleep(Duration::from_millis(50));
                    }
                }
                counts[role.min(3)].fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    thread::sleep(Duration::from_secs(soak_secs()));
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        h.join().expect("a client thread failed");
    }
    let c: Vec<u64> = counts.iter().map(|c| c.load(Ordering::Relaxed)).collect();
    eprintln!(
        "soak: {} s, stores {}, lookups {}, invalidations by id {}, bulk {}",
        soak_secs(),
        c[0],
        c[1],
        c[2],
        c[3]
    );
    assert!(c.iter().all(|&n| n > 0), "every kind of request ran: {c:?}");

    // Let every 1 s entry expire and the sweeper remove it: the counts then
    // stop changing.
    thread::sleep(Duration::from_millis(1500));
    let entries = |m: &Value| ["l1_entries", "l2_entries", "l3_entries"].map(|k| u(&m[k]));
    let mut last = entries(&s.metrics());
    let hot = eventually(Duration::from_secs(20), "entry counts to settle", || {
        thread::sleep(Duration::from_millis(500));
        let now = entries(&s.metrics());
        let same = now == last;
        last = now;
        same.then_some(now)
    });
    let l3 = s.layer_stats("L3").ok().clone();
    assert_eq!(
        u(&l3["details"]["indexed_vectors"]),
        u(&l3["entries"]) - u(&l3["details"]["foreign_embedder_entries"]),
        "the L3 index disagrees with sled: {l3}"
    );
    assert!(s.client().is_serving(), "the server still answers");
    let status = s.stop();
    assert!(
        status.success(),
        "clean shutdown after the soak: {status:?}"
    );
    s.restart();
    eventually(
        Duration::from_secs(60),
        "the L3 index to be complete",
        || {
            let st = s.layer_stats("L3").ok().clone();
            (st["details"]["index_rebuilding"] != json!(true)).then_some(())
        },
    );
    let recounted = entries(&s.metrics());
    assert_eq!(
        hot, recounted,
        "entry counts in /metrics (left) differ from what sled holds (right)"
    );
    let l3 = s.layer_stats("L3").ok().clone();
    assert_eq!(
        u(&l3["details"]["indexed_vectors"]),
        u(&l3["entries"]) - u(&l3["details"]["foreign_embedder_entries"]),
        "the L3 index disagrees with sled after restart: {l3}"
    );
}
