"""Standard IR metrics with trec_eval semantics: nDCG@k, Recall@k and MRR@k.

A *run* maps query id -> {doc id: score}; *qrels* map query id -> {doc id: graded relevance}.
Everything follows trec_eval (and so pytrec_eval and BEIR), checked against pytrec_eval in
tests/eval/test_metrics.py:

- A query's documents are ranked by score descending, ties broken by doc id *descending*
  (trec_eval's order; the order a run dict was built in does not matter).
- A document is relevant when its judgment is >= 1; unjudged documents are not relevant.
- nDCG uses the judgment itself as the gain (graded, negative judgments count as 0) with a
  log2(rank + 1) discount; the ideal ranking comes from the qrels, including relevant documents
  the run never retrieved.
- Queries absent from the qrels (or with no judgments) are skipped. Queries with judgments but no
  run, or an empty run, score 0. A query whose judgments are all non-relevant scores 0.

Metric names are `ndcg@k`, `recall@k` and `mrr@k`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

Run = Mapping[str, Mapping[str, float]]
Qrels = Mapping[str, Mapping[str, int]]

RELEVANT = 1
METRICS = ("ndcg", "recall", "mrr")


def ranking(scores: Mapping[str, float]) -> list[str]:
    """Doc ids best first in trec_eval order: score descending, then doc id descending."""
    return [doc for doc, _ in sorted(scores.items(), key=lambda kv: (float(kv[1]), kv[0]), reverse=True)]


def ndcg(ranked: list[str], judged: Mapping[str, int], k: int) -> float:
    """nDCG@k of one ranked list: sum of gain / log2(rank + 1) over the top k, over the ideal."""
    dcg = sum(max(judged.get(doc, 0), 0) / math.log2(i + 2) for i, doc in enumerate(ranked[:k]))
    ideal_gains = sorted((g for g in judged.values() if g > 0), reverse=True)[:k]
    ideal = sum(g / math.log2(i + 2) for i, g in enumerate(ideal_gains))
    return dcg / ideal if ideal > 0 else 0.0


def recall(ranked: list[str], judged: Mapping[str, int], k: int) -> float:
    """Share of the relevant documents (judgment >= 1) found in the top k."""
    relevant = {doc for doc, g in judged.items() if g >= RELEVANT}
    if not relevant:
        return 0.0
    return sum(1 for doc in ranked[:k] if doc in relevant) / len(relevant)


def mrr(ranked: list[str], judged: Mapping[str, int], k: int) -> float:
    """1 / rank of the first relevant document within the top k, else 0."""
    for i, doc in enumerate(ranked[:k]):
        if judged.get(doc, 0) >= RELEVANT:
            return 1.0 / (i + 1)
    return 0.0


_FUNCTIONS = {"ndcg": ndcg, "recall": recall, "mrr": mrr}


def parse_metric(name: str) -> tuple[str, int]:
    """'ndcg@10' -> ('ndcg', 10); a ValueError names what is accepted."""
    base, _, cutoff = name.lower().partition("@")
    if base not in _FUNCTIONS or not cutoff.isdigit() or int(cutoff) < 1:
        raise ValueError(f"unknown metric {name!r}; use ndcg@k, recall@k or mrr@k with k >= 1")
    return base, int(cutoff)


def per_query(run: Run, qrels: Qrels, metrics: Iterable[str]) -> dict[str, dict[str, float]]:
    """{metric: {query id: value}} for every query that has judgments."""
    parsed = {name: parse_metric(name) for name in metrics}
    out: dict[str, dict[str, float]] = {name: {} for name in parsed}
    for qid, judged in qrels.items():
        if not judged:
            continue
        ranked = ranking(run.get(qid) or {})
        for name, (base, k) in parsed.items():
            out[name][qid] = _FUNCTIONS[base](ranked, judged, k)
    return out


def evaluate(run: Run, qrels: Qrels,
             metrics: Iterable[str] = ("ndcg@10", "recall@100", "mrr@10")) -> dict[str, float]:
    """{metric: mean over judged queries}; 0.0 when no query has judgments."""
    scores = per_query(run, qrels, metrics)
    return {name: (sum(values.values()) / len(values) if values else 0.0)
            for name, values in scores.items()}
