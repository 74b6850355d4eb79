"""Our BM25 tokenizer against the reference it replaces (bm25s.tokenize) on real text."""

from __future__ import annotations

import json
from pathlib import Path

import bm25s
import numpy as np

from rag.stores.bm25 import _STEMMER, KeywordIndex, tokenize

ROOT = Path(__file__).resolve().parents[2]


def test_tokenize_equals_bm25s_on_seeds_gold_questions_and_edge_cases():
    texts = [p.read_text(encoding="utf-8") for p in sorted((ROOT / "seeds").iterdir()) if p.is_file()]
    texts += [json.loads(line)["question"] for line in (ROOT / "eval" / "seeds.jsonl").read_text().splitlines()
              if line.strip()]
    texts += ["", "a", "I'm sure we'll", "Ünïcödé naïve CAFÉ 2024 x1 co-operate", "the of and", "日本語 テキスト"]
    reference = bm25s.tokenize(texts, stopwords="en", stemmer=_STEMMER, return_ids=False, show_progress=False)
    assert tokenize(texts) == reference
    assert sum(len(t) for t in reference) > 2000  # the comparison covered real text


def seeds_sentences() -> list[str]:
    texts = [p.read_text(encoding="utf-8") for p in sorted((ROOT / "seeds").iterdir()) if p.is_file()]
    return [s for text in texts for s in text.split("\n") if s.strip()]


def test_numpy_build_scores_like_bm25s_on_seeds_paragraphs():
    """The index is built in numpy; bm25s, indexing the same terms, is the reference."""
    texts = seeds_sentences() + ["", "the of and", "Zelensky Zelensky Zelensky"]
    ours = KeywordIndex.build(texts, k1=1.2, b=0.75)
    reference = bm25s.BM25(k1=1.2, b=0.75, backend="numpy")
    reference.index(tokenize(texts), show_progress=False)
    assert ours.bm25.vocab_dict.keys() == reference.vocab_dict.keys()
    assert ours.bm25.scores["num_docs"] == reference.scores["num_docs"] == len(texts)
    assert len(ours.bm25.scores["data"]) == len(reference.scores["data"]) > 2000
    questions = [json.loads(line)["question"] for line in (ROOT / "eval" / "seeds.jsonl").read_text().splitlines()
                 if line.strip()]
    compared = 0
    for question in questions:
        terms = [t for t in tokenize([question])[0] if t in reference.vocab_dict]
        if terms:
            mine = ours.bm25.get_scores(terms)
            assert np.allclose(mine, reference.get_scores(terms), rtol=1e-6, atol=0), question
            compared += int(np.count_nonzero(mine))
    assert compared > 1000  # the questions matched many paragraphs
    for term in reference.vocab_dict:  # every posting list: the same rows, scores to the bit
        assert np.array_equal(column(ours.bm25, term)[0], column(reference, term)[0]), term
        assert np.array_equal(column(ours.bm25, term)[1], column(reference, term)[1]), term


def column(bm25: bm25s.BM25, term: str) -> tuple[np.ndarray, np.ndarray]:
    """(rows, scores) of one term's posting list."""
    if term not in bm25.vocab_dict or bm25.vocab_dict[term] >= len(bm25.scores["indptr"]) - 1:
        return np.zeros(0, np.int32), np.zeros(0, np.float32)
    start, end = bm25.scores["indptr"][bm25.vocab_dict[term]:bm25.vocab_dict[term] + 2]
    return bm25.scores["indices"][start:end], bm25.scores["data"][start:end]


def test_numpy_build_saves_loads_and_searches(tmp_path):
    texts = ["Milley spoke about the Russian retreat", "Zaluzhny and Gerasimov negotiate", "the of and", ""]
    index = KeywordIndex.build(texts)
    index.save(tmp_path)
    loaded = KeywordIndex.load(tmp_path)
    ids, scores = loaded.search("Who negotiates? Gerasimov", k=3)
    assert ids.tolist() == [1] and scores[0] > 0
    assert loaded.search("stopwords only: the of", k=3)[0].tolist() == []
    assert KeywordIndex.build(["the", "of"]).search("the", k=2)[0].tolist() == []  # no terms at all
