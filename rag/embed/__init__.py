"""Embedding: the `Encoder` protocol, the real sentence-transformers/ONNX encoder, the cache."""

from __future__ import annotations

from rag.config import EmbeddingSettings
from rag.embed.base import Encoder, FakeEncoder
from rag.embed.cache import EmbeddingCache, embed_with_cache


def load_encoder(settings: EmbeddingSettings) -> Encoder:
    """The configured model, loaded once per process (imports torch on first use)."""
    from rag.embed.torch_encoder import Embedder

    return Embedder(settings)


__all__ = ["EmbeddingCache", "Encoder", "FakeEncoder", "embed_with_cache", "load_encoder"]
