"""What the CLI prints: progress bars, skip summaries, report tables. Verbatim text only.

Both consoles have markup, emoji and highlighting off: document text and quotes are printed
exactly as they are in the documents (`root:x:0:0` stays that, not an emoji).
"""

from __future__ import annotations

import sys
from collections import defaultdict
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from rag.errors import RagError

out = Console(soft_wrap=True, markup=False, emoji=False, highlight=False)
err = Console(stderr=True, soft_wrap=True, markup=False, emoji=False, highlight=False)


class BarProgress:
    """Adapts rag.Progress to a rich progress bar on stderr."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.task: Any = None

    def stage(self, name: str, total: int) -> None:
        if self.task is not None:
            self.progress.update(self.task, completed=self.progress.tasks[self.task].total)
        self.task = self.progress.add_task(name, total=max(total, 1))

    def advance(self, n: int) -> None:
        self.progress.advance(self.task, n)


def progress_bar() -> Progress:
    return Progress(TextColumn("{task.description:<34}", markup=False), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=err, transient=False)


def print_skips(skipped: list[Any]) -> None:
    """Each skipped file with its reason (stderr), then a count per kind of reason (stdout)."""
    by_kind: dict[str, list[Any]] = defaultdict(list)
    for skip in skipped:
        by_kind[skip.kind].append(skip)
    for kind in sorted(by_kind):
        for skip in by_kind[kind]:
            err.print(f"skipped {skip.path}: {skip.reason}")
    if skipped:
        counts = ", ".join(f"{kind} {len(items)}" for kind, items in sorted(by_kind.items()))
        out.print(f"{len(skipped)} file(s) skipped: {counts}")


def print_gold_report(report: dict) -> None:
    table = Table("id", "split", "ok", "says", "cited", "answer", title="questions")
    for q in report["questions"]:
        ok = q["hit1"] if q["answerable"] else q["abstained"]
        cited = ", ".join(d[:12] for d in q["cited"][:3]) or ("refused" if q["abstained"] else "-")
        says = "-" if q.get("contains") is None else ("yes" if q["contains"] else "no")
        table.add_row(Text(str(q["id"])), q.get("split") or "-", "yes" if ok else "NO", says, Text(cited),
                      Text(q["answer"][:70]))
    out.print(table)
    if report["questions"] and all("style" in q for q in report["questions"]):  # --answer generated
        made = Table("id", "made", "kept", "dropped", "supported", title="generation")
        for q in report["questions"]:
            made.add_row(Text(str(q["id"])), _made(q), str(q["kept"]), str(q["dropped"]), str(q["supported"]))
        out.print(made)
    columns = {"all": report["summary"], **report.get("splits", {})}
    summary = Table("metric", *columns, title="summary")
    for key in report["summary"]:
        summary.add_row(key, *(_cell(part.get(key)) for part in columns.values()))
    out.print(summary)


def _made(q: dict) -> str:
    """How a generated-style answer was made: generated, the model's refusal, or the fallback."""
    if q["style"] == "generated":
        return "model refused" if q["refused"] else "generated"
    return f"fallback: {q['fallback']}" if q["fallback"] else "extractive"


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def print_build(report: Any, changed: set[str]) -> None:
    """One line per build, flushed: tests and users follow the watcher through it."""
    what = f"{len(changed)} changed file(s)" if changed else "initial sync"
    out.print(f"{what}: {report.documents} documents, {report.chunks} chunks; embedded "
              f"{report.embedded}, reused {report.reused} in {report.seconds:.1f}s -> {report.path.name}",
              highlight=False, markup=False)
    sys.stdout.flush()


def print_watch_error(exc: RagError) -> None:
    err.print(f"not rebuilt: {exc.message}", highlight=False, markup=False)


FALLBACK_TEXT = {
    "disabled": "generation is off (set RAG_GENERATOR__BASE_URL)",
    "refused": "the evidence was too weak to answer; the model was not asked",
    "timeout": "the model did not answer in time (RAG_GENERATOR__TIMEOUT_S)",
    "unreachable": "the model server could not be reached",
    "malformed": "the model's reply was not the JSON asked for, twice",
    "nothing verified": "no generated sentence passed verification",
}


def style_label(answer: Any) -> str:
    """How an answer was made, when a generated one was asked for ("generated, 1 sentence dropped",
    "extractive: the model server could not be reached"); '' for a plain extractive answer."""
    dropped = f", {answer.dropped} generated sentence(s) dropped" if answer.dropped else ""
    if answer.style == "generated" and answer.abstained:
        return f"generated: the model found no answer in the passages{dropped}"
    if answer.style == "generated":
        return f"generated, every sentence verified against its quote{dropped}"
    if answer.fallback:
        return f"extractive: {FALLBACK_TEXT.get(answer.fallback, answer.fallback)}{dropped}"
    return ""


def print_answer(out: Any, answer: Any) -> None:
    """The answer text; when the reader marked a short answer, it comes first, in bold, and is
    bold where it stands in the cited sentence."""
    from rich.text import Text

    short = answer.short_answer
    text = Text(answer.answer)
    if short is not None:
        out.print(Text.assemble("Answer: ", (short.text, "bold")))
        at = answer.answer.find(" ".join(short.text.split()))
        if at >= 0:
            text.stylize("bold", at, at + len(" ".join(short.text.split())))
    out.print(text, highlight=False)
