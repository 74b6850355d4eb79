"""`rag eval --beir DIR --answers` end to end: a tiny BEIR folder with answers and dates, the real
model and index, answers through the real ask path, scored per half."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from corpus_tools import ROOT

pytestmark = pytest.mark.slow  # real model, index and CLI process

DOCS = {
    "d1": ("Harbour pilots strike", ("Harbour pilots in Rotterdam went on strike for nine days in June. "
           "They demanded a pension fund of their own. Ferries kept running during the strike.")),
    "d2": ("Bee census", ("The national bee census counted 41,000 hives this spring. Beekeepers blamed "
           "the cold April for the losses. The census is held every three years.")),
    "d3": ("Volcano reopens", ("The trail to the crater of Mount Arden reopened on Monday. Rangers had "
           "closed it after a small eruption in March.")),
}
QUERIES = [
    {"_id": "20220801_0", "text": "How long did the Rotterdam harbour pilots strike?", "answers": ["nine days"],
     "choices": ["two days", "nine days", "a month", "a year"], "answer_index": [1], "question_date": "2022/08/01"},
    {"_id": "20220909_0", "text": "How many hives did the bee census count?", "answers": ["41,000 hives"],
     "choices": ["410", "4,100", "41,000 hives", "a million"], "answer_index": [2], "question_date": "2022/09/09"},
]
QRELS = {"20220801_0": "d1", "20220909_0": "d2"}


def write_folder(folder: Path) -> Path:
    (folder / "qrels").mkdir(parents=True)
    (folder / "corpus.jsonl").write_text("".join(json.dumps({"_id": d, "title": t, "text": x}) + "\n"
                                                 for d, (t, x) in DOCS.items()))
    (folder / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in QUERIES))
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" +
                                               "".join(f"{q}\t{d}\t1\n" for q, d in QRELS.items()))
    return folder


def test_cli_answers_every_query_and_reports_each_half(tmp_path: Path):
    folder = write_folder(tmp_path / "tiny")
    report_path = tmp_path / "report.json"
    command = [sys.executable, "-m", "rag.cli", "eval", "--beir", str(folder), "--answers",
               "--index-dir", str(tmp_path / "index"), "--json", str(report_path)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "20220909_0" in done.stdout and "summary" in done.stdout
    report = json.loads(report_path.read_text())
    assert set(report["splits"]) == {"dev", "test"}
    assert report["splits"]["dev"]["questions"] == 1 and report["splits"]["test"]["questions"] == 1
    rows = {q["id"]: q for q in report["questions"]}
    assert rows["20220801_0"]["split"] == "dev" and rows["20220909_0"]["split"] == "test"
    for row in rows.values():
        assert row["hit1"] and row["contains"] and row["choice_correct"], row
    assert report["summary"]["answer_contains"] == 1.0 and report["summary"]["choice_accuracy"] == 1.0
    assert not report["build"]["reused"]
    again = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    assert again.returncode == 0 and json.loads(report_path.read_text())["build"]["reused"]
    half = subprocess.run(command + ["--split", "test"], cwd=ROOT, capture_output=True, text=True,
                          timeout=600, check=False)
    assert half.returncode == 0, half.stderr[-2000:]
    only_test = json.loads(report_path.read_text())
    assert [q["id"] for q in only_test["questions"]] == ["20220909_0"] and set(only_test["splits"]) == {"test"}
