"""The read-only Index a question is answered from, and `open_index`.

An Index is data: documents, chunks, the vector store, the BM25 index, sentence vectors and
near-duplicate groups, all read once. The encoder for questions is injected, or loaded from the
settings on the first dense query. `close()` releases the vector store (a Milvus Lite server).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Self

import numpy as np

from rag.config import Settings
from rag.embed import Encoder, load_query_encoder
from rag.errors import IndexCorrupt, IndexMismatch
from rag.index.layout import current_build, hold_build, release_build
from rag.index.manifest import check_manifest, read_manifest
from rag.ingest.dedup import canonical_members
from rag.stores import KeywordIndex, open_store
from rag.types import Chunk, Document


class Index:
    """A loaded index: documents, chunks, vectors, keyword index and duplicate groups in memory.

    Everything is read once; question answering never touches the disk. The embedder is loaded
    lazily on the first dense query.
    """

    def __init__(self, settings: Settings, folder: Path, encoder: Encoder | None = None) -> None:
        self.settings = settings
        self.folder = folder
        self.manifest = read_manifest(folder)
        check_manifest(self.manifest, settings)
        try:
            self.documents = {d.doc_id: d for d in read_jsonl(folder / "documents.jsonl", Document)}
            self.chunks = _read_chunks(folder / "chunks.jsonl", self.documents)
            self.sentence_vectors = np.load(folder / "sentences.npy", allow_pickle=False)
            self.sentence_row = _sentence_rows(folder / "sentences.json", len(self.sentence_vectors))
        except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
            raise IndexCorrupt(f"index files in {folder} are unreadable ({type(exc).__name__}: "
                               f"{str(exc)[:200]}); rebuild with 'rag index'") from None
        self.store = open_store(settings.vectors, folder)
        self.keyword = KeywordIndex.load(folder)
        if self.store.size != len(self.chunks) or self.keyword.size != len(self.chunks):
            raise IndexCorrupt(f"index in {folder} is inconsistent (vectors {self.store.size}, "
                               f"chunks {len(self.chunks)}); rebuild with 'rag index'")
        self.group_members: dict[int, list[int]] = {}
        for i, chunk in enumerate(self.chunks):
            if chunk.group >= 0:
                self.group_members.setdefault(chunk.group, []).append(i)
        lengths = {d: len(doc.text) for d, doc in self.documents.items()}
        self.canonical = canonical_members(self.chunks, [c.group for c in self.chunks], lengths)
        self._embedder = encoder
        built = self.manifest.get("model", {}).get("dimension")
        if encoder is not None and built is not None and built != encoder.dimension:
            raise IndexMismatch(f"the index holds {built}-dimensional vectors but the encoder given makes "
                                f"{encoder.dimension}; open it with the model it was built with")
        self._lease = hold_build(folder)  # pruning keeps this build (and its collection) while open

    @functools.cached_property
    def chunk_docs(self) -> tuple[np.ndarray, dict[str, int]]:
        """(each chunk row's document position, {doc id: position}): filters build row masks
        from these in numpy instead of a Python pass over every chunk per question."""
        order = {doc_id: i for i, doc_id in enumerate(self.documents)}
        rows = np.fromiter((order[c.doc_id] for c in self.chunks), dtype=np.int64, count=len(self.chunks))
        return rows, order

    @property
    def embedder(self) -> Encoder:
        """The question encoder: the injected one, else the configured model (loaded once): its
        cached ONNX export without PyTorch when there is one (`rag.embed.loading`)."""
        if self._embedder is None:
            self._embedder = load_query_encoder(self.settings.embedding)
        return self._embedder

    @property
    def encoder_backend(self) -> str | None:
        """'onnx' or 'torch' once the question encoder is loaded (None before, or for a fake)."""
        return getattr(self._embedder, "backend", None)

    def close(self) -> None:
        """Release the vector store and the build lease; the Index must not be searched afterwards."""
        self.store.close()
        release_build(self._lease)
        self._lease = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def build_id(self) -> str:
        return self.folder.name


def open_index(settings: Settings, encoder: Encoder | None = None) -> Index:
    """Open the current index under `settings.index_dir`, checking it matches `settings`."""
    return Index(settings, current_build(settings), encoder)


def read_jsonl(path: Path, model: type) -> list:
    with open(path, encoding="utf-8") as handle:
        return [model.model_validate_json(line) for line in handle if line.strip()]


def _sentence_rows(path: Path, vectors: int) -> dict[tuple[str, int, int], int]:
    """(doc_id, start, end) -> row of sentences.npy; ValueError/TypeError when malformed."""
    rows = json.loads(path.read_text())
    if not isinstance(rows, list) or len(rows) != vectors:
        raise ValueError(f"{path.name} does not list one (doc_id, start, end) per sentence vector")
    return {(str(d), int(s), int(e)): i for i, (d, s, e) in enumerate(rows)}


def _read_chunks(path: Path, documents: dict[str, Document]) -> list[Chunk]:
    chunks = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            data = json.loads(line)
            data["text"] = documents[data["doc_id"]].text[data["start"]:data["end"]]
            chunks.append(Chunk.model_validate(data))
    return chunks
