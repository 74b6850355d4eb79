"""embedding.device: auto picks CUDA when PyTorch sees it; precision auto is bf16 only on AMX CPUs."""

from __future__ import annotations

import pytest

from rag import ConfigError, load_settings
from rag.embed import torch_encoder


def test_auto_device_follows_cuda(monkeypatch):
    torch = pytest.importorskip("torch")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert torch_encoder.resolve_device("auto") == "cuda"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert torch_encoder.resolve_device("auto") == "cpu"
    assert torch_encoder.resolve_device("cuda:1") == "cuda:1"


def test_auto_precision_is_fp32_on_a_gpu_and_bf16_only_with_amx(monkeypatch):
    monkeypatch.setattr(torch_encoder, "has_native_bf16_matmul", lambda: True)
    assert torch_encoder.resolve_precision("auto", "cpu") == "bf16"
    assert torch_encoder.resolve_precision("auto", "cuda") == "fp32"
    assert torch_encoder.resolve_precision("bf16", "cuda") == "bf16"
    monkeypatch.setattr(torch_encoder, "has_native_bf16_matmul", lambda: False)
    assert torch_encoder.resolve_precision("auto", "cpu") == "fp32"


def test_device_setting_is_checked(tmp_path):
    for good in ("auto", "cpu", "cuda", "cuda:0"):
        assert load_settings(index_dir=tmp_path).with_overrides(**{"embedding.device": good}).embedding.device == good
    with pytest.raises(ConfigError, match="embedding.device"):
        load_settings(index_dir=tmp_path).with_overrides(**{"embedding.device": "gpu"})
