"""Talking to an OpenAI-compatible model server: a streamed chat completion under a hard deadline,
and the JSON answer read object by object as it arrives.

The official `openai` client is used, so llama.cpp's `llama-server`, Ollama, vLLM, LM Studio and
hosted endpoints all work. Two things here are not the client's:

- **A deadline for the whole reply.** The client's timeout bounds each read, not the reply, so a
  server trickling tokens could hold a question for minutes. The reply is read on a worker thread;
  the caller waits for pieces only until the deadline, then tells the worker to stop and gives up
  (`GenerationFailed("timeout")`). The worker ends by itself at the next piece or read timeout.
- **Sentences before the reply ends.** `ObjectStream` pulls each finished `{...}` out of the
  `"sentences": [...]` array as soon as its closing brace arrives, so a sentence can be verified
  and shown while the model is still writing the next one.
"""

from __future__ import annotations

import json
import queue
import re
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from rag.config import GeneratorSettings

if TYPE_CHECKING:
    import openai

# `openai` is imported on first use: answering never pays for it while generation is off.
_CLIENTS: dict[tuple[str, str], openai.OpenAI] = {}
_CLIENTS_LOCK = threading.Lock()
ANSWERABLE = re.compile(r'"answerable"\s*:\s*(true|false)')
SENTENCES = re.compile(r'"sentences"\s*:\s*\[')


class GenerationFailed(Exception):
    """The server gave no usable reply; `reason` is the answer's `fallback` label."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


def client_for(settings: GeneratorSettings) -> openai.OpenAI:
    """One client (connection pool) per server and key; retries are ours, not the client's."""
    import openai

    key = settings.api_key.get_secret_value() if settings.api_key else "not-needed"
    with _CLIENTS_LOCK:
        client = _CLIENTS.get((settings.base_url, key))
        if client is None:
            client = _CLIENTS[(settings.base_url, key)] = openai.OpenAI(
                base_url=settings.base_url, api_key=key, max_retries=0)
        return client


def failure(exc: BaseException) -> GenerationFailed:
    """The fallback label for an exception raised while asking the server."""
    import openai

    if isinstance(exc, GenerationFailed):
        return exc
    if isinstance(exc, openai.APITimeoutError):
        return GenerationFailed("timeout", str(exc))
    if isinstance(exc, openai.APIConnectionError):
        return GenerationFailed("unreachable", str(exc))
    if isinstance(exc, openai.APIStatusError):
        if exc.status_code in (400, 422, 500) and "response_format" in str(exc):
            return GenerationFailed("schema rejected", str(exc)[:300])
        return GenerationFailed(f"server error {exc.status_code}", str(exc)[:300])
    return GenerationFailed("malformed", f"{type(exc).__name__}: {exc}"[:300])


def stream_reply(settings: GeneratorSettings, messages: list[dict[str, str]],
                 response_format: dict[str, Any], deadline: float) -> Iterator[str]:
    """The pieces of the model's reply as they arrive; `GenerationFailed` when the server cannot
    be reached, answers with an error, or the deadline (a `time.monotonic()` value) passes.

    Leaving the loop early (or the deadline) tells the worker to close the connection."""
    pieces: queue.Queue[tuple[str, Any]] = queue.Queue()
    stop = threading.Event()
    timeout = max(deadline - time.monotonic(), 0.05)

    def work() -> None:
        try:
            stream = client_for(settings).chat.completions.create(
                model=settings.model, messages=messages, response_format=response_format,  # type: ignore[arg-type]
                max_tokens=settings.max_tokens, temperature=settings.temperature, stream=True,
                timeout=timeout)
            try:
                for chunk in stream:
                    if stop.is_set():
                        break
                    piece = chunk.choices[0].delta.content if chunk.choices else None
                    if piece:
                        pieces.put(("text", piece))
            finally:
                stream.close()
            pieces.put(("end", None))
        except BaseException as exc:  # noqa: BLE001 - every failure goes back to the caller
            pieces.put(("error", exc))

    threading.Thread(target=work, name="rag-generate", daemon=True).start()
    try:
        while True:
            left = deadline - time.monotonic()
            try:
                kind, value = pieces.get(timeout=max(left, 0.0)) if left > 0 else pieces.get_nowait()
            except queue.Empty:
                raise GenerationFailed("timeout", f"no complete reply within {settings.timeout_s}s") from None
            if kind == "end":
                return
            if kind == "error":
                raise failure(value)
            yield value
    finally:
        stop.set()


class ObjectStream:
    """Reads the answer JSON incrementally: `answerable` once stated, and each finished object of
    the `sentences` array as soon as it is complete (see the module docstring)."""

    def __init__(self) -> None:
        self.text = ""
        self.answerable: bool | None = None
        self.items: list[Any] = []
        self._cursor: int | None = None  # where the next array element starts, once "[" is seen
        self._closed = False
        self._decoder = json.JSONDecoder()

    def feed(self, piece: str) -> list[Any]:
        """Add a piece of the reply; returns the array elements completed by it."""
        self.text += piece
        if self.answerable is None and (match := ANSWERABLE.search(self.text)):
            self.answerable = match.group(1) == "true"
        if self._cursor is None and (match := SENTENCES.search(self.text)):
            self._cursor = match.end()
        new: list[Any] = []
        while self._cursor is not None and not self._closed:
            at = self._cursor
            while at < len(self.text) and self.text[at] in " \t\r\n,":
                at += 1
            if at >= len(self.text):
                break
            if self.text[at] == "]":
                self._closed = True
                break
            try:
                item, end = self._decoder.raw_decode(self.text, at)
            except json.JSONDecodeError:
                break  # not finished yet (or broken: `finish` decides)
            new.append(item)
            self.items.append(item)
            self._cursor = end
        return new

    def finish(self) -> dict[str, Any] | None:
        """The whole reply as a JSON object, or None when it is not one (cut off, or garbage)."""
        try:
            whole = json.loads(self.text)
        except json.JSONDecodeError:
            match = re.search(r"\{.*\}", self.text, re.DOTALL)  # JSON wrapped in prose or a fence
            try:
                whole = json.loads(match.group(0)) if match else None
            except json.JSONDecodeError:
                whole = None
        return whole if isinstance(whole, dict) else None
