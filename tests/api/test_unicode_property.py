"""Issue 25, acceptance: arbitrary Unicode strings, lone surrogates included, in every string field
of /ask, /search, /chat and /v1/chat/completions never give a 5xx (a property test with hypothesis
against one real server).

The JSON bodies are written by `json.dumps` (ASCII escapes), so a lone surrogate reaches the
server as a `\\ud800` escape exactly as a hostile client would send it; httpx's own encoder would
refuse such a string. Each field is, independently, left out, a usable value, or an arbitrary
string, so the arbitrary ones reach the code past schema validation too (a real question with an
arbitrary filter, day or earlier chat turn). Bounded (40 examples a route, derandomized) to stay cheap.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.slow  # real model, index, server, CLI process or browser (not in make test-fast)

QUESTION = "Who are the two generals driving the peace talks?"
SURROGATE = st.integers(0xD800, 0xDFFF).map(chr)
ANY_TEXT = st.lists(st.one_of(st.characters(), SURROGATE), max_size=40).map("".join)
# a real question with arbitrary text around it, so some examples get past validate_query
QUESTIONS = st.one_of(ANY_TEXT, st.tuples(ANY_TEXT, ANY_TEXT).map(lambda p: f"{p[0]} {QUESTION} {p[1]}"))


def field(*usable: object) -> st.SearchStrategy[object]:
    """A field left out (None), one of its usable values, or an arbitrary string."""
    return st.one_of(st.none(), st.sampled_from(usable), ANY_TEXT) if usable else st.one_of(st.none(), ANY_TEXT)


def drop_none(body: dict) -> dict:
    return {k: v for k, v in body.items() if v is not None}


FILTERS = st.builds(lambda *v: drop_none(dict(zip(
    ("source_prefix", "date_from", "date_to", "author", "outlet", "doc_ids"), v, strict=True))),
    field("0"), field("2023-01-01"), field("2024-12-31"), field("a"), field("Times"),
    st.one_of(st.none(), st.lists(ANY_TEXT, min_size=1, max_size=3), st.just(["001_ba8a69dfa45ae580"])))
COMMON = {"mode": field("hybrid", "dense", "keyword"), "filter": st.one_of(st.none(), FILTERS),
          "as_of": field("2024-01-01", "0001-01-01")}
ASKING = {"mode": COMMON["mode"], "filter": COMMON["filter"], "as_of": COMMON["as_of"],
          "answer": field("extractive")}
TURNS = st.lists(st.fixed_dictionaries({"role": field("user", "assistant").map(lambda r: r or "user"),
                                        "content": QUESTIONS}), min_size=1, max_size=3)

BODIES: dict[str, st.SearchStrategy[dict]] = {
    "/ask": st.fixed_dictionaries({"question": QUESTIONS, **ASKING}).map(drop_none),
    "/search": st.fixed_dictionaries({"query": QUESTIONS, "mode": COMMON["mode"],
                                      "filter": COMMON["filter"]}).map(drop_none),
    "/chat": st.fixed_dictionaries({"messages": TURNS, **ASKING}).map(drop_none),
    "/v1/chat/completions": st.fixed_dictionaries({"messages": TURNS, "model": field("rag"),
                                                   **ASKING}).map(drop_none),
}


def post_raw(url: str, body: dict) -> httpx.Response:
    """POST `body` as ASCII JSON (lone surrogates stay \\udXXX escapes)."""
    return httpx.post(url, content=json.dumps(body).encode("ascii"),
                      headers={"Content-Type": "application/json"}, timeout=120)


@pytest.mark.parametrize("route", list(BODIES))
def test_no_unicode_string_in_any_field_gives_a_5xx(server, route: str) -> None:
    @settings(max_examples=40, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
    @given(BODIES[route])
    def check(body: dict) -> None:
        response = post_raw(f"{server.url}{route}", body)
        assert response.status_code < 500, (body, response.text)
        assert response.status_code == 200 or "error" in response.json(), response.text

    run: Callable[[], None] = check
    run()
