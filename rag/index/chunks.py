"""Documents -> chunks for a build: sized for the model window, reused when unchanged, and made
by a producer thread while the encoder works (`ChunkFeed`).

Chunking tokenizes every sentence (the `tokenizers` library, which releases the GIL) and runs the
splitter in Python; the encoder's forward pass releases the GIL too. Chunking in a thread that
hands over windows of whole documents lets the first window be encoded while later documents are
still being chunked, instead of the encoder waiting for the whole corpus.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterable, Iterator

from rag.config import Settings
from rag.embed import Encoder
from rag.index.reuse import NOTHING, PreviousChunks
from rag.ingest.chunking import ChunkPlan, chunk_document
from rag.ingest.cleaning import Cleaner
from rag.types import Chunk, Document

TITLE_PREFIX_TOKENS = 32
WINDOW = 2048  # chunks per hand-over: batches within a window are sorted by length (little padding)
_END = object()


def chunk_corpus(settings: Settings, documents: Iterable[Document], embedder: Encoder) -> list[Chunk]:
    """Clean and chunk every document, keeping title-prefixed text inside the model window."""
    cleaner = Cleaner(settings.cleaning.extra_patterns, settings.cleaning.enabled)
    return [chunk for doc in documents for chunk in chunk_one(settings, doc, cleaner, embedder)]


def chunk_one(settings: Settings, doc: Document, cleaner: Cleaner, embedder: Encoder) -> list[Chunk]:
    """One document's chunks, sized so the title prefix and the chunk fit the window together."""
    budget = min(settings.chunking.max_tokens, embedder.max_text_tokens)
    if settings.chunking.title_prefix and doc.title:
        budget -= min(embedder.count_tokens([doc.title])[0], TITLE_PREFIX_TOKENS) + 1
    plan = ChunkPlan(max_tokens=max(budget, 16), overlap_tokens=settings.chunking.overlap_tokens)
    return chunk_document(doc, cleaner.sections(doc.text), plan, embedder.count_tokens, embedder.split_tokens)


def embedding_text(chunk: Chunk, doc: Document, settings: Settings) -> str:
    """What the model sees for a chunk: the chunk, prefixed by its document's title if enabled."""
    if settings.chunking.title_prefix and doc.title and not chunk.text.startswith(doc.title):
        title = " ".join(doc.title.split()[:TITLE_PREFIX_TOKENS // 2])
        return f"{title}: {chunk.text}"
    return chunk.text


def failure_reason(stage: str, exc: BaseException) -> str:
    """The reason a document that raised while `stage` is skipped: the exception, one line."""
    detail = str(exc).splitlines()[0][:200] if str(exc) else ""
    return (f"could not be {stage} ({type(exc).__name__}{': ' + detail if detail else ''}); "
            "the rest of the corpus is indexed")


class ChunkFeed:
    """Chunks of `documents` in document order, made by a background thread.

    Iterating yields (documents, chunks) windows of whole documents, about `window` chunks each.
    Chunks of a document unchanged since the previous build are reused (`rag.index.reuse`).
    `rechunked` counts documents chunked anew, `reused` names the others (complete once iterated);
    `failed` maps each document that yields no chunks (nothing left after cleaning, or cleaning or
    chunking raised) to the reason: one odd document is skipped, never the build; `waited` is the seconds the consumer waited.
    """

    def __init__(self, settings: Settings, documents: list[Document], embedder: Encoder,
                 previous: PreviousChunks = NOTHING, window: int = WINDOW) -> None:
        self.previous = previous
        self.rechunked = 0
        self.reused: set[str] = set()
        self.failed: dict[str, str] = {}
        self.waited = 0.0
        self._args = (settings, documents, embedder, previous, window)
        self._queue: queue.Queue = queue.Queue(maxsize=4)
        self._stop = threading.Event()
        self._pending: tuple[int, list[Chunk]] | None = None
        self._thread = threading.Thread(target=self._produce, name="rag-chunking", daemon=True)
        self._thread.start()

    def has_chunks(self) -> bool:
        """Whether any document yields a chunk (waits for the first non-empty window)."""
        while self._pending is None:
            item = self._take()
            if item is _END:
                self._queue.put(_END)
                return False
            if item[1]:
                self._pending = item
        return True

    def __iter__(self) -> Iterator[tuple[int, list[Chunk]]]:
        while True:
            if self._pending is not None:
                item, self._pending = self._pending, None
            else:
                item = self._take()
            if item is _END:
                return
            yield item

    def close(self) -> None:
        """Stop the producer (after an error in the consumer) and wait for it."""
        self._stop.set()
        while self._thread.is_alive():
            try:
                self._queue.get(timeout=0.05)
            except queue.Empty:
                pass
        self._thread.join()

    def _take(self) -> object:
        started = time.perf_counter()
        item = self._queue.get()
        self.waited += time.perf_counter() - started
        if isinstance(item, BaseException):
            raise item
        return item

    def _produce(self) -> None:
        settings, documents, embedder, previous, window = self._args
        try:
            cleaner = Cleaner(settings.cleaning.extra_patterns, settings.cleaning.enabled)
            count, chunks = 0, []
            for doc in documents:
                if self._stop.is_set():
                    return
                chunks.extend(self._chunks_of(doc, settings, cleaner, embedder, previous))
                count += 1
                if len(chunks) >= window:
                    self._queue.put((count, chunks))
                    count, chunks = 0, []
            if count:
                self._queue.put((count, chunks))
            self._queue.put(_END)
        except BaseException as exc:  # noqa: BLE001  handed to the consumer, which raises it
            self._queue.put(exc)

    def _chunks_of(self, doc: Document, settings: Settings, cleaner: Cleaner, embedder: Encoder,
                   previous: PreviousChunks) -> list[Chunk]:
        try:
            reused = previous.reuse(doc)
        except ValueError:  # a damaged record: chunk the document again
            reused = None
        if reused is None:
            self.rechunked += 1
            try:
                chunks = chunk_one(settings, doc, cleaner, embedder)
            except Exception as exc:  # noqa: BLE001  this document is skipped with its reason
                self.failed[doc.doc_id] = failure_reason("cleaned and chunked", exc)
                return []
        else:
            self.reused.add(doc.doc_id)
            chunks = reused
        if not chunks:  # nothing a question could find: not a document of the index
            self.failed[doc.doc_id] = ("no indexable text after cleaning (every line is boilerplate "
                                       "or symbols)")
        return chunks
