"""Near-duplicate groups: the vectorized pair counting equals the plain definition. Fast tier."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from collections import defaultdict

import numpy as np

from rag.ingest.dedup import MAX_POSTING, find_groups, gram_sets, shingles
from rag.types import Chunk

WORDS = ["the", "army", "general", "said", "peace", "talks", "began", "in", "march", "near", "kyiv", "and",
         "moscow", "while", "troops", "waited"]


def chunk(i: int, doc: str, text: str) -> Chunk:
    return Chunk(chunk_id=f"{doc}#{i}", doc_id=doc, n=i, start=0, end=len(text), text=text, tokens=len(text.split()))


def reference(chunks: list[Chunk], containment: float) -> list[int]:
    """The definition, pair by pair: chunks of different documents sharing enough 3-grams."""
    sets = [shingles(c.text) for c in chunks]
    holders: dict[int, list[int]] = defaultdict(list)
    for i, grams in enumerate(sets):
        for gram in grams:
            holders[gram].append(i)
    shared: dict[tuple[int, int], int] = defaultdict(int)
    for members in holders.values():
        if len(members) <= MAX_POSTING:
            for x, a in enumerate(members):
                for b in members[x + 1:]:
                    if chunks[a].doc_id != chunks[b].doc_id:
                        shared[(a, b)] += 1
    parent = list(range(len(chunks)))

    def root(i: int) -> int:
        while parent[i] != i:
            i = parent[i]
        return i

    for (a, b), count in shared.items():
        if min(len(sets[a]), len(sets[b])) and count / min(len(sets[a]), len(sets[b])) >= containment:
            parent[root(a)] = root(b)
    groups: dict[int, list[int]] = defaultdict(list)
    for i in range(len(chunks)):
        groups[root(i)].append(i)
    out = [-1] * len(chunks)
    for gid, members in enumerate(m for m in groups.values() if len(m) > 1):
        for i in members:
            out[i] = gid
    return out


def random_corpus(seed: int) -> list[Chunk]:
    rng = random.Random(seed)
    chunks = []
    for i in range(120):
        if chunks and rng.random() < 0.3:  # a (partial) copy of an earlier chunk in another document
            source = rng.choice(chunks).text.split()
            cut = rng.randint(0, len(source) // 3)
            text = " ".join(source[cut:] + rng.choices(WORDS, k=rng.randint(0, 6)))
        else:
            text = " ".join(rng.choices(WORDS, k=rng.randint(2, 40)))
        chunks.append(chunk(i, f"doc{rng.randint(0, 30)}", text))
    return chunks


def test_groups_equal_the_pairwise_definition():
    grouped = 0
    for seed in range(6):
        chunks = random_corpus(seed)
        for containment in (0.2, 0.6, 0.9):
            expected = reference(chunks, containment)
            assert find_groups(chunks, {}, containment) == expected, (seed, containment)
            grouped += sum(g >= 0 for g in expected)
    assert grouped > 50  # the corpora really hold near-duplicates


def test_copies_in_one_document_are_not_a_group_and_empty_input_is_fine():
    text = "the general said the peace talks began in march"
    assert find_groups([chunk(0, "a", text), chunk(1, "a", text)], {}, 0.6) == [-1, -1]
    assert find_groups([chunk(0, "a", text), chunk(1, "b", text), chunk(2, "c", "x")], {}, 0.6) == [0, 0, -1]
    assert find_groups([], {}, 0.6) == []
    assert find_groups([chunk(0, "a", "hi"), chunk(1, "b", "hi")], {}, 0.6) == [-1, -1]  # no 3-grams


def test_corpus_wide_gram_sets_equal_each_texts_shingles():
    texts = [c.text for c in random_corpus(7)] + ["", "two words", "Three words here", "Ünïcödé ‘quoted’ text’s end"]
    grams, owner = gram_sets(texts)
    for i, text in enumerate(texts):
        assert set(grams[owner == i].tolist()) == shingles(text), i
    assert len(set(zip(grams.tolist(), owner.tolist(), strict=True))) == len(grams)  # distinct per text
    assert np.all(np.diff(grams.astype(np.float64)) >= 0)  # sorted by code, as pair counting expects
    assert len(gram_sets([])[0]) == len(gram_sets(['a b'])[0]) == 0


def test_gram_codes_are_the_same_in_every_process():
    """Python's str hash changes per process; 3-gram codes from it made duplicate groups differ
    between two builds of the same corpus whenever two 3-grams collided."""
    code = "from rag.ingest.dedup import shingles; print(sorted(shingles('the general said the peace talks')))"
    runs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={**os.environ, "PYTHONHASHSEED": str(seed)}).stdout for seed in (1, 2)}
    assert len(runs) == 1 and runs.pop().count(",") == 3  # 4 codes, equal across hash seeds
