"""`rag calibrate` end to end: fits on a gold file's dev split over a real index, writes the model into
the index folder, `rag info` and answers use it, and deleting it returns to the packaged one."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
from corpus_tools import ROOT

from rag import load_calibration

pytestmark = pytest.mark.slow  # real model, index and CLI processes

GOLD = ROOT / "eval" / "seeds.jsonl"


def rag(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rag.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=600, check=False, env={**os.environ, **(env or {})})


# the fitted file's threshold decides with the reader off; with it on, its probability is one input
# of the reader's refusal model (reader.json), whose own threshold decides
OFF = {"RAG_ANSWER__READER": "off"}


def test_calibrate_writes_a_fit_that_answers_then_use(seeds_index, tmp_path):
    index_dir = tmp_path / "index"
    shutil.copytree(seeds_index.index_dir, index_dir, symlinks=True)
    done = rag("calibrate", "--gold", str(GOLD), "--split", "dev", "--index-dir", str(index_dir))
    assert done.returncode == 0, done.stderr[-2000:]
    fitted = json.loads((index_dir / "calibration.json").read_text())
    assert fitted["fitted_on"]["rows"] == 54 and fitted["fitted_on"]["answerable"] == 41
    assert f"refuse below P = {fitted['threshold']:.3f}" in done.stdout
    info = rag("info", "--index-dir", str(index_dir))
    assert str(index_dir / "calibration.json") in info.stdout and "the build recorded" in info.stdout
    model, path = load_calibration(index_dir)
    assert path == str(index_dir / "calibration.json") and model.threshold == fitted["threshold"]
    # an impossible cut set through the fitted file refuses everything, through the real CLI
    (index_dir / "calibration.json").write_text(json.dumps({**fitted, "threshold": 1.0}))
    asked = rag("ask", "Which generals are negotiating the peace?", "--index-dir", str(index_dir), "--json", env=OFF)
    assert json.loads(asked.stdout)["abstained"] is True
    (index_dir / "calibration.json").unlink()
    asked = rag("ask", "Which generals are negotiating the peace?", "--index-dir", str(index_dir), "--json", env=OFF)
    assert json.loads(asked.stdout)["abstained"] is False


def test_calibrate_refuses_a_gold_set_without_unanswerable_questions(seeds_index, tmp_path):
    gold = tmp_path / "only-answerable.jsonl"
    gold.write_text("\n".join(line for line in GOLD.read_text().splitlines() if '"answerable": true' in line))
    done = rag("calibrate", "--gold", str(gold), "--index-dir", str(seeds_index.index_dir))
    assert done.returncode == 1 and "both answerable and unanswerable" in done.stderr
    assert not (seeds_index.index_dir / "calibration.json").exists()
