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
  (0.5 -> 0.3 -> 0.4 -> 0.6: warm-started layout + re-ranked table), time until ``w.wait()``
  returns, the process CPU time of the step (all threads; less sensitive to a busy machine than
  the wall time), the load average and the median image displacement as a share of the grid
  side; medians over ``--repeats`` fresh widgets (default 3). Then the layout alone: a fresh
  dense map vs a warm start of the same change, with the neighbourhood score.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # sibling modules, also under runpy
from bench_som import mixture
from benchutil import blas_kernel

from vectorvision_widget.som.dense import default_layout, dense_map, warm_map
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


def _step(w: Any, what: str, value: object) -> tuple[float, float, float]:
    """Change ``what`` on widget ``w`` and wait: (wall s, process CPU s (all threads), load)."""
    t, c = time.perf_counter(), time.process_time()
    if what == "mode":
        w.mode = str(value)
    else:
        w.hybrid_weight = float(str(value))
    assert w.wait(3600)
    return time.perf_counter() - t, time.process_time() - c, os.getloadavg()[0]


def hybrid(n: int, repeats: int) -> None:
    import vectorvision_widget as vv

    vis, sem = spaces(n)
    changes = [0.3, 0.4, 0.6]
    first: list[tuple[float, float, float, float]] = []
    weight: list[tuple[float, float, float, float]] = []
    side = 0
    for _ in range(repeats):  # a fresh library each time: the first switch builds its tables
        lib = vv.Library.from_arrays([f"/bench/{i}.jpg" for i in range(n)], sem, vis)
        w = vv.VectorVision(lib, mode="visual")
        assert w.wait(3600)
        side = w._grid[0]
        before = w.cells
        first.append((*_step(w, "mode", "hybrid"), moved(before, w.cells, side)))
        for x in changes:
            before = w.cells
            weight.append((*_step(w, "w", x), moved(before, w.cells, side)))
        w.close()
    print(
        f"| step (widget, N = {n}, grid {side}×{side}; median of {len(first)} / {len(weight)}) "
        "| wall s | CPU s | load (1 min) | median move (grid side) |"
    )
    print("|---|---|---|---|---|")
    rows = (("first switch to hybrid (visual -> w 0.5)", first), ("weight change", weight))
    med = {}
    for name, runs in rows:
        m = np.median(np.array(runs), axis=0)
        med[name] = m
        print(f"| {name} | {m[0]:.2f} | {m[1]:.2f} | {m[2]:.1f} | {100 * m[3]:.1f} % |")
    f, c = med[rows[0][0]], med[rows[1][0]]
    print(f"| ratio weight change / first switch | {c[0] / f[0]:.2f}× | {c[1] / f[1]:.2f}× | | |")
    rows_, cols = map_grid_shape(n)

    def hyb(x: float) -> np.ndarray:
        return np.hstack([np.sqrt(x) * vis, np.sqrt(1 - x) * sem]).astype(np.float32)

    start = dense_map(hyb(0.5), rows_, cols)
    probe = np.sort(np.random.default_rng(1).choice(n, min(n, 5000), replace=False))
    nn = knn(hyb(0.3), probe)
    print()
    print(
        "| layout alone, weight 0.5 -> 0.3 | wall s | CPU s | load | median move "
        "| 10-NN within 3 cells |"
    )
    print("|---|---|---|---|---|---|")
    X = hyb(0.3)
    layouts = {
        "fresh dense map (dense_map)": lambda: dense_map(X, rows_, cols),
        "warm start (warm_map, as the widget)": lambda: warm_map(X, start.cells, rows_, cols),
    }
    for name, make in layouts.items():
        t, c = time.perf_counter(), time.process_time()
        made = make()
        t, c = time.perf_counter() - t, time.process_time() - c
        print(
            f"| {name} | {t:.2f} | {c:.2f} | {os.getloadavg()[0]:.1f} | "
            f"{100 * moved(start.cells, made.cells, rows_):.1f} % | "
            f"{100 * within(made.cells, probe, nn):.1f} % |",
            flush=True,
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--grid", type=int, nargs="*", metavar="N", help="dense vs old layout")
    ap.add_argument(
        "--hybrid", type=int, nargs="*", metavar="N", help="hybrid slider in the widget"
    )
    ap.add_argument("--repeats", type=int, default=3, help="fresh widgets per --hybrid size")
    args = ap.parse_args()
    print(f"BLAS: {blas_kernel()}")
    if args.grid:
        grid(args.grid)
    for n in args.hybrid or []:
        hybrid(n, max(1, args.repeats))


if __name__ == "__main__":
    main()
