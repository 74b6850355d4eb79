"""The small error vocabulary shown to users.

Each error has a stable `code`. The core knows nothing of transports: the edges translate codes,
the CLI to one line on stderr and exit code 1, `api/errors.py` to an HTTP status.
"""

from __future__ import annotations


class RagError(Exception):
    """An error whose message a user can act on. `code` is stable and machine-readable."""

    code = "rag_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigError(RagError):
    """Settings are invalid or contradict each other."""

    code = "invalid_config"


class InputError(RagError):
    """A request or argument is malformed (empty question, k out of range, ...)."""

    code = "invalid_input"


class NotFound(RagError):
    """A named thing (document, index) does not exist."""

    code = "not_found"


class IndexMissing(RagError):
    """No index has been built at the configured location."""

    code = "index_missing"


class IndexMismatch(RagError):
    """The index on disk was built with other settings than the ones in use."""

    code = "index_mismatch"


class IndexBusy(RagError):
    """Another process is building the same index right now."""

    code = "index_busy"


class IndexCorrupt(RagError):
    """Index files are missing or unreadable."""

    code = "index_corrupt"


class NothingIndexed(RagError):
    """A build found no document it could index."""

    code = "nothing_indexed"


class ModelUnavailable(RagError):
    """The embedding model cannot be loaded (not installed, no network to fetch it)."""

    code = "model_unavailable"


class VectorStoreUnavailable(RagError):
    """The vector database (a Milvus server, or a Milvus Lite file) cannot be reached or refused."""

    code = "vector_store_unavailable"


class StorageError(RagError):
    """A file cannot be written or read: disk full, no permission, a damaged cache database."""

    code = "storage_error"
