"""Shared fixtures: a real index of seeds/ built once per session, and real uvicorn servers.

`seeds_index` builds with the real model, FAISS and BM25 into a temporary folder. `start_server`
(`api.launch`) launches `python -m uvicorn api.app:create_app --factory` in a subprocess on a free port with the
given `RAG_*` environment, waits until /health reports the index loaded, and stops every server it
started at the end of the session. `server` is one such server over `seeds_index`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from api.launch import Server, free_port, launch_server
from rag import Index, Settings, build_index, load_settings, open_index

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
ARTIFACTS = ROOT / "test-artifacts"


@pytest.fixture(scope="session")
def seeds_index(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings whose `index_dir` holds a freshly built index of seeds/ (built once per session)."""
    settings = load_settings(index_dir=tmp_path_factory.mktemp("seeds") / "index")
    build_index(settings, [SEEDS])
    return settings


@pytest.fixture(scope="session")
def seeds_loaded(seeds_index: Settings) -> Index:
    """The seeds index opened in this process (for comparing the API with the library)."""
    return open_index(seeds_index)


@pytest.fixture(scope="session")
def start_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Server]]:
    """A factory: `start_server(index_dir, env={...}, wait_for_index=True) -> Server`."""
    started: list[Server] = []
    log_dir = tmp_path_factory.mktemp("server-logs")

    def start(index_dir: Path, env: dict[str, str] | None = None, wait_for_index: bool = True) -> Server:
        server = launch_server(Path(index_dir), log_dir, env, wait_for_index)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def server(seeds_index: Settings, start_server: Callable[..., Server]) -> Server:
    """A real server over the seeds index with default settings and no API key."""
    return start_server(seeds_index.index_dir)


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """test-artifacts/ (git-ignored) for screenshots and reports."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


__all__ = ["Server", "free_port", "launch_server"]  # re-exported for tests that import them from here
