"""Live documents over a real server: upload -> answerable with a citation; delete -> refused;
zero failed requests from a concurrent load of questions during both swaps (figures recorded in
test-artifacts/live_documents.json). Plus every refusal an upload can meet, and the delete rules.

The server runs over a copy of the session's seeds index (with its embedding cache), so a rebuild
embeds only the uploaded article.
"""

from __future__ import annotations

import json
import shutil
import statistics
import threading
import time
from pathlib import Path

import httpx
import pytest
from conftest import Server

pytestmark = pytest.mark.slow  # real model, index, server, CLI process or browser (not in make test-fast)

ROOT = Path(__file__).resolve().parents[2]
ARTICLE = ROOT / "tests" / "data" / "varnhold.txt"
QUESTION = "How much did the reconstruction of the Varnhold harbor cost?"
LOAD_QUESTIONS = ["Which generals are negotiating the peace?",
                  "Where did Milley give his speech about negotiations?",
                  "How far had Zaluzhny's troops advanced?", QUESTION]


@pytest.fixture(scope="module")
def live(seeds_index, start_server, tmp_path_factory) -> tuple[Server, Path, Path]:
    """A server over a private copy of the seeds index, uploads going to its own folder."""
    base = tmp_path_factory.mktemp("live")
    index_dir, uploads = base / "index", base / "uploads"
    shutil.copytree(seeds_index.index_dir, index_dir, symlinks=True)
    server = start_server(index_dir, env={
        "RAG_CORPUS__PATHS": json.dumps([str(ROOT / "seeds")]), "RAG_CORPUS__UPLOAD_DIR": str(uploads),
        "RAG_CORPUS__MAX_FILE_MB": "0.05"})
    return server, uploads, base


class Load:
    """Questions asked without pause by `workers` threads until stopped; every failure kept."""

    def __init__(self, url: str, workers: int = 4) -> None:
        self.url, self.stop, self.latencies, self.failures = url, threading.Event(), [], []
        self.threads = [threading.Thread(target=self.run, args=(i,)) for i in range(workers)]

    def run(self, worker: int) -> None:
        with httpx.Client(base_url=self.url, timeout=60) as http:
            n = worker
            while not self.stop.is_set():
                started = time.perf_counter()
                try:
                    response = http.post("/ask", json={"question": LOAD_QUESTIONS[n % len(LOAD_QUESTIONS)]})
                    if response.status_code != 200:
                        self.failures.append(f"{response.status_code} {response.text[:200]}")
                except httpx.HTTPError as exc:
                    self.failures.append(repr(exc))
                self.latencies.append(time.perf_counter() - started)
                n += 1

    def __enter__(self) -> Load:  # noqa: PYI034 - a plain class, never subclassed
        for thread in self.threads:
            thread.start()
        time.sleep(0.5)
        return self

    def __exit__(self, *exc: object) -> None:
        time.sleep(0.5)
        self.stop.set()
        for thread in self.threads:
            thread.join(60)


def ask(server: Server, question: str = QUESTION) -> dict:
    response = httpx.post(f"{server.url}/ask", json={"question": question}, timeout=60)
    assert response.status_code == 200, response.text
    return response.json()


def upload(server: Server, *files: tuple[str, bytes]) -> httpx.Response:
    return httpx.post(f"{server.url}/documents", timeout=300,
                      files=[("files", (name, data, "application/octet-stream")) for name, data in files])


def test_upload_then_delete_swaps_with_zero_failed_requests(live, artifacts):
    server, uploads, _ = live
    assert ask(server)["abstained"] is True
    with Load(server.url) as load:
        started = time.perf_counter()
        response = upload(server, ("varnhold.txt", ARTICLE.read_bytes()))
        live_s = time.perf_counter() - started
        assert response.status_code == 200, response.text
        answer = ask(server)
        answerable_s = time.perf_counter() - started
        body = response.json()
        deleted = httpx.delete(f"{server.url}/documents/varnhold", timeout=300)
        refused = ask(server)
    assert [a["doc_id"] for a in body["added"]] == ["varnhold"] and body["refused"] == []
    assert not answer["abstained"] and answer["citations"][0]["doc_id"] == "varnhold"
    assert "48 million kroner" in answer["citations"][0]["quote"]
    assert body["build"]["documents"] == 6
    assert body["build"]["chunks"] == 33 and body["build"]["reused"] == 188, "only the article is embedded"
    assert deleted.status_code == 200, deleted.text
    assert deleted.json()["build"]["embedded"] == 0 and deleted.json()["build"]["documents"] == 5
    assert refused["abstained"] is True and not (uploads / "varnhold.txt").exists()
    figures = {"requests": len(load.latencies), "failed": len(load.failures), "workers": len(load.threads),
               "p50_ms": round(statistics.median(load.latencies) * 1000, 1),
               "max_ms": round(max(load.latencies) * 1000, 1),
               "upload_to_live_s": round(live_s, 2), "upload_to_answered_s": round(answerable_s, 2),
               "upload_build": body["build"], "delete_build": deleted.json()["build"]}
    (artifacts / "live_documents.json").write_text(json.dumps(figures, indent=2))
    print(figures)
    assert load.failures == [] and len(load.latencies) > 10, load.failures


def test_every_refused_file_says_why_and_nothing_lands_outside(live):
    server, uploads, _ = live
    response = upload(server, ("photo.png", b"\x89PNG..."), ("big.txt", b"word " * 20_000),
                      ("empty.txt", b"  \n"), ("latin1.txt", "caf\xe9 au lait".encode("latin-1")),
                      ("nul.md", b"text\x00more"), ("000_fa0abe1aae40eff2.txt", b"A clash with a seed id."),
                      ("..", b"no name"))
    assert response.status_code == 422, response.text
    message = response.json()["error"]["message"]
    for reason in ("unsupported file type '.png'", "over the", "file is empty", "not valid UTF-8",
                   "binary file", "already exists", "no usable file name"):
        assert reason in message, (reason, message)
    assert list(uploads.iterdir()) == []


def test_a_traversing_name_is_written_inside_the_upload_folder(live):
    server, uploads, base = live
    text = b"Escape Artists\n\nThe escape artist Orvald Brenn performed in Kiruna in 1921 for three nights.\n"
    response = upload(server, ("../../escape.txt", text), ("ok.txt", text.replace(b"Orvald", b"Sigvar")))
    assert response.status_code == 200, response.text
    body = response.json()
    assert sorted(a["doc_id"] for a in body["added"]) == ["escape", "ok"]
    assert body["refused"] == []  # a request with a refused file adds nothing (issue 25 item 7)
    assert sorted(p.name for p in uploads.iterdir()) == ["escape.txt", "ok.txt"]
    assert not (base / "escape.txt").exists() and not (base.parent / "escape.txt").exists()
    for doc_id in ("escape", "ok"):
        assert httpx.delete(f"{server.url}/documents/{doc_id}", timeout=300).status_code == 200


def test_delete_rules(live, server):
    live_server, _, _ = live
    seed = httpx.delete(f"{live_server.url}/documents/000_fa0abe1aae40eff2", timeout=60)
    assert seed.status_code == 409 and seed.json()["error"]["code"] == "not_uploaded"
    assert httpx.delete(f"{live_server.url}/documents/nope", timeout=60).status_code == 404
    off = upload(server, ("a.txt", b"Some text that would be fine."))
    assert off.status_code == 403 and off.json()["error"]["code"] == "uploads_disabled"
