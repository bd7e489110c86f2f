"""Benchmark: our batch SOM vs xpysom and MiniSom on Gaussian-mixture unit vectors.

Run: ``pip install -e ".[bench]"`` then ``python benchmarks/bench_som.py`` (full: 10k×384 @ 32×32
and 50k×384 @ 64×64; ``--quick`` for 2k @ 16×16). ``--default-grid 10000 50000 100000`` instead
times the widget's case: ``SOM.for_samples(n)`` (≈2.25·n cells, one image per cell), bounded
working resolution (new default) vs ``train_nodes=None`` (full resolution, the old behaviour) at
the sizes listed in ``--direct-max`` (default 10k; a full-resolution pass costs n × 2.25·n).
All maps are scored with the same QE/TE code
(ours: mean distance to the BMU; TE = best and second-best units not 8-neighbours), on the
same data, in the same process, so the ratios are comparable even on a busy machine.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import time
from collections.abc import Callable

import numpy as np

from vectorvision_widget.som import SOM


def mixture(n: int, d: int = 384, k: int = 32, seed: int = 0, spread: float = 0.5) -> np.ndarray:
    """n unit vectors around k random centres (what image embeddings roughly look like)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(k, d)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    labels = rng.integers(0, k, n)
    X = centres[labels] + spread * rng.normal(size=(n, d)).astype(np.float32) / np.sqrt(d)
    return (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32)


def scored(weights: np.ndarray, X: np.ndarray) -> tuple[float, float]:
    probe = SOM(weights.shape[0], weights.shape[1])
    probe.weights = np.ascontiguousarray(weights, dtype=np.float32)
    return probe.quantization_error(X), probe.topographic_error(X)


def run_xpysom(X: np.ndarray, rows: int, cols: int, epochs: int) -> np.ndarray:
    with contextlib.redirect_stdout(io.StringIO()):  # xpysom prints a CuPy warning
        from xpysom import XPySom

        som = XPySom(rows, cols, X.shape[1], random_seed=0)
        som.pca_weights_init(X)
        som.train(X, epochs)
    return np.asarray(som.get_weights())


def run_minisom(X: np.ndarray, rows: int, cols: int, epochs: int) -> np.ndarray:
    from minisom import MiniSom

    som = MiniSom(rows, cols, X.shape[1], sigma=max(rows, cols) / 2, random_seed=0)
    som.pca_weights_init(X)
    som.train_batch(X, epochs * X.shape[0])
    return som.get_weights()


def timed(fn: Callable[[], np.ndarray]) -> tuple[float, np.ndarray]:
    t = time.perf_counter()
    w = fn()
    return time.perf_counter() - t, w


def default_grid(sizes: list[int], direct_max: int) -> None:
    """Widget case: time, QE (BMU and own cell), TE and rows moved off their BMU."""
    print("| data | grid (working) | path | time s | QE BMU | QE own cell | TE | moved |")
    print("|---|---|---|---|---|---|---|---|")
    for n in sizes:
        X = mixture(n)
        # BMU-QE and TE need n × cells products: scored on a fixed 10k-row sample above 10k
        probe = X[np.sort(np.random.default_rng(1).choice(n, min(n, 10000), replace=False))]
        paths = [("bounded (default)", "auto")] + (
            [("full resolution", None)] if n <= direct_max else []
        )
        for name, nodes in paths:
            som = SOM.for_samples(n, train_nodes=nodes)
            t, _ = timed(lambda s=som, X=X: s.fit(X).weights)
            q_bmu = som.quantization_error(probe)
            q_own = som.quantization_error(X, som.cells)
            moved = float((som.cells != som.bmus).any(axis=1).mean())
            wr, wc = som.working_shape(n)
            print(
                f"| {n // 1000}k×384 | {som.rows}×{som.cols} ({wr}×{wc}) | {name} | {t:.2f} | "
                f"{q_bmu:.4f} | {q_own:.4f} | {som.topographic_error(probe):.4f} | "
                f"{100 * moved:.1f} % |",
                flush=True,
            )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="2k×384 @ 16×16 only (smoke run)")
    ap.add_argument("--no-minisom", action="store_true", help="skip MiniSom (≈1 min at 10k)")
    ap.add_argument("--default-grid", type=int, nargs="*", metavar="N", help="widget case sizes")
    ap.add_argument("--direct-max", type=int, default=10000, help="largest N for full resolution")
    args = ap.parse_args()
    if args.default_grid:
        default_grid(args.default_grid, args.direct_max)
        return
    cases = [(2000, 16, 16)] if args.quick else [(10000, 32, 32), (50000, 64, 64)]
    print("| data | method | time s | QE | TE | time vs xpysom | QE vs xpysom |")
    print("|---|---|---|---|---|---|---|")
    for n, rows, cols in cases:
        X = mixture(n)
        label = f"{n // 1000}k×384 @ {rows}×{cols}"
        results: dict[str, tuple[float, float, float]] = {}
        t, w = timed(lambda X=X, r=rows, c=cols: run_xpysom(X, r, c, 10))
        results["xpysom (10 epochs)"] = (t, *scored(w, X))
        if n <= 10000 and not args.no_minisom:
            t, w = timed(lambda X=X, r=rows, c=cols: run_minisom(X, r, c, 10))
            results["MiniSom (10 epochs, batch)"] = (t, *scored(w, X))
        plain = SOM(rows, cols, coarse_to_fine=False)
        t, _ = timed(lambda X=X, s=plain: s.fit(X).weights)
        results["ours, plain batch (10 epochs)"] = (t, *scored(plain.weights, X))
        ours = SOM(rows, cols)
        t, _ = timed(lambda X=X, s=ours: s.fit(X).weights)
        results["ours, default (coarse-to-fine)"] = (t, *scored(ours.weights, X))
        base_t, base_q, _ = results["xpysom (10 epochs)"]
        for name, (t, q, te) in results.items():
            print(
                f"| {label} | {name} | {t:.2f} | {q:.4f} | {te:.4f} | "
                f"{base_t / t:.2f}× faster | {q / base_q:.3f} |"
            )
        if n > 10000:  # the default grid has 2.25·n nodes: one pass is n × 2.25·n products
            continue
        # unique-cell cost, on the default grid for n (every image its own cell)
        big = SOM.for_samples(n)
        t, _ = timed(lambda X=X, s=big: s.fit(X).weights)
        q_bmu = big.quantization_error(X)
        q_unique = big.quantization_error(X, big.cells)
        moved = float((big.cells != big.bmus).any(axis=1).mean())
        print(
            f"| {n // 1000}k×384 @ {big.rows}×{big.cols} (default grid) | ours + unique cells | "
            f"{t:.2f} | BMU {q_bmu:.4f} → unique {q_unique:.4f} "
            f"(+{100 * (q_unique / q_bmu - 1):.2f} %, {100 * moved:.1f} % moved) | "
            f"{big.topographic_error(X):.4f} | | |"
        )


if __name__ == "__main__":
    main()
