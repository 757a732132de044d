//! The cache manager: the waterfall lookup, the all-or-nothing store,
//! invalidation, and the reports (metrics, health, per-layer statistics).
//!
//! It owns the layers, the storage and the counters, and knows nothing of
//! HTTP: it takes the API's request types and returns its response types or a
//! [`CacheError`].

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Instant;

use serde_json::{json, Value};

use crate::api::{self, InvalidateRequest, LookupRequest, LookupResponse, StoreRequest, Usage};
use crate::clock::now_ms;
use crate::config::Settings;
use crate::error::CacheError;
use crate::l1::{self, L1};
use crate::l2::{RawJson, L2};
use crate::l3::{L3Outcome, L3Settings, L3};
use crate::layer::{EntryWrite, InvalidateFilter, Layer, LayerId};
use crate::metrics::{ratio, Metrics};
use crate::pricing::ModelSpec;
use crate::scope::{self, Scope};
use crate::storage::{KeyLocks, OpenError, Storage};

const COUNTERS_KEY: &str = "counters";

/// The cache.
pub struct CacheManager {
    settings: Settings,
    storage: Arc<Storage>,
    locks: Arc<KeyLocks>,
    l1: L1,
    l2: L2,
    l3: L3,
    metrics: Metrics,
    /// Writers hold it shared; a backup holds it exclusively, pausing writes
    /// (not lookups) while it copies.
    write_gate: parking_lot::RwLock<()>,
    /// Record count last written to the state file (`u64::MAX`: none yet).
    state_records: std::sync::atomic::AtomicU64,
    started: Instant,
}

fn nano(dollars: f64) -> u64 {
    (dollars * 1e9).round().max(0.0) as u64
}

/// Tokens and dollars (nano) of one model call, which a later hit saves.
/// With a usage block the real counts are priced; otherwise `tokens_used` is
/// priced as output tokens, since a cached answer saves mostly generation.
fn call_cost(spec: &ModelSpec, tokens_used: Option<u64>, usage: Option<&Usage>) -> (u64, u64) {
    match usage {
        Some(u) => {
            let (i, o) = (u.input_tokens as u64, u.output_tokens as u64);
            let (w, r) = (
                u.cache_creation_input_tokens as u64,
                u.cache_read_input_tokens as u64,
            );
            let dollars = ModelSpec::dollars(i, spec.input)
                + ModelSpec::dollars(o, spec.output)
                + ModelSpec::dollars(w, spec.cache_write_5m)
                + ModelSpec::dollars(r, spec.cache_read);
            (i + o + w + r, nano(dollars))
        }
        None => {
            let t = tokens_used.unwrap_or(0);
            (t, nano(ModelSpec::dollars(t, spec.output)))
        }
    }
}

impl CacheManager {
    /// Opens the data directory and every layer.
    pub fn open(settings: Settings) -> Result<CacheManager, OpenError> {
        let storage = Arc::new(Storage::open(&settings)?);
        let locks = Arc::new(KeyLocks::default());
        let l1 = L1::open(
            storage.clone(),
            settings.l1.clone(),
            settings.prices.clone(),
        );
        let l2 = L2::open(storage.clone(), locks.clone(), settings.l2.clone());
        let embedder = crate::embed::from_options(&settings.embedding, &settings.data_dir)
            .map_err(|e| OpenError(format!("embedding model: {e}")))?;
        let l3_settings = L3Settings {
            ttl_seconds: settings.l3.ttl_seconds,
            max_ttl_seconds: settings.l3.max_ttl_seconds,
            max_entries: settings.l3.max_entries,
            max_bytes: settings.l3.max_bytes,
            threshold: settings
                .l3
                .threshold
                .or(embedder.default_threshold())
                .unwrap_or(0.90),
            guard: settings.l3.guard,
        };
        let l3 = L3::open(storage.clone(), locks.clone(), l3_settings, embedder);
        let metrics = match storage.meta.get(COUNTERS_KEY) {
            Ok(Some(b)) => Metrics::from_bytes(&b),
            _ => Metrics::default(),
        };
        Ok(CacheManager {
            settings,
            storage,
            locks,
            l1,
            l2,
            l3,
            metrics,
            write_gate: parking_lot::RwLock::new(()),
            state_records: std::sync::atomic::AtomicU64::new(u64::MAX),
            started: Instant::now(),
        })
    }

    /// Records the serving address in the lock file, so that `helios-cache
    /// backup` can find a running server.
    pub fn announce(&self, addr: &str) {
        let text = format!("{}\n{addr}\n", std::process::id());
        if let Err(e) = std::fs::write(self.storage.dir.join("helios.lock"), text) {
            tracing::warn!("cannot record the address in the lock file: {e}");
        }
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The layers that exist in this build, in waterfall order.
    fn layers(&self) -> Vec<&dyn Layer> {
        vec![&self.l1, &self.l2, &self.l3]
    }

    fn layer(&self, id: LayerId) -> Option<&dyn Layer> {
        self.layers().into_iter().find(|l| l.id() == id)
    }

    /// The waterfall: L1 (prefix warmth), then L2, then L3; the first
    /// response hit wins and later layers are not searched.
    pub fn lookup(&self, req: &LookupRequest) -> Result<LookupResponse, CacheError> {
        let start = Instant::now();
        api::check_input(&req.input_text, self.settings.limits.max_input_bytes)?;
        let namespace = api::check_name(
            "namespace",
            req.namespace.as_deref(),
            scope::DEFAULT_NAMESPACE,
        )?;
        let task_type = api::check_name(
            "task_type",
            req.task_type.as_deref(),
            scope::DEFAULT_TASK_TYPE,
        )?;
        api::check_threshold(req.similarity_threshold)?;
        let scope = Scope::new(&namespace, &task_type, req.system_prompt.as_deref());

        let mut resp = LookupResponse {
            hit: false,
            layer: None,
            cached_response: None,
            confidence: 0.0,
            entry_id: None,
            l1_result: None,
            l2_result: None,
            l3_result: None,
            lookup_time_ms: 0.0,
            tokens_saved: 0,
            cost_saved: 0.0,
        };
        if req.use_l1.unwrap_or(true) {
            resp.l1_result = Some(self.l1.lookup_json(
                &self.metrics,
                &namespace,
                req.model.as_deref(),
                req.system_prompt.as_deref(),
                &self.settings.default_model,
            )?);
        }
        if req.use_l2.unwrap_or(true) {
            self.lookup_l2(&scope, &req.input_text, &mut resp);
        }
        if !resp.hit && req.use_l3.unwrap_or(true) {
            self.lookup_l3(&scope, req, &mut resp)?;
        }

        self.metrics.total_lookups.fetch_add(1, Relaxed);
        if resp.hit {
            self.metrics.total_hits.fetch_add(1, Relaxed);
            self.metrics
                .tokens_saved
                .fetch_add(resp.tokens_saved, Relaxed);
            self.metrics
                .cost_saved_nano
                .fetch_add(nano(resp.cost_saved), Relaxed);
        }
        let elapsed = start.elapsed();
        self.metrics
            .lookup_latency
            .record(elapsed.as_nanos() as u64);
        resp.lookup_time_ms = elapsed.as_secs_f64() * 1e3;
        Ok(resp)
    }

    fn lookup_l2(&self, scope: &Scope, input: &str, resp: &mut LookupResponse) {
        let t = Instant::now();
        let found = self.l2.lookup(scope, input);
        let elapsed = t.elapsed();
        let m = self.metrics.layer(LayerId::L2);
        m.lookups.fetch_add(1, Relaxed);
        m.latency.record(elapsed.as_nanos() as u64);
        let ms = elapsed.as_secs_f64() * 1e3;
        let Some(e) = found else {
            resp.l2_result = Some(json!({"hit": false, "lookup_time_ms": ms}));
            return;
        };
        m.hits.fetch_add(1, Relaxed);
        let now = now_ms();
        let id = scope::entry_id(e.key);
        resp.l2_result = Some(json!({
            "hit": true,
            "entry_id": id,
            "lookup_time_ms": ms,
            "age_seconds": now.saturating_sub(e.base.created_ms) as f64 / 1e3,
            "ttl_remaining_seconds": e.expires_ms.saturating_sub(now) as f64 / 1e3,
            "access_count": e.access_count(),
            "model_used": e.base.model,
        }));
        resp.hit = true;
        resp.layer = Some(LayerId::L2);
        resp.cached_response = Some(e.base.response.clone());
        resp.confidence = 1.0;
        resp.entry_id = Some(id);
        resp.tokens_saved = e.base.tokens;
        resp.cost_saved = e.base.cost_nano as f64 / 1e9;
    }

    fn lookup_l3(
        &self,
        scope: &Scope,
        req: &LookupRequest,
        resp: &mut LookupResponse,
    ) -> Result<(), CacheError> {
        let t = Instant::now();
        let threshold = req
            .similarity_threshold
            .unwrap_or(self.l3.default_threshold());
        let m = self.metrics.layer(LayerId::L3);
        let vector = match self.l3.embed(&req.input_text) {
            Ok(v) => v,
            Err(e) => {
                // No vector, no L3 answer; the lookup itself still succeeds.
                resp.l3_result = Some(json!({"hit": false, "skipped": e.to_string()}));
                return Ok(());
            }
        };
        let outcome = self.l3.lookup(scope, &req.input_text, &vector, threshold)?;
        let elapsed = t.elapsed();
        m.lookups.fetch_add(1, Relaxed);
        m.latency.record(elapsed.as_nanos() as u64);
        let ms = elapsed.as_secs_f64() * 1e3;
        let hit = match outcome {
            L3Outcome::Miss { best, vetoed } => {
                resp.l3_result = Some(json!({
                    "hit": false,
                    "lookup_time_ms": ms,
                    "threshold": threshold,
                    "best_similarity": best,
                    "guard_veto": vetoed,
                }));
                return Ok(());
            }
            L3Outcome::Hit(hit) => hit,
        };
        m.hits.fetch_add(1, Relaxed);
        m.similarity_sum_micro
            .fetch_add((hit.similarity * 1e6) as u64, Relaxed);
        let now = now_ms();
        let id = scope::entry_id(hit.key);
        resp.l3_result = Some(json!({
            "hit": true,
            "entry_id": id,
            "similarity": hit.similarity,
            "threshold": threshold,
            "lookup_time_ms": ms,
            "age_seconds": now.saturating_sub(hit.created_ms) as f64 / 1e3,
            "ttl_remaining_seconds": hit.expires_ms.saturating_sub(now) as f64 / 1e3,
            "model_used": hit.model,
        }));
        resp.hit = true;
        resp.layer = Some(LayerId::L3);
        resp.cached_response = Some(hit.response);
        resp.confidence = hit.similarity;
        resp.entry_id = Some(id);
        resp.tokens_saved = hit.tokens;
        resp.cost_saved = hit.cost_nano as f64 / 1e9;
        Ok(())
    }

    /// Stores a response in every eligible layer it names, atomically.
    pub fn store(&self, req: &StoreRequest) -> Result<api::StoreResponse, CacheError> {
        api::check_input(&req.input_text, self.settings.limits.max_input_bytes)?;
        api::check_response(&req.response_data, self.settings.limits.max_response_bytes)?;
        let namespace = api::check_name(
            "namespace",
            req.namespace.as_deref(),
            scope::DEFAULT_NAMESPACE,
        )?;
        let task_type = api::check_name(
            "task_type",
            req.task_type.as_deref(),
            scope::DEFAULT_TASK_TYPE,
        )?;
        let ttl = api::check_ttl(req.ttl_seconds)?;
        let tokens_used = api::check_count("tokens_used", req.tokens_used)?;
        let prompt_tokens = api::check_count("system_prompt_tokens", req.system_prompt_tokens)?;
        if let Some(u) = &req.usage {
            api::check_usage(u)?;
        }
        let (want_l2, want_l3) = (
            req.store_in_l2.unwrap_or(true),
            req.store_in_l3.unwrap_or(true),
        );
        let want_l1 = req.store_in_l1.unwrap_or(true);
        if !want_l1 && !want_l2 && !want_l3 {
            return Err(CacheError::invalid(
                "nothing_to_store",
                "store_in_l1, store_in_l2 and store_in_l3 are all false",
            ));
        }
        let model = req
            .model_used
            .clone()
            .unwrap_or_else(|| self.settings.default_model.clone());
        let l1_plan = self.l1.plan(
            want_l1,
            &namespace,
            &model,
            req.system_prompt.as_deref(),
            req.cache_ttl.as_deref(),
            prompt_tokens,
            req.usage.as_ref(),
        )?;
        let spec = self.settings.prices.get(&model);
        let (tokens, cost_nano) = call_cost(spec, tokens_used, req.usage.as_ref());
        let scope = Scope::new(&namespace, &task_type, req.system_prompt.as_deref());
        let key = scope.entry_key(&req.input_text);
        let response: RawJson = Arc::from(req.response_data.clone());

        let _gate = self.write_gate.read();
        let mut skipped = serde_json::Map::new();
        // Embedding may be slow (a remote API): done before any lock.
        let l3_vector = match want_l3.then(|| self.l3.embed(&req.input_text)) {
            Some(Ok(v)) => Some(v),
            Some(Err(e)) => {
                skipped.insert(LayerId::L3.wire_name().into(), e.to_string().into());
                None
            }
            None => None,
        };
        let mut layers_stored = Vec::new();
        {
            let _guard = self.locks.lock(key);
            // L1's own stripes, always taken after the entry lock.
            let _l1_guard = l1_plan.as_ref().map(|p| self.l1.lock(p));
            let now = now_ms();
            let mut batch = sled::Batch::default();
            let staged_l1 = l1_plan
                .as_ref()
                .map(|p| self.l1.stage(p, now, &mut batch))
                .transpose()?;
            let w = EntryWrite {
                scope: &scope,
                input: &req.input_text,
                response: &response,
                model: &model,
                tokens,
                cost_nano,
                ttl_seconds: self.l2.effective_ttl(ttl),
            };
            let staged_l2 = match want_l2 {
                true => Some(self.l2.stage(&w, now, &mut batch)?),
                false => None,
            };
            let staged_l3 = match l3_vector {
                Some(vector) => {
                    let w = EntryWrite {
                        ttl_seconds: self.l3.effective_ttl(ttl),
                        ..w
                    };
                    Some(self.l3.stage(&w, vector, now, &mut batch)?)
                }
                None => None,
            };
            self.storage.apply(batch)?;
            if let Some(s) = staged_l1 {
                if self.l1.commit(s, &self.metrics) {
                    layers_stored.push(LayerId::L1);
                }
            }
            if let Some(s) = staged_l2 {
                self.l2.commit(s);
                layers_stored.push(LayerId::L2);
            }
            if let Some(s) = staged_l3 {
                self.l3.commit(s);
                layers_stored.push(LayerId::L3);
            }
        }
        for id in &layers_stored {
            self.metrics.layer(*id).stores.fetch_add(1, Relaxed);
        }
        self.metrics.total_stores.fetch_add(1, Relaxed);
        let evicted = self.l1.enforce_bounds()?;
        self.metrics
            .layer(LayerId::L1)
            .evictions
            .fetch_add(evicted, Relaxed);
        let evicted = self.l2.enforce_bounds()?;
        self.metrics
            .layer(LayerId::L2)
            .evictions
            .fetch_add(evicted, Relaxed);
        let evicted = self.l3.enforce_bounds()?;
        self.metrics
            .layer(LayerId::L3)
            .evictions
            .fetch_add(evicted, Relaxed);
        Ok(api::StoreResponse {
            success: true,
            layers_stored,
            entry_id: scope::entry_id(key),
            skipped,
        })
    }

    /// Removes entries by layer / namespace / task type / entry id.
    pub fn invalidate(&self, req: &InvalidateRequest) -> Result<Value, CacheError> {
        let only = req.layer.as_deref().map(LayerId::parse).transpose()?;
        let namespace = req
            .namespace
            .as_deref()
            .map(|n| api::check_name("namespace", Some(n), ""))
            .transpose()?;
        let task_type = req
            .task_type
            .as_deref()
            .map(|t| api::check_name("task_type", Some(t), ""))
            .transpose()?;
        let entry_key = match req.entry_id.as_deref() {
            None => None,
            Some(id) => Some(scope::parse_entry_id(id).ok_or_else(|| {
                CacheError::invalid(
                    "invalid_entry_id",
                    format!("entry_id must be 32 hex digits, got {id:?}"),
                )
            })?),
        };
        let filter = InvalidateFilter {
            namespace,
            task_type,
            entry_key,
        };
        let unfiltered =
            filter.namespace.is_none() && filter.task_type.is_none() && filter.entry_key.is_none();
        if unfiltered && only.is_none() && !req.all {
            return Err(CacheError::invalid(
                "missing_filter",
                "name a layer, namespace, task_type or entry_id, or send \"all\": true to clear everything",
            ));
        }
        let _gate = self.write_gate.read();
        let mut counts = serde_json::Map::new();
        let mut total = 0;
        for id in LayerId::ALL {
            if only.is_some_and(|o| o != id) {
                continue;
            }
            let Some(layer) = self.layer(id) else {
                continue;
            };
            let n = layer.invalidate(&filter)?;
            self.metrics.layer(id).invalidations.fetch_add(n, Relaxed);
            counts.insert(id.wire_name().into(), n.into());
            total += n;
        }
        Ok(json!({"success": true, "invalidated": counts, "total_invalidated": total}))
    }

    fn layer_json(&self, id: LayerId) -> Value {
        let m = self.metrics.layer(id);
        let mut v = json!({
            "layer": id,
            "available": self.layer(id).is_some(),
            "lookups": m.lookups.load(Relaxed),
            "hits": m.hits.load(Relaxed),
            "misses": m.misses(),
            "hit_rate": m.hit_rate(),
            "stores": m.stores.load(Relaxed),
            "evictions": m.evictions.load(Relaxed),
            "expirations": m.expirations.load(Relaxed),
            "invalidations": m.invalidations.load(Relaxed),
            "average_hit_similarity": ratio(m.similarity_sum_micro.load(Relaxed), m.hits.load(Relaxed)) / 1e6,
            "entries": 0,
            "bytes": 0,
            "latency_ms": {
                "mean": m.latency.mean_ms(),
                "p50": m.latency.quantile_ms(0.5),
                "p99": m.latency.quantile_ms(0.99),
            },
        });
        if let Some(layer) = self.layer(id) {
            let size = layer.size();
            v["entries"] = size.entries.into();
            v["bytes"] = size.bytes.into();
            v["details"] = layer.details();
        }
        if id == LayerId::L1 {
            v["l1_prediction_accuracy"] = l1::prediction_accuracy(&self.metrics).into();
            v["l1_predictions"] = self.metrics.l1_predictions.load(Relaxed).into();
            v["l1_predictions_correct"] = self.metrics.l1_predictions_correct.load(Relaxed).into();
        }
        v
    }

    fn entries(&self, id: LayerId) -> u64 {
        self.layer(id).map(|l| l.size().entries).unwrap_or(0)
    }

    /// `GET /metrics`.
    pub fn metrics_json(&self) -> Value {
        let total = self.metrics.total_lookups.load(Relaxed);
        let hits = |id| self.metrics.layer(id).hits.load(Relaxed);
        let lat = &self.metrics.lookup_latency;
        let mut layers = serde_json::Map::new();
        for id in LayerId::ALL {
            layers.insert(id.wire_name().into(), self.layer_json(id));
        }
        let mut out = json!({
            "total_lookups": total,
            "total_hits": self.metrics.total_hits.load(Relaxed),
            "total_stores": self.metrics.total_stores.load(Relaxed),
            "overall_hit_rate": ratio(self.metrics.total_hits.load(Relaxed), total),
            "l1_hit_rate": ratio(hits(LayerId::L1), total),
            "l2_hit_rate": ratio(hits(LayerId::L2), total),
            "l3_hit_rate": ratio(hits(LayerId::L3), total),
            "total_tokens_saved": self.metrics.tokens_saved.load(Relaxed),
            "total_cost_saved": self.metrics.cost_saved_nano.load(Relaxed) as f64 / 1e9,
            "l1_entries": self.entries(LayerId::L1),
            "l2_entries": self.entries(LayerId::L2),
            "l3_entries": self.entries(LayerId::L3),
            "lookup_latency_ms": {
                "mean": lat.mean_ms(),
                "p50": lat.quantile_ms(0.5),
                "p99": lat.quantile_ms(0.99),
            },
            "layers": layers,
        });
        out["l1_prediction_accuracy"] = l1::prediction_accuracy(&self.metrics).into();
        if let (Value::Object(dst), Value::Object(src)) = (&mut out, self.l1.savings_json()) {
            dst.extend(src);
        }
        out
    }

    /// `GET /health`.
    pub fn health(&self) -> Value {
        let mut layers = serde_json::Map::new();
        for id in LayerId::ALL {
            let h = match self.layer(id) {
                Some(l) => serde_json::to_value(l.health()).unwrap_or(Value::Null),
                None => json!({
                    "status": "unavailable",
                    "available": false,
                    "detail": format!("{} is not available in this build", id.wire_name()),
                }),
            };
            layers.insert(id.wire_name().into(), h);
        }
        let readable = self.storage.meta.get("format").is_ok();
        let problem = self.storage.problem();
        let storage_ok = readable && problem.is_none();
        json!({
            "status": if storage_ok { "healthy" } else { "degraded" },
            "uptime_seconds": self.started.elapsed().as_secs_f64(),
            "version": env!("CARGO_PKG_VERSION"),
            "layers": layers,
            "storage": {
                "status": match (readable, &problem) {
                    (false, _) => "unavailable",
                    (true, Some(_)) => "degraded",
                    (true, None) => "healthy",
                },
                "writable": problem.is_none(),
                "detail": problem,
                "engine": "sled",
                "data_dir": self.storage.dir.display().to_string(),
                "size_on_disk_bytes": self.storage.size_on_disk(),
                "durability": format!("{:?}", self.settings.durability).to_lowercase(),
            },
        })
    }

    /// `GET /summary`.
    pub fn summary(&self) -> Value {
        let mut metrics = self.metrics_json();
        metrics["savings"] = json!({
            "total_tokens_saved": metrics["total_tokens_saved"],
            "total_cost_saved_dollars": metrics["total_cost_saved"],
            "l1_cost_saved_dollars": metrics["l1_cost_saved"],
            "l1_cache_write_cost_dollars": metrics["l1_cache_write_cost"],
            "l1_net_saved_dollars": metrics["l1_net_saved"],
        });
        metrics["storage"] = json!({
            "L1_entries": metrics["l1_entries"],
            "L2_entries": metrics["l2_entries"],
            "L3_entries": metrics["l3_entries"],
        });
        json!({"metrics": metrics, "health": self.health()})
    }

    /// `GET /stats/layer/{layer}`.
    pub fn layer_stats(&self, layer: &str) -> Result<Value, CacheError> {
        Ok(self.layer_json(LayerId::parse(layer)?))
    }

    /// Removes expired entries from every layer.
    pub fn sweep(&self) {
        let _gate = self.write_gate.read();
        let now = now_ms();
        for layer in self.layers() {
            match layer.sweep(now) {
                Ok(n) => {
                    self.metrics
                        .layer(layer.id())
                        .expirations
                        .fetch_add(n, Relaxed);
                }
                Err(e) => tracing::warn!("sweeping {} failed: {e}", layer.id().wire_name()),
            }
        }
    }

    /// Writes lazily persisted state and the counters.
    pub fn persist(&self) {
        let _gate = self.write_gate.read();
        // While storage cannot take writes nothing more is written: piling
        // dirty data into sled would turn a full disk into a sticky error.
        if !self.storage.recover() || self.storage.problem().is_some() {
            return;
        }
        self.persist_inner();
    }

    fn persist_inner(&self) {
        for layer in self.layers() {
            if let Err(e) = layer.persist() {
                tracing::warn!("persisting {} failed: {e}", layer.id().wire_name());
            }
        }
        if let Err(e) = self
            .storage
            .meta
            .insert(COUNTERS_KEY, self.metrics.to_bytes())
        {
            tracing::warn!("saving counters failed: {e}");
        }
        self.storage.measure_size();
        // Only after a flush: the state file claims what sled durably holds.
        // Rewritten only when the count changed: an idle server writes nothing.
        let records: u64 = self.layers().iter().map(|l| l.size().entries).sum();
        if self.storage.flush().is_ok() && self.state_records.swap(records, Relaxed) != records {
            if let Err(e) = self.storage.write_state(records) {
                self.state_records.store(u64::MAX, Relaxed);
                tracing::warn!("writing the state file failed: {e}");
            }
        }
    }

    /// Writes a consistent copy of the data to `to` (absolute, absent or
    /// empty). Writes wait while it runs; lookups go on.
    pub fn backup(&self, to: &std::path::Path) -> Result<crate::backup::BackupReport, CacheError> {
        crate::backup::check_target(to)
            .and_then(|_| crate::backup::check_under_root(to, &self.settings.backup_root))
            .map_err(|e| CacheError::invalid("invalid_backup_target", e))?;
        let _gate = self.write_gate.write();
        self.persist_inner();
        let report =
            crate::backup::copy_database(&self.storage, to).map_err(CacheError::Unavailable)?;
        if let Err(e) = self.l3.save_index_to(&to.join("l3-index")) {
            tracing::warn!("backup: the L3 index was not saved (a restore rebuilds it): {e}");
        }
        let state = crate::storage::StateFile {
            records: report.records,
            saved_ms: now_ms(),
        };
        let _ = std::fs::write(
            to.join("helios.state"),
            serde_json::to_vec(&state).unwrap_or_default(),
        );
        tracing::info!(
            "backup of {} records written to {}",
            report.records,
            to.display()
        );
        Ok(report)
    }

    /// Persists everything and flushes to disk; called at shutdown.
    pub fn shutdown(&self) -> Result<(), CacheError> {
        if let Err(e) = self.l3.save_index() {
            tracing::warn!("saving the L3 index failed (it will be rebuilt at start): {e}");
        }
        self.persist();
        self.storage.flush()
    }
}
