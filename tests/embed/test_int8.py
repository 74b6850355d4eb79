"""precision=int8: the per-channel quantized copy of the export, checked against fp32, no PyTorch.

Real bundled model (the fp32 export is made once by the PyTorch Embedder if missing).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rag.config import EmbeddingSettings, load_settings
from rag.embed import loading, quantize
from rag.embed.loading import load_encoder
from rag.embed.model_files import INT8_FILE, read_export, read_export_folder
from rag.embed.onnx_encoder import OnnxEncoder
from rag.embed.torch_encoder import Embedder
from rag.errors import ModelUnavailable

pytestmark = pytest.mark.slow  # real model

ROOT = Path(__file__).resolve().parents[2]
TEXTS = [s for p in sorted((ROOT / "seeds").glob("*.txt")) for s in p.read_text().split(". ") if len(s) > 40][:120]


@pytest.fixture(scope="module")
def fp32() -> Embedder:
    embedder = Embedder(EmbeddingSettings(precision="fp32"))
    embedder.prepare_serving()
    return embedder


@pytest.fixture(scope="module")
def int8(fp32) -> OnnxEncoder:
    encoder = load_encoder(EmbeddingSettings(precision="int8"))
    assert isinstance(encoder, OnnxEncoder)
    return encoder


def test_int8_vectors_are_close_to_fp32_but_not_equal(fp32, int8):
    a, b = fp32.encode(TEXTS), int8.encode(TEXTS)
    cosines = np.sum(a * b, axis=1)
    assert cosines.min() >= quantize.INT8_MIN_COSINE and cosines.mean() >= 0.99, (cosines.min(), cosines.mean())
    assert cosines.max() < 0.99999, "the int8 graph should really change the arithmetic"
    assert int8.key != fp32.key and int8.precision == "int8"  # the cache never mixes the two


def test_the_int8_copy_is_recorded_with_its_measured_cosine(int8):
    export = read_export(int8.name)
    assert export.int8_path.is_file() and export.int8_min_cosine >= quantize.INT8_MIN_COSINE
    assert export.int8_path.stat().st_size < export.fp32_path.stat().st_size / 3


def test_questions_of_an_int8_encoder_stay_fp32(fp32, int8):
    question = "How far had Zaluzhny's troops advanced?"
    assert float(int8.encode_query(question) @ fp32.encode_queries([question])[0]) >= 0.9999


def test_an_int8_build_runs_without_torch(int8, tmp_path):
    code = ("import sys; from pathlib import Path; from rag import build_index, load_settings;"
            f"s = load_settings(index_dir=Path({str(tmp_path / 'index')!r}))"
            ".with_overrides(**{'embedding.precision': 'int8'});"
            "r = build_index(s, [Path('seeds')]); import json;"
            "m = json.loads((r.path / 'manifest.json').read_text());"
            "print(r.embedded == r.chunks + r.sentences, m['model']['precision'], "
            "m['settings']['embedding.precision'], 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["True", "int8", "int8", "False"]


def test_a_copy_below_the_cosine_floor_is_refused(int8, tmp_path, monkeypatch):
    export = read_export(int8.name)
    copy = tmp_path / "rag" / "onnx" / export.folder.name
    shutil.copytree(export.folder, copy)
    (copy / INT8_FILE).unlink()
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(loading, "_LIGHT", {})
    monkeypatch.setattr(quantize, "INT8_MIN_COSINE", 0.99999)
    with pytest.raises(ModelUnavailable, match="RAG_EMBEDDING__PRECISION=fp32"):
        load_encoder(load_settings().embedding.model_copy(update={"precision": "int8"}))
    assert not (copy / INT8_FILE).exists()
    assert read_export_folder(copy).int8_min_cosine is None
