"""Benchmark: exact all-rows neighbour table and hybrid re-ranking after a weight change.

Run: ``python benchmarks/bench_neighbours.py`` (10k and 100k × 384, k = 10; ``--quick`` for 10k
only). Prints time, peak RSS (this process; the table is computed in blocks so memory stays
bounded) and, for the hybrid slider, re-rank time vs an exact recomputation and the recall of
the re-ranked lists against the exact hybrid neighbours.
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np

from vectorvision_widget.similarity import HybridNeighbours, neighbour_table, normalize_rows


def mixture(labels: np.ndarray, d: int, seed: int, k: int = 64) -> np.ndarray:
    """Unit vectors around k random centres; shared labels make two spaces agree on clusters."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(k, d)).astype(np.float32)
    X = centres[labels] + 1.5 * rng.normal(size=(labels.size, d)).astype(np.float32)
    return normalize_rows(X)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def exact_hybrid(v: np.ndarray, s: np.ndarray, w: float, k: int, rows: np.ndarray) -> np.ndarray:
    """Exact hybrid neighbours for a sample of rows (brute force)."""
    sc = w * (v[rows] @ v.T) + (1 - w) * (s[rows] @ s.T)
    sc[np.arange(rows.size), rows] = -np.inf
    return np.argsort(-sc, axis=1)[:, :k]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="10k only")
    args = ap.parse_args()
    k = 10
    sizes = [10000] if args.quick else [10000, 100000]
    print("| N | step | time s | peak RSS MB | note |")
    print("|---|---|---|---|---|")
    for n in sizes:
        labels = np.random.default_rng(0).integers(0, 64, n)
        v, s = mixture(labels, 384, 0), mixture(labels, 768, 1)  # same clusters in both spaces
        t = time.perf_counter()
        neighbour_table(v, k)
        t_table = time.perf_counter() - t
        rss = peak_rss_mb()
        print(f"| {n:,} | neighbour_table(384-d, k={k}) | {t_table:.1f} | {rss:.0f} | exact |")
        t = time.perf_counter()
        hn = HybridNeighbours(v, s, k)
        t_pre = time.perf_counter() - t
        print(
            f"| {n:,} | HybridNeighbours precompute (K={hn.candidates}) | {t_pre:.1f} | "
            f"{peak_rss_mb():.0f} | two tables + candidate cosines |"
        )
        rows = np.random.default_rng(2).choice(n, 500, replace=False)
        # exact recomputation for a new weight = one table over sqrt(w)·v ⊕ sqrt(1−w)·s
        fused = np.concatenate([np.sqrt(0.5) * v, np.sqrt(0.5) * s], axis=1)
        t = time.perf_counter()
        neighbour_table(fused, k, normalize=False)
        t_exact = time.perf_counter() - t
        del fused
        for w in (0.3, 0.5, 0.7):
            t = time.perf_counter()
            idx, _ = hn.table(w)
            t_rr = time.perf_counter() - t
            truth = exact_hybrid(v, s, w, k, rows)
            recall = np.mean(
                [len(set(a) & set(b)) / k for a, b in zip(idx[rows], truth, strict=True)]
            )
            print(
                f"| {n:,} | re-rank w={w} | {t_rr:.3f} | {peak_rss_mb():.0f} | exact table "
                f"{t_exact:.1f} s ({t_exact / t_rr:.0f}× slower); recall@{k} {recall:.4f} |"
            )


if __name__ == "__main__":
    main()
