"""Our BM25 tokenizer against the reference it replaces (bm25s.tokenize) on real text."""

from __future__ import annotations

import json
from pathlib import Path

import bm25s

from rag.stores.bm25 import _STEMMER, tokenize

ROOT = Path(__file__).resolve().parents[2]


def test_tokenize_equals_bm25s_on_seeds_gold_questions_and_edge_cases():
    texts = [p.read_text(encoding="utf-8") for p in sorted((ROOT / "seeds").iterdir()) if p.is_file()]
    texts += [json.loads(line)["question"] for line in (ROOT / "eval" / "seeds.jsonl").read_text().splitlines()
              if line.strip()]
    texts += ["", "a", "I'm sure we'll", "Ünïcödé naïve CAFÉ 2024 x1 co-operate", "the of and", "日本語 テキスト"]
    reference = bm25s.tokenize(texts, stopwords="en", stemmer=_STEMMER, return_ids=False, show_progress=False)
    assert tokenize(texts) == reference
    assert sum(len(t) for t in reference) > 2000  # the comparison covered real text
