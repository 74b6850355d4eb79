"""A full-corpus index for answer-level evaluation of a BEIR folder with answers, without waiting
for sentence vectors nobody reads.

The answer stage reads sentence vectors only of the passages retrieval returns for a question
(`answer.passages` of them). Retrieval does not depend on sentence vectors, so this script:
1. builds the index with chunk vectors only (taken from the embedding cache when present);
2. retrieves every judged query's passages and collects their sentences;
3. rebuilds with sentence vectors, encoding exactly those sentences (the rest get zero vectors,
   which no evaluated question can reach: its passages are the same on the second build).
Every figure of `rag eval --beir DIR --answers --index-dir OUT` on this index equals the figure
on an index with every sentence encoded (RealTime QA: about 11,000 of 320,152 sentences).
Use it for evaluation only: a question outside the data set may meet zero vectors. With
RAG_EMBEDDING__SENTENCE_VECTORS=late the retrieved chunks get a real late pass (set the same
variable for `rag eval`, since the manifest records the mode); copy a former index's cache/ folder
into OUT first to take the chunk vectors from it.

    python bench/answer_eval_index.py ../shared/bench-data/realtimeqa-2022 /tmp/rtqa-index
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from rag import (
    EmbeddingCache,
    build_from_documents,
    dated_filters,
    embedding_text,
    load_answer_questions,
    load_encoder,
    load_settings,
    open_index,
    search,
)


class PartialEncoder:
    """The real encoder, except that chunk texts come from the cache and sentence texts outside
    `needed` get zero vectors."""

    def __init__(self, real, needed: set[str], cached: dict[str, np.ndarray], needed_chunks: set[str]) -> None:
        self.real, self.needed, self.cached, self.needed_chunks = real, needed, cached, needed_chunks
        self.name, self.precision = real.name, real.precision
        self.dimension, self.max_seq_length = real.dimension, real.max_seq_length
        self.encoded = 0

    key = property(lambda self: self.real.key + "|partial")
    batch_size = property(lambda self: self.real.batch_size)
    max_text_tokens = property(lambda self: self.real.max_text_tokens)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return self.real.count_tokens(texts)

    def split_tokens(self, text: str, limit: int) -> list[tuple[int, int]]:
        return self.real.split_tokens(text, limit)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self.real.encode_queries(texts)

    def encode_query(self, text: str) -> np.ndarray:
        return self.real.encode_query(text)

    def encode(self, texts: Sequence[str], progress: Callable[[int], None] | None = None) -> np.ndarray:
        out = np.zeros((len(texts), self.dimension), np.float32)
        todo = []
        for i, text in enumerate(texts):
            vector = self.cached.get(EmbeddingCache.digest(text))
            if vector is not None:
                out[i] = vector
            elif text in self.needed:
                todo.append(i)
        if todo:
            out[todo] = self.real.encode([texts[i] for i in todo])
            self.encoded += len(todo)
        if progress:
            progress(len(texts))
        return out


    def encode_with_spans(self, texts: Sequence[str], spans: Sequence[list[tuple[int, int]]],
                          progress: Callable[[int], None] | None = None) -> tuple[np.ndarray, list, list]:
        """Late sentence vectors (RAG_EMBEDDING__SENTENCE_VECTORS=late): pooled from a real pass over
        the retrieved chunks only; chunk vectors always from the cache, so retrieval is unchanged."""
        vectors = self.encode(texts)
        blocks = [np.zeros((len(s), self.dimension), np.float32) for s in spans]
        empty: list[list[int]] = [[] for _ in spans]
        todo = [i for i, text in enumerate(texts) if text in self.needed_chunks]
        if todo:
            _, got, got_empty = self.real.encode_with_spans([texts[i] for i in todo], [spans[i] for i in todo])
            for j, i in enumerate(todo):
                blocks[i], empty[i] = got[j], got_empty[j]
            self.encoded += len(todo)
        return vectors, blocks, empty


def main(folder: Path, index_dir: Path) -> None:
    started = time.perf_counter()
    settings = load_settings(index_dir=index_dir)
    documents, questions = load_answer_questions(folder)
    real = load_encoder(settings.embedding)
    build_from_documents(settings, documents, sentences=False, encoder=real)
    index = open_index(settings, encoder=real)
    texts = {d.doc_id: d.text for d in documents}
    days = settings.retrieval.recent_days
    retrieved = [p.chunk for q in questions for scope in dated_filters(None, q.as_of, days)
                 for p in search(index, q.question, settings.answer.passages, where=scope)]
    needed = {texts[c.doc_id][s.start:s.end] for c in retrieved for s in c.sentences}
    by_id = {d.doc_id: d for d in documents}
    needed_chunks = {embedding_text(c, by_id[c.doc_id], settings) for c in retrieved}
    chunk_texts = [embedding_text(c, by_id[c.doc_id], settings) for c in index.chunks]
    store = EmbeddingCache(index_dir / "cache" / "embeddings.sqlite")
    cached = store.get_many(real.key, [EmbeddingCache.digest(t) for t in chunk_texts + sorted(needed)],
                            real.dimension)
    store.close()
    index.close()
    partial = PartialEncoder(real, needed, cached, needed_chunks)
    report = build_from_documents(settings.with_overrides(**{"embedding.cache": False}), documents,
                                  sentences=True, encoder=partial)
    print(f"{report.chunks} chunks, {report.sentences} sentences, {len(needed)} needed, "
          f"{partial.encoded} encoded now, {time.perf_counter() - started:.0f} s -> {report.path}")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
