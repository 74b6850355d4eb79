"""int8 vectors are refused under other precisions and vice versa; auto still opens fp32/bf16. Fast."""

from __future__ import annotations

import pytest

from rag import IndexMismatch, index_fingerprint, load_settings
from rag.index.manifest import check_manifest


def manifest_with(tmp_path, precision: str) -> dict:
    built = {"format_version": 1, "settings": index_fingerprint(load_settings(index_dir=tmp_path))}
    built["settings"]["embedding.precision"] = precision
    return built


@pytest.mark.parametrize("wanted", ["auto", "fp32", "bf16"])
def test_an_int8_index_is_refused_under_other_precisions(tmp_path, wanted):
    settings = load_settings(index_dir=tmp_path).with_overrides(**{"embedding.precision": wanted})
    with pytest.raises(IndexMismatch, match="RAG_EMBEDDING__PRECISION") as refused:
        check_manifest(manifest_with(tmp_path, "int8"), settings)
    assert "'int8'" in refused.value.message


@pytest.mark.parametrize("built", ["auto", "fp32", "bf16"])
def test_int8_settings_refuse_other_indexes(tmp_path, built):
    settings = load_settings(index_dir=tmp_path).with_overrides(**{"embedding.precision": "int8"})
    with pytest.raises(IndexMismatch):
        check_manifest(manifest_with(tmp_path, built), settings)


def test_int8_opens_int8_and_auto_opens_fp32_and_bf16(tmp_path):
    check_manifest(manifest_with(tmp_path, "int8"),
                   load_settings(index_dir=tmp_path).with_overrides(**{"embedding.precision": "int8"}))
    for built in ("fp32", "bf16"):
        check_manifest(manifest_with(tmp_path, built), load_settings(index_dir=tmp_path))
