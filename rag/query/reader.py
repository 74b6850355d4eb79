"""The trained reader: reads the question against each candidate sentence.

A cross-encoder fine-tuned from the bundled all-MiniLM-L6-v2 (`train/`, model card in
`rag/reader_model/MODEL_CARD.md`) gives, for a (question, sentence) pair, P(this sentence answers the
question) and the most likely short answer inside the sentence (start and end word pieces). The
answer stage orders sentences and decides refusal by that probability (`rag.query.answering`).

It runs through onnxruntime (int8 weights) on all cores, one question at a time, never through
PyTorch. The weights ship in `rag/reader_model/`; their sha256 is checked against `reader.json` when
loaded, so a missing or damaged model is one clear `ModelUnavailable`, never a silent fallback.
`RAG_ANSWER__READER=off` turns the reader off (the answer stage of before, for comparison).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rag.calibration import READER_FOLDER as FOLDER
from rag.calibration import reader_info
from rag.errors import ModelUnavailable
from rag.hardware import cores

MAX_ANSWER_TOKENS = 16
# one reading at a time on every core: the lowest latency per question, the same throughput under load
_CONCURRENCY = threading.BoundedSemaphore(1)


@dataclass(frozen=True)
class Reading:
    """The reader's view of one sentence: P(answers), and the short answer's character span in
    the sentence with its confidence (the start and end probabilities multiplied)."""

    probability: float
    span_start: int
    span_end: int
    span_confidence: float


class Reader:
    """The shipped reader model: `read(question, sentences) -> [Reading]`."""

    def __init__(self, folder: Path = FOLDER) -> None:
        self.folder = Path(folder)
        self.info = reader_info(self.folder)
        from tokenizers import Tokenizer

        self._tokenizer = Tokenizer.from_file(str(self.folder / "tokenizer.json"))
        self._tokenizer.enable_truncation(int(self.info["max_length"]), strategy="longest_first")
        self._tokenizer.enable_padding()
        self._session = _session(self.folder / "reader.onnx")

    def read(self, question: str, sentences: Sequence[str]) -> list[Reading]:
        """One `Reading` per sentence, in order (empty input, empty output)."""
        if not sentences:
            return []
        encodings = self._tokenizer.encode_batch([(question, s) for s in sentences])
        feeds = {"input_ids": np.asarray([e.ids for e in encodings], dtype=np.int64),
                 "attention_mask": np.asarray([e.attention_mask for e in encodings], dtype=np.int64),
                 "token_type_ids": np.asarray([e.type_ids for e in encodings], dtype=np.int64)}
        with _CONCURRENCY:
            logits, starts, ends = self._session.run(None, feeds)
        probs = 1.0 / (1.0 + np.exp(-np.clip(logits, -40, 40)))
        return [self._reading(float(p), enc, s, e) for p, enc, s, e in zip(probs, encodings, starts, ends,
                                                                           strict=True)]

    def _reading(self, probability: float, encoding: Any, start: np.ndarray, end: np.ndarray) -> Reading:
        allowed = np.array([t == 1 and m == 1 for t, m in zip(encoding.type_ids, encoding.attention_mask,
                                                              strict=True)])
        if not allowed.any():
            return Reading(probability, -1, -1, 0.0)
        ps, pe = _softmax(np.where(allowed, start, -1e4)), _softmax(np.where(allowed, end, -1e4))
        # best (start, end) with start <= end < start + MAX_ANSWER_TOKENS
        n = len(ps)
        table = np.triu(np.outer(ps, pe)) - np.triu(np.outer(ps, pe), MAX_ANSWER_TOKENS)
        flat = int(np.argmax(table))
        s, e = divmod(flat, n)
        offsets = encoding.offsets
        return Reading(probability, int(offsets[s][0]), int(offsets[e][1]), float(table[s, e]))


def _softmax(x: np.ndarray) -> np.ndarray:
    z = np.exp(x - x.max())
    return z / z.sum()


def _session(path: Path) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = cores()
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except (RuntimeError, ValueError, OSError) as exc:  # onnxruntime: Fail, InvalidProtobuf, ...
        raise ModelUnavailable(f"the reader model {path} does not load ({str(exc)[:160]}); reinstall "
                               "rag, or set RAG_ANSWER__READER=off") from None


_LOADED: dict[Path, Reader] = {}
_LOCK = threading.Lock()


def shipped_reader(folder: Path = FOLDER) -> Reader:
    """The reader in `folder`, loaded once per process (the weights never change while it runs)."""
    with _LOCK:
        if folder not in _LOADED:
            _LOADED[folder] = Reader(folder)
        return _LOADED[folder]
