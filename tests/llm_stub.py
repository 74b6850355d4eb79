"""Tiny OpenAI-compatible HTTP servers for the generation tests (standard library only).

`StubServer` answers `POST /v1/chat/completions` with scripted replies, streamed as OpenAI's
`chat.completion.chunk` events, or misbehaves on purpose (`garbage`: 200 with non-JSON text;
`hang`: never answers). `RecordingProxy` forwards every request to a real server unchanged and
keeps the request bodies and raw replies, so a test can see what rag sent (the `response_format`
schema) and what the model said.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class _Base:
    """A threaded HTTP server on a free loopback port; `url` is its OpenAI base URL (…/v1)."""

    handler: type[BaseHTTPRequestHandler]

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        owner = self

        class Handler(self.handler):  # type: ignore[name-defined,misc]
            server_owner = owner

            def log_message(self, *args: Any) -> None:  # quiet
                pass

        self.httpd = _Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _StubHandler(BaseHTTPRequestHandler):
    server_owner: StubServer
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        body = json.dumps({"object": "list", "data": [{"id": "stub", "object": "model"}]}).encode()
        self._send(200, "application/json", body)

    def do_POST(self) -> None:
        owner = self.server_owner
        length = int(self.headers.get("content-length", 0))
        owner.requests.append(json.loads(self.rfile.read(length) or b"{}"))
        if owner.behaviour == "hang":
            time.sleep(owner.hang_s)
            return
        if owner.rejects_json_schema and owner.requests[-1].get("response_format", {}).get("type") == "json_schema":
            # what llama-cpp-python's server answers: its request model only knows text/json_object
            self._send(500, "application/json", json.dumps({"error": {"message": "1 validation error: "
                       "('body', 'response_format', 'type') Input should be 'text' or 'json_object'"}}).encode())
            return
        if owner.behaviour == "garbage":
            self._send(200, "text/plain", b"<html>this is not JSON at all</html>")
            return
        reply = owner.replies[min(len(owner.requests) - 1, len(owner.replies) - 1)]
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("connection", "close")
        self.end_headers()
        for i in range(0, len(reply), owner.piece):
            if owner.stall_after is not None and i >= owner.stall_after:
                time.sleep(owner.hang_s)
                return
            chunk = {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "stub",
                     "choices": [{"index": 0, "delta": {"content": reply[i:i + owner.piece]},
                                  "finish_reason": None}]}
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            self.wfile.flush()
            if owner.delay_s:
                time.sleep(owner.delay_s)
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()
        self.close_connection = True

    def _send(self, status: int, kind: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("content-type", kind)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class StubServer(_Base):
    """Scripted replies (the n-th request gets `replies[n]`, the last one repeats), sent in pieces
    of `piece` characters `delay_s` apart (going silent for `hang_s` after `stall_after`
    characters, when given); or `behaviour` "garbage" / "hang". With `rejects_json_schema` it
    refuses OpenAI's `json_schema` form with a 500, as llama-cpp-python's server does."""

    handler = _StubHandler

    def __init__(self, replies: list[str] | None = None, behaviour: str = "script", piece: int = 7,
                 delay_s: float = 0.0, hang_s: float = 30.0, stall_after: int | None = None,
                 rejects_json_schema: bool = False) -> None:
        self.replies = replies or ['{"answerable": false, "sentences": []}']
        self.behaviour = behaviour
        self.piece = piece
        self.delay_s = delay_s
        self.hang_s = hang_s
        self.stall_after = stall_after
        self.rejects_json_schema = rejects_json_schema
        super().__init__()


def reply(*sentences: tuple[int, str, str], answerable: bool = True) -> str:
    """A well-formed model reply: (passage, quote, sentence) triples."""
    return json.dumps({"answerable": answerable, "sentences": [
        {"passage": p, "quote": q, "sentence": s} for p, q, s in sentences]})


@contextlib.contextmanager
def generator(index: Any, **values: Any) -> Iterator[Any]:
    """The index's generator settings changed for one test (a loose support cosine for the fake
    encoder, a 10 s timeout, then `values`), restored afterwards."""
    section = index.settings.generator
    saved = section.model_dump()
    try:
        for key, value in {"support_cosine": 0.3, "timeout_s": 10.0, **values}.items():
            setattr(section, key, value)
        yield section
    finally:
        for key, value in saved.items():
            setattr(section, key, value)


class _ProxyHandler(BaseHTTPRequestHandler):
    server_owner: RecordingProxy
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self._forward(None)

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length", 0))
        body = self.rfile.read(length)
        try:
            self.server_owner.requests.append(json.loads(body))
        except ValueError:
            self.server_owner.requests.append({"unparsed": body.decode(errors="replace")})
        self._forward(body, len(self.server_owner.requests) - 1)

    def _forward(self, body: bytes | None, slot: int | None = None) -> None:
        headers = {k: v for k, v in self.headers.items() if k.lower() in ("content-type", "authorization")}
        target = self.server_owner.target + self.path
        with httpx.Client(timeout=None) as client, client.stream(
                "POST" if body is not None else "GET", target, content=body, headers=headers) as upstream:
            self.send_response(upstream.status_code)
            self.send_header("content-type", upstream.headers.get("content-type", "application/json"))
            self.send_header("connection", "close")
            self.end_headers()
            received = bytearray()
            try:
                for part in upstream.iter_raw():
                    received += part
                    self.wfile.write(part)
                    self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError, httpx.HTTPError):
                pass  # rag stopped reading (enough sentences, a refusal, its deadline) and the
                # server may then drop the stream: what arrived until then is kept
        if slot is not None:  # by request: rag may be on its next question before this one ends
            self.server_owner.responses[slot] = received.decode(errors="replace")
        self.close_connection = True


class RecordingProxy(_Base):
    """Forwards everything to `target` (a server root such as http://127.0.0.1:8080) and keeps
    each POST's request body in `requests` and its raw response in `responses` (keyed by the
    request's index in `requests`; present once the exchange is over)."""

    handler = _ProxyHandler

    def __init__(self, target: str) -> None:
        self.target = target.rstrip("/")
        self.responses: dict[int, str] = {}
        super().__init__()
