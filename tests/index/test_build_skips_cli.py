"""Issue 25, item 1, through the real `rag index` and `rag search` (real model): a PDF whose font
map decodes to a lone surrogate aborted every build with a TypeError traceback from the
tokenizer. Now its text is cleaned (U+FFFD) and indexed with the seeds, and a file with nothing
indexable is skipped with its reason; exit 0, no traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from corpus_tools import ROOT, SEED_IDS, copy_seeds, surrogate_pdf

pytestmark = pytest.mark.slow  # real model, index, server, CLI process or browser (not in make test-fast)


def rag(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")} | {"COLUMNS": "300"}
    return subprocess.run([sys.executable, "-m", "rag.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=600, check=False, env=env)


def test_rag_index_cleans_a_surrogate_pdf_and_skips_what_it_cannot_index(tmp_path):
    root = copy_seeds(tmp_path / "corpus")
    surrogate_pdf(root / "lights.pdf")
    (root / "chrome.txt").write_text("Advertisement\nShare this article\n")
    index_dir = str(tmp_path / "index")
    built = rag("index", str(root), "--index-dir", index_dir)
    assert built.returncode == 0 and "Traceback" not in built.stderr, built.stderr[-3000:]
    assert f"indexed {len(SEED_IDS) + 1} documents" in built.stdout, built.stdout
    assert "chrome.txt: no indexable text after cleaning" in built.stderr, built.stderr
    found = rag("search", "harbour lights shine on the northern cape", "--index-dir", index_dir, "--json", "-k", "1")
    assert found.returncode == 0, found.stderr[-3000:]
    [hit] = json.loads(found.stdout)
    assert hit["doc_id"] == "lights" and "\ufffd harbour lights" in hit["text"], hit
