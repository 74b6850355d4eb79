"""The HTTP API over a real uvicorn server, the real model and a real FAISS index of seeds/.

Every route is exercised over HTTP with httpx, including the streamed chat, follow-up resolution,
document spans and every error case. One test uses FastAPI's TestClient, for the 500 handler,
which cannot be provoked from outside.
"""

from __future__ import annotations

import json
import shutil
import signal
import time
from pathlib import Path

import httpx
import pytest
from conftest import Server
from fastapi.testclient import TestClient

from api.app import create_app
from rag.config import load_settings
from rag.index.build import build_index
from rag.index.layout import current_build
from rag.query.answering import ask
from rag.query.retrieval import search

pytestmark = pytest.mark.slow  # real model, index, server or browser (not in make test-fast)

QUESTION = "Who are the two generals driving the peace talks?"
UNANSWERABLE = "Who won the 2024 US presidential election?"
GOLD = Path(__file__).resolve().parents[2] / "eval" / "seeds.jsonl"

ANSWER_KEYS = {"question", "answer", "abstained", "citations", "short_answer", "related", "timings_ms", "style",
               "dropped", "fallback"}
CITATION_KEYS = {"n", "doc_id", "title", "source", "start", "end", "quote", "page", "score", "also_in"}
RELATED_KEYS = {"doc_id", "title", "source", "start", "end", "quote", "score"}
HIT_KEYS = {"rank", "doc_id", "chunk_id", "title", "source", "start", "end", "page", "score", "also_in",
            "text"}
SUMMARY_KEYS = {"doc_id", "title", "author", "date", "outlet", "source", "chars"}
KEY = "s3cret-key-for-tests"


@pytest.fixture(scope="module")
def client(server: Server):
    with httpx.Client(base_url=server.url, timeout=60) as http:
        yield http


@pytest.fixture(scope="module")
def texts(client: httpx.Client) -> dict[str, str]:
    """Every document's text, as the API serves it."""
    ids = [d["doc_id"] for d in client.get("/documents").json()["documents"]]
    return {doc_id: client.get(f"/documents/{doc_id}").json()["text"] for doc_id in ids}


def post_ask(client: httpx.Client, question: str, **extra) -> dict:
    response = client.post("/ask", json={"question": question, **extra})
    assert response.status_code == 200, response.text
    return response.json()


def assert_error(response: httpx.Response, status: int, code: str | None = None) -> dict:
    """Every error: the status, a JSON body of exactly {"error": {"code", "message"}}."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    assert body["error"]["message"].strip()
    if code:
        assert body["error"]["code"] == code, body
    return body["error"]


def without_timings(answer: dict) -> dict:
    return {k: v for k, v in answer.items() if k != "timings_ms"}


def parse_sse(raw: str) -> list[tuple[str, dict]]:
    events = []
    for block in raw.replace("\r\n", "\n").split("\n\n"):
        if not block.strip():
            continue
        event, data = "message", []
        for line in block.split("\n"):
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].removeprefix(" "))
        events.append((event, json.loads("\n".join(data))))
    return events


# ------------------------------------------------------------------------------ health, page, docs


def test_health_reports_the_loaded_index(client, seeds_index):
    response = client.get("/health")
    assert response.status_code == 200
    health = response.json()
    assert health["status"] == "ok" and health["index_loaded"] is True
    assert health["model"] == "all-MiniLM-L6-v2"
    assert health["documents"] == 5 and health["chunks"] > 5
    assert health["build_id"] == current_build(seeds_index).name
    assert health["built_at"].endswith("Z")


def test_chat_page_and_its_assets_are_served(client):
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert 'name="viewport"' in page.text and "static/app.js" in page.text
    for asset, kind in (("/static/app.js", "javascript"), ("/static/style.css", "text/css")):
        response = client.get(asset)
        assert response.status_code == 200 and kind in response.headers["content-type"]


def test_openapi_docs_have_an_example_for_every_route(client):
    assert client.get("/docs").status_code == 200
    spec = client.get("/openapi.json").json()
    routes = {(method.upper(), path) for path, ops in spec["paths"].items() for method in ops}
    assert routes >= {("POST", "/ask"), ("POST", "/search"), ("POST", "/chat"), ("GET", "/documents"),
                      ("GET", "/documents/{doc_id}"), ("GET", "/health")}
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            request = op.get("requestBody", {}).get("content", {}).get("application/json", {})
            reply = op["responses"]["200"].get("content", {}).get("application/json", {})
            assert {"example", "examples"} & (set(request) | set(reply)), f"{method} {path} has no example"
            uploads = "multipart/form-data" in op.get("requestBody", {}).get("content", {})
            if method == "post" and not uploads:  # a file upload's example is the file
                assert "examples" in request, f"{method} {path} has no request example"


# ------------------------------------------------------------------------------ /ask


def test_ask_returns_the_answer_contract_with_verified_citations(client, texts):
    answer = post_ask(client, QUESTION)
    assert set(answer) == ANSWER_KEYS
    assert (answer["style"], answer["dropped"], answer["fallback"]) == ("extractive", 0, None)
    assert answer["question"] == QUESTION and answer["abstained"] is False
    assert "[1]" in answer["answer"] and answer["citations"]
    assert set(answer["timings_ms"]) >= {"total_ms"}
    for n, citation in enumerate(answer["citations"], start=1):
        assert set(citation) == CITATION_KEYS and citation["n"] == n
        assert f"[{n}]" in answer["answer"]
        assert texts[citation["doc_id"]][citation["start"]:citation["end"]] == citation["quote"]
    assert answer["citations"][0]["doc_id"] in {"000_fa0abe1aae40eff2", "001_ba8a69dfa45ae580"}  # one story, two copies


def test_ask_over_http_equals_the_library_call(client, seeds_loaded):
    for question, extra in ((QUESTION, {}), ("Where did Milley give his speech about negotiations?",
                                             {"k": 4, "mode": "hybrid"}), (UNANSWERABLE, {})):
        over_http = post_ask(client, question, **extra)
        direct = ask(seeds_loaded, question, extra.get("k"), extra.get("mode")).model_dump(mode="json")
        assert without_timings(over_http) == without_timings(direct)


def test_citation_invariant_holds_for_every_seed_question(client, texts):
    """documents/{doc_id} text[start:end] == quote, for every citation of every gold question."""
    questions = [json.loads(line)["question"] for line in GOLD.read_text().splitlines() if line.strip()]
    cited = 0
    for question in questions:
        answer = post_ask(client, question)
        for c in answer["citations"]:
            assert texts[c["doc_id"]][c["start"]:c["end"]] == c["quote"], (question, c)
            cited += 1
        for r in answer["related"]:
            assert set(r) == RELATED_KEYS
            assert texts[r["doc_id"]][r["start"]:r["end"]] == r["quote"]
    assert cited >= len(questions) // 2


def test_ask_refuses_when_the_documents_do_not_answer(client):
    answer = post_ask(client, UNANSWERABLE)
    assert answer["abstained"] is True and answer["citations"] == []
    assert answer["related"], "a refusal lists the closest passages"


def test_ask_accepts_k_and_every_mode(client):
    for mode in ("hybrid", "dense", "keyword"):
        answer = post_ask(client, QUESTION, k=3, mode=mode)
        assert set(answer) == ANSWER_KEYS


# ------------------------------------------------------------------------------ /search


def test_search_returns_ranked_passages(client, texts, seeds_loaded):
    response = client.post("/search", json={"query": "Zaluzhny Economist interview", "k": 3})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["query"] == "Zaluzhny Economist interview" and body["mode"] == "hybrid"
    hits = body["passages"]
    assert [h["rank"] for h in hits] == [1, 2, 3]
    assert all(set(h) == HIT_KEYS for h in hits)
    assert hits[0]["doc_id"] == "001_ba8a69dfa45ae580"
    scores = [h["score"] for h in hits]
    assert scores == sorted(scores, reverse=True)
    for hit in hits:
        assert texts[hit["doc_id"]][hit["start"]:hit["end"]] == hit["text"]
    direct = search(seeds_loaded, "Zaluzhny Economist interview", 3)
    assert [h["chunk_id"] for h in hits] == [p.chunk.chunk_id for p in direct]


def test_search_modes_and_default_k(client, seeds_index):
    for mode in ("dense", "keyword"):
        body = client.post("/search", json={"query": "Milley Economic Club", "mode": mode}).json()
        assert body["mode"] == mode and len(body["passages"]) == seeds_index.retrieval.k


# ------------------------------------------------------------------------------ /chat


def test_chat_single_question_is_the_ask_answer_plus_rewrite(client):
    response = client.post("/chat", json={"messages": [{"role": "user", "content": QUESTION}]})
    assert response.status_code == 200, response.text
    reply = response.json()
    assert set(reply) == ANSWER_KEYS | {"rewritten_question"}
    assert reply["rewritten_question"] == QUESTION == reply["question"]
    assert without_timings({k: v for k, v in reply.items() if k != "rewritten_question"}) == \
        without_timings(post_ask(client, QUESTION))


def test_chat_resolves_a_follow_up_from_the_earlier_question(client, texts):
    follow_up = "and what did he say about Russia's retreat?"
    first = client.post("/chat", json={"messages": [
        {"role": "user", "content": "What did Milley say about negotiations?"}]}).json()
    reply = client.post("/chat", json={"messages": [
        {"role": "user", "content": "What did Milley say about negotiations?"},
        {"role": "assistant", "content": first["answer"]},
        {"role": "user", "content": follow_up}]}).json()
    assert reply["question"] == follow_up
    assert reply["rewritten_question"] == "Milley - what did he say about Russia's retreat?"
    assert not reply["abstained"]
    top = reply["citations"][0]
    assert "Milley" in top["quote"] and "retreat" in top["quote"]
    assert texts[top["doc_id"]][top["start"]:top["end"]] == top["quote"]
    # without the earlier turn "he" is unresolved: the question is asked as typed
    alone = client.post("/chat", json={"messages": [{"role": "user", "content": follow_up}]}).json()
    assert alone["rewritten_question"] == follow_up  # nothing to resolve "he" from: asked as typed


def test_chat_streams_tokens_then_citations_then_done(client):
    messages = [{"role": "user", "content": QUESTION}]
    with client.stream("POST", "/chat", json={"messages": messages, "stream": True}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        raw = "".join(response.iter_text())
    events = parse_sse(raw)
    kinds = [kind for kind, _ in events]
    assert kinds[-2:] == ["citations", "done"] and set(kinds[:-2]) == {"token"}
    assert len(kinds) - 2 > 3, "the answer arrives in several pieces"
    final = events[-2][1]
    assert "".join(data["text"] for _, data in events[:-2]) == final["answer"]
    plain = client.post("/chat", json={"messages": messages}).json()
    assert without_timings(final) == without_timings(plain)


def test_chat_stream_of_a_refusal_carries_the_related_passages(client):
    with client.stream("POST", "/chat", json={"messages": [{"role": "user", "content": UNANSWERABLE}],
                                               "stream": True}) as response:
        events = parse_sse("".join(response.iter_text()))
    final = dict(events)["citations"]
    assert final["abstained"] is True and final["related"]


# ------------------------------------------------------------------------------ /documents


def test_documents_list(client, seeds_loaded):
    body = client.get("/documents").json()
    assert body["count"] == 5 == len(body["documents"])
    for doc in body["documents"]:
        assert set(doc) == SUMMARY_KEYS
        assert doc["chars"] == len(seeds_loaded.documents[doc["doc_id"]].text)
    hersh = next(d for d in body["documents"] if d["doc_id"] == "000_fa0abe1aae40eff2")
    assert hersh["author"] == "Seymour M. Hersh" and hersh["date"] == "2023-12-04"


def test_document_text_and_metadata(client, seeds_loaded):
    doc = client.get("/documents/004_1b6fea1d4b3ffca0").json()
    assert set(doc) == SUMMARY_KEYS | {"text", "pages"}
    assert doc["text"] == seeds_loaded.documents["004_1b6fea1d4b3ffca0"].text
    assert doc["author"] == "Dave DeCamp" and doc["pages"] == []


def test_document_span_with_context_shows_a_citation_in_place(client, texts):
    citation = post_ask(client, QUESTION)["citations"][0]
    doc_id, start, end = citation["doc_id"], citation["start"], citation["end"]
    body = client.get(f"/documents/{doc_id}", params={"start": start, "end": end, "context": 50}).json()
    assert set(body) == SUMMARY_KEYS | {"span", "before", "after"}
    assert body["span"] == {"start": start, "end": end, "text": citation["quote"], "page": None}
    text = texts[doc_id]
    assert body["before"] == text[max(0, start - 50):start] and body["after"] == text[end:end + 50]
    whole = client.get(f"/documents/{doc_id}", params={"start": start, "end": end,
                                                       "context": 1_000_000}).json()
    assert whole["before"] + whole["span"]["text"] + whole["after"] == text
    default = client.get(f"/documents/{doc_id}", params={"start": 0, "end": len(text)}).json()
    assert default["before"] == default["after"] == "" and default["span"]["text"] == text


# ------------------------------------------------------------------------------ errors

LONG = "why " * 501  # 2004 characters > api.max_question_chars (2000)
ERROR_CASES = [
    # (id, method, path, json body, status, code)
    ("empty question", "POST", "/ask", {"question": ""}, 422, "invalid_request"),
    ("blank question", "POST", "/ask", {"question": "   \n "}, 422, "invalid_request"),
    ("missing question", "POST", "/ask", {}, 422, "invalid_request"),
    ("question not a string", "POST", "/ask", {"question": 42}, 422, "invalid_request"),
    ("too-long question", "POST", "/ask", {"question": LONG}, 422, "question_too_long"),
    ("k zero", "POST", "/ask", {"question": QUESTION, "k": 0}, 422, "invalid_request"),
    ("k negative", "POST", "/ask", {"question": QUESTION, "k": -3}, 422, "invalid_request"),
    ("k over max_k", "POST", "/ask", {"question": QUESTION, "k": 21}, 422, "k_out_of_range"),
    ("k not a number", "POST", "/ask", {"question": QUESTION, "k": "many"}, 422, "invalid_request"),
    ("bad mode", "POST", "/ask", {"question": QUESTION, "mode": "semantic"}, 422, "invalid_request"),
    ("unknown field", "POST", "/ask", {"question": QUESTION, "top_k": 3}, 422, "invalid_request"),
    ("body not an object", "POST", "/ask", ["a question"], 422, "invalid_request"),
    ("empty query", "POST", "/search", {"query": ""}, 422, "invalid_request"),
    ("too-long query", "POST", "/search", {"query": LONG}, 422, "question_too_long"),
    ("search k over max_k", "POST", "/search", {"query": "NATO", "k": 500}, 422, "k_out_of_range"),
    ("search bad mode", "POST", "/search", {"query": "NATO", "mode": "fuzzy"}, 422, "invalid_request"),
    ("no messages", "POST", "/chat", {"messages": []}, 422, "invalid_request"),
    ("last message not user", "POST", "/chat",
     {"messages": [{"role": "user", "content": QUESTION}, {"role": "assistant", "content": "x"}]},
     422, "invalid_request"),
    ("bad role", "POST", "/chat", {"messages": [{"role": "system", "content": QUESTION}]}, 422,
     "invalid_request"),
    ("empty message", "POST", "/chat", {"messages": [{"role": "user", "content": " "}]}, 422,
     "invalid_request"),
    ("too many turns", "POST", "/chat",
     {"messages": [{"role": "user" if i % 2 == 0 else "assistant", "content": f"turn {i}"}
                   for i in range(21)]}, 422, "too_many_turns"),
    ("too-long chat question", "POST", "/chat", {"messages": [{"role": "user", "content": LONG}]}, 422,
     "question_too_long"),
    ("chat k over max_k", "POST", "/chat",
     {"messages": [{"role": "user", "content": QUESTION}], "k": 99}, 422, "k_out_of_range"),
    ("stream not a bool", "POST", "/chat",
     {"messages": [{"role": "user", "content": QUESTION}], "stream": "sometimes"}, 422, "invalid_request"),
    ("unknown document", "GET", "/documents/no_such_doc", None, 404, "not_found"),
    ("unknown nested document", "GET", "/documents/a/b/c.txt", None, 404, "not_found"),
    ("path traversal is a dictionary miss", "GET", "/documents/..%2F..%2Fetc%2Fpasswd", None, 404,
     "not_found"),
    ("span start after end", "GET", "/documents/000_fa0abe1aae40eff2?start=50&end=10", None, 422,
     "invalid_span"),
    ("empty span", "GET", "/documents/000_fa0abe1aae40eff2?start=10&end=10", None, 422, "invalid_span"),
    ("span past the end", "GET", "/documents/000_fa0abe1aae40eff2?start=0&end=999999", None, 422,
     "invalid_span"),
    ("negative start", "GET", "/documents/000_fa0abe1aae40eff2?start=-1&end=10", None, 422, "invalid_span"),
    ("start without end", "GET", "/documents/000_fa0abe1aae40eff2?start=3", None, 422, "invalid_span"),
    ("start not a number", "GET", "/documents/000_fa0abe1aae40eff2?start=x&end=3", None, 422,
     "invalid_request"),
    ("negative context", "GET", "/documents/000_fa0abe1aae40eff2?start=0&end=3&context=-1", None, 422,
     "invalid_request"),
    ("unknown route", "GET", "/nowhere", None, 404, "not_found"),
    ("unknown static file", "GET", "/static/nothing.js", None, 404, "not_found"),
    ("GET on /ask", "GET", "/ask", None, 405, "method_not_allowed"),
    ("POST on /health", "POST", "/health", {}, 405, "method_not_allowed"),
    ("PUT a document", "PUT", "/documents/000_fa0abe1aae40eff2", None, 405, "method_not_allowed"),
    ("DELETE a corpus document", "DELETE", "/documents/000_fa0abe1aae40eff2", None, 409, "not_uploaded"),
]


@pytest.mark.parametrize(("method", "path", "body", "status", "code"),
                         [case[1:] for case in ERROR_CASES], ids=[case[0] for case in ERROR_CASES])
def test_error_cases_answer_json_errors(client, method, path, body, status, code):
    response = client.request(method, path, json=body) if body is not None else client.request(method, path)
    error = assert_error(response, status, code)
    if status == 405:
        assert "use" in error["message"] and response.headers["allow"]


def test_invalid_json_is_a_json_error(client):
    response = client.post("/ask", content=b'{"question": ', headers={"Content-Type": "application/json"})
    assert "not valid JSON" in assert_error(response, 422, "invalid_request")["message"]


def test_error_messages_say_what_to_do(client):
    assert "1 to 20" in assert_error(client.post("/ask", json={"question": "x", "k": 21}), 422)["message"]
    assert "2000" in assert_error(client.post("/ask", json={"question": LONG}), 422)["message"]
    assert "empty" in assert_error(client.post("/ask", json={"question": " "}), 422)["message"]
    assert "/documents" in assert_error(client.get("/documents/nope"), 404)["message"]


def test_too_big_body_by_content_length(client):
    body = json.dumps({"question": "x" * 70_000}).encode()
    response = client.post("/ask", content=body, headers={"Content-Type": "application/json"})
    assert "65536" in assert_error(response, 413, "body_too_large")["message"]


def test_too_big_body_without_content_length_is_counted(client):
    def chunks():  # a generator body is sent chunked: no Content-Length to check
        yield b'{"question": "'
        for _ in range(80):
            yield b"x" * 1000
        yield b'"}'

    response = client.post("/ask", content=chunks(), headers={"Content-Type": "application/json"})
    assert "content-length" not in response.request.headers
    assert_error(response, 413, "body_too_large")


def test_body_just_under_the_limit_is_accepted_then_judged(client):
    body = json.dumps({"question": "x" * 60_000}).encode()
    assert len(body) < 65536
    response = client.post("/ask", content=body, headers={"Content-Type": "application/json"})
    assert_error(response, 422, "question_too_long")


def test_access_log_has_a_line_per_request(client, server):
    client.post("/search", json={"query": "access log probe"})
    client.get("/documents/no_such_doc_for_log")
    time.sleep(0.3)
    log = server.log()
    lines = [line for line in log.splitlines() if "rag.access:" in line]
    assert any("POST /search 200" in line and line.endswith("ms") for line in lines), log[-2000:]
    assert any("GET /documents/no_such_doc_for_log 404" in line for line in lines)
    assert "access log probe" not in log, "questions are not logged"


def test_unexpected_errors_are_json_500():
    app = create_app(load_settings(index_dir="/nonexistent-index"))

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("internal detail")

    with TestClient(app, base_url="http://127.0.0.1", raise_server_exceptions=False) as local:
        error = assert_error(local.get("/boom"), 500, "internal_error")
        assert "internal detail" not in error["message"]


# ------------------------------------------------------------------------------ configured servers


@pytest.fixture(scope="module")
def keyed(seeds_index, start_server) -> Server:
    """A server with an API key and CORS for one origin."""
    return start_server(seeds_index.index_dir, env={
        "RAG_API_KEY": KEY, "RAG_API__CORS_ORIGINS": '["http://allowed.example"]'})


def test_api_key_is_required_except_for_health_and_the_page(keyed):
    with httpx.Client(base_url=keyed.url, timeout=60) as http:
        assert http.get("/health").status_code == 200
        assert http.get("/").status_code == 200 and http.get("/static/app.js").status_code == 200
        for method, path, body in (("POST", "/ask", {"question": QUESTION}),
                                   ("POST", "/search", {"query": QUESTION}),
                                   ("POST", "/chat", {"messages": [{"role": "user", "content": QUESTION}]}),
                                   ("GET", "/documents", None),
                                   ("GET", "/documents/000_fa0abe1aae40eff2", None)):
            missing = http.request(method, path, json=body)
            assert "Authorization: Bearer" in assert_error(missing, 401, "unauthorized")["message"]
            assert missing.headers["www-authenticate"] == "Bearer"
            for header in (f"Bearer {KEY}x", f"Basic {KEY}", KEY, "Bearer", f"bearer  {KEY[:-1]}"):
                assert_error(http.request(method, path, json=body, headers={"Authorization": header}), 401)
            good = http.request(method, path, json=body, headers={"Authorization": f"Bearer {KEY}"})
            assert good.status_code == 200, good.text
        # a request with a bad body and no key is refused for the key first
        assert_error(http.post("/ask", json={"question": ""}), 401)


def test_cors_only_for_configured_origins(keyed, client):
    with httpx.Client(base_url=keyed.url, timeout=60) as http:
        preflight = http.options("/ask", headers={"Origin": "http://allowed.example",
                                                  "Access-Control-Request-Method": "POST",
                                                  "Access-Control-Request-Headers": "authorization,content-type"})
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == "http://allowed.example"
        other = http.get("/health", headers={"Origin": "http://evil.example"})
        assert "access-control-allow-origin" not in other.headers
    # default settings: no CORS at all
    assert "access-control-allow-origin" not in client.get("/health", headers={
        "Origin": "http://allowed.example"}).headers


def test_graceful_shutdown_on_sigterm(seeds_index, start_server):
    server = start_server(seeds_index.index_dir)
    with httpx.Client(base_url=server.url, timeout=60) as http:
        assert http.post("/ask", json={"question": QUESTION}).status_code == 200
    started = time.monotonic()
    # uvicorn shuts down, then re-raises the signal it caught: exit status 0 or "killed by SIGTERM"
    assert server.stop() in (0, -signal.SIGTERM)
    assert time.monotonic() - started < 10
    log = server.log()
    assert "Waiting for application shutdown" in log and "Application shutdown complete" in log
    assert "Finished server process" in log and "Traceback" not in log


def test_without_an_index_health_is_degraded_and_routes_say_503(tmp_path, start_server):
    server = start_server(tmp_path / "empty", env={"RAG_API__RELOAD_INTERVAL_S": "0"}, wait_for_index=False)
    with httpx.Client(base_url=server.url, timeout=60) as http:
        health = http.get("/health").json()
        assert health["status"] == "degraded" and health["index_loaded"] is False
        assert "rag index" in health["detail"]
        assert "rag index" in assert_error(http.post("/ask", json={"question": QUESTION}), 503,
                                           "index_missing")["message"]
        assert_error(http.get("/documents"), 503, "index_missing")


def test_a_new_build_is_picked_up_and_a_broken_one_ignored(seeds_index, tmp_path, start_server):
    index_dir = tmp_path / "index"
    shutil.copytree(seeds_index.index_dir, index_dir, symlinks=True)
    server = start_server(index_dir, env={"RAG_API__RELOAD_INTERVAL_S": "0.2"})
    with httpx.Client(base_url=server.url, timeout=60) as http:
        first = http.get("/health").json()["build_id"]
        time.sleep(1.1)  # build ids have one-second resolution
        build_index(load_settings(index_dir=index_dir), [Path(__file__).resolve().parents[2] / "seeds"])
        new = current_build(load_settings(index_dir=index_dir)).name
        assert new != first
        deadline = time.monotonic() + 30
        while http.get("/health").json()["build_id"] != new:
            assert time.monotonic() < deadline, "the new build was not picked up"
            time.sleep(0.2)
        # a broken build behind `current` is logged and the loaded index keeps serving
        broken = index_dir / "builds" / "broken"
        broken.mkdir()
        (broken / "manifest.json").write_text("{not json")
        (index_dir / "current").unlink()
        (index_dir / "current").symlink_to(Path("builds") / "broken")
        time.sleep(1.0)
        assert http.get("/health").json()["build_id"] == new
        assert http.post("/ask", json={"question": QUESTION}).status_code == 200
    assert "not loaded, still serving" in server.log()
