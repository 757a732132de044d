//! The drop-in provider gateway: `POST /v1/messages` (Anthropic Messages
//! API) and `POST /v1/chat/completions` (OpenAI Chat Completions), so an SDK
//! whose base URL points here gets every layer without code.
//!
//! It owns the provider side of the edge: reading a provider body, keying it
//! ([`key`]), asking the core's [`CacheManager`] with a validated
//! [`Lookup`], answering a hit (replayed as an event stream when the client
//! asked to stream, [`sse`]), and on a miss forwarding the request upstream
//! with L1's `cache_control` breakpoints placed as `/l1/prepare` would place
//! them, piping the answer back as it arrives ([`pipe`]) and storing the
//! complete answer with its `usage` block. The cache logic stays in the
//! core; this module only translates.
//!
//! Per request: `X-Helios-Namespace` (default `default`),
//! `X-Helios-Cache-Control: no-cache` (skip the lookup, still store) /
//! `no-store` (pass through untouched), `X-Helios-L1: off` (no breakpoints).
//! Responses carry `X-Helios-Cache: HIT-L2 | HIT-L3 | MISS | BYPASS`.
//!
//! Failures: an upstream status other than 2xx is returned as the upstream
//! sent it; an unreachable upstream is a 502 and a timeout a 504, in the
//! provider's error shape; in every case nothing is stored. The provider key
//! headers are forwarded and never logged or stored.

pub mod key;
pub mod pipe;
pub mod sse;

use std::io::Read;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use actix_web::http::StatusCode;
use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use serde_json::{json, Map, Value};

use super::ServerSettings;
use crate::cache::l1::prepare::{prepare, Breakpoint, PrepareRequest};
use crate::cache::layer::LayerId;
use crate::cache::pricing::nano;
use crate::cache::request::{self, Layers, Lookup, Store, Usage};
use crate::cache::scope::DEFAULT_NAMESPACE;
use crate::cache::CacheManager;
use key::{Keyed, Provider};
use pipe::{Head, Producer};

/// What the gateway is configured with.
#[derive(Debug, Clone)]
pub struct GatewaySettings {
    /// Base URL for `/v1/messages` (no trailing slash).
    pub upstream_anthropic: String,
    /// Base URL for `/v1/chat/completions` (no trailing slash).
    pub upstream_openai: String,
    /// Requests with an explicit `temperature` > 0 pass through.
    pub fresh_when_sampled: bool,
    /// Connect timeout and longest wait for each read of the upstream.
    pub upstream_timeout_ms: u64,
}

impl GatewaySettings {
    /// Checks the URLs and the timeout.
    pub fn check(&self) -> Result<(), String> {
        for (name, url) in [
            ("upstream_anthropic", &self.upstream_anthropic),
            ("upstream_openai", &self.upstream_openai),
        ] {
            let rest = url
                .strip_prefix("http://")
                .or_else(|| url.strip_prefix("https://"));
            if rest.is_none_or(|r| r.is_empty()) {
                return Err(format!(
                    "{name} must be an http:// or https:// base URL, got {url:?}"
                ));
            }
        }
        if self.upstream_timeout_ms == 0 {
            return Err("gateway_upstream_timeout_ms must be positive".into());
        }
        Ok(())
    }
}

/// The gateway's shared state: its settings and the upstream connection pool.
pub struct Gateway {
    settings: GatewaySettings,
    agent: ureq::Agent,
}

impl Gateway {
    pub fn new(settings: GatewaySettings) -> Gateway {
        let t = Some(Duration::from_millis(settings.upstream_timeout_ms));
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(t)
            .timeout_per_read(t)
            .timeout_send_request(t)
            .build()
            .into();
        Gateway { settings, agent }
    }
}

type Mgr = web::Data<CacheManager>;

/// Request headers forwarded upstream (everything else stays here).
fn forwarded_request_headers(p: Provider) -> &'static [&'static str] {
    match p {
        Provider::Anthropic => &[
            "x-api-key",
            "authorization",
            "anthropic-version",
            "anthropic-beta",
        ],
        Provider::OpenAi => &[
            "authorization",
            "api-key",
            "openai-organization",
            "openai-project",
            "openai-beta",
        ],
    }
}

/// Response headers not passed back (hop-by-hop, or set by this server).
const DROPPED_RESPONSE_HEADERS: &[&str] = &[
    "connection",
    "keep-alive",
    "transfer-encoding",
    "content-length",
    "upgrade",
    "proxy-authenticate",
    "proxy-connection",
    "te",
    "trailer",
    "date",
    "server",
];

/// An error in the provider's own shape, so the SDK raises its usual error.
fn provider_error(p: Provider, status: u16, kind: &str, message: &str) -> HttpResponse {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
    let body = match p {
        Provider::Anthropic => json!({
            "type": "error",
            "error": {"type": kind, "message": message},
        }),
        Provider::OpenAi => json!({
            "error": {"message": message, "type": kind, "param": null, "code": null},
        }),
    };
    HttpResponse::build(status).json(body)
}

fn header<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// Anthropic Messages API, cached.
///
/// Same request and response bodies as `POST https://api.anthropic.com/v1/messages`;
/// `x-api-key`, `anthropic-version` and `anthropic-beta` are passed to the
/// upstream (`--upstream-anthropic`). A hit answers at once (as an event
/// stream when `"stream": true`); a miss is forwarded with L1's
/// `cache_control` breakpoints and its answer stored.
#[utoipa::path(
    post,
    path = "/v1/messages",
    tag = "gateway",
    operation_id = "anthropic_messages",
    request_body(content = Object, description = "An Anthropic Messages API request"),
    params(
        ("X-Helios-Namespace" = Option<String>, Header, description = "Cache namespace (default `default`)"),
        ("X-Helios-Cache-Control" = Option<String>, Header, description = "`no-cache` (skip the lookup, still store), `no-store` (pass through untouched), or both"),
        ("X-Helios-L1" = Option<String>, Header, description = "`off`: forward without placing cache_control breakpoints"),
    ),
    responses(
        (status = 200, description = "The model's answer (JSON, or an event stream with `\"stream\": true`)", body = Object,
            headers(("X-Helios-Cache" = String, description = "HIT-L2, HIT-L3, MISS or BYPASS"))),
        (status = 502, description = "The upstream could not be reached (Anthropic error shape)", body = Object),
        (status = 504, description = "The upstream timed out (Anthropic error shape)", body = Object),
    )
)]
pub async fn messages(
    req: HttpRequest,
    body: web::Payload,
    mgr: Mgr,
    server: web::Data<ServerSettings>,
    gw: web::Data<Gateway>,
) -> HttpResponse {
    handle(Provider::Anthropic, req, body, mgr, server, gw).await
}

/// OpenAI Chat Completions, cached.
///
/// Same request and response bodies as `POST https://api.openai.com/v1/chat/completions`;
/// `Authorization` and the OpenAI organisation/project headers are passed to
/// the upstream (`--upstream-openai`, any OpenAI-compatible server).
#[utoipa::path(
    post,
    path = "/v1/chat/completions",
    tag = "gateway",
    operation_id = "openai_chat_completions",
    request_body(content = Object, description = "An OpenAI Chat Completions request"),
    params(
        ("X-Helios-Namespace" = Option<String>, Header, description = "Cache namespace (default `default`)"),
        ("X-Helios-Cache-Control" = Option<String>, Header, description = "`no-cache` (skip the lookup, still store), `no-store` (pass through untouched), or both"),
    ),
    responses(
        (status = 200, description = "The model's answer (JSON, or an event stream with `\"stream\": true`)", body = Object,
            headers(("X-Helios-Cache" = String, description = "HIT-L2, HIT-L3, MISS or BYPASS"))),
        (status = 502, description = "The upstream could not be reached (OpenAI error shape)", body = Object),
        (status = 504, description = "The upstream timed out (OpenAI error shape)", body = Object),
    )
)]
pub async fn chat_completions(
    req: HttpRequest,
    body: web::Payload,
    mgr: Mgr,
    server: web::Data<ServerSettings>,
    gw: web::Data<Gateway>,
) -> HttpResponse {
    handle(Provider::OpenAi, req, body, mgr, server, gw).await
}

/// Reads the whole body within the size and time limits.
async fn read_body(payload: web::Payload, s: &ServerSettings) -> Result<Bytes, (u16, String)> {
    let timeout = Duration::from_millis(s.request_timeout_ms);
    match actix_web::rt::time::timeout(timeout, payload.to_bytes_limited(s.body_limit)).await {
        Err(_) => Err((
            408,
            format!(
                "the request body did not arrive within {} ms",
                timeout.as_millis()
            ),
        )),
        Ok(Err(_)) => Err((
            413,
            format!(
                "request body is larger than the {}-byte limit",
                s.body_limit
            ),
        )),
        Ok(Ok(Err(e))) => Err((400, format!("cannot read body: {e}"))),
        Ok(Ok(Ok(b))) => Ok(b),
    }
}

/// What `X-Helios-Cache-Control` asks for.
#[derive(Debug, Default, PartialEq)]
struct CacheControl {
    no_cache: bool,
    no_store: bool,
}

fn cache_control(v: Option<&str>) -> CacheControl {
    let mut cc = CacheControl::default();
    for t in v.unwrap_or("").split(',') {
        match t.trim().to_ascii_lowercase().as_str() {
            "no-cache" => cc.no_cache = true,
            "no-store" => cc.no_store = true,
            _ => {}
        }
    }
    cc
}

async fn handle(
    p: Provider,
    req: HttpRequest,
    payload: web::Payload,
    mgr: Mgr,
    server: web::Data<ServerSettings>,
    gw: web::Data<Gateway>,
) -> HttpResponse {
    let g = &mgr.metrics().gateway;
    g.requests.fetch_add(1, Relaxed);
    let bytes = match read_body(payload, &server).await {
        Ok(b) => b,
        Err((status, msg)) => {
            let kind = if status == 413 {
                "request_too_large"
            } else {
                "invalid_request_error"
            };
            return provider_error(p, status, kind, &msg);
        }
    };
    let namespace = match request::name(
        "X-Helios-Namespace",
        header(&req, "x-helios-namespace"),
        DEFAULT_NAMESPACE,
    ) {
        Ok(n) => n,
        Err(e) => return provider_error(p, 400, "invalid_request_error", &e.to_string()),
    };
    let cc = cache_control(header(&req, "x-helios-cache-control"));
    let l1_off = header(&req, "x-helios-l1").is_some_and(|v| v.eq_ignore_ascii_case("off"));
    let headers: Vec<(String, String)> = forwarded_request_headers(p)
        .iter()
        .filter_map(|h| header(&req, h).map(|v| (h.to_string(), v.to_string())))
        .collect();
    let mut call = Call {
        provider: p,
        url: format!(
            "{}{}",
            match p {
                Provider::Anthropic => &gw.settings.upstream_anthropic,
                Provider::OpenAi => &gw.settings.upstream_openai,
            },
            match p {
                Provider::Anthropic => "/v1/messages",
                Provider::OpenAi => "/v1/chat/completions",
            }
        ),
        headers,
        body: bytes.clone(),
        plan: None,
    };

    let parsed = match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(m)) if !cc.no_store => Some(m),
        _ => None,
    };
    let prices = &mgr.settings().prices;
    let keyed = parsed
        .as_ref()
        .and_then(|b| key::key(p, b, &namespace, prices).ok())
        .filter(|k| !(gw.settings.fresh_when_sampled && k.temperature.is_some_and(|t| t > 0.0)));
    let (Some(mut body), Some(keyed)) = (parsed, keyed) else {
        g.passthrough.fetch_add(1, Relaxed);
        return forward(call, &gw, mgr.clone(), "BYPASS", &[]).await;
    };

    if !cc.no_cache {
        let lookup = Lookup {
            scope: keyed.scope.clone(),
            input: keyed.input.clone(),
            conversation: None,
            model: Some(keyed.model.clone()),
            layers: Layers {
                l1: p == Provider::Anthropic,
                l2: true,
                l3: keyed.l3,
            },
            threshold: None,
        };
        match mgr.lookup(&lookup) {
            Ok(r) if r.hit => {
                if let Some(resp) = hit(p, &keyed, &mgr, r) {
                    return resp;
                }
            }
            Ok(_) => {}
            Err(e) => {
                // Too long for the cache, say: the call still goes through.
                tracing::debug!("gateway lookup refused: {e}");
                g.passthrough.fetch_add(1, Relaxed);
                return forward(call, &gw, mgr.clone(), "BYPASS", &[]).await;
            }
        }
    }
    g.misses.fetch_add(1, Relaxed);
    let mut breakpoints = Vec::new();
    if p == Provider::Anthropic && !l1_off && !key::has_cache_control(&body) {
        breakpoints = place_breakpoints(&mut body, &mgr);
        if !breakpoints.is_empty() {
            g.breakpoints_placed
                .fetch_add(breakpoints.len() as u64, Relaxed);
            match serde_json::to_vec(&Value::Object(body)) {
                Ok(b) => call.body = Bytes::from(b),
                Err(_) => breakpoints.clear(),
            }
        }
    }
    call.plan = Some(keyed);
    forward(call, &gw, mgr.clone(), "MISS", &breakpoints).await
}

/// Answers a hit; `None` when the stored body cannot be replayed (then the
/// call goes upstream).
fn hit(
    p: Provider,
    keyed: &Keyed,
    mgr: &CacheManager,
    r: crate::cache::report::LookupReport,
) -> Option<HttpResponse> {
    let g = &mgr.metrics().gateway;
    let cached = r.cached_response.as_ref()?;
    let (outcome, counter) = match r.layer {
        Some(LayerId::L3) => ("HIT-L3", &g.hits_l3),
        _ => ("HIT-L2", &g.hits_l2),
    };
    let mut out = HttpResponse::Ok();
    out.insert_header(("X-Helios-Cache", outcome));
    if let Some(id) = &r.entry_id {
        out.insert_header(("X-Helios-Entry-Id", &**id));
    }
    if outcome == "HIT-L3" {
        out.insert_header(("X-Helios-Similarity", format!("{:.4}", r.confidence)));
    }
    let resp = if keyed.stream {
        let v: Value = serde_json::from_str(cached.get()).ok()?;
        out.insert_header(("Cache-Control", "no-cache"))
            .content_type("text/event-stream")
            .body(sse::replay(p, &v, keyed.include_usage))
    } else {
        out.content_type("application/json")
            .body(cached.get().to_string())
    };
    counter.fetch_add(1, Relaxed);
    g.tokens_saved.fetch_add(r.tokens_saved, Relaxed);
    g.cost_saved_nano.fetch_add(nano(r.cost_saved), Relaxed);
    Some(resp)
}

/// Places L1's breakpoints on an Anthropic body, as `/l1/prepare` would.
/// Only a system prompt given as text (or one text block) is handled; any
/// other shape is forwarded as it is.
fn place_breakpoints(body: &mut Map<String, Value>, mgr: &CacheManager) -> Vec<Breakpoint> {
    let system = match body.get("system") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(blocks)) if blocks.len() == 1 => {
            let b = blocks[0].as_object();
            let plain = b.is_some_and(|b| {
                b.get("type").and_then(Value::as_str) == Some("text")
                    && b.keys().all(|k| k == "type" || k == "text")
            });
            match b.and_then(|b| b.get("text")).and_then(Value::as_str) {
                Some(t) if plain => t.to_string(),
                _ => return Vec::new(),
            }
        }
        _ => return Vec::new(),
    };
    let req = PrepareRequest {
        system_prompt: Some(Value::String(system)),
        messages: body.get("messages").cloned(),
        tools: body.get("tools").cloned(),
        model: body.get("model").cloned(),
        ..PrepareRequest::default()
    };
    let settings = mgr.settings();
    let Ok(prepared) = prepare(req, &settings.prices, &settings.default_model) else {
        return Vec::new();
    };
    if prepared.breakpoints.is_empty() {
        return Vec::new();
    }
    let Ok(system) = serde_json::to_value(&prepared.body.system) else {
        return Vec::new();
    };
    body.insert("system".into(), system);
    body.insert("messages".into(), Value::Array(prepared.body.messages));
    if let Some(tools) = prepared.body.tools {
        body.insert("tools".into(), Value::Array(tools));
    }
    prepared.breakpoints
}

/// One upstream call.
struct Call {
    provider: Provider,
    url: String,
    headers: Vec<(String, String)>,
    body: Bytes,
    /// Store the answer under this key (`None`: pass-through).
    plan: Option<Keyed>,
}

/// Forwards `call` on a blocking thread and streams its answer back.
async fn forward(
    call: Call,
    gw: &Gateway,
    mgr: Mgr,
    outcome: &'static str,
    breakpoints: &[Breakpoint],
) -> HttpResponse {
    let p = call.provider;
    let (producer, mut consumer) = pipe::pipe();
    let agent = gw.agent.clone();
    let spawned = std::thread::Builder::new()
        .name("helios-upstream".into())
        .spawn(move || upstream(call, agent, mgr, producer));
    if let Err(e) = spawned {
        return provider_error(
            p,
            503,
            "api_error",
            &format!("the gateway cannot start a call: {e}"),
        );
    }
    let mut resp = match consumer.head().await {
        Head::Failed(status, kind, msg) => provider_error(p, status, kind, &msg),
        Head::Response { status, headers } => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
            let mut b = HttpResponse::build(status);
            for (k, v) in headers {
                b.append_header((k, v));
            }
            b.body(consumer.into_body())
        }
    };
    let h = resp.headers_mut();
    h.insert(
        "x-helios-cache".parse().expect("valid header name"),
        actix_web::http::header::HeaderValue::from_static(outcome),
    );
    if !breakpoints.is_empty() {
        let names: Vec<&str> = breakpoints.iter().map(|b| b.as_str()).collect();
        if let Ok(v) = actix_web::http::header::HeaderValue::from_str(&names.join(",")) {
            h.insert("x-helios-l1-breakpoints".parse().expect("valid"), v);
        }
    }
    resp
}

/// 504 for a timeout, 502 for anything else.
fn classify(e: &ureq::Error) -> (u16, &'static str) {
    let timed_out = match e {
        ureq::Error::Timeout(_) => true,
        ureq::Error::Io(io) => io.kind() == std::io::ErrorKind::TimedOut,
        _ => false,
    };
    match timed_out {
        true => (504, "timeout_error"),
        false => (502, "api_error"),
    }
}

/// The thread of one upstream call: sends it, passes the head and body to
/// the client, and stores a complete 200 answer before its last bytes go
/// out (so a client that repeats the request at once finds it). A JSON
/// answer is read whole first; an event stream is passed on chunk by chunk.
fn upstream(call: Call, agent: ureq::Agent, mgr: Mgr, tx: Producer) {
    let g = &mgr.metrics().gateway;
    let p = call.provider;
    let mut rb = agent.post(&call.url);
    for (k, v) in &call.headers {
        rb = rb.header(k.as_str(), v.as_str());
    }
    let started = Instant::now();
    let result = rb
        .header("content-type", "application/json")
        .send(&call.body[..]);
    let resp = match result {
        Ok(r) => r,
        Err(e) => {
            g.upstream_errors.fetch_add(1, Relaxed);
            let (status, kind) = classify(&e);
            tracing::warn!("gateway: upstream {} failed: {e}", call.url);
            tx.head(Head::Failed(
                status,
                kind,
                format!("helios-cache gateway: the upstream failed: {e}"),
            ));
            return;
        }
    };
    g.upstream_latency
        .record(started.elapsed().as_nanos() as u64);
    let status = resp.status().as_u16();
    if !(200..300).contains(&status) {
        g.upstream_errors.fetch_add(1, Relaxed);
    }
    let is_sse = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("text/event-stream"));
    let headers = resp
        .headers()
        .iter()
        .filter(|(k, _)| !DROPPED_RESPONSE_HEADERS.contains(&k.as_str()))
        .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
        .collect();
    let limit = mgr.settings().limits.max_response_bytes;
    let mut plan = call.plan.filter(|_| status == 200);
    let mut reader = resp.into_body().into_reader();
    let mut buf = vec![0u8; 16 * 1024];
    let mut seen = 0usize;
    if !is_sse {
        // A JSON answer comes at once: read it whole, store it, and send it
        // in one write. One larger than the store limit is streamed on.
        let mut whole = Vec::new();
        if let Err(e) = (&mut reader).take(limit as u64 + 1).read_to_end(&mut whole) {
            g.upstream_errors.fetch_add(1, Relaxed);
            tracing::warn!("gateway: reading the upstream answer failed: {e}");
            let (status, kind) = match e.kind() {
                std::io::ErrorKind::TimedOut => (504, "timeout_error"),
                _ => (502, "api_error"),
            };
            tx.head(Head::Failed(
                status,
                kind,
                format!("helios-cache gateway: reading the upstream answer failed: {e}"),
            ));
            return;
        }
        seen = whole.len();
        if seen <= limit {
            if let (Ok(body @ Value::Object(_)), Some(k)) =
                (serde_json::from_slice::<Value>(&whole), plan.take())
            {
                if !tx.cancelled() {
                    store(p, &mgr, k, body);
                }
            }
        }
        plan = None;
        tx.head(Head::Response { status, headers });
        if !tx.push(Bytes::from(whole)) {
            g.client_disconnects.fetch_add(1, Relaxed);
            return;
        }
        if seen <= limit {
            tx.finish();
            return;
        }
    } else {
        tx.head(Head::Response { status, headers });
    }
    let mut acc = plan.as_ref().map(|_| sse::Accumulator::new(p));
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) => {
                g.upstream_errors.fetch_add(1, Relaxed);
                tracing::warn!("gateway: reading the upstream answer failed: {e}");
                tx.fail();
                return;
            }
        };
        let chunk = &buf[..n];
        seen += n;
        if seen > limit {
            // Too large to store: pass the rest through.
            plan = None;
            acc = None;
        }
        if let Some(a) = acc.as_mut() {
            if a.feed(chunk) {
                let done = acc.take().and_then(sse::Accumulator::result);
                if let (Some(body), Some(k)) = (done, plan.take()) {
                    if !tx.cancelled() {
                        store(p, &mgr, k, body);
                    }
                }
            }
        }
        if !tx.push(Bytes::copy_from_slice(chunk)) {
            g.client_disconnects.fetch_add(1, Relaxed);
            return;
        }
    }
    if tx.cancelled() {
        g.client_disconnects.fetch_add(1, Relaxed);
        return;
    }
    tx.finish();
}

/// The usage block of an answer, as the core takes it.
fn usage(p: Provider, body: &Value) -> Option<Usage> {
    let u = body.get("usage")?;
    let n = |v: &Value| v.as_i64().unwrap_or(0);
    match p {
        Provider::Anthropic => Usage::new(
            n(&u["input_tokens"]),
            n(&u["output_tokens"]),
            n(&u["cache_creation_input_tokens"]),
            n(&u["cache_read_input_tokens"]),
        )
        .ok(),
        Provider::OpenAi => {
            let cached = n(&u["prompt_tokens_details"]["cached_tokens"]);
            Usage::new(
                (n(&u["prompt_tokens"]) - cached).max(0),
                n(&u["completion_tokens"]),
                0,
                cached,
            )
            .ok()
        }
    }
}

/// Stores a complete answer; a refused store is logged, never the client's
/// problem.
fn store(p: Provider, mgr: &CacheManager, k: Keyed, body: Value) {
    let g = &mgr.metrics().gateway;
    let u = usage(p, &body);
    if let Some(u) = &u {
        g.prompt_cache_read_tokens
            .fetch_add(u.cache_read_input_tokens, Relaxed);
        g.prompt_cache_write_tokens
            .fetch_add(u.cache_creation_input_tokens, Relaxed);
    }
    let raw = match serde_json::value::to_raw_value(&body) {
        Ok(r) => r,
        Err(_) => return,
    };
    let mut s = match Store::new(k.scope, k.input, raw.into()) {
        Ok(s) => s,
        Err(e) => {
            tracing::debug!("gateway: not stored: {e}");
            return;
        }
    };
    s.model = Some(k.model);
    s.usage = u;
    s.layers = Layers {
        l1: p == Provider::Anthropic,
        l2: true,
        l3: k.l3,
    };
    match mgr.store(&s) {
        Ok(_) => {
            g.stores.fetch_add(1, Relaxed);
        }
        Err(e) => tracing::warn!("gateway: storing an answer failed: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_control_header_is_parsed() {
        assert_eq!(cache_control(None), CacheControl::default());
        let both = cache_control(Some("No-Cache, no-store"));
        assert!(both.no_cache && both.no_store);
        let one = cache_control(Some("no-cache"));
        assert!(one.no_cache && !one.no_store);
        assert_eq!(cache_control(Some("max-age=5")), CacheControl::default());
    }

    #[test]
    fn settings_are_checked() {
        let ok = GatewaySettings {
            upstream_anthropic: "https://api.anthropic.com".into(),
            upstream_openai: "http://127.0.0.1:11434".into(),
            fresh_when_sampled: false,
            upstream_timeout_ms: 1000,
        };
        assert!(ok.check().is_ok());
        for bad in ["api.anthropic.com", "http://", "ftp://x"] {
            let s = GatewaySettings {
                upstream_anthropic: bad.into(),
                ..ok.clone()
            };
            assert!(s.check().is_err(), "{bad}");
        }
        let s = GatewaySettings {
            upstream_timeout_ms: 0,
            ..ok
        };
        assert!(s.check().is_err());
    }

    #[test]
    fn usage_blocks_are_read() {
        let a = json!({"usage": {"input_tokens": 10, "output_tokens": 2,
            "cache_creation_input_tokens": 0, "cache_read_input_tokens": 2048}});
        let u = usage(Provider::Anthropic, &a).unwrap();
        assert_eq!(u.cache_read_input_tokens, 2048);
        let o = json!({"usage": {"prompt_tokens": 100, "completion_tokens": 5,
            "prompt_tokens_details": {"cached_tokens": 64}}});
        let u = usage(Provider::OpenAi, &o).unwrap();
        assert_eq!((u.input_tokens, u.cache_read_input_tokens), (36, 64));
        assert!(usage(Provider::OpenAi, &json!({})).is_none());
    }

    #[test]
    fn errors_have_the_provider_shape() {
        let r = provider_error(Provider::Anthropic, 504, "timeout_error", "slow");
        assert_eq!(r.status(), 504);
        let r = provider_error(Provider::OpenAi, 502, "api_error", "down");
        assert_eq!(r.status(), 502);
    }
}
