"""Benchmark: recall@10 of the HNSW neighbour table vs its two beams, on bench_million's data.

Builds one faiss HNSW index per efConstruction (exactly as ``ann.approximate_table`` does:
M = 16, inner product, rows inserted in a seeded shuffled order) over the visual vectors that
``bench_million.py`` generated, then queries the rows whose exact top 10 it stored at every
efSearch. Reports recall@10, the share of returned neighbours in the row's own cluster, how far
the returned 10th cosine falls below the true 10th, the build CPU seconds and the estimated CPU
of the whole table (build + N × the measured CPU per query). This is how ``ann.hnsw_beams`` was
chosen (README, "A million images").

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE \
        python benchmarks/bench_beams.py --n 1000000 --efc 100 200

after any run of ``bench_million.py --n 1000000``, which generates the data (cached in ``--work``).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # sibling modules, also under runpy
from bench_million import K, paths_of
from benchutil import blas_kernel

import vectorvision_widget.neighbours.index as ann


def measure(work: Path, efcs: list[int], efs: list[int], threads: int) -> list[dict]:
    faiss = ann._faiss()
    p = paths_of(work)
    V = np.load(p["visual"])
    T = np.load(p["truth"])
    rows, truth = T[:, 0], T[:, 1:]
    labels = np.load(p["labels"])
    n, d = V.shape
    faiss.omp_set_num_threads(threads)
    order = np.random.default_rng(0).permutation(n)
    out = []
    for efc in efcs:
        index = faiss.IndexHNSWFlat(d, ann.HNSW_M, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = efc
        cpu = time.process_time()
        for s in range(0, n, 16384):
            index.add(V[order[s : s + 16384]])
        build = time.process_time() - cpu
        for ef in efs:
            index.hnsw.efSearch = ef
            cpu = time.process_time()
            _, ids = index.search(V[rows], K + 1)
            per_query = (time.process_time() - cpu) / rows.size
            got = [[g for g in order[i] if g != r][:K] for r, i in zip(rows, ids, strict=True)]
            recall = np.mean([len(set(g) & set(t)) / K for g, t in zip(got, truth, strict=True)])
            same = np.mean(
                [np.mean(labels[g] == labels[r]) for g, r in zip(got, rows, strict=True)]
            )
            gap = np.mean(
                [
                    np.min(V[t] @ V[r]) - np.min(V[g] @ V[r])
                    for g, t, r in zip(got, truth, rows, strict=True)
                ]
            )
            out.append(
                {
                    "efc": efc,
                    "ef": ef,
                    "recall": recall,
                    "same": same,
                    "gap": gap,
                    "build_cpu": build,
                    "table_cpu": build + per_query * n,
                }
            )
            print(out[-1], flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--work", default="/tmp/vv_bench_million", help="bench_million's data folder")
    ap.add_argument("--efc", type=int, nargs="+", default=[100, 200])
    ap.add_argument("--ef", type=int, nargs="+", default=[64, 128, 256, 512])
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    print(f"BLAS: {blas_kernel()}; threads {args.threads}")
    res = measure(Path(args.work) / str(args.n), args.efc, args.ef, args.threads)
    print(
        "\n| efConstruction | efSearch | recall@10 | returned in the row's cluster | "
        "10th cosine below the true 10th | build CPU s | whole table CPU s (est.) |"
    )
    print("|---|---|---|---|---|---|---|")
    for r in res:
        print(
            f"| {r['efc']} | {r['ef']} | {r['recall']:.3f} | {r['same']:.3f} | "
            f"{r['gap']:.3f} | {r['build_cpu']:.0f} | ≈ {r['table_cpu']:,.0f} |"
        )


if __name__ == "__main__":
    main()
