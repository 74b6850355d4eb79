"""Late chunking: vectors of spans of a text, pooled from the token embeddings of one pass.

Answer scoring needs a vector per sentence. Encoding every sentence again costs about as much as
encoding the chunks themselves; pooling the chunk pass's token embeddings over each sentence's
span costs nothing but a mean. Each sentence then also "sees" its chunk's context through
attention, which is the point of late chunking (Günther et al., 2024).

A token belongs to a span when its first character lies inside the span. A span that got no token
(cut off by the model's window) is reported, so the caller can encode it on its own.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

Spans = Sequence[tuple[int, int]]


def pool_spans(hidden: np.ndarray, starts: np.ndarray, spans: Spans) -> tuple[np.ndarray, list[int]]:
    """Mean of `hidden` rows whose token start offset lies in each span, L2-normalized.

    `hidden` is (tokens, dim) for one text without padding or special tokens, `starts` the
    character offset where each of those tokens begins (ascending). Returns the (spans, dim)
    vectors and the positions of spans without tokens (their rows are zero).
    """
    out = np.zeros((len(spans), hidden.shape[1]), dtype=np.float32)
    empty: list[int] = []
    if not len(spans):
        return out, empty
    bounds = np.asarray(spans, dtype=np.int64)
    first = np.searchsorted(starts, bounds[:, 0], side="left")
    last = np.searchsorted(starts, bounds[:, 1], side="left")
    cumulative = np.vstack([np.zeros((1, hidden.shape[1]), np.float64), np.cumsum(hidden, axis=0, dtype=np.float64)])
    for row, (a, b) in enumerate(zip(first, last, strict=True)):
        if b <= a:
            empty.append(row)
            continue
        mean = (cumulative[b] - cumulative[a]) / (b - a)
        norm = float(np.linalg.norm(mean))
        out[row] = mean / norm if norm > 0 else mean
    return out, empty


def token_starts(offsets: Sequence[tuple[int, int]], special: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """(positions of real tokens, their start offsets) from a tokenizer's offsets and special mask."""
    keep = np.asarray([i for i, (flag, (a, b)) in enumerate(zip(special, offsets, strict=True))
                       if not flag and b > a], dtype=np.int64)
    starts = np.asarray([offsets[i][0] for i in keep], dtype=np.int64)
    return keep, starts
