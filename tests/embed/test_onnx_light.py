"""The ONNX encoder without PyTorch: same tokens and vectors as PyTorch, found from the cache alone.

Real bundled model: the export is made by the PyTorch `Embedder` and then used on its own.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rag.config import EmbeddingSettings
from rag.embed import loading
from rag.embed.loading import load_query_encoder
from rag.embed.model_files import EXPORT_INFO, cache_dir, read_export, update_info
from rag.embed.onnx_encoder import OnnxEncoder
from rag.embed.torch_encoder import Embedder

pytestmark = pytest.mark.slow  # real model

ROOT = Path(__file__).resolve().parents[2]
SEED_TEXTS = [p.read_text() for p in sorted((ROOT / "seeds").glob("*.txt"))]


@pytest.fixture(scope="module")
def torch_fp32() -> Embedder:
    embedder = Embedder(EmbeddingSettings(precision="fp32"))
    embedder.prepare_serving()
    return embedder


@pytest.fixture(scope="module")
def light(torch_fp32) -> OnnxEncoder:
    export = read_export(torch_fp32.name)
    assert export is not None, "prepare_serving must leave the export in the cache"
    return OnnxEncoder(export)


def test_token_counts_and_splits_equal_the_pytorch_tokenizer(torch_fp32, light):
    sentences = [s for text in SEED_TEXTS for s in text.split(". ")][:400]
    assert light.count_tokens(sentences) == torch_fp32.count_tokens(sentences)
    hf = torch_fp32.tokenizer(sentences, add_special_tokens=False)["input_ids"]
    assert light.count_tokens(sentences) == [len(ids) for ids in hf]
    for text in SEED_TEXTS:
        assert light.split_tokens(text, 100) == torch_fp32.split_tokens(text, 100)


def test_bulk_and_question_vectors_equal_pytorch_fp32(torch_fp32, light):
    texts = [text[i:i + 900] for text in SEED_TEXTS for i in range(0, 4000, 700)][:40]
    reference = torch_fp32.encode(texts)
    bulk = light.encode(texts)
    assert np.sum(bulk * reference, axis=1).min() >= 0.9999
    single = np.vstack([light.encode_query(t) for t in texts[:6]])
    assert np.sum(single * reference[:6], axis=1).min() >= 0.9999
    assert light.key == torch_fp32.key  # fp32 vectors share the embedding cache


def test_texts_over_the_window_are_truncated_like_pytorch(torch_fp32, light):
    long_text = " ".join(SEED_TEXTS)[:20000]
    assert float(light.encode_query(long_text) @ torch_fp32.encode_queries([long_text])[0]) >= 0.9999


def test_question_encoder_comes_from_the_cache_without_torch(torch_fp32):
    code = ("import sys; from rag.config import EmbeddingSettings; from rag.embed import load_query_encoder;"
            "e = load_query_encoder(EmbeddingSettings()); v = e.encode_query('Which generals negotiate?');"
            "print(type(e).__name__, 'torch' in sys.modules, round(float(v @ v), 4))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.split() == ["OnnxEncoder", "False", "1.0"]


def test_torch_setting_or_a_tampered_export_falls_back_to_pytorch(torch_fp32, tmp_path, monkeypatch):
    assert load_query_encoder(EmbeddingSettings(query_backend="torch")).backend == "torch"
    export = read_export(torch_fp32.name)
    copy = tmp_path / "rag" / "onnx" / export.folder.name
    shutil.copytree(export.folder, copy)
    update_info(copy, reference=(-export.reference).tolist())  # no longer what PyTorch computes
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(loading, "_LIGHT", {})
    assert cache_dir() == copy.parent and (copy / EXPORT_INFO).is_file()
    encoder = load_query_encoder(EmbeddingSettings(precision="fp32"))
    assert encoder.backend == "torch"
