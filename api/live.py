"""Swapping indexes while serving: one rebuild at a time, the new index in, the old one retired.

`LiveIndex` serializes every rebuild the API starts (uploads, deletes) and every swap (those and
the reloader's), so two builds never race and an index is never swapped out twice. A request
holds the Index it started with; the swapped-out one is closed only `RETIRE_AFTER_S` later, so a
request in flight never fails. `BodyLimits` lets uploads past the small JSON body limit.
"""

from __future__ import annotations

import asyncio
import logging

from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from api.middleware import BodyLimit
from rag import BuildReport, Index, Settings, rebuild_corpus

log = logging.getLogger("rag.api")
RETIRE_AFTER_S = 5.0  # a swapped-out index is closed this long after the swap (questions take ms)


class LiveIndex:
    """The lock every rebuild and swap of one app takes, and the swap itself."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.lock = asyncio.Lock()

    def swap(self, index: Index) -> None:
        """Serve `index` from now on; close the previous one after the grace period."""
        old = self.app.state.index
        self.app.state.index, self.app.state.index_error = index, None
        if old is not None and old is not index:
            asyncio.get_running_loop().call_later(RETIRE_AFTER_S, old.close)
        log.info("index %s live: %d documents, %d chunks", index.build_id, len(index.documents),
                 len(index.chunks))

    async def rebuild(self, settings: Settings) -> BuildReport:
        """Rebuild the live corpus and swap the result in; returns once it answers questions."""
        async with self.lock:
            current = self.app.state.index
            encoder = current.embedder if current is not None else None  # loaded and warm already
            # The question encoder builds only when it makes the index's own vectors (same
            # precision): else the embedding cache would miss and every document be re-embedded.
            same = encoder is not None and \
                encoder.precision == current.manifest.get("model", {}).get("precision")
            report = await asyncio.to_thread(rebuild_corpus, settings, encoder if same else None)
            self.swap(await asyncio.to_thread(Index, settings, report.path, encoder))
        return report


class BodyLimits:
    """`BodyLimit` with a larger cap for `POST /documents` (uploads) than for every other route."""

    def __init__(self, app: ASGIApp, max_bytes: int, upload_bytes: int) -> None:
        self.small = BodyLimit(app, max_bytes)
        self.large = BodyLimit(app, upload_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        upload = scope["type"] == "http" and scope["method"] == "POST" and scope["path"] == "/documents"
        await (self.large if upload else self.small)(scope, receive, send)
