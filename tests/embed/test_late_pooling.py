"""Span pooling of token embeddings (late chunking), on small arrays. Fast tier."""

from __future__ import annotations

import numpy as np

from rag.embed.late import pool_spans, token_starts


def test_each_span_is_the_normalized_mean_of_the_tokens_starting_inside_it():
    hidden = np.array([[1, 0], [3, 0], [0, 2], [0, 4]], dtype=np.float32)
    starts = np.array([0, 4, 10, 15])
    vectors, empty = pool_spans(hidden, starts, [(0, 8), (10, 20)])
    assert empty == []
    assert np.allclose(vectors, [[1, 0], [0, 1]])
    vectors, _ = pool_spans(hidden, starts, [(0, 12)])  # tokens at 0, 4 and 10: mean (4/3, 2/3)
    assert np.allclose(vectors[0], np.array([4, 2]) / np.linalg.norm([4, 2]))


def test_a_span_past_the_last_token_is_reported_empty():
    hidden = np.ones((2, 3), dtype=np.float32)
    vectors, empty = pool_spans(hidden, np.array([0, 5]), [(0, 4), (30, 40), (5, 6)])
    assert empty == [1] and not vectors[1].any() and vectors[0].any() and vectors[2].any()


def test_special_and_empty_tokens_are_dropped():
    offsets = [(0, 0), (0, 3), (4, 9), (0, 0)]  # [CLS] "The" "cases" [SEP]
    keep, starts = token_starts(offsets, [1, 0, 0, 1])
    assert keep.tolist() == [1, 2] and starts.tolist() == [0, 4]
    assert pool_spans(np.zeros((0, 2), np.float32), starts[:0], [])[0].shape == (0, 2)
