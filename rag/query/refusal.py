"""Whether to answer at all, in the answer stage of before the reader (`RAG_ANSWER__READER=off`).

A probability (`rag.calibration`): a logistic model over the best unit's features (score, cosine,
lexical share, focus on more than the question's names, names the corpus never mentions, new
terms, whether it lacks the asked type of answer, the IDF of the rarest question term it lacks),
fitted on dev questions. Below its threshold the answer is a refusal with no citations. With the
reader on, its probability decides instead (`rag.query.answering.read_candidates`).
"""

from __future__ import annotations

import functools
import math
import re
import threading
import weakref

import numpy as np

from rag.calibration import Calibration, load_calibration
from rag.index.reader import Index
from rag.query.answer_types import CAPITALIZED, answer_type, satisfies
from rag.query.units import Candidate
from rag.stores import tokenize

ASKING = ("what", "when", "who", "whom", "whose", "which", "where", "why", "how", "did", "does", "do",
          "is", "are", "was", "were", "has", "have", "had", "can", "could", "would", "should", "will")
QUESTION_FRAME = {"say", "said", "doe", "whi", "accord", "mention", "describ", "report", "tell", "told"}

_CALIBRATION: weakref.WeakKeyDictionary[Index, Calibration] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


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


def focus(candidate: Candidate, names_vector: np.ndarray | None) -> float:
    """Cosine to the question minus cosine to the question's names alone (0 without names).

    The names are encoded together with the question, in one model call."""
    if names_vector is None:
        return 0.0
    return candidate.cosine - float(candidate.vector @ names_vector)


def reset_calibration(index: Index) -> None:
    """Forget the index's loaded calibration (after `rag calibrate` wrote a new one)."""
    with _LOCK:
        _CALIBRATION.pop(index, None)


def calibration_of(index: Index) -> Calibration:
    """The abstention model for this index: its folder's own fit, else the packaged one."""
    with _LOCK:
        found = _CALIBRATION.get(index)
        if found is None:
            found = _CALIBRATION[index] = load_calibration(index.settings.index_dir)[0]
    return found


def logit(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return math.log(p / (1 - p))


def reader_features(index: Index, question: str, scored: list[Candidate], read: list[Candidate],
                    names_vector: np.ndarray | None = None) -> dict[str, float]:
    """The two inputs of the reader's refusal model: the logit of the scorer's calibrated
    P(answered) (its best unit) and the logit of the reader's best P(answers)."""
    best = read[0].reading.probability if read and read[0].reading is not None else 0.0
    return {"scorer": logit(answer_probability(index, question, scored, names_vector)), "reader": logit(best)}


def reader_probability(index: Index, question: str, scored: list[Candidate], read: list[Candidate],
                       names_vector: np.ndarray | None = None) -> float:
    """P(the documents answer the question) with the reader on: a logistic model over
    `reader_features`, fitted on dev questions (reader.json `answer.calibration`)."""
    if not read:
        return 0.0
    return reader_calibration().probability(reader_features(index, question, scored, read, names_vector))


@functools.cache
def reader_calibration() -> Calibration:
    """The reader's refusal model, from the shipped reader's reader.json."""
    from rag.query.reader import shipped_reader

    return Calibration(**shipped_reader().info["answer"]["calibration"])
