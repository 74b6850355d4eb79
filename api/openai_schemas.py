"""Wire format of the OpenAI-compatible routes (`/v1/chat/completions`, `/v1/models`).

The shapes follow OpenAI's chat-completions API as its official Python client parses them:
`choices[0].message.content` is the answer text with its `[n]` markers, and each citation is in
the spec's own slot, `message.annotations` (`type: "url_citation"`, `start_index`/`end_index`
into the content, `url`, `title`). The extension fields `citations` (every span in full, with
`verified`), `abstained` and `rewritten_question` sit on the completion object (and on the last
streamed chunk); OpenAI clients keep unknown fields (`completion.model_extra`).

Requests accept the fields OpenAI clients commonly send (temperature, max_tokens, ...) and
ignore them: answers are extracted, not sampled. Extension request fields: `k`, `mode`, `filter`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from api.schemas import FILTER_FIELD, FilterIn
from rag import Mode

MODEL_ID = "rag"


class ContentPart(BaseModel):
    """One part of a multi-part message; only text parts are read."""

    model_config = ConfigDict(extra="allow")

    type: str
    text: str | None = None


class CompletionMessage(BaseModel):
    """A message as OpenAI clients send it: content a string or a list of parts."""

    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[ContentPart] | None = None

    @property
    def text(self) -> str:
        if isinstance(self.content, list):
            return " ".join(p.text for p in self.content if p.type == "text" and p.text)
        return self.content or ""


class CompletionRequest(BaseModel):
    """`POST /v1/chat/completions`. Unknown sampling fields are accepted and ignored."""

    model_config = ConfigDict(extra="ignore")

    model: str = Field(MODEL_ID, description="any name; GET /v1/models lists 'rag'")
    messages: list[CompletionMessage] = Field(min_length=1)
    stream: bool = False
    k: int | None = Field(None, ge=1, description="extension: passages the answer is drawn from")
    mode: Mode | None = Field(None, description="extension: retrieval mode")
    filter: FilterIn | None = FILTER_FIELD

    @field_validator("messages")
    @classmethod
    def _ends_with_user(cls, value: list[CompletionMessage]) -> list[CompletionMessage]:
        if value and (value[-1].role != "user" or not value[-1].text.strip()):
            raise ValueError("the last message must be a non-empty 'user' message: it is the question")
        return value


class Turn(BaseModel):
    """A user or assistant turn, as `api.chat.rewrite_question` reads it."""

    role: str
    content: str


class UrlCitation(BaseModel):
    start_index: int = Field(description="where the cited sentence starts in `content`")
    end_index: int = Field(description="where its `[n]` marker ends in `content` (exclusive)")
    url: str = Field(description="the document route showing the cited span in place")
    title: str


class Annotation(BaseModel):
    type: Literal["url_citation"] = "url_citation"
    url_citation: UrlCitation


class CitationOut(BaseModel):
    """Extension: one citation in full; `quote == text_of(doc_id)[start:end]` when `verified`."""

    n: int
    doc_id: str
    title: str
    source: str
    start: int
    end: int
    quote: str
    page: int | None
    also_in: list[str]
    verified: bool


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str
    refusal: None = None
    annotations: list[Annotation]


class Choice(BaseModel):
    index: int = 0
    message: AssistantMessage
    finish_reason: Literal["stop"] = "stop"
    logprobs: None = None


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class Extension(BaseModel):
    """The fields beyond OpenAI's: every citation in full, whether the answer is a refusal."""

    citations: list[CitationOut]
    abstained: bool
    rewritten_question: str


class Completion(Extension):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: Usage


class Delta(BaseModel):
    role: Literal["assistant"] | None = None
    content: str | None = None
    annotations: list[Annotation] | None = None


class ChunkChoice(BaseModel):
    index: int = 0
    delta: Delta
    finish_reason: Literal["stop"] | None = None
    logprobs: None = None


class CompletionChunk(BaseModel):
    """One streamed event; the last one also carries `citations`, `abstained`, `rewritten_question`."""

    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    choices: list[ChunkChoice]


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "rag"


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


COMPLETION_EXAMPLES = {
    "question": {"summary": "A question", "value": {
        "model": MODEL_ID, "messages": [{"role": "user", "content": "Which generals are negotiating the peace?"}]}},
    "filtered": {"summary": "Filtered, streamed", "value": {
        "model": MODEL_ID, "stream": True, "filter": {"author": "hersh", "date_from": "2023-01-01"},
        "messages": [{"role": "user", "content": "Which generals are negotiating the peace?"}]}},
}
MODELS_EXAMPLE = {"object": "list", "data": [{"id": MODEL_ID, "object": "model", "created": 1735689600,
                                               "owned_by": "rag"}]}
COMPLETION_EXAMPLE = {
    "id": "chatcmpl-5f0c…", "object": "chat.completion", "created": 1735689600, "model": MODEL_ID,
    "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None, "message": {
        "role": "assistant", "refusal": None,
        "content": "General to General: A Potential Ukraine-Russia Peace Is Being Negotiated in Ukraine by "
                   "Military Leaders. [1]",
        "annotations": [{"type": "url_citation", "url_citation": {
            "start_index": 0, "end_index": 109, "title": "General to General: …",
            "url": "http://127.0.0.1:8000/documents/000_fa0abe1aae40eff2?start=2&end=106"}}]}}],
    "usage": {"prompt_tokens": 6, "completion_tokens": 17, "total_tokens": 23},
    "citations": [{"n": 1, "doc_id": "000_fa0abe1aae40eff2", "title": "General to General: …",
                   "source": "000_fa0abe1aae40eff2.txt", "start": 2, "end": 106,
                   "quote": "General to General: A Potential Ukraine-Russia Peace Is Being Negotiated in "
                            "Ukraine by Military Leaders.", "page": None, "also_in": [], "verified": True}],
    "abstained": False, "rewritten_question": "Which generals are negotiating the peace?",
}
