"""Rule-based pair generation for the L3 pair verifier (English + Korean).

Owns the *general* edit rules that turn one sentence into a near-duplicate that either keeps the
answer (label 1) or changes it (label 0). Rules work on any sentence; no rule looks at a test
phrase. Word pools (proper nouns, content words, Korean stems) are harvested from the TRAIN-split
sentences handed in. Closed word classes (weekdays, months, relative days, units, directions,
comparatives) and morphological antonym rules are general language facts, documented in README.md.
Every function takes a `random.Random` so that the build is deterministic.
"""
from __future__ import annotations

import random
import re

# ----------------------------------------------------------------------------------------------
# English word classes (closed classes; general language facts, not test phrases)
EN_CLASSES = [
    ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"],
    ["january", "february", "march", "april", "may", "june", "july", "august", "september",
     "october", "november", "december"],
    ["today", "tomorrow", "yesterday", "tonight"],
    ["morning", "afternoon", "evening", "night"],
    ["spring", "summer", "autumn", "winter"],
    ["second", "seconds", "minute", "minutes", "hour", "hours", "day", "days", "week", "weeks",
     "month", "months", "year", "years"],
    ["first", "second", "third", "fourth", "fifth", "last"],
    ["one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"],
    ["left", "right"], ["north", "south", "east", "west"], ["up", "down"], ["in", "out"],
    ["on", "off"], ["before", "after"], ["above", "below"], ["more", "less"], ["most", "least"],
    ["higher", "lower"], ["larger", "smaller"], ["increase", "decrease"], ["maximum", "minimum"],
    ["max", "min"], ["always", "never"], ["all", "some", "none"], ["everyone", "nobody"],
    ["buy", "sell"], ["open", "close"], ["start", "stop"], ["enable", "disable"],
    ["add", "remove"], ["upload", "download"], ["import", "export"], ["send", "receive"],
    ["win", "lose"], ["true", "false"], ["yes", "no"], ["man", "woman"], ["men", "women"],
    ["boy", "girl"], ["he", "she"], ["his", "her"], ["cat", "dog"], ["red", "blue", "green",
     "black", "white", "yellow"], ["hot", "cold"], ["big", "small"], ["good", "bad"],
    ["fast", "slow"], ["early", "late"], ["old", "new"], ["cheap", "expensive"],
    ["easy", "hard"], ["long", "short"], ["light", "heavy"], ["inside", "outside"],
    ["best", "worst"], ["better", "worse"], ["same", "different"], ["with", "without"],
    ["can", "cannot"], ["to", "from"], ["love", "hate"], ["accept", "reject"], ["allow", "deny"],
    ["win", "lose"], ["pass", "fail"], ["push", "pull"], ["login", "logout"],
    # units and currencies of the same dimension
    ["km", "mile", "miles", "meter", "meters", "feet", "foot", "inch", "inches", "cm", "mm", "yard", "yards",
     "kilometers", "kilometres", "metres", "centimeters"],
    ["kg", "kilogram", "kilograms", "pound", "pounds", "lb", "lbs", "ounce", "ounces", "gram", "grams", "ton", "tons"],
    ["celsius", "fahrenheit", "kelvin"], ["liter", "liters", "litre", "litres", "gallon", "gallons", "ml", "cup", "cups"],
    ["kb", "mb", "gb", "tb"], ["mph", "kph"], ["hz", "khz", "mhz", "ghz"], ["watt", "watts", "kw", "kwh"],
    ["dollar", "dollars", "euro", "euros", "yen", "pound", "pounds", "usd", "eur", "gbp", "jpy", "krw"],
    ["daily", "weekly", "monthly", "yearly", "annually", "hourly"],
]
EN_AUX = {"is", "are", "was", "were", "can", "could", "should", "will", "would", "do", "does",
          "did", "has", "have", "had", "must", "may", "might"}
EN_STOP = set("""a an the of to in on at for with by from and or but if then so as is are was were be been
being am do does did have has had i you he she it we they me him her us them my your his its our their
this that these those there here what which who whom whose when where why how can could should would
will shall may might must not no yes please just very really also too some any all each every other
such than about into over under up down out off again further once only own same both few more most
""".split())
EN_FILLER_PRE = ["please ", "hey, ", "hi, ", "can you tell me: ", "quick question: ", "i want to know: ",
                 "could you tell me, ", "so, ", "ok, ", "question: ", "excuse me, ", "hi team, ", "hello there, ",
                 "good morning, ", "sorry to bother you, but ", "hope you're well. ", "just wondering, ",
                 "i have a question. ", "quick one: ", "hi, sorry, ", "dear support, ", "hello! "]
EN_FILLER_POST = [" please", " thanks", ", thank you", " thanks!", " :)", " ?", " pls", " thank you so much",
                  ". many thanks", " cheers", ", any help appreciated", ". thanks in advance", " asap",
                  ". thanks a lot!", ", if you don't mind"]
EN_CONTRACT = [("do not", "don't"), ("does not", "doesn't"), ("did not", "didn't"), ("is not", "isn't"),
               ("are not", "aren't"), ("can not", "can't"), ("cannot", "can't"), ("will not", "won't"),
               ("what is", "what's"), ("i am", "i'm"), ("it is", "it's"), ("there is", "there's"),
               ("how is", "how's"), ("that is", "that's"), ("i have", "i've"), ("you are", "you're")]
EN_COORD = {"and", "or", "&"}
EN_PREFIX_NEG = ["un", "in", "im", "il", "ir", "dis", "non"]

# ----------------------------------------------------------------------------------------------
# Korean word classes and particles
KO_CLASSES = [
    ["월요일", "화요일", "수요일", "목요일", "금요일", "토요일", "일요일"],
    ["오늘", "내일", "어제", "모레", "그제"],
    ["아침", "점심", "저녁", "새벽", "밤"], ["오전", "오후"],
    ["봄", "여름", "가을", "겨울"], ["왼쪽", "오른쪽"], ["위", "아래"], ["앞", "뒤"],
    ["이번", "다음", "지난"], ["올해", "내년", "작년"], ["이번주", "다음주", "지난주"],
    ["남자", "여자"], ["남자친구", "여자친구"], ["엄마", "아빠"], ["형", "누나", "동생"],
    ["한", "두", "세", "네", "다섯"], ["처음", "마지막"], ["많이", "조금"], ["항상", "가끔", "절대"],
    ["켜", "꺼"], ["켜줘", "꺼줘"], ["열어", "닫아"], ["올려", "내려"], ["사다", "팔다"],
    ["빨간", "파란", "노란", "검은", "하얀"], ["큰", "작은"], ["좋은", "나쁜"], ["새", "헌"],
    ["전", "후"], ["최대", "최소"], ["증가", "감소"], ["시작", "종료"], ["입금", "출금"],
    ["좋아해", "싫어해"], ["좋아", "싫어"], ["사랑", "미움"],
    ["킬로미터", "마일", "미터", "센티미터", "피트", "인치"], ["킬로그램", "파운드", "그램", "톤"], ["섭씨", "화씨"],
    ["리터", "갤런", "밀리리터"], ["달러", "유로", "위안", "파운드"], ["매일", "매주", "매달", "매년"],
]
KO_PARTICLES = sorted(["을", "를", "이", "가", "은", "는", "에", "에서", "으로", "로", "와", "과", "의",
                       "도", "만", "까지", "부터", "한테", "에게", "랑", "이랑", "보다", "처럼"], key=len, reverse=True)
KO_FILLER_PRE = ["혹시 ", "저기 ", "음 ", "그냥 ", "근데 ", "저 ", "아 ", "안녕하세요. ", "실례합니다. ", "죄송한데 ",
                 "궁금한 게 있는데요, ", "질문 있어요. ", "수고하십니다. "]
KO_FILLER_POST = [" 좀", "?", "요", " 알려줘", " 알려주세요", " 궁금해요", "!", " ㅠㅠ", " ㅎㅎ", " 감사합니다",
                  " 부탁드려요", " 알려주실 수 있나요?", " 좀 알려주세요", " 미리 감사드려요"]
KO_NEG_WORDS = ("안", "못")

WORD_RE = re.compile(r"\w+|[^\w\s]", re.UNICODE)
NUM_RE = re.compile(r"(?<![\w.])-?\d+(?:[.,]\d+)?")
HANGUL_RE = re.compile(r"[\uac00-\ud7a3]")


def is_ko(text: str) -> bool:
    return bool(HANGUL_RE.search(text))


def _class_index(classes):
    idx = {}
    for ci, cl in enumerate(classes):
        for w in cl:
            idx.setdefault(w, []).append(ci)
    return idx


EN_CLASS_IDX = _class_index(EN_CLASSES)
KO_CLASS_IDX = _class_index(KO_CLASSES)


def _match_case(src: str, w: str) -> str:
    if src.isupper() and len(src) > 1:
        return w.upper()
    if src[:1].isupper():
        return w[:1].upper() + w[1:]
    return w


# ----------------------------------------------------------------------------------------------
class Pools:
    """Word pools harvested from train sentences (content words, proper nouns, Korean stems)."""

    def __init__(self, en_sents, ko_sents, wn=None):
        from collections import Counter
        self.wn = wn  # wordnet.WordNet or None
        cw, pn = Counter(), Counter()
        for s in en_sents:
            toks = s.split()
            for i, t in enumerate(toks):
                w = t.strip(".,!?;:\"'()")
                if not w.isalpha() or len(w) < 3:
                    continue
                if i > 0 and w[0].isupper() and not w.isupper():
                    pn[w] += 1
                elif w.islower() and w not in EN_STOP:
                    cw[w] += 1
        self.en_content = sorted(w for w, c in cw.items() if c >= 2)
        self.en_proper = sorted(w for w, c in pn.items() if c >= 2)
        en_set = set(self.en_content)
        # morphological antonyms: w and prefix+w both seen in the corpus
        ants = []
        for w in self.en_content:
            for p in EN_PREFIX_NEG:
                if p + w in en_set:
                    ants.append((w, p + w))
            if w.endswith("ful") and w[:-3] + "less" in en_set:
                ants.append((w, w[:-3] + "less"))
        self.en_antonyms = {}
        for a, b in ants:
            self.en_antonyms.setdefault(a, []).append(b)
            self.en_antonyms.setdefault(b, []).append(a)
        # buckets of content words by suffix shape (keeps the sentence roughly grammatical)
        self.en_by_shape = {}
        for w in self.en_content:
            self.en_by_shape.setdefault(en_shape(w), []).append(w)
        ks, kstem = Counter(), {}
        for s in ko_sents:
            for e in s.split():
                e = e.strip(".,!?~")
                st, pa = ko_split(e)
                if pa and len(st) >= 1 and HANGUL_RE.search(st):
                    ks[(st, pa)] += 1
        self.ko_stems = {}
        for (st, pa), c in sorted(ks.items()):
            self.ko_stems.setdefault(pa, []).append(st)
        self.ko_all_stems = sorted({st for (st, pa) in ks})
        # Korean 있/없 antonymy is morphological (재미있다/재미없다); applied in ko_negate


def en_shape(w: str) -> str:
    for suf in ("ing", "ed", "ly", "tion", "s"):
        if w.endswith(suf):
            return suf
    return "_"


def ko_split(e: str):
    for p in KO_PARTICLES:
        if e.endswith(p) and len(e) > len(p):
            return e[: -len(p)], p
    return e, ""


# ----------------------------------------------------------------------------------------------
# English edits. Each returns the edited text or None when the rule does not apply.
def _tok(s):
    return s.split(" ")


def en_negate(s, rng, P):
    t = _tok(s)
    for i, w in enumerate(t):
        lw = w.lower()
        if lw in ("not", "never") and i > 0:
            return " ".join(t[:i] + t[i + 1:])
        if lw.endswith("n't"):
            base = {"can't": "can", "won't": "will", "don't": "do", "doesn't": "does", "didn't": "did",
                    "isn't": "is", "aren't": "are", "wasn't": "was", "weren't": "were",
                    "shouldn't": "should", "couldn't": "could", "wouldn't": "would",
                    "haven't": "have", "hasn't": "has"}.get(lw)
            if base:
                t[i] = _match_case(w, base)
                return " ".join(t)
    for i, w in enumerate(t):
        if w.lower() in EN_AUX and i + 1 < len(t):
            return " ".join(t[: i + 1] + ["not"] + t[i + 1:])
    # no auxiliary: negate the first content verb-ish word with "don't"/"do not" before it
    for i, w in enumerate(t):
        if i > 0 and w.isalpha() and w.islower() and w not in EN_STOP and t[i - 1].lower() in ("i", "you", "we", "they", "to"):
            return " ".join(t[:i] + (["not"] if t[i - 1].lower() == "to" else ["don't"]) + t[i:])
    return None


def en_number(s, rng, P):
    m = list(NUM_RE.finditer(s))
    if m:
        x = rng.choice(m)
        v = x.group(0)
        kind = rng.random()
        if v.startswith("-") and kind < 0.3:
            nv = v[1:]
        elif kind < 0.15:
            nv = "-" + v
        elif len(v.replace("-", "")) >= 2 and kind < 0.4 and len(set(v)) > 1:
            d = list(v)
            nv = v
            while nv == v:
                rng.shuffle(d)
                nv = "".join(d).lstrip("-") or "1"
        else:
            digits = re.sub(r"\D", "", v) or "0"
            n = int(digits[:6])
            nv = str(max(0, n + rng.choice([-10, -2, -1, 1, 2, 3, 5, 10, 100])))
            if nv == digits:
                nv = str(n + 1)
        return s[: x.start()] + nv + s[x.end():]
    # spelled-out numbers are handled by the class swap
    return None


# Unit symbols / abbreviations that follow a number; swapping within a group changes the quantity.
UNIT_GROUPS = [
    ["km", "mi", "m", "cm", "mm", "ft", "in", "yd"], ["kg", "g", "mg", "lb", "lbs", "oz"],
    ["°c", "°f", "°k"], ["l", "ml", "gal"], ["b", "kb", "mb", "gb", "tb", "kib", "mib", "gib"],
    ["kbps", "mbps", "gbps", "mb/s", "gb/s", "kb/s"], ["mph", "km/h", "kph", "m/s"],
    ["s", "sec", "ms", "min", "h", "hr", "hrs"], ["am", "pm"], ["%", "‰"], ["hz", "khz", "mhz", "ghz"],
    ["w", "kw", "kwh", "mw"], ["v", "mv", "kv"], ["px", "pt", "em", "rem"],
    ["킬로", "미터", "센티", "마일"], ["시", "분", "초"], ["원", "달러", "엔", "유로"], ["개", "명", "번", "살", "장", "권"],
]
UNIT_RE = re.compile(r"(\d)(\s?)(°?[A-Za-z%‰/가-힣]+)")
CURRENCY = ["$", "€", "£", "¥", "₩"]


def en_unit(s, rng, P):
    """A number keeps its value but gets another unit of the same dimension (38 °C -> 38 °F,
    6am -> 6pm, 1 GB -> 1 MB), or another currency symbol ($5 -> €5)."""
    cands = []
    for m in UNIT_RE.finditer(s.replace("° ", "°")):
        u = m.group(3).lower()
        for gi, g in enumerate(UNIT_GROUPS):
            if u in g:
                cands.append((m, gi, u, len(m.group(3))))
                break
            hit = [x for x in g if HANGUL_RE.match(x) and u.startswith(x)]  # 3시에 -> unit 시 + particle
            if hit:
                cands.append((m, gi, hit[0], len(hit[0])))
                break
    s2 = s.replace("° ", "°")
    if cands:
        m, gi, u, ln = rng.choice(cands)
        nu = rng.choice([x for x in UNIT_GROUPS[gi] if x != u])
        src = m.group(3)[:ln]
        nu = nu.upper() if src.isupper() and len(src) > 1 else (nu.upper() if src[:1] == "°" and src[1:].isupper() else nu)
        return s2[: m.start(3)] + nu + s2[m.start(3) + ln:]
    cs = [i for i, ch in enumerate(s) if ch in CURRENCY]
    if cs:
        i = rng.choice(cs)
        return s[:i] + rng.choice([c for c in CURRENCY if c != s[i]]) + s[i + 1:]
    return None


def en_from_to(s, rng, P):
    """Swap the two ends of a directed relation: from X to Y, X to Y, X into Y, X over Y, X than Y."""
    w = r"[^\s?.!,]+"
    m = re.search(r"\b(from)\s+(" + w + r"(?:\s" + w + r")?)\s+(to|into|onto)\s+(" + w + r"(?:\s" + w + r")??)([?.!,]|$)", s, re.I)
    if m and m.group(2).lower() != m.group(4).lower():
        return s[: m.start(2)] + m.group(4) + " " + m.group(3) + " " + m.group(2) + s[m.end(4):]
    m = re.search(r"\b(\w+)\s+(to|into|than|over|vs\.?|versus|minus|divided by|per)\s+(\w+)\b", s, re.I)
    if m and m.group(1).lower() not in EN_STOP and m.group(3).lower() not in EN_STOP and m.group(1).lower() != m.group(3).lower():
        return s[: m.start(1)] + m.group(3) + " " + m.group(2) + " " + m.group(1) + s[m.end(3):]
    return None


def en_class_swap(s, rng, P):
    t = _tok(s)
    cands = [i for i, w in enumerate(t) if re.sub(r"\W", "", w.lower()) in EN_CLASS_IDX]
    if not cands:
        return None
    i = rng.choice(cands)
    core = re.sub(r"\W", "", t[i].lower())
    cl = EN_CLASSES[rng.choice(EN_CLASS_IDX[core])]
    nw = rng.choice([w for w in cl if w != core])
    t[i] = t[i].replace(re.sub(r"\W", "", t[i]), _match_case(re.sub(r"\W", "", t[i]), nw))
    return " ".join(t)


def en_antonym(s, rng, P):
    t = _tok(s)
    cands = [i for i, w in enumerate(t) if re.sub(r"\W", "", w.lower()) in P.en_antonyms]
    if not cands:
        return None
    i = rng.choice(cands)
    core = re.sub(r"\W", "", t[i])
    nw = rng.choice(P.en_antonyms[core.lower()])
    t[i] = t[i].replace(core, _match_case(core, nw))
    return " ".join(t)


def en_entity(s, rng, P):
    """Swap a proper noun / product-like token (or, failing that, a content word) for another."""
    t = _tok(s)
    prop = [i for i, w in enumerate(t) if i > 0 and re.sub(r"\W", "", w)[:1].isupper()]
    prod = [i for i, w in enumerate(t) if re.search(r"[A-Za-z]", w) and re.search(r"\d", w)]
    if prod and rng.random() < 0.5:
        i = rng.choice(prod)
        w = t[i]
        t[i] = re.sub(r"\d+", lambda m: str(int(m.group(0)) + rng.choice([1, 2, -1, 10])), w, count=1)
        return " ".join(t) if t[i] != w else None
    if prop and P.en_proper:
        i = rng.choice(prop)
        core = re.sub(r"\W", "", t[i])
        nw = rng.choice(P.en_proper)
        if nw == core:
            return None
        t[i] = t[i].replace(core, nw)
        return " ".join(t)
    return en_content_swap(s, rng, P)


def _wn_sub(s, rng, P, fn):
    if P.wn is None:
        return None
    t = _tok(s)
    cands = []
    for i, w in enumerate(t):
        core = re.sub(r"\W", "", w)
        if core.isalpha() and core.lower() not in EN_STOP and len(core) >= 3:
            alts = fn(core.lower())
            if alts:
                cands.append((i, core, alts))
    if not cands:
        return None
    i, core, alts = rng.choice(cands)
    t[i] = t[i].replace(core, _match_case(core, rng.choice(alts)))
    return " ".join(t)


def en_wn_synonym(s, rng, P):
    """WordNet synonym (most frequent sense of the word's main part of speech): same request.
    Inflected forms (-ing/-ed) and morphological relatives (red/redness) are skipped."""
    def syn(w):
        if w.endswith(("ing", "ed")):
            return []
        return [x for x in P.wn.synonyms(w) if x[:4] != w[:4]]
    return _wn_sub(s, rng, P, syn)


def en_wn_antonym(s, rng, P):
    return _wn_sub(s, rng, P, lambda w: P.wn.antonyms(w))


def en_wn_sister(s, rng, P):
    """Another thing of the same kind (a co-hyponym: Austria -> Belgium, car -> truck)."""
    return _wn_sub(s, rng, P, lambda w: P.wn.sisters(w))


def en_content_swap(s, rng, P):
    t = _tok(s)
    cands = [i for i, w in enumerate(t) if w.isalpha() and w.islower() and len(w) >= 3 and w not in EN_STOP]
    if not cands:
        return None
    i = rng.choice(cands)
    pool = P.en_by_shape.get(en_shape(t[i])) or P.en_content
    nw = rng.choice(pool)
    if nw == t[i]:
        return None
    t[i] = nw
    return " ".join(t)


def en_arg_swap(s, rng, P):
    """Swap two content words that are NOT joined by a coordination (order changes the meaning)."""
    t = _tok(s)
    cands = [i for i, w in enumerate(t) if re.sub(r"\W", "", w) and re.sub(r"\W", "", w).lower() not in EN_STOP
             and not re.sub(r"\W", "", w).lower() in EN_AUX]
    if len(cands) < 2:
        return None
    for _ in range(6):
        i, j = sorted(rng.sample(cands, 2))
        a, b = re.sub(r"\W", "", t[i]), re.sub(r"\W", "", t[j])
        if a.lower() == b.lower():
            continue
        between = [x.lower() for x in t[i + 1:j]]
        if j == i + 2 and between and between[0] in EN_COORD:
            continue
        t[i], t[j] = t[i].replace(a, b), t[j].replace(b, a)
        return " ".join(t)
    return None


def en_scope(s, rng, P):
    """Narrow or widen the question: add a qualifier word / phrase, or drop a content word."""
    t = _tok(s)
    r = rng.random()
    content = [i for i, w in enumerate(t) if w.isalpha() and w.islower() and len(w) >= 3 and w not in EN_STOP]
    if r < 0.35 and content and len(t) > 3:
        i = rng.choice(content)
        return " ".join(t[:i] + t[i + 1:])
    if r < 0.7 and content:
        i = rng.choice(content)
        q = rng.choice(["only", "all", "free", "new", "old", "other", "every", "single", "extra",
                        rng.choice(P.en_content)])
        return " ".join(t[:i] + [q] + t[i:])
    end = t[-1]
    punct = end[-1] if end and end[-1] in "?.!" else ""
    if punct:
        t[-1] = end[:-1]
    tail = rng.choice(["for", "in", "on", "with", "without", "after", "before", "from", "at", "per"])
    obj = rng.choice(P.en_proper if rng.random() < 0.4 and P.en_proper else P.en_content)
    return " ".join(t + [tail, obj]) + punct


# --- meaning-preserving English edits
def en_case_punct(s, rng, P):
    r = rng.random()
    if r < 0.3:
        return s.lower()
    if r < 0.45:
        return s[:1].upper() + s[1:]
    if r < 0.75:
        return re.sub(r"[?.!]+$", "", s).rstrip() or None
    return re.sub(r"[?.!]*$", rng.choice(["?", "??", ".", "!", " ?"]), s)


def en_filler(s, rng, P):
    r = rng.random()
    if r < 0.25:  # both sides
        return rng.choice(EN_FILLER_PRE) + s[:1].lower() + s[1:].rstrip(" ?.!") + rng.choice(EN_FILLER_POST)
    if r < 0.45:
        p = rng.choice(EN_FILLER_PRE)
        return p + s[:1].lower() + s[1:]
    if r < 0.9:
        return s.rstrip(" ?.!") + rng.choice(EN_FILLER_POST)
    t = _tok(s)
    drop = [i for i, w in enumerate(t) if w.lower() in ("the", "a", "an", "please", "just", "really", "so")]
    if not drop:
        return None
    i = rng.choice(drop)
    return " ".join(t[:i] + t[i + 1:])


def en_contraction(s, rng, P):
    low = s.lower()
    opts = [(a, b) for a, b in EN_CONTRACT if a in low] + [(b, a) for a, b in EN_CONTRACT if b in low]
    if not opts:
        return None
    a, b = rng.choice(opts)
    k = low.index(a)
    return s[:k] + b + s[k + len(a):]


def en_typo(s, rng, P):
    t = _tok(s)
    cands = [i for i, w in enumerate(t) if w.isalpha() and len(w) >= 5]
    if not cands:
        return None
    i = rng.choice(cands)
    w = list(t[i])
    k = rng.randrange(1, len(w) - 1)
    r = rng.random()
    if r < 0.4:
        w[k], w[k + 1] = w[k + 1], w[k]
    elif r < 0.7:
        del w[k]
    else:
        w.insert(k, w[k])
    t[i] = "".join(w)
    return " ".join(t)


def en_coord_swap(s, rng, P):
    t = _tok(s)
    for i in range(1, len(t) - 1):
        if t[i].lower() in ("and", "or") and t[i - 1].isalpha() and re.sub(r"\W", "", t[i + 1]):
            a, b = t[i - 1], re.sub(r"\W", "", t[i + 1])
            tail = t[i + 1][len(b):] if t[i + 1].startswith(b) else ""
            t[i - 1], t[i + 1] = b, a + tail
            return " ".join(t)
    return None


def en_clause_reorder(s, rng, P):
    m = re.match(r"^(If|When|Before|After|While|Since|Because|Although|Once|Unless)\s+([^,]+),\s*(.+?)([?.!]*)$", s, re.I)
    if m:
        head = m.group(3)
        return head[:1].upper() + head[1:] + " " + m.group(1).lower() + " " + m.group(2) + m.group(4)
    m = re.match(r"^(.+?)\s+(if|when|before|after|while|since|because|although|once|unless)\s+([^,]+?)([?.!]*)$", s, re.I)
    if m and len(m.group(1).split()) >= 2 and len(m.group(3).split()) >= 2:
        return m.group(2).capitalize() + " " + m.group(3) + ", " + m.group(1)[:1].lower() + m.group(1)[1:] + m.group(4)
    return None


# Question openers that ask the same thing (general English question forms; each is followed by the
# same verb phrase / noun phrase, so swapping them keeps the request).
EN_OPENERS = [
    ["how do i", "how can i", "how should i", "what is the way to", "what's the best way to", "is there a way to",
     "what do i do to", "how would i", "how to"],
    ["can i", "is it possible to", "am i able to", "is it ok to", "may i", "could i", "is it allowed to"],
    ["what is", "what's", "tell me", "could you tell me", "i'd like to know", "do you know"],
    ["where can i", "where do i", "where should i", "where would i"],
    ["what time", "when"], ["how many", "what number of"],
    ["do you", "do you guys", "does your company"],
]
EN_OPENER_IDX = sorted(((o, gi) for gi, g in enumerate(EN_OPENERS) for o in g), key=lambda x: -len(x[0]))


def en_opener(s, rng, P):
    low = s.lower()
    for o, gi in EN_OPENER_IDX:
        if low.startswith(o + " "):
            no = rng.choice([x for x in EN_OPENERS[gi] if x != o])
            rest = s[len(o):]
            return no[:1].upper() + no[1:] + rest
    return None


def en_pp_front(s, rng, P):
    """'Can I pay by card at the store?' -> 'At the store, can I pay by card?' (same request)."""
    m = re.match(r"^(.+?)\s+((?:in|at|on|during|after|before|for|from|with|without|by)\s+[^,]+?)([?.!]*)$", s)
    if not m or len(m.group(1).split()) < 3 or len(m.group(2).split()) > 5:
        return None
    head = m.group(1)
    return m.group(2)[:1].upper() + m.group(2)[1:] + ", " + head[:1].lower() + head[1:] + m.group(3)


EN_VERBS = ("reset change cancel buy sell clean fix open close install remove update delete find book order "
            "return replace check pay send share download upload print connect repair rent move paint cook "
            "wash store ship track renew transfer upgrade activate register measure charge unlock").split()
EN_TPL = ["{o} {v} {np} from {place} to {place2}?", "is {num}{u} {adj}?", "{o} {v} {np} at {num}{ampm}?",
          "how many {u2} are in {num} {u3}?", "{o} {v} {np} for ${num}?", "{o} {v} {np}?", "{o} {v} {np} {pp}?", "{o} {v} {np} without {np2}?", "{o} {v} {np} and {np2}?",
          "why can't i {v} {np}?", "is {np} {adj}?", "what is {np} made of?", "which {n} is {adj}, {np} or {np2}?",
          "{o} {v} {np} for {num} {unit}?", "{o} {v} {np} on {day}?", "{o} {v} {np} in {place}?"]


def en_template_questions(sents, rng, n):
    """Support-style English questions from general templates with slots filled from TRAIN sentences
    (noun phrases, adjectives, proper nouns); the templates are question forms, not test phrases."""
    nps, adjs, places = set(), set(), set()
    for s in sents:
        t = s.split()
        for i in range(len(t) - 1):
            if t[i].lower() in ("a", "an", "the", "his", "her", "my", "their", "your"):
                w1 = t[i + 1].strip(".,!?;:")
                if w1.isalpha() and w1.islower():
                    w2 = t[i + 2].strip(".,!?;:") if i + 2 < len(t) else ""
                    if w2.isalpha() and w2.islower() and w2 not in EN_STOP and rng.random() < 0.5:
                        nps.add(f"{t[i].lower()} {w1} {w2}")
                        adjs.add(w1)
                    elif w1 not in EN_STOP:
                        nps.add(f"{t[i].lower()} {w1}")
            w = t[i].strip(".,!?;:")
            if i > 0 and w[:1].isupper() and w.isalpha() and not w.isupper():
                places.add(w)
    nps, adjs, places = sorted(nps), sorted(adjs), sorted(places)
    if not nps or not adjs or not places:
        return []
    out = []
    for _ in range(n):
        np1, np2 = rng.choice(nps), rng.choice(nps)
        slots = {"o": rng.choice(rng.choice([EN_OPENERS[0], EN_OPENERS[1], EN_OPENERS[3]])), "v": rng.choice(EN_VERBS), "np": np1, "np2": np2,
                 "adj": rng.choice(adjs), "n": np1.split()[-1], "num": str(rng.choice([1, 2, 3, 5, 10, 12, 24, 30, 100])),
                 "unit": rng.choice(EN_CLASSES[5]), "day": rng.choice(EN_CLASSES[0] + EN_CLASSES[2]),
                 "place": rng.choice(places), "place2": rng.choice(places),
                 "u": rng.choice([" °C", " °F", " kg", " GB", " MB", " km", " mph", "%", " mg", " ml"]),
                 "ampm": rng.choice(["am", "pm", " am", " pm"]),
                 "u2": rng.choice(["grams", "bytes", "bits", "inches", "meters", "ounces", "minutes", "liters"]),
                 "u3": rng.choice(["kilograms", "kilobytes", "megabytes", "feet", "miles", "pounds", "hours", "gallons"]),
                 "pp": rng.choice(["in " + rng.choice(places), "at " + rng.choice(nps), "with " + rng.choice(nps),
                                   "after " + rng.choice(nps), "on " + rng.choice(EN_CLASSES[0])])}
        q = rng.choice(EN_TPL).format(**slots)
        out.append(q[:1].upper() + q[1:])
    return out


# ----------------------------------------------------------------------------------------------
# Korean edits
def ko_negate(s, rng, P):
    t = s.split(" ")
    for i, w in enumerate(t):
        if w in KO_NEG_WORDS and i + 1 < len(t):
            return " ".join(t[:i] + t[i + 1:])
    # 있/없 morphology on the predicate (재미있어 / 재미없어)
    for i in range(len(t) - 1, -1, -1):
        if "없" in t[i]:
            t[i] = t[i].replace("없", "있", 1)
            return " ".join(t)
        if "있" in t[i] and rng.random() < 0.7:
            t[i] = t[i].replace("있", "없", 1)
            return " ".join(t)
    # 않 forms: remove "지 않"
    m = re.search(r"지\s*않", s)
    if m:
        return s[: m.start()] + s[m.end():]
    # insert a negator before the predicate (last Hangul word)
    for i in range(len(t) - 1, -1, -1):
        if HANGUL_RE.search(t[i]):
            return " ".join(t[:i] + [rng.choice(KO_NEG_WORDS)] + t[i:])
    return None


def ko_class_swap(s, rng, P):
    t = s.split(" ")
    cands = []
    for i, w in enumerate(t):
        st, pa = ko_split(w.strip("?.!~"))
        if st in KO_CLASS_IDX:
            cands.append((i, st))
        elif w.strip("?.!~") in KO_CLASS_IDX:
            cands.append((i, w.strip("?.!~")))
    if not cands:
        # also find class words inside words (e.g. 토요일에, 내일은 are handled above; 월요일날 here)
        for i, w in enumerate(t):
            for k in KO_CLASS_IDX:
                if len(k) >= 2 and w.startswith(k):
                    cands.append((i, k))
                    break
    if not cands:
        return None
    i, core = rng.choice(cands)
    cl = KO_CLASSES[rng.choice(KO_CLASS_IDX[core])]
    nw = rng.choice([w for w in cl if w != core])
    t[i] = t[i].replace(core, nw, 1)
    return " ".join(t)


def ko_entity(s, rng, P):
    """Replace the stem of a particle-bearing word with another stem seen with the same particle."""
    t = s.split(" ")
    cands = []
    for i, w in enumerate(t):
        st, pa = ko_split(w)
        if pa and HANGUL_RE.search(st) and P.ko_stems.get(pa):
            cands.append((i, st, pa))
    if not cands:
        return None
    i, st, pa = rng.choice(cands)
    nst = rng.choice(P.ko_stems[pa])
    if nst == st:
        return None
    t[i] = nst + pa
    return " ".join(t)


def ko_arg_swap(s, rng, P):
    """Swap the stems of two particle-bearing words, particles stay (roles change)."""
    t = s.split(" ")
    cands = [(i,) + ko_split(w) for i, w in enumerate(t)]
    cands = [c for c in cands if c[2] and HANGUL_RE.search(c[1])]
    if len(cands) < 2:
        return None
    (i, a, pa), (j, b, pb) = rng.sample(cands, 2)
    if a == b or pa == pb:
        return None
    t[i], t[j] = b + pa, a + pb
    return " ".join(t)


def ko_scope(s, rng, P):
    t = s.split(" ")
    if len(t) >= 3 and rng.random() < 0.4:
        i = rng.randrange(0, len(t) - 1)
        st, pa = ko_split(t[i])
        if len(st) >= 2:
            return " ".join(t[:i] + t[i + 1:])
        return None
    if not P.ko_all_stems:
        return None
    i = rng.randrange(0, max(1, len(t) - 1))
    q = rng.choice(["무료", "새", "모든", "다른", "유료", "첫", "마지막", rng.choice(P.ko_all_stems)])
    return " ".join(t[:i] + [q] + t[i:])


def ko_number(s, rng, P):
    return en_number(s, rng, P)


def ko_spacing(s, rng, P):
    t = s.split(" ")
    r = rng.random()
    if len(t) >= 2 and r < 0.6:
        i = rng.randrange(0, len(t) - 1)
        return " ".join(t[:i] + [t[i] + t[i + 1]] + t[i + 2:])
    cands = [i for i, w in enumerate(t) if len(w) >= 3 and HANGUL_RE.search(w)]
    if not cands:
        return None
    i = rng.choice(cands)
    k = rng.randrange(1, len(t[i]) - 1)
    t[i] = t[i][:k] + " " + t[i][k:]
    return " ".join(t)


def ko_filler(s, rng, P):
    r = rng.random()
    if r < 0.25:
        return rng.choice(KO_FILLER_PRE) + s.rstrip("?.!") + rng.choice(KO_FILLER_POST)
    if r < 0.45:
        return rng.choice(KO_FILLER_PRE) + s
    if r < 0.85:
        return s.rstrip("?.!") + rng.choice(KO_FILLER_POST)
    t = s.split(" ")
    drop = [i for i, w in enumerate(t) if w in ("좀", "혹시", "그냥", "진짜", "너무", "정말", "막", "저기")]
    if not drop:
        return re.sub(r"[?.!~]+$", "", s) if re.search(r"[?.!~]$", s) else s + "?"
    i = rng.choice(drop)
    return " ".join(t[:i] + t[i + 1:])


def ko_reorder(s, rng, P):
    """Korean word order is free before the predicate: move one particle-bearing word."""
    t = s.split(" ")
    if len(t) < 3 or len(t) > 10 or "," in s:  # one clause only: moving across clauses changes meaning
        return None
    movable = [i for i in range(len(t) - 1) if ko_split(t[i])[1]]
    if not movable:
        return None
    i = rng.choice(movable)
    w = t.pop(i)
    j = rng.randrange(0, len(t))  # anywhere before the predicate (last word)
    if j == i:
        return None
    t.insert(j, w)
    return " ".join(t)


EN_NEG = [(en_negate, 3), (en_number, 2), (en_class_swap, 3), (en_antonym, 1), (en_entity, 2),
          (en_content_swap, 1), (en_arg_swap, 2), (en_scope, 3), (en_wn_antonym, 2), (en_wn_sister, 3),
          (en_unit, 3), (en_from_to, 3)]
EN_POS = [(en_case_punct, 2), (en_filler, 3), (en_contraction, 1), (en_typo, 2), (en_coord_swap, 1),
          (en_clause_reorder, 2), (en_opener, 4), (en_pp_front, 2), (en_wn_synonym, 6)]
KO_NEG = [(ko_negate, 3), (ko_number, 2), (ko_class_swap, 3), (ko_entity, 3), (ko_arg_swap, 3), (ko_scope, 2),
          (en_unit, 2)]
KO_POS = [(ko_spacing, 3), (ko_filler, 3), (ko_reorder, 2), (en_case_punct, 1)]


def _apply_one(s, rules, rng, P):
    fns = [f for f, w in rules for _ in range(w)]
    for _ in range(8):
        f = rng.choice(fns)
        out = f(s, rng, P)
        if out and out.strip() and out.strip() != s.strip():
            return " ".join(out.split()), f.__name__
    return None, None


def make_pairs(sent, rng, P):
    """Yield (a, b, label, rule) tuples from one sentence: one answer-changing and one neutral edit,
    each possibly dressed with extra neutral edits on either side."""
    ko = is_ko(sent)
    neg_rules, pos_rules = (KO_NEG, KO_POS) if ko else (EN_NEG, EN_POS)
    out = []
    neg, nname = _apply_one(sent, neg_rules, rng, P)
    if neg:
        a, b = sent, neg
        if rng.random() < 0.5:
            b2, _ = _apply_one(b, pos_rules, rng, P)
            b = b2 or b
        if rng.random() < 0.25:
            a2, _ = _apply_one(a, pos_rules, rng, P)
            a = a2 or a
        out.append((a, b, 0, nname))
    pos, pname = _apply_one(sent, pos_rules, rng, P)
    if pos:
        b = pos
        if rng.random() < 0.4:
            b2, _ = _apply_one(b, pos_rules, rng, P)
            b = b2 or b
        out.append((sent, b, 1, pname))
    return out
