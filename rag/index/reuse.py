"""Chunks of unchanged documents, taken from the current build instead of chunked again.

Chunking tokenizes every sentence of every document; on a re-index after one changed file that
was most of the work left once the embeddings came from the cache. A document's chunks are reused
when the current build was made with the same model and chunking and cleaning settings, and the
document's text and title are exactly those of the previous build (so the offsets still hold).

Reuse is only an optimization: a missing, older or unreadable build means everything is chunked.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rag.config import Settings
from rag.embed import Encoder
from rag.errors import IndexMissing
from rag.index.features import ChunkFeatures
from rag.index.layout import current_build
from rag.index.manifest import index_fingerprint
from rag.types import Chunk, Document

# the settings chunk boundaries depend on (the model fixes the tokenizer and the window)
CHUNK_KEYS = ("embedding.model", "chunking.max_tokens", "chunking.overlap_tokens", "chunking.title_prefix",
              "cleaning.enabled", "cleaning.extra_patterns")


@dataclass
class PreviousChunks:
    """Per document id of the current build: its text, title and chunk records (without text);
    and where that build is, for the per-chunk features kept beside them (`rag.index.features`)."""

    documents: dict[str, tuple[str, str | None]]
    chunks: dict[str, list[dict[str, Any]]]
    row_of: dict[str, int] = field(default_factory=dict)  # chunk id -> its line in chunks.jsonl
    folder: Path | None = None

    def rows(self, chunks: list[Chunk], reused: set[str]) -> np.ndarray:
        """Each chunk's row in the previous build when its document's chunks were `reused`, else -1."""
        return np.array([self.row_of[c.chunk_id] if c.doc_id in reused else -1 for c in chunks], dtype=np.int64)

    def features(self) -> ChunkFeatures | None:
        """The previous build's per-chunk features, when it kept them for all its chunks."""
        return None if self.folder is None else ChunkFeatures.load(self.folder, len(self.row_of))

    def reuse(self, doc: Document) -> list[Chunk] | None:
        """The chunks of `doc` from the previous build when its text and title are unchanged."""
        before = self.documents.get(doc.doc_id)
        if before is None or before != (doc.text, doc.title) or doc.doc_id not in self.chunks:
            return None
        return [Chunk.model_validate({**record, "text": doc.text[record["start"]:record["end"]], "group": -1})
                for record in self.chunks[doc.doc_id]]


NOTHING = PreviousChunks({}, {})


def previous_chunks(settings: Settings, embedder: Encoder) -> PreviousChunks:
    """The current build's chunks when it was chunked like `settings` would; else nothing."""
    try:
        folder = current_build(settings)
        manifest = json.loads((folder / "manifest.json").read_text())
        built, wanted = manifest.get("settings", {}), index_fingerprint(settings, embedder)
        if any(built.get(key) != wanted[key] for key in CHUNK_KEYS):
            return NOTHING
        return PreviousChunks(_documents(folder / "documents.jsonl"), *_chunks(folder / "chunks.jsonl"), folder)
    except (IndexMissing, OSError, ValueError, KeyError, TypeError, AttributeError):
        return NOTHING


def _documents(path: Path) -> dict[str, tuple[str, str | None]]:
    documents = {}
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                record = json.loads(line)
                documents[record["doc_id"]] = (record["text"], record.get("title"))
    return documents


def _chunks(path: Path) -> tuple[dict[str, list[dict[str, Any]]], dict[str, int]]:
    """Chunk records by document id, and each chunk id's row (its line among the records)."""
    chunks: dict[str, list[dict[str, Any]]] = {}
    row_of: dict[str, int] = {}
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                record = json.loads(line)
                chunks.setdefault(record["doc_id"], []).append(record)
                row_of[record["chunk_id"]] = len(row_of)
    return chunks, row_of
