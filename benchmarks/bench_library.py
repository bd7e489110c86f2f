"""Library save/load: time and peak memory against the bytes of the vectors, new vs old code.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_library.py
    python benchmarks/bench_library.py --sizes 2000               # quick check
    git worktree add /tmp/l-before <old commit>                   # then, in the same run:
    python benchmarks/bench_library.py --baseline-repo /tmp/l-before

Records look like a real scan: 768-d SigLIP + 384-d DINOv2 vectors, 5 keywords, a 5-colour
palette, size/mtime/sha256. Each measurement runs in a fresh subprocess importing the package
from the repo given (this one, or `--baseline-repo`): `load` reads a file that code saved
itself; `save` loads the reference file first, resets the kernel's peak-RSS mark
(/proc/self/clear_refs) and then saves. "peak ×" = (peak RSS during the step − RSS before it)
/ bytes of the vectors (N × 1152 × 4): the goal is ≤ 2. "kernel MB/image" is the RSS the
loaded library keeps (vectors + records + index), per image.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # sibling benchutil, also under runpy
from benchutil import blas_kernel as blas

REPO = Path(__file__).resolve().parents[1]
LABELS = ["beach", "sky", "portrait", "city street", "forest", "food", "dog", "sunset", "car"]
DF, DV = 768, 384


def make_library(n: int, seed: int = 0):  # type: ignore[no-untyped-def]
    from vectorvision_widget.library.store import Library

    rng = np.random.default_rng(seed)
    feats = rng.standard_normal((n, DF), dtype=np.float32)
    vis = rng.standard_normal((n, DV), dtype=np.float32)
    pal = rng.integers(0, 256, size=(n, 5, 3)).tolist()
    scores = rng.random((n, 5)).round(4).tolist()
    records = [
        {
            "path": f"/home/user/Pictures/2024/trip {i // 1000}/IMG_{i:06d}.jpg",
            "keywords": [{"label": LABELS[(i + j) % 9], "score": scores[i][j]} for j in range(5)],
            "color": pal[i][0],
            "palette": pal[i],
            "width": 4032,
            "height": 3024,
            "size": 2_000_000 + i,
            "mtime": 1.7e9 + i * 0.5,
            "sha256": f"{i:064x}",
        }
        for i in range(n)
    ]
    lib = Library.from_arrays([r["path"] for r in records], feats, vis, records=records)
    lib.set_models(
        {
            "features": {"name": "siglip-base-patch16-224", "sha256": "a" * 64, "dim": DF},
            "visualFeatures": {"name": "dinov2-small", "sha256": "b" * 64, "dim": DV},
        }
    )
    return lib


def rss() -> int:
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) * 1024 for line in fh if line.startswith("VmRSS"))


def peak() -> int:
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) * 1024 for line in fh if line.startswith("VmHWM"))


def reset_peak() -> None:
    with open("/proc/self/clear_refs", "w") as fh:  # "5": reset the peak RSS to the current RSS
        fh.write("5")


def worker(step: str, ref: str, out: str) -> dict:
    """One step in this fresh process (the package imported from sys.path[0])."""
    import gc

    from vectorvision_widget.library.store import Library

    gc.collect()
    if step == "load":
        before = rss()
        reset_peak()
        t0 = time.perf_counter()
        lib = Library.load(out)
        t = time.perf_counter() - t0
        gc.collect()
        return {"time": t, "peak": peak() - before, "kept": rss() - before, "n": len(lib)}
    lib = Library.load(ref)
    gc.collect()
    before = rss()
    reset_peak()
    t0 = time.perf_counter()
    lib.save(out)
    t = time.perf_counter() - t0
    return {"time": t, "peak": peak() - before, "size": os.path.getsize(out)}


def run(step: str, repo: Path, ref: Path, out: Path) -> dict:
    code = (  # the package from `repo`, this file's worker
        f"import sys, json, runpy; sys.path.insert(0, {str(repo)!r});"
        f"worker = runpy.run_path({__file__!r})['worker'];"
        f"print(json.dumps(worker({step!r}, {str(ref)!r}, {str(out)!r})))"
    )
    res = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, cwd=repo
    )
    if res.returncode:
        raise SystemExit(f"bench_library: {step} with {repo} failed:\n{res.stderr[-3000:]}")
    return json.loads(res.stdout.splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--baseline-repo", type=Path, help="a checkout of the old code to compare")
    ap.add_argument("--dir", type=Path, default=None, help="where to write (default: temp)")
    args = ap.parse_args()
    sys.path.insert(0, str(REPO))
    print(f"BLAS: {blas()}")
    print(
        "| N | code | save s | save peak × | load s | load peak × | kernel MB/image "
        "| file MB | vectors MB |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    codes = [("new", REPO)] + ([("old", args.baseline_repo)] if args.baseline_repo else [])
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        for n in sorted(args.sizes):
            ref = Path(tmp) / f"ref-{n}.json"
            make_library(n).save(ref)
            vec = n * (DF + DV) * 4
            for name, repo in codes:
                out = Path(tmp) / f"{name}-{n}.json"
                s = run("save", repo, ref, out)
                ld = run("load", repo, ref, out)
                print(
                    f"| {n:,} | {name} | {s['time']:.2f} | {s['peak'] / vec:.2f} | "
                    f"{ld['time']:.2f} | {ld['peak'] / vec:.2f} | {ld['kept'] / n / 1e6:.4f} | "
                    f"{s['size'] / 1e6:,.0f} | {vec / 1e6:,.0f} |",
                    flush=True,
                )
                out.unlink()
            ref.unlink()


if __name__ == "__main__":
    main()
