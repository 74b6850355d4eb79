"""OpenAI-compatible chat completions over the same answers: `POST /v1/chat/completions`, `GET /v1/models`.

A chat client or library that speaks OpenAI's API gets the cited answer as the message content
and every citation twice: in the spec's `message.annotations` (url_citation spans into the
content, pointing at `/documents/{doc_id}?start=&end=`) and in full in the extension field
`citations`. Follow-ups are resolved as on `/chat` (`api.chat.rewrite_question`); a refusal is a
normal answer with `abstained: true`. Same API-key rule as every other route (the OpenAI client
sends its `api_key` as `Authorization: Bearer`).
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Body, Depends, Request
from fastapi.responses import StreamingResponse

from api import openai_schemas as o
from api.chat import rewrite_question
from api.deps import Authorized, IndexDep, SettingsDep, check_k, check_text
from api.errors import ApiError
from api.schemas import as_filter, error_responses
from rag import Answer, Citation, Index, ask

v1 = APIRouter(prefix="/v1", dependencies=[Authorized], tags=["openai"])
STARTED = int(time.time())


async def valid_completion(
    body: Annotated[o.CompletionRequest, Body(openapi_examples=o.COMPLETION_EXAMPLES)],
    settings: SettingsDep,
) -> o.CompletionRequest:
    """The limits of `/chat` (turns, question length, k) applied to an OpenAI request."""
    if len(body.messages) > settings.api.max_turns:
        raise ApiError(422, "too_many_turns", f"messages: {len(body.messages)} messages is over the "
                       f"limit of {settings.api.max_turns} (api.max_turns); send only the recent turns")
    for i, message in enumerate(body.messages):  # every turn: earlier ones feed the rewritten question
        check_text(message.text, f"messages[{i}].content", settings.api)
    check_k(body.k, settings.api)
    return body


CompletionBody = Annotated[o.CompletionRequest, Depends(valid_completion)]


@v1.post("/chat/completions", response_model=o.Completion, summary="OpenAI-compatible cited answer",
         responses={200: {"content": {"application/json": {"example": o.COMPLETION_EXAMPLE},
                                      "text/event-stream": {"example": "data: {...}\n\ndata: [DONE]\n\n"}}},
                    **error_responses(401, 413, 422, 500, 503)})
def completions_route(body: CompletionBody, index: IndexDep, request: Request):
    """The answer to the last user message as an OpenAI chat completion (or, with `stream: true`,
    `chat.completion.chunk` events ending with `data: [DONE]`; the last chunk carries the
    annotations and the extension fields)."""
    turns = [o.Turn(role=m.role, content=m.text) for m in body.messages if m.role in ("user", "assistant")]
    rewritten = rewrite_question(turns, index.settings.api.max_question_chars)
    answer = ask(index, rewritten, body.k, body.mode, as_filter(body.filter), body.answer, body.as_of)
    completion = to_completion(answer, index, body, rewritten, str(request.base_url))
    if not body.stream:
        return completion
    return StreamingResponse(stream_chunks(completion), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


@v1.get("/models", response_model=o.ModelList, summary="The one model: extractive cited answers",
        responses={200: {"content": {"application/json": {"example": o.MODELS_EXAMPLE}}},
                   **error_responses(401)})
def models_route() -> o.ModelList:
    return o.ModelList(data=[o.ModelCard(id=o.MODEL_ID, created=STARTED)])


def to_completion(answer: Answer, index: Index, body: o.CompletionRequest, rewritten: str,
                  base_url: str) -> o.Completion:
    """An Answer as a chat completion: content, annotations, and the extension fields."""
    content = answer.answer
    message = o.AssistantMessage(content=content,
                                 annotations=annotations(content, answer.citations, base_url))
    prompt = sum(len(m.text.split()) for m in body.messages)
    usage = o.Usage(prompt_tokens=prompt, completion_tokens=len(content.split()),
                    total_tokens=prompt + len(content.split()))  # words: no tokenizer is involved
    return o.Completion(id=f"chatcmpl-{uuid.uuid4().hex}", created=int(time.time()), model=body.model,
                        choices=[o.Choice(message=message)], usage=usage,
                        citations=[citation_out(index, c) for c in answer.citations],
                        abstained=answer.abstained, rewritten_question=rewritten,
                        short_answer=answer.short_answer, style=answer.style, dropped=answer.dropped,
                        fallback=answer.fallback)


def annotations(content: str, citations: list[Citation], base_url: str) -> list[o.Annotation]:
    """One url_citation per citation: from the start of its sentence to the end of its `[n]`."""
    out: list[o.Annotation] = []
    cursor = 0
    for c in citations:
        marker = f"[{c.n}]"
        at = content.find(marker, cursor)
        if at < 0:
            continue
        start = cursor + len(content[cursor:at]) - len(content[cursor:at].lstrip())
        url = f"{base_url}documents/{quote(c.doc_id, safe='/')}?start={c.start}&end={c.end}"
        out.append(o.Annotation(url_citation=o.UrlCitation(start_index=start, end_index=at + len(marker),
                                                           url=url, title=c.title)))
        cursor = at + len(marker)
    return out


def citation_out(index: Index, c: Citation) -> o.CitationOut:
    """A citation in full, re-checked against the document text it quotes."""
    doc = index.documents.get(c.doc_id)
    verified = doc is not None and doc.text[c.start:c.end] == c.quote
    return o.CitationOut(n=c.n, doc_id=c.doc_id, title=c.title, source=c.source, start=c.start,
                         end=c.end, quote=c.quote, page=c.page, also_in=c.also_in, verified=verified)


def stream_chunks(completion: o.Completion) -> Iterator[str]:
    """The role, the content word by word (whitespace kept), a last chunk with the annotations
    and extension fields, then `[DONE]`: OpenAI's streaming format."""
    message = completion.choices[0].message
    yield sse_chunk(completion, o.Delta(role="assistant", content=""))
    for piece in re.findall(r"\S+\s*", message.content):
        yield sse_chunk(completion, o.Delta(content=piece))
    yield sse_chunk(completion, o.Delta(annotations=message.annotations), last=True)
    yield "data: [DONE]\n\n"


def sse_chunk(completion: o.Completion, delta: o.Delta, last: bool = False) -> str:
    """One `chat.completion.chunk` event; the last one carries finish_reason and the extension."""
    event = o.CompletionChunk(id=completion.id, created=completion.created, model=completion.model,
                              choices=[o.ChunkChoice(delta=delta, finish_reason="stop" if last else None)])
    data = event.model_dump(mode="json", exclude_none=True)
    if last:  # dumped whole: a citation's `page` is null for sources without pages
        data.update(completion.model_dump(mode="json", include={"citations", "abstained", "rewritten_question",
                                                                 "short_answer", "style", "dropped", "fallback"}))
    return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"
