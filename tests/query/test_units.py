"""Answer units and the rules around them, on constructed documents (not the seeds): lists take
their items, fragments join, titles are not answers unless asked for, echoes are penalized.
Fast tier: the deterministic fake encoder."""

from __future__ import annotations

import pytest
from fakes import fake_index

from rag import ask
from rag.query.answering import score_units
from rag.query.retrieval import search
from rag.query.units import asks_for_title, build_units
from rag.types import Chunk, Span

LIST_DOC = """Harbour talks stall over open points

The negotiators met again on Tuesday in the old customs house.
After the meeting the mediator presented the list of unresolved points:

Fishing quotas. Ferry licences. Pilot fees. Customs seals.

Both delegations said they would return next month with new proposals.
"""

ECHO_DOC = """Ministry reviews bridge repairs

Reporters asked the transport minister what caused the delay of the bridge repairs.
The delay of the bridge repairs was caused by a shortage of welded steel girders from Ostrava.
Traffic will use the ferry until the work is finished.
"""


def spans(text: str, pieces: list[str]) -> list[Span]:
    out, at = [], 0
    for piece in pieces:
        start = text.index(piece, at)
        out.append(Span(start=start, end=start + len(piece)))
        at = start + len(piece)
    return out


def chunk_of(text: str, pieces: list[str]) -> Chunk:
    return Chunk(chunk_id="c0", doc_id="d", n=0, start=0, end=len(text), text=text, tokens=10,
                 sentences=spans(text, pieces))


def test_a_list_intro_takes_its_items_and_a_plain_sentence_stays_alone():
    pieces = ["Harbour talks stall over open points",
              "The negotiators met again on Tuesday in the old customs house.",
              "After the meeting the mediator presented the list of unresolved points:",
              "Fishing quotas.", "Ferry licences.", "Pilot fees.", "Customs seals.",
              "Both delegations said they would return next month with new proposals."]
    units = build_units(chunk_of(LIST_DOC, pieces), LIST_DOC, pieces[0], min_words=4)
    texts = [LIST_DOC[u.start:u.end] for u in units]
    assert units[0].title
    assert texts[2].startswith("After the meeting") and texts[2].endswith("Customs seals.")
    assert len(units[2].sentences) == 5
    assert texts[3].startswith("Both delegations") and len(units[3].sentences) == 1


def test_short_fragments_join_the_sentence_before_them_within_a_paragraph():
    text = "Four issues remain open for the panel. Quotas. Licences. Fees.\n\nSeals."
    pieces = ["Four issues remain open for the panel.", "Quotas.", "Licences.", "Fees.", "Seals."]
    units = build_units(chunk_of(text, pieces), text, None, min_words=4)
    assert [text[u.start:u.end] for u in units] == ["Four issues remain open for the panel. Quotas. Licences. Fees.",
                                                    "Seals."]


def test_a_long_sentence_ends_the_list():
    text = "They named three causes: Rain. Heat. A very long sentence that is clearly no longer a list item at all."
    pieces = ["They named three causes:", "Rain.", "Heat.",
              "A very long sentence that is clearly no longer a list item at all."]
    units = build_units(chunk_of(text, pieces), text, None, min_words=4, item_words=6)
    assert [len(u.sentences) for u in units] == [3, 1]


def test_title_questions_are_recognized():
    assert asks_for_title("What was the headline of the story?")
    assert asks_for_title("Under what title did the paper run it?")
    assert not asks_for_title("Who was named commander?")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("constructed")
    (root / "harbour.txt").write_text(LIST_DOC, encoding="utf-8")
    (root / "bridge.txt").write_text(ECHO_DOC, encoding="utf-8")
    with fake_index(tmp_path_factory.mktemp("index") / "index", corpus=root) as index:
        index.settings.answer.abstain_below = 0.0  # these tests are about which unit, not whether
        yield index


def test_the_list_answer_quotes_its_items(corpus):
    answer = ask(corpus, "What unresolved points did the mediator list after the meeting?")
    assert answer.citations and "Fishing quotas. Ferry licences. Pilot fees. Customs seals." in answer.citations[0].quote


def test_a_title_is_not_an_answer_unless_asked_for(corpus):
    plain = ask(corpus, "Why did the harbour talks stall over open points?")
    assert all("Harbour talks stall" not in c.quote for c in plain.citations)
    asked = ask(corpus, "What was the headline about the harbour talks stalling over open points?")
    assert any(c.quote == "Harbour talks stall over open points" for c in asked.citations)


def test_a_sentence_echoing_the_question_is_penalized(corpus):
    question = "What caused the delay of the bridge repairs, the transport minister was asked?"
    vector = corpus.embedder.encode_query(question)
    passages = search(corpus, question, 6)
    scoring = corpus.settings.answer
    by_start = {c.start: c for c in score_units(corpus, question, vector, passages)}
    echo_start = corpus.documents["bridge"].text.index("Reporters asked")
    answer_start = corpus.documents["bridge"].text.index("The delay of the bridge")
    echo, answer = by_start[echo_start], by_start[answer_start]
    assert echo.new_terms < scoring.echo_min_new_terms <= answer.new_terms
    saved = scoring.echo_penalty
    try:
        scoring.echo_penalty = 0.0
        unpenalized = {c.start: c.score for c in score_units(corpus, question, vector, passages)}
    finally:
        scoring.echo_penalty = saved
    assert unpenalized[echo_start] - echo.score == pytest.approx(saved)
    assert unpenalized[answer_start] == pytest.approx(answer.score)
    try:  # the fake encoder's cosines reward word overlap: only a large penalty outweighs it here
        scoring.echo_penalty = 0.0
        assert ask(corpus, question).citations[0].start == echo_start
        scoring.echo_penalty = 1.0
        assert ask(corpus, question).citations[0].start == answer_start
    finally:
        scoring.echo_penalty = saved
