"""Per-chunk BM25 terms and 3-gram codes kept in each build and reused by the next. Fast tier."""

from __future__ import annotations

import json
import random
import shutil

import numpy as np
from corpus_tools import SEEDS
from fakes import FAKE, fake_settings

from rag import FakeEncoder, build_index, current_build
from rag.index import build as build_module
from rag.index.features import FOLDER, ChunkFeatures, join
from rag.stores.bm25 import tokenizer_id

WORDS = ["river", "barges", "carried", "grain", "past", "the", "old", "mill", "while", "generals", "argued",
         "about", "peace", "talks", "in", "Kyiv", "and", "Moscow", "during", "March;", "ministers", "said", "troops"]


def texts(seed: int, n: int) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choices(WORDS, k=rng.randint(0, 40))) for _ in range(n)]


def assert_same(a: ChunkFeatures, b: ChunkFeatures) -> None:
    assert a.vocab == b.vocab
    for name in ("term_ptr", "terms", "counts", "gram_ptr", "grams"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name


def test_joining_kept_rows_and_fresh_rows_equals_computing_all():
    """Rows reordered, dropped and added, as a re-index after edits makes them."""
    before = ["the albatross row, dropped below"] + texts(1, 59)
    previous = ChunkFeatures.compute(before, before)
    rng = random.Random(2)
    kept = rng.sample(range(1, 60), 45)  # 15 rows gone, row 0 among them
    fresh_texts = texts(3, 10) + ["zeppelin quokka"]  # new terms too
    layout = [("old", k) for k in kept] + [("new", j) for j in range(len(fresh_texts))]
    rng.shuffle(layout)
    after = [before[k] if kind == "old" else fresh_texts[k] for kind, k in layout]
    from_previous = np.array([k if kind == "old" else -1 for kind, k in layout])
    added = [t for (kind, _), t in zip(layout, after, strict=True) if kind == "new"]
    fresh = ChunkFeatures.compute(added, added)
    joined = join(previous, fresh, from_previous)
    assert_same(joined, ChunkFeatures.compute(after, after))
    assert "quokka" in joined.vocab and "albatross" in previous.vocab and "albatross" not in joined.vocab


def test_saved_features_load_only_when_complete_and_of_this_version(tmp_path):
    sample = texts(4, 20)
    features = ChunkFeatures.compute(sample, sample)
    features.save(tmp_path)
    assert_same(ChunkFeatures.load(tmp_path, 20), features)
    assert ChunkFeatures.load(tmp_path, 21) is None  # rows of another build
    meta = tmp_path / FOLDER / "meta.json"
    good = json.loads(meta.read_text())
    assert good["tokenizer"] == tokenizer_id() and "pystemmer" in good["tokenizer"]
    for stale in ({**good, "version": 0}, {**good, "tokenizer": "pystemmer 0.1; stopwords x; unicode 9.0.0"}):
        meta.write_text(json.dumps(stale))
        assert ChunkFeatures.load(tmp_path, 20) is None  # another tokenization: recomputed
    meta.write_text(json.dumps(good))


def test_damaged_features_mean_computing_them_again(tmp_path):
    sample = texts(5, 20)
    damages = {
        "terms.npy": lambda path: np.save(path, np.array([10**6], dtype=np.int32)),  # a term id out of range
        "counts.npy": lambda path: path.write_bytes(b""),  # an empty file (np.load raises EOFError)
        "term_ptr.npy": lambda path: np.save(path, np.arange(5)),  # fewer rows than the build
        "grams.npy": lambda path: np.save(path, np.zeros(3, dtype=np.float64)),  # wrong dtype
        "gram_ptr.npy": lambda path: np.save(path, np.int64(3)),  # a 0-d array
        "vocab.json": lambda path: path.write_text("{not json"),
    }
    for name, damage in damages.items():
        folder = tmp_path / name
        folder.mkdir()
        ChunkFeatures.compute(sample, sample).save(folder)
        assert ChunkFeatures.load(folder, 20) is not None
        damage(folder / FOLDER / name)
        assert ChunkFeatures.load(folder, 20) is None, name


def stored(settings) -> dict:
    folder = current_build(settings)
    keyword = {p.name: p.read_bytes() for p in sorted((folder / "keyword").iterdir())}
    chunks = [json.loads(line) for line in (folder / "chunks.jsonl").read_text().splitlines()]
    return {"keyword": keyword, "groups": [c["group"] for c in chunks],
            "features": ChunkFeatures.load(folder, len(chunks))}


def test_a_reindex_reads_only_the_changed_documents_chunks_and_equals_a_fresh_build(tmp_path, monkeypatch):
    corpus, encoder = tmp_path / "corpus", FakeEncoder(name=FAKE)
    shutil.copytree(SEEDS, corpus)
    (corpus / "copy.txt").write_text((SEEDS / min(p.name for p in SEEDS.glob("*.txt"))).read_text())
    settings = fake_settings(tmp_path / "index")
    build_index(settings, [corpus], encoder=encoder)
    changed = sorted(corpus.glob("*.txt"))[2]
    changed.write_text(changed.read_text() + "\n\nA wholly new closing paragraph about river barges.\n")
    computed: list[int] = []
    real = ChunkFeatures.compute.__func__

    def compute(cls, keyword_texts, dedup_texts):
        computed.append(len(keyword_texts))
        return real(cls, keyword_texts, dedup_texts)

    monkeypatch.setattr(build_module.ChunkFeatures, "compute", classmethod(compute))
    again = build_index(settings, [corpus], encoder=encoder)
    assert again.rechunked == 1 and len(computed) == 1 and 0 < computed[0] < again.chunks / 4
    monkeypatch.undo()
    fresh = fake_settings(tmp_path / "fresh")
    build_index(fresh, [corpus], encoder=encoder)
    ours, theirs = stored(settings), stored(fresh)
    assert ours["keyword"] == theirs["keyword"]  # byte for byte: vocabulary, scores, postings
    assert ours["groups"] == theirs["groups"] and max(ours["groups"]) >= 0  # the copy is grouped
    assert_same(ours["features"], theirs["features"])
