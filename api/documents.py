"""Live documents over HTTP: `POST /documents` (upload one or more files), `DELETE /documents/{doc_id}`.

Both answer once the new index is live: the change is written, the corpus rebuilt (only changed
text is embedded, thanks to the embedding cache) and the new index swapped in (`api.live`).
Uploads pass the checks `rag index` applies (type, size, loadable text) and every refused file
comes back with its reason; files are written only into `corpus.upload_dir`, under a sanitized
name. Only uploaded documents can be deleted: the other corpus folders are the user's own files.
"""

from __future__ import annotations

import asyncio
import os
from typing import Annotated, NoReturn

from fastapi import APIRouter, Depends, File, Path, Request, UploadFile

from api import document_schemas as d
from api.deps import Authorized, IndexDep, SettingsDep
from api.errors import ApiError
from api.live import LiveIndex
from api.routes import find_document
from api.schemas import error_responses
from rag import (
    BuildReport,
    Document,
    Settings,
    Skipped,
    Upload,
    UploadExists,
    check_upload,
    name_taken,
    not_indexed,
    remove_uploads,
    store_upload,
    uploaded_file,
)

live_docs = APIRouter(dependencies=[Authorized], tags=["documents"])
TAKEN = name_taken("")[:len("a file named")]  # how a refusal for a taken name begins


async def get_live(request: Request) -> LiveIndex:
    return request.app.state.live


LiveDep = Annotated[LiveIndex, Depends(get_live)]
Files = Annotated[list[UploadFile], File(description="one or more .txt, .md, .html, .pdf or .jsonl files")]


@live_docs.post("/documents", response_model=d.UploadOut, summary="Add documents (multipart upload)",
                responses={200: {"content": {"application/json": {"example": d.UPLOAD_EXAMPLE}}},
                           **error_responses(401, 413, 422, 500, 503),
                           **d.refusal_responses(d.UPLOADS_OFF, d.NAME_TAKEN)})
async def upload_route(files: Files, request: Request, settings: SettingsDep, live: LiveDep) -> d.UploadOut:
    """Adds the files and answers once the index with them is live. All or nothing: when any file
    is refused (by the checks, or because the build could not index it), no file of the request
    stays written or indexed and the answer is 422 with every reason, or 409 when every refusal is
    a name already taken (a file is never replaced)."""
    if settings.corpus.upload_dir is None:
        raise ApiError(403, "uploads_disabled", "uploads are off on this server: start it with "
                       "RAG_CORPUS__UPLOAD_DIR set to the folder uploads may be written to")
    received = [(f.filename or "", await f.read()) for f in files]
    current = request.app.state.index
    checked = await asyncio.to_thread(check_all, settings, received, current.documents if current else {})
    accepted = [(item, data) for item, data in checked if isinstance(item, Upload)]
    refused = [d.Refused(filename=item.path, reason=item.reason) for item, _ in checked
               if isinstance(item, Skipped)]
    if refused:
        refuse_all(refused, clash=all(r.reason.startswith(TAKEN) for r in refused))
    report, left_out = await store_and_rebuild(settings, live, accepted)
    if left_out:
        refuse_all([d.Refused(filename=name, reason=why) for name, why in left_out.items()])
    return d.UploadOut(added=[added(u.document) for u, _ in accepted], refused=[], build=build_out(report))


async def store_and_rebuild(settings: Settings, live: LiveIndex,
                            accepted: list[tuple[Upload, bytes]]) -> tuple[BuildReport, dict[str, str]]:
    """Store the accepted files (never over an existing one) and rebuild: (the build, file name ->
    why the build left it out). Nothing this request stored stays behind when storing or the build
    fails, or when the build left any file out: then every file of the request is taken out again
    and the index rebuilt without them (all or nothing; the embedding cache makes that rebuild cheap)."""
    stored: list[Upload] = []
    try:
        for upload, data in accepted:
            store_upload(upload, data)
            stored.append(upload)
        report = await live.rebuild(settings)
    except UploadExists as exc:
        remove_uploads(stored)
        raise ApiError(409, "upload_exists", exc.message) from None
    except BaseException:
        remove_uploads(stored)
        raise
    left_out = not_indexed(report, stored)
    if left_out:
        remove_uploads(stored)
        report = await live.rebuild(settings)  # the index again without any file of this request
    return report, left_out


def refuse_all(refused: list[d.Refused], clash: bool = False) -> NoReturn:
    """A file of the request was refused, so none was added: 422 with every reason (409 when
    every refusal is a name already taken)."""
    raise ApiError(409 if clash else 422, "upload_exists" if clash else "upload_refused",
                   "nothing of this upload was added (a request is all or nothing): "
                   + "; ".join(f"{r.filename}: {r.reason}" for r in refused))


@live_docs.delete("/documents/{doc_id:path}", response_model=d.DeleteOut, summary="Remove an uploaded document",
                  responses={200: {"content": {"application/json": {"example": d.DELETE_EXAMPLE}}},
                             **error_responses(401, 404, 422, 500, 503), **d.refusal_responses(d.NOT_UPLOADED)})
async def delete_route(doc_id: Annotated[str, Path(description="a doc_id from /documents")],
                       index: IndexDep, settings: SettingsDep, live: LiveDep) -> d.DeleteOut:
    """Deletes an uploaded document's file and answers once the index without it is live."""
    path = uploaded_file(settings, find_document(index, doc_id))
    if path is None:
        raise ApiError(409, "not_uploaded", f"{doc_id!r} was not uploaded: it comes from a corpus "
                       "folder (corpus.paths); remove the file there and re-index (or run with --watch)")
    if len(index.documents) == 1:
        raise ApiError(409, "last_document", "this is the only document; an index cannot be empty")
    path.unlink(missing_ok=True)
    return d.DeleteOut(deleted=doc_id, build=build_out(await live.rebuild(settings)))


def check_all(settings: Settings, received: list[tuple[str, bytes]],
              existing: dict[str, Document]) -> list[tuple[Upload | Skipped, bytes]]:
    """Each file checked; also refused: a second file of one name, a name the upload folder already
    holds (an upload never replaces a file), and a doc_id another corpus folder already holds."""
    out: list[tuple[Upload | Skipped, bytes]] = []
    names: set[str] = set()
    for filename, data in received:
        item = check_upload(settings, filename, data)
        if isinstance(item, Upload):
            doc = existing.get(item.document.doc_id)
            if item.name in names:
                item = Skipped(filename, f"another file in this upload is also named {item.name!r}")
            elif os.path.lexists(item.path):
                item = Skipped(filename, name_taken(item.name))
            elif doc is not None:
                item = Skipped(filename, f"a document {doc.doc_id!r} already exists ({doc.source}); "
                               "rename the file")
            else:
                names.add(item.name)
        out.append((item, data))
    return out


def added(doc: Document) -> d.Added:
    return d.Added(doc_id=doc.doc_id, source=doc.source, title=doc.display_title, chars=len(doc.text))


def build_out(report: BuildReport) -> d.BuildOut:
    return d.BuildOut(build_id=report.path.name, documents=report.documents, chunks=report.chunks,
                      embedded=report.embedded, reused=report.reused, seconds=round(report.seconds, 3))
