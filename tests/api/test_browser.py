"""The chat page in a real headless Chromium (Debian's /usr/bin/chromium) against a real server.

Asks a seed question, clicks the [1] marker and checks the highlighted <mark> is exactly citation
1's quote; checks a refusal, a follow-up, and that a phone-sized screen has no horizontal
overflow. Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from conftest import Server

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
QUESTION = "Who are the two generals driving the peace talks?"
UNANSWERABLE = "Who won the 2024 US presidential election?"
HERSH = {"000_fa0abe1aae40eff2", "001_ba8a69dfa45ae580"}  # the same story: either copy may be cited first

pytestmark = [
    pytest.mark.slow,
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium is not installed at /usr/bin/chromium "
                       "(apt-get install chromium); browser tests skipped"),
]


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        yield instance
        instance.close()


@pytest.fixture
def page_errors():
    return []


def open_page(browser, server: Server, errors: list, **context_options):
    context = browser.new_context(**context_options)
    page = context.new_page()
    page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
    page.on("console", lambda msg: errors.append(f"console {msg.type}: {msg.text}")
            if msg.type == "error" else None)
    page.on("response", lambda response: errors.append(f"{response.status} {response.url}")
            if response.status >= 400 else None)
    page.goto(server.url + "/")
    page.wait_for_selector("#status.ok")
    return context, page


def ask_on_page(page, question: str):
    """Type a question, send it with Enter, and return the finished answer bubble."""
    count = page.locator(".turn.assistant").count()
    page.fill("#question", question)
    page.press("#question", "Enter")
    bubble = page.locator(".turn.assistant:not(.pending)").nth(count)
    bubble.wait_for(timeout=30_000)
    assert "error" not in bubble.get_attribute("class"), bubble.inner_text()
    return bubble


def no_horizontal_overflow(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth "
                         "&& document.body.scrollWidth <= window.innerWidth")


def test_citation_marker_opens_the_quote_highlighted_in_its_document(browser, server, artifacts,
                                                                      page_errors):
    expected = httpx.post(f"{server.url}/ask", json={"question": QUESTION}, timeout=60).json()
    citation = expected["citations"][0]
    context, page = open_page(browser, server, page_errors, viewport={"width": 1280, "height": 900})
    bubble = ask_on_page(page, QUESTION)
    marker = bubble.locator(".answer-text button.cite[data-n='1']")
    assert marker.inner_text() == "[1]"
    assert marker.get_attribute("data-doc-id") == citation["doc_id"]
    assert bubble.locator(".sources li").count() == len(expected["citations"])
    marker.click()
    mark = page.locator("#viewer mark")
    mark.wait_for()
    assert mark.text_content() == citation["quote"]
    assert mark.is_visible() and page.locator("#viewer").is_visible()
    assert page.locator("#doc-title").inner_text() == citation["title"]
    meta = page.locator("#doc-meta").inner_text()
    # the whole document is shown around the mark, with its own metadata
    document = httpx.get(f"{server.url}/documents/{citation['doc_id']}", timeout=60).json()
    assert citation["doc_id"] in HERSH and document["author"] and document["date"]
    assert document["author"] in meta and document["date"] in meta
    assert page.locator("#doc-text").text_content() == document["text"]
    page.screenshot(path=str(artifacts / "chat-desktop.png"), full_page=True)
    context.close()
    assert page_errors == []


SHORT_QUESTIONS = ("How far had Zaluzhny's troops advanced since the counteroffensive began?",
                   "Who are the two generals driving the peace talks?",
                   "In which publication did Valery Zaluzhny give a Nov. 1 interview about the war?")


def test_short_answer_is_shown_first_and_bold_in_its_sentence(browser, server, artifacts, page_errors):
    asked = [(q, httpx.post(f"{server.url}/ask", json={"question": q}, timeout=60).json())
             for q in SHORT_QUESTIONS]
    question, expected = next((q, a) for q, a in asked if a["short_answer"])
    words = " ".join(expected["short_answer"]["text"].split())
    context, page = open_page(browser, server, page_errors, viewport={"width": 1280, "height": 900})
    bubble = ask_on_page(page, question)
    assert bubble.locator("p.short-answer + p.answer-text").count() == 1  # first, right above the quotes
    assert bubble.locator("p.short-answer strong").inner_text() == words
    assert bubble.locator(".answer-text strong.short-in-quote").inner_text() == words
    page.screenshot(path=str(artifacts / "chat-short-answer.png"), full_page=True)
    context.close()
    assert page_errors == []


def test_refusal_is_shown_as_such_with_the_closest_passages(browser, server, page_errors):
    context, page = open_page(browser, server, page_errors, viewport={"width": 1280, "height": 900})
    bubble = ask_on_page(page, UNANSWERABLE)
    assert "refusal" in bubble.get_attribute("class")
    assert bubble.locator(".refusal-label").is_visible()
    assert "Closest passages" in bubble.locator(".closest-title").inner_text()
    assert bubble.locator(".closest li").count() >= 1
    assert bubble.locator("button.cite").count() == 0
    bubble.locator(".closest li button").first.click()
    page.locator("#viewer mark").wait_for()
    context.close()
    assert page_errors == []


def test_follow_up_question_uses_the_conversation(browser, server, page_errors):
    context, page = open_page(browser, server, page_errors, viewport={"width": 1280, "height": 900})
    ask_on_page(page, "What did Milley say about negotiations?")
    bubble = ask_on_page(page, "and what did he say about Russia's retreat?")
    assert "Milley" in bubble.locator(".rewritten").inner_text()
    first = bubble.locator(".answer-text button.cite[data-n='1']")
    first.click()
    mark = page.locator("#viewer mark")
    mark.wait_for()
    assert "Milley" in mark.text_content() and "retreat" in mark.text_content()
    # a new chat forgets the conversation
    page.click("#new-chat")
    assert page.locator(".turn").count() == 0
    context.close()
    assert page_errors == []


def test_phone_viewport_has_no_horizontal_overflow(browser, server, artifacts, page_errors):
    context, page = open_page(browser, server, page_errors, viewport={"width": 390, "height": 844},
                              device_scale_factor=3, is_mobile=True, has_touch=True)
    assert no_horizontal_overflow(page)
    bubble = ask_on_page(page, QUESTION)
    ask_on_page(page, UNANSWERABLE)
    assert no_horizontal_overflow(page)
    box = page.locator("#ask-form").bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 390
    page.screenshot(path=str(artifacts / "chat-phone.png"))
    bubble.locator(".answer-text button.cite[data-n='1']").tap()
    page.locator("#viewer mark").wait_for()
    viewer = page.locator("#viewer").bounding_box()
    assert viewer["width"] <= 390 and no_horizontal_overflow(page)
    assert page.locator("#viewer mark").is_visible()
    page.screenshot(path=str(artifacts / "chat-phone-source.png"))
    page.click("#close-viewer")
    assert page.locator("#viewer").is_hidden()
    context.close()
    assert page_errors == []


def test_page_asks_for_the_api_key_when_the_server_needs_one(browser, seeds_index, start_server,
                                                              page_errors):
    keyed = start_server(seeds_index.index_dir, env={"RAG_API_KEY": "browser-key"})
    context, page = open_page(browser, keyed, page_errors, viewport={"width": 1280, "height": 900})
    page.fill("#question", QUESTION)
    page.press("#question", "Enter")
    page.locator("#key-dialog[open]").wait_for()
    page.fill("#api-key", "browser-key")
    page.click("#key-ok")
    bubble = page.locator(".turn.assistant:not(.pending)").first
    bubble.wait_for(timeout=30_000)
    assert bubble.locator(".answer-text button.cite[data-n='1']").count() == 1
    bubble.locator(".answer-text button.cite[data-n='1']").click()
    page.locator("#viewer mark").wait_for()  # the document fetch carries the key too
    assert page.evaluate("localStorage.getItem('rag-api-key')") == "browser-key"
    context.close()
    # the first /chat without a key was a 401 (expected); nothing else failed
    assert [e for e in page_errors if "401" not in e] == []


def test_markers_come_from_the_citations_list_not_from_brackets_in_quotes(browser, server, page_errors):
    """A quote that itself contains "[1]" or "[2]" must stay text; links come from `citations`."""
    quote_one = "The treaty text cites clause [2] and footnote [1] verbatim."
    quote_two = "A second sentence, also quoted."
    citation = {"doc_id": "000_fa0abe1aae40eff2", "title": "A title", "source": "a.txt", "start": 0,
                "end": 10, "page": None, "score": 0.9, "also_in": []}
    answer = {"question": "q", "answer": f"{quote_one} [1] {quote_two} [2]", "abstained": False,
              "citations": [{**citation, "n": 1, "quote": quote_one},
                            {**citation, "n": 2, "quote": quote_two, "start": 20, "end": 30}],
              "related": [], "timings_ms": {}, "rewritten_question": "q"}
    context, page = open_page(browser, server, page_errors, viewport={"width": 1280, "height": 900})
    page.route("**/chat", lambda route: route.fulfill(status=200, content_type="application/json",
                                                       body=json.dumps(answer)))
    bubble = ask_on_page(page, "anything")
    text = bubble.locator(".answer-text")
    assert text.inner_text() == answer["answer"]
    markers = text.locator("button.cite")
    assert markers.count() == 2
    assert [markers.nth(i).get_attribute("data-start") for i in range(2)] == ["0", "20"]
    # the brackets inside the first quote are plain text, not links
    assert page.evaluate("""() => [...document.querySelectorAll('.answer-text')].pop().childNodes[0]
                            .textContent""") == quote_one + " "
    context.close()
    assert page_errors == []


def test_as_of_day_on_the_page_limits_the_answer_to_documents_up_to_that_day(browser, server, page_errors):
    """The page's "As of" box sends the day with the question (and nothing when empty): asked on
    2023-12-01, no document dated later is cited (000_ is dated 2023-12-04), and the answer says
    which day it was asked as of."""
    context, page = open_page(browser, server, page_errors, viewport={"width": 1280, "height": 900})
    question = "Which generals are negotiating the peace?"
    with page.expect_request(lambda r: r.url.endswith("/chat")) as sent:
        plain = ask_on_page(page, question)
    assert "as_of" not in sent.value.post_data_json
    plain_docs = {b.get_attribute("data-doc-id") for b in plain.locator(".sources button.cite").all()}
    assert plain_docs and plain.locator(".dated").count() == 0
    page.fill("#as-of", "2023-12-01")
    with page.expect_request(lambda r: r.url.endswith("/chat")) as sent:
        dated = ask_on_page(page, question)
    assert sent.value.post_data_json["as_of"] == "2023-12-01"
    dated_docs = {b.get_attribute("data-doc-id") for b in dated.locator(".sources button.cite").all()}
    days = {d: httpx.get(f"{server.url}/documents/{d}", timeout=30).json()["date"] for d in dated_docs}
    assert dated_docs and all(day is None or day <= "2023-12-01" for day in days.values()), days
    assert "000_fa0abe1aae40eff2" not in dated_docs and dated_docs != plain_docs
    assert "as of 2023-12-01" in dated.locator(".dated").inner_text()
    context.close()
    assert page_errors == []
