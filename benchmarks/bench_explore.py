"""Region labels and filter updates at 100k images (the widget's finding tools, kernel side).

(1) `labels.region_labels` for a layout of N images on the default grid (keywords: 5 of a
    1,000-word vocabulary per image, layout vectors 384-d visual and 768-d semantic): the work of
    the background job that follows a layout change (goal <= 200 ms at 100k), plus the keyword
    index it builds once per library version.
(2) A filter update: `finding.normalise_filter` (validation + `lib.where`) and `pack_rows` (the
    bit mask sent to the browser), for a camera, a date range and a combined filter, after the
    columns are built (goal <= 200 ms at 100k). The browser's share (the dim image) is timed by
    `node benchmarks/bench_explore_dim.mjs`.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS=1 \
        python benchmarks/bench_explore.py [--n 100000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from benchutil import blas_kernel  # noqa: E402

import vectorvision_widget as vv  # noqa: E402
from vectorvision_widget.som.layout import default_grid_shape  # noqa: E402
from vectorvision_widget.widget import finding, labels  # noqa: E402


def median_ms(fn: object, repeat: int) -> tuple[float, float]:
    """(median wall ms, median CPU ms of this process): on a shared machine the CPU time is
    what the work costs, the wall time what it waited too."""
    times, cpu = [], []
    for _ in range(repeat):
        t, c = time.perf_counter(), time.process_time()
        fn()  # type: ignore[operator]  # a zero-argument callable
        times.append((time.perf_counter() - t) * 1000)
        cpu.append((time.process_time() - c) * 1000)
    return statistics.median(times), statistics.median(cpu)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    n, rng = args.n, np.random.default_rng(0)
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(f"N = {n}, BLAS kernel: {blas_kernel()}, load average {load} ({os.cpu_count()} CPUs)")
    grid = default_grid_shape(n)
    cells = np.stack(np.unravel_index(rng.permutation(grid[0] * grid[1])[:n], grid), 1)
    words = [f"word{i}" for i in range(1000)]
    picks = rng.integers(0, len(words), (n, 5))
    records = [{"keywords": [{"label": words[j], "score": 0.3} for j in row]} for row in picks]
    t = time.perf_counter()
    index = labels.keyword_index(records)
    print(f"keyword index (once per library version): {(time.perf_counter() - t) * 1000:.0f} ms")
    for dim in (384, 768):
        X = rng.standard_normal((n, dim)).astype(np.float32)
        X /= np.linalg.norm(X, axis=1, keepdims=True)
        out: list[object] = []

        def run(X: np.ndarray = X, out: list[object] = out) -> None:
            out.append(labels.region_labels(cells, grid, X, index, min_share=0.0))

        med, best = median_ms(run, args.repeat)
        print(
            f"region_labels, {dim}-d vectors, levels {labels.level_sides(grid)}: "
            f"median {med:.0f} ms wall ({best:.0f} ms CPU), {len(out[-1])} labels"  # type: ignore[arg-type]
        )

    paths = [f"/photos/f{i % 100:03d}/img{i:06d}.jpg" for i in range(n)]
    lib = vv.Library.from_arrays(paths, rng.normal(size=(n, 8)), rng.normal(size=(n, 4)))
    cams = [f"Cam {i}" for i in range(8)]
    lib.update_fields(
        {
            i: {
                "camera": cams[i % 8],
                "taken": f"{2019 + i % 5}-{1 + i % 12:02d}-{1 + i % 28:02d}T12:00:00",
                "keywords": [{"label": words[j], "score": 0.3} for j in picks[i]],
            }
            for i in range(n)
        }
    )
    lib.where(camera="Cam 1", taken=("2020", None), keywords=["word1"])  # build the columns
    filters = {
        "camera": {"camera": "Cam 3"},
        "dates": {"taken": ["2021-03", "2022-06"]},
        "combined": {"folder": "/photos/f007", "camera": ["Cam 1", "Cam 7"], "keywords": ["word5"]},
    }
    for name, f in filters.items():

        def update(f: dict[str, object] = f) -> None:
            _value, rows = finding.normalise_filter(lib, f)
            finding.pack_rows(rows, n)

        med, best = median_ms(update, args.repeat * 4)
        print(f"filter update ({name}): median {med:.1f} ms wall ({best:.1f} ms CPU)")
    med, best = median_ms(lambda: finding.filter_options(lib), 3)
    print(f"filter options (on refresh only): median {med:.0f} ms wall ({best:.0f} ms CPU)")


if __name__ == "__main__":
    main()
