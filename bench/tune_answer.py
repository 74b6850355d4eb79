"""Choose the answer scorer's weights on DEV questions only, then fit the refusal model on them.

Dev data (eval/README.md): the dev split of eval/seeds.jsonl plus eval/seeds_dev_extra.jsonl over a
seeds index, and the dev half of RealTime QA (weeks up to 2022-08-26) over its full-corpus index,
each question asked as of its date. Test halves are never read.

1. Every dev question is embedded and retrieved once; each weight setting on the grid re-runs only
   the answer stage (refusal off) and is scored by first-citation hit and answer-contains.
2. The best setting (mean of: seeds dev hit@1, RTQA dev first-citation hit, RTQA dev
   answer-contains) is printed as RAG_ANSWER__* values.
3. With --fit, the refusal model is fitted with those weights on: seeds dev (answerable and not),
   RTQA dev over its corpus (answerable), and RTQA dev over the seeds index (off-topic, so
   unanswerable), and written to rag/calibration.json.

    python bench/tune_answer.py --seeds-index /tmp/seeds-index --rtqa-index /tmp/rtqa-index [--fit]
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

from common import ROOT as REPO

from rag import (
    answer_from,
    calibration_rows,
    dated_filters,
    fit_calibration,
    judge_answer,
    load_answer_questions,
    load_gold,
    load_settings,
    open_index,
    question_names,
    search,
    select_split,
)

RTQA = REPO.parent / "shared" / "bench-data" / "realtimeqa-2022"
GRID = {
    "lexical_weight": [0.0, 0.1, 0.2, 0.3, 0.4, 0.7, 1.0],
    "type_penalty": [0.15, 0.3, 0.5],
    "echo_penalty": [0.15, 0.3, 10.0],  # 10: an echo is never an answer
    "echo_min_new_terms": [2, 1, 3],  # ties keep the first value listed
    "rank_weight": [0.0, 0.02, 0.05, 0.15, 0.3],
}


def seeds_dev_questions():
    """The seeds dev questions: the dev split of eval/seeds.jsonl and all of seeds_dev_extra.jsonl."""
    return (select_split(load_gold(REPO / "eval" / "seeds.jsonl"), "dev")
            + select_split(load_gold(REPO / "eval" / "seeds_dev_extra.jsonl"), "dev"))


def prepared(index, questions):
    """(question, vector, names vector, passages) per question: the part no weight changes (a
    question asked as of a day searches its recent documents when they give any passage: with
    refusal off, as the grid runs, that is the scope `ask` answers from)."""
    out = []
    for item in questions:
        names = question_names(item.question)
        vectors = index.embedder.encode_queries([item.question, names] if names else [item.question])
        passages = []
        for scope in dated_filters(None, item.as_of, index.settings.retrieval.recent_days):
            passages = passages or search(index, item.question, index.settings.answer.passages, None,
                                          vectors[0], scope)
        out.append((item, vectors[0], vectors[1] if names else None, passages))
    return out


def score(index, rows, weights):
    for key, value in weights.items():
        setattr(index.settings.answer, key, value)
    index.settings.answer.abstain_below = 0.0
    results = [judge_answer(item, answer_from(index, item.question, v, nv, p), 0.0) for item, v, nv, p in rows]
    answerable = [r for r in results if r.answerable]
    hit1 = sum(r.hit1 for r in answerable) / len(answerable)
    contains = [r.contains for r in answerable if r.contains is not None]
    return hit1, (sum(contains) / len(contains) if contains else 0.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds-index", type=Path, required=True)
    parser.add_argument("--rtqa-index", type=Path, required=True)
    parser.add_argument("--fit", action="store_true", help="fit and write rag/calibration.json")
    args = parser.parse_args()
    seeds = open_index(load_settings(index_dir=args.seeds_index))
    rtqa = open_index(load_settings(index_dir=args.rtqa_index))
    seeds_dev = seeds_dev_questions()
    rtqa_dev = select_split(load_answer_questions(RTQA)[1], "dev")
    seeds_rows, rtqa_rows = prepared(seeds, seeds_dev), prepared(rtqa, rtqa_dev)
    current = {key: getattr(seeds.settings.answer, key) for key in GRID}  # before score() changes them
    table = []
    for values in itertools.product(*GRID.values()):
        weights = dict(zip(GRID, values, strict=True))
        s_hit, _ = score(seeds, seeds_rows, weights)
        r_hit, r_contains = score(rtqa, rtqa_rows, weights)
        table.append(((s_hit + r_hit + r_contains) / 3, s_hit, r_hit, r_contains, weights))
    # Among equals the weights in use win, then the first on the grid (the sort is stable).
    table.sort(key=lambda row: (-row[0], row[4] != current))
    for row in table[:10]:
        print(f"objective {row[0]:.4f}  seeds dev hit@1 {row[1]:.4f}  rtqa dev hit@1 {row[2]:.4f}  "
              f"contains {row[3]:.4f}  {row[4]}")
    best = table[0][4]
    print("best:", " ".join(f"RAG_ANSWER__{k.upper()}={v}" for k, v in best.items()))
    if args.fit:
        fit_with(best, seeds, rtqa, seeds_dev, rtqa_dev)


def dev_calibration_rows(seeds, rtqa, seeds_dev, rtqa_dev):
    """(seeds dev rows, their labels, other rows, their labels), refusal off: seeds dev over the
    seeds; RealTime QA dev over its corpus (answerable) and over the seeds index (off-topic, so
    unanswerable). The threshold is chosen on the seeds dev rows only: the one dev population with
    both answerable and unanswerable questions about one corpus (RealTime QA has no unanswerable
    ones, and its easy acceptances would dilute the false-refusal rate; off-topic rows are easy
    refusals)."""
    for index in (seeds, rtqa):
        index.settings.answer.abstain_below = None
    rows, labels = calibration_rows(seeds, seeds_dev)
    more, _ = calibration_rows(rtqa, rtqa_dev)
    off_topic = [item.model_copy(update={"answerable": False, "expected_doc_ids": [], "as_of": None})
                 for item in rtqa_dev]
    cross, _ = calibration_rows(seeds, off_topic)
    return rows, labels, more + cross, [True] * len(more) + [False] * len(cross)


def fit_with(weights, seeds, rtqa, seeds_dev, rtqa_dev) -> None:
    for index in (seeds, rtqa):
        for key, value in weights.items():
            setattr(index.settings.answer, key, value)
    rows, labels, other, other_labels = dev_calibration_rows(seeds, rtqa, seeds_dev, rtqa_dev)
    answerable_other = sum(other_labels)
    model = fit_calibration(rows + other, labels + other_labels, 0.9,
                            threshold_rows=[True] * len(rows) + [False] * len(other), fitted_on={
        "data": f"eval/seeds.jsonl dev split and eval/seeds_dev_extra.jsonl over the seeds ({len(rows)}: "
                f"{sum(labels)} answerable, {len(labels) - sum(labels)} not); RealTime QA 2022 dev half "
                f"(weeks to 2022-08-26, each asked as of its date) over its full corpus ({answerable_other} answerable) "
                "and over the seeds index "
                f"({len(other) - answerable_other} unanswerable, off-topic)", "weights": weights,
        "threshold": "chosen on seeds dev only, on out-of-fold probabilities (5 folds), against refusal "
                     "recall 0.9 and false refusals 0.025 (rag.calibration.choose_threshold)",
        "model": seeds.manifest.get("model", {}).get("name"),
        "sentence_vectors": seeds.settings.embedding.sentence_vectors, "script": "bench/tune_answer.py --fit"})
    path = REPO / "rag" / "calibration.json"
    path.write_text(model.to_json())
    print(f"wrote {path}: threshold {model.threshold:.3f}, weights {json.dumps(model.weights)}")


if __name__ == "__main__":
    main()
