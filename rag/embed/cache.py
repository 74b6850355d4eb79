"""The embedding cache: vectors by (encoder key, sha256 of the exact text), in SQLite.

Re-indexing after a change embeds only new or changed text; the rest comes from here. The file
lives in `index_dir/cache/` and outlives builds. Any SQLite failure (a damaged file, a full disk,
a read-only folder) is a StorageError that says how to get going again: the cache is only a cache.
"""

from __future__ import annotations

import functools
import hashlib
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from rag.embed.base import Encoder
from rag.errors import StorageError

Progress = Callable[[int], None]
T = TypeVar("T")


def _storage_errors(method: Callable[..., T]) -> Callable[..., T]:
    """Turn sqlite3 and OS errors of a cache method into one StorageError naming the file."""

    @functools.wraps(method)
    def wrapper(self: EmbeddingCache, *args: Any, **kwargs: Any) -> T:
        try:
            return method(self, *args, **kwargs)
        except (sqlite3.Error, OSError) as exc:
            raise StorageError(f"the embedding cache {self.path} failed ({exc}); free disk space, or "
                               "delete the file (it is rebuilt), or set RAG_EMBEDDING__CACHE=false") from None

    return wrapper


class EmbeddingCache:
    """SQLite store of vectors by (model key, text sha256); safe against a killed process."""

    @_storage_errors
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(str(path), timeout=30, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("CREATE TABLE IF NOT EXISTS vectors (model TEXT, hash TEXT, vector BLOB, "
                        "PRIMARY KEY (model, hash))")

    @staticmethod
    def digest(text: str) -> str:
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    @_storage_errors
    def get_many(self, model: str, hashes: Sequence[str], dim: int) -> dict[str, np.ndarray]:
        """Stored vectors by hash (entries of another dimension are ignored)."""
        return {digest: vector for digest, vector in self._blobs(model, hashes) if vector.shape[0] == dim}

    @_storage_errors
    def get_blocks(self, model: str, hashes: Sequence[str], dim: int) -> dict[str, np.ndarray]:
        """Stored (rows, dim) blocks by hash: several vectors kept as one entry (late chunking)."""
        return {digest: block.reshape(-1, dim) for digest, block in self._blobs(model, hashes)
                if block.size % dim == 0}

    def _blobs(self, model: str, hashes: Sequence[str]) -> Iterator[tuple[str, np.ndarray]]:
        unique = list(dict.fromkeys(hashes))
        for i in range(0, len(unique), 500):
            part = unique[i:i + 500]
            rows = self.db.execute(
                f"SELECT hash, vector FROM vectors WHERE model=? AND hash IN ({','.join('?' * len(part))})",
                [model, *part])
            for digest, blob in rows:
                yield digest, np.frombuffer(blob, dtype=np.float32)

    @_storage_errors
    def put_many(self, model: str, items: Sequence[tuple[str, np.ndarray]]) -> None:
        with self.db:
            self.db.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?, ?)",
                                [(model, h, np.asarray(v, np.float32).tobytes()) for h, v in items])

    def close(self) -> None:
        try:
            self.db.close()
        except sqlite3.Error:  # closing a damaged database must not hide the error that got us here
            pass


def embed_with_cache(
    embedder: Encoder, texts: Sequence[str], cache: EmbeddingCache | None,
    progress: Progress | None = None,
) -> tuple[np.ndarray, int]:
    """Vectors for `texts`, embedding only those not cached. Returns (vectors, number embedded)."""
    hashes = [EmbeddingCache.digest(t) for t in texts]
    known = cache.get_many(embedder.key, hashes, embedder.dimension) if cache else {}
    # shortest first across the whole list, so batches pad little (encode sorts only within a step)
    missing = sorted((i for i, h in enumerate(hashes) if h not in known), key=lambda i: len(texts[i]))
    if progress and len(texts) - len(missing):
        progress(len(texts) - len(missing))
    out = np.zeros((len(texts), embedder.dimension), dtype=np.float32)
    for i, digest in enumerate(hashes):
        if digest in known:
            out[i] = known[digest]
    step = max(embedder.batch_size * 8, 512)
    for begin in range(0, len(missing), step):
        part = missing[begin:begin + step]
        vectors = embedder.encode([texts[i] for i in part], progress)
        out[part] = vectors
        if cache:
            cache.put_many(embedder.key, [(hashes[i], vectors[j]) for j, i in enumerate(part)])
    return out, len(missing)
