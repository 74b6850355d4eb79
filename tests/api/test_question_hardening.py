"""Issue 25, items 5, 6, 14 and 15, over a real server and the real CLI: no question, day or
filter gives a 5xx or a traceback. Each test failed on the code before the fix.

- `as_of` at the calendar's ends (0001-01-01 overflowed the recent-days window: 500, traceback).
- A lone surrogate in a question (JSON "\\ud800": 500 on every asking route) or a byte that is
  not UTF-8 in a CLI argument (a traceback): refused at `validate_query`, 422 / one line.
- Impossible filter dates and `doc_ids: []` ("all documents" before): 422 / one CLI line.
- Content-free questions ("?!?", "...", invisible marks, "1") got cited answers: now 422.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import httpx
import pytest
from conftest import ROOT

pytestmark = pytest.mark.slow  # real model, index, server, CLI process or browser (not in make test-fast)

QUESTION = "Who are the two generals driving the peace talks?"
ASKING = [("/ask", lambda q: {"question": q}), ("/search", lambda q: {"query": q}),
          ("/chat", lambda q: {"messages": [{"role": "user", "content": q}]}),
          ("/v1/chat/completions", lambda q: {"messages": [{"role": "user", "content": q}]})]


def post_raw(url: str, body: str) -> httpx.Response:
    """POST a JSON text as written (json.dumps keeps "\\ud800" an escape; httpx would not encode it)."""
    return httpx.post(url, content=body.encode("ascii"), headers={"Content-Type": "application/json"},
                      timeout=120)


@pytest.mark.parametrize("route,body", ASKING, ids=[r for r, _ in ASKING])
@pytest.mark.parametrize("question", ["\ud800", "Who is \udfff negotiating?", "\udc00\ud800 reversed"])
def test_a_lone_surrogate_in_a_question_is_a_422_on_every_route(server, route, body, question):
    response = post_raw(f"{server.url}{route}", json.dumps(body(question)))
    assert response.status_code == 422, response.text
    assert "lone surrogate" in response.json()["error"]["message"]


@pytest.mark.parametrize("route,body", ASKING, ids=[r for r, _ in ASKING])
@pytest.mark.parametrize("question", ["?!?", "...", "\u200b\u200e\u200f", "1"])
def test_a_question_with_nothing_to_ask_is_refused(server, route, body, question):
    response = httpx.post(f"{server.url}{route}", json=body(question), timeout=120)
    assert response.status_code == 422, response.text
    assert "nothing to ask" in response.json()["error"]["message"]


@pytest.mark.parametrize("day", ["0001-01-01", "0001-01-03", "9999-12-31"])
def test_as_of_at_the_ends_of_the_calendar_answers(server, day):
    for route, body in ASKING[:1] + ASKING[2:]:
        response = httpx.post(f"{server.url}{route}", json={**body(QUESTION), "as_of": day}, timeout=120)
        assert response.status_code == 200, (route, response.text)


@pytest.mark.parametrize("where", [{"date_from": "2023-13-45"}, {"date_to": "0000-00-00"}, {"date_from": "2023-02-30"},
                                   {"date_to": "2023-00"}, {"doc_ids": []}])
def test_impossible_filters_are_a_422(server, where):
    for route in ("/ask", "/search"):
        response = httpx.post(f"{server.url}{route}", json={("query" if route == "/search" else "question"): QUESTION, "filter": where}, timeout=120)
        assert response.status_code == 422, (route, response.text)
        assert "invalid filter" in response.json()["error"]["message"]


def rag(*args: str | bytes) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")} | {"COLUMNS": "300"}
    return subprocess.run([sys.executable, "-m", "rag.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, check=False, env=env)


def test_the_cli_says_one_line_for_every_bad_question_day_or_filter(seeds_index):
    index = str(seeds_index.index_dir)
    for args, says in [((b"who negotiates \xff?",), "lone surrogate"), (("?!?",), "nothing to ask"),
                       (("--date-from", "2023-13-45", QUESTION), "not a date"),
                       (("--date-to", "0000-00-00", QUESTION), "not a date")]:
        for verb in ("ask", "search"):
            run = rag(verb, *args, "--index-dir", index)
            lines = run.stderr.strip().splitlines()
            assert run.returncode == 1 and len(lines) == 1 and says in lines[0], (verb, args, run.stderr[-2000:])
    early = rag("ask", QUESTION, "--as-of", "0001-01-01", "--index-dir", index)
    assert early.returncode == 0 and "Traceback" not in early.stderr, early.stderr[-2000:]
