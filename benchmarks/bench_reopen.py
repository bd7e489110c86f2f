"""Reopening a scanned library of 12-MP photos: thumbnails from the scan's cache vs decoding.

Each measurement runs in a FRESH Python process (as a new kernel would), alternating the two
cases, on the same files in the same run:

  cached   Library.load + the map's tile work served by `thumbs.cache` (the sidecar the scan wrote)
  scratch  Library.load + the same tile work decoding every photo (`thumbs.tiles.TileCache`)

"Tile work" is what the widget's background thumbnail job does: `build_atlases` for every row at
the widget's tile size (JPEG atlases ready to send). With `--widget`, the child also builds the
`VectorVision` widget and waits for all its background jobs (layout, table, thumbnails); that
path uses the cache only once the widget uses `thumbs.cache.CachedTiles` (the child says which).
Times are measured inside the child from just before `Library.load` (imports excluded) and,
separately, for the whole child process. The goal: cached ≤ 0.25 × scratch.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_reopen.py --n 96

The photos (4000×3000 camera-like JPEGs) are generated once into --images-dir and reused; the
scan that writes the cache uses the tiny test models (the encoders do not matter here).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))
from benchutil import blas_kernel  # noqa: E402

CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
mode, path, widget = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
from vectorvision_widget.library.store import Library
import vectorvision_widget.thumbs.tiles as thumbnails
import vectorvision_widget.thumbs.cache as thumbcache
t_import = time.perf_counter()
lib = Library.load(path)
used = "atlases"
if widget:
    import vectorvision_widget.widget.mapwork as mapwork
    from vectorvision_widget.widget.widget import VectorVision
    if mode == "scratch":  # the widget must not find the cache
        thumbcache.ThumbStore.reload = lambda self: None
        thumbcache.ThumbStore.write = lambda self, entries: None
    w = VectorVision(lib)
    w._work.runner.wait()
    used = "widget+" + type(w._work.tiles).__name__
else:
    size = thumbnails.default_tile_size(len(lib))
    tiles = thumbcache.CachedTiles(lib.path) if mode == "cached" else thumbnails.TileCache()
    colours = [r.get("color") for r in lib.records]
    n = sum(a.count for a, _ in tiles.build_atlases(lib.paths, colours, size))
    assert n == len(lib), n
    if mode == "cached":
        used += f" hits={tiles.hits} misses={tiles.misses}"
t1 = time.perf_counter()
print(json.dumps({"work_s": t1 - t_import, "import_s": t_import - t0, "used": used}))
"""


def prepare(images: Path, work: Path, n: int) -> Path:
    """Generate n 12-MP JPEGs (reused), scan them into work/library.json (writes the cache)."""
    import numpy as np
    from bench_scan import camera_like

    images.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        p = images / f"photo{i:04d}.jpg"
        if not p.exists():
            img = camera_like(4000, 3000, rng)
            img.save(p, quality=90)
    from tiny_models import build_tiny_models

    from vectorvision_widget.library.store import Library
    from vectorvision_widget.models.encoders import Encoders
    from vectorvision_widget.scanning.engines import scan

    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    enc = Encoders.load(build_tiny_models(work / "models").folder)
    lib = Library()
    lib.path = work / "library.json"
    keep = {f"photo{i:04d}.jpg" for i in range(n)}
    for extra in images.glob("*.jpg"):
        if extra.name not in keep:
            extra.unlink()
    t0 = time.perf_counter()
    report = scan(images, lib, encoders=enc, keywords=["a photo"], progress=False)
    took = time.perf_counter() - t0
    print(f"scan (tiny models, writes the cache): {report.summary()} ({took:.1f} s)")
    lib.save()
    return lib.path


def run_child(mode: str, path: Path, widget: bool) -> dict:
    t0 = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", CHILD, mode, str(path), "1" if widget else "0"],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    res = json.loads(out.stdout.strip().splitlines()[-1])
    res["process_s"] = time.perf_counter() - t0
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--n", type=int, default=96, help="number of 12-MP photos")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument(
        "--images-dir", type=Path, default=Path(tempfile.gettempdir()) / "vv-bench-reopen-photos"
    )
    ap.add_argument("--widget", action="store_true", help="also time the whole widget reopen")
    args = ap.parse_args()
    print(f"BLAS: {blas_kernel()}")
    print(f"machine: {os.cpu_count()} CPUs; {args.n} photos of 4000×3000")
    work = Path(tempfile.mkdtemp(prefix="vv-bench-reopen-"))
    try:
        path = prepare(args.images_dir, work, args.n)
        sidecar = sum(f.stat().st_size for f in path.with_name("library.thumbs").glob("*"))
        per = sidecar / args.n / 1e3
        print(f"cache beside the library: {sidecar / 1e6:.2f} MB ({per:.1f} kB/photo)")
        kinds = [False, True] if args.widget else [False]
        for widget in kinds:
            rows: dict[str, list[dict]] = {"scratch": [], "cached": []}
            for _ in range(args.repeats):
                for mode in ("scratch", "cached"):  # alternate: same conditions for both
                    rows[mode].append(run_child(mode, path, widget))
            med = {
                m: {k: statistics.median(r[k] for r in v) for k in ("work_s", "process_s")}
                for m, v in rows.items()
            }
            label = "load + widget + all background jobs" if widget else "load + all atlas tiles"
            print(f"\n{label} ({rows['cached'][-1]['used']}), median of {args.repeats}:")
            print("| case | load + tile work | whole fresh process |")
            print("|---|---|---|")
            for m in ("scratch", "cached"):
                print(f"| {m} | {med[m]['work_s']:.2f} s | {med[m]['process_s']:.2f} s |")
            ratio = med["cached"]["work_s"] / med["scratch"]["work_s"]
            ratio_p = med["cached"]["process_s"] / med["scratch"]["process_s"]
            print(f"| cached / scratch | {ratio:.3f}× | {ratio_p:.3f}× |")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
