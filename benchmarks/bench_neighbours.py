"""Benchmark: neighbour tables, the live hybrid slider and single queries, new vs old code.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_neighbours.py
    git worktree add /tmp/l-before <old commit>
    python benchmarks/bench_neighbours.py --baseline-repo /tmp/l-before --sizes 20000

Every step runs in its own subprocess importing the package from this repo or from
``--baseline-repo`` (a checkout of older code), so both are timed in the same run on the same
data. Data: float32 unit vectors around 64 shared cluster centres (visual 384-d, semantic
768-d), so the two spaces agree as they do on real photos.

- ``table``: ``similarity.neighbour_table(visual, k=10)`` (exact below the threshold; above it
  the new code uses the approximate index, reported with its recall on 500 sampled rows).
- ``hybrid``: the first hybrid table (candidates per space + one re-rank) vs a weight change
  (re-rank only), with recall against the exact hybrid neighbours of 500 sampled rows.
- ``session``: the tables a widget session asks one Library for, in two orders (hybrid first,
  then the Look and Meaning Shift+Hover tables; and the other way round), each call timed:
  the library computes a space's table once per version and slices it for a smaller k
  (new code only: the old Library had no table cache).
- ``queries`` (at ``--query-n``, default 100k): median of 20 calls of ``lib.similar`` in each
  space, ``lib.search`` with a vector and ``lib.by_colour``, against the floor: a bare float32
  matmul + argpartition on the same matrix (both spaces' floors for hybrid/fused).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # sibling benchutil, also under runpy
from benchutil import blas_kernel as blas

K = 10
REPO = Path(__file__).resolve().parents[1]


def mixture(labels: np.ndarray, d: int, seed: int, k: int = 64) -> np.ndarray:
    """Unit float32 vectors around k random centres; shared labels make two spaces agree."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((k, d), dtype=np.float32)[labels]
    X += 1.5 * rng.standard_normal((labels.size, d), dtype=np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    return X


def data(n: int) -> tuple[np.ndarray, np.ndarray]:
    labels = np.random.default_rng(0).integers(0, 64, n)
    return mixture(labels, 384, 0), mixture(labels, 768, 1)  # same clusters in both spaces


def exact_hybrid(v: np.ndarray, s: np.ndarray, w: float, k: int, rows: np.ndarray) -> np.ndarray:
    sc = w * (v[rows] @ v.T) + (1 - w) * (s[rows] @ s.T)
    sc[np.arange(rows.size), rows] = -np.inf
    return np.argsort(-sc, axis=1)[:, :k]


def recall(idx: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(a) & set(b)) / K for a, b in zip(idx, truth, strict=True)]))


def median_time(fn, reps: int = 20) -> float:  # type: ignore[no-untyped-def]
    fn()  # warm-up: caches, first-touch
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def worker(step: str, n: int) -> dict:
    try:
        import vectorvision_widget.neighbours as sim
    except ImportError:  # a baseline from before the subpackages: the flat facade
        import vectorvision_widget.similarity as sim  # type: ignore[no-redef]

    v, s = data(n)
    rows = np.random.default_rng(2).choice(n, min(n, 500), replace=False)
    out: dict = {}
    if step == "table":
        t = time.perf_counter()
        idx, _ = sim.neighbour_table(v, K)
        out["time"] = time.perf_counter() - t
        truth = np.argsort(-(v[rows] @ v.T) + 2 * (np.arange(n) == rows[:, None]), axis=1)[:, :K]
        out["recall"] = recall(idx[rows], truth)
    elif step == "hybrid":
        t = time.perf_counter()
        hn = sim.HybridNeighbours(v, s, K)
        idx, _ = hn.table(0.5)
        out["first"] = time.perf_counter() - t
        out["K"] = hn.candidates
        out["rerank"] = []
        for w in (0.3, 0.7):
            t = time.perf_counter()
            idx, _ = hn.table(w)
            out["rerank"].append(
                (w, time.perf_counter() - t, recall(idx[rows], exact_hybrid(v, s, w, K, rows)))
            )
    elif step == "session":
        out.update(session(v, s, n))
    else:
        out.update(queries(v, s, n))
    out["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def queries(v: np.ndarray, s: np.ndarray, n: int) -> dict:
    from vectorvision_widget.library import Library  # also the flat module of older code

    rng = np.random.default_rng(5)
    pal = rng.integers(0, 256, size=(n, 5, 3)).tolist()
    recs = [{"path": f"/x/{i}.jpg", "palette": pal[i], "color": pal[i][0]} for i in range(n)]
    lib = Library.from_arrays([r["path"] for r in recs], s, v, records=recs)
    del recs, pal
    V, S = np.ascontiguousarray(lib.visual_features), np.ascontiguousarray(lib.features)
    picks = iter(rng.integers(0, n, 10_000).tolist())

    def floor(X: np.ndarray):  # type: ignore[no-untyped-def]
        def f() -> None:
            sc = X @ X[next(picks)]
            np.argpartition(sc, -20)[-20:]

        return f

    res = {"floor_visual": median_time(floor(V)), "floor_semantic": median_time(floor(S))}
    for space in ("visual", "semantic", "hybrid", "fused"):
        res[space] = median_time(lambda sp=space: lib.similar(next(picks), 20, space=sp))
    res["search"] = median_time(lambda: lib.search(S[next(picks)], k=20))
    res["by_colour"] = median_time(lambda: lib.by_colour([200, 40, 40], 20), reps=5)
    return res


SESSION_ORDERS = {
    "hybrid first": ("hybrid", "visual", "semantic", "weight 0.3"),
    "spaces first": ("visual", "semantic", "hybrid", "weight 0.3"),
}


def session(v: np.ndarray, s: np.ndarray, n: int) -> dict:
    """Seconds per table request, in each order of SESSION_ORDERS, on a fresh Library each."""
    from vectorvision_widget.library import Library  # also the flat module of older code

    paths = [f"/x/{i}.jpg" for i in range(n)]
    out: dict = {}
    for name, steps in SESSION_ORDERS.items():
        lib = Library.from_arrays(paths, s, v)
        times = []
        for step in steps:
            t = time.perf_counter()
            if step == "hybrid":
                lib.hybrid_neighbours(K).table(0.5)
            elif step.startswith("weight"):
                lib.hybrid_neighbours(K).table(float(step.split()[1]))
            else:
                lib.neighbour_table(K, step)
            times.append((step, time.perf_counter() - t))
        out[name] = times
    return out


def run(step: str, n: int, repo: Path) -> dict:
    code = (
        f"import sys, json, runpy; sys.path.insert(0, {str(repo)!r});"
        f"w = runpy.run_path({__file__!r})['worker'];"
        f"print(json.dumps(w({step!r}, {n})))"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    if res.returncode:
        raise SystemExit(
            f"bench_neighbours: {step} at N={n} ({repo}) failed:\n{res.stderr[-3000:]}"
        )
    return json.loads(res.stdout.splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10000, 100000], help="table sizes")
    ap.add_argument("--query-n", type=int, default=100_000, help="library size for queries")
    ap.add_argument("--baseline-repo", type=Path, help="a checkout of the old code to compare")
    ap.add_argument("--steps", nargs="+", default=["queries", "table", "hybrid"])
    args = ap.parse_args()
    print(f"BLAS: {blas()}")
    codes = [("new", REPO)] + ([("old", args.baseline_repo)] if args.baseline_repo else [])
    if "queries" in args.steps:
        n = args.query_n
        print(f"\nSingle queries at N={n:,} (median of 20, ms; × = vs the bare matmul floor)")
        print(
            "| code | floor vis | floor sem | visual | semantic | hybrid | fused | search "
            "| by_colour |"
        )
        print("|---|---|---|---|---|---|---|---|---|")
        for name, repo in codes:
            q = run("queries", n, repo)
            fv, fs = q["floor_visual"], q["floor_semantic"]
            cell = {
                "visual": f"{q['visual'] * 1e3:.1f} ({q['visual'] / fv:.1f}×)",
                "semantic": f"{q['semantic'] * 1e3:.1f} ({q['semantic'] / fs:.1f}×)",
                "hybrid": f"{q['hybrid'] * 1e3:.1f} ({q['hybrid'] / (fv + fs):.1f}×)",
                "fused": f"{q['fused'] * 1e3:.1f} ({q['fused'] / (fv + fs):.1f}×)",
                "search": f"{q['search'] * 1e3:.1f} ({q['search'] / fs:.1f}×)",
            }
            print(
                f"| {name} | {fv * 1e3:.1f} | {fs * 1e3:.1f} | {cell['visual']} | "
                f"{cell['semantic']} | {cell['hybrid']} | {cell['fused']} | {cell['search']} | "
                f"{q['by_colour'] * 1e3:.0f} |",
                flush=True,
            )
    if "session" in args.steps:
        print("\nOne Library, the tables a widget session asks for, seconds per request (new)")
        print("| N | order | " + " | ".join(f"request {i + 1}" for i in range(4)) + " | total |")
        print("|---|---|---|---|---|---|---|")
        for n in args.sizes:
            res = run("session", n, REPO)
            for name in SESSION_ORDERS:
                cells = " | ".join(f"{step} {t:.2f}" for step, t in res[name])
                total = sum(t for _, t in res[name])
                print(f"| {n:,} | {name} | {cells} | {total:.1f} |", flush=True)
    if {"table", "hybrid"} & set(args.steps):
        print("\n| N | step | code | time s | peak RSS MB | note |")
        print("|---|---|---|---|---|---|")
    for n in args.sizes:
        for name, repo in codes:
            if "table" in args.steps:
                t = run("table", n, repo)
                print(
                    f"| {n:,} | neighbour_table(384-d, k={K}) | {name} | {t['time']:.1f} | "
                    f"{t['rss_mb']:.0f} | recall@{K} {t['recall']:.3f} |",
                    flush=True,
                )
            if "hybrid" in args.steps:
                h = run("hybrid", n, repo)
                print(
                    f"| {n:,} | first hybrid table (K={h['K']}) | {name} | {h['first']:.2f} | "
                    f"{h['rss_mb']:.0f} | candidates + re-rank |",
                    flush=True,
                )
                for w, t_rr, rec in h["rerank"]:
                    print(
                        f"| {n:,} | weight change → {w} | {name} | {t_rr:.3f} | "
                        f"{h['rss_mb']:.0f} | {h['first'] / t_rr:.0f}× faster than the first; "
                        f"recall@{K} {rec:.3f} |",
                        flush=True,
                    )


if __name__ == "__main__":
    main()
