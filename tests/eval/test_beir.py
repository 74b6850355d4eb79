"""`rag eval --beir` end to end on a tiny BEIR folder written by the test (real model, real index)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from corpus_tools import ROOT

from rag.config import load_settings
from rag.eval.beir import load_beir, run_beir

pytestmark = pytest.mark.slow  # real model, index, server or browser (not in make test-fast)

DOCS = {
    "d1": ("Lighthouses", "Lighthouse keepers trimmed the lamp wicks every night on the northern cape."),
    "d2": ("Bees", "Honey bees communicate the direction of flowers with a waggle dance."),
    "d3": ("Volcanoes", "Basaltic lava flows from shield volcanoes such as Mauna Loa in Hawaii."),
    "d4": ("Tides", "The gravitational pull of the moon produces two high tides each day."),
}
QUERIES = {"q1": "how do bees tell each other where flowers are",
           "q2": "what causes high tide", "q3": "lamp care at a lighthouse"}
QRELS = {"q1": "d2", "q2": "d4", "q3": "d1"}


def write_beir(folder: Path) -> Path:
    (folder / "qrels").mkdir(parents=True)
    with open(folder / "corpus.jsonl", "w") as out:
        out.writelines(json.dumps({"_id": doc_id, "title": title, "text": text}) + "\n" for doc_id, (title, text) in DOCS.items())
    with open(folder / "queries.jsonl", "w") as out:
        out.writelines(json.dumps({"_id": qid, "text": text}) + "\n" for qid, text in QUERIES.items())
    lines = ["query-id\tcorpus-id\tscore"] + [f"{q}\t{d}\t1" for q, d in QRELS.items()]
    (folder / "qrels" / "test.tsv").write_text("\n".join(lines) + "\n")
    return folder


def test_load_beir_reads_the_layout(tmp_path: Path):
    documents, queries, qrels = load_beir(write_beir(tmp_path / "tiny"))
    assert {d.doc_id for d in documents} == set(DOCS) and queries == QUERIES
    assert qrels == {q: {d: 1} for q, d in QRELS.items()}
    assert documents[0].title == "Lighthouses" and documents[0].text.startswith("Lighthouses\n\n")


def test_run_beir_scores_every_mode_and_agrees_with_the_reference(tmp_path: Path):
    folder = write_beir(tmp_path / "tiny")
    report = run_beir(folder, load_settings(index_dir=tmp_path / "index"))
    for mode in ("dense", "keyword", "hybrid"):
        assert report["modes"][mode]["ndcg@10"] > 0.8, report["modes"][mode]
    assert report["reference"]["max_abs_diff"] < 1e-4
    again = run_beir(folder, load_settings(index_dir=tmp_path / "index"))
    assert again["build"]["reused"] and again["modes"] == {**again["modes"]}


def test_cli_beir_prints_the_table(tmp_path: Path):
    folder = write_beir(tmp_path / "tiny")
    out = tmp_path / "report.json"
    run = subprocess.run([sys.executable, "-m", "rag.cli", "eval", "--beir", str(folder), "--index-dir",
                          str(tmp_path / "index"), "--json", str(out)], cwd=ROOT, capture_output=True,
                         text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stderr
    assert "| hybrid |" in run.stdout and json.loads(out.read_text())["queries"] == 3
