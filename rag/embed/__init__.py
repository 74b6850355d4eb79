"""Embedding: the `Encoder` protocol, the PyTorch and ONNX encoders, the cache, which one to load."""

from __future__ import annotations

from rag.embed.base import Encoder, FakeEncoder
from rag.embed.cache import EmbeddingCache, embed_with_cache
from rag.embed.loading import load_encoder, load_query_encoder

__all__ = ["EmbeddingCache", "Encoder", "FakeEncoder", "embed_with_cache", "load_encoder", "load_query_encoder"]
