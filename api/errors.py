"""Every error leaves the API as `{"error": {"code", "message"}}`, whatever raised it.

Sources: `ApiError` (raised by the HTTP layer itself), `rag.errors.RagError` (its code mapped
to a status by `RAG_STATUS`), FastAPI validation errors (422), Starlette HTTP errors (404 unknown route, 405 wrong
method) and anything unexpected (500, details only in the server log).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from rag import RagError

log = logging.getLogger("rag.api")


class ApiError(Exception):
    """An error of the HTTP layer: a status, a stable code and a message a client can act on."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers


def error_body(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


def error_response(status: int, code: str, message: str,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error_body(code, message), status_code=status, headers=headers)


def error_bytes(code: str, message: str) -> bytes:
    """The error body for raw ASGI responses (middleware that answers before the app)."""
    return json.dumps(error_body(code, message), separators=(",", ":")).encode()


# rag's error codes (rag/errors.py) as HTTP statuses; a code not listed is a 500.
RAG_STATUS = {"invalid_input": 422, "not_found": 404, "index_missing": 503, "index_mismatch": 503,
              "index_busy": 409, "index_corrupt": 503, "nothing_indexed": 422, "model_unavailable": 503,
              "vector_store_unavailable": 503, "invalid_config": 500}

HTTP_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
              405: "method_not_allowed", 413: "body_too_large", 415: "unsupported_media_type",
              429: "too_many_requests"}


NOT_JSON = "the body is not valid JSON; send a JSON object with Content-Type: application/json"
# FastAPI's 400 detail when the body cannot be read as JSON at all (e.g. bytes that are not UTF-8)
FASTAPI_BODY_PARSE_ERROR = "There was an error parsing the body"


def describe_validation(exc: RequestValidationError) -> str:
    """One readable line per problem, naming the field: `body.k: Input should be ...`."""
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
        msg = err.get("msg", "invalid")
        if err.get("type") == "json_invalid":
            loc, msg = "body", NOT_JSON
        elif err.get("type") == "missing" and loc == "body":
            msg = "a JSON body is required; see /docs for an example"
        elif err.get("type") == "extra_forbidden":
            msg = "unknown field; see /docs for the fields this route accepts"
        elif msg.startswith("Value error, "):
            msg = msg.removeprefix("Value error, ")
        parts.append(f"{loc}: {msg}")
    return "; ".join(parts) or "the request is invalid; see /docs"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message, exc.headers)

    @app.exception_handler(RagError)
    async def _rag_error(request: Request, exc: RagError) -> JSONResponse:
        status = RAG_STATUS.get(exc.code, 500)
        if status >= 500:
            log.warning("%s %s failed: %s", request.method, request.url.path, exc.message)
        return error_response(status, exc.code, exc.message)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(422, "invalid_request", describe_validation(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400 and exc.detail == FASTAPI_BODY_PARSE_ERROR:
            # a body FastAPI cannot even decode (not UTF-8): the same 422 as any other bad JSON
            return error_response(422, "invalid_request", NOT_JSON)
        code = HTTP_CODES.get(exc.status_code, f"http_{exc.status_code}")
        if exc.status_code == 404:
            message = f"no such route: {request.method} {request.url.path}; the routes are listed at /docs"
        elif exc.status_code == 405:
            allowed = (exc.headers or {}).get("Allow", "")
            message = (f"{request.method} is not allowed on {request.url.path}"
                       + (f"; use {allowed}" if allowed else ""))
        else:
            message = str(exc.detail)
        return error_response(exc.status_code, code, message, exc.headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(500, "internal_error",
                              "the server failed on this request; the server log has the details")
