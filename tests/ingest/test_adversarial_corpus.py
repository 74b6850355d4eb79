"""The seeds plus more than 30 kinds of hostile file in one folder, through the real `rag index`.

Acceptance of issue 13: exit 0, the seeds and every harmless odd file indexed, every bad file
named on stderr with its reason, no traceback; nothing from outside the corpus folder is indexed
or served (/documents and search).
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import httpx
import pytest
from corpus_tools import ROOT, SEED_IDS, copy_seeds, make_pdf

pytestmark = pytest.mark.slow  # real model, index, server, CLI process or browser (not in make test-fast)

GOOD = "The lighthouse keeper counted {n} ships passing the northern cape in a single night.\n"
SECRET = "SECRET-OUTSIDE-7f3a root:x:0:0:root:/root:/bin/bash\n"


def encrypted_pdf(path: Path) -> Path:
    from reportlab.lib import pdfencrypt
    from reportlab.pdfgen import canvas

    pdf = canvas.Canvas(str(path), encrypt=pdfencrypt.StandardEncryption("user-pw", canPrint=0))
    pdf.drawString(50, 800, "Encrypted harbour report.")
    pdf.save()
    return path


def zip_bomb() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("zeros.bin", b"\0" * 20 * 2**20)
    return buffer.getvalue()


def build(root: Path, outside: Path) -> tuple[set[str], dict[str, str]]:
    """Write the hostile corpus. Returns (doc_ids indexed besides the seeds, name -> reason word)."""
    copy_seeds(root)
    outside.mkdir()
    (outside / "secret.txt").write_text(SECRET)
    good: set[str] = set()
    bad: dict[str, str] = {}

    def text(name: str, data: str | bytes, reason: str | None) -> None:
        path = root / name
        path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
        if reason is None:
            good.add(Path(name).with_suffix("").as_posix())
        else:
            bad[name] = reason

    os.symlink("/etc/passwd", root / "passwd.txt")
    bad["passwd.txt"] = "outside the corpus"
    os.symlink(outside / "secret.txt", root / "notes.md")
    bad["notes.md"] = "outside the corpus"
    os.symlink("../outside/secret.txt", root / "relative-escape.txt")
    bad["relative-escape.txt"] = "outside the corpus"
    os.symlink("/dev/zero", root / "zero.txt")
    bad["zero.txt"] = "outside the corpus"
    os.symlink("/nonexistent/target", root / "dangling.txt")
    bad["dangling.txt"] = "outside the corpus"
    os.symlink("loop-b.txt", root / "loop-a.txt")
    os.symlink("loop-a.txt", root / "loop-b.txt")
    bad["loop-a.txt"] = bad["loop-b.txt"] = "symbolic links"
    os.mkfifo(root / "fifo.txt")
    bad["fifo.txt"] = "named pipe"
    os.symlink(outside, root / "linked-dir")  # a folder link: never followed
    text("nul-bytes.txt", b"Some text\x00with NUL bytes\x00inside.\n", "binary")
    text("long-line.txt", "word " * 10_000 + "\n", None)  # 50,000 characters on one line
    text("spaces.txt", " " * 2**20, "empty")
    text("dots.txt", "." * 2**20, "no indexable text")  # issue 25: no chunk, so no document
    text("spaces-between.txt", "Harbour" + " " * 2**20 + "lights.", None)
    text("deep.html", "<div>" * 50_000 + "Deep harbour text." + "</div>" * 50_000, None)
    text("fragment.html", "<p>x</p><![x y]>", "could not be parsed")
    text("version.txt", "Release notes\nVersion 2024-13-01\nThe build is faster now.\n", None)
    text("zip-bomb.pdf", zip_bomb(), "PDF")
    text("utf16-bom.txt", "Harbour lights in UTF-16.\n".encode("utf-16"), None)  # decoded by its BOM
    text("utf16-broken.txt", b"\xff\xfeH\x00\x00\xd8", "UTF-16")
    text("crlf.txt", "First line of the harbour log.\r\nSecond line.\r\n", None)
    text("lone-cr.txt", "Old Mac harbour log.\rSecond line.\r", None)
    text("rtl.txt", "\u05e9\u05dc\u05d5\u05dd \u202eevil.exe\u202c harbour \u0627\u0644\u0645\u064a\u0646\u0627\u0621.\n", None)
    whole = make_pdf(root / "whole.pdf", ["A harbour report that will be cut."]).read_bytes()
    (root / "whole.pdf").unlink()
    text("broken-xref.pdf", re.sub(rb"startxref\s+\d+", b"startxref\n999999", whole), None)  # pypdf recovers
    text("no-xref.pdf", whole.replace(b"xref", b"xrof"), "PDF")
    text("truncated.pdf", whole[: len(whole) // 2], "PDF")
    encrypted_pdf(root / "encrypted.pdf")
    bad["encrypted.pdf"] = "PDF"
    text("empty.txt", b"", "empty")
    text("garbage.txt", bytes(range(256)) * 16, "binary")
    text("invalid-utf8.txt", b"Valid start \xff\xfe\xfa then broken bytes.\n", "UTF-8")
    with open(root / "huge.txt", "wb") as handle:
        handle.truncate(3 * 2**20)  # sparse: over the 2 MB cap set below
    bad["huge.txt"] = "limit"
    text("locked.txt", GOOD.format(n=7), None if os.geteuid() == 0 else "permission")
    (root / "locked.txt").chmod(0)
    (root / "x.txt").mkdir()  # a folder named like a file is walked, not read
    text("x.txt/inside.txt", GOOD.format(n=8), None)
    text("records.jsonl", '{"a": 1}\n', "unsupported")
    text("photo.jpg", b"\xff\xd8\xff\xe0", "unsupported")
    text("front-matter.md", "---" + "\n" * 100_000, "no indexable text")
    text("markup.txt", "Harbour [bold]log[/bold] :smile: root:x:9:9 entry.\n", None)
    text("bom-only.txt", "\ufeff", "no text")
    return good, bad


def test_hostile_corpus_through_the_cli_and_the_server(tmp_path, start_server):
    root = tmp_path / "corpus"
    good, bad = build(root, tmp_path / "outside")
    index_dir = tmp_path / "index"
    env = {**os.environ, "RAG_CORPUS__MAX_FILE_MB": "2"}
    run = subprocess.run([sys.executable, "-m", "rag.cli", "index", str(root), "--index-dir", str(index_dir)],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)
    (root / "locked.txt").chmod(0o644)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "Traceback" not in run.stderr + run.stdout
    skipped = {line.split(": ", 1)[0].removeprefix(f"skipped {root}/"): line.split(": ", 1)[1]
               for line in run.stderr.splitlines() if line.startswith(f"skipped {root}/")}
    assert set(skipped) == set(bad), (set(skipped) ^ set(bad), run.stderr[-3000:])
    for name, word in bad.items():
        assert word.lower() in skipped[name].lower(), (name, skipped[name])
    assert f"{len(bad)} file(s) skipped:" in run.stdout, run.stdout

    server = start_server(index_dir)
    listed = {d["doc_id"] for d in httpx.get(f"{server.url}/documents", timeout=60).json()["documents"]}
    assert listed == set(SEED_IDS) | good, listed ^ (set(SEED_IDS) | good)
    stored = (index_dir / "current" / "documents.jsonl").read_text()
    assert "SECRET-OUTSIDE" not in stored and "root:x:0:0" not in stored
    for query in ("SECRET-OUTSIDE root:x:0:0", "root bin bash"):
        hits = httpx.post(f"{server.url}/search", json={"query": query, "k": 20}, timeout=60).json()["passages"]
        assert not any("SECRET-OUTSIDE" in h["text"] or "root:x:0:0" in h["text"] for h in hits)
    answer = httpx.post(f"{server.url}/ask", json={"question": "Which generals are negotiating the peace?"},
                        timeout=60).json()
    assert not answer["abstained"] and answer["citations"][0]["doc_id"] in SEED_IDS
