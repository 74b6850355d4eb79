"""Build, store and open the on-disk index, atomically and with a manifest that is enforced.

Layout of `index_dir` (every file plain and inspectable):

    current -> builds/<id>      symlink switched atomically when a build is complete
    builds/<id>/manifest.json   how it was built: model, dimension, chunking, per-document hashes
    builds/<id>/documents.jsonl full text and metadata of every document (citations are checked here)
    builds/<id>/chunks.jsonl    chunk records: offsets, sentences, near-duplicate group
    builds/<id>/vectorstore.json which vector backend holds the chunk vectors, and how
    builds/<id>/vectors.faiss   chunk vectors (FAISS backend; see rag/faiss_store.py)
    builds/<id>/sentences.npy   one vector per distinct sentence, rows in chunk order
    builds/<id>/keyword/        BM25 index (bm25s: JSON + .npy)
    cache/embeddings.sqlite     embeddings by (model, text hash), reused across builds

A build writes into `builds/.tmp-*` and only then points `current` at it, so a build killed at
any moment leaves the previous index untouched and loadable.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from rag.chunking import ChunkPlan, chunk_document
from rag.cleaning import Cleaner
from rag.config import Settings
from rag.dedup import canonical_members, find_groups, normalize
from rag.embedding import Embedder, EmbeddingCache, embed_with_cache
from rag.errors import IndexBusy, IndexCorrupt, IndexMismatch, IndexMissing, NothingIndexed
from rag.keyword import KeywordIndex, tokenize
from rag.loaders import Skipped, iter_files, load_file
from rag.types import Chunk, Document
from rag.vectorstore import build_store, check_backend, drop_store, open_store

FORMAT_VERSION = 1
TITLE_PREFIX_TOKENS = 32
KEEP_BUILDS = 2
# Fingerprint keys added after format 1 shipped, with the value every older build implied.
_ADDED_KEYS: dict[str, Any] = {"vectors.backend": "faiss"}


class Progress(Protocol):
    """Receives build progress: a stage starts with a known total, then advances."""

    def stage(self, name: str, total: int) -> None: ...

    def advance(self, n: int) -> None: ...


class _Silent:
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


def index_fingerprint(settings: Settings, embedder: Embedder | None = None) -> dict[str, Any]:
    """The settings an index depends on; opening with different values is refused."""
    fingerprint: dict[str, Any] = {
        "embedding.model": settings.embedding.model,
        "embedding.precision": settings.embedding.precision,
        "chunking.max_tokens": settings.chunking.max_tokens,
        "chunking.overlap_tokens": settings.chunking.overlap_tokens,
        "chunking.title_prefix": settings.chunking.title_prefix,
        "cleaning.enabled": settings.cleaning.enabled,
        "cleaning.extra_patterns": list(settings.cleaning.extra_patterns),
        "vectors.backend": settings.vectors.backend,
    }
    if embedder is not None:
        fingerprint["embedding.dimension"] = embedder.dimension
    return fingerprint


# --------------------------------------------------------------------------- building


def load_corpus(settings: Settings, paths: list[Path] | None = None,
                progress: Progress | None = None) -> tuple[list[Document], list[Skipped]]:
    """Every loadable document under `paths` (default: the configured corpus) and every skip."""
    progress = progress or _Silent()
    roots = paths or list(settings.corpus.paths)
    entries = list(iter_files(roots, settings.corpus.extensions))
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
                                   f"{documents[loaded.doc_id].source}; rename one of them"))
        else:
            documents[loaded.doc_id] = loaded
    return list(documents.values()), skipped


def build_index(settings: Settings, paths: list[Path] | None = None,
                progress: Progress | None = None) -> BuildReport:
    """Load, clean, chunk, embed and store the corpus; switch `current` to it when complete."""
    started = time.perf_counter()
    documents, skipped = load_corpus(settings, paths, progress)
    if not documents:
        reasons = "; ".join(f"{s.path}: {s.reason}" for s in skipped[:5]) or "no files found"
        raise NothingIndexed(f"nothing could be indexed ({reasons})")
    report = build_from_documents(settings, documents, progress)
    report.skipped = skipped
    report.seconds = time.perf_counter() - started
    return report


def build_from_documents(settings: Settings, documents: list[Document],
                         progress: Progress | None = None, sentences: bool = True) -> BuildReport:
    """Index already-loaded documents (the BEIR harness enters here)."""
    progress = progress or _Silent()
    started = time.perf_counter()
    check_backend(settings.vectors)
    embedder = Embedder(settings.embedding)
    stages = {"model_load": time.perf_counter() - started}
    mark = time.perf_counter()
    chunks = chunk_corpus(settings, documents, embedder)
    stages["chunking"] = time.perf_counter() - mark
    if not chunks:
        raise NothingIndexed("the documents hold no indexable text after cleaning")
    root = Path(settings.index_dir)
    with build_lock(root):
        report = _build_locked(settings, documents, progress, sentences, embedder, chunks, started, stages)
    report.stage_seconds = {k: round(v, 3) for k, v in stages.items()}
    return report


def _build_locked(settings: Settings, documents: list[Document], progress: Progress,
                  sentences: bool, embedder: Embedder, chunks: list[Chunk], started: float,
                  stages: dict[str, float]) -> BuildReport:
    by_id = {d.doc_id: d for d in documents}
    root = Path(settings.index_dir)
    builds = root / "builds"
    builds.mkdir(parents=True, exist_ok=True)
    _remove_stale_temps(settings, builds)
    cache = EmbeddingCache(root / "cache" / "embeddings.sqlite") if settings.embedding.cache else None
    mark = time.perf_counter()
    try:
        progress.stage("embedding chunks", len(chunks))
        texts = [embedding_text(c, by_id[c.doc_id], settings) for c in chunks]
        vectors, embedded = embed_with_cache(embedder, texts, cache, progress.advance)
        sentence_rows: list[tuple[str, int, int]] = []
        sentence_vectors = np.zeros((0, embedder.dimension), np.float32)
        if sentences:
            sentence_rows = distinct_sentences(chunks)
            progress.stage("embedding sentences", len(sentence_rows))
            sentence_texts = [by_id[d].text[s:e] for d, s, e in sentence_rows]
            sentence_vectors, more = embed_with_cache(embedder, sentence_texts, cache, progress.advance)
            embedded += more
    finally:
        if cache:
            cache.close()
    stages["embedding"] = time.perf_counter() - mark
    mark = time.perf_counter()
    progress.stage("keyword index and near-duplicates", 1)
    lengths = {d.doc_id: len(d.text) for d in documents}
    for chunk, group in zip(chunks, find_groups(chunks, lengths, settings.retrieval.dedup_containment),
                            strict=True):
        chunk.group = group
    keyword = KeywordIndex.build(texts)  # BM25 sees the same title-prefixed text as the model
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
        "documents": {d.doc_id: {"source": d.source, "sha256": d.content_hash,
                                 "chunks": sum(1 for c in chunks if c.doc_id == d.doc_id)}
                      for d in documents},
        "build_seconds": round(time.perf_counter() - started, 3),
    }
    stages["keyword_and_dedup"] = time.perf_counter() - mark
    mark = time.perf_counter()
    target = _write_build(settings, builds, manifest, documents, chunks, vectors, sentence_rows,
                          sentence_vectors, keyword)
    _switch_current(root, target)
    _prune_builds(settings, builds, keep=target.name)
    stages["writing"] = time.perf_counter() - mark
    return BuildReport(path=target, documents=len(documents), chunks=len(chunks),
                       sentences=len(sentence_rows), embedded=embedded,
                       reused=len(chunks) + len(sentence_rows) - embedded,
                       seconds=time.perf_counter() - started)


def chunk_corpus(settings: Settings, documents: Iterable[Document], embedder: Embedder) -> list[Chunk]:
    """Clean and chunk every document, keeping title-prefixed text inside the model window."""
    cleaner = Cleaner(settings.cleaning.extra_patterns, settings.cleaning.enabled)
    chunks: list[Chunk] = []
    for doc in documents:
        budget = min(settings.chunking.max_tokens, embedder.max_text_tokens)
        if settings.chunking.title_prefix and doc.title:
            budget -= min(embedder.count_tokens([doc.title])[0], TITLE_PREFIX_TOKENS) + 1
        plan = ChunkPlan(max_tokens=max(budget, 16), overlap_tokens=settings.chunking.overlap_tokens)
        chunks.extend(chunk_document(doc, cleaner.sections(doc.text), plan,
                                     embedder.count_tokens, embedder.split_tokens))
    return chunks


def embedding_text(chunk: Chunk, doc: Document, settings: Settings) -> str:
    """What the model sees for a chunk: the chunk, prefixed by its document's title if enabled."""
    if settings.chunking.title_prefix and doc.title and not chunk.text.startswith(doc.title):
        title = " ".join(doc.title.split()[:TITLE_PREFIX_TOKENS // 2])
        return f"{title}: {chunk.text}"
    return chunk.text


def distinct_sentences(chunks: list[Chunk]) -> list[tuple[str, int, int]]:
    """(doc_id, start, end) of every sentence, once, in chunk order."""
    seen: dict[tuple[str, int, int], None] = {}
    for chunk in chunks:
        for s in chunk.sentences:
            seen.setdefault((chunk.doc_id, s.start, s.end), None)
    return list(seen)


def _write_build(settings: Settings, builds: Path, manifest: dict, documents: list[Document], chunks: list[Chunk],
                 vectors: np.ndarray, sentence_rows: list, sentence_vectors: np.ndarray,
                 keyword: KeywordIndex) -> Path:
    build_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ") + "-" + uuid.uuid4().hex[:6]
    temp = builds / f".tmp-{build_id}"
    temp.mkdir()
    with open(temp / "documents.jsonl", "w", encoding="utf-8") as out:
        out.writelines(doc.model_dump_json() + "\n" for doc in documents)
    with open(temp / "chunks.jsonl", "w", encoding="utf-8") as out:
        out.writelines(chunk.model_dump_json(exclude={"text"}) + "\n" for chunk in chunks)
    manifest["vectors"] = build_store(settings.vectors, temp, vectors, [c.doc_id for c in chunks])
    np.save(temp / "sentences.npy", sentence_vectors, allow_pickle=False)
    (temp / "sentences.json").write_text(json.dumps(sentence_rows))
    keyword.save(temp)
    (temp / "manifest.json").write_text(json.dumps(manifest, indent=2))
    _fsync_tree(temp)
    final = builds / build_id
    os.replace(temp, final)
    return final


def _fsync_tree(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())


def _switch_current(root: Path, target: Path) -> None:
    link = root / "current"
    temp_link = root / f".current-{uuid.uuid4().hex[:8]}"
    os.symlink(os.path.relpath(target, root), temp_link)
    os.replace(temp_link, link)
    fd = os.open(root, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove_stale_temps(settings: Settings, builds: Path) -> None:
    for path in builds.glob(".tmp-*"):
        _remove_build(settings, path)


def _prune_builds(settings: Settings, builds: Path, keep: str) -> None:
    """Remove all but the newest KEEP_BUILDS finished builds (ids sort by UTC build time)."""
    finished = sorted(p for p in builds.iterdir() if p.is_dir() and not p.name.startswith("."))
    for path in finished[:-KEEP_BUILDS]:
        if path.name != keep:
            _remove_build(settings, path)


def _remove_build(settings: Settings, path: Path) -> None:
    try:
        drop_store(settings.vectors, path)
    except Exception:  # noqa: BLE001  an unreachable server must not block local cleanup
        pass
    shutil.rmtree(path, ignore_errors=True)


@contextmanager
def build_lock(root: Path) -> Iterator[None]:
    """Hold `root/.build.lock` for one build; a second concurrent build fails instead of
    deleting the first one's temporary folder. The OS drops the lock if the process dies."""
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".build.lock", "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise IndexBusy(f"another 'rag index' is building {root}; wait for it to finish") from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# --------------------------------------------------------------------------- opening


def current_build(settings: Settings) -> Path:
    """The folder `current` points at, or IndexMissing."""
    link = Path(settings.index_dir) / "current"
    if not link.exists():
        raise IndexMissing(f"no index at {settings.index_dir}; build one with 'rag index [PATH ...]'")
    return link.resolve()


def read_manifest(folder: Path) -> dict[str, Any]:
    try:
        return json.loads((folder / "manifest.json").read_text())
    except (OSError, ValueError) as exc:
        raise IndexCorrupt(f"cannot read {folder / 'manifest.json'}: {exc}; rebuild with 'rag index'") from None


def check_manifest(manifest: dict[str, Any], settings: Settings) -> None:
    """Refuse an index built with other model or chunking settings, naming each difference."""
    if manifest.get("format_version") != FORMAT_VERSION:
        raise IndexMismatch(f"index format {manifest.get('format_version')} is not the supported "
                            f"{FORMAT_VERSION}; rebuild with 'rag index'")
    built = {**_ADDED_KEYS, **manifest.get("settings", {})}
    wanted = index_fingerprint(settings)
    differs = [key for key, value in wanted.items() if not _same_setting(key, built.get(key), value)]
    diffs = [f"{key}: index has {built.get(key)!r}, settings say {wanted[key]!r}" for key in differs]
    if diffs:
        env = ", ".join(f"RAG_{k.upper().replace('.', '__')}" for k in differs)
        raise IndexMismatch("index was built with different settings (" + "; ".join(diffs) +
                            f"). Rebuild with 'rag index', or set {env} to the index's values.")


def _same_setting(key: str, built: Any, wanted: Any) -> bool:
    # 'auto' precision accepts either: bf16 and fp32 vectors of one model agree to cosine >= 0.9999
    if key == "embedding.precision" and "auto" in (built, wanted):
        return True
    return built == wanted


class Index:
    """A loaded index: documents, chunks, vectors, keyword index and duplicate groups in memory.

    Everything is read once; question answering never touches the disk. The embedder is loaded
    lazily on the first dense query.
    """

    def __init__(self, settings: Settings, folder: Path) -> None:
        self.settings = settings
        self.folder = folder
        self.manifest = read_manifest(folder)
        check_manifest(self.manifest, settings)
        try:
            self.documents = {d.doc_id: d for d in _read_jsonl(folder / "documents.jsonl", Document)}
            self.chunks = _read_chunks(folder / "chunks.jsonl", self.documents)
            rows = json.loads((folder / "sentences.json").read_text())
            self.sentence_vectors = np.load(folder / "sentences.npy", allow_pickle=False)
        except (OSError, ValueError, KeyError) as exc:
            raise IndexCorrupt(f"index files in {folder} are unreadable ({exc}); rebuild with 'rag index'") from None
        self.sentence_row = {(d, s, e): i for i, (d, s, e) in enumerate(rows)}
        self.store = open_store(settings.vectors, folder)
        self.keyword = KeywordIndex.load(folder)
        if self.store.size != len(self.chunks) or self.keyword.size != len(self.chunks):
            raise IndexCorrupt(f"index in {folder} is inconsistent (vectors {self.store.size}, "
                               f"chunks {len(self.chunks)}); rebuild with 'rag index'")
        self.group_members: dict[int, list[int]] = {}
        for i, chunk in enumerate(self.chunks):
            if chunk.group >= 0:
                self.group_members.setdefault(chunk.group, []).append(i)
        lengths = {d: len(doc.text) for d, doc in self.documents.items()}
        self.canonical = canonical_members(self.chunks, [c.group for c in self.chunks], lengths)
        self._embedder: Embedder | None = None
        self._normalized: dict[str, str] = {}
        self._terms: dict[tuple[str, int, int], frozenset[str]] = {}

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = Embedder(self.settings.embedding)
        return self._embedder

    def normalized_text(self, doc_id: str) -> str:
        """A document's words, normalized as for near-duplicate detection (computed once)."""
        if doc_id not in self._normalized:
            self._normalized[doc_id] = " ".join(normalize(self.documents[doc_id].text))
        return self._normalized[doc_id]

    def sentence_terms(self, doc_id: str, start: int, end: int) -> frozenset[str]:
        """The keyword terms (stemmed, as BM25 sees them) of a document span (computed once)."""
        key = (doc_id, start, end)
        terms = self._terms.get(key)
        if terms is None:
            terms = self._terms[key] = frozenset(tokenize([self.documents[doc_id].text[start:end]])[0])
        return terms

    @property
    def build_id(self) -> str:
        return self.folder.name


def open_index(settings: Settings) -> Index:
    """Open the current index under `settings.index_dir`, checking it matches `settings`."""
    return Index(settings, current_build(settings))


def _read_jsonl(path: Path, model: type) -> list:
    with open(path, encoding="utf-8") as handle:
        return [model.model_validate_json(line) for line in handle if line.strip()]


def _read_chunks(path: Path, documents: dict[str, Document]) -> list[Chunk]:
    chunks = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            data = json.loads(line)
            data["text"] = documents[data["doc_id"]].text[data["start"]:data["end"]]
            chunks.append(Chunk.model_validate(data))
    return chunks
