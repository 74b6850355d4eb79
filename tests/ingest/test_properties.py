"""Property-based tests (hypothesis) of the loaders and the chunker on arbitrary input.

Arbitrary bytes never make a loader raise; arbitrary Unicode never makes cleaning or chunking
raise; every chunk and sentence offset reproduces the original text; no chunk is over its token
budget. The FakeEncoder's tokenizer keeps the bulk fast; a smaller run uses the real one.
Example counts are modest on purpose (CI time); raise them locally with HYPOTHESIS_EXAMPLES=n.
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rag.embed.base import FakeEncoder
from rag.ingest.chunking import ChunkPlan, chunk_document, split_sentences
from rag.ingest.cleaning import Cleaner
from rag.ingest.files import Skipped
from rag.ingest.loaders import load_file
from rag.types import Document, Span

EXAMPLES = int(os.environ.get("HYPOTHESIS_EXAMPLES", "150"))
FAKE = FakeEncoder()
PLAN = ChunkPlan(max_tokens=24, overlap_tokens=6)  # small budget: many chunks, many long-sentence cuts

# Text that exercises the splitter: letters, sentence ends, quotes, every kind of line break and
# space, zero-width and right-to-left characters, plus anything else Unicode has.
PIECES = st.sampled_from(["word", "Word", " ", "  ", "\n", "\n\n", "\r\n", "\r", "\t", "\xa0", "\u200b",
                          "\f", "\v", "\u2028", ".", "...", "!", "?", "…", "\"", "'", ")", "]", ",", ":",
                          "-", "Dr.", "e.g.", "A.", "1.", "\u05e9\u05dc\u05d5\u05dd", "\u202e", "**", "#",
                          "<p>", "</p>", "\ufeff", "\x00"])
TEXT = st.one_of(st.text(max_size=400), st.lists(st.one_of(PIECES, st.text(max_size=8)), max_size=120).map("".join))
SUFFIXES = [".txt", ".md", ".html", ".htm", ".pdf"]
common = settings(max_examples=EXAMPLES, deadline=None,
                  suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def as_document(text: str) -> Document:
    return Document(doc_id="d", source="d.txt", text=text)


def check_chunks(doc: Document, count_tokens, split_tokens, plan: ChunkPlan) -> None:
    sections = Cleaner().sections(doc.text)
    for section in sections:
        assert 0 <= section.start <= section.end <= len(doc.text)
    chunks = chunk_document(doc, sections, plan, count_tokens, split_tokens)
    for chunk in chunks:
        assert chunk.text == doc.text[chunk.start:chunk.end] and chunk.text.strip()
        assert chunk.tokens <= plan.max_tokens
        assert count_tokens([chunk.text])[0] <= plan.max_tokens, chunk.text
        for sentence in chunk.sentences:
            assert chunk.start <= sentence.start < sentence.end <= chunk.end


@common
@given(data=st.binary(max_size=3000), suffix=st.sampled_from(SUFFIXES))
def test_arbitrary_bytes_never_make_a_loader_raise(tmp_path_factory, data, suffix):
    folder = tmp_path_factory.mktemp("bytes")
    path = folder / f"f{suffix}"
    path.write_bytes(data)
    result = load_file(folder, path, 2**20)
    assert isinstance(result, Document | Skipped)
    if isinstance(result, Skipped):
        assert result.reason and result.kind
    elif suffix in (".txt", ".md"):  # text formats keep the file's text exactly
        utf16 = data[:2] in (b"\xff\xfe", b"\xfe\xff")
        assert result.text == (data.decode("utf-16") if utf16 else data.decode("utf-8").removeprefix("\ufeff"))


@common
@given(text=TEXT, suffix=st.sampled_from([".txt", ".md", ".html"]))
def test_valid_utf8_text_loads_and_chunks_with_exact_offsets(tmp_path_factory, text, suffix):
    folder = tmp_path_factory.mktemp("text")
    path = folder / f"f{suffix}"
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    result = load_file(folder, path, 2**20)
    if isinstance(result, Skipped):
        assert result.kind in {"empty", "binary", "no text", "not UTF-8", "parse error"}, result
        return
    check_chunks(result, FAKE.count_tokens, FAKE.split_tokens, PLAN)


@common
@given(text=TEXT)
def test_sentences_are_ordered_trimmed_and_exact(text):
    span = Span(start=0, end=len(text))
    sentences = split_sentences(text, span)
    for before, after in itertools.pairwise(sentences):
        assert before.end <= after.start
    for sentence in sentences:
        piece = text[sentence.start:sentence.end]
        assert piece and piece == piece.strip()
    check_chunks(as_document(text), FAKE.count_tokens, FAKE.split_tokens, PLAN)


@pytest.fixture(scope="module")
def real_encoder():
    from rag import load_encoder, load_settings

    return load_encoder(load_settings().embedding)


@settings(max_examples=max(EXAMPLES // 5, 10), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(text=TEXT)
def test_no_chunk_exceeds_the_real_tokenizers_budget(real_encoder, text):
    check_chunks(as_document(text), real_encoder.count_tokens, real_encoder.split_tokens, PLAN)


def test_offsets_survive_a_real_document():
    seed = min((Path(__file__).resolve().parents[2] / "seeds").glob("*.txt"))
    result = load_file(seed.parent, seed, 2**24)
    check_chunks(result, FAKE.count_tokens, FAKE.split_tokens, ChunkPlan(200, 48))
