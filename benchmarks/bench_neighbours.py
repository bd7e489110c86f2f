"""Benchmark: exact all-rows neighbour table and hybrid re-ranking after a weight change.

Run: ``python benchmarks/bench_neighbours.py`` (10k and 100k × 384, k = 10; ``--quick`` for 10k
only; ``--sizes 10000 30000`` for others). ``--baseline FILE`` also times another copy of
similarity.py (e.g. ``git show HEAD~1:vectorvision_widget/similarity.py > /tmp/old.py``) in the
same run, for ratios. Every step runs in its own subprocess, so its peak RSS (input vectors
included: N×384×4 bytes, + N×768×4 for the hybrid) is its own. Data are float32 throughout.
The hybrid slider rows give re-rank time vs an exact recomputation (``--no-exact`` skips that
slow table) and the recall of the re-ranked lists against the exact hybrid neighbours.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import resource
import subprocess
import sys
import time
from types import ModuleType

import numpy as np

K = 10


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


def load(path: str | None) -> ModuleType:
    if path is None:
        from vectorvision_widget import similarity

        return similarity
    spec = importlib.util.spec_from_file_location("baseline_similarity", path)
    if spec is None or spec.loader is None:
        msg = f"bench_neighbours: cannot import the baseline {path!r}; pass a similarity.py copy"
        raise SystemExit(msg)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def exact_hybrid(v: np.ndarray, s: np.ndarray, w: float, k: int, rows: np.ndarray) -> np.ndarray:
    """Exact hybrid neighbours for a sample of rows (brute force)."""
    sc = w * (v[rows] @ v.T) + (1 - w) * (s[rows] @ s.T)
    sc[np.arange(rows.size), rows] = -np.inf
    return np.argsort(-sc, axis=1)[:, :k]


def worker(step: str, n: int, path: str | None, exact: bool) -> dict:
    """One measurement in this (fresh) process."""
    sim = load(path)
    v, s = data(n)
    out: dict = {}
    t = time.perf_counter()
    if step == "table":
        idx, _ = sim.neighbour_table(v, K)
        out["time"] = time.perf_counter() - t
        out["checksum"] = int(idx[: min(n, 1000)].astype(np.int64).sum())
    else:
        hn = sim.HybridNeighbours(v, s, K)
        out["time"] = time.perf_counter() - t
        out["K"] = hn.candidates
        rows = np.random.default_rng(2).choice(n, min(n, 500), replace=False)
        out["rerank"] = []
        for w in (0.3, 0.5, 0.7):
            t = time.perf_counter()
            idx, _ = hn.table(w)
            t_rr = time.perf_counter() - t
            truth = exact_hybrid(v, s, w, K, rows)
            hits = [len(set(a) & set(b)) / K for a, b in zip(idx[rows], truth, strict=True)]
            out["rerank"].append((w, t_rr, float(np.mean(hits))))
        if exact:  # exact table for a new weight = one table over sqrt(w)·v ⊕ sqrt(1−w)·s
            del hn
            fused = np.concatenate([np.sqrt(0.5) * v, np.sqrt(0.5) * s], axis=1)
            t = time.perf_counter()
            sim.neighbour_table(fused, K, normalize=False)
            out["exact"] = time.perf_counter() - t
    out["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def run(step: str, n: int, path: str | None, exact: bool) -> dict:
    cmd = [sys.executable, __file__, "--worker", step, "--sizes", str(n), "--exact", str(exact)]
    if path:
        cmd += ["--baseline", path]
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if res.returncode:
        msg = f"bench_neighbours: {step} at N={n} failed:\n{res.stderr}"
        raise SystemExit(msg)
    return json.loads(res.stdout.splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="10k only")
    ap.add_argument("--sizes", type=int, nargs="+", default=[10000, 100000])
    ap.add_argument("--baseline", help="another similarity.py to time in the same run")
    ap.add_argument("--baseline-hybrid", action="store_true", help="also time its hybrid step")
    ap.add_argument("--no-exact", action="store_true", help="skip the exact hybrid table")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--exact", default="True", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.sizes[0], args.baseline, args.exact == "True")))
        return
    sizes = [10000] if args.quick else args.sizes
    print("| N | step | code | time s | peak RSS MB | note |")
    print("|---|---|---|---|---|---|")
    for n in sizes:
        new = run("table", n, None, False)
        print(
            f"| {n:,} | neighbour_table(384-d, k={K}) | new | {new['time']:.1f} | "
            f"{new['rss_mb']:.0f} | exact |"
        )
        if args.baseline:
            old = run("table", n, args.baseline, False)
            same = "same" if old["checksum"] == new["checksum"] else "DIFFERENT"
            print(
                f"| {n:,} | neighbour_table(384-d, k={K}) | baseline | {old['time']:.1f} | "
                f"{old['rss_mb']:.0f} | new is {old['time'] / new['time']:.2f}× faster; "
                f"{same} neighbours |"
            )
        h = run("hybrid", n, None, not args.no_exact)
        print(
            f"| {n:,} | HybridNeighbours precompute (K={h['K']}) | new | {h['time']:.1f} | "
            f"{h['rss_mb']:.0f} | two tables + candidate cosines |"
        )
        if args.baseline and args.baseline_hybrid:
            ho = run("hybrid", n, args.baseline, False)
            print(
                f"| {n:,} | HybridNeighbours precompute (K={ho['K']}) | baseline | "
                f"{ho['time']:.1f} | {ho['rss_mb']:.0f} | new is "
                f"{ho['time'] / h['time']:.2f}× faster |"
            )
        for w, t_rr, recall in h["rerank"]:
            note = f"recall@{K} {recall:.4f}"
            if "exact" in h:
                note = f"exact table {h['exact']:.1f} s ({h['exact'] / t_rr:.0f}× slower); " + note
            print(f"| {n:,} | re-rank w={w} | new | {t_rr:.3f} | {h['rss_mb']:.0f} | {note} |")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
