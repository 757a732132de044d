//! Passive and active voice: "Was my payment received?" asks what "Did you
//! receive my payment?" asks.
//!
//! Support requests flip voice all the time, and the pair verifier (trained
//! to reject a near-duplicate whose words moved) refuses most of them. This
//! module proves the flip by matching, not parsing: a passive question
//! `[wh] BE N PARTICIPLE [by AGENT] REST` is the active question
//! `[wh] DO AGENT VERB N REST` when the auxiliaries agree in tense (is/are
//! with do/does, was/were with did, a modal with itself, has/have been with
//! has/have), the participle is a form of the verb, and the agent is the one
//! the passive names, or, when it names none, a generic one ("you", "they",
//! "someone"; "I" after can/could/may). The wh-subject form is matched too:
//! "Who wrote Hamlet?" / "By whom was Hamlet written?".
//!
//! Every other word must be the same, in the same order, so two swapped
//! arguments never match ("Did the bank pay the merchant?" / "Was the bank
//! paid by the merchant?"), and a sentence with "not" is never matched.

/// Auxiliary of a passive question, with the active one it pairs with.
#[derive(Clone, Copy, PartialEq)]
enum Aux {
    Present,
    Past,
    Modal,
    Perfect,
}

fn aux_of(word: &str) -> Option<Aux> {
    Some(match word {
        "is" | "are" | "am" | "do" | "does" => Aux::Present,
        "was" | "were" | "did" => Aux::Past,
        "will" | "can" | "could" | "should" | "would" | "must" | "may" | "might" => Aux::Modal,
        "has" | "have" => Aux::Perfect,
        _ => return None,
    })
}

fn is_be(word: &str) -> bool {
    matches!(word, "is" | "are" | "am" | "was" | "were")
}

/// Agents a passive without "by …" leaves unnamed.
fn generic_agent(word: &str, aux: &str) -> bool {
    matches!(
        word,
        "you" | "they" | "we" | "someone" | "somebody" | "anyone" | "anybody" | "people"
    ) || (word == "i" && matches!(aux, "can" | "could" | "may"))
}

/// Irregular verbs: base, past, past participle.
const IRREGULAR: &[(&str, &str, &str)] = &[
    ("be", "was", "been"),
    ("become", "became", "become"),
    ("begin", "began", "begun"),
    ("bend", "bent", "bent"),
    ("bind", "bound", "bound"),
    ("bite", "bit", "bitten"),
    ("blow", "blew", "blown"),
    ("break", "broke", "broken"),
    ("bring", "brought", "brought"),
    ("broadcast", "broadcast", "broadcast"),
    ("build", "built", "built"),
    ("burn", "burnt", "burnt"),
    ("buy", "bought", "bought"),
    ("catch", "caught", "caught"),
    ("choose", "chose", "chosen"),
    ("come", "came", "come"),
    ("cost", "cost", "cost"),
    ("cut", "cut", "cut"),
    ("deal", "dealt", "dealt"),
    ("dig", "dug", "dug"),
    ("do", "did", "done"),
    ("draw", "drew", "drawn"),
    ("drink", "drank", "drunk"),
    ("drive", "drove", "driven"),
    ("eat", "ate", "eaten"),
    ("fall", "fell", "fallen"),
    ("feed", "fed", "fed"),
    ("feel", "felt", "felt"),
    ("fight", "fought", "fought"),
    ("find", "found", "found"),
    ("fly", "flew", "flown"),
    ("forbid", "forbade", "forbidden"),
    ("forecast", "forecast", "forecast"),
    ("forget", "forgot", "forgotten"),
    ("forgive", "forgave", "forgiven"),
    ("freeze", "froze", "frozen"),
    ("get", "got", "gotten"),
    ("give", "gave", "given"),
    ("go", "went", "gone"),
    ("grow", "grew", "grown"),
    ("hang", "hung", "hung"),
    ("have", "had", "had"),
    ("hear", "heard", "heard"),
    ("hide", "hid", "hidden"),
    ("hit", "hit", "hit"),
    ("hold", "held", "held"),
    ("hurt", "hurt", "hurt"),
    ("keep", "kept", "kept"),
    ("know", "knew", "known"),
    ("lay", "laid", "laid"),
    ("lead", "led", "led"),
    ("leave", "left", "left"),
    ("lend", "lent", "lent"),
    ("let", "let", "let"),
    ("light", "lit", "lit"),
    ("lose", "lost", "lost"),
    ("make", "made", "made"),
    ("mean", "meant", "meant"),
    ("meet", "met", "met"),
    ("mistake", "mistook", "mistaken"),
    ("overpay", "overpaid", "overpaid"),
    ("pay", "paid", "paid"),
    ("prepay", "prepaid", "prepaid"),
    ("put", "put", "put"),
    ("quit", "quit", "quit"),
    ("read", "read", "read"),
    ("rebuild", "rebuilt", "rebuilt"),
    ("redo", "redid", "redone"),
    ("repay", "repaid", "repaid"),
    ("resend", "resent", "resent"),
    ("reset", "reset", "reset"),
    ("rewrite", "rewrote", "rewritten"),
    ("ride", "rode", "ridden"),
    ("ring", "rang", "rung"),
    ("rise", "rose", "risen"),
    ("run", "ran", "run"),
    ("say", "said", "said"),
    ("see", "saw", "seen"),
    ("seek", "sought", "sought"),
    ("sell", "sold", "sold"),
    ("send", "sent", "sent"),
    ("set", "set", "set"),
    ("shake", "shook", "shaken"),
    ("shoot", "shot", "shot"),
    ("show", "showed", "shown"),
    ("shut", "shut", "shut"),
    ("sing", "sang", "sung"),
    ("sink", "sank", "sunk"),
    ("sit", "sat", "sat"),
    ("sleep", "slept", "slept"),
    ("speak", "spoke", "spoken"),
    ("spend", "spent", "spent"),
    ("split", "split", "split"),
    ("spread", "spread", "spread"),
    ("stand", "stood", "stood"),
    ("steal", "stole", "stolen"),
    ("stick", "stuck", "stuck"),
    ("strike", "struck", "struck"),
    ("swear", "swore", "sworn"),
    ("sweep", "swept", "swept"),
    ("swim", "swam", "swum"),
    ("take", "took", "taken"),
    ("teach", "taught", "taught"),
    ("tear", "tore", "torn"),
    ("tell", "told", "told"),
    ("think", "thought", "thought"),
    ("throw", "threw", "thrown"),
    ("understand", "understood", "understood"),
    ("undo", "undid", "undone"),
    ("upset", "upset", "upset"),
    ("wake", "woke", "woken"),
    ("wear", "wore", "worn"),
    ("win", "won", "won"),
    ("withdraw", "withdrew", "withdrawn"),
    ("withhold", "withheld", "withheld"),
    ("write", "wrote", "written"),
];

fn vowel(c: char) -> bool {
    matches!(c, 'a' | 'e' | 'i' | 'o' | 'u')
}

/// Whether `part` is the past participle of the verb `base`.
fn participle_of(part: &str, base: &str) -> bool {
    if let Some(&(_, _, p)) = IRREGULAR.iter().find(|(b, _, _)| *b == base) {
        return part == p;
    }
    if base.len() < 2 {
        return false;
    }
    let Some(stem) = part.strip_suffix("ed") else {
        return false;
    };
    let last = base.chars().last().unwrap_or(' ');
    let before = base.chars().rev().nth(1).unwrap_or(' ');
    stem == base
        || (last == 'e' && format!("{stem}e") == base)
        || (last == 'y'
            && !vowel(before)
            && format!("{}y", stem.strip_suffix('i').unwrap_or("#")) == base)
        || (stem.len() == base.len() + 1
            && stem.starts_with(base)
            && stem.ends_with(last)
            && !vowel(last))
}

/// The bases `word` may be a form of (3rd person -s, past -ed, irregular
/// past, or the base itself), for the wh-subject form; the caller checks
/// each against the participle, so a wrong guess ("approv") matches nothing.
fn bases_of(word: &str) -> Vec<String> {
    let mut out = vec![word.to_string()];
    for &(b, past, _) in IRREGULAR {
        if past == word {
            out.push(b.to_string());
        }
    }
    if let Some(s) = word.strip_suffix("ies") {
        out.push(format!("{s}y"));
    }
    if let Some(s) = word.strip_suffix("es") {
        out.push(s.to_string());
    }
    if let Some(s) = word.strip_suffix('s') {
        out.push(s.to_string());
    }
    if let Some(s) = word.strip_suffix("ed") {
        out.extend(super::stems(s));
    }
    out
}

/// Whether `word` is `base` inflected for `aux`'s tense in a wh-subject
/// question ("Who approves …" present, "Who approved / wrote …" past).
fn inflected(word: &str, base: &str, aux: Aux) -> bool {
    match aux {
        Aux::Present => {
            word == base
                || word == format!("{base}s")
                || word == format!("{base}es")
                || (base.ends_with('y') && word == format!("{}ies", &base[..base.len() - 1]))
        }
        Aux::Past => match IRREGULAR.iter().find(|(b, _, _)| *b == base) {
            Some(&(_, past, _)) => word == past,
            None => participle_of(word, base),
        },
        _ => false,
    }
}

/// Whether two lists of sentences are the same but for one sentence that
/// is the other's voice flipped.
pub fn apart(a: &[Vec<String>], b: &[Vec<String>]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let differ: Vec<usize> = (0..a.len()).filter(|&i| a[i] != b[i]).collect();
    let [i] = differ.as_slice() else {
        return false;
    };
    // The "can i" frame ("can I", "is it possible to", …) is an auxiliary
    // and an agent here.
    let open = |s: &[String]| -> Vec<String> {
        s.iter()
            .flat_map(|w| match w.as_str() {
                "can-i" => vec!["can".to_string(), "i".to_string()],
                // "How do you calculate X" asks how X is calculated.
                "how-to" => vec!["how".to_string(), "do".to_string(), "you".to_string()],
                _ => vec![w.clone()],
            })
            .collect()
    };
    let (x, y) = (&open(&a[*i]), &open(&b[*i]));
    let negated = |s: &[String]| s.iter().any(|w| w == "not" || w == "never");
    if negated(x) || negated(y) {
        return false;
    }
    flipped(x, y)
        || flipped(y, x)
        || wh_subject(x, y)
        || wh_subject(y, x)
        || asked_to_do(x, y)
        || asked_to_do(y, x)
}

/// `p` = "will/can/could/would N be PARTICIPLE REST" and `q` = "VERB N
/// REST": the request "Will you delete my data …?" after its "will you"
/// frame was dropped ([`super::sentences`]).
fn asked_to_do(p: &[String], q: &[String]) -> bool {
    let Some((aux, rest)) = p.split_first() else {
        return false;
    };
    if !matches!(aux.as_str(), "will" | "can" | "could" | "would") {
        return false;
    }
    let Some((verb, object)) = q.split_first() else {
        return false;
    };
    (1..rest.len()).any(|j| {
        let (subject, after) = rest.split_at(j);
        matches!(after, [be, part, tail @ ..] if be == "be"
            && participle_of(part, verb)
            && object_is(object, subject, tail))
    })
}

/// `p` a passive question and `q` the same in the active voice.
fn flipped(p: &[String], q: &[String]) -> bool {
    // A shared opening (a question word, "how long", …) up to the auxiliary.
    let Some(i) = p.iter().take(4).position(|w| aux_of(w).is_some()) else {
        return false;
    };
    if q.len() <= i + 2 || p[..i] != q[..i] {
        return false;
    }
    let (pa, qa) = (p[i].as_str(), q[i].as_str());
    let (Some(kind), Some(qkind)) = (aux_of(pa), aux_of(qa)) else {
        return false;
    };
    // The passive's auxiliary is "be" (or a modal / has with "be" / "been"
    // after the subject); the active's is do/does/did, the same modal, or
    // has/have.
    // A finished event asked in the simple past or the present perfect is
    // one question ("Was my refund processed?" / "Have you processed my
    // refund?"; "Has my claim been approved?" / "Did you approve my claim?").
    let agrees = match kind {
        Aux::Present => is_be(pa) && matches!(qa, "do" | "does") && qkind == kind,
        Aux::Past => is_be(pa) && (qa == "did" || qkind == Aux::Perfect),
        Aux::Modal => qa == pa,
        Aux::Perfect => matches!(qkind, Aux::Perfect | Aux::Past) && !is_be(qa),
    };
    if !agrees {
        return false;
    }
    let rest = &p[i + 1..];
    let active = &q[i + 1..];
    // N = rest[..j], then ("be" | "been")? PARTICIPLE, then "by AGENT"? REST.
    for j in 1..rest.len() {
        let (subject, after) = rest.split_at(j);
        let after = match kind {
            Aux::Modal => match after.split_first() {
                Some((be, more)) if be == "be" => more,
                _ => continue,
            },
            Aux::Perfect => match after.split_first() {
                Some((been, more)) if been == "been" => more,
                _ => continue,
            },
            _ => after,
        };
        let Some((part, tail)) = after.split_first() else {
            continue;
        };
        // Without "by": a generic agent, the rest follows the object.
        if matches_active(active, None, part, subject, tail, qkind, pa) {
            return true;
        }
        // With "by AGENT": the agent is one to four words.
        if let Some((by, agent_rest)) = tail.split_first() {
            if by == "by" {
                for k in 1..=agent_rest.len().min(4) {
                    let (agent, more) = agent_rest.split_at(k);
                    if matches_active(active, Some(agent), part, subject, more, qkind, pa) {
                        return true;
                    }
                }
            }
        }
    }
    false
}

/// `active` = AGENT VERB SUBJECT REST, VERB the base of `part` (or `part`
/// itself after has/have).
fn matches_active(
    active: &[String],
    agent: Option<&[String]>,
    part: &str,
    subject: &[String],
    rest: &[String],
    active_kind: Aux,
    aux: &str,
) -> bool {
    let after_agent = match agent {
        Some(agent) => match active.strip_prefix(agent) {
            Some(more) => more,
            None => return false,
        },
        None => match active.split_first() {
            Some((who, more)) if generic_agent(who, aux) => more,
            _ => return false,
        },
    };
    let Some((verb, object)) = after_agent.split_first() else {
        return false;
    };
    // After has/have the active verb is the participle itself, after do/did
    // its base.
    let verb_ok = match active_kind {
        Aux::Perfect => verb == part,
        _ => participle_of(part, verb),
    };
    verb_ok && object_is(object, subject, rest)
}

/// Whether the active's object and what follows it (`object`) is the
/// passive's subject and rest: the same words, a subject pronoun in its
/// object form ("Was I billed" / "Did you bill me"), and a particle the
/// passive left after the participle ("be mailed out") before the object
/// ("mail out my card").
fn object_is(object: &[String], subject: &[String], rest: &[String]) -> bool {
    let as_object = |w: &String| -> String {
        match w.as_str() {
            "i" => "me",
            "we" => "us",
            "he" => "him",
            "she" => "her",
            "they" => "them",
            other => other,
        }
        .to_string()
    };
    let subject: Vec<String> = subject.iter().map(as_object).collect();
    let plain = object.len() == subject.len() + rest.len()
        && object.starts_with(&subject)
        && object.ends_with(rest);
    let particle = matches!(
        rest.first().map(String::as_str),
        Some("out" | "up" | "off" | "down" | "back" | "over" | "away")
    ) && object.len() == subject.len() + rest.len()
        && object[0] == rest[0]
        && object[1..].starts_with(&subject)
        && object[1 + subject.len()..] == rest[1..];
    plain || particle
}

/// `p` = "by whom BE N PART REST" or "who BE N PART by", `q` = "who VERB N
/// REST".
fn wh_subject(p: &[String], q: &[String]) -> bool {
    let (Some(first), Some(verb)) = (q.first(), q.get(1)) else {
        return false;
    };
    if first != "who" {
        return false;
    }
    let (be, body): (&str, Vec<String>) = match p {
        [by, whom, be, body @ ..] if by == "by" && whom == "whom" => (be.as_str(), body.to_vec()),
        [who, be, body @ .., by] if who == "who" && by == "by" => (be.as_str(), body.to_vec()),
        _ => return false,
    };
    let Some(kind) = aux_of(be).filter(|_| is_be(be)) else {
        return false;
    };
    let object = &q[2..];
    // body = N PART REST; object = N REST.
    (1..body.len()).any(|j| {
        let (subject, after) = body.split_at(j);
        let (part, rest) = (&after[0], &after[1..]);
        object.len() == subject.len() + rest.len()
            && object.starts_with(subject)
            && object.ends_with(rest)
            && bases_of(verb)
                .iter()
                .any(|b| participle_of(part, b) && inflected(verb, b, kind))
    })
}

#[cfg(test)]
mod tests {
    use super::super::same_request;

    #[test]
    fn a_passive_question_is_its_active_one() {
        for (a, b) in [
            ("Was my payment received?", "Did you receive my payment?"),
            // A finished event in the past or the present perfect.
            ("Was my refund processed?", "Have you processed my refund?"),
            ("Has my claim been approved?", "Did you approve my claim?"),
            // "How do you …" (a frame), a pronoun in its object form, a
            // particle after the participle.
            (
                "How is interest calculated on my savings?",
                "How do you calculate interest on my savings?",
            ),
            (
                "Why was I billed twice this month?",
                "Why did you bill me twice this month?",
            ),
            (
                "Will I be charged for cancelling within 24 hours?",
                "Will you charge me for cancelling within 24 hours?",
            ),
            (
                "When will my replacement card be mailed out?",
                "When will you mail out my replacement card?",
            ),
            (
                "Why was my account suspended?",
                "Why did you suspend my account?",
            ),
            ("Has my claim been approved?", "Have you approved my claim?"),
            (
                "Are pets allowed in the rooms?",
                "Do you allow pets in the rooms?",
            ),
            (
                "When will my order be shipped?",
                "When will you ship my order?",
            ),
            (
                "Can my subscription be transferred to another person?",
                "Can I transfer my subscription to another person?",
            ),
            (
                "Are children charged full price?",
                "Do you charge children full price?",
            ),
            (
                "Was my flight cancelled by the airline?",
                "Did the airline cancel my flight?",
            ),
            ("Who wrote Hamlet?", "By whom was Hamlet written?"),
            (
                "Who approves expense reports?",
                "By whom are expense reports approved?",
            ),
            (
                "Who invented the telephone?",
                "By whom was the telephone invented?",
            ),
            (
                "Will my data be deleted if I close the account?",
                "Will you delete my data if I close the account?",
            ),
            (
                "We'd like to book the room. Is a deposit required to book it?",
                "We'd like to book the room. Do you require a deposit to book it?",
            ),
        ] {
            assert!(same_request(a, b), "{a} / {b}");
            assert!(same_request(b, a), "{b} / {a}");
        }
    }

    #[test]
    fn another_agent_tense_verb_or_object_is_not() {
        for (a, b) in [
            // Another person, another particle.
            ("Why was I billed twice?", "Why did you bill them twice?"),
            (
                "When will my card be mailed out?",
                "When will you mail back my card?",
            ),
            // The arguments swapped.
            (
                "Was the bank paid by the merchant?",
                "Did the bank pay the merchant?",
            ),
            // Another agent than the one named.
            (
                "Was my flight cancelled by the airline?",
                "Did you cancel my flight?",
            ),
            // Another tense.
            ("Is my payment received?", "Did you receive my payment?"),
            // Another verb.
            ("Was my payment received?", "Did you refund my payment?"),
            // Another object.
            ("Was my payment received?", "Did you receive my invoice?"),
            // A negation.
            ("Wasn't my payment received?", "Did you receive my payment?"),
            // "I" is no unnamed agent of a question about what happened.
            ("Was my payment received?", "Did I receive my payment?"),
            ("Who wrote Hamlet?", "By whom was Macbeth written?"),
            (
                "Will my data be deleted if I close the account?",
                "Will you export my data if I close the account?",
            ),
        ] {
            assert!(!same_request(a, b), "{a} / {b}");
            assert!(!same_request(b, a), "{b} / {a}");
        }
    }
}
