"""Chunking in a producer thread, handed to the encoder in windows of whole documents. Fast tier."""

from __future__ import annotations

import numpy as np
import pytest
from corpus_tools import SEEDS
from fakes import FAKE, fake_settings

from rag import FakeEncoder, NothingIndexed, build_index, load_corpus, open_index
from rag.index import chunks as chunks_module
from rag.index.chunks import ChunkFeed, chunk_corpus


class Recorder:
    def __init__(self) -> None:
        self.stages: dict[str, int] = {}
        self.advanced: dict[str, int] = {}
        self.current = ""

    def stage(self, name: str, total: int) -> None:
        self.current = name
        self.stages[name] = total
        self.advanced[name] = 0

    def advance(self, n: int) -> None:
        self.advanced[self.current] += n


def test_windows_hold_whole_documents_in_order_and_equal_plain_chunking(tmp_path):
    settings = fake_settings(tmp_path / "index")
    documents, _ = load_corpus(settings, [SEEDS])
    encoder = FakeEncoder(name=FAKE)
    feed = ChunkFeed(settings, documents, encoder, window=10)
    windows = list(feed)
    assert len(windows) > 1 and sum(count for count, _ in windows) == len(documents)
    for _, window in windows:
        assert len({c.doc_id for c in window}) == len(dict.fromkeys(c.doc_id for c in window))
    assert [c for _, w in windows for c in w] == chunk_corpus(settings, documents, encoder)
    assert feed.rechunked == len(documents)


def test_small_windows_build_the_same_index(tmp_path, monkeypatch):
    encoder = FakeEncoder(name=FAKE)
    whole = fake_settings(tmp_path / "whole")
    build_index(whole, [SEEDS], encoder=encoder)
    monkeypatch.setattr(chunks_module, "WINDOW", 3)
    small = fake_settings(tmp_path / "small")
    progress = Recorder()
    report = build_index(small, [SEEDS], encoder=FakeEncoder(name=FAKE), progress=progress)
    assert progress.advanced["embedding"] == progress.stages["embedding"] == report.documents
    with open_index(whole, encoder=encoder) as a, open_index(small, encoder=encoder) as b:
        assert [c.model_dump() for c in a.chunks] == [c.model_dump() for c in b.chunks]
        assert np.array_equal(a.sentence_vectors, b.sentence_vectors)
        assert a.sentence_row == b.sentence_row


def test_an_error_outside_one_document_reaches_the_build_and_stops_the_thread(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("cleaner exploded")

    monkeypatch.setattr(chunks_module, "Cleaner", broken)
    with pytest.raises(RuntimeError, match="cleaner exploded"):
        build_index(fake_settings(tmp_path / "index"), [SEEDS], encoder=FakeEncoder(name=FAKE))
    assert not [t for t in __import__("threading").enumerate() if t.name == "rag-chunking"]


def test_a_chunking_error_skips_each_document_and_names_the_reason(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("tokenizer exploded")

    monkeypatch.setattr(chunks_module, "chunk_document", broken)
    with pytest.raises(NothingIndexed, match="tokenizer exploded"):  # every document failed (issue 25)
        build_index(fake_settings(tmp_path / "index"), [SEEDS], encoder=FakeEncoder(name=FAKE))
    assert not [t for t in __import__("threading").enumerate() if t.name == "rag-chunking"]


def test_closing_early_stops_the_producer(tmp_path):
    settings = fake_settings(tmp_path / "index")
    documents, _ = load_corpus(settings, [SEEDS])
    feed = ChunkFeed(settings, documents * 20, FakeEncoder(name=FAKE), window=2)
    assert feed.has_chunks()
    feed.close()
    assert not feed._thread.is_alive()
