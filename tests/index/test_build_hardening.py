"""Issue 13 reproductions for building and the CLI: each failed on the code before the fix.

A build open in a live process is not pruned; a full disk, a damaged embedding cache, a manifest
missing keys and an unwritable report path are one line and exit 1, never a traceback.
"""

from __future__ import annotations

import errno
import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from corpus_tools import ROOT, SEEDS

from rag import FakeEncoder, StorageError, build_index, current_build, load_settings, open_index
from rag.embed.cache import EmbeddingCache
from rag.eval.gold import write_report

GOOD = "The lighthouse keeper counted {n} ships passing the northern cape in a single night.\n"


def small_corpus(root: Path, n: int = 3) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        (root / f"doc{i}.txt").write_text(GOOD.format(n=i + 3))
    return root


def rag_cli(*args: str, env: dict[str, str] | None = None, limit_bytes: int | None = None,
            timeout: int = 300) -> subprocess.CompletedProcess:
    def cap() -> None:
        if limit_bytes is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))

    return subprocess.run([sys.executable, "-m", "rag.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})}, preexec_fn=cap, check=False)


def assert_one_line_error(run: subprocess.CompletedProcess, *words: str) -> None:
    assert run.returncode == 1, (run.returncode, run.stderr[-2000:])
    assert "Traceback" not in run.stderr, run.stderr[-2000:]
    errors = [line for line in run.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, run.stderr[-2000:]
    for word in words:
        assert word in errors[0], errors[0]


def test_a_build_open_in_a_live_process_is_not_pruned(tmp_path):
    settings = load_settings(index_dir=tmp_path / "index").with_overrides(**{"embedding.model": "fake-hash"})
    corpus = small_corpus(tmp_path / "corpus")
    encoder = FakeEncoder()
    build_index(settings, [corpus], encoder=encoder)
    serving = open_index(settings, encoder=encoder)  # a server that has not swapped yet
    first = serving.folder.name
    for _ in range(3):
        build_index(settings, [corpus], encoder=encoder)
    builds = tmp_path / "index" / "builds"
    assert (builds / first).is_dir() and len(list(builds.iterdir())) == 3
    assert serving.store.size == len(serving.chunks)
    serving.close()
    build_index(settings, [corpus], encoder=encoder)
    assert not (builds / first).exists() and len(list(builds.iterdir())) == 2


def test_a_lease_of_a_dead_process_or_a_copied_folder_does_not_pin_a_build(tmp_path):
    settings = load_settings(index_dir=tmp_path / "index").with_overrides(**{"embedding.model": "fake-hash"})
    corpus = small_corpus(tmp_path / "corpus")
    encoder = FakeEncoder()
    build_index(settings, [corpus], encoder=encoder)
    first = current_build(settings)
    leases = tmp_path / "index" / ".in-use"
    leases.mkdir()
    (leases / f"{first.name}@999999999@dead").write_text(str(first))
    (leases / f"{first.name}@{os.getpid()}@copied").write_text(f"/elsewhere/builds/{first.name}")
    for _ in range(2):
        build_index(settings, [corpus], encoder=encoder)
    assert not first.exists() and list(leases.iterdir()) == []


def test_a_full_disk_while_writing_a_build_is_a_storage_error(tmp_path, monkeypatch):
    from rag.index import layout

    settings = load_settings(index_dir=tmp_path / "index").with_overrides(**{"embedding.model": "fake-hash"})
    corpus = small_corpus(tmp_path / "corpus")
    encoder = FakeEncoder()
    build_index(settings, [corpus], encoder=encoder)
    before = current_build(settings)

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(layout.np, "save", full)
    with pytest.raises(StorageError, match="No space left on device"):
        build_index(settings, [corpus], encoder=encoder)
    assert current_build(settings) == before
    assert [p.name for p in (tmp_path / "index" / "builds").iterdir()] == [before.name]  # no partial


def test_a_damaged_embedding_cache_is_a_storage_error(tmp_path):
    path = tmp_path / "cache" / "embeddings.sqlite"
    path.parent.mkdir()
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StorageError, match="RAG_EMBEDDING__CACHE=false"):
        EmbeddingCache(path).get_many("m", ["h"], 4)


def test_an_unwritable_report_path_is_a_storage_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(StorageError, match="--json"):
        write_report({"summary": {}}, blocker / "report.json")


@pytest.mark.slow  # a CLI subprocess loads the real model
def test_cli_disk_full_and_damaged_cache_are_one_line(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "seed.txt").write_bytes(min(SEEDS.glob("*.txt")).read_bytes())
    # a file-size limit: the embedding cache cannot grow (SQLite reports the disk full) ...
    run = rag_cli("index", str(corpus), "--index-dir", str(tmp_path / "a"), limit_bytes=64 * 1024)
    assert_one_line_error(run, "embedding cache")
    # ... and without the cache the build's own files cannot be written
    run = rag_cli("index", str(corpus), "--index-dir", str(tmp_path / "b"), limit_bytes=16 * 1024,
                  env={"RAG_EMBEDDING__CACHE": "false"})
    assert_one_line_error(run, "cannot write the index")
    damaged = tmp_path / "c" / "cache" / "embeddings.sqlite"
    damaged.parent.mkdir(parents=True)
    damaged.write_bytes(b"not a database" * 1000)
    run = rag_cli("index", str(corpus), "--index-dir", str(tmp_path / "c"))
    assert_one_line_error(run, "embedding cache", "delete the file")


@pytest.mark.slow  # a CLI subprocess loads the real model
def test_cli_info_on_a_manifest_missing_keys_is_one_line(tmp_path):
    settings = load_settings(index_dir=tmp_path / "index").with_overrides(**{"embedding.model": "fake-hash"})
    build_index(settings, [small_corpus(tmp_path / "corpus")], encoder=FakeEncoder())
    manifest = current_build(settings) / "manifest.json"
    data = json.loads(manifest.read_text())
    del data["counts"], data["model"]["dimension"]
    manifest.write_text(json.dumps(data))
    run = rag_cli("info", "--index-dir", str(tmp_path / "index"))
    assert_one_line_error(run, "counts", "model.dimension", "rag index")


@pytest.mark.slow  # a CLI subprocess loads the real model
def test_cli_eval_json_to_an_unwritable_path_is_one_line(seeds_index, tmp_path):
    gold = tmp_path / "gold.jsonl"
    gold.write_text(json.dumps({"id": "q1", "question": "Which generals are negotiating the peace?",
                                "expected_doc_ids": ["000_fa0abe1aae40eff2"]}) + "\n")
    blocker = tmp_path / "file"
    blocker.write_text("")
    run = rag_cli("eval", "--gold", str(gold), "--index-dir", str(seeds_index.index_dir),
                  "--json", str(blocker / "report.json"))
    assert_one_line_error(run, "cannot write the report", "--json")


@pytest.mark.slow  # a CLI subprocess loads the real model
def test_cli_search_prints_document_text_verbatim(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    text = ("The account line reads root:x:0:0:root and the note says :smile: [bold]as typed[/bold]. "
            "Nothing in a quote is markup or an emoji code.\n")
    (corpus / "[red]colons.txt").write_text(text)
    index_dir = str(tmp_path / "index")
    assert rag_cli("index", str(corpus), "--index-dir", index_dir).returncode == 0
    run = rag_cli("search", "account line root", "--index-dir", index_dir, "-k", "1")
    assert run.returncode == 0, run.stderr
    assert "root:x:0:0:root" in run.stdout and ":smile:" in run.stdout and "[bold]as typed[/bold]" in run.stdout
    assert "[red]colons" in run.stdout and "\u274c" not in run.stdout and "\U0001f604" not in run.stdout
    run = rag_cli("info", "--index-dir", index_dir)
    assert run.returncode == 0 and "[red]colons" in run.stdout, run.stdout


def test_embedding_cache_round_trip_still_works(tmp_path):
    cache = EmbeddingCache(tmp_path / "e.sqlite")
    cache.put_many("m", [("h", np.ones(4, np.float32))])
    assert cache.get_many("m", ["h"], 4)["h"].tolist() == [1, 1, 1, 1]
    cache.close()
