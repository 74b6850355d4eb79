"""Filters on doc ids, source prefix, date range, author and outlet, applied before ranking is cut.

Library calls on the seeds index, the CLI flags, and /search and /ask over a real server.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from rag import DocFilter, InputError, ask, parse_filter, search
from rag.query.filters import recent, until

pytestmark = pytest.mark.slow  # the real seeds index, the CLI and a server (not in make test-fast)

ROOT = Path(__file__).resolve().parents[2]
QUESTION = "Which generals are negotiating the peace?"
HERSH = {"000_fa0abe1aae40eff2", "001_ba8a69dfa45ae580"}


def docs_of(passages) -> set[str]:
    return {p.chunk.doc_id for p in passages}


def test_each_condition_selects_the_matching_documents(seeds_loaded):
    docs = seeds_loaded.documents
    cases = [
        (DocFilter(author="HERSH"), HERSH),
        (DocFilter(outlet="globalresearch"), {"004_1b6fea1d4b3ffca0"}),
        (DocFilter(date_from="2023-01-01"), HERSH),
        (DocFilter(date_to="2022"), {"002_d16182aecea7049e"}),
        (DocFilter(date_from="2023-12-02", date_to="2023-12-31"), {"000_fa0abe1aae40eff2"}),
        (DocFilter(source_prefix="003_"), {"003_a04de0ae7644ddd5"}),
        (DocFilter(doc_ids=["002_d16182aecea7049e", "nope"]), {"002_d16182aecea7049e"}),
        (DocFilter(author="hersh", date_to="2023-12-02"), {"001_ba8a69dfa45ae580"}),
    ]
    for where, expected in cases:
        assert {d for d, doc in docs.items() if where.matches(doc)} == expected, where


def test_k_results_come_back_when_k_exist(seeds_loaded):
    """A narrow filter still fills k: filtering happens before the ranking is cut."""
    only = "004_1b6fea1d4b3ffca0"
    chunks = sum(1 for c in seeds_loaded.chunks if c.doc_id == only)
    for mode in ("hybrid", "dense", "keyword"):
        passages = search(seeds_loaded, "Milley peace talks Russia Ukraine", k=3, mode=mode,
                          where=DocFilter(doc_ids=[only]))
        assert docs_of(passages) == {only}, mode
        assert len(passages) == min(3, chunks), mode
    unfiltered = search(seeds_loaded, "Milley peace talks Russia Ukraine", k=3)
    assert only not in docs_of(unfiltered) or len(docs_of(unfiltered)) > 1


def test_answers_cite_only_allowed_documents(seeds_loaded):
    answer = ask(seeds_loaded, QUESTION, where=DocFilter(doc_ids=["002_d16182aecea7049e"]))
    assert not answer.abstained
    assert {c.doc_id for c in answer.citations} == {"002_d16182aecea7049e"}
    nothing = ask(seeds_loaded, QUESTION, where=DocFilter(author="nobody at all"))
    assert nothing.abstained and nothing.citations == []


def test_as_of_changes_which_documents_answer(seeds_loaded):
    """The same question cites other articles asked on 2023-12-01 (only 001_ lies in that week;
    000_, dated 2023-12-04, is left out even as a copy in `also_in`). The scopes are the reader's
    inputs, not its choice: with the reader on, the plain answer also cites 001_ (first or second)."""
    plain = {c.doc_id for c in ask(seeds_loaded, QUESTION).citations}
    assert plain and plain != {"001_ba8a69dfa45ae580"}
    dated = ask(seeds_loaded, QUESTION, as_of="2023-12-01")
    assert {c.doc_id for c in dated.citations} == {"001_ba8a69dfa45ae580"}
    generals = ask(seeds_loaded, "Who are the two generals driving the peace talks?", as_of="2023-12-01")
    assert generals.citations and all("000_fa0abe1aae40eff2" not in c.also_in for c in generals.citations)


def test_parse_filter_drops_empty_values_and_names_bad_ones():
    assert parse_filter(author=None, source_prefix="") is None
    assert parse_filter(author="x") == DocFilter(author="x")
    with pytest.raises(InputError, match="date_to"):
        parse_filter(date_to="12/01/2023")


@pytest.mark.parametrize("field,value", [("date_from", "2023-13-45"), ("date_to", "0000-00-00"),
                                         ("date_from", "2023-02-30"), ("date_to", "2023-00"), ("date_from", "0000")])
def test_impossible_dates_are_refused_naming_the_field(field, value):  # issue 25, item 14
    with pytest.raises(InputError, match=f"{field}: '{value}' is not a date"):
        parse_filter(**{field: value})
    assert parse_filter(date_from="2024-02-29", date_to="0001") is not None


def test_an_empty_doc_ids_list_is_an_error_not_every_document():  # issue 25, item 14
    with pytest.raises(InputError, match="doc_ids: is empty"):
        parse_filter(doc_ids=[])


@pytest.mark.parametrize("day", ["0001-01-01", "0001-01-05", "9999-12-31"])
def test_the_recent_window_is_clamped_to_the_calendar(day):  # issue 25, item 5
    window = recent(None, day, 7)
    assert window.date_from == max("0001-01-01", window.date_from) and window.date_to == day
    assert until(None, day).not_after == day


def test_cli_flags(seeds_index):
    env = {**os.environ, "RAG_INDEX_DIR": str(seeds_index.index_dir)}
    out = subprocess.run([sys.executable, "-m", "rag.cli", "search", QUESTION, "--json", "-k", "4",
                          "--author", "hersh", "--date-from", "2023-12-02"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    assert {hit["doc_id"] for hit in json.loads(out.stdout)} == {"000_fa0abe1aae40eff2"}
    bad = subprocess.run([sys.executable, "-m", "rag.cli", "ask", QUESTION, "--date-to", "soon"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert bad.returncode == 1 and "date_to" in bad.stderr
    dated = subprocess.run([sys.executable, "-m", "rag.cli", "ask", QUESTION, "--json",
                            "--as-of", "2023-12-01"],
                           cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert dated.returncode == 0, dated.stderr
    assert {c["doc_id"] for c in json.loads(dated.stdout)["citations"]} == {"001_ba8a69dfa45ae580"}


def test_http_routes_take_the_filter(server):
    body = {"query": QUESTION, "k": 3, "filter": {"outlet": "globalresearch"}}
    hits = httpx.post(f"{server.url}/search", json=body, timeout=60).json()["passages"]
    assert len(hits) == 3 and {h["doc_id"] for h in hits} == {"004_1b6fea1d4b3ffca0"}
    answer = httpx.post(f"{server.url}/ask", json={"question": QUESTION, "filter": {"author": "hersh"}},
                        timeout=60).json()
    assert {c["doc_id"] for c in answer["citations"]} <= HERSH
    bad = httpx.post(f"{server.url}/ask", json={"question": QUESTION, "filter": {"date_from": "x"}},
                     timeout=60)
    assert bad.status_code == 422 and "date_from" in bad.json()["error"]["message"]
    unknown = httpx.post(f"{server.url}/ask", json={"question": QUESTION, "filter": {"color": "x"}},
                         timeout=60)
    assert unknown.status_code == 422
    dated = httpx.post(f"{server.url}/ask", json={"question": QUESTION, "as_of": "2023-12-01"},
                       timeout=60).json()
    assert {c["doc_id"] for c in dated["citations"]} == {"001_ba8a69dfa45ae580"}
    chat = httpx.post(f"{server.url}/chat", json={"messages": [{"role": "user", "content": QUESTION}],
                                                  "as_of": "2023-12-01"}, timeout=60).json()
    assert {c["doc_id"] for c in chat["citations"]} == {"001_ba8a69dfa45ae580"}
    late = httpx.post(f"{server.url}/ask", json={"question": QUESTION, "as_of": "2023-12-32"}, timeout=60)
    assert late.status_code == 422 and "YYYY-MM-DD" in late.json()["error"]["message"]
