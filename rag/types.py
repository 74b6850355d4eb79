"""Typed records passed from stage to stage: Document -> Chunk -> Passage -> Answer.

They are plain pydantic models so every stage, the index files on disk and the HTTP layer share one
definition, and so a record read back from disk is validated rather than trusted.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Mode = Literal["hybrid", "dense", "keyword"]
"""Retrieval mode: dense and keyword fused (hybrid), or either alone."""

Style = Literal["extractive", "generated"]
"""Answer style: quoted source sentences (extractive), or a model's sentences each checked
against a verbatim quote (generated)."""


class Record(BaseModel):
    """Base for every record: unknown fields are an error, not silently kept."""

    model_config = ConfigDict(extra="forbid")


class PageSpan(Record):
    """Where one page of a paged source (PDF) lies in the document text."""

    page: int
    start: int
    end: int


class Document(Record):
    """One source file as loaded: its full text plus what a citation needs.

    `text` is the text the offsets of every chunk and citation refer to: the file itself for text
    formats, the extracted text for HTML and PDF (pages joined by form feeds).
    """

    doc_id: str
    source: str = Field(description="path relative to the corpus root")
    text: str
    title: str | None = None
    author: str | None = None
    date: str | None = None
    outlet: str | None = None
    pages: list[PageSpan] = Field(default_factory=list)
    content_hash: str = ""

    @property
    def display_title(self) -> str:
        """The stated title, else the document id with whatever byline the text states."""
        if self.title:
            return self.title
        byline = ", ".join(v for v in (self.author, self.outlet, self.date) if v)
        return f"{self.doc_id} ({byline})" if byline else self.doc_id

    def page_at(self, offset: int) -> int | None:
        """The 1-based page holding `offset`, or None for sources without pages."""
        for span in self.pages:
            if span.start <= offset < span.end:
                return span.page
        return self.pages[-1].page if self.pages and offset >= self.pages[-1].end else None


class Span(Record):
    """A half-open character range [start, end) of a document's text."""

    start: int
    end: int


class Chunk(Record):
    """A token-bounded, sentence-aligned piece of one document, the unit that is embedded.

    `text == document.text[start:end]` always holds; `sentences` are the sentence spans inside it,
    used to pick answer sentences without re-splitting at question time.
    """

    chunk_id: str
    doc_id: str
    n: int
    start: int
    end: int
    text: str
    tokens: int
    sentences: list[Span] = Field(default_factory=list)
    page: int | None = None
    group: int = Field(-1, description="near-duplicate group id; -1 when the chunk is unique")


class Passage(Record):
    """A retrieved chunk with its fused score and the other documents carrying the same text."""

    chunk: Chunk
    title: str
    source: str
    score: float
    dense_score: float | None = None
    keyword_score: float | None = None
    rank: int = 0
    also_in: list[str] = Field(default_factory=list)

    def hit(self) -> dict[str, Any]:
        """The flat search-hit record shown by `rag search --json` and `POST /search`."""
        return {"rank": self.rank, "doc_id": self.chunk.doc_id, "chunk_id": self.chunk.chunk_id,
                "title": self.title, "source": self.source, "start": self.chunk.start,
                "end": self.chunk.end, "page": self.chunk.page, "score": round(self.score, 6),
                "dense_score": self.dense_score, "keyword_score": self.keyword_score,
                "also_in": self.also_in, "text": self.chunk.text}


class Citation(Record):
    """One cited span: `quote == text_of(doc_id)[start:end]`, checked before it is shown."""

    n: int
    doc_id: str
    title: str
    source: str
    start: int
    end: int
    quote: str
    page: int | None = None
    score: float
    also_in: list[str] = Field(default_factory=list)


class RelatedPassage(Record):
    """A passage shown next to a refusal: close to the question, but not evidence for an answer."""

    doc_id: str
    title: str
    source: str
    start: int
    end: int
    quote: str
    score: float


class ShortAnswer(Record):
    """The answer words inside the first citation's quote, marked by the reader's span head:
    `text == document.text[start:end]` and `[start, end)` lies inside citation `n` (checked)."""

    text: str
    n: int
    doc_id: str
    start: int
    end: int
    confidence: float


class Answer(Record):
    """The one JSON contract of `rag ask --json`, the library and the HTTP API."""

    question: str
    answer: str
    abstained: bool
    citations: list[Citation] = Field(default_factory=list)
    short_answer: ShortAnswer | None = Field(
        None, description="the answer words inside the first citation, when the reader is sure of them")
    related: list[RelatedPassage] = Field(default_factory=list)
    timings_ms: dict[str, float] = Field(default_factory=dict)
    style: Style = Field("extractive", description="how this answer was made: quoted sentences, or "
                         "a model's sentences each verified against its quote")
    dropped: int = Field(0, description="generated sentences rejected by the verifier (not shown)")
    fallback: str | None = Field(
        None, description="why a generated answer was asked for but this one is extractive: "
        "'disabled', 'timeout', 'unreachable', 'malformed', 'nothing verified', 'refused', ...")
