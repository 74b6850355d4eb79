"""Issue 25, item 1: one document never aborts a build. Fast tier (the fake encoder, real files).

Lone surrogates are replaced in every loaded string; a document whose cleaning, chunking or
embedding raises, or that holds nothing indexable, is skipped with its reason while the rest of
the corpus is indexed. Each test failed on the code before the fix (the build raised, or kept
the document).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from corpus_tools import SEED_IDS, copy_seeds, surrogate_pdf
from fakes import FAKE, fake_settings

from rag import FakeEncoder, build_index, open_index
from rag.ingest.loaders import load_file
from rag.types import Document

POISON = "Zorblatt"  # a word the encoders below choke on
POISONED = f"The harbour report names {POISON} as the keeper of the northern light.\n"


class ChokesWhileCounting(FakeEncoder):
    """Raises in the tokenizer (chunking) on any text holding POISON, as the real one raised on a
    lone surrogate."""

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        if any(POISON in t for t in texts):
            raise TypeError("TextEncodeInput must be Union[TextInputSequence, Tuple[InputSequence]]")
        return super().count_tokens(texts)


class ChokesWhileEmbedding(FakeEncoder):
    """Raises in the forward pass (embedding) on any batch holding POISON."""

    def encode(self, texts: Sequence[str], progress: object = None) -> object:
        if any(POISON in t for t in texts):
            raise ValueError("the model cannot encode this text")
        return super().encode(texts, progress)


def corpus(tmp_path: Path) -> Path:
    root = copy_seeds(tmp_path / "corpus")
    (root / "poisoned.txt").write_text(POISONED)
    return root


def no_surrogates(doc: Document) -> bool:
    fields = [doc.doc_id, doc.source, doc.text, doc.title, doc.author, doc.date, doc.outlet]
    return not any(0xD800 <= ord(ch) <= 0xDFFF for value in fields if value for ch in value)


def test_a_document_whose_chunking_raises_is_skipped_with_its_reason(tmp_path):
    settings = fake_settings(tmp_path / "index")
    report = build_index(settings, [corpus(tmp_path)], encoder=ChokesWhileCounting(name=FAKE))
    assert report.documents == len(SEED_IDS) and sorted(report.indexed) == SEED_IDS
    [skip] = [s for s in report.skipped if "poisoned" in s.path]
    assert "could not be cleaned and chunked (TypeError: TextEncodeInput" in skip.reason
    with open_index(settings, encoder=FakeEncoder(name=FAKE)) as index:
        assert "poisoned" not in index.documents and len(index.documents) == len(SEED_IDS)


def test_a_document_whose_embedding_raises_is_skipped_with_its_reason(tmp_path):
    settings = fake_settings(tmp_path / "index")
    report = build_index(settings, [corpus(tmp_path)], encoder=ChokesWhileEmbedding(name=FAKE))
    assert sorted(report.indexed) == SEED_IDS
    [skip] = [s for s in report.skipped if "poisoned" in s.path]
    assert "could not be embedded (ValueError: the model cannot encode this text)" in skip.reason
    with open_index(settings, encoder=FakeEncoder(name=FAKE)) as index:
        assert "poisoned" not in index.documents
        assert {c.doc_id for c in index.chunks} == set(SEED_IDS)


def test_a_document_with_nothing_indexable_is_skipped_not_kept_empty(tmp_path):
    root = copy_seeds(tmp_path / "corpus")
    (root / "chrome.txt").write_text("Advertisement\nShare this article\n")
    report = build_index(fake_settings(tmp_path / "index"), [root], encoder=FakeEncoder(name=FAKE))
    assert "chrome" not in report.indexed and report.documents == len(SEED_IDS)
    [skip] = [s for s in report.skipped if "chrome" in s.path]
    assert "no indexable text after cleaning" in skip.reason


def test_every_loaded_string_loses_its_lone_surrogates(tmp_path):
    pdf = load_file(tmp_path, surrogate_pdf(tmp_path / "lights.pdf"), max_bytes=2**20)
    assert isinstance(pdf, Document) and no_surrogates(pdf)
    assert pdf.text.startswith("\ufffd harbour lights") and pdf.pages[0].end == len(pdf.text)
    named = tmp_path / os.fsdecode(b"bad\xffname.txt")  # a name that is not UTF-8: \udcff in Python
    named.write_text(POISONED)
    doc = load_file(tmp_path, named, max_bytes=2**20)
    assert isinstance(doc, Document) and no_surrogates(doc) and doc.doc_id == "bad\ufffdname"


def test_a_surrogate_pdf_and_a_non_utf8_name_build_with_the_seeds(tmp_path):
    root = copy_seeds(tmp_path / "corpus")
    surrogate_pdf(root / "lights.pdf")
    (root / os.fsdecode(b"bad\xffname.txt")).write_text(POISONED.replace(POISON, "Brenn"))
    report = build_index(fake_settings(tmp_path / "index"), [root], encoder=FakeEncoder(name=FAKE))
    assert sorted(report.indexed) == sorted([*SEED_IDS, "lights", "bad\ufffdname"]), report.skipped
