"""Answer-level scores: does the answer say the gold answer, how close is its best sentence, which
multiple-choice option does it support.

Text is compared after `normalize`: lower case, punctuation and quote marks dropped, articles
dropped, thousands separators removed and number words written as digits, so "Eleven miles",
"11 miles" and "eleven-miles" all read `11 miles`. Matching is on whole tokens: "Iran" is not
found in "Iranian".
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

NUMBERS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14,
    "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20,
    "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90,
    "hundred": 100, "thousand": 1000, "first": 1, "second": 2, "third": 3,
}
ARTICLES = {"a", "an", "the"}
# "first/second/third" are ordinals, but only as numbers of their own ("the third time"); a
# "second season" is still the second season either way, so mapping them costs nothing.
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}\b)")
_NON_WORD = re.compile(r"[^\w%$]+")


def tokens(text: str) -> list[str]:
    """`text` as normalized tokens (see the module docstring)."""
    text = _THOUSANDS.sub("", text.lower()).replace("%", " percent ").replace("$", " dollars ")
    words = _NON_WORD.sub(" ", text.replace("_", " ")).split()
    return [str(NUMBERS.get(w, w)) for w in words if w not in ARTICLES]


def normalize(text: str) -> str:
    """The normalized tokens joined by single spaces."""
    return " ".join(tokens(text))


def contains(answer: str, expected: str) -> bool:
    """Whether the normalized `expected` occurs in the normalized `answer` as whole tokens."""
    needle = normalize(expected)
    return bool(needle) and f" {needle} " in f" {normalize(answer)} "


def contains_any(answer: str, acceptable: Sequence[str]) -> bool:
    """Whether any acceptable answer string occurs in `answer` (see `contains`)."""
    return any(contains(answer, a) for a in acceptable)


def token_f1(candidate: str, expected: str) -> float:
    """SQuAD-style token F1 between a candidate sentence and one gold answer."""
    got, want = Counter(tokens(candidate)), Counter(tokens(expected))
    common = sum((got & want).values())
    if not common:
        return 0.0
    precision, recall = common / sum(got.values()), common / sum(want.values())
    return 2 * precision * recall / (precision + recall)


def best_f1(sentences: Sequence[str], acceptable: Sequence[str]) -> float:
    """The best token F1 of any answer sentence against any acceptable answer (0 with none)."""
    return max((token_f1(s, a) for s in sentences for a in acceptable), default=0.0)


def choice_supported(answer: str, choices: Sequence[str]) -> int | None:
    """The index of the one choice the answer supports best, or None when no choice or a tie leads.

    A choice's support is the share of its normalized tokens found in the answer; a choice
    found whole counts 1.0. An answer that supports nothing picks nothing, which scores as wrong.
    """
    said = set(tokens(answer))
    scores = []
    for choice in choices:
        words = tokens(choice)
        scores.append(1.0 if contains(answer, choice) else
                      (sum(w in said for w in words) / len(words) if words else 0.0))
    if not scores or max(scores) == 0.0 or scores.count(max(scores)) > 1:
        return None
    return scores.index(max(scores))
