"""`rag eval` and `rag calibrate`: score answers on gold sets and BEIR folders, fit when to refuse.

Registered on the app by rag/cli.py (which wraps them with its error handling).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rag.cli_options import IndexDir, settings_for
from rag.cli_render import BarProgress, err, out, print_gold_report, progress_bar
from rag.config import Settings
from rag.errors import ConfigError, InputError
from rag.types import Style


def evaluate(
    gold: Annotated[Path, typer.Option(help="gold set (JSON Lines)")] = Path("eval/seeds.jsonl"),
    beir: Annotated[Path | None, typer.Option(help="BEIR folder: corpus, queries, qrels")] = None,
    openbook: Annotated[Path | None, typer.Option(help="RealTime QA year folder (qa.jsonl, gcs.jsonl.gz): "
                                                       "its pooled search results indexed, every question "
                                                       "asked over its own results and over the pool as of "
                                                       "its day")] = None,
    index_dir: IndexDir = None,
    json_path: Annotated[Path | None, typer.Option("--json", help="write the full report here")] = None,
    min_hit1: Annotated[float | None, typer.Option(help="fail if hit@1 is lower")] = None,
    min_hitk: Annotated[float | None, typer.Option(help="fail if hit@k is lower")] = None,
    min_mrr: Annotated[float | None, typer.Option(help="fail if MRR is lower")] = None,
    min_refusal_recall: Annotated[float | None, typer.Option(help="fail if fewer unanswerable "
                                                                     "questions are refused")] = None,
    max_false_refusal: Annotated[float | None, typer.Option(help="fail if more answerable "
                                                                    "questions are refused")] = None,
    min_answer_contains: Annotated[float | None, typer.Option(help="fail if lower")] = None,
    limit: Annotated[int | None, typer.Option(help="BEIR, --openbook: only the first N queries")] = None,
    split: Annotated[str | None, typer.Option(help="only questions of this split (dev or test; with --beir "
                                                   "--answers, that half); floors apply to it")] = None,
    answers: Annotated[bool, typer.Option("--answers", help="BEIR: answer every query through the ask "
                                                            "path and score the answers")] = False,
    test_from: Annotated[str, typer.Option(help="BEIR --answers: queries dated from this day on "
                                                "form the test half")] = "2022-09-02",
    answer: Annotated[str | None, typer.Option(
        "--answer", help="extractive | generated: answer style asked for [default: "
        "RAG_GENERATOR__DEFAULT_STYLE]; generated (needs RAG_GENERATOR__BASE_URL) also reports the share "
        "generated, fallback and dropped-sentence rates and citation precision")] = None,
) -> None:
    """Score answers against a gold set, or retrieval (or, with --answers, answers) on a BEIR data set.

    Examples: rag eval --gold eval/seeds.jsonl --split test --min-hit1 0.95 --json eval/reports/seeds.json
              rag eval --beir ../shared/bench-data/scifact --index-dir /tmp/scifact-index
              rag eval --beir ../shared/bench-data/realtimeqa-2022 --answers --json rtqa.json
              RAG_GENERATOR__BASE_URL=http://127.0.0.1:8080/v1 rag eval --split test --answer generated
              rag eval --openbook ../shared/train-data/realtimeqa/2025 --json openbook-2025.json
    """
    settings = settings_for(index_dir)
    style = answer_style(answer, settings, beir is not None and not answers)
    if openbook is not None:
        return evaluate_openbook(openbook, index_dir, json_path, limit, style)
    if beir is not None and answers:
        return evaluate_beir_answers(beir, index_dir, json_path, limit, test_from, style, split)
    if beir is not None:
        return evaluate_beir(beir, index_dir, json_path, limit)
    from rag import check_floors, load_gold, open_index, run_gold, select_split, write_report

    questions = select_split(load_gold(gold), split)
    index_ = open_index(settings)
    with progress_bar() as bar:
        task = bar.add_task(f"asking {gold.name}" + (f" ({split})" if split else ""), total=len(questions))
        report = run_gold(index_, questions, lambda _: bar.advance(task), style)
    print_gold_report(report)
    if json_path:
        write_report(report, json_path)
        out.print(f"report written to {json_path}", highlight=False)
    failures = check_floors(report["summary"], {
        "min_hit1": min_hit1, "min_hitk": min_hitk, "min_mrr": min_mrr,
        "min_refusal_recall": min_refusal_recall, "max_false_refusal": max_false_refusal,
        "min_answer_contains": min_answer_contains})
    for failure in failures:
        err.print(f"FAILED floor: {failure}", highlight=False, markup=False)
    if failures:
        raise typer.Exit(1)


def answer_style(value: str | None, settings: Settings, ranking_only: bool) -> Style | None:
    """The `--answer` style, checked: a known one, answers being scored, a model server set."""
    if value is None:
        return None
    if value not in ("extractive", "generated"):
        raise InputError(f"--answer {value!r} is not a style; use --answer extractive or --answer generated")
    if ranking_only:
        raise InputError("--answer scores answers; with --beir add --answers")
    if value == "generated" and not settings.generator.base_url:
        raise ConfigError("--answer generated needs a model server, and none is configured: set "
                          "RAG_GENERATOR__BASE_URL to its OpenAI-compatible root (e.g. "
                          "http://127.0.0.1:8080/v1 for llama-server; see README \"Generated answers\")")
    return "generated" if value == "generated" else "extractive"


def evaluate_beir(folder: Path, index_dir: Path | None, json_path: Path | None, limit: int | None) -> None:
    from rag import default_index_dir, format_beir_table, run_beir

    settings = settings_for(index_dir)
    if index_dir is None:  # one index (and embedding cache) per data set and index configuration
        settings = settings.with_overrides(index_dir=default_index_dir(folder, settings))
    with progress_bar() as bar:
        report = run_beir(folder, settings, progress=BarProgress(bar), limit_queries=limit)
    out.print(format_beir_table(report), highlight=False, markup=False)
    if json_path:
        from rag import write_report

        write_report(report, json_path)


def evaluate_beir_answers(folder: Path, index_dir: Path | None, json_path: Path | None,
                          limit: int | None, test_from: str, style: Style | None = None,
                          half: str | None = None) -> None:
    from rag import default_index_dir, run_beir_answers

    settings = settings_for(index_dir)
    if index_dir is None:
        settings = settings.with_overrides(index_dir=default_index_dir(folder, settings))
    with progress_bar() as bar:
        report = run_beir_answers(folder, settings, BarProgress(bar), limit, test_from, style=style, half=half)
    print_gold_report(report)
    if json_path:
        from rag import write_report

        write_report(report, json_path)
        out.print(f"report written to {json_path}", highlight=False)


def evaluate_openbook(folder: Path, index_dir: Path | None, json_path: Path | None, limit: int | None,
                      style: Style | None = None) -> None:
    from rag.eval.openbook import format_openbook_table, run_openbook, year_of

    year_of(folder)  # a blind year is refused before anything else happens
    settings = settings_for(index_dir)
    if index_dir is None:  # one index per year folder and index configuration
        from rag import default_index_dir

        settings = settings.with_overrides(index_dir=default_index_dir(folder, settings, Path("/tmp/openbook")))
    with progress_bar() as bar:
        report = run_openbook(folder, settings, BarProgress(bar), limit, style=style)
    out.print(format_openbook_table(report), highlight=False, markup=False)
    if json_path:
        from rag import write_report

        write_report(report, json_path)
        out.print(f"report written to {json_path}", highlight=False)


def calibrate(
    gold: Annotated[Path, typer.Option(help="gold set (JSON Lines) with answerable and unanswerable "
                                            "questions over this index")],
    split: Annotated[str | None, typer.Option(help="fit on this split only (e.g. dev)")] = None,
    refusal_recall: Annotated[float, typer.Option(min=0.0, max=1.0, help="share of unanswerable "
                                                  "questions the fitted threshold must refuse")] = 0.9,
    index_dir: IndexDir = None,
) -> None:
    """Fit when to refuse on your own questions; the fit is saved in the index folder and used by ask
    (with RAG_ANSWER__READER=off it decides alone; with the reader on it is one input of the reader's).

    Example: rag calibrate --gold my.jsonl --split dev   (then: rag eval --gold my.jsonl --split test)
    """
    from rag import calibrate as fit_calibration
    from rag import load_gold, open_index, select_split

    questions = select_split(load_gold(gold), split)
    index_ = open_index(settings_for(index_dir))
    with progress_bar() as bar:
        task = bar.add_task(f"scoring {gold.name}", total=len(questions))
        calibration, path = fit_calibration(index_, questions, refusal_recall, str(gold),
                                            lambda: bar.advance(task))
    weights = ", ".join(f"{f} {w:+.2f}" for f, w in zip(calibration.features, calibration.weights, strict=True))
    out.print(f"fitted on {len(questions)} questions: {weights}; refuse below P = "
              f"{calibration.threshold:.3f}\nwritten to {path} (delete it to return to the packaged fit)",
              highlight=False, markup=False)
