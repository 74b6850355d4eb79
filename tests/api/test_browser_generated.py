"""The chat page with generated answers, in headless Chromium: the "Generated" box sends
`answer: "generated"`; a generated answer is labelled with its dropped count and its markers open
the quotes; a fallback says why; and with a real server and a slow scripted model, verified
sentences appear (with clickable markers) while the answer is still being written.
"""

from __future__ import annotations

import json

import httpx
import pytest
from llm_stub import StubServer, reply
from test_browser import CHROMIUM, ask_on_page, browser, open_page  # noqa: F401  (browser: the shared fixture)

pytestmark = [pytest.mark.slow, pytest.mark.browser,
              pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium; browser tests skipped")]

QUESTION = "Which generals are negotiating the peace?"
ZALUZHNY = "How far had Zaluzhny's troops advanced since Ukraine's counteroffensive began?"
ADVANCE = "his troops had only advanced less than eleven miles"
SUMMER = "since Ukraine's highly publicized counteroffensive against Russia began in early summer last year"


def sse(event: str, data: dict) -> str:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n"


def test_generated_answer_is_labelled_and_its_markers_open_the_quote(browser, server, page_errors):
    citation = httpx.post(f"{server.url}/ask", json={"question": QUESTION}, timeout=60).json()["citations"][0]
    sentence = "Two generals are negotiating the peace."
    final = {"question": QUESTION, "answer": f"{sentence} [1]", "abstained": False, "citations": [citation],
             "related": [], "timings_ms": {}, "style": "generated", "dropped": 1, "fallback": None,
             "rewritten_question": QUESTION}
    body = (sse("sentence", {"text": sentence, "n": 1, "citation": citation})
            + sse("token", {"text": f"{sentence} [1]"}) + sse("citations", final) + sse("done", {}))
    sent: list[dict] = []

    def fulfil(route):
        sent.append(json.loads(route.request.post_data))
        route.fulfill(status=200, content_type="text/event-stream", body=body)

    context, page = open_page(browser, server, page_errors, viewport={"width": 1280, "height": 900})
    page.route("**/chat", fulfil)
    page.check("#generate")
    bubble = ask_on_page(page, QUESTION)
    assert sent[-1]["answer"] == "generated"
    label = bubble.locator(".answer-style")
    assert "generated" in label.get_attribute("class")
    assert label.inner_text().lower() == "generated · every sentence checked against its quote · " \
                                         "1 unverified sentence dropped"
    assert bubble.locator(".answer-text").inner_text() == final["answer"]
    bubble.locator(".answer-text button.cite[data-n='1']").click()
    page.locator("#viewer mark").wait_for()
    assert page.locator("#viewer mark").text_content() == citation["quote"]
    page.reload()
    page.wait_for_selector("#status.ok")
    assert page.is_checked("#generate")  # the choice is remembered
    page.uncheck("#generate")
    ask_on_page(page, QUESTION)
    assert sent[-1]["answer"] == "extractive"
    context.close()
    assert page_errors == []


def test_a_fallback_says_why(browser, server, page_errors):
    answer = httpx.post(f"{server.url}/ask", json={"question": QUESTION}, timeout=60).json()
    answer.update(fallback="timeout", rewritten_question=QUESTION)
    context, page = open_page(browser, server, page_errors, viewport={"width": 1280, "height": 900})
    page.route("**/chat", lambda route: route.fulfill(status=200, content_type="application/json",
                                                       body=json.dumps(answer)))
    bubble = ask_on_page(page, QUESTION)
    assert bubble.locator(".answer-style").inner_text().lower() == \
        "extracted from the documents · the model did not answer in time"
    assert bubble.locator(".answer-text button.cite").count() == len(answer["citations"])
    context.close()
    assert page_errors == []


def test_verified_sentences_appear_while_the_model_writes(browser, seeds_index, start_server, page_errors):
    script = reply((1, ADVANCE, "His troops had only advanced less than eleven miles."),
                   (1, SUMMER, "Ukraine's counteroffensive against Russia began in early summer last year."))
    with StubServer([script], piece=8, delay_s=0.08) as stub:
        live = start_server(seeds_index.index_dir, env={"RAG_GENERATOR__BASE_URL": stub.url})
        context, page = open_page(browser, live, page_errors, viewport={"width": 1280, "height": 900})
        page.check("#generate")
        page.fill("#question", ZALUZHNY)
        page.press("#question", "Enter")
        early = page.locator(".turn.assistant.pending .answer-text button.cite[data-n='1']")
        early.wait_for(timeout=30_000)  # shown while the answer is still pending
        assert page.locator(".turn.assistant.pending .answer-text button.cite").count() == 1
        bubble = page.locator(".turn.assistant:not(.pending)").first
        bubble.wait_for(timeout=60_000)
        assert bubble.locator(".answer-style").inner_text().lower().startswith("generated")
        assert bubble.locator(".answer-text button.cite").count() == 2
        bubble.locator(".answer-text button.cite[data-n='2']").click()
        page.locator("#viewer mark").wait_for()
        assert page.locator("#viewer mark").text_content() == SUMMER
        context.close()
    assert page_errors == []


@pytest.fixture
def page_errors():
    return []
