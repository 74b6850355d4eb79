"""Start the API as a real uvicorn subprocess on a free loopback port, and stop it.

Tests and benchmarks talk to a real server, so this is the one place that knows how: the same
command `rag serve` runs, the `RAG_*` environment given, and a wait until /health answers (by
default until it reports the index loaded).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


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
                  wait_for_index: bool = True, timeout: float = 120, access_log: bool = True,
                  keep_rag_env: bool = False) -> Server:
    """Start a real uvicorn server over `index_dir` and wait until /health answers.

    The caller's `RAG_*` variables are dropped unless `keep_rag_env`, so a test sees only the
    settings it passes in `env`. Raises RuntimeError with the server's log when it never gets healthy.
    """
    base = {k: v for k, v in os.environ.items() if keep_rag_env or not k.startswith("RAG_")}
    environment = {**base, "RAG_INDEX_DIR": str(index_dir), "PYTHONUNBUFFERED": "1", **(env or {})}
    log_dir.mkdir(parents=True, exist_ok=True)
    for attempt in range(3):
        port = free_port()
        log_path = log_dir / f"server-{port}.log"
        command = [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory", "--host", "127.0.0.1",
                   "--port", str(port), "--timeout-graceful-shutdown", "10"]
        with open(log_path, "wb") as log:
            process = subprocess.Popen(command + ([] if access_log else ["--no-access-log"]),
                                       cwd=ROOT, env=environment, stdout=log, stderr=subprocess.STDOUT)
        server = Server(f"http://127.0.0.1:{port}", process, log_path, env or {})
        if _healthy(server, wait_for_index, timeout):
            return server
        server.stop()
        if "address already in use" in server.log() and attempt < 2:
            continue  # lost the race for the free port; try another
        raise RuntimeError(f"server did not become healthy; its log:\n{server.log()[-4000:]}")
    raise AssertionError("unreachable")


def _healthy(server: Server, wait_for_index: bool, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            return False
        try:
            health = httpx.get(f"{server.url}/health", timeout=5).json()
            if health.get("index_loaded") or not wait_for_index:
                return True
        except (httpx.HTTPError, ValueError):
            pass
        time.sleep(0.2)
    return False
