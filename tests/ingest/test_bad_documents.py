"""A hostile corpus: every good document is indexed, every bad one is reported with its reason."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from corpus_tools import ROOT, make_pdf

from rag.config import load_settings
from rag.index.build import build_index, load_corpus
from rag.index.reader import open_index

pytestmark = pytest.mark.slow  # real model, index, server or browser (not in make test-fast)

GOOD_TEXT = "The lighthouse keeper counted {n} ships passing the northern cape in a single night.\n"


def build_hostile_corpus(root: Path, big_mb: int) -> tuple[set[str], dict[str, str]]:
    """Returns (doc_ids that must be indexed, file name -> word expected in its skip reason)."""
    root.mkdir(parents=True, exist_ok=True)
    good: set[str] = set()
    bad: dict[str, str] = {}

    def write_good(rel: str) -> None:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(GOOD_TEXT.format(n=len(good) + 3))
        good.add(str(Path(rel).with_suffix("").as_posix()))

    write_good("plain.txt")
    write_good("name with spaces.txt")
    write_good("zürich café 東京.md")
    write_good("/".join(f"level{i}" for i in range(40)) + "/deep.txt")
    make_pdf(root / "real.pdf", ["A real PDF page about harbour lights."])
    good.add("real")

    (root / "empty.txt").write_text("")
    bad["empty.txt"] = "empty"
    (root / "binary.txt").write_bytes(os.urandom(4096).replace(b"\n", b"\0") + b"\0")
    bad["binary.txt"] = "binary"
    (root / "invalid-utf8.txt").write_bytes(b"Valid start \xff\xfe\xfa then broken bytes.\n")
    bad["invalid-utf8.txt"] = "UTF-8"
    with open(root / "huge.txt", "wb") as handle:
        line = b"All work and no play makes a very large file indeed.\n"
        handle.writelines(line for _ in range(big_mb * 2**20 // len(line) + 1))
    bad["huge.txt"] = "limit"
    scanned = make_pdf(root / "scanned.pdf", [""])
    bad[scanned.name] = "no text layer"
    whole = make_pdf(root / "whole.pdf", ["Text that will be cut off."]).read_bytes()
    (root / "truncated.pdf").write_bytes(whole[: len(whole) // 2])
    (root / "whole.pdf").unlink()
    bad["truncated.pdf"] = "PDF"
    os.symlink("loop-b.txt", root / "loop-a.txt")
    os.symlink("loop-a.txt", root / "loop-b.txt")
    bad["loop-a.txt"] = "symbolic links"
    bad["loop-b.txt"] = "symbolic links"
    os.symlink("..", root / "level0" / "up")  # a directory loop: never followed
    locked = root / "locked.txt"
    locked.write_text(GOOD_TEXT.format(n=99))
    locked.chmod(0)
    if os.geteuid() == 0:  # root reads any file: the file is simply indexed
        good.add("locked")
    else:
        bad["locked.txt"] = "permission"
    (root / "vanishing.txt").write_text(GOOD_TEXT.format(n=1234))
    bad["vanishing.txt"] = "disappeared"
    return good, bad


class DeleteWhileIndexing:
    """A progress hook that deletes a file after the corpus was listed, before it is read."""

    def __init__(self, victim: Path) -> None:
        self.victim = victim

    def stage(self, name: str, total: int) -> None:
        pass

    def advance(self, n: int) -> None:
        if self.victim.exists():
            self.victim.unlink()


def test_hostile_corpus_is_indexed_and_reported(tmp_path: Path):
    big_mb = int(os.environ.get("RAG_BIG_FILE_MB", "200"))
    root = tmp_path / "corpus"
    good, bad = build_hostile_corpus(root, big_mb)
    settings = load_settings(index_dir=tmp_path / "index")
    documents, skipped = load_corpus(settings, [root], DeleteWhileIndexing(root / "vanishing.txt"))
    assert {d.doc_id for d in documents} == good
    reasons = {Path(s.path).name: s.reason for s in skipped}
    assert set(reasons) == set(bad), reasons
    for name, word in bad.items():
        assert word.lower() in reasons[name].lower(), (name, reasons[name])

    report = build_index(settings, [root])
    assert report.documents == len(good)
    index = open_index(settings)
    assert "zürich café 東京" in index.documents and "name with spaces" in index.documents


def test_cli_exit_status_reflects_whether_anything_was_indexed(tmp_path: Path):
    root = tmp_path / "corpus"
    _, bad = build_hostile_corpus(root, big_mb=60)
    run = subprocess.run([sys.executable, "-m", "rag.cli", "index", str(root), "--index-dir",
                          str(tmp_path / "index")],
                         cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    assert run.returncode == 0, run.stderr
    for name in bad:
        if name != "vanishing.txt":
            assert f"skipped {root / name}:" in run.stderr
    nothing = tmp_path / "nothing-good"
    nothing.mkdir()
    (nothing / "empty.txt").write_text("")
    (nothing / "photo.jpg").write_bytes(b"\xff\xd8\xff")
    run = subprocess.run([sys.executable, "-m", "rag.cli", "index", str(nothing), "--index-dir",
                          str(tmp_path / "index2")],
                         cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    assert run.returncode == 1 and "nothing could be indexed" in run.stderr
    assert "Traceback" not in run.stderr


