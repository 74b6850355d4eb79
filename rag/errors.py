"""The small error vocabulary shown to users. Edges translate it: CLI exit code 1, HTTP status."""

from __future__ import annotations


class RagError(Exception):
    """An error whose message a user can act on. `code` is stable and machine-readable."""

    code = "rag_error"
    http_status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigError(RagError):
    """Settings are invalid or contradict each other."""

    code = "invalid_config"
    http_status = 500


class InputError(RagError):
    """A request or argument is malformed (empty question, k out of range, ...)."""

    code = "invalid_input"
    http_status = 422


class NotFound(RagError):
    """A named thing (document, index) does not exist."""

    code = "not_found"
    http_status = 404


class IndexMissing(NotFound):
    """No index has been built at the configured location."""

    code = "index_missing"
    http_status = 503


class IndexMismatch(RagError):
    """The index on disk was built with other settings than the ones in use."""

    code = "index_mismatch"
    http_status = 503


class IndexBusy(RagError):
    """Another process is building the same index right now."""

    code = "index_busy"
    http_status = 409


class IndexCorrupt(RagError):
    """Index files are missing or unreadable."""

    code = "index_corrupt"
    http_status = 503


class NothingIndexed(RagError):
    """A build found no document it could index."""

    code = "nothing_indexed"
    http_status = 422


class ModelUnavailable(RagError):
    """The embedding model cannot be loaded (not installed, no network to fetch it)."""

    code = "model_unavailable"
    http_status = 503


class VectorStoreUnavailable(RagError):
    """The vector database (a Milvus server, or a Milvus Lite file) cannot be reached or refused."""

    code = "vector_store_unavailable"
    http_status = 503
