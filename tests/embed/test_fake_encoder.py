"""The fake encoder keeps the Encoder contract the build and query stages rely on."""

from __future__ import annotations

import numpy as np

from rag import Encoder, FakeEncoder


def test_fake_encoder_satisfies_the_protocol():
    assert isinstance(FakeEncoder(), Encoder)


def test_vectors_are_normalized_deterministic_and_closer_for_shared_words():
    enc = FakeEncoder()
    a, b, c = enc.encode(["generals negotiate peace", "the generals negotiate", "tomato soup recipe"])
    assert np.allclose([np.linalg.norm(v) for v in (a, b, c)], 1.0)
    assert np.array_equal(FakeEncoder().encode_query("generals negotiate peace"), a)
    assert a @ b > a @ c
    assert np.linalg.norm(enc.encode_query("")) == 1.0  # no words still gives a unit vector


def test_split_tokens_respects_the_limit_and_covers_the_text():
    enc = FakeEncoder()
    text = "One, two three. Four five six seven! Eight"
    spans = enc.split_tokens(text, 3)
    assert all(enc.count_tokens([text[s:e]])[0] <= 3 for s, e in spans)
    assert spans[0][0] == 0 and spans[-1][1] == len(text)
    assert sum(enc.count_tokens([text[s:e]])[0] for s, e in spans) == enc.count_tokens([text])[0]


def test_progress_is_reported_and_calls_counted():
    enc, seen = FakeEncoder(), []
    enc.encode(["a b", "c d", "e"], seen.append)
    assert seen == [3] and enc.calls == 3
