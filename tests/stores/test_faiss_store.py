"""FAISS store internals that bench/scale.py measured."""

from __future__ import annotations

import threading

import faiss
import numpy as np

from rag.config import VectorSettings
from rag.stores.faiss_store import FaissStore, _one_thread


def clustered(rows_per_topic: int, topics: int, seed: int = 0) -> np.ndarray:
    """Rows in topic order, as a corpus arrives: all of topic 0, then topic 1, ..."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((topics, 32)).astype(np.float32)
    rows = np.repeat(centres, rows_per_topic, axis=0) + 0.05 * rng.standard_normal(
        (topics * rows_per_topic, 32)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def test_ivf_trains_on_every_batch_not_the_first(tmp_path):
    vectors = clustered(400, 8)  # 3,200 rows; the first batch of 400 holds topic 0 only
    settings = VectorSettings(faiss_kind="ivf", ivf_lists=16, ivf_nprobe=1)
    store = FaissStore.create(settings, tmp_path, 32, len(vectors))
    for begin in range(0, len(vectors), 400):
        store.add(np.arange(begin, begin + 400), vectors[begin:begin + 400], ["d"] * 400)
    assert store.size == len(vectors)
    centroids = store.index.quantizer.reconstruct_n(0, store.index.nlist)
    topics = vectors[::400]
    # every topic has a cell of its own nearby (a first-batch training put all 16 in topic 0)
    assert (topics @ centroids.T).max(axis=1).min() > 0.9
    hits = [store.search(vectors[i], 1)[0][0] for i in range(0, len(vectors), 97)]
    assert hits == list(range(0, len(vectors), 97))


def test_rows_added_short_of_the_expected_count_are_trained_and_added_on_first_use(tmp_path):
    vectors = clustered(100, 4)
    store = FaissStore.create(VectorSettings(faiss_kind="ivf", ivf_lists=4), tmp_path, 32, 10_000)
    store.add(np.arange(len(vectors)), vectors, ["d"] * len(vectors))
    assert store.size == len(vectors)
    assert store.search(vectors[7], 1)[0][0] == 7
    store.save()
    assert (tmp_path / "vectors.faiss").exists()


def test_single_queries_scan_and_batches_use_blas(tmp_path):
    FaissStore.create(VectorSettings(faiss_kind="flat"), tmp_path, 384, 10)
    threshold = faiss.cvar.distance_compute_blas_threshold
    # faiss 1.15 compares queries x dimension; older faiss the query count
    assert threshold in (20, 20 * 384)
    per_query = 384 if threshold > 20 else 1
    assert 1 * per_query < threshold <= 20 * per_query


def test_one_thread_is_local_to_the_calling_thread_and_restored():
    before = faiss.omp_get_max_threads()
    seen = []
    with _one_thread():
        assert faiss.omp_get_max_threads() == 1
        other = threading.Thread(target=lambda: seen.append(faiss.omp_get_max_threads()))
        other.start()
        other.join()
    assert faiss.omp_get_max_threads() == before
    assert seen == [before]


def test_openblas_core_follows_the_instruction_sets(monkeypatch):
    from rag.stores import faiss_store

    monkeypatch.setattr(faiss_store.platform, "machine", lambda: "x86_64")
    avx512 = {"avx2", "avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"}
    assert faiss_store._openblas_core(avx512) == "SkylakeX"
    assert faiss_store._openblas_core({"avx2", "avx512f"}) == "Haswell"  # F alone: not SkylakeX's set
    assert faiss_store._openblas_core({"sse4_2"}) is None
    monkeypatch.setattr(faiss_store.platform, "machine", lambda: "aarch64")
    assert faiss_store._openblas_core(avx512) is None


def test_a_document_filter_sees_rows_added_and_deleted_after_it_was_first_used(tmp_path):
    """The per-document row lists behind `doc_ids` filters follow every add and delete."""
    vectors = clustered(20, 3)
    store = FaissStore.create(VectorSettings(faiss_kind="flat"), tmp_path, 32, len(vectors))
    store.add(np.arange(20), vectors[:20], ["a"] * 20)
    assert sorted(store.search(vectors[0], 50, doc_ids=["a"])[0].tolist()) == list(range(20))
    assert len(store.search(vectors[0], 50, doc_ids=["b"])[0]) == 0
    store.add(np.arange(20, 60), vectors[20:], ["b"] * 40)
    assert sorted(store.search(vectors[30], 50, doc_ids=["b"])[0].tolist()) == list(range(20, 60))
    store.delete_documents(["a"])
    store.add(np.arange(60, 80), vectors[:20], ["a"] * 20)
    assert sorted(store.search(vectors[0], 50, doc_ids=["a"])[0].tolist()) == list(range(60, 80))
