"""Index build time and peak memory on the seeds, and embedding throughput on >= 2,000 chunks.

Usage: python bench/index_speed.py [--docs N] [--precision fp32|bf16]
Each measurement runs in a fresh process with an empty embedding cache, so nothing is reused.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def child(corpus: str, index_dir: str, precision: str) -> None:
    from rag.config import load_settings
    from rag.indexing import build_index

    settings = load_settings(index_dir=index_dir).with_overrides(**{"embedding.precision": precision})
    started = time.perf_counter()
    report = build_index(settings, [Path(corpus)])
    seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"documents": report.documents, "chunks": report.chunks, "sentences": report.sentences,
                      "embedded": report.embedded, "seconds": round(seconds, 2), "peak_rss_mb": round(peak_mb)}))


def synthetic_news(folder: Path, documents: int) -> None:
    """Realistic-length articles: seed paragraphs shuffled and numbered so every chunk is new text."""
    import random

    rng = random.Random(3)
    paragraphs = [p.strip() for f in sorted((ROOT / "seeds").glob("*.txt"))
                  for p in f.read_text().split("\n\n") if len(p.split()) > 12]
    folder.mkdir(parents=True, exist_ok=True)
    for d in range(documents):
        body = "\n\n".join(f"{p} (report {d}-{i})" for i, p in enumerate(rng.sample(paragraphs, 30)))
        (folder / f"article{d:04d}.txt").write_text(f"Synthetic article number {d}\n\n{body}\n")


def run(corpus: Path, precision: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        out = subprocess.run([sys.executable, __file__, "--child", str(corpus), tmp, precision],
                             capture_output=True, text=True, check=True, cwd=ROOT)
        result = json.loads(out.stdout.strip().splitlines()[-1])
        result["wall_with_startup_s"] = round(time.perf_counter() - started, 2)
        return result


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        return child(*sys.argv[2:5])
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--docs", type=int, default=160)
    parser.add_argument("--precision", default="fp32")
    args = parser.parse_args()
    seeds = run(ROOT / "seeds", args.precision)
    print(f"seeds: {seeds}")
    with tempfile.TemporaryDirectory() as tmp:
        synthetic_news(Path(tmp), args.docs)
        big = run(Path(tmp), args.precision)
    texts = big["chunks"] + big["sentences"]
    print(f"synthetic: {big}")
    print("\n| corpus | docs | chunks | sentences | build s | peak RSS MB | chunks/s | texts/s |")
    print("|---|---|---|---|---|---|---|---|")
    for name, r in (("seeds", seeds), (f"synthetic ({args.precision})", big)):
        print(f"| {name} | {r['documents']} | {r['chunks']} | {r['sentences']} | {r['seconds']} | "
              f"{r['peak_rss_mb']} | {r['chunks'] / r['seconds']:.1f} | {(r['chunks'] + r['sentences']) / r['seconds']:.1f} |")
    _ = texts


if __name__ == "__main__":
    main()
