"""Building and opening an index, with the fake encoder injected: manifest, incremental re-index,
atomic switch, mismatch refusal, close(). Fast tier (no model)."""

from __future__ import annotations

import json
import shutil

import pytest
from corpus_tools import SEEDS
from fakes import FAKE, fake_index, fake_settings

from rag import FakeEncoder, IndexMismatch, build_index, current_build, open_index, read_manifest


def test_build_records_the_injected_encoder_and_the_bm25_settings(tmp_path):
    with fake_index(tmp_path / "index") as index:
        manifest = index.manifest
        assert manifest["model"]["name"] == FAKE and manifest["model"]["dimension"] == 64
        assert manifest["settings"]["retrieval.bm25_k1"] == 1.2 and manifest["settings"]["retrieval.bm25_b"] == 0.75
        assert manifest["counts"]["documents"] == 5 == len(index.documents)
        assert index.store.size == len(index.chunks) == index.keyword.size


def test_reindex_embeds_only_the_changed_document(tmp_path):
    corpus = tmp_path / "corpus"
    shutil.copytree(SEEDS, corpus)
    encoder = FakeEncoder(name=FAKE)
    settings = fake_settings(tmp_path / "index")
    first = build_index(settings, [corpus], encoder=encoder)
    assert first.embedded == first.chunks + first.sentences
    again = build_index(settings, [corpus], encoder=encoder)
    assert again.embedded == 0 and again.reused == first.chunks + first.sentences
    changed = sorted(corpus.glob("*.txt"))[2]
    changed.write_text(changed.read_text() + "\n\nA wholly new closing paragraph about river barges.\n")
    third = build_index(settings, [corpus], encoder=encoder)
    assert 0 < third.embedded < 8, third


def test_builds_switch_atomically_and_old_ones_are_pruned(tmp_path):
    encoder = FakeEncoder(name=FAKE)
    settings = fake_settings(tmp_path / "index")
    folders = [build_index(settings, [SEEDS], encoder=encoder).path for _ in range(3)]
    assert current_build(settings) == folders[-1].resolve()
    assert not folders[0].exists() and folders[1].exists()  # two builds kept
    assert not list((tmp_path / "index" / "builds").glob(".tmp-*"))


def test_bm25_settings_are_part_of_the_fingerprint(tmp_path):
    fake_index(tmp_path / "index").close()
    other = fake_settings(tmp_path / "index", **{"retrieval.bm25_k1": 1.5})
    with pytest.raises(IndexMismatch, match="RAG_RETRIEVAL__BM25_K1"):
        open_index(other, encoder=FakeEncoder(name=FAKE))


def test_an_index_built_with_one_encoder_is_refused_with_another(tmp_path):
    fake_index(tmp_path / "index").close()
    real_settings = fake_settings(tmp_path / "index", **{"embedding.model": "all-MiniLM-L6-v2"})
    with pytest.raises(IndexMismatch, match="embedding.model"):
        open_index(real_settings)
    with pytest.raises(IndexMismatch, match="64-dimensional"):
        open_index(fake_settings(tmp_path / "index"), encoder=FakeEncoder(name=FAKE, dimension=32))


def test_manifest_is_plain_json_naming_every_document(tmp_path):
    with fake_index(tmp_path / "index") as index:
        on_disk = json.loads((index.folder / "manifest.json").read_text())
        assert on_disk == read_manifest(index.folder)
        assert set(on_disk["documents"]) == set(index.documents)
