//! Outcome feedback: a caller tells the cache that a served L3 hit was wrong
//! (or right), and the entry that answered learns from it.
//!
//! A wrong verdict does two things to that entry (vCache's idea of per-entry
//! acceptance, in its simplest form): the exact request text is never served
//! by it again, and the entry's own similarity bar rises just above the
//! similarity at which it was wrongly served, so requests as far from it as
//! that one, or farther, miss too. A right verdict is counted and lifts a
//! block on that text. Verdicts are kept in sled beside the entry and go
//! when it goes.

use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_64;

/// Texts one entry remembers as wrongly answered (oldest dropped beyond it).
const MAX_BLOCKED: usize = 64;
/// How far above the wrong hit's similarity the entry's bar goes.
const MARGIN: f64 = 1e-4;

/// What feedback taught one entry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EntryFeedback {
    /// Hashes of normalised request texts this entry must not answer.
    pub blocked: Vec<u64>,
    /// The similarity a request needs to be answered by this entry (0: no
    /// bar of its own beyond the layer's).
    pub min_similarity: f64,
    pub wrong: u64,
    pub right: u64,
}

/// The hash a request text is remembered by: trimmed, lower-cased,
/// whitespace collapsed, so trivial variants of a reported text stay blocked.
pub fn text_hash(text: &str) -> u64 {
    let norm: Vec<String> = text.split_whitespace().map(str::to_lowercase).collect();
    xxh3_64(norm.join(" ").as_bytes())
}

impl EntryFeedback {
    /// Records a wrong answer to `text`, served at `similarity`.
    pub fn wrong(&mut self, text: &str, similarity: f64) {
        let h = text_hash(text);
        if !self.blocked.contains(&h) {
            if self.blocked.len() >= MAX_BLOCKED {
                self.blocked.remove(0);
            }
            self.blocked.push(h);
        }
        self.min_similarity = self.min_similarity.max((similarity + MARGIN).min(1.0));
        self.wrong += 1;
    }

    /// Records a right answer to `text`.
    pub fn right(&mut self, text: &str) {
        let h = text_hash(text);
        self.blocked.retain(|b| *b != h);
        self.right += 1;
    }

    /// Why this entry must not answer `text` at `similarity`, if it must not.
    pub fn veto(&self, text: &str, similarity: f64) -> Option<&'static str> {
        if self.blocked.contains(&text_hash(text)) {
            return Some("reported wrong for this request");
        }
        if similarity < self.min_similarity {
            return Some("below this entry's threshold, raised by feedback");
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wrong_verdict_blocks_the_text_and_raises_the_bar() {
        let mut f = EntryFeedback::default();
        assert_eq!(f.veto("capital of Austria", 0.9), None);
        f.wrong("capital of Austria", 0.9);
        assert!(f.veto("Capital  of austria", 0.99).is_some(), "same text");
        assert!(
            f.veto("what is Austria's capital", 0.85).is_some(),
            "farther"
        );
        assert_eq!(f.veto("what is the capital of Australia", 0.95), None);
        f.right("capital of Austria");
        assert_eq!(f.veto("capital of Austria", 0.95), None);
        assert_eq!((f.wrong, f.right), (1, 1));
    }

    #[test]
    fn blocked_texts_are_bounded() {
        let mut f = EntryFeedback::default();
        for i in 0..200 {
            f.wrong(&format!("text {i}"), 0.5);
        }
        assert_eq!(f.blocked.len(), MAX_BLOCKED);
        assert!(f.veto("text 199", 0.99).is_some());
    }
}
