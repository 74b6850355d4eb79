"""Options and settings shared by the CLI's verbs (rag/cli.py, rag/cli_eval.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from rag.config import Settings, load_settings
from rag.ingest.files import check_corpus_folders

IndexDir = Annotated[Path | None, typer.Option("--index-dir", help="index folder [default: index/]")]


def settings_for(index_dir: Path | None = None, **overrides: Any) -> Settings:
    """The environment's settings with the CLI's overrides on top; a ConfigError (one line) when
    the upload folder overlaps a corpus folder, whatever the verb: that configuration would let
    the API overwrite and delete the user's own files."""
    values = {"index_dir": index_dir, **overrides}
    settings = load_settings().with_overrides(**values)
    check_corpus_folders(settings)
    return settings
