"""FAISS at scale: build time, memory, single-query latency and recall at 100k and 1M chunks.

    .venv/bin/python bench/scale.py                          # 100k and 1M, flat/ivf/hnsw/auto
    .venv/bin/python bench/scale.py --quick                  # 20k rows, test queries: ~1 minute
    .venv/bin/python bench/scale.py --sizes 1000000 --kinds ivf --set ivf_nprobe=64 --no-coretype

Everything goes through the project's own code, configured by `rag.config.VectorSettings`
(defaults plus `--set key=value`). For each (size, kind) one subprocess builds: FaissStore.create,
`add` in 50,000-row steps (as rag.stores.registry.build_store does), `save`; a second subprocess
serves: FaissStore.open on the saved folder, then `search`. Fresh processes keep each case's
memory growth and BLAS set-up its own.

Vectors. Random Gaussian vectors have no structure (HNSW recall@10 was 0.09 at 1M on them), so
the rows are derived from the 14,177 real MiniLM chunk embeddings of BEIR SciFact in a
`rag eval --beir` index (`/tmp/beir-scifact-*/current/vectors.faiss`, or `--vectors`). Each
derived row is

    normalize(p0 * a + p1 * b1 + p2 * b2 + p3 * b3 + w * c + 0.2 / sqrt(384) * g)

with a a random real chunk, b1..b3 random picks among a's 50 nearest real chunks, (p0..p3) ~
Dirichlet(1, 1, 1, 1), c another random real chunk, w ~ U(0, 0.3), g ~ N(0, I): points inside the
real neighbourhoods, pulled a little towards some other topic, plus a little noise (`--parts 2`
mixes a with one neighbour only). Rows are stored grouped by a, in the real chunks' order, as a
build sees a corpus: document after document, not shuffled. Checks printed with the results
(`data` in the JSON):
  - at the real set's density (a 14,177-row sample): nearest-neighbour cosines close to the real
    set's, and ANN recall with the same small parameters close to the real set's (not easier);
  - at full size: no near duplicates (nearest-neighbour cosine > 0.98 among 2,000 sampled rows),
    and the exact top-10 of a query spans several source chunks (not one tight cluster).
With `--parts 2` the derived rows cluster round their 14,177 sources and fine IVF cells look too
good: at 1M rows, nprobe 32, 4,000 cells gave recall@10 0.989 and 2,000 cells 0.967, while on the
real set finer cells at the same nprobe always lose recall. 4 parts fill the space between
sources and shrink this (0.979 vs 0.972) without removing it: treat IVF recall at 1M as a little
optimistic; the equal-density probe shows the size of the bias there.

Queries are the real SciFact questions (test + train, 1,109; test only with --quick), encoded
with rag.load_encoder in fp32. Ground truth is exact top-k by inner product (numpy).
Recall@k = share of the exact top-k ids returned. Latency is one `FaissStore.search(q, k)` call at
a time, as the server does, for k = 10 and k = 100 (what rag.query.retrieval asks for by default);
"b64" is one index search of 64 queries with the store's search parameters. For ivf and hnsw the
search parameter is also swept on the opened index.

Memory, against the raw vector bytes (rows x 384 x 4): "build x" is the build process's RSS growth
from just before `create` to after the last `add` (that process already holds the vectors, as a
build does), "peak x" its peak (VmHWM) growth, "serve x" the RSS growth of FaissStore.open in the
serving process (without the document-id map, read on first delete or document filter: ~70 MB
per 1M rows). Disk: size of vectors.faiss.

OpenBLAS: faiss-cpu's bundled OpenBLAS detects this CPU as "Prescott" (no AVX kernels), so
rag.stores.faiss_store sets OPENBLAS_CORETYPE with os.environ.setdefault before importing faiss. The
core type test runs IVF training and a 64-query flat batch search in subprocesses with the
variable unset (faiss imported before rag.stores.faiss_store, so OpenBLAS detects the core itself), with
rag.stores.faiss_store's choice ("rag"), and with explicit core types; it prints the core each one got.

Derived vectors, query embeddings and ground truth are cached in --workdir (/tmp/rag-scale).
Results: a table on stdout and JSON in bench/results/scale.json (--quick: <workdir>/scale-quick.json).
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
import glob
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ORIGINAL_ENV = dict(os.environ)  # before rag.stores.faiss_store can set OPENBLAS_CORETYPE

SCIFACT = ROOT.parent / "shared" / "bench-data" / "scifact"
DIM = 384
K = 10
DEEP = 100  # rag.query.retrieval asks the vector store for max(candidates, 4k) = 100 hits by default
STEP = 50_000  # rows per FaissStore.add, as rag.stores.registry.build_store
SCHEME = {"parts": 4, "neighbours": 50, "dirichlet": 1.0, "other": [0.0, 0.3], "noise": 0.2}
SWEEP = {"ivf": ("ivf_nprobe", [8, 16, 32, 48, 64, 96, 128, 256]),
         "hnsw": ("hnsw_ef_search", [16, 32, 64, 128, 256, 512])}
CORETYPES = ["unset", "rag", "Haswell", "SkylakeX"]


# --------------------------------------------------------------------------- small helpers

def proc_status() -> dict[str, int]:
    """VmRSS and VmHWM of this process in bytes."""
    out = {}
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(("VmRSS:", "VmHWM:")):
                key, value = line.split(":")
                out[key] = int(value.split()[0]) * 1024
    return out


def reset_peak() -> None:
    """Start a new VmHWM window (Linux >= 4.0: writing 5 to clear_refs resets the peak RSS)."""
    with contextlib.suppress(OSError), open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")


def percentile(values, q):
    from common import percentile as pct

    return pct(list(values), q)


def openblas_core() -> str:
    """The core type faiss's bundled OpenBLAS runs with (after faiss is imported)."""
    import faiss

    libs = glob.glob(str(Path(faiss.__file__).parent.parent / "faiss_cpu.libs" / "libopenblas*"))
    if not libs:
        return "unknown"
    try:
        lib = ctypes.CDLL(libs[0])
        lib.openblas_get_corename.restype = ctypes.c_char_p
        return lib.openblas_get_corename().decode()
    except (OSError, AttributeError):
        return "unknown"


def machine() -> dict:
    import faiss
    import numpy as np

    model = ""
    flags: set[str] = set()
    with open("/proc/cpuinfo") as handle:
        for line in handle:
            if line.startswith("model name") and not model:
                model = line.split(":", 1)[1].strip()
            if line.startswith("flags") and not flags:
                flags = set(line.split(":", 1)[1].split())
    with open("/proc/meminfo") as handle:
        mem = int(handle.readline().split()[1]) * 1024
    return {"cpu": model, "cores": os.cpu_count(), "usable_cores": len(os.sched_getaffinity(0)),
            "avx2": "avx2" in flags, "avx512f": "avx512f" in flags, "amx": "amx_tile" in flags,
            "memory_gib": round(mem / 2**30, 1), "faiss": faiss.__version__, "numpy": np.__version__,
            "python": platform.python_version(), "openblas_core": openblas_core(),
            "faiss_omp_threads": faiss.omp_get_max_threads(), "loadavg_start": os.getloadavg()}


def vector_settings(overrides: dict[str, str]):
    from rag import VectorSettings

    return VectorSettings.model_validate(overrides)


# --------------------------------------------------------------------------- data

def find_real_vectors(given: Path | None) -> Path:
    if given:
        return given
    from rag import ConfigError, default_index_dir, load_settings

    candidates = []
    try:
        candidates.append(default_index_dir(SCIFACT, load_settings()) / "current" / "vectors.faiss")
    except ConfigError as exc:  # settings from the environment may not load: look in /tmp instead
        print(f"(no default SciFact index folder: {exc})", file=sys.stderr)
    for path in sorted(glob.glob("/tmp/beir-scifact-*/current/vectors.faiss")):
        manifest = Path(path).parent / "manifest.json"
        try:
            settings = json.loads(manifest.read_text())["settings"]
        except (OSError, ValueError, KeyError):
            continue
        if settings.get("chunking.max_tokens") == 200 and settings.get("embedding.model") == "all-MiniLM-L6-v2":
            candidates.append(Path(path))
    for path in candidates:
        if path.exists():
            return path
    sys.exit("no SciFact chunk vectors found: build them once (about 8 minutes) with\n"
             f"    .venv/bin/rag eval --beir {os.path.relpath(SCIFACT)}\n"
             "or pass --vectors PATH/vectors.faiss of any flat index of real MiniLM chunk embeddings")


def load_real(path: Path):
    import faiss

    index = faiss.read_index(str(path))
    real = index.reconstruct_n(0, index.ntotal)
    if real.shape[1] != DIM:
        sys.exit(f"{path}: dimension {real.shape[1]}, expected {DIM}")
    return real


def content_digest(real) -> str:
    """Identifies the real vectors by content, so equal vectors in another index folder share caches."""
    return hashlib.sha256(real.tobytes()).hexdigest()[:10]


def encode_queries(workdir: Path, quick: bool):
    import numpy as np

    files = [SCIFACT / "queries.jsonl"] + ([] if quick else [SCIFACT / "queries-train.jsonl"])
    texts = [json.loads(line)["text"] for f in files for line in f.read_text().splitlines() if line.strip()]
    key = hashlib.sha256(json.dumps(texts).encode()).hexdigest()[:10]
    cache = workdir / f"queries-{key}.npy"
    if cache.exists():
        return np.load(cache)
    from rag import EmbeddingSettings, load_encoder

    print(f"encoding {len(texts)} SciFact queries (fp32)...", file=sys.stderr, flush=True)
    queries = load_encoder(EmbeddingSettings(precision="fp32")).encode(texts).astype(np.float32)
    np.save(cache, queries)
    return queries


def neighbours_of(real, count: int):
    import numpy as np

    order = np.empty((len(real), count), dtype=np.int32)
    for begin in range(0, len(real), 2048):
        sims = real[begin:begin + 2048] @ real.T
        sims[np.arange(len(sims)), np.arange(begin, begin + len(sims))] = -2.0
        top = np.argpartition(-sims, count, axis=1)[:, :count]
        order[begin:begin + len(sims)] = top
    return order


def derive(real, neighbours, rows: int, scheme: dict, seed: int = 0):
    """`rows` vectors derived from the real ones (see the module docstring) and their source rows."""
    import numpy as np

    rng = np.random.default_rng(seed)
    bases = np.sort(rng.integers(0, len(real), rows))  # grouped by source chunk, in corpus order
    out = np.empty((rows, DIM), dtype=np.float32)
    parts = scheme["parts"]
    low_w, high_w = scheme["other"]
    for begin in range(0, rows, 100_000):
        a = bases[begin:begin + 100_000]
        m = len(a)
        points = [a] + [neighbours[a, rng.integers(0, neighbours.shape[1], m)] for _ in range(parts - 1)]
        weights = rng.dirichlet([scheme["dirichlet"]] * parts, m).astype(np.float32)
        v = sum(weights[:, i:i + 1] * real[p] for i, p in enumerate(points))
        v += rng.uniform(low_w, high_w, (m, 1)).astype(np.float32) * real[rng.integers(0, len(real), m)]
        v += rng.standard_normal((m, DIM), dtype=np.float32) * np.float32(scheme["noise"] / np.sqrt(DIM))
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        out[begin:begin + m] = v
    return out, bases


def exact_top(queries, vectors, k: int = K):
    """Exact top-k ids and scores of every query by inner product, best first (numpy, blockwise)."""
    import numpy as np

    best_s = np.full((len(queries), 0), -np.inf, dtype=np.float32)
    best_i = np.zeros((len(queries), 0), dtype=np.int64)
    for begin in range(0, len(vectors), 200_000):
        sims = queries @ vectors[begin:begin + 200_000].T
        kk = min(k, sims.shape[1])
        top = np.argpartition(-sims, kk - 1, axis=1)[:, :kk]
        cand_s = np.concatenate([best_s, np.take_along_axis(sims, top, 1)], axis=1)
        cand_i = np.concatenate([best_i, top + begin], axis=1)
        keep = np.argsort(-cand_s, axis=1, kind="stable")[:, :k]
        best_s = np.take_along_axis(cand_s, keep, 1)
        best_i = np.take_along_axis(cand_i, keep, 1)
    return best_i, best_s


def nn_cosines(sample, pool, same: bool):
    """Cosine of each sample row's nearest other row in pool."""
    import numpy as np

    out = []
    for begin in range(0, len(sample), 1024):
        block = sample[begin:begin + 1024]
        sims = np.concatenate([block @ pool[p:p + 200_000].T for p in range(0, len(pool), 200_000)], axis=1) \
            if len(pool) > 200_000 else block @ pool.T
        if same:
            sims[np.arange(len(block)), np.arange(begin, begin + len(block))] = -2.0
        out.append(sims.max(axis=1))
    return np.concatenate(out)


def summary(values) -> dict:
    import numpy as np

    p = np.percentile(values, [1, 10, 50, 90, 99])
    return {f"p{q}": round(float(v), 3) for q, v in zip((1, 10, 50, 90, 99), p)}


def small_recall(vectors, queries, truth, settings_over: dict) -> dict:
    """ANN recall@10 with fixed small parameters (a difficulty probe) on a small set, via FaissStore."""
    import tempfile

    import numpy as np

    from rag import create_store

    out = {}
    probes = {"ivf_nprobe4": {"faiss_kind": "ivf", "ivf_nprobe": 4},
              "hnsw_ef16": {"faiss_kind": "hnsw", "hnsw_ef_search": 16}}
    for name, over in probes.items():
        settings = vector_settings({**settings_over, **over})
        with tempfile.TemporaryDirectory() as tmp:
            store = create_store(settings, Path(tmp), DIM, len(vectors))
            store.add(np.arange(len(vectors)), vectors, ["d"] * len(vectors))
            hits = [store.search(q, K)[0] for q in queries]
        out[name] = round(recall(hits, truth), 3)
    return out


def recall(hits, truth) -> float:
    """Share of the exact top-k (k = columns of truth) found in hits."""
    return sum(len(set(h.tolist()) & set(t.tolist())) for h, t in zip(hits, truth)) / truth.size


def prepare(args, real, queries, size: int, workdir: Path, source_key: str) -> dict:
    """Derived vectors, their ground truth and data checks for `size` rows (cached in workdir)."""
    import numpy as np

    scheme = {**SCHEME, "parts": args.parts}
    key = hashlib.sha256(json.dumps([source_key, scheme, size, len(queries),
                                     float(queries[:4].sum())]).encode()).hexdigest()[:10]
    base = workdir / f"derived-{size}-{key}"
    paths = {"vectors": f"{base}.npy", "truth": f"{base}.truth.npy", "queries": f"{base}.queries.npy",
             "data": f"{base}.data.json", "truth_deep": f"{base}.truth{DEEP}.npy",
             "sample": f"{base}.sample.npy"}
    if all(Path(p).exists() for p in paths.values()):
        return paths
    if all(Path(p).exists() for k, p in paths.items() if k not in ("truth_deep", "sample")):
        vectors = np.load(paths["vectors"])
        np.save(paths["truth_deep"], exact_top(queries, vectors, DEEP)[0])
        rng = np.random.default_rng(7)
        np.save(paths["sample"], vectors[np.sort(rng.choice(size, min(len(real), size), replace=False))])
        return paths
    started = time.perf_counter()
    neighbours = neighbours_of(real, scheme["neighbours"])
    vectors, bases = derive(real, neighbours, size, scheme)
    made = time.perf_counter() - started
    truth, scores = exact_top(queries, vectors)
    _, real_scores = exact_top(queries, real)
    rng = np.random.default_rng(7)
    sample = vectors[np.sort(rng.choice(size, min(len(real), size), replace=False))]
    near_sims = []  # nearest other row of 2,000 sampled rows, in the full set
    picks = rng.choice(size, 2000, replace=False)
    for begin in range(0, 2000, 500):
        block = vectors[picks[begin:begin + 500]]
        sims = np.concatenate([block @ vectors[p:p + 200_000].T for p in range(0, size, 200_000)], axis=1)
        sims[np.arange(len(block)), picks[begin:begin + 500]] = -2.0
        near_sims.append(sims.max(axis=1))
    near = np.concatenate(near_sims)
    distinct = [len(set(bases[row].tolist())) for row in truth]
    real_nn = nn_cosines(real, real, same=True)
    data = {
        "rows": size, "seconds_to_derive": round(made, 1), "scheme": scheme,
        "real_rows": len(real), "queries": len(queries),
        "nn_cosine_real": summary(real_nn),
        "nn_cosine_derived_at_real_density": summary(nn_cosines(sample, sample, same=True)),
        "nn_cosine_derived_full": summary(near),
        "near_duplicates_share": {"real": round(float((real_nn > 0.98).mean()), 4),
                                  "derived_full": round(float((near > 0.98).mean()), 4)},
        "query_top1_cosine_median": {"real": round(float(np.median(real_scores[:, 0])), 3),
                                     "derived": round(float(np.median(scores[:, 0])), 3)},
        "query_top10_cosine_median": {"real": round(float(np.median(real_scores[:, -1])), 3),
                                      "derived": round(float(np.median(scores[:, -1])), 3)},
        "source_chunks_in_exact_top10": summary(distinct),
    }
    np.save(paths["vectors"], vectors)
    np.save(paths["truth"], truth)
    np.save(paths["sample"], sample)
    np.save(paths["truth_deep"], exact_top(queries, vectors, DEEP)[0])
    np.save(paths["queries"], queries)
    Path(paths["data"]).write_text(json.dumps(data, indent=2))
    return paths


# --------------------------------------------------------------------------- workers (subprocesses)

def run_worker(spec: dict) -> dict:
    """Build one index of one kind through FaissStore and measure it."""
    if spec.get("preload_faiss"):
        import faiss  # noqa: F401  (OpenBLAS reads OPENBLAS_CORETYPE now, before rag.stores.faiss_store can set it)
    import numpy as np

    from rag import choose_faiss_kind, create_store

    settings = vector_settings(spec["overrides"])
    vectors = np.load(spec["vectors"])
    rows = len(vectors)
    docs = [f"doc{i}" for i in range(rows // 3 + 1)]
    doc_ids = [docs[r // 3] for r in range(rows)]
    folder = Path(spec["folder"])
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    gc.collect()
    reset_peak()
    before = proc_status()

    train = {"seconds": 0.0}
    started = time.perf_counter()
    store = create_store(settings, folder, DIM, rows)
    if hasattr(store, "_train"):
        inner = store._train

        def timed(*a, **kw):
            t = time.perf_counter()
            inner(*a, **kw)
            train["seconds"] += time.perf_counter() - t

        store._train = timed
    for begin in range(0, rows, STEP):
        end = min(begin + STEP, rows)
        store.add(np.arange(begin, end, dtype=np.int64), vectors[begin:end], doc_ids[begin:end])
    store.size  # noqa: B018  (anything deferred in add is done by now)
    build = time.perf_counter() - started
    after = proc_status()
    started = time.perf_counter()
    store.save()
    saved = time.perf_counter() - started
    disk = (folder / "vectors.faiss").stat().st_size
    described = store.describe()
    (folder / "vectorstore.json").write_text(json.dumps(described))

    return {"kind": store.kind, "rows": rows, "build_s": round(build, 2), "train_s": round(train["seconds"], 2),
            "save_s": round(saved, 2), "disk_bytes": disk, "raw_bytes": rows * DIM * 4,
            "rss_growth_bytes": after["VmRSS"] - before["VmRSS"],
            "rss_peak_growth_bytes": max(after["VmHWM"], after["VmRSS"]) - before["VmRSS"],
            "described": described, "auto_kind": choose_faiss_kind(vector_settings({}), rows),
            "openblas_core": openblas_core()}


def run_serve_worker(spec: dict) -> dict:
    """Open the saved index as a server does (FaissStore.open) and time searches on it."""
    import numpy as np

    from rag import open_store

    settings = vector_settings(spec["overrides"])
    queries = np.load(spec["queries"])
    truth = np.load(spec["truth"])
    deep = np.load(spec["truth_deep"])
    gc.collect()
    before = proc_status()
    started = time.perf_counter()
    store = open_store(settings, Path(spec["folder"]))  # reads the vectorstore.json the build wrote
    result = {"open_s": round(time.perf_counter() - started, 2),
              "serve_rss_bytes": proc_status()["VmRSS"] - before["VmRSS"]}
    result.update(measure_search(store, queries, truth))
    result.update(measure_search(store, queries, deep, DEEP, batch=False))
    if store.kind in SWEEP:
        field, values = SWEEP[store.kind]
        sweep = []
        for value in values:
            store.settings = vector_settings({**spec["overrides"], field: value})
            sweep.append({field: value, **measure_search(store, queries, truth, batch=False),
                          **measure_search(store, queries, deep, DEEP, batch=False)})
        result["sweep"] = sweep
    return result


def measure_search(store, queries, truth, k: int = K, batch: bool = True) -> dict:
    """Single-query latency and recall@k of FaissStore.search(q, k); keys end in k when k != 10."""
    import numpy as np

    for q in queries[:20]:
        store.search(q, k)
    latencies = []
    hits = []
    for q in queries:
        started = time.perf_counter()
        ids, _ = store.search(q, k)
        latencies.append((time.perf_counter() - started) * 1000)
        hits.append(ids)
    tag = "" if k == K else f"_k{k}"
    out = {f"recall{k}": round(recall(hits, truth[:, :k]), 4), f"p50_ms{tag}": round(percentile(latencies, 50), 3),
           f"p99_ms{tag}": round(percentile(latencies, 99), 3),
           f"mean_ms{tag}": round(float(np.mean(latencies)), 3)}
    if batch:
        out.update(batch_search(store, queries))
    return out


def batch_search(store, queries, size: int = 64) -> dict:
    """Median time of one 64-query search on the store's index with the store's search parameters."""
    params = store._params(None)
    times = []
    batches = [queries[b:b + size] for b in range(0, len(queries) - size + 1, size)][:8]
    for matrix in [batches[0]] + batches:  # the first is a warm-up
        started = time.perf_counter()
        if params is None:
            store.index.search(matrix, K)
        else:
            store.index.search(matrix, K, params=params)
        times.append((time.perf_counter() - started) * 1000)
    times = times[1:]
    return {"batch64_ms": round(percentile(times, 50), 2), "batch64_per_query_ms": round(percentile(times, 50) / size, 3)}


def run_coretype_worker(spec: dict) -> dict:
    """IVF training and a 64-query flat batch search under one OpenBLAS core type."""
    if spec.get("preload_faiss"):
        import faiss  # noqa: F401
    import numpy as np

    from rag import create_store

    vectors = np.load(spec["vectors"])
    queries = np.load(spec["queries"])
    out = {"openblas_core": openblas_core(), "env": os.environ.get("OPENBLAS_CORETYPE")}
    seconds = []
    for _ in range(3):
        ivf = create_store(vector_settings({**spec["overrides"], "faiss_kind": "ivf"}), Path("."), DIM,
                          len(vectors))
        started = time.perf_counter()
        ivf._train(np.ascontiguousarray(vectors))
        seconds.append(time.perf_counter() - started)
    out["ivf_train_s"] = round(sorted(seconds)[1], 2)  # median of 3
    out["ivf_train_runs_s"] = [round(s, 2) for s in seconds]
    out["ivf_lists"] = int(ivf.index.nlist)
    flat = create_store(vector_settings({**spec["overrides"], "faiss_kind": "flat"}), Path("."), DIM, len(vectors))
    flat.add(np.arange(len(vectors)), vectors, ["d"] * len(vectors))
    out["flat_" + "batch64_ms"] = batch_search(flat, queries)["batch64_ms"]
    return out


def case_key(spec: dict) -> str:
    """Identifies one measurement: data, settings and the code that builds and searches."""
    code = [(ROOT / f).read_bytes() for f in ("bench/scale.py", "rag/faiss_store.py", "rag/config.py")]
    return hashlib.sha256(json.dumps([spec["vectors"], spec["overrides"]]).encode()
                          + b"".join(code)).hexdigest()[:12]


def spawn(mode: str, spec: dict, env: dict) -> dict:
    command = [sys.executable, str(Path(__file__).resolve()), f"--{mode}", json.dumps(spec)]
    done = subprocess.run(command, check=False, cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{mode} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    for line in done.stderr.splitlines():
        if "WARNING" in line:
            print(f"  faiss: {line.strip()}", file=sys.stderr)
    return json.loads(done.stdout.strip().splitlines()[-1])


def coretype_env(variant: str) -> tuple[dict, bool]:
    env = {k: v for k, v in ORIGINAL_ENV.items() if k != "OPENBLAS_CORETYPE"}
    if variant == "unset":
        return env, True
    if variant == "rag":
        return env, False
    return {**env, "OPENBLAS_CORETYPE": variant}, False


# --------------------------------------------------------------------------- report

def mb(n: float) -> str:
    return f"{n / 2**20:,.0f}"


def print_tables(report: dict) -> None:
    m = report["machine"]
    print(f"\nmachine: {m['cpu']}, {m['usable_cores']} cores, {m['memory_gib']} GiB, faiss {m['faiss']}, "
          f"OpenBLAS core {m['openblas_core']}, load average at start {m['loadavg_start'][0]:.2f}")
    print(f"settings: {report['settings']}")
    for size, block in report["sizes"].items():
        d = block["data"]
        print(f"\n== {int(size):,} rows (derived from {d['real_rows']:,} real SciFact chunks, "
              f"{d['scheme']['parts']} parts), "
              f"{d['queries']} real queries ==")
        print(f"  NN cosine p10/p50/p90  real {d['nn_cosine_real']['p10']}/{d['nn_cosine_real']['p50']}/"
              f"{d['nn_cosine_real']['p90']}  derived at real density "
              f"{d['nn_cosine_derived_at_real_density']['p10']}/{d['nn_cosine_derived_at_real_density']['p50']}/"
              f"{d['nn_cosine_derived_at_real_density']['p90']}  derived full {d['nn_cosine_derived_full']['p10']}/"
              f"{d['nn_cosine_derived_full']['p50']}/{d['nn_cosine_derived_full']['p90']}")
        print(f"  near duplicates (NN cos > 0.98): real {d['near_duplicates_share']['real']:.2%}, derived "
              f"{d['near_duplicates_share']['derived_full']:.2%}; source chunks in exact top-10 p10/p50/p90 "
              f"{d['source_chunks_in_exact_top10']['p10']:.0f}/{d['source_chunks_in_exact_top10']['p50']:.0f}/"
              f"{d['source_chunks_in_exact_top10']['p90']:.0f}")
        print(f"  probe recall@10 at 14,177 rows (ivf default cells nprobe 4, hnsw ef 16): real "
              f"{d['probe_recall_real']}, derived {d['probe_recall_derived_at_real_density']}")
        print(f"  raw vectors {mb(block['kinds'][0]['raw_bytes'])} MB; build x = build process RSS growth "
              f"(peak) / raw; serve x = RSS growth of FaissStore.open / raw")
        header = (f"  {'kind':<12}{'build s':>9}{'train s':>9}{'disk MB':>9}{'build x':>9}{'peak x':>8}"
                  f"{'serve x':>8}{'p50 ms':>8}{'p99 ms':>8}{'R@10':>7}{'k100 p50':>9}{'R@100':>7}"
                  f"{'b64 ms':>8}  params")
        print(header)
        for row in block["kinds"]:
            raw = row["raw_bytes"]
            print(f"  {row['label']:<12}{row['build_s']:>9.1f}{row['train_s']:>9.1f}{mb(row['disk_bytes']):>9}"
                  f"{row['rss_growth_bytes'] / raw:>9.2f}{row['rss_peak_growth_bytes'] / raw:>8.2f}"
                  f"{row['serve_rss_bytes'] / raw:>8.2f}{row['p50_ms']:>8.2f}{row['p99_ms']:>8.2f}"
                  f"{row['recall10']:>7.3f}{row[f'p50_ms_k{DEEP}']:>9.2f}{row[f'recall{DEEP}']:>7.3f}"
                  f"{row['batch64_ms']:>8.1f}  {row['described']['params']}")
        for row in block["kinds"]:
            if row.get("sweep") and not row["label"].startswith("auto"):
                field = SWEEP[row["kind"]][0]
                print(f"  {row['kind']} {field} sweep: k=10 p50/p99 ms R@10 | k=100 p50 ms R@100")
                for s in row["sweep"]:
                    print(f"    {s[field]:>5}: {s['p50_ms']:6.2f} {s['p99_ms']:6.2f} {s['recall10']:6.3f} | "
                          f"{s[f'p50_ms_k{DEEP}']:6.2f} {s[f'recall{DEEP}']:6.3f}")
    if any(row.get("resumed") for block in report["sizes"].values() for row in block["kinds"]):
        print("\n  * measured by an earlier run of the same code and settings (--resume; measured_at in the JSON)")
    if report.get("coretype"):
        c = report["coretype"]
        print(f"\n== OpenBLAS core type: IVF training ({c['lists']} lists, {c['rows']:,} rows) and 64-query "
              f"flat batch search ==")
        for row in c["runs"]:
            print(f"  {row['variant']:<11} core {row['openblas_core']:<11} train {row['ivf_train_s']:>7.2f} s (median of {row['ivf_train_runs_s']})"
                  f"   flat batch64 {row['flat_batch64_ms']:>8.1f} ms")


# --------------------------------------------------------------------------- main

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="100000,1000000", help="comma-separated row counts")
    parser.add_argument("--quick", action="store_true", help="20,000 rows and the 300 test queries")
    parser.add_argument("--kinds", default="flat,ivf,hnsw,auto", help="FAISS kinds; auto = choose_kind's pick")
    parser.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                        help="VectorSettings override, e.g. ivf_nprobe=64 (repeatable)")
    parser.add_argument("--parts", type=int, default=SCHEME["parts"],
                        help="real vectors mixed into each derived one (2: a chunk and one neighbour)")
    parser.add_argument("--vectors", type=Path, help="flat FAISS index of real chunk vectors")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/rag-scale"))
    parser.add_argument("--json", type=Path, help="default bench/results/scale.json")
    parser.add_argument("--no-coretype", action="store_true", help="skip the OpenBLAS core type test")
    parser.add_argument("--resume", action="store_true",
                        help="reuse (size, kind) results an interrupted run saved in --workdir, when "
                        "the data, settings and code are unchanged")
    parser.add_argument("--coretype-rows", type=int, default=100_000,
                        help="rows for the core type test (at most the smallest size)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--serve-worker", help=argparse.SUPPRESS)
    parser.add_argument("--coretype-worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(run_worker(json.loads(args.worker))))
        return
    if args.serve_worker:
        print(json.dumps(run_serve_worker(json.loads(args.serve_worker))))
        return
    if args.coretype_worker:
        print(json.dumps(run_coretype_worker(json.loads(args.coretype_worker))))
        return

    args.overrides = dict(item.split("=", 1) for item in args.sets)
    vector_settings(args.overrides)  # fail early on a bad override
    sizes = [20_000] if args.quick else [int(s) for s in args.sizes.split(",")]
    kinds = [k.strip() for k in args.kinds.split(",")]
    out_path = args.json or (args.workdir / "scale-quick.json" if args.quick else ROOT / "bench" / "results" / "scale.json")
    args.workdir.mkdir(parents=True, exist_ok=True)

    import numpy as np

    from rag import choose_faiss_kind

    source = find_real_vectors(args.vectors)
    print(f"real vectors: {source}", file=sys.stderr, flush=True)
    real = load_real(source)
    queries = encode_queries(args.workdir, args.quick)
    report = {"command": " ".join([".venv/bin/python", "bench/scale.py", *sys.argv[1:]]),
              "machine": machine(), "source": str(source), "settings": vector_settings(args.overrides).model_dump(
                  include={"faiss_kind", "flat_max_rows", "hnsw_m", "hnsw_ef_construction", "hnsw_ef_search",
                           "ivf_lists", "ivf_nprobe"}),
              "sizes": {}}
    env, _ = coretype_env("rag")
    for size in sizes:
        print(f"[{size:,}] deriving vectors and exact top-{K}...", file=sys.stderr, flush=True)
        paths = prepare(args, real, queries, size, args.workdir, content_digest(real))
        data = json.loads(Path(paths["data"]).read_text())
        sample = np.load(paths["sample"])
        data["probe_recall_real"] = small_recall(real, queries, exact_top(queries, real)[0], args.overrides)
        data["probe_recall_derived_at_real_density"] = small_recall(
            sample, queries, exact_top(queries, sample)[0], args.overrides)
        auto = choose_faiss_kind(vector_settings({k: v for k, v in args.overrides.items() if k != "faiss_kind"}), size)
        rows = []
        measured: dict[str, dict] = {}
        for kind in kinds:
            resolved = auto if kind == "auto" else kind
            if resolved not in measured:
                print(f"[{size:,}] {resolved}: build, save, {len(queries)} single searches...",
                      file=sys.stderr, flush=True)
                spec = {**paths, "overrides": {**args.overrides, "faiss_kind": resolved},
                        "folder": str(args.workdir / f"index-{size}-{resolved}")}
                saved = args.workdir / f"result-{case_key(spec)}.json"
                if args.resume and saved.exists():
                    measured[resolved] = {**json.loads(saved.read_text()), "resumed": True}
                else:
                    try:
                        built = spawn("worker", spec, env)
                        served = spawn("serve-worker", {**spec, "described": built["described"]}, env)
                    finally:
                        shutil.rmtree(spec["folder"], ignore_errors=True)
                    measured[resolved] = {**built, **served, "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
                                          "loadavg": os.getloadavg()}
                    saved.write_text(json.dumps(measured[resolved]))
                row = measured[resolved]
                print(f"[{size:,}] {resolved}: build {row['build_s']} s, p50 {row['p50_ms']} ms, "
                      f"recall@10 {row['recall10']}", file=sys.stderr, flush=True)
            label = f"auto={resolved}" if kind == "auto" else kind
            rows.append({**measured[resolved], "label": label + ("*" if measured[resolved].get("resumed") else "")})
        report["sizes"][str(size)] = {"data": data, "kinds": rows}
        gc.collect()
    if not args.no_coretype:
        size = min(sizes)
        rows = min(args.coretype_rows, size)
        paths = prepare(args, real, queries, size, args.workdir, content_digest(real))
        if rows < size:
            sub = np.load(paths["vectors"])[:: size // rows][:rows]
            sub_path = args.workdir / f"coretype-{rows}.npy"
            np.save(sub_path, sub)
            paths = {**paths, "vectors": str(sub_path)}
        runs = []
        variants = [v for v in CORETYPES if v != "SkylakeX" or report["machine"]["avx512f"]]
        for variant in variants:
            print(f"[coretype] {variant}...", file=sys.stderr, flush=True)
            env_v, preload = coretype_env(variant)
            result = spawn("coretype-worker", {**paths, "overrides": args.overrides, "preload_faiss": preload}, env_v)
            runs.append({"variant": variant, **result})
        report["coretype"] = {"rows": rows, "lists": runs[0]["ivf_lists"], "runs": runs}
    report["machine"]["loadavg_end"] = os.getloadavg()
    print_tables(report)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwrote {out_path}")


if __name__ == "__main__":
    main()
