"""Which encoder a process gets: the light ONNX one when it suffices, PyTorch otherwise.

- Questions (`load_query_encoder`, used by an opened `Index`): the ONNX export from the cache,
  with `tokenizers` and onnxruntime only, when it exists and still reproduces PyTorch's probe
  vectors; so `rag serve` never imports torch once `rag index` has run. Otherwise the full model.
- Bulk text (`load_encoder`, used by builds): PyTorch for fp32/bf16 (bf16 runs a bf16 copy of the
  weights, on AMX tiles where the CPU has them); the int8 ONNX copy for `precision="int8"`, made from the export on first use
  (which needs PyTorch once, to export).
"""

from __future__ import annotations

import logging
import threading

from rag.config import EmbeddingSettings
from rag.embed.base import Encoder
from rag.embed.model_files import read_export
from rag.embed.onnx_encoder import OnnxEncoder
from rag.errors import ModelUnavailable

log = logging.getLogger(__name__)
_LIGHT: dict[tuple[str, str, int, int], OnnxEncoder] = {}
_LOCK = threading.Lock()


def load_encoder(settings: EmbeddingSettings) -> Encoder:
    """The bulk encoder for `settings`: PyTorch, or the int8 ONNX copy for precision int8."""
    if settings.precision == "int8":
        return _int8_encoder(settings)
    from rag.embed.torch_encoder import Embedder

    return Embedder(settings)


def load_query_encoder(settings: EmbeddingSettings) -> Encoder:
    """The question encoder: the cached ONNX export without torch when possible, else `load_encoder`."""
    if settings.query_backend != "torch":
        encoder = _light(settings, "fp32")
        if encoder is not None:
            return encoder
    if settings.precision == "int8":  # questions of an int8 index: fp32 PyTorch, plus the export
        settings = settings.model_copy(update={"precision": "fp32"})
    return load_encoder(settings)


def _light(settings: EmbeddingSettings, precision: str) -> OnnxEncoder | None:
    """A cached OnnxEncoder for the model's export, or None when there is none or it is unfaithful."""
    key = (settings.model, precision, settings.threads, settings.batch_size)
    with _LOCK:
        if key in _LIGHT:
            return _LIGHT[key]
        export = read_export(settings.model)
        if export is None:
            return None
        try:
            encoder = OnnxEncoder(export, settings.model, precision, settings.threads, settings.batch_size)
            if not encoder.faithful():
                log.warning("the cached ONNX export of %s no longer matches PyTorch; using PyTorch",
                            settings.model)
                return None
        except Exception as exc:  # noqa: BLE001  a broken export means: use PyTorch
            log.warning("cached ONNX export of %s unusable (%s: %s); using PyTorch", settings.model,
                        type(exc).__name__, exc)
            return None
        _LIGHT[key] = encoder
        return encoder


def _int8_encoder(settings: EmbeddingSettings) -> OnnxEncoder:
    from rag.embed.quantize import ensure_int8

    export = read_export(settings.model)
    if export is None:
        from rag.embed.onnx_export import ensure_export
        from rag.embed.torch_encoder import Embedder

        export = ensure_export(Embedder(settings.model_copy(update={"precision": "fp32"})).model, settings.model)
    if export is None:
        raise ModelUnavailable(f"precision int8 needs an ONNX export of {settings.model}, which failed "
                               "(pip install onnx onnxruntime; only mean-pooled models export); "
                               "use RAG_EMBEDDING__PRECISION=fp32")
    ensure_int8(export)
    encoder = _light(settings, "int8")
    if encoder is None:
        raise ModelUnavailable(f"the ONNX export of {settings.model} does not match PyTorch; "
                               "use RAG_EMBEDDING__PRECISION=fp32")
    return encoder
