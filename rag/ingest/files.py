"""Which files a build reads, and reading them safely: regular files only, inside the corpus, capped.

A corpus folder is untrusted input (a cloned repository, an unzipped archive). Listing never
follows a folder link (no loops), skips a file link whose target lies outside the corpus root
unless `corpus.follow_symlinks` is set, never descends into the index folder itself, and reports
FIFOs, devices and sockets instead of opening them. Reading opens without blocking, checks the
open file is a regular file, and stops after `max_bytes + 1` bytes actually read, so neither a
FIFO nor `/dev/zero` nor a file that grows while read can hang a build or exhaust memory.
"""

from __future__ import annotations

import errno
import os
import re
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from rag.config import Settings
from rag.errors import ConfigError

READ_BLOCK = 1 << 20
LONE_SURROGATE = re.compile("[\ud800-\udfff]")
REPLACEMENT = "\ufffd"


def replace_surrogates(text: str) -> str:
    """`text` with every surrogate code point replaced by U+FFFD, one for one (offsets keep).

    A Python string can hold lone surrogates (a PDF font map decoding to <D800>, a file name or a
    command-line argument holding bytes that are not UTF-8, a JSON `"\\ud800"`), and then the
    tokenizer, the JSON encoder and the console all raise. No real text needs them.
    """
    return LONE_SURROGATE.sub(REPLACEMENT, text)


@dataclass(frozen=True)
class Skipped:
    """A file that was not indexed, why (for the user), and a short kind (for grouped summaries)."""

    path: str
    reason: str
    kind: str = "unreadable"


class SkipFile(Exception):
    """Raised while reading or parsing one file: that file is skipped with this reason and kind."""

    def __init__(self, reason: str, kind: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.kind = kind


def check_corpus_folders(settings: Settings) -> None:
    """ConfigError, one line, when `corpus.upload_dir` is, contains or lies inside a folder of
    `corpus.paths`: the API deletes and writes files in the upload folder, and those are the
    user's own files, which it must never touch."""
    upload = settings.corpus.upload_dir
    if upload is None:
        return
    target = Path(upload).resolve()
    for path in settings.corpus.paths:
        folder = Path(path).resolve()
        relation = ("is" if target == folder else "lies inside" if target.is_relative_to(folder)
                    else "contains" if folder.is_relative_to(target) else None)
        if relation:
            raise ConfigError(f"RAG_CORPUS__UPLOAD_DIR ({upload}) {relation} the corpus folder {path} "
                              "(RAG_CORPUS__PATHS), whose files uploads and deletes would then overwrite and "
                              "remove; give uploads a folder of their own, outside every corpus folder")


def iter_files(roots: list[Path], extensions: list[str], follow_symlinks: bool = False,
               exclude: Iterable[Path] = ()) -> Iterator[tuple[Path, Path] | Skipped]:
    """Yield (root, file) pairs under `roots` in a stable order, or Skipped for unusable entries.

    Folder links are never followed. A file named on the command line is read even when it is a
    link (the user chose it); links found inside a folder must stay inside that folder. `exclude`
    (the index folder) is never entered.
    """
    wanted = {e.lower() for e in extensions}
    excluded = {_real(p) for p in exclude}
    for root in roots:
        if not os.path.lexists(root):
            yield Skipped(str(root), "path does not exist; check the spelling or create it", "missing")
            continue
        if not root.is_dir():
            yield from _classify(root.parent, root, wanted, None)
            continue
        boundary = None if follow_symlinks else _real(root)
        for folder, dirs, files in os.walk(root, followlinks=False):
            kept = []
            for name in sorted(dirs):
                if _real(Path(folder) / name) in excluded:
                    yield Skipped(str(Path(folder) / name), "the index folder itself is never indexed",
                                  "index folder")
                else:
                    kept.append(name)
            dirs[:] = kept
            for name in sorted(files):
                yield from _classify(root, Path(folder) / name, wanted, boundary)


def _real(path: Path) -> str:
    return os.path.realpath(path)


def _classify(root: Path, path: Path, wanted: set[str],
              boundary: str | None) -> Iterator[tuple[Path, Path] | Skipped]:
    if path.suffix.lower() not in wanted:
        yield Skipped(str(path), f"unsupported file type '{path.suffix or '(none)'}'; "
                      f"supported: {', '.join(sorted(wanted))}", "unsupported type")
        return
    if boundary is not None and path.is_symlink():
        target = _real(path)
        if target != boundary and not target.startswith(boundary.rstrip(os.sep) + os.sep):
            yield Skipped(str(path), "symbolic link to a file outside the corpus folder; not followed "
                          "(set RAG_CORPUS__FOLLOW_SYMLINKS=true to follow links)", "link outside corpus")
            return
    try:
        mode = os.stat(path).st_mode
    except OSError:
        yield root, path  # reading reports the precise error (gone, loop, permission)
        return
    if not stat.S_ISREG(mode):
        yield Skipped(str(path), f"not a regular file ({_file_kind(mode)}); only regular files are read",
                      "not a regular file")
        return
    yield root, path


def _file_kind(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "a named pipe"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISDIR, "a folder")):
        if test(mode):
            return name
    return "a special file"


def read_capped(path: Path, max_bytes: int) -> bytes:
    """The bytes of a regular file, at most `max_bytes` of them, or SkipFile saying why not.

    Opened with O_NONBLOCK so a FIFO cannot block; the open descriptor must be a regular file;
    reading stops one byte past the limit whatever the file's stated size.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise _os_skip(exc) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise SkipFile(f"not a regular file ({_file_kind(info.st_mode)}); only regular files are read",
                           "not a regular file")
        if info.st_size > max_bytes:
            raise _too_big(info.st_size, max_bytes)
        return _read_at_most(fd, max_bytes)
    except OSError as exc:
        raise _os_skip(exc) from None
    finally:
        os.close(fd)


def _read_at_most(fd: int, max_bytes: int) -> bytes:
    parts: list[bytes] = []
    size = 0
    while True:
        block = os.read(fd, min(READ_BLOCK, max_bytes + 1 - size))
        if not block:
            return b"".join(parts)
        parts.append(block)
        size += len(block)
        if size > max_bytes:
            raise _too_big(size, max_bytes, at_least=True)


def _too_big(size: int, max_bytes: int, at_least: bool = False) -> SkipFile:
    stated = f"{'over ' if at_least else ''}{size / 2**20:.0f} MB"
    return SkipFile(f"file is {stated}, over the {max_bytes / 2**20:.0f} MB limit (corpus.max_file_mb)",
                    "too large")


def _os_skip(exc: OSError) -> SkipFile:
    if exc.errno == errno.ENOENT:
        return SkipFile("file disappeared while indexing", "disappeared")
    if exc.errno in (errno.EACCES, errno.EPERM):
        return SkipFile("permission denied; make the file readable", "permission denied")
    return SkipFile(f"cannot read file: {exc.strerror or exc}", "unreadable")
