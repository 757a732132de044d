//! Reworded requests: two English requests that say the same thing in
//! other words, told apart from a near-duplicate with one word changed.
//!
//! The traps a cache must refuse are small edits: one content word replaced
//! (another product, action or place), one or two added (a narrower scope),
//! or the same words in another order (swapped arguments). A real rewording
//! replaces several words on both sides ("How do I set the similarity
//! threshold?" / "What's the way to configure the cutoff for matching?").
//! The pair verifier is trained to refuse the first kind and refuses most of
//! the second kind too; this rule names the second kind by its shape, so
//! that a candidate the embedder already scores as very close (its own
//! threshold, well above the gate) may be served as a rewording.
//!
//! Two requests are reworded when, after courtesies, articles, request
//! frames and closed-class words are set aside, each has at least
//! [`MIN_REWORDED`] content words the other lacks (a word counts as present
//! when the other has it, its inflection, its WordNet synonym or a typing
//! slip of it), the names agree (the guard's reading: a capitalised word
//! inside a sentence, an acronym) and every code identifier ("data_files",
//! "extract()", anything in backticks) is in both. English only: a request
//! with any word outside ASCII is never reworded here.

use super::super::guard;
use super::{is_function_word, one_slip, slip_to_non_word, synonyms, Request};

/// Content words each side must have that the other lacks.
pub const MIN_REWORDED: usize = 2;

/// Whether `a` and `b` are the same request reworded (see the module docs).
/// The cosine that makes the pair a candidate is the caller's to check.
pub fn reworded(a: &str, b: &str) -> bool {
    Request::new(a).reworded_as(&Request::new(b))
}

impl Request<'_> {
    /// [`reworded`] of the two requests, each read once.
    pub fn reworded_as(&self, other: &Request) -> bool {
        let (ca, cb) = (self.content(), other.content());
        if ca.is_empty() || cb.is_empty() || !names_shared(self.text, other.text) {
            return false;
        }
        let ascii = |ws: &[&String]| ws.iter().all(|w| w.is_ascii());
        if !ascii(&ca) || !ascii(&cb) {
            return false;
        }
        unmatched(&ca, &cb) >= MIN_REWORDED && unmatched(&cb, &ca) >= MIN_REWORDED
    }

    /// The request's content words: its words less closed-class words.
    fn content(&self) -> Vec<&String> {
        self.words.iter().filter(|w| !is_function_word(w)).collect()
    }
}

/// How many words of `xs` have no counterpart in `ys`.
fn unmatched(xs: &[&String], ys: &[&String]) -> usize {
    xs.iter()
        .filter(|x| !ys.iter().any(|y| same_word(x, y)))
        .count()
}

/// The same word, an inflection of it ("cancelled" / "cancel"), a plural
/// or possessive of it ("wife" / "wifes"), its synonym or a slip of it.
fn same_word(x: &str, y: &str) -> bool {
    if x == y || synonyms(x, y) || slip_to_non_word(x, y) {
        return true;
    }
    let (cx, cy): (Vec<char>, Vec<char>) = (x.chars().collect(), y.chars().collect());
    if one_slip(&cx, &cy) {
        return true;
    }
    // A plural or possessive (apostrophes are dropped: "wifes").
    let plural = |a: &str, b: &str| a.strip_suffix('s') == Some(b);
    plural(x, y) || plural(y, x) || base(x) == base(y)
}

/// A word without a regular ending ("cancelled" → "cancel", "boxes" →
/// "box", "settings" → "setting" → "sett"); short words are kept.
fn base(w: &str) -> &str {
    let once = |w: &str| -> Option<usize> {
        ["ing", "ed", "es", "s", "ly"]
            .iter()
            .find(|suffix| w.len() >= suffix.len() + 3 && w.ends_with(*suffix))
            .map(|suffix| w.len() - suffix.len())
    };
    let mut end = w.len();
    for _ in 0..2 {
        match once(&w[..end]) {
            Some(e) => end = e,
            None => break,
        }
    }
    let stem = &w[..end];
    // "cancelled" → "cancel".
    match stem.strip_suffix('l') {
        Some(s) if end < w.len() && s.ends_with('l') => s,
        _ => stem,
    }
}

/// Whether the names of the two texts agree ([`guard::names_agree`]) and
/// every code identifier of one is one of the other's, letter for letter.
fn names_shared(a: &str, b: &str) -> bool {
    let (ia, ib) = (identifiers(a), identifiers(b));
    let tokens = |text: &str| -> Vec<String> { code_tokens(text).map(str::to_lowercase).collect() };
    let (ta, tb) = (tokens(a), tokens(b));
    guard::names_agree(a, b)
        && ia.iter().all(|i| tb.contains(i))
        && ib.iter().all(|i| ta.contains(i))
}

/// A text's tokens with the characters code names keep ("load_dataset",
/// "to_tf_dataset", "data.files"), split at everything else.
fn code_tokens(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '.'))
        .map(|t| t.trim_matches('.'))
        .filter(|t| !t.is_empty())
}

/// Code identifiers in a text, lower-cased: a token with an underscore
/// ("data_files"), one followed by "()" ("extract()"), or one between
/// backticks ("`column`"). Another identifier is another API.
fn identifiers(text: &str) -> Vec<String> {
    let mut out: Vec<String> = code_tokens(text)
        .filter(|t| t.contains('_'))
        .map(str::to_lowercase)
        .collect();
    let mut rest = text;
    while let Some(at) = rest.find("()") {
        let before = &rest[..at];
        if let Some(t) = code_tokens(before).last().filter(|t| before.ends_with(t)) {
            out.push(t.to_lowercase());
        }
        rest = &rest[at + 2..];
    }
    for (i, span) in text.split('`').enumerate() {
        if i % 2 == 1 {
            out.extend(code_tokens(span).map(str::to_lowercase));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn several_words_replaced_on_both_sides_is_a_rewording() {
        for (a, b) in [
            (
                "How do I set the similarity threshold in GPTCache?",
                "What is the way to configure the cutoff for matching in GPTCache?",
            ),
            (
                "Why was my card declined at checkout?",
                "My card got rejected when paying, what's the reason?",
            ),
            (
                "Can I bring my dog on the plane?",
                "Am I allowed to travel with my pet pooch in the cabin?",
            ),
        ] {
            assert!(reworded(a, b), "{a} / {b}");
            assert!(reworded(b, a), "{b} / {a}");
        }
    }

    #[test]
    fn a_small_edit_a_name_or_korean_is_not() {
        for (a, b) in [
            // One word replaced: the trap shape.
            ("How do I cancel my order?", "How do I pause my order?"),
            // Words added: a narrower scope.
            (
                "How do I reset my password?",
                "How do I reset my password on the mobile app today?",
            ),
            // The same words in another order.
            (
                "Can I transfer money from savings to checking?",
                "Can I transfer money from checking to savings?",
            ),
            // Another name, however reworded.
            (
                "What are the free coworking spaces in NYC?",
                "Which coworking places in Boston cost nothing to use?",
            ),
            // Another API, however reworded.
            (
                "The `column` method selects a column by its name or numeric index.",
                "A column can be chosen by name or by number with the `columns` function.",
            ),
            (
                "Which parameters does as_dataset() take, and what do they do?",
                "What arguments can be passed to download_and_prepare(), and their effect?",
            ),
            (
                "Autism: how relevant is the quote to people today?",
                "Schizophrenia: how relevant is the quote to people today?",
            ),
            // A possessive is the same word: one word replaced on each side.
            (
                "How do I add my wife as a joint holder on my account?",
                "How do I become a joint holder on my wife's account?",
            ),
            // The same text is not a rewording (it is the same request).
            ("How do I cancel my order?", "How do I cancel my order?"),
            ("환불은 어떻게 받나요?", "돈을 돌려받는 방법이 궁금해요"),
            ("", "How do I cancel?"),
        ] {
            assert!(!reworded(a, b), "{a} / {b}");
            assert!(!reworded(b, a), "{b} / {a}");
        }
    }
}
