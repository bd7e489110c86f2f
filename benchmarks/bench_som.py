"""Benchmark: our batch SOM vs xpysom and MiniSom on synthetic embeddings (QE, TE, time).

Run: ``pip install -e ".[bench]"`` then one of
- ``python benchmarks/bench_som.py --heldout``: the default ``SOM(rows, cols)`` against xpysom's
  tuned run (σ 8→1 at 32×32, i.e. max(rows, cols)/4 → 1, 10 epochs) on data and seeds that were
  NOT used to choose the default schedule (``--tune`` reruns the sweep on the tuning set);
- ``python benchmarks/bench_som.py`` (10k×384 @ 32×32 and 50k×384 @ 64×64; ``--quick``: 2k @ 16×16);
- ``--default-grid 10000 50000 100000``: the widget's case, ``SOM.for_samples(n)`` (one image per
  cell), bounded working resolution vs ``train_nodes=None`` up to ``--direct-max``;
- ``--fill 5000 20000``: own-cell QE/TE of denser default grids (fill = images / cells).
All maps are scored with the same QE/TE code (QE: mean distance to the BMU; TE: best and
second-best units not 8-neighbours), on the same data, in the same process, so ratios are
comparable even on a busy machine. xpysom's sigma is 2× ours (its Gaussian uses std_coeff 0.5).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from vectorvision_widget.som.map import SOM

sys.path.insert(0, str(Path(__file__).resolve().parent))  # sibling benchutil, also under runpy
from benchutil import blas_kernel


def mixture(
    n: int, d: int = 384, k: int = 32, seed: int = 0, spread: float = 0.5, zipf: float = 0.0
) -> np.ndarray:
    """n unit vectors around k random centres (what image embeddings roughly look like);
    ``zipf`` > 0 makes cluster sizes unequal (size of cluster i ∝ 1 / i^zipf)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(k, d)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    p = 1.0 / np.arange(1, k + 1) ** zipf
    labels = rng.choice(k, n, p=p / p.sum()) if zipf else rng.integers(0, k, n)
    X = centres[labels] + spread * rng.normal(size=(n, d)).astype(np.float32) / np.sqrt(d)
    return (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32)


def anisotropic(n: int, d: int = 384, seed: int = 0) -> np.ndarray:
    """A Gaussian with a power-law spectrum (variance of axis i ∝ 1/i), randomly rotated."""
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    scale = 1.0 / np.sqrt(np.arange(1, d + 1))
    X = (rng.normal(size=(n, d)) * scale) @ q.T
    return (X / np.sqrt((scale**2).sum())).astype(np.float32)


def sphere(n: int, d: int = 384, seed: int = 0) -> np.ndarray:
    """Uniform on the unit sphere: no structure at all (the hardest case for a 2-D map)."""
    X = np.random.default_rng(seed).normal(size=(n, d))
    return (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32)


def make(name: str, n: int, seed: int) -> np.ndarray:
    """Data by name: ``mix:k:spread[:zipf]``, ``aniso`` or ``sphere``."""
    kind, *args = name.split(":")
    if kind == "mix":
        zipf = float(args[2]) if len(args) > 2 else 0.0
        return mixture(n, k=int(args[0]), spread=float(args[1]), seed=seed, zipf=zipf)
    return anisotropic(n, seed=seed) if kind == "aniso" else sphere(n, seed=seed)


def scored(weights: np.ndarray, X: np.ndarray) -> tuple[float, float]:
    probe = SOM(weights.shape[0], weights.shape[1])
    probe.weights = np.ascontiguousarray(weights, dtype=np.float32)
    return probe.quantization_error(X), probe.topographic_error(X)


def run_xpysom(X: np.ndarray, rows: int, cols: int, epochs: int, sigma: float = 0.0) -> np.ndarray:
    """xpysom batch training (sigma 0: its default, max(rows, cols) / 2 → 1)."""
    with contextlib.redirect_stdout(io.StringIO()):  # xpysom prints a CuPy warning
        from xpysom import XPySom

        som = XPySom(rows, cols, X.shape[1], sigma=sigma, sigmaN=1, random_seed=0)
        som.pca_weights_init(X)
        som.train(X, epochs)
    return np.asarray(som.get_weights())


def run_minisom(X: np.ndarray, rows: int, cols: int, epochs: int) -> np.ndarray:
    from minisom import MiniSom

    som = MiniSom(rows, cols, X.shape[1], sigma=max(rows, cols) / 2, random_seed=0)
    som.pca_weights_init(X)
    som.train_batch(X, epochs * X.shape[0])
    return som.get_weights()


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
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


#: (data, n, rows, cols, seed): the cases the default schedule was chosen on (``--tune``) ...
TUNING = [
    ("mix:32:0.5", 10000, 32, 32, 0),
    ("aniso", 5000, 24, 24, 0),
    ("mix:8:0.3", 5000, 24, 24, 1),
]
#: ... and held-out ones (other seeds, cluster counts, spreads, sizes, grids, distributions).
HELDOUT = [
    ("mix:128:0.8", 10000, 32, 32, 10),
    ("mix:16:0.4:1.0", 20000, 40, 40, 11),
    ("sphere", 5000, 24, 24, 12),
    ("aniso", 3000, 16, 16, 13),
    ("mix:32:0.5", 10000, 24, 40, 14),
]
#: Candidate schedules of the ``--tune`` sweep: (sigma0 as a share of the longer side,
#: sigma_end, epochs).
CANDIDATES = [
    (f, e, ep) for f in (1 / 8, 1 / 6, 1 / 4) for e in (0.6, 0.65, 0.7, 1.0) for ep in (10, 12)
]


def versus_xpysom(cases: list[tuple[str, int, int, int, int]], ours: dict[str, dict]) -> None:
    """One table row per method and case: time, QE, TE and speed against xpysom's tuned run."""
    print("| data | method | time s | QE | TE | speed vs xpysom | QE vs xpysom | TE − xpysom |")
    print("|---|---|---|---|---|---|---|---|")
    for name, n, rows, cols, seed in cases:
        X = make(name, n, seed)
        label = f"{name} n={n // 1000}k seed {seed} @ {rows}×{cols}"
        sig = max(rows, cols) / 4
        t, w = timed(lambda X=X, r=rows, c=cols, s=sig: run_xpysom(X, r, c, 10, s))
        base_t, base_q, base_e = t, *scored(w, X)
        results = {f"xpysom σ{sig:g}→1 (10 epochs)": (t, base_q, base_e)}
        for method, kwargs in ours.items():
            kw = dict(kwargs)
            if "sigma0_share" in kw:
                kw["sigma0"] = max(rows, cols) * kw.pop("sigma0_share")
            som = SOM(rows, cols, **kw)
            t, _ = timed(lambda X=X, s=som: s.fit(X).weights)
            results[method] = (t, som.quantization_error(X), som.topographic_error(X))
        for method, (t, q, e) in results.items():
            print(
                f"| {label} | {method} | {t:.2f} | {q:.4f} | {e:.4f} | {base_t / t:.1f}× | "
                f"{q / base_q:.4f} | {e - base_e:+.4f} |",
                flush=True,
            )


def tune() -> None:
    """The sweep the default was chosen from (tuning cases only)."""
    ours: dict[str, dict] = {"ours, default": {}}
    for f, e, ep in CANDIDATES:
        key = f"σ0 = side/{round(1 / f)} → {e:g}, {ep} epochs"
        ours[key] = {"sigma0_share": f, "sigma_end": e, "epochs": ep}
    print("| data | method | time s | QE | TE | speed vs xpysom | QE vs xpysom | TE − xpysom |")
    print("|---|---|---|---|---|---|---|---|")
    for name, n, rows, cols, seed in TUNING:
        X = make(name, n, seed)
        sig = max(rows, cols) / 4
        t, w = timed(lambda X=X, r=rows, c=cols, s=sig: run_xpysom(X, r, c, 10, s))
        base_t, base_q, base_e = t, *scored(w, X)
        for method, kw in ours.items():
            kw = dict(kw)
            share = kw.pop("sigma0_share", None)
            if share is not None:
                kw["sigma0"] = max(rows, cols) * share
            som = SOM(rows, cols, **kw)
            t, _ = timed(lambda X=X, s=som: s.fit(X).weights)
            q, e = som.quantization_error(X), som.topographic_error(X)
            print(
                f"| {name} n={n} seed {seed} @ {rows}×{cols} | {method} | {t:.2f} | {q:.4f} | "
                f"{e:.4f} | {base_t / t:.1f}× | {q / base_q:.4f} | {e - base_e:+.4f} |",
                flush=True,
            )


def fills(sizes: list[int], levels: list[float]) -> None:
    """Denser default grids: own-cell QE (distance to the weight of each row's own cell), TE,
    the share of rows placed more than one cell from their BMU, and time."""
    print("| data | fill | grid | empty | time s | QE BMU | QE own cell | TE | >1 cell off BMU |")
    print("|---|---|---|---|---|---|---|---|---|")
    for n in sizes:
        X = mixture(n, seed=3)
        probe = X[np.sort(np.random.default_rng(1).choice(n, min(n, 10000), replace=False))]
        for fill in levels:
            som = SOM.for_samples(n, fill=fill)
            t, _ = timed(lambda s=som, X=X: s.fit(X).weights)
            assert len(np.unique(som.cells[:, 0] * som.cols + som.cells[:, 1])) == n
            off = float((np.abs(som.cells - som.bmus).max(axis=1) > 1).mean())
            empty = 1 - n / (som.rows * som.cols)
            print(
                f"| {n // 1000}k×384 | {fill:g} | {som.rows}×{som.cols} | {100 * empty:.0f} % | "
                f"{t:.2f} | {som.quantization_error(probe):.4f} | "
                f"{som.quantization_error(X, som.cells):.4f} | "
                f"{som.topographic_error(probe):.4f} | {100 * off:.1f} % |",
                flush=True,
            )


def scale(sizes: list[int]) -> None:
    """The widget's default layout (``som.default_layout``) at large N: time and peak RSS."""
    import resource

    from vectorvision_widget.som.dense import default_layout

    print(
        "| data | grid (working) | time s | CPU s | QE own cell (10k rows) | unique | peak RSS GB |"
    )
    print("|---|---|---|---|---|---|---|")
    for n in sizes:
        X = np.empty((n, 384), dtype=np.float32)
        for s in range(0, n, 100000):  # chunked: no float64 copy of the whole matrix
            X[s : s + 100000] = mixture(min(100000, n - s), k=256, seed=s)
        cpu = time.process_time()
        t, som = timed(lambda X=X: default_layout(X))
        cpu = time.process_time() - cpu
        ids = som.cells[:, 0].astype(np.int64) * som.cols + som.cells[:, 1]
        probe = np.random.default_rng(1).choice(n, min(n, 10000), replace=False)
        q = som.quantization_error(X[probe], som.cells[probe])
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
        wr, wc = som.working_shape(n)
        print(
            f"| {n // 1000}k×384 | {som.rows}×{som.cols} ({wr}×{wc}) | {t:.1f} | {cpu:.0f} | "
            f"{q:.4f} | {np.unique(ids).size == n} | {rss:.1f} |",
            flush=True,
        )
        del X, som


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="2k×384 @ 16×16 only (smoke run)")
    ap.add_argument("--no-minisom", action="store_true", help="skip MiniSom (≈1 min at 10k)")
    ap.add_argument("--default-grid", type=int, nargs="*", metavar="N", help="widget case sizes")
    ap.add_argument("--direct-max", type=int, default=10000, help="largest N for full resolution")
    ap.add_argument("--heldout", action="store_true", help="default vs xpysom on held-out data")
    ap.add_argument("--tune", action="store_true", help="the schedule sweep on the tuning data")
    ap.add_argument("--fill", type=int, nargs="*", metavar="N", help="denser default grids")
    ap.add_argument("--fill-levels", type=float, nargs="*", default=[4 / 9, 0.6, 0.7, 0.8, 0.9])
    ap.add_argument("--scale", type=int, nargs="*", metavar="N", help="default layout at large N")
    args = ap.parse_args()
    print(f"BLAS: {blas_kernel()}")
    if args.heldout:
        old = {"sigma0_share": 0.5, "sigma_end": 1.0, "epochs": 10}  # before tuning
        versus_xpysom(HELDOUT, {"ours, default": {}, "ours, old default (σ side/2→1)": old})
        return
    if args.tune:
        tune()
        return
    if args.scale:
        scale(args.scale)
        return
    if args.fill:
        fills(args.fill, args.fill_levels)
        return
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
        if n > 10000:  # the default grid has n / fill nodes: one pass is n² / fill products
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
