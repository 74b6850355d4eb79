"""The FAISS vector backend: one file in the build folder, index type chosen by corpus size.

Kinds (setting `vectors.faiss_kind`, `auto` by default):
    flat  exact inner-product search; used up to `flat_max_rows` vectors (50k: ~3 ms a query)
    ivf   inverted lists over k-means cells, `ivf_nprobe` cells searched; auto beyond flat_max_rows
    hnsw  graph search; fastest queries at 1M rows but slow to build and no in-place delete

Files: `vectors.faiss` (the FAISS index, external ids = chunk rows) and `vector_docs.json`
(document id of every row, for deletes and document filters).

faiss-cpu bundles an OpenBLAS (0.3.15 in faiss-cpu 1.15) that misdetects newer AVX-512 CPUs and
falls back to its generic "Prescott" kernels. Before faiss loads we pin the core type, unless
OPENBLAS_CORETYPE is already set: SkylakeX on CPUs with the AVX-512 F/CD/BW/DQ/VL set, Haswell on
other AVX2 CPUs. IVF training of 2,000 cells on 128k of 1M rows (bench/scale.py, 2-core Xeon):
Prescott 38 s, Haswell 14.5 s, SkylakeX 8.0 s.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
from collections.abc import Collection, Iterator, Sequence
from pathlib import Path
from typing import Any

from rag.hardware import cpu_flags


def _openblas_core(flags: Collection[str]) -> str | None:
    """The OpenBLAS kernels for this CPU's instruction sets; None leaves OpenBLAS to decide."""
    if platform.machine() not in ("x86_64", "AMD64"):
        return None
    if {"avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"} <= set(flags):
        return "SkylakeX"
    return "Haswell" if "avx2" in flags else None


if _core := _openblas_core(cpu_flags()):
    os.environ.setdefault("OPENBLAS_CORETYPE", _core)

import faiss
import numpy as np

from rag.config import VectorSettings
from rag.errors import IndexCorrupt
from rag.stores.base import ivf_lists

# Batches of >= 20 queries use BLAS matrix products instead of one-by-one scans (5-10x faster);
# single queries keep the scan. faiss 1.15 compares queries x dimension with the threshold (its
# default, 128,000, means BLAS only from 334 queries of 384 dimensions), older faiss the query
# count (default 20). A bare 20 under the new rule sent single queries to BLAS as well: flat
# search at 100k rows took 24-27 ms instead of 11 (bench/scale.py). Set per index dimension.
_BLAS_FROM_QUERIES = 20
_THRESHOLD_IN_FLOATS = faiss.cvar.distance_compute_blas_threshold > 1000


def _use_blas_from_batches(dimension: int) -> None:
    per_query = dimension if _THRESHOLD_IN_FLOATS else 1
    faiss.cvar.distance_compute_blas_threshold = _BLAS_FROM_QUERIES * per_query

FILE = "vectors.faiss"
DOCS_FILE = "vector_docs.json"


@contextlib.contextmanager
def _one_thread() -> Iterator[None]:
    """One OpenMP thread for the calling thread only (OpenMP thread counts are per thread).

    faiss splits one query's flat scan across threads, and each part waits for a free core: with
    both cores busy elsewhere, flat search at 20k rows took 24-48 ms a query on 2 threads and
    1.1-1.9 ms on one; idle, one thread was still faster (1.1 vs 1.5 ms). IVF and HNSW search one
    query on one thread anyway. Builds and batch searches keep all threads.
    """
    before = faiss.omp_get_max_threads()
    if before == 1:
        yield
        return
    faiss.omp_set_num_threads(1)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)


def choose_kind(settings: VectorSettings, rows: int) -> str:
    """The index type for `rows` vectors: the configured one, or by size when `auto`."""
    if settings.faiss_kind != "auto":
        return settings.faiss_kind
    return "flat" if rows <= settings.flat_max_rows else "ivf"


def new_index(settings: VectorSettings, kind: str, dimension: int, rows: int) -> faiss.Index:
    """An empty FAISS index of `kind` taking external ids."""
    _use_blas_from_batches(dimension)
    if kind == "flat":
        return faiss.IndexIDMap2(faiss.IndexFlatIP(dimension))
    if kind == "hnsw":
        graph = faiss.IndexHNSWFlat(dimension, settings.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        graph.hnsw.efConstruction = settings.hnsw_ef_construction
        return faiss.IndexIDMap2(graph)
    if kind == "ivf":
        quantizer = faiss.IndexFlatIP(dimension)
        return faiss.IndexIVFFlat(quantizer, dimension, ivf_lists(settings, rows), faiss.METRIC_INNER_PRODUCT)
    raise ValueError(f"unknown FAISS index kind {kind!r}")


class FaissStore:
    """A FAISS index plus the document of every row."""

    def __init__(self, settings: VectorSettings, folder: Path, index: faiss.Index, kind: str,
                 doc_of: dict[int, str] | None, expected_rows: int = 0) -> None:
        self.settings = settings
        self.folder = folder
        self.index = index
        self.kind = kind
        self._doc_of = doc_of
        self._rows_of: dict[str, np.ndarray] | None = None  # doc id -> its rows, for filtered search
        self._expected_rows = expected_rows
        self._pending: list[tuple[np.ndarray, np.ndarray]] = []  # (ids, vectors) added before training

    @classmethod
    def create(cls, settings: VectorSettings, folder: Path, dimension: int, expected_rows: int) -> FaissStore:
        kind = choose_kind(settings, expected_rows)
        return cls(settings, folder, new_index(settings, kind, dimension, expected_rows), kind, {},
                   expected_rows)

    @classmethod
    def open(cls, settings: VectorSettings, folder: Path, described: dict[str, Any]) -> FaissStore:
        path = folder / FILE
        try:
            index = faiss.read_index(str(path))
        except RuntimeError as exc:
            raise IndexCorrupt(f"cannot read {path}: {exc}; rebuild with 'rag index'") from None
        _use_blas_from_batches(int(index.d))
        return cls(settings, folder, index, str(described.get("kind", "flat")), None)

    @classmethod
    def check(cls, settings: VectorSettings) -> None:
        """FAISS is a library in this process: nothing to reach."""

    @classmethod
    def drop(cls, settings: VectorSettings, folder: Path, described: dict[str, Any]) -> None:
        """The FAISS file lives in the build folder and goes with it."""

    # ------------------------------------------------------------------ writing

    def add(self, ids: np.ndarray, vectors: np.ndarray, doc_ids: Sequence[str]) -> None:
        if len(ids) == 0:
            return
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        ids = np.asarray(ids, dtype=np.int64)
        docs = self._docs()
        docs.update(zip(ids.tolist(), doc_ids, strict=True))
        self._rows_of = None
        if self.index.is_trained:
            self.index.add_with_ids(vectors, ids)
            return
        # IVF: k-means must see the whole corpus, not its first batch. Rows arrive in corpus order
        # (build_store adds 50,000 at a time), so a first batch covers few topics: at 1M rows,
        # 4,000 cells, nprobe 32, recall@10 was 0.928 trained on the first batch and 0.989 on a
        # sample of all rows (bench/scale.py --parts 2). The arrays are kept (not copied) until
        # all expected rows are in, or until the store is first used.
        self._pending.append((ids, vectors))
        if sum(len(i) for i, _ in self._pending) >= self._expected_rows:
            self._flush()

    def _flush(self) -> None:
        """Train on a sample of every row added so far, then add them."""
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        total = sum(len(i) for i, _ in pending)
        wanted = min(total, 64 * self.index.nlist)
        pick = np.sort(np.random.default_rng(0).choice(total, wanted, replace=False))
        sample = np.empty((wanted, self.index.d), dtype=np.float32)
        begin = done = 0
        for _, vectors in pending:
            inside = pick[np.searchsorted(pick, begin):np.searchsorted(pick, begin + len(vectors))]
            sample[done:done + len(inside)] = vectors[inside - begin]
            done += len(inside)
            begin += len(vectors)
        self._train(sample)
        del sample
        for ids, vectors in pending:
            self.index.add_with_ids(vectors, ids)

    def _train(self, vectors: np.ndarray) -> None:
        cells = self.index.nlist
        sample = vectors
        if len(vectors) > 64 * cells:
            pick = np.random.default_rng(0).choice(len(vectors), 64 * cells, replace=False)
            sample = vectors[np.sort(pick)]
        self.index.train(sample)

    def delete_documents(self, doc_ids: Collection[str]) -> int:
        self._flush()
        wanted = set(doc_ids)
        docs = self._docs()
        gone = np.array([i for i, d in docs.items() if d in wanted], dtype=np.int64)
        if len(gone) == 0:
            return 0
        if self.kind == "hnsw":
            self._rebuild_without(gone)
        else:
            self.index.remove_ids(faiss.IDSelectorBatch(gone))
        for i in gone.tolist():
            del docs[i]
        self._rows_of = None
        return len(gone)

    def _rebuild_without(self, gone: np.ndarray) -> None:
        """HNSW graphs cannot drop nodes: rebuild from the stored vectors that remain."""
        drop = set(gone.tolist())
        keep = np.array([i for i in self._docs() if i not in drop], dtype=np.int64)
        vectors = np.stack([self.index.reconstruct(int(i)) for i in keep]) if len(keep) else None
        self.index = new_index(self.settings, "hnsw", self.index.d, len(keep))
        if vectors is not None:
            self.index.add_with_ids(vectors, keep)

    def save(self) -> None:
        self._flush()
        temp = self.folder / f".{FILE}.tmp"
        faiss.write_index(self.index, str(temp))
        os.replace(temp, self.folder / FILE)
        docs = self._docs()
        (self.folder / DOCS_FILE).write_text(json.dumps({"ids": list(docs), "doc_ids": list(docs.values())}))

    def describe(self) -> dict[str, Any]:
        params: dict[str, Any] = {}
        if self.kind == "hnsw":
            params = {"m": self.settings.hnsw_m, "ef_construction": self.settings.hnsw_ef_construction,
                      "ef_search": self.settings.hnsw_ef_search}
        elif self.kind == "ivf":
            params = {"lists": int(self.index.nlist), "nprobe": self.settings.ivf_nprobe}
        return {"backend": "faiss", "kind": self.kind, "rows": self.size,
                "dimension": int(self.index.d), "params": params, "file": FILE}

    def close(self) -> None:
        pass

    # ------------------------------------------------------------------ reading

    @property
    def size(self) -> int:
        self._flush()
        return int(self.index.ntotal)

    @property
    def dimension(self) -> int:
        return int(self.index.d)

    def search(self, query: np.ndarray, k: int,
               doc_ids: Collection[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(ids, cosine scores) of the `k` nearest vectors, best first."""
        k = min(k, self.size)
        if k <= 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        params = self._params(doc_ids)
        matrix = np.asarray(query, np.float32).reshape(1, -1)
        with _one_thread():
            scores, ids = self.index.search(matrix, k, params=params) if params else self.index.search(matrix, k)
        keep = ids[0] >= 0
        return ids[0][keep], scores[0][keep]

    def _params(self, doc_ids: Collection[str] | None) -> faiss.SearchParameters | None:
        selector = None
        if doc_ids is not None:
            rows_of = self._doc_rows()
            parts = [rows_of[d] for d in set(doc_ids) if d in rows_of]
            selector = faiss.IDSelectorBatch(np.concatenate(parts) if parts else np.zeros(0, np.int64))
        if self.kind == "ivf":
            params = faiss.SearchParametersIVF(nprobe=self.settings.ivf_nprobe)
        elif self.kind == "hnsw":
            params = faiss.SearchParametersHNSW(efSearch=self.settings.hnsw_ef_search)
        elif selector is None:
            return None
        else:
            params = faiss.SearchParameters()
        if selector is not None:
            params.sel = selector
            params._selector = selector  # keep the selector alive as long as the params
        return params

    def _doc_rows(self) -> dict[str, np.ndarray]:
        """Each document's rows, computed once per change of the store (a filter names documents;
        a Python pass over every row per question cost about 5 ms at 55,000 rows)."""
        rows_of = self._rows_of
        if rows_of is None:
            grouped: dict[str, list[int]] = {}
            for row, doc in self._docs().items():
                grouped.setdefault(doc, []).append(row)
            rows_of = self._rows_of = {d: np.array(r, dtype=np.int64) for d, r in grouped.items()}
        return rows_of

    def _docs(self) -> dict[int, str]:
        if self._doc_of is None:
            path = self.folder / DOCS_FILE
            try:
                data = json.loads(path.read_text())
                self._doc_of = dict(zip(data["ids"], data["doc_ids"], strict=True))
            except (OSError, ValueError, KeyError) as exc:
                raise IndexCorrupt(f"cannot read {path}: {exc}; rebuild with 'rag index'") from None
        return self._doc_of
