"""Chunk vectors and answer-sentence vectors for a build, through the embedding cache.

Two ways to get a vector per sentence (`embedding.sentence_vectors`, recorded in the manifest):

- "separate": every distinct sentence is encoded on its own, after the chunks (a second pass over
  about as much text as the chunks hold).
- "late": one pass per chunk; each sentence's vector is the mean of the chunk pass's token
  embeddings over the sentence's span (`rag.embed.late`), so sentences cost no encoder time and
  carry their chunk's context. A sentence inside several overlapping chunks takes the first.
  The cache keeps, per chunk text and spans, the block of its sentence vectors.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence

import numpy as np

from rag.embed import EmbeddingCache, Encoder, embed_with_cache
from rag.errors import ConfigError
from rag.types import Chunk, Document

Progress = Callable[[int], None]
SentenceRow = tuple[str, int, int]
STEP = 512  # chunks per cache write: a killed build keeps what it had encoded


def distinct_sentences(chunks: list[Chunk]) -> list[SentenceRow]:
    """(doc_id, start, end) of every sentence, once, in chunk order."""
    seen: dict[SentenceRow, None] = {}
    for chunk in chunks:
        for s in chunk.sentences:
            seen.setdefault((chunk.doc_id, s.start, s.end), None)
    return list(seen)


def separate_sentence_vectors(embedder: Encoder, rows: list[SentenceRow], by_id: dict[str, Document],
                              cache: EmbeddingCache | None, progress: Progress | None) -> tuple[np.ndarray, int]:
    """Each sentence encoded on its own (cached by its text)."""
    texts = [by_id[d].text[s:e] for d, s, e in rows]
    return embed_with_cache(embedder, texts, cache, progress)


def late_vectors(embedder: Encoder, chunks: list[Chunk], texts: list[str], rows: list[SentenceRow],
                 cache: EmbeddingCache | None, progress: Progress | None) -> tuple[np.ndarray, np.ndarray, int]:
    """Chunk vectors and sentence vectors from one pass per chunk: (chunks, sentences, embedded)."""
    encode_with_spans = getattr(embedder, "encode_with_spans", None)
    if encode_with_spans is None:
        raise ConfigError(f"the encoder {embedder.name} cannot pool sentence spans; "
                          "set RAG_EMBEDDING__SENTENCE_VECTORS=separate")
    spans = [chunk_spans(chunk, text) for chunk, text in zip(chunks, texts, strict=True)]
    keys = [EmbeddingCache.digest(t) for t in texts]
    block_keys = [EmbeddingCache.digest(f"{t}\x00{json.dumps(s)}") for t, s in zip(texts, spans, strict=True)]
    late_key = f"{embedder.key}|late"
    known = cache.get_many(embedder.key, keys, embedder.dimension) if cache else {}
    blocks = cache.get_blocks(late_key, block_keys, embedder.dimension) if cache else {}
    vectors = np.zeros((len(chunks), embedder.dimension), dtype=np.float32)
    pooled: list[np.ndarray | None] = [None] * len(chunks)
    for k in range(len(chunks)):
        if keys[k] in known and block_keys[k] in blocks and len(blocks[block_keys[k]]) == len(spans[k]):
            vectors[k], pooled[k] = known[keys[k]], blocks[block_keys[k]]
    todo = sorted((k for k in range(len(chunks)) if pooled[k] is None), key=lambda k: len(texts[k]))
    if progress and len(chunks) - len(todo):
        progress(len(chunks) - len(todo))
    for begin in range(0, len(todo), STEP):
        part = todo[begin:begin + STEP]
        got, blocks_got, empty = encode_with_spans([texts[k] for k in part], [spans[k] for k in part], progress)
        _fill_empty(embedder, [texts[k] for k in part], [spans[k] for k in part], blocks_got, empty, cache)
        for j, k in enumerate(part):
            vectors[k], pooled[k] = got[j], blocks_got[j]
        if cache:
            cache.put_many(embedder.key, [(keys[k], got[j]) for j, k in enumerate(part)])
            cache.put_many(late_key, [(block_keys[k], blocks_got[j]) for j, k in enumerate(part)])
    sentence_vectors, fresh = _pick_sentences(chunks, rows, pooled, set(todo), embedder.dimension)
    return vectors, sentence_vectors, len(todo) + fresh


def chunk_spans(chunk: Chunk, text: str) -> list[tuple[int, int]]:
    """The chunk's sentence spans as offsets into `text`, the chunk's embedding text."""
    prefix = len(text) - len(chunk.text)
    if prefix < 0 or not text.endswith(chunk.text):
        raise ValueError(f"embedding text of {chunk.chunk_id} does not end with the chunk")
    return [(prefix + s.start - chunk.start, prefix + s.end - chunk.start) for s in chunk.sentences]


def _fill_empty(embedder: Encoder, texts: Sequence[str], spans: Sequence[list[tuple[int, int]]],
                blocks: list[np.ndarray], empty: list[list[int]], cache: EmbeddingCache | None) -> None:
    """Spans the window cut off got no tokens: encode those sentences on their own."""
    wanted = [(j, i) for j, rows in enumerate(empty) for i in rows]
    if not wanted:
        return
    sentences = [texts[j][spans[j][i][0]:spans[j][i][1]] for j, i in wanted]
    vectors, _ = embed_with_cache(embedder, sentences, cache)
    for (j, i), vector in zip(wanted, vectors, strict=True):
        blocks[j][i] = vector


def _pick_sentences(chunks: list[Chunk], rows: list[SentenceRow], pooled: list[np.ndarray | None],
                    fresh_chunks: set[int], dim: int) -> tuple[np.ndarray, int]:
    """Each distinct sentence's vector from the first chunk holding it; and how many were new."""
    where: dict[SentenceRow, tuple[int, int]] = {}
    for k, chunk in enumerate(chunks):
        for i, s in enumerate(chunk.sentences):
            where.setdefault((chunk.doc_id, s.start, s.end), (k, i))
    out = np.zeros((len(rows), dim), dtype=np.float32)
    fresh = 0
    for row, key in enumerate(rows):
        k, i = where[key]
        out[row] = pooled[k][i]
        fresh += k in fresh_chunks
    return out, fresh
