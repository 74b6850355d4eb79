"""Issue 25, items 10, 12 and 13, through the official `mcp` client against a real server: the
MCP tools say why they refuse, apply the HTTP routes' question rules, and `/mcp` follows the same
Host and API-key rules as every other route. Each test failed on the code before its fix.

- 13: a RagError's reason (unknown document, bad span, too long, nothing to ask, bad day) reaches
  the client, not "Error executing tool ..."; ask and search refuse what /ask and /search refuse.
- 12: a non-ASCII API key is compared as bytes on /ask and /mcp alike (before: 401 on /ask).
"""

from __future__ import annotations

import anyio
import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult

pytestmark = pytest.mark.slow  # real model, index, server, CLI process or browser (not in make test-fast)

QUESTION = "Which generals are negotiating the peace?"


def call(url: str, tool: str, arguments: dict) -> CallToolResult:
    """One tool call over streamable HTTP at `url`/mcp."""
    async def run() -> CallToolResult:
        async with Client(f"{url}/mcp") as client:
            return await client.call_tool(tool, arguments)

    return anyio.run(run)


def said(result: CallToolResult) -> str:
    """The text an `is_error` result shows the client."""
    assert result.is_error, result
    return " ".join(getattr(part, "text", "") for part in result.content)


@pytest.mark.parametrize("tool,arguments,reason", [
    ("get_document", {"doc_id": "nope"}, "no document 'nope'"),
    ("get_document", {"doc_id": "001_ba8a69dfa45ae580", "start": 5, "end": 2}, "need 0 <= start < end"),
    ("ask", {"question": "x" * 2001}, "over the limit of 2000"),
    ("search", {"query": "y" * 2001}, "over the limit of 2000"),
    ("ask", {"question": "?!?"}, "nothing to ask"),
    ("search", {"query": "   "}, "the question is empty"),
    ("ask", {"question": QUESTION, "as_of": "2023-13-45"}, "as_of"),
], ids=["unknown-doc", "bad-span", "ask-too-long", "search-too-long", "nothing-to-ask", "empty", "bad-day"])
def test_mcp_tools_say_why_they_refuse(server, tool, arguments, reason):
    text = said(call(server.url, tool, arguments))
    assert reason in text, text


def test_mcp_questions_within_the_limit_still_answer(server):
    result = call(server.url, "ask", {"question": QUESTION + " " * (2000 - len(QUESTION))})
    assert not result.is_error and result.structured_content["citations"]


UNICODE_KEY = "clé-ключ-密钥"


def mcp_names(url: str, authorization: bytes) -> set[str]:
    """The tool names listed over /mcp with this raw `Authorization` header value."""
    async def run() -> set[str]:
        http = httpx2.AsyncClient(headers={"Authorization": authorization}, timeout=60)
        async with http, Client(streamable_http_client(f"{url}/mcp", http_client=http)) as client:
            return {t.name for t in (await client.list_tools()).tools}

    return anyio.run(run)


def test_a_non_ascii_api_key_works_on_the_routes_and_on_mcp(seeds_index, start_server):
    keyed = start_server(seeds_index.index_dir, env={"RAG_API_KEY": UNICODE_KEY})
    right, wrong = b"Bearer " + UNICODE_KEY.encode(), b"Bearer " + "clé-ключ-密".encode()
    asked = httpx.post(f"{keyed.url}/ask", json={"question": QUESTION}, headers={"Authorization": right}, timeout=120)
    assert asked.status_code == 200, asked.text
    assert "get_document" in mcp_names(keyed.url, right)
    for route in ("/ask", "/mcp"):
        refused = httpx.post(f"{keyed.url}{route}", json={"question": QUESTION}, headers={"Authorization": wrong},
                             timeout=60)
        assert refused.status_code == 401, (route, refused.text)
    latin = httpx.post(f"{keyed.url}/ask", json={"question": QUESTION}, timeout=60,
                       headers={"Authorization": b"Bearer " + UNICODE_KEY.encode("utf-8").decode("latin-1").encode()})
    assert latin.status_code == 401  # the key's UTF-8 bytes, not their latin-1 reading re-encoded
