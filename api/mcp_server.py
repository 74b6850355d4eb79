"""The MCP server (official `mcp` SDK, `MCPServer`): tools `search`, `ask`, `get_document`, `list_documents`.

Agents that speak the Model Context Protocol get the same cited answers as the HTTP API, with
structured results: every passage and citation carries `doc_id`, its span (`start`, `end`), the
`quote` (exactly the document text at the span) and `verified` (that equality, checked here).

Two transports:
- stdio: `rag mcp` (for a desktop agent's config file) runs this module, which opens the index of
  `RAG_INDEX_DIR` once and serves until stdin closes;
- streamable HTTP at `/mcp` on the API server (`mount_mcp`), answering from the index the server
  holds at the time of each call (so uploads and reloads apply), behind the API key when one is set.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

from fastapi import FastAPI
from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.transport_security import TransportSecuritySettings
from pydantic import BaseModel, Field
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from api.deps import api_key_bytes, bearer_matches, too_long
from api.errors import error_bytes
from api.schemas import FilterIn, as_filter
from rag import (
    Index,
    IndexMissing,
    InputError,
    Mode,
    NotFound,
    RagError,
    Settings,
    ShortAnswer,
    Style,
    ask,
    load_settings,
    open_index,
    search,
    validate_query,
)

INSTRUCTIONS = ("Answers questions from a folder of documents. Every answer sentence cites a span "
                "(doc_id, start, end) whose quote is exactly the document's text there; refusals "
                "say the documents do not answer. Use `ask` for answers, `search` for passages.")


class Span(BaseModel):
    """A cited or retrieved span: `quote == text_of(doc_id)[start:end]` when `verified`."""

    doc_id: str
    title: str
    source: str
    start: int
    end: int
    quote: str
    page: int | None = None
    verified: bool


class Passage(Span):
    rank: int
    score: float
    also_in: list[str] = Field(default_factory=list)


class SearchResult(BaseModel):
    query: str
    passages: list[Passage]


class Cited(Span):
    n: int
    also_in: list[str] = Field(default_factory=list)


class AskResult(BaseModel):
    question: str
    answer: str = Field(description="the answer text with [n] markers")
    abstained: bool = Field(description="true when the documents do not answer the question")
    citations: list[Cited]
    short_answer: ShortAnswer | None = Field(None, description="the answer words inside citation n, "
                                             "when the reader is sure of them")
    style: Style = Field("extractive", description="extracted sentences, or generated and verified")
    dropped: int = Field(0, description="generated sentences the verifier rejected (not shown)")
    fallback: str | None = Field(None, description="why a generated answer was asked for but this one "
                                 "is extractive")


class DocumentText(BaseModel):
    doc_id: str
    title: str
    source: str
    chars: int
    text: str = Field(description="the whole text, or the span with `context` characters each side")
    span: Span | None = Field(None, description="the requested span, when start and end are given")


class DocumentInfo(BaseModel):
    doc_id: str
    title: str
    source: str
    author: str | None
    date: str | None
    outlet: str | None
    chars: int


class DocumentListing(BaseModel):
    count: int
    documents: list[DocumentInfo]


def span(index: Index, doc_id: str, start: int, end: int, quote: str, **extra: object) -> dict:
    """The fields of a Span, with `verified` checked against the document text."""
    doc = index.documents[doc_id]
    return {"doc_id": doc_id, "title": doc.display_title, "source": doc.source, "start": start,
            "end": end, "quote": quote, "verified": doc.text[start:end] == quote, **extra}


@contextlib.contextmanager
def reasons() -> Iterator[None]:
    """Turns a RagError (bad question, bad filter or day, unknown document, no index) into the
    SDK's ToolError, whose message reaches the client: any other exception is a crash to the SDK,
    which tells the client only "Error executing tool <name>"."""
    try:
        yield
    except RagError as exc:
        raise ToolError(exc.message) from exc


def checked(index: Index, text: str, field: str) -> str:
    """`text` through the HTTP routes' rules: the length limit (`api.max_question_chars`), then
    `validate_query` (empty, lone surrogates, nothing to ask). Raises InputError with the reason."""
    reason = too_long(text, field, index.settings.api)
    if reason is not None:
        raise InputError(reason)
    return validate_query(text)


def build_mcp(current: Callable[[], Index]) -> MCPServer:
    """The four tools, answering from whatever index `current()` returns at each call; a refusal
    (RagError) reaches the client with its reason, as an `is_error` result."""
    server = MCPServer("rag", instructions=INSTRUCTIONS)

    @server.tool(name="search")  # the Python names would shadow rag's search and ask
    def search_tool(query: str, k: int = 5, mode: Mode | None = None,
                    filter: FilterIn | None = None) -> SearchResult:
        """Ranked passages for a query, with their spans; `filter` restricts the documents."""
        with reasons():
            index = current()
            query = checked(index, query, "query")
            passages = search(index, query, min(max(k, 1), index.settings.api.max_k), mode,
                              where=as_filter(filter))
        return SearchResult(query=query, passages=[Passage(**span(
            index, p.chunk.doc_id, p.chunk.start, p.chunk.end, p.chunk.text, page=p.chunk.page,
            rank=p.rank, score=round(p.score, 6), also_in=p.also_in)) for p in passages])

    @server.tool(name="ask")
    def ask_tool(question: str, mode: Mode | None = None, filter: FilterIn | None = None,
                 answer: Style | None = None, as_of: str | None = None) -> AskResult:
        """A cited answer (every sentence with a verified span) or a refusal (`abstained`).
        `answer: "generated"` has the configured model write it, each sentence verified against
        its quote (extractive, with `fallback`, when that fails). `as_of` (YYYY-MM-DD): the day
        the question is asked; later documents are left out, the days before it come first."""
        with reasons():
            index = current()
            result = ask(index, checked(index, question, "question"), None, mode, as_filter(filter),
                         answer, as_of)
        return AskResult(question=result.question, answer=result.answer, abstained=result.abstained,
                         short_answer=result.short_answer, style=result.style, dropped=result.dropped,
                         fallback=result.fallback,
                         citations=[Cited(**span(index, c.doc_id, c.start, c.end, c.quote, page=c.page,
                                                 n=c.n, also_in=c.also_in)) for c in result.citations])

    @server.tool()
    def get_document(doc_id: str, start: int | None = None, end: int | None = None,
                     context: int = 400) -> DocumentText:
        """A document's text; with `start` and `end` (a citation's span), that span and `context`
        characters either side."""
        with reasons():
            index = current()
            doc = index.documents.get(doc_id)
            if doc is None:
                raise NotFound(f"no document {doc_id[:200]!r}; list_documents lists them")
            if start is None or end is None:
                return DocumentText(doc_id=doc_id, title=doc.display_title, source=doc.source,
                                    chars=len(doc.text), text=doc.text)
            if not 0 <= start < end <= len(doc.text):
                raise InputError(f"need 0 <= start < end <= {len(doc.text)}; got start={start}, end={end}")
        window = doc.text[max(0, start - max(context, 0)):end + max(context, 0)]
        return DocumentText(doc_id=doc_id, title=doc.display_title, source=doc.source, chars=len(doc.text),
                            text=window, span=Span(**span(index, doc_id, start, end, doc.text[start:end],
                                                          page=doc.page_at(start))))

    @server.tool()
    def list_documents() -> DocumentListing:
        """Every document in the index, with its metadata."""
        with reasons():
            docs = sorted(current().documents.values(), key=lambda d: d.doc_id)
        return DocumentListing(count=len(docs), documents=[DocumentInfo(
            doc_id=d.doc_id, title=d.display_title, source=d.source, author=d.author, date=d.date,
            outlet=d.outlet, chars=len(d.text)) for d in docs])

    return server


class BearerGate:
    """The API-key rule of the HTTP routes, for the MCP endpoint (a plain ASGI app)."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.key = api_key_bytes(settings)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (self.key is not None and scope["type"] == "http"
                and not bearer_matches(dict(scope["headers"]).get(b"authorization", b""), self.key)):
            body = error_bytes("unauthorized", "this server needs an API key: send the header "
                               "'Authorization: Bearer <key>' (RAG_API_KEY)")
            await send({"type": "http.response.start", "status": 401, "headers": [
                (b"content-type", b"application/json"), (b"www-authenticate", b"Bearer")]})
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send)


def mount_mcp(app: FastAPI, settings: Settings) -> Callable[[], contextlib.AbstractAsyncContextManager]:
    """Serve the tools at `/mcp` (streamable HTTP); returns the context the app's lifespan must
    enter (the SDK's session manager)."""
    def current() -> Index:
        index = app.state.index
        if index is None:
            raise IndexMissing("no index is loaded; build one with 'rag index'")
        return index

    server = build_mcp(current)
    # The SDK's own DNS-rebinding guard knows only `host:port` patterns of the bind host (a
    # port-less `Host: localhost` got 421) and ignores api.allowed_hosts; the app's HostCheck and
    # CrossSiteCheck wrap /mcp as they wrap every route, so one Host policy holds everywhere.
    http = server.streamable_http_app(streamable_http_path="/mcp", host=settings.api.host,
                                      transport_security=TransportSecuritySettings(
                                          enable_dns_rebinding_protection=False))
    for route in http.routes:
        if isinstance(route, Route) and route.path == "/mcp":
            app.router.routes.append(Route("/mcp", BearerGate(route.app, settings), methods=route.methods))
    return server.session_manager.run


def main() -> None:
    """`rag mcp`: the tools over stdio, from the index of `RAG_INDEX_DIR`."""
    settings = load_settings()
    with open_index(settings) as index:
        index.embedder.encode_query("warm up")
        build_mcp(lambda: index).run("stdio")


if __name__ == "__main__":
    main()
