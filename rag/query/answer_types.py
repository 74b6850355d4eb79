"""What kind of answer a question asks for, and whether a sentence holds one.

The answer stage (`rag.query.answering`) penalizes a unit that lacks the asked kind, and the
refusal model reads it as a feature (`type_missing`): a calendar day for "on what date", a time
for "when", a number for "how many" or "what was the vote", a person's full name for "who" or
"which editor", a capitalized name for "where" and "which". Plain rules, no model: each was written
from a kind of failure on dev questions and has a unit test on constructed sentences
(tests/query/test_answer_types.py).
"""

from __future__ import annotations

import re

from rag.stores import STOPWORDS

NUMBER_WORDS = (r"\b(one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|"
                r"forty|fifty|hundred|thousand|million|billion|dozens?|several)\b")
# month and weekday names only capitalized: "Putin may agree" holds no date
MONTHS = (r"(?:January|February|March|April|May|June|July|August|September|October|November|December|"
          r"Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept?|Oct|Nov|Dec)")
WEEKDAYS = r"(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)"
TEMPORAL = (rf"\b({MONTHS}|{WEEKDAYS}|(?i:yesterday|today|tomorrow|ago|(?:last|next|this|that) "
            r"(?:week|month|year|spring|summer|autumn|fall|winter))|\d{4})\b")
ASK_START = r"(?:^|,\s*)(?:(?:on|in|by|since|until|from|at|during)\s+)?"
CALENDAR = rf"\b({MONTHS}|{WEEKDAYS}|\d{{4}}|\d{{1,2}}[/.-]\d{{1,2}})\b"
ANSWER_TYPES = {
    "date": re.compile(CALENDAR),
    "when": re.compile(TEMPORAL),
    "how many": re.compile(rf"\d+(?:[.,]\d+)*|{NUMBER_WORDS}", re.IGNORECASE),
    "how much": re.compile(rf"\d+(?:[.,]\d+)*|\$|{NUMBER_WORDS}", re.IGNORECASE),
}
CAPITALIZED = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][a-zA-Z]+")
FULL_NAME = re.compile(r"\b[A-Z][a-zA-Z'’-]+(?:\s+[A-Z]\.)?(?:\s+[A-Z][a-zA-Z'’-]+)+")
WH_WORD = r"(?:who|whom|whose|what|when|where|which|why|how)"
SENTENCE_END = re.compile(rf"[.!?][\"'”’)]*\s+(?=[\"'“‘(]?(?:[A-Z0-9]|{WH_WORD}\b))")
ABBREVIATION = re.compile(r"^[\"'“‘(]?(?:Mr|Mrs|Ms|Dr|Gen|Lt|Col|Sgt|Capt|Adm|Gov|Sen|Rep|Rev|St|Jr|Sr|"
                          r"Prof|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept?|Oct|Nov|Dec|No|Vol|vs|"
                          r"[A-Z](?:\.[A-Z])*)\.$")
ASKS_NEXT = re.compile(rf"[\"'“‘(]?{WH_WORD}\b", re.IGNORECASE)
# a number is asked for by "what was the vote", not by "what is the number one song"
QUANTITY_NOUNS = (r"(?:vote|tally|score|margin|death toll|toll|turnout|number|count|total|amount|cost|"
                  r"price|percentage|share|rate|budget|salary|population|size|age)"
                  r"(?=\s+(?:of|in|on|for|at|to|from|after|among|by)\b|\s*[?.,]|$)")
# words between "which" and the noun; none that ends the phrase ("the company whose CEO")
GAP_WORD = (r"(?!(?:is|was|are|were|did|does|do|has|have|had|will|would|can|could|should|who|whom|"
            r"whose|that|which|where|when|of)\b)[\w.'’-]+")
PERSON_NOUNS = (r"(?:(?:editor|journalist|reporter|correspondent|official|officer|general|president|"
                r"minister|senator|analyst|commander|leader|diplomat|author|writer|person|chairman|"
                r"secretary|advis[eo]r|ambassador|lawmaker|politician|governor|mayor|ceo|executive|"
                r"interviewer|historian|expert|scholar|player|lawyer|founder|owner|candidate|member)s?|"
                r"(?:business|spokes|congress|chair)?(?:man|woman|men|women)|spokesperson)")


def answer_type(question: str) -> str | None:
    """The kind of answer a question asks for: 'date' (a calendar day, not "this week"), 'when',
    'how many' (also "how old"), 'how much', 'who', 'where' or 'which' (a name; also "what is
    the name"). Read from its last sentence, where quiz-style questions put the ask."""
    lowered = question.lower()
    for kind in ("how many", "how much"):
        if kind in lowered:
            return kind
    if "how old" in lowered:
        return "how many"
    last = last_sentence(question).lower()
    if re.search(rf"{ASK_START}(?:what|which)(?: exact)? (?:date|day)\b|\bwhen exactly\b", last):
        return "date"
    if re.search(rf"{ASK_START}(how soon|(?:what|which) (year|month))\b", last):
        return "when"
    if re.search(rf"{ASK_START}(?:(?:which|what)|what(?: is|'s| was)? the names? of(?: the| an?)?)"
                 rf"(?: {GAP_WORD}){{0,3}} {PERSON_NOUNS}\b", last):
        return "who"  # "which editor", "the name of the American officer": a person's name
    if re.search(rf"{ASK_START}what(?: is|'s| was)? the name\b", last):
        return "which"
    if re.search(rf"{ASK_START}what (?:is|was|were|are) the (?:final )?{QUANTITY_NOUNS}", last):
        return "how much"  # "what was the vote", "what is the death toll": a number
    first = re.search(rf"{ASK_START}(when|who|where|which)\b", last)
    return first.group(1) if first else None


def last_sentence(question: str) -> str:
    """The last sentence of a question, where quiz-style questions put the ask; a period after an
    abbreviation or an initial ("Nov. 1", "Gen. Milley", "U.S.") ends no sentence unless a
    question word follows ("... in Terminal C. Where did it go?")."""
    text = question.strip()
    start = 0
    for cut in SENTENCE_END.finditer(text):
        word = text[max(0, cut.start() - 40):cut.start() + 1].rsplit(None, 1)[-1]
        if not ABBREVIATION.match(word) or ASKS_NEXT.match(text, cut.end()):
            start = cut.end()
    return text[start:]


def satisfies(kind: str | None, question: str, sentence: str, new: bool = False) -> bool:
    """Whether `sentence` holds the kind of thing the question asks for (a date, a number, a name);
    with `new`, one the question does not already state ("between seventeen and seventy" does not
    answer "how many people between seventeen and seventy")."""
    if kind in ANSWER_TYPES:
        stated = set(re.findall(r"\w+", question.lower()))
        return any(not new or not set(re.findall(r"\w+", m.group(0).lower())) <= stated
                   for m in ANSWER_TYPES[kind].finditer(sentence))
    asked = {w.lower() for w in re.findall(r"[A-Za-z]+", question)}
    if kind == "who":  # a person the question does not name: "Valery Zaluzhny" does not answer
        return any(surname(name) not in asked for name in full_names(sentence))  # "...with Zaluzhny?"
    if kind in ("where", "which"):
        words = CAPITALIZED.findall(sentence.lstrip("\"'“‘( "))[1:]
        return any(w.lower() not in asked for w in words)
    return True


def full_names(sentence: str) -> list[str]:
    """Names of two or more capitalized words, without a capitalized function word that opens a
    sentence or a clause ("But Milley" is one word of a name, not two; so, alas, is "Will Smith")."""
    names = []
    for found in FULL_NAME.findall(sentence):
        words = found.split()
        while words and words[0].lower() in STOPWORDS:
            words.pop(0)
        if len(words) >= 2:
            names.append(" ".join(words))
    return names


def surname(name: str) -> str:
    """The last word of a name, lower-cased, without a possessive ("Zaluzhny's" -> "zaluzhny")."""
    return re.sub(r"['’]s?$", "", name.split()[-1]).lower()
