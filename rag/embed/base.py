"""What the rest of rag needs from an encoder, and a deterministic fake for fast unit tests.

`Encoder` is the protocol chunking, building and querying use: token counting and splitting (chunks
are sized in the model's own word pieces), bulk encoding, and low-latency question encoding. The
real one is `rag.embed.torch_encoder.Embedder`; `FakeEncoder` hashes words into a small vector so
tests of logic around the encoder (builds, manifests, fusion, answering rules) run in milliseconds
without loading a model. It is never a stand-in for testing the model itself.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

import numpy as np

Progress = Callable[[int], None]


@runtime_checkable
class Encoder(Protocol):
    """Text -> L2-normalized float32 vectors, plus the tokenizer facts chunking needs."""

    name: str
    precision: str
    dimension: int
    max_seq_length: int

    @property
    def key(self) -> str:
        """Identifies this encoder's vectors (cache key, manifest)."""

    @property
    def batch_size(self) -> int: ...

    @property
    def max_text_tokens(self) -> int:
        """Word pieces of text that fit in one window."""

    def count_tokens(self, texts: Sequence[str]) -> list[int]: ...

    def split_tokens(self, text: str, limit: int) -> list[tuple[int, int]]:
        """Character ranges of `text`, each at most `limit` word pieces."""

    def encode(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray: ...

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray: ...

    def encode_query(self, text: str) -> np.ndarray: ...


_PIECE = re.compile(r"\w+|[^\w\s]")


class FakeEncoder:
    """Words hashed into `dimension` signed buckets: similar wording gives similar vectors.

    Deterministic across processes (sha1, not Python's salted hash). Word pieces are words and
    punctuation marks, so token limits behave like the real tokenizer's, only coarser.
    """

    def __init__(self, dimension: int = 64, max_seq_length: int = 256, name: str = "fake-hash") -> None:
        self.name = name
        self.precision = "fp32"
        self.dimension = dimension
        self.max_seq_length = max_seq_length
        self.calls = 0  # texts encoded, so tests can count encoder work

    @property
    def key(self) -> str:
        return f"{self.name}|{self.dimension}|{self.max_seq_length}"

    @property
    def batch_size(self) -> int:
        return 64

    @property
    def max_text_tokens(self) -> int:
        return self.max_seq_length - 2

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [len(_PIECE.findall(t)) for t in texts]

    def split_tokens(self, text: str, limit: int) -> list[tuple[int, int]]:
        spans = [m.span() for m in _PIECE.finditer(text)]
        return [(window[0][0], window[-1][1]) for i in range(0, len(spans), limit)
                if (window := spans[i:i + limit])]

    def encode(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            out[row] = self._vector(text)
        self.calls += len(texts)
        if progress and texts:
            progress(len(texts))
        return out

    def encode_with_spans(self, texts: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]],
                          progress: Progress | None = None) -> tuple[np.ndarray, list[np.ndarray], list[list[int]]]:
        """Late chunking's contract: one "pass" per text (counted in `calls`); a span's vector
        hashes the span's words, and a span without words is reported empty."""
        vectors = self.encode(texts, progress)
        pooled, empty = [], []
        for text, text_spans in zip(texts, spans, strict=True):
            block = np.zeros((len(text_spans), self.dimension), dtype=np.float32)
            missing = []
            for i, (start, end) in enumerate(text_spans):
                if re.search(r"\w", text[start:end]):
                    block[i] = self._vector(text[start:end])
                else:
                    missing.append(i)
            pooled.append(block)
            empty.append(missing)
        return vectors, pooled, empty

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self.encode(texts)

    def encode_query(self, text: str) -> np.ndarray:
        return self.encode([text])[0]

    def _vector(self, text: str) -> np.ndarray:
        vector = np.zeros(self.dimension, dtype=np.float32)
        for word in re.findall(r"\w+", text.lower()):
            digest = hashlib.sha1(word.encode()).digest()
            vector[int.from_bytes(digest[:4], "little") % self.dimension] += 1.0 if digest[4] & 1 else -1.0
        norm = float(np.linalg.norm(vector))
        if norm == 0:
            vector[0] = 1.0
            return vector
        return vector / norm
