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

import re
import unicodedata
from collections import defaultdict
from collections.abc import Sequence

from rag.types import Chunk

WORD = re.compile(r"\w+")
MAX_POSTING = 50  # 3-grams shared by more chunks than this are stock phrases, not evidence


def normalize(text: str) -> list[str]:
    return WORD.findall(unicodedata.normalize("NFKC", text).lower().replace("’", "'"))


def shingles(text: str, n: int = 3) -> set[int]:
    words = normalize(text)
    return {hash(tuple(words[i:i + n])) for i in range(max(len(words) - n + 1, 0))}


def find_groups(
    chunks: Sequence[Chunk], doc_lengths: dict[str, int], containment: float
) -> list[int]:
    """A group id per chunk (-1 for unique chunks), canonical member first in its group order."""
    sets = [shingles(c.text) for c in chunks]
    postings: dict[int, list[int]] = defaultdict(list)
    for i, grams in enumerate(sets):
        for gram in grams:
            postings[gram].append(i)
    overlap: dict[tuple[int, int], int] = defaultdict(int)
    for members in postings.values():
        if len(members) > MAX_POSTING:
            continue
        for a_pos, a in enumerate(members):
            for b in members[a_pos + 1:]:
                if chunks[a].doc_id != chunks[b].doc_id:
                    overlap[(a, b)] += 1
    parent = list(range(len(chunks)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for (a, b), shared in overlap.items():
        smaller = min(len(sets[a]), len(sets[b]))
        if smaller and shared / smaller >= containment:
            parent[root(a)] = root(b)
    members_of: dict[int, list[int]] = defaultdict(list)
    for i in range(len(chunks)):
        members_of[root(i)].append(i)
    groups = [-1] * len(chunks)
    for gid, members in enumerate(m for m in members_of.values() if len(m) > 1):
        for i in members:
            groups[i] = gid
    return groups


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
