"""Issue 25, items 1, 3 and 7, over a real server: uploads cannot wedge the service or touch the
user's files. Each test failed on the code before the fix.

- A PDF whose font map decodes to a lone surrogate made the rebuild answer 500, left the file in
  the upload folder and every later upload 500 too: now it is indexed with U+FFFD in its text.
- An upload the build cannot index is refused with its reason and removed from the folder.
- Item 7: an upload request is all or nothing, and long non-ASCII names are cut by UTF-8 bytes.
- An upload never replaces a file (a name taken in the upload folder is a 409), a document is
  deletable only when the upload folder holds the very file it was loaded from, and an upload
  folder that is, contains or lies inside a corpus folder is refused at start with one line.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from conftest import ROOT, SEEDS, Server
from corpus_tools import surrogate_pdf

from rag import ConfigError, load_settings

pytestmark = pytest.mark.slow  # real model, index, server, CLI process or browser (not in make test-fast)

TEXT = b"Harbour Notes\n\nThe harbour master Ilse Varga logged forty-one trawlers in the spring of 1931.\n"


@pytest.fixture(scope="module")
def live(seeds_index, start_server, tmp_path_factory) -> tuple[Server, Path]:
    """A server over a private copy of the seeds index, uploads going to their own folder."""
    base = tmp_path_factory.mktemp("upload-hardening")
    index_dir, uploads = base / "index", base / "uploads"
    shutil.copytree(seeds_index.index_dir, index_dir, symlinks=True)
    server = start_server(index_dir, env={"RAG_CORPUS__PATHS": json.dumps([str(SEEDS)]),
                                          "RAG_CORPUS__UPLOAD_DIR": str(uploads)})
    return server, uploads


def upload(server: Server, *files: tuple[str, bytes]) -> httpx.Response:
    return httpx.post(f"{server.url}/documents", timeout=300,
                      files=[("files", (name, data, "application/octet-stream")) for name, data in files])


def delete(server: Server, doc_id: str) -> httpx.Response:
    return httpx.delete(f"{server.url}/documents/{doc_id}", timeout=300)


def test_a_surrogate_pdf_upload_is_indexed_cleaned_and_uploads_keep_working(live, tmp_path):
    server, uploads = live
    pdf = surrogate_pdf(tmp_path / "lights.pdf").read_bytes()
    response = upload(server, ("lights.pdf", pdf))
    assert response.status_code == 200, response.text
    assert [a["doc_id"] for a in response.json()["added"]] == ["lights"]
    shown = httpx.get(f"{server.url}/documents/lights", timeout=30).json()
    assert "\ufffd harbour lights" in json.dumps(shown, ensure_ascii=False)
    after = upload(server, ("notes.txt", TEXT))
    assert after.status_code == 200, after.text
    for doc_id in ("lights", "notes"):
        assert delete(server, doc_id).status_code == 200
    assert list(uploads.iterdir()) == []


def test_an_upload_the_build_cannot_index_is_refused_and_removed(live):
    server, uploads = live
    response = upload(server, ("chrome.txt", b"Advertisement\nShare this article\n"))
    assert response.status_code == 422, response.text
    assert "chrome.txt: no indexable text after cleaning" in response.json()["error"]["message"]
    assert not (uploads / "chrome.txt").exists()
    assert httpx.get(f"{server.url}/documents/chrome", timeout=30).status_code == 404


@pytest.mark.parametrize("bad", [("chrome.txt", b"Advertisement\n", "no indexable text after cleaning"),
                                 ("photo.png", b"\x89PNG", "unsupported file type '.png'")],
                         ids=["the-build-skips-it", "the-checks-refuse-it"])
def test_an_upload_is_all_or_nothing(live, bad):
    """Issue 25 item 7: one refused file (by the checks, or left out by the build) and no file of
    the request is written or indexed; the client gets every reason (before: 200, the rest added)."""
    server, uploads = live
    name, data, reason = bad
    mixed = upload(server, ("notes.txt", TEXT), (name, data))
    assert mixed.status_code == 422, mixed.text
    message = mixed.json()["error"]["message"]
    assert f"{name}: {reason}" in message and "nothing of this upload was added" in message
    assert list(uploads.iterdir()) == []
    assert httpx.get(f"{server.url}/documents/notes", timeout=30).status_code == 404
    asked = httpx.post(f"{server.url}/search", json={"query": "harbour master Ilse Varga trawlers"}, timeout=60)
    assert "notes" not in {p["doc_id"] for p in asked.json()["passages"]}


@pytest.mark.parametrize("count", [100, 80, 300])
def test_long_non_ascii_names_are_cut_by_bytes(live, count):
    """Issue 25 item 7: names were cut at 120 characters, so 100 x '中' (300 bytes) gave a 500."""
    server, uploads = live
    response = upload(server, ("中" * count + ".txt", TEXT), ("after.txt", TEXT.replace(b"Ilse", b"Greta")))
    assert response.status_code == 200, response.text
    stored = sorted(p.name for p in uploads.iterdir())
    assert len(stored) == 2 and all(len(n.encode()) <= 120 for n in stored), stored
    long = next(n for n in stored if n != "after.txt")
    assert long.endswith(".txt") and set(long.removesuffix(".txt")) == {"中"}
    for added in response.json()["added"]:
        assert delete(server, added["doc_id"]).status_code == 200
    assert list(uploads.iterdir()) == []


def test_an_upload_never_replaces_a_file(live):
    server, uploads = live
    assert upload(server, ("notes.txt", TEXT)).status_code == 200
    again = upload(server, ("notes.txt", TEXT.replace(b"Ilse", b"Greta")))
    assert again.status_code == 409 and again.json()["error"]["code"] == "upload_exists", again.text
    assert (uploads / "notes.txt").read_bytes() == TEXT
    (uploads / "mine.md").write_bytes(b"# My own notes\n\nNever to be overwritten by anyone.\n")
    theirs = upload(server, ("mine.md", TEXT))
    assert theirs.status_code == 409 and "never replaced" in theirs.json()["error"]["message"]
    assert (uploads / "mine.md").read_bytes().startswith(b"# My own notes")
    assert delete(server, "notes").status_code == 200
    (uploads / "mine.md").unlink()


def test_only_the_file_a_document_was_loaded_from_is_deleted(live):
    server, uploads = live
    seed = min(SEEDS.glob("*.txt"))
    uploads.mkdir(exist_ok=True)
    stranger = uploads / seed.name  # same name as a seed, other text: the seed's document wins
    stranger.write_bytes(b"A different file that happens to share the seed's name.\n")
    try:
        refused = delete(server, seed.stem)
        assert refused.status_code == 409 and refused.json()["error"]["code"] == "not_uploaded", refused.text
        assert stranger.exists() and seed.exists()
    finally:
        stranger.unlink()


@pytest.mark.parametrize("where", ["same", "inside", "contains"])
def test_an_upload_folder_overlapping_a_corpus_folder_is_refused_at_start(tmp_path, where):
    corpus = tmp_path / "docs"
    corpus.mkdir()
    upload_dir = {"same": corpus, "inside": corpus / "uploads", "contains": tmp_path}[where]
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")} | {
        "RAG_CORPUS__PATHS": json.dumps([str(corpus)]), "RAG_CORPUS__UPLOAD_DIR": str(upload_dir)}
    run = subprocess.run([sys.executable, "-m", "rag.cli", "serve", "--index-dir", str(tmp_path / "index")],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)
    lines = run.stderr.strip().splitlines()
    assert run.returncode == 1 and len(lines) == 1, run.stderr[-3000:]
    assert "RAG_CORPUS__UPLOAD_DIR" in lines[0] and "RAG_CORPUS__PATHS" in lines[0]
    settings = load_settings(index_dir=tmp_path / "index").with_overrides(
        **{"corpus.paths": [corpus], "corpus.upload_dir": upload_dir})
    from api.app import create_app

    with pytest.raises(ConfigError, match="outside every corpus folder"):
        create_app(settings)


@pytest.mark.parametrize("headers", [
    {"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"},
    {"Origin": "http://evil.example"},
    {"Sec-Fetch-Site": "cross-site"},
    {"Origin": "null"},
    {"Origin": "http://localhost:1"},  # another local site: another port is another origin
])
def test_writes_sent_by_another_site_are_refused(live, headers):
    server, uploads = live
    files = [("files", ("csrf.txt", TEXT, "text/plain"))]
    response = httpx.post(f"{server.url}/documents", files=files, headers=headers, timeout=60)
    assert response.status_code == 403, response.text
    error = response.json()["error"]
    assert error["code"] == "cross_site_refused" and "RAG_API__CORS_ORIGINS" in error["message"]
    assert not (uploads / "csrf.txt").exists()
    seed = min(SEEDS.glob("*.txt")).stem
    for method, path, body in (("DELETE", f"/documents/{seed}", None), ("POST", "/ask", {"question": "Who?"}),
                               ("POST", "/v1/chat/completions", {"messages": [{"role": "user", "content": "Hi"}]})):
        refused = httpx.request(method, f"{server.url}{path}", json=body, headers=headers, timeout=60)
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "cross_site_refused", refused.text


def test_the_servers_own_pages_and_plain_clients_may_write_a_lookalike_may_not(live):
    server, uploads = live
    port = server.url.rsplit(":", 1)[1]
    lookalike = httpx.post(f"{server.url}/documents", headers={"Origin": f"http://127.0.0.1.evil.example:{port}"},
                           files=[("files", ("own.txt", TEXT, "text/plain"))], timeout=60)
    assert lookalike.status_code == 403 and not (uploads / "own.txt").exists(), lookalike.text
    for n, headers in enumerate([{"Origin": server.url, "Sec-Fetch-Site": "same-origin"},
                                 {"Origin": f"http://localhost:{port}"}, {}]):
        response = httpx.post(f"{server.url}/documents", headers=headers, timeout=300,
                              files=[("files", (f"own{n}.txt", TEXT.replace(b"1931", str(1900 + n).encode()),
                                                "text/plain"))])
        assert response.status_code == 200, (headers, response.text)
        assert delete(server, f"own{n}").status_code == 200
    assert httpx.get(f"{server.url}/documents", headers={"Origin": "http://evil.example"},
                     timeout=30).status_code == 200  # reading is the Host check's and CORS's business
