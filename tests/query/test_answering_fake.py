"""Answering logic over a fake-encoded seeds index: every citation verified, weights from settings,
refusal by threshold, fusion arithmetic. Fast tier (no model)."""

from __future__ import annotations

import pytest
from fakes import fake_index

from rag import ask, search
from rag.query.answering import REFUSAL, score_units
from rag.query.citations import verified
from rag.query.retrieval import rrf

QUESTION = "How far had Zaluzhny's troops advanced since the counteroffensive began?"


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    with fake_index(tmp_path_factory.mktemp("fake") / "index") as index:
        yield index


def test_every_citation_quotes_the_document_exactly(index):
    answer = ask(index, QUESTION)
    assert not answer.abstained and answer.citations
    for citation in answer.citations:
        assert index.documents[citation.doc_id].text[citation.start:citation.end] == citation.quote
        assert f"[{citation.n}]" in answer.answer


def test_a_citation_outside_the_retrieved_passages_is_dropped(index):
    answer = ask(index, QUESTION)
    passages = search(index, QUESTION, 6)
    forged = answer.citations[0].model_copy(update={"start": 0, "end": 5, "quote": "forged"})
    assert verified(index, [forged], passages) == []
    assert verified(index, answer.citations, passages) == answer.citations


def test_scorer_weights_come_from_settings(index):
    vector = index.embedder.encode_query(QUESTION)
    passages = search(index, QUESTION, 6)
    base = score_units(index, QUESTION, vector, passages)
    index.settings.answer.lexical_weight = 0.0
    try:
        plain = score_units(index, QUESTION, vector, passages)
    finally:
        index.settings.answer.lexical_weight = 0.2
    assert {(c.start, round(c.score - c.cosine, 6)) for c in plain} != {(c.start, round(c.score - c.cosine, 6))
                                                                         for c in base}


def test_refusal_when_the_threshold_is_out_of_reach(index):
    index.settings.answer.abstain_below = 1.0
    try:
        answer = ask(index, QUESTION)
    finally:
        index.settings.answer.abstain_below = None
    assert answer.abstained and answer.answer == REFUSAL and not answer.citations and answer.related


def test_rrf_weights_and_ranks():
    fused = rrf([[1, 2, 3], [3, 1]], [1.0, 2.0], k=60)
    assert fused[1] == pytest.approx(1 / 61 + 2 / 62)
    assert fused[3] == pytest.approx(1 / 63 + 2 / 61)
    assert max(fused, key=fused.get) == 3
