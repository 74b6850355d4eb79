"""Re-indexing reuses the chunks of unchanged documents from the current build. Fast tier."""

from __future__ import annotations

import shutil

from corpus_tools import SEEDS
from fakes import FAKE, fake_settings

from rag import FakeEncoder, build_index, current_build
from rag.index import build as build_module
from rag.index import chunks as chunks_module
from rag.index.reader import _read_chunks, read_jsonl
from rag.types import Document


def corpus_copy(tmp_path):
    corpus = tmp_path / "corpus"
    shutil.copytree(SEEDS, corpus)
    return corpus


def counting_chunker(monkeypatch) -> list[str]:
    """Record the id of every document chunk_document is called for."""
    seen: list[str] = []
    real = chunks_module.chunk_document

    def chunk_document(doc, *args, **kwargs):
        seen.append(doc.doc_id)
        return real(doc, *args, **kwargs)

    monkeypatch.setattr(chunks_module, "chunk_document", chunk_document)
    return seen


def stored_chunks(settings) -> list[dict]:
    folder = current_build(settings)
    documents = {d.doc_id: d for d in read_jsonl(folder / "documents.jsonl", Document)}
    return [c.model_dump() for c in _read_chunks(folder / "chunks.jsonl", documents)]


def test_only_the_changed_document_is_chunked_again_and_the_chunks_equal_a_fresh_build(tmp_path, monkeypatch):
    corpus, encoder = corpus_copy(tmp_path), FakeEncoder(name=FAKE)
    settings = fake_settings(tmp_path / "index")
    first = build_index(settings, [corpus], encoder=encoder)
    assert first.rechunked == first.documents == 5
    changed = sorted(corpus.glob("*.txt"))[2]
    changed.write_text(changed.read_text() + "\n\nA wholly new closing paragraph about river barges.\n")
    seen = counting_chunker(monkeypatch)
    again = build_index(settings, [corpus], encoder=encoder)
    assert again.rechunked == 1 and len(seen) == 1
    fresh = fake_settings(tmp_path / "fresh")
    build_index(fresh, [corpus], encoder=encoder)
    assert stored_chunks(settings) == stored_chunks(fresh)  # same chunks, ids and duplicate groups


def test_other_chunking_settings_chunk_everything_again(tmp_path):
    corpus, encoder = corpus_copy(tmp_path), FakeEncoder(name=FAKE)
    build_index(fake_settings(tmp_path / "index"), [corpus], encoder=encoder)
    smaller = fake_settings(tmp_path / "index", **{"chunking.overlap_tokens": 16})
    assert build_index(smaller, [corpus], encoder=encoder).rechunked == 5


def test_a_changed_title_chunks_that_document_again(tmp_path, monkeypatch):
    encoder = FakeEncoder(name=FAKE)
    settings = fake_settings(tmp_path / "index")
    documents = [Document(doc_id=f"d{i}", source=f"d{i}.txt", text=f"Sentence number {i}. " * 40, title=f"T{i}")
                 for i in range(3)]
    build_module.build_from_documents(settings, documents, encoder=encoder)
    documents[1] = documents[1].model_copy(update={"title": "A much longer title than before"})
    seen = counting_chunker(monkeypatch)
    report = build_module.build_from_documents(settings, documents, encoder=encoder)
    assert report.rechunked == 1 and seen == ["d1"]


def test_an_unreadable_previous_build_means_chunking_everything(tmp_path):
    corpus, encoder = corpus_copy(tmp_path), FakeEncoder(name=FAKE)
    settings = fake_settings(tmp_path / "index")
    build_index(settings, [corpus], encoder=encoder)
    (current_build(settings) / "chunks.jsonl").write_text('{"doc_id": "broken"\n')
    report = build_index(settings, [corpus], encoder=encoder)
    assert report.rechunked == 5 and report.chunks > 5


def test_a_damaged_chunk_record_chunks_its_document_again(tmp_path):
    corpus, encoder = corpus_copy(tmp_path), FakeEncoder(name=FAKE)
    settings = fake_settings(tmp_path / "index")
    first = build_index(settings, [corpus], encoder=encoder)
    path = current_build(settings) / "chunks.jsonl"
    lines = path.read_text().splitlines()
    lines[0] = lines[0].replace('"tokens":', '"tokens": "many", "was":')
    path.write_text("\n".join(lines) + "\n")
    report = build_index(settings, [corpus], encoder=encoder)
    assert report.rechunked == 1 and report.chunks == first.chunks
