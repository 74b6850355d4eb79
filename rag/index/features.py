"""Per-chunk keyword terms and 3-gram codes, kept in each build so a re-index redoes only new chunks.

The BM25 index and the near-duplicate groups are corpus-wide (document frequencies, pairs across
documents), so a re-index rebuilds both; what it need not redo is reading every chunk's words.
Each build keeps, per chunk row, its BM25 term counts and its distinct 3-gram codes (both
deterministic functions of the chunk's text) in `features/`; a re-index takes the rows of reused
chunks from there and computes only the chunks of new or changed documents. After one changed
SciFact document that reading was about 1.5 s of a 3.6 s re-index.

Files (plain .npy and JSON): `vocab.json` (term strings; a term id is a position),
`term_ptr.npy`, `terms.npy`, `counts.npy` (each chunk row's term ids and counts, CSR by row),
`gram_ptr.npy`, `grams.npy` (each row's 3-gram codes, CSR by row), `meta.json` (version, rows,
and the stemmer, stopword and Unicode releases the terms came from).
A missing, older or damaged folder only means everything is computed.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rag.ingest.dedup import gram_sets
from rag.stores.bm25 import term_matrix, tokenizer_id

FOLDER = "features"
VERSION = 1  # bump when tokenization or 3-gram coding changes: older rows are then recomputed
_ARRAYS = ("term_ptr", "terms", "counts", "gram_ptr", "grams")


@dataclass
class ChunkFeatures:
    """BM25 term counts and 3-gram codes of chunk rows, CSR by row."""

    vocab: list[str]
    term_ptr: np.ndarray
    terms: np.ndarray
    counts: np.ndarray
    gram_ptr: np.ndarray
    grams: np.ndarray

    @property
    def rows(self) -> int:
        return len(self.term_ptr) - 1

    @classmethod
    def compute(cls, keyword_texts: Sequence[str], dedup_texts: Sequence[str]) -> ChunkFeatures:
        """Features of chunks from their texts: BM25 reads the embedding text, dedup the chunk."""
        vocab, rows, terms, counts = term_matrix(keyword_texts)
        grams, owner = gram_sets(dedup_texts)
        order = np.lexsort((grams, owner))
        return cls(list(vocab), _ptr(rows, len(keyword_texts)), terms.astype(np.int32), counts.astype(np.int32),
                   _ptr(owner[order], len(dedup_texts)), grams[order])

    def take(self, rows: np.ndarray) -> ChunkFeatures:
        """These rows, in this order."""
        term_ptr, terms = _gather(self.term_ptr, rows)
        gram_ptr, grams = _gather(self.gram_ptr, rows)
        return ChunkFeatures(self.vocab, term_ptr, self.terms[terms], self.counts[terms], gram_ptr,
                             self.grams[grams])

    def term_rows(self) -> np.ndarray:
        return np.repeat(np.arange(self.rows, dtype=np.int64), np.diff(self.term_ptr))

    def gram_index(self) -> tuple[np.ndarray, np.ndarray]:
        """(codes, owner row) sorted by code then row: what `rag.ingest.dedup.find_groups` takes."""
        owner = np.repeat(np.arange(self.rows, dtype=np.int64), np.diff(self.gram_ptr))
        order = np.lexsort((owner, self.grams))
        return self.grams[order], owner[order]

    def save(self, folder: Path) -> None:
        target = folder / FOLDER
        target.mkdir()
        for name in _ARRAYS:
            np.save(target / f"{name}.npy", getattr(self, name), allow_pickle=False)
        (target / "vocab.json").write_text(json.dumps(self.vocab, ensure_ascii=False), encoding="utf-8")
        (target / "meta.json").write_text(json.dumps(_meta(self.rows)))

    @classmethod
    def load(cls, folder: Path, rows: int) -> ChunkFeatures | None:
        """The build's features when they cover its `rows` chunks and were made by this version
        with the same stemmer, stopwords and Unicode tables; else None."""
        target = folder / FOLDER
        try:
            if json.loads((target / "meta.json").read_text()) != _meta(rows):
                return None
            arrays = {name: np.load(target / f"{name}.npy", allow_pickle=False) for name in _ARRAYS}
            vocab = json.loads((target / "vocab.json").read_text(encoding="utf-8"))
            features = cls(vocab, **arrays)
            return features if _consistent(features, rows) else None
        except (OSError, EOFError, ValueError, TypeError, AttributeError, IndexError):  # damaged: recompute
            return None


def join(previous: ChunkFeatures, fresh: ChunkFeatures, from_previous: np.ndarray) -> ChunkFeatures:
    """Rows in build order: row i is previous row `from_previous[i]`, or, where that is -1, the
    next row of `fresh`. Term ids are renumbered into one sorted vocabulary of the terms used."""
    old = previous.take(from_previous[from_previous >= 0])
    used = np.unique(old.terms)
    vocab = sorted({previous.vocab[i] for i in used.tolist()} | set(fresh.vocab))
    number = {t: i for i, t in enumerate(vocab)}
    old_ids = np.zeros(len(previous.vocab), dtype=np.int32)
    old_ids[used] = [number[previous.vocab[i]] for i in used.tolist()]
    fresh_ids = np.array([number[t] for t in fresh.vocab], dtype=np.int32)
    both = ChunkFeatures(vocab, np.r_[old.term_ptr, old.term_ptr[-1] + fresh.term_ptr[1:]],
                         np.r_[old_ids[old.terms], fresh_ids[fresh.terms]], np.r_[old.counts, fresh.counts],
                         np.r_[old.gram_ptr, old.gram_ptr[-1] + fresh.gram_ptr[1:]], np.r_[old.grams, fresh.grams])
    new = from_previous < 0
    order = np.zeros(len(from_previous), dtype=np.int64)
    order[~new] = np.arange(old.rows)
    order[new] = old.rows + np.arange(fresh.rows)
    return both.take(order)


def _gather(ptr: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(new ptr, element positions) of CSR rows `rows`, in that order."""
    lengths = (ptr[rows + 1] - ptr[rows]).astype(np.int64)
    new_ptr = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum(lengths, out=new_ptr[1:])
    positions = np.repeat(ptr[rows].astype(np.int64) - new_ptr[:-1], lengths) + np.arange(int(new_ptr[-1]))
    return new_ptr, positions


def _ptr(rows: np.ndarray, n: int) -> np.ndarray:
    ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n), out=ptr[1:])
    return ptr


def _meta(rows: int) -> dict[str, object]:
    return {"version": VERSION, "rows": rows, "tokenizer": tokenizer_id()}


def _consistent(f: ChunkFeatures, rows: int) -> bool:
    """Shapes, dtypes and ranges a damaged or foreign folder would break."""
    integer = all(np.issubdtype(a.dtype, np.integer) for a in (f.term_ptr, f.terms, f.counts, f.gram_ptr))
    shapes = all(a.ndim == 1 for a in (f.term_ptr, f.terms, f.counts, f.gram_ptr, f.grams))
    if not (integer and shapes and f.grams.dtype == np.uint64 and len(f.term_ptr) == len(f.gram_ptr) == rows + 1):
        return False
    return (isinstance(f.vocab, list) and all(isinstance(t, str) for t in f.vocab)
            and f.term_ptr[0] == f.gram_ptr[0] == 0
            and f.term_ptr[-1] == len(f.terms) == len(f.counts) and f.gram_ptr[-1] == len(f.grams)
            and bool(np.all(np.diff(f.term_ptr) >= 0)) and bool(np.all(np.diff(f.gram_ptr) >= 0))
            and (len(f.terms) == 0 or (0 <= int(f.terms.min()) and int(f.terms.max()) < len(f.vocab))))
