"""Cited answers on the real seeds index: contract, invariant, duplicates, refusals, quality floor."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from corpus_tools import ROOT, SEEDS

from rag.config import load_settings
from rag.errors import InputError
from rag.eval.gold import load_gold, run_gold
from rag.index.build import build_index
from rag.index.reader import open_index
from rag.query.answering import REFUSAL, ask, verified
from rag.query.retrieval import search

pytestmark = pytest.mark.slow  # real model, index, server or browser (not in make test-fast)

GOLD = ROOT / "eval" / "seeds.jsonl"
SHORT, FULL = "000_fa0abe1aae40eff2", "001_ba8a69dfa45ae580"


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    settings = load_settings(index_dir=tmp_path_factory.mktemp("answers") / "index")
    build_index(settings, [SEEDS])
    return open_index(settings)


def with_mode(index, mode: str):
    clone = open_index(index.settings.with_overrides(**{"retrieval.mode": mode}))
    return clone


def test_answer_contract(index):
    answer = ask(index, "How far had Zaluzhny's troops advanced since the counteroffensive began?")
    data = answer.model_dump()
    assert set(data) == {"question", "answer", "abstained", "citations", "short_answer", "related",
                         "timings_ms", "style", "dropped", "fallback"}
    assert not answer.abstained and answer.citations
    first = data["citations"][0]
    assert set(first) == {"n", "doc_id", "title", "source", "start", "end", "quote", "page", "score", "also_in"}
    assert first["doc_id"] == FULL and "eleven miles" in first["quote"]
    assert [c.n for c in answer.citations] == list(range(1, len(answer.citations) + 1))
    for c in answer.citations:
        assert f"[{c.n}]" in answer.answer
    assert {"embed_ms", "retrieve_ms", "answer_ms", "total_ms"} <= set(answer.timings_ms)


def test_every_citation_is_exact_and_from_a_retrieved_passage(index):
    for item in load_gold(GOLD):
        answer = ask(index, item.question)
        passages = search(index, item.question, index.settings.answer.passages)
        for c in answer.citations:
            original = (SEEDS / c.source).read_bytes().decode("utf-8")
            assert original[c.start:c.end] == c.quote
            assert any(p.chunk.doc_id == c.doc_id and p.chunk.start <= c.start and c.end <= p.chunk.end
                       for p in passages), (item.id, c)


def test_a_citation_failing_the_check_is_never_shown(index):
    question = "Which generals are negotiating the peace?"
    answer = ask(index, question)
    passages = search(index, question, index.settings.answer.passages)
    good = answer.citations[0]
    tampered = good.model_copy(update={"quote": good.quote + " (made up)"})
    elsewhere = good.model_copy(update={"doc_id": "002_d16182aecea7049e"})
    unknown = good.model_copy(update={"doc_id": "no-such-doc"})
    kept = verified(index, [tampered, good, elsewhere, unknown], passages)
    assert [c.quote for c in kept] == [good.quote] and kept[0].n == 1


def test_duplicated_story_is_cited_once_with_the_copy_in_also_in(index):
    answer = ask(index, "Who are the two generals driving the peace talks, according to Hersh?")
    assert answer.citations[0].doc_id == FULL
    assert answer.citations[0].also_in == [SHORT]
    quotes = [" ".join(c.quote.split()) for c in answer.citations]
    assert len(quotes) == len(set(quotes))
    assert not any(c.doc_id == SHORT and " ".join(c.quote.split()) in quotes[0] for c in answer.citations)


def test_search_returns_one_passage_per_duplicate_group(index):
    passages = search(index, "rough couple of months for President Joe Biden feckless foreign policy team", 5)
    groups = [p.chunk.group for p in passages if p.chunk.group >= 0]
    assert len(groups) == len(set(groups))
    top = passages[0]
    assert top.chunk.doc_id == FULL and top.also_in == [SHORT]


def test_generals_question_finds_the_hersh_story_first(index):
    assert search(index, "Which generals are negotiating the peace?", 3)[0].chunk.doc_id in (SHORT, FULL)


def test_off_topic_questions_are_refused_with_related_passages(index):
    answer = ask(index, "What is a good recipe for banana bread?")
    assert answer.abstained and answer.answer == REFUSAL and answer.citations == []
    for r in answer.related:
        assert index.documents[r.doc_id].text[r.start:r.end] == r.quote


def test_empty_question_is_an_input_error(index):
    with pytest.raises(InputError):
        ask(index, "   ")


# Regression guards on the held-out test split, set below the figures last measured (with the
# trained reader, one reading: hit@1 0.857, refusal recall 0.643, false refusals 0.000; before it
# 0.786 / 0.643 / 0.048; eval/README.md) with the margins they had before: about two questions for
# hit@1, one for the others. The reader issue's targets (0.90 / 0.85 / 0.05) are not all met here.
TEST_FLOORS = {"--min-hit1": 0.80, "--min-refusal-recall": 0.57, "--max-false-refusal": 0.05}


def test_gold_set_quality_floor(index):
    """CI's one gate on the gold set: the real `rag eval` on the test split with its floors (exit 1
    below any of them); the report is kept in test-artifacts/eval-seeds.json."""
    report_path = ROOT / "test-artifacts" / "eval-seeds.json"
    floors = [str(part) for pair in TEST_FLOORS.items() for part in pair]
    done = subprocess.run(
        [sys.executable, "-m", "rag.cli", "eval", "--gold", str(GOLD), "--split", "test",
         "--index-dir", str(index.settings.index_dir), *floors, "--json", str(report_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    summary = json.loads(report_path.read_text())["summary"]
    timings = {k: summary[k] for k in ("latency_p50_ms", "latency_p95_ms")}
    test_part = [q for q in load_gold(GOLD) if q.split == "test"]
    assert summary == run_gold(index, test_part)["summary"] | timings  # the CLI judges as the library
    assert summary["questions"] >= 40 and summary["unanswerable"] >= 8
    assert summary["hit@1"] >= TEST_FLOORS["--min-hit1"], summary
    assert summary["refusal_recall"] >= TEST_FLOORS["--min-refusal-recall"], summary
    assert summary["false_refusal_rate"] <= TEST_FLOORS["--max-false-refusal"], summary


def test_hybrid_is_at_least_as_good_as_each_single_mode(index):
    questions = [q for q in load_gold(GOLD) if q.answerable]
    hits = {}
    for mode in ("hybrid", "dense", "keyword"):
        clone = with_mode(index, mode)
        hits[mode] = sum(
            bool(p) and p[0].chunk.doc_id in q.expected_doc_ids
            for q in questions for p in [search(clone, q.question, 1)]) / len(questions)
    assert hits["hybrid"] >= hits["dense"] and hits["hybrid"] >= hits["keyword"], hits
