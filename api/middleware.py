"""Plain ASGI middlewares: an access log line per request, the Host and cross-site checks, the body
size limit.

Plain ASGI rather than `BaseHTTPMiddleware` so streamed responses pass through untouched and the
checks can answer before the application reads anything.

The Host check defeats DNS rebinding: a web page whose name is re-pointed at 127.0.0.1 makes the
browser send `Host: evil.example`, which is refused, so the page cannot read a server that has
no API key. Loopback names, the configured bind host and `api.allowed_hosts` are accepted.

The cross-site check defeats cross-site request forgery: a page on another site can make the
browser POST a form or a multipart upload here without any CORS preflight, so a write (POST, PUT,
PATCH, DELETE) whose `Origin` is not this server, or marked `Sec-Fetch-Site: cross-site`, is
refused with 403 unless `api.cors_origins` lets that origin in.
"""

from __future__ import annotations

import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import error_bytes
from rag import Settings

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")

access_log = logging.getLogger("rag.access")


class AccessLog:
    """Logs `METHOD path status latency` to the `rag.access` logger once a response is complete."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            ms = (time.perf_counter() - started) * 1000
            access_log.info("%s %s %d %.1fms", scope["method"], scope["path"], status, ms,
                            extra={"method": scope["method"], "path": scope["path"], "status": status,
                                   "latency_ms": round(ms, 2)})


class BodyLimit:
    """Refuses bodies over `max_bytes` with 413: by Content-Length up front, and by counting the
    bytes actually received (a chunked body, or a Content-Length that lies)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None:
            try:
                too_big = int(declared) > self.max_bytes
            except ValueError:
                await self.refuse(send, 400, "bad_request", "the Content-Length header is not a number")
                return
            if too_big:
                await self.refuse_size(send)
                return
        # Read the (bounded) body now and replay it, so an oversize body never reaches the app.
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self.refuse_size(send)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def refuse_size(self, send: Send) -> None:
        await self.refuse(send, 413, "body_too_large",
                          f"the request body is over {self.max_bytes} bytes (api.max_body_bytes); "
                          "send a shorter question or fewer chat turns")

    @staticmethod
    async def refuse(send: Send, status: int, code: str, message: str) -> None:
        body = error_bytes(code, message)
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})


def allowed_hosts(settings: Settings) -> frozenset[str]:
    """Host names (no port, lower case) the server answers to; '*' in the setting allows any."""
    names = {*LOOPBACK_NAMES, settings.api.host, *settings.api.allowed_hosts}
    return frozenset(name.strip().lower().strip("[]") for name in names if name.strip())


def host_name(header: str) -> str:
    """`example.org:8000` -> `example.org`; `[::1]:8000` -> `::1`."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:header.find("]")] if "]" in header else header
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


class HostCheck:
    """Refuses requests whose Host header names none of `allowed` with 400 and a JSON error."""

    def __init__(self, app: ASGIApp, allowed: frozenset[str]) -> None:
        self.app = app
        self.allowed = allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or "*" in self.allowed:
            await self.app(scope, receive, send)
            return
        header = dict(scope["headers"]).get(b"host", b"").decode("latin-1")
        name = host_name(header)
        if name in self.allowed:
            await self.app(scope, receive, send)
            return
        await BodyLimit.refuse(send, 400, "host_not_allowed",
                               f"the Host header {header[:100]!r} is not one this server answers to "
                               f"({', '.join(sorted(self.allowed))}); add the name to "
                               "RAG_API__ALLOWED_HOSTS if you reach the server by it")


UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def origin_netloc(origin: str) -> str | None:
    """`http://Example.org:8000` -> `example.org:8000` (the default port dropped); None for an
    origin that names no host (`null`, from a sandboxed frame or a file: page)."""
    scheme, sep, rest = origin.strip().lower().partition("://")
    if not sep or not rest or "/" in rest:
        return None
    default = {"http": ":80", "https": ":443"}.get(scheme)
    return rest.removesuffix(default) if default else rest


class CrossSiteCheck:
    """Refuses requests that write (POST, PUT, PATCH, DELETE) sent by another web site: 403.

    A form or `fetch` on any page the user visits can POST to a server on 127.0.0.1 (multipart
    and text/plain bodies need no CORS preflight), and the browser says where it comes from: the
    `Origin` header, and `Sec-Fetch-Site: cross-site`. A request is let through when it has
    neither (curl, scripts, SDKs), when its Origin is this server itself (the Host it was sent to,
    or a name it answers to on that port: the chat page's own requests), or when the Origin is one
    `api.cors_origins` lets in explicitly.
    """

    def __init__(self, app: ASGIApp, allowed: frozenset[str], cors_origins: list[str]) -> None:
        self.app = app
        self.allowed = allowed - {"*"}  # any Host allowed is no licence for any site
        self.cors = {o.strip().lower().rstrip("/") for o in cors_origins}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in UNSAFE_METHODS:
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        origin = headers.get(b"origin", b"").decode("latin-1").strip()
        fetch_site = headers.get(b"sec-fetch-site", b"").decode("latin-1").strip().lower()
        host = headers.get(b"host", b"").decode("latin-1")
        if self.foreign(origin, fetch_site, host):
            await BodyLimit.refuse(send, 403, "cross_site_refused",
                                   f"refused: a request that changes data sent by another site "
                                   f"(Origin {origin[:100] or 'not given'!r}, Sec-Fetch-Site "
                                   f"{fetch_site[:30] or 'not given'!r}); only this server's own pages may "
                                   "send it, or an origin listed in RAG_API__CORS_ORIGINS")
            return
        await self.app(scope, receive, send)

    def foreign(self, origin: str, fetch_site: str, host: str) -> bool:
        """Whether the browser says another site sent this request."""
        if origin and ("*" in self.cors or origin.lower().rstrip("/") in self.cors):
            return False  # explicitly let in by the CORS setting
        if origin:
            netloc = origin_netloc(origin)
            if netloc is None:
                return True
            if netloc != host.strip().lower() and not self.same_server(netloc, host):
                return True
        return fetch_site == "cross-site"

    def same_server(self, netloc: str, host: str) -> bool:
        """Another name of this server on the same port (`localhost:8000` for `127.0.0.1:8000`)."""
        def port(value: str) -> str:
            value = value.strip().lower()
            end = value.rfind("]")
            tail = value[end + 1:] if end >= 0 else value
            return tail.rsplit(":", 1)[1] if ":" in tail and tail.count(":") == 1 else ""

        return host_name(netloc) in self.allowed and port(netloc) == port(host)
