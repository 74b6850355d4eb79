"""Keyword (BM25) retrieval with bm25s: exact names, numbers and dates that embeddings blur.

Text is lower-cased, English stopwords removed and words Snowball-stemmed. The saved index is a
folder of plain JSON and .npy files written by bm25s, loaded without pickle.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
import unicodedata
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from itertools import chain
from pathlib import Path
from types import ModuleType

import numpy as np
import Stemmer

from rag.errors import IndexCorrupt


def _import_bm25s() -> ModuleType:
    """Import bm25s with numba hidden: bm25s imports numba whenever it is installed (ranx in the
    dev extra brings it), which costs about 60 MB resident in `rag serve` for a JIT backend this
    module never uses (scores come from `get_scores`, plain numpy)."""
    hide = "numba" not in sys.modules
    if hide:
        sys.modules["numba"] = None  # type: ignore[assignment]  # makes `import numba` raise ImportError
    try:
        import bm25s
        import bm25s.stopwords
    finally:
        if hide:
            del sys.modules["numba"]
    return bm25s


bm25s = _import_bm25s()
STOPWORDS_EN = bm25s.stopwords.STOPWORDS_EN

FOLDER = "keyword"
_STEMMER = Stemmer.Stemmer("english")


_SPLIT = re.compile(r"(?u)\b\w\w+\b").findall
STOPWORDS = frozenset(STOPWORDS_EN)  # the words tokenize() drops; answering reads them too


def tokenize(texts: Sequence[str]) -> list[list[str]]:
    """Terms of each text as BM25 indexes them: lower-cased words of 2+ characters, English
    stopwords removed, Snowball-stemmed.

    The same steps as `bm25s.tokenize(texts, stopwords="en", stemmer=...)` (a test compares the
    two on real text) without its per-call set-up, which cost ~1 ms per question.
    """
    words, term = _words_and_terms(texts)
    return [[t for t in map(term.__getitem__, row) if t] for row in words]


def _words_and_terms(texts: Sequence[str]) -> tuple[list[list[str]], dict[str, str]]:
    """Each text's lower-cased words, and each distinct word's term ("" for a stopword): a corpus
    repeats its words, so stemming each once instead of at every occurrence halves a build's
    stemming time."""
    words = [_SPLIT(text.lower()) for text in texts]
    distinct = list(set().union(*words)) if words else []
    term = dict(zip(distinct, _STEMMER.stemWords(distinct), strict=True))
    term.update((w, "") for w in STOPWORDS.intersection(distinct))
    return words, term


def term_matrix(texts: Sequence[str]) -> tuple[dict[str, int], np.ndarray, np.ndarray, np.ndarray]:
    """(vocabulary, row, term id, count) of every distinct (text, term) pair, ordered by row then
    term: the term counts BM25 is computed from, made with one pass over all words."""
    words, term = _words_and_terms(texts)
    vocab = {t: i for i, t in enumerate(sorted(set(term.values()) - {""}))}
    code = {w: vocab.get(t, -1) for w, t in term.items()}
    lengths = np.fromiter(map(len, words), dtype=np.int64, count=len(words))
    ids = np.fromiter(map(code.__getitem__, chain.from_iterable(words)), dtype=np.int64, count=int(lengths.sum()))
    rows = np.repeat(np.arange(len(words), dtype=np.int64), lengths)
    kept = ids >= 0
    pairs, counts = np.unique(rows[kept] * max(len(vocab), 1) + ids[kept], return_counts=True)
    return vocab, pairs // max(len(vocab), 1), pairs % max(len(vocab), 1), counts


def bm25_scores(rows: np.ndarray, terms: np.ndarray, counts: np.ndarray, n_docs: int, n_terms: int,
                k1: float, b: float) -> dict[str, np.ndarray | int]:
    """bm25s's "lucene" scores as its CSC arrays (a column per term, rows are documents), built in
    numpy: bm25s counts each document's terms in a Python loop, 0.5 s for SciFact's chunks. The
    arithmetic follows bm25s's dtypes step by step (float32 idf; the rest in float64, rounded to
    float32 once), so the scores are bm25s's to the bit (a test compares every posting list)."""
    length = np.bincount(rows, weights=counts, minlength=n_docs)
    df = np.bincount(terms, minlength=n_terms)
    idf = np.log(1 + (n_docs - df + 0.5) / (df + 0.5)).astype(np.float32)
    norm = k1 * ((1 - b) + b * length / (length.mean() if length.any() else 1.0))  # no terms: no postings
    tf = counts.astype(np.float64)
    score = (idf[terms].astype(np.float64) * (tf / (norm[rows] + tf))).astype(np.float32)
    order = np.lexsort((rows, terms))
    indptr = np.zeros(n_terms + 1, dtype=np.int64)
    np.cumsum(df, out=indptr[1:])
    return {"data": score[order], "indices": rows[order].astype(np.int32), "indptr": indptr, "num_docs": n_docs}


def tokenizer_id() -> str:
    """What the terms depend on besides this code: the stemmer and stopword list releases and the
    Unicode tables behind `\\w` and `lower` (stored terms are recomputed when any changes)."""
    try:
        stemmer = version("PyStemmer")
    except PackageNotFoundError:
        stemmer = "unknown"
    stopwords = hashlib.sha256("\n".join(sorted(STOPWORDS)).encode()).hexdigest()[:12]
    return f"pystemmer {stemmer}; stopwords {stopwords}; unicode {unicodedata.unidata_version}"


class KeywordIndex:
    """BM25 over the chunk texts; row i is chunk i."""

    def __init__(self, bm25: bm25s.BM25, size: int) -> None:
        self.bm25 = bm25
        self.size = size

    @classmethod
    def build(cls, texts: Sequence[str], k1: float = 1.2, b: float = 0.75) -> KeywordIndex:
        """The index bm25s would build from `tokenize(texts)` (a test compares them)."""
        vocab, rows, terms, counts = term_matrix(texts)
        return cls.from_counts(list(vocab), rows, terms, counts, len(texts), k1, b)

    @classmethod
    def from_counts(cls, vocab: Sequence[str], rows: np.ndarray, terms: np.ndarray, counts: np.ndarray,
                    n_docs: int, k1: float = 1.2, b: float = 0.75) -> KeywordIndex:
        """The index of `n_docs` rows from their (row, term id, count) entries, as `term_matrix`
        makes them; term ids are positions in `vocab`. Saved and searched by bm25s."""
        bm25 = bm25s.BM25(k1=k1, b=b, backend="numpy")
        bm25.scores = bm25_scores(rows, terms, counts, n_docs, len(vocab), k1, b)
        bm25.vocab_dict = {t: i for i, t in enumerate(vocab)}
        bm25.vocab_dict[""] = len(vocab)  # bm25s's empty token, after the real ones
        bm25.unique_token_ids_set = set(bm25.vocab_dict.values())
        bm25.nonoccurrence_array = None
        return cls(bm25, n_docs)

    def save(self, folder: Path) -> None:
        target = folder / FOLDER
        self.bm25.save(str(target), show_progress=False)
        (target / "size.json").write_text(json.dumps({"size": self.size}))

    @classmethod
    def load(cls, folder: Path) -> KeywordIndex:
        target = folder / FOLDER
        try:
            bm25 = bm25s.BM25.load(str(target), load_corpus=False, mmap=False, allow_pickle=False)
            size = json.loads((target / "size.json").read_text())["size"]
        except (OSError, ValueError, KeyError) as exc:
            raise IndexCorrupt(f"cannot read keyword index in {target}: {exc}; rebuild with 'rag index'") from None
        return cls(bm25, size)

    def idf(self, terms: Sequence[str]) -> dict[str, float]:
        """BM25 inverse document frequency of each token; a token absent from the corpus gets the
        highest value, since it is as specific as a term can be."""
        if not hasattr(self, "_df"):
            self._df = np.diff(self.bm25.scores["indptr"])
        vocab = self.bm25.vocab_dict
        n = max(self.size, 1)
        out = {}
        for term in terms:
            df = int(self._df[vocab[term]]) if term in vocab and vocab[term] < len(self._df) else 0
            out[term] = float(np.log(1 + (n - df + 0.5) / (df + 0.5)))
        return out

    def search(self, query: str, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(ids, BM25 scores) of the best `k` chunks with a positive score, best first; with
        `allowed` (a boolean mask over rows) only allowed rows are ranked."""
        tokens = tokenize([query])[0]
        vocab = self.bm25.vocab_dict
        known = [t for t in tokens if t in vocab]
        if not known or self.size == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        scores = self.bm25.get_scores(known)
        if allowed is not None:
            scores = np.where(allowed, scores, 0.0)
        k = min(k, self.size)
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        top = top[scores[top] > 0]
        return top.astype(np.int64), scores[top].astype(np.float32)
