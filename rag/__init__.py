"""rag: ask a folder of documents, get answers whose every sentence cites its source.

This module is the public surface: the CLI, `api/`, `bench/` and users import from here only.

    settings = rag.load_settings(index_dir="index")
    rag.build_index(settings, [Path("seeds")])
    with rag.open_index(settings) as index:
        answer = rag.ask(index, "Who are the two generals driving the peace talks?")

Names are imported on first use, so `import rag` is cheap and a server that only answers never
imports the ingest stage's parsers.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS: dict[str, str] = {
    # settings, records, errors
    "Settings": "rag.config", "load_settings": "rag.config", "EmbeddingSettings": "rag.config",
    "VectorSettings": "rag.config", "ApiSettings": "rag.config", "GeneratorSettings": "rag.config",
    "Answer": "rag.types", "Citation": "rag.types", "ShortAnswer": "rag.types",
    "tune_reader": "rag.eval.reader_tuning", "READER_FOLDER": "rag.calibration",
    "Passage": "rag.types", "Document": "rag.types",
    "Chunk": "rag.types", "RelatedPassage": "rag.types", "Mode": "rag.types", "Style": "rag.types",
    "RagError": "rag.errors", "ConfigError": "rag.errors", "InputError": "rag.errors",
    "IndexMissing": "rag.errors", "IndexMismatch": "rag.errors", "IndexBusy": "rag.errors",
    "IndexCorrupt": "rag.errors", "NothingIndexed": "rag.errors", "NotFound": "rag.errors",
    "ModelUnavailable": "rag.errors", "VectorStoreUnavailable": "rag.errors", "StorageError": "rag.errors",
    # building and opening an index
    "build_index": "rag.index.build", "build_from_documents": "rag.index.build",
    "BuildReport": "rag.index.build", "Progress": "rag.index.build", "chunk_corpus": "rag.index.build",
    "embedding_text": "rag.index.build", "load_corpus": "rag.index.build",
    "Index": "rag.index.reader", "open_index": "rag.index.reader",
    "current_build": "rag.index.layout", "read_manifest": "rag.index.manifest",
    "index_fingerprint": "rag.index.manifest",
    # live documents: uploads, deletes, watched folders
    "Upload": "rag.index.live", "check_upload": "rag.index.live", "store_upload": "rag.index.live",
    "uploaded_file": "rag.index.live", "rebuild_corpus": "rag.index.live", "watch_corpus": "rag.index.live",
    "corpus_roots": "rag.index.live", "Skipped": "rag.ingest.loaders", "UploadExists": "rag.index.live",
    "remove_uploads": "rag.index.live", "not_indexed": "rag.index.live", "name_taken": "rag.index.live",
    "check_corpus_folders": "rag.ingest.files",
    # asking
    "ask": "rag.query.answering", "answer_from": "rag.query.answering",
    "question_names": "rag.query.answering", "dated_filters": "rag.query.answering",
    "search": "rag.query.retrieval", "rank_documents": "rag.query.retrieval",
    "validate_query": "rag.query.retrieval",
    "DocFilter": "rag.query.filters", "parse_filter": "rag.query.filters",
    # generated answers: streamed events, verification, counts for evaluation
    "ask_stream": "rag.query.streaming", "GeneratedSentence": "rag.query.generation",
    "FinalAnswer": "rag.query.generation", "generation_counts": "rag.query.generation",
    "shown_sentences": "rag.query.generation", "verify_sentence": "rag.query.verify",
    "missing_claims": "rag.query.verify",
    # encoders and stores (benchmarks measure them directly)
    "Encoder": "rag.embed", "FakeEncoder": "rag.embed", "load_encoder": "rag.embed",
    "EmbeddingCache": "rag.embed",
    "create_store": "rag.stores", "open_store": "rag.stores", "choose_faiss_kind": "rag.stores.faiss_store",
    "cores": "rag.hardware", "cpu_flags": "rag.hardware",
    # evaluation
    "load_gold": "rag.eval.gold", "run_gold": "rag.eval.gold", "check_floors": "rag.eval.gold",
    "write_report": "rag.eval.gold", "select_split": "rag.eval.gold", "GoldQuestion": "rag.eval.gold",
    "judge_answer": "rag.eval.gold", "summarize_results": "rag.eval.gold",
    "run_beir_answers": "rag.eval.beir_answers", "calibrate": "rag.eval.calibrate",
    "calibration_rows": "rag.eval.calibrate", "fit_calibration": "rag.calibration",
    "FEATURES": "rag.calibration",
    "load_calibration": "rag.calibration", "Calibration": "rag.calibration", "load_answer_questions": "rag.eval.beir_answers",
    "load_beir": "rag.eval.beir", "run_beir": "rag.eval.beir",
    "beir_document": "rag.eval.beir", "rank_to_depth": "rag.eval.beir", "BEIR_MODES": "rag.eval.beir",
    "default_index_dir": "rag.eval.beir", "format_beir_table": "rag.eval.beir",
    "reference_metrics": "rag.eval.beir", "evaluate_run": "rag.eval.metrics",
}
_RENAMED = {"choose_faiss_kind": "choose_kind", "BEIR_MODES": "MODES", "evaluate_run": "evaluate",
            "fit_calibration": "fit", "judge_answer": "judge", "summarize_results": "summarize"}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'rag' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), _RENAMED.get(name, name))
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:  # for type checkers and editors; at run time names load lazily above
    from rag.calibration import FEATURES, READER_FOLDER, Calibration, load_calibration
    from rag.calibration import fit as fit_calibration
    from rag.config import (
        ApiSettings,
        EmbeddingSettings,
        GeneratorSettings,
        Settings,
        VectorSettings,
        load_settings,
    )
    from rag.embed import EmbeddingCache, Encoder, FakeEncoder, load_encoder
    from rag.errors import (
        ConfigError,
        IndexBusy,
        IndexCorrupt,
        IndexMismatch,
        IndexMissing,
        InputError,
        ModelUnavailable,
        NotFound,
        NothingIndexed,
        RagError,
        StorageError,
        VectorStoreUnavailable,
    )
    from rag.eval.beir import MODES as BEIR_MODES
    from rag.eval.beir import (
        beir_document,
        default_index_dir,
        format_beir_table,
        load_beir,
        rank_to_depth,
        reference_metrics,
        run_beir,
    )
    from rag.eval.beir_answers import load_answer_questions, run_beir_answers
    from rag.eval.calibrate import calibrate, calibration_rows
    from rag.eval.gold import GoldQuestion, check_floors, load_gold, run_gold, select_split, write_report
    from rag.eval.gold import judge as judge_answer
    from rag.eval.gold import summarize as summarize_results
    from rag.eval.metrics import evaluate as evaluate_run
    from rag.eval.reader_tuning import tune_reader
    from rag.hardware import cores, cpu_flags
    from rag.index.build import (
        BuildReport,
        Progress,
        build_from_documents,
        build_index,
        chunk_corpus,
        embedding_text,
        load_corpus,
    )
    from rag.index.layout import current_build
    from rag.index.live import (
        Upload,
        UploadExists,
        check_upload,
        corpus_roots,
        name_taken,
        not_indexed,
        rebuild_corpus,
        remove_uploads,
        store_upload,
        uploaded_file,
        watch_corpus,
    )
    from rag.index.manifest import index_fingerprint, read_manifest
    from rag.index.reader import Index, open_index
    from rag.ingest.files import check_corpus_folders
    from rag.ingest.loaders import Skipped
    from rag.query.answering import answer_from, ask, dated_filters, question_names
    from rag.query.filters import DocFilter, parse_filter
    from rag.query.generation import FinalAnswer, GeneratedSentence, generation_counts, shown_sentences
    from rag.query.retrieval import rank_documents, search, validate_query
    from rag.query.streaming import ask_stream
    from rag.query.verify import missing_claims, verify_sentence
    from rag.stores import create_store, open_store
    from rag.stores.faiss_store import choose_kind as choose_faiss_kind
    from rag.types import Answer, Chunk, Citation, Document, Mode, Passage, RelatedPassage, ShortAnswer, Style
