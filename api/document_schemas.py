"""Bodies of the live-document routes: `POST /documents` (upload) and `DELETE /documents/{doc_id}`."""

from __future__ import annotations

from pydantic import BaseModel, Field

from api.schemas import ErrorBody, error_body_example


class Refused(BaseModel):
    """A file that was not added, and why (the same reasons `rag index` gives)."""

    filename: str
    reason: str


class Added(BaseModel):
    doc_id: str
    source: str
    title: str
    chars: int


class BuildOut(BaseModel):
    """The index that answers from now on, and what building it cost."""

    build_id: str
    documents: int
    chunks: int
    embedded: int = Field(description="texts embedded by this build (the rest came from the cache)")
    reused: int
    seconds: float


class UploadOut(BaseModel):
    added: list[Added]
    refused: list[Refused] = Field(description="always empty: an upload is all or nothing, so a request "
                                   "with a refused file is answered 422 (409) with every reason instead; "
                                   "kept so clients written for partial uploads still read the answer")
    build: BuildOut


class DeleteOut(BaseModel):
    deleted: str
    build: BuildOut


UPLOAD_EXAMPLE = {
    "added": [{"doc_id": "grain-deal", "source": "grain-deal.txt", "title": "The grain deal",
               "chars": 2212}],
    "refused": [],
    "build": {"build_id": "20250101T120000000000Z-9a9bfd", "documents": 6, "chunks": 35, "embedded": 14,
              "reused": 188, "seconds": 1.9},
}
DELETE_EXAMPLE = {"deleted": "grain-deal", "build": UPLOAD_EXAMPLE["build"]}


def refusal_responses(*codes: tuple[int, str, str]) -> dict[int | str, dict]:
    """OpenAPI entries for the statuses only these routes answer (403, 409)."""
    return {status: {"model": ErrorBody, "description": code,
                     "content": {"application/json": {"example": error_body_example(code, message)}}}
            for status, code, message in codes}


UPLOADS_OFF = (403, "uploads_disabled", "uploads are off on this server: start it with RAG_CORPUS__UPLOAD_DIR set")
NOT_UPLOADED = (409, "not_uploaded", "'x' was not uploaded: it comes from a corpus folder (corpus.paths)")
NAME_TAKEN = (409, "upload_exists", ("a.txt: a file named 'a.txt' is already in the upload folder and is "
                                     "never replaced; delete that document first, or rename the file"))
BUSY = (409, "index_busy", "another 'rag index' is building index; wait for it to finish")
