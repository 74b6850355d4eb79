"""Index building with the real model and FAISS: token limits, offsets, cache, atomicity, mismatch."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from corpus_tools import ROOT, SEEDS, copy_seeds, make_bad_files

from rag.config import load_settings
from rag.embed.torch_encoder import Embedder, resolve_precision
from rag.errors import IndexMismatch, IndexMissing, NothingIndexed
from rag.index.build import build_index, embedding_text
from rag.index.reader import open_index
from rag.query.answering import ask

pytestmark = pytest.mark.slow  # real model, index, server or browser (not in make test-fast)

QUESTION = "Which generals are negotiating the peace?"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    folder = tmp_path_factory.mktemp("seeds-index")
    settings = load_settings(index_dir=folder / "index")
    report = build_index(settings, [SEEDS])
    return settings, report, open_index(settings)


def test_build_report_counts(built):
    _, report, index = built
    assert report.documents == 5 and report.skipped == []
    assert report.chunks == len(index.chunks) > 5
    manifest = index.manifest
    assert manifest["model"] == {"name": "all-MiniLM-L6-v2", "dimension": 384, "max_seq_length": 256,
                                 "precision": resolve_precision("auto")}
    assert manifest["settings"]["chunking.max_tokens"] == 200
    assert set(manifest["documents"]) == {p.stem for p in SEEDS.glob("*.txt")}
    for doc in manifest["documents"].values():
        assert len(doc["sha256"]) == 64 and doc["chunks"] > 0


def test_no_chunk_exceeds_the_model_window(built):
    settings, _, index = built
    embedder = Embedder(settings.embedding)
    texts = [embedding_text(c, index.documents[c.doc_id], settings) for c in index.chunks]
    with_special = embedder.tokenizer(texts, truncation=False)["input_ids"]
    assert max(len(ids) for ids in with_special) <= embedder.max_seq_length
    assert all(c.tokens <= settings.chunking.max_tokens for c in index.chunks)


def test_chunk_offsets_reproduce_the_original_file_text(built):
    _, _, index = built
    for chunk in index.chunks:
        original = (SEEDS / index.documents[chunk.doc_id].source).read_bytes().decode("utf-8")
        assert original[chunk.start:chunk.end] == chunk.text
        for s in chunk.sentences:
            assert chunk.start <= s.start < s.end <= chunk.end
    ids = [c.chunk_id for c in index.chunks]
    assert len(set(ids)) == len(ids) and all(c.chunk_id == f"{c.doc_id}#{c.n}" for c in index.chunks)


def test_boilerplate_is_not_indexed(built):
    from ingest.test_loading import BOILERPLATE

    _, _, index = built
    for chunk in index.chunks:
        for phrase in BOILERPLATE:
            assert phrase not in chunk.text, (chunk.chunk_id, phrase)


def test_long_sentence_is_split_inside_the_window(tmp_path: Path):
    corpus = tmp_path / "docs"
    corpus.mkdir()
    words = " ".join(f"word{i}" for i in range(900))
    (corpus / "long.txt").write_text(f"Intro line here.\n\n{words}.\n")
    settings = load_settings(index_dir=tmp_path / "index")
    build_index(settings, [corpus])
    index = open_index(settings)
    embedder = Embedder(settings.embedding)
    assert len(index.chunks) > 3
    for chunk in index.chunks:
        assert len(embedder.tokenizer(embedding_text(chunk, index.documents["long"], settings))["input_ids"]) <= 256
        assert index.documents["long"].text[chunk.start:chunk.end] == chunk.text


def test_reindex_unchanged_embeds_nothing_and_one_change_reembeds_only_it(tmp_path: Path):
    corpus = copy_seeds(tmp_path / "docs")
    settings = load_settings(index_dir=tmp_path / "index")
    first = build_index(settings, [corpus])
    assert first.embedded == first.chunks + first.sentences
    again = build_index(settings, [corpus])
    assert again.embedded == 0 and again.reused == again.chunks + again.sentences
    target = corpus / "003_a04de0ae7644ddd5.txt"
    target.write_text(target.read_text() + "\nA brand new closing sentence about winter talks.\n")
    changed = build_index(settings, [corpus])
    index = open_index(settings)
    own = [c for c in index.chunks if c.doc_id == "003_a04de0ae7644ddd5"]
    own_sentences = {(c.doc_id, s.start, s.end) for c in own for s in c.sentences}
    assert 0 < changed.embedded <= len(own) + len(own_sentences)
    assert changed.embedded < changed.chunks + changed.sentences


def test_mismatched_settings_are_refused_with_the_difference(built):
    settings, _, _ = built
    with pytest.raises(IndexMismatch) as exc:
        open_index(settings.with_overrides(**{"chunking.max_tokens": 128}))
    assert "chunking.max_tokens" in exc.value.message and "128" in exc.value.message
    assert "rag index" in exc.value.message
    with pytest.raises(IndexMismatch) as exc:
        open_index(settings.with_overrides(**{"embedding.model": "sentence-transformers/all-mpnet-base-v2"}))
    assert "embedding.model" in exc.value.message and "RAG_EMBEDDING__MODEL" in exc.value.message


def test_missing_index_and_empty_corpus(tmp_path: Path):
    settings = load_settings(index_dir=tmp_path / "nothing")
    with pytest.raises(IndexMissing):
        open_index(settings)
    make_bad_files(tmp_path / "bad")
    with pytest.raises(NothingIndexed) as exc:
        build_index(settings, [tmp_path / "bad"])
    assert "empty" in exc.value.message
    assert not (tmp_path / "nothing" / "current").exists()


def test_bad_files_do_not_stop_a_build(tmp_path: Path):
    corpus = copy_seeds(tmp_path / "docs")
    make_bad_files(corpus / "junk")
    report = build_index(load_settings(index_dir=tmp_path / "index"), [corpus])
    assert report.documents == 5 and len(report.skipped) == 5


def synthetic_corpus(folder: Path, documents: int, seed: int = 7) -> Path:
    """Unique, sentence-shaped text (so nothing is cached) big enough for a multi-second build."""
    rng = random.Random(seed)
    vocab = [f"{a}{b}" for a in ("tal", "mor", "vek", "sun", "dra", "pel", "kor", "lin")
             for b in ("ane", "ost", "ium", "ary", "elt", "ond", "ick", "ura")]
    folder.mkdir(parents=True, exist_ok=True)
    for d in range(documents):
        sentences = [" ".join(rng.choice(vocab) for _ in range(rng.randint(8, 20))).capitalize() + "."
                     for _ in range(24)]
        (folder / f"doc{d:04d}.txt").write_text(f"Synthetic report {d}\n\n" + " ".join(sentences) + "\n")
    return folder


def run_cli_build(corpus: Path, index_dir: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "rag.cli", "index", str(corpus), "--index-dir", str(index_dir)],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "PYTHONUNBUFFERED": "1", "RAG_EMBEDDING__CACHE": "false"})


def test_killed_builds_leave_the_previous_index_intact(tmp_path: Path):
    """SIGKILL `rag index` at random moments; the old index must load and answer identically."""
    kills = int(os.environ.get("RAG_KILLS", "5"))
    index_dir = tmp_path / "index"
    settings = load_settings(index_dir=index_dir)
    build_index(settings, [SEEDS])
    before = open_index(settings)
    expected = ask(before, QUESTION).model_dump(exclude={"timings_ms"})
    build_id = before.build_id
    corpus = synthetic_corpus(tmp_path / "big", int(os.environ.get("RAG_KILL_DOCS", "30")))
    shutil.copytree(SEEDS, corpus / "seeds")
    assert run_cli_build(corpus, tmp_path / "timing-index").wait(timeout=900) == 0
    # Time a rebuild with a warm cache and reusable chunks: the builds killed below get warmer as
    # they go, and a kill window as long as a cold build would mostly miss them.
    started = time.perf_counter()
    full = run_cli_build(corpus, tmp_path / "timing-index")
    assert full.wait(timeout=900) == 0
    duration = time.perf_counter() - started
    rng = random.Random(11)
    whole = len(os.listdir(corpus)) - 1 + 5  # synthetic docs + the five seeds in seeds/
    killed = 0
    for _ in range(kills):
        process = run_cli_build(corpus, index_dir)
        time.sleep(rng.uniform(0.3, duration))
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            process.wait()
            killed += 1
        reopened = open_index(settings)
        if reopened.build_id != build_id:  # the build got past its atomic switch: it is complete
            assert len(reopened.documents) == whole
            build_index(settings, [SEEDS])
            reopened = open_index(settings)
            build_id = reopened.build_id
        assert ask(reopened, QUESTION).model_dump(exclude={"timings_ms"}) == expected
    print(f"{killed} of {kills} builds killed mid-way; the old index answered identically after each")
    assert killed >= kills // 2
    final = run_cli_build(corpus, index_dir)
    assert final.wait(timeout=900) == 0
    assert len(open_index(settings).documents) == whole
    assert not list((index_dir / "builds").glob(".tmp-*"))


def test_cli_errors_are_one_line_with_exit_1(tmp_path: Path):
    for args in (["ask", "", "--index-dir", str(tmp_path)], ["search", "x", "--index-dir", str(tmp_path)],
                 ["info", "--index-dir", str(tmp_path)]):
        result = subprocess.run([sys.executable, "-m", "rag.cli", *args], cwd=ROOT, capture_output=True,
                                text=True, timeout=120, check=False)
        assert result.returncode == 1, result
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
        assert "Traceback" not in result.stderr


def test_cli_index_search_ask_info_json(tmp_path: Path):
    index_dir = str(tmp_path / "index")
    built = subprocess.run([sys.executable, "-m", "rag.cli", "index", str(SEEDS), "--index-dir", index_dir],
                          cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert built.returncode == 0 and "indexed 5 documents" in built.stdout
    found = subprocess.run([sys.executable, "-m", "rag.cli", "search", QUESTION, "-k", "3", "--json",
                            "--index-dir", index_dir],
                           cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    passages = json.loads(found.stdout)
    assert passages[0]["doc_id"] in ("000_fa0abe1aae40eff2", "001_ba8a69dfa45ae580")
    answered = subprocess.run([sys.executable, "-m", "rag.cli", "ask", QUESTION, "--json", "--index-dir",
                               index_dir], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    answer = json.loads(answered.stdout)
    assert set(answer) == {"question", "answer", "abstained", "citations", "short_answer", "related",
                           "timings_ms", "style", "dropped", "fallback"}
    assert answer["citations"] and "[1]" in answer["answer"]
    info = subprocess.run([sys.executable, "-m", "rag.cli", "info", "--json", "--index-dir", index_dir],
                         cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert json.loads(info.stdout)["counts"]["documents"] == 5


def test_a_second_concurrent_build_is_refused_not_interleaved(tmp_path: Path):
    from rag.errors import IndexBusy
    from rag.index.layout import build_lock

    settings = load_settings(index_dir=tmp_path / "index")
    with build_lock(tmp_path / "index"), pytest.raises(IndexBusy) as exc:
        build_index(settings, [SEEDS])
    assert "another 'rag index'" in exc.value.message
    build_index(settings, [SEEDS])
    assert open_index(settings).manifest["counts"]["documents"] == 5
