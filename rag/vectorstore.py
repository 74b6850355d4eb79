"""Dense vector search behind one small interface; the backend is picked by configuration.

A store holds (id, vector, doc_id) rows for one build of the index. Ids are the chunk rows of
`chunks.jsonl`, so the store never needs chunk text or metadata: those stay in the build folder.
Vectors are L2-normalized, so inner product is cosine similarity.

Backends, one per module:
    faiss   (default) `rag.faiss_store`: a FAISS file in the build folder; flat, HNSW or IVF
            chosen by corpus size.
    milvus  `rag.milvus_store`: Milvus Lite (a .db file in the build folder) or a Milvus server
            or cluster (`http(s)://host:port`).

Each build folder records its backend in `vectorstore.json`; `open_store` reads that file, so an
index always opens with the backend that wrote it.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from rag.config import VectorSettings
from rag.errors import ConfigError, IndexCorrupt

DESCRIPTION = "vectorstore.json"


class VectorStore(Protocol):
    """What indexing and retrieval need from a vector backend."""

    def add(self, ids: np.ndarray, vectors: np.ndarray, doc_ids: Sequence[str]) -> None:
        """Insert rows; `ids` must be new."""

    def delete_documents(self, doc_ids: Collection[str]) -> int:
        """Remove every row of these documents; returns how many rows went."""

    def search(self, query: np.ndarray, k: int,
               doc_ids: Collection[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(ids, cosine scores) of the `k` nearest rows, best first, optionally only of `doc_ids`."""

    @property
    def size(self) -> int:
        """Number of rows."""

    def save(self) -> None:
        """Make every added or deleted row durable (the build is switched in only after this)."""

    def describe(self) -> dict[str, Any]:
        """Backend, index type and parameters: written to `vectorstore.json` and the manifest."""

    def close(self) -> None:
        """Release files or connections."""


def create_store(settings: VectorSettings, folder: Path, dimension: int,
                 expected_rows: int) -> VectorStore:
    """An empty store of the configured backend for a new build in `folder`."""
    if settings.backend == "faiss":
        from rag.faiss_store import FaissStore

        return FaissStore.create(settings, folder, dimension, expected_rows)
    if settings.backend == "milvus":
        from rag.milvus_store import MilvusStore

        return MilvusStore.create(settings, folder, dimension, expected_rows)
    raise ConfigError(f"unknown vector backend {settings.backend!r}; use 'faiss' or 'milvus'")


def check_backend(settings: VectorSettings) -> None:
    """Fail before any embedding work when the configured backend cannot be used."""
    if settings.backend == "milvus":
        from rag.milvus_store import MilvusStore

        MilvusStore.check(settings)


def open_store(settings: VectorSettings, folder: Path) -> VectorStore:
    """The store a finished build wrote, opened with the backend recorded in its folder."""
    described = read_description(folder)
    backend = described.get("backend")
    if backend == "faiss":
        from rag.faiss_store import FaissStore

        return FaissStore.open(settings, folder, described)
    if backend == "milvus":
        from rag.milvus_store import MilvusStore

        return MilvusStore.open(settings, folder, described)
    raise IndexCorrupt(f"{folder / DESCRIPTION} names unknown backend {backend!r}; rebuild with 'rag index'")


def drop_store(settings: VectorSettings, folder: Path) -> None:
    """Free what a build's store holds outside its folder (a Milvus server collection)."""
    try:
        described = read_description(folder)
    except IndexCorrupt:
        return
    if described.get("backend") == "milvus":
        from rag.milvus_store import MilvusStore

        MilvusStore.drop(settings, folder, described)


def build_store(settings: VectorSettings, folder: Path, vectors: np.ndarray,
                doc_ids: Sequence[str]) -> dict[str, Any]:
    """Write all rows (ids 0..n-1) into a new store in `folder`; returns its description."""
    store = create_store(settings, folder, vectors.shape[1], len(vectors))
    try:
        step = 50_000
        for begin in range(0, len(vectors), step):
            end = min(begin + step, len(vectors))
            store.add(np.arange(begin, end, dtype=np.int64), vectors[begin:end], doc_ids[begin:end])
        store.save()
        described = store.describe()
    finally:
        store.close()
    write_description(folder, described)
    return described


def write_description(folder: Path, described: dict[str, Any]) -> None:
    (folder / DESCRIPTION).write_text(json.dumps(described, indent=2))


def read_description(folder: Path) -> dict[str, Any]:
    path = folder / DESCRIPTION
    if not path.exists() and (folder / "vectors.faiss").exists():
        return {"backend": "faiss", "kind": "flat"}  # builds written before vectorstore.json existed
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise IndexCorrupt(f"cannot read {path}: {exc}; rebuild with 'rag index'") from None
