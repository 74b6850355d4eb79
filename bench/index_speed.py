"""Index build time and peak memory on the seeds; chunk embedding throughput on >= 2,000 chunks.

Usage: python bench/index_speed.py [--docs 100] [--precision fp32 bf16]

1. `rag index seeds/` in a fresh process with an empty cache: wall time and peak RSS.
2. A synthetic news corpus (seed paragraphs shuffled and numbered so every chunk is new text) is
   cleaned and chunked by the real pipeline; its chunks are embedded (no cache) and timed.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def seeds_build() -> dict:
    code = ("import json, resource, time; from pathlib import Path; t=time.perf_counter();"
            "from rag.config import load_settings; from rag.indexing import build_index;"
            f"r=build_index(load_settings(index_dir=Path({tmp!r})), [Path('seeds')]);"
            "print(json.dumps({'chunks': r.chunks, 'sentences': r.sentences, 'build_s': round(r.seconds, 2),"
            "'process_s': round(time.perf_counter()-t, 2),"
            "'peak_rss_mb': round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss/1024)}))") \
        if (tmp := tempfile.mkdtemp()) else ""
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def synthetic_chunks(documents: int) -> list[str]:
    from rag.config import load_settings
    from rag.embedding import Embedder
    from rag.indexing import chunk_corpus, embedding_text
    from rag.types import Document

    rng = random.Random(3)
    paragraphs = [p.strip() for f in sorted((ROOT / "seeds").glob("*.txt"))
                  for p in f.read_text().split("\n\n") if len(p.split()) > 12]
    docs = []
    for d in range(documents):
        body = "\n\n".join(f"{p} (report {d}-{i})" for i, p in enumerate(rng.sample(paragraphs, 30)))
        docs.append(Document(doc_id=f"a{d}", source=f"a{d}.txt", text=f"Synthetic article {d}\n\n{body}\n",
                             title=f"Synthetic article {d}"))
    settings = load_settings()
    chunks = chunk_corpus(settings, docs, Embedder(settings.embedding))
    by_id = {d.doc_id: d for d in docs}
    return [embedding_text(c, by_id[c.doc_id], settings) for c in chunks]


def throughput(texts: list[str], precision: str) -> float:
    from rag.config import EmbeddingSettings
    from rag.embedding import Embedder

    embedder = Embedder(EmbeddingSettings(precision=precision))
    embedder.encode(texts[:64])  # warm-up
    started = time.perf_counter()
    embedder.encode(texts)
    return len(texts) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--docs", type=int, default=100)
    parser.add_argument("--precision", nargs="+", default=["fp32", "bf16"])
    args = parser.parse_args()
    seeds = seeds_build()
    print(f"seeds build (fresh process, empty cache): {seeds}")
    texts = synthetic_chunks(args.docs)
    print(f"\nsynthetic corpus: {args.docs} documents, {len(texts)} chunks")
    print("| precision | chunks | chunks/s |\n|---|---|---|")
    for precision in args.precision:
        print(f"| {precision} | {len(texts)} | {throughput(texts, precision):.1f} |")
    _ = resource


if __name__ == "__main__":
    main()
