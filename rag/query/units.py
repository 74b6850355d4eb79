"""Answer units: what the answer stage may quote, built from a chunk's sentence spans.

A unit is usually one sentence, but not always:
- a sentence introducing a list ("He presented a chilling list:") takes the short items that
  follow it, since the intro alone answers nothing and the items alone lack their context;
- a run of short fragments ("Citizenship. Compensation.") joins into one unit with its neighbour
  before it, instead of each fragment being too short to score;
- a document's title is marked as such: it is not an answer unless the question asks for one.

Units are computed at question time from the spans stored in the index, so no rebuild is needed
when these rules change. A unit's vector is the normalized mean of its sentences' vectors.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from rag.query.reader import Reading
from rag.types import Chunk, Passage, Span

TITLE_QUESTION = re.compile(r"\b(title|titled|headlines?|headlined|entitled)\b", re.IGNORECASE)
BULLET = re.compile(r"\s*([-*•·–]|\d{1,2}[.)])\s")
LIST_INTRO = re.compile(r":[\s\"'“”‘’]*$")


@dataclass(frozen=True)
class Unit:
    """A quotable span of a document: one or more consecutive sentences."""

    start: int
    end: int
    sentences: tuple[Span, ...]
    title: bool = False


def words(text: str) -> int:
    return len(text.split())


def build_units(chunk: Chunk, text: str, title: str | None, min_words: int,
                list_items: int = 8, item_words: int = 14) -> list[Unit]:
    """The answer units of one chunk, in document order."""
    spans = list(chunk.sentences)
    units: list[Unit] = []
    i = 0
    while i < len(spans):
        span = spans[i]
        sentence = text[span.start:span.end]
        if is_title(sentence, span, title, text):
            units.append(Unit(span.start, span.end, (span,), title=True))
            i += 1
            continue
        group = [span]
        if LIST_INTRO.search(sentence.rstrip()):
            while len(group) <= list_items and i + len(group) < len(spans) \
                    and _is_item(text, group, spans[i + len(group)], item_words):
                group.append(spans[i + len(group)])
            i += len(group)
        else:
            if words(sentence) < min_words and units and not units[-1].title \
                    and _adjacent(text, units[-1], span):
                group = [*units.pop().sentences, span]  # a fragment joins the unit before it
            i += 1
        units.append(Unit(group[0].start, group[-1].end, tuple(group)))
    return units


def _is_item(text: str, group: list[Span], span: Span, item_words: int) -> bool:
    """Whether `span` continues the list in `group`: short, and either bulleted or not after a
    blank line (the first item may follow the intro's blank line)."""
    item = _text(text, span)
    if words(item) > item_words:
        return False
    if BULLET.match(item) or len(group) == 1:
        return True
    return "\n\n" not in text[group[-1].end:span.start].replace("\r", "")


def _text(text: str, span: Span) -> str:
    return text[span.start:span.end]


def _adjacent(text: str, unit: Unit, span: Span) -> bool:
    """Whether `span` follows `unit` inside the same paragraph (no blank line between)."""
    gap = text[unit.end:span.start]
    return "\n\n" not in gap.replace("\r", "") and len(gap) < 40


def is_title(sentence: str, span: Span, title: str | None, text: str) -> bool:
    """Whether the span is (part of) the document's title, where the text opens with it."""
    if not title:
        return False
    title = title.strip()
    opening = text[:len(title) + 200]
    where = opening.find(title)
    if where < 0 or opening[:where].strip():
        return False  # the text does not open with the title
    return where <= span.start and span.end <= where + len(title) + 1


def asks_for_title(question: str) -> bool:
    """Whether the question asks for a title or headline, so a title may answer it."""
    return bool(TITLE_QUESTION.search(question))


def unit_vector(unit: Unit, rows: list[int], vectors: np.ndarray) -> np.ndarray:
    """The normalized mean of the unit's sentence vectors (rows into `vectors`)."""
    if len(rows) == 1:
        return vectors[rows[0]]
    mean = vectors[rows].mean(axis=0)
    norm = float(np.linalg.norm(mean))
    return mean / norm if norm else mean


@dataclass
class Candidate:
    """A sentence of a retrieved passage with its score against the question."""

    passage: Passage
    start: int
    end: int
    score: float
    cosine: float
    vector: np.ndarray
    lexical: float = 0.0
    new_terms: int = 0
    reading: Reading | None = None
