"""Fast-tier helpers: a seeds index built with the deterministic FakeEncoder (no model, no torch)."""

from __future__ import annotations

from pathlib import Path

from corpus_tools import SEEDS

from rag import FakeEncoder, Index, Settings, build_index, load_settings, open_index

FAKE = "fake-hash"


def fake_settings(index_dir: Path, **overrides: object) -> Settings:
    """Settings naming the fake encoder as the model, so its index never opens with the real one."""
    return load_settings(index_dir=index_dir).with_overrides(**{"embedding.model": FAKE, **overrides})


def fake_index(index_dir: Path, corpus: Path = SEEDS, encoder: FakeEncoder | None = None) -> Index:
    """Build `corpus` with the fake encoder and open it with the same encoder."""
    encoder = encoder or FakeEncoder(name=FAKE)
    settings = fake_settings(index_dir)
    build_index(settings, [corpus], encoder=encoder)
    return open_index(settings, encoder=encoder)
