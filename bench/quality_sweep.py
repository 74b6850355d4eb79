"""Retrieval and answer quality over a grid of index settings: SciFact nDCG@10 and the seeds gold set.

    .venv/bin/python bench/quality_sweep.py --limit 1000                  # chunk size x overlap grid
    .venv/bin/python bench/quality_sweep.py --grid chunking.overlap_tokens=0,48 --limit 300 --no-gold
    .venv/bin/python bench/quality_sweep.py --grid embedding.precision=auto,int8 --json out.json
    .venv/bin/python bench/quality_sweep.py --grid embedding.sentence_vectors=separate,late --no-beir

Default grid: chunking.max_tokens 128/200/256 x chunking.overlap_tokens 0/16/32/48. For each
configuration (settings from the RAG_* environment, then --set, then the grid values):

- BEIR (`--data`, default SciFact): the first `--limit` documents (all without it) and only the
  queries whose relevant documents are all among them; built with `build_from_documents(...,
  sentences=False)` into <--base>/<data>-<limit>-<settings hash> (kept, so a rerun or a
  configuration sharing the index settings reuses it and its embedding cache); documents ranked to
  depth 100 in dense, keyword and hybrid modes; nDCG@10 by `rag.evaluate_run`.
- Gold (`--gold`, default eval/seeds.jsonl): seeds/ indexed with the same settings (with answer
  sentences) and every question asked through `rag.ask`: hit@1, MRR, refusals, answer_contains.

Build seconds are wall time including the embedding cache's effect: compare them only between
configurations built from an empty cache on a quiet machine. The load average is recorded.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_GRID = ["chunking.max_tokens=128,200,256", "chunking.overlap_tokens=0,16,32,48"]

from rag import (
    build_from_documents,
    build_index,
    evaluate_run,
    index_fingerprint,
    load_beir,
    load_gold,
    load_settings,
    open_index,
    rank_to_depth,
    run_gold,
)


def parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def configurations(grid: list[str]) -> list[dict[str, Any]]:
    """Every combination of `key=v1,v2,...` grid lines, as {key: value} overrides."""
    axes = [(key, [parse_value(v) for v in values.split(",")])
            for key, values in (line.split("=", 1) for line in grid)]
    return [dict(zip([k for k, _ in axes], combo, strict=True)) for combo in itertools.product(*(v for _, v in axes))]


def settings_for(overrides: dict[str, Any], index_dir: Path):
    return load_settings(index_dir=index_dir).with_overrides(**overrides)


BASE = Path("/tmp/rag-sweep")


def folder_for(kind: str, overrides: dict[str, Any]) -> Path:
    fingerprint = index_fingerprint(settings_for(overrides, Path("/tmp/x")))
    digest = hashlib.sha256(json.dumps(fingerprint, sort_keys=True, default=str).encode()).hexdigest()[:10]
    return BASE / f"{kind}-{digest}"


def limited(documents: list, queries: dict, qrels: dict, limit: int | None) -> tuple[list, dict, dict]:
    if limit is None:
        return documents, queries, qrels
    documents = documents[:limit]
    kept = {d.doc_id for d in documents}
    keep = [q for q in queries if all(d in kept for d, grade in qrels[q].items() if grade >= 1)]
    return documents, {q: queries[q] for q in keep}, {q: qrels[q] for q in keep}


def beir_quality(data: Path, limit: int | None, overrides: dict[str, Any]) -> dict[str, Any]:
    documents, queries, qrels = limited(*load_beir(data), limit)
    settings = settings_for(overrides, folder_for(f"{data.name}-{limit or 'all'}", overrides))
    began = time.perf_counter()
    built = build_from_documents(settings, documents, sentences=False)
    build_seconds = time.perf_counter() - began
    qids = list(queries)
    with open_index(settings) as index:
        vectors = index.embedder.encode([queries[q] for q in qids])
        metrics = {}
        for mode in ("dense", "keyword", "hybrid"):
            run = {q: dict(rank_to_depth(index, queries[q], mode, 100, vectors[i] if mode != "keyword" else None))
                   for i, q in enumerate(qids)}
            metrics[mode] = round(evaluate_run(run, qrels, ("ndcg@10",))["ndcg@10"], 4)
    return {"documents": len(documents), "queries": len(qids), "chunks": built.chunks,
            "embedded": built.embedded, "build_s": round(build_seconds, 1), "ndcg@10": metrics}


def gold_quality(gold: Path, overrides: dict[str, Any]) -> dict[str, Any]:
    settings = settings_for(overrides, folder_for("seeds", overrides))
    began = time.perf_counter()
    built = build_index(settings, [ROOT / "seeds"])
    build_seconds = time.perf_counter() - began
    with open_index(settings) as index:
        summary = run_gold(index, load_gold(gold))["summary"]
    keep = ("hit@1", "mrr", "refusal_recall", "false_refusal_rate", "answer_contains")
    return {"chunks": built.chunks, "embedded": built.embedded, "build_s": round(build_seconds, 1),
            **{k: summary[k] for k in keep}}


def row(overrides: dict[str, Any], result: dict[str, Any]) -> str:
    name = ", ".join(f"{k.split('.')[-1]}={v}" for k, v in overrides.items()) or "defaults"
    beir, gold = result.get("beir"), result.get("gold")
    cells = [name]
    if beir:
        n = beir["ndcg@10"]
        cells += [f"{beir['chunks']:,}", f"{beir['build_s']}", f"{n['dense']:.4f}", f"{n['keyword']:.4f}",
                  f"{n['hybrid']:.4f}"]
    if gold:
        cells += [f"{gold['hit@1']:.3f}", f"{gold['mrr']:.3f}", f"{gold['refusal_recall']:.3f}",
                  f"{gold['false_refusal_rate']:.3f}", f"{gold['answer_contains']:.3f}", f"{gold['build_s']}"]
    return "| " + " | ".join(cells) + " |"


def header(beir: bool, gold: bool) -> str:
    cells = ["configuration"]
    if beir:
        cells += ["chunks", "build s", "dense nDCG@10", "keyword nDCG@10", "hybrid nDCG@10"]
    if gold:
        cells += ["gold hit@1", "gold MRR", "refusal recall", "false refusals", "answer contains", "seeds build s"]
    return "| " + " | ".join(cells) + " |\n|" + "---|" * len(cells)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "bench-data" / "scifact")
    parser.add_argument("--limit", type=int, help="first N corpus documents (default: all)")
    parser.add_argument("--gold", type=Path, default=ROOT / "eval" / "seeds.jsonl")
    parser.add_argument("--grid", action="append", help="key=v1,v2,... (repeatable; default: size x overlap)")
    parser.add_argument("--set", action="append", default=[], help="key=value applied to every configuration")
    parser.add_argument("--no-beir", action="store_true")
    parser.add_argument("--no-gold", action="store_true")
    parser.add_argument("--base", type=Path, default=BASE, help=f"index folders (default {BASE})")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    globals()["BASE"] = args.base
    fixed = {k: parse_value(v) for k, v in (s.split("=", 1) for s in args.set)}
    results = []
    print(header(not args.no_beir, not args.no_gold), flush=True)
    for grid_values in configurations(args.grid or DEFAULT_GRID):
        overrides = {**fixed, **grid_values}
        result: dict[str, Any] = {"overrides": overrides, "load_before": os.getloadavg()[0]}
        if not args.no_beir:
            result["beir"] = beir_quality(args.data.resolve(), args.limit, overrides)
        if not args.no_gold:
            result["gold"] = gold_quality(args.gold, overrides)
        result["load_after"] = os.getloadavg()[0]
        results.append(result)
        print(row(overrides, result), flush=True)
    loads = [r["load_before"] for r in results] + [r["load_after"] for r in results]
    print(f"load average during the sweep: {min(loads):.2f}-{max(loads):.2f} ({os.cpu_count()} CPUs)", file=sys.stderr)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"data": str(args.data), "limit": args.limit, "results": results}, indent=2))


if __name__ == "__main__":
    main()
