"""Dependencies of the routes, as `Annotated` aliases: settings, the loaded index, the API key
check, and request bodies checked against the configured limits (`settings.api`).

They are `async def` because none of them blocks: FastAPI runs a plain `def` dependency in its
thread pool, and four such hops per request cost more than the vector search itself."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Body, Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.errors import ApiError
from api.schemas import ASK_EXAMPLES, CHAT_EXAMPLES, SEARCH_EXAMPLES, AskRequest, ChatRequest, SearchRequest
from rag import ApiSettings, Index, IndexMissing, RagError, Settings


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


async def get_index(request: Request) -> Index:
    """The index loaded at start-up (or by the reloader); 503 with the reason when there is none."""
    index = request.app.state.index
    if index is None:
        error = request.app.state.index_error
        if isinstance(error, RagError):
            raise error
        raise IndexMissing("no index is loaded; build one with 'rag index' and the server picks it up")
    return index


IndexDep = Annotated[Index, Depends(get_index)]


# Declares the bearer scheme in the OpenAPI schema (so /docs has an "Authorize" button); it never
# refuses anything itself: require_api_key does the check.
BEARER = HTTPBearer(auto_error=False, scheme_name="apiKey",
                    description="The server's RAG_API_KEY; needed only when the server was started with one")


def api_key_bytes(settings: Settings) -> bytes | None:
    """The API key as the bytes a client sends: UTF-8 (a key read from the environment that is not
    UTF-8 gets its original bytes back through surrogateescape), or None when no key is set."""
    if settings.api_key is None:
        return None
    return settings.api_key.get_secret_value().encode("utf-8", "surrogateescape")


def bearer_matches(header: bytes, key: bytes) -> bool:
    """Whether an `Authorization` header value (raw bytes) is `Bearer <key>`: one byte comparison
    for the HTTP routes and /mcp, so a non-ASCII key works on both or on neither."""
    scheme, _, given = header.partition(b" ")
    return scheme.lower() == b"bearer" and hmac.compare_digest(given.strip(), key)


async def require_api_key(request: Request, settings: SettingsDep,
                    _declared: Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)]) -> None:
    """When `api_key` is set, the request must carry `Authorization: Bearer <key>`."""
    key = api_key_bytes(settings)
    if key is None:
        return
    # Starlette decodes header values as latin-1, so encoding back gives the bytes that were sent
    if not bearer_matches(request.headers.get("authorization", "").encode("latin-1"), key):
        raise ApiError(401, "unauthorized",
                       "this server needs an API key: send the header 'Authorization: Bearer <key>' "
                       "with the key the server was started with (RAG_API_KEY)",
                       headers={"WWW-Authenticate": "Bearer"})


Authorized = Depends(require_api_key)


def too_long(text: str, field: str, limits: ApiSettings) -> str | None:
    """Why `text` is over `api.max_question_chars`, or None: the one length rule, shared by the
    HTTP routes and the MCP tools so neither transport accepts what the other refuses."""
    if len(text) > limits.max_question_chars:
        return (f"{field}: {len(text)} characters is over the limit of {limits.max_question_chars} "
                "(api.max_question_chars); ask a shorter question")
    return None


def check_text(text: str, field: str, limits: ApiSettings) -> None:
    """422 `question_too_long` when `text` is over the configured limit."""
    reason = too_long(text, field, limits)
    if reason is not None:
        raise ApiError(422, "question_too_long", reason)


def check_k(k: int | None, limits: ApiSettings) -> None:
    if k is not None and not 1 <= k <= limits.max_k:
        raise ApiError(422, "k_out_of_range", f"k: {k} is out of range; use 1 to {limits.max_k} (api.max_k)")


async def valid_ask(body: Annotated[AskRequest, Body(openapi_examples=ASK_EXAMPLES)],
              settings: SettingsDep) -> AskRequest:
    check_text(body.question, "question", settings.api)
    check_k(body.k, settings.api)
    return body


async def valid_search(body: Annotated[SearchRequest, Body(openapi_examples=SEARCH_EXAMPLES)],
                 settings: SettingsDep) -> SearchRequest:
    check_text(body.query, "query", settings.api)
    check_k(body.k, settings.api)
    return body


async def valid_chat(body: Annotated[ChatRequest, Body(openapi_examples=CHAT_EXAMPLES)],
               settings: SettingsDep) -> ChatRequest:
    if len(body.messages) > settings.api.max_turns:
        raise ApiError(422, "too_many_turns",
                       f"messages: {len(body.messages)} messages is over the limit of "
                       f"{settings.api.max_turns} (api.max_turns); send only the recent turns")
    for i, message in enumerate(body.messages):  # every turn: earlier ones feed the rewritten question
        check_text(message.content, f"messages[{i}].content", settings.api)
    check_k(body.k, settings.api)
    return body


AskBody = Annotated[AskRequest, Depends(valid_ask)]
SearchBody = Annotated[SearchRequest, Depends(valid_search)]
ChatBody = Annotated[ChatRequest, Depends(valid_chat)]
