"""Which documents a question may draw on: doc ids, source path prefix, date range, author, outlet.

A `DocFilter` is resolved against a loaded index into the set of allowed documents (and chunk
rows) *before* retrieval, so the vector store and BM25 rank only allowed chunks and `k` results
come back whenever `k` exist. Every given condition must hold (AND); an empty filter allows all.

Dates compare as ISO `YYYY-MM-DD` strings (the loaders normalize dates to that form); a document
without a date never matches a date range. Author and outlet match case-insensitively as
substrings ("hersh" matches "Seymour Hersh").
"""

from __future__ import annotations

import re

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from rag.errors import InputError
from rag.types import Document

ISO_DATE = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$")


class DocFilter(BaseModel):
    """Conditions on documents; every one given must hold."""

    model_config = ConfigDict(extra="forbid")

    doc_ids: list[str] | None = Field(None, description="only these documents")
    source_prefix: str | None = Field(None, description="only documents whose source path starts so")
    date_from: str | None = Field(None, description="ISO date (YYYY, YYYY-MM or YYYY-MM-DD), inclusive")
    date_to: str | None = Field(None, description="ISO date (YYYY, YYYY-MM or YYYY-MM-DD), inclusive")
    author: str | None = Field(None, description="case-insensitive substring of the author")
    outlet: str | None = Field(None, description="case-insensitive substring of the outlet")

    @field_validator("date_from", "date_to")
    @classmethod
    def _iso(cls, value: str | None) -> str | None:
        if value is not None and not ISO_DATE.match(value.strip()):
            raise ValueError(f"{value!r} is not an ISO date; use YYYY, YYYY-MM or YYYY-MM-DD")
        return value.strip() if value else value

    @property
    def empty(self) -> bool:
        return not any(v not in (None, "") for v in self.model_dump().values())

    def matches(self, doc: Document) -> bool:
        """Whether `doc` satisfies every condition given."""
        if self.doc_ids is not None and doc.doc_id not in self.doc_ids:
            return False
        if self.source_prefix and not doc.source.startswith(self.source_prefix):
            return False
        if (self.date_from or self.date_to) and not _in_range(doc.date, self.date_from, self.date_to):
            return False
        return _contains(doc.author, self.author) and _contains(doc.outlet, self.outlet)


def _in_range(date: str | None, start: str | None, end: str | None) -> bool:
    if not date:
        return False
    day = date[:10]
    # "2023" as an upper bound means the whole year: compare only as many characters as given
    return (start is None or day >= start) and (end is None or day[:len(end)] <= end)


def _contains(value: str | None, wanted: str | None) -> bool:
    if not wanted:
        return True
    return value is not None and wanted.strip().lower() in value.lower()


def allowed_documents(documents: dict[str, Document], where: DocFilter | None) -> set[str] | None:
    """The doc ids `where` allows, or None when it allows everything (no filtering needed)."""
    if where is None or where.empty:
        return None
    return {doc_id for doc_id, doc in documents.items() if where.matches(doc)}


def allowed_rows(chunk_doc_ids: list[str], allowed: set[str]) -> np.ndarray:
    """A boolean mask over chunk rows: True where the chunk's document is allowed."""
    return np.fromiter((d in allowed for d in chunk_doc_ids), dtype=bool, count=len(chunk_doc_ids))


def parse_filter(**conditions: object) -> DocFilter | None:
    """A DocFilter from keyword conditions (None values dropped), or None when none are given;
    a bad value is an InputError naming the field."""
    given = {k: v for k, v in conditions.items() if v not in (None, [], "")}
    if not given:
        return None
    try:
        return DocFilter(**given)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: "
                             f"{e['msg'].removeprefix('Value error, ')}" for e in exc.errors())
        raise InputError(f"invalid filter: {problems}") from None
