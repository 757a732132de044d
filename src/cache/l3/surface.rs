//! Surface equivalence: two requests that differ only in how they were
//! typed, not in what they ask.
//!
//! Most repeats a cache sees are the same request typed again: another case,
//! punctuation, spacing or hyphenation ("dark-mode", "user name"), a
//! greeting or a "please" around it, one slipped letter ("passwrod"). The
//! pair verifier is trained to reject a near-duplicate with one changed
//! word, and it scores many of these low; a rule that proves two texts are
//! the same words needs no model. It is deliberately narrow: every word that
//! is not a courtesy must match in order, letters and digits alike, except
//! one typing slip inside a long word (two swapped neighbours in a word of
//! six or more letters, or one letter missing or extra in a word of eight or
//! more), never in a word with a digit. A changed number, name, negation or
//! order is never surface-equal, and the guard still runs after this.

/// Courtesy words and fillers that never change what a request asks.
const COURTESY: &[&str] = &[
    "hi",
    "hello",
    "hey",
    "please",
    "pls",
    "plz",
    "kindly",
    "thanks",
    "thx",
    "cheers",
    "um",
    "uh",
    "umm",
    "hmm",
    "lol",
    "ok",
    "okay",
    "sorry",
    "안녕하세요",
    "안녕",
    "감사합니다",
    "고맙습니다",
    "혹시",
    "좀",
    "제발",
];

/// Fillers that open a message ("lol ok so how do i ..."): dropped only
/// at the start, where they never carry the request.
const OPENERS: &[&str] = &[
    "so", "well", "also", "and", "but", "anyway", "right", "alright",
];

/// Multi-word courtesies, matched as whole word runs.
const COURTESY_RUNS: &[&[&str]] = &[
    &["thank", "you"],
    &["thank", "you", "so", "much"],
    &["excuse", "me"],
    &["quick", "question"],
    &["just", "wondering"],
];

/// The words of `text` that carry its meaning: lower-cased, apostrophes
/// dropped ("what's" = "whats"), split at everything that is not a letter
/// or digit, courtesies removed.
fn words(text: &str) -> Vec<String> {
    let lowered: String = text
        .to_lowercase()
        .chars()
        .filter(|c| *c != '\'' && *c != '\u{2019}')
        .collect();
    let all: Vec<&str> = lowered
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    let mut out = Vec::with_capacity(all.len());
    let mut i = 0;
    'next: while i < all.len() {
        for run in COURTESY_RUNS.iter().rev() {
            if all[i..].starts_with(run) {
                i += run.len();
                continue 'next;
            }
        }
        let opener = out.is_empty() && OPENERS.contains(&all[i]);
        if !COURTESY.contains(&all[i]) && !opener {
            out.push(all[i].to_string());
        }
        i += 1;
    }
    out
}

/// Whether `a` and `b` differ by at most one typing slip (see the module
/// docs). Equal words are not a slip.
fn one_slip(a: &[char], b: &[char]) -> bool {
    let has_digit = |w: &[char]| w.iter().any(|c| c.is_numeric());
    if has_digit(a) || has_digit(b) {
        return false;
    }
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    match long.len() - short.len() {
        0 => {
            // Two swapped neighbours.
            let diff: Vec<usize> = (0..a.len()).filter(|&i| a[i] != b[i]).collect();
            a.len() >= 6 && diff.len() == 2 && diff[1] == diff[0] + 1 && {
                let (i, j) = (diff[0], diff[1]);
                a[i] == b[j] && a[j] == b[i]
            }
        }
        1 if long.len() >= 8 => {
            // One letter missing: the longer word without it is the shorter.
            let first = (0..short.len())
                .find(|&i| short[i] != long[i])
                .unwrap_or(short.len());
            short[first..] == long[first + 1..]
        }
        _ => false,
    }
}

/// Whether two requests are the same words (courtesies aside), allowing
/// word breaks to move ("user name" = "username") and one typing slip.
pub fn same_request(a: &str, b: &str) -> bool {
    let (wa, wb) = (words(a), words(b));
    if wa.is_empty() || wb.is_empty() {
        return false;
    }
    if wa == wb {
        return true;
    }
    // Word breaks may move ("dark-mode", "user name", "set-up"): compare the
    // letters, each word's start marked so that at most one slip is allowed
    // inside one word.
    let ja: String = wa.concat();
    let jb: String = wb.concat();
    if ja == jb {
        return true;
    }
    if wa.len() != wb.len() {
        return false;
    }
    let mut slips = 0;
    for (x, y) in wa.iter().zip(&wb) {
        if x == y {
            continue;
        }
        let (cx, cy): (Vec<char>, Vec<char>) = (x.chars().collect(), y.chars().collect());
        if !one_slip(&cx, &cy) {
            return false;
        }
        slips += 1;
    }
    slips == 1
}

#[cfg(test)]
mod tests {
    use super::*;

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
            (
                "Can I cancel my subscription?",
                "Can i cancle my subscription?",
            ),
            (
                "How much is the monthly subscription?",
                "How much is the monthly subscrption?",
            ),
            ("비밀번호 변경", "비밀번호변경"),
            ("혹시 환불 가능한가요?", "환불 가능한가요"),
        ] {
            assert!(same_request(a, b), "{a} / {b}");
            assert!(same_request(b, a), "{b} / {a}");
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
            // Two slips are two changes.
            (
                "How do I reset my password for the account?",
                "How do I reset my passwrod for the acocunt?",
            ),
            ("hi", "hello"),
            ("Is it well known?", "Is it known?"),
            ("", ""),
        ] {
            assert!(!same_request(a, b), "{a} / {b}");
        }
    }
}
