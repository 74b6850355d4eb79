"""Gold-set evaluation: run questions through the real `ask` path and score citations and answers.

A gold set is JSON Lines, one `GoldQuestion` per line (format in eval/README.md). The report has
per-question rows and metrics, overall and per split (`dev`, `test`): citation hit@1 / hit@k / MRR
over answerable questions, refusal precision and recall over unanswerable ones, false refusals,
answer-contains, the token F1 of the best answer sentence and multiple-choice accuracy
(`rag.eval.answer_metrics`), and latency percentiles. Floors turn it into a CI gate. Asked in
generated style, each row also says how its answer was made and the summaries add the generation
figures of `rag.eval.generated` (share generated, fallbacks, dropped sentences, citation precision).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from rag.errors import InputError, StorageError
from rag.eval.answer_metrics import best_f1, choice_supported, contains, contains_any
from rag.eval.generated import FIELDS, generated_record, summarize_generated
from rag.index.reader import Index
from rag.query.answering import ask
from rag.types import Answer, Style


class GoldQuestion(BaseModel):
    """One line of a gold set."""

    model_config = ConfigDict(extra="forbid")

    id: str
    question: str
    expected_doc_ids: list[str] = Field(default_factory=list)
    answerable: bool = True
    answer_contains: list[str] = Field(default_factory=list)
    answers: list[str] = Field(default_factory=list, description="acceptable answers, any one will do")
    choices: list[str] = Field(default_factory=list, description="multiple-choice options")
    answer_index: list[int] = Field(default_factory=list, description="the correct choices")
    split: Literal["dev", "test"] | None = None
    kind: str | None = Field(None, description="free-form label for reports (list, paraphrase, ...)")
    as_of: str | None = Field(None, pattern=r"^\d{4}-\d{2}-\d{2}$",
                              description="the day it was asked (YYYY-MM-DD): recent documents first")


class QuestionResult(BaseModel):
    id: str
    split: str | None = None
    question: str
    answerable: bool
    abstained: bool
    cited: list[str]
    hit1: bool
    hitk: bool
    reciprocal_rank: float
    contains: bool | None
    f1: float | None = None
    choice_correct: bool | None = None
    latency_ms: float
    answer: str
    # generated style only (rag.eval.generated): how the answer was made, sentences kept / dropped,
    # the fallback reason, a model refusal, kept sentences whose quote supports them
    style: str | None = None
    kept: int | None = None
    dropped: int | None = None
    fallback: str | None = None
    refused: bool | None = None
    supported: int | None = None


def load_gold(path: Path) -> list[GoldQuestion]:
    """Parse a gold set, naming the line of the first problem."""
    if not path.exists():
        raise InputError(f"gold set {path} does not exist")
    questions, seen = [], set()
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = GoldQuestion.model_validate_json(line)
        except ValidationError as exc:
            raise InputError(f"{path}:{number}: not a gold question ({exc.errors()[0]['msg']}); "
                             "see eval/README.md for the format") from None
        if item.id in seen:
            raise InputError(f"{path}:{number}: duplicate id '{item.id}'")
        seen.add(item.id)
        questions.append(item)
    if not questions:
        raise InputError(f"gold set {path} holds no questions")
    return questions


CITATION_MARK = re.compile(r"\[\d+\]")


def select_split(questions: list[GoldQuestion], split: str | None) -> list[GoldQuestion]:
    """The questions of one split (all of them for None); an empty selection is an InputError."""
    if split is None:
        return questions
    chosen = [q for q in questions if q.split == split]
    if not chosen:
        raise InputError(f"no question has split '{split}'; give each line \"split\": \"dev\" or \"test\"")
    return chosen


def judge(item: GoldQuestion, answer: Answer, latency_ms: float) -> QuestionResult:
    cited = [c.doc_id for c in answer.citations]
    expected = set(item.expected_doc_ids)
    ranks = [i for i, doc in enumerate(cited, start=1) if doc in expected]
    text = "" if answer.abstained else CITATION_MARK.sub(" ", answer.answer)
    contained = f1 = choice = None
    if item.answerable and item.answer_contains:
        contained = all(contains(text, s) for s in item.answer_contains)
    elif item.answerable and item.answers:
        contained = contains_any(text, item.answers)
    if item.answerable and item.answers:
        f1 = round(best_f1([c.quote for c in answer.citations] or [text], item.answers), 4)
    if item.answerable and item.choices and item.answer_index:
        choice = choice_supported(text, item.choices) in item.answer_index
    return QuestionResult(
        id=item.id, split=item.split, question=item.question, answerable=item.answerable,
        abstained=answer.abstained, cited=cited, hit1=bool(ranks) and ranks[0] == 1, hitk=bool(ranks),
        reciprocal_rank=1 / ranks[0] if ranks else 0.0, contains=contained, f1=f1,
        choice_correct=choice, latency_ms=round(latency_ms, 2), answer=answer.answer,
    )


def run_gold(index: Index, questions: list[GoldQuestion],
             progress: Callable[[QuestionResult], None] | None = None, style: Style | None = None) -> dict:
    """Ask every question (in `style`; None: the configured default), judge it, and summarize."""
    generated = (style or index.settings.generator.default_style) == "generated"
    results = []
    for item in questions:
        started = time.perf_counter()
        answer = ask(index, item.question, style=style, as_of=item.as_of)
        result = judge(item, answer, (time.perf_counter() - started) * 1000)
        if generated:
            result = result.model_copy(update=generated_record(index, item.question, answer, item.as_of))
        results.append(result)
        if progress:
            progress(result)
    splits = sorted({r.split for r in results if r.split})
    report: dict[str, Any] = {
        "summary": summarize(results),
        "splits": {s: summarize([r for r in results if r.split == s]) for s in splits},
        "questions": [r.model_dump(exclude=None if generated else set(FIELDS)) for r in results],
        "index": {"build": index.build_id, "settings": index.manifest.get("settings")}}
    if generated:
        report["generator"] = index.settings.generator.model_dump(mode="json", exclude={"api_key"})
    return report


def summarize(results: list[QuestionResult]) -> dict[str, float | int | None]:
    answerable = [r for r in results if r.answerable]
    unanswerable = [r for r in results if not r.answerable]
    refused = [r for r in results if r.abstained]
    latencies = np.array([r.latency_ms for r in results]) if results else np.zeros(1)
    contains = [r.contains for r in answerable if r.contains is not None]
    f1s = [r.f1 for r in answerable if r.f1 is not None]
    choices = [r.choice_correct for r in answerable if r.choice_correct is not None]

    def rate(part: int, whole: int) -> float:
        return round(part / whole, 4) if whole else 0.0

    return {
        "questions": len(results),
        "answerable": len(answerable),
        "unanswerable": len(unanswerable),
        "hit@1": rate(sum(r.hit1 for r in answerable), len(answerable)),
        "hit@k": rate(sum(r.hitk for r in answerable), len(answerable)),
        "mrr": rate(sum(r.reciprocal_rank for r in answerable), len(answerable)),
        "refusal_recall": rate(sum(r.abstained for r in unanswerable), len(unanswerable)),
        "refusal_precision": rate(sum(not r.answerable for r in refused), len(refused)),
        "false_refusal_rate": rate(sum(r.abstained for r in answerable), len(answerable)),
        "answer_contains": rate(sum(contains), len(contains)),
        **({"token_f1": rate(sum(f1s), len(f1s))} if f1s else {}),
        **({"choice_accuracy": rate(sum(choices), len(choices))} if choices else {}),
        "latency_p50_ms": round(float(np.percentile(latencies, 50)), 2),
        "latency_p95_ms": round(float(np.percentile(latencies, 95)), 2),
        **(summarize_generated([r.model_dump(include=set(FIELDS)) for r in results])
           if results and all(r.style is not None for r in results) else {}),
    }


FLOORS = {
    "min_hit1": ("hit@1", ">="),
    "min_hitk": ("hit@k", ">="),
    "min_mrr": ("mrr", ">="),
    "min_refusal_recall": ("refusal_recall", ">="),
    "max_false_refusal": ("false_refusal_rate", "<="),
    "min_answer_contains": ("answer_contains", ">="),
}


def check_floors(summary: dict, floors: dict[str, float | None]) -> list[str]:
    """Human-readable failures of the given floors (empty when all hold)."""
    failures = []
    for name, limit in floors.items():
        if limit is None:
            continue
        metric, op = FLOORS[name]
        value = summary[metric]
        if (op == ">=" and value < limit) or (op == "<=" and value > limit):
            failures.append(f"{metric} is {value:.4f}, floor {op} {limit}")
    return failures


def write_report(report: dict, path: Path) -> None:
    """Write the report as JSON; an unwritable path is a StorageError naming it."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report, indent=2))
    except OSError as exc:
        raise StorageError(f"cannot write the report to {path}: {exc.strerror or exc}; "
                           "choose a writable path with --json") from None
