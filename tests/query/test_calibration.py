"""The refusal model: fitting separates the classes, the threshold meets its recall target, files
round-trip and a broken file is a clear error. Fast tier."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rag.errors import InputError
from rag.calibration import FEATURES, PACKAGED, Calibration, choose_threshold, fit, load_calibration


def rows(n: int, shift: float, seed: int) -> list[dict[str, float]]:
    rng = np.random.default_rng(seed)
    return [{f: float(v) for f, v in zip(FEATURES, rng.normal(shift, 1.0, len(FEATURES)), strict=True)}
            for _ in range(n)]


def test_fit_separates_classes_and_meets_the_recall_target():
    good, bad = rows(60, 1.5, 1), rows(20, -1.5, 2)
    model = fit(good + bad, [True] * 60 + [False] * 20, refusal_recall=0.9)
    refused_bad = sum(model.probability(r) < model.threshold for r in bad)
    refused_good = sum(model.probability(r) < model.threshold for r in good)
    assert refused_bad >= 18 and refused_good <= 3
    assert all(w > 0 for w in model.weights)  # every feature is higher for the answerable class here


def test_threshold_balances_missed_refusals_against_false_ones():
    probs = np.array([0.1, 0.2, 0.3, 0.9, 0.95])
    answerable = np.array([False, False, True, True, True])
    assert choose_threshold(probs, answerable) == pytest.approx(0.25)  # both refused, none wrongly
    overlap = np.array([0.1, 0.5, 0.4, 0.9, 0.95])  # an answerable one sits below an unanswerable one
    # a false refusal costs (1/3)/0.025 = 13.3, a missed refusal (1/2)/0.1 = 5: miss the 0.5 one
    assert choose_threshold(overlap, answerable) == pytest.approx(0.25)
    # tolerate false refusals (0.5): refusing the 0.5 one now costs (1/3)/0.5 = 0.67 < 5
    assert choose_threshold(overlap, answerable, false_refusal=0.5) == pytest.approx(0.7)
    assert choose_threshold(probs, np.ones(5, bool)) == 0.0


def test_fit_needs_both_classes():
    with pytest.raises(InputError, match="both"):
        fit(rows(5, 0, 3), [True] * 5)


def test_a_fitted_file_takes_precedence_and_a_broken_one_is_an_error(tmp_path):
    packaged, where = load_calibration(tmp_path)
    assert where == str(PACKAGED) and packaged.features == list(FEATURES)
    own = fit(rows(30, 1, 4) + rows(10, -1, 5), [True] * 30 + [False] * 10)
    (tmp_path / "calibration.json").write_text(own.to_json())
    loaded, where = load_calibration(tmp_path)
    assert where.startswith(str(tmp_path)) and loaded == own and loaded.digest == own.digest
    (tmp_path / "calibration.json").write_text(json.dumps({"features": ["nope"]}))
    with pytest.raises(InputError, match="rag calibrate"):
        load_calibration(tmp_path)


def test_probability_is_a_logistic_of_standardized_features():
    model = Calibration(["score"], [1.0], [2.0], [3.0], -0.5, 0.5)
    assert model.probability({"score": 3.0}) == pytest.approx(1 / (1 + np.exp(-(3.0 * 1.0 - 0.5))))
