"""Generated sentence + quote -> kept with an exact span of a retrieved passage, or dropped.

A language model's sentence is shown only when this deterministic, local check passes, so a
generated answer can never cite text the documents do not hold, nor claim more than its quote:

1. **The quote is verbatim.** After whitespace runs are collapsed and curly/straight quote marks
   unified (on both sides, with an offset map back to the original), the quote must occur as one
   contiguous piece of the passage the model cited. Found instead in another retrieved passage,
   it is re-attributed there; found nowhere (made up, or a "frankenquote" stitched from two
   places) the sentence is dropped. The span found becomes `[start, end)` of the document, and the
   citation's quote is the document's own text there: `document.text[start:end] == quote`.
2. **The quote supports the sentence.** Every number (digits or number words), date word and
   proper name in the sentence must occur in the quote, and the sentence and the quote must be
   close by the index's own embedding model (cosine >= `generator.support_cosine`).

Case matters for the quote (it is a quotation), not for the words compared in step 2.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from rag.index.reader import Index
from rag.types import Passage

QUOTE_MARKS = str.maketrans({"‘": "'", "’": "'", "‚": "'", "‛": "'", "′": "'", "`": "'",
                             "“": '"', "”": '"', "„": '"', "‟": '"', "″": '"', "«": '"', "»": '"'})
EDGE = " \t\r\n\"'‘’“”«»"
TOKEN = re.compile(r"[^\W\d_]+|\d+(?:[.,:]\d+)*")
NUMBER_WORDS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
    "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20, "thirty": 30,
    "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90,
}
SCALE_WORDS = {"hundred", "thousand", "million", "billion", "trillion", "dozen", "dozens", "half"}
MONTHS = {"jan": "january", "feb": "february", "mar": "march", "apr": "april", "jun": "june",
          "jul": "july", "aug": "august", "sep": "september", "sept": "september", "oct": "october",
          "nov": "november", "dec": "december"}
# Words that open a sentence capitalized without being names; any other opening word counts as a
# name unless the retrieved passages also use it in lower case ("Troops advanced" is not a name).
OPENERS = {
    "a", "an", "the", "he", "she", "it", "they", "we", "i", "you", "his", "her", "its", "their", "our",
    "this", "that", "these", "those", "there", "here", "in", "on", "at", "by", "for", "from", "to",
    "of", "with", "after", "before", "during", "since", "while", "when", "where", "who", "what",
    "which", "how", "why", "according", "however", "but", "and", "or", "so", "yet", "both", "as",
    "although", "though", "because", "if", "yes", "no", "not", "also", "then", "thus", "still",
    "some", "many", "most", "all", "each", "every", "one", "only", "even", "despite", "until",
}


@dataclass(frozen=True)
class Verdict:
    """What the verifier decided about one generated sentence, and why.

    When `kept`, `passage`, `start` and `end` locate the quote: `document.text[start:end]` is
    the document's own wording of it (`reattributed` when it was found in another passage than
    the one the model named)."""

    sentence: str
    kept: bool
    reason: str
    passage: Passage | None = None
    start: int = 0
    end: int = 0
    reattributed: bool = False
    cosine: float | None = None
    missing: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class Located:
    """A quote found verbatim in a retrieved passage: the document span it occupies."""

    passage: Passage
    start: int
    end: int
    reattributed: bool


def normalized(text: str) -> tuple[str, list[int]]:
    """`text` with quote marks unified and each whitespace run one space, plus for every
    character of the result its offset in `text` (so a match maps back to exact offsets)."""
    out: list[str] = []
    offsets: list[int] = []
    for i, char in enumerate(text.translate(QUOTE_MARKS)):
        if char.isspace():
            if out and out[-1] == " ":
                continue
            char = " "
        out.append(char)
        offsets.append(i)
    return "".join(out), offsets


def clean_quote(quote: str) -> str:
    """The model's quote without surrounding whitespace, quote marks or ellipses."""
    previous = None
    while previous != quote:
        previous = quote
        quote = quote.strip(EDGE)
        for mark in ("...", "…"):
            quote = quote.removeprefix(mark).removesuffix(mark)
    return quote


def locate(index: Index, quote: str, passages: Sequence[Passage], cited: int | None) -> Located | None:
    """Where `quote` occurs verbatim (modulo whitespace and quote marks): in passage number `cited`
    (1-based) first, else in the other passages in rank order; None when in none of them."""
    needle, _ = normalized(clean_quote(quote))
    needle = needle.strip()
    if not needle:
        return None
    first = cited - 1 if cited is not None and 1 <= cited <= len(passages) else None
    order = ([first] if first is not None else []) + [i for i in range(len(passages)) if i != first]
    for i in order:
        passage = passages[i]
        chunk = passage.chunk
        text = index.documents[chunk.doc_id].text
        hay, offsets = normalized(text[chunk.start:chunk.end])
        at = hay.find(needle)
        if at >= 0:
            start = chunk.start + offsets[at]
            end = chunk.start + offsets[at + len(needle) - 1] + 1
            return Located(passage, start, end, reattributed=first is not None and i != first)
    return None


def _canonical(token: str) -> str:
    """A comparable form of a word or number: lower case, number words and digits alike
    ("eleven" == "11", "04" == "4", "1,000" == "1000"), month abbreviations spelled out."""
    lowered = token.lower()
    if token[0].isdigit():
        cleaned = re.sub(r"(?<=\d),(?=\d{3}\b)", "", token)
        return ".".join(part.lstrip("0") or "0" for part in cleaned.split("."))
    if lowered in NUMBER_WORDS:
        return str(NUMBER_WORDS[lowered])
    return MONTHS.get(lowered, lowered)


def tokens(text: str) -> list[str]:
    """Words and numbers of `text` (NFKC-normalized, apostrophes unified)."""
    return TOKEN.findall(unicodedata.normalize("NFKC", text).translate(QUOTE_MARKS))


def claims(sentence: str, lowercase_words: set[str] | frozenset[str] = frozenset()) -> list[str]:
    """The numbers, date words and proper names a sentence states, in canonical form.

    Numbers are digit runs and number words; names are capitalized words (and acronyms) of two
    letters or more. The sentence's first word counts only when it is not a common opener and
    `lowercase_words` (words the passages use in lower case) does not hold it."""
    found: list[str] = []
    for i, token in enumerate(tokens(sentence)):
        lowered = token.lower()
        if token[0].isdigit() or lowered in NUMBER_WORDS or lowered in SCALE_WORDS:
            found.append(_canonical(token))
        elif token[0].isupper() and len(token) >= 2:
            if i == 0 and (lowered in OPENERS or lowered in lowercase_words):
                continue
            found.append(_canonical(token))
    return found


def missing_claims(sentence: str, quote: str,
                   lowercase_words: set[str] | frozenset[str] = frozenset()) -> list[str]:
    """The numbers, dates and names of `sentence` that `quote` does not contain (see `claims`)."""
    present = {_canonical(t) for t in tokens(quote)}
    return [c for c in dict.fromkeys(claims(sentence, lowercase_words)) if c not in present]


def lowercase_vocabulary(index: Index, passages: Sequence[Passage]) -> frozenset[str]:
    """Words the retrieved passages use in lower case (a capitalized opener among them is no name)."""
    words: set[str] = set()
    for p in passages:
        words.update(re.findall(r"\b[a-z][a-z'’-]*\b", p.chunk.text))
    return frozenset(words)


def cosine(index: Index, first: str, second: str) -> float:
    """Cosine of two texts under the index's embedding model (its question encoder, one call)."""
    vectors = np.asarray(index.embedder.encode_queries([first, second]), dtype=np.float32)
    return float(vectors[0] @ vectors[1])


def verify_sentence(index: Index, passages: Sequence[Passage], sentence: str, quote: str,
                    cited: int | None, *, min_quote_words: int, support_cosine: float,
                    lowercase_words: frozenset[str] | None = None) -> Verdict:
    """The verdict on one generated sentence with the quote and passage number the model gave."""
    sentence = " ".join(sentence.split())
    if not sentence:
        return Verdict(sentence, False, "empty sentence")
    if len(tokens(clean_quote(quote))) < min_quote_words:
        return Verdict(sentence, False, f"quote shorter than {min_quote_words} words")
    found = locate(index, quote, passages, cited)
    if found is None:
        return Verdict(sentence, False, "quote not found in any retrieved passage")
    original = index.documents[found.passage.chunk.doc_id].text[found.start:found.end]
    words = lowercase_vocabulary(index, passages) if lowercase_words is None else lowercase_words
    place = {"passage": found.passage, "start": found.start, "end": found.end,
             "reattributed": found.reattributed}
    missing = tuple(missing_claims(sentence, original, words))
    if missing:
        return Verdict(sentence, False, "quote lacks " + ", ".join(missing), missing=missing, **place)
    similarity = cosine(index, sentence, original)
    if similarity < support_cosine:
        return Verdict(sentence, False, f"cosine {similarity:.3f} to its quote is under {support_cosine}",
                       cosine=similarity, **place)
    return Verdict(sentence, True, "reattributed" if found.reattributed else "ok", cosine=similarity, **place)
