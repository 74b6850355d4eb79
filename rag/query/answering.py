"""Passages -> Answer: units picked and cited, citations verified, or an honest refusal.

No language model writes the answer. Every answer unit of the retrieved passages (a sentence, a
list with its intro, fragments joined: `rag.query.units`) is scored against the question: cosine
of its sentence vectors, plus the IDF-weighted share of the question's terms it contains, less a
penalty when it lacks the kind of answer asked for (a date for "when", a number for "how many", a
name for "who") and less one when it only echoes the question. A document title is never an
answer unless a title is asked for.

With the reader on (the default, `rag.query.reader`), the best-scored units are read against the
question by the trained cross-encoder: they are ordered by the logit of its probability plus
`reader_blend` times their score, refusal is a logistic model over the scorer's calibrated
probability and the reader's best one (`rag.query.refusal.reader_probability`), and its span head
marks the short answer inside the first cited sentence when it is sure enough. With the reader
off, the scorer orders the units and the calibrated model of `rag.query.refusal` decides refusal,
as before the reader. The best unit comes first, then close runners-up, each followed by `[n]`.
Asked as of a day (`ask(..., as_of=)`), the question first meets that day's recent documents,
then everything earlier (`extractive`).

Every citation is checked before it is returned (`rag.query.citations`): it must lie inside a
retrieved passage and its quote must equal the document text at its offsets; so is the short
answer (inside the first citation's quote, equal to the document text at its offsets).
"""

from __future__ import annotations

import re
import threading
import time
import weakref
from collections.abc import Callable
from operator import attrgetter

import numpy as np

from rag.index.reader import Index
from rag.query.answer_types import answer_type, satisfies
from rag.query.citations import cite, display_text, verified
from rag.query.filters import DocFilter, recent, until
from rag.query.generation import generate_answer
from rag.query.reader import shipped_reader
from rag.query.refusal import QUESTION_FRAME, features, logit, reader_probability, refuse
from rag.query.retrieval import search, validate_query
from rag.query.units import Candidate, Unit, asks_for_title, build_units, unit_vector
from rag.stores import tokenize
from rag.types import Answer, Chunk, Citation, Mode, Passage, RelatedPassage, ShortAnswer, Style

REFUSAL = "The documents do not say. I found nothing in them that answers this question."
QUESTION_MARK = re.compile(r"\?[\s\"'”’)]*$")
TRIM = " \t\n,.;:!?\"'“”‘’()[]"


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
    scoring = index.settings.answer
    if scoring.reader == "on":
        scored, candidates = candidates, read_candidates(index, question, candidates)
        probability = reader_probability(index, question, scored, candidates, names_vector)
        refused = probability < reader_setting(index, "threshold")
        chosen = [] if refused else choose(candidates, scoring.max_sentences, reader_setting(index, "follow"),
                                           scoring.same_sentence_cosine, key=_probability)
    else:
        refused = refuse(index, question, candidates, names_vector)
        chosen = [] if refused else choose(candidates, scoring.max_sentences, scoring.follow_ratio,
                                           scoring.same_sentence_cosine)
    if refused:
        return Answer(question=question, answer=REFUSAL, abstained=True,
                      related=related_passages(index, candidates))
    citations = verified(index, cite(index, [(c.passage, c.start, c.end, c.score) for c in chosen]), passages)
    text = " ".join(f"{display_text(c.quote)} [{c.n}]" for c in citations)
    short = short_answer(index, chosen[0], citations[0]) if citations else None
    return Answer(question=question, answer=text or REFUSAL, abstained=not citations, citations=citations,
                  short_answer=short)


def read_candidates(index: Index, question: str, candidates: list[Candidate]) -> list[Candidate]:
    """The best-scored units (`reader_candidates`), read by the reader and ordered by the logit
    of its probability that they answer the question plus `reader_blend` times their score."""
    top = candidates[:int(reader_setting(index, "candidates"))]
    texts = [index.documents[c.passage.chunk.doc_id].text[c.start:c.end] for c in top]
    for cand, reading in zip(top, shipped_reader().read(question, texts), strict=True):
        cand.reading = reading
    blend = reader_setting(index, "blend")
    return sorted(top, key=lambda c: -(logit(_probability(c)) + blend * c.score))


def reader_setting(index: Index, name: str) -> float:
    """A reader setting: the configured value, else the one fitted on dev data (reader.json)."""
    configured = {"threshold": index.settings.answer.abstain_below,
                  "candidates": index.settings.answer.reader_candidates,
                  "blend": index.settings.answer.reader_blend,
                  "follow": index.settings.answer.reader_follow,
                  "short_answer_min": index.settings.answer.short_answer_min}[name]
    fitted = shipped_reader().info["answer"]
    if configured is not None:
        return float(configured)
    return float(fitted["calibration"]["threshold"] if name == "threshold" else fitted[name])


def short_answer(index: Index, best: Candidate, citation: Citation) -> ShortAnswer | None:
    """The reader's span in the first cited unit, trimmed of spaces and punctuation, when its
    confidence reaches `short_answer_min`, it is shorter than the sentence, and it lies inside the
    citation's quote (None otherwise)."""
    reading = best.reading
    if reading is None or reading.span_start < 0:
        return None
    if reading.span_confidence < reader_setting(index, "short_answer_min"):
        return None
    text = index.documents[citation.doc_id].text
    start, end = best.start + reading.span_start, best.start + reading.span_end
    while start < end and text[start] in TRIM:
        start += 1
    while end > start and text[end - 1] in TRIM:
        end -= 1
    inside = citation.doc_id == best.passage.chunk.doc_id and citation.start <= start < end <= citation.end
    if not inside or end - start >= 0.8 * (citation.end - citation.start):
        return None
    return ShortAnswer(text=text[start:end], n=citation.n, doc_id=citation.doc_id, start=start, end=end,
                       confidence=round(reading.span_confidence, 4))


def _probability(candidate: Candidate) -> float:
    return candidate.reading.probability if candidate.reading is not None else 0.0


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


def question_features(index: Index, question: str, as_of: str | None = None) -> dict[str, float] | None:
    """The calibration features for `question` over the passages `ask` answers from (for fitting)."""
    question = validate_query(question)
    _, passages = extractive(index, question, as_of=as_of)
    names = question_names(question)
    vectors = index.embedder.encode_queries([question, names] if names else [question])
    candidates = score_units(index, question, vectors[0], passages)
    return features(index, question, candidates, vectors[1] if names else None)


def question_names(question: str) -> str:
    """The capitalized words of a question after its first word, joined ('' when none)."""
    return " ".join(re.findall(r"\b[A-Z][a-zA-Z]+", question)[1:])


def choose(candidates: list[Candidate], limit: int, ratio: float, same_cosine: float = 0.95,
           key: Callable[[Candidate], float] = attrgetter("score")) -> list[Candidate]:
    """The best unit plus close runners-up (`key` at least `ratio` of the best's), skipping
    repeats of an already chosen sentence."""
    chosen: list[Candidate] = []
    for cand in candidates:
        if len(chosen) == limit or (chosen and key(cand) < ratio * key(chosen[0])):
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
