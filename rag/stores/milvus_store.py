"""The Milvus vector backend: Milvus Lite in the build folder, or a Milvus server or cluster.

Where the rows go (setting `vectors.milvus_uri`):
    ""                  (default) a Milvus Lite database `milvus.db` inside each build folder, so a
                        build stays one self-contained folder, switched in atomically like FAISS
    /path/to/file.db    one shared Milvus Lite database, one collection per build
    http(s)://host:port a Milvus server or cluster (token: `vectors.milvus_token`), one collection
                        per build, dropped when the build is pruned

Schema: `id` INT64 primary key (the chunk row), `doc_id` VARCHAR, `vector` FLOAT_VECTOR(dim),
metric IP (vectors are L2-normalized, so scores are cosine). Index type `vectors.milvus_index`.

Everything goes through pymilvus' `MilvusClient`, which speaks the same gRPC protocol to Milvus
Lite and to a cluster. For a `.db` path pymilvus starts Milvus Lite in this process: a gRPC server
thread on a free 127.0.0.1 port that holds an exclusive lock on the database, so one process at a
time can open a Lite database. `close()` (or garbage collection of the store) stops that server.
"""

from __future__ import annotations

import json
import re
import weakref
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from rag.config import VectorSettings
from rag.errors import ConfigError, IndexCorrupt
from rag.stores.base import ivf_lists, write_description
from rag.stores.milvus_connect import (
    connect,
    public_uri,
    pymilvus_module,
    release,
    require_lite,
    translate_errors,
)

FILE = "milvus.db"
BATCH = 5_000  # rows per insert call (384-dim float32: ~8 MB, well under gRPC's message limit)
DELETE_BATCH = 1_000  # document ids per delete expression
MAX_K = 16_384  # Milvus' largest search limit (topk)
VARCHAR_MAX = 65_535


def collection_name(folder: Path) -> str:
    """`rag_<build id>`: a build folder's name (without `.tmp-`) in Milvus' allowed characters."""
    build = folder.name.removeprefix(".tmp-")
    return ("rag_" + re.sub(r"[^A-Za-z0-9_]", "_", build))[:255]


def in_filter(doc_ids: Collection[str]) -> str:
    """A Milvus filter matching rows of these documents: `doc_id in ["a", "b\\"c"]`.

    JSON string escaping (\\", \\\\, \\n, \\uXXXX) is also Milvus' expression string syntax.
    """
    return "doc_id in [" + ", ".join(json.dumps(str(d), ensure_ascii=False) for d in doc_ids) + "]"


# --------------------------------------------------------------------------- the store


class MilvusStore:
    """One collection of (id, doc_id, vector) rows on Milvus Lite or a Milvus server."""

    def __init__(self, settings: VectorSettings, folder: Path, uri: str, collection: str,
                 dimension: int, kind: str, params: dict[str, Any], lite_file: str | None) -> None:
        self.settings = settings
        self.folder = folder
        self.uri = uri
        self.collection = collection
        self.dimension = dimension
        self.kind = kind
        self.params = params
        self.lite_file = lite_file  # relative to `folder` when the Lite database lives in it
        self.client, lite_path = self._connect()
        self._closer = weakref.finalize(self, release, self.client, lite_path)

    # ------------------------------------------------------------------ lifecycle

    @classmethod
    def create(cls, settings: VectorSettings, folder: Path, dimension: int, expected_rows: int) -> MilvusStore:
        pymilvus_module()
        uri, lite_file = _target(settings, folder)
        kind = settings.milvus_index
        store = cls(settings, folder, uri, collection_name(folder), dimension, kind,
                    _index_params(settings, kind, expected_rows), lite_file)
        try:
            store._create_collection()
            # Recorded now (build_store rewrites it when done), so a build killed half-way can
            # still have its server collection dropped when the stale temporary folder is removed.
            write_description(folder, store.describe(rows=0))
        except BaseException:
            store.close()
            raise
        return store

    @classmethod
    def check(cls, settings: VectorSettings) -> None:
        """Raise now if a build could not write its vectors: no pymilvus or milvus-lite, a bad
        URI, an unreachable server or a shared Lite database held by another process."""
        pymilvus_module()
        uri, lite_file = _target(settings, Path("."))
        if lite_file is not None:
            require_lite()
            return
        client, lite_path = connect(settings, uri)
        release(client, lite_path)

    @classmethod
    def open(cls, settings: VectorSettings, folder: Path, described: dict[str, Any]) -> MilvusStore:
        pymilvus_module()
        uri, lite_file = _recorded_target(settings, folder, described)
        try:
            collection = str(described["collection"])
            dimension = int(described["dimension"])
        except (KeyError, TypeError, ValueError):
            raise IndexCorrupt(f"{folder / 'vectorstore.json'} does not name a Milvus collection; "
                               "rebuild with 'rag index'") from None
        store = cls(settings, folder, uri, collection, dimension, str(described.get("kind", "FLAT")),
                    dict(described.get("params") or {}), lite_file)
        try:
            with store._calls("open the collection"):
                if not store.client.has_collection(collection):
                    raise IndexCorrupt(f"collection {collection!r} is missing from {store._where()}; "
                                       "rebuild with 'rag index'")
                store.client.load_collection(collection)
        except BaseException:
            store.close()
            raise
        return store

    @classmethod
    def drop(cls, settings: VectorSettings, folder: Path, described: dict[str, Any]) -> None:
        """Drop a build's collection from a server or shared Lite database (a Lite database in
        the build folder goes with the folder)."""
        if described.get("file"):
            return
        pymilvus_module()
        uri, _ = _recorded_target(settings, folder, described)
        client, lite_path = connect(settings, uri)
        try:
            name = str(described.get("collection") or collection_name(folder))
            with translate_errors(f"drop collection {name!r} at {public_uri(uri)}", uri):
                if client.has_collection(name):
                    client.drop_collection(name)
        finally:
            release(client, lite_path)

    def close(self) -> None:
        self._closer()

    def _connect(self) -> tuple[Any, str | None]:
        return connect(self.settings, self.uri)

    def _create_collection(self) -> None:
        pymilvus = pymilvus_module()
        client = self.client
        schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", pymilvus.DataType.INT64, is_primary=True)
        schema.add_field("doc_id", pymilvus.DataType.VARCHAR, max_length=VARCHAR_MAX)
        schema.add_field("vector", pymilvus.DataType.FLOAT_VECTOR, dim=self.dimension)
        index = client.prepare_index_params()
        index.append(_vector_index(self.kind, self.params.get("build", {})))
        with self._calls("create the collection"):
            if client.has_collection(self.collection):  # left by a killed build of the same id
                client.drop_collection(self.collection)
            client.create_collection(self.collection, schema=schema, consistency_level="Strong")
            # sync=False: the collection is empty, so the index is ready at once; waiting would
            # poll once a 0.5 s and call AllocTimestamp, which Milvus Lite does not implement
            client.create_index(self.collection, index, sync=False)
            client.load_collection(self.collection)

    # ------------------------------------------------------------------ writing

    def add(self, ids: np.ndarray, vectors: np.ndarray, doc_ids: Sequence[str]) -> None:
        ids = np.asarray(ids, dtype=np.int64)
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if len(ids) != len(vectors) or len(ids) != len(doc_ids):
            raise ValueError(f"{len(ids)} ids, {len(vectors)} vectors and {len(doc_ids)} doc ids")
        with self._calls("insert vectors"):
            for begin in range(0, len(ids), BATCH):
                end = min(begin + BATCH, len(ids))
                rows = [{"id": int(i), "doc_id": str(d), "vector": v}
                        for i, d, v in zip(ids[begin:end].tolist(), doc_ids[begin:end], vectors[begin:end],
                                           strict=True)]
                self.client.insert(self.collection, rows)

    def delete_documents(self, doc_ids: Collection[str]) -> int:
        wanted = list(dict.fromkeys(doc_ids))
        if not wanted:
            return 0
        with self._calls("delete vectors"):
            before = self.size
            for begin in range(0, len(wanted), DELETE_BATCH):
                self.client.delete(self.collection, filter=in_filter(wanted[begin:begin + DELETE_BATCH]))
            return before - self.size

    def save(self) -> None:
        with self._calls("flush the collection"):
            self.client.flush(self.collection)

    def describe(self, rows: int | None = None) -> dict[str, Any]:
        described: dict[str, Any] = {
            "backend": "milvus", "kind": self.kind, "rows": self.size if rows is None else rows,
            "dimension": self.dimension, "metric": "IP", "params": self.params,
            "collection": self.collection,
        }
        if self.lite_file:
            described["file"] = self.lite_file
        else:
            described["uri"] = public_uri(self.uri)
        return described

    # ------------------------------------------------------------------ reading

    @property
    def size(self) -> int:
        with self._calls("count rows"):
            rows = self.client.query(self.collection, filter="", output_fields=["count(*)"])
        return int(rows[0]["count(*)"])

    def search(self, query: np.ndarray, k: int,
               doc_ids: Collection[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(ids, cosine scores) of the `k` (at most 16,384) nearest rows, best first."""
        k = min(k, MAX_K)
        if k <= 0 or (doc_ids is not None and not doc_ids):
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        vector = np.asarray(query, np.float32).reshape(-1)
        with self._calls("search"):
            hits = self.client.search(
                self.collection, data=[vector], limit=k, anns_field="vector",
                filter=in_filter(doc_ids) if doc_ids is not None else "",
                output_fields=["id"], search_params=self._search_params(k))[0]
        ids = np.fromiter((h["id"] for h in hits), dtype=np.int64, count=len(hits))
        scores = np.fromiter((h["distance"] for h in hits), dtype=np.float32, count=len(hits))
        order = np.argsort(-scores, kind="stable")  # best first, whatever the server's tie order
        return ids[order], scores[order]

    def _search_params(self, k: int) -> dict[str, Any]:
        params = dict(self.params.get("search", {}))
        if self.kind == "HNSW":
            params["ef"] = max(int(params.get("ef", 0)), k)
        return {"metric_type": "IP", "params": params}

    # ------------------------------------------------------------------ errors

    def _where(self) -> str:
        if self.lite_file:
            return f"the Milvus Lite database {self.folder / self.lite_file}"
        return f"Milvus at {public_uri(self.uri)}"

    @contextmanager
    def _calls(self, what: str) -> Iterator[None]:
        with translate_errors(f"{what} (collection {self.collection!r} in {self._where()})", self.uri):
            yield


# --------------------------------------------------------------------------- helpers


def _target(settings: VectorSettings, folder: Path) -> tuple[str, str | None]:
    """(URI, Lite file relative to `folder` or None) for a new build."""
    uri = settings.milvus_uri.strip()
    if not uri:
        return str(folder.resolve() / FILE), FILE
    if uri.endswith(".db"):
        return str(Path(uri).expanduser().resolve()), None
    if uri.startswith(("http://", "https://", "tcp://")):
        return uri, None
    raise ConfigError(f"vectors.milvus_uri {uri!r} is neither empty (Milvus Lite in the index folder), "
                      "a .db file path nor http(s)://host:port; fix RAG_VECTORS__MILVUS_URI")


def _recorded_target(settings: VectorSettings, folder: Path, described: dict[str, Any]) -> tuple[str, str | None]:
    """Where an existing build's rows are: its own Lite file, else the configured (or recorded) URI."""
    if described.get("file"):
        return str(folder.resolve() / str(described["file"])), str(described["file"])
    uri = settings.milvus_uri.strip() or str(described.get("uri") or "")
    if not uri:
        raise ConfigError(f"the index in {folder} keeps its vectors in Milvus collection "
                          f"{described.get('collection')!r}; set RAG_VECTORS__MILVUS_URI to that server")
    if uri.endswith(".db"):
        uri = str(Path(uri).expanduser().resolve())
    return uri, None


def _vector_index(kind: str, build: dict[str, Any]) -> Any:
    """The vector index, its build parameters sent as one JSON `params` entry.

    pymilvus 3 flattens build parameters into separate keys; Milvus servers read either form but
    Milvus Lite reads only `params`, so `nlist`, `M` and `efConstruction` would be lost on it.
    """
    from pymilvus.milvus_client.index import IndexParam

    class JsonParamsIndex(IndexParam):
        def get_index_configs(self) -> dict[str, Any]:
            return {"index_type": kind, "metric_type": "IP", "params": dict(build)}

    return JsonParamsIndex("vector", kind, "")


def _index_params(settings: VectorSettings, kind: str, rows: int) -> dict[str, Any]:
    """Build and search parameters of a Milvus index type, from the same settings as FAISS."""
    if kind == "HNSW":
        return {"build": {"M": settings.hnsw_m, "efConstruction": settings.hnsw_ef_construction},
                "search": {"ef": settings.hnsw_ef_search}}
    if kind == "IVF_FLAT":
        lists = ivf_lists(settings, rows)
        return {"build": {"nlist": lists}, "search": {"nprobe": min(settings.ivf_nprobe, lists)}}
    return {}
