"""Benchmark: the dense default map vs the old one, and the live hybrid slider.

Run (timings with the OpenBLAS override unset)::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_layout.py --grid 10000
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_layout.py --hybrid 20000

- ``--grid N``: empty cells and neighbourhood score of ``som.default_layout`` (dense: coarse SOM
  + order-preserving fill, fill 0.95) vs the old default (``SOM.for_samples(N)``: one node per
  cell at fill 0.7) on the same data (N × 384, 64 clusters). Score: the share of each image's 10
  nearest neighbours (cosine, in the layout's space) within 3 cells (Chebyshev) on the grid.
- ``--hybrid N``: in the widget (``VectorVision`` on ``Library.from_arrays``, two 384-d spaces):
  the first switch from visual to hybrid (layout + hybrid neighbour table) vs a weight change
  0.5 -> 0.3 (warm-started layout + re-ranked table), time until ``w.wait()`` returns, and the
  median image displacement as a share of the grid side; plus the layout alone: a fresh dense map
  vs a warm start of the same change.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # sibling modules, also under runpy
from bench_som import mixture
from benchutil import blas_kernel

from vectorvision_widget.som.dense import default_layout, dense_layout, warm_layout
from vectorvision_widget.som.layout import DEFAULT_FILL, default_grid_shape, map_grid_shape
from vectorvision_widget.som.map import SOM


def knn(X: np.ndarray, rows: np.ndarray, k: int = 10) -> np.ndarray:
    """Exact cosine k nearest neighbours (self excluded) of ``rows``."""
    out = np.empty((rows.size, k), np.int64)
    for s in range(0, rows.size, 2000):
        r = rows[s : s + 2000]
        g = X[r] @ X.T
        g[np.arange(r.size), r] = -np.inf
        out[s : s + 2000] = np.argpartition(-g, k, axis=1)[:, :k]
    return out


def within(cells: np.ndarray, rows: np.ndarray, nn: np.ndarray, radius: int = 3) -> float:
    c = cells.astype(np.int64)
    return float((np.abs(c[nn] - c[rows, None, :]).max(axis=2) <= radius).mean())


def grid(sizes: list[int]) -> None:
    print("| data | layout | grid | empty cells | 10-NN within 3 cells | time s |")
    print("|---|---|---|---|---|---|")
    for n in sizes:
        X = mixture(n, k=64, seed=3)
        probe = np.sort(np.random.default_rng(1).choice(n, min(n, 5000), replace=False))
        nn = knn(X, probe)
        runs = {
            f"old: SOM.for_samples (fill {DEFAULT_FILL})": lambda X=X, n=n: SOM(
                *default_grid_shape(n, DEFAULT_FILL)
            ).fit(X),
            "new: default_layout (dense)": lambda X=X: default_layout(X),
        }
        for name, run in runs.items():
            t = time.perf_counter()
            som = run()
            t = time.perf_counter() - t
            empty = 1 - n / (som.rows * som.cols)
            print(
                f"| {n // 1000}k×384, 64 clusters | {name} | {som.rows}×{som.cols} | "
                f"{100 * empty:.1f} % | {100 * within(som.cells, probe, nn):.1f} % | {t:.1f} |",
                flush=True,
            )


def spaces(n: int, d: int = 384, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(visual, semantic): 64 look clusters; meaning clusters are look pairs, 20 % relabelled."""
    rng = np.random.default_rng(seed)
    lab = rng.integers(0, 64, n)
    lab2 = np.where(rng.random(n) < 0.8, lab // 2, rng.integers(0, 32, n))

    def emb(labels: np.ndarray, k: int) -> np.ndarray:
        c = rng.normal(size=(k, d)).astype(np.float32)
        c /= np.linalg.norm(c, axis=1, keepdims=True)
        X = c[labels] + 0.5 * rng.normal(size=(n, d)).astype(np.float32) / np.sqrt(d)
        return (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32)

    return emb(lab, 64), emb(lab2, 32)


def moved(a: np.ndarray, b: np.ndarray, side: int) -> float:
    return float(np.median(np.sqrt(((a.astype(float) - b) ** 2).sum(axis=1))) / side)


def hybrid(n: int) -> None:
    import vectorvision_widget as vv

    vis, sem = spaces(n)
    lib = vv.Library.from_arrays([f"/bench/{i}.jpg" for i in range(n)], sem, vis)
    w = vv.VectorVision(lib, mode="visual")
    assert w.wait(3600)
    side = w._grid[0]
    steps = [("first switch to hybrid (w 0.5)", "mode", "hybrid"), ("weight 0.5 -> 0.3", "w", 0.3)]
    print(f"| step (widget, N = {n}, grid {side}×{side}) | time s | median move (grid side) |")
    print("|---|---|---|")
    times = []
    for name, what, value in steps:
        before = w.cells
        t = time.perf_counter()
        if what == "mode":
            w.mode = str(value)
        else:
            w.hybrid_weight = float(value)
        assert w.wait(3600)
        times.append(time.perf_counter() - t)
        print(
            f"| {name} | {times[-1]:.2f} | {100 * moved(before, w.cells, side):.1f} % |", flush=True
        )
    print(f"| ratio weight change / first switch | {times[1] / times[0]:.2f}× | |")
    w.close()
    rows, cols = map_grid_shape(n)

    def hyb(x: float) -> np.ndarray:
        return np.hstack([np.sqrt(x) * vis, np.sqrt(1 - x) * sem]).astype(np.float32)

    start = dense_layout(hyb(0.5), rows, cols)
    t = time.perf_counter()
    fresh = dense_layout(hyb(0.3), rows, cols)
    t_fresh = time.perf_counter() - t
    t = time.perf_counter()
    warm = warm_layout(hyb(0.3), start.cells, rows, cols)
    t_warm = time.perf_counter() - t
    probe = np.sort(np.random.default_rng(1).choice(n, min(n, 5000), replace=False))
    nn = knn(hyb(0.3), probe)
    print()
    print("| layout alone, weight 0.5 -> 0.3 | time s | median move | 10-NN within 3 cells |")
    print("|---|---|---|---|")
    for name, som, t in (("fresh dense map", fresh, t_fresh), ("warm start", warm, t_warm)):
        print(
            f"| {name} | {t:.2f} | {100 * moved(start.cells, som.cells, rows):.1f} % | "
            f"{100 * within(som.cells, probe, nn):.1f} % |"
        )
    print(f"| ratio warm / fresh | {t_warm / t_fresh:.2f}× | | |")


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--grid", type=int, nargs="*", metavar="N", help="dense vs old layout")
    ap.add_argument(
        "--hybrid", type=int, nargs="*", metavar="N", help="hybrid slider in the widget"
    )
    args = ap.parse_args()
    print(f"BLAS: {blas_kernel()}")
    if args.grid:
        grid(args.grid)
    for n in args.hybrid or []:
        hybrid(n)


if __name__ == "__main__":
    main()
