"""Library file save/load time and size: packed base64 vectors vs. stdlib json with number lists.

    python benchmarks/bench_library.py                 # 10k and 100k records (goal ≤ 5 s each way)
    python benchmarks/bench_library.py --sizes 2000    # quick check

Records look like a real scan: 768-d SigLIP + 384-d DINOv2 vectors, 5 keywords, a 5-colour
palette, size/mtime/sha256. The stdlib-json baseline (what a plain `json.dump` of number lists
costs) runs only up to --baseline-max records because it is slow; larger sizes are extrapolated
linearly and marked "~".
"""

from __future__ import annotations

import argparse
import base64
import gc
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vectorvision_widget.library import Library

LABELS = ["beach", "sky", "portrait", "city street", "forest", "food", "dog", "sunset", "car"]


def make_library(n: int, df: int = 768, dv: int = 384, seed: int = 0) -> Library:
    rng = np.random.default_rng(seed)
    feats = rng.standard_normal((n, df), dtype=np.float32)
    vis = rng.standard_normal((n, dv), dtype=np.float32)
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
            "features": {"name": "siglip-base-patch16-224", "sha256": "a" * 64, "dim": df},
            "visualFeatures": {"name": "dinov2-small", "sha256": "b" * 64, "dim": dv},
        }
    )
    return lib


def timed(fn: object) -> tuple[float, object]:
    gc.collect()
    t0 = time.perf_counter()
    out = fn()  # type: ignore[operator]
    return time.perf_counter() - t0, out


def stdlib_save(lib: Library, path: Path) -> None:
    """The naive baseline: the same document with vectors as number lists, stdlib json."""
    images = []
    for i, rec in enumerate(lib.records):
        images.append(
            {
                **rec,
                "features": lib.features[i].tolist(),
                "visualFeatures": lib.visual_features[i].tolist(),
            }
        )
    doc = {"format": "vectorvision-library", "version": 2, "models": lib.models, "images": images}
    with path.open("w", encoding="utf-8") as fh:
        json.dump(doc, fh)


def stdlib_load(path: Path) -> int:
    with path.open(encoding="utf-8") as fh:
        doc = json.load(fh)
    feats = np.array([r["features"] for r in doc["images"]], dtype=np.float32)
    vis = np.array([r["visualFeatures"] for r in doc["images"]], dtype=np.float32)
    return feats.shape[0] + vis.shape[0]


def naive_load(path: Path) -> int:
    """The same packed file read the simplest way (orjson + per-row b64decode, no validation),
    to show what validation and the legacy handling cost on this machine."""
    doc = orjson.loads(path.read_bytes())
    images = doc["images"]
    mats = [
        np.stack([np.frombuffer(base64.b64decode(r[key]["b64"]), "<f4") for r in images])
        for key in ("features", "visualFeatures")
    ]
    return sum(m.shape[0] for m in mats)


def run(n: int, folder: Path, baseline_max: int, rows: list[str]) -> None:
    lib = make_library(n)
    ours = folder / f"lib-{n}.json"
    t_save, _ = timed(lambda: lib.save(ours))
    t_load, loaded = timed(lambda: Library.load(ours))
    assert isinstance(loaded, Library) and np.array_equal(loaded.features, lib.features)
    size = ours.stat().st_size
    del loaded
    t_naive, _ = timed(lambda: naive_load(ours))
    ours.unlink()
    if n <= baseline_max:
        base = folder / f"base-{n}.json"
        b_save, _ = timed(lambda: stdlib_save(lib, base))
        b_load, _ = timed(lambda: stdlib_load(base))
        b_size = base.stat().st_size
        base.unlink()
        mark = ""
    elif not BASELINE:
        rows.append(
            f"| {n:,} | {t_save:.2f} | {t_load:.2f} | {t_naive:.2f} | {size / 1e6:,.0f} "
            "| – | – | – | – |"
        )
        print(rows[-1], flush=True)
        return
    else:  # extrapolate from the largest measured baseline, linear in N
        ref_n, b_save, b_load, b_size = BASELINE[-1]
        scale = n / ref_n
        b_save, b_load, b_size = b_save * scale, b_load * scale, int(b_size * scale)
        mark = "~"
    if n <= baseline_max:
        BASELINE.append((n, b_save, b_load, b_size))
    rows.append(
        f"| {n:,} | {t_save:.2f} | {t_load:.2f} | {t_naive:.2f} | {size / 1e6:,.0f} | "
        f"{mark}{b_save:.1f} | "
        f"{mark}{b_load:.1f} | {mark}{b_size / 1e6:,.0f} | {b_save / t_save:.0f}× / "
        f"{b_load / t_load:.0f}× |"
    )
    print(rows[-1], flush=True)


BASELINE: list[tuple[int, float, float, int]] = []


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--baseline-max", type=int, default=10_000)
    parser.add_argument("--dir", type=Path, default=None, help="where to write (default: temp)")
    args = parser.parse_args()
    header = [
        "| records | save s | load s | naive b64 load s | size MB | stdlib json save s | "
        "stdlib json load s | stdlib size MB | speed-up vs stdlib save / load |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    print("\n".join(header), flush=True)
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        rows: list[str] = []
        for n in sorted(args.sizes):
            run(n, Path(tmp), args.baseline_max, rows)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    print(
        f"\npeak RSS {peak:.1f} GB; '~' = extrapolated linearly from the largest measured baseline"
    )


if __name__ == "__main__":
    main()
