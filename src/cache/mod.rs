//! The core: the cache manager (the waterfall lookup, the all-or-nothing
//! store, invalidation, reports) and the layers it drives.
//!
//! It knows nothing of HTTP and names no sled type: it takes validated
//! requests ([`request`]) and returns typed reports ([`report`]) or a
//! [`CacheError`]; durable state goes through [`crate::store`].

pub mod eval;
pub mod hot;
pub mod l1;
pub mod l2;
pub mod l3;
pub mod layer;
pub mod metrics;
pub mod pricing;
pub mod records;
pub mod report;
pub mod request;
pub mod scope;

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Instant;

use crate::clock::now_ms;
use crate::embed::EmbeddingOptions;
use crate::error::{CacheError, StartError};
use crate::store::backup::{self, BackupReport};
use crate::store::{Durability, Storage, StoreSettings, WriteBatch};
use l1::{L1Settings, L1};
use l2::{L2Settings, L2};
use l3::{L3Outcome, L3Settings, L3};
use layer::{EntryWrite, Layer, LayerHealth, LayerId};
use metrics::{ratio, Metrics};
use pricing::{nano, ModelSpec, PriceTable};
use records::KeyLocks;
use report::{
    EntriesSummary, FeedbackReport, GatewayReport, HealthReport, InvalidateReport, L2Result,
    L3Result, LatencyReport, LayerReport, LookupReport, MetricsReport, SavingsSummary,
    StorageHealth, StoreReport, SummaryMetrics, SummaryReport,
};
use request::{Feedback, Invalidate, Limits, Lookup, Store, Usage, Verdict};
use scope::Scope;

const COUNTERS_KEY: &str = "counters";

/// Everything the core is configured with; `config` resolves it from flags,
/// environment and file.
#[derive(Debug, Clone)]
pub struct CacheSettings {
    pub store: StoreSettings,
    pub l1: L1Settings,
    pub l2: L2Settings,
    pub l3: L3Settings,
    pub embedding: EmbeddingOptions,
    pub limits: Limits,
    /// Model assumed when a request names none.
    pub default_model: String,
    pub prices: PriceTable,
    /// Where backups asked for over HTTP may go.
    pub backup_root: PathBuf,
    /// Period of the sweeper that removes expired entries.
    pub sweep_interval_ms: u64,
    /// Period of the L3 index saver.
    pub index_save_interval_seconds: u64,
}

/// The cache.
pub struct CacheManager {
    settings: CacheSettings,
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

/// Tokens and dollars (nano) of one model call, which a later hit saves.
/// With a usage block the real counts are priced; otherwise `tokens_used` is
/// priced as output tokens, since a cached answer saves mostly generation.
fn call_cost(spec: &ModelSpec, tokens_used: Option<u64>, usage: Option<&Usage>) -> (u64, u64) {
    match usage {
        Some(u) => {
            let (i, o) = (u.input_tokens, u.output_tokens);
            let (w, r) = (u.cache_creation_input_tokens, u.cache_read_input_tokens);
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

/// The texts one request is known by in each layer (borrowed from the
/// request when it is a single text: no copies on the lookup path).
struct RequestTexts<'a> {
    /// L2's key text (and L3's entry key): the input, or the canonical
    /// form of a conversation with history.
    exact: Cow<'a, str>,
    /// What L3's guard compares: the user turns ([`l3::context::compare_text`]).
    compare: Cow<'a, str>,
    /// What L3 embeds: the final turn made standalone with its context.
    standalone: Cow<'a, str>,
}

impl<'a> RequestTexts<'a> {
    fn new(input: &'a str, conv: Option<&request::Conversation>, chat: &l3::ChatSettings) -> Self {
        match conv.filter(|c| !c.is_single_turn()) {
            None => RequestTexts {
                exact: Cow::Borrowed(input),
                compare: Cow::Borrowed(input),
                standalone: Cow::Borrowed(input),
            },
            Some(c) => {
                let turns = l3::context::context_turns(&c.user_texts());
                RequestTexts {
                    exact: Cow::Owned(c.canonical()),
                    compare: Cow::Owned(l3::context::compare_text(&turns)),
                    standalone: Cow::Owned(l3::context::standalone(&turns, chat.window)),
                }
            }
        }
    }
}

fn latency(h: &metrics::Histogram) -> LatencyReport {
    LatencyReport {
        mean: h.mean_ms(),
        p50: h.quantile_ms(0.5),
        p99: h.quantile_ms(0.99),
    }
}

impl CacheManager {
    /// Opens the data directory and every layer.
    pub fn open(settings: CacheSettings) -> Result<CacheManager, StartError> {
        let storage = Arc::new(Storage::open(&settings.store)?);
        let locks = Arc::new(KeyLocks::default());
        let l1 = L1::open(
            storage.clone(),
            settings.l1.clone(),
            settings.prices.clone(),
        );
        let l2 = L2::open(storage.clone(), locks.clone(), settings.l2.clone());
        let embedder = crate::embed::from_options(&settings.embedding, &settings.store.data_dir)?;
        let verifier = settings.l3.verifier.load().map_err(StartError::Verifier)?;
        let l3 = L3::open(
            storage.clone(),
            locks.clone(),
            settings.l3.clone(),
            embedder,
            verifier,
        );
        let metrics = match storage.meta_get(COUNTERS_KEY) {
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
        if let Err(e) = self.storage.announce(addr) {
            tracing::warn!("cannot record the address in the lock file: {e}");
        }
    }

    pub fn settings(&self) -> &CacheSettings {
        &self.settings
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The layers that exist in this build, in waterfall order.
    fn layers(&self) -> [&dyn Layer; 3] {
        [&self.l1, &self.l2, &self.l3]
    }

    fn layer(&self, id: LayerId) -> &dyn Layer {
        match id {
            LayerId::L1 => &self.l1,
            LayerId::L2 => &self.l2,
            LayerId::L3 => &self.l3,
        }
    }

    /// The waterfall: L1 (prefix warmth), then L2, then L3; the first
    /// response hit wins and later layers are not searched.
    pub fn lookup(&self, req: &Lookup) -> Result<LookupReport, CacheError> {
        let start = Instant::now();
        self.settings
            .limits
            .check_request(&req.input, req.conversation.as_ref())?;
        let scope = req.scope.scope();
        let texts = RequestTexts::new(
            &req.input,
            req.conversation.as_ref(),
            self.l3.chat_settings(),
        );
        let mut resp = LookupReport::miss();
        if req.layers.l1 {
            let model = req.model.as_deref().unwrap_or(&self.settings.default_model);
            resp.l1_result = Some(self.l1.lookup_report(
                &self.metrics,
                &req.scope.namespace,
                model,
                req.scope.system_prompt.as_deref(),
            ));
        }
        if req.layers.l2 {
            self.lookup_l2(&scope, &texts.exact, &mut resp);
        }
        if !resp.hit && req.layers.l3 {
            self.lookup_l3(&scope, req, &texts, &mut resp)?;
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

    fn lookup_l2(&self, scope: &Scope, input: &str, resp: &mut LookupReport) {
        let t = Instant::now();
        let found = self.l2.lookup(scope, input);
        let elapsed = t.elapsed();
        let m = self.metrics.layer(LayerId::L2);
        m.lookups.fetch_add(1, Relaxed);
        m.latency.record(elapsed.as_nanos() as u64);
        let ms = elapsed.as_secs_f64() * 1e3;
        let Some(e) = found else {
            resp.l2_result = Some(L2Result::Miss {
                hit: false,
                lookup_time_ms: ms,
            });
            return;
        };
        m.hits.fetch_add(1, Relaxed);
        let now = now_ms();
        let id = scope::entry_id_shared(e.key);
        resp.l2_result = Some(L2Result::Hit {
            hit: true,
            entry_id: id.clone(),
            lookup_time_ms: ms,
            age_seconds: now.saturating_sub(e.created_ms) as f64 / 1e3,
            ttl_remaining_seconds: e.expires_ms.saturating_sub(now) as f64 / 1e3,
            access_count: e.access_count(),
            model_used: Arc::clone(&e.model),
        });
        resp.hit = true;
        resp.layer = Some(LayerId::L2);
        resp.cached_response = Some(e.response.clone());
        resp.confidence = 1.0;
        resp.entry_id = Some(id);
        resp.tokens_saved = e.tokens;
        resp.cost_saved = e.cost_nano as f64 / 1e9;
    }

    fn lookup_l3(
        &self,
        scope: &Scope,
        req: &Lookup,
        texts: &RequestTexts,
        resp: &mut LookupReport,
    ) -> Result<(), CacheError> {
        let t = Instant::now();
        let chat = req
            .conversation
            .as_ref()
            .is_some_and(|c| !c.is_single_turn());
        let threshold = req.threshold.unwrap_or(match chat {
            true => self.l3.chat_settings().threshold_for(&texts.standalone),
            false => self.l3.default_threshold(),
        });
        let m = self.metrics.layer(LayerId::L3);
        let vector = match self.l3.embed(&texts.standalone) {
            Ok(v) => v,
            Err(e) => {
                // No vector, no L3 answer; the lookup itself still succeeds.
                resp.l3_result = Some(L3Result {
                    skipped: Some(e.to_string()),
                    ..L3Result::default()
                });
                return Ok(());
            }
        };
        // A threshold the request names is kept even for a retyped request.
        let floor = match req.threshold {
            Some(t) => t,
            None => l3::SURFACE_FLOOR.min(threshold),
        };
        let outcome = self.l3.lookup(
            scope,
            &texts.exact,
            &texts.compare,
            &vector,
            threshold,
            floor,
        )?;
        let elapsed = t.elapsed();
        m.lookups.fetch_add(1, Relaxed);
        m.latency.record(elapsed.as_nanos() as u64);
        let ms = elapsed.as_secs_f64() * 1e3;
        let explain = |d: &l3::Decision| L3Result {
            threshold: Some(d.gate),
            lookup_time_ms: Some(ms),
            decision: Some(d.outcome),
            candidates_judged: Some(d.judged),
            candidate_entry_id: d.candidate.map(scope::entry_id),
            verifier_score: d.verifier_score,
            verifier_threshold: d.verifier_threshold,
            feedback_veto: d.feedback_veto,
            ..L3Result::default()
        };
        let (hit, decision) = match outcome {
            L3Outcome::Miss(d) => {
                resp.l3_result = Some(L3Result {
                    best_similarity: Some(d.best),
                    guard_veto: Some(d.guard_veto),
                    ..explain(&d)
                });
                return Ok(());
            }
            L3Outcome::Hit(hit, d) => (hit, d),
        };
        m.hits.fetch_add(1, Relaxed);
        m.similarity_sum_micro
            .fetch_add((hit.similarity * 1e6) as u64, Relaxed);
        let now = now_ms();
        let id = scope::entry_id(hit.key);
        resp.l3_result = Some(L3Result {
            hit: true,
            entry_id: Some(id.clone()),
            similarity: Some(hit.similarity),
            age_seconds: Some(now.saturating_sub(hit.created_ms) as f64 / 1e3),
            ttl_remaining_seconds: Some(hit.expires_ms.saturating_sub(now) as f64 / 1e3),
            model_used: Some(hit.model),
            ..explain(&decision)
        });
        resp.hit = true;
        resp.layer = Some(LayerId::L3);
        resp.cached_response = Some(hit.response);
        resp.confidence = hit.similarity;
        resp.entry_id = Some(Arc::from(id));
        resp.tokens_saved = hit.tokens;
        resp.cost_saved = hit.cost_nano as f64 / 1e9;
        Ok(())
    }

    /// Applies a verdict on a served hit: the entry stops answering that
    /// request (and requests as far from it); an answer reported wrong for
    /// its own text is removed from L2 and L3.
    pub fn feedback(&self, req: &Feedback) -> Result<FeedbackReport, CacheError> {
        self.settings.limits.check_input(&req.input)?;
        let id = scope::entry_id(req.entry_key);
        let wrong = req.verdict == Verdict::Wrong;
        // A vector of the request, to raise the entry's threshold above it.
        // Embedding may be slow (a remote API): done before the write gate,
        // as in `store`, so a waiting backup never holds writers behind it.
        let query = match wrong {
            true => self.l3.embed(&req.input).ok(),
            false => None,
        };
        let _gate = self.write_gate.read();
        let in_l2 = self
            .l2
            .entry_input(req.entry_key)?
            .is_some_and(|text| text == req.input);
        let l3 = self
            .l3
            .feedback(req.entry_key, &req.input, query.as_deref(), wrong)?;
        let mut action = match l3 {
            Some(l3::FeedbackAction::Tightened { min_similarity }) => {
                ("entry_threshold_raised", Some(min_similarity))
            }
            Some(l3::FeedbackAction::Removed) => ("entry_removed", None),
            Some(l3::FeedbackAction::Recorded) => ("recorded", None),
            None if in_l2 => ("recorded", None),
            None => {
                return Err(CacheError::NotFound(format!(
                    "no L2 or L3 entry {id}; it may have expired or been invalidated"
                )))
            }
        };
        if wrong && in_l2 {
            // The cached answer is wrong for its own text: L2 must not serve it either.
            let filter = layer::InvalidateFilter {
                entry_key: Some(req.entry_key),
                ..Default::default()
            };
            self.l2.invalidate(&filter)?;
            self.l3.invalidate(&filter)?;
            action = ("entry_removed", None);
        }
        if wrong {
            self.metrics
                .layer(LayerId::L3)
                .invalidations
                .fetch_add((action.0 == "entry_removed") as u64, Relaxed);
        }
        Ok(FeedbackReport {
            success: true,
            entry_id: id,
            verdict: req.verdict.as_str(),
            action: action.0,
            entry_threshold: action.1,
        })
    }

    /// Stores a response in every eligible layer it names, atomically.
    /// May wait: on an embedder, on a flush to disk (`sync` durability) or
    /// on a backup holding the write gate; an async worker calls
    /// [`CacheManager::try_store_now`] first.
    pub fn store(&self, req: &Store) -> Result<StoreReport, CacheError> {
        self.store_gated(req, |gate| Some(gate.read()))?
            .ok_or_else(|| CacheError::Unavailable("the write gate was not taken".into()))
    }

    /// The same store, done now when it cannot wait on anything slow: it
    /// writes no L3 vector (no embedding, no graph insert) and no L1 state
    /// for a system prompt (no token count of a long prompt), durability is
    /// `interval` (the batch goes to sled's buffers, not to disk) and no
    /// backup holds the write gate. `None` (nothing written) when it could
    /// wait: then [`CacheManager::store`], off the workers. An L2-only store
    /// so skips two thread hand-offs (BENCHMARKS.md, "where an L2 store's
    /// time goes").
    pub fn try_store_now(&self, req: &Store) -> Option<Result<StoreReport, CacheError>> {
        let l1 = req.layers.l1 && req.scope.system_prompt.is_some();
        if req.layers.l3 || l1 || self.storage.durability() == Durability::Sync {
            return None;
        }
        self.store_gated(req, |gate| gate.try_read()).transpose()
    }

    /// The store, with the write gate taken by `gate` once the request is
    /// checked and embedded; `Ok(None)`, nothing written, when `gate` gives
    /// no guard.
    fn store_gated<'a>(
        &'a self,
        req: &Store,
        gate: impl FnOnce(&'a parking_lot::RwLock<()>) -> Option<parking_lot::RwLockReadGuard<'a, ()>>,
    ) -> Result<Option<StoreReport>, CacheError> {
        self.settings
            .limits
            .check_request(&req.input, req.conversation.as_ref())?;
        self.settings.limits.check_response(&req.response)?;
        req.check_layers()?;
        let model = req
            .model
            .clone()
            .unwrap_or_else(|| self.settings.default_model.clone());
        let namespace = &req.scope.namespace;
        let l1_plan = self.l1.plan(
            req.layers.l1,
            namespace,
            &model,
            req.scope.system_prompt.as_deref(),
            req.cache_ttl,
            req.system_prompt_tokens,
            req.usage.as_ref(),
        );
        let spec = self.settings.prices.get(&model);
        let (tokens, cost_nano) = call_cost(spec, req.tokens_used, req.usage.as_ref());
        let scope = req.scope.scope();
        let texts = RequestTexts::new(
            &req.input,
            req.conversation.as_ref(),
            self.l3.chat_settings(),
        );
        let key = scope.entry_key(&texts.exact);

        let mut skipped = BTreeMap::new();
        // Embedding may be slow (a remote API): done before any lock, and
        // before the write gate, so a backup waiting for the gate never
        // holds up unrelated stores behind a slow embedder.
        let l3_vector = match req.layers.l3.then(|| self.l3.embed(&texts.standalone)) {
            Some(Ok(v)) => Some(v),
            Some(Err(e)) => {
                skipped.insert(LayerId::L3.wire_name(), e.to_string());
                None
            }
            None => None,
        };
        let Some(_gate) = gate(&self.write_gate) else {
            return Ok(None);
        };
        let mut layers_stored = Vec::new();
        {
            let _guard = self.locks.lock(key);
            // L1's own stripes, always taken after the entry lock.
            let _l1_guard = l1_plan.as_ref().map(|p| self.l1.lock(p));
            let now = now_ms();
            let mut batch = WriteBatch::default();
            let staged_l1 = l1_plan
                .as_ref()
                .map(|p| self.l1.stage(p, now, &mut batch))
                .transpose()?;
            let w = EntryWrite {
                scope: &scope,
                input: &texts.exact,
                response: &req.response,
                model: &model,
                tokens,
                cost_nano,
                ttl_seconds: self.l2.effective_ttl(req.ttl_seconds),
            };
            let staged_l2 = match req.layers.l2 {
                true => Some(self.l2.stage(&w, now, &mut batch)?),
                false => None,
            };
            let staged_l3 = match l3_vector {
                Some(vector) => {
                    let w = EntryWrite {
                        ttl_seconds: self.l3.effective_ttl(req.ttl_seconds),
                        ..w
                    };
                    Some(self.l3.stage(&w, &texts.compare, vector, now, &mut batch)?)
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
        for (id, evicted) in [
            (LayerId::L1, self.l1.enforce_bounds()?),
            (LayerId::L2, self.l2.enforce_bounds()?),
            (LayerId::L3, self.l3.enforce_bounds()?),
        ] {
            self.metrics.layer(id).evictions.fetch_add(evicted, Relaxed);
        }
        Ok(Some(StoreReport {
            success: true,
            layers_stored,
            entry_id: scope::entry_id(key),
            skipped,
        }))
    }

    /// Removes entries by layer / namespace / task type / entry id.
    pub fn invalidate(&self, req: &Invalidate) -> Result<InvalidateReport, CacheError> {
        let _gate = self.write_gate.read();
        let mut counts = BTreeMap::new();
        let mut total = 0;
        for id in LayerId::ALL {
            if req.layer.is_some_and(|o| o != id) {
                continue;
            }
            let n = self.layer(id).invalidate(&req.filter)?;
            self.metrics.layer(id).invalidations.fetch_add(n, Relaxed);
            counts.insert(id.wire_name(), n);
            total += n;
        }
        Ok(InvalidateReport {
            success: true,
            invalidated: counts,
            total_invalidated: total,
        })
    }

    /// One layer's counters and state.
    pub fn layer_report(&self, id: LayerId) -> LayerReport {
        let m = self.metrics.layer(id);
        let layer = self.layer(id);
        let size = layer.size();
        let l1 = id == LayerId::L1;
        LayerReport {
            layer: id,
            available: true,
            lookups: m.lookups.load(Relaxed),
            hits: m.hits.load(Relaxed),
            misses: m.misses(),
            hit_rate: m.hit_rate(),
            stores: m.stores.load(Relaxed),
            evictions: m.evictions.load(Relaxed),
            expirations: m.expirations.load(Relaxed),
            invalidations: m.invalidations.load(Relaxed),
            average_hit_similarity: ratio(
                m.similarity_sum_micro.load(Relaxed),
                m.hits.load(Relaxed),
            ) / 1e6,
            entries: size.entries,
            bytes: size.bytes,
            latency_ms: latency(&m.latency),
            details: Some(layer.details()),
            l1_prediction_accuracy: l1.then(|| l1::prediction_accuracy(&self.metrics)),
            l1_predictions: l1.then(|| self.metrics.l1_predictions.load(Relaxed)),
            l1_predictions_correct: l1.then(|| self.metrics.l1_predictions_correct.load(Relaxed)),
        }
    }

    fn entries(&self, id: LayerId) -> u64 {
        self.layer(id).size().entries
    }

    /// `GET /metrics`.
    pub fn metrics_report(&self) -> MetricsReport {
        let m = &self.metrics;
        let total = m.total_lookups.load(Relaxed);
        let hits = |id| m.layer(id).hits.load(Relaxed);
        MetricsReport {
            total_lookups: total,
            total_hits: m.total_hits.load(Relaxed),
            total_stores: m.total_stores.load(Relaxed),
            overall_hit_rate: ratio(m.total_hits.load(Relaxed), total),
            l1_hit_rate: ratio(hits(LayerId::L1), total),
            l2_hit_rate: ratio(hits(LayerId::L2), total),
            l3_hit_rate: ratio(hits(LayerId::L3), total),
            total_tokens_saved: m.tokens_saved.load(Relaxed),
            total_cost_saved: m.cost_saved_nano.load(Relaxed) as f64 / 1e9,
            l1_entries: self.entries(LayerId::L1),
            l2_entries: self.entries(LayerId::L2),
            l3_entries: self.entries(LayerId::L3),
            lookup_latency_ms: latency(&m.lookup_latency),
            layers: LayerId::ALL
                .into_iter()
                .map(|id| (id.wire_name(), self.layer_report(id)))
                .collect(),
            l1_prediction_accuracy: l1::prediction_accuracy(m),
            l1_predictions: m.l1_predictions.load(Relaxed),
            l1_predictions_correct: m.l1_predictions_correct.load(Relaxed),
            l1_savings: self.l1.savings(),
            l3_trust: self.l3.trust(),
            gateway: self.gateway_report(),
        }
    }

    /// The gateway's counters.
    pub fn gateway_report(&self) -> GatewayReport {
        let g = &self.metrics.gateway;
        GatewayReport {
            requests: g.requests.load(Relaxed),
            hits_l2: g.hits_l2.load(Relaxed),
            hits_l3: g.hits_l3.load(Relaxed),
            misses: g.misses.load(Relaxed),
            passthrough: g.passthrough.load(Relaxed),
            stores: g.stores.load(Relaxed),
            upstream_errors: g.upstream_errors.load(Relaxed),
            client_disconnects: g.client_disconnects.load(Relaxed),
            upstream_latency_ms: latency(&g.upstream_latency),
            upstream_calls: g.upstream_latency.count(),
            tokens_saved: g.tokens_saved.load(Relaxed),
            cost_saved_dollars: g.cost_saved_nano.load(Relaxed) as f64 / 1e9,
            prompt_cache_read_tokens: g.prompt_cache_read_tokens.load(Relaxed),
            prompt_cache_write_tokens: g.prompt_cache_write_tokens.load(Relaxed),
            breakpoints_placed: g.breakpoints_placed.load(Relaxed),
        }
    }

    /// Seconds since the cache was opened.
    pub fn uptime_seconds(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    /// `GET /health`.
    pub fn health(&self) -> HealthReport {
        let layers: BTreeMap<&'static str, LayerHealth> = LayerId::ALL
            .into_iter()
            .map(|id| (id.wire_name(), self.layer(id).health()))
            .collect();
        let readable = self.storage.readable();
        let problem = self.storage.problem();
        let storage_ok = readable && problem.is_none();
        HealthReport {
            status: if storage_ok { "healthy" } else { "degraded" },
            uptime_seconds: self.uptime_seconds(),
            version: env!("CARGO_PKG_VERSION"),
            layers,
            storage: StorageHealth {
                status: match (readable, &problem) {
                    (false, _) => "unavailable",
                    (true, Some(_)) => "degraded",
                    (true, None) => "healthy",
                },
                writable: problem.is_none(),
                detail: problem,
                engine: "sled",
                data_dir: self.storage.dir().display().to_string(),
                size_on_disk_bytes: self.storage.size_on_disk(),
                durability: self.storage.durability().as_str(),
            },
        }
    }

    /// `GET /summary`.
    pub fn summary(&self) -> SummaryReport {
        let metrics = self.metrics_report();
        let s = metrics.l1_savings;
        SummaryReport {
            metrics: SummaryMetrics {
                savings: SavingsSummary {
                    total_tokens_saved: metrics.total_tokens_saved,
                    total_cost_saved_dollars: metrics.total_cost_saved,
                    l1_cost_saved_dollars: s.l1_cost_saved,
                    l1_cache_write_cost_dollars: s.l1_cache_write_cost,
                    l1_net_saved_dollars: s.l1_net_saved,
                },
                storage: EntriesSummary {
                    L1_entries: metrics.l1_entries,
                    L2_entries: metrics.l2_entries,
                    L3_entries: metrics.l3_entries,
                },
                metrics,
            },
            health: self.health(),
        }
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
        if let Err(e) = self.storage.meta_put(COUNTERS_KEY, self.metrics.to_bytes()) {
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
    /// empty, under the backup root, outside the data directory). Writes
    /// wait while it runs; lookups go on.
    pub fn backup(&self, to: &std::path::Path) -> Result<BackupReport, CacheError> {
        let invalid = |e: String| CacheError::invalid("invalid_backup_target", e);
        let to = backup::resolve_target(to).map_err(invalid)?;
        backup::check_under_root(&to, &self.settings.backup_root).map_err(invalid)?;
        backup::check_target(&to, self.storage.dir()).map_err(invalid)?;
        let _gate = self.write_gate.write();
        self.persist_inner();
        let report = backup::copy_database(&self.storage, &to).map_err(CacheError::Unavailable)?;
        if let Err(e) = self.l3.save_index_to(&to.join("l3-index")) {
            tracing::warn!("backup: the L3 index was not saved (a restore rebuilds it): {e}");
        }
        if let Err(e) = backup::write_state(&to, report.records) {
            tracing::warn!("backup: {e}");
        }
        tracing::info!(
            "backup of {} records written to {}",
            report.records,
            to.display()
        );
        Ok(report)
    }

    /// Saves the L3 index graphs that changed since the last save (the
    /// periodic saver); writes and lookups go on meanwhile.
    pub fn save_index(&self) {
        if let Err(e) = self.l3.checkpoint_index() {
            tracing::warn!("saving the L3 index failed (the last saved one stays): {e}");
        }
    }

    /// Persists everything and flushes to disk; called at shutdown.
    pub fn shutdown(&self) -> Result<(), CacheError> {
        if let Err(e) = self.l3.save_index() {
            tracing::warn!("saving the L3 index failed (it will be rebuilt at start): {e}");
        }
        self.persist();
        Ok(self.storage.flush()?)
    }
}

#[cfg(test)]
mod store_now_tests {
    use super::request::{Layers, ScopeFields};
    use super::*;
    use crate::config::{DurabilityArg, Options};
    use serde_json::value::RawValue;

    fn open(dir: &std::path::Path, durability: DurabilityArg) -> CacheManager {
        let settings = Options {
            data_dir: Some(dir.to_path_buf()),
            durability: Some(durability),
            ..Options::default()
        }
        .resolve()
        .unwrap()
        .cache;
        CacheManager::open(settings).unwrap()
    }

    fn request(text: &str, l3: bool) -> Store {
        let scope = ScopeFields {
            namespace: "now".into(),
            task_type: "general".into(),
            system_prompt: None,
        };
        let response = RawValue::from_string(r#"{"answer":42}"#.into()).unwrap();
        let mut s = Store::new(scope, text.into(), response.into()).unwrap();
        s.layers = Layers::from_flags(Some(false), None, Some(l3));
        s
    }

    #[test]
    fn only_a_store_that_cannot_wait_is_done_now() {
        let dir = tempfile::tempdir().unwrap();
        let mgr = open(dir.path(), DurabilityArg::Interval);
        // L2 only, interval durability, no backup: done now, and stored.
        let r = mgr.try_store_now(&request("what is the refund policy?", false));
        let report = r.expect("done now").unwrap();
        assert_eq!(report.layers_stored, vec![LayerId::L2]);
        assert_eq!(mgr.layer(LayerId::L2).size().entries, 1);
        // An L3 vector means embedding and a graph insert: not now.
        assert!(mgr
            .try_store_now(&request("a semantic store", true))
            .is_none());
        // A backup holding the write gate: not now, and nothing written.
        {
            let _backup = mgr.write_gate.write();
            assert!(mgr
                .try_store_now(&request("during a backup", false))
                .is_none());
        }
        assert_eq!(mgr.layer(LayerId::L2).size().entries, 1);
        // A bad request is refused now, as the waiting path refuses it.
        let mut bad = request("empty answer", false);
        bad.layers = Layers::from_flags(Some(false), Some(false), Some(false));
        let now = mgr.try_store_now(&bad).map(|r| r.map_err(|e| e.code()));
        let waited = mgr.store(&bad).map_err(|e| e.code());
        assert_eq!(now.expect("checked now").err(), waited.err());
        drop(mgr);
        // `sync` durability waits for the disk: never on a worker.
        let dir = tempfile::tempdir().unwrap();
        let mgr = open(dir.path(), DurabilityArg::Sync);
        assert!(mgr
            .try_store_now(&request("what is the refund policy?", false))
            .is_none());
        assert!(mgr
            .store(&request("what is the refund policy?", false))
            .is_ok());
    }
}
