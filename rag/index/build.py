"""Corpus -> build folder: load, clean, chunk, embed, store; switched in when complete.

Everything only the index needs happens here, once: sentence splitting (inside chunking), sentence
vectors, near-duplicate groups and the BM25 index, so the question path only reads. The encoder is
injected (`encoder=`) or loaded from the settings.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from rag.calibration import load_calibration, reader_record
from rag.config import Settings
from rag.embed import EmbeddingCache, Encoder, embed_with_cache, load_encoder
from rag.errors import NothingIndexed, RagError
from rag.index.chunks import ChunkFeed, chunk_corpus, embedding_text, failure_reason
from rag.index.features import ChunkFeatures, join
from rag.index.layout import build_lock, prune_builds, remove_stale_temps, switch_current, write_build
from rag.index.manifest import FORMAT_VERSION, index_fingerprint
from rag.index.reuse import previous_chunks
from rag.index.sentence_vectors import (
    SentenceRow,
    distinct_sentences,
    late_vectors,
    separate_sentence_vectors,
)
from rag.ingest.dedup import find_groups
from rag.ingest.files import Skipped, iter_files
from rag.ingest.loaders import load_file
from rag.stores import KeywordIndex, check_backend
from rag.types import Chunk, Document

__all__ = ["BuildReport", "Progress", "build_from_documents", "build_index", "chunk_corpus", "embedding_text",
           "load_corpus"]


class Progress(Protocol):
    """Receives build progress: a stage starts with a known total, then advances."""

    def stage(self, name: str, total: int) -> None: ...

    def advance(self, n: int) -> None: ...


class Silent:
    """A Progress that shows nothing."""

    def stage(self, name: str, total: int) -> None:
        pass

    def advance(self, n: int) -> None:
        pass


@dataclass
class BuildReport:
    """What a build did; printed by `rag index`."""

    path: Path
    documents: int
    chunks: int
    sentences: int
    embedded: int
    reused: int
    skipped: list[Skipped] = field(default_factory=list)
    seconds: float = 0.0
    stage_seconds: dict[str, float] = field(default_factory=dict)
    rechunked: int = 0  # documents chunked anew; the others' chunks came from the previous build
    indexed: list[str] = field(default_factory=list)  # doc_ids in the build (the others were skipped)


def load_corpus(settings: Settings, paths: list[Path] | None = None,
                progress: Progress | None = None) -> tuple[list[Document], list[Skipped]]:
    """Every loadable document under `paths` (default: the configured corpus) and every skip."""
    progress = progress or Silent()
    roots = paths or list(settings.corpus.paths)
    entries = list(iter_files(roots, settings.corpus.extensions, settings.corpus.follow_symlinks,
                              exclude=[Path(settings.index_dir)]))
    progress.stage("loading", len(entries))
    documents: dict[str, Document] = {}
    skipped: list[Skipped] = []
    max_bytes = int(settings.corpus.max_file_mb * 2**20)
    for entry in entries:
        progress.advance(1)
        if isinstance(entry, Skipped):
            skipped.append(entry)
            continue
        loaded = load_file(*entry, max_bytes=max_bytes)
        if isinstance(loaded, Skipped):
            skipped.append(loaded)
        elif loaded.doc_id in documents:
            skipped.append(Skipped(str(entry[1]), f"same doc_id '{loaded.doc_id}' as "
                                   f"{documents[loaded.doc_id].source}; rename one of them", "duplicate id"))
        else:
            documents[loaded.doc_id] = loaded
    return list(documents.values()), skipped


def build_index(settings: Settings, paths: list[Path] | None = None,
                progress: Progress | None = None, encoder: Encoder | None = None) -> BuildReport:
    """Load, clean, chunk, embed and store the corpus; switch `current` to it when complete."""
    started = time.perf_counter()
    documents, skipped = load_corpus(settings, paths, progress)
    if not documents:
        reasons = "; ".join(f"{s.path}: {s.reason}" for s in skipped[:5]) or "no files found"
        raise NothingIndexed(f"nothing could be indexed ({reasons})")
    report = build_from_documents(settings, documents, progress, encoder=encoder)
    roots = paths or list(settings.corpus.paths)  # loading's skips, then chunking's and embedding's:
    report.skipped = skipped + [_located(skip, roots) for skip in report.skipped]
    report.seconds = time.perf_counter() - started
    return report


def _located(skip: Skipped, roots: list[Path]) -> Skipped:
    """A skip the build made (it knows a document's source, relative to its root) with the file's
    full path, as loading's skips have it."""
    for root in roots:
        path = Path(root) / skip.path if Path(root).is_dir() else Path(root)
        if path.is_file() and path.as_posix().endswith(skip.path):
            return Skipped(str(path), skip.reason, skip.kind)
    return skip


def build_from_documents(settings: Settings, documents: list[Document],
                         progress: Progress | None = None, sentences: bool = True,
                         encoder: Encoder | None = None) -> BuildReport:
    """Index already-loaded documents (the BEIR harness enters here)."""
    progress = progress or Silent()
    started = time.perf_counter()
    check_backend(settings.vectors)
    embedder = encoder or load_encoder(settings.embedding)
    stages = {"model_load": time.perf_counter() - started}
    feed = ChunkFeed(settings, documents, embedder, previous_chunks(settings, embedder))
    try:
        if not feed.has_chunks():
            reasons = "".join(f"; {doc_id}: {why}" for doc_id, why in list(feed.failed.items())[:5])
            raise NothingIndexed(f"the documents hold no indexable text after cleaning{reasons}")
        with build_lock(Path(settings.index_dir)):
            report = _build_locked(settings, documents, progress, sentences, embedder, feed, started, stages)
    finally:
        feed.close()
    report.stage_seconds = {k: round(v, 3) for k, v in stages.items()}
    report.rechunked = feed.rechunked
    report.skipped = [Skipped(d.source, feed.failed[d.doc_id],
                              "no text" if feed.failed[d.doc_id].startswith("no indexable") else "build error")
                      for d in documents if d.doc_id in feed.failed]
    prepare_serving = getattr(embedder, "prepare_serving", None)
    if prepare_serving is not None:  # the ONNX export a server answers with, without PyTorch
        prepare_serving()
    return report


def _build_locked(settings: Settings, documents: list[Document], progress: Progress,
                  sentences: bool, embedder: Encoder, feed: ChunkFeed, started: float,
                  stages: dict[str, float]) -> BuildReport:
    by_id = {d.doc_id: d for d in documents}
    root = Path(settings.index_dir)
    builds = root / "builds"
    builds.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(settings, builds)
    cache = EmbeddingCache(root / "cache" / "embeddings.sqlite") if settings.embedding.cache else None
    mark = time.perf_counter()
    try:
        chunks, texts, vectors, sentence_rows, sentence_vectors, embedded = _embed_feed(
            settings, embedder, feed, by_id, cache, progress, sentences)
    finally:
        if cache:
            cache.close()
    stages["chunking"] = feed.waited  # what chunking added: the time the encoder waited for it
    stages["embedding"] = time.perf_counter() - mark - feed.waited
    documents = [d for d in documents if d.doc_id not in feed.failed]  # skipped with their reason
    mark = time.perf_counter()
    progress.stage("keyword index and near-duplicates", 1)
    lengths = {d.doc_id: len(d.text) for d in documents}
    per_doc = Counter(c.doc_id for c in chunks)
    features = chunk_features(feed, chunks, texts)
    groups = find_groups(chunks, lengths, settings.retrieval.dedup_containment, features.gram_index())
    for chunk, group in zip(chunks, groups, strict=True):
        chunk.group = group
    keyword = KeywordIndex.from_counts(features.vocab, features.term_rows(), features.terms, features.counts,
                                       len(chunks), settings.retrieval.bm25_k1, settings.retrieval.bm25_b)
    progress.advance(1)
    manifest = {
        "format_version": FORMAT_VERSION,
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "settings": index_fingerprint(settings, embedder),
        "model": {"name": embedder.name, "dimension": embedder.dimension,
                  "max_seq_length": embedder.max_seq_length, "precision": embedder.precision},
        "counts": {"documents": len(documents), "chunks": len(chunks),
                   "sentences": len(sentence_rows),
                   "duplicate_groups": len({c.group for c in chunks if c.group >= 0})},
        "documents": {d.doc_id: {"source": d.source, "sha256": d.content_hash, "chunks": per_doc[d.doc_id]}
                      for d in documents},
        "build_seconds": round(time.perf_counter() - started, 3),
        "calibration": calibration_record(root),
        "answer": reader_record(settings.answer),
    }
    stages["keyword_and_dedup"] = time.perf_counter() - mark
    mark = time.perf_counter()
    target = write_build(settings, builds, manifest, documents, chunks, vectors, sentence_rows,
                          sentence_vectors, keyword, features)
    switch_current(root, target)
    prune_builds(settings, builds, keep=target.name)
    stages["writing"] = time.perf_counter() - mark
    return BuildReport(path=target, documents=len(documents), chunks=len(chunks),
                       sentences=len(sentence_rows), embedded=embedded,
                       reused=len(chunks) + len(sentence_rows) - embedded,
                       seconds=time.perf_counter() - started, indexed=[d.doc_id for d in documents])


def chunk_features(feed: ChunkFeed, chunks: list[Chunk], texts: list[str]) -> ChunkFeatures:
    """BM25 term counts (of the title-prefixed text the model sees) and 3-gram codes per chunk:
    those of reused chunks from the previous build, the rest computed."""
    distinct = len({c.chunk_id for c in chunks}) == len(chunks)  # a repeated doc_id would map rows twice
    previous = feed.previous.features() if feed.reused and distinct else None
    if previous is None:
        return ChunkFeatures.compute(texts, [c.text for c in chunks])
    rows = feed.previous.rows(chunks, feed.reused)
    new = np.flatnonzero(rows < 0).tolist()
    return join(previous, ChunkFeatures.compute([texts[i] for i in new], [chunks[i].text for i in new]), rows)


def calibration_record(root: Path) -> dict[str, object]:
    """Which refusal model answers from this build: the index folder's own fit, else the packaged one."""
    calibration, path = load_calibration(root)
    return {"path": path, "digest": calibration.digest, "threshold": calibration.threshold,
            "fitted_on": calibration.fitted_on}


def _embed_feed(settings: Settings, embedder: Encoder, feed: ChunkFeed, by_id: dict[str, Document],
                cache: EmbeddingCache | None, progress: Progress, sentences: bool) -> tuple:
    """Embed the feed's windows as they come: (chunks, texts, chunk vectors, sentence rows,
    sentence vectors, number embedded), progress counted in documents."""
    progress.stage("embedding" if sentences else "embedding chunks", len(by_id))
    chunks: list[Chunk] = []
    texts: list[str] = []
    parts: list[tuple[np.ndarray, list[SentenceRow], np.ndarray]] = []
    embedded = 0
    for count, window in feed:
        window_texts = [embedding_text(c, by_id[c.doc_id], settings) for c in window]
        separate = sentences and settings.embedding.sentence_vectors == "separate"
        share = _Share(progress, count, len(window) + (sum(len(c.sentences) for c in window) if separate else 0))
        try:
            v, rows, sv, more = embed_chunks_and_sentences(settings, embedder, window, window_texts, by_id,
                                                           cache, share.advance, sentences)
        except RagError:
            raise  # the disk, the cache, the model: not one document's fault
        except Exception:  # noqa: BLE001  find the documents that fail; skip them, keep the rest
            window, window_texts, (v, rows, sv, more) = _embed_each(settings, embedder, feed, window,
                                                                     window_texts, by_id, cache, sentences)
        share.finish()
        chunks += window
        texts += window_texts
        parts.append((v, rows, sv))
        embedded += more
    if not chunks:
        reasons = "; ".join(f"{doc_id}: {why}" for doc_id, why in list(feed.failed.items())[:5])
        raise NothingIndexed(f"nothing could be indexed ({reasons or 'no chunks'})")
    vectors = np.vstack([p[0] for p in parts])
    rows = [row for p in parts for row in p[1]]
    sentence_vectors = np.vstack([p[2] for p in parts])
    return chunks, texts, vectors, rows, sentence_vectors, embedded


def _embed_each(settings: Settings, embedder: Encoder, feed: ChunkFeed, window: list[Chunk], texts: list[str],
                by_id: dict[str, Document], cache: EmbeddingCache | None, sentences: bool) -> tuple:
    """A window whose embedding raised, embedded one document at a time: the documents that
    raise again are recorded in `feed.failed` and left out. Returns (chunks, texts, results)."""
    kept: list[Chunk] = []
    kept_texts: list[str] = []
    parts: list[tuple[np.ndarray, list[SentenceRow], np.ndarray, int]] = []
    for doc_id in dict.fromkeys(c.doc_id for c in window):
        rows = [i for i, c in enumerate(window) if c.doc_id == doc_id]
        chunks, chunk_texts = [window[i] for i in rows], [texts[i] for i in rows]
        try:
            parts.append(embed_chunks_and_sentences(settings, embedder, chunks, chunk_texts, by_id, cache,
                                                    None, sentences))
        except RagError:
            raise
        except Exception as exc:  # noqa: BLE001  this document is skipped with its reason
            feed.failed[doc_id] = failure_reason("embedded", exc)
            continue
        kept += chunks
        kept_texts += chunk_texts
    empty = np.zeros((0, embedder.dimension), np.float32)
    result = (np.vstack([empty] + [p[0] for p in parts]), [r for p in parts for r in p[1]],
              np.vstack([empty] + [p[2] for p in parts]), sum(p[3] for p in parts))
    return kept, kept_texts, result


class _Share:
    """Advances `progress` by `documents` in all, spread over about `texts` encoder texts."""

    def __init__(self, progress: Progress, documents: int, texts: int) -> None:
        self.progress, self.documents, self.rate = progress, documents, documents / max(texts, 1)
        self.done, self.owed = 0, 0.0

    def advance(self, n: int) -> None:
        self.owed += n * self.rate
        step = min(int(self.owed), self.documents - self.done)
        if step > 0:
            self.owed -= step
            self.done += step
            self.progress.advance(step)

    def finish(self) -> None:
        if self.documents > self.done:
            self.progress.advance(self.documents - self.done)
            self.done = self.documents


def embed_chunks_and_sentences(settings: Settings, embedder: Encoder, chunks: list[Chunk], texts: list[str],
                               by_id: dict[str, Document], cache: EmbeddingCache | None,
                               advance: Callable[[int], None] | None,
                               sentences: bool) -> tuple[np.ndarray, list[SentenceRow], np.ndarray, int]:
    """(chunk vectors, sentence rows, sentence vectors, number embedded), per embedding.sentence_vectors."""
    rows = distinct_sentences(chunks) if sentences else []
    if sentences and settings.embedding.sentence_vectors == "late":
        vectors, sentence_vectors, embedded = late_vectors(embedder, chunks, texts, rows, cache, advance)
        return vectors, rows, sentence_vectors, embedded
    vectors, embedded = embed_with_cache(embedder, texts, cache, advance)
    sentence_vectors = np.zeros((0, embedder.dimension), np.float32)
    if sentences:
        sentence_vectors, more = separate_sentence_vectors(embedder, rows, by_id, cache, advance)
        embedded += more
    return vectors, rows, sentence_vectors, embedded
