"""Connections of the Milvus backend: pymilvus clients, Milvus Lite's one-process rule, errors.

Milvus Lite runs as a gRPC server thread inside this process and holds an exclusive lock on its
database. Several stores of one process share that server (counted here); another process that
holds the database is refused with IndexBusy instead of hanging. pymilvus, gRPC and Milvus Lite
errors become VectorStoreUnavailable naming what to check.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from rag.config import VectorSettings
from rag.errors import ConfigError, IndexBusy, RagError, VectorStoreUnavailable

TIMEOUT_S = 30.0


def pymilvus_module() -> Any:
    try:
        import pymilvus
    except ImportError:
        raise ConfigError("vectors.backend is 'milvus' but pymilvus is not installed; install it with "
                          "pip install 'rag[milvus]' (pymilvus and milvus-lite), or set "
                          "RAG_VECTORS__BACKEND=faiss") from None
    return pymilvus


def public_uri(uri: str) -> str:
    """The URI without credentials, for descriptions and messages."""
    if "://" not in uri:
        return uri
    parts = urlsplit(uri)
    if parts.username or parts.password:
        host = parts.hostname or ""
        netloc = f"{host}:{parts.port}" if parts.port else host
        return urlunsplit(parts._replace(netloc=netloc))
    return uri


_lite_lock = threading.Lock()
_lite_users: dict[str, int] = {}  # Lite database path -> open stores using it in this process


def _acquire_lite(path: str) -> None:
    """Count one more user of the Lite database at `path`, refusing one locked by another process."""
    with _lite_lock:
        if path not in _lite_users:
            _check_unlocked(path)
        _lite_users[path] = _lite_users.get(path, 0) + 1


def _check_unlocked(path: str) -> None:
    lock = os.path.join(path, "LOCK")
    try:
        fd = os.open(lock, os.O_RDWR)
    except OSError:
        return  # a new database, or not one at all (Milvus Lite reports that)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(fd, fcntl.LOCK_UN)
    except OSError:
        raise IndexBusy(f"the Milvus Lite database {path} is open in another process (a running "
                        "'rag serve' or 'rag index'?); Milvus Lite allows one process per database. "
                        "Stop that process, or use a Milvus server (RAG_VECTORS__MILVUS_URI="
                        "http://host:19530) to share an index between processes") from None
    finally:
        os.close(fd)


def release(client: Any, lite_path: str | None) -> None:
    """Close a client; stop the in-process Lite server when its last store closes."""
    with suppress(Exception):  # closing must not fail
        client.close()
    if lite_path is not None:
        _release_lite(lite_path)


def _release_lite(path: str) -> None:
    """One user fewer of the Lite database at `path`; the last one stops its server thread."""
    with _lite_lock:
        left = _lite_users.get(path, 0) - 1
        if left > 0:
            _lite_users[path] = left
            return
        _lite_users.pop(path, None)
        with suppress(Exception):  # stopping must not fail (nor a missing milvus_lite)
            from milvus_lite.server_manager import server_manager_instance

            server_manager_instance.release_server(path)


def connect(settings: VectorSettings, uri: str) -> tuple[Any, str | None]:
    """A connected MilvusClient and, for Milvus Lite, the database path it holds."""
    pymilvus = pymilvus_module()
    lite_path = uri if uri.endswith(".db") else None
    if lite_path is not None:
        require_lite()
        if not Path(lite_path).parent.is_dir():
            raise ConfigError(f"the folder of the Milvus Lite database {lite_path} does not exist; "
                              "create it or fix RAG_VECTORS__MILVUS_URI")
        _acquire_lite(lite_path)
    token = settings.milvus_token.get_secret_value() if settings.milvus_token else ""
    try:
        with translate_errors(f"connect to {'Milvus Lite database ' + uri if lite_path else public_uri(uri)}", uri):
            client = pymilvus.MilvusClient(uri=uri, token=token, timeout=TIMEOUT_S)
    except BaseException:
        if lite_path is not None:
            _release_lite(lite_path)
        raise
    return client, lite_path


def require_lite() -> None:
    try:
        import milvus_lite  # noqa: F401
    except ImportError:
        raise ConfigError("a Milvus Lite database needs the milvus-lite package: pip install "
                          "'rag[milvus]', or set RAG_VECTORS__MILVUS_URI to a Milvus server") from None


@contextmanager
def translate_errors(what: str, uri: str) -> Iterator[None]:
    """pymilvus and gRPC errors as VectorStoreUnavailable, with what to check."""
    try:
        yield
    except RagError:
        raise
    except Exception as exc:  # pymilvus, grpc and Milvus Lite errors; OSError
        if not isinstance(exc, OSError) and type(exc).__module__.split(".")[0] not in (
                "pymilvus", "grpc", "milvus_lite"):
            raise
        detail = getattr(exc, "message", None) or str(exc) or type(exc).__name__
        hint = ("check the database path and that no other process holds it" if uri.endswith(".db")
                else "check that the server is running and RAG_VECTORS__MILVUS_URI / "
                     "RAG_VECTORS__MILVUS_TOKEN")
        raise VectorStoreUnavailable(f"Milvus failed to {what}: {detail}; {hint}") from None
