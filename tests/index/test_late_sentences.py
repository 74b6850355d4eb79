"""embedding.sentence_vectors = "late": one encoder pass per chunk gives the sentence vectors too.

Fast tier: the fake encoder counts the texts it encodes; the real model's pooling is tested in
tests/embed/test_late_chunking.py.
"""

from __future__ import annotations

import numpy as np
import pytest
from corpus_tools import SEEDS
from fakes import FAKE, fake_settings

from rag import FakeEncoder, IndexMismatch, build_index, open_index
from rag.config import EmbeddingSettings
from rag.index.sentence_vectors import chunk_spans
from rag.types import Chunk, Span


def late_settings(index_dir, **overrides):
    return fake_settings(index_dir, **{"embedding.sentence_vectors": "late", **overrides})


def separate_settings(index_dir):
    return fake_settings(index_dir, **{"embedding.sentence_vectors": "separate"})


def test_late_is_the_default():
    assert EmbeddingSettings().sentence_vectors == "late"


def test_late_sentence_vectors_cost_no_encoder_pass(tmp_path):
    encoder = FakeEncoder(name=FAKE)
    report = build_index(late_settings(tmp_path / "late"), [SEEDS], encoder=encoder)
    assert encoder.calls == report.chunks  # the chunks only: no second pass over the sentences
    assert report.embedded == report.chunks + report.sentences and report.sentences > report.chunks
    separate = FakeEncoder(name=FAKE)
    again = build_index(separate_settings(tmp_path / "separate"), [SEEDS], encoder=separate)
    assert separate.calls == again.chunks + again.sentences == report.chunks + report.sentences


def test_each_sentence_vector_is_its_span_in_the_first_chunk_holding_it(tmp_path):
    encoder = FakeEncoder(name=FAKE)
    settings = late_settings(tmp_path / "index")
    build_index(settings, [SEEDS], encoder=encoder)
    with open_index(settings, encoder=encoder) as index:
        for (doc_id, start, end), row in list(index.sentence_row.items())[::7]:
            expected = encoder.encode([index.documents[doc_id].text[start:end]])[0]
            assert np.allclose(index.sentence_vectors[row], expected, atol=1e-6)


def test_a_re_index_takes_chunk_and_sentence_vectors_from_the_cache(tmp_path):
    encoder = FakeEncoder(name=FAKE)
    settings = late_settings(tmp_path / "index")
    build_index(settings, [SEEDS], encoder=encoder)
    before = encoder.calls
    again = build_index(settings, [SEEDS], encoder=encoder)
    assert encoder.calls == before and again.embedded == 0
    assert again.reused == again.chunks + again.sentences


def test_the_mode_is_in_the_fingerprint(tmp_path):
    encoder = FakeEncoder(name=FAKE)
    build_index(late_settings(tmp_path / "index"), [SEEDS], encoder=encoder)
    with pytest.raises(IndexMismatch, match="RAG_EMBEDDING__SENTENCE_VECTORS"):
        open_index(separate_settings(tmp_path / "index"), encoder=encoder)


def test_spans_are_shifted_by_the_title_prefix():
    text = "Doc one sentence. Another one here."
    chunk = Chunk(chunk_id="d#0", doc_id="d", n=0, start=10, end=10 + len(text), text=text, tokens=7,
                  sentences=[Span(start=10, end=27), Span(start=28, end=10 + len(text))])
    spans = chunk_spans(chunk, f"Title: {text}")
    assert [f"Title: {text}"[a:b] for a, b in spans] == ["Doc one sentence.", "Another one here."]
    with pytest.raises(ValueError):
        chunk_spans(chunk, "Title: something else")
