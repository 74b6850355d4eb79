"""Sustained load on POST /ask at 127.0.0.1: latency, errors and the server's memory over time.

    .venv/bin/python bench/load_test.py                          # 60 s at concurrency 16
    .venv/bin/python bench/load_test.py --seconds 10 --concurrency 4 --json out.json
    .venv/bin/python bench/load_test.py --url http://127.0.0.1:8000 --pid 12345

`--concurrency` client threads (one keep-alive connection each) send POST /ask with the gold
questions of eval/seeds.jsonl in turn, back to back, for `--seconds`; the load is bounded in time
and in concurrency and only ever targets a loopback address. Any non-200 answer or transport error
counts as an error. Meanwhile the server process's resident memory (psutil, RSS) is sampled every
second; memory growth is measured from `--baseline-s` seconds in (10 s: after warm-up, every worker
thread and allocation arena in use) to the end, and should stay under 5%.

Without --url a uvicorn server is started on a free port over --index-dir (the seeds are indexed
there first if it holds no index) and stopped at the end. With --url, give --pid for memory figures
(otherwise the process listening on the URL's port is looked up with psutil).
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import math
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import psutil
from common import percentile, questions

from api.launch import launch_server

ROOT = Path(__file__).resolve().parent.parent
MAX_SECONDS = 3600
MAX_CONCURRENCY = 64


@dataclass
class Samples:
    """What the client threads and the memory sampler record (appends under one lock)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    error_examples: list[str] = field(default_factory=list)
    rss: list[tuple[float, int]] = field(default_factory=list)  # (seconds since start, bytes)

    def ok(self, ms: float) -> None:
        with self.lock:
            self.latencies_ms.append(ms)

    def error(self, what: str) -> None:
        with self.lock:
            self.errors += 1
            if len(self.error_examples) < 10:
                self.error_examples.append(what[:300])


def rss_at(rss: list[tuple[float, int]], second: float) -> int | None:
    """The first sample taken at or after `second` (the last one if none is)."""
    for t, value in rss:
        if t >= second:
            return value
    return rss[-1][1] if rss else None


def run_load(url: str, seconds: float, concurrency: int, pid: int | None = None, key: str | None = None,
             baseline_s: float = 10.0, body: dict | None = None) -> dict:
    """POST /ask from `concurrency` threads for `seconds`; latencies, errors, req/s and the RSS of `pid`."""
    check_loopback(url)
    if not 0 < seconds <= MAX_SECONDS or not 1 <= concurrency <= MAX_CONCURRENCY:
        raise ValueError(f"bounded load only: 0 < seconds <= {MAX_SECONDS}, 1 <= concurrency <= {MAX_CONCURRENCY}")
    asked = questions()
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    samples = Samples()
    started = time.perf_counter()
    deadline = started + seconds
    stop = threading.Event()

    def client(worker: int) -> None:
        i = worker
        with httpx.Client(base_url=url, timeout=60, headers=headers) as http:
            while time.perf_counter() < deadline:
                payload = body or {"question": asked[i % len(asked)]}
                i += concurrency
                sent = time.perf_counter()
                try:
                    response = http.post("/ask", json=payload)
                except httpx.HTTPError as exc:
                    samples.error(f"{type(exc).__name__}: {exc}")
                    continue
                ms = (time.perf_counter() - sent) * 1000
                if response.status_code == 200:
                    samples.ok(ms)
                else:
                    samples.error(f"HTTP {response.status_code}: {response.text[:200]}")

    def sampler(process: psutil.Process) -> None:
        while not stop.is_set():
            try:
                value = process.memory_info().rss
            except psutil.Error:
                return
            with samples.lock:
                samples.rss.append((time.perf_counter() - started, value))
            stop.wait(1.0)

    process = psutil.Process(pid) if pid else None
    watcher = threading.Thread(target=sampler, args=(process,), daemon=True) if process else None
    if watcher:
        watcher.start()
    workers = [threading.Thread(target=client, args=(w,), daemon=True) for w in range(concurrency)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(seconds + 120)
    wall = time.perf_counter() - started
    if process:  # one last sample at the very end
        with samples.lock:
            samples.rss.append((wall, process.memory_info().rss))
    stop.set()
    if watcher:
        watcher.join(5)

    latencies = samples.latencies_ms
    total = len(latencies) + samples.errors
    baseline = rss_at(samples.rss, baseline_s)
    end = samples.rss[-1][1] if samples.rss else None
    growth = (end - baseline) / baseline * 100 if baseline and end else float("nan")
    return {
        "url": url, "seconds": round(wall, 2), "concurrency": concurrency, "requests": total,
        "ok": len(latencies), "errors": samples.errors, "error_examples": samples.error_examples,
        "req_per_s": round(len(latencies) / wall, 2) if wall else float("nan"),
        "p50_ms": round(percentile(latencies, 50), 1), "p95_ms": round(percentile(latencies, 95), 1),
        "p99_ms": round(percentile(latencies, 99), 1),
        "max_ms": round(max(latencies), 1) if latencies else float("nan"),
        "rss_baseline_s": baseline_s,
        "rss_start_mb": mb(samples.rss[0][1]) if samples.rss else None,
        "rss_baseline_mb": mb(baseline), "rss_end_mb": mb(end),
        "rss_max_mb": mb(max(v for _, v in samples.rss)) if samples.rss else None,
        "rss_growth_pct": round(growth, 2),
        "rss_samples_mb": [(round(t, 1), mb(v)) for t, v in samples.rss],
    }


def mb(value: int | None) -> float | None:
    return None if value is None else round(value / 2**20, 1)


def check_loopback(url: str) -> None:
    """Refuse anything but this machine: the load test only ever targets loopback addresses."""
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return
    try:
        if ipaddress.ip_address(host).is_loopback:
            return
    except ValueError:
        pass
    raise SystemExit(f"refusing to load {url}: only loopback addresses (127.0.0.0/8, ::1, localhost)")


def start_server(index_dir: Path, log_path: Path, env: dict[str, str] | None = None
                 ) -> tuple[subprocess.Popen, str]:
    """A uvicorn server over `index_dir` on a free loopback port, once /health says it is loaded."""
    try:
        server = launch_server(index_dir, log_path.parent, env, access_log=False, keep_rag_env=True)
    except RuntimeError as exc:
        raise SystemExit(str(exc)) from None
    return server.process, server.url


def stop_server(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


def ensure_index(index_dir: Path) -> None:
    from rag import IndexMissing, build_index, current_build, load_settings

    settings = load_settings(index_dir=index_dir)
    try:
        current_build(settings)
    except IndexMissing:
        print(f"indexing seeds/ into {index_dir} ...", file=sys.stderr)
        build_index(settings, [ROOT / "seeds"])


def pid_listening_on(url: str) -> int | None:
    port = urlsplit(url).port or 80
    try:
        for conn in psutil.net_connections(kind="inet"):
            if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port and conn.pid:
                return conn.pid
    except psutil.Error:
        pass
    return None


def fmt(value: float | None, unit: str = "") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:g}{unit}"


def table(result: dict) -> str:
    rows = [
        ("duration", fmt(result["seconds"], " s")), ("concurrency", fmt(result["concurrency"])),
        ("requests", fmt(result["requests"])), ("errors", fmt(result["errors"])),
        ("throughput", fmt(result["req_per_s"], " req/s")),
        ("latency p50", fmt(result["p50_ms"], " ms")), ("latency p95", fmt(result["p95_ms"], " ms")),
        ("latency p99", fmt(result["p99_ms"], " ms")), ("latency max", fmt(result["max_ms"], " ms")),
        ("server RSS at start", fmt(result["rss_start_mb"], " MiB")),
        (f"server RSS at {result['rss_baseline_s']:g} s", fmt(result["rss_baseline_mb"], " MiB")),
        ("server RSS at end", fmt(result["rss_end_mb"], " MiB")),
        ("server RSS max", fmt(result["rss_max_mb"], " MiB")),
        (f"RSS growth {result['rss_baseline_s']:g} s -> end", fmt(result["rss_growth_pct"], " %")),
    ]
    lines = ["| POST /ask | value |", "| --- | ---: |"] + [f"| {k} | {v} |" for k, v in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="an already running server on this machine (default: start one)")
    parser.add_argument("--pid", type=int, help="its process id, for memory figures")
    parser.add_argument("--index-dir", type=Path, default=Path("/tmp/rag-bench-index"),
                        help="index for the started server (seeds/ are indexed there if empty)")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--baseline-s", type=float, default=10.0,
                        help="memory growth is measured from this second to the end")
    parser.add_argument("--key", default=os.environ.get("RAG_API_KEY"), help="API key, if the server has one")
    parser.add_argument("--max-growth-pct", type=float, default=5.0,
                        help="exit 1 if RSS grows more than this, or on any error")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()

    process = None
    if args.url:
        check_loopback(args.url)
        url, pid = args.url.rstrip("/"), args.pid or pid_listening_on(args.url)
    else:
        ensure_index(args.index_dir)
        log_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"rag-load-test-{os.getpid()}.log"
        process, url = start_server(args.index_dir, log_path)
        pid = process.pid
    try:
        health = httpx.get(f"{url}/health", timeout=10).json()
        result = run_load(url, args.seconds, args.concurrency, pid=pid, key=args.key,
                          baseline_s=args.baseline_s)
    finally:
        if process is not None:
            stop_server(process)
    result["index"] = {k: health.get(k) for k in ("build_id", "documents", "chunks", "model")}
    result["cpus"] = os.cpu_count()
    print(f"POST /ask for {args.seconds:g} s at concurrency {args.concurrency} against {url} "
          f"(index {health.get('build_id')}: {health.get('documents')} documents, "
          f"{health.get('chunks')} chunks; {os.cpu_count()} CPUs)\n")
    print(table(result))
    if result["error_examples"]:
        print("\nfirst errors:\n  " + "\n  ".join(result["error_examples"]))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))
    growth = result["rss_growth_pct"]
    if result["errors"] or (not math.isnan(growth) and growth > args.max_growth_pct):
        sys.exit(1)


if __name__ == "__main__":
    main()
