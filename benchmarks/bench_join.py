"""Benchmark: the neighbour table by blocked self-join vs hnswlib and faiss HNSW.

Run (OpenBLAS override unset in the command, as every benchmark here)::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_join.py \
        --sizes 100000 300000 --shapes tight loose uniform

Data (384-d unit float32 rows, k = 10): ``tight`` 1,024 clusters with noise σ 1.0 per dimension
around N(0, 1) centres; ``loose`` 256 clusters with σ 1.5 (the held-out shape of issue 20);
``uniform`` a 64-d Gaussian latent mapped into 384-d plus isotropic noise σ 1.2 (near-uniform:
the top-1 and 10th cosines are printed). Methods, in one process, one after the other on the same
data: hnswlib (M 16, efConstruction 100, ef 50, all threads), faiss HNSW (``IndexHNSWFlat``
as the package used it below 300k rows: M 16, efConstruction 100, efSearch 64), and ours
(``vv.neighbour_table``, recall target 0.97). Recall@10 is measured against brute force on
``--truth-rows`` sampled rows (a different sample from the one the join uses). CPU s is the
process CPU time of the call (all threads). Ratio = wall time / hnswlib's wall time in the same
run. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # sibling benchutil
from benchutil import blas_kernel

K = 10
SHAPES = {"tight": (1024, 1.0), "loose": (256, 1.5), "uniform": (0, 1.2)}


def data(n: int, shape: str, seed: int = 0, d: int = 384) -> np.ndarray:
    clusters, sigma = SHAPES[shape]
    rng = np.random.default_rng(seed)
    X = np.empty((n, d), np.float32)
    if clusters == 0:
        W = rng.standard_normal((64, d), dtype=np.float32) / np.sqrt(64)
        for s in range(0, n, 65536):
            e = min(n, s + 65536)
            X[s:e] = rng.standard_normal((e - s, 64), dtype=np.float32) @ W
            X[s:e] += sigma * rng.standard_normal((e - s, d), dtype=np.float32)
    else:
        labels = rng.integers(0, clusters, n)
        C = rng.standard_normal((clusters, d), dtype=np.float32)
        for s in range(0, n, 65536):
            e = min(n, s + 65536)
            X[s:e] = C[labels[s:e]] + sigma * rng.standard_normal((e - s, d), dtype=np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    return X


def truth(X: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    S = X[rows] @ X.T
    S[np.arange(rows.size), rows] = -np.inf
    top = np.argpartition(-S, K, axis=1)[:, :K]
    v = np.take_along_axis(S, top, axis=1)
    order = np.argsort(-v, axis=1)
    return np.take_along_axis(top, order, 1), np.take_along_axis(v, order, 1)


def recall(found: np.ndarray, true: np.ndarray) -> float:
    return float(np.mean([np.intersect1d(a, b).size / K for a, b in zip(found, true, strict=True)]))


def run_hnswlib(X: np.ndarray) -> np.ndarray:
    import hnswlib

    n, d = X.shape
    index = hnswlib.Index(space="ip", dim=d)
    index.init_index(max_elements=n, M=16, ef_construction=100, random_seed=0)
    index.add_items(X, np.arange(n), num_threads=os.cpu_count() or 1)
    index.set_ef(50)
    labels, _ = index.knn_query(X, k=K + 1, num_threads=os.cpu_count() or 1)
    out = np.empty((n, K), np.int64)
    for i in range(n):  # drop self (or the last hit)
        row = labels[i][labels[i] != i][:K]
        out[i] = row if row.size == K else labels[i][:K]
    return out


def run_faiss(X: np.ndarray) -> np.ndarray:
    """faiss IndexHNSWFlat as the package used it up to 300k rows: M 16, efConstruction 100,
    efSearch 64, inner product, OpenMP threads waiting passively."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import faiss

    n, d = X.shape
    index = faiss.IndexHNSWFlat(d, 16, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = 100
    index.add(X)
    index.hnsw.efSearch = 64
    _, labels = index.search(X, K + 1)
    out = np.empty((n, K), np.int64)
    for i in range(n):
        row = labels[i][labels[i] != i][:K]
        out[i] = row if row.size == K else labels[i][:K]
    return out


def run_ours(X: np.ndarray) -> np.ndarray:
    import vectorvision_widget as vv

    table = vv.neighbour_table(X, K, recall=0.97)
    run_ours.info = (  # type: ignore[attr-defined]
        f"{'exact' if table.exact else f'{table.probes} of {table.cells} cells'}, "
        f"sample recall {table.recall:.3f}"
    )
    return table[0]


def timed(fn: Callable[[np.ndarray], np.ndarray], X: np.ndarray) -> tuple[np.ndarray, float, float]:
    w, c = time.perf_counter(), time.process_time()
    out = fn(X)
    return out, time.perf_counter() - w, time.process_time() - c


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 300_000])
    ap.add_argument("--shapes", nargs="+", default=list(SHAPES), choices=list(SHAPES))
    ap.add_argument("--methods", nargs="+", default=["hnswlib", "faiss", "ours"])
    ap.add_argument("--truth-rows", type=int, default=1000)
    args = ap.parse_args()
    print(f"BLAS: {blas_kernel()}; CPUs {os.cpu_count()}; load {os.getloadavg()[0]:.1f}")
    runners = {"hnswlib": run_hnswlib, "faiss": run_faiss, "ours": run_ours}
    print(
        "| N | shape | top-1 / 10th cos | method | wall s | CPU s | recall@10 | × hnswlib | note |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for n in args.sizes:
        for shape in args.shapes:
            X = data(n, shape)
            rows = np.sort(np.random.default_rng(12345).choice(n, args.truth_rows, replace=False))
            ti, tv = truth(X, rows)
            cos = f"{tv[:, 0].mean():.2f} / {tv[:, -1].mean():.2f}"
            base = None
            for name in args.methods:
                out, wall, cpu = timed(runners[name], X)
                base = wall if name == "hnswlib" else base
                ratio = f"{wall / base:.2f}×" if base else "–"
                note = getattr(run_ours, "info", "") if name == "ours" else ""
                note += f" load {os.getloadavg()[0]:.1f}"
                print(
                    f"| {n:,} | {shape} | {cos} | {name} | {wall:.1f} | {cpu:.1f} | "
                    f"{recall(out[rows], ti):.3f} | {ratio} | {note.strip()} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
