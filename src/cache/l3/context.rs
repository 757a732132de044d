//! Chat context for L3: what a conversation's request means, as text L3 can
//! embed and compare, and the guard that keeps a cached answer from being
//! served in another context.
//!
//! A chat's final user turn ("cancel it") means little alone; the earlier
//! user turns say what it is about. L3 therefore embeds a *standalone* text:
//! the final turn with the user turns just before it (the salient context;
//! assistant turns mostly echo the user's facts and add wording noise). The
//! stored entry keeps every user turn, so that a candidate found by the
//! embedding is then checked by the *context guard*: the facts the answer
//! depends on (numbers, names, negation, opposite words, the checks of
//! [`Guard`]) must agree between the whole of one chat and a recent part
//! (a suffix of user turns) of the other. A suffix, because history before
//! the current subject (greetings, a resolved side question, a subject the
//! user left) does not change what the final request means, while a
//! different subject, a changed detail or a flipped intent in the current
//! part does. A plain `input_text` is a chat of one user turn.

use super::guard::{names_agree, Guard};
use super::verify::has_hangul;

/// Marks a stored compare text that holds a chat's user turns.
const MARK: &str = "\u{0}chat-turns/1\u{0}";
/// Separates the user turns inside a stored compare text.
const SEP: char = '\u{1e}';
/// Joins turns for the guard: the lone "." makes the next turn's first word
/// a sentence start, so that a capital there is not taken for a name.
const JOIN: &str = "\n.\n";

/// How chats are represented and compared.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChatSettings {
    /// User turns before the final one that go into the standalone text.
    pub window: usize,
    /// Names (capitalised words, acronyms) must agree between the contexts.
    pub names: bool,
    /// Cosine of the standalone texts a chat lookup needs (unless the
    /// request names a `similarity_threshold`).
    pub threshold: f64,
    /// The same for chats whose standalone text has Hangul: the static
    /// embedder packs Korean texts of one domain into a narrower band of
    /// cosines than English ones, so the same precision needs a higher cut
    /// (calibrated on the conversation set's dev split, as the verifier's
    /// `threshold_hangul` is on the Korean question sets).
    pub threshold_hangul: f64,
    /// Cosine the final requests need between chats (see [`final_similarity`]).
    pub final_threshold: f64,
}

impl Default for ChatSettings {
    fn default() -> ChatSettings {
        ChatSettings {
            window: 3,
            names: true,
            threshold: 0.92,
            threshold_hangul: 0.98,
            final_threshold: 0.60,
        }
    }
}

impl ChatSettings {
    /// The standalone-cosine threshold for a chat whose standalone text is
    /// `standalone`.
    pub fn threshold_for(&self, standalone: &str) -> f64 {
        match has_hangul(standalone) {
            true => self.threshold_hangul,
            false => self.threshold,
        }
    }
}

/// The text L3 stores and compares for a request: the text itself for one
/// turn, otherwise every user turn (final last) behind a marker.
pub fn compare_text(user_turns: &[&str]) -> String {
    match user_turns {
        [one] => one.to_string(),
        turns => {
            let mut out = String::from(MARK);
            for (i, t) in turns.iter().enumerate() {
                if i > 0 {
                    out.push(SEP);
                }
                out.extend(t.chars().map(|c| if c == SEP { ' ' } else { c }));
            }
            out
        }
    }
}

/// The user turns of a stored compare text (a plain text is one turn).
pub fn turns(compare: &str) -> Vec<&str> {
    match compare.strip_prefix(MARK) {
        Some(rest) => rest.split(SEP).collect(),
        None => vec![compare],
    }
}

/// The standalone text of a request: the last `window` user turns before
/// the final one, then the final one, one per line. What L3 embeds.
/// The user turns that carry the request's context: every turn but
/// small talk ("hi", "ok sorry, back", "got it, thanks": turns that
/// [`super::surface::says_nothing`]), and always the final request. Two
/// chats that differ only in small talk then compare as the same chat.
pub fn context_turns<'a>(user_turns: &[&'a str]) -> Vec<&'a str> {
    let n = user_turns.len();
    user_turns
        .iter()
        .enumerate()
        .filter(|&(i, t)| i + 1 == n || !super::surface::says_nothing(t))
        .map(|(_, t)| *t)
        .collect()
}

pub fn standalone(user_turns: &[&str], window: usize) -> String {
    let n = user_turns.len();
    let from = n.saturating_sub(window + 1);
    user_turns[from..].join("\n")
}

/// How much the final requests of two chats mean the same, whichever way
/// each is phrased: the best cosine of final turn to final turn, or of one
/// chat's final turn to the other's standalone text (a request asked in one
/// self-contained turn against the same request asked as "do I need one?"
/// after the context). The standalone texts alone cannot tell "cancel it"
/// from "can I pause it?" after the same long context.
pub fn final_similarity(
    query_final: &[f32],
    cached_final: &[f32],
    query_standalone: &[f32],
    cached_standalone: &[f32],
) -> f64 {
    use crate::embed::dot;
    let a = dot(query_final, cached_final);
    let b = dot(query_final, cached_standalone);
    let c = dot(query_standalone, cached_final);
    a.max(b).max(c) as f64
}

/// Whether the checks of `guard` (and names, if asked) pass between `a` and `b`.
fn agree(guard: &Guard, names: bool, a: &str, b: &str) -> bool {
    guard.veto(a, b).is_none() && (!names || names_agree(a, b))
}

/// Why the answer cached for the chat `cached` must not be served for the
/// chat `query` (user turns, final last), or `None`.
///
/// Two single turns get the plain guard. Otherwise the facts of one whole
/// chat must agree with those of a suffix of the other's user turns, at
/// least as long as the standalone window.
pub fn veto(
    guard: &Guard,
    settings: &ChatSettings,
    query: &[&str],
    cached: &[&str],
) -> Option<&'static str> {
    if query.len() <= 1 && cached.len() <= 1 {
        let (q, c) = (query.first().copied(), cached.first().copied());
        return guard.veto(q.unwrap_or(""), c.unwrap_or(""));
    }
    let whole_q = query.join(JOIN);
    let whole_c = cached.join(JOIN);
    // A suffix holds at least the turns the standalone text holds, or as
    // many as the whole chat it is compared with if that is shorter: a short
    // suffix says nothing (no negation in "show me the code" is no
    // evidence), while a suffix longer than the other chat reaches back
    // into history the other never had (a side question, a left subject).
    let shortest = |whole_len: usize, other: &[&str]| {
        (settings.window + 1).min(whole_len).min(other.len()).max(1)
    };
    let suffix_agrees = |whole: &str, whole_len: usize, other: &[&str]| {
        (shortest(whole_len, other)..=other.len()).any(|k| {
            let part = other[other.len() - k..].join(JOIN);
            agree(guard, settings.names, whole, &part)
        })
    };
    if suffix_agrees(&whole_q, query.len(), cached) || suffix_agrees(&whole_c, cached.len(), query)
    {
        None
    } else {
        Some("context differs")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const G: Guard = Guard {
        numbers: true,
        negation: true,
        antonyms: true,
        entities: false,
    };

    #[test]
    fn compare_texts_round_trip_and_plain_text_is_one_turn() {
        assert_eq!(compare_text(&["hello"]), "hello");
        assert_eq!(turns("hello"), vec!["hello"]);
        let c = compare_text(&["my StreamMax plan", "cancel it"]);
        assert_eq!(turns(&c), vec!["my StreamMax plan", "cancel it"]);
        let odd = compare_text(&["a\u{1e}b", "c"]);
        assert_eq!(turns(&odd), vec!["a b", "c"]);
    }

    #[test]
    fn small_talk_turns_are_left_out_of_the_context_but_never_the_request() {
        let turns = [
            "hi",
            "My blender broke.",
            "ok sorry, back",
            "got it, thanks",
        ];
        assert_eq!(
            context_turns(&turns),
            vec!["My blender broke.", "got it, thanks"]
        );
        assert_eq!(context_turns(&["hi"]), vec!["hi"]);
    }

    #[test]
    fn standalone_keeps_the_final_turn_and_the_window_before_it() {
        let t = ["hi", "my plan is StreamMax", "I barely use it", "cancel it"];
        assert_eq!(standalone(&t, 0), "cancel it");
        assert_eq!(
            standalone(&t, 2),
            "my plan is StreamMax\nI barely use it\ncancel it"
        );
        assert_eq!(standalone(&t, 9), t.join("\n"));
    }

    #[test]
    fn hangul_chats_get_their_own_threshold() {
        let s = ChatSettings::default();
        assert_eq!(s.threshold_for("cancel it"), s.threshold);
        assert_eq!(s.threshold_for("구독 취소\n취소해 줘"), s.threshold_hangul);
    }

    #[test]
    fn another_subject_detail_or_intent_is_vetoed() {
        let s = ChatSettings::default();
        let streaming = ["I have a StreamMax Premium plan.", "cancel it"];
        let gym = ["It's about my FitHub membership.", "cancel it"];
        assert_eq!(veto(&G, &s, &streaming, &gym), Some("context differs"));
        let a = ["A 12-month contract.", "cancel it"];
        let b = ["A 6-month contract.", "cancel it"];
        assert!(veto(&G, &s, &a, &b).is_some());
        let keep = ["I need to keep the order.", "show me the code"];
        let dont = ["I don't need to keep the order.", "show me the code"];
        assert!(veto(&G, &s, &keep, &dont).is_some());
    }

    #[test]
    fn a_side_question_before_a_short_chat_does_not_veto() {
        // The default window (3) is longer than the stored chat: the suffix
        // compared with it is as long as it, not as long as the window, so
        // the side question before the subject is not part of it.
        let s = ChatSettings::default();
        let short = [
            "My home internet has the 1 TB data cap on the Fiber 300 plan.",
            "I'd rather be throttled than pay extra.",
            "what happens if I go over?",
        ];
        let long = [
            "who wrote Pride and Prejudice?",
            "My home internet has the 1 TB data cap on the Fiber 300 plan.",
            "I'd rather be throttled than pay extra.",
            "what happens if I go over?",
        ];
        assert_eq!(veto(&G, &s, &long, &short), None);
        assert_eq!(veto(&G, &s, &short, &long), None);
        // Another plan in the same place is still another context.
        let other = [
            "who wrote Pride and Prejudice?",
            "My home internet has the 2 TB data cap on the Fiber 500 plan.",
            "I'd rather be throttled than pay extra.",
            "what happens if I go over?",
        ];
        assert!(veto(&G, &s, &other, &short).is_some());
    }

    #[test]
    fn earlier_history_and_rewording_do_not_veto() {
        let s = ChatSettings {
            window: 1,
            ..ChatSettings::default()
        };
        let short = [
            "So, my StreamMax Premium plan from the Apple store.",
            "cancel it",
        ];
        let long = [
            "hi there",
            "what time is it in Tokyo when it's 9am in London?",
            "I have a StreamMax Premium subscription via the Apple store",
            "ok back",
            "cancel it",
        ];
        // The short chat's facts agree with the long one's recent part.
        assert_eq!(veto(&G, &s, &short, &long), None);
        assert_eq!(veto(&G, &s, &long, &short), None);
        // A single turn against a single turn is the plain guard.
        assert_eq!(
            veto(&G, &s, &["order 1"], &["order 2"]),
            Some("numbers differ")
        );
    }
}
