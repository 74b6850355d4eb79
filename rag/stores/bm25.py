"""Keyword (BM25) retrieval with bm25s: exact names, numbers and dates that embeddings blur.

Text is lower-cased, English stopwords removed and words Snowball-stemmed. The saved index is a
folder of plain JSON and .npy files written by bm25s, loaded without pickle.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Sequence
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
_STOPWORDS = frozenset(STOPWORDS_EN)


def tokenize(texts: Sequence[str]) -> list[list[str]]:
    """Terms of each text as BM25 indexes them: lower-cased words of 2+ characters, English
    stopwords removed, Snowball-stemmed.

    The same steps as `bm25s.tokenize(texts, stopwords="en", stemmer=...)` (a test compares the
    two on real text) without its per-call set-up, which cost ~1 ms per question.
    """
    return [_STEMMER.stemWords([w for w in _SPLIT(text.lower()) if w not in _STOPWORDS]) for text in texts]


class KeywordIndex:
    """BM25 over the chunk texts; row i is chunk i."""

    def __init__(self, bm25: bm25s.BM25, size: int) -> None:
        self.bm25 = bm25
        self.size = size

    @classmethod
    def build(cls, texts: Sequence[str], k1: float = 1.2, b: float = 0.75) -> KeywordIndex:
        bm25 = bm25s.BM25(k1=k1, b=b, backend="numpy")
        bm25.index(tokenize(texts), show_progress=False)
        return cls(bm25, len(texts))

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
