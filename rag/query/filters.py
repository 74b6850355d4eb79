"""Which documents a question may draw on: doc ids, source path prefix, date range, author, outlet.

`recent` and `until` derive the filters of a question asked on a given day (`rag.query.answering.ask`
with `as_of`): the days just before it first, then everything not yet published later.

A `DocFilter` is resolved against a loaded index into the set of allowed documents (and chunk
rows) *before* retrieval, so the vector store and BM25 rank only allowed chunks and `k` results
come back whenever `k` exist. Every given condition must hold (AND); an empty filter allows all.

Dates compare as ISO `YYYY-MM-DD` strings (the loaders normalize dates to that form); a document
without a date never matches a date range. Author and outlet match case-insensitively as
substrings ("hersh" matches "Seymour Hersh").
"""

from __future__ import annotations

import functools
import re
from datetime import date, timedelta

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from rag.errors import InputError
from rag.types import Document

ISO_DATE = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$")
ISO_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class DocFilter(BaseModel):
    """Conditions on documents; every one given must hold."""

    model_config = ConfigDict(extra="forbid")

    doc_ids: list[str] | None = Field(None, description="only these documents")
    source_prefix: str | None = Field(None, description="only documents whose source path starts so")
    date_from: str | None = Field(None, description="ISO date (YYYY, YYYY-MM or YYYY-MM-DD), inclusive")
    date_to: str | None = Field(None, description="ISO date (YYYY, YYYY-MM or YYYY-MM-DD), inclusive")
    author: str | None = Field(None, description="case-insensitive substring of the author")
    outlet: str | None = Field(None, description="case-insensitive substring of the outlet")
    not_after: str | None = Field(None, description="ISO date: no document dated later (undated ones stay)")

    @field_validator("date_from", "date_to")
    @classmethod
    def _iso(cls, value: str | None) -> str | None:
        if value is not None and not _real_date(value.strip()):
            raise ValueError(f"{value!r} is not a date; use YYYY, YYYY-MM or YYYY-MM-DD (a real day: "
                             "months 01-12, years from 0001)")
        return value.strip() if value else value

    @field_validator("doc_ids")
    @classmethod
    def _some_ids(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and not value:
            raise ValueError("is empty, which would match no document; leave doc_ids out to search "
                             "every document")
        return value

    @field_validator("not_after")
    @classmethod
    def _iso_day(cls, value: str | None) -> str | None:
        return None if value is None else _day(value)

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
        if self.not_after and (period := _period(doc.date)) and period[0] > self.not_after:
            return False
        return _contains(doc.author, self.author) and _contains(doc.outlet, self.outlet)


def _in_range(date: str | None, start: str | None, end: str | None) -> bool:
    """Whether the whole period of `date` (a day, month or year) lies in [start, end]."""
    period = _period(date)
    if period is None:
        return False
    # "2023" as an upper bound means the whole year: compare only as many characters as given
    return (start is None or period[0] >= start) and (end is None or period[1][:len(end)] <= end)


@functools.lru_cache(maxsize=8192)
def _period(date: str | None) -> tuple[str, str] | None:
    """(first day, last day) of an ISO date, month or year ("2023-12" -> 2023-12-01, 2023-12-31);
    None for no date or one that is not ISO (such a document counts as undated)."""
    day = (date or "")[:10]
    if not ISO_DATE.match(day):
        return None
    return day + "-01-01"[len(day) - 4:], day + "-12-31"[len(day) - 4:]


def _contains(value: str | None, wanted: str | None) -> bool:
    if not wanted:
        return True
    return value is not None and wanted.strip().lower() in value.lower()


def allowed_documents(documents: dict[str, Document], where: DocFilter | None) -> set[str] | None:
    """The doc ids `where` allows, or None when it allows everything (no filtering needed)."""
    if where is None or where.empty:
        return None
    return {doc_id for doc_id, doc in documents.items() if where.matches(doc)}


def allowed_rows(chunk_docs: np.ndarray, doc_order: dict[str, int], allowed: set[str]) -> np.ndarray:
    """A boolean mask over chunk rows: True where the chunk's document is allowed
    (`chunk_docs[row]` is the position of the row's document in `doc_order`)."""
    wanted = np.fromiter((doc_order[d] for d in allowed if d in doc_order), dtype=np.int64)
    return np.isin(chunk_docs, wanted)


def parse_filter(**conditions: object) -> DocFilter | None:
    """A DocFilter from keyword conditions (None and "" dropped), or None when none are given;
    a bad value is an InputError naming the field. An empty `doc_ids` list is such an error, not
    "every document": whoever sent it meant some documents and named none."""
    given = {k: v for k, v in conditions.items() if v is not None and v != ""}
    if not given:
        return None
    try:
        return DocFilter(**given)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: "
                             f"{e['msg'].removeprefix('Value error, ')}" for e in exc.errors())
        raise InputError(f"invalid filter: {problems}") from None


def recent(where: DocFilter | None, as_of: str, days: int) -> DocFilter:
    """`where` narrowed to documents dated `as_of` or in the `days` days before it (a document
    dated only by month or year is never recent: its period is not inside the window)."""
    end = date.fromisoformat(_day(as_of))
    start = str(end - timedelta(days=min(days, (end - date.min).days)))  # 0001-01-01 has no days before it
    base = where or DocFilter()
    return base.model_copy(update={"date_from": max(filter(None, [base.date_from, start])),
                                   "date_to": _earlier_end(base.date_to, str(end))})


def until(where: DocFilter | None, as_of: str) -> DocFilter:
    """`where` without the documents dated after `as_of` (undated documents, and those whose month
    or year has begun by then, stay)."""
    base = where or DocFilter()
    return base.model_copy(update={"not_after": min(filter(None, [base.not_after, _day(as_of)]))})


def _earlier_end(given: str | None, day: str) -> str:
    """The stricter of an inclusive upper bound `given` (YYYY, YYYY-MM or a day) and a `day`."""
    return given if given is not None and given < day[:len(given)] else day


def _real_date(value: str) -> bool:
    """Whether `value` is YYYY, YYYY-MM or YYYY-MM-DD naming a real year, month or day (not
    2023-13-45, not 0000-00-00)."""
    if not ISO_DATE.match(value):
        return False
    parts = [int(p) for p in value.split("-")] + [1, 1]
    try:
        date(parts[0], parts[1], parts[2])
    except ValueError:
        return False
    return True


def _day(as_of: str) -> str:
    """`as_of` as YYYY-MM-DD; an InputError unless it is exactly a valid ISO day."""
    value = as_of.strip()
    if ISO_DAY.match(value):
        try:
            return date.fromisoformat(value).isoformat()
        except ValueError:
            pass  # "2023-02-30": the right shape, not a day
    raise InputError(f"as_of {as_of!r} is not a day; write it as YYYY-MM-DD")
