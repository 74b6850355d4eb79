"""`rag serve` answers with the ONNX question encoder and never imports PyTorch.

The real command in a subprocess over the seeds index (whose build left the ONNX export in the
cache): torch is not loaded (by /health and by the shared libraries mapped into the process),
resident memory stays at most 400 MB, and the first answer comes within 3 s of the start (on an
idle machine; the limit is scaled by the load average per core when the machine is busy).
Without an export in the cache the server falls back to PyTorch and still answers.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from api.launch import free_port
from rag import Settings

pytestmark = pytest.mark.slow  # real model, index and server

ROOT = Path(__file__).resolve().parents[2]
QUESTION = {"question": "Which generals are negotiating the peace?"}
MAX_RSS_MB = 400
FIRST_ANSWER_S = 3.0


def serve(index_dir: Path, log: Path, env: dict[str, str] | None = None) -> tuple[subprocess.Popen, str, float]:
    """Start `rag serve`; return the process, its URL and the seconds until the first answer."""
    port = free_port()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    environment.update({"RAG_INDEX_DIR": str(index_dir), **(env or {})})
    started = time.perf_counter()
    with open(log, "wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "rag.cli", "serve", "--port", str(port)],
                                   cwd=ROOT, env=environment, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    while time.perf_counter() - started < 120 and process.poll() is None:
        try:
            if httpx.post(f"{url}/ask", json=QUESTION, timeout=30).status_code == 200:
                return process, url, time.perf_counter() - started
        except httpx.HTTPError:
            pass
        time.sleep(0.02)
    process.kill()
    raise AssertionError(f"rag serve never answered; its log:\n{log.read_text()[-3000:]}")


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        process.kill()


def mapped_libraries(pid: int) -> set[str]:
    return {Path(line.split()[-1]).name for line in Path(f"/proc/{pid}/maps").read_text().splitlines()
            if line.split()[-1].startswith("/")}


def test_rag_serve_answers_without_torch_within_memory_and_time(seeds_index: Settings, tmp_path):
    process, url, first = serve(seeds_index.index_dir, tmp_path / "serve.log")
    try:
        health = httpx.get(f"{url}/health", timeout=10).json()
        assert health["query_encoder"] == "onnx" and health["torch_loaded"] is False
        libraries = mapped_libraries(process.pid)
        assert any(name.startswith("libonnxruntime") for name in libraries)
        assert not any("torch" in name for name in libraries), sorted(n for n in libraries if "torch" in n)
        # bm25s would pull in numba (60 MB) whenever it is installed, as it is with the dev extra
        assert not any("llvmlite" in name for name in libraries), "numba was imported"
        for _ in range(20):  # memory after answering, not just after start
            assert httpx.post(f"{url}/ask", json=QUESTION, timeout=30).status_code == 200
        rss_mb = psutil.Process(process.pid).memory_info().rss / 2**20
        assert rss_mb <= MAX_RSS_MB, f"{rss_mb:.0f} MB resident"
    finally:
        stop(process)
    busy = max(1.0, os.getloadavg()[0] / (os.cpu_count() or 1))
    assert first <= FIRST_ANSWER_S * busy, f"first answer after {first:.2f} s (load factor {busy:.1f})"


def test_without_an_export_in_the_cache_rag_serve_uses_pytorch(seeds_index: Settings, tmp_path):
    process, url, _ = serve(seeds_index.index_dir, tmp_path / "serve.log",
                            {"XDG_CACHE_HOME": str(tmp_path / "empty-cache")})
    try:
        health = httpx.get(f"{url}/health", timeout=10).json()
        assert health["query_encoder"] == "torch" and health["torch_loaded"] is True
        answer = httpx.post(f"{url}/ask", json=QUESTION, timeout=30).json()
        assert answer["citations"] and not answer["abstained"]
    finally:
        stop(process)
