"""One settings object for the whole system, read from `RAG_*` environment variables.

Sections are nested (`RAG_EMBEDDING__MODEL=...`, `RAG_RETRIEVAL__MODE=keyword`) and every section
rejects unknown keys, so a typo is an error instead of a silently ignored setting. CLI flags and
the API build a `Settings` with overrides on top of the environment via `Settings.with_overrides`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from rag.errors import ConfigError
from rag.types import Mode

DEFAULT_MODEL = "all-MiniLM-L6-v2"


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class CorpusSettings(Section):
    """Which files are read."""

    paths: list[Path] = Field([Path("seeds")], description="folders or files to index")
    extensions: list[str] = Field(
        [".txt", ".md", ".html", ".htm", ".pdf"],
        description="file types loaded; anything else is skipped with a warning",
    )
    max_file_mb: float = Field(
        50.0, gt=0, description="files larger than this are skipped (memory stays bounded)"
    )
    follow_symlinks: bool = Field(
        False, description="read links whose target is outside the corpus folder (off: skipped)"
    )
    upload_dir: Path | None = Field(
        None, description="where POST /documents stores uploads (indexed with `paths`); the API "
        "writes nowhere else. Unset: uploads are refused"
    )
    watch_debounce_ms: int = Field(
        500, ge=50, description="rag watch / serve --watch: changes within this window make one rebuild"
    )


class CleaningSettings(Section):
    """Boilerplate removal: lines matching these patterns are neither indexed nor cited."""

    enabled: bool = True
    extra_patterns: list[str] = Field(
        default_factory=list, description="more regular expressions for boilerplate lines"
    )


class ChunkingSettings(Section):
    """Sentence-aware chunks sized in the embedder's own word pieces."""

    max_tokens: int = Field(
        200, ge=16, description="chunk size cap; clipped to the model's window"
    )
    overlap_tokens: int = Field(
        48, ge=0, description="trailing sentences of a chunk repeated at the start of the next"
    )
    title_prefix: bool = Field(
        True, description="embed 'title: chunk' so short chunks keep their document's context"
    )


class EmbeddingSettings(Section):
    """The sentence-transformers model and how it runs."""

    model: str = Field(
        DEFAULT_MODEL,
        description="sentence-transformers name or path; the default is the bundled MiniLM",
    )
    batch_size: int = Field(64, ge=1, le=4096)
    precision: Literal["auto", "fp32", "bf16", "int8"] = Field(
        "auto", description="bulk encoding precision; auto = bf16 on CPUs with AMX, fp32 elsewhere and "
        "on GPUs; bf16 = a bf16 copy of the weights, pooled in fp32 (min cosine 0.99992 to fp32 on "
        "SciFact; 2x fp32's speed on a 2-core AMX VM; without AMX bf16 measured 0.8x fp32); int8 = "
        "per-channel quantized ONNX copy of the model, checked against fp32 (cosine >= 0.97) when made"
    )
    query_backend: Literal["auto", "onnx", "torch"] = Field(
        "auto", description="questions: auto = onnxruntime export of the model when it matches "
        "PyTorch (about 3x lower latency), else PyTorch"
    )
    sentence_vectors: Literal["separate", "late"] = Field(
        "late", description="answer-sentence vectors: late = pooled from its chunk's token embeddings "
        "(one encoder pass, no second one); separate = each sentence encoded again on its own"
    )
    device: str = Field(
        "auto", pattern=r"^(auto|cpu|cuda(:\d+)?)$",
        description="bulk encoding: auto = the GPU when PyTorch sees CUDA, else cpu; or cpu, cuda, cuda:N. "
        "Questions are always encoded on the CPU (ONNX), where one short text is fastest"
    )
    threads: int = Field(0, ge=0, description="CPU threads for bulk encoding; 0 = all cores")
    cache: bool = Field(True, description="reuse embeddings of unchanged text across builds")


class VectorSettings(Section):
    """Where chunk vectors are stored and searched (see rag/vectorstore.py)."""

    backend: Literal["faiss", "milvus"] = Field(
        "faiss", description="faiss: a file in the index folder; milvus: Milvus Lite or a Milvus server"
    )
    faiss_kind: Literal["auto", "flat", "hnsw", "ivf"] = Field(
        "auto", description="auto: exact flat search up to flat_max_rows vectors, IVF beyond"
    )
    flat_max_rows: int = Field(
        50_000, ge=1, description="auto picks exact search up to this many vectors (50k: ~3 ms a "
        "query; 100k took 10 ms, IVF 1 ms at recall@10 0.98: bench/scale.py)"
    )
    hnsw_m: int = Field(32, ge=4, le=128, description="HNSW graph degree")
    hnsw_ef_construction: int = Field(80, ge=8, description="HNSW build-time beam width")
    hnsw_ef_search: int = Field(256, ge=8, description="HNSW query-time beam width")
    ivf_lists: int = Field(0, ge=0, description="IVF cells; 0 = about 3 * sqrt(vectors)")
    ivf_nprobe: int = Field(48, ge=1, description="IVF cells visited per query")
    milvus_uri: str = Field(
        "", description="empty: a Milvus Lite file inside each build folder; else a .db path "
        "or http(s)://host:port of a Milvus server or cluster"
    )
    milvus_token: SecretStr | None = Field(None, description="Milvus server token (user:password)")
    milvus_index: Literal["FLAT", "HNSW", "IVF_FLAT", "AUTOINDEX"] = Field(
        "FLAT", description="Milvus index type: FLAT is exact; HNSW and IVF_FLAT take the hnsw_* "
        "and ivf_* settings"
    )


class RetrievalSettings(Section):
    """How passages are found for a question."""

    mode: Mode = "hybrid"
    k: int = Field(5, ge=1, le=50, description="passages returned by search")
    candidates: int = Field(100, ge=1, le=2000, description="hits taken from each retriever")
    rrf_k: int = Field(60, ge=1, description="reciprocal rank fusion constant")
    dense_weight: float = Field(1.0, ge=0)
    keyword_weight: float = Field(1.0, ge=0)
    recent_days: int = Field(
        7, ge=0, le=3650, description="a question asked as of a day first searches the documents "
        "dated that day or this many days before it, then all not dated later (0: only the latter)"
    )
    bm25_k1: float = Field(1.2, gt=0, description="BM25 term-frequency saturation (index setting)")
    bm25_b: float = Field(0.75, ge=0, le=1, description="BM25 length normalization (index setting)")
    dedup_containment: float = Field(
        0.6,
        gt=0,
        le=1,
        description="share of a chunk's word 3-grams found in another document's chunk "
        "above which the two are one near-duplicate group",
    )


class AnswerSettings(Section):
    """Extractive answers: how many sentences, and when to refuse."""

    max_sentences: int = Field(3, ge=1, le=10)
    passages: int = Field(6, ge=1, le=50, description="passages whose sentences are scored")
    abstain_below: float | None = Field(
        None, ge=0, le=1, description="refuse when P(answered) is below this; unset: the threshold "
        "of the calibration (reader on: rag/reader_model/reader.json; off: rag/calibration.json, "
        "or the index folder's own from rag calibrate)"
    )
    follow_ratio: float = Field(
        0.85, gt=0, le=1, description="extra sentences must score this share of the best one"
    )
    # The unit scorer (rag/query/answering.py); the calibration was fitted with these values.
    lexical_weight: float = Field(0.2, description="weight of the IDF share of question terms present")
    rank_weight: float = Field(0.05, description="bonus of weight / passage rank")
    type_penalty: float = Field(0.15, description="taken off a unit lacking the asked answer type")
    echo_penalty: float = Field(0.3, description="taken off a unit that only restates the question")
    echo_min_new_terms: int = Field(2, ge=0, description="a unit with fewer terms not in the question is an echo")
    list_items: int = Field(8, ge=0, description="a sentence ending in ':' takes up to this many items")
    list_item_words: int = Field(14, ge=1, description="longer sentences end a list")
    min_words: int = Field(4, ge=1, description="shorter units are never answers")
    same_sentence_cosine: float = Field(0.95, description="a runner-up this close to a chosen one repeats it")
    # The trained reader (rag/query/reader.py); its fitted defaults are in reader_model/reader.json.
    reader: Literal["on", "off"] = Field(
        "on", description="on: the trained reader orders the sentences and decides refusal; off: the "
        "scorer and calibrated refusal above (the answer stage before the reader)")
    reader_candidates: int | None = Field(
        None, ge=1, le=100, description="best-scored units the reader reads; unset: reader.json's")
    reader_blend: float | None = Field(
        None, ge=0, le=100, description="the reader orders units by logit P + this x their score; "
        "unset: reader.json's")
    reader_follow: float | None = Field(
        None, ge=0, le=1, description="with the reader on, extra sentences must have this share of the "
        "best one's P(answers); unset: reader.json's")
    short_answer_min: float | None = Field(
        None, ge=0, le=1, description="span confidence a short answer needs; unset: reader.json's")


class GeneratorSettings(Section):
    """Optional generated answers from an OpenAI-compatible server (rag/query/generation.py).

    Off until `base_url` is set. Passages are sent to that server, so they leave this machine only
    when it is a remote one. Every generated sentence is checked against a verbatim quote
    (rag/query/verify.py) before it is shown.
    """

    base_url: str = Field(
        "", description="the server's OpenAI-compatible root, e.g. http://127.0.0.1:8080/v1 "
        "(llama-server), http://127.0.0.1:11434/v1 (Ollama); empty: generation is off"
    )
    model: str = Field("local", description="model name sent to the server (Ollama needs the real one)")
    api_key: SecretStr | None = Field(None, description="bearer key for the server, when it needs one")
    timeout_s: float = Field(
        30.0, gt=0, le=600, description="a generated answer, retry included, takes at most this long; "
        "past it the extractive answer is returned (fallback 'timeout')"
    )
    max_tokens: int = Field(512, ge=16, le=8192, description="tokens the model may generate per attempt")
    temperature: float = Field(0.0, ge=0, le=2)
    default_style: Literal["extractive", "generated"] = Field(
        "extractive", description="answer style when a request names none"
    )
    response_format: Literal["auto", "json_schema", "json_object_schema", "json_object"] = Field(
        "auto", description="how the answer schema is sent: json_schema (OpenAI's form: llama-server, "
        "vLLM, Ollama, OpenAI), json_object_schema ({type: json_object, schema}: llama-cpp-python's "
        "server), json_object (JSON mode, no schema); auto: json_schema, switching to "
        "json_object_schema for a server that rejects it"
    )
    max_sentences: int = Field(6, ge=1, le=20, description="generated sentences considered at most")
    passage_chars: int = Field(1500, ge=200, description="each passage is cut to this many characters "
                               "in the prompt")
    min_quote_words: int = Field(3, ge=1, description="shorter quotes support nothing")
    support_cosine: float = Field(
        0.65, ge=-1, le=1, description="a sentence is kept only when its cosine to its quote (the "
        "index's embedding model) is at least this. Calibrated with MiniLM on eval/support_dev.jsonl "
        "(bench/calibrate_support.py): faithful paraphrases scored 0.74-0.97, sentences citing an "
        "unrelated quote 0.27 median, 0.8% of them over 0.65"
    )
    ask_when_refused: bool = Field(
        False, description="also ask the model when the extractive scorer refuses (weak evidence); "
        "off: that refusal stands (fallback 'refused')"
    )


class ApiSettings(Section):
    """HTTP service limits and exposure."""

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    workers: int = Field(1, ge=1, le=64)
    threads: int = Field(
        0, ge=0, le=256, description="requests computed at once per worker; 0 = 2 x CPU cores. "
        "Others wait in line instead of adding threads that fight over the cores"
    )
    cors_origins: list[str] = Field(default_factory=list)
    allowed_hosts: list[str] = Field(
        default_factory=list, description="Host header names accepted besides 127.0.0.1, localhost, "
        "::1 and api.host (DNS-rebinding guard); '*' accepts any"
    )
    max_question_chars: int = Field(2000, ge=1)
    max_k: int = Field(20, ge=1)
    max_body_bytes: int = Field(65536, ge=1024)
    max_upload_mb: float = Field(200.0, gt=0, description="largest POST /documents body (all files); "
                                 "each file is also held to corpus.max_file_mb")
    max_turns: int = Field(20, ge=1)
    reload_interval_s: float = Field(2.0, ge=0, description="how often to look for a new index")


class Settings(BaseSettings):
    """Everything configurable. Environment: `RAG_<SECTION>__<KEY>` (e.g. `RAG_RETRIEVAL__K=8`)."""

    model_config = SettingsConfigDict(
        env_prefix="RAG_", env_nested_delimiter="__", extra="forbid", validate_assignment=True
    )

    index_dir: Path = Field(Path("index"), description="where the index lives")
    api_key: SecretStr | None = Field(
        None, description="RAG_API_KEY: when set, HTTP routes but /health need 'Authorization: Bearer'"
    )
    corpus: CorpusSettings = CorpusSettings()
    cleaning: CleaningSettings = CleaningSettings()
    chunking: ChunkingSettings = ChunkingSettings()
    embedding: EmbeddingSettings = EmbeddingSettings()
    vectors: VectorSettings = VectorSettings()
    retrieval: RetrievalSettings = RetrievalSettings()
    answer: AnswerSettings = AnswerSettings()
    generator: GeneratorSettings = GeneratorSettings()
    api: ApiSettings = ApiSettings()

    @field_validator("api_key")
    @classmethod
    def _key_not_blank(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().strip():
            raise ValueError("RAG_API_KEY is set but empty; set a non-empty key, or unset it to serve "
                             "without authentication")
        return value

    @field_validator("index_dir")
    @classmethod
    def _not_empty(cls, value: Path) -> Path:
        if str(value).strip() == "":
            raise ValueError("index_dir must not be empty")
        return value

    def with_overrides(self, **dotted: Any) -> Settings:
        """A copy with `section.key` overrides (None values ignored), validated like the env."""
        data = self.model_dump()
        if self.api_key is not None:
            data["api_key"] = self.api_key.get_secret_value()
        if self.vectors.milvus_token is not None:
            data["vectors"]["milvus_token"] = self.vectors.milvus_token.get_secret_value()
        if self.generator.api_key is not None:
            data["generator"]["api_key"] = self.generator.api_key.get_secret_value()
        for key, value in dotted.items():
            if value is None:
                continue
            target = data
            *parents, leaf = key.split(".")
            for part in parents:
                target = target[part]
            target[leaf] = value
        return load_settings(**data)


def load_settings(**values: Any) -> Settings:
    """Build settings from the environment plus `values`, turning validation errors into ConfigError."""
    try:
        return Settings(**values)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"invalid settings: {problems}") from None
