"""Passages -> Answer: sentences picked and cited, citations verified, or an honest refusal.

No language model is involved. Every sentence of the retrieved passages is scored against the
question: cosine of precomputed sentence vectors, plus the IDF-weighted share of the question's
terms it contains, less a penalty when it lacks the kind of answer asked for (a date for "when",
a number for "how many", a name for "who"). The best one to `max_sentences` sentences become the
answer, each followed by `[n]`. When the best sentence is weak evidence (see `evidence`: it also
weighs how much of the match is more than the question's names, and names the corpus never
mentions) the answer is a refusal with no citations.

Every citation is checked before it is returned (`rag.query.citations`): it must lie inside a
retrieved passage and its quote must equal the document text at its offsets. A citation failing
that is dropped. The scorer's weights are settings (`settings.answer`), since the refusal
threshold was calibrated with them.
"""

from __future__ import annotations

import re
import threading
import time
import weakref
from dataclasses import dataclass

import numpy as np

from rag.index.reader import Index
from rag.query.citations import cite, display_text, verified
from rag.query.filters import DocFilter
from rag.query.generation import generate_answer
from rag.query.retrieval import search, validate_query
from rag.stores import tokenize
from rag.types import Answer, Mode, Passage, RelatedPassage, Style

REFUSAL = "The documents do not say. I found nothing in them that answers this question."
QUESTION_FRAME = {"say", "said", "doe", "whi", "accord", "mention", "describ", "report", "tell", "told"}
NUMBER_WORDS = (r"\b(one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|"
                r"forty|fifty|hundred|thousand|million|billion|dozens?|several)\b")
TEMPORAL = (r"\b(january|february|march|april|may|june|july|august|september|october|november|"
            r"december|jan|feb|mar|apr|jun|jul|aug|sept?|oct|nov|dec|monday|tuesday|wednesday|"
            r"thursday|friday|saturday|sunday|yesterday|today|tomorrow|ago|(last|next|this|that) "
            r"(week|month|year|spring|summer|autumn|fall|winter)|\d{4})\b")
ANSWER_TYPES = {
    "when": re.compile(TEMPORAL, re.IGNORECASE),
    "how many": re.compile(rf"\d|{NUMBER_WORDS}", re.IGNORECASE),
    "how much": re.compile(rf"\d|\$|{NUMBER_WORDS}", re.IGNORECASE),
}
CAPITALIZED = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][a-zA-Z]+")
FULL_NAME = re.compile(r"\b[A-Z][a-zA-Z'’-]+(?:\s+[A-Z]\.)?(?:\s+[A-Z][a-zA-Z'’-]+)+")


@dataclass
class Candidate:
    """A sentence of a retrieved passage with its score against the question."""

    passage: Passage
    start: int
    end: int
    score: float
    cosine: float
    vector: np.ndarray


def ask(index: Index, question: str, k: int | None = None, mode: Mode | None = None,
        where: DocFilter | None = None, style: Style | None = None) -> Answer:
    """Answer `question` from the index: cited sentences, or a refusal when evidence is weak;
    with `where`, only from the documents it allows. In `style` "generated" (default:
    `settings.generator.default_style`) a model writes the answer from the same passages and
    every sentence is verified against its quote (`rag.query.generation`); the extractive answer
    is computed first either way, as the fallback."""
    question = validate_query(question)
    timings: dict[str, float] = {}
    started = time.perf_counter()
    names = question_names(question)
    vectors = index.embedder.encode_queries([question, names] if names else [question])
    vector, names_vector = vectors[0], (vectors[1] if names else None)
    timings["embed_ms"] = _ms(started)
    mark = time.perf_counter()
    passages = search(index, question, k or index.settings.answer.passages, mode, vector, where)
    timings["retrieve_ms"] = _ms(mark)
    mark = time.perf_counter()
    candidates = score_sentences(index, question, vector, passages)
    if evidence(index, question, candidates, names_vector) < index.settings.answer.abstain_below:
        answer = Answer(question=question, answer=REFUSAL, abstained=True,
                        related=related_passages(index, candidates))
    else:
        chosen = choose(candidates, index.settings.answer.max_sentences,
                        index.settings.answer.follow_ratio, index.settings.answer.same_sentence_cosine)
        citations = verified(index, cite(index, [(c.passage, c.start, c.end, c.score) for c in chosen]),
                             passages)
        text = " ".join(f"{display_text(c.quote)} [{c.n}]" for c in citations)
        answer = Answer(question=question, answer=text or REFUSAL, abstained=not citations,
                        citations=citations)
    timings["answer_ms"] = _ms(mark)
    timings["total_ms"] = _ms(started)
    answer.timings_ms = timings
    if (style or index.settings.generator.default_style) == "generated":
        return generate_answer(index, question, passages, answer)
    return answer


def score_sentences(index: Index, question: str, vector: np.ndarray,
                    passages: list[Passage]) -> list[Candidate]:
    """Every sentence of `passages`, scored and sorted best first."""
    scoring = index.settings.answer
    weights = index.keyword.idf(sorted(set(tokenize([question])[0]) - QUESTION_FRAME))
    total = sum(weights.values())
    expected = answer_type(question)
    out: list[Candidate] = []
    for passage in passages:
        chunk = passage.chunk
        text = index.documents[chunk.doc_id].text
        for span in chunk.sentences:
            sentence = text[span.start:span.end]
            if len(sentence.split()) < scoring.min_words:
                continue
            row = index.sentence_row.get((chunk.doc_id, span.start, span.end))
            if row is None:
                continue
            sentence_vector = index.sentence_vectors[row]
            cosine = float(sentence_vector @ vector)
            present = sentence_terms(index, chunk.doc_id, span.start, span.end)
            lexical = sum(w for t, w in weights.items() if t in present) / total if total else 0.0
            score = cosine + scoring.lexical_weight * lexical + scoring.rank_weight / passage.rank
            if not satisfies(expected, question, sentence):
                score -= scoring.type_penalty
            out.append(Candidate(passage, span.start, span.end, score, cosine, sentence_vector))
    out.sort(key=lambda c: -c.score)
    return out


def answer_type(question: str) -> str | None:
    """The kind of answer a wh-question asks for: 'when', 'how many', 'how much', 'who', 'where'."""
    lowered = question.lower()
    for kind in ("how many", "how much"):
        if kind in lowered:
            return kind
    first = re.match(r"\s*(when|who|where)\b", lowered)
    return first.group(1) if first else None


def satisfies(kind: str | None, question: str, sentence: str) -> bool:
    """Whether `sentence` holds the kind of thing the question asks for (a date, a number, a name)."""
    if kind in ANSWER_TYPES:
        return bool(ANSWER_TYPES[kind].search(sentence))
    asked = {w.lower() for w in re.findall(r"[A-Za-z]+", question)}
    if kind == "who":
        return any(any(w.lower() not in asked for w in re.findall(r"[A-Za-z]+", name))
                   for name in FULL_NAME.findall(sentence))
    if kind == "where":
        words = CAPITALIZED.findall(sentence.lstrip("\"'“‘( "))[1:]
        return any(w.lower() not in asked for w in words)
    return True


def unknown_names(index: Index, question: str) -> list[str]:
    """Names and numbers in the question that occur nowhere in the corpus.

    A question about "the Kerch Bridge" over documents that never mention Kerch cannot be
    answered from them, however close the nearest sentence looks.
    """
    vocab = index.keyword.bm25.vocab_dict
    names = CAPITALIZED.findall(question.strip()) + re.findall(r"\b\d{2,}\b", question)
    return [n for n in names if (tokens := tokenize([n])[0]) and not any(t in vocab for t in tokens)]


def evidence(index: Index, question: str, candidates: list[Candidate],
             names_vector: np.ndarray | None = None) -> float:
    """How strongly the best sentence answers the question; compared with `abstain_below`.

    Its score, plus its *focus*: how much closer the sentence is to the whole question than to
    the names the question mentions. A sentence that only matches the names ("Zaluzhny, the
    commander-in-chief" for "who replaced Zaluzhny as commander-in-chief?") has no focus and is
    not an answer. Names the corpus never mentions lower the evidence further.
    """
    if not candidates:
        return 0.0
    best = candidates[0]
    unknown = min(len(unknown_names(index, question)), 2)
    scoring = index.settings.answer
    return (best.score + scoring.focus_weight * focus(best, names_vector)
            - scoring.unknown_name_penalty * unknown)


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
_TERMS_LOCK = threading.Lock()


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
