"""The FastAPI application: `create_app(settings)` for tests and `uvicorn --factory`.

The index is opened once, in the lifespan, and the embedding model warmed so the first question is
as fast as the rest. While serving, a background task looks every `api.reload_interval_s` seconds
(0 = never) for a newer build behind `index_dir/current` and swaps it in when it opens cleanly; a
build that fails to open is logged and the old index keeps serving. Without an index at start-up
the server still starts: /health says `degraded` and the other routes answer 503 until one is built.

Public: `/`, `/static/*`, `/health`, `/docs`, `/openapi.json`. Everything else requires
`Authorization: Bearer <RAG_API_KEY>` when an API key is set.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from api.errors import install_error_handlers
from api.middleware import AccessLog, BodyLimit
from api.routes import api, public
from rag.config import Settings, load_settings
from rag.errors import RagError
from rag.indexing import Index, current_build, open_index

STATIC = Path(__file__).parent / "static"
log = logging.getLogger("rag.api")

DESCRIPTION = """Ask questions of a folder of documents; every answer cites its sources.

Answers follow one contract (`rag ask --json`): the answer text with `[n]` markers, and for each
`n` a citation whose `quote` is exactly `text[start:end]` of the document `doc_id`
(`GET /documents/{doc_id}?start=&end=` shows it in place). When the documents do not answer,
`abstained` is true and `related` lists the closest passages.

Errors are always `{"error": {"code": "...", "message": "..."}}`.
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    """The application for `settings` (default: from the `RAG_*` environment)."""
    settings = settings or load_settings()
    configure_logging()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.index, app.state.index_error = None, None
        try:
            app.state.index = await asyncio.to_thread(load_index, settings)
        except RagError as exc:
            app.state.index_error = exc
            log.error("serving without an index: %s", exc.message)
        reloader = None
        if settings.api.reload_interval_s > 0:
            reloader = asyncio.create_task(reload_loop(app, settings))
        try:
            yield
        finally:
            if reloader is not None:
                reloader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reloader

    app = FastAPI(title="rag", version="0.1.0", description=DESCRIPTION, lifespan=lifespan)
    app.state.settings = settings
    app.state.index, app.state.index_error = None, None
    install_error_handlers(app)
    app.include_router(public)
    app.include_router(api)

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    # Each middleware added wraps the ones before: AccessLog(CORS(BodyLimit(app))), so the access
    # log sees every response and a 413 still carries CORS headers a browser needs to read it.
    app.add_middleware(BodyLimit, max_bytes=settings.api.max_body_bytes)
    if settings.api.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=settings.api.cors_origins,
                           allow_methods=["GET", "POST"], allow_headers=["Authorization", "Content-Type"])
    app.add_middleware(AccessLog)
    return app


def load_index(settings: Settings) -> Index:
    """Open the current index and warm the model (the first encode loads weights and kernels)."""
    index = open_index(settings)
    index.embedder.encode_query("warm up")
    log.info("index %s loaded: %d documents, %d chunks", index.build_id, len(index.documents),
             len(index.chunks))
    return index


async def reload_loop(app: FastAPI, settings: Settings) -> None:
    """Swap in a new build when `current` points somewhere else; keep the old one on any failure."""
    failed: Path | None = None  # a build that would not open is tried again only once it changes
    while True:
        await asyncio.sleep(settings.api.reload_interval_s)
        folder = None
        try:
            folder = await asyncio.to_thread(current_build, settings)
            loaded = app.state.index
            if folder == failed or (loaded is not None and folder == loaded.folder):
                continue
            app.state.index = await asyncio.to_thread(load_index, settings)
            app.state.index_error = None
        except Exception as exc:  # noqa: BLE001 - a broken build must not stop the reloader
            failed = folder
            message = exc.message if isinstance(exc, RagError) else repr(exc)
            if app.state.index is None:
                app.state.index_error = exc
            elif folder is not None:
                log.warning("index %s not loaded, still serving %s: %s", folder.name,
                            app.state.index.build_id, message)


def configure_logging() -> None:
    """Send `rag.*` INFO lines (access log, index loads) to stderr unless logging is configured."""
    logger = logging.getLogger("rag")
    if logger.handlers or logging.getLogger().handlers:
        return
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
