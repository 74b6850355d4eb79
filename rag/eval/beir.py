"""BEIR mode: load a BEIR-layout data set, index its corpus, rank every query, score the runs.

BEIR layout (https://github.com/beir-cellar/beir):

    DIR/corpus.jsonl[.gz]    {"_id", "title", "text"} per line
    DIR/queries.jsonl        {"_id", "text"} per line (queries-<split>.jsonl when a split has its own)
    DIR/qrels/<split>.tsv    query-id <TAB> corpus-id <TAB> score, with a header line

Each corpus entry becomes one `Document` (text = title, blank line, text), indexed with the normal
chunking and embedding settings. Documents are ranked by `rag.query.retrieval.rank_documents` (best chunk
per document) and scored with `rag.eval.metrics` (trec_eval semantics); the same runs are also scored by
pytrec_eval when it is installed, and the largest difference is reported as a self-check.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import math
import re
import time
from collections.abc import Iterable, Sequence
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from rag.config import Settings
from rag.errors import InputError, RagError
from rag.eval.metrics import Qrels, Run, evaluate
from rag.index.build import Progress, Silent, build_from_documents
from rag.index.layout import current_build
from rag.index.manifest import check_manifest, index_fingerprint, read_manifest
from rag.index.reader import Index, open_index
from rag.query.retrieval import rank_documents
from rag.types import Document, Mode

_DATE = re.compile(r"(?<!\d)(\d{4})([-/._ ]?)(\d{2})\2(\d{2})(?:\d{6})?(?!\d)")
METRICS = ("ndcg@10", "recall@100", "mrr@10")
MODES: tuple[Mode, ...] = ("dense", "keyword", "hybrid")


# --------------------------------------------------------------------------- loading


def load_beir(folder: str | Path, split: str = "test") -> tuple[list[Document], dict[str, str],
                                                                 dict[str, dict[str, int]]]:
    """(documents, queries {id: text}, qrels {query id: {doc id: score}}) of a BEIR folder.

    Only queries judged in `qrels/<split>.tsv` are returned. Queries come from
    `queries-<split>.jsonl` when that file exists, else from `queries.jsonl`.
    """
    root = Path(folder)
    corpus = _first_existing(root, ["corpus.jsonl", "corpus.jsonl.gz"])
    qrels_path = root / "qrels" / f"{split}.tsv"
    if corpus is None or not qrels_path.is_file():
        raise InputError(f"{root} is not a BEIR folder: it needs corpus.jsonl (or corpus.jsonl.gz) "
                         f"and qrels/{split}.tsv")
    documents: list[Document] = []
    seen: set[str] = set()
    for row in _read_jsonl(corpus):
        doc_id = str(row["_id"])
        if doc_id in seen:
            raise InputError(f"{corpus}: doc id {doc_id!r} appears twice")
        seen.add(doc_id)
        documents.append(beir_document(doc_id, row.get("title") or "", row.get("text") or "",
                                       published(row.get("publish_date"))))
    qrels = read_qrels(qrels_path)
    queries_path = _first_existing(root, [f"queries-{split}.jsonl", "queries.jsonl"])
    if queries_path is None:
        raise InputError(f"{root} has no queries.jsonl")
    queries = {str(row["_id"]): str(row["text"]) for row in _read_jsonl(queries_path)
               if str(row["_id"]) in qrels}
    missing = sorted(set(qrels) - set(queries))
    if missing:
        raise InputError(f"{len(missing)} judged queries are not in {queries_path.name} "
                         f"(first: {missing[0]!r})")
    return documents, queries, qrels


def beir_document(doc_id: str, title: str, text: str, date: str | None = None) -> Document:
    """One corpus entry as a Document: title, a blank line, then the text. The hash covers the
    date too, so a corrected date reaches the index."""
    title = " ".join(title.split())
    body = f"{title}\n\n{text}" if title else text
    stamp = body if date is None else f"{body}\0{date}"
    return Document(doc_id=doc_id, source=doc_id, text=body, title=title or None, date=date,
                    content_hash=hashlib.sha256(stamp.encode("utf-8")).hexdigest())


def published(value: object) -> str | None:
    """A corpus entry's `publish_date` ("2022/06/16", "2022-06-16T10:00") as YYYY-MM-DD, else None."""
    return day(str(value or ""))


def day(text: str) -> str | None:
    """The first calendar day written YYYY-MM-DD (one separator of - / . _ or space throughout, or
    none; undivided, as 8 digits or a 14-digit YYYYMMDDhhmmss stamp) in `text`, normalized; None
    without one. "20220617_0" (a RealTime QA query id) is 2022-06-17; a Unix time such as
    "1655337600", mixed separators ("2022/06-17") and "2022-13-45" give none."""
    for found in _DATE.finditer(text):
        year, _, month, dom = found.groups()
        try:
            return date(int(year), int(month), int(dom)).isoformat()
        except ValueError:
            continue
    return None


def read_qrels(path: Path) -> dict[str, dict[str, int]]:
    """BEIR qrels TSV (header line first) as {query id: {doc id: score}}."""
    qrels: dict[str, dict[str, int]] = {}
    with open(path, encoding="utf-8") as handle:
        for n, line in enumerate(handle):
            parts = line.rstrip("\r\n").split("\t")
            if n == 0 and not parts[-1].lstrip("-").isdigit():
                continue  # header
            if len(parts) < 3:
                if line.strip():
                    raise InputError(f"{path}:{n + 1}: expected query-id, corpus-id, score")
                continue
            qrels.setdefault(parts[0], {})[parts[1]] = int(parts[-1])
    return qrels


def _first_existing(root: Path, names: Sequence[str]) -> Path | None:
    return next((root / n for n in names if (root / n).is_file()), None)


def _read_jsonl(path: Path) -> Iterable[dict[str, Any]]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)


# --------------------------------------------------------------------------- running


def default_index_dir(folder: str | Path, settings: Settings, base: str | Path = "/tmp") -> Path:
    """A per-data-set, per-configuration index folder: `<base>/beir-<name>-<settings hash>`.

    The hash covers exactly what the index depends on (model, chunking, cleaning), so runs that
    differ only in retrieval settings share one index and one embedding cache.
    """
    digest = hashlib.sha256(json.dumps(index_fingerprint(settings), sort_keys=True,
                                       default=str).encode()).hexdigest()[:10]
    return Path(base) / f"beir-{Path(folder).resolve().name}-{digest}"


def run_beir(folder: str | Path, settings: Settings, modes: Sequence[Mode] = MODES, depth: int = 100,
             progress: Progress | None = None, limit_queries: int | None = None,
             split: str = "test") -> dict[str, Any]:
    """Index the corpus of a BEIR folder (or reuse a matching index), rank its queries, score them.

    Returns a JSON-able report: data set sizes, the settings used, build and query timings, the
    metrics of each mode (nDCG@10, Recall@100, MRR@10) and the reference library's agreement.
    """
    progress = progress or Silent()
    unknown = [m for m in modes if m not in MODES]
    if unknown or not modes:
        raise InputError(f"unknown mode(s) {unknown}; choose from {', '.join(MODES)}")
    progress.stage("loading data set", 1)
    documents, queries, qrels = load_beir(folder, split)
    progress.advance(1)
    if limit_queries is not None:
        keep = list(queries)[:limit_queries]
        queries = {q: queries[q] for q in keep}
        qrels = {q: qrels[q] for q in keep}

    started = time.perf_counter()
    reused = _reusable(settings, documents)
    embedded = 0
    if not reused:
        built = build_from_documents(settings, documents, progress, sentences=False)
        embedded = built.embedded
    index = open_index(settings)
    build_seconds = time.perf_counter() - started

    vectors: np.ndarray | None = None
    encode_seconds = 0.0
    qids = list(queries)
    if any(m in ("dense", "hybrid") for m in modes):
        embedder = index.embedder  # load and warm up the model outside the timed part
        embedder.encode([queries[q] for q in qids[:embedder.batch_size]])
        progress.stage("encoding queries", len(qids))
        began = time.perf_counter()
        vectors = embedder.encode([queries[q] for q in qids], progress.advance)
        encode_seconds = time.perf_counter() - began

    results: dict[str, Any] = {}
    runs: dict[str, dict[str, dict[str, float]]] = {}
    for mode in modes:
        if qids:  # warm-up (first FAISS / BM25 calls allocate), not timed
            rank_to_depth(index, queries[qids[0]], mode, depth, vectors[0] if vectors is not None else None)
        progress.stage(f"ranking ({mode})", len(qids))
        began = time.perf_counter()
        run: dict[str, dict[str, float]] = {}
        for i, qid in enumerate(qids):
            vector = vectors[i] if vectors is not None and mode != "keyword" else None
            run[qid] = dict(rank_to_depth(index, queries[qid], mode, depth, vector))
            progress.advance(1)
        seconds = time.perf_counter() - began + (encode_seconds if mode != "keyword" else 0.0)
        runs[mode] = run
        results[mode] = {**{name: round(value, 5) for name, value in evaluate(run, qrels, METRICS).items()},
                         "query_seconds": round(seconds, 3),
                         "ms_per_query": round(1000 * seconds / max(len(qids), 1), 2)}

    return {
        "dataset": Path(folder).resolve().name,
        "split": split,
        "documents": len(documents),
        "chunks": len(index.chunks),
        "queries": len(qids),
        "judgments": sum(len(v) for v in qrels.values()),
        "depth": depth,
        "index_dir": str(settings.index_dir),
        "settings": {**index_fingerprint(settings),
                     **{f"retrieval.{k}": v for k, v in settings.retrieval.model_dump().items()
                        if k in ("rrf_k", "dense_weight", "keyword_weight")}},
        "build": {"seconds": round(build_seconds, 2), "reused": reused, "embedded": embedded},
        "query_encoding_seconds": round(encode_seconds, 3),
        "modes": results,
        "reference": reference_check(runs, qrels, results),
    }


def rank_to_depth(index: Index, query: str, mode: Mode, depth: int,
                  query_vector: np.ndarray | None) -> list[tuple[str, float]]:
    """The best `depth` documents, asking the retrievers for more chunks until there are enough.

    `rank_documents` takes a chunk depth; documents with several matching chunks make the document
    list shorter, so the chunk depth starts at `depth` times the mean chunks per document and
    doubles until `depth` documents are found or every chunk was considered.
    """
    total = len(index.chunks)
    per_doc = max(1, math.ceil(total / max(len(index.documents), 1)))
    chunk_depth = min(total, depth * per_doc)
    while True:
        ranked = rank_documents(index, query, mode, chunk_depth, query_vector)
        if len(ranked) >= depth or chunk_depth >= total:
            return ranked[:depth]
        chunk_depth = min(total, chunk_depth * 2)


def _reusable(settings: Settings, documents: list[Document]) -> bool:
    """True when the current index was built with these settings from exactly these documents."""
    try:
        manifest = read_manifest(current_build(settings))
        check_manifest(manifest, settings)
    except RagError:
        return False
    built = manifest.get("documents", {})
    return len(built) == len(documents) and all(
        built.get(d.doc_id, {}).get("sha256") == d.content_hash for d in documents)


# --------------------------------------------------------------------------- reference check


def reference_metrics(run: Run, qrels: Qrels) -> dict[str, float] | None:
    """nDCG@10, Recall@100 and MRR@10 of `run` computed by pytrec_eval (None if not installed).

    pytrec_eval has no cut-off for the reciprocal rank, but MRR@10 of a query is its reciprocal
    rank when that is >= 1/10 and 0 otherwise. Judged queries missing from the run count as 0,
    as in `rag.eval.metrics`.
    """
    try:
        import pytrec_eval
    except ImportError:
        return None
    judged = {q: dict(v) for q, v in qrels.items() if v}
    evaluator = pytrec_eval.RelevanceEvaluator(judged, {"ndcg_cut.10", "recall.100", "recip_rank"})
    scores = evaluator.evaluate({q: {d: float(s) for d, s in run.get(q, {}).items()} for q in judged})
    total = {"ndcg@10": 0.0, "recall@100": 0.0, "mrr@10": 0.0}
    for qid in judged:
        values = scores.get(qid)
        if not values:
            continue
        total["ndcg@10"] += values["ndcg_cut_10"]
        total["recall@100"] += values["recall_100"]
        total["mrr@10"] += values["recip_rank"] if values["recip_rank"] >= 0.1 else 0.0
    return {name: value / max(len(judged), 1) for name, value in total.items()}


def reference_check(runs: dict[str, dict[str, dict[str, float]]], qrels: Qrels,
                    results: dict[str, Any]) -> dict[str, Any]:
    """pytrec_eval's figures for each run and the largest absolute difference from ours."""
    figures: dict[str, dict[str, float]] = {}
    worst = 0.0
    for mode, run in runs.items():
        reference = reference_metrics(run, qrels)
        if reference is None:
            return {"library": None, "note": "pytrec_eval is not installed; no reference check"}
        ours = evaluate(run, qrels, METRICS)
        figures[mode] = {name: round(value, 5) for name, value in reference.items()}
        worst = max([worst, *(abs(ours[name] - reference[name]) for name in METRICS)])
    return {"library": "pytrec_eval", "max_abs_diff": worst, "metrics": figures}


# --------------------------------------------------------------------------- reporting


def format_beir_table(report: dict[str, Any]) -> str:
    """The report as a markdown table, one row per mode, with timings and the reference check."""
    lines = [
        (f"**{report['dataset']}** ({report['split']}): {report['documents']:,} documents, "
         f"{report['chunks']:,} chunks, {report['queries']:,} queries"),
        "",
        "| mode | nDCG@10 | R@100 | MRR@10 | query s | ms/query |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for mode, row in report["modes"].items():
        lines.append(f"| {mode} | {row['ndcg@10']:.4f} | {row['recall@100']:.4f} | {row['mrr@10']:.4f} "
                     f"| {row['query_seconds']:.1f} | {row['ms_per_query']:.1f} |")
    build = report["build"]
    lines += ["", (f"index: {'reused' if build['reused'] else 'built'} in {build['seconds']:.1f} s "
                   f"({build['embedded']:,} chunks embedded) at {report['index_dir']}")]
    reference = report.get("reference", {})
    if reference.get("library"):
        lines.append(f"reference check ({reference['library']}): max |difference| = "
                     f"{reference['max_abs_diff']:.2e}")
    else:
        lines.append(reference.get("note", "no reference check"))
    return "\n".join(lines)
