"""Export a loaded sentence-transformers model to an ONNX folder, checked against PyTorch.

Runs where PyTorch is already loaded (`rag index`, or a server that had to load the model): the
export is made once per model and cached (see `rag.embed.model_files`), so later processes answer
questions, and can bulk-encode in int8, without importing torch.

Only Transformer -> mean Pooling (-> Normalize) pipelines (the MiniLM family) are exported; any
other architecture stays on PyTorch. We export with `torch.onnx.export` ourselves instead of
`sentence-transformers[onnx]`: that extra pins optimum versions that cannot be installed beside
sentence-transformers 6, while a BERT encoder plus mean pooling is a few lines and needs only
`onnx` and `onnxruntime`. The graph has two outputs: the pooled vector, and the token embeddings
that late chunking pools per sentence.
"""

from __future__ import annotations

import logging
import os
import shutil
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from rag.embed.model_files import FP32_FILE, TOKENIZER_FILE, Export, export_dir, read_export, write_info

log = logging.getLogger(__name__)
PROBES = ("What did the minister say about the ceasefire?",
          "Microstructural development of human newborn cerebral white matter",
          "a")
MIN_PROBE_COSINE = 0.9999
INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def exportable(model: Any) -> bool:
    """Whether `model` is a Transformer -> mean Pooling (-> Normalize) pipeline."""
    names = [type(module).__name__ for module in model]
    if names[:2] != ["Transformer", "Pooling"] or any(n != "Normalize" for n in names[2:]):
        return False
    pooling = model[1]
    mode = getattr(pooling, "pooling_mode", None)
    if mode is None and hasattr(pooling, "get_pooling_mode_str"):
        mode = pooling.get_pooling_mode_str()
    return mode == "mean" and hasattr(model[0], "auto_model")


def ensure_export(model: Any, name: str) -> Export | None:
    """The export of `model` (configured as `name`), made now if missing; None when impossible.

    Any failure (no onnx/onnxruntime, an architecture we do not export, an export that differs
    from PyTorch) is logged and leaves the caller on PyTorch.
    """
    found = read_export(name)
    if found is not None:
        return found
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError:
        return None
    folder = export_dir(name)
    if folder is None or not exportable(model):
        return None
    try:
        _export_folder(model, name, folder)
    except Exception as exc:  # noqa: BLE001  any failure means: stay on PyTorch
        log.warning("ONNX export of %s unavailable (%s: %s); using PyTorch", name, type(exc).__name__, exc)
        return None
    return read_export(name)


def _export_folder(model: Any, name: str, folder: Path) -> None:
    """Write the whole folder under a temporary name, check it, then rename it into place."""
    temp = folder.with_name(f".{folder.name}.{os.getpid()}.tmp")
    shutil.rmtree(temp, ignore_errors=True)
    temp.mkdir(parents=True)
    try:
        _export_graph(model, temp / FP32_FILE)
        tokenizer_json = Path(model.tokenizer.name_or_path) / TOKENIZER_FILE
        if tokenizer_json.is_file():
            shutil.copyfile(tokenizer_json, temp / TOKENIZER_FILE)
        else:
            model.tokenizer.backend_tokenizer.save(str(temp / TOKENIZER_FILE))
        reference = model.encode(list(PROBES), normalize_embeddings=True, convert_to_numpy=True)
        write_info(temp, {"model": name, "max_seq_length": int(model.max_seq_length),
                          "dimension": int(reference.shape[1]), "probes": list(PROBES),
                          "reference": np.asarray(reference, np.float32).tolist()})
        _check(temp, reference)
        try:
            os.replace(temp, folder)
        except OSError:  # another process put its (equally checked) export there first
            pass
    finally:
        shutil.rmtree(temp, ignore_errors=True)


def _check(folder: Path, reference: np.ndarray) -> None:
    from rag.embed.onnx_encoder import OnnxEncoder

    encoder = OnnxEncoder.from_folder(folder)
    cosine = float(np.min(np.sum(encoder.encode_queries(PROBES) * reference, axis=1)))
    if cosine < MIN_PROBE_COSINE:
        raise ValueError(f"export differs from PyTorch (probe cosine {cosine:.6f})")


def _mean_pooled(transformer: Any) -> Any:
    """The transformer plus attention-masked mean pooling, as one traceable module."""
    import torch

    class MeanPooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.transformer = transformer

        def forward(self, input_ids, attention_mask, token_type_ids):
            hidden = self.transformer(input_ids=input_ids, attention_mask=attention_mask,
                                      token_type_ids=token_type_ids).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9), hidden

    return MeanPooled().eval()


def _export_graph(model: Any, path: Path) -> None:
    import torch

    sample = model.tokenizer(list(PROBES), padding=True, truncation=True, return_tensors="pt")
    inputs = (sample["input_ids"], sample["attention_mask"],
              sample.get("token_type_ids", torch.zeros_like(sample["input_ids"])))
    dynamic = {name: {0: "batch", 1: "tokens"} for name in INPUTS}
    dynamic["embedding"] = {0: "batch"}
    dynamic["token_embeddings"] = {0: "batch", 1: "tokens"}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about shape-dependent Python branches
        torch.onnx.export(_mean_pooled(model[0].auto_model), inputs, str(path), input_names=list(INPUTS),
                          output_names=["embedding", "token_embeddings"], dynamic_axes=dynamic,
                          opset_version=17, dynamo=False)
