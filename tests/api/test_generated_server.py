"""Generated answers through a real uvicorn server over the real seeds index: slow tier.

The model server misbehaves in every way the acceptance names, and `/ask` in generated mode still
answers, extractively and labelled, within the configured timeout: a server answering garbage, a
server that never answers, a real llama.cpp server that has been stopped. A scripted stub's good
answer comes back generated through `/ask`, the MCP `ask` tool and `rag ask --generate`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import anyio
import httpx
import pytest
from llama_tools import start_llama
from llm_stub import StubServer, reply
from mcp import Client

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
QUESTION = "How far had Zaluzhny's troops advanced since Ukraine's counteroffensive began?"
ADVANCE = "his troops had only advanced less than eleven miles"
GOOD = (1, ADVANCE, "His troops had only advanced less than eleven miles.")
WRONG = (1, ADVANCE, "Zaluzhny's troops had advanced less than twelve miles.")
TIMEOUT_S = 3.0


@pytest.fixture(scope="module")
def stub():
    with StubServer([reply(GOOD, WRONG)]) as server:
        yield server


@pytest.fixture(scope="module")
def gen_server(seeds_index, start_server, stub):
    return start_server(seeds_index.index_dir, env={"RAG_GENERATOR__BASE_URL": stub.url,
                                                    "RAG_GENERATOR__TIMEOUT_S": str(TIMEOUT_S)})


def ask_generated(server, question: str = QUESTION) -> tuple[dict, float]:
    started = time.monotonic()
    response = httpx.post(f"{server.url}/ask", json={"question": question, "answer": "generated"}, timeout=60)
    assert response.status_code == 200, response.text
    return response.json(), time.monotonic() - started


def texts(server) -> dict[str, str]:
    ids = [d["doc_id"] for d in httpx.get(f"{server.url}/documents", timeout=30).json()["documents"]]
    return {i: httpx.get(f"{server.url}/documents/{i}", timeout=30).json()["text"] for i in ids}


def assert_extractive_fallback(server, answer: dict, reason: str) -> None:
    plain = httpx.post(f"{server.url}/ask", json={"question": QUESTION}, timeout=60).json()
    assert answer["style"] == "extractive" and answer["fallback"] == reason, answer
    assert answer["answer"] == plain["answer"] and answer["citations"] == plain["citations"]
    assert not answer["abstained"] and answer["citations"]


def test_a_good_reply_comes_back_generated_and_verified(gen_server, stub):
    stub.behaviour = "script"
    answer, _ = ask_generated(gen_server)
    assert answer["style"] == "generated" and answer["dropped"] == 1
    assert answer["answer"] == f"{GOOD[2]} [1]"
    documents = texts(gen_server)
    for c in answer["citations"]:
        assert documents[c["doc_id"]][c["start"]:c["end"]] == c["quote"] == ADVANCE
    assert stub.requests[-1]["response_format"]["json_schema"]["schema"]["required"] == ["answerable", "sentences"]


def test_garbage_from_the_model_server_falls_back_within_the_timeout(gen_server, stub):
    stub.behaviour = "garbage"
    try:
        answer, seconds = ask_generated(gen_server)
    finally:
        stub.behaviour = "script"
    assert_extractive_fallback(gen_server, answer, "malformed")
    assert seconds < TIMEOUT_S


def test_a_silent_model_server_falls_back_at_the_timeout(gen_server, stub):
    stub.behaviour, stub.hang_s = "hang", 20
    try:
        answer, seconds = ask_generated(gen_server)
    finally:
        stub.behaviour = "script"
    assert_extractive_fallback(gen_server, answer, "timeout")
    assert TIMEOUT_S <= seconds < TIMEOUT_S + 1.5


def test_a_stopped_llama_server_falls_back_within_the_timeout(seeds_index, start_server, tmp_path_factory):
    llama = start_llama(tmp_path_factory.mktemp("llama-stopped"))
    try:
        server = start_server(seeds_index.index_dir, env={"RAG_GENERATOR__BASE_URL": llama.url,
                                                          "RAG_GENERATOR__TIMEOUT_S": "60"})
        running, _ = ask_generated(server)  # whatever the small model says, it is an answer
        assert running["style"] == "generated" or running["fallback"] in ("nothing verified", "malformed")
    finally:
        llama.stop()
    answer, seconds = ask_generated(server)
    assert_extractive_fallback(server, answer, "unreachable")
    assert seconds < 60


def test_mcp_ask_tool_generated(gen_server, stub):
    stub.behaviour = "script"

    async def run() -> dict:
        async with Client(f"{gen_server.url}/mcp") as client:
            return (await client.call_tool("ask", {"question": QUESTION, "answer": "generated"})).structured_content

    answer = anyio.run(run)
    assert answer["style"] == "generated" and answer["dropped"] == 1 and answer["fallback"] is None
    assert [c["quote"] for c in answer["citations"]] == [ADVANCE] and answer["citations"][0]["verified"]


def test_cli_ask_generate(seeds_index, stub):
    stub.behaviour = "script"
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("RAG_")},
           "RAG_GENERATOR__BASE_URL": stub.url}
    args = [sys.executable, "-m", "rag.cli", "ask", QUESTION, "--generate", "--index-dir", str(seeds_index.index_dir)]
    shown = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0] == f"{GOOD[2]} [1]"
    assert lines[1] == "(generated, every sentence verified against its quote, 1 generated sentence(s) dropped)"
    as_json = subprocess.run([*args, "--json"], cwd=ROOT, env=env, capture_output=True, text=True,
                             timeout=300, check=False)
    answer = json.loads(as_json.stdout)
    assert answer["style"] == "generated" and answer["dropped"] == 1
    off = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
                         env={k: v for k, v in env.items() if k != "RAG_GENERATOR__BASE_URL"})
    assert "(extractive: generation is off (set RAG_GENERATOR__BASE_URL))" in off.stdout
