"""The refusal model: fitting separates the classes, the threshold meets its recall target, files
round-trip and a broken file is a clear error. Fast tier."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rag.calibration import FEATURES, PACKAGED, Calibration, choose_threshold, fit, load_calibration
from rag.errors import InputError


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


def test_threshold_is_chosen_on_out_of_fold_probabilities():
    """Each threshold row's probability comes from a model that never saw its fold; rows outside
    `threshold_rows` always train. Same data, same numbers."""
    from rag.calibration import _newton, _out_of_fold

    data = rows(30, 0.4, 4) + rows(12, -0.4, 5) + rows(20, 2.0, 6)
    y = np.array([1.0] * 30 + [0.0] * 12 + [1.0] * 20)
    x = np.array([[r[f] for f in FEATURES] for r in data])
    z = np.hstack([(x - x.mean(axis=0)) / x.std(axis=0), np.ones((len(x), 1))])
    chosen = np.array([True] * 42 + [False] * 20)
    probs = _out_of_fold(z, y, 1.0, chosen)
    held = np.r_[np.arange(0, 30, 5), np.arange(30, 42, 5)]  # fold 0 of each class, by row order
    train = np.setdiff1d(np.arange(62), held)
    w = _newton(z[train], y[train], 1.0)
    assert np.allclose(probs[held], 1.0 / (1.0 + np.exp(-(z[held] @ w))))
    in_sample = 1.0 / (1.0 + np.exp(-(z @ _newton(z, y, 1.0))))
    assert not np.allclose(probs[chosen], in_sample[chosen])
    first = fit(data, [bool(v) for v in y], threshold_rows=list(chosen))
    assert first.threshold == fit(data, [bool(v) for v in y], threshold_rows=list(chosen)).threshold
    assert first.threshold == pytest.approx(choose_threshold(probs[chosen], y[chosen].astype(bool)), abs=1e-6)
    before = fit(data, [bool(v) for v in y], threshold_rows=list(chosen), out_of_fold=False)
    assert before.threshold == pytest.approx(choose_threshold(in_sample[chosen], y[chosen].astype(bool)), abs=1e-6)


def test_one_unanswerable_row_falls_back_to_in_sample_probabilities():
    data = rows(8, 1.0, 7) + rows(1, -1.0, 8)
    model = fit(data, [True] * 8 + [False])
    assert model.probability(data[-1]) < model.threshold <= min(model.probability(r) for r in data[:8])
