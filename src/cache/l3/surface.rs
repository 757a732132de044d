//! Surface equivalence: two requests that differ only in how they were
//! typed or framed, not in what they ask.
//!
//! Most repeats a cache sees are the same request typed again: another case,
//! punctuation, spacing or hyphenation ("dark-mode", "user name"), a
//! greeting or a "please" around it, one slipped letter ("passwrod"), a
//! contraction spelled out ("isn't" / "is not"), the same request in
//! another request frame ("How do I …" / "Tell me how to …" / "Is there a
//! way to …"), or a fronted clause moved to the end ("If X, will Y?" /
//! "Will Y if X?"). The pair verifier is trained to reject a near-duplicate
//! with one changed word, and it scores many of these low; a rule that
//! proves two texts are the same words needs no model.
//!
//! It is deliberately narrow: every word that is not a courtesy, an
//! article or part of a request frame must match, letters and digits
//! alike, in order, except
//! - one typing slip inside a long word (two swapped neighbours in a word
//!   of six or more letters, or one letter missing or extra in a word of
//!   eight or more), never in a word with a digit; or one or two slips
//!   that each turn an English word into no word ("pakage", "cancle my
//!   ordr"; [`slip_to_non_word`]);
//! - a block of words moved whole from one end of the sentence to the
//!   other, when the moved block opens with a subordinator or preposition
//!   ("if", "when", "on", "at", …): that is how English fronts a condition
//!   or a place, and it never swaps two arguments;
//! - the two blocks around an "and" / "or" swapped, the items of a list
//!   in another order, or the same clauses in another order;
//! - one word replaced by its synonym in WordNet's most frequent sense
//!   ("buy" / "purchase"; sister terms and antonyms never are);
//! - a passive question asked in the active voice ([`voice`]).
//!
//! A changed number, name, negation or argument order is never
//! surface-equal, and the guard still runs after this.

mod lexicon;
mod reworded;
mod voice;

pub use reworded::reworded;

use super::verify::has_hangul;

use lexicon::{
    ABBREVIATIONS, ADDRESSEES, ARTICLES, COURTESY, COURTESY_CLAUSE, COURTESY_RUNS, FRAMES,
    FUNCTION_WORDS, GREETINGS, MOVABLE_OPENERS, OPENERS,
};

/// Contractions spelled out, so that "isn't" = "is not" and "what's" =
/// "what is" (apostrophes typed or not).
fn expand(word: &str, out: &mut Vec<String>) {
    const WHOLE: &[(&str, &[&str])] = &[
        ("cannot", &["can", "not"]),
        ("cant", &["can", "not"]),
        ("wont", &["will", "not"]),
        ("shant", &["shall", "not"]),
        ("im", &["i", "am"]),
        ("ive", &["i", "have"]),
        ("youre", &["you", "are"]),
        ("theyre", &["they", "are"]),
        ("whats", &["what", "is"]),
        ("wheres", &["where", "is"]),
        ("whos", &["who", "is"]),
        ("hows", &["how", "is"]),
        ("whens", &["when", "is"]),
        ("whys", &["why", "is"]),
        ("thats", &["that", "is"]),
        ("theres", &["there", "is"]),
        ("heres", &["here", "is"]),
        ("lets", &["let", "us"]),
    ];
    if let Some((_, parts)) = WHOLE.iter().find(|(w, _)| *w == word) {
        out.extend(parts.iter().map(|p| p.to_string()));
        return;
    }
    // "isnt", "doesnt", "couldnt": a known auxiliary + "nt".
    const AUX_NT: &[&str] = &[
        "is", "are", "was", "were", "do", "does", "did", "has", "have", "had", "could", "should",
        "would", "must", "need", "might", "ai",
    ];
    if let Some(stem) = word.strip_suffix("nt") {
        if AUX_NT.contains(&stem) {
            out.push(stem.to_string());
            out.push("not".to_string());
            return;
        }
    }
    out.push(word.to_string());
}

/// The words of one sentence: lower-cased, contractions spelled out ("it's"
/// after a pronoun or question word is "it is"; other apostrophes are
/// dropped: "user's" = "users"), split at everything that is not a letter
/// or digit, articles removed, "&" read as "and".
fn raw_words(sentence: &str) -> Vec<String> {
    let mut lowered = String::with_capacity(sentence.len() + 8);
    let mut prev = ' ';
    for c in sentence.to_lowercase().chars() {
        match c {
            '&' => lowered.push_str(" and "),
            // "C++", "C#", "F#" are names: their signs are letters here.
            '+' if prev.is_alphanumeric() || prev == '+' => lowered.push_str("plus"),
            '#' if prev.is_alphanumeric() => lowered.push_str("sharp"),
            _ => lowered.push(c),
        }
        prev = c;
    }
    let mut out = Vec::new();
    for token in lowered.split(|c: char| !(c.is_alphanumeric() || c == '\'' || c == '\u{2019}')) {
        let token = token.trim_matches(|c| c == '\'' || c == '\u{2019}');
        if token.is_empty() {
            continue;
        }
        // Spelled-out suffixes: "'m", "'re", "'ve", "'ll", "'d", "n't".
        let plain: String = token.chars().filter(|c| c.is_alphanumeric()).collect();
        let mut parts = token.split(['\'', '\u{2019}']);
        let head = parts.next().unwrap_or("");
        let tail = parts.next();
        let pieces: Option<(&str, &[&str])> = match tail {
            Some("m") => Some((head, &["am"])),
            Some("re") => Some((head, &["are"])),
            Some("ve") => Some((head, &["have"])),
            Some("ll") => Some((head, &["will"])),
            Some("d") => Some((head, &["would"])),
            Some("t") if head.ends_with('n') => None, // "isn't": handled as "isnt"
            Some("s") if is_s_is(head) => Some((head, &["is"])),
            _ => None,
        };
        match pieces {
            Some((head, rest)) if parts.next().is_none() => {
                expand(head, &mut out);
                out.extend(rest.iter().map(|r| r.to_string()));
            }
            _ => expand(&plain, &mut out),
        }
    }
    out.retain(|w| !ARTICLES.contains(&w.as_str()));
    for w in out.iter_mut() {
        if let Some((_, full)) = ABBREVIATIONS
            .iter()
            .find(|(short, _)| short.contains(&w.as_str()))
        {
            *w = full.to_string();
        } else if let Some(unit) = super::guard::unit_word(w) {
            *w = unit.to_string();
        }
    }
    out
}

/// Whether "X's" is "X is" (a pronoun or question word) rather than a
/// possessive.
fn is_s_is(head: &str) -> bool {
    matches!(
        head,
        "it" | "that"
            | "what"
            | "where"
            | "who"
            | "how"
            | "when"
            | "why"
            | "there"
            | "here"
            | "he"
            | "she"
            | "this"
    )
}

/// The words of `text` that carry its meaning, one list per sentence or
/// clause (split at `.?!;:,` and line breaks): each clause's words
/// ([`raw_words`]) with courtesies and opening fillers removed and its
/// request frame replaced by its canonical form; clauses left empty (all
/// courtesy) are dropped.
fn sentences(text: &str) -> Vec<Vec<String>> {
    let mut all_sentences = Vec::new();
    // Whether any request frame was read ("What is pirating?" is framed).
    let mut framed = false;
    // A spaced dash joins clauses like a comma ("PLEASE HELP - how do I …").
    // "vs." does not end a sentence.
    let text = text
        .replace(" - ", ", ")
        .replace(" \u{2013} ", ", ")
        .replace(" vs. ", " vs ");
    // An emoji ends a clause as a "!" would ("Hi devs 😄 love the game").
    let clauses: Vec<&str> = text
        .split(|c: char| ".?!;:\n,".contains(c) || is_emoji(c))
        .filter(|c| !c.trim().is_empty())
        .collect();
    let signed_from = signature_start(&clauses);
    for (at, sentence) in clauses.iter().enumerate() {
        if at >= signed_from {
            break;
        }
        let all = raw_words(sentence);
        if at + 1 < clauses.len() && greeting(&all) {
            continue;
        }
        // A clause that opens like a question asks something, whatever
        // its words ("Is it back?").
        let question = all.first().is_some_and(|w| {
            matches!(
                w.as_str(),
                "is" | "are"
                    | "was"
                    | "were"
                    | "am"
                    | "do"
                    | "does"
                    | "did"
                    | "can"
                    | "could"
                    | "will"
                    | "would"
                    | "should"
                    | "has"
                    | "have"
                    | "what"
                    | "where"
                    | "when"
                    | "why"
                    | "how"
                    | "who"
                    | "which"
            )
        });
        if !question && courtesy_only(&all) {
            // Greetings, thanks, apologies and wishes only: no request.
            continue;
        }
        let mut out = Vec::new();
        let mut i = 0;
        // A frame that ends at the sentence's end ("how much does … cost").
        let mut end = all.len();
        let ends_with_cost = matches!(all.last().map(String::as_str), Some("cost" | "costs"));
        'next: while i < end {
            let rest = &all[i..end];
            let at_start = out.is_empty();
            if let Some(run) = COURTESY_RUNS
                .iter()
                .filter(|r| starts_with(rest, r))
                .max_by_key(|r| r.len())
            {
                i += run.len();
                continue 'next;
            }
            if at_start {
                // Frames may follow each other ("Could you tell me how to
                // …"): the sentence has not started until a word is kept.
                // A canonical form ending in "+" needs the sentence to end
                // with "cost": it is the frame's other half.
                if let Some((frame, canon)) = FRAMES
                    .iter()
                    .filter(|(f, c)| starts_with(rest, f) && (!c.ends_with('+') || ends_with_cost))
                    .max_by_key(|(f, _)| f.len())
                {
                    if let Some(canon) = canon.strip_suffix('+') {
                        end -= 1;
                        out.push(canon.to_string());
                    } else if !canon.is_empty() {
                        out.push(canon.to_string());
                    }
                    i += frame.len();
                    framed = true;
                    continue 'next;
                }
            }
            let w = all[i].as_str();
            let opener = at_start && OPENERS.contains(&w);
            if !COURTESY.contains(&w) && !opener {
                out.push(w.to_string());
            }
            i += 1;
        }
        // An embedded question is the question: "(Explain) what a 401(k)
        // is" = "What is a 401(k)?" (whose "what is" was dropped above).
        if out.len() >= 3 && out[0] == "what" && matches!(out[out.len() - 1].as_str(), "is" | "are")
        {
            out.pop();
            out.remove(0);
        }
        // "(Explain) how compound interest works" = "How does compound
        // interest work?".
        if out.len() >= 3 && out[0] == "how" && !is_function_word(&out[1]) {
            let last = out.len() - 1;
            if let Some(verb) = out[last].strip_suffix('s').filter(|v| !v.ends_with('s')) {
                out[last] = verb.to_string();
                out.insert(1, "does".to_string());
            }
        }
        // Asking what a word means is asking what it is: "What does APR
        // mean?" = "APR meaning" = "Meaning of APR" = "Define APR".
        if out.len() >= 3 && out[0] == "what" && matches!(out[1].as_str(), "does" | "do") {
            if out[out.len() - 1] == "mean" {
                out.pop();
                out.drain(..2);
            }
        } else if out.len() >= 2 && out[out.len() - 1] == "meaning" {
            out.pop();
        } else if out.len() >= 3 && out[0] == "meaning" && out[1] == "of" {
            out.drain(..2);
        }
        if out.is_empty() {
            continue;
        }
        // "How?" or "What do I do?" after a stated need asks how to meet it:
        // "I need to freeze my card. How?" = "How do I freeze my card?";
        // "Resetting a router - how?" = "How do I reset a router?".
        let said: Vec<&str> = out.iter().map(String::as_str).collect();
        let follow_up = matches!(
            said[..],
            ["how"]
                | ["what", "do", "i", "do"]
                | ["what", "should", "i", "do"]
                | ["how", "does", "that", "work"]
                | ["how", "does", "it", "work"]
                | ["and", "how"]
        );
        // "Roth IRA vs traditional IRA - what's the difference?" = "What is
        // the difference between a Roth IRA and a traditional IRA?".
        if let (["difference"], Some(prev)) = (&said[..], all_sentences.last_mut()) {
            let prev: &mut Vec<String> = prev;
            if let Some(at) = prev
                .iter()
                .position(|w| w == "vs" || w == "versus")
                .filter(|&at| at > 0 && at + 1 < prev.len())
            {
                prev[at] = "and".to_string();
                prev.splice(0..0, ["difference".to_string(), "between".to_string()]);
                continue;
            }
        }
        if let (true, Some(prev)) = (follow_up, all_sentences.last_mut()) {
            let prev: &mut Vec<String> = prev;
            // "Is it possible to apply for a licence, and how?"
            if prev[0] == "want-to" || (prev[0] == "can-i" && said == ["and", "how"]) {
                prev[0] = "how-to".to_string();
                continue;
            }
            if prev[0].ends_with("ing") {
                prev.insert(0, "how-to".to_string());
                continue;
            }
        }
        all_sentences.push(out);
    }
    // A request that is only an activity asks how to do it: "Transferring
    // my number to a new carrier?" = "How do I transfer my number to a new
    // carrier?".
    if let (false, [only]) = (framed, &mut all_sentences[..]) {
        if only.len() >= 2 && only[0].len() > 5 && only[0].ends_with("ing") && is_word(&only[0]) {
            only.insert(0, "how-to".to_string());
        }
    }
    all_sentences
}

/// Whether `c` is an emoji or pictograph.
fn is_emoji(c: char) -> bool {
    matches!(c, '\u{1F300}'..='\u{1FAFF}' | '\u{2600}'..='\u{27BF}' | '\u{1F000}'..='\u{1F2FF}')
}

/// Whether a clause is a greeting with its addressee and nothing else:
/// a greeting word and up to three more words, the last one who is
/// addressed ("Hi pharmacy team", "Dear Sir/Madam"). A name is
/// not dropped: "Hey Netflix" may say which service is asked about.
fn greeting(words: &[String]) -> bool {
    // Who is addressed: the words after "hi" or "good morning".
    let addressed = match words {
        [good, time, rest @ ..]
            if good == "good" && matches!(time.as_str(), "morning" | "afternoon" | "evening") =>
        {
            rest
        }
        [hi, rest @ ..] if GREETINGS.contains(&hi.as_str()) => rest,
        _ => return false,
    };
    (1..=3).contains(&addressed.len())
        && addressed
            .last()
            .is_some_and(|w| ADDRESSEES.contains(&w.as_str()))
}

/// Whether a clause's words are greetings, thanks, apologies and wishes
/// only ([`COURTESY_CLAUSE`]).
fn courtesy_only(words: &[String]) -> bool {
    words.iter().all(|w| COURTESY_CLAUSE.contains(&w.as_str()))
}

/// Where a message's signature starts: the trailing clauses of one to
/// three capitalised words or initials ("Priya", "J", "Thompson") after a
/// clause of courtesies only ("Many thanks", "Kind regards"). The clauses'
/// count when there is none.
fn signature_start(clauses: &[&str]) -> usize {
    let name_like = |c: &str| {
        let words: Vec<&str> = c.split_whitespace().collect();
        (1..=3).contains(&words.len())
            && words.iter().all(|w| {
                w.chars().next().is_some_and(char::is_uppercase)
                    && w.chars()
                        .all(|c| c.is_alphabetic() || c == '-' || c == '\'')
            })
    };
    let names = clauses.iter().rev().take_while(|c| name_like(c)).count();
    // The sign-off may itself be capitalised ("Regards"): the names start
    // after the last clause of courtesies among them or just before them.
    (0..=names)
        .map(|k| clauses.len() - k)
        .find(|&start| {
            start > 0 && start < clauses.len() && courtesy_only(&raw_words(clauses[start - 1]))
        })
        .unwrap_or(clauses.len())
}

fn starts_with(words: &[String], run: &[&str]) -> bool {
    words.len() >= run.len() && words.iter().zip(run).all(|(w, r)| w == r)
}

/// The one edit that turns one word into the other, never at the first
/// letter: people rarely slip there, and another word often differs just
/// there ("ethanol" / "methanol").
#[derive(Clone, Copy, PartialEq)]
enum Edit {
    /// One letter changed.
    Changed,
    /// Two neighbours swapped.
    Swapped,
    /// One letter missing from one of the two (extra in the other).
    Missing,
}

/// [`Edit`] between `a` and `b`, if exactly one turns one into the other.
fn one_edit(a: &[char], b: &[char]) -> Option<Edit> {
    if a.len() == b.len() {
        let diff: Vec<usize> = (0..a.len()).filter(|&i| a[i] != b[i]).collect();
        return match diff[..] {
            [i] if i > 0 => Some(Edit::Changed),
            [i, j] if i > 0 && j == i + 1 && a[i] == b[j] && a[j] == b[i] => Some(Edit::Swapped),
            _ => None,
        };
    }
    let (short, long) = if a.len() < b.len() { (a, b) } else { (b, a) };
    if long.len() != short.len() + 1 {
        return None;
    }
    let first = (0..short.len())
        .find(|&i| short[i] != long[i])
        .unwrap_or(short.len());
    (first > 0 && short[first..] == long[first + 1..]).then_some(Edit::Missing)
}

/// Whether `a` and `b` differ by at most one typing slip (see the module
/// docs): two swapped neighbours in a word of six letters or more, or one
/// letter missing in a word of eight or more; never with a digit. Equal
/// words are not a slip.
fn one_slip(a: &[char], b: &[char]) -> bool {
    let has_digit = |w: &[char]| w.iter().any(|c| c.is_numeric());
    if has_digit(a) || has_digit(b) {
        return false;
    }
    match one_edit(a, b) {
        Some(Edit::Swapped) => a.len() >= 6,
        Some(Edit::Missing) => a.len().max(b.len()) >= 8,
        _ => false,
    }
}

/// Whether `a` and `b` are one word and a slip of it that is no English
/// word: one [`Edit`] (no digits, four letters or more), and exactly one of
/// the two is a word ([`is_word`]). "passwird" / "password" and "cancle" /
/// "cancel" are; "from" / "form" and "tour" / "tor" are two words, and
/// "Spotfy" / "Spotify" two unknown names: neither is a slip.
fn slip_to_non_word(a: &str, b: &str) -> bool {
    let (ca, cb): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    ca.len().max(cb.len()) >= 4
        && ca.iter().chain(&cb).all(|c| c.is_alphabetic())
        && one_edit(&ca, &cb).is_some()
        && is_word(a) != is_word(b)
}

/// English words: WordNet's lemmas and irregular forms
/// (`assets/synonyms/wordnet-words.txt`, rebuilt by
/// `tools/synonyms/build.py`), one per line.
const WORD_LIST: &str = include_str!("../../../assets/synonyms/wordnet-words.txt");

/// Whether `w` (lower case) is an English word: a WordNet lemma or
/// irregular form, one with a regular ending ("cancelled", "boxes",
/// "largest"), or a closed-class word WordNet leaves out ("the", "into").
fn is_word(w: &str) -> bool {
    let words = word_set();
    is_function_word(w) || base_forms(w).iter().any(|b| words.contains(b.as_str()))
}

/// [`WORD_LIST`] as a set, built on first use.
fn word_set() -> &'static std::collections::HashSet<&'static str> {
    WORDS.get_or_init(|| WORD_LIST.lines().collect())
}

static WORDS: std::sync::OnceLock<std::collections::HashSet<&'static str>> =
    std::sync::OnceLock::new();

/// Builds the word tables now (≈ 25 ms with the guard's), so that the
/// first L3 lookup after a start does not pay for them.
pub fn warm() {
    word_set();
    synonym_pairs();
}

/// Whether `w` is a closed-class word (pronoun, determiner, preposition,
/// particle, conjunction, auxiliary).
pub(super) fn is_function_word(w: &str) -> bool {
    FUNCTION_WORDS.contains(&w)
}

/// The forms a word may be an inflection of, itself first: "cancelled" →
/// "cancel", "boxes" → "box", "easier" → "easy", "later" → "late" (a
/// regular ending removed, then a final "e" restored, a doubled letter
/// undone or "i" read as "y"). Over-generates: the caller looks the forms
/// up in a word list.
fn base_forms(w: &str) -> Vec<String> {
    let mut out = vec![w.to_string()];
    for suffix in ["s", "es", "ed", "d", "ing", "er", "est", "r", "st", "ly"] {
        if let Some(stem) = w.strip_suffix(suffix).filter(|s| s.chars().count() >= 3) {
            // A short stem ending consonant-vowel-consonant doubles before a
            // vowel ending ("dropping"): "droping" is "drope" + "ing" or no
            // word, never "drop" + "ing".
            let chars: Vec<char> = stem.chars().collect();
            let vowel = |c: char| "aeiou".contains(c);
            let n = chars.len();
            let must_double = suffix.starts_with(['e', 'i'])
                && n <= 4
                && !vowel(chars[n - 1])
                && !"wxy".contains(chars[n - 1])
                && vowel(chars[n - 2])
                && !vowel(chars[n - 3]);
            out.extend(
                stems(stem)
                    .into_iter()
                    .filter(|s| !(must_double && s == stem)),
            );
        }
    }
    out
}

/// Whether `text` asks or states nothing: only greetings, thanks,
/// apologies, wishes and "I'm back" chatter ("hi", "ok sorry, back", "got
/// it, thanks"). Used to leave such turns out of a chat's context.
pub fn says_nothing(text: &str) -> bool {
    sentences(text).is_empty()
}

/// Whether two requests are the same words (courtesies, articles and
/// request frames aside), allowing word breaks to move ("user name" =
/// "username"), one typing slip, a block moved from one end to the other,
/// or two words swapped around "and" / "or" (see the module docs).
pub fn same_request(a: &str, b: &str) -> bool {
    Request::new(a).same_as(&Request::new(b))
}

/// A request's words read once ([`sentences`]), to compare it with several
/// candidates without reading it again for each.
pub struct Request<'a> {
    text: &'a str,
    sentences: Vec<Vec<String>>,
    words: Vec<String>,
}

impl<'a> Request<'a> {
    pub fn new(text: &'a str) -> Request<'a> {
        let sentences = sentences(text);
        let words = sentences.concat();
        Request {
            text,
            sentences,
            words,
        }
    }

    /// [`same_request`] of the two texts.
    pub fn same_as(&self, other: &Request) -> bool {
        let (wa, wb) = (&self.words, &other.words);
        if wa.is_empty() || wb.is_empty() {
            return false;
        }
        if wa == wb {
            return true;
        }
        // Word breaks may move ("dark-mode", "user name", "set-up"): compare
        // the letters, each word's start marked so that at most one slip is
        // allowed inside one word.
        if wa.concat() == wb.concat() {
            return true;
        }
        if wa.len() == wb.len() {
            // A move or a swap keeps every word: check that cheaply first.
            let reordered = || {
                sorted(wa) == sorted(wb)
                    && (moved_block(wa, wb) || swapped_around_and(wa, wb) || same_items(wa, wb))
            };
            if one_word_apart(wa, wb) || reordered() {
                return true;
            }
        }
        // A word break moved and a slip or synonym elsewhere ("How do I
        // change my e-mail?" / "How do I chnage my email?").
        if let Some((ma, mb)) = merge_breaks(wa, wb) {
            if one_word_apart(&ma, &mb) {
                return true;
            }
        }
        // Korean marks a phrase's role with a particle on its last word, so
        // such phrases may come in any order before the predicate
        // ("4명이서 저녁 7시에 예약 가능한가요?" / "저녁 7시에 4명이서 예약
        // 가능한가요?"). Words without a particle ("서울 부산 왕복", a Latin
        // name) never move apart.
        if wa.last() == wb.last() && wa.iter().any(|w| has_hangul(w)) {
            let n = wa.len();
            let (pa, pb) = (ko_phrases(&wa[..n - 1]), ko_phrases(&wb[..wb.len() - 1]));
            if pa != pb && sorted(&pa) == sorted(&pb) {
                return true;
            }
        }
        // The same clauses in another order ("my order arrived empty, what
        // do I do" / "what do I do, my order arrived empty").
        if self.sentences.len() >= 2 && same_clauses(&self.sentences, &other.sentences) {
            return true;
        }
        voice::apart(&self.sentences, &other.sentences)
    }
}

/// Same length, every word equal but one, and that one a typing slip or
/// its WordNet synonym ([`synonyms`]); or every word equal but two, each a
/// slip to a non-word ([`slip_to_non_word`]: "How do I reset my passwrod
/// for the acocunt?").
fn one_word_apart(wa: &[String], wb: &[String]) -> bool {
    let differ: Vec<(usize, &String, &String)> = wa
        .iter()
        .zip(wb)
        .enumerate()
        .filter(|(_, (x, y))| x != y)
        .map(|(i, (x, y))| (i, x, y))
        .collect();
    match differ[..] {
        [(at, x, y)] => {
            let (cx, cy): (Vec<char>, Vec<char>) = (x.chars().collect(), y.chars().collect());
            let after_how_to = at > 0 && wa[at - 1] == "how-to";
            one_slip(&cx, &cy)
                || slip_to_non_word(x, y)
                || synonyms(x, y)
                || spelling_variants(x, y)
                || (after_how_to && (gerund_of(x, y) || gerund_of(y, x)))
        }
        [(_, x1, y1), (_, x2, y2)] => slip_to_non_word(x1, y1) && slip_to_non_word(x2, y2),
        _ => false,
    }
}

/// Whether `g` is the gerund of the verb `base` ("filing" / "file",
/// "shipping" / "ship", "connecting" / "connect", "lying" / "lie").
fn gerund_of(g: &str, base: &str) -> bool {
    let Some(stem) = g.strip_suffix("ing") else {
        return false;
    };
    stem == base
        || base
            .strip_suffix('e')
            .is_some_and(|b| b == stem && !b.is_empty())
        || base
            .strip_suffix("ie")
            .is_some_and(|b| stem == format!("{b}y"))
        || (stem.len() == base.len() + 1
            && stem.starts_with(base)
            && stem.ends_with(|c| base.ends_with(c)))
}

/// British and American spellings of one word: "colour" / "color",
/// "centre" / "center", "organise" / "organize", "cancelled" / "canceled".
fn spelling_variants(a: &str, b: &str) -> bool {
    // British endings and their American forms, in groups: at most one
    // ending of each group is rewritten, in words at least this long.
    const GROUPS: &[(usize, &[(&str, &str)])] = &[
        (
            6,
            &[
                ("isation", "ization"),
                ("ising", "izing"),
                ("ised", "ized"),
                ("ise", "ize"),
                ("ises", "izes"),
            ],
        ),
        (
            5,
            &[("our", "or"), ("ours", "ors"), ("re", "er"), ("res", "ers")],
        ),
        (
            7,
            &[
                ("elled", "eled"),
                ("elling", "eling"),
                ("alled", "aled"),
                ("alling", "aling"),
            ],
        ),
    ];
    let american = |w: &str| -> String {
        let mut w = w.to_string();
        for (min_len, endings) in GROUPS {
            if let Some((uk, us)) = endings
                .iter()
                .find(|(uk, _)| w.len() >= *min_len && w.ends_with(uk))
            {
                w = format!("{}{us}", &w[..w.len() - uk.len()]);
            }
        }
        w
    };
    a != b && american(a) == american(b)
}

/// English one-word synonym pairs from WordNet 3.0, each word's most
/// frequent sense only (`assets/synonyms`, rebuilt by
/// `tools/synonyms/build.py`): "buy" / "purchase", "display" / "show",
/// "holiday" / "vacation". Sister terms ("Austria" / "Belgium") and
/// antonyms are never synonyms there.
const SYNONYM_PAIRS: &str = include_str!("../../../assets/synonyms/wordnet-en.txt");

/// [`SYNONYM_PAIRS`] as a set of (smaller, larger) pairs, built on first use.
fn synonym_pairs() -> &'static std::collections::HashSet<(&'static str, &'static str)> {
    PAIRS.get_or_init(|| {
        SYNONYM_PAIRS
            .lines()
            .filter_map(|l| l.split_once(' '))
            .collect()
    })
}

static PAIRS: std::sync::OnceLock<std::collections::HashSet<(&'static str, &'static str)>> =
    std::sync::OnceLock::new();

/// Whether `a` and `b` are synonyms (or the same plural of synonyms:
/// "items" / "products").
fn synonyms(a: &str, b: &str) -> bool {
    let pairs = synonym_pairs();
    let known = |a: &str, b: &str| pairs.contains(&(a.min(b), a.max(b)));
    if known(a, b) {
        return true;
    }
    // The same inflection of two synonyms: "items" / "products",
    // "largest" / "biggest", "cancelled" / "called off".
    ["s", "es", "ed", "ing", "er", "est", "ly"]
        .iter()
        .any(
            |suffix| match (a.strip_suffix(suffix), b.strip_suffix(suffix)) {
                (Some(sa), Some(sb)) => {
                    let (ba, bb) = (stems(sa), stems(sb));
                    ba.iter().any(|x| bb.iter().any(|y| known(x, y)))
                }
                _ => false,
            },
        )
}

/// The base forms a word minus its suffix may be: itself, with a final
/// "e" restored ("larg" → "large"), undoubled ("bigg" → "big"), or "i" →
/// "y" ("happi" → "happy").
fn stems(stem: &str) -> Vec<String> {
    let mut out = vec![stem.to_string(), format!("{stem}e")];
    if let Some(s) = stem.strip_suffix('i') {
        out.push(format!("{s}y"));
    }
    let mut chars = stem.chars();
    if let (Some(x), Some(y)) = (chars.next_back(), chars.clone().next_back()) {
        if x == y {
            out.push(chars.as_str().to_string());
        }
    }
    out
}

/// `b` is `a` with a block moved whole from one end to the other
/// (`a` = X Y, `b` = Y X), where the block that moved to the other end
/// opens with a subordinator or preposition: "If X, will Y" / "Will Y if X".
fn moved_block(wa: &[String], wb: &[String]) -> bool {
    let n = wa.len();
    (1..n).any(|k| {
        let (x, y) = wa.split_at(k);
        let movable = |block: &[String]| MOVABLE_OPENERS.contains(&block[0].as_str());
        (movable(x) || movable(y)) && wb[..n - k] == *y && wb[n - k..] == *x
    })
}

/// The two word lists aligned with moved word breaks undone ("e mail" /
/// "email" become "email" on both sides), or `None` when no break moved or
/// the lists do not align word for word.
fn merge_breaks(wa: &[String], wb: &[String]) -> Option<(Vec<String>, Vec<String>)> {
    let (mut ma, mut mb) = (Vec::new(), Vec::new());
    let (mut i, mut j, mut merged) = (0, 0, false);
    while i < wa.len() && j < wb.len() {
        let joined = |w: &[String], k: usize| w.get(k + 1).map(|next| format!("{}{next}", w[k]));
        if wa[i] == wb[j] {
            (i, j) = (i + 1, j + 1);
            ma.push(wa[i - 1].clone());
            mb.push(wb[j - 1].clone());
        } else if joined(wa, i).is_some_and(|x| x == wb[j]) {
            ma.push(wb[j].clone());
            mb.push(wb[j].clone());
            (i, j, merged) = (i + 2, j + 1, true);
        } else if joined(wb, j).is_some_and(|x| x == wa[i]) {
            ma.push(wa[i].clone());
            mb.push(wa[i].clone());
            (i, j, merged) = (i + 1, j + 2, true);
        } else {
            ma.push(wa[i].clone());
            mb.push(wb[j].clone());
            (i, j) = (i + 1, j + 1);
        }
    }
    (merged && i == wa.len() && j == wb.len()).then_some((ma, mb))
}

/// Korean words cut into phrases, each ending at a word that ends with a
/// role particle ("4명이서", "7시에", "데이터는").
fn ko_phrases(words: &[String]) -> Vec<Vec<String>> {
    const PARTICLES: &[&str] = &[
        "은", "는", "이", "가", "을", "를", "에", "에서", "에게", "한테", "으로", "로", "와", "과",
        "이서", "부터", "까지", "보다", "없이",
    ];
    let mut out: Vec<Vec<String>> = vec![Vec::new()];
    for w in words {
        if let Some(phrase) = out.last_mut() {
            phrase.push(w.clone());
        }
        let ends = PARTICLES
            .iter()
            .any(|p| w.ends_with(p) && w.chars().count() > p.chars().count());
        if ends && has_hangul(w) {
            out.push(Vec::new());
        }
    }
    out.retain(|p| !p.is_empty());
    out
}

/// How many words two equally long requests share at the start and at the
/// end; `None` when those cover them (nothing differs).
fn common_ends(wa: &[String], wb: &[String]) -> Option<(usize, usize)> {
    let prefix = wa.iter().zip(wb).take_while(|(x, y)| x == y).count();
    let suffix = wa
        .iter()
        .rev()
        .zip(wb.iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    (prefix + suffix < wa.len()).then_some((prefix, suffix))
}

/// `b` is `a` with the two blocks around one "and" / "or" swapped ("name
/// and address" / "address and name", "my ID and proof of address" /
/// "proof of address and my ID"), where neither block says which comes
/// first ("then", "before", "after", "first").
fn swapped_around_and(wa: &[String], wb: &[String]) -> bool {
    let Some((prefix, suffix)) = common_ends(wa, wb) else {
        return false;
    };
    let ma = &wa[prefix..wa.len() - suffix];
    let ordered = |m: &[String]| {
        m.iter()
            .any(|w| matches!(w.as_str(), "then" | "before" | "after" | "first" | "later"))
    };
    if ordered(ma) {
        return false;
    }
    // Widen the middle to whole blocks: it may start or end inside one
    // (blocks of up to eight words).
    (prefix.saturating_sub(8)..=prefix).any(|p| {
        (suffix.saturating_sub(8)..=suffix).any(|q| {
            let (xa, xb) = (&wa[p..wa.len() - q], &wb[p..wb.len() - q]);
            xa.iter()
                .enumerate()
                .filter(|(_, w)| matches!(w.as_str(), "and" | "or"))
                .any(|(k, conj)| {
                    let (x, y) = (&xa[..k], &xa[k + 1..]);
                    !x.is_empty()
                        && !y.is_empty()
                        && xb.len() == xa.len()
                        && xb[..y.len()] == *y
                        && xb[y.len()] == *conj
                        && xb[y.len() + 1..] == *x
                })
        })
    })
}

/// `a` and `b` list the same items in another order ("calls, texts and
/// data" / "data, texts and calls"): where they differ, both hold the same
/// words, an "and" / "or" among them, and nothing but items (no
/// preposition that would give the items roles: "from savings to
/// checking").
fn same_items(wa: &[String], wb: &[String]) -> bool {
    let Some((prefix, suffix)) = common_ends(wa, wb) else {
        return false;
    };
    // The list runs on to its "and": widen the middle to include it.
    let end = (wa.len() - suffix..wa.len())
        .find(|&i| matches!(wa[i].as_str(), "and" | "or"))
        .map_or(wa.len() - suffix, |i| i + 2)
        .min(wa.len());
    let (ma, mb) = (&wa[prefix..end], &wb[prefix..end]);
    let conj = |m: &[String]| m.iter().any(|w| matches!(w.as_str(), "and" | "or"));
    let items_only = |m: &[String]| {
        m.iter()
            .all(|w| matches!(w.as_str(), "and" | "or") || !is_function_word(w))
    };
    conj(ma) && items_only(ma) && items_only(mb) && sorted(ma) == sorted(mb)
}

/// A sorted copy.
fn sorted<T: Ord + Clone>(items: &[T]) -> Vec<T> {
    let mut v = items.to_vec();
    v.sort();
    v
}

/// Whether two requests are the same clauses in another order.
fn same_clauses(a: &[Vec<String>], b: &[Vec<String>]) -> bool {
    a.len() == b.len() && sorted(a) == sorted(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warming_builds_the_word_tables_before_any_lookup() {
        // nextest runs each test in its own process: nothing built them yet.
        warm();
        super::super::guard::warm();
        assert!(WORDS.get().is_some_and(|w| w.contains("cancel")));
        assert!(PAIRS.get().is_some_and(|p| !p.is_empty()));
        assert!(super::super::guard::tables_built());
    }

    #[test]
    fn retyped_requests_are_the_same() {
        for (a, b) in [
            ("How do I reset my password?", "how do i reset my password"),
            ("How do I enable dark mode?", "How do I enable dark-mode?"),
            ("Does the flight have WiFi?", "Does the flight have Wi-Fi?"),
            (
                "How do I change my username?",
                "How do I change my user name?",
            ),
            ("What's the difference?", "Whats the difference"),
            (
                "Hi! Can I book a table for two tonight at 8? Thanks :)",
                "Can I book a table for two tonight at 8?",
            ),
            (
                "um, how do I undo a commit in git?",
                "How do I undo a commit in git?",
            ),
            (
                "lol ok so how do i change my username",
                "how do i change my username",
            ),
            (
                "Can you cancel my subscription please",
                "can you cancel my subscription? Thank you so much",
            ),
            ("How do I reset my password?", "how do i reset my passwrod"),
            // A moved word break and a slip.
            ("How do I change my e-mail address?", "How do I chnage my email address?"),
            ("What's the Wi-Fi password?", "whats the wifi pasword"),
            // Korean words in another order before the same predicate, a
            // Korean closing wish.
            (
                "4명이서 저녁 7시에 예약 가능한가요?",
                "저녁 7시에 4명이서 예약 가능한가요?",
            ),
            (
                "3월 세금계산서 발행 요청드립니다",
                "안녕하세요. 3월 세금계산서 발행 요청드립니다. 좋은 하루 보내세요.",
            ),
            // Longer courtesies, an emoji between clauses, "I'm trying to …,
            // how?", "… – how does that work?", an activity alone.
            (
                "Hey billing folks 👋 sorry if this is obvious, but why was I charged twice?",
                "Why was I charged twice?",
            ),
            (
                "Dear Customer Service, I would be very grateful if you could explain how to read my meter. Thank you for your time. Best wishes, Helen",
                "How do I read my meter?",
            ),
            (
                "Good morning tax office team, I apologise for bothering you. When will my refund be paid?",
                "When will my refund be paid?",
            ),
            (
                "I'm trying to link my loyalty card to the app, how?",
                "Can you explain how to link my loyalty card to the app?",
            ),
            (
                "Transferring my phone number to a new carrier?",
                "What do I need to do to transfer my phone number to a new carrier?",
            ),
            (
                "Each month, how much is deducted from my salary?",
                "How much is deducted from my salary each month?",
            ),
            ("thx, can u confirm my appt for monday", "Can you confirm my appointment for Monday?"),
            (
                "Hi, I'm sorry if this has been asked a million times, but what documents do I need? Any help would be appreciated.",
                "What documents do I need?",
            ),
            // A stated need followed by "How?", a word's meaning asked
            // another way, an embedded "how X works".
            (
                "I need to freeze my credit card. How?",
                "How can I freeze my credit card?",
            ),
            (
                "I want to add a user to our workspace. What do I do?",
                "How do I add a user to our workspace?",
            ),
            (
                "Resetting a router to factory settings - how?",
                "How do I reset a router to factory settings?",
            ),
            (
                "Roth IRA vs. traditional IRA: what's the difference?",
                "Roth IRA vs traditional IRA, what's the difference",
            ),
            (
                "Roth IRA vs traditional IRA - what's the difference?",
                "What is the difference between a Roth IRA and a traditional IRA?",
            ),
            ("what is a deductible", "define deductible"),
            ("What does APR mean?", "APR meaning"),
            ("Meaning of APR?", "What is APR?"),
            ("Explain how compound interest works.", "How does compound interest work?"),
            // Two slips to non-words, an undoubled ending, a spelled-out
            // "asap".
            (
                "My internet connection keeps dropping",
                "my internet conection keeps droping",
            ),
            (
                "Please send me the info asap",
                "Please send me the information as soon as possible",
            ),
            // The same items or clauses in another order; a purpose
            // ("to …") moved to the front.
            (
                "Should I bring my ID and proof of address to the DMV?",
                "Should I bring proof of address and my ID to the DMV?",
            ),
            (
                "Does the premium plan include calls, texts and data?",
                "Does the premium plan include data, texts and calls?",
            ),
            (
                "my order arrived but the box was empty, what do I do",
                "what do I do, my order arrived but the box was empty",
            ),
            (
                "Do I need to pay a fee to close my savings account early?",
                "To close my savings account early, do I need to pay a fee?",
            ),
            // A greeting with its addressee, a signature after a sign-off,
            // a spaced dash between clauses.
            (
                "Hi pharmacy team, is my prescription ready for pickup?",
                "Is my prescription ready for pickup?",
            ),
            ("hey support, where can I find my W-2 form?", "Where can I find my W-2 form?"),
            (
                "Dear Sir/Madam, How do I renew my passport? Kind regards, J. Thompson",
                "How do I renew my passport?",
            ),
            (
                "How do I export my data? Many thanks, Priya",
                "How do I export my data?",
            ),
            (
                "PLEASE HELP - how do I report a gas leak? pls help",
                "How do I report a gas leak?",
            ),
            (
                "Greetings! Do you offer student discounts? Looking forward to hearing from you.",
                "Do you offer student discounts?",
            ),
            // A slip to a non-word in a shorter word, or a changed letter.
            ("Where is my package?", "Where is my pakage?"),
            ("How do I reset my password?", "How do I reset my passwird?"),
            ("How do I cancel my order?", "How do I cancle my ordr?"),
            (
                "How do I reset my password for the account?",
                "How do I reset my passwrod for the acocunt?",
            ),
            (
                "Can I cancel my subscription?",
                "Can i cancle my subscription?",
            ),
            (
                "How much is the monthly subscription?",
                "How much is the monthly subscrption?",
            ),
            ("My wifi isn't working.", "My Wi-Fi is not working."),
            ("Whats the fee?", "What is the fee?"),
            (
                "Where can I buy a gift card?",
                "Where can I purchase a gift card?",
            ),
            (
                "How do I display hidden files on a Mac?",
                "How do I show hidden files on a Mac?",
            ),
            (
                "When is the shop open on holiday?",
                "When is the shop open on vacation?",
            ),
            ("I can't log in", "I cannot log in"),
            (
                "How do I enable two-factor authentication?",
                "Tell me how to enable two-factor authentication",
            ),
            (
                "How can I export my data?",
                "Is there a way to export my data?",
            ),
            (
                "Could you tell me how to clear the cache in Firefox?",
                "How do I clear the cache in Firefox?",
            ),
            ("Can I change my seat?", "Is it possible to change my seat?"),
            (
                "Could you please let me know the status of ticket 88213?",
                "Status of ticket 88213?",
            ),
            ("Can you cancel my subscription?", "Cancel my subscription"),
            (
                "If I cancel today, will I get a refund?",
                "Will I get a refund if I cancel today?",
            ),
            (
                "At checkout the coupon code isn't working",
                "The coupon code isn't working at checkout",
            ),
            (
                "I need to change my name and address",
                "I need to change my address and name",
            ),
            (
                "Sorry to bother you again, but where do I find my tax documents?",
                "Where do I find my tax documents?",
            ),
            (
                "I need to change my flight please. It's urgent.",
                "I need to change my flight.",
            ),
            ("How many cm in an inch?", "How many centimeters in an inch?"),
            ("How many tbsp are in a cup?", "How many tablespoons are in a cup?"),
            ("can u reset my pwd", "Can you reset my password?"),
            ("How do I file a claim?", "Guide me through filing a claim"),
            (
                "How do I connect my phone to the car's Bluetooth?",
                "Walk me through connecting my phone to the car's Bluetooth",
            ),
            ("How do I set up my voicemail?", "Help me set up my voicemail"),
            ("Can I change the colour?", "Can I change the color?"),
            ("Was my order cancelled?", "Was my order canceled?"),
            (
                "Hi there, how do I open a new tab in Chrome? Thanks a lot, I really appreciate it.",
                "How do I open a new tab in Chrome?",
            ),
            ("What is the largest ocean?", "What is the biggest ocean?"),
            ("What is a 401(k)?", "Explain what a 401(k) is"),
            (
                "What are the steps to request parental leave?",
                "Describe the steps to request parental leave",
            ),
            (
                "Hi team, hope all is well and that you had a lovely weekend. How do I add a user?",
                "How do I add a user?",
            ),
            (
                "Sorry if this is a silly question, but how do I open a new tab in Chrome?",
                "How do I open a new tab in Chrome?",
            ),
            ("How much is shipping to France?", "What's the cost of shipping to France?"),
            ("How much does shipping to France cost?", "How much is shipping to France?"),
            ("What does shipping to France cost?", "What is the price of shipping to France?"),
            ("Where can I find my invoices?", "Where are my invoices?"),
            ("I need to change my flight", "I'd like to change my flight"),
            ("Am I allowed to bring a pet?", "Can I bring a pet?"),
            (
                "I was wondering if I could change my seat",
                "Can I change my seat?",
            ),
            (
                "I was wondering if you could send me the invoice",
                "Send me the invoice",
            ),
            ("How would I go about filing a claim?", "How do I file a claim?"),
            (
                "Would it be possible to upgrade my room?",
                "Can I upgrade my room?",
            ),
            ("비밀번호 변경", "비밀번호변경"),
            ("혹시 환불 가능한가요?", "환불 가능한가요"),
        ] {
            assert!(same_request(a, b), "{a} / {b}");
            assert!(same_request(b, a), "{b} / {a}");
        }
    }

    #[test]
    fn small_talk_says_nothing_and_a_request_always_says_something() {
        for t in [
            "hi",
            "hey, good morning",
            "ok sorry, back",
            "ok I'm back at my desk",
            "got it, thanks",
            "Thanks so much for your help!",
            "안녕하세요",
        ] {
            assert!(says_nothing(t), "{t}");
        }
        for t in [
            "hang on, someone's at the door",
            "Yes, BlueShield Dental Basic.",
            "I want it back",
            "Can I?",
            "no",
            "not now",
            "is it on hold?",
            "is it back?",
            "Basic Economy.",
        ] {
            assert!(!says_nothing(t), "{t}");
        }
    }

    #[test]
    fn a_changed_word_number_name_negation_or_order_is_not() {
        for (a, b) in [
            (
                "What is the capital of Austria?",
                "What is the capital of Australia?",
            ),
            ("Book a table on Friday", "Book a table on Saturday"),
            ("Is order 12 shipped?", "Is order 13 shipped?"),
            ("Is order 123456 shipped?", "Is order 123465 shipped?"),
            ("Can I cancel my order?", "Can't I cancel my order?"),
            ("Can I cancel my order?", "Can I not cancel my order?"),
            (
                "Transfer from savings to checking",
                "Transfer from checking to savings",
            ),
            (
                "Is the deposit refundable?",
                "Is the deposit nonrefundable?",
            ),
            ("How do I reset my password?", "How do I reset my PIN?"),
            ("Is the dessert vegan?", "Is the desert vegan?"),
            ("How do I form a company?", "How do I from a company?"),
            // Two changes where one lands on a word, or on an unknown name.
            ("Is the tour free for kids?", "Is the tor free for kdis?"),
            ("Can I pay with Spotify?", "Can I pay with Spotfy?"),
            ("Can I pay with Venmo?", "Can I pay with Vnemo?"),
            // A slip lands on another word: two words.
            ("Is the tour free?", "Is the torn free?"),
            ("How do I cancel my order?", "How do I cancel my border?"),
            // Three slips are too many.
            (
                "How do I reset my password for the account?",
                "How do I rest my passwrod for the acocunt?",
            ),
            ("hi", "hello"),
            // A slip is never at the first letter.
            (
                "What is the boiling point of ethanol?",
                "What is the boiling point of methanol?",
            ),
            // Another frame asks another thing.
            ("Can I cancel my order?", "How do I cancel my order?"),
            ("Can I cancel my order?", "Can you cancel my order?"),
            ("Should I cancel my order?", "How do I cancel my order?"),
            // Only a whole block moved from one end, opening with a
            // subordinator or preposition, keeps the meaning.
            (
                "Does the bank pay the merchant?",
                "Does the merchant pay the bank?",
            ),
            ("Is a better than b?", "Is b better than a?"),
            ("Convert 10 miles to km", "Convert km to 10 miles"),
            ("Can I not cancel?", "Can I cancel?"),
            ("Is it included?", "Isn't it included?"),
            // Sister terms and antonyms are not synonyms; nor are two.
            ("How do I cancel my order?", "How do I cancel my booking?"),
            ("Is the store open?", "Is the store closed?"),
            ("Can I buy a big car?", "Can I purchase a large car?"),
            ("Is a deposit required?", "Is a deposition required?"),
            ("Has my form been filled?", "Has my form been filed?"),
            ("How many cm in an inch?", "How many mm in an inch?"),
            ("What are pointers in C++?", "What are pointers in C?"),
            ("Is C# hard to learn?", "Is C hard to learn?"),
            ("How much does the parcel weigh?", "How much is the parcel?"),
            (
                "What does the error mean?",
                "What is the cost of the error?",
            ),
            ("Where can I buy a ticket?", "Where is a ticket?"),
            ("I want to change my flight", "Can I change my flight?"),
            // "How?" after something other than a need or an activity;
            // "what X means" about another word.
            ("My card was declined. How?", "How was my card declined?"),
            ("What does APR mean?", "What does APY mean?"),
            // "What is X-ing" asks what it is, not how to do it.
            ("How do you pirate games?", "What is pirating games?"),
            (
                "How does compound interest work?",
                "How does simple interest work?",
            ),
            // A moved word break and another word.
            (
                "How do I change my e-mail address?",
                "How do I change my email password?",
            ),
            // Another predicate, or a particle moved to another word.
            (
                "저녁 7시에 4명이서 예약 가능한가요?",
                "4명이서 예약 가능한가요 저녁 7시에?",
            ),
            ("전세보다 월세가 싼가요?", "월세보다 전세가 싼가요?"),
            (
                "서울 부산 왕복 요금이 얼마예요?",
                "부산 서울 왕복 요금이 얼마예요?",
            ),
            (
                "본명 Norman Melancton Geddes인 Norman Bel Geddes는 디자이너입니다",
                "본명 Norman Bel Geddes인 Norman Melancton Geddes는 디자이너입니다",
            ),
            // Items with roles, or in an order the request names, are not
            // a list.
            (
                "Should I unplug the router and then the modem?",
                "Should I unplug the modem and then the router?",
            ),
            (
                "Can I move money from savings to checking and back?",
                "Can I move money from checking to savings and back?",
            ),
            (
                "Do I pay the fee, or does the landlord?",
                "Does the landlord pay the fee, or do I?",
            ),
            // A greeting by name (a service may be named), or a place after
            // a request, is kept.
            (
                "Hey Netflix, can I pause my plan?",
                "Hey Hulu, can I pause my plan?",
            ),
            ("Hey Netflix, can I pause my plan?", "Can I pause my plan?"),
            ("Can I fly to Paris, France?", "Can I fly to Paris?"),
            ("Hi Sarah, can I pay later?", "Hi Sarah, can I pay now?"),
            // A clause that states or asks something is never courtesy.
            (
                "How do I add a user? I am on the free plan.",
                "How do I add a user?",
            ),
            ("Is it free? Can I?", "Is it free?"),
            ("Is it free? It is not.", "Is it free?"),
            ("Is my order on hold?", "Is my order?"),
            ("How do I file a claim?", "Guide me through finding a claim"),
            ("Is the tour free?", "Is the tor free?"),
            ("How many for dinner?", "How many four dinner?"),
            ("Is it well known?", "Is it known?"),
            ("", ""),
        ] {
            assert!(!same_request(a, b), "{a} / {b}");
        }
    }
}
/// The surface rule, the reworded rule and the guard read whatever a
/// client sends: word soup of the pieces they parse (frames, particles,
/// slips, signs, Hangul, emoji) must never panic them.
#[cfg(test)]
mod arbitrary_input {
    #[test]
    fn word_soup_never_panics() {
        let alphabet: Vec<&str> = vec![
            "a",
            "e",
            "s",
            "ed",
            "ing",
            " ",
            " ",
            " - ",
            "-",
            "'",
            "’",
            "?",
            ".",
            ",",
            ":",
            "vs",
            "vs.",
            "()",
            "`",
            "_",
            "how",
            "do",
            "i",
            "what",
            "is",
            "the",
            "and",
            "or",
            "to",
            "if",
            "한",
            "국",
            "에",
            "는",
            "를",
            "4명이서",
            "7",
            "10",
            "Hi",
            "team",
            "Regards",
            "J",
            "Thompson",
            "HOW",
            "DO",
            "e-mail",
            "passwrod",
            "droping",
            "ly",
            "er",
            "est",
            "y",
            "ies",
            "x",
            "ab",
            "c++",
            "c#",
            "#",
            "+",
            "é",
            "🙂",
            "\n",
            "be",
            "been",
            "by",
            "was",
            "you",
            "me",
            "out",
            "difference",
            "meaning",
            "mean",
            "does",
            "works",
            "need",
            "want",
            "How?",
        ];
        let guard = super::super::guard::Guard::parse("all").unwrap();
        let mut seed: u64 = 42;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..50_000 {
            let mut mk = || {
                let n = (next() % 14) as usize;
                let mut t = String::new();
                for _ in 0..n {
                    t.push_str(alphabet[(next() % alphabet.len() as u64) as usize]);
                    if next() % 2 == 0 {
                        t.push(' ');
                    }
                }
                t
            };
            let (a, b) = (mk(), mk());
            let _ = super::same_request(&a, &b);
            let _ = super::reworded(&a, &b);
            let _ = super::says_nothing(&a);
            let _ = guard.veto(&a, &b);
            let _ = guard.veto_moved(&a, &b);
        }
    }
}
