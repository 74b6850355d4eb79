"""Live documents: checking and storing uploads, rebuilding from the corpus folders, watching them.

The corpus of a live index is `corpus.paths` plus `corpus.upload_dir`. Every change, whatever
made it (an upload, a delete, a file saved in a watched folder), is followed by a full
`build_index` over those folders: the embedding cache makes that cheap, since only text that
changed is embedded, and the build is switched in atomically as always.

Uploads get the checks `rag index` applies to files (type, size, loadable text, a reason for
every refusal) before anything is written, and are written only inside `corpus.upload_dir`
under a sanitized name.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import threading
import time
import unicodedata
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rag.config import Settings
from rag.embed import Encoder
from rag.errors import ConfigError, IndexBusy, InputError, RagError
from rag.index.build import BuildReport, build_index
from rag.ingest.files import check_corpus_folders
from rag.ingest.loaders import Skipped, doc_id_for, load_file
from rag.types import Document

MAX_NAME_BYTES = 120  # UTF-8 bytes: file systems cap names at 255 bytes, and ".<name>.<hex>.part" must fit
BUSY_WAIT_S = 120.0  # a rebuild waits this long for another build (e.g. `rag watch`) to finish


def corpus_roots(settings: Settings) -> list[Path]:
    """The folders a live index is built from: `corpus.paths`, then `corpus.upload_dir`."""
    check_corpus_folders(settings)
    roots = list(settings.corpus.paths)
    upload = settings.corpus.upload_dir
    if upload is not None:
        Path(upload).mkdir(parents=True, exist_ok=True)
        if all(Path(r).resolve() != Path(upload).resolve() for r in roots):
            roots.append(Path(upload))
    return roots


def upload_root(settings: Settings) -> Path:
    """The upload folder, resolved; ConfigError when uploads are not configured."""
    if settings.corpus.upload_dir is None:
        raise ConfigError("uploads are off: set RAG_CORPUS__UPLOAD_DIR to the folder uploads go to")
    check_corpus_folders(settings)
    root = Path(settings.corpus.upload_dir).resolve()
    root.mkdir(parents=True, exist_ok=True)
    return root


def safe_name(filename: str) -> str | None:
    """A file name that stays inside the upload folder: the last path part, letters, digits,
    '.', '-', '_' and spaces only, no leading dot, at most MAX_NAME_BYTES bytes of UTF-8 (the
    extension kept); None when nothing usable is left."""
    name = unicodedata.normalize("NFC", re.split(r"[\\/]", filename or "")[-1])
    name = re.sub(r"[^\w.\- ]", "_", name).strip(" .")
    if len(name.encode()) > MAX_NAME_BYTES:  # cut by bytes: 100 x '中' is 300 bytes, past the cap
        stem, suffix = os.path.splitext(name)
        if len(suffix.encode()) > MAX_NAME_BYTES // 4:
            stem, suffix = name, ""  # no real extension: cut the whole name
        name = cut_utf8(stem, MAX_NAME_BYTES - len(suffix.encode())).rstrip(" .") + suffix
    return name or None


def cut_utf8(text: str, limit: int) -> str:
    """The longest prefix of `text` whose UTF-8 form is at most `limit` bytes (never half a character)."""
    return text.encode()[:limit].decode("utf-8", "ignore")


@dataclass(frozen=True)
class Upload:
    """A checked upload: its safe name, where it goes, and the document it loads as."""

    name: str
    path: Path
    document: Document


def check_upload(settings: Settings, filename: str, data: bytes) -> Upload | Skipped:
    """The checks `rag index` applies to a file, on an upload that is not yet written anywhere
    in the corpus: a usable name, a supported type, the size cap, text that loads."""
    name = safe_name(filename)
    if name is None:
        return Skipped(filename, "no usable file name; name the file like 'article.txt'")
    suffix = Path(name).suffix.lower()
    if suffix not in {e.lower() for e in settings.corpus.extensions}:
        return Skipped(filename, f"unsupported file type '{suffix or '(none)'}'; supported: "
                       f"{', '.join(sorted(settings.corpus.extensions))}")
    max_bytes = int(settings.corpus.max_file_mb * 2**20)
    root = upload_root(settings)
    with tempfile.TemporaryDirectory(prefix="rag-upload-") as scratch:  # parsed here, never in the corpus
        staged = Path(scratch) / name
        staged.write_bytes(data)
        loaded = load_file(Path(scratch), staged, max_bytes=max_bytes)
    if isinstance(loaded, Skipped):
        return Skipped(filename, loaded.reason)
    return Upload(name, root / name, loaded)


class UploadExists(InputError):
    """An upload's name is taken in the upload folder: the file there is never replaced."""

    code = "upload_exists"


def store_upload(upload: Upload, data: bytes) -> None:
    """Write an accepted upload into the upload folder atomically (a reader never sees half),
    never over an existing file: the name is claimed by a hard link, which fails if taken, so
    two requests racing for one name cannot both win. UploadExists when the name is taken."""
    temp = upload.path.with_name(f".{upload.name}.{uuid.uuid4().hex[:8]}.part")
    temp.write_bytes(data)
    try:
        os.link(temp, upload.path)
    except FileExistsError:
        raise UploadExists(name_taken(upload.name)) from None
    finally:
        temp.unlink(missing_ok=True)


def name_taken(name: str) -> str:
    """Why an upload of `name` is refused when the upload folder already holds that name."""
    return (f"a file named {name!r} is already in the upload folder and is never replaced; "
            "delete that document first, or rename the file")


def remove_uploads(uploads: list[Upload]) -> None:
    """Remove files this request stored (its build failed, or skipped them)."""
    for upload in uploads:
        upload.path.unlink(missing_ok=True)


def not_indexed(report: BuildReport, uploads: list[Upload]) -> dict[str, str]:
    """Name -> reason for each stored upload the build left out (it loaded, but cleaning,
    chunking or embedding skipped it): such a file must not stay in the upload folder."""
    indexed = set(report.indexed)
    missing: dict[str, str] = {}
    for upload in uploads:
        if upload.document.doc_id in indexed:
            continue
        reasons = [s.reason for s in report.skipped if s.path in (str(upload.path), upload.document.source)
                   or Path(s.path).resolve() == upload.path]
        missing[upload.name] = reasons[0] if reasons else "the build left it out"
    return missing


def uploaded_file(settings: Settings, document: Document) -> Path | None:
    """The file in the upload folder a document was loaded from, or None when it comes from
    another corpus folder (those are the user's files: the API does not delete them)."""
    if settings.corpus.upload_dir is None:
        return None
    root = upload_root(settings)
    path = (root / document.source).resolve()
    if not path.is_relative_to(root) or not path.is_file() or doc_id_for(root, path) != document.doc_id:
        return None
    if hashlib.sha256(path.read_bytes()).hexdigest() != document.content_hash:
        return None  # not the file this document was loaded from (same name in another folder)
    return path


def rebuild_corpus(settings: Settings, encoder: Encoder | None = None) -> BuildReport:
    """Build the live corpus (waiting for a concurrent build to finish rather than failing)."""
    deadline = time.monotonic() + BUSY_WAIT_S
    while True:
        try:
            return build_index(settings, corpus_roots(settings), encoder=encoder)
        except IndexBusy:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def watch_corpus(settings: Settings, on_build: Callable[[BuildReport, set[str]], None],
                 on_error: Callable[[RagError], None], stop: threading.Event | None = None,
                 encoder: Encoder | None = None) -> None:
    """Rebuild whenever files of a supported type change under the corpus folders, debounced
    (`corpus.watch_debounce_ms`); returns when `stop` is set. One build runs first, so changes
    made while nothing watched are picked up."""
    import watchfiles

    from rag.embed import load_encoder

    roots = [r for r in corpus_roots(settings) if Path(r).exists()]
    if not roots:
        raise InputError("nothing to watch: none of the corpus folders exists")
    encoder = encoder or load_encoder(settings.embedding)
    wanted = tuple(e.lower() for e in settings.corpus.extensions)

    def relevant(change: watchfiles.Change, path: str) -> bool:
        name = os.path.basename(path)
        return not name.startswith(".") and name.lower().endswith(wanted)

    _build_once(settings, encoder, set(), on_build, on_error)
    for changes in watchfiles.watch(*roots, watch_filter=relevant, stop_event=stop,
                                    debounce=settings.corpus.watch_debounce_ms, step=50,
                                    raise_interrupt=False):
        _build_once(settings, encoder, {path for _, path in changes}, on_build, on_error)


def _build_once(settings: Settings, encoder: Encoder, changed: set[str],
                on_build: Callable[[BuildReport, set[str]], None],
                on_error: Callable[[RagError], None]) -> None:
    try:
        on_build(rebuild_corpus(settings, encoder), changed)
    except RagError as exc:  # a bad moment (the last file deleted) must not stop the watcher
        on_error(exc)
