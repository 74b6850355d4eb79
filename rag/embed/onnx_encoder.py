"""The model run by onnxruntime with a `tokenizers` tokenizer: the Encoder without PyTorch.

Questions: a short question through PyTorch costs 10-13 ms on this class of CPU, most of it
framework overhead; the exported graph under onnxruntime on one thread takes 2-4 ms with vectors
equal to PyTorch's (cosine 1.000000). A server that only answers therefore never imports torch
(about 300 MB less memory and seconds less start-up), given an export in the cache
(`rag.embed.model_files`), which `rag index` leaves there.

Bulk text: `precision="int8"` runs the per-channel dynamically quantized copy of the export on
all cores (`rag.embed.quantize`); fp32 bulk text is the same graph. Questions always go through
the fp32 graph on one thread.

Thread safety: onnxruntime sessions may be run from many threads; the two tokenizers are
configured once and never changed afterwards (a fast tokenizer whose padding or truncation is
changed while another thread uses it raises "Already borrowed"). At most one question encode per
CPU core runs at a time, so a burst of requests queues instead of oversubscribing the cores.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rag.embed.late import Spans, pool_spans, token_starts
from rag.embed.model_files import Export, read_export_folder
from rag.errors import ModelUnavailable
from rag.hardware import cores

Progress = Callable[[int], None]
MIN_PROBE_COSINE = 0.9999
_CONCURRENCY = threading.BoundedSemaphore(cores())


def _session(path: Path, threads: int) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    # no busy-waiting between ops: on a shared machine spinning threads steal the cores they wait for
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


class OnnxEncoder:
    """An export folder as an `Encoder`: token counting, bulk and question encoding, late chunking."""

    backend = "onnx"

    def __init__(self, export: Export, name: str | None = None, precision: str = "fp32",
                 threads: int = 0, batch_size: int = 64) -> None:
        from tokenizers import Tokenizer

        if precision not in ("fp32", "int8"):
            raise ValueError(f"ONNX precision must be fp32 or int8, not {precision!r}")
        self.export = export
        self.name = name or export.model
        self.precision = precision
        self.dimension = export.dimension
        self.max_seq_length = export.max_seq_length
        self.threads = threads or cores()
        self._batch_size = batch_size
        self._plain = Tokenizer.from_file(str(export.tokenizer_path))
        self._plain.no_truncation()
        self._plain.no_padding()
        self._inputs = Tokenizer.from_file(str(export.tokenizer_path))
        self._inputs.enable_truncation(export.max_seq_length)
        self._inputs.enable_padding()
        self._sessions: dict[str, Any] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_folder(cls, folder: Path, **options: Any) -> OnnxEncoder:
        """The encoder of the export in `folder` (ModelUnavailable when incomplete)."""
        export = read_export_folder(folder)
        if export is None:
            raise ModelUnavailable(f"no complete ONNX export in {folder}")
        return cls(export, **options)

    @property
    def key(self) -> str:
        """Identifies this encoder's vectors (cache key, manifest); fp32 equals PyTorch fp32."""
        return f"{self.name}|{self.precision}|{self.max_seq_length}"

    @property
    def batch_size(self) -> int:
        return self._batch_size

    @property
    def max_text_tokens(self) -> int:
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

    def faithful(self) -> bool:
        """Whether the fp32 graph still reproduces PyTorch's vectors of the export's probe texts."""
        ours = self.encode_queries(self.export.probes)
        return bool(np.min(np.sum(ours * self.export.reference, axis=1)) >= MIN_PROBE_COSINE)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        """fp32 vectors for a few short texts on one thread: the lowest latency."""
        if not len(texts):
            return np.zeros((0, self.dimension), dtype=np.float32)
        with _CONCURRENCY:
            pooled, _, _ = self._run(self._session("query"), list(texts), hidden=False)
        return pooled

    def encode_query(self, text: str) -> np.ndarray:
        return self.encode_queries([text])[0]

    def encode(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        """L2-normalized vectors in input order; shortest first in batches, on all threads."""
        if len(texts) <= 4:
            return self.encode_queries(texts)
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        session = self._session("bulk")
        for batch in _batches(texts, self._batch_size):
            out[batch] = self._run(session, [texts[i] for i in batch], hidden=False)[0]
            if progress:
                progress(len(batch))
        return out

    def encode_with_spans(self, texts: Sequence[str], spans: Sequence[Spans],
                          progress: Progress | None = None) -> tuple[np.ndarray, list[np.ndarray], list[list[int]]]:
        """Vectors of `texts` and, pooled from the same pass, of each text's character `spans`.

        Returns (text vectors, per text a (spans, dim) array, per text the spans left without
        tokens by the window, whose rows are zero).
        """
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        pooled: list[np.ndarray] = [np.zeros((0, self.dimension), np.float32)] * len(texts)
        missing: list[list[int]] = [[] for _ in texts]
        session = self._session("bulk")
        for batch in _batches(texts, self._batch_size):
            vectors, hidden, encodings = self._run(session, [texts[i] for i in batch], hidden=True)
            out[batch] = vectors
            for row, i in enumerate(batch):
                keep, starts = token_starts(encodings[row].offsets, encodings[row].special_tokens_mask)
                pooled[i], missing[i] = pool_spans(hidden[row, keep], starts, spans[i])
            if progress:
                progress(len(batch))
        return out, pooled, missing

    def encode_with(self, graph: Path, texts: Sequence[str]) -> np.ndarray:
        """Vectors of `texts` from another graph file with this tokenizer (checking a quantized copy)."""
        return self._run(_session(graph, 1), list(texts), hidden=False)[0]

    def _session(self, kind: str) -> Any:
        with self._lock:
            if kind not in self._sessions:
                if kind == "query":
                    self._sessions[kind] = _session(self.export.fp32_path, 1)
                else:
                    path = self.export.int8_path if self.precision == "int8" else self.export.fp32_path
                    self._sessions[kind] = _session(path, self.threads)
            return self._sessions[kind]

    def _run(self, session: Any, texts: list[str], hidden: bool) -> tuple[np.ndarray, Any, list]:
        encodings = self._inputs.encode_batch(texts)
        ids = np.asarray([e.ids for e in encodings], dtype=np.int64)
        feeds = {"input_ids": ids,
                 "attention_mask": np.asarray([e.attention_mask for e in encodings], dtype=np.int64),
                 "token_type_ids": np.asarray([e.type_ids for e in encodings], dtype=np.int64)}
        outputs = session.run(["embedding", "token_embeddings"] if hidden else ["embedding"], feeds)
        pooled = outputs[0]
        pooled = (pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)).astype(np.float32)
        return pooled, (outputs[1] if hidden else None), encodings


def _batches(texts: Sequence[str], size: int) -> list[list[int]]:
    """Positions of `texts`, shortest first, in batches of `size` (little padding per batch)."""
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    return [order[i:i + size] for i in range(0, len(order), size)]
