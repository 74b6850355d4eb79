"""The index folder on disk: atomic build folders, the `current` switch, the build lock, pruning.

Layout of `index_dir` (every file plain and inspectable):

    current -> builds/<id>      symlink switched atomically when a build is complete
    builds/<id>/manifest.json   how it was built: model, dimension, chunking, per-document hashes
    builds/<id>/documents.jsonl full text and metadata of every document (citations are checked here)
    builds/<id>/chunks.jsonl    chunk records: offsets, sentences, near-duplicate group
    builds/<id>/vectorstore.json which vector backend holds the chunk vectors, and how
    builds/<id>/vectors.faiss   chunk vectors (FAISS backend; see rag/stores/faiss_store.py)
    builds/<id>/sentences.npy   one vector per distinct sentence, rows in chunk order
    builds/<id>/sentences.json  (doc_id, start, end) of each row of sentences.npy
    builds/<id>/keyword/        BM25 index (bm25s: JSON + .npy)
    builds/<id>/features/       per-chunk BM25 term counts and 3-gram codes, reused by the next build
    cache/embeddings.sqlite     embeddings by (model, text hash), reused across builds
    .in-use/<build>@<pid>@<n>   a build opened by a live process: pruning leaves it alone

A build writes into `builds/.tmp-*` and only then points `current` at it, so a build killed at
any moment leaves the previous index untouched and loadable.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from rag.config import Settings
from rag.errors import IndexBusy, IndexMissing, StorageError
from rag.index.features import ChunkFeatures
from rag.stores import KeywordIndex, build_store, drop_store
from rag.types import Chunk, Document

KEEP_BUILDS = 2
IN_USE = ".in-use"  # index_dir/.in-use/<build id>@<pid>@<random>: builds open in live processes


def write_build(settings: Settings, builds: Path, manifest: dict, documents: list[Document], chunks: list[Chunk],
                 vectors: np.ndarray, sentence_rows: list, sentence_vectors: np.ndarray,
                 keyword: KeywordIndex, features: ChunkFeatures) -> Path:
    """Write a complete build into a temporary folder and rename it into place.

    A failed write (disk full, no permission) removes the partial folder and is a StorageError;
    `current` still points at the previous build.
    """
    build_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ") + "-" + uuid.uuid4().hex[:6]
    temp = builds / f".tmp-{build_id}"
    try:
        temp.mkdir()
        _write_files(settings, temp, manifest, documents, chunks, vectors, sentence_rows,
                     sentence_vectors, keyword)
        features.save(temp)
        _fsync_tree(temp)
        final = builds / build_id
        os.replace(temp, final)
    except (OSError, RuntimeError) as exc:  # FAISS reports a failed write as RuntimeError
        _remove_build(settings, temp)
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc).splitlines()[0]
        raise StorageError(f"cannot write the index into {builds}: {reason}; free disk "
                           "space or choose another --index-dir (the previous index is unchanged)") from None
    return final


def _write_files(settings: Settings, temp: Path, manifest: dict, documents: list[Document],
                 chunks: list[Chunk], vectors: np.ndarray, sentence_rows: list,
                 sentence_vectors: np.ndarray, keyword: KeywordIndex) -> None:
    with open(temp / "documents.jsonl", "w", encoding="utf-8") as out:
        out.writelines(doc.model_dump_json() + "\n" for doc in documents)
    with open(temp / "chunks.jsonl", "w", encoding="utf-8") as out:
        out.writelines(chunk.model_dump_json(exclude={"text"}) + "\n" for chunk in chunks)
    manifest["vectors"] = build_store(settings.vectors, temp, vectors, [c.doc_id for c in chunks])
    np.save(temp / "sentences.npy", sentence_vectors, allow_pickle=False)
    (temp / "sentences.json").write_text(json.dumps(sentence_rows))
    keyword.save(temp)
    (temp / "manifest.json").write_text(json.dumps(manifest, indent=2))


def _fsync_tree(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())


def switch_current(root: Path, target: Path) -> None:
    link = root / "current"
    temp_link = root / f".current-{uuid.uuid4().hex[:8]}"
    os.symlink(os.path.relpath(target, root), temp_link)
    os.replace(temp_link, link)
    fd = os.open(root, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_stale_temps(settings: Settings, builds: Path) -> None:
    for path in builds.glob(".tmp-*"):
        _remove_build(settings, path)


def prune_builds(settings: Settings, builds: Path, keep: str) -> None:
    """Remove all but the newest KEEP_BUILDS finished builds (ids sort by UTC build time), except
    a build some live process still has open (a server that has not swapped yet): dropping it
    would pull its Milvus collection or files from under it. A later build prunes it."""
    finished = sorted(p for p in builds.iterdir() if p.is_dir() and not p.name.startswith("."))
    in_use = builds_in_use(builds.parent)
    for path in finished[:-KEEP_BUILDS]:
        if path.name != keep and path.name not in in_use:
            _remove_build(settings, path)


def hold_build(folder: Path) -> Path | None:
    """Record that this process uses build `folder` (a lease file under `index_dir/.in-use/`)
    until `release_build`; best effort, since a read-only index is never pruned anyway."""
    leases = folder.parent.parent / IN_USE
    try:
        leases.mkdir(exist_ok=True)
        lease = leases / f"{folder.name}@{os.getpid()}@{uuid.uuid4().hex[:8]}"
        lease.write_text(str(folder.resolve()))  # a copied index folder carries no valid lease
    except OSError:
        return None
    return lease


def release_build(lease: Path | None) -> None:
    if lease is not None:
        lease.unlink(missing_ok=True)


def builds_in_use(root: Path) -> set[str]:
    """Build ids held by live processes; leases of dead processes (or copied from another index
    folder) are removed on the way."""
    held: set[str] = set()
    builds = root.resolve() / "builds"
    for lease in (root / IN_USE).glob("*@*@*"):
        build, pid, _ = lease.name.split("@", 2)
        try:
            ours = lease.read_text() == str(builds / build)
        except OSError:
            continue
        if ours and _alive(int(pid) if pid.isdigit() else -1):
            held.add(build)
        else:
            lease.unlink(missing_ok=True)
    return held


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def _remove_build(settings: Settings, path: Path) -> None:
    with suppress(Exception):  # an unreachable server must not block local cleanup
        drop_store(settings.vectors, path)
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


def current_build(settings: Settings) -> Path:
    """The folder `current` points at, or IndexMissing."""
    link = Path(settings.index_dir) / "current"
    if not link.exists():
        raise IndexMissing(f"no index at {settings.index_dir}; build one with 'rag index [PATH ...]'")
    return link.resolve()
