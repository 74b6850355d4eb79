"""The MCP tools through the official `mcp` SDK client, over stdio (`rag mcp`) and streamable
HTTP (`/mcp` on a real server, with and without the API key).

Each transport lists the four tools and calls each one; every span in a structured result is
checked against the document text.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import anyio
import httpx
import httpx2
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

pytestmark = pytest.mark.slow  # real model, index, server, CLI process or browser (not in make test-fast)

ROOT = Path(__file__).resolve().parents[2]
QUESTION = "Which generals are negotiating the peace?"
TOOLS = {"search", "ask", "get_document", "list_documents"}
KEY = "mcp-test-key"


async def exercise(client: Client) -> dict:
    """List the tools, call each, and check every span; returns the structured results."""
    assert {t.name for t in (await client.list_tools()).tools} == TOOLS
    listing = (await client.call_tool("list_documents", {})).structured_content
    assert listing["count"] == 5
    texts = {}
    for doc in listing["documents"]:
        full = (await client.call_tool("get_document", {"doc_id": doc["doc_id"]})).structured_content
        texts[doc["doc_id"]] = full["text"]
    found = (await client.call_tool("search", {"query": QUESTION, "k": 3})).structured_content
    assert [p["rank"] for p in found["passages"]] == [1, 2, 3]
    answer = (await client.call_tool("ask", {"question": QUESTION})).structured_content
    assert answer["abstained"] is False and "[1]" in answer["answer"]
    for item in found["passages"] + answer["citations"]:
        assert item["verified"] is True
        assert texts[item["doc_id"]][item["start"]:item["end"]] == item["quote"]
    first = answer["citations"][0]
    shown = (await client.call_tool("get_document", {"doc_id": first["doc_id"], "start": first["start"],
                                                     "end": first["end"], "context": 50})).structured_content
    assert shown["span"]["quote"] == first["quote"] and first["quote"] in shown["text"]
    filtered = (await client.call_tool("ask", {"question": QUESTION, "filter": {
        "doc_ids": ["002_d16182aecea7049e"]}})).structured_content
    assert {c["doc_id"] for c in filtered["citations"]} <= {"002_d16182aecea7049e"}
    dated = (await client.call_tool("ask", {"question": QUESTION, "as_of": "2023-12-01"})).structured_content
    assert {c["doc_id"] for c in dated["citations"]} == {"001_ba8a69dfa45ae580"}  # 004_/003_ without
    refused = (await client.call_tool("ask", {"question": "Who won the 2024 US presidential election?"}))
    assert refused.structured_content["abstained"] is True
    missing = await client.call_tool("get_document", {"doc_id": "nope"})
    assert missing.is_error
    return answer


def test_stdio_transport(seeds_index):
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("RAG_")},
           "RAG_INDEX_DIR": str(seeds_index.index_dir)}
    params = StdioServerParameters(command=sys.executable, args=["-m", "rag.cli", "mcp"], env=env, cwd=str(ROOT))

    async def run() -> None:
        async with Client(params) as client:
            await exercise(client)

    anyio.run(run)


def test_http_transport(server):
    async def run() -> dict:
        async with Client(f"{server.url}/mcp") as client:
            return await exercise(client)

    answer = anyio.run(run)
    direct = httpx.post(f"{server.url}/ask", json={"question": QUESTION}, timeout=60).json()
    assert answer["answer"] == direct["answer"]
    assert answer["short_answer"] == direct["short_answer"]  # the reader's short answer rides along


def test_http_transport_needs_the_key_when_set(seeds_index, start_server):
    keyed = start_server(seeds_index.index_dir, env={"RAG_API_KEY": KEY})
    refused = httpx.post(f"{keyed.url}/mcp", json={}, timeout=30)
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "unauthorized"

    async def run() -> None:
        http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {KEY}"}, timeout=60)
        async with http, Client(streamable_http_client(f"{keyed.url}/mcp", http_client=http)) as client:
            names = {t.name for t in (await client.list_tools()).tools}
            assert names == TOOLS

    anyio.run(run)
