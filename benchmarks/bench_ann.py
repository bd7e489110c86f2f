"""Benchmark: approximate all-rows neighbour tables (faiss-cpu, usearch, hnswlib) vs exact truth.

Run (the 300k rows of docs/benchmarks.md): ``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python
benchmarks/bench_ann.py --sizes 300000 --cases c1024 --configs "hnswlib:M=16,efc=100,ef=50" vv``
(``vv`` = ``vv.neighbour_table``; without --configs every library below runs: hours on 2 cores).

Data: Gaussian mixtures of unit vectors in 384-d (``c64``: 64 clusters, ``c1024``: 1024 clusters,
noise σ = 1.5 per dimension around N(0, 1) centres, like bench_neighbours; ``hard``: no
clusters, a 64-d Gaussian latent mapped into 384-d plus noise, see ``mixture``). Truth: the
exact top-k (cosine, self excluded) of ``--truth-rows`` sampled rows by a bare matmul +
argpartition (the whole exact table is N²; ``--exact`` also times the exact table).
Each configuration builds an index over all N rows and queries all N rows (the self-query
table), in its own subprocess so that its peak RSS (the N×384 float32 input included) is its
own. ``recall`` = mean |approx ∩ exact| / k over the sampled rows. CPU s = the process's CPU
time (all threads): on a shared machine it is steadier than wall time. Configurations are
``lib:key=value,...`` strings, see ``RUNNERS``; ``vv`` is ``vv.neighbour_table`` (the blocked
self-join with a recall target; ``vv:recall=0.99`` sets it). See bench_join.py for the
comparison the package's choice rests on.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # sibling benchutil, also under runpy
from benchutil import blas_kernel as blas_info

K = 10
CASES = {"c64": (64, 1.5), "c1024": (1024, 1.5), "hard": (0, 0.5)}
BASELINE = "hnswlib:M=16,efc=100,ef=50"
DEFAULT_CONFIGS = [
    BASELINE,
    "hnswlib:M=16,efc=100,ef=100",
    "faiss-hnsw:M=16,efc=100,ef=50",
    "faiss-hnsw:M=16,efc=100,ef=100",
    "faiss-ivf:nlist=4sqrt,nprobe=16",
    "usearch:M=16,efc=100,ef=50,dtype=f32",
    "usearch:M=16,efc=100,ef=100,dtype=f32",
    "usearch:M=16,efc=100,ef=100,dtype=f16",
    "usearch:M=16,efc=100,ef=100,dtype=i8",
    "vv",
]


def mixture(n: int, d: int, clusters: int, sigma: float, seed: int = 0) -> np.ndarray:
    """Unit float32 vectors around ``clusters`` random N(0, 1) centres with N(0, σ²) noise.

    ``clusters=0``: no clusters at all — a 64-d Gaussian latent mapped linearly into d
    dimensions plus isotropic noise of σ relative to it (embeddings live on low-dimensional
    manifolds; fully isotropic 384-d noise has no meaningful neighbours to find).
    """
    rng = np.random.default_rng(seed)
    if clusters == 0:
        W = rng.standard_normal((64, d), dtype=np.float32) / np.sqrt(64)
        X = np.empty((n, d), np.float32)
        for s in range(0, n, 65536):
            e = min(n, s + 65536)
            X[s:e] = rng.standard_normal((e - s, 64), dtype=np.float32) @ W
            X[s:e] += sigma * rng.standard_normal((e - s, d), dtype=np.float32)
        X /= np.linalg.norm(X, axis=1, keepdims=True)
        return X
    labels = rng.integers(0, clusters, n)
    C = rng.standard_normal((clusters, d), dtype=np.float32)
    X = np.empty((n, d), np.float32)
    for s in range(0, n, 65536):  # bounded temporaries
        e = min(n, s + 65536)
        X[s:e] = C[labels[s:e]] + sigma * rng.standard_normal((e - s, d), dtype=np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    return X


def truth(X: np.ndarray, rows: np.ndarray, k: int) -> np.ndarray:
    """Exact top-k columns (self excluded) of the sampled rows by bare matmul, in blocks."""
    out = np.empty((rows.size, k), np.int64)
    step = max(1, (128 << 20) // (4 * X.shape[0]))
    for s in range(0, rows.size, step):
        r = rows[s : s + step]
        sc = X[r] @ X.T
        sc[np.arange(r.size), r] = -np.inf
        part = np.argpartition(sc, -k, axis=1)[:, -k:]
        order = np.argsort(-np.take_along_axis(sc, part, 1), axis=1)
        out[s : s + step] = np.take_along_axis(part, order, 1)
    return out


def dataset(case: str, n: int, d: int, n_truth: int, cache: Path) -> tuple[Path, Path]:
    """Vectors and truth as .npy files (cached: the children load them, the parent makes them)."""
    cache.mkdir(parents=True, exist_ok=True)
    xp, tp = cache / f"{case}_{n}_{d}.npy", cache / f"{case}_{n}_{d}_truth{n_truth}.npy"
    if not xp.exists():
        clusters, sigma = CASES[case]
        np.save(xp, mixture(n, d, clusters, sigma))
    if not tp.exists():
        X = np.load(xp)
        rows = np.random.default_rng(1).choice(n, min(n, n_truth), replace=False)
        np.save(tp, np.concatenate([rows[:, None], truth(X, rows, K)], axis=1))
    return xp, tp


def drop_self(ids: np.ndarray, k: int) -> np.ndarray:
    """(N, k+1) self-query results -> (N, k): drop the row itself, else the last column."""
    n = ids.shape[0]
    me = np.arange(n)[:, None] == ids
    me[~me.any(axis=1), -1] = True
    first = me & (np.cumsum(me, axis=1) == 1)  # one column per row, also under duplicates
    return ids[~first].reshape(n, k)


def _params(spec: str) -> dict[str, str]:
    return dict(kv.split("=") for kv in spec.split(",") if kv)


def run_hnswlib(X: np.ndarray, p: dict, threads: int) -> tuple[float, float, np.ndarray]:
    import hnswlib

    t = time.perf_counter()
    index = hnswlib.Index(space="ip", dim=X.shape[1])
    index.init_index(
        max_elements=len(X), M=int(p["M"]), ef_construction=int(p["efc"]), random_seed=0
    )
    index.set_num_threads(threads)
    index.add_items(X, np.arange(len(X)))
    build = time.perf_counter() - t
    t = time.perf_counter()
    index.set_ef(int(p["ef"]))
    ids, _ = index.knn_query(X, k=K + 1)
    return build, time.perf_counter() - t, drop_self(ids.astype(np.int64), K)


def run_faiss_hnsw(X: np.ndarray, p: dict, threads: int) -> tuple[float, float, np.ndarray]:
    import faiss

    faiss.omp_set_num_threads(threads)
    t = time.perf_counter()
    index = faiss.IndexHNSWFlat(X.shape[1], int(p["M"]), faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = int(p["efc"])
    index.add(X)
    build = time.perf_counter() - t
    t = time.perf_counter()
    index.hnsw.efSearch = int(p["ef"])
    _, ids = index.search(X, K + 1)
    return build, time.perf_counter() - t, drop_self(ids, K)


def run_faiss_ivf(X: np.ndarray, p: dict, threads: int) -> tuple[float, float, np.ndarray]:
    import faiss

    faiss.omp_set_num_threads(threads)
    n, d = X.shape
    nl = p["nlist"]
    nlist = int(float(nl[:-5] or 1) * np.sqrt(n)) if nl.endswith("sqrt") else int(nl)
    t = time.perf_counter()
    index = faiss.IndexIVFFlat(faiss.IndexFlatIP(d), d, nlist, faiss.METRIC_INNER_PRODUCT)
    sample = np.random.default_rng(0).choice(n, min(n, 40 * nlist), replace=False)
    index.train(X[np.sort(sample)])
    index.add(X)
    build = time.perf_counter() - t
    t = time.perf_counter()
    index.nprobe = int(p["nprobe"])
    _, ids = index.search(X, K + 1)
    return build, time.perf_counter() - t, drop_self(ids, K)


def run_usearch(X: np.ndarray, p: dict, threads: int) -> tuple[float, float, np.ndarray]:
    from usearch.index import Index

    t = time.perf_counter()
    index = Index(
        ndim=X.shape[1],
        metric=p.get("metric", "ip"),
        dtype=p.get("dtype", "f32"),
        connectivity=int(p["M"]),
        expansion_add=int(p["efc"]),
        expansion_search=int(p["ef"]),
    )
    index.add(np.arange(len(X)), X, threads=threads)
    build = time.perf_counter() - t
    t = time.perf_counter()
    m = index.search(X, K + 1, threads=threads)
    return build, time.perf_counter() - t, drop_self(m.keys.astype(np.int64), K)


def run_vv(X: np.ndarray, p: dict, threads: int) -> tuple[float, float, np.ndarray]:
    """``vv.neighbour_table`` (the blocked self-join, recall target ``recall=``, default 0.97);
    reported as all build time."""
    from vectorvision_widget.neighbours import neighbour_table

    t = time.perf_counter()
    idx, _ = neighbour_table(X, K, recall=float(p.get("recall", 0.97)))
    return time.perf_counter() - t, 0.0, idx.astype(np.int64)


def run_exact(X: np.ndarray, p: dict, threads: int) -> tuple[float, float, np.ndarray]:
    from vectorvision_widget.neighbours import neighbour_table

    t = time.perf_counter()
    try:
        idx, _ = neighbour_table(X, K, exact=True)
    except TypeError:  # an older neighbour_table without the switch: always exact
        idx, _ = neighbour_table(X, K)
    return 0.0, time.perf_counter() - t, idx.astype(np.int64)


RUNNERS = {
    "hnswlib": run_hnswlib,
    "faiss-hnsw": run_faiss_hnsw,
    "faiss-ivf": run_faiss_ivf,
    "usearch": run_usearch,
    "vv": run_vv,
    "exact": run_exact,
}


def child(config: str, xp: str, tp: str, threads: int) -> dict:
    from threadpoolctl import threadpool_limits

    lib, _, spec = config.partition(":")
    X = np.load(xp)
    T = np.load(tp)
    c0 = time.process_time()
    with threadpool_limits(threads):
        build, query, ids = RUNNERS[lib](X, _params(spec), threads)
    cpu = time.process_time() - c0
    rows, true = T[:, 0], T[:, 1:]
    hits = [np.intersect1d(a, b).size for a, b in zip(ids[rows], true, strict=True)]
    return {
        "build": build,
        "query": query,
        "recall": float(np.mean(hits)) / K,
        "missing": int(np.count_nonzero(ids < 0)),
        "cpu": cpu,
        "rss_mb": peak_rss_mb(),
    }


def peak_rss_mb() -> float:
    """This process's peak RSS (VmHWM: ru_maxrss would include the parent's, kept over exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100000, 300000])
    ap.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    ap.add_argument("--configs", nargs="+", default=DEFAULT_CONFIGS)
    ap.add_argument("--exact", action="store_true", help="also time similarity.neighbour_table")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--truth-rows", type=int, default=2000)
    ap.add_argument("--cache", default="/tmp/vv_bench_ann", help="generated data (.npy)")
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(*args.child, args.threads)))
        return
    print(f"BLAS: {blas_info()}")
    print(
        f"threads {args.threads}; load average at start {os.getloadavg()}; "
        f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE')}"
    )
    print()
    print(
        f"| N | data | index | build s | query-all s | total s | CPU s | recall@{K} |"
        " peak RSS MB | total vs baseline | CPU vs baseline |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    configs = args.configs + (["exact"] if args.exact else [])
    for n in args.sizes:
        for case in args.cases:
            xp, tp = dataset(case, n, args.dim, args.truth_rows, Path(args.cache))
            base = cbase = None
            for config in configs:
                cmd = [
                    sys.executable,
                    __file__,
                    "--threads",
                    str(args.threads),
                    "--child",
                    config,
                    str(xp),
                    str(tp),
                ]
                res = subprocess.run(cmd, capture_output=True, text=True, check=False)
                if res.returncode:
                    print(
                        f"| {n:,} | {case} | {config} | failed: "
                        f"{res.stderr.strip().splitlines()[-1:]} |||||||"
                    )
                    continue
                r = json.loads(res.stdout.splitlines()[-1])
                total = r["build"] + r["query"]
                if config == BASELINE:
                    base, cbase = total, r["cpu"]
                ratio = f"{total / base:.2f}× | {r['cpu'] / cbase:.2f}×" if base else " |"
                miss = f" ({r['missing']} missing)" if r["missing"] else ""
                print(
                    f"| {n:,} | {case} | {config} | {r['build']:.1f} | {r['query']:.1f} | "
                    f"{total:.1f} | {r['cpu']:.1f} | {r['recall']:.4f}{miss} | "
                    f"{r['rss_mb']:.0f} | {ratio} |",
                    flush=True,
                )
    print(f"\nload average at end {os.getloadavg()}")


if __name__ == "__main__":
    main()
