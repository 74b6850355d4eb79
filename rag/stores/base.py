"""The vector-store interface every backend implements, and the description file of a build.

A store holds (id, vector, doc_id) rows for one build of the index. Ids are the chunk rows of
`chunks.jsonl`, so the store never needs chunk text or metadata: those stay in the build folder.
Vectors are L2-normalized, so inner product is cosine similarity.

Backends, one per module, none importing another (`rag.stores.registry` picks one):
    faiss   (default) `rag.stores.faiss_store`: a FAISS file in the build folder; flat, HNSW or
            IVF chosen by corpus size.
    milvus  `rag.stores.milvus_store`: Milvus Lite (a .db file in the build folder) or a Milvus
            server or cluster (`http(s)://host:port`).

Each build folder records its backend in `vectorstore.json`; `open_store` reads that file, so an
index always opens with the backend that wrote it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from rag.config import VectorSettings
from rag.errors import IndexCorrupt

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


class StoreBackend(Protocol):
    """A backend class: how builds make, open, check and free its stores."""

    @classmethod
    def create(cls, settings: VectorSettings, folder: Path, dimension: int,
               expected_rows: int) -> VectorStore: ...

    @classmethod
    def open(cls, settings: VectorSettings, folder: Path, described: dict[str, Any]) -> VectorStore: ...

    @classmethod
    def check(cls, settings: VectorSettings) -> None:
        """Fail before any embedding work when the backend cannot be used."""

    @classmethod
    def drop(cls, settings: VectorSettings, folder: Path, described: dict[str, Any]) -> None:
        """Free what a build's store holds outside its folder."""


def ivf_lists(settings: VectorSettings, rows: int) -> int:
    """IVF cell count for any backend: configured, else about 3 * sqrt(rows), with >= 39
    training points per cell.

    At 1M rows (bench/scale.py, nprobe 64): 2,000 cells built in 19 s, searched in 3.8 ms (p50)
    at recall@10 0.987; 3,000 cells in 32 s, 2.8 ms, 0.991; 4,000 cells in 110 s (k-means on
    256k points), 2.1 ms, 0.991. The middle one keeps a re-index at 1M rows short. With 3,000
    cells nprobe 48 measured 2.7 ms at recall@10 0.988, nprobe 64 3.6 ms at 0.991 (same run).
    """
    wanted = settings.ivf_lists or int(3 * math.sqrt(max(rows, 1)))
    return max(1, min(wanted, rows // 39 or 1))


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
