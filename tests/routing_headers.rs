//! The routing headers a load balancer shards on, against the real binary:
//! `X-Helios-Namespace` is the namespace of lookup, store and invalidate when
//! the body names none and must equal the body's when both do;
//! `X-Helios-Scope` must name the request's scope; a refused request changes
//! nothing; the OpenAPI document describes both headers. Also the backup
//! endpoint's `name` (a directory under `--backup-root`), which
//! `helios-cache cluster backup` sends to every node.

mod common;

use common::{u, Server, API};
use serde_json::{json, Value};

const NS: &str = "X-Helios-Namespace";
const SCOPE: &str = "X-Helios-Scope";

fn store_body(text: &str) -> Value {
    json!({"input_text": text, "response_data": {"a": text}, "task_type": "qa",
        "store_in_l1": false, "store_in_l3": false})
}

fn lookup_body(text: &str) -> Value {
    json!({"input_text": text, "task_type": "qa", "use_l1": false, "use_l3": false})
}

fn with_ns(mut body: Value, ns: &str) -> Value {
    body["namespace"] = json!(ns);
    body
}

#[test]
fn the_namespace_header_names_the_namespace_of_lookup_store_and_invalidate() {
    let s = Server::start();
    let c = s.client();
    let store = format!("{API}/store");
    let lookup = format!("{API}/lookup");

    // Header only: stored in team-a, not in "default".
    let r = c.post_with(&store, &store_body("q1"), &[(NS, "team-a")]);
    assert_eq!(r.ok()["success"], json!(true));
    let hit = |body: &Value, headers: &[(&str, &str)]| {
        c.post_with(&lookup, body, headers).ok()["hit"] == json!(true)
    };
    assert!(hit(&lookup_body("q1"), &[(NS, "team-a")]));
    assert!(hit(&with_ns(lookup_body("q1"), "team-a"), &[]));
    assert!(hit(
        &with_ns(lookup_body("q1"), "team-a"),
        &[(NS, "team-a")]
    ));
    assert!(
        !hit(&lookup_body("q1"), &[]),
        "the entry leaked into default"
    );
    assert!(!hit(&lookup_body("q1"), &[(NS, "team-b")]));

    // Header and body disagree: 400, and nothing is stored or counted.
    let before = s.metrics();
    let r = c.post_with(
        &store,
        &with_ns(store_body("q2"), "team-b"),
        &[(NS, "team-a")],
    );
    assert_eq!(r.error(400), "namespace_mismatch");
    let r = c.post_with(
        &lookup,
        &with_ns(lookup_body("q1"), "team-b"),
        &[(NS, "team-a")],
    );
    assert_eq!(r.error(400), "namespace_mismatch");
    let r = c.post_with(
        &format!("{API}/invalidate"),
        &json!({"namespace": "team-b"}),
        &[(NS, "team-a")],
    );
    assert_eq!(r.error(400), "namespace_mismatch");
    let after = s.metrics();
    for field in ["total_stores", "total_lookups", "l2_entries"] {
        assert_eq!(u(&before[field]), u(&after[field]), "{field}");
    }
    assert!(!hit(&lookup_body("q2"), &[(NS, "team-a")]));
    assert!(!hit(&lookup_body("q2"), &[(NS, "team-b")]));

    // Bad header values.
    for (value, code) in [("a b", "invalid_name"), ("", "invalid_name")] {
        let r = c.post_with(&lookup, &lookup_body("q1"), &[(NS, value)]);
        assert_eq!(r.error(400), code, "{value:?}");
    }
    let r = c.post_with(&lookup, &lookup_body("q1"), &[(NS, "a"), (NS, "a")]);
    assert_eq!(r.error(400), "duplicate_header");

    // Invalidate with the header only: that namespace, nothing else.
    c.post_with(&store, &store_body("q3"), &[(NS, "team-b")])
        .ok();
    let r = c.post_with(&format!("{API}/invalidate"), &json!({}), &[(NS, "team-a")]);
    assert_eq!(u(&r.ok()["total_invalidated"]), 1, "{}", r.body);
    assert!(!hit(&lookup_body("q1"), &[(NS, "team-a")]));
    assert!(hit(&lookup_body("q3"), &[(NS, "team-b")]));
}

#[test]
fn the_scope_header_must_name_the_requests_scope() {
    let s = Server::start();
    let c = s.client();
    let store = format!("{API}/store");
    let lookup = format!("{API}/lookup");
    let r = c.post_with(
        &store,
        &with_ns(store_body("q"), "team-a"),
        &[(NS, "team-a"), (SCOPE, "team-a|qa")],
    );
    assert_eq!(r.ok()["success"], json!(true));
    let r = c.post_with(
        &lookup,
        &lookup_body("q"),
        &[(NS, "team-a"), (SCOPE, "team-a|qa")],
    );
    assert_eq!(r.ok()["hit"], json!(true));
    // Defaults apply: a request naming nothing is default|general.
    let r = c.post_with(
        &lookup,
        &json!({"input_text": "q"}),
        &[(SCOPE, "default|general")],
    );
    assert_eq!(r.ok()["hit"], json!(false));
    for (headers, code) in [
        (vec![(SCOPE, "team-a|other")], "scope_mismatch"),
        (vec![(NS, "team-a"), (SCOPE, "team-b|qa")], "scope_mismatch"),
        (vec![(SCOPE, "team-a")], "invalid_scope_key"),
        (vec![(SCOPE, "team a|qa")], "invalid_name"),
    ] {
        let r = c.post_with(&lookup, &with_ns(lookup_body("q"), "team-a"), &headers);
        assert_eq!(r.error(400), code, "{headers:?}");
    }
    // An invalidation must name the whole scope to carry its key.
    let inv = format!("{API}/invalidate");
    let r = c.post_with(
        &inv,
        &json!({"namespace": "team-a"}),
        &[(SCOPE, "team-a|qa")],
    );
    assert_eq!(r.error(400), "scope_mismatch");
    let r = c.post_with(
        &inv,
        &json!({"task_type": "qa"}),
        &[(NS, "team-a"), (SCOPE, "team-a|qa")],
    );
    assert_eq!(u(&r.ok()["total_invalidated"]), 1, "{}", r.body);
}

#[test]
fn openapi_documents_the_routing_headers() {
    let s = Server::start();
    let doc = s.get("/openapi.json").ok().clone();
    for op in ["lookup", "store", "invalidate"] {
        let params = doc["paths"][format!("{API}/{op}")]["post"]["parameters"]
            .as_array()
            .unwrap_or_else(|| panic!("{op} has no parameters"))
            .clone();
        for name in [NS, SCOPE] {
            let p = params
                .iter()
                .find(|p| p["name"] == json!(name))
                .unwrap_or_else(|| panic!("{op} does not document {name}"));
            assert_eq!(p["in"], json!("header"), "{op} {name}");
            assert_eq!(p["required"], json!(false), "{op} {name}");
            assert!(
                p["description"].as_str().is_some_and(|d| d.contains("400")),
                "{op} {name}: {p}"
            );
        }
    }
}

#[test]
fn a_backup_by_name_goes_under_the_backup_root() {
    let s = Server::start();
    s.post(&format!("{API}/store"), &store_body("q")).ok();
    let r = s.post(
        &format!("{API}/admin/backup"),
        &json!({"name": "nightly-1"}),
    );
    let body = r.ok();
    let want = s.root().canonicalize().unwrap().join("nightly-1");
    assert_eq!(body["to"], json!(want.to_str().unwrap()), "{body}");
    assert!(u(&body["records"]) >= 1, "{body}");
    assert!(want.join("sled").is_dir());
    // The same name again: the directory is no longer empty.
    let r = s.post(
        &format!("{API}/admin/backup"),
        &json!({"name": "nightly-1"}),
    );
    assert_eq!(r.error(400), "invalid_backup_target");
    for bad in [
        json!({"name": ".."}),
        json!({"name": "a/b"}),
        json!({"name": "x", "to": "/tmp/x"}),
    ] {
        let r = s.post(&format!("{API}/admin/backup"), &bad);
        assert_eq!(r.error(400), "invalid_backup_target", "{bad}");
    }
    let r = s.post(&format!("{API}/admin/backup"), &json!({}));
    assert_eq!(r.error(400), "invalid_request");
}
