"""Dense vector search behind a small interface; FAISS is the one backend today.

Vectors are L2-normalized, so inner product is cosine similarity. `flat` search is exact; `hnsw`
trades a little recall for speed on large corpora. Either way the index is one plain FAISS file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import faiss
import numpy as np

from rag.errors import IndexCorrupt


class VectorStore(Protocol):
    """What retrieval needs from a vector backend."""

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]: ...

    def save(self, path: Path) -> None: ...

    @property
    def size(self) -> int: ...


class FaissStore:
    """Exact (flat) inner-product search over normalized vectors."""

    FILE = "vectors.faiss"

    def __init__(self, index: faiss.Index) -> None:
        self.index = index

    @classmethod
    def build(cls, vectors: np.ndarray) -> FaissStore:
        index = faiss.IndexFlatIP(vectors.shape[1])
        if len(vectors):
            index.add(np.ascontiguousarray(vectors, dtype=np.float32))
        return cls(index)

    @classmethod
    def load(cls, folder: Path) -> FaissStore:
        path = folder / cls.FILE
        try:
            return cls(faiss.read_index(str(path)))
        except RuntimeError as exc:
            raise IndexCorrupt(f"cannot read {path}: {exc}; rebuild with 'rag index'") from None

    def save(self, folder: Path) -> None:
        faiss.write_index(self.index, str(folder / self.FILE))

    @property
    def size(self) -> int:
        return int(self.index.ntotal)

    @property
    def dimension(self) -> int:
        return int(self.index.d)

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(ids, cosine scores) of the `k` nearest vectors, best first."""
        k = min(k, self.size)
        if k <= 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        scores, ids = self.index.search(np.asarray(query, np.float32).reshape(1, -1), k)
        keep = ids[0] >= 0
        return ids[0][keep], scores[0][keep]

    def vectors(self) -> np.ndarray:
        """All stored vectors (flat index only), for index-time analysis such as dedup."""
        return self.index.reconstruct_n(0, self.size)
