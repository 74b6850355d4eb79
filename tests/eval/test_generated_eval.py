"""`rag eval --answer generated` against a scripted OpenAI-compatible stub (tests/llm_stub.py) over a
fake-encoded seeds index: fast tier, no model.

Rows say how each answer was made (style, kept, dropped, fallback); summaries, overall and per
split, add the share generated, the fallback and dropped-sentence rates and citation precision,
which is judged again from the stored document text, never from the answer's own flags.
"""

from __future__ import annotations

import json

import pytest
from fakes import fake_index
from llm_stub import StubServer, generator, reply
from typer.testing import CliRunner

import rag
from rag import GoldQuestion, ask, run_gold
from rag.cli import app
from rag.eval.generated import generated_record, summarize_generated

QUESTION = "How far had Zaluzhny's troops advanced since the counteroffensive began?"
ADVANCE = "his troops had only advanced less than eleven miles"
GOOD = (2, ADVANCE, "His troops had only advanced less than eleven miles.")
FABRICATED = (2, "his troops advanced twenty miles in a week", "His troops advanced twenty miles in a week.")
GOLD = [
    GoldQuestion(id="g1", question=QUESTION, expected_doc_ids=["001_ba8a69dfa45ae580"],
                 answer_contains=["eleven miles"], split="dev"),
    GoldQuestion(id="g2", question=QUESTION, expected_doc_ids=["001_ba8a69dfa45ae580"],
                 answer_contains=["eleven miles"], split="test"),
]
# g1: one sentence kept, one dropped; g2: not JSON, twice -> the extractive answer ("malformed")
REPLIES = [reply(GOOD, FABRICATED), "Sure, eleven miles.", "Sure, eleven miles."]


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    with fake_index(tmp_path_factory.mktemp("generated-eval") / "index") as index:
        yield index


def test_gold_run_in_generated_style_reports_rows_and_figures_per_split(index):
    with StubServer(REPLIES) as stub, generator(index, base_url=stub.url):
        report = run_gold(index, GOLD, style="generated")
    rows = {q["id"]: q for q in report["questions"]}
    assert {k: rows["g1"][k] for k in ("style", "kept", "dropped", "fallback", "refused", "supported")} == \
        {"style": "generated", "kept": 1, "dropped": 1, "fallback": None, "refused": False, "supported": 1}
    assert {k: rows["g2"][k] for k in ("style", "kept", "dropped", "fallback", "refused", "supported")} == \
        {"style": "extractive", "kept": 0, "dropped": 0, "fallback": "malformed", "refused": False,
         "supported": 0}
    assert rows["g1"]["answer"] == f"{GOOD[2]} [1]" and rows["g1"]["contains"] is True
    summary = report["summary"]
    assert {k: summary[k] for k in ("generated_share", "fallback_rate", "dropped_rate", "citation_precision",
                                    "sentences_written", "sentences_kept", "model_refusals")} == {
        "generated_share": 0.5, "fallback_rate": 0.5, "dropped_rate": 0.5, "citation_precision": 1.0,
        "sentences_written": 2, "sentences_kept": 1, "model_refusals": 0}
    assert summary["answer_contains"] == 1.0 and summary["hit@1"] == 1.0  # today's metrics stay
    dev, test = report["splits"]["dev"], report["splits"]["test"]
    assert (dev["generated_share"], dev["citation_precision"], dev["dropped_rate"]) == (1.0, 1.0, 0.5)
    assert (test["fallback_rate"], test["citation_precision"], test["sentences_written"]) == (1.0, None, 0)
    assert report["generator"]["base_url"] == stub.url and "api_key" not in report["generator"]


def test_extractive_runs_keep_todays_report(index):
    report = run_gold(index, GOLD[:1])
    assert "style" not in report["questions"][0] and "generator" not in report
    assert "citation_precision" not in report["summary"] and "fallback_rate" not in report["summary"]


def test_citation_precision_is_judged_from_the_stored_text_not_the_flags(index):
    with StubServer([reply(GOOD)]) as stub, generator(index, base_url=stub.url):
        answer = ask(index, QUESTION, style="generated")
        assert generated_record(index, QUESTION, answer)["supported"] == 1
        citation = answer.citations[0]
        # the same citation under a sentence claiming a number its quote lacks
        overclaim = answer.model_copy(update={"answer": "His troops had only advanced less than 40 miles. [1]"})
        # a quote that is not the document's text at its span
        edited = citation.model_copy(update={"quote": citation.quote.replace("eleven", "twelve")})
        forged = answer.model_copy(update={"citations": [edited]})
        # a document the index does not hold
        unknown = answer.model_copy(update={"citations": [citation.model_copy(update={"doc_id": "nope"})]})
        for bad in (overclaim, forged, unknown):
            record = generated_record(index, QUESTION, bad)
            assert (record["kept"], record["supported"]) == (1, 0)


def test_summary_arithmetic():
    records = [
        {"style": "generated", "kept": 3, "dropped": 1, "fallback": None, "refused": False, "supported": 2},
        {"style": "generated", "kept": 0, "dropped": 0, "fallback": None, "refused": True, "supported": 0},
        {"style": "extractive", "kept": 0, "dropped": 2, "fallback": "nothing verified", "refused": False,
         "supported": 0},
        {"style": "extractive", "kept": 0, "dropped": 0, "fallback": "refused", "refused": False, "supported": 0},
    ]
    assert summarize_generated(records) == {
        "generated_share": 0.5, "fallback_rate": 0.5, "model_refusals": 1, "sentences_written": 6,
        "sentences_kept": 3, "dropped_rate": 0.5, "citation_precision": 0.6667}
    assert summarize_generated([])["citation_precision"] is None


def run_cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["eval", *args])
    return result.exit_code, result.output + (result.stderr if result.stderr_bytes is not None else "")


def test_cli_without_a_model_server_says_what_to_set(monkeypatch, tmp_path):
    monkeypatch.delenv("RAG_GENERATOR__BASE_URL", raising=False)
    code, output = run_cli("--answer", "generated", "--index-dir", str(tmp_path / "none"))
    assert code == 1 and "RAG_GENERATOR__BASE_URL" in output and "Traceback" not in output
    code, output = run_cli("--answer", "fluent", "--index-dir", str(tmp_path / "none"))
    assert code == 1 and "--answer generated" in output
    monkeypatch.setenv("RAG_GENERATOR__BASE_URL", "http://127.0.0.1:9/v1")
    code, output = run_cli("--beir", str(tmp_path), "--answer", "generated")
    assert code == 1 and "--answers" in output


def test_cli_gold_run_prints_and_writes_the_generation_figures(index, monkeypatch, tmp_path):
    gold = tmp_path / "gold.jsonl"
    gold.write_text("".join(q.model_dump_json() + "\n" for q in GOLD))
    report_path = tmp_path / "report.json"
    monkeypatch.setattr(rag, "open_index", lambda settings: index)
    with StubServer(REPLIES) as stub, generator(index, base_url=stub.url):
        monkeypatch.setenv("RAG_GENERATOR__BASE_URL", stub.url)
        code, output = run_cli("--gold", str(gold), "--answer", "generated", "--json", str(report_path))
    assert code == 0, output
    for shown in ("generated_share", "fallback_rate", "dropped_rate", "citation_precision", "answer_contains",
                  "fallback: malformed", "generated"):
        assert shown in output, shown
    report = json.loads(report_path.read_text())
    assert report["summary"]["citation_precision"] == 1.0 and set(report["splits"]) == {"dev", "test"}
