"""Reliability and exposure of the real server: hot reload under traffic, sustained load, auth,
binding, client-supplied paths, and offline API docs.

- Hot reload: requests flow from several threads while `rag index` rebuilds the index three times
  in a subprocess; every request must succeed and every new build must be picked up.
- Load: POST /ask at concurrency 16 (10 s; 60 s with RAG_FULL_TESTS=1) with no error and the
  server's resident memory flat (bench/load_test.py does the work).
- Auth: with RAG_API_KEY every route but the public ones needs `Authorization: Bearer <key>`,
  checked with hmac.compare_digest; the default bind address is loopback; no route reads a
  client-supplied path.
- Docs: /docs references no external URL and its assets are served locally; in Chromium with
  every non-local request blocked, Swagger UI renders the operations.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil
import pytest
from conftest import ROOT, SEEDS, Server, free_port

import api.deps
from api import routes as api_routes
from rag.config import ApiSettings, load_settings
from rag.index.layout import KEEP_BUILDS, current_build

pytestmark = pytest.mark.slow  # real model, index, server or browser (not in make test-fast)

FULL = os.environ.get("RAG_FULL_TESTS") == "1"
KEY = "reliability-key-0123456789"
QUESTION = "Which generals are negotiating the peace?"
SEED_DOC = "000_fa0abe1aae40eff2"

EXTRA_ID = "zz_lantern_festival"
EXTRA_TEXT = """The Harbour Lantern Festival of Quillhaven

The Harbour Lantern Festival of Quillhaven is held every year on the first Saturday of March.
The festival was founded in 1887 by the lighthouse keepers of Quillhaven.
At dusk thousands of paper lanterns are floated across the harbour of Quillhaven.
"""
EXTRA_QUESTION = "When is the Harbour Lantern Festival of Quillhaven held?"


def load_bench(name: str):
    """A bench script as a module; its sibling `common` (which a script finds beside itself) first."""
    if name != "common" and "common" not in sys.modules:
        load_bench("common")
    spec = importlib.util.spec_from_file_location(name, ROOT / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def assert_json_error(response: httpx.Response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    if code:
        assert body["error"]["code"] == code, body
    return body["error"]


# ------------------------------------------------------------------------------ hot reload


TRAFFIC = [
    ("POST", "/ask", {"question": QUESTION}),
    ("POST", "/search", {"query": "Zaluzhny Economist interview"}),
    ("GET", f"/documents/{SEED_DOC}", None),
    ("GET", "/health", None),
    ("POST", "/ask", {"question": "Where did Milley give his speech about negotiations?"}),
    ("GET", "/documents/004_1b6fea1d4b3ffca0?start=0&end=40", None),
]


@dataclass
class Traffic:
    """Requests sent continuously from several threads; each one noted with its outcome."""

    url: str
    threads: int = 4
    pause_s: float = 0.05  # between a thread's requests: leaves the 2 cores some room to re-index
    records: list[tuple[float, float, str, str]] = field(default_factory=list)  # start, end, what, outcome
    builds_seen: dict[int, list[str]] = field(default_factory=dict)  # per thread, from /health
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    workers: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        for n in range(self.threads):
            self.builds_seen[n] = []
            worker = threading.Thread(target=self.run, args=(n,), daemon=True)
            worker.start()
            self.workers.append(worker)

    def run(self, n: int) -> None:
        i = n
        with httpx.Client(base_url=self.url, timeout=60) as http:
            while not self.stop.is_set():
                method, path, body = TRAFFIC[i % len(TRAFFIC)]
                i += 1
                started = time.monotonic()
                try:
                    response = http.request(method, path, json=body)
                    outcome = "ok" if response.status_code == 200 else f"{response.status_code} {response.text[:200]}"
                    if response.status_code == 200 and path == "/health":
                        seen = self.builds_seen[n]
                        build = response.json()["build_id"]
                        if not seen or seen[-1] != build:
                            seen.append(build)
                except httpx.HTTPError as exc:
                    outcome = f"{type(exc).__name__}: {exc}"
                with self.lock:
                    self.records.append((started, time.monotonic(), f"{method} {path}", outcome))
                self.stop.wait(self.pause_s)

    def finish(self) -> None:
        self.stop.set()
        for worker in self.workers:
            worker.join(90)

    def failures(self) -> list[tuple[float, float, str, str]]:
        with self.lock:
            return [r for r in self.records if r[3] != "ok"]

    def overlapping(self, begin: float, end: float) -> int:
        """Requests in flight at any moment of [begin, end]."""
        with self.lock:
            return sum(1 for s, e, _, _ in self.records if s <= end and e >= begin)


def reindex_and_watch(corpus: Path, index_dir: Path, http: httpx.Client, old: str) -> dict:
    """Run `rag index` in a subprocess; note when `current` switches to the new build and when
    the server's /health first reports it (the swap window)."""
    settings = load_settings(index_dir=index_dir)
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    began = time.monotonic()
    process = subprocess.Popen([sys.executable, "-m", "rag.cli", "index", str(corpus), "--index-dir",
                                str(index_dir)], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT)
    new = switched = seen = None
    try:
        while seen is None or process.poll() is None:
            now = time.monotonic()
            assert now - began < 600, "re-indexing took over 10 minutes"
            if switched is None:
                name = current_build(settings).name
                if name != old:
                    new, switched = name, now
                elif process.poll() is not None:
                    raise AssertionError(f"rag index finished without a new build:\n{process.stdout.read()}")
            elif seen is None:
                if http.get("/health").json()["build_id"] == new:
                    seen = now
                assert now - switched < 30, f"build {new} not picked up in 30 s"
            time.sleep(0.01)
    finally:
        if process.poll() is None:
            process.kill()
        output = process.stdout.read().decode(errors="replace")
        process.wait()
    assert process.returncode == 0, output
    return {"build": new, "began": began, "switched": switched, "seen": seen}


def test_hot_reload_under_traffic_fails_no_request(seeds_index, tmp_path, start_server, artifacts):
    index_dir = tmp_path / "index"
    shutil.copytree(seeds_index.index_dir, index_dir, symlinks=True)  # with the embedding cache
    plain, extended = tmp_path / "corpus-plain", tmp_path / "corpus-extended"
    shutil.copytree(SEEDS, plain)
    shutil.copytree(SEEDS, extended)
    (extended / f"{EXTRA_ID}.txt").write_text(EXTRA_TEXT)

    server = start_server(index_dir, env={"RAG_API__RELOAD_INTERVAL_S": "0.2"})
    traffic = Traffic(server.url)
    swaps = []
    with httpx.Client(base_url=server.url, timeout=60) as http:
        builds = [http.get("/health").json()["build_id"]]
        traffic.start()
        time.sleep(1.0)  # traffic under way before the first rebuild
        try:
            for corpus, has_extra in ((extended, True), (plain, False), (extended, True)):
                swap = reindex_and_watch(corpus, index_dir, http, builds[-1])
                new = swap["build"]
                assert new not in builds, "each rebuild is a new build"
                builds.append(new)
                health = http.get("/health").json()
                assert health["build_id"] == new and health["documents"] == (6 if has_extra else 5), health
                # the new build answers: the extra document is cited exactly when it is indexed
                answer = http.post("/ask", json={"question": EXTRA_QUESTION}).json()
                cited = {c["doc_id"] for c in answer["citations"]}
                document = http.get(f"/documents/{EXTRA_ID}")
                if has_extra:
                    assert not answer["abstained"] and EXTRA_ID in cited, answer
                    assert "first Saturday of March" in answer["answer"], answer
                    assert document.status_code == 200
                else:
                    assert EXTRA_ID not in cited, answer
                    assert_json_error(document, 404, "not_found")
                swaps.append({
                    "build": new, "extra_doc": has_extra,
                    "reindex_s": round(swap["switched"] - swap["began"], 2),
                    "pickup_s": round(swap["seen"] - swap["switched"], 3),
                    "requests_during_reindex_and_swap": traffic.overlapping(swap["began"], swap["seen"]),
                    "requests_during_swap": traffic.overlapping(swap["switched"], swap["seen"]),
                    "requests_around_swap": traffic.overlapping(swap["switched"] - 0.1, swap["seen"] + 0.1)})
                time.sleep(0.5)  # traffic on the new build before the next rebuild
        finally:
            traffic.finish()

    failures = traffic.failures()
    report = {"requests": len(traffic.records), "failures": len(failures),
              "by_route": Counter(what for _, _, what, _ in traffic.records),
              "swaps": swaps, "failure_examples": [f[2:] for f in failures[:10]]}
    (artifacts / "hot-reload.json").write_text(json.dumps(report, indent=2))
    assert not failures, report
    # switched/seen are polled every 10 ms and seen costs a /health round trip, so the window is
    # known to about 0.1 s; a 10 ms pickup can fall between two requests of a thread (CI, 2 cores)
    assert all(s["requests_around_swap"] > 0 for s in swaps), report
    # every thread saw the builds in order, never an old one after a new one
    for n, seen in traffic.builds_seen.items():
        assert seen == [b for b in builds if b in seen], (n, seen, builds)
    # old builds are pruned while the server runs; the current one stays, and so may the one the
    # server still held (retired RETIRE_AFTER_S after its swap) when the last build pruned
    kept = sorted(p.name for p in (index_dir / "builds").iterdir() if not p.name.startswith("."))
    assert KEEP_BUILDS <= len(kept) <= KEEP_BUILDS + 1 and builds[-1] in kept, kept
    log = server.log()
    assert "Traceback" not in log and "not loaded" not in log, log[-3000:]


# ------------------------------------------------------------------------------ sustained load


def test_sustained_load_has_no_error_and_flat_memory(seeds_index, start_server, artifacts):
    load_test = load_bench("load_test")
    seconds, baseline_s = (60, 10) if FULL else (10, 3)
    server = start_server(seeds_index.index_dir, env={"RAG_API__RELOAD_INTERVAL_S": "0"})
    result = load_test.run_load(server.url, seconds=seconds, concurrency=16, pid=server.process.pid,
                                baseline_s=baseline_s)
    (artifacts / "load-test.json").write_text(json.dumps(result, indent=2))
    summary = {k: result[k] for k in ("requests", "errors", "req_per_s", "p50_ms", "p95_ms", "p99_ms",
                                      "rss_baseline_mb", "rss_end_mb", "rss_growth_pct", "error_examples")}
    assert result["errors"] == 0, summary
    assert result["requests"] >= seconds * 2, summary  # far below what it does; only catches a stall
    assert result["rss_growth_pct"] < 5, summary
    assert server.process.poll() is None


def test_load_test_refuses_non_loopback_targets():
    load_test = load_bench("load_test")
    for url in ("http://10.0.0.1:8000", "http://example.com", "http://192.168.1.2"):
        with pytest.raises(SystemExit):
            load_test.check_loopback(url)
    for url in ("http://127.0.0.1:8000", "http://127.0.0.2:1", "http://localhost:8000", "http://[::1]:8000"):
        load_test.check_loopback(url)


# ------------------------------------------------------------------------------ auth and exposure

PUBLIC = {"/", "/health", "/docs", "/openapi.json", "/static/app.js", "/docs-assets/swagger-ui.css"}
BODIES = {"/ask": {"question": QUESTION}, "/search": {"query": QUESTION},
          "/chat": {"messages": [{"role": "user", "content": QUESTION}]},
          "/v1/chat/completions": {"messages": [{"role": "user", "content": QUESTION}]}}
# With the right key a request reaches its route, which may still judge it: this upload sends no
# files (422) and a seed document was not uploaded, so it cannot be deleted (409).
JUDGED = {("POST", "/documents"): {422}, ("DELETE", f"/documents/{SEED_DOC}"): {409}}
BAD_AUTH = [None, "Bearer wrong-key", f"Bearer {KEY}x", f"Bearer {KEY[:-1]}", f"Basic {KEY}", f"Token {KEY}",
            KEY, "Bearer", f"Bearer{KEY}", f"{KEY} Bearer", f"Bearer  {KEY}x"]


@pytest.fixture(scope="module")
def keyed(seeds_index, start_server) -> Server:
    return start_server(seeds_index.index_dir, env={"RAG_API_KEY": KEY, "RAG_API__RELOAD_INTERVAL_S": "0"})


def every_route(spec: dict) -> set[tuple[str, str]]:
    """(method, concrete path) of every operation: the OpenAPI ones and every route defined in
    api.routes or on the app, so a route left out of the schema is checked too."""
    from api.app import create_app

    found = {(m.upper(), p) for p, ops in spec["paths"].items() for m in ops}
    app = create_app(load_settings(index_dir="/nonexistent", api_key=KEY))
    for route in [*api_routes.api.routes, *api_routes.public.routes, *app.routes]:
        for method in getattr(route, "methods", None) or ():
            if method != "HEAD":
                found.add((method, route.path))
    return {(m, re.sub(r"\{[^}]+\}", SEED_DOC, p)) for m, p in found}


def test_every_route_but_the_public_ones_needs_the_bearer_key(keyed):
    with httpx.Client(base_url=keyed.url, timeout=60) as http:
        spec = http.get("/openapi.json").json()
        routes = every_route(spec)
        assert {("POST", "/ask"), ("GET", f"/documents/{SEED_DOC}"), ("GET", "/health")} <= routes
        protected = sorted(r for r in routes if r[1] not in PUBLIC)
        assert len(protected) >= 5, protected
        for method, path in protected:
            body = BODIES.get(path)
            for header in BAD_AUTH:
                headers = {"Authorization": header} if header is not None else {}
                response = http.request(method, path, json=body, headers=headers)
                error = assert_json_error(response, 401, "unauthorized")
                assert "Authorization: Bearer" in error["message"] and KEY not in error["message"]
                assert response.headers["www-authenticate"] == "Bearer"
            good = http.request(method, path, json=body, headers={"Authorization": f"Bearer {KEY}"})
            assert good.status_code in JUDGED.get((method, path), {200}), (method, path, good.text[:300])
        for path in PUBLIC:
            assert http.get(path).status_code == 200, path


def test_the_key_is_compared_in_constant_time(monkeypatch):
    """The check goes through hmac.compare_digest (given bytes, expected bytes), never `==`."""
    from fastapi.testclient import TestClient

    from api.app import create_app

    calls = []
    real = api.deps.hmac.compare_digest

    def spy(a, b):
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(api.deps.hmac, "compare_digest", spy)
    app = create_app(load_settings(index_dir="/nonexistent", api_key=KEY))
    with TestClient(app, base_url="http://127.0.0.1") as client:
        assert client.get("/documents", headers={"Authorization": "Bearer guess"}).status_code == 401
        assert calls == [(b"guess", KEY.encode())]
        # the right key passes the check (then 503: this app has no index)
        assert client.get("/documents", headers={"Authorization": f"Bearer {KEY}"}).status_code == 503
        assert calls[-1] == (KEY.encode(), KEY.encode())


def test_the_default_bind_address_is_loopback(monkeypatch):
    for name in list(os.environ):
        if name.startswith("RAG_"):
            monkeypatch.delenv(name)
    assert ApiSettings().host == "127.0.0.1"
    assert load_settings().api.host == "127.0.0.1"


def test_rag_serve_listens_on_loopback_only(seeds_index, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    port = free_port()
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "rag.cli", "serve", "--port", str(port),
                                    "--index-dir", str(seeds_index.index_dir)],
                                   cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        listening = [c.laddr for c in psutil.Process(process.pid).net_connections(kind="inet")
                     if c.status == psutil.CONN_LISTEN]
        assert listening and all(addr.ip == "127.0.0.1" for addr in listening), listening
    finally:
        process.terminate()
        process.wait(20)


@pytest.mark.parametrize("path", ["/documents/..%2F..%2Fetc%2Fpasswd", "/documents/%2Fetc%2Fpasswd",
                                  "/documents/../../etc/passwd", "/documents/%2E%2E/%2E%2E/etc/passwd",
                                  "/documents//etc/passwd", "/documents/..%5C..%5Cwindows%5Cwin.ini",
                                  f"/documents/{SEED_DOC}%00.txt", "/static/..%2F..%2Fpyproject.toml",
                                  "/docs-assets/..%2F__init__.py"])
def test_no_route_reads_a_client_supplied_path(server, path):
    with httpx.Client(base_url=server.url, timeout=60) as http:
        response = http.get(path)
    assert_json_error(response, 404, "not_found")
    assert "root:" not in response.text and "[project]" not in response.text


@pytest.mark.parametrize("body", [b'{"question": "\xff\xfe"}', b"\xc3\x28", b"\x00\x01\x02"])
def test_a_body_that_is_not_utf8_is_a_declared_422(server, body):
    """Found by fuzzing: FastAPI answered an undeclared 400 for bytes that are not UTF-8."""
    with httpx.Client(base_url=server.url, timeout=60) as http:
        response = http.post("/ask", content=body, headers={"Content-Type": "application/json"})
    assert "not valid JSON" in assert_json_error(response, 422, "invalid_request")["message"]


# ------------------------------------------------------------------------------ offline docs

EXTERNAL_URL = re.compile(r"""(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}""", re.IGNORECASE)


def test_api_docs_reference_only_local_assets(server):
    with httpx.Client(base_url=server.url, timeout=60) as http:
        html = http.get("/docs")
        assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
        assert not EXTERNAL_URL.findall(html.text), EXTERNAL_URL.findall(html.text)
        assets = re.findall(r"""(?:src|href)=["']([^"']+)["']""", html.text)
        assert any(a.endswith(".js") for a in assets), assets
        for asset in assets:
            assert asset.startswith("/"), asset
            response = http.get(asset)
            assert response.status_code == 200 and int(response.headers["content-length"]) > 1000, asset
            if asset.endswith(".js"):
                assert "javascript" in response.headers["content-type"]
            elif asset.endswith(".css"):
                assert response.headers["content-type"].startswith("text/css")
        assert "/openapi.json" in html.text and http.get("/openapi.json").status_code == 200
        # no ReDoc page: its bundle would fetch a logo from its vendor's CDN
        assert_json_error(http.get("/redoc"), 404, "not_found")


CHROMIUM = Path("/usr/bin/chromium")


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium is not installed at /usr/bin/chromium")
def test_swagger_ui_renders_with_the_network_cut_off(server, artifacts):
    from playwright.sync_api import sync_playwright

    local = server.url
    blocked: list[str] = []
    errors: list[str] = []

    def only_local(route):
        if route.request.url.startswith(local):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                             args=["--headless", "--no-sandbox", "--disable-gpu",
                                                   "--no-first-run", "--disable-background-networking"])
        try:
            page = browser.new_page()
            page.route("**/*", only_local)
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(f"{local}/docs")
            page.wait_for_selector(".opblock", timeout=30_000)
            text = page.inner_text("body")
            for path in ("/ask", "/search", "/chat", "/documents/{doc_id}", "/health"):
                assert path in text, text[:2000]
            assert "Unable to render" not in text
            page.screenshot(path=str(artifacts / "docs-offline.png"), full_page=False)
        finally:
            browser.close()
    assert not blocked, blocked
    assert not errors, errors
