"""`rag watch` keeps a served index in sync with its corpus folder: a file added, changed and
deleted is reflected in answers within seconds, and each build embeds only that file's text.

A real `rag watch` subprocess over a copy of seeds/, a real server over a copy of the seeds
index (embedding cache included) that swaps each build in. Timings go to
test-artifacts/watch.json.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.slow  # real model, index, server, CLI process or browser (not in make test-fast)

ROOT = Path(__file__).resolve().parents[2]
ARTICLE = ROOT / "tests" / "data" / "varnhold.txt"
QUESTION = "How much did the reconstruction of the Varnhold harbor cost?"
BUILD_LINE = re.compile(r"(\d+ changed file\(s\)|initial sync): (\d+) documents, (\d+) chunks; embedded (\d+), reused (\d+)")


@pytest.fixture
def watched(seeds_index, start_server, tmp_path):
    docs, index_dir = tmp_path / "docs", tmp_path / "index"
    shutil.copytree(ROOT / "seeds", docs)
    shutil.copytree(seeds_index.index_dir, index_dir, symlinks=True)
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("RAG_")},
           "RAG_INDEX_DIR": str(index_dir), "RAG_CORPUS__PATHS": json.dumps([str(docs)]),
           "RAG_CORPUS__WATCH_DEBOUNCE_MS": "200"}
    log = tmp_path / "watch.log"
    with open(log, "w") as out:
        watcher = subprocess.Popen([sys.executable, "-m", "rag.cli", "watch"], cwd=ROOT, env=env,
                                   stdout=out, stderr=subprocess.STDOUT)
    server = start_server(index_dir, env={"RAG_API__RELOAD_INTERVAL_S": "0.3"})
    try:
        wait_for_builds(log, 1)
        yield server, docs, log
    finally:
        watcher.terminate()
        watcher.wait(20)


def builds(log: Path) -> list[tuple[int, int, int, int]]:
    return [tuple(int(g) for g in m.groups()[1:]) for m in BUILD_LINE.finditer(log.read_text())]


def wait_for_builds(log: Path, count: int, timeout: float = 120) -> tuple[int, int, int, int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(found := builds(log)) >= count:
            return found[count - 1]
        time.sleep(0.1)
    raise AssertionError(f"no build {count} within {timeout}s; watcher log:\n{log.read_text()[-3000:]}")


def wait_for_answer(server, check, timeout: float = 30) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        answer = httpx.post(f"{server.url}/ask", json={"question": QUESTION}, timeout=60).json()
        if check(answer):
            return time.monotonic() - started
        time.sleep(0.1)
    raise AssertionError(f"answer never changed as expected; last: {answer}")


def test_add_change_delete_are_reflected_within_seconds(watched, artifacts):
    server, docs, log = watched
    assert builds(log)[0][2] == 0, "the initial sync embeds nothing: all of it is cached"
    assert httpx.post(f"{server.url}/ask", json={"question": QUESTION}, timeout=60).json()["abstained"]
    figures = {}

    shutil.copy(ARTICLE, docs / "varnhold.txt")
    figures["add_s"] = wait_for_answer(server, lambda a: not a["abstained"] and "48 million" in
                                       a["citations"][0]["quote"])
    documents, _, embedded, reused = wait_for_builds(log, 2)
    assert documents == 6 and embedded == 8 and reused == 188, builds(log)

    (docs / "varnhold.txt").write_text(ARTICLE.read_text().replace("48 million", "52 million"))
    figures["change_s"] = wait_for_answer(server, lambda a: not a["abstained"] and "52 million" in
                                          a["citations"][0]["quote"])
    documents, _, embedded, _ = wait_for_builds(log, 3)
    # the changed chunk only: one encoder pass, its 7 sentences pooled from it (late), as when added
    assert documents == 6 and embedded == 8, builds(log)

    (docs / "varnhold.txt").unlink()
    figures["delete_s"] = wait_for_answer(server, lambda a: a["abstained"])
    documents, _, embedded, _ = wait_for_builds(log, 4)
    assert documents == 5 and embedded == 0, builds(log)

    figures = {k: round(v, 2) for k, v in figures.items()} | {"builds": builds(log)}
    (artifacts / "watch.json").write_text(json.dumps(figures, indent=2))
    print(figures)
    assert max(figures["add_s"], figures["change_s"], figures["delete_s"]) < 15
