"""Export folders are found by a key computed from the model's files, without loading anything."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np

from rag.embed import model_files
from rag.embed.model_files import (
    EXPORT_INFO,
    FP32_FILE,
    TOKENIZER_FILE,
    export_key,
    read_export_folder,
    update_info,
    write_info,
)


def fake_model(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.safetensors").write_bytes(b"weights")
    (folder / "config.json").write_text("{}")
    return folder


def complete_export(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / FP32_FILE).write_bytes(b"graph")
    (folder / TOKENIZER_FILE).write_text("{}")
    write_info(folder, {"model": "m", "max_seq_length": 128, "dimension": 3, "probes": ["a", "b"],
                        "reference": [[1, 0, 0], [0, 1, 0]]})
    return folder


def test_the_key_changes_when_a_model_file_changes(tmp_path):
    model = fake_model(tmp_path / "model")
    before = export_key(model)
    assert export_key(model) == before
    (model / "model.safetensors").write_bytes(b"other weights, longer")
    assert export_key(model) != before


def test_the_key_differs_between_model_folders(tmp_path):
    assert export_key(fake_model(tmp_path / "a")) != export_key(fake_model(tmp_path / "b"))


def test_a_complete_export_is_read_and_an_incomplete_one_is_not(tmp_path):
    folder = complete_export(tmp_path / "export")
    export = read_export_folder(folder)
    assert export is not None and export.dimension == 3 and export.max_seq_length == 128
    assert export.probes == ("a", "b") and np.array_equal(export.reference, np.eye(3)[:2])
    assert export.int8_min_cosine is None  # no int8 copy yet
    (folder / TOKENIZER_FILE).unlink()
    assert read_export_folder(folder) is None


def test_int8_is_reported_only_with_its_file(tmp_path):
    folder = complete_export(tmp_path / "export")
    update_info(folder, int8_min_cosine=0.99)
    assert read_export_folder(folder).int8_min_cosine is None
    (folder / model_files.INT8_FILE).write_bytes(b"int8 graph")
    assert read_export_folder(folder).int8_min_cosine == 0.99


def test_a_damaged_export_json_is_no_export(tmp_path):
    folder = complete_export(tmp_path / "export")
    (folder / EXPORT_INFO).write_text("{not json")
    assert read_export_folder(folder) is None
    (folder / EXPORT_INFO).write_text(json.dumps({"model": "m"}))
    assert read_export_folder(folder) is None


def test_exports_live_under_the_xdg_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    model = fake_model(tmp_path / "model")
    assert model_files.export_dir(str(model)) == tmp_path / "rag" / "onnx" / export_key(model.resolve())
    assert os.fspath(model_files.cache_dir()).startswith(os.fspath(tmp_path))


def test_finding_an_export_imports_neither_torch_nor_transformers():
    import subprocess  # in a fresh process: this one may have imported torch already

    code = ("import sys; from rag.embed.model_files import read_export; read_export('all-MiniLM-L6-v2');"
            "from rag.embed import load_query_encoder;"
            "print(sorted(m for m in ('torch', 'transformers', 'sentence_transformers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[2])
    assert out.stdout.strip() == "[]"
