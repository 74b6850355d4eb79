"""`rag calibrate`: fit the refusal model (rag.calibration) on a user's gold questions.

Every question goes through the same retrieval and unit scoring as `ask`; the features of its
best unit, labelled answerable or not by the gold set, are the training rows. The fitted model is
written into the index folder, where `ask` picks it up instead of the packaged one.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from rag.calibration import FEATURES, FILENAME, Calibration, fit
from rag.eval.gold import GoldQuestion
from rag.index.reader import Index
from rag.query.answering import question_features
from rag.query.refusal import reset_calibration

Row = dict[str, float]


def calibration_rows(index: Index, questions: list[GoldQuestion],
                     progress: Callable[[], None] | None = None) -> tuple[list[Row], list[bool]]:
    """(feature rows, answerable labels) of the questions; a question with no candidate unit is
    kept as an all-zero row (it will be refused whatever the fit)."""
    rows: list[Row] = []
    labels: list[bool] = []
    for item in questions:
        values = question_features(index, item.question, item.as_of)
        rows.append(values if values is not None else dict.fromkeys(FEATURES, 0.0))
        labels.append(item.answerable)
        if progress:
            progress()
    return rows, labels


def calibrate(index: Index, questions: list[GoldQuestion], refusal_recall: float = 0.9,
              source: str = "", progress: Callable[[], None] | None = None) -> tuple[Calibration, Path]:
    """Fit on `questions` over `index`, write `<index_dir>/calibration.json`, and use it from now on."""
    rows, labels = calibration_rows(index, questions, progress)
    calibration = fit(rows, labels, refusal_recall,
                      fitted_on={"gold": source, "model": index.manifest.get("model", {}).get("name")})
    path = Path(index.settings.index_dir) / FILENAME
    path.write_text(calibration.to_json(), encoding="utf-8")
    reset_calibration(index)
    return calibration, path
