//! The false-hit guard: refuses a semantic match whose texts differ in a way
//! an embedding averages away.
//!
//! Two requests can be 0.98 similar and still need different answers:
//! "refund order 1234" / "refund order 1235", "enable" / "disable", "can" /
//! "cannot". Each check compares one kind of critical token between the query
//! and the cached input; any difference vetoes the hit. Checks are
//! configurable (`--l3-guard`); the README reports what each costs in recall.

use std::collections::{BTreeSet, HashMap, HashSet};

/// Which checks run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Guard {
    /// Numbers (including those inside dates, versions, ids), in order, with
    /// sign and decimal separator, must be equal, and so must comparison and
    /// arithmetic operators.
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
        self.veto_ordered(query, cached, true)
    }

    /// [`Guard::veto`] for two texts already proven the same words with a
    /// clause moved ([`super::surface::same_request`]: "In 2 hours, how far
    /// at 60 mph?" / "How far at 60 mph in 2 hours?"): their numbers and
    /// operators must agree as a set, not in order.
    pub fn veto_moved(&self, query: &str, cached: &str) -> Option<&'static str> {
        self.veto_ordered(query, cached, false)
    }

    fn veto_ordered(&self, query: &str, cached: &str, ordered: bool) -> Option<&'static str> {
        if self.numbers {
            let (mut q, mut c) = (critical(query), critical(cached));
            if !ordered {
                let key = |x: &Crit| match x {
                    Crit::Num(n) => (0, n.clone()),
                    Crit::Op(o) => (1, o.to_string()),
                };
                q.sort_by_key(key);
                c.sort_by_key(key);
            }
            if numbers(&q) != numbers(&c) {
                return Some("numbers differ");
            }
            if q != c {
                return Some("operators differ");
            }
            if units_differ(query, cached) {
                return Some("units differ");
            }
        }
        let (qw, cw) = (
            words(&without_answer_particles(query)),
            words(&without_answer_particles(cached)),
        );
        if self.negation && negated(&qw) != negated(&cw) {
            return Some("negation differs");
        }
        if self.antonyms
            && (has_antonym_pair(&qw, &cw)
                || contrast(EN_CLASSES, &qw, &cw, |w, t| w == t)
                || contrast(KO_CLASSES, &qw, &cw, |w, t| w.starts_with(t)))
        {
            return Some("opposite words");
        }
        if self.antonyms && ko_arguments_swapped(&qw, &cw) {
            return Some("arguments swapped");
        }
        if self.entities && entities(query) != entities(cached) {
            return Some("names differ");
        }
        None
    }
}

/// One critical token of the numbers check.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Crit {
    /// A number in canonical form (see [`number_at`]).
    Num(String),
    /// A comparison or arithmetic operator, canonical symbol.
    Op(&'static str),
}

/// The numbers and operators of `text`, in order of appearance.
///
/// - A number is a run of digits with `.` or `,` between digit groups, and
///   its sign: `-`, `+` or `−` directly before the first digit counts as a
///   sign when it does not follow a letter, digit or closing bracket
///   ("to -20", "(-3)", "x=-1"; not "2024-01" or "B-52").
/// - Separators: `d{1,3}(,ddd)+` (optionally followed by `.digits`) is read
///   as thousands grouping and compared without the commas, so "1,000" and
///   "1000" agree. Every other `.` or `,` is kept as written: "3.14" and
///   "3,14" differ (a decimal comma, or a list "3,14", is not a decimal
///   point as far as the cache can know), and "1.000" is only "1.000".
///   Leading zeros are kept ("007" is not "7").
/// - Operators: `< > = ≤ ≥ ≠ <= >= == !=` wherever they stand (not in
///   `>>` runs or `->`/`=>` arrows); `+ - * × ÷ / ^` only with an operand on
///   both sides ([`operands`]), so "e-mail", "60-year-old", "G+J" and
///   "and/or" do not count; `%` after a number; and the operator words
///   minus, plus, times, multiplied (by), divided (by), mod(ulo), equals
///   between operands, percent / per cent after a number, and greater/more/larger/higher/bigger and
///   less/fewer/smaller/lower followed by "than", which are read as the same
///   symbols so that "10 minus 3" and "10 - 3" agree.
fn critical(text: &str) -> Vec<Crit> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_ascii_digit() || (is_sign(c) && sign_at(&chars, i)) {
            let (num, end) = number_at(&chars, i);
            out.push(Crit::Num(num));
            i = end;
        } else if c.is_alphabetic() {
            let start = i;
            while i < chars.len() && chars[i].is_alphabetic() {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect::<String>().to_lowercase();
            if let Some(op) = word_operator(&word, &chars, start, i) {
                out.push(Crit::Op(op));
            }
        } else if let Some((op, len)) = symbol_operator(&chars, i) {
            out.push(Crit::Op(op));
            i += len;
        } else {
            i += 1;
        }
    }
    out
}

fn is_sign(c: char) -> bool {
    matches!(c, '-' | '+' | '−')
}

/// Whether the sign character at `i` belongs to the number after it.
fn sign_at(chars: &[char], i: usize) -> bool {
    let next_digit = chars.get(i + 1).is_some_and(|c| c.is_ascii_digit());
    let prev_ok = i == 0 || {
        let p = chars[i - 1];
        !(p.is_alphanumeric() || matches!(p, ')' | ']' | '}' | '.' | ','))
    };
    next_digit && prev_ok
}

/// The canonical number starting at `i` (a sign or a digit) and the index
/// after it.
fn number_at(chars: &[char], i: usize) -> (String, usize) {
    let mut j = i;
    let mut raw = String::new();
    if is_sign(chars[j]) {
        raw.push(if chars[j] == '+' { '+' } else { '-' });
        j += 1;
    }
    while j < chars.len() {
        let c = chars[j];
        let separator =
            matches!(c, '.' | ',') && chars.get(j + 1).is_some_and(|d| d.is_ascii_digit());
        if c.is_ascii_digit() || separator {
            raw.push(c);
            j += 1;
        } else {
            break;
        }
    }
    (canonical_number(&raw), j)
}

/// Drops thousands commas from `d{1,3}(,ddd)+(.d+)?`; anything else as written.
fn canonical_number(raw: &str) -> String {
    let (sign, body) = match raw.strip_prefix(['-', '+']) {
        Some(rest) => (&raw[..1], rest),
        None => ("", raw),
    };
    let (int, frac) = match body.split_once('.') {
        Some((i, f)) if !f.contains(['.', ',']) => (i, Some(f)),
        Some(_) => return raw.to_string(),
        None => (body, None),
    };
    let groups: Vec<&str> = int.split(',').collect();
    let grouped = groups.len() > 1
        && (1..=3).contains(&groups[0].len())
        && groups[1..].iter().all(|g| g.len() == 3);
    if !grouped {
        return raw.to_string();
    }
    let mut out = format!("{sign}{}", groups.concat());
    if let Some(f) = frac {
        out.push('.');
        out.push_str(f);
    }
    out
}

/// Whether a binary operator between `i` and `j` has an operand on both
/// sides: the nearest non-space character is a digit (or a signed number)
/// or a lone letter (`x`); with no digit on either side, both letters must
/// stand apart from the operator (`x - y`, not `e-mail`, `G+J`, `D-W.Va.`),
/// and a word glued to it is a compound (`60-year-old`).
fn operands(chars: &[char], i: usize, j: usize) -> bool {
    let lone_letter = |k: usize| {
        chars[k].is_alphabetic()
            && (k == 0 || !chars[k - 1].is_alphanumeric())
            && chars.get(k + 1).is_none_or(|c| !c.is_alphanumeric())
    };
    let numeric = |k: usize| chars[k].is_ascii_digit() || (is_sign(chars[k]) && sign_at(chars, k));
    let (Some(before), Some(after)) = (
        chars[..i].iter().rposition(|c| !c.is_whitespace()),
        (j..chars.len()).find(|&k| !chars[k].is_whitespace()),
    ) else {
        return false;
    };
    let spaced = before + 1 < i && after > j;
    match (numeric(before), numeric(after)) {
        (true, true) => true,
        (true, false) => lone_letter(after),
        (false, true) => lone_letter(before),
        (false, false) => spaced && lone_letter(before) && lone_letter(after),
    }
}

/// Whether the nearest non-space character before `i` is a digit.
fn number_before(chars: &[char], i: usize) -> bool {
    chars[..i]
        .iter()
        .rev()
        .find(|c| !c.is_whitespace())
        .is_some_and(char::is_ascii_digit)
}

/// The operator symbol at `i`, canonicalised, and its length in chars.
/// Comparisons count wherever they stand, except in runs (`>>` quoting,
/// `<<`) and arrows (`->`, `=>`).
fn symbol_operator(chars: &[char], i: usize) -> Option<(&'static str, usize)> {
    let c = chars[i];
    let prev = i.checked_sub(1).map(|k| chars[k]);
    let next = chars.get(i + 1).copied();
    if matches!(c, '<' | '>') && (prev == Some(c) || next == Some(c)) {
        return None;
    }
    if matches!((c, next), ('-' | '=', Some('>'))) {
        return None;
    }
    if c == '>' && matches!(prev, Some('-' | '=')) {
        return None;
    }
    let two = match (c, next) {
        ('<', Some('=')) => Some("<="),
        ('>', Some('=')) => Some(">="),
        ('=', Some('=')) => Some("="),
        ('!', Some('=')) => Some("!="),
        ('*', Some('*')) => Some("^"),
        _ => None,
    };
    if let Some(op) = two {
        return (op != "^" || operands(chars, i, i + 2)).then_some((op, 2));
    }
    let op = match c {
        '<' => "<",
        '>' => ">",
        '=' => "=",
        '≤' => "<=",
        '≥' => ">=",
        '≠' => "!=",
        '+' => "+",
        '-' | '−' => "-",
        '*' | '×' => "*",
        '÷' | '/' => "/",
        '^' => "^",
        '%' => return number_before(chars, i).then_some(("%", 1)),
        _ => return None,
    };
    let comparison = matches!(op, "<" | ">" | "=" | "<=" | ">=" | "!=");
    (comparison || operands(chars, i, i + 1)).then_some((op, 1))
}

/// The operator a word stands for, if it is used as one here.
fn word_operator(word: &str, chars: &[char], start: usize, end: usize) -> Option<&'static str> {
    let next_word = |from: usize| -> Option<(String, usize)> {
        let s = (from..chars.len()).find(|&k| !chars[k].is_whitespace())?;
        let e = (s..chars.len())
            .find(|&k| !chars[k].is_alphabetic())
            .unwrap_or(chars.len());
        (e > s).then(|| (chars[s..e].iter().collect::<String>().to_lowercase(), e))
    };
    // "5 percent", "5 per cent": a postfix on a number.
    if word == "percent" || (word == "per" && next_word(end).is_some_and(|(w, _)| w == "cent")) {
        return number_before(chars, start).then_some("%");
    }
    let arithmetic = match word {
        "minus" => Some("-"),
        "plus" => Some("+"),
        "times" | "multiplied" => Some("*"),
        "divided" => Some("/"),
        "mod" | "modulo" => Some("%"),
        "equals" => Some("="),
        _ => None,
    };
    if let Some(op) = arithmetic {
        // "divided by 3", "multiplied by x": look past the "by".
        let after = match next_word(end) {
            Some((w, e)) if w == "by" => e,
            _ => end,
        };
        return operands(chars, start, after).then_some(op);
    }
    let comparison = match word {
        "greater" | "more" | "larger" | "higher" | "bigger" => ">",
        "less" | "fewer" | "smaller" | "lower" => "<",
        _ => return None,
    };
    match next_word(end) {
        Some((w, e)) if w == "than" => {
            let next = (e..chars.len()).find(|&k| !chars[k].is_whitespace());
            next.is_some_and(|k| {
                chars[k].is_ascii_digit() || (is_sign(chars[k]) && sign_at(chars, k))
            })
            .then_some(comparison)
        }
        _ => None,
    }
}

fn numbers(crit: &[Crit]) -> Vec<&str> {
    crit.iter()
        .filter_map(|c| match c {
            Crit::Num(n) => Some(n.as_str()),
            Crit::Op(_) => None,
        })
        .collect()
}

/// `text` without the answer word "No" that opens a sentence before a
/// comma or stop ("No, it doesn't exist" says the same as "It does not
/// exist"): it answers a question, it does not negate the clause.
fn without_answer_particles(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut sentence_start = true;
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if sentence_start && !c.is_whitespace() {
            let lower = rest.get(..3).map(str::to_ascii_lowercase);
            if lower.as_deref().is_some_and(|p| {
                p.starts_with("no") && matches!(p.as_bytes()[2], b',' | b'.' | b'!' | b';' | b':')
            }) {
                rest = &rest[3..];
                continue;
            }
            sentence_start = false;
        }
        out.push(c);
        if matches!(c, '.' | '!' | '?') {
            sentence_start = true;
        }
        rest = &rest[c.len_utf8()..];
    }
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
        // Contractions typed without the apostrophe ("hasnt") are the same
        // negation as "hasn't".
        let bare = (NOT_CONTRACTIONS.contains(&w.as_str())).then(|| &w[..w.len() - 2]);
        match w.strip_suffix("n't").or(bare) {
            Some(stem) => {
                out.push(stem.to_string());
                out.push("not".to_string());
            }
            None => out.push(w),
        }
    }
    out
}

/// Negative contractions as often typed without the apostrophe.
const NOT_CONTRACTIONS: &[&str] = &[
    "dont", "doesnt", "didnt", "isnt", "arent", "wasnt", "werent", "hasnt", "havent", "hadnt",
    "cant", "couldnt", "shouldnt", "wouldnt", "wont", "mustnt", "neednt",
];

const NEGATIONS: &[&str] = &[
    "not", "no", "never", "cannot", "without", "none", "nothing", "nobody", "neither", "nor",
];

/// Korean negation morphemes found inside a word (-지 않다, 없다).
const KO_NEGATIONS: &[&str] = &["않", "없"];

/// Whether a Korean word negates: -지 않다 or 없다 inside it, or the
/// adverbs 안/못 as words of their own (or 못 opening a verb: 못해, 못하다).
/// A syllable inside another word is not one: 안전 (safety), 안내
/// (guidance), 안녕 (hello), 잘못 (mistake) negate nothing.
fn ko_negates(w: &str) -> bool {
    KO_NEGATIONS.iter().any(|n| w.contains(n))
        || w == "안"
        || w == "못"
        || w.starts_with("못하")
        || w.starts_with("못해")
}

fn negated(words: &[String]) -> bool {
    let count = words
        .iter()
        .filter(|w| NEGATIONS.contains(&w.as_str()) || ko_negates(w))
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

/// Units a number may carry, each alias with its canonical name. Bits
/// and bytes differ ("Mbps" / "MB/s").
const UNITS: &[(&[&str], &str)] = &[
    (&["kb", "kilobyte", "kilobytes"], "kilobyte"),
    (&["mb", "megabyte", "megabytes", "메가"], "megabyte"),
    (&["gb", "gigabyte", "gigabytes", "기가"], "gigabyte"),
    (&["tb", "terabyte", "terabytes", "테라"], "terabyte"),
    (&["kbps"], "kilobit/s"),
    (&["mbps"], "megabit/s"),
    (&["gbps"], "gigabit/s"),
    (&["mb/s"], "megabyte/s"),
    (&["gb/s"], "gigabyte/s"),
    (
        &[
            "mm",
            "millimeter",
            "millimeters",
            "millimetre",
            "millimetres",
            "밀리미터",
        ],
        "millimeter",
    ),
    (
        &[
            "cm",
            "centimeter",
            "centimeters",
            "centimetre",
            "centimetres",
            "센티미터",
            "센티",
        ],
        "centimeter",
    ),
    (
        &["m", "meter", "meters", "metre", "metres", "미터"],
        "meter",
    ),
    (
        &[
            "km",
            "kilometer",
            "kilometers",
            "kilometre",
            "kilometres",
            "킬로미터",
        ],
        "kilometer",
    ),
    (&["in", "inch", "inches", "인치"], "inch"),
    (&["ft", "foot", "feet", "피트"], "foot"),
    (&["mi", "mile", "miles", "마일"], "mile"),
    (&["g", "gram", "grams", "그램"], "gram"),
    (
        &[
            "kg",
            "kgs",
            "kilo",
            "kilos",
            "kilogram",
            "kilograms",
            "킬로그램",
        ],
        "kilogram",
    ),
    (&["lb", "lbs", "pound", "pounds", "파운드"], "pound"),
    (&["oz", "ounce", "ounces", "온스"], "ounce"),
    (
        &[
            "ml",
            "milliliter",
            "milliliters",
            "millilitre",
            "millilitres",
            "밀리리터",
        ],
        "milliliter",
    ),
    (&["tsp", "tsps", "teaspoon", "teaspoons"], "teaspoon"),
    (
        &["tbsp", "tbsps", "tablespoon", "tablespoons"],
        "tablespoon",
    ),
    (
        &["l", "liter", "liters", "litre", "litres", "리터"],
        "liter",
    ),
    (&["gal", "gallon", "gallons", "갤런"], "gallon"),
    (&["s", "sec", "secs", "second", "seconds", "초"], "second"),
    (&["min", "mins", "minute", "minutes", "분"], "minute"),
    (&["h", "hr", "hrs", "hour", "hours", "시간"], "hour"),
    (&["day", "days", "일"], "day"),
    (&["week", "weeks", "wk", "wks", "주"], "week"),
    (&["month", "months", "개월", "달"], "month"),
    (&["year", "years", "yr", "yrs", "년"], "year"),
    (&["usd", "dollar", "dollars", "달러"], "dollar"),
    (&["eur", "euro", "euros", "유로"], "euro"),
    (&["krw", "won", "원"], "won"),
    (&["jpy", "yen", "엔"], "yen"),
    (&["°c", "℃", "celsius", "섭씨"], "celsius"),
    (&["°f", "℉", "fahrenheit", "화씨"], "fahrenheit"),
    (&["%", "percent", "퍼센트", "프로"], "percent"),
];

/// The canonical unit a word on its own names, for comparing two texts
/// word by word (`surface`): English aliases of two letters or more, but
/// not those that are also common words ("in", "min", "won", "second").
pub(super) fn unit_word(word: &str) -> Option<&'static str> {
    if word.len() < 2 || !word.is_ascii() || matches!(word, "in" | "min" | "won" | "second") {
        return None;
    }
    UNITS
        .iter()
        .find(|(aliases, _)| aliases.contains(&word))
        .map(|(_, canon)| *canon)
}

/// The canonical unit `word` names: the whole word, or for Korean (whose
/// particles attach: "25기가는", "3일에") the longest unit it starts with.
fn unit_of(word: &str) -> Option<&'static str> {
    let w = word.to_lowercase();
    let exact = UNITS
        .iter()
        .find(|(aliases, _)| aliases.contains(&w.as_str()));
    if let Some((_, canon)) = exact {
        return Some(canon);
    }
    if !w
        .chars()
        .next()
        .is_some_and(|c| ('\u{ac00}'..='\u{d7a3}').contains(&c))
    {
        return None;
    }
    UNITS
        .iter()
        .flat_map(|(aliases, canon)| aliases.iter().map(move |a| (*a, *canon)))
        .filter(|(a, _)| w.starts_with(a) && a.chars().next().is_some_and(|c| c >= '\u{ac00}'))
        .max_by_key(|(a, _)| a.len())
        .map(|(_, canon)| canon)
}

/// Each number of `text` with the unit written right after it (attached,
/// "25MB", "3일에", or as the next word, "25 MB"), when that is a known
/// unit.
fn number_units(text: &str) -> Vec<(String, &'static str)> {
    let tokens: Vec<&str> = text.split_whitespace().collect();
    let mut out = Vec::new();
    for (i, tok) in tokens.iter().enumerate() {
        let start = match tok.find(|c: char| c.is_ascii_digit()) {
            Some(s) => s,
            None => continue,
        };
        let rest = &tok[start..];
        let end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == ','))
            .unwrap_or(rest.len());
        let number = rest[..end].trim_end_matches(['.', ',']).replace(',', "");
        let attached = rest[end..].trim_end_matches(|c: char| "?!.,;:)".contains(c));
        // Latin units may carry Korean particles: "25MB인가요".
        let latin_end = attached
            .find(|c: char| !(c.is_ascii_alphabetic() || "/%°℃℉".contains(c)))
            .unwrap_or(attached.len());
        let attached = match latin_end {
            0 => attached,
            n => &attached[..n],
        };
        let unit = match attached.is_empty() {
            false => unit_of(attached),
            true => tokens
                .get(i + 1)
                .and_then(|next| unit_of(next.trim_end_matches(|c: char| "?!.,;:)".contains(c)))),
        };
        if let Some(unit) = unit {
            out.push((number, unit));
        }
    }
    out
}

/// Whether one number carries one unit in one text and another unit in the
/// other ("25MB" / "25GB", "100 Mbps" / "100 MB/s", "3일" / "3주"). A
/// number with no known unit on either side says nothing.
fn units_differ(a: &str, b: &str) -> bool {
    let (ua, ub) = (number_units(a), number_units(b));
    ua.iter().any(|(n, u)| {
        ub.iter().any(|(m, v)| m == n && v != u) && !ub.iter().any(|(m, v)| m == n && v == u)
    })
}

/// Korean words of one closed class whose members exclude each other
/// (weekdays, relative days, parts of the day, seasons, units) and
/// opposite pairs, matched as word stems: a Korean word carries its
/// particles and endings ("월요일에도", "키우는", "비싼가요"), so a word
/// counts when it starts with the term.
const KO_CLASSES: &[&[&str]] = &[
    &[
        "월요일",
        "화요일",
        "수요일",
        "목요일",
        "금요일",
        "토요일",
        "일요일",
    ],
    &["오늘", "내일", "어제", "모레"],
    &["아침", "점심", "저녁", "새벽", "오전", "오후"],
    &["봄", "여름", "가을", "겨울"],
    &["이번", "다음", "지난"],
    &["킬로미터", "마일", "센티미터", "인치", "피트", "야드"],
    &["킬로그램", "파운드", "온스"],
    &["리터", "갤런"],
    &["섭씨", "화씨"],
    &["싼", "비싼"],
    &["싸", "비싸"],
    &["키우", "줄이"],
    &["늘리", "줄이"],
    &["올리", "내리"],
    &["켜", "끄"],
    &["열어", "닫아"],
    &["신청", "취소"],
    &["가입", "탈퇴"],
    &["입금", "출금"],
    &["구매", "판매"],
    &["수신", "발신"],
    &["업로드", "다운로드"],
    &["최대", "최소"],
    &["시작", "종료"],
    &["증가", "감소"],
    &["상승", "하락"],
    &["포함", "제외"],
    &["허용", "차단"],
    &["활성화", "비활성화"],
    &["로그인", "로그아웃"],
    &["반품", "교환", "환불"],
    &["변경", "취소"],
];

/// Korean particles that mark a word's role, longest first where one ends
/// another ("으로" before "로").
const KO_PARTICLES: &[&str] = &[
    "에서부터",
    "으로부터",
    "로부터",
    "에게서",
    "까지",
    "부터",
    "보다",
    "에서",
    "에게",
    "한테",
    "으로",
    "처럼",
    "같이",
    "하고",
    "이랑",
    "랑",
    "로",
    "에",
    "와",
    "과",
    "을",
    "를",
    "은",
    "는",
    "이",
    "가",
    "의",
    "도",
    "만",
];

/// A Korean word split into its stem and role particle ("전세보다" →
/// "전세" + "보다"); a word without one has an empty particle.
fn ko_split(word: &str) -> (&str, &str) {
    if !word
        .chars()
        .next()
        .is_some_and(|c| ('\u{ac00}'..='\u{d7a3}').contains(&c))
    {
        return (word, "");
    }
    for p in KO_PARTICLES {
        if let Some(stem) = word.strip_suffix(p) {
            if !stem.is_empty() {
                return (stem, p);
            }
        }
    }
    (word, "")
}

/// Whether two Korean texts swap the roles of two words: the same stems,
/// but two of them have exchanged their particles ("전세보다 월세가" /
/// "월세보다 전세가", "섭씨 … 화씨로" / "화씨 … 섭씨로"). A word that only
/// drops or changes its own particle ("비밀번호를" / "비밀번호") is not a
/// swap.
fn ko_arguments_swapped(a: &[String], b: &[String]) -> bool {
    let sa: Vec<(&str, &str)> = a.iter().map(|w| ko_split(w)).collect();
    let sb: Vec<(&str, &str)> = b.iter().map(|w| ko_split(w)).collect();
    let mut stems_a: Vec<&str> = sa.iter().map(|x| x.0).collect();
    let mut stems_b: Vec<&str> = sb.iter().map(|x| x.0).collect();
    stems_a.sort_unstable();
    stems_b.sort_unstable();
    if stems_a != stems_b {
        return false;
    }
    fn particle<'a>(s: &[(&str, &'a str)], stem: &str) -> Option<&'a str> {
        s.iter().find(|x| x.0 == stem).map(|x| x.1)
    }
    sa.iter().enumerate().any(|(i, &(x, px))| {
        sa[i + 1..].iter().any(|&(y, py)| {
            x != y && px != py && particle(&sb, x) == Some(py) && particle(&sb, y) == Some(px)
        })
    })
}

/// English words of one closed class whose members exclude each other
/// ("on Friday" / "on Saturday", "in June" / "in July", "tonight" /
/// "tomorrow"), matched as whole words. "may" and "fall" are left out
/// (a modal, a verb).
const EN_CLASSES: &[&[&str]] = &[
    &[
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    ],
    &[
        "january",
        "february",
        "march",
        "april",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
    ],
    &["today", "tomorrow", "yesterday", "tonight"],
    &[
        "morning",
        "afternoon",
        "evening",
        "night",
        "noon",
        "midnight",
    ],
    &["spring", "summer", "autumn", "winter"],
];

/// Whether one text uses a term of a class (`matches(word, term)`) the
/// other uses another term of, and neither uses two.
fn contrast(
    classes: &[&[&str]],
    a: &[String],
    b: &[String],
    matches: impl Fn(&str, &str) -> bool,
) -> bool {
    let has = |ws: &[String], term: &str| ws.iter().any(|w| matches(w, term));
    classes.iter().any(|class| {
        let in_a: Vec<&str> = class.iter().copied().filter(|t| has(a, t)).collect();
        let in_b: Vec<&str> = class.iter().copied().filter(|t| has(b, t)).collect();
        in_a.len() == 1 && in_b.len() == 1 && in_a[0] != in_b[0]
    })
}

/// WordNet's direct antonyms in used senses (`assets/synonyms`, rebuilt by
/// `tools/synonyms/build.py`): "thick" / "thin", "early" / "late".
const WORDNET_ANTONYMS: &str = include_str!("../../../assets/synonyms/wordnet-antonyms.txt");

/// The antonym tables: every form a word of a pair takes → the pair's
/// word, and that word → its antonyms (ours and WordNet's, both ways).
struct Antonyms {
    forms: HashMap<String, Vec<&'static str>>,
    opposite: HashMap<&'static str, Vec<&'static str>>,
}

/// Builds the antonym tables now (see [`super::surface::warm`]).
pub fn warm() {
    antonyms();
}

/// Whether the antonym tables are built (for the warm-up's test).
#[cfg(test)]
pub(super) fn tables_built() -> bool {
    TABLES.get().is_some_and(|t| !t.opposite.is_empty())
}

static TABLES: std::sync::OnceLock<Antonyms> = std::sync::OnceLock::new();

fn antonyms() -> &'static Antonyms {
    TABLES.get_or_init(|| {
        let mut t = Antonyms {
            forms: HashMap::new(),
            opposite: HashMap::new(),
        };
        let mut add = |x: &'static str, y: &'static str, pos: &str| {
            for (w, other) in [(x, y), (y, x)] {
                t.opposite.entry(w).or_default().push(other);
                for form in std::iter::once(w.to_string()).chain(inflections(w, pos)) {
                    t.forms.entry(form).or_default().push(w);
                }
            }
        };
        // Ours are listed form by form ("enabled" / "disabled").
        for (x, y) in ANTONYMS {
            add(x, y, "");
        }
        for line in WORDNET_ANTONYMS.lines() {
            let mut parts = line.split(' ');
            if let (Some(x), Some(y), Some(pos)) = (parts.next(), parts.next(), parts.next()) {
                add(x, y, pos);
            }
        }
        t
    })
}

/// Regular inflections of a word of part of speech `pos` (WordNet's n, v,
/// a): plurals, verb endings, comparatives ("thin" → "thinner",
/// "thinnest"; "easy" → "easier"). Particles ("off", "up") keep their one
/// form: "off" + "er" is another word.
fn inflections(w: &str, pos: &str) -> Vec<String> {
    if w.chars().count() < 3 || super::surface::is_function_word(w) {
        return Vec::new();
    }
    let chars: Vec<char> = w.chars().collect();
    let vowel = |c: char| "aeiou".contains(c);
    let n = chars.len();
    // A short word ending consonant-vowel-consonant doubles its last letter.
    let doubled = (n <= 4
        && !vowel(chars[n - 1])
        && vowel(chars[n - 2])
        && !vowel(chars[n - 3])
        && !"wxy".contains(chars[n - 1]))
    .then(|| format!("{w}{}", chars[n - 1]));
    let y_stem = w.strip_suffix('y').map(|s| format!("{s}i"));
    let e_stem = w.strip_suffix('e');
    let endings: &[&str] = match pos {
        "n" => &["s", "es"],
        "v" => &["s", "es", "ed", "ing"],
        "a" => &["er", "est"],
        _ => &[],
    };
    let mut out = Vec::new();
    for ending in endings {
        out.push(format!("{w}{ending}"));
        if let Some(stem) = &doubled {
            out.push(format!("{stem}{ending}"));
        }
        if let Some(stem) = &y_stem {
            if *ending != "ing" {
                out.push(format!("{stem}{}", ending.trim_start_matches('e')));
                out.push(format!("{stem}e{}", ending.trim_start_matches('e')));
            }
        }
        if let Some(stem) = e_stem {
            out.push(format!("{stem}{ending}"));
        }
    }
    out
}

/// Whether one text uses a word (or an inflection of it: "thinner",
/// "closed") whose antonym the other uses, where the pair is not shared by
/// both texts.
fn has_antonym_pair(a: &[String], b: &[String]) -> bool {
    let t = antonyms();
    let bases = |ws: &[String]| -> HashSet<&'static str> {
        ws.iter()
            .filter_map(|w| t.forms.get(w.as_str()))
            .flatten()
            .copied()
            .collect()
    };
    let (ba, bb) = (bases(a), bases(b));
    ba.iter().any(|x| {
        !bb.contains(x)
            && t.opposite
                .get(x)
                .is_some_and(|ys| ys.iter().any(|y| bb.contains(y) && !ba.contains(y)))
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
        assert_eq!(
            ALL.veto("refund order A1234", "refund order A1235"),
            Some("numbers differ")
        );
    }

    #[test]
    fn a_number_with_another_unit_is_another_request() {
        for (a, b) in [
            (
                "업로드 용량 제한이 25MB인가요?",
                "업로드 용량 제한이 25GB인가요?",
            ),
            (
                "1GB 받는 데 100Mbps면 얼마나 걸려요?",
                "1GB 받는 데 100MB/s면 얼마나 걸려요?",
            ),
            ("Is the limit 25 MB?", "Is the limit 25 GB?"),
            ("How far is 10 km?", "How far is 10 miles?"),
            ("배송은 3일 걸려요?", "배송은 3주 걸려요?"),
        ] {
            assert_eq!(ALL.veto(a, b), Some("units differ"), "{a} / {b}");
        }
        for (a, b) in [
            ("Is the limit 25 MB?", "Is the limit 25MB?"),
            ("Is the limit 25 megabytes?", "Is the limit 25 MB?"),
            ("How far is 10 km?", "How far is 10 kilometers?"),
            ("Is the limit 25 MB?", "Is 25 the limit?"),
            ("배송은 3일 걸려요?", "배송 3일이면 돼요?"),
        ] {
            let numbers = Guard {
                numbers: true,
                ..Guard::OFF
            };
            assert_eq!(numbers.veto(a, b), None, "{a} / {b}");
        }
    }

    #[test]
    fn english_days_months_and_times_exclude_each_other() {
        for (a, b) in [
            (
                "Can I book a table on Friday?",
                "Can I book a table on Saturday?",
            ),
            ("Is the office open in June?", "Is the office open in July?"),
            ("Can I check in tonight?", "Can I check in tomorrow?"),
        ] {
            assert_eq!(ALL.veto(a, b), Some("opposite words"), "{a} / {b}");
        }
        for (a, b) in [
            (
                "Can I book a table on Friday?",
                "Could I book a table for Friday?",
            ),
            ("May I book for June?", "Can I book for June?"),
            (
                "Is it open Friday or Saturday?",
                "Is it open on Saturday or Friday?",
            ),
        ] {
            assert_eq!(ALL.veto(a, b), None, "{a} / {b}");
        }
    }

    #[test]
    fn korean_words_that_swap_their_particles_swap_arguments() {
        for (a, b) in [
            (
                "전세보다 월세가 나은 점은 뭔가요?",
                "월세보다 전세가 나은 점은 뭔가요?",
            ),
            (
                "섭씨 30도는 화씨로 몇 도예요?",
                "화씨 30도는 섭씨로 몇 도예요?",
            ),
            (
                "서울에서 부산까지 얼마나 걸려요?",
                "부산에서 서울까지 얼마나 걸려요?",
            ),
        ] {
            assert_eq!(ALL.veto(a, b), Some("arguments swapped"), "{a} / {b}");
        }
        for (a, b) in [
            ("비밀번호를 바꾸는 법", "비밀번호 바꾸는 법"),
            (
                "월세가 전세보다 나은 점은 뭔가요?",
                "전세보다 월세가 나은 점은 뭔가요?",
            ),
            (
                "서울에서 부산까지 얼마나 걸려요?",
                "서울에서 부산까지 몇 시간 걸려요?",
            ),
        ] {
            assert_eq!(ALL.veto(a, b), None, "{a} / {b}");
        }
    }

    #[test]
    fn korean_terms_of_one_class_exclude_each_other() {
        for (a, b) in [
            ("일요일에도 영업하나요?", "월요일에도 영업하나요?"),
            ("글자 크기 키우는 법", "글자 크기 줄이는 법"),
            ("가장 싼 항공권은?", "가장 비싼 항공권은?"),
            ("뉴스레터 구독 신청하는 법", "뉴스레터 구독 취소하는 법"),
            ("마라톤은 몇 킬로미터예요?", "마라톤은 몇 마일이에요?"),
            ("계정 활성화 방법", "계정 비활성화 방법"),
        ] {
            assert_eq!(ALL.veto(a, b), Some("opposite words"), "{a} / {b}");
        }
        for (a, b) in [
            ("일요일에도 영업하나요?", "일요일도 영업해요?"),
            ("오늘 내일 중 언제 가요?", "내일이나 오늘 가요?"),
            ("비싼 항공권", "비싼 비행기표"),
            ("월요일 예약 변경", "월요일 예약 바꾸기"),
        ] {
            assert_eq!(ALL.veto(a, b), None, "{a} / {b}");
        }
    }

    #[test]
    fn a_moved_clause_keeps_its_numbers_as_a_set() {
        let (a, b) = (
            "In 2 hours, how far does a car going 60 mph travel?",
            "How far does a car going 60 mph travel in 2 hours?",
        );
        assert_eq!(ALL.veto(a, b), Some("numbers differ"));
        assert_eq!(ALL.veto_moved(a, b), None);
        assert_eq!(
            ALL.veto_moved("What's -5 plus 3?", "What's 5 plus 3?"),
            Some("numbers differ")
        );
        assert_eq!(
            ALL.veto_moved("In 2 hours at 60 mph", "In 3 hours at 60 mph"),
            Some("numbers differ")
        );
    }

    /// Issue 15: each pair was served as an L3 hit (0.97–1.0 similar).
    #[test]
    fn sign_order_separators_and_operators_must_match() {
        let differ = [
            ("Set the temperature to -20", "Set the temperature to 20"),
            ("Set the temperature to −20", "Set the temperature to 20"),
            ("What is 10 minus 3?", "What is 3 minus 10?"),
            ("What is 2/3 as a decimal?", "What is 3/2 as a decimal?"),
            ("What is 2^10?", "What is 10^2?"),
            ("What is 3.14 rounded?", "What is 3,14 rounded?"),
            ("Is x > 5 when x = 3?", "Is x < 5 when x = 3?"),
            ("What is 10 minus 3?", "What is 10 plus 3?"),
            ("What is 6 * 2?", "What is 6 / 2?"),
            ("Is 7 greater than 5?", "Is 7 less than 5?"),
            ("x >= 3", "x > 3"),
            ("What is 2 + 3 * 4?", "What is 2 * 3 + 4?"),
            ("a growth of 5%", "a growth of 5"),
            ("1,000 users", "1.000 users"),
            ("is the price > $5", "is the price < $5"),
            ("what is x + y", "what is x - y"),
            ("x-3", "x+3"),
        ];
        for (a, b) in differ {
            assert!(ALL.veto(a, b).is_some(), "{a:?} / {b:?} passed");
            assert!(ALL.veto(b, a).is_some(), "{b:?} / {a:?} passed");
        }
    }

    #[test]
    fn same_numbers_in_the_same_order_still_pass() {
        let same = [
            ("What is 10 minus 3?", "what's 10 - 3"),
            ("What is 10-3?", "What is 10 - 3?"),
            ("Is x > 5 when x = 3?", "is x > 5 when x = 3"),
            ("what is x minus y", "what is x - y"),
            (
                "up 48 percent year-over-year",
                "up 48 per cent year-on-year",
            ),
            ("the 60-year-old president", "the president, 60,"),
            ("O'Donnell and G+J sued", "O'Donnell and G+J are suing"),
            ("TOWNSHIP, N.J. Annika", "TOWNSHIP, N.J. >> Annika"),
            ("maps a -> b when x = 1", "maps a => b when x = 1"),
            ("Is 7 greater than 5?", "is 7 > 5"),
            ("We have 1,000 users", "we have 1000 users"),
            (
                "revenue of 1,250,000.50 dollars",
                "revenue of 1250000.50 dollars",
            ),
            (
                "Set the temperature to -20",
                "set temperature to -20 please",
            ),
            (
                "two-factor login on my e-mail",
                "two factor login on my email",
            ),
            ("pros and/or cons", "pros and cons"),
            ("what is 5 divided by 2", "what is 5 / 2"),
            ("a growth of 5%", "5 percent growth"),
            (
                "meeting on 2024-01-05 at 3pm",
                "the 2024-01-05 meeting at 3pm",
            ),
            ("F-16 top speed", "top speed of an F-16"),
        ];
        let numbers_only = Guard {
            numbers: true,
            ..Guard::OFF
        };
        for (a, b) in same {
            assert_eq!(numbers_only.veto(a, b), None, "{a:?} / {b:?}");
            assert_eq!(numbers_only.veto(b, a), None, "{b:?} / {a:?}");
        }
    }

    #[test]
    fn numbers_are_canonical() {
        let nums = |t: &str| -> Vec<String> {
            critical(t)
                .into_iter()
                .filter_map(|c| match c {
                    Crit::Num(n) => Some(n),
                    Crit::Op(_) => None,
                })
                .collect()
        };
        assert_eq!(nums("1,000 and 1,000,000.5"), ["1000", "1000000.5"]);
        assert_eq!(
            nums("3,14 and 3.14 and 1.000 and 007"),
            ["3,14", "3.14", "1.000", "007"]
        );
        assert_eq!(
            nums("to -20, x=-1, (+3), 2024-01"),
            ["-20", "-1", "+3", "2024", "01"]
        );
        assert_eq!(nums("version 3. Then 1,2,3"), ["3", "1,2,3"]);
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
        // WordNet's antonyms, in any regular form.
        for (a, b) in [
            (
                "How do I make my soup thicker?",
                "How do I make my soup thinner?",
            ),
            ("Is the early check-in free?", "Is the late check-in free?"),
            (
                "Why is the photo brighter now?",
                "Why is the photo duller now?",
            ),
            (
                "Which cable is the longest?",
                "Which cable is the shortest?",
            ),
            (
                "Why is my bill higher this month?",
                "Why is my bill lower this month?",
            ),
        ] {
            assert_eq!(ALL.veto(a, b), Some("opposite words"), "{a} / {b}");
        }
        // A particle keeps its one form ("offer" is not "off" + "er"); a
        // pair both texts share vetoes nothing.
        for (a, b) in [
            ("Do you offer discounts?", "Are discounts on for students?"),
            ("Is it hot or cold?", "Is it cold or hot?"),
        ] {
            assert_eq!(ALL.veto(a, b), None, "{a} / {b}");
        }
        assert_eq!(
            ALL.veto("can I delete my account", "can't I delete my account"),
            Some("negation differs")
        );
        assert_eq!(
            ALL.veto("is it safe", "is it not safe"),
            Some("negation differs")
        );
        assert_eq!(ALL.veto("is it not safe", "isn't it safe"), None);
        // The apostrophe left out is the same negation.
        assert_eq!(
            ALL.veto("it still hasn't shipped", "it still hasnt shipped"),
            None
        );
        assert_eq!(ALL.veto("I dont have it", "I don't have it"), None);
        // "No," answering a question does not negate the clause after it.
        assert_eq!(
            ALL.veto(
                "No, it doesn't exist in version 2.10.0.",
                "Version 2.10.0 does not have it."
            ),
            None
        );
        assert_eq!(
            ALL.veto(
                "Is it free? No. It costs money.",
                "Is it free? It costs money."
            ),
            None
        );
        assert!(ALL.veto("No fees apply.", "Fees apply.").is_some());
        assert!(ALL.veto("There is no fee", "There is a fee").is_some());
        // Korean: 안/못 as words and -지 않다/없다 negate; the same syllable
        // inside another word (안전, 안내, 잘못) does not.
        assert!(ALL.veto("오늘 가요", "오늘 안 가요").is_some());
        assert!(ALL.veto("환불 가능해요", "환불 못 해요").is_some());
        assert!(ALL.veto("재고가 있어요", "재고가 없어요").is_some());
        assert!(ALL.veto("먹어도 돼요", "먹지 않아도 돼요").is_some());
        assert_eq!(ALL.veto("이 제품 안전한가요", "이 제품은 안전한가요"), None);
        assert_eq!(ALL.veto("배송 안내 부탁해요", "배송 알려주세요"), None);
        assert_eq!(ALL.veto("결제를 잘못 했어요", "결제 실수를 했어요"), None);
        assert!(ALL.veto("it has shipped", "it hasnt shipped").is_some());
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
