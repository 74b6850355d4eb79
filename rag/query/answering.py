"""Passages -> Answer: units picked and cited, citations verified, or an honest refusal.

No language model is involved. Every answer unit of the retrieved passages (a sentence, a list
with its intro, fragments joined: `rag.query.units`) is scored against the question: cosine of its
sentence vectors, plus the IDF-weighted share of the question's terms it contains, less a penalty
when it lacks the kind of answer asked for (a date for "when", a number for "how many", a name for
"who") and less one when it only echoes the question (it adds fewer than `echo_min_new_terms`
terms of its own, or is itself a question). A document title is never an answer unless a title
is asked for. The best unit comes first, then close runners-up, each followed by `[n]`.

Whether to answer at all is a probability (`rag.calibration`): a logistic model over the
best unit's features (score, cosine, lexical share, focus on more than the question's names,
names the corpus never mentions, new terms, whether it lacks the asked type of answer, the IDF of
the rarest question term it lacks), fitted on dev questions. Below its threshold the answer is a
refusal with no citations. Asked as of a day (`ask(..., as_of=)`), the question first meets that
day's recent documents, then everything earlier (`extractive`).

Every citation is checked before it is returned (`rag.query.citations`): it must lie inside a
retrieved passage and its quote must equal the document text at its offsets.
"""

from __future__ import annotations

import functools
import math
import re
import threading
import time
import weakref
from dataclasses import dataclass

import numpy as np

from rag.calibration import Calibration, load_calibration
from rag.index.reader import Index
from rag.query.answer_types import CAPITALIZED, answer_type, satisfies
from rag.query.citations import cite, display_text, verified
from rag.query.filters import DocFilter, recent, until
from rag.query.generation import generate_answer
from rag.query.retrieval import search, validate_query
from rag.query.units import Unit, asks_for_title, build_units, unit_vector
from rag.stores import tokenize
from rag.types import Answer, Chunk, Mode, Passage, RelatedPassage, Style

REFUSAL = "The documents do not say. I found nothing in them that answers this question."
ASKING = ("what", "when", "who", "whom", "whose", "which", "where", "why", "how", "did", "does", "do",
          "is", "are", "was", "were", "has", "have", "had", "can", "could", "would", "should", "will")
QUESTION_FRAME = {"say", "said", "doe", "whi", "accord", "mention", "describ", "report", "tell", "told"}
QUESTION_MARK = re.compile(r"\?[\s\"'”’)]*$")


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


def ask(index: Index, question: str, k: int | None = None, mode: Mode | None = None,
        where: DocFilter | None = None, style: Style | None = None, as_of: str | None = None) -> Answer:
    """Answer `question` from the index: cited sentences, or a refusal when evidence is weak;
    with `where`, only from the documents it allows. In `style` "generated" (default:
    `settings.generator.default_style`) a model writes the answer from the same passages and
    every sentence is verified against its quote (`rag.query.generation`); the extractive answer
    is computed first either way, as the fallback.

    With `as_of` (the day the question is asked, YYYY-MM-DD) documents dated later are left out,
    and those dated that day or in the `retrieval.recent_days` days before it are searched first:
    "who won this week?" should not be answered from a story of years ago. When they give no
    answer, the question is asked again over everything up to that day."""
    answer, passages = extractive(index, question, k, mode, where, as_of)
    if (style or index.settings.generator.default_style) == "generated":
        return generate_answer(index, question, passages, answer)
    return answer


def extractive(index: Index, question: str, k: int | None = None, mode: Mode | None = None,
               where: DocFilter | None = None, as_of: str | None = None) -> tuple[Answer, list[Passage]]:
    """The extractive answer and the passages it was drawn from: the one retrieval every answer
    style, the streamed one and the evaluation share (with `as_of`, the scope that answered)."""
    question = validate_query(question)
    timings: dict[str, float] = {}
    started = time.perf_counter()
    names = question_names(question)
    vectors = index.embedder.encode_queries([question, names] if names else [question])
    vector, names_vector = vectors[0], (vectors[1] if names else None)
    timings["embed_ms"] = _ms(started)
    tries = dated_filters(where, as_of, index.settings.retrieval.recent_days)
    for n, scope in enumerate(tries, start=1):
        mark = time.perf_counter()
        passages = search(index, question, k or index.settings.answer.passages, mode, vector, scope)
        timings["retrieve_ms"] = timings.get("retrieve_ms", 0.0) + _ms(mark)
        mark = time.perf_counter()
        answer = answer_from(index, question, vector, names_vector, passages)
        timings["answer_ms"] = timings.get("answer_ms", 0.0) + _ms(mark)
        if not answer.abstained or n == len(tries):
            break
    timings["total_ms"] = _ms(started)
    answer.timings_ms = timings
    return answer, passages


def dated_filters(where: DocFilter | None, as_of: str | None, days: int) -> list[DocFilter | None]:
    """The scopes a question asked on `as_of` tries in turn: that day and the `days` days before
    it, then all documents not dated later (only the latter when `days` is 0); without a day,
    `where` alone."""
    if as_of is None:
        return [where]
    later = until(where, as_of)
    return [recent(where, as_of, days), later] if days else [later]


def answer_from(index: Index, question: str, vector: np.ndarray, names_vector: np.ndarray | None,
                passages: list[Passage]) -> Answer:
    """The answer stage proper: score the units of `passages`, refuse or quote and cite the best."""
    candidates = score_units(index, question, vector, passages)
    if refuse(index, question, candidates, names_vector):
        return Answer(question=question, answer=REFUSAL, abstained=True,
                      related=related_passages(index, candidates))
    scoring = index.settings.answer
    chosen = choose(candidates, scoring.max_sentences, scoring.follow_ratio, scoring.same_sentence_cosine)
    citations = verified(index, cite(index, [(c.passage, c.start, c.end, c.score) for c in chosen]), passages)
    text = " ".join(f"{display_text(c.quote)} [{c.n}]" for c in citations)
    return Answer(question=question, answer=text or REFUSAL, abstained=not citations, citations=citations)


def score_units(index: Index, question: str, vector: np.ndarray,
                passages: list[Passage]) -> list[Candidate]:
    """Every answer unit of `passages`, scored and sorted best first."""
    scoring = index.settings.answer
    weights = index.keyword.idf(sorted(set(tokenize([question])[0]) - QUESTION_FRAME))
    total = sum(weights.values())
    asked = set(tokenize([question])[0])
    expected = answer_type(question)
    title_ok = asks_for_title(question)
    out: list[Candidate] = []
    for passage in passages:
        doc = index.documents[passage.chunk.doc_id]
        for unit in units_of(index, passage.chunk):
            text = doc.text[unit.start:unit.end]
            if len(text.split()) < scoring.min_words or (unit.title and not title_ok):
                continue
            rows = [index.sentence_row.get((doc.doc_id, s.start, s.end)) for s in unit.sentences]
            if any(row is None for row in rows):
                continue
            unit_vec = unit_vector(unit, rows, index.sentence_vectors)
            cosine = float(unit_vec @ vector)
            present = frozenset().union(*(sentence_terms(index, doc.doc_id, s.start, s.end)
                                          for s in unit.sentences))
            lexical = sum(w for t, w in weights.items() if t in present) / total if total else 0.0
            new_terms = len(present - asked)
            score = cosine + scoring.lexical_weight * lexical + scoring.rank_weight / passage.rank
            if not satisfies(expected, question, text):
                score -= scoring.type_penalty
            if not unit.title and (new_terms < scoring.echo_min_new_terms or QUESTION_MARK.search(text)):
                score -= scoring.echo_penalty
            out.append(Candidate(passage, unit.start, unit.end, score, cosine, unit_vec, lexical, new_terms))
    out.sort(key=lambda c: -c.score)
    return out


def unknown_names(index: Index, question: str) -> list[str]:
    """Names and numbers in the question that occur nowhere in the corpus.

    A question about "the Kerch Bridge" over documents that never mention Kerch cannot be
    answered from them, however close the nearest sentence looks.
    """
    vocab = index.keyword.bm25.vocab_dict
    names = CAPITALIZED.findall(question.strip()) + re.findall(r"\b\d{2,}\b", question)
    return [n for n in names if (tokens := tokenize([n])[0]) and not any(t in vocab for t in tokens)]


def features(index: Index, question: str, candidates: list[Candidate],
             names_vector: np.ndarray | None = None) -> dict[str, float] | None:
    """The calibration features of the best unit (None without any candidate)."""
    if not candidates:
        return None
    best = candidates[0]
    text = index.documents[best.passage.chunk.doc_id].text[best.start:best.end]
    return {"score": best.score, "cosine": best.cosine, "lexical": best.lexical,
            "focus": focus(best, names_vector),
            "unknown_names": float(min(len(unknown_names(index, question)), 2)),
            "new_terms": math.log1p(best.new_terms),
            "type_missing": float(not satisfies(answer_type(question), question, text, new=True)),
            "missing_idf": missing_idf(index, question, text)}


@functools.cache
def asking_words() -> frozenset[str]:
    """Question words and auxiliaries as the keyword tokenizer leaves them ("did", "when")."""
    return frozenset(tokenize([" ".join(ASKING)])[0])


def missing_idf(index: Index, question: str, text: str) -> float:
    """The IDF of the rarest question term that `text` lacks, as a share of the highest IDF the
    corpus allows (0 when it has them all): "What was the vote on the aid package?" against a
    sentence about the aid package that never mentions a vote."""
    terms = set(tokenize([question])[0]) - QUESTION_FRAME - asking_words()
    missing = terms - set(tokenize([text])[0])
    if not missing:
        return 0.0
    n = max(index.keyword.size, 1)
    return max(index.keyword.idf(sorted(missing)).values()) / math.log(1 + (n + 0.5) / 0.5)


def question_features(index: Index, question: str, as_of: str | None = None) -> dict[str, float] | None:
    """The calibration features for `question` over the passages `ask` answers from (for fitting)."""
    question = validate_query(question)
    _, passages = extractive(index, question, as_of=as_of)
    names = question_names(question)
    vectors = index.embedder.encode_queries([question, names] if names else [question])
    candidates = score_units(index, question, vectors[0], passages)
    return features(index, question, candidates, vectors[1] if names else None)


def answer_probability(index: Index, question: str, candidates: list[Candidate],
                       names_vector: np.ndarray | None = None) -> float:
    """P(the documents answer the question), by the index's calibration (0 without candidates)."""
    values = features(index, question, candidates, names_vector)
    return 0.0 if values is None else calibration_of(index).probability(values)


def refuse(index: Index, question: str, candidates: list[Candidate],
           names_vector: np.ndarray | None = None) -> bool:
    """Whether the evidence is too weak to answer: below the calibrated (or configured) cut."""
    cut = index.settings.answer.abstain_below
    if cut is None:
        cut = calibration_of(index).threshold
    return answer_probability(index, question, candidates, names_vector) < cut


def question_names(question: str) -> str:
    """The capitalized words of a question after its first word, joined ('' when none)."""
    return " ".join(re.findall(r"\b[A-Z][a-zA-Z]+", question)[1:])


def focus(candidate: Candidate, names_vector: np.ndarray | None) -> float:
    """Cosine to the question minus cosine to the question's names alone (0 without names).

    The names are encoded together with the question, in one model call."""
    if names_vector is None:
        return 0.0
    return candidate.cosine - float(candidate.vector @ names_vector)


def choose(candidates: list[Candidate], limit: int, ratio: float,
           same_cosine: float = 0.95) -> list[Candidate]:
    """The best sentence plus close runners-up, skipping repeats of an already chosen sentence."""
    chosen: list[Candidate] = []
    for cand in candidates:
        if len(chosen) == limit or (chosen and cand.score < ratio * chosen[0].score):
            break
        if any(float(cand.vector @ c.vector) >= same_cosine for c in chosen):
            continue
        chosen.append(cand)
    return chosen


def related_passages(index: Index, candidates: list[Candidate], limit: int = 3) -> list[RelatedPassage]:
    """The closest sentence of each of the top passages, shown beside a refusal."""
    related: list[RelatedPassage] = []
    seen: set[str] = set()
    for cand in candidates:
        doc = index.documents[cand.passage.chunk.doc_id]
        if doc.doc_id in seen:
            continue
        seen.add(doc.doc_id)
        related.append(RelatedPassage(doc_id=doc.doc_id, title=doc.display_title, source=doc.source,
                                      start=cand.start, end=cand.end,
                                      quote=doc.text[cand.start:cand.end], score=round(cand.score, 4)))
        if len(related) == limit:
            break
    return related


_TERMS: weakref.WeakKeyDictionary[Index, dict[tuple[str, int, int], frozenset[str]]] = \
    weakref.WeakKeyDictionary()
_UNITS: weakref.WeakKeyDictionary[Index, dict[str, list[Unit]]] = weakref.WeakKeyDictionary()
_CALIBRATION: weakref.WeakKeyDictionary[Index, Calibration] = weakref.WeakKeyDictionary()
_TERMS_LOCK = threading.Lock()


def units_of(index: Index, chunk: Chunk) -> list[Unit]:
    """The answer units of a chunk (`rag.query.units`), computed once per index."""
    with _TERMS_LOCK:
        cache = _UNITS.setdefault(index, {})
    units = cache.get(chunk.chunk_id)
    if units is None:
        doc = index.documents[chunk.doc_id]
        scoring = index.settings.answer
        units = cache[chunk.chunk_id] = build_units(chunk, doc.text, doc.title, scoring.min_words,
                                                    scoring.list_items, scoring.list_item_words)
    return units


def reset_calibration(index: Index) -> None:
    """Forget the index's loaded calibration (after `rag calibrate` wrote a new one)."""
    with _TERMS_LOCK:
        _CALIBRATION.pop(index, None)


def calibration_of(index: Index) -> Calibration:
    """The abstention model for this index: its folder's own fit, else the packaged one."""
    with _TERMS_LOCK:
        found = _CALIBRATION.get(index)
        if found is None:
            found = _CALIBRATION[index] = load_calibration(index.settings.index_dir)[0]
    return found


def sentence_terms(index: Index, doc_id: str, start: int, end: int) -> frozenset[str]:
    """The keyword terms (stemmed, as BM25 sees them) of a document span, computed once per index."""
    with _TERMS_LOCK:
        cache = _TERMS.setdefault(index, {})
    key = (doc_id, start, end)
    terms = cache.get(key)
    if terms is None:
        terms = cache[key] = frozenset(tokenize([index.documents[doc_id].text[start:end]])[0])
    return terms


def _ms(since: float) -> float:
    return round((time.perf_counter() - since) * 1000, 2)
