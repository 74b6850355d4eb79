"""`"answer": "generated"` on /ask, /chat (streamed sentence by sentence) and /v1/chat/completions,
in-process (FastAPI's TestClient) over a fake-encoded seeds index and a scripted model stub: fast tier.

The real model server behind a real uvicorn server is tested in tests/query/test_llama_server.py.
"""

from __future__ import annotations

import json

import pytest
from fakes import fake_index
from fastapi.testclient import TestClient
from llm_stub import StubServer, reply

from api.app import create_app
from rag import load_settings

QUESTION = "How far had Zaluzhny's troops advanced since the counteroffensive began?"
ADVANCE = "his troops had only advanced less than eleven miles"
GOOD = (2, ADVANCE, "His troops had only advanced less than eleven miles.")
SUMMER = (2, "since Ukraine's highly publicized counteroffensive against Russia began in early summer last year",
          "Ukraine's counteroffensive against Russia began in early summer last year.")
FABRICATED = (1, "the troops advanced forty miles", "The troops advanced forty miles.")


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    with fake_index(tmp_path_factory.mktemp("generated-api") / "index") as index:
        index.settings.generator.support_cosine = 0.3
        yield index


@pytest.fixture(scope="module")
def stub():
    with StubServer([reply(GOOD, FABRICATED, SUMMER)]) as server:
        yield server


@pytest.fixture(scope="module")
def client(index, stub):
    app = create_app(load_settings(index_dir="/nonexistent-index").with_overrides(**{"api.reload_interval_s": 0}))
    with TestClient(app, base_url="http://127.0.0.1") as local:
        app.state.index, app.state.index_error = index, None
        yield local


@pytest.fixture
def configured(index, stub):
    index.settings.generator.base_url = stub.url
    yield stub
    index.settings.generator.base_url = ""


def events_of(response) -> list[tuple[str, dict]]:
    out = []
    for block in response.text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        out.append((lines["event"], json.loads(lines["data"])))
    return out


def check_exact(index, answer: dict) -> None:
    assert answer["citations"]
    for c in answer["citations"]:
        assert index.documents[c["doc_id"]].text[c["start"]:c["end"]] == c["quote"]


def test_ask_generated(client, index, configured):
    answer = client.post("/ask", json={"question": QUESTION, "answer": "generated"}).json()
    assert answer["style"] == "generated" and answer["dropped"] == 1 and answer["fallback"] is None
    assert answer["answer"] == f"{GOOD[2]} [1] {SUMMER[2]} [2]"
    check_exact(index, answer)
    assert configured.requests[-1]["response_format"]["type"] == "json_schema"


def test_ask_generated_without_a_server_is_extractive_labelled(client, index):
    answer = client.post("/ask", json={"question": QUESTION, "answer": "generated"}).json()
    plain = client.post("/ask", json={"question": QUESTION}).json()
    assert answer["style"] == "extractive" and answer["fallback"] == "disabled"
    assert plain["style"] == "extractive" and plain["fallback"] is None
    assert answer["answer"] == plain["answer"]


def test_unknown_answer_style_is_422(client):
    response = client.post("/ask", json={"question": QUESTION, "answer": "poem"})
    assert response.status_code == 422 and response.json()["error"]["code"]


def test_chat_streams_each_verified_sentence(client, index, configured):
    response = client.post("/chat", json={"messages": [{"role": "user", "content": QUESTION}],
                                          "stream": True, "answer": "generated"})
    events = events_of(response)
    kinds = [kind for kind, _ in events]
    assert kinds == ["sentence", "token", "sentence", "token", "citations", "done"]
    final = events[-2][1]
    assert final["style"] == "generated" and final["dropped"] == 1
    assert "".join(data["text"] for kind, data in events if kind == "token") == final["answer"]
    sentences = [data for kind, data in events if kind == "sentence"]
    assert [s["text"] for s in sentences] == [GOOD[2], SUMMER[2]]
    assert [s["citation"] for s in sentences] == final["citations"]
    check_exact(index, final)


def test_chat_stream_fallback_sends_the_extractive_text(client, index):
    response = client.post("/chat", json={"messages": [{"role": "user", "content": QUESTION}],
                                          "stream": True, "answer": "generated"})
    events = events_of(response)
    assert "sentence" not in [kind for kind, _ in events]
    final = events[-2][1]
    assert final["fallback"] == "disabled"
    assert "".join(data["text"] for kind, data in events if kind == "token") == final["answer"]


def test_chat_stream_rejects_a_bad_filter_before_streaming(client, configured):
    response = client.post("/chat", json={"messages": [{"role": "user", "content": QUESTION}],
                                          "stream": True, "answer": "generated",
                                          "filter": {"date_from": "not a date"}})
    assert response.status_code == 422


def test_chat_json_generated(client, configured):
    answer = client.post("/chat", json={"messages": [{"role": "user", "content": QUESTION}],
                                        "answer": "generated"}).json()
    assert answer["style"] == "generated" and answer["rewritten_question"] == QUESTION


def test_openai_completion_generated(client, index, configured):
    body = {"model": "rag", "messages": [{"role": "user", "content": QUESTION}], "answer": "generated"}
    done = client.post("/v1/chat/completions", json=body).json()
    content = done["choices"][0]["message"]["content"]
    assert content == f"{GOOD[2]} [1] {SUMMER[2]} [2]"
    assert done["style"] == "generated" and done["dropped"] == 1 and done["fallback"] is None
    notes = done["choices"][0]["message"]["annotations"]
    assert [content[n["url_citation"]["start_index"]:n["url_citation"]["end_index"]] for n in notes] == \
        [f"{GOOD[2]} [1]", f"{SUMMER[2]} [2]"]
    assert all(c["verified"] for c in done["citations"])
    streamed = client.post("/v1/chat/completions", json={**body, "stream": True}).text
    last = json.loads([line for line in streamed.splitlines() if line.startswith("data: {")][-1][6:])
    assert last["style"] == "generated" and last["dropped"] == 1


def test_openapi_documents_the_answer_field(client):
    schema = client.get("/openapi.json").json()["components"]["schemas"]
    for name in ("AskRequest", "ChatRequest", "CompletionRequest"):
        assert "answer" in schema[name]["properties"], name
    assert {"style", "dropped", "fallback"} <= set(schema["Answer"]["properties"])
