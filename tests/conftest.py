"""Shared fixtures: a real index of seeds/ built once per session, and real uvicorn servers.

`seeds_index` builds with the real model, FAISS and BM25 into a temporary folder. `start_server`
launches `python -m uvicorn api.app:create_app --factory` in a subprocess on a free port with the
given `RAG_*` environment, waits until /health reports the index loaded, and stops every server it
started at the end of the session. `server` is one such server over `seeds_index`.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from rag.config import Settings, load_settings
from rag.indexing import Index, build_index, open_index

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
ARTIFACTS = ROOT / "test-artifacts"


@pytest.fixture(scope="session")
def seeds_index(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings whose `index_dir` holds a freshly built index of seeds/ (built once per session)."""
    settings = load_settings(index_dir=tmp_path_factory.mktemp("seeds") / "index")
    build_index(settings, [SEEDS])
    return settings


@pytest.fixture(scope="session")
def seeds_loaded(seeds_index: Settings) -> Index:
    """The seeds index opened in this process (for comparing the API with the library)."""
    return open_index(seeds_index)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    """A uvicorn subprocess serving the API; its stdout and stderr go to `log_path`."""

    url: str
    process: subprocess.Popen
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout: float = 20) -> int:
        """SIGTERM (uvicorn's graceful shutdown), then SIGKILL if it does not exit in time."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        return self.process.returncode


def launch_server(index_dir: Path, log_dir: Path, env: dict[str, str] | None = None,
                  wait_for_index: bool = True, timeout: float = 120) -> Server:
    """Start a real uvicorn server on a free port and wait until /health answers."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    environment = {**base, "RAG_INDEX_DIR": str(index_dir), "PYTHONUNBUFFERED": "1", **(env or {})}
    for attempt in range(3):
        port = free_port()
        log_path = log_dir / f"server-{port}.log"
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory",
                 "--host", "127.0.0.1", "--port", str(port), "--timeout-graceful-shutdown", "10"],
                cwd=ROOT, env=environment, stdout=log, stderr=subprocess.STDOUT)
        server = Server(f"http://127.0.0.1:{port}", process, log_path, env or {})
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                break
            try:
                health = httpx.get(f"{server.url}/health", timeout=5).json()
                if health.get("index_loaded") or not wait_for_index:
                    return server
            except (httpx.HTTPError, ValueError):
                pass
            time.sleep(0.2)
        server.stop()
        if "address already in use" in server.log() and attempt < 2:
            continue  # lost the race for the free port; try another
        raise RuntimeError(f"server did not become healthy; its log:\n{server.log()[-4000:]}")
    raise AssertionError("unreachable")


@pytest.fixture(scope="session")
def start_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Server]]:
    """A factory: `start_server(index_dir, env={...}, wait_for_index=True) -> Server`."""
    started: list[Server] = []
    log_dir = tmp_path_factory.mktemp("server-logs")

    def start(index_dir: Path, env: dict[str, str] | None = None, wait_for_index: bool = True) -> Server:
        server = launch_server(Path(index_dir), log_dir, env, wait_for_index)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def server(seeds_index: Settings, start_server: Callable[..., Server]) -> Server:
    """A real server over the seeds index with default settings and no API key."""
    return start_server(seeds_index.index_dir)


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """test-artifacts/ (git-ignored) for screenshots and reports."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
