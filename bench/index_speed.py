"""Indexing speed against the raw encoder, re-indexing after a one-document change, seeds build.

Usage:
    python bench/index_speed.py                                   # SciFact, all 5,183 documents
    python bench/index_speed.py --beir ../shared/bench-data/scifact --limit 1000 --json out.json
    python bench/index_speed.py --precision bf16
    python bench/index_speed.py --precision int8 --sentences late --peer   # and txtai on the same documents

In one process, on the same texts:
1. raw encoder: the chunk texts (title-prefixed, exactly what indexing embeds) through the
   configured bulk encoder in one call, the backend's best case: chunks/s.
2. full build: `build_from_documents` (chunking, embedding, cache writes, BM25, near-duplicate
   groups, FAISS, files, atomic switch) into an empty folder: chunks/s and the ratio to (1).
3. re-index after changing one document (one sentence appended), cache kept: seconds and share
   of the full build.
4. the seeds: `rag index seeds/` in a fresh process with an empty cache: wall time and peak RSS.
5. with --peer: txtai with its defaults indexing the same documents, in a fresh process
   (bench/peer_txtai.py's txtai worker), and our build's speed as a multiple of txtai's.
Peak RSS of this process (the full build's) is reported too. `--sentences late|separate` builds
answer sentences as `rag index` does (default: none, as the BEIR harness and the peer run do).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

from rag import (
    Document,
    Encoder,
    build_from_documents,
    chunk_corpus,
    cores,
    cpu_flags,
    embedding_text,
    load_beir,
    load_encoder,
    load_settings,
)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def seeds_build() -> dict:
    folder = tempfile.mkdtemp(prefix="rag-seeds-")
    code = ("import json, resource, time; from pathlib import Path; t=time.perf_counter();"
            "from rag import load_settings, build_index;"
            f"r=build_index(load_settings(index_dir=Path({folder!r})), [Path('seeds')]);"
            "print(json.dumps({'chunks': r.chunks, 'sentences': r.sentences, 'build_s': round(r.seconds, 2),"
            "'process_s': round(time.perf_counter()-t, 2),"
            "'peak_rss_mb': round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss/1024)}))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def raw_encoder(embedder: Encoder, texts: list[str]) -> float:
    """Seconds for the bare bulk encoder over all texts in one call (it sorts them by length): no
    cache, chunking, stores or files, the limit of a build."""
    embedder.encode(texts[:64])  # warm-up
    started = time.perf_counter()
    embedder.encode(texts)
    return time.perf_counter() - started


def txtai_side(beir: str, limit: int | None) -> dict:
    """txtai's defaults on the same documents, in a fresh process (bench/peer_txtai.py's worker)."""
    out = Path(tempfile.mkdtemp(prefix="rag-peer-")) / "txtai.json"
    command = [sys.executable, str(ROOT / "bench" / "peer_txtai.py"), "--worker", "txtai", "--worker-out", str(out),
               "--data", beir] + (["--limit", str(limit)] if limit else [])
    subprocess.run(command, cwd=ROOT, check=True)
    report = json.loads(out.read_text())
    return {"version": report["version"], "index_seconds": report["index_seconds"],
            "documents": report["documents"], "docs_per_s": round(report["documents"] / report["index_seconds"], 2)}


def changed(doc: Document) -> Document:
    text = doc.text + "\n\nThis sentence was appended to measure re-indexing after one change."
    return doc.model_copy(update={"text": text, "content_hash": doc.content_hash[::-1]})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--beir", default=str(ROOT.parent / "shared" / "bench-data" / "scifact"))
    parser.add_argument("--limit", type=int, help="first N documents only")
    parser.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16", "int8"])
    parser.add_argument("--sentences", default="none", choices=["none", "separate", "late"])
    parser.add_argument("--peer", action="store_true", help="also time txtai's defaults on the same documents")
    parser.add_argument("--no-seeds", action="store_true")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    documents, _, _ = load_beir(args.beir)
    documents = documents[:args.limit] if args.limit else documents
    folder = Path(tempfile.mkdtemp(prefix="rag-index-speed-"))
    mode = "separate" if args.sentences == "none" else args.sentences
    settings = load_settings(index_dir=folder).with_overrides(**{"embedding.precision": args.precision,
                                                                 "embedding.sentence_vectors": mode})
    sentences = args.sentences != "none"
    embedder = load_encoder(settings.embedding)
    by_id = {d.doc_id: d for d in documents}
    texts = [embedding_text(c, by_id[c.doc_id], settings) for c in chunk_corpus(settings, documents, embedder)]
    print(f"{len(documents):,} documents -> {len(texts):,} chunks; precision {embedder.precision}; "
          f"{cores()} cores; AMX: {'amx_bf16' in cpu_flags()}", file=sys.stderr)

    raw_s = raw_encoder(embedder, texts)
    print(f"raw encoder: {len(texts) / raw_s:.1f} chunks/s", file=sys.stderr)
    full = build_from_documents(settings, documents, sentences=sentences)
    print(f"full build: {full.seconds:.1f} s {full.stage_seconds}", file=sys.stderr)
    documents[len(documents) // 2] = changed(documents[len(documents) // 2])
    again = build_from_documents(settings, documents, sentences=sentences)

    result = {
        "corpus": Path(args.beir).name, "documents": len(documents), "chunks": full.chunks,
        "precision": embedder.precision, "cores": cores(), "amx": "amx_bf16" in cpu_flags(),
        "sentences": args.sentences, "sentence_count": full.sentences, "load_average": os.getloadavg(),
        "raw_encoder_s": round(raw_s, 2), "raw_chunks_per_s": round(len(texts) / raw_s, 2),
        "build_s": round(full.seconds, 2), "build_chunks_per_s": round(full.chunks / full.seconds, 2),
        "build_vs_raw": round((full.chunks / full.seconds) / (len(texts) / raw_s), 3),
        "build_stages_s": full.stage_seconds, "peak_rss_mb": round(peak_rss_mb()),
        "reindex_one_change_s": round(again.seconds, 2), "reindex_embedded": again.embedded,
        "reindex_share": round(again.seconds / full.seconds, 4),
        "reindex_stages_s": again.stage_seconds,
    }
    if not args.no_seeds:
        result["seeds"] = seeds_build()
    if args.peer:
        result["txtai"] = txtai_side(args.beir, args.limit)
        result["speed_vs_txtai"] = round(result["txtai"]["index_seconds"] / result["build_s"], 3)
    print(f"\n| corpus | chunks | raw encoder chunks/s | build chunks/s | build / raw | build s "
          f"| re-index 1 change s | share | peak RSS MB |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n"
          f"| {result['corpus']} ({result['documents']:,} docs) | {result['chunks']:,} | "
          f"{result['raw_chunks_per_s']} | {result['build_chunks_per_s']} | {result['build_vs_raw']} | "
          f"{result['build_s']} | {result['reindex_one_change_s']} ({again.embedded} embedded) | "
          f"{result['reindex_share']:.1%} | {result['peak_rss_mb']} |")
    print(f"\nbuild stages (s): {full.stage_seconds}\nre-index stages (s): {again.stage_seconds}")
    if "seeds" in result:
        print(f"seeds build (fresh process, empty cache): {result['seeds']}")
    if "txtai" in result:
        t = result["txtai"]
        print(f"txtai {t['version']} defaults, same documents: {t['index_seconds']} s ({t['docs_per_s']} docs/s); "
              f"our build is {result['speed_vs_txtai']}x txtai's speed")
    print(f"load average at the end: {os.getloadavg()[0]:.2f} ({cores()} cores)")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
