"""The routes: each validates through its dependencies, calls rag once, and shapes the reply.

Handlers are plain `def`: rag is CPU-bound and synchronous, so FastAPI runs them in its thread
pool and the event loop stays free for other connections.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterable, Iterator
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import StreamingResponse

from api import schemas as s
from api.chat import rewrite_question
from api.deps import AskBody, Authorized, ChatBody, IndexDep, SearchBody
from api.errors import ApiError
from rag import Answer, Document, FinalAnswer, GeneratedSentence, Index, ask, ask_stream, search

api = APIRouter(dependencies=[Authorized])
public = APIRouter()


@api.post("/ask", response_model=Answer, tags=["answers"], summary="Answer a question with citations",
          responses={200: {"content": {"application/json": {"examples": {
              "answer": {"summary": "Answered", "value": s.ANSWER_EXAMPLE},
              "refusal": {"summary": "Refused", "value": s.REFUSAL_EXAMPLE}}}}},
              **s.error_responses(401, 413, 422, 500, 503)})
def ask_route(body: AskBody, index: IndexDep) -> Answer:
    """Cited sentences from the documents, or `abstained: true` with the closest passages. With
    `"answer": "generated"`, the configured model's sentences, each shown only with a verified
    quote (`dropped` counts the rest); extractive with `fallback` set when that fails. With
    `as_of` (a day), documents dated later are left out and the days just before it come first."""
    return ask(index, body.question, body.k, body.mode, s.as_filter(body.filter), body.answer, body.as_of)


@api.post("/search", response_model=s.SearchResponse, tags=["answers"], summary="Ranked passages",
          responses={200: {"content": {"application/json": {"example": s.SEARCH_RESPONSE_EXAMPLE}}},
                     **s.error_responses(401, 413, 422, 500, 503)})
def search_route(body: SearchBody, index: IndexDep) -> s.SearchResponse:
    """The best passages for a query, one per near-duplicate group, best first."""
    mode = body.mode or index.settings.retrieval.mode
    passages = search(index, body.query, body.k, mode, where=s.as_filter(body.filter))
    return s.SearchResponse(query=body.query, mode=mode, passages=[s.SearchHit(**p.hit()) for p in passages])


@api.post("/chat", response_model=s.ChatAnswer, tags=["answers"], summary="Answer the last message of a chat",
          responses={200: {"content": {"application/json": {"example": {**s.ANSWER_EXAMPLE,
                                                                         "rewritten_question": "…"}},
                                       "text/event-stream": {"examples": {
                                           "extractive": {"value": s.SSE_EXAMPLE},
                                           "generated": {"value": s.SSE_GENERATED_EXAMPLE}}}}},
                     **s.error_responses(401, 413, 422, 500, 503)})
def chat_route(body: ChatBody, index: IndexDep):
    """Answers the last user message; a follow-up ("and what did he say about NATO?") is first
    made self-contained with names from earlier user turns (see `api.chat`). With `stream: true`
    the reply is text/event-stream: `token` events with pieces of the answer text, one
    `citations` event with the full answer JSON, then `done`. A generated answer streams as it
    is verified: per kept sentence a `sentence` event (text, n, citation) and its `token`."""
    rewritten = rewrite_question(body.messages, index.settings.api.max_question_chars)
    where = s.as_filter(body.filter)
    if not body.stream:
        answer = ask(index, rewritten, body.k, body.mode, where, body.answer, body.as_of)
        return chat_reply(answer, body.messages[-1].content, rewritten)
    events = ask_stream(index, rewritten, body.k, body.mode, where, body.answer, body.as_of)
    return StreamingResponse(chat_events(events, body.messages[-1].content, rewritten),
                             media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


def chat_reply(answer: Answer, question: str, rewritten: str) -> s.ChatAnswer:
    return s.ChatAnswer(**{**answer.model_dump(), "question": question}, rewritten_question=rewritten)


def chat_events(events: Iterable[GeneratedSentence | FinalAnswer], question: str,
                rewritten: str) -> Iterator[str]:
    """Server-sent events of an answer: each generated sentence once verified (`sentence`, then
    its `token`), or the whole text word by word when none was streamed; then the answer."""
    streamed = False
    for event in events:
        if isinstance(event, GeneratedSentence):
            yield sse("sentence", {"text": event.text, "n": event.citation.n,
                                   "citation": event.citation.model_dump(mode="json")})
            yield sse("token", {"text": f"{' ' if streamed else ''}{event.text} [{event.citation.n}]"})
            streamed = True
            continue
        reply = chat_reply(event.answer, question, rewritten)
        if not streamed:
            yield from sse_events(reply)  # extractive (or a fallback): its text word by word
        else:
            yield sse("citations", reply.model_dump(mode="json"))
            yield sse("done", {})


def sse_events(reply: s.ChatAnswer) -> Iterator[str]:
    """The answer text word by word (whitespace kept), then the full answer, then the end."""
    for piece in re.findall(r"\S+\s*", reply.answer):
        yield sse("token", {"text": piece})
    yield sse("citations", reply.model_dump(mode="json"))
    yield sse("done", {})


def sse(event: str, data: dict) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


@api.get("/documents", response_model=s.DocumentList, tags=["documents"], summary="List the documents",
         responses={200: {"content": {"application/json": {"example": s.DOCUMENTS_EXAMPLE}}},
                    **s.error_responses(401, 500, 503)})
def documents_route(index: IndexDep) -> s.DocumentList:
    docs = [summary(d) for d in sorted(index.documents.values(), key=lambda d: d.doc_id)]
    return s.DocumentList(count=len(docs), documents=docs)


@api.get("/documents/{doc_id:path}", response_model=s.DocumentOut | s.DocumentSpanOut, tags=["documents"],
         summary="One document, or a span of it in context",
         responses={200: {"content": {"application/json": {"examples": s.DOCUMENT_EXAMPLES}}},
                    **s.error_responses(401, 404, 422, 500, 503)})
def document_route(
    index: IndexDep,
    doc_id: Annotated[str, Path(description="a doc_id from /documents or a citation")],
    start: Annotated[int | None, Query(description="span start (character offset, with end)")] = None,
    end: Annotated[int | None, Query(description="span end, exclusive")] = None,
    context: Annotated[int, Query(ge=0, le=1_000_000, description="characters shown each side")] = 400,
) -> s.DocumentOut | s.DocumentSpanOut:
    """The text and metadata of a document. With `start` and `end` (a citation's offsets), the
    span and `context` characters either side instead, so a client can show a citation in place."""
    doc = find_document(index, doc_id)
    if start is None and end is None:
        return s.DocumentOut(**summary(doc).model_dump(), text=doc.text,
                             pages=[s.PageOut(**p.model_dump()) for p in doc.pages])
    if start is None or end is None or not 0 <= start < end <= len(doc.text):
        raise ApiError(422, "invalid_span", f"start and end must both be given with 0 <= start < end <= "
                       f"{len(doc.text)} (the document's length); got start={start}, end={end}")
    return s.DocumentSpanOut(
        **summary(doc).model_dump(),
        span=s.SpanOut(start=start, end=end, text=doc.text[start:end], page=doc.page_at(start)),
        before=doc.text[max(0, start - context):start], after=doc.text[end:end + context])


def find_document(index: Index, doc_id: str) -> Document:
    """A document by id from the loaded index only; the id never touches the filesystem."""
    doc = index.documents.get(doc_id)
    if doc is None:
        raise ApiError(404, "not_found", f"no document {doc_id!r} in the index; GET /documents lists them")
    return doc


def summary(doc: Document) -> s.DocumentSummary:
    return s.DocumentSummary(doc_id=doc.doc_id, title=doc.display_title, author=doc.author,
                             date=doc.date, outlet=doc.outlet, source=doc.source, chars=len(doc.text))


@public.get("/health", response_model=s.Health, tags=["operations"], summary="Liveness and index state",
            responses={200: {"content": {"application/json": {"example": s.HEALTH_EXAMPLE}}}})
async def health_route(request: Request) -> s.Health:
    """Always 200 while the process serves; `status` is `degraded` while no index is loaded.

    `async` on purpose: it only reads app state, so it runs on the event loop and never queues
    behind question work in the thread pool (a liveness probe must not time out under load)."""
    index: Index | None = request.app.state.index
    if index is None:
        error = request.app.state.index_error
        return s.Health(status="degraded", index_loaded=False, model=None, documents=0, chunks=0,
                        built_at=None, build_id=None, detail=getattr(error, "message", str(error)))
    return s.Health(status="ok", index_loaded=True, model=index.manifest.get("model", {}).get("name"),
                    documents=len(index.documents), chunks=len(index.chunks),
                    built_at=index.manifest.get("built_at"), build_id=index.build_id,
                    query_encoder=index.encoder_backend, torch_loaded="torch" in sys.modules)
