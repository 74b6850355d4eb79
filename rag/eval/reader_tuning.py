"""Choose the reader's answer settings on dev data only (`bench/tune_reader.py` runs it).

Dev rows: the dev split of eval/seeds.jsonl and eval/seeds_dev_extra.jsonl (never the test split).
Each dev question is retrieved and scored once; for each (number of candidates read, blend) its
row holds the reader's best P(answers), the scorer's calibrated P(answered) (the packaged refusal
model of before the reader), whether the first unit is from a right document (reader order and
scorer order), and whether the question is answerable.

Refusal: a logistic model over the two logits (`rag.query.refusal.reader_features`), fitted by
`rag.calibration.fit` with its out-of-fold threshold (targets: refusal recall 0.9, false refusals
0.025, as for the refusal model before the reader). The table also shows each input alone: that
is how the hand-written scorer features were judged to still add something. The short-answer
floor is the lowest span confidence at which, on dev answers whose first unit is right, the short
answer holds a gold string at least 60% of the times it is shown.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from rag.calibration import fit
from rag.config import load_settings
from rag.eval.gold import load_gold, select_split
from rag.index.reader import open_index
from rag.query.answering import read_candidates, score_units, short_answer
from rag.query.citations import cite
from rag.query.refusal import answer_probability, logit
from rag.query.retrieval import search

ROOT = Path(__file__).resolve().parents[2]
DEV_FILES = (ROOT / "eval" / "seeds.jsonl", ROOT / "eval" / "seeds_dev_extra.jsonl")


def dev_questions() -> list:
    out = []
    for path in DEV_FILES:
        items = load_gold(path)
        out.extend(select_split(items, "dev") if path.name == "seeds.jsonl" else items)
    return out


def rows_for(index_dir: Path, sizes: list[tuple[int, float]]) -> dict[tuple[int, float], list[dict]]:
    """Per number of candidates, one row per dev question."""
    settings = load_settings(index_dir=index_dir)
    settings.answer.short_answer_min = 0.0
    out: dict[tuple[int, float], list[dict]] = {n: [] for n in sizes}
    with open_index(settings) as index:
        for q in dev_questions():
            vector = index.embedder.encode_queries([q.question])[0]
            passages = search(index, q.question, index.settings.answer.passages, None, vector, None)
            scored = score_units(index, q.question, vector, passages)
            scorer_p = answer_probability(index, q.question, scored)
            for n, blend in sizes:
                index.settings.answer.reader_candidates = n
                index.settings.answer.reader_blend = blend
                read = read_candidates(index, q.question, list(scored))
                out[(n, blend)].append(row(index, q, scorer_p, scored, read))
    return out


def row(index, q, scorer_p: float, scored: list, read: list) -> dict:
    best = read[0] if read else None
    short = None
    if best is not None:
        citation = cite(index, [(best.passage, best.start, best.end, best.score)])[0]
        short = short_answer(index, best, citation)
    golds = [g.lower() for g in (q.answer_contains or q.answers)]
    return {"id": q.id, "answerable": q.answerable, "scorer": logit(scorer_p),
            "reader": logit(best.reading.probability if best else 0.0),
            "hit_reader": bool(best and best.passage.chunk.doc_id in q.expected_doc_ids),
            "hit_scorer": bool(scored and scored[0].passage.chunk.doc_id in q.expected_doc_ids),
            "short_conf": short.confidence if short else 0.0,
            "short_ok": bool(short and any(g in short.text.lower() for g in golds))}


def figures(rows: list[dict], probs: np.ndarray, cut: float, hit: str) -> dict[str, float]:
    ans = np.array([r["answerable"] for r in rows])
    kept = probs >= cut
    hits = np.array([r[hit] for r in rows])
    return {"hit@1": float(np.mean(hits[ans] & kept[ans])),
            "refusal_recall": float(np.mean(~kept[~ans])), "false_refusals": float(np.mean(~kept[ans]))}


def short_floor(rows: list[dict], kept: np.ndarray) -> float:
    shown = [r for r, k in zip(rows, kept, strict=True) if k and r["answerable"] and r["hit_reader"]
             and r["short_conf"] > 0]
    for floor in np.arange(0.05, 1.0, 0.05):
        chosen = [r for r in shown if r["short_conf"] >= floor]
        if chosen and np.mean([r["short_ok"] for r in chosen]) >= 0.6:
            return round(float(floor), 2)
    return 1.0


def tune_reader(seeds_index: Path, candidates: list[int], blends: list[float]) -> tuple[list[str], dict[str, Any]]:
    """The dev table (markdown lines) and the chosen answer block for reader.json: the
    (candidates, blend) with the best hit@1 + refusal recall - 2 x false refusals."""
    table = rows_for(seeds_index, [(n, b) for n in candidates for b in blends])
    lines = ["| candidates, blend | refusal from | threshold | hit@1 | refusal recall | false refusals |",
             "|---:|---|---:|---:|---:|---:|"]
    best = None
    for key, rows in table.items():
        labels = [r["answerable"] for r in rows]
        for name, feats, hit in (("scorer only (before)", ("scorer",), "hit_scorer"),
                                 ("reader only", ("reader",), "hit_reader"),
                                 ("scorer + reader", ("scorer", "reader"), "hit_reader")):
            model = fit(rows, labels, features=feats, fitted_on={"questions": "seeds dev + seeds_dev_extra"})
            probs = np.array([model.probability(r) for r in rows])
            f = figures(rows, probs, model.threshold, hit)
            lines.append(f"| {key} | {name} | {model.threshold:.3f} | {f['hit@1']:.3f} | "
                         f"{f['refusal_recall']:.3f} | {f['false_refusals']:.3f} |")
            if feats == ("scorer", "reader"):
                score = f["hit@1"] + f["refusal_recall"] - 2 * f["false_refusals"]
                if best is None or score > best[0] + 1e-9:
                    best = (score, key, model, short_floor(rows, probs >= model.threshold))
        answerable = [r for r in rows if r["answerable"]]
        lines.append(f"| {key} | hit@1 never refusing: scorer {np.mean([r['hit_scorer'] for r in answerable]):.3f}"
                     f", reader {np.mean([r['hit_reader'] for r in answerable]):.3f} | | | | |")
    assert best is not None
    _, (n, blend), model, floor = best
    model.fitted_on.update(script="bench/tune_reader.py")
    return lines, {"candidates": n, "blend": blend, "short_answer_min": floor, "calibration": asdict(model),
                   "fitted_on": "seeds dev split + seeds_dev_extra.jsonl (bench/tune_reader.py)"}
