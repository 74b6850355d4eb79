"""Training and dev pairs for the reader: (question, sentence, label, answer span in the sentence).

Sources (`../shared/train-data`, read by path, never copied; its README gives the splits):

- SQuAD 2.0 half-dev: the sentence holding the answer is a positive with its span; the sentence
  holding an unanswerable question's *plausible* answer is a hard negative (on topic, wrong); one
  other sentence of the paragraph is an easy negative.
- SelQA dev + test: labelled answer sentences (no spans) and up to three unlabelled candidates.
- RealTime QA 2023 and 2024 (train) or 2025 (dev): distant labels. A sentence of the day's search
  results (or of the quiz's own evidence text) is a positive when it holds the gold option as whole
  words (case kept for names) and shares at least two content terms with the question; negatives
  are sentences that hold a wrong option, sentences close in words that lack the answer, and one
  at random. Weeks from 2026 on are blind: this module refuses any year after 2025.

Sentences are cut with the index's own splitter (`rag.ingest.chunking.split_sentences`), so the
reader is trained on the units it meets at question time.
"""

from __future__ import annotations

import gzip
import html
import json
import random
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from rag.ingest.chunking import split_sentences
from rag.stores import tokenize
from rag.types import Span

DATA = Path(__file__).resolve().parents[2] / "shared" / "train-data"
TRAIN_YEARS = (2023, 2024)
DEV_YEAR = 2025
LAST_OPEN_YEAR = 2025
TAG = re.compile(r"<[^>]+>")
FRAME = {"week", "news", "quiz", "accord", "report", "said", "new", "year", "also"}


@dataclass
class Pair:
    """One (question, sentence) example; `start`/`end` is the answer inside `sentence` (-1: none)."""

    question: str
    sentence: str
    label: int
    start: int = -1
    end: int = -1
    source: str = ""
    group: str = ""


def sentences(text: str, min_words: int = 4, max_chars: int = 600) -> list[str]:
    """The sentences of `text` as the index cuts them, without fragments and overlong runs."""
    spans = split_sentences(text, Span(start=0, end=len(text)))
    out = [text[s.start:s.end] for s in spans]
    return [s for s in out if len(s.split()) >= min_words and len(s) <= max_chars]


def answer_pattern(answer: str) -> re.Pattern[str]:
    """Whole-word match of an answer string; case-blind only when the answer has no capitals."""
    flags = 0 if any(ch.isupper() for ch in answer) else re.IGNORECASE
    return re.compile(r"(?<![\w-])" + re.escape(answer.strip()) + r"(?![\w-])", flags)


def content_terms(text: str) -> set[str]:
    return set(tokenize([text])[0]) - FRAME


def squad_pairs(rng: random.Random) -> Iterator[Pair]:
    data = json.loads((DATA / "squad2-half-dev" / "dev-v2.0.json").read_text())
    for article in data["data"]:
        for para in article["paragraphs"]:
            context = para["context"]
            spans = split_sentences(context, Span(start=0, end=len(context)))
            for qa in para["qas"]:
                gold = qa["answers"] or qa.get("plausible_answers") or []
                if not gold:
                    continue
                a = gold[0]
                at = a["answer_start"]
                hit = next((s for s in spans if s.start <= at and at + len(a["text"]) <= s.end), None)
                if hit is None:
                    continue
                sent = context[hit.start:hit.end]
                group = f"squad:{qa['id']}"
                if qa["is_impossible"]:
                    yield Pair(qa["question"], sent, 0, source="squad-plausible", group=group)
                else:
                    s0 = at - hit.start
                    yield Pair(qa["question"], sent, 1, s0, s0 + len(a["text"]), "squad", group)
                others = [s for s in spans if s is not hit and len(context[s.start:s.end].split()) >= 4]
                if others:
                    o = rng.choice(others)
                    yield Pair(qa["question"], context[o.start:o.end], 0, source="squad-other", group=group)


def selqa_pairs(rng: random.Random) -> Iterator[Pair]:
    for name in ("selqa-ass-dev.json", "selqa-ass-test.json"):
        for i, row in enumerate(json.loads((DATA / "selqa" / name).read_text())):
            cands, good = row["candidates"], set(row["answers"])
            group = f"selqa:{name}:{i}"
            for j in good:
                yield Pair(row["question"], cands[j], 1, source="selqa", group=group)
            bad = [c for j, c in enumerate(cands) if j not in good and len(c.split()) >= 4]
            for c in rng.sample(bad, min(3, len(bad))):
                yield Pair(row["question"], c, 0, source="selqa-neg", group=group)


def rtqa_questions(year: int) -> list[dict]:
    """The quiz rows of one open year with their search results (`results`)."""
    if year > LAST_OPEN_YEAR:
        raise ValueError(f"RealTime QA {year} is blind data: never opened, trained or tuned on")
    folder = DATA / "realtimeqa" / str(year)
    rows = [json.loads(line) for line in (folder / "qa.jsonl").read_text().splitlines() if line.strip()]
    results: dict[str, list[dict]] = {}
    with gzip.open(folder / "gcs.jsonl.gz", "rt") as fh:
        for line in fh:
            rec = json.loads(line)
            results[rec["question_id"]] = rec.get("search_result") or []
    for row in rows:
        row["results"] = results.get(row["question_id"], [])
        row["gold"] = gold_option(row)
    return [r for r in rows if r["gold"]]


def gold_option(row: dict) -> str | None:
    answer = row["answer"]
    if isinstance(answer, str):
        answer = re.findall(r"\d+", answer)
    try:
        return row["choices"][int(answer[0])].strip() or None
    except (IndexError, ValueError, TypeError):
        return None


def labelled_sentences(row: dict) -> tuple[list[tuple[str, re.Match[str]]], list[str], list[str]]:
    """(distant positives with their match, hard negatives, other sentences) of one quiz row."""
    q_terms = content_terms(row["question_sentence"])
    gold = answer_pattern(row["gold"])
    wrong = [answer_pattern(c) for c in row["choices"] if c.strip() and c.strip() != row["gold"]]
    texts = [html.unescape(TAG.sub("", row.get("evidence") or ""))]
    texts += [r.get("text") or "" for r in row["results"]]
    positives, hard, other, seen = [], [], [], set()
    for text in texts:
        for sent in sentences(text):
            if sent in seen:
                continue
            seen.add(sent)
            shared = len(q_terms & content_terms(sent))
            m = gold.search(sent)
            if m and shared >= 2:
                positives.append((sent, m))
            elif m:
                continue  # holds the answer but shares little with the question: neither label
            elif shared >= 2 or any(w.search(sent) for w in wrong):
                hard.append(sent)
            else:
                other.append(sent)
    return positives, hard, other


def rtqa_pairs(years: tuple[int, ...], rng: random.Random, max_pos: int = 2,
               max_hard: int = 3) -> Iterator[Pair]:
    for year in years:
        for row in rtqa_questions(year):
            q = row["question_sentence"]
            group = f"rtqa:{row['question_id']}"
            positives, hard, other = labelled_sentences(row)
            for sent, m in rng.sample(positives, min(max_pos, len(positives))):
                yield Pair(q, sent, 1, m.start(), m.end(), f"rtqa{year}", group)
            for sent in rng.sample(hard, min(max_hard, len(hard))):
                yield Pair(q, sent, 0, source=f"rtqa{year}-hard", group=group)
            if other:
                yield Pair(q, rng.choice(other), 0, source=f"rtqa{year}-other", group=group)


def train_pairs(seed: int = 13) -> list[Pair]:
    rng = random.Random(seed)
    out = [*squad_pairs(rng), *selqa_pairs(rng), *rtqa_pairs(TRAIN_YEARS, rng)]
    rng.shuffle(out)
    return out


def dev_pairs(seed: int = 13) -> list[Pair]:
    return list(rtqa_pairs((DEV_YEAR,), random.Random(seed)))


def write_jsonl(pairs: list[Pair], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as fh:
        for p in pairs:
            fh.write(json.dumps(asdict(p)) + "\n")


def read_jsonl(path: Path) -> list[Pair]:
    return [Pair(**json.loads(line)) for line in path.read_text().splitlines() if line.strip()]
