"""Generated answers against scripted OpenAI-compatible stubs (tests/llm_stub.py) over a
fake-encoded seeds index: fast tier, no model.

What is shown is only what the verifier kept; everything else (no server, a server down, slow,
answering garbage or malformed JSON twice, nothing verified) is the extractive answer labelled with
the reason, within the configured timeout. The request carries the JSON schema.
"""

from __future__ import annotations

import socket
import time

import pytest
from fakes import fake_index
from llm_stub import StubServer, generator, reply

from rag import FinalAnswer, GeneratedSentence, ask, ask_stream, generation_counts, search, shown_sentences
from rag.query.generation import REFUSAL, RETRY, response_schema

QUESTION = "How far had Zaluzhny's troops advanced since the counteroffensive began?"
ADVANCE = "his troops had only advanced less than eleven miles"
GOOD = (2, ADVANCE, "His troops had only advanced less than eleven miles.")
FABRICATED = (2, "his troops advanced twenty miles in a week", "His troops advanced twenty miles in a week.")
EXTRA_NUMBER = (2, ADVANCE, "His troops had only advanced less than 40 miles.")
SUMMER = "since Ukraine's highly publicized counteroffensive against Russia began in early summer last year"


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    with fake_index(tmp_path_factory.mktemp("generation") / "index") as index:
        yield index


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def assert_citations_exact(index, answer):
    for c in answer.citations:
        assert index.documents[c.doc_id].text[c.start:c.end] == c.quote


def test_off_by_default_answers_extractively_labelled(index):
    extractive = ask(index, QUESTION)
    answer = ask(index, QUESTION, style="generated")
    assert answer.style == "extractive" and answer.fallback == "disabled"
    assert answer.answer == extractive.answer and answer.citations == extractive.citations
    assert extractive.style == "extractive" and extractive.fallback is None


def test_only_verified_sentences_are_shown_and_the_schema_is_sent(index):
    with StubServer([reply(GOOD, FABRICATED, EXTRA_NUMBER)]) as stub, \
            generator(index, base_url=stub.url, model="tiny", max_tokens=300):
        answer = ask(index, QUESTION, style="generated")
    assert answer.style == "generated" and answer.fallback is None and not answer.abstained
    assert answer.dropped == 2
    assert answer.answer == f"{GOOD[2]} [1]"
    assert [c.quote for c in answer.citations] == [ADVANCE]
    assert_citations_exact(index, answer)
    assert shown_sentences(answer) == [(GOOD[2], 1)]
    assert generation_counts(answer) == {"style": "generated", "kept": 1, "dropped": 2, "fallback": None,
                                         "refused": False}
    sent = stub.requests[0]
    assert sent["model"] == "tiny" and sent["max_tokens"] == 300 and sent["stream"] is True
    assert sent["response_format"] == {"type": "json_schema", "json_schema": {
        "name": "cited_answer", "strict": True, "schema": response_schema(6)}}
    assert QUESTION in sent["messages"][-1]["content"] and ADVANCE in sent["messages"][-1]["content"]
    assert answer.timings_ms["generate_ms"] > 0


def test_json_mode_when_configured(index):
    with StubServer([reply(GOOD)]) as stub, \
            generator(index, base_url=stub.url, response_format="json_object"):
        ask(index, QUESTION, style="generated")
    assert stub.requests[0]["response_format"] == {"type": "json_object"}


def test_a_server_rejecting_json_schema_gets_the_schema_as_json_object(index):
    with StubServer([reply(GOOD)], rejects_json_schema=True) as stub, generator(index, base_url=stub.url):
        answer = ask(index, QUESTION, style="generated")
        again = ask(index, QUESTION, style="generated")
    assert answer.style == again.style == "generated"
    schema = response_schema(6)
    assert [r["response_format"] for r in stub.requests] == [
        {"type": "json_schema", "json_schema": {"name": "cited_answer", "strict": True, "schema": schema}},
        {"type": "json_object", "schema": schema},
        {"type": "json_object", "schema": schema}]  # remembered for that server


def test_a_rejected_schema_is_not_switched_when_the_form_is_fixed(index):
    with StubServer([reply(GOOD)], rejects_json_schema=True) as stub, \
            generator(index, base_url=stub.url, response_format="json_schema"):
        answer = ask(index, QUESTION, style="generated")
    assert answer.fallback == "schema rejected" and len(stub.requests) == 1


def test_sentences_share_a_citation_for_the_same_span_and_reattribute(index):
    passages = search(index, QUESTION, 6)
    third = next(i for i, p in enumerate(passages, 1) if ADVANCE not in p.chunk.text)
    second = (third, ADVANCE, "He said his troops had only advanced less than eleven miles.")
    summer = (2, SUMMER, "Ukraine's counteroffensive against Russia began in early summer last year.")
    with StubServer([reply(GOOD, second, summer)]) as stub, generator(index, base_url=stub.url):
        answer = ask(index, QUESTION, style="generated")
    assert answer.dropped == 0 and [n for _, n in shown_sentences(answer)] == [1, 1, 2]
    assert [c.n for c in answer.citations] == [1, 2]
    assert answer.citations[0].quote == ADVANCE and answer.citations[1].quote == SUMMER
    assert_citations_exact(index, answer)


def test_repeats_and_markers_inside_sentences(index):
    marked = (2, ADVANCE, "His troops had only advanced less than eleven miles [2].")
    with StubServer([reply(GOOD, GOOD, marked)]) as stub, generator(index, base_url=stub.url):
        answer = ask(index, QUESTION, style="generated")
    assert answer.answer == f"{GOOD[2]} [1]" and answer.dropped == 2


def test_nothing_verified_falls_back_to_the_extractive_answer(index):
    extractive = ask(index, QUESTION)
    with StubServer([reply(FABRICATED, EXTRA_NUMBER)]) as stub, generator(index, base_url=stub.url):
        answer = ask(index, QUESTION, style="generated")
    assert answer.style == "extractive" and answer.fallback == "nothing verified" and answer.dropped == 2
    assert answer.answer == extractive.answer and answer.citations == extractive.citations
    assert generation_counts(answer)["kept"] == 0


def test_a_model_refusal_is_a_refusal(index):
    with StubServer([reply(answerable=False)]) as stub, generator(index, base_url=stub.url):
        answer = ask(index, QUESTION, style="generated")
    assert answer.abstained and answer.style == "generated" and answer.answer == REFUSAL
    assert not answer.citations and answer.related and answer.fallback is None
    assert generation_counts(answer)["refused"] is True


def test_a_refusal_cut_off_by_max_tokens_is_still_a_refusal(index):
    cut = '{"answerable": false, "sentences": [{"passage": 1, "quote": "and then the model rambled'
    with StubServer([cut]) as stub, generator(index, base_url=stub.url):
        answer = ask(index, QUESTION, style="generated")
    assert answer.abstained and answer.style == "generated" and len(stub.requests) == 1


def test_an_extractive_refusal_stands_unless_configured(index):
    index.settings.answer.abstain_below = 1.0  # out of reach: the extractive scorer refuses
    try:
        with StubServer([reply(GOOD)]) as stub, generator(index, base_url=stub.url):
            refused = ask(index, QUESTION, style="generated")
            assert refused.abstained and refused.fallback == "refused" and not stub.requests
            index.settings.generator.ask_when_refused = True
            answered = ask(index, QUESTION, style="generated")
    finally:
        index.settings.answer.abstain_below = None
    assert answered.style == "generated" and not answered.abstained and len(stub.requests) == 1


def test_malformed_output_is_retried_once(index):
    with StubServer(["Sure! Here is the answer: eleven miles.", reply(GOOD)]) as stub, \
            generator(index, base_url=stub.url):
        answer = ask(index, QUESTION, style="generated")
    assert answer.style == "generated" and len(stub.requests) == 2
    retry = stub.requests[1]["messages"]
    assert retry[-2] == {"role": "assistant", "content": "Sure! Here is the answer: eleven miles."}
    assert retry[-1] == {"role": "user", "content": RETRY}


def test_malformed_twice_falls_back(index):
    with StubServer(['{"answerable": true, "sentences": [{"passage": 2, "quo']) as stub, \
            generator(index, base_url=stub.url):
        answer = ask(index, QUESTION, style="generated")
    assert answer.fallback == "malformed" and answer.style == "extractive" and len(stub.requests) == 2


def test_a_cut_off_reply_keeps_the_sentences_it_finished(index):
    cut = reply(GOOD, EXTRA_NUMBER)[:-60]  # the second object never closes (max_tokens reached)
    with StubServer([cut]) as stub, generator(index, base_url=stub.url):
        answer = ask(index, QUESTION, style="generated")
    assert answer.style == "generated" and answer.answer == f"{GOOD[2]} [1]" and len(stub.requests) == 1


def test_garbage_from_the_server_falls_back(index):
    with StubServer(behaviour="garbage") as stub, generator(index, base_url=stub.url):
        answer = ask(index, QUESTION, style="generated")
    assert answer.style == "extractive" and answer.fallback == "malformed" and not answer.abstained
    assert len(stub.requests) == 2


def test_an_unreachable_server_falls_back(index):
    with generator(index, base_url=closed_port_url()):
        answer = ask(index, QUESTION, style="generated")
    assert answer.style == "extractive" and answer.fallback == "unreachable" and answer.citations


def test_a_silent_server_falls_back_within_the_timeout(index):
    with StubServer(behaviour="hang", hang_s=10) as stub, generator(index, base_url=stub.url, timeout_s=1.0):
        started = time.monotonic()
        answer = ask(index, QUESTION, style="generated")
        elapsed = time.monotonic() - started
    assert answer.fallback == "timeout" and answer.style == "extractive" and answer.citations
    assert 1.0 <= elapsed < 2.0


def test_a_stalling_server_is_cut_at_the_deadline_keeping_verified_sentences(index):
    text = reply(GOOD, (2, SUMMER, "Ukraine's counteroffensive against Russia began in early summer last year."))
    first_done = text.index("}") + 1
    with StubServer([text], piece=10, stall_after=first_done + 20, hang_s=10) as stub, \
            generator(index, base_url=stub.url, timeout_s=1.0):
        started = time.monotonic()
        answer = ask(index, QUESTION, style="generated")
        elapsed = time.monotonic() - started
    assert 1.0 <= elapsed < 2.0 and answer.style == "generated"
    assert answer.answer == f"{GOOD[2]} [1]"  # the first sentence was finished before the deadline


def test_sentences_stream_as_they_are_verified(index):
    second = (2, SUMMER, "Ukraine's counteroffensive against Russia began in early summer last year.")
    with StubServer([reply(GOOD, second)], piece=10, delay_s=0.03) as stub, \
            generator(index, base_url=stub.url):
        seen: list[tuple[float, object]] = []
        for event in ask_stream(index, QUESTION, style="generated"):
            seen.append((time.monotonic(), event))
    kinds = [type(e) for _, e in seen]
    assert kinds == [GeneratedSentence, GeneratedSentence, FinalAnswer]
    assert seen[1][0] - seen[0][0] > 0.1  # the first was shown while the model still wrote the second
    final = seen[-1][1].answer
    assert final.answer == " ".join(f"{e.text} [{e.citation.n}]" for _, e in seen[:-1])


def test_stream_of_an_extractive_answer_is_one_event(index):
    events = list(ask_stream(index, QUESTION))
    assert len(events) == 1 and events[0].answer == ask(index, QUESTION).model_copy(
        update={"timings_ms": events[0].answer.timings_ms})


def test_default_style_setting(index):
    with StubServer([reply(GOOD)]) as stub, \
            generator(index, base_url=stub.url, default_style="generated"):
        assert ask(index, QUESTION).style == "generated"
        assert ask(index, QUESTION, style="extractive").style == "extractive"
    assert len(stub.requests) == 1


def test_cli_style_labels():
    from rag.cli_render import style_label
    from rag.types import Answer

    base = {"question": "q", "answer": "a", "abstained": False}
    assert style_label(Answer(**base)) == ""
    assert style_label(Answer(**base, style="generated", dropped=2)) == \
        "generated, every sentence verified against its quote, 2 generated sentence(s) dropped"
    assert style_label(Answer(**{**base, "abstained": True}, style="generated")) == \
        "generated: the model found no answer in the passages"
    assert style_label(Answer(**base, fallback="timeout")) == \
        "extractive: the model did not answer in time (RAG_GENERATOR__TIMEOUT_S)"
    assert style_label(Answer(**base, fallback="server error 502")) == "extractive: server error 502"
