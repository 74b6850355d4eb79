"""Question -> Passages: dense and keyword retrieval fused by reciprocal rank, duplicates grouped.

Hybrid mode runs both retrievers and fuses their chunk rankings with weighted reciprocal rank
fusion (score = sum of weight / (rrf_k + rank)). Near-duplicate chunks (found at index time) then
collapse into one passage from the fullest document, with the other copies listed in `also_in`.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from rag.errors import InputError
from rag.index.reader import Index
from rag.ingest.files import LONE_SURROGATE
from rag.query.filters import DocFilter, allowed_documents, allowed_rows
from rag.types import Mode, Passage


def chunk_scores(index: Index, query: str, mode: Mode, depth: int,
                 query_vector: np.ndarray | None = None,
                 allowed: set[str] | None = None) -> list[tuple[int, float, float | None, float | None]]:
    """Ranked (chunk row, fused score, dense cosine, BM25 score) for up to `depth` chunks; with
    `allowed` doc ids, both retrievers rank only those documents' chunks (filter before the cut)."""
    dense: dict[int, float] = {}
    keyword: dict[int, float] = {}
    if allowed is not None and not allowed:
        return []
    if mode in ("dense", "hybrid"):
        vector = query_vector if query_vector is not None else index.embedder.encode_query(query)
        ids, scores = index.store.search(vector, depth, doc_ids=allowed)
        dense = dict(zip(ids.tolist(), scores.tolist(), strict=True))
    if mode in ("keyword", "hybrid"):
        mask = None if allowed is None else allowed_rows(*index.chunk_docs, allowed)
        ids, scores = index.keyword.search(query, depth, mask)
        keyword = dict(zip(ids.tolist(), scores.tolist(), strict=True))
    if mode == "dense":
        fused = dense
    elif mode == "keyword":
        fused = keyword
    else:
        fused = rrf([list(dense), list(keyword)],
                    [index.settings.retrieval.dense_weight, index.settings.retrieval.keyword_weight],
                    index.settings.retrieval.rrf_k)
    ranked = sorted(fused.items(), key=lambda kv: (-kv[1], kv[0]))
    return [(row, score, dense.get(row), keyword.get(row)) for row, score in ranked]


def rrf(rankings: list[list[int]], weights: list[float], k: int) -> dict[int, float]:
    """Weighted reciprocal rank fusion of best-first id lists."""
    fused: dict[int, float] = defaultdict(float)
    for ranking, weight in zip(rankings, weights, strict=True):
        for rank, item in enumerate(ranking, start=1):
            fused[item] += weight / (k + rank)
    return dict(fused)


def search(index: Index, query: str, k: int | None = None, mode: Mode | None = None,
           query_vector: np.ndarray | None = None, where: DocFilter | None = None) -> list[Passage]:
    """The `k` best passages for `query`, one per near-duplicate group, best first; with `where`,
    only from the documents it allows."""
    query = validate_query(query)
    settings = index.settings.retrieval
    k = k or settings.k
    mode = mode or settings.mode
    allowed = allowed_documents(index.documents, where)
    if allowed is not None and len(allowed) == len(index.documents):
        allowed = None  # a filter that keeps everything ("not after today") costs nothing
    ranked = chunk_scores(index, query, mode, max(settings.candidates, k * 4), query_vector, allowed)
    passages: list[Passage] = []
    seen_groups: dict[int, Passage] = {}
    for row, score, dense, keyword in ranked:
        chunk = index.chunks[row]
        if chunk.group >= 0 and chunk.group in seen_groups:
            continue
        if chunk.group >= 0:
            chunk = index.chunks[_preferred_member(index, chunk.group, row, allowed)]
        doc = index.documents[chunk.doc_id]
        passage = Passage(chunk=chunk, title=doc.display_title, source=doc.source, score=score,
                          dense_score=dense, keyword_score=keyword, rank=len(passages) + 1,
                          also_in=_also_in(index, chunk.group, chunk.doc_id, allowed))
        passages.append(passage)
        if chunk.group >= 0:
            seen_groups[chunk.group] = passage
        if len(passages) == k:
            break
    return passages


def _preferred_member(index: Index, group: int, hit: int, allowed: set[str] | None = None) -> int:
    """The hit itself if it is from the canonical document (or the canonical one is filtered
    out), else the canonical chunk."""
    canonical = index.canonical[group]
    if allowed is not None and index.chunks[canonical].doc_id not in allowed:
        return hit
    if index.chunks[hit].doc_id == index.chunks[canonical].doc_id:
        return hit
    return canonical


def _also_in(index: Index, group: int, doc_id: str, allowed: set[str] | None = None) -> list[str]:
    """The other documents holding this passage's text (only those the filter allows)."""
    if group < 0:
        return []
    copies = {index.chunks[i].doc_id for i in index.group_members[group]} - {doc_id}
    return sorted(copies if allowed is None else copies & allowed)


def validate_query(query: str) -> str:
    """The question, trimmed: the one check every question passes (ask, search, streamed, chat,
    /v1, MCP, CLI). InputError (HTTP 422, one CLI line) when it is empty, when it holds a lone
    surrogate (a JSON "\\ud800", or a command-line byte that is not UTF-8: the tokenizer and the
    JSON encoder raise on it), or when it holds no letter at all ("?!?", "...", "1", only
    zero-width or direction marks): nothing there to search for or to answer."""
    query = (query or "").strip()
    if not query:
        raise InputError("the question is empty; type a question in plain words")
    if LONE_SURROGATE.search(query):
        raise InputError("the question holds a lone surrogate (U+D800-U+DFFF: a JSON \\ud800 escape, or "
                         "bytes that are not UTF-8 on a command line), which is no text; retype it as plain text")
    if not any(ch.isalpha() for ch in query):
        raise InputError("the question holds nothing to ask (no word: only punctuation, digits, spaces "
                         "or invisible marks); type a question in plain words")
    return query


def rank_documents(index: Index, query: str, mode: Mode, depth: int,
                   query_vector: np.ndarray | None = None) -> list[tuple[str, float]]:
    """Documents ranked by their best chunk (BEIR-style document retrieval), best first.

    In hybrid mode each retriever's chunk ranking is first reduced to a document ranking (best
    chunk per document), then the two document rankings are fused, so a long document does not
    win merely by having many matching chunks.
    """
    if mode != "hybrid":
        ranked = chunk_scores(index, query, mode, depth, query_vector)
        return _best_per_doc(index, [(row, score) for row, score, _, _ in ranked])
    dense = _best_per_doc(index, [(r, s) for r, s, _, _ in
                                  chunk_scores(index, query, "dense", depth, query_vector)])
    keyword = _best_per_doc(index, [(r, s) for r, s, _, _ in
                                    chunk_scores(index, query, "keyword", depth)])
    fused = rrf([[d for d, _ in dense], [d for d, _ in keyword]],
                [index.settings.retrieval.dense_weight, index.settings.retrieval.keyword_weight],
                index.settings.retrieval.rrf_k)
    return sorted(fused.items(), key=lambda kv: (-kv[1], kv[0]))


def _best_per_doc(index: Index, ranked: list[tuple[int, float]]) -> list[tuple[str, float]]:
    best: dict[str, float] = {}
    for row, score in ranked:
        doc = index.chunks[row].doc_id
        if doc not in best:
            best[doc] = score
    return list(best.items())
