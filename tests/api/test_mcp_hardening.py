"""Issue 25, items 10, 12 and 13, through the official `mcp` client against a real server: the
MCP tools say why they refuse, apply the HTTP routes' question rules, and `/mcp` follows the same
Host and API-key rules as every other route. Each test failed on the code before its fix.

- 13: a RagError's reason (unknown document, bad span, too long, nothing to ask, bad day) reaches
  the client, not "Error executing tool ..."; ask and search refuse what /ask and /search refuse.
- 12: a non-ASCII API key is compared as bytes on /ask and /mcp alike (before: 401 on /ask).
- 10: /mcp follows the app's Host policy (before: the SDK's own, 421 for a port-less `localhost`
  and for RAG_API__ALLOWED_HOSTS names).
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


INITIALIZE = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
    "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "test", "version": "0"}}}


def post_as(url: str, route: str, host: str) -> httpx.Response:
    """POST to `route` with this Host header: /mcp an initialize, /v1 a chat completion."""
    body = INITIALIZE if route == "/mcp" else {"messages": [{"role": "user", "content": QUESTION}]}
    return httpx.post(f"{url}{route}", json=body, timeout=120, headers={
        "Host": host, "Accept": "application/json, text/event-stream"})


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "LOCALHOST:9", "[::1]"])
def test_mcp_serves_the_loopback_hosts_v1_serves(server, host):
    for route in ("/v1/chat/completions", "/mcp"):
        response = post_as(server.url, route, host)
        assert response.status_code == 200, (route, response.status_code, response.text)


def test_mcp_follows_allowed_hosts_like_every_route(seeds_index, start_server):
    lan = start_server(seeds_index.index_dir, env={"RAG_API__ALLOWED_HOSTS": '["rag.lan"]'})
    for route in ("/v1/chat/completions", "/mcp"):
        served = post_as(lan.url, route, "rag.lan:8000")
        assert served.status_code == 200, (route, served.status_code, served.text)
        refused = post_as(lan.url, route, "evil.example")
        assert refused.status_code == 400 and refused.json()["error"]["code"] == "host_not_allowed", route


def test_mcp_still_refuses_other_sites(server):
    """The SDK's Origin check is off; the app's CrossSiteCheck guards /mcp as it guards every write."""
    response = httpx.post(f"{server.url}/mcp", json=INITIALIZE, timeout=60, headers={
        "Origin": "http://evil.example", "Accept": "application/json, text/event-stream"})
    assert response.status_code == 403 and response.json()["error"]["code"] == "cross_site_refused"
