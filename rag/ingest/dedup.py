"""Near-duplicate chunk groups, found at index time, so results never repeat the same text.

Two chunks of *different* documents are near-duplicates when at least `containment` of the
smaller chunk's word 3-grams (case, quotes and punctuation normalized) occur in the other. 3-gram
containment, unlike embedding similarity, separates "the same sentences republished" (0.8-1.0)
from "another article on the same event" (under 0.1 on the seeds), and unlike Jaccard it still
fires when a republication is a shortened or re-chunked copy.

Each group's canonical chunk belongs to the fuller document (the longest text), so a citation
points at the most complete source and lists the others in `also_in`.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections import defaultdict
from collections.abc import Sequence
from itertools import chain

import numpy as np

from rag.types import Chunk

WORD = re.compile(r"\w+")
MAX_POSTING = 50  # 3-grams shared by more chunks than this are stock phrases, not evidence
_MIX = (np.uint64(0x9E3779B97F4A7C15), np.uint64(0xC2B2AE3D27D4EB4F))  # odd multipliers mixing 3 word codes


def normalize(text: str) -> list[str]:
    return WORD.findall(unicodedata.normalize("NFKC", text).lower().replace("’", "'"))


def word_code(word: str) -> int:
    """A 64-bit code per word, the same in every process (Python's `hash` of a str is not)."""
    return int.from_bytes(hashlib.blake2b(word.encode("utf-8"), digest_size=8).digest(), "little")


def _trigrams(codes: np.ndarray) -> np.ndarray:
    """The code of each run of 3 consecutive words (uint64 arithmetic wraps, as a hash should)."""
    with np.errstate(over="ignore"):
        return (codes[:-2] * _MIX[0] + codes[1:-1]) * _MIX[1] + codes[2:]


def shingles(text: str) -> set[int]:
    """The text's word 3-gram codes: the definition `find_groups` computes for all chunks at once."""
    codes = np.array([word_code(w) for w in normalize(text)], dtype=np.uint64)
    return set(_trigrams(codes).tolist()) if len(codes) >= 3 else set()


def gram_sets(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Every text's distinct 3-gram codes at once: (codes, owner text), sorted by code then owner.

    One pass over all words instead of a set per text: each distinct word is coded once and the
    3-grams of the whole corpus are mixed in numpy, dropping those that straddle two texts.
    """
    words = [normalize(t) for t in texts]
    code = {w: word_code(w) for w in set().union(*words)} if words else {}
    lengths = np.fromiter(map(len, words), dtype=np.int64, count=len(words))
    flat = np.fromiter(map(code.__getitem__, chain.from_iterable(words)), dtype=np.uint64, count=int(lengths.sum()))
    if len(flat) < 3:
        return np.zeros(0, np.uint64), np.zeros(0, np.int64)
    word_owner = np.repeat(np.arange(len(words), dtype=np.int64), lengths)
    inside = word_owner[:-2] == word_owner[2:]
    grams, owner = _trigrams(flat)[inside], word_owner[:-2][inside]
    order = np.lexsort((owner, grams))
    grams, owner = grams[order], owner[order]
    first = np.r_[True, (grams[1:] != grams[:-1]) | (owner[1:] != owner[:-1])]
    return grams[first], owner[first]


def find_groups(
    chunks: Sequence[Chunk], doc_lengths: dict[str, int], containment: float,
    grams: tuple[np.ndarray, np.ndarray] | None = None,
) -> list[int]:
    """A group id per chunk (-1 for unique chunks), canonical member first in its group order.
    `grams` is `gram_sets` of the chunk texts when the caller has it (a re-index keeps it)."""
    grams, owner = grams if grams is not None else gram_sets([c.text for c in chunks])
    sizes = np.bincount(owner, minlength=len(chunks)).astype(np.int64)
    parent = list(range(len(chunks)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for a, b in _contained_pairs(chunks, grams, owner, sizes, containment):
        parent[root(a)] = root(b)
    members_of: dict[int, list[int]] = defaultdict(list)
    for i in range(len(chunks)):
        members_of[root(i)].append(i)
    groups = [-1] * len(chunks)
    for gid, members in enumerate(m for m in members_of.values() if len(m) > 1):
        for i in members:
            groups[i] = gid
    return groups


def _contained_pairs(chunks: Sequence[Chunk], grams: np.ndarray, owner: np.ndarray, sizes: np.ndarray,
                     containment: float) -> list[tuple[int, int]]:
    """Chunk pairs (a < b) of different documents sharing at least `containment` of the smaller
    chunk's 3-grams, counting only 3-grams held by at most MAX_POSTING chunks.

    Vectorized: every (3-gram, chunk) entry sorted by 3-gram (as `gram_sets` returns them); the
    postings of each size m become an (n, m) array whose column pairs are the chunk pairs sharing
    that 3-gram; pairs are counted with one `np.unique`. A full SciFact build took 5 s in the
    pure-Python version, 0.5 s here.
    """
    if not chunks:
        return []
    starts = np.flatnonzero(np.r_[True, grams[1:] != grams[:-1]]) if len(grams) else np.zeros(0, np.int64)
    lengths = np.diff(np.r_[starts, len(grams)])
    docs = np.unique([c.doc_id for c in chunks], return_inverse=True)[1]
    keys = []
    for m in np.unique(lengths):
        if m < 2 or m > MAX_POSTING:
            continue
        members = owner[starts[lengths == m][:, None] + np.arange(m)]
        first, second = np.triu_indices(int(m), 1)
        a, b = members[:, first].ravel(), members[:, second].ravel()
        other = docs[a] != docs[b]
        keys.append(a[other] * len(chunks) + b[other])
    if not keys:
        return []
    pairs, shared = np.unique(np.concatenate(keys), return_counts=True)
    a, b = pairs // len(chunks), pairs % len(chunks)
    smaller = np.minimum(sizes[a], sizes[b])
    hit = (smaller > 0) & (shared >= containment * np.maximum(smaller, 1))
    return list(zip(a[hit].tolist(), b[hit].tolist(), strict=True))


def canonical_members(
    chunks: Sequence[Chunk], groups: Sequence[int], doc_lengths: dict[str, int]
) -> dict[int, int]:
    """For each group id, the index of its canonical chunk: from the longest document."""
    best: dict[int, int] = {}
    for i, gid in enumerate(groups):
        if gid < 0:
            continue
        current = best.get(gid)
        if current is None or _fuller(chunks[i], chunks[current], doc_lengths):
            best[gid] = i
    return best


def _fuller(a: Chunk, b: Chunk, doc_lengths: dict[str, int]) -> bool:
    return (doc_lengths[a.doc_id], len(a.text), b.doc_id) > (doc_lengths[b.doc_id], len(b.text), a.doc_id)
