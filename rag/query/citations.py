"""Chosen sentences -> numbered Citations, and the check every citation passes before it is shown.

A citation is a span of one document: `quote == document.text[start:end]`, inside a passage that
retrieval returned for this question. `verified` drops any citation failing that, so an answer can
never point at text the documents do not hold, or at a passage the question did not retrieve.
"""

from __future__ import annotations

import re
import threading
import weakref

from rag.index.reader import Index
from rag.ingest.dedup import normalize
from rag.types import Citation, Passage

_NORMALIZED: weakref.WeakKeyDictionary[Index, dict[str, str]] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def cite(index: Index, chosen: list[tuple[Passage, int, int, float]]) -> list[Citation]:
    """Numbered citations of (passage, start, end, score) spans in order of use, with the other
    documents carrying the same sentence."""
    citations = []
    for n, (passage, start, end, score) in enumerate(chosen, start=1):
        doc = index.documents[passage.chunk.doc_id]
        quote = doc.text[start:end]
        citations.append(Citation(
            n=n, doc_id=doc.doc_id, title=doc.display_title, source=doc.source,
            start=start, end=end, quote=quote, page=doc.page_at(start),
            score=round(score, 4), also_in=copies_of(index, quote, passage.also_in),
        ))
    return citations


def copies_of(index: Index, quote: str, candidates: list[str]) -> list[str]:
    """Those of `candidates` whose text contains `quote` (compared as normalized words)."""
    needle = " ".join(normalize(quote))
    return [d for d in candidates if needle and needle in normalized_text(index, d)]


def verified(index: Index, citations: list[Citation], passages: list[Passage]) -> list[Citation]:
    """Only citations inside a retrieved passage whose quote is exactly the text at its offsets."""
    kept = []
    for citation in citations:
        doc = index.documents.get(citation.doc_id)
        inside = any(p.chunk.doc_id == citation.doc_id and p.chunk.start <= citation.start
                     and citation.end <= p.chunk.end for p in passages)
        if doc and inside and doc.text[citation.start:citation.end] == citation.quote:
            kept.append(citation.model_copy(update={"n": len(kept) + 1}))
    return kept


def normalized_text(index: Index, doc_id: str) -> str:
    """A document's words, normalized as for near-duplicate detection (computed once per index)."""
    with _LOCK:
        cache = _NORMALIZED.setdefault(index, {})
    if doc_id not in cache:
        cache[doc_id] = " ".join(normalize(index.documents[doc_id].text))
    return cache[doc_id]


def display_text(quote: str) -> str:
    """A quote as one readable line: markup and list bullets removed, whitespace collapsed."""
    text = re.sub(r"\*\*|</?u>", "", quote)
    text = re.sub(r"(^|\s)[•·]\s+", r"\1", text)
    return " ".join(text.split())
