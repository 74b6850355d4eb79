"""The OpenAI-compatible routes driven by the official `openai` Python client against a real server.

Non-streaming and streaming completions must carry the cited answer: annotation spans that point
into the content (each ends with its `[n]` marker), and extension citations whose quote is exactly
the document text at their offsets. Refusals, follow-ups, filters, the API key and /v1/models too.
"""

from __future__ import annotations

import httpx
import pytest
from conftest import Server

pytestmark = pytest.mark.slow  # real model, index, server, CLI process or browser (not in make test-fast)

openai = pytest.importorskip("openai")

QUESTION = "Who are the two generals driving the peace talks?"
UNANSWERABLE = "Who won the 2024 US presidential election?"
KEY = "openai-test-key"


@pytest.fixture(scope="module")
def client(server: Server):
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key="unused", max_retries=0, timeout=60)


@pytest.fixture(scope="module")
def texts(server: Server) -> dict[str, str]:
    with httpx.Client(base_url=server.url, timeout=60) as http:
        ids = [d["doc_id"] for d in http.get("/documents").json()["documents"]]
        return {doc_id: http.get(f"/documents/{doc_id}").json()["text"] for doc_id in ids}


def ask(client, content: str, **extra):
    return client.chat.completions.create(model="rag", messages=[{"role": "user", "content": content}],
                                          **extra)


def check_cited(content: str, annotations, citations: list[dict], texts: dict[str, str], server: Server):
    assert citations and len(annotations) == len(citations)
    for n, (note, citation) in enumerate(zip(annotations, citations, strict=True), start=1):
        span = note.url_citation
        assert note.type == "url_citation"
        assert 0 <= span.start_index < span.end_index <= len(content)
        assert content[span.start_index:span.end_index].endswith(f"[{n}]")
        assert content[span.start_index] != " "
        assert span.url == (f"{server.url}/documents/{citation['doc_id']}"
                            f"?start={citation['start']}&end={citation['end']}")
        assert span.title == citation["title"]
        assert citation["verified"] is True and citation["n"] == n
        assert texts[citation["doc_id"]][citation["start"]:citation["end"]] == citation["quote"]
        assert httpx.get(span.url, timeout=30).json()["span"]["text"] == citation["quote"]


def test_models_lists_rag(client):
    assert [m.id for m in client.models.list().data] == ["rag"]


def test_completion_carries_verified_citations_as_annotations(client, texts, server):
    completion = ask(client, QUESTION)
    message = completion.choices[0].message
    assert completion.object == "chat.completion" and message.role == "assistant"
    assert completion.choices[0].finish_reason == "stop"
    assert "[1]" in message.content and completion.abstained is False
    reference = httpx.post(f"{server.url}/ask", json={"question": QUESTION}, timeout=60).json()
    assert message.content == reference["answer"]
    check_cited(message.content, message.annotations, completion.citations, texts, server)
    assert completion.citations[0]["doc_id"] in {"000_fa0abe1aae40eff2", "001_ba8a69dfa45ae580"}  # one story, two copies
    assert completion.usage.total_tokens > 0


def test_streamed_completion_equals_the_plain_one(client, texts, server):
    plain = ask(client, QUESTION)
    chunks = list(ask(client, QUESTION, stream=True))
    assert all(c.object == "chat.completion.chunk" for c in chunks) and len(chunks) > 3
    assert chunks[0].choices[0].delta.role == "assistant"
    content = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert content == plain.choices[0].message.content
    last = chunks[-1]
    assert last.choices[0].finish_reason == "stop"
    assert last.citations == plain.citations and last.abstained is False
    annotations = [openai.types.chat.chat_completion_message.Annotation.model_validate(a)
                   for a in last.choices[0].delta.model_extra["annotations"]]
    check_cited(content, annotations, last.citations, texts, server)


def test_stream_ends_with_done(server):
    body = {"model": "rag", "stream": True, "messages": [{"role": "user", "content": QUESTION}]}
    raw = httpx.post(f"{server.url}/v1/chat/completions", json=body, timeout=60)
    assert raw.headers["content-type"].startswith("text/event-stream")
    assert raw.text.rstrip().endswith("data: [DONE]")


def test_refusal_is_a_normal_answer_marked_abstained(client):
    completion = ask(client, UNANSWERABLE)
    assert completion.abstained is True and completion.citations == []
    assert completion.choices[0].message.annotations == []
    assert completion.choices[0].message.content.startswith("The documents do not say")


def test_follow_up_is_resolved_as_on_chat(client):
    first = "What did Milley say about negotiations?"
    answer = ask(client, first).choices[0].message.content
    completion = client.chat.completions.create(model="rag", messages=[
        {"role": "system", "content": "You are helpful."},
        {"role": "user", "content": first}, {"role": "assistant", "content": answer},
        {"role": "user", "content": "and what did he say about Russia's retreat?"}])
    assert completion.rewritten_question == "Milley - what did he say about Russia's retreat?"
    assert completion.abstained is False and "retreat" in completion.citations[0]["quote"]


def test_filter_extension_restricts_the_citations(client):
    completion = ask(client, QUESTION, extra_body={"filter": {"doc_ids": ["002_d16182aecea7049e"]}})
    assert {c["doc_id"] for c in completion.citations} <= {"002_d16182aecea7049e"}
    with pytest.raises(openai.UnprocessableEntityError):
        ask(client, QUESTION, extra_body={"filter": {"date_from": "last week"}})
    plain = ask(client, QUESTION)
    dated = ask(client, QUESTION, extra_body={"as_of": "2022-11-13"})  # only 002_ is dated that week
    assert {c["doc_id"] for c in plain.citations} != {"002_d16182aecea7049e"}
    assert {c["doc_id"] for c in dated.citations} == {"002_d16182aecea7049e"}
    with pytest.raises(openai.UnprocessableEntityError):
        ask(client, QUESTION, extra_body={"as_of": "last week"})


def test_api_key_is_required_when_set(seeds_index, start_server):
    keyed = start_server(seeds_index.index_dir, env={"RAG_API_KEY": KEY})
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=f"{keyed.url}/v1", api_key="wrong", max_retries=0).models.list()
    good = openai.OpenAI(base_url=f"{keyed.url}/v1", api_key=KEY, max_retries=0, timeout=60)
    assert ask(good, QUESTION).citations


SHORT_QUESTIONS = ("How far had Zaluzhny's troops advanced since the counteroffensive began?",
                   "Who are the two generals driving the peace talks?",
                   "In which publication did Valery Zaluzhny give a Nov. 1 interview about the war?")


def test_short_answer_reaches_openai_clients(client, texts, server):
    """The reader's short answer rides on the completion and on the last streamed chunk, equal to
    /ask's, and lies inside its citation's quote."""
    asked = [(q, httpx.post(f"{server.url}/ask", json={"question": q}, timeout=60).json())
             for q in SHORT_QUESTIONS]
    question, reference = next((q, a) for q, a in asked if a["short_answer"])
    short = reference["short_answer"]
    assert texts[short["doc_id"]][short["start"]:short["end"]] == short["text"]
    assert ask(client, question).model_extra["short_answer"] == short
    assert list(ask(client, question, stream=True))[-1].model_extra["short_answer"] == short
