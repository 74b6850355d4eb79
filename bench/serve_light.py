"""`rag serve` start-up and steady state on the seeds: time to first answer, memory, torch, /ask p50.

    .venv/bin/python bench/serve_light.py                      # indexes seeds/ into a temp folder first
    .venv/bin/python bench/serve_light.py --index-dir index/ --starts 5 --requests 200 --json out.json

Each start runs the real command (`python -m rag.cli serve --port P`) in a fresh process and
polls POST /ask until it answers: "first answer" is the wall time from spawning the process to
that answer (interpreter start, imports, index load, question encoder, the answer itself). Then
/ask is asked `--requests` times at concurrency 1, cycling through the questions of
eval/seeds.jsonl; the table gives p50/p99. Resident memory is read (psutil) after those requests,
and whether PyTorch was imported from /health and from the libraries mapped into the process.
The load average at the start and end is printed with the figures: they mean little on a busy machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil
from common import percentile, questions

from api.launch import free_port

ROOT = Path(__file__).resolve().parent.parent

from rag import IndexMissing, build_index, current_build, load_settings


def ensure_index(index_dir: Path) -> None:
    settings = load_settings(index_dir=index_dir)
    try:
        current_build(settings)
    except IndexMissing:
        build_index(settings, [ROOT / "seeds"])


def one_start(index_dir: Path, requests: int, asked: list[str]) -> dict:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")} | {"RAG_INDEX_DIR": str(index_dir)}
    url = f"http://127.0.0.1:{port}"
    began = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "rag.cli", "serve", "--port", str(port)], cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        first = None
        with httpx.Client(timeout=30) as http:
            while first is None and time.perf_counter() - began < 120:
                try:
                    if http.post(f"{url}/ask", json={"question": asked[0]}).status_code == 200:
                        first = time.perf_counter() - began
                except httpx.HTTPError:
                    time.sleep(0.02)
            latencies = []
            for i in range(requests):
                t = time.perf_counter()
                http.post(f"{url}/ask", json={"question": asked[i % len(asked)]}).raise_for_status()
                latencies.append((time.perf_counter() - t) * 1000)
            health = http.get(f"{url}/health").json()
        maps = Path(f"/proc/{process.pid}/maps").read_text()
        return {"first_answer_s": round(first, 3) if first else None,
                "rss_mb": round(psutil.Process(process.pid).memory_info().rss / 2**20, 1),
                "torch_loaded": health.get("torch_loaded"), "query_encoder": health.get("query_encoder"),
                "libtorch_mapped": "libtorch" in maps,
                "ask_p50_ms": round(percentile(latencies, 50), 2), "ask_p99_ms": round(percentile(latencies, 99), 2)}
    finally:
        process.terminate()
        process.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index-dir", type=Path)
    parser.add_argument("--starts", type=int, default=3)
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    index_dir = args.index_dir or Path(tempfile.mkdtemp(prefix="rag-serve-light-")) / "index"
    ensure_index(index_dir)
    load_before = os.getloadavg()
    runs = [one_start(index_dir, args.requests, questions()) for _ in range(args.starts)]
    result = {"runs": runs, "load_before": load_before, "load_after": os.getloadavg(), "cpus": os.cpu_count(),
              "first_answer_s_median": sorted(r["first_answer_s"] for r in runs)[len(runs) // 2],
              "ask_p50_ms_median": sorted(r["ask_p50_ms"] for r in runs)[len(runs) // 2]}
    print("| start | first answer s | RSS MB | torch loaded | libtorch mapped | question encoder | /ask p50 ms | p99 ms |")
    print("|---:|---:|---:|---|---|---|---:|---:|")
    for n, r in enumerate(runs, 1):
        print(f"| {n} | {r['first_answer_s']} | {r['rss_mb']} | {r['torch_loaded']} | {r['libtorch_mapped']} "
              f"| {r['query_encoder']} | {r['ask_p50_ms']} | {r['ask_p99_ms']} |")
    print(f"load average before {load_before[0]:.2f}, after {result['load_after'][0]:.2f} ({os.cpu_count()} CPUs)")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
