"""Options and settings shared by the CLI's verbs (rag/cli.py, rag/cli_eval.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from rag.config import Settings, load_settings

IndexDir = Annotated[Path | None, typer.Option("--index-dir", help="index folder [default: index/]")]


def settings_for(index_dir: Path | None = None, **overrides: Any) -> Settings:
    """The environment's settings with the CLI's overrides on top."""
    values = {"index_dir": index_dir, **overrides}
    return load_settings().with_overrides(**values)
