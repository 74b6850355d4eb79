"""The manifest of a build: what it was built with, and the check that refuses a mismatch.

`index_fingerprint` lists every setting the stored vectors and keyword index depend on. A build
records it in `manifest.json`; opening compares it with the settings in use and names each
difference with the environment variable that would match the index.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rag.config import Settings
from rag.embed import Encoder
from rag.errors import IndexCorrupt, IndexMismatch

FORMAT_VERSION = 1
# Fingerprint keys added after format 1 shipped, with the value every older build implied.
_ADDED_KEYS: dict[str, Any] = {"vectors.backend": "faiss", "retrieval.bm25_k1": 1.2, "retrieval.bm25_b": 0.75,
                               "embedding.sentence_vectors": "separate"}


def index_fingerprint(settings: Settings, embedder: Encoder | None = None) -> dict[str, Any]:
    """The settings an index depends on; opening with different values is refused."""
    fingerprint: dict[str, Any] = {
        "embedding.model": embedder.name if embedder is not None else settings.embedding.model,
        "embedding.precision": settings.embedding.precision,
        "embedding.sentence_vectors": settings.embedding.sentence_vectors,
        "chunking.max_tokens": settings.chunking.max_tokens,
        "chunking.overlap_tokens": settings.chunking.overlap_tokens,
        "chunking.title_prefix": settings.chunking.title_prefix,
        "cleaning.enabled": settings.cleaning.enabled,
        "cleaning.extra_patterns": list(settings.cleaning.extra_patterns),
        "vectors.backend": settings.vectors.backend,
        "retrieval.bm25_k1": settings.retrieval.bm25_k1,
        "retrieval.bm25_b": settings.retrieval.bm25_b,
    }
    if embedder is not None:
        fingerprint["embedding.dimension"] = embedder.dimension
    return fingerprint


def read_manifest(folder: Path) -> dict[str, Any]:
    try:
        return json.loads((folder / "manifest.json").read_text())
    except (OSError, ValueError) as exc:
        raise IndexCorrupt(f"cannot read {folder / 'manifest.json'}: {exc}; rebuild with 'rag index'") from None


def check_manifest(manifest: dict[str, Any], settings: Settings) -> None:
    """Refuse an index built with other model or chunking settings, naming each difference."""
    if manifest.get("format_version") != FORMAT_VERSION:
        raise IndexMismatch(f"index format {manifest.get('format_version')} is not the supported "
                            f"{FORMAT_VERSION}; rebuild with 'rag index'")
    built = {**_ADDED_KEYS, **manifest.get("settings", {})}
    wanted = index_fingerprint(settings)
    differs = [key for key, value in wanted.items() if not _same_setting(key, built.get(key), value)]
    diffs = [f"{key}: index has {built.get(key)!r}, settings say {wanted[key]!r}" for key in differs]
    if diffs:
        env = ", ".join(f"RAG_{k.upper().replace('.', '__')}" for k in differs)
        raise IndexMismatch("index was built with different settings (" + "; ".join(diffs) +
                            f"). Rebuild with 'rag index', or set {env} to the index's values.")


def _same_setting(key: str, built: Any, wanted: Any) -> bool:
    # 'auto' precision accepts fp32 or bf16: their vectors of one model agree to cosine >= 0.9999.
    # int8 vectors agree only to about 0.99, so an int8 index needs int8 settings and vice versa.
    if key == "embedding.precision" and "auto" in (built, wanted) and "int8" not in (built, wanted):
        return True
    return built == wanted
