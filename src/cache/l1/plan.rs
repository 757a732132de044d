//! A store's L1 part in three steps: `plan` (validate and compute, before
//! any lock), `stage` (add the write to the store's batch, under the prefix
//! lock) and `commit` (after the batch is applied: memo, counters,
//! prediction check).

use std::sync::atomic::Ordering::Relaxed;

use parking_lot::MutexGuard;

use super::savings::{read_saving, write_premium};
use super::{
    count_key, model_family, prefix_key, CacheAction, L1Record, TokenCount, TokenSource, L1,
};
use crate::cache::metrics::Metrics;
use crate::cache::pricing::{nano, ModelSpec};
use crate::cache::records::{self, Staged};
use crate::cache::request::{CacheTtl, Usage};
use crate::cache::scope::prompt_fingerprint;
use crate::error::CacheError;
use crate::store::{decode, encode, WriteBatch};

/// A validated L1 write, computed before any lock is taken.
#[derive(Debug, Clone)]
pub struct L1Plan {
    key: u128,
    count_key: u128,
    namespace: String,
    model: String,
    spec: ModelSpec,
    prompt_fp: u128,
    /// The best count known before this call (used for the prediction).
    known: TokenCount,
    ttl: CacheTtl,
    usage: Option<Usage>,
}

impl L1Plan {
    pub fn key(&self) -> u128 {
        self.key
    }
}

/// A write added to a batch but not yet applied.
pub struct L1Staged {
    count_key: u128,
    /// The record after the write; `None` when the prefix is now cold.
    record: Option<L1Record>,
    staged: Staged,
    count: TokenCount,
    predicted: CacheAction,
    actual: Option<CacheAction>,
    corrected: bool,
    saved_nano: u64,
    premium_nano: u64,
    tokens_read: u64,
    tokens_written: u64,
}

impl L1 {
    /// Computes what the L1 part of a store would write (its fields are
    /// already checked). `None` when L1 has nothing to do.
    #[allow(clippy::too_many_arguments)]
    pub fn plan(
        &self,
        wanted: bool,
        namespace: &str,
        model: &str,
        system_prompt: Option<&str>,
        ttl: CacheTtl,
        system_prompt_tokens: Option<u64>,
        usage: Option<&Usage>,
    ) -> Option<L1Plan> {
        let prompt = system_prompt.filter(|p| !p.is_empty())?;
        if !wanted {
            return None;
        }
        let fp = prompt_fingerprint(Some(prompt));
        let (family, spec) = model_family(&self.prices, model);
        let key = prefix_key(namespace, &family, fp);
        let ckey = count_key(&family, fp);
        let record = self.live_record(key, namespace, &family, fp, crate::clock::now_ms());
        let mut known = self.known_count(ckey, prompt, record.as_ref().map(|r| &r.0));
        if let Some(t) = system_prompt_tokens {
            if known.source <= TokenSource::Caller {
                known = TokenCount {
                    tokens: t,
                    source: TokenSource::Caller,
                };
            }
        }
        Some(L1Plan {
            key,
            count_key: ckey,
            namespace: namespace.to_string(),
            model: family,
            spec: spec.clone(),
            prompt_fp: fp,
            known,
            ttl,
            usage: usage.copied(),
        })
    }

    /// Takes the lock of the plan's prefix. Take it after the entry lock.
    pub fn lock(&self, plan: &L1Plan) -> MutexGuard<'_, ()> {
        self.records.locks().lock(plan.key)
    }

    /// Adds the write to `batch`. The caller holds [`L1::lock`] until
    /// [`L1::commit`] has run.
    pub fn stage(
        &self,
        plan: &L1Plan,
        now: u64,
        batch: &mut WriteBatch,
    ) -> Result<L1Staged, CacheError> {
        let old = self.stored(plan.key)?;
        let live = old.as_ref().filter(|(r, _)| {
            r.expires_ms > now
                && r.prompt_fp == plan.prompt_fp
                && r.model == plan.model
                && r.namespace == plan.namespace
        });
        let min = plan.spec.min_cache_tokens;
        let predicted = if live.is_some() {
            CacheAction::Read
        } else if plan.known.tokens >= min {
            CacheAction::Write
        } else {
            CacheAction::None
        };
        let actual = plan.usage.as_ref().map(CacheAction::from_usage);
        let mut count = plan.known;
        let mut corrected = false;
        if let Some(u) = &plan.usage {
            let (read, written) = (u.cache_read_input_tokens, u.cache_creation_input_tokens);
            let reported = if read > 0 {
                Some(read)
            } else if written > 0 {
                Some(written)
            } else if (u.input_tokens) < min && count.tokens >= min {
                // Nothing cached and the whole input is below the minimum:
                // the prefix is shorter than we thought.
                Some(u.input_tokens)
            } else {
                None
            };
            if let Some(t) = reported {
                corrected = t != count.tokens || count.source != TokenSource::Usage;
                count = TokenCount {
                    tokens: t,
                    source: TokenSource::Usage,
                };
            }
        }
        let action = actual.unwrap_or(predicted);
        let warm_after = match actual {
            Some(a) => a != CacheAction::None,
            None => count.tokens >= min,
        };
        // Savings: the reported numbers when given, the prediction otherwise.
        let (tokens_read, tokens_written) = match &plan.usage {
            Some(u) => (u.cache_read_input_tokens, u.cache_creation_input_tokens),
            None => match action {
                CacheAction::Read => (count.tokens, 0),
                CacheAction::Write => (0, count.tokens),
                CacheAction::None => (0, 0),
            },
        };
        let saved_nano = nano(read_saving(&plan.spec, tokens_read));
        let premium_nano = nano(write_premium(&plan.spec, tokens_written, plan.ttl));

        let (record, staged) = if warm_after {
            let live = live.map(|(r, _)| r);
            let ttl = match live {
                Some(r) if r.ttl == CacheTtl::OneHour => CacheTtl::OneHour,
                _ => plan.ttl,
            };
            let expires_ms = now.saturating_add(self.ttl_ms(ttl));
            let rec = L1Record {
                namespace: plan.namespace.clone(),
                model: plan.model.clone(),
                prompt_fp: plan.prompt_fp,
                tokens: count.tokens,
                source: count.source,
                ttl,
                warm_since_ms: live.map(|r| r.warm_since_ms).unwrap_or(now),
                last_used_ms: now,
                expires_ms,
                uses: live.map(|r| r.uses + 1).unwrap_or(1),
            };
            let staged = self
                .records
                .stage(plan.key, expires_ms, &encode(&rec), batch)?;
            (Some(rec), staged)
        } else {
            (None, self.records.stage_remove(plan.key, batch)?)
        };
        Ok(L1Staged {
            count_key: plan.count_key,
            record,
            staged,
            count,
            predicted,
            actual,
            corrected,
            saved_nano,
            premium_nano,
            tokens_read,
            tokens_written,
        })
    }

    /// (record, size) currently stored under `key`, live or not.
    pub(super) fn stored(&self, key: u128) -> Result<Option<(L1Record, u64)>, CacheError> {
        let Some(value) = self.records.get(key)? else {
            return Ok(None);
        };
        let rec = records::split(&value).and_then(|(_, p)| decode::<L1Record>(p));
        Ok(rec.map(|r| (r, value.len() as u64)))
    }

    /// Makes an applied write visible in memory and in the counters; counts
    /// the prediction when the store carried usage. Returns whether the
    /// prefix is now marked warm (L1 stored it).
    pub fn commit(&self, s: L1Staged, metrics: &Metrics) -> bool {
        self.records.commit(s.staged);
        if s.count.source != TokenSource::Estimate {
            let keep = self
                .counts
                .get(&s.count_key)
                .is_some_and(|c| c.source > s.count.source);
            if !keep {
                self.counts.insert(s.count_key, s.count);
            }
        }
        if let Some(actual) = s.actual {
            metrics.l1_predictions.fetch_add(1, Relaxed);
            if actual == s.predicted {
                metrics.l1_predictions_correct.fetch_add(1, Relaxed);
            }
            self.counters.from_usage.fetch_add(1, Relaxed);
        }
        if s.corrected {
            self.counters.usage_corrections.fetch_add(1, Relaxed);
        }
        let c = &self.counters;
        if s.tokens_read > 0 {
            c.reads.fetch_add(1, Relaxed);
            c.tokens_read.fetch_add(s.tokens_read, Relaxed);
        }
        if s.tokens_written > 0 {
            c.writes.fetch_add(1, Relaxed);
            c.tokens_written.fetch_add(s.tokens_written, Relaxed);
        }
        c.saved_nano.fetch_add(s.saved_nano, Relaxed);
        c.write_premium_nano.fetch_add(s.premium_nano, Relaxed);
        s.record.is_some()
    }
}
