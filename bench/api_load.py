"""Bounded load on the HTTP API at 127.0.0.1, beside the same calls made in-process.

    .venv/bin/python bench/api_load.py                       # starts a server over /tmp/rag-bench-index
    .venv/bin/python bench/api_load.py --url http://127.0.0.1:8000 --index-dir index/
    .venv/bin/python bench/api_load.py --requests 400 --concurrency 1,4,8 --json out.json

For /ask and /search, at each concurrency, N requests cycle through the questions of
eval/seeds.jsonl; the table gives p50/p99 latency and requests per second over HTTP, and beside
them the same call (`rag.ask`, `rag.search`) made directly in this process at
the same concurrency (threads), so the HTTP layer's overhead is the difference. Without --url a
uvicorn server is started on a free port (and stopped at the end); without an index at
--index-dir the seeds are indexed there first. The in-process column needs --index-dir to be the
index the server serves. HTTP and in-process runs take turns, never overlap.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from common import percentile, questions

from api.launch import launch_server

ROOT = Path(__file__).resolve().parent.parent

from rag import IndexMissing, build_index, current_build, load_settings, open_index

GOLD = ROOT / "eval" / "seeds.jsonl"
WARMUP = 10


def run(call: Callable[[int], None], n: int, concurrency: int) -> dict:
    """`n` calls of `call(i)` over `concurrency` threads: latencies (ms), errors and throughput."""
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()

    def one(i: int) -> None:
        started = time.perf_counter()
        try:
            call(i)
            ok = True
        except Exception as exc:  # noqa: BLE001 - counted and reported, never hidden
            ok = False
            with lock:
                errors.append(f"{type(exc).__name__}: {exc}"[:200])
        ms = (time.perf_counter() - started) * 1000
        if ok:
            with lock:
                latencies.append(ms)

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one, range(n)))
    wall = time.perf_counter() - started
    return {"n": n, "ok": len(latencies), "errors": len(errors), "first_error": errors[0] if errors else None,
            "p50_ms": percentile(latencies, 50), "p99_ms": percentile(latencies, 99),
            "mean_ms": statistics.fmean(latencies) if latencies else float("nan"),
            "per_s": len(latencies) / wall if wall else float("nan")}


class HttpCaller:
    """One httpx client per worker thread (keep-alive), raising on any non-200 answer."""

    def __init__(self, url: str, key: str | None) -> None:
        self.url = url.rstrip("/")
        self.headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.local = threading.local()
        self.clients: list[httpx.Client] = []

    def client(self) -> httpx.Client:
        if not hasattr(self.local, "client"):
            self.local.client = httpx.Client(base_url=self.url, timeout=60, headers=self.headers)
            self.clients.append(self.local.client)
        return self.local.client

    def post(self, path: str, body: dict) -> None:
        response = self.client().post(path, json=body)
        if response.status_code != 200:
            raise RuntimeError(f"{path} answered {response.status_code}: {response.text[:120]}")

    def close(self) -> None:
        for client in self.clients:
            client.close()


def start_server(index_dir: Path) -> tuple[subprocess.Popen, str]:
    try:
        server = launch_server(index_dir, Path(tempfile.mkdtemp(prefix="api-load-")), access_log=False,
                               keep_rag_env=True)
    except RuntimeError as exc:
        raise SystemExit(str(exc)) from None
    return server.process, server.url


def ensure_index(index_dir: Path) -> None:
    settings = load_settings(index_dir=index_dir)
    try:
        current_build(settings)
    except IndexMissing:
        print(f"indexing seeds/ into {index_dir} ...", file=sys.stderr)
        build_index(settings, [ROOT / "seeds"])


def fmt(value: float, digits: int = 1) -> str:
    return "-" if math.isnan(value) else f"{value:.{digits}f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="an already running server (default: start one)")
    parser.add_argument("--index-dir", type=Path, default=Path("/tmp/rag-bench-index"),
                        help="index for the started server and the in-process calls")
    parser.add_argument("--requests", type=int, default=200, help="requests per route and concurrency")
    parser.add_argument("--concurrency", default="1,4,16", help="comma-separated levels")
    parser.add_argument("--key", default=os.environ.get("RAG_API_KEY"), help="API key, if the server has one")
    parser.add_argument("--no-inprocess", action="store_true", help="skip the in-process column")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    if args.requests < 1 or args.requests > 100_000:
        raise SystemExit("--requests must be 1..100000 (the load is bounded)")
    levels = [int(c) for c in args.concurrency.split(",")]
    if any(not 1 <= c <= 64 for c in levels):
        raise SystemExit("--concurrency levels must be 1..64")

    asked = questions()
    process = None
    if not args.url or not args.no_inprocess:
        ensure_index(args.index_dir)
    if args.url:
        url = args.url
    else:
        process, url = start_server(args.index_dir)
    index = None if args.no_inprocess else open_index(load_settings(index_dir=args.index_dir))
    health = httpx.get(f"{url}/health", timeout=10).json()

    from rag import ask, search

    routes = {
        "/ask": (lambda http, i: http.post("/ask", {"question": asked[i % len(asked)]}),
                 lambda i: ask(index, asked[i % len(asked)])),
        "/search": (lambda http, i: http.post("/search", {"query": asked[i % len(asked)]}),
                    lambda i: search(index, asked[i % len(asked)])),
    }
    results = []
    try:
        for route, (over_http, direct) in routes.items():
            for level in levels:
                http = HttpCaller(url, args.key)
                run(lambda i, h=http, f=over_http: f(h, i), WARMUP, level)
                served = run(lambda i, h=http, f=over_http: f(h, i), args.requests, level)
                http.close()
                local = None
                if index is not None:
                    run(direct, WARMUP, level)
                    local = run(direct, args.requests, level)
                results.append({"route": route, "concurrency": level, "http": served, "inprocess": local})
                print(f"{route} c={level}: http p50 {fmt(served['p50_ms'])} ms, "
                      f"{fmt(served['per_s'])} req/s", file=sys.stderr)
    finally:
        if process is not None:
            process.terminate()
            process.wait(30)

    cpus = os.cpu_count()
    print(f"\nAPI load: {args.requests} requests per row, questions from {GOLD.name} "
          f"({len(asked)}), {health.get('documents')} documents / {health.get('chunks')} chunks, "
          f"{cpus} CPUs, one uvicorn worker at {url}\n")
    print("| route | concurrency | HTTP p50 ms | HTTP p99 ms | HTTP req/s | in-process p50 ms "
          "| in-process p99 ms | in-process calls/s | errors |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for row in results:
        h, d = row["http"], row["inprocess"] or {}
        nan = float("nan")
        print(f"| {row['route']} | {row['concurrency']} | {fmt(h['p50_ms'])} | {fmt(h['p99_ms'])} | "
              f"{fmt(h['per_s'])} | {fmt(d.get('p50_ms', nan))} | {fmt(d.get('p99_ms', nan))} | "
              f"{fmt(d.get('per_s', nan))} | {h['errors'] + d.get('errors', 0)} |")
    failures = [r["http"]["first_error"] for r in results if r["http"]["errors"]]
    if failures:
        print(f"\nfirst error: {failures[0]}", file=sys.stderr)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"url": url, "requests": args.requests, "cpus": cpus,
                                         "results": results}, indent=2))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
