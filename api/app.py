"""The FastAPI application: `create_app(settings)` for tests and `uvicorn --factory`.

The index is opened once, in the lifespan, and the embedding model warmed so the first question is
as fast as the rest. While serving, a background task looks every `api.reload_interval_s` seconds
(0 = never) for a newer build behind `index_dir/current` and swaps it in when it opens cleanly; a
build that fails to open is logged and the old index keeps serving. Without an index at start-up
the server still starts: /health says `degraded` and the other routes answer 503 until one is built.

Public: `/`, `/static/*`, `/health`, `/docs`, `/docs-assets/*`, `/openapi.json`.
Everything else requires `Authorization: Bearer <RAG_API_KEY>` when an API key is set.

/docs (Swagger UI) works offline: its script, style sheet and icon are served from /docs-assets/
out of the `fastapi-offline` package (Swagger UI 5, which reads OpenAPI 3.1) instead of FastAPI's
default CDN links, and Swagger UI's online validator badge is turned off. There is no /redoc: the
ReDoc bundle fetches its logo from its vendor's CDN.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import fastapi_offline
from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles

from api.documents import live_docs
from api.errors import install_error_handlers
from api.live import BodyLimits, LiveIndex
from api.mcp_server import mount_mcp
from api.middleware import AccessLog, CrossSiteCheck, HostCheck, allowed_hosts
from api.openai_routes import v1
from api.routes import api, public
from rag import (
    Index,
    RagError,
    Settings,
    check_corpus_folders,
    cores,
    current_build,
    load_settings,
    open_index,
)

STATIC = Path(__file__).parent / "static"
DOCS_ASSETS = Path(fastapi_offline.__file__).parent / "static"  # swagger-ui-bundle.js, .css, favicon
DOCS_ASSETS_URL = "/docs-assets"
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
    check_corpus_folders(settings)  # an upload folder overlapping the user's folders: refuse to start
    configure_logging()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Route handlers are plain `def` and run on AnyIO's worker threads (40 by default). On a
        # small machine 16 CPU-bound requests at once then fight over the GIL and the cores and
        # throughput drops; with 2 x cores threads the rest queue and throughput holds.
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.api.threads or 2 * cores()
        app.state.index, app.state.index_error = None, None
        try:
            app.state.index = await asyncio.to_thread(load_index, settings)
        except Exception as exc:  # noqa: BLE001 - any unreadable index: serve degraded, /health says why
            app.state.index_error = exc
            log.error("serving without an index: %s", getattr(exc, "message", repr(exc)))
        reloader = None
        if settings.api.reload_interval_s > 0:
            reloader = asyncio.create_task(reload_loop(app, settings))
        try:
            async with mcp_sessions():
                yield
        finally:
            if reloader is not None:
                reloader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reloader
            if app.state.index is not None:
                app.state.index.close()

    app = FastAPI(title="rag", version="0.1.0", description=DESCRIPTION, lifespan=lifespan,
                  docs_url=None, redoc_url=None)
    app.state.settings = settings
    app.state.index, app.state.index_error = None, None
    app.state.live = LiveIndex(app)  # one rebuild or swap at a time (uploads, deletes, reloader)
    install_error_handlers(app)
    app.include_router(public)
    app.include_router(api)
    app.include_router(v1)
    app.include_router(live_docs)
    mcp_sessions = mount_mcp(app, settings)  # /mcp: the MCP tools over streamable HTTP

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    install_docs(app)
    declare_auth(app, required=settings.api_key is not None)
    # Each middleware added wraps the ones before: AccessLog(HostCheck(CrossSiteCheck(CORS(BodyLimit(app))))),
    # so the access log sees every response, a 413 still carries CORS headers a browser needs to
    # read it, and a write sent by another site is refused before its body is read.
    app.add_middleware(BodyLimits, max_bytes=settings.api.max_body_bytes,
                       upload_bytes=int(settings.api.max_upload_mb * 2**20))
    if settings.api.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=settings.api.cors_origins,
                           allow_methods=["GET", "POST", "DELETE"], allow_headers=["Authorization", "Content-Type"])
    app.add_middleware(CrossSiteCheck, allowed=allowed_hosts(settings), cors_origins=settings.api.cors_origins)
    app.add_middleware(HostCheck, allowed=allowed_hosts(settings))
    app.add_middleware(AccessLog)
    return app


def install_docs(app: FastAPI) -> None:
    """/docs with every asset served by this server, so it works with no network."""
    app.mount(DOCS_ASSETS_URL, StaticFiles(directory=DOCS_ASSETS), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}", title="rag - API docs",
            swagger_js_url=f"{root}{DOCS_ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{DOCS_ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{root}{DOCS_ASSETS_URL}/favicon.png",
            # no badge image fetched from validator.swagger.io
            swagger_ui_parameters={"validatorUrl": None})


def declare_auth(app: FastAPI, required: bool) -> None:
    """Without an API key the bearer scheme the routes declare is optional: each operation's
    `security` then also lists `{}` (no authentication), as OpenAPI spells it."""
    generate = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            spec = generate()
            if not required:
                for operations in spec.get("paths", {}).values():
                    for operation in operations.values():
                        if operation.get("security"):
                            operation["security"].append({})
        return app.openapi_schema

    app.openapi = openapi


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
            async with app.state.live.lock:  # not while an upload's rebuild is swapping its own in
                loaded = app.state.index
                if folder == failed or (loaded is not None and folder == loaded.folder):
                    continue
                app.state.live.swap(await asyncio.to_thread(load_index, settings))
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
