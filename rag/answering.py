"""Passages -> Answer: sentences picked and cited, citations verified, or an honest refusal.

No language model is involved. Every sentence of the retrieved passages is scored against the
question (cosine of precomputed sentence vectors plus the share of the question's content words it
contains); the best one to `max_sentences` sentences become the answer, each followed by `[n]`.
When even the best sentence is weak evidence the answer is a refusal with no citations.

Every citation is checked before it is returned: it must lie inside a retrieved passage and its
quote must equal the document text at its offsets. A citation failing that is dropped.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

import numpy as np

from rag.dedup import normalize
from rag.indexing import Index
from rag.keyword import tokenize
from rag.retrieval import Mode, search, validate_query
from rag.types import Answer, Citation, Passage, RelatedPassage

REFUSAL = "The documents do not say. I found nothing in them that answers this question."
LEXICAL_WEIGHT = 0.3
RANK_WEIGHT = 0.05
MIN_WORDS = 4
SAME_SENTENCE_COSINE = 0.95


@dataclass
class Candidate:
    """A sentence of a retrieved passage with its score against the question."""

    passage: Passage
    start: int
    end: int
    score: float
    cosine: float
    vector: np.ndarray


def ask(index: Index, question: str, k: int | None = None, mode: Mode | None = None) -> Answer:
    """Answer `question` from the index: cited sentences, or a refusal when evidence is weak."""
    question = validate_query(question)
    timings: dict[str, float] = {}
    started = time.perf_counter()
    vector = index.embedder.encode_query(question)
    timings["embed_ms"] = _ms(started)
    mark = time.perf_counter()
    passages = search(index, question, k or index.settings.answer.passages, mode, vector)
    timings["retrieve_ms"] = _ms(mark)
    mark = time.perf_counter()
    candidates = score_sentences(index, question, vector, passages)
    best = candidates[0].score if candidates else 0.0
    if best < index.settings.answer.abstain_below:
        answer = Answer(question=question, answer=REFUSAL, abstained=True,
                        related=related_passages(index, candidates))
    else:
        chosen = choose(candidates, index.settings.answer.max_sentences,
                        index.settings.answer.follow_ratio)
        citations = verified(index, cite(index, chosen), passages)
        text = " ".join(f"{display_text(c.quote)} [{c.n}]" for c in citations)
        answer = Answer(question=question, answer=text or REFUSAL, abstained=not citations,
                        citations=citations)
    timings["answer_ms"] = _ms(mark)
    timings["total_ms"] = _ms(started)
    answer.timings_ms = timings
    return answer


def score_sentences(index: Index, question: str, vector: np.ndarray,
                    passages: list[Passage]) -> list[Candidate]:
    """Every sentence of `passages`, scored and sorted best first."""
    terms = set(tokenize([question])[0])
    out: list[Candidate] = []
    for passage in passages:
        chunk = passage.chunk
        text = index.documents[chunk.doc_id].text
        for span in chunk.sentences:
            sentence = text[span.start:span.end]
            if len(sentence.split()) < MIN_WORDS:
                continue
            row = index.sentence_row.get((chunk.doc_id, span.start, span.end))
            if row is None:
                continue
            sentence_vector = index.sentence_vectors[row]
            cosine = float(sentence_vector @ vector)
            lexical = len(terms & set(tokenize([sentence])[0])) / len(terms) if terms else 0.0
            score = cosine + LEXICAL_WEIGHT * lexical + RANK_WEIGHT / passage.rank
            out.append(Candidate(passage, span.start, span.end, score, cosine, sentence_vector))
    out.sort(key=lambda c: -c.score)
    return out


def choose(candidates: list[Candidate], limit: int, ratio: float) -> list[Candidate]:
    """The best sentence plus close runners-up, skipping repeats of an already chosen sentence."""
    chosen: list[Candidate] = []
    for cand in candidates:
        if len(chosen) == limit or (chosen and cand.score < ratio * chosen[0].score):
            break
        if any(float(cand.vector @ c.vector) >= SAME_SENTENCE_COSINE for c in chosen):
            continue
        chosen.append(cand)
    return chosen


def cite(index: Index, chosen: list[Candidate]) -> list[Citation]:
    """Numbered citations in order of use, with other documents carrying the same sentence."""
    citations = []
    for n, cand in enumerate(chosen, start=1):
        doc = index.documents[cand.passage.chunk.doc_id]
        quote = doc.text[cand.start:cand.end]
        citations.append(Citation(
            n=n, doc_id=doc.doc_id, title=doc.display_title, source=doc.source,
            start=cand.start, end=cand.end, quote=quote, page=doc.page_at(cand.start),
            score=round(cand.score, 4), also_in=copies_of(index, quote, cand.passage.also_in),
        ))
    return citations


def copies_of(index: Index, quote: str, candidates: list[str]) -> list[str]:
    """Those of `candidates` whose text contains `quote` (compared as normalized words)."""
    needle = " ".join(normalize(quote))
    return [d for d in candidates if needle and needle in _normalized_text(index, d)]


def _normalized_text(index: Index, doc_id: str) -> str:
    cache = index.__dict__.setdefault("_normalized", {})
    if doc_id not in cache:
        cache[doc_id] = " ".join(normalize(index.documents[doc_id].text))
    return cache[doc_id]


def verified(index: Index, citations: list[Citation], passages: list[Passage]) -> list[Citation]:
    """Only citations inside a retrieved passage whose quote is exactly the text at its offsets."""
    kept = []
    for citation in citations:
        doc = index.documents.get(citation.doc_id)
        inside = any(p.chunk.doc_id == citation.doc_id and p.chunk.start <= citation.start
                     and citation.end <= p.chunk.end for p in passages)
        if doc and inside and doc.text[citation.start:citation.end] == citation.quote:
            kept.append(citation.model_copy(update={"n": len(kept) + 1}))
    return kept


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


def display_text(quote: str) -> str:
    """A quote as one readable line: markup and list bullets removed, whitespace collapsed."""
    text = re.sub(r"\*\*|</?u>", "", quote)
    text = re.sub(r"(^|\s)[•·]\s+", r"\1", text)
    return " ".join(text.split())


def _ms(since: float) -> float:
    return round((time.perf_counter() - since) * 1000, 2)
