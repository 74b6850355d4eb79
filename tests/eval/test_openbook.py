"""`rag eval --openbook`: a RealTime QA year folder (qa.jsonl + gcs.jsonl.gz) written here, its search
results pooled by URL, every question asked over its own results and over the pool as of its day
(fast tier: FakeEncoder, real FAISS and BM25); the figures on known answers; blind years refused
before any file is read."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from fakes import fake_settings
from typer.testing import CliRunner

from rag import FakeEncoder, InputError
from rag.cli import app
from rag.config import AnswerSettings
from rag.eval import openbook
from rag.eval.openbook import (
    OpenBookQuestion,
    doc_id_for,
    evidence_urls,
    gold_answer,
    judge,
    load_year,
    run_openbook,
    summarize,
)
from rag.types import Answer, Citation

BEES = ("https://example.com/bees", "Bee census",
        "The national bee census counted 41,000 hives this spring. Beekeepers blamed the cold April.",
        "2025/01/02")
PILOTS = ("https://example.com/pilots", "Harbour pilots strike",
          "Harbour pilots in Rotterdam went on strike for nine days in June. They demanded a pension.",
          "2025/01/03")
VOLCANO = ("https://example.com/volcano", "Volcano trail",
           "The trail to the crater of Mount Arden reopened on Monday after rangers closed it in March.",
           "2025/01/20")
QA = [
    {"question_id": "20250103_0", "question_date": "2025/01/03", "question_sentence":
     "How many hives did the national bee census count?", "choices": ["410", "41,000", "4", "9"],
     "answer": ["1"], "evidence": '<p>See <a class="x" href="https://www.example.com/bees/">the census</a>.</p>'},
    {"question_id": "20250103_1", "question_date": "2025/01/03", "question_sentence":
     "How long did the Rotterdam harbour pilots strike?", "choices": ["two days", "nine days", "a week", "a year"],
     "answer": "1", "evidence": '<a href="https://elsewhere.org/story">x</a>'},
    {"question_id": "20250110_0", "question_date": "2025/01/10", "question_sentence":
     "When did the Mount Arden crater trail reopen?", "choices": ["Monday", "Friday", "June", "never"],
     "answer": ["0"], "evidence": ""},
]
# the bee article comes back for two questions (pooled once); the pilots question's own results miss
# the pilots article (only the pool holds it); the third question has no results; the volcano
# article is dated after every question day (the pool asked as of the day never cites it)
GCS = [
    {"question_id": "20250103_0", "search_result": [PILOTS, BEES, VOLCANO]},
    {"question_id": "20250103_1", "search_result": [BEES]},
    {"question_id": "20250110_0", "search_result": []},
]


def write_year(folder: Path, gcs: list[dict] = GCS) -> Path:
    folder.mkdir(parents=True)
    (folder / "qa.jsonl").write_text("".join(json.dumps(q) + "\n" for q in QA))
    rows = [{"question_id": r["question_id"], "search_time": "2025/01/04/00:09",
             "search_result": [{"url": u, "title": t, "text": x, "authors": [], "publish_date": d}
                               for u, t, x, d in r["search_result"]]} for r in gcs]
    with gzip.open(folder / "gcs.jsonl.gz", "wt", encoding="utf-8") as handle:
        handle.writelines(json.dumps(r) + "\n" for r in rows)
    return folder


def test_search_results_are_pooled_once_per_url_with_dates_and_each_question_keeps_its_own(tmp_path):
    data = load_year(write_year(tmp_path / "2025"))
    assert data.results == 4 and len(data.documents) == 3
    by_url = {d.source: d for d in data.documents}
    assert set(by_url) == {BEES[0], PILOTS[0], VOLCANO[0]}
    assert by_url[BEES[0]].date == "2025-01-02" and by_url[BEES[0]].title == "Bee census"
    assert by_url[BEES[0]].text.startswith("Bee census\n\nThe national bee census")
    own = {q.id: q.doc_ids for q in data.questions}
    assert own == {"20250103_0": [doc_id_for(PILOTS[0]), doc_id_for(BEES[0]), doc_id_for(VOLCANO[0])],
                   "20250103_1": [doc_id_for(BEES[0])], "20250110_0": []}
    assert [q.gold for q in data.questions] == ["41,000", "nine days", "Monday"]
    assert [q.day for q in data.questions] == ["2025-01-03", "2025-01-03", "2025-01-10"]


def test_gold_answer_reads_a_list_or_a_string_and_evidence_links_are_extracted():
    assert gold_answer({"choices": ["a", "b", "c"], "answer": ["2"]}) == "c"
    assert gold_answer({"choices": ["a", "b", "c"], "answer": "1"}) == "b"
    assert gold_answer({"choices": ["a", "b", "c"], "answer": "['0']"}) == "a"
    with pytest.raises(InputError):
        gold_answer({"choices": ["a"], "answer": ["3"], "question_id": "q"})
    assert evidence_urls('x <a href="https://a.com/1?x=1&amp;y=2">1</a> <A HREF=\'http://b.org/\'>2</a>') == \
        ["https://a.com/1?x=1&y=2", "http://b.org/"]


@pytest.mark.parametrize("name", ["2026", "2031"])
def test_a_blind_year_is_refused_before_any_file_is_read(tmp_path, monkeypatch, name):
    folder = write_year(tmp_path / name)

    def poisoned(path):
        raise AssertionError(f"{path} was opened")

    monkeypatch.setattr(openbook, "_read_jsonl", poisoned)
    with pytest.raises(InputError, match="blind"):
        load_year(folder)
    (tmp_path / "link").mkdir()
    (tmp_path / "link" / "2025").symlink_to(folder)  # a 2025 name pointing at a blind year
    with pytest.raises(InputError, match="blind"):
        load_year(tmp_path / "link" / "2025")
    result = CliRunner().invoke(app, ["eval", "--openbook", str(folder), "--index-dir", str(tmp_path / "idx")])
    assert result.exit_code == 1 and "blind" in result.output
    assert not (tmp_path / "idx").exists()


def test_a_folder_not_named_as_a_year_is_refused(tmp_path):
    with pytest.raises(InputError, match="year folder"):
        load_year(write_year(tmp_path / "latest"))


def _citation(doc_id: str) -> Citation:
    return Citation(n=1, doc_id=doc_id, title="t", source="s", start=0, end=1, quote="x", score=1.0)


def test_figures_on_known_answers():
    item = OpenBookQuestion(id="q", question="How many hives?", day="2025-01-03", gold="41,000",
                            evidence_urls=["https://www.example.com/bees/"], doc_ids=["d1"])
    urls = {"d1": "https://example.com/bees", "d2": "https://example.com/pilots"}
    pooled = {openbook.url_key(u) for u in urls.values()}
    said = Answer(question=item.question, answer="The census counted 41,000 hives [1].", abstained=False,
                  citations=[_citation("d1")])
    row = judge(item, said, 12.0, urls, pooled)
    assert row["contains"] and row["first_citation_hit"] is True and row["evidence_in_pool"]
    assert row["answer_f1"] == pytest.approx(2 * (1 / 4) * 1 / (1 / 4 + 1), abs=1e-4)  # 1 of 4 tokens
    assert row["short_f1"] == 0.0 and row["short_answer"] is None  # no short answer: F1 0
    short = said.model_copy(update={"short_answer": SimpleNamespace(text="41,000 hives")})
    assert judge(item, short, 12.0, urls, pooled)["short_f1"] == pytest.approx(2 / 3, abs=1e-4)
    wrong = said.model_copy(update={"answer": "Beekeepers blamed April [1].", "citations": [_citation("d2")]})
    miss = judge(item, wrong, 30.0, urls, pooled)
    assert not miss["contains"] and miss["first_citation_hit"] is False and miss["answer_f1"] == 0.0
    refused = Answer(question=item.question, answer="The documents do not say 41,000.", abstained=True)
    nothing = judge(item, refused, 20.0, urls, pooled)
    assert nothing["abstained"] and not nothing["contains"] and nothing["first_citation_hit"] is False
    unasked = judge(item, None, None, urls, pooled)
    outside = judge(item.__class__(**{**item.__dict__, "evidence_urls": ["https://elsewhere.org/x"]}),
                    said, 40.0, urls, pooled)
    assert outside["first_citation_hit"] is None and not outside["evidence_in_pool"]
    figures = summarize([row, miss, nothing, unasked, outside])
    assert figures == {
        "questions": 5, "asked": 4, "answer_contains": 0.4, "short_answer_f1": 0.0, "short_answers": 0,
        "answer_f1": round(2 * row["answer_f1"] / 5, 4), "first_citation_hit": round(1 / 4, 4),
        "evidence_in_pool": 4, "refusal_rate": 0.4, "latency_p50_ms": 25.0}


def _settings(index_dir: Path):
    off = {"answer.reader": "off"} if "reader" in AnswerSettings.model_fields else {}
    return fake_settings(index_dir, **off)


def test_every_question_is_asked_over_its_own_results_and_over_the_pool_as_of_its_day(tmp_path):
    folder = write_year(tmp_path / "2025")
    settings, encoder = _settings(tmp_path / "index"), FakeEncoder(name="fake-hash")
    report = run_openbook(folder, settings, encoder=encoder)
    assert (report["questions"], report["documents"], report["without_results"]) == (3, 3, 1)
    assert not report["build"]["reused"]
    rows = {r["id"]: r for r in report["rows"]}
    own_ids = {q.id: set(q.doc_ids) for q in load_year(folder).questions}
    for qid, row in rows.items():
        cited = row["own"]["first_cited"]
        assert cited is None or openbook.doc_id_for(cited) in own_ids[qid], (qid, row["own"])
        assert row["pool"]["asked"]
        assert row["pool"]["first_cited"] != VOLCANO[0], row["pool"]  # dated after every question day
    assert not rows["20250110_0"]["own"]["asked"] and rows["20250110_0"]["own"]["abstained"]
    assert rows["20250103_0"]["own"]["evidence_in_pool"] and not rows["20250103_1"]["own"]["evidence_in_pool"]
    assert report["settings"]["own"]["asked"] == 2 and report["settings"]["pool"]["asked"] == 3
    assert report["settings"]["own"]["evidence_in_pool"] == 1
    assert rows["20250103_1"]["pool"]["first_cited"] == PILOTS[0] and rows["20250103_1"]["pool"]["contains"]
    assert rows["20250103_1"]["own"]["first_cited"] in (None, BEES[0])  # its own results lack the answer
    assert rows["20250103_0"]["own"]["first_cited"] == BEES[0] and rows["20250103_0"]["own"]["contains"]
    assert report["gold_in_own_results"] == round(1 / 3, 4)
    again = run_openbook(folder, settings, encoder=encoder, limit=1)
    assert again["build"]["reused"] and again["questions"] == 1 and len(again["rows"]) == 1
    table = openbook.format_openbook_table(report)
    assert "| own |" in table and "| pool |" in table


def test_a_limited_run_pools_only_the_sampled_questions_results(tmp_path):
    gcs = [{"question_id": "20250103_0", "search_result": [BEES]},
           {"question_id": "20250103_1", "search_result": [PILOTS, BEES]},
           {"question_id": "20250110_0", "search_result": [VOLCANO]}]
    folder = write_year(tmp_path / "2025", gcs)
    settings, encoder = _settings(tmp_path / "index"), FakeEncoder(name="fake-hash")
    sample = run_openbook(folder, settings, encoder=encoder, limit=1)
    assert (sample["questions"], sample["documents"], sample["search_results"]) == (1, 1, 1)
    assert not sample["build"]["reused"]
    whole = run_openbook(folder, settings, encoder=encoder)
    assert (whole["questions"], whole["documents"], whole["search_results"]) == (3, 3, 4)
    assert not whole["build"]["reused"]  # another pool: built again
