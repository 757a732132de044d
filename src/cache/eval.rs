//! `helios-cache eval`: measures L3's accuracy on labelled text pairs
//! (JSONL lines `{"a": .., "b": .., "label": 0|1}`, optionally gzipped).
//!
//! Two modes. *Pairwise*: each pair is a prediction "same if cosine ≥ t (and
//! the guard allows it)"; reports precision, recall, F1 and false-hit rate at
//! the threshold and over a sweep. *Replay*: stores every `a` through a real
//! cache in a scratch data directory, then looks up every `b` through the
//! real waterfall, counting correct hits, wrong hits and misses.
//!
//! *Conversations* (`--mode conversation`): pairs of message lists
//! (`{"a": [messages], "b": [messages], "label": 0|1}`); each pair is
//! replayed in its own namespace, sent as `messages` or as one of the two
//! baselines (the last message only, the pasted transcript), and reported as
//! the share of should-hit pairs served and of traps served a wrong answer.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::l3::{ChatSettings, Guard};
use super::layer::LayerId;
use super::metrics::ratio;
use super::request::{
    Conversation, Layers, Lookup, RawBlock, RawContent, RawMessage, ScopeFields, Store,
};
use super::{CacheManager, CacheSettings};
use crate::embed::{dot, Embedder};

/// One labelled pair.
#[derive(Debug, Deserialize)]
pub struct Pair {
    pub a: String,
    pub b: String,
    pub label: u8,
    /// `train`, `dev` or `test`, when the file says.
    #[serde(default)]
    pub split: Option<String>,
}

/// Opens a text file for reading lines, decompressing it when its name
/// ends in `.gz` (the shared eval sets ship both ways).
pub fn open_lines(path: &Path) -> Result<Box<dyn BufRead>, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(if path.extension().is_some_and(|e| e == "gz") {
        Box::new(BufReader::new(flate2::read::GzDecoder::new(file)))
    } else {
        Box::new(BufReader::new(file))
    })
}

/// Reads a JSONL pair file (`.gz` is decompressed).
pub fn read_pairs(path: &Path, limit: Option<usize>) -> Result<Vec<Pair>, String> {
    let mut pairs = Vec::new();
    for (n, line) in open_lines(path)?.lines().enumerate() {
        let line = line.map_err(|e| format!("{}: {e}", path.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        let p: Pair = serde_json::from_str(&line)
            .map_err(|e| format!("{} line {}: {e}", path.display(), n + 1))?;
        pairs.push(p);
        if limit.is_some_and(|l| pairs.len() >= l) {
            break;
        }
    }
    Ok(pairs)
}

/// Confusion counts at one threshold.
#[derive(Default, Clone, Copy)]
struct Counts {
    tp: u64,
    fp: u64,
    fn_: u64,
    tn: u64,
}

/// Precision, recall and F1 at one threshold.
#[derive(Debug, Clone, Serialize)]
pub struct Scores {
    pub threshold: f64,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub false_hit_rate: f64,
    pub tp: u64,
    pub fp: u64,
    #[serde(rename = "fn")]
    pub fn_: u64,
    pub tn: u64,
}

impl Counts {
    fn add(&mut self, predicted: bool, label: bool) {
        match (predicted, label) {
            (true, true) => self.tp += 1,
            (true, false) => self.fp += 1,
            (false, true) => self.fn_ += 1,
            (false, false) => self.tn += 1,
        }
    }

    fn scores(&self, t: f64) -> Scores {
        let p = ratio(self.tp, self.tp + self.fp);
        let r = ratio(self.tp, self.tp + self.fn_);
        let f1 = if p + r > 0.0 {
            2.0 * p * r / (p + r)
        } else {
            0.0
        };
        Scores {
            threshold: (t * 100.0).round() / 100.0,
            precision: p,
            recall: r,
            f1,
            false_hit_rate: ratio(self.fp, self.fp + self.tn),
            tp: self.tp,
            fp: self.fp,
            fn_: self.fn_,
            tn: self.tn,
        }
    }
}

/// Pairwise results: at the threshold and over a sweep, with and without the guard.
#[derive(Debug, Clone, Serialize)]
pub struct PairwiseReport {
    pub pairs: usize,
    pub positives: usize,
    pub unrepresentable_pairs: u64,
    pub at_threshold: Scores,
    pub at_threshold_guarded: Scores,
    pub sweep: Vec<Scores>,
    pub sweep_guarded: Vec<Scores>,
}

impl PairwiseReport {
    fn best(sweep: &[Scores]) -> Option<&Scores> {
        sweep.iter().max_by(|x, y| x.f1.total_cmp(&y.f1))
    }
}

/// Pairwise evaluation: scores at `threshold` and a sweep, with and without the guard.
pub fn pairwise(
    embedder: &dyn Embedder,
    guard: Guard,
    pairs: &[Pair],
    threshold: f64,
) -> PairwiseReport {
    let steps: Vec<f64> = (50..=99).map(|i| i as f64 / 100.0).collect();
    let mut plain = vec![Counts::default(); steps.len()];
    let mut guarded = vec![Counts::default(); steps.len()];
    let (mut at, mut at_guarded) = (Counts::default(), Counts::default());
    let mut refused = 0u64;
    for p in pairs {
        let sim = match (embedder.embed(&p.a), embedder.embed(&p.b)) {
            (Ok(a), Ok(b)) => dot(&a, &b) as f64,
            _ => {
                refused += 1;
                f64::NEG_INFINITY
            }
        };
        let label = p.label == 1;
        let allowed = guard.veto(&p.b, &p.a).is_none();
        for (i, t) in steps.iter().enumerate() {
            plain[i].add(sim >= *t, label);
            guarded[i].add(sim >= *t && allowed, label);
        }
        at.add(sim >= threshold, label);
        at_guarded.add(sim >= threshold && allowed, label);
    }
    PairwiseReport {
        pairs: pairs.len(),
        positives: pairs.iter().filter(|p| p.label == 1).count(),
        unrepresentable_pairs: refused,
        at_threshold: at.scores(threshold),
        at_threshold_guarded: at_guarded.scores(threshold),
        sweep: steps
            .iter()
            .zip(&plain)
            .map(|(t, c)| c.scores(*t))
            .collect(),
        sweep_guarded: steps
            .iter()
            .zip(&guarded)
            .map(|(t, c)| c.scores(*t))
            .collect(),
    }
}

/// A scratch data directory removed on drop.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn scope() -> ScopeFields {
    ScopeFields {
        namespace: super::scope::DEFAULT_NAMESPACE.into(),
        task_type: "eval".into(),
        system_prompt: None,
    }
}

fn store_req(text: &str, id: usize) -> Result<Store, String> {
    let response = RawValue::from_string(format!("{{\"a\":{id}}}")).map_err(|e| e.to_string())?;
    let mut s =
        Store::new(scope(), text.to_string(), response.into()).map_err(|e| e.to_string())?;
    s.layers = Layers::from_flags(Some(false), None, None);
    Ok(s)
}

fn lookup_req(text: &str, threshold: Option<f64>) -> Result<Lookup, String> {
    let mut l = Lookup::new(scope(), text.to_string()).map_err(|e| e.to_string())?;
    l.layers = Layers::from_flags(Some(false), None, None);
    l.threshold = threshold;
    Ok(l)
}

/// A cache in a scratch directory, removed when dropped.
fn scratch_cache(settings: &CacheSettings) -> Result<(Scratch, CacheManager), String> {
    let dir = std::env::temp_dir().join(format!(
        "helios-eval-{}-{}",
        std::process::id(),
        crate::clock::now_ms()
    ));
    let scratch = Scratch(dir.clone());
    let mut s = settings.clone();
    s.store.data_dir = dir;
    let mgr = CacheManager::open(s).map_err(|e| e.to_string())?;
    Ok((scratch, mgr))
}

/// Isolated replay results: each pair alone in its own namespace.
#[derive(Debug, Clone, Serialize)]
pub struct IsolatedReport {
    /// `None`: the server's default threshold (and verifier) decided.
    pub threshold: Option<f64>,
    pub pairs: usize,
    /// Label-1 pairs served / missed.
    pub served: u64,
    pub missed: u64,
    /// Label-0 pairs served (a wrong answer) / refused.
    pub wrong: u64,
    pub refused: u64,
    /// served / (served + wrong): how often a served hit was right.
    pub precision: f64,
    /// served / (served + missed).
    pub recall: f64,
    /// wrong / (wrong + refused): the share of traps that got a wrong answer.
    pub wrong_rate: f64,
}

/// One line of [`isolated`]'s decisions file.
#[derive(Serialize)]
struct PairDecision<'a> {
    label: u8,
    a: &'a str,
    b: &'a str,
    hit: bool,
    l3_result: Option<&'a super::report::L3Result>,
}

/// Isolated replay: for each pair, `a` is stored in a namespace of its own
/// and `b` looked up there through the real waterfall (L2 and L3, as an API
/// user would), so pairs never answer each other.
/// With `decisions`, one JSON line per pair (`label`, `a`, `b`, `hit`, and
/// the lookup's `l3_result`) is written to it: why each pair was served or
/// refused, for finding what a change moved.
pub fn isolated(
    settings: &CacheSettings,
    pairs: &[Pair],
    threshold: Option<f64>,
    mut decisions: Option<&mut dyn std::io::Write>,
) -> Result<IsolatedReport, String> {
    let (_scratch, mgr) = scratch_cache(settings)?;
    let (mut served, mut missed, mut wrong, mut refused) = (0u64, 0u64, 0u64, 0u64);
    for (i, p) in pairs.iter().enumerate() {
        let mut scope = scope();
        scope.namespace = format!("pair-{i}");
        let mut store = store_req(&p.a, i)?;
        store.scope = scope.clone();
        mgr.store(&store).map_err(|e| e.to_string())?;
        let mut lookup = lookup_req(&p.b, threshold)?;
        lookup.scope = scope;
        let report = mgr.lookup(&lookup).map_err(|e| e.to_string())?;
        let hit = report.hit;
        if let Some(out) = decisions.as_mut() {
            let line = PairDecision {
                label: p.label,
                a: &p.a,
                b: &p.b,
                hit,
                l3_result: report.l3_result.as_ref(),
            };
            let line = serde_json::to_string(&line).map_err(|e| e.to_string())?;
            writeln!(out, "{line}").map_err(|e| e.to_string())?;
        }
        match (p.label == 1, hit) {
            (true, true) => served += 1,
            (true, false) => missed += 1,
            (false, true) => wrong += 1,
            (false, false) => refused += 1,
        }
    }
    mgr.shutdown().map_err(|e| e.to_string())?;
    Ok(IsolatedReport {
        threshold,
        pairs: pairs.len(),
        served,
        missed,
        wrong,
        refused,
        precision: ratio(served, served + wrong),
        recall: ratio(served, served + missed),
        wrong_rate: ratio(wrong, wrong + refused),
    })
}

/// Outcome counts of a replay. Positives: the hit is `b`'s own `a`
/// (correct), another entry (wrong), or nothing (miss). Negatives: a hit on
/// the pair's own `a` is a false hit; a hit on another entry cannot be judged
/// from the labels.
#[derive(Default)]
struct ReplayCounts {
    correct: u64,
    wrong: u64,
    miss: u64,
    false_hit: u64,
    correct_miss: u64,
    unjudged: u64,
    exact_repeats: u64,
}

/// Cache replay through a real cache: store every `a`, look up every `b`.
pub fn replay(
    settings: &CacheSettings,
    pairs: &[Pair],
    threshold: Option<f64>,
) -> Result<ReplayReport, String> {
    let (_scratch, mgr) = scratch_cache(settings)?;
    // Identical `a` texts share one entry: remember the first id of each.
    let mut first_id = std::collections::HashMap::new();
    for (i, p) in pairs.iter().enumerate() {
        let id = *first_id.entry(p.a.as_str()).or_insert(i);
        if id == i {
            mgr.store(&store_req(&p.a, i)?).map_err(|e| e.to_string())?;
        }
    }
    let text_of: std::collections::HashMap<usize, &str> =
        first_id.iter().map(|(t, id)| (*id, *t)).collect();
    let mut c = ReplayCounts::default();
    for p in pairs {
        let expected = first_id[p.a.as_str()];
        let r = mgr
            .lookup(&lookup_req(&p.b, threshold)?)
            .map_err(|e| e.to_string())?;
        let got = r
            .cached_response
            .as_ref()
            .and_then(|raw| serde_json::from_str::<serde_json::Value>(raw.get()).ok())
            .and_then(|v| v["a"].as_u64())
            .map(|id| id as usize);
        // A hit on an entry stored for exactly this text is an exact repeat
        // (the `b` of one pair is the `a` of another): right by definition.
        let exact = got.is_some_and(|id| id != expected && text_of.get(&id) == Some(&p.b.as_str()));
        match (p.label == 1, got) {
            (_, Some(_)) if exact => c.exact_repeats += 1,
            (true, Some(id)) if id == expected => c.correct += 1,
            (true, Some(_)) => c.wrong += 1,
            (true, None) => c.miss += 1,
            (false, Some(id)) if id == expected => c.false_hit += 1,
            (false, Some(_)) => c.unjudged += 1,
            (false, None) => c.correct_miss += 1,
        }
    }
    mgr.shutdown().map_err(|e| e.to_string())?;
    Ok(ReplayReport {
        threshold,
        stored: first_id.len(),
        positives: ReplayPositives {
            correct_hits: c.correct,
            wrong_hits: c.wrong,
            misses: c.miss,
        },
        negatives: ReplayNegatives {
            false_hits: c.false_hit,
            correct_misses: c.correct_miss,
            hits_on_other_entries_unjudged: c.unjudged,
        },
        exact_repeats: c.exact_repeats,
    })
}

/// Replay results.
#[derive(Debug, Clone, Serialize)]
pub struct ReplayReport {
    pub threshold: Option<f64>,
    pub stored: usize,
    pub positives: ReplayPositives,
    pub negatives: ReplayNegatives,
    pub exact_repeats: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReplayPositives {
    pub correct_hits: u64,
    pub wrong_hits: u64,
    pub misses: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReplayNegatives {
    pub false_hits: u64,
    pub correct_misses: u64,
    pub hits_on_other_entries_unjudged: u64,
}

/// Prints a short human table of an evaluation.
pub fn print_report(
    name: &str,
    pairwise: Option<&PairwiseReport>,
    replay: Option<&ReplayReport>,
    isolated: Option<&IsolatedReport>,
) {
    println!("== {name}");
    if let Some(p) = pairwise {
        let row = |label: &str, v: Option<&Scores>| {
            let Some(v) = v else { return };
            println!(
                "{label:<22} t={:.2} P={:.3} R={:.3} F1={:.3} false-hit-rate={:.3}",
                v.threshold, v.precision, v.recall, v.f1, v.false_hit_rate
            )
        };
        println!(
            "pairs {} (positives {}), unrepresentable {}",
            p.pairs, p.positives, p.unrepresentable_pairs
        );
        row("at threshold", Some(&p.at_threshold));
        row("at threshold + guard", Some(&p.at_threshold_guarded));
        row("best F1", PairwiseReport::best(&p.sweep));
        row("best F1 + guard", PairwiseReport::best(&p.sweep_guarded));
    }
    if let Some(r) = replay {
        println!(
            "replay t={:?}: stored {}, positives: correct {} wrong {} miss {}; negatives: false hits {} correct misses {} other-entry hits {}; exact repeats {}",
            r.threshold, r.stored, r.positives.correct_hits, r.positives.wrong_hits,
            r.positives.misses, r.negatives.false_hits, r.negatives.correct_misses,
            r.negatives.hits_on_other_entries_unjudged, r.exact_repeats
        );
    }
    if let Some(r) = isolated {
        println!(
            "isolated t={:?}: {} pairs; should-hit served {} missed {} (recall {:.3}); traps wrong {} refused {} (wrong rate {:.3}); precision {:.3}",
            r.threshold, r.pairs, r.served, r.missed, r.recall, r.wrong, r.refused, r.wrong_rate, r.precision
        );
    }
}

// ---------------------------------------------------------------------------
// Conversations (issue 11): pairs of message lists.

/// One message of a conversation pair file.
#[derive(Debug, Clone, Deserialize)]
pub struct PairMessage {
    pub role: String,
    /// A string or an array of content blocks.
    pub content: serde_json::Value,
}

/// One labelled pair of conversations: label 1 when the answer cached for
/// `a` is a right answer for `b`.
#[derive(Debug, Clone, Deserialize)]
pub struct ChatPair {
    pub a: Vec<PairMessage>,
    pub b: Vec<PairMessage>,
    pub label: u8,
    #[serde(default)]
    pub lang: Option<String>,
    #[serde(default)]
    pub split: Option<String>,
    #[serde(default)]
    pub category: Option<String>,
    #[serde(default)]
    pub id: Option<String>,
}

/// Reads a JSONL file of conversation pairs, keeping those of `split`.
pub fn read_chat_pairs(path: &Path, split: Option<&str>) -> Result<Vec<ChatPair>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let p: ChatPair = serde_json::from_str(line)
            .map_err(|e| format!("{} line {}: {e}", path.display(), n + 1))?;
        if split.is_none_or(|s| p.split.as_deref() == Some(s)) {
            out.push(p);
        }
    }
    Ok(out)
}

/// How a conversation is sent to the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChatAs {
    /// `messages`: the whole conversation (what issue 11 built).
    Messages,
    /// Baseline: `input_text` = the final user turn only.
    LastMessage,
    /// Baseline: `input_text` = the whole transcript pasted as one text.
    Transcript,
}

impl ChatAs {
    pub fn parse(s: &str) -> Result<ChatAs, String> {
        match s {
            "messages" => Ok(ChatAs::Messages),
            "last_message" | "last" => Ok(ChatAs::LastMessage),
            "transcript" => Ok(ChatAs::Transcript),
            other => Err(format!(
                "unknown representation {other:?}; use messages, last_message or transcript"
            )),
        }
    }
}

fn raw_message(m: &PairMessage) -> RawMessage {
    use serde_json::Value;
    let content = match &m.content {
        Value::String(t) => RawContent::Text(t.clone()),
        Value::Array(blocks) => RawContent::Blocks(
            blocks
                .iter()
                .map(|b| match (b["type"].as_str(), b["text"].as_str()) {
                    (Some("text"), Some(t)) => RawBlock::Text(t.to_string()),
                    (Some(_), _) => RawBlock::Other,
                    _ => RawBlock::Invalid("not a content block".into()),
                })
                .collect(),
        ),
        other => RawContent::Invalid(other.to_string()),
    };
    RawMessage {
        role: Some(m.role.clone()),
        content,
    }
}

/// The conversation, its request text and scope, as `how` sends it.
fn chat_request(
    msgs: &[PairMessage],
    how: ChatAs,
    namespace: &str,
) -> Result<(ScopeFields, String, Option<Conversation>), String> {
    let raw = msgs.iter().map(raw_message).collect();
    let conv = Conversation::new(raw, usize::MAX).map_err(|e| e.to_string())?;
    let scope = ScopeFields::new(
        Some(namespace),
        Some("eval"),
        conv.system().map(str::to_string),
    )
    .map_err(|e| e.to_string())?;
    Ok(match how {
        ChatAs::Messages => (scope, conv.final_text().to_string(), Some(conv)),
        ChatAs::LastMessage => (scope, conv.final_text().to_string(), None),
        ChatAs::Transcript => {
            let text = conv
                .turns()
                .iter()
                .map(|t| format!("{}: {}", t.role.as_str(), t.text))
                .collect::<Vec<_>>()
                .join("\n");
            (scope, text, None)
        }
    })
}

/// Served and wrong counts of one group of conversation pairs.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ChatCounts {
    /// Label-1 pairs (the cached answer is right).
    pub should_hit: u64,
    /// Label-1 pairs answered from the cache.
    pub served: u64,
    pub served_l2: u64,
    pub served_l3: u64,
    /// Label-0 pairs (the cached answer would be wrong).
    pub traps: u64,
    /// Label-0 pairs answered from the cache: a wrong answer served.
    pub wrong: u64,
    pub wrong_l2: u64,
    pub wrong_l3: u64,
    /// `served / should_hit`.
    pub served_rate: f64,
    /// `wrong / traps`.
    pub wrong_rate: f64,
}

impl ChatCounts {
    fn add(&mut self, label: u8, layer: Option<LayerId>) {
        let (l2, l3) = (layer == Some(LayerId::L2), layer == Some(LayerId::L3));
        if label == 1 {
            self.should_hit += 1;
            self.served += u64::from(layer.is_some());
            self.served_l2 += u64::from(l2);
            self.served_l3 += u64::from(l3);
        } else {
            self.traps += 1;
            self.wrong += u64::from(layer.is_some());
            self.wrong_l2 += u64::from(l2);
            self.wrong_l3 += u64::from(l3);
        }
        self.served_rate = ratio(self.served, self.should_hit);
        self.wrong_rate = ratio(self.wrong, self.traps);
    }
}

/// Results of a conversation replay.
#[derive(Debug, Clone, Serialize)]
pub struct ChatReplayReport {
    pub sent_as: ChatAs,
    /// `None`: the cache's own thresholds decided (per script for chats).
    pub threshold: Option<f64>,
    pub pairs: usize,
    pub all: ChatCounts,
    /// By `lang` (`-` when absent).
    pub by_lang: std::collections::BTreeMap<String, ChatCounts>,
    /// By `category` (`-` when absent).
    pub by_category: std::collections::BTreeMap<String, ChatCounts>,
    /// Ids of the pairs decided wrongly (missed should-hits, served traps).
    pub errors: Vec<String>,
}

/// Conversation replay through a real cache: each pair gets its own
/// namespace (so pairs never answer each other); `a` is stored, `b` looked
/// up through the whole waterfall.
/// One line of [`chat_replay`]'s decisions file.
#[derive(Serialize)]
struct ChatDecision<'a> {
    id: Option<&'a str>,
    category: Option<&'a str>,
    label: u8,
    hit: bool,
    l3_result: Option<&'a super::report::L3Result>,
}

/// With `decisions`, one JSON line per pair (`id`, `category`, `label`,
/// `hit` and the lookup's `l3_result`) is written to it.
pub fn chat_replay(
    settings: &CacheSettings,
    pairs: &[ChatPair],
    how: ChatAs,
    threshold: Option<f64>,
    mut decisions: Option<&mut dyn std::io::Write>,
) -> Result<ChatReplayReport, String> {
    let dir = std::env::temp_dir().join(format!(
        "helios-eval-chat-{}-{}",
        std::process::id(),
        crate::clock::now_ms()
    ));
    let _scratch = Scratch(dir.clone());
    let mut s = settings.clone();
    s.store.data_dir = dir;
    let mgr = CacheManager::open(s).map_err(|e| e.to_string())?;
    let mut report = ChatReplayReport {
        sent_as: how,
        threshold,
        pairs: pairs.len(),
        all: ChatCounts::default(),
        by_lang: Default::default(),
        by_category: Default::default(),
        errors: Vec::new(),
    };
    for (i, p) in pairs.iter().enumerate() {
        let ns = format!("pair-{i}");
        let (scope, input, conversation) = chat_request(&p.a, how, &ns)?;
        let response =
            RawValue::from_string(format!("{{\"a\":{i}}}")).map_err(|e| e.to_string())?;
        let mut store = Store::new(scope, input, response.into()).map_err(|e| e.to_string())?;
        store.conversation = conversation;
        store.layers = Layers::from_flags(Some(false), None, None);
        mgr.store(&store).map_err(|e| e.to_string())?;
        let (scope, input, conversation) = chat_request(&p.b, how, &ns)?;
        let mut lookup = Lookup::new(scope, input).map_err(|e| e.to_string())?;
        lookup.conversation = conversation;
        lookup.layers = Layers::from_flags(Some(false), None, None);
        lookup.threshold = threshold;
        let r = mgr.lookup(&lookup).map_err(|e| e.to_string())?;
        if let Some(out) = decisions.as_mut() {
            let line = ChatDecision {
                id: p.id.as_deref(),
                category: p.category.as_deref(),
                label: p.label,
                hit: r.hit,
                l3_result: r.l3_result.as_ref(),
            };
            let line = serde_json::to_string(&line).map_err(|e| e.to_string())?;
            writeln!(out, "{line}").map_err(|e| e.to_string())?;
        }
        let layer = r.hit.then_some(r.layer).flatten();
        report.all.add(p.label, layer);
        let lang = p.lang.clone().unwrap_or_else(|| "-".into());
        report.by_lang.entry(lang).or_default().add(p.label, layer);
        let cat = p.category.clone().unwrap_or_else(|| "-".into());
        report
            .by_category
            .entry(cat)
            .or_default()
            .add(p.label, layer);
        if (p.label == 1) != layer.is_some() {
            report
                .errors
                .push(p.id.clone().unwrap_or_else(|| format!("line-{}", i + 1)));
        }
    }
    mgr.shutdown().map_err(|e| e.to_string())?;
    Ok(report)
}

/// One point of a conversation sweep.
#[derive(Debug, Clone, Serialize)]
pub struct ChatSweepPoint {
    pub threshold: f64,
    pub final_threshold: f64,
    pub by_lang: std::collections::BTreeMap<String, ChatCounts>,
}

/// Sweeps the L3 threshold and the chat final threshold for conversations
/// sent as `messages`, deciding each pair as the cache does (exact
/// whole-chat repeat; else standalone cosine ≥ t, the context guard, the
/// final requests' similarity ≥ the final threshold and, with a verifier,
/// its verdict on the final requests when their words differ), without a
/// cache. For tuning.
pub fn chat_sweep(
    embedder: &dyn Embedder,
    guard: Guard,
    chat: &ChatSettings,
    verifier: Option<&super::l3::Verifier>,
    pairs: &[ChatPair],
) -> Result<Vec<ChatSweepPoint>, String> {
    use super::l3::context;
    let mut points: Vec<ChatSweepPoint> = Vec::new();
    for t in (80..=98).step_by(2) {
        for tf in (40..=90).step_by(5) {
            points.push(ChatSweepPoint {
                threshold: t as f64 / 100.0,
                final_threshold: tf as f64 / 100.0,
                by_lang: Default::default(),
            });
        }
    }
    for p in pairs {
        let (_, _, ca) = chat_request(&p.a, ChatAs::Messages, "x")?;
        let (_, _, cb) = chat_request(&p.b, ChatAs::Messages, "x")?;
        let (ca, cb) = (ca.expect("messages"), cb.expect("messages"));
        let (ta, tb) = (
            context::context_turns(&ca.user_texts()),
            context::context_turns(&cb.user_texts()),
        );
        let exact = ca.canonical() == cb.canonical() && ca.system() == cb.system();
        let emb = |t: &str| embedder.embed(t).ok();
        let vectors = (
            emb(&context::standalone(&ta, chat.window)),
            emb(&context::standalone(&tb, chat.window)),
            emb(ca.final_text()),
            emb(cb.final_text()),
        );
        let (sim, fsim) = match vectors {
            (Some(sa), Some(sb), Some(fa), Some(fb)) => {
                let fsim = match ta.len() > 1 || tb.len() > 1 {
                    true => context::final_similarity(&fb, &fa, &sb, &sa),
                    false => f64::INFINITY,
                };
                (dot(&sa, &sb) as f64, fsim)
            }
            _ => (f64::NEG_INFINITY, f64::NEG_INFINITY),
        };
        let (qf, cf) = (cb.final_text(), ca.final_text());
        let verified = super::l3::surface::same_request(qf, cf)
            || verifier.is_none_or(|v| v.score(qf, cf) >= v.threshold_for(qf));
        let allowed = verified && context::veto(&guard, chat, &tb, &ta).is_none();
        let lang = p.lang.clone().unwrap_or_else(|| "-".into());
        for point in points.iter_mut() {
            let layer = if exact {
                Some(LayerId::L2)
            } else if sim >= point.threshold && allowed && fsim >= point.final_threshold {
                Some(LayerId::L3)
            } else {
                None
            };
            point
                .by_lang
                .entry(lang.clone())
                .or_default()
                .add(p.label, layer);
        }
    }
    Ok(points)
}

/// Prints a conversation replay as a short table.
pub fn print_chat_report(name: &str, r: &ChatReplayReport) {
    let t = r
        .threshold
        .map_or_else(|| "default".to_string(), |t| format!("{t:.2}"));
    println!(
        "== {name}: sent as {:?}, t={t}, {} pairs",
        r.sent_as, r.pairs
    );
    let row = |label: &str, c: &ChatCounts| {
        println!(
            "{label:<32} should-hit served {:>3}/{:<3} ({:>5.1}%, L2 {} L3 {})   traps wrong {:>3}/{:<3} ({:>5.1}%, L2 {} L3 {})",
            c.served, c.should_hit, 100.0 * c.served_rate, c.served_l2, c.served_l3,
            c.wrong, c.traps, 100.0 * c.wrong_rate, c.wrong_l2, c.wrong_l3
        )
    };
    row("all", &r.all);
    for (k, c) in &r.by_lang {
        row(&format!("lang {k}"), c);
    }
    for (k, c) in &r.by_category {
        row(&format!("category {k}"), c);
    }
}
