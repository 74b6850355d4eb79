"""Open-book news benchmark: a RealTime QA year folder of `../shared/train-data/realtimeqa/<year>/`
(questions in `qa.jsonl`, each question's top-10 web search results in `gcs.jsonl.gz`) indexed and
asked through the real `ask` path in two settings:

- "own": the question searches only the documents of its own search results (a `DocFilter` on doc
  ids), the setting the published baselines used (a model reading those 10 results);
- "pool": the question searches every search result of the year (pooled, deduplicated by URL),
  asked as of its day (`ask(..., as_of=)`: nothing dated later).

The gold answer is the correct choice's text (`choices[int(answer[0])]`). Per setting: answer-contains
(the normalized gold string inside the answer text, `answer_metrics.contains`), token F1 of the short
answer (0 without one) and of the whole answer text (0 for a refusal), first-citation hit (the first
citation's URL is one linked from the quiz's `evidence`; only over questions whose evidence URL is
in the pool), refusal rate and p50 latency. A question without search results is not asked in "own"
(counted as a refusal, no latency).

Weeks from 2026 on are blind: a year folder named 2026 or later is refused before any file in it is
opened (eval/README.md "open-book news benchmark").
"""

from __future__ import annotations

import hashlib
import html
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from rag.config import Settings
from rag.embed.base import Encoder
from rag.errors import InputError
from rag.eval.answer_metrics import contains, token_f1
from rag.eval.beir import _read_jsonl, beir_document, day, published
from rag.eval.beir_answers import ensure_answer_index
from rag.eval.gold import CITATION_MARK
from rag.index.build import Progress, Silent
from rag.index.reader import Index, open_index
from rag.query.answering import ask
from rag.query.filters import DocFilter
from rag.types import Answer, Document, Style

BLIND_FROM = 2026  # RealTime QA weeks of this year and later are never opened
SETTINGS = ("own", "pool")
_HREF = re.compile(r"""href\s*=\s*["']([^"']+)["']""", re.IGNORECASE)


@dataclass
class OpenBookQuestion:
    id: str
    question: str
    day: str | None
    gold: str
    evidence_urls: list[str]
    doc_ids: list[str] = field(default_factory=list)  # its own search results, in rank order
    results: int = 0  # its search results as read (before deduplication and empty ones dropped)


@dataclass
class OpenBookYear:
    year: int
    documents: list[Document]
    questions: list[OpenBookQuestion]
    urls: dict[str, str]  # doc id -> URL
    results: int  # search results read, before deduplication


def year_of(folder: str | Path) -> int:
    """The year a RealTime QA folder holds, from its name alone (nothing in it is opened); an
    InputError for a name that is no year and for blind years (2026 and later)."""
    path = Path(folder)
    names = {path.name, path.resolve().name}  # a link named 2025 to a 2026 folder is refused too
    if not all(re.fullmatch(r"\d{4}", name) for name in names):
        raise InputError(f"{folder} is not a RealTime QA year folder: its name must be the year, "
                         "e.g. ../shared/train-data/realtimeqa/2025")
    year = max(int(name) for name in names)
    if year >= BLIND_FROM:
        raise InputError(f"RealTime QA {year} is blind data (weeks from {BLIND_FROM} on are never "
                         "opened, trained or tuned on); use the dev year 2025")
    return year


def gold_answer(row: dict[str, Any]) -> str:
    """The text of the correct choice: `choices[int(answer[0])]` (`answer` is a list of index
    strings, or in a few 2023 rows a string holding one)."""
    answer = row.get("answer")
    first = re.search(r"\d+", answer) if isinstance(answer, str) else None
    try:
        index = int(first.group() if first else answer[0])  # type: ignore[index]
        return str(row["choices"][index])
    except (TypeError, ValueError, IndexError, KeyError):
        raise InputError(f"question {row.get('question_id')!r}: answer {answer!r} names no choice") from None


def evidence_urls(evidence: str) -> list[str]:
    """The link targets in a quiz's `evidence` HTML, in order."""
    return list(dict.fromkeys(html.unescape(u).strip() for u in _HREF.findall(evidence or "")))


def url_key(url: str) -> str:
    """A URL for comparison: host without `www.` and path without a trailing slash, lower case
    (scheme, query and fragment dropped)."""
    parts = urlsplit(url.strip())
    return (parts.netloc.lower().removeprefix("www.") + parts.path.rstrip("/")).lower()


def doc_id_for(url: str) -> str:
    return "rtqa-" + hashlib.sha256(url.encode("utf-8")).hexdigest()[:16]


def load_year(folder: str | Path) -> OpenBookYear:
    """The questions of a year folder and its search results pooled into Documents (one per URL,
    the first occurrence kept; title and text as in BEIR mode, `publish_date` as the date)."""
    year = year_of(folder)  # before anything is opened
    root = Path(folder)
    qa, gcs = root / "qa.jsonl", root / "gcs.jsonl.gz"
    if not qa.is_file() or not gcs.is_file():
        raise InputError(f"{root} is not a RealTime QA year folder: it needs qa.jsonl and gcs.jsonl.gz")
    documents: dict[str, Document] = {}
    urls: dict[str, str] = {}
    own: dict[str, list[str]] = {}
    read: dict[str, int] = {}
    for row in _read_jsonl(gcs):
        ids = own.setdefault(str(row["question_id"]), [])
        for hit in row.get("search_result") or []:
            read[str(row["question_id"])] = read.get(str(row["question_id"]), 0) + 1
            url = str(hit.get("url") or "").strip()
            if not url:
                continue
            doc_id = doc_id_for(url)
            if doc_id not in urls:
                urls[doc_id] = url
                document = beir_document(doc_id, str(hit.get("title") or ""), str(hit.get("text") or ""),
                                         published(hit.get("publish_date")))
                if document.text.strip():
                    authors = ", ".join(str(a) for a in hit.get("authors") or [] if a)
                    documents[doc_id] = document.model_copy(update={"source": url, "author": authors or None})
            if doc_id in documents and doc_id not in ids:
                ids.append(doc_id)
    questions = [OpenBookQuestion(id=str(r["question_id"]), question=str(r["question_sentence"]),
                                  day=day(str(r.get("question_date") or "")) or day(str(r["question_id"])),
                                  gold=gold_answer(r), evidence_urls=evidence_urls(str(r.get("evidence") or "")),
                                  doc_ids=own.get(str(r["question_id"]), []),
                                  results=read.get(str(r["question_id"]), 0))
                 for r in _read_jsonl(qa)]
    if not questions:
        raise InputError(f"{qa} holds no questions")
    return OpenBookYear(year, list(documents.values()), questions, urls, sum(read.values()))


# --------------------------------------------------------------------------- judging


def answer_text(answer: Answer) -> str:
    """The answer's words without citation marks ("" for a refusal)."""
    return "" if answer.abstained else " ".join(CITATION_MARK.sub(" ", answer.answer).split())


def short_text(answer: Answer) -> str:
    """The short answer's text, when the answer has one (the field is optional)."""
    short = None if answer.abstained else getattr(answer, "short_answer", None)
    return str(getattr(short, "text", "") or "")


def judge(item: OpenBookQuestion, answer: Answer | None, latency_ms: float | None,
          urls: dict[str, str], pooled: set[str]) -> dict[str, Any]:
    """One question's row in one setting (`answer` None: not asked, a refusal)."""
    text = "" if answer is None else answer_text(answer)
    short = "" if answer is None else short_text(answer)
    first = answer.citations[0].doc_id if answer is not None and answer.citations else None
    wanted = {url_key(u) for u in item.evidence_urls}
    judged = bool(wanted & pooled)
    return {
        "abstained": answer is None or answer.abstained,
        "asked": answer is not None,
        "contains": contains(text, item.gold),
        "short_answer": short or None,
        "short_f1": round(token_f1(short, item.gold), 4) if short else 0.0,
        "answer_f1": round(token_f1(text, item.gold), 4) if text else 0.0,
        "first_cited": urls.get(first) if first else None,
        "evidence_in_pool": judged,
        "first_citation_hit": (first is not None and url_key(urls.get(first, "")) in wanted) if judged else None,
        "latency_ms": None if latency_ms is None else round(latency_ms, 2),
        "answer": "" if answer is None else answer.answer,
    }


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The figures of one setting over its rows."""
    n = len(rows)
    judged = [r["first_citation_hit"] for r in rows if r["first_citation_hit"] is not None]
    latencies = [r["latency_ms"] for r in rows if r["latency_ms"] is not None]

    def share(values: list[Any]) -> float:
        return round(sum(values) / len(values), 4) if values else 0.0

    return {
        "questions": n,
        "asked": sum(r["asked"] for r in rows),
        "answer_contains": share([r["contains"] for r in rows]),
        "short_answer_f1": share([r["short_f1"] for r in rows]),
        "short_answers": sum(r["short_answer"] is not None for r in rows),
        "answer_f1": share([r["answer_f1"] for r in rows]),
        "first_citation_hit": share(judged) if judged else None,
        "evidence_in_pool": len(judged),
        "refusal_rate": share([r["abstained"] for r in rows]),
        "latency_p50_ms": round(float(np.percentile(latencies, 50)), 2) if latencies else None,
    }


def gold_in_results(documents: list[Document], questions: list[OpenBookQuestion]) -> float:
    """Share of questions whose gold string is in the text of one of their own search results (the
    ceiling of answer-contains in the "own" setting for an extractive answer)."""
    texts = {d.doc_id: d.text for d in documents}
    found = [any(contains(texts[d], q.gold) for d in q.doc_ids) for q in questions]
    return round(sum(found) / len(found), 4) if found else 0.0


# --------------------------------------------------------------------------- running


def run_openbook(folder: str | Path, settings: Settings, progress: Progress | None = None,
                 limit: int | None = None, encoder: Encoder | None = None,
                 style: Style | None = None) -> dict[str, Any]:
    """Index the year's pooled search results (or reuse a matching index), ask every question in
    both settings (in `style`; None: the configured default), and report the figures of each with
    every question's rows."""
    progress = progress or Silent()
    progress.stage("loading RealTime QA year", 1)
    data = load_year(folder)
    progress.advance(1)
    questions = data.questions[:limit] if limit is not None else data.questions
    documents = data.documents
    if limit is not None:  # a sample: the pool is the sampled questions' results only
        wanted = {d for q in questions for d in q.doc_ids}
        documents = [d for d in documents if d.doc_id in wanted]
    build = ensure_answer_index(settings, documents, progress, encoder=encoder)
    pooled = {url_key(data.urls[d.doc_id]) for d in documents}
    rows: list[dict[str, Any]] = []
    with open_index(settings, encoder) as index:
        if questions:  # load and warm up the question encoder and stores outside the timed asks
            ask(index, questions[0].question, style=style)
        progress.stage("asking (own, pool)", len(questions))
        for item in questions:
            rows.append({"id": item.id, "day": item.day, "question": item.question, "gold": item.gold,
                         "results": len(item.doc_ids),
                         **{s: judge(item, *_ask(index, item, s, style), data.urls, pooled) for s in SETTINGS}})
            progress.advance(1)
        chunks = len(index.chunks)
    reader = getattr(settings.answer, "reader", None)
    return {
        "dataset": f"realtimeqa-{data.year}", "year": data.year, "questions": len(questions),
        "search_results": sum(q.results for q in questions), "documents": len(documents), "chunks": chunks,
        "without_results": sum(not q.doc_ids for q in questions),
        "gold_in_own_results": gold_in_results(documents, questions),
        "reader": reader, "style": style or settings.generator.default_style, "build": build,
        "index_dir": str(settings.index_dir),
        "settings": {s: summarize([r[s] for r in rows]) for s in SETTINGS},
        "rows": rows,
    }


def _ask(index: Index, item: OpenBookQuestion, setting: str,
         style: Style | None) -> tuple[Answer | None, float | None]:
    """The answer in one setting and its latency (None, None: not asked, no own results)."""
    if setting == "own" and not item.doc_ids:
        return None, None
    started = time.perf_counter()
    if setting == "own":
        answer = ask(index, item.question, where=DocFilter(doc_ids=item.doc_ids), style=style)
    else:
        answer = ask(index, item.question, style=style, as_of=item.day)
    return answer, (time.perf_counter() - started) * 1000


def format_openbook_table(report: dict[str, Any]) -> str:
    """The report's figures as a markdown table, one row per setting."""
    build = report["build"]
    lines = [
        (f"**{report['dataset']}** open book: {report['questions']:,} questions "
         f"({report['without_results']:,} without search results), {report['documents']:,} documents "
         f"pooled from {report['search_results']:,} results, {report['chunks']:,} chunks; reader "
         f"{report['reader'] or '-'}; gold string in own results: {report['gold_in_own_results']:.3f}"),
        "",
        "| setting | contains | short F1 | short answers | answer F1 | first-cit. hit (n) | refused | p50 ms |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, s in report["settings"].items():
        hit = "-" if s["first_citation_hit"] is None else f"{s['first_citation_hit']:.3f}"
        p50 = "-" if s["latency_p50_ms"] is None else f"{s['latency_p50_ms']:.1f}"
        lines.append(f"| {name} | {s['answer_contains']:.3f} | {s['short_answer_f1']:.3f} | {s['short_answers']} "
                     f"| {s['answer_f1']:.3f} | {hit} ({s['evidence_in_pool']}) | {s['refusal_rate']:.3f} | {p50} |")
    lines += ["", (f"index: {'reused' if build['reused'] else 'built'} in {build['seconds']:.1f} s "
                   f"({build['embedded']:,} chunks embedded) at {report['index_dir']}")]
    return "\n".join(lines)
