"""`/v1/chat/completions` against `/ask` over HTTP at concurrency 1 and 16, and the time from
uploading one article to answering a question about it.

    .venv/bin/python bench/openai_latency.py --json bench/results/openai_latency.json

A uvicorn server is started over a copy of the seeds index (built into a temporary folder first
when --index-dir has none) with an upload folder; each route gets N requests cycling through the
questions of eval/seeds.jsonl, routes taking turns, never overlapping. Then one article
(tests/data/varnhold.txt) is uploaded and the same question asked until it is answered.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from common import percentile, questions

from api.launch import launch_server
from rag import IndexMissing, build_index, current_build, load_settings

ROOT = Path(__file__).resolve().parent.parent
ARTICLE = ROOT / "tests" / "data" / "varnhold.txt"
QUESTION = "How much did the reconstruction of the Varnhold harbor cost?"


def body(route: str, question: str) -> dict:
    if route == "/ask":
        return {"question": question}
    return {"model": "rag", "messages": [{"role": "user", "content": question}]}


def measure(url: str, route: str, asked: list[str], n: int, concurrency: int) -> dict:
    """`n` POSTs to `route` over `concurrency` threads: p50/p99 ms, errors, requests per second."""
    latencies: list[float] = []
    errors = 0
    with httpx.Client(base_url=url, timeout=120, limits=httpx.Limits(max_connections=concurrency)) as http:
        def one(i: int) -> None:
            nonlocal errors
            started = time.perf_counter()
            if http.post(route, json=body(route, asked[i % len(asked)])).status_code != 200:
                errors += 1
            latencies.append((time.perf_counter() - started) * 1000)

        for i in range(10):
            one(i)  # warm-up, not counted
        latencies.clear()
        started = time.perf_counter()
        with ThreadPoolExecutor(concurrency) as pool:
            list(pool.map(one, range(n)))
        seconds = time.perf_counter() - started
    return {"route": route, "concurrency": concurrency, "requests": n, "errors": errors,
            "p50_ms": round(statistics.median(latencies), 2), "p99_ms": round(percentile(latencies, 99), 2),
            "rps": round(n / seconds, 1)}


def upload_to_answerable(url: str) -> dict:
    """Seconds from starting the upload to its reply (index live), and to the first cited answer."""
    started = time.perf_counter()
    reply = httpx.post(f"{url}/documents", files=[("files", (ARTICLE.name, ARTICLE.read_bytes()))], timeout=300)
    reply.raise_for_status()
    live = time.perf_counter() - started
    while True:
        answer = httpx.post(f"{url}/ask", json={"question": QUESTION}, timeout=60).json()
        if not answer["abstained"] and answer["citations"][0]["doc_id"] == "varnhold":
            break
    return {"upload_to_live_s": round(live, 3), "upload_to_answered_s": round(time.perf_counter() - started, 3),
            "build": reply.json()["build"]}


def seeds_index(index_dir: Path) -> Path:
    settings = load_settings(index_dir=index_dir)
    try:
        current_build(settings)
    except IndexMissing:
        build_index(settings, [ROOT / "seeds"])
    return index_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index-dir", type=Path, default=Path(tempfile.gettempdir()) / "rag-bench-index")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="rag-openai-bench-"))
    shutil.copytree(seeds_index(args.index_dir), work / "index", symlinks=True)
    server = launch_server(work / "index", work / "logs", access_log=False, env={
        "RAG_CORPUS__PATHS": json.dumps([str(ROOT / "seeds")]), "RAG_CORPUS__UPLOAD_DIR": str(work / "uploads")})
    try:
        asked = questions()
        rows = [measure(server.url, route, asked, args.requests, c)
                for c in (1, 16) for route in ("/ask", "/v1/chat/completions")]
        upload = upload_to_answerable(server.url)
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
    print(f"{'route':<24}{'conc':>5}{'p50 ms':>9}{'p99 ms':>9}{'req/s':>8}{'errors':>8}")
    for r in rows:
        print(f"{r['route']:<24}{r['concurrency']:>5}{r['p50_ms']:>9}{r['p99_ms']:>9}{r['rps']:>8}{r['errors']:>8}")
    print(f"upload to live {upload['upload_to_live_s']} s, to answered {upload['upload_to_answered_s']} s "
          f"(embedded {upload['build']['embedded']}, reused {upload['build']['reused']})")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "upload": upload, "cpus": os.cpu_count()},
                                        indent=2))


if __name__ == "__main__":
    sys.exit(main())
