"""Issue 13 reproductions for the HTTP service: each failed on the code before the fix.

Every chat turn is bounded, the rewritten question too; the Host header is checked (DNS
rebinding); a blank API key is refused at start; /health answers while questions queue; a
malformed build file leaves the server up and degraded, saying why.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass

import httpx
import pytest
from conftest import ROOT

from api.chat import rewrite_question, salient_terms
from rag import ConfigError, load_settings

pytestmark = pytest.mark.slow  # real model, index, server, CLI process or browser (not in make test-fast)


@dataclass
class Turn:
    role: str
    content: str


def test_every_chat_message_is_bounded_not_only_the_last(server):
    messages = [{"role": "user", "content": "Milley " * 8_500},  # 60 kB in an earlier turn
                {"role": "assistant", "content": "..."},
                {"role": "user", "content": "and what did he say?"}]
    response = httpx.post(f"{server.url}/chat", json={"messages": messages}, timeout=60)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "question_too_long" and "messages[0].content" in error["message"]


def test_the_rewritten_question_is_capped():
    earlier = Turn("user", " ".join(f"Name{i}" + "x" * 300 for i in range(6)))
    rewritten = rewrite_question([earlier, Turn("user", "and what did he say?")], max_chars=700)
    assert len(rewritten) <= 700 and rewritten.endswith("what did he say?")
    assert rewrite_question([earlier, Turn("user", "and then?")], max_chars=20) == "and then?"


def test_term_de_duplication_is_linear():
    text = " ".join(f"word{i}a" for i in range(16_000))  # 16,000 distinct content words
    started = time.perf_counter()
    terms = salient_terms(text)
    assert time.perf_counter() - started < 0.5  # quadratic: 128M comparisons, seconds
    assert terms == [f"word{i}a" for i in range(6)]


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8000", "127.0.0.1.nip.io", "localhost.evil"])
def test_a_foreign_host_header_is_refused(server, host):
    response = httpx.get(f"{server.url}/documents", headers={"Host": host}, timeout=30)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "host_not_allowed" and "RAG_API__ALLOWED_HOSTS" in error["message"]


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost:9", "LOCALHOST", "[::1]:8000"])
def test_loopback_host_headers_are_served(server, host):
    assert httpx.get(f"{server.url}/health", headers={"Host": host}, timeout=30).status_code == 200


def test_configured_hosts_are_served(seeds_index, start_server):
    lan = start_server(seeds_index.index_dir, env={"RAG_API__ALLOWED_HOSTS": '["rag.lan"]'})
    assert httpx.get(f"{lan.url}/documents", headers={"Host": "rag.lan:8000"}, timeout=30).status_code == 200
    assert httpx.get(f"{lan.url}/documents", headers={"Host": "evil.example"}, timeout=30).status_code == 400


@pytest.mark.parametrize("key", ["", "   "])
def test_a_blank_api_key_is_refused_at_start(monkeypatch, key):
    monkeypatch.setenv("RAG_API_KEY", key)
    with pytest.raises(ConfigError, match="RAG_API_KEY is set but empty"):
        load_settings()
    env = {**os.environ, "RAG_API_KEY": key}
    run = subprocess.run([sys.executable, "-m", "rag.cli", "serve", "--index-dir", "/nonexistent"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 1 and "Traceback" not in run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "RAG_API_KEY is set but empty" in lines[0], run.stderr


def test_health_answers_while_questions_queue(seeds_index, start_server):
    """One question thread and 60 long questions queued behind each other (seconds of work):
    /health must not queue with them."""
    busy = start_server(seeds_index.index_dir, env={"RAG_API__THREADS": "1"})
    question = ("What did the generals say about peace talks between Russia and Ukraine " * 25)[:1990]
    finished: list[float] = []

    def ask(n: int) -> None:
        httpx.post(f"{busy.url}/search", json={"query": f"{n} {question}", "k": 20}, timeout=300)
        finished.append(time.perf_counter())

    started = time.perf_counter()
    threads = [threading.Thread(target=ask, args=(n,)) for n in range(60)]
    for thread in threads:
        thread.start()
    time.sleep(0.3)
    probe = time.perf_counter()
    assert httpx.get(f"{busy.url}/health", timeout=300).json()["status"] == "ok"
    health_s = time.perf_counter() - probe
    pending = len(threads) - len(finished)
    for thread in threads:
        thread.join()
    all_done = max(finished) - started
    assert len(finished) == 60 and pending > 0, "the questions must still be queued when /health is asked"
    print(f"health {health_s:.3f}s while {pending} of 60 queued; all done in {all_done:.2f}s")
    assert health_s < all_done / 4, (health_s, all_done)


def test_a_malformed_sentences_file_leaves_the_server_up_and_degraded(seeds_index, start_server, tmp_path):
    index_dir = tmp_path / "index"
    shutil.copytree(seeds_index.index_dir, index_dir, symlinks=True, ignore=shutil.ignore_patterns("cache"))
    build = (index_dir / "current").resolve()
    (build / "sentences.json").write_text(json.dumps([1, 2, 3]))
    broken = start_server(index_dir, wait_for_index=False)
    health = httpx.get(f"{broken.url}/health", timeout=30).json()
    assert health["status"] == "degraded" and "sentences.json" in health["detail"], health
    response = httpx.get(f"{broken.url}/documents", timeout=30)
    assert response.status_code == 503 and response.json()["error"]["code"] == "index_corrupt"
    assert "Traceback" not in broken.log()
