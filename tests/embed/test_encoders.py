"""The fast paths of embedding: ONNX question encoder, bf16 autocast, precision choice, build stages.

All with the real bundled model; the ONNX export is checked against PyTorch, not assumed.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import numpy as np
import pytest

from rag import hardware
from rag.config import EmbeddingSettings, load_settings
from rag.embed import torch_encoder as embedding
from rag.embed.model_files import cache_dir, read_export
from rag.embed.onnx_encoder import OnnxEncoder
from rag.embed.onnx_export import exportable
from rag.embed.torch_encoder import Embedder, resolve_precision
from rag.errors import IndexMismatch
from rag.index.manifest import check_manifest, index_fingerprint

pytestmark = pytest.mark.slow  # real model, index, server or browser (not in make test-fast)

ROOT = Path(__file__).resolve().parents[2]
QUESTIONS = [json.loads(line)["question"] for line in (ROOT / "eval" / "seeds.jsonl").read_text().splitlines()
             if line.strip()]


@pytest.fixture(scope="module")
def onnx_embedder() -> Embedder:
    return Embedder(EmbeddingSettings(query_backend="auto"))


@pytest.fixture(scope="module")
def torch_embedder() -> Embedder:
    return Embedder(EmbeddingSettings(query_backend="torch"))


def test_onnx_encoder_is_used_and_matches_pytorch(onnx_embedder, torch_embedder):
    assert isinstance(onnx_embedder.query_encoder, OnnxEncoder)
    assert torch_embedder.query_encoder is None
    for question in QUESTIONS:
        fast = onnx_embedder.encode_queries([question])[0]
        reference = torch_embedder.encode_queries([question])[0]
        assert float(fast @ reference) >= 0.9999, question
        assert abs(float(np.linalg.norm(fast)) - 1.0) < 1e-5


def test_onnx_batch_of_mixed_lengths_matches_one_by_one(onnx_embedder):
    texts = [QUESTIONS[0], "Zaluzhny", QUESTIONS[5] * 3]
    together = onnx_embedder.encode_queries(texts)
    for text, row in zip(texts, together, strict=True):
        assert float(row @ onnx_embedder.encode_queries([text])[0]) >= 0.99999


def test_onnx_encoder_is_safe_from_many_threads(onnx_embedder):
    expected = {q: onnx_embedder.encode_queries([q])[0] for q in QUESTIONS[:8]}
    failures: list[str] = []

    def worker(offset: int) -> None:
        for i in range(24):
            question = QUESTIONS[(offset + i) % 8]
            try:
                got = onnx_embedder.encode_queries([question])[0]
                if float(got @ expected[question]) < 0.99999:
                    failures.append(f"wrong vector for {question!r}")
            except Exception as exc:  # noqa: BLE001 - any exception is a failure to report
                failures.append(repr(exc))

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []


def test_export_is_cached_as_a_folder_and_reused(onnx_embedder):
    assert onnx_embedder.query_encoder is not None
    export = read_export(onnx_embedder.name)
    assert export is not None and export.folder.parent == cache_dir(), "the export should be cached on disk"
    files = [export.fp32_path, export.tokenizer_path]
    before = {f: f.stat().st_mtime_ns for f in files}
    embedding._QUERY_ENCODERS.clear()
    assert isinstance(Embedder(EmbeddingSettings()).query_encoder, OnnxEncoder)
    assert {f: f.stat().st_mtime_ns for f in files} == before


def test_only_mean_pooled_pipelines_are_exported(onnx_embedder):
    assert exportable(onnx_embedder.model)

    class Fake(list):
        pass

    cls_pooled = Fake([type("Transformer", (), {"auto_model": None})(),
                       type("Pooling", (), {"pooling_mode": "cls"})()])
    assert not exportable(cls_pooled)


def test_bf16_is_close_to_fp32():
    texts = QUESTIONS[:16]
    fp32 = Embedder(EmbeddingSettings(precision="fp32"))
    bf16 = Embedder(EmbeddingSettings(precision="bf16"))
    assert bf16.key != fp32.key  # the cache never mixes the two
    a, b = fp32.encode(texts), bf16.encode(texts)
    cosines = np.sum(a * b, axis=1)
    assert cosines.min() >= 0.9995, cosines.min()  # measured 0.99992 on 600 SciFact chunks
    assert not np.array_equal(a, b), "bf16 should really change the arithmetic"


def test_auto_precision_follows_the_cpu(monkeypatch):
    monkeypatch.setattr(hardware, "cpu_flags", lambda: frozenset({"avx512_bf16"}))
    assert resolve_precision("auto") == "fp32"
    monkeypatch.setattr(hardware, "cpu_flags", lambda: frozenset({"amx_bf16", "amx_tile", "avx512_bf16"}))
    assert resolve_precision("auto") == "bf16"
    assert resolve_precision("fp32") == "fp32"


def test_auto_precision_opens_either_but_explicit_precision_is_enforced(tmp_path):
    built = {"format_version": 1, "settings": index_fingerprint(load_settings(index_dir=tmp_path))}
    for precision in ("fp32", "bf16"):
        built["settings"]["embedding.precision"] = precision
        check_manifest(built, load_settings(index_dir=tmp_path))  # auto accepts both
    built["settings"]["embedding.precision"] = "bf16"
    with pytest.raises(IndexMismatch, match="RAG_EMBEDDING__PRECISION"):
        check_manifest(built, load_settings(index_dir=tmp_path).with_overrides(**{"embedding.precision": "fp32"}))


def test_build_reports_stage_timings(tmp_path):
    from rag.index.build import build_index

    settings = load_settings(index_dir=tmp_path / "index")
    first = build_index(settings, [ROOT / "seeds"])
    assert first.embedded == first.chunks + first.sentences
    report = build_index(settings, [ROOT / "seeds"])
    assert set(report.stage_seconds) == {"model_load", "chunking", "embedding", "keyword_and_dedup", "writing"}
    assert all(v >= 0 for v in report.stage_seconds.values())
    assert sum(report.stage_seconds.values()) <= report.seconds + 0.01
    assert report.embedded == 0  # unchanged seeds: everything came from the cache


def test_cache_dir_follows_xdg(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cache_dir() == tmp_path / "rag" / "onnx"
    assert os.fspath(cache_dir()).startswith(os.fspath(tmp_path))
