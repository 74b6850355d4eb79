"""Request and response bodies of the HTTP API.

Requests are defined here, never borrowed from `rag.types`, so the wire format of a request can
only change on purpose. Answers go out as `rag.types.Answer`, the one answer contract shared with
`rag ask --json`. Limits that depend on settings (question length, k, turns) are checked in
`api.deps`; the static rules (types, non-empty, known fields) are checked here.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from rag import Answer, DocFilter, Mode, Style, parse_filter

EXAMPLE_QUESTION = "Who are the two generals driving the peace talks?"


class Request(BaseModel):
    """Base of every request body: unknown fields are an error, so a typo is not ignored."""

    model_config = ConfigDict(extra="forbid")


def _non_empty(value: str, what: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError(f"the {what} is empty; type a question in plain words")
    return value


class FilterIn(Request):
    """Only documents matching every condition given are searched (before ranking is cut)."""

    doc_ids: list[str] | None = Field(None, description="only these documents")
    source_prefix: str | None = Field(None, description="only sources (paths) starting with this")
    date_from: str | None = Field(None, description="only documents dated on or after (ISO date)")
    date_to: str | None = Field(None, description="only documents dated on or before (ISO date)")
    author: str | None = Field(None, description="only authors containing this (any case)")
    outlet: str | None = Field(None, description="only outlets containing this (any case)")


def as_filter(given: FilterIn | None) -> DocFilter | None:
    """The rag filter for a request's `filter` (a bad date is rag's InputError: 422)."""
    return parse_filter(**given.model_dump()) if given is not None else None


FILTER_FIELD = Field(None, description="restrict to matching documents: doc_ids, source_prefix, "
                     "date_from, date_to, author, outlet")
AS_OF_FIELD = Field(None, pattern=r"^\d{4}-\d{2}-\d{2}$",
                    description="the day the question is asked (YYYY-MM-DD): documents dated later "
                    "are left out; those dated that day or in the settings retrieval.recent_days "
                    "days before it are searched first")
ANSWER_FIELD = Field(None, description="'extractive' (quoted sentences) or 'generated' (a model's "
                     "sentences, each verified against a verbatim quote; extractive with `fallback` "
                     "when that fails). Default: settings generator.default_style")


class AskRequest(Request):
    question: str = Field(description="a question in plain words")
    k: int | None = Field(None, ge=1, description="passages to draw the answer from "
                                                 "(default: settings answer.passages; at most api.max_k)")
    mode: Mode | None = Field(None, description="retrieval mode (default: settings retrieval.mode)")
    filter: FilterIn | None = FILTER_FIELD
    answer: Style | None = ANSWER_FIELD
    as_of: str | None = AS_OF_FIELD

    @field_validator("question")
    @classmethod
    def _question(cls, value: str) -> str:
        return _non_empty(value, "question")


class SearchRequest(Request):
    query: str = Field(description="what to look for")
    k: int | None = Field(None, ge=1, description="passages returned (default: settings retrieval.k; "
                                                 "at most api.max_k)")
    mode: Mode | None = Field(None, description="retrieval mode (default: settings retrieval.mode)")
    filter: FilterIn | None = FILTER_FIELD

    @field_validator("query")
    @classmethod
    def _query(cls, value: str) -> str:
        return _non_empty(value, "query")


class ChatMessage(Request):
    role: Literal["user", "assistant"]
    content: str

    @field_validator("content")
    @classmethod
    def _content(cls, value: str) -> str:
        return _non_empty(value, "message")


class ChatRequest(Request):
    messages: list[ChatMessage] = Field(min_length=1, description="the conversation so far, oldest "
                                        "first; the last one is the user's question")
    stream: bool = Field(False, description="answer as text/event-stream: `token` events (and, for a "
                         "generated answer, a `sentence` event per verified sentence as it is "
                         "verified), then `citations` (the full answer JSON), then `done`")
    k: int | None = Field(None, ge=1)
    mode: Mode | None = None
    filter: FilterIn | None = FILTER_FIELD
    answer: Style | None = ANSWER_FIELD
    as_of: str | None = AS_OF_FIELD

    @field_validator("messages")
    @classmethod
    def _ends_with_user(cls, value: list[ChatMessage]) -> list[ChatMessage]:
        if value and value[-1].role != "user":
            raise ValueError("the last message must have role 'user': it is the question answered")
        return value


# ----------------------------------------------------------------------------- responses


class ChatAnswer(Answer):
    """The answer contract plus the question actually searched after resolving a follow-up."""

    rewritten_question: str = Field(description="the last user message with names from earlier "
                                    "turns prepended when it looked like a follow-up; else unchanged")


class SearchHit(BaseModel):
    rank: int
    doc_id: str
    chunk_id: str
    title: str
    source: str
    start: int
    end: int
    page: int | None
    score: float
    also_in: list[str]
    text: str


class SearchResponse(BaseModel):
    query: str
    mode: Mode
    passages: list[SearchHit]


class DocumentSummary(BaseModel):
    doc_id: str
    title: str
    author: str | None
    date: str | None
    outlet: str | None
    source: str
    chars: int


class DocumentList(BaseModel):
    count: int
    documents: list[DocumentSummary]


class PageOut(BaseModel):
    page: int
    start: int
    end: int


class DocumentOut(DocumentSummary):
    text: str
    pages: list[PageOut]


class SpanOut(BaseModel):
    start: int
    end: int
    text: str
    page: int | None


class DocumentSpanOut(DocumentSummary):
    """A span of a document with the text around it, to show a citation in place."""

    span: SpanOut
    before: str = Field(description="up to `context` characters before the span")
    after: str = Field(description="up to `context` characters after the span")


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    index_loaded: bool
    model: str | None
    documents: int
    chunks: int
    built_at: str | None
    build_id: str | None
    detail: str | None = Field(None, description="why no index is loaded, when status is 'degraded'")
    query_encoder: str | None = Field(None, description="'onnx' (no PyTorch) or 'torch': what encodes questions")
    torch_loaded: bool = Field(False, description="whether this server process has imported PyTorch")


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorBody(BaseModel):
    error: ErrorDetail


# ----------------------------------------------------------------------------- OpenAPI examples

CITATION_EXAMPLE = {
    "n": 1, "doc_id": "000_fa0abe1aae40eff2",
    "title": "General to General: A Potential Ukraine-Russia Peace Is Being Negotiated in Ukraine "
             "by Military Leaders. Seymour Hersh",
    "source": "000_fa0abe1aae40eff2.txt", "start": 2, "end": 106,
    "quote": "General to General: A Potential Ukraine-Russia Peace Is Being Negotiated in Ukraine by "
             "Military Leaders.",
    "page": None, "score": 1.0227, "also_in": [],
}
ANSWER_EXAMPLE = {
    "question": EXAMPLE_QUESTION,
    "answer": "General to General: A Potential Ukraine-Russia Peace Is Being Negotiated in Ukraine by "
              "Military Leaders. [1]",
    "abstained": False,
    "citations": [CITATION_EXAMPLE],
    "related": [],
    "timings_ms": {"embed_ms": 9.1, "retrieve_ms": 1.2, "answer_ms": 3.4, "total_ms": 13.9},
    "style": "extractive", "dropped": 0, "fallback": None,
}
REFUSAL_EXAMPLE = {
    "question": "Who won the 2024 US presidential election?",
    "answer": "The documents do not say. I found nothing in them that answers this question.",
    "abstained": True, "citations": [],
    "related": [{"doc_id": "002_d16182aecea7049e", "title": "Urging peace with Russia, top US general "
                 "challenges DC’s proxy war", "source": "002_d16182aecea7049e.txt", "start": 1210,
                 "end": 1342, "quote": "…", "score": 0.61}],
    "timings_ms": {"total_ms": 12.0},
    "style": "extractive", "dropped": 0, "fallback": None,
}

ASK_EXAMPLES = {
    "question": {"summary": "A question", "value": {"question": EXAMPLE_QUESTION}},
    "options": {"summary": "With k and mode",
                "value": {"question": "Where did Milley give his speech about negotiations?",
                          "k": 6, "mode": "hybrid"}},
    "generated": {"summary": "Generated by the configured model, every sentence verified",
                  "value": {"question": EXAMPLE_QUESTION, "answer": "generated"}},
}
SEARCH_EXAMPLES = {
    "query": {"summary": "Keyword search", "value": {"query": "Zaluzhny Economist interview", "k": 3,
                                                     "mode": "keyword"}},
}
CHAT_EXAMPLES = {
    "follow_up": {
        "summary": "A follow-up question",
        "value": {"messages": [
            {"role": "user", "content": "What did Milley say about negotiations?"},
            {"role": "assistant", "content": "…"},
            {"role": "user", "content": "and what did he say about NATO?"}]},
    },
    "stream": {
        "summary": "Streamed (text/event-stream)",
        "value": {"messages": [{"role": "user", "content": EXAMPLE_QUESTION}], "stream": True},
    },
}
SEARCH_RESPONSE_EXAMPLE = {
    "query": "Zaluzhny Economist interview", "mode": "keyword",
    "passages": [{"rank": 1, "doc_id": "001_ba8a69dfa45ae580", "chunk_id": "001_ba8a69dfa45ae580#3",
                  "title": "001_ba8a69dfa45ae580", "source": "001_ba8a69dfa45ae580.txt",
                  "start": 4210, "end": 5164, "page": None, "score": 7.31, "also_in": [],
                  "text": "In a Nov. 1 interview with the Economist, Valery Zaluzhny, …"}],
}
DOCUMENT_SUMMARY_EXAMPLE = {
    "doc_id": "004_1b6fea1d4b3ffca0",
    "title": "‘Seize the Moment’: Joint Chiefs of Staff General Milley Sees Opportunity for Peace "
             "Talks Between Russia and Ukraine",
    "author": "Dave DeCamp", "date": None, "outlet": "globalresearch.ca",
    "source": "004_1b6fea1d4b3ffca0.txt", "chars": 5175,
}
DOCUMENTS_EXAMPLE = {"count": 1, "documents": [DOCUMENT_SUMMARY_EXAMPLE]}
DOCUMENT_EXAMPLES = {
    "full": {"summary": "Whole document",
             "value": {**DOCUMENT_SUMMARY_EXAMPLE, "text": "…", "pages": []}},
    "span": {"summary": "With ?start=&end= (a citation in place)",
             "value": {**DOCUMENT_SUMMARY_EXAMPLE,
                       "span": {"start": 120, "end": 190, "text": "…", "page": None},
                       "before": "…", "after": "…"}},
}
HEALTH_EXAMPLE = {"status": "ok", "index_loaded": True, "model": "all-MiniLM-L6-v2", "documents": 5,
                  "chunks": 32, "built_at": "2025-01-01T12:00:00Z",
                  "build_id": "20250101T120000-9a9bfdc8", "detail": None, "query_encoder": "onnx",
                  "torch_loaded": False}
SSE_EXAMPLE = ('event: token\ndata: {"text": "General "}\n\n'
               'event: token\ndata: {"text": "to "}\n\n'
               '…\n\n'
               'event: citations\ndata: {"question": "…", "answer": "…", "abstained": false, '
               '"citations": […], "related": [], "timings_ms": {…}, "style": "extractive", "dropped": 0, '
               '"fallback": null, "rewritten_question": "…"}\n\n'
               'event: done\ndata: {}\n\n')
SSE_GENERATED_EXAMPLE = ('event: sentence\ndata: {"text": "Two generals are negotiating.", "n": 1, '
                         '"citation": {…}}\n\n'
                         'event: token\ndata: {"text": "Two generals are negotiating. [1]"}\n\n'
                         '…\n\n'
                         'event: citations\ndata: {…, "style": "generated", "dropped": 1, …}\n\n'
                         'event: done\ndata: {}\n\n')


def error_responses(*statuses: int) -> dict[int | str, dict]:
    """OpenAPI entries for error statuses, all with the one error body."""
    examples = {
        401: ("unauthorized", "this server needs an API key: send 'Authorization: Bearer <key>'"),
        404: ("not_found", "no document 'x'; GET /documents lists the documents"),
        413: ("body_too_large", "the request body is over 65536 bytes (api.max_body_bytes)"),
        422: ("invalid_request", "question: the question is empty; type a question in plain words"),
        500: ("internal_error", "the server failed on this request; the server log has the details"),
        503: ("index_missing", "no index at index; build one with 'rag index [PATH ...]'"),
    }
    out: dict[int | str, dict] = {}
    for status in statuses:
        code, message = examples[status]
        out[status] = {"model": ErrorBody, "description": code,
                       "content": {"application/json": {"example": error_body_example(code, message)}}}
    return out


def error_body_example(code: str, message: str) -> dict:
    return {"error": {"code": code, "message": message}}
