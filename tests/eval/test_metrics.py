"""rag.eval.metrics against reference implementations (pytrec_eval, ranx) and hand-computed figures."""

from __future__ import annotations

import math

import pytest

from rag.eval.metrics import evaluate, mrr, ndcg, parse_metric, per_query, ranking, recall

# A fixed run with score ties, graded judgments (0-3, one negative), a judged query the run never
# answered, a judged query with an empty run, a query with only non-relevant judgments and a run
# query without judgments (skipped).
QRELS: dict[str, dict[str, int]] = {
    "q1": {"d1": 3, "d2": 0, "d3": 1, "d4": 2, "d9": 1},
    "q2": {"d5": 1, "d6": 1},
    "q3": {"d1": 2, "d2": 2, "d3": 1, "d7": -1},
    "q4": {"d8": 1},  # not in the run at all
    "q5": {"d2": 1},  # empty run
    "q6": {"d1": 0, "d2": 0},  # nothing relevant: scores 0
    "q7": {"d10": 1, "d2": 1, "d3": 1},
}
RUN: dict[str, dict[str, float]] = {
    "q1": {"d1": 0.5, "d2": 0.9, "d3": 0.5, "d4": 0.5, "d5": 0.1, "d6": 0.05},
    "q2": {"d1": 2.0, "d2": 1.0, "d3": 1.0, "d4": 1.0, "d5": 1.0, "d6": 0.2, "d7": 0.2},
    "q3": {"d7": 10.0, "d3": 9.0, "d1": 8.0, "d8": 7.0, "d2": 7.0, "d9": 6.5},
    "q5": {},
    "q6": {"d1": 1.0, "d2": 0.5},
    "q7": {f"d{i}": 1.0 / i for i in range(1, 15)},
    "q99": {"d1": 1.0},
}
CUTOFFS = (1, 2, 3, 5, 10, 100)


def test_agrees_with_pytrec_eval_including_ties() -> None:
    pytrec_eval = pytest.importorskip("pytrec_eval", reason="pytrec_eval-terrier is the tie-exact reference")
    measures = {f"ndcg_cut.{','.join(map(str, CUTOFFS))}", f"recall.{','.join(map(str, CUTOFFS))}",
                "recip_rank"}
    reference = pytrec_eval.RelevanceEvaluator(QRELS, measures).evaluate(RUN)
    names = [f"{m}@{k}" for m in ("ndcg", "recall", "mrr") for k in CUTOFFS]
    ours = per_query(RUN, QRELS, names)
    assert set(ours["ndcg@10"]) == set(QRELS)  # q99 (no judgments) skipped, q4 and q5 kept
    for qid in QRELS:
        expected = reference.get(qid)
        for k in CUTOFFS:
            if expected is None:  # pytrec_eval leaves out judged queries absent from the run
                assert ours[f"ndcg@{k}"][qid] == ours[f"recall@{k}"][qid] == ours[f"mrr@{k}"][qid] == 0
                continue
            assert ours[f"ndcg@{k}"][qid] == pytest.approx(expected[f"ndcg_cut_{k}"], abs=1e-4)
            assert ours[f"recall@{k}"][qid] == pytest.approx(expected[f"recall_{k}"], abs=1e-4)
            rr = expected["recip_rank"]  # MRR@k is the reciprocal rank when it is within k
            assert ours[f"mrr@{k}"][qid] == pytest.approx(rr if rr >= 1 / k - 1e-12 else 0.0, abs=1e-4)
    means = evaluate(RUN, QRELS, ["ndcg@10", "recall@100", "mrr@100"])
    assert means["ndcg@10"] == pytest.approx(
        sum(reference.get(q, {}).get("ndcg_cut_10", 0.0) for q in QRELS) / len(QRELS), abs=1e-4)
    assert means["mrr@100"] == pytest.approx(
        sum(reference.get(q, {}).get("recip_rank", 0.0) for q in QRELS) / len(QRELS), abs=1e-4)


def test_agrees_with_ranx_without_ties() -> None:
    ranx = pytest.importorskip("ranx")
    # ranx breaks score ties in no documented order, so compare it on a run without ties.
    run = {qid: {doc: score + 1e-3 * i for i, (doc, score) in enumerate(docs.items())}
           for qid, docs in RUN.items() if docs and qid in QRELS}
    qrels = {qid: {d: g for d, g in docs.items() if g > 0} for qid, docs in QRELS.items()}
    qrels = {qid: docs for qid, docs in qrels.items() if docs}  # ranx needs a relevant doc
    names = ["ndcg@3", "ndcg@10", "recall@2", "recall@100", "mrr@1", "mrr@10"]
    reference = ranx.evaluate(ranx.Qrels(qrels), ranx.Run(run), names, make_comparable=True)
    ours = evaluate(run, qrels, names)
    for name in names:
        assert ours[name] == pytest.approx(float(reference[name]), abs=1e-4), name


def test_ties_break_by_doc_id_descending() -> None:
    assert ranking({"a": 1.0, "c": 1.0, "b": 1.0, "z": 2.0, "y": 0.5}) == ["z", "c", "b", "a", "y"]
    # 'b' and 'a' tie; trec_eval puts 'b' first, so the relevant 'a' is at rank 2.
    assert mrr(ranking({"a": 1.0, "b": 1.0}), {"a": 1}, 10) == 0.5
    assert mrr(ranking({"a": 1.0, "b": 1.0}), {"a": 1}, 1) == 0.0


def test_hand_computed_graded_ndcg() -> None:
    judged = {"a": 0, "b": 2, "c": 1, "d": 3}  # 'd' is never retrieved
    ranked = ["a", "b", "c"]
    dcg = 2 / math.log2(3) + 1 / math.log2(4)
    ideal = 3 / math.log2(2) + 2 / math.log2(3) + 1 / math.log2(4)
    assert ndcg(ranked, judged, 3) == pytest.approx(dcg / ideal)
    assert ndcg(ranked, judged, 1) == 0.0
    assert ndcg(["d", "b", "c"], judged, 3) == pytest.approx(1.0)
    assert recall(ranked, judged, 2) == pytest.approx(1 / 3)
    assert recall(ranked, judged, 3) == pytest.approx(2 / 3)
    assert mrr(ranked, judged, 10) == 0.5
    assert ndcg(ranked, {"a": 0}, 10) == 0.0 and recall(ranked, {"a": 0}, 10) == 0.0


def test_empty_and_unjudged_queries() -> None:
    qrels = {"q1": {"a": 1}, "q2": {"b": 1}, "q3": {}}
    run = {"q1": {"a": 1.0}, "q2": {}, "q4": {"a": 1.0}}
    assert evaluate(run, qrels, ["ndcg@10", "recall@10", "mrr@10"]) == {
        "ndcg@10": 0.5, "recall@10": 0.5, "mrr@10": 0.5}
    assert evaluate({}, {}, ["ndcg@10"]) == {"ndcg@10": 0.0}


@pytest.mark.parametrize("name", ["ndcg", "map@10", "ndcg@0", "recall@x"])
def test_unknown_metric_names(name: str) -> None:
    with pytest.raises(ValueError):
        parse_metric(name)
