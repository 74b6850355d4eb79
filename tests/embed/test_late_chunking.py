"""Late chunking with the real model: one pass gives the chunk vector and its sentences' vectors.

PyTorch and ONNX pool the same spans to the same vectors; the chunk vector equals a plain encode;
a sentence's late vector is near its separately encoded vector but not equal (it has context).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rag.config import EmbeddingSettings
from rag.embed.model_files import read_export
from rag.embed.onnx_encoder import OnnxEncoder
from rag.embed.torch_encoder import Embedder

pytestmark = pytest.mark.slow  # real model

ROOT = Path(__file__).resolve().parents[2]
TEXT = ("General to General: The driving force of those talks has not been Washington or Moscow. "
        "It has been the two high-ranking generals who run the war. Both men have reason to talk.")


def sentence_spans(text: str) -> list[tuple[int, int]]:
    spans, start = [], text.index(":") + 2
    for part in text[start:].split(". "):
        end = start + len(part) + (0 if part.endswith(".") else 1)
        spans.append((start, end))
        start = end + 1
    return spans


@pytest.fixture(scope="module")
def encoders() -> tuple[Embedder, OnnxEncoder]:
    torch_fp32 = Embedder(EmbeddingSettings(precision="fp32"))
    torch_fp32.prepare_serving()
    return torch_fp32, OnnxEncoder(read_export(torch_fp32.name))


def test_pytorch_and_onnx_pool_the_same_spans_to_the_same_vectors(encoders):
    torch_fp32, onnx = encoders
    texts, spans = [TEXT, TEXT[:60]], [sentence_spans(TEXT), [(0, 18)]]
    a_vec, a_spans, a_empty = torch_fp32.encode_with_spans(texts, spans)
    b_vec, b_spans, b_empty = onnx.encode_with_spans(texts, spans)
    assert a_empty == b_empty == [[], []]
    assert np.sum(a_vec * b_vec, axis=1).min() >= 0.9999
    for a, b in zip(a_spans, b_spans, strict=True):
        assert a.shape == b.shape and np.sum(a * b, axis=1).min() >= 0.9999


def test_the_chunk_vector_is_the_plain_encode_and_sentences_carry_context(encoders):
    torch_fp32, _ = encoders
    spans = sentence_spans(TEXT)
    vectors, pooled, _ = torch_fp32.encode_with_spans([TEXT], [spans])
    assert float(vectors[0] @ torch_fp32.encode_queries([TEXT])[0]) >= 0.9999
    separate = torch_fp32.encode_queries([TEXT[a:b] for a, b in spans])
    cosines = np.sum(pooled[0] * separate, axis=1)
    assert (cosines > 0.6).all() and (cosines < 0.999).all(), cosines
    assert np.allclose(np.linalg.norm(pooled[0], axis=1), 1.0, atol=1e-5)


def test_spans_beyond_the_window_are_reported(encoders):
    _, onnx = encoders
    long_text = "word " * 400 + "The final sentence is past the window."
    start = long_text.index("The final")
    _, pooled, empty = onnx.encode_with_spans([long_text], [[(0, 20), (start, len(long_text))]])
    assert empty == [[1]] and not pooled[0][1].any()
