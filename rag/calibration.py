"""When to refuse: a probability that the question is answered by the documents, from a few
features of the best answer unit, by a logistic model fitted on dev questions.

The fitted model is a small JSON file. The package ships one (`calibration.json`, fitted on the
dev halves named in its `fitted_on`, see eval/README.md); `rag calibrate --gold my.jsonl` fits one
on a user's own questions and writes it into the index folder, where it takes precedence. The
build manifest records which calibration was current.

Fitting is plain Newton's method on an L2-penalized log-loss (a handful of features, a few hundred
questions): no extra dependency, and the same numbers on every machine.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rag.errors import InputError, ModelUnavailable

if TYPE_CHECKING:
    from rag.config import AnswerSettings

FEATURES = ("score", "cosine", "lexical", "focus", "unknown_names", "new_terms", "type_missing",
            "missing_idf")
PACKAGED = Path(__file__).with_name("calibration.json")
READER_FOLDER = Path(__file__).with_name("reader_model")
FILENAME = "calibration.json"


@dataclass
class Calibration:
    """A fitted abstention model: standardized features, weights, bias and refusal threshold."""

    features: list[str]
    mean: list[float]
    scale: list[float]
    weights: list[float]
    bias: float
    threshold: float
    fitted_on: dict[str, Any] = field(default_factory=dict)

    def probability(self, values: dict[str, float]) -> float:
        """P(the documents answer the question) for one question's feature values."""
        z = self.bias + sum(w * (values[f] - m) / s for f, w, m, s in
                            zip(self.features, self.weights, self.mean, self.scale, strict=True))
        return 1.0 / (1.0 + math.exp(-max(min(z, 40.0), -40.0)))

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2) + "\n"

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.to_json().encode()).hexdigest()[:16]


def load_calibration(index_dir: Path | None = None) -> tuple[Calibration, str]:
    """The calibration in `index_dir` if one was fitted there, else the packaged one; and its path."""
    path = Path(index_dir) / FILENAME if index_dir else None
    chosen = path if path is not None and path.is_file() else PACKAGED
    try:
        data = json.loads(chosen.read_text(encoding="utf-8"))
        calibration = Calibration(**data)
    except (OSError, ValueError, TypeError) as exc:
        raise InputError(f"{chosen} is not a calibration file ({exc}); refit it with 'rag calibrate'") from None
    unknown = set(calibration.features) - set(FEATURES)
    if unknown:
        raise InputError(f"{chosen} uses unknown features {sorted(unknown)}; refit it with 'rag calibrate'")
    return calibration, str(chosen)


def fit(rows: list[dict[str, float]], labels: list[bool], refusal_recall: float = 0.9,
        l2: float = 1.0, fitted_on: dict[str, Any] | None = None,
        threshold_rows: list[bool] | None = None, out_of_fold: bool = True,
        features: tuple[str, ...] = FEATURES) -> Calibration:
    """Fit the logistic model on feature rows (True = answerable) and pick the refusal threshold.

    `threshold_rows` (default: all) marks the rows the threshold is chosen on: easy negatives
    (off-topic questions) help the fit but would make any cut look good.

    The threshold is chosen by `choose_threshold` against two targets: refusal recall on the
    unanswerable rows (`refusal_recall`) and the share of answerable rows refused (2.5%), on
    out-of-fold probabilities (`_out_of_fold`): a cut chosen on the rows the model was fitted on
    sits where that fit happens to separate them, and refuses more unseen answerable questions.
    `out_of_fold=False` chooses it in-sample, as before (bench/threshold_cv.py compares the two).
    """
    if len(set(labels)) < 2:
        raise InputError("calibration needs both answerable and unanswerable questions "
                         f"(got {sum(labels)} answerable, {len(labels) - sum(labels)} not)")
    x = np.array([[r[f] for f in features] for r in rows], dtype=np.float64)
    y = np.array(labels, dtype=np.float64)
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale == 0] = 1.0
    z = np.hstack([(x - mean) / scale, np.ones((len(x), 1))])
    w = _newton(z, y, l2)
    chosen = np.array(threshold_rows, dtype=bool) if threshold_rows is not None else np.ones(len(y), bool)
    held_out = _out_of_fold(z, y, l2, chosen) if out_of_fold else None
    probs = held_out if held_out is not None else 1.0 / (1.0 + np.exp(-(z @ w)))
    threshold = choose_threshold(probs[chosen], y.astype(bool)[chosen], refusal_recall)
    return Calibration(list(features), mean.round(6).tolist(), scale.round(6).tolist(),
                       w[:-1].round(6).tolist(), round(float(w[-1]), 6), round(threshold, 6),
                       {**(fitted_on or {}), "rows": len(rows), "answerable": int(y.sum()),
                        "refusal_recall_target": refusal_recall})


def _out_of_fold(z: np.ndarray, y: np.ndarray, l2: float, chosen: np.ndarray,
                 folds: int = 5) -> np.ndarray | None:
    """Each chosen row's probability from a model fitted without its fold (stratified, by row
    order, so refits give the same numbers); rows not chosen always train. None when a class has
    fewer than two chosen rows: there are no folds to hold out (the caller uses in-sample)."""
    fold = np.full(len(y), -1)
    for label in (0.0, 1.0):
        members = np.flatnonzero(chosen & (y == label))
        fold[members] = np.arange(len(members)) % folds
    if min(int(np.sum(chosen & (y == label))) for label in (0.0, 1.0)) < 2:
        return None
    probs = np.zeros(len(y))
    for k in range(folds):
        held = fold == k
        if held.any():
            w = _newton(z[~held], y[~held], l2)
            probs[held] = 1.0 / (1.0 + np.exp(-(z[held] @ w)))
    return probs


def _newton(z: np.ndarray, y: np.ndarray, l2: float, steps: int = 50) -> np.ndarray:
    w = np.zeros(z.shape[1])
    penalty = np.eye(z.shape[1]) * l2
    penalty[-1, -1] = 0.0  # the bias is not shrunk
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-(z @ w)))
        gradient = z.T @ (p - y) + penalty @ w
        hessian = (z * (p * (1 - p))[:, None]).T @ z + penalty
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if np.abs(step).max() < 1e-9:
            break
    return w


def choose_threshold(probs: np.ndarray, answerable: np.ndarray, refusal_recall: float = 0.9,
                     false_refusal: float = 0.025) -> float:
    """The cut (refuse below it) that best meets both targets: the fewest target-scaled misses,
    `false refusals / false_refusal + missed refusals / (1 - refusal_recall)` as shares of their
    classes. Candidate cuts lie midway between neighbouring probabilities; ties take the lower cut.
    """
    if answerable.all():
        return 0.0
    values = np.unique(probs)
    cuts = np.concatenate([[0.0], (values[:-1] + values[1:]) / 2, [1.0]])
    positives, negatives = probs[answerable], probs[~answerable]

    def cost(cut: float) -> float:
        false = float((positives < cut).mean()) if len(positives) else 0.0
        missed = float((negatives >= cut).mean())
        return false / max(false_refusal, 1e-9) + missed / max(1 - refusal_recall, 1e-9)

    return float(min(cuts, key=cost))


def reader_info(folder: Path = READER_FOLDER) -> dict[str, Any]:
    """The trained reader's `reader.json` (`rag.query.reader`), after checking that the weights
    and the tokenizer are the ones it names."""
    try:
        info = json.loads((folder / "reader.json").read_text(encoding="utf-8"))
        weights = hashlib.sha256((folder / "reader.onnx").read_bytes()).hexdigest()
        vocab = hashlib.sha256((folder / "tokenizer.json").read_bytes()).hexdigest()
    except (OSError, ValueError) as exc:
        raise ModelUnavailable(f"the reader model in {folder} is missing or unreadable ({exc}); "
                               "reinstall rag, or set RAG_ANSWER__READER=off") from None
    if weights != info.get("sha256") or vocab != info.get("tokenizer_sha256"):
        raise ModelUnavailable(f"the reader model in {folder} is damaged (its sha256 differs from "
                               "reader.json); reinstall rag, or set RAG_ANSWER__READER=off")
    return info


def reader_record(settings_answer: AnswerSettings) -> dict[str, Any]:
    """What the manifest records of the answer stage: every answer setting (the scorer weights the
    refusal model was fitted with) and, with the reader on, the reader's digest and fitted values."""
    record: dict[str, Any] = {"settings": settings_answer.model_dump()}
    if settings_answer.reader == "on":
        info = reader_info()
        record["reader"] = {"sha256": info["sha256"], "layers": info["layers"],
                            "precision": info["precision"], "fitted": info.get("answer", {})}
    return record
