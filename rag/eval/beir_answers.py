"""Answer-level BEIR runs: every judged query of a folder whose queries carry `answers` (RealTime QA
does) goes through the real `ask` path over the whole corpus, scored like a gold set.

Each query becomes a `GoldQuestion`: answerable, its qrels documents as the expected citations,
its `answers`, `choices` and `answer_index`. Queries are split into a dev and a test half by date
(`question_date`, or a leading `YYYYMMDD` in the id): from `test_from` on is the test half. For
RealTime QA 2022 the default puts the weeks up to 2022-08-26 in dev and those from 2022-09-02 in
test. Rules and weights are chosen on dev; test is only reported (eval/README.md).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rag.config import Settings
from rag.embed.base import Encoder
from rag.errors import InputError, RagError
from rag.eval.beir import _first_existing, _read_jsonl, day, load_beir
from rag.eval.gold import GoldQuestion, QuestionResult, run_gold, select_split
from rag.index.build import Progress, Silent, build_from_documents
from rag.index.layout import current_build
from rag.index.manifest import check_manifest, read_manifest
from rag.index.reader import open_index
from rag.types import Document, Style

DEFAULT_TEST_FROM = "2022-09-02"


def load_answer_questions(folder: str | Path, test_from: str = DEFAULT_TEST_FROM,
                          split: str = "test") -> tuple[list[Document], list[GoldQuestion]]:
    """The corpus and the judged queries of a BEIR folder as gold questions with dev/test splits.

    Queries without `answers` are an InputError: this mode scores answers, not rankings.
    """
    documents, queries, qrels = load_beir(folder, split)
    path = _first_existing(Path(folder), [f"queries-{split}.jsonl", "queries.jsonl"])
    rows = {str(r["_id"]): r for r in _read_jsonl(path)} if path else {}
    cutoff = day(test_from)
    if cutoff is None:
        raise InputError(f"--test-from {test_from!r} is not a date; write it as YYYY-MM-DD")
    questions = []
    for qid, text in queries.items():
        row = rows[qid]
        answers = [str(a) for a in row.get("answers") or []]
        if not answers:
            raise InputError(f"query {qid!r} has no \"answers\"; --answers needs acceptable answer "
                             "strings on every judged query (drop --answers to rank documents only)")
        when = day(str(row.get("question_date") or "")) or day(qid)
        questions.append(GoldQuestion(
            id=qid, question=text, answerable=True,
            expected_doc_ids=sorted(d for d, score in qrels[qid].items() if score > 0),
            answers=answers, choices=[str(c) for c in row.get("choices") or []],
            answer_index=[int(i) for i in row.get("answer_index") or []],
            split=None if when is None else ("test" if when >= cutoff else "dev"), as_of=when))
    return documents, questions


def ensure_answer_index(settings: Settings, documents: list[Document], progress: Progress | None = None,
                        encoder: Encoder | None = None) -> dict[str, Any]:
    """Build the corpus index with sentence vectors unless a matching one exists (with `encoder`,
    built by it instead of the configured model); what was done."""
    started = time.perf_counter()
    if _has_sentences_for(settings, documents):
        return {"reused": True, "seconds": round(time.perf_counter() - started, 2), "embedded": 0}
    report = build_from_documents(settings, documents, progress or Silent(), sentences=True, encoder=encoder)
    return {"reused": False, "seconds": round(time.perf_counter() - started, 2),
            "embedded": report.embedded, "stage_seconds": report.stage_seconds}


def run_beir_answers(folder: str | Path, settings: Settings, progress: Progress | None = None,
                     limit_queries: int | None = None, test_from: str = DEFAULT_TEST_FROM,
                     on_result: Callable[[QuestionResult], None] | None = None,
                     style: Style | None = None, half: str | None = None) -> dict[str, Any]:
    """Index the corpus (or reuse a matching index), ask every judged query (in `style`; None: the
    configured default; `half` "dev" or "test": only that half's queries), score the answers."""
    progress = progress or Silent()
    progress.stage("loading data set", 1)
    documents, questions = load_answer_questions(folder, test_from)
    progress.advance(1)
    if half is not None:
        questions = select_split(questions, half)
    if limit_queries is not None:
        questions = questions[:limit_queries]
    build = ensure_answer_index(settings, documents, progress)
    index = open_index(settings)
    progress.stage("asking", len(questions))

    def advance(result: QuestionResult) -> None:
        progress.advance(1)
        if on_result:
            on_result(result)

    report = run_gold(index, questions, advance, style)
    report.update({"dataset": Path(folder).resolve().name, "documents": len(documents),
                   "chunks": len(index.chunks), "test_from": test_from, "build": build,
                   "index_dir": str(settings.index_dir)})
    return report


def _has_sentences_for(settings: Settings, documents: list[Document]) -> bool:
    """True when the current index holds exactly these documents, with sentence vectors."""
    try:
        manifest = read_manifest(current_build(settings))
        check_manifest(manifest, settings)
    except RagError:
        return False
    built = manifest.get("documents", {})
    return (manifest.get("counts", {}).get("sentences", 0) > 0 and len(built) == len(documents)
            and all(built.get(d.doc_id, {}).get("sha256") == d.content_hash for d in documents))
