"""Which vector backend a build uses: picked by configuration, recorded in the build folder.

`BACKENDS` names each backend's class by import path, so a backend's libraries (pymilvus) are
imported only when it is used, and no backend module imports another.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rag.config import VectorSettings
from rag.errors import ConfigError, IndexCorrupt
from rag.stores.base import DESCRIPTION, StoreBackend, VectorStore, read_description, write_description

BACKENDS = {"faiss": "rag.stores.faiss_store:FaissStore", "milvus": "rag.stores.milvus_store:MilvusStore"}


def backend(name: str | None) -> StoreBackend:
    """The backend class registered as `name`."""
    if name not in BACKENDS:
        raise ConfigError(f"unknown vector backend {name!r}; use one of {', '.join(BACKENDS)}")
    module, _, cls = BACKENDS[name].partition(":")
    return getattr(importlib.import_module(module), cls)


def create_store(settings: VectorSettings, folder: Path, dimension: int,
                 expected_rows: int) -> VectorStore:
    """An empty store of the configured backend for a new build in `folder`."""
    return backend(settings.backend).create(settings, folder, dimension, expected_rows)


def check_backend(settings: VectorSettings) -> None:
    """Fail before any embedding work when the configured backend cannot be used."""
    backend(settings.backend).check(settings)


def open_store(settings: VectorSettings, folder: Path) -> VectorStore:
    """The store a finished build wrote, opened with the backend recorded in its folder."""
    described = read_description(folder)
    name = described.get("backend")
    if name not in BACKENDS:
        raise IndexCorrupt(f"{folder / DESCRIPTION} names unknown backend {name!r}; rebuild with 'rag index'")
    return backend(name).open(settings, folder, described)


def drop_store(settings: VectorSettings, folder: Path) -> None:
    """Free what a build's store holds outside its folder (a Milvus server collection)."""
    try:
        described = read_description(folder)
    except IndexCorrupt:
        return
    if described.get("backend") in BACKENDS:
        backend(described["backend"]).drop(settings, folder, described)


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


