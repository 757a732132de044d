//! The false-hit guard: refuses a semantic match whose texts differ in a way
//! an embedding averages away.
//!
//! Two requests can be 0.98 similar and still need different answers:
//! "refund order 1234" / "refund order 1235", "enable" / "disable", "can" /
//! "cannot". Each check compares one kind of critical token between the query
//! and the cached input; any difference vetoes the hit. Checks are
//! configurable (`--l3-guard`); the README reports what each costs in recall.

use std::collections::BTreeSet;

/// Which checks run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Guard {
    /// Numbers (including those inside dates, versions, ids) must be equal.
    pub numbers: bool,
    /// Both texts negated, or neither.
    pub negation: bool,
    /// No word in one text whose antonym is in the other (enable/disable).
    pub antonyms: bool,
    /// Capitalised names and acronyms must be equal.
    pub entities: bool,
}

impl Guard {
    pub const OFF: Guard = Guard {
        numbers: false,
        negation: false,
        antonyms: false,
        entities: false,
    };

    /// Parses `off`, `all`, or a comma list of `numbers,negation,antonyms,entities`.
    pub fn parse(s: &str) -> Result<Guard, String> {
        let mut g = Guard::OFF;
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part {
                "off" | "none" => {}
                "all" => {
                    g = Guard {
                        numbers: true,
                        negation: true,
                        antonyms: true,
                        entities: true,
                    }
                }
                "numbers" => g.numbers = true,
                "negation" => g.negation = true,
                "antonyms" => g.antonyms = true,
                "entities" => g.entities = true,
                other => {
                    return Err(format!(
                        "unknown guard check {other:?}; use off, all, or a list of numbers,negation,antonyms,entities"
                    ))
                }
            }
        }
        Ok(g)
    }

    /// Why `query` must not be answered with the entry cached for `cached`,
    /// or `None` if the checks pass.
    pub fn veto(&self, query: &str, cached: &str) -> Option<&'static str> {
        if self.numbers && numbers(query) != numbers(cached) {
            return Some("numbers differ");
        }
        let (qw, cw) = (words(query), words(cached));
        if self.negation && negated(&qw) != negated(&cw) {
            return Some("negation differs");
        }
        if self.antonyms && has_antonym_pair(&qw, &cw) {
            return Some("opposite words");
        }
        if self.entities && entities(query) != entities(cached) {
            return Some("names differ");
        }
        None
    }
}

/// Every maximal run of digits, as a sorted multiset (leading zeros kept:
/// "007" is not "7").
fn numbers(text: &str) -> Vec<&str> {
    let mut out: Vec<&str> = text
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .collect();
    out.sort_unstable();
    out
}

/// Lowercased words, with `n't` split off as its own word.
fn words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for w in text.split(|c: char| !(c.is_alphanumeric() || c == '\'' || c == '’')) {
        let w = w.to_lowercase().replace('’', "'");
        if w.is_empty() {
            continue;
        }
        match w.strip_suffix("n't") {
            Some(stem) => {
                out.push(stem.to_string());
                out.push("not".to_string());
            }
            None => out.push(w),
        }
    }
    out
}

const NEGATIONS: &[&str] = &[
    "not", "no", "never", "cannot", "without", "none", "nothing", "nobody", "neither", "nor",
];

/// Korean negation morphemes (안/못 before a verb, -지 않다, 없다).
const KO_NEGATIONS: &[&str] = &["않", "못", "없", "안 "];

fn negated(words: &[String]) -> bool {
    let count = words
        .iter()
        .filter(|w| {
            NEGATIONS.contains(&w.as_str()) || KO_NEGATIONS.iter().any(|n| w.contains(n.trim()))
        })
        .count();
    count % 2 == 1
}

const ANTONYMS: &[(&str, &str)] = &[
    ("enable", "disable"),
    ("enabled", "disabled"),
    ("enabling", "disabling"),
    ("activate", "deactivate"),
    ("allow", "deny"),
    ("allow", "block"),
    ("accept", "reject"),
    ("add", "remove"),
    ("add", "delete"),
    ("create", "delete"),
    ("install", "uninstall"),
    ("increase", "decrease"),
    ("raise", "lower"),
    ("maximum", "minimum"),
    ("max", "min"),
    ("more", "less"),
    ("most", "least"),
    ("before", "after"),
    ("above", "below"),
    ("first", "last"),
    ("start", "stop"),
    ("open", "close"),
    ("lock", "unlock"),
    ("encrypt", "decrypt"),
    ("upload", "download"),
    ("import", "export"),
    ("buy", "sell"),
    ("on", "off"),
    ("in", "out"),
    ("up", "down"),
    ("true", "false"),
    ("yes", "no"),
    ("win", "lose"),
    ("best", "worst"),
    ("cheap", "expensive"),
    ("fast", "slow"),
    ("positive", "negative"),
    ("subscribe", "unsubscribe"),
    ("connect", "disconnect"),
    ("login", "logout"),
    ("push", "pull"),
    ("send", "receive"),
];

/// Whether one text uses a word whose antonym the other uses, where the
/// pair is not shared by both texts.
fn has_antonym_pair(a: &[String], b: &[String]) -> bool {
    let has = |ws: &[String], w: &str| ws.iter().any(|x| x == w);
    ANTONYMS.iter().any(|(x, y)| {
        let (ax, ay, bx, by) = (has(a, x), has(a, y), has(b, x), has(b, y));
        (ax && !ay && by && !bx) || (ay && !ax && bx && !by)
    })
}

/// Names: capitalised words not starting a sentence, acronyms, and words
/// mixing letters and case (iPhone); lowercased for comparison.
fn entities(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut sentence_start = true;
    for raw in text.split_whitespace() {
        let w: String = raw.trim_matches(|c: char| !c.is_alphanumeric()).to_string();
        let first_upper = w.chars().next().is_some_and(|c| c.is_uppercase());
        let caps = w.chars().filter(|c| c.is_uppercase()).count();
        let acronym = caps >= 2 && w.chars().all(|c| c.is_uppercase() || c.is_ascii_digit());
        let mixed = caps >= 1 && !first_upper;
        if (first_upper && !sentence_start && w != "I") || acronym || mixed {
            out.insert(w.to_lowercase());
        }
        sentence_start = raw.ends_with(['.', '?', '!', ':']);
    }
    out
}

/// Capitalised words anywhere (sentence starts included), acronyms and
/// mixed-case words, lowercased: every word that may be a name.
fn maybe_names(text: &str) -> BTreeSet<String> {
    text.split_whitespace()
        .map(|raw| raw.trim_matches(|c: char| !c.is_alphanumeric()))
        .filter(|w| w.chars().any(char::is_uppercase) && *w != "I")
        .map(str::to_lowercase)
        .collect()
}

/// Whether the names of two texts agree: every word that is surely a name
/// in one (capitalised inside a sentence, an acronym, mixed case) is at
/// least possibly a name in the other (capitalised anywhere). Lenient on
/// sentence starts, where a capital says nothing ("Basic Economy." /
/// "a Basic Economy ticket").
pub fn names_agree(a: &str, b: &str) -> bool {
    let (sa, sb) = (entities(a), entities(b));
    if sa == sb {
        return true;
    }
    let (la, lb) = (maybe_names(a), maybe_names(b));
    sa.is_subset(&lb) && sb.is_subset(&la)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: Guard = Guard {
        numbers: true,
        negation: true,
        antonyms: true,
        entities: true,
    };

    #[test]
    fn numbers_must_match() {
        assert_eq!(
            ALL.veto("refund order 1234", "refund order 1235"),
            Some("numbers differ")
        );
        assert_eq!(
            ALL.veto("meeting on 2024-01-05", "meeting on 2024-01-06"),
            Some("numbers differ")
        );
        assert_eq!(ALL.veto("order 1234 refund", "refund for order 1234"), None);
    }

    #[test]
    fn negation_and_antonyms_veto() {
        assert_eq!(
            ALL.veto(
                "how do I enable two-factor login",
                "how do I disable two-factor login"
            ),
            Some("opposite words")
        );
        assert_eq!(
            ALL.veto("can I delete my account", "can't I delete my account"),
            Some("negation differs")
        );
        assert_eq!(
            ALL.veto("is it safe", "is it not safe"),
            Some("negation differs")
        );
        assert_eq!(ALL.veto("is it not safe", "isn't it safe"), None);
        assert_eq!(ALL.veto("turn it on and off", "turn it off and on"), None);
    }

    #[test]
    fn names_must_match() {
        assert_eq!(
            ALL.veto(
                "How do I learn Java quickly?",
                "How do I learn Python quickly?"
            ),
            Some("names differ")
        );
        assert_eq!(
            ALL.veto("What is AWS Lambda?", "What is GCP Lambda?"),
            Some("names differ")
        );
        assert_eq!(ALL.veto("Where is Paris?", "where is Paris"), None);
    }

    #[test]
    fn names_agree_is_lenient_on_sentence_starts_only() {
        assert!(names_agree(
            "Basic Economy.",
            "I bought a Basic Economy ticket"
        ));
        assert!(!names_agree(
            "I have an Indian passport",
            "I have a US passport"
        ));
        assert!(!names_agree(
            "cancel my StreamMax plan",
            "cancel my FitHub plan"
        ));
        assert!(names_agree("한국어 문장", "다른 문장"));
    }

    #[test]
    fn parse_lists_and_rejects_unknown_checks() {
        assert_eq!(Guard::parse("off").unwrap(), Guard::OFF);
        assert_eq!(Guard::parse("all").unwrap(), ALL);
        let g = Guard::parse("numbers,negation").unwrap();
        assert!(g.numbers && g.negation && !g.antonyms && !g.entities);
        assert!(Guard::parse("colours").is_err());
        assert_eq!(Guard::OFF.veto("order 1", "order 2"), None);
    }
}
