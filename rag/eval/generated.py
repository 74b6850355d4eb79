"""Figures for answers asked in generated style (`rag eval --answer generated`).

Per question (`generated_record`): how the answer was made (`style`: generated, or extractive with
the `fallback` reason), the sentences shown (`kept`), those the verifier rejected (`dropped`),
whether the model refused, and how many kept sentences are `supported`, judged afresh: the
citation's quote must be the stored document's own text at its span, inside a passage retrieval
returns for the question, and the verifier (`rag.query.verify.verify_sentence`) run again on the
sentence and that stored text must keep it. The answer's own flags are not trusted.

Per run or split (`summarize_generated`):

- `generated_share`: answers made in generated style (model refusals included);
- `fallback_rate`: answers that fell back to extractive (any reason, "refused" by the extractive
  scorer included); the two add up to 1;
- `dropped_rate`: dropped sentences / sentences the model wrote (kept + dropped);
- `citation_precision`: supported kept sentences / kept sentences (None when none was kept).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rag.index.reader import Index
from rag.query.answering import extractive
from rag.query.generation import generation_counts, shown_sentences
from rag.query.verify import verify_sentence
from rag.types import Answer, Citation, Passage

FIELDS = ("style", "kept", "dropped", "fallback", "refused", "supported")


def generated_record(index: Index, question: str, answer: Answer, as_of: str | None = None) -> dict[str, Any]:
    """The generation figures of one answer asked in generated style (see the module docstring);
    its citations are judged against the passages `ask` drew on (asked `as_of` that day)."""
    counts = generation_counts(answer)
    shown = shown_sentences(answer)
    supported = 0
    if shown:
        _, passages = extractive(index, question, as_of=as_of)
        by_n = {c.n: c for c in answer.citations}
        supported = sum(sentence_supported(index, passages, sentence, by_n.get(n)) for sentence, n in shown)
    return {**counts, "supported": supported}


def sentence_supported(index: Index, passages: Sequence[Passage], sentence: str,
                       citation: Citation | None) -> bool:
    """True when `citation` quotes its document exactly, inside a retrieved passage, and that
    stored text passes the verifier's quote and support checks for `sentence`."""
    if citation is None or citation.doc_id not in index.documents:
        return False
    source = index.documents[citation.doc_id].text[citation.start:citation.end]
    if source != citation.quote or not any(
            p.chunk.doc_id == citation.doc_id and p.chunk.start <= citation.start and citation.end <= p.chunk.end
            for p in passages):
        return False
    settings = index.settings.generator
    verdict = verify_sentence(index, passages, sentence, source, None, min_quote_words=settings.min_quote_words,
                              support_cosine=settings.support_cosine)
    return verdict.kept


def summarize_generated(records: Sequence[dict[str, Any]]) -> dict[str, float | int | None]:
    """Run-level generation figures from per-question records (see the module docstring)."""
    questions = len(records)
    generated = sum(r["style"] == "generated" for r in records)
    kept = sum(r["kept"] for r in records)
    dropped = sum(r["dropped"] for r in records)
    supported = sum(r["supported"] for r in records)

    def rate(part: int, whole: int) -> float:
        return round(part / whole, 4) if whole else 0.0

    return {
        "generated_share": rate(generated, questions),
        "fallback_rate": rate(sum(r["fallback"] is not None for r in records), questions),
        "model_refusals": sum(bool(r["refused"]) for r in records),
        "sentences_written": kept + dropped,
        "sentences_kept": kept,
        "dropped_rate": rate(dropped, kept + dropped),
        "citation_precision": round(supported / kept, 4) if kept else None,
    }
