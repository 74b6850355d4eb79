"""A low-latency question encoder: the loaded sentence-transformers model exported to ONNX.

A short question through PyTorch costs 10-13 ms on this class of CPU, most of it framework
overhead; the same graph under onnxruntime on one thread takes about 4 ms with embeddings equal
to PyTorch's (cosine 1.000000). Bulk indexing stays on PyTorch, where batching hides the overhead.

The export is made once per model and cached as a file (`$XDG_CACHE_HOME/rag/onnx`, default
`~/.cache/rag/onnx`), keyed by the model's weights and the library versions. Before use, every
export is checked against PyTorch on probe texts; a mismatch or any export failure leaves the
caller on PyTorch. Only Transformer -> mean Pooling -> Normalize pipelines (the MiniLM family)
are exported; any other architecture stays on PyTorch.

We export with `torch.onnx.export` ourselves instead of `sentence-transformers[onnx]`: that extra
pins optimum versions that cannot be installed beside sentence-transformers 6, while the export
of a BERT encoder plus mean pooling is a few lines and needs only `onnx` and `onnxruntime`.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import os
import threading
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)
PROBES = ("What did the minister say about the ceasefire?",
          "Microstructural development of human newborn cerebral white matter",
          "a")
MIN_PROBE_COSINE = 0.9999
_CONCURRENCY = threading.BoundedSemaphore(max(1, os.cpu_count() or 1))


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "rag" / "onnx"


class OnnxQueryEncoder:
    """Tokenizer + onnxruntime session on one thread; `encode` is safe to call from many threads.

    At most one encode per CPU core runs at a time, so a burst of requests queues instead of
    oversubscribing the cores.
    """

    def __init__(self, path: Path, tokenizer: Any, max_seq_length: int) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        # A copy of its own: a fast tokenizer keeps padding/truncation state between calls, and the
        # model's tokenizer is shared per process with builds (count_tokens, bulk encoding), which
        # a server runs while answering (uploads, serve --watch); shared, a question got ragged
        # batches ("setting an array element with a sequence") and a build other token counts.
        self.tokenizer = copy.deepcopy(tokenizer)
        self.max_seq_length = max_seq_length
        self._tokenizer_lock = threading.Lock()  # HF fast tokenizers raise "Already borrowed" when shared

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """L2-normalized float32 vectors, one row per text."""
        with self._tokenizer_lock:
            batch = self.tokenizer(list(texts), padding=True, truncation=True,
                                   max_length=self.max_seq_length, return_tensors="np")
        feeds = {"input_ids": batch["input_ids"].astype(np.int64),
                 "attention_mask": batch["attention_mask"].astype(np.int64),
                 "token_type_ids": batch.get("token_type_ids", np.zeros_like(batch["input_ids"])).astype(np.int64)}
        with _CONCURRENCY:
            pooled = self.session.run(None, feeds)[0]
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.maximum(norms, 1e-12)).astype(np.float32)


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


def load_query_encoder(model: Any, model_path: str) -> OnnxQueryEncoder | None:
    """The ONNX encoder for `model`, exported on first use; None when unavailable or unfaithful."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return None
    if not exportable(model):
        return None
    try:
        path = cache_dir() / f"{_export_key(model, model_path)}.onnx"
        if not path.exists():
            _export(model, path)
        encoder = OnnxQueryEncoder(path, model.tokenizer, int(model.max_seq_length))
    except Exception as exc:  # noqa: BLE001  any failure means: stay on PyTorch
        log.warning("ONNX query encoder unavailable (%s: %s); using PyTorch", type(exc).__name__, exc)
        return None
    if not _faithful(model, encoder):
        log.warning("ONNX export of %s differs from PyTorch; using PyTorch", model_path)
        return None
    return encoder


def _export_key(model: Any, model_path: str) -> str:
    import onnxruntime
    import torch
    import transformers

    digest = hashlib.sha256()
    digest.update(f"{model_path}|{torch.__version__}|{transformers.__version__}|"
                  f"{onnxruntime.__version__}|{model.max_seq_length}".encode())
    for name, tensor in list(model[0].auto_model.state_dict().items())[:4]:
        digest.update(name.encode())
        digest.update(tensor.detach().float().cpu().numpy().tobytes()[:4096])
    return digest.hexdigest()[:24]


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
            return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)

    return MeanPooled().eval()


def _export(model: Any, path: Path) -> None:
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    sample = model.tokenizer(list(PROBES), padding=True, truncation=True, return_tensors="pt")
    inputs = (sample["input_ids"], sample["attention_mask"],
              sample.get("token_type_ids", torch.zeros_like(sample["input_ids"])))
    dynamic = {name: {0: "batch", 1: "tokens"} for name in ("input_ids", "attention_mask", "token_type_ids")}
    dynamic["embedding"] = {0: "batch"}
    temp = path.with_suffix(f".{os.getpid()}.tmp")
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about shape-dependent Python branches
        torch.onnx.export(_mean_pooled(model[0].auto_model), inputs, str(temp),
                          input_names=["input_ids", "attention_mask", "token_type_ids"],
                          output_names=["embedding"], dynamic_axes=dynamic, opset_version=17,
                          dynamo=False)
    os.replace(temp, path)


def _faithful(model: Any, encoder: OnnxQueryEncoder) -> bool:
    reference = model.encode(list(PROBES), normalize_embeddings=True, convert_to_numpy=True)
    ours = encoder.encode(PROBES)
    return bool(np.min(np.sum(reference * ours, axis=1)) >= MIN_PROBE_COSINE)
