"""The vector-store backends, one suite for all: FAISS (flat, IVF, HNSW) and Milvus (Milvus Lite
in the build folder, and a real Milvus gRPC server: `milvus-lite server` in a subprocess).

Store-level tests check every search against a numpy brute force on random normalized vectors;
index-level tests build the seeds with the real model on Milvus and compare with FAISS.
"""

from __future__ import annotations

import fcntl
import gc
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from corpus_tools import ROOT, SEEDS, copy_seeds

from rag.config import VectorSettings
from rag.errors import ConfigError, IndexBusy, IndexMismatch, RagError, VectorStoreUnavailable
from rag.eval.gold import load_gold, run_gold
from rag.index.build import build_index
from rag.index.layout import current_build
from rag.index.reader import open_index
from rag.query.retrieval import chunk_scores
from rag.stores.base import read_description
from rag.stores.milvus_store import collection_name, in_filter
from rag.stores.registry import build_store, create_store, drop_store, open_store

pytestmark = pytest.mark.slow  # real model, index, server or browser (not in make test-fast)

ROWS, DIM, DOCS = 2_000, 64, 50
GOLD = ROOT / "eval" / "seeds.jsonl"

# name -> (VectorSettings overrides, exact search expected)
CASES = {
    "faiss-flat": ({"backend": "faiss", "faiss_kind": "flat"}, True),
    "faiss-ivf": ({"backend": "faiss", "faiss_kind": "ivf", "ivf_nprobe": 10_000}, True),  # every cell
    "faiss-hnsw": ({"backend": "faiss", "faiss_kind": "hnsw"}, False),
    "milvus-lite": ({"backend": "milvus"}, True),
    "milvus-lite-ivf": ({"backend": "milvus", "milvus_index": "IVF_FLAT", "ivf_nprobe": 10_000}, True),
    "milvus-lite-hnsw": ({"backend": "milvus", "milvus_index": "HNSW"}, False),
    "milvus-server": ({"backend": "milvus", "milvus_uri": "SERVER"}, True),
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def milvus_server(tmp_path_factory):
    """A real Milvus gRPC server (Milvus Lite's standalone server) on a free port."""
    data = tmp_path_factory.mktemp("milvus-server")
    port = free_port()
    with open(data.parent / f"milvus-server-{port}.log", "wb") as log:
        process = subprocess.Popen([str(Path(sys.executable).parent / "milvus-lite"), "server", "--data-dir",
                                    str(data / "data"), "--host", "127.0.0.1", "--port", str(port)],
                                   stdout=log, stderr=subprocess.STDOUT)
    uri = f"http://127.0.0.1:{port}"
    from pymilvus import MilvusClient

    deadline = time.monotonic() + 60
    while True:
        assert process.poll() is None, "milvus-lite server exited"
        try:
            MilvusClient(uri, timeout=2).close()
            break
        except Exception:  # noqa: BLE001  not listening yet
            assert time.monotonic() < deadline, "milvus-lite server did not start in 60 s"
            time.sleep(0.2)
    yield uri
    process.terminate()
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        process.kill()


def server_collections(uri: str) -> list[str]:
    from pymilvus import MilvusClient

    client = MilvusClient(uri)
    try:
        return sorted(client.list_collections())
    finally:
        client.close()


@pytest.fixture(params=list(CASES))
def case(request) -> tuple[VectorSettings, bool]:
    overrides, exact = CASES[request.param]
    if overrides.get("milvus_uri") == "SERVER":
        overrides = {**overrides, "milvus_uri": request.getfixturevalue("milvus_server")}
    return VectorSettings(**overrides), exact


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(7)
    vectors = normalized(rng.standard_normal((ROWS, DIM)))
    doc_ids = [f"doc-{i % DOCS:02d}" for i in range(ROWS)]
    queries = normalized(rng.standard_normal((12, DIM)))
    return vectors, doc_ids, queries


def normalized(matrix: np.ndarray) -> np.ndarray:
    matrix = matrix.astype(np.float32)
    return matrix / np.linalg.norm(matrix, axis=1, keepdims=True)


def new_build(root: Path, build_id: str = "20260101T000000000000Z-abcdef") -> Path:
    folder = root / "builds" / f".tmp-{build_id}"
    folder.mkdir(parents=True)
    return folder


def finish(folder: Path) -> Path:
    """What indexing does after writing a build: rename `.tmp-<id>` to `<id>`."""
    final = folder.parent / folder.name.removeprefix(".tmp-")
    os.replace(folder, final)
    return final


def check_search(store, vectors, query, k, exact, rows=None, doc_ids=None):
    """Search results against brute force over `rows` (all rows by default)."""
    rows = np.arange(len(vectors)) if rows is None else np.asarray(sorted(rows), dtype=np.int64)
    ids, scores = store.search(query, k, doc_ids)
    assert ids.dtype == np.int64 and len(ids) == len(scores) <= k
    cosine = {int(r): float(s) for r, s in zip(rows, vectors[rows] @ query, strict=True)}
    reference = sorted(cosine, key=lambda r: -cosine[r])[:k]
    assert set(ids.tolist()) <= set(cosine), "a row outside the allowed rows"
    assert len(set(ids.tolist())) == len(ids), "a row twice"
    assert np.all(np.diff(scores) <= 1e-6), "not best first"
    np.testing.assert_allclose(scores, [cosine[i] for i in ids.tolist()], atol=1e-5)
    if exact:
        assert ids.tolist() == reference
    else:
        assert len(set(ids.tolist()) & set(reference)) >= 0.9 * min(k, len(reference))
    return ids


# ------------------------------------------------------------------------------ one suite, all backends


def test_search_matches_brute_force(case, data, tmp_path):
    settings, exact = case
    vectors, doc_ids, queries = data
    folder = finish(new_build(tmp_path))
    store = create_store(settings, folder, DIM, ROWS)
    try:
        for begin in range(0, ROWS, 700):  # several add calls
            end = min(begin + 700, ROWS)
            store.add(np.arange(begin, end), vectors[begin:end], doc_ids[begin:end])
        assert store.size == ROWS
        for query in queries:
            for k in (1, 10, 100):
                check_search(store, vectors, query, k, exact)
        top = store.search(vectors[123], 1)
        assert top[0].tolist() == [123] and abs(top[1][0] - 1) < 1e-5  # a stored vector finds itself
        assert len(store.search(queries[0], 0)[0]) == 0
        if exact:
            ids, _ = store.search(queries[0], ROWS + 10)  # more than stored: all rows
            assert sorted(ids.tolist()) == list(range(ROWS))
    finally:
        store.close()


def test_document_filter(case, data, tmp_path):
    settings, exact = case
    vectors, doc_ids, queries = data
    folder = finish(new_build(tmp_path))
    build_store(settings, folder, vectors, doc_ids)
    store = open_store(settings, folder)
    try:
        wanted = ["doc-03", "doc-17", "doc-41"]
        rows = [i for i, d in enumerate(doc_ids) if d in wanted]
        for query in queries:
            ids = check_search(store, vectors, query, 10, exact, rows=rows, doc_ids=wanted)
            assert {doc_ids[i] for i in ids.tolist()} <= set(wanted)
        # k beyond the documents' rows returns their rows (graph search under a 2% filter: most)
        ids, _ = store.search(queries[0], 500, doc_ids=["doc-05"])
        own = [i for i, d in enumerate(doc_ids) if d == "doc-05"]
        if exact:
            assert sorted(ids.tolist()) == own
        else:
            assert set(ids.tolist()) <= set(own) and len(ids) >= 0.8 * len(own)
        assert len(store.search(queries[0], 10, doc_ids=["no-such-doc"])[0]) == 0
        assert len(store.search(queries[0], 10, doc_ids=[])[0]) == 0
    finally:
        store.close()


def test_delete_documents_removes_exactly_their_rows(case, data, tmp_path):
    settings, exact = case
    vectors, doc_ids, queries = data
    folder = finish(new_build(tmp_path))
    build_store(settings, folder, vectors, doc_ids)
    store = open_store(settings, folder)
    gone_docs = {"doc-07", "doc-30"}
    gone = [i for i, d in enumerate(doc_ids) if d in gone_docs]
    kept = [i for i in range(ROWS) if i not in set(gone)]
    try:
        assert len(store.search(queries[0], 10, doc_ids=sorted(gone_docs))[0]) > 0  # fills any row cache
        assert store.delete_documents(gone_docs | {"never-indexed"}) == len(gone) == 2 * ROWS // DOCS
        assert store.size == ROWS - len(gone)
        assert store.delete_documents(gone_docs) == 0
        for row in gone[:10]:  # a deleted vector is never found, not even by itself
            ids = check_search(store, vectors, vectors[row], 20, exact, rows=kept)
            assert row not in ids.tolist()
        for query in queries:
            check_search(store, vectors, query, 10, exact, rows=kept)
        assert len(store.search(queries[0], 10, doc_ids=sorted(gone_docs))[0]) == 0
        store.save()
    finally:
        store.close()
    reopened = open_store(settings, folder)
    try:
        assert reopened.size == ROWS - len(gone)
        check_search(reopened, vectors, vectors[gone[0]], 20, exact, rows=kept)
    finally:
        reopened.close()


def test_replace_a_document(case, data, tmp_path):
    """Incremental update of one document: delete its rows, add its new rows under new ids."""
    settings, exact = case
    vectors, doc_ids, queries = data
    folder = finish(new_build(tmp_path))
    build_store(settings, folder, vectors, doc_ids)
    store = open_store(settings, folder)
    old = [i for i, d in enumerate(doc_ids) if d == "doc-11"]
    fresh = normalized(np.random.default_rng(11).standard_normal((5, DIM)))
    new_ids = np.arange(ROWS, ROWS + 5)
    try:
        assert store.delete_documents(["doc-11"]) == len(old)
        store.add(new_ids, fresh, ["doc-11"] * 5)
        assert store.size == ROWS - len(old) + 5
        store.save()
    finally:
        store.close()
    everything = np.concatenate([vectors, fresh])
    rows = [i for i in range(ROWS + 5) if i not in set(old)]
    reopened = open_store(settings, folder)
    try:
        assert reopened.size == len(rows)
        ids, _ = reopened.search(queries[0], 50, doc_ids=["doc-11"])
        if exact:
            assert sorted(ids.tolist()) == new_ids.tolist()
        else:  # a graph search under a 0.25% filter may miss one
            assert set(ids.tolist()) <= set(new_ids.tolist()) and len(ids) >= 4
        for i, vector in zip(new_ids.tolist(), fresh, strict=True):
            ids = check_search(reopened, everything, vector, 10, exact, rows=rows)
            assert ids[0] == i
        for row in old:
            assert row not in check_search(reopened, everything, vectors[row], 10, exact, rows=rows).tolist()
    finally:
        reopened.close()


def test_round_trip_and_description(case, data, tmp_path):
    settings, exact = case
    vectors, doc_ids, queries = data
    temp = new_build(tmp_path)
    described = build_store(settings, temp, vectors, doc_ids)
    folder = finish(temp)  # builds are renamed after writing: nothing may point at the temp path
    assert read_description(folder) == described
    text = json.dumps(described)
    assert ".tmp-" not in text and str(tmp_path) not in text
    assert described["backend"] == settings.backend
    assert described["rows"] == ROWS and described["dimension"] == DIM
    if settings.backend == "faiss":
        assert described["kind"] == settings.faiss_kind and described["file"] == "vectors.faiss"
    else:
        assert described["kind"] == settings.milvus_index and described["metric"] == "IP"
        assert described["collection"] == "rag_20260101T000000000000Z_abcdef"
        if settings.milvus_uri:
            assert described["uri"] == settings.milvus_uri and "file" not in described
        else:
            assert described["file"] == "milvus.db" and (folder / "milvus.db").is_dir()
    for _ in range(2):  # opened twice in a row: each open sees the same rows
        store = open_store(settings, folder)
        try:
            assert store.size == ROWS
            for query in queries[:4]:
                check_search(store, vectors, query, 10, exact)
            assert store.describe() == described
        finally:
            store.close()


# ------------------------------------------------------------------------------ Milvus specifics


def lock_is_free(db: Path) -> bool:
    """True when no open file description holds Milvus Lite's lock on `db` (this process included)."""
    fd = os.open(db / "LOCK", os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def test_awkward_document_ids_filter_and_delete_exactly(data, tmp_path):
    vectors, _, queries = data
    names = ['quote"d', "apo'strophe", "back\\slash", "new\nline", "tab\there", "accént-日本", "a, b]", ""]
    doc_ids = [names[i % len(names)] for i in range(200)]
    settings = VectorSettings(backend="milvus")
    folder = finish(new_build(tmp_path))
    build_store(settings, folder, vectors[:200], doc_ids)
    store = open_store(settings, folder)
    try:
        for name in names:
            rows = [i for i, d in enumerate(doc_ids) if d == name]
            ids, _ = store.search(queries[0], 200, doc_ids=[name])
            assert sorted(ids.tolist()) == rows, name
        assert store.delete_documents(['quote"d', "back\\slash"]) == 50
        ids, _ = store.search(queries[0], 200)
        assert {doc_ids[i] for i in ids.tolist()} == set(names) - {'quote"d', "back\\slash"}
    finally:
        store.close()
    assert in_filter(['a"b']) == 'doc_id in ["a\\"b"]'
    assert collection_name(Path("builds/.tmp-20260101T000000Z-ab12cd")) == "rag_20260101T000000Z_ab12cd"


def test_lite_database_is_released_by_close_and_by_garbage_collection(data, tmp_path):
    vectors, doc_ids, queries = data
    settings = VectorSettings(backend="milvus")
    folder = finish(new_build(tmp_path))
    build_store(settings, folder, vectors, doc_ids)
    db = folder / "milvus.db"
    assert lock_is_free(db)  # build_store closed it
    first, second = open_store(settings, folder), open_store(settings, folder)  # e.g. a reload
    assert not lock_is_free(db)
    first.close()
    assert second.size == ROWS and len(second.search(queries[0], 5)[0]) == 5  # still served
    second.close()
    assert lock_is_free(db)
    dropped = open_store(settings, folder)  # the API drops an old index without closing it
    assert not lock_is_free(db)
    del dropped
    gc.collect()
    assert lock_is_free(db)


HOLD = """
import sys, time
from pathlib import Path
from rag.config import VectorSettings
from rag.stores.registry import open_store
store = open_store(VectorSettings(backend="milvus"), Path(sys.argv[1]))
print("open", store.size, flush=True)
time.sleep(120)
"""


def test_lite_database_open_in_another_process_is_refused_with_a_reason(data, tmp_path):
    vectors, doc_ids, _ = data
    settings = VectorSettings(backend="milvus")
    folder = finish(new_build(tmp_path))
    build_store(settings, folder, vectors, doc_ids)
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(folder)], cwd=ROOT,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == f"open {ROWS}"
        with pytest.raises(IndexBusy) as exc:
            open_store(settings, folder)
        assert "another process" in exc.value.message and "RAG_VECTORS__MILVUS_URI" in exc.value.message
    finally:
        holder.kill()
        holder.wait()
    store = open_store(settings, folder)  # free again once the other process is gone
    assert store.size == ROWS
    store.close()


def test_server_collections_are_per_build_and_dropped_with_the_build(milvus_server, data, tmp_path):
    vectors, doc_ids, _ = data
    settings = VectorSettings(backend="milvus", milvus_uri=milvus_server)
    first = finish(new_build(tmp_path, "20260101T000000000000Z-aaaaaa"))
    second = new_build(tmp_path, "20260102T000000000000Z-bbbbbb")
    build_store(settings, first, vectors, doc_ids)
    assert "rag_20260102T000000000000Z_bbbbbb" not in server_collections(milvus_server)
    create_store(settings, second, DIM, ROWS).close()  # a build killed after creating its collection
    assert read_description(second)["collection"] == "rag_20260102T000000000000Z_bbbbbb"
    assert {"rag_20260101T000000000000Z_aaaaaa", "rag_20260102T000000000000Z_bbbbbb"} <= set(
        server_collections(milvus_server))
    drop_store(settings, second)  # what removing a stale temporary build does
    drop_store(settings, first)  # what pruning an old build does
    left = server_collections(milvus_server)
    assert "rag_20260101T000000000000Z_aaaaaa" not in left and "rag_20260102T000000000000Z_bbbbbb" not in left


def test_shared_lite_file_holds_one_collection_per_build(data, tmp_path):
    vectors, doc_ids, _ = data
    settings = VectorSettings(backend="milvus", milvus_uri=str(tmp_path / "shared.db"))
    a = finish(new_build(tmp_path / "a", "20260101T000000000000Z-aaaaaa"))
    b = finish(new_build(tmp_path / "b", "20260101T000000000000Z-bbbbbb"))
    build_store(settings, a, vectors[:100], doc_ids[:100])
    build_store(settings, b, vectors[100:400], doc_ids[100:400])
    assert not (a / "milvus.db").exists() and (tmp_path / "shared.db").is_dir()
    sizes = []
    for folder in (a, b):
        store = open_store(settings, folder)
        sizes.append(store.size)
        store.close()
    assert sizes == [100, 300]
    drop_store(settings, a)
    with pytest.raises(RagError) as exc:
        open_store(settings, a)
    assert "rag_20260101T000000000000Z_aaaaaa" in exc.value.message and "rag index" in exc.value.message
    store = open_store(settings, b)
    assert store.size == 300
    store.close()


def test_unreachable_server_and_bad_configuration_are_project_errors(tmp_path):
    down = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(VectorStoreUnavailable) as exc:
        create_store(VectorSettings(backend="milvus", milvus_uri=down), new_build(tmp_path), DIM, ROWS)
    assert down in exc.value.message and "RAG_VECTORS__MILVUS_URI" in exc.value.message
    assert exc.value.code == "vector_store_unavailable"  # api/errors.py answers it with 503
    with pytest.raises(ConfigError) as exc:
        create_store(VectorSettings(backend="milvus", milvus_uri="ftp://host/x"), tmp_path, DIM, ROWS)
    assert "RAG_VECTORS__MILVUS_URI" in exc.value.message
    # a build whose server went away: opening says which server and what to check
    folder = tmp_path / "server-build"
    folder.mkdir()
    (folder / "vectorstore.json").write_text(json.dumps(
        {"backend": "milvus", "kind": "FLAT", "rows": 3, "dimension": DIM, "metric": "IP", "params": {},
         "collection": "rag_x", "uri": down}))
    with pytest.raises(VectorStoreUnavailable) as exc:
        open_store(VectorSettings(backend="milvus"), folder)
    assert down in exc.value.message
    with pytest.raises(ConfigError):  # nowhere recorded and nothing configured
        open_store(VectorSettings(backend="milvus"), _without_uri(folder))


def _without_uri(folder: Path) -> Path:
    described = json.loads((folder / "vectorstore.json").read_text())
    del described["uri"]
    (folder / "vectorstore.json").write_text(json.dumps(described))
    return folder


def test_missing_pymilvus_is_a_config_error_naming_the_install(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "pymilvus", None)  # import fails as if not installed
    with pytest.raises(ConfigError) as exc:
        create_store(VectorSettings(backend="milvus"), tmp_path, DIM, ROWS)
    assert "pip install" in exc.value.message and "pymilvus" in exc.value.message


def test_cli_index_with_milvus_down_is_one_line_exit_1(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    env.update(RAG_VECTORS__BACKEND="milvus", RAG_VECTORS__MILVUS_URI=f"http://127.0.0.1:{free_port()}")
    result = subprocess.run([sys.executable, "-m", "rag.cli", "index", str(SEEDS), "--index-dir",
                             str(tmp_path / "index")], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=300, check=False)
    assert result.returncode == 1, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Milvus" in errors[0] and "RAG_VECTORS__MILVUS_URI" in errors[0]
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "index" / "current").exists()


# ------------------------------------------------------------------------------ whole index on Milvus


@pytest.fixture(scope="module")
def milvus_seeds(tmp_path_factory):
    from rag.config import load_settings

    settings = load_settings(index_dir=tmp_path_factory.mktemp("seeds-milvus") / "index").with_overrides(
        **{"vectors.backend": "milvus"})
    build_index(settings, [SEEDS])
    return settings


def test_seeds_on_milvus_answer_exactly_as_on_faiss(seeds_index, milvus_seeds):
    faiss_index, milvus_index = open_index(seeds_index), open_index(milvus_seeds)
    assert faiss_index.manifest["vectors"]["backend"] == "faiss"
    assert milvus_index.manifest["vectors"]["backend"] == "milvus"
    assert (milvus_index.folder / "milvus.db").is_dir() and not (milvus_index.folder / "vectors.faiss").exists()
    gold = load_gold(GOLD)
    everything = len(faiss_index.chunks)  # no cut-off, so rows tied at a cut-off cannot differ
    for item in gold:  # the dense retriever itself: same chunks, same order, same cosines
        a = chunk_scores(faiss_index, item.question, "dense", everything)
        b = chunk_scores(milvus_index, item.question, "dense", everything)
        assert [r for r, *_ in a] == [r for r, *_ in b], item.id
        np.testing.assert_allclose([s for _, s, *_ in a], [s for _, s, *_ in b], atol=1e-5)
    on_faiss, on_milvus = run_gold(faiss_index, gold), run_gold(milvus_index, gold)
    timing = {"latency_p50_ms", "latency_p95_ms"}
    assert {k: v for k, v in on_milvus["summary"].items() if k not in timing} == \
        {k: v for k, v in on_faiss["summary"].items() if k not in timing}
    assert on_faiss["splits"]["dev"]["hit@1"] >= 0.90  # between two good runs (0.927 with the reader)
    for x, y in zip(on_faiss["questions"], on_milvus["questions"], strict=True):
        assert (x["cited"], x["abstained"], x["answer"]) == (y["cited"], y["abstained"], y["answer"]), x["id"]
    milvus_index.store.close()


def test_an_index_built_on_milvus_is_refused_with_faiss_settings(milvus_seeds):
    with pytest.raises(IndexMismatch) as exc:
        open_index(milvus_seeds.with_overrides(**{"vectors.backend": "faiss"}))
    assert "vectors.backend" in exc.value.message and "RAG_VECTORS__BACKEND" in exc.value.message


@pytest.mark.parametrize("where", ["lite", "server"])
def test_incremental_rebuild_on_milvus_holds_exactly_the_new_chunks(where, tmp_path, request):
    from rag.config import load_settings

    overrides = {"vectors.backend": "milvus"}
    if where == "server":
        uri = request.getfixturevalue("milvus_server")
        overrides["vectors.milvus_uri"] = uri
        before = set(server_collections(uri))
    corpus = copy_seeds(tmp_path / "docs")
    settings = load_settings(index_dir=tmp_path / "index").with_overrides(**overrides)
    build_index(settings, [corpus])
    changed, deleted = "003_a04de0ae7644ddd5", "002_d16182aecea7049e"
    (corpus / f"{changed}.txt").write_text((corpus / f"{changed}.txt").read_text() +
                                           "\nA brand new closing sentence about winter talks.\n")
    (corpus / f"{deleted}.txt").unlink()
    report = build_index(settings, [corpus])
    index = open_index(settings)
    try:
        assert deleted not in index.documents and report.documents == 4
        assert index.store.size == len(index.chunks)
        for doc in index.documents:  # each document's rows are exactly its chunks
            rows = [i for i, c in enumerate(index.chunks) if c.doc_id == doc]
            ids, _ = index.store.search(np.zeros(384, np.float32) + 0.05, 1000, doc_ids=[doc])
            assert sorted(ids.tolist()) == rows, doc
        assert len(index.store.search(np.ones(384, np.float32), 1000, doc_ids=[deleted])[0]) == 0
        ids, _ = index.store.search(index.embedder.encode_query("A brand new closing sentence about "
                                                                "winter talks."), 1)
        assert index.chunks[ids[0]].doc_id == changed and "winter talks" in index.chunks[ids[0]].text
        # the same corpus on FAISS ranks every chunk identically
        faiss = load_settings(index_dir=tmp_path / "faiss-index")
        build_index(faiss, [corpus])
        reference = open_index(faiss)
        assert [c.model_dump() for c in reference.chunks] == [c.model_dump() for c in index.chunks]
        for question in ("Which generals are negotiating the peace?", "winter talks"):
            ours = chunk_scores(index, question, "dense", len(index.chunks))
            theirs = chunk_scores(reference, question, "dense", len(index.chunks))
            assert [r for r, *_ in ours] == [r for r, *_ in theirs], (question, ours, theirs)
    finally:
        index.store.close()
    build_index(settings, [corpus])  # a third build prunes the first
    builds = sorted(p.name for p in (tmp_path / "index" / "builds").iterdir())
    assert len(builds) == 2 and current_build(settings).name == builds[-1]
    if where == "server":
        ours = set(server_collections(uri)) - before
        assert ours == {collection_name(Path(b)) for b in builds}  # the pruned build's collection went
    else:
        assert all((tmp_path / "index" / "builds" / b / "milvus.db").is_dir() for b in builds)


def test_server_hot_reloads_milvus_builds_and_releases_the_old_ones(milvus_seeds, tmp_path, start_server):
    index_dir = tmp_path / "index"
    shutil.copytree(milvus_seeds.index_dir, index_dir, symlinks=True)  # with the embedding cache
    env = {"RAG_VECTORS__BACKEND": "milvus", "RAG_API__RELOAD_INTERVAL_S": "0.2"}
    server = start_server(index_dir, env=env)
    first = current_build(milvus_seeds.with_overrides(index_dir=index_dir))
    with httpx.Client(base_url=server.url, timeout=60) as http:
        answer = http.post("/ask", json={"question": "Which generals are negotiating the peace?"}).json()
        assert not answer["abstained"] and answer["citations"], answer
        assert not lock_is_free(first / "milvus.db")  # the server holds its build's Lite database
        clean = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
        subprocess.run([sys.executable, "-m", "rag.cli", "index", str(SEEDS), "--index-dir", str(index_dir)],
                       cwd=ROOT, env={**clean, "RAG_VECTORS__BACKEND": "milvus"}, check=True,
                       capture_output=True)
        second = current_build(milvus_seeds.with_overrides(index_dir=index_dir))
        deadline = time.monotonic() + 30
        while http.get("/health").json()["build_id"] != second.name:
            assert time.monotonic() < deadline, server.log()[-3000:]
            time.sleep(0.1)
        again = http.post("/ask", json={"question": "Which generals are negotiating the peace?"}).json()
        assert again["answer"] == answer["answer"]
        deadline = time.monotonic() + 30
        while not lock_is_free(first / "milvus.db"):  # the old build's Lite server was stopped
            assert time.monotonic() < deadline, "the old build's Milvus Lite database is still open"
            time.sleep(0.2)
        assert not lock_is_free(second / "milvus.db")


def test_embedding_split_across_machines_merges_into_a_build_that_embeds_nothing(tmp_path):
    """The README's recipe: each machine embeds a shard into its own cache; the caches are merged
    (SQLite ATTACH + INSERT OR IGNORE); the full build then only writes."""
    from rag.config import load_settings

    corpus = copy_seeds(tmp_path / "docs")
    files = sorted(corpus.glob("*.txt"))
    for n, part in enumerate((files[:2], files[2:])):
        shard = tmp_path / f"shard-{n}"
        shard.mkdir()
        for path in part:
            shutil.copy(path, shard / path.name)
        report = build_index(load_settings(index_dir=tmp_path / f"machine-{n}"), [shard])
        assert report.embedded > 0
    cache = tmp_path / "index" / "cache"
    cache.mkdir(parents=True)
    shutil.copy(tmp_path / "machine-0" / "cache" / "embeddings.sqlite", cache / "embeddings.sqlite")
    with sqlite3.connect(cache / "embeddings.sqlite") as db:
        db.execute("ATTACH ? AS shard", (str(tmp_path / "machine-1" / "cache" / "embeddings.sqlite"),))
        db.execute("INSERT OR IGNORE INTO vectors SELECT * FROM shard.vectors")
    settings = load_settings(index_dir=tmp_path / "index").with_overrides(**{"vectors.backend": "milvus"})
    report = build_index(settings, [corpus])
    assert report.documents == 5 and report.embedded == 0
    assert report.reused == report.chunks + report.sentences
